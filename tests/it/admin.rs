//! Connection, server and administration commands through the real `basalt` binary: PING ECHO
//! QUIT SELECT SWAPDB DBSIZE FLUSHDB FLUSHALL MOVE COPY TIME LASTSAVE SAVE BGSAVE SHUTDOWN HELLO
//! AUTH RESET CLIENT CONFIG COMMAND INFO, the config file and flags, protected mode and the
//! protocol limits.
//!
//! Where a behaviour is deterministic, the expected replies are written out literally and checked
//! on Basalt and, when `redis-server` is installed, on a reference redis-server too (so the
//! expectations are Redis's behaviour, not just Basalt's). Raw-socket tests compare wire bytes.

use std::fs::File;
use std::io::{Read, Write};
use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::harness::{
    check_steps, cmd, connect, escape, eventually, file_text, free_port, notice, raw_tcp,
    read_line, read_until, run_steps, wait_closed, RedisServer, Reply, Server, Step, BASALT_BIN,
};

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

fn ok() -> Reply {
    Reply::ok()
}

fn st(s: &str) -> Reply {
    Reply::Simple(s.into())
}

fn err(s: &str) -> Reply {
    Reply::Error(s.into())
}

fn b(s: impl AsRef<[u8]>) -> Reply {
    Reply::bulk(s)
}

fn bulks(items: &[&str]) -> Reply {
    Reply::Array(items.iter().map(b).collect())
}

fn arity(name: &str) -> Reply {
    Reply::Error(format!(
        "ERR wrong number of arguments for '{name}' command"
    ))
}

fn now_secs() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970")
        .as_secs() as i64
}

/// A text reply (bulk, or verbatim for RESP3) as a string.
fn text(r: &Reply) -> String {
    match r {
        Reply::Bulk(b) => String::from_utf8_lossy(b).into_owned(),
        Reply::Verbatim(s) => s.clone(),
        other => panic!("expected a text reply, got {other}"),
    }
}

fn info(conn: &mut redis::Connection, section: &str) -> String {
    text(&cmd(conn, &["INFO", section]))
}

/// The value of `field:` in INFO text.
fn info_field(info: &str, field: &str) -> Option<String> {
    info.lines().find_map(|l| {
        l.strip_prefix(field)
            .and_then(|r| r.strip_prefix(':'))
            .map(|v| v.trim_end().to_string())
    })
}

fn info_int(conn: &mut redis::Connection, section: &str, field: &str) -> i64 {
    let text = info(conn, section);
    info_field(&text, field)
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("INFO {section} has no integer {field}:\n{text}"))
}

fn client_id(conn: &mut redis::Connection) -> i64 {
    cmd(conn, &["CLIENT", "ID"])
        .as_int()
        .expect("CLIENT ID is an integer")
}

/// Wait until the server counts exactly `n` connected clients (connections closed by the test
/// are unregistered asynchronously).
fn wait_connected_clients(conn: &mut redis::Connection, n: i64) {
    let mut last = 0;
    assert!(
        eventually(20, || {
            last = info_int(conn, "clients", "connected_clients");
            last == n
        }),
        "connected_clients stayed {last}, expected {n}"
    );
}

/// Sentinel appended to pipelines: its reply marks the end of a transcript.
const END: &[u8] = b"ECHO __end__\r\n";
const END_REPLY: &[u8] = b"$7\r\n__end__\r\n";

fn send(s: &mut TcpStream, data: &[u8]) {
    s.write_all(data).expect("writing to the server");
}

/// Send `input` (then the END sentinel) on a fresh raw connection; the transcript up to and
/// including the sentinel's reply (or EOF).
fn transcript(port: u16, input: &[u8]) -> Vec<u8> {
    let mut s = raw_tcp(port);
    let mut all = input.to_vec();
    all.extend_from_slice(END);
    send(&mut s, &all);
    read_until(&mut s, END_REPLY)
}

/// Replace the client id in HELLO replies (`$2\r\nid\r\n:<n>\r\n`) with `:ID`, so transcripts
/// of two servers compare.
fn mask_ids(t: &[u8]) -> Vec<u8> {
    const KEY: &[u8] = b"$2\r\nid\r\n:";
    let mut out = Vec::with_capacity(t.len());
    let mut i = 0;
    while i < t.len() {
        if t[i..].starts_with(KEY) {
            out.extend_from_slice(KEY);
            i += KEY.len();
            while i < t.len() && t[i].is_ascii_digit() {
                i += 1;
            }
            out.extend_from_slice(b"ID");
        } else {
            out.push(t[i]);
            i += 1;
        }
    }
    out
}

/// One command in RESP multibulk form.
fn resp(args: &[&[u8]]) -> Vec<u8> {
    let mut out = format!("*{}\r\n", args.len()).into_bytes();
    for a in args {
        out.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
        out.extend_from_slice(a);
        out.extend_from_slice(b"\r\n");
    }
    out
}

/// The integer of a `:<n>\r\n` line.
fn int_line(line: &[u8]) -> i64 {
    std::str::from_utf8(line)
        .ok()
        .and_then(|l| l.strip_prefix(':'))
        .and_then(|l| l.trim_end().parse().ok())
        .unwrap_or_else(|| panic!("expected an integer reply, got {}", escape(line)))
}

/// Whether process `pid` has exited (a zombie not yet reaped counts as exited). Reads /proc only,
/// so the harness still owns reaping the child.
fn process_exited(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => true,
        Ok(stat) => stat
            .rfind(')')
            .and_then(|i| stat[i + 1..].split_whitespace().next())
            .is_some_and(|state| state == "Z" || state == "X"),
    }
}

/// True if something on 127.0.0.1:`port` answers PING with a complete line.
fn answers_ping(port: u16) -> bool {
    let addr = (Ipv4Addr::LOCALHOST, port).into();
    let Ok(mut s) = TcpStream::connect_timeout(&addr, Duration::from_millis(500)) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
    if s.write_all(b"PING\r\n").is_err() {
        return false;
    }
    let line = read_line(&mut s);
    line.ends_with(b"\r\n") && (line.starts_with(b"+") || line.starts_with(b"-"))
}

/// A `basalt` started by a test with its own arguments (the harness always passes `--port`).
struct Spawned {
    child: Child,
}

