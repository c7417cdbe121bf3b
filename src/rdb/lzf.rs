//! LZF (liblzf's lzf_d.c / lzf_c.c), the compression Redis applies to long strings in RDB files.
//!
//! The stream is a sequence of items, each starting with a control byte:
//! - `000LLLLL`: a literal run of `L + 1` bytes (1..=32) follows.
//! - `LLLooooo oooooooo`: a back-reference of `L + 2` bytes (3..=8) starting `o + 1` bytes
//!   (1..=8192) behind the current output position.
//! - `111ooooo LLLLLLLL oooooooo`: the same with length `L + 9` (9..=264).

use super::RdbError;

/// Longest literal run one control byte can announce.
const MAX_LIT: usize = 32;
/// Longest match a back-reference can copy: `7 + 255 + 2`.
const MAX_REF: usize = 264;
/// Farthest a back-reference can reach: 13 offset bits, plus one.
const MAX_OFF: usize = 8192;
/// Output bytes per input byte at best: a 3-byte back-reference emits at most 264 bytes (88x);
/// 2-byte back-references (at most 8 bytes, 4x) and literals (below 1x) expand less.
const MAX_EXPANSION: usize = MAX_REF / 3;
/// Bits of the compressor's hash table index (16384 slots, as liblzf's default).
const HLOG: u32 = 14;

/// Decompresses an LZF stream that must expand to exactly `out_len` bytes.
///
/// Every error is `Corrupt` with the offset in `input` of the offending item: a stream that
/// ends inside an item, a back-reference before the start of the output, or an output that is
/// not exactly `out_len` bytes. An `out_len` that `input` could not expand to even in theory is
/// refused before anything is allocated, so a lying length cannot exhaust memory.
pub fn decompress(input: &[u8], out_len: usize) -> Result<Vec<u8>, RdbError> {
    if out_len > input.len().saturating_mul(MAX_EXPANSION) {
        return Err(RdbError::Corrupt {
            offset: 0,
            what: "implausible LZF expansion",
        });
    }
    let truncated = |offset| RdbError::Corrupt {
        offset,
        what: "truncated LZF stream",
    };
    let too_long = |offset| RdbError::Corrupt {
        offset,
        what: "LZF output longer than declared",
    };
    let mut out: Vec<u8> = Vec::with_capacity(out_len);
    let mut ip = 0;
    while let Some(&ctrl) = input.get(ip) {
        let item = ip;
        let ctrl = usize::from(ctrl);
        ip += 1;
        if ctrl < 32 {
            let run = ctrl + 1;
            let lit = input.get(ip..ip + run).ok_or(truncated(item))?;
            if out.len() + run > out_len {
                return Err(too_long(item));
            }
            out.extend_from_slice(lit);
            ip += run;
        } else {
            let mut len = ctrl >> 5;
            if len == 7 {
                len += usize::from(*input.get(ip).ok_or(truncated(item))?);
                ip += 1;
            }
            let low = usize::from(*input.get(ip).ok_or(truncated(item))?);
            ip += 1;
            let back = ((ctrl & 0x1f) << 8) + low + 1;
            len += 2;
            if back > out.len() {
                return Err(RdbError::Corrupt {
                    offset: item,
                    what: "LZF back-reference before the start of the output",
                });
            }
            if out.len() + len > out_len {
                return Err(too_long(item));
            }
            let start = out.len() - back;
            if back >= len {
                out.extend_from_within(start..start + len);
            } else {
                // Overlapping copy: the reference repeats bytes it is itself producing, so copy
                // byte by byte as liblzf does. `start + i` is always below `out.len()`.
                for i in 0..len {
                    let b = out[start + i];
                    out.push(b);
                }
            }
        }
    }
    if out.len() != out_len {
        return Err(RdbError::Corrupt {
            offset: input.len(),
            what: "LZF output shorter than declared",
        });
    }
    Ok(out)
}

thread_local! {
    /// [`compress`]'s hash table, reused from call to call, with the stamp base of the last
    /// call. A slot holds `base + position + 1`, and only stamps above the current call's base
    /// are its own, so nothing is cleared between calls: zeroing a fresh 128 KB table for every
    /// string was a fifth of an export's CPU.
    static TABLE: std::cell::RefCell<(Vec<u32>, u32)> = const { std::cell::RefCell::new((Vec::new(), 0)) };
}

/// Compresses `input` as an LZF stream that liblzf's decoder accepts.
///
/// Returns `None` when compressing does not pay: inputs of 4 bytes or less, or a result not
/// smaller than `input.len() - 4`, in which case Redis stores the string plain (and for inputs
/// of 2 GB or more, which this does not try).
pub fn compress(input: &[u8]) -> Option<Vec<u8>> {
    let n = u32::try_from(input.len())
        .ok()
        .filter(|&n| n > 4 && n < u32::MAX / 2)?;
    TABLE.with(|cell| {
        let mut cell = cell.borrow_mut();
        let (table, last) = &mut *cell;
        if table.is_empty() {
            *table = vec![0; 1 << HLOG];
        }
        // This call's stamps run from base + 1 to base + n; start over before they would wrap.
        let base = if last.checked_add(n).is_some() {
            *last
        } else {
            table.fill(0);
            0
        };
        *last = base + n;
        compress_with(input, table, base)
    })
}

