//! Reusable helpers for the integration tests: start the real `basalt` binary (and, for
//! differential tests, a real `redis-server`) on a free loopback port with a throw-away data
//! directory, and talk to them with either the `redis` crate or raw RESP.
//!
//! Layout of a server's temp dir: `<tmp>/data` is passed as `--dir`, `<tmp>/server.log` receives
//! stdout+stderr (appended across restarts, dumped into the panic message on startup failure).

#![allow(dead_code)]

use std::fmt;
use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use redis::ConnectionLike;

/// How long to wait for a freshly spawned server to answer PING.
const STARTUP_TIMEOUT: Duration = Duration::from_secs(30);
/// Read/write timeout on client sockets: a hung server fails the test instead of hanging it.
pub const IO_TIMEOUT: Duration = Duration::from_secs(30);

/// Print a line straight to the process's stderr, bypassing libtest's output capture, so that
/// skips and summary counts show up in a plain `cargo test` log (CI) too.
pub fn notice(msg: &str) {
    let mut e = std::io::stderr().lock();
    let _ = writeln!(e, "{msg}");
}

/// Path of the binary under test, provided by Cargo for integration tests.
pub const BASALT_BIN: &str = env!("CARGO_BIN_EXE_basalt");

// ---------------------------------------------------------------------------------------------
// Replies
// ---------------------------------------------------------------------------------------------

/// A server reply in a form that can be compared exactly between two servers.
///
/// Errors are values here (not `Err`), and keep the complete error line as the server sent it
/// (code + message, e.g. `"WRONGTYPE Operation against a key holding the wrong kind of value"`).
#[derive(Clone, Debug, PartialEq)]
pub enum Reply {
    Nil,
    Int(i64),
    Bulk(Vec<u8>),
    /// A status reply (`+OK`, `+PONG`, `+string`, ...).
    Simple(String),
    /// An error reply, the full line without the leading `-`.
    Error(String),
    Array(Vec<Reply>),
    Double(f64),
    Bool(bool),
    Map(Vec<(Reply, Reply)>),
    Set(Vec<Reply>),
    Verbatim(String),
    BigNumber(Vec<u8>),
    /// Not a reply: the client failed to get one (I/O error, connection closed, bad protocol...).
    Io(String),
}

impl Reply {
    pub fn is_error(&self) -> bool {
        matches!(self, Reply::Error(_))
    }

    /// The error line if this is an error reply.
    pub fn error_text(&self) -> Option<&str> {
        match self {
            Reply::Error(s) => Some(s),
            _ => None,
        }
    }

    pub fn as_int(&self) -> Option<i64> {
        match self {
            Reply::Int(i) => Some(*i),
            _ => None,
        }
    }

    pub fn as_bytes(&self) -> Option<&[u8]> {
        match self {
            Reply::Bulk(b) => Some(b),
            _ => None,
        }
    }

    pub fn ok() -> Reply {
        Reply::Simple("OK".into())
    }

    pub fn bulk(b: impl AsRef<[u8]>) -> Reply {
        Reply::Bulk(b.as_ref().to_vec())
    }
}

/// Reconstruct the error line exactly as the server sent it. redis-rs splits `-CODE rest` at the
/// first space into a code and an optional detail (the rest, verbatim), so joining them with one
/// space restores the original text.
pub fn server_error_line(e: &redis::ServerError) -> String {
    match e.details() {
        Some(d) => format!("{} {}", e.code(), d),
        None => e.code().to_string(),
    }
}

impl From<redis::Value> for Reply {
    fn from(v: redis::Value) -> Reply {
        use redis::Value as V;
        match v {
            V::Nil => Reply::Nil,
            V::Int(i) => Reply::Int(i),
            V::BulkString(b) => Reply::Bulk(b),
            V::Array(items) => Reply::Array(items.into_iter().map(Reply::from).collect()),
            V::SimpleString(s) => Reply::Simple(s),
            V::Okay => Reply::Simple("OK".into()),
            V::Map(kv) => Reply::Map(
                kv.into_iter()
                    .map(|(k, v)| (Reply::from(k), Reply::from(v)))
                    .collect(),
            ),
            V::Attribute { data, .. } => Reply::from(*data),
            V::Set(items) => Reply::Set(items.into_iter().map(Reply::from).collect()),
            V::Double(d) => Reply::Double(d),
            V::Boolean(b) => Reply::Bool(b),
            V::VerbatimString { text, .. } => Reply::Verbatim(text),
            V::BigNumber(n) => Reply::BigNumber(n),
            V::ServerError(e) => Reply::Error(server_error_line(&e)),
            other => Reply::Io(format!("unexpected reply type: {other:?}")),
        }
    }
}

