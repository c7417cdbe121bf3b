//! DEL of a 1,000,000-field hash through the real server: O(1), and its sub-keys are reclaimed by
//! the compaction filter afterwards.
//!
//! Deleting a collection only removes its metadata; the sub-keys in the `data` column family keep
//! the old version and become invisible at once (DESIGN.md, "Versions make deletion O(1)"). The
//! `data` compaction filter (`src/storage/filters.rs`) drops them when RocksDB compacts their files.
//! The server exposes no command that compacts a live key range (FLUSHDB compacts, but after
//! range-deleting the whole database, which would hide a broken filter), so the on-disk part is
//! checked offline. The server runs with 4 MB memtables, so the hash is in SST files before DEL
//! (checked in INFO rocksdb), and the test waits for RocksDB to be idle before DEL, so no
//! compaction can run between DEL and the count. Then it stops the server and opens its data
//! directory itself:
//! 1. read-only (plain `rocksdb`, no compactions can run) to count the stale sub-keys left by DEL:
//!    exactly one per field, which also proves the counting method sees them;
//! 2. with `basalt::storage::Store::open` (the server's own options and compaction filters), then
//!    `Store::compact_dbs` (the compaction FLUSHDB runs) and counting again: no stale sub-key left,
//!    the live one kept;
//!
//! then restarts the server and checks that the new hash under the same name is intact.
//!
//! Run alone: `cargo test --release --test it big_delete -- --nocapture` (prints the phase
//! durations; nothing asserts on them).

use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant};

use basalt::config::Config;
use basalt::storage::encoding::{data_prefix, parse_data_key, CF_DATA};
use basalt::storage::{add_i64_merge, Store, COUNTER_MERGE};

use crate::harness::{notice, raw, Reply, Server};

const KEY: &[u8] = b"big";
const FIELDS: usize = 1_000_000;
/// Field-value pairs per HSET.
const PER_COMMAND: usize = 1_000;
/// HSET commands per pipelined round trip (25,000 fields, about 0.5 MB of request).
const PER_PIPELINE: usize = 25;
/// The server's `--rocksdb-write-buffer-size`: the hash's ~35 MB of sub-keys go through several
/// memtable flushes instead of staying in one 64 MB memtable.
const WRITE_BUFFER: &str = "4mb";

fn field(i: usize) -> String {
    format!("f:{i}")
}

/// Writes the hash with pipelined multi-field HSETs; every HSET must report all its fields new.
fn build_hash(c: &mut redis::Connection) {
    let commands = FIELDS / PER_COMMAND;
    for first in (0..commands).step_by(PER_PIPELINE) {
        let mut pipe = redis::pipe();
        for cmd in first..(first + PER_PIPELINE).min(commands) {
            let hset = pipe.cmd("HSET").arg(KEY);
            for i in cmd * PER_COMMAND..(cmd + 1) * PER_COMMAND {
                hset.arg(field(i)).arg(format!("v:{i}"));
            }
        }
        let replies: Vec<redis::Value> = pipe
            .query(c)
            .unwrap_or_else(|e| panic!("pipelined HSET from command {first}: {e}"));
        for (n, r) in replies.into_iter().enumerate() {
            assert_eq!(
                Reply::from(r),
                Reply::Int(PER_COMMAND as i64),
                "HSET number {}",
                first + n
            );
        }
    }
}

/// One `name:value` line of an INFO reply, as an integer.
fn info_u64(info: &str, name: &str) -> Option<u64> {
    info.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(':'))
        .and_then(|v| v.trim().parse().ok())
}

/// The `cf_data:` line of INFO rocksdb: (estimated keys, bytes in SST files).
fn data_cf_figures(info: &str) -> (u64, u64) {
    let line = info
        .lines()
        .find_map(|l| l.strip_prefix("cf_data:"))
        .unwrap_or_else(|| panic!("no cf_data line in INFO:\n{info}"));
    let field = |name: &str| -> u64 {
        line.split(',')
            .find_map(|kv| kv.strip_prefix(name)?.strip_prefix('='))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or_else(|| panic!("no {name} in cf_data:{line}"))
    };
    (field("keys"), field("sst_bytes"))
}

