//! Differential test for lists.
//!
//! Replays seeded random streams of every non-blocking list command on Basalt and on a real
//! redis-server and compares every reply exactly (lists are ordered, so nothing is random). The
//! streams mix in SET/HSET (wrong types), DEL, EXPIRE (long TTLs, and 0 which deletes), PERSIST,
//! TYPE, EXISTS and OBJECT ENCODING; bad arguments (non-integers, negative counts, unknown
//! words, wrong arity); negative and out-of-range indexes; LPOS options; LMOVE / RPOPLPUSH /
//! LMPOP between keys, including a key and itself. Two keys start each seed with thousands of
//! elements and get large pushes, so long lists see LINSERT, LREM, LTRIM and LSET in the middle.
//!
//! Even seeds run over RESP3, odd ones over RESP2. Commands go out in pipelines (one socket
//! write and one read pass per chunk on each server) so the run stays fast; the contents of
//! every key are compared at the end of each seed.
//!
//! Knobs: `BASALT_LDIFF_SEEDS=3,17` (default 1..=4), `BASALT_LDIFF_COMMANDS=n` (default 10000
//! per seed), `BASALT_LDIFF_TRACE=1` (print every command and Redis's reply).

use rand::rngs::StdRng;
use rand::seq::IndexedRandom;
use rand::{Rng, SeedableRng};

use crate::harness::{escape_cmd, notice, pipeline, RedisServer, Reply, Server};

const KEYS: &[&[u8]] = &[
    b"l1", b"l2", b"l3", b"", b"l\x00", b"big1", b"big2", b"s", b"h",
];

/// Keys that start each seed with thousands of elements.
const BIG: &[(&[u8], usize)] = &[(b"big1", 3000), (b"big2", 1500)];

const ELEMS: &[&[u8]] = &[
    b"a",
    b"b",
    b"c",
    b"x",
    b"A",
    b"",
    b"\x00",
    b"a\x00b",
    b"\xff\xfe",
    b"1",
    b"-1",
    b"007",
    b"12345678901234567890",
    b"hello world",
];

/// Integer arguments: in range, negative, huge, and not integers at all.
const ODD_INTS: &[&str] = &[
    "9223372036854775807",
    "-9223372036854775808",
    "-9223372036854775807",
    "9223372036854775808",
    "x",
    "",
    "1.5",
    "-0",
    "+1",
    " 1",
    "007",
];

