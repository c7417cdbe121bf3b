//! Bitmap commands end to end, and string values on both sides of the inline/fragmented switch
//! point (`storage::strings::INLINE_MAX`):
//! - every bitmap command with its error cases (checked against redis-server too when it is
//!   installed);
//! - `SETBIT k 4294967295 1` and every read near the end of the 512 MB value, with the data
//!   directory and the server's memory staying small;
//! - a value grown across the switch point by random partial writes, read back through GET,
//!   GETRANGE, STRLEN, BITCOUNT and BITPOS and compared with a model;
//! - RENAME/COPY/MOVE/DEL/EXPIRE/restart of a fragmented value (no old fragment comes back),
//!   the string commands that read a fragmented value whole;
//! - DUMP/RESTORE and `basalt-rdb export` of fragmented values, loaded by redis-server.

use super::harness::*;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::path::Path;
use std::process::Command;

const OFFSET_ERR: &str = "ERR bit offset is not an integer or out of range";
const INLINE_MAX: usize = basalt::storage::strings::INLINE_MAX as usize;
const FRAGMENT: usize = basalt::storage::strings::FRAGMENT_SIZE as usize;

fn err(text: &str) -> Reply {
    Reply::Error(text.to_string())
}

fn int(n: i64) -> Reply {
    Reply::Int(n)
}

fn ints(ns: &[i64]) -> Reply {
    Reply::Array(ns.iter().map(|&n| Reply::Int(n)).collect())
}

/// Basalt and, when installed, redis-server (both fresh), with a client for each.
fn servers() -> (
    Server,
    redis::Connection,
    Option<(RedisServer, redis::Connection)>,
) {
    let server = Server::start();
    let b = server.client();
    let redis = RedisServer::start().map(|r| {
        let c = r.client();
        (r, c)
    });
    (server, b, redis)
}

