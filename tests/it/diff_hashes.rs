//! Differential and integration tests for hashes.
//!
//! The differential test replays seeded random hash command streams (plus SET/DEL/EXPIRE/TTL on
//! the same small key space, so wrong types, expiring keys and recreated keys are covered) on
//! Basalt and on a real redis-server, and compares replies:
//! - exactly for most commands;
//! - as sorted lists for HKEYS/HVALS and as sorted (field, value) pairs for HGETALL, since Redis's
//!   order is unspecified for hashtables;
//! - HRANDFIELD: errors, nil and empty replies exactly; otherwise the reply shape (length, pairs)
//!   is compared and every returned field must be in the hash (distinct for a positive count);
//! - HSCAN: errors exactly; a first page with cursor 0 on both servers exactly (sorted pairs);
//!   and always the union of a complete scan on each server.
//!
//! Knobs: `BASALT_HDIFF_SEEDS=3,17` (default 1..=4), `BASALT_HDIFF_COMMANDS=n` (default 5500 per
//! seed), `BASALT_HDIFF_TRACE=1` (print every command and Redis's reply).

use std::collections::{BTreeMap, BTreeSet, HashSet};

use rand::rngs::StdRng;
use rand::seq::IndexedRandom;
use rand::{Rng, SeedableRng};

use crate::harness::{escape_cmd, raw, RedisServer, Reply, Server};

const KEYS: &[&[u8]] = &[
    b"h1",
    b"h2",
    b"h3",
    b"",
    b"h\x00",
    b"\xff\xfe",
    b"big",
    b"s",
];

const FIELDS: &[&[u8]] = &[
    b"f1", b"f2", b"f3", b"f10", b"", b"\x00", b"a\x00b", b"\xff", b"n", b"num", b"fl", b"x*y",
];

const INT_VALUES: &[&str] = &[
    "0",
    "1",
    "-1",
    "007",
    "9223372036854775807",
    "-9223372036854775808",
    "9223372036854775806",
    "12",
    "-0",
    "1.5",
    "abc",
    "",
    " 1",
    "99999999999999999999",
];

const FLOATS: &[&str] = &[
    "1", "1.5", "-0.5", "0.1", "3.0e3", "1e-5", "10.50", "0x10", "5e400", "inf", "-inf", "nan",
    "abc", "", " 1", "1e17", "-0", "2.5e-3",
];

const PATTERNS: &[&[u8]] = &[
    b"*", b"f*", b"f?", b"*1*", b"bf1*", b"[ab]*", b"", b"\x00", b"x\\*y", b"*\xff",
];

/// (command, arity) for wrong-arity commands.
const ARITY: &[(&str, i32)] = &[
    ("HSET", -4),
    ("HSETNX", 4),
    ("HGET", 3),
    ("HMGET", -3),
    ("HMSET", -4),
    ("HDEL", -3),
    ("HEXISTS", 3),
    ("HLEN", 2),
    ("HSTRLEN", 3),
    ("HKEYS", 2),
    ("HVALS", 2),
    ("HGETALL", 2),
    ("HINCRBY", 4),
    ("HINCRBYFLOAT", 4),
    ("HRANDFIELD", -2),
    ("HSCAN", -3),
];

#[derive(Clone, Copy, Debug, PartialEq)]
enum Cmp {
    Exact,
    /// Arrays compared as sorted lists.
    Sorted,
    /// Flat field/value arrays compared as sorted pairs.
    Pairs,
    /// Integers within this tolerance (TTL).
    Tolerance(i64),
    Rand,
    Scan,
}

struct Gen {
    rng: StdRng,
}

fn b(s: &str) -> Vec<u8> {
    s.as_bytes().to_vec()
}

impl Gen {
    fn pct(&mut self, p: u32) -> bool {
        self.rng.random_range(0..100) < p
    }

    fn name(&mut self, n: &str) -> Vec<u8> {
        if self.pct(80) {
            b(n)
        } else {
            n.to_ascii_lowercase().into_bytes()
        }
    }

