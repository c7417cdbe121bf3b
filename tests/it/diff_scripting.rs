//! Lua scripting against a real redis-server: the corpus `tests/scripts/corpus.txt` (conversions
//! both ways, the sandbox, error texts, the libraries, and the scripts client libraries ship: a
//! lock acquire/extend/release, rate limiters, a reliable queue, a stampede guard) run with EVAL
//! and then EVALSHA on both, every reply compared exactly; then function libraries (FUNCTION
//! LOAD errors, FCALL/FCALL_RO, FUNCTION LIST/STATS/DELETE/RESTORE) compared the same way.

use crate::harness::{
    cmd, escape_cmd, notice, raw, redis_server_available, RedisServer, Reply, Server,
};

/// One case of the corpus.
struct Case {
    title: String,
    keys: Vec<String>,
    args: Vec<String>,
    setup: Vec<Vec<String>>,
    resp3: bool,
    ro: bool,
    body: String,
}

fn corpus() -> Vec<Case> {
    let text = include_str!("../scripts/corpus.txt");
    let mut cases: Vec<Case> = Vec::new();
    for line in text.lines() {
        if let Some(title) = line.strip_prefix("=== ") {
            cases.push(Case {
                title: title.to_string(),
                keys: Vec::new(),
                args: Vec::new(),
                setup: Vec::new(),
                resp3: false,
                ro: false,
                body: String::new(),
            });
            continue;
        }
        let Some(case) = cases.last_mut() else {
            continue; // header comments
        };
        let words = |s: &str| s.split_whitespace().map(str::to_string).collect::<Vec<_>>();
        if case.body.is_empty() {
            if let Some(v) = line.strip_prefix("keys: ") {
                case.keys = words(v);
                continue;
            }
            if let Some(v) = line.strip_prefix("args: ") {
                case.args = words(v);
                continue;
            }
            if let Some(v) = line.strip_prefix("setup: ") {
                case.setup.push(words(v));
                continue;
            }
            if line == "resp: 3" {
                case.resp3 = true;
                continue;
            }
            if line == "ro: yes" {
                case.ro = true;
                continue;
            }
        }
        if !case.body.is_empty() {
            case.body.push('\n');
        }
        case.body.push_str(line);
    }
    cases
}

fn sha1_of(conn: &mut redis::Connection, body: &str) -> String {
    match cmd(conn, &["SCRIPT", "LOAD", body]) {
        Reply::Bulk(b) => String::from_utf8(b).unwrap(),
        // A script that does not compile: any 40 hex digits give NOSCRIPT on both.
        _ => "0".repeat(40),
    }
}

#[test]
fn differential_script_corpus() {
    if !redis_server_available() {
        notice("SKIPPED: redis-server not installed (differential_script_corpus)");
        return;
    }
    let cases = corpus();
    assert!(cases.len() >= 200, "the corpus has {} scripts", cases.len());
    let redis = RedisServer::start().expect("redis-server is available");
    let server = Server::start();
    let (mut r, mut b) = (redis.client(), server.client());
    let (mut r3, mut b3) = (redis.client(), server.client());
    for c in [&mut r3, &mut b3] {
        assert!(!cmd(c, &["HELLO", "3"]).is_error());
    }
    let mut compared = 0;
    for case in &cases {
        for setup in &case.setup {
            let (want, got) = (raw(&mut r, setup), raw(&mut b, setup));
            assert_eq!(got, want, "{}: setup {}", case.title, escape_cmd(setup));
        }
        for by_sha in [false, true] {
            let name = match (by_sha, case.ro) {
                (false, false) => "EVAL",
                (false, true) => "EVAL_RO",
                (true, false) => "EVALSHA",
                (true, true) => "EVALSHA_RO",
            };
            let script = if by_sha {
                sha1_of(&mut r, &case.body)
            } else {
                case.body.clone()
            };
            let mut c = vec![name.to_string(), script, case.keys.len().to_string()];
            c.extend(case.keys.iter().cloned());
            c.extend(case.args.iter().cloned());
            let (want, got) = if case.resp3 {
                (raw(&mut r3, &c), raw(&mut b3, &c))
            } else {
                (raw(&mut r, &c), raw(&mut b, &c))
            };
            assert_eq!(got, want, "case {:?} ({name})\n{}", case.title, case.body);
            compared += 1;
        }
    }
    // Every key the corpus left behind is the same on both.
    let mut keys = match cmd(&mut r, &["KEYS", "*"]) {
        Reply::Array(v) => v,
        other => panic!("KEYS: {other:?}"),
    };
    keys.sort_by(|a, c| format!("{a:?}").cmp(&format!("{c:?}")));
    for k in keys {
        let k = k.as_bytes().unwrap().to_vec();
        for c in [&[&b"TYPE"[..], &k][..], &[b"DUMP", &k]] {
            let (want, got) = (raw(&mut r, c), raw(&mut b, c));
            if c[0] == b"DUMP" {
                // Payload encodings may differ; restoring them must give the same value.
                assert_eq!(got.is_error(), want.is_error());
            } else {
                assert_eq!(got, want, "{}", escape_cmd(c));
            }
        }
    }
    notice(&format!(
        "differential scripting: {} scripts, {compared} EVAL/EVALSHA replies compared, 0 mismatches",
        cases.len()
    ));
}