#[track_caller]
fn check(
    b: &mut redis::Connection,
    r: &mut Option<(RedisServer, redis::Connection)>,
    steps: &[Step<'_>],
) {
    check_steps(b, r.as_mut().map(|(_, c)| c), steps);
}

#[test]
fn setbit_and_getbit() {
    let (_s, mut b, mut r) = servers();
    let wrong = "WRONGTYPE Operation against a key holding the wrong kind of value";
    check(
        &mut b,
        &mut r,
        &[
            (&["SETBIT", "k", "7", "1"], int(0)),
            (&["SETBIT", "k", "7", "1"], int(1)),
            (&["GET", "k"], Reply::bulk("\x01")),
            (&["GETBIT", "k", "7"], int(1)),
            (&["GETBIT", "k", "6"], int(0)),
            (&["GETBIT", "k", "100000"], int(0)),
            (&["GETBIT", "missing", "3"], int(0)),
            (&["SETBIT", "k", "20", "1"], int(0)),
            (&["STRLEN", "k"], int(3)),
            (&["GET", "k"], Reply::bulk("\x01\x00\x08")),
            // A value written by SET is the same bitmap: 'a' is 0x61.
            (&["SET", "s", "a"], Reply::ok()),
            (&["SETBIT", "s", "6", "1"], int(0)),
            (&["GET", "s"], Reply::bulk("c")),
            (&["SETBIT", "s", "7", "0"], int(1)),
            (&["GET", "s"], Reply::bulk("b")),
            (&["APPEND", "s", "z"], int(2)),
            (&["GETBIT", "s", "9"], int(1)),
            (&["SET", "n", "12"], Reply::ok()),
            (&["GETBIT", "n", "2"], int(1)),
            (&["SETBIT", "n", "15", "1"], int(0)),
            (&["GET", "n"], Reply::bulk("13")),
            // Errors, in Redis's order: offset, then bit, then the key's type.
            (&["SETBIT", "k", "-1", "1"], err(OFFSET_ERR)),
            (&["SETBIT", "k", "4294967296", "1"], err(OFFSET_ERR)),
            (&["SETBIT", "k", "abc", "1"], err(OFFSET_ERR)),
            (&["SETBIT", "k", "1.5", "1"], err(OFFSET_ERR)),
            (
                &["SETBIT", "k", "0", "2"],
                err("ERR bit is not an integer or out of range"),
            ),
            (
                &["SETBIT", "k", "0", "-1"],
                err("ERR bit is not an integer or out of range"),
            ),
            (
                &["SETBIT", "k", "0", "x"],
                err("ERR bit is not an integer or out of range"),
            ),
            (&["GETBIT", "k", "-1"], err(OFFSET_ERR)),
            (&["GETBIT", "k", "4294967296"], err(OFFSET_ERR)),
            (&["RPUSH", "l", "x"], int(1)),
            (&["SETBIT", "l", "0", "1"], err(wrong)),
            (&["GETBIT", "l", "0"], err(wrong)),
            (&["SETBIT", "l", "-1", "1"], err(OFFSET_ERR)),
            (
                &["SETBIT", "k", "1"],
                err("ERR wrong number of arguments for 'setbit' command"),
            ),
            (
                &["GETBIT", "k"],
                err("ERR wrong number of arguments for 'getbit' command"),
            ),
        ],
    );
}

#[test]
fn bitcount_and_bitpos() {
    let (_s, mut b, mut r) = servers();
    let wrong = "WRONGTYPE Operation against a key holding the wrong kind of value";
    check(
        &mut b,
        &mut r,
        &[
            (&["SET", "k", "foobar"], Reply::ok()),
            (&["BITCOUNT", "k"], int(26)),
            (&["BITCOUNT", "k", "0", "0"], int(4)),
            (&["BITCOUNT", "k", "1", "1"], int(6)),
            (&["BITCOUNT", "k", "1", "1", "BYTE"], int(6)),
            (&["BITCOUNT", "k", "5", "30", "BIT"], int(17)),
            (&["BITCOUNT", "k", "-2", "-1"], int(7)),
            (&["BITCOUNT", "k", "-1", "-2"], int(0)),
            (&["BITCOUNT", "k", "0", "1000"], int(26)),
            (&["BITCOUNT", "missing"], int(0)),
            (&["BITCOUNT", "missing", "0"], int(0)),
            (&["BITCOUNT", "k", "0"], err("ERR syntax error")),
            (
                &["BITCOUNT", "k", "0", "1", "WORD"],
                err("ERR syntax error"),
            ),
            (
                &["BITCOUNT", "k", "0", "1", "BIT", "x"],
                err("ERR syntax error"),
            ),
            (
                &["BITCOUNT", "k", "x", "1"],
                err("ERR value is not an integer or out of range"),
            ),
            (&["SET", "p", "\x00\x7f\x0f"], Reply::ok()),
            (&["BITPOS", "p", "1"], int(9)),
            (&["BITPOS", "p", "0"], int(0)),
            (&["BITPOS", "p", "1", "2"], int(20)),
            (&["BITPOS", "p", "1", "2", "-1", "BYTE"], int(20)),
            (&["BITPOS", "p", "1", "10", "15", "BIT"], int(10)),
            (&["BITPOS", "p", "0", "9", "15", "BIT"], int(-1)),
            (&["BITPOS", "p", "0", "9", "16", "BIT"], int(16)),
            (&["BITPOS", "p", "1", "0", "0"], int(-1)),
            (&["BITPOS", "p", "0", "1", "1"], int(8)),
            (&["SETBIT", "ones", "7", "1"], int(0)),
            (&["BITOP", "NOT", "ones", "ones"], int(1)),
            (&["BITOP", "NOT", "ones", "ones"], int(1)),
            (&["SET", "ones", "\x7f"], Reply::ok()),
            (&["BITOP", "NOT", "ones", "p"], int(3)),
            (&["BITPOS", "ones", "0"], int(9)),
            (&["SET", "ff", "\x7f"], Reply::ok()),
            (&["BITOP", "NOT", "ff", "ff"], int(1)),
            (&["BITPOS", "ff", "0"], int(1)),
            (&["SET", "zero", "\x00"], Reply::ok()),
            (&["BITOP", "NOT", "ff", "zero"], int(1)),
            // All ones: a clear bit is found just past the end, unless an end was given.
            (&["BITPOS", "ff", "0"], int(8)),
            (&["BITPOS", "ff", "0", "0"], int(8)),
            (&["BITPOS", "ff", "0", "0", "-1"], int(-1)),
            (&["BITPOS", "missing", "0"], int(0)),
            (&["BITPOS", "missing", "1"], int(-1)),
            (
                &["BITPOS", "p", "2"],
                err("ERR The bit argument must be 1 or 0."),
            ),
            (
                &["BITPOS", "p", "1", "0", "1", "WORD"],
                err("ERR syntax error"),
            ),
            (
                &["BITPOS", "p", "1", "x"],
                err("ERR value is not an integer or out of range"),
            ),
            (&["RPUSH", "l", "x"], int(1)),
            (&["BITCOUNT", "l"], err(wrong)),
            (&["BITPOS", "l", "1"], err(wrong)),
        ],
    );
}

#[test]
fn bitop_over_keys_of_different_lengths() {
    let (_s, mut b, mut r) = servers();
    let wrong = "WRONGTYPE Operation against a key holding the wrong kind of value";
    check(
        &mut b,
        &mut r,
        &[
            (&["SET", "a", "\x7f\x0f\x01"], Reply::ok()),
            (&["SET", "b", "\x70"], Reply::ok()),
            (&["BITOP", "AND", "d", "a", "b"], int(3)),
            (&["GET", "d"], Reply::bulk("\x70\x00\x00")),
            (&["BITOP", "OR", "d", "a", "b"], int(3)),
            (&["GET", "d"], Reply::bulk("\x7f\x0f\x01")),
            (&["BITOP", "XOR", "d", "a", "b", "missing"], int(3)),
            (&["GET", "d"], Reply::bulk("\x0f\x0f\x01")),
            (&["BITOP", "not", "d", "b"], int(1)),
            (&["BITCOUNT", "d"], int(5)),
            (&["EXPIRE", "d", "100"], int(1)),
            // The destination loses its TTL; sources may include it.
            (&["BITOP", "OR", "d", "d", "a"], int(3)),
            (&["TTL", "d"], int(-1)),
            (&["BITOP", "AND", "d", "missing", "missing2"], int(0)),
            (&["EXISTS", "d"], int(0)),
            (&["BITOP", "AND", "d", "missing"], int(0)),
            (
                &["BITOP", "NOT", "d", "a", "b"],
                err("ERR BITOP NOT must be called with a single source key."),
            ),
            (&["BITOP", "NAND", "d", "a"], err("ERR syntax error")),
            (&["RPUSH", "l", "x"], int(1)),
            (&["BITOP", "OR", "d", "a", "l"], err(wrong)),
            (&["BITOP", "OR", "l", "a"], int(3)),
            (&["TYPE", "l"], Reply::Simple("string".into())),
            (
                &["BITOP", "OR", "d"],
                err("ERR wrong number of arguments for 'bitop' command"),
            ),
        ],
    );
}

#[test]
fn bitfield_overflow_and_hash_offsets() {
    let (_s, mut b, mut r) = servers();
    let type_err =
        "ERR Invalid bitfield type. Use something like i16 u8. Note that u64 is not supported but i64 is.";
    let nil_and = |v: i64| Reply::Array(vec![Reply::Nil, Reply::Int(v)]);
    check(
        &mut b,
        &mut r,
        &[
            (
                &[
                    "BITFIELD", "k", "INCRBY", "i5", "100", "1", "GET", "u4", "0",
                ],
                ints(&[1, 0]),
            ),
            (
                &[
                    "BITFIELD", "c", "INCRBY", "u2", "100", "1", "OVERFLOW", "SAT", "INCRBY", "u2",
                    "102", "1",
                ],
                ints(&[1, 1]),
            ),
            (
                &[
                    "BITFIELD", "c", "INCRBY", "u2", "100", "1", "OVERFLOW", "SAT", "INCRBY", "u2",
                    "102", "1",
                ],
                ints(&[2, 2]),
            ),
            (
                &[
                    "BITFIELD", "c", "INCRBY", "u2", "100", "1", "OVERFLOW", "SAT", "INCRBY", "u2",
                    "102", "1",
                ],
                ints(&[3, 3]),
            ),
            (
                &[
                    "BITFIELD", "c", "INCRBY", "u2", "100", "1", "OVERFLOW", "SAT", "INCRBY", "u2",
                    "102", "1",
                ],
                ints(&[0, 3]),
            ),
            (
                &[
                    "BITFIELD", "c", "OVERFLOW", "FAIL", "INCRBY", "u2", "102", "1", "GET", "u2",
                    "102",
                ],
                nil_and(3),
            ),
            // `#n` is n fields of the type's width.
            (
                &[
                    "BITFIELD", "h", "SET", "i8", "#0", "100", "SET", "i8", "#1", "-56",
                ],
                ints(&[0, 0]),
            ),
            (
                &[
                    "BITFIELD", "h", "GET", "i8", "#1", "GET", "u8", "#1", "GET", "u16", "#0",
                ],
                ints(&[-56, 200, 25800]),
            ),
            (&["STRLEN", "h"], int(2)),
            // The widest fields, and their overflows.
            (
                &[
                    "BITFIELD",
                    "w",
                    "SET",
                    "i64",
                    "0",
                    "9223372036854775807",
                    "INCRBY",
                    "i64",
                    "0",
                    "1",
                ],
                ints(&[0, i64::MIN]),
            ),
            (
                &[
                    "BITFIELD", "w", "OVERFLOW", "SAT", "INCRBY", "i64", "0", "-1",
                ],
                ints(&[i64::MIN]),
            ),
            (
                &[
                    "BITFIELD",
                    "w",
                    "SET",
                    "u63",
                    "1",
                    "9223372036854775807",
                    "GET",
                    "u63",
                    "1",
                    "GET",
                    "i64",
                    "0",
                ],
                ints(&[0, i64::MAX, -1]),
            ),
            (
                &[
                    "BITFIELD", "w", "OVERFLOW", "WRAP", "INCRBY", "u63", "1", "1", "OVERFLOW",
                    "FAIL", "INCRBY", "u63", "1", "-1",
                ],
                Reply::Array(vec![Reply::Int(0), Reply::Nil]),
            ),
            (
                &[
                    "BITFIELD", "w", "OVERFLOW", "SAT", "SET", "i8", "0", "300", "GET", "i8", "0",
                ],
                ints(&[-128, 127]),
            ),
            (
                &[
                    "BITFIELD", "w", "OVERFLOW", "SAT", "SET", "u8", "0", "-5", "GET", "u8", "0",
                ],
                ints(&[127, 255]),
            ),
            (
                &[
                    "BITFIELD", "w", "OVERFLOW", "WRAP", "SET", "i8", "0", "300", "GET", "i8", "0",
                ],
                ints(&[-1, 44]),
            ),
            (
                &[
                    "BITFIELD", "w", "OVERFLOW", "FAIL", "SET", "u4", "0", "16", "GET", "u4", "0",
                ],
                nil_and(2),
            ),
            // A FAIL that writes nothing still creates the key, grown to its highest field.
            (
                &[
                    "BITFIELD", "f", "OVERFLOW", "FAIL", "SET", "u4", "100", "16",
                ],
                Reply::Array(vec![Reply::Nil]),
            ),
            (&["STRLEN", "f"], int(13)),
            (
                &["BITFIELD", "missing", "GET", "u8", "0", "GET", "i5", "3"],
                ints(&[0, 0]),
            ),
            (&["EXISTS", "missing"], int(0)),
            (&["BITFIELD", "f"], Reply::Array(vec![])),
            (&["BITFIELD_RO", "h", "GET", "i8", "#1"], ints(&[-56])),
            (
                &["BITFIELD_RO", "h", "SET", "u8", "0", "1"],
                err("ERR BITFIELD_RO only supports the GET subcommand"),
            ),
            (&["BITFIELD", "k", "GET", "u64", "0"], err(type_err)),
            (&["BITFIELD", "k", "GET", "i65", "0"], err(type_err)),
            (&["BITFIELD", "k", "GET", "i0", "0"], err(type_err)),
            (&["BITFIELD", "k", "GET", "x8", "0"], err(type_err)),
            (&["BITFIELD", "k", "GET", "u8", "-1"], err(OFFSET_ERR)),
            (&["BITFIELD", "k", "GET", "u8", "#-1"], err(OFFSET_ERR)),
            (
                &["BITFIELD", "k", "GET", "u8", "4294967296"],
                err(OFFSET_ERR),
            ),
            (
                &["BITFIELD", "k", "SET", "u8", "#536870912", "1"],
                err(OFFSET_ERR),
            ),
            (&["BITFIELD", "k", "GET", "u8"], err("ERR syntax error")),
            (
                &["BITFIELD", "k", "FOO", "u8", "0"],
                err("ERR syntax error"),
            ),
            (
                &["BITFIELD", "k", "SET", "u8", "0", "x"],
                err("ERR value is not an integer or out of range"),
            ),
            (
                &["BITFIELD", "k", "OVERFLOW", "MAYBE"],
                err("ERR Invalid OVERFLOW type specified"),
            ),
        ],
    );
}

/// Sum of the sizes of the files under `dir`.
fn dir_size(dir: &Path) -> u64 {
    let mut total = 0;
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let Ok(meta) = e.metadata() else { continue };
        total += if meta.is_dir() {
            dir_size(&e.path())
        } else {
            meta.len()
        };
    }
    total
}

