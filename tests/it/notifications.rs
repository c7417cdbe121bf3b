//! Keyspace notifications: a pattern subscriber (raw socket, `PSUBSCRIBE __key*__:*`) per test
//! reads the exact `(channel, message)` sequence each family's commands publish; flag filtering;
//! `expired` from active expiry; CONFIG GET/SET of `notify-keyspace-events`; and a differential
//! test comparing the whole ordered event stream of a command sequence with a real redis-server.
//!
//! A test knows it has seen every event of its commands by publishing a sentinel message on a
//! channel the pattern matches, after the commands' replies: events are queued for the
//! subscriber before the command replies, so everything before the sentinel is complete.

use crate::harness::{cmd, escape, raw, raw_tcp, RedisServer, Reply, Server};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

/// The channel of the sentinel message; matches the subscriber's pattern.
const SENTINEL: &str = "__keyevent@0__:zz-sentinel";

/// A `PSUBSCRIBE __key*__:*` connection read frame by frame.
struct Subscriber {
    s: TcpStream,
}

impl Subscriber {
    fn new(port: u16) -> Subscriber {
        let mut s = raw_tcp(port);
        s.write_all(b"*2\r\n$10\r\nPSUBSCRIBE\r\n$10\r\n__key*__:*\r\n")
            .expect("psubscribe");
        let mut sub = Subscriber { s };
        let confirm = sub.frame();
        assert_eq!(confirm[0], b"psubscribe", "confirmation: {confirm:?}");
        sub
    }

    fn line(&mut self) -> Vec<u8> {
        let mut out = Vec::new();
        let mut b = [0u8; 1];
        while !out.ends_with(b"\r\n") {
            match self.s.read(&mut b) {
                Ok(1) => out.push(b[0]),
                other => panic!("subscriber read failed after {}: {other:?}", escape(&out)),
            }
        }
        out.truncate(out.len() - 2);
        out
    }

    /// One RESP2 array of bulk strings or integers (as their text).
    fn frame(&mut self) -> Vec<Vec<u8>> {
        let head = self.line();
        assert_eq!(head.first(), Some(&b'*'), "frame header {}", escape(&head));
        let n: usize = String::from_utf8_lossy(&head[1..]).parse().expect("count");
        (0..n)
            .map(|_| {
                let l = self.line();
                match l.first() {
                    Some(b'$') => {
                        let len: usize = String::from_utf8_lossy(&l[1..]).parse().expect("len");
                        let mut body = vec![0u8; len + 2];
                        self.s.read_exact(&mut body).expect("bulk body");
                        body.truncate(len);
                        body
                    }
                    Some(b':') => l[1..].to_vec(),
                    _ => panic!("unexpected element {}", escape(&l)),
                }
            })
            .collect()
    }

    /// Every `(channel, message)` received up to the sentinel (sent by `conn`), in order.
    fn events_until_sentinel(&mut self, conn: &mut redis::Connection) -> Vec<(String, String)> {
        raw(conn, &["PUBLISH", SENTINEL, "end"]);
        let mut out = Vec::new();
        loop {
            let f = self.frame();
            assert_eq!(f[0], b"pmessage", "frame {f:?}");
            let channel = String::from_utf8_lossy(&f[2]).into_owned();
            if channel == SENTINEL {
                return out;
            }
            out.push((channel, String::from_utf8_lossy(&f[3]).into_owned()));
        }
    }
}

/// Runs commands (each a whitespace-separated line) and returns the events they published.
fn run(port: u16, commands: &[&str]) -> Vec<(String, String)> {
    let mut sub = Subscriber::new(port);
    let mut conn = crate::harness::connect(port);
    for c in commands {
        let args: Vec<&str> = c.split_whitespace().collect();
        raw(&mut conn, &args);
    }
    sub.events_until_sentinel(&mut conn)
}

/// Both events of each `(event, key)` in db 0 with `KE` flags: keyspace first, as in Redis.
fn both(events: &[(&str, &str)]) -> Vec<(String, String)> {
    events
        .iter()
        .flat_map(|&(event, key)| {
            [
                (format!("__keyspace@0__:{key}"), event.to_string()),
                (format!("__keyevent@0__:{event}"), key.to_string()),
            ]
        })
        .collect()
}

