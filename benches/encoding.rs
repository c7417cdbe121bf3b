//! On-disk encodings on the hot path: the `meta` key and string metadata every GET/SET touches,
//! `data` sub-keys of collections, and the order-preserving score of the `zscore` index.
//!
//! Run with `cargo bench --bench encoding` (the bench profile inherits `release`).

use basalt::storage::encoding::{
    data_prefix, decode_score, encode_score, meta_key, parse_data_key, Meta,
};
use criterion::{criterion_group, criterion_main, BatchSize, Criterion};
use std::hint::black_box;
use std::time::Duration;

const KEY: &[u8] = b"key:000000012345";
const VALUE: [u8; 64] = [b'x'; 64];

fn meta(c: &mut Criterion) {
    c.bench_function("meta_key", |b| {
        b.iter(|| meta_key(black_box(0), black_box(KEY)))
    });
    c.bench_function("meta_encode_string_64", |b| {
        b.iter(|| Meta::encode_string(black_box(&VALUE), black_box(1_700_000_000_000)))
    });
    // decode takes the stored bytes by value (as RocksDB hands them over); the copy is setup.
    let stored = Meta::encode_string(&VALUE, 1_700_000_000_000);
    c.bench_function("meta_decode_string_64", |b| {
        b.iter_batched(
            || stored.clone(),
            |bytes| Meta::decode(bytes).expect("valid metadata"),
            BatchSize::SmallInput,
        )
    });
}

fn data_keys(c: &mut Criterion) {
    c.bench_function("data_prefix", |b| {
        b.iter(|| data_prefix(black_box(0), black_box(KEY), black_box(42)))
    });
    let mut key = data_prefix(0, KEY, 42);
    key.extend_from_slice(b"field:0001");
    assert!(parse_data_key(&key).is_some());
    c.bench_function("parse_data_key", |b| {
        b.iter(|| parse_data_key(black_box(&key)).map(|k| k.version))
    });
}

fn scores(c: &mut Criterion) {
    let xs = [
        -1.5e300,
        -2.5,
        -0.0,
        0.0,
        1e-300,
        3.25,
        1e300,
        f64::INFINITY,
    ];
    c.bench_function("score_encode_decode_x8", |b| {
        b.iter(|| {
            let mut acc = 0.0;
            for &x in black_box(&xs) {
                acc += decode_score(black_box(encode_score(x)));
            }
            acc
        })
    });
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(2));
    targets = meta, data_keys, scores
}
criterion_main!(benches);
