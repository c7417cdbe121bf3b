//! Hashes as typed operations over the versioned sub-key layout.
//!
//! A hash is collection metadata of type [`ValueType::Hash`] whose element count is the number of
//! fields, plus one sub-key per field in [`SubCf::Data`] (sub-key = field bytes, value = field
//! value) under the metadata's version. Writes hold the key lock across their reads and their one
//! batch; reads take no lock. Semantics and error texts follow Redis 7.0's `t_hash.c`.

use super::collection::{self, Target};
use super::keyspace::{literal_prefix, ScanCursors};
use super::{Result, TypeError};
use crate::storage::subkeys::SubCf;
use crate::storage::{Db, Meta, ValueType};
use crate::util::glob::glob_match;
use crate::util::num::{self, FloatIncrError};
use bytes::Bytes;
use rand::Rng;
use std::collections::HashSet;

/// Redis 7.0's defaults: a hash stays a listpack while it has at most this many fields...
pub const LISTPACK_MAX_ENTRIES: u64 = 128;
/// ...and every field and value is at most this many bytes.
pub const LISTPACK_MAX_VALUE: usize = 64;

/// The most elements one HRANDFIELD with a negative count may return. Redis 7.0 builds any such
/// reply (only WITHVALUES is bounded, to avoid overflow); Basalt bounds the work and the memory
/// of one reply and answers larger counts with `ERR value is out of range`.
pub const MAX_RANDOM_COUNT: u64 = 10_000_000;

