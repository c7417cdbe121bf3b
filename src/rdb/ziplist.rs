//! Redis's ziplist (ziplist.c), the compact list encoding written by Redis < 7; decode only.
//!
//! Layout: `zlbytes: u32 LE` (whole blob), `zltail: u32 LE` (offset of the last entry),
//! `zllen: u16 LE` (65535 = unknown), the entries, and a `0xFF` end byte. Each entry is
//! `<prevlen> <encoding> <data>`: prevlen is the previous entry's size in 1 byte (< 254) or
//! `0xFE` + u32 LE; integers are little-endian, but the 14- and 32-bit string lengths in the
//! encoding are big-endian.

use super::listpack::Item;
use super::RdbError;

/// Size of the header: zlbytes, zltail and zllen.
const HEADER: usize = 10;
/// The end byte; never the first byte of an entry.
const END: u8 = 0xff;
/// First prevlen byte announcing a 4-byte prevlen.
const BIG_PREVLEN: u8 = 0xfe;
/// zllen meaning "too many to count in the header; walk the entries".
const COUNT_UNKNOWN: u16 = u16::MAX;

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

/// Reads `n` (<= 8) little-endian bytes at `at` as a signed integer.
fn int_le(blob: &[u8], at: usize, n: usize, end: usize) -> Result<i64, RdbError> {
    let bytes = take(blob, at, n, end, "ziplist integer")?;
    let mut buf = [0u8; 8];
    buf[..n].copy_from_slice(bytes);
    // Sign-extend from the stored width.
    let shift = 64 - 8 * n as u32;
    Ok((i64::from_le_bytes(buf) << shift) >> shift)
}

/// Decodes the encoding and data at `at`: the item and the bytes they take.
fn body(blob: &[u8], at: usize, end: usize) -> Result<(Item<'_>, usize), RdbError> {
    let enc = take(blob, at, 1, end, "ziplist entry encoding")?[0];
    let string = |hdr: usize, len: usize| -> Result<(Item<'_>, usize), RdbError> {
        let s = take(blob, at + hdr, len, end, "ziplist string")?;
        Ok((Item::Str(s), hdr + len))
    };
    let int = |n: usize| -> Result<(Item<'_>, usize), RdbError> {
        Ok((Item::Int(int_le(blob, at + 1, n, end)?), 1 + n))
    };
    match enc {
        // 00pppppp: string of up to 63 bytes.
        0x00..=0x3f => string(1, usize::from(enc)),
        // 01pppppp qqqqqqqq: 14-bit big-endian length.
        0x40..=0x7f => {
            let low = take(blob, at + 1, 1, end, "ziplist string length")?[0];
            string(2, usize::from(enc & 0x3f) << 8 | usize::from(low))
        }
        // 10______ + u32 BE length. Redis writes the low 6 bits as zero but masks them off when
        // reading (ZIP_ENTRY_ENCODING), so any value is accepted here too.
        0x80..=0xbf => {
            let len = take(blob, at + 1, 4, end, "ziplist string length")?;
            string(
                5,
                u32::from_be_bytes([len[0], len[1], len[2], len[3]]) as usize,
            )
        }
        0xc0 => int(2),
        0xd0 => int(4),
        0xe0 => int(8),
        0xf0 => int(3),
        0xfe => int(1),
        // 1111xxxx with xxxx in 0001..=1101: the immediate value xxxx - 1, 0..=12.
        0xf1..=0xfd => Ok((Item::Int(i64::from(enc & 0x0f) - 1), 1)),
        _ => Err(RdbError::Corrupt {
            offset: at,
            what: "ziplist entry encoding",
        }),
    }
}