fn compress_with(input: &[u8], table: &mut [u32], base: u32) -> Option<Vec<u8>> {
    let n = input.len();
    let limit = n - 4;
    let mut out = Vec::with_capacity(limit);
    let stamp = |p: usize| base + p as u32 + 1;
    let hash = |p: usize| -> usize {
        let v = u32::from(input[p]) << 16 | u32::from(input[p + 1]) << 8 | u32::from(input[p + 2]);
        (v.wrapping_mul(2_654_435_761) >> (32 - HLOG)) as usize
    };
    let mut lit_start = 0;
    let mut ip = 0;
    while ip + 2 < n {
        let slot = hash(ip);
        let cand = table[slot];
        table[slot] = stamp(ip);
        if cand > base {
            let r = (cand - base - 1) as usize;
            let off = ip - r - 1;
            if off < MAX_OFF && input[r..r + 3] == input[ip..ip + 3] {
                let max_len = (n - ip).min(MAX_REF);
                let mut len = 3;
                while len < max_len && input[r + len] == input[ip + len] {
                    len += 1;
                }
                push_literals(&mut out, &input[lit_start..ip]);
                let l = len - 2;
                if l < 7 {
                    out.push((l << 5 | off >> 8) as u8);
                } else {
                    out.push((7 << 5 | off >> 8) as u8);
                    out.push((l - 7) as u8);
                }
                out.push(off as u8);
                if out.len() >= limit {
                    return None;
                }
                // Index the positions inside the match too, so later repeats find them.
                let end = ip + len;
                for p in ip + 1..end.min(n - 2) {
                    table[hash(p)] = stamp(p);
                }
                ip = end;
                lit_start = ip;
                continue;
            }
        }
        ip += 1;
    }
    push_literals(&mut out, &input[lit_start..]);
    (out.len() < limit).then_some(out)
}

