//! Redis's zipmap (zipmap.c), the small-hash encoding of Redis < 2.6; decode only.
//!
//! Layout: `zmlen: u8` (the pair count, or 254 when it may be larger), then pairs of
//! `<len> key <len> <free: u8> value <free unused bytes>`, then `0xFF`. A length is one byte
//! when below 254, else `0xFE` followed by a u32 LE.

use super::RdbError;

/// The end byte; also the zmlen/length byte value that can never start a length.
const END: u8 = 0xff;
/// Marks a 5-byte length; as zmlen, "count not stored".
const BIGLEN: u8 = 0xfe;

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

/// Reads a length at `at`: its value and how many bytes it took.
fn length(blob: &[u8], at: usize, end: usize) -> Result<(usize, usize), RdbError> {
    match take(blob, at, 1, end, "zipmap length")?[0] {
        END => Err(RdbError::Corrupt {
            offset: at,
            what: "zipmap end byte inside a pair",
        }),
        BIGLEN => {
            let b = take(blob, at + 1, 4, end, "zipmap length")?;
            Ok((u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize, 5))
        }
        n => Ok((usize::from(n), 1)),
    }
}

/// Decodes and validates a zipmap blob into its (key, value) pairs, in order.
///
/// As zipmapValidateIntegrity does (deep), checks that every length, key, value and free
/// area lies inside the blob, the end byte at the very end, that the zipmap is not empty, and
/// that zmlen matches the pair count unless it is 254.
// The plain pair-of-slices type is the agreed API; an alias would only hide it.
#[allow(clippy::type_complexity)]
pub fn pairs(blob: &[u8]) -> Result<Vec<(&[u8], &[u8])>, RdbError> {
    if blob.len() < 2 {
        return Err(RdbError::Truncated {
            offset: blob.len(),
            what: "zipmap header",
        });
    }
    if blob.last() != Some(&END) {
        return Err(RdbError::Corrupt {
            offset: blob.len() - 1,
            what: "zipmap end byte",
        });
    }
    let end = blob.len() - 1;
    // Pairs take at least 3 bytes each, so the vector is bounded by the blob; it grows as
    // pairs are found rather than trusting zmlen.
    let mut out = Vec::new();
    let mut at = 1;
    while at < end {
        if blob[at] == END {
            return Err(RdbError::Corrupt {
                offset: at,
                what: "zipmap end byte before the end",
            });
        }
        let (key_len, n) = length(blob, at, end)?;
        let key = take(blob, at + n, key_len, end, "zipmap key")?;
        at += n + key_len;
        let (value_len, n) = length(blob, at, end)?;
        let free = usize::from(take(blob, at + n, 1, end, "zipmap free byte count")?[0]);
        at += n + 1;
        let value = take(blob, at, value_len, end, "zipmap value")?;
        take(blob, at + value_len, free, end, "zipmap free bytes")?;
        at += value_len + free;
        out.push((key, value));
    }
    if out.is_empty() {
        return Err(RdbError::Corrupt {
            offset: 1,
            what: "zipmap with at least one pair",
        });
    }
    let zmlen = blob[0];
    if zmlen != BIGLEN && usize::from(zmlen) != out.len() {
        return Err(RdbError::Corrupt {
            offset: 0,
            what: "zipmap zmlen",
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Test-only encoder from the format description; `free` unused bytes after each value.
    fn build(pairs: &[(&[u8], &[u8])], free: u8) -> Vec<u8> {
        let len = |blob: &mut Vec<u8>, n: usize| {
            if n < 254 {
                blob.push(n as u8);
            } else {
                blob.push(BIGLEN);
                blob.extend_from_slice(&(n as u32).to_le_bytes());
            }
        };
        let mut blob = vec![pairs.len().min(254) as u8];
        for (k, v) in pairs {
            len(&mut blob, k.len());
            blob.extend_from_slice(k);
            len(&mut blob, v.len());
            blob.push(free);
            blob.extend_from_slice(v);
            blob.extend(std::iter::repeat_n(b'.', usize::from(free)));
        }
        blob.push(END);
        blob
    }

    #[test]
    fn decodes_hand_written_bytes() {
        // {"foo" => "bar"} with one free byte, {"x" => ""}.
        let blob = [
            2, 3, b'f', b'o', b'o', 3, 1, b'b', b'a', b'r', 0, 1, b'x', 0, 0, 0xff,
        ];
        assert_eq!(
            pairs(&blob),
            Ok(vec![(&b"foo"[..], &b"bar"[..]), (&b"x"[..], &b""[..])])
        );
    }

    #[test]
    fn long_keys_values_and_free_bytes_round_trip() {
        let long_key = vec![b'k'; 254];
        let long_value = vec![b'v'; 70_000];
        let want: Vec<(&[u8], &[u8])> = vec![
            (b"a", b"1"),
            (&long_key, b"short"),
            (b"big", &long_value),
            (&long_key[..253], &long_value[..253]),
        ];
        for free in [0, 4, 255] {
            assert_eq!(pairs(&build(&want, free)), Ok(want.clone()), "free {free}");
        }
        let blob = build(&want, 0);
        assert_eq!(&blob[6..11], [BIGLEN, 254, 0, 0, 0]);
        // 254 and more pairs: zmlen 254 means "count them".
        let keys: Vec<Vec<u8>> = (0..300).map(|i: u32| i.to_string().into_bytes()).collect();
        let many: Vec<(&[u8], &[u8])> = keys.iter().map(|k| (&k[..], &b"v"[..])).collect();
        let blob = build(&many, 1);
        assert_eq!(blob[0], 254);
        assert_eq!(pairs(&blob).map(|p| p.len()), Ok(300));
    }

    #[test]
    fn mutated_blobs_never_panic() {
        let long = vec![b'l'; 300];
        let good = build(&[(b"key", b"value"), (&long, b"v"), (b"k", &long)], 3);
        for at in 0..good.len() {
            for flip in [0x01, 0x10, 0x40, 0x80, 0xff] {
                let mut bad = good.clone();
                bad[at] ^= flip;
                let _ = pairs(&bad);
            }
        }
    }

    #[test]
    fn rejects_corruption() {
        let good = build(&[(b"key", b"value"), (b"k2", b"v2")], 2);
        assert!(pairs(&good).is_ok());
        let corrupt = |blob: &[u8], what: &str| match pairs(blob) {
            Err(RdbError::Corrupt { what: w, .. }) => assert_eq!(w, what),
            other => panic!("{other:?} for {what}"),
        };
        assert!(matches!(pairs(&[0]), Err(RdbError::Truncated { .. })));
        let mut bad = good.clone();
        *bad.last_mut().unwrap() = 0;
        corrupt(&bad, "zipmap end byte");
        corrupt(&[0, 0xff], "zipmap with at least one pair");
        let mut bad = good.clone();
        bad[0] = 3;
        corrupt(&bad, "zipmap zmlen");
        // The end byte where a value length belongs, and where a pair should start.
        let mut bad = good.clone();
        bad[5] = 0xff;
        corrupt(&bad, "zipmap end byte inside a pair");
        let short = [1, 1, b'k', 1, 0, b'v', 0xff, 0xff];
        corrupt(&short, "zipmap end byte before the end");
        // Lengths and free counts running past the end.
        let mut bad = good.clone();
        bad[1] = 200;
        assert!(matches!(pairs(&bad), Err(RdbError::Truncated { .. })));
        let mut bad = good.clone();
        bad[6] = 250;
        assert!(matches!(
            pairs(&bad),
            Err(RdbError::Truncated {
                what: "zipmap free bytes",
                ..
            })
        ));
        let huge = [1, 0xfe, 0xff, 0xff, 0xff, 0xff, b'k', 0xff];
        assert!(matches!(pairs(&huge), Err(RdbError::Truncated { .. })));
        for n in 2..good.len() - 1 {
            let mut cut = good[..n].to_vec();
            cut.push(END);
            assert!(pairs(&cut).is_err(), "{n}");
        }
    }
}
