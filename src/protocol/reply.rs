//! Typed replies and their RESP2/RESP3 encoding.
//!
//! Handlers return a [`Reply`]; the connection encodes it for the protocol the client chose with
//! HELLO. RESP3-only shapes degrade the way Redis degrades them for RESP2 clients: maps flatten into
//! arrays, doubles become bulk strings, booleans become integers, verbatim strings become bulk.

use bytes::Bytes;
use std::borrow::Cow;

/// A reply to one command.
#[derive(Debug, Clone, PartialEq)]
pub enum Reply {
    /// `+OK`.
    Ok,
    /// A status line such as `PONG` or `QUEUED`.
    Status(Cow<'static, str>),
    /// An error line including its code, e.g. `ERR syntax error`.
    Error(Cow<'static, str>),
    Int(i64),
    Bulk(Bytes),
    /// The null bulk string (`$-1` / `_`).
    Nil,
    /// The null array (`*-1` / `_`).
    NilArray,
    Double(f64),
    /// A double the command formatted itself (GEO coordinates, printed as Redis's
    /// `addReplyHumanLongDouble` prints them): a RESP3 double, a bulk string for RESP2.
    FormattedDouble(Bytes),
    Bool(bool),
    Array(Vec<Reply>),
    /// A map; flattened to an array for RESP2.
    Map(Vec<(Reply, Reply)>),
    /// A set; an array for RESP2.
    Set(Vec<Reply>),
    /// A big number (`(` in RESP3), as a Lua script may return; a bulk string for RESP2.
    BigNumber(Cow<'static, str>),
    /// Verbatim text with a three-letter format (`txt`); a bulk string for RESP2.
    Verbatim(&'static str, String),
    /// Out-of-band data such as a pub/sub message or subscription confirmation: a push frame
    /// (`>`) for RESP3, an array for RESP2 (where pub/sub replies have always been arrays).
    Push(Vec<Reply>),
    /// Several replies to one command, sent back to back with no frame around them: SUBSCRIBE
    /// confirms each of its channels separately, as Redis does.
    Sequence(Vec<Reply>),
}

impl Reply {
    /// A status reply from a static string.
    pub const fn status(s: &'static str) -> Self {
        Reply::Status(Cow::Borrowed(s))
    }

    /// A bulk reply copying the given bytes.
    pub fn bulk(b: &[u8]) -> Self {
        Reply::Bulk(Bytes::copy_from_slice(b))
    }

    /// A bulk reply holding a string.
    pub fn text(s: impl Into<String>) -> Self {
        Reply::Bulk(Bytes::from(s.into().into_bytes()))
    }

    /// An array of bulk strings.
    pub fn bulks<I, B>(items: I) -> Self
    where
        I: IntoIterator<Item = B>,
        B: Into<Bytes>,
    {
        Reply::Array(items.into_iter().map(|b| Reply::Bulk(b.into())).collect())
    }

    /// Encodes the reply, appending to `out`.
    pub fn encode(&self, out: &mut Vec<u8>, resp3: bool) {
        match self {
            Reply::Ok => out.extend_from_slice(b"+OK\r\n"),
            Reply::Status(s) => line(out, b'+', s.as_bytes()),
            Reply::Error(e) => error_line(out, e),
            Reply::Int(i) => {
                out.push(b':');
                out.extend_from_slice(itoa::Buffer::new().format(*i).as_bytes());
                out.extend_from_slice(b"\r\n");
            }
            Reply::Bulk(b) => bulk(out, b),
            Reply::Nil => out.extend_from_slice(if resp3 { b"_\r\n" } else { b"$-1\r\n" }),
            Reply::NilArray => out.extend_from_slice(if resp3 { b"_\r\n" } else { b"*-1\r\n" }),
            Reply::Double(d) => {
                let text = crate::util::num::fmt_double(*d);
                if resp3 {
                    line(out, b',', text.as_bytes());
                } else {
                    bulk(out, text.as_bytes());
                }
            }
            Reply::FormattedDouble(text) => {
                if resp3 {
                    line(out, b',', text);
                } else {
                    bulk(out, text);
                }
            }
            Reply::Bool(b) => {
                if resp3 {
                    out.extend_from_slice(if *b { b"#t\r\n" } else { b"#f\r\n" });
                } else {
                    out.extend_from_slice(if *b { b":1\r\n" } else { b":0\r\n" });
                }
            }
            Reply::Array(items) => {
                header(out, b'*', items.len());
                for item in items {
                    item.encode(out, resp3);
                }
            }
            Reply::Set(items) => {
                header(out, if resp3 { b'~' } else { b'*' }, items.len());
                for item in items {
                    item.encode(out, resp3);
                }
            }
            Reply::Map(pairs) => {
                if resp3 {
                    header(out, b'%', pairs.len());
                } else {
                    header(out, b'*', pairs.len() * 2);
                }
                for (k, v) in pairs {
                    k.encode(out, resp3);
                    v.encode(out, resp3);
                }
            }
            Reply::Push(items) => {
                header(out, if resp3 { b'>' } else { b'*' }, items.len());
                for item in items {
                    item.encode(out, resp3);
                }
            }
            Reply::Sequence(replies) => {
                for reply in replies {
                    reply.encode(out, resp3);
                }
            }
            Reply::BigNumber(n) => {
                if resp3 {
                    line(out, b'(', n.as_bytes());
                } else {
                    bulk(out, n.as_bytes());
                }
            }
            Reply::Verbatim(format, text) => {
                if resp3 {
                    header(out, b'=', text.len() + 4);
                    out.extend_from_slice(format.as_bytes());
                    out.push(b':');
                    out.extend_from_slice(text.as_bytes());
                    out.extend_from_slice(b"\r\n");
                } else {
                    bulk(out, text.as_bytes());
                }
            }
        }
    }
}

impl From<Vec<u8>> for Reply {
    fn from(v: Vec<u8>) -> Self {
        Reply::Bulk(Bytes::from(v))
    }
}

impl From<Option<Vec<u8>>> for Reply {
    fn from(v: Option<Vec<u8>>) -> Self {
        v.map_or(Reply::Nil, Reply::from)
    }
}

impl From<i64> for Reply {
    fn from(v: i64) -> Self {
        Reply::Int(v)
    }
}

/// Writes an aggregate header such as `*3\r\n`.
pub fn header(out: &mut Vec<u8>, kind: u8, len: usize) {
    out.push(kind);
    out.extend_from_slice(itoa::Buffer::new().format(len).as_bytes());
    out.extend_from_slice(b"\r\n");
}

/// Writes a bulk string.
pub fn bulk(out: &mut Vec<u8>, b: &[u8]) {
    header(out, b'$', b.len());
    out.extend_from_slice(b);
    out.extend_from_slice(b"\r\n");
}

fn line(out: &mut Vec<u8>, kind: u8, s: &[u8]) {
    out.push(kind);
    push_sanitized(out, s);
    out.extend_from_slice(b"\r\n");
}

/// A CR or LF inside a line reply would split the frame; Redis replaces them with spaces.
fn push_sanitized(out: &mut Vec<u8>, s: &[u8]) {
    out.extend(
        s.iter()
            .map(|&c| if c == b'\r' || c == b'\n' { b' ' } else { c }),
    );
}

/// Writes an error line; a text without a code gets Redis's `ERR` prefix. A text starting with
/// `-` is sent as it is (an error a Lua script returned, which Redis does not give a code).
pub fn error_line(out: &mut Vec<u8>, text: &str) {
    if let Some(raw) = text.strip_prefix('-') {
        out.push(b'-');
        push_sanitized(out, raw.as_bytes());
        out.extend_from_slice(b"\r\n");
        return;
    }
    out.push(b'-');
    let first = text.split(' ').next().unwrap_or("");
    if first.is_empty() || !first.bytes().all(|c| c.is_ascii_uppercase()) {
        out.extend_from_slice(b"ERR ");
    }
    push_sanitized(out, text.as_bytes());
    out.extend_from_slice(b"\r\n");
}

#[cfg(test)]
mod tests {
    use super::*;

    fn enc(r: &Reply, resp3: bool) -> String {
        let mut out = Vec::new();
        r.encode(&mut out, resp3);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn resp2_and_resp3_shapes() {
        let map = Reply::Map(vec![(Reply::text("a"), Reply::Int(1))]);
        assert_eq!(enc(&map, false), "*2\r\n$1\r\na\r\n:1\r\n");
        assert_eq!(enc(&map, true), "%1\r\n$1\r\na\r\n:1\r\n");
        assert_eq!(enc(&Reply::Nil, false), "$-1\r\n");
        assert_eq!(enc(&Reply::Nil, true), "_\r\n");
        assert_eq!(enc(&Reply::NilArray, false), "*-1\r\n");
        assert_eq!(enc(&Reply::Bool(true), false), ":1\r\n");
        assert_eq!(enc(&Reply::Bool(false), true), "#f\r\n");
        assert_eq!(enc(&Reply::Double(1.5), false), "$3\r\n1.5\r\n");
        assert_eq!(enc(&Reply::Double(1.5), true), ",1.5\r\n");
        let coord = || Reply::FormattedDouble(Bytes::from_static(b"13.36138933897018433"));
        assert_eq!(enc(&coord(), false), "$20\r\n13.36138933897018433\r\n");
        assert_eq!(enc(&coord(), true), ",13.36138933897018433\r\n");
        assert_eq!(
            enc(&Reply::Verbatim("txt", "hi".into()), true),
            "=6\r\ntxt:hi\r\n"
        );
        assert_eq!(enc(&Reply::Set(vec![Reply::Int(1)]), true), "~1\r\n:1\r\n");
        let push = Reply::Push(vec![Reply::text("message"), Reply::Nil]);
        assert_eq!(enc(&push, true), ">2\r\n$7\r\nmessage\r\n_\r\n");
        assert_eq!(enc(&push, false), "*2\r\n$7\r\nmessage\r\n$-1\r\n");
        let seq = Reply::Sequence(vec![Reply::Int(1), Reply::Ok]);
        assert_eq!(enc(&seq, false), ":1\r\n+OK\r\n");
    }

    #[test]
    fn errors_get_a_code_and_no_newlines() {
        assert_eq!(
            enc(&Reply::Error("ERR syntax error".into()), false),
            "-ERR syntax error\r\n"
        );
        assert_eq!(
            enc(&Reply::Error("bad\r\nthing".into()), false),
            "-ERR bad  thing\r\n"
        );
        assert_eq!(
            enc(&Reply::Error("WRONGTYPE Operation".into()), false),
            "-WRONGTYPE Operation\r\n"
        );
        assert_eq!(enc(&Reply::Error("-boom".into()), false), "-boom\r\n");
        assert_eq!(enc(&Reply::Error("-".into()), false), "-\r\n");
        let big = Reply::BigNumber("123".into());
        assert_eq!(enc(&big, true), "(123\r\n");
        assert_eq!(enc(&big, false), "$3\r\n123\r\n");
    }
}