    fn key(&mut self) -> Vec<u8> {
        KEYS.choose(&mut self.rng).unwrap().to_vec()
    }

    fn field(&mut self) -> Vec<u8> {
        match self.rng.random_range(0..100) {
            0..=84 => FIELDS.choose(&mut self.rng).unwrap().to_vec(),
            85..=92 => format!("bf{}", self.rng.random_range(0..200)).into_bytes(),
            // Longer than 64 bytes: a hashtable in Redis.
            _ => {
                let mut f = vec![b'F'; 65 + self.rng.random_range(0..3)];
                f.push(b'0' + self.rng.random_range(0..3u8));
                f
            }
        }
    }

    fn value(&mut self) -> Vec<u8> {
        match self.rng.random_range(0..100) {
            0..=39 => b(INT_VALUES.choose(&mut self.rng).unwrap()),
            40..=54 => b(FLOATS.choose(&mut self.rng).unwrap()),
            55..=64 => Vec::new(),
            65..=69 => b"\x00bin\xff\x00".to_vec(),
            70..=79 => vec![b'v'; 64 + self.rng.random_range(0..3)],
            _ => format!("val{}", self.rng.random_range(0..1000)).into_bytes(),
        }
    }

    fn next(&mut self) -> (Vec<Vec<u8>>, Cmp) {
        let key = self.key();
        let mut args: Vec<Vec<u8>>;
        let mut cmp = Cmp::Exact;
        match self.rng.random_range(0..100) {
            0..=14 => {
                let name = if self.pct(80) { "HSET" } else { "HMSET" };
                args = vec![self.name(name), key];
                let big = args[1] == b"big" && self.pct(10);
                let n = if big {
                    self.rng.random_range(100..180)
                } else {
                    self.rng.random_range(1..4)
                };
                for _ in 0..n {
                    let f = if big {
                        format!("bf{}", self.rng.random_range(0..200)).into_bytes()
                    } else {
                        self.field()
                    };
                    args.push(f);
                    args.push(self.value());
                }
                if self.pct(4) {
                    args.pop();
                }
            }
            15..=18 => {
                args = vec![self.name("HSETNX"), key, self.field(), self.value()];
            }
            19..=27 => args = vec![self.name("HGET"), key, self.field()],
            28..=31 => {
                args = vec![self.name("HMGET"), key];
                for _ in 0..self.rng.random_range(1..5) {
                    args.push(self.field());
                }
            }
            32..=38 => {
                args = vec![self.name("HDEL"), key];
                for _ in 0..self.rng.random_range(1..4) {
                    args.push(self.field());
                }
            }
            39..=41 => args = vec![self.name("HEXISTS"), key, self.field()],
            42..=44 => args = vec![self.name("HLEN"), key],
            45..=46 => args = vec![self.name("HSTRLEN"), key, self.field()],
            47..=48 => {
                args = vec![self.name("HKEYS"), key];
                cmp = Cmp::Sorted;
            }
            49..=50 => {
                args = vec![self.name("HVALS"), key];
                cmp = Cmp::Sorted;
            }
            51..=53 => {
                args = vec![self.name("HGETALL"), key];
                cmp = Cmp::Pairs;
            }
            54..=59 => {
                let incr = if self.pct(70) {
                    self.rng.random_range(-100..100).to_string()
                } else {
                    INT_VALUES.choose(&mut self.rng).unwrap().to_string()
                };
                args = vec![self.name("HINCRBY"), key, self.field(), b(&incr)];
            }
            60..=64 => {
                let incr = FLOATS.choose(&mut self.rng).unwrap();
                args = vec![self.name("HINCRBYFLOAT"), key, self.field(), b(incr)];
            }
            65..=71 => {
                args = vec![self.name("HRANDFIELD"), key];
                cmp = Cmp::Rand;
                if self.pct(80) {
                    let c = match self.rng.random_range(0..10) {
                        0 => b([
                            "x",
                            "1.5",
                            "-9223372036854775808",
                            "9223372036854775807",
                            "-9223372036854775807",
                            "4611686018427387904",
                            "-4611686018427387904",
                        ]
                        .choose(&mut self.rng)
                        .unwrap()),
                        _ => self.rng.random_range(-12..12).to_string().into_bytes(),
                    };
                    // A huge negative count without WITHVALUES makes Redis build a reply of
                    // that many elements: only sent with WITHVALUES (where Redis refuses it).
                    let huge_negative =
                        c.len() > 10 && c[0] == b'-' && c != b"-9223372036854775808";
                    args.push(c);
                    if huge_negative || self.pct(50) {
                        args.push(self.name("WITHVALUES"));
                    } else if self.pct(5) {
                        args.push(b"junk".to_vec());
                    }
                }
            }
            72..=77 => {
                args = vec![self.name("HSCAN"), key];
                cmp = Cmp::Scan;
                let cursor = match self.rng.random_range(0..20) {
                    0 => b"x".to_vec(),
                    2 => b" 0".to_vec(),
                    _ => b"0".to_vec(),
                };
                if cursor != b"0" {
                    cmp = Cmp::Exact;
                }
                args.push(cursor);
                if self.pct(50) {
                    args.push(self.name("MATCH"));
                    args.push(PATTERNS.choose(&mut self.rng).unwrap().to_vec());
                }
                if self.pct(50) {
                    args.push(self.name("COUNT"));
                    let c = match self.rng.random_range(0..10) {
                        0 => b(["0", "-1", "x"].choose(&mut self.rng).unwrap()),
                        _ => self.rng.random_range(1..300).to_string().into_bytes(),
                    };
                    if c == b"0" || c == b"-1" || c == b"x" {
                        cmp = Cmp::Exact;
                    }
                    args.push(c);
                }
                if self.pct(3) {
                    args.push(b"BOGUS".to_vec());
                    cmp = Cmp::Exact;
                }
            }
            78..=80 => args = vec![b("SET"), key, self.value()],
            81..=83 => args = vec![b("DEL"), key],
            84..=86 => {
                let t = self.rng.random_range(100_000..10_000_000).to_string();
                args = vec![b("EXPIRE"), key, b(&t)];
            }
            87..=88 => {
                args = vec![b("TTL"), key];
                cmp = Cmp::Tolerance(2);
            }
            89 => args = vec![b("PERSIST"), key],
            90..=91 => args = vec![b("TYPE"), key],
            92..=93 => args = vec![b("EXISTS"), key],
            _ => {
                // Wrong arity.
                let &(name, arity) = ARITY.choose(&mut self.rng).unwrap();
                let n = if arity > 0 {
                    let a = arity as usize;
                    if self.pct(50) {
                        a - 1
                    } else {
                        a + 1
                    }
                } else {
                    self.rng.random_range(1..(-arity) as usize)
                };
                args = vec![self.name(name)];
                while args.len() < n {
                    args.push(self.field());
                }
                if args.len() > 1 {
                    args[1] = key;
                }
            }
        }
        (args, cmp)
    }
}

