//! Redis's listpack (listpack.c), the compact list, hash, set and sorted-set encoding written
//! by Redis >= 7.
//!
//! Layout: `total bytes: u32 LE`, `element count: u16 LE` (65535 = unknown), the entries, and a
//! `0xFF` terminator. Each entry is `<encoding + data> <backlen>`, where backlen is the size of
//! `<encoding + data>` in 1 to 5 bytes of 7 bits each, so the list can be walked backwards.

use std::borrow::Cow;

use super::RdbError;

/// Size of the header: total bytes and element count.
const HEADER: usize = 6;
/// The terminator byte, also never the first byte of an entry.
const EOF: u8 = 0xff;
/// Element count meaning "too many to count in the header; walk the entries".
const COUNT_UNKNOWN: u16 = u16::MAX;

/// One listpack element: Redis stores integer-looking strings as integers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Item<'a> {
    /// A string, borrowed from the blob.
    Str(&'a [u8]),
    /// An integer.
    Int(i64),
}

impl<'a> Item<'a> {
    /// The element as bytes, integers rendered in decimal as Redis replies with them.
    pub fn to_vec(&self) -> Vec<u8> {
        self.as_bytes().into_owned()
    }

    /// The element as bytes, borrowing strings and rendering integers in decimal.
    pub fn as_bytes(&self) -> Cow<'a, [u8]> {
        match *self {
            Item::Str(s) => Cow::Borrowed(s),
            Item::Int(v) => Cow::Owned(itoa::Buffer::new().format(v).as_bytes().to_vec()),
        }
    }
}

/// Returns `blob[at..at + n]` if it lies before `end`, else a truncation error naming `what`.
fn take<'a>(
    blob: &'a [u8],
    at: usize,
    n: usize,
    end: usize,
    what: &'static str,
) -> Result<&'a [u8], RdbError> {
    at.checked_add(n)
        .filter(|&stop| stop <= end)
        .and_then(|stop| blob.get(at..stop))
        .ok_or(RdbError::Truncated { offset: end, what })
}

/// Sign-extends the low `bits` bits of `v`.
fn sign_extend(v: u64, bits: u32) -> i64 {
    let shift = 64 - bits;
    ((v << shift) as i64) >> shift
}

/// Reads `n` (<= 8) little-endian bytes at `at` as a signed integer.
fn int_le(blob: &[u8], at: usize, n: usize, end: usize) -> Result<i64, RdbError> {
    let bytes = take(blob, at, n, end, "listpack integer")?;
    let mut buf = [0u8; 8];
    buf[..n].copy_from_slice(bytes);
    Ok(sign_extend(u64::from_le_bytes(buf), 8 * n as u32))
}

/// Decodes the entry at `at` (which must end by `end`): its item and the size of
/// `<encoding + data>`, excluding the backlen.
fn entry(blob: &[u8], at: usize, end: usize) -> Result<(Item<'_>, usize), RdbError> {
    let first = take(blob, at, 1, end, "listpack entry")?[0];
    let str_at = |hdr: usize, len: usize| -> Result<(Item<'_>, usize), RdbError> {
        let s = take(blob, at + hdr, len, end, "listpack string")?;
        Ok((Item::Str(s), hdr + len))
    };
    match first {
        // 0xxxxxxx: 7-bit unsigned integer.
        0x00..=0x7f => Ok((Item::Int(i64::from(first)), 1)),
        // 10xxxxxx: string of up to 63 bytes.
        0x80..=0xbf => str_at(1, usize::from(first & 0x3f)),
        // 110xxxxx yyyyyyyy: 13-bit signed integer.
        0xc0..=0xdf => {
            let low = take(blob, at + 1, 1, end, "listpack integer")?[0];
            let v = u64::from(first & 0x1f) << 8 | u64::from(low);
            Ok((Item::Int(sign_extend(v, 13)), 2))
        }
        // 1110xxxx yyyyyyyy: string of up to 4095 bytes.
        0xe0..=0xef => {
            let low = take(blob, at + 1, 1, end, "listpack string length")?[0];
            str_at(2, usize::from(first & 0x0f) << 8 | usize::from(low))
        }
        // 11110000 + u32 LE: long string.
        0xf0 => {
            let len = take(blob, at + 1, 4, end, "listpack string length")?;
            let len = u32::from_le_bytes([len[0], len[1], len[2], len[3]]) as usize;
            str_at(5, len)
        }
        0xf1 => Ok((Item::Int(int_le(blob, at + 1, 2, end)?), 3)),
        0xf2 => Ok((Item::Int(int_le(blob, at + 1, 3, end)?), 4)),
        0xf3 => Ok((Item::Int(int_le(blob, at + 1, 4, end)?), 5)),
        0xf4 => Ok((Item::Int(int_le(blob, at + 1, 8, end)?), 9)),
        EOF => Err(RdbError::Corrupt {
            offset: at,
            what: "listpack terminator before the end",
        }),
        _ => Err(RdbError::Corrupt {
            offset: at,
            what: "listpack entry encoding",
        }),
    }
}

