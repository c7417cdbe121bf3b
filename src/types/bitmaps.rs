//! Bit operations on string values (Redis 7.0's bitops.c): SETBIT, GETBIT, BITCOUNT, BITPOS,
//! BITOP and BITFIELD. A bitmap is a string, so GET, APPEND, SETRANGE and the rest see the same
//! bytes; bit 0 is the most significant bit of the first byte, as in Redis.
//!
//! Values are stored inline in the key's metadata like every string, so a write rewrites the
//! whole value: SETBIT at a high offset costs a value of that size, as it does in Redis's memory.
//! (The fragmented layout for large bitmaps that the design describes is not built yet.)

use super::{Result, TypeError};
use crate::storage::{Db, Meta, ValueType};
use crate::util::time::now_ms;

/// Unit of BITCOUNT/BITPOS ranges.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Unit {
    Byte,
    Bit,
}

/// A live string value for reading; None when the key is missing, WRONGTYPE for other types.
fn read(db: &Db<'_>, key: &[u8]) -> Result<Option<Meta>> {
    match db.meta(key)? {
        Some(m) if m.ty() == ValueType::String => Ok(Some(m)),
        Some(_) => Err(TypeError::WrongType),
        None => Ok(None),
    }
}

/// A string value opened for a write under the key lock: its bytes, expiry and raw metadata.
struct Writable {
    raw: Option<Meta>,
    value: Vec<u8>,
    expire_at: u64,
    /// Created, or grown to hold the highest bit written (Redis's `dirty`).
    dirty: bool,
}

impl Writable {
    /// Opens `key`, growing its value with zero bytes to hold bit `max_bit` when given.
    fn open(db: &Db<'_>, key: &[u8], max_bit: Option<u64>) -> Result<Writable> {
        let raw = db.meta_raw(key)?;
        let live = raw.as_ref().filter(|m| !m.is_expired(now_ms()));
        let (mut value, expire_at, mut dirty) = match live {
            Some(m) if m.ty() != ValueType::String => return Err(TypeError::WrongType),
            Some(m) => (m.string_value().to_vec(), m.expire_at(), false),
            None => (Vec::new(), 0, true),
        };
        if let Some(bit) = max_bit {
            let need = usize::try_from(bit >> 3).map_err(|_| TypeError::TooBig)? + 1;
            if value.len() < need {
                value.resize(need, 0);
                dirty = true;
            }
        }
        Ok(Writable {
            raw,
            value,
            expire_at,
            dirty,
        })
    }

    fn store(self, db: &Db<'_>, key: &[u8]) -> Result<()> {
        let mut batch = db.batch();
        batch.put_meta(
            db.phys,
            key,
            self.raw.as_ref(),
            &Meta::encode_string(&self.value, self.expire_at),
        );
        Ok(batch.commit()?)
    }
}

fn bit_at(v: &[u8], offset: u64) -> u8 {
    usize::try_from(offset >> 3)
        .ok()
        .and_then(|i| v.get(i))
        .map_or(0, |b| (b >> (7 - (offset & 7))) & 1)
}

fn set_bit_at(v: &mut [u8], offset: u64, on: bool) {
    let byte = (offset >> 3) as usize;
    let mask = 1u8 << (7 - (offset & 7));
    if on {
        v[byte] |= mask;
    } else {
        v[byte] &= !mask;
    }
}

/// SETBIT: sets or clears the bit and returns its previous value; true in the second place when
/// the key changed (created, grown or flipped), for the `setbit` event.
pub fn setbit(db: &Db<'_>, key: &[u8], offset: u64, on: bool) -> Result<(u8, bool)> {
    let _guard = db.lock(key);
    let mut w = Writable::open(db, key, Some(offset))?;
    let old = bit_at(&w.value, offset);
    let changed = w.dirty || (old == 1) != on;
    if changed {
        set_bit_at(&mut w.value, offset, on);
        w.store(db, key)?;
    }
    Ok((old, changed))
}

