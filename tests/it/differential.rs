//! Differential testing against a real redis-server (Redis 7 semantics).
//!
//! A seeded generator produces random commands over STRINGS, KEYS and EXPIRY on a small key
//! space; each command is sent to a fresh redis-server and a fresh Basalt in lockstep, and the
//! replies must be identical (TTL-like replies within a tolerance, KEYS as sorted sets).
//!
//! Knobs (environment variables), mainly to reproduce a failure:
//! - `BASALT_DIFF_SEEDS=3,17`      seeds to run (default 1..=10)
//! - `BASALT_DIFF_COMMANDS=4000`   commands per seed (default 5000, max 9000)
//! - `BASALT_DIFF_KEEP_GOING=1`    report every mismatch and fail at the end instead of at the
//!   first one (later mismatches may be consequences of earlier ones)
//! - `BASALT_DIFF_TRACE=1`         print every command with redis's reply to stderr
//! - `BASALT_DIFF_SELFTEST=1`      compare redis-server with a second redis-server instead of
//!   Basalt (checks that the generator is free of nondeterminism)
//! - `BASALT_DIFF_WRONGTYPE=0|1`   force the wrong-type part off/on (default: on only if Basalt
//!   answers RPUSH/SADD/HSET with something other than "ERR unknown command")
//!
//! Halfway through each seed Basalt is restarted on its data directory (kill -9 for even
//! seeds, SIGTERM for odd ones) while redis-server keeps running, so persistence of everything
//! acknowledged (values, TTLs, db 1) is compared too.
//!
//! Expiry design: nothing may expire during a run, and NX/XX/GT/LT comparisons must not depend
//! on which millisecond a command ran in. Relative TTLs at command #i are `k*10000 + i` seconds
//! (`k` in 1..=9; ms variants add 0..999 ms), so a later relative TTL in the same band is always
//! strictly later. Absolute EXAT/PXAT times are `now0 + k*10000 + 7000..9999` seconds with `now0`
//! taken once per seed, a separate band above every relative one. Past times are only used where
//! Redis deletes the key at once (EXPIRE/PEXPIRE with <= 0, EXPIREAT/PEXPIREAT and GETEX
//! EXAT/PXAT in the past), never for SET, which would leave a logically expired key that DBSIZE
//! still counts until Redis's active expiry happens to reclaim it.

use std::collections::{BTreeSet, VecDeque};
use std::time::{SystemTime, UNIX_EPOCH};

use rand::rngs::StdRng;
use rand::seq::IndexedRandom;
use rand::{Rng, SeedableRng};

use crate::harness::{escape, escape_cmd, raw, RedisServer, Reply, Server};

/// The key space: small so commands collide. Includes the empty key, a NUL byte, non-UTF-8,
/// 0xff bytes (range-scan upper bounds), keys that are prefixes of other keys ("k" of
/// "k\0nul", "key" of "key:1"), and a 300-byte key.
const KEYS: &[&[u8]] = &[
    b"a",
    b"b",
    b"num",
    b"key",
    b"key:1",
    b"key:2",
    b"k",
    b"k\x00nul",
    b"\xff\xfe\x80",
    b"\xff",
    b"",
    b"sp ace",
    b"x",
    LONG_KEY,
];

const LONG_KEY: &[u8] = &LONG_KEY_BYTES;
const LONG_KEY_BYTES: [u8; 300] = {
    let mut k = [b'L'; 300];
    k[299] = b'!';
    k
};

/// Keys that are plain printable ASCII (used where Redis echoes arguments in error text).
const ASCII_KEYS: &[&str] = &["a", "b", "num", "key", "key:1", "key:2", "k", "x", "sp ace"];

const BAD_INTS: &[&str] = &[
    "abc",
    "1.5",
    "99999999999999999999",
    "-0",
    " 1",
    "1 ",
    "+1",
    "",
    "0x10",
    "1e3",
    "-",
    "9223372036854775808",
    "-9223372036854775809",
];

const EDGE_INTS: &[&str] = &[
    "0",
    "1",
    "-1",
    "007",
    "9223372036854775807",
    "-9223372036854775808",
    "9223372036854775806",
    "-9223372036854775807",
    "4611686018427387904",
];

const FLOATS: &[&str] = &[
    "1",
    "1.5",
    "-0.5",
    "0.1",
    "0.2",
    "3.0e3",
    "1e-5",
    "-1e2",
    "10.50",
    "0x10",
    "5e400",
    "1e4933",
    "inf",
    "-inf",
    "nan",
    "abc",
    "",
    " 1",
    "1 ",
    "1.7976931348623157e308",
    "-0",
    "0.0001",
    "17",
    "2.5e-3",
    "1e17",
    "123456789.123456789",
];

/// Expiry values that are invalid for SET/SETEX/GETEX (and some for EXPIRE as well).
const BAD_EXPIRES: &[&str] = &[
    "0",
    "-1",
    "abc",
    "1.5",
    "",
    "9223372036854775807",
    "9223372036854775",
    "-9223372036854775808",
    "99999999999999999999",
];

const UNKNOWN_CMDS: &[&str] = &[
    "FOO", "GETT", "SETX", "xyzzy", "Mget2", "INCRBYX", "expir", "lcss",
];

const KEYS_PATTERNS: &[&[u8]] = &[
    b"*", b"k*", b"*e*", b"?", b"key:?", b"[a-c]", b"[^a]", b"a*", b"*:*", b"", b"k\x00*", b"\\x",
    b"*[0-9]", b"??", b"[abc",
];

