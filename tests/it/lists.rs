//! List integration tests through the real binary: every non-blocking list command with its
//! error cases, key disappearance, persistence, long lists (LTRIM of 100k elements, LINSERT in
//! the middle on both sides), huge counts, RESP3 shapes, the command table and concurrency.

use crate::harness::{raw, Reply, Server};
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

const WRONGTYPE: &str = "WRONGTYPE Operation against a key holding the wrong kind of value";
const NOT_INT: &str = "ERR value is not an integer or out of range";
const SYNTAX: &str = "ERR syntax error";

fn err(text: &str) -> Reply {
    Reply::Error(text.to_string())
}

fn int(i: i64) -> Reply {
    Reply::Int(i)
}

fn bulks(items: &[&str]) -> Reply {
    Reply::Array(items.iter().map(Reply::bulk).collect())
}

fn ints(items: &[i64]) -> Reply {
    Reply::Array(items.iter().map(|&i| Reply::Int(i)).collect())
}

fn empty() -> Reply {
    Reply::Array(Vec::new())
}

fn arity(name: &str) -> Reply {
    err(&format!(
        "ERR wrong number of arguments for '{name}' command"
    ))
}

/// Runs (command, expected reply) cases in order on one connection.
#[track_caller]
fn check(c: &mut redis::Connection, cases: &[(&[&str], Reply)]) {
    for (args, expected) in cases {
        assert_eq!(&raw(c, args), expected, "{args:?}");
    }
}

/// RPUSHes `n` elements "0".."n-1" in chunks.
fn fill(c: &mut redis::Connection, key: &str, n: usize) {
    for start in (0..n).step_by(10_000) {
        let mut args = vec!["RPUSH".to_string(), key.to_string()];
        args.extend((start..(start + 10_000).min(n)).map(|i| i.to_string()));
        let r = raw(c, &args);
        assert_eq!(r, Reply::Int((start + 10_000).min(n) as i64));
    }
}

fn strings(r: &Reply) -> Vec<String> {
    match r {
        Reply::Array(items) => items
            .iter()
            .map(|i| String::from_utf8_lossy(i.as_bytes().expect("bulk")).into_owned())
            .collect(),
        other => panic!("not an array: {other}"),
    }
}

#[test]
fn push_pop_and_length() {
    let srv = Server::start();
    let mut c = srv.client();
    check(
        &mut c,
        &[
            (&["SET", "s", "x"], Reply::ok()),
            (&["LPUSHX", "l", "a"], int(0)),
            (&["RPUSHX", "l", "a", "b"], int(0)),
            (&["EXISTS", "l"], int(0)),
            (&["LPUSH", "l", "c", "b", "a"], int(3)),
            (&["RPUSH", "l", "d", "e"], int(5)),
            (&["LPUSHX", "l", "z"], int(6)),
            (&["RPUSHX", "l", "y", "x"], int(8)),
            (
                &["LRANGE", "l", "0", "-1"],
                bulks(&["z", "a", "b", "c", "d", "e", "y", "x"]),
            ),
            (&["LLEN", "l"], int(8)),
            (&["LLEN", "nokey"], int(0)),
            (&["TYPE", "l"], Reply::Simple("list".into())),
            (&["OBJECT", "ENCODING", "l"], Reply::bulk("quicklist")),
            (&["LPOP", "l"], Reply::bulk("z")),
            (&["RPOP", "l"], Reply::bulk("x")),
            (&["LPOP", "l", "2"], bulks(&["a", "b"])),
            (&["RPOP", "l", "2"], bulks(&["y", "e"])),
            (&["LPOP", "l", "0"], empty()),
            (&["LPOP", "nokey"], Reply::Nil),
            (&["LPOP", "nokey", "0"], Reply::Nil),
            (&["RPOP", "nokey", "3"], Reply::Nil),
            (
                &["LPOP", "l", "-1"],
                err("ERR value is out of range, must be positive"),
            ),
            (
                &["LPOP", "nokey", "x"],
                err("ERR value is out of range, must be positive"),
            ),
            (&["LPOP", "l", "1", "2"], arity("lpop")),
            (&["RPOP", "l", "1", "2"], arity("rpop")),
            (&["LPOP"], arity("lpop")),
            (&["LPUSH", "l"], arity("lpush")),
            (&["RPUSHX", "l"], arity("rpushx")),
            (&["LLEN", "l", "x"], arity("llen")),
            (&["LPUSH", "s", "a"], err(WRONGTYPE)),
            (&["RPUSH", "s", "a"], err(WRONGTYPE)),
            (&["LPUSHX", "s", "a"], err(WRONGTYPE)),
            (&["RPUSHX", "s", "a"], err(WRONGTYPE)),
            (&["LPOP", "s"], err(WRONGTYPE)),
            (&["RPOP", "s", "0"], err(WRONGTYPE)),
            (&["LLEN", "s"], err(WRONGTYPE)),
            // A huge count is bounded by the list.
            (&["RPOP", "l", "9223372036854775807"], bulks(&["d", "c"])),
            (&["EXISTS", "l"], int(0)),
            (&["LPOP", "l", "1"], Reply::Nil),
            // Binary-safe elements.
            (&["RPUSH", "b", "", "a\x00b"], int(2)),
            (&["LRANGE", "b", "0", "-1"], bulks(&["", "a\x00b"])),
        ],
    );
}

