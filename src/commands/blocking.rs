//! The blocking pops: BLPOP, BRPOP, BLMOVE, BRPOPLPUSH, BLMPOP, BZPOPMIN, BZPOPMAX, BZMPOP.
//!
//! Each is its non-blocking twin wrapped in [`Context::block_on`]: the same look at the keys,
//! and when it finds nothing the client waits (see `server::blocking`) until a write gives one
//! of its keys data, its timeout passes, or CLIENT UNBLOCK ends the wait. Argument checks follow
//! Redis 7.0 in its order (the timeout is checked first, except after BLMOVE's directions and
//! BLMPOP/BZMPOP's keys).

use super::flags::*;
use super::lists::end_at;
use super::zsets::min_max;
use super::{lists as list_cmds, zsets as zset_cmds};
use super::{Args, CmdError, CmdResult, Context, Keys, Spec};
use crate::protocol::Reply;
use crate::types::lists::{self, End};
use crate::types::zsets;
use crate::util::num;
use std::time::{Duration, Instant};

pub(super) const TABLE: &[Spec] = &[
    Spec::new("blpop", -3, WRITE | NOSCRIPT | BLOCKING, Keys::range(1, -2, 1), blpop)
        .group("list")
        .doc("Removes and returns the first element in a list. Blocks until an element is available otherwise. Deletes the list if the last element was popped."),
    Spec::new("brpop", -3, WRITE | NOSCRIPT | BLOCKING, Keys::range(1, -2, 1), brpop)
        .group("list")
        .doc("Removes and returns the last element in a list. Blocks until an element is available otherwise. Deletes the list if the last element was popped."),
    Spec::new("blmove", 6, WRITE | DENYOOM | NOSCRIPT | BLOCKING, Keys::range(1, 2, 1), blmove)
        .group("list")
        .doc("Pops an element from a list, pushes it to another list and returns it. Blocks until an element is available otherwise. Deletes the list if the last element was moved."),
    Spec::new("brpoplpush", 4, WRITE | DENYOOM | NOSCRIPT | BLOCKING, Keys::range(1, 2, 1), brpoplpush)
        .group("list")
        .doc("Pops an element from a list, pushes it to another list and returns it. Block until an element is available otherwise. Deletes the list if the last element was popped."),
    Spec::new("blmpop", -5, WRITE | BLOCKING | MOVABLEKEYS, Keys::NONE, blmpop)
        .group("list")
        .doc("Pops the first element from one of multiple lists. Blocks until an element is available otherwise. Deletes the list if the last element was popped."),
    Spec::new(
        "bzpopmin",
        -3,
        WRITE | NOSCRIPT | BLOCKING | FAST,
        Keys::range(1, -2, 1),
        bzpopmin,
    )
    .group("sorted-set")
    .doc("Removes and returns the member with the lowest score from one or more sorted sets. Blocks until a member is available otherwise. Deletes the sorted set if the last element was popped."),
    Spec::new(
        "bzpopmax",
        -3,
        WRITE | NOSCRIPT | BLOCKING | FAST,
        Keys::range(1, -2, 1),
        bzpopmax,
    )
    .group("sorted-set")
    .doc("Removes and returns the member with the highest score from one or more sorted sets. Blocks until a member available otherwise. Deletes the sorted set if the last element was popped."),
    Spec::new("bzmpop", -5, WRITE | BLOCKING | MOVABLEKEYS, Keys::NONE, bzmpop)
        .group("sorted-set")
        .doc("Removes and returns a member by score from one or more sorted sets. Blocks until a member is available otherwise. Deletes the sorted set if the last element was popped."),
];

/// A blocking command's timeout in seconds (decimals allowed) as Redis 7.0 reads it: None for
/// 0 (wait forever), else the deadline. Like Redis, a value too large for milliseconds in an
/// i64 is reported as negative.
pub(super) fn parse_timeout(arg: &[u8]) -> Result<Option<Instant>, CmdError> {
    let secs = num::parse_f64(arg)
        .filter(|v| !v.is_nan())
        .ok_or_else(|| CmdError::msg("ERR timeout is not a float or out of range"))?;
    let ms = (secs * 1000.0).ceil();
    // Redis casts with (long long): out of range becomes LLONG_MIN on x86, hence "negative".
    if !(ms >= 0.0 && ms < i64::MAX as f64) {
        return Err(CmdError::msg("ERR timeout is negative"));
    }
    if ms == 0.0 {
        return Ok(None);
    }
    // A deadline past what Instant can represent is as good as forever.
    Ok(Instant::now().checked_add(Duration::from_millis(ms as u64)))
}

fn bpop(cx: &mut Context<'_>, args: &Args<'_>, end: End) -> CmdResult {
    let last = args.len() - 1;
    let deadline = parse_timeout(args.get(last))?;
    let keys: Vec<&[u8]> = (1..last).map(|i| args.get(i)).collect();
    cx.block_on(args, &keys, deadline, Reply::NilArray, |cx| {
        let popped = lists::first_nonempty_pop(&cx.db(), &keys, end, 1)?;
        if let Some((i, _)) = &popped {
            list_cmds::notify_pop(cx, keys[*i], end);
        }
        Ok(popped.and_then(|(i, items)| {
            let item = items.into_iter().next()?;
            Some(Reply::Array(vec![Reply::bulk(keys[i]), Reply::Bulk(item)]))
        }))
    })
}

