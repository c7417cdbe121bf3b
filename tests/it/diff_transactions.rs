//! Differential test of transactions against a real redis-server: seeded random sequences of
//! MULTI / queued commands (valid, failing at run time, refused at queue time) / EXEC or DISCARD,
//! with WATCH and UNWATCH and writes to watched keys by the same client, replayed on both and
//! compared exactly, RESP2 and RESP3 alternating by seed.
//!
//! Knobs: `BASALT_TDIFF_SEEDS=1,2` (default 1..=4), `BASALT_TDIFF_COMMANDS=n` (default 5000 per
//! seed), `BASALT_TDIFF_TRACE=1`.

use crate::harness::{escape_cmd, notice, pipeline, RedisServer, Server};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

const KEYS: &[&str] = &["a", "b", "l", "h", "w"];

fn b(s: &str) -> Vec<u8> {
    s.as_bytes().to_vec()
}

/// A command from the small family the transactions are built of; blocking ones only inside
/// MULTI, where they reply at once as if timed out.
fn command(rng: &mut StdRng, in_multi: bool) -> Vec<Vec<u8>> {
    let key = b(KEYS[rng.random_range(0..KEYS.len())]);
    let n = rng.random_range(-3..20).to_string();
    let args: Vec<Vec<u8>> = match rng.random_range(0..16) {
        0 => vec![b("SET"), key, b(&n)],
        1 => vec![b("GET"), key],
        2 => vec![b("INCR"), key],
        3 => vec![b("INCRBY"), key, b(&n)],
        4 => vec![b("RPUSH"), key, b(&n), b("x")],
        5 => vec![b("LPOP"), key],
        6 => vec![b("LRANGE"), key, b("0"), b("-1")],
        7 => vec![b("HSET"), key, b("f"), b(&n)],
        8 => vec![b("DEL"), key],
        9 => vec![b("EXPIRE"), key, b("100")],
        10 => vec![b("PERSIST"), key],
        // Refused at queue time: wrong arity, unknown command.
        11 => vec![b("SET"), key],
        12 => vec![b("NOSUCHCMD"), key],
        13 if in_multi => vec![b("BLPOP"), key, b("0")],
        14 if in_multi => vec![b("BZPOPMIN"), key, b("0")],
        _ => vec![b("EXISTS"), key],
    };
    args
}

/// The next step: transaction control or a plain command. `in_multi` follows what the servers
/// will be in after it (MULTI inside MULTI is an error that changes nothing).
fn next(rng: &mut StdRng, in_multi: &mut bool) -> Vec<Vec<u8>> {
    match rng.random_range(0..20) {
        0..=2 => {
            *in_multi = true;
            vec![b("MULTI")]
        }
        3..=4 => {
            *in_multi = false;
            vec![b("EXEC")]
        }
        5 => {
            *in_multi = false;
            vec![b("DISCARD")]
        }
        6..=7 => {
            let mut args = vec![b("WATCH")];
            for _ in 0..rng.random_range(1..3) {
                args.push(b(KEYS[rng.random_range(0..KEYS.len())]));
            }
            args
        }
        8 => vec![b("UNWATCH")],
        _ => command(rng, *in_multi),
    }
}

fn env_list(name: &str) -> Option<Vec<u64>> {
    std::env::var(name)
        .ok()
        .map(|v| v.split(',').filter_map(|s| s.trim().parse().ok()).collect())
}

#[test]
fn differential_transactions() {
    let Some(redis_srv) = RedisServer::start() else {
        return;
    };
    let basalt_srv = Server::start();
    let n: usize = std::env::var("BASALT_TDIFF_COMMANDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(5000);
    let trace = std::env::var("BASALT_TDIFF_TRACE").is_ok_and(|v| v == "1");
    let mut rc = redis_srv.client();
    let mut bc = basalt_srv.client();
    let mut compared = 0usize;
    let mut mismatches = Vec::new();
    const CHUNK: usize = 100;
    'seeds: for seed in env_list("BASALT_TDIFF_SEEDS").unwrap_or_else(|| (1..=4).collect()) {
        // Leave any transaction of the previous seed, then start clean.
        let reset = vec![vec![b("RESET")], vec![b("FLUSHALL")]];
        pipeline(&mut rc, &reset);
        pipeline(&mut bc, &reset);
        let hello = vec![vec![b("HELLO"), b(if seed % 2 == 0 { "3" } else { "2" })]];
        pipeline(&mut rc, &hello);
        pipeline(&mut bc, &hello);
        let mut rng = StdRng::seed_from_u64(seed);
        let mut in_multi = false;
        let stream: Vec<Vec<Vec<u8>>> = (0..n).map(|_| next(&mut rng, &mut in_multi)).collect();
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
    }
    notice(&format!(
        "differential transactions: {compared} commands compared, {} mismatches",
        mismatches.len()
    ));
    assert!(mismatches.is_empty(), "{}", mismatches.join("\n"));
}
