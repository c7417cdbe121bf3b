//! Consumer groups: XGROUP, XREADGROUP, XACK, XPENDING, XCLAIM, XAUTOCLAIM, and the XINFO
//! reports.
//!
//! A write loads the group record once and keeps the consumers and pending entries it touches
//! in a small overlay ([`GroupEdit`]), so an ID named twice in one command (XACK a a, XCLAIM
//! a a) sees its own first change, as in Redis, and everything goes into the command's one
//! batch at the end.

use super::entries::{get_entry, range_of};
use super::id::{self, Syntax, MAX, MIN};
use super::layout::{
    self, after_prefix, consumer_sub, cpel_prefix, cpel_sub, group_range, group_sub, pel_sub,
    with_id, ConsumerRec, GroupRec, Header, PelRec, INVALID_ENTRIES_READ, TAG_CONSUMER, TAG_CPEL,
    TAG_GROUP, TAG_PEL,
};
use super::{corrupt, read, Entry, Result, StreamError, StreamId, View, Writer};
use crate::storage::subkeys::SubCf;
use crate::storage::{Batch, Db};
use bytes::Bytes;
use std::collections::{BTreeMap, BTreeSet, HashMap};

/// Where a stream's sub-keys are.
#[derive(Clone, Copy)]
struct Loc<'a, 'k> {
    db: Db<'a>,
    key: &'k [u8],
    version: u64,
}

impl<'a, 'k> Loc<'a, 'k> {
    fn get(&self, sub: &[u8]) -> Result<Option<Vec<u8>>> {
        Ok(self.db.get_sub(SubCf::Data, self.key, self.version, sub)?)
    }

    fn walk(
        &self,
        lower: &[u8],
        upper: &[u8],
        reverse: bool,
    ) -> crate::storage::subkeys::SubIter<'a> {
        self.db
            .iter_subs_between(SubCf::Data, self.key, self.version, lower, upper, reverse)
    }

    fn entry_exists(&self, id: StreamId) -> Result<bool> {
        Ok(self.get(&layout::entry_sub(id))?.is_some())
    }
}

fn load_group(loc: &Loc<'_, '_>, name: &[u8]) -> Result<Option<GroupRec>> {
    match loc.get(&group_sub(name))? {
        Some(v) => Ok(Some(
            GroupRec::decode(&v).ok_or_else(|| corrupt("stream group record"))?,
        )),
        None => Ok(None),
    }
}

fn decode_consumer(v: &[u8]) -> Result<ConsumerRec> {
    ConsumerRec::decode(v).ok_or_else(|| corrupt("stream consumer record"))
}

fn decode_pel(v: &[u8]) -> Result<PelRec> {
    PelRec::decode(v).ok_or_else(|| corrupt("stream pending entry"))
}

/// The ID at the end of a PEL sub-key (`4 · gid · id` or a consumer's index key).
fn trailing_id(sub: &[u8]) -> Result<StreamId> {
    sub.len()
        .checked_sub(16)
        .and_then(|at| layout::id_from(&sub[at..]))
        .ok_or_else(|| corrupt("stream pending entry key"))
}

/// A group being changed by one command: its record, and the consumers and pending entries
/// read or written so far (None: known to be absent).
struct GroupEdit {
    name: Vec<u8>,
    rec: GroupRec,
    /// What is stored (None for a group created by this command).
    stored: Option<GroupRec>,
    consumers: BTreeMap<Vec<u8>, Option<ConsumerRec>>,
    dirty_consumers: BTreeSet<Vec<u8>>,
    pel: HashMap<StreamId, Option<PelRec>>,
    dirty_pel: BTreeSet<StreamId>,
    /// Consumer PEL index changes, in order: (sub-key, put or delete).
    cpel: Vec<(Vec<u8>, bool)>,
}

impl GroupEdit {
    fn open(loc: &Loc<'_, '_>, name: &[u8]) -> Result<Option<GroupEdit>> {
        Ok(load_group(loc, name)?.map(|rec| GroupEdit {
            name: name.to_vec(),
            rec,
            stored: Some(rec),
            consumers: BTreeMap::new(),
            dirty_consumers: BTreeSet::new(),
            pel: HashMap::new(),
            dirty_pel: BTreeSet::new(),
            cpel: Vec::new(),
        }))
    }

    fn consumer(&mut self, loc: &Loc<'_, '_>, name: &[u8]) -> Result<Option<ConsumerRec>> {
        if let Some(c) = self.consumers.get(name) {
            return Ok(*c);
        }
        let c = match loc.get(&consumer_sub(self.rec.gid, name))? {
            Some(v) => Some(decode_consumer(&v)?),
            None => None,
        };
        self.consumers.insert(name.to_vec(), c);
        Ok(c)
    }

    fn set_consumer(&mut self, name: &[u8], c: Option<ConsumerRec>) {
        self.consumers.insert(name.to_vec(), c);
        self.dirty_consumers.insert(name.to_vec());
    }

    /// Looks the consumer up, creating it if needed, and marks it seen now (Redis's
    /// `streamLookupConsumer` + `streamCreateConsumer`). Returns whether it was created.
    fn touch_consumer(&mut self, loc: &Loc<'_, '_>, name: &[u8], now: u64) -> Result<bool> {
        match self.consumer(loc, name)? {
            Some(mut c) => {
                c.seen_time = now;
                self.set_consumer(name, Some(c));
                Ok(false)
            }
            None => {
                self.rec.consumers += 1;
                self.set_consumer(
                    name,
                    Some(ConsumerRec {
                        seen_time: now,
                        pel_count: 0,
                    }),
                );
                Ok(true)
            }
        }
    }

    /// Adds `delta` to a consumer's pending count (if the consumer exists).
    fn adjust_consumer(&mut self, loc: &Loc<'_, '_>, name: &[u8], delta: i64) -> Result<()> {
        if let Some(mut c) = self.consumer(loc, name)? {
            c.pel_count = c.pel_count.saturating_add_signed(delta);
            self.set_consumer(name, Some(c));
        }
        Ok(())
    }

