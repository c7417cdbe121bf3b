//! Sorted-set commands: ZADD, ZRANGE and the rest of Redis 7.0's zset family (`t_zset.c`), with
//! its argument checks, their order and its error texts.
//!
//! Not here: the blocking BZPOPMIN / BZPOPMAX / BZMPOP, which need the blocking-command
//! infrastructure.

use super::flags::*;
use super::{Args, CmdError, CmdResult, Context, Keys, Spec};
use crate::protocol::Reply;
use crate::server::notify::class;
use crate::types::zsets::{
    self, AddFlags, Aggregate, Entry, LexBound, LexRange, RangeQuery, ScoreRange, SetOp,
};
use crate::util::num;
use bytes::Bytes;

const G: &str = "sorted-set";

/// Largest |count| ZRANDMEMBER serves: a reply is built in memory, and a negative count repeats
/// members without bound (Redis streams such a reply; Basalt refuses it).
pub const MAX_RANDOM_COUNT: u64 = 10_000_000;

pub(super) const TABLE: &[Spec] = &[
    Spec::new("zadd", -4, WRITE | DENYOOM | FAST, Keys::one(1), zadd)
        .group(G)
        .doc("Adds one or more members to a sorted set, or updates their scores. Creates the key if it doesn't exist."),
    Spec::new("zincrby", 4, WRITE | DENYOOM | FAST, Keys::one(1), zincrby)
        .group(G)
        .doc("Increments the score of a member in a sorted set."),
    Spec::new("zrem", -3, WRITE | FAST, Keys::one(1), zrem)
        .group(G)
        .doc("Removes one or more members from a sorted set. Deletes the sorted set if all members were removed."),
    Spec::new("zcard", 2, READONLY | FAST, Keys::one(1), zcard)
        .group(G)
        .doc("Returns the number of members in a sorted set."),
    Spec::new("zscore", 3, READONLY | FAST, Keys::one(1), zscore)
        .group(G)
        .doc("Returns the score of a member in a sorted set."),
    Spec::new("zmscore", -3, READONLY | FAST, Keys::one(1), zmscore)
        .group(G)
        .doc("Returns the score of one or more members in a sorted set."),
    Spec::new("zcount", 4, READONLY | FAST, Keys::one(1), zcount)
        .group(G)
        .doc("Returns the count of members in a sorted set that have scores within a range."),
    Spec::new("zlexcount", 4, READONLY | FAST, Keys::one(1), zlexcount)
        .group(G)
        .doc("Returns the number of members in a sorted set within a lexicographical range."),
    Spec::new("zrank", 3, READONLY | FAST, Keys::one(1), zrank)
        .group(G)
        .doc("Returns the index of a member in a sorted set ordered by ascending scores."),
    Spec::new("zrevrank", 3, READONLY | FAST, Keys::one(1), zrevrank)
        .group(G)
        .doc("Returns the index of a member in a sorted set ordered by descending scores."),
    Spec::new("zrange", -4, READONLY, Keys::one(1), zrange)
        .group(G)
        .doc("Returns members in a sorted set within a range of indexes."),
    Spec::new("zrangestore", -5, WRITE | DENYOOM, Keys::range(1, 2, 1), zrangestore)
        .group(G)
        .doc("Stores a range of members from sorted set in a key."),
    Spec::new("zrevrange", -4, READONLY, Keys::one(1), zrevrange)
        .group(G)
        .doc("Returns members in a sorted set within a range of indexes in reverse order."),
    Spec::new("zrangebyscore", -4, READONLY, Keys::one(1), zrangebyscore)
        .group(G)
        .doc("Returns members in a sorted set within a range of scores."),
    Spec::new("zrevrangebyscore", -4, READONLY, Keys::one(1), zrevrangebyscore)
        .group(G)
        .doc("Returns members in a sorted set within a range of scores in reverse order."),
    Spec::new("zrangebylex", -4, READONLY, Keys::one(1), zrangebylex)
        .group(G)
        .doc("Returns members in a sorted set within a lexicographical range."),
    Spec::new("zrevrangebylex", -4, READONLY, Keys::one(1), zrevrangebylex)
        .group(G)
        .doc("Returns members in a sorted set within a lexicographical range in reverse order."),
    Spec::new("zpopmin", -2, WRITE | FAST, Keys::one(1), zpopmin)
        .group(G)
        .doc("Returns the lowest-scoring members from a sorted set after removing them. Deletes the sorted set if the last member was popped."),
    Spec::new("zpopmax", -2, WRITE | FAST, Keys::one(1), zpopmax)
        .group(G)
        .doc("Returns the highest-scoring members from a sorted set after removing them. Deletes the sorted set if the last member was popped."),
    Spec::new("zmpop", -4, WRITE | MOVABLEKEYS, Keys::NONE, zmpop)
        .group(G)
        .doc("Returns the highest- or lowest-scoring members from one or more sorted sets after removing them. Deletes the sorted set if the last member was popped."),
    Spec::new("zremrangebyrank", 4, WRITE, Keys::one(1), zremrangebyrank)
        .group(G)
        .doc("Removes members in a sorted set within a range of indexes. Deletes the sorted set if all members were removed."),
    Spec::new("zremrangebyscore", 4, WRITE, Keys::one(1), zremrangebyscore)
        .group(G)
        .doc("Removes members in a sorted set within a range of scores. Deletes the sorted set if all members were removed."),
    Spec::new("zremrangebylex", 4, WRITE, Keys::one(1), zremrangebylex)
        .group(G)
        .doc("Removes members in a sorted set within a lexicographical range. Deletes the sorted set if all members were removed."),
    Spec::new("zunion", -3, READONLY | MOVABLEKEYS, Keys::NONE, zunion)
        .group(G)
        .doc("Returns the union of multiple sorted sets."),
    Spec::new("zunionstore", -4, WRITE | DENYOOM | MOVABLEKEYS, Keys::one(1), zunionstore)
        .group(G)
        .doc("Stores the union of multiple sorted sets in a key."),
    Spec::new("zinter", -3, READONLY | MOVABLEKEYS, Keys::NONE, zinter)
        .group(G)
        .doc("Returns the intersect of multiple sorted sets."),
    Spec::new("zinterstore", -4, WRITE | DENYOOM | MOVABLEKEYS, Keys::one(1), zinterstore)
        .group(G)
        .doc("Stores the intersect of multiple sorted sets in a key."),
    Spec::new("zintercard", -3, READONLY | MOVABLEKEYS, Keys::NONE, zintercard)
        .group(G)
        .doc("Returns the number of members of the intersect of multiple sorted sets."),
    Spec::new("zdiff", -3, READONLY | MOVABLEKEYS, Keys::NONE, zdiff)
        .group(G)
        .doc("Returns the difference between multiple sorted sets."),
    Spec::new("zdiffstore", -4, WRITE | DENYOOM | MOVABLEKEYS, Keys::one(1), zdiffstore)
        .group(G)
        .doc("Stores the difference of multiple sorted sets in a key."),
    Spec::new("zrandmember", -2, READONLY, Keys::one(1), zrandmember)
        .group(G)
        .doc("Returns one or more random members from a sorted set."),
    Spec::new("zscan", -3, READONLY, Keys::one(1), zscan)
        .group(G)
        .doc("Iterates over members and scores of a sorted set."),
];

