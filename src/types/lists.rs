//! Lists as typed operations over the versioned sub-key layout.
//!
//! A list is collection metadata of type [`ValueType::List`] whose element count is the list's
//! length and whose type-specific bytes are `head` (u64, big-endian): the index of the first
//! element. Element `i` (0-based from the head) is the [`SubCf::Data`] sub-key `head + i` (u64,
//! big-endian), so the elements iterate in list order and the window `[head, head + len)` grows
//! at either end in O(1). A new list starts at [`INITIAL_HEAD`], mid-range. The window always
//! satisfies `head + len <= u64::MAX`; every sub-key outside it is deleted in the batch that
//! moves the window, so a walk of the window finds exactly the list's elements.
//!
//! Costs: pushes, pops, LINDEX and LSET are a constant number of point reads plus one batch;
//! LRANGE is one seek and a bounded walk; LINSERT and LREM rewrite only the shorter side of the
//! change; LTRIM deletes what it trims with a range deletion when that is more than a few keys.
//! Writes hold the key lock(s) across their reads and their one batch. Reads of elements hold
//! the key lock too: the metadata and the elements are separate reads, and a write committed
//! between them would move the window under the reader (a hash or set read has no such window,
//! a list read would return elements of no state the list ever had). LLEN reads only the
//! metadata and takes no lock. Semantics and error texts follow Redis 7.0's `t_list.c`.

use super::collection::{self, Target};
use super::TypeError;
use crate::storage::encoding::{read_u64, CF_DATA};
use crate::storage::subkeys::{sub_key, SubCf, SubIter};
use crate::storage::{Batch, Db, Meta, StoreError, ValueType};
use bytes::Bytes;

const T: ValueType = ValueType::List;

/// Where a new list's window starts: mid-range, so both ends can grow for 2^63 pushes.
pub const INITIAL_HEAD: u64 = 1 << 63;

/// Deleting more contiguous elements than this uses one range deletion instead of a point
/// deletion per element.
const RANGE_DELETE_MIN: u64 = 32;

/// Errors of the list operations beyond the common [`TypeError`]s.
#[derive(Debug, thiserror::Error)]
pub enum ListError {
    #[error(transparent)]
    Type(#[from] TypeError),
    /// LSET at an index outside the list.
    #[error("ERR index out of range")]
    IndexOutOfRange,
    /// The window reached an end of the u64 index space (after 2^63 net pushes to one side of
    /// one list: not reachable in practice, but refused rather than wrapped).
    #[error("ERR list index space exhausted")]
    Exhausted,
}

impl From<StoreError> for ListError {
    fn from(e: StoreError) -> Self {
        ListError::Type(TypeError::Storage(e))
    }
}

/// Result alias of the list operations.
pub type Result<T, E = ListError> = std::result::Result<T, E>;

/// An end of a list: `Left` is the head (LPUSH, LPOP), `Right` the tail (RPUSH, RPOP).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum End {
    Left,
    Right,
}

/// Which side of an insertion or removal point is rewritten.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Side {
    /// The elements before the point move (the head index changes).
    Head,
    /// The elements after the point move (the head index stays).
    Tail,
}

fn corrupt(what: &'static str) -> ListError {
    ListError::Type(TypeError::Storage(StoreError::Corrupt(what)))
}

/// The head index stored in a list's metadata, checked to leave room for the whole window.
fn head_of(meta: &Meta) -> Result<u64> {
    let head = match meta.extra().get(..8) {
        Some(b) => read_u64(b),
        None => return Err(corrupt("list metadata without a head index")),
    };
    match head.checked_add(meta.count()) {
        Some(_) => Ok(head),
        None => Err(corrupt("list window beyond the index space")),
    }
}

/// The live metadata of a list key (None when missing), WRONGTYPE otherwise.
fn read(db: &Db<'_>, key: &[u8]) -> Result<Option<Meta>> {
    Ok(collection::read(db, key, T)?)
}

/// The encoding OBJECT ENCODING reports for a list: Redis 7.0 (the version Basalt follows, and
/// the installed reference 7.0.15) keeps every list as a quicklist, even a one-element list;
/// the listpack encoding for small lists only arrived in Redis 7.2.
pub fn encoding(_db: &Db<'_>, _key: &[u8], _meta: &Meta) -> super::Result<&'static str> {
    Ok("quicklist")
}

// ---------------------------------------------------------------------------------------------
// Index arithmetic (Redis's, on signed longs; computed in i128 so nothing overflows)
// ---------------------------------------------------------------------------------------------

/// LINDEX / LSET: a possibly negative index resolved against the length; None when outside.
fn resolve_index(index: i64, len: u64) -> Option<u64> {
    let (i, n) = (i128::from(index), i128::from(len));
    let i = if i < 0 { n + i } else { i };
    (0..n).contains(&i).then_some(i as u64)
}

/// LRANGE / LTRIM: the inclusive range `[start, stop]` that Redis selects for possibly negative
/// bounds, clamped to the list; None when it is empty.
fn resolve_range(start: i64, stop: i64, len: u64) -> Option<(u64, u64)> {
    let n = i128::from(len);
    let mut s = i128::from(start);
    let mut e = i128::from(stop);
    if s < 0 {
        s += n;
    }
    if e < 0 {
        e += n;
    }
    if s < 0 {
        s = 0;
    }
    if s > e || s >= n {
        return None;
    }
    if e >= n {
        e = n - 1;
    }
    Some((s as u64, e as u64))
}

/// LTRIM: how many elements go from the head and from the tail to keep `[start, stop]`.
fn trim_amounts(start: i64, stop: i64, len: u64) -> (u64, u64) {
    match resolve_range(start, stop, len) {
        Some((s, e)) => (s, len - 1 - e),
        None => (len, 0),
    }
}

/// LINSERT: which side to shift to open position `at` (0..=len) for a new element: the one with
/// fewer elements (the head side on a tie: it needs no check against the top of the space).
fn insert_side(at: u64, len: u64) -> Side {
    if at <= len - at {
        Side::Head
    } else {
        Side::Tail
    }
}

/// LREM: which side to shift to close the gaps at `hits` (ascending positions, non-empty) in a
/// list of `len`: the side whose surviving elements that must move are fewer. Moving the head
/// side shifts the survivors before the last hit toward the tail; moving the tail side shifts
/// the survivors after the first hit toward the head.
fn removal_side(hits: &[u64], len: u64) -> Side {
    let (Some(&first), Some(&last)) = (hits.first(), hits.last()) else {
        return Side::Tail;
    };
    let others = hits.len() as u64 - 1;
    let head_moves = last - others;
    let tail_moves = (len - 1 - first) - others;
    if head_moves <= tail_moves {
        Side::Head
    } else {
        Side::Tail
    }
}

// ---------------------------------------------------------------------------------------------
// Walking a list
// ---------------------------------------------------------------------------------------------

/// A walk over a list version's window from one position toward the tail or the head, yielding
/// (position from the head, element). Checks that the stored indexes are contiguous.
struct Walk<'a> {
    it: SubIter<'a>,
    head: u64,
    /// The position the next element must have.
    next: u64,
    /// Elements left in the window in the walk's direction.
    left: u64,
    reverse: bool,
}