    fn pel(&mut self, loc: &Loc<'_, '_>, id: StreamId) -> Result<Option<PelRec>> {
        if let Some(p) = self.pel.get(&id) {
            return Ok(p.clone());
        }
        let p = match loc.get(&pel_sub(self.rec.gid, id))? {
            Some(v) => Some(decode_pel(&v)?),
            None => None,
        };
        self.pel.insert(id, p.clone());
        Ok(p)
    }

    /// Reads the pending entries of `ids` in one batched lookup.
    fn prefetch_pel(&mut self, loc: &Loc<'_, '_>, ids: &[StreamId]) -> Result<()> {
        let missing: Vec<StreamId> = ids
            .iter()
            .copied()
            .filter(|id| !self.pel.contains_key(id))
            .collect();
        if missing.is_empty() {
            return Ok(());
        }
        let subs: Vec<[u8; 25]> = missing
            .iter()
            .map(|&id| pel_sub(self.rec.gid, id))
            .collect();
        let refs: Vec<&[u8]> = subs.iter().map(|s| &s[..]).collect();
        let found = loc.db.get_subs(SubCf::Data, loc.key, loc.version, &refs)?;
        for (id, v) in missing.into_iter().zip(found) {
            let p = match v {
                Some(v) => Some(decode_pel(&v)?),
                None => None,
            };
            self.pel.insert(id, p);
        }
        Ok(())
    }

    /// Records a pending entry read by a walk, so later lookups need no read.
    fn seed_pel(&mut self, id: StreamId, p: PelRec) {
        self.pel.entry(id).or_insert(Some(p));
    }

    /// Makes `owner` (an existing consumer) own pending entry `id`, creating the entry if
    /// needed, with this delivery time and count.
    fn pel_assign(
        &mut self,
        loc: &Loc<'_, '_>,
        id: StreamId,
        owner: &[u8],
        delivery_time: u64,
        delivery_count: u64,
    ) -> Result<()> {
        let gid = self.rec.gid;
        match self.pel(loc, id)? {
            Some(old) if old.consumer == owner => {}
            Some(old) => {
                self.adjust_consumer(loc, &old.consumer, -1)?;
                self.cpel.push((cpel_sub(gid, &old.consumer, id), false));
                self.adjust_consumer(loc, owner, 1)?;
                self.cpel.push((cpel_sub(gid, owner, id), true));
            }
            None => {
                self.rec.pel_count += 1;
                self.adjust_consumer(loc, owner, 1)?;
                self.cpel.push((cpel_sub(gid, owner, id), true));
            }
        }
        self.pel.insert(
            id,
            Some(PelRec {
                delivery_time,
                delivery_count,
                consumer: owner.to_vec(),
            }),
        );
        self.dirty_pel.insert(id);
        Ok(())
    }

    /// Removes pending entry `id`; whether it was there.
    fn pel_remove(&mut self, loc: &Loc<'_, '_>, id: StreamId) -> Result<bool> {
        let Some(old) = self.pel(loc, id)? else {
            return Ok(false);
        };
        self.rec.pel_count = self.rec.pel_count.saturating_sub(1);
        self.adjust_consumer(loc, &old.consumer, -1)?;
        self.cpel
            .push((cpel_sub(self.rec.gid, &old.consumer, id), false));
        self.pel.insert(id, None);
        self.dirty_pel.insert(id);
        Ok(true)
    }

