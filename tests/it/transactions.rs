//! MULTI/EXEC/DISCARD/WATCH/UNWATCH: queueing, EXECABORT, WATCH through every write path, and
//! isolation under concurrency.

use crate::blocking::{recv, send, wait_blocked};
use crate::harness::{raw, Reply, Server};
use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

fn ok() -> Reply {
    Reply::ok()
}

fn queued() -> Reply {
    Reply::Simple("QUEUED".into())
}

#[test]
fn queued_commands_run_in_order_with_per_command_errors() {
    let srv = Server::start();
    let mut c = srv.client();
    assert_eq!(raw(&mut c, &["MULTI"]), ok());
    for cmd in [
        &["INCR", "a"][..],
        &["LPUSH", "a", "x"],
        &["INCR", "a"],
        &["BLPOP", "q", "0"],
        &["GET", "a"],
    ] {
        assert_eq!(raw(&mut c, cmd), queued(), "{cmd:?}");
    }
    assert_eq!(
        raw(&mut c, &["EXEC"]),
        Reply::Array(vec![
            Reply::Int(1),
            Reply::Error(
                "WRONGTYPE Operation against a key holding the wrong kind of value".into()
            ),
            Reply::Int(2),
            Reply::Nil,
            Reply::bulk("2"),
        ])
    );
    assert_eq!(raw(&mut c, &["MULTI"]), ok());
    assert_eq!(raw(&mut c, &["EXEC"]), Reply::Array(vec![]));
}

#[test]
fn refused_commands_abort_the_transaction_and_misuse_is_reported() {
    let srv = Server::start();
    let mut c = srv.client();
    let err =
        |c: &mut redis::Connection, args: &[&str]| raw(c, args).error_text().map(String::from);
    assert_eq!(
        err(&mut c, &["EXEC"]).as_deref(),
        Some("ERR EXEC without MULTI")
    );
    assert_eq!(
        err(&mut c, &["DISCARD"]).as_deref(),
        Some("ERR DISCARD without MULTI")
    );
    raw(&mut c, &["MULTI"]);
    assert_eq!(
        err(&mut c, &["MULTI"]).as_deref(),
        Some("ERR MULTI calls can not be nested")
    );
    assert_eq!(
        err(&mut c, &["WATCH", "k"]).as_deref(),
        Some("ERR WATCH inside MULTI is not allowed")
    );
    // Neither of those dooms the transaction.
    assert_eq!(raw(&mut c, &["SET", "k", "1"]), queued());
    assert_eq!(raw(&mut c, &["EXEC"]), Reply::Array(vec![ok()]));

    raw(&mut c, &["MULTI"]);
    raw(&mut c, &["SET", "k", "2"]);
    assert!(raw(&mut c, &["SET", "k"]).is_error());
    assert_eq!(
        err(&mut c, &["EXEC"]).as_deref(),
        Some("EXECABORT Transaction discarded because of previous errors.")
    );
    raw(&mut c, &["MULTI"]);
    raw(&mut c, &["SET", "k", "3"]);
    assert!(raw(&mut c, &["NOSUCHCOMMAND"]).is_error());
    assert!(raw(&mut c, &["EXEC"]).is_error());
    assert_eq!(raw(&mut c, &["GET", "k"]), Reply::bulk("1"));

    raw(&mut c, &["MULTI"]);
    raw(&mut c, &["SET", "k", "4"]);
    assert_eq!(raw(&mut c, &["DISCARD"]), ok());
    assert_eq!(raw(&mut c, &["GET", "k"]), Reply::bulk("1"));
}

