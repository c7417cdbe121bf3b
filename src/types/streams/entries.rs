//! Entries: XADD, XRANGE / XREVRANGE, XREAD's reads, XLEN, XDEL, XTRIM, XSETID.

use super::id::{self, MAX, MIN};
use super::layout::{self, entry_sub, TAG_ENTRY};
use super::{corrupt, read, Entry, Result, StreamError, StreamId, View, Writer};
use crate::storage::subkeys::{SubCf, SubIter};
use crate::storage::{Batch, Db};

/// Entries in one of Redis's stream nodes by default (`stream-node-max-entries`): approximate
/// trimming (`~`) removes entries in multiples of this, as Redis removes whole nodes.
pub const NODE_ENTRIES: u64 = 100;

/// Deleting more contiguous entries than this uses one range deletion.
const RANGE_DELETE_MIN: u64 = 32;

/// The ID XADD is asked to use.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IdSpec {
    /// `*`: the time in milliseconds, or the next sequence after the last ID.
    Auto,
    /// `ms-*`: these milliseconds, the next free sequence.
    Ms(u64),
    /// A full ID.
    Exact(StreamId),
}

/// What XTRIM (or XADD's trimming) keeps.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TrimBy {
    /// At most this many entries (the newest).
    MaxLen(u64),
    /// Only entries with this ID or greater.
    MinId(StreamId),
}

/// A trimming request: MAXLEN or MINID, `~` (approximate) and LIMIT.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Trim {
    pub by: TrimBy,
    /// `~`: remove only whole blocks of [`NODE_ENTRIES`], at most `limit` entries.
    pub approx: bool,
    /// Most entries removed by an approximate trim; 0 means no limit.
    pub limit: u64,
}

/// What XADD did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Added {
    pub id: StreamId,
    /// Entries removed by the trimming that followed (0 without trimming).
    pub trimmed: u64,
}

/// A walk over a stream version's entries between two bounds.
struct Walk<'a> {
    it: SubIter<'a>,
}

impl<'a> Walk<'a> {
    /// Entries with `from <= id <= to`, ascending (or descending when `reverse`).
    fn new(
        db: &Db<'a>,
        key: &[u8],
        version: u64,
        from: StreamId,
        to: StreamId,
        reverse: bool,
    ) -> Walk<'a> {
        let lower = entry_sub(from);
        let mut upper = entry_sub(to).to_vec();
        upper.push(0);
        Walk {
            it: db.iter_subs_between(SubCf::Data, key, version, &lower, &upper, reverse),
        }
    }

    fn next(&mut self) -> Result<Option<(StreamId, &[u8])>> {
        match self.it.next()? {
            Some((sub, value)) => match (sub.first(), layout::id_from(&sub[1.min(sub.len())..])) {
                (Some(&TAG_ENTRY), Some(id)) if sub.len() == 17 => Ok(Some((id, value))),
                _ => Err(corrupt("stream entry key")),
            },
            None => Ok(None),
        }
    }
}

fn decode(id: StreamId, value: &[u8]) -> Result<Entry> {
    let fields = layout::decode_fields(value).ok_or_else(|| corrupt("stream entry value"))?;
    Ok(Entry { id, fields })
}

/// The entries of `v` with `start <= id <= end`, at most `count` (None: all), from the start
/// (or from the end when `reverse`). One seek plus the entries returned: a forward walk starts
/// no earlier than the first entry, so the deletions a trimmed head leaves are never visited.
pub(crate) fn range_of(
    db: &Db<'_>,
    key: &[u8],
    v: &View,
    start: StreamId,
    end: StreamId,
    count: Option<u64>,
    reverse: bool,
) -> Result<Vec<Entry>> {
    let mut out = Vec::new();
    if v.len == 0 || start > end {
        return Ok(out);
    }
    let start = start.max(v.h.first_id);
    let end = end.min(v.h.last_id);
    if start > end {
        return Ok(out);
    }
    let limit = count.unwrap_or(u64::MAX);
    let mut walk = Walk::new(db, key, v.version, start, end, reverse);
    while (out.len() as u64) < limit {
        let Some((id, value)) = walk.next()? else {
            break;
        };
        out.push(decode(id, value)?);
    }
    Ok(out)
}