    /// Writes every change into `batch`.
    fn flush(&self, batch: &mut Batch<'_>, loc: &Loc<'_, '_>) {
        let (phys, key, version) = (loc.db.phys, loc.key, loc.version);
        let gid = self.rec.gid;
        if self.stored != Some(self.rec) {
            batch.put_sub(
                SubCf::Data,
                phys,
                key,
                version,
                &group_sub(&self.name),
                &self.rec.encode(),
            );
        }
        for name in &self.dirty_consumers {
            let sub = consumer_sub(gid, name);
            match self.consumers.get(name).copied().flatten() {
                Some(c) => batch.put_sub(SubCf::Data, phys, key, version, &sub, &c.encode()),
                None => batch.delete_sub(SubCf::Data, phys, key, version, &sub),
            }
        }
        for id in &self.dirty_pel {
            let sub = pel_sub(gid, *id);
            match self.pel.get(id).cloned().flatten() {
                Some(p) => batch.put_sub(SubCf::Data, phys, key, version, &sub, &p.encode()),
                None => batch.delete_sub(SubCf::Data, phys, key, version, &sub),
            }
        }
        for (sub, put) in &self.cpel {
            if *put {
                batch.put_sub(SubCf::Data, phys, key, version, sub, b"");
            } else {
                batch.delete_sub(SubCf::Data, phys, key, version, sub);
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Lag (Redis's entries-read bookkeeping, t_stream.c)
// ---------------------------------------------------------------------------------------------

/// Whether an XDEL may have left a hole in `[start, end]` (`streamRangeHasTombstones`).
fn range_has_tombstones(h: &Header, len: u64, start: StreamId, end: StreamId) -> bool {
    if len == 0 || h.max_deleted == MIN || h.first_id > h.max_deleted {
        return false;
    }
    start <= h.max_deleted && h.max_deleted <= end
}

/// The logical position of `id` counted from the first entry ever added, when it can be known
/// (`streamEstimateDistanceFromFirstEverEntry`); [`INVALID_ENTRIES_READ`] otherwise.
fn estimate_distance(h: &Header, len: u64, id: StreamId) -> i64 {
    let added = h.entries_added as i64;
    if h.entries_added == 0 {
        return 0;
    }
    if len == 0 && id <= h.last_id {
        return added;
    }
    match id.cmp(&h.last_id) {
        std::cmp::Ordering::Equal => return added,
        std::cmp::Ordering::Greater => return INVALID_ENTRIES_READ,
        std::cmp::Ordering::Less => {}
    }
    if h.max_deleted == MIN || h.max_deleted < h.first_id {
        match id.cmp(&h.first_id) {
            std::cmp::Ordering::Less => return added.wrapping_sub(len as i64),
            std::cmp::Ordering::Equal => return added.wrapping_sub(len as i64).wrapping_add(1),
            std::cmp::Ordering::Greater => {}
        }
    }
    INVALID_ENTRIES_READ
}

/// A loaded group's entries-read counter when the file predates it (RDB < 10), as Redis
/// computes it on load.
pub(crate) fn estimate_for_load(h: &Header, len: u64, id: StreamId) -> i64 {
    estimate_distance(h, len, id)
}

/// A group's lag (`streamReplyWithCGLag`); None when it cannot be known.
fn lag(h: &Header, len: u64, g: &GroupRec) -> Option<i64> {
    let added = h.entries_added as i64;
    if h.entries_added == 0 {
        return Some(0);
    }
    if g.entries_read != INVALID_ENTRIES_READ && !range_has_tombstones(h, len, g.last_id, MAX) {
        return Some(added.wrapping_sub(g.entries_read));
    }
    match estimate_distance(h, len, g.last_id) {
        INVALID_ENTRIES_READ => None,
        read => Some(added.wrapping_sub(read)),
    }
}

/// Moves a group's last delivered ID to `id` (an entry just delivered), keeping its
/// entries-read counter as Redis does.
fn advance_group(rec: &mut GroupRec, h: &Header, len: u64, id: StreamId) {
    if id <= rec.last_id {
        return;
    }
    if rec.entries_read != INVALID_ENTRIES_READ && !range_has_tombstones(h, len, id, MAX) {
        rec.entries_read += 1;
    } else if h.entries_added != 0 {
        rec.entries_read = estimate_distance(h, len, id);
    }
    rec.last_id = id;
}

// ---------------------------------------------------------------------------------------------
// XGROUP
// ---------------------------------------------------------------------------------------------

/// Loads the stream for an XGROUP subcommand: WRONGTYPE, or the XGROUP error for a missing key.
fn xgroup_stream<'k>(db: &Db<'_>, key: &'k [u8]) -> Result<Writer<'k>> {
    let w = Writer::load(db, key)?;
    if !w.exists() {
        return Err(StreamError::XGroupNeedsKey);
    }
    Ok(w)
}

/// `$` (the stream's last ID) or an ID as XGROUP CREATE / SETID take it.
fn group_start(arg: &[u8], last: StreamId, syntax: Syntax) -> Result<StreamId> {
    if arg == b"$" {
        return Ok(last);
    }
    id::parse(arg, syntax)
        .map(|p| p.id)
        .ok_or(StreamError::InvalidId)
}

/// XGROUP CREATE: a group starting after `id_arg` (`$` or an ID), with MKSTREAM creating an
/// empty stream. Returns whether the stream was created. Checks in Redis's order: type, key,
/// ID, existing group.
pub fn create_group(
    db: &Db<'_>,
    key: &[u8],
    group: &[u8],
    id_arg: &[u8],
    mkstream: bool,
    entries_read: i64,
) -> Result<bool> {
    let _guard = db.lock(key);
    let mut w = Writer::load(db, key)?;
    if !w.exists() && !mkstream {
        return Err(StreamError::XGroupNeedsKey);
    }
    let start = group_start(id_arg, w.h.last_id, Syntax::STRICT)?;
    let mut created = false;
    if w.exists() {
        let loc = Loc {
            db: *db,
            key,
            version: w.version,
        };
        if load_group(&loc, group)?.is_some() {
            return Err(StreamError::BusyGroup);
        }
    } else {
        w.create(db)?;
        created = true;
    }
    let rec = GroupRec {
        gid: w.h.next_gid,
        last_id: start,
        entries_read,
        pel_count: 0,
        consumers: 0,
    };
    w.h.next_gid += 1;
    w.h.groups += 1;
    let mut batch = db.batch();
    batch.put_sub(
        SubCf::Data,
        db.phys,
        key,
        w.version,
        &group_sub(group),
        &rec.encode(),
    );
    w.store(&mut batch, db);
    batch.commit()?;
    Ok(created)
}

/// XGROUP SETID: the group's last delivered ID (`$`, or an ID where `-` and `+` are allowed)
/// and entries-read counter.
pub fn set_group_id(
    db: &Db<'_>,
    key: &[u8],
    group: &[u8],
    id_arg: &[u8],
    entries_read: i64,
) -> Result<()> {
    let _guard = db.lock(key);
    let w = xgroup_stream(db, key)?;
    let loc = Loc {
        db: *db,
        key,
        version: w.version,
    };
    let mut rec = load_group(&loc, group)?.ok_or(StreamError::NoGroup)?;
    rec.last_id = group_start(id_arg, w.h.last_id, Syntax::LOOSE)?;
    rec.entries_read = entries_read;
    let mut batch = db.batch();
    batch.put_sub(
        SubCf::Data,
        db.phys,
        key,
        w.version,
        &group_sub(group),
        &rec.encode(),
    );
    batch.commit()?;
    Ok(())
}

/// XGROUP DESTROY: whether the group existed. Its consumers and pending entries go with three
/// range deletions; the stream's metadata changes too, which wakes the group's blocked readers
/// (they get NOGROUP).
pub fn destroy_group(db: &Db<'_>, key: &[u8], group: &[u8]) -> Result<bool> {
    let _guard = db.lock(key);
    let mut w = xgroup_stream(db, key)?;
    let loc = Loc {
        db: *db,
        key,
        version: w.version,
    };
    let Some(rec) = load_group(&loc, group)? else {
        return Ok(false);
    };
    let mut batch = db.batch();
    batch.delete_sub(SubCf::Data, db.phys, key, w.version, &group_sub(group));
    for tag in [TAG_CONSUMER, TAG_PEL, TAG_CPEL] {
        let lower = group_range(tag, rec.gid);
        let upper = after_prefix(&lower);
        batch.delete_sub_range(SubCf::Data, db.phys, key, w.version, &lower, &upper);
    }
    w.h.groups = w.h.groups.saturating_sub(1);
    w.store(&mut batch, db);
    batch.commit()?;
    Ok(true)
}

/// XGROUP CREATECONSUMER: whether the consumer was created.
pub fn create_consumer(db: &Db<'_>, key: &[u8], group: &[u8], consumer: &[u8]) -> Result<bool> {
    let _guard = db.lock(key);
    let w = xgroup_stream(db, key)?;
    let loc = Loc {
        db: *db,
        key,
        version: w.version,
    };
    let mut edit = GroupEdit::open(&loc, group)?.ok_or(StreamError::NoGroup)?;
    if edit.consumer(&loc, consumer)?.is_some() {
        return Ok(false);
    }
    edit.touch_consumer(&loc, consumer, crate::util::time::now_ms())?;
    let mut batch = db.batch();
    edit.flush(&mut batch, &loc);
    batch.commit()?;
    Ok(true)
}

/// XGROUP DELCONSUMER: removes the consumer and its pending entries; returns how many it had,
/// or None when there was no such consumer.
pub fn delete_consumer(
    db: &Db<'_>,
    key: &[u8],
    group: &[u8],
    consumer: &[u8],
) -> Result<Option<u64>> {
    let _guard = db.lock(key);
    let w = xgroup_stream(db, key)?;
    let loc = Loc {
        db: *db,
        key,
        version: w.version,
    };
    let mut edit = GroupEdit::open(&loc, group)?.ok_or(StreamError::NoGroup)?;
    let Some(c) = edit.consumer(&loc, consumer)? else {
        return Ok(None);
    };
    let gid = edit.rec.gid;
    let mut batch = db.batch();
    let prefix = cpel_prefix(gid, consumer);
    let upper = after_prefix(&prefix);
    let mut removed = 0u64;
    let mut it = loc.walk(&prefix, &upper, false);
    while let Some((sub, _)) = it.next()? {
        let id = trailing_id(sub)?;
        batch.delete_sub(SubCf::Data, db.phys, key, w.version, &pel_sub(gid, id));
        removed += 1;
    }
    drop(it);
    if removed > 0 {
        batch.delete_sub_range(SubCf::Data, db.phys, key, w.version, &prefix, &upper);
    }
    edit.rec.pel_count = edit.rec.pel_count.saturating_sub(removed);
    edit.rec.consumers = edit.rec.consumers.saturating_sub(1);
    edit.set_consumer(consumer, None);
    edit.flush(&mut batch, &loc);
    batch.commit()?;
    Ok(Some(c.pel_count))
}

// ---------------------------------------------------------------------------------------------
// XREADGROUP
// ---------------------------------------------------------------------------------------------

/// Where XREADGROUP reads a key from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReadFrom {
    /// `>`: entries never delivered to the group.
    New,
    /// An ID: the consumer's own pending entries after it (its history).
    History(StreamId),
}

/// One XREADGROUP call.
pub struct GroupRead<'a> {
    pub keys: &'a [&'a [u8]],
    pub from: &'a [ReadFrom],
    pub group: &'a [u8],
    pub consumer: &'a [u8],
    /// Most entries per key; 0 means no limit.
    pub count: u64,
    pub noack: bool,
}

/// What XREADGROUP gives for one key: entries (None for a pending entry whose entry was
/// deleted), and whether the consumer was created by this read.
#[derive(Debug)]
pub struct KeyEntries {
    pub index: usize,
    pub entries: Vec<(StreamId, Option<Vec<Bytes>>)>,
    pub consumer_created: bool,
}

/// XREADGROUP: serves every key that has something for the consumer (history reads always
/// answer, `>` only with new entries), in the order of `keys`. Every key and its group are
/// checked first, so an error changes nothing. Locks all the keys and commits one batch.
pub fn read_group(db: &Db<'_>, r: &GroupRead<'_>) -> Result<Vec<KeyEntries>> {
    let _guard = db.lock_keys(r.keys.iter().copied());
    let mut streams: Vec<(View, GroupEdit)> = Vec::new();
    // Index into `streams` per key; a key named twice shares its group state.
    let mut slot: Vec<usize> = Vec::with_capacity(r.keys.len());
    for (i, &key) in r.keys.iter().enumerate() {
        if let Some(j) = r.keys[..i].iter().position(|&k| k == key) {
            slot.push(slot[j]);
            continue;
        }
        let v = read(db, key)?.ok_or(StreamError::NoKeyAt(i))?;
        let loc = Loc {
            db: *db,
            key,
            version: v.version,
        };
        let edit = GroupEdit::open(&loc, r.group)?.ok_or(StreamError::NoGroupAt(i))?;
        slot.push(streams.len());
        streams.push((v, edit));
    }
    let now = crate::util::time::now_ms();
    let mut out = Vec::new();
    for (i, &key) in r.keys.iter().enumerate() {
        let (v, edit) = &mut streams[slot[i]];
        let loc = Loc {
            db: *db,
            key,
            version: v.version,
        };
        match r.from[i] {
            ReadFrom::New => {
                let Some(start) = id::incr(edit.rec.last_id) else {
                    continue;
                };
                let count = (r.count > 0).then_some(r.count);
                let found = range_of(db, key, v, start, MAX, count, false)?;
                if found.is_empty() {
                    continue;
                }
                let created = edit.touch_consumer(&loc, r.consumer, now)?;
                if !r.noack {
                    let ids: Vec<StreamId> = found.iter().map(|e| e.id).collect();
                    edit.prefetch_pel(&loc, &ids)?;
                }
                let mut entries = Vec::with_capacity(found.len());
                for e in found {
                    advance_group(&mut edit.rec, &v.h, v.len, e.id);
                    if !r.noack {
                        edit.pel_assign(&loc, e.id, r.consumer, now, 1)?;
                    }
                    entries.push((e.id, Some(e.fields)));
                }
                out.push(KeyEntries {
                    index: i,
                    entries,
                    consumer_created: created,
                });
            }
            ReadFrom::History(after) => {
                let created = edit.touch_consumer(&loc, r.consumer, now)?;
                // Redis starts after the ID, wrapping to 0-0 after the greatest.
                let start = id::incr(after).unwrap_or(MIN);
                let prefix = cpel_prefix(edit.rec.gid, r.consumer);
                let lower = with_id(&prefix, start);
                let upper = after_prefix(&prefix);
                let mut ids = Vec::new();
                let mut it = loc.walk(&lower, &upper, false);
                while r.count == 0 || (ids.len() as u64) < r.count {
                    let Some((sub, _)) = it.next()? else {
                        break;
                    };
                    ids.push(trailing_id(sub)?);
                }
                drop(it);
                edit.prefetch_pel(&loc, &ids)?;
                let mut entries = Vec::with_capacity(ids.len());
                for id in ids {
                    match get_entry(db, key, v.version, id)? {
                        Some(e) => {
                            if let Some(p) = edit.pel(&loc, id)? {
                                let owner = p.consumer.clone();
                                edit.pel_assign(&loc, id, &owner, now, p.delivery_count + 1)?;
                            }
                            entries.push((id, Some(e.fields)));
                        }
                        None => entries.push((id, None)),
                    }
                }
                out.push(KeyEntries {
                    index: i,
                    entries,
                    consumer_created: created,
                });
            }
        }
    }
    let mut batch = db.batch();
    for (i, &key) in r.keys.iter().enumerate() {
        // Each distinct key once: its first position owns its slot.
        if r.keys[..i].contains(&key) {
            continue;
        }
        let (v, edit) = &streams[slot[i]];
        let loc = Loc {
            db: *db,
            key,
            version: v.version,
        };
        edit.flush(&mut batch, &loc);
    }
    batch.commit()?;
    Ok(out)
}

// ---------------------------------------------------------------------------------------------
// XACK, XPENDING
// ---------------------------------------------------------------------------------------------

/// The first of `keys` (XREADGROUP's) that is missing, of another type or without the group.
pub fn check_group_keys(db: &Db<'_>, keys: &[&[u8]], group: &[u8]) -> Result<()> {
    for (i, &key) in keys.iter().enumerate() {
        let v = read(db, key)?.ok_or(StreamError::NoKeyAt(i))?;
        let loc = Loc {
            db: *db,
            key,
            version: v.version,
        };
        load_group(&loc, group)?.ok_or(StreamError::NoGroupAt(i))?;
    }
    Ok(())
}

/// XACK: removes these IDs from the group's PEL; returns how many were pending. A missing key
/// or group acknowledges nothing, and Redis parses the IDs only once both exist: `ids` is the
/// parse result, whose error `E` comes back as `Ok(Err(e))`.
pub fn ack<E>(
    db: &Db<'_>,
    key: &[u8],
    group: &[u8],
    ids: std::result::Result<Vec<StreamId>, E>,
) -> Result<std::result::Result<u64, E>> {
    let _guard = db.lock(key);
    let Some(v) = read(db, key)? else {
        return Ok(Ok(0));
    };
    let loc = Loc {
        db: *db,
        key,
        version: v.version,
    };
    let Some(mut edit) = GroupEdit::open(&loc, group)? else {
        return Ok(Ok(0));
    };
    let ids = match ids {
        Ok(ids) => ids,
        Err(e) => return Ok(Err(e)),
    };
    let ids = &ids[..];
    edit.prefetch_pel(&loc, ids)?;
    let mut n = 0;
    for &id in ids {
        if edit.pel_remove(&loc, id)? {
            n += 1;
        }
    }
    if n > 0 {
        let mut batch = db.batch();
        edit.flush(&mut batch, &loc);
        batch.commit()?;
    }
    Ok(Ok(n))
}

/// The stream and group a read-only group command works on: WRONGTYPE, or NoGroup when the
/// key or the group is missing.
fn group_of(db: &Db<'_>, key: &[u8], group: &[u8]) -> Result<(View, GroupRec)> {
    let v = read(db, key)?.ok_or(StreamError::NoGroup)?;
    let loc = Loc {
        db: *db,
        key,
        version: v.version,
    };
    let rec = load_group(&loc, group)?.ok_or(StreamError::NoGroup)?;
    Ok((v, rec))
}

/// XPENDING's summary form.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct PendingSummary {
    pub count: u64,
    /// The smallest and greatest pending IDs (None when nothing is pending).
    pub range: Option<(StreamId, StreamId)>,
    /// Consumers with pending entries, by name, with their counts.
    pub consumers: Vec<(Vec<u8>, u64)>,
}

/// XPENDING key group.
pub fn pending_summary(db: &Db<'_>, key: &[u8], group: &[u8]) -> Result<PendingSummary> {
    let (v, rec) = group_of(db, key, group)?;
    let loc = Loc {
        db: *db,
        key,
        version: v.version,
    };
    let mut s = PendingSummary {
        count: rec.pel_count,
        ..PendingSummary::default()
    };
    if rec.pel_count == 0 {
        return Ok(s);
    }
    let lower = group_range(TAG_PEL, rec.gid);
    let upper = after_prefix(&lower);
    let first = loc
        .walk(&lower, &upper, false)
        .next()?
        .map(|(k, _)| trailing_id(k))
        .transpose()?;
    let last = loc
        .walk(&lower, &upper, true)
        .next()?
        .map(|(k, _)| trailing_id(k))
        .transpose()?;
    s.range = first.zip(last);
    let lower = group_range(TAG_CONSUMER, rec.gid);
    let upper = after_prefix(&lower);
    let mut it = loc.walk(&lower, &upper, false);
    while let Some((sub, value)) = it.next()? {
        let c = decode_consumer(value)?;
        if c.pel_count > 0 {
            s.consumers.push((sub[lower.len()..].to_vec(), c.pel_count));
        }
    }
    Ok(s)
}

/// XPENDING's extended form.
#[derive(Clone, Copy, Debug)]
pub struct PendingQuery<'a> {
    pub min_idle: i64,
    pub start: StreamId,
    pub end: StreamId,
    pub count: u64,
    pub consumer: Option<&'a [u8]>,
}

