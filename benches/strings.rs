//! What the two forms of a string value cost, over a real RocksDB store through the storage
//! primitives (no network, no RESP): the measurements that chose `FRAGMENT_SIZE` and
//! `INLINE_MAX` in `storage::strings` (docs/ARCHITECTURE.md, "Strings: inline and fragmented").
//!
//! Measured, each as operations per second over a fixed number of operations on one key (the
//! shape of SETBIT or APPEND on one bitmap), from a fixed seed:
//! - `inline N`: one partial write to an inline value of N bytes as an inline write costs it:
//!   read the metadata (the whole value), change one byte at a random offset, write it back.
//! - `fragment F`: the same change to a fragmented value of 1 MB made of F-byte fragments: read
//!   the metadata (26 bytes), read the fragment holding the offset, write it back (the whole
//!   fragment: a dense bitmap's fragments have no zero run to leave out).
//! - `get inline M` / `get fragments M/F`: reading a whole value of M bytes, inline (one point
//!   read) or as F-byte fragments (a seek and an iterator walk, copied into one buffer).
//!
//! Writes go through `Batch` with the WAL as the server does, so flushes and compactions of the
//! rewritten bytes are part of the cost. Run with `cargo bench --bench strings`; the figures
//! used for the decision are in docs/ARCHITECTURE.md.

use basalt::config::Config;
use basalt::storage::strings::FRAGMENT_SIZE;
use basalt::storage::subkeys::SubCf;
use basalt::storage::{Meta, Store};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::hint::black_box;
use std::ops::ControlFlow;
use std::sync::Arc;
use std::time::Instant;

/// A store in a temporary directory; the directory goes when this is dropped.
struct TempStore {
    store: Arc<Store>,
    _dir: tempfile::TempDir,
}

fn open_store() -> TempStore {
    let dir = tempfile::Builder::new()
        .prefix("basalt-bench-strings-")
        .tempdir()
        .expect("create temp dir");
    let cfg = Config {
        dir: dir.path().to_path_buf(),
        ..Config::default()
    };
    let store = Store::open(&cfg).expect("open store");
    TempStore { store, _dir: dir }
}

/// Runs `op` `n` times and returns operations per second.
fn rate(n: u64, mut op: impl FnMut(u64)) -> f64 {
    let t = Instant::now();
    for i in 0..n {
        op(i);
    }
    n as f64 / t.elapsed().as_secs_f64()
}

/// Operations to run for a value of `bytes` rewritten per operation: enough to move ~400 MB
/// through the write path (so flushes and compactions show), between 2,000 and 50,000.
fn ops_for(bytes: u64) -> u64 {
    (400_000_000 / bytes.max(1)).clamp(2_000, 50_000)
}

fn inline_rmw(store: &Store, n: u64, rng: &mut StdRng) -> f64 {
    let view = store.view();
    let db = view.db(0).unwrap();
    let key = format!("inline:{n}").into_bytes();
    let mut b = db.batch();
    b.put_meta(
        0,
        &key,
        None,
        &Meta::encode_string(&vec![7u8; n as usize], 0),
    );
    b.commit().unwrap();
    rate(ops_for(n), |_| {
        let raw = db.meta_raw(&key).unwrap().unwrap();
        let mut value = raw.inline_value().unwrap().to_vec();
        let at = rng.random_range(0..n) as usize;
        value[at] ^= 1;
        let mut b = db.batch();
        b.put_meta(0, &key, Some(&raw), &Meta::encode_string(&value, 0));
        b.commit().unwrap();
    })
}

/// Writes a value of `len` bytes as `frag`-byte fragments (all present) under a new version.
fn put_fragmented(store: &Store, key: &[u8], len: u64, frag: u64) -> u64 {
    let view = store.view();
    let db = view.db(0).unwrap();
    let version = store.next_version().unwrap();
    let mut b = db.batch();
    for n in 0..len.div_ceil(frag) {
        let bytes = vec![7u8; frag.min(len - n * frag) as usize];
        b.put_fragment(0, key, version, n, &bytes, false);
    }
    b.put_meta(0, key, None, &Meta::encode_fragmented(0, version, len));
    b.commit().unwrap();
    version
}

fn fragment_rmw(store: &Store, frag: u64, rng: &mut StdRng) -> f64 {
    let view = store.view();
    let db = view.db(0).unwrap();
    let key = format!("frag:{frag}").into_bytes();
    let len = 1 << 20;
    put_fragmented(store, &key, len, frag);
    rate(ops_for(frag), |_| {
        let meta = db.meta_raw(&key).unwrap().unwrap();
        let at = rng.random_range(0..len);
        let n = at / frag;
        let sub = n.to_be_bytes();
        let mut bytes = db
            .get_sub(SubCf::Data, &key, meta.version(), &sub)
            .unwrap()
            .unwrap_or_default();
        bytes.resize(frag as usize, 0);
        bytes[(at % frag) as usize] ^= 1;
        let mut b = db.batch();
        b.put_sub(SubCf::Data, 0, &key, meta.version(), &sub, &bytes);
        b.commit().unwrap();
    })
}

fn get_inline(store: &Store, m: u64) -> f64 {
    let view = store.view();
    let db = view.db(0).unwrap();
    let key = format!("get-inline:{m}").into_bytes();
    let mut b = db.batch();
    b.put_meta(
        0,
        &key,
        None,
        &Meta::encode_string(&vec![7u8; m as usize], 0),
    );
    b.commit().unwrap();
    rate(ops_for(m).min(20_000), |_| {
        let meta = db.meta(&key).unwrap().unwrap();
        black_box(meta.inline_value().unwrap().len());
    })
}

