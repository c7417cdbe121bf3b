//! Number parsing and formatting with Redis 7.0 semantics.
//!
//! Clients observe these rules directly (which inputs are errors, how scores
//! and INCRBYFLOAT results are spelled), so each function mirrors one routine
//! of Redis's `src/util.c` rather than Rust's own conventions.

use std::ffi::{c_char, c_int};
use std::fmt;

/// Redis's `MAX_LONG_DOUBLE_CHARS`: size of the INCRBYFLOAT parse and print
/// buffers, so also the bound on the length of its results.
const MAX_LONG_DOUBLE_CHARS: usize = 5 * 1024;

/// Parses `s` as a signed 64-bit integer exactly like Redis's `string2ll`.
///
/// Only the canonical spelling is accepted: an optional `-`, then digits with
/// no leading zero (so `"0"` is fine but `"-0"`, `"007"`, `"+1"`, `" 1"`,
/// `"1 "` and `""` are not), and the value must fit in an `i64`. Redis relies
/// on this to decide whether a string round-trips as an integer.
#[must_use]
pub fn parse_i64(s: &[u8]) -> Option<i64> {
    // Redis rejects anything of LONG_STR_SIZE (21) bytes or more up front;
    // no canonical i64 is that long, so this only saves work.
    if s.is_empty() || s.len() >= 21 {
        return None;
    }
    if s == b"0" {
        return Some(0);
    }
    let (negative, digits) = match s.split_first() {
        Some((b'-', rest)) => (true, rest),
        _ => (false, s),
    };
    match digits.first() {
        Some(b'1'..=b'9') => {}
        _ => return None,
    }
    let mut v: u64 = 0;
    for &c in digits {
        if !c.is_ascii_digit() {
            return None;
        }
        v = v.checked_mul(10)?.checked_add(u64::from(c - b'0'))?;
    }
    if negative {
        // i64::MIN's magnitude is one more than i64::MAX.
        if v > i64::MAX as u64 + 1 {
            return None;
        }
        Some((v as i64).wrapping_neg())
    } else {
        i64::try_from(v).ok()
    }
}

/// Appends the decimal form of `v` to `buf` (Redis's `ll2string`).
pub fn fmt_i64(buf: &mut Vec<u8>, v: i64) {
    buf.extend_from_slice(itoa::Buffer::new().format(v).as_bytes());
}