#[test]
fn the_last_element_takes_the_key_with_it() {
    let srv = Server::start();
    let mut c = srv.client();
    let gone: &[(&[&str], &[&str])] = &[
        (&["LPOP", "l"], &[]),
        (&["RPOP", "l", "5"], &[]),
        (&["LREM", "l", "0", "a"], &[]),
        (&["LTRIM", "l", "5", "10"], &[]),
        (&["LTRIM", "l", "1", "0"], &[]),
        (&["LMOVE", "l", "other", "LEFT", "RIGHT"], &["other"]),
        (&["RPOPLPUSH", "l", "other"], &["other"]),
        (&["LMPOP", "1", "l", "LEFT"], &[]),
    ];
    for (args, leftover) in gone {
        raw(&mut c, &["DEL", "l", "other"]);
        assert_eq!(raw(&mut c, &["RPUSH", "l", "a"]), int(1));
        assert!(!raw(&mut c, args).is_error(), "{args:?}");
        assert_eq!(raw(&mut c, &["EXISTS", "l"]), int(0), "{args:?}");
        assert_eq!(raw(&mut c, &["LLEN", "l"]), int(0), "{args:?}");
        assert_eq!(raw(&mut c, &["TYPE", "l"]), Reply::Simple("none".into()));
        for k in *leftover {
            assert_eq!(raw(&mut c, &["LRANGE", k, "0", "-1"]), bulks(&["a"]));
        }
        // A new list under the same name starts empty.
        assert_eq!(raw(&mut c, &["RPUSH", "l", "b"]), int(1));
        assert_eq!(raw(&mut c, &["LRANGE", "l", "0", "-1"]), bulks(&["b"]));
    }
    // LMOVE of a one-element list onto itself keeps it.
    raw(&mut c, &["DEL", "l"]);
    raw(&mut c, &["RPUSH", "l", "a"]);
    assert_eq!(
        raw(&mut c, &["LMOVE", "l", "l", "LEFT", "RIGHT"]),
        Reply::bulk("a")
    );
    assert_eq!(raw(&mut c, &["LRANGE", "l", "0", "-1"]), bulks(&["a"]));
}

#[test]
fn index_set_and_range() {
    let srv = Server::start();
    let mut c = srv.client();
    check(
        &mut c,
        &[
            (&["SET", "s", "x"], Reply::ok()),
            (&["RPUSH", "l", "a", "b", "c", "d", "e"], int(5)),
            (&["LINDEX", "l", "0"], Reply::bulk("a")),
            (&["LINDEX", "l", "-1"], Reply::bulk("e")),
            (&["LINDEX", "l", "-5"], Reply::bulk("a")),
            (&["LINDEX", "l", "-6"], Reply::Nil),
            (&["LINDEX", "l", "5"], Reply::Nil),
            (&["LINDEX", "l", "9223372036854775807"], Reply::Nil),
            (&["LINDEX", "l", "-9223372036854775808"], Reply::Nil),
            (&["LINDEX", "l", "x"], err(NOT_INT)),
            (&["LINDEX", "l", "-0"], err(NOT_INT)),
            // The key is looked up before the index is parsed.
            (&["LINDEX", "nokey", "x"], Reply::Nil),
            (&["LINDEX", "s", "x"], err(WRONGTYPE)),
            (&["LINDEX", "s", "0"], err(WRONGTYPE)),
            (&["LINDEX", "l"], arity("lindex")),
            (&["LSET", "l", "1", "B"], Reply::ok()),
            (&["LSET", "l", "-1", "E"], Reply::ok()),
            (&["LSET", "l", "5", "x"], err("ERR index out of range")),
            (&["LSET", "l", "-6", "x"], err("ERR index out of range")),
            (&["LSET", "l", "x", "x"], err(NOT_INT)),
            (&["LSET", "nokey", "0", "x"], err("ERR no such key")),
            (&["LSET", "nokey", "x", "x"], err("ERR no such key")),
            (&["LSET", "s", "x", "x"], err(WRONGTYPE)),
            (&["LSET", "l", "0"], arity("lset")),
            (
                &["LRANGE", "l", "0", "-1"],
                bulks(&["a", "B", "c", "d", "E"]),
            ),
            (&["LRANGE", "l", "1", "2"], bulks(&["B", "c"])),
            (&["LRANGE", "l", "-2", "-1"], bulks(&["d", "E"])),
            (&["LRANGE", "l", "-100", "1"], bulks(&["a", "B"])),
            (&["LRANGE", "l", "3", "100"], bulks(&["d", "E"])),
            (&["LRANGE", "l", "3", "2"], empty()),
            (&["LRANGE", "l", "5", "10"], empty()),
            (&["LRANGE", "l", "0", "-6"], empty()),
            (
                &["LRANGE", "l", "-9223372036854775808", "9223372036854775807"],
                bulks(&["a", "B", "c", "d", "E"]),
            ),
            (&["LRANGE", "nokey", "0", "-1"], empty()),
            // The bounds are parsed before the key is looked up.
            (&["LRANGE", "nokey", "x", "1"], err(NOT_INT)),
            (&["LRANGE", "s", "0", "x"], err(NOT_INT)),
            (&["LRANGE", "s", "0", "1"], err(WRONGTYPE)),
            (&["LRANGE", "l", "0"], arity("lrange")),
        ],
    );
}

