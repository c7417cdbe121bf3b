//! String values, stored inline in the key's metadata (a GET is one point read) or, once a
//! partial write makes them large, as fragments (see `storage::strings`).
//!
//! Every read-modify-write here holds the key lock across its read and its write, and writes one
//! batch given the raw previous metadata (expired or not), so key counts and the expiry index stay
//! exact. A key whose time has passed is treated as absent.

use super::{Result, TypeError};
use crate::storage::scan::decode_header;
use crate::storage::strings::StrEdit;
use crate::storage::{Db, Meta, ValueType};
use crate::util::num::{self, FloatIncrError};
use crate::util::time::now_ms;
use bytes::Bytes;
use std::collections::HashMap;
use std::ops::Range;

/// Condition of a SET.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SetCond {
    Always,
    /// Only if the key does not exist (NX).
    IfAbsent,
    /// Only if the key exists (XX).
    IfPresent,
}

/// What happens to the key's time to live on a write.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ttl {
    /// Remove any expiry (a plain SET).
    Clear,
    /// Keep the current expiry (KEEPTTL).
    Keep,
    /// Expire at this Unix time in milliseconds.
    At(u64),
}

/// Outcome of a SET.
#[derive(Debug, PartialEq, Eq)]
pub struct SetOutcome {
    /// Whether the value was written (false when NX/XX did not hold).
    pub written: bool,
    /// The previous value, when asked for (SET ... GET).
    pub old: Option<Bytes>,
}

/// The expiry change GETEX asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExpiryChange {
    /// PERSIST: remove any expiry.
    Persist,
    /// EX/PX/EXAT/PXAT: expire at this Unix time in milliseconds; a time already passed deletes
    /// the key, as Redis does.
    At(u64),
}

/// Checks that a live key holds a string.
fn check(meta: &Meta) -> Result<()> {
    if meta.ty() != ValueType::String {
        return Err(TypeError::WrongType);
    }
    Ok(())
}

/// The value of a live string key, inline (without copying) or read from its fragments; wrong
/// type if the key holds something else. For a caller that holds the key lock; others read
/// through [`Db::read_string`] (see [`read_value`]).
pub fn value_of(db: &Db<'_>, key: &[u8], meta: Meta) -> Result<Bytes> {
    check(&meta)?;
    Ok(db.string_value(key, meta)?)
}

/// The value of a string key read without the key lock: None when missing, wrong type for
/// another type, or (with `lenient`) None for another type too, as MGET wants.
fn read_value(db: &Db<'_>, key: &[u8], lenient: bool) -> Result<Option<Bytes>> {
    db.read_string(key, |r| match r {
        None => Ok(None),
        Some(r) if lenient && r.meta().ty() != ValueType::String => Ok(None),
        Some(r) => {
            check(r.meta())?;
            Ok(Some(r.into_bytes()?))
        }
    })
}

/// The live metadata among the raw metadata read for a write.
fn live(raw: &Option<Meta>, now: u64) -> Option<&Meta> {
    raw.as_ref().filter(|m| !m.is_expired(now))
}

/// Writes one string value in its own batch; `raw` is the previous metadata as stored.
fn store(db: &Db<'_>, key: &[u8], raw: Option<&Meta>, value: &[u8], expire_at: u64) -> Result<()> {
    let mut batch = db.batch();
    batch.put_meta(db.phys, key, raw, &Meta::encode_string(value, expire_at));
    Ok(batch.commit()?)
}

/// GET: the value, or None if the key does not exist.
pub fn get(db: &Db<'_>, key: &[u8]) -> Result<Option<Bytes>> {
    read_value(db, key, false)
}

