//! HyperLogLog against a real redis-server: a seeded random stream of PFADD, PFCOUNT (one and
//! several keys), PFMERGE, GET of the raw value (byte for byte: sparse opcodes, promotion to
//! dense, the cached cardinality), DEL and wrong-type keys, replayed on both with every reply
//! compared exactly; a million distinct elements counted within the error bound; corrupt
//! values refused as Redis refuses them; a value DUMPed by Redis counted the same here.
//!
//! Knobs: `BASALT_DIFF_SEEDS=3,17` (default 201,202), `BASALT_DIFF_COMMANDS=n` (default 5000
//! per seed).

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use crate::harness::{
    cmd, escape_cmd, notice, raw, redis_server_available, RedisServer, Reply, Server,
};

const KEYS: &[&str] = &["h1", "h2", "h3", "big", "str", "list", "missing"];

fn next_command(rng: &mut StdRng) -> Vec<Vec<u8>> {
    let key = |rng: &mut StdRng| KEYS[rng.random_range(0..KEYS.len())].as_bytes().to_vec();
    let element = |rng: &mut StdRng| {
        // A few hot elements (no change), a wide range (sparse growth), now and then a burst.
        let n: u32 = if rng.random_bool(0.3) {
            rng.random_range(0..20)
        } else {
            rng.random_range(0..200_000)
        };
        format!("e{n}").into_bytes()
    };
    match rng.random_range(0..100) {
        0..=44 => {
            let mut c = vec![b"PFADD".to_vec(), key(rng)];
            let n = if rng.random_bool(0.1) {
                rng.random_range(100..1500)
            } else {
                rng.random_range(0..8)
            };
            c.extend((0..n).map(|_| element(rng)));
            c
        }
        45..=64 => {
            let mut c = vec![b"PFCOUNT".to_vec()];
            c.extend((0..rng.random_range(1..4)).map(|_| key(rng)));
            c
        }
        65..=74 => {
            let mut c = vec![b"PFMERGE".to_vec(), key(rng)];
            c.extend((0..rng.random_range(0..3)).map(|_| key(rng)));
            c
        }
        75..=89 => vec![b"GET".to_vec(), key(rng)],
        90..=93 => vec![b"DEL".to_vec(), key(rng)],
        94..=96 => vec![b"SET".to_vec(), b"str".to_vec(), b"not an hll".to_vec()],
        _ => vec![b"RPUSH".to_vec(), b"list".to_vec(), b"x".to_vec()],
    }
}

#[test]
fn differential_hyperloglog() {
    if !redis_server_available() {
        notice("SKIPPED: redis-server not installed (differential_hyperloglog)");
        return;
    }
    let seeds: Vec<u64> = std::env::var("BASALT_DIFF_SEEDS")
        .ok()
        .map(|s| s.split(',').filter_map(|x| x.trim().parse().ok()).collect())
        .unwrap_or_else(|| vec![201, 202]);
    let n: usize = std::env::var("BASALT_DIFF_COMMANDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(5000);
    let mut total = 0;
    for seed in seeds {
        let redis = RedisServer::start().expect("redis-server is available");
        let server = Server::start();
        let (mut r, mut b) = (redis.client(), server.client());
        let mut rng = StdRng::seed_from_u64(seed);
        for i in 0..n {
            let c = next_command(&mut rng);
            let (want, got) = (raw(&mut r, &c), raw(&mut b, &c));
            assert_eq!(
                got,
                want,
                "seed {seed} command {i}: {}",
                escape_cmd(&c).chars().take(300).collect::<String>()
            );
            total += 1;
        }
    }
    notice(&format!(
        "differential hyperloglog: {total} commands compared, 0 mismatches"
    ));
}

#[test]
fn a_million_elements_count_within_the_error_bound_and_as_redis_counts() {
    let server = Server::start();
    let mut b = server.client();
    let redis = RedisServer::start();
    let mut r = redis.as_ref().map(RedisServer::client);
    for chunk in 0..1000 {
        let mut c = vec![b"PFADD".to_vec(), b"million".to_vec()];
        c.extend((0..1000).map(|i| format!("user:{}", chunk * 1000 + i).into_bytes()));
        let got = raw(&mut b, &c);
        if let Some(r) = r.as_mut() {
            assert_eq!(got, raw(r, &c), "chunk {chunk}");
        }
    }
    let count = cmd(&mut b, &["PFCOUNT", "million"]).as_int().unwrap();
    // The standard error with 16384 registers is 0.81%; allow three of them.
    assert!((count - 1_000_000).abs() < 24_300, "PFCOUNT = {count}");
    if let Some(r) = r.as_mut() {
        assert_eq!(cmd(r, &["PFCOUNT", "million"]).as_int(), Some(count));
        assert_eq!(
            cmd(&mut b, &["GET", "million"]),
            cmd(r, &["GET", "million"])
        );
    }
}

#[test]
fn hll_from_redis_and_corrupt_values() {
    let Some(redis) = RedisServer::start() else {
        return;
    };
    let server = Server::start();
    let (mut r, mut b) = (redis.client(), server.client());
    cmd(&mut r, &["PFADD", "h", "a", "b", "c", "d"]);
    let payload = cmd(&mut r, &["DUMP", "h"]).as_bytes().unwrap().to_vec();
    assert_eq!(
        raw(&mut b, &[&b"RESTORE"[..], b"h", b"0", &payload]),
        Reply::ok()
    );
    assert_eq!(cmd(&mut b, &["PFCOUNT", "h"]), Reply::Int(4));
    assert_eq!(cmd(&mut r, &["PFCOUNT", "h"]), Reply::Int(4));
    assert_eq!(
        cmd(&mut b, &["PFADD", "h", "e"]),
        cmd(&mut r, &["PFADD", "h", "e"])
    );
    assert_eq!(cmd(&mut b, &["GET", "h"]), cmd(&mut r, &["GET", "h"]));
    // Sparse values whose opcodes do not cover the 16384 registers, or a bad header.
    let bad: &[&[u8]] = &[
        b"HYLL\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x80\x00",
        b"HYLL\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x80\x7f\xff\x00",
        b"HYLL\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x80\x00",
        b"HYLL\x02\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x80\x7f\xff",
        b"HYL",
    ];
    for value in bad {
        for c in [
            vec![&b"SET"[..], b"bad", value],
            vec![&b"PFCOUNT"[..], b"bad"],
            vec![&b"PFCOUNT"[..], b"bad", b"h"],
            vec![&b"PFADD"[..], b"bad", b"x", b"y", b"z"],
            vec![&b"PFMERGE"[..], b"dst", b"bad"],
            vec![&b"GET"[..], b"bad"],
        ] {
            assert_eq!(raw(&mut b, &c), raw(&mut r, &c), "{}", escape_cmd(&c));
        }
    }
    for c in [
        vec!["PFADD"],
        vec!["PFCOUNT"],
        vec!["PFMERGE"],
        vec!["PFADD", "new"],
        vec!["PFCOUNT", "new"],
        vec!["GET", "new"],
        vec!["PFMERGE", "fresh"],
        vec!["GET", "fresh"],
    ] {
        assert_eq!(cmd(&mut b, &c), cmd(&mut r, &c), "{c:?}");
    }
}