/// C `isspace` in the "C" locale.
fn is_c_space(c: u8) -> bool {
    matches!(c, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r')
}

/// Parses `s` as a double exactly like Redis's `string2d` (what
/// `getDoubleFromObject` uses for ZADD scores, ZINCRBY, GEO coordinates...).
///
/// That is `strtod` with extra rejections: the whole input must be consumed,
/// it must not start with whitespace, it must not be NaN, and it must not
/// overflow to infinity or underflow to zero (`strtod`'s `ERANGE`; a result
/// that lands on a subnormal is accepted). Like `strtod` it accepts a leading
/// `+`, `inf`/`infinity` in any case, exponents, and C99 hex floats
/// (`0x1.8p3`).
///
/// Results are correctly rounded, as `strtod` specifies. One known libc
/// deviation is not copied: glibc 2.36 (the version Redis was compared
/// against) rounds some subnormal hex floats with more than 53 significant
/// bits one ulp low, e.g. `0x43e26c303395c.ap-1074`.
#[must_use]
pub fn parse_f64(s: &[u8]) -> Option<f64> {
    let first = *s.first()?;
    if is_c_space(first) {
        return None;
    }
    let (negative, body) = match first {
        b'-' => (true, &s[1..]),
        b'+' => (false, &s[1..]),
        _ => (false, s),
    };
    // strtod parses "0x" only when a hex digit follows; otherwise it stops
    // after the "0" and the leftover makes Redis reject the input anyway.
    if body.len() > 2 && body[0] == b'0' && (body[1] | 0x20) == b'x' {
        let v = parse_hex_float(&body[2..])?;
        return Some(if negative { -v } else { v });
    }
    // Rust's grammar is strtod's decimal grammar (plus "nan", rejected below).
    let v: f64 = std::str::from_utf8(s).ok()?.parse().ok()?;
    if v.is_nan() {
        return None;
    }
    if v.is_infinite() {
        // Only a spelled-out infinity is accepted; a huge number is ERANGE.
        return matches!(body.first(), Some(b'i' | b'I')).then_some(v);
    }
    if v == 0.0 {
        // strtod flags ERANGE when nonzero digits round to zero.
        let mantissa = body.split(|&c| c == b'e' || c == b'E').next()?;
        if mantissa.iter().any(|&c| matches!(c, b'1'..=b'9')) {
            return None;
        }
    }
    Some(v)
}

/// Parses the part of a C99 hex float after `0x`, with `strtod`'s correct
/// rounding (round to nearest, ties to even) and its `ERANGE` cases mapped to
/// `None`. The input must be consumed entirely.
fn parse_hex_float(s: &[u8]) -> Option<f64> {
    fn hex_val(c: u8) -> Option<u64> {
        (c as char).to_digit(16).map(u64::from)
    }

    // Significant bits gathered so far (at most 64), a sticky flag for any
    // nonzero bits dropped past them, and the binary exponent of mant's LSB.
    let mut mant: u64 = 0;
    let mut sticky = false;
    let mut exp: i64 = 0;
    let mut any_digit = false;
    let mut i = 0;
    let mut seen_point = false;
    while i < s.len() {
        let c = s[i];
        if c == b'.' && !seen_point {
            seen_point = true;
        } else if let Some(d) = hex_val(c) {
            any_digit = true;
            if mant >> 60 == 0 {
                mant = (mant << 4) | d;
                if seen_point {
                    exp -= 4;
                }
            } else {
                // No room: the digit only matters for rounding, and its place
                // value shifts the exponent when it sits before the point.
                sticky |= d != 0;
                if !seen_point {
                    exp += 4;
                }
            }
        } else {
            break;
        }
        i += 1;
    }
    if !any_digit {
        return None;
    }
    if i < s.len() {
        // Only a complete binary exponent may follow.
        if s[i] | 0x20 != b'p' {
            return None;
        }
        i += 1;
        let mut exp_negative = false;
        if let Some(&sign @ (b'+' | b'-')) = s.get(i) {
            exp_negative = sign == b'-';
            i += 1;
        }
        let digits = &s[i..];
        if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
            return None;
        }
        // Saturate: anything this large already over/underflows.
        let mut e: i64 = 0;
        for &c in digits {
            e = (e * 10 + i64::from(c - b'0')).min(1 << 40);
        }
        exp += if exp_negative { -e } else { e };
    }
    if mant == 0 {
        return Some(0.0);
    }

    // Exponent of the leading bit, and how many bits of precision a double
    // has at that magnitude (fewer than 53 once subnormal).
    let bits = 64 - i64::from(mant.leading_zeros());
    let mut top = exp + bits - 1;
    let keep = if top >= -1022 { 53 } else { 53 - (-1022 - top) };
    let shift = bits - keep;
    let mut rounded: u64 = if shift <= 0 {
        // Exact: fits without rounding (sticky is only ever set when all 64
        // bits are in use, i.e. when shift > 0).
        mant << (-shift)
    } else if shift > 64 {
        0 // below half the smallest subnormal
    } else {
        let kept = if shift == 64 { 0 } else { mant >> shift };
        let rem = u128::from(mant) & ((1u128 << shift) - 1);
        let half = 1u128 << (shift - 1);
        let round_up = rem > half || (rem == half && (sticky || kept & 1 == 1));
        kept + u64::from(round_up)
    };
    if rounded == 0 {
        return None; // underflow to zero: ERANGE
    }
    if top >= -1022 {
        if rounded == 1 << 53 {
            rounded >>= 1;
            top += 1;
        }
        if top > 1023 {
            return None; // overflow: ERANGE
        }
        let biased = (top + 1023) as u64;
        Some(f64::from_bits((biased << 52) | (rounded & ((1 << 52) - 1))))
    } else {
        // Subnormal: `rounded` counts units of 2^-1074, which is exactly the
        // bit pattern (a carry into bit 52 yields the smallest normal).
        Some(f64::from_bits(rounded))
    }
}

