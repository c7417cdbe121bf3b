//! RDB interchange with a real redis-server: `basalt-rdb import` of files Redis saved (every
//! type in every encoding Redis 7.0 writes), `export` files that Redis loads, DUMP/RESTORE in
//! both directions, and the tool's refusals (corrupt or truncated files, a data directory in
//! use, keys that already exist). Every comparison is of whole keyspaces: type, value and
//! absolute expiry of every key in every database.

use super::harness::*;
use basalt::rdb::{Chunk, Event, Kind, Reader, StreamEntry, StreamId, StreamMeta};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const RDB_BIN: &str = env!("CARGO_BIN_EXE_basalt-rdb");

/// Runs `basalt-rdb` with `args`.
fn tool(args: &[&str]) -> Output {
    Command::new(RDB_BIN)
        .args(args)
        .output()
        .expect("run basalt-rdb")
}

fn tool_ok(args: &[&str]) -> String {
    let out = tool(args);
    assert!(
        out.status.success(),
        "basalt-rdb {args:?} failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn tool_err(args: &[&str]) -> String {
    let out = tool(args);
    assert!(
        !out.status.success(),
        "basalt-rdb {args:?} should have failed:\n{}",
        String::from_utf8_lossy(&out.stdout)
    );
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn path_str(p: &Path) -> &str {
    p.to_str().expect("temporary paths are UTF-8")
}

/// A key's value, in a form both servers render identically.
#[derive(Clone, Debug, PartialEq)]
enum Value {
    Str(Vec<u8>),
    List(Vec<Vec<u8>>),
    Set(Vec<Vec<u8>>),
    /// (member, score as the server prints it)
    ZSet(Vec<(Vec<u8>, Vec<u8>)>),
    Hash(Vec<(Vec<u8>, Vec<u8>)>),
    Stream(Reply),
}

fn bulks(r: Reply) -> Vec<Vec<u8>> {
    match r {
        Reply::Array(v) | Reply::Set(v) => v
            .into_iter()
            .map(|x| x.as_bytes().map(<[u8]>::to_vec).unwrap_or_default())
            .collect(),
        other => panic!("expected an array, got {other:?}"),
    }
}

fn pairs(r: Reply) -> Vec<(Vec<u8>, Vec<u8>)> {
    let flat = bulks(r);
    flat.chunks(2)
        .map(|c| (c[0].clone(), c[1].clone()))
        .collect()
}

/// Every key of every database: (db, key) -> (value, absolute expiry in ms or -1).
type Snapshot = BTreeMap<(u32, Vec<u8>), (Value, i64)>;

fn snapshot(port: u16, with_streams: bool) -> Snapshot {
    let mut c = connect(port);
    let mut out = Snapshot::new();
    for db in 0..16u32 {
        assert_eq!(cmd(&mut c, &["SELECT", &db.to_string()]), Reply::ok());
        for key in bulks(cmd(&mut c, &["KEYS", "*"])) {
            let ty = raw(&mut c, &[&b"TYPE"[..], &key]);
            let k = key.as_slice();
            let value = match ty {
                Reply::Simple(t) if t == "string" => {
                    Value::Str(raw(&mut c, &[&b"GET"[..], k]).as_bytes().unwrap().to_vec())
                }
                Reply::Simple(t) if t == "list" => {
                    Value::List(bulks(raw(&mut c, &[&b"LRANGE"[..], k, b"0", b"-1"])))
                }
                Reply::Simple(t) if t == "set" => {
                    let mut m = bulks(raw(&mut c, &[&b"SMEMBERS"[..], k]));
                    m.sort();
                    Value::Set(m)
                }
                Reply::Simple(t) if t == "zset" => Value::ZSet(pairs(raw(
                    &mut c,
                    &[&b"ZRANGE"[..], k, b"0", b"-1", b"WITHSCORES"],
                ))),
                Reply::Simple(t) if t == "hash" => {
                    let mut h = pairs(raw(&mut c, &[&b"HGETALL"[..], k]));
                    h.sort();
                    Value::Hash(h)
                }
                Reply::Simple(t) if t == "stream" => {
                    if !with_streams {
                        continue;
                    }
                    Value::Stream(stream_state(&mut c, k))
                }
                other => panic!("TYPE {} = {other:?}", escape(k)),
            };
            let at = raw(&mut c, &[&b"PEXPIRETIME"[..], k])
                .as_int()
                .expect("PEXPIRETIME is an integer");
            out.insert((db, key), (value, at));
        }
    }
    out
}

/// Everything about a stream that an RDB carries: its entries, XINFO STREAM FULL (without
/// Redis's radix-tree figures, which depend on its node layout) and XINFO GROUPS.
fn stream_state(c: &mut redis::Connection, key: &[u8]) -> Reply {
    let mut full = raw(c, &[&b"XINFO"[..], b"STREAM", key, b"FULL", b"COUNT", b"0"]);
    if let Reply::Array(f) = &mut full {
        for i in 0..f.len().saturating_sub(1) {
            if f[i] == Reply::bulk("radix-tree-keys") || f[i] == Reply::bulk("radix-tree-nodes") {
                f[i + 1] = Reply::Nil;
            }
        }
    }
    Reply::Array(vec![
        raw(c, &[&b"XRANGE"[..], key, b"-", b"+"]),
        full,
        raw(c, &[&b"XINFO"[..], b"GROUPS", key]),
    ])
}

/// Asserts two snapshots are equal, naming the first keys that differ.
fn assert_same(what: &str, expected: &Snapshot, got: &Snapshot) {
    let mut diffs = Vec::new();
    for k in expected.keys().chain(got.keys()) {
        if expected.get(k) != got.get(k) && diffs.len() < 5 {
            diffs.push(format!(
                "db {} {}: expected {:?}, got {:?}",
                k.0,
                escape(&k.1),
                expected
                    .get(k)
                    .map(|v| format!("{v:?}").chars().take(200).collect::<String>()),
                got.get(k)
                    .map(|v| format!("{v:?}").chars().take(200).collect::<String>()),
            ));
        }
    }
    assert!(
        diffs.is_empty(),
        "{what}: {} vs {} keys; first differences:\n{}",
        expected.len(),
        got.len(),
        diffs.join("\n")
    );
    assert!(!expected.is_empty(), "{what}: nothing was compared");
}

fn run(c: &mut redis::Connection, args: &[&[u8]]) {
    let r = raw(c, args);
    assert!(!r.is_error(), "{} -> {r:?}", escape_cmd(args));
}

/// Fills a server with every type in every encoding Redis 7.0 writes, small and large, with
/// TTLs, binary keys and several databases. Streams only when `streams`.
fn populate(port: u16, streams: bool) {
    let mut c = connect(port);
    let far = (std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis()
        + 3_600_000)
        .to_string();
    let s = |x: &str| x.as_bytes().to_vec();
    // Strings: integers of every width, non-canonical integers, long compressible and
    // incompressible text, empty and binary values, a binary key.
    for (k, v) in [
        ("i8", "-7"),
        ("i16", "3000"),
        ("i32", "-2000000000"),
        ("i64", "9223372036854775807"),
        ("lead0", "007"),
        ("plus", "+5"),
        ("float", "1.5e3"),
        ("empty", ""),
    ] {
        run(&mut c, &[b"SET", k.as_bytes(), v.as_bytes()]);
    }
    let compressible = "basalt ".repeat(2000);
    run(&mut c, &[b"SET", b"compressible", compressible.as_bytes()]);
    let noise: Vec<u8> = (0..3000u32)
        .map(|i| (i.wrapping_mul(2654435761) >> 13) as u8)
        .collect();
    run(&mut c, &[b"SET", b"noise", &noise]);
    run(
        &mut c,
        &[b"SET", b"bin\x00\xff\r\nkey", b"\x00\x01\xfe\xff"],
    );
    run(
        &mut c,
        &[b"SET", b"ttl-string", b"v", b"PXAT", far.as_bytes()],
    );
    // Lists: a small one, a long one over many 8 KB nodes, one with elements over 8 KB.
    run(
        &mut c,
        &[b"RPUSH", b"list-small", b"a", b"1", b"-2", b"", b"b"],
    );
    let mut long: Vec<Vec<u8>> = vec![s("RPUSH"), s("list-long")];
    long.extend((0..5000).map(|i| format!("element-{i}-{}", "x".repeat(i % 50)).into_bytes()));
    let refs: Vec<&[u8]> = long.iter().map(Vec::as_slice).collect();
    run(&mut c, &refs);
    let huge = "h".repeat(20_000);
    run(
        &mut c,
        &[
            b"RPUSH",
            b"list-huge",
            huge.as_bytes(),
            b"tiny",
            huge.as_bytes(),
        ],
    );
    run(&mut c, &[b"PEXPIREAT", b"list-small", far.as_bytes()]);
    // Sets: intsets of each width, a string set, a large intset (hashtable), a large set.
    run(&mut c, &[b"SADD", b"set-int16", b"1", b"2", b"-3"]);
    run(
        &mut c,
        &[
            b"SADD",
            b"set-int64",
            b"1",
            b"4294967296",
            b"-9223372036854775808",
        ],
    );
    run(&mut c, &[b"SADD", b"set-str", b"a", b"b", b"c", b""]);
    let mut big: Vec<Vec<u8>> = vec![s("SADD"), s("set-int-big")];
    big.extend((0..1000).map(|i| (i * 7).to_string().into_bytes()));
    let refs: Vec<&[u8]> = big.iter().map(Vec::as_slice).collect();
    run(&mut c, &refs);
    let mut big: Vec<Vec<u8>> = vec![s("SADD"), s("set-big")];
    big.extend((0..3000).map(|i| format!("member:{i}").into_bytes()));
    let refs: Vec<&[u8]> = big.iter().map(Vec::as_slice).collect();
    run(&mut c, &refs);
    // Sorted sets: listpack with integer, fractional and infinite scores; skiplist by size and
    // by member length.
    run(
        &mut c,
        &[
            b"ZADD",
            b"zset-small",
            b"1",
            b"one",
            b"2.5",
            b"two",
            b"-inf",
            b"low",
            b"+inf",
            b"high",
            b"0.1",
            b"tenth",
            b"-3",
            b"neg",
        ],
    );
    let mut big: Vec<Vec<u8>> = vec![s("ZADD"), s("zset-big")];
    for i in 0..500 {
        big.push(format!("{}", f64::from(i) / 7.0).into_bytes());
        big.push(format!("m{i}").into_bytes());
    }
    let refs: Vec<&[u8]> = big.iter().map(Vec::as_slice).collect();
    run(&mut c, &refs);
    let long_member = "m".repeat(100);
    run(
        &mut c,
        &[
            b"ZADD",
            b"zset-longmember",
            b"1",
            long_member.as_bytes(),
            b"2",
            b"x",
        ],
    );
    run(&mut c, &[b"PEXPIREAT", b"zset-big", far.as_bytes()]);
    // Hashes: listpack, hashtable by size and by value length.
    run(
        &mut c,
        &[b"HSET", b"hash-small", b"f1", b"v1", b"n", b"42", b"e", b""],
    );
    let mut big: Vec<Vec<u8>> = vec![s("HSET"), s("hash-big")];
    for i in 0..400 {
        big.push(format!("field{i}").into_bytes());
        big.push(format!("value{}", i * 3).into_bytes());
    }
    let refs: Vec<&[u8]> = big.iter().map(Vec::as_slice).collect();
    run(&mut c, &refs);
    let long_value = "v".repeat(100);
    run(
        &mut c,
        &[b"HSET", b"hash-longvalue", b"f", long_value.as_bytes()],
    );
    run(&mut c, &[b"PEXPIREAT", b"hash-small", far.as_bytes()]);
    // Other databases.
    for db in ["1", "5", "15"] {
        run(&mut c, &[b"SELECT", db.as_bytes()]);
        run(&mut c, &[b"SET", b"in-db", db.as_bytes()]);
        run(&mut c, &[b"RPUSH", b"list-in-db", db.as_bytes(), b"x"]);
    }
    run(&mut c, &[b"SELECT", b"0"]);
    if streams {
        // Entries with changing field sets, deleted entries, a group with a PEL and consumers.
        for i in 1..=20 {
            let id = format!("{i}-1");
            let f = if i % 3 == 0 { "other" } else { "field" };
            run(
                &mut c,
                &[
                    b"XADD",
                    b"stream",
                    id.as_bytes(),
                    f.as_bytes(),
                    i.to_string().as_bytes(),
                ],
            );
        }
        run(&mut c, &[b"XDEL", b"stream", b"5-1", b"6-1"]);
        run(&mut c, &[b"XGROUP", b"CREATE", b"stream", b"group", b"0"]);
        run(
            &mut c,
            &[
                b"XREADGROUP",
                b"GROUP",
                b"group",
                b"alice",
                b"COUNT",
                b"3",
                b"STREAMS",
                b"stream",
                b">",
            ],
        );
        run(
            &mut c,
            &[
                b"XREADGROUP",
                b"GROUP",
                b"group",
                b"bob",
                b"COUNT",
                b"2",
                b"STREAMS",
                b"stream",
                b">",
            ],
        );
        run(&mut c, &[b"XACK", b"stream", b"group", b"2-1"]);
        run(&mut c, &[b"XGROUP", b"CREATE", b"stream", b"late", b"$"]);
        populate_more_streams(&mut c);
    }
}

/// Streams of every shape an RDB carries: several listpack nodes with deleted entries and
/// big values, a pending entry whose entry was deleted, consumers without pending entries,
/// empty streams with groups or with XSETID's figures, a TTL, another database.
fn populate_more_streams(c: &mut redis::Connection) {
    let big = vec![b'x'; 700];
    for i in 1..=1200u32 {
        let id = format!("{i}-0");
        let v = i.to_string();
        let value: &[u8] = if i % 97 == 0 { &big } else { v.as_bytes() };
        let field: &[u8] = if i % 5 == 0 { b"odd" } else { b"n" };
        run(
            c,
            &[b"XADD", b"st-many", id.as_bytes(), field, value, b"k", b"v"],
        );
    }
    for i in (1..=1200u32).step_by(7) {
        run(c, &[b"XDEL", b"st-many", format!("{i}-0").as_bytes()]);
    }
    run(c, &[b"XGROUP", b"CREATE", b"st-many", b"workers", b"0"]);
    for (who, n) in [(&b"w1"[..], &b"500"[..]), (b"w2", b"300")] {
        run(
            c,
            &[
                b"XREADGROUP",
                b"GROUP",
                b"workers",
                who,
                b"COUNT",
                n,
                b"STREAMS",
                b"st-many",
                b">",
            ],
        );
    }
    run(c, &[b"XDEL", b"st-many", b"2-0", b"600-0"]);
    run(c, &[b"XACK", b"st-many", b"workers", b"3-0", b"4-0"]);
    run(
        c,
        &[
            b"XGROUP",
            b"CREATECONSUMER",
            b"st-many",
            b"workers",
            b"idle-one",
        ],
    );
    run(
        c,
        &[
            b"XGROUP",
            b"CREATE",
            b"st-many",
            b"unknown-lag",
            b"500-0",
            b"ENTRIESREAD",
            b"-1",
        ],
    );
    run(
        c,
        &[b"XGROUP", b"CREATE", b"st-empty", b"g", b"$", b"MKSTREAM"],
    );
    run(c, &[b"XADD", b"st-emptied", b"5-5", b"f", b"v"]);
    run(c, &[b"XDEL", b"st-emptied", b"5-5"]);
    run(
        c,
        &[
            b"XSETID",
            b"st-emptied",
            b"9-9",
            b"ENTRIESADDED",
            b"20",
            b"MAXDELETEDID",
            b"7-7",
        ],
    );
    run(c, &[b"XADD", b"st-ttl", b"1-1", b"f", b"v"]);
    run(c, &[b"PEXPIREAT", b"st-ttl", b"99999999999999"]);
    run(c, &[b"SELECT", b"5"]);
    run(c, &[b"XADD", b"st-other-db", b"1-1", b"f", b"v"]);
    run(c, &[b"SELECT", b"0"]);
}

/// Saves a redis-server's dataset and returns the path of its RDB file.
fn save(redis: &RedisServer) -> PathBuf {
    let mut c = redis.client();
    assert_eq!(cmd(&mut c, &["SAVE"]), Reply::ok());
    redis.dir().join("dump.rdb")
}

/// Decodes a stream key from an RDB file with the library's reader.
fn read_stream(file: &Path, key: &[u8]) -> (Vec<StreamEntry>, StreamMeta) {
    let src = std::io::BufReader::new(std::fs::File::open(file).unwrap());
    let mut reader = Reader::new(src).unwrap();
    let mut entries = Vec::new();
    let mut inside = false;
    while let Some(ev) = reader.next().unwrap() {
        match ev {
            Event::Key(h) => inside = h.key == key && h.kind == Kind::Stream,
            Event::Chunk(Chunk::StreamEntries(e)) if inside => entries.extend(e),
            Event::Chunk(Chunk::StreamMeta(m)) if inside => return (entries, *m),
            _ => {}
        }
    }
    panic!("no stream {} in {}", escape(key), file.display());
}

fn id(s: &[u8]) -> StreamId {
    let t = std::str::from_utf8(s).unwrap();
    let (ms, seq) = t.split_once('-').unwrap();
    StreamId {
        ms: ms.parse().unwrap(),
        seq: seq.parse().unwrap(),
    }
}

#[test]
fn redis_rdb_imports_with_every_key_value_and_ttl() {
    let Some(redis) = RedisServer::start() else {
        return;
    };
    populate(redis.port(), true);
    let expected = snapshot(redis.port(), false);
    let file = save(&redis);

    let inspect = tool_ok(&["inspect", path_str(&file)]);
    for needle in [
        "RDB version 10",
        "intset",
        "listpack",
        "quicklist",
        "skiplist",
        "hashtable",
        "stream",
    ] {
        assert!(
            inspect.contains(needle),
            "inspect lacks {needle}:\n{inspect}"
        );
    }
    let json = tool_ok(&["inspect", "--json", path_str(&file)]);
    assert!(
        json.starts_with("{\"version\":10,") && json.trim_end().ends_with('}'),
        "{json}"
    );

    let mut server = Server::start();
    server.stop();
    let summary = tool_ok(&["import", "--dir", path_str(server.dir()), path_str(&file)]);
    assert!(summary.contains("stream 6"), "{summary}");
    assert!(summary.contains(", 0 empty"), "{summary}");
    server.restart();
    assert_same(
        "import of a Redis RDB",
        &expected,
        &snapshot(server.port(), false),
    );
    // Streams too: entries, groups, PELs (delivery times and counts), consumers (seen
    // times), the recorded IDs and counters.
    assert_same(
        "import of a Redis RDB's streams",
        &snapshot(redis.port(), true),
        &snapshot(server.port(), true),
    );
    let mut c = server.client();
    assert_eq!(
        cmd(&mut c, &["XPENDING", "st-many", "workers"]),
        cmd(&mut redis.client(), &["XPENDING", "st-many", "workers"])
    );

    // The stream, decoded by the reader, matches what Redis reports.
    let (entries, meta) = read_stream(&file, b"stream");
    let mut c = redis.client();
    let Reply::Array(range) = cmd(&mut c, &["XRANGE", "stream", "-", "+"]) else {
        panic!("XRANGE is an array");
    };
    assert_eq!(entries.len(), range.len());
    for (e, r) in entries.iter().zip(range) {
        let Reply::Array(parts) = r else { panic!() };
        assert_eq!(e.id, id(parts[0].as_bytes().unwrap()));
        assert_eq!(
            e.fields
                .iter()
                .flat_map(|(f, v)| [f.clone(), v.clone()])
                .collect::<Vec<_>>(),
            bulks(parts[1].clone())
        );
    }
    assert_eq!(meta.length, 18);
    assert_eq!(meta.last_id, StreamId { ms: 20, seq: 1 });
    assert_eq!(meta.max_deleted_id, Some(StreamId { ms: 6, seq: 1 }));
    assert_eq!(meta.entries_added, Some(20));
    let group = meta
        .groups
        .iter()
        .find(|g| g.name == b"group")
        .expect("group");
    assert_eq!(group.last_id, StreamId { ms: 7, seq: 1 });
    // XINFO GROUPS reports entries-read (nil when Redis could not keep it exact, stored as -1).
    let Reply::Array(groups) = cmd(&mut c, &["XINFO", "GROUPS", "stream"]) else {
        panic!("XINFO GROUPS is an array");
    };
    let Reply::Array(fields) = &groups[0] else {
        panic!()
    };
    let at = fields
        .iter()
        .position(|f| *f == Reply::bulk("entries-read"))
        .unwrap();
    let want = match &fields[at + 1] {
        Reply::Int(n) => *n as u64,
        _ => u64::MAX,
    };
    assert_eq!(group.entries_read, Some(want));
    let pel: Vec<StreamId> = group.pending.iter().map(|p| p.id).collect();
    assert_eq!(pel, [1, 3, 4, 7].map(|ms| StreamId { ms, seq: 1 }));
    assert!(group.pending.iter().all(|p| p.delivery_count == 1));
    let owners: Vec<(&[u8], usize)> = group
        .consumers
        .iter()
        .map(|c| (c.name.as_slice(), c.pending.len()))
        .collect();
    assert_eq!(owners, [(&b"alice"[..], 2), (&b"bob"[..], 2)]);
    assert!(meta
        .groups
        .iter()
        .any(|g| g.name == b"late" && g.last_id.ms == 20));
}

#[test]
fn exported_rdb_loads_in_redis_with_every_key_value_and_ttl() {
    if !redis_server_available() {
        notice("SKIPPED: redis-server not installed");
        return;
    }
    let mut server = Server::start();
    populate(server.port(), false);
    let expected = snapshot(server.port(), false);
    server.stop();
    for version in ["10", "9", "7"] {
        let file = server
            .dir()
            .with_file_name(format!("export-v{version}.rdb"));
        let summary = tool_ok(&[
            "export",
            "--dir",
            path_str(server.dir()),
            "--rdb-version",
            version,
            path_str(&file),
        ]);
        assert!(
            summary.contains(&format!("RDB version {version}")),
            "{summary}"
        );
        let redis = RedisServer::start_loading(Some(&file)).expect("redis-server is available");
        assert_same(
            &format!("Redis loading a version {version} export"),
            &expected,
            &snapshot(redis.port(), false),
        );
        if version == "10" {
            // Redis keeps the compact encodings the export chose.
            let mut c = redis.client();
            for (key, enc) in [
                ("set-int16", "intset"),
                ("set-big", "hashtable"),
                ("hash-small", "listpack"),
                ("hash-longvalue", "hashtable"),
                ("zset-small", "listpack"),
                ("zset-big", "skiplist"),
                ("list-long", "quicklist"),
                ("i16", "int"),
            ] {
                assert_eq!(
                    cmd(&mut c, &["OBJECT", "ENCODING", key]),
                    Reply::bulk(enc),
                    "{key}"
                );
            }
        }
    }
}

/// Streams made in Basalt, exported as RDB 10 (Redis 7.0) and 9 (Redis 5 and 6): redis-server
/// loads both and reports what Basalt reports (RDB 9 carries no first ID, greatest deleted ID,
/// entries-added or entries-read: Redis derives them on load), and its own DUMP of the loaded
/// nodes passes its deep sanitization on RESTORE.
#[test]
fn streams_export_to_redis() {
    if !redis_server_available() {
        notice("SKIPPED: redis-server not installed");
        return;
    }
    let mut server = Server::start();
    {
        let mut c = server.client();
        populate_more_streams(&mut c);
        run(&mut c, &[b"XADD", b"auto", b"*", b"f", b"v"]);
    }
    let expected = snapshot(server.port(), true);
    let entries_only: Snapshot = expected
        .iter()
        .map(|(k, (v, at))| {
            let v = match v {
                Value::Stream(Reply::Array(parts)) => Value::Stream(parts[0].clone()),
                other => other.clone(),
            };
            (k.clone(), (v, *at))
        })
        .collect();
    server.stop();
    for version in ["10", "9"] {
        let file = server
            .dir()
            .with_file_name(format!("streams-v{version}.rdb"));
        tool_ok(&[
            "export",
            "--dir",
            path_str(server.dir()),
            "--rdb-version",
            version,
            path_str(&file),
        ]);
        let redis = RedisServer::start_loading(Some(&file)).expect("redis-server is available");
        let mut r = redis.client();
        assert_eq!(
            cmd(&mut r, &["CONFIG", "SET", "sanitize-dump-payload", "yes"]),
            Reply::ok()
        );
        let got = snapshot(redis.port(), true);
        if version == "10" {
            assert_same("Redis loading a version 10 export", &expected, &got);
        } else {
            let got: Snapshot = got
                .into_iter()
                .map(|(k, (v, at))| {
                    let v = match v {
                        Value::Stream(Reply::Array(parts)) => Value::Stream(parts[0].clone()),
                        other => other,
                    };
                    (k, (v, at))
                })
                .collect();
            assert_same("Redis loading a version 9 export", &entries_only, &got);
        }
        // Redis's own DUMP of a loaded stream restores into Basalt-made nodes' equal.
        let payload = raw(&mut r, &[&b"DUMP"[..], b"st-many"]);
        assert_eq!(
            raw(
                &mut r,
                &[
                    &b"RESTORE"[..],
                    b"st-copy",
                    b"0",
                    payload.as_bytes().unwrap()
                ]
            ),
            Reply::ok()
        );
        assert_eq!(
            cmd(&mut r, &["XRANGE", "st-copy", "-", "+"]),
            cmd(&mut r, &["XRANGE", "st-many", "-", "+"])
        );
    }
    // Redis 3.2 to 4.0 have no streams: such an export refuses, naming the key.
    let file = server.dir().with_file_name("streams-v8.rdb");
    let e = tool_err(&[
        "export",
        "--dir",
        path_str(server.dir()),
        "--rdb-version",
        "8",
        path_str(&file),
    ]);
    assert!(e.contains("streams need RDB version 9"), "{e}");
}

#[test]
fn dump_and_restore_move_keys_both_ways() {
    let Some(redis) = RedisServer::start() else {
        return;
    };
    populate(redis.port(), true);
    let expected = snapshot(redis.port(), true);
    let server = Server::start();
    let mut r = redis.client();
    let mut b = server.client();
    for (db, key) in expected.keys() {
        let sel = ["SELECT".to_string(), db.to_string()];
        assert_eq!(cmd(&mut r, &[&sel[0], &sel[1]]), Reply::ok());
        assert_eq!(cmd(&mut b, &[&sel[0], &sel[1]]), Reply::ok());
        let payload = raw(&mut r, &[&b"DUMP"[..], key]);
        let payload = payload.as_bytes().expect("DUMP of an existing key");
        let at = raw(&mut r, &[&b"PEXPIRETIME"[..], key])
            .as_int()
            .unwrap()
            .max(0);
        let restored = raw(
            &mut b,
            &[
                &b"RESTORE"[..],
                key,
                at.to_string().as_bytes(),
                payload,
                b"ABSTTL",
            ],
        );
        assert_eq!(restored, Reply::ok(), "RESTORE of {}", escape(key));
    }
    assert_same(
        "RESTORE of Redis's DUMP payloads",
        &expected,
        &snapshot(server.port(), true),
    );

    // And back: Basalt's payloads restore in Redis, into a flushed keyspace.
    let mut payloads = Vec::new();
    for (db, key) in expected.keys() {
        assert_eq!(cmd(&mut b, &["SELECT", &db.to_string()]), Reply::ok());
        let p = raw(&mut b, &[&b"DUMP"[..], key]);
        payloads.push((*db, key.clone(), p.as_bytes().expect("DUMP").to_vec()));
    }
    assert_eq!(cmd(&mut r, &["FLUSHALL"]), Reply::ok());
    for (db, key, p) in &payloads {
        assert_eq!(cmd(&mut r, &["SELECT", &db.to_string()]), Reply::ok());
        let at = expected[&(*db, key.clone())].1.max(0);
        let restored = raw(
            &mut r,
            &[
                &b"RESTORE"[..],
                key,
                at.to_string().as_bytes(),
                p,
                b"ABSTTL",
            ],
        );
        assert_eq!(restored, Reply::ok(), "Redis RESTORE of {}", escape(key));
    }
    assert_same(
        "Redis restoring Basalt's payloads",
        &expected,
        &snapshot(redis.port(), true),
    );

    // Strings dump byte for byte as Redis dumps them (integer and LZF encodings included).
    assert_eq!(cmd(&mut r, &["SELECT", "0"]), Reply::ok());
    assert_eq!(cmd(&mut b, &["SELECT", "0"]), Reply::ok());
    for key in [
        "i8",
        "i16",
        "i32",
        "i64",
        "lead0",
        "empty",
        "set-int16",
        "zset-small",
    ] {
        assert_eq!(
            cmd(&mut b, &["DUMP", key]),
            cmd(&mut r, &["DUMP", key]),
            "DUMP {key}"
        );
    }
}

#[test]
fn restore_errors_match_redis() {
    let Some(redis) = RedisServer::start() else {
        return;
    };
    let server = Server::start();
    for port in [redis.port(), server.port()] {
        let mut c = connect(port);
        cmd(&mut c, &["SET", "k", "v"]);
    }
    let payload = {
        let mut c = redis.client();
        cmd(&mut c, &["DUMP", "k"]).as_bytes().unwrap().to_vec()
    };
    let mut flipped = payload.clone();
    flipped[1] ^= 1;
    let mut newer = payload.clone();
    let n = newer.len();
    newer[n - 10] = 99;
    let steps: Vec<Vec<Vec<u8>>> = vec![
        vec![
            b"RESTORE".to_vec(),
            b"k".to_vec(),
            b"0".to_vec(),
            payload.clone(),
        ],
        vec![b"RESTORE".to_vec(), b"new".to_vec(), b"0".to_vec(), flipped],
        vec![b"RESTORE".to_vec(), b"new".to_vec(), b"0".to_vec(), newer],
        vec![
            b"RESTORE".to_vec(),
            b"new".to_vec(),
            b"0".to_vec(),
            b"short".to_vec(),
        ],
        vec![
            b"RESTORE".to_vec(),
            b"new".to_vec(),
            b"-1".to_vec(),
            payload.clone(),
        ],
        vec![
            b"RESTORE".to_vec(),
            b"new".to_vec(),
            b"x".to_vec(),
            payload.clone(),
        ],
        vec![
            b"RESTORE".to_vec(),
            b"new".to_vec(),
            b"0".to_vec(),
            payload.clone(),
            b"IDLETIME".to_vec(),
            b"-1".to_vec(),
        ],
        vec![
            b"RESTORE".to_vec(),
            b"new".to_vec(),
            b"0".to_vec(),
            payload.clone(),
            b"FREQ".to_vec(),
            b"256".to_vec(),
        ],
        vec![
            b"RESTORE".to_vec(),
            b"new".to_vec(),
            b"0".to_vec(),
            payload.clone(),
            b"IDLETIME".to_vec(),
            b"1".to_vec(),
            b"FREQ".to_vec(),
            b"1".to_vec(),
        ],
        vec![
            b"RESTORE".to_vec(),
            b"new".to_vec(),
            b"0".to_vec(),
            payload.clone(),
            b"BOGUS".to_vec(),
        ],
        vec![
            b"RESTORE".to_vec(),
            b"k".to_vec(),
            b"0".to_vec(),
            payload.clone(),
            b"REPLACE".to_vec(),
            b"IDLETIME".to_vec(),
            b"10".to_vec(),
        ],
        vec![
            b"RESTORE".to_vec(),
            b"gone".to_vec(),
            b"1".to_vec(),
            payload.clone(),
            b"ABSTTL".to_vec(),
        ],
        vec![b"EXISTS".to_vec(), b"gone".to_vec()],
        vec![
            b"RESTORE".to_vec(),
            b"k".to_vec(),
            b"1".to_vec(),
            payload.clone(),
            b"ABSTTL".to_vec(),
            b"REPLACE".to_vec(),
        ],
        vec![b"EXISTS".to_vec(), b"k".to_vec()],
        vec![
            b"RESTORE".to_vec(),
            b"t".to_vec(),
            b"100000".to_vec(),
            payload.clone(),
        ],
        vec![b"TTL".to_vec(), b"t".to_vec()],
        vec![b"DUMP".to_vec(), b"missing".to_vec()],
    ];
    let mut r = redis.client();
    let mut b = server.client();
    for step in &steps {
        let refs: Vec<&[u8]> = step.iter().map(Vec::as_slice).collect();
        let (want, got) = (raw(&mut r, &refs), raw(&mut b, &refs));
        assert_eq!(got, want, "{}", escape_cmd(&refs));
    }
}

/// Writes `bytes` as an RDB file in a fresh temporary directory.
fn write_file(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, bytes).unwrap();
    p
}

#[test]
fn import_refuses_bad_files_and_busy_or_conflicting_targets() {
    let Some(redis) = RedisServer::start() else {
        return;
    };
    populate(redis.port(), false);
    let good = std::fs::read(save(&redis)).unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let mut bad_crc = good.clone();
    let n = bad_crc.len();
    bad_crc[n - 1] ^= 0x40;
    let mut flipped = good.clone();
    flipped[n / 2] ^= 0x01;
    let cases = [
        ("bad-crc.rdb", bad_crc, "checksum"),
        ("flipped.rdb", flipped, "checksum"),
        ("truncated.rdb", good[..n / 2].to_vec(), "truncated"),
        ("not-rdb.rdb", b"HELLO WORLD".to_vec(), "not an RDB file"),
        ("future.rdb", b"REDIS0099\xff".to_vec(), "version 99"),
    ];
    let mut server = Server::start();
    server.stop();
    let dir = path_str(server.dir()).to_string();
    for (name, bytes, why) in &cases {
        let file = write_file(tmp.path(), name, bytes);
        let err = tool_err(&["import", "--dir", &dir, path_str(&file)]);
        assert!(err.contains(why), "{name}: {err}");
    }
    // Nothing was written by the refused imports.
    server.restart();
    let mut c = server.client();
    assert_eq!(cmd(&mut c, &["DBSIZE"]), Reply::Int(0));
    assert_eq!(cmd(&mut c, &["SET", "i8", "mine"]), Reply::ok());
    let file = write_file(tmp.path(), "good.rdb", &good);
    // A running server holds the directory.
    let err = tool_err(&["import", "--dir", &dir, path_str(&file)]);
    assert!(err.contains("in use"), "{err}");
    server.stop();
    // An existing key: refused before anything is written, unless told what to do.
    let err = tool_err(&["import", "--dir", &dir, path_str(&file)]);
    assert!(err.contains("already exist") && err.contains("i8"), "{err}");
    server.restart();
    let mut c = server.client();
    assert_eq!(cmd(&mut c, &["DBSIZE"]), Reply::Int(1));
    server.stop();
    tool_ok(&["import", "--dir", &dir, "--skip-existing", path_str(&file)]);
    server.restart();
    let mut c = server.client();
    assert_eq!(cmd(&mut c, &["GET", "i8"]), Reply::bulk("mine"));
    assert_eq!(cmd(&mut c, &["GET", "i16"]), Reply::bulk("3000"));
    server.stop();
    tool_ok(&["import", "--dir", &dir, "--replace", path_str(&file)]);
    server.restart();
    let expected = snapshot(redis.port(), false);
    assert_same(
        "import --replace",
        &expected,
        &snapshot(server.port(), false),
    );
}

#[test]
fn import_filters_and_dry_run() {
    let Some(redis) = RedisServer::start() else {
        return;
    };
    populate(redis.port(), false);
    let mut r = redis.client();
    let soon = (std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis()
        + 300)
        .to_string();
    cmd(&mut r, &["SET", "short-lived", "x", "PXAT", &soon]);
    let file = save(&redis);
    std::thread::sleep(std::time::Duration::from_millis(400));
    let file = path_str(&file).to_string();

    let mut server = Server::start();
    server.stop();
    let dir = path_str(server.dir()).to_string();
    let dry = tool_ok(&["import", "--dir", &dir, "--dry-run", &file]);
    assert!(
        dry.contains("would import") && dry.contains("1 expired"),
        "{dry}"
    );
    tool_ok(&[
        "import", "--dir", &dir, "--db", "0", "--type", "set", "--match", "set-int*", &file,
    ]);
    server.restart();
    let mut c = server.client();
    let mut keys = bulks(cmd(&mut c, &["KEYS", "*"]));
    keys.sort();
    assert_eq!(
        keys,
        [
            b"set-int-big".to_vec(),
            b"set-int16".to_vec(),
            b"set-int64".to_vec()
        ]
    );
    assert_eq!(cmd(&mut c, &["SELECT", "5"]), Reply::ok());
    assert_eq!(cmd(&mut c, &["DBSIZE"]), Reply::Int(0));
    server.stop();
    tool_ok(&[
        "import",
        "--dir",
        &dir,
        "--keep-expired",
        "--match",
        "short-lived",
        &file,
    ]);
    server.restart();
    let mut c = server.client();
    assert_eq!(cmd(&mut c, &["GET", "short-lived"]), Reply::bulk("x"));
    assert_eq!(cmd(&mut c, &["PTTL", "short-lived"]), Reply::Int(-1));
}

/// RESTORE of a list hands it to a client blocked on that key, as any write that creates a
/// list does, and announces `restore` to keyspace notification subscribers.
#[test]
fn restore_wakes_blocked_clients_and_notifies() {
    use super::blocking::{blocked_clients, recv, send};
    let server = Server::start();
    let mut c = server.client();
    cmd(&mut c, &["RPUSH", "src", "a", "b"]);
    let payload = cmd(&mut c, &["DUMP", "src"]).as_bytes().unwrap().to_vec();
    cmd(&mut c, &["CONFIG", "SET", "notify-keyspace-events", "KEA"]);
    let mut sub = server.client();
    send(&mut sub, &["SUBSCRIBE", "__keyevent@0__:restore"]);
    recv(&mut sub);
    let mut waiter = server.client();
    send(&mut waiter, &["BLPOP", "dst", "0"]);
    assert!(eventually(5, || blocked_clients(&mut c) == 1));
    assert_eq!(
        raw(&mut c, &[&b"RESTORE"[..], b"dst", b"0", &payload]),
        Reply::ok()
    );
    assert_eq!(
        recv(&mut waiter),
        Reply::Array(vec![Reply::bulk("dst"), Reply::bulk("a")])
    );
    assert_eq!(
        cmd(&mut c, &["LRANGE", "dst", "0", "-1"]),
        Reply::Array(vec![Reply::bulk("b")])
    );
    assert_eq!(
        recv(&mut sub),
        Reply::Array(vec![
            Reply::bulk("message"),
            Reply::bulk("__keyevent@0__:restore"),
            Reply::bulk("dst")
        ])
    );
}

/// Function libraries go both ways: loaded on Basalt, exported, loaded by redis-server; saved by
/// redis-server, imported, callable on Basalt (the server and the tool share the `fn/` records).
#[test]
fn function_libraries_round_trip_through_rdb_files() {
    if !redis_server_available() {
        notice("SKIPPED: redis-server not installed");
        return;
    }
    let lib = "#!lua name=rdblib\nredis.register_function('rdbf', function(k, a) return 'from ' .. a[1] end)";
    let mut server = Server::start();
    let mut c = server.client();
    assert_eq!(
        cmd(&mut c, &["FUNCTION", "LOAD", lib]),
        Reply::bulk("rdblib")
    );
    server.stop();
    let file = server.dir().with_file_name("functions.rdb");
    tool_ok(&["export", "--dir", path_str(server.dir()), path_str(&file)]);
    let redis = RedisServer::start_loading(Some(&file)).expect("redis-server is available");
    let mut r = redis.client();
    assert_eq!(
        cmd(&mut r, &["FCALL", "rdbf", "0", "basalt"]),
        Reply::bulk("from basalt")
    );
    // And back: Redis saves a second library, Basalt imports the file into a fresh directory.
    let lib2 = "#!lua name=redislib\nredis.register_function('redisf', function() return 7 end)";
    assert_eq!(
        cmd(&mut r, &["FUNCTION", "LOAD", lib2]),
        Reply::bulk("redislib")
    );
    let saved = save(&redis);
    let mut fresh = Server::start();
    fresh.stop();
    tool_ok(&["import", "--dir", path_str(fresh.dir()), path_str(&saved)]);
    fresh.restart();
    let mut b = fresh.client();
    assert_eq!(
        cmd(&mut b, &["FCALL", "rdbf", "0", "redis"]),
        Reply::bulk("from redis")
    );
    assert_eq!(cmd(&mut b, &["FCALL", "redisf", "0"]), Reply::Int(7));
}