fn server_with(flags: &str) -> Server {
    Server::start_with(&["--notify-keyspace-events", flags])
}

#[test]
fn notif_strings() {
    let srv = server_with("KEA");
    let got = run(
        srv.port(),
        &[
            "SET a 1",
            "SET a 2 EX 100",
            "SET a 3 NX",
            "SETNX c 1",
            "SETEX d 100 v",
            "GETSET a 9",
            "GETDEL c",
            "GETDEL c",
            "GETEX d PERSIST",
            "GETEX d PERSIST",
            "GETEX d PXAT 1",
            "MSET m1 1 m2 2",
            "MSETNX m1 1 m3 3",
            "APPEND ap x",
            "SETRANGE ap 0",
            "SETRANGE ap 2 yy",
            "INCR n",
            "DECRBY n 3",
            "INCRBYFLOAT f 1.5",
            "INCR ap",
        ],
    );
    assert_eq!(
        got,
        both(&[
            ("set", "a"),
            ("set", "a"),
            ("expire", "a"),
            ("set", "c"),
            ("set", "d"),
            ("expire", "d"),
            ("set", "a"),
            ("del", "c"),
            ("persist", "d"),
            ("del", "d"),
            ("set", "m1"),
            ("set", "m2"),
            ("append", "ap"),
            ("setrange", "ap"),
            ("incrby", "n"),
            ("incrby", "n"),
            ("incrbyfloat", "f"),
        ])
    );
}

#[test]
fn notif_generic_keys() {
    let srv = server_with("KEA");
    let port = srv.port();
    let mut sub = Subscriber::new(port);
    let mut c = crate::harness::connect(port);
    for line in [
        "MSET a 1 b 2 c 3 d 4 e 5",
        "DEL a nosuch a b",
        "UNLINK c",
        "RENAME d r",
        "RENAME r r",
        "RENAMENX e r",
        "EXPIRE r 100",
        "EXPIRE r 100 NX",
        "PERSIST r",
        "PERSIST r",
        "COPY r r2",
        "COPY r r3 DB 2",
        "MOVE r 1",
        "EXPIRE r2 -1",
    ] {
        let args: Vec<&str> = line.split_whitespace().collect();
        raw(&mut c, &args);
    }
    let got = sub.events_until_sentinel(&mut c);
    let mut want = both(&[
        ("set", "a"),
        ("set", "b"),
        ("set", "c"),
        ("set", "d"),
        ("set", "e"),
        ("del", "a"),
        ("del", "b"),
        ("del", "c"),
        ("rename_from", "d"),
        ("rename_to", "r"),
        ("expire", "r"),
        ("persist", "r"),
        ("copy_to", "r2"),
    ]);
    let in_db = |db: u8, event: &str, key: &str| {
        [
            (format!("__keyspace@{db}__:{key}"), event.to_string()),
            (format!("__keyevent@{db}__:{event}"), key.to_string()),
        ]
    };
    want.extend(in_db(2, "copy_to", "r3"));
    want.extend(in_db(0, "move_from", "r"));
    want.extend(in_db(1, "move_to", "r"));
    want.extend(in_db(0, "del", "r2"));
    assert_eq!(got, want);
}