/// (command, Redis arity) for the wrong-arity generator.
const ARITY: &[(&str, i32)] = &[
    ("GET", 2),
    ("SET", -3),
    ("SETNX", 3),
    ("SETEX", 4),
    ("PSETEX", 4),
    ("GETSET", 3),
    ("GETDEL", 2),
    ("GETEX", -2),
    ("MGET", -2),
    ("MSET", -3),
    ("MSETNX", -3),
    ("APPEND", 3),
    ("STRLEN", 2),
    ("GETRANGE", 4),
    ("SUBSTR", 4),
    ("SETRANGE", 4),
    ("INCR", 2),
    ("DECR", 2),
    ("INCRBY", 3),
    ("DECRBY", 3),
    ("INCRBYFLOAT", 3),
    ("LCS", -3),
    ("DEL", -2),
    ("UNLINK", -2),
    ("EXISTS", -2),
    ("TYPE", 2),
    ("RENAME", 3),
    ("RENAMENX", 3),
    ("COPY", -3),
    ("MOVE", 3),
    ("EXPIRE", -3),
    ("PEXPIRE", -3),
    ("EXPIREAT", -3),
    ("PEXPIREAT", -3),
    ("TTL", 2),
    ("PTTL", 2),
    ("EXPIRETIME", 2),
    ("PEXPIRETIME", 2),
    ("PERSIST", 2),
    ("TOUCH", -2),
    ("DBSIZE", 1),
    ("KEYS", 2),
];

/// How two replies are compared.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Cmp {
    Exact,
    /// Non-negative integers may differ by up to this much (TTL, PTTL, EXPIRETIME...).
    Tolerance(i64),
    /// Arrays compared as sorted multisets (KEYS).
    Sorted,
}

pub struct GenCmd {
    pub args: Vec<Vec<u8>>,
    pub cmp: Cmp,
}

pub struct Gen {
    rng: StdRng,
    /// Index of the next command (unique per seed; used to order relative TTLs).
    idx: u64,
    /// Unix seconds, taken once; base of every absolute time.
    now0: i64,
    /// Collection commands usable to create wrong-type keys (subset of RPUSH, SADD, HSET).
    collections: Vec<&'static str>,
}

fn b(s: &str) -> Vec<u8> {
    s.as_bytes().to_vec()
}

impl Gen {
    pub fn new(seed: u64, now0: i64, collections: Vec<&'static str>) -> Gen {
        Gen {
            rng: StdRng::seed_from_u64(seed),
            idx: 0,
            now0,
            collections,
        }
    }

    fn pct(&mut self, p: u32) -> bool {
        self.rng.random_range(0..100) < p
    }

    /// Command/option name in random letter case (mostly upper).
    fn name(&mut self, n: &str) -> Vec<u8> {
        match self.rng.random_range(0..10) {
            0..=6 => n.to_ascii_uppercase().into_bytes(),
            7..=8 => n.to_ascii_lowercase().into_bytes(),
            _ => n
                .chars()
                .map(|c| {
                    if self.rng.random_bool(0.5) {
                        c.to_ascii_uppercase()
                    } else {
                        c.to_ascii_lowercase()
                    }
                })
                .collect::<String>()
                .into_bytes(),
        }
    }

    fn key(&mut self) -> Vec<u8> {
        KEYS.choose(&mut self.rng).unwrap().to_vec()
    }

    fn keys(&mut self, min: usize, max: usize) -> Vec<Vec<u8>> {
        let n = self.rng.random_range(min..=max);
        (0..n).map(|_| self.key()).collect()
    }

    fn word(&mut self, min: usize, max: usize) -> Vec<u8> {
        let n = self.rng.random_range(min..=max);
        (0..n)
            .map(|_| {
                *b"abcdefghijklmnopqrstuvwxyz0123456789"
                    .choose(&mut self.rng)
                    .unwrap()
            })
            .collect()
    }

    /// A random value: numbers (valid and edge), text, empty, binary with NUL bytes.
    fn value(&mut self) -> Vec<u8> {
        match self.rng.random_range(0..100) {
            0..=24 => self
                .rng
                .random_range(-100i64..=100)
                .to_string()
                .into_bytes(),
            25..=31 => b(EDGE_INTS.choose(&mut self.rng).unwrap()),
            32..=37 => b(BAD_INTS.choose(&mut self.rng).unwrap()),
            38..=43 => b(FLOATS.choose(&mut self.rng).unwrap()),
            44..=51 => Vec::new(),
            52..=64 => {
                let n = self.rng.random_range(0..=12);
                let mut v: Vec<u8> = (0..n).map(|_| self.rng.random()).collect();
                if !v.is_empty() {
                    let i = self.rng.random_range(0..v.len());
                    v[i] = 0;
                }
                v
            }
            65..=79 => self.word(1, 20),
            80..=94 => self.abc_word(1, 16),
            95..=98 => self.word(50, 200),
            _ => {
                // Large (crosses typical block/buffer sizes).
                let n = self.rng.random_range(4000..70_000);
                let c = *b"xyz".choose(&mut self.rng).unwrap();
                vec![c; n]
            }
        }
    }

    /// Small value for APPEND (keeps strings short so LCS stays cheap).
    fn small_value(&mut self) -> Vec<u8> {
        match self.rng.random_range(0..10) {
            0 => Vec::new(),
            1 => b"\x00\r\n".to_vec(),
            2..=3 => self.rng.random_range(0..100).to_string().into_bytes(),
            4..=6 => self.abc_word(1, 6),
            _ => self.word(1, 8),
        }
    }

