//! Differential and integration tests for sets.
//!
//! The differential replays a seeded random stream of set commands (plus SET/DEL to create
//! wrong-type keys) on Basalt and a real redis-server. Replies must be identical, except that
//! member lists (SMEMBERS, SINTER, SUNION, SDIFF) are compared as sorted multisets. SPOP,
//! SRANDMEMBER and SSCAN are random or iteration-order dependent: their errors are compared
//! exactly, otherwise Basalt's reply is checked against the (identical) state of redis-server
//! (members belong to the set, right counts, distinctness) and SPOP's effect is replayed on
//! redis-server with SREM so the two stay in lockstep. SSCAN of an intset-encoded set (in
//! redis-server) is compared exactly, as Redis 7.0 returns those whole with cursor 0.
//!
//! Knobs: `BASALT_DIFF_SEEDS=3,17` (default 101,102), `BASALT_DIFF_COMMANDS=n` (default 10000
//! per seed), `BASALT_DIFF_TRACE=1`.

use std::collections::{BTreeSet, VecDeque};

use rand::rngs::StdRng;
use rand::seq::IndexedRandom;
use rand::{Rng, SeedableRng};

use crate::harness::{escape_cmd, notice, raw, redis_server_available, RedisServer, Reply, Server};

const KEYS: &[&[u8]] = &[
    b"s1", b"s2", b"s3", b"s4", b"big", b"str", b"", b"k\x00", b"\xff", b"nums",
];

const WORDS: &[&[u8]] = &[
    b"a",
    b"b",
    b"c",
    b"d",
    b"e",
    b"",
    b"\x00",
    b"a\x00b",
    b"\xff\xfe",
    b"hello world",
    b"A",
];

const INTS: &[&str] = &[
    "0",
    "1",
    "2",
    "3",
    "-1",
    "10",
    "007",
    "-0",
    "+1",
    "9223372036854775807",
    "-9223372036854775808",
    "9223372036854775808",
    "1.5",
];

const COUNTS: &[&str] = &[
    "0",
    "1",
    "2",
    "3",
    "5",
    "10",
    "100",
    "-1",
    "-3",
    "-20",
    "abc",
    "",
    "9223372036854775807",
    "-9223372036854775808",
    "-9223372036854775807",
];

#[derive(Clone, Copy, PartialEq, Debug)]
enum Kind {
    Exact,
    Sorted,
    /// STORE command: compare the reply, then SMEMBERS of the destination (sorted).
    Store,
    Spop,
    Srandmember,
    Sscan,
}

struct Gen {
    rng: StdRng,
}

fn b(s: &str) -> Vec<u8> {
    s.as_bytes().to_vec()
}

impl Gen {
    fn key(&mut self) -> Vec<u8> {
        KEYS.choose(&mut self.rng).unwrap().to_vec()
    }

    fn keys(&mut self, min: usize, max: usize) -> Vec<Vec<u8>> {
        let n = self.rng.random_range(min..=max);
        (0..n).map(|_| self.key()).collect()
    }

    fn member(&mut self) -> Vec<u8> {
        match self.rng.random_range(0..10) {
            0..=3 => WORDS.choose(&mut self.rng).unwrap().to_vec(),
            4..=7 => b(INTS.choose(&mut self.rng).unwrap()),
            8 => self.rng.random_range(0..40).to_string().into_bytes(),
            _ => format!("m{}", self.rng.random_range(0..700)).into_bytes(),
        }
    }

    fn members(&mut self, min: usize, max: usize) -> Vec<Vec<u8>> {
        let n = self.rng.random_range(min..=max);
        (0..n).map(|_| self.member()).collect()
    }

    fn name(&mut self, n: &str) -> Vec<u8> {
        if self.rng.random_bool(0.7) {
            n.to_ascii_uppercase().into_bytes()
        } else {
            n.to_ascii_lowercase().into_bytes()
        }
    }

    fn count(&mut self) -> Vec<u8> {
        b(COUNTS.choose(&mut self.rng).unwrap())
    }