// ---------------------------------------------------------------------------------------------
// Parsing
// ---------------------------------------------------------------------------------------------

/// C's `isspace`.
fn is_c_space(c: u8) -> bool {
    matches!(c, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r')
}

/// A range bound number the way `zslParseRange` reads it: plain `strtod` that must consume the
/// whole (NUL-terminated) string. Unlike score arguments, this accepts leading whitespace, the
/// empty string (0), and out-of-range values (which become ±inf or 0); NaN is rejected.
fn strtod_whole(s: &[u8]) -> Option<f64> {
    let s = s.iter().position(|&c| c == 0).map_or(s, |i| &s[..i]);
    if s.is_empty() {
        return Some(0.0);
    }
    let start = s.iter().position(|&c| !is_c_space(c)).unwrap_or(s.len());
    let t = &s[start..];
    if let Some(v) = num::parse_f64(t) {
        return Some(v);
    }
    // parse_f64 refuses strtod's ERANGE results; zslParseRange keeps them. (Hex floats that
    // overflow are left refused.)
    if t.iter().any(|&c| c == b'x' || c == b'X') {
        return None;
    }
    let v: f64 = std::str::from_utf8(t).ok()?.parse().ok()?;
    (!v.is_nan()).then_some(v)
}

fn score_bound(arg: &[u8]) -> Option<(f64, bool)> {
    match arg.strip_prefix(b"(") {
        Some(rest) => strtod_whole(rest).map(|v| (v, true)),
        None => strtod_whole(arg).map(|v| (v, false)),
    }
}

/// `zslParseRange`, with its error.
fn score_range(min: &[u8], max: &[u8]) -> Result<ScoreRange, CmdError> {
    let err = || CmdError::msg("ERR min or max is not a float");
    let (min, minex) = score_bound(min).ok_or_else(err)?;
    let (max, maxex) = score_bound(max).ok_or_else(err)?;
    Ok(ScoreRange {
        min,
        minex,
        max,
        maxex,
    })
}

/// `zslParseLexRangeItem`. Like Redis, only what precedes a NUL byte counts for `+`/`-`.
fn lex_item(arg: &[u8]) -> Option<LexBound> {
    let rest_empty = |r: &[u8]| r.first().is_none_or(|&c| c == 0);
    match arg.first()? {
        b'+' if rest_empty(&arg[1..]) => Some(LexBound::Max),
        b'-' if rest_empty(&arg[1..]) => Some(LexBound::Min),
        b'(' => Some(LexBound::Excl(arg[1..].to_vec())),
        b'[' => Some(LexBound::Incl(arg[1..].to_vec())),
        _ => None,
    }
}

fn lex_range(min: &[u8], max: &[u8]) -> Result<LexRange, CmdError> {
    let err = || CmdError::msg("ERR min or max not valid string range item");
    Ok(LexRange {
        min: lex_item(min).ok_or_else(err)?,
        max: lex_item(max).ok_or_else(err)?,
    })
}

// ---------------------------------------------------------------------------------------------
// Replies
// ---------------------------------------------------------------------------------------------

fn bulk(m: Vec<u8>) -> Reply {
    Reply::Bulk(Bytes::from(m))
}

/// Members, with scores if asked: flat for RESP2, [member, score] pairs for RESP3.
fn scored(entries: Vec<Entry>, withscores: bool, resp3: bool) -> Reply {
    if !withscores {
        return Reply::Array(entries.into_iter().map(|(m, _)| bulk(m)).collect());
    }
    if resp3 {
        return Reply::Array(
            entries
                .into_iter()
                .map(|(m, s)| Reply::Array(vec![bulk(m), Reply::Double(s)]))
                .collect(),
        );
    }
    let mut out = Vec::with_capacity(entries.len() * 2);
    for (m, s) in entries {
        out.push(bulk(m));
        out.push(Reply::Double(s));
    }
    Reply::Array(out)
}

fn opt_double(v: Option<f64>) -> Reply {
    v.map_or(Reply::Nil, Reply::Double)
}

// ---------------------------------------------------------------------------------------------
// Handlers
// ---------------------------------------------------------------------------------------------

fn nan_error() -> CmdError {
    CmdError::msg("ERR resulting score is not a number (NaN)")
}

fn zadd(cx: &mut Context<'_>, args: &Args<'_>) -> CmdResult {
    let mut flags = AddFlags::default();
    let mut ch = false;
    let mut i = 2;
    while i < args.len() {
        let a = args.get(i);
        if a.eq_ignore_ascii_case(b"nx") {
            flags.nx = true;
        } else if a.eq_ignore_ascii_case(b"xx") {
            flags.xx = true;
        } else if a.eq_ignore_ascii_case(b"ch") {
            ch = true;
        } else if a.eq_ignore_ascii_case(b"incr") {
            flags.incr = true;
        } else if a.eq_ignore_ascii_case(b"gt") {
            flags.gt = true;
        } else if a.eq_ignore_ascii_case(b"lt") {
            flags.lt = true;
        } else {
            break;
        }
        i += 1;
    }
    let elements = args.len() - i;
    if elements == 0 || !elements.is_multiple_of(2) {
        return Err(CmdError::Syntax);
    }
    if flags.nx && flags.xx {
        return Err(CmdError::msg(
            "ERR XX and NX options at the same time are not compatible",
        ));
    }
    if ((flags.gt || flags.lt) && flags.nx) || (flags.gt && flags.lt) {
        return Err(CmdError::msg(
            "ERR GT, LT, and/or NX options at the same time are not compatible",
        ));
    }
    if flags.incr && elements > 2 {
        return Err(CmdError::msg(
            "ERR INCR option supports a single increment-element pair",
        ));
    }
    let mut pairs = Vec::with_capacity(elements / 2);
    for j in (i..args.len()).step_by(2) {
        pairs.push((args.f64(j)?, args.get(j + 1)));
    }
    let out = zsets::add(&cx.db(), args.get(1), flags, &pairs)?;
    if out.nan {
        return Err(nan_error());
    }
    notify_add(cx, args.get(1), flags.incr, &out);
    if flags.incr {
        return Ok(if out.processed > 0 {
            Reply::Double(out.score)
        } else {
            Reply::Nil
        });
    }
    let n = if ch {
        out.added + out.updated
    } else {
        out.added
    };
    Ok(Reply::Int(n as i64))
}

fn zincrby(cx: &mut Context<'_>, args: &Args<'_>) -> CmdResult {
    let incr = args.f64(2)?;
    let flags = AddFlags {
        incr: true,
        ..AddFlags::default()
    };
    let out = zsets::add(&cx.db(), args.get(1), flags, &[(incr, args.get(3))])?;
    if out.nan {
        return Err(nan_error());
    }
    notify_add(cx, args.get(1), true, &out);
    Ok(Reply::Double(out.score))
}

/// ZADD's event, sent as Redis does only when a member was added or its score changed.
fn notify_add(cx: &mut Context<'_>, key: &[u8], incr: bool, out: &zsets::AddOutcome) {
    if out.added + out.updated > 0 {
        cx.notify(class::ZSET, if incr { "zincr" } else { "zadd" }, key);
    }
}

/// A removal's event, and `del` if it emptied the key.
fn notify_removed(cx: &mut Context<'_>, event: &str, key: &[u8], removed: u64) {
    if removed > 0 {
        cx.notify(class::ZSET, event, key);
        cx.notify_if_gone(key);
    }
}

/// A ZPOPMIN/ZPOPMAX (and ZMPOP, BZPOP*, BZMPOP) of `key`.
pub(super) fn notify_pop(cx: &mut Context<'_>, key: &[u8], max: bool) {
    let event = if max { "zpopmax" } else { "zpopmin" };
    notify_removed(cx, event, key, 1);
}

/// A *STORE's events: the command's event if it stored a result, else `del` if the empty
/// result deleted an existing destination (`existed`, looked up beforehand).
fn notify_store(cx: &mut Context<'_>, event: &str, dst: &[u8], stored: u64, existed: bool) {
    if stored > 0 {
        cx.notify(class::ZSET, event, dst);
    } else if existed {
        cx.notify(class::GENERIC, "del", dst);
    }
}

/// Whether `key` exists, asked only when a `del` event could be wanted.
fn exists_if_notifying(cx: &Context<'_>, key: &[u8]) -> Result<bool, CmdError> {
    Ok(cx.notifying(class::GENERIC) && cx.db().meta(key)?.is_some())
}

fn zrem(cx: &mut Context<'_>, args: &Args<'_>) -> CmdResult {
    let members: Vec<&[u8]> = args.iter().skip(2).collect();
    let removed = zsets::remove(&cx.db(), args.get(1), &members)?;
    notify_removed(cx, "zrem", args.get(1), removed as u64);
    Ok(Reply::Int(removed as i64))
}

fn zcard(cx: &mut Context<'_>, args: &Args<'_>) -> CmdResult {
    Ok(Reply::Int(zsets::card(&cx.db(), args.get(1))? as i64))
}

fn zscore(cx: &mut Context<'_>, args: &Args<'_>) -> CmdResult {
    Ok(opt_double(zsets::score(
        &cx.db(),
        args.get(1),
        args.get(2),
    )?))
}

fn zmscore(cx: &mut Context<'_>, args: &Args<'_>) -> CmdResult {
    let members: Vec<&[u8]> = args.iter().skip(2).collect();
    let scores = zsets::mscore(&cx.db(), args.get(1), &members)?;
    Ok(Reply::Array(scores.into_iter().map(opt_double).collect()))
}

fn zcount(cx: &mut Context<'_>, args: &Args<'_>) -> CmdResult {
    let range = score_range(args.get(2), args.get(3))?;
    let q = RangeQuery::Score {
        range,
        offset: 0,
        limit: -1,
    };
    Ok(Reply::Int(zsets::count(&cx.db(), args.get(1), &q)? as i64))
}

fn zlexcount(cx: &mut Context<'_>, args: &Args<'_>) -> CmdResult {
    let range = lex_range(args.get(2), args.get(3))?;
    let q = RangeQuery::Lex {
        range,
        offset: 0,
        limit: -1,
    };
    Ok(Reply::Int(zsets::count(&cx.db(), args.get(1), &q)? as i64))
}

fn zrank(cx: &mut Context<'_>, args: &Args<'_>) -> CmdResult {
    let r = zsets::rank(&cx.db(), args.get(1), args.get(2), false)?;
    Ok(r.map_or(Reply::Nil, |r| Reply::Int(r as i64)))
}

fn zrevrank(cx: &mut Context<'_>, args: &Args<'_>) -> CmdResult {
    let r = zsets::rank(&cx.db(), args.get(1), args.get(2), true)?;
    Ok(r.map_or(Reply::Nil, |r| Reply::Int(r as i64)))
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum RangeType {
    Auto,
    Rank,
    Score,
    Lex,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Direction {
    Auto,
    Forward,
    Reverse,
}

/// `zrangeGenericCommand`: every ZRANGE variant and ZRANGESTORE. `first` is the position of
/// the source key.
fn zrange_generic(
    cx: &mut Context<'_>,
    args: &Args<'_>,
    first: usize,
    store: bool,
    mut rtype: RangeType,
    mut dir: Direction,
) -> CmdResult {
    let key = args.get(first);
    let (mut minidx, mut maxidx) = (first + 1, first + 2);
    let mut withscores = false;
    let (mut offset, mut limit) = (0i64, -1i64);
    let mut j = first + 3;
    while j < args.len() {
        let left = args.len() - j - 1;
        if !store && args.is(j, "withscores") {
            withscores = true;
        } else if args.is(j, "limit") && left >= 2 {
            offset = args.i64(j + 1)?;
            limit = args.i64(j + 2)?;
            j += 2;
        } else if dir == Direction::Auto && args.is(j, "rev") {
            dir = Direction::Reverse;
        } else if rtype == RangeType::Auto && args.is(j, "bylex") {
            rtype = RangeType::Lex;
        } else if rtype == RangeType::Auto && args.is(j, "byscore") {
            rtype = RangeType::Score;
        } else {
            return Err(CmdError::Syntax);
        }
        j += 1;
    }
    let rev = dir == Direction::Reverse;
    if rtype == RangeType::Auto {
        rtype = RangeType::Rank;
    }
    if limit != -1 && rtype == RangeType::Rank {
        return Err(CmdError::msg(
            "ERR syntax error, LIMIT is only supported in combination with either BYSCORE or BYLEX",
        ));
    }
    if withscores && rtype == RangeType::Lex {
        return Err(CmdError::msg(
            "ERR syntax error, WITHSCORES not supported in combination with BYLEX",
        ));
    }
    if rev && rtype != RangeType::Rank {
        std::mem::swap(&mut minidx, &mut maxidx);
    }
    let q = match rtype {
        RangeType::Auto | RangeType::Rank => RangeQuery::Rank {
            start: args.i64(minidx)?,
            end: args.i64(maxidx)?,
        },
        RangeType::Score => RangeQuery::Score {
            range: score_range(args.get(minidx), args.get(maxidx))?,
            offset,
            limit,
        },
        RangeType::Lex => RangeQuery::Lex {
            range: lex_range(args.get(minidx), args.get(maxidx))?,
            offset,
            limit,
        },
    };
    let db = cx.db();
    if store {
        let existed = exists_if_notifying(cx, args.get(1))?;
        let n = zsets::range_store(&db, args.get(1), key, &q, rev)?;
        notify_store(cx, "zrangestore", args.get(1), n as u64, existed);
        return Ok(Reply::Int(n as i64));
    }
    let entries = zsets::range(&db, key, &q, rev)?;
    Ok(scored(entries, withscores, cx.client.resp3))
}

fn zrange(cx: &mut Context<'_>, args: &Args<'_>) -> CmdResult {
    zrange_generic(cx, args, 1, false, RangeType::Auto, Direction::Auto)
}

fn zrangestore(cx: &mut Context<'_>, args: &Args<'_>) -> CmdResult {
    zrange_generic(cx, args, 2, true, RangeType::Auto, Direction::Auto)
}

fn zrevrange(cx: &mut Context<'_>, args: &Args<'_>) -> CmdResult {
    zrange_generic(cx, args, 1, false, RangeType::Rank, Direction::Reverse)
}

fn zrangebyscore(cx: &mut Context<'_>, args: &Args<'_>) -> CmdResult {
    zrange_generic(cx, args, 1, false, RangeType::Score, Direction::Forward)
}

fn zrevrangebyscore(cx: &mut Context<'_>, args: &Args<'_>) -> CmdResult {
    zrange_generic(cx, args, 1, false, RangeType::Score, Direction::Reverse)
}

fn zrangebylex(cx: &mut Context<'_>, args: &Args<'_>) -> CmdResult {
    zrange_generic(cx, args, 1, false, RangeType::Lex, Direction::Forward)
}

fn zrevrangebylex(cx: &mut Context<'_>, args: &Args<'_>) -> CmdResult {
    zrange_generic(cx, args, 1, false, RangeType::Lex, Direction::Reverse)
}

/// ZREMRANGEBYRANK/SCORE/LEX: the event is the command's name.
fn remove_range(
    cx: &mut Context<'_>,
    args: &Args<'_>,
    q: &RangeQuery,
    event: &'static str,
) -> CmdResult {
    let removed = zsets::remove_range(&cx.db(), args.get(1), q)?;
    notify_removed(cx, event, args.get(1), removed as u64);
    Ok(Reply::Int(removed as i64))
}

fn zremrangebyrank(cx: &mut Context<'_>, args: &Args<'_>) -> CmdResult {
    let q = RangeQuery::Rank {
        start: args.i64(2)?,
        end: args.i64(3)?,
    };
    remove_range(cx, args, &q, "zremrangebyrank")
}

fn zremrangebyscore(cx: &mut Context<'_>, args: &Args<'_>) -> CmdResult {
    let q = RangeQuery::Score {
        range: score_range(args.get(2), args.get(3))?,
        offset: 0,
        limit: -1,
    };
    remove_range(cx, args, &q, "zremrangebyscore")
}

fn zremrangebylex(cx: &mut Context<'_>, args: &Args<'_>) -> CmdResult {
    let q = RangeQuery::Lex {
        range: lex_range(args.get(2), args.get(3))?,
        offset: 0,
        limit: -1,
    };
    remove_range(cx, args, &q, "zremrangebylex")
}

/// ZPOPMIN / ZPOPMAX.
fn zpop(cx: &mut Context<'_>, args: &Args<'_>, max: bool) -> CmdResult {
    if args.len() > 3 {
        return Err(CmdError::Syntax);
    }
    let count = if args.len() == 3 {
        Some(args.long_at_least(2, 0, "ERR value is out of range, must be positive")?)
    } else {
        None
    };
    let n = count.unwrap_or(1) as u64;
    let Some((_, entries)) = zsets::pop(&cx.db(), &[args.get(1)], max, n)? else {
        return Ok(Reply::Array(Vec::new()));
    };
    if !entries.is_empty() {
        notify_pop(cx, args.get(1), max);
    }
    // RESP3 nests [member, score] pairs only when a count was given.
    Ok(scored(entries, true, cx.client.resp3 && count.is_some()))
}

fn zpopmin(cx: &mut Context<'_>, args: &Args<'_>) -> CmdResult {
    zpop(cx, args, false)
}

fn zpopmax(cx: &mut Context<'_>, args: &Args<'_>) -> CmdResult {
    zpop(cx, args, true)
}

fn zmpop(cx: &mut Context<'_>, args: &Args<'_>) -> CmdResult {
    let m = args.mpop(1, min_max)?;
    let popped = zsets::pop(&cx.db(), &m.keys, m.side, m.count)?;
    if let Some((i, entries)) = &popped {
        if !entries.is_empty() {
            notify_pop(cx, m.keys[*i], m.side);
        }
    }
    Ok(mpop_reply(&m.keys, popped))
}

/// MIN / MAX of ZMPOP and BZMPOP: true for MAX.
pub(super) fn min_max(args: &Args<'_>, i: usize) -> Result<bool, CmdError> {
    if args.is(i, "min") {
        Ok(false)
    } else if args.is(i, "max") {
        Ok(true)
    } else {
        Err(CmdError::Syntax)
    }
}

/// ZMPOP's reply: [key, [[member, score], ...]], or a null array when nothing was popped.
pub(super) fn mpop_reply(keys: &[&[u8]], popped: Option<(usize, Vec<Entry>)>) -> Reply {
    match popped {
        None => Reply::NilArray,
        Some((i, entries)) => Reply::Array(vec![Reply::bulk(keys[i]), scored(entries, true, true)]),
    }
}

/// Options of ZUNION/ZINTER/ZDIFF and their STORE forms and ZINTERCARD.
struct SetOpArgs<'a> {
    keys: Vec<&'a [u8]>,
    weights: Vec<f64>,
    agg: Aggregate,
    withscores: bool,
    limit: u64,
}

/// `zunionInterDiffGenericCommand`'s argument handling: numkeys, the keys (type-checked before
/// the options, as Redis does), then WEIGHTS / AGGREGATE / WITHSCORES / LIMIT.
fn setop_args<'a>(
    cx: &mut Context<'_>,
    args: &Args<'a>,
    numkeys_idx: usize,
    op: SetOp,
    store: bool,
    card_only: bool,
) -> Result<SetOpArgs<'a>, CmdError> {
    let setnum = args.i64(numkeys_idx)?;
    if setnum < 1 {
        return Err(CmdError::msg(format!(
            "ERR at least 1 input key is needed for '{}' command",
            args.name_lower()
        )));
    }
    let avail = args.len() - (numkeys_idx + 1);
    let setnum = match usize::try_from(setnum) {
        Ok(n) if n <= avail => n,
        _ => return Err(CmdError::Syntax),
    };
    let keys: Vec<&[u8]> = (0..setnum).map(|i| args.get(numkeys_idx + 1 + i)).collect();
    zsets::check_sources(&cx.db(), &keys)?;
    let mut out = SetOpArgs {
        keys,
        weights: Vec::new(),
        agg: Aggregate::Sum,
        withscores: false,
        limit: 0,
    };
    let mut j = numkeys_idx + 1 + setnum;
    while j < args.len() {
        let remaining = args.len() - j;
        if op != SetOp::Diff && !card_only && remaining > setnum && args.is(j, "weights") {
            j += 1;
            out.weights.clear();
            for _ in 0..setnum {
                let w = num::parse_f64(args.get(j))
                    .ok_or_else(|| CmdError::msg("ERR weight value is not a float"))?;
                out.weights.push(w);
                j += 1;
            }
        } else if op != SetOp::Diff && !card_only && remaining >= 2 && args.is(j, "aggregate") {
            let a = args.get(j + 1);
            out.agg = if a.eq_ignore_ascii_case(b"sum") {
                Aggregate::Sum
            } else if a.eq_ignore_ascii_case(b"min") {
                Aggregate::Min
            } else if a.eq_ignore_ascii_case(b"max") {
                Aggregate::Max
            } else {
                return Err(CmdError::Syntax);
            };
            j += 2;
        } else if !store && !card_only && args.is(j, "withscores") {
            out.withscores = true;
            j += 1;
        } else if card_only && remaining >= 2 && args.is(j, "limit") {
            out.limit = args.long_at_least(j + 1, 0, "ERR LIMIT can't be negative")? as u64;
            j += 2;
        } else {
            return Err(CmdError::Syntax);
        }
    }
    Ok(out)
}

