//! Set commands: SADD, SREM, SPOP, SINTER and the rest of Redis 7.0's set family.

use super::flags::*;
use super::{Args, CmdError, CmdResult, Context, Keys, Spec};
use crate::protocol::Reply;
use crate::server::notify::class;
use crate::types::sets::{self, SetOp};
use crate::util::num::parse_i64;
use bytes::Bytes;

const G: &str = "set";

/// The most picks SRANDMEMBER with a negative count returns: the reply is built in memory, so a
/// count beyond this is refused (Redis 7.0.15 tries and dies of memory exhaustion).
const MAX_RANDOM_REPEATS: u64 = 1 << 22;

pub(super) const TABLE: &[Spec] = &[
    Spec::new("sadd", -3, WRITE | DENYOOM | FAST, Keys::one(1), sadd)
        .group(G)
        .doc("Adds one or more members to a set. Creates the key if it doesn't exist."),
    Spec::new("srem", -3, WRITE | FAST, Keys::one(1), srem)
        .group(G)
        .doc("Removes one or more members from a set. Deletes the set if the last member was removed."),
    Spec::new("sismember", 3, READONLY | FAST, Keys::one(1), sismember)
        .group(G)
        .doc("Determines whether a member belongs to a set."),
    Spec::new("smismember", -3, READONLY | FAST, Keys::one(1), smismember)
        .group(G)
        .doc("Determines whether multiple members belong to a set."),
    Spec::new("smembers", 2, READONLY, Keys::one(1), smembers)
        .group(G)
        .doc("Returns all members of a set."),
    Spec::new("scard", 2, READONLY | FAST, Keys::one(1), scard)
        .group(G)
        .doc("Returns the number of members in a set."),
    Spec::new("spop", -2, WRITE | FAST, Keys::one(1), spop)
        .group(G)
        .doc("Returns one or more random members from a set after removing them. Deletes the set if the last member was popped."),
    Spec::new("srandmember", -2, READONLY, Keys::one(1), srandmember)
        .group(G)
        .doc("Get one or multiple random members from a set"),
    Spec::new("smove", 4, WRITE | FAST, Keys::range(1, 2, 1), smove)
        .group(G)
        .doc("Moves a member from one set to another."),
    Spec::new("sinter", -2, READONLY, Keys::range(1, -1, 1), sinter)
        .group(G)
        .doc("Returns the intersect of multiple sets."),
    Spec::new("sintercard", -3, READONLY | MOVABLEKEYS, Keys::NONE, sintercard)
        .group(G)
        .doc("Returns the number of members of the intersect of multiple sets."),
    Spec::new("sinterstore", -3, WRITE | DENYOOM, Keys::range(1, -1, 1), sinterstore)
        .group(G)
        .doc("Stores the intersect of multiple sets in a key."),
    Spec::new("sunion", -2, READONLY, Keys::range(1, -1, 1), sunion)
        .group(G)
        .doc("Returns the union of multiple sets."),
    Spec::new("sunionstore", -3, WRITE | DENYOOM, Keys::range(1, -1, 1), sunionstore)
        .group(G)
        .doc("Stores the union of multiple sets in a key."),
    Spec::new("sdiff", -2, READONLY, Keys::range(1, -1, 1), sdiff)
        .group(G)
        .doc("Returns the difference of multiple sets."),
    Spec::new("sdiffstore", -3, WRITE | DENYOOM, Keys::range(1, -1, 1), sdiffstore)
        .group(G)
        .doc("Stores the difference of multiple sets in a key."),
    Spec::new("sscan", -3, READONLY, Keys::one(1), sscan)
        .group(G)
        .doc("Iterates over members of a set."),
];

/// Arguments `from..` as byte slices.
fn rest<'a>(args: &Args<'a>, from: usize) -> Vec<&'a [u8]> {
    args.iter().skip(from).collect()
}

/// Members as a RESP3 set (an array in RESP2), as Redis replies to SMEMBERS, SINTER, SPOP n...
fn set_reply(members: Vec<Bytes>) -> Reply {
    Reply::Set(members.into_iter().map(Reply::Bulk).collect())
}

fn array_reply(members: Vec<Bytes>) -> Reply {
    Reply::Array(members.into_iter().map(Reply::Bulk).collect())
}