/// SET with its conditions and TTL handling. With `want_old`, the previous value is returned
/// (and a non-string previous value is an error, leaving the key untouched). Overwriting a
/// fragmented value stores the new one inline; the old fragments are dropped by version.
pub fn set(
    db: &Db<'_>,
    key: &[u8],
    value: &[u8],
    cond: SetCond,
    ttl: Ttl,
    want_old: bool,
) -> Result<SetOutcome> {
    let _guard = db.lock(key);
    let now = now_ms();
    let raw = db.meta_raw(key)?;
    let live = live(&raw, now);
    let old = match (want_old, live) {
        (true, Some(m)) => Some(value_of(db, key, m.clone())?),
        _ => None,
    };
    let exists = live.is_some();
    if (cond == SetCond::IfAbsent && exists) || (cond == SetCond::IfPresent && !exists) {
        return Ok(SetOutcome {
            written: false,
            old,
        });
    }
    let expire_at = match ttl {
        Ttl::Clear => 0,
        Ttl::Keep => live.map_or(0, Meta::expire_at),
        Ttl::At(at) => at,
    };
    store(db, key, raw.as_ref(), value, expire_at)?;
    Ok(SetOutcome { written: true, old })
}

/// GETDEL: the value, and the key is deleted; None if it did not exist.
pub fn getdel(db: &Db<'_>, key: &[u8]) -> Result<Option<Bytes>> {
    let _guard = db.lock(key);
    let Some(meta) = db.meta_raw(key)? else {
        return Ok(None);
    };
    if meta.is_expired(now_ms()) {
        return Ok(None);
    }
    // Read before the delete: once the metadata is gone, compaction may drop the fragments.
    let header = decode_header(meta.as_bytes())?;
    let value = value_of(db, key, meta)?;
    let mut batch = db.batch();
    batch.delete_key(db.phys, key, &header);
    batch.commit()?;
    Ok(Some(value))
}

/// GETEX with an option: the value, with the key's expiry changed. `change` is asked for the
/// change only once the key is known to exist and hold a string, because Redis validates the
/// expire time after those checks (GETEX of a missing key with a bad time replies nil).
pub fn getex<E: From<TypeError>>(
    db: &Db<'_>,
    key: &[u8],
    change: impl FnOnce() -> Result<ExpiryChange, E>,
) -> Result<Option<Bytes>, E> {
    let _guard = db.lock(key);
    let Some(meta) = db.meta_raw(key).map_err(TypeError::from)? else {
        return Ok(None);
    };
    let now = now_ms();
    if meta.is_expired(now) {
        return Ok(None);
    }
    check(&meta)?;
    let target = match change()? {
        ExpiryChange::Persist => 0,
        ExpiryChange::At(at) => at,
    };
    let header = decode_header(meta.as_bytes()).map_err(TypeError::from)?;
    let value = value_of(db, key, meta)?;
    let mut batch = db.batch();
    if target != 0 && target <= now {
        batch.delete_key(db.phys, key, &header);
    } else if target != header.expire_at() {
        // The header is the whole metadata of a fragmented value; an inline one is rebuilt.
        let updated = if header.is_fragmented() {
            let mut m = header.clone();
            m.set_expire_at(target);
            m.into_bytes()
        } else {
            Meta::encode_string(&value, target)
        };
        batch.put_meta(db.phys, key, Some(&header), &updated);
    }
    batch.commit().map_err(TypeError::from)?;
    Ok(Some(value))
}

/// MGET: each key's value; None for a missing key or one that does not hold a string.
pub fn mget(db: &Db<'_>, keys: &[&[u8]]) -> Result<Vec<Option<Bytes>>> {
    keys.iter().map(|&k| read_value(db, k, true)).collect()
}

/// A key and its value, as MSET takes them.
pub type Pair<'a> = (&'a [u8], &'a [u8]);

/// The pairs to write for an MSET: when a key is named more than once, only its last value.
fn last_wins<'p>(pairs: &'p [Pair<'p>]) -> Vec<Pair<'p>> {
    let mut last: HashMap<&[u8], usize> = HashMap::with_capacity(pairs.len());
    for (i, &(k, _)) in pairs.iter().enumerate() {
        last.insert(k, i);
    }
    pairs
        .iter()
        .enumerate()
        .filter(|&(i, (k, _))| last.get(k) == Some(&i))
        .map(|(_, &p)| p)
        .collect()
}

/// Writes the pairs in one batch (clearing their TTLs); the caller holds their locks.
fn write_pairs(db: &Db<'_>, pairs: &[Pair<'_>]) -> Result<()> {
    let mut batch = db.batch();
    for (key, value) in last_wins(pairs) {
        let raw = db.meta_raw(key)?;
        batch.put_meta(db.phys, key, raw.as_ref(), &Meta::encode_string(value, 0));
    }
    batch.commit()?;
    Ok(())
}

