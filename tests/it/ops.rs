//! Operator commands through the real `basalt` binary: SLOWLOG, LATENCY, MONITOR, CLIENT
//! PAUSE/UNPAUSE, DEBUG and MEMORY.
//!
//! Where a reply is deterministic it is written out literally and, when `redis-server` is
//! installed, checked on a reference redis-server too, so the expectations are Redis's. Nothing
//! here asserts timing: waits are liveness bounds far above the expected delays, and "slow"
//! commands are made slow on purpose (DEBUG SLEEP) with generous margins.

use std::io::Write;
use std::net::TcpStream;
use std::time::Duration;

use crate::harness::{
    check_steps, cmd, eventually, raw, raw_tcp, read_line, RedisServer, Reply, Server,
};

fn ok() -> Reply {
    Reply::ok()
}

fn err(s: &str) -> Reply {
    Reply::Error(s.into())
}

fn b(s: impl AsRef<[u8]>) -> Reply {
    Reply::bulk(s)
}

/// The entries of a SLOWLOG GET reply as (argv, client name).
fn slow_entries(r: &Reply) -> Vec<(Vec<Vec<u8>>, Vec<u8>)> {
    let Reply::Array(entries) = r else {
        panic!("SLOWLOG GET gave {r}");
    };
    entries
        .iter()
        .map(|e| {
            let Reply::Array(f) = e else {
                panic!("entry {e}")
            };
            assert_eq!(f.len(), 6, "an entry has 6 fields: {e}");
            assert!(f[0].as_int().is_some() && f[1].as_int().is_some() && f[2].as_int().is_some());
            let Reply::Array(argv) = &f[3] else {
                panic!("argv {e}")
            };
            let argv = argv
                .iter()
                .map(|a| a.as_bytes().expect("bulk arg").to_vec())
                .collect();
            (argv, f[5].as_bytes().expect("name").to_vec())
        })
        .collect()
}

fn argv(items: &[&str]) -> Vec<Vec<u8>> {
    items.iter().map(|s| s.as_bytes().to_vec()).collect()
}

// ---------------------------------------------------------------------------------------------
// SLOWLOG
// ---------------------------------------------------------------------------------------------

/// With a threshold of 0 every command is logged, newest first; EXEC is not logged but the
/// commands it ran are, one by one; RESET empties the log (and is itself the next entry).
fn slowlog_logs_everything_at_zero(conn: &mut redis::Connection, who: &str) {
    assert_eq!(
        cmd(conn, &["CONFIG", "SET", "slowlog-log-slower-than", "0"]),
        ok()
    );
    assert_eq!(cmd(conn, &["SLOWLOG", "RESET"]), ok());
    assert_eq!(cmd(conn, &["CLIENT", "SETNAME", "slowpoke"]), ok());
    assert_eq!(cmd(conn, &["SET", "k", "v"]), ok());
    assert_eq!(cmd(conn, &["MULTI"]), ok());
    assert_eq!(cmd(conn, &["INCR", "n"]), Reply::Simple("QUEUED".into()));
    assert_eq!(cmd(conn, &["EXEC"]), Reply::Array(vec![Reply::Int(1)]));
    let got = slow_entries(&cmd(conn, &["SLOWLOG", "GET", "-1"]));
    let name = b"slowpoke".to_vec();
    assert_eq!(
        got,
        vec![
            (argv(&["INCR", "n"]), name.clone()),
            (argv(&["MULTI"]), name.clone()),
            (argv(&["SET", "k", "v"]), name.clone()),
            // The name is read after the command ran, so SETNAME's entry has it.
            (argv(&["CLIENT", "SETNAME", "slowpoke"]), name.clone()),
            (argv(&["SLOWLOG", "RESET"]), Vec::new()),
        ],
        "{who}"
    );
    // The default count is 10; LEN counts the GETs logged meanwhile.
    assert_eq!(cmd(conn, &["SLOWLOG", "LEN"]), Reply::Int(6), "{who}");
    assert_eq!(
        slow_entries(&cmd(conn, &["SLOWLOG", "GET", "1"])),
        vec![(argv(&["SLOWLOG", "LEN"]), name.clone())],
        "{who}"
    );
    assert_eq!(cmd(conn, &["SLOWLOG", "RESET"]), ok());
    assert_eq!(cmd(conn, &["SLOWLOG", "LEN"]), Reply::Int(1), "{who}");
    assert_eq!(
        cmd(conn, &["CONFIG", "SET", "slowlog-log-slower-than", "-1"]),
        ok()
    );
    assert_eq!(cmd(conn, &["SLOWLOG", "RESET"]), ok());
    cmd(conn, &["SET", "k", "v"]);
    assert_eq!(
        cmd(conn, &["SLOWLOG", "LEN"]),
        Reply::Int(0),
        "{who}: -1 disables"
    );
}