    fn next(&mut self) -> (Vec<Vec<u8>>, Kind) {
        let mut kind = Kind::Exact;
        let r = self.rng.random_range(0..100);
        let args = match r {
            0..=17 => {
                let mut a = vec![self.name("sadd"), self.key()];
                a.extend(self.members(1, 6));
                a
            }
            18 => {
                // A large set: past 512 members (hashtable), integers or not.
                let ints = self.rng.random_bool(0.5);
                let n = self.rng.random_range(100..700);
                let key = if self.rng.random_bool(0.6) {
                    b"big".to_vec()
                } else {
                    self.key()
                };
                let mut a = vec![self.name("sadd"), key];
                for i in 0..n {
                    a.push(if ints {
                        i.to_string().into_bytes()
                    } else {
                        format!("m{i}").into_bytes()
                    });
                }
                a
            }
            19..=25 => {
                let mut a = vec![self.name("srem"), self.key()];
                a.extend(self.members(1, 5));
                a
            }
            26..=28 => vec![self.name("sismember"), self.key(), self.member()],
            29..=30 => {
                let mut a = vec![self.name("smismember"), self.key()];
                a.extend(self.members(1, 4));
                a
            }
            31..=34 => {
                kind = Kind::Sorted;
                vec![self.name("smembers"), self.key()]
            }
            35..=37 => vec![self.name("scard"), self.key()],
            38..=42 => {
                kind = Kind::Spop;
                let mut a = vec![self.name("spop"), self.key()];
                if self.rng.random_bool(0.6) {
                    a.push(self.count());
                }
                if self.rng.random_bool(0.03) {
                    a.push(b"1".to_vec());
                }
                a
            }
            43..=47 => {
                kind = Kind::Srandmember;
                let mut a = vec![self.name("srandmember"), self.key()];
                if self.rng.random_bool(0.7) {
                    a.push(self.count());
                }
                if self.rng.random_bool(0.03) {
                    a.push(b"1".to_vec());
                }
                a
            }
            48..=51 => vec![self.name("smove"), self.key(), self.key(), self.member()],
            52..=55 => {
                kind = Kind::Sorted;
                let mut a = vec![self.name("sinter")];
                a.extend(self.keys(1, 3));
                a
            }
            56..=59 => {
                kind = Kind::Sorted;
                let mut a = vec![self.name("sunion")];
                a.extend(self.keys(1, 3));
                a
            }
            60..=63 => {
                kind = Kind::Sorted;
                let mut a = vec![self.name("sdiff")];
                a.extend(self.keys(1, 3));
                a
            }
            64..=71 => {
                kind = Kind::Store;
                let op = *["sinterstore", "sunionstore", "sdiffstore"]
                    .choose(&mut self.rng)
                    .unwrap();
                let mut a = vec![self.name(op), self.key()];
                a.extend(self.keys(1, 3));
                a
            }
            72..=76 => {
                let mut a = vec![self.name("sintercard")];
                let n = self.rng.random_range(1..=3);
                let numkeys = match self.rng.random_range(0..12) {
                    0 => b("0"),
                    1 => b("-1"),
                    2 => b("abc"),
                    3 => (n + 2).to_string().into_bytes(),
                    4 => b("9223372036854775807"),
                    _ => n.to_string().into_bytes(),
                };
                a.push(numkeys);
                a.extend(self.keys(n, n));
                match self.rng.random_range(0..10) {
                    0..=3 => {}
                    4..=6 => {
                        a.push(self.name("limit"));
                        a.push(self.rng.random_range(0..5).to_string().into_bytes());
                    }
                    7 => {
                        a.push(self.name("limit"));
                        a.push(b(["-1", "abc", "", "1.5"].choose(&mut self.rng).unwrap()));
                    }
                    8 => a.push(self.name("limit")),
                    _ => {
                        a.push(b("foo"));
                        a.push(b("1"));
                    }
                }
                a
            }
            77..=82 => {
                kind = Kind::Sscan;
                let cursor = match self.rng.random_range(0..10) {
                    0 => b(["abc", "-1", " 1", "18446744073709551616", ""]
                        .choose(&mut self.rng)
                        .unwrap()),
                    _ => b("0"),
                };
                let mut a = vec![self.name("sscan"), self.key(), cursor];
                match self.rng.random_range(0..10) {
                    0..=4 => {}
                    5 => {
                        a.push(self.name("count"));
                        a.push(b(["0", "-1", "abc", "3", "1000"]
                            .choose(&mut self.rng)
                            .unwrap()));
                    }
                    6..=7 => {
                        a.push(self.name("match"));
                        a.push(b(["*", "1*", "m1?", "[a-c]", "*\x00*"]
                            .choose(&mut self.rng)
                            .unwrap()));
                    }
                    8 => {
                        a.push(self.name("count"));
                        a.push(b("5"));
                        a.push(self.name("match"));
                        a.push(b("*1*"));
                    }
                    _ => {
                        let opt = *["count", "match", "type", "foo"]
                            .choose(&mut self.rng)
                            .unwrap();
                        a.push(self.name(opt));
                    }
                }
                a
            }
            83..=86 => vec![b("SET"), self.key(), b("v")],
            87..=89 => vec![b("DEL"), self.key()],
            90..=91 => vec![b("TYPE"), self.key()],
            _ => {
                // Wrong arity.
                let (name, n) = *[
                    ("sadd", 2),
                    ("srem", 2),
                    ("sismember", 2),
                    ("sismember", 4),
                    ("smismember", 2),
                    ("smembers", 1),
                    ("smembers", 3),
                    ("scard", 3),
                    ("spop", 1),
                    ("srandmember", 1),
                    ("smove", 3),
                    ("smove", 5),
                    ("sinter", 1),
                    ("sintercard", 2),
                    ("sinterstore", 2),
                    ("sunion", 1),
                    ("sunionstore", 2),
                    ("sdiff", 1),
                    ("sdiffstore", 2),
                    ("sscan", 2),
                ]
                .choose(&mut self.rng)
                .unwrap();
                let mut a = vec![self.name(name)];
                for _ in 1..n {
                    a.push(self.key());
                }
                a
            }
        };
        (args, kind)
    }
}