/// MSET: sets every pair atomically; a key named twice gets its last value.
pub fn mset(db: &Db<'_>, pairs: &[Pair<'_>]) -> Result<()> {
    let _guard = db.lock_keys(pairs.iter().map(|&(k, _)| k));
    write_pairs(db, pairs)
}

/// MSETNX: sets every pair atomically if none of the keys exists; returns whether it did.
pub fn msetnx(db: &Db<'_>, pairs: &[Pair<'_>]) -> Result<bool> {
    let _guard = db.lock_keys(pairs.iter().map(|&(k, _)| k));
    for &(key, _) in pairs {
        if db.meta(key)?.is_some() {
            return Ok(false);
        }
    }
    write_pairs(db, pairs)?;
    Ok(true)
}

/// A string of `len` bytes is allowed under the limit (proto-max-bulk-len).
fn check_len(len: u64, max_len: u64) -> Result<()> {
    if len > max_len {
        return Err(TypeError::TooBig);
    }
    Ok(())
}

/// Opens the string value of `key` for a partial write under its key lock (held by the caller):
/// wrong type if the key holds something else; a missing key opens empty.
pub(crate) fn open_edit(db: &Db<'_>, key: &[u8]) -> Result<StrEdit> {
    let raw = db.meta_raw(key)?;
    let now = now_ms();
    if let Some(m) = live(&raw, now) {
        check(m)?;
    }
    Ok(StrEdit::open(db, key, raw, now)?)
}

/// Commits an edit in its own batch.
pub(crate) fn commit_edit(db: &Db<'_>, edit: StrEdit) -> Result<()> {
    let mut batch = db.batch();
    edit.commit(&mut batch);
    Ok(batch.commit()?)
}

/// APPEND: appends to the value (creating the key if missing, even with an empty value) and
/// returns the new length. The TTL is kept; results beyond `max_len` are refused. A fragmented
/// value writes only its tail fragments.
pub fn append(db: &Db<'_>, key: &[u8], value: &[u8], max_len: u64) -> Result<u64> {
    let _guard = db.lock(key);
    let mut edit = open_edit(db, key)?;
    let len = edit.len();
    check_len(len + value.len() as u64, max_len)?;
    edit.write(db, len, value)?;
    let len = edit.len();
    commit_edit(db, edit)?;
    Ok(len)
}

/// STRLEN: the length of the value, 0 if the key does not exist. O(1) in either form.
pub fn strlen(db: &Db<'_>, key: &[u8]) -> Result<u64> {
    match db.meta(key)? {
        None => Ok(0),
        Some(m) => {
            check(&m)?;
            Ok(m.string_len())
        }
    }
}

/// The byte range GETRANGE returns for a string of `len` bytes, with Redis 7.0's rules: negative
/// indexes count from the end, both negative with start past end is empty, then start and end
/// are clamped to the string; None when the result is empty.
pub fn range_bounds(len: u64, start: i64, end: i64) -> Option<Range<u64>> {
    if start < 0 && end < 0 && start > end {
        return None;
    }
    let n = i64::try_from(len).ok()?;
    // n >= 0, so adding a negative index cannot overflow.
    let start = if start < 0 { n + start } else { start }.max(0);
    let end = if end < 0 { n + end } else { end }.max(0).min(n - 1);
    if len == 0 || start > end {
        return None;
    }
    Some(start as u64..end as u64 + 1)
}

/// GETRANGE: the bytes from `start` to `end` inclusive (see [`range_bounds`]); empty when the
/// key does not exist. A fragmented value reads only the fragments in the range.
pub fn getrange(db: &Db<'_>, key: &[u8], start: i64, end: i64) -> Result<Bytes> {
    db.read_string(key, |r| {
        let Some(mut r) = r else {
            return Ok(Bytes::new());
        };
        check(r.meta())?;
        let Some(range) = range_bounds(r.len(), start, end) else {
            return Ok(Bytes::new());
        };
        if r.is_fragmented() {
            return Ok(Bytes::from(r.read(range.start, range.end)?));
        }
        Ok(r.into_bytes()?
            .slice(range.start as usize..range.end as usize))
    })
}