impl<'a> Walk<'a> {
    /// Starts at position `from` (< `len`) of the window `[head, head + len)`.
    fn new(
        db: &Db<'a>,
        key: &[u8],
        version: u64,
        head: u64,
        len: u64,
        from: u64,
        reverse: bool,
    ) -> Walk<'a> {
        let start = (head + from).to_be_bytes();
        let it = db.iter_subs(SubCf::Data, key, version, Some(&start), reverse);
        let left = if from >= len {
            0
        } else if reverse {
            from + 1
        } else {
            len - from
        };
        Walk {
            it,
            head,
            next: from,
            left,
            reverse,
        }
    }

    /// The next (position, element), or None past the end of the window.
    fn next(&mut self) -> Result<Option<(u64, &[u8])>> {
        if self.left == 0 {
            return Ok(None);
        }
        let Some((sub, value)) = self.it.next()? else {
            return Err(corrupt("list element missing"));
        };
        if sub.len() != 8 || read_u64(sub) != self.head + self.next {
            return Err(corrupt("list indexes not contiguous"));
        }
        let pos = self.next;
        self.left -= 1;
        if self.reverse {
            self.next = self.next.wrapping_sub(1);
        } else {
            self.next += 1;
        }
        Ok(Some((pos, value)))
    }
}

// ---------------------------------------------------------------------------------------------
// A list being written
// ---------------------------------------------------------------------------------------------

/// A list loaded for a write under its key lock: the target and its window. The changes go
/// into a batch; [`Writer::finish`] stores the new metadata (deleting the key at length 0).
struct Writer<'k> {
    key: &'k [u8],
    target: Target,
    head: u64,
    len: u64,
}

impl<'k> Writer<'k> {
    /// Reads `key` for a write (WRONGTYPE if it holds another type). Call with the lock held.
    fn load(db: &Db<'_>, key: &'k [u8]) -> Result<Writer<'k>> {
        let target = Target::load(db, key, T)?;
        let head = match target.meta() {
            Some(m) => head_of(m)?,
            None => INITIAL_HEAD,
        };
        let len = target.count();
        Ok(Writer {
            key,
            target,
            head,
            len,
        })
    }

    fn exists(&self) -> bool {
        self.target.exists()
    }

    /// The version of an existing list (callers check [`Writer::exists`] first).
    fn version(&self) -> Result<u64> {
        self.target
            .version()
            .ok_or_else(|| corrupt("list without a version"))
    }

    /// The stored index of position `pos`.
    fn at(&self, pos: u64) -> [u8; 8] {
        (self.head + pos).to_be_bytes()
    }

    fn walk<'a>(&self, db: &Db<'a>, from: u64, reverse: bool) -> Result<Walk<'a>> {
        Ok(Walk::new(
            db,
            self.key,
            self.version()?,
            self.head,
            self.len,
            from,
            reverse,
        ))
    }

    fn put(&self, batch: &mut Batch<'_>, db: &Db<'_>, version: u64, index: u64, value: &[u8]) {
        batch.put_sub(
            SubCf::Data,
            db.phys,
            self.key,
            version,
            &index.to_be_bytes(),
            value,
        );
    }

    /// Deletes the elements at stored indexes `[from, to)`: point deletions for a few, one range
    /// deletion for more.
    fn delete_indexes(&self, batch: &mut Batch<'_>, db: &Db<'_>, version: u64, from: u64, to: u64) {
        if to <= from {
            return;
        }
        if to - from <= RANGE_DELETE_MIN {
            for i in from..to {
                batch.delete_sub(SubCf::Data, db.phys, self.key, version, &i.to_be_bytes());
            }
        } else {
            let lo = sub_key(db.phys, self.key, version, &from.to_be_bytes());
            let hi = sub_key(db.phys, self.key, version, &to.to_be_bytes());
            batch.raw().delete_range_cf(db.store.cf(CF_DATA), lo, hi);
        }
    }

    /// Pushes `elems` one by one at `end` (LPUSH a b c leaves c first).
    fn push(
        &mut self,
        batch: &mut Batch<'_>,
        db: &Db<'_>,
        end: End,
        elems: &[&[u8]],
    ) -> Result<()> {
        let n = elems.len() as u64;
        let version = self.target.version_or_new(db)?;
        match end {
            End::Left => {
                let new_head = self.head.checked_sub(n).ok_or(ListError::Exhausted)?;
                for (j, e) in elems.iter().enumerate() {
                    self.put(batch, db, version, self.head - 1 - j as u64, e);
                }
                self.head = new_head;
            }
            End::Right => {
                let tail = self.head + self.len;
                tail.checked_add(n).ok_or(ListError::Exhausted)?;
                for (j, e) in elems.iter().enumerate() {
                    self.put(batch, db, version, tail + j as u64, e);
                }
            }
        }
        self.len += n;
        Ok(())
    }

    /// Removes up to `n` elements from `end` and returns them in the order they were taken.
    fn take(&mut self, batch: &mut Batch<'_>, db: &Db<'_>, end: End, n: u64) -> Result<Vec<Bytes>> {
        let n = n.min(self.len);
        if n == 0 {
            return Ok(Vec::new());
        }
        let version = self.version()?;
        let first = match end {
            End::Left => 0,
            End::Right => self.len - 1,
        };
        let mut out = Vec::with_capacity(usize::try_from(n).unwrap_or(usize::MAX).min(1 << 16));
        if n == 1 {
            let v = db
                .get_sub(SubCf::Data, self.key, version, &self.at(first))?
                .ok_or_else(|| corrupt("list element missing"))?;
            out.push(Bytes::from(v));
        } else {
            let mut walk = self.walk(db, first, end == End::Right)?;
            while (out.len() as u64) < n {
                let Some((_, v)) = walk.next()? else {
                    return Err(corrupt("list shorter than its length"));
                };
                out.push(Bytes::copy_from_slice(v));
            }
        }
        match end {
            End::Left => {
                self.delete_indexes(batch, db, version, self.head, self.head + n);
                self.head += n;
            }
            End::Right => {
                let tail = self.head + self.len;
                self.delete_indexes(batch, db, version, tail - n, tail);
            }
        }
        self.len -= n;
        Ok(out)
    }

    /// Stores the metadata with the new window (deleting the key when it is empty).
    fn finish(&self, batch: &mut Batch<'_>, db: &Db<'_>) {
        self.target
            .store(batch, db, self.key, self.len, &self.head.to_be_bytes());
    }
}