/// One pending entry as XPENDING reports it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PendingItem {
    pub id: StreamId,
    pub consumer: Vec<u8>,
    /// Milliseconds since the last delivery.
    pub idle: i64,
    pub delivery_count: u64,
}

fn idle_since(now: u64, time: u64) -> i64 {
    (i128::from(now) - i128::from(time)).clamp(i128::from(i64::MIN), i128::from(i64::MAX)) as i64
}

/// XPENDING key group [IDLE min] start end count [consumer].
pub fn pending_range(
    db: &Db<'_>,
    key: &[u8],
    group: &[u8],
    q: &PendingQuery<'_>,
) -> Result<Vec<PendingItem>> {
    let (v, rec) = group_of(db, key, group)?;
    let loc = Loc {
        db: *db,
        key,
        version: v.version,
    };
    let mut out = Vec::new();
    if q.count == 0 || q.start > q.end {
        return Ok(out);
    }
    let now = crate::util::time::now_ms();
    let take = |id: StreamId, p: PelRec, out: &mut Vec<PendingItem>| {
        let idle = idle_since(now, p.delivery_time);
        if q.min_idle != 0 && idle < q.min_idle {
            return;
        }
        out.push(PendingItem {
            id,
            consumer: p.consumer,
            idle: idle.max(0),
            delivery_count: p.delivery_count,
        });
    };
    match q.consumer {
        None => {
            let prefix = group_range(TAG_PEL, rec.gid);
            let lower = with_id(&prefix, q.start);
            let mut upper = with_id(&prefix, q.end);
            upper.push(0);
            let mut it = loc.walk(&lower, &upper, false);
            while (out.len() as u64) < q.count {
                let Some((sub, value)) = it.next()? else {
                    break;
                };
                take(trailing_id(sub)?, decode_pel(value)?, &mut out);
            }
        }
        Some(name) => {
            let prefix = cpel_prefix(rec.gid, name);
            let lower = with_id(&prefix, q.start);
            let mut upper = with_id(&prefix, q.end);
            upper.push(0);
            let mut it = loc.walk(&lower, &upper, false);
            while (out.len() as u64) < q.count {
                let Some((sub, _)) = it.next()? else {
                    break;
                };
                let id = trailing_id(sub)?;
                let Some(p) = loc.get(&pel_sub(rec.gid, id))? else {
                    return Err(corrupt("consumer pending entry missing from the group"));
                };
                take(id, decode_pel(&p)?, &mut out);
            }
        }
    }
    Ok(out)
}

