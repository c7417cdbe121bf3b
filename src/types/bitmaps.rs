//! Bit operations on string values (Redis 7.0's bitops.c): SETBIT, GETBIT, BITCOUNT, BITPOS,
//! BITOP and BITFIELD. A bitmap is a string, so GET, APPEND, SETRANGE and the rest see the same
//! bytes; bit 0 is the most significant bit of the first byte, as in Redis.
//!
//! Values go through `storage::strings`: a small bitmap is an inline string, a large one is
//! fragmented, and the operations work fragment by fragment. SETBIT and GETBIT touch one
//! fragment, a BITFIELD field at most two; BITCOUNT and BITPOS stream through the fragments of
//! their range, skipping missing (all-zero) ones; BITOP walks its sources fragment-aligned and
//! stores a large result fragmented.

use super::strings::{commit_edit, open_edit};
use super::{Result, TypeError};
use crate::storage::strings::{fragment_of, StrReader, FRAGMENT_SIZE, INLINE_MAX};
use crate::storage::{Db, Meta, ValueType};
use crate::util::time::now_ms;
use std::ops::ControlFlow;

/// Unit of BITCOUNT/BITPOS ranges.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Unit {
    Byte,
    Bit,
}

/// A live string's metadata; None when the key is missing, WRONGTYPE for other types.
fn string_meta(meta: Option<Meta>) -> Result<Option<Meta>> {
    match meta {
        Some(m) if m.ty() == ValueType::String => Ok(Some(m)),
        Some(_) => Err(TypeError::WrongType),
        None => Ok(None),
    }
}

/// A reader from [`Db::read_string`] if it reads a string; WRONGTYPE for other types.
fn string_reader(r: Option<StrReader<'_>>) -> Result<Option<StrReader<'_>>> {
    match r {
        Some(r) if r.meta().ty() != ValueType::String => Err(TypeError::WrongType),
        r => Ok(r),
    }
}

/// The mask of bit `offset` within its byte.
fn bit_mask(offset: u64) -> u8 {
    1u8 << (7 - (offset & 7))
}

/// SETBIT: sets or clears the bit and returns its previous value; true in the second place when
/// the key changed (created, grown or flipped), for the `setbit` event. Touches one fragment.
pub fn setbit(db: &Db<'_>, key: &[u8], offset: u64, on: bool) -> Result<(u8, bool)> {
    let _guard = db.lock(key);
    let mut edit = open_edit(db, key)?;
    let byte = offset >> 3;
    let grows = !edit.existed() || edit.len() <= byte;
    let mut b = [0u8];
    edit.read(db, byte, &mut b)?;
    let mask = bit_mask(offset);
    let old = u8::from(b[0] & mask != 0);
    let changed = grows || (old == 1) != on;
    if changed {
        let new = if on { b[0] | mask } else { b[0] & !mask };
        edit.write(db, byte, &[new])?;
        commit_edit(db, edit)?;
    }
    Ok((old, changed))
}

/// GETBIT: the bit at `offset`, 0 beyond the value or for a missing key. One point read of the
/// metadata, and of one fragment when the value is fragmented.
pub fn getbit(db: &Db<'_>, key: &[u8], offset: u64) -> Result<u8> {
    let Some(m) = string_meta(db.meta(key)?)? else {
        return Ok(0);
    };
    let byte = offset >> 3;
    if byte >= m.string_len() {
        return Ok(0);
    }
    let b = db.string_reader(key, m).read(byte, byte + 1)?;
    Ok(u8::from(
        b.first().is_some_and(|b| b & bit_mask(offset) != 0),
    ))
}

/// Resolves a BITCOUNT/BITPOS range against a value of `len` bytes into an inclusive range of
/// bit positions, Redis's way (negative indexes from the end, clamping); None when empty.
fn bit_range(len: u64, start: i64, end: i64, unit: Unit) -> Option<(u64, u64)> {
    // Values are at most proto-max-bulk-len bytes, so their bit length fits an i64.
    let len = i64::try_from(len).unwrap_or(i64::MAX >> 3);
    let total = match unit {
        Unit::Byte => len,
        Unit::Bit => len << 3,
    };
    let (mut s, mut e) = (start, end);
    if s < 0 {
        s = s.saturating_add(total);
    }
    if e < 0 {
        e = e.saturating_add(total);
    }
    s = s.max(0);
    e = e.max(0);
    if e >= total {
        e = total - 1;
    }
    if s > e {
        return None;
    }
    Some(match unit {
        Unit::Byte => ((s as u64) << 3, ((e as u64) << 3) + 7),
        Unit::Bit => (s as u64, e as u64),
    })
}

/// Set bits in `bytes`, eight bytes at a time, with the CPU's population count instruction when
/// it has one (the default x86-64 target does not assume it, and the portable fallback costs
/// about ten instructions a word: BITCOUNT of a 128 KB bitmap spent most of its time there).
fn popcount_bytes(bytes: &[u8]) -> u64 {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("popcnt") {
            // SAFETY: the CPU supports popcnt, checked just above.
            return unsafe { popcount_popcnt(bytes) };
        }
    }
    popcount_words(bytes)
}