/// Printable, unambiguous rendering of bytes: printable ASCII as is, everything else `\xNN`,
/// plus `\"`, `\\`, `\r`, `\n`, `\t` escapes, surrounded by double quotes.
pub fn escape(b: &[u8]) -> String {
    let mut s = String::with_capacity(b.len() + 2);
    s.push('"');
    for &c in b {
        match c {
            b'"' => s.push_str("\\\""),
            b'\\' => s.push_str("\\\\"),
            b'\r' => s.push_str("\\r"),
            b'\n' => s.push_str("\\n"),
            b'\t' => s.push_str("\\t"),
            0x20..=0x7e => s.push(c as char),
            _ => s.push_str(&format!("\\x{c:02x}")),
        }
    }
    s.push('"');
    s
}

/// Render a command (list of arguments) the way redis-cli would accept it.
pub fn escape_cmd<T: AsRef<[u8]>>(args: &[T]) -> String {
    args.iter()
        .map(|a| escape(a.as_ref()))
        .collect::<Vec<_>>()
        .join(" ")
}

impl fmt::Display for Reply {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Reply::Nil => write!(f, "(nil)"),
            Reply::Int(i) => write!(f, "(integer) {i}"),
            Reply::Bulk(b) => write!(f, "{}", escape(b)),
            Reply::Simple(s) => write!(f, "+{s}"),
            Reply::Error(s) => write!(f, "-{s}"),
            Reply::Array(items) => {
                write!(f, "[")?;
                for (i, it) in items.iter().enumerate() {
                    if i > 0 {
                        write!(f, ", ")?;
                    }
                    write!(f, "{it}")?;
                }
                write!(f, "]")
            }
            Reply::Double(d) => write!(f, "(double) {d}"),
            Reply::Bool(b) => write!(f, "(bool) {b}"),
            Reply::Map(kv) => {
                write!(f, "{{")?;
                for (i, (k, v)) in kv.iter().enumerate() {
                    if i > 0 {
                        write!(f, ", ")?;
                    }
                    write!(f, "{k}: {v}")?;
                }
                write!(f, "}}")
            }
            Reply::Set(items) => {
                write!(f, "(set) ")?;
                write!(f, "{}", Reply::Array(items.clone()))
            }
            Reply::Verbatim(s) => write!(f, "(verbatim) {s:?}"),
            Reply::BigNumber(n) => write!(f, "(bignum) {}", String::from_utf8_lossy(n)),
            Reply::Io(e) => write!(f, "<client/IO error: {e}>"),
        }
    }
}

/// Send an arbitrary command (first element is the command name) and return the reply, with
/// server errors as `Reply::Error` and client-side failures as `Reply::Io`.
pub fn raw<A: AsRef<[u8]>>(conn: &mut redis::Connection, args: &[A]) -> Reply {
    assert!(!args.is_empty(), "raw() needs at least a command name");
    let mut c = redis::Cmd::new();
    for a in args {
        c.arg(a.as_ref());
    }
    match conn.req_command(&c) {
        Ok(v) => Reply::from(v),
        Err(e) => match e.code() {
            // Defensive: req_command normally returns server errors as Ok(Value::ServerError).
            Some(code) => Reply::Error(match e.detail() {
                Some(d) => format!("{code} {d}"),
                None => code.to_string(),
            }),
            None => Reply::Io(e.to_string()),
        },
    }
}

/// `raw` with `&str` arguments, for readability in tests.
pub fn cmd(conn: &mut redis::Connection, args: &[&str]) -> Reply {
    raw(conn, args)
}

