//! Client-side caching (CLIENT TRACKING): invalidation pushes to RESP3 clients, BCAST prefixes,
//! NOLOOP, OPTIN with CLIENT CACHING, REDIRECT to a RESP2 subscriber of
//! `__redis__:invalidate`, flushes; the same transcript replayed on redis-server, raw bytes
//! compared.

use crate::harness::{raw_tcp, read_until, RedisServer, Server};
use std::io::Write;
use std::net::TcpStream;

/// Connections: 0 = RESP3 tracker, 1 = RESP2 writer, 2 = RESP2 redirect target (subscribed),
/// 3 = RESP3 BCAST tracker with NOLOOP, 4 = RESP2 client redirecting to 2, 5 = RESP3 OPTIN.
const CONNS: usize = 6;

/// What each connection answers to its marker command, so everything before it is the step's
/// output (a subscribed RESP2 client answers PING with an array).
fn marker(conn: usize) -> &'static [u8] {
    if conn == 2 {
        b"*2\r\n$4\r\npong\r\n$0\r\n\r\n"
    } else {
        b"+PONG\r\n"
    }
}

/// (connection, command, compare the outputs of this step).
const STEPS: &[(usize, &str, bool)] = &[
    (2, "SUBSCRIBE __redis__:invalidate", true),
    (0, "HELLO 3", false),
    (3, "HELLO 3", false),
    (5, "HELLO 3", false),
    (0, "CLIENT TRACKING on", true),
    (0, "GET k1", true),
    (0, "MGET k2 k3", true),
    (1, "SET k1 v", true),
    (1, "SET k1 v2", true),
    (1, "MSET k3 a k2 b", true),
    (0, "CLIENT TRACKINGINFO", true),
    (0, "CLIENT GETREDIR", true),
    (3, "CLIENT TRACKING on BCAST PREFIX user: NOLOOP", true),
    (1, "SET user:1 x", true),
    (3, "SET user:2 y", true),
    (1, "SET other z", true),
    (4, "REDIRECT-TO-2", true),
    (4, "GET r1", true),
    (1, "SET r1 z", true),
    (5, "CLIENT TRACKING on OPTIN", true),
    (5, "GET o1", true),
    (5, "CLIENT CACHING yes", true),
    (5, "GET o2", true),
    (1, "MSET o1 1 o2 2", true),
    (5, "CLIENT CACHING no", true),
    (0, "GET k1", true),
    (0, "CLIENT TRACKING off", true),
    (1, "SET k1 q", true),
    (0, "GET h1", true),
    (1, "FLUSHALL", true),
    (1, "SET user:9 x", true),
];

fn run(port: u16) -> Vec<(usize, String, bool, String)> {
    let mut conns: Vec<TcpStream> = (0..CONNS).map(|_| raw_tcp(port)).collect();
    // The id of connection 2, for the REDIRECT step.
    conns[2].write_all(b"CLIENT ID\r\n").unwrap();
    let id_line = read_until(&mut conns[2], b"\r\n");
    let id = String::from_utf8_lossy(&id_line[1..id_line.len() - 2]).into_owned();
    let mut out = Vec::new();
    for &(c, cmd, compare) in STEPS {
        let cmd = if cmd == "REDIRECT-TO-2" {
            format!("CLIENT TRACKING on REDIRECT {id}")
        } else {
            cmd.to_string()
        };
        conns[c].write_all(format!("{cmd}\r\n").as_bytes()).unwrap();
        // Then every connection's pending output, up to its marker reply: the acting one first,
        // so its command has run (and sent its invalidations) before the others are read.
        let order = std::iter::once(c).chain((0..CONNS).filter(|&i| i != c));
        for i in order {
            let s = &mut conns[i];
            s.write_all(b"PING\r\n").unwrap();
            let got = read_until(s, marker(i));
            let text = String::from_utf8_lossy(&got[..got.len() - marker(i).len()]).into_owned();
            out.push((c, cmd.clone(), compare, format!("conn {i}: {text:?}")));
        }
    }
    out
}

#[test]
fn tracking_transcript_matches_redis() {
    let srv = Server::start();
    let got = run(srv.port());
    // Spot checks that hold without a reference server.
    let joined: String = got.iter().map(|g| g.3.clone()).collect();
    assert!(
        joined.contains(">2\\r\\n$10\\r\\ninvalidate\\r\\n*1\\r\\n$2\\r\\nk1"),
        "{joined}"
    );
    let Some(redis) = RedisServer::start() else {
        return;
    };
    let want = run(redis.port());
    for (g, w) in got.iter().zip(&want) {
        if g.2 {
            assert_eq!(g.3, w.3, "after conn {} ran {:?}", g.0, g.1);
        }
    }
}

/// A cached key that expires is invalidated by the active expiry cycle, with no command.
#[test]
fn expiry_invalidates_cached_keys() {
    let srv = Server::start();
    let mut c = srv.client();
    crate::harness::raw(&mut c, &["SET", "e1", "v", "PX", "100"]);
    let mut s = raw_tcp(srv.port());
    s.write_all(b"HELLO 3\r\nCLIENT TRACKING on\r\nGET e1\r\n")
        .unwrap();
    read_until(&mut s, b"$1\r\nv\r\n");
    let got = read_until(&mut s, b"*1\r\n$2\r\ne1\r\n");
    assert!(
        got.ends_with(b">2\r\n$10\r\ninvalidate\r\n*1\r\n$2\r\ne1\r\n"),
        "{}",
        String::from_utf8_lossy(&got)
    );
}