// ---------------------------------------------------------------------------------------------
// XCLAIM, XAUTOCLAIM
// ---------------------------------------------------------------------------------------------

/// XCLAIM's options, parsed.
#[derive(Clone, Debug, Default)]
pub struct ClaimArgs {
    /// Only entries idle at least this long (ms; 0: any).
    pub min_idle: i64,
    pub ids: Vec<StreamId>,
    /// The delivery time to set (IDLE: now minus it, TIME: as given); None: now.
    pub delivery_time: Option<i64>,
    /// RETRYCOUNT (used when not negative).
    pub retry_count: Option<i64>,
    pub force: bool,
    pub justid: bool,
    pub last_id: Option<StreamId>,
}

/// What XCLAIM claimed: per ID, the entry (None with JUSTID).
#[derive(Debug, Default)]
pub struct Claimed {
    pub items: Vec<(StreamId, Option<Vec<Bytes>>)>,
    pub consumer_created: bool,
}

/// XCLAIM. Redis checks the key and group before parsing the rest, so `args` is the parse
/// result, whose error `E` comes back as `Ok(Err(e))` once the key and group are found.
pub fn claim<E>(
    db: &Db<'_>,
    key: &[u8],
    group: &[u8],
    consumer: &[u8],
    args: std::result::Result<ClaimArgs, E>,
) -> Result<std::result::Result<Claimed, E>> {
    let _guard = db.lock(key);
    let v = read(db, key)?.ok_or(StreamError::NoGroup)?;
    let loc = Loc {
        db: *db,
        key,
        version: v.version,
    };
    let mut edit = GroupEdit::open(&loc, group)?.ok_or(StreamError::NoGroup)?;
    let args = match args {
        Ok(a) => a,
        Err(e) => return Ok(Err(e)),
    };
    if let Some(l) = args.last_id.filter(|&l| l > edit.rec.last_id) {
        edit.rec.last_id = l;
    }
    let now = crate::util::time::now_ms();
    let delivery_time = match args.delivery_time {
        Some(t) if t >= 0 && (t as u64) <= now => t as u64,
        _ => now,
    };
    edit.prefetch_pel(&loc, &args.ids)?;
    let mut out = Claimed::default();
    let mut consumer_ready = false;
    for &id in &args.ids {
        let nack = edit.pel(&loc, id)?;
        let entry = get_entry(db, key, v.version, id)?;
        let Some(entry) = entry else {
            // The entry is gone: so is its pending entry.
            edit.pel_remove(&loc, id)?;
            continue;
        };
        let (count, owned) = match nack {
            Some(p) => {
                if args.min_idle > 0 && idle_since(now, p.delivery_time) < args.min_idle {
                    continue;
                }
                (p.delivery_count, true)
            }
            // FORCE creates the pending entry (delivered once), then claims it like any other.
            None if args.force => (1, false),
            None => continue,
        };
        let _ = owned;
        if !consumer_ready {
            out.consumer_created = edit.touch_consumer(&loc, consumer, now)?;
            consumer_ready = true;
        }
        let count = match args.retry_count {
            Some(r) if r >= 0 => r as u64,
            _ if !args.justid => count + 1,
            _ => count,
        };
        edit.pel_assign(&loc, id, consumer, delivery_time, count)?;
        out.items.push((id, (!args.justid).then_some(entry.fields)));
    }
    let mut batch = db.batch();
    edit.flush(&mut batch, &loc);
    batch.commit()?;
    Ok(Ok(out))
}