    /// A word over a 3-letter alphabet: strings that share long subsequences (for LCS).
    fn abc_word(&mut self, min: usize, max: usize) -> Vec<u8> {
        let n = self.rng.random_range(min..=max);
        (0..n)
            .map(|_| *b"abc".choose(&mut self.rng).unwrap())
            .collect()
    }

    fn int_arg(&mut self, lo: i64, hi: i64) -> Vec<u8> {
        match self.rng.random_range(0..100) {
            0..=79 => self.rng.random_range(lo..=hi).to_string().into_bytes(),
            80..=89 => b(EDGE_INTS.choose(&mut self.rng).unwrap()),
            _ => b(BAD_INTS.choose(&mut self.rng).unwrap()),
        }
    }

    fn offset_arg(&mut self) -> Vec<u8> {
        match self.rng.random_range(0..100) {
            0..=69 => self.rng.random_range(0..40).to_string().into_bytes(),
            70..=79 => self.rng.random_range(-40..0).to_string().into_bytes(),
            80..=84 => self.rng.random_range(40..300).to_string().into_bytes(),
            85..=91 => b(EDGE_INTS.choose(&mut self.rng).unwrap()),
            _ => b(BAD_INTS.choose(&mut self.rng).unwrap()),
        }
    }

    // ---- expiry values (see the module docs for why they look like this) ----

    fn band(&mut self) -> i64 {
        self.rng.random_range(1..=9)
    }

    fn rel_s(&mut self) -> i64 {
        self.band() * 10_000 + self.idx as i64
    }

    fn rel_ms(&mut self) -> i64 {
        self.rel_s() * 1000 + self.rng.random_range(0..1000)
    }

    fn abs_s(&mut self) -> i64 {
        self.now0 + self.band() * 10_000 + self.rng.random_range(7000..10_000)
    }

    fn abs_ms(&mut self) -> i64 {
        self.abs_s() * 1000 + self.rng.random_range(0..1000)
    }

    /// Argument for an expiry option of SET/GETEX/SETEX: mostly valid, sometimes invalid.
    /// `unit`: 0 = EX (rel s), 1 = PX (rel ms), 2 = EXAT, 3 = PXAT.
    fn expire_arg(&mut self, unit: u8) -> Vec<u8> {
        if self.pct(12) {
            return b(BAD_EXPIRES.choose(&mut self.rng).unwrap());
        }
        let v = match unit {
            0 => self.rel_s(),
            1 => self.rel_ms(),
            2 => self.abs_s(),
            _ => self.abs_ms(),
        };
        v.to_string().into_bytes()
    }

    /// Argument for EXPIRE-family: valid future, past (deletes the key) or invalid.
    fn expire_family_arg(&mut self, ms: bool, at: bool) -> Vec<u8> {
        match self.rng.random_range(0..100) {
            0..=74 => {
                let v = match (ms, at) {
                    (false, false) => self.rel_s(),
                    (true, false) => self.rel_ms(),
                    (false, true) => self.abs_s(),
                    (true, true) => self.abs_ms(),
                };
                v.to_string().into_bytes()
            }
            75..=84 => {
                // In the past: the key is deleted immediately (deterministic).
                let v: i64 = match (at, self.rng.random_range(0..3)) {
                    (false, 0) => 0,
                    (false, 1) => -5,
                    (false, _) => -100_000,
                    (true, 0) => 0,
                    (true, 1) => 1,
                    (true, _) => {
                        let s = self.now0 - 50_000;
                        if ms {
                            s * 1000
                        } else {
                            s
                        }
                    }
                };
                v.to_string().into_bytes()
            }
            _ => b(BAD_EXPIRES.choose(&mut self.rng).unwrap()),
        }
    }

    // ---- command generators ----

    fn gen_set(&mut self) -> Vec<Vec<u8>> {
        let mut a = vec![self.name("SET"), self.key(), self.value()];
        if self.pct(65) {
            // Mostly valid combination, in random order.
            let mut opts: Vec<Vec<Vec<u8>>> = Vec::new();
            match self.rng.random_range(0..4) {
                0 => opts.push(vec![self.name("NX")]),
                1 => opts.push(vec![self.name("XX")]),
                _ => {}
            }
            if self.pct(30) {
                opts.push(vec![self.name("GET")]);
            }
            match self.rng.random_range(0..7) {
                0 => opts.push(vec![self.name("EX"), self.expire_arg(0)]),
                1 => opts.push(vec![self.name("PX"), self.expire_arg(1)]),
                2 => opts.push(vec![self.name("EXAT"), self.expire_arg(2)]),
                3 => opts.push(vec![self.name("PXAT"), self.expire_arg(3)]),
                4 => opts.push(vec![self.name("KEEPTTL")]),
                _ => {}
            }
            // shuffle
            for i in (1..opts.len()).rev() {
                let j = self.rng.random_range(0..=i);
                opts.swap(i, j);
            }
            for o in opts {
                a.extend(o);
            }
        } else {
            // Arbitrary (often conflicting or malformed) options.
            let n = self.rng.random_range(1..=3);
            for _ in 0..n {
                match self.rng.random_range(0..11) {
                    0 => a.push(self.name("NX")),
                    1 => a.push(self.name("XX")),
                    2 => a.push(self.name("GET")),
                    3 => a.push(self.name("KEEPTTL")),
                    4 => {
                        a.push(self.name("EX"));
                        a.push(self.expire_arg(0));
                    }
                    5 => {
                        a.push(self.name("PX"));
                        a.push(self.expire_arg(1));
                    }
                    6 => {
                        a.push(self.name("EXAT"));
                        a.push(self.expire_arg(2));
                    }
                    7 => {
                        a.push(self.name("PXAT"));
                        a.push(self.expire_arg(3));
                    }
                    8 => a.push(self.name("EX")), // missing argument if last
                    9 => a.push(b("FOO")),
                    _ => a.push(self.name("PERSIST")), // not a SET option
                }
            }
        }
        a
    }