fn get_fragmented(store: &Store, m: u64, frag: u64) -> f64 {
    let view = store.view();
    let db = view.db(0).unwrap();
    let key = format!("get-frag:{m}:{frag}").into_bytes();
    put_fragmented(store, &key, m, frag);
    rate(ops_for(m).min(20_000), |_| {
        let meta = db.meta(&key).unwrap().unwrap();
        let mut out = vec![0u8; m as usize];
        let mut it = db.iter_subs(SubCf::Data, &key, meta.version(), None, false);
        while let Some((sub, v)) = it.next().unwrap() {
            // A stored fragment: the offset of its non-zero run (u16), then the run.
            let n = u64::from_be_bytes(sub.try_into().unwrap());
            let at = (n * frag) as usize + usize::from(u16::from_be_bytes([v[0], v[1]]));
            out[at..at + v.len() - 2].copy_from_slice(&v[2..]);
        }
        black_box(out);
    })
}

/// A 128 KB value of `frag`-byte fragments, overwritten at random `writes` times (each write a
/// whole fragment, as SETBIT does), then read whole `reads` times by an iterator and by batched
/// point reads, and (for the fragment size in use) by `StrReader::visit`, which starts with an
/// iterator and turns to point reads over hot fragments; with `settle`, flushed and compacted
/// first. Returns (iterator, point reads, reader) ops/s.
fn scan_after_writes(
    store: &Store,
    frag: u64,
    writes: u64,
    settle: bool,
    rng: &mut StdRng,
) -> (f64, f64, Option<f64>) {
    let view = store.view();
    let db = view.db(0).unwrap();
    let key = format!("scan:{frag}:{writes}:{settle}").into_bytes();
    let len = 128 << 10;
    let version = put_fragmented(store, &key, len, frag);
    let frags = len / frag;
    for _ in 0..writes {
        let n = rng.random_range(0..frags);
        let mut b = db.batch();
        let bytes = vec![rng.random::<u8>() | 1; frag as usize];
        b.put_fragment(0, &key, version, n, &bytes, false);
        b.commit().unwrap();
    }
    if settle {
        store.flush_all().unwrap();
        store.compact_dbs(&[0]);
    }
    let reads = 2_000;
    let iter = rate(reads, |_| {
        let mut ones = 0u64;
        let mut it = db.iter_subs(SubCf::Data, &key, version, None, false);
        while let Some((_, v)) = it.next().unwrap() {
            ones += v.len() as u64 + u64::from(v[v.len() / 2]);
        }
        black_box(ones);
    });
    let subs: Vec<[u8; 8]> = (0..frags).map(|n| n.to_be_bytes()).collect();
    let subs: Vec<&[u8]> = subs.iter().map(|s| &s[..]).collect();
    let points = rate(reads, |_| {
        let mut ones = 0u64;
        for v in db
            .get_subs(SubCf::Data, &key, version, &subs)
            .unwrap()
            .into_iter()
            .flatten()
        {
            ones += v.len() as u64 + u64::from(v[v.len() / 2]);
        }
        black_box(ones);
    });
    let reader = (frag == FRAGMENT_SIZE).then(|| {
        rate(reads, |_| {
            let meta = db.meta(&key).unwrap().unwrap();
            let mut ones = 0u64;
            db.string_reader(&key, meta)
                .visit(0, u64::MAX, |_, v| {
                    ones += v.len() as u64 + u64::from(v[v.len() / 2]);
                    ControlFlow::Continue(())
                })
                .unwrap();
            black_box(ones);
        })
    });
    (iter, points, reader)
}

fn main() {
    // `cargo bench` passes --bench; any other argument filters nothing here.
    let mut rng = StdRng::seed_from_u64(7);
    let t = open_store();
    let store = &t.store;
    println!("128 KB scan after overwrites (iterator / point reads / StrReader), ops/s:");
    for f in [1024u64, 2048, 4096, 16384] {
        for (writes, settle) in [(0, true), (50_000, false)] {
            let (it, pt, rd) = scan_after_writes(store, f, writes, settle, &mut rng);
            let rd = rd.map_or(String::new(), |r| format!(" {r:>9.0}"));
            println!(
                "  fragment {f:>6} writes {writes:>6} settled {settle:<5} {it:>9.0} {pt:>9.0}{rd}"
            );
        }
    }
    if std::env::args().any(|a| a == "scan") {
        return;
    }
    println!("partial write (read, change one byte, write back), ops/s:");
    for n in [64u64, 512, 1024, 2048, 4096, 8192, 16384, 65536, 262144] {
        println!(
            "  inline {n:>7}       {:>10.0}",
            inline_rmw(store, n, &mut rng)
        );
    }
    for f in [512u64, 1024, 2048, 4096, 8192, 16384, 65536] {
        println!(
            "  fragment {f:>7}     {:>10.0}",
            fragment_rmw(store, f, &mut rng)
        );
    }
    println!("whole-value read, ops/s:");
    for m in [16384u64, 65536, 1 << 20] {
        println!("  get inline {m:>8}        {:>9.0}", get_inline(store, m));
        for f in [1024u64, 4096, 16384, 65536] {
            if f <= m {
                println!(
                    "  get fragments {m:>8}/{f:<6} {:>9.0}",
                    get_fragmented(store, m, f)
                );
            }
        }
    }
}