#[test]
fn insert_remove_and_trim() {
    let srv = Server::start();
    let mut c = srv.client();
    check(
        &mut c,
        &[
            (&["SET", "s", "x"], Reply::ok()),
            (&["RPUSH", "l", "a", "b", "a", "c", "a"], int(5)),
            (&["LINSERT", "l", "BEFORE", "b", "X"], int(6)),
            (&["LINSERT", "l", "after", "a", "Y"], int(7)),
            (&["LINSERT", "l", "AFTER", "nope", "Z"], int(-1)),
            (
                &["LRANGE", "l", "0", "-1"],
                bulks(&["a", "Y", "X", "b", "a", "c", "a"]),
            ),
            (&["LINSERT", "nokey", "BEFORE", "a", "x"], int(0)),
            (&["EXISTS", "nokey"], int(0)),
            (&["LINSERT", "l", "middle", "a", "x"], err(SYNTAX)),
            (&["LINSERT", "nokey", "middle", "a", "x"], err(SYNTAX)),
            (&["LINSERT", "s", "middle", "a", "x"], err(SYNTAX)),
            (&["LINSERT", "s", "BEFORE", "a", "x"], err(WRONGTYPE)),
            (&["LINSERT", "l", "BEFORE", "a"], arity("linsert")),
            (&["LREM", "l", "1", "a"], int(1)),
            (&["LREM", "l", "-1", "a"], int(1)),
            (
                &["LRANGE", "l", "0", "-1"],
                bulks(&["Y", "X", "b", "a", "c"]),
            ),
            (&["RPUSH", "l", "a", "a"], int(7)),
            (&["LREM", "l", "0", "a"], int(3)),
            (&["LREM", "l", "0", "a"], int(0)),
            (&["LRANGE", "l", "0", "-1"], bulks(&["Y", "X", "b", "c"])),
            (&["LREM", "l", "x", "a"], err(NOT_INT)),
            (&["LREM", "nokey", "x", "a"], err(NOT_INT)),
            (&["LREM", "nokey", "0", "a"], int(0)),
            (&["LREM", "s", "0", "a"], err(WRONGTYPE)),
            (&["LREM", "l", "0"], arity("lrem")),
            (&["LTRIM", "l", "1", "-2"], Reply::ok()),
            (&["LRANGE", "l", "0", "-1"], bulks(&["X", "b"])),
            (&["LTRIM", "l", "0", "100"], Reply::ok()),
            (&["LRANGE", "l", "0", "-1"], bulks(&["X", "b"])),
            (&["LTRIM", "nokey", "0", "1"], Reply::ok()),
            (&["LTRIM", "nokey", "x", "1"], err(NOT_INT)),
            (&["LTRIM", "s", "0", "x"], err(NOT_INT)),
            (&["LTRIM", "s", "0", "1"], err(WRONGTYPE)),
            (&["LTRIM", "l", "0"], arity("ltrim")),
            (&["LTRIM", "l", "-1", "-1"], Reply::ok()),
            (&["LRANGE", "l", "0", "-1"], bulks(&["b"])),
            (&["LTRIM", "l", "1", "-1"], Reply::ok()),
            (&["EXISTS", "l"], int(0)),
        ],
    );
}

