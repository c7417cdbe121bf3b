//! Blocking commands: first-come first-served waiters, wake-ups from every write path, timeouts,
//! CLIENT UNBLOCK, disconnects and kills, pipelining behind a blocked command.

use crate::harness::{raw, Reply, Server};
use std::io::Write;
use std::time::{Duration, Instant};

/// Sends a command without waiting for its reply.
pub fn send<A: AsRef<[u8]>>(conn: &mut redis::Connection, args: &[A]) {
    let mut c = redis::Cmd::new();
    for a in args {
        c.arg(a.as_ref());
    }
    conn.send_packed_command(&c.get_packed_command())
        .expect("send command");
}

/// Receives the next reply on a connection.
pub fn recv(conn: &mut redis::Connection) -> Reply {
    match conn.recv_response() {
        Ok(v) => Reply::from(v),
        Err(e) => match e.code() {
            Some(code) => Reply::Error(format!("{code} {}", e.detail().unwrap_or_default())),
            None => Reply::Io(e.to_string()),
        },
    }
}

/// INFO clients' `blocked_clients`.
pub fn blocked_clients(c: &mut redis::Connection) -> usize {
    let Reply::Bulk(info) = raw(c, &["INFO", "clients"]) else {
        panic!("INFO is not a bulk string");
    };
    let text = String::from_utf8_lossy(&info);
    text.lines()
        .find_map(|l| l.strip_prefix("blocked_clients:"))
        .and_then(|v| v.trim().parse().ok())
        .expect("blocked_clients in INFO clients")
}

/// Waits until exactly `n` clients are blocked (the blocking command has been received).
pub fn wait_blocked(c: &mut redis::Connection, n: usize) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let now = blocked_clients(c);
        if now == n {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "expected {n} blocked clients, have {now}"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}

fn arr(items: &[&str]) -> Reply {
    Reply::Array(items.iter().map(Reply::bulk).collect())
}

#[test]
fn waiters_are_served_first_come_first_served_before_the_writer_replies() {
    let srv = Server::start();
    let mut c = srv.client();
    let mut waiters: Vec<_> = (0..3).map(|_| srv.client()).collect();
    for (i, w) in waiters.iter_mut().enumerate() {
        send(w, &["BZPOPMIN", "other", "z", "0"]);
        wait_blocked(&mut c, i + 1);
    }
    assert_eq!(
        raw(
            &mut c,
            &["ZADD", "z", "1", "a", "2", "b", "3", "c", "4", "d"]
        ),
        Reply::Int(4)
    );
    // Served before ZADD replied: only d is left, and nobody is blocked any more.
    assert_eq!(raw(&mut c, &["ZRANGE", "z", "0", "-1"]), arr(&["d"]));
    assert_eq!(blocked_clients(&mut c), 0);
    for (w, m) in waiters.iter_mut().zip(["a", "b", "c"]) {
        let got = recv(w);
        let score = match m {
            "a" => "1",
            "b" => "2",
            _ => "3",
        };
        assert_eq!(got, arr(&["z", m, score]));
    }
}

#[test]
fn a_key_with_data_is_served_without_blocking_in_key_order() {
    let srv = Server::start();
    let mut c = srv.client();
    raw(&mut c, &["ZADD", "b", "5", "x"]);
    raw(&mut c, &["ZADD", "c", "1", "y"]);
    assert_eq!(
        raw(&mut c, &["BZPOPMAX", "a", "b", "c", "0"]),
        arr(&["b", "x", "5"])
    );
    raw(&mut c, &["SET", "s", "v"]);
    assert_eq!(
        raw(&mut c, &["BZPOPMIN", "a", "s", "c", "0"]).error_text(),
        Some("WRONGTYPE Operation against a key holding the wrong kind of value")
    );
    assert_eq!(
        raw(&mut c, &["BZMPOP", "0", "2", "a", "c", "MIN", "COUNT", "5"]),
        Reply::Array(vec![Reply::bulk("c"), Reply::Array(vec![arr(&["y", "1"])])])
    );
}

#[test]
fn timeouts_take_decimals_and_reply_null() {
    let srv = Server::start();
    let mut c = srv.client();
    let t = Instant::now();
    assert_eq!(raw(&mut c, &["BZPOPMIN", "z", "0.2"]), Reply::Nil);
    assert!(t.elapsed() >= Duration::from_millis(200), "returned early");
    assert_eq!(
        raw(&mut c, &["BZMPOP", "0.01", "1", "z", "MAX"]),
        Reply::Nil
    );
    assert_eq!(blocked_clients(&mut c), 0);
    for (t, err) in [
        ("-1", "ERR timeout is negative"),
        ("abc", "ERR timeout is not a float or out of range"),
    ] {
        assert_eq!(raw(&mut c, &["BZPOPMIN", "z", t]).error_text(), Some(err));
    }
}

