//! Sorted sets as typed operations over the versioned sub-key layout.
//!
//! Every member has two sub-keys, always written in the same batch:
//! - `data`: sub-key = member, value = the score as 8 bytes (`f64::to_be_bytes`), for point
//!   lookups (ZSCORE, ZADD's read of the current score, ZINTER/ZDIFF probes);
//! - `zscore`: sub-key = [`encode_score`]`(score) · member`, empty value: the ordered index. Its
//!   byte order is score order and, for equal scores, member byte order, which is exactly Redis's
//!   rank order, so score ranges are one seek plus a bounded walk.
//!
//! The metadata is a [`ValueType::ZSet`] collection whose count is the number of members.
//!
//! Signed zero: scores are normalized to `+0.0` on write. Redis 7.0 does the same for small
//! (listpack-encoded) sorted sets, whose integer-valued scores are stored as integers, but keeps
//! `-0` in big (skiplist-encoded) ones, where `ZSCORE` then replies `-0`. Basalt always replies
//! `0` for a stored score; computed results that are not stored (ZADD INCR's reply, ZUNION /
//! ZINTER replies) keep the sign Redis computes.

use super::collection::{self, Target};
use super::{Result, TypeError};
use crate::storage::encoding::{decode_score, encode_score, prefix_end};
use crate::storage::subkeys::{SubCf, SubIter};
use crate::storage::{Batch, Db, Meta, StoreError, ValueType};
use std::cmp::Ordering;
use std::collections::{HashMap, HashSet};

/// A member and its score.
pub type Entry = (Vec<u8>, f64);

/// Redis's `zset-max-listpack-entries` default.
pub const LISTPACK_MAX_ENTRIES: u64 = 128;
/// Redis's `zset-max-listpack-value` default.
pub const LISTPACK_MAX_VALUE: usize = 64;

/// Members probed per multi-get when intersecting or diffing.
const PROBE_CHUNK: usize = 1024;

/// `-0.0` becomes `0.0` (see the module docs).
fn normalize(score: f64) -> f64 {
    if score == 0.0 {
        0.0
    } else {
        score
    }
}

/// The `data` value of a member.
fn score_value(score: f64) -> [u8; 8] {
    normalize(score).to_bits().to_be_bytes()
}

fn parse_score_value(v: &[u8]) -> Result<f64> {
    let b: [u8; 8] = v
        .try_into()
        .map_err(|_| StoreError::Corrupt("zset score value is not 8 bytes"))?;
    Ok(f64::from_bits(u64::from_be_bytes(b)))
}

/// The `zscore` sub-key of a member.
fn index_sub(score: f64, member: &[u8]) -> Vec<u8> {
    let mut s = Vec::with_capacity(8 + member.len());
    s.extend_from_slice(&encode_score(score));
    s.extend_from_slice(member);
    s
}

pub(crate) fn parse_index_sub(sub: &[u8]) -> Result<(f64, &[u8])> {
    let b: [u8; 8] = sub
        .get(..8)
        .and_then(|b| b.try_into().ok())
        .ok_or(StoreError::Corrupt("zset index key too short"))?;
    Ok((decode_score(b), &sub[8..]))
}

/// Compares (member, score) pairs in Redis's rank order. Scores are never NaN.
fn rank_order(a: &Entry, b: &Entry) -> Ordering {
    a.1.partial_cmp(&b.1)
        .unwrap_or(Ordering::Equal)
        .then_with(|| a.0.cmp(&b.0))
}

/// A score interval, as ZRANGEBYSCORE and friends take it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ScoreRange {
    pub min: f64,
    pub minex: bool,
    pub max: f64,
    pub maxex: bool,
}

impl ScoreRange {
    pub fn gte_min(&self, v: f64) -> bool {
        if self.minex {
            v > self.min
        } else {
            v >= self.min
        }
    }

    pub fn lte_max(&self, v: f64) -> bool {
        if self.maxex {
            v < self.max
        } else {
            v <= self.max
        }
    }

    /// Ranges that can never match anything (Redis's `zslIsInRange` first test).
    pub fn is_empty(&self) -> bool {
        self.min > self.max || (self.min == self.max && (self.minex || self.maxex))
    }
}

/// One end of a lexicographic range: `-`, `+`, `[member` or `(member`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LexBound {
    /// `-`: below every string.
    Min,
    /// `+`: above every string.
    Max,
    Incl(Vec<u8>),
    Excl(Vec<u8>),
}

impl LexBound {
    /// Redis's `sdscmplex` between two range items.
    fn cmp_items(a: &LexBound, b: &LexBound) -> Ordering {
        use LexBound::*;
        match (a, b) {
            (Min, Min) | (Max, Max) => Ordering::Equal,
            (Min, _) | (_, Max) => Ordering::Less,
            (Max, _) | (_, Min) => Ordering::Greater,
            (Incl(x) | Excl(x), Incl(y) | Excl(y)) => x.cmp(y),
        }
    }

    fn exclusive(&self) -> bool {
        !matches!(self, LexBound::Incl(_))
    }
}

/// A lexicographic interval, as ZRANGEBYLEX and friends take it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LexRange {
    pub min: LexBound,
    pub max: LexBound,
}

impl LexRange {
    pub fn gte_min(&self, v: &[u8]) -> bool {
        match &self.min {
            LexBound::Min => true,
            LexBound::Max => false,
            LexBound::Incl(s) => v >= s.as_slice(),
            LexBound::Excl(s) => v > s.as_slice(),
        }
    }

    pub fn lte_max(&self, v: &[u8]) -> bool {
        match &self.max {
            LexBound::Min => false,
            LexBound::Max => true,
            LexBound::Incl(s) => v <= s.as_slice(),
            LexBound::Excl(s) => v < s.as_slice(),
        }
    }

    /// Ranges that can never match anything.
    pub fn is_empty(&self) -> bool {
        match LexBound::cmp_items(&self.min, &self.max) {
            Ordering::Greater => true,
            Ordering::Equal => self.min.exclusive() || self.max.exclusive(),
            Ordering::Less => false,
        }
    }
}

