//! Scripting through the real server: atomicity against concurrent readers, BUSY and SCRIPT KILL
//! / FUNCTION KILL with several clients, SHUTDOWN NOSAVE during a script, functions surviving a
//! restart, scripts inside MULTI, WATCH failed by a script's write, notifications and blocked
//! clients woken by scripts.

use crate::harness::{cmd, connect, eventually, notice, Reply, Server};
use std::thread;
use std::time::{Duration, Instant};

const SPIN: &str = "local i = 0 while true do i = i + 1 end";

fn start_long(port: u16, script: &'static str) -> thread::JoinHandle<Reply> {
    thread::spawn(move || {
        let mut c = connect(port);
        cmd(&mut c, &["EVAL", script, "0"])
    })
}

fn wait_until_busy(c: &mut redis::Connection) {
    assert!(
        eventually(20, || cmd(c, &["PING"])
            .error_text()
            .is_some_and(|e| e.starts_with("BUSY"))),
        "the server never answered BUSY"
    );
}

#[test]
fn busy_script_kill_and_recovery() {
    let srv = Server::start();
    let mut admin = srv.client();
    assert_eq!(
        cmd(
            &mut admin,
            &["CONFIG", "SET", "busy-reply-threshold", "200"]
        ),
        Reply::ok()
    );
    assert_eq!(
        cmd(&mut admin, &["CONFIG", "GET", "lua-time-limit"]),
        Reply::Array(vec![Reply::bulk("lua-time-limit"), Reply::bulk("200")])
    );
    assert_eq!(
        cmd(&mut admin, &["SCRIPT", "KILL"]),
        Reply::Error("NOTBUSY No scripts in execution right now.".into())
    );
    let long = start_long(srv.port(), SPIN);
    let mut other = srv.client();
    wait_until_busy(&mut other);
    let busy =
        "BUSY Redis is busy running a script. You can only call SCRIPT KILL or SHUTDOWN NOSAVE.";
    assert_eq!(cmd(&mut other, &["GET", "x"]), Reply::Error(busy.into()));
    assert_eq!(
        cmd(&mut other, &["SET", "x", "1"]),
        Reply::Error(busy.into())
    );
    // FUNCTION KILL names the other command; FUNCTION STATS answers BUSY for an EVAL script.
    assert_eq!(
        cmd(&mut other, &["FUNCTION", "KILL"]),
        Reply::Error(busy.into())
    );
    assert_eq!(
        cmd(&mut other, &["FUNCTION", "STATS"]),
        Reply::Error(busy.into())
    );
    // MULTI gets through, and a refused command dooms the transaction.
    assert_eq!(cmd(&mut other, &["MULTI"]), Reply::ok());
    assert_eq!(cmd(&mut other, &["INCR", "x"]), Reply::Error(busy.into()));
    assert_eq!(cmd(&mut other, &["DISCARD"]), Reply::ok());
    // A second script queued behind the busy one is answered BUSY, not held until it ends.
    assert_eq!(
        cmd(&mut other, &["EVAL", "return 1", "0"]),
        Reply::Error(busy.into())
    );
    // SHUTDOWN without NOSAVE is refused while busy.
    assert_eq!(cmd(&mut other, &["SHUTDOWN"]), Reply::Error(busy.into()));
    assert_eq!(cmd(&mut other, &["SCRIPT", "KILL"]), Reply::ok());
    match long.join().unwrap() {
        Reply::Error(e) => assert!(
            e.starts_with("ERR Script killed by user with SCRIPT KILL... script: "),
            "{e}"
        ),
        other => panic!("the killed script replied {other:?}"),
    }
    // The server is usable again.
    assert_eq!(cmd(&mut other, &["SET", "x", "1"]), Reply::ok());
    assert_eq!(
        cmd(&mut other, &["EVAL", "return redis.call('GET', 'x')", "0"]),
        Reply::bulk("1")
    );
}

#[test]
fn a_script_that_wrote_cannot_be_killed_but_shutdown_nosave_stops_it() {
    let mut srv = Server::start();
    let mut admin = srv.client();
    assert_eq!(
        cmd(
            &mut admin,
            &["CONFIG", "SET", "busy-reply-threshold", "200"]
        ),
        Reply::ok()
    );
    let long = start_long(
        srv.port(),
        "redis.call('SET', 'dirty', '1') local i = 0 while true do i = i + 1 end",
    );
    let mut other = srv.client();
    wait_until_busy(&mut other);
    assert_eq!(
        cmd(&mut other, &["SCRIPT", "KILL"]),
        Reply::Error("UNKILLABLE Sorry the script already executed write commands against the dataset. You can either wait the script termination or kill the server in a hard way using the SHUTDOWN NOSAVE command.".into())
    );
    let _ = cmd(&mut other, &["SHUTDOWN", "NOSAVE"]);
    let _ = long.join();
    assert!(
        eventually(20, || !srv.is_alive()),
        "SHUTDOWN NOSAVE did not stop the server"
    );
}