#[test]
fn watch_fails_exec_after_a_change_through_any_path() {
    let srv = Server::start();
    let mut c = srv.client();
    let mut other = srv.client();
    // Each case: prepare (by this client), change (by the other client, or by this one), and
    // whether EXEC must fail.
    type Case<'a> = (&'a [&'a [&'a str]], &'a [&'a [&'a str]], bool);
    let cases: &[Case<'_>] = &[
        (&[&["SET", "k", "1"]], &[], false),
        (&[&["SET", "k", "1"]], &[&["SET", "k", "2"]], true),
        (&[&["SET", "k", "1"]], &[&["DEL", "k"]], true),
        (&[&["SET", "k", "1"]], &[&["EXPIRE", "k", "100"]], true),
        (
            &[&["HSET", "k", "f", "1"]],
            &[&["HSET", "k", "f", "2"]],
            true,
        ),
        (
            &[&["RPUSH", "k", "a", "b"]],
            &[&["LSET", "k", "0", "z"]],
            true,
        ),
        (
            &[&["ZADD", "k", "1", "m"]],
            &[&["ZADD", "k", "2", "m"]],
            true,
        ),
        (&[&["SET", "src", "v"]], &[&["RENAME", "src", "k"]], true),
        (&[&["SET", "k", "1"]], &[&["FLUSHDB"]], true),
        (
            &[&["SET", "k", "1"]],
            &[&["SWAPDB", "0", "1"], &["SWAPDB", "0", "1"]],
            true,
        ),
        (&[], &[&["SET", "k", "new"]], true),
        (&[&["SET", "k", "1"]], &[&["SET", "unrelated", "1"]], false),
    ];
    for (prepare, change, fails) in cases {
        raw(&mut c, &["FLUSHALL"]);
        for cmd in *prepare {
            raw(&mut c, cmd);
        }
        assert_eq!(raw(&mut c, &["WATCH", "k"]), ok());
        for cmd in *change {
            let r = raw(&mut other, cmd);
            assert!(!r.is_error(), "{cmd:?}: {r}");
        }
        raw(&mut c, &["MULTI"]);
        raw(&mut c, &["SET", "done", "1"]);
        let r = raw(&mut c, &["EXEC"]);
        let expected = if *fails {
            Reply::Nil
        } else {
            Reply::Array(vec![ok()])
        };
        assert_eq!(r, expected, "prepare {prepare:?} change {change:?}");
    }

    // A change by the watching client itself counts too; UNWATCH forgets.
    raw(&mut c, &["WATCH", "k"]);
    raw(&mut c, &["SET", "k", "mine"]);
    raw(&mut c, &["MULTI"]);
    assert_eq!(raw(&mut c, &["EXEC"]), Reply::Nil);
    raw(&mut c, &["WATCH", "k"]);
    raw(&mut other, &["SET", "k", "theirs"]);
    raw(&mut c, &["UNWATCH"]);
    raw(&mut c, &["MULTI"]);
    assert_eq!(raw(&mut c, &["EXEC"]), Reply::Array(vec![]));
}

#[test]
fn a_watched_key_that_expires_fails_exec() {
    let srv = Server::start();
    let mut c = srv.client();
    raw(&mut c, &["SET", "k", "v", "PX", "50"]);
    raw(&mut c, &["WATCH", "k"]);
    std::thread::sleep(Duration::from_millis(120));
    raw(&mut c, &["MULTI"]);
    raw(&mut c, &["GET", "k"]);
    assert_eq!(raw(&mut c, &["EXEC"]), Reply::Nil);
}

#[test]
fn exec_wakes_blocked_clients_after_the_transaction() {
    let srv = Server::start();
    let mut c = srv.client();
    let mut w = srv.client();
    send(&mut w, &["BLPOP", "q", "0"]);
    wait_blocked(&mut c, 1);
    raw(&mut c, &["MULTI"]);
    raw(&mut c, &["RPUSH", "q", "a"]);
    raw(&mut c, &["RPUSH", "q", "b"]);
    assert_eq!(
        raw(&mut c, &["EXEC"]),
        Reply::Array(vec![Reply::Int(1), Reply::Int(2)])
    );
    // Served after EXEC, from the whole transaction's result.
    assert_eq!(
        recv(&mut w),
        Reply::Array(vec![Reply::bulk("q"), Reply::bulk("a")])
    );
    assert_eq!(
        raw(&mut c, &["LRANGE", "q", "0", "-1"]),
        Reply::Array(vec![Reply::bulk("b")])
    );
}