#[test]
fn slowlog_with_threshold_zero_logs_every_command() {
    let srv = Server::start();
    slowlog_logs_everything_at_zero(&mut srv.client(), "basalt");
    if let Some(r) = RedisServer::start() {
        slowlog_logs_everything_at_zero(&mut r.client(), "redis");
    }
}

fn slowlog_truncation_and_max_len(conn: &mut redis::Connection, who: &str) {
    cmd(conn, &["CONFIG", "SET", "slowlog-log-slower-than", "0"]);
    cmd(conn, &["SLOWLOG", "RESET"]);
    let long = "x".repeat(200);
    let mut many: Vec<String> = vec!["DEL".into()];
    many.extend((0..39).map(|i| format!("k{i}")));
    assert_eq!(raw(conn, &many), Reply::Int(0));
    assert_eq!(cmd(conn, &["SET", "big", &long]), ok());
    let got = slow_entries(&cmd(conn, &["SLOWLOG", "GET", "2"]));
    let mut cut = "x".repeat(128).into_bytes();
    cut.extend_from_slice(b"... (72 more bytes)");
    assert_eq!(
        got[0].0,
        vec![b"SET".to_vec(), b"big".to_vec(), cut],
        "{who}"
    );
    let mut want: Vec<Vec<u8>> = many[..31].iter().map(|s| s.as_bytes().to_vec()).collect();
    want.push(b"... (9 more arguments)".to_vec());
    assert_eq!(got[1].0, want, "{who}");
    // Shrinking the log keeps the newest entries.
    assert_eq!(cmd(conn, &["CONFIG", "SET", "slowlog-max-len", "3"]), ok());
    for i in 0..5 {
        cmd(conn, &["SET", "m", &i.to_string()]);
    }
    assert_eq!(cmd(conn, &["SLOWLOG", "LEN"]), Reply::Int(3), "{who}");
    let got = slow_entries(&cmd(conn, &["SLOWLOG", "GET"]));
    assert_eq!(got.len(), 3, "{who}");
    assert_eq!(got[0].0, argv(&["SLOWLOG", "LEN"]), "{who}");
    assert_eq!(got[1].0, argv(&["SET", "m", "4"]), "{who}");
    assert_eq!(
        cmd(conn, &["CONFIG", "GET", "slowlog-max-len"]),
        Reply::Array(vec![b("slowlog-max-len"), b("3")])
    );
}

#[test]
fn slowlog_truncates_arguments_and_trims_to_max_len() {
    let srv = Server::start();
    slowlog_truncation_and_max_len(&mut srv.client(), "basalt");
    if let Some(r) = RedisServer::start() {
        slowlog_truncation_and_max_len(&mut r.client(), "redis");
    }
}

#[test]
fn slowlog_errors_help_and_config_match_redis() {
    let srv = Server::start();
    let redis = RedisServer::start();
    let mut rc = redis.as_ref().map(|r| r.client());
    let count_err = err("ERR count should be greater than or equal to -1");
    check_steps(
        &mut srv.client(),
        rc.as_mut(),
        &[
            (&["SLOWLOG", "GET", "-2"], count_err.clone()),
            (&["SLOWLOG", "GET", "x"], count_err),
            (
                &["SLOWLOG", "foo"],
                err("ERR unknown subcommand 'foo'. Try SLOWLOG HELP."),
            ),
            (
                &["SLOWLOG", "LEN", "x"],
                err("ERR wrong number of arguments for 'slowlog|len' command"),
            ),
            (
                &["SLOWLOG"],
                err("ERR wrong number of arguments for 'slowlog' command"),
            ),
            (
                &["CONFIG", "GET", "slowlog-log-slower-than"],
                Reply::Array(vec![b("slowlog-log-slower-than"), b("10000")]),
            ),
            (
                &["CONFIG", "GET", "slowlog-max-len"],
                Reply::Array(vec![b("slowlog-max-len"), b("128")]),
            ),
            (
                &["CONFIG", "GET", "latency-monitor-threshold"],
                Reply::Array(vec![b("latency-monitor-threshold"), b("0")]),
            ),
            (
                &["CONFIG", "SET", "slowlog-log-slower-than", "-2"],
                err("ERR CONFIG SET failed (possibly related to argument 'slowlog-log-slower-than') - argument must be between -1 and 9223372036854775807 inclusive"),
            ),
            (&["SLOWLOG", "GET", "0"], Reply::Array(vec![])),
        ],
    );
    if let Some(rc) = rc.as_mut() {
        assert_eq!(
            cmd(&mut srv.client(), &["SLOWLOG", "HELP"]),
            cmd(rc, &["SLOWLOG", "HELP"])
        );
    }
}

// ---------------------------------------------------------------------------------------------
// MONITOR
// ---------------------------------------------------------------------------------------------

