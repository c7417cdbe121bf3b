//! Concurrency: read-modify-write commands from many clients on shared keys end exact.

use crate::harness::{raw, Reply, Server};
use std::sync::{Arc, Barrier};

/// 16 clients each APPEND 250 one-byte chunks to one key while INCRBY-ing another: nothing is
/// lost, and each client's bytes appear exactly 250 times.
#[test]
fn concurrent_append_and_incrby_are_exact() {
    const CLIENTS: usize = 16;
    const ROUNDS: usize = 250;
    let srv = Server::start();
    let barrier = Arc::new(Barrier::new(CLIENTS));
    let threads: Vec<_> = (0..CLIENTS)
        .map(|t| {
            let mut c = srv.client();
            let barrier = barrier.clone();
            std::thread::spawn(move || {
                barrier.wait();
                let chunk = [b'a' + t as u8];
                for _ in 0..ROUNDS {
                    let r = raw(&mut c, &[&b"APPEND"[..], &b"log"[..], &chunk[..]]);
                    assert!(matches!(r, Reply::Int(_)), "APPEND replied {r}");
                    let r = raw(&mut c, &["INCRBY", "total", "3"]);
                    assert!(matches!(r, Reply::Int(_)), "INCRBY replied {r}");
                }
            })
        })
        .collect();
    for t in threads {
        t.join().expect("client thread");
    }
    let mut c = srv.client();
    let Reply::Bulk(log) = raw(&mut c, &["GET", "log"]) else {
        panic!("GET log is not a bulk string");
    };
    assert_eq!(log.len(), CLIENTS * ROUNDS);
    for t in 0..CLIENTS {
        let n = log.iter().filter(|&&b| b == b'a' + t as u8).count();
        assert_eq!(n, ROUNDS, "client {t}'s appends");
    }
    assert_eq!(
        raw(&mut c, &["GET", "total"]),
        Reply::bulk((CLIENTS * ROUNDS * 3).to_string())
    );
}

/// In each round 8 clients race MSETNX over the same three keys: exactly one wins, and all three
/// keys hold the winner's value (all-or-nothing, never a mix).
#[test]
fn concurrent_msetnx_is_all_or_nothing() {
    const CLIENTS: usize = 8;
    const ROUNDS: usize = 60;
    let srv = Server::start();
    let barrier = Arc::new(Barrier::new(CLIENTS));
    let threads: Vec<_> = (0..CLIENTS)
        .map(|t| {
            let mut c = srv.client();
            let barrier = barrier.clone();
            std::thread::spawn(move || {
                let mut wins = Vec::new();
                for r in 0..ROUNDS {
                    barrier.wait();
                    let (a, b, k) = (format!("{r}:a"), format!("{r}:b"), format!("{r}:c"));
                    let v = t.to_string();
                    // Different key orders per client exercise the ordered multi-key locking.
                    let args: Vec<&str> = if t % 2 == 0 {
                        vec!["MSETNX", &a, &v, &b, &v, &k, &v]
                    } else {
                        vec!["MSETNX", &k, &v, &b, &v, &a, &v]
                    };
                    match raw(&mut c, &args) {
                        Reply::Int(1) => wins.push(r),
                        Reply::Int(0) => {}
                        other => panic!("MSETNX replied {other}"),
                    }
                }
                wins
            })
        })
        .collect();
    let mut winners = vec![Vec::new(); ROUNDS];
    for (t, th) in threads.into_iter().enumerate() {
        for r in th.join().expect("client thread") {
            winners[r].push(t);
        }
    }
    let mut c = srv.client();
    for (r, w) in winners.iter().enumerate() {
        assert_eq!(w.len(), 1, "round {r}: winners {w:?}");
        let expect = Reply::bulk(w[0].to_string());
        for suffix in ["a", "b", "c"] {
            assert_eq!(
                raw(&mut c, &["GET", &format!("{r}:{suffix}")]),
                expect,
                "round {r}"
            );
        }
    }
    assert_eq!(raw(&mut c, &["DBSIZE"]), Reply::Int((ROUNDS * 3) as i64));
}