#[test]
fn function_kill_and_stats() {
    let srv = Server::start();
    let mut admin = srv.client();
    assert_eq!(
        cmd(
            &mut admin,
            &["CONFIG", "SET", "busy-reply-threshold", "200"]
        ),
        Reply::ok()
    );
    let lib = format!("#!lua name=spin\nredis.register_function('spin', function() {SPIN} end)");
    assert_eq!(
        cmd(&mut admin, &["FUNCTION", "LOAD", &lib]),
        Reply::bulk("spin")
    );
    let port = srv.port();
    let long = thread::spawn(move || cmd(&mut connect(port), &["FCALL", "spin", "0"]));
    let mut other = srv.client();
    wait_until_busy(&mut other);
    let busy =
        "BUSY Redis is busy running a script. You can only call FUNCTION KILL or SHUTDOWN NOSAVE.";
    assert_eq!(cmd(&mut other, &["GET", "x"]), Reply::Error(busy.into()));
    assert_eq!(
        cmd(&mut other, &["SCRIPT", "KILL"]),
        Reply::Error(busy.into())
    );
    match cmd(&mut other, &["FUNCTION", "STATS"]) {
        Reply::Array(v) => {
            assert_eq!(v[0], Reply::bulk("running_script"));
            match &v[1] {
                Reply::Array(info) => {
                    assert_eq!(info[0], Reply::bulk("name"));
                    assert_eq!(info[1], Reply::bulk("spin"));
                    assert_eq!(
                        info[3],
                        Reply::Array(vec![
                            Reply::bulk("FCALL"),
                            Reply::bulk("spin"),
                            Reply::bulk("0")
                        ])
                    );
                }
                other => panic!("running_script {other:?}"),
            }
        }
        other => panic!("FUNCTION STATS {other:?}"),
    }
    assert_eq!(cmd(&mut other, &["FUNCTION", "KILL"]), Reply::ok());
    let reply = long.join().unwrap();
    assert!(
        reply.error_text().is_some_and(|e| e.starts_with(
            "ERR Script killed by user with SCRIPT KILL... script: spin, on @user_function:2."
        )),
        "{reply:?}"
    );
}

#[test]
fn scripts_are_atomic_for_concurrent_readers() {
    let srv = Server::start();
    let mut c = srv.client();
    for i in 0..4 {
        cmd(&mut c, &["SET", &format!("acct:{i}"), "100"]);
    }
    let port = srv.port();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let reader = {
        let stop = stop.clone();
        thread::spawn(move || {
            let mut r = connect(port);
            let mut reads = 0;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let v = cmd(&mut r, &["MGET", "acct:0", "acct:1", "acct:2", "acct:3"]);
                let Reply::Array(vals) = v else {
                    panic!("{v:?}")
                };
                let sum: i64 = vals
                    .iter()
                    .map(|v| {
                        std::str::from_utf8(v.as_bytes().unwrap())
                            .unwrap()
                            .parse::<i64>()
                            .unwrap()
                    })
                    .sum();
                assert_eq!(sum, 400, "a reader saw a script half done");
                reads += 1;
            }
            reads
        })
    };
    let transfer = "local a = redis.call('DECRBY', KEYS[1], ARGV[1]) redis.call('INCRBY', KEYS[2], ARGV[1]) return a";
    for i in 0..2000 {
        let (from, to) = (format!("acct:{}", i % 4), format!("acct:{}", (i + 1) % 4));
        let r = cmd(&mut c, &["EVAL", transfer, "2", &from, &to, "7"]);
        assert!(r.as_int().is_some(), "{r:?}");
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let reads = reader.join().unwrap();
    notice(&format!(
        "atomic scripts: 2000 transfers, {reads} consistent reads"
    ));
}