/// What a range command selects.
#[derive(Clone, Debug, PartialEq)]
pub enum RangeQuery {
    /// Ranks `start..=end` (negative counts from the end), as ZRANGE takes them.
    Rank { start: i64, end: i64 },
    /// A score interval with LIMIT offset/count (count < 0: no limit).
    Score {
        range: ScoreRange,
        offset: i64,
        limit: i64,
    },
    /// A lex interval with LIMIT offset/count (count < 0: no limit).
    Lex {
        range: LexRange,
        offset: i64,
        limit: i64,
    },
}

/// ZADD's options (CH only changes the reply, so it is not here).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct AddFlags {
    pub nx: bool,
    pub xx: bool,
    pub gt: bool,
    pub lt: bool,
    pub incr: bool,
}

/// What a ZADD did.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct AddOutcome {
    pub added: u64,
    pub updated: u64,
    /// Elements not skipped by NX/XX/GT/LT.
    pub processed: u64,
    /// The new score of the last processed element (ZADD INCR's reply).
    pub score: f64,
    /// INCR produced NaN: nothing was written.
    pub nan: bool,
}

/// ZUNION/ZINTER/ZDIFF.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SetOp {
    Union,
    Inter,
    Diff,
}

/// AGGREGATE of ZUNION/ZINTER.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Aggregate {
    Sum,
    Min,
    Max,
}