/// Appends `lit` as literal runs of at most 32 bytes. LZF streams concatenate (a back-reference
/// never reaches before its own stream's start), so a value can be packed piece by piece, with
/// this for the pieces [`compress`] declines.
pub fn push_literals(out: &mut Vec<u8>, lit: &[u8]) {
    for run in lit.chunks(MAX_LIT) {
        out.push((run.len() - 1) as u8);
        out.extend_from_slice(run);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Deterministic pseudo-random bytes (xorshift), so failures reproduce.
    fn noise(len: usize, mut seed: u64) -> Vec<u8> {
        (0..len)
            .map(|_| {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                seed as u8
            })
            .collect()
    }

    fn round_trip(data: &[u8]) -> Option<usize> {
        let packed = compress(data)?;
        assert!(packed.len() < data.len() - 4);
        assert_eq!(decompress(&packed, data.len()).as_deref(), Ok(data));
        Some(packed.len())
    }

    #[test]
    fn round_trips_repetitive_and_text() {
        assert!(round_trip(&[b'a'; 100]).unwrap() < 10);
        let text = b"hello world, hello world, hello world, the end of hello world".repeat(20);
        assert!(round_trip(&text).is_some());
        let pattern: Vec<u8> = (0..5000u32).map(|i| (i % 251) as u8).collect();
        assert!(round_trip(&pattern).is_some());
        // Repeats longer than one 264-byte reference, chained.
        let mut near = noise(3000, 7);
        near.extend_from_within(0..3000);
        near.extend_from_within(0..3000);
        assert!(round_trip(&near).unwrap() < 3200);
        // A repeat farther back than 8192 bytes cannot be referenced.
        let mut far = noise(9000, 7);
        far.extend_from_within(0..600);
        assert_eq!(compress(&far), None);
    }

    #[test]
    fn round_trips_random_with_repeats() {
        for seed in 1..20u64 {
            let base = noise(64 + seed as usize * 37, seed);
            let mut data = base.clone();
            for k in 0..seed as usize {
                data.extend_from_slice(&base[k..k + 20]);
                data.extend_from_slice(&noise(k, seed + 100));
            }
            // Random-ish data may not compress; when it does, it must round-trip.
            if let Some(packed) = compress(&data) {
                assert_eq!(decompress(&packed, data.len()), Ok(data));
            }
        }
    }

    /// The reused table: a call must never take a previous call's slots for its own (they point
    /// into another input), including when the stamps wrap and the table is cleared.
    #[test]
    fn calls_in_a_row_and_across_the_stamp_wrap_stay_correct() {
        let inputs: Vec<Vec<u8>> = (1..40u64)
            .map(|seed| {
                let mut v = noise(50 + seed as usize * 13, seed);
                v.extend_from_slice(&v.clone()[..20]);
                v
            })
            .collect();
        let expected: Vec<Option<Vec<u8>>> = inputs.iter().map(|i| compress(i)).collect();
        // A fresh thread has a fresh table: the same results, whatever came before.
        let fresh = std::thread::spawn({
            let inputs = inputs.clone();
            move || inputs.iter().map(|i| compress(i)).collect::<Vec<_>>()
        })
        .join()
        .unwrap();
        assert_eq!(fresh, expected);
        // Near the end of the stamp range: the next calls wrap and start over.
        TABLE.with(|t| t.borrow_mut().1 = u32::MAX - 100);
        for (input, want) in inputs.iter().zip(&expected) {
            assert_eq!(&compress(input), want);
            if let Some(c) = want {
                assert_eq!(&decompress(c, input.len()).unwrap(), input);
            }
        }
    }

    #[test]
    fn round_trips_one_megabyte() {
        let mut data = noise(1 << 20, 42);
        for chunk in data.chunks_mut(4096).step_by(2) {
            chunk.fill(b'x');
        }
        assert!(round_trip(&data).is_some());
    }

    #[test]
    fn declines_small_or_incompressible() {
        assert_eq!(compress(b""), None);
        assert_eq!(compress(b"aaaa"), None);
        assert_eq!(compress(&noise(1000, 3)), None);
        // 8 bytes "aaaaaaaa" -> literal 'a' + back-reference of 7 = 4 bytes, not < 8 - 4.
        assert_eq!(compress(b"aaaaaaaa"), None);
        assert!(compress(b"aaaaaaaaa").is_some());
    }

    #[test]
    fn compresses_to_known_stream() {
        // "a" as a literal, then 9 bytes copied from 1 back: ctrl 0b111_00000, len 9-9=0, off 0.
        assert_eq!(compress(&[b'a'; 10]), Some(vec![0, b'a', 0xe0, 0, 0]));
        // Short reference: literal "a", then 8 bytes from 1 back: (8-2)<<5 | 0, 0.
        assert_eq!(compress(b"aaaaaaaaa"), Some(vec![0, b'a', 0xc0, 0]));
        // Literal "abc", then 9 bytes from 3 back: 0b111_00000, 9-9, 2.
        assert_eq!(
            compress(b"abcabcabcabc"),
            Some(vec![2, b'a', b'b', b'c', 0xe0, 0, 2])
        );
    }

    #[test]
    fn decodes_hand_made_streams() {
        assert_eq!(
            decompress(&[2, b'a', b'b', b'c', 0x80, 2], 9),
            Ok(b"abcabcabc".to_vec())
        );
        // Longest reference: 7 + 255 + 2 = 264 bytes.
        assert_eq!(
            decompress(&[0, b'z', 0xe0, 255, 0], 265),
            Ok(vec![b'z'; 265])
        );
        // A reference far back: 0x1f << 8 | 0xff + 1 = 8192.
        let mut stream = Vec::new();
        let data = noise(8192, 9);
        push_literals(&mut stream, &data);
        stream.extend_from_slice(&[0x3f, 0xff]);
        let mut want = data.clone();
        want.push(data[0]);
        want.push(data[1]);
        want.push(data[2]);
        assert_eq!(decompress(&stream, 8195), Ok(want));
    }

    #[test]
    fn rejects_bad_streams() {
        let corrupt = |input: &[u8], len, at| {
            assert!(
                matches!(decompress(input, len), Err(RdbError::Corrupt { offset, .. }) if offset == at),
                "{input:?} {len}"
            );
        };
        // Truncated literal run, truncated long reference, truncated offset byte.
        corrupt(&[3, b'a', b'b'], 4, 0);
        corrupt(&[0, b'a', 0xe0], 20, 2);
        corrupt(&[0, b'a', 0xe0, 1], 20, 2);
        corrupt(&[0, b'a', 0x20], 4, 2);
        // Reference before the start: nothing yet, and 2 back with 1 byte out.
        corrupt(&[0x20, 0], 3, 0);
        corrupt(&[0, b'a', 0x20, 1], 4, 2);
        // Output longer or shorter than declared.
        corrupt(&[2, b'a', b'b', b'c'], 2, 0);
        corrupt(&[0, b'a', 0x20, 0], 3, 2);
        corrupt(&[2, b'a', b'b', b'c'], 4, 4);
        corrupt(&[], 1, 0);
        assert_eq!(decompress(&[], 0), Ok(vec![]));
    }

    #[test]
    fn mutated_streams_never_panic() {
        let data =
            b"the quick brown fox jumps over the lazy dog; the quick brown fox again".repeat(8);
        let good = compress(&data).unwrap();
        for at in 0..good.len() {
            for flip in [0x01, 0x10, 0x20, 0x80, 0xff] {
                let mut bad = good.clone();
                bad[at] ^= flip;
                let _ = decompress(&bad, data.len());
                let _ = decompress(&bad[..at], data.len());
            }
        }
    }

    #[test]
    fn refuses_implausible_length_before_allocating() {
        assert_eq!(
            decompress(&[0, b'a', 0xe0, 0xff], usize::MAX),
            Err(RdbError::Corrupt {
                offset: 0,
                what: "implausible LZF expansion"
            })
        );
        assert!(matches!(
            decompress(&[0, 1, 2], 3 * 88 + 1),
            Err(RdbError::Corrupt {
                what: "implausible LZF expansion",
                ..
            })
        ));
    }
}