#[test]
fn notif_lists_and_blocking_pops() {
    let srv = server_with("KEA");
    let port = srv.port();
    let got = run(
        port,
        &[
            "RPUSH l a b c",
            "LPUSHX nol a",
            "LPOP l",
            "RPOP l 2",
            "RPUSH l2 1 2",
            "LMOVE l2 l3 LEFT RIGHT",
            "RPOPLPUSH l2 l3",
            "LSET l3 0 x",
            "LINSERT l3 BEFORE x w",
            "LREM l3 1 w",
            "LTRIM l3 5 10",
            "RPUSH b 1",
            "BLPOP b 1",
        ],
    );
    assert_eq!(
        got,
        both(&[
            ("rpush", "l"),
            ("lpop", "l"),
            ("rpop", "l"),
            ("del", "l"),
            ("rpush", "l2"),
            ("rpush", "l3"),
            ("lpop", "l2"),
            ("lpush", "l3"),
            ("rpop", "l2"),
            ("del", "l2"),
            ("lset", "l3"),
            ("linsert", "l3"),
            ("lrem", "l3"),
            ("ltrim", "l3"),
            ("del", "l3"),
            ("rpush", "b"),
            ("lpop", "b"),
            ("del", "b"),
        ])
    );

    // A blocked BRPOP served by a later push: the push's event, then the pop's.
    let mut sub = Subscriber::new(port);
    let mut blocked = raw_tcp(port);
    blocked
        .write_all(b"*3\r\n$5\r\nBRPOP\r\n$1\r\nq\r\n$1\r\n5\r\n")
        .expect("brpop");
    let mut c = crate::harness::connect(port);
    let deadline = Instant::now() + Duration::from_secs(5);
    while crate::harness::cmd(&mut c, &["CLIENT", "LIST"])
        .as_bytes()
        .is_some_and(|b| !String::from_utf8_lossy(b).contains("cmd=brpop"))
    {
        assert!(Instant::now() < deadline, "BRPOP never blocked");
        std::thread::sleep(Duration::from_millis(10));
    }
    raw(&mut c, &["LPUSH", "q", "v"]);
    let mut reply = [0u8; 64];
    let n = blocked.read(&mut reply).expect("brpop reply");
    assert!(escape(&reply[..n]).contains('v'), "{}", escape(&reply[..n]));
    let got = sub.events_until_sentinel(&mut c);
    assert_eq!(got, both(&[("lpush", "q"), ("rpop", "q"), ("del", "q")]));
}

#[test]
fn notif_hashes_sets_zsets() {
    let srv = server_with("KEA");
    let got = run(
        srv.port(),
        &[
            "HSET h f 1 g 2",
            "HSETNX h f 1",
            "HINCRBY h n 1",
            "HINCRBYFLOAT h x 0.5",
            "HDEL h nosuch",
            "HDEL h f g n x",
            "SADD s a b",
            "SADD s a",
            "SMOVE s t a",
            "SREM s b",
            "SADD u 1",
            "SINTERSTORE d u t",
            "SUNIONSTORE d u t",
            "SPOP u",
            "ZADD z 1 a 2 b",
            "ZADD z 1 a",
            "ZINCRBY z 1 a",
            "ZREM z a",
            "ZPOPMIN z",
            "ZADD z2 1 a",
            "ZUNIONSTORE zu 1 z2",
            "ZDIFFSTORE zu 2 z2 z2",
        ],
    );
    assert_eq!(
        got,
        both(&[
            ("hset", "h"),
            ("hincrby", "h"),
            ("hincrbyfloat", "h"),
            ("hdel", "h"),
            ("del", "h"),
            ("sadd", "s"),
            ("srem", "s"),
            ("sadd", "t"),
            ("srem", "s"),
            ("del", "s"),
            ("sadd", "u"),
            ("sunionstore", "d"),
            ("spop", "u"),
            ("del", "u"),
            ("zadd", "z"),
            ("zincr", "z"),
            ("zrem", "z"),
            ("zpopmin", "z"),
            ("del", "z"),
            ("zadd", "z2"),
            ("zunionstore", "zu"),
            ("del", "zu"),
        ])
    );
}

#[test]
fn notif_flags_filter_classes_and_channels() {
    let srv = Server::start();
    let port = srv.port();
    let mut c = srv.client();
    let cmds = ["SET s 1", "LPUSH l a", "EXPIRE s 100", "HSET h f v"];
    // Off by default: nothing at all.
    assert!(run(port, &cmds).is_empty());
    // Only key-event channels of string commands.
    assert_eq!(
        cmd(&mut c, &["CONFIG", "SET", "notify-keyspace-events", "E$"]),
        Reply::ok()
    );
    assert_eq!(
        run(port, &cmds),
        vec![("__keyevent@0__:set".to_string(), "s".to_string())]
    );
    // Only key-space channels of list commands.
    cmd(&mut c, &["CONFIG", "SET", "notify-keyspace-events", "Kl"]);
    assert_eq!(
        run(port, &cmds),
        vec![("__keyspace@0__:l".to_string(), "lpush".to_string())]
    );
    // Classes without K or E publish nothing.
    cmd(&mut c, &["CONFIG", "SET", "notify-keyspace-events", "g$lh"]);
    assert!(run(port, &cmds).is_empty());
    // Only `new`: announced for created keys whatever the command's class.
    cmd(&mut c, &["CONFIG", "SET", "notify-keyspace-events", "En"]);
    cmd(&mut c, &["DEL", "s", "l", "h"]);
    assert_eq!(
        run(port, &cmds),
        ["s", "l", "h"]
            .iter()
            .map(|k| ("__keyevent@0__:new".to_string(), k.to_string()))
            .collect::<Vec<_>>()
    );
    // Generic events in another database.
    cmd(&mut c, &["CONFIG", "SET", "notify-keyspace-events", "Eg"]);
    let got = run(port, &["SELECT 3", "SET k v", "EXPIRE k 10", "DEL k"]);
    assert_eq!(
        got,
        vec![
            ("__keyevent@3__:expire".to_string(), "k".to_string()),
            ("__keyevent@3__:del".to_string(), "k".to_string()),
        ]
    );
}