/// Transfers between counters in transactions while readers sum them: no reader ever sees a
/// transfer half done, and the total never changes.
#[test]
fn transactions_are_isolated_from_concurrent_readers() {
    const COUNTERS: usize = 8;
    const WRITERS: usize = 4;
    const TRANSFERS: usize = 300;
    let srv = Server::start();
    let mut c = srv.client();
    let keys: Vec<String> = (0..COUNTERS).map(|i| format!("acct:{i}")).collect();
    for k in &keys {
        raw(&mut c, &["SET", k, "1000"]);
    }
    let total = (COUNTERS * 1000) as i64;
    let stop = Arc::new(AtomicBool::new(false));
    let readers: Vec<_> = (0..2)
        .map(|_| {
            let mut r = srv.client();
            let keys = keys.clone();
            let stop = stop.clone();
            std::thread::spawn(move || {
                let mut reads = 0;
                while !stop.load(Ordering::SeqCst) {
                    let mut args = vec!["MGET"];
                    args.extend(keys.iter().map(String::as_str));
                    let Reply::Array(vals) = raw(&mut r, &args) else {
                        panic!("MGET failed");
                    };
                    let sum: i64 = vals
                        .iter()
                        .map(|v| {
                            let b = v.as_bytes().expect("a counter");
                            String::from_utf8_lossy(b).parse::<i64>().expect("a number")
                        })
                        .sum();
                    assert_eq!(sum, total, "a reader saw a transfer half done");
                    reads += 1;
                }
                reads
            })
        })
        .collect();
    let writers: Vec<_> = (0..WRITERS)
        .map(|w| {
            let mut cw = srv.client();
            let keys = keys.clone();
            std::thread::spawn(move || {
                for i in 0..TRANSFERS {
                    let from = &keys[(w + i) % COUNTERS];
                    let to = &keys[(w * 3 + i * 7 + 1) % COUNTERS];
                    let amount = ((i % 13) + 1).to_string();
                    let mut pipe = redis::pipe();
                    pipe.atomic()
                        .cmd("DECRBY")
                        .arg(from)
                        .arg(&amount)
                        .cmd("INCRBY")
                        .arg(to)
                        .arg(&amount);
                    let _: Vec<i64> = pipe.query(&mut cw).expect("transfer");
                }
            })
        })
        .collect();
    for w in writers {
        w.join().expect("writer");
    }
    stop.store(true, Ordering::SeqCst);
    for r in readers {
        assert!(r.join().expect("reader") > 0);
    }
    let mut args = vec!["MGET"];
    args.extend(keys.iter().map(String::as_str));
    let Reply::Array(vals) = raw(&mut c, &args) else {
        panic!("MGET");
    };
    let sum: i64 = vals
        .iter()
        .map(|v| {
            String::from_utf8_lossy(v.as_bytes().unwrap())
                .parse::<i64>()
                .unwrap()
        })
        .sum();
    assert_eq!(sum, total);
}

/// The optimistic-locking loop clients use (redis-py's `transaction()` helper): WATCH, read,
/// MULTI, write, EXEC, retry on a nil EXEC. Concurrent incrementers end exact.
#[test]
fn watch_retry_loops_from_many_clients_end_exact() {
    const CLIENTS: usize = 4;
    const ROUNDS: usize = 100;
    let srv = Server::start();
    let threads: Vec<_> = (0..CLIENTS)
        .map(|_| {
            let mut c = srv.client();
            std::thread::spawn(move || {
                let mut retries = 0;
                for _ in 0..ROUNDS {
                    loop {
                        raw(&mut c, &["WATCH", "counter"]);
                        let now = match raw(&mut c, &["GET", "counter"]) {
                            Reply::Bulk(b) => String::from_utf8_lossy(&b).parse::<i64>().unwrap(),
                            _ => 0,
                        };
                        raw(&mut c, &["MULTI"]);
                        raw(&mut c, &["SET", "counter", &(now + 1).to_string()]);
                        match raw(&mut c, &["EXEC"]) {
                            Reply::Array(_) => break,
                            Reply::Nil => retries += 1,
                            other => panic!("EXEC replied {other}"),
                        }
                    }
                }
                retries
            })
        })
        .collect();
    for t in threads {
        t.join().expect("client");
    }
    let mut c = srv.client();
    assert_eq!(
        raw(&mut c, &["GET", "counter"]),
        Reply::bulk((CLIENTS * ROUNDS).to_string())
    );
}

#[test]
fn a_pipeline_of_ten_thousand_commands_with_and_without_multi() {
    let srv = Server::start();
    let mut c = srv.client();
    for atomic in [false, true] {
        let mut pipe = redis::pipe();
        if atomic {
            pipe.atomic();
        }
        for i in 0..10_000 {
            pipe.cmd("RPUSH").arg(format!("l{atomic}")).arg(i);
        }
        let lens: Vec<i64> = pipe.query(&mut c).expect("pipeline");
        assert_eq!(lens.len(), 10_000);
        assert_eq!(lens.last(), Some(&10_000));
    }
    assert_eq!(raw(&mut c, &["LLEN", "ltrue"]), Reply::Int(10_000));
}

