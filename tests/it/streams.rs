//! Streams through the real binary: every command with its error cases (each script also runs
//! on a real redis-server when one is installed, so the expected replies are Redis's own),
//! auto-ID monotonicity, approximate trimming, blocking XREAD / XREADGROUP with several clients
//! (`$`, fairness, deletion and group destruction, MULTI, CLIENT UNBLOCK), RESP3 shapes, keyspace
//! notifications, WATCH, RENAME/COPY/MOVE/EXPIRE, and persistence across a restart.

use super::harness::*;
use std::io::Write;
use std::net::TcpStream;
use std::time::Duration;

fn err(s: &str) -> Reply {
    Reply::Error(s.to_string())
}

fn int(n: i64) -> Reply {
    Reply::Int(n)
}

fn b(s: &str) -> Reply {
    Reply::bulk(s)
}

fn arr(v: Vec<Reply>) -> Reply {
    Reply::Array(v)
}

/// An entry as XRANGE returns it.
fn entry(id: &str, fields: &[&str]) -> Reply {
    arr(vec![b(id), arr(fields.iter().map(|f| b(f)).collect())])
}

/// Runs `steps` on Basalt and, when installed, on a fresh redis-server.
#[track_caller]
fn check(steps: &[Step<'_>]) {
    let server = Server::start();
    let redis = RedisServer::start();
    let mut bc = server.client();
    let mut rc = redis.as_ref().map(RedisServer::client);
    check_steps(&mut bc, rc.as_mut(), steps);
}

const INVALID_ID: &str = "ERR Invalid stream ID specified as stream command argument";
const WRONGTYPE: &str = "WRONGTYPE Operation against a key holding the wrong kind of value";

#[test]
fn xadd_ids_options_and_errors() {
    check(&[
        (
            &["XADD", "s", "0-0", "a", "1"],
            err("ERR The ID specified in XADD must be greater than 0-0"),
        ),
        (
            &["XADD", "s", "0", "a", "1"],
            err("ERR The ID specified in XADD must be greater than 0-0"),
        ),
        (&["EXISTS", "s"], int(0)),
        (&["XADD", "s", "0-1", "a", "1"], b("0-1")),
        (
            &["XADD", "s", "0-1", "a", "1"],
            err("ERR The ID specified in XADD is equal or smaller than the target stream top item"),
        ),
        (&["XADD", "s", "0-*", "a", "1"], b("0-2")),
        (&["XADD", "s", "5-*", "a", "1"], b("5-0")),
        (&["XADD", "s", "5-*", "a", "1"], b("5-1")),
        (
            &["XADD", "s", "4-*", "a", "1"],
            err("ERR The ID specified in XADD is equal or smaller than the target stream top item"),
        ),
        (
            &["XADD", "s", "+1", "a", "1"],
            err("ERR The ID specified in XADD is equal or smaller than the target stream top item"),
        ),
        (&["XADD", "s", "6", "a", "1", "b", "2"], b("6-0")),
        (&["XADD", "s", " 7", "a", "1"], b("7-0")),
        (&["XADD", "s", "7- 8", "a", "1"], b("7-8")),
        (&["XADD", "s", "7--9", "a", "1"], err(INVALID_ID)),
        (&["XADD", "s", "abc", "a", "1"], err(INVALID_ID)),
        (&["XADD", "s", "-", "a", "1"], err(INVALID_ID)),
        (&["XADD", "s", "+", "a", "1"], err(INVALID_ID)),
        (
            &["XADD", "s", "18446744073709551616", "a", "1"],
            err(INVALID_ID),
        ),
        (
            &["XADD", "s", "*", "a"],
            err("ERR wrong number of arguments for 'xadd' command"),
        ),
        (
            &["XADD", "s", "MAXLEN", "1", "*"],
            err("ERR wrong number of arguments for 'xadd' command"),
        ),
        (
            &["XADD", "s", "NOMKSTREAM", "NOMKSTREAM", "NOMKSTREAM"],
            err("ERR wrong number of arguments for 'xadd' command"),
        ),
        (&["XADD", "nos", "NOMKSTREAM", "*", "a", "1"], Reply::Nil),
        (&["EXISTS", "nos"], int(0)),
        (
            &["XADD", "s", "MAXLEN", "1", "MINID", "1", "*", "a", "1"],
            err("ERR syntax error, MAXLEN and MINID options at the same time are not compatible"),
        ),
        (
            &["XADD", "s", "MAXLEN", "1", "LIMIT", "10", "*", "a", "1"],
            err("ERR syntax error, LIMIT cannot be used without the special ~ option"),
        ),
        (
            &["XADD", "s", "LIMIT", "5", "*", "a", "1"],
            err("ERR syntax error, LIMIT cannot be used without specifying a trimming strategy"),
        ),
        (
            &["XADD", "s", "MAXLEN", "-1", "*", "a", "1"],
            err("ERR The MAXLEN argument must be >= 0."),
        ),
        (
            &[
                "XADD", "s", "MAXLEN", "~", "1", "LIMIT", "-1", "*", "a", "1",
            ],
            err("ERR The LIMIT argument must be >= 0."),
        ),
        (
            &["XADD", "s", "MAXLEN", "abc", "*", "a", "1"],
            err("ERR value is not an integer or out of range"),
        ),
        (&["XADD", "s", "MINID", "-", "*", "a", "1"], err(INVALID_ID)),
        (&["XLEN", "s"], int(7)),
        // Exact trimming as part of XADD.
        (
            &["XADD", "s", "MAXLEN", "=", "3", "8-0", "a", "1"],
            b("8-0"),
        ),
        (&["XLEN", "s"], int(3)),
        (
            &["XRANGE", "s", "-", "+"],
            arr(vec![
                entry("7-0", &["a", "1"]),
                entry("7-8", &["a", "1"]),
                entry("8-0", &["a", "1"]),
            ]),
        ),
        (&["XADD", "s", "MINID", "8", "9-0", "x", "y"], b("9-0")),
        (
            &["XRANGE", "s", "-", "+"],
            arr(vec![entry("8-0", &["a", "1"]), entry("9-0", &["x", "y"])]),
        ),
        // The trim may remove the entry just added.
        (&["XADD", "s", "MAXLEN", "0", "10-0", "a", "1"], b("10-0")),
        (&["XLEN", "s"], int(0)),
        (
            &[
                "XADD",
                "big",
                "18446744073709551615-18446744073709551615",
                "a",
                "1",
            ],
            b("18446744073709551615-18446744073709551615"),
        ),
        (
            &["XADD", "big", "*", "a", "1"],
            err("ERR The stream has exhausted the last possible ID, unable to add more items"),
        ),
        (
            &["XADD", "big2", "18446744073709551615-*", "a", "1"],
            b("18446744073709551615-0"),
        ),
        (&["SET", "str", "x"], Reply::ok()),
        (&["XADD", "str", "*", "a", "1"], err(WRONGTYPE)),
        (
            &["XADD", "str", "NOMKSTREAM", "*", "a", "1"],
            err(WRONGTYPE),
        ),
        (&["XLEN", "str"], err(WRONGTYPE)),
        (&["XLEN", "nokey"], int(0)),
    ]);
}

#[test]
fn auto_ids_are_monotonic_and_never_go_back() {
    let server = Server::start();
    let mut c = server.client();
    let mut last: (u64, u64) = (0, 0);
    let parse = |r: Reply| -> (u64, u64) {
        let s = String::from_utf8(r.as_bytes().expect("an ID").to_vec()).unwrap();
        let (ms, seq) = s.split_once('-').unwrap();
        (ms.parse().unwrap(), seq.parse().unwrap())
    };
    for _ in 0..2000 {
        let id = parse(cmd(&mut c, &["XADD", "s", "*", "f", "v"]));
        assert!(id > last, "{id:?} after {last:?}");
        last = id;
    }
    // A last ID ahead of the clock: the time part stays, the sequence grows.
    let ahead = "99999999999999-5";
    assert_eq!(cmd(&mut c, &["XADD", "s", ahead, "f", "v"]), b(ahead));
    assert_eq!(
        parse(cmd(&mut c, &["XADD", "s", "*", "f", "v"])),
        (99_999_999_999_999, 6)
    );
    // The sequence carries into the milliseconds.
    assert_eq!(
        cmd(
            &mut c,
            &["XADD", "t", "99999999999999-18446744073709551615", "f", "v"]
        ),
        b("99999999999999-18446744073709551615")
    );
    assert_eq!(
        cmd(&mut c, &["XADD", "t", "*", "f", "v"]),
        b("100000000000000-0")
    );
    assert_eq!(cmd(&mut c, &["XLEN", "s"]), int(2002));
}

#[test]
fn xrange_xrevrange_counts_exclusive_bounds_and_errors() {
    check(&[
        (&["XADD", "s", "1-1", "a", "1"], b("1-1")),
        (&["XADD", "s", "1-2", "b", "2"], b("1-2")),
        (&["XADD", "s", "2-0", "c", "3", "d", "4"], b("2-0")),
        (&["XADD", "s", "3-5", "e", "5"], b("3-5")),
        (
            &["XRANGE", "s", "-", "+", "COUNT", "2"],
            arr(vec![entry("1-1", &["a", "1"]), entry("1-2", &["b", "2"])]),
        ),
        (&["XRANGE", "s", "-", "+", "COUNT", "0"], Reply::Nil),
        (&["XRANGE", "s", "-", "+", "COUNT", "-1"], Reply::Nil),
        (&["XRANGE", "nokey", "-", "+", "COUNT", "0"], arr(vec![])),
        (
            &["XRANGE", "s", "1", "1"],
            arr(vec![entry("1-1", &["a", "1"]), entry("1-2", &["b", "2"])]),
        ),
        (
            &["XRANGE", "s", "(1-1", "(3-5"],
            arr(vec![
                entry("1-2", &["b", "2"]),
                entry("2-0", &["c", "3", "d", "4"]),
            ]),
        ),
        (&["XRANGE", "s", "3", "1"], arr(vec![])),
        (&["XRANGE", "s", "18446744073709551615", "+"], arr(vec![])),
        (
            &["XREVRANGE", "s", "+", "-", "COUNT", "1"],
            arr(vec![entry("3-5", &["e", "5"])]),
        ),
        (
            &["XREVRANGE", "s", "2", "(1-1"],
            arr(vec![
                entry("2-0", &["c", "3", "d", "4"]),
                entry("1-2", &["b", "2"]),
            ]),
        ),
        (&["XRANGE", "s", "-", "+", "COUNT"], err("ERR syntax error")),
        (
            &["XRANGE", "s", "-", "+", "FOO", "1"],
            err("ERR syntax error"),
        ),
        (
            &["XRANGE", "s", "-", "+", "COUNT", "abc"],
            err("ERR value is not an integer or out of range"),
        ),
        (&["XRANGE", "s", "(", "+"], err(INVALID_ID)),
        (&["XRANGE", "s", "(-", "+"], err(INVALID_ID)),
        (&["XRANGE", "s", "2-*", "+"], err(INVALID_ID)),
        (
            &[
                "XRANGE",
                "s",
                "(18446744073709551615-18446744073709551615",
                "+",
            ],
            err("ERR invalid start ID for the interval"),
        ),
        (
            &["XRANGE", "s", "-", "(0-0"],
            err("ERR invalid end ID for the interval"),
        ),
        (&["XRANGE", "nokey", "abc", "+"], err(INVALID_ID)),
        (&["SET", "str", "x"], Reply::ok()),
        (&["XRANGE", "str", "-", "+"], err(WRONGTYPE)),
        (
            &["XREVRANGE", "str", "+", "-", "COUNT", "0"],
            err(WRONGTYPE),
        ),
    ]);
}

#[test]
fn xdel_xtrim_xsetid_and_the_recorded_ids() {
    check(&[
        (&["XADD", "s", "1-0", "a", "1"], b("1-0")),
        (&["XADD", "s", "2-0", "a", "1"], b("2-0")),
        (&["XADD", "s", "3-0", "a", "1"], b("3-0")),
        (&["XDEL", "s", "1-0", "1-0", "9-9"], int(1)),
        (&["XDEL", "s", "2-0", "abc"], err(INVALID_ID)),
        (&["XDEL", "s", "-"], err(INVALID_ID)),
        (&["XDEL", "nokey", "1-0"], int(0)),
        (&["XINFO", "STREAM", "s"], Reply::Array(vec![
            b("length"), int(2), b("radix-tree-keys"), int(1), b("radix-tree-nodes"), int(2),
            b("last-generated-id"), b("3-0"), b("max-deleted-entry-id"), b("1-0"),
            b("entries-added"), int(3), b("recorded-first-entry-id"), b("2-0"), b("groups"), int(0),
            b("first-entry"), entry("2-0", &["a", "1"]), b("last-entry"), entry("3-0", &["a", "1"]),
        ])),
        (&["XTRIM", "s"], err("ERR wrong number of arguments for 'xtrim' command")),
        (&["XTRIM", "s", "MAXLEN", "1", "FOO"], err("ERR syntax error")),
        (&["XTRIM", "s", "LIMIT", "1"], err("ERR syntax error, LIMIT cannot be used without specifying a trimming strategy")),
        (&["XTRIM", "s", "MAXLEN", "1", "LIMIT", "1"], err("ERR syntax error, LIMIT cannot be used without the special ~ option")),
        (&["XTRIM", "s", "MAXLEN", "~", "0", "LIMIT", "1"], int(0)),
        (&["XTRIM", "nokey", "MAXLEN", "1"], int(0)),
        (&["XTRIM", "s", "MINID", "3"], int(1)),
        (&["XTRIM", "s", "MAXLEN", "0"], int(1)),
        (&["XTRIM", "s", "MAXLEN", "0"], int(0)),
        (&["EXISTS", "s"], int(1)),
        (&["XINFO", "STREAM", "s"], Reply::Array(vec![
            b("length"), int(0), b("radix-tree-keys"), int(0), b("radix-tree-nodes"), int(1),
            b("last-generated-id"), b("3-0"), b("max-deleted-entry-id"), b("1-0"),
            b("entries-added"), int(3), b("recorded-first-entry-id"), b("0-0"), b("groups"), int(0),
            b("first-entry"), Reply::Nil, b("last-entry"), Reply::Nil,
        ])),
        (&["XADD", "s", "4-0", "a", "1"], b("4-0")),
        (&["XSETID", "s", "3-0"], err("ERR The ID specified in XSETID is smaller than the target stream top item")),
        (&["XSETID", "s", "5-0", "ENTRIESADDED", "0"], err("ERR The entries_added specified in XSETID is smaller than the target stream length")),
        (&["XSETID", "s", "5-0", "ENTRIESADDED", "-1"], err("ERR entries_added must be positive")),
        (&["XSETID", "s", "5-0", "MAXDELETEDID", "6-0"], err("ERR The ID specified in XSETID is smaller than the provided max_deleted_entry_id")),
        (&["XSETID", "s", "5-0", "FOO"], err("ERR syntax error")),
        (&["XSETID", "s", "+"], err(INVALID_ID)),
        (&["XSETID", "nokey", "1-0"], err("ERR no such key")),
        (&["XSETID", "s", "9-0", "ENTRIESADDED", "10", "MAXDELETEDID", "8-0"], Reply::ok()),
        (&["XADD", "s", "9-*", "a", "1"], b("9-1")),
        (&["XINFO", "STREAM", "s"], Reply::Array(vec![
            b("length"), int(2), b("radix-tree-keys"), int(1), b("radix-tree-nodes"), int(2),
            b("last-generated-id"), b("9-1"), b("max-deleted-entry-id"), b("8-0"),
            b("entries-added"), int(11), b("recorded-first-entry-id"), b("4-0"), b("groups"), int(0),
            b("first-entry"), entry("4-0", &["a", "1"]), b("last-entry"), entry("9-1", &["a", "1"]),
        ])),
        (&["SET", "str", "x"], Reply::ok()),
        (&["XDEL", "str", "1-0"], err(WRONGTYPE)),
        (&["XTRIM", "str", "MAXLEN", "1"], err(WRONGTYPE)),
        (&["XSETID", "str", "1-0"], err(WRONGTYPE)),
    ]);
}

/// Large trims (range deletions) and approximate trimming in blocks of 100 entries.
#[test]
fn trimming_large_streams_and_approximate_trims() {
    let mut server = Server::start();
    let mut c = server.client();
    let add = |c: &mut redis::Connection, from: u64, to: u64| {
        let cmds: Vec<Vec<Vec<u8>>> = (from..to)
            .map(|i| {
                vec![
                    b"XADD".to_vec(),
                    b"s".to_vec(),
                    format!("{i}-0").into_bytes(),
                    b"n".to_vec(),
                    i.to_string().into_bytes(),
                ]
            })
            .collect();
        for r in pipeline(c, &cmds) {
            assert!(!r.is_error(), "{r}");
        }
    };
    add(&mut c, 1, 50_001);
    assert_eq!(cmd(&mut c, &["XTRIM", "s", "MAXLEN", "1000"]), int(49_000));
    assert_eq!(cmd(&mut c, &["XLEN", "s"]), int(1000));
    assert_eq!(
        cmd(&mut c, &["XRANGE", "s", "-", "+", "COUNT", "1"]),
        arr(vec![entry("49001-0", &["n", "49001"])])
    );
    // `~` removes whole blocks of 100 only, never more than LIMIT.
    add(&mut c, 50_001, 50_150);
    assert_eq!(
        cmd(&mut c, &["XTRIM", "s", "MAXLEN", "~", "1000"]),
        int(100)
    );
    assert_eq!(cmd(&mut c, &["XLEN", "s"]), int(1049));
    assert_eq!(cmd(&mut c, &["XTRIM", "s", "MAXLEN", "~", "1000"]), int(0));
    assert_eq!(
        cmd(&mut c, &["XTRIM", "s", "MAXLEN", "~", "0", "LIMIT", "250"]),
        int(200)
    );
    // 199 entries are below 49500: a block of 100 goes.
    assert_eq!(
        cmd(
            &mut c,
            &["XTRIM", "s", "MINID", "~", "49500", "LIMIT", "1000"]
        ),
        int(100)
    );
    assert_eq!(cmd(&mut c, &["XLEN", "s"]), int(749));
    assert_eq!(cmd(&mut c, &["XTRIM", "s", "MINID", "49600"]), int(199));
    assert_eq!(
        cmd(&mut c, &["XRANGE", "s", "-", "+", "COUNT", "1"]),
        arr(vec![entry("49600-0", &["n", "49600"])])
    );
    // XADD with MAXLEN ~ keeps the stream within a block of the threshold.
    for _ in 0..300 {
        let r = cmd(&mut c, &["XADD", "s", "MAXLEN", "~", "500", "*", "f", "v"]);
        assert!(r.as_bytes().is_some(), "{r}");
    }
    let len = cmd(&mut c, &["XLEN", "s"]).as_int().unwrap();
    assert!((500..600).contains(&len), "XLEN {len}");
    // The trims survive a restart, first entry included.
    let before = cmd(&mut c, &["XINFO", "STREAM", "s"]);
    server.restart();
    let mut c = server.client();
    assert_eq!(cmd(&mut c, &["XINFO", "STREAM", "s"]), before);
    assert_eq!(cmd(&mut c, &["XTRIM", "s", "MAXLEN", "0"]), int(len));
    assert_eq!(cmd(&mut c, &["XRANGE", "s", "-", "+"]), arr(vec![]));
}

#[test]
fn consumer_groups_lifecycle_and_errors() {
    let needs_key = "ERR The XGROUP subcommand requires the key to exist. Note that for CREATE you may want to use the MKSTREAM option to create an empty stream automatically.";
    check(&[
        (&["XGROUP", "CREATE", "s", "g", "$"], err(needs_key)),
        (&["XGROUP", "CREATE", "s", "g", "abc"], err(needs_key)),
        (&["XGROUP", "CREATE", "s", "g", "$", "MKSTREAM"], Reply::ok()),
        (&["XGROUP", "CREATE", "s", "g", "$"], err("BUSYGROUP Consumer Group name already exists")),
        (&["XGROUP", "CREATE", "s", "g2", "abc"], err(INVALID_ID)),
        (&["XGROUP", "CREATE", "s", "g2", "+"], err(INVALID_ID)),
        (&["XGROUP", "CREATE", "s", "g2", "$", "FOO"], err("ERR unknown subcommand or wrong number of arguments for 'CREATE'. Try XGROUP HELP.")),
        (&["xgroup", "create", "s", "g2", "$", "foo"], err("ERR unknown subcommand or wrong number of arguments for 'create'. Try XGROUP HELP.")),
        (&["XGROUP", "CREATE", "s", "g2", "0", "ENTRIESREAD", "-5"], err("ERR value for ENTRIESREAD must be positive or -1")),
        (&["XGROUP", "CREATE", "s", "g2", "0", "ENTRIESREAD", "abc"], err("ERR value is not an integer or out of range")),
        (&["XGROUP", "CREATE", "s"], err("ERR wrong number of arguments for 'xgroup|create' command")),
        (&["XGROUP"], err("ERR wrong number of arguments for 'xgroup' command")),
        (&["XGROUP", "FOO"], err("ERR unknown subcommand 'FOO'. Try XGROUP HELP.")),
        (&["XGROUP", "CREATECONSUMER", "s", "g", "alice"], int(1)),
        (&["XGROUP", "CREATECONSUMER", "s", "g", "alice"], int(0)),
        (&["XGROUP", "CREATECONSUMER", "s", "nog", "alice"], err("NOGROUP No such consumer group 'nog' for key name 's'")),
        (&["XGROUP", "CREATECONSUMER", "nokey", "g", "alice"], err(needs_key)),
        (&["XGROUP", "SETID", "s", "g", "5-*"], err(INVALID_ID)),
        (&["XGROUP", "SETID", "s", "g", "+"], Reply::ok()),
        (&["XGROUP", "SETID", "s", "g", "0", "ENTRIESREAD", "3"], Reply::ok()),
        (&["XGROUP", "SETID", "s", "g", "0", "FOO", "3"], err("ERR unknown subcommand or wrong number of arguments for 'SETID'. Try XGROUP HELP.")),
        (&["XGROUP", "SETID", "s", "nog", "0"], err("NOGROUP No such consumer group 'nog' for key name 's'")),
        (&["XINFO", "GROUPS", "s"], arr(vec![arr(vec![
            b("name"), b("g"), b("consumers"), int(1), b("pending"), int(0),
            b("last-delivered-id"), b("0-0"), b("entries-read"), int(3), b("lag"), int(0),
        ])])),
        (&["XGROUP", "DELCONSUMER", "s", "g", "alice"], int(0)),
        (&["XGROUP", "DELCONSUMER", "s", "g", "alice"], int(0)),
        (&["XGROUP", "DELCONSUMER", "s", "nog", "alice"], err("NOGROUP No such consumer group 'nog' for key name 's'")),
        (&["XGROUP", "DESTROY", "s", "g"], int(1)),
        (&["XGROUP", "DESTROY", "s", "g"], int(0)),
        (&["XGROUP", "DESTROY", "nokey", "g"], err(needs_key)),
        (&["XINFO", "GROUPS", "s"], arr(vec![])),
        // A group created again under the same name starts empty.
        (&["XADD", "s", "1-0", "f", "v"], b("1-0")),
        (&["XGROUP", "CREATE", "s", "g", "0"], Reply::ok()),
        (&["XREADGROUP", "GROUP", "g", "c", "STREAMS", "s", ">"], arr(vec![arr(vec![b("s"), arr(vec![entry("1-0", &["f", "v"])])])])),
        (&["XGROUP", "DESTROY", "s", "g"], int(1)),
        (&["XGROUP", "CREATE", "s", "g", "$"], Reply::ok()),
        (&["XPENDING", "s", "g"], arr(vec![int(0), Reply::Nil, Reply::Nil, Reply::Nil])),
        (&["XINFO", "CONSUMERS", "s", "g"], arr(vec![])),
        (&["SET", "str", "x"], Reply::ok()),
        (&["XGROUP", "CREATE", "str", "g", "$", "MKSTREAM"], err(WRONGTYPE)),
        (&["XGROUP", "HELP"], arr(vec![
            Reply::Simple("XGROUP <subcommand> [<arg> [value] [opt] ...]. Subcommands are:".into()),
            Reply::Simple("CREATE <key> <groupname> <id|$> [option]".into()),
            Reply::Simple("    Create a new consumer group. Options are:".into()),
            Reply::Simple("    * MKSTREAM".into()),
            Reply::Simple("      Create the empty stream if it does not exist.".into()),
            Reply::Simple("    * ENTRIESREAD entries_read".into()),
            Reply::Simple("      Set the group's entries_read counter (internal use).".into()),
            Reply::Simple("CREATECONSUMER <key> <groupname> <consumer>".into()),
            Reply::Simple("    Create a new consumer in the specified group.".into()),
            Reply::Simple("DELCONSUMER <key> <groupname> <consumer>".into()),
            Reply::Simple("    Remove the specified consumer.".into()),
            Reply::Simple("DESTROY <key> <groupname>".into()),
            Reply::Simple("    Remove the specified group.".into()),
            Reply::Simple("SETID <key> <groupname> <id|$> [ENTRIESREAD entries_read]".into()),
            Reply::Simple("    Set the current group ID and entries_read counter.".into()),
            Reply::Simple("HELP".into()),
            Reply::Simple("    Prints this help.".into()),
        ])),
        (&["XINFO", "HELP"], arr(vec![
            Reply::Simple("XINFO <subcommand> [<arg> [value] [opt] ...]. Subcommands are:".into()),
            Reply::Simple("CONSUMERS <key> <groupname>".into()),
            Reply::Simple("    Show consumers of <groupname>.".into()),
            Reply::Simple("GROUPS <key>".into()),
            Reply::Simple("    Show the stream consumer groups.".into()),
            Reply::Simple("STREAM <key> [FULL [COUNT <count>]".into()),
            Reply::Simple("    Show information about the stream.".into()),
            Reply::Simple("HELP".into()),
            Reply::Simple("    Prints this help.".into()),
        ])),
    ]);
}

#[test]
fn xread_and_xreadgroup_without_blocking() {
    let unbalanced =
        "ERR Unbalanced XREAD list of streams: for each stream key an ID or '$' must be specified.";
    check(&[
        (&["XADD", "s", "1-1", "a", "1"], b("1-1")),
        (&["XADD", "s", "2-1", "b", "2"], b("2-1")),
        (&["XADD", "s", "3-1", "c", "3"], b("3-1")),
        (&["XREAD", "STREAMS", "s", "0"], arr(vec![arr(vec![b("s"), arr(vec![entry("1-1", &["a", "1"]), entry("2-1", &["b", "2"]), entry("3-1", &["c", "3"])])])])),
        (&["XREAD", "COUNT", "1", "STREAMS", "nokey", "s", "0", "1-1"], arr(vec![arr(vec![b("s"), arr(vec![entry("2-1", &["b", "2"])])])])),
        (&["XREAD", "STREAMS", "s", "$"], Reply::Nil),
        (&["XREAD", "STREAMS", "s", "3-1"], Reply::Nil),
        (&["XREAD", "STREAMS", "s", "t", "0"], err(unbalanced)),
        (&["XREAD", "STREAMS", "s", ">"], err("ERR The > ID can be specified only when calling XREADGROUP using the GROUP <group> <consumer> option.")),
        (&["XREAD", "STREAMS", "s", "-"], err(INVALID_ID)),
        (&["XREAD", "NOACK", "STREAMS", "s", "0"], err("ERR The NOACK option is only supported by XREADGROUP. You called XREAD instead.")),
        (&["XREAD", "GROUP", "g", "c", "STREAMS", "s", "0"], err("ERR The GROUP option is only supported by XREADGROUP. You called XREAD instead.")),
        (&["XREAD", "BLOCK", "abc", "STREAMS", "s", "0"], err("ERR timeout is not an integer or out of range")),
        (&["XREAD", "BLOCK", "-1", "STREAMS", "s", "0"], err("ERR timeout is negative")),
        (&["XREAD", "COUNT", "1", "STREAMS"], err("ERR syntax error")),
        (&["XREAD", "FOO", "STREAMS", "s", "0"], err("ERR syntax error")),
        (&["XREADGROUP", "GROUP", "g", "c", "STREAMS", "s", ">"], err("NOGROUP No such key 's' or consumer group 'g' in XREADGROUP with GROUP option")),
        (&["XREADGROUP", "COUNT", "1", "NOACK", "STREAMS", "s", ">"], err("ERR Missing GROUP option for XREADGROUP")),
        (&["XGROUP", "CREATE", "s", "g", "0"], Reply::ok()),
        (&["XREADGROUP", "GROUP", "g", "c", "STREAMS", "s", "$"], err("ERR The $ ID is meaningless in the context of XREADGROUP: you want to read the history of this consumer by specifying a proper ID, or use the > ID to get new messages. The $ ID would just return an empty result set.")),
        (&["XREADGROUP", "GROUP", "g", "c", "STREAMS", "s", "nokey", ">", "abc"], err("NOGROUP No such key 'nokey' or consumer group 'g' in XREADGROUP with GROUP option")),
        (&["XREADGROUP", "GROUP", "g", "c", "STREAMS", "nokey", "s", "abc", "0"], err("NOGROUP No such key 'nokey' or consumer group 'g' in XREADGROUP with GROUP option")),
        (&["XREADGROUP", "GROUP", "g", "c", "STREAMS", "s", "nokey", "abc", "0"], err(INVALID_ID)),
        (&["XREADGROUP", "GROUP", "g", "alice", "COUNT", "2", "STREAMS", "s", ">"], arr(vec![arr(vec![b("s"), arr(vec![entry("1-1", &["a", "1"]), entry("2-1", &["b", "2"])])])])),
        (&["XREADGROUP", "GROUP", "g", "bob", "NOACK", "STREAMS", "s", ">"], arr(vec![arr(vec![b("s"), arr(vec![entry("3-1", &["c", "3"])])])])),
        (&["XREADGROUP", "GROUP", "g", "bob", "STREAMS", "s", ">"], Reply::Nil),
        // History: the consumer's own pending entries, a deleted one as a nil body.
        (&["XDEL", "s", "2-1"], int(1)),
        (&["XREADGROUP", "GROUP", "g", "alice", "STREAMS", "s", "0"], arr(vec![arr(vec![b("s"), arr(vec![entry("1-1", &["a", "1"]), arr(vec![b("2-1"), Reply::Nil])])])])),
        (&["XREADGROUP", "GROUP", "g", "alice", "COUNT", "1", "STREAMS", "s", "1-1"], arr(vec![arr(vec![b("s"), arr(vec![arr(vec![b("2-1"), Reply::Nil])])])])),
        (&["XREADGROUP", "GROUP", "g", "carol", "STREAMS", "s", "0"], arr(vec![arr(vec![b("s"), arr(vec![])])])),
        (&["XPENDING", "s", "g"], arr(vec![int(2), b("1-1"), b("2-1"), arr(vec![arr(vec![b("alice"), b("2")])])])),
        (&["XINFO", "GROUPS", "s"], arr(vec![arr(vec![
            b("name"), b("g"), b("consumers"), int(3), b("pending"), int(2),
            b("last-delivered-id"), b("3-1"), b("entries-read"), int(3), b("lag"), int(0),
        ])])),
        (&["SET", "str", "x"], Reply::ok()),
        (&["XREAD", "STREAMS", "str", "0"], err(WRONGTYPE)),
        (&["XREADGROUP", "GROUP", "g", "c", "STREAMS", "str", ">"], err(WRONGTYPE)),
    ]);
}

#[test]
fn xack_xpending_xclaim_xautoclaim() {
    let nogroup = "NOGROUP No such key 's' or consumer group 'nog'";
    check(&[
        (&["XADD", "s", "1-1", "a", "1"], b("1-1")),
        (&["XADD", "s", "2-1", "b", "2"], b("2-1")),
        (&["XADD", "s", "3-1", "c", "3"], b("3-1")),
        (&["XADD", "s", "4-1", "d", "4"], b("4-1")),
        (&["XGROUP", "CREATE", "s", "g", "0"], Reply::ok()),
        (
            &[
                "XREADGROUP",
                "GROUP",
                "g",
                "alice",
                "COUNT",
                "2",
                "STREAMS",
                "s",
                ">",
            ],
            arr(vec![arr(vec![
                b("s"),
                arr(vec![entry("1-1", &["a", "1"]), entry("2-1", &["b", "2"])]),
            ])]),
        ),
        (
            &[
                "XREADGROUP",
                "GROUP",
                "g",
                "bob",
                "COUNT",
                "1",
                "STREAMS",
                "s",
                ">",
            ],
            arr(vec![arr(vec![
                b("s"),
                arr(vec![entry("3-1", &["c", "3"])]),
            ])]),
        ),
        (
            &["XPENDING", "s", "g"],
            arr(vec![
                int(3),
                b("1-1"),
                b("3-1"),
                arr(vec![
                    arr(vec![b("alice"), b("2")]),
                    arr(vec![b("bob"), b("1")]),
                ]),
            ]),
        ),
        (&["XPENDING", "s", "g", "-", "+", "0"], arr(vec![])),
        (
            &["XPENDING", "s", "g", "IDLE", "100000000", "-", "+", "10"],
            arr(vec![]),
        ),
        (
            &["XPENDING", "s", "g", "-", "+", "10", "nobody"],
            arr(vec![]),
        ),
        (&["XPENDING", "s", "g", "-", "+"], err("ERR syntax error")),
        (
            &["XPENDING", "s", "g", "IDLE", "5", "-", "+"],
            err("ERR syntax error"),
        ),
        (
            &["XPENDING", "s", "g", "-", "+", "abc"],
            err("ERR value is not an integer or out of range"),
        ),
        (&["XPENDING", "s", "g", "abc", "+", "10"], err(INVALID_ID)),
        (&["XPENDING", "s", "nog"], err(nogroup)),
        (&["XACK", "s", "g", "1-1", "9-9", "1-1"], int(1)),
        (&["XACK", "s", "g", "1-1"], int(0)),
        (&["XACK", "s", "nog", "1-1"], int(0)),
        (&["XACK", "nokey", "g", "abc"], int(0)),
        (&["XACK", "s", "g", "abc"], err(INVALID_ID)),
        // XCLAIM: a deleted entry leaves the PEL; JUSTID does not count a delivery.
        (&["XDEL", "s", "3-1"], int(1)),
        (&["XCLAIM", "s", "g", "carol", "0", "3-1"], arr(vec![])),
        (
            &["XCLAIM", "s", "g", "carol", "0", "2-1", "JUSTID"],
            arr(vec![b("2-1")]),
        ),
        (
            &["XCLAIM", "s", "g", "carol", "0", "2-1", "2-1"],
            arr(vec![entry("2-1", &["b", "2"]), entry("2-1", &["b", "2"])]),
        ),
        (
            &[
                "XCLAIM",
                "s",
                "g",
                "dave",
                "0",
                "4-1",
                "FORCE",
                "RETRYCOUNT",
                "7",
            ],
            arr(vec![entry("4-1", &["d", "4"])]),
        ),
        (
            &["XCLAIM", "s", "g", "dave", "0", "9-9", "FORCE"],
            arr(vec![]),
        ),
        (
            &["XCLAIM", "s", "g", "dave", "100000000", "4-1"],
            arr(vec![]),
        ),
        (
            &[
                "XCLAIM", "s", "g", "dave", "0", "4-1", "LASTID", "10-0", "JUSTID",
            ],
            arr(vec![b("4-1")]),
        ),
        (
            &[
                "XCLAIM", "s", "g", "dave", "0", "4-1", "LASTID", "20-0", "FOO",
            ],
            err("ERR Unrecognized XCLAIM option 'FOO'"),
        ),
        (
            &["XCLAIM", "s", "g", "dave", "abc", "4-1"],
            err("ERR Invalid min-idle-time argument for XCLAIM"),
        ),
        (
            &["XCLAIM", "s", "g", "dave", "0", "4-1", "IDLE", "abc"],
            err("ERR Invalid IDLE option argument for XCLAIM"),
        ),
        (
            &["XCLAIM", "s", "g", "dave", "0", "4-1", "TIME", "abc"],
            err("ERR Invalid TIME option argument for XCLAIM"),
        ),
        (
            &["XCLAIM", "s", "g", "dave", "0", "4-1", "RETRYCOUNT", "abc"],
            err("ERR Invalid RETRYCOUNT option argument for XCLAIM"),
        ),
        (&["XCLAIM", "s", "nog", "dave", "abc", "4-1"], err(nogroup)),
        (
            &["XINFO", "GROUPS", "s"],
            arr(vec![arr(vec![
                b("name"),
                b("g"),
                b("consumers"),
                int(4),
                b("pending"),
                int(2),
                b("last-delivered-id"),
                b("10-0"),
                b("entries-read"),
                int(3),
                b("lag"),
                int(1),
            ])]),
        ),
        (
            &["XPENDING", "s", "g"],
            arr(vec![
                int(2),
                b("2-1"),
                b("4-1"),
                arr(vec![
                    arr(vec![b("carol"), b("1")]),
                    arr(vec![b("dave"), b("1")]),
                ]),
            ]),
        ),
        // XAUTOCLAIM walks the PEL from a cursor.
        (
            &["XAUTOCLAIM", "s", "g", "erin", "0", "0", "COUNT", "1"],
            arr(vec![
                b("4-1"),
                arr(vec![entry("2-1", &["b", "2"])]),
                arr(vec![]),
            ]),
        ),
        (
            &["XAUTOCLAIM", "s", "g", "erin", "0", "4-1", "JUSTID"],
            arr(vec![b("0-0"), arr(vec![b("4-1")]), arr(vec![])]),
        ),
        (&["XDEL", "s", "2-1"], int(1)),
        (
            &["XAUTOCLAIM", "s", "g", "frank", "0", "-"],
            arr(vec![
                b("0-0"),
                arr(vec![entry("4-1", &["d", "4"])]),
                arr(vec![b("2-1")]),
            ]),
        ),
        (
            &["XAUTOCLAIM", "s", "g", "frank", "100000000", "0"],
            arr(vec![b("0-0"), arr(vec![]), arr(vec![])]),
        ),
        (
            &["XAUTOCLAIM", "s", "g", "frank", "0", "0", "COUNT", "0"],
            err("ERR COUNT must be > 0"),
        ),
        (
            &["XAUTOCLAIM", "s", "g", "frank", "0", "0", "FOO"],
            err("ERR syntax error"),
        ),
        (
            &["XAUTOCLAIM", "s", "g", "frank", "abc", "0"],
            err("ERR Invalid min-idle-time argument for XAUTOCLAIM"),
        ),
        (
            &[
                "XAUTOCLAIM",
                "s",
                "g",
                "frank",
                "0",
                "(18446744073709551615-18446744073709551615",
            ],
            err("ERR invalid start ID for the interval"),
        ),
        (&["XAUTOCLAIM", "s", "nog", "frank", "0", "0"], err(nogroup)),
        (
            &["XPENDING", "s", "g"],
            arr(vec![
                int(1),
                b("4-1"),
                b("4-1"),
                arr(vec![arr(vec![b("frank"), b("1")])]),
            ]),
        ),
        (&["XGROUP", "DELCONSUMER", "s", "g", "frank"], int(1)),
        (
            &["XPENDING", "s", "g"],
            arr(vec![int(0), Reply::Nil, Reply::Nil, Reply::Nil]),
        ),
        (&["SET", "str", "x"], Reply::ok()),
        (&["XACK", "str", "g", "1-1"], err(WRONGTYPE)),
        (&["XPENDING", "str", "g"], err(WRONGTYPE)),
        (&["XCLAIM", "str", "g", "c", "0", "1-1"], err(WRONGTYPE)),
        (&["XAUTOCLAIM", "str", "g", "c", "0", "0"], err(WRONGTYPE)),
    ]);
}

/// XPENDING's idle times and delivery counts, XCLAIM's IDLE and TIME.
#[test]
fn delivery_times_and_counts() {
    let server = Server::start();
    let mut c = server.client();
    cmd(&mut c, &["XADD", "s", "1-0", "f", "v"]);
    cmd(&mut c, &["XGROUP", "CREATE", "s", "g", "0"]);
    cmd(
        &mut c,
        &["XREADGROUP", "GROUP", "g", "c", "STREAMS", "s", ">"],
    );
    cmd(
        &mut c,
        &["XREADGROUP", "GROUP", "g", "c", "STREAMS", "s", "0"],
    );
    let item = |c: &mut redis::Connection| -> (i64, i64) {
        let Reply::Array(items) = cmd(c, &["XPENDING", "s", "g", "-", "+", "10"]) else {
            panic!()
        };
        let Reply::Array(f) = &items[0] else { panic!() };
        (f[2].as_int().unwrap(), f[3].as_int().unwrap())
    };
    let (idle, count) = item(&mut c);
    assert_eq!(count, 2);
    assert!((0..60_000).contains(&idle), "idle {idle}");
    cmd(
        &mut c,
        &["XCLAIM", "s", "g", "d", "0", "1-0", "IDLE", "5000000"],
    );
    let (idle, count) = item(&mut c);
    assert_eq!(count, 3);
    assert!((5_000_000..5_060_000).contains(&idle), "idle {idle}");
    let Reply::Array(idle_enough) = cmd(
        &mut c,
        &["XPENDING", "s", "g", "IDLE", "4000000", "-", "+", "10", "d"],
    ) else {
        panic!()
    };
    assert_eq!(idle_enough.len(), 1);
    cmd(
        &mut c,
        &[
            "XCLAIM", "s", "g", "d", "0", "1-0", "TIME", "1000", "JUSTID",
        ],
    );
    let now = cmd(&mut c, &["TIME"]);
    let Reply::Array(t) = now else { panic!() };
    let secs: i64 = String::from_utf8(t[0].as_bytes().unwrap().to_vec())
        .unwrap()
        .parse()
        .unwrap();
    let (idle, count) = item(&mut c);
    assert_eq!(count, 3);
    assert!((idle - (secs * 1000 - 1000)).abs() < 60_000, "idle {idle}");
    // A delivery time in the future is taken as now.
    cmd(
        &mut c,
        &[
            "XCLAIM",
            "s",
            "g",
            "d",
            "0",
            "1-0",
            "TIME",
            "99999999999999",
        ],
    );
    let (idle, _) = item(&mut c);
    assert!((0..60_000).contains(&idle), "idle {idle}");
    let Reply::Array(consumers) = cmd(&mut c, &["XINFO", "CONSUMERS", "s", "g"]) else {
        panic!()
    };
    assert_eq!(consumers.len(), 2);
}

#[test]
fn xinfo_stream_full_and_consumers() {
    let server = Server::start();
    let mut c = server.client();
    for i in 1..=12 {
        cmd(
            &mut c,
            &["XADD", "s", &format!("{i}-0"), "f", &i.to_string()],
        );
    }
    cmd(&mut c, &["XGROUP", "CREATE", "s", "g", "0"]);
    cmd(
        &mut c,
        &[
            "XREADGROUP",
            "GROUP",
            "g",
            "alice",
            "COUNT",
            "11",
            "STREAMS",
            "s",
            ">",
        ],
    );
    let Reply::Array(full) = cmd(&mut c, &["XINFO", "STREAM", "s", "FULL"]) else {
        panic!()
    };
    let field = |v: &[Reply], name: &str| -> Reply {
        let at = v
            .iter()
            .position(|f| *f == b(name))
            .unwrap_or_else(|| panic!("{name}"));
        v[at + 1].clone()
    };
    let Reply::Array(entries) = field(&full, "entries") else {
        panic!()
    };
    assert_eq!(entries.len(), 10, "FULL shows 10 entries by default");
    let Reply::Array(groups) = field(&full, "groups") else {
        panic!()
    };
    let Reply::Array(g) = &groups[0] else {
        panic!()
    };
    assert_eq!(field(g, "pel-count"), int(11));
    assert_eq!(field(g, "lag"), int(1));
    let Reply::Array(pending) = field(g, "pending") else {
        panic!()
    };
    assert_eq!(pending.len(), 10);
    let Reply::Array(all) = cmd(&mut c, &["XINFO", "STREAM", "s", "FULL", "COUNT", "0"]) else {
        panic!()
    };
    let Reply::Array(entries) = field(&all, "entries") else {
        panic!()
    };
    assert_eq!(entries.len(), 12);
    for (args, e) in [
        (
            &["XINFO", "STREAM", "s", "COUNT", "1"][..],
            "ERR unknown subcommand or wrong number of arguments for 'STREAM'. Try XINFO HELP.",
        ),
        (
            &["XINFO", "STREAM", "s", "FULL", "FOO"],
            "ERR unknown subcommand or wrong number of arguments for 'STREAM'. Try XINFO HELP.",
        ),
        (&["XINFO", "STREAM", "nokey", "FOO"], "ERR no such key"),
        (&["XINFO", "GROUPS", "nokey"], "ERR no such key"),
        (
            &["XINFO", "CONSUMERS", "s", "nog"],
            "NOGROUP No such consumer group 'nog' for key name 's'",
        ),
        (
            &["XINFO", "GROUPS", "s", "x"],
            "ERR wrong number of arguments for 'xinfo|groups' command",
        ),
        (
            &["XINFO", "FOO"],
            "ERR unknown subcommand 'FOO'. Try XINFO HELP.",
        ),
    ] {
        assert_eq!(cmd(&mut c, args), err(e), "{args:?}");
    }
    let Reply::Array(consumers) = cmd(&mut c, &["XINFO", "CONSUMERS", "s", "g"]) else {
        panic!()
    };
    let Reply::Array(alice) = &consumers[0] else {
        panic!()
    };
    assert_eq!(field(alice, "name"), b("alice"));
    assert_eq!(field(alice, "pending"), int(11));
    assert!(field(alice, "idle")
        .as_int()
        .is_some_and(|i| (0..60_000).contains(&i)));
}

// ---------------------------------------------------------------------------------------------
// Blocking
// ---------------------------------------------------------------------------------------------

/// Sends one command on a raw connection without waiting for the reply.
fn send(s: &mut TcpStream, args: &[&str]) {
    let mut out = format!("*{}\r\n", args.len()).into_bytes();
    for a in args {
        out.extend_from_slice(format!("${}\r\n{a}\r\n", a.len()).as_bytes());
    }
    s.write_all(&out).expect("send");
}

/// Reads what arrived on a raw connection within a short wait (empty if nothing).
fn pending_bytes(s: &mut TcpStream, wait: Duration) -> Vec<u8> {
    use std::io::Read;
    s.set_read_timeout(Some(wait)).unwrap();
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    while let Ok(n) = s.read(&mut buf) {
        if n == 0 {
            break;
        }
        out.extend_from_slice(&buf[..n]);
        s.set_read_timeout(Some(Duration::from_millis(50))).unwrap();
    }
    s.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
    out
}

/// Waits until the server counts `n` blocked clients.
#[track_caller]
fn wait_blocked(c: &mut redis::Connection, n: i64) {
    let ok = eventually(10, || {
        let Reply::Bulk(info) = cmd(c, &["INFO", "clients"]) else {
            return false;
        };
        String::from_utf8_lossy(&info)
            .lines()
            .any(|l| l.trim() == format!("blocked_clients:{n}"))
    });
    assert!(ok, "never saw {n} blocked clients");
}

/// Reads one complete reply from a raw connection (waiting up to the I/O timeout).
#[track_caller]
fn reply_bytes(s: &mut TcpStream) -> Vec<u8> {
    let out = pending_bytes(s, IO_TIMEOUT);
    assert!(!out.is_empty(), "no reply");
    out
}

/// The same blocking scenarios on Basalt and redis-server: the replies each waiting client
/// gets, byte for byte.
fn blocking_transcript(port: u16) -> Vec<String> {
    let mut w = connect(port);
    let mut log = Vec::new();
    let mut note = |what: &str, bytes: Vec<u8>| {
        log.push(format!("{what}: {}", String::from_utf8_lossy(&bytes)))
    };
    let mut a = raw_tcp(port);
    let mut b2 = raw_tcp(port);
    let mut c3 = raw_tcp(port);
    cmd(&mut w, &["XADD", "s", "1-0", "f", "v"]);
    // `$` means what is there when the client blocks.
    send(&mut a, &["XREAD", "BLOCK", "0", "STREAMS", "s", "$"]);
    wait_blocked(&mut w, 1);
    cmd(&mut w, &["XADD", "s", "2-0", "f", "v2"]);
    note("XREAD $ after XADD", reply_bytes(&mut a));
    // Every reader is served by one XADD; one waiting for a later ID keeps waiting.
    send(&mut a, &["XREAD", "BLOCK", "0", "STREAMS", "s", "100-0"]);
    send(
        &mut b2,
        &["XREAD", "BLOCK", "0", "COUNT", "5", "STREAMS", "s", "$"],
    );
    wait_blocked(&mut w, 2);
    cmd(&mut w, &["XGROUP", "CREATE", "s", "g", "$"]);
    send(
        &mut c3,
        &[
            "XREADGROUP",
            "GROUP",
            "g",
            "carol",
            "BLOCK",
            "0",
            "STREAMS",
            "s",
            ">",
        ],
    );
    wait_blocked(&mut w, 3);
    cmd(&mut w, &["XADD", "s", "3-0", "f", "v3"]);
    note("reader of $", reply_bytes(&mut b2));
    note("group reader", reply_bytes(&mut c3));
    note(
        "reader of 100-0 (still waiting)",
        pending_bytes(&mut a, Duration::from_millis(200)),
    );
    cmd(&mut w, &["XADD", "s", "101-0", "f", "v101"]);
    note("reader of 100-0", reply_bytes(&mut a));
    note(
        "XPENDING",
        format!("{}", cmd(&mut w, &["XPENDING", "s", "g"])).into_bytes(),
    );
    cmd(&mut w, &["XGROUP", "SETID", "s", "g", "$"]);
    // Deleting the stream or its group ends a group reader's wait with an error; a plain
    // reader keeps waiting through a type change.
    send(
        &mut c3,
        &[
            "XREADGROUP",
            "GROUP",
            "g",
            "carol",
            "BLOCK",
            "0",
            "STREAMS",
            "s",
            ">",
        ],
    );
    send(&mut a, &["XREAD", "BLOCK", "0", "STREAMS", "s", "$"]);
    wait_blocked(&mut w, 2);
    cmd(&mut w, &["XGROUP", "DESTROY", "s", "g"]);
    note("group destroyed", reply_bytes(&mut c3));
    cmd(&mut w, &["XGROUP", "CREATE", "s", "g", "$"]);
    send(
        &mut c3,
        &[
            "XREADGROUP",
            "GROUP",
            "g",
            "carol",
            "BLOCK",
            "0",
            "STREAMS",
            "s",
            ">",
        ],
    );
    wait_blocked(&mut w, 2);
    cmd(&mut w, &["SET", "s", "not a stream"]);
    note("stream overwritten", reply_bytes(&mut c3));
    note(
        "plain reader (still waiting)",
        pending_bytes(&mut a, Duration::from_millis(200)),
    );
    cmd(&mut w, &["DEL", "s"]);
    cmd(&mut w, &["XADD", "s", "200-0", "f", "again"]);
    note("plain reader", reply_bytes(&mut a));
    cmd(&mut w, &["XGROUP", "CREATE", "s", "g", "$"]);
    send(
        &mut c3,
        &[
            "XREADGROUP",
            "GROUP",
            "g",
            "carol",
            "BLOCK",
            "0",
            "STREAMS",
            "s",
            ">",
        ],
    );
    wait_blocked(&mut w, 1);
    cmd(&mut w, &["DEL", "s"]);
    note("stream deleted", reply_bytes(&mut c3));
    cmd(&mut w, &["XGROUP", "CREATE", "s", "g", "$", "MKSTREAM"]);
    send(
        &mut c3,
        &[
            "XREADGROUP",
            "GROUP",
            "g",
            "carol",
            "BLOCK",
            "0",
            "STREAMS",
            "s",
            ">",
        ],
    );
    wait_blocked(&mut w, 1);
    cmd(&mut w, &["FLUSHALL"]);
    note("flushed", reply_bytes(&mut c3));
    cmd(&mut w, &["XGROUP", "CREATE", "s", "g", "$", "MKSTREAM"]);
    send(
        &mut c3,
        &[
            "XREADGROUP",
            "GROUP",
            "g",
            "carol",
            "BLOCK",
            "0",
            "STREAMS",
            "s",
            ">",
        ],
    );
    wait_blocked(&mut w, 1);
    cmd(&mut w, &["PEXPIRE", "s", "1"]);
    // Active expiry deletes it within a fraction of a second, and that ends the wait.
    note("expired", reply_bytes(&mut c3));
    // Timeouts, MULTI, and an XADD inside EXEC.
    send(&mut a, &["XREAD", "BLOCK", "50", "STREAMS", "s", "$"]);
    note("timeout", reply_bytes(&mut a));
    send(&mut a, &["MULTI"]);
    send(&mut a, &["XREAD", "BLOCK", "0", "STREAMS", "s", "$"]);
    send(&mut a, &["EXEC"]);
    let mut got = Vec::new();
    while got.len() < b"+OK\r\n+QUEUED\r\n*1\r\n*-1\r\n".len() {
        got.extend(reply_bytes(&mut a));
    }
    note("MULTI", got);
    send(&mut a, &["XREAD", "BLOCK", "0", "STREAMS", "t", "$"]);
    wait_blocked(&mut w, 1);
    cmd(&mut w, &["MULTI"]);
    cmd(&mut w, &["XADD", "t", "1-0", "a", "1"]);
    cmd(&mut w, &["XADD", "t", "2-0", "b", "2"]);
    cmd(&mut w, &["EXEC"]);
    note("after EXEC", reply_bytes(&mut a));
    // RESP3: a map of key to entries.
    send(&mut b2, &["HELLO", "3"]);
    let _ = reply_bytes(&mut b2);
    send(&mut b2, &["XREAD", "BLOCK", "0", "STREAMS", "t", "$"]);
    wait_blocked(&mut w, 1);
    cmd(&mut w, &["XADD", "t", "3-0", "c", "3"]);
    note("RESP3", reply_bytes(&mut b2));
    log
}

#[test]
fn blocking_reads_behave_as_in_redis() {
    let server = Server::start();
    let got = blocking_transcript(server.port());
    let expected = [
        "XREAD $ after XADD: *1\r\n*2\r\n$1\r\ns\r\n*1\r\n*2\r\n$3\r\n2-0\r\n*2\r\n$1\r\nf\r\n$2\r\nv2\r\n",
        "reader of 100-0 (still waiting): ",
        "group destroyed: -NOGROUP the consumer group this client was blocked on no longer exists\r\n",
        "stream overwritten: -UNBLOCKED the stream key no longer exists\r\n",
        "plain reader (still waiting): ",
        "stream deleted: -UNBLOCKED the stream key no longer exists\r\n",
        "flushed: -UNBLOCKED the stream key no longer exists\r\n",
        "expired: -UNBLOCKED the stream key no longer exists\r\n",
        "timeout: *-1\r\n",
        "MULTI: +OK\r\n+QUEUED\r\n*1\r\n*-1\r\n",
    ];
    for e in expected {
        assert!(got.iter().any(|g| g == e), "missing {e:?} in {got:#?}");
    }
    if let Some(redis) = RedisServer::start() {
        assert_eq!(got, blocking_transcript(redis.port()));
    } else {
        notice("SKIPPED: redis-server not installed (blocking transcript comparison)");
    }
}

#[test]
fn client_unblock_and_disconnect_end_a_stream_wait() {
    let server = Server::start();
    let mut w = server.client();
    let mut a = raw_tcp(server.port());
    send(&mut a, &["CLIENT", "ID"]);
    let id_line = reply_bytes(&mut a);
    let id = String::from_utf8_lossy(&id_line[1..id_line.len() - 2]).to_string();
    send(&mut a, &["XREAD", "BLOCK", "0", "STREAMS", "s", "$"]);
    wait_blocked(&mut w, 1);
    assert_eq!(cmd(&mut w, &["CLIENT", "UNBLOCK", &id]), int(1));
    assert_eq!(reply_bytes(&mut a), b"*-1\r\n");
    send(&mut a, &["XREAD", "BLOCK", "0", "STREAMS", "s", "$"]);
    wait_blocked(&mut w, 1);
    assert_eq!(cmd(&mut w, &["CLIENT", "UNBLOCK", &id, "ERROR"]), int(1));
    assert_eq!(
        reply_bytes(&mut a),
        b"-UNBLOCKED client unblocked via CLIENT UNBLOCK\r\n"
    );
    send(&mut a, &["XREAD", "BLOCK", "0", "STREAMS", "s", "$"]);
    wait_blocked(&mut w, 1);
    drop(a);
    wait_blocked(&mut w, 0);
    assert!(cmd(&mut w, &["XADD", "s", "*", "f", "v"])
        .as_bytes()
        .is_some());
}

// ---------------------------------------------------------------------------------------------
// Keyspace integration
// ---------------------------------------------------------------------------------------------

#[test]
fn stream_keys_rename_copy_move_expire_and_survive_restarts() {
    let mut server = Server::start();
    let mut c = server.client();
    cmd(&mut c, &["XADD", "s", "1-0", "f", "v"]);
    cmd(&mut c, &["XADD", "s", "2-0", "g", "w"]);
    cmd(&mut c, &["XGROUP", "CREATE", "s", "grp", "0"]);
    cmd(
        &mut c,
        &[
            "XREADGROUP",
            "GROUP",
            "grp",
            "alice",
            "COUNT",
            "1",
            "STREAMS",
            "s",
            ">",
        ],
    );
    assert_eq!(cmd(&mut c, &["TYPE", "s"]), Reply::Simple("stream".into()));
    assert_eq!(cmd(&mut c, &["OBJECT", "ENCODING", "s"]), b("stream"));
    cmd(&mut c, &["SET", "str", "x"]);
    assert_eq!(
        cmd(&mut c, &["SCAN", "0", "TYPE", "stream"]),
        arr(vec![b("0"), arr(vec![b("s")])])
    );
    assert!(cmd(&mut c, &["MEMORY", "USAGE", "s"]).as_int().unwrap() > 0);
    let state = |c: &mut redis::Connection, k: &str| {
        (
            cmd(c, &["XRANGE", k, "-", "+"]),
            cmd(c, &["XINFO", "GROUPS", k]),
            cmd(c, &["XPENDING", k, "grp"]),
        )
    };
    let before = state(&mut c, "s");
    assert_eq!(cmd(&mut c, &["RENAME", "s", "r"]), Reply::ok());
    assert_eq!(state(&mut c, "r"), before);
    assert_eq!(cmd(&mut c, &["COPY", "r", "k"]), int(1));
    assert_eq!(state(&mut c, "k"), before);
    // The copy is independent.
    cmd(&mut c, &["XACK", "k", "grp", "1-0"]);
    assert_eq!(state(&mut c, "r"), before);
    assert_eq!(cmd(&mut c, &["MOVE", "r", "3"]), int(1));
    cmd(&mut c, &["SELECT", "3"]);
    assert_eq!(state(&mut c, "r"), before);
    assert_eq!(cmd(&mut c, &["PEXPIRE", "r", "100000"]), int(1));
    server.restart();
    let mut c = server.client();
    cmd(&mut c, &["SELECT", "3"]);
    assert_eq!(state(&mut c, "r"), before);
    assert!(cmd(&mut c, &["PTTL", "r"]).as_int().unwrap() > 0);
    assert_eq!(cmd(&mut c, &["PEXPIRE", "r", "1"]), int(1));
    assert!(eventually(5, || cmd(&mut c, &["EXISTS", "r"]) == int(0)));
    assert_eq!(cmd(&mut c, &["XLEN", "r"]), int(0));
    cmd(&mut c, &["SELECT", "0"]);
    assert_eq!(cmd(&mut c, &["DEL", "k"]), int(1));
    assert_eq!(cmd(&mut c, &["XRANGE", "k", "-", "+"]), arr(vec![]));
    // A stream created anew under an old name starts empty.
    cmd(&mut c, &["XADD", "k", "5-0", "f", "v"]);
    assert_eq!(cmd(&mut c, &["XINFO", "GROUPS", "k"]), arr(vec![]));
    assert_eq!(cmd(&mut c, &["XLEN", "k"]), int(1));
}

#[test]
fn watch_sees_stream_writes() {
    let server = Server::start();
    let mut c = server.client();
    let mut other = server.client();
    cmd(&mut c, &["XADD", "s", "1-0", "f", "v"]);
    cmd(&mut c, &["XGROUP", "CREATE", "s", "g", "0"]);
    for write in [
        &["XADD", "s", "*", "f", "v"][..],
        &["XREADGROUP", "GROUP", "g", "c", "STREAMS", "s", ">"],
        &["XACK", "s", "g", "1-0"],
        &["XGROUP", "CREATECONSUMER", "s", "g", "x"],
        &["XTRIM", "s", "MAXLEN", "0"],
    ] {
        assert_eq!(cmd(&mut c, &["WATCH", "s"]), Reply::ok());
        assert!(!cmd(&mut other, write).is_error(), "{write:?}");
        cmd(&mut c, &["MULTI"]);
        cmd(&mut c, &["XLEN", "s"]);
        assert_eq!(cmd(&mut c, &["EXEC"]), Reply::Nil, "after {write:?}");
    }
    // A read does not touch the key.
    cmd(&mut c, &["WATCH", "s"]);
    cmd(&mut other, &["XRANGE", "s", "-", "+"]);
    cmd(&mut other, &["XINFO", "STREAM", "s"]);
    cmd(&mut c, &["MULTI"]);
    cmd(&mut c, &["XADD", "s", "*", "f", "v"]);
    assert!(matches!(cmd(&mut c, &["EXEC"]), Reply::Array(_)));
}

/// The keyspace events of stream commands, as Redis 7.0 names and orders them.
#[test]
fn keyspace_notifications_for_streams() {
    let server = Server::start();
    let mut c = server.client();
    cmd(&mut c, &["CONFIG", "SET", "notify-keyspace-events", "KEA"]);
    let mut sub = raw_tcp(server.port());
    send(&mut sub, &["PSUBSCRIBE", "__keyevent@0__:*"]);
    let _ = reply_bytes(&mut sub);
    let collect = |sub: &mut TcpStream| -> Vec<String> {
        let bytes = pending_bytes(sub, Duration::from_millis(300));
        let text = String::from_utf8_lossy(&bytes).to_string();
        let parts: Vec<&str> = text.split("\r\n").collect();
        let mut out = Vec::new();
        let mut i = 0;
        while i + 6 < parts.len() {
            if parts[i] == "pmessage" {
                let event = parts[i + 4].trim_start_matches("__keyevent@0__:");
                out.push(format!("{event}({})", parts[i + 6]));
                i += 7;
            } else {
                i += 1;
            }
        }
        out
    };
    let steps: &[(&[&str], &[&str])] = &[
        (&["XADD", "s", "1-1", "a", "1"], &["xadd(s)"]),
        (
            &["XADD", "s", "MAXLEN", "1", "2-1", "a", "1"],
            &["xadd(s)", "xtrim(s)"],
        ),
        (&["XADD", "nos", "NOMKSTREAM", "3-1", "a", "1"], &[]),
        (&["XTRIM", "s", "MAXLEN", "0"], &["xtrim(s)"]),
        (&["XTRIM", "s", "MAXLEN", "0"], &[]),
        (&["XADD", "s", "4-1", "a", "1"], &["xadd(s)"]),
        (&["XDEL", "s", "4-1"], &["xdel(s)"]),
        (&["XDEL", "s", "4-1"], &[]),
        (&["XGROUP", "CREATE", "s", "g", "$"], &["xgroup-create(s)"]),
        (
            &["XGROUP", "CREATECONSUMER", "s", "g", "c"],
            &["xgroup-createconsumer(s)"],
        ),
        (&["XGROUP", "CREATECONSUMER", "s", "g", "c"], &[]),
        (&["XADD", "s", "5-1", "a", "1"], &["xadd(s)"]),
        (
            &["XREADGROUP", "GROUP", "g", "c2", "STREAMS", "s", ">"],
            &["xgroup-createconsumer(s)"],
        ),
        (
            &["XREADGROUP", "GROUP", "g", "c3", "STREAMS", "s", ">"],
            &[],
        ),
        (
            &["XCLAIM", "s", "g", "c5", "0", "5-1"],
            &["xgroup-createconsumer(s)"],
        ),
        (
            &["XAUTOCLAIM", "s", "g", "c6", "0", "0"],
            &["xgroup-createconsumer(s)"],
        ),
        (&["XACK", "s", "g", "5-1"], &[]),
        (&["XGROUP", "SETID", "s", "g", "0"], &["xgroup-setid(s)"]),
        (
            &["XGROUP", "DELCONSUMER", "s", "g", "c"],
            &["xgroup-delconsumer(s)"],
        ),
        (&["XGROUP", "DELCONSUMER", "s", "g", "nosuch"], &[]),
        (&["XGROUP", "DESTROY", "s", "g"], &["xgroup-destroy(s)"]),
        (&["XSETID", "s", "10-0"], &["xsetid(s)"]),
        (
            &["XGROUP", "CREATE", "s2", "g", "$", "MKSTREAM"],
            &["xgroup-create(s2)"],
        ),
        (&["DEL", "s2"], &["del(s2)"]),
    ];
    let mut failures = Vec::new();
    for (args, want) in steps {
        let r = cmd(&mut c, args);
        assert!(!r.is_error(), "{args:?}: {r}");
        let got = collect(&mut sub);
        if got != *want {
            failures.push(format!("{args:?}: got {got:?}, want {want:?}"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    // With `n`, a created stream announces `new` first.
    cmd(&mut c, &["CONFIG", "SET", "notify-keyspace-events", "KEAn"]);
    cmd(&mut c, &["XADD", "fresh", "1-0", "a", "1"]);
    assert_eq!(collect(&mut sub), ["new(fresh)", "xadd(fresh)"]);
    cmd(
        &mut c,
        &["XGROUP", "CREATE", "fresh2", "g", "$", "MKSTREAM"],
    );
    assert_eq!(collect(&mut sub), ["new(fresh2)", "xgroup-create(fresh2)"]);
}

/// RESP3 replies of the stream commands, byte for byte as redis-server sends them.
#[test]
fn resp3_shapes_match_redis() {
    let Some(redis) = RedisServer::start() else {
        notice("SKIPPED: redis-server not installed (resp3_shapes_match_redis)");
        return;
    };
    let server = Server::start();
    let script: &[&[&str]] = &[
        &["XADD", "s", "1-1", "a", "1"],
        &["XADD", "s", "2-1", "b", "2"],
        &["XGROUP", "CREATE", "s", "g", "0"],
        &["XREADGROUP", "GROUP", "g", "c", "STREAMS", "s", ">"],
        &["XDEL", "s", "2-1"],
        &["XREADGROUP", "GROUP", "g", "c", "STREAMS", "s", "0"],
        &["XPENDING", "s", "g"],
        &["XINFO", "GROUPS", "s"],
        &["XINFO", "STREAM", "s"],
        &["XCLAIM", "s", "g", "c", "0", "1-1", "JUSTID"],
        &["XAUTOCLAIM", "s", "g", "c", "0", "0", "JUSTID"],
        &["XREAD", "STREAMS", "s", "0"],
        &["XRANGE", "s", "-", "+", "COUNT", "0"],
        &["XREAD", "STREAMS", "nokey", "0"],
        &["XGROUP", "CREATE", "e", "g", "$", "MKSTREAM"],
        &["XPENDING", "e", "g"],
        &["XINFO", "STREAM", "e"],
        &["XINFO", "STREAM", "e", "FULL"],
    ];
    let run = |port: u16| -> Vec<String> {
        let mut s = raw_tcp(port);
        send(&mut s, &["HELLO", "3"]);
        let _ = reply_bytes(&mut s);
        script
            .iter()
            .map(|args| {
                send(&mut s, args);
                format!(
                    "{args:?} -> {}",
                    String::from_utf8_lossy(&reply_bytes(&mut s))
                )
            })
            .collect()
    };
    assert_eq!(run(server.port()), run(redis.port()));
}