/// Function libraries: loading (and its errors), calling, listing, deleting, dumping.
const LIBRARIES: &[&str] = &[
    "return 1",
    "#!lua\nreturn 1",
    "#!lua name=a-b\nreturn 1",
    "#!lua name=lib1\nreturn 1",
    "#!lua name=lib1 foo=bar\nreturn 1",
    "#!nolua name=lib1\nreturn 1",
    "#!lua name=lib1\nerror('boom')",
    "#!lua name=lib1\nredis.call('set','x','y')",
    "#!lua name=lib1\nlocal x = y",
    "#!lua name=lib1\nx = 1",
    "#!lua name=lib1\nlocal _ = string",
    "#!lua name=lib1\nredis.register_function('f-x', function() return 1 end)",
    "#!lua name=lib1\nredis.register_function('f', 1)",
    "#!lua name=lib1\nredis.register_function('f')",
    "#!lua name=lib1\nredis.register_function{function_name='f', callback=function() return 1 end, flags={'bad'}}",
    "#!lua name=lib1\nredis.register_function{function_name='f', callback=function() return 1 end, foo=1}",
    "#!lua name=lib1\nredis.register_function{function_name='f'}",
    "#!lua name=lib1\nredis.register_function{callback=function() end}",
    "#!lua name=lib1\nredis.register_function('f', function() return 1 end)\nredis.register_function('f', function() return 1 end)",
    "#!lua name=lib1\n return 1 +",
    "#!lua name=lib1\nlocal function helper(k) return 'h:' .. k end\nredis.register_function('f', function(keys, args) return {keys[1], args[1], redis.call('set', helper(keys[1]), args[1])} end)\nredis.register_function{function_name='g', callback=function(keys) return redis.call('get', keys[1]) end, flags={'no-writes'}, description='reads'}",
    "#!lua name=lib1\nreturn 1",
    "#!lua name=lib2\nredis.register_function('f', function() return 1 end)",
    "#!lua name=lib3\nredis.register_function('h', function() error('inner') end)\nredis.register_function('h2', function() return redis.call('nosuch') end)\nredis.register_function('h3', function() return {KEYS} end)\nredis.register_function('h4', function() x = 1 end)\nredis.register_function{function_name='h5', callback=function(k) return redis.call('set', k[1], 'v') end, flags={'no-writes'}}\nredis.register_function('h6', function(k, a) return cjson.encode({k, a}) end)",
];

const CALLS: &[&[&str]] = &[
    &["FCALL", "f", "1", "kk", "vv"],
    &["FCALL", "g", "1", "h:kk"],
    &["FCALL_RO", "f", "1", "kk", "vv"],
    &["FCALL_RO", "g", "1", "h:kk"],
    &["FCALL", "nosuch", "0"],
    &["FCALL", "f", "x"],
    &["FCALL", "f", "5"],
    &["FCALL", "f", "-1"],
    &["FCALL", "h", "0"],
    &["FCALL", "h2", "0"],
    &["FCALL", "h3", "0"],
    &["FCALL", "h4", "0"],
    &["FCALL", "h5", "1", "k5"],
    &["FCALL_RO", "h5", "1", "k5"],
    &["FCALL", "h6", "2", "a", "b", "c"],
    &["FUNCTION", "LIST", "LIBRARYNAME", "lib1"],
    &["FUNCTION", "LIST", "LIBRARYNAME", "lib1", "WITHCODE"],
    &["FUNCTION", "LIST", "LIBRARYNAME", "nomatch"],
    &["FUNCTION", "LIST", "LIBRARYNAME"],
    &["FUNCTION", "LIST", "foo"],
    &["FUNCTION", "STATS"],
    &["FUNCTION", "DELETE", "nosuch"],
    &["FUNCTION", "KILL"],
    &["SCRIPT", "KILL"],
    &["FUNCTION", "RESTORE", "garbage"],
    &["FUNCTION", "RESTORE", "x", "bad"],
    &["FUNCTION", "FLUSH", "bad"],
    &["FUNCTION", "NOPE"],
    &["FUNCTION", "HELP"],
    &["SCRIPT", "HELP"],
    &["SCRIPT", "FLUSH", "bad"],
    &[
        "SCRIPT",
        "EXISTS",
        "e0e1f9fabfc9d4800c877a703b823ac0578ff8db",
        "x",
    ],
    &["SCRIPT", "LOAD", "return 1"],
    &[
        "SCRIPT",
        "EXISTS",
        "E0E1F9FABFC9D4800C877A703B823AC0578FF8DB",
    ],
    &["EVALSHA", "E0E1F9FABFC9D4800C877A703B823AC0578FF8DB", "0"],
    &["EVALSHA", "ffffffffffffffffffffffffffffffffffffffff", "0"],
    &["EVALSHA", "short", "0"],
    &["EVAL", "return 1", "x"],
    &["EVAL", "return 1", "-1"],
    &["EVAL", "return 1", "1"],
    &["FUNCTION", "DELETE", "lib3"],
    &["FCALL", "h", "0"],
    &["FUNCTION", "STATS"],
];