/// (command, arity) for wrong-arity commands.
const ARITY: &[(&str, i32)] = &[
    ("LPUSH", -3),
    ("RPUSH", -3),
    ("LPUSHX", -3),
    ("RPUSHX", -3),
    ("LPOP", -2),
    ("RPOP", -2),
    ("LLEN", 2),
    ("LINDEX", 3),
    ("LSET", 4),
    ("LRANGE", 4),
    ("LINSERT", 5),
    ("LREM", 4),
    ("LTRIM", 4),
    ("LPOS", -3),
    ("LMOVE", 5),
    ("RPOPLPUSH", 3),
    ("LMPOP", -4),
];

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

    /// A command name, sometimes in lower case.
    fn name(&mut self, n: &str) -> Vec<u8> {
        if self.pct(80) {
            b(n)
        } else {
            n.to_ascii_lowercase().into_bytes()
        }
    }

    /// A key: mostly one of the list keys, sometimes the string or hash key.
    fn key(&mut self) -> Vec<u8> {
        if self.pct(12) {
            KEYS.choose(&mut self.rng).unwrap().to_vec()
        } else {
            KEYS[..7].choose(&mut self.rng).unwrap().to_vec()
        }
    }

    fn is_big(key: &[u8]) -> bool {
        BIG.iter().any(|(k, _)| *k == key)
    }

    fn elem(&mut self) -> Vec<u8> {
        match self.rng.random_range(0..100) {
            0..=74 => ELEMS.choose(&mut self.rng).unwrap().to_vec(),
            75..=84 => format!("e{}", self.rng.random_range(0..50)).into_bytes(),
            85..=94 => format!("m{}", self.rng.random_range(0..12)).into_bytes(),
            _ => vec![b'v'; 60 + self.rng.random_range(0..10)],
        }
    }

    /// An index or range bound: mostly small (around the ends of short lists), sometimes
    /// around the middle and ends of the big lists, sometimes huge or not an integer.
    fn index(&mut self, big: bool) -> Vec<u8> {
        match self.rng.random_range(0..100) {
            0..=64 => self.rng.random_range(-8i64..8).to_string().into_bytes(),
            65..=84 if big => self
                .rng
                .random_range(-3500i64..3500)
                .to_string()
                .into_bytes(),
            65..=84 => self.rng.random_range(-20i64..20).to_string().into_bytes(),
            85..=94 => ["0", "-1", "1", "-2"]
                .choose(&mut self.rng)
                .unwrap()
                .as_bytes()
                .to_vec(),
            _ => b(ODD_INTS.choose(&mut self.rng).unwrap()),
        }
    }

    /// A count for LPOP/RPOP/LMPOP/LPOS COUNT.
    fn count(&mut self, big: bool) -> Vec<u8> {
        match self.rng.random_range(0..100) {
            0..=59 => self.rng.random_range(0i64..6).to_string().into_bytes(),
            60..=74 if big => self.rng.random_range(10i64..300).to_string().into_bytes(),
            60..=74 => self.rng.random_range(5i64..20).to_string().into_bytes(),
            75..=84 => self.rng.random_range(-3i64..0).to_string().into_bytes(),
            _ => b(ODD_INTS.choose(&mut self.rng).unwrap()),
        }
    }

    /// An LPOS COUNT / MAXLEN: usually valid (several options per command would otherwise
    /// mostly end in an error).
    fn option_count(&mut self, big: bool) -> Vec<u8> {
        if self.pct(85) {
            let max = if big { 3000 } else { 8 };
            self.rng.random_range(0..max).to_string().into_bytes()
        } else {
            self.count(big)
        }
    }

    fn end(&mut self) -> Vec<u8> {
        match self.rng.random_range(0..100) {
            0..=47 => self.name("LEFT"),
            48..=95 => self.name("RIGHT"),
            96..=97 => b("UP"),
            _ => b("lefty"),
        }
    }

    fn push(&mut self, name: &str, key: Vec<u8>) -> Vec<Vec<u8>> {
        let big = Self::is_big(&key) && self.pct(15);
        let mut args = vec![self.name(name), key];
        let n = if big {
            self.rng.random_range(100..400)
        } else {
            self.rng.random_range(1..5)
        };
        for _ in 0..n {
            args.push(self.elem());
        }
        args
    }

    fn next(&mut self) -> Vec<Vec<u8>> {
        let key = self.key();
        let big = Self::is_big(&key);
        match self.rng.random_range(0..200) {
            0..=19 => self.push("LPUSH", key),
            20..=39 => self.push("RPUSH", key),
            40..=43 => self.push("LPUSHX", key),
            44..=47 => self.push("RPUSHX", key),
            48..=61 => {
                let name = if self.pct(50) { "LPOP" } else { "RPOP" };
                let mut args = vec![self.name(name), key];
                if self.pct(60) {
                    args.push(self.count(big));
                    if self.pct(3) {
                        args.push(b("1"));
                    }
                }
                args
            }
            62..=67 => vec![self.name("LLEN"), key],
            68..=77 => vec![self.name("LINDEX"), key, self.index(big)],
            78..=85 => vec![self.name("LSET"), key, self.index(big), self.elem()],
            86..=99 => {
                // Full ranges of big lists are long replies: mostly slices of them.
                let (start, stop) = if big && self.pct(70) {
                    let s = self.rng.random_range(-3000i64..3000);
                    let e = s + self.rng.random_range(-5i64..40);
                    (s.to_string().into_bytes(), e.to_string().into_bytes())
                } else if self.pct(40) {
                    (b("0"), b("-1"))
                } else {
                    (self.index(big), self.index(big))
                };
                vec![self.name("LRANGE"), key, start, stop]
            }
            100..=111 => {
                let pos = match self.rng.random_range(0..20) {
                    0 => b("middle"),
                    1..=10 => self.name("BEFORE"),
                    _ => self.name("AFTER"),
                };
                vec![self.name("LINSERT"), key, pos, self.elem(), self.elem()]
            }
            112..=121 => {
                let count = match self.rng.random_range(0..10) {
                    0..=6 => self.rng.random_range(-3i64..4).to_string().into_bytes(),
                    _ => b(ODD_INTS.choose(&mut self.rng).unwrap()),
                };
                vec![self.name("LREM"), key, count, self.elem()]
            }
            122..=129 => {
                // Big lists keep most of their elements most of the time.
                let (start, stop) = if big && self.pct(80) {
                    let s = self.rng.random_range(0i64..5).to_string().into_bytes();
                    let e = (-self.rng.random_range(1i64..6)).to_string().into_bytes();
                    (s, e)
                } else {
                    (self.index(big), self.index(big))
                };
                vec![self.name("LTRIM"), key, start, stop]
            }
            130..=145 => {
                let mut args = vec![self.name("LPOS"), key, self.elem()];
                for _ in 0..self.rng.random_range(0..4) {
                    match self.rng.random_range(0..20) {
                        0..=5 => {
                            args.push(self.name("RANK"));
                            let r = match self.rng.random_range(0..10) {
                                0 => b("0"),
                                1 => b(ODD_INTS.choose(&mut self.rng).unwrap()),
                                _ => self.rng.random_range(-4i64..5).to_string().into_bytes(),
                            };
                            args.push(r);
                        }
                        6..=11 => {
                            args.push(self.name("COUNT"));
                            let c = self.option_count(big);
                            args.push(c);
                        }
                        12..=17 => {
                            args.push(self.name("MAXLEN"));
                            let m = self.option_count(big);
                            args.push(m);
                        }
                        18 => args.push(self.name("RANK")),
                        _ => args.push(b("BOGUS")),
                    }
                }
                args
            }
            146..=157 => {
                let dst = if self.pct(20) {
                    key.clone()
                } else {
                    self.key()
                };
                vec![self.name("LMOVE"), key, dst, self.end(), self.end()]
            }
            158..=161 => {
                let dst = if self.pct(20) {
                    key.clone()
                } else {
                    self.key()
                };
                vec![self.name("RPOPLPUSH"), key, dst]
            }
            162..=171 => {
                let n = self.rng.random_range(1..4);
                let mut args = vec![self.name("LMPOP")];
                let numkeys = match self.rng.random_range(0..20) {
                    0 => b("0"),
                    1 => b("-1"),
                    2 => b("x"),
                    3 => (n + 1).to_string().into_bytes(),
                    4 => b("9223372036854775807"),
                    _ => n.to_string().into_bytes(),
                };
                args.push(numkeys);
                args.push(key);
                for _ in 1..n {
                    args.push(self.key());
                }
                args.push(self.end());
                if self.pct(50) {
                    args.push(self.name("COUNT"));
                    let c = self.count(big);
                    args.push(c);
                }
                if self.pct(4) {
                    let word = *["COUNT", "extra"].choose(&mut self.rng).unwrap();
                    args.push(self.name(word));
                }
                args
            }
            // Other types only on a few keys (and DEL turns them back into free keys), so most
            // commands find lists.
            172..=174 => {
                let k = [&b"s"[..], b"l3"].choose(&mut self.rng).unwrap().to_vec();
                vec![b("SET"), k, self.elem()]
            }
            175..=176 => {
                let k = [&b"h"[..], b"l3"].choose(&mut self.rng).unwrap().to_vec();
                // Short values only: a hash that Redis converted to a hashtable stays one, which
                // Basalt does not track (see types::hashes::encoding).
                let v = ELEMS.choose(&mut self.rng).unwrap().to_vec();
                vec![b("HSET"), k, b("f"), v]
            }
            177..=179 => {
                // The big keys are deleted rarely, so they stay big for most of a seed.
                if big && self.pct(90) {
                    vec![b("EXISTS"), key]
                } else {
                    vec![b("DEL"), key]
                }
            }
            180..=182 => {
                let t = match self.rng.random_range(0..10) {
                    0 if !big => b("0"),
                    _ => self
                        .rng
                        .random_range(100_000..10_000_000)
                        .to_string()
                        .into_bytes(),
                };
                vec![b("EXPIRE"), key, t]
            }
            183 => vec![b("PERSIST"), key],
            184..=186 => vec![b("TYPE"), key],
            187..=188 => vec![b("EXISTS"), key],
            189..=191 => vec![b("OBJECT"), b("ENCODING"), key],
            _ => {
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
                let mut args = vec![self.name(name)];
                while args.len() < n {
                    args.push(self.elem());
                }
                if args.len() > 1 {
                    args[1] = key;
                }
                args
            }
        }
    }
}