/// Decodes and validates a ziplist blob into its elements, in order.
///
/// As ziplistValidateIntegrity does (deep), checks zlbytes against the blob length, the end
/// byte, each entry's bounds, encoding and prevlen (which must equal the previous entry's
/// size, 0 for the first), that zltail points at the last entry (at the end of the header when
/// empty, where Redis puts it), and zllen unless it is 65535. A 5-byte prevlen holding a small
/// value is accepted: Redis writes those to avoid cascading updates.
pub fn items(blob: &[u8]) -> Result<Vec<Item<'_>>, RdbError> {
    let header = take(blob, 0, HEADER, blob.len(), "ziplist header")?;
    let zlbytes = u32::from_le_bytes([header[0], header[1], header[2], header[3]]);
    let zltail = u32::from_le_bytes([header[4], header[5], header[6], header[7]]) as usize;
    let zllen = u16::from_le_bytes([header[8], header[9]]);
    if zlbytes as usize != blob.len() {
        return Err(RdbError::Corrupt {
            offset: 0,
            what: "ziplist zlbytes equal to the blob length",
        });
    }
    if blob.len() == HEADER || blob.last() != Some(&END) {
        return Err(RdbError::Corrupt {
            offset: blob.len().saturating_sub(1).max(HEADER),
            what: "ziplist end byte",
        });
    }
    let end = blob.len() - 1;
    // Every entry takes at least 2 bytes, which bounds the allocation whatever zllen says.
    let mut out = Vec::with_capacity(usize::from(zllen).min((end - HEADER) / 2));
    let mut at = HEADER;
    let mut prev_size = 0;
    let mut last = HEADER;
    while at < end {
        let first = blob[at];
        let (prevlen, prevlen_size) = match first {
            END => {
                return Err(RdbError::Corrupt {
                    offset: at,
                    what: "ziplist end byte before the end",
                })
            }
            BIG_PREVLEN => {
                let b = take(blob, at + 1, 4, end, "ziplist prevlen")?;
                (u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize, 5)
            }
            _ => (usize::from(first), 1),
        };
        if prevlen != prev_size {
            return Err(RdbError::Corrupt {
                offset: at,
                what: "ziplist prevlen equal to the previous entry's size",
            });
        }
        let (item, body_size) = body(blob, at + prevlen_size, end)?;
        out.push(item);
        last = at;
        prev_size = prevlen_size + body_size;
        at += prev_size;
    }
    if zltail != last {
        return Err(RdbError::Corrupt {
            offset: 4,
            what: "ziplist zltail pointing at the last entry",
        });
    }
    if zllen != COUNT_UNKNOWN && usize::from(zllen) != out.len() {
        return Err(RdbError::Corrupt {
            offset: 8,
            what: "ziplist zllen",
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Test-only encoder written from the format description: the smallest encoding for each
    /// item, optionally a 5-byte prevlen on every entry (as Redis may leave after cascades).
    fn build(entries: &[Item<'_>], big_prevlen: bool) -> Vec<u8> {
        let mut blob = vec![0u8; HEADER];
        let mut prev = 0usize;
        let mut tail = HEADER;
        for item in entries {
            let start = blob.len();
            tail = start;
            if prev < 254 && !big_prevlen {
                blob.push(prev as u8);
            } else {
                blob.push(0xfe);
                blob.extend_from_slice(&(prev as u32).to_le_bytes());
            }
            match *item {
                Item::Str(s) => {
                    let len = s.len();
                    if len <= 63 {
                        blob.push(len as u8);
                    } else if len <= 16383 {
                        blob.push(0x40 | (len >> 8) as u8);
                        blob.push(len as u8);
                    } else {
                        blob.push(0x80);
                        blob.extend_from_slice(&(len as u32).to_be_bytes());
                    }
                    blob.extend_from_slice(s);
                }
                Item::Int(v) => {
                    if (0..=12).contains(&v) {
                        blob.push(0xf1 + v as u8);
                    } else if i8::try_from(v).is_ok() {
                        blob.push(0xfe);
                        blob.push(v as u8);
                    } else if i16::try_from(v).is_ok() {
                        blob.push(0xc0);
                        blob.extend_from_slice(&(v as i16).to_le_bytes());
                    } else if (-(1 << 23)..(1 << 23)).contains(&v) {
                        blob.push(0xf0);
                        blob.extend_from_slice(&v.to_le_bytes()[..3]);
                    } else if i32::try_from(v).is_ok() {
                        blob.push(0xd0);
                        blob.extend_from_slice(&(v as i32).to_le_bytes());
                    } else {
                        blob.push(0xe0);
                        blob.extend_from_slice(&v.to_le_bytes());
                    }
                }
            }
            prev = blob.len() - start;
        }
        blob.push(END);
        let len = blob.len() as u32;
        blob[..4].copy_from_slice(&len.to_le_bytes());
        blob[4..8].copy_from_slice(&(tail as u32).to_le_bytes());
        let count = u16::try_from(entries.len()).unwrap_or(u16::MAX);
        blob[8..10].copy_from_slice(&count.to_le_bytes());
        blob
    }

    #[test]
    fn decodes_the_example_from_ziplist_c() {
        // "2" and "5", from the comment at the top of ziplist.c.
        let blob = [
            0x0f, 0, 0, 0, 0x0c, 0, 0, 0, 2, 0, 0x00, 0xf3, 0x02, 0xf6, 0xff,
        ];
        assert_eq!(items(&blob), Ok(vec![Item::Int(2), Item::Int(5)]));
        assert_eq!(build(&[Item::Int(2), Item::Int(5)], false), blob);
    }

    #[test]
    fn empty_ziplist() {
        let blob = [11, 0, 0, 0, 10, 0, 0, 0, 0, 0, 0xff];
        assert_eq!(items(&blob), Ok(vec![]));
        assert_eq!(build(&[], false), blob);
    }

    #[test]
    fn every_encoding_round_trips() {
        let long: Vec<u8> = (0..70_000).map(|i| (i % 253) as u8).collect();
        let mid = vec![b'm'; 300];
        let entries = [
            Item::Str(b""),
            Item::Str(b"hello"),
            Item::Str(&long[..63]),
            Item::Str(&long[..64]),
            Item::Str(&mid),
            Item::Str(&long[..16383]),
            Item::Str(&long[..16384]),
            Item::Str(&long),
            Item::Int(0),
            Item::Int(12),
            Item::Int(13),
            Item::Int(-1),
            Item::Int(-128),
            Item::Int(127),
            Item::Int(128),
            Item::Int(i16::MIN as i64),
            Item::Int(i16::MAX as i64),
            Item::Int(i16::MAX as i64 + 1),
            Item::Int(-(1 << 23)),
            Item::Int((1 << 23) - 1),
            Item::Int(1 << 23),
            Item::Int(i32::MIN as i64),
            Item::Int(i32::MAX as i64),
            Item::Int(i32::MAX as i64 + 1),
            Item::Int(i64::MIN),
            Item::Int(i64::MAX),
        ];
        for big in [false, true] {
            let blob = build(&entries, big);
            assert_eq!(
                items(&blob).as_deref(),
                Ok(&entries[..]),
                "big prevlen {big}"
            );
        }
        // The entry after the 300-byte string carries a 0xFE prevlen (303 bytes before it).
        let blob = build(&[Item::Str(&mid), Item::Int(7)], false);
        assert_eq!(&blob[HEADER + 303..HEADER + 309], [0xfe, 47, 1, 0, 0, 0xf8]);
        assert_eq!(items(&blob), Ok(vec![Item::Str(&mid), Item::Int(7)]));
    }

    #[test]
    fn accepts_unknown_count_and_masked_32_bit_string_encoding() {
        let mut blob = build(&[Item::Int(1), Item::Int(2)], false);
        blob[8..10].copy_from_slice(&[0xff, 0xff]);
        assert_eq!(items(&blob), Ok(vec![Item::Int(1), Item::Int(2)]));
        // A 32-bit string header with nonzero low bits: Redis ignores them.
        let mut blob = vec![0u8; HEADER];
        blob.extend_from_slice(&[0, 0x85, 0, 0, 0, 2, b'h', b'i', 0xff]);
        blob[0] = blob.len() as u8;
        blob[4] = HEADER as u8;
        blob[8] = 1;
        assert_eq!(items(&blob), Ok(vec![Item::Str(b"hi")]));
    }

    #[test]
    fn mutated_blobs_never_panic() {
        let mid = vec![b'm'; 300];
        let good = build(
            &[
                Item::Str(b"abc"),
                Item::Str(&mid),
                Item::Int(-70_000),
                Item::Int(3),
            ],
            false,
        );
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
        let mid = vec![b'm'; 300];
        let good = build(
            &[Item::Str(b"abc"), Item::Str(&mid), Item::Int(1000)],
            false,
        );
        assert!(items(&good).is_ok());
        let corrupt = |blob: &[u8], what: &str| match items(blob) {
            Err(RdbError::Corrupt { what: w, .. }) => assert_eq!(w, what),
            other => panic!("{other:?} for {what}"),
        };
        assert!(matches!(items(&good[..9]), Err(RdbError::Truncated { .. })));
        let mut bad = good.clone();
        bad[0] ^= 1;
        corrupt(&bad, "ziplist zlbytes equal to the blob length");
        let mut bad = good.clone();
        *bad.last_mut().unwrap() = 0;
        corrupt(&bad, "ziplist end byte");
        let mut bad = good.clone();
        bad[4] += 1;
        corrupt(&bad, "ziplist zltail pointing at the last entry");
        let mut bad = good.clone();
        bad[8] = 2;
        corrupt(&bad, "ziplist zllen");
        // First entry's prevlen must be 0; second's must be 5 ("abc" entry size).
        let mut bad = good.clone();
        bad[HEADER] = 1;
        corrupt(&bad, "ziplist prevlen equal to the previous entry's size");
        let mut bad = good.clone();
        bad[HEADER + 5] = 4;
        corrupt(&bad, "ziplist prevlen equal to the previous entry's size");
        // Large prevlen value wrong (third entry follows the 303-byte one).
        let mut bad = good.clone();
        bad[HEADER + 5 + 303 + 1] = 48;
        corrupt(&bad, "ziplist prevlen equal to the previous entry's size");
        // Invalid integer encodings, and the end byte in the middle.
        for enc in [0xc1, 0xd5, 0xe8, 0xff] {
            let mut bad = good.clone();
            bad[HEADER + 1] = enc;
            corrupt(&bad, "ziplist entry encoding");
        }
        let mut bad = good.clone();
        bad[HEADER] = 0xff;
        corrupt(&bad, "ziplist end byte before the end");
        // A string longer than the blob: truncated, nothing allocated.
        let mut bad = good.clone();
        bad[HEADER + 1] = 0x80;
        bad[HEADER + 2..HEADER + 6].copy_from_slice(&u32::MAX.to_be_bytes());
        assert!(matches!(items(&bad), Err(RdbError::Truncated { .. })));
        // Every truncation of a valid blob (header patched to match) fails cleanly.
        for n in HEADER + 1..good.len() - 1 {
            let mut cut = good[..n].to_vec();
            cut.push(END);
            let len = cut.len() as u32;
            cut[..4].copy_from_slice(&len.to_le_bytes());
            assert!(items(&cut).is_err(), "{n}");
        }
    }
}