fn setop(cx: &mut Context<'_>, args: &Args<'_>, op: SetOp) -> CmdResult {
    let a = setop_args(cx, args, 1, op, false, false)?;
    let entries = zsets::combine(&cx.db(), &a.keys, &a.weights, a.agg, op)?;
    Ok(scored(entries, a.withscores, cx.client.resp3))
}

fn setop_store(cx: &mut Context<'_>, args: &Args<'_>, op: SetOp) -> CmdResult {
    let a = setop_args(cx, args, 2, op, true, false)?;
    let existed = exists_if_notifying(cx, args.get(1))?;
    let n = zsets::combine_store(&cx.db(), args.get(1), &a.keys, &a.weights, a.agg, op)?;
    let event = match op {
        SetOp::Union => "zunionstore",
        SetOp::Inter => "zinterstore",
        SetOp::Diff => "zdiffstore",
    };
    notify_store(cx, event, args.get(1), n as u64, existed);
    Ok(Reply::Int(n as i64))
}

fn zunion(cx: &mut Context<'_>, args: &Args<'_>) -> CmdResult {
    setop(cx, args, SetOp::Union)
}

fn zinter(cx: &mut Context<'_>, args: &Args<'_>) -> CmdResult {
    setop(cx, args, SetOp::Inter)
}

