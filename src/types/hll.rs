//! HyperLogLog in Redis's own representation (hyperloglog.c), stored as a plain string value so
//! that GET, DUMP, RDB import and export carry it byte for byte and a value made by Redis counts
//! the same here.
//!
//! Layout: a 16-byte header (`HYLL`, encoding, three unused bytes, the cached cardinality as
//! eight little-endian bytes whose top bit marks it stale), then either 16384 six-bit registers
//! (dense, 12288 bytes) or the sparse opcodes ZERO (`00xxxxxx`: 1-64 zero registers), XZERO
//! (`01xxxxxx yyyyyyyy`: 1-16384 zero registers) and VAL (`1vvvvvxx`: 1-4 registers of value
//! 1-32). A sparse value is promoted to dense when a register needs more than 32 or when it
//! would grow past [`SPARSE_MAX_BYTES`], exactly when Redis promotes it, so the bytes match.

use super::{Result, TypeError};
use crate::storage::{Db, Meta, ValueType};
use crate::util::time::now_ms;

/// Registers: 2^14.
const P: u32 = 14;
const REGISTERS: usize = 1 << P;
const Q: u32 = 64 - P;
const BITS: usize = 6;
const REGISTER_MAX: u8 = (1 << BITS) - 1;
const HDR: usize = 16;
/// Size of a dense value.
pub const DENSE_SIZE: usize = HDR + (REGISTERS * BITS).div_ceil(8);
const DENSE: u8 = 0;
const SPARSE: u8 = 1;
/// Redis's `hll-sparse-max-bytes` default: a sparse value that would grow past this many bytes
/// (header included) becomes dense.
pub const SPARSE_MAX_BYTES: usize = 3000;
const VAL_MAX_VALUE: u8 = 32;
const VAL_MAX_LEN: usize = 4;
const ZERO_MAX_LEN: usize = 64;
const XZERO_MAX_LEN: usize = 16384;
const ALPHA_INF: f64 = 0.721_347_520_444_481_7;

/// Redis's MurmurHash64A, seed 0xadc83b19, reading little-endian words as Redis does on x86.
fn murmur64a(key: &[u8]) -> u64 {
    const M: u64 = 0xc6a4_a793_5bd1_e995;
    const R: u32 = 47;
    let mut h: u64 = 0xadc8_3b19 ^ (key.len() as u64).wrapping_mul(M);
    let mut chunks = key.chunks_exact(8);
    for c in &mut chunks {
        let mut w = [0u8; 8];
        w.copy_from_slice(c);
        let mut k = u64::from_le_bytes(w).wrapping_mul(M);
        k ^= k >> R;
        k = k.wrapping_mul(M);
        h ^= k;
        h = h.wrapping_mul(M);
    }
    let tail = chunks.remainder();
    if !tail.is_empty() {
        for (i, &b) in tail.iter().enumerate() {
            h ^= u64::from(b) << (8 * i);
        }
        h = h.wrapping_mul(M);
    }
    h ^= h >> R;
    h = h.wrapping_mul(M);
    h ^= h >> R;
    h
}

/// The register an element maps to and the length of its `000...1` pattern (1..=Q+1).
fn pattern(ele: &[u8]) -> (usize, u8) {
    let hash = murmur64a(ele);
    let index = (hash & (REGISTERS as u64 - 1)) as usize;
    let rest = (hash >> P) | (1u64 << Q);
    (index, rest.trailing_zeros() as u8 + 1)
}

fn dense_get(regs: &[u8], i: usize) -> u8 {
    let byte = i * BITS / 8;
    let fb = (i * BITS) & 7;
    let b0 = u16::from(regs[byte]);
    let b1 = u16::from(regs.get(byte + 1).copied().unwrap_or(0));
    (((b0 >> fb) | (b1 << (8 - fb))) & u16::from(REGISTER_MAX)) as u8
}

fn dense_set(regs: &mut [u8], i: usize, v: u8) {
    let byte = i * BITS / 8;
    let fb = (i * BITS) & 7;
    let v = u16::from(v);
    let max = u16::from(REGISTER_MAX);
    regs[byte] &= !((max << fb) as u8);
    regs[byte] |= (v << fb) as u8;
    if let Some(next) = regs.get_mut(byte + 1) {
        *next &= !((max >> (8 - fb)) as u8);
        *next |= (v >> (8 - fb)) as u8;
    }
}