fn aggregate(target: &mut f64, val: f64, agg: Aggregate) {
    match agg {
        Aggregate::Sum => {
            *target += val;
            // inf + -inf: Redis's convention is 0.
            if target.is_nan() {
                *target = 0.0;
            }
        }
        Aggregate::Min => {
            if val < *target {
                *target = val;
            }
        }
        Aggregate::Max => {
            if val > *target {
                *target = val;
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Index walks
// ---------------------------------------------------------------------------------------------

/// A walk over the score index of one zset version, yielding owned (score, member) pairs.
struct IndexWalk<'a> {
    it: SubIter<'a>,
}

impl<'a> IndexWalk<'a> {
    fn new(db: &Db<'a>, key: &[u8], version: u64, from: Option<&[u8]>, rev: bool) -> Self {
        IndexWalk {
            it: db.iter_subs(SubCf::Score, key, version, from, rev),
        }
    }

    fn next(&mut self) -> Result<Option<(f64, Vec<u8>)>> {
        match self.it.next()? {
            Some((sub, _)) => {
                let (s, m) = parse_index_sub(sub)?;
                Ok(Some((s, m.to_vec())))
            }
            None => Ok(None),
        }
    }
}

/// The live zset metadata of `key` (None if missing; WRONGTYPE otherwise).
fn read(db: &Db<'_>, key: &[u8]) -> Result<Option<Meta>> {
    collection::read(db, key, ValueType::ZSet)
}

/// Redis's LIMIT walk: skips `offset` entries from `first` on without checking the range (a
/// negative offset walks off the end), then takes up to `limit` entries (negative: no limit)
/// while `keep` holds.
fn take_while(
    walk: &mut IndexWalk<'_>,
    first: (f64, Vec<u8>),
    offset: i64,
    limit: i64,
    keep: impl Fn(f64, &[u8]) -> bool,
) -> Result<Vec<Entry>> {
    if offset < 0 {
        return Ok(Vec::new());
    }
    let mut cur = Some(first);
    let mut skip = offset;
    while skip > 0 && cur.is_some() {
        cur = walk.next()?;
        skip -= 1;
    }
    let mut out = Vec::new();
    let mut left = limit;
    while let Some((s, m)) = cur {
        if left == 0 || !keep(s, &m) {
            break;
        }
        out.push((m, s));
        if left > 0 {
            left -= 1;
        }
        cur = walk.next()?;
    }
    Ok(out)
}

/// Entries of a zset selected by `q`, in reply order (reversed when `rev`).
fn range_in(db: &Db<'_>, key: &[u8], meta: &Meta, q: &RangeQuery, rev: bool) -> Result<Vec<Entry>> {
    let version = meta.version();
    let len = i64::try_from(meta.count()).unwrap_or(i64::MAX);
    match q {
        RangeQuery::Rank { start, end } => {
            let (mut start, mut end) = (*start, *end);
            if start < 0 {
                start = start.saturating_add(len);
            }
            if end < 0 {
                end = end.saturating_add(len);
            }
            if start < 0 {
                start = 0;
            }
            if start > end || start >= len {
                return Ok(Vec::new());
            }
            if end >= len {
                end = len - 1;
            }
            rank_slice(db, key, version, len, start, end, rev)
        }
        RangeQuery::Score {
            range,
            offset,
            limit,
        } => {
            if (*offset > 0 && *offset >= len) || range.is_empty() {
                return Ok(Vec::new());
            }
            let mut walk = if rev {
                let bound = encode_score(range.max);
                let from = if range.maxex {
                    Some(bound.to_vec())
                } else {
                    prefix_end(&bound)
                };
                IndexWalk::new(db, key, version, from.as_deref(), true)
            } else {
                let bound = encode_score(range.min);
                let from = if range.minex {
                    prefix_end(&bound).unwrap_or_else(|| bound.to_vec())
                } else {
                    bound.to_vec()
                };
                IndexWalk::new(db, key, version, Some(&from), false)
            };
            // The first entry in range (the seek lands at most a few equal-score entries off).
            let first = loop {
                let Some((s, m)) = walk.next()? else {
                    return Ok(Vec::new());
                };
                let (before, beyond) = if rev {
                    (!range.lte_max(s), !range.gte_min(s))
                } else {
                    (!range.gte_min(s), !range.lte_max(s))
                };
                if before {
                    continue;
                }
                if beyond {
                    return Ok(Vec::new());
                }
                break (s, m);
            };
            take_while(&mut walk, first, *offset, *limit, |s, _| {
                if rev {
                    range.gte_min(s)
                } else {
                    range.lte_max(s)
                }
            })
        }
        RangeQuery::Lex {
            range,
            offset,
            limit,
        } => {
            if *offset > 0 && *offset >= len {
                return Ok(Vec::new());
            }
            lex_range(db, key, version, range, *offset, *limit, rev)
        }
    }
}

/// Entries a range walk steps over before it re-seeks instead: a seek costs about as much as
/// this many steps.
const SEEK_AFTER_STEPS: usize = 16;

/// What a range walk does after an entry (see [`walk_score_ranges`]).
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Walk {
    /// On to the next entry.
    Next,
    /// On to the first entry scoring at least this much (within the current range).
    SkipTo(f64),
    /// The walk is over.
    Stop,
}

/// Calls `f(i, score, member)` for the members of the zset `meta` describes whose scores lie
/// in each `ranges[i]` in turn (each range in rank order), as `f` directs. One iterator serves
/// all the ranges: a position above the current one is reached by stepping forward when that
/// is short, by a seek otherwise; each walk stops at the first score past its range. Nothing
/// is copied: `f` sees the index entry's bytes.
pub fn walk_score_ranges(
    db: &Db<'_>,
    key: &[u8],
    meta: &Meta,
    ranges: &[ScoreRange],
    mut f: impl FnMut(usize, f64, &[u8]) -> Walk,
) -> Result<()> {
    let mut it: Option<SubIter<'_>> = None;
    // The range walked last: the iterator then sits on the first entry above it (or at the
    // end of the index).
    let mut after: Option<&ScoreRange> = None;
    for (i, range) in ranges.iter().enumerate() {
        if range.is_empty() {
            continue;
        }
        let reached = match (&mut it, after) {
            (Some(it), Some(prev))
                if range.min > prev.max || (range.min == prev.max && prev.maxex) =>
            {
                step_to(it, range)?
            }
            _ => false,
        };
        if !reached {
            let from = seek_key(range.min, range.minex);
            match &mut it {
                Some(it) => it.seek(&from),
                None => {
                    it = Some(db.iter_subs(SubCf::Score, key, meta.version(), Some(&from), false))
                }
            }
        }
        let Some(it) = it.as_mut() else {
            return Ok(());
        };
        // Reading is `current`, moving is `next`; the first `next` after a seek only marks
        // the entry read.
        if !reached {
            it.next()?;
        }
        while let Some((sub, _)) = it.current()? {
            let (s, m) = parse_index_sub(sub)?;
            if range.gte_min(s) {
                if !range.lte_max(s) {
                    break;
                }
                match f(i, s, m) {
                    Walk::Next => {}
                    Walk::Stop => return Ok(()),
                    Walk::SkipTo(to) if to > s => {
                        // A target past the range stops at the range's end, so the next range
                        // finds the iterator where a finished walk leaves it.
                        let (min, minex) = if to < range.max || (to == range.max && !range.maxex) {
                            (to, false)
                        } else {
                            (range.max, !range.maxex)
                        };
                        let rest = ScoreRange {
                            min,
                            minex,
                            ..*range
                        };
                        if !step_to(it, &rest)? {
                            it.seek(&seek_key(min, minex));
                            it.next()?;
                        }
                        continue;
                    }
                    Walk::SkipTo(_) => {}
                }
            }
            it.next()?;
        }
        after = Some(range);
    }
    Ok(())
}

/// The `zscore` sub-key to seek to for entries from `min` on (above it when `minex`).
fn seek_key(min: f64, minex: bool) -> Vec<u8> {
    let bound = encode_score(min);
    if minex {
        prefix_end(&bound).unwrap_or_else(|| bound.to_vec())
    } else {
        bound.to_vec()
    }
}

/// Steps `it` forward to the first entry of `range` when that takes at most
/// [`SEEK_AFTER_STEPS`] steps (true), else leaves it for a seek (false).
fn step_to(it: &mut SubIter<'_>, range: &ScoreRange) -> Result<bool> {
    for _ in 0..SEEK_AFTER_STEPS {
        let Some((sub, _)) = it.current()? else {
            return Ok(true);
        };
        if range.gte_min(parse_index_sub(sub)?.0) {
            return Ok(true);
        }
        it.next()?;
    }
    Ok(false)
}

/// Ranks `start..=end` (sanitized), in reply order, walking from the nearer end of the index.
fn rank_slice(
    db: &Db<'_>,
    key: &[u8],
    version: u64,
    len: i64,
    start: i64,
    end: i64,
    rev: bool,
) -> Result<Vec<Entry>> {
    // Positions in ascending (forward) order.
    let (lo, hi) = if rev {
        (len - 1 - end, len - 1 - start)
    } else {
        (start, end)
    };
    let n = hi - lo + 1;
    let backwards = lo > len - 1 - hi;
    let skip = if backwards { len - 1 - hi } else { lo };
    let mut walk = IndexWalk::new(db, key, version, None, backwards);
    for _ in 0..skip {
        if walk.next()?.is_none() {
            return Ok(Vec::new());
        }
    }
    let mut out = Vec::new();
    for _ in 0..n {
        match walk.next()? {
            Some((s, m)) => out.push((m, s)),
            None => break,
        }
    }
    // `out` is in walk order; reply order is forward unless `rev`.
    if backwards != rev {
        out.reverse();
    }
    Ok(out)
}

/// A lex range found the way Redis's listpack code finds it: when all scores are equal (the
/// only case Redis defines) this is the lexicographic range; otherwise it is the listpack's
/// answer (a linear scan in rank order), which is deterministic, unlike the skiplist's.
fn lex_range(
    db: &Db<'_>,
    key: &[u8],
    version: u64,
    range: &LexRange,
    offset: i64,
    limit: i64,
    rev: bool,
) -> Result<Vec<Entry>> {
    if range.is_empty() {
        return Ok(Vec::new());
    }
    let Some(first) = IndexWalk::new(db, key, version, None, false).next()? else {
        return Ok(Vec::new());
    };
    let Some(last) = IndexWalk::new(db, key, version, None, true).next()? else {
        return Ok(Vec::new());
    };
    // zzlIsInLexRange: the last element must be >= min and the first <= max.
    if !range.gte_min(&last.1) || !range.lte_max(&first.1) {
        return Ok(Vec::new());
    }
    // All scores equal: the index is in member order, so seek straight to the bound.
    let uniform = encode_score(first.0) == encode_score(last.0);
    let seek = |b: &LexBound| -> Option<Vec<u8>> {
        match b {
            LexBound::Incl(s) | LexBound::Excl(s) if uniform => Some(index_sub(first.0, s)),
            _ => None,
        }
    };
    let from = seek(if rev { &range.max } else { &range.min });
    let mut walk = IndexWalk::new(db, key, version, from.as_deref(), rev);
    let start = loop {
        let Some((s, m)) = walk.next()? else {
            return Ok(Vec::new());
        };
        let (found, ok) = if rev {
            (range.lte_max(&m), range.gte_min(&m))
        } else {
            (range.gte_min(&m), range.lte_max(&m))
        };
        if found {
            if !ok {
                return Ok(Vec::new());
            }
            break (s, m);
        }
    };
    take_while(&mut walk, start, offset, limit, |_, m| {
        if rev {
            range.gte_min(m)
        } else {
            range.lte_max(m)
        }
    })
}

// ---------------------------------------------------------------------------------------------
// Reads
// ---------------------------------------------------------------------------------------------

/// ZCARD.
pub fn card(db: &Db<'_>, key: &[u8]) -> Result<u64> {
    Ok(read(db, key)?.map_or(0, |m| m.count()))
}

/// ZSCORE.
pub fn score(db: &Db<'_>, key: &[u8], member: &[u8]) -> Result<Option<f64>> {
    let Some(meta) = read(db, key)? else {
        return Ok(None);
    };
    db.get_sub(SubCf::Data, key, meta.version(), member)?
        .map(|v| parse_score_value(&v))
        .transpose()
}

/// ZMSCORE: one optional score per member (all None when the key is missing).
pub fn mscore(db: &Db<'_>, key: &[u8], members: &[&[u8]]) -> Result<Vec<Option<f64>>> {
    let Some(meta) = read(db, key)? else {
        return Ok(vec![None; members.len()]);
    };
    db.get_subs(SubCf::Data, key, meta.version(), members)?
        .into_iter()
        .map(|v| v.map(|v| parse_score_value(&v)).transpose())
        .collect()
}

/// ZRANGE and all its variants. A missing key is an empty result.
pub fn range(db: &Db<'_>, key: &[u8], q: &RangeQuery, rev: bool) -> Result<Vec<Entry>> {
    match read(db, key)? {
        Some(meta) => range_in(db, key, &meta, q, rev),
        None => Ok(Vec::new()),
    }
}

/// ZCOUNT / ZLEXCOUNT: the size of a score or lex range. O(log N + size of the range): the
/// index keeps no per-entry ranks to subtract, unlike Redis's skiplist spans.
pub fn count(db: &Db<'_>, key: &[u8], q: &RangeQuery) -> Result<u64> {
    Ok(range(db, key, q, false)?.len() as u64)
}

/// ZRANK / ZREVRANK. O(rank): the index is walked from its lowest entry to the member, since
/// RocksDB keeps no per-entry ranks.
pub fn rank(db: &Db<'_>, key: &[u8], member: &[u8], rev: bool) -> Result<Option<u64>> {
    let Some(meta) = read(db, key)? else {
        return Ok(None);
    };
    let version = meta.version();
    let Some(v) = db.get_sub(SubCf::Data, key, version, member)? else {
        return Ok(None);
    };
    let target = index_sub(parse_score_value(&v)?, member);
    let mut it = db.iter_subs(SubCf::Score, key, version, None, false);
    let mut r: u64 = 0;
    while let Some((sub, _)) = it.next()? {
        if sub == target.as_slice() {
            return Ok(Some(if rev {
                meta.count().saturating_sub(1).saturating_sub(r)
            } else {
                r
            }));
        }
        r += 1;
    }
    Err(StoreError::Corrupt("zset member missing from the score index").into())
}

/// Redis's OBJECT ENCODING of a zset: "listpack" while it has at most 128 members of at most
/// 64 bytes each, "skiplist" otherwise. (Redis never converts back, so after shrinking a
/// once-big zset Redis still says "skiplist" where this says "listpack".)
pub fn encoding(db: &Db<'_>, key: &[u8], meta: &Meta) -> Result<&'static str> {
    if meta.count() > LISTPACK_MAX_ENTRIES {
        return Ok("skiplist");
    }
    let mut it = db.iter_subs(SubCf::Data, key, meta.version(), None, false);
    while let Some((member, _)) = it.next()? {
        if member.len() > LISTPACK_MAX_VALUE {
            return Ok("skiplist");
        }
    }
    Ok("listpack")
}

/// All entries of a zset in member byte order.
fn all_by_member(db: &Db<'_>, key: &[u8], meta: &Meta) -> Result<Vec<Entry>> {
    let mut it = db.iter_subs(SubCf::Data, key, meta.version(), None, false);
    let mut out = Vec::new();
    while let Some((m, v)) = it.next()? {
        out.push((m.to_vec(), parse_score_value(v)?));
    }
    Ok(out)
}

/// All entries of a zset in rank order.
fn all_by_rank(db: &Db<'_>, key: &[u8], meta: &Meta) -> Result<Vec<Entry>> {
    let mut walk = IndexWalk::new(db, key, meta.version(), None, false);
    let mut out = Vec::new();
    while let Some((s, m)) = walk.next()? {
        out.push((m, s));
    }
    Ok(out)
}

/// ZRANDMEMBER with a count: `count > 0` gives distinct members (the whole zset in rank order
/// when count >= size), `count < 0` gives |count| members with repetitions. The caller bounds
/// |count|. Loads the zset's members (O(N) memory).
pub fn random_members(db: &Db<'_>, key: &[u8], count: i64) -> Result<Vec<Entry>> {
    use rand::seq::IndexedRandom;
    let Some(meta) = read(db, key)? else {
        return Ok(Vec::new());
    };
    if count == 0 {
        return Ok(Vec::new());
    }
    if count > 0 && count as u64 >= meta.count() {
        return all_by_rank(db, key, &meta);
    }
    let all = all_by_member(db, key, &meta)?;
    let mut rng = rand::rng();
    if count < 0 {
        let mut out = Vec::new();
        for _ in 0..count.unsigned_abs() {
            match all.choose(&mut rng) {
                Some(e) => out.push(e.clone()),
                None => break,
            }
        }
        return Ok(out);
    }
    let n = usize::try_from(count).unwrap_or(usize::MAX).min(all.len());
    Ok(all.choose_multiple(&mut rng, n).cloned().collect())
}

/// ZRANDMEMBER without a count: one random member, None if the key is missing.
pub fn random_member(db: &Db<'_>, key: &[u8]) -> Result<Option<Vec<u8>>> {
    Ok(random_members(db, key, -1)?.pop().map(|(m, _)| m))
}

/// One page of ZSCAN: (next cursor, entries). The cursor counts members already visited in
/// member byte order; zsets of up to 128 members come back whole with cursor 0, as Redis returns
/// its listpack-encoded zsets. `matches` filters members.
///
/// Unlike Redis's reverse-binary dict cursor, an offset cursor can miss a member when members
/// before the cursor are removed between calls, and resuming costs O(cursor).
pub fn scan(
    db: &Db<'_>,
    key: &[u8],
    cursor: u64,
    count: u64,
    matches: impl Fn(&[u8]) -> bool,
) -> Result<(u64, Vec<Entry>)> {
    let Some(meta) = read(db, key)? else {
        return Ok((0, Vec::new()));
    };
    let mut it = db.iter_subs(SubCf::Data, key, meta.version(), None, false);
    let mut out = Vec::new();
    let (skip, take) = if meta.count() <= LISTPACK_MAX_ENTRIES {
        (0, u64::MAX)
    } else {
        (cursor, count.max(1))
    };
    let mut pos: u64 = 0;
    let mut taken: u64 = 0;
    while let Some((m, v)) = it.next()? {
        if pos < skip {
            pos += 1;
            continue;
        }
        if taken >= take {
            return Ok((pos, out));
        }
        pos += 1;
        taken += 1;
        if matches(m) {
            out.push((m.to_vec(), parse_score_value(v)?));
        }
    }
    Ok((0, out))
}

// ---------------------------------------------------------------------------------------------
// Writes
// ---------------------------------------------------------------------------------------------

/// Writes one member's score, moving its index entry when the score changed.
pub(crate) fn put_member(
    batch: &mut Batch<'_>,
    phys: u8,
    key: &[u8],
    version: u64,
    member: &[u8],
    old: Option<f64>,
    new: f64,
) {
    if let Some(old) = old {
        if encode_score(old) == encode_score(new) {
            return;
        }
        batch.delete_sub(SubCf::Score, phys, key, version, &index_sub(old, member));
    }
    batch.put_sub(SubCf::Data, phys, key, version, member, &score_value(new));
    batch.put_sub(
        SubCf::Score,
        phys,
        key,
        version,
        &index_sub(new, member),
        &[],
    );
}

/// Removes one member (both sub-keys).
fn delete_member(batch: &mut Batch<'_>, phys: u8, key: &[u8], version: u64, member: &[u8], s: f64) {
    batch.delete_sub(SubCf::Data, phys, key, version, member);
    batch.delete_sub(SubCf::Score, phys, key, version, &index_sub(s, member));
}

/// ZADD / ZINCRBY. `pairs` are (score, member), applied in order as Redis does (a member given
/// twice is added, then updated).
pub fn add(db: &Db<'_>, key: &[u8], flags: AddFlags, pairs: &[(f64, &[u8])]) -> Result<AddOutcome> {
    let _guard = db.lock(key);
    let mut target = Target::load(db, key, ValueType::ZSet)?;
    let mut out = AddOutcome::default();
    if !target.exists() && flags.xx {
        return Ok(out);
    }
    let members: Vec<&[u8]> = pairs.iter().map(|p| p.1).collect();
    let stored = match target.version() {
        Some(v) => db.get_subs(SubCf::Data, key, v, &members)?,
        None => vec![None; members.len()],
    };
    // member -> (score stored before this command, current score)
    let mut state: HashMap<&[u8], (Option<f64>, Option<f64>)> = HashMap::new();
    for (m, v) in members.iter().zip(stored) {
        let s = v.map(|v| parse_score_value(&v)).transpose()?;
        state.entry(m).or_insert((s, s));
    }
    for &(score, member) in pairs {
        let Some(entry) = state.get_mut(member) else {
            continue;
        };
        match entry.1 {
            Some(cur) => {
                if flags.nx {
                    continue;
                }
                let mut new = score;
                if flags.incr {
                    new += cur;
                    if new.is_nan() {
                        return Ok(AddOutcome {
                            nan: true,
                            ..AddOutcome::default()
                        });
                    }
                }
                if (flags.lt && new >= cur) || (flags.gt && new <= cur) {
                    continue;
                }
                out.processed += 1;
                out.score = new;
                if new != cur {
                    entry.1 = Some(new);
                    out.updated += 1;
                }
            }
            None => {
                if flags.xx {
                    continue;
                }
                entry.1 = Some(score);
                out.added += 1;
                out.processed += 1;
                out.score = score;
            }
        }
    }
    if out.added == 0 && out.updated == 0 {
        return Ok(out);
    }
    let version = target.version_or_new(db)?;
    let mut batch = db.batch();
    for (member, (old, new)) in &state {
        if let Some(new) = new {
            put_member(&mut batch, db.phys, key, version, member, *old, *new);
        }
    }
    target.store(&mut batch, db, key, target.count() + out.added, &[]);
    batch.commit()?;
    Ok(out)
}

/// ZREM: the number of members removed.
pub fn remove(db: &Db<'_>, key: &[u8], members: &[&[u8]]) -> Result<u64> {
    let _guard = db.lock(key);
    let target = Target::load(db, key, ValueType::ZSet)?;
    let Some(version) = target.version() else {
        return Ok(0);
    };
    let stored = db.get_subs(SubCf::Data, key, version, members)?;
    let mut batch = db.batch();
    let mut seen: HashSet<&[u8]> = HashSet::new();
    let mut removed = 0u64;
    for (m, v) in members.iter().zip(stored) {
        let Some(v) = v else { continue };
        if !seen.insert(m) {
            continue;
        }
        delete_member(&mut batch, db.phys, key, version, m, parse_score_value(&v)?);
        removed += 1;
    }
    if removed > 0 {
        let left = target.count().saturating_sub(removed);
        target.store(&mut batch, db, key, left, &[]);
        batch.commit()?;
    }
    Ok(removed)
}

/// ZREMRANGEBYRANK / ZREMRANGEBYSCORE / ZREMRANGEBYLEX (offset 0, no limit).
pub fn remove_range(db: &Db<'_>, key: &[u8], q: &RangeQuery) -> Result<u64> {
    let _guard = db.lock(key);
    let target = Target::load(db, key, ValueType::ZSet)?;
    let (Some(meta), Some(version)) = (target.meta(), target.version()) else {
        return Ok(0);
    };
    let victims = range_in(db, key, meta, q, false)?;
    if victims.is_empty() {
        return Ok(0);
    }
    let mut batch = db.batch();
    for (m, s) in &victims {
        delete_member(&mut batch, db.phys, key, version, m, *s);
    }
    let n = victims.len() as u64;
    target.store(&mut batch, db, key, target.count().saturating_sub(n), &[]);
    batch.commit()?;
    Ok(n)
}

/// ZPOPMIN / ZPOPMAX / ZMPOP: pops up to `count` entries from the first of `keys` that exists
/// (WRONGTYPE if the first existing key is not a zset). None when no key exists; otherwise the
/// index of the key popped from and its entries (none for a count of 0).
pub fn pop(
    db: &Db<'_>,
    keys: &[&[u8]],
    max: bool,
    count: u64,
) -> Result<Option<(usize, Vec<Entry>)>> {
    let _guard = db.lock_keys(keys.iter().copied());
    for (i, key) in keys.iter().enumerate() {
        let target = Target::load(db, key, ValueType::ZSet)?;
        let (Some(meta), Some(version)) = (target.meta(), target.version()) else {
            continue;
        };
        if count == 0 {
            return Ok(Some((i, Vec::new())));
        }
        let mut walk = IndexWalk::new(db, key, version, None, max);
        let mut out = Vec::new();
        while (out.len() as u64) < count {
            match walk.next()? {
                Some((s, m)) => out.push((m, s)),
                None => break,
            }
        }
        let mut batch = db.batch();
        for (m, s) in &out {
            delete_member(&mut batch, db.phys, key, version, m, *s);
        }
        let left = meta.count().saturating_sub(out.len() as u64);
        target.store(&mut batch, db, key, left, &[]);
        batch.commit()?;
        return Ok(Some((i, out)));
    }
    Ok(None)
}

/// Overwrites `dst` (whatever it held, its TTL dropped) with `entries` as a fresh zset; an empty
/// result deletes `dst`. Call with `dst` locked.
pub(crate) fn write_result(db: &Db<'_>, dst: &[u8], entries: &[Entry]) -> Result<u64> {
    let raw = db.meta_raw(dst)?;
    let mut batch = db.batch();
    if entries.is_empty() {
        if let Some(raw) = &raw {
            batch.delete_key(db.phys, dst, raw);
            batch.commit()?;
        }
        return Ok(0);
    }
    let version = db.store.next_version()?;
    for (m, s) in entries {
        put_member(&mut batch, db.phys, dst, version, m, None, *s);
    }
    let n = entries.len() as u64;
    batch.put_meta(
        db.phys,
        dst,
        raw.as_ref(),
        &Meta::encode_collection(ValueType::ZSet, 0, version, n),
    );
    batch.commit()?;
    Ok(n)
}

/// ZRANGESTORE: stores the selected range of `src` into `dst`; returns its size.
pub fn range_store(db: &Db<'_>, dst: &[u8], src: &[u8], q: &RangeQuery, rev: bool) -> Result<u64> {
    let _guard = db.lock_keys([dst, src]);
    let entries = range(db, src, q, rev)?;
    write_result(db, dst, &entries)
}

// ---------------------------------------------------------------------------------------------
// ZUNION / ZINTER / ZDIFF
// ---------------------------------------------------------------------------------------------

/// An input of a set operation: a zset, a plain set (every member scores 1), or a missing key.
struct Source<'k> {
    key: &'k [u8],
    meta: Option<Meta>,
    weight: f64,
}

impl Source<'_> {
    fn len(&self) -> u64 {
        self.meta.as_ref().map_or(0, Meta::count)
    }

    fn is_set(&self) -> bool {
        self.meta.as_ref().is_some_and(|m| m.ty() == ValueType::Set)
    }

    /// Every (member, score) of the input.
    fn all(&self, db: &Db<'_>) -> Result<Vec<Entry>> {
        let Some(meta) = &self.meta else {
            return Ok(Vec::new());
        };
        let set = self.is_set();
        let mut it = db.iter_subs(SubCf::Data, self.key, meta.version(), None, false);
        let mut out = Vec::new();
        while let Some((m, v)) = it.next()? {
            let s = if set { 1.0 } else { parse_score_value(v)? };
            out.push((m.to_vec(), s));
        }
        Ok(out)
    }

    /// The scores of `members` in this input (None: absent).
    fn lookup(&self, db: &Db<'_>, members: &[&[u8]]) -> Result<Vec<Option<f64>>> {
        let Some(meta) = &self.meta else {
            return Ok(vec![None; members.len()]);
        };
        let set = self.is_set();
        db.get_subs(SubCf::Data, self.key, meta.version(), members)?
            .into_iter()
            .map(|v| match v {
                None => Ok(None),
                Some(_) if set => Ok(Some(1.0)),
                Some(v) => parse_score_value(&v).map(Some),
            })
            .collect()
    }
}

fn source_meta(db: &Db<'_>, key: &[u8]) -> Result<Option<Meta>> {
    match db.meta(key)? {
        Some(m) if matches!(m.ty(), ValueType::ZSet | ValueType::Set) => Ok(Some(m)),
        Some(_) => Err(TypeError::WrongType),
        None => Ok(None),
    }
}

/// WRONGTYPE if any input is neither a zset nor a set (Redis checks this before parsing the
/// options that follow the keys).
pub fn check_sources(db: &Db<'_>, keys: &[&[u8]]) -> Result<()> {
    for k in keys {
        source_meta(db, k)?;
    }
    Ok(())
}

fn load_sources<'k>(db: &Db<'_>, keys: &[&'k [u8]], weights: &[f64]) -> Result<Vec<Source<'k>>> {
    keys.iter()
        .enumerate()
        .map(|(i, k)| {
            Ok(Source {
                key: k,
                meta: source_meta(db, k)?,
                weight: weights.get(i).copied().unwrap_or(1.0),
            })
        })
        .collect()
}

/// A weighted score as Redis computes it (0 * inf counts as 0, not NaN).
fn weighted(weight: f64, score: f64) -> f64 {
    let v = weight * score;
    if v.is_nan() {
        0.0
    } else {
        v
    }
}

/// The core of ZINTER/ZINTERCARD: calls `found` for each member of the first (smallest) input
/// present in every input, with its aggregated score, until `found` returns false.
fn inter_each(
    db: &Db<'_>,
    src: &[Source<'_>],
    agg: Aggregate,
    mut found: impl FnMut(Vec<u8>, f64) -> bool,
) -> Result<()> {
    let Some(first) = src.first() else {
        return Ok(());
    };
    if first.len() == 0 {
        return Ok(());
    }
    let base = first.all(db)?;
    for chunk in base.chunks(PROBE_CHUNK) {
        let members: Vec<&[u8]> = chunk.iter().map(|e| e.0.as_slice()).collect();
        let mut scores: Vec<Option<f64>> = chunk
            .iter()
            .map(|e| Some(weighted(first.weight, e.1)))
            .collect();
        for other in &src[1..] {
            let hits = other.lookup(db, &members)?;
            for (acc, hit) in scores.iter_mut().zip(hits) {
                match (acc.as_mut(), hit) {
                    (Some(a), Some(v)) => aggregate(a, v * other.weight, agg),
                    _ => *acc = None,
                }
            }
        }
        for (e, s) in chunk.iter().zip(scores) {
            if let Some(s) = s {
                if !found(e.0.clone(), s) {
                    return Ok(());
                }
            }
        }
    }
    Ok(())
}

/// Computes a set operation; the result is in rank order (score, then member).
fn compute(
    db: &Db<'_>,
    keys: &[&[u8]],
    weights: &[f64],
    agg: Aggregate,
    op: SetOp,
) -> Result<Vec<Entry>> {
    let mut src = load_sources(db, keys, weights)?;
    if op != SetOp::Diff {
        // Redis sorts the inputs by size (glibc's qsort is a stable merge sort here), and the
        // floating-point aggregation follows that order.
        src.sort_by_key(Source::len);
    }
    let mut out: Vec<Entry> = Vec::new();
    match op {
        SetOp::Inter => {
            inter_each(db, &src, agg, |m, s| {
                out.push((m, s));
                true
            })?;
        }
        SetOp::Union => {
            let mut acc: HashMap<Vec<u8>, f64> = HashMap::new();
            for s in &src {
                for (m, score) in s.all(db)? {
                    let v = weighted(s.weight, score);
                    match acc.get_mut(&m) {
                        Some(t) => aggregate(t, v, agg),
                        None => {
                            acc.insert(m, v);
                        }
                    }
                }
            }
            out = acc.into_iter().collect();
        }
        SetOp::Diff => {
            let Some(first) = src.first() else {
                return Ok(out);
            };
            let base = first.all(db)?;
            for chunk in base.chunks(PROBE_CHUNK) {
                let members: Vec<&[u8]> = chunk.iter().map(|e| e.0.as_slice()).collect();
                let mut keep = vec![true; chunk.len()];
                for other in src[1..].iter().filter(|o| o.len() > 0) {
                    for (k, hit) in keep.iter_mut().zip(other.lookup(db, &members)?) {
                        if hit.is_some() {
                            *k = false;
                        }
                    }
                }
                out.extend(
                    chunk
                        .iter()
                        .zip(keep)
                        .filter(|(_, k)| *k)
                        .map(|(e, _)| e.clone()),
                );
            }
        }
    }
    out.sort_by(rank_order);
    Ok(out)
}

/// ZUNION / ZINTER / ZDIFF: the result in rank order. `weights` (one per key, or empty for all
/// 1) and `agg` are ignored by ZDIFF.
pub fn combine(
    db: &Db<'_>,
    keys: &[&[u8]],
    weights: &[f64],
    agg: Aggregate,
    op: SetOp,
) -> Result<Vec<Entry>> {
    compute(db, keys, weights, agg, op)
}

/// ZUNIONSTORE / ZINTERSTORE / ZDIFFSTORE: stores the result into `dst`; returns its size.
pub fn combine_store(
    db: &Db<'_>,
    dst: &[u8],
    keys: &[&[u8]],
    weights: &[f64],
    agg: Aggregate,
    op: SetOp,
) -> Result<u64> {
    let _guard = db.lock_keys(std::iter::once(dst).chain(keys.iter().copied()));
    let entries = compute(db, keys, weights, agg, op)?;
    write_result(db, dst, &entries)
}

/// ZINTERCARD: the size of the intersection, stopping at `limit` (0: no limit).
pub fn intercard(db: &Db<'_>, keys: &[&[u8]], limit: u64) -> Result<u64> {
    let mut src = load_sources(db, keys, &[])?;
    src.sort_by_key(Source::len);
    let mut n = 0u64;
    inter_each(db, &src, Aggregate::Sum, |_, _| {
        n += 1;
        limit == 0 || n < limit
    })?;
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lex_range_emptiness_follows_sdscmplex() {
        use LexBound::*;
        let r = |min, max| LexRange { min, max };
        assert!(r(Min, Min).is_empty());
        assert!(r(Max, Max).is_empty());
        assert!(r(Max, Min).is_empty());
        assert!(!r(Min, Max).is_empty());
        assert!(!r(Incl(b"a".to_vec()), Incl(b"a".to_vec())).is_empty());
        assert!(r(Incl(b"a".to_vec()), Excl(b"a".to_vec())).is_empty());
        assert!(r(Incl(b"b".to_vec()), Incl(b"a".to_vec())).is_empty());
        assert!(r(Incl(b"b".to_vec()), Min).is_empty());
        assert!(!r(Min, Excl(b"".to_vec())).is_empty());
    }

    #[test]
    fn score_ranges() {
        let r = ScoreRange {
            min: 1.0,
            minex: true,
            max: 1.0,
            maxex: false,
        };
        assert!(r.is_empty());
        let r = ScoreRange {
            min: f64::NEG_INFINITY,
            minex: false,
            max: 2.0,
            maxex: true,
        };
        assert!(r.gte_min(-1e300) && r.lte_max(1.999) && !r.lte_max(2.0));
    }

    #[test]
    fn score_range_walks_step_or_seek_between_ranges() {
        use crate::config::Config;
        use crate::storage::Store;
        use rand::{Rng, SeedableRng};
        let dir = tempfile::tempdir().unwrap();
        let cfg = Config {
            dir: dir.path().to_path_buf(),
            ..Config::default()
        };
        let store = Store::open(&cfg).expect("open store");
        let view = store.view();
        let db = view.db(0).unwrap();
        // 2,000 members on 500 scores: runs of equal scores, gaps of every size.
        let names: Vec<Vec<u8>> = (0..2000).map(|i| format!("m{i}").into_bytes()).collect();
        let pairs: Vec<(f64, &[u8])> = names
            .iter()
            .enumerate()
            .map(|(i, m)| (((i * 7919) % 500) as f64, m.as_slice()))
            .collect();
        add(&db, b"z", AddFlags::default(), &pairs).unwrap();
        let meta = db.meta(b"z").unwrap().unwrap();
        let mut sorted: Vec<(f64, Vec<u8>)> = pairs.iter().map(|&(s, m)| (s, m.to_vec())).collect();
        sorted.sort_by(|a, b| a.0.partial_cmp(&b.0).unwrap().then_with(|| a.1.cmp(&b.1)));
        let mut rng = rand::rngs::StdRng::seed_from_u64(9);
        for _ in 0..300 {
            let mut ranges = Vec::new();
            let mut at: f64 = rng.random_range(-5.0..100.0);
            for _ in 0..rng.random_range(1..12) {
                // Mostly ascending (short and long gaps, touching), sometimes back down.
                if rng.random_bool(0.2) {
                    at = rng.random_range(-5.0..505.0);
                }
                let (min, max): (f64, f64) = if rng.random_bool(0.5) {
                    (at.round(), (at + rng.random_range(0.0..40.0)).round())
                } else {
                    (at, at + rng.random_range(0.0..40.0))
                };
                ranges.push(ScoreRange {
                    min,
                    minex: rng.random_bool(0.3),
                    max,
                    maxex: rng.random_bool(0.5),
                });
                at = max + [0.0, 0.5, 3.0, 60.0][rng.random_range(0..4)];
            }
            let mut want = Vec::new();
            for r in &ranges {
                if r.is_empty() {
                    continue;
                }
                for (s, m) in &sorted {
                    if r.gte_min(*s) && r.lte_max(*s) {
                        want.push((*s, m.clone()));
                    }
                }
            }
            let mut got = Vec::new();
            walk_score_ranges(&db, b"z", &meta, &ranges, |_, s, m| {
                got.push((s, m.to_vec()));
                Walk::Next
            })
            .unwrap();
            assert_eq!(got, want, "{ranges:?}");
            // Stopping early stops everything.
            let mut n = 0;
            walk_score_ranges(&db, b"z", &meta, &ranges, |_, _, _| {
                n += 1;
                if n < 3 {
                    Walk::Next
                } else {
                    Walk::Stop
                }
            })
            .unwrap();
            assert_eq!(n, want.len().min(3));
            // Skipping to a score drops exactly the entries below it in that range.
            // Any score, a member's score, or exactly a range's end.
            let skip = match rng.random_range(0..3) {
                0 => rng.random_range(0.0..500.0),
                1 => f64::from(rng.random_range(0..500u32)),
                _ => ranges[rng.random_range(0..ranges.len())].max,
            };
            let mut got = Vec::new();
            walk_score_ranges(&db, b"z", &meta, &ranges, |i, s, m| {
                got.push((i, s, m.to_vec()));
                if s < skip {
                    Walk::SkipTo(skip)
                } else {
                    Walk::Next
                }
            })
            .unwrap();
            let mut want = Vec::new();
            for (i, r) in ranges.iter().enumerate() {
                if r.is_empty() {
                    continue;
                }
                let mut first = true;
                for (s, m) in &sorted {
                    if r.gte_min(*s) && r.lte_max(*s) && (first || *s >= skip) {
                        want.push((i, *s, m.clone()));
                        first = false;
                    }
                }
            }
            assert_eq!(got, want, "{ranges:?} skip {skip}");
        }
    }

    #[test]
    fn score_values_round_trip_and_zero_is_normalized() {
        for s in [1.5, -2.0, f64::INFINITY, f64::NEG_INFINITY, 1e-310] {
            assert_eq!(parse_score_value(&score_value(s)).unwrap(), s);
        }
        assert!(parse_score_value(&score_value(-0.0))
            .unwrap()
            .is_sign_positive());
        assert!(parse_score_value(b"short").is_err());
        let sub = index_sub(2.5, b"m");
        assert_eq!(parse_index_sub(&sub).unwrap(), (2.5, &b"m"[..]));
    }
}