/// SETRANGE: overwrites the value from `offset` (zero-padding as needed) and returns the new
/// length. An empty `value` changes nothing (and does not create the key); a result beyond
/// `max_len` is refused before anything is allocated. The TTL is kept. A fragmented value
/// writes only the fragments the range touches.
pub fn setrange(db: &Db<'_>, key: &[u8], offset: u64, value: &[u8], max_len: u64) -> Result<u64> {
    let _guard = db.lock(key);
    let mut edit = open_edit(db, key)?;
    if value.is_empty() {
        return Ok(edit.len());
    }
    check_len(offset.saturating_add(value.len() as u64), max_len)?;
    edit.write(db, offset, value)?;
    let len = edit.len();
    commit_edit(db, edit)?;
    Ok(len)
}

/// Longest value INCRBYFLOAT parses (Redis's MAX_LONG_DOUBLE_CHARS): a longer one is not a float.
const MAX_FLOAT_CHARS: u64 = 5 * 1024;
/// Longest value INCR parses: a longer one is not an integer.
const MAX_INT_CHARS: u64 = 20;

/// The live string value and its expiry, for the INCR family; None when the key is absent. A
/// value longer than `max_chars` cannot parse, so it is not read: `Some((None, _))`.
fn current_for_update(
    db: &Db<'_>,
    key: &[u8],
    raw: &Option<Meta>,
    now: u64,
    max_chars: u64,
) -> Result<Option<(Option<Bytes>, u64)>> {
    match live(raw, now) {
        None => Ok(None),
        Some(m) => {
            check(m)?;
            let value = (m.string_len() <= max_chars)
                .then(|| db.string_value(key, m.clone()))
                .transpose()?;
            Ok(Some((value, m.expire_at())))
        }
    }
}

/// INCRBY (and INCR, DECR, DECRBY): adds `delta` to the integer value (0 if absent), keeping the
/// TTL, and returns the result.
pub fn incr_by(db: &Db<'_>, key: &[u8], delta: i64) -> Result<i64> {
    let _guard = db.lock(key);
    let raw = db.meta_raw(key)?;
    let (value, expire_at) = match current_for_update(db, key, &raw, now_ms(), MAX_INT_CHARS)? {
        None => (0, 0),
        Some((v, at)) => (
            v.as_deref()
                .and_then(num::parse_i64)
                .ok_or(TypeError::NotInteger)?,
            at,
        ),
    };
    let result = value.checked_add(delta).ok_or(TypeError::Overflow)?;
    let mut text = Vec::with_capacity(20);
    num::fmt_i64(&mut text, result);
    store(db, key, raw.as_ref(), &text, expire_at)?;
    Ok(result)
}

/// INCRBYFLOAT: adds `incr` (as given by the client) to the value (0 if absent) in long double
/// arithmetic, keeping the TTL; returns the new value as stored.
pub fn incr_by_float(db: &Db<'_>, key: &[u8], incr: &[u8]) -> Result<Bytes> {
    let _guard = db.lock(key);
    let raw = db.meta_raw(key)?;
    let current = current_for_update(db, key, &raw, now_ms(), MAX_FLOAT_CHARS)?;
    let float_err = |e| match e {
        FloatIncrError::NanOrInfinity | FloatIncrError::IncrNanOrInfinity => {
            TypeError::NanOrInfinity
        }
        FloatIncrError::NotFloat
        | FloatIncrError::IncrNotFloat
        | FloatIncrError::HashValueNotFloat => TypeError::NotFloat,
    };
    let text = match &current {
        // Too long to be a float (Redis checks the value before the increment).
        Some((None, _)) => return Err(TypeError::NotFloat),
        Some((Some(v), _)) => num::incr_by_float(Some(v), incr),
        None => num::incr_by_float(None, incr),
    }
    .map_err(float_err)?;
    let expire_at = current.map_or(0, |(_, at)| at);
    store(db, key, raw.as_ref(), &text, expire_at)?;
    Ok(Bytes::from(text))
}

/// The two values LCS compares, checked for type but not read yet (a value may be large and LCS
/// refuses large inputs first).
pub struct LcsOperands {
    a: (Vec<u8>, Option<Meta>),
    b: (Vec<u8>, Option<Meta>),
}

