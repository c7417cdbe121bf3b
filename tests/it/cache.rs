//! The hot-key cache and the memory budget, through the real server.
//!
//! - `reads_agree_with_a_model_under_concurrent_writes`: writer threads each own a group of keys
//!   and run SET, DEL, PEXPIRE (already due), RENAME within the group, INCR and collection writes,
//!   logging every acknowledged state; reader threads GET/HLEN the same keys all along and check
//!   that each reply is a state the key held between the read's start and its end. A cache that
//!   served a replaced value (a stale fill after a write, an entry kept after DEL or expiry)
//!   fails it. Shared counters take INCRs from every writer: exact totals, and no reader ever
//!   sees one go down.
//! - `cache_on_and_off_give_identical_replies`: one seeded command stream over every family,
//!   DEL/EXPIRE/RENAME/MOVE/COPY/SWAPDB/FLUSHDB/RESTORE included, replayed on a server without
//!   the cache, one with the default cache and one with a cache small enough to evict all the
//!   time; every reply compared.
//! - `rss_stays_within_the_budget`: a 64 MB budget, ten times that written and read back; the
//!   server's peak RSS must stay under the budget plus a fixed allowance.
//! - `config_set_maxmemory_resizes_the_parts`: CONFIG SET at runtime, seen in INFO.
//!
//! Knobs: `BASALT_CACHE_SECONDS` (model test length, default 4), `BASALT_DIFF_SEEDS` /
//! `BASALT_DIFF_COMMANDS` (default 401,402 / 4000), `BASALT_BUDGET_MB` (default 64).

use crate::harness::{cmd, escape_cmd, notice, raw, Reply, Server};
use parking_lot::Mutex;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