/// What XAUTOCLAIM did.
#[derive(Debug, Default)]
pub struct AutoClaimed {
    /// Where the next call should start (0-0 when the PEL was walked to its end).
    pub next: StreamId,
    pub items: Vec<(StreamId, Option<Vec<Bytes>>)>,
    /// Pending entries whose entry no longer exists (removed from the PEL).
    pub deleted: Vec<StreamId>,
    pub consumer_created: bool,
}

/// Largest XAUTOCLAIM COUNT accepted (Redis's limit depends on the memory it can allocate:
/// 16 bytes per counted ID).
pub const AUTOCLAIM_MAX_COUNT: u64 = (1 << 40) / 16;

/// XAUTOCLAIM: claims entries idle at least `min_idle` from `start` on, until `count` are
/// claimed or found deleted, looking at no more than `count * 10` pending entries, as Redis
/// does.
#[allow(clippy::too_many_arguments)]
pub fn autoclaim(
    db: &Db<'_>,
    key: &[u8],
    group: &[u8],
    consumer: &[u8],
    min_idle: i64,
    start: StreamId,
    count: u64,
    justid: bool,
) -> Result<AutoClaimed> {
    let _guard = db.lock(key);
    let v = read(db, key)?.ok_or(StreamError::NoGroup)?;
    let loc = Loc {
        db: *db,
        key,
        version: v.version,
    };
    let mut edit = GroupEdit::open(&loc, group)?.ok_or(StreamError::NoGroup)?;
    // Redis allocates COUNT IDs up front and refuses a COUNT it cannot: say so where Redis
    // would surely fail (a terabyte), though Basalt allocates nothing in proportion.
    if count > AUTOCLAIM_MAX_COUNT {
        return Err(StreamError::CountTooHigh);
    }
    let now = crate::util::time::now_ms();
    let mut out = AutoClaimed::default();
    let mut attempts = count.saturating_mul(10);
    let mut left = count;
    let prefix = group_range(TAG_PEL, edit.rec.gid);
    let lower = with_id(&prefix, start);
    let upper = after_prefix(&prefix);
    let mut it = loc.walk(&lower, &upper, false);
    let mut consumer_ready = false;
    let mut exhausted = false;
    while attempts > 0 && left > 0 {
        attempts -= 1;
        let Some((sub, value)) = it.next()? else {
            exhausted = true;
            break;
        };
        let id = trailing_id(sub)?;
        let p = decode_pel(value)?;
        edit.seed_pel(id, p.clone());
        let Some(entry) = get_entry(db, key, v.version, id)? else {
            // A deleted entry counts against COUNT too (Redis bounds its list of them so).
            edit.pel_remove(&loc, id)?;
            out.deleted.push(id);
            left -= 1;
            continue;
        };
        if min_idle > 0 && idle_since(now, p.delivery_time) < min_idle {
            continue;
        }
        if !consumer_ready {
            out.consumer_created = edit.touch_consumer(&loc, consumer, now)?;
            consumer_ready = true;
        }
        let n = if justid {
            p.delivery_count
        } else {
            p.delivery_count + 1
        };
        edit.pel_assign(&loc, id, consumer, now, n)?;
        out.items.push((id, (!justid).then_some(entry.fields)));
        left -= 1;
    }
    out.next = if exhausted {
        MIN
    } else {
        match it.next()? {
            Some((sub, _)) => trailing_id(sub)?,
            None => MIN,
        }
    };
    drop(it);
    let mut batch = db.batch();
    edit.flush(&mut batch, &loc);
    batch.commit()?;
    Ok(out)
}

