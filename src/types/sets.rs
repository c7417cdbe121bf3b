//! Sets as typed operations over the versioned sub-key layout.
//!
//! A set's metadata is a collection header of type [`ValueType::Set`] whose count is the number of
//! members; each member is one sub-key in `data` (sub-key = member bytes, value empty), so members
//! iterate in byte order. Writes hold the key lock(s) and commit one batch; reads take no lock.
//!
//! Random picks (SPOP, SRANDMEMBER) never load a large set: a pick seeks to a random byte string
//! between the first and the last member and takes the next member (wrapping). Small sets, and
//! requests for a large share of a set, are served by loading the members and sampling exactly.

use super::collection::{self, Target};
use super::Result;
use crate::storage::subkeys::SubCf;
use crate::storage::{Db, Meta, ValueType};
use crate::types::keyspace::ScanCursors;
use crate::util::glob::glob_match;
use crate::util::num::parse_i64;
use bytes::Bytes;
use rand::seq::IndexedRandom;
use rand::Rng;
use std::collections::HashSet;

const T: ValueType = ValueType::Set;
/// Redis 7.0's default `set-max-intset-entries`.
pub const INTSET_MAX_ENTRIES: u64 = 512;
/// At or below this size random picks load the whole set and sample it exactly.
const SMALL_SET: u64 = 64;
/// Members probed per batched lookup.
const CHUNK: usize = 256;

/// The live metadata of a set; None if missing; WRONGTYPE if the key holds another type.
pub fn lookup(db: &Db<'_>, key: &[u8]) -> Result<Option<Meta>> {
    collection::read(db, key, T)
}

/// Every member of a set version, in byte order.
fn all_members(db: &Db<'_>, key: &[u8], meta: &Meta) -> Result<Vec<Bytes>> {
    let mut out = Vec::with_capacity(meta.count().min(1 << 16) as usize);
    let mut it = db.iter_subs(SubCf::Data, key, meta.version(), None, false);
    while let Some((m, _)) = it.next()? {
        out.push(Bytes::copy_from_slice(m));
    }
    Ok(out)
}

/// Which of `members` a set version holds, in order.
fn contains_many(db: &Db<'_>, key: &[u8], version: u64, members: &[&[u8]]) -> Result<Vec<bool>> {
    let mut out = Vec::with_capacity(members.len());
    for chunk in members.chunks(CHUNK) {
        for r in db.get_subs(SubCf::Data, key, version, chunk)? {
            out.push(r.is_some());
        }
    }
    Ok(out)
}

/// SADD: the number of members that were not present.
pub fn add(db: &Db<'_>, key: &[u8], members: &[&[u8]]) -> Result<u64> {
    let _guard = db.lock(key);
    let mut target = Target::load(db, key, T)?;
    let mut uniq: Vec<&[u8]> = members.to_vec();
    uniq.sort_unstable();
    uniq.dedup();
    let present = match target.version() {
        Some(v) => contains_many(db, key, v, &uniq)?,
        None => vec![false; uniq.len()],
    };
    let new: Vec<&[u8]> = uniq
        .into_iter()
        .zip(present)
        .filter_map(|(m, p)| (!p).then_some(m))
        .collect();
    if new.is_empty() {
        return Ok(0);
    }
    let version = target.version_or_new(db)?;
    let mut batch = db.batch();
    for m in &new {
        batch.put_sub(SubCf::Data, db.phys, key, version, m, b"");
    }
    let added = new.len() as u64;
    target.store(&mut batch, db, key, target.count() + added, &[]);
    batch.commit()?;
    Ok(added)
}

/// SREM: the number of members removed; the key disappears with its last member.
pub fn remove(db: &Db<'_>, key: &[u8], members: &[&[u8]]) -> Result<u64> {
    let _guard = db.lock(key);
    let target = Target::load(db, key, T)?;
    let Some(version) = target.version() else {
        return Ok(0);
    };
    let mut uniq: Vec<&[u8]> = members.to_vec();
    uniq.sort_unstable();
    uniq.dedup();
    let present = contains_many(db, key, version, &uniq)?;
    let mut batch = db.batch();
    let mut removed = 0u64;
    for (m, p) in uniq.into_iter().zip(present) {
        if p {
            batch.delete_sub(SubCf::Data, db.phys, key, version, m);
            removed += 1;
        }
    }
    if removed == 0 {
        return Ok(0);
    }
    target.store(
        &mut batch,
        db,
        key,
        target.count().saturating_sub(removed),
        &[],
    );
    batch.commit()?;
    Ok(removed)
}