impl LcsOperands {
    /// The lengths of the two values (0 for a missing key).
    pub fn lens(&self) -> (u64, u64) {
        let len = |m: &Option<Meta>| m.as_ref().map_or(0, Meta::string_len);
        (len(&self.a.1), len(&self.b.1))
    }

    /// Reads both values.
    pub fn read(self, db: &Db<'_>) -> Result<(Bytes, Bytes)> {
        let read = |(key, meta): (Vec<u8>, Option<Meta>)| -> Result<Bytes> {
            match meta {
                None => Ok(Bytes::new()),
                Some(m) if !m.is_fragmented() => value_of(db, &key, m),
                // Read again, consistently; gone or retyped since it was checked: read as the
                // key is now.
                Some(_) => Ok(read_value(db, &key, true)?.unwrap_or_default()),
            }
        };
        Ok((read(self.a)?, read(self.b)?))
    }
}

/// The values LCS compares: a missing key is an empty string; a key of another type is
/// [`TypeError::WrongType`] (LCS reports it with its own text).
pub fn lcs_operands(db: &Db<'_>, a: &[u8], b: &[u8]) -> Result<LcsOperands> {
    let (ma, mb) = (db.meta(a)?, db.meta(b)?);
    let wrong = |m: &Option<Meta>| m.as_ref().is_some_and(|m| m.ty() != ValueType::String);
    if wrong(&ma) || wrong(&mb) {
        return Err(TypeError::WrongType);
    }
    Ok(LcsOperands {
        a: (a.to_vec(), ma),
        b: (b.to_vec(), mb),
    })
}

/// What an LCS computation should produce.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LcsWant {
    /// The common subsequence itself (plain LCS, or IDX).
    pub string: bool,
    /// The matching ranges (IDX), keeping only those at least this long (0 = all).
    pub ranges: Option<u64>,
}

/// One matching range of an LCS: inclusive byte positions in each string.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LcsRange {
    pub a: (u32, u32),
    pub b: (u32, u32),
    pub len: u32,
}

/// The result of an LCS computation.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LcsResult {
    /// Length of the longest common subsequence.
    pub len: u32,
    /// The subsequence, when asked for.
    pub string: Vec<u8>,
    /// The matching ranges, from the end of the strings to their start, when asked for.
    pub ranges: Vec<LcsRange>,
}

/// Why LCS refused to run; the texts are Redis 7.0's.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum LcsError {
    #[error("ERR String too long for LCS")]
    TooLong,
    #[error("ERR Insufficient memory, transient memory for LCS exceeds proto-max-bulk-len")]
    ExceedsLimit,
    #[error("ERR Insufficient memory, failed allocating transient memory for LCS")]
    AllocFailed,
}

/// Redis 7.0's size checks of LCS, done before the values are read: the number of table cells,
/// or why the table is refused.
pub fn lcs_check(alen: u64, blen: u64, max_alloc: u64) -> Result<u64, LcsError> {
    if alen >= u64::from(u32::MAX - 1) || blen >= u64::from(u32::MAX - 1) {
        return Err(LcsError::TooLong);
    }
    let cells = (alen + 1) * (blen + 1);
    let bytes = cells.checked_mul(4).ok_or(LcsError::AllocFailed)?;
    if bytes > max_alloc {
        return Err(LcsError::ExceedsLimit);
    }
    Ok(cells)
}