/// Resident memory of a process in bytes.
fn rss(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmRSS:"))
                .and_then(|v| v.split_whitespace().next()?.parse::<u64>().ok())
        })
        .map_or(0, |kb| kb * 1024)
}

#[test]
fn the_last_bit_of_a_512_mb_bitmap_costs_one_fragment() {
    let mut server = Server::start();
    let mut b = server.client();
    let steps: &[Step<'_>] = &[
        (&["SETBIT", "big", "4294967295", "1"], int(0)),
        (&["STRLEN", "big"], int(536870912)),
        (&["GETBIT", "big", "4294967295"], int(1)),
        (&["GETBIT", "big", "4294967294"], int(0)),
        (&["GETBIT", "big", "0"], int(0)),
        (&["BITCOUNT", "big"], int(1)),
        (&["BITCOUNT", "big", "-1", "-1"], int(1)),
        (&["BITCOUNT", "big", "0", "1000000"], int(0)),
        (
            &["BITCOUNT", "big", "4294967290", "4294967295", "BIT"],
            int(1),
        ),
        (&["BITPOS", "big", "1"], int(4294967295)),
        (&["BITPOS", "big", "0"], int(0)),
        (&["BITPOS", "big", "1", "-1"], int(4294967295)),
        (&["BITPOS", "big", "0", "-1"], int(4294967288)),
        (
            &["BITPOS", "big", "1", "4294967200", "4294967294", "BIT"],
            int(-1),
        ),
        (
            &["GETRANGE", "big", "-3", "-1"],
            Reply::bulk("\x00\x00\x01"),
        ),
        (
            &["GETRANGE", "big", "536870910", "536870999"],
            Reply::bulk("\x00\x01"),
        ),
        (
            &["GETRANGE", "big", "1000", "1003"],
            Reply::bulk("\x00\x00\x00\x00"),
        ),
        (
            &[
                "BITFIELD",
                "big",
                "GET",
                "u8",
                "4294967288",
                "GET",
                "u4",
                "#1073741823",
            ],
            ints(&[1, 1]),
        ),
        (
            &["BITFIELD_RO", "big", "GET", "i2", "4294967294"],
            ints(&[1]),
        ),
        (&["SETRANGE", "big", "536870910", "\x02"], int(536870912)),
        (&["BITCOUNT", "big"], int(2)),
        (&["OBJECT", "ENCODING", "big"], Reply::bulk("raw")),
        (&["SETBIT", "big", "4294967296", "1"], err(OFFSET_ERR)),
        (
            &["APPEND", "big", "x"],
            err("ERR string exceeds maximum allowed size (proto-max-bulk-len)"),
        ),
        (
            &["SETRANGE", "big", "536870912", "x"],
            err("ERR string exceeds maximum allowed size (proto-max-bulk-len)"),
        ),
        // Another huge value: sparse results of BITOP stay sparse.
        (&["SETBIT", "small", "3", "1"], int(0)),
        (&["BITOP", "OR", "or", "big", "small"], int(536870912)),
        (&["BITCOUNT", "or"], int(3)),
        (&["BITOP", "AND", "and", "big", "small"], int(536870912)),
        (&["BITCOUNT", "and"], int(0)),
        (&["BITPOS", "and", "1"], int(-1)),
        (&["SETBIT", "big", "4294967295", "0"], int(1)),
        (&["BITCOUNT", "big"], int(1)),
        (&["STRLEN", "big"], int(536870912)),
    ];
    check_steps(&mut b, None, steps);
    // Nothing above held the value whole, on disk or in memory (a 512 MB value would).
    let used = dir_size(server.dir());
    assert!(used < 64 << 20, "data directory holds {used} bytes");
    let pid = server.pid().expect("running");
    let mem = rss(pid);
    assert!(mem < 256 << 20, "server RSS {mem} bytes");
    notice(&format!(
        "512 MB sparse bitmaps: data directory {:.1} MB, server RSS {:.1} MB",
        used as f64 / 1e6,
        mem as f64 / 1e6
    ));
    // It survives a restart.
    server.restart();
    let mut b = server.client();
    check_steps(
        &mut b,
        None,
        &[
            (&["STRLEN", "big"], int(536870912)),
            (&["BITCOUNT", "big"], int(1)),
            (&["GETBIT", "big", "4294967286"], int(1)),
            (&["BITCOUNT", "or"], int(3)),
        ],
    );
}