/// [`popcount_words`] compiled with the popcnt instruction.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "popcnt")]
unsafe fn popcount_popcnt(bytes: &[u8]) -> u64 {
    popcount_words(bytes)
}

#[inline(always)]
fn popcount_words(bytes: &[u8]) -> u64 {
    let mut words = bytes.chunks_exact(8);
    let mut n: u64 = words
        .by_ref()
        .map(|w| u64::from(u64::from_ne_bytes(w.try_into().unwrap_or([0; 8])).count_ones()))
        .sum();
    n += words
        .remainder()
        .iter()
        .map(|b| u64::from(b.count_ones()))
        .sum::<u64>();
    n
}

/// The bits of a byte at or after bit `from & 7` (the first byte of a range).
fn head_mask(from: u64) -> u8 {
    0xffu8 >> (from & 7)
}

/// The bits of a byte at or before bit `to & 7` (the last byte of a range).
fn tail_mask(to: u64) -> u8 {
    0xffu8 << (7 - (to & 7))
}

/// BITCOUNT: set bits in the value or in `range` (start, end, unit). A missing key is 0 before
/// the range is even looked at, as in Redis 7.0. Streams through the stored fragments of the
/// range.
pub fn bitcount(db: &Db<'_>, key: &[u8], range: Option<(i64, i64, Unit)>) -> Result<Option<u64>> {
    db.read_string(key, |r| {
        let Some(r) = string_reader(r)? else {
            return Ok(None);
        };
        bitcount_of(r, range).map(Some)
    })
}

fn bitcount_of(mut r: StrReader<'_>, range: Option<(i64, i64, Unit)>) -> Result<u64> {
    let len = r.len();
    let bits = match range {
        None if len == 0 => None,
        None => Some((0, (len << 3) - 1)),
        Some((s, e, _)) if s < 0 && e < 0 && s > e => None,
        Some((s, e, unit)) => bit_range(len, s, e, unit),
    };
    let Some((from, to)) = bits else {
        return Ok(0);
    };
    let (fb, lb) = (from >> 3, to >> 3);
    let mut count = 0;
    r.visit(fb, lb + 1, |off, bytes| {
        count += popcount_bytes(bytes);
        // The first and last bytes count only their bits inside the range.
        if (off..off + bytes.len() as u64).contains(&fb) {
            let b = bytes[(fb - off) as usize];
            count -= u64::from((b & !head_mask(from)).count_ones());
        }
        if (off..off + bytes.len() as u64).contains(&lb) {
            let b = bytes[(lb - off) as usize];
            count -= u64::from((b & !tail_mask(to)).count_ones());
        }
        ControlFlow::Continue(())
    })?;
    Ok(count)
}

/// The first bit equal to `bit` in `bytes` (which start at byte `off`), within the inclusive
/// bit range `[from, to]`.
fn find_bit(bytes: &[u8], off: u64, bit: u8, from: u64, to: u64) -> Option<u64> {
    let (fb, lb) = (from >> 3, to >> 3);
    // Bytes that cannot hold the bit are skipped whole.
    let skip = if bit == 1 { 0u8 } else { 0xff };
    let mut i = 0;
    while i < bytes.len() {
        let at = off + i as u64;
        let mut b = bytes[i];
        if at != fb && at != lb {
            match bytes[i..].iter().position(|&x| x != skip) {
                Some(p) if p > 0 => {
                    i += p;
                    continue;
                }
                Some(_) => {}
                None => return None,
            }
        }
        // Outside the range, bits read as what we are not looking for.
        let mut keep = 0xffu8;
        if at == fb {
            keep &= head_mask(from);
        }
        if at == lb {
            keep &= tail_mask(to);
        }
        if bit == 0 {
            b = !b;
        }
        b &= keep;
        if b != 0 {
            return Some(at * 8 + u64::from(b.leading_zeros()));
        }
        if at >= lb {
            return None;
        }
        i += 1;
    }
    None
}