impl Spawned {
    fn start(args: &[&str], port: u16, log: &Path) -> Spawned {
        let out = File::create(log).expect("create log");
        let err = out.try_clone().expect("clone log handle");
        let child = Command::new(BASALT_BIN)
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::from(out))
            .stderr(Stdio::from(err))
            .spawn()
            .expect("spawn basalt");
        let mut sp = Spawned { child };
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(Some(status)) = sp.child.try_wait() {
                panic!(
                    "basalt {args:?} exited during startup with {status}:\n{}",
                    file_text(log)
                );
            }
            if answers_ping(port) {
                return sp;
            }
            assert!(
                Instant::now() < deadline,
                "basalt {args:?} did not answer on port {port} within 30 s:\n{}",
                file_text(log)
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Spawned {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

// ---------------------------------------------------------------------------------------------
// PING, ECHO, QUIT
// ---------------------------------------------------------------------------------------------

#[test]
fn ping_echo_and_arity_errors() {
    let srv = Server::start();
    let redis = RedisServer::start();
    let mut rc = redis.as_ref().map(|r| r.client());
    check_steps(
        &mut srv.client(),
        rc.as_mut(),
        &[
            (&["PING"], st("PONG")),
            (&["ping"], st("PONG")),
            (&["PING", "hello world"], b("hello world")),
            (&["PING", ""], b("")),
            (&["PING", "a", "b"], arity("ping")),
            (&["ECHO", "a\0b\r\n"], b("a\0b\r\n")),
            (&["ECHO", ""], b("")),
            (&["ECHO"], arity("echo")),
            (&["ECHO", "a", "b"], arity("echo")),
        ],
    );
}

/// QUIT answers +OK and closes the connection; a command pipelined after it is not run.
#[test]
fn quit_replies_ok_then_closes() {
    let srv = Server::start();
    let redis = RedisServer::start();
    let input = b"PING\r\nQUIT\r\nSET after-quit 1\r\n";
    let t = transcript(srv.port(), input);
    assert_eq!(escape(&t), escape(b"+PONG\r\n+OK\r\n<EOF>"));
    let mut c = srv.client();
    assert_eq!(cmd(&mut c, &["EXISTS", "after-quit"]), Reply::Int(0));
    // QUIT takes (and ignores) arguments, as in Redis 7.0.
    assert_eq!(
        escape(&transcript(srv.port(), b"QUIT x\r\n")),
        escape(b"+OK\r\n<EOF>")
    );
    if let Some(r) = &redis {
        assert_eq!(escape(&transcript(r.port(), input)), escape(&t), "redis");
    }
}

// ---------------------------------------------------------------------------------------------
// SELECT, SWAPDB, DBSIZE, MOVE, COPY, FLUSHDB, FLUSHALL
// ---------------------------------------------------------------------------------------------

#[test]
fn select_swapdb_dbsize_move_copy() {
    let srv = Server::start();
    let redis = RedisServer::start();
    let mut rc = redis.as_ref().map(|r| r.client());
    check_steps(
        &mut srv.client(),
        rc.as_mut(),
        &[
            (&["SELECT", "16"], err("ERR DB index is out of range")),
            (&["SELECT", "-1"], err("ERR DB index is out of range")),
            (
                &["SELECT", "x"],
                err("ERR value is not an integer or out of range"),
            ),
            (
                &["SELECT", "1.5"],
                err("ERR value is not an integer or out of range"),
            ),
            (&["SELECT"], arity("select")),
            (&["SET", "k0", "zero"], ok()),
            (&["SELECT", "15"], ok()),
            (&["SELECT", "1"], ok()),
            (&["GET", "k0"], Reply::Nil),
            (&["SET", "k1", "one"], ok()),
            (&["SET", "k1b", "x"], ok()),
            (&["DBSIZE"], Reply::Int(2)),
            (&["DBSIZE", "x"], arity("dbsize")),
            // SWAPDB: the contents change places; this connection stays on index 1.
            (&["SWAPDB", "0", "1"], ok()),
            (&["DBSIZE"], Reply::Int(1)),
            (&["GET", "k0"], b("zero")),
            (&["GET", "k1"], Reply::Nil),
            (&["SELECT", "0"], ok()),
            (&["DBSIZE"], Reply::Int(2)),
            (&["GET", "k1"], b("one")),
            (&["SWAPDB", "x", "1"], err("ERR invalid first DB index")),
            (&["SWAPDB", "0", "x"], err("ERR invalid second DB index")),
            (&["SWAPDB", "0", "16"], err("ERR DB index is out of range")),
            (&["SWAPDB", "-1", "0"], err("ERR DB index is out of range")),
            (&["SWAPDB", "0"], arity("swapdb")),
            (&["SWAPDB", "2", "2"], ok()),
            // MOVE and COPY ... DB between databases.
            (&["MOVE", "k1", "1"], Reply::Int(1)),
            (&["MOVE", "k1", "1"], Reply::Int(0)),
            (&["MOVE", "k1b", "16"], err("ERR DB index is out of range")),
            (
                &["MOVE", "k1b", "x"],
                err("ERR value is not an integer or out of range"),
            ),
            (
                &["MOVE", "k1b", "0"],
                err("ERR source and destination objects are the same"),
            ),
            (&["COPY", "k1b", "k1c", "DB", "1"], Reply::Int(1)),
            (&["COPY", "k1b", "k1c", "DB", "1"], Reply::Int(0)),
            (&["COPY", "nokey", "a", "DB", "1"], Reply::Int(0)),
            (
                &["COPY", "k1b", "k1c", "DB", "16"],
                err("ERR DB index is out of range"),
            ),
            (
                &["COPY", "k1b", "k1b"],
                err("ERR source and destination objects are the same"),
            ),
            (&["SELECT", "1"], ok()),
            (&["GET", "k1"], b("one")),
            (&["GET", "k1c"], b("x")),
            (&["DBSIZE"], Reply::Int(3)),
        ],
    );
}

/// A connection that has selected a database sees the swapped-in data after another connection's
/// SWAPDB, as in Redis (a client's selection is an index, not a snapshot).
#[test]
fn swapdb_is_visible_to_other_connections() {
    let srv = Server::start();
    let redis = RedisServer::start();
    let run = |port: u16| -> Vec<Reply> {
        let mut a = connect(port);
        let mut other = connect(port);
        assert_eq!(cmd(&mut a, &["SET", "where", "db0"]), ok());
        assert_eq!(cmd(&mut other, &["SELECT", "3"]), ok());
        assert_eq!(cmd(&mut other, &["SET", "where", "db3"]), ok());
        assert_eq!(cmd(&mut a, &["SWAPDB", "0", "3"]), ok());
        vec![
            cmd(&mut a, &["GET", "where"]),
            cmd(&mut other, &["GET", "where"]),
            cmd(&mut connect(port), &["GET", "where"]),
        ]
    };
    let got = run(srv.port());
    assert_eq!(got, vec![b("db3"), b("db0"), b("db3")]);
    if let Some(r) = &redis {
        assert_eq!(run(r.port()), got, "redis");
    }
}

#[test]
fn flushdb_and_flushall_with_modes() {
    let srv = Server::start();
    let redis = RedisServer::start();
    let mut rc = redis.as_ref().map(|r| r.client());
    check_steps(
        &mut srv.client(),
        rc.as_mut(),
        &[
            (&["SET", "a", "1"], ok()),
            (&["SELECT", "1"], ok()),
            (&["SET", "b", "1"], ok()),
            (&["SELECT", "0"], ok()),
            (&["FLUSHDB", "x"], err("ERR syntax error")),
            (&["FLUSHDB", "ASYNC", "SYNC"], err("ERR syntax error")),
            (&["FLUSHALL", "bad"], err("ERR syntax error")),
            (&["FLUSHALL", "SYNC", "x"], err("ERR syntax error")),
            (&["DBSIZE"], Reply::Int(1)),
            // FLUSHDB empties only the selected database.
            (&["FLUSHDB"], ok()),
            (&["DBSIZE"], Reply::Int(0)),
            (&["SELECT", "1"], ok()),
            (&["DBSIZE"], Reply::Int(1)),
            (&["SET", "c", "1"], ok()),
            (&["FLUSHDB", "sync"], ok()),
            (&["DBSIZE"], Reply::Int(0)),
            (&["SET", "d", "1"], ok()),
            (&["SELECT", "0"], ok()),
            (&["SET", "e", "1"], ok()),
            (&["FLUSHDB", "ASYNC"], ok()),
            (&["DBSIZE"], Reply::Int(0)),
            (&["SET", "e", "1"], ok()),
            // FLUSHALL empties every database.
            (&["FLUSHALL", "ASYNC"], ok()),
            (&["DBSIZE"], Reply::Int(0)),
            (&["SELECT", "1"], ok()),
            (&["DBSIZE"], Reply::Int(0)),
            (&["GET", "d"], Reply::Nil),
            (&["SET", "f", "1"], ok()),
            (&["FLUSHALL", "SYNC"], ok()),
            (&["DBSIZE"], Reply::Int(0)),
            (&["SET", "g", "1"], ok()),
            (&["FLUSHALL"], ok()),
            (&["EXISTS", "g"], Reply::Int(0)),
            // Writes after a flush are kept.
            (&["SET", "h", "1"], ok()),
            (&["DBSIZE"], Reply::Int(1)),
        ],
    );
}

// ---------------------------------------------------------------------------------------------
// TIME, LASTSAVE, SAVE, BGSAVE, SHUTDOWN
// ---------------------------------------------------------------------------------------------

#[test]
fn time_and_lastsave() {
    let srv = Server::start();
    let mut c = srv.client();
    let Reply::Array(parts) = cmd(&mut c, &["TIME"]) else {
        panic!("TIME is not an array");
    };
    assert_eq!(parts.len(), 2, "TIME: {parts:?}");
    let num = |r: &Reply| -> i64 {
        let t = text(r);
        assert!(
            !t.is_empty() && t.bytes().all(|c| c.is_ascii_digit()),
            "TIME part {t:?}"
        );
        t.parse().expect("TIME part fits i64")
    };
    let (secs, micros) = (num(&parts[0]), num(&parts[1]));
    assert!(
        (secs - now_secs()).abs() < 300,
        "TIME seconds {secs}, clock {}",
        now_secs()
    );
    assert!((0..1_000_000).contains(&micros), "TIME micros {micros}");
    assert_eq!(cmd(&mut c, &["TIME", "x"]), arity("time"));

    let before = cmd(&mut c, &["LASTSAVE"]).as_int().expect("LASTSAVE int");
    assert!(
        before > 0 && before <= now_secs() + 5,
        "LASTSAVE {before} before any save"
    );
    assert_eq!(cmd(&mut c, &["LASTSAVE", "x"]), arity("lastsave"));
    assert_eq!(cmd(&mut c, &["SAVE", "x"]), arity("save"));
}

/// SAVE writes a RocksDB checkpoint to `<dir>/checkpoint` that works as a backup: a server
/// started on a copy of it has exactly the data written before the SAVE.
#[test]
fn save_creates_a_usable_checkpoint() {
    let srv = Server::start();
    let mut c = srv.client();
    assert_eq!(cmd(&mut c, &["SET", "before", "1"]), ok());
    assert_eq!(cmd(&mut c, &["SELECT", "2"]), ok());
    assert_eq!(cmd(&mut c, &["SET", "in-db2", "x"]), ok());
    assert_eq!(cmd(&mut c, &["SELECT", "0"]), ok());
    let before = cmd(&mut c, &["LASTSAVE"]).as_int().expect("LASTSAVE int");
    assert_eq!(cmd(&mut c, &["SAVE"]), ok());
    let after = cmd(&mut c, &["LASTSAVE"]).as_int().expect("LASTSAVE int");
    assert!(
        after >= before && (after - now_secs()).abs() < 300,
        "LASTSAVE {before} -> {after} (clock {})",
        now_secs()
    );
    let checkpoint = srv.dir().join("checkpoint");
    assert!(
        checkpoint.join("CURRENT").is_file(),
        "no RocksDB checkpoint at {}",
        checkpoint.display()
    );
    assert_eq!(cmd(&mut c, &["SET", "after", "1"]), ok());
    // A second SAVE replaces the checkpoint.
    assert_eq!(cmd(&mut c, &["SAVE"]), ok());
    assert_eq!(cmd(&mut c, &["DEL", "after"]), Reply::Int(1));
    assert_eq!(cmd(&mut c, &["SET", "later", "1"]), ok());

    // Restore: a fresh server whose database is a copy of the checkpoint.
    let mut restored = Server::start();
    restored.kill9();
    let db = restored.dir().join("db");
    std::fs::remove_dir_all(&db).expect("remove the fresh server's db");
    std::fs::create_dir_all(&db).unwrap();
    for entry in std::fs::read_dir(&checkpoint).expect("list checkpoint") {
        let entry = entry.unwrap();
        assert!(entry.file_type().unwrap().is_file(), "{:?}", entry.path());
        std::fs::copy(entry.path(), db.join(entry.file_name())).expect("copy checkpoint file");
    }
    restored.restart();
    let mut r = restored.client();
    assert_eq!(cmd(&mut r, &["GET", "before"]), b("1"));
    assert_eq!(cmd(&mut r, &["GET", "after"]), b("1"));
    assert_eq!(cmd(&mut r, &["GET", "later"]), Reply::Nil);
    assert_eq!(cmd(&mut r, &["DBSIZE"]), Reply::Int(2));
    assert_eq!(cmd(&mut r, &["SELECT", "2"]), ok());
    assert_eq!(cmd(&mut r, &["GET", "in-db2"]), b("x"));
}

#[test]
fn bgsave_replies_and_completes() {
    let srv = Server::start();
    let mut c = srv.client();
    assert_eq!(cmd(&mut c, &["SET", "k", "v"]), ok());
    assert_eq!(cmd(&mut c, &["BGSAVE", "x"]), err("ERR syntax error"));
    assert_eq!(
        cmd(&mut c, &["BGSAVE", "SCHEDULE", "x"]),
        err("ERR syntax error")
    );
    let before = cmd(&mut c, &["LASTSAVE"]).as_int().expect("LASTSAVE int");
    assert_eq!(cmd(&mut c, &["BGSAVE"]), st("Background saving started"));
    // A second one right away either finds the first still running or starts anew.
    let second = cmd(&mut c, &["BGSAVE"]);
    assert!(
        second == err("ERR Background save already in progress")
            || second == st("Background saving started"),
        "second BGSAVE: {second}"
    );
    // So does SAVE.
    let save = cmd(&mut c, &["SAVE"]);
    assert!(
        save == err("ERR Background save already in progress") || save == ok(),
        "SAVE during BGSAVE: {save}"
    );
    let mut last = String::new();
    assert!(
        eventually(30, || {
            last = info(&mut c, "persistence");
            info_field(&last, "rdb_bgsave_in_progress").as_deref() == Some("0")
        }),
        "BGSAVE did not finish within 30 s:\n{last}"
    );
    assert!(srv.dir().join("checkpoint").join("CURRENT").is_file());
    assert_eq!(
        info_field(&last, "rdb_last_bgsave_status").as_deref(),
        Some("ok")
    );
    let after = cmd(&mut c, &["LASTSAVE"]).as_int().expect("LASTSAVE int");
    assert!(after >= before, "LASTSAVE went back: {before} -> {after}");
    // Once done, BGSAVE (and BGSAVE SCHEDULE) start again.
    assert_eq!(
        cmd(&mut c, &["BGSAVE", "SCHEDULE"]),
        st("Background saving started")
    );
    assert!(
        eventually(30, || info(&mut c, "persistence")
            .contains("rdb_bgsave_in_progress:0")),
        "BGSAVE SCHEDULE did not finish within 30 s"
    );
}

/// SHUTDOWN closes the connection without a reply and the process exits; everything written
/// before is there after a restart. SHUTDOWN NOSAVE exits too (Basalt's data is in the WAL).
#[test]
fn shutdown_exits_and_data_survives() {
    let mut srv = Server::start();
    let redis = RedisServer::start();
    let mut rc = redis.as_ref().map(|r| r.client());
    check_steps(
        &mut srv.client(),
        rc.as_mut(),
        &[
            (&["SHUTDOWN", "ABORT"], err("ERR No shutdown in progress.")),
            (&["SHUTDOWN", "x"], err("ERR syntax error")),
            (&["SHUTDOWN", "NOSAVE", "x"], err("ERR syntax error")),
        ],
    );
    drop(rc);
    for (round, shutdown) in [&b"SHUTDOWN\r\n"[..], b"SHUTDOWN NOSAVE\r\n"]
        .into_iter()
        .enumerate()
    {
        let mut c = srv.client();
        assert_eq!(cmd(&mut c, &["SET", &format!("key{round}"), "v"]), ok());
        assert_eq!(cmd(&mut c, &["SELECT", "5"]), ok());
        assert_eq!(cmd(&mut c, &["SET", &format!("db5-{round}"), "w"]), ok());
        let pid = srv.pid().expect("server running");
        let mut s = raw_tcp(srv.port());
        s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
        send(&mut s, shutdown);
        assert_eq!(
            escape(&read_until(&mut s, b"")),
            escape(b"<EOF>"),
            "{} must close the connection without a reply",
            escape(shutdown)
        );
        assert!(
            eventually(30, || process_exited(pid)),
            "basalt still running 30 s after {}",
            escape(shutdown)
        );
        srv.restart();
        let mut c = srv.client();
        for r in 0..=round {
            assert_eq!(cmd(&mut c, &["GET", &format!("key{r}")]), b("v"));
        }
        assert_eq!(cmd(&mut c, &["SELECT", "5"]), ok());
        assert_eq!(cmd(&mut c, &["DBSIZE"]), Reply::Int(round as i64 + 1));
    }
}

// ---------------------------------------------------------------------------------------------
// HELLO, RESP3, AUTH, RESET
// ---------------------------------------------------------------------------------------------

/// The HELLO reply for `proto`, with the id masked (see `mask_ids`).
fn hello_reply(proto: u8) -> Vec<u8> {
    let head: &[u8] = if proto == 3 { b"%7\r\n" } else { b"*14\r\n" };
    let mut v = head.to_vec();
    v.extend_from_slice(b"$6\r\nserver\r\n$5\r\nredis\r\n$7\r\nversion\r\n$6\r\n7.0.15\r\n");
    v.extend_from_slice(format!("$5\r\nproto\r\n:{proto}\r\n").as_bytes());
    v.extend_from_slice(
        b"$2\r\nid\r\n:ID\r\n$4\r\nmode\r\n$10\r\nstandalone\r\n$4\r\nrole\r\n$6\r\nmaster\r\n\
          $7\r\nmodules\r\n*0\r\n",
    );
    v
}

#[test]
fn hello_errors_match_redis() {
    let srv = Server::start();
    let redis = RedisServer::start();
    let mut rc = redis.as_ref().map(|r| r.client());
    check_steps(
        &mut srv.client(),
        rc.as_mut(),
        &[
            (&["HELLO", "4"], err("NOPROTO unsupported protocol version")),
            (&["HELLO", "1"], err("NOPROTO unsupported protocol version")),
            (
                &["HELLO", "-3"],
                err("NOPROTO unsupported protocol version"),
            ),
            (
                &["HELLO", "x"],
                err("ERR Protocol version is not an integer or out of range"),
            ),
            (
                &["HELLO", "3.0"],
                err("ERR Protocol version is not an integer or out of range"),
            ),
            (
                &["HELLO", "3", "x"],
                err("ERR Syntax error in HELLO option 'x'"),
            ),
            (
                &["HELLO", "2", "AUTH", "default"],
                err("ERR Syntax error in HELLO option 'AUTH'"),
            ),
            (
                &["HELLO", "2", "setname"],
                err("ERR Syntax error in HELLO option 'setname'"),
            ),
            (
                &["HELLO", "2", "SETNAME", "a b"],
                err("ERR Client names cannot contain spaces, newlines or special characters."),
            ),
            (
                &["HELLO", "2", "AUTH", "nouser", "pw"],
                err("WRONGPASS invalid username-password pair or user is disabled."),
            ),
            // A failed HELLO changes nothing.
            (&["CLIENT", "GETNAME"], Reply::Nil),
        ],
    );
}

/// HELLO's reply fields, in RESP2 (flat array) through the client library.
#[test]
fn hello_2_reply_fields() {
    let srv = Server::start();
    let mut c = srv.client();
    let id = client_id(&mut c);
    let Reply::Array(items) = cmd(&mut c, &["HELLO", "2", "SETNAME", "via-hello"]) else {
        panic!("HELLO 2 is not an array");
    };
    assert_eq!(
        items,
        vec![
            b("server"),
            b("redis"),
            b("version"),
            b("7.0.15"),
            b("proto"),
            Reply::Int(2),
            b("id"),
            Reply::Int(id),
            b("mode"),
            b("standalone"),
            b("role"),
            b("master"),
            b("modules"),
            Reply::Array(Vec::new()),
        ]
    );
    assert_eq!(cmd(&mut c, &["CLIENT", "GETNAME"]), b("via-hello"));
    let info = text(&cmd(&mut c, &["CLIENT", "INFO"]));
    assert!(info.contains(" resp=2 "), "{info}");
}

/// After HELLO 3 replies use RESP3 types (maps, `_` null, verbatim strings); HELLO without a
/// version keeps the protocol; HELLO 2 goes back. Byte-for-byte the same as Redis.
#[test]
fn resp3_wire_bytes_match_redis() {
    let srv = Server::start();
    let redis = RedisServer::start();
    let input: &[u8] = b"HELLO 3 SETNAME r3\r\n\
        CONFIG GET timeout\r\n\
        GET nokey\r\n\
        CONFIG GET appendfsync\r\n\
        CONFIG GET nosuch\r\n\
        ECHO hi\r\n\
        COMMAND INFO nosuch\r\n\
        CLIENT GETNAME\r\n\
        CLIENT LIST ID 0\r\n\
        INFO nosuch\r\n\
        CLIENT TRACKINGINFO\r\n\
        HELLO\r\n\
        HELLO 2\r\n\
        GET nokey\r\n\
        CONFIG GET timeout\r\n\
        COMMAND INFO nosuch\r\n";
    let mut want = hello_reply(3);
    want.extend_from_slice(
        b"%1\r\n$7\r\ntimeout\r\n$1\r\n0\r\n\
          _\r\n\
          %1\r\n$11\r\nappendfsync\r\n$8\r\neverysec\r\n\
          %0\r\n\
          $2\r\nhi\r\n\
          *1\r\n_\r\n\
          $2\r\nr3\r\n\
          =4\r\ntxt:\r\n\
          =4\r\ntxt:\r\n\
          %3\r\n$5\r\nflags\r\n~1\r\n$3\r\noff\r\n$8\r\nredirect\r\n:-1\r\n$8\r\nprefixes\r\n*0\r\n",
    );
    want.extend_from_slice(&hello_reply(3));
    want.extend_from_slice(&hello_reply(2));
    want.extend_from_slice(
        b"$-1\r\n\
          *2\r\n$7\r\ntimeout\r\n$1\r\n0\r\n\
          *1\r\n$-1\r\n",
    );
    want.extend_from_slice(END_REPLY);
    let got = mask_ids(&transcript(srv.port(), input));
    assert_eq!(escape(&got), escape(&want));
    if let Some(r) = &redis {
        let theirs = mask_ids(&transcript(r.port(), input));
        assert_eq!(escape(&theirs), escape(&got), "redis differs from basalt");
    }
}

/// RESP3 INFO and CLIENT INFO are verbatim strings (`=<len>\r\ntxt:...`) with the right length.
#[test]
fn resp3_verbatim_info() {
    let srv = Server::start();
    let mut s = raw_tcp(srv.port());
    send(&mut s, b"HELLO 3\r\n");
    let hello = read_until(&mut s, b"$7\r\nmodules\r\n*0\r\n");
    assert!(hello.starts_with(b"%7\r\n"), "{}", escape(&hello));
    for (input, needle) in [
        (&b"CLIENT INFO\r\n"[..], &b" resp=3 "[..]),
        (b"INFO server\r\n", b"# Server\r\n"),
    ] {
        send(&mut s, input);
        let header = read_line(&mut s);
        assert!(header.starts_with(b"="), "{}", escape(&header));
        let len: usize = std::str::from_utf8(&header[1..header.len() - 2])
            .unwrap()
            .parse()
            .unwrap();
        let mut body = vec![0u8; len + 2];
        s.read_exact(&mut body).unwrap();
        assert!(body.starts_with(b"txt:"), "{}", escape(&body));
        assert!(body.ends_with(b"\r\n"));
        assert!(
            body.windows(needle.len()).any(|w| w == needle),
            "{} not in {}",
            escape(needle),
            escape(&body)
        );
    }
}

/// --requirepass (Basalt) / CONFIG SET requirepass (reference): NOAUTH before AUTH, wrong
/// passwords, AUTH forms, HELLO AUTH.
#[test]
fn auth_with_requirepass() {
    let srv = Server::start_with(&["--requirepass", "s3cret"]);
    let redis = RedisServer::start();
    let mut rc = redis.as_ref().map(|r| {
        let mut c = r.client();
        assert_eq!(
            cmd(&mut c, &["CONFIG", "SET", "requirepass", "s3cret"]),
            ok()
        );
        r.client()
    });
    let noauth = || err("NOAUTH Authentication required.");
    let wrongpass = || err("WRONGPASS invalid username-password pair or user is disabled.");
    check_steps(
        &mut srv.client(),
        rc.as_mut(),
        &[
            (&["GET", "x"], noauth()),
            (&["PING"], noauth()),
            (&["CLIENT", "ID"], noauth()),
            (&["SELECT", "1"], noauth()),
            (&["CONFIG", "GET", "requirepass"], noauth()),
            // Unknown commands and arity errors come before the authentication check.
            (
                &["NOSUCH"],
                err("ERR unknown command 'NOSUCH', with args beginning with: "),
            ),
            (&["GET"], arity("get")),
            (&["AUTH"], arity("auth")),
            (&["AUTH", "wrong"], wrongpass()),
            (&["AUTH", "default", "wrong"], wrongpass()),
            (&["AUTH", "nouser", "s3cret"], wrongpass()),
            (&["AUTH", "a", "b", "c"], err("ERR syntax error")),
            (&["HELLO", "2", "AUTH", "default", "wrong"], wrongpass()),
            (&["GET", "x"], noauth()),
            (&["AUTH", "s3cret"], ok()),
            (&["SET", "x", "1"], ok()),
            (&["GET", "x"], b("1")),
            // A wrong password after a good one does not log the connection out.
            (&["AUTH", "wrong"], wrongpass()),
            (&["GET", "x"], b("1")),
            (&["AUTH", "default", "s3cret"], ok()),
            (&["QUIT"], ok()),
        ],
    );
    // A new connection is unauthenticated again; AUTH default <pw> works too.
    let mut rc2 = redis.as_ref().map(|r| r.client());
    check_steps(
        &mut srv.client(),
        rc2.as_mut(),
        &[
            (&["GET", "x"], noauth()),
            (&["AUTH", "default", "s3cret"], ok()),
            (&["GET", "x"], b("1")),
        ],
    );
    // HELLO 3 AUTH default <pw> SETNAME authenticates, switches protocol and names in one go.
    let input: &[u8] = b"GET x\r\nHELLO 3 AUTH default s3cret SETNAME n3\r\nCLIENT GETNAME\r\nGET x\r\nGET nokey\r\n";
    let mut want = b"-NOAUTH Authentication required.\r\n".to_vec();
    want.extend_from_slice(&hello_reply(3));
    want.extend_from_slice(b"$2\r\nn3\r\n$1\r\n1\r\n_\r\n");
    want.extend_from_slice(END_REPLY);
    let got = mask_ids(&transcript(srv.port(), input));
    assert_eq!(escape(&got), escape(&want));
    if let Some(r) = &redis {
        assert_eq!(
            escape(&mask_ids(&transcript(r.port(), input))),
            escape(&got),
            "redis"
        );
    }
}

#[test]
fn auth_without_password() {
    let srv = Server::start();
    let redis = RedisServer::start();
    let mut rc = redis.as_ref().map(|r| r.client());
    check_steps(
        &mut srv.client(),
        rc.as_mut(),
        &[
            (
                &["AUTH", "x"],
                err("ERR AUTH <password> called without any password configured for the default user. Are you sure your configuration is correct?"),
            ),
            // The default user without a password accepts any password.
            (&["AUTH", "default", "anything"], ok()),
            (
                &["AUTH", "nouser", "x"],
                err("WRONGPASS invalid username-password pair or user is disabled."),
            ),
            (&["AUTH", "a", "b", "c"], err("ERR syntax error")),
            (&["PING"], st("PONG")),
        ],
    );
}

/// RESET goes back to db 0, RESP2, no name, replies on, and unauthenticated when a password is
/// set.
#[test]
fn reset_restores_connection_defaults() {
    let srv = Server::start_with(&["--requirepass", "pw"]);
    let redis = RedisServer::start();
    if let Some(r) = &redis {
        let mut c = r.client();
        assert_eq!(cmd(&mut c, &["CONFIG", "SET", "requirepass", "pw"]), ok());
    }
    let input: &[u8] = b"AUTH pw\r\n\
        SET where db0\r\n\
        SELECT 3\r\n\
        SET where db3\r\n\
        CLIENT SETNAME named\r\n\
        CLIENT NO-EVICT on\r\n\
        HELLO 3\r\n\
        CLIENT REPLY OFF\r\n\
        PING unseen\r\n\
        RESET\r\n\
        GET where\r\n\
        AUTH pw\r\n\
        GET where\r\n\
        CLIENT GETNAME\r\n\
        RESET x\r\n";
    let mut want = b"+OK\r\n+OK\r\n+OK\r\n+OK\r\n+OK\r\n+OK\r\n".to_vec();
    want.extend_from_slice(&hello_reply(3));
    want.extend_from_slice(
        b"+RESET\r\n\
          -NOAUTH Authentication required.\r\n\
          +OK\r\n\
          $3\r\ndb0\r\n\
          $-1\r\n\
          -ERR wrong number of arguments for 'reset' command\r\n",
    );
    want.extend_from_slice(END_REPLY);
    let got = mask_ids(&transcript(srv.port(), input));
    assert_eq!(escape(&got), escape(&want));
    if let Some(r) = &redis {
        assert_eq!(
            escape(&mask_ids(&transcript(r.port(), input))),
            escape(&got),
            "redis"
        );
    }
    // Without a password RESET leaves the connection usable.
    let plain = Server::start();
    assert_eq!(
        escape(&transcript(
            plain.port(),
            b"SELECT 2\r\nRESET\r\nSET k v\r\nSELECT 0\r\nGET k\r\n"
        )),
        escape(b"+OK\r\n+RESET\r\n+OK\r\n+OK\r\n$1\r\nv\r\n$7\r\n__end__\r\n")
    );
}

// ---------------------------------------------------------------------------------------------
// CLIENT
// ---------------------------------------------------------------------------------------------

#[test]
fn client_errors_match_redis() {
    let srv = Server::start();
    let redis = RedisServer::start();
    let mut rc = redis.as_ref().map(|r| r.client());
    let bad_name =
        || err("ERR Client names cannot contain spaces, newlines or special characters.");
    check_steps(
        &mut srv.client(),
        rc.as_mut(),
        &[
            (&["CLIENT"], arity("client")),
            (
                &["CLIENT", "FOO"],
                err("ERR unknown subcommand 'FOO'. Try CLIENT HELP."),
            ),
            (&["CLIENT", "ID", "x"], arity("client|id")),
            (&["CLIENT", "GETNAME", "x"], arity("client|getname")),
            (&["CLIENT", "SETNAME"], arity("client|setname")),
            (&["CLIENT", "SETNAME", "a b"], bad_name()),
            (&["CLIENT", "SETNAME", "a\nb"], bad_name()),
            (&["CLIENT", "SETNAME", "caf\u{e9}"], bad_name()),
            (&["CLIENT", "SETNAME", "tab\t"], bad_name()),
            (&["CLIENT", "GETNAME"], Reply::Nil),
            (&["CLIENT", "SETNAME", "ok-name_1"], ok()),
            (&["CLIENT", "GETNAME"], b("ok-name_1")),
            (&["CLIENT", "SETNAME", ""], ok()),
            (&["CLIENT", "GETNAME"], Reply::Nil),
            (
                &["CLIENT", "LIST", "TYPE", "x"],
                err("ERR Unknown client type 'x'"),
            ),
            (
                &["CLIENT", "LIST", "TYPE", "normal", "x"],
                err("ERR syntax error"),
            ),
            (&["CLIENT", "LIST", "ID"], err("ERR syntax error")),
            (&["CLIENT", "LIST", "ID", "x"], err("ERR Invalid client ID")),
            (&["CLIENT", "LIST", "ID", "999999"], b("")),
            (&["CLIENT", "LIST", "TYPE", "pubsub"], b("")),
            (&["CLIENT", "LIST", "x"], err("ERR syntax error")),
            (&["CLIENT", "KILL"], arity("client|kill")),
            (&["CLIENT", "KILL", "1.2.3.4:5"], err("ERR No such client")),
            (
                &["CLIENT", "KILL", "ID", "x"],
                err("ERR client-id should be greater than 0"),
            ),
            (
                &["CLIENT", "KILL", "ID", "0"],
                err("ERR client-id should be greater than 0"),
            ),
            (&["CLIENT", "KILL", "ID", "999999"], Reply::Int(0)),
            (&["CLIENT", "KILL", "ADDR", "1.2.3.4:5"], Reply::Int(0)),
            (&["CLIENT", "KILL", "LADDR", "1.2.3.4:5"], Reply::Int(0)),
            (&["CLIENT", "KILL", "SKIPME", "x"], err("ERR syntax error")),
            (&["CLIENT", "KILL", "BAD", "1"], err("ERR syntax error")),
            (
                &["CLIENT", "KILL", "ID", "1", "ADDR"],
                err("ERR syntax error"),
            ),
            (
                &["CLIENT", "KILL", "TYPE", "x"],
                err("ERR Unknown client type 'x'"),
            ),
            (
                &["CLIENT", "KILL", "USER", "x"],
                err("ERR No such user 'x'"),
            ),
            (&["CLIENT", "REPLY"], arity("client|reply")),
            (&["CLIENT", "REPLY", "x"], err("ERR syntax error")),
            (&["CLIENT", "NO-EVICT", "x"], err("ERR syntax error")),
            (&["CLIENT", "NO-EVICT", "on"], ok()),
            (&["CLIENT", "NO-EVICT", "OFF"], ok()),
            (&["CLIENT", "GETREDIR"], Reply::Int(-1)),
            (&["CLIENT", "HELP", "x"], arity("client|help")),
        ],
    );
}

#[test]
fn client_id_setname_info_list() {
    let srv = Server::start();
    let mut a = srv.client();
    wait_connected_clients(&mut a, 1);
    let mut other = srv.client();
    let id = client_id(&mut a);
    let other_id = client_id(&mut other);
    assert!(id > 0 && other_id > id, "ids {id} then {other_id}");
    assert_eq!(cmd(&mut a, &["CLIENT", "SETNAME", "tester"]), ok());
    assert_eq!(cmd(&mut a, &["SELECT", "3"]), ok());

    let line = text(&cmd(&mut a, &["CLIENT", "INFO"]));
    assert!(
        line.ends_with('\n') && line.lines().count() == 1,
        "{line:?}"
    );
    for needle in [
        format!("id={id} "),
        " name=tester ".to_string(),
        " db=3 ".to_string(),
        " cmd=client|info ".to_string(),
        " resp=2 ".to_string(),
        " user=default ".to_string(),
    ] {
        assert!(
            line.contains(&needle),
            "{needle:?} not in CLIENT INFO {line:?}"
        );
    }
    let addr = line
        .split(' ')
        .find_map(|f| f.strip_prefix("addr="))
        .expect("addr= field");
    assert!(addr.starts_with("127.0.0.1:"), "{line}");

    let all = text(&cmd(&mut a, &["CLIENT", "LIST"]));
    let ids_in = |list: &str| -> Vec<i64> {
        list.lines()
            .map(|l| {
                l.split(' ')
                    .find_map(|f| f.strip_prefix("id="))
                    .and_then(|v| v.parse().ok())
                    .unwrap_or_else(|| panic!("no id= in {l:?}"))
            })
            .collect()
    };
    assert_eq!(ids_in(&all), vec![id, other_id], "{all}");
    let mine = all
        .lines()
        .find(|l| l.starts_with(&format!("id={id} ")))
        .unwrap();
    assert!(
        mine.contains(" name=tester ")
            && mine.contains(" db=3 ")
            && mine.contains(" cmd=client|list "),
        "{mine}"
    );
    let theirs = all
        .lines()
        .find(|l| l.starts_with(&format!("id={other_id} ")))
        .unwrap();
    assert!(
        theirs.contains(" name= ") && theirs.contains(" db=0 "),
        "{theirs}"
    );

    let normal = text(&cmd(&mut a, &["CLIENT", "LIST", "TYPE", "normal"]));
    assert_eq!(ids_in(&normal), vec![id, other_id]);
    let only_other = text(&cmd(
        &mut a,
        &["CLIENT", "LIST", "ID", &other_id.to_string()],
    ));
    assert_eq!(ids_in(&only_other), vec![other_id], "{only_other}");
    let both = text(&cmd(
        &mut a,
        &[
            "CLIENT",
            "LIST",
            "ID",
            &other_id.to_string(),
            "999999",
            &id.to_string(),
        ],
    ));
    assert_eq!(ids_in(&both).len(), 2, "{both}");

    // A closed connection leaves the list.
    drop(other);
    assert!(
        eventually(20, || {
            ids_in(&text(&cmd(&mut a, &["CLIENT", "LIST"]))) == vec![id]
        }),
        "closed client still listed"
    );
}

/// CLIENT SETINFO, NO-EVICT and NO-TOUCH (SETINFO and NO-TOUCH are Redis 7.2 commands, so there
/// is no 7.0 reference for them).
#[test]
fn client_setinfo_no_evict_no_touch() {
    let srv = Server::start();
    let mut c = srv.client();
    let info = |c: &mut redis::Connection| text(&cmd(c, &["CLIENT", "INFO"]));
    assert!(info(&mut c).contains(" flags=N "));
    assert_eq!(
        cmd(&mut c, &["CLIENT", "SETINFO", "lib-name", "mylib"]),
        ok()
    );
    assert_eq!(
        cmd(&mut c, &["CLIENT", "SETINFO", "LIB-VER", "1.2.3"]),
        ok()
    );
    assert!(
        info(&mut c).contains(" lib-name=mylib lib-ver=1.2.3"),
        "{}",
        info(&mut c)
    );
    assert_eq!(
        cmd(&mut c, &["CLIENT", "SETINFO", "lib-name", "a b"]),
        err("ERR lib-name cannot contain spaces, newlines or special characters.")
    );
    assert_eq!(
        cmd(&mut c, &["CLIENT", "SETINFO", "x", "y"]),
        err("ERR Unrecognized option 'x'")
    );
    assert_eq!(
        cmd(&mut c, &["CLIENT", "SETINFO", "lib-name"]),
        arity("client|setinfo")
    );
    assert!(info(&mut c).contains(" lib-name=mylib "));

    assert_eq!(cmd(&mut c, &["CLIENT", "NO-EVICT", "ON"]), ok());
    assert!(info(&mut c).contains(" flags=e "), "{}", info(&mut c));
    assert_eq!(cmd(&mut c, &["CLIENT", "NO-TOUCH", "on"]), ok());
    assert!(info(&mut c).contains(" flags=eT "), "{}", info(&mut c));
    assert_eq!(cmd(&mut c, &["CLIENT", "NO-EVICT", "off"]), ok());
    assert_eq!(cmd(&mut c, &["CLIENT", "NO-TOUCH", "OFF"]), ok());
    assert!(info(&mut c).contains(" flags=N "));
    assert_eq!(
        cmd(&mut c, &["CLIENT", "NO-TOUCH", "maybe"]),
        err("ERR syntax error")
    );
    assert_eq!(
        cmd(&mut c, &["CLIENT", "NO-TOUCH"]),
        arity("client|no-touch")
    );
    // NO-TOUCH does not stop the connection from reading.
    assert_eq!(cmd(&mut c, &["CLIENT", "NO-TOUCH", "on"]), ok());
    assert_eq!(cmd(&mut c, &["SET", "k", "v"]), ok());
    assert_eq!(cmd(&mut c, &["GET", "k"]), b("v"));
}

/// CLIENT KILL scenarios over raw sockets; each entry is (what, transcript).
fn client_kill_scenarios(port: u16) -> Vec<(&'static str, String)> {
    let mut out = Vec::new();
    let addr_of = |s: &TcpStream| s.local_addr().unwrap().to_string();
    let id_of = |s: &mut TcpStream| {
        send(s, b"CLIENT ID\r\n");
        int_line(&read_line(s))
    };
    // Old form on its own address: +OK, then the connection closes; the PING is not run.
    let mut a = raw_tcp(port);
    let me = addr_of(&a);
    send(&mut a, format!("CLIENT KILL {me}\r\nPING\r\n").as_bytes());
    out.push(("old form, self", escape(&read_until(&mut a, b""))));

    // SKIPME yes (the default) spares the caller; SKIPME no kills it after the reply.
    let mut a = raw_tcp(port);
    let me = id_of(&mut a);
    send(&mut a, format!("CLIENT KILL ID {me}\r\n").as_bytes());
    out.push(("ID self, skipme default", escape(&read_line(&mut a))));
    send(
        &mut a,
        format!("CLIENT KILL ID {me} SKIPME yes\r\n").as_bytes(),
    );
    out.push(("ID self, skipme yes", escape(&read_line(&mut a))));
    send(
        &mut a,
        format!("CLIENT KILL ID {me} SKIPME no\r\nPING\r\n").as_bytes(),
    );
    out.push(("ID self, skipme no", escape(&read_until(&mut a, b""))));

    // Killing other connections: they really close.
    let mut victim1 = raw_tcp(port);
    let mut victim2 = raw_tcp(port);
    let mut victim3 = raw_tcp(port);
    let v2 = id_of(&mut victim2);
    let mut killer = raw_tcp(port);
    send(
        &mut killer,
        format!("CLIENT KILL ADDR {}\r\n", addr_of(&victim1)).as_bytes(),
    );
    out.push(("ADDR other", escape(&read_line(&mut killer))));
    out.push(("ADDR victim", format!("{:?}", wait_closed(&mut victim1))));
    // Filters combine with AND: right address, wrong id kills nobody.
    send(
        &mut killer,
        format!("CLIENT KILL ADDR {} ID 999999\r\n", addr_of(&victim2)).as_bytes(),
    );
    out.push(("ADDR + wrong ID", escape(&read_line(&mut killer))));
    send(&mut victim2, b"PING\r\n");
    out.push(("spared victim", escape(&read_line(&mut victim2))));
    send(&mut killer, format!("CLIENT KILL ID {v2}\r\n").as_bytes());
    out.push(("ID other", escape(&read_line(&mut killer))));
    out.push(("ID victim", format!("{:?}", wait_closed(&mut victim2))));
    // TYPE normal: every normal client but the caller.
    send(&mut killer, b"CLIENT KILL TYPE normal\r\n");
    out.push(("TYPE normal", escape(&read_line(&mut killer))));
    out.push(("TYPE victim", format!("{:?}", wait_closed(&mut victim3))));
    send(&mut killer, b"PING\r\n");
    out.push(("killer alive", escape(&read_line(&mut killer))));
    out
}

#[test]
fn client_kill_closes_connections() {
    let srv = Server::start();
    let redis = RedisServer::start();
    let got = client_kill_scenarios(srv.port());
    let want: Vec<(&str, String)> = vec![
        ("old form, self", escape(b"+OK\r\n<EOF>")),
        ("ID self, skipme default", escape(b":0\r\n")),
        ("ID self, skipme yes", escape(b":0\r\n")),
        ("ID self, skipme no", escape(b":1\r\n<EOF>")),
        ("ADDR other", escape(b":1\r\n")),
        ("ADDR victim", "Ok(())".into()),
        ("ADDR + wrong ID", escape(b":0\r\n")),
        ("spared victim", escape(b"+PONG\r\n")),
        ("ID other", escape(b":1\r\n")),
        ("ID victim", "Ok(())".into()),
        ("TYPE normal", escape(b":1\r\n")),
        ("TYPE victim", "Ok(())".into()),
        ("killer alive", escape(b"+PONG\r\n")),
    ];
    assert_eq!(got, want);
    if let Some(r) = &redis {
        assert_eq!(client_kill_scenarios(r.port()), got, "redis");
    }
}

/// CLIENT REPLY OFF / ON / SKIP over a pipeline: exactly the expected replies arrive, and the
/// commands whose replies are suppressed still run.
#[test]
fn client_reply_modes_pipelined() {
    let srv = Server::start();
    let redis = RedisServer::start();
    let input: &[u8] = b"CLIENT REPLY OFF\r\n\
        PING a\r\n\
        SET x 1\r\n\
        CLIENT REPLY SKIP\r\n\
        PING b\r\n\
        CLIENT REPLY ON\r\n\
        PING c\r\n\
        CLIENT REPLY SKIP\r\n\
        PING d\r\n\
        PING e\r\n\
        CLIENT REPLY SKIP\r\n\
        CLIENT REPLY SKIP\r\n\
        PING f\r\n\
        PING g\r\n\
        CLIENT REPLY SKIP\r\n\
        CLIENT REPLY ON\r\n\
        PING h\r\n\
        CLIENT REPLY OFF\r\n\
        CLIENT REPLY x\r\n\
        INCR x\r\n\
        CLIENT REPLY ON\r\n\
        NOSUCH\r\n\
        CLIENT REPLY SKIP\r\n\
        NOSUCH\r\n\
        GET x\r\n";
    let want: &[u8] = b"+OK\r\n\
        $1\r\nc\r\n\
        $1\r\ne\r\n\
        $1\r\ng\r\n\
        +OK\r\n\
        $1\r\nh\r\n\
        +OK\r\n\
        -ERR unknown command 'NOSUCH', with args beginning with: \r\n\
        $1\r\n2\r\n\
        $7\r\n__end__\r\n";
    let got = transcript(srv.port(), input);
    assert_eq!(escape(&got), escape(want));
    if let Some(r) = &redis {
        assert_eq!(escape(&transcript(r.port(), input)), escape(&got), "redis");
    }
}

// ---------------------------------------------------------------------------------------------
// CONFIG
// ---------------------------------------------------------------------------------------------

#[test]
fn config_get_patterns_and_shape() {
    let srv = Server::start();
    let redis = RedisServer::start();
    let mut c = srv.client();
    let mut rc = redis.as_ref().map(|r| r.client());
    // Single parameters Basalt and Redis share, with their defaults.
    check_steps(
        &mut c,
        rc.as_mut(),
        &[
            (&["CONFIG", "GET", "timeout"], bulks(&["timeout", "0"])),
            (&["CONFIG", "GET", "TIMEOUT"], bulks(&["TIMEOUT", "0"])),
            (
                &["CONFIG", "GET", "timeout", "timeout"],
                bulks(&["timeout", "0"]),
            ),
            (
                &["CONFIG", "GET", "appendfsync"],
                bulks(&["appendfsync", "everysec"]),
            ),
            (
                &["CONFIG", "GET", "maxclient?"],
                bulks(&["maxclients", "10000"]),
            ),
            (&["CONFIG", "GET", "databases"], bulks(&["databases", "16"])),
            (
                &["CONFIG", "GET", "requirepass"],
                bulks(&["requirepass", ""]),
            ),
            (
                &["CONFIG", "GET", "protected-mode"],
                bulks(&["protected-mode", "yes"]),
            ),
            (
                &["CONFIG", "GET", "*max-bulk*"],
                bulks(&["proto-max-bulk-len", "536870912"]),
            ),
            (
                &["CONFIG", "GET", "client-query-buffer-limit"],
                bulks(&["client-query-buffer-limit", "1073741824"]),
            ),
            (
                &["CONFIG", "GET", "tcp-keepalive"],
                bulks(&["tcp-keepalive", "300"]),
            ),
            (
                &["CONFIG", "GET", "loglevel"],
                bulks(&["loglevel", "notice"]),
            ),
            (&["CONFIG", "GET", "save"], bulks(&["save", ""])),
            (
                &["CONFIG", "GET", "appendonly"],
                bulks(&["appendonly", "no"]),
            ),
            (&["CONFIG", "GET", "nosuch"], bulks(&[])),
            (&["CONFIG", "GET", "nosuch*"], bulks(&[])),
        ],
    );
    // Several patterns: a map (flattened in RESP2) in whatever order; compare as a set.
    let pairs = |r: Reply| -> Vec<(String, String)> {
        let Reply::Array(items) = r else {
            panic!("CONFIG GET is not an array: {r}");
        };
        assert!(items.len() % 2 == 0, "odd CONFIG GET reply");
        let mut v: Vec<(String, String)> = items
            .chunks(2)
            .map(|p| (text(&p[0]), text(&p[1])))
            .collect();
        v.sort();
        v
    };
    let multi = pairs(cmd(
        &mut c,
        &["CONFIG", "GET", "maxclients", "timeout", "time*"],
    ));
    assert_eq!(
        multi,
        vec![
            ("maxclients".to_string(), "10000".to_string()),
            ("timeout".to_string(), "0".to_string())
        ]
    );
    if let Some(rc) = rc.as_mut() {
        assert_eq!(
            pairs(cmd(
                rc,
                &["CONFIG", "GET", "maxclients", "timeout", "time*"]
            )),
            multi,
            "redis"
        );
    }
    // Basalt's own names: fsync (appendfsync is its alias), the rocksdb-* parameters.
    assert_eq!(
        cmd(&mut c, &["CONFIG", "GET", "fsync"]),
        bulks(&["fsync", "everysec"])
    );
    assert_eq!(
        pairs(cmd(&mut c, &["CONFIG", "GET", "*fsync*"])),
        vec![
            ("appendfsync".to_string(), "everysec".to_string()),
            ("fsync".to_string(), "everysec".to_string())
        ]
    );
    let all = pairs(cmd(&mut c, &["CONFIG", "GET", "*"]));
    let get = |name: &str| all.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str());
    assert_eq!(get("port"), Some(srv.port().to_string().as_str()));
    assert_eq!(get("bind"), Some("127.0.0.1"));
    assert_eq!(get("dir"), Some(srv.dir().to_string_lossy().as_ref()));
    assert_eq!(get("rocksdb-compression"), Some("lz4"));
    assert!(get("rocksdb-block-cache-size").is_some());
    let mut names: Vec<&str> = all.iter().map(|(n, _)| n.as_str()).collect();
    names.dedup();
    assert_eq!(names.len(), all.len(), "duplicate names in CONFIG GET *");
}

#[test]
fn config_set_errors_match_redis() {
    let srv = Server::start();
    let redis = RedisServer::start();
    let mut rc = redis.as_ref().map(|r| r.client());
    let failed = |arg: &str, why: &str| {
        err(&format!(
            "ERR CONFIG SET failed (possibly related to argument '{arg}') - {why}"
        ))
    };
    check_steps(
        &mut srv.client(),
        rc.as_mut(),
        &[
            (&["CONFIG"], arity("config")),
            (
                &["CONFIG", "FOO"],
                err("ERR unknown subcommand 'FOO'. Try CONFIG HELP."),
            ),
            (&["CONFIG", "GET"], arity("config|get")),
            (&["CONFIG", "SET"], arity("config|set")),
            (&["CONFIG", "SET", "timeout"], arity("config|set")),
            (
                &["CONFIG", "SET", "timeout", "1", "maxclients"],
                err("ERR syntax error"),
            ),
            (
                &["CONFIG", "SET", "nosuch", "1"],
                err("ERR Unknown option or number of arguments for CONFIG SET - 'nosuch'"),
            ),
            (
                &["CONFIG", "SET", "timeout", "x"],
                failed("timeout", "argument couldn't be parsed into an integer"),
            ),
            (
                &["CONFIG", "SET", "maxclients", "0"],
                failed(
                    "maxclients",
                    "argument must be between 1 and 4294967295 inclusive",
                ),
            ),
            (
                &["CONFIG", "SET", "databases", "3"],
                failed("databases", "can't set immutable config"),
            ),
            (
                &["CONFIG", "SET", "timeout", "1", "timeout", "2"],
                failed("timeout", "duplicate parameter"),
            ),
            (
                &["CONFIG", "SET", "protected-mode", "maybe"],
                failed("protected-mode", "argument must be 'yes' or 'no'"),
            ),
            (
                &["CONFIG", "SET", "proto-max-bulk-len", "x"],
                failed("proto-max-bulk-len", "argument must be a memory value"),
            ),
            (&["CONFIG", "RESETSTAT", "x"], arity("config|resetstat")),
            (&["CONFIG", "REWRITE", "x"], arity("config|rewrite")),
            (
                &["CONFIG", "REWRITE"],
                err("ERR The server is running without a config file"),
            ),
            // Several at once, all or nothing.
            (
                &["CONFIG", "SET", "timeout", "7", "maxclients", "500"],
                ok(),
            ),
            (
                &["CONFIG", "SET", "timeout", "9", "maxclients", "0"],
                failed(
                    "maxclients",
                    "argument must be between 1 and 4294967295 inclusive",
                ),
            ),
            (&["CONFIG", "GET", "timeout"], bulks(&["timeout", "7"])),
            (
                &["CONFIG", "GET", "maxclients"],
                bulks(&["maxclients", "500"]),
            ),
            (&["CONFIG", "SET", "APPENDFSYNC", "always"], ok()),
            (
                &["CONFIG", "GET", "appendfsync"],
                bulks(&["appendfsync", "always"]),
            ),
            (&["CONFIG", "SET", "tcp-keepalive", "60"], ok()),
            (
                &["CONFIG", "GET", "tcp-keepalive"],
                bulks(&["tcp-keepalive", "60"]),
            ),
            (&["CONFIG", "SET", "proto-max-bulk-len", "2mb"], ok()),
            (
                &["CONFIG", "GET", "proto-max-bulk-len"],
                bulks(&["proto-max-bulk-len", "2097152"]),
            ),
            (&["CONFIG", "SET", "loglevel", "warning"], ok()),
            (
                &["CONFIG", "GET", "loglevel"],
                bulks(&["loglevel", "warning"]),
            ),
            (&["CONFIG", "SET", "save", ""], ok()),
        ],
    );
    // Basalt only: its immutable parameters, and the WAL policy taking effect.
    let mut c = srv.client();
    for (name, value) in [("port", "1"), ("dir", "/tmp"), ("bind", "0.0.0.0")] {
        assert_eq!(
            cmd(&mut c, &["CONFIG", "SET", name, value]),
            failed(name, "can't set immutable config")
        );
    }
    assert_eq!(
        info_field(&info(&mut c, "persistence"), "wal_fsync_policy").as_deref(),
        Some("always")
    );
    assert_eq!(cmd(&mut c, &["CONFIG", "SET", "fsync", "no"]), ok());
    assert_eq!(
        info_field(&info(&mut c, "persistence"), "wal_fsync_policy").as_deref(),
        Some("no")
    );
    assert_eq!(
        cmd(&mut c, &["CONFIG", "GET", "appendfsync"]),
        bulks(&["appendfsync", "no"])
    );
}

/// CONFIG SET requirepass: later connections must AUTH; clearing it lifts that again.
#[test]
fn config_set_requirepass_takes_effect() {
    let srv = Server::start();
    let redis = RedisServer::start();
    let run = |port: u16| -> Vec<Reply> {
        let mut admin = connect(port);
        let mut v = vec![cmd(&mut admin, &["CONFIG", "SET", "requirepass", "newpw"])];
        // The connection that set it stays authenticated.
        v.push(cmd(&mut admin, &["PING"]));
        let mut c = connect(port);
        v.push(cmd(&mut c, &["PING"]));
        v.push(cmd(&mut c, &["AUTH", "bad"]));
        v.push(cmd(&mut c, &["AUTH", "newpw"]));
        v.push(cmd(&mut c, &["PING"]));
        v.push(cmd(&mut admin, &["CONFIG", "SET", "requirepass", ""]));
        v.push(cmd(&mut connect(port), &["PING"]));
        v
    };
    let got = run(srv.port());
    assert_eq!(
        got,
        vec![
            ok(),
            st("PONG"),
            err("NOAUTH Authentication required."),
            err("WRONGPASS invalid username-password pair or user is disabled."),
            ok(),
            st("PONG"),
            ok(),
            st("PONG"),
        ]
    );
    if let Some(r) = &redis {
        assert_eq!(run(r.port()), got, "redis");
    }
}

/// CONFIG SET timeout 1: an idle client connected afterwards is closed (generous bound).
#[test]
fn config_set_timeout_closes_idle_clients() {
    let srv = Server::start();
    let mut admin = srv.client();
    assert_eq!(cmd(&mut admin, &["CONFIG", "SET", "timeout", "1"]), ok());
    let mut idle = raw_tcp(srv.port());
    send(&mut idle, b"PING\r\n");
    assert_eq!(escape(&read_line(&mut idle)), escape(b"+PONG\r\n"));
    idle.set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    assert_eq!(
        wait_closed(&mut idle).map_err(|e| escape(&e)),
        Ok(()),
        "an idle client was not closed within 30 s of a 1 s timeout"
    );
    // A fresh client still works (and timeout 0 turns it off again).
    let mut c = srv.client();
    assert_eq!(cmd(&mut c, &["CONFIG", "SET", "timeout", "0"]), ok());
    assert_eq!(cmd(&mut c, &["PING"]), st("PONG"));
}

/// CONFIG SET maxclients 2: the third connection gets the error and is closed.
fn maxclients_scenario(port: u16) -> Vec<String> {
    let mut admin = connect(port);
    wait_connected_clients(&mut admin, 1);
    let mut v = vec![format!(
        "{}",
        cmd(&mut admin, &["CONFIG", "SET", "maxclients", "2"])
    )];
    let mut second = raw_tcp(port);
    send(&mut second, b"PING\r\n");
    v.push(escape(&read_line(&mut second)));
    let mut third = raw_tcp(port);
    v.push(escape(&read_until(&mut third, b"")));
    v.push(info_int(&mut admin, "stats", "rejected_connections").to_string());
    drop(second);
    // Once a slot frees up, a new connection is accepted.
    let mut last = Vec::new();
    let accepted = eventually(20, || {
        let mut s = raw_tcp(port);
        send(&mut s, b"PING\r\n");
        last = read_line(&mut s);
        last == b"+PONG\r\n"
    });
    v.push(format!("accepted again: {accepted} ({})", escape(&last)));
    v
}

#[test]
fn config_set_maxclients_rejects_extra_connections() {
    let srv = Server::start();
    let redis = RedisServer::start();
    let got = maxclients_scenario(srv.port());
    assert_eq!(
        got,
        vec![
            "+OK".to_string(),
            escape(b"+PONG\r\n"),
            escape(b"-ERR max number of clients reached\r\n<EOF>"),
            "1".to_string(),
            format!("accepted again: true ({})", escape(b"+PONG\r\n")),
        ]
    );
    if let Some(r) = &redis {
        assert_eq!(maxclients_scenario(r.port()), got, "redis");
    }
}

/// CONFIG RESETSTAT zeroes the counters; commands, rejections and errors are counted as Redis
/// counts them.
#[test]
fn config_resetstat_and_stat_counters() {
    let srv = Server::start();
    let redis = RedisServer::start();
    let run = |port: u16| -> Vec<i64> {
        let mut c = connect(port);
        let mut v = Vec::new();
        for _ in 0..10 {
            assert_eq!(cmd(&mut c, &["PING"]), st("PONG"));
        }
        let before = info_int(&mut c, "stats", "total_commands_processed");
        v.push(i64::from(before >= 10));
        for _ in 0..5 {
            cmd(&mut c, &["PING"]);
        }
        let after = info_int(&mut c, "stats", "total_commands_processed");
        // The 5 PINGs and the first INFO itself.
        v.push(after - before);
        assert_eq!(cmd(&mut c, &["CONFIG", "RESETSTAT"]), ok());
        // Unknown command, arity error, handler error: all error replies; only the last ran.
        cmd(&mut c, &["NOSUCHCMD"]);
        cmd(&mut c, &["PING"]);
        cmd(&mut c, &["GET"]);
        cmd(&mut c, &["SELECT", "99"]);
        let stats = info(&mut c, "stats");
        for field in [
            "total_commands_processed",
            "total_error_replies",
            "total_connections_received",
            "rejected_connections",
        ] {
            v.push(info_field(&stats, field).unwrap().parse().unwrap());
        }
        v
    };
    let got = run(srv.port());
    // RESETSTAT itself, PING, SELECT; three errors; no new connection.
    assert_eq!(got, vec![1, 6, 3, 3, 0, 0]);
    if let Some(r) = &redis {
        assert_eq!(run(r.port()), got, "redis");
    }
}

#[test]
fn config_rewrite_roundtrip() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("basalt.conf");
    // The file's port is overridden by the harness's --port flag.
    std::fs::write(
        &path,
        "# keep this comment\ntimeout 5\nport 1\n\n# and this one\nloglevel notice\n",
    )
    .unwrap();
    let path_s = path.to_string_lossy().into_owned();
    let mut srv = Server::start_with(&["--config", &path_s]);
    let mut c = srv.client();
    assert_eq!(
        cmd(&mut c, &["CONFIG", "GET", "port"]),
        bulks(&["port", &srv.port().to_string()])
    );
    assert_eq!(
        cmd(&mut c, &["CONFIG", "GET", "timeout"]),
        bulks(&["timeout", "5"])
    );
    assert!(
        info_field(&info(&mut c, "server"), "config_file")
            .is_some_and(|f| f.ends_with("basalt.conf")),
        "INFO server config_file"
    );
    assert_eq!(
        cmd(
            &mut c,
            &["CONFIG", "SET", "timeout", "42", "maxclients", "321"]
        ),
        ok()
    );
    assert_eq!(cmd(&mut c, &["CONFIG", "REWRITE"]), ok());
    let conf = std::fs::read_to_string(&path).unwrap();
    let lines: Vec<&str> = conf.lines().collect();
    for keep in [
        "# keep this comment",
        "# and this one",
        "timeout 42",
        "maxclients 321",
    ] {
        assert!(
            lines.contains(&keep),
            "{keep:?} missing from rewritten file:\n{conf}"
        );
    }
    assert_eq!(
        lines.iter().filter(|l| l.starts_with("timeout ")).count(),
        1,
        "{conf}"
    );
    assert!(!lines.contains(&"timeout 5"), "{conf}");
    drop(c);
    srv.restart();
    let mut c = srv.client();
    assert_eq!(
        cmd(&mut c, &["CONFIG", "GET", "timeout"]),
        bulks(&["timeout", "42"])
    );
    assert_eq!(
        cmd(&mut c, &["CONFIG", "GET", "maxclients"]),
        bulks(&["maxclients", "321"])
    );
}

/// A config file sets port, requirepass and databases; a flag overrides the password.
#[test]
fn config_file_with_flag_override() {
    let tmp = tempfile::tempdir().unwrap();
    let port = free_port();
    let path = tmp.path().join("file.conf");
    std::fs::write(
        &path,
        format!(
            "# settings from the file\nport {port}\nrequirepass filepw\ndatabases 4\ntimeout 11\n"
        ),
    )
    .unwrap();
    let data = tmp.path().join("data");
    let _srv = Spawned::start(
        &[
            "--config",
            &path.to_string_lossy(),
            "--dir",
            &data.to_string_lossy(),
            "--requirepass",
            "flagpw",
        ],
        port,
        &tmp.path().join("server.log"),
    );
    let mut c = connect(port);
    check_steps(
        &mut c,
        None,
        &[
            (&["GET", "x"], err("NOAUTH Authentication required.")),
            (
                &["AUTH", "filepw"],
                err("WRONGPASS invalid username-password pair or user is disabled."),
            ),
            (&["AUTH", "flagpw"], ok()),
            (&["SELECT", "4"], err("ERR DB index is out of range")),
            (&["SWAPDB", "0", "4"], err("ERR DB index is out of range")),
            (&["MOVE", "x", "4"], err("ERR DB index is out of range")),
            (&["SELECT", "3"], ok()),
            (&["SET", "in3", "v"], ok()),
            (&["CONFIG", "GET", "databases"], bulks(&["databases", "4"])),
            (
                &["CONFIG", "GET", "port"],
                bulks(&["port", &port.to_string()]),
            ),
            (&["CONFIG", "GET", "timeout"], bulks(&["timeout", "11"])),
            (
                &["CONFIG", "GET", "requirepass"],
                bulks(&["requirepass", "flagpw"]),
            ),
        ],
    );
    assert!(data.join("db").is_dir(), "--dir from the flag not used");
}

// ---------------------------------------------------------------------------------------------
// COMMAND
// ---------------------------------------------------------------------------------------------

#[test]
fn command_count_info_docs_list() {
    let srv = Server::start();
    let mut c = srv.client();
    let count = cmd(&mut c, &["COMMAND", "COUNT"])
        .as_int()
        .expect("COUNT int");
    let Reply::Array(all) = cmd(&mut c, &["COMMAND"]) else {
        panic!("COMMAND is not an array");
    };
    assert_eq!(all.len() as i64, count);
    assert!(count >= 50, "only {count} commands");
    let Reply::Array(list) = cmd(&mut c, &["COMMAND", "LIST"]) else {
        panic!("COMMAND LIST is not an array");
    };
    let names: Vec<String> = list.iter().map(text).collect();
    let top: Vec<&String> = names.iter().filter(|n| !n.contains('|')).collect();
    assert_eq!(
        top.len() as i64,
        count,
        "COMMAND LIST top-level names vs COUNT"
    );
    for want in [
        "get",
        "set",
        "ping",
        "hello",
        "auth",
        "client",
        "client|kill",
        "config",
        "config|get",
        "command",
        "command|getkeys",
        "info",
        "swapdb",
        "shutdown",
    ] {
        assert!(
            names.iter().any(|n| n == want),
            "{want} not in COMMAND LIST"
        );
    }
    // Every COMMAND entry names a command in the list.
    for entry in &all {
        let Reply::Array(fields) = entry else {
            panic!("COMMAND entry {entry}");
        };
        assert_eq!(fields.len(), 10, "{entry}");
        assert!(top.contains(&&text(&fields[0])), "{entry}");
    }
    let filtered = cmd(
        &mut c,
        &["COMMAND", "LIST", "FILTERBY", "PATTERN", "client|*"],
    );
    let Reply::Array(filtered) = filtered else {
        panic!("filtered list");
    };
    assert!(filtered.contains(&b("client|kill")) && !filtered.contains(&b("client")));

    // COMMAND INFO get: arity 2, readonly + fast, key at 1.
    let Reply::Array(info) = cmd(&mut c, &["COMMAND", "INFO", "get"]) else {
        panic!("COMMAND INFO get");
    };
    let Reply::Array(get) = &info[0] else {
        panic!("COMMAND INFO get entry");
    };
    assert_eq!(get[0], b("get"));
    assert_eq!(get[1], Reply::Int(2));
    let Reply::Array(flags) = &get[2] else {
        panic!("flags");
    };
    assert!(
        flags.contains(&st("readonly")) && flags.contains(&st("fast")),
        "{flags:?}"
    );
    assert_eq!(&get[3..6], &[Reply::Int(1), Reply::Int(1), Reply::Int(1)]);
    assert_eq!(
        cmd(&mut c, &["COMMAND", "INFO", "nosuch"]),
        Reply::Array(vec![Reply::Nil])
    );
    let Reply::Array(two) = cmd(&mut c, &["COMMAND", "INFO", "GET", "nosuch"]) else {
        panic!("COMMAND INFO GET nosuch");
    };
    assert_eq!(two.len(), 2);
    assert_eq!(two[0], info[0]);
    assert_eq!(two[1], Reply::Nil);

    // COMMAND DOCS get: a map (flattened) with summary and group.
    let Reply::Array(docs) = cmd(&mut c, &["COMMAND", "DOCS", "get"]) else {
        panic!("COMMAND DOCS get");
    };
    assert_eq!(docs[0], b("get"));
    let Reply::Array(fields) = &docs[1] else {
        panic!("COMMAND DOCS get fields");
    };
    let field = |name: &str| {
        fields
            .chunks(2)
            .find(|p| p[0] == b(name))
            .map(|p| p[1].clone())
    };
    assert_eq!(field("group"), Some(b("string")));
    assert!(field("summary").is_some_and(|s| !text(&s).is_empty()));
    assert_eq!(
        cmd(&mut c, &["COMMAND", "DOCS", "nosuch"]),
        Reply::Array(vec![])
    );
}

/// COMMAND INFO entries and COMMAND's errors are exactly Redis's where Basalt has the same command
/// metadata.
#[test]
fn command_info_and_errors_match_redis() {
    let srv = Server::start();
    let redis = RedisServer::start();
    let mut c = srv.client();
    let mut rc = redis.as_ref().map(|r| r.client());
    check_steps(
        &mut c,
        rc.as_mut(),
        &[
            (
                &["COMMAND", "FOO"],
                err("ERR unknown subcommand 'FOO'. Try COMMAND HELP."),
            ),
            (&["COMMAND", "COUNT", "x"], arity("command|count")),
            (&["COMMAND", "LIST", "x"], err("ERR syntax error")),
            (
                &["COMMAND", "LIST", "FILTERBY", "x", "y"],
                err("ERR syntax error"),
            ),
            (&["COMMAND", "DOCS", "nosuch"], Reply::Array(vec![])),
            (
                &["COMMAND", "INFO", "nosuch"],
                Reply::Array(vec![Reply::Nil]),
            ),
            (&["COMMAND", "GETKEYS"], arity("command|getkeys")),
            (&["COMMAND", "GETKEYS", "get"], arity("command|getkeys")),
            (&["COMMAND", "GETKEYS", "set", "k", "v"], bulks(&["k"])),
            (
                &["COMMAND", "GETKEYS", "SET", "k", "v", "EX", "10"],
                bulks(&["k"]),
            ),
            (
                &["COMMAND", "GETKEYS", "mset", "a", "1", "b", "2"],
                bulks(&["a", "b"]),
            ),
            (
                &["COMMAND", "GETKEYS", "del", "a", "b", "c"],
                bulks(&["a", "b", "c"]),
            ),
            (
                &["COMMAND", "GETKEYS", "rename", "a", "b"],
                bulks(&["a", "b"]),
            ),
            (
                &["COMMAND", "GETKEYS", "nosuch", "a"],
                err("ERR Invalid command specified"),
            ),
            (
                &["COMMAND", "GETKEYS", "set", "k"],
                err("ERR Invalid number of arguments specified for command"),
            ),
            (
                &["COMMAND", "GETKEYS", "get", "a", "b"],
                err("ERR Invalid number of arguments specified for command"),
            ),
            (
                &["COMMAND", "GETKEYS", "mset", "a"],
                err("ERR Invalid number of arguments specified for command"),
            ),
            (
                &["COMMAND", "GETKEYS", "config", "get", "x"],
                err("ERR The command has no key arguments"),
            ),
            (
                &["COMMAND", "GETKEYS", "ping", "x"],
                err("ERR The command has no key arguments"),
            ),
        ],
    );
    if let Some(rc) = rc.as_mut() {
        for name in [
            "get",
            "select",
            "swapdb",
            "incr",
            "hello",
            "auth",
            "config|get",
            "client|id",
            "command|count",
        ] {
            let theirs = cmd(rc, &["COMMAND", "INFO", name]);
            let ours = cmd(&mut c, &["COMMAND", "INFO", name]);
            assert_eq!(ours, theirs, "COMMAND INFO {name}");
        }
    }
}

// ---------------------------------------------------------------------------------------------
// INFO
// ---------------------------------------------------------------------------------------------

#[test]
fn info_sections_and_keyspace() {
    let srv = Server::start();
    let redis = RedisServer::start();
    let mut c = srv.client();
    wait_connected_clients(&mut c, 1);
    let default = text(&cmd(&mut c, &["INFO"]));
    let headers: Vec<&str> = default.lines().filter(|l| l.starts_with("# ")).collect();
    let expected = [
        "# Server",
        "# Clients",
        "# Memory",
        "# Persistence",
        "# Stats",
        "# Replication",
        "# CPU",
        "# Keyspace",
    ];
    let mut pos = 0;
    for h in expected {
        let at = headers[pos..]
            .iter()
            .position(|x| *x == h)
            .unwrap_or_else(|| panic!("{h} missing or out of order in INFO: {headers:?}"));
        pos += at + 1;
    }
    assert!(default.contains("\r\n"), "INFO lines end with CRLF");
    assert_eq!(
        info_field(&default, "redis_version").as_deref(),
        Some("7.0.15")
    );
    assert_eq!(
        info_field(&default, "tcp_port"),
        Some(srv.port().to_string())
    );
    assert_eq!(info_field(&default, "role").as_deref(), Some("master"));
    assert_eq!(
        info_field(&default, "connected_clients").as_deref(),
        Some("1")
    );

    let two = info(&mut c, "server");
    assert!(
        two.starts_with("# Server\r\n") && !two.contains("# Clients"),
        "{two}"
    );
    let sc = text(&cmd(&mut c, &["INFO", "clients", "SERVER"]));
    assert!(sc.contains("# Server") && sc.contains("# Clients") && !sc.contains("# Memory"));
    let everything = info(&mut c, "everything");
    assert!(everything.contains("# Commandstats") && everything.contains("# RocksDB"));

    let rocks = info(&mut c, "rocksdb");
    assert!(rocks.starts_with("# RocksDB\r\n"), "{rocks}");
    for field in [
        "rocksdb_estimate_num_keys",
        "rocksdb_block_cache_capacity",
        "rocksdb_background_errors",
    ] {
        assert!(
            info_field(&rocks, field).is_some(),
            "{field} missing:\n{rocks}"
        );
    }
    assert!(rocks.contains("\r\ncf_meta:keys="), "{rocks}");

    // INFO keyspace (keys without a TTL), and INFO of an unknown section, as in Redis.
    let mut rc = redis.as_ref().map(|r| r.client());
    check_steps(
        &mut c,
        rc.as_mut(),
        &[
            (&["INFO", "keyspace"], b("# Keyspace\r\n")),
            (&["INFO", "nosuch"], b("")),
            (&["SET", "a", "1"], ok()),
            (&["SET", "b", "1"], ok()),
            (&["SELECT", "2"], ok()),
            (&["SET", "c", "1"], ok()),
            (
                &["INFO", "KEYSPACE"],
                b("# Keyspace\r\ndb0:keys=2,expires=0,avg_ttl=0\r\ndb2:keys=1,expires=0,avg_ttl=0\r\n"),
            ),
            (&["FLUSHDB"], ok()),
            (
                &["INFO", "keyspace"],
                b("# Keyspace\r\ndb0:keys=2,expires=0,avg_ttl=0\r\n"),
            ),
        ],
    );
}

// ---------------------------------------------------------------------------------------------
// Protected mode and protocol limits
// ---------------------------------------------------------------------------------------------

/// A non-loopback IPv4 address of this machine (one we can bind to), if any.
fn local_non_loopback_ipv4() -> Option<Ipv4Addr> {
    let out = Command::new("hostname").arg("-I").output().ok()?;
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .filter_map(|w| w.parse::<Ipv4Addr>().ok())
        .find(|ip| !ip.is_loopback() && !ip.is_unspecified() && TcpListener::bind((*ip, 0)).is_ok())
}

/// Connect to this machine's own non-loopback address and send PING; the transcript to EOF or
/// the first reply line.
fn ping_via(ip: Ipv4Addr, port: u16) -> Vec<u8> {
    let mut s = TcpStream::connect((ip, port)).expect("connect via the local address");
    // A refused client is told so at once, without sending anything; only write PING when
    // nothing came (writing to a socket the server already closed could reset it before its
    // error line is read).
    s.set_read_timeout(Some(Duration::from_millis(500)))
        .unwrap();
    let mut first = [0u8; 1];
    match s.read(&mut first) {
        Ok(1) => {
            s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
            let mut all = first.to_vec();
            all.extend(read_until(&mut s, b""));
            all
        }
        Ok(_) => b"<EOF>".to_vec(),
        Err(_) => {
            s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
            send(&mut s, b"PING\r\n");
            read_line(&mut s)
        }
    }
}

/// Protected mode refuses clients that do not come from loopback while no password is set.
/// The server additionally listens on this machine's own non-loopback address, and the test
/// connects to that address (the peer is then not loopback). Without such an address there is no
/// way to reach the server from a non-loopback peer, so the test is skipped.
#[test]
fn protected_mode_denies_non_loopback_clients() {
    let Some(ip) = local_non_loopback_ipv4() else {
        notice("SKIPPED: protected mode test: this machine has no non-loopback IPv4 address");
        return;
    };
    let ip_s = ip.to_string();
    let srv = Server::start_with(&["--bind", &ip_s]);
    let denied = ping_via(ip, srv.port());
    let prefix: &[u8] = b"-DENIED Redis is running in protected mode because protected mode is \
        enabled and no password is set for the default user. In this mode connections are only \
        accepted from the loopback interface.";
    assert!(
        denied.starts_with(prefix) && denied.ends_with(b"\r\n<EOF>"),
        "non-loopback client in protected mode got {}",
        escape(&denied)
    );
    // Loopback clients are fine; turning protected mode off at runtime lets the others in.
    let mut c = srv.client();
    assert_eq!(cmd(&mut c, &["PING"]), st("PONG"));
    assert_eq!(
        cmd(&mut c, &["CONFIG", "SET", "protected-mode", "no"]),
        ok()
    );
    assert_eq!(escape(&ping_via(ip, srv.port())), escape(b"+PONG\r\n"));

    // --protected-mode no, and a password, both let non-loopback clients connect.
    let open = Server::start_with(&["--bind", &ip_s, "--protected-mode", "no"]);
    assert_eq!(escape(&ping_via(ip, open.port())), escape(b"+PONG\r\n"));
    let with_pw = Server::start_with(&["--bind", &ip_s, "--requirepass", "pw"]);
    assert_eq!(
        escape(&ping_via(ip, with_pw.port())),
        escape(b"-NOAUTH Authentication required.\r\n")
    );
}

/// Before AUTH, Redis's tight request limits apply (more than 10 arguments, or a bulk over
/// 16 KB, is a protocol error and the connection closes); after AUTH they do not.
#[test]
fn unauthenticated_request_limits() {
    let srv = Server::start_with(&["--requirepass", "pw"]);
    for (input, what) in [
        (&b"*20\r\n"[..], &b"multibulk length\r\n"[..]),
        (b"*1\r\n$20000\r\n", b"bulk length\r\n"),
    ] {
        let mut s = raw_tcp(srv.port());
        send(&mut s, input);
        let t = read_until(&mut s, b"");
        // Redis 7.0 says "unauthenticated multibulk length" / "unauthenticated bulk length";
        // see `error_texts_match_redis_7_0`.
        assert!(
            t.starts_with(b"-ERR Protocol error: ")
                && t.ends_with(b"<EOF>")
                && t[..t.len() - 5].ends_with(what),
            "unauthenticated {} got {}",
            escape(input),
            escape(&t)
        );
    }
    // Up to 10 arguments is fine before AUTH (and gets NOAUTH).
    let args: Vec<Vec<u8>> = std::iter::once(b"MSET".to_vec())
        .chain((0..9).map(|i| format!("a{i}").into_bytes()))
        .collect();
    let refs: Vec<&[u8]> = args.iter().map(|a| a.as_slice()).collect();
    let mut s = raw_tcp(srv.port());
    let mut input = resp(&refs);
    input.extend_from_slice(b"QUIT\r\n");
    send(&mut s, &input);
    assert_eq!(
        escape(&read_until(&mut s, b"")),
        escape(b"-NOAUTH Authentication required.\r\n+OK\r\n<EOF>")
    );
    // After AUTH: 21 arguments and a 20000-byte value.
    let args: Vec<Vec<u8>> = std::iter::once(b"MSET".to_vec())
        .chain((0..20).map(|i| format!("k{i}").into_bytes()))
        .collect();
    let refs: Vec<&[u8]> = args.iter().map(|a| a.as_slice()).collect();
    let mut input = b"AUTH pw\r\n".to_vec();
    input.extend_from_slice(&resp(&refs));
    let big = vec![b'v'; 20_000];
    input.extend_from_slice(&resp(&[b"SET", b"big", &big]));
    input.extend_from_slice(b"STRLEN big\r\nGET k18\r\n");
    assert_eq!(
        escape(&transcript(srv.port(), &input)),
        escape(b"+OK\r\n+OK\r\n+OK\r\n:20000\r\n$3\r\nk19\r\n$7\r\n__end__\r\n")
    );
}

/// Send `data` in pieces, ignoring write errors (the server may close mid-way).
fn send_all_lenient(s: &mut TcpStream, data: &[u8]) {
    for chunk in data.chunks(64 * 1024) {
        if s.write_all(chunk).is_err() {
            return;
        }
    }
}

/// A client whose unparsed input exceeds client-query-buffer-limit is disconnected without a
/// reply; other clients are unaffected.
#[test]
fn query_buffer_limit_closes_the_connection() {
    let srv = Server::start();
    let redis = RedisServer::start();
    let run = |port: u16| -> String {
        let mut admin = connect(port);
        assert_eq!(
            cmd(
                &mut admin,
                &["CONFIG", "SET", "client-query-buffer-limit", "1mb"]
            ),
            ok()
        );
        let mut s = raw_tcp(port);
        s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
        // A 3 MB argument of which 2 MB arrive: the request is never complete.
        let mut data = b"*2\r\n$4\r\nECHO\r\n$3000000\r\n".to_vec();
        data.extend(std::iter::repeat_n(b'x', 2_000_000));
        send_all_lenient(&mut s, &data);
        let closed = format!("{:?}", wait_closed(&mut s).map_err(|e| escape(&e)));
        assert_eq!(cmd(&mut admin, &["PING"]), st("PONG"));
        closed
    };
    let got = run(srv.port());
    assert_eq!(got, "Ok(())", "connection over the query buffer limit");
    if let Some(r) = &redis {
        assert_eq!(run(r.port()), got, "redis");
    }
}

/// A declared bulk length over proto-max-bulk-len is refused at once (the 600 MB are never
/// sent), exactly as Redis does; lowering the limit at runtime takes effect.
#[test]
fn bulk_length_over_proto_max_bulk_len_is_rejected() {
    let srv = Server::start();
    let redis = RedisServer::start();
    let run = |port: u16| -> Vec<String> {
        let mut v = Vec::new();
        let mut s = raw_tcp(port);
        send(&mut s, b"*2\r\n$4\r\nECHO\r\n$600000000\r\n");
        v.push(escape(&read_until(&mut s, b"")));
        let mut admin = connect(port);
        assert_eq!(
            cmd(&mut admin, &["CONFIG", "SET", "proto-max-bulk-len", "1mb"]),
            ok()
        );
        let mut s = raw_tcp(port);
        send(&mut s, b"*2\r\n$4\r\nECHO\r\n$2000000\r\n");
        v.push(escape(&read_until(&mut s, b"")));
        // At the limit is fine.
        let big = vec![b'y'; 1024 * 1024];
        let mut s = raw_tcp(port);
        send(&mut s, &resp(&[b"STRLEN", b"nokey"]));
        send(&mut s, &resp(&[b"SET", b"k", &big]));
        send(&mut s, b"STRLEN k\r\n");
        v.push(escape(&read_until(&mut s, b":1048576\r\n")));
        v
    };
    let got = run(srv.port());
    assert_eq!(
        got,
        vec![
            escape(b"-ERR Protocol error: invalid bulk length\r\n<EOF>"),
            escape(b"-ERR Protocol error: invalid bulk length\r\n<EOF>"),
            escape(b":0\r\n+OK\r\n:1048576\r\n"),
        ]
    );
    if let Some(r) = &redis {
        assert_eq!(run(r.port()), got, "redis");
    }
}

// ---------------------------------------------------------------------------------------------
// Known divergences from Redis 7.0 (server bugs); run with --ignored
// ---------------------------------------------------------------------------------------------

/// Redis rejects SHUTDOWN with contradicting flags (NOSAVE+SAVE, ABORT with anything) as a
/// syntax error and keeps running; Basalt shuts down on NOSAVE+SAVE.
#[test]
fn shutdown_rejects_conflicting_flags() {
    let srv = Server::start();
    let redis = RedisServer::start();
    let mut rc = redis.as_ref().map(|r| r.client());
    check_steps(
        &mut srv.client(),
        rc.as_mut(),
        &[
            (&["SHUTDOWN", "NOSAVE", "ABORT"], err("ERR syntax error")),
            (&["SHUTDOWN", "ABORT", "NOW"], err("ERR syntax error")),
            (&["SHUTDOWN", "NOSAVE", "SAVE"], err("ERR syntax error")),
            (&["SHUTDOWN", "SAVE", "NOSAVE"], err("ERR syntax error")),
            (&["PING"], st("PONG")),
        ],
    );
}

/// Redis applies `timeout` to every client, including those connected before CONFIG SET; in
/// Basalt a connection only picks the new value up after it next sends something.
#[test]
fn timeout_applies_to_clients_connected_before_config_set() {
    let srv = Server::start();
    let mut idle = raw_tcp(srv.port());
    send(&mut idle, b"PING\r\n");
    assert_eq!(escape(&read_line(&mut idle)), escape(b"+PONG\r\n"));
    let mut admin = srv.client();
    assert_eq!(cmd(&mut admin, &["CONFIG", "SET", "timeout", "1"]), ok());
    idle.set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    assert_eq!(
        wait_closed(&mut idle).map_err(|e| escape(&e)),
        Ok(()),
        "a client idle since before CONFIG SET timeout 1 was still open after 20 s"
    );
}

/// After `CONFIG SET requirepass ""`, Redis no longer applies the unauthenticated request
/// limits to a connection opened while the password was required; Basalt still does (and drops
/// the connection with a protocol error).
#[test]
fn removing_requirepass_lifts_unauthenticated_limits() {
    let srv = Server::start_with(&["--requirepass", "pw"]);
    let redis = RedisServer::start();
    let run = |port: u16| -> Vec<u8> {
        let mut early = raw_tcp(port);
        send(&mut early, b"PING\r\n");
        let mut out = read_line(&mut early);
        let mut admin = connect(port);
        assert_eq!(cmd(&mut admin, &["AUTH", "pw"]), ok());
        assert_eq!(cmd(&mut admin, &["CONFIG", "SET", "requirepass", ""]), ok());
        let args: Vec<Vec<u8>> = std::iter::once(b"MSET".to_vec())
            .chain((0..12).map(|i| format!("k{i}").into_bytes()))
            .collect();
        let refs: Vec<&[u8]> = args.iter().map(|a| a.as_slice()).collect();
        let mut input = b"PING\r\n".to_vec();
        input.extend_from_slice(&resp(&refs));
        input.extend_from_slice(END);
        send(&mut early, &input);
        out.extend(read_until(&mut early, END_REPLY));
        out
    };
    let want: &[u8] = b"-NOAUTH Authentication required.\r\n+PONG\r\n+OK\r\n$7\r\n__end__\r\n";
    if let Some(r) = &redis {
        let mut c = r.client();
        assert_eq!(cmd(&mut c, &["CONFIG", "SET", "requirepass", "pw"]), ok());
        assert_eq!(escape(&run(r.port())), escape(want), "redis");
    }
    assert_eq!(escape(&run(srv.port())), escape(want));
}

/// INFO keyspace's `expires=` counts keys with a TTL in Redis; Basalt always shows 0.
#[test]
fn info_keyspace_counts_keys_with_a_ttl() {
    let srv = Server::start();
    let redis = RedisServer::start();
    let run = |port: u16| -> Option<String> {
        let mut c = connect(port);
        assert_eq!(cmd(&mut c, &["SET", "t", "v", "EX", "1000"]), ok());
        assert_eq!(cmd(&mut c, &["SET", "p", "v"]), ok());
        // avg_ttl is an estimate; compare up to it.
        info_field(&info(&mut c, "keyspace"), "db0")
            .map(|v| v.split(",avg_ttl").next().unwrap_or("").to_string())
    };
    if let Some(r) = &redis {
        assert_eq!(run(r.port()).as_deref(), Some("keys=2,expires=1"), "redis");
    }
    assert_eq!(run(srv.port()).as_deref(), Some("keys=2,expires=1"));
}

/// Error texts where Basalt differs from Redis 7.0.15 (the version it reports): the
/// unauthenticated protocol limits, HELLO before AUTH, and some CONFIG SET value checks.
#[test]
fn error_texts_match_redis_7_0() {
    let srv = Server::start_with(&["--requirepass", "pw"]);
    let mut failures = Vec::new();
    let raw_cases: &[(&[u8], &[u8])] = &[
        (
            b"*20\r\n",
            b"-ERR Protocol error: unauthenticated multibulk length\r\n<EOF>",
        ),
        (
            b"*1\r\n$20000\r\n",
            b"-ERR Protocol error: unauthenticated bulk length\r\n<EOF>",
        ),
        (
            b"HELLO 3\r\nQUIT\r\n",
            b"-NOAUTH HELLO must be called with the client already authenticated, otherwise the \
              HELLO AUTH <user> <pass> option can be used to authenticate the client and select \
              the RESP protocol version at the same time\r\n+OK\r\n<EOF>",
        ),
    ];
    for (input, want) in raw_cases {
        let mut s = raw_tcp(srv.port());
        send(&mut s, input);
        let got = read_until(&mut s, b"");
        if got != *want {
            failures.push(format!(
                "{}: basalt {} redis {}",
                escape(input),
                escape(&got),
                escape(want)
            ));
        }
    }
    let failed = |arg: &str, why: &str| {
        err(&format!(
            "ERR CONFIG SET failed (possibly related to argument '{arg}') - {why}"
        ))
    };
    let mut c = srv.client();
    assert_eq!(cmd(&mut c, &["AUTH", "pw"]), ok());
    let steps: &[Step<'_>] = &[
        (
            &["CONFIG", "SET", "timeout", "-1"],
            failed(
                "timeout",
                "argument must be between 0 and 2147483647 inclusive",
            ),
        ),
        (
            &["CONFIG", "SET", "proto-max-bulk-len", "1"],
            failed(
                "proto-max-bulk-len",
                "argument must be between 1048576 and 9223372036854775807 inclusive",
            ),
        ),
        (
            &["CONFIG", "SET", "client-query-buffer-limit", "1"],
            failed(
                "client-query-buffer-limit",
                "argument must be between 1048576 and 9223372036854775807 inclusive",
            ),
        ),
        (
            &["CONFIG", "SET", "appendfsync", "bad"],
            failed(
                "appendfsync",
                "argument(s) must be one of the following: everysec, always, no",
            ),
        ),
        (
            &["CONFIG", "SET", "loglevel", "bad"],
            failed(
                "loglevel",
                "argument(s) must be one of the following: debug, verbose, notice, warning",
            ),
        ),
    ];
    let redis = RedisServer::start();
    if let Some(r) = &redis {
        // The expectations above are what the reference server says.
        assert!(run_steps("redis", &mut r.client(), steps).is_empty());
    }
    failures.extend(run_steps("basalt", &mut c, steps));
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}

/// `rename-command` in the config file: a command renamed to "" is gone, one renamed to a
/// secret name answers only to it (inside MULTI too), and the rename survives CONFIG REWRITE.
#[test]
fn rename_command_hides_or_renames_commands() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("basalt.conf");
    std::fs::write(
        &path,
        "rename-command FLUSHALL \"\"\nrename-command config Secret-Config\n",
    )
    .unwrap();
    let path_s = path.to_string_lossy().into_owned();
    let srv = Server::start_with(&["--config", &path_s]);
    let mut c = srv.client();
    assert_eq!(
        cmd(&mut c, &["FLUSHALL"]).error_text(),
        Some("ERR unknown command 'FLUSHALL', with args beginning with: ")
    );
    assert!(cmd(&mut c, &["CONFIG", "GET", "port"]).is_error());
    assert_eq!(
        cmd(&mut c, &["secret-config", "GET", "timeout"]),
        bulks(&["timeout", "0"])
    );
    cmd(&mut c, &["MULTI"]);
    assert_eq!(
        cmd(&mut c, &["SECRET-CONFIG", "GET", "timeout"]),
        Reply::Simple("QUEUED".into())
    );
    assert_eq!(
        cmd(&mut c, &["EXEC"]),
        Reply::Array(vec![bulks(&["timeout", "0"])])
    );
    assert_eq!(cmd(&mut c, &["SECRET-CONFIG", "REWRITE"]), Reply::ok());
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(
        text.contains("rename-command config Secret-Config"),
        "{text}"
    );
}

#[test]
fn rename_command_of_an_unknown_command_stops_startup() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("basalt.conf");
    std::fs::write(&path, "rename-command nosuchcommand x\n").unwrap();
    let port = crate::harness::free_port();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_basalt"))
        .args([
            "--config",
            &path.to_string_lossy(),
            "--port",
            &port.to_string(),
        ])
        .args(["--dir", &tmp.path().join("d").to_string_lossy()])
        .output()
        .expect("run basalt");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("No such command in rename-command: nosuchcommand"),
        "{err}"
    );
}