/// Open a client: no `CLIENT SETINFO` handshake (so the server sees only the test's commands),
/// with read/write timeouts.
pub fn connect(port: u16) -> redis::Connection {
    try_connect(port).unwrap_or_else(|e| panic!("cannot connect to 127.0.0.1:{port}: {e}"))
}

pub fn try_connect(port: u16) -> redis::RedisResult<redis::Connection> {
    use redis::IntoConnectionInfo;
    let info = ("127.0.0.1", port)
        .into_connection_info()?
        .set_redis_settings(redis::RedisConnectionInfo::default().set_skip_set_lib_name());
    let client = redis::Client::open(info)?;
    let conn = client.get_connection_with_timeout(Duration::from_secs(10))?;
    conn.set_read_timeout(Some(IO_TIMEOUT))?;
    conn.set_write_timeout(Some(IO_TIMEOUT))?;
    Ok(conn)
}

// ---------------------------------------------------------------------------------------------
// Raw TCP helpers (for protocol-level tests)
// ---------------------------------------------------------------------------------------------

pub fn raw_tcp(port: u16) -> TcpStream {
    let s = TcpStream::connect((Ipv4Addr::LOCALHOST, port))
        .unwrap_or_else(|e| panic!("connect 127.0.0.1:{port}: {e}"));
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.set_write_timeout(Some(Duration::from_secs(10))).unwrap();
    s.set_nodelay(true).unwrap();
    s
}

/// Read one CRLF-terminated line (including the CRLF) from a raw stream. Returns what was read
/// so far if the peer closes first.
pub fn read_line(s: &mut TcpStream) -> Vec<u8> {
    let mut out = Vec::new();
    let mut b = [0u8; 1];
    loop {
        match s.read(&mut b) {
            Ok(0) => return out,
            Ok(_) => {
                out.push(b[0]);
                if out.ends_with(b"\r\n") {
                    return out;
                }
            }
            Err(e) => panic!(
                "reading a reply line failed after {:?}: {e}",
                String::from_utf8_lossy(&out)
            ),
        }
    }
}

/// Read one line and assert it equals `expected` (shown escaped on failure).
#[track_caller]
pub fn expect_line(s: &mut TcpStream, expected: &[u8]) {
    let got = read_line(s);
    assert_eq!(escape(&got), escape(expected), "unexpected reply line");
}