/// Scripts from many clients, pipelined, queue for the exclusive gate: a read-modify-write
/// script loses no update, and every connection gets its replies in order.
#[test]
fn pipelined_scripts_from_many_clients_run_one_at_a_time() {
    let srv = Server::start();
    let port = srv.port();
    let script = "local v = tonumber(redis.call('GET', KEYS[1]) or '0') + 1 \
                  redis.call('SET', KEYS[1], v) redis.call('RPUSH', KEYS[2], v) return v";
    let (clients, rounds, depth) = (8, 25, 20);
    let workers: Vec<_> = (0..clients)
        .map(|w| {
            thread::spawn(move || {
                let mut c = connect(port);
                let mut last = 0;
                for _ in 0..rounds {
                    let mut pipe = redis::pipe();
                    for _ in 0..depth {
                        pipe.cmd("EVAL")
                            .arg(script)
                            .arg(2)
                            .arg("counter")
                            .arg(format!("seen:{w}"));
                        // A plain command between scripts must still be answered in order.
                        pipe.cmd("PING").arg(w);
                    }
                    let replies: Vec<redis::Value> = pipe.query(&mut c).unwrap();
                    for pair in replies.chunks(2) {
                        let redis::Value::Int(v) = pair[0] else {
                            panic!("{:?}", pair[0])
                        };
                        assert!(
                            v > last,
                            "a client saw its counter go back: {v} after {last}"
                        );
                        last = v;
                        assert_eq!(
                            pair[1],
                            redis::Value::BulkString(w.to_string().into_bytes())
                        );
                    }
                }
            })
        })
        .collect();
    for w in workers {
        w.join().unwrap();
    }
    let mut c = srv.client();
    let total = (clients * rounds * depth) as i64;
    assert_eq!(
        cmd(&mut c, &["GET", "counter"]),
        Reply::bulk(total.to_string())
    );
    // Every value was handed out exactly once.
    let mut all = Vec::new();
    for w in 0..clients {
        let Reply::Array(vals) = cmd(&mut c, &["LRANGE", &format!("seen:{w}"), "0", "-1"]) else {
            panic!("LRANGE")
        };
        all.extend(vals.iter().map(|v| v.as_bytes().unwrap().to_vec()));
    }
    all.sort_by_key(|v| std::str::from_utf8(v).unwrap().parse::<i64>().unwrap());
    let expected: Vec<Vec<u8>> = (1..=total).map(|i| i.to_string().into_bytes()).collect();
    assert_eq!(all, expected);
}

#[test]
fn functions_and_scripts_across_a_restart() {
    let mut srv = Server::start();
    let mut c = srv.client();
    let lib = "#!lua name=persisted\nredis.register_function{function_name='hello', callback=function(k, a) return 'hi ' .. a[1] end, flags={'no-writes'}, description='greets'}";
    assert_eq!(
        cmd(&mut c, &["FUNCTION", "LOAD", lib]),
        Reply::bulk("persisted")
    );
    assert_eq!(
        cmd(
            &mut c,
            &[
                "FUNCTION",
                "LOAD",
                "#!lua name=gone\nredis.register_function('bye', function() return 1 end)"
            ]
        ),
        Reply::bulk("gone")
    );
    assert_eq!(cmd(&mut c, &["FUNCTION", "DELETE", "gone"]), Reply::ok());
    let sha = cmd(&mut c, &["SCRIPT", "LOAD", "return 42"]);
    let Reply::Bulk(sha) = sha else {
        panic!("{sha:?}")
    };
    let sha = String::from_utf8(sha).unwrap();
    srv.restart();
    let mut c = srv.client();
    assert_eq!(
        cmd(&mut c, &["FCALL_RO", "hello", "0", "you"]),
        Reply::bulk("hi you")
    );
    assert_eq!(
        cmd(&mut c, &["FCALL", "bye", "0"]),
        Reply::Error("ERR Function not found".into())
    );
    // The script cache is not persisted, as in Redis.
    assert_eq!(
        cmd(&mut c, &["EVALSHA", &sha, "0"]),
        Reply::Error("NOSCRIPT No matching script. Please use EVAL.".into())
    );
    assert_eq!(cmd(&mut c, &["FUNCTION", "FLUSH"]), Reply::ok());
    srv.restart();
    let mut c = srv.client();
    assert_eq!(cmd(&mut c, &["FUNCTION", "LIST"]), Reply::Array(vec![]));
}

#[test]
fn a_script_write_survives_kill_9() {
    let mut srv = Server::start();
    let mut c = srv.client();
    let r = cmd(
        &mut c,
        &[
            "EVAL",
            "for i = 1, 100 do redis.call('SET', 'k' .. i, i) end return 1",
            "0",
        ],
    );
    assert_eq!(r, Reply::Int(1));
    srv.kill9();
    srv.restart();
    let mut c = srv.client();
    assert_eq!(cmd(&mut c, &["GET", "k100"]), Reply::bulk("100"));
    assert_eq!(cmd(&mut c, &["DBSIZE"]), Reply::Int(100));
}