#[test]
fn lpos_options_and_errors() {
    let srv = Server::start();
    let mut c = srv.client();
    let rank0 = "ERR RANK can't be zero: use 1 to start from the first match, 2 from the \
                 second ... or use negative to start from the end of the list";
    check(
        &mut c,
        &[
            (&["SET", "s", "x"], Reply::ok()),
            (&["RPUSH", "l", "a", "b", "c", "a", "b", "c", "a"], int(7)),
            (&["LPOS", "l", "a"], int(0)),
            (&["LPOS", "l", "c"], int(2)),
            (&["LPOS", "l", "z"], Reply::Nil),
            (&["LPOS", "l", "a", "RANK", "2"], int(3)),
            (&["LPOS", "l", "a", "RANK", "-1"], int(6)),
            (&["LPOS", "l", "a", "RANK", "-3"], int(0)),
            (&["LPOS", "l", "a", "RANK", "4"], Reply::Nil),
            (&["LPOS", "l", "a", "COUNT", "0"], ints(&[0, 3, 6])),
            (&["LPOS", "l", "a", "COUNT", "2"], ints(&[0, 3])),
            (
                &["LPOS", "l", "a", "COUNT", "0", "RANK", "-1"],
                ints(&[6, 3, 0]),
            ),
            (
                &["LPOS", "l", "a", "COUNT", "0", "MAXLEN", "4"],
                ints(&[0, 3]),
            ),
            (&["LPOS", "l", "a", "RANK", "2", "MAXLEN", "3"], Reply::Nil),
            (&["LPOS", "l", "z", "COUNT", "1"], empty()),
            // The last of a repeated option wins.
            (&["LPOS", "l", "a", "RANK", "1", "RANK", "3"], int(6)),
            // Redis 7.0 negates LONG_MIN into itself: from the tail, every match.
            (&["LPOS", "l", "a", "RANK", "-9223372036854775808"], int(6)),
            (
                &[
                    "LPOS",
                    "l",
                    "a",
                    "RANK",
                    "-9223372036854775808",
                    "COUNT",
                    "1",
                ],
                ints(&[6, 3, 0]),
            ),
            (&["LPOS", "l", "a", "RANK", "0"], err(rank0)),
            (&["LPOS", "l", "a", "RANK", "x"], err(NOT_INT)),
            (
                &["LPOS", "l", "a", "COUNT", "-1"],
                err("ERR COUNT can't be negative"),
            ),
            (
                &["LPOS", "l", "a", "COUNT", "x"],
                err("ERR COUNT can't be negative"),
            ),
            (
                &["LPOS", "l", "a", "MAXLEN", "-1"],
                err("ERR MAXLEN can't be negative"),
            ),
            (&["LPOS", "l", "a", "RANK"], err(SYNTAX)),
            (&["LPOS", "l", "a", "BOGUS", "1"], err(SYNTAX)),
            // Options are checked before the key.
            (&["LPOS", "s", "a", "RANK", "0"], err(rank0)),
            (&["LPOS", "nokey", "a", "BOGUS"], err(SYNTAX)),
            (&["LPOS", "s", "a"], err(WRONGTYPE)),
            (&["LPOS", "nokey", "a"], Reply::Nil),
            (&["LPOS", "nokey", "a", "COUNT", "0"], empty()),
            (&["LPOS", "l"], arity("lpos")),
        ],
    );
}