#[test]
fn notif_expired_from_active_expiry() {
    let srv = server_with("Ex");
    let port = srv.port();
    let mut sub = Subscriber::new(port);
    let mut c = srv.client();
    raw(&mut c, &["SET", "gone", "v", "PX", "50"]);
    raw(&mut c, &["HSET", "h", "f", "v"]);
    raw(&mut c, &["PEXPIRE", "h", "60"]);
    // Active expiry runs every ~100 ms; both keys are reclaimed without being read.
    sub.s
        .set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    let mut got = vec![
        String::from_utf8_lossy(&sub.frame()[3]).into_owned(),
        String::from_utf8_lossy(&sub.frame()[3]).into_owned(),
    ];
    got.sort();
    assert_eq!(got, ["gone", "h"]);
    let rest = sub.events_until_sentinel(&mut c);
    assert!(rest.is_empty(), "{rest:?}");
    // The channel is the expired event's.
    raw(&mut c, &["SET", "k", "v", "PX", "20"]);
    let f = sub.frame();
    assert_eq!(f[2], b"__keyevent@0__:expired");
    assert_eq!(f[3], b"k");
}

#[test]
fn notif_config_round_trip() {
    let srv = Server::start();
    let mut c = srv.client();
    let get = |c: &mut redis::Connection| match cmd(c, &["CONFIG", "GET", "notify-keyspace-events"])
    {
        Reply::Array(v) => v[1]
            .as_bytes()
            .map(|b| String::from_utf8_lossy(b).into_owned()),
        other => panic!("{other:?}"),
    };
    assert_eq!(get(&mut c).as_deref(), Some(""));
    for (set, want) in [
        ("KEA", "AKE"),
        ("KEAnm", "AKEm"),
        ("Kgg", "gK"),
        ("E$lxm", "$lxEm"),
        ("g$lshzxetd", "A"),
        ("", ""),
    ] {
        assert_eq!(
            cmd(&mut c, &["CONFIG", "SET", "notify-keyspace-events", set]),
            Reply::ok()
        );
        assert_eq!(get(&mut c).as_deref(), Some(want), "after {set}");
    }
    let e = cmd(&mut c, &["CONFIG", "SET", "notify-keyspace-events", "Kq"]);
    assert_eq!(
        e.error_text(),
        Some(
            "ERR CONFIG SET failed (possibly related to argument 'notify-keyspace-events') - \
             Invalid event class character. Use 'Ag$lshzxeKEtmdn'."
        )
    );
    assert_eq!(get(&mut c).as_deref(), Some(""));
}

