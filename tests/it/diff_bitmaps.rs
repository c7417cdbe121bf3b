//! Bitmaps against a real redis-server: a seeded random stream of SETBIT, GETBIT, BITCOUNT,
//! BITPOS (byte and bit ranges, negative indexes), BITOP over keys of different lengths,
//! BITFIELD and BITFIELD_RO (every width, `#` offsets, WRAP/SAT/FAIL overflow), mixed with
//! GET, GETRANGE, STRLEN, SET, APPEND, SETRANGE, COPY, RENAME, EXPIRE/TTL, DEL and wrong-type
//! keys, with every reply compared exactly.
//!
//! Offsets and lengths cross Basalt's inline/fragmented switch point (`INLINE_MAX`) and many
//! fragment boundaries: some bits land tens of kilobytes (and, rarely, a megabyte) in, SET
//! writes large values inline that partial writes then convert, and SETRANGE/APPEND write runs
//! longer than a fragment, so every command runs on both representations.
//!
//! Knobs: `BASALT_DIFF_SEEDS=3,17` (default 301,302), `BASALT_DIFF_COMMANDS=n` (default 5000
//! per seed).

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use crate::harness::{escape_cmd, notice, raw, redis_server_available, RedisServer, Reply, Server};

/// Basalt's switch point from inline to fragmented values (`storage::strings::INLINE_MAX`).
const INLINE_MAX: i64 = basalt::storage::strings::INLINE_MAX as i64;

const KEYS: &[&str] = &["b1", "b2", "b3", "num", "list", "missing"];

fn pick<'a>(rng: &mut StdRng, xs: &[&'a str]) -> &'a str {
    xs[rng.random_range(0..xs.len())]
}

/// A bit offset: mostly in the first bytes, often past the switch point (4 KB = 32768 bits) and
/// across fragment boundaries, rarely a megabyte in; sometimes invalid.
fn offset(rng: &mut StdRng) -> String {
    match rng.random_range(0..40) {
        0 | 1 => pick(rng, &["-1", "4294967296", "abc", "1.5", "", "34359738368"]).to_string(),
        2..=4 => rng.random_range(0..20_000).to_string(),
        5..=9 => rng.random_range(30_000..300_000).to_string(),
        // Right around fragment (and switch point) boundaries.
        10..=12 => (rng.random_range(1..9u64) * 32_768 + rng.random_range(0..16) - 8).to_string(),
        13 if rng.random_bool(0.1) => rng.random_range(0..8_388_608).to_string(),
        _ => rng.random_range(0..200).to_string(),
    }
}

fn index(rng: &mut StdRng) -> String {
    match rng.random_range(0..20) {
        0 => pick(rng, &["x", "9223372036854775807", "-9223372036854775808"]).to_string(),
        1..=4 => rng.random_range(-40_000..40_000).to_string(),
        5 => rng.random_range(-400_000..400_000).to_string(),
        _ => rng.random_range(-40..40).to_string(),
    }
}

/// A value for SET, APPEND or SETRANGE: usually short, sometimes longer than a fragment.
fn payload(rng: &mut StdRng) -> String {
    match rng.random_range(0..10) {
        0 => {
            let len = rng.random_range(1_000..12_000);
            pick(rng, &["a", "\u{0}", "\u{ff}", "z"]).repeat(len)
        }
        1 => (0..rng.random_range(100..6_000))
            .map(|i| char::from(b'a' + (i % 26) as u8))
            .collect(),
        _ => pick(rng, &["\u{1}", "ab", "\u{ff}", "xyz", "\u{0}\u{0}"]).to_string(),
    }
}

fn field_type(rng: &mut StdRng) -> String {
    match rng.random_range(0..25) {
        0 => pick(rng, &["u64", "i65", "i0", "x8", "I8", "u"]).to_string(),
        _ => {
            let signed = rng.random_bool(0.5);
            let bits = rng.random_range(1..=if signed { 64 } else { 63 });
            format!("{}{bits}", if signed { 'i' } else { 'u' })
        }
    }
}

fn field_value(rng: &mut StdRng) -> String {
    match rng.random_range(0..6) {
        0 => pick(
            rng,
            &[
                "9223372036854775807",
                "-9223372036854775808",
                "255",
                "256",
                "-129",
                "notanumber",
            ],
        )
        .to_string(),
        1 => rng.random::<i64>().to_string(),
        _ => rng.random_range(-300..300).to_string(),
    }
}