fn sadd(cx: &mut Context<'_>, args: &Args<'_>) -> CmdResult {
    let n = sets::add(&cx.db(), args.get(1), &rest(args, 2))?;
    if n > 0 {
        cx.notify(class::SET, "sadd", args.get(1));
    }
    Ok(Reply::Int(n as i64))
}

fn srem(cx: &mut Context<'_>, args: &Args<'_>) -> CmdResult {
    let n = sets::remove(&cx.db(), args.get(1), &rest(args, 2))?;
    if n > 0 {
        cx.notify(class::SET, "srem", args.get(1));
        cx.notify_if_gone(args.get(1));
    }
    Ok(Reply::Int(n as i64))
}

fn sismember(cx: &mut Context<'_>, args: &Args<'_>) -> CmdResult {
    let found = sets::is_member(&cx.db(), args.get(1), args.get(2))?;
    Ok(Reply::Int(found.into()))
}

fn smismember(cx: &mut Context<'_>, args: &Args<'_>) -> CmdResult {
    let found = sets::mis_member(&cx.db(), args.get(1), &rest(args, 2))?;
    Ok(Reply::Array(
        found.into_iter().map(|f| Reply::Int(f.into())).collect(),
    ))
}

fn smembers(cx: &mut Context<'_>, args: &Args<'_>) -> CmdResult {
    Ok(set_reply(sets::members(&cx.db(), args.get(1))?))
}

fn scard(cx: &mut Context<'_>, args: &Args<'_>) -> CmdResult {
    Ok(Reply::Int(sets::card(&cx.db(), args.get(1))? as i64))
}

/// SPOP key [count]: the count is checked before the key (Redis's order).
fn spop(cx: &mut Context<'_>, args: &Args<'_>) -> CmdResult {
    match args.len() {
        2 => {
            let popped = sets::pop_one(&cx.db(), args.get(1))?;
            if popped.is_some() {
                notify_spop(cx, args.get(1));
            }
            Ok(popped.map_or(Reply::Nil, Reply::Bulk))
        }
        3 => {
            let count = parse_i64(args.get(2))
                .filter(|c| *c >= 0)
                .ok_or_else(|| CmdError::msg("ERR value is out of range, must be positive"))?;
            let popped = sets::pop_count(&cx.db(), args.get(1), count as u64)?;
            if !popped.is_empty() {
                notify_spop(cx, args.get(1));
            }
            Ok(set_reply(popped))
        }
        _ => Err(CmdError::Syntax),
    }
}

/// SRANDMEMBER key [count]
/// SPOP's events: `spop`, and `del` when it took the last member.
fn notify_spop(cx: &mut Context<'_>, key: &[u8]) {
    cx.notify(class::SET, "spop", key);
    cx.notify_if_gone(key);
}

fn srandmember(cx: &mut Context<'_>, args: &Args<'_>) -> CmdResult {
    match args.len() {
        2 => Ok(sets::rand_one(&cx.db(), args.get(1))?.map_or(Reply::Nil, Reply::Bulk)),
        3 => {
            let count = args.i64(2)?;
            if count == i64::MIN {
                return Err(CmdError::msg(
                    "ERR value is out of range, value must between -9223372036854775807 and 9223372036854775807",
                ));
            }
            match sets::rand_count(&cx.db(), args.get(1), count, MAX_RANDOM_REPEATS)? {
                Some(members) => Ok(array_reply(members)),
                None => Err(CmdError::msg("ERR value is out of range")),
            }
        }
        _ => Err(CmdError::Syntax),
    }
}

fn smove(cx: &mut Context<'_>, args: &Args<'_>) -> CmdResult {
    let (db, src, dst, member) = (cx.db(), args.get(1), args.get(2), args.get(3));
    // Redis announces `sadd` only if the destination did not have the member yet; looked up
    // only when the event is wanted (checked again by SMOVE itself under its locks).
    let dst_had = cx.notifying(class::SET) && src != dst && sets::is_member(&db, dst, member)?;
    let moved = sets::smove(&db, src, dst, member)?;
    // Moving to the same set changes nothing, and Redis says nothing.
    if moved && src != dst {
        cx.notify(class::SET, "srem", src);
        cx.notify_if_gone(src);
        if !dst_had {
            cx.notify(class::SET, "sadd", dst);
        }
    }
    Ok(Reply::Int(moved.into()))
}

fn sinter(cx: &mut Context<'_>, args: &Args<'_>) -> CmdResult {
    Ok(set_reply(sets::inter(&cx.db(), &rest(args, 1))?))
}