    fn gen_getex(&mut self) -> Vec<Vec<u8>> {
        let mut a = vec![self.name("GETEX"), self.key()];
        if self.pct(5) {
            // Absolute time in the past: Redis 7 deletes the key at once (deterministic).
            let past = if self.pct(50) { 1 } else { self.now0 - 50_000 };
            if self.pct(50) {
                a.push(self.name("EXAT"));
                a.push(past.to_string().into_bytes());
            } else {
                a.push(self.name("PXAT"));
                a.push((past * 1000).to_string().into_bytes());
            }
            return a;
        }
        let n = if self.pct(80) {
            1
        } else {
            self.rng.random_range(0..=2)
        };
        for _ in 0..n {
            match self.rng.random_range(0..7) {
                0 => {
                    a.push(self.name("EX"));
                    a.push(self.expire_arg(0));
                }
                1 => {
                    a.push(self.name("PX"));
                    a.push(self.expire_arg(1));
                }
                2 => {
                    a.push(self.name("EXAT"));
                    a.push(self.expire_arg(2));
                }
                3 => {
                    a.push(self.name("PXAT"));
                    a.push(self.expire_arg(3));
                }
                4 | 5 => a.push(self.name("PERSIST")),
                _ => a.push(if self.pct(50) {
                    self.name("KEEPTTL")
                } else {
                    self.name("EX")
                }),
            }
        }
        a
    }

    fn gen_expire(&mut self, cmd: &str) -> Vec<Vec<u8>> {
        let ms = cmd.starts_with('P');
        let at = cmd.ends_with("AT");
        let mut a = vec![self.name(cmd), self.key(), self.expire_family_arg(ms, at)];
        let n = match self.rng.random_range(0..10) {
            0..=4 => 0,
            5..=8 => 1,
            _ => 2,
        };
        for _ in 0..n {
            let o = *["NX", "XX", "GT", "LT", "NX", "XX", "GT", "LT", "FOO"]
                .choose(&mut self.rng)
                .unwrap();
            a.push(self.name(o));
        }
        a
    }

    fn gen_lcs(&mut self) -> Vec<Vec<u8>> {
        let mut a = vec![self.name("LCS"), self.key(), self.key()];
        let n = self.rng.random_range(0..=3);
        for _ in 0..n {
            match self.rng.random_range(0..9) {
                0 | 1 => a.push(self.name("LEN")),
                2 | 3 => a.push(self.name("IDX")),
                4 | 5 => {
                    a.push(self.name("MINMATCHLEN"));
                    a.push(self.int_arg(0, 4));
                }
                6 | 7 => a.push(self.name("WITHMATCHLEN")),
                _ => a.push(if self.pct(50) {
                    b("FOO")
                } else {
                    self.name("MINMATCHLEN")
                }),
            }
        }
        a
    }

    fn gen_copy(&mut self) -> Vec<Vec<u8>> {
        let mut a = vec![self.name("COPY"), self.key(), self.key()];
        let n = self.rng.random_range(0..=2);
        for _ in 0..n {
            match self.rng.random_range(0..6) {
                0 | 1 => a.push(self.name("REPLACE")),
                2 | 3 => {
                    a.push(self.name("DB"));
                    let db = *["0", "1", "1", "2", "15", "16", "-1", "abc"]
                        .choose(&mut self.rng)
                        .unwrap();
                    a.push(b(db));
                }
                4 => a.push(self.name("DB")), // missing argument if last
                _ => a.push(b("FOO")),
            }
        }
        a
    }

    fn gen_wrong_arity(&mut self) -> Vec<Vec<u8>> {
        let &(name, arity) = ARITY.choose(&mut self.rng).unwrap();
        let argc = if arity > 0 {
            let n = arity as usize;
            loop {
                let c = self.rng.random_range(1..=n + 2);
                if c != n {
                    break c;
                }
            }
        } else {
            let min = (-arity) as usize;
            self.rng.random_range(1..min)
        };
        let mut a = vec![self.name(name)];
        for _ in 1..argc {
            a.push(self.key());
        }
        a
    }

    fn gen_unknown(&mut self) -> Vec<Vec<u8>> {
        let mut a = vec![b(UNKNOWN_CMDS.choose(&mut self.rng).unwrap())];
        let n = self.rng.random_range(0..=3);
        for _ in 0..n {
            match self.rng.random_range(0..10) {
                0 => a.push(self.word(130, 200)), // longer than the 128-char echo limit
                1 => a.push(b("two words")),
                2 => a.push(Vec::new()),
                _ => a.push(b(ASCII_KEYS.choose(&mut self.rng).unwrap())),
            }
        }
        a
    }

    fn gen_collection(&mut self) -> Vec<Vec<u8>> {
        let c = *self.collections.choose(&mut self.rng).unwrap();
        let mut a = vec![self.name(c), self.key()];
        let n = self.rng.random_range(1..=2);
        for _ in 0..n {
            a.push(self.word(1, 3));
            if c == "HSET" {
                a.push(self.small_value());
            }
        }
        a
    }

