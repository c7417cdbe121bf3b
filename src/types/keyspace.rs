//! Operations on keys of any type: existence, deletion, type, expiry, renaming and copying,
//! listing (KEYS, SCAN, RANDOMKEY) and OBJECT introspection.

use super::{Result, TypeError};
use crate::storage::scan::decode_header;
use crate::storage::{Batch, Db, Meta, ValueType};
use crate::util::glob::glob_match;
use bytes::Bytes;
use parking_lot::Mutex;
use std::collections::{BTreeMap, HashMap};

/// Deletes the given keys; returns how many existed (and were not expired).
pub fn delete(db: &Db<'_>, keys: &[&[u8]]) -> Result<i64> {
    delete_reporting(db, keys, None)
}

/// DEL that also lists the keys it deleted (live keys only, in argument order, each once), for
/// keyspace notifications.
pub fn delete_listing<'k>(db: &Db<'_>, keys: &[&'k [u8]]) -> Result<Vec<&'k [u8]>> {
    let mut deleted = Vec::new();
    delete_reporting(db, keys, Some(&mut deleted))?;
    Ok(deleted)
}

fn delete_reporting<'k>(
    db: &Db<'_>,
    keys: &[&'k [u8]],
    mut deleted: Option<&mut Vec<&'k [u8]>>,
) -> Result<i64> {
    let _guard = db.lock_keys(keys.iter().copied());
    let now = crate::util::time::now_ms();
    let mut batch = db.batch();
    let mut removed = 0;
    let mut seen = std::collections::HashSet::with_capacity(keys.len());
    for &key in keys {
        if !seen.insert(key) {
            continue;
        }
        if let Some(meta) = db.meta_raw(key)? {
            if !meta.is_expired(now) {
                removed += 1;
                if let Some(list) = deleted.as_deref_mut() {
                    list.push(key);
                }
            }
            batch.delete_key(db.phys, key, &meta);
        }
    }
    batch.commit()?;
    Ok(removed)
}

/// Counts the given keys that exist; a key named twice counts twice, as in Redis. Also TOUCH:
/// Basalt keeps no access time, so touching is just looking up.
pub fn exists(db: &Db<'_>, keys: &[&[u8]]) -> Result<i64> {
    let mut n = 0;
    for &key in keys {
        if db.meta(key)?.is_some() {
            n += 1;
        }
    }
    Ok(n)
}

/// The type of a live key (TYPE), or None.
pub fn type_of(db: &Db<'_>, key: &[u8]) -> Result<Option<ValueType>> {
    Ok(db.meta(key)?.map(|m| m.ty()))
}

/// The metadata to store for a copy of `meta` (the value of `key` in `src`) placed at `to_key`
/// in physical database `to_phys`, expiry included. An inline string is copied as is; a
/// collection or a fragmented string gets a fresh version and its sub-keys (elements, fragments)
/// are copied to it in `batch` (O(number of elements or stored fragments)).
fn relocate(
    src: &Db<'_>,
    key: &[u8],
    meta: Meta,
    to_phys: u8,
    to_key: &[u8],
    batch: &mut Batch<'_>,
) -> Result<Vec<u8>> {
    if !meta.has_subkeys() {
        return Ok(meta.into_bytes());
    }
    let version = src.store.next_version()?;
    src.copy_subkeys(key, meta.version(), to_phys, to_key, version, batch)?;
    let mut bytes = meta.into_bytes();
    // Bytes 10..18 of a collection's or fragmented string's metadata hold its version
    // (Meta::decode checked the length).
    bytes[10..18].copy_from_slice(&version.to_be_bytes());
    Ok(bytes)
}

/// Expiry conditions of EXPIRE and friends (Redis 7): NX, XX, GT, LT.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ExpireFlags {
    /// Only when the key has no expiry.
    pub nx: bool,
    /// Only when the key has an expiry.
    pub xx: bool,
    /// Only when the new expiry is later than the current one (no expiry counts as infinite).
    pub gt: bool,
    /// Only when the new expiry is earlier than the current one (no expiry counts as infinite).
    pub lt: bool,
}