#[test]
fn client_unblock_ends_a_wait_as_a_timeout_or_an_error() {
    let srv = Server::start();
    let mut c = srv.client();
    let mut w = srv.client();
    let Reply::Int(id) = raw(&mut w, &["CLIENT", "ID"]) else {
        panic!("CLIENT ID");
    };
    let id = id.to_string();
    assert_eq!(raw(&mut c, &["CLIENT", "UNBLOCK", &id]), Reply::Int(0));
    send(&mut w, &["BZPOPMIN", "z", "0"]);
    wait_blocked(&mut c, 1);
    let Reply::Bulk(list) = raw(&mut c, &["CLIENT", "LIST", "ID", &id]) else {
        panic!("CLIENT LIST");
    };
    assert!(String::from_utf8_lossy(&list).contains("flags=b "));
    assert_eq!(
        raw(&mut c, &["CLIENT", "UNBLOCK", &id, "TIMEOUT"]),
        Reply::Int(1)
    );
    assert_eq!(recv(&mut w), Reply::Nil);
    send(&mut w, &["BZPOPMIN", "z", "0"]);
    wait_blocked(&mut c, 1);
    assert_eq!(
        raw(&mut c, &["CLIENT", "UNBLOCK", &id, "ERROR"]),
        Reply::Int(1)
    );
    assert_eq!(
        recv(&mut w).error_text(),
        Some("UNBLOCKED client unblocked via CLIENT UNBLOCK")
    );
    assert_eq!(
        raw(&mut c, &["CLIENT", "UNBLOCK", &id, "NOW"]).error_text(),
        Some("ERR CLIENT UNBLOCK reason should be TIMEOUT or ERROR")
    );
    // The connection works normally afterwards.
    assert_eq!(raw(&mut w, &["PING"]), Reply::Simple("PONG".into()));
}

#[test]
fn a_disconnected_or_killed_waiter_is_cleaned_up_and_takes_nothing() {
    let srv = Server::start();
    let mut c = srv.client();
    {
        let mut w = srv.client();
        send(&mut w, &["BZPOPMIN", "z", "0"]);
        wait_blocked(&mut c, 1);
    }
    wait_blocked(&mut c, 0);
    let mut w = srv.client();
    let Reply::Int(id) = raw(&mut w, &["CLIENT", "ID"]) else {
        panic!("CLIENT ID");
    };
    send(&mut w, &["BZPOPMIN", "z", "0"]);
    wait_blocked(&mut c, 1);
    assert_eq!(
        raw(&mut c, &["CLIENT", "KILL", "ID", &id.to_string()]),
        Reply::Int(1)
    );
    wait_blocked(&mut c, 0);
    raw(&mut c, &["ZADD", "z", "1", "a"]);
    assert_eq!(raw(&mut c, &["ZCARD", "z"]), Reply::Int(1));
}

#[test]
fn requests_pipelined_behind_a_blocked_command_run_after_it() {
    let srv = Server::start();
    let mut c = srv.client();
    let mut s = crate::harness::raw_tcp(srv.port());
    s.write_all(b"BZPOPMIN z 0\r\nZCARD z\r\nPING\r\n").unwrap();
    wait_blocked(&mut c, 1);
    raw(&mut c, &["ZADD", "z", "1", "a", "2", "b"]);
    let out = crate::harness::read_until(&mut s, b"+PONG\r\n");
    assert_eq!(
        String::from_utf8_lossy(&out),
        "*3\r\n$1\r\nz\r\n$1\r\na\r\n$1\r\n1\r\n:1\r\n+PONG\r\n"
    );
}