/// Commands that grow the big keys at the start of a seed.
fn setup() -> Vec<Vec<Vec<u8>>> {
    let mut cmds = vec![
        vec![b("SET"), b("s"), b("string")],
        vec![b("HSET"), b("h"), b("f"), b("v")],
    ];
    for &(key, n) in BIG {
        for chunk in (0..n).collect::<Vec<_>>().chunks(500) {
            let mut args = vec![b("RPUSH"), key.to_vec()];
            // Repeated values, so LREM / LPOS / LINSERT find matches all along the list.
            // Unique markers spread along the list, so LINSERT / LREM / LPOS also act in the
            // middle and near the tail of long lists.
            args.extend(chunk.iter().map(|i| match (i % 7, i % 250) {
                (_, 125) => format!("m{}", i / 250).into_bytes(),
                (0, _) => b("x"),
                (1, _) => b("a"),
                _ => format!("e{}", i % 50).into_bytes(),
            }));
            cmds.push(args);
        }
    }
    cmds
}

fn seeds() -> Vec<u64> {
    match std::env::var("BASALT_LDIFF_SEEDS") {
        Ok(v) => v.split(',').filter_map(|s| s.trim().parse().ok()).collect(),
        Err(_) => (1..=4).collect(),
    }
}

#[test]
fn differential_lists() {
    let Some(redis_srv) = RedisServer::start() else {
        return;
    };
    let basalt_srv = Server::start();
    let n: usize = std::env::var("BASALT_LDIFF_COMMANDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000);
    let trace = std::env::var("BASALT_LDIFF_TRACE").is_ok_and(|v| v == "1");
    let mut rc = redis_srv.client();
    let mut bc = basalt_srv.client();
    let mut compared = 0usize;
    let mut mismatches = Vec::new();
    const CHUNK: usize = 200;
    'seeds: for seed in seeds() {
        let flush = vec![vec![b("FLUSHALL")]];
        assert_eq!(pipeline(&mut rc, &flush), [Reply::ok()]);
        assert_eq!(pipeline(&mut bc, &flush), [Reply::ok()]);
        // Even seeds speak RESP3 (nil arrays and nils are `_` there), odd ones RESP2. The HELLO
        // replies name the server, so they are not compared.
        let hello = vec![vec![b("HELLO"), b(if seed % 2 == 0 { "3" } else { "2" })]];
        for r in [pipeline(&mut rc, &hello), pipeline(&mut bc, &hello)] {
            assert!(
                matches!(r[0], Reply::Map(_) | Reply::Array(_)),
                "HELLO: {}",
                r[0]
            );
        }
        let mut gen = Gen {
            rng: StdRng::seed_from_u64(seed),
        };
        let mut stream = setup();
        stream.extend((0..n).map(|_| gen.next()));
        for (c, cmds) in stream.chunks(CHUNK).enumerate() {
            let ra = pipeline(&mut rc, cmds);
            let rb = pipeline(&mut bc, cmds);
            for (i, (args, (a, bb))) in cmds.iter().zip(ra.iter().zip(&rb)).enumerate() {
                if trace {
                    eprintln!("#{seed}/{} {} -> {a}", c * CHUNK + i, escape_cmd(args));
                }
                compared += 1;
                if a != bb {
                    mismatches.push(format!(
                        "seed {seed} #{}: {}\n  redis:  {a}\n  basalt: {bb}",
                        c * CHUNK + i,
                        escape_cmd(args)
                    ));
                    if mismatches.len() >= 10 {
                        break 'seeds;
                    }
                }
            }
        }
        // The final contents of every key must agree too.
        let finals: Vec<Vec<Vec<u8>>> = KEYS
            .iter()
            .flat_map(|k| {
                [
                    vec![b("TYPE"), k.to_vec()],
                    vec![b("LRANGE"), k.to_vec(), b("0"), b("-1")],
                ]
            })
            .collect();
        let (fa, fb) = (pipeline(&mut rc, &finals), pipeline(&mut bc, &finals));
        for (args, (a, bb)) in finals.iter().zip(fa.iter().zip(&fb)) {
            compared += 1;
            if a != bb {
                mismatches.push(format!(
                    "seed {seed} final {}: redis {a} basalt {bb}",
                    escape_cmd(args)
                ));
            }
        }
    }
    notice(&format!(
        "differential lists: {compared} commands compared, {} mismatches",
        mismatches.len()
    ));
    assert!(mismatches.is_empty(), "{}", mismatches.join("\n"));
}