#[test]
fn lmove_rpoplpush_and_lmpop() {
    let srv = Server::start();
    let mut c = srv.client();
    check(
        &mut c,
        &[
            (&["SET", "s", "x"], Reply::ok()),
            (&["RPUSH", "a", "1", "2", "3"], int(3)),
            (&["LMOVE", "a", "b", "LEFT", "RIGHT"], Reply::bulk("1")),
            (&["LMOVE", "a", "b", "right", "left"], Reply::bulk("3")),
            (&["LRANGE", "b", "0", "-1"], bulks(&["3", "1"])),
            (&["RPOPLPUSH", "b", "a"], Reply::bulk("1")),
            (&["LRANGE", "a", "0", "-1"], bulks(&["1", "2"])),
            // Rotation.
            (&["RPUSH", "r", "1", "2", "3"], int(3)),
            (&["RPOPLPUSH", "r", "r"], Reply::bulk("3")),
            (&["LRANGE", "r", "0", "-1"], bulks(&["3", "1", "2"])),
            (&["LMOVE", "r", "r", "LEFT", "RIGHT"], Reply::bulk("3")),
            (&["LRANGE", "r", "0", "-1"], bulks(&["1", "2", "3"])),
            (&["LMOVE", "r", "r", "RIGHT", "RIGHT"], Reply::bulk("3")),
            (&["LRANGE", "r", "0", "-1"], bulks(&["1", "2", "3"])),
            // A missing source answers nil without looking at the destination.
            (&["LMOVE", "nokey", "s", "LEFT", "LEFT"], Reply::Nil),
            (&["RPOPLPUSH", "nokey", "s"], Reply::Nil),
            (&["LMOVE", "s", "a", "LEFT", "LEFT"], err(WRONGTYPE)),
            (&["LMOVE", "a", "s", "LEFT", "LEFT"], err(WRONGTYPE)),
            (&["RPOPLPUSH", "a", "s"], err(WRONGTYPE)),
            (&["LRANGE", "a", "0", "-1"], bulks(&["1", "2"])),
            (&["LMOVE", "a", "b", "UP", "LEFT"], err(SYNTAX)),
            (&["LMOVE", "s", "b", "LEFT", "DOWN"], err(SYNTAX)),
            (&["LMOVE", "a", "b", "LEFT"], arity("lmove")),
            (&["RPOPLPUSH", "a"], arity("rpoplpush")),
            // LMPOP.
            (&["DEL", "a", "b"], int(2)),
            (&["RPUSH", "b", "1", "2", "3"], int(3)),
            (
                &["LMPOP", "2", "a", "b", "LEFT"],
                Reply::Array(vec![Reply::bulk("b"), bulks(&["1"])]),
            ),
            (
                &["LMPOP", "2", "a", "b", "RIGHT", "COUNT", "10"],
                Reply::Array(vec![Reply::bulk("b"), bulks(&["3", "2"])]),
            ),
            (&["EXISTS", "b"], int(0)),
            (&["LMPOP", "2", "a", "b", "LEFT"], Reply::Nil),
            (&["RPUSH", "b", "1"], int(1)),
            // WRONGTYPE only for a wrong key met before the first list.
            (&["LMPOP", "2", "s", "b", "LEFT"], err(WRONGTYPE)),
            (
                &["LMPOP", "2", "b", "s", "LEFT"],
                Reply::Array(vec![Reply::bulk("b"), bulks(&["1"])]),
            ),
            (
                &["LMPOP", "0", "a", "LEFT"],
                err("ERR numkeys should be greater than 0"),
            ),
            (
                &["LMPOP", "-1", "a", "LEFT"],
                err("ERR numkeys should be greater than 0"),
            ),
            (
                &["LMPOP", "x", "a", "LEFT"],
                err("ERR numkeys should be greater than 0"),
            ),
            (&["LMPOP", "2", "a", "LEFT"], err(SYNTAX)),
            (&["LMPOP", "9223372036854775807", "a", "LEFT"], err(SYNTAX)),
            (&["LMPOP", "1", "a", "UP"], err(SYNTAX)),
            (
                &["LMPOP", "1", "a", "LEFT", "COUNT", "0"],
                err("ERR count should be greater than 0"),
            ),
            (
                &["LMPOP", "1", "a", "LEFT", "COUNT", "x"],
                err("ERR count should be greater than 0"),
            ),
            (&["LMPOP", "1", "a", "LEFT", "COUNT"], err(SYNTAX)),
            (
                &["LMPOP", "1", "a", "LEFT", "COUNT", "1", "COUNT", "1"],
                err(SYNTAX),
            ),
            (&["LMPOP", "1", "a", "LEFT", "junk"], err(SYNTAX)),
            (&["LMPOP", "1", "a"], arity("lmpop")),
        ],
    );
}

/// Writes keep the list's TTL; LMOVE keeps the destination's.
#[test]
fn writes_keep_the_ttl() {
    let srv = Server::start();
    let mut c = srv.client();
    raw(&mut c, &["RPUSH", "l", "a", "b", "c"]);
    raw(&mut c, &["RPUSH", "d", "x"]);
    assert_eq!(raw(&mut c, &["EXPIRE", "l", "1000"]), int(1));
    assert_eq!(raw(&mut c, &["EXPIRE", "d", "2000"]), int(1));
    for args in [
        &["LPUSH", "l", "z"][..],
        &["RPOP", "l"],
        &["LSET", "l", "0", "y"],
        &["LINSERT", "l", "BEFORE", "b", "q"],
        &["LREM", "l", "1", "q"],
        &["LTRIM", "l", "0", "-1"],
        &["LMOVE", "l", "d", "LEFT", "LEFT"],
    ] {
        assert!(!raw(&mut c, args).is_error(), "{args:?}");
        let Reply::Int(ttl) = raw(&mut c, &["TTL", "l"]) else {
            panic!()
        };
        assert!((990..=1000).contains(&ttl), "{args:?}: TTL {ttl}");
    }
    let Reply::Int(ttl) = raw(&mut c, &["TTL", "d"]) else {
        panic!()
    };
    assert!((1990..=2000).contains(&ttl), "TTL of the destination {ttl}");
    // An expired list is gone for every list command.
    assert_eq!(raw(&mut c, &["PEXPIRE", "l", "1"]), int(1));
    std::thread::sleep(Duration::from_millis(20));
    assert_eq!(raw(&mut c, &["LLEN", "l"]), int(0));
    assert_eq!(raw(&mut c, &["LPUSHX", "l", "a"]), int(0));
    assert_eq!(raw(&mut c, &["RPUSH", "l", "new"]), int(1));
    assert_eq!(raw(&mut c, &["TTL", "l"]), int(-1));
    assert_eq!(raw(&mut c, &["LRANGE", "l", "0", "-1"]), bulks(&["new"]));
}