/// Formats a double as Redis 7.0's `addReplyDouble` does (ZSCORE, ZINCRBY,
/// WITHSCORES...): C's `"%.17g"`, with infinities spelled `inf` / `-inf`.
///
/// `%.17g` is not the shortest round-trip form: 0.1 prints as
/// `0.10000000000000001`, 1e17 as `1e+17`, 3e15 as `3000000000000000`, and
/// -0.0 as `-0`. NaN (never a valid score) prints as glibc does: `nan`/`-nan`.
#[must_use]
pub fn fmt_double(v: f64) -> String {
    fmt_g(v, 17)
}

/// Formats `v` as glibc's `printf("%.{precision}g", v)` does: the RDB writer and replies use
/// 17 digits, Lua's `tostring` and cjson 14.
#[must_use]
pub fn fmt_g(v: f64, precision: usize) -> String {
    let p = precision.max(1);
    if v.is_nan() {
        return if v.is_sign_negative() { "-nan" } else { "nan" }.to_string();
    }
    if v.is_infinite() {
        return if v > 0.0 { "inf" } else { "-inf" }.to_string();
    }
    // Rust's exact formatting yields the p correctly rounded significant digits (ties to
    // even on the exact binary value, as glibc) and the decimal exponent after rounding,
    // which is the exponent %g uses to pick fixed or scientific notation.
    let sci = format!("{:.*e}", p - 1, v.abs());
    let (mantissa, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let digits: Vec<u8> = mantissa.bytes().filter(u8::is_ascii_digit).collect();

    let mut out = String::with_capacity(p + 8);
    if v.is_sign_negative() {
        out.push('-');
    }
    if exp < -4 || exp >= p as i32 {
        // d.ddd...e+XX, trailing zeroes dropped, exponent at least 2 digits.
        let frac = trim_zeros(&digits[1..]);
        out.push(char::from(digits[0]));
        if !frac.is_empty() {
            out.push('.');
            push_ascii(&mut out, frac);
        }
        out.push('e');
        out.push(if exp < 0 { '-' } else { '+' });
        let e = exp.unsigned_abs();
        if e < 10 {
            out.push('0');
        }
        out.push_str(&e.to_string());
    } else if exp >= 0 {
        let int_len = exp as usize + 1;
        push_ascii(&mut out, &digits[..int_len]);
        let frac = trim_zeros(&digits[int_len..]);
        if !frac.is_empty() {
            out.push('.');
            push_ascii(&mut out, frac);
        }
    } else {
        // 0.000ddd: exp is -1..=-4 here and the leading digit is nonzero.
        out.push_str("0.");
        for _ in 0..(-exp - 1) {
            out.push('0');
        }
        push_ascii(&mut out, trim_zeros(&digits));
    }
    out
}

fn trim_zeros(digits: &[u8]) -> &[u8] {
    let end = digits.iter().rposition(|&d| d != b'0').map_or(0, |i| i + 1);
    &digits[..end]
}

fn push_ascii(out: &mut String, digits: &[u8]) {
    out.extend(digits.iter().map(|&d| char::from(d)));
}

/// Why INCRBYFLOAT / HINCRBYFLOAT refused to run; see [`Self::error_text`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FloatIncrError {
    /// INCRBYFLOAT: the stored string is not a valid float.
    NotFloat,
    /// The increment argument is not a valid float.
    IncrNotFloat,
    /// The sum is NaN or infinite (e.g. stored `inf` plus anything).
    NanOrInfinity,
    /// HINCRBYFLOAT only: the hash field's value is not a valid float.
    HashValueNotFloat,
    /// HINCRBYFLOAT only: the increment itself is `inf`/`-inf` (INCRBYFLOAT
    /// lets it through and then fails with [`Self::NanOrInfinity`]).
    IncrNanOrInfinity,
}