    /// Next command.
    pub fn next(&mut self) -> GenCmd {
        let mut cmp = Cmp::Exact;
        let weight_wrongtype = if self.collections.is_empty() { 0 } else { 3 };
        // Weighted choice over command kinds.
        let table: &[(u32, &str)] = &[
            (10, "SET"),
            (6, "GET"),
            (2, "SETNX"),
            (2, "SETEX"),
            (2, "PSETEX"),
            (2, "GETSET"),
            (2, "GETDEL"),
            (4, "GETEX"),
            (2, "MGET"),
            (2, "MSET"),
            (2, "MSETNX"),
            (3, "APPEND"),
            (2, "STRLEN"),
            (3, "GETRANGE"),
            (1, "SUBSTR"),
            (3, "SETRANGE"),
            (3, "INCR"),
            (2, "DECR"),
            (3, "INCRBY"),
            (2, "DECRBY"),
            (4, "INCRBYFLOAT"),
            (3, "LCS"),
            (3, "DEL"),
            (1, "UNLINK"),
            (3, "EXISTS"),
            (3, "TYPE"),
            (2, "RENAME"),
            (2, "RENAMENX"),
            (2, "COPY"),
            (1, "MOVE"),
            (1, "SELECT"),
            (3, "EXPIRE"),
            (2, "PEXPIRE"),
            (2, "EXPIREAT"),
            (2, "PEXPIREAT"),
            (3, "TTL"),
            (2, "PTTL"),
            (1, "EXPIRETIME"),
            (1, "PEXPIRETIME"),
            (2, "PERSIST"),
            (1, "TOUCH"),
            (1, "DBSIZE"),
            (1, "KEYS"),
            (2, "ARITY"),
            (1, "UNKNOWN"),
            (weight_wrongtype, "COLLECTION"),
        ];
        let total: u32 = table.iter().map(|t| t.0).sum();
        let mut r = self.rng.random_range(0..total);
        let mut kind = "GET";
        for &(w, k) in table {
            if r < w {
                kind = k;
                break;
            }
            r -= w;
        }
        let args = match kind {
            "SET" => self.gen_set(),
            "GET" | "GETDEL" | "STRLEN" | "INCR" | "DECR" | "TYPE" | "PERSIST" => {
                vec![self.name(kind), self.key()]
            }
            "TTL" | "PTTL" | "EXPIRETIME" | "PEXPIRETIME" => {
                cmp = Cmp::Tolerance(if kind.starts_with('P') { 2000 } else { 2 });
                vec![self.name(kind), self.key()]
            }
            "SETNX" | "GETSET" => vec![self.name(kind), self.key(), self.value()],
            "APPEND" => vec![self.name(kind), self.key(), self.small_value()],
            "SETEX" => {
                let t = self.expire_arg(0);
                vec![self.name(kind), self.key(), t, self.value()]
            }
            "PSETEX" => {
                let t = self.expire_arg(1);
                vec![self.name(kind), self.key(), t, self.value()]
            }
            "GETEX" => self.gen_getex(),
            "MGET" | "DEL" | "UNLINK" | "EXISTS" | "TOUCH" => {
                let mut a = vec![self.name(kind)];
                a.extend(self.keys(1, 4));
                a
            }
            "MSET" | "MSETNX" => {
                let mut a = vec![self.name(kind)];
                let n = self.rng.random_range(1..=3);
                for _ in 0..n {
                    a.push(self.key());
                    a.push(self.value());
                }
                if self.pct(5) {
                    a.pop(); // odd number of arguments
                }
                a
            }
            "GETRANGE" | "SUBSTR" => {
                let s = self.offset_arg();
                let e = self.offset_arg();
                vec![self.name(kind), self.key(), s, e]
            }
            "SETRANGE" => {
                let off = match self.rng.random_range(0..100) {
                    0..=79 => self.rng.random_range(0..50).to_string().into_bytes(),
                    80..=84 => self.rng.random_range(50..3000).to_string().into_bytes(),
                    85..=87 => b("-1"),
                    88..=91 => b(["536870912", "1099511627776", "9223372036854775807"]
                        .choose(&mut self.rng)
                        .unwrap()),
                    _ => b(BAD_INTS.choose(&mut self.rng).unwrap()),
                };
                let v = if self.pct(15) {
                    Vec::new()
                } else {
                    self.small_value()
                };
                vec![self.name(kind), self.key(), off, v]
            }
            "INCRBY" | "DECRBY" => {
                let n = self.int_arg(-1000, 1000);
                vec![self.name(kind), self.key(), n]
            }
            "INCRBYFLOAT" => {
                let f = match self.rng.random_range(0..10) {
                    0..=2 => {
                        let x: f64 = self.rng.random_range(-1000.0..1000.0);
                        format!("{:.*}", self.rng.random_range(0..6), x).into_bytes()
                    }
                    3 => {
                        let m: f64 = self.rng.random_range(-10.0..10.0);
                        let e = self.rng.random_range(-25..25);
                        format!("{m:.3}e{e}").into_bytes()
                    }
                    _ => b(FLOATS.choose(&mut self.rng).unwrap()),
                };
                vec![self.name(kind), self.key(), f]
            }
            "LCS" => self.gen_lcs(),
            "RENAME" | "RENAMENX" => vec![self.name(kind), self.key(), self.key()],
            "COPY" => self.gen_copy(),
            "MOVE" => {
                let db = *["1", "1", "2", "0", "16", "-1", "abc"]
                    .choose(&mut self.rng)
                    .unwrap();
                vec![self.name(kind), self.key(), b(db)]
            }
            "EXPIRE" | "PEXPIRE" | "EXPIREAT" | "PEXPIREAT" => self.gen_expire(kind),
            "DBSIZE" => vec![self.name(kind)],
            "SELECT" => {
                // Mostly 0 and 1, so data moved/copied to db 1 is read back and compared.
                let db = *["0", "0", "1", "1", "2", "16", "-1", "abc"]
                    .choose(&mut self.rng)
                    .unwrap();
                vec![self.name(kind), b(db)]
            }
            "KEYS" => {
                cmp = Cmp::Sorted;
                vec![
                    self.name(kind),
                    KEYS_PATTERNS.choose(&mut self.rng).unwrap().to_vec(),
                ]
            }
            "ARITY" => self.gen_wrong_arity(),
            "UNKNOWN" => self.gen_unknown(),
            "COLLECTION" => self.gen_collection(),
            other => unreachable!("{other}"),
        };
        self.idx += 1;
        GenCmd { args, cmp }
    }
}