/// SISMEMBER.
pub fn is_member(db: &Db<'_>, key: &[u8], member: &[u8]) -> Result<bool> {
    let Some(meta) = lookup(db, key)? else {
        return Ok(false);
    };
    Ok(db
        .get_sub(SubCf::Data, key, meta.version(), member)?
        .is_some())
}

/// SMISMEMBER: membership of each member, in order.
pub fn mis_member(db: &Db<'_>, key: &[u8], members: &[&[u8]]) -> Result<Vec<bool>> {
    match lookup(db, key)? {
        Some(meta) => contains_many(db, key, meta.version(), members),
        None => Ok(vec![false; members.len()]),
    }
}

/// SCARD.
pub fn card(db: &Db<'_>, key: &[u8]) -> Result<u64> {
    Ok(lookup(db, key)?.map_or(0, |m| m.count()))
}

/// SMEMBERS, in byte order.
pub fn members(db: &Db<'_>, key: &[u8]) -> Result<Vec<Bytes>> {
    match lookup(db, key)? {
        Some(meta) => all_members(db, key, &meta),
        None => Ok(Vec::new()),
    }
}

// ---------------------------------------------------------------------------------------------
// Random picks
// ---------------------------------------------------------------------------------------------

/// Random seek targets within one set version, shaped like its members: a sample of the first
/// and last members gives the common prefix, the range of the first differing byte and the byte
/// alphabet of the rest. A quarter of the targets use arbitrary bytes instead, so no member is
/// out of reach because of the sample.
struct Sampler {
    prefix: Vec<u8>,
    lo: u8,
    hi: u8,
    alphabet: Vec<u8>,
    tail: usize,
}

/// Members sampled from each end of the set for [`Sampler`].
const SAMPLE: usize = 32;

impl Sampler {
    fn new(db: &Db<'_>, key: &[u8], version: u64) -> Result<Option<Sampler>> {
        let mut sample: Vec<Vec<u8>> = Vec::with_capacity(2 * SAMPLE);
        for reverse in [false, true] {
            let mut it = db.iter_subs(SubCf::Data, key, version, None, reverse);
            let mut taken = 0;
            while let Some((m, _)) = it.next()? {
                sample.push(m.to_vec());
                taken += 1;
                if taken == SAMPLE {
                    break;
                }
            }
        }
        sample.sort_unstable();
        let (Some(first), Some(last)) = (sample.first(), sample.last()) else {
            return Ok(None);
        };
        let p = first
            .iter()
            .zip(last.iter())
            .take_while(|(a, b)| a == b)
            .count();
        let lo = first.get(p).copied().unwrap_or(0);
        let hi = last.get(p).copied().unwrap_or(0xff);
        let mut alphabet: Vec<u8> = sample
            .iter()
            .flat_map(|m| m.get(p..).unwrap_or_default().iter().copied())
            .collect();
        alphabet.sort_unstable();
        alphabet.dedup();
        if alphabet.is_empty() {
            alphabet.push(0);
        }
        let tail = sample
            .iter()
            .map(|m| m.len().saturating_sub(p))
            .max()
            .unwrap_or(0)
            .clamp(1, 32);
        Ok(Some(Sampler {
            prefix: first[..p].to_vec(),
            lo: lo.min(hi),
            hi: hi.max(lo),
            alphabet,
            tail,
        }))
    }

    fn target(&self, rng: &mut impl Rng) -> Vec<u8> {
        let mut t = self.prefix.clone();
        if rng.random_range(0..4) == 0 {
            let len = rng.random_range(0..=self.tail + 8);
            t.extend((0..len).map(|_| rng.random::<u8>()));
            return t;
        }
        let in_range: Vec<u8> = self
            .alphabet
            .iter()
            .copied()
            .filter(|b| (self.lo..=self.hi).contains(b))
            .collect();
        t.push(match in_range.choose(rng) {
            Some(&b) => b,
            None => rng.random_range(self.lo..=self.hi),
        });
        let len = rng.random_range(0..self.tail);
        t.extend((0..len).filter_map(|_| self.alphabet.choose(rng).copied()));
        t
    }
}