fn bulks(r: &Reply) -> Option<Vec<Vec<u8>>> {
    match r {
        Reply::Array(items) => items
            .iter()
            .map(|i| i.as_bytes().map(<[u8]>::to_vec))
            .collect(),
        _ => None,
    }
}

fn pairs(r: &Reply) -> Option<Vec<(Vec<u8>, Vec<u8>)>> {
    let flat = bulks(r)?;
    if flat.len() % 2 != 0 {
        return None;
    }
    Some(
        flat.chunks(2)
            .map(|c| (c[0].clone(), c[1].clone()))
            .collect(),
    )
}

fn sorted<T: Ord + Clone>(v: &[T]) -> Vec<T> {
    let mut v = v.to_vec();
    v.sort();
    v
}

/// The hash's contents on one server (empty when missing or not a hash).
fn contents(conn: &mut redis::Connection, key: &[u8]) -> BTreeMap<Vec<u8>, Vec<u8>> {
    pairs(&raw(conn, &[&b"HGETALL"[..], key]))
        .unwrap_or_default()
        .into_iter()
        .collect()
}

/// A set of (field, value) pairs.
type PairSet = BTreeSet<(Vec<u8>, Vec<u8>)>;

/// Completes a scan started by `first` (the reply to `args`, cursor 0), returning every pair.
fn finish_scan(
    conn: &mut redis::Connection,
    args: &[Vec<u8>],
    first: &Reply,
) -> Result<PairSet, String> {
    let mut out = BTreeSet::new();
    let mut reply = first.clone();
    for _ in 0..10_000 {
        let Reply::Array(parts) = &reply else {
            return Err(format!("not an array: {reply}"));
        };
        let [Reply::Bulk(cursor), page] = parts.as_slice() else {
            return Err(format!("bad shape: {reply}"));
        };
        out.extend(pairs(page).ok_or_else(|| format!("bad page: {reply}"))?);
        if cursor == b"0" {
            return Ok(out);
        }
        let mut next = args.to_vec();
        next[2] = cursor.clone();
        reply = raw(conn, &next);
    }
    Err("scan did not finish".into())
}

