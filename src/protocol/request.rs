//! Request framing: turns the bytes a client sent into argument vectors, the way Redis's
//! `processMultibulkBuffer` and `processInlineBuffer` do, with the same limits and error texts.
//!
//! The parser is resumable: a request that arrives in pieces is not re-scanned from its start on
//! every read, and nothing is allocated from a length the client declared before the bytes exist.
//! Arguments are ranges into the caller's buffer, so a pipelined burst is parsed without copying.

use std::ops::Range;

/// Longest header line (`*<count>` or `$<len>`) or inline request accepted, as in Redis.
pub const INLINE_MAX_SIZE: usize = 64 * 1024;
/// Largest argument count accepted (Redis: INT_MAX).
pub const MAX_MULTIBULK: i64 = i32::MAX as i64;
/// Limits that apply before a client has authenticated, as in Redis.
const UNAUTH_MAX_MULTIBULK: i64 = 10;
const UNAUTH_MAX_BULK: i64 = 16384;

/// A protocol violation; the text follows `-ERR ` in the reply, after which the connection closes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("Protocol error: {0}")]
pub struct ProtocolError(pub String);

fn perr(msg: &str) -> ProtocolError {
    ProtocolError(msg.to_string())
}

/// Limits in force while parsing.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    pub max_bulk_len: u64,
    /// Unauthenticated clients get Redis's tight limits, so a stranger cannot make us buffer much.
    pub authenticated: bool,
}

/// Where a complete request's arguments live.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ArgSource {
    /// Ranges index the caller's buffer, from the request's first byte.
    Buffer,
    /// Ranges index the parser's inline scratch buffer ([`RequestParser::inline_bytes`]).
    Inline,
}

/// Outcome of one parse step.
#[derive(Debug, PartialEq, Eq)]
pub enum Step {
    /// A request with at least one argument; `consumed` bytes belong to it.
    Request { consumed: usize, source: ArgSource },
    /// Bytes that form no command (an empty inline line, `*0`, `*-1`); skip them.
    Skip { consumed: usize },
    /// More bytes are needed.
    Incomplete,
}

#[derive(Debug, Default)]
enum State {
    /// Waiting for the first byte of a request.
    #[default]
    Start,
    /// Inside a multibulk request: arguments still expected and the offset to resume at.
    Multibulk { remaining: i64, pos: usize },
}

/// A resumable RESP request parser. One per connection.
#[derive(Debug, Default)]
pub struct RequestParser {
    state: State,
    args: Vec<Range<usize>>,
    inline: Vec<u8>,
}

/// Finds `\r\n`-terminated header at `buf[pos..]`; returns the line without the terminator and the
/// offset after it.
fn header_line(buf: &[u8], pos: usize) -> Option<(&[u8], usize)> {
    let cr = memchr(b'\r', &buf[pos..])? + pos;
    if cr + 1 >= buf.len() {
        return None;
    }
    Some((&buf[pos..cr], cr + 2))
}

fn memchr(byte: u8, hay: &[u8]) -> Option<usize> {
    hay.iter().position(|&b| b == byte)
}

/// Redis's string2ll for header numbers.
fn parse_len(s: &[u8]) -> Option<i64> {
    crate::util::num::parse_i64(s)
}

impl RequestParser {
    /// The arguments of the last complete request, as ranges (see [`ArgSource`]).
    pub fn args(&self) -> &[Range<usize>] {
        &self.args
    }

    /// The unescaped bytes of the last inline request.
    pub fn inline_bytes(&self) -> &[u8] {
        &self.inline
    }

    /// Parses the next request from `buf`, which must start where the previous request ended.
    /// Call again with the same (grown) buffer after `Incomplete`.
    pub fn parse(&mut self, buf: &[u8], limits: Limits) -> Result<Step, ProtocolError> {
        if let State::Start = self.state {
            let Some(&first) = buf.first() else {
                return Ok(Step::Incomplete);
            };
            if first != b'*' {
                return self.parse_inline(buf);
            }
            let Some((line, next)) = header_line(buf, 1) else {
                if buf.len() > INLINE_MAX_SIZE {
                    return Err(perr("too big mbulk count string"));
                }
                return Ok(Step::Incomplete);
            };
            let count = match parse_len(line) {
                Some(n) if n <= MAX_MULTIBULK => n,
                _ => return Err(perr("invalid multibulk length")),
            };
            if !limits.authenticated && count > UNAUTH_MAX_MULTIBULK {
                return Err(perr("unauthenticated multibulk length"));
            }
            if count <= 0 {
                return Ok(Step::Skip { consumed: next });
            }
            self.args.clear();
            self.state = State::Multibulk {
                remaining: count,
                pos: next,
            };
        }
        let State::Multibulk { remaining, pos } = &mut self.state else {
            unreachable!("state is Multibulk after the header");
        };
        while *remaining > 0 {
            let Some((line, next)) = header_line(buf, *pos) else {
                if buf.len() - *pos > INLINE_MAX_SIZE {
                    return Err(perr("too big bulk count string"));
                }
                return Ok(Step::Incomplete);
            };
            if line.first() != Some(&b'$') {
                let got = buf.get(*pos).copied().unwrap_or(b'?') as char;
                return Err(ProtocolError(format!("expected '$', got '{got}'")));
            }
            let len = match parse_len(&line[1..]) {
                Some(n) if n >= 0 && n as u64 <= limits.max_bulk_len => n as usize,
                _ => return Err(perr("invalid bulk length")),
            };
            if !limits.authenticated && len as i64 > UNAUTH_MAX_BULK {
                return Err(perr("unauthenticated bulk length"));
            }
            // The payload and its trailing CRLF (which Redis skips without checking).
            if buf.len() - next < len + 2 {
                return Ok(Step::Incomplete);
            }
            self.args.push(next..next + len);
            *pos = next + len + 2;
            *remaining -= 1;
        }
        let consumed = *pos;
        self.state = State::Start;
        Ok(Step::Request {
            consumed,
            source: ArgSource::Buffer,
        })
    }