/// Sets a key's expiry to `when` (Unix ms, possibly in the past or negative) if the key exists
/// and the conditions hold. A time not after `now` deletes the key. Returns whether anything was
/// done (EXPIRE's 1/0).
pub fn expire(db: &Db<'_>, key: &[u8], when: i64, flags: ExpireFlags, now: u64) -> Result<bool> {
    let _guard = db.lock(key);
    let Some(raw) = db.meta_raw(key)? else {
        return Ok(false);
    };
    if raw.is_expired(now) {
        return Ok(false);
    }
    let current = match raw.expire_at() {
        0 => -1,
        at => i64::try_from(at).unwrap_or(i64::MAX),
    };
    if (flags.nx && current != -1)
        || (flags.xx && current == -1)
        || (flags.gt && (current == -1 || when <= current))
        || (flags.lt && current != -1 && when >= current)
    {
        return Ok(false);
    }
    let mut batch = db.batch();
    match u64::try_from(when) {
        Ok(at) if at > now => {
            let old = decode_header(raw.as_bytes())?;
            let mut new = raw;
            new.set_expire_at(at);
            batch.put_meta(db.phys, key, Some(&old), new.as_bytes());
        }
        _ => batch.delete_key(db.phys, key, &raw),
    }
    batch.commit()?;
    Ok(true)
}

/// The expiry state of a key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyTtl {
    /// The key does not exist.
    Missing,
    /// The key exists and does not expire.
    Persistent,
    /// The key expires at this Unix time in milliseconds.
    At(u64),
}

/// The expiry of a key (TTL, PTTL, EXPIRETIME, PEXPIRETIME).
pub fn ttl(db: &Db<'_>, key: &[u8]) -> Result<KeyTtl> {
    Ok(match db.meta(key)? {
        None => KeyTtl::Missing,
        Some(m) if m.expire_at() == 0 => KeyTtl::Persistent,
        Some(m) => KeyTtl::At(m.expire_at()),
    })
}

/// Removes a key's expiry (PERSIST); whether it had one.
pub fn persist(db: &Db<'_>, key: &[u8]) -> Result<bool> {
    let _guard = db.lock(key);
    let now = crate::util::time::now_ms();
    let Some(raw) = db.meta_raw(key)? else {
        return Ok(false);
    };
    if raw.is_expired(now) || raw.expire_at() == 0 {
        return Ok(false);
    }
    let old = decode_header(raw.as_bytes())?;
    let mut new = raw;
    new.set_expire_at(0);
    let mut batch = db.batch();
    batch.put_meta(db.phys, key, Some(&old), new.as_bytes());
    batch.commit()?;
    Ok(true)
}

/// RENAME (`nx` false) and RENAMENX (`nx` true): moves the value and its expiry from `src` to
/// `dst`, replacing `dst` unless `nx`. A missing `src` is [`TypeError::NoSuchKey`]. Returns
/// whether the value moved; renaming a key to itself moves nothing and reports `!nx`, as Redis.
pub fn rename(db: &Db<'_>, src: &[u8], dst: &[u8], nx: bool) -> Result<bool> {
    let _guard = db.lock_keys([src, dst]);
    let now = crate::util::time::now_ms();
    let Some(meta) = db.meta_raw(src)?.filter(|m| !m.is_expired(now)) else {
        return Err(TypeError::NoSuchKey);
    };
    if src == dst {
        return Ok(!nx);
    }
    let dst_raw = db.meta_raw(dst)?;
    if nx && dst_raw.as_ref().is_some_and(|m| !m.is_expired(now)) {
        return Ok(false);
    }
    let old = decode_header(meta.as_bytes())?;
    let mut batch = db.batch();
    let value = relocate(db, src, meta, db.phys, dst, &mut batch)?;
    batch.put_meta(db.phys, dst, dst_raw.as_ref(), &value);
    batch.delete_key(db.phys, src, &old);
    batch.commit()?;
    Ok(true)
}