/// The set bits of a model value.
fn popcount(v: &[u8]) -> i64 {
    v.iter().map(|b| i64::from(b.count_ones())).sum()
}

#[test]
fn a_value_grown_across_the_switch_point_matches_a_model() {
    let server = Server::start();
    let mut b = server.client();
    let mut rng = StdRng::seed_from_u64(
        std::env::var("BASALT_BITMAP_SEED")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(42),
    );
    let mut model: Vec<u8> = Vec::new();
    let key = b"grow".as_slice();
    let limit = 6 * INLINE_MAX + 3 * FRAGMENT;
    let mut step = 0;
    while model.len() < limit {
        step += 1;
        let what = rng.random_range(0..5);
        let reply = match what {
            0 => {
                let bit = rng.random_range(0..(model.len() as u64 + 2000) * 8);
                let on = rng.random_bool(0.7);
                let r = raw(
                    &mut b,
                    &[
                        &b"SETBIT"[..],
                        key,
                        bit.to_string().as_bytes(),
                        if on { b"1" } else { b"0" },
                    ],
                );
                let byte = (bit / 8) as usize;
                let old = model.get(byte).map_or(0, |v| (v >> (7 - bit % 8)) & 1);
                if model.len() <= byte {
                    model.resize(byte + 1, 0);
                }
                let mask = 1u8 << (7 - bit % 8);
                if on {
                    model[byte] |= mask;
                } else {
                    model[byte] &= !mask;
                }
                (r, Reply::Int(i64::from(old)))
            }
            1 => {
                let at = rng.random_range(0..model.len() + 3000);
                let len = rng.random_range(1..2 * FRAGMENT);
                let data: Vec<u8> = (0..len).map(|_| rng.random()).collect();
                let r = raw(
                    &mut b,
                    &[b"SETRANGE", key, at.to_string().as_bytes(), &data],
                );
                if model.len() < at + len {
                    model.resize(at + len, 0);
                }
                model[at..at + len].copy_from_slice(&data);
                (r, Reply::Int(model.len() as i64))
            }
            2 => {
                let data: Vec<u8> = (0..rng.random_range(0..700))
                    .map(|_| rng.random())
                    .collect();
                let r = raw(&mut b, &[b"APPEND", key, &data]);
                model.extend_from_slice(&data);
                (r, Reply::Int(model.len() as i64))
            }
            3 => {
                let bit = rng.random_range(0..(model.len() as u64 + 100) * 8);
                let v: u8 = rng.random();
                let r = raw(
                    &mut b,
                    &[
                        &b"BITFIELD"[..],
                        key,
                        b"SET",
                        b"u8",
                        bit.to_string().as_bytes(),
                        v.to_string().as_bytes(),
                    ],
                );
                // The model: eight bits from `bit`, MSB first.
                let end = ((bit + 8).div_ceil(8)) as usize;
                if model.len() < end {
                    model.resize(end, 0);
                }
                let mut old = 0u8;
                for j in 0..8 {
                    let p = bit + j;
                    let (byte, mask) = ((p / 8) as usize, 1u8 << (7 - p % 8));
                    old = (old << 1) | u8::from(model[byte] & mask != 0);
                    if v & (1 << (7 - j)) != 0 {
                        model[byte] |= mask;
                    } else {
                        model[byte] &= !mask;
                    }
                }
                (r, ints(&[i64::from(old)]))
            }
            _ => {
                let a = rng.random_range(0..model.len().max(1) + 100) as i64 - 50;
                let e = a + rng.random_range(0..3 * FRAGMENT as i64);
                let r = raw(
                    &mut b,
                    &[
                        b"GETRANGE",
                        key,
                        a.to_string().as_bytes(),
                        e.to_string().as_bytes(),
                    ],
                );
                let n = model.len() as i64;
                let s = if a < 0 { (n + a).max(0) } else { a };
                let t = e.min(n - 1);
                let want = if n == 0 || s > t {
                    Vec::new()
                } else {
                    model[s as usize..=t as usize].to_vec()
                };
                (r, Reply::bulk(want))
            }
        };
        assert_eq!(
            reply.0,
            reply.1,
            "step {step} (op {what}), length {}",
            model.len()
        );
        if step % 7 == 0 {
            assert_eq!(
                raw(&mut b, &[b"STRLEN", key]),
                Reply::Int(model.len() as i64)
            );
            assert_eq!(
                raw(&mut b, &[b"BITCOUNT", key]),
                Reply::Int(popcount(&model)),
                "step {step}"
            );
            let first = model
                .iter()
                .position(|&x| x != 0)
                .map_or(-1, |i| i as i64 * 8 + i64::from(model[i].leading_zeros()));
            assert_eq!(
                raw(&mut b, &[b"BITPOS", key, b"1"]),
                Reply::Int(first),
                "step {step}"
            );
        }
        if step % 25 == 0 {
            let got = raw(&mut b, &[b"GET", key]);
            assert!(
                got == Reply::bulk(&model),
                "GET differs from the model at step {step}"
            );
        }
    }
    assert_eq!(raw(&mut b, &[b"GET", key]), Reply::bulk(&model));
    assert_eq!(
        cmd(&mut b, &["OBJECT", "ENCODING", "grow"]),
        Reply::bulk("raw")
    );
}

