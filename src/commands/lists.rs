//! List commands: LPUSH, LRANGE and the rest of Redis 7.0's non-blocking list family
//! (`t_list.c`), with its argument checks, their order and its error texts.
//!
//! Not here: the blocking BLPOP / BRPOP / BLMOVE / BRPOPLPUSH / BLMPOP, which need the
//! blocking-command infrastructure; they reuse [`lists::pop`], [`lists::first_nonempty_pop`] and
//! [`lists::lmove`], and the [`From<ListError>`] conversion below.

use super::flags::*;
use super::{Args, CmdError, CmdResult, Context, Keys, Spec};
use crate::protocol::Reply;
use crate::server::notify::class;
use crate::types::lists::{self, End, ListError};

const G: &str = "list";

pub(super) const TABLE: &[Spec] = &[
    Spec::new("lpush", -3, WRITE | DENYOOM | FAST, Keys::one(1), lpush)
        .group(G)
        .doc("Prepend one or multiple elements to a list"),
    Spec::new("rpush", -3, WRITE | DENYOOM | FAST, Keys::one(1), rpush)
        .group(G)
        .doc("Append one or multiple elements to a list"),
    Spec::new("lpushx", -3, WRITE | DENYOOM | FAST, Keys::one(1), lpushx)
        .group(G)
        .doc("Prepend an element to a list, only if the list exists"),
    Spec::new("rpushx", -3, WRITE | DENYOOM | FAST, Keys::one(1), rpushx)
        .group(G)
        .doc("Append an element to a list, only if the list exists"),
    Spec::new("lpop", -2, WRITE | FAST, Keys::one(1), lpop)
        .group(G)
        .doc("Remove and get the first elements in a list"),
    Spec::new("rpop", -2, WRITE | FAST, Keys::one(1), rpop)
        .group(G)
        .doc("Remove and get the last elements in a list"),
    Spec::new("llen", 2, READONLY | FAST, Keys::one(1), llen)
        .group(G)
        .doc("Get the length of a list"),
    Spec::new("lindex", 3, READONLY, Keys::one(1), lindex)
        .group(G)
        .doc("Get an element from a list by its index"),
    Spec::new("lset", 4, WRITE | DENYOOM, Keys::one(1), lset)
        .group(G)
        .doc("Set the value of an element in a list by its index"),
    Spec::new("lrange", 4, READONLY, Keys::one(1), lrange)
        .group(G)
        .doc("Get a range of elements from a list"),
    Spec::new("linsert", 5, WRITE | DENYOOM, Keys::one(1), linsert)
        .group(G)
        .doc("Insert an element before or after another element in a list"),
    Spec::new("lrem", 4, WRITE, Keys::one(1), lrem)
        .group(G)
        .doc("Remove elements from a list"),
    Spec::new("ltrim", 4, WRITE, Keys::one(1), ltrim)
        .group(G)
        .doc("Trim a list to the specified range"),
    Spec::new("lpos", -3, READONLY, Keys::one(1), lpos)
        .group(G)
        .doc("Return the index of matching elements on a list"),
    Spec::new("lmove", 5, WRITE | DENYOOM, Keys::range(1, 2, 1), lmove)
        .group(G)
        .doc("Pop an element from a list, push it to another list and return it"),
    Spec::new(
        "rpoplpush",
        3,
        WRITE | DENYOOM,
        Keys::range(1, 2, 1),
        rpoplpush,
    )
    .group(G)
    .doc("Remove the last element in a list, prepend it to another list and return it"),
    Spec::new("lmpop", -4, WRITE | MOVABLEKEYS, Keys::NONE, lmpop)
        .group(G)
        .doc("Pop elements from a list"),
];

impl From<ListError> for CmdError {
    fn from(e: ListError) -> Self {
        match e {
            ListError::Type(t) => t.into(),
            other => CmdError::msg(other.to_string()),
        }
    }
}

/// An integer reply from a length or position.
fn int(n: u64) -> Reply {
    Reply::Int(i64::try_from(n).unwrap_or(i64::MAX))
}

/// A non-negative count (the messages of `getPositiveLongFromObjectOrReply`).
fn count_at(args: &Args<'_>, i: usize, msg: &'static str) -> Result<u64, CmdError> {
    Ok(args.long_at_least(i, 0, msg)?.unsigned_abs())
}

/// LEFT / RIGHT, or a syntax error (`getListPositionFromObjectOrReply`).
pub(super) fn end_at(args: &Args<'_>, i: usize) -> Result<End, CmdError> {
    if args.is(i, "left") {
        Ok(End::Left)
    } else if args.is(i, "right") {
        Ok(End::Right)
    } else {
        Err(CmdError::Syntax)
    }
}

/// The event for pushing at `end`.
fn push_event(end: End) -> &'static str {
    match end {
        End::Left => "lpush",
        End::Right => "rpush",
    }
}

/// Announces a pop from `key` at `end`, and the key's deletion if that emptied it.
pub(super) fn notify_pop(cx: &mut Context<'_>, key: &[u8], end: End) {
    let event = match end {
        End::Left => "lpop",
        End::Right => "rpop",
    };
    cx.notify(class::LIST, event, key);
    cx.notify_if_gone(key);
}