/// BITPOS: the first bit equal to `bit` in the value or in the range; -1 when there is none,
/// except that clear bits are found past the end of a value when no end was given (the value
/// reads as zero-padded), as in Redis. Streams through the stored fragments of the range; a
/// missing fragment is a run of clear bits.
pub fn bitpos(
    db: &Db<'_>,
    key: &[u8],
    bit: u8,
    start: Option<i64>,
    end: Option<i64>,
    unit: Unit,
) -> Result<Option<i64>> {
    db.read_string(key, |r| {
        let Some(r) = string_reader(r)? else {
            return Ok(None);
        };
        bitpos_of(r, bit, start, end, unit).map(Some)
    })
}

fn bitpos_of(
    mut r: StrReader<'_>,
    bit: u8,
    start: Option<i64>,
    end: Option<i64>,
    unit: Unit,
) -> Result<i64> {
    let len = r.len();
    let range = match start {
        None => (len > 0).then(|| (0, (len << 3) - 1)),
        Some(s) => {
            let ilen = i64::try_from(len).unwrap_or(i64::MAX >> 3);
            let e = end.unwrap_or(match unit {
                Unit::Byte => ilen - 1,
                Unit::Bit => (ilen << 3) - 1,
            });
            bit_range(len, s, e, unit)
        }
    };
    let Some((from, to)) = range else {
        return Ok(-1);
    };
    let (fb, lb) = (from >> 3, to >> 3);
    let mut found = None;
    // The first byte not yet seen: a gap before the next stored run is all clear bits.
    let mut next = fb;
    r.visit(fb, lb + 1, |off, bytes| {
        if bit == 0 && off > next {
            found = Some((next << 3).max(from));
            return ControlFlow::Break(());
        }
        next = off + bytes.len() as u64;
        found = find_bit(bytes, off, bit, from, to);
        if found.is_some() {
            ControlFlow::Break(())
        } else {
            ControlFlow::Continue(())
        }
    })?;
    if found.is_none() && bit == 0 && next <= lb {
        found = Some((next << 3).max(from));
    }
    if let Some(pos) = found {
        return Ok(pos as i64);
    }
    if bit == 0 && end.is_none() {
        return Ok((to + 1) as i64);
    }
    Ok(-1)
}

/// BITOP's operations.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BitOp {
    And,
    Or,
    Xor,
    Not,
}

/// Computes one window of a BITOP result into `out` (zeroed, the window's length) from the
/// sources' stored runs for that window (offset and bytes; everything else reads as zero).
/// Returns false when the result is all zeros without computing it.
fn bitop_window(op: BitOp, srcs: &[(usize, &[u8])], out: &mut [u8]) -> bool {
    match op {
        BitOp::Not => {
            out.fill(0xff);
            if let Some(&(skip, run)) = srcs.first() {
                for (o, b) in out[skip..skip + run.len()].iter_mut().zip(run) {
                    *o = !b;
                }
            }
            true
        }
        BitOp::And => {
            // Non-zero only where every source's run is.
            let lo = srcs.iter().map(|&(k, _)| k).max().unwrap_or(0);
            let hi = srcs.iter().map(|&(k, r)| k + r.len()).min().unwrap_or(0);
            if lo >= hi {
                return false;
            }
            let (k0, r0) = srcs[0];
            out[lo..hi].copy_from_slice(&r0[lo - k0..hi - k0]);
            for &(k, r) in &srcs[1..] {
                for (o, b) in out[lo..hi].iter_mut().zip(&r[lo - k..hi - k]) {
                    *o &= b;
                }
            }
            true
        }
        BitOp::Or | BitOp::Xor => {
            if srcs.iter().all(|(_, r)| r.is_empty()) {
                return false;
            }
            for &(k, r) in srcs {
                let window = &mut out[k..k + r.len()];
                if op == BitOp::Or {
                    for (o, b) in window.iter_mut().zip(r) {
                        *o |= b;
                    }
                } else {
                    for (o, b) in window.iter_mut().zip(r) {
                        *o ^= b;
                    }
                }
            }
            true
        }
    }
}