#[test]
fn every_write_path_wakes_a_waiter() {
    let srv = Server::start();
    let mut c = srv.client();
    let mut w = srv.client();
    let mut expect_served = |c: &mut redis::Connection, setup: &[&[&str]], member: &str| {
        send(&mut w, &["BZPOPMIN", "z", "0"]);
        wait_blocked(c, 1);
        for cmd in setup {
            let r = raw(c, cmd);
            assert!(!r.is_error(), "{cmd:?}: {r}");
        }
        let got = recv(&mut w);
        let Reply::Array(items) = &got else {
            panic!("{setup:?}: waiter got {got}");
        };
        assert_eq!(items[1], Reply::bulk(member), "{setup:?}");
        raw(c, &["DEL", "z", "src"]);
    };
    expect_served(
        &mut c,
        &[&["ZADD", "src", "1", "r"], &["RENAME", "src", "z"]],
        "r",
    );
    expect_served(
        &mut c,
        &[&["ZADD", "src", "1", "c"], &["COPY", "src", "z"]],
        "c",
    );
    expect_served(
        &mut c,
        &[
            &["ZADD", "src", "1", "u"],
            &["ZUNIONSTORE", "z", "1", "src"],
        ],
        "u",
    );
    expect_served(
        &mut c,
        &[&["ZADD", "src", "7", "i"], &["ZINCRBY", "z", "1", "i"]],
        "i",
    );
    expect_served(
        &mut c,
        &[
            &["SELECT", "1"],
            &["ZADD", "z", "1", "m"],
            &["MOVE", "z", "0"],
            &["SELECT", "0"],
        ],
        "m",
    );
    expect_served(
        &mut c,
        &[
            &["SELECT", "2"],
            &["ZADD", "z", "1", "s"],
            &["SELECT", "0"],
            &["SWAPDB", "0", "2"],
        ],
        "s",
    );
}

#[test]
fn blocked_clients_are_not_reaped_by_the_idle_timeout() {
    let srv = Server::start_with(&["--timeout", "1"]);
    let mut w = srv.client();
    send(&mut w, &["BZPOPMIN", "z", "2.5"]);
    assert_eq!(recv(&mut w), Reply::Nil);
}

/// Producers add unique members while consumers block-pop them: every member is received by
/// exactly one consumer, none is lost or duplicated, and nobody is left blocked.
#[test]
fn concurrent_producers_and_blocked_consumers_lose_nothing() {
    use std::collections::HashSet;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;
    const PRODUCERS: usize = 4;
    const PER_PRODUCER: usize = 400;
    const CONSUMERS: usize = 4;
    let srv = Server::start();
    let taken = Arc::new(AtomicUsize::new(0));
    let consumers: Vec<_> = (0..CONSUMERS)
        .map(|_| {
            let mut c = srv.client();
            let taken = taken.clone();
            std::thread::spawn(move || {
                let mut got = Vec::new();
                while taken.load(Ordering::SeqCst) < PRODUCERS * PER_PRODUCER {
                    match raw(&mut c, &["BZPOPMIN", "q1", "q2", "0.05"]) {
                        Reply::Nil => {}
                        Reply::Array(items) => {
                            let Some(Reply::Bulk(m)) = items.get(1) else {
                                panic!("bad BZPOPMIN reply {items:?}");
                            };
                            got.push(m.clone());
                            taken.fetch_add(1, Ordering::SeqCst);
                        }
                        other => panic!("BZPOPMIN replied {other}"),
                    }
                }
                got
            })
        })
        .collect();
    let producers: Vec<_> = (0..PRODUCERS)
        .map(|p| {
            let mut c = srv.client();
            std::thread::spawn(move || {
                for i in 0..PER_PRODUCER {
                    let key = if i % 2 == 0 { "q1" } else { "q2" };
                    let m = format!("{p}:{i}");
                    assert_eq!(raw(&mut c, &["ZADD", key, "1", &m]), Reply::Int(1));
                }
            })
        })
        .collect();
    for p in producers {
        p.join().expect("producer");
    }
    let mut all = HashSet::new();
    for c in consumers {
        for m in c.join().expect("consumer") {
            assert!(all.insert(m), "a member was received twice");
        }
    }
    assert_eq!(all.len(), PRODUCERS * PER_PRODUCER);
    let mut c = srv.client();
    assert_eq!(raw(&mut c, &["EXISTS", "q1", "q2"]), Reply::Int(0));
    wait_blocked(&mut c, 0);
}