// ---------------------------------------------------------------------------------------------
// Operations
// ---------------------------------------------------------------------------------------------

/// LPUSH / RPUSH (`only_existing` false) and LPUSHX / RPUSHX (true): pushes `elems` one after
/// the other at `end` and returns the new length (0 when `only_existing` and the key is
/// missing).
pub fn push(
    db: &Db<'_>,
    key: &[u8],
    end: End,
    elems: &[&[u8]],
    only_existing: bool,
) -> Result<u64> {
    let _guard = db.lock(key);
    let mut w = Writer::load(db, key)?;
    if (only_existing && !w.exists()) || elems.is_empty() {
        return Ok(w.len);
    }
    let mut batch = db.batch();
    w.push(&mut batch, db, end, elems)?;
    w.finish(&mut batch, db);
    batch.commit()?;
    Ok(w.len)
}

/// LPOP / RPOP (and the popping half of the blocking pops): removes up to `count` elements from
/// `end` and returns them in pop order. None when the key is missing (nothing available);
/// `Some(vec![])` for a count of 0 on an existing list. The key goes with its last element.
/// Locks the key and commits its own batch.
pub fn pop(db: &Db<'_>, key: &[u8], end: End, count: u64) -> Result<Option<Vec<Bytes>>> {
    let _guard = db.lock(key);
    pop_locked(db, key, end, count)
}

fn pop_locked(db: &Db<'_>, key: &[u8], end: End, count: u64) -> Result<Option<Vec<Bytes>>> {
    let mut w = Writer::load(db, key)?;
    if !w.exists() {
        return Ok(None);
    }
    let mut batch = db.batch();
    let out = w.take(&mut batch, db, end, count)?;
    if !out.is_empty() {
        w.finish(&mut batch, db);
        batch.commit()?;
    }
    Ok(Some(out))
}

/// LMPOP (and BLMPOP once woken): pops up to `count` elements from `end` of the first of `keys`
/// that holds a list. Keys are examined in order as Redis does: a missing key is skipped, a key
/// of another type is WRONGTYPE (even if a later key holds a list). None when no key holds a
/// list; otherwise the index in `keys` of the list popped from and its elements. Locks all the
/// keys and commits its own batch.
pub fn first_nonempty_pop(
    db: &Db<'_>,
    keys: &[&[u8]],
    end: End,
    count: u64,
) -> Result<Option<(usize, Vec<Bytes>)>> {
    let _guard = db.lock_keys(keys.iter().copied());
    for (i, key) in keys.iter().enumerate() {
        if let Some(out) = pop_locked(db, key, end, count)? {
            return Ok(Some((i, out)));
        }
    }
    Ok(None)
}

/// LMOVE / RPOPLPUSH (and BLMOVE / BRPOPLPUSH once woken): moves one element from `from` of
/// `src` to `to` of `dst` and returns it. None when `src` is missing (nothing available; `dst`
/// is not examined then, as in Redis). WRONGTYPE if `src`, then `dst`, holds another type.
/// `src == dst` rotates the list. Locks both keys and commits one batch.
pub fn lmove(db: &Db<'_>, src: &[u8], dst: &[u8], from: End, to: End) -> Result<Option<Bytes>> {
    let _guard = db.lock_keys([src, dst]);
    let mut s = Writer::load(db, src)?;
    if !s.exists() {
        return Ok(None);
    }
    let mut batch = db.batch();
    if src == dst {
        let taken = s.take(&mut batch, db, from, 1)?;
        let Some(value) = taken.into_iter().next() else {
            return Ok(None);
        };
        s.push(&mut batch, db, to, &[&value])?;
        s.finish(&mut batch, db);
        batch.commit()?;
        return Ok(Some(value));
    }
    let mut d = Writer::load(db, dst)?;
    let taken = s.take(&mut batch, db, from, 1)?;
    let Some(value) = taken.into_iter().next() else {
        return Ok(None);
    };
    d.push(&mut batch, db, to, &[&value])?;
    s.finish(&mut batch, db);
    d.finish(&mut batch, db);
    batch.commit()?;
    Ok(Some(value))
}

