//! Redis's intset (intset.c): the compact set of integers. Layout, all little-endian:
//! `encoding: u32` (2, 4 or 8 bytes per element), `length: u32`, then `length` elements.

use super::RdbError;

/// Decodes an intset blob into its integers, in stored (ascending) order.
pub fn decode(blob: &[u8]) -> Result<Vec<i64>, RdbError> {
    let header = |at: usize, what| {
        blob.get(at..at + 4)
            .and_then(|b| <[u8; 4]>::try_from(b).ok())
            .map(u32::from_le_bytes)
            .ok_or(RdbError::Truncated {
                offset: blob.len(),
                what,
            })
    };
    let width = header(0, "intset encoding")? as usize;
    if !matches!(width, 2 | 4 | 8) {
        return Err(RdbError::Corrupt {
            offset: 0,
            what: "intset encoding 2, 4 or 8",
        });
    }
    let len = header(4, "intset length")? as usize;
    let body = &blob[8..];
    // Check the size before allocating: the length comes from the input.
    if body.len() / width < len {
        return Err(RdbError::Truncated {
            offset: blob.len(),
            what: "intset elements",
        });
    }
    if body.len() != len * width {
        return Err(RdbError::Corrupt {
            offset: 8 + len * width,
            what: "end of intset",
        });
    }
    let mut out = Vec::with_capacity(len);
    for chunk in body.chunks_exact(width) {
        let mut buf = [0u8; 8];
        buf[..width].copy_from_slice(chunk);
        // Sign-extend from the element width.
        let shift = 64 - 8 * width as u32;
        out.push((i64::from_le_bytes(buf) << shift) >> shift);
    }
    Ok(out)
}

/// Encodes integers as an intset: sorted, deduplicated, at the smallest width that holds them
/// all, as Redis keeps it.
pub fn encode(values: &[i64]) -> Vec<u8> {
    let mut sorted = values.to_vec();
    sorted.sort_unstable();
    sorted.dedup();
    let width: usize = if sorted.iter().all(|&v| i16::try_from(v).is_ok()) {
        2
    } else if sorted.iter().all(|&v| i32::try_from(v).is_ok()) {
        4
    } else {
        8
    };
    let mut out = Vec::with_capacity(8 + sorted.len() * width);
    out.extend_from_slice(&(width as u32).to_le_bytes());
    out.extend_from_slice(&(sorted.len() as u32).to_le_bytes());
    for v in sorted {
        out.extend_from_slice(&v.to_le_bytes()[..width]);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_16_bit() {
        let blob = [2, 0, 0, 0, 2, 0, 0, 0, 0xff, 0xff, 5, 0];
        assert_eq!(decode(&blob), Ok(vec![-1, 5]));
    }

    #[test]
    fn decodes_64_bit() {
        let mut blob = vec![8, 0, 0, 0, 1, 0, 0, 0];
        blob.extend_from_slice(&i64::MIN.to_le_bytes());
        assert_eq!(decode(&blob), Ok(vec![i64::MIN]));
    }

    #[test]
    fn encode_round_trips_at_each_width() {
        for vals in [vec![5, -1, 5], vec![70_000, -3], vec![i64::MAX, 0]] {
            let mut want = vals.clone();
            want.sort_unstable();
            want.dedup();
            assert_eq!(decode(&encode(&vals)), Ok(want));
        }
        assert_eq!(encode(&[1])[0], 2);
        assert_eq!(encode(&[70_000])[0], 4);
        assert_eq!(encode(&[i64::MAX])[0], 8);
    }

    #[test]
    fn rejects_bad_input() {
        assert!(matches!(decode(&[2, 0]), Err(RdbError::Truncated { .. })));
        assert!(matches!(
            decode(&[3, 0, 0, 0, 0, 0, 0, 0]),
            Err(RdbError::Corrupt { .. })
        ));
        let huge = [4, 0, 0, 0, 0xff, 0xff, 0xff, 0xff];
        assert!(matches!(decode(&huge), Err(RdbError::Truncated { .. })));
    }
}