/// Builds a fragmented value in `key` and returns its bytes.
fn fragmented(b: &mut redis::Connection, key: &str) -> Vec<u8> {
    let mut model = vec![0u8; 3 * FRAGMENT + 10];
    model[FRAGMENT..FRAGMENT + 5].copy_from_slice(b"hello");
    model[3 * FRAGMENT + 9] = b'!';
    assert_eq!(
        cmd(b, &["SETRANGE", key, &FRAGMENT.to_string(), "hello"]),
        int((FRAGMENT + 5) as i64)
    );
    assert_eq!(
        cmd(b, &["SETRANGE", key, &(3 * FRAGMENT + 9).to_string(), "!"]),
        int(model.len() as i64)
    );
    assert!(model.len() > INLINE_MAX);
    model
}

#[test]
fn fragmented_values_move_copy_expire_and_restart() {
    let mut server = Server::start();
    let mut b = server.client();
    let model = fragmented(&mut b, "k");
    let value = Reply::bulk(&model);
    assert_eq!(cmd(&mut b, &["GET", "k"]), value);
    assert_eq!(cmd(&mut b, &["COPY", "k", "c"]), int(1));
    assert_eq!(cmd(&mut b, &["RENAME", "c", "r"]), Reply::ok());
    assert_eq!(cmd(&mut b, &["EXISTS", "c"]), int(0));
    assert_eq!(cmd(&mut b, &["GET", "r"]), value);
    // The copy is independent of its source.
    assert_eq!(cmd(&mut b, &["SETBIT", "r", "0", "1"]), int(0));
    assert_eq!(cmd(&mut b, &["GETBIT", "k", "0"]), int(0));
    assert_eq!(cmd(&mut b, &["SETBIT", "r", "0", "0"]), int(1));
    assert_eq!(cmd(&mut b, &["MOVE", "r", "1"]), int(1));
    assert_eq!(cmd(&mut b, &["SELECT", "1"]), Reply::ok());
    assert_eq!(cmd(&mut b, &["GET", "r"]), value);
    assert_eq!(cmd(&mut b, &["SELECT", "0"]), Reply::ok());
    assert_eq!(cmd(&mut b, &["EXPIRE", "k", "1000"]), int(1));
    assert_eq!(
        cmd(&mut b, &["APPEND", "k", "+"]),
        int(model.len() as i64 + 1)
    );
    let ttl = cmd(&mut b, &["TTL", "k"]).as_int().unwrap();
    assert!(ttl > 0 && ttl <= 1000, "TTL {ttl}");
    assert_eq!(cmd(&mut b, &["PERSIST", "k"]), int(1));
    let mut appended = model.clone();
    appended.push(b'+');
    server.restart();
    let mut b = server.client();
    assert_eq!(cmd(&mut b, &["GET", "k"]), Reply::bulk(&appended));
    assert_eq!(cmd(&mut b, &["TTL", "k"]), int(-1));
    assert_eq!(cmd(&mut b, &["SELECT", "1"]), Reply::ok());
    assert_eq!(cmd(&mut b, &["GET", "r"]), value);
    assert_eq!(cmd(&mut b, &["SELECT", "0"]), Reply::ok());

    // A new value under the same name never sees the old fragments: after DEL, after expiry,
    // and after SET (whose small value a partial write then converts).
    let far = (4 * FRAGMENT).to_string();
    let fresh = |b: &mut redis::Connection, key: &str| {
        assert_eq!(
            cmd(b, &["SETRANGE", key, &far, "z"]),
            int(4 * FRAGMENT as i64 + 1)
        );
        let mut want = vec![0u8; 4 * FRAGMENT + 1];
        want[4 * FRAGMENT] = b'z';
        assert_eq!(cmd(b, &["GET", key]), Reply::bulk(&want), "{key}");
        assert_eq!(
            cmd(b, &["BITCOUNT", key]),
            int(i64::from(b'z'.count_ones())),
            "{key}"
        );
    };
    fragmented(&mut b, "d");
    assert_eq!(cmd(&mut b, &["DEL", "d"]), int(1));
    fresh(&mut b, "d");
    fragmented(&mut b, "e");
    assert_eq!(cmd(&mut b, &["PEXPIRE", "e", "1"]), int(1));
    assert!(eventually(10, || cmd(
        &mut server.client(),
        &["EXISTS", "e"]
    ) == int(0)));
    fresh(&mut b, "e");
    fragmented(&mut b, "s");
    assert_eq!(cmd(&mut b, &["SET", "s", "v"]), Reply::ok());
    assert_eq!(cmd(&mut b, &["GET", "s"]), Reply::bulk("v"));
    assert_eq!(cmd(&mut b, &["SET", "s", ""]), Reply::ok());
    fresh(&mut b, "s");
    // After a compaction of everything, live values are intact.
    assert_eq!(cmd(&mut b, &["DEBUG", "RELOAD"]), Reply::ok());
    server.restart();
    let mut b = server.client();
    assert_eq!(cmd(&mut b, &["GET", "k"]), Reply::bulk(&appended));
    fresh(&mut b, "d");
}