/// Whether two replies are equivalent under `cmp`.
pub fn equivalent(cmp: Cmp, a: &Reply, b: &Reply) -> bool {
    match (cmp, a, b) {
        (Cmp::Tolerance(t), Reply::Int(x), Reply::Int(y)) if *x >= 0 && *y >= 0 => {
            (x - y).abs() <= t
        }
        (Cmp::Sorted, Reply::Array(x), Reply::Array(y)) => {
            let mut x: Vec<String> = x.iter().map(|r| r.to_string()).collect();
            let mut y: Vec<String> = y.iter().map(|r| r.to_string()).collect();
            x.sort();
            y.sort();
            x == y
        }
        _ => a == b,
    }
}

fn env_u64_list(name: &str) -> Option<Vec<u64>> {
    let v = std::env::var(name).ok()?;
    Some(
        v.split(',')
            .filter(|s| !s.trim().is_empty())
            .map(|s| {
                s.trim()
                    .parse()
                    .unwrap_or_else(|_| panic!("bad {name}: {v}"))
            })
            .collect(),
    )
}

/// Which of RPUSH/SADD/HSET Basalt implements (anything but "ERR unknown command").
fn probe_collections(basalt: &mut redis::Connection) -> Vec<&'static str> {
    if let Ok(v) = std::env::var("BASALT_DIFF_WRONGTYPE") {
        if v == "0" {
            return Vec::new();
        }
        if v == "1" {
            return vec!["RPUSH", "SADD", "HSET"];
        }
    }
    let probe_key = "__basalt_it_probe__";
    let mut found = Vec::new();
    for (c, args) in [
        ("RPUSH", vec!["RPUSH", probe_key, "v"]),
        ("SADD", vec!["SADD", probe_key, "m"]),
        ("HSET", vec!["HSET", probe_key, "f", "v"]),
    ] {
        let r = raw(basalt, &args);
        let unknown = matches!(&r, Reply::Error(e) if e.starts_with("ERR unknown command"));
        if !unknown {
            found.push(c);
        }
        let d = raw(basalt, &["DEL", probe_key]);
        assert!(!matches!(d, Reply::Io(_)), "DEL of probe key failed: {d}");
    }
    found
}

struct HistoryEntry {
    idx: usize,
    cmd: String,
    redis: String,
}

struct SeedOutcome {
    compared: usize,
    /// Replies (from redis) that were errors: a sanity check of the generator's mix.
    errors: usize,
    mismatches: Vec<String>,
}

/// The server under test: Basalt, or (self-test of the generator, `BASALT_DIFF_SELFTEST=1`)
/// a second redis-server, which must never mismatch.
enum Candidate {
    Basalt(Server),
    Redis(RedisServer),
}

impl Candidate {
    fn start() -> Candidate {
        if std::env::var("BASALT_DIFF_SELFTEST").is_ok_and(|v| v == "1") {
            Candidate::Redis(RedisServer::start().expect("self-test needs redis-server"))
        } else {
            Candidate::Basalt(Server::start())
        }
    }

    fn client(&self) -> redis::Connection {
        match self {
            Candidate::Basalt(s) => s.client(),
            Candidate::Redis(s) => s.client(),
        }
    }

    /// Restart Basalt on the same data (gracefully, or after SIGKILL); no-op for the self-test.
    fn restart(&mut self, kill9: bool) {
        if let Candidate::Basalt(s) = self {
            if kill9 {
                s.kill9();
            }
            s.restart();
        }
    }

    fn log_contents(&self) -> String {
        match self {
            Candidate::Basalt(s) => s.log_contents(),
            Candidate::Redis(_) => "<self-test: no basalt log>".into(),
        }
    }
}