fn next_command(rng: &mut StdRng) -> Vec<String> {
    let key = pick(rng, KEYS).to_string();
    let s = |x: &str| x.to_string();
    match rng.random_range(0..100) {
        0..=19 => {
            let bit = pick(rng, &["0", "1", "1", "2", "-1"]);
            vec![s("SETBIT"), key, offset(rng), s(bit)]
        }
        20..=27 => vec![s("GETBIT"), key, offset(rng)],
        28..=39 => {
            let mut c = vec![s("BITCOUNT"), key];
            match rng.random_range(0..5) {
                0 => {}
                1 => c.push(index(rng)),
                2 | 3 => c.extend([index(rng), index(rng)]),
                _ => c.extend([
                    index(rng),
                    index(rng),
                    s(pick(rng, &["BIT", "BYTE", "bit", "nope"])),
                ]),
            }
            c
        }
        40..=51 => {
            let mut c = vec![s("BITPOS"), key, s(pick(rng, &["0", "1", "1", "2"]))];
            match rng.random_range(0..5) {
                0 => {}
                1 => c.push(index(rng)),
                2 | 3 => c.extend([index(rng), index(rng)]),
                _ => c.extend([
                    index(rng),
                    index(rng),
                    s(pick(rng, &["BIT", "BYTE", "nope"])),
                ]),
            }
            c
        }
        52..=59 => {
            let op = pick(rng, &["AND", "OR", "XOR", "NOT", "not", "nand"]);
            let mut c = vec![s("BITOP"), s(op), pick(rng, KEYS).to_string()];
            let n = if op.eq_ignore_ascii_case("not") && rng.random_bool(0.8) {
                1
            } else {
                rng.random_range(1..4)
            };
            c.extend((0..n).map(|_| pick(rng, KEYS).to_string()));
            c
        }
        60..=74 => {
            let name = if rng.random_bool(0.2) {
                "BITFIELD_RO"
            } else {
                "BITFIELD"
            };
            let mut c = vec![s(name), key];
            for _ in 0..rng.random_range(0..4) {
                match rng.random_range(0..10) {
                    0..=3 => {
                        let off = if rng.random_bool(0.3) {
                            format!("#{}", rng.random_range(0..20))
                        } else {
                            offset(rng)
                        };
                        c.extend([s("GET"), field_type(rng), off]);
                    }
                    4 | 5 => c.extend([s("SET"), field_type(rng), offset(rng), field_value(rng)]),
                    6 | 7 => {
                        c.extend([s("INCRBY"), field_type(rng), offset(rng), field_value(rng)])
                    }
                    8 => c.extend([
                        s("OVERFLOW"),
                        s(pick(rng, &["WRAP", "SAT", "FAIL", "fail", "bad"])),
                    ]),
                    _ => c.push(s(pick(rng, &["GET", "bogus"]))),
                }
            }
            c
        }
        75..=78 => vec![s("GET"), key],
        79 => vec![s("STRLEN"), key],
        80..=81 => vec![s("GETRANGE"), key, index(rng), index(rng)],
        82..=84 => vec![s("APPEND"), key, payload(rng)],
        85..=87 => {
            let at = if rng.random_bool(0.5) {
                rng.random_range(0..50)
            } else {
                rng.random_range(0..40_000)
            };
            vec![s("SETRANGE"), key, at.to_string(), payload(rng)]
        }
        88 => vec![s("SET"), key, payload(rng)],
        89..=90 => vec![s("SET"), s("num"), s(pick(rng, &["12345", "-7", "0"]))],
        91 => vec![s("RPUSH"), s("list"), s("x")],
        92 => {
            let (a, b) = (pick(rng, KEYS).to_string(), pick(rng, KEYS).to_string());
            match rng.random_range(0..3) {
                0 => vec![s("COPY"), a, b, s("REPLACE")],
                1 => vec![s("RENAME"), a, b],
                _ => vec![s("COPY"), a, b],
            }
        }
        93..=94 => vec![s("EXPIRE"), key, s("1000")],
        95..=96 => vec![s("TTL"), key],
        _ => vec![s("DEL"), key],
    }
}

/// A reply for a failure message: long bulk strings are summarised.
fn show(r: &Reply) -> String {
    let text = r.to_string();
    if text.len() <= 300 {
        return text;
    }
    format!("{}... ({} chars)", prefix(&text, 300), text.len())
}

/// At most `n` bytes of `s`, cut at a character boundary.
fn prefix(s: &str, n: usize) -> &str {
    let mut end = n.min(s.len());
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

/// Where two long replies first differ.
fn first_difference(a: &str, b: &str) -> usize {
    a.bytes().zip(b.bytes()).take_while(|(x, y)| x == y).count()
}

#[test]
fn differential_bitmaps() {
    if !redis_server_available() {
        notice("SKIPPED: redis-server not installed (differential_bitmaps)");
        return;
    }
    let seeds: Vec<u64> = std::env::var("BASALT_DIFF_SEEDS")
        .ok()
        .map(|s| s.split(',').filter_map(|x| x.trim().parse().ok()).collect())
        .unwrap_or_else(|| vec![301, 302]);
    let n: usize = std::env::var("BASALT_DIFF_COMMANDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(5000);
    let mut total = 0;
    // Commands that read a value past the inline limit (GET, GETRANGE and STRLEN replies), to
    // show the run covered the fragmented form.
    let mut large = 0;
    let strlen_large = |c: &[String], reply: &Reply| {
        c[0] == "STRLEN" && matches!(reply, Reply::Int(n) if *n > INLINE_MAX)
    };
    for seed in seeds {
        let redis = RedisServer::start().expect("redis-server is available");
        let server = Server::start();
        let (mut r, mut b) = (redis.client(), server.client());
        let mut rng = StdRng::seed_from_u64(seed);
        for i in 0..n {
            let c = next_command(&mut rng);
            let (want, got) = (raw(&mut r, &c), raw(&mut b, &c));
            if got != want {
                let cmd = escape_cmd(&c);
                let cmd = prefix(&cmd, 300);
                let (g, w) = (got.to_string(), want.to_string());
                panic!(
                    "seed {seed} command {i}: {cmd}\n basalt: {}\n  redis: {}\n first difference at char {}",
                    show(&got),
                    show(&want),
                    first_difference(&g, &w)
                );
            }
            total += 1;
            if strlen_large(&c, &got)
                || matches!(&got, Reply::Bulk(v) if v.len() as i64 > INLINE_MAX)
            {
                large += 1;
            }
        }
    }
    notice(&format!(
        "differential bitmaps: {total} commands compared, 0 mismatches; {large} read values \
         longer than the inline limit"
    ));
    assert!(
        total < 2000 || large > 0,
        "the run never read a value past the inline limit"
    );
}