/// MOVE: moves `key` with its expiry from `src` to another database `dst` unless it exists there.
/// Returns whether it moved. The caller rejects `src` and `dst` being the same database.
pub fn move_key(src: &Db<'_>, dst: &Db<'_>, key: &[u8]) -> Result<bool> {
    let _guard = src
        .store
        .locks()
        .lock_many([(src.phys, key), (dst.phys, key)]);
    let now = crate::util::time::now_ms();
    let Some(meta) = src.meta_raw(key)?.filter(|m| !m.is_expired(now)) else {
        return Ok(false);
    };
    let dst_raw = dst.meta_raw(key)?;
    if dst_raw.as_ref().is_some_and(|m| !m.is_expired(now)) {
        return Ok(false);
    }
    let old = decode_header(meta.as_bytes())?;
    let mut batch = src.batch();
    let value = relocate(src, key, meta, dst.phys, key, &mut batch)?;
    batch.put_meta(dst.phys, key, dst_raw.as_ref(), &value);
    batch.delete_key(src.phys, key, &old);
    batch.commit()?;
    Ok(true)
}

/// COPY: copies the value of `src_key` in `src` with its expiry to `dst_key` in `dst`, replacing
/// an existing destination only with `replace`. Returns whether it copied. The caller rejects
/// copying a key onto itself.
pub fn copy(
    src: &Db<'_>,
    dst: &Db<'_>,
    src_key: &[u8],
    dst_key: &[u8],
    replace: bool,
) -> Result<bool> {
    let _guard = src
        .store
        .locks()
        .lock_many([(src.phys, src_key), (dst.phys, dst_key)]);
    let now = crate::util::time::now_ms();
    let Some(meta) = src.meta_raw(src_key)?.filter(|m| !m.is_expired(now)) else {
        return Ok(false);
    };
    let dst_raw = dst.meta_raw(dst_key)?;
    if !replace && dst_raw.as_ref().is_some_and(|m| !m.is_expired(now)) {
        return Ok(false);
    }
    let mut batch = src.batch();
    let value = relocate(src, src_key, meta, dst.phys, dst_key, &mut batch)?;
    batch.put_meta(dst.phys, dst_key, dst_raw.as_ref(), &value);
    batch.commit()?;
    Ok(true)
}

/// The part of a glob pattern before its first wildcard (`*`, `?`, `[`), with `\x` escapes
/// resolved: every key the pattern matches starts with it, so a listing can seek there and stop
/// where the prefix ends.
pub fn literal_prefix(pattern: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut i = 0;
    while let Some(&c) = pattern.get(i) {
        match c {
            b'*' | b'?' | b'[' => break,
            // `\x` is a literal x; a lone trailing backslash is a literal backslash.
            b'\\' => match pattern.get(i + 1) {
                Some(&next) => {
                    out.push(next);
                    i += 2;
                }
                None => {
                    out.push(b'\\');
                    i += 1;
                }
            },
            _ => {
                out.push(c);
                i += 1;
            }
        }
    }
    out
}

/// KEYS: every live key matching the glob `pattern`, in byte order.
pub fn keys(db: &Db<'_>, pattern: &[u8]) -> Result<Vec<Bytes>> {
    let now = crate::util::time::now_ms();
    // Redis lists every key for exactly "*", even "" (which the matcher itself rejects).
    let all = pattern == b"*";
    let prefix = if all {
        Vec::new()
    } else {
        literal_prefix(pattern)
    };
    let mut out = Vec::new();
    db.for_each_key(&prefix, now, |key, _| {
        if all || glob_match(pattern, key, false) {
            out.push(Bytes::copy_from_slice(key));
        }
    })?;
    Ok(out)
}

/// RANDOMKEY: a random live key, or None when the database is empty.
pub fn random_key(db: &Db<'_>) -> Result<Option<Bytes>> {
    let now = crate::util::time::now_ms();
    Ok(db.random_key(now)?.map(Bytes::from))
}

/// SCAN's TYPE filter.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TypeFilter {
    Any,
    Only(ValueType),
    /// An unknown type name: Redis matches nothing, and still walks the cursor.
    Nothing,
}