impl FloatIncrError {
    /// The exact Redis 7.0 error line, without the leading `-` and CRLF.
    #[must_use]
    pub fn error_text(&self) -> &'static str {
        match self {
            // Redis 7.0 does not say which operand was wrong.
            Self::NotFloat | Self::IncrNotFloat => "ERR value is not a valid float",
            Self::NanOrInfinity => "ERR increment would produce NaN or Infinity",
            Self::HashValueNotFloat => "ERR hash value is not a float",
            Self::IncrNanOrInfinity => "ERR value is NaN or Infinity",
        }
    }
}

impl fmt::Display for FloatIncrError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.error_text())
    }
}

impl std::error::Error for FloatIncrError {}

// Implemented in src/util/longdouble.c (compiled by build.rs).
extern "C" {
    fn basalt_incrbyfloat(
        cur: *const c_char,
        cur_len: usize,
        incr: *const c_char,
        incr_len: usize,
        out: *mut c_char,
        out_cap: usize,
        out_len: *mut usize,
    ) -> c_int;
    fn basalt_hincrbyfloat(
        cur: *const c_char,
        cur_len: usize,
        incr: *const c_char,
        incr_len: usize,
        out: *mut c_char,
        out_cap: usize,
        out_len: *mut usize,
    ) -> c_int;
}

type LongDoubleOp = unsafe extern "C" fn(
    *const c_char,
    usize,
    *const c_char,
    usize,
    *mut c_char,
    usize,
    *mut usize,
) -> c_int;

fn call_long_double_op(
    op: LongDoubleOp,
    current: Option<&[u8]>,
    incr: &[u8],
    not_float: FloatIncrError,
) -> Result<Vec<u8>, FloatIncrError> {
    let mut out = [0u8; MAX_LONG_DOUBLE_CHARS];
    let mut out_len = 0usize;
    let (cur_ptr, cur_len) = match current {
        Some(c) => (c.as_ptr().cast::<c_char>(), c.len()),
        None => (std::ptr::null(), 0),
    };
    // SAFETY: every pointer/length pair describes a live buffer (the C side
    // reads `cur` only when non-null, and only `len` bytes of each input),
    // `out` is writable for `out_cap` bytes, and nothing is retained.
    let rc = unsafe {
        op(
            cur_ptr,
            cur_len,
            incr.as_ptr().cast::<c_char>(),
            incr.len(),
            out.as_mut_ptr().cast::<c_char>(),
            out.len(),
            &mut out_len,
        )
    };
    match rc {
        0 => Ok(out[..out_len.min(out.len())].to_vec()),
        1 => Err(not_float),
        2 => Err(FloatIncrError::IncrNotFloat),
        5 => Err(FloatIncrError::IncrNanOrInfinity),
        // 3, and 4 (buffer too small) which cannot happen for a finite sum.
        _ => Err(FloatIncrError::NanOrInfinity),
    }
}

/// INCRBYFLOAT: adds `incr` to `current` (`None` = key absent = 0) with C
/// `long double` arithmetic and returns the new value as Redis stores and
/// replies it (`"%.17Lf"` with trailing zeroes stripped: 10.5 + 0.1 =
/// `10.6`, `5.0e3` + 0 = `5000`).
///
/// Operands are parsed with Redis's `string2ld` (`strtold`, whole input,
/// no leading space, no NaN, no overflow or underflow to zero, at most
/// 5119 bytes). The stored value is checked before the increment, though
/// both report the same text. Because the sum is a `long double`, 1e308 +
/// 1e308 is *not* an overflow; only results beyond ~1.19e4932 are.
pub fn incr_by_float(current: Option<&[u8]>, incr: &[u8]) -> Result<Vec<u8>, FloatIncrError> {
    call_long_double_op(basalt_incrbyfloat, current, incr, FloatIncrError::NotFloat)
}