#[test]
fn lists_survive_a_restart() {
    let mut srv = Server::start();
    let mut c = srv.client();
    raw(&mut c, &["RPUSH", "l", "c", "d"]);
    raw(&mut c, &["LPUSH", "l", "b", "a"]);
    raw(&mut c, &["LINSERT", "l", "AFTER", "b", "b2"]);
    raw(&mut c, &["LINSERT", "l", "BEFORE", "d", "c2"]);
    fill(&mut c, "long", 5000);
    raw(&mut c, &["LTRIM", "long", "100", "-101"]);
    raw(&mut c, &["LREM", "long", "1", "2000"]);
    raw(&mut c, &["RPUSH", "gone", "x"]);
    raw(&mut c, &["RPOP", "gone"]);
    drop(c);
    srv.restart();
    let mut c = srv.client();
    assert_eq!(
        raw(&mut c, &["LRANGE", "l", "0", "-1"]),
        bulks(&["a", "b", "b2", "c", "c2", "d"])
    );
    assert_eq!(raw(&mut c, &["LLEN", "long"]), int(4799));
    assert_eq!(raw(&mut c, &["LINDEX", "long", "0"]), Reply::bulk("100"));
    assert_eq!(raw(&mut c, &["LINDEX", "long", "-1"]), Reply::bulk("4899"));
    assert_eq!(raw(&mut c, &["LPOS", "long", "2000"]), Reply::Nil);
    assert_eq!(
        raw(&mut c, &["LINDEX", "long", "1900"]),
        Reply::bulk("2001")
    );
    assert_eq!(raw(&mut c, &["EXISTS", "gone"]), int(0));
    // Both ends still grow after the restart.
    assert_eq!(raw(&mut c, &["LPUSH", "l", "0"]), int(7));
    assert_eq!(raw(&mut c, &["RPUSH", "l", "e"]), int(8));
    assert_eq!(
        raw(&mut c, &["LRANGE", "l", "0", "-1"]),
        bulks(&["0", "a", "b", "b2", "c", "c2", "d", "e"])
    );
}

#[test]
fn trimming_100k_elements_to_10_is_quick() {
    let srv = Server::start();
    let mut c = srv.client();
    fill(&mut c, "big", 100_000);
    let t = Instant::now();
    assert_eq!(
        raw(&mut c, &["LTRIM", "big", "50000", "50009"]),
        Reply::ok()
    );
    let took = t.elapsed();
    assert!(took < Duration::from_millis(500), "LTRIM took {took:?}");
    assert_eq!(raw(&mut c, &["LLEN", "big"]), int(10));
    let want: Vec<String> = (50_000..50_010).map(|i| i.to_string()).collect();
    assert_eq!(strings(&raw(&mut c, &["LRANGE", "big", "0", "-1"])), want);
    assert_eq!(
        strings(&raw(&mut c, &["LRANGE", "big", "0", "9223372036854775807"])),
        want
    );
    assert_eq!(raw(&mut c, &["LINDEX", "big", "-1"]), Reply::bulk("50009"));
    assert_eq!(raw(&mut c, &["LPOS", "big", "49999"]), Reply::Nil);
    // Both ends keep growing from the trimmed window.
    raw(&mut c, &["LPUSH", "big", "head"]);
    raw(&mut c, &["RPUSH", "big", "tail"]);
    let r = strings(&raw(&mut c, &["LRANGE", "big", "0", "-1"]));
    assert_eq!(r.len(), 12);
    assert_eq!((r[0].as_str(), r[11].as_str()), ("head", "tail"));
    // A huge pop count is bounded by the list.
    let popped = raw(&mut c, &["LPOP", "big", "9223372036854775807"]);
    assert_eq!(strings(&popped).len(), 12);
    assert_eq!(raw(&mut c, &["EXISTS", "big"]), int(0));
}