/// Sets a dense register to `count` if that is larger; true when it changed.
fn dense_raise(regs: &mut [u8], i: usize, count: u8) -> bool {
    if count > dense_get(regs, i) {
        dense_set(regs, i, count);
        true
    } else {
        false
    }
}

/// A sparse opcode: (registers covered, value, bytes).
fn opcode(b: &[u8], at: usize) -> Option<(usize, u8, usize)> {
    let op = *b.get(at)?;
    Some(if op & 0xc0 == 0 {
        (usize::from(op & 0x3f) + 1, 0, 1)
    } else if op & 0x80 == 0 {
        let lo = *b.get(at + 1)?;
        ((usize::from(op & 0x3f) << 8 | usize::from(lo)) + 1, 0, 2)
    } else {
        (usize::from(op & 0x3) + 1, ((op >> 2) & 0x1f) + 1, 1)
    })
}

fn val_op(value: u8, len: usize) -> u8 {
    0x80 | ((value - 1) << 2) | (len as u8 - 1)
}

fn push_zeros(out: &mut Vec<u8>, len: usize) {
    if len > ZERO_MAX_LEN {
        let l = len - 1;
        out.push(0x40 | (l >> 8) as u8);
        out.push((l & 0xff) as u8);
    } else {
        out.push((len - 1) as u8);
    }
}

/// An empty HyperLogLog, as PFADD creates it: sparse, one XZERO covering every register.
fn new_sparse() -> Vec<u8> {
    let mut v = Vec::with_capacity(HDR + 2);
    v.extend_from_slice(b"HYLL");
    v.push(SPARSE);
    v.extend_from_slice(&[0; 11]);
    push_zeros(&mut v, XZERO_MAX_LEN);
    v
}

/// Marks the cached cardinality stale.
fn invalidate(hll: &mut [u8]) {
    hll[15] |= 0x80;
}

/// The registers of a sparse value expanded into a dense value (header copied).
fn sparse_to_dense(hll: &[u8]) -> Result<Vec<u8>> {
    let mut dense = vec![0u8; DENSE_SIZE];
    dense[..HDR].copy_from_slice(&hll[..HDR]);
    dense[4] = DENSE;
    let mut idx = 0;
    let mut p = HDR;
    while p < hll.len() {
        let (run, value, len) = opcode(hll, p).ok_or(TypeError::InvalidHll)?;
        if value > 0 {
            if idx + run > REGISTERS {
                break;
            }
            for i in idx..idx + run {
                dense_set(&mut dense[HDR..], i, value);
            }
        }
        idx += run;
        p += len;
    }
    if idx != REGISTERS {
        return Err(TypeError::InvalidHll);
    }
    Ok(dense)
}

