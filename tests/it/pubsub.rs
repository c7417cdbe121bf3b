//! Pub/Sub with several clients: exact frames for channel, pattern and shard messages over RESP2
//! and RESP3, subscribed mode, PUBSUB introspection, cleanup on disconnect and RESET, the idle
//! timeout, output buffer limits for subscribers that stop reading, and a transcript compared
//! byte for byte with a real redis-server.

use crate::harness::{cmd, escape, raw, raw_tcp, read_until, RedisServer, Reply, Server};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

/// Encodes a command as a RESP array of bulk strings.
fn encode<A: AsRef<[u8]>>(args: &[A]) -> Vec<u8> {
    let mut out = format!("*{}\r\n", args.len()).into_bytes();
    for a in args {
        let a = a.as_ref();
        out.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
        out.extend_from_slice(a);
        out.extend_from_slice(b"\r\n");
    }
    out
}

/// Sends a command on a raw socket without reading anything.
fn send_raw<A: AsRef<[u8]>>(s: &mut TcpStream, args: &[A]) {
    s.write_all(&encode(args)).expect("write to server");
}

/// Reads up to `n` bytes: fewer if the peer closes or the read times out first.
fn read_n(s: &mut TcpStream, n: usize) -> Vec<u8> {
    let mut out = vec![0u8; n];
    let mut got = 0;
    while got < n {
        match s.read(&mut out[got..]) {
            Ok(0) | Err(_) => break,
            Ok(k) => got += k,
        }
    }
    out.truncate(got);
    out
}

/// Reads exactly what `expected` holds and compares (shown escaped on failure).
#[track_caller]
fn expect(s: &mut TcpStream, expected: &[u8]) {
    let got = read_n(s, expected.len());
    assert_eq!(escape(&got), escape(expected));
}

/// Asserts that nothing more arrives for a little while.
#[track_caller]
fn expect_nothing(s: &mut TcpStream) {
    s.set_read_timeout(Some(Duration::from_millis(150)))
        .expect("set timeout");
    let mut buf = [0u8; 256];
    let extra = match s.read(&mut buf) {
        Ok(n) => buf[..n].to_vec(),
        Err(_) => Vec::new(),
    };
    s.set_read_timeout(Some(Duration::from_secs(10)))
        .expect("set timeout");
    assert!(extra.is_empty(), "unexpected bytes: {}", escape(&extra));
}

/// An aggregate frame of bulk strings: `*` for RESP2 arrays, `>` for RESP3 pushes.
fn frame(kind: char, parts: &[&[u8]]) -> Vec<u8> {
    let mut out = format!("{kind}{}\r\n", parts.len()).into_bytes();
    for p in parts {
        out.extend_from_slice(format!("${}\r\n", p.len()).as_bytes());
        out.extend_from_slice(p);
        out.extend_from_slice(b"\r\n");
    }
    out
}

/// A (un)subscription confirmation: `[word, name, count]`; `name` None is the nil channel.
fn confirm(kind: char, word: &str, name: Option<&str>, count: i64) -> Vec<u8> {
    let mut out = format!("{kind}3\r\n${}\r\n{word}\r\n", word.len()).into_bytes();
    match name {
        Some(n) => out.extend_from_slice(format!("${}\r\n{n}\r\n", n.len()).as_bytes()),
        None if kind == '>' => out.extend_from_slice(b"_\r\n"),
        None => out.extend_from_slice(b"$-1\r\n"),
    }
    out.extend_from_slice(format!(":{count}\r\n").as_bytes());
    out
}

fn int(n: i64) -> Reply {
    Reply::Int(n)
}

/// PUBSUB NUMSUB for one channel.
fn numsub(c: &mut redis::Connection, channel: &str) -> i64 {
    match cmd(c, &["PUBSUB", "NUMSUB", channel]) {
        Reply::Array(v) if v.len() == 2 => v[1].as_int().expect("count"),
        other => panic!("PUBSUB NUMSUB: {other}"),
    }
}