/// The first member at or after `target` that is not in `taken`, wrapping around once, after
/// skipping `skip` such members (fewer if the set runs out).
fn member_from(
    db: &Db<'_>,
    key: &[u8],
    version: u64,
    target: &[u8],
    taken: &HashSet<Bytes>,
    mut skip: u32,
) -> Result<Option<Bytes>> {
    let mut fallback = None;
    for from in [Some(target), None] {
        let mut it = db.iter_subs(SubCf::Data, key, version, from, false);
        while let Some((m, _)) = it.next()? {
            if !taken.contains(m) {
                if skip == 0 {
                    return Ok(Some(Bytes::copy_from_slice(m)));
                }
                skip -= 1;
                if fallback.is_none() {
                    fallback = Some(Bytes::copy_from_slice(m));
                }
            }
        }
    }
    Ok(fallback)
}

/// Picks `k` members of a set: distinct ones (`k` below the set's size) or, with `distinct`
/// false, independent picks that may repeat. Work and memory are bounded by the set's size and
/// `k`; a large set is never loaded for a small `k`.
fn pick(db: &Db<'_>, key: &[u8], meta: &Meta, k: u64, distinct: bool) -> Result<Vec<Bytes>> {
    let n = meta.count();
    let mut rng = rand::rng();
    if n <= SMALL_SET || k.saturating_mul(4) >= n {
        let mut all = all_members(db, key, meta)?;
        if all.is_empty() {
            return Ok(all);
        }
        let len = all.len();
        if distinct {
            let k = (k as usize).min(len);
            for i in 0..k {
                let j = rng.random_range(i..len);
                all.swap(i, j);
            }
            all.truncate(k);
            return Ok(all);
        }
        return Ok((0..k)
            .map(|_| all[rng.random_range(0..len)].clone())
            .collect());
    }
    let Some(sampler) = Sampler::new(db, key, meta.version())? else {
        return Ok(Vec::new());
    };
    let mut out = Vec::with_capacity(k as usize);
    let mut taken = HashSet::new();
    let none = HashSet::new();
    for _ in 0..k {
        let target = sampler.target(&mut rng);
        let skip = if distinct { &taken } else { &none };
        let steps = rng.random_range(0..4);
        let Some(m) = member_from(db, key, meta.version(), &target, skip, steps)? else {
            break;
        };
        if distinct {
            taken.insert(m.clone());
        }
        out.push(m);
    }
    Ok(out)
}

/// SPOP without a count: one random member, removed.
pub fn pop_one(db: &Db<'_>, key: &[u8]) -> Result<Option<Bytes>> {
    let _guard = db.lock(key);
    let target = Target::load(db, key, T)?;
    let Some(meta) = target.meta().cloned() else {
        return Ok(None);
    };
    let Some(m) = pick(db, key, &meta, 1, true)?.pop() else {
        return Ok(None);
    };
    let mut batch = db.batch();
    batch.delete_sub(SubCf::Data, db.phys, key, meta.version(), &m);
    target.store(&mut batch, db, key, meta.count().saturating_sub(1), &[]);
    batch.commit()?;
    Ok(Some(m))
}

/// SPOP with a count: up to `count` distinct random members, removed. A count at least the
/// set's size pops the whole set (and deletes the key).
pub fn pop_count(db: &Db<'_>, key: &[u8], count: u64) -> Result<Vec<Bytes>> {
    let _guard = db.lock(key);
    let target = Target::load(db, key, T)?;
    let Some(meta) = target.meta().cloned() else {
        return Ok(Vec::new());
    };
    if count == 0 {
        return Ok(Vec::new());
    }
    let n = meta.count();
    let mut batch = db.batch();
    if count >= n {
        let all = all_members(db, key, &meta)?;
        target.store(&mut batch, db, key, 0, &[]);
        batch.commit()?;
        return Ok(all);
    }
    let popped = pick(db, key, &meta, count, true)?;
    for m in &popped {
        batch.delete_sub(SubCf::Data, db.phys, key, meta.version(), m);
    }
    let left = n.saturating_sub(popped.len() as u64);
    target.store(&mut batch, db, key, left, &[]);
    batch.commit()?;
    Ok(popped)
}

/// SRANDMEMBER without a count.
pub fn rand_one(db: &Db<'_>, key: &[u8]) -> Result<Option<Bytes>> {
    let Some(meta) = lookup(db, key)? else {
        return Ok(None);
    };
    Ok(pick(db, key, &meta, 1, true)?.pop())
}