/// Commands covering every family, including ones that fail or change nothing (which must
/// publish nothing), run on redis-server and on Basalt.
const DIFF_COMMANDS: &[&str] = &[
    // strings
    "SET a 1",
    "SET a 2 EX 100",
    "SET a 3 NX",
    "SET b x XX",
    "SET b x GET",
    "SET a 4 KEEPTTL GET",
    "SETNX a 1",
    "SETNX c 1",
    "SETEX d 100 v",
    "PSETEX e 100000 v",
    "GETSET a 9",
    "GETDEL c",
    "GETDEL nosuch",
    "GETEX d PERSIST",
    "GETEX d PERSIST",
    "GETEX d EX 100",
    "GETEX d PXAT 1",
    "GETEX nosuch EX 10",
    "MSET m1 1 m2 2",
    "MSETNX m1 1 m3 3",
    "MSETNX m3 3 m4 4",
    "APPEND ap x",
    "SETRANGE ap 0",
    "SETRANGE ap 2 yy",
    "SETRANGE nosuch 0",
    "INCR n",
    "DECR n",
    "INCRBY n 5",
    "DECRBY n 2",
    "INCRBYFLOAT f 1.5",
    "INCR ap",
    "LPUSH a x",
    "SET a 1 EX 0",
    // generic
    "DEL a b nosuch a",
    "UNLINK m1 m2",
    "RENAME m3 r1",
    "RENAME r1 r1",
    "RENAMENX m4 r1",
    "RENAMENX m4 r2",
    "RENAME nosuch x",
    "EXPIRE r1 100",
    "PEXPIRE r1 100000 NX",
    "EXPIRE r1 200 GT",
    "PERSIST r1",
    "PERSIST r1",
    "EXPIREAT r1 1",
    "EXPIRE nosuch 10",
    "SET k1 v",
    "MOVE k1 1",
    "MOVE k1 1",
    "SET k2 v",
    "COPY k2 k3",
    "COPY k2 k3",
    "COPY k2 k3 REPLACE",
    "COPY k2 k4 DB 2",
    "COPY nosuch k5",
    "PEXPIRE k2 -1",
    "TOUCH k3",
    "SET ow 1",
    "SET ow2 2",
    "RENAME ow ow2",
    "MSET ow2 3 ow3 4",
    "SET ow3 x GET",
    "LPUSH ow3 x",
    // Writes finding an expired key: `expired` first, whether active expiry or the write
    // itself removes it.
    // One expiring key at a time, so the order does not depend on which server expires what
    // when.
    "SET lz v PX 1",
    "SLEEP 5",
    "SET lz w",
    "HSET lh f v",
    "PEXPIRE lh 1",
    "SLEEP 5",
    "HSET lh g v",
    "SET lz2 v PX 1",
    "SLEEP 5",
    "DEL lz2",
    // hashes
    "HSET h f 1 g 2",
    "HSET h f 1",
    "HSETNX h f 1",
    "HSETNX h z 1",
    "HMSET h a 1",
    "HINCRBY h n 1",
    "HINCRBYFLOAT h fl 0.5",
    "HINCRBY h a x",
    "HDEL h nosuch",
    "HDEL h f g",
    "HDEL h z a n fl",
    "HSET k3 f v",
    // lists
    "RPUSH l a b c",
    "LPUSH l z",
    "LPUSHX nol a",
    "RPUSHX l d",
    "LPOP l",
    "RPOP l 2",
    "LPOP l 0",
    "LPOP nol",
    "LSET l 0 q",
    "LINSERT l BEFORE q p",
    "LINSERT l BEFORE nosuch p",
    "LREM l 0 nosuch",
    "LREM l 1 p",
    "LTRIM l 0 -1",
    "LTRIM nol 0 1",
    "RPUSH l2 1 2 3",
    "LMOVE l2 l3 LEFT RIGHT",
    "RPOPLPUSH l2 l3",
    "LMOVE l2 l3 LEFT LEFT",
    "LMOVE nol l3 LEFT LEFT",
    "LMPOP 2 nol l3 LEFT COUNT 1",
    "LTRIM l3 5 10",
    "RPUSH l4 x",
    "LMOVE l4 l4 LEFT RIGHT",
    "BLPOP l 0.01",
    "BLPOP l 0.01",
    "RPUSH l5 a b",
    "BLMOVE l5 l6 RIGHT LEFT 0.01",
    "BLMPOP 0.01 1 l5 RIGHT COUNT 5",
    "BRPOPLPUSH l6 l6 0.01",
    // sets
    "SADD s a b c",
    "SADD s a",
    "SREM s nosuch",
    "SREM s a",
    "SMOVE s s2 b",
    "SMOVE s s2 nosuch",
    "SADD s2 c",
    "SMOVE s s2 c",
    "SMOVE s2 s2 b",
    "SPOP s2",
    "SPOP s2 0",
    "SPOP s2 10",
    "SPOP nosuch",
    "SADD x1 1 2",
    "SADD x2 2 3",
    "SINTERSTORE d1 x1 x2",
    "SINTERSTORE d1 x1 nosuch",
    "SINTERSTORE d1 x1 nosuch",
    "SUNIONSTORE d2 x1 x2",
    "SDIFFSTORE d3 x1 x2",
    "SDIFFSTORE d3 x1 x1",
    "SINTERSTORE d4 x1 h",
    // sorted sets
    "ZADD z 1 a 2 b",
    "ZADD z 1 a",
    "ZADD z CH 5 a",
    "ZADD z INCR 1 a",
    "ZADD z XX 1 nosuch",
    "ZINCRBY z 0 a",
    "ZINCRBY z 1 b",
    "ZREM z nosuch",
    "ZREM z a",
    "ZADD z 1 a 3 c 4 d",
    "ZREMRANGEBYRANK z 0 0",
    "ZREMRANGEBYSCORE z 3 3",
    "ZREMRANGEBYSCORE z 100 200",
    "ZREMRANGEBYLEX z - +",
    "ZADD z2 1 a 2 b 3 c",
    "ZPOPMIN z2",
    "ZPOPMAX z2 0",
    "ZPOPMAX z2 5",
    "ZADD z3 1 a 2 b",
    "ZMPOP 1 z3 MIN",
    "BZPOPMAX z3 0.01",
    "BZPOPMIN z3 0.01",
    "ZADD z4 1 a",
    "BZMPOP 0.01 1 z4 MAX COUNT 3",
    "ZADD za 1 a 2 b",
    "ZADD zb 2 b 3 c",
    "ZUNIONSTORE zu 2 za zb",
    "ZINTERSTORE zi 2 za zb WEIGHTS 2 3",
    "ZDIFFSTORE zd 2 za za",
    "ZDIFFSTORE zu 2 za za",
    "ZRANGESTORE zr za 0 -1",
    "ZRANGESTORE zr za 5 6",
    "ZRANGESTORE zr za 5 6",
    "ZADD za 1 nan",
    // transactions
    "MULTI",
    "SET t 1",
    "LPUSH tl a",
    "INCR t",
    "EXEC",
    // whole databases: no per-key events
    "SWAPDB 0 1",
    "SWAPDB 0 1",
    "FLUSHDB",
    "FLUSHALL",
];