fn sunion(cx: &mut Context<'_>, args: &Args<'_>) -> CmdResult {
    Ok(set_reply(sets::union(&cx.db(), &rest(args, 1))?))
}

fn sdiff(cx: &mut Context<'_>, args: &Args<'_>) -> CmdResult {
    Ok(set_reply(sets::diff(&cx.db(), &rest(args, 1))?))
}

fn store(cx: &mut Context<'_>, args: &Args<'_>, op: SetOp) -> CmdResult {
    let (db, dst) = (cx.db(), args.get(1));
    // An empty result deletes the destination: Redis says `del` only if there was one.
    let existed = cx.notifying(class::GENERIC) && db.meta(dst)?.is_some();
    let n = sets::store(&db, dst, op, &rest(args, 2))?;
    if n > 0 {
        let event = match op {
            SetOp::Inter => "sinterstore",
            SetOp::Union => "sunionstore",
            SetOp::Diff => "sdiffstore",
        };
        cx.notify(class::SET, event, dst);
    } else if existed {
        cx.notify(class::GENERIC, "del", dst);
    }
    Ok(Reply::Int(n as i64))
}

fn sinterstore(cx: &mut Context<'_>, args: &Args<'_>) -> CmdResult {
    store(cx, args, SetOp::Inter)
}

fn sunionstore(cx: &mut Context<'_>, args: &Args<'_>) -> CmdResult {
    store(cx, args, SetOp::Union)
}

fn sdiffstore(cx: &mut Context<'_>, args: &Args<'_>) -> CmdResult {
    store(cx, args, SetOp::Diff)
}

/// SINTERCARD numkeys key [key ...] [LIMIT limit], with Redis 7.0's errors and their order:
/// numkeys, then the options, then the keys' types.
fn sintercard(cx: &mut Context<'_>, args: &Args<'_>) -> CmdResult {
    let numkeys = parse_i64(args.get(1))
        .filter(|n| *n >= 1)
        .ok_or_else(|| CmdError::msg("ERR numkeys should be greater than 0"))?;
    let available = (args.len() - 2) as i64;
    if numkeys > available {
        return Err(CmdError::msg(
            "ERR Number of keys can't be greater than number of args",
        ));
    }
    let first_opt = 2 + numkeys as usize;
    let mut limit = 0u64;
    let mut i = first_opt;
    while i < args.len() {
        if args.is(i, "limit") && i + 1 < args.len() {
            limit = parse_i64(args.get(i + 1))
                .filter(|l| *l >= 0)
                .ok_or_else(|| CmdError::msg("ERR LIMIT can't be negative"))?
                as u64;
            i += 2;
        } else {
            return Err(CmdError::Syntax);
        }
    }
    let keys: Vec<&[u8]> = (2..first_opt).map(|j| args.get(j)).collect();
    Ok(Reply::Int(sets::inter_card(&cx.db(), &keys, limit)? as i64))
}

/// SSCAN key cursor [MATCH pattern] [COUNT count]. Redis's order: the cursor is parsed first,
/// then a missing key answers an empty page (options unchecked), a wrong type errors, and only
/// then are the options parsed.
fn sscan(cx: &mut Context<'_>, args: &Args<'_>) -> CmdResult {
    let cursor = args.cursor(2)?;
    let db = cx.db();
    let key = args.get(1);
    let Some(meta) = sets::lookup(&db, key)? else {
        return Ok(Reply::Array(vec![
            Reply::bulk(b"0"),
            Reply::Array(Vec::new()),
        ]));
    };
    let mut count = 10u64;
    let mut pattern = None;
    let mut i = 3;
    while i < args.len() {
        let has_value = i + 1 < args.len();
        if args.is(i, "count") && has_value {
            let n = args.i64(i + 1)?;
            if n < 1 {
                return Err(CmdError::Syntax);
            }
            count = n as u64;
            i += 2;
        } else if args.is(i, "match") && has_value {
            pattern = Some(args.get(i + 1));
            i += 2;
        } else {
            return Err(CmdError::Syntax);
        }
    }
    let (next, members) = sets::scan(
        &db,
        &cx.shared.scan_cursors,
        key,
        &meta,
        cursor,
        pattern,
        count,
    )?;
    Ok(Reply::Array(vec![
        Reply::text(next.to_string()),
        array_reply(members),
    ]))
}