/// A transaction's writes survive a restart with exact key counts, including a FLUSHDB inside it.
#[test]
fn a_transaction_is_durable_with_exact_counts_across_a_kill() {
    let mut srv = Server::start();
    let mut c = srv.client();
    raw(&mut c, &["SET", "before", "1"]);
    raw(&mut c, &["MULTI"]);
    raw(&mut c, &["SET", "gone", "1"]);
    raw(&mut c, &["FLUSHDB"]);
    raw(&mut c, &["SET", "a", "1"]);
    raw(&mut c, &["RPUSH", "l", "x", "y"]);
    raw(&mut c, &["SET", "t", "v", "EX", "100"]);
    raw(&mut c, &["INCR", "a"]);
    assert!(matches!(raw(&mut c, &["EXEC"]), Reply::Array(_)));
    srv.kill9();
    srv.restart();
    let mut c = srv.client();
    assert_eq!(raw(&mut c, &["DBSIZE"]), Reply::Int(3));
    assert_eq!(raw(&mut c, &["GET", "a"]), Reply::bulk("2"));
    assert_eq!(raw(&mut c, &["EXISTS", "before", "gone"]), Reply::Int(0));
    assert_eq!(raw(&mut c, &["LLEN", "l"]), Reply::Int(2));
    let Reply::Bulk(info) = raw(&mut c, &["INFO", "keyspace"]) else {
        panic!("INFO keyspace");
    };
    assert!(
        String::from_utf8_lossy(&info).contains("db0:keys=3,expires=1"),
        "{}",
        String::from_utf8_lossy(&info)
    );
}

/// A process killed while EXEC runs keeps all of the transaction or none of it: its writes
/// reach the WAL as one record.
#[test]
fn a_kill_during_exec_keeps_all_or_nothing() {
    const N: usize = 200_000;
    let mut srv = Server::start();
    let mut s = crate::harness::raw_tcp(srv.port());
    let mut req = Vec::with_capacity(N * 40);
    req.extend_from_slice(b"MULTI\r\n");
    for i in 0..N {
        req.extend_from_slice(format!("SET key:{i} v\r\n").as_bytes());
    }
    s.write_all(&req).expect("send the transaction");
    // Every command is queued once the last QUEUED arrives; then EXEC, and a kill a few
    // milliseconds later, most likely while EXEC is applying its writes (tens of ms).
    let mut queued = 0;
    let mut buf = [0u8; 65536];
    let mut carry = Vec::new();
    while queued < N {
        let n = std::io::Read::read(&mut s, &mut buf).expect("read replies");
        assert!(n > 0, "connection closed after {queued} replies");
        carry.extend_from_slice(&buf[..n]);
        queued += carry.windows(9).filter(|w| w == b"+QUEUED\r\n").count();
        let keep = carry.len().min(8);
        carry.drain(..carry.len() - keep);
    }
    s.write_all(b"EXEC\r\n").expect("send EXEC");
    std::thread::sleep(Duration::from_millis(5));
    srv.kill9();
    srv.restart();
    let mut c = srv.client();
    let Reply::Int(n) = raw(&mut c, &["DBSIZE"]) else {
        panic!("DBSIZE");
    };
    assert!(
        n == 0 || n == N as i64,
        "a partial transaction survived: {n} of {N} keys"
    );
    let Reply::Array(keys) = raw(&mut c, &["KEYS", "*"]) else {
        panic!("KEYS");
    };
    assert_eq!(keys.len() as i64, n, "DBSIZE and the keys disagree");
}

#[test]
fn client_list_shows_a_transaction_being_queued() {
    let srv = Server::start();
    let mut c = srv.client();
    let mut other = srv.client();
    let Reply::Int(id) = raw(&mut c, &["CLIENT", "ID"]) else {
        panic!("CLIENT ID");
    };
    let line = |other: &mut redis::Connection| match raw(
        other,
        &["CLIENT", "LIST", "ID", &id.to_string()],
    ) {
        Reply::Bulk(b) => String::from_utf8_lossy(&b).into_owned(),
        r => panic!("CLIENT LIST: {r}"),
    };
    assert!(line(&mut other).contains(" flags=N db=0 sub=0 psub=0 ssub=0 multi=-1 "));
    raw(&mut c, &["MULTI"]);
    raw(&mut c, &["SET", "a", "1"]);
    raw(&mut c, &["SET", "b", "1"]);
    assert!(line(&mut other).contains(" flags=x db=0 sub=0 psub=0 ssub=0 multi=2 "));
    raw(&mut c, &["EXEC"]);
    assert!(line(&mut other).contains(" multi=-1 "));
}