/// Raises register `index` of a sparse value to `count` (hllSparseSet), promoting it to dense
/// as Redis does; true when the value changed.
fn sparse_raise(hll: &mut Vec<u8>, index: usize, count: u8) -> Result<bool> {
    if count > VAL_MAX_VALUE {
        return promote(hll, index, count);
    }
    // Step 1: the opcode covering `index`.
    let (mut p, mut first, mut prev) = (HDR, 0usize, None);
    let (span, value, oplen) = loop {
        let Some((span, value, oplen)) = opcode(hll, p) else {
            return Err(TypeError::InvalidHll);
        };
        if index < first + span {
            break (span, value, oplen);
        }
        prev = Some(p);
        p += oplen;
        first += span;
    };
    let is_val = value > 0;
    // Case A: already at least `count`.
    if is_val && value >= count {
        return Ok(false);
    }
    if (is_val || oplen == 1) && span == 1 {
        // Cases B and C: a one-register VAL or ZERO becomes VAL(count).
        hll[p] = val_op(count, 1);
    } else {
        // Case D: split into up to three opcodes.
        let last = first + span - 1;
        let mut seq = Vec::with_capacity(5);
        if is_val {
            if index != first {
                seq.push(val_op(value, index - first));
            }
            seq.push(val_op(count, 1));
            if index != last {
                seq.push(val_op(value, last - index));
            }
        } else {
            if index != first {
                push_zeros(&mut seq, index - first);
            }
            seq.push(val_op(count, 1));
            if index != last {
                push_zeros(&mut seq, last - index);
            }
        }
        if seq.len() > oplen && hll.len() + seq.len() - oplen > SPARSE_MAX_BYTES {
            return promote(hll, index, count);
        }
        hll.splice(p..p + oplen, seq);
    }
    // Step 4: merge adjacent VAL opcodes of equal value, scanning up to five opcodes from the
    // one before the change.
    let mut q = prev.unwrap_or(HDR);
    let mut scan = 5;
    while q < hll.len() && scan > 0 {
        scan -= 1;
        let op = hll[q];
        if op & 0xc0 == 0x40 {
            q += 2;
            continue;
        }
        if op & 0xc0 == 0 {
            q += 1;
            continue;
        }
        if let Some(&next) = hll.get(q + 1) {
            if next & 0x80 != 0 {
                let (v1, v2) = (((op >> 2) & 0x1f) + 1, ((next >> 2) & 0x1f) + 1);
                let len = usize::from(op & 3) + usize::from(next & 3) + 2;
                if v1 == v2 && len <= VAL_MAX_LEN {
                    hll[q + 1] = val_op(v1, len);
                    hll.remove(q);
                    continue;
                }
            }
        }
        q += 1;
    }
    invalidate(hll);
    Ok(true)
}

/// Converts to dense and raises the register there.
fn promote(hll: &mut Vec<u8>, index: usize, count: u8) -> Result<bool> {
    *hll = sparse_to_dense(hll)?;
    dense_raise(&mut hll[HDR..], index, count);
    Ok(true)
}

/// Adds one element; true when a register changed.
fn add(hll: &mut Vec<u8>, ele: &[u8]) -> Result<bool> {
    let (index, count) = pattern(ele);
    match hll[4] {
        DENSE => Ok(dense_raise(&mut hll[HDR..], index, count)),
        _ => sparse_raise(hll, index, count),
    }
}

/// Raises `max[i]` to every register of `hll` (hllMerge).
fn merge_into(max: &mut [u8], hll: &[u8]) -> Result<()> {
    if hll[4] == DENSE {
        for (i, m) in max.iter_mut().enumerate() {
            *m = (*m).max(dense_get(&hll[HDR..], i));
        }
        return Ok(());
    }
    let (mut idx, mut p) = (0, HDR);
    while p < hll.len() {
        let (run, value, len) = opcode(hll, p).ok_or(TypeError::InvalidHll)?;
        if value > 0 {
            if idx + run > REGISTERS {
                break;
            }
            for m in &mut max[idx..idx + run] {
                *m = (*m).max(value);
            }
        }
        idx += run;
        p += len;
    }
    if idx != REGISTERS {
        return Err(TypeError::InvalidHll);
    }
    Ok(())
}

fn sigma(mut x: f64) -> f64 {
    if x == 1.0 {
        return f64::INFINITY;
    }
    let (mut y, mut z) = (1.0, x);
    loop {
        x *= x;
        let prev = z;
        z += x * y;
        y += y;
        if prev == z {
            return z;
        }
    }
}

fn tau(mut x: f64) -> f64 {
    if x == 0.0 || x == 1.0 {
        return 0.0;
    }
    let (mut y, mut z) = (1.0, 1.0 - x);
    loop {
        x = x.sqrt();
        let prev = z;
        y *= 0.5;
        z -= (1.0 - x) * (1.0 - x) * y;
        if prev == z {
            return z / 3.0;
        }
    }
}

/// Ertl's estimator over a register histogram, as hllCount computes it.
fn estimate(histo: &[u64; 64]) -> u64 {
    let m = REGISTERS as f64;
    let mut z = m * tau((m - histo[Q as usize + 1] as f64) / m);
    for j in (1..=Q as usize).rev() {
        z += histo[j] as f64;
        z *= 0.5;
    }
    z += m * sigma(histo[0] as f64 / m);
    (ALPHA_INF * m * m / z).round() as u64
}