#[test]
fn list_waiters_are_served_in_order_and_chain_through_blmove() {
    let srv = Server::start();
    let mut c = srv.client();
    let mut a = srv.client();
    let mut b = srv.client();
    let mut d = srv.client();
    // a waits to move from src to mid; b waits on mid; d waits on the right of src.
    send(&mut a, &["BLMOVE", "src", "mid", "LEFT", "RIGHT", "0"]);
    wait_blocked(&mut c, 1);
    send(&mut b, &["BLPOP", "nothing", "mid", "0"]);
    wait_blocked(&mut c, 2);
    send(&mut d, &["BRPOP", "src", "0"]);
    wait_blocked(&mut c, 3);
    assert_eq!(raw(&mut c, &["RPUSH", "src", "x", "y", "z"]), Reply::Int(3));
    // By the time RPUSH replied: a moved x to mid, b popped it, d popped z.
    assert_eq!(raw(&mut c, &["LRANGE", "src", "0", "-1"]), arr(&["y"]));
    assert_eq!(raw(&mut c, &["EXISTS", "mid"]), Reply::Int(0));
    assert_eq!(recv(&mut a), Reply::bulk("x"));
    assert_eq!(recv(&mut b), arr(&["mid", "x"]));
    assert_eq!(recv(&mut d), arr(&["src", "z"]));
    assert_eq!(blocked_clients(&mut c), 0);
}

#[test]
fn list_blocking_forms_reply_like_their_plain_twins() {
    let srv = Server::start();
    let mut c = srv.client();
    raw(&mut c, &["RPUSH", "l", "1", "2", "3", "4"]);
    assert_eq!(raw(&mut c, &["BLPOP", "none", "l", "0"]), arr(&["l", "1"]));
    assert_eq!(raw(&mut c, &["BRPOP", "l", "none", "0"]), arr(&["l", "4"]));
    assert_eq!(
        raw(&mut c, &["BRPOPLPUSH", "l", "other", "0"]),
        Reply::bulk("3")
    );
    assert_eq!(
        raw(
            &mut c,
            &["BLMPOP", "0", "2", "none", "other", "LEFT", "COUNT", "9"]
        ),
        Reply::Array(vec![Reply::bulk("other"), arr(&["3"])])
    );
    assert_eq!(raw(&mut c, &["BLPOP", "none", "0.01"]), Reply::Nil);
    assert_eq!(
        raw(&mut c, &["BLMOVE", "none", "l", "LEFT", "LEFT", "0.01"]),
        Reply::Nil
    );
    assert_eq!(
        raw(&mut c, &["BLMOVE", "none", "l", "UP", "LEFT", "x"]).error_text(),
        Some("ERR syntax error")
    );
    assert_eq!(
        raw(&mut c, &["BLMPOP", "x", "1", "l", "LEFT"]).error_text(),
        Some("ERR timeout is not a float or out of range")
    );
    assert_eq!(
        raw(&mut c, &["BLMPOP", "0", "0", "l", "LEFT"]).error_text(),
        Some("ERR numkeys should be greater than 0")
    );
    raw(&mut c, &["SET", "s", "v"]);
    assert_eq!(
        raw(&mut c, &["BLPOP", "s", "0"]).error_text(),
        Some("WRONGTYPE Operation against a key holding the wrong kind of value")
    );
}

/// A waiter re-run when its key gets data replies whatever its command replies then, errors
/// included, as Redis 7 does; the element stays where it was.
#[test]
fn a_served_blmove_into_a_wrong_type_destination_gets_wrongtype() {
    let srv = Server::start();
    let mut c = srv.client();
    let mut w = srv.client();
    send(&mut w, &["BLMOVE", "src", "dst", "LEFT", "LEFT", "0"]);
    wait_blocked(&mut c, 1);
    raw(&mut c, &["SET", "dst", "string"]);
    raw(&mut c, &["LPUSH", "src", "e"]);
    assert_eq!(
        recv(&mut w).error_text(),
        Some("WRONGTYPE Operation against a key holding the wrong kind of value")
    );
    assert_eq!(raw(&mut c, &["LRANGE", "src", "0", "-1"]), arr(&["e"]));
}

#[test]
fn lmove_and_rpoplpush_into_a_waited_key_wake_the_waiter() {
    let srv = Server::start();
    let mut c = srv.client();
    let mut w = srv.client();
    raw(&mut c, &["RPUSH", "from", "a", "b"]);
    send(&mut w, &["BLPOP", "to", "0"]);
    wait_blocked(&mut c, 1);
    assert_eq!(
        raw(&mut c, &["LMOVE", "from", "to", "LEFT", "LEFT"]),
        Reply::bulk("a")
    );
    assert_eq!(recv(&mut w), arr(&["to", "a"]));
    send(&mut w, &["BLMPOP", "0", "1", "to", "RIGHT", "COUNT", "5"]);
    wait_blocked(&mut c, 1);
    assert_eq!(raw(&mut c, &["RPOPLPUSH", "from", "to"]), Reply::bulk("b"));
    assert_eq!(
        recv(&mut w),
        Reply::Array(vec![Reply::bulk("to"), arr(&["b"])])
    );
}