/// Encodes an entry size as listpack's backlen (lpEncodeBacklen): big-endian groups of 7 bits,
/// every byte but the first flagged with 0x80, so it decodes right to left. Returns the buffer
/// and how many bytes of it are used. The thresholds (`< 16383`, not `<=`) follow Redis.
fn backlen(l: usize) -> ([u8; 5], usize) {
    let l = l as u64;
    let b = |shift: u32, more: bool| ((l >> shift) & 127) as u8 | if more { 128 } else { 0 };
    if l <= 127 {
        ([l as u8, 0, 0, 0, 0], 1)
    } else if l < 16383 {
        ([b(7, false), b(0, true), 0, 0, 0], 2)
    } else if l < 2_097_151 {
        ([b(14, false), b(7, true), b(0, true), 0, 0], 3)
    } else if l < 268_435_455 {
        ([b(21, false), b(14, true), b(7, true), b(0, true), 0], 4)
    } else {
        (
            [
                b(28, false),
                b(21, true),
                b(14, true),
                b(7, true),
                b(0, true),
            ],
            5,
        )
    }
}

/// Decodes and validates a listpack blob into its elements, in order.
///
/// Checks the header's total against the blob length, every entry's encoding and bounds, that
/// each backlen is exactly what Redis writes for the entry, the terminator at the very end, and
/// the element count unless the header says it is unknown (65535).
pub fn items(blob: &[u8]) -> Result<Vec<Item<'_>>, RdbError> {
    let header = take(blob, 0, HEADER, blob.len(), "listpack header")?;
    let total = u32::from_le_bytes([header[0], header[1], header[2], header[3]]);
    let count = u16::from_le_bytes([header[4], header[5]]);
    if total as usize != blob.len() {
        return Err(RdbError::Corrupt {
            offset: 0,
            what: "listpack total bytes equal to the blob length",
        });
    }
    if blob.len() == HEADER || blob.last() != Some(&EOF) {
        return Err(RdbError::Corrupt {
            offset: blob.len().saturating_sub(1).max(HEADER),
            what: "listpack terminator",
        });
    }
    let end = blob.len() - 1;
    // Every entry takes at least 2 bytes, which bounds the allocation whatever the header says.
    let mut out = Vec::with_capacity(usize::from(count).min((end - HEADER) / 2));
    let mut at = HEADER;
    while at < end {
        let (item, size) = entry(blob, at, end)?;
        let (want, n) = backlen(size);
        let got = take(blob, at + size, n, end, "listpack entry backlen")?;
        if got != &want[..n] {
            return Err(RdbError::Corrupt {
                offset: at + size,
                what: "listpack entry backlen",
            });
        }
        out.push(item);
        at += size + n;
    }
    if count != COUNT_UNKNOWN && usize::from(count) != out.len() {
        return Err(RdbError::Corrupt {
            offset: 4,
            what: "listpack element count",
        });
    }
    Ok(out)
}