/// BITOP: stores the result in `dest` (without a TTL), or deletes `dest` when every source is
/// empty; returns the result's length and whether `dest` was written (false: deleted, or
/// already absent). Sources are read fragment-aligned; a result longer than the inline limit
/// is stored fragmented, its all-zero fragments left out.
pub fn bitop(db: &Db<'_>, op: BitOp, dest: &[u8], sources: &[&[u8]]) -> Result<(u64, bool)> {
    let _guard = db.lock_keys(std::iter::once(dest).chain(sources.iter().copied()));
    let mut metas = Vec::with_capacity(sources.len());
    for key in sources {
        metas.push(string_meta(db.meta(key)?)?);
    }
    let maxlen = metas
        .iter()
        .map(|m| m.as_ref().map_or(0, Meta::string_len))
        .max()
        .unwrap_or(0);
    let raw = db.meta_raw(dest)?;
    if maxlen == 0 {
        let live = raw.as_ref().filter(|m| !m.is_expired(now_ms()));
        if let Some(live) = live {
            let mut batch = db.batch();
            batch.delete_key(db.phys, dest, live);
            batch.commit()?;
            return Ok((0, true));
        }
        return Ok((0, false));
    }
    let empty = Meta::decode(Meta::encode_string(b"", 0))?;
    let mut readers: Vec<_> = sources
        .iter()
        .zip(metas)
        .map(|(key, m)| db.string_reader(key, m.unwrap_or_else(|| empty.clone())))
        .collect();
    let windows = fragment_of(maxlen - 1) + 1;
    let mut batch = db.batch();
    let mut window = vec![0u8; FRAGMENT_SIZE as usize];
    let mut inline = if maxlen <= INLINE_MAX {
        Some(Meta::encode_string(b"", 0))
    } else {
        None
    };
    let version = match inline {
        Some(_) => 0,
        None => db.store.next_version()?,
    };
    for n in 0..windows {
        let extent = (maxlen - n * FRAGMENT_SIZE).min(FRAGMENT_SIZE) as usize;
        let out = &mut window[..extent];
        out.fill(0);
        let srcs = readers
            .iter_mut()
            .map(|r| r.fragment(n))
            .collect::<std::result::Result<Vec<(usize, &[u8])>, _>>()?;
        let nonzero = bitop_window(op, &srcs, out);
        match &mut inline {
            Some(buf) => buf.extend_from_slice(out),
            None if nonzero => batch.put_fragment(db.phys, dest, version, n, out, false),
            None => {}
        }
    }
    let meta = match inline {
        Some(buf) => buf,
        None => Meta::encode_fragmented(0, version, maxlen),
    };
    batch.put_meta(db.phys, dest, raw.as_ref(), &meta);
    batch.commit()?;
    Ok((maxlen, true))
}

/// BITFIELD's overflow policies.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Overflow {
    Wrap,
    Sat,
    Fail,
}

/// One BITFIELD operation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FieldOp {
    Get,
    Set(i64),
    IncrBy(i64),
}

/// A BITFIELD operation on a field of `bits` bits (signed or not) at bit `offset`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Field {
    pub op: FieldOp,
    pub signed: bool,
    pub bits: u32,
    pub offset: u64,
    pub overflow: Overflow,
}

/// The bytes a field can span: 64 bits starting anywhere in a byte.
type FieldBytes = [u8; 9];

/// The bytes holding bits `offset .. offset + bits` start at byte `offset >> 3`; within them the
/// field starts at bit `offset & 7`.
fn field_span(offset: u64, bits: u32) -> (u64, usize, u32) {
    let last = offset + u64::from(bits) - 1;
    let n = (last >> 3) - (offset >> 3) + 1;
    (offset >> 3, n as usize, (offset & 7) as u32)
}

fn load_u128(buf: &FieldBytes) -> u128 {
    let mut w = [0u8; 16];
    w[..9].copy_from_slice(buf);
    u128::from_be_bytes(w)
}