fn sorted(r: &Reply) -> Option<Vec<String>> {
    match r {
        Reply::Array(items) | Reply::Set(items) => {
            let mut v: Vec<String> = items.iter().map(|i| i.to_string()).collect();
            v.sort();
            Some(v)
        }
        _ => None,
    }
}

fn bulks(r: &Reply) -> Option<Vec<Vec<u8>>> {
    match r {
        Reply::Array(items) | Reply::Set(items) => items
            .iter()
            .map(|i| i.as_bytes().map(<[u8]>::to_vec))
            .collect(),
        _ => None,
    }
}

/// The members of a set on redis-server (empty for a missing key or another type).
fn set_of(conn: &mut redis::Connection, key: &[u8]) -> BTreeSet<Vec<u8>> {
    match raw(conn, &[&b"SMEMBERS"[..], key]) {
        r @ Reply::Array(_) => bulks(&r).unwrap_or_default().into_iter().collect(),
        _ => BTreeSet::new(),
    }
}

/// Checks Basalt's SPOP/SRANDMEMBER/SSCAN reply against the set's members; an error message
/// or None.
fn check_random(
    kind: Kind,
    args: &[Vec<u8>],
    set: &BTreeSet<Vec<u8>>,
    reply: &Reply,
) -> Result<Vec<Vec<u8>>, String> {
    let count: Option<i64> = args
        .get(2)
        .and_then(|c| std::str::from_utf8(c).ok())
        .and_then(|c| c.parse().ok());
    if kind == Kind::Sscan {
        let Reply::Array(parts) = reply else {
            return Err("SSCAN reply is not an array".into());
        };
        let Some(members) = parts.get(1).and_then(bulks) else {
            return Err("SSCAN reply has no member list".into());
        };
        if let Some(m) = members.iter().find(|m| !set.contains(*m)) {
            return Err(format!("SSCAN returned a non-member {m:?}"));
        }
        return Ok(Vec::new());
    }
    if args.len() == 2 {
        return match reply {
            Reply::Nil if set.is_empty() => Ok(Vec::new()),
            Reply::Bulk(m) if set.contains(m) => Ok(vec![m.clone()]),
            other => Err(format!("unexpected single pick {other}")),
        };
    }
    let Some(count) = count else {
        return Err("non-error reply to an unparsable count".into());
    };
    let Some(got) = bulks(reply) else {
        return Err("expected a list of members".into());
    };
    if let Some(m) = got.iter().find(|m| !set.contains(*m)) {
        return Err(format!("returned a non-member {m:?}"));
    }
    let n = set.len() as u64;
    let distinct: BTreeSet<&Vec<u8>> = got.iter().collect();
    let expected = if count >= 0 {
        if distinct.len() != got.len() {
            return Err("repeated members for a positive count".into());
        }
        (count as u64).min(n)
    } else if n == 0 {
        0
    } else {
        count.unsigned_abs()
    };
    if got.len() as u64 != expected {
        return Err(format!("{} members, expected {expected}", got.len()));
    }
    Ok(got)
}