    fn parse_inline(&mut self, buf: &[u8]) -> Result<Step, ProtocolError> {
        let Some(nl) = memchr(b'\n', buf) else {
            if buf.len() > INLINE_MAX_SIZE {
                return Err(perr("too big inline request"));
            }
            return Ok(Step::Incomplete);
        };
        let mut line = &buf[..nl];
        if line.last() == Some(&b'\r') {
            line = &line[..line.len() - 1];
        }
        self.args.clear();
        self.inline.clear();
        if !split_args(line, &mut self.inline, &mut self.args) {
            return Err(perr("unbalanced quotes in request"));
        }
        if self.args.is_empty() {
            return Ok(Step::Skip { consumed: nl + 1 });
        }
        Ok(Step::Request {
            consumed: nl + 1,
            source: ArgSource::Inline,
        })
    }
}

fn is_space(c: u8) -> bool {
    matches!(c, b' ' | b'\t' | b'\n' | b'\r' | 0x0b | 0x0c)
}

fn hex_val(c: u8) -> Option<u8> {
    (c as char).to_digit(16).map(|d| d as u8)
}

/// Redis's `sdssplitargs`: words separated by spaces, "double quotes" with C escapes and `\xHH`,
/// 'single quotes' with only `\'`. A closing quote must be followed by a space or the end. Returns
/// false on unbalanced quotes. Like Redis (which works on a C string) a NUL byte ends the line.
fn split_args(line: &[u8], out: &mut Vec<u8>, args: &mut Vec<Range<usize>>) -> bool {
    let at = |i: usize| line.get(i).copied().unwrap_or(0);
    let mut p = 0;
    loop {
        while at(p) != 0 && is_space(at(p)) {
            p += 1;
        }
        if at(p) == 0 {
            return true;
        }
        let start = out.len();
        let (mut in_dq, mut in_sq) = (false, false);
        loop {
            let c = at(p);
            if in_dq {
                if c == b'\\' && at(p + 1) == b'x' {
                    if let (Some(h), Some(l)) = (hex_val(at(p + 2)), hex_val(at(p + 3))) {
                        out.push(h * 16 + l);
                        p += 4;
                        continue;
                    }
                }
                if c == b'\\' && at(p + 1) != 0 {
                    p += 1;
                    out.push(match at(p) {
                        b'n' => b'\n',
                        b'r' => b'\r',
                        b't' => b'\t',
                        b'b' => 0x08,
                        b'a' => 0x07,
                        other => other,
                    });
                } else if c == b'"' {
                    if at(p + 1) != 0 && !is_space(at(p + 1)) {
                        return false;
                    }
                    p += 1;
                    break;
                } else if c == 0 {
                    return false;
                } else {
                    out.push(c);
                }
            } else if in_sq {
                if c == b'\\' && at(p + 1) == b'\'' {
                    p += 1;
                    out.push(b'\'');
                } else if c == b'\'' {
                    if at(p + 1) != 0 && !is_space(at(p + 1)) {
                        return false;
                    }
                    p += 1;
                    break;
                } else if c == 0 {
                    return false;
                } else {
                    out.push(c);
                }
            } else {
                match c {
                    b' ' | b'\n' | b'\r' | b'\t' | 0 => break,
                    b'"' => in_dq = true,
                    b'\'' => in_sq = true,
                    _ => out.push(c),
                }
            }
            p += 1;
        }
        args.push(start..out.len());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const AUTH: Limits = Limits {
        max_bulk_len: 512 * 1024 * 1024,
        authenticated: true,
    };

    fn parse_all(input: &[u8]) -> Result<Vec<Vec<Vec<u8>>>, ProtocolError> {
        let mut p = RequestParser::default();
        let mut off = 0;
        let mut out = Vec::new();
        loop {
            match p.parse(&input[off..], AUTH)? {
                Step::Request { consumed, source } => {
                    let base = match source {
                        ArgSource::Buffer => &input[off..],
                        ArgSource::Inline => p.inline_bytes(),
                    };
                    out.push(p.args().iter().map(|r| base[r.clone()].to_vec()).collect());
                    off += consumed;
                }
                Step::Skip { consumed } => off += consumed,
                Step::Incomplete => return Ok(out),
            }
        }
    }

    fn words(v: &[&str]) -> Vec<Vec<u8>> {
        v.iter().map(|s| s.as_bytes().to_vec()).collect()
    }

    #[test]
    fn multibulk_pipeline() {
        let got =
            parse_all(b"*1\r\n$4\r\nPING\r\n*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$0\r\n\r\n").unwrap();
        assert_eq!(got, vec![words(&["PING"]), words(&["SET", "k", ""])]);
    }

    #[test]
    fn resumes_byte_by_byte() {
        let input = b"*2\r\n$3\r\nGET\r\n$5\r\nhe\0lo\r\n";
        let mut p = RequestParser::default();
        for end in 0..input.len() {
            assert_eq!(
                p.parse(&input[..end], AUTH).unwrap(),
                Step::Incomplete,
                "at {end}"
            );
        }
        let step = p.parse(input, AUTH).unwrap();
        assert_eq!(
            step,
            Step::Request {
                consumed: input.len(),
                source: ArgSource::Buffer
            }
        );
        assert_eq!(&input[p.args()[1].clone()], b"he\0lo");
    }

    #[test]
    fn protocol_errors_match_redis() {
        let err = |b: &[u8]| parse_all(b).unwrap_err().to_string();
        assert_eq!(err(b"*abc\r\n"), "Protocol error: invalid multibulk length");
        assert_eq!(
            err(b"*3000000000\r\n"),
            "Protocol error: invalid multibulk length"
        );
        assert_eq!(
            err(b"*1\r\n:1\r\n"),
            "Protocol error: expected '$', got ':'"
        );
        assert_eq!(err(b"*1\r\n$-5\r\n"), "Protocol error: invalid bulk length");
        assert_eq!(
            err(b"*1\r\n$1099511627776\r\n"),
            "Protocol error: invalid bulk length"
        );
        assert_eq!(err(b"*1\r\n$x\r\n"), "Protocol error: invalid bulk length");
        assert_eq!(
            err(b"\"unbalanced\r\n"),
            "Protocol error: unbalanced quotes in request"
        );
        let long = vec![b'a'; INLINE_MAX_SIZE + 1];
        assert_eq!(err(&long), "Protocol error: too big inline request");
        let mut long_count = b"*".to_vec();
        long_count.extend(vec![b'1'; INLINE_MAX_SIZE + 1]);
        assert_eq!(
            err(&long_count),
            "Protocol error: too big mbulk count string"
        );
    }

    #[test]
    fn nested_arrays_are_rejected_not_recursed() {
        // A recursive decoder overflows its stack on this; ours reads one header and refuses.
        let deep = b"*1\r\n".repeat(1 << 18);
        assert!(parse_all(&deep).is_err());
    }

    #[test]
    fn unauthenticated_limits() {
        let unauth = Limits {
            max_bulk_len: AUTH.max_bulk_len,
            authenticated: false,
        };
        let mut p = RequestParser::default();
        assert!(p.parse(b"*11\r\n", unauth).is_err());
        let mut p = RequestParser::default();
        assert!(p.parse(b"*1\r\n$16385\r\n", unauth).is_err());
        let mut p = RequestParser::default();
        assert_eq!(
            p.parse(b"*1\r\n$16384\r\n", unauth).unwrap(),
            Step::Incomplete
        );
    }

    #[test]
    fn empty_requests_are_skipped() {
        assert_eq!(parse_all(b"*0\r\n*-1\r\n\r\n   \n").unwrap().len(), 0);
    }

    #[test]
    fn inline_splitting_like_sdssplitargs() {
        assert_eq!(parse_all(b"PING\r\n").unwrap(), vec![words(&["PING"])]);
        assert_eq!(
            parse_all(b"set  \"a b\\n\\x41\" 'it\\'s'\n").unwrap(),
            vec![vec![b"set".to_vec(), b"a b\nA".to_vec(), b"it's".to_vec()]]
        );
        assert_eq!(
            parse_all(b"echo \"\"\n").unwrap(),
            vec![vec![b"echo".to_vec(), vec![]]]
        );
        assert!(parse_all(b"get \"a\"b\n").is_err());
        assert!(parse_all(b"get 'a\n").is_err());
    }
}
