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

    /// Argument `i` as UTF-8 text (lossy), for names and messages.
    pub fn text(&self, i: usize) -> String {
        String::from_utf8_lossy(self.get(i)).into_owned()
    }

    /// The lowercase command name.
    pub fn name_lower(&self) -> String {
        self.text(0).to_ascii_lowercase()
    }
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
    }
}