struct Outcome {
    compared: usize,
    mismatches: Vec<String>,
}

fn run_seed(seed: u64, n: usize) -> Option<Outcome> {
    let redis_srv = RedisServer::start()?;
    let basalt = Server::start();
    let mut rc = redis_srv.client();
    let mut bc = basalt.client();
    let mut gen = Gen {
        rng: StdRng::seed_from_u64(seed),
    };
    let trace = std::env::var("BASALT_DIFF_TRACE").is_ok_and(|v| v == "1");
    let mut history: VecDeque<String> = VecDeque::new();
    let mut mismatches = Vec::new();
    let mut compared = 0;
    for i in 0..n {
        let (args, kind) = gen.next();
        let text = escape_cmd(&args);
        if trace {
            eprintln!("> #{i} {text}");
        }
        let mut problem: Option<String> = None;
        let shown;
        match kind {
            Kind::Exact | Kind::Sorted | Kind::Store => {
                let ra = raw(&mut rc, &args);
                let rb = raw(&mut bc, &args);
                shown = ra.to_string();
                let same = match kind {
                    Kind::Sorted if !ra.is_error() => sorted(&ra) == sorted(&rb),
                    _ => ra == rb,
                };
                if !same || matches!(rb, Reply::Io(_)) {
                    problem = Some(format!("redis {ra}\n  basalt {rb}"));
                } else if kind == Kind::Store && !ra.is_error() {
                    let smembers = [&b"SMEMBERS"[..], &args[1]];
                    let (ra, rb) = (raw(&mut rc, &smembers), raw(&mut bc, &smembers));
                    if sorted(&ra) != sorted(&rb) {
                        problem = Some(format!("readback: redis {ra}\n  basalt {rb}"));
                    }
                }
            }
            Kind::Spop | Kind::Srandmember | Kind::Sscan => {
                let set = set_of(&mut rc, &args[1]);
                let rb = raw(&mut bc, &args);
                shown = format!("(basalt) {rb}");
                let huge_negative = kind == Kind::Srandmember
                    && args.len() == 3
                    && std::str::from_utf8(&args[2])
                        .ok()
                        .and_then(|c| c.parse::<i64>().ok())
                        .is_some_and(|c| c < -1_000_000 && c != i64::MIN);
                if matches!(rb, Reply::Io(_)) {
                    problem = Some(format!("basalt {rb}"));
                } else if huge_negative {
                    // Redis 7.0.15 hangs or dies building such a reply; Basalt refuses it.
                    let ty = raw(&mut rc, &[&b"TYPE"[..], &args[1]]);
                    let want = match ty {
                        Reply::Simple(t) if t == "set" => {
                            Reply::Error("ERR value is out of range".into())
                        }
                        Reply::Simple(t) if t == "none" => Reply::Array(vec![]),
                        _ => Reply::Error(
                            "WRONGTYPE Operation against a key holding the wrong kind of value"
                                .into(),
                        ),
                    };
                    if rb != want {
                        problem =
                            Some(format!("huge negative count: basalt {rb}, expected {want}"));
                    }
                } else if kind != Kind::Spop || rb.is_error() {
                    // Read-only (or a rejected SPOP): redis may run it too.
                    let ra = raw(&mut rc, &args);
                    let intset = kind == Kind::Sscan
                        && raw(&mut rc, &[&b"OBJECT"[..], b"ENCODING", &args[1]])
                            == Reply::bulk("intset");
                    if ra.is_error() || rb.is_error() || (kind == Kind::Sscan && intset) {
                        let same = if kind == Kind::Sscan && !ra.is_error() {
                            match (&ra, &rb) {
                                (Reply::Array(a), Reply::Array(b))
                                    if a.len() == 2 && b.len() == 2 =>
                                {
                                    a[0] == b[0] && sorted(&a[1]) == sorted(&b[1])
                                }
                                _ => false,
                            }
                        } else {
                            ra == rb
                        };
                        if !same {
                            problem = Some(format!("redis {ra}\n  basalt {rb}"));
                        }
                    } else if let Err(e) = check_random(kind, &args, &set, &rb) {
                        problem = Some(format!("{e}: basalt {rb}, set {set:?}"));
                    }
                } else {
                    match check_random(kind, &args, &set, &rb) {
                        Err(e) => problem = Some(format!("{e}: basalt {rb}, set {set:?}")),
                        Ok(popped) if !popped.is_empty() => {
                            let mut srem = vec![b"SREM".to_vec(), args[1].clone()];
                            srem.extend(popped);
                            let r = raw(&mut rc, &srem);
                            assert!(!r.is_error(), "replaying SPOP on redis: {r}");
                        }
                        Ok(_) => {}
                    }
                    let card = [&b"SCARD"[..], &args[1]];
                    let (ra, rb) = (raw(&mut rc, &card), raw(&mut bc, &card));
                    if problem.is_none() && ra != rb {
                        problem = Some(format!("SCARD after SPOP: redis {ra} basalt {rb}"));
                    }
                }
            }
        }
        compared += 1;
        if trace {
            eprintln!("#{i} {text} -> {shown}");
        }
        if let Some(p) = problem {
            let mut msg = format!(
                "sets differential mismatch: seed={seed} #{i}\n  command: {text}\n  {p}\n  before:\n"
            );
            for h in &history {
                msg.push_str(&format!("    {h}\n"));
            }
            mismatches.push(msg);
            break;
        }
        history.push_back(format!("#{i} {text} -> {shown}"));
        if history.len() > 15 {
            history.pop_front();
        }
    }
    // Final state: every key's type and members agree.
    for k in KEYS {
        let t = [&b"TYPE"[..], k];
        let (ra, rb) = (raw(&mut rc, &t), raw(&mut bc, &t));
        let (sa, sb) = (set_of(&mut rc, k), set_of(&mut bc, k));
        compared += 2;
        if ra != rb || sa != sb {
            mismatches.push(format!(
                "final state of {k:?}: redis {ra} {sa:?}\n  basalt {rb} {sb:?}"
            ));
        }
    }
    // Full SSCAN iterations over the big sets cover every member.
    for k in KEYS {
        if set_of(&mut bc, k).len() <= 20 {
            continue;
        }
        let want = set_of(&mut bc, k);
        let mut got = BTreeSet::new();
        let mut cursor = b"0".to_vec();
        for _ in 0..10_000 {
            let r = raw(&mut bc, &[&b"SSCAN"[..], k, &cursor, b"COUNT", b"7"]);
            let Reply::Array(parts) = r else {
                panic!("SSCAN reply {r}");
            };
            got.extend(bulks(&parts[1]).unwrap());
            cursor = parts[0].as_bytes().unwrap().to_vec();
            if cursor == b"0" {
                break;
            }
        }
        compared += 1;
        if got != want {
            mismatches.push(format!("full SSCAN of {k:?} missed members"));
        }
    }
    Some(Outcome {
        compared,
        mismatches,
    })
}