/// XRANGE / XREVRANGE: entries with `start <= id <= end`, at most `count` (None: all).
pub fn range(
    db: &Db<'_>,
    key: &[u8],
    start: StreamId,
    end: StreamId,
    count: Option<u64>,
    reverse: bool,
) -> Result<Vec<Entry>> {
    match read(db, key)? {
        Some(v) => range_of(db, key, &v, start, end, count, reverse),
        None => Ok(Vec::new()),
    }
}

/// XREAD for one key: up to `count` entries (0: all) with IDs greater than `after`; None when
/// the key is missing or has no such entry. `wrongtype_is_empty` treats a key of another type
/// as empty (a blocked XREAD re-run after the key changed type keeps waiting, as in Redis).
pub fn read_after(
    db: &Db<'_>,
    key: &[u8],
    after: StreamId,
    count: u64,
    wrongtype_is_empty: bool,
) -> Result<Option<Vec<Entry>>> {
    let v = match read(db, key) {
        Ok(Some(v)) => v,
        Ok(None) => return Ok(None),
        Err(StreamError::Type(crate::types::TypeError::WrongType)) if wrongtype_is_empty => {
            return Ok(None)
        }
        Err(e) => return Err(e),
    };
    let Some(start) = id::incr(after) else {
        return Ok(None);
    };
    let count = (count > 0).then_some(count);
    let entries = range_of(db, key, &v, start, MAX, count, false)?;
    Ok((!entries.is_empty()).then_some(entries))
}

/// The last ID a stream was given (`$` in XREAD and XGROUP), 0-0 when the key is missing.
pub fn last_id(db: &Db<'_>, key: &[u8]) -> Result<StreamId> {
    Ok(read(db, key)?.map_or(MIN, |v| v.h.last_id))
}

/// XLEN.
pub fn len(db: &Db<'_>, key: &[u8]) -> Result<u64> {
    Ok(read(db, key)?.map_or(0, |v| v.len))
}

/// The fields of entry `id` of a stream version, if it exists.
pub(crate) fn get_entry(
    db: &Db<'_>,
    key: &[u8],
    version: u64,
    id: StreamId,
) -> Result<Option<Entry>> {
    match db.get_sub(SubCf::Data, key, version, &entry_sub(id))? {
        Some(value) => Ok(Some(decode(id, &value)?)),
        None => Ok(None),
    }
}

/// The ID of the last entry (`streamLastValidID`), None when the stream is empty.
pub(crate) fn last_entry_id(db: &Db<'_>, key: &[u8], v: &View) -> Result<Option<StreamId>> {
    if v.len == 0 {
        return Ok(None);
    }
    let mut walk = Walk::new(db, key, v.version, v.h.first_id, MAX, true);
    Ok(walk.next()?.map(|(id, _)| id))
}

/// The ID the next entry gets, as `streamAppendItem` computes it.
fn next_id(last: StreamId, spec: IdSpec, now: u64) -> Result<StreamId> {
    let id = match spec {
        IdSpec::Auto if now > last.ms => StreamId { ms: now, seq: 0 },
        IdSpec::Auto => id::incr(last).ok_or(StreamError::Exhausted)?,
        IdSpec::Ms(ms) if ms == last.ms => {
            if last.seq == u64::MAX {
                return Err(StreamError::IdNotGreater);
            }
            StreamId {
                ms,
                seq: last.seq + 1,
            }
        }
        IdSpec::Ms(ms) => StreamId { ms, seq: 0 },
        IdSpec::Exact(id) => id,
    };
    if id <= last {
        return Err(StreamError::IdNotGreater);
    }
    Ok(id)
}