/// Errors of the hash operations beyond the common [`TypeError`]s.
#[derive(Debug, thiserror::Error)]
pub enum HashError {
    #[error(transparent)]
    Type(#[from] TypeError),
    /// HINCRBY on a field whose value is not an integer.
    #[error("ERR hash value is not an integer")]
    ValueNotInteger,
    /// HINCRBYFLOAT's errors, with their exact texts.
    #[error("{}", .0.error_text())]
    Float(FloatIncrError),
}

impl From<crate::storage::StoreError> for HashError {
    fn from(e: crate::storage::StoreError) -> Self {
        HashError::Type(TypeError::Storage(e))
    }
}

/// The live metadata of a hash key (None when missing), WRONGTYPE otherwise.
fn read(db: &Db<'_>, key: &[u8]) -> Result<Option<Meta>> {
    collection::read(db, key, ValueType::Hash)
}

/// The encoding Redis 7.0 would report for this hash: "listpack" when it has at most 128 fields
/// and every field and value is at most 64 bytes, else "hashtable". (Redis never converts a
/// hashtable back; Basalt keeps no history and answers from the current contents.)
pub fn encoding(db: &Db<'_>, key: &[u8], meta: &Meta) -> Result<&'static str> {
    Ok(if is_listpack(db, key, meta)? {
        "listpack"
    } else {
        "hashtable"
    })
}

/// Whether the hash would be listpack-encoded in Redis (reads at most 128 fields).
fn is_listpack(db: &Db<'_>, key: &[u8], meta: &Meta) -> Result<bool> {
    if meta.count() > LISTPACK_MAX_ENTRIES {
        return Ok(false);
    }
    let mut it = db.iter_subs(SubCf::Data, key, meta.version(), None, false);
    while let Some((f, v)) = it.next()? {
        if f.len() > LISTPACK_MAX_VALUE || v.len() > LISTPACK_MAX_VALUE {
            return Ok(false);
        }
    }
    Ok(true)
}

/// HSET / HMSET (`only_new` = false) and HSETNX (one pair, `only_new` = true): writes the pairs
/// (for a field named twice the last value wins) and returns the number of fields created.
pub fn set(db: &Db<'_>, key: &[u8], pairs: &[(&[u8], &[u8])], only_new: bool) -> Result<u64> {
    let _guard = db.lock(key);
    let mut target = Target::load(db, key, ValueType::Hash)?;
    let existing: Vec<bool> = match target.version() {
        Some(v) => {
            let fields: Vec<&[u8]> = pairs.iter().map(|p| p.0).collect();
            db.get_subs(SubCf::Data, key, v, &fields)?
                .into_iter()
                .map(|o| o.is_some())
                .collect()
        }
        None => vec![false; pairs.len()],
    };
    let mut created: HashSet<&[u8]> = HashSet::new();
    let mut writes: Vec<(&[u8], &[u8])> = Vec::with_capacity(pairs.len());
    for (&(f, v), &exists) in pairs.iter().zip(&existing) {
        let new = !exists && !created.contains(f);
        if new {
            created.insert(f);
        }
        if only_new && !new {
            continue;
        }
        writes.push((f, v));
    }
    if writes.is_empty() {
        return Ok(0);
    }
    let version = target.version_or_new(db)?;
    let mut batch = db.batch();
    for (f, v) in writes {
        batch.put_sub(SubCf::Data, db.phys, key, version, f, v);
    }
    let added = created.len() as u64;
    target.store(&mut batch, db, key, target.count() + added, &[]);
    batch.commit()?;
    Ok(added)
}

/// HDEL: removes the fields and returns how many existed; the key goes with its last field.
pub fn del(db: &Db<'_>, key: &[u8], fields: &[&[u8]]) -> Result<u64> {
    let _guard = db.lock(key);
    let target = Target::load(db, key, ValueType::Hash)?;
    let Some(version) = target.version() else {
        return Ok(0);
    };
    let found = db.get_subs(SubCf::Data, key, version, fields)?;
    let mut removed: HashSet<&[u8]> = HashSet::new();
    let mut batch = db.batch();
    for (&f, old) in fields.iter().zip(&found) {
        if old.is_some() && removed.insert(f) {
            batch.delete_sub(SubCf::Data, db.phys, key, version, f);
        }
    }
    if removed.is_empty() {
        return Ok(0);
    }
    let n = removed.len() as u64;
    target.store(&mut batch, db, key, target.count().saturating_sub(n), &[]);
    batch.commit()?;
    Ok(n)
}

/// HGET: the field's value.
pub fn get(db: &Db<'_>, key: &[u8], field: &[u8]) -> Result<Option<Bytes>> {
    let Some(meta) = read(db, key)? else {
        return Ok(None);
    };
    Ok(db
        .get_sub(SubCf::Data, key, meta.version(), field)?
        .map(Bytes::from))
}

/// HMGET: each field's value (all None for a missing key).
pub fn mget(db: &Db<'_>, key: &[u8], fields: &[&[u8]]) -> Result<Vec<Option<Bytes>>> {
    let Some(meta) = read(db, key)? else {
        return Ok(vec![None; fields.len()]);
    };
    Ok(db
        .get_subs(SubCf::Data, key, meta.version(), fields)?
        .into_iter()
        .map(|o| o.map(Bytes::from))
        .collect())
}

/// HEXISTS.
pub fn exists(db: &Db<'_>, key: &[u8], field: &[u8]) -> Result<bool> {
    Ok(get(db, key, field)?.is_some())
}

/// HSTRLEN: the length of the field's value, 0 when absent.
pub fn strlen(db: &Db<'_>, key: &[u8], field: &[u8]) -> Result<u64> {
    Ok(get(db, key, field)?.map_or(0, |v| v.len() as u64))
}

/// HLEN.
pub fn len(db: &Db<'_>, key: &[u8]) -> Result<u64> {
    Ok(read(db, key)?.map_or(0, |m| m.count()))
}

/// HGETALL / HKEYS / HVALS: every (field, value) in one iteration, in field byte order. With
/// `fields` or `values` false that half is returned empty (not read into a copy).
pub fn all(db: &Db<'_>, key: &[u8], fields: bool, values: bool) -> Result<Vec<(Bytes, Bytes)>> {
    let Some(meta) = read(db, key)? else {
        return Ok(Vec::new());
    };
    let cap = usize::try_from(meta.count()).unwrap_or(0).min(1 << 16);
    let mut out = Vec::with_capacity(cap);
    let mut it = db.iter_subs(SubCf::Data, key, meta.version(), None, false);
    while let Some((f, v)) = it.next()? {
        let f = if fields {
            Bytes::copy_from_slice(f)
        } else {
            Bytes::new()
        };
        let v = if values {
            Bytes::copy_from_slice(v)
        } else {
            Bytes::new()
        };
        out.push((f, v));
    }
    Ok(out)
}

/// HINCRBY: adds `incr` to the field's integer value (0 when absent) and returns the result.
pub fn incr_by(db: &Db<'_>, key: &[u8], field: &[u8], incr: i64) -> Result<i64, HashError> {
    let _guard = db.lock(key);
    let mut target = Target::load(db, key, ValueType::Hash)?;
    let old = match target.version() {
        Some(v) => db.get_sub(SubCf::Data, key, v, field)?,
        None => None,
    };
    let current = match &old {
        Some(bytes) => num::parse_i64(bytes).ok_or(HashError::ValueNotInteger)?,
        None => 0,
    };
    let new = current
        .checked_add(incr)
        .ok_or(HashError::Type(TypeError::Overflow))?;
    let mut text = Vec::with_capacity(20);
    num::fmt_i64(&mut text, new);
    write_one(db, key, &mut target, field, &text, old.is_none())?;
    Ok(new)
}

/// HINCRBYFLOAT: adds the float `incr` to the field's value (0 when absent) with Redis's long
/// double arithmetic and returns the stored text. The increment is checked before the key's type,
/// as in Redis.
pub fn incr_by_float(
    db: &Db<'_>,
    key: &[u8],
    field: &[u8],
    incr: &[u8],
) -> Result<Vec<u8>, HashError> {
    num::hincr_by_float(None, incr).map_err(HashError::Float)?;
    let _guard = db.lock(key);
    let mut target = Target::load(db, key, ValueType::Hash)?;
    let old = match target.version() {
        Some(v) => db.get_sub(SubCf::Data, key, v, field)?,
        None => None,
    };
    let new = num::hincr_by_float(old.as_deref(), incr).map_err(HashError::Float)?;
    write_one(db, key, &mut target, field, &new, old.is_none())?;
    Ok(new)
}

/// Writes one field (under the caller's lock), counting it when it is new.
fn write_one(
    db: &Db<'_>,
    key: &[u8],
    target: &mut Target,
    field: &[u8],
    value: &[u8],
    is_new: bool,
) -> Result<()> {
    let version = target.version_or_new(db)?;
    let mut batch = db.batch();
    batch.put_sub(SubCf::Data, db.phys, key, version, field, value);
    target.store(&mut batch, db, key, target.count() + u64::from(is_new), &[]);
    batch.commit()?;
    Ok(())
}

/// Collects the entries at the given positions (sorted ascending, repeats allowed) of one
/// iteration in field order. Stops early if the hash shrank meanwhile.
fn entries_at(
    db: &Db<'_>,
    key: &[u8],
    meta: &Meta,
    positions: &[u64],
) -> Result<Vec<(Bytes, Bytes)>> {
    let mut out = Vec::with_capacity(positions.len());
    let mut it = db.iter_subs(SubCf::Data, key, meta.version(), None, false);
    let mut idx = 0u64;
    let mut pos = positions.iter().peekable();
    while pos.peek().is_some() {
        let Some((f, v)) = it.next()? else {
            break;
        };
        let mut entry: Option<(Bytes, Bytes)> = None;
        while pos.next_if(|&&p| p == idx).is_some() {
            let e =
                entry.get_or_insert_with(|| (Bytes::copy_from_slice(f), Bytes::copy_from_slice(v)));
            out.push(e.clone());
        }
        idx += 1;
    }
    Ok(out)
}

/// HRANDFIELD key (no count): a random field, None for a missing key.
pub fn random_field(db: &Db<'_>, key: &[u8]) -> Result<Option<Bytes>> {
    let Some(meta) = read(db, key)? else {
        return Ok(None);
    };
    let n = meta.count();
    if n == 0 {
        return Ok(None);
    }
    let pos = rand::rng().random_range(0..n);
    let mut got = entries_at(db, key, &meta, &[pos])?;
    if got.is_empty() {
        // The hash shrank between reading its count and iterating: take its first field.
        got = entries_at(db, key, &meta, &[0])?;
    }
    Ok(got.into_iter().next().map(|(f, _)| f))
}

/// HRANDFIELD key count: None for a missing key; otherwise up to `count` distinct fields (all of
/// them when `count` >= the size), or, for a negative count, exactly `-count` fields with
/// repeats allowed (at most [`MAX_RANDOM_COUNT`]: the caller rejects larger counts).
pub fn random_fields(db: &Db<'_>, key: &[u8], count: i64) -> Result<Option<Vec<(Bytes, Bytes)>>> {
    let Some(meta) = read(db, key)? else {
        return Ok(None);
    };
    let size = meta.count();
    if count == 0 || size == 0 {
        return Ok(Some(Vec::new()));
    }
    let mut rng = rand::rng();
    let want = count.unsigned_abs();
    if count < 0 {
        let want = want.min(MAX_RANDOM_COUNT);
        let mut positions: Vec<u64> = (0..want).map(|_| rng.random_range(0..size)).collect();
        positions.sort_unstable();
        let mut out = entries_at(db, key, &meta, &positions)?;
        if out.is_empty() {
            return Ok(Some(out));
        }
        // Entries missing because the hash shrank meanwhile are filled with found ones.
        let mut i = 0;
        while (out.len() as u64) < want {
            out.push(out[i].clone());
            i += 1;
        }
        shuffle(&mut out, &mut rng);
        return Ok(Some(out));
    }
    if want >= size {
        return all(db, key, true, true).map(Some);
    }
    // Fewer distinct fields than the hash has: `want` < `size` fits in memory as positions.
    let (Ok(size_us), Ok(want_us)) = (usize::try_from(size), usize::try_from(want)) else {
        return all(db, key, true, true).map(Some);
    };
    let mut positions: Vec<u64> = rand::seq::index::sample(&mut rng, size_us, want_us)
        .into_iter()
        .map(|i| i as u64)
        .collect();
    positions.sort_unstable();
    let mut out = entries_at(db, key, &meta, &positions)?;
    shuffle(&mut out, &mut rng);
    Ok(Some(out))
}

fn shuffle<T>(v: &mut [T], rng: &mut impl Rng) {
    use rand::seq::SliceRandom;
    v.shuffle(rng);
}

/// Marks a position in [`ScanCursors`] as an HSCAN position (SCAN stores plain keys there).
const CURSOR_TAG: &[u8] = b"\xffbasalt:hscan\x00";

fn encode_position(key: &[u8], next_field: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(CURSOR_TAG.len() + 4 + key.len() + next_field.len());
    out.extend_from_slice(CURSOR_TAG);
    out.extend_from_slice(&(key.len() as u32).to_be_bytes());
    out.extend_from_slice(key);
    out.extend_from_slice(next_field);
    out
}

/// The field to resume at, if `pos` is an HSCAN position of `key`.
fn decode_position<'p>(pos: &'p [u8], key: &[u8]) -> Option<&'p [u8]> {
    let rest = pos.strip_prefix(CURSOR_TAG)?;
    let len_bytes: [u8; 4] = rest.get(..4)?.try_into().ok()?;
    let len = u32::from_be_bytes(len_bytes) as usize;
    let rest = &rest[4..];
    let k = rest.get(..len)?;
    (k == key).then(|| &rest[len..])
}