/// Polls until `f` holds (connections close asynchronously).
#[track_caller]
fn eventually(what: &str, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn text(r: Reply) -> String {
    match r {
        Reply::Bulk(b) => String::from_utf8_lossy(&b).into_owned(),
        Reply::Verbatim(s) => s,
        other => panic!("expected text, got {other}"),
    }
}

/// A field of an INFO or CLIENT LIST text.
fn field(text: &str, name: &str, sep: char) -> String {
    text.split(['\n', ' ', '\r'])
        .find_map(|kv| kv.strip_prefix(name)?.strip_prefix(sep))
        .unwrap_or_else(|| panic!("no {name} in {text}"))
        .to_string()
}

#[test]
fn channel_pattern_and_shard_messages_reach_an_idle_subscriber_in_redis_frames() {
    let srv = Server::start();
    let mut publisher = srv.client();
    let mut sub = raw_tcp(srv.port());
    send_raw(&mut sub, &["SUBSCRIBE", "news", "sport", "news"]);
    expect(
        &mut sub,
        &[
            confirm('*', "subscribe", Some("news"), 1),
            confirm('*', "subscribe", Some("sport"), 2),
            // Subscribing twice confirms again with an unchanged count.
            confirm('*', "subscribe", Some("news"), 2),
        ]
        .concat(),
    );
    send_raw(&mut sub, &["PSUBSCRIBE", "n*"]);
    expect(&mut sub, &confirm('*', "psubscribe", Some("n*"), 3));
    send_raw(&mut sub, &["SSUBSCRIBE", "shard"]);
    // Shard subscriptions are counted on their own.
    expect(&mut sub, &confirm('*', "ssubscribe", Some("shard"), 1));

    // The subscriber sends nothing from here on: messages must still arrive.
    // A channel and a matching pattern both deliver, and both count.
    assert_eq!(cmd(&mut publisher, &["PUBLISH", "news", "hello"]), int(2));
    expect(
        &mut sub,
        &[
            frame('*', &[b"message", b"news", b"hello"]),
            frame('*', &[b"pmessage", b"n*", b"news", b"hello"]),
        ]
        .concat(),
    );
    assert_eq!(
        raw(
            &mut publisher,
            &[&b"PUBLISH"[..], b"nobody", b"\x00\xff\r\n"]
        ),
        int(1)
    );
    expect(
        &mut sub,
        &frame('*', &[b"pmessage", b"n*", b"nobody", b"\x00\xff\r\n"]),
    );
    assert_eq!(cmd(&mut publisher, &["PUBLISH", "sport", ""]), int(1));
    expect(&mut sub, &frame('*', &[b"message", b"sport", b""]));
    assert_eq!(cmd(&mut publisher, &["PUBLISH", "other", "x"]), int(0));
    // Shard channels are a namespace of their own, and patterns never see them.
    assert_eq!(cmd(&mut publisher, &["SPUBLISH", "shard", "s1"]), int(1));
    expect(&mut sub, &frame('*', &[b"smessage", b"shard", b"s1"]));
    assert_eq!(cmd(&mut publisher, &["SPUBLISH", "news", "s2"]), int(0));
    assert_eq!(cmd(&mut publisher, &["PUBLISH", "shard", "s3"]), int(0));
    expect_nothing(&mut sub);

    // Patterns use Redis's glob rules, case-sensitively.
    send_raw(&mut sub, &["PSUBSCRIBE", "h[ae]llo?", "x\\*"]);
    expect(
        &mut sub,
        &[
            confirm('*', "psubscribe", Some("h[ae]llo?"), 4),
            confirm('*', "psubscribe", Some("x\\*"), 5),
        ]
        .concat(),
    );
    for (channel, n) in [
        ("hallo!", 1),
        ("hello", 0),
        ("HELLO!", 0),
        ("x*", 1),
        ("xy", 0),
    ] {
        assert_eq!(cmd(&mut publisher, &["PUBLISH", channel, "m"]), int(n));
    }
    expect(
        &mut sub,
        &[
            frame('*', &[b"pmessage", b"h[ae]llo?", b"hallo!", b"m"]),
            frame('*', &[b"pmessage", b"x\\*", b"x*", b"m"]),
        ]
        .concat(),
    );
    expect_nothing(&mut sub);
}

#[test]
fn subscribers_receive_in_subscription_order_and_each_publish_in_order() {
    let srv = Server::start();
    let mut publisher = srv.client();
    let mut subs: Vec<TcpStream> = (0..3).map(|_| raw_tcp(srv.port())).collect();
    for s in &mut subs {
        send_raw(s, &["SUBSCRIBE", "c"]);
        expect(s, &confirm('*', "subscribe", Some("c"), 1));
    }
    for i in 0..50 {
        assert_eq!(
            cmd(&mut publisher, &["PUBLISH", "c", &i.to_string()]),
            int(3)
        );
    }
    let all: Vec<u8> = (0..50)
        .flat_map(|i: i32| frame('*', &[b"message", b"c", i.to_string().as_bytes()]))
        .collect();
    for s in &mut subs {
        expect(s, &all);
    }
}

#[test]
fn unsubscribing_one_by_one_and_all_at_once() {
    let srv = Server::start();
    let mut s = raw_tcp(srv.port());
    send_raw(&mut s, &["UNSUBSCRIBE"]);
    // Nothing to leave: one confirmation with a nil channel.
    expect(&mut s, &confirm('*', "unsubscribe", None, 0));
    send_raw(&mut s, &["PUNSUBSCRIBE"]);
    expect(&mut s, &confirm('*', "punsubscribe", None, 0));
    send_raw(&mut s, &["SUBSCRIBE", "a", "b", "c"]);
    send_raw(&mut s, &["PSUBSCRIBE", "z*", "a*", "m*"]);
    send_raw(&mut s, &["SSUBSCRIBE", "s1", "s2"]);
    read_until(&mut s, &confirm('*', "ssubscribe", Some("s2"), 2));
    send_raw(&mut s, &["UNSUBSCRIBE", "b", "nope"]);
    // A channel never subscribed to is confirmed all the same.
    expect(
        &mut s,
        &[
            confirm('*', "unsubscribe", Some("b"), 5),
            confirm('*', "unsubscribe", Some("nope"), 5),
        ]
        .concat(),
    );
    // Patterns go in subscription order, each with the count after it.
    send_raw(&mut s, &["PUNSUBSCRIBE"]);
    expect(
        &mut s,
        &[
            confirm('*', "punsubscribe", Some("z*"), 4),
            confirm('*', "punsubscribe", Some("a*"), 3),
            confirm('*', "punsubscribe", Some("m*"), 2),
        ]
        .concat(),
    );
    send_raw(&mut s, &["UNSUBSCRIBE"]);
    let got = read_n(&mut s, 2 * confirm('*', "unsubscribe", Some("a"), 1).len());
    let mut expected_any_order = [
        [
            confirm('*', "unsubscribe", Some("a"), 1),
            confirm('*', "unsubscribe", Some("c"), 0),
        ]
        .concat(),
        [
            confirm('*', "unsubscribe", Some("c"), 1),
            confirm('*', "unsubscribe", Some("a"), 0),
        ]
        .concat(),
    ]
    .into_iter();
    assert!(
        expected_any_order.any(|e| e == got),
        "UNSUBSCRIBE: {}",
        escape(&got)
    );
    // Still subscribed to shard channels, so still in subscribed mode.
    send_raw(&mut s, &["GET", "k"]);
    read_until(&mut s, b"allowed in this context\r\n");
    send_raw(&mut s, &["SUNSUBSCRIBE"]);
    expect(
        &mut s,
        &[
            confirm('*', "sunsubscribe", Some("s1"), 1),
            confirm('*', "sunsubscribe", Some("s2"), 0),
        ]
        .concat(),
    );
    send_raw(&mut s, &["PING"]);
    expect(&mut s, b"+PONG\r\n");
}

#[test]
fn resp2_subscribed_mode_allows_only_pubsub_ping_quit_and_reset() {
    let srv = Server::start();
    let mut s = raw_tcp(srv.port());
    send_raw(&mut s, &["SUBSCRIBE", "c"]);
    expect(&mut s, &confirm('*', "subscribe", Some("c"), 1));
    let refused = |name: &str| {
        format!(
            "-ERR Can't execute '{name}': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET are allowed in this context\r\n"
        )
        .into_bytes()
    };
    send_raw(&mut s, &["GET", "k"]);
    expect(&mut s, &refused("get"));
    send_raw(&mut s, &["client", "list"]);
    expect(&mut s, &refused("client|list"));
    send_raw(&mut s, &["HELLO", "3"]);
    expect(&mut s, &refused("hello"));
    send_raw(&mut s, &["PUBSUB", "NUMSUB", "c"]);
    expect(&mut s, &refused("pubsub|numsub"));
    // Unknown commands, unknown subcommands and arity errors come first, as in Redis.
    send_raw(&mut s, &["CLIENT", "FOO"]);
    expect(
        &mut s,
        b"-ERR unknown subcommand 'FOO'. Try CLIENT HELP.\r\n",
    );
    send_raw(&mut s, &["CONFIG", "GET"]);
    expect(
        &mut s,
        b"-ERR wrong number of arguments for 'config|get' command\r\n",
    );
    send_raw(&mut s, &["ECHO"]);
    expect(
        &mut s,
        b"-ERR wrong number of arguments for 'echo' command\r\n",
    );
    send_raw(&mut s, &["NOSUCH"]);
    expect(
        &mut s,
        b"-ERR unknown command 'NOSUCH', with args beginning with: \r\n",
    );
    // PING answers with an array a subscriber can parse.
    send_raw(&mut s, &["PING"]);
    expect(&mut s, &frame('*', &[b"pong", b""]));
    send_raw(&mut s, &["PING", "hi"]);
    expect(&mut s, &frame('*', &[b"pong", b"hi"]));
    send_raw(&mut s, &["PING", "a", "b"]);
    expect(
        &mut s,
        b"-ERR wrong number of arguments for 'ping' command\r\n",
    );
    send_raw(&mut s, &["QUIT"]);
    assert_eq!(read_until(&mut s, b""), b"+OK\r\n<EOF>");
}

#[test]
fn resp3_gets_push_frames_and_may_run_any_command_while_subscribed() {
    let srv = Server::start();
    let mut other = srv.client();
    let mut s = raw_tcp(srv.port());
    send_raw(&mut s, &["HELLO", "3"]);
    read_until(&mut s, b"$7\r\nmodules\r\n*0\r\n");
    send_raw(&mut s, &["SUBSCRIBE", "c"]);
    send_raw(&mut s, &["PSUBSCRIBE", "c*"]);
    expect(
        &mut s,
        &[
            confirm('>', "subscribe", Some("c"), 1),
            confirm('>', "psubscribe", Some("c*"), 2),
        ]
        .concat(),
    );
    send_raw(&mut s, &["SET", "k", "v"]);
    send_raw(&mut s, &["GET", "k"]);
    send_raw(&mut s, &["PING"]);
    expect(&mut s, b"+OK\r\n$1\r\nv\r\n+PONG\r\n");
    // Its own PUBLISH reaches it before the receiver count, as in Redis.
    send_raw(&mut s, &["PUBLISH", "c", "self"]);
    expect(
        &mut s,
        &[
            frame('>', &[b"message", b"c", b"self"]),
            frame('>', &[b"pmessage", b"c*", b"c", b"self"]),
            b":2\r\n".to_vec(),
        ]
        .concat(),
    );
    assert_eq!(cmd(&mut other, &["PUBLISH", "c", "hi"]), int(2));
    expect(
        &mut s,
        &[
            frame('>', &[b"message", b"c", b"hi"]),
            frame('>', &[b"pmessage", b"c*", b"c", b"hi"]),
        ]
        .concat(),
    );
    // Messages reach a RESP3 subscriber blocked in BLPOP, which then still gets its reply.
    send_raw(&mut s, &["BLPOP", "list", "0"]);
    eventually("BLPOP to block", || {
        field(
            &text(cmd(&mut other, &["INFO", "clients"])),
            "blocked_clients",
            ':',
        ) == "1"
    });
    assert_eq!(cmd(&mut other, &["PUBLISH", "cx", "while blocked"]), int(1));
    expect(
        &mut s,
        &frame('>', &[b"pmessage", b"c*", b"cx", b"while blocked"]),
    );
    assert_eq!(cmd(&mut other, &["RPUSH", "list", "item"]), int(1));
    expect(&mut s, &frame('*', &[b"list", b"item"]));
    send_raw(&mut s, &["UNSUBSCRIBE"]);
    send_raw(&mut s, &["PUNSUBSCRIBE", "c*"]);
    send_raw(&mut s, &["UNSUBSCRIBE"]);
    expect(
        &mut s,
        &[
            confirm('>', "unsubscribe", Some("c"), 1),
            confirm('>', "punsubscribe", Some("c*"), 0),
            confirm('>', "unsubscribe", None, 0),
        ]
        .concat(),
    );
    // Switching to RESP2 while subscribed turns on subscribed mode and array frames.
    send_raw(&mut s, &["SUBSCRIBE", "c"]);
    expect(&mut s, &confirm('>', "subscribe", Some("c"), 1));
    send_raw(&mut s, &["HELLO", "2"]);
    read_until(&mut s, b"$7\r\nmodules\r\n*0\r\n");
    send_raw(&mut s, &["GET", "k"]);
    read_until(&mut s, b"allowed in this context\r\n");
    assert_eq!(cmd(&mut other, &["PUBLISH", "c", "two"]), int(1));
    expect(&mut s, &frame('*', &[b"message", b"c", b"two"]));
}

#[test]
fn pubsub_introspection_reports_channels_patterns_and_subscriber_counts() {
    let srv = Server::start();
    let mut c = srv.client();
    let mut a = raw_tcp(srv.port());
    let mut b = raw_tcp(srv.port());
    send_raw(&mut a, &["SUBSCRIBE", "news.a", "news.b", "misc"]);
    send_raw(&mut a, &["PSUBSCRIBE", "news.*", "x*"]);
    send_raw(&mut a, &["SSUBSCRIBE", "s1", "s2"]);
    read_until(&mut a, &confirm('*', "ssubscribe", Some("s2"), 2));
    send_raw(&mut b, &["SUBSCRIBE", "news.a"]);
    send_raw(&mut b, &["PSUBSCRIBE", "news.*"]);
    send_raw(&mut b, &["SSUBSCRIBE", "s1"]);
    read_until(&mut b, &confirm('*', "ssubscribe", Some("s1"), 1));

    let sorted = |r: Reply| match r {
        Reply::Array(mut v) => {
            v.sort_by_key(|x| x.as_bytes().map(<[u8]>::to_vec));
            Reply::Array(v)
        }
        other => panic!("expected an array, got {other}"),
    };
    let bulks = |v: &[&str]| Reply::Array(v.iter().map(Reply::bulk).collect());
    assert_eq!(
        sorted(cmd(&mut c, &["PUBSUB", "CHANNELS"])),
        bulks(&["misc", "news.a", "news.b"])
    );
    assert_eq!(
        sorted(cmd(&mut c, &["PUBSUB", "CHANNELS", "news.*"])),
        bulks(&["news.a", "news.b"])
    );
    assert_eq!(cmd(&mut c, &["PUBSUB", "CHANNELS", "NEWS*"]), bulks(&[]));
    assert_eq!(
        cmd(
            &mut c,
            &["PUBSUB", "NUMSUB", "news.a", "misc", "nope", "news.*"]
        ),
        Reply::Array(vec![
            Reply::bulk("news.a"),
            int(2),
            Reply::bulk("misc"),
            int(1),
            Reply::bulk("nope"),
            int(0),
            // Patterns are not channels.
            Reply::bulk("news.*"),
            int(0),
        ])
    );
    assert_eq!(cmd(&mut c, &["PUBSUB", "NUMSUB"]), bulks(&[]));
    // Distinct patterns, not pattern subscriptions.
    assert_eq!(cmd(&mut c, &["PUBSUB", "NUMPAT"]), int(2));
    assert_eq!(
        sorted(cmd(&mut c, &["PUBSUB", "SHARDCHANNELS"])),
        bulks(&["s1", "s2"])
    );
    assert_eq!(
        cmd(&mut c, &["PUBSUB", "SHARDCHANNELS", "*2"]),
        bulks(&["s2"])
    );
    assert_eq!(
        cmd(&mut c, &["PUBSUB", "SHARDNUMSUB", "s1", "s2", "news.a"]),
        Reply::Array(vec![
            Reply::bulk("s1"),
            int(2),
            Reply::bulk("s2"),
            int(1),
            Reply::bulk("news.a"),
            int(0),
        ])
    );
    for (args, err) in [
        (
            &["PUBSUB", "CHANNELS", "a", "b"][..],
            "ERR unknown subcommand or wrong number of arguments for 'CHANNELS'. Try PUBSUB HELP.",
        ),
        (
            &["pubsub", "shardchannels", "a", "b"][..],
            "ERR unknown subcommand or wrong number of arguments for 'shardchannels'. Try PUBSUB HELP.",
        ),
        (
            &["PUBSUB", "NUMPAT", "x"][..],
            "ERR wrong number of arguments for 'pubsub|numpat' command",
        ),
        (
            &["PUBSUB", "FOO"][..],
            "ERR unknown subcommand 'FOO'. Try PUBSUB HELP.",
        ),
        (
            &["PUBSUB"][..],
            "ERR wrong number of arguments for 'pubsub' command",
        ),
        (
            &["PUBLISH", "c"][..],
            "ERR wrong number of arguments for 'publish' command",
        ),
        (
            &["SUBSCRIBE"][..],
            "ERR wrong number of arguments for 'subscribe' command",
        ),
    ] {
        assert_eq!(cmd(&mut c, args).error_text(), Some(err), "{args:?}");
    }
    let Reply::Array(help) = cmd(&mut c, &["PUBSUB", "HELP"]) else {
        panic!("PUBSUB HELP");
    };
    assert_eq!(help.len(), 14);
    assert_eq!(
        help.last(),
        Some(&Reply::Simple("    Prints this help.".into()))
    );

    let info = text(cmd(&mut c, &["INFO", "stats"]));
    assert_eq!(field(&info, "pubsub_channels", ':'), "3");
    assert_eq!(field(&info, "pubsub_patterns", ':'), "2");
    assert_eq!(field(&info, "pubsubshard_channels", ':'), "2");

    // CLIENT LIST: counts, the P flag, and TYPE PUBSUB.
    let list = text(cmd(&mut c, &["CLIENT", "LIST", "TYPE", "pubsub"]));
    let lines: Vec<&str> = list.lines().collect();
    assert_eq!(lines.len(), 2, "{list}");
    assert!(lines.iter().all(|l| l.contains(" flags=P ")), "{list}");
    // Connections register in whatever order their tasks start, so ids say nothing of order.
    assert!(
        lines.iter().any(|l| l.contains(" sub=3 psub=2 ssub=2 "))
            && lines.iter().any(|l| l.contains(" sub=1 psub=1 ssub=1 ")),
        "{list}"
    );
    let me = text(cmd(&mut c, &["CLIENT", "INFO"]));
    assert!(me.contains(" flags=N ") && me.contains(" sub=0 psub=0 ssub=0 "));
    let normal = text(cmd(&mut c, &["CLIENT", "LIST", "TYPE", "normal"]));
    assert_eq!(normal.lines().count(), 1, "{normal}");

    // CLIENT KILL TYPE PUBSUB closes exactly the subscribers, whose subscriptions go with them.
    assert_eq!(cmd(&mut c, &["CLIENT", "KILL", "TYPE", "pubsub"]), int(2));
    assert_eq!(read_until(&mut a, b""), b"<EOF>");
    assert_eq!(read_until(&mut b, b""), b"<EOF>");
    eventually("subscriptions of killed clients to go", || {
        cmd(&mut c, &["PUBSUB", "NUMPAT"]) == int(0)
            && cmd(&mut c, &["PUBSUB", "CHANNELS"]) == bulks(&[])
            && cmd(&mut c, &["PUBSUB", "SHARDCHANNELS"]) == bulks(&[])
    });
    let info = text(cmd(&mut c, &["INFO", "stats"]));
    assert_eq!(field(&info, "pubsub_channels", ':'), "0");
}

#[test]
fn subscriptions_end_with_the_connection() {
    let srv = Server::start();
    let mut c = srv.client();
    for _round in 0..3 {
        let mut subs: Vec<TcpStream> = (0..5).map(|_| raw_tcp(srv.port())).collect();
        for s in &mut subs {
            send_raw(s, &["SUBSCRIBE", "c", "d"]);
            send_raw(s, &["PSUBSCRIBE", "p*"]);
            send_raw(s, &["SSUBSCRIBE", "s"]);
            read_until(s, &confirm('*', "ssubscribe", Some("s"), 1));
        }
        assert_eq!(numsub(&mut c, "c"), 5);
        assert_eq!(cmd(&mut c, &["PUBLISH", "pc", "x"]), int(5));
        drop(subs);
        eventually("closed subscribers to be forgotten", || {
            numsub(&mut c, "c") == 0
                && numsub(&mut c, "d") == 0
                && cmd(&mut c, &["PUBSUB", "NUMPAT"]) == int(0)
                && cmd(&mut c, &["PUBSUB", "SHARDNUMSUB", "s"])
                    == Reply::Array(vec![Reply::bulk("s"), int(0)])
        });
        assert_eq!(cmd(&mut c, &["PUBLISH", "c", "x"]), int(0));
    }
}

#[test]
fn reset_drops_every_subscription_without_confirmations() {
    let srv = Server::start();
    let mut c = srv.client();
    let mut s = raw_tcp(srv.port());
    send_raw(&mut s, &["HELLO", "3"]);
    read_until(&mut s, b"$7\r\nmodules\r\n*0\r\n");
    send_raw(&mut s, &["SUBSCRIBE", "c"]);
    send_raw(&mut s, &["PSUBSCRIBE", "p*"]);
    send_raw(&mut s, &["SSUBSCRIBE", "s"]);
    read_until(&mut s, &confirm('>', "ssubscribe", Some("s"), 1));
    send_raw(&mut s, &["RESET"]);
    expect(&mut s, b"+RESET\r\n");
    assert_eq!(numsub(&mut c, "c"), 0);
    assert_eq!(cmd(&mut c, &["PUBSUB", "NUMPAT"]), int(0));
    assert_eq!(cmd(&mut c, &["SPUBLISH", "s", "x"]), int(0));
    assert_eq!(cmd(&mut c, &["PUBLISH", "px", "x"]), int(0));
    // Back to a plain RESP2 client.
    send_raw(&mut s, &["PING"]);
    send_raw(&mut s, &["SET", "k", "v"]);
    expect(&mut s, b"+PONG\r\n+OK\r\n");
    expect_nothing(&mut s);
    // RESET is also allowed in RESP2 subscribed mode.
    send_raw(&mut s, &["SUBSCRIBE", "c"]);
    expect(&mut s, &confirm('*', "subscribe", Some("c"), 1));
    send_raw(&mut s, &["RESET"]);
    send_raw(&mut s, &["GET", "k"]);
    expect(&mut s, b"+RESET\r\n$1\r\nv\r\n");
}

#[test]
fn the_idle_timeout_spares_subscribers() {
    let srv = Server::start();
    let mut c = srv.client();
    let mut idle = raw_tcp(srv.port());
    let mut sub = raw_tcp(srv.port());
    send_raw(&mut sub, &["SUBSCRIBE", "c"]);
    expect(&mut sub, &confirm('*', "subscribe", Some("c"), 1));
    assert_eq!(cmd(&mut c, &["CONFIG", "SET", "timeout", "1"]), Reply::ok());
    // The reaper runs once a second and closes clients idle for a second or more.
    assert_eq!(read_until(&mut idle, b""), b"<EOF>");
    std::thread::sleep(Duration::from_millis(1500));
    // `c` was idle too and is gone.
    let mut c = srv.client();
    assert_eq!(cmd(&mut c, &["CONFIG", "SET", "timeout", "0"]), Reply::ok());
    assert_eq!(cmd(&mut c, &["PUBLISH", "c", "still here"]), int(1));
    expect(&mut sub, &frame('*', &[b"message", b"c", b"still here"]));
}

/// VmRSS of a process, in kB.
fn rss_kb(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// Publishes `total` bytes to `channel` in pipelines of 100 messages of `size` bytes; returns
/// the receiver counts.
fn flood(c: &mut redis::Connection, channel: &str, size: usize, total: usize) -> Vec<i64> {
    let msg = vec![b'x'; size];
    let mut counts = Vec::new();
    for _ in 0..total / (size * 100) {
        let mut p = redis::pipe();
        for _ in 0..100 {
            p.cmd("PUBLISH").arg(channel).arg(&msg[..]);
        }
        let got: Vec<i64> = p.query(c).expect("PUBLISH pipeline");
        counts.extend(got);
    }
    counts
}

#[test]
fn a_subscriber_that_stops_reading_is_disconnected_at_its_hard_limit() {
    let srv = Server::start();
    let pid = srv.pid().expect("server pid");
    let mut publisher = srv.client();
    let mut c = srv.client();
    assert_eq!(
        cmd(
            &mut c,
            &[
                "CONFIG",
                "SET",
                "client-output-buffer-limit",
                "pubsub 1mb 0 0"
            ]
        ),
        Reply::ok()
    );
    let mut healthy = raw_tcp(srv.port());
    send_raw(&mut healthy, &["SUBSCRIBE", "other"]);
    expect(&mut healthy, &confirm('*', "subscribe", Some("other"), 1));
    let mut slow = raw_tcp(srv.port());
    send_raw(&mut slow, &["SUBSCRIBE", "flood"]);
    expect(&mut slow, &confirm('*', "subscribe", Some("flood"), 1));
    let before = rss_kb(pid);

    // ~100 MB published to a subscriber that never reads: the publisher never waits on it.
    let started = Instant::now();
    let counts = flood(&mut publisher, "flood", 10_000, 100_000_000);
    let took = started.elapsed();
    assert_eq!(counts.len(), 10_000);
    assert_eq!(counts[0], 1);
    // Dropped once its queue passed 1 MB (plus what the sockets buffer), long before the end.
    assert_eq!(
        counts.last(),
        Some(&0),
        "the slow subscriber was never dropped"
    );
    assert!(took < Duration::from_secs(20), "publishing took {took:?}");
    eventually("the slow subscriber to be forgotten", || {
        numsub(&mut publisher, "flood") == 0
    });
    if let (Some(before), Some(after)) = (before, rss_kb(pid)) {
        assert!(
            after < before + 64 * 1024,
            "RSS grew from {before} kB to {after} kB"
        );
    }
    // The slow subscriber's connection was closed; the rest of the server is unaffected.
    assert!(read_until(&mut slow, b"").ends_with(b"<EOF>"));
    assert!(srv
        .log_contents()
        .contains("closed ASAP for overcoming of output buffer limits"));
    assert_eq!(cmd(&mut publisher, &["PUBLISH", "other", "ok"]), int(1));
    expect(&mut healthy, &frame('*', &[b"message", b"other", b"ok"]));
    assert_eq!(cmd(&mut c, &["PING"]), Reply::Simple("PONG".into()));
}

#[test]
fn a_subscriber_over_its_soft_limit_is_disconnected_only_after_its_seconds() {
    let srv = Server::start();
    let mut publisher = srv.client();
    assert_eq!(
        cmd(
            &mut publisher,
            &[
                "CONFIG",
                "SET",
                "client-output-buffer-limit",
                "pubsub 0 256kb 2"
            ]
        ),
        Reply::ok()
    );
    let mut slow = raw_tcp(srv.port());
    send_raw(&mut slow, &["SUBSCRIBE", "flood"]);
    expect(&mut slow, &confirm('*', "subscribe", Some("flood"), 1));
    // Far over the soft limit, but not for long yet: still subscribed.
    let counts = flood(&mut publisher, "flood", 10_000, 20_000_000);
    assert!(counts.iter().all(|&n| n == 1));
    assert_eq!(numsub(&mut publisher, "flood"), 1);
    // Redis counts whole seconds and needs more than soft-seconds of them.
    std::thread::sleep(Duration::from_millis(3100));
    assert_eq!(cmd(&mut publisher, &["PUBLISH", "flood", "x"]), int(1));
    eventually("the slow subscriber to be forgotten", || {
        numsub(&mut publisher, "flood") == 0
    });
    assert!(read_until(&mut slow, b"").ends_with(b"<EOF>"));
}

// ---------------------------------------------------------------------------------------------
// Differential: the same transcript on redis-server and on Basalt
// ---------------------------------------------------------------------------------------------

/// Sends `PING barrier-<n>` and returns everything up to and including its reply: whatever the
/// client received before (replies, messages) comes first. Messages published before the barrier
/// are already in the client's queue, so the result does not depend on timing. The token is
/// unique, so a command's own reply (a `+PONG`, say) can never be taken for the barrier's,
/// whatever way the bytes are split across reads; its reply ends with the token as a bulk
/// string in every mode (RESP2, RESP2 subscribed, RESP3).
fn barrier(s: &mut TcpStream, n: &mut usize) -> Vec<u8> {
    *n += 1;
    let token = format!("barrier-{n}");
    let end = format!("${}\r\n{token}\r\n", token.len()).into_bytes();
    send_raw(s, &["PING", token.as_str()]);
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    while !out.ends_with(&end) {
        match s.read(&mut buf) {
            Ok(0) | Err(_) => {
                out.extend_from_slice(b"<EOF or TIMEOUT>");
                break;
            }
            Ok(got) => out.extend_from_slice(&buf[..got]),
        }
    }
    out
}

/// Runs `steps` (client index, command) on a server with `clients` connections (those listed in
/// `resp3` switch to RESP3 first, unrecorded), and returns each client's received bytes: after
/// every step all clients pass a PING barrier, the acting client first, so its command has run
/// (and queued its messages) before the others look.
fn run_transcript(
    port: u16,
    clients: usize,
    resp3: &[usize],
    steps: &[(usize, Vec<&[u8]>)],
) -> Vec<Vec<u8>> {
    let mut conns: Vec<TcpStream> = (0..clients).map(|_| raw_tcp(port)).collect();
    let mut n = 0;
    for &i in resp3 {
        send_raw(&mut conns[i], &["HELLO", "3"]);
        barrier(&mut conns[i], &mut n);
    }
    let mut seen = vec![Vec::new(); clients];
    for (i, args) in steps {
        send_raw(&mut conns[*i], args);
        let acting = barrier(&mut conns[*i], &mut n);
        seen[*i].extend(acting);
        for (j, (c, out)) in conns.iter_mut().zip(seen.iter_mut()).enumerate() {
            if j != *i {
                out.extend(barrier(c, &mut n));
            }
        }
    }
    seen
}

#[test]
fn differential_pubsub_transcript_matches_redis() {
    let Some(redis) = RedisServer::start() else {
        return;
    };
    let srv = Server::start();
    let w = |args: &[&'static str]| -> Vec<&'static [u8]> {
        args.iter().map(|a| a.as_bytes()).collect()
    };
    // Clients: 0 and 1 RESP2 subscribers, 2 a RESP3 subscriber, 3 a plain publisher.
    let steps: Vec<(usize, Vec<&[u8]>)> = vec![
        (0, w(&["SUBSCRIBE", "news", "sport", "news"])),
        (0, w(&["PSUBSCRIBE", "n*", "s?ort", "[ab]*"])),
        (1, w(&["SUBSCRIBE", "news"])),
        (1, w(&["SSUBSCRIBE", "shard", "other"])),
        (2, w(&["SUBSCRIBE", "news"])),
        (2, w(&["PSUBSCRIBE", "*"])),
        (3, w(&["PUBLISH", "news", "hello"])),
        (3, w(&["PUBLISH", "sport", ""])),
        (3, vec![b"PUBLISH", b"bin\x00ary", b"\xff\r\n\x00"]),
        (3, w(&["PUBLISH", "nobody-listens-but-patterns", "x"])),
        (3, w(&["SPUBLISH", "shard", "s"])),
        (3, w(&["SPUBLISH", "news", "not a shard subscriber"])),
        (2, w(&["PUBLISH", "news", "from resp3"])),
        (2, w(&["SET", "k", "v"])),
        (2, w(&["GET", "k"])),
        (0, w(&["GET", "k"])),
        (0, w(&["PING", "hello"])),
        (0, w(&["CLIENT", "LIST"])),
        (0, w(&["CLIENT", "NOSUCH"])),
        (1, w(&["PUBSUB", "NUMSUB", "news"])),
        (3, w(&["PUBSUB", "NUMSUB", "news", "sport", "n*", "zzz"])),
        (3, w(&["PUBSUB", "NUMPAT"])),
        (3, w(&["PUBSUB", "CHANNELS", "s*"])),
        (3, w(&["PUBSUB", "SHARDNUMSUB", "shard", "news"])),
        (3, w(&["PUBSUB", "SHARDCHANNELS", "sh*"])),
        (3, w(&["PUBSUB", "CHANNELS", "a", "b"])),
        (3, w(&["PUBSUB", "NOSUCH"])),
        (3, w(&["PUBSUB", "HELP"])),
        (3, w(&["UNSUBSCRIBE", "x"])),
        (3, w(&["PUNSUBSCRIBE"])),
        (3, w(&["SUNSUBSCRIBE"])),
        (0, w(&["UNSUBSCRIBE", "sport", "nope"])),
        (0, w(&["PUNSUBSCRIBE"])),
        (3, w(&["PUBLISH", "news", "after punsubscribe"])),
        (0, w(&["UNSUBSCRIBE"])),
        (0, w(&["UNSUBSCRIBE"])),
        (0, w(&["GET", "k"])),
        (1, w(&["SUNSUBSCRIBE", "shard"])),
        (1, w(&["SUNSUBSCRIBE"])),
        (1, w(&["UNSUBSCRIBE", "news"])),
        (1, w(&["PING"])),
        (2, w(&["UNSUBSCRIBE"])),
        (2, w(&["PUNSUBSCRIBE", "*"])),
        (2, w(&["UNSUBSCRIBE"])),
        (2, w(&["SUBSCRIBE", "again"])),
        (2, w(&["RESET"])),
        (3, w(&["PUBLISH", "again", "nobody"])),
        (3, w(&["SUBSCRIBE", "last"])),
        (3, w(&["PUBLISH", "last", "to myself"])),
        (3, w(&["PING", "x"])),
    ];
    let expected = run_transcript(redis.port(), 4, &[2], &steps);
    let got = run_transcript(srv.port(), 4, &[2], &steps);
    for (i, (e, g)) in expected.iter().zip(&got).enumerate() {
        assert_eq!(escape(g), escape(e), "client {i} received different bytes");
    }
    crate::harness::notice(&format!(
        "differential_pubsub_transcript_matches_redis: {} steps, 4 clients",
        steps.len()
    ));
}