#[test]
fn notif_differential_against_redis() {
    differential("KEA");
}

/// With `n` too: `new` events for every key a command creates.
#[test]
fn notif_differential_with_new_keys_against_redis() {
    differential("KEAn");
}

fn differential(flags: &str) {
    let Some(redis) = RedisServer::start() else {
        return;
    };
    let basalt = Server::start();
    let started = Instant::now();
    let mut streams = Vec::new();
    for port in [redis.port(), basalt.port()] {
        let mut c = crate::harness::connect(port);
        cmd(&mut c, &["CONFIG", "SET", "notify-keyspace-events", flags]);
        let mut sub = Subscriber::new(port);
        let mut replies = Vec::new();
        for line in DIFF_COMMANDS {
            let args: Vec<&str> = line.split_whitespace().collect();
            if let ["SLEEP", ms] = args[..] {
                std::thread::sleep(Duration::from_millis(ms.parse().expect("ms")));
                continue;
            }
            replies.push(format!("{line} -> {:?}", raw(&mut c, &args)));
        }
        // The events are what this test compares; the replies only help to read a failure.
        let events = sub.events_until_sentinel(&mut c);
        streams.push((events, replies));
    }
    let (redis_events, redis_replies) = &streams[0];
    let (basalt_events, basalt_replies) = &streams[1];
    for (i, (r, b)) in redis_events.iter().zip(basalt_events).enumerate() {
        assert_eq!(
            r, b,
            "{flags}: event {i} differs\nredis:  {redis_events:#?}\nbasalt: {basalt_events:#?}\nreplies (redis):\n{}\nreplies (basalt):\n{}",
            redis_replies.join("\n"),
            basalt_replies.join("\n")
        );
    }
    assert_eq!(
        redis_events.len(),
        basalt_events.len(),
        "{flags}: event counts differ\nredis:  {redis_events:#?}\nbasalt: {basalt_events:#?}"
    );
    eprintln!(
        "notifications differential ({flags}): {} commands, {} events, {:?}",
        DIFF_COMMANDS.len(),
        redis_events.len(),
        started.elapsed()
    );
}