/// HSCAN key cursor [MATCH pattern] [COUNT count]: one step. Returns the next cursor (0 when the
/// scan is complete) and the (field, value) pairs found.
///
/// A hash Redis would keep as a listpack (see [`encoding`]) is returned whole with cursor 0, as
/// Redis does. Larger hashes are walked in field order, `count` fields per call; a cursor stands
/// for the next field to examine, kept in the server's bounded cursor table. An unknown cursor
/// (evicted, used, from another key or database) restarts from the first field, which keeps
/// HSCAN's guarantee: every field present for the whole scan is returned at least once.
pub fn scan(
    db: &Db<'_>,
    cursors: &ScanCursors,
    key: &[u8],
    cursor: u64,
    count: usize,
    pattern: Option<&[u8]>,
) -> Result<(u64, Vec<(Bytes, Bytes)>)> {
    // The cursor is consumed whatever happens, so the table does not keep dead entries.
    let resume = match cursor {
        0 => None,
        c => cursors.take(c, db.phys),
    };
    let Some(meta) = read(db, key)? else {
        return Ok((0, Vec::new()));
    };
    let pattern = pattern.filter(|p| *p != b"*");
    let matches = |f: &[u8]| pattern.is_none_or(|p| glob_match(p, f, false));
    if is_listpack(db, key, &meta)? {
        let found = all(db, key, true, true)?
            .into_iter()
            .filter(|(f, _)| matches(f))
            .collect();
        return Ok((0, found));
    }
    let prefix = pattern.map(literal_prefix).unwrap_or_default();
    let from = resume
        .as_deref()
        .and_then(|p| decode_position(p, key))
        .map(<[u8]>::to_vec);
    let start = match from {
        Some(f) if f.as_slice() > prefix.as_slice() => f,
        _ => prefix.clone(),
    };
    let mut it = db.iter_subs(SubCf::Data, key, meta.version(), Some(&start), false);
    let mut found = Vec::new();
    let mut examined = 0usize;
    while let Some((f, v)) = it.next()? {
        if !f.starts_with(&prefix) {
            return Ok((0, found));
        }
        if examined == count.max(1) {
            return Ok((cursors.insert(db.phys, encode_position(key, f)), found));
        }
        examined += 1;
        if matches(f) {
            found.push((Bytes::copy_from_slice(f), Bytes::copy_from_slice(v)));
        }
    }
    Ok((0, found))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursor_positions_round_trip_and_are_scoped_to_their_key() {
        let p = encode_position(b"h", b"field\x00x");
        assert_eq!(decode_position(&p, b"h"), Some(&b"field\x00x"[..]));
        assert_eq!(decode_position(&p, b"h2"), None);
        assert_eq!(decode_position(b"plainkey", b"h"), None);
        let p = encode_position(b"", b"");
        assert_eq!(decode_position(&p, b""), Some(&b""[..]));
    }
}