/// LLEN: the length (0 when missing).
pub fn len(db: &Db<'_>, key: &[u8]) -> Result<u64> {
    Ok(read(db, key)?.map_or(0, |m| m.count()))
}

/// LINDEX: the element at `index` (negative: from the tail); None when missing or outside.
pub fn index(db: &Db<'_>, key: &[u8], index: i64) -> Result<Option<Bytes>> {
    let _guard = db.lock(key);
    let Some(meta) = read(db, key)? else {
        return Ok(None);
    };
    let Some(pos) = resolve_index(index, meta.count()) else {
        return Ok(None);
    };
    let head = head_of(&meta)?;
    let sub = (head + pos).to_be_bytes();
    Ok(db
        .get_sub(SubCf::Data, key, meta.version(), &sub)?
        .map(Bytes::from))
}

/// LSET: replaces the element at `index`. `ERR no such key` when missing, `ERR index out of
/// range` outside the list.
pub fn set(db: &Db<'_>, key: &[u8], index: i64, value: &[u8]) -> Result<()> {
    let _guard = db.lock(key);
    let w = Writer::load(db, key)?;
    if !w.exists() {
        return Err(TypeError::NoSuchKey.into());
    }
    let pos = resolve_index(index, w.len).ok_or(ListError::IndexOutOfRange)?;
    let mut batch = db.batch();
    w.put(&mut batch, db, w.version()?, w.head + pos, value);
    batch.commit()?;
    Ok(())
}

/// LRANGE: the elements from `start` to `stop` inclusive (negative: from the tail), clamped to
/// the list. One seek and a walk of just the range.
pub fn range(db: &Db<'_>, key: &[u8], start: i64, stop: i64) -> Result<Vec<Bytes>> {
    let _guard = db.lock(key);
    let Some(meta) = read(db, key)? else {
        return Ok(Vec::new());
    };
    let len = meta.count();
    let Some((s, e)) = resolve_range(start, stop, len) else {
        return Ok(Vec::new());
    };
    let n = e - s + 1;
    let mut out = Vec::with_capacity(usize::try_from(n).unwrap_or(usize::MAX).min(1 << 16));
    let mut walk = Walk::new(db, key, meta.version(), head_of(&meta)?, len, s, false);
    while (out.len() as u64) < n {
        let Some((_, v)) = walk.next()? else {
            break;
        };
        out.push(Bytes::copy_from_slice(v));
    }
    Ok(out)
}

/// LTRIM: keeps the elements from `start` to `stop` inclusive; the key goes when none is left.
/// The trimmed ends are deleted as index ranges, so trimming a huge list costs O(1) writes.
pub fn trim(db: &Db<'_>, key: &[u8], start: i64, stop: i64) -> Result<()> {
    let _guard = db.lock(key);
    let mut w = Writer::load(db, key)?;
    if !w.exists() {
        return Ok(());
    }
    let (ltrim, rtrim) = trim_amounts(start, stop, w.len);
    if ltrim == 0 && rtrim == 0 {
        return Ok(());
    }
    let mut batch = db.batch();
    if ltrim + rtrim >= w.len {
        // Nothing is left: the key goes, and its elements with its version.
        w.len = 0;
    } else {
        let version = w.version()?;
        let tail = w.head + w.len;
        w.delete_indexes(&mut batch, db, version, w.head, w.head + ltrim);
        w.delete_indexes(&mut batch, db, version, tail - rtrim, tail);
        w.head += ltrim;
        w.len -= ltrim + rtrim;
    }
    w.finish(&mut batch, db);
    batch.commit()?;
    Ok(())
}

/// LINSERT: inserts `elem` before (or after) the first element equal to `pivot`, shifting the
/// shorter side by one. Returns the new length, -1 when the pivot is absent, 0 when the key is
/// missing.
pub fn insert(db: &Db<'_>, key: &[u8], before: bool, pivot: &[u8], elem: &[u8]) -> Result<i64> {
    let _guard = db.lock(key);
    let mut w = Writer::load(db, key)?;
    if !w.exists() {
        return Ok(0);
    }
    let mut found = None;
    let mut walk = w.walk(db, 0, false)?;
    while let Some((pos, v)) = walk.next()? {
        if v == pivot {
            found = Some(pos);
            break;
        }
    }
    drop(walk);
    let Some(p) = found else {
        return Ok(-1);
    };
    let at = if before { p } else { p + 1 };
    let mut batch = db.batch();
    insert_at(&mut w, &mut batch, db, at, elem)?;
    w.finish(&mut batch, db);
    batch.commit()?;
    Ok(i64::try_from(w.len).unwrap_or(i64::MAX))
}

/// Opens position `at` (0..=len) by shifting the shorter side by one and writes `elem` there.
fn insert_at(
    w: &mut Writer<'_>,
    batch: &mut Batch<'_>,
    db: &Db<'_>,
    at: u64,
    elem: &[u8],
) -> Result<()> {
    let version = w.version()?;
    match insert_side(at, w.len) {
        Side::Head => {
            let new_head = w.head.checked_sub(1).ok_or(ListError::Exhausted)?;
            if at > 0 {
                let mut walk = w.walk(db, 0, false)?;
                while let Some((pos, v)) = walk.next()? {
                    if pos >= at {
                        break;
                    }
                    w.put(batch, db, version, new_head + pos, v);
                }
            }
            w.head = new_head;
        }
        Side::Tail => {
            (w.head + w.len)
                .checked_add(1)
                .ok_or(ListError::Exhausted)?;
            let mut walk = w.walk(db, w.len - 1, true)?;
            while let Some((pos, v)) = walk.next()? {
                if pos < at {
                    break;
                }
                w.put(batch, db, version, w.head + pos + 1, v);
            }
        }
    }
    w.put(batch, db, version, w.head + at, elem);
    w.len += 1;
    Ok(())
}