/// Announces an LMOVE as Redis does: the push to `dst`, then the pop from `src` (and its
/// deletion if emptied).
pub(super) fn notify_move(cx: &mut Context<'_>, src: &[u8], dst: &[u8], from: End, to: End) {
    cx.notify(class::LIST, push_event(to), dst);
    notify_pop(cx, src, from);
}

fn push(cx: &mut Context<'_>, args: &Args<'_>, end: End, only_existing: bool) -> CmdResult {
    let elems: Vec<&[u8]> = (2..args.len()).map(|i| args.get(i)).collect();
    let n = lists::push(&cx.db(), args.get(1), end, &elems, only_existing)?;
    // LPUSHX/RPUSHX on a missing key push nothing and reply 0.
    if n > 0 {
        cx.notify(class::LIST, push_event(end), args.get(1));
    }
    Ok(int(n))
}

fn lpush(cx: &mut Context<'_>, args: &Args<'_>) -> CmdResult {
    push(cx, args, End::Left, false)
}

fn rpush(cx: &mut Context<'_>, args: &Args<'_>) -> CmdResult {
    push(cx, args, End::Right, false)
}

fn lpushx(cx: &mut Context<'_>, args: &Args<'_>) -> CmdResult {
    push(cx, args, End::Left, true)
}

fn rpushx(cx: &mut Context<'_>, args: &Args<'_>) -> CmdResult {
    push(cx, args, End::Right, true)
}

/// LPOP / RPOP key [count]: the count is checked before the key. Without a count: one element
/// or nil; with one: an array (empty for 0), or a nil array for a missing key. The reply is
/// bounded by the list, whatever the count.
fn pop(cx: &mut Context<'_>, args: &Args<'_>, end: End, name: &str) -> CmdResult {
    if args.len() > 3 {
        return Err(CmdError::Arity(name.to_string()));
    }
    let db = cx.db();
    let key = args.get(1);
    if args.len() == 2 {
        let popped = lists::pop(&db, key, end, 1)?;
        if popped.as_ref().is_some_and(|v| !v.is_empty()) {
            notify_pop(cx, key, end);
        }
        return Ok(popped
            .and_then(|v| v.into_iter().next())
            .map_or(Reply::Nil, Reply::Bulk));
    }
    let count = count_at(args, 2, "ERR value is out of range, must be positive")?;
    let popped = lists::pop(&db, key, end, count)?;
    // A count of 0 pops nothing and Redis says nothing.
    if popped.as_ref().is_some_and(|v| !v.is_empty()) {
        notify_pop(cx, key, end);
    }
    Ok(match popped {
        Some(items) => Reply::bulks(items),
        None => Reply::NilArray,
    })
}

fn lpop(cx: &mut Context<'_>, args: &Args<'_>) -> CmdResult {
    pop(cx, args, End::Left, "lpop")
}

fn rpop(cx: &mut Context<'_>, args: &Args<'_>) -> CmdResult {
    pop(cx, args, End::Right, "rpop")
}

fn llen(cx: &mut Context<'_>, args: &Args<'_>) -> CmdResult {
    Ok(int(lists::len(&cx.db(), args.get(1))?))
}

/// LINDEX key index: Redis looks the key up (nil when missing, WRONGTYPE) before it parses
/// the index.
fn lindex(cx: &mut Context<'_>, args: &Args<'_>) -> CmdResult {
    let db = cx.db();
    let key = args.get(1);
    let index = match args.i64(2) {
        Ok(i) => i,
        Err(_) if lists::len(&db, key)? == 0 => return Ok(Reply::Nil),
        Err(e) => return Err(e),
    };
    Ok(lists::index(&db, key, index)?.map_or(Reply::Nil, Reply::Bulk))
}

/// LSET key index element: `ERR no such key` and WRONGTYPE come before the index is parsed.
fn lset(cx: &mut Context<'_>, args: &Args<'_>) -> CmdResult {
    let db = cx.db();
    let key = args.get(1);
    let index = match args.i64(2) {
        Ok(i) => i,
        Err(_) if lists::len(&db, key)? == 0 => return Err(CmdError::NoSuchKey),
        Err(e) => return Err(e),
    };
    lists::set(&db, key, index, args.get(3))?;
    cx.notify(class::LIST, "lset", key);
    Ok(Reply::Ok)
}

/// LRANGE key start stop: the bounds are parsed before the key is looked up.
fn lrange(cx: &mut Context<'_>, args: &Args<'_>) -> CmdResult {
    let (start, stop) = (args.i64(2)?, args.i64(3)?);
    Ok(Reply::bulks(lists::range(
        &cx.db(),
        args.get(1),
        start,
        stop,
    )?))
}

/// LTRIM key start stop: OK, also for a missing key.
fn ltrim(cx: &mut Context<'_>, args: &Args<'_>) -> CmdResult {
    let (start, stop) = (args.i64(2)?, args.i64(3)?);
    let (db, key) = (cx.db(), args.get(1));
    // Redis announces LTRIM of an existing list only; looked up only when the event is wanted.
    let existed = cx.notifying(class::LIST) && db.meta(key)?.is_some();
    lists::trim(&db, key, start, stop)?;
    if existed {
        cx.notify(class::LIST, "ltrim", key);
        cx.notify_if_gone(key);
    }
    Ok(Reply::Ok)
}