/// The cardinality of a valid value (sparse histograms check the register total).
fn count(hll: &[u8]) -> Result<u64> {
    let mut histo = [0u64; 64];
    if hll[4] == DENSE {
        for i in 0..REGISTERS {
            histo[usize::from(dense_get(&hll[HDR..], i))] += 1;
        }
    } else {
        let (mut idx, mut p) = (0, HDR);
        while p < hll.len() {
            let (run, value, len) = opcode(hll, p).ok_or(TypeError::InvalidHll)?;
            idx += run;
            histo[usize::from(value)] += run as u64;
            p += len;
        }
        if idx != REGISTERS {
            return Err(TypeError::InvalidHll);
        }
    }
    Ok(estimate(&histo))
}

/// Checks that a string value is a HyperLogLog (isHLLObjectOrReply).
fn check(v: &[u8]) -> Result<()> {
    let ok = v.len() >= HDR
        && &v[..4] == b"HYLL"
        && v[4] <= SPARSE
        && (v[4] != DENSE || v.len() == DENSE_SIZE);
    if ok {
        Ok(())
    } else {
        Err(TypeError::NotHll)
    }
}

/// The live HyperLogLog value of `key` (None when absent), checked. The caller holds the key
/// lock. A fragmented string is read as bytes (it is normally not a valid HyperLogLog).
fn load(db: &Db<'_>, key: &[u8]) -> Result<Option<Vec<u8>>> {
    decode(db, key, db.meta(key)?)
}

/// [`load`] for a caller without the key lock (PFCOUNT of several keys).
fn load_unlocked(db: &Db<'_>, key: &[u8]) -> Result<Option<Vec<u8>>> {
    db.read_string(key, |r| {
        let Some(r) = r else {
            return Ok(None);
        };
        if r.meta().ty() != ValueType::String {
            return Err(TypeError::WrongType);
        }
        if r.len() < HDR as u64 {
            return Err(TypeError::NotHll);
        }
        let v = r.into_bytes()?.to_vec();
        check(&v)?;
        Ok(Some(v))
    })
}

fn decode(db: &Db<'_>, key: &[u8], meta: Option<Meta>) -> Result<Option<Vec<u8>>> {
    let Some(meta) = meta else {
        return Ok(None);
    };
    if meta.ty() != ValueType::String {
        return Err(TypeError::WrongType);
    }
    if meta.string_len() < HDR as u64 {
        return Err(TypeError::NotHll);
    }
    let v = db.string_value(key, meta)?.to_vec();
    check(&v)?;
    Ok(Some(v))
}

/// Stores `value` under `key`, keeping the key's TTL.
fn store(db: &Db<'_>, key: &[u8], value: &[u8]) -> Result<()> {
    let raw = db.meta_raw(key)?;
    let live = raw.as_ref().filter(|m| !m.is_expired(now_ms()));
    let expire_at = live.map_or(0, Meta::expire_at);
    let mut batch = db.batch();
    batch.put_meta(
        db.phys,
        key,
        raw.as_ref(),
        &Meta::encode_string(value, expire_at),
    );
    Ok(batch.commit()?)
}

/// PFADD: true when the key was created or a register changed.
pub fn pfadd(db: &Db<'_>, key: &[u8], elements: &[&[u8]]) -> Result<bool> {
    let _guard = db.lock(key);
    let (mut hll, mut updated) = match load(db, key)? {
        Some(v) => (v, false),
        None => (new_sparse(), true),
    };
    for e in elements {
        updated |= add(&mut hll, e)?;
    }
    if updated {
        invalidate(&mut hll);
        store(db, key, &hll)?;
    }
    Ok(updated)
}

/// PFCOUNT: one key answers from (and refreshes) its cached cardinality; several keys count
/// their union without writing anything.
pub fn pfcount(db: &Db<'_>, keys: &[&[u8]]) -> Result<u64> {
    if let [key] = keys {
        let _guard = db.lock(key);
        let Some(mut hll) = load(db, key)? else {
            return Ok(0);
        };
        if hll[15] & 0x80 == 0 {
            let mut card = [0u8; 8];
            card.copy_from_slice(&hll[8..16]);
            return Ok(u64::from_le_bytes(card));
        }
        let card = count(&hll)?;
        hll[8..16].copy_from_slice(&card.to_le_bytes());
        store(db, key, &hll)?;
        return Ok(card);
    }
    let mut max = vec![0u8; REGISTERS];
    for key in keys {
        if let Some(hll) = load_unlocked(db, key)? {
            merge_into(&mut max, &hll)?;
        }
    }
    let mut histo = [0u64; 64];
    for &r in &max {
        histo[usize::from(r & 63)] += 1;
    }
    Ok(estimate(&histo))
}

