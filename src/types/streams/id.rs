//! Stream IDs as text, parsed exactly as Redis 7.0 parses them (`streamGenericParseIDOrReply`,
//! `string2ull`), and the ID arithmetic of `t_stream.c`.

use crate::rdb::StreamId;

/// The smallest ID (`-`).
pub const MIN: StreamId = StreamId { ms: 0, seq: 0 };
/// The greatest ID (`+`).
pub const MAX: StreamId = StreamId {
    ms: u64::MAX,
    seq: u64::MAX,
};

/// The ID after `id`, or None after the greatest one (`streamIncrID`).
pub fn incr(id: StreamId) -> Option<StreamId> {
    if id.seq == u64::MAX {
        if id.ms == u64::MAX {
            return None;
        }
        return Some(StreamId {
            ms: id.ms + 1,
            seq: 0,
        });
    }
    Some(StreamId {
        ms: id.ms,
        seq: id.seq + 1,
    })
}

/// The ID before `id`, or None before 0-0 (`streamDecrID`).
pub fn decr(id: StreamId) -> Option<StreamId> {
    if id.seq == 0 {
        if id.ms == 0 {
            return None;
        }
        return Some(StreamId {
            ms: id.ms - 1,
            seq: u64::MAX,
        });
    }
    Some(StreamId {
        ms: id.ms,
        seq: id.seq - 1,
    })
}

/// Redis's `string2ull`: a strict decimal (no sign, no leading zero, as `string2ll`) that is not
/// negative, or failing that whatever C's `strtoull` accepts in full: leading white space, a
/// sign (a minus negates modulo 2^64), digits, no overflow.
pub fn parse_u64(s: &[u8]) -> Option<u64> {
    if let Some(v) = crate::util::num::parse_i64(s) {
        return u64::try_from(v).ok();
    }
    let mut i = 0;
    while s
        .get(i)
        .is_some_and(|c| matches!(c, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r'))
    {
        i += 1;
    }
    let negative = match s.get(i) {
        Some(b'-') => {
            i += 1;
            true
        }
        Some(b'+') => {
            i += 1;
            false
        }
        _ => false,
    };
    let digits = &s[i.min(s.len())..];
    if digits.is_empty() {
        return None;
    }
    let mut v: u64 = 0;
    for &c in digits {
        if !c.is_ascii_digit() {
            return None;
        }
        v = v.checked_mul(10)?.checked_add(u64::from(c - b'0'))?;
    }
    Some(if negative { v.wrapping_neg() } else { v })
}

/// A parsed ID and whether its sequence was given (XADD's `ms-*` leaves it to the server).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Parsed {
    pub id: StreamId,
    pub seq_given: bool,
}

/// How an ID argument may be written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Syntax {
    /// The sequence used when only the milliseconds are given.
    pub missing_seq: u64,
    /// Strict: `-` and `+` are refused.
    pub strict: bool,
    /// `ms-*` is accepted (XADD).
    pub star_seq: bool,
}

impl Syntax {
    /// An ID where `-` and `+` are refused (XADD, XDEL, XACK, XCLAIM, XSETID, ...).
    pub const STRICT: Syntax = Syntax {
        missing_seq: 0,
        strict: true,
        star_seq: false,
    };
    /// An ID where `-` and `+` stand for the smallest and greatest IDs.
    pub const LOOSE: Syntax = Syntax {
        missing_seq: 0,
        strict: false,
        star_seq: false,
    };
}

/// Parses an ID argument as `streamGenericParseIDOrReply` does; None is Redis's `Invalid
/// stream ID specified as stream command argument`. Like Redis, which copies the argument into
/// a C string, an argument of 128 bytes or more is refused and an embedded NUL ends it.
pub fn parse(arg: &[u8], syntax: Syntax) -> Option<Parsed> {
    if arg.len() > 127 {
        return None;
    }
    let s = &arg[..arg.iter().position(|&b| b == 0).unwrap_or(arg.len())];
    match s {
        b"-" if !syntax.strict => {
            return Some(Parsed {
                id: MIN,
                seq_given: true,
            })
        }
        b"+" if !syntax.strict => {
            return Some(Parsed {
                id: MAX,
                seq_given: true,
            })
        }
        b"-" | b"+" => return None,
        _ => {}
    }
    let (ms_part, seq_part) = match s.iter().position(|&b| b == b'-') {
        Some(i) => (&s[..i], Some(&s[i + 1..])),
        None => (s, None),
    };
    let ms = parse_u64(ms_part)?;
    let (seq, seq_given) = match seq_part {
        Some(b"*") if syntax.star_seq => (0, false),
        Some(p) => (parse_u64(p)?, true),
        None => (syntax.missing_seq, true),
    };
    Some(Parsed {
        id: StreamId { ms, seq },
        seq_given,
    })
}