/// LREM: removes elements equal to `elem`: the first `count` from the head for a positive
/// count, the last `-count` from the tail for a negative one, all for 0. Returns how many went;
/// the key goes with its last element. The gaps are closed by shifting the shorter side.
pub fn remove(db: &Db<'_>, key: &[u8], count: i64, elem: &[u8]) -> Result<u64> {
    let _guard = db.lock(key);
    let mut w = Writer::load(db, key)?;
    if !w.exists() || w.len == 0 {
        return Ok(0);
    }
    let from_tail = count < 0;
    let limit = count.unsigned_abs();
    let mut hits = Vec::new();
    let mut walk = w.walk(db, if from_tail { w.len - 1 } else { 0 }, from_tail)?;
    while let Some((pos, v)) = walk.next()? {
        if v == elem {
            hits.push(pos);
            if hits.len() as u64 == limit {
                break;
            }
        }
    }
    drop(walk);
    if hits.is_empty() {
        return Ok(0);
    }
    if from_tail {
        hits.reverse();
    }
    let removed = hits.len() as u64;
    let mut batch = db.batch();
    if removed == w.len {
        w.len = 0;
    } else {
        remove_at(&mut w, &mut batch, db, &hits)?;
    }
    w.finish(&mut batch, db);
    batch.commit()?;
    Ok(removed)
}

/// Removes the elements at `hits` (ascending, non-empty, fewer than the length) by shifting the
/// survivors of the cheaper side over the gaps, then deleting the vacated end.
fn remove_at(w: &mut Writer<'_>, batch: &mut Batch<'_>, db: &Db<'_>, hits: &[u64]) -> Result<()> {
    let version = w.version()?;
    let k = hits.len() as u64;
    let (Some(&first), Some(&last)) = (hits.first(), hits.last()) else {
        return Ok(());
    };
    match removal_side(hits, w.len) {
        Side::Head => {
            // Survivors before the last hit move toward the tail by the number of hits after
            // them; the first k slots are vacated.
            w.delete_indexes(batch, db, version, w.head, w.head + k);
            if last > 0 {
                let mut next_hit = hits.len() - 1; // hits[next_hit] is the nearest hit >= pos
                let mut walk = w.walk(db, last - 1, true)?;
                while let Some((pos, v)) = walk.next()? {
                    while next_hit > 0 && hits[next_hit - 1] >= pos {
                        next_hit -= 1;
                    }
                    if hits[next_hit] == pos {
                        continue;
                    }
                    let after = (hits.len() - next_hit) as u64;
                    w.put(batch, db, version, w.head + pos + after, v);
                }
            }
            w.head += k;
        }
        Side::Tail => {
            // Survivors after the first hit move toward the head by the number of hits before
            // them; the last k slots are vacated.
            let tail = w.head + w.len;
            w.delete_indexes(batch, db, version, tail - k, tail);
            let mut before = 1usize; // hits[..before] are the hits <= pos
            let mut walk = w.walk(db, first + 1, false)?;
            while let Some((pos, v)) = walk.next()? {
                if before < hits.len() && hits[before] == pos {
                    before += 1;
                    continue;
                }
                w.put(batch, db, version, w.head + pos - before as u64, v);
            }
        }
    }
    w.len -= k;
    Ok(())
}