#[test]
fn insert_and_remove_in_the_middle_of_a_long_list() {
    let srv = Server::start();
    let mut c = srv.client();
    const N: usize = 20_000;
    fill(&mut c, "l", N);
    // Near the head: the head side moves; near the tail: the tail side moves.
    assert_eq!(
        raw(&mut c, &["LINSERT", "l", "BEFORE", "5000", "x"]),
        int(N as i64 + 1)
    );
    assert_eq!(
        raw(&mut c, &["LINSERT", "l", "AFTER", "15000", "y"]),
        int(N as i64 + 2)
    );
    assert_eq!(
        raw(&mut c, &["LINSERT", "l", "AFTER", "9999", "m"]),
        int(N as i64 + 3)
    );
    let mut model: Vec<String> = (0..N).map(|i| i.to_string()).collect();
    model.insert(5000, "x".into());
    model.insert(15002, "y".into());
    model.insert(10001, "m".into());
    assert_eq!(strings(&raw(&mut c, &["LRANGE", "l", "0", "-1"])), model);
    assert_eq!(raw(&mut c, &["LPOS", "l", "x"]), int(5000));
    assert_eq!(raw(&mut c, &["LPOS", "l", "y"]), int(15003));
    assert_eq!(raw(&mut c, &["LINDEX", "l", "10001"]), Reply::bulk("m"));
    // Remove on both sides of the middle, and LSET deep inside.
    assert_eq!(raw(&mut c, &["LREM", "l", "0", "x"]), int(1));
    assert_eq!(raw(&mut c, &["LREM", "l", "-1", "y"]), int(1));
    assert_eq!(raw(&mut c, &["LSET", "l", "-5000", "z"]), Reply::ok());
    model.retain(|e| e != "x" && e != "y");
    let at = model.len() - 5000;
    model[at] = "z".into();
    assert_eq!(strings(&raw(&mut c, &["LRANGE", "l", "0", "-1"])), model);
    assert_eq!(
        strings(&raw(&mut c, &["LRANGE", "l", "9998", "10002"])),
        model[9998..=10002].to_vec()
    );
}

#[test]
fn resp3_shapes() {
    let srv = Server::start();
    let mut c = srv.client();
    assert!(!raw(&mut c, &["HELLO", "3"]).is_error());
    check(
        &mut c,
        &[
            (&["LPOP", "nokey"], Reply::Nil),
            (&["LPOP", "nokey", "2"], Reply::Nil),
            (&["LMPOP", "1", "nokey", "LEFT"], Reply::Nil),
            (&["RPUSH", "l", "a", "b"], int(2)),
            (&["LPOP", "l", "1"], bulks(&["a"])),
            (
                &["LMPOP", "1", "l", "LEFT"],
                Reply::Array(vec![Reply::bulk("l"), bulks(&["b"])]),
            ),
        ],
    );
}