/// Checks an HRANDFIELD reply from Basalt (`rb`) against Redis's (`ra`) and Basalt's contents.
fn check_rand(args: &[Vec<u8>], ra: &Reply, rb: &Reply, hash: &BTreeMap<Vec<u8>, Vec<u8>>) -> bool {
    if ra.is_error() || rb.is_error() || *ra == Reply::Nil || *rb == Reply::Nil {
        return ra == rb;
    }
    if args.len() == 2 {
        return rb.as_bytes().is_some_and(|f| hash.contains_key(f)) && ra.as_bytes().is_some();
    }
    let count: i64 = String::from_utf8_lossy(&args[2]).parse().unwrap_or(0);
    let with_values = args.len() == 4;
    let (Some(a), Some(bv)) = (bulks(ra), bulks(rb)) else {
        return false;
    };
    if a.len() != bv.len() {
        return false;
    }
    let got: Vec<(Vec<u8>, Option<Vec<u8>>)> = if with_values {
        match pairs(rb) {
            Some(p) => p.into_iter().map(|(f, v)| (f, Some(v))).collect(),
            None => return false,
        }
    } else {
        bv.into_iter().map(|f| (f, None)).collect()
    };
    let expected_len = if hash.is_empty() {
        0
    } else if count >= 0 {
        (count as usize).min(hash.len())
    } else {
        count.unsigned_abs() as usize
    };
    if got.len() != expected_len {
        return false;
    }
    let ok_members = got.iter().all(|(f, v)| match (hash.get(f), v) {
        (Some(val), Some(v)) => val == v,
        (Some(_), None) => true,
        (None, _) => false,
    });
    let distinct =
        count < 0 || got.iter().map(|(f, _)| f).collect::<HashSet<_>>().len() == got.len();
    ok_members && distinct
}

fn seeds() -> Vec<u64> {
    match std::env::var("BASALT_HDIFF_SEEDS") {
        Ok(v) => v.split(',').filter_map(|s| s.trim().parse().ok()).collect(),
        Err(_) => (1..=4).collect(),
    }
}