fn env_num(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn info_field(conn: &mut redis::Connection, section: &str, field: &str) -> u64 {
    let text = match cmd(conn, &["INFO", section]) {
        Reply::Bulk(b) => String::from_utf8_lossy(&b).into_owned(),
        Reply::Verbatim(s) => s,
        other => panic!("INFO replied {other}"),
    };
    text.lines()
        .find_map(|l| {
            l.strip_prefix(field)?
                .strip_prefix(':')?
                .trim()
                .parse()
                .ok()
        })
        .unwrap_or_else(|| panic!("INFO {section} has no {field}:\n{text}"))
}

/// What a string key held: a value, or nothing.
type State = Option<Vec<u8>>;

/// The acknowledged history of one key: states in order, each with the sequence number of the
/// write that produced it.
#[derive(Default)]
struct History {
    states: Vec<(u64, State)>,
}

/// Histories of every key, and one global clock of acknowledged writes.
struct Model {
    keys: Vec<Mutex<History>>,
    clock: AtomicU64,
}

impl Model {
    /// Records a write acknowledged by the server: a reader that starts after this sees it.
    fn record(&self, key: usize, state: State) {
        let mut h = self.keys[key].lock();
        let seq = self.clock.fetch_add(1, Ordering::SeqCst) + 1;
        h.states.push((seq, state));
    }

    /// Marks a write about to be sent: from now on, a reader may see it.
    fn in_flight(&self) -> u64 {
        self.clock.load(Ordering::SeqCst)
    }

    /// Whether `seen` is a state the key held at some point in `[start, end]` (acknowledged
    /// states) or the state of a write still in flight at `end` (`pending`).
    fn allows(&self, key: usize, start: u64, seen: &State, pending: &[State]) -> bool {
        let h = self.keys[key].lock();
        // The state in force at `start`: the last one acknowledged at or before it.
        let from = h
            .states
            .iter()
            .rposition(|(seq, _)| *seq <= start)
            .unwrap_or(0);
        h.states[from..].iter().any(|(_, s)| s == seen) || pending.iter().any(|s| s == seen)
    }
}

const GROUP: usize = 4;

#[test]
fn reads_agree_with_a_model_under_concurrent_writes() {
    let server = Server::start_with(&["--maxmemory", "32mb"]);
    let port = server.port();
    let writers = 3;
    let nkeys = writers * GROUP;
    let model = Arc::new(Model {
        keys: (0..nkeys)
            .map(|_| {
                Mutex::new(History {
                    states: vec![(0, None)],
                })
            })
            .collect(),
        clock: AtomicU64::new(0),
    });
    // In-flight writes per key, visible to readers: a reply may show a write not yet acked.
    let pending: Arc<Vec<Mutex<Vec<State>>>> =
        Arc::new((0..nkeys).map(|_| Mutex::new(Vec::new())).collect());
    let stop = Arc::new(AtomicBool::new(false));
    let incrs = Arc::new(AtomicU64::new(0));
    let seconds = env_num("BASALT_CACHE_SECONDS", 4);
    let key = |i: usize| format!("mk:{i}");

    let mut threads = Vec::new();
    for w in 0..writers {
        let (model, pending, incrs) = (model.clone(), pending.clone(), incrs.clone());
        threads.push(std::thread::spawn(move || {
            let mut c = crate::harness::connect(port);
            let mut rng = StdRng::seed_from_u64(900 + w as u64);
            let mine: Vec<usize> = (w * GROUP..(w + 1) * GROUP).collect();
            // What each of my keys holds, as acknowledged.
            let mut cur: Vec<State> = vec![None; GROUP];
            let mut n = 0u64;
            let deadline = Instant::now() + Duration::from_secs(seconds);
            while Instant::now() < deadline {
                n += 1;
                let slot = rng.random_range(0..GROUP);
                let k = mine[slot];
                let value = format!("w{w}-{n}").into_bytes();
                // Announce the possible outcomes, write, record, retire the announcement.
                let op = rng.random_range(0..10);
                match op {
                    0..=4 => {
                        pending[k].lock().push(Some(value.clone()));
                        assert_eq!(
                            raw(&mut c, &[b"SET".as_slice(), key(k).as_bytes(), &value]),
                            Reply::ok()
                        );
                        model.record(k, Some(value.clone()));
                        cur[slot] = Some(value);
                        pending[k].lock().clear();
                    }
                    5 => {
                        pending[k].lock().push(None);
                        cmd(&mut c, &["DEL", &key(k)]);
                        model.record(k, None);
                        cur[slot] = None;
                        pending[k].lock().clear();
                    }
                    6 => {
                        // Already due: the key is gone for every reader from now on.
                        pending[k].lock().push(None);
                        cmd(&mut c, &["PEXPIREAT", &key(k), "1"]);
                        model.record(k, None);
                        cur[slot] = None;
                        pending[k].lock().clear();
                    }
                    7 => {
                        let dslot = (slot + 1 + rng.random_range(0..GROUP - 1)) % GROUP;
                        let d = mine[dslot];
                        if cur[slot].is_none() {
                            continue;
                        }
                        let moved = cur[slot].clone();
                        pending[k].lock().push(None);
                        pending[d].lock().push(moved.clone());
                        assert_eq!(cmd(&mut c, &["RENAME", &key(k), &key(d)]), Reply::ok());
                        // Both changes are one write: record them under one clock tick each,
                        // destination first so a reader never misses the value entirely.
                        model.record(d, moved.clone());
                        model.record(k, None);
                        cur[dslot] = moved;
                        cur[slot] = None;
                        pending[k].lock().clear();
                        pending[d].lock().clear();
                    }
                    8 => {
                        cmd(&mut c, &["INCR", "shared:counter"]);
                        incrs.fetch_add(1, Ordering::Relaxed);
                    }
                    _ => {
                        cmd(&mut c, &["HSET", &format!("h:{w}"), &n.to_string(), "x"]);
                    }
                }
            }
            n
        }));
    }
    let mut readers = Vec::new();
    for r in 0..2u64 {
        let (model, pending, stop) = (model.clone(), pending.clone(), stop.clone());
        readers.push(std::thread::spawn(move || {
            let mut c = crate::harness::connect(port);
            let mut rng = StdRng::seed_from_u64(700 + r);
            let mut checked = 0u64;
            let mut last_counter = 0i64;
            let mut last_hlen = vec![0i64; writers];
            while !stop.load(Ordering::Relaxed) {
                let k = rng.random_range(0..nkeys);
                let start = model.in_flight();
                let reply = cmd(&mut c, &["GET", &key(k)]);
                let seen: State = match reply {
                    Reply::Nil => None,
                    Reply::Bulk(b) => Some(b),
                    other => panic!("GET {} replied {other}", key(k)),
                };
                let flying = pending[k].lock().clone();
                assert!(
                    model.allows(k, start, &seen, &flying),
                    "GET {} returned {:?}, a state it did not hold since the read began",
                    key(k),
                    seen.map(|v| String::from_utf8_lossy(&v).into_owned())
                );
                checked += 1;
                // Counters and hash sizes only grow: a stale cached header would go back.
                if let Reply::Bulk(b) = cmd(&mut c, &["GET", "shared:counter"]) {
                    let v: i64 = String::from_utf8_lossy(&b).parse().unwrap();
                    assert!(v >= last_counter, "counter went back: {v} < {last_counter}");
                    last_counter = v;
                }
                let w = rng.random_range(0..writers);
                if let Reply::Int(n) = cmd(&mut c, &["HLEN", &format!("h:{w}")]) {
                    assert!(n >= last_hlen[w], "HLEN went back: {n} < {}", last_hlen[w]);
                    last_hlen[w] = n;
                }
            }
            checked
        }));
    }
    let writes: u64 = threads.into_iter().map(|t| t.join().unwrap()).sum();
    stop.store(true, Ordering::Relaxed);
    let reads: u64 = readers.into_iter().map(|t| t.join().unwrap()).sum();
    let mut c = server.client();
    assert_eq!(
        cmd(&mut c, &["GET", "shared:counter"]),
        Reply::bulk(incrs.load(Ordering::Relaxed).to_string())
    );
    // The final state of every key is its last recorded one.
    for k in 0..nkeys {
        let last = model.keys[k].lock().states.last().unwrap().1.clone();
        let got = match cmd(&mut c, &["GET", &key(k)]) {
            Reply::Nil => None,
            Reply::Bulk(b) => Some(b),
            other => panic!("{other}"),
        };
        assert_eq!(got, last, "final value of {}", key(k));
    }
    assert!(info_field(&mut c, "stats", "hot_cache_hits") > 0);
    assert!(
        reads > 100 && writes > 100,
        "too little traffic: {reads} reads, {writes} writes"
    );
    notice(&format!(
        "cache model: {writes} writes, {reads} checked reads"
    ));
}

/// One random command for the differential stream.
fn random_command(rng: &mut StdRng) -> Vec<String> {
    let keys = ["a", "b", "c", "d", "h", "l", "s", "z", "n"];
    let k = |rng: &mut StdRng| keys[rng.random_range(0..keys.len())].to_string();
    let many = |rng: &mut StdRng| format!("k{}", rng.random_range(0..3000));
    // Big enough that the tiny cache holds only a few hundred of them.
    let big = |rng: &mut StdRng| format!("{}{}", "x".repeat(400), rng.random_range(0..100));
    let v = |rng: &mut StdRng| format!("v{}", rng.random_range(0..100));
    let s = |x: &str| x.to_string();
    match rng.random_range(0..44) {
        0..=3 => vec![s("SET"), k(rng), v(rng)],
        4 => vec![s("SET"), k(rng), v(rng), s("NX")],
        5 => vec![s("SET"), k(rng), v(rng), s("EX"), s("1000")],
        6..=9 => vec![s("GET"), k(rng)],
        10 => vec![s("DEL"), k(rng), k(rng)],
        11 => vec![s("EXPIRE"), k(rng), s("1000")],
        12 => vec![s("PEXPIREAT"), k(rng), s("1")],
        13 => vec![s("PERSIST"), k(rng)],
        14 => vec![s("RENAME"), k(rng), k(rng)],
        15 => vec![s("INCR"), s("n")],
        16 => vec![s("APPEND"), k(rng), v(rng)],
        17 => vec![s("HSET"), s("h"), v(rng), v(rng)],
        18 => vec![s("HDEL"), s("h"), v(rng)],
        19 => vec![s("HLEN"), s("h")],
        20 => vec![s("LPUSH"), s("l"), v(rng)],
        21 => vec![s("RPOP"), s("l")],
        22 => vec![s("LLEN"), s("l")],
        23 => vec![s("SADD"), s("s"), v(rng)],
        24 => vec![s("SREM"), s("s"), v(rng)],
        25 => vec![s("SCARD"), s("s")],
        26 => vec![
            s("ZADD"),
            s("z"),
            rng.random_range(0..50).to_string(),
            v(rng),
        ],
        27 => vec![s("ZCARD"), s("z")],
        28 => vec![s("TYPE"), k(rng)],
        29 => vec![s("EXISTS"), k(rng), k(rng)],
        30 => vec![s("GETDEL"), k(rng)],
        31 => vec![s("COPY"), k(rng), k(rng), s("REPLACE")],
        32 => vec![s("MOVE"), k(rng), s("1")],
        33 => match rng.random_range(0..8) {
            0 => vec![s("SWAPDB"), s("0"), s("1")],
            1 => vec![s("FLUSHDB")],
            _ => vec![s("SELECT"), rng.random_range(0..2).to_string()],
        },
        34 => vec![s("MSET"), k(rng), v(rng), k(rng), v(rng)],
        35 => vec![s("MGET"), k(rng), k(rng), k(rng)],
        36..=39 => vec![s("SET"), many(rng), big(rng)],
        40..=41 => vec![s("GET"), many(rng)],
        42 => vec![s("GETEX"), k(rng), s("PERSIST")],
        _ => vec![
            s("SETRANGE"),
            k(rng),
            rng.random_range(0..8).to_string(),
            v(rng),
        ],
    }
}

#[test]
fn cache_on_and_off_give_identical_replies() {
    let servers = [
        Server::start_with(&["--maxmemory-cache-percent", "0"]),
        Server::start(),
        // 1% of the smallest budget's share: ~80 KB, far less than the 3,000-key working set.
        Server::start_with(&["--maxmemory", "16mb", "--maxmemory-cache-percent", "1"]),
    ];
    let seeds: Vec<u64> = std::env::var("BASALT_DIFF_SEEDS")
        .ok()
        .map(|s| s.split(',').filter_map(|x| x.trim().parse().ok()).collect())
        .unwrap_or_else(|| vec![401, 402]);
    let n = env_num("BASALT_DIFF_COMMANDS", 4000);
    let mut conns: Vec<_> = servers.iter().map(|s| s.client()).collect();
    let mut total = 0;
    for seed in seeds {
        let mut rng = StdRng::seed_from_u64(seed);
        for c in conns.iter_mut() {
            cmd(c, &["FLUSHALL"]);
            cmd(c, &["SELECT", "0"]);
        }
        for i in 0..n {
            let args = random_command(&mut rng);
            // DUMP/RESTORE of a random key now and then: a write path of its own.
            let replies: Vec<Reply> = conns.iter_mut().map(|c| raw(c, &args)).collect();
            for (j, r) in replies.iter().enumerate().skip(1) {
                assert_eq!(
                    r,
                    &replies[0],
                    "seed {seed} command {i} {}: server {j} differs from the cache-less one",
                    escape_cmd(&args)
                );
            }
            if i % 97 == 0 {
                let key = args.get(1).cloned().unwrap_or_default();
                let dumps: Vec<Reply> = conns.iter_mut().map(|c| cmd(c, &["DUMP", &key])).collect();
                if let Reply::Bulk(payload) = &dumps[0] {
                    for c in conns.iter_mut() {
                        let r = raw(
                            c,
                            &[
                                b"RESTORE".as_slice(),
                                b"restored",
                                b"0",
                                payload,
                                b"REPLACE",
                            ],
                        );
                        assert_eq!(r, Reply::ok());
                        assert_eq!(cmd(c, &["TYPE", "restored"]), cmd(c, &["TYPE", &key]));
                    }
                }
            }
            total += 1;
        }
    }
    // Past the tiny cache's size for sure (FLUSHDB in the stream empties it now and then), then
    // read back through evictions.
    for i in 0..600 {
        let key = format!("fill{i}");
        let value = format!("{}{i}", "y".repeat(400));
        for c in conns.iter_mut() {
            assert_eq!(cmd(c, &["SET", &key, &value]), Reply::ok());
        }
    }
    for i in 0..600 {
        let key = format!("fill{i}");
        let replies: Vec<Reply> = conns.iter_mut().map(|c| cmd(c, &["GET", &key])).collect();
        assert!(
            replies.iter().all(|r| r == &replies[0]),
            "GET {key}: {replies:?}"
        );
        assert_eq!(replies[0], Reply::bulk(format!("{}{i}", "y".repeat(400))));
    }
    let mut tiny = servers[2].client();
    let evictions = info_field(&mut tiny, "stats", "hot_cache_evictions");
    assert!(
        evictions > 0,
        "the tiny cache never evicted: {}",
        cmd(&mut tiny, &["INFO", "memory"])
    );
    let mut off = servers[0].client();
    assert_eq!(info_field(&mut off, "memory", "hot_cache_entries"), 0);
    notice(&format!(
        "cache differential: {total} commands on 3 servers"
    ));
}

fn rss_of(pid: u32, field: &str) -> u64 {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    text.lines()
        .find_map(|l| {
            l.strip_prefix(field)?
                .strip_prefix(':')?
                .split_whitespace()
                .next()?
                .parse::<u64>()
                .ok()
        })
        .unwrap()
        * 1024
}

#[test]
fn rss_stays_within_the_budget() {
    let budget_mb = env_num("BASALT_BUDGET_MB", 64);
    let budget = budget_mb << 20;
    let server = Server::start_with(&["--maxmemory", &format!("{budget_mb}mb")]);
    let pid = server.pid().unwrap();
    let mut c = server.client();
    let base = rss_of(pid, "VmRSS");
    // Ten times the budget in 4 KB values, written in pipelines of 64.
    let value = vec![b'x'; 4096];
    let keys = (10 * budget) / 4096;
    let mut k = 0;
    while k < keys {
        let mut p = redis::pipe();
        for i in k..(k + 64).min(keys) {
            p.cmd("SET").arg(format!("big:{i}")).arg(&value).ignore();
        }
        p.query::<()>(&mut c).unwrap();
        k += 64;
    }
    // Read everything back (and check it), in pipelines.
    let mut k = 0;
    while k < keys {
        let mut p = redis::pipe();
        let end = (k + 64).min(keys);
        for i in k..end {
            p.cmd("STRLEN").arg(format!("big:{i}"));
        }
        let lens: Vec<u64> = p.query(&mut c).unwrap();
        assert!(lens.iter().all(|&l| l == 4096), "lost a value near big:{k}");
        k = end;
    }
    let hwm = rss_of(pid, "VmHWM");
    let used = info_field(&mut c, "memory", "hot_cache_bytes");
    let cap = info_field(&mut c, "memory", "hot_cache_capacity");
    assert!(used <= cap, "hot cache {used} over its capacity {cap}");
    // The budget bounds the caches and memtables; on top of it come the binary, thread stacks,
    // RocksDB's per-file and compaction buffers and allocator slack: a fixed allowance.
    let allowance = 48 << 20;
    notice(&format!(
        "budget {budget_mb} MB, wrote {} MB: RSS at start {} MB, peak {} MB (bound {} MB)",
        (keys * 4096) >> 20,
        base >> 20,
        hwm >> 20,
        (budget + allowance) >> 20
    ));
    assert!(
        hwm <= budget + allowance,
        "peak RSS {} MB over the budget {budget_mb} MB + {} MB",
        hwm >> 20,
        allowance >> 20
    );
}

#[test]
fn config_set_maxmemory_resizes_the_parts() {
    let server = Server::start_with(&["--maxmemory", "64mb"]);
    let mut c = server.client();
    assert_eq!(info_field(&mut c, "memory", "maxmemory"), 64 << 20);
    // A fifth of the budget (at least 16 MB) is reserved; a quarter of the rest is the cache.
    assert_eq!(
        info_field(&mut c, "memory", "hot_cache_capacity"),
        (48 << 20) / 100 * 25
    );
    assert_eq!(
        cmd(&mut c, &["CONFIG", "SET", "maxmemory", "160mb"]),
        Reply::ok()
    );
    assert_eq!(info_field(&mut c, "memory", "memory_budget"), 160 << 20);
    assert_eq!(info_field(&mut c, "memory", "memory_reserve"), 32 << 20);
    assert_eq!(
        info_field(&mut c, "memory", "rocksdb_block_cache_capacity"),
        (128 << 20) - (128 << 20) / 100 * 25
    );
    assert_eq!(
        cmd(&mut c, &["CONFIG", "SET", "maxmemory-cache-percent", "0"]),
        Reply::ok()
    );
    assert_eq!(info_field(&mut c, "memory", "hot_cache_capacity"), 0);
    cmd(&mut c, &["SET", "k", "v"]);
    assert_eq!(info_field(&mut c, "memory", "hot_cache_entries"), 0);
    assert_eq!(
        cmd(&mut c, &["CONFIG", "SET", "maxmemory-cache-percent", "50"]),
        Reply::ok()
    );
    assert_eq!(cmd(&mut c, &["GET", "k"]), Reply::bulk("v"));
    assert_eq!(info_field(&mut c, "memory", "hot_cache_entries"), 1);
    assert_eq!(cmd(&mut c, &["GET", "k"]), Reply::bulk("v"));
    assert!(info_field(&mut c, "stats", "hot_cache_hits") >= 1);
    assert!(matches!(
        cmd(&mut c, &["CONFIG", "SET", "maxmemory-cache-percent", "95"]),
        Reply::Error(_)
    ));
    assert_eq!(
        cmd(&mut c, &["CONFIG", "GET", "maxmemory"]),
        Reply::Array(vec![
            Reply::bulk("maxmemory"),
            Reply::bulk((160u64 << 20).to_string())
        ])
    );
}