/// The unsigned `bits`-bit field (MSB first) starting at bit `shift` (0..8) of `buf`.
fn get_unsigned(buf: &FieldBytes, shift: u32, bits: u32) -> u64 {
    ((load_u128(buf) << shift) >> (128 - bits)) as u64
}

/// The signed `bits`-bit field starting at bit `shift` of `buf`, sign-extended.
fn get_signed(buf: &FieldBytes, shift: u32, bits: u32) -> i64 {
    let u = get_unsigned(buf, shift, bits);
    if bits < 64 && u & (1 << (bits - 1)) != 0 {
        (u | (u64::MAX << bits)) as i64
    } else {
        u as i64
    }
}

/// Stores the low `bits` bits of `value` as the field starting at bit `shift` of `buf`.
fn set_field(buf: &mut FieldBytes, shift: u32, bits: u32, value: u64) {
    let at = 128 - bits - shift;
    let mask = (u128::MAX >> (128 - bits)) << at;
    let x = (load_u128(buf) & !mask) | ((u128::from(value) << at) & mask);
    buf.copy_from_slice(&x.to_be_bytes()[..9]);
}

/// checkUnsignedBitfieldOverflow: the value to store when `value + incr` leaves the range, or
/// None when it fits.
fn unsigned_overflow(value: u64, incr: i64, bits: u32, ow: Overflow) -> Option<u64> {
    let max = (1u64 << bits) - 1;
    let maxincr = max.wrapping_sub(value) as i64;
    let minincr = value.wrapping_neg() as i64;
    let wrap = || value.wrapping_add(incr as u64) & !(u64::MAX << bits);
    if value > max || (incr > 0 && incr > maxincr) {
        Some(if ow == Overflow::Wrap { wrap() } else { max })
    } else if incr < 0 && incr < minincr {
        Some(if ow == Overflow::Wrap { wrap() } else { 0 })
    } else {
        None
    }
}

/// checkSignedBitfieldOverflow, likewise.
fn signed_overflow(value: i64, incr: i64, bits: u32, ow: Overflow) -> Option<i64> {
    let max: i64 = if bits == 64 {
        i64::MAX
    } else {
        (1i64 << (bits - 1)) - 1
    };
    let min = -max - 1;
    let maxincr = (max as u64).wrapping_sub(value as u64) as i64;
    let minincr = min.wrapping_sub(value);
    let wrap = || {
        let c = (value as u64).wrapping_add(incr as u64);
        if bits < 64 {
            let mask = u64::MAX << bits;
            if c & (1 << (bits - 1)) != 0 {
                (c | mask) as i64
            } else {
                (c & !mask) as i64
            }
        } else {
            c as i64
        }
    };
    if value > max || (bits != 64 && incr > maxincr) || (value >= 0 && incr > 0 && incr > maxincr) {
        Some(if ow == Overflow::Wrap { wrap() } else { max })
    } else if value < min
        || (bits != 64 && incr < minincr)
        || (value < 0 && incr < 0 && incr < minincr)
    {
        Some(if ow == Overflow::Wrap { wrap() } else { min })
    } else {
        None
    }
}