/// SRANDMEMBER with a count: distinct members for a positive count (the whole set when it is at
/// least the size), `-count` independent picks for a negative one. None when a negative count
/// asks for more than `max_repeats` picks from an existing set (the reply would not fit).
pub fn rand_count(
    db: &Db<'_>,
    key: &[u8],
    count: i64,
    max_repeats: u64,
) -> Result<Option<Vec<Bytes>>> {
    let Some(meta) = lookup(db, key)? else {
        return Ok(Some(Vec::new()));
    };
    if count == 0 {
        return Ok(Some(Vec::new()));
    }
    if count > 0 {
        let k = count as u64;
        if k >= meta.count() {
            return all_members(db, key, &meta).map(Some);
        }
        return pick(db, key, &meta, k, true).map(Some);
    }
    let k = count.unsigned_abs();
    if k > max_repeats {
        return Ok(None);
    }
    pick(db, key, &meta, k, false).map(Some)
}

/// SMOVE: whether the member was moved. Redis's order of checks: a missing source answers 0
/// (whatever the destination holds), then both types are checked.
pub fn smove(db: &Db<'_>, src: &[u8], dst: &[u8], member: &[u8]) -> Result<bool> {
    let _guard = db.lock_keys([src, dst]);
    let source = Target::load(db, src, T)?;
    let Some(src_version) = source.version() else {
        return Ok(false);
    };
    if src == dst {
        return Ok(db.get_sub(SubCf::Data, src, src_version, member)?.is_some());
    }
    let mut dest = Target::load(db, dst, T)?;
    if db.get_sub(SubCf::Data, src, src_version, member)?.is_none() {
        return Ok(false);
    }
    let mut batch = db.batch();
    batch.delete_sub(SubCf::Data, db.phys, src, src_version, member);
    source.store(&mut batch, db, src, source.count().saturating_sub(1), &[]);
    let in_dst = match dest.version() {
        Some(v) => db.get_sub(SubCf::Data, dst, v, member)?.is_some(),
        None => false,
    };
    if !in_dst {
        let v = dest.version_or_new(db)?;
        batch.put_sub(SubCf::Data, db.phys, dst, v, member, b"");
        dest.store(&mut batch, db, dst, dest.count() + 1, &[]);
    }
    batch.commit()?;
    Ok(true)
}

// ---------------------------------------------------------------------------------------------
// Multi-key operations
// ---------------------------------------------------------------------------------------------

/// The set operation of SINTER/SUNION/SDIFF and their STORE forms.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SetOp {
    Inter,
    Union,
    Diff,
}

/// The live metadata of every key (None = missing = empty set); WRONGTYPE if any key holds
/// another type, as Redis checks every key.
fn metas(db: &Db<'_>, keys: &[&[u8]]) -> Result<Vec<Option<Meta>>> {
    keys.iter().map(|k| lookup(db, k)).collect()
}

/// Walks the members of one set version in chunks, calling `f` per chunk until it says stop.
fn for_chunks(
    db: &Db<'_>,
    key: &[u8],
    version: u64,
    mut f: impl FnMut(&[Bytes]) -> Result<bool>,
) -> Result<()> {
    let mut it = db.iter_subs(SubCf::Data, key, version, None, false);
    let mut chunk = Vec::with_capacity(CHUNK);
    loop {
        let m = it.next()?.map(|(m, _)| Bytes::copy_from_slice(m));
        let end = m.is_none();
        if let Some(m) = m {
            chunk.push(m);
        }
        if (end || chunk.len() >= CHUNK) && !chunk.is_empty() {
            if !f(&chunk)? {
                return Ok(());
            }
            chunk.clear();
        }
        if end {
            return Ok(());
        }
    }
}