#[test]
fn differential_sets() {
    if !redis_server_available() {
        notice("SKIPPED: redis-server not installed (differential_sets)");
        return;
    }
    let seeds: Vec<u64> = std::env::var("BASALT_DIFF_SEEDS")
        .ok()
        .map(|v| v.split(',').map(|s| s.trim().parse().unwrap()).collect())
        .unwrap_or_else(|| vec![101, 102]);
    let n: usize = std::env::var("BASALT_DIFF_COMMANDS")
        .ok()
        .map(|v| v.parse().unwrap())
        .unwrap_or(10_000);
    let mut total = 0;
    let mut all = Vec::new();
    for &seed in &seeds {
        let Some(out) = run_seed(seed, n) else {
            return;
        };
        total += out.compared;
        all.extend(out.mismatches);
    }
    notice(&format!(
        "differential sets: {total} commands compared, {} mismatches",
        all.len()
    ));
    assert!(all.is_empty(), "{}", all.join("\n"));
}

/// Error cases and edge behaviour, with Redis 7.0.15's exact replies.
#[test]
fn set_errors_and_edges() {
    let srv = Server::start();
    let mut c = srv.client();
    let q = |c: &mut redis::Connection, a: &[&str]| raw(c, a);
    let err = |s: &str| Reply::Error(s.to_string());
    let wrongtype = err("WRONGTYPE Operation against a key holding the wrong kind of value");
    assert_eq!(
        q(&mut c, &["SADD", "s", "a", "b", "c", "1", "a"]),
        Reply::Int(4)
    );
    assert_eq!(q(&mut c, &["SET", "str", "x"]), Reply::ok());
    let cases: &[(&[&str], Reply)] = &[
        (&["SADD", "str", "a"], wrongtype.clone()),
        (&["SREM", "str", "a"], wrongtype.clone()),
        (&["SCARD", "str"], wrongtype.clone()),
        (&["SMISMEMBER", "str", "a"], wrongtype.clone()),
        (&["SPOP", "s", "-1"], err("ERR value is out of range, must be positive")),
        (&["SPOP", "s", "abc"], err("ERR value is out of range, must be positive")),
        (&["SPOP", "str", "-1"], err("ERR value is out of range, must be positive")),
        (&["SPOP", "str", "0"], wrongtype.clone()),
        (&["SPOP", "s", "1", "2"], err("ERR syntax error")),
        (&["SPOP", "nokey", "3"], Reply::Array(vec![])),
        (&["SPOP", "nokey"], Reply::Nil),
        (&["SPOP", "s", "0"], Reply::Array(vec![])),
        (&["SRANDMEMBER", "s", "abc"], err("ERR value is not an integer or out of range")),
        (&["SRANDMEMBER", "str", "abc"], err("ERR value is not an integer or out of range")),
        (&["SRANDMEMBER", "str", "1"], wrongtype.clone()),
        (&["SRANDMEMBER", "s", "1", "2"], err("ERR syntax error")),
        (
            &["SRANDMEMBER", "s", "-9223372036854775808"],
            err("ERR value is out of range, value must between -9223372036854775807 and 9223372036854775807"),
        ),
        (&["SRANDMEMBER", "s", "-9223372036854775807"], err("ERR value is out of range")),
        (&["SRANDMEMBER", "nokey", "-9223372036854775807"], Reply::Array(vec![])),
        (&["SRANDMEMBER", "nokey"], Reply::Nil),
        (&["SRANDMEMBER", "s", "0"], Reply::Array(vec![])),
        (&["SINTERCARD", "0", "s"], err("ERR numkeys should be greater than 0")),
        (&["SINTERCARD", "-1", "s"], err("ERR numkeys should be greater than 0")),
        (&["SINTERCARD", "abc", "s"], err("ERR numkeys should be greater than 0")),
        (&["SINTERCARD", "2", "s"], err("ERR Number of keys can't be greater than number of args")),
        (
            &["SINTERCARD", "9223372036854775807", "s"],
            err("ERR Number of keys can't be greater than number of args"),
        ),
        (&["SINTERCARD", "1", "s", "LIMIT", "-1"], err("ERR LIMIT can't be negative")),
        (&["SINTERCARD", "1", "s", "LIMIT", "abc"], err("ERR LIMIT can't be negative")),
        (&["SINTERCARD", "1", "s", "LIMIT"], err("ERR syntax error")),
        (&["SINTERCARD", "1", "str", "foo"], err("ERR syntax error")),
        (&["SINTERCARD", "1", "s", "limit", "1", "LIMIT", "2"], Reply::Int(2)),
        (&["SINTERCARD", "1", "s", "LIMIT", "0"], Reply::Int(4)),
        (&["SINTERCARD", "2", "nokey", "str"], wrongtype.clone()),
        (&["SINTER", "nokey", "str"], wrongtype.clone()),
        (&["SUNION", "s", "str"], wrongtype.clone()),
        (&["SDIFF", "nokey", "str"], wrongtype.clone()),
        (&["SINTERSTORE", "d", "s", "str"], wrongtype.clone()),
        (&["SMOVE", "nokey", "str", "a"], Reply::Int(0)),
        (&["SMOVE", "s", "str", "a"], wrongtype.clone()),
        (&["SMOVE", "str", "s", "a"], wrongtype.clone()),
        (&["SMOVE", "s", "s", "zz"], Reply::Int(0)),
        (&["SMOVE", "s", "s", "a"], Reply::Int(1)),
        (&["SSCAN", "s", "abc"], err("ERR invalid cursor")),
        (&["SSCAN", "nokey", "abc"], err("ERR invalid cursor")),
        (&["SSCAN", "s", "18446744073709551616"], err("ERR invalid cursor")),
        (&["SSCAN", "s", "0", "COUNT", "0"], err("ERR syntax error")),
        (&["SSCAN", "s", "0", "COUNT", "abc"], err("ERR value is not an integer or out of range")),
        (&["SSCAN", "s", "0", "MATCH"], err("ERR syntax error")),
        (&["SSCAN", "s", "0", "TYPE", "set"], err("ERR syntax error")),
        (&["SSCAN", "str", "0", "COUNT", "0"], wrongtype.clone()),
        (
            &["SSCAN", "nokey", "0", "COUNT", "0"],
            Reply::Array(vec![Reply::bulk("0"), Reply::Array(vec![])]),
        ),
        (&["SADD", "s"], err("ERR wrong number of arguments for 'sadd' command")),
        (&["SINTERCARD", "1"], err("ERR wrong number of arguments for 'sintercard' command")),
        // *STORE overwrites any type; an empty result deletes the destination.
        (&["SUNIONSTORE", "str", "s"], Reply::Int(4)),
        (&["TYPE", "str"], Reply::Simple("set".into())),
        (&["SET", "str", "x"], Reply::ok()),
        (&["EXPIRE", "str", "100"], Reply::Int(1)),
        (&["SINTERSTORE", "str", "s", "nokey"], Reply::Int(0)),
        (&["EXISTS", "str"], Reply::Int(0)),
        (&["SET", "str", "x"], Reply::ok()),
        (&["EXPIRE", "str", "100"], Reply::Int(1)),
        (&["SDIFFSTORE", "str", "s"], Reply::Int(4)),
        (&["TTL", "str"], Reply::Int(-1)),
        (&["SDIFF", "s", "s"], Reply::Array(vec![])),
        (&["SREM", "s", "a", "b", "c", "1", "zz"], Reply::Int(4)),
        (&["EXISTS", "s"], Reply::Int(0)),
    ];
    for (args, want) in cases {
        let got = q(&mut c, args);
        assert_eq!(&got, want, "{args:?}");
    }
    // SPOP with a count at least the size returns everything and deletes the key.
    q(&mut c, &["SADD", "p", "1", "2", "3"]);
    let r = q(&mut c, &["SPOP", "p", "9223372036854775807"]);
    assert_eq!(
        sorted(&r),
        Some(vec!["\"1\"".into(), "\"2\"".into(), "\"3\"".into()])
    );
    assert_eq!(q(&mut c, &["EXISTS", "p"]), Reply::Int(0));
    // Random picks from a large set: counts and distinctness; negative counts repeat.
    let mut sadd = vec!["SADD".to_string(), "L".to_string()];
    sadd.extend((0..2000).map(|i| format!("user:{i}")));
    assert_eq!(raw(&mut c, &sadd), Reply::Int(2000));
    let r = q(&mut c, &["SRANDMEMBER", "L", "50"]);
    let got = bulks(&r).unwrap();
    assert_eq!(got.iter().collect::<BTreeSet<_>>().len(), 50);
    let r = q(&mut c, &["SRANDMEMBER", "L", "-3000"]);
    assert_eq!(bulks(&r).unwrap().len(), 3000);
    let mut seen = BTreeSet::new();
    for _ in 0..200 {
        seen.insert(
            q(&mut c, &["SRANDMEMBER", "L"])
                .as_bytes()
                .unwrap()
                .to_vec(),
        );
    }
    assert!(
        seen.len() > 50,
        "single picks are spread: {} distinct",
        seen.len()
    );
    let r = q(&mut c, &["SPOP", "L", "100"]);
    let popped = bulks(&r).unwrap();
    assert_eq!(popped.iter().collect::<BTreeSet<_>>().len(), 100);
    assert_eq!(q(&mut c, &["SCARD", "L"]), Reply::Int(1900));
    for m in &popped {
        assert_eq!(raw(&mut c, &[&b"SISMEMBER"[..], b"L", m]), Reply::Int(0));
    }
    assert_eq!(
        q(&mut c, &["SINTERCARD", "1", "L", "LIMIT", "10"]),
        Reply::Int(10)
    );
    assert_eq!(q(&mut c, &["SINTERCARD", "1", "L"]), Reply::Int(1900));
}