/// PFMERGE: the union of `sources` (which include `dest` itself, as in Redis) into `dest`.
pub fn pfmerge(db: &Db<'_>, dest: &[u8], sources: &[&[u8]]) -> Result<()> {
    let _guard = db.lock_keys(std::iter::once(dest).chain(sources.iter().copied()));
    let mut max = vec![0u8; REGISTERS];
    let mut use_dense = false;
    for key in std::iter::once(dest).chain(sources.iter().copied()) {
        if let Some(hll) = load(db, key)? {
            use_dense |= hll[4] == DENSE;
            merge_into(&mut max, &hll)?;
        }
    }
    let mut hll = match load(db, dest)? {
        Some(v) => v,
        None => new_sparse(),
    };
    if use_dense && hll[4] != DENSE {
        hll = sparse_to_dense(&hll)?;
    }
    for (i, &m) in max.iter().enumerate() {
        if m == 0 {
            continue;
        }
        if hll[4] == DENSE {
            dense_raise(&mut hll[HDR..], i, m);
        } else {
            sparse_raise(&mut hll, i, m)?;
        }
    }
    invalidate(&mut hll);
    store(db, dest, &hll)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registers_round_trip_without_touching_neighbours() {
        let mut regs = vec![0u8; DENSE_SIZE - HDR];
        let mut seed = 7u32;
        let mut expect = vec![0u8; REGISTERS];
        for (i, e) in expect.iter_mut().enumerate() {
            seed = seed.wrapping_mul(1_103_515_245).wrapping_add(12345);
            *e = ((seed >> 16) as u8) & REGISTER_MAX;
            dense_set(&mut regs, i, *e);
        }
        for (i, e) in expect.iter().enumerate() {
            assert_eq!(dense_get(&regs, i), *e, "register {i}");
        }
    }

    #[test]
    fn empty_value_is_one_xzero_and_counts_zero() {
        let h = new_sparse();
        assert_eq!(h.len(), HDR + 2);
        assert_eq!(&h[HDR..], &[0x7f, 0xff]);
        assert_eq!(count(&h).unwrap(), 0);
        assert_eq!(sparse_to_dense(&h).unwrap().len(), DENSE_SIZE);
    }

    #[test]
    fn sparse_and_dense_agree_and_promotion_happens() {
        let mut sparse = new_sparse();
        let mut dense = sparse_to_dense(&sparse).unwrap();
        for i in 0..5000u32 {
            let e = format!("element:{i}");
            let a = add(&mut sparse, e.as_bytes()).unwrap();
            let b = add(&mut dense, e.as_bytes()).unwrap();
            assert_eq!(a, b, "element {i}");
            if sparse[4] == SPARSE {
                assert!(sparse.len() <= SPARSE_MAX_BYTES);
                assert_eq!(sparse_to_dense(&sparse).unwrap()[HDR..], dense[HDR..]);
            }
        }
        assert_eq!(sparse[4], DENSE, "5000 elements outgrow the sparse limit");
        assert_eq!(sparse[HDR..], dense[HDR..]);
        let c = count(&dense).unwrap() as f64;
        assert!((c - 5000.0).abs() / 5000.0 < 0.05, "{c}");
    }

    #[test]
    fn corrupt_sparse_values_are_refused() {
        let mut h = new_sparse();
        h.truncate(HDR + 1);
        assert!(matches!(count(&h), Err(TypeError::InvalidHll)));
        let mut h = new_sparse();
        h.push(0x00);
        assert!(matches!(count(&h), Err(TypeError::InvalidHll)));
        assert!(check(b"HYLL").is_err());
        assert!(check(b"HYLL\x00xxxxxxxxxxx").is_err());
        assert!(check(&new_sparse()).is_ok());
    }
}