/// The intersection (or, without `collect`, only its size), stopping at `limit` members when
/// nonzero. Iterates the smallest set and probes the others.
fn inter_walk(db: &Db<'_>, keys: &[&[u8]], limit: u64, collect: bool) -> Result<(u64, Vec<Bytes>)> {
    let metas = metas(db, keys)?;
    let mut sets: Vec<(&[u8], Meta)> = Vec::with_capacity(keys.len());
    for (k, m) in keys.iter().zip(metas) {
        match m {
            Some(m) => sets.push((k, m)),
            None => return Ok((0, Vec::new())),
        }
    }
    sets.sort_by_key(|(_, m)| m.count());
    let Some(((first_key, first), others)) = sets.split_first() else {
        return Ok((0, Vec::new()));
    };
    let mut found = 0u64;
    let mut out = Vec::new();
    for_chunks(db, first_key, first.version(), |chunk| {
        let mut keep = vec![true; chunk.len()];
        for (k, m) in others {
            if k == first_key {
                continue;
            }
            let probe: Vec<&[u8]> = chunk
                .iter()
                .zip(&keep)
                .filter_map(|(c, &kept)| kept.then_some(&c[..]))
                .collect();
            if probe.is_empty() {
                break;
            }
            let present = contains_many(db, k, m.version(), &probe)?;
            let mut present = present.into_iter();
            for kept in keep.iter_mut().filter(|k| **k) {
                *kept = present.next().unwrap_or(false);
            }
        }
        for (c, kept) in chunk.iter().zip(keep) {
            if kept {
                found += 1;
                if collect {
                    out.push(c.clone());
                }
                if limit != 0 && found >= limit {
                    return Ok(false);
                }
            }
        }
        Ok(true)
    })?;
    Ok((found, out))
}

/// SINTER.
pub fn inter(db: &Db<'_>, keys: &[&[u8]]) -> Result<Vec<Bytes>> {
    Ok(inter_walk(db, keys, 0, true)?.1)
}

/// SINTERCARD: the intersection's size, counting stops at `limit` when nonzero.
pub fn inter_card(db: &Db<'_>, keys: &[&[u8]], limit: u64) -> Result<u64> {
    Ok(inter_walk(db, keys, limit, false)?.0)
}

/// SUNION, in byte order.
pub fn union(db: &Db<'_>, keys: &[&[u8]]) -> Result<Vec<Bytes>> {
    let metas = metas(db, keys)?;
    let mut out = Vec::new();
    for (k, m) in keys.iter().zip(metas) {
        if let Some(m) = m {
            out.extend(all_members(db, k, &m)?);
        }
    }
    out.sort_unstable();
    out.dedup();
    Ok(out)
}

/// SDIFF: the members of the first set in none of the others, in byte order.
pub fn diff(db: &Db<'_>, keys: &[&[u8]]) -> Result<Vec<Bytes>> {
    let metas = metas(db, keys)?;
    let (Some(first_key), Some(Some(first))) = (keys.first(), metas.first()) else {
        return Ok(Vec::new());
    };
    let others: Vec<(&[u8], &Meta)> = keys
        .iter()
        .zip(&metas)
        .skip(1)
        .filter_map(|(k, m)| m.as_ref().map(|m| (*k, m)))
        .collect();
    if others.iter().any(|(k, _)| k == first_key) {
        return Ok(Vec::new());
    }
    let mut out = Vec::new();
    for_chunks(db, first_key, first.version(), |chunk| {
        let mut keep = vec![true; chunk.len()];
        for (k, m) in &others {
            let probe: Vec<&[u8]> = chunk
                .iter()
                .zip(&keep)
                .filter_map(|(c, &kept)| kept.then_some(&c[..]))
                .collect();
            if probe.is_empty() {
                break;
            }
            let present = contains_many(db, k, m.version(), &probe)?;
            let mut present = present.into_iter();
            for kept in keep.iter_mut().filter(|k| **k) {
                *kept = !present.next().unwrap_or(false);
            }
        }
        out.extend(
            chunk
                .iter()
                .zip(keep)
                .filter(|(_, kept)| *kept)
                .map(|(c, _)| c.clone()),
        );
        Ok(true)
    })?;
    Ok(out)
}

/// The result of a set operation.
pub fn compute(db: &Db<'_>, op: SetOp, keys: &[&[u8]]) -> Result<Vec<Bytes>> {
    match op {
        SetOp::Inter => inter(db, keys),
        SetOp::Union => union(db, keys),
        SetOp::Diff => diff(db, keys),
    }
}