fn info_rocksdb(c: &mut redis::Connection) -> String {
    match raw(c, &["INFO", "rocksdb"]) {
        Reply::Bulk(text) => String::from_utf8_lossy(&text).into_owned(),
        other => panic!("INFO rocksdb: {other}"),
    }
}

/// Waits (up to 60 s) until RocksDB has had no flush or compaction running or pending for five
/// polls in a row, so no flush or compaction started during the build can run the filter after
/// DEL and make the offline count of stale sub-keys depend on timing. (No write after that can
/// fill a memtable: the test writes one small field.)
fn wait_rocksdb_idle(c: &mut redis::Connection) {
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut idle_polls = 0;
    while idle_polls < 5 {
        let text = info_rocksdb(c);
        let busy = [
            "rocksdb_num_running_compactions",
            "rocksdb_num_running_flushes",
            "rocksdb_estimate_pending_compaction_bytes",
        ]
        .map(|name| info_u64(&text, name).unwrap_or_else(|| panic!("no {name} in INFO:\n{text}")));
        if busy == [0, 0, 0] {
            idle_polls += 1;
        } else {
            idle_polls = 0;
        }
        assert!(
            Instant::now() < deadline,
            "RocksDB still busy after 60 s (compactions, flushes, pending bytes): {busy:?}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The `data` entries of `KEY` in database 0, counted per version.
fn count_by_version(db: &rocksdb::DB) -> BTreeMap<u64, usize> {
    let cf = db.cf_handle(CF_DATA).expect("data column family");
    // db · keylen · key: the prefix of every version's sub-keys (data_prefix adds the version).
    let mut prefix = data_prefix(0, KEY, 0);
    prefix.truncate(prefix.len() - 8);
    let mut counts = BTreeMap::new();
    let mut it = db.raw_iterator_cf(cf);
    it.seek(&prefix);
    while let Some(k) = it.key() {
        if !k.starts_with(&prefix) {
            break;
        }
        let parsed = parse_data_key(k).expect("a well-formed data key");
        assert_eq!(parsed.key, KEY);
        *counts.entry(parsed.version).or_insert(0) += 1;
        it.next();
    }
    it.status().expect("iterating the data column family");
    counts
}

/// Opens the RocksDB directory read-only (no flush or compaction can run) and counts.
fn count_read_only(rocks_dir: &Path) -> BTreeMap<u64, usize> {
    // Replaying the write-ahead log needs the merge operator the server registers for its key
    // counters (`src/storage/mod.rs`) on every column family that has merges: without one,
    // point-in-time recovery stops at the first counter merge and silently drops every later
    // write. Only its name and associativity matter here. Recovery is also made strict, so a WAL
    // the test cannot replay fails the open instead of hiding data.
    let cf_opts = || {
        let mut o = rocksdb::Options::default();
        o.set_merge_operator_associative(COUNTER_MERGE, add_i64_merge);
        o
    };
    let mut opts = cf_opts();
    opts.set_wal_recovery_mode(rocksdb::DBRecoveryMode::AbsoluteConsistency);
    let cfs = ["default", "meta", "data", "zscore", "expire"]
        .map(|name| rocksdb::ColumnFamilyDescriptor::new(name, cf_opts()));
    let db = rocksdb::DB::open_cf_descriptors_read_only(&opts, rocks_dir, cfs, false)
        .expect("open the data directory read-only");
    count_by_version(&db)
}

#[test]
fn delete_million_field_hash_then_compaction_reclaims_its_sub_keys() {
    let started = Instant::now();
    // Small memtables, so the hash is flushed to SST files (and compacted, live, by RocksDB's own
    // compactions) while it is built, as a hash this size would be in a real deployment.
    let mut srv = Server::start_with(&["--rocksdb-write-buffer-size", WRITE_BUFFER]);
    let mut c = srv.client();

    let t = Instant::now();
    build_hash(&mut c);
    let build = t.elapsed();
    assert_eq!(raw(&mut c, &["HLEN", "big"]), Reply::Int(FIELDS as i64));
    assert_eq!(
        raw(&mut c, &["HGET", "big", "f:999999"]),
        Reply::bulk("v:999999")
    );
    wait_rocksdb_idle(&mut c);
    let (est_keys, sst_bytes) = data_cf_figures(&info_rocksdb(&mut c));
    // ~35 MB of sub-keys, at most two 4 MB memtables of them unflushed; compressed in the
    // bottom level they take ~7 MB, so 1 MB of SST files is a safe floor.
    assert!(
        sst_bytes > 1 << 20,
        "the hash should be in SST files before DEL: cf_data keys={est_keys} sst_bytes={sst_bytes}"
    );

    // DEL answers at once whatever the size (timed for the log only: the machine is shared).
    let t = Instant::now();
    assert_eq!(raw(&mut c, &["DEL", "big"]), Reply::Int(1));
    let del = t.elapsed();
    assert_eq!(raw(&mut c, &["EXISTS", "big"]), Reply::Int(0));
    assert_eq!(raw(&mut c, &["HLEN", "big"]), Reply::Int(0));
    assert_eq!(raw(&mut c, &["HGET", "big", "f:1"]), Reply::Nil);
    assert_eq!(raw(&mut c, &["DBSIZE"]), Reply::Int(0));
    // A new hash under the same name starts empty: none of the old fields shows through.
    assert_eq!(raw(&mut c, &["HSET", "big", "f:1", "new"]), Reply::Int(1));
    assert_eq!(raw(&mut c, &["HLEN", "big"]), Reply::Int(1));
    assert_eq!(
        raw(&mut c, &["HGETALL", "big"]),
        Reply::Array(vec![Reply::bulk("f:1"), Reply::bulk("new")])
    );
    assert_eq!(raw(&mut c, &["HGET", "big", "f:2"]), Reply::Nil);
    drop(c);
    assert!(srv.stop(), "basalt did not exit cleanly on SIGTERM");

    // Before compaction: every old field is still on disk under the old version, plus the new
    // field under a newer one.
    let rocks_dir = srv.dir().join("db");
    let t = Instant::now();
    let before = count_read_only(&rocks_dir);
    let count_time = t.elapsed();
    let (&live, &live_count) = before.iter().next_back().expect("sub-keys on disk");
    assert_eq!(
        live_count, 1,
        "sub-keys per version before compaction: {before:?}"
    );
    let stale: usize = before.range(..live).map(|(_, n)| n).sum();
    assert_eq!(
        stale, FIELDS,
        "stale sub-keys before compaction (per version: {before:?})"
    );

    // Compaction with the server's own options and filters drops them all and keeps the live one.
    let t = Instant::now();
    let after = {
        let cfg = Config {
            dir: srv.dir().to_path_buf(),
            ..Config::default()
        };
        let store = Store::open(&cfg).expect("open the data directory");
        store.compact_dbs(&[0]);
        count_by_version(store.rocks())
    };
    let compact = t.elapsed();
    assert_eq!(
        after,
        BTreeMap::from([(live, 1)]),
        "sub-keys per version after compaction (the live version is {live})"
    );

    // The server still sees the new hash, and only it.
    srv.restart();
    let mut c = srv.client();
    assert_eq!(raw(&mut c, &["HLEN", "big"]), Reply::Int(1));
    assert_eq!(
        raw(&mut c, &["HGETALL", "big"]),
        Reply::Array(vec![Reply::bulk("f:1"), Reply::bulk("new")])
    );
    notice(&format!(
        "big_delete: {FIELDS} fields written in {build:.1?} ({} MB of data SST files), \
         DEL {del:.1?}, offline count {count_time:.1?}, compaction {compact:.1?}, \
         whole test {:.1?}",
        sst_bytes >> 20,
        started.elapsed()
    ));
}