#[test]
fn scripts_in_transactions_watch_notifications_and_blocked_clients() {
    let srv = Server::start();
    let mut c = srv.client();
    // Inside MULTI, EVAL is queued and runs in EXEC.
    assert_eq!(cmd(&mut c, &["MULTI"]), Reply::ok());
    assert_eq!(
        cmd(&mut c, &["EVAL", "return redis.call('INCR', 'm')", "0"]),
        Reply::Simple("QUEUED".into())
    );
    assert_eq!(cmd(&mut c, &["INCR", "m"]), Reply::Simple("QUEUED".into()));
    assert_eq!(
        cmd(&mut c, &["EXEC"]),
        Reply::Array(vec![Reply::Int(1), Reply::Int(2)])
    );
    // A script's write fails another client's WATCH.
    let mut w = srv.client();
    assert_eq!(cmd(&mut w, &["WATCH", "watched"]), Reply::ok());
    assert_eq!(
        cmd(
            &mut c,
            &["EVAL", "return redis.call('SET', 'watched', 'x')", "0"]
        ),
        Reply::ok()
    );
    assert_eq!(cmd(&mut w, &["MULTI"]), Reply::ok());
    assert_eq!(
        cmd(&mut w, &["GET", "watched"]),
        Reply::Simple("QUEUED".into())
    );
    assert_eq!(cmd(&mut w, &["EXEC"]), Reply::Nil);
    // A client blocked in BLPOP is served by a script's push.
    let port = srv.port();
    let blocked = thread::spawn(move || cmd(&mut connect(port), &["BLPOP", "jobs", "10"]));
    let mut probe = srv.client();
    assert!(eventually(
        10,
        || matches!(cmd(&mut probe, &["CLIENT", "LIST"]), Reply::Bulk(b) if String::from_utf8_lossy(&b).contains("cmd=blpop"))
    ));
    assert_eq!(
        cmd(
            &mut c,
            &[
                "EVAL",
                "return redis.call('RPUSH', KEYS[1], 'job')",
                "1",
                "jobs"
            ]
        ),
        Reply::Int(1)
    );
    assert_eq!(
        blocked.join().unwrap(),
        Reply::Array(vec![Reply::bulk("jobs"), Reply::bulk("job")])
    );
    // Keyspace notifications for a script's writes.
    assert_eq!(
        cmd(&mut c, &["CONFIG", "SET", "notify-keyspace-events", "KEA"]),
        Reply::ok()
    );
    let mut sub = srv.client();
    let mut pubsub = sub.as_pubsub();
    pubsub.psubscribe("__keyevent@0__:*").unwrap();
    pubsub
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    assert_eq!(
        cmd(
            &mut c,
            &[
                "EVAL",
                "redis.call('SET', 'n1', 'v') redis.call('DEL', 'n1') return 1",
                "0"
            ]
        ),
        Reply::Int(1)
    );
    let events: Vec<String> = (0..2)
        .map(|_| pubsub.get_message().unwrap().get_channel_name().to_string())
        .collect();
    assert_eq!(events, vec!["__keyevent@0__:set", "__keyevent@0__:del"]);
}

#[test]
fn evalsha_does_not_recompile_and_flush_forgets() {
    let srv = Server::start();
    let mut c = srv.client();
    let Reply::Bulk(sha) = cmd(
        &mut c,
        &["SCRIPT", "LOAD", "return redis.call('INCR', KEYS[1])"],
    ) else {
        panic!()
    };
    let sha = String::from_utf8(sha).unwrap();
    let started = Instant::now();
    for i in 1..=1000 {
        assert_eq!(cmd(&mut c, &["EVALSHA", &sha, "1", "n"]), Reply::Int(i));
    }
    notice(&format!("1000 EVALSHA in {:?}", started.elapsed()));
    assert_eq!(
        cmd(&mut c, &["SCRIPT", "EXISTS", &sha]),
        Reply::Array(vec![Reply::Int(1)])
    );
    assert_eq!(cmd(&mut c, &["SCRIPT", "FLUSH", "ASYNC"]), Reply::ok());
    assert_eq!(
        cmd(&mut c, &["SCRIPT", "EXISTS", &sha]),
        Reply::Array(vec![Reply::Int(0)])
    );
    assert_eq!(
        cmd(&mut c, &["EVALSHA", &sha, "1", "n"]),
        Reply::Error("NOSCRIPT No matching script. Please use EVAL.".into())
    );
    // COMMAND INFO and GETKEYS know the scripting commands.
    assert_eq!(
        cmd(
            &mut c,
            &["COMMAND", "GETKEYS", "EVAL", "return 1", "2", "a", "b", "c"]
        ),
        Reply::Array(vec![Reply::bulk("a"), Reply::bulk("b")])
    );
    assert_eq!(
        cmd(&mut c, &["COMMAND", "COUNT"]).as_int().map(|n| n > 0),
        Some(true)
    );
}