/// Starts a MONITOR on a raw socket and waits for its +OK.
fn start_monitor(port: u16) -> TcpStream {
    let mut m = raw_tcp(port);
    m.write_all(b"MONITOR\r\n").unwrap();
    assert_eq!(read_line(&mut m), b"+OK\r\n");
    m
}

/// Reads one MONITOR line and returns what follows the client address, after checking the
/// `+<secs>.<6 digits> [<db> <addr>] ` prefix.
fn monitor_line(m: &mut TcpStream, addr: &str) -> String {
    let line = String::from_utf8(read_line(m)).expect("utf-8 line");
    let rest = line.strip_prefix('+').unwrap_or_else(|| panic!("{line:?}"));
    let (stamp, rest) = rest.split_once(' ').unwrap_or_else(|| panic!("{line:?}"));
    let (secs, micros) = stamp.split_once('.').unwrap_or_else(|| panic!("{line:?}"));
    assert!(secs.parse::<u64>().is_ok() && micros.len() == 6, "{line:?}");
    let (db, rest) = rest
        .strip_prefix('[')
        .and_then(|r| r.split_once(' '))
        .unwrap_or_else(|| panic!("{line:?}"));
    let rest = rest
        .strip_prefix(addr)
        .and_then(|r| r.strip_prefix("] "))
        .unwrap_or_else(|| panic!("{line:?} lacks {addr}"));
    format!("{db} {}", rest.trim_end_matches("\r\n"))
}

fn monitor_transcript(port: u16) -> Vec<String> {
    let mut m = start_monitor(port);
    let mut c = raw_tcp(port);
    let addr = c.local_addr().unwrap().to_string();
    // Admin commands (CONFIG GET, SLOWLOG, CLIENT LIST), unknown commands and arity errors are
    // never shown; a transaction shows MULTI, each command as it runs, then EXEC.
    let input: &[u8] = b"SET a \"x y\"\r\n\
        *3\r\n$3\r\nSET\r\n$1\r\nb\r\n$6\r\n\x00\n\"q\\\xff\r\n\
        CONFIG GET port\r\nSLOWLOG LEN\r\nCLIENT LIST\r\nFOO\r\nGET\r\n\
        MULTI\r\nINCR n\r\nEXEC\r\nSELECT 2\r\nPING\r\nPUBLISH ch msg\r\nCLIENT ID\r\n";
    c.write_all(input).unwrap();
    c.write_all(b"ECHO done\r\n").unwrap();
    let mut lines = Vec::new();
    loop {
        let l = monitor_line(&mut m, &addr);
        let done = l.ends_with("\"ECHO\" \"done\"");
        lines.push(l);
        if done {
            return lines;
        }
    }
}