/// XADD: appends an entry with `fields` (field, value, ...) and then trims as asked. None when
/// `nomkstream` and the key is missing. Locks the key and commits one batch.
pub fn add(
    db: &Db<'_>,
    key: &[u8],
    spec: IdSpec,
    nomkstream: bool,
    fields: &[&[u8]],
    trim: Option<&Trim>,
) -> Result<Option<Added>> {
    // Refused before the key is looked at, so no empty stream is left behind.
    if spec == IdSpec::Exact(MIN) {
        return Err(StreamError::IdZero);
    }
    let _guard = db.lock(key);
    let mut w = Writer::load(db, key)?;
    if !w.exists() {
        if nomkstream {
            return Ok(None);
        }
        w.create(db)?;
    }
    if w.h.last_id == MAX {
        return Err(StreamError::Exhausted);
    }
    let id = next_id(w.h.last_id, spec, crate::util::time::now_ms())?;
    let mut batch = db.batch();
    batch.put_sub(
        SubCf::Data,
        db.phys,
        key,
        w.version,
        &entry_sub(id),
        &layout::encode_fields(fields),
    );
    if w.len == 0 {
        w.h.first_id = id;
    }
    w.len += 1;
    w.h.last_id = id;
    w.h.entries_added += 1;
    let trimmed = match trim {
        Some(t) => trim_locked(&mut w, db, &mut batch, t, Some(id))?,
        None => 0,
    };
    w.store(&mut batch, db);
    batch.commit()?;
    Ok(Some(Added { id, trimmed }))
}

/// XTRIM: returns how many entries went (0 when the key is missing). Locks the key.
pub fn trim(db: &Db<'_>, key: &[u8], t: &Trim) -> Result<u64> {
    let _guard = db.lock(key);
    let mut w = Writer::load(db, key)?;
    if !w.exists() {
        return Ok(0);
    }
    let mut batch = db.batch();
    let removed = trim_locked(&mut w, db, &mut batch, t, None)?;
    if removed > 0 {
        w.store(&mut batch, db);
        batch.commit()?;
    }
    Ok(removed)
}

/// How many entries from the head a trim removes, before they are walked. `tail` is an entry
/// this command appended (in its batch, so not seen by reads).
fn trim_count(w: &Writer<'_>, db: &Db<'_>, t: &Trim, tail: Option<StreamId>) -> Result<u64> {
    let cap = if t.approx && t.limit > 0 {
        t.limit
    } else {
        u64::MAX
    };
    let wanted = match t.by {
        TrimBy::MaxLen(n) => w.len.saturating_sub(n).min(cap),
        TrimBy::MinId(min) => match id::decr(min) {
            None => 0,
            // The appended entry is the greatest: everything is below `min`.
            Some(_) if tail.is_some_and(|t| t < min) => w.len.min(cap),
            Some(below) => {
                // Count the entries below `min` from the head and those kept from the tail, in
                // step: the first walk to end gives the answer after min(removed, kept) steps.
                let mut head = Walk::new(db, w.key, w.version, w.h.first_id, below, false);
                let mut back = Walk::new(db, w.key, w.version, min, MAX, true);
                let mut removed = 0u64;
                let mut kept = u64::from(tail.is_some());
                loop {
                    if removed >= cap {
                        break cap;
                    }
                    if head.next()?.is_none() {
                        break removed;
                    }
                    removed += 1;
                    if back.next()?.is_none() {
                        break w.len.saturating_sub(kept).min(cap);
                    }
                    kept += 1;
                }
            }
        },
    };
    Ok(if t.approx {
        wanted - wanted % NODE_ENTRIES
    } else {
        wanted
    })
}