/// GETBIT: the bit at `offset`, 0 beyond the value or for a missing key.
pub fn getbit(db: &Db<'_>, key: &[u8], offset: u64) -> Result<u8> {
    Ok(read(db, key)?.map_or(0, |m| bit_at(m.string_value(), offset)))
}

/// Resolves a BITCOUNT/BITPOS range against a value of `len` bytes into an inclusive range of
/// bit positions, Redis's way (negative indexes from the end, clamping); None when empty.
fn bit_range(len: usize, start: i64, end: i64, unit: Unit) -> Option<(u64, u64)> {
    let total = match unit {
        Unit::Byte => len as i64,
        Unit::Bit => (len as i64) << 3,
    };
    let (mut s, mut e) = (start, end);
    if s < 0 {
        s += total;
    }
    if e < 0 {
        e += total;
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

/// Set bits in the inclusive bit range.
fn popcount(v: &[u8], from: u64, to: u64) -> u64 {
    let (fb, lb) = ((from >> 3) as usize, (to >> 3) as usize);
    let whole: u64 = v[fb..=lb].iter().map(|b| u64::from(b.count_ones())).sum();
    let head = u64::from((v[fb] & !(0xffu8 >> (from & 7))).count_ones());
    let tail = u64::from((v[lb] & (0x7fu8 >> (to & 7))).count_ones());
    whole - head - tail
}

/// BITCOUNT: set bits in the value or in `range` (start, end, unit). A missing key is 0 before
/// the range is even looked at, as in Redis 7.0.
pub fn bitcount(db: &Db<'_>, key: &[u8], range: Option<(i64, i64, Unit)>) -> Result<Option<u64>> {
    let Some(m) = read(db, key)? else {
        return Ok(None);
    };
    let v = m.string_value();
    let bits = match range {
        None if v.is_empty() => None,
        None => Some((0, ((v.len() as u64) << 3) - 1)),
        Some((s, e, _)) if s < 0 && e < 0 && s > e => None,
        Some((s, e, unit)) => bit_range(v.len(), s, e, unit),
    };
    Ok(Some(bits.map_or(0, |(from, to)| popcount(v, from, to))))
}

/// BITPOS: the first bit equal to `bit` in the value or in the range; -1 when there is none,
/// except that clear bits are found past the end of a value when no end was given (the value
/// reads as zero-padded), as in Redis.
pub fn bitpos(
    db: &Db<'_>,
    key: &[u8],
    bit: u8,
    start: Option<i64>,
    end: Option<i64>,
    unit: Unit,
) -> Result<Option<i64>> {
    let Some(m) = read(db, key)? else {
        return Ok(None);
    };
    let v = m.string_value();
    let len = v.len();
    let range = match start {
        None => (len > 0).then(|| (0, ((len as u64) << 3) - 1)),
        Some(s) => {
            let e = end.unwrap_or(match unit {
                Unit::Byte => len as i64 - 1,
                Unit::Bit => ((len as i64) << 3) - 1,
            });
            bit_range(len, s, e, unit)
        }
    };
    let Some((from, to)) = range else {
        return Ok(Some(-1));
    };
    let mut pos = from;
    while pos <= to {
        // Skip whole bytes that cannot hold the bit.
        if pos & 7 == 0 && pos + 7 <= to {
            let byte = v[(pos >> 3) as usize];
            if (bit == 1 && byte == 0) || (bit == 0 && byte == 0xff) {
                pos += 8;
                continue;
            }
        }
        if bit_at(v, pos) == bit {
            return Ok(Some(pos as i64));
        }
        pos += 1;
    }
    if bit == 0 && end.is_none() {
        return Ok(Some((to + 1) as i64));
    }
    Ok(Some(-1))
}

/// BITOP's operations.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BitOp {
    And,
    Or,
    Xor,
    Not,
}

/// BITOP: stores the result in `dest` (without a TTL), or deletes `dest` when every source is
/// empty; returns the result's length and whether `dest` was written (false: deleted, or
/// already absent).
pub fn bitop(db: &Db<'_>, op: BitOp, dest: &[u8], sources: &[&[u8]]) -> Result<(u64, bool)> {
    let _guard = db.lock_keys(std::iter::once(dest).chain(sources.iter().copied()));
    let mut values = Vec::with_capacity(sources.len());
    for key in sources {
        values.push(read(db, key)?);
    }
    let maxlen = values
        .iter()
        .map(|m| m.as_ref().map_or(0, |m| m.string_value().len()))
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
    let byte = |j: usize, i: usize| {
        values[j]
            .as_ref()
            .and_then(|m| m.string_value().get(i).copied())
            .unwrap_or(0)
    };
    let mut out = Vec::with_capacity(maxlen);
    for i in 0..maxlen {
        let mut b = byte(0, i);
        if op == BitOp::Not {
            b = !b;
        }
        for j in 1..values.len() {
            match op {
                BitOp::And => b &= byte(j, i),
                BitOp::Or => b |= byte(j, i),
                BitOp::Xor => b ^= byte(j, i),
                BitOp::Not => {}
            }
        }
        out.push(b);
    }
    let mut batch = db.batch();
    batch.put_meta(db.phys, dest, raw.as_ref(), &Meta::encode_string(&out, 0));
    batch.commit()?;
    Ok((maxlen as u64, true))
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

fn get_unsigned(v: &[u8], offset: u64, bits: u32) -> u64 {
    (0..u64::from(bits)).fold(0, |acc, i| (acc << 1) | u64::from(bit_at(v, offset + i)))
}

fn get_signed(v: &[u8], offset: u64, bits: u32) -> i64 {
    let u = get_unsigned(v, offset, bits);
    if bits < 64 && u & (1 << (bits - 1)) != 0 {
        (u | (u64::MAX << bits)) as i64
    } else {
        u as i64
    }
}

fn set_field(v: &mut [u8], offset: u64, bits: u32, value: u64) {
    for j in 0..u64::from(bits) {
        let on = (value >> (u64::from(bits) - 1 - j)) & 1 == 1;
        set_bit_at(v, offset + j, on);
    }
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
        let meta = read(db, key)?;
        let v = meta.as_ref().map_or(&[][..], |m| m.string_value());
        let out = fields
            .iter()
            .map(|f| {
                Some(if f.signed {
                    get_signed(v, f.offset, f.bits)
                } else {
                    get_unsigned(v, f.offset, f.bits) as i64
                })
            })
            .collect();
        return Ok((out, 0));
    };
    let _guard = db.lock(key);
    let mut w = Writable::open(db, key, Some(highest))?;
    let mut out = Vec::with_capacity(fields.len());
    let mut changes = 0;
    for f in fields {
        let v = &mut w.value;
        if f.signed {
            let old = get_signed(v, f.offset, f.bits);
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
            out.push(Some(reply));
            set_field(v, f.offset, f.bits, new as u64);
            if w.dirty || old != new {
                changes += 1;
            }
        } else {
            let old = get_unsigned(v, f.offset, f.bits);
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
            out.push(Some(reply as i64));
            set_field(v, f.offset, f.bits, new);
            if w.dirty || old != new {
                changes += 1;
            }
        }
    }
    // Redis creates or grows the value even when every write failed on overflow.
    if w.dirty || changes > 0 {
        w.store(db, key)?;
    }
    Ok((out, changes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_read_and_write_msb_first() {
        let mut v = vec![0u8; 3];
        set_field(&mut v, 4, 8, 0xab);
        assert_eq!(v, [0x0a, 0xb0, 0]);
        assert_eq!(get_unsigned(&v, 4, 8), 0xab);
        assert_eq!(get_signed(&v, 4, 8), -85);
        assert_eq!(get_signed(&v, 4, 4), -6);
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
    fn popcount_of_partial_bytes() {
        let v = [0xffu8, 0x0f, 0xf0];
        assert_eq!(popcount(&v, 0, 23), 16);
        assert_eq!(popcount(&v, 4, 11), 4);
        assert_eq!(popcount(&v, 12, 19), 8);
        assert_eq!(popcount(&v, 9, 9), 0);
    }
}