/// BITFIELD and BITFIELD_RO: runs the operations in order; None where FAIL refused an overflow.
/// The second value counts the fields that changed, for the `setbit` event.
pub fn bitfield(db: &Db<'_>, key: &[u8], fields: &[Field]) -> Result<(Vec<Option<i64>>, u64)> {
    let highest = fields
        .iter()
        .filter(|f| f.op != FieldOp::Get)
        .map(|f| f.offset + u64::from(f.bits) - 1)
        .max();
    let Some(highest) = highest else {
        // Reads only: a missing key reads as zeros.
        return db.read_string(key, |r| {
            let Some(mut reader) = string_reader(r)? else {
                return Ok((vec![Some(0); fields.len()], 0));
            };
            let mut out = Vec::with_capacity(fields.len());
            for f in fields {
                let (byte, n, shift) = field_span(f.offset, f.bits);
                let mut buf = FieldBytes::default();
                let got = reader.read(byte, byte + n as u64)?;
                buf[..got.len()].copy_from_slice(&got);
                out.push(Some(if f.signed {
                    get_signed(&buf, shift, f.bits)
                } else {
                    get_unsigned(&buf, shift, f.bits) as i64
                }));
            }
            Ok((out, 0))
        });
    };
    let _guard = db.lock(key);
    let mut edit = open_edit(db, key)?;
    let need = (highest >> 3) + 1;
    // Created or grown to hold the highest bit written (Redis's `dirty`).
    let grown = !edit.existed() || edit.len() < need;
    if grown {
        edit.grow(db, need)?;
    }
    let mut out = Vec::with_capacity(fields.len());
    let mut changes = 0;
    for f in fields {
        let (byte, n, shift) = field_span(f.offset, f.bits);
        let mut buf = FieldBytes::default();
        edit.read(db, byte, &mut buf[..n])?;
        let (old, new, reply) = if f.signed {
            let old = get_signed(&buf, shift, f.bits);
            let (new, overflowed, reply) = match f.op {
                FieldOp::Get => {
                    out.push(Some(old));
                    continue;
                }
                FieldOp::IncrBy(incr) => match signed_overflow(old, incr, f.bits, f.overflow) {
                    Some(limit) => (limit, true, limit),
                    None => (old.wrapping_add(incr), false, old.wrapping_add(incr)),
                },
                FieldOp::Set(value) => match signed_overflow(value, 0, f.bits, f.overflow) {
                    Some(limit) => (limit, true, old),
                    None => (value, false, old),
                },
            };
            if overflowed && f.overflow == Overflow::Fail {
                out.push(None);
                continue;
            }
            (old as u64, new as u64, reply)
        } else {
            let old = get_unsigned(&buf, shift, f.bits);
            let (new, overflowed, reply) = match f.op {
                FieldOp::Get => {
                    out.push(Some(old as i64));
                    continue;
                }
                FieldOp::IncrBy(incr) => match unsigned_overflow(old, incr, f.bits, f.overflow) {
                    Some(limit) => (limit, true, limit),
                    None => {
                        let n = old.wrapping_add(incr as u64);
                        (n, false, n)
                    }
                },
                FieldOp::Set(value) => match unsigned_overflow(value as u64, 0, f.bits, f.overflow)
                {
                    Some(limit) => (limit, true, old),
                    None => (value as u64, false, old),
                },
            };
            if overflowed && f.overflow == Overflow::Fail {
                out.push(None);
                continue;
            }
            (old, new, reply as i64)
        };
        out.push(Some(reply));
        set_field(&mut buf, shift, f.bits, new);
        let mask = u64::MAX >> (64 - f.bits);
        if grown || old & mask != new & mask {
            edit.write(db, byte, &buf[..n])?;
            changes += 1;
        }
    }
    // Redis creates or grows the value even when every write failed on overflow.
    if grown || changes > 0 {
        commit_edit(db, edit)?;
    }
    Ok((out, changes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_read_and_write_msb_first() {
        let mut v = FieldBytes::default();
        set_field(&mut v, 4, 8, 0xab);
        assert_eq!(v[..3], [0x0a, 0xb0, 0]);
        assert_eq!(get_unsigned(&v, 4, 8), 0xab);
        assert_eq!(get_signed(&v, 4, 8), -85);
        assert_eq!(get_signed(&v, 4, 4), -6);
        // A 64-bit field starting at the last bit of a byte spans nine bytes.
        let mut w = FieldBytes::default();
        set_field(&mut w, 7, 64, u64::MAX);
        assert_eq!(w, [0x01, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xfe]);
        assert_eq!(get_signed(&w, 7, 64), -1);
        assert_eq!(get_unsigned(&w, 7, 63), u64::MAX >> 1);
        assert_eq!(field_span(7, 64), (0, 9, 7));
        assert_eq!(field_span(8, 8), (1, 1, 0));
        // Setting keeps the neighbouring bits.
        let mut x = [0xffu8; 9];
        set_field(&mut x, 3, 2, 0);
        assert_eq!(x[0], 0b1110_0111);
        assert_eq!(x[1..], [0xff; 8]);
    }

    #[test]
    fn overflow_rules() {
        assert_eq!(unsigned_overflow(250, 10, 8, Overflow::Wrap), Some(4));
        assert_eq!(unsigned_overflow(250, 10, 8, Overflow::Sat), Some(255));
        assert_eq!(unsigned_overflow(5, -10, 8, Overflow::Sat), Some(0));
        assert_eq!(unsigned_overflow(5, 10, 8, Overflow::Wrap), None);
        assert_eq!(signed_overflow(120, 10, 8, Overflow::Wrap), Some(-126));
        assert_eq!(signed_overflow(120, 10, 8, Overflow::Sat), Some(127));
        assert_eq!(signed_overflow(-120, -10, 8, Overflow::Sat), Some(-128));
        assert_eq!(
            signed_overflow(i64::MAX, 1, 64, Overflow::Wrap),
            Some(i64::MIN)
        );
        assert_eq!(signed_overflow(1, 1, 64, Overflow::Wrap), None);
    }

    #[test]
    fn popcount_and_range_masks() {
        let v = [0xffu8, 0x0f, 0xf0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01];
        assert_eq!(popcount_bytes(&v), 8 + 4 + 4 + 6 * 8 + 1);
        assert_eq!(popcount_bytes(&[]), 0);
        let long: Vec<u8> = (0..1000u32).map(|i| (i * 37) as u8).collect();
        let slow: u64 = long.iter().map(|b| u64::from(b.count_ones())).sum();
        assert_eq!(popcount_bytes(&long), slow);
        assert_eq!(
            popcount_words(&long[3..]),
            slow - u64::from(long[..3].iter().map(|b| b.count_ones()).sum::<u32>())
        );
        assert_eq!(
            (head_mask(0), head_mask(3), head_mask(7)),
            (0xff, 0x1f, 0x01)
        );
        assert_eq!(
            (tail_mask(7), tail_mask(3), tail_mask(0)),
            (0xff, 0xf0, 0x80)
        );
    }

    #[test]
    fn bitop_windows_align_runs_at_their_offsets() {
        let mut out = [0u8; 6];
        assert!(bitop_window(
            BitOp::Or,
            &[(1, &[1, 2]), (3, &[4])],
            &mut out
        ));
        assert_eq!(out, [0, 1, 2, 4, 0, 0]);
        let mut out = [0u8; 6];
        assert!(bitop_window(
            BitOp::Xor,
            &[(1, &[3, 3]), (2, &[1, 1])],
            &mut out
        ));
        assert_eq!(out, [0, 3, 2, 1, 0, 0]);
        let mut out = [0u8; 6];
        assert!(bitop_window(
            BitOp::And,
            &[(1, &[0xff, 0x0f, 0xff]), (2, &[0x3c, 0x01, 9])],
            &mut out
        ));
        assert_eq!(out, [0, 0, 0x0c, 0x01, 0, 0]);
        let mut out = [0u8; 6];
        assert!(!bitop_window(BitOp::And, &[(0, &[1]), (2, &[1])], &mut out));
        assert!(!bitop_window(BitOp::And, &[(0, &[1]), (0, &[])], &mut out));
        assert!(!bitop_window(BitOp::Or, &[(0, &[]), (0, &[])], &mut out));
        assert_eq!(out, [0; 6]);
        let mut out = [0u8; 4];
        assert!(bitop_window(BitOp::Not, &[(1, &[0x0f])], &mut out));
        assert_eq!(out, [0xff, 0xf0, 0xff, 0xff]);
    }

    #[test]
    fn find_bit_respects_the_range_edges() {
        let v = [0x00u8, 0x00, 0x10, 0xff];
        assert_eq!(find_bit(&v, 0, 1, 0, 31), Some(19));
        assert_eq!(find_bit(&v, 10, 1, 80, 111), Some(99));
        assert_eq!(find_bit(&v, 0, 1, 20, 31), Some(24));
        assert_eq!(find_bit(&v, 0, 1, 0, 18), None);
        assert_eq!(find_bit(&v, 0, 0, 0, 31), Some(0));
        assert_eq!(find_bit(&[0xff, 0xfe], 0, 0, 0, 15), Some(15));
        assert_eq!(find_bit(&[0xff, 0xfe], 0, 0, 0, 14), None);
        assert_eq!(find_bit(&[0x7f], 0, 0, 1, 7), None);
        assert_eq!(find_bit(&[0x7f], 0, 0, 0, 7), Some(0));
    }
}
