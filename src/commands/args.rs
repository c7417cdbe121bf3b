//! A command's arguments, borrowed from the connection's read buffer, with parsing helpers that
//! produce Redis's exact errors.

use super::CmdError;
use crate::util::num;
use std::ops::Range;

/// The arguments of one request; `get(0)` is the command name.
#[derive(Clone, Copy)]
pub struct Args<'a> {
    base: &'a [u8],
    ranges: &'a [Range<usize>],
}

impl<'a> Args<'a> {
    /// Arguments given as ranges into `base`.
    pub fn new(base: &'a [u8], ranges: &'a [Range<usize>]) -> Self {
        Self { base, ranges }
    }

    pub fn len(&self) -> usize {
        self.ranges.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ranges.is_empty()
    }

    /// Argument `i`. Handlers only index within the arity the table guarantees, or check `len`.
    pub fn get(&self, i: usize) -> &'a [u8] {
        &self.base[self.ranges[i].clone()]
    }

    /// The arguments from `n` on (COMMAND GETKEYS looks at the command it is given).
    pub fn skip(&self, n: usize) -> Args<'a> {
        Args {
            base: self.base,
            ranges: self.ranges.get(n..).unwrap_or_default(),
        }
    }

    /// Argument `i` if present.
    pub fn opt(&self, i: usize) -> Option<&'a [u8]> {
        self.ranges.get(i).map(|r| &self.base[r.clone()])
    }

    /// All arguments, the command name first.
    pub fn iter(&self) -> impl Iterator<Item = &'a [u8]> + 'a {
        let base = self.base;
        self.ranges.iter().map(move |r| &base[r.clone()])
    }

    /// Whether argument `i` equals `word`, ignoring ASCII case.
    pub fn is(&self, i: usize, word: &str) -> bool {
        self.opt(i)
            .is_some_and(|a| a.eq_ignore_ascii_case(word.as_bytes()))
    }

    /// Argument `i` as an integer, or `ERR value is not an integer or out of range`.
    pub fn i64(&self, i: usize) -> Result<i64, CmdError> {
        num::parse_i64(self.get(i)).ok_or(CmdError::NotInteger)
    }

    /// Argument `i` as a double, or `ERR value is not a valid float`.
    pub fn f64(&self, i: usize) -> Result<f64, CmdError> {
        num::parse_f64(self.get(i)).ok_or(CmdError::NotFloat)
    }

    /// Argument `i` as a SCAN-family cursor, or `ERR invalid cursor`.
    pub fn cursor(&self, i: usize) -> Result<u64, CmdError> {
        parse_cursor(self.get(i)).ok_or_else(|| CmdError::msg("ERR invalid cursor"))
    }

    /// Argument `i` as UTF-8 text (lossy), for names and messages.
    pub fn text(&self, i: usize) -> String {
        String::from_utf8_lossy(self.get(i)).into_owned()
    }

    /// The lowercase command name.
    pub fn name_lower(&self) -> String {
        self.text(0).to_ascii_lowercase()
    }

    /// Argument `i` as an integer of at least `min`; `msg` for anything else, as Redis's
    /// `getRangeLongFromObjectOrReply` with a message answers both a bad integer and a bad range.
    pub fn long_at_least(&self, i: usize, min: i64, msg: &'static str) -> Result<i64, CmdError> {
        match num::parse_i64(self.get(i)) {
            Some(v) if v >= min => Ok(v),
            _ => Err(CmdError::msg(msg)),
        }
    }

    /// The tail of LMPOP, ZMPOP and their blocking forms from `numkeys` at `at`:
    /// `numkeys key [key ...] WHERE [COUNT count]`, checked in Redis's order; `side` parses WHERE
    /// (LEFT|RIGHT or MIN|MAX).
    pub fn mpop<W>(
        &self,
        at: usize,
        side: impl Fn(&Args<'a>, usize) -> Result<W, CmdError>,
    ) -> Result<Mpop<'a, W>, CmdError> {
        let numkeys = self.long_at_least(at, 1, "ERR numkeys should be greater than 0")?;
        let where_idx = usize::try_from(numkeys)
            .ok()
            .and_then(|n| n.checked_add(at + 1))
            .filter(|&w| w < self.len())
            .ok_or(CmdError::Syntax)?;
        let side = side(self, where_idx)?;
        let mut count = None;
        let mut j = where_idx + 1;
        while j < self.len() {
            if count.is_none() && self.is(j, "count") && j + 1 < self.len() {
                j += 1;
                count = Some(
                    self.long_at_least(j, 1, "ERR count should be greater than 0")?
                        .unsigned_abs(),
                );
            } else {
                return Err(CmdError::Syntax);
            }
            j += 1;
        }
        Ok(Mpop {
            keys: (at + 1..where_idx).map(|i| self.get(i)).collect(),
            side,
            count: count.unwrap_or(1),
        })
    }

    /// A copy that outlives the read buffer (a blocked command is re-run later).
    pub fn to_owned_args(&self) -> OwnedArgs {
        let mut base = Vec::with_capacity(self.ranges.iter().map(|r| r.len()).sum());
        let mut ranges = Vec::with_capacity(self.ranges.len());
        for a in self.iter() {
            ranges.push(base.len()..base.len() + a.len());
            base.extend_from_slice(a);
        }
        OwnedArgs { base, ranges }
    }
}