/// Parses `s` as lpStringToInt64 does: only the canonical decimal form of an i64 (no sign but
/// a leading '-', no leading zeros, no "-0", no spaces) counts as an integer.
fn canonical_int(s: &[u8]) -> Option<i64> {
    // At most 20 characters ("-9223372036854775808"); rejecting longer ones first also keeps
    // the parse cheap for long strings.
    if s.is_empty() || s.len() > 20 {
        return None;
    }
    let v: i64 = std::str::from_utf8(s).ok()?.parse().ok()?;
    (itoa::Buffer::new().format(v).as_bytes() == s).then_some(v)
}

/// Builds a listpack byte-identical to the one Redis produces for the same appends.
#[derive(Debug, Clone)]
pub struct Writer {
    /// Header placeholder followed by the entries written so far; the terminator is added by
    /// `finish`.
    buf: Vec<u8>,
    /// Entries written so far.
    count: usize,
}

impl Default for Writer {
    fn default() -> Self {
        Self::new()
    }
}

impl Writer {
    /// An empty listpack.
    pub fn new() -> Self {
        Writer {
            buf: vec![0; HEADER],
            count: 0,
        }
    }

    /// Appends a string element. As Redis does, a string that is the canonical decimal form
    /// of an i64 (such as "123" or "-5") is stored as an integer; other strings get the
    /// smallest string encoding. Strings must be shorter than 4 GiB, the format's limit.
    pub fn push_bytes(&mut self, s: &[u8]) {
        if let Some(v) = canonical_int(s) {
            return self.push_int(v);
        }
        let start = self.buf.len();
        let len = s.len();
        if len < 64 {
            self.buf.push(0x80 | len as u8);
        } else if len < 4096 {
            self.buf.push(0xe0 | (len >> 8) as u8);
            self.buf.push(len as u8);
        } else {
            debug_assert!(u32::try_from(len).is_ok(), "listpack string over 4 GiB");
            self.buf.push(0xf0);
            self.buf.extend_from_slice(&(len as u32).to_le_bytes());
        }
        self.buf.extend_from_slice(s);
        self.end_entry(start);
    }

    /// Appends an integer element in the smallest integer encoding (lpEncodeIntegerGetType).
    pub fn push_int(&mut self, v: i64) {
        let start = self.buf.len();
        if (0..=127).contains(&v) {
            self.buf.push(v as u8);
        } else if (-4096..=4095).contains(&v) {
            // 13-bit two's complement.
            let u = (v as u16) & 0x1fff;
            self.buf.push(0xc0 | (u >> 8) as u8);
            self.buf.push(u as u8);
        } else {
            let (tag, width) = if i16::try_from(v).is_ok() {
                (0xf1, 2)
            } else if (-(1 << 23)..(1 << 23)).contains(&v) {
                (0xf2, 3)
            } else if i32::try_from(v).is_ok() {
                (0xf3, 4)
            } else {
                (0xf4, 8)
            };
            self.buf.push(tag);
            self.buf.extend_from_slice(&v.to_le_bytes()[..width]);
        }
        self.end_entry(start);
    }

    /// Appends the backlen of the entry that starts at `start` and counts it.
    fn end_entry(&mut self, start: usize) {
        let (bl, n) = backlen(self.buf.len() - start);
        self.buf.extend_from_slice(&bl[..n]);
        self.count += 1;
    }

    /// Number of elements appended.
    pub fn len(&self) -> usize {
        self.count
    }

    /// Whether no element has been appended.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Size in bytes of the listpack `finish` would return now (header and terminator
    /// included), for enforcing size limits while appending.
    pub fn bytes_len(&self) -> usize {
        self.buf.len() + 1
    }