/// LREM key count element.
fn lrem(cx: &mut Context<'_>, args: &Args<'_>) -> CmdResult {
    let count = args.i64(2)?;
    let removed = lists::remove(&cx.db(), args.get(1), count, args.get(3))?;
    if removed > 0 {
        cx.notify(class::LIST, "lrem", args.get(1));
        cx.notify_if_gone(args.get(1));
    }
    Ok(int(removed))
}

/// LINSERT key BEFORE|AFTER pivot element: the position word is checked before the key.
fn linsert(cx: &mut Context<'_>, args: &Args<'_>) -> CmdResult {
    let before = if args.is(2, "after") {
        false
    } else if args.is(2, "before") {
        true
    } else {
        return Err(CmdError::Syntax);
    };
    let n = lists::insert(&cx.db(), args.get(1), before, args.get(3), args.get(4))?;
    if n > 0 {
        cx.notify(class::LIST, "linsert", args.get(1));
    }
    Ok(Reply::Int(n))
}

/// LPOS key element [RANK rank] [COUNT num-matches] [MAXLEN len]: the options are parsed (the
/// last of a repeated one wins) before the key is looked up.
fn lpos(cx: &mut Context<'_>, args: &Args<'_>) -> CmdResult {
    let mut rank = 1i64;
    let mut count: Option<u64> = None;
    let mut maxlen = 0u64;
    let mut j = 3;
    while j < args.len() {
        let more = j + 1 < args.len();
        if args.is(j, "rank") && more {
            j += 1;
            rank = args.i64(j)?;
            if rank == 0 {
                return Err(CmdError::msg(
                    "ERR RANK can't be zero: use 1 to start from the first match, 2 from the \
                     second ... or use negative to start from the end of the list",
                ));
            }
        } else if args.is(j, "count") && more {
            j += 1;
            count = Some(count_at(args, j, "ERR COUNT can't be negative")?);
        } else if args.is(j, "maxlen") && more {
            j += 1;
            maxlen = count_at(args, j, "ERR MAXLEN can't be negative")?;
        } else {
            return Err(CmdError::Syntax);
        }
        j += 1;
    }
    let found = lists::positions(&cx.db(), args.get(1), args.get(2), rank, count, maxlen)?;
    Ok(match (found, count) {
        (Some(p), Some(_)) => Reply::Array(p.into_iter().map(int).collect()),
        (None, Some(_)) => Reply::Array(Vec::new()),
        (Some(p), None) => p.first().map_or(Reply::Nil, |&i| int(i)),
        (None, None) => Reply::Nil,
    })
}

fn moved(v: Option<bytes::Bytes>) -> Reply {
    v.map_or(Reply::Nil, Reply::Bulk)
}

/// LMOVE source destination LEFT|RIGHT LEFT|RIGHT: both directions are checked first.
fn lmove(cx: &mut Context<'_>, args: &Args<'_>) -> CmdResult {
    let from = end_at(args, 3)?;
    let to = end_at(args, 4)?;
    move_and_notify(cx, args.get(1), args.get(2), from, to).map(moved)
}

/// LMOVE and its events; the moved element, if any.
pub(super) fn move_and_notify(
    cx: &mut Context<'_>,
    src: &[u8],
    dst: &[u8],
    from: End,
    to: End,
) -> Result<Option<bytes::Bytes>, CmdError> {
    let value = lists::lmove(&cx.db(), src, dst, from, to)?;
    if value.is_some() {
        notify_move(cx, src, dst, from, to);
    }
    Ok(value)
}

/// RPOPLPUSH source destination: LMOVE source destination RIGHT LEFT.
fn rpoplpush(cx: &mut Context<'_>, args: &Args<'_>) -> CmdResult {
    move_and_notify(cx, args.get(1), args.get(2), End::Right, End::Left).map(moved)
}

/// LMPOP numkeys key [key ...] LEFT|RIGHT [COUNT count]: `[key, [elements]]` from the first
/// key holding a list, or a nil array.
fn lmpop(cx: &mut Context<'_>, args: &Args<'_>) -> CmdResult {
    let m = args.mpop(1, end_at)?;
    let popped = lists::first_nonempty_pop(&cx.db(), &m.keys, m.side, m.count)?;
    if let Some((i, _)) = &popped {
        notify_pop(cx, m.keys[*i], m.side);
    }
    Ok(mpop_reply(&m.keys, popped))
}

/// LMPOP's reply: `[key, [elements]]`, or a nil array when nothing was popped.
pub(super) fn mpop_reply(keys: &[&[u8]], popped: Option<(usize, Vec<bytes::Bytes>)>) -> Reply {
    match popped {
        None => Reply::NilArray,
        Some((i, items)) => Reply::Array(vec![Reply::bulk(keys[i]), Reply::bulks(items)]),
    }
}