/// LPOS: positions (from the head) of elements equal to `elem`, Redis 7.0's way. `rank` (not
/// 0) skips the first `rank - 1` matches, or walks from the tail when negative; `count` is the
/// COUNT option (None: not given, at most one match; 0: every match); `maxlen` bounds the
/// elements compared (0: no bound). None when the key is missing.
///
/// Redis negates a negative rank in a C long, so `i64::MIN` stays negative: the walk goes from
/// the tail, no match is skipped, and with COUNT the count never ends it (every match is
/// returned). Redis 7.0.15 answers so; 7.2 rejects that rank instead.
pub fn positions(
    db: &Db<'_>,
    key: &[u8],
    elem: &[u8],
    rank: i64,
    count: Option<u64>,
    maxlen: u64,
) -> Result<Option<Vec<u64>>> {
    let _guard = db.lock(key);
    let Some(meta) = read(db, key)? else {
        return Ok(None);
    };
    let len = meta.count();
    let from_tail = rank < 0;
    let (skip, limit) = if rank == i64::MIN {
        (0, if count.is_some() { 0 } else { 1 })
    } else {
        (rank.unsigned_abs().saturating_sub(1), count.unwrap_or(1))
    };
    let mut out = Vec::new();
    if len == 0 {
        return Ok(Some(out));
    }
    let from = if from_tail { len - 1 } else { 0 };
    let mut walk = Walk::new(
        db,
        key,
        meta.version(),
        head_of(&meta)?,
        len,
        from,
        from_tail,
    );
    let mut examined = 0u64;
    let mut matches = 0u64;
    while maxlen == 0 || examined < maxlen {
        let Some((pos, v)) = walk.next()? else {
            break;
        };
        examined += 1;
        if v != elem {
            continue;
        }
        matches += 1;
        if matches > skip {
            out.push(pos);
            if limit != 0 && out.len() as u64 >= limit {
                break;
            }
        }
    }
    Ok(Some(out))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;
    use crate::storage::Store;
    use std::sync::Arc;

    #[test]
    fn index_arithmetic_follows_redis() {
        assert_eq!(resolve_index(0, 3), Some(0));
        assert_eq!(resolve_index(-1, 3), Some(2));
        assert_eq!(resolve_index(-3, 3), Some(0));
        assert_eq!(resolve_index(-4, 3), None);
        assert_eq!(resolve_index(3, 3), None);
        assert_eq!(resolve_index(i64::MIN, 3), None);
        assert_eq!(resolve_index(i64::MAX, 3), None);
        assert_eq!(resolve_index(0, 0), None);

        assert_eq!(resolve_range(0, -1, 5), Some((0, 4)));
        assert_eq!(resolve_range(-100, 100, 5), Some((0, 4)));
        assert_eq!(resolve_range(i64::MIN, i64::MAX, 5), Some((0, 4)));
        assert_eq!(resolve_range(2, i64::MIN, 5), None);
        assert_eq!(resolve_range(3, 2, 5), None);
        assert_eq!(resolve_range(5, 10, 5), None);
        assert_eq!(resolve_range(-2, -1, 5), Some((3, 4)));
        assert_eq!(resolve_range(0, 0, 0), None);

        assert_eq!(trim_amounts(0, -1, 5), (0, 0));
        assert_eq!(trim_amounts(1, -2, 5), (1, 1));
        assert_eq!(trim_amounts(3, 1, 5), (5, 0));
        assert_eq!(trim_amounts(0, 0, 5), (0, 4));
        assert_eq!(trim_amounts(-1, 100, 5), (4, 0));

        assert_eq!(insert_side(0, 10), Side::Head);
        assert_eq!(insert_side(5, 10), Side::Head);
        assert_eq!(insert_side(6, 10), Side::Tail);
        assert_eq!(insert_side(10, 10), Side::Tail);
        assert_eq!(insert_side(0, 0), Side::Head);

        assert_eq!(removal_side(&[0], 10), Side::Head);
        assert_eq!(removal_side(&[9], 10), Side::Tail);
        assert_eq!(removal_side(&[2, 3], 10), Side::Head);
        assert_eq!(removal_side(&[6, 7], 10), Side::Tail);
        // Hits spread over both halves: 7 survivors before the last hit, 7 after the first.
        assert_eq!(removal_side(&[1, 8], 10), Side::Head);
        // 7 survivors before position 9, 6 after position 1.
        assert_eq!(removal_side(&[1, 5, 9], 10), Side::Tail);
    }

    fn open(dir: &std::path::Path) -> Arc<Store> {
        let cfg = Config {
            dir: dir.to_path_buf(),
            ..Config::default()
        };
        Store::open(&cfg).expect("open store")
    }

    fn b(s: &str) -> Vec<u8> {
        s.as_bytes().to_vec()
    }

    fn all(db: &Db<'_>, key: &[u8]) -> Vec<String> {
        range(db, key, 0, -1)
            .unwrap()
            .iter()
            .map(|v| String::from_utf8_lossy(v).into_owned())
            .collect()
    }

    fn head(db: &Db<'_>, key: &[u8]) -> u64 {
        head_of(&db.meta(key).unwrap().unwrap()).unwrap()
    }

    /// Every data sub-key of the list's version, as stored indexes: exactly the window.
    fn stored(db: &Db<'_>, key: &[u8]) -> Vec<u64> {
        let meta = db.meta(key).unwrap().unwrap();
        let mut it = db.iter_subs(SubCf::Data, key, meta.version(), None, false);
        let mut out = Vec::new();
        while let Some((k, _)) = it.next().unwrap() {
            out.push(read_u64(k));
        }
        out
    }

    fn fill(db: &Db<'_>, key: &[u8], n: usize) {
        let items: Vec<Vec<u8>> = (0..n).map(|i| b(&i.to_string())).collect();
        let refs: Vec<&[u8]> = items.iter().map(Vec::as_slice).collect();
        push(db, key, End::Right, &refs, false).unwrap();
    }

    fn numbers(range: impl Iterator<Item = usize>) -> Vec<String> {
        range.map(|i| i.to_string()).collect()
    }

    #[test]
    fn pushes_grow_both_ends_of_the_window() {
        let dir = tempfile::tempdir().unwrap();
        let store = open(dir.path());
        let view = store.view();
        let db = view.db(0).unwrap();
        assert_eq!(push(&db, b"l", End::Left, &[b"a", b"b"], true).unwrap(), 0);
        assert!(db.meta(b"l").unwrap().is_none());
        assert_eq!(push(&db, b"l", End::Left, &[b"b", b"a"], false).unwrap(), 2);
        assert_eq!(push(&db, b"l", End::Right, &[b"c", b"d"], true).unwrap(), 4);
        assert_eq!(all(&db, b"l"), ["a", "b", "c", "d"]);
        assert_eq!(head(&db, b"l"), INITIAL_HEAD - 2);
        let h = INITIAL_HEAD;
        assert_eq!(stored(&db, b"l"), [h - 2, h - 1, h, h + 1]);
        assert_eq!(
            pop(&db, b"l", End::Right, 3).unwrap().unwrap(),
            [&b"d"[..], b"c", b"b"]
        );
        assert_eq!(stored(&db, b"l"), [h - 2]);
        assert_eq!(pop(&db, b"l", End::Left, 0).unwrap().unwrap().len(), 0);
        assert_eq!(
            pop(&db, b"l", End::Left, u64::MAX).unwrap().unwrap(),
            [&b"a"[..]]
        );
        assert!(db.meta(b"l").unwrap().is_none());
        assert_eq!(pop(&db, b"l", End::Left, 1).unwrap(), None);
        // A list created again starts mid-range under a new version.
        push(&db, b"l", End::Right, &[b"x"], false).unwrap();
        assert_eq!(head(&db, b"l"), INITIAL_HEAD);
        assert_eq!(stored(&db, b"l"), [INITIAL_HEAD]);
    }

    #[test]
    fn insert_shifts_the_shorter_side() {
        let dir = tempfile::tempdir().unwrap();
        let store = open(dir.path());
        let view = store.view();
        let db = view.db(0).unwrap();
        fill(&db, b"l", 10);
        let h = INITIAL_HEAD;
        // Position 2 of 10: the two elements before it move; the head index drops by one.
        assert_eq!(insert(&db, b"l", true, b"2", b"x").unwrap(), 11);
        assert_eq!(head(&db, b"l"), h - 1);
        let mut expect = numbers(0..10);
        expect.insert(2, "x".into());
        assert_eq!(all(&db, b"l"), expect);
        // After element 7 (position 9 of 11): the tail side moves; the head stays.
        assert_eq!(insert(&db, b"l", false, b"8", b"y").unwrap(), 12);
        assert_eq!(head(&db, b"l"), h - 1);
        expect.insert(10, "y".into());
        assert_eq!(all(&db, b"l"), expect);
        // Before the first and after the last element: plain pushes on either side.
        assert_eq!(insert(&db, b"l", true, b"0", b"first").unwrap(), 13);
        assert_eq!(head(&db, b"l"), h - 2);
        assert_eq!(insert(&db, b"l", false, b"9", b"last").unwrap(), 14);
        expect.insert(0, "first".into());
        expect.push("last".into());
        assert_eq!(all(&db, b"l"), expect);
        assert_eq!(stored(&db, b"l"), (h - 2..h + 12).collect::<Vec<_>>());
        assert_eq!(insert(&db, b"l", true, b"nope", b"z").unwrap(), -1);
        assert_eq!(insert(&db, b"missing", true, b"0", b"z").unwrap(), 0);
        assert!(db.meta(b"missing").unwrap().is_none());
    }

    #[test]
    fn remove_closes_gaps_from_the_cheaper_side() {
        let dir = tempfile::tempdir().unwrap();
        let store = open(dir.path());
        let view = store.view();
        let db = view.db(0).unwrap();
        let h = INITIAL_HEAD;
        let items = ["a", "x", "b", "x", "c", "d", "e", "f", "x", "g"];
        let load = |key: &[u8]| {
            let refs: Vec<&[u8]> = items.iter().map(|s| s.as_bytes()).collect();
            push(&db, key, End::Right, &refs, false).unwrap();
        };
        // The first two x (positions 1 and 3): three survivors before position 3 move.
        load(b"a");
        assert_eq!(remove(&db, b"a", 2, b"x").unwrap(), 2);
        assert_eq!(all(&db, b"a"), ["a", "b", "c", "d", "e", "f", "x", "g"]);
        assert_eq!(head(&db, b"a"), h + 2);
        assert_eq!(stored(&db, b"a"), (h + 2..h + 10).collect::<Vec<_>>());
        // The last x (position 8): one survivor after it moves.
        load(b"b");
        assert_eq!(remove(&db, b"b", -1, b"x").unwrap(), 1);
        assert_eq!(
            all(&db, b"b"),
            ["a", "x", "b", "x", "c", "d", "e", "f", "g"]
        );
        assert_eq!(head(&db, b"b"), h);
        assert_eq!(stored(&db, b"b"), (h..h + 9).collect::<Vec<_>>());
        // All x (positions 1, 3, 8): six survivors move on either side; a tie moves the head
        // side.
        load(b"c");
        assert_eq!(remove(&db, b"c", 0, b"x").unwrap(), 3);
        assert_eq!(all(&db, b"c"), ["a", "b", "c", "d", "e", "f", "g"]);
        assert_eq!(head(&db, b"c"), h + 3);
        assert_eq!(stored(&db, b"c").len(), 7);
        // i64::MIN counts from the tail and removes every match.
        load(b"d");
        assert_eq!(remove(&db, b"d", i64::MIN, b"x").unwrap(), 3);
        assert_eq!(all(&db, b"d"), ["a", "b", "c", "d", "e", "f", "g"]);
        // Removing every element removes the key.
        push(&db, b"e", End::Right, &[b"x", b"x"], false).unwrap();
        assert_eq!(remove(&db, b"e", 0, b"x").unwrap(), 2);
        assert!(db.meta(b"e").unwrap().is_none());
        assert_eq!(remove(&db, b"e", 0, b"x").unwrap(), 0);
    }

    #[test]
    fn remove_with_many_hits_on_a_long_list() {
        let dir = tempfile::tempdir().unwrap();
        let store = open(dir.path());
        let view = store.view();
        let db = view.db(0).unwrap();
        let items: Vec<Vec<u8>> = (0..500)
            .map(|i| b(if i % 3 == 0 { "x" } else { "y" }))
            .collect();
        let refs: Vec<&[u8]> = items.iter().map(Vec::as_slice).collect();
        for (key, count) in [(&b"p"[..], 40i64), (b"n", -40), (b"z", 0)] {
            push(&db, key, End::Right, &refs, false).unwrap();
            let removed = remove(&db, key, count, b"x").unwrap();
            let mut model: Vec<&[u8]> = refs.clone();
            let want = if count == 0 {
                usize::MAX
            } else {
                count.unsigned_abs() as usize
            };
            let mut hits: Vec<usize> = (0..model.len()).filter(|&i| model[i] == b"x").collect();
            if count < 0 {
                hits.reverse();
            }
            hits.truncate(want);
            hits.sort_unstable();
            for &i in hits.iter().rev() {
                model.remove(i);
            }
            assert_eq!(removed as usize, hits.len());
            let got = range(&db, key, 0, -1).unwrap();
            assert_eq!(got.iter().map(|v| v.as_ref()).collect::<Vec<_>>(), model);
            let hd = head(&db, key);
            assert_eq!(
                stored(&db, key),
                (hd..hd + model.len() as u64).collect::<Vec<_>>()
            );
        }
    }

    #[test]
    fn trim_deletes_both_ends_with_range_deletions() {
        let dir = tempfile::tempdir().unwrap();
        let store = open(dir.path());
        let view = store.view();
        let db = view.db(0).unwrap();
        let h = INITIAL_HEAD;
        fill(&db, b"l", 1000);
        trim(&db, b"l", 100, -101).unwrap();
        assert_eq!(all(&db, b"l"), numbers(100..900));
        assert_eq!(head(&db, b"l"), h + 100);
        assert_eq!(stored(&db, b"l"), (h + 100..h + 900).collect::<Vec<_>>());
        // A few at each end (point deletions).
        trim(&db, b"l", 2, -3).unwrap();
        assert_eq!(all(&db, b"l"), numbers(102..898));
        assert_eq!(stored(&db, b"l"), (h + 102..h + 898).collect::<Vec<_>>());
        trim(&db, b"l", 0, -1).unwrap();
        assert_eq!(len(&db, b"l").unwrap(), 796);
        trim(&db, b"l", -1, 0).unwrap();
        assert!(db.meta(b"l").unwrap().is_none());
        trim(&db, b"l", 0, 1).unwrap();
        assert!(db.meta(b"l").unwrap().is_none());
    }

    #[test]
    fn moves_rotate_and_cross_keys() {
        let dir = tempfile::tempdir().unwrap();
        let store = open(dir.path());
        let view = store.view();
        let db = view.db(0).unwrap();
        fill(&db, b"l", 3);
        let mv = |s: &[u8], d: &[u8], f, t| lmove(&db, s, d, f, t).unwrap();
        assert_eq!(mv(b"l", b"l", End::Left, End::Right).unwrap(), "0");
        assert_eq!(all(&db, b"l"), ["1", "2", "0"]);
        assert_eq!(mv(b"l", b"l", End::Right, End::Left).unwrap(), "0");
        assert_eq!(all(&db, b"l"), ["0", "1", "2"]);
        assert_eq!(mv(b"l", b"l", End::Left, End::Left).unwrap(), "0");
        assert_eq!(all(&db, b"l"), ["0", "1", "2"]);
        assert_eq!(mv(b"l", b"m", End::Right, End::Left).unwrap(), "2");
        assert_eq!(mv(b"l", b"m", End::Left, End::Right).unwrap(), "0");
        assert_eq!(mv(b"l", b"m", End::Left, End::Left).unwrap(), "1");
        assert_eq!(all(&db, b"m"), ["1", "2", "0"]);
        assert!(db.meta(b"l").unwrap().is_none());
        assert_eq!(mv(b"l", b"m", End::Left, End::Left), None);
        let one = push(&db, b"one", End::Left, &[b"v"], false).unwrap();
        assert_eq!(one, 1);
        assert_eq!(mv(b"one", b"one", End::Left, End::Right).unwrap(), "v");
        assert_eq!(all(&db, b"one"), ["v"]);
        assert_eq!(
            first_nonempty_pop(&db, &[b"none", b"one", b"m"], End::Right, 5).unwrap(),
            Some((1, vec![Bytes::from_static(b"v")]))
        );
        assert_eq!(
            first_nonempty_pop(&db, &[b"none", b"one"], End::Right, 5).unwrap(),
            None
        );
    }

    #[test]
    fn positions_follow_rank_count_and_maxlen() {
        let dir = tempfile::tempdir().unwrap();
        let store = open(dir.path());
        let view = store.view();
        let db = view.db(0).unwrap();
        let refs: Vec<&[u8]> = vec![b"a", b"b", b"c", b"a", b"b", b"c", b"a"];
        push(&db, b"l", End::Right, &refs, false).unwrap();
        let pos = |rank, count, maxlen| positions(&db, b"l", b"a", rank, count, maxlen).unwrap();
        assert_eq!(pos(1, None, 0), Some(vec![0]));
        assert_eq!(pos(2, None, 0), Some(vec![3]));
        assert_eq!(pos(-1, None, 0), Some(vec![6]));
        assert_eq!(pos(4, None, 0), Some(vec![]));
        assert_eq!(pos(1, Some(0), 0), Some(vec![0, 3, 6]));
        assert_eq!(pos(-2, Some(0), 0), Some(vec![3, 0]));
        assert_eq!(pos(1, Some(2), 0), Some(vec![0, 3]));
        assert_eq!(pos(1, Some(0), 4), Some(vec![0, 3]));
        assert_eq!(pos(-1, Some(0), 1), Some(vec![6]));
        assert_eq!(pos(i64::MIN, Some(1), 0), Some(vec![6, 3, 0]));
        assert_eq!(pos(i64::MIN, None, 0), Some(vec![6]));
        assert_eq!(positions(&db, b"nope", b"a", 1, None, 0).unwrap(), None);
    }

    #[test]
    fn set_and_index_resolve_negative_positions() {
        let dir = tempfile::tempdir().unwrap();
        let store = open(dir.path());
        let view = store.view();
        let db = view.db(0).unwrap();
        fill(&db, b"l", 3);
        set(&db, b"l", -1, b"z").unwrap();
        assert_eq!(index(&db, b"l", 2).unwrap().unwrap(), "z");
        assert_eq!(index(&db, b"l", -3).unwrap().unwrap(), "0");
        assert_eq!(index(&db, b"l", 3).unwrap(), None);
        assert!(matches!(
            set(&db, b"l", 3, b"x"),
            Err(ListError::IndexOutOfRange)
        ));
        assert!(matches!(
            set(&db, b"none", 0, b"x"),
            Err(ListError::Type(TypeError::NoSuchKey))
        ));
    }
}