fn run_seed(seed: u64, n: usize, keep_going: bool) -> Option<SeedOutcome> {
    let redis_srv = RedisServer::start()?;
    let mut basalt_srv = Candidate::start();
    let mut rc = redis_srv.client();
    let mut bc = basalt_srv.client();
    let collections = probe_collections(&mut bc);
    let now0 = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let mut gen = Gen::new(seed, now0, collections.clone());
    let mut history: VecDeque<HistoryEntry> = VecDeque::new();
    let mut compared = 0usize;
    let mut errors = 0usize;
    let mut mismatches = Vec::new();
    let trace = std::env::var("BASALT_DIFF_TRACE").is_ok_and(|v| v == "1");

    // Halfway through, Basalt is restarted on its data (SIGKILL for even seeds, graceful stop
    // for odd ones): everything acknowledged so far, TTLs included, must still be there.
    let restart_at = n / 2;
    let mut cur_db = b"0".to_vec();
    for i in 0..n {
        if i == restart_at && n >= 2 {
            drop(bc);
            basalt_srv.restart(seed.is_multiple_of(2));
            bc = basalt_srv.client();
            let r = raw(&mut bc, &[&b"SELECT"[..], &cur_db]);
            assert_eq!(r, Reply::ok(), "SELECT {} after restart", escape(&cur_db));
            history.push_back(HistoryEntry {
                idx: i,
                cmd: format!(
                    "<basalt restarted here ({}), then SELECT {}>",
                    if seed.is_multiple_of(2) {
                        "kill -9"
                    } else {
                        "SIGTERM"
                    },
                    escape(&cur_db)
                ),
                redis: "-".into(),
            });
        }
        let g = gen.next();
        // LCS is O(len1 * len2) in memory on Redis: skip pathological sizes (checked on Redis;
        // STRLEN is read-only so it does not disturb either server's state).
        if g.args[0].eq_ignore_ascii_case(b"LCS") && g.args.len() >= 3 {
            let l1 = raw(&mut rc, &[&b"STRLEN"[..], g.args[1].as_slice()])
                .as_int()
                .unwrap_or(0);
            let l2 = raw(&mut rc, &[&b"STRLEN"[..], g.args[2].as_slice()])
                .as_int()
                .unwrap_or(0);
            if l1 * l2 > 4_000_000 {
                continue;
            }
        }
        let ra = raw(&mut rc, &g.args);
        let rb = raw(&mut bc, &g.args);
        if g.args[0].eq_ignore_ascii_case(b"SELECT") && ra == Reply::ok() {
            cur_db = g.args[1].clone();
        }
        compared += 1;
        if ra.is_error() {
            errors += 1;
        }
        let cmd_text = escape_cmd(&g.args);
        if trace {
            eprintln!("#{i} {cmd_text} -> {ra}");
        }
        let fatal = matches!(rb, Reply::Io(_)) || matches!(ra, Reply::Io(_));
        if fatal || !equivalent(g.cmp, &ra, &rb) {
            let mut msg = format!(
                "differential mismatch: seed={seed} command #{i} (collections for wrong-type: {collections:?})\n  \
                 command: {cmd_text}\n  redis:   {ra}\n  basalt:  {rb}\n  \
                 last {} commands before it (oldest first, with redis's reply):\n",
                history.len()
            );
            let wt = std::env::var("BASALT_DIFF_WRONGTYPE")
                .map(|v| format!("BASALT_DIFF_WRONGTYPE={v} "))
                .unwrap_or_default();
            for h in &history {
                msg.push_str(&format!("    #{} {} -> {}\n", h.idx, h.cmd, h.redis));
            }
            msg.push_str(&format!(
                "  repro: {wt}BASALT_DIFF_SEEDS={seed} BASALT_DIFF_COMMANDS={n} cargo test --release --test it differential_strings_keys -- --nocapture\n"
            ));
            if fatal {
                let log = basalt_srv.log_contents();
                let tail: String = log
                    .lines()
                    .rev()
                    .take(40)
                    .collect::<Vec<_>>()
                    .into_iter()
                    .rev()
                    .collect::<Vec<_>>()
                    .join("\n");
                panic!("{msg}  (client error: the server may have crashed)\n----- basalt log tail -----\n{tail}");
            }
            if !keep_going {
                panic!("{msg}");
            }
            eprintln!("{msg}");
            mismatches.push(msg);
        }
        history.push_back(HistoryEntry {
            idx: i,
            cmd: cmd_text,
            redis: ra.to_string(),
        });
        if history.len() > 20 {
            history.pop_front();
        }
    }

    // Final state check: the whole key space of db 0 and db 1 must agree (values and types).
    for db in ["0", "1"] {
        for (conn, who) in [(&mut rc, "redis"), (&mut bc, "basalt")] {
            let r = raw(conn, &["SELECT", db]);
            assert_eq!(r, Reply::ok(), "{who}: SELECT {db} for the final check");
        }
        for k in KEYS {
            for c in ["TYPE", "GET"] {
                let ra = raw(&mut rc, &[c.as_bytes(), *k]);
                let rb = raw(&mut bc, &[c.as_bytes(), *k]);
                compared += 1;
                if ra != rb {
                    let msg = format!(
                    "differential final-state mismatch: seed={seed} db {db}: {c} {}: redis {ra} basalt {rb}",
                    escape(k)
                );
                    if !keep_going {
                        panic!("{msg}");
                    }
                    eprintln!("{msg}");
                    mismatches.push(msg);
                }
            }
        }
    }
    Some(SeedOutcome {
        compared,
        errors,
        mismatches,
    })
}

#[test]
fn differential_strings_keys() {
    if !crate::harness::redis_server_available() {
        crate::harness::notice("SKIPPED: redis-server not installed (differential_strings_keys)");
        return;
    }
    let seeds = env_u64_list("BASALT_DIFF_SEEDS").unwrap_or_else(|| (1..=10).collect());
    let n: usize = std::env::var("BASALT_DIFF_COMMANDS")
        .ok()
        .map(|v| v.parse().expect("BASALT_DIFF_COMMANDS"))
        .unwrap_or(5000);
    // Relative TTLs embed the command index and must stay below 10000 (see module docs).
    assert!(n <= 9000, "BASALT_DIFF_COMMANDS must be <= 9000");
    let keep_going = std::env::var("BASALT_DIFF_KEEP_GOING").is_ok_and(|v| v != "0");
    let mut total = 0;
    let mut errors = 0;
    let mut all_mismatches = Vec::new();
    for &seed in &seeds {
        let Some(out) = run_seed(seed, n, keep_going) else {
            crate::harness::notice(
                "SKIPPED: redis-server not installed (differential_strings_keys)",
            );
            return;
        };
        total += out.compared;
        errors += out.errors;
        all_mismatches.extend(out.mismatches);
    }
    crate::harness::notice(&format!(
        "differential strings/keys: {total} commands compared, {} mismatches \
         (seeds {seeds:?}; {errors} of the replies were errors)",
        all_mismatches.len()
    ));
    // Sanity of the generator's mix: both successes and errors must be well represented.
    assert!(
        errors * 10 > total && errors * 2 < total,
        "generator mix off: {errors} error replies of {total}"
    );
    assert!(
        all_mismatches.is_empty(),
        "{} mismatches; first:\n{}",
        all_mismatches.len(),
        all_mismatches[0]
    );
    assert!(
        total >= seeds.len() * n,
        "fewer commands compared than generated"
    );
}