/// Parsed `numkeys key [key ...] WHERE [COUNT count]` arguments (see [`Args::mpop`]).
pub struct Mpop<'a, W> {
    pub keys: Vec<&'a [u8]>,
    pub side: W,
    pub count: u64,
}

/// Arguments owned in one buffer; [`OwnedArgs::args`] borrows them back as [`Args`].
#[derive(Clone, Debug)]
pub struct OwnedArgs {
    base: Vec<u8>,
    ranges: Vec<Range<usize>>,
}

impl OwnedArgs {
    /// Arguments given as ranges into `base`.
    pub fn from_parts(base: Vec<u8>, ranges: Vec<Range<usize>>) -> OwnedArgs {
        OwnedArgs { base, ranges }
    }

    pub fn args(&self) -> Args<'_> {
        Args::new(&self.base, &self.ranges)
    }
}

/// A SCAN cursor as Redis reads it (`strtoul` base 10, rejecting leading space and trailing
/// bytes): an optional sign, decimal digits, at most `u64::MAX`; a minus sign negates modulo
/// 2^64, and the empty string is 0.
fn parse_cursor(s: &[u8]) -> Option<u64> {
    let Some(&first) = s.first() else {
        return Some(0);
    };
    let (negative, digits) = match first {
        b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r' => return None,
        b'-' => (true, &s[1..]),
        b'+' => (false, &s[1..]),
        _ => (false, s),
    };
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn access_and_parse() {
        let base = b"SETk10x";
        let ranges = [0..3, 3..4, 4..6, 6..7];
        let a = Args::new(base, &ranges);
        assert_eq!(a.len(), 4);
        assert!(a.is(0, "set"));
        assert_eq!(a.get(1), b"k");
        assert_eq!(a.i64(2).unwrap(), 10);
        assert!(matches!(a.i64(3), Err(CmdError::NotInteger)));
        assert_eq!(a.opt(4), None);
        let owned = a.to_owned_args();
        assert_eq!(
            owned.args().iter().collect::<Vec<_>>(),
            a.iter().collect::<Vec<_>>()
        );
    }

    #[test]
    fn cursors_parse_like_strtoul() {
        assert_eq!(parse_cursor(b"0"), Some(0));
        assert_eq!(parse_cursor(b""), Some(0));
        assert_eq!(parse_cursor(b"+0"), Some(0));
        assert_eq!(parse_cursor(b"-0"), Some(0));
        assert_eq!(parse_cursor(b"123"), Some(123));
        assert_eq!(parse_cursor(b"007"), Some(7));
        assert_eq!(parse_cursor(b"-1"), Some(u64::MAX));
        assert_eq!(parse_cursor(b"18446744073709551615"), Some(u64::MAX));
        assert_eq!(parse_cursor(b"18446744073709551616"), None);
        for bad in [
            &b" 0"[..],
            b"0 ",
            b"\x0b1",
            b"abc",
            b"0x1",
            b"-",
            b"+",
            b"1.0",
            b"--1",
        ] {
            assert_eq!(
                parse_cursor(bad),
                None,
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
    }
}