/// Whether the peer closed the connection (EOF) within the stream's read timeout. Any data
/// that arrives first is returned as `Err(data)`.
pub fn wait_closed(s: &mut TcpStream) -> Result<(), Vec<u8>> {
    let mut buf = [0u8; 4096];
    let mut extra = Vec::new();
    loop {
        match s.read(&mut buf) {
            Ok(0) => return if extra.is_empty() { Ok(()) } else { Err(extra) },
            Ok(n) => extra.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return Ok(()),
            Err(_) => return Err(extra), // timeout: still open
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Process management shared by Server and RedisServer
// ---------------------------------------------------------------------------------------------

/// Reserve a free loopback port: bind port 0, read the port, drop the listener.
pub fn free_port() -> u16 {
    let l = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind 127.0.0.1:0");
    l.local_addr().unwrap().port()
}

/// Wait until nothing listens on `port` any more (after a kill), so a restart can bind it.
fn wait_port_free(port: u16) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if TcpListener::bind((Ipv4Addr::LOCALHOST, port)).is_ok() {
            return;
        }
        if Instant::now() > deadline {
            panic!("port {port} still in use 30 s after the server was stopped");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Send `PING` in RESP over a raw socket; true once a complete reply line comes back.
/// Any reply counts as "up" (e.g. `-NOAUTH` when a password is required).
fn answers_ping(port: u16) -> bool {
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let Ok(mut s) = TcpStream::connect_timeout(&addr, Duration::from_millis(500)) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
    let _ = s.set_write_timeout(Some(Duration::from_secs(2)));
    if s.write_all(b"*1\r\n$4\r\nPING\r\n").is_err() {
        return false;
    }
    let mut buf = Vec::new();
    let mut b = [0u8; 64];
    while !buf.ends_with(b"\r\n") {
        match s.read(&mut b) {
            Ok(0) | Err(_) => return false,
            Ok(n) => buf.extend_from_slice(&b[..n]),
        }
    }
    buf.starts_with(b"+") || buf.starts_with(b"-")
}

fn read_log(path: &Path) -> String {
    std::fs::read(path)
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .unwrap_or_else(|e| format!("<cannot read log {}: {e}>", path.display()))
}

/// Spawn `program args...` with stdout+stderr appended to `log`, then wait until it answers
/// PING. On failure returns the reason (the child is killed).
fn spawn_and_wait(program: &str, args: &[String], log: &Path, port: u16) -> Result<Child, String> {
    let mut f = OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
        .map_err(|e| format!("open log {}: {e}", log.display()))?;
    let _ = writeln!(f, "===== harness: {program} {}", args.join(" "));
    let f2 = f.try_clone().map_err(|e| e.to_string())?;
    let mut child = Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::from(f))
        .stderr(Stdio::from(f2))
        .spawn()
        .map_err(|e| format!("spawn {program}: {e}"))?;
    let deadline = Instant::now() + STARTUP_TIMEOUT;
    loop {
        if let Ok(Some(status)) = child.try_wait() {
            return Err(format!("{program} exited during startup with {status}"));
        }
        if answers_ping(port) {
            return Ok(child);
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            return Err(format!(
                "{program} did not answer PING on port {port} within {STARTUP_TIMEOUT:?}"
            ));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Send SIGTERM with the `kill` utility (std has no portable way); false if it could not run.
fn sigterm(child: &Child) -> bool {
    Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Wait up to `timeout` for the child to exit; true if it did.
fn wait_exit(child: &mut Child, timeout: Duration) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        match child.try_wait() {
            Ok(Some(_)) => return true,
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(20)),
            _ => return false,
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Basalt
// ---------------------------------------------------------------------------------------------

/// A running `basalt` process on its own port and data directory.
pub struct Server {
    child: Option<Child>,
    port: u16,
    args: Vec<String>,
    tmp: tempfile::TempDir,
    data: PathBuf,
    log: PathBuf,
}

impl Server {
    pub fn start() -> Server {
        Server::start_with(&[])
    }

    /// Start with extra command-line arguments (after `--port/--bind/--dir`).
    pub fn start_with(extra: &[&str]) -> Server {
        let tmp = tempfile::Builder::new()
            .prefix("basalt-it-")
            .tempdir()
            .expect("create temp dir");
        let data = tmp.path().join("data");
        std::fs::create_dir_all(&data).unwrap();
        let log = tmp.path().join("server.log");
        // A port picked by free_port() can in rare cases be taken by someone else before the
        // server binds it: retry with a new port a couple of times.
        let mut last_err = String::new();
        for _attempt in 0..3 {
            let port = free_port();
            let mut args = vec![
                "--port".to_string(),
                port.to_string(),
                "--bind".to_string(),
                "127.0.0.1".to_string(),
                "--dir".to_string(),
                data.to_string_lossy().into_owned(),
            ];
            args.extend(extra.iter().map(|s| s.to_string()));
            match spawn_and_wait(BASALT_BIN, &args, &log, port) {
                Ok(child) => {
                    return Server {
                        child: Some(child),
                        port,
                        args,
                        tmp,
                        data,
                        log,
                    }
                }
                Err(e) => {
                    last_err = e;
                    let text = read_log(&log);
                    if !(text.contains("in use") || text.contains("AddrInUse")) {
                        break;
                    }
                }
            }
        }
        panic!(
            "basalt failed to start: {last_err}\n----- {} -----\n{}\n-----",
            log.display(),
            read_log(&log)
        );
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The data directory passed as `--dir`.
    pub fn dir(&self) -> &Path {
        &self.data
    }

    pub fn log_path(&self) -> &Path {
        &self.log
    }

    pub fn log_contents(&self) -> String {
        read_log(&self.log)
    }

    pub fn client(&self) -> redis::Connection {
        connect(self.port)
    }

    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(|c| c.id())
    }

    /// SIGKILL the process and reap it.
    pub fn kill9(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill(); // SIGKILL on Unix
            let _ = c.wait();
        }
    }

    /// Graceful stop: SIGTERM, wait up to 20 s, then SIGKILL. Returns true if it exited by
    /// itself after SIGTERM.
    pub fn stop(&mut self) -> bool {
        let Some(mut c) = self.child.take() else {
            return true;
        };
        let clean = sigterm(&c) && wait_exit(&mut c, Duration::from_secs(20));
        if !clean {
            notice(&format!(
                "basalt (port {}) did not exit on SIGTERM within 20 s; sending SIGKILL",
                self.port
            ));
            let _ = c.kill();
            let _ = c.wait();
        }
        clean
    }

    /// Start again on the same data directory and port. Stops the running process first
    /// (gracefully, see `stop`), unless it was already killed with `kill9`.
    pub fn restart(&mut self) {
        self.stop();
        wait_port_free(self.port);
        match spawn_and_wait(BASALT_BIN, &self.args, &self.log, self.port) {
            Ok(child) => self.child = Some(child),
            Err(e) => panic!(
                "basalt failed to restart: {e}\n----- {} -----\n{}\n-----",
                self.log.display(),
                read_log(&self.log)
            ),
        }
    }

    /// True if the process is still running (has not exited).
    pub fn is_alive(&mut self) -> bool {
        match self.child.as_mut() {
            Some(c) => matches!(c.try_wait(), Ok(None)),
            None => false,
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
        if std::env::var_os("BASALT_IT_KEEP_TMP").is_some() {
            let p = std::mem::replace(&mut self.tmp, tempfile::tempdir().expect("temp dir")).keep();
            eprintln!("kept basalt temp dir {}", p.display());
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Reference redis-server
// ---------------------------------------------------------------------------------------------

/// A real `redis-server` (no persistence) for differential tests.
pub struct RedisServer {
    child: Option<Child>,
    port: u16,
    _tmp: tempfile::TempDir,
    log: PathBuf,
}

pub const REDIS_SERVER_BIN: &str = "redis-server";

/// Whether `redis-server` can be executed.
pub fn redis_server_available() -> bool {
    Command::new(REDIS_SERVER_BIN)
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false)
}

impl RedisServer {
    /// Start a fresh redis-server, or return None (printing `SKIPPED: redis-server not
    /// installed` to stderr) when the binary is absent.
    pub fn start() -> Option<RedisServer> {
        RedisServer::start_loading(None)
    }

    /// Start a redis-server that loads `rdb` at startup (copied into its directory as
    /// `dump.rdb`); None when redis-server is absent, as [`RedisServer::start`].
    pub fn start_loading(rdb: Option<&Path>) -> Option<RedisServer> {
        if !redis_server_available() {
            notice("SKIPPED: redis-server not installed");
            return None;
        }
        let tmp = tempfile::Builder::new()
            .prefix("redis-ref-")
            .tempdir()
            .expect("create temp dir");
        if let Some(rdb) = rdb {
            std::fs::copy(rdb, tmp.path().join("dump.rdb")).expect("copy the RDB file");
        }
        let log = tmp.path().join("redis.log");
        let mut last_err = String::new();
        for _attempt in 0..3 {
            let port = free_port();
            let args: Vec<String> = [
                "--port",
                &port.to_string(),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dbfilename",
                "dump.rdb",
                "--dir",
                &tmp.path().to_string_lossy(),
            ]
            .iter()
            .map(|s| s.to_string())
            .collect();
            match spawn_and_wait(REDIS_SERVER_BIN, &args, &log, port) {
                Ok(child) => {
                    return Some(RedisServer {
                        child: Some(child),
                        port,
                        _tmp: tmp,
                        log,
                    })
                }
                Err(e) => last_err = e,
            }
        }
        panic!(
            "redis-server failed to start: {last_err}\n----- {} -----\n{}\n-----",
            log.display(),
            read_log(&log)
        );
    }

    /// The server's directory, where SAVE writes `dump.rdb`.
    pub fn dir(&self) -> &Path {
        self._tmp.path()
    }

    /// The server's log so far.
    pub fn log_contents(&self) -> String {
        read_log(&self.log)
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn client(&self) -> redis::Connection {
        connect(self.port)
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// Read a whole file to a string (lossy); for log dumps in assertion messages.
pub fn file_text(path: &Path) -> String {
    let mut s = Vec::new();
    match File::open(path).and_then(|mut f| f.read_to_end(&mut s)) {
        Ok(_) => String::from_utf8_lossy(&s).into_owned(),
        Err(e) => format!("<cannot read {}: {e}>", path.display()),
    }
}

/// The harness itself: a server that cannot start makes `Server::start_with` panic with the
/// server's own output (here, the command-line parser's complaint about the bad flag).
#[test]
fn harness_reports_startup_failure_with_log() {
    let err = std::panic::catch_unwind(|| {
        Server::start_with(&["--no-such-flag-for-the-harness-test"]);
    })
    .expect_err("basalt started with an unknown flag");
    let msg = err
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| err.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_default();
    assert!(
        msg.contains("basalt failed to start"),
        "panic message: {msg}"
    );
    assert!(
        msg.matches("--no-such-flag-for-the-harness-test").count() >= 2,
        "the log (with the server's error about the flag) should be in the message: {msg}"
    );
}

/// Everything the server sends until the transcript ends with `stop` (empty: until EOF).
/// `<EOF>` is appended when the peer closed, `<TIMEOUT>` when nothing came for the socket's
/// read timeout.
pub fn read_until(s: &mut TcpStream, stop: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut buf = [0u8; 16 * 1024];
    loop {
        if !stop.is_empty() && out.ends_with(stop) {
            return out;
        }
        match s.read(&mut buf) {
            Ok(0) => {
                out.extend_from_slice(b"<EOF>");
                return out;
            }
            Ok(n) => out.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => {
                out.extend_from_slice(b"<EOF>");
                return out;
            }
            Err(_) => {
                out.extend_from_slice(b"<TIMEOUT>");
                return out;
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Scripted steps, polling and raw pipelines shared by the test modules
// ---------------------------------------------------------------------------------------------

/// One command and the reply it must get.
pub type Step<'a> = (&'a [&'a str], Reply);

/// Runs the steps in order on one connection; one line per reply that is not the expected one.
pub fn run_steps(who: &str, conn: &mut redis::Connection, steps: &[Step<'_>]) -> Vec<String> {
    steps
        .iter()
        .filter_map(|(args, want)| {
            let got = cmd(conn, args);
            (got != *want)
                .then(|| format!("{who}: {} -> {got} (expected {want})", escape_cmd(args)))
        })
        .collect()
}

/// The steps must get exactly the expected replies from Basalt and, when given, from the
/// reference redis-server.
#[track_caller]
pub fn check_steps(
    basalt: &mut redis::Connection,
    redis: Option<&mut redis::Connection>,
    steps: &[Step<'_>],
) {
    let mut failures = run_steps("basalt", basalt, steps);
    if let Some(r) = redis {
        failures.extend(run_steps("redis", r, steps));
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}

/// Poll `f` every 50 ms until it returns true or `secs` pass. A liveness bound, not a timing
/// assertion: the deadlines are far above the expected delays.
pub fn eventually(secs: u64, mut f: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        if f() {
            return true;
        }
        if Instant::now() > deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Sends `cmds` in one pipeline and returns one reply per command.
pub fn pipeline(conn: &mut redis::Connection, cmds: &[Vec<Vec<u8>>]) -> Vec<Reply> {
    use redis::ConnectionLike;
    let mut packed = Vec::new();
    for args in cmds {
        packed.extend_from_slice(format!("*{}\r\n", args.len()).as_bytes());
        for a in args {
            packed.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
            packed.extend_from_slice(a);
            packed.extend_from_slice(b"\r\n");
        }
    }
    match conn.req_packed_commands(&packed, 0, cmds.len()) {
        Ok(values) => values.into_iter().map(Reply::from).collect(),
        Err(e) => vec![Reply::Io(e.to_string()); cmds.len()],
    }
}