// ---------------------------------------------------------------------------------------------
// XINFO
// ---------------------------------------------------------------------------------------------

/// One group as XINFO GROUPS reports it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GroupInfo {
    pub name: Vec<u8>,
    pub consumers: u64,
    pub pending: u64,
    pub last_id: StreamId,
    /// None when unknown.
    pub entries_read: Option<i64>,
    pub lag: Option<i64>,
}

fn group_info(h: &Header, len: u64, name: &[u8], rec: &GroupRec) -> GroupInfo {
    GroupInfo {
        name: name.to_vec(),
        consumers: rec.consumers,
        pending: rec.pel_count,
        last_id: rec.last_id,
        entries_read: (rec.entries_read != INVALID_ENTRIES_READ).then_some(rec.entries_read),
        lag: lag(h, len, rec),
    }
}

/// Calls `f` with each group's name and record, by name.
fn for_each_group(
    loc: &Loc<'_, '_>,
    mut f: impl FnMut(&[u8], GroupRec) -> Result<()>,
) -> Result<()> {
    let mut it = loc.walk(&[TAG_GROUP], &[TAG_GROUP + 1], false);
    while let Some((sub, value)) = it.next()? {
        let rec = GroupRec::decode(value).ok_or_else(|| corrupt("stream group record"))?;
        f(&sub[1..], rec)?;
    }
    Ok(())
}

/// XINFO GROUPS; `ERR no such key` when the key is missing.
pub fn info_groups(db: &Db<'_>, key: &[u8]) -> Result<Vec<GroupInfo>> {
    let v = read(db, key)?.ok_or(crate::types::TypeError::NoSuchKey)?;
    let loc = Loc {
        db: *db,
        key,
        version: v.version,
    };
    let mut out = Vec::new();
    for_each_group(&loc, |name, rec| {
        out.push(group_info(&v.h, v.len, name, &rec));
        Ok(())
    })?;
    Ok(out)
}

/// One consumer as XINFO CONSUMERS reports it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConsumerInfo {
    pub name: Vec<u8>,
    pub pending: u64,
    /// Milliseconds since the consumer was last seen.
    pub idle: i64,
    pub seen_time: u64,
}

/// XINFO CONSUMERS; `ERR no such key`, or NoGroup.
pub fn info_consumers(db: &Db<'_>, key: &[u8], group: &[u8]) -> Result<Vec<ConsumerInfo>> {
    let v = read(db, key)?.ok_or(crate::types::TypeError::NoSuchKey)?;
    let loc = Loc {
        db: *db,
        key,
        version: v.version,
    };
    let rec = load_group(&loc, group)?.ok_or(StreamError::NoGroup)?;
    let now = crate::util::time::now_ms();
    let lower = group_range(TAG_CONSUMER, rec.gid);
    let upper = after_prefix(&lower);
    let mut it = loc.walk(&lower, &upper, false);
    let mut out = Vec::new();
    while let Some((sub, value)) = it.next()? {
        let c = decode_consumer(value)?;
        out.push(ConsumerInfo {
            name: sub[lower.len()..].to_vec(),
            pending: c.pel_count,
            idle: idle_since(now, c.seen_time).max(0),
            seen_time: c.seen_time,
        });
    }
    Ok(out)
}

/// A pending entry in XINFO STREAM FULL.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FullPending {
    pub id: StreamId,
    pub consumer: Vec<u8>,
    pub delivery_time: u64,
    pub delivery_count: u64,
}

/// A consumer in XINFO STREAM FULL, with up to COUNT of its pending entries.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FullConsumer {
    pub name: Vec<u8>,
    pub seen_time: u64,
    pub pel_count: u64,
    pub pending: Vec<FullPending>,
}

/// A group in XINFO STREAM FULL.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FullGroup {
    pub info: GroupInfo,
    pub pending: Vec<FullPending>,
    pub consumers: Vec<FullConsumer>,
}

/// XINFO STREAM, plain or FULL.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StreamInfo {
    pub len: u64,
    pub h: Header,
    /// Plain form: the first and last entries.
    pub first: Option<Entry>,
    pub last: Option<Entry>,
    /// FULL: up to COUNT entries, and the groups.
    pub entries: Vec<Entry>,
    pub groups: Vec<FullGroup>,
}