/// HINCRBYFLOAT: like [`incr_by_float`] but with the hash command's checks
/// and their order: a bad increment, then an infinite increment
/// ([`FloatIncrError::IncrNanOrInfinity`]), then a bad field value
/// ([`FloatIncrError::HashValueNotFloat`]), then a NaN/infinite sum.
pub fn hincr_by_float(current: Option<&[u8]>, incr: &[u8]) -> Result<Vec<u8>, FloatIncrError> {
    call_long_double_op(
        basalt_hincrbyfloat,
        current,
        incr,
        FloatIncrError::HashValueNotFloat,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_i64_matches_string2ll() {
        let ok: &[(&str, i64)] = &[
            ("0", 0),
            ("1", 1),
            ("-1", -1),
            ("99", 99),
            ("-99", -99),
            ("9223372036854775807", i64::MAX),
            ("-9223372036854775808", i64::MIN),
            ("1000000000000000000", 1_000_000_000_000_000_000),
        ];
        for &(s, v) in ok {
            assert_eq!(parse_i64(s.as_bytes()), Some(v), "{s:?}");
        }
        let bad = [
            "",
            "-",
            "+1",
            " 1",
            "1 ",
            "01",
            "00",
            "-0",
            "-01",
            "1a",
            "1.0",
            "1e3",
            "0x10",
            "9223372036854775808",
            "-9223372036854775809",
            "18446744073709551616",
            "99999999999999999999",
            "123456789012345678901",
            "1\u{0}",
            "١",
        ];
        for s in bad {
            assert_eq!(parse_i64(s.as_bytes()), None, "{s:?}");
        }
    }

    #[test]
    fn fmt_i64_appends() {
        let mut buf = b"x=".to_vec();
        fmt_i64(&mut buf, i64::MIN);
        fmt_i64(&mut buf, 0);
        assert_eq!(buf, b"x=-92233720368547758080");
    }

    #[test]
    fn parse_f64_matches_string2d() {
        let ok: &[(&str, f64)] = &[
            ("0", 0.0),
            ("-0", -0.0),
            ("1", 1.0),
            ("+1", 1.0),
            ("1e5", 1e5),
            ("1E+5", 1e5),
            ("1.", 1.0),
            (".5", 0.5),
            ("+.5e-3", 0.5e-3),
            ("-2.5", -2.5),
            ("0.1", 0.1),
            ("inf", f64::INFINITY),
            ("+inf", f64::INFINITY),
            ("-inf", f64::NEG_INFINITY),
            ("Infinity", f64::INFINITY),
            ("-INF", f64::NEG_INFINITY),
            ("0x10", 16.0),
            ("-0X1p-2", -0.25),
            ("0x.8", 0.5),
            ("0x1.8p1", 3.0),
            ("0x1p-1074", 5e-324),
            ("4.9e-324", 5e-324),
            ("1e-320", 1e-320),
            ("0e-400", 0.0),
            ("0e99999999999", 0.0),
            ("1.7976931348623157e308", f64::MAX),
            ("9223372036854775807", 9223372036854775807.0),
        ];
        for &(s, v) in ok {
            let got = parse_f64(s.as_bytes());
            assert_eq!(got.map(f64::to_bits), Some(v.to_bits()), "{s:?}");
        }
        let bad = [
            "",
            " 1",
            "\t1",
            "1 ",
            "1\u{0}",
            "abc",
            "nan",
            "-nan",
            "NaN",
            "nan(1)",
            "infin",
            ".",
            "e5",
            "1e",
            "1e+",
            "--1",
            "+-1",
            "1,5",
            "0x",
            "0x.",
            "0xg",
            "0x1p",
            "0x1p+",
            "1e309",
            "-1e400",
            "1.7976931348623159e308",
            "1e-400",
            "2.4703282292062327e-324",
            "0x1p1024",
            "0x1p-1076",
        ];
        for s in bad {
            assert_eq!(parse_f64(s.as_bytes()), None, "{s:?}");
        }
    }

    #[test]
    fn parse_hex_float_rounds_to_nearest_even() {
        let cases: &[(&str, u64)] = &[
            // 53 significant bits fit exactly; one more bit is a tie.
            ("0x1.00000000000008p0", 0x3ff0_0000_0000_0000),
            ("0x1.00000000000018p0", 0x3ff0_0000_0000_0002),
            ("0x1.000000000000080001p0", 0x3ff0_0000_0000_0001),
            ("0x1.fffffffffffff7ffp1023", 0x7fef_ffff_ffff_ffff),
            // Subnormals round on the 2^-1074 grid; a carry can reach the
            // smallest normal. glibc before the `old_half_bit` fix (e.g.
            // 2.36) returns ...c for the first one; this is the exact result.
            ("0x43e26c303395c.ap-1074", 0x4_3e26_c303_395d),
            ("0x1.8p-1074", 2),
            ("0x1.0000000000001p-1075", 1),
            ("0x1.fffffffffffffcp-1023", 0x0010_0000_0000_0000),
            ("0xffffffffffffffffffffffffffffp0", 0x46f0_0000_0000_0000),
        ];
        for &(s, bits) in cases {
            assert_eq!(
                parse_f64(s.as_bytes()).map(f64::to_bits),
                Some(bits),
                "{s:?}"
            );
        }
        // Exactly half the smallest subnormal rounds to zero: ERANGE.
        assert_eq!(parse_f64(b"0x1p-1075"), None);
    }

    #[test]
    fn fmt_double_matches_percent_17g() {
        // Outputs checked against redis-server 7.0.15 ZSCORE.
        let cases: &[(f64, &str)] = &[
            (0.0, "0"),
            (-0.0, "-0"),
            (1.0, "1"),
            (2.5, "2.5"),
            (-2.5, "-2.5"),
            (0.1, "0.10000000000000001"),
            (1e-7, "9.9999999999999995e-08"),
            (3e15, "3000000000000000"),
            (1e16, "10000000000000000"),
            (1e17, "1e+17"),
            (123456789012345678.0, "1.2345678901234568e+17"),
            (1e-4, "0.0001"),
            (1.5e-5, "1.5e-05"),
            (1e100, "1e+100"),
            (f64::MAX, "1.7976931348623157e+308"),
            (5e-324, "4.9406564584124654e-324"),
            // An exact tie at the 17th digit rounds to even, as glibc does.
            (1e15 + 0.25, "1000000000000000.2"),
            (1e15 + 0.75, "1000000000000000.8"),
            (f64::INFINITY, "inf"),
            (f64::NEG_INFINITY, "-inf"),
            (f64::NAN, "nan"),
        ];
        for &(v, s) in cases {
            assert_eq!(fmt_double(v), s, "{v:e}");
        }
    }

    #[test]
    fn incr_by_float_matches_redis() {
        // Each expectation was observed on redis-server 7.0.15.
        let ok: &[(Option<&str>, &str, &str)] = &[
            (None, "0.1", "0.1"),
            (Some("10.5"), "0.1", "10.6"),
            (Some("5.0e3"), "0", "5000"),
            (Some("0.1"), "0.2", "0.3"),
            (Some("3.0"), "0", "3"),
            (None, "-5", "-5"),
            (None, "1.5e-7", "0.00000015"),
            (None, "1e-18", "0"),
            (None, "-1e-18", "0"),
            (None, "-0.0", "0"),
            (None, "1e-4940", "0"),
            (None, "1.23456789012345678901", "1.23456789012345679"),
            (None, "12345678901234567890123", "12345678901234567889920"),
            (Some("9223372036854775807"), "1", "9223372036854775808"),
            (Some("16"), "+.5", "16.5"),
            (None, "0x10", "16"),
            (None, "0x1p-16445", "0"),
        ];
        for &(cur, incr, want) in ok {
            let got = incr_by_float(cur.map(str::as_bytes), incr.as_bytes());
            assert_eq!(got, Ok(want.as_bytes().to_vec()), "{cur:?} + {incr:?}");
        }

        // long double does not overflow at 1e308.
        let big = incr_by_float(Some(b"1e308"), b"1e308").unwrap_or_default();
        assert_eq!(
            big,
            b"199999999999999999993371759311691291321120199694831134415594095989843469737676123744200253843777078640893494450108026446304269499187921167194841628860392837535918200039206381557326219209014213335878306791577877829121087126122536729803237260434173178506889763247582601711514636284849020905456510092687857156096".to_vec()
        );
        let hundred = incr_by_float(None, b"1e100").unwrap_or_default();
        assert_eq!(
            hundred,
            b"9999999999999999999669353532207342619498699019828496079271391541752018669482644324418977840117055488".to_vec()
        );

        use FloatIncrError::*;
        let long_ok = format!("1.{}", "0".repeat(5117)); // 5119 bytes
        let too_long = format!("1.{}", "0".repeat(5118)); // 5120 bytes
        let err: &[(Option<&str>, &str, FloatIncrError)] = &[
            (Some("abc"), "1", NotFloat),
            (Some("10.5"), "abc", IncrNotFloat),
            (Some("abc"), "abc", NotFloat),
            (Some("abc"), "inf", NotFloat),
            (Some("10.5"), "inf", NanOrInfinity),
            (Some("-inf"), "1", NanOrInfinity),
            (Some("1e4932"), "1e4932", NanOrInfinity),
            (Some(""), "1", NotFloat),
            (None, "", IncrNotFloat),
            (None, " 1", IncrNotFloat),
            (None, "1 ", IncrNotFloat),
            (None, "1\u{0}a", IncrNotFloat),
            (None, "1\u{1}", IncrNotFloat),
            (None, "nan", IncrNotFloat),
            (None, "1e4933", IncrNotFloat),
            (None, "1e-5000", IncrNotFloat),
            (None, "0x1p-16446", IncrNotFloat),
            (None, &too_long, IncrNotFloat),
            (Some(&too_long), "1", NotFloat),
        ];
        for &(cur, incr, want) in err {
            let got = incr_by_float(cur.map(str::as_bytes), incr.as_bytes());
            assert_eq!(got, Err(want), "{cur:?} + {incr:?}");
        }
        assert_eq!(incr_by_float(None, long_ok.as_bytes()), Ok(b"1".to_vec()));
        assert_eq!(
            incr_by_float(Some(long_ok.as_bytes()), b"1"),
            Ok(b"2".to_vec())
        );
    }

    #[test]
    fn hincr_by_float_matches_redis() {
        use FloatIncrError::*;
        assert_eq!(hincr_by_float(Some(b"5"), b"0.1"), Ok(b"5.1".to_vec()));
        assert_eq!(hincr_by_float(None, b"3"), Ok(b"3".to_vec()));
        let err: &[(Option<&str>, &str, FloatIncrError)] = &[
            (Some("abc"), "1", HashValueNotFloat),
            (Some("1 "), "1", HashValueNotFloat),
            (Some("abc"), "abc", IncrNotFloat),
            (Some("abc"), "inf", IncrNanOrInfinity),
            (Some("1.5"), "inf", IncrNanOrInfinity),
            (None, "-inf", IncrNanOrInfinity),
            (None, "1e4933", IncrNotFloat),
            (Some("inf"), "1", NanOrInfinity),
        ];
        for &(cur, incr, want) in err {
            let got = hincr_by_float(cur.map(str::as_bytes), incr.as_bytes());
            assert_eq!(got, Err(want), "{cur:?} + {incr:?}");
        }
    }

    #[test]
    fn error_texts() {
        use FloatIncrError::*;
        assert_eq!(NotFloat.error_text(), "ERR value is not a valid float");
        assert_eq!(IncrNotFloat.error_text(), "ERR value is not a valid float");
        assert_eq!(
            NanOrInfinity.error_text(),
            "ERR increment would produce NaN or Infinity"
        );
        assert_eq!(
            HashValueNotFloat.error_text(),
            "ERR hash value is not a float"
        );
        assert_eq!(
            IncrNanOrInfinity.error_text(),
            "ERR value is NaN or Infinity"
        );
        assert_eq!(NotFloat.to_string(), NotFloat.error_text());
    }

    /// Differential checks against the C library this crate links anyway:
    /// `strtod` (wrapped in Redis's string2d rules) and `snprintf("%.17g")`.
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    mod libc_oracle {
        use super::super::*;
        use std::ffi::{c_char, c_int};

        extern "C" {
            fn strtod(s: *const c_char, end: *mut *mut c_char) -> f64;
            fn snprintf(buf: *mut c_char, n: usize, fmt: *const c_char, ...) -> c_int;
            fn __errno_location() -> *mut c_int;
        }

        const ERANGE: c_int = 34;

        /// Redis 7.0 string2d, on a NUL-terminated copy as an sds would be.
        fn string2d(s: &[u8]) -> Option<f64> {
            let mut buf = s.to_vec();
            buf.push(0);
            let mut end: *mut c_char = std::ptr::null_mut();
            // SAFETY: buf is NUL-terminated and outlives the calls.
            let (v, errno, consumed) = unsafe {
                *__errno_location() = 0;
                let v = strtod(buf.as_ptr().cast(), &mut end);
                (v, *__errno_location(), end.offset_from(buf.as_ptr().cast()))
            };
            let bad = s.is_empty()
                || is_c_space(s[0])
                || consumed != s.len() as isize
                || (errno == ERANGE && (v.is_infinite() || v == 0.0))
                || v.is_nan();
            (!bad).then_some(v)
        }

        fn g17(v: f64) -> String {
            let mut buf = [0u8; 64];
            // SAFETY: the format consumes exactly one double; buf is 64 bytes.
            let n = unsafe { snprintf(buf.as_mut_ptr().cast(), buf.len(), c"%.17g".as_ptr(), v) };
            String::from_utf8_lossy(&buf[..n as usize]).into_owned()
        }

        /// splitmix64: deterministic and dependency-free.
        struct Rng(u64);
        impl Rng {
            fn next(&mut self) -> u64 {
                self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
                let mut z = self.0;
                z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
                z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
                z ^ (z >> 31)
            }
            fn below(&mut self, n: usize) -> usize {
                (self.next() % n as u64) as usize
            }
        }

        #[test]
        fn parse_f64_agrees_with_strtod() {
            let mut rng = Rng(1);
            let alphabets: [&[u8]; 3] = [
                b"0123456789.eE+-xXpPaAbBfFiInNtTyY \t\x00\x0b",
                b"0123456789.eE+-",
                b"0123456789abcdefABCDEF.pP+-xX",
            ];
            for i in 0..300_000 {
                let s: Vec<u8> = if i % 4 == 3 {
                    let v = f64::from_bits(rng.next());
                    format!("{:.*e}", rng.below(25), v).into_bytes()
                } else {
                    let alpha = alphabets[i % 3];
                    (0..rng.below(14))
                        .map(|_| alpha[rng.below(alpha.len())])
                        .collect()
                };
                let ours = parse_f64(&s).map(f64::to_bits);
                assert_eq!(
                    ours,
                    string2d(&s).map(f64::to_bits),
                    "{:?}",
                    String::from_utf8_lossy(&s)
                );
            }
        }

        #[test]
        fn fmt_double_agrees_with_snprintf() {
            let mut rng = Rng(2);
            let check = |v: f64| {
                if v.is_finite() {
                    assert_eq!(fmt_double(v), g17(v), "{v:e}");
                }
            };
            for _ in 0..300_000 {
                let bits = rng.next();
                check(f64::from_bits(bits));
                let i = (bits >> 2) as i64;
                check(i as f64);
                check((i % 10_000_000) as f64 / 1000.0);
                check((i % 100_000) as f64 / 4.0);
            }
            for e in -325..310 {
                for m in [1.0, 5.0, 2.5, 0.1, 9.999999999999999, 123456789.0] {
                    check(m * 10f64.powi(e));
                }
            }
            // Exact ties at the 17th significant digit.
            for k in 0..20_000u64 {
                let base = (1_000_000_000_000_000 + k * 7919) as f64;
                check(base + 0.25);
                check(base + 0.75);
            }
        }
    }
}
