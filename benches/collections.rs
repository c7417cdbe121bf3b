//! Collection reads over a real RocksDB store, through the typed operations of
//! `basalt::types` (no network, no RESP): what the storage layout costs per command.
//!
//! Measured:
//! - `zrangebyscore_1m/limit_10`: `ZRANGE z <x> +inf BYSCORE LIMIT 0 10` on a 1,000,000-member
//!   sorted set, `x` a random score (member `m:<i>` has score `i`, so each call is one seek into
//!   the `zscore` index plus a walk of 10 entries). A different `x` each iteration, from a fixed
//!   seed, so the reads spread over the whole index instead of one cached block.
//! - `zrangebyscore_1m/range_1000`: `ZRANGE z <x> <x+999> BYSCORE` on the same set: one seek plus a
//!   1000-entry walk (1000 members returned), `x` random as above.
//! - `hgetall_10k`: `HGETALL h` on a 10,000-field hash (fields `field:<i>`, 16-byte values).
//!
//! Setup (not measured, printed on stderr): the store is a fresh temporary directory with the
//! default configuration. The sorted set is built with `zsets::add` in chunks of 10,000 members
//! (a few seconds in release mode on 2 cores), the hash with `hashes::set` in chunks of 1,000;
//! then every column family of database 0 is compacted (`Store::compact_dbs`), so the reads see a
//! settled LSM tree (data in SST files, served from the block cache) rather than the memtables.
//!
//! Run with `cargo bench --bench collections` (the bench profile inherits `release`); one group
//! only: `cargo bench --bench collections -- hgetall`.

use basalt::config::Config;
use basalt::storage::Store;
use basalt::types::{hashes, zsets};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

const ZSET_KEY: &[u8] = b"bench:zset";
const ZSET_MEMBERS: u64 = 1_000_000;
const ZSET_CHUNK: u64 = 10_000;

const HASH_KEY: &[u8] = b"bench:hash";
const HASH_FIELDS: u64 = 10_000;
const HASH_CHUNK: u64 = 1_000;

/// A store in a temporary directory; the directory goes when this is dropped.
struct TempStore {
    store: Arc<Store>,
    _dir: tempfile::TempDir,
}

fn open_store() -> TempStore {
    let dir = tempfile::Builder::new()
        .prefix("basalt-bench-")
        .tempdir()
        .expect("create temp dir");
    let cfg = Config {
        dir: dir.path().to_path_buf(),
        ..Config::default()
    };
    let store = Store::open(&cfg).expect("open store");
    TempStore { store, _dir: dir }
}

/// Builds the 1,000,000-member sorted set: member `m:<i>` (zero-padded) has score `i`.
fn build_zset(store: &Store) {
    let view = store.view();
    let db = view.db(0).expect("database 0");
    let members: Vec<Vec<u8>> = (0..ZSET_MEMBERS)
        .map(|i| format!("m:{i:07}").into_bytes())
        .collect();
    for start in (0..ZSET_MEMBERS).step_by(ZSET_CHUNK as usize) {
        let pairs: Vec<(f64, &[u8])> = (start..start + ZSET_CHUNK)
            .map(|i| (i as f64, members[i as usize].as_slice()))
            .collect();
        let out = zsets::add(&db, ZSET_KEY, zsets::AddFlags::default(), &pairs).expect("zadd");
        assert_eq!(out.added, ZSET_CHUNK);
    }
    assert_eq!(zsets::card(&db, ZSET_KEY).unwrap(), ZSET_MEMBERS);
}

/// Builds the 10,000-field hash: `field:<i>` -> a 16-byte value.
fn build_hash(store: &Store) {
    let view = store.view();
    let db = view.db(0).expect("database 0");
    for start in (0..HASH_FIELDS).step_by(HASH_CHUNK as usize) {
        let owned: Vec<(Vec<u8>, Vec<u8>)> = (start..start + HASH_CHUNK)
            .map(|i| {
                (
                    format!("field:{i}").into_bytes(),
                    format!("value:{i:010}").into_bytes(),
                )
            })
            .collect();
        let pairs: Vec<(&[u8], &[u8])> = owned
            .iter()
            .map(|(f, v)| (f.as_slice(), v.as_slice()))
            .collect();
        assert_eq!(
            hashes::set(&db, HASH_KEY, &pairs, false).expect("hset"),
            HASH_CHUNK
        );
    }
    assert_eq!(hashes::len(&db, HASH_KEY).unwrap(), HASH_FIELDS);
}

fn score_query(min: f64, max: f64, limit: i64) -> zsets::RangeQuery {
    zsets::RangeQuery::Score {
        range: zsets::ScoreRange {
            min,
            minex: false,
            max,
            maxex: false,
        },
        offset: 0,
        limit,
    }
}

fn zrange(c: &mut Criterion) {
    let t = Instant::now();
    let ts = open_store();
    build_zset(&ts.store);
    let built = t.elapsed();
    ts.store.compact_dbs(&[0]);
    eprintln!(
        "zset setup: {ZSET_MEMBERS} members added in {built:.1?}, compacted in {:.1?}",
        t.elapsed() - built
    );
    let view = ts.store.view();
    let db = view.db(0).expect("database 0");

    // One sanity check of what is measured: the right members, in order.
    let got = zsets::range(&db, ZSET_KEY, &score_query(500.0, f64::INFINITY, 10), false).unwrap();
    assert_eq!(got.len(), 10);
    assert_eq!(got[0], (b"m:0000500".to_vec(), 500.0));
    assert_eq!(got[9].1, 509.0);

    let mut g = c.benchmark_group("zrangebyscore_1m");
    let mut rng = StdRng::seed_from_u64(1);
    g.throughput(Throughput::Elements(10));
    g.bench_function("limit_10", |b| {
        b.iter(|| {
            let x = rng.random_range(0..ZSET_MEMBERS - 10) as f64;
            let r = zsets::range(&db, ZSET_KEY, &score_query(x, f64::INFINITY, 10), false)
                .expect("zrange");
            black_box(r)
        })
    });
    let mut rng = StdRng::seed_from_u64(2);
    g.throughput(Throughput::Elements(1000));
    g.bench_function("range_1000", |b| {
        b.iter(|| {
            let x = rng.random_range(0..ZSET_MEMBERS - 1000) as f64;
            let r =
                zsets::range(&db, ZSET_KEY, &score_query(x, x + 999.0, -1), false).expect("zrange");
            black_box(r)
        })
    });
    g.finish();
}

fn hgetall(c: &mut Criterion) {
    let t = Instant::now();
    let ts = open_store();
    build_hash(&ts.store);
    ts.store.compact_dbs(&[0]);
    eprintln!(
        "hash setup: {HASH_FIELDS} fields, built and compacted in {:.1?}",
        t.elapsed()
    );
    let view = ts.store.view();
    let db = view.db(0).expect("database 0");
    assert_eq!(
        hashes::all(&db, HASH_KEY, true, true).unwrap().len() as u64,
        HASH_FIELDS
    );

    let mut g = c.benchmark_group("hgetall_10k");
    g.throughput(Throughput::Elements(HASH_FIELDS));
    g.bench_function("fields_and_values", |b| {
        b.iter(|| black_box(hashes::all(&db, HASH_KEY, true, true).expect("hgetall")))
    });
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    targets = zrange, hgetall
}
criterion_main!(benches);