fn zdiff(cx: &mut Context<'_>, args: &Args<'_>) -> CmdResult {
    setop(cx, args, SetOp::Diff)
}

fn zunionstore(cx: &mut Context<'_>, args: &Args<'_>) -> CmdResult {
    setop_store(cx, args, SetOp::Union)
}

fn zinterstore(cx: &mut Context<'_>, args: &Args<'_>) -> CmdResult {
    setop_store(cx, args, SetOp::Inter)
}

fn zdiffstore(cx: &mut Context<'_>, args: &Args<'_>) -> CmdResult {
    setop_store(cx, args, SetOp::Diff)
}

fn zintercard(cx: &mut Context<'_>, args: &Args<'_>) -> CmdResult {
    let a = setop_args(cx, args, 1, SetOp::Inter, false, true)?;
    Ok(Reply::Int(
        zsets::intercard(&cx.db(), &a.keys, a.limit)? as i64
    ))
}

fn zrandmember(cx: &mut Context<'_>, args: &Args<'_>) -> CmdResult {
    if args.len() == 2 {
        let m = zsets::random_member(&cx.db(), args.get(1))?;
        return Ok(m.map_or(Reply::Nil, bulk));
    }
    let count = args.i64(2)?;
    if count == i64::MIN {
        return Err(CmdError::msg(
            "ERR value is out of range, value must between -9223372036854775807 and 9223372036854775807",
        ));
    }
    if args.len() > 4 || (args.len() == 4 && !args.is(3, "withscores")) {
        return Err(CmdError::Syntax);
    }
    let withscores = args.len() == 4;
    if withscores && !(-(i64::MAX / 2)..=i64::MAX / 2).contains(&count) {
        return Err(CmdError::msg("ERR value is out of range"));
    }
    // Type check first: WRONGTYPE wins over the size limit, as the limit is Basalt's own.
    zsets::card(&cx.db(), args.get(1))?;
    if count < 0 && count.unsigned_abs() > MAX_RANDOM_COUNT {
        return Err(CmdError::msg("ERR value is out of range"));
    }
    let entries = zsets::random_members(&cx.db(), args.get(1), count)?;
    Ok(scored(entries, withscores, cx.client.resp3))
}