/// The table entries as Redis 7.0.15's COMMAND INFO reports them.
#[test]
fn command_info_matches_redis() {
    let srv = Server::start();
    let mut c = srv.client();
    // (name, arity, flags, first key, last key, step)
    type Info = (&'static str, i64, &'static [&'static str], i64, i64, i64);
    let cases: &[Info] = &[
        ("lpush", -3, &["write", "denyoom", "fast"], 1, 1, 1),
        ("rpushx", -3, &["write", "denyoom", "fast"], 1, 1, 1),
        ("lpop", -2, &["write", "fast"], 1, 1, 1),
        ("llen", 2, &["readonly", "fast"], 1, 1, 1),
        ("lindex", 3, &["readonly"], 1, 1, 1),
        ("lset", 4, &["write", "denyoom"], 1, 1, 1),
        ("lrange", 4, &["readonly"], 1, 1, 1),
        ("linsert", 5, &["write", "denyoom"], 1, 1, 1),
        ("lrem", 4, &["write"], 1, 1, 1),
        ("ltrim", 4, &["write"], 1, 1, 1),
        ("lpos", -3, &["readonly"], 1, 1, 1),
        ("lmove", 5, &["write", "denyoom"], 1, 2, 1),
        ("rpoplpush", 3, &["write", "denyoom"], 1, 2, 1),
        ("lmpop", -4, &["write", "movablekeys"], 0, 0, 0),
    ];
    for &(name, arity, flags, first, last, step) in cases {
        let r = raw(&mut c, &["COMMAND", "INFO", name]);
        let Reply::Array(outer) = &r else {
            panic!("{r}")
        };
        let Some(Reply::Array(info)) = outer.first() else {
            panic!("{r}")
        };
        assert_eq!(info[0], Reply::bulk(name));
        assert_eq!(info[1], int(arity), "{name}");
        let got: Vec<String> = match &info[2] {
            Reply::Array(f) | Reply::Set(f) => f
                .iter()
                .map(|x| match x {
                    Reply::Simple(s) => s.clone(),
                    other => other.to_string(),
                })
                .collect(),
            other => panic!("{other}"),
        };
        assert_eq!(got, flags, "{name}");
        assert_eq!(
            (&info[3], &info[4], &info[5]),
            (&int(first), &int(last), &int(step)),
            "{name}"
        );
        let cats = info[6].to_string();
        assert!(cats.contains("@list"), "{name}: {cats}");
    }
}

/// Producers push at both ends while consumers LPOP and LMOVE concurrently: every element
/// comes out exactly once, and the destination of the moves holds exactly what LMOVE returned.
#[test]
fn concurrent_pushes_and_pops_are_exact() {
    const PRODUCERS: usize = 4;
    const CONSUMERS: usize = 4;
    const PER_PRODUCER: usize = 500;
    let srv = Server::start();
    let barrier = Arc::new(Barrier::new(PRODUCERS + CONSUMERS));
    let producers: Vec<_> = (0..PRODUCERS)
        .map(|p| {
            let mut c = srv.client();
            let barrier = barrier.clone();
            std::thread::spawn(move || {
                barrier.wait();
                for i in 0..PER_PRODUCER {
                    let v = format!("{p}:{i}");
                    let cmd = if i % 2 == 0 { "RPUSH" } else { "LPUSH" };
                    let r = raw(&mut c, &[cmd, "q", &v]);
                    assert!(matches!(r, Reply::Int(_)), "{r}");
                }
            })
        })
        .collect();
    let consumers: Vec<_> = (0..CONSUMERS)
        .map(|t| {
            let mut c = srv.client();
            let barrier = barrier.clone();
            std::thread::spawn(move || {
                barrier.wait();
                let (mut popped, mut moved) = (Vec::new(), Vec::new());
                let mut idle = 0;
                while idle < 200 {
                    let r = if t % 2 == 0 {
                        raw(&mut c, &["LPOP", "q", "3"])
                    } else {
                        raw(&mut c, &["LMOVE", "q", "q2", "RIGHT", "LEFT"])
                    };
                    match r {
                        Reply::Nil => {
                            idle += 1;
                            std::thread::sleep(Duration::from_millis(1));
                        }
                        Reply::Bulk(v) => moved.push(String::from_utf8(v).unwrap()),
                        r @ Reply::Array(_) => popped.extend(strings(&r)),
                        other => panic!("{other}"),
                    }
                }
                (popped, moved)
            })
        })
        .collect();
    for p in producers {
        p.join().unwrap();
    }
    let (mut all, mut moved) = (Vec::new(), Vec::new());
    for consumer in consumers {
        let (p, m) = consumer.join().unwrap();
        all.extend(p);
        moved.extend(m);
    }
    let mut c = srv.client();
    all.extend(strings(&raw(&mut c, &["LRANGE", "q", "0", "-1"])));
    let mut in_q2 = strings(&raw(&mut c, &["LRANGE", "q2", "0", "-1"]));
    in_q2.sort();
    moved.sort();
    assert_eq!(in_q2, moved);
    all.extend(moved);
    all.sort();
    let mut want: Vec<String> = (0..PRODUCERS)
        .flat_map(|p| (0..PER_PRODUCER).map(move |i| format!("{p}:{i}")))
        .collect();
    want.sort();
    assert_eq!(all, want);
}

/// Readers racing a writer that moves the window (RPOP then LPUSH, and LINSERT at the head
/// side) see only states the list really had: consecutive descending numbers.
#[test]
fn reads_racing_writes_see_whole_states() {
    const LEN: i64 = 50;
    const ROUNDS: i64 = 1500;
    let srv = Server::start();
    let mut c = srv.client();
    let mut args = vec!["LPUSH".to_string(), "q".to_string()];
    args.extend((0..LEN).map(|i| i.to_string()));
    assert_eq!(raw(&mut c, &args), int(LEN));
    let done = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let readers: Vec<_> = (0..3)
        .map(|t| {
            let mut c = srv.client();
            let done = done.clone();
            std::thread::spawn(move || {
                let mut reads = 0;
                while !done.load(std::sync::atomic::Ordering::Relaxed) {
                    let r = match t {
                        0 => raw(&mut c, &["LRANGE", "q", "0", "-1"]),
                        1 => raw(&mut c, &["LRANGE", "q", "-10", "-1"]),
                        _ => raw(&mut c, &["LPOS", "q", "x", "COUNT", "0"]),
                    };
                    reads += 1;
                    if t == 2 {
                        assert_eq!(r, empty());
                        continue;
                    }
                    let nums: Vec<i64> = strings(&r).iter().map(|s| s.parse().unwrap()).collect();
                    assert!(nums.len() >= 9, "{r}");
                    for w in nums.windows(2) {
                        assert_eq!(w[0], w[1] + 1, "not a state of the list: {r}");
                    }
                }
                reads
            })
        })
        .collect();
    for i in LEN..LEN + ROUNDS {
        // The smallest number leaves at the tail, the next one enters at the head, sometimes by
        // LINSERT before the head (which shifts the head side).
        assert!(!raw(&mut c, &["RPOP", "q"]).is_error());
        let v = i.to_string();
        let prev = (i - 1).to_string();
        if i % 3 == 0 {
            assert!(!raw(&mut c, &["LINSERT", "q", "BEFORE", &prev, &v]).is_error());
        } else {
            assert!(!raw(&mut c, &["LPUSH", "q", &v]).is_error());
        }
    }
    done.store(true, std::sync::atomic::Ordering::Relaxed);
    for r in readers {
        assert!(r.join().unwrap() > 0);
    }
}