fn blpop(cx: &mut Context<'_>, args: &Args<'_>) -> CmdResult {
    bpop(cx, args, End::Left)
}

fn brpop(cx: &mut Context<'_>, args: &Args<'_>) -> CmdResult {
    bpop(cx, args, End::Right)
}

/// BLMOVE and BRPOPLPUSH: wait on the source only; the destination's type is checked when
/// there is something to move, as in Redis.
fn bmove(cx: &mut Context<'_>, args: &Args<'_>, from: End, to: End, timeout: usize) -> CmdResult {
    let deadline = parse_timeout(args.get(timeout))?;
    let (src, dst) = (args.get(1), args.get(2));
    cx.block_on(args, &[src], deadline, Reply::Nil, |cx| {
        Ok(list_cmds::move_and_notify(cx, src, dst, from, to)?.map(Reply::Bulk))
    })
}

fn blmove(cx: &mut Context<'_>, args: &Args<'_>) -> CmdResult {
    let from = end_at(args, 3)?;
    let to = end_at(args, 4)?;
    bmove(cx, args, from, to, 5)
}

fn brpoplpush(cx: &mut Context<'_>, args: &Args<'_>) -> CmdResult {
    bmove(cx, args, End::Right, End::Left, 3)
}

fn blmpop(cx: &mut Context<'_>, args: &Args<'_>) -> CmdResult {
    let m = args.mpop(2, end_at)?;
    let deadline = parse_timeout(args.get(1))?;
    cx.block_on(args, &m.keys, deadline, Reply::NilArray, |cx| {
        let popped = lists::first_nonempty_pop(&cx.db(), &m.keys, m.side, m.count)?;
        if let Some((i, _)) = &popped {
            list_cmds::notify_pop(cx, m.keys[*i], m.side);
        }
        Ok(popped.map(|p| list_cmds::mpop_reply(&m.keys, Some(p))))
    })
}

fn bzpop(cx: &mut Context<'_>, args: &Args<'_>, max: bool) -> CmdResult {
    let last = args.len() - 1;
    let deadline = parse_timeout(args.get(last))?;
    let keys: Vec<&[u8]> = (1..last).map(|i| args.get(i)).collect();
    cx.block_on(args, &keys, deadline, Reply::NilArray, |cx| {
        let popped = zsets::pop(&cx.db(), &keys, max, 1)?;
        if let Some((i, entries)) = &popped {
            if !entries.is_empty() {
                zset_cmds::notify_pop(cx, keys[*i], max);
            }
        }
        Ok(popped.and_then(|(i, entries)| {
            let (member, score) = entries.into_iter().next()?;
            Some(Reply::Array(vec![
                Reply::bulk(keys[i]),
                Reply::Bulk(member.into()),
                Reply::Double(score),
            ]))
        }))
    })
}

fn bzpopmin(cx: &mut Context<'_>, args: &Args<'_>) -> CmdResult {
    bzpop(cx, args, false)
}

fn bzpopmax(cx: &mut Context<'_>, args: &Args<'_>) -> CmdResult {
    bzpop(cx, args, true)
}

fn bzmpop(cx: &mut Context<'_>, args: &Args<'_>) -> CmdResult {
    let m = args.mpop(2, min_max)?;
    let deadline = parse_timeout(args.get(1))?;
    cx.block_on(args, &m.keys, deadline, Reply::NilArray, |cx| {
        let popped = zsets::pop(&cx.db(), &m.keys, m.side, m.count)?;
        if let Some((i, entries)) = &popped {
            if !entries.is_empty() {
                zset_cmds::notify_pop(cx, m.keys[*i], m.side);
            }
        }
        Ok(popped.map(|p| zset_cmds::mpop_reply(&m.keys, Some(p))))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timeouts_parse_as_redis_7_0_does() {
        assert_eq!(parse_timeout(b"0").unwrap(), None);
        assert_eq!(parse_timeout(b"-0.0001").unwrap(), None);
        let soon = parse_timeout(b"0.001").unwrap().unwrap();
        assert!(soon <= Instant::now() + Duration::from_millis(1));
        assert!(parse_timeout(b"1.5").unwrap().is_some());
        for (bad, text) in [
            (&b"abc"[..], "ERR timeout is not a float or out of range"),
            (b"nan", "ERR timeout is not a float or out of range"),
            (b" 1", "ERR timeout is not a float or out of range"),
            (b"-1", "ERR timeout is negative"),
            (b"inf", "ERR timeout is negative"),
            (b"1e30", "ERR timeout is negative"),
        ] {
            let e = parse_timeout(bad).unwrap_err();
            assert_eq!(e.to_string(), text, "{}", String::from_utf8_lossy(bad));
        }
    }
}