/// The options of one SCAN call.
#[derive(Clone, Copy, Debug)]
pub struct ScanOptions<'p> {
    /// Keys examined (live or expired) in this call, at least 1.
    pub count: usize,
    /// The MATCH pattern.
    pub pattern: Option<&'p [u8]>,
    pub ty: TypeFilter,
}

/// SCAN: one bounded step from `cursor` (0 = the beginning). Returns the next cursor (0 when the
/// scan is complete) and the keys found.
///
/// A cursor stands for the last key examined in its database, kept in `cursors`. A cursor that is
/// unknown (evicted, already used, from another database or another server) restarts the scan
/// from the beginning: keys may come twice, but every key present for the whole scan still comes
/// at least once, which is all SCAN promises.
pub fn scan(
    db: &Db<'_>,
    cursors: &ScanCursors,
    cursor: u64,
    opts: ScanOptions<'_>,
) -> Result<(u64, Vec<Bytes>)> {
    let now = crate::util::time::now_ms();
    let after = match cursor {
        0 => None,
        c => cursors.take(c, db.phys),
    };
    // Exactly "*" matches every key, even "" (as in Redis, where it disables matching).
    let pattern = opts.pattern.filter(|p| *p != b"*");
    let prefix = pattern.map(literal_prefix).unwrap_or_default();
    let page = db.scan_keys(after.as_deref(), &prefix, opts.count, now)?;
    let keys = page
        .keys
        .into_iter()
        .filter(|k| match opts.ty {
            TypeFilter::Any => true,
            TypeFilter::Only(t) => k.ty == t,
            TypeFilter::Nothing => false,
        })
        .filter(|k| pattern.is_none_or(|p| glob_match(p, &k.key, false)))
        .map(|k| Bytes::from(k.key))
        .collect();
    let next = match page.resume_after {
        Some(last) => cursors.insert(db.phys, last),
        None => 0,
    };
    Ok((next, keys))
}

/// The encoding OBJECT ENCODING reports for a value, as Redis 7.0 would for the same value stored
/// with SET: a string that reads as a 64-bit integer (canonical spelling, at most 20 bytes) is
/// "int", one of at most 44 bytes "embstr", anything longer "raw". (Redis reports "raw" for short
/// strings built by APPEND or SETRANGE; Basalt does not record how a value was built.)
pub fn encoding(db: &Db<'_>, key: &[u8], meta: &Meta) -> Result<&'static str> {
    Ok(match meta.ty() {
        // A fragmented value is longer than any embstr or int.
        ValueType::String => meta.inline_value().map_or("raw", string_encoding),
        ValueType::Hash => super::hashes::encoding(db, key, meta)?,
        ValueType::List => super::lists::encoding(db, key, meta)?,
        ValueType::Set => super::sets::encoding(db, key, meta)?,
        ValueType::ZSet => super::zsets::encoding(db, key, meta)?,
        ValueType::Stream => "stream",
    })
}

/// Redis's string encodings: integers that fit a long, short strings, the rest.
fn string_encoding(v: &[u8]) -> &'static str {
    if v.len() <= 20 && crate::util::num::parse_i64(v).is_some() {
        "int"
    } else if v.len() <= 44 {
        "embstr"
    } else {
        "raw"
    }
}

/// The reference count OBJECT REFCOUNT reports: Redis shares the objects of the integers 0..9999
/// (reported as INT_MAX); every other value has one reference.
pub fn refcount(meta: &Meta) -> i64 {
    const SHARED_INTEGERS: i64 = 10_000;
    const OBJ_SHARED_REFCOUNT: i64 = i32::MAX as i64;
    match meta.ty() {
        ValueType::String => match meta.inline_value().and_then(crate::util::num::parse_i64) {
            Some(n) if (0..SHARED_INTEGERS).contains(&n) => OBJ_SHARED_REFCOUNT,
            _ => 1,
        },
        _ => 1,
    }
}

/// Most cursors kept; the oldest are forgotten first.
const MAX_CURSORS: usize = 16 * 1024;
/// Most bytes of keys the cursors may hold together (one larger key is still kept, alone).
const MAX_CURSOR_BYTES: usize = 64 << 20;