#[test]
fn monitor_shows_other_clients_commands_as_redis_does() {
    let srv = Server::start();
    let want: Vec<String> = [
        r#"0 "SET" "a" "x y""#,
        r#"0 "SET" "b" "\x00\n\"q\\\xff""#,
        r#"0 "MULTI""#,
        r#"0 "INCR" "n""#,
        r#"0 "EXEC""#,
        r#"2 "SELECT" "2""#,
        r#"2 "PING""#,
        r#"2 "PUBLISH" "ch" "msg""#,
        r#"2 "CLIENT" "ID""#,
        r#"2 "ECHO" "done""#,
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    assert_eq!(monitor_transcript(srv.port()), want);
    if let Some(r) = RedisServer::start() {
        assert_eq!(monitor_transcript(r.port()), want, "redis");
    }
}

/// Passwords never reach MONITOR or the slow log: Redis 7.0 shows `(redacted)` instead.
fn redaction_transcript(port: u16) -> (Vec<String>, Vec<Vec<Vec<u8>>>) {
    let mut m = start_monitor(port);
    let mut c = crate::harness::connect(port);
    cmd(&mut c, &["CONFIG", "SET", "slowlog-log-slower-than", "0"]);
    cmd(&mut c, &["SLOWLOG", "RESET"]);
    let Reply::Int(id) = cmd(&mut c, &["CLIENT", "ID"]) else {
        panic!("CLIENT ID")
    };
    let addr = match cmd(&mut c, &["CLIENT", "INFO"]) {
        Reply::Bulk(i) => String::from_utf8_lossy(&i)
            .split(' ')
            .find_map(|f| f.strip_prefix("addr=").map(str::to_string))
            .expect("addr"),
        other => panic!("CLIENT INFO gave {other} for {id}"),
    };
    cmd(&mut c, &["AUTH", "secret"]);
    cmd(&mut c, &["AUTH", "user", "secret"]);
    cmd(
        &mut c,
        &["HELLO", "2", "AUTH", "default", "secret", "SETNAME", "n"],
    );
    cmd(&mut c, &["ECHO", "done"]);
    let mut lines = Vec::new();
    loop {
        let l = monitor_line(&mut m, &addr);
        let done = l.ends_with("\"ECHO\" \"done\"");
        lines.push(l);
        if done {
            break;
        }
    }
    let slow = slow_entries(&cmd(&mut c, &["SLOWLOG", "GET", "4"]))
        .into_iter()
        .map(|e| e.0)
        .collect();
    (lines, slow)
}

#[test]
fn monitor_and_slowlog_redact_passwords() {
    let srv = Server::start();
    let got = redaction_transcript(srv.port());
    assert_eq!(
        got.0,
        vec![
            r#"0 "CLIENT" "ID""#.to_string(),
            r#"0 "CLIENT" "INFO""#.to_string(),
            r#"0 "AUTH" "(redacted)""#.to_string(),
            r#"0 "AUTH" "(redacted)" "(redacted)""#.to_string(),
            r#"0 "HELLO" "2" "AUTH" "(redacted)" "(redacted)" "SETNAME" "n""#.to_string(),
            r#"0 "ECHO" "done""#.to_string(),
        ]
    );
    assert_eq!(
        got.1,
        vec![
            argv(&["ECHO", "done"]),
            argv(&[
                "HELLO",
                "2",
                "AUTH",
                "(redacted)",
                "(redacted)",
                "SETNAME",
                "n"
            ]),
            argv(&["AUTH", "(redacted)", "(redacted)"]),
            argv(&["AUTH", "(redacted)"]),
        ]
    );
    if let Some(r) = RedisServer::start() {
        assert_eq!(redaction_transcript(r.port()), got, "redis");
    }
}

#[test]
fn monitor_errors_and_disconnect_cleanup() {
    let srv = Server::start();
    let mut c = srv.client();
    assert_eq!(cmd(&mut c, &["MULTI"]), ok());
    assert_eq!(cmd(&mut c, &["MONITOR"]), Reply::Simple("QUEUED".into()));
    assert_eq!(
        cmd(&mut c, &["EXEC"]),
        Reply::Array(vec![err(
            "ERR MONITOR isn't allowed for DENY BLOCKING client"
        )])
    );
    assert_eq!(
        cmd(&mut c, &["MONITOR", "x"]),
        err("ERR wrong number of arguments for 'monitor' command")
    );
    // A monitor that goes away stops being fed (and nothing breaks).
    drop(start_monitor(srv.port()));
    assert!(eventually(10, || {
        matches!(cmd(&mut c, &["CLIENT", "LIST"]), Reply::Bulk(l) if l.split(|&x| x == b'\n').filter(|l| !l.is_empty()).count() == 1)
    }));
    assert_eq!(cmd(&mut c, &["SET", "a", "1"]), ok());
}

#[test]
fn reset_ends_monitor_mode() {
    let srv = Server::start();
    let mut m = start_monitor(srv.port());
    let mut c = srv.client();
    let Reply::Bulk(list) = cmd(&mut c, &["CLIENT", "LIST"]) else {
        panic!("CLIENT LIST is a bulk string")
    };
    let list = String::from_utf8(list).unwrap();
    assert!(
        list.lines()
            .any(|l| l.contains(" flags=O ") && l.contains(" cmd=monitor ")),
        "{list}"
    );
    m.write_all(b"RESET\r\n").unwrap();
    // The CLIENT LIST above was fed to nobody (admin); RESET is answered directly.
    assert_eq!(read_line(&mut m), b"+RESET\r\n");
    assert_eq!(cmd(&mut c, &["SET", "k", "v"]), ok());
    // The former monitor gets nothing more but still answers its own commands.
    m.write_all(b"PING\r\n").unwrap();
    assert_eq!(read_line(&mut m), b"+PONG\r\n");
}

#[test]
fn monitor_that_does_not_read_is_disconnected_at_its_limit() {
    let srv = Server::start();
    let mut c = srv.client();
    assert_eq!(
        cmd(
            &mut c,
            &[
                "CONFIG",
                "SET",
                "client-output-buffer-limit",
                "normal 262144 0 0"
            ]
        ),
        ok()
    );
    let m = start_monitor(srv.port());
    let value = "v".repeat(64 * 1024);
    // Far more than the kernel's socket buffers and the limit together.
    let mut closed = false;
    for _ in 0..2000 {
        assert_eq!(cmd(&mut c, &["SET", "k", &value]), ok());
        if let Reply::Bulk(list) = cmd(&mut c, &["CLIENT", "LIST"]) {
            if String::from_utf8_lossy(&list).lines().count() == 1 {
                closed = true;
                break;
            }
        }
    }
    assert!(closed, "the monitor was never disconnected");
    drop(m);
    assert_eq!(cmd(&mut c, &["PING"]), Reply::Simple("PONG".into()));
}

// ---------------------------------------------------------------------------------------------
// CLIENT PAUSE
// ---------------------------------------------------------------------------------------------

/// Sends a command on a raw socket without waiting for the reply.
fn send(s: &mut TcpStream, line: &str) {
    s.write_all(format!("{line}\r\n").as_bytes()).unwrap();
}

/// Whether a reply line arrives within `ms` milliseconds.
fn line_within(s: &mut TcpStream, ms: u64) -> Option<Vec<u8>> {
    s.set_read_timeout(Some(Duration::from_millis(ms))).unwrap();
    let mut byte = [0u8; 1];
    let got = match std::io::Read::read(s, &mut byte) {
        Ok(1) => {
            s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
            let mut l = vec![byte[0]];
            l.extend(read_line(s));
            Some(l)
        }
        _ => None,
    };
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    got
}

#[test]
fn client_pause_write_holds_writes_until_unpause_or_timeout() {
    let srv = Server::start();
    let mut admin = srv.client();
    let mut w = raw_tcp(srv.port());
    // Reads go on during a WRITE pause; writes, PUBLISH and an EXEC with a write wait.
    assert_eq!(cmd(&mut admin, &["SET", "k", "before"]), ok());
    assert_eq!(
        cmd(&mut admin, &["CLIENT", "PAUSE", "100000", "WRITE"]),
        ok()
    );
    send(&mut w, "SET k during");
    let mut r = srv.client();
    assert_eq!(cmd(&mut r, &["GET", "k"]), b("before"));
    assert_eq!(cmd(&mut r, &["MULTI"]), ok());
    assert_eq!(cmd(&mut r, &["GET", "k"]), Reply::Simple("QUEUED".into()));
    assert_eq!(cmd(&mut r, &["EXEC"]), Reply::Array(vec![b("before")]));
    // The held SET shows as blocked, as Redis shows a postponed client, and has not answered.
    assert!(eventually(10, || {
        matches!(cmd(&mut r, &["INFO", "clients"]), Reply::Bulk(i) if String::from_utf8_lossy(&i).contains("blocked_clients:1\r\n"))
    }));
    let Reply::Bulk(list) = cmd(&mut r, &["CLIENT", "LIST"]) else {
        panic!("CLIENT LIST is a bulk string")
    };
    assert!(
        String::from_utf8_lossy(&list)
            .lines()
            .any(|l| l.contains(" flags=b ") && l.contains(" cmd=set ")),
        "{}",
        String::from_utf8_lossy(&list)
    );
    assert_eq!(line_within(&mut w, 300), None);
    let mut p = raw_tcp(srv.port());
    send(&mut p, "PUBLISH ch m");
    assert_eq!(line_within(&mut p, 100), None);
    assert_eq!(cmd(&mut admin, &["CLIENT", "UNPAUSE"]), ok());
    assert_eq!(read_line(&mut w), b"+OK\r\n");
    assert_eq!(read_line(&mut p), b":0\r\n");
    assert_eq!(cmd(&mut r, &["GET", "k"]), b("during"));
    assert!(eventually(10, || {
        matches!(cmd(&mut r, &["INFO", "clients"]), Reply::Bulk(i) if String::from_utf8_lossy(&i).contains("blocked_clients:0\r\n"))
    }));

    // A short pause ends by itself.
    assert_eq!(cmd(&mut admin, &["CLIENT", "PAUSE", "300", "WRITE"]), ok());
    send(&mut w, "SET k after");
    w.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    assert_eq!(read_line(&mut w), b"+OK\r\n");
    assert_eq!(cmd(&mut r, &["GET", "k"]), b("after"));

    // ALL holds reads too (and every other command, the pausing client's included, so the
    // pause ends by its timeout: long enough that a slow test thread still sees it in force).
    assert_eq!(cmd(&mut admin, &["CLIENT", "PAUSE", "3000", "ALL"]), ok());
    send(&mut w, "GET k");
    assert_eq!(line_within(&mut w, 200), None);
    assert_eq!(read_line(&mut w), b"$5\r\n");
    assert_eq!(read_line(&mut w), b"after\r\n");
}

#[test]
fn client_pause_errors_match_redis() {
    let srv = Server::start();
    let redis = RedisServer::start();
    let mut rc = redis.as_ref().map(|r| r.client());
    check_steps(
        &mut srv.client(),
        rc.as_mut(),
        &[
            (
                &["CLIENT", "PAUSE", "100", "foo"],
                err("ERR CLIENT PAUSE mode must be WRITE or ALL"),
            ),
            (
                &["CLIENT", "PAUSE", "abc", "foo"],
                err("ERR CLIENT PAUSE mode must be WRITE or ALL"),
            ),
            (&["CLIENT", "PAUSE", "-1"], err("ERR timeout is negative")),
            (
                &["CLIENT", "PAUSE", "abc"],
                err("ERR timeout is not an integer or out of range"),
            ),
            (
                &["CLIENT", "PAUSE"],
                err("ERR wrong number of arguments for 'client|pause' command"),
            ),
            (
                &["CLIENT", "UNPAUSE", "x"],
                err("ERR wrong number of arguments for 'client|unpause' command"),
            ),
            (&["CLIENT", "UNPAUSE"], ok()),
            (&["CLIENT", "PAUSE", "0", "WRITE"], ok()),
            (&["SET", "x", "1"], ok()),
        ],
    );
}

// ---------------------------------------------------------------------------------------------
// LATENCY
// ---------------------------------------------------------------------------------------------

/// The text of a verbatim reply (a bulk string over RESP2).
fn text(r: Reply) -> String {
    match r {
        Reply::Bulk(b) => String::from_utf8(b).expect("utf-8"),
        Reply::Verbatim(s) => s,
        other => panic!("not text: {other}"),
    }
}

/// The events of LATENCY LATEST as (name, latest ms, max ms), checking each row's shape.
fn latest(conn: &mut redis::Connection) -> Vec<(String, i64, i64)> {
    let Reply::Array(rows) = cmd(conn, &["LATENCY", "LATEST"]) else {
        panic!("LATENCY LATEST is an array")
    };
    rows.iter()
        .map(|r| {
            let Reply::Array(f) = r else { panic!("{r}") };
            assert_eq!(f.len(), 4, "{r}");
            let name = String::from_utf8(f[0].as_bytes().expect("name").to_vec()).unwrap();
            assert!(f[1].as_int().is_some_and(|t| t > 1_600_000_000), "{r}");
            (
                name,
                f[2].as_int().expect("ms"),
                f[3].as_int().expect("max"),
            )
        })
        .collect()
}

#[test]
fn latency_records_commands_slower_than_the_threshold() {
    let srv = Server::start();
    let mut c = srv.client();
    // Off by default: nothing is recorded, and DOCTOR says so in Redis's words.
    assert_eq!(cmd(&mut c, &["DEBUG", "SLEEP", "0.05"]), ok());
    assert_eq!(latest(&mut c), vec![]);
    let doctor = text(raw(&mut c, &["LATENCY", "DOCTOR"]));
    assert!(
        doctor.contains("Latency monitoring is disabled"),
        "{doctor}"
    );

    assert_eq!(
        cmd(
            &mut c,
            &["CONFIG", "SET", "latency-monitor-threshold", "20"]
        ),
        ok()
    );
    // A fast command under the threshold is not recorded; DEBUG SLEEP (not fast) over it is,
    // as the `command` event.
    assert_eq!(cmd(&mut c, &["SET", "k", "v"]), ok());
    assert_eq!(cmd(&mut c, &["DEBUG", "SLEEP", "0.1"]), ok());
    let got = latest(&mut c);
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!(got[0].0, "command");
    assert!(got[0].1 >= 100 && got[0].2 >= 100, "{got:?}");
    let Reply::Array(hist) = cmd(&mut c, &["LATENCY", "HISTORY", "command"]) else {
        panic!("HISTORY is an array")
    };
    assert_eq!(hist.len(), 1);
    assert_eq!(
        cmd(&mut c, &["LATENCY", "HISTORY", "nosuchevent"]),
        Reply::Array(vec![])
    );
    let doctor = text(raw(&mut c, &["LATENCY", "DOCTOR"]));
    assert!(doctor.contains("command"), "{doctor}");
    assert_eq!(cmd(&mut c, &["LATENCY", "RESET", "nope"]), Reply::Int(0));
    assert_eq!(cmd(&mut c, &["LATENCY", "RESET", "command"]), Reply::Int(1));
    assert_eq!(latest(&mut c), vec![]);
    assert_eq!(cmd(&mut c, &["DEBUG", "SLEEP", "0.05"]), ok());
    assert_eq!(cmd(&mut c, &["LATENCY", "RESET"]), Reply::Int(1));
}

#[test]
fn latency_errors_and_help_match_redis() {
    let srv = Server::start();
    let redis = RedisServer::start();
    let mut rc = redis.as_ref().map(|r| r.client());
    check_steps(
        &mut srv.client(),
        rc.as_mut(),
        &[
            (
                &["LATENCY", "HISTORY"],
                err("ERR wrong number of arguments for 'latency|history' command"),
            ),
            (
                &["LATENCY", "foo"],
                err("ERR unknown subcommand 'foo'. Try LATENCY HELP."),
            ),
            (&["LATENCY", "LATEST"], Reply::Array(vec![])),
            (&["LATENCY", "RESET"], Reply::Int(0)),
            (&["LATENCY", "HISTORY", "command"], Reply::Array(vec![])),
        ],
    );
    if let Some(rc) = rc.as_mut() {
        assert_eq!(
            cmd(&mut srv.client(), &["LATENCY", "DOCTOR"]),
            cmd(rc, &["LATENCY", "DOCTOR"])
        );
    }
}

// ---------------------------------------------------------------------------------------------
// DEBUG
// ---------------------------------------------------------------------------------------------

/// Redis refuses DEBUG unless `enable-debug-command` is set, which the reference server is not
/// started with; these replies were checked by hand against redis-server 7.0.15 with it set.
#[test]
fn debug_subcommands_and_errors() {
    let srv = Server::start();
    let mut c = srv.client();
    let steps: &[(&[&str], Reply)] = &[
        (
            &["DEBUG", "foo"],
            err("ERR unknown subcommand or wrong number of arguments for 'foo'. Try DEBUG HELP."),
        ),
        (
            &["DEBUG", "SLEEP"],
            err("ERR unknown subcommand or wrong number of arguments for 'SLEEP'. Try DEBUG HELP."),
        ),
        (&["DEBUG", "SLEEP", "abc"], ok()),
        (&["DEBUG", "SLEEP", "0.01"], ok()),
        (&["DEBUG", "CHANGE-REPL-ID"], ok()),
        (&["DEBUG", "OBJECT", "nokey"], err("ERR no such key")),
        (&["DEBUG", "RELOAD"], ok()),
        (
            &["DEBUG", "RELOAD", "foo"],
            err("ERR DEBUG RELOAD only supports the MERGE, NOFLUSH and NOSAVE options."),
        ),
        (
            &["DEBUG"],
            err("ERR wrong number of arguments for 'debug' command"),
        ),
    ];
    check_steps(&mut c, None, steps);
    let Reply::Array(help) = cmd(&mut c, &["DEBUG", "HELP"]) else {
        panic!("help is an array")
    };
    assert!(help.contains(&Reply::Simple("SLEEP <seconds>".into())));

    // DEBUG OBJECT: Redis's fields, with the encoding and the RDB length Redis would report.
    for (args, enc, len) in [
        (&["SET", "s", "hello"][..], "embstr", 6),
        (&["SET", "n", "5"][..], "int", 2),
        (&["SET", "n2", "123456"][..], "int", 5),
    ] {
        cmd(&mut c, args);
        let Reply::Simple(line) = cmd(&mut c, &["DEBUG", "OBJECT", args[1]]) else {
            panic!("DEBUG OBJECT is a status")
        };
        assert!(line.starts_with("Value at:0x"), "{line}");
        let tail = line.splitn(3, ' ').nth(2).unwrap_or_default();
        let refcount = if enc == "int" && len == 2 {
            "2147483647"
        } else {
            "1"
        };
        assert_eq!(
            tail,
            format!(
                "refcount:{refcount} encoding:{enc} serializedlength:{len} lru:0 lru_seconds_idle:0"
            )
        );
    }
    assert_eq!(cmd(&mut c, &["RPUSH", "l", "a", "b", "c"]), Reply::Int(3));
    let Reply::Simple(line) = cmd(&mut c, &["DEBUG", "OBJECT", "l"]) else {
        panic!("status")
    };
    assert!(line.contains(" encoding:quicklist "), "{line}");
    // RELOAD made everything durable: the data is still there.
    assert_eq!(cmd(&mut c, &["DEBUG", "RELOAD"]), ok());
    assert_eq!(cmd(&mut c, &["GET", "s"]), b("hello"));
}

#[test]
fn debug_set_active_expire_keeps_expired_keys_until_re_enabled() {
    let srv = Server::start();
    let mut c = srv.client();
    assert_eq!(cmd(&mut c, &["DEBUG", "SET-ACTIVE-EXPIRE", "0"]), ok());
    assert_eq!(cmd(&mut c, &["SET", "gone", "v", "PX", "1"]), ok());
    assert_eq!(cmd(&mut c, &["SET", "kept", "v"]), ok());
    // Well past the expiry and several active-expiry cycles (100 ms each): still counted.
    std::thread::sleep(Duration::from_millis(600));
    assert_eq!(cmd(&mut c, &["DBSIZE"]), Reply::Int(2));
    assert_eq!(cmd(&mut c, &["DEBUG", "SET-ACTIVE-EXPIRE", "1"]), ok());
    assert!(
        eventually(10, || cmd(&mut c, &["DBSIZE"]) == Reply::Int(1)),
        "the active cycle never removed the expired key"
    );
    assert_eq!(cmd(&mut c, &["GET", "kept"]), b("v"));
}

// ---------------------------------------------------------------------------------------------
// MEMORY
// ---------------------------------------------------------------------------------------------

#[test]
fn memory_usage_grows_with_size_and_errors_match_redis() {
    let srv = Server::start();
    let mut c = srv.client();
    let usage = |c: &mut redis::Connection, k: &str| {
        cmd(c, &["MEMORY", "USAGE", k])
            .as_int()
            .unwrap_or_else(|| panic!("usage of {k}"))
    };
    cmd(&mut c, &["SET", "small", "x"]);
    cmd(&mut c, &["SET", "big", &"x".repeat(10_000)]);
    assert!(usage(&mut c, "big") >= usage(&mut c, "small") + 9_000);
    cmd(&mut c, &["RPUSH", "l", "a"]);
    let one = usage(&mut c, "l");
    let many: Vec<String> = (0..100).map(|i| i.to_string()).collect();
    let mut push = vec!["RPUSH".to_string(), "l".into()];
    push.extend(many);
    raw(&mut c, &push);
    assert!(usage(&mut c, "l") > one);
    for (ty, add) in [
        ("h", &["HSET", "h", "f", "v"][..]),
        ("s", &["SADD", "s", "m"][..]),
        ("z", &["ZADD", "z", "1", "m"][..]),
    ] {
        cmd(&mut c, add);
        assert!(usage(&mut c, ty) > 0);
    }

    let redis = RedisServer::start();
    let mut rc = redis.as_ref().map(|r| r.client());
    if let Some(rc) = rc.as_mut() {
        cmd(rc, &["SET", "small", "x"]);
    }
    check_steps(
        &mut c,
        rc.as_mut(),
        &[
            (&["MEMORY", "USAGE", "nokey"], Reply::Nil),
            (
                &["MEMORY", "USAGE", "small", "SAMPLES"],
                err("ERR syntax error"),
            ),
            (
                &["MEMORY", "USAGE", "small", "SAMPLES", "x"],
                err("ERR value is not an integer or out of range"),
            ),
            (
                &["MEMORY", "USAGE", "small", "SAMPLES", "-1"],
                err("ERR syntax error"),
            ),
            (
                &["MEMORY", "USAGE", "small", "foo"],
                err("ERR syntax error"),
            ),
            (
                &["MEMORY", "USAGE"],
                err("ERR wrong number of arguments for 'memory|usage' command"),
            ),
            (
                &["MEMORY", "foo"],
                err("ERR unknown subcommand 'foo'. Try MEMORY HELP."),
            ),
            (&["MEMORY", "PURGE"], ok()),
        ],
    );
    if let Some(rc) = rc.as_mut() {
        assert_eq!(
            cmd(&mut c, &["MEMORY", "HELP"]),
            cmd(rc, &["MEMORY", "HELP"])
        );
    }
}

#[test]
fn memory_stats_has_redis_field_names_and_doctor_answers() {
    let srv = Server::start();
    let mut c = srv.client();
    cmd(&mut c, &["SET", "a", "1"]);
    let Reply::Array(flat) = cmd(&mut c, &["MEMORY", "STATS"]) else {
        panic!("RESP2 map is a flat array")
    };
    let names: Vec<String> = flat
        .iter()
        .step_by(2)
        .map(|k| String::from_utf8_lossy(k.as_bytes().expect("field name")).into_owned())
        .collect();
    for want in [
        "peak.allocated",
        "total.allocated",
        "startup.allocated",
        "replication.backlog",
        "clients.slaves",
        "clients.normal",
        "aof.buffer",
        "lua.caches",
        "db.0",
        "overhead.total",
        "keys.count",
        "keys.bytes-per-key",
        "dataset.bytes",
        "dataset.percentage",
        "peak.percentage",
        "fragmentation",
        "rocksdb.block-cache.usage",
        "rocksdb.memtables",
    ] {
        assert!(names.iter().any(|n| n == want), "{want} missing: {names:?}");
    }
    let i = names.iter().position(|n| n == "keys.count").unwrap();
    assert_eq!(flat[2 * i + 1], Reply::Int(1));
    assert!(matches!(
        raw(&mut c, &["MEMORY", "DOCTOR"]),
        Reply::Bulk(_) | Reply::Verbatim(_)
    ));
}

/// A command that blocked is logged when it is served, not when it arrives, as Redis does.
#[test]
fn slowlog_logs_a_blocked_command_when_it_is_served() {
    let srv = Server::start();
    let mut c = srv.client();
    assert_eq!(
        cmd(&mut c, &["CONFIG", "SET", "slowlog-log-slower-than", "0"]),
        ok()
    );
    let mut blocked = raw_tcp(srv.port());
    send(&mut blocked, "BLPOP q 0");
    assert!(eventually(
        10,
        || matches!(cmd(&mut c, &["CLIENT", "LIST"]), Reply::Bulk(l) if String::from_utf8_lossy(&l).contains("flags=b "))
    ));
    assert_eq!(cmd(&mut c, &["SLOWLOG", "RESET"]), ok());
    assert_eq!(cmd(&mut c, &["RPUSH", "q", "x"]), Reply::Int(1));
    assert_eq!(read_line(&mut blocked), b"*2\r\n");
    let got: Vec<_> = slow_entries(&cmd(&mut c, &["SLOWLOG", "GET"]))
        .into_iter()
        .map(|e| e.0)
        .collect();
    assert!(got.contains(&argv(&["BLPOP", "q", "0"])), "{got:?}");
    assert!(got.contains(&argv(&["RPUSH", "q", "x"])), "{got:?}");
}