/// XINFO STREAM key [FULL [COUNT n]]: `full` is None for the plain form, else the COUNT
/// (0: everything). `ERR no such key` when missing.
pub fn info_stream(db: &Db<'_>, key: &[u8], full: Option<u64>) -> Result<StreamInfo> {
    let v = read(db, key)?.ok_or(crate::types::TypeError::NoSuchKey)?;
    let mut info = StreamInfo {
        len: v.len,
        h: v.h,
        first: None,
        last: None,
        entries: Vec::new(),
        groups: Vec::new(),
    };
    let Some(count) = full else {
        info.first = range_of(db, key, &v, MIN, MAX, Some(1), false)?.pop();
        info.last = range_of(db, key, &v, MIN, MAX, Some(1), true)?.pop();
        return Ok(info);
    };
    let limit = (count > 0).then_some(count);
    let cap = |n: usize| limit.is_none_or(|l| (n as u64) < l);
    info.entries = range_of(db, key, &v, MIN, MAX, limit, false)?;
    let loc = Loc {
        db: *db,
        key,
        version: v.version,
    };
    let mut groups = Vec::new();
    for_each_group(&loc, |name, rec| {
        groups.push((name.to_vec(), rec));
        Ok(())
    })?;
    for (name, rec) in groups {
        let mut g = FullGroup {
            info: group_info(&v.h, v.len, &name, &rec),
            pending: Vec::new(),
            consumers: Vec::new(),
        };
        let prefix = group_range(TAG_PEL, rec.gid);
        let mut it = loc.walk(&prefix, &after_prefix(&prefix), false);
        while cap(g.pending.len()) {
            let Some((sub, value)) = it.next()? else {
                break;
            };
            let p = decode_pel(value)?;
            g.pending.push(FullPending {
                id: trailing_id(sub)?,
                consumer: p.consumer,
                delivery_time: p.delivery_time,
                delivery_count: p.delivery_count,
            });
        }
        drop(it);
        let lower = group_range(TAG_CONSUMER, rec.gid);
        let mut it = loc.walk(&lower, &after_prefix(&lower), false);
        while let Some((sub, value)) = it.next()? {
            let c = decode_consumer(value)?;
            let name = sub[lower.len()..].to_vec();
            let prefix = cpel_prefix(rec.gid, &name);
            let mut pit = loc.walk(&prefix, &after_prefix(&prefix), false);
            let mut pending = Vec::new();
            while cap(pending.len()) {
                let Some((psub, _)) = pit.next()? else {
                    break;
                };
                let id = trailing_id(psub)?;
                let p = loc
                    .get(&pel_sub(rec.gid, id))?
                    .ok_or_else(|| corrupt("consumer pending entry missing from the group"))?;
                let p = decode_pel(&p)?;
                pending.push(FullPending {
                    id,
                    consumer: Vec::new(),
                    delivery_time: p.delivery_time,
                    delivery_count: p.delivery_count,
                });
            }
            g.consumers.push(FullConsumer {
                name,
                seen_time: c.seen_time,
                pel_count: c.pel_count,
                pending,
            });
        }
        g.pending.shrink_to_fit();
        info.groups.push(g);
    }
    Ok(info)
}

/// Whether `id` names an existing entry (for tests and tools).
#[allow(dead_code)]
pub(crate) fn entry_exists(db: &Db<'_>, key: &[u8], version: u64, id: StreamId) -> Result<bool> {
    Loc {
        db: *db,
        key,
        version,
    }
    .entry_exists(id)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(ms: u64, seq: u64) -> StreamId {
        StreamId { ms, seq }
    }

    fn header(first: StreamId, last: StreamId, max_deleted: StreamId, added: u64) -> Header {
        Header {
            last_id: last,
            first_id: first,
            max_deleted,
            entries_added: added,
            groups: 1,
            next_gid: 1,
        }
    }

    fn group(last: StreamId, read: i64) -> GroupRec {
        GroupRec {
            gid: 0,
            last_id: last,
            entries_read: read,
            pel_count: 0,
            consumers: 0,
        }
    }

    #[test]
    fn lag_follows_redis() {
        // Entries 1..=3 added, 3-0 left alone (XTRIM removed two).
        let h = header(id(3, 0), id(3, 0), MIN, 3);
        for (last, want) in [
            (id(0, 0), Some(1)),
            (id(2, 0), Some(1)),
            (id(3, 0), Some(0)),
            (id(4, 0), None),
        ] {
            assert_eq!(
                lag(&h, 1, &group(last, INVALID_ENTRIES_READ)),
                want,
                "{last}"
            );
        }
        // The only entry deleted: the stream is empty, its last ID is 3-0.
        let h = header(MIN, id(3, 0), id(3, 0), 3);
        assert_eq!(lag(&h, 0, &group(id(0, 0), INVALID_ENTRIES_READ)), Some(0));
        assert_eq!(lag(&h, 0, &group(id(4, 0), INVALID_ENTRIES_READ)), None);
        // A valid counter and no tombstone ahead: added minus read.
        let h = header(id(1, 0), id(5, 0), MIN, 5);
        assert_eq!(lag(&h, 5, &group(id(2, 0), 2)), Some(3));
        // A tombstone ahead of the group makes the counter unusable.
        let h = header(id(1, 0), id(5, 0), id(4, 0), 5);
        assert_eq!(lag(&h, 4, &group(id(2, 0), 2)), None);
        // A never-used stream lags 0.
        assert_eq!(
            lag(&Header::default(), 0, &group(MIN, INVALID_ENTRIES_READ)),
            Some(0)
        );
    }

    #[test]
    fn delivering_advances_the_read_counter() {
        let h = header(id(1, 0), id(3, 0), MIN, 3);
        let mut g = group(MIN, INVALID_ENTRIES_READ);
        advance_group(&mut g, &h, 3, id(1, 0));
        assert_eq!((g.last_id, g.entries_read), (id(1, 0), 1));
        advance_group(&mut g, &h, 3, id(2, 0));
        assert_eq!(g.entries_read, 2);
        // Older IDs (history) do not move it.
        advance_group(&mut g, &h, 3, id(1, 0));
        assert_eq!((g.last_id, g.entries_read), (id(2, 0), 2));
    }
}