/// Redis 7.0's LCS: the dynamic-programming table of (len(a)+1)·(len(b)+1) u32s, refused when
/// its size in bytes exceeds `max_alloc` (proto-max-bulk-len), then walked back from the end to
/// recover the subsequence and its ranges exactly as Redis reports them.
pub fn lcs(a: &[u8], b: &[u8], want: LcsWant, max_alloc: u64) -> Result<LcsResult, LcsError> {
    let cells = lcs_check(a.len() as u64, b.len() as u64, max_alloc)?;
    let (alen, blen) = (a.len(), b.len());
    let cells = usize::try_from(cells).map_err(|_| LcsError::AllocFailed)?;
    let mut table: Vec<u32> = Vec::new();
    table
        .try_reserve_exact(cells)
        .map_err(|_| LcsError::AllocFailed)?;
    table.resize(cells, 0);
    let w = blen + 1;
    for i in 1..=alen {
        let (prev, row) = table[(i - 1) * w..(i + 1) * w].split_at_mut(w);
        let ai = a[i - 1];
        for j in 1..=blen {
            row[j] = if ai == b[j - 1] {
                prev[j - 1] + 1
            } else {
                prev[j].max(row[j - 1])
            };
        }
    }
    let at = |i: usize, j: usize| table[i * w + j];
    let total = at(alen, blen);
    let mut out = LcsResult {
        len: total,
        ..LcsResult::default()
    };
    if !want.string && want.ranges.is_none() {
        return Ok(out);
    }
    let mut string = vec![0u8; total as usize];
    let mut idx = total as usize;
    // The current range, growing backwards: (a_start, a_end, b_start, b_end).
    let mut range: Option<(usize, usize, usize, usize)> = None;
    let (mut i, mut j) = (alen, blen);
    while i > 0 && j > 0 {
        let mut emit = false;
        if a[i - 1] == b[j - 1] {
            idx -= 1;
            string[idx] = a[i - 1];
            range = match range {
                None => Some((i - 1, i - 1, j - 1, j - 1)),
                // Matches along the diagonal always extend the range.
                Some((sa, ea, sb, eb)) if sa == i && sb == j => Some((sa - 1, ea, sb - 1, eb)),
                Some(r) => {
                    emit = true;
                    Some(r)
                }
            };
            if range.is_some_and(|(sa, _, sb, _)| sa == 0 || sb == 0) {
                emit = true;
            }
            i -= 1;
            j -= 1;
        } else {
            if at(i - 1, j) > at(i, j - 1) {
                i -= 1;
            } else {
                j -= 1;
            }
            emit = range.is_some();
        }
        if emit {
            if let (Some((sa, ea, sb, eb)), Some(min)) = (range, want.ranges) {
                let len = ea - sa + 1;
                if min == 0 || len as u64 >= min {
                    out.ranges.push(LcsRange {
                        a: (sa as u32, ea as u32),
                        b: (sb as u32, eb as u32),
                        len: len as u32,
                    });
                }
            }
            range = None;
        }
    }
    out.string = string;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gr(s: &str, start: i64, end: i64) -> String {
        range_bounds(s.len() as u64, start, end)
            .map(|r| s[r.start as usize..r.end as usize].to_string())
            .unwrap_or_default()
    }

    #[test]
    fn getrange_matches_redis() {
        // Each expectation was observed on redis-server 7.0.15.
        let cases: &[(&str, i64, i64, &str)] = &[
            ("hello", 0, -1, "hello"),
            ("hello", -1, -5, ""),
            ("hello", -5, -10, ""),
            ("hello", -1, -10, ""),
            ("hello", -10, -8, "h"),
            ("hello", -100, 100, "hello"),
            ("hello", 3, 1, ""),
            ("hello", 5, 10, ""),
            ("hello", 4, 100, "o"),
            ("hello", -1, -1, "o"),
            ("hello", 0, -100, "h"),
            ("hello", -3, 2, "l"),
            ("hello", i64::MAX, i64::MIN, ""),
            ("hello", i64::MIN, i64::MAX, "hello"),
            ("12345", -2, -1, "45"),
            ("", 0, -1, ""),
            ("", -1, -5, ""),
            ("", 0, 0, ""),
            ("", -1, 0, ""),
        ];
        for &(s, start, end, want) in cases {
            assert_eq!(gr(s, start, end), want, "{s:?} {start} {end}");
        }
    }

    #[test]
    fn last_wins_keeps_the_last_value_of_each_key() {
        let pairs: [(&[u8], &[u8]); 4] = [(b"a", b"1"), (b"b", b"2"), (b"a", b"3"), (b"c", b"4")];
        let got = last_wins(&pairs);
        let want: Vec<(&[u8], &[u8])> = vec![(b"b", b"2"), (b"a", b"3"), (b"c", b"4")];
        assert_eq!(got, want);
    }

    const ALL: LcsWant = LcsWant {
        string: true,
        ranges: Some(0),
    };

    #[test]
    fn lcs_matches_redis() {
        // LCS ohmytext mynewtext on redis-server 7.0.15: "mytext", len 6, matches
        // [4,7]/[5,8] (4) then [2,3]/[0,1] (2).
        let r = lcs(b"ohmytext", b"mynewtext", ALL, 1 << 29).unwrap();
        assert_eq!(r.len, 6);
        assert_eq!(r.string, b"mytext");
        assert_eq!(
            r.ranges,
            vec![
                LcsRange {
                    a: (4, 7),
                    b: (5, 8),
                    len: 4
                },
                LcsRange {
                    a: (2, 3),
                    b: (0, 1),
                    len: 2
                },
            ]
        );
        let min4 = LcsWant {
            string: true,
            ranges: Some(4),
        };
        assert_eq!(
            lcs(b"ohmytext", b"mynewtext", min4, 1 << 29)
                .unwrap()
                .ranges
                .len(),
            1
        );
        let len_only = lcs(b"ohmytext", b"mynewtext", LcsWant::default(), 1 << 29).unwrap();
        assert_eq!((len_only.len, len_only.string.len()), (6, 0));
    }

    #[test]
    fn lcs_edge_cases() {
        let empty = lcs(b"", b"", ALL, 1 << 29).unwrap();
        assert_eq!(empty, LcsResult::default());
        let r = lcs(b"abc", b"", ALL, 1 << 29).unwrap();
        assert_eq!((r.len, r.ranges.len()), (0, 0));
        let r = lcs(b"abc", b"xyz", ALL, 1 << 29).unwrap();
        assert_eq!((r.len, r.ranges.len()), (0, 0));
        let r = lcs(b"abc", b"abc", ALL, 1 << 29).unwrap();
        assert_eq!(r.string, b"abc");
        assert_eq!(
            r.ranges,
            vec![LcsRange {
                a: (0, 2),
                b: (0, 2),
                len: 3
            }]
        );
        // A range touching the start of one string only.
        let r = lcs(b"xab", b"ab", ALL, 1 << 29).unwrap();
        assert_eq!(
            r.ranges,
            vec![LcsRange {
                a: (1, 2),
                b: (0, 1),
                len: 2
            }]
        );
    }

    #[test]
    fn lcs_memory_limit_is_redis_formula() {
        // (511+1)*(511+1)*4 bytes is exactly 1 MiB: allowed; one more byte is not.
        let a = vec![b'a'; 511];
        assert_eq!(lcs(&a, &a, LcsWant::default(), 1 << 20).unwrap().len, 511);
        let b = vec![b'a'; 512];
        assert_eq!(
            lcs(&b, &a, LcsWant::default(), 1 << 20),
            Err(LcsError::ExceedsLimit)
        );
        assert_eq!(
            LcsError::ExceedsLimit.to_string(),
            "ERR Insufficient memory, transient memory for LCS exceeds proto-max-bulk-len"
        );
    }

    /// The plain O(n·m) definition, to check the subsequence and its length.
    fn is_subsequence(sub: &[u8], of: &[u8]) -> bool {
        let mut it = of.iter();
        sub.iter().all(|c| it.any(|d| d == c))
    }

    #[test]
    fn lcs_ranges_reassemble_the_subsequence() {
        let mut seed = 7u64;
        let mut rnd = |n: u64| {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (seed >> 33) % n
        };
        for _ in 0..300 {
            let a: Vec<u8> = (0..rnd(20)).map(|_| b'a' + rnd(3) as u8).collect();
            let b: Vec<u8> = (0..rnd(20)).map(|_| b'a' + rnd(3) as u8).collect();
            let r = lcs(&a, &b, ALL, 1 << 29).unwrap();
            assert_eq!(r.string.len(), r.len as usize);
            assert!(is_subsequence(&r.string, &a) && is_subsequence(&r.string, &b));
            let mut joined = Vec::new();
            for g in r.ranges.iter().rev() {
                let sa = &a[g.a.0 as usize..=g.a.1 as usize];
                assert_eq!(sa, &b[g.b.0 as usize..=g.b.1 as usize]);
                assert_eq!(sa.len(), g.len as usize);
                joined.extend_from_slice(sa);
            }
            assert_eq!(joined, r.string);
        }
    }
}