/// FUNCTION LIST with each library's functions sorted: Redis keeps them in a hash table, so
/// its order changes from one process to the next.
fn normalized(c: &[&str], reply: Reply) -> Reply {
    if !(c.len() >= 2 && c[0] == "FUNCTION" && c[1] == "LIST") {
        return reply;
    }
    let Reply::Array(libs) = reply else {
        return reply;
    };
    Reply::Array(
        libs.into_iter()
            .map(|lib| match lib {
                Reply::Array(mut fields) => {
                    if let Some(Reply::Array(fns)) = fields.get_mut(5) {
                        fns.sort_by_key(|f| format!("{f:?}"));
                    }
                    Reply::Array(fields)
                }
                other => other,
            })
            .collect(),
    )
}

#[test]
fn differential_functions() {
    if !redis_server_available() {
        notice("SKIPPED: redis-server not installed (differential_functions)");
        return;
    }
    let redis = RedisServer::start().expect("redis-server is available");
    let server = Server::start();
    let (mut r, mut b) = (redis.client(), server.client());
    let mut compared = 0;
    for code in LIBRARIES {
        for c in [
            &["FUNCTION", "LOAD", code][..],
            &["FUNCTION", "LOAD", "REPLACE", code],
        ] {
            let (want, got) = (cmd(&mut r, c), cmd(&mut b, c));
            assert_eq!(got, want, "{}", escape_cmd(c));
            compared += 1;
        }
    }
    for c in CALLS {
        let (want, got) = (normalized(c, cmd(&mut r, c)), normalized(c, cmd(&mut b, c)));
        assert_eq!(got, want, "{}", escape_cmd(c));
        compared += 1;
    }
    // A dump from Redis restores here with every policy, and the other way round.
    let dump = raw(&mut r, &["FUNCTION", "DUMP"]);
    let Reply::Bulk(payload) = dump else {
        panic!("FUNCTION DUMP: {dump:?}")
    };
    for policy in ["APPEND", "REPLACE", "FLUSH"] {
        let c: Vec<&[u8]> = vec![b"FUNCTION", b"RESTORE", &payload, policy.as_bytes()];
        let (want, got) = (raw(&mut r, &c), raw(&mut b, &c));
        assert_eq!(got, want, "RESTORE {policy}");
        compared += 1;
    }
    let Reply::Bulk(ours) = raw(&mut b, &["FUNCTION", "DUMP"]) else {
        panic!("our FUNCTION DUMP")
    };
    let c: Vec<&[u8]> = vec![b"FUNCTION", b"RESTORE", &ours, b"FLUSH"];
    assert_eq!(raw(&mut r, &c), Reply::ok(), "Redis restores our dump");
    for c in [
        &["FCALL", "f", "1", "k2", "v2"][..],
        &["FUNCTION", "LIST", "LIBRARYNAME", "lib1", "WITHCODE"],
        &["FUNCTION", "STATS"],
    ] {
        let (want, got) = (normalized(c, cmd(&mut r, c)), normalized(c, cmd(&mut b, c)));
        assert_eq!(got, want, "{}", escape_cmd(c));
        compared += 1;
    }
    notice(&format!(
        "differential functions: {compared} replies compared, 0 mismatches"
    ));
}