/// Removes entries from the head as `t` asks, into `batch`; returns how many. `tail` is an
/// entry this command appended in `batch` (after every stored one). The walk that finds the
/// new first entry goes over the smaller side: the entries removed, or (when most go) the
/// entries kept, counted back from the end; so trimming a huge stream to a few entries (or to
/// none) costs what stays.
fn trim_locked(
    w: &mut Writer<'_>,
    db: &Db<'_>,
    batch: &mut Batch<'_>,
    t: &Trim,
    tail: Option<StreamId>,
) -> Result<u64> {
    if w.len == 0 {
        return Ok(0);
    }
    let n = trim_count(w, db, t, tail)?.min(w.len);
    if n == 0 {
        return Ok(0);
    }
    let keep = w.len - n;
    if n > RANGE_DELETE_MIN && keep < n {
        // Most of the stream goes: find the new first entry from the end (keep entries back),
        // and delete everything before it; the walk is over what stays, not what goes.
        let mut next_first = None;
        if keep > 0 {
            let mut walk = Walk::new(db, w.key, w.version, w.h.first_id, MAX, true);
            let mut tail = tail;
            let mut walked = 0u64;
            loop {
                let id = match tail.take() {
                    Some(id) => id,
                    None => match walk.next()? {
                        Some((id, _)) => id,
                        None => break,
                    },
                };
                walked += 1;
                if walked == keep {
                    next_first = Some(id);
                    break;
                }
            }
            if next_first.is_none() {
                return Err(corrupt("stream shorter than its length"));
            }
        }
        let lower = entry_sub(w.h.first_id);
        let upper = match next_first {
            Some(id) => entry_sub(id).to_vec(),
            None => vec![TAG_ENTRY + 1],
        };
        batch.delete_sub_range(SubCf::Data, db.phys, w.key, w.version, &lower, &upper);
        w.len = keep;
        w.h.first_id = next_first.unwrap_or(MIN);
        return Ok(n);
    }
    // Walk the n entries that go, and one more: the new first entry.
    let mut walk = Walk::new(db, w.key, w.version, w.h.first_id, MAX, false);
    let mut tail = tail;
    let mut small = Vec::new();
    let mut first_gone = None;
    let mut next_first = None;
    let mut walked = 0u64;
    loop {
        let id = match walk.next()? {
            Some((id, _)) => id,
            None => match tail.take() {
                Some(id) => id,
                None => break,
            },
        };
        if walked == n {
            next_first = Some(id);
            break;
        }
        first_gone.get_or_insert(id);
        if n <= RANGE_DELETE_MIN {
            small.push(id);
        }
        walked += 1;
    }
    drop(walk);
    if walked != n {
        return Err(corrupt("stream shorter than its length"));
    }
    if n <= RANGE_DELETE_MIN {
        for id in small {
            batch.delete_sub(SubCf::Data, db.phys, w.key, w.version, &entry_sub(id));
        }
    } else {
        let lower = entry_sub(first_gone.unwrap_or(MIN));
        let upper = match next_first {
            Some(id) => entry_sub(id).to_vec(),
            None => vec![TAG_ENTRY + 1],
        };
        batch.delete_sub_range(SubCf::Data, db.phys, w.key, w.version, &lower, &upper);
    }
    w.len = keep;
    w.h.first_id = next_first.unwrap_or(MIN);
    Ok(n)
}