/// SINTERSTORE / SUNIONSTORE / SDIFFSTORE: stores the result in `dest` (whatever it held, under
/// a fresh version and without TTL) and returns its size; an empty result deletes `dest`. Every
/// key is locked for the whole operation.
pub fn store(db: &Db<'_>, dest: &[u8], op: SetOp, keys: &[&[u8]]) -> Result<u64> {
    let _guard = db.lock_keys(keys.iter().copied().chain([dest]));
    let result = compute(db, op, keys)?;
    let raw = db.meta_raw(dest)?;
    let mut batch = db.batch();
    let n = result.len() as u64;
    if n == 0 {
        if let Some(raw) = &raw {
            batch.delete_key(db.phys, dest, raw);
        }
    } else {
        let version = db.store.next_version()?;
        for m in &result {
            batch.put_sub(SubCf::Data, db.phys, dest, version, m, b"");
        }
        let meta = Meta::encode_collection(T, 0, version, n);
        batch.put_meta(db.phys, dest, raw.as_ref(), &meta);
    }
    batch.commit()?;
    Ok(n)
}

// ---------------------------------------------------------------------------------------------
// SSCAN and encoding
// ---------------------------------------------------------------------------------------------

/// The encoding Redis 7.0 would report for a set of these members: "intset" when it has at most
/// 512 members and every one is a canonical 64-bit integer, else "hashtable". (Redis keeps a set
/// that once held a non-integer as a hashtable; Basalt decides from the current members.)
pub fn encoding(db: &Db<'_>, key: &[u8], meta: &Meta) -> Result<&'static str> {
    if meta.count() > INTSET_MAX_ENTRIES {
        return Ok("hashtable");
    }
    let mut it = db.iter_subs(SubCf::Data, key, meta.version(), None, false);
    while let Some((m, _)) = it.next()? {
        if parse_i64(m).is_none() {
            return Ok("hashtable");
        }
    }
    Ok("intset")
}

/// What a SSCAN cursor remembers: the set (key and version) and the last member returned.
fn cursor_tag(key: &[u8], version: u64) -> Vec<u8> {
    let mut t = Vec::with_capacity(17 + key.len());
    t.extend_from_slice(b"S");
    t.extend_from_slice(&(key.len() as u32).to_be_bytes());
    t.extend_from_slice(key);
    t.extend_from_slice(&version.to_be_bytes());
    t
}

/// SSCAN over a live set (`meta` from [`lookup`]). An intset-sized set of integers comes back
/// whole with cursor 0, as in Redis 7.0. Otherwise up to `count` members after the cursor's
/// position are examined and filtered by `pattern`; the position is kept in the bounded cursor
/// table, and an unknown cursor restarts from the beginning.
pub fn scan(
    db: &Db<'_>,
    cursors: &ScanCursors,
    key: &[u8],
    meta: &Meta,
    cursor: u64,
    pattern: Option<&[u8]>,
    count: u64,
) -> Result<(u64, Vec<Bytes>)> {
    let pattern = pattern.filter(|p| *p != b"*");
    let matches = |m: &[u8]| pattern.is_none_or(|p| glob_match(p, m, false));
    if encoding(db, key, meta)? == "intset" {
        let mut all = all_members(db, key, meta)?;
        all.retain(|m| matches(m));
        return Ok((0, all));
    }
    let tag = cursor_tag(key, meta.version());
    let after: Option<Vec<u8>> = match cursor {
        0 => None,
        c => cursors
            .take(c, db.phys)
            .and_then(|pos| pos.strip_prefix(tag.as_slice()).map(<[u8]>::to_vec)),
    };
    let mut it = db.iter_subs(SubCf::Data, key, meta.version(), after.as_deref(), false);
    let mut out = Vec::new();
    let mut examined = 0u64;
    let mut last: Option<Vec<u8>> = None;
    let mut more = false;
    while let Some((m, _)) = it.next()? {
        if after.as_deref() == Some(m) {
            continue;
        }
        if examined >= count {
            more = true;
            break;
        }
        examined += 1;
        if matches(m) {
            out.push(Bytes::copy_from_slice(m));
        }
        last = Some(m.to_vec());
    }
    let next = match (more, last) {
        (true, Some(last)) => {
            let mut pos = tag;
            pos.extend_from_slice(&last);
            cursors.insert(db.phys, pos)
        }
        _ => 0,
    };
    Ok((next, out))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursor_tags_separate_keys_and_versions() {
        assert_ne!(cursor_tag(b"k", 1), cursor_tag(b"k", 2));
        assert!(!cursor_tag(b"k\0", 1).starts_with(&cursor_tag(b"k", 1)));
    }
}