/// A range bound of XRANGE, XPENDING and XAUTOCLAIM: an ID, or `(` and an ID excluded from the
/// range (`streamParseIntervalIDOrReply`). Returns the ID and whether it is excluded.
pub fn parse_interval(arg: &[u8], missing_seq: u64) -> Option<(StreamId, bool)> {
    if arg.len() > 1 && arg[0] == b'(' {
        let syntax = Syntax {
            missing_seq,
            strict: true,
            star_seq: false,
        };
        return parse(&arg[1..], syntax).map(|p| (p.id, true));
    }
    let syntax = Syntax {
        missing_seq,
        strict: false,
        star_seq: false,
    };
    parse(arg, syntax).map(|p| (p.id, false))
}

/// The ID as Redis prints it: `ms-seq`.
pub fn format(id: StreamId) -> String {
    let mut b = itoa::Buffer::new();
    let mut s = String::with_capacity(24);
    s.push_str(b.format(id.ms));
    s.push('-');
    s.push_str(b.format(id.seq));
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(ms: u64, seq: u64) -> StreamId {
        StreamId { ms, seq }
    }

    #[test]
    fn u64_parsing_matches_string2ull() {
        for (s, want) in [
            (&b"0"[..], Some(0)),
            (b"18446744073709551615", Some(u64::MAX)),
            (b"18446744073709551616", None),
            (b"+1", Some(1)),
            (b" 3", Some(3)),
            (b"01", Some(1)),
            (b"-0", Some(0)),
            (b" -5", Some(u64::MAX - 4)),
            (b"-5", None),
            (b"", None),
            (b" ", None),
            (b"1 ", None),
            (b"0x1", None),
            (b"+", None),
        ] {
            assert_eq!(parse_u64(s), want, "{:?}", String::from_utf8_lossy(s));
        }
    }

    #[test]
    fn ids_parse_as_redis_parses_them() {
        let p = |s: &[u8], syn| parse(s, syn).map(|p| p.id);
        assert_eq!(p(b"1-2", Syntax::STRICT), Some(id(1, 2)));
        assert_eq!(p(b"5", Syntax::STRICT), Some(id(5, 0)));
        assert_eq!(p(b"-", Syntax::STRICT), None);
        assert_eq!(p(b"+", Syntax::STRICT), None);
        assert_eq!(p(b"-", Syntax::LOOSE), Some(MIN));
        assert_eq!(p(b"+", Syntax::LOOSE), Some(MAX));
        assert_eq!(p(b"1--6", Syntax::STRICT), None);
        assert_eq!(p(b"1- 5", Syntax::STRICT), Some(id(1, 5)));
        assert_eq!(p(b"-0", Syntax::STRICT), None);
        assert_eq!(p(b"1-*", Syntax::STRICT), None);
        assert_eq!(p(b"1\0junk", Syntax::STRICT), Some(id(1, 0)));
        assert_eq!(p(&[b'1'; 128], Syntax::STRICT), None);
        let star = Syntax {
            star_seq: true,
            ..Syntax::STRICT
        };
        assert_eq!(
            parse(b"7-*", star),
            Some(Parsed {
                id: id(7, 0),
                seq_given: false
            })
        );
        let end = Syntax {
            missing_seq: u64::MAX,
            ..Syntax::LOOSE
        };
        assert_eq!(p(b"3", end), Some(id(3, u64::MAX)));
        assert_eq!(parse_interval(b"(1-1", 0), Some((id(1, 1), true)));
        assert_eq!(parse_interval(b"(", 0), None);
        assert_eq!(parse_interval(b"(-", 0), None);
        assert_eq!(parse_interval(b"-", 0), Some((MIN, false)));
    }

    #[test]
    fn increments_and_decrements_carry() {
        assert_eq!(incr(id(1, u64::MAX)), Some(id(2, 0)));
        assert_eq!(incr(MAX), None);
        assert_eq!(decr(id(2, 0)), Some(id(1, u64::MAX)));
        assert_eq!(decr(MIN), None);
        assert_eq!(format(id(12, 3)), "12-3");
    }
}