/// XDEL: deletes the entries with these IDs; returns how many existed. The greatest deleted
/// ID is remembered (`max-deleted-entry-id`), and the first ID moves when the first entry goes.
pub fn delete(db: &Db<'_>, key: &[u8], ids: &[StreamId]) -> Result<u64> {
    let _guard = db.lock(key);
    let mut w = Writer::load(db, key)?;
    if !w.exists() || w.len == 0 {
        return Ok(0);
    }
    let subs: Vec<[u8; 17]> = ids.iter().map(|&id| entry_sub(id)).collect();
    let refs: Vec<&[u8]> = subs.iter().map(|s| &s[..]).collect();
    let found = db.get_subs(SubCf::Data, key, w.version, &refs)?;
    let mut batch = db.batch();
    let mut gone = std::collections::HashSet::new();
    let mut first_gone = false;
    for (&id, hit) in ids.iter().zip(&found) {
        if hit.is_none() || !gone.insert(id) {
            continue;
        }
        batch.delete_sub(SubCf::Data, db.phys, key, w.version, &entry_sub(id));
        first_gone |= id == w.h.first_id;
        w.h.max_deleted = w.h.max_deleted.max(id);
    }
    let n = gone.len() as u64;
    if n == 0 {
        return Ok(0);
    }
    w.len = w.len.saturating_sub(n);
    if w.len == 0 {
        w.h.first_id = MIN;
    } else if first_gone {
        // The new first entry is the first one this batch does not delete.
        let mut walk = Walk::new(db, key, w.version, w.h.first_id, MAX, false);
        let mut next = None;
        while let Some((id, _)) = walk.next()? {
            if !gone.contains(&id) {
                next = Some(id);
                break;
            }
        }
        w.h.first_id = next.ok_or_else(|| corrupt("stream shorter than its length"))?;
    }
    w.store(&mut batch, db);
    batch.commit()?;
    Ok(n)
}

/// XSETID: sets the last ID (and optionally entries-added and the greatest deleted ID) after
/// Redis 7.0's checks (against the last entry and the length only: the last ID may go below
/// the greatest deleted ID). `ERR no such key` when the key is missing.
pub fn set_id(
    db: &Db<'_>,
    key: &[u8],
    last: StreamId,
    entries_added: Option<u64>,
    max_deleted: Option<StreamId>,
) -> Result<()> {
    let _guard = db.lock(key);
    let mut w = Writer::load(db, key)?;
    if !w.exists() {
        return Err(crate::types::TypeError::NoSuchKey.into());
    }
    if w.len > 0 {
        let top = last_entry_id(db, key, &w.view())?
            .ok_or_else(|| corrupt("stream shorter than its length"))?;
        if last < top {
            return Err(StreamError::SetIdBelowTop);
        }
        if entries_added.is_some_and(|n| w.len > n) {
            return Err(StreamError::EntriesAddedBelowLength);
        }
    }
    w.h.last_id = last;
    if let Some(n) = entries_added {
        w.h.entries_added = n;
    }
    if let Some(m) = max_deleted.filter(|&m| m != MIN) {
        w.h.max_deleted = m;
    }
    let mut batch = db.batch();
    w.store(&mut batch, db);
    batch.commit()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(ms: u64, seq: u64) -> StreamId {
        StreamId { ms, seq }
    }

    #[test]
    fn ids_are_generated_as_redis_generates_them() {
        let last = id(5, 3);
        assert_eq!(next_id(last, IdSpec::Auto, 9).unwrap(), id(9, 0));
        assert_eq!(next_id(last, IdSpec::Auto, 5).unwrap(), id(5, 4));
        // A clock behind the last ID never goes backwards.
        assert_eq!(next_id(last, IdSpec::Auto, 1).unwrap(), id(5, 4));
        assert_eq!(next_id(id(5, u64::MAX), IdSpec::Auto, 1).unwrap(), id(6, 0));
        assert_eq!(next_id(last, IdSpec::Ms(5), 0).unwrap(), id(5, 4));
        assert_eq!(next_id(last, IdSpec::Ms(7), 0).unwrap(), id(7, 0));
        assert!(matches!(
            next_id(last, IdSpec::Ms(4), 0),
            Err(StreamError::IdNotGreater)
        ));
        assert!(matches!(
            next_id(id(5, u64::MAX), IdSpec::Ms(5), 0),
            Err(StreamError::IdNotGreater)
        ));
        assert!(matches!(
            next_id(last, IdSpec::Exact(last), 0),
            Err(StreamError::IdNotGreater)
        ));
        assert_eq!(next_id(MIN, IdSpec::Ms(0), 0).unwrap(), id(0, 1));
    }
}