/// SCAN's cursor parse (`strtoul` over the whole argument), `ERR invalid cursor` otherwise.
fn scan_cursor(arg: &[u8]) -> Result<u64, CmdError> {
    let invalid = || CmdError::msg("ERR invalid cursor");
    if arg.first().is_some_and(|&c| is_c_space(c)) {
        return Err(invalid());
    }
    let (neg, digits) = match arg.first() {
        Some(b'-') => (true, &arg[1..]),
        Some(b'+') => (false, &arg[1..]),
        _ => (false, arg),
    };
    if digits.is_empty() {
        return if arg.is_empty() {
            Ok(0)
        } else {
            Err(invalid())
        };
    }
    let mut v: u64 = 0;
    for &c in digits {
        if !c.is_ascii_digit() {
            return Err(invalid());
        }
        v = v
            .checked_mul(10)
            .and_then(|v| v.checked_add(u64::from(c - b'0')))
            .ok_or_else(invalid)?;
    }
    Ok(if neg { v.wrapping_neg() } else { v })
}

/// How ZSCAN prints a score: as Redis's listpack holds it (integers as integers, others %.17g).
fn scan_score(s: f64) -> Vec<u8> {
    const HALF: f64 = (i64::MAX / 2) as f64;
    if s.fract() == 0.0 && (-HALF..=HALF).contains(&s) {
        let mut buf = Vec::new();
        num::fmt_i64(&mut buf, s as i64);
        return buf;
    }
    num::fmt_double(s).into_bytes()
}