/// Server-side SCAN cursors: a cursor number stands for the last key examined, so a scan resumes
/// in key order. Redis clients expect decimal integer cursors; keys do not fit in one.
///
/// Bounded: at most [`MAX_CURSORS`] cursors holding [`MAX_CURSOR_BYTES`] of keys; the oldest are
/// evicted first. A cursor is consumed when used (the reply carries its successor), so the table
/// holds about one cursor per scan in progress. Cursor numbers are nonzero, below 2^63 (clients
/// that parse them as signed 64-bit integers work) and hard to guess: a counter from a random
/// start, passed through a bijective mixer.
pub struct ScanCursors {
    inner: Mutex<CursorTable>,
}

impl Default for ScanCursors {
    fn default() -> Self {
        Self::with_limits(MAX_CURSORS, MAX_CURSOR_BYTES)
    }
}

impl ScanCursors {
    fn with_limits(max_entries: usize, max_bytes: usize) -> Self {
        Self {
            inner: Mutex::new(CursorTable {
                by_id: HashMap::new(),
                by_age: BTreeMap::new(),
                bytes: 0,
                seq: 0,
                counter: rand::random(),
                max_entries: max_entries.max(1),
                max_bytes,
            }),
        }
    }

    /// Registers the position (physical database, last key examined) and returns its cursor.
    pub fn insert(&self, phys: u8, last: Vec<u8>) -> u64 {
        self.inner.lock().insert(phys, last)
    }

    /// Consumes a cursor: its position if it is known and belongs to physical database `phys`.
    pub fn take(&self, id: u64, phys: u8) -> Option<Vec<u8>> {
        let (p, key) = self.inner.lock().remove(id)?;
        (p == phys).then_some(key)
    }