#[test]
fn differential_hashes() {
    let Some(redis_srv) = RedisServer::start() else {
        return;
    };
    let basalt_srv = Server::start();
    let n: usize = std::env::var("BASALT_HDIFF_COMMANDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(5500);
    let trace = std::env::var("BASALT_HDIFF_TRACE").is_ok_and(|v| v == "1");
    let mut rc = redis_srv.client();
    let mut bc = basalt_srv.client();
    let mut compared = 0usize;
    let mut mismatches = Vec::new();
    for seed in seeds() {
        assert_eq!(raw(&mut rc, &["FLUSHALL"]), Reply::ok());
        assert_eq!(raw(&mut bc, &["FLUSHALL"]), Reply::ok());
        let mut gen = Gen {
            rng: StdRng::seed_from_u64(seed),
        };
        for i in 0..n {
            let (args, cmp) = gen.next();
            let ra = raw(&mut rc, &args);
            let rb = raw(&mut bc, &args);
            if trace {
                eprintln!("#{seed}/{i} {} -> {ra}", escape_cmd(&args));
            }
            compared += 1;
            let same = match cmp {
                Cmp::Exact => ra == rb,
                Cmp::Tolerance(t) => match (&ra, &rb) {
                    (Reply::Int(x), Reply::Int(y)) if *x >= 0 && *y >= 0 => (x - y).abs() <= t,
                    _ => ra == rb,
                },
                Cmp::Sorted => match (bulks(&ra), bulks(&rb)) {
                    (Some(x), Some(y)) => sorted(&x) == sorted(&y),
                    _ => ra == rb,
                },
                Cmp::Pairs => match (pairs(&ra), pairs(&rb)) {
                    (Some(x), Some(y)) => sorted(&x) == sorted(&y),
                    _ => ra == rb,
                },
                Cmp::Rand => {
                    let hash = contents(&mut bc, &args[1]);
                    check_rand(&args, &ra, &rb, &hash)
                }
                Cmp::Scan => {
                    if ra.is_error() || rb.is_error() {
                        ra == rb
                    } else {
                        let first_pages_agree = match (&ra, &rb) {
                            (Reply::Array(a), Reply::Array(b))
                                if a.first() == Some(&Reply::bulk("0"))
                                    && b.first() == Some(&Reply::bulk("0")) =>
                            {
                                a.get(1).and_then(pairs).map(|p| sorted(&p))
                                    == b.get(1).and_then(pairs).map(|p| sorted(&p))
                            }
                            _ => true,
                        };
                        let full_a = finish_scan(&mut rc, &args, &ra);
                        let full_b = finish_scan(&mut bc, &args, &rb);
                        first_pages_agree && full_a.is_ok() && full_a == full_b
                    }
                }
            };
            if !same {
                mismatches.push(format!(
                    "seed {seed} #{i}: {}\n  redis:  {ra}\n  basalt: {rb}",
                    escape_cmd(&args)
                ));
                if mismatches.len() >= 10 {
                    break;
                }
            }
        }
        // The final state must agree too.
        for key in KEYS {
            let a = contents(&mut rc, key);
            let b = contents(&mut bc, key);
            if a != b {
                mismatches.push(format!("seed {seed}: final contents of {key:?} differ"));
            }
        }
        if mismatches.len() >= 10 {
            break;
        }
    }
    crate::harness::notice(&format!(
        "differential hashes: {compared} commands compared, {} mismatches",
        mismatches.len()
    ));
    assert!(mismatches.is_empty(), "{}", mismatches.join("\n"));
}

fn err(text: &str) -> Reply {
    Reply::Error(text.to_string())
}

#[test]
fn hash_error_cases() {
    let srv = Server::start();
    let mut c = srv.client();
    let wrongtype = err("WRONGTYPE Operation against a key holding the wrong kind of value");
    assert_eq!(raw(&mut c, &["SET", "s", "v"]), Reply::ok());
    assert_eq!(
        raw(&mut c, &["HSET", "h", "a", "1", "z", "007", "f", "1e1000"]),
        Reply::Int(3)
    );
    let cases: &[(&[&str], Reply)] = &[
        (&["HSET", "h", "a"], err("ERR wrong number of arguments for 'hset' command")),
        (&["HSET", "h", "a", "1", "b"], err("ERR wrong number of arguments for 'hset' command")),
        (&["HMSET", "h", "a", "1", "b"], err("ERR wrong number of arguments for 'hmset' command")),
        (&["HGET", "h"], err("ERR wrong number of arguments for 'hget' command")),
        (&["HSET", "s", "a", "1"], wrongtype.clone()),
        (&["HGET", "s", "a"], wrongtype.clone()),
        (&["HGETALL", "s"], wrongtype.clone()),
        (&["HLEN", "s"], wrongtype.clone()),
        (&["HDEL", "s", "a"], wrongtype.clone()),
        (&["HINCRBY", "s", "a", "x"], err("ERR value is not an integer or out of range")),
        (&["HINCRBY", "s", "a", "1"], wrongtype.clone()),
        (&["HINCRBY", "h", "z", "1"], err("ERR hash value is not an integer")),
        (&["HINCRBY", "h", "f", "1"], err("ERR hash value is not an integer")),
        (&["HINCRBY", "h", "m", "9223372036854775807"], Reply::Int(i64::MAX)),
        (&["HINCRBY", "h", "m", "1"], err("ERR increment or decrement would overflow")),
        (&["HINCRBYFLOAT", "s", "a", "inf"], err("ERR value is NaN or Infinity")),
        (&["HINCRBYFLOAT", "s", "a", "x"], err("ERR value is not a valid float")),
        (&["HINCRBYFLOAT", "s", "a", "1"], wrongtype.clone()),
        (&["HINCRBYFLOAT", "h", "a", "0.5"], Reply::bulk("1.5")),
        (&["HSET", "h", "w", "abc"], Reply::Int(1)),
        (&["HINCRBYFLOAT", "h", "w", "1"], err("ERR hash value is not a float")),
        (&["HRANDFIELD", "h", "x"], err("ERR value is not an integer or out of range")),
        (
            &["HRANDFIELD", "h", "-9223372036854775808"],
            err("ERR value is out of range, value must between -9223372036854775807 and 9223372036854775807"),
        ),
        (&["HRANDFIELD", "h", "4611686018427387904", "WITHVALUES"], err("ERR value is out of range")),
        (&["HRANDFIELD", "h", "-9223372036854775807", "WITHVALUES"], err("ERR value is out of range")),
        (&["HRANDFIELD", "h", "-9223372036854775807"], err("ERR value is out of range")),
        (&["HRANDFIELD", "nokey", "-9223372036854775807"], Reply::Array(vec![])),
        (&["HRANDFIELD", "h", "1", "foo"], err("ERR syntax error")),
        (&["HRANDFIELD", "h", "1", "WITHVALUES", "x"], err("ERR syntax error")),
        (&["HRANDFIELD", "s"], wrongtype.clone()),
        (&["HRANDFIELD", "s", "0"], wrongtype.clone()),
        (&["HRANDFIELD", "nokey"], Reply::Nil),
        (&["HRANDFIELD", "nokey", "5"], Reply::Array(vec![])),
        (&["HRANDFIELD", "h", "0"], Reply::Array(vec![])),
        (&["HSCAN", "h", "x"], err("ERR invalid cursor")),
        (&["HSCAN", "h", "0", "COUNT", "0"], err("ERR syntax error")),
        (&["HSCAN", "h", "0", "COUNT", "x"], err("ERR value is not an integer or out of range")),
        (&["HSCAN", "h", "0", "MATCH"], err("ERR syntax error")),
        (&["HSCAN", "s", "0", "COUNT", "0"], wrongtype.clone()),
        (
            &["HSCAN", "nokey", "0", "COUNT", "0"],
            Reply::Array(vec![Reply::bulk("0"), Reply::Array(vec![])]),
        ),
    ];
    for (args, expected) in cases {
        assert_eq!(&raw(&mut c, args), expected, "{args:?}");
    }
    // A huge positive count is bounded by the hash.
    let r = raw(&mut c, &["HRANDFIELD", "h", "9223372036854775807"]);
    assert_eq!(bulks(&r).map(|v| v.len()), Some(5), "{r}");
}

#[test]
fn resp3_shapes() {
    let srv = Server::start();
    let mut c = srv.client();
    assert!(!raw(&mut c, &["HELLO", "3"]).is_error());
    assert_eq!(
        raw(&mut c, &["HSET", "h", "a", "1", "b", "2"]),
        Reply::Int(2)
    );
    assert_eq!(
        raw(&mut c, &["HGETALL", "h"]),
        Reply::Map(vec![
            (Reply::bulk("a"), Reply::bulk("1")),
            (Reply::bulk("b"), Reply::bulk("2"))
        ])
    );
    let r = raw(&mut c, &["HRANDFIELD", "h", "-3", "WITHVALUES"]);
    let Reply::Array(items) = &r else {
        panic!("{r}")
    };
    assert_eq!(items.len(), 3);
    for it in items {
        let Reply::Array(p) = it else { panic!("{r}") };
        assert!(
            p.as_slice() == [Reply::bulk("a"), Reply::bulk("1")]
                || p.as_slice() == [Reply::bulk("b"), Reply::bulk("2")]
        );
    }
    assert_eq!(raw(&mut c, &["HRANDFIELD", "nokey"]), Reply::Nil);
    assert_eq!(raw(&mut c, &["HGETALL", "nokey"]), Reply::Map(vec![]));
}

#[test]
fn big_hash_scan_and_immediate_delete() {
    let srv = Server::start();
    let mut c = srv.client();
    const N: usize = 20_000;
    for chunk in 0..N / 1000 {
        let mut args: Vec<Vec<u8>> = vec![b("HSET"), b("big")];
        for i in chunk * 1000..(chunk + 1) * 1000 {
            args.push(format!("field:{i}").into_bytes());
            args.push(format!("value:{i}").into_bytes());
        }
        assert_eq!(raw(&mut c, &args), Reply::Int(1000));
    }
    assert_eq!(raw(&mut c, &["HLEN", "big"]), Reply::Int(N as i64));
    // HSCAN walks the whole hash in pages, every field exactly once without concurrent writes.
    let mut seen = HashSet::new();
    let mut cursor = b("0");
    let mut calls = 0;
    loop {
        let r = raw(&mut c, &[&b"HSCAN"[..], b"big", &cursor, b"COUNT", b"500"]);
        let Reply::Array(parts) = &r else {
            panic!("{r}")
        };
        let page = pairs(&parts[1]).unwrap();
        assert!(page.len() <= 500);
        for (f, v) in page {
            assert_eq!(v, [b"value:", &f[6..]].concat());
            assert!(seen.insert(f));
        }
        cursor = parts[0].as_bytes().unwrap().to_vec();
        calls += 1;
        if cursor == b"0" {
            break;
        }
    }
    assert_eq!(seen.len(), N);
    assert!(calls >= N / 500);
    // MATCH with a literal prefix.
    let r = raw(
        &mut c,
        &[
            "HSCAN",
            "big",
            "0",
            "MATCH",
            "field:1999*",
            "COUNT",
            "100000",
        ],
    );
    let Reply::Array(parts) = &r else {
        panic!("{r}")
    };
    assert_eq!(pairs(&parts[1]).unwrap().len(), 11);
    let r = raw(&mut c, &["HRANDFIELD", "big", "-5", "WITHVALUES"]);
    assert_eq!(pairs(&r).map(|p| p.len()), Some(5));
    let r = raw(&mut c, &["HRANDFIELD", "big", "100"]);
    let fields = bulks(&r).unwrap();
    assert_eq!(fields.iter().collect::<HashSet<_>>().len(), 100);

    // DEL is O(1) whatever the size; big_delete.rs checks the space is reclaimed. No timing is
    // asserted: the machines are shared.
    assert_eq!(raw(&mut c, &["DEL", "big"]), Reply::Int(1));
    assert_eq!(raw(&mut c, &["EXISTS", "big"]), Reply::Int(0));
    assert_eq!(raw(&mut c, &["HLEN", "big"]), Reply::Int(0));
    assert_eq!(raw(&mut c, &["HGET", "big", "field:1"]), Reply::Nil);
    assert_eq!(
        raw(&mut c, &["HSET", "big", "field:1", "new"]),
        Reply::Int(1)
    );
    assert_eq!(raw(&mut c, &["HLEN", "big"]), Reply::Int(1));
    assert_eq!(
        raw(&mut c, &["HGETALL", "big"]),
        Reply::Array(vec![Reply::bulk("field:1"), Reply::bulk("new")])
    );
    // HDEL of the last field removes the key.
    assert_eq!(
        raw(&mut c, &["HDEL", "big", "field:1", "field:1"]),
        Reply::Int(1)
    );
    assert_eq!(raw(&mut c, &["EXISTS", "big"]), Reply::Int(0));
}