fn zscan(cx: &mut Context<'_>, args: &Args<'_>) -> CmdResult {
    let cursor = scan_cursor(args.get(2))?;
    let db = cx.db();
    // Type check (and the empty reply of a missing key) before the options, as Redis does.
    if zsets::card(&db, args.get(1))? == 0 {
        return Ok(Reply::Array(vec![
            Reply::bulk(b"0"),
            Reply::Array(Vec::new()),
        ]));
    }
    let mut count: i64 = 10;
    let mut pattern: Option<&[u8]> = None;
    let mut i = 3;
    while i < args.len() {
        let left = args.len() - i;
        if args.is(i, "count") && left >= 2 {
            count = args.i64(i + 1)?;
            if count < 1 {
                return Err(CmdError::Syntax);
            }
            i += 2;
        } else if args.is(i, "match") && left >= 2 {
            let p = args.get(i + 1);
            pattern = (p != b"*").then_some(p);
            i += 2;
        } else {
            return Err(CmdError::Syntax);
        }
    }
    let (next, entries) = zsets::scan(&db, args.get(1), cursor, count as u64, |m| {
        pattern.is_none_or(|p| crate::util::glob::glob_match(p, m, false))
    })?;
    let mut items = Vec::with_capacity(entries.len() * 2);
    for (m, s) in entries {
        items.push(bulk(m));
        items.push(bulk(scan_score(s)));
    }
    Ok(Reply::Array(vec![
        Reply::text(next.to_string()),
        Reply::Array(items),
    ]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn range_bounds_parse_like_strtod() {
        assert_eq!(score_bound(b"1.5"), Some((1.5, false)));
        assert_eq!(score_bound(b"(1.5"), Some((1.5, true)));
        assert_eq!(score_bound(b""), Some((0.0, false)));
        assert_eq!(score_bound(b"("), Some((0.0, true)));
        assert_eq!(score_bound(b" 1"), Some((1.0, false)));
        assert_eq!(score_bound(b"1e999"), Some((f64::INFINITY, false)));
        assert_eq!(score_bound(b"-inf"), Some((f64::NEG_INFINITY, false)));
        assert_eq!(score_bound(b"+inf"), Some((f64::INFINITY, false)));
        assert_eq!(score_bound(b"nan"), None);
        assert_eq!(score_bound(b"1x"), None);
        assert_eq!(score_bound(b" "), None);
        assert_eq!(score_bound(b"1 "), None);
    }

    #[test]
    fn lex_items() {
        assert_eq!(lex_item(b"-"), Some(LexBound::Min));
        assert_eq!(lex_item(b"+"), Some(LexBound::Max));
        assert_eq!(lex_item(b"+a"), None);
        assert_eq!(lex_item(b"[a"), Some(LexBound::Incl(b"a".to_vec())));
        assert_eq!(lex_item(b"("), Some(LexBound::Excl(Vec::new())));
        assert_eq!(lex_item(b"a"), None);
        assert_eq!(lex_item(b""), None);
    }

    #[test]
    fn scan_cursors_and_scores() {
        assert_eq!(scan_cursor(b"0").unwrap(), 0);
        assert_eq!(scan_cursor(b"").unwrap(), 0);
        assert!(scan_cursor(b"abc").is_err());
        assert!(scan_cursor(b" 1").is_err());
        assert_eq!(scan_score(3.0), b"3".to_vec());
        assert_eq!(scan_score(1.5), b"1.5".to_vec());
        assert_eq!(scan_score(f64::INFINITY), b"inf".to_vec());
    }
}