    /// Number of cursors held.
    pub fn len(&self) -> usize {
        self.inner.lock().by_id.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

struct CursorEntry {
    phys: u8,
    last: Vec<u8>,
    seq: u64,
}

struct CursorTable {
    by_id: HashMap<u64, CursorEntry>,
    /// Insertion sequence -> cursor id, oldest first.
    by_age: BTreeMap<u64, u64>,
    /// Bytes of keys held.
    bytes: usize,
    seq: u64,
    counter: u64,
    max_entries: usize,
    max_bytes: usize,
}

/// SplitMix64's finalizer: a bijection on u64 that scatters consecutive counters.
fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

impl CursorTable {
    fn new_id(&mut self) -> u64 {
        loop {
            self.counter = self.counter.wrapping_add(1);
            let id = mix(self.counter) & (i64::MAX as u64);
            if id != 0 && !self.by_id.contains_key(&id) {
                return id;
            }
        }
    }

    fn insert(&mut self, phys: u8, last: Vec<u8>) -> u64 {
        let id = self.new_id();
        self.seq += 1;
        self.bytes += last.len();
        self.by_age.insert(self.seq, id);
        self.by_id.insert(
            id,
            CursorEntry {
                phys,
                last,
                seq: self.seq,
            },
        );
        while self.by_id.len() > 1
            && (self.by_id.len() > self.max_entries || self.bytes > self.max_bytes)
        {
            let Some((_, oldest)) = self.by_age.pop_first() else {
                break;
            };
            if let Some(e) = self.by_id.remove(&oldest) {
                self.bytes -= e.last.len();
            }
        }
        id
    }

    fn remove(&mut self, id: u64) -> Option<(u8, Vec<u8>)> {
        let e = self.by_id.remove(&id)?;
        self.by_age.remove(&e.seq);
        self.bytes -= e.last.len();
        Some((e.phys, e.last))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_once_and_check_the_database() {
        let c = ScanCursors::default();
        let a = c.insert(0, b"apple".to_vec());
        let b = c.insert(1, b"banana".to_vec());
        assert_ne!(a, b);
        assert!(a != 0 && b != 0 && a <= i64::MAX as u64 && b <= i64::MAX as u64);
        assert_eq!(c.take(a, 0), Some(b"apple".to_vec()));
        assert_eq!(c.take(a, 0), None, "a cursor is consumed");
        assert_eq!(c.take(b, 0), None, "wrong database");
        assert_eq!(c.take(b, 1), None, "consumed even on a mismatch");
        assert_eq!(c.take(0, 0), None);
        assert!(c.is_empty());
    }

    #[test]
    fn cursor_table_evicts_the_oldest() {
        let c = ScanCursors::with_limits(3, usize::MAX);
        let ids: Vec<u64> = (0..5u8).map(|i| c.insert(0, vec![i])).collect();
        assert_eq!(c.len(), 3);
        assert_eq!(c.take(ids[0], 0), None);
        assert_eq!(c.take(ids[1], 0), None);
        assert_eq!(c.take(ids[2], 0), Some(vec![2]));
        // Taking one frees a place: the next insert evicts nothing.
        let f = c.insert(0, vec![5]);
        assert_eq!(c.len(), 3);
        assert_eq!(c.take(ids[3], 0), Some(vec![3]));
        assert_eq!(c.take(ids[4], 0), Some(vec![4]));
        assert_eq!(c.take(f, 0), Some(vec![5]));
        assert!(c.is_empty());
    }

    #[test]
    fn cursor_table_bounds_bytes_but_keeps_the_newest() {
        let c = ScanCursors::with_limits(100, 10);
        let a = c.insert(0, vec![0; 4]);
        let b = c.insert(0, vec![1; 4]);
        let big = c.insert(0, vec![2; 50]);
        assert_eq!(c.len(), 1);
        assert_eq!(c.take(a, 0), None);
        assert_eq!(c.take(b, 0), None);
        assert_eq!(c.take(big, 0), Some(vec![2; 50]));
        let d = c.insert(0, vec![3; 6]);
        let e = c.insert(0, vec![4; 4]);
        assert_eq!(c.len(), 2);
        assert_eq!(c.take(d, 0), Some(vec![3; 6]));
        assert_eq!(c.take(e, 0), Some(vec![4; 4]));
    }

    #[test]
    fn cursor_ids_are_distinct() {
        let c = ScanCursors::with_limits(100_000, usize::MAX);
        let mut seen = std::collections::HashSet::new();
        for _ in 0..20_000 {
            assert!(seen.insert(c.insert(0, Vec::new())));
        }
    }

    #[test]
    fn literal_prefixes() {
        let cases: &[(&[u8], &[u8])] = &[
            (b"", b""),
            (b"*", b""),
            (b"user:*", b"user:"),
            (b"user:?x", b"user:"),
            (b"ab[cd]*", b"ab"),
            (b"exact", b"exact"),
            (b"a\\*b*", b"a*b"),
            (b"a\\", b"a\\"),
            (b"\\\\x", b"\\x"),
            (b"^a]b", b"^a]b"),
        ];
        for &(p, want) in cases {
            assert_eq!(literal_prefix(p), want, "{:?}", String::from_utf8_lossy(p));
        }
    }

    #[test]
    fn every_match_starts_with_the_literal_prefix() {
        // Exhaustive over short patterns and strings from a small alphabet with the specials.
        let alphabet = [b'a', b'b', b'*', b'?', b'\\', b'[', b']', b'^', b'-'];
        let strings_alpha = [b'a', b'b', b'*', b'\\', b'['];
        let mut patterns: Vec<Vec<u8>> = vec![Vec::new()];
        for _ in 0..4 {
            let longer: Vec<Vec<u8>> = patterns
                .iter()
                .filter(|p| p.len() == patterns.last().map_or(0, Vec::len))
                .flat_map(|p| {
                    alphabet.iter().map(move |&c| {
                        let mut q = p.clone();
                        q.push(c);
                        q
                    })
                })
                .collect();
            patterns.extend(longer);
        }
        let mut strings: Vec<Vec<u8>> = vec![Vec::new()];
        for len in 1..=3 {
            let mut next = Vec::new();
            for s in strings.iter().filter(|s| s.len() == len - 1) {
                for &c in &strings_alpha {
                    let mut t = s.clone();
                    t.push(c);
                    next.push(t);
                }
            }
            strings.extend(next);
        }
        for p in &patterns {
            let prefix = literal_prefix(p);
            for s in &strings {
                if glob_match(p, s, false) {
                    assert!(
                        s.starts_with(&prefix),
                        "pattern {:?} matches {:?} but prefix is {:?}",
                        String::from_utf8_lossy(p),
                        String::from_utf8_lossy(s),
                        String::from_utf8_lossy(&prefix)
                    );
                }
            }
        }
    }

    #[test]
    fn string_encodings_follow_redis() {
        let enc = string_encoding;
        assert_eq!(enc(b"12345"), "int");
        assert_eq!(enc(b"-9223372036854775808"), "int");
        assert_eq!(enc(b"12345678901234567890"), "embstr");
        assert_eq!(enc(b"+1"), "embstr");
        assert_eq!(enc(b"01"), "embstr");
        assert_eq!(enc(b""), "embstr");
        assert_eq!(enc(&[b'a'; 44]), "embstr");
        assert_eq!(enc(&[b'a'; 45]), "raw");
        let rc = |v: &[u8]| refcount(&Meta::decode(Meta::encode_string(v, 0)).unwrap());
        assert_eq!(rc(b"0"), i32::MAX as i64);
        assert_eq!(rc(b"9999"), i32::MAX as i64);
        assert_eq!(rc(b"10000"), 1);
        assert_eq!(rc(b"-1"), 1);
        assert_eq!(rc(b"x"), 1);
    }

    mod with_store {
        use super::super::*;
        use crate::storage::encoding::{data_prefix, CF_DATA, CF_ZSCORE};
        use crate::storage::Store;
        use std::sync::Arc;

        fn open(dir: &std::path::Path) -> Arc<Store> {
            let cfg = crate::config::Config {
                dir: dir.to_path_buf(),
                ..crate::config::Config::default()
            };
            Store::open(&cfg).expect("open store")
        }

        /// A hash `key` with fields f1, f2 (in `data` and `zscore`) at a fresh version.
        fn put_hash(db: &Db<'_>, key: &[u8], expire_at: u64) -> u64 {
            let v = db.store.next_version().unwrap();
            let mut b = db.batch();
            for f in [&b"f1"[..], b"f2"] {
                let mut k = data_prefix(db.phys, key, v);
                k.extend_from_slice(f);
                b.raw().put_cf(db.store.cf(CF_DATA), &k, b"val");
                b.raw().put_cf(db.store.cf(CF_ZSCORE), &k, b"");
            }
            let old = db.meta_raw(key).unwrap();
            let meta = Meta::encode_collection(ValueType::Hash, expire_at, v, 2);
            b.put_meta(db.phys, key, old.as_ref(), &meta);
            b.commit().unwrap();
            v
        }

        fn put_string(db: &Db<'_>, key: &[u8], value: &[u8]) {
            let old = db.meta_raw(key).unwrap();
            let mut b = db.batch();
            b.put_meta(db.phys, key, old.as_ref(), &Meta::encode_string(value, 0));
            b.commit().unwrap();
        }

        /// The fields stored for `key` at its current version, in both column families.
        fn fields(db: &Db<'_>, key: &[u8]) -> Vec<Vec<u8>> {
            let meta = db.meta(key).unwrap().unwrap();
            let prefix = data_prefix(db.phys, key, meta.version());
            let mut per_cf = Vec::new();
            for cf in [CF_DATA, CF_ZSCORE] {
                let mut it = db.store.rocks().raw_iterator_cf(db.store.cf(cf));
                it.seek(&prefix);
                let mut out = Vec::new();
                while let Some(k) = it.key() {
                    let Some(sub) = k.strip_prefix(&prefix[..]) else {
                        break;
                    };
                    out.push(sub.to_vec());
                    it.next();
                }
                per_cf.push(out);
            }
            assert_eq!(per_cf[0], per_cf[1]);
            per_cf.swap_remove(0)
        }

        #[test]
        fn collections_rename_move_and_copy_with_their_elements_and_ttl() {
            let dir = tempfile::tempdir().unwrap();
            let store = open(dir.path());
            let view = store.view();
            let db0 = view.db(0).unwrap();
            let db1 = view.db(1).unwrap();
            let at = crate::util::time::now_ms() + 100_000;
            let want = vec![b"f1".to_vec(), b"f2".to_vec()];

            let v = put_hash(&db0, b"h", at);
            put_string(&db0, b"dst", b"old");
            assert!(rename(&db0, b"h", b"dst", false).unwrap());
            assert!(db0.meta(b"h").unwrap().is_none());
            let m = db0.meta(b"dst").unwrap().unwrap();
            assert_eq!((m.ty(), m.count(), m.expire_at()), (ValueType::Hash, 2, at));
            assert!(m.version() > v);
            assert_eq!(fields(&db0, b"dst"), want);
            assert_eq!(db0.size(), 1);

            assert!(matches!(
                rename(&db0, b"h", b"x", false),
                Err(TypeError::NoSuchKey)
            ));
            assert!(rename(&db0, b"dst", b"dst", false).unwrap());
            assert!(!rename(&db0, b"dst", b"dst", true).unwrap());
            put_string(&db0, b"s", b"1");
            assert!(!rename(&db0, b"dst", b"s", true).unwrap());

            assert!(move_key(&db0, &db1, b"dst").unwrap());
            assert!(db0.meta(b"dst").unwrap().is_none());
            assert_eq!(db1.meta(b"dst").unwrap().unwrap().expire_at(), at);
            assert_eq!(fields(&db1, b"dst"), want);
            assert!(!move_key(&db0, &db1, b"dst").unwrap(), "source gone");
            put_string(&db0, b"dst", b"again");
            assert!(!move_key(&db0, &db1, b"dst").unwrap(), "target exists");
            assert_eq!((db0.size(), db1.size()), (2, 1));

            assert!(copy(&db1, &db0, b"dst", b"c", false).unwrap());
            assert_eq!(fields(&db0, b"c"), want);
            assert_eq!(fields(&db1, b"dst"), want);
            assert!(!copy(&db1, &db0, b"dst", b"c", false).unwrap());
            assert!(copy(&db1, &db0, b"dst", b"s", true).unwrap());
            assert_eq!(db0.meta(b"s").unwrap().unwrap().ty(), ValueType::Hash);
            assert_eq!(fields(&db0, b"s"), want);
            assert_eq!((db0.size(), db1.size()), (3, 1));
        }

        #[test]
        fn expiry_conditions_and_persist() {
            let dir = tempfile::tempdir().unwrap();
            let store = open(dir.path());
            let view = store.view();
            let db = view.db(0).unwrap();
            let now = crate::util::time::now_ms();
            let later = now as i64 + 100_000;
            let f = |nx, xx, gt, lt| ExpireFlags { nx, xx, gt, lt };
            assert!(!expire(&db, b"k", later, ExpireFlags::default(), now).unwrap());
            put_string(&db, b"k", b"v");
            assert!(!expire(&db, b"k", later, f(false, true, false, false), now).unwrap());
            assert!(!expire(&db, b"k", later, f(false, false, true, false), now).unwrap());
            assert!(expire(&db, b"k", later, f(false, false, false, true), now).unwrap());
            assert_eq!(ttl(&db, b"k").unwrap(), KeyTtl::At(later as u64));
            assert!(!expire(&db, b"k", later + 1, f(true, false, false, false), now).unwrap());
            assert!(!expire(&db, b"k", later, f(false, false, true, false), now).unwrap());
            assert!(expire(&db, b"k", later + 1, f(false, true, true, false), now).unwrap());
            assert!(!expire(&db, b"k", later + 1, f(false, false, false, true), now).unwrap());
            assert!(persist(&db, b"k").unwrap());
            assert!(!persist(&db, b"k").unwrap());
            assert_eq!(ttl(&db, b"k").unwrap(), KeyTtl::Persistent);
            // A time in the past (even negative) deletes.
            assert!(expire(&db, b"k", -5, ExpireFlags::default(), now).unwrap());
            assert_eq!(ttl(&db, b"k").unwrap(), KeyTtl::Missing);
            assert_eq!(db.size(), 0);
        }
    }
}