#[test]
fn string_commands_read_fragmented_values_whole() {
    let (_s, mut b, mut r) = servers();
    let model = fragmented(&mut b, "f");
    if let Some((_, rc)) = r.as_mut() {
        fragmented(rc, "f");
    }
    let value = Reply::bulk(&model);
    let len = model.len() as i64;
    let steps: Vec<Step<'_>> = vec![
        (&["GET", "f"], value.clone()),
        (
            &["MGET", "f", "nope", "f"],
            Reply::Array(vec![value.clone(), Reply::Nil, value.clone()]),
        ),
        (&["SUBSTR", "f", "4096", "4100"], Reply::bulk("hello")),
        (
            &["INCR", "f"],
            err("ERR value is not an integer or out of range"),
        ),
        (
            &["INCRBYFLOAT", "f", "1"],
            err("ERR value is not a valid float"),
        ),
        (
            &["PFADD", "f", "x"],
            err("WRONGTYPE Key is not a valid HyperLogLog string value."),
        ),
        (
            &["PFCOUNT", "f"],
            err("WRONGTYPE Key is not a valid HyperLogLog string value."),
        ),
        (&["STRLEN", "f"], int(len)),
        // 12,299² cells are over the limit; two 9 KB fragmented values are not.
        (
            &["LCS", "f", "f", "LEN"],
            err("ERR Insufficient memory, transient memory for LCS exceeds proto-max-bulk-len"),
        ),
        (&["SETRANGE", "a9", "9000", "hello"], int(9005)),
        (&["SETRANGE", "b9", "9100", "help"], int(9104)),
        (&["OBJECT", "ENCODING", "a9"], Reply::bulk("raw")),
        (&["LCS", "a9", "b9", "LEN"], int(9003)),
        (&["COPY", "f", "g"], int(1)),
        (&["GETEX", "g", "EX", "1000"], value.clone()),
        (&["GETSET", "g", "small"], value.clone()),
        (&["GET", "g"], Reply::bulk("small")),
        (&["COPY", "f", "h"], int(1)),
        (&["GETDEL", "h"], value.clone()),
        (&["EXISTS", "h"], int(0)),
        (&["COPY", "f", "i"], int(1)),
        (&["SET", "i", "new", "GET"], value.clone()),
        (&["SETRANGE", "f", "0", ""], int(len)),
        (&["APPEND", "f", ""], int(len)),
        (&["TYPE", "f"], Reply::Simple("string".into())),
        (&["GET", "f"], value.clone()),
    ];
    check(&mut b, &mut r, &steps);
    let usage = cmd(&mut b, &["MEMORY", "USAGE", "f"]).as_int().unwrap();
    assert!(usage > len, "MEMORY USAGE {usage}");
    let debug = cmd(&mut b, &["DEBUG", "OBJECT", "f"]);
    let Reply::Simple(line) = debug else {
        panic!("DEBUG OBJECT: {debug:?}");
    };
    assert!(line.contains("encoding:raw"), "{line}");
    assert!(
        line.contains(&format!("serializedlength:{}", len + 2)),
        "{line}"
    );
}