/// The generator itself must be deterministic for a seed (otherwise repro by seed is useless).
#[test]
fn generator_is_deterministic() {
    let mut g1 = Gen::new(42, 1_700_000_000, vec!["RPUSH"]);
    let mut g2 = Gen::new(42, 1_700_000_000, vec!["RPUSH"]);
    let mut names = BTreeSet::new();
    for _ in 0..2000 {
        let (a, b2) = (g1.next(), g2.next());
        assert_eq!(a.args, b2.args);
        assert_eq!(a.cmp, b2.cmp);
        names.insert(String::from_utf8_lossy(&a.args[0]).to_ascii_uppercase());
    }
    // Coverage sanity: the generator emits a broad set of commands.
    for c in [
        "SET",
        "GETEX",
        "LCS",
        "COPY",
        "PEXPIREAT",
        "INCRBYFLOAT",
        "RPUSH",
        "KEYS",
    ] {
        assert!(names.contains(c), "generator never produced {c}: {names:?}");
    }
}

// ---------------------------------------------------------------------------------------------
// SCAN coverage (Basalt only)
// ---------------------------------------------------------------------------------------------

/// Run a full SCAN iteration with the given extra arguments; returns every key seen (with
/// repetitions collapsed) after checking the cursor is decimal and the reply well-formed.
fn full_scan(conn: &mut redis::Connection, extra: &[&str]) -> BTreeSet<Vec<u8>> {
    let mut cursor = "0".to_string();
    let mut seen = BTreeSet::new();
    for iter in 0..100_000 {
        let mut args: Vec<&str> = vec!["SCAN", &cursor];
        args.extend_from_slice(extra);
        let r = raw(conn, &args);
        let Reply::Array(parts) = &r else {
            panic!("SCAN {cursor} {extra:?}: unexpected reply {r}");
        };
        assert_eq!(parts.len(), 2, "SCAN reply must have 2 elements: {r}");
        let Reply::Bulk(c) = &parts[0] else {
            panic!("SCAN cursor must be a bulk string: {r}");
        };
        let c = String::from_utf8(c.clone()).expect("cursor is UTF-8");
        assert!(
            !c.is_empty() && c.bytes().all(|b| b.is_ascii_digit()),
            "SCAN cursor must be decimal, got {c:?}"
        );
        c.parse::<u64>()
            .unwrap_or_else(|_| panic!("SCAN cursor must fit in u64: {c:?}"));
        let Reply::Array(keys) = &parts[1] else {
            panic!("SCAN keys must be an array: {r}");
        };
        for k in keys {
            let Reply::Bulk(k) = k else {
                panic!("SCAN key must be a bulk string: {r}");
            };
            seen.insert(k.clone());
        }
        if c == "0" {
            return seen;
        }
        assert!(iter < 99_999, "SCAN did not terminate");
        cursor = c;
    }
    unreachable!()
}

#[test]
fn scan_returns_every_key() {
    let srv = Server::start();
    let mut c = srv.client();
    let all: BTreeSet<Vec<u8>> = (0..1000)
        .map(|i| format!("scan:{i:03}").into_bytes())
        .collect();
    for k in &all {
        assert_eq!(
            raw(&mut c, &[&b"SET"[..], k.as_slice(), &b"v"[..]]),
            Reply::ok()
        );
    }
    assert_eq!(raw(&mut c, &["DBSIZE"]), Reply::Int(1000));

    for extra in [
        &[][..],
        &["COUNT", "7"][..],
        &["COUNT", "1000"][..],
        &["TYPE", "string"][..],
    ] {
        let seen = full_scan(&mut c, extra);
        assert_eq!(seen, all, "SCAN {extra:?} must return every key");
    }

    let expect_1: BTreeSet<Vec<u8>> = all
        .iter()
        .filter(|k| k.starts_with(b"scan:1"))
        .cloned()
        .collect();
    assert_eq!(expect_1.len(), 100);
    for extra in [
        &["MATCH", "scan:1*"][..],
        &["MATCH", "scan:1*", "COUNT", "3"][..],
    ] {
        let seen = full_scan(&mut c, extra);
        assert_eq!(seen, expect_1, "SCAN {extra:?}: exactly the matching keys");
    }
    let expect_q: BTreeSet<Vec<u8>> = all.iter().filter(|k| k.ends_with(b"7")).cloned().collect();
    let seen = full_scan(
        &mut c,
        &["MATCH", "scan:??7", "COUNT", "50", "TYPE", "string"],
    );
    assert_eq!(seen, expect_q, "SCAN MATCH scan:??7 COUNT 50 TYPE string");

    // Keys of another type are not returned by TYPE list (there are none).
    let seen = full_scan(&mut c, &["TYPE", "list", "COUNT", "100"]);
    assert!(
        seen.is_empty(),
        "SCAN TYPE list returned string keys: {} keys",
        seen.len()
    );

    // Cursor that is not a number.
    let r = raw(&mut c, &["SCAN", "abc"]);
    assert_eq!(r, Reply::Error("ERR invalid cursor".into()));
}