    /// The finished listpack: header (total bytes, and the count or 65535 once it no longer
    /// fits below that) and terminator.
    pub fn finish(mut self) -> Vec<u8> {
        self.buf.push(EOF);
        let total = self.buf.len() as u32;
        let count = u16::try_from(self.count)
            .ok()
            .filter(|&c| c < COUNT_UNKNOWN)
            .unwrap_or(COUNT_UNKNOWN);
        self.buf[..4].copy_from_slice(&total.to_le_bytes());
        self.buf[4..6].copy_from_slice(&count.to_le_bytes());
        self.buf
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pack(f: impl FnOnce(&mut Writer)) -> Vec<u8> {
        let mut w = Writer::new();
        f(&mut w);
        let len = w.bytes_len();
        let blob = w.finish();
        assert_eq!(blob.len(), len);
        blob
    }

    /// The single entry (encoding, data, backlen) of a one-element listpack.
    fn entry_bytes(item: Item<'_>) -> Vec<u8> {
        let blob = pack(|w| match item {
            Item::Str(s) => w.push_bytes(s),
            Item::Int(v) => w.push_int(v),
        });
        blob[HEADER..blob.len() - 1].to_vec()
    }

    #[test]
    fn empty_listpack() {
        let blob = Writer::new().finish();
        assert_eq!(blob, [7, 0, 0, 0, 0, 0, 0xff]);
        assert_eq!(items(&blob), Ok(vec![]));
    }

    #[test]
    fn hand_worked_integer_encodings() {
        let int = |v| entry_bytes(Item::Int(v));
        assert_eq!(int(0), [0x00, 1]);
        assert_eq!(int(127), [0x7f, 1]);
        assert_eq!(int(128), [0xc0, 0x80, 2]);
        assert_eq!(int(-1), [0xdf, 0xff, 2]);
        assert_eq!(int(-4096), [0xd0, 0x00, 2]);
        assert_eq!(int(4095), [0xcf, 0xff, 2]);
        assert_eq!(int(4096), [0xf1, 0x00, 0x10, 3]);
        assert_eq!(int(-4097), [0xf1, 0xff, 0xef, 3]);
        assert_eq!(int(32768), [0xf2, 0x00, 0x80, 0x00, 4]);
        assert_eq!(int(-8_388_608), [0xf2, 0x00, 0x00, 0x80, 4]);
        assert_eq!(int(8_388_608), [0xf3, 0x00, 0x00, 0x80, 0x00, 5]);
        let mut max = vec![0xf4];
        max.extend_from_slice(&i64::MAX.to_le_bytes());
        max.push(9);
        assert_eq!(int(i64::MAX), max);
    }

    #[test]
    fn hand_worked_string_encodings() {
        assert_eq!(entry_bytes(Item::Str(b"")), [0x80, 1]);
        assert_eq!(entry_bytes(Item::Str(b"abc")), [0x83, b'a', b'b', b'c', 4]);
        let s64 = entry_bytes(Item::Str(&[b'x'; 64]));
        assert_eq!(&s64[..2], [0xe0, 64]);
        // 66 bytes of entry: backlen fits one byte.
        assert_eq!(s64[s64.len() - 1], 66);
        let s4096 = entry_bytes(Item::Str(&[b'x'; 4096]));
        assert_eq!(&s4096[..5], [0xf0, 0x00, 0x10, 0, 0]);
        // 4101 = 32 * 128 + 5: two backlen bytes, the low group flagged.
        assert_eq!(&s4096[s4096.len() - 2..], [32, 5 | 128]);
        // Integer-looking strings become integers; non-canonical ones stay strings.
        assert_eq!(entry_bytes(Item::Str(b"123")), [123, 1]);
        assert_eq!(entry_bytes(Item::Str(b"200")), [0xc0, 200, 2]);
        assert_eq!(entry_bytes(Item::Str(b"-5")), [0xdf, 0xfb, 2]);
        for s in [
            &b"007"[..],
            b"+5",
            b"-0",
            b" 1",
            b"1 ",
            b"-",
            b"9223372036854775808",
        ] {
            assert_eq!(entry_bytes(Item::Str(s))[0], 0x80 | s.len() as u8, "{s:?}");
        }
        assert_eq!(entry_bytes(Item::Str(b"-9223372036854775808"))[0], 0xf4);
    }

    #[test]
    fn backlen_thresholds_follow_redis() {
        assert_eq!(backlen(127), ([127, 0, 0, 0, 0], 1));
        assert_eq!(backlen(128), ([1, 128, 0, 0, 0], 2));
        assert_eq!(backlen(16382), ([127, 126 | 128, 0, 0, 0], 2));
        // Redis switches to 3 bytes at 16383 (strict `<`).
        assert_eq!(backlen(16383), ([0, 255, 255, 0, 0], 3));
        assert_eq!(backlen(2_097_151).1, 4);
        assert_eq!(backlen(268_435_455).1, 5);
    }

    #[test]
    fn round_trips_all_encodings_and_boundaries() {
        let ints = [
            0,
            1,
            127,
            128,
            -1,
            -4096,
            4095,
            4096,
            -4097,
            i16::MIN as i64,
            i16::MAX as i64,
            i16::MIN as i64 - 1,
            i16::MAX as i64 + 1,
            -(1 << 23),
            (1 << 23) - 1,
            -(1 << 23) - 1,
            1 << 23,
            i32::MIN as i64,
            i32::MAX as i64,
            i32::MIN as i64 - 1,
            i32::MAX as i64 + 1,
            i64::MIN,
            i64::MAX,
        ];
        let strings: Vec<Vec<u8>> = [0, 1, 63, 64, 4095, 4096, 16378, 70000]
            .iter()
            .map(|&n| (0..n).map(|i| b'a' + (i % 26) as u8).collect())
            .collect();
        let blob = pack(|w| {
            for &v in &ints {
                w.push_int(v);
                w.push_bytes(v.to_string().as_bytes());
            }
            for s in &strings {
                w.push_bytes(s);
            }
            assert_eq!(w.len(), ints.len() * 2 + strings.len());
        });
        let mut want: Vec<Item<'_>> = ints.iter().flat_map(|&v| [Item::Int(v); 2]).collect();
        want.extend(strings.iter().map(|s| Item::Str(s)));
        assert_eq!(items(&blob), Ok(want));
    }

    #[test]
    fn item_bytes() {
        assert_eq!(Item::Int(-42).to_vec(), b"-42");
        assert_eq!(Item::Str(b"x").as_bytes(), Cow::Borrowed(&b"x"[..]));
        assert_eq!(&*Item::Int(i64::MIN).as_bytes(), b"-9223372036854775808");
    }

    #[test]
    fn count_saturates_at_unknown() {
        let blob = pack(|w| (0..70_000).for_each(|i| w.push_int(i % 100)));
        assert_eq!(&blob[4..6], [0xff, 0xff]);
        assert_eq!(items(&blob).map(|v| v.len()), Ok(70_000));
        let blob = pack(|w| (0..65_534).for_each(|_| w.push_int(1)));
        assert_eq!(&blob[4..6], 65_534u16.to_le_bytes());
        let blob = pack(|w| (0..65_535).for_each(|_| w.push_int(1)));
        assert_eq!(&blob[4..6], [0xff, 0xff]);
    }

    #[test]
    fn decodes_hand_written_bytes() {
        // "a", 5, -2 (13-bit), then 300 as 16-bit and as 24-bit: wider than Redis would
        // choose, but valid, and Redis reads them.
        let blob = [
            25, 0, 0, 0, 5, 0, //
            0x81, b'a', 2, //
            0x05, 1, //
            0xdf, 0xfe, 2, //
            0xf1, 0x2c, 0x01, 3, //
            0xf2, 0x2c, 0x01, 0x00, 4, //
            0x80, 1, //
        ];
        let mut blob = blob.to_vec();
        blob.push(0xff);
        blob[0] = blob.len() as u8;
        blob[4] = 6;
        assert_eq!(
            items(&blob),
            Ok(vec![
                Item::Str(b"a"),
                Item::Int(5),
                Item::Int(-2),
                Item::Int(300),
                Item::Int(300),
                Item::Str(b""),
            ])
        );
    }

    #[test]
    fn matches_a_listpack_dumped_by_redis() {
        // DUMP of `HSET h a 1 b -5 c 200 d 70000 e hello f -9223372036854775808 g 007`,
        // Redis 7.0.15, rdbcompression off.
        let redis: [u8; 63] = [
            0x3f, 0x00, 0x00, 0x00, 0x0e, 0x00, 0x81, 0x61, 0x02, 0x01, 0x01, 0x81, 0x62, 0x02,
            0xdf, 0xfb, 0x02, 0x81, 0x63, 0x02, 0xc0, 0xc8, 0x02, 0x81, 0x64, 0x02, 0xf2, 0x70,
            0x11, 0x01, 0x04, 0x81, 0x65, 0x02, 0x85, 0x68, 0x65, 0x6c, 0x6c, 0x6f, 0x06, 0x81,
            0x66, 0x02, 0xf4, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x80, 0x09, 0x81, 0x67,
            0x02, 0x83, 0x30, 0x30, 0x37, 0x04, 0xff,
        ];
        let elems: [&[u8]; 14] = [
            b"a",
            b"1",
            b"b",
            b"-5",
            b"c",
            b"200",
            b"d",
            b"70000",
            b"e",
            b"hello",
            b"f",
            b"-9223372036854775808",
            b"g",
            b"007",
        ];
        let decoded: Vec<Vec<u8>> = items(&redis).unwrap().iter().map(Item::to_vec).collect();
        assert_eq!(decoded, elems);
        assert_eq!(pack(|w| elems.iter().for_each(|e| w.push_bytes(e))), redis);
    }

    #[test]
    fn mutated_blobs_never_panic() {
        let good = pack(|w| {
            for s in [
                &b"hello"[..],
                b"-300",
                b"70000",
                &[b'q'; 100],
                b"5000000000",
            ] {
                w.push_bytes(s);
            }
        });
        for at in 0..good.len() {
            for flip in [0x01, 0x10, 0x40, 0x80, 0xff] {
                let mut bad = good.clone();
                bad[at] ^= flip;
                let _ = items(&bad);
            }
        }
    }

    #[test]
    fn rejects_corruption() {
        let good = pack(|w| {
            w.push_bytes(b"hello");
            w.push_int(1000);
        });
        assert!(items(&good).is_ok());
        let corrupt = |blob: &[u8], what: &str| match items(blob) {
            Err(RdbError::Corrupt { what: w, .. }) => assert_eq!(w, what),
            other => panic!("{other:?} for {what}"),
        };
        // Header shorter than 6 bytes.
        assert!(matches!(items(&good[..5]), Err(RdbError::Truncated { .. })));
        // Total bytes disagreeing with the blob.
        let mut bad = good.clone();
        bad[0] += 1;
        corrupt(&bad, "listpack total bytes equal to the blob length");
        // Missing terminator (total adjusted so only the terminator is wrong).
        let mut bad = good.clone();
        *bad.last_mut().unwrap() = 0;
        corrupt(&bad, "listpack terminator");
        corrupt(&[6, 0, 0, 0, 0, 0], "listpack terminator");
        // Wrong backlen on the first entry ("hello": 6 bytes of entry).
        let mut bad = good.clone();
        bad[HEADER + 6] = 7;
        corrupt(&bad, "listpack entry backlen");
        // Count mismatch.
        let mut bad = good.clone();
        bad[4] = 3;
        corrupt(&bad, "listpack element count");
        // Unused encoding, and a terminator in the middle.
        let mut bad = good.clone();
        bad[HEADER] = 0xf5;
        corrupt(&bad, "listpack entry encoding");
        bad[HEADER] = 0xff;
        corrupt(&bad, "listpack terminator before the end");
        // An entry claiming more bytes than remain: a 10-byte string with 3 present.
        let cut = [13, 0, 0, 0, 1, 0, 0x8a, b'a', b'b', b'c', 11, 0, 0xff];
        assert!(matches!(items(&cut), Err(RdbError::Truncated { .. })));
        // A 32-bit string length of 4 GiB: bounds-checked, no allocation, no overflow.
        let huge = [13, 0, 0, 0, 1, 0, 0xf0, 0xff, 0xff, 0xff, 0xff, 1, 0xff];
        assert!(matches!(items(&huge), Err(RdbError::Truncated { .. })));
        // Every truncation of a valid blob (header patched to match) fails cleanly.
        for n in HEADER + 1..good.len() - 1 {
            let mut cut = good[..n].to_vec();
            cut.push(0xff);
            let total = cut.len() as u32;
            cut[..4].copy_from_slice(&total.to_le_bytes());
            assert!(items(&cut).is_err(), "{n}");
        }
    }
}