/// Runs `basalt-rdb` and returns its standard output, asserting success.
fn rdb_tool(args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_basalt-rdb"))
        .args(args)
        .output()
        .expect("run basalt-rdb");
    assert!(
        out.status.success(),
        "basalt-rdb {args:?}:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn fragmented_values_dump_restore_and_export_to_redis() {
    let Some(redis) = RedisServer::start() else {
        return;
    };
    let mut server = Server::start();
    let mut b = server.client();
    let mut r = redis.client();
    // Sparse (8 MB, one fragment), incompressible, and compressible values, and one with a TTL.
    assert_eq!(cmd(&mut b, &["SETBIT", "sparse", "67108863", "1"]), int(0));
    let noise: Vec<u8> = (0..50_000u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    assert_eq!(
        raw(&mut b, &[&b"SETRANGE"[..], b"noise", b"1", &noise]),
        int(50_001)
    );
    for _ in 0..20 {
        assert!(cmd(&mut b, &["APPEND", "text", &"basalt ".repeat(150)])
            .as_int()
            .is_some());
    }
    fragmented(&mut b, "ttl");
    assert_eq!(cmd(&mut b, &["EXPIRE", "ttl", "5000"]), int(1));
    let keys = ["sparse", "noise", "text", "ttl"];
    let values: Vec<Reply> = keys.iter().map(|k| cmd(&mut b, &["GET", k])).collect();
    for (k, v) in keys.iter().zip(&values) {
        assert!(v.as_bytes().is_some_and(|v| v.len() > INLINE_MAX), "{k}");
    }
    // DUMP in Basalt, RESTORE in Redis and back.
    for (k, v) in keys.iter().zip(&values) {
        let payload = cmd(&mut b, &["DUMP", k]);
        let payload = payload.as_bytes().expect("DUMP payload");
        assert_eq!(
            raw(&mut r, &[&b"RESTORE"[..], k.as_bytes(), b"0", payload]),
            Reply::ok(),
            "{k}"
        );
        assert_eq!(cmd(&mut r, &["GET", k]), *v, "Redis restoring {k}");
        let back = cmd(&mut r, &["DUMP", k]);
        let back = back.as_bytes().expect("DUMP payload");
        let copy = format!("{k}-back");
        assert_eq!(
            raw(&mut b, &[&b"RESTORE"[..], copy.as_bytes(), b"0", back]),
            Reply::ok()
        );
        assert_eq!(cmd(&mut b, &["GET", &copy]), *v, "Basalt restoring {k}");
    }
    // A sparse value's payload is LZF-compressed: far smaller than the value.
    let sparse = cmd(&mut b, &["DUMP", "sparse"]);
    assert!(sparse.as_bytes().unwrap().len() < 200_000);
    // Export, then Redis loads the file.
    let ttl_at = cmd(&mut b, &["PEXPIRETIME", "ttl"]).as_int().unwrap();
    server.stop();
    let file = server.dir().with_file_name("fragmented.rdb");
    rdb_tool(&[
        "export",
        "--dir",
        server.dir().to_str().unwrap(),
        file.to_str().unwrap(),
    ]);
    let size = std::fs::metadata(&file).unwrap().len();
    assert!(size < 1 << 20, "export of {size} bytes");
    let loaded = RedisServer::start_loading(Some(&file)).expect("redis-server");
    let mut l = loaded.client();
    for (k, v) in keys.iter().zip(&values) {
        assert_eq!(cmd(&mut l, &["GET", k]), *v, "Redis loading {k}");
    }
    assert_eq!(cmd(&mut l, &["PEXPIRETIME", "ttl"]), int(ttl_at));
    assert_eq!(cmd(&mut l, &["BITCOUNT", "sparse"]), int(1));
}

#[test]
fn reads_of_a_fragmented_value_see_whole_writes() {
    // Write i rewrites the value from its start with byte i, 100 bytes longer than write i-1:
    // every state is (length, byte) = (10,000 + 100 i, i). A read that took the length from one
    // write and the bytes from another (or bytes from two writes) shows a pair no write made.
    const WRITES: usize = 200;
    let len_of = |i: usize| 10_000 + 100 * i;
    let server = Server::start();
    let mut b = server.client();
    let first = vec![1u8; len_of(1)];
    assert_eq!(
        raw(&mut b, &[&b"SETRANGE"[..], b"k", b"0", &first]),
        int(len_of(1) as i64)
    );
    let port = server.port();
    let writer = std::thread::spawn(move || {
        let mut w = connect(port);
        for i in 2..WRITES {
            let v = vec![i as u8; len_of(i)];
            assert_eq!(
                raw(&mut w, &[&b"SETRANGE"[..], b"k", b"0", &v]),
                int(len_of(i) as i64)
            );
        }
    });
    let readers: Vec<_> = (0..2)
        .map(|_| {
            std::thread::spawn(move || {
                let mut r = connect(port);
                for _ in 0..WRITES {
                    let got = raw(&mut r, &[&b"GET"[..], b"k"]);
                    let v = got.as_bytes().expect("a value");
                    let i = usize::from(v[0]);
                    assert!(v.iter().all(|&x| x == v[0]), "a GET mixed two writes");
                    assert_eq!(
                        v.len(),
                        len_of(i),
                        "GET: length of one write, bytes of another"
                    );
                    let n = raw(&mut r, &[&b"BITCOUNT"[..], b"k"]).as_int().unwrap() as usize;
                    let ones = |i: usize| len_of(i) * (i as u8).count_ones() as usize;
                    assert!((1..WRITES).any(|i| n == ones(i)), "BITCOUNT {n}");
                }
            })
        })
        .collect();
    writer.join().expect("writer");
    for r in readers {
        r.join().expect("reader");
    }
}
