//! Hash commands: HSET, HGET and the rest of Redis 7.0's hash family (`t_hash.c`), with its
//! argument checks, their order and its error texts.

use super::flags::*;
use super::{Args, CmdError, CmdResult, Context, Keys, Spec};
use crate::protocol::Reply;
use crate::server::notify::class;
use crate::types::hashes::{self, HashError, MAX_RANDOM_COUNT};
use bytes::Bytes;

const G: &str = "hash";

pub(super) const TABLE: &[Spec] = &[
    Spec::new("hset", -4, WRITE | DENYOOM | FAST, Keys::one(1), hset)
        .group(G)
        .doc("Set the string value of a hash field"),
    Spec::new("hsetnx", 4, WRITE | DENYOOM | FAST, Keys::one(1), hsetnx)
        .group(G)
        .doc("Set the value of a hash field, only if the field does not exist"),
    Spec::new("hget", 3, READONLY | FAST, Keys::one(1), hget)
        .group(G)
        .doc("Get the value of a hash field"),
    Spec::new("hmget", -3, READONLY | FAST, Keys::one(1), hmget)
        .group(G)
        .doc("Get the values of all the given hash fields"),
    Spec::new("hmset", -4, WRITE | DENYOOM | FAST, Keys::one(1), hmset)
        .group(G)
        .doc("Set multiple hash fields to multiple values"),
    Spec::new("hdel", -3, WRITE | FAST, Keys::one(1), hdel)
        .group(G)
        .doc("Delete one or more hash fields"),
    Spec::new("hexists", 3, READONLY | FAST, Keys::one(1), hexists)
        .group(G)
        .doc("Determine if a hash field exists"),
    Spec::new("hlen", 2, READONLY | FAST, Keys::one(1), hlen)
        .group(G)
        .doc("Get the number of fields in a hash"),
    Spec::new("hstrlen", 3, READONLY | FAST, Keys::one(1), hstrlen)
        .group(G)
        .doc("Get the length of the value of a hash field"),
    Spec::new("hkeys", 2, READONLY, Keys::one(1), hkeys)
        .group(G)
        .doc("Get all the fields in a hash"),
    Spec::new("hvals", 2, READONLY, Keys::one(1), hvals)
        .group(G)
        .doc("Get all the values in a hash"),
    Spec::new("hgetall", 2, READONLY, Keys::one(1), hgetall)
        .group(G)
        .doc("Get all the fields and values in a hash"),
    Spec::new("hincrby", 4, WRITE | DENYOOM | FAST, Keys::one(1), hincrby)
        .group(G)
        .doc("Increment the integer value of a hash field by the given number"),
    Spec::new(
        "hincrbyfloat",
        4,
        WRITE | DENYOOM | FAST,
        Keys::one(1),
        hincrbyfloat,
    )
    .group(G)
    .doc("Increment the float value of a hash field by the given amount"),
    Spec::new("hrandfield", -2, READONLY, Keys::one(1), hrandfield)
        .group(G)
        .doc("Get one or multiple random fields from a hash"),
    Spec::new("hscan", -3, READONLY, Keys::one(1), hscan)
        .group(G)
        .doc("Incrementally iterate hash fields and associated values"),
];

impl From<HashError> for CmdError {
    fn from(e: HashError) -> Self {
        match e {
            HashError::Type(t) => t.into(),
            other => CmdError::msg(other.to_string()),
        }
    }
}

/// The (field, value) pairs from argument 2 on; the caller has checked they come in pairs.
fn pairs<'a>(args: &Args<'a>) -> Vec<(&'a [u8], &'a [u8])> {
    (2..args.len())
        .step_by(2)
        .map(|i| (args.get(i), args.get(i + 1)))
        .collect()
}

/// The fields from argument 2 on.
fn fields<'a>(args: &Args<'a>) -> Vec<&'a [u8]> {
    (2..args.len()).map(|i| args.get(i)).collect()
}

/// HSET/HMSET with an odd number of field/value arguments: Redis's arity error, before the key
/// is looked at.
fn set_pairs(cx: &mut Context<'_>, args: &Args<'_>, name: &str) -> Result<u64, CmdError> {
    if args.len() % 2 == 1 {
        return Err(CmdError::Arity(name.to_string()));
    }
    let added = hashes::set(&cx.db(), args.get(1), &pairs(args), false)?;
    cx.notify(class::HASH, "hset", args.get(1));
    Ok(added)
}

/// HSET key field value [field value ...]: the number of fields created.
fn hset(cx: &mut Context<'_>, args: &Args<'_>) -> CmdResult {
    let added = set_pairs(cx, args, "hset")?;
    Ok(Reply::Int(added as i64))
}

/// HMSET key field value [field value ...]: OK.
fn hmset(cx: &mut Context<'_>, args: &Args<'_>) -> CmdResult {
    set_pairs(cx, args, "hmset")?;
    Ok(Reply::Ok)
}

/// HSETNX key field value: 1 if the field was created, 0 if it existed.
fn hsetnx(cx: &mut Context<'_>, args: &Args<'_>) -> CmdResult {
    let added = hashes::set(&cx.db(), args.get(1), &[(args.get(2), args.get(3))], true)?;
    if added > 0 {
        cx.notify(class::HASH, "hset", args.get(1));
    }
    Ok(Reply::Int(added as i64))
}

fn hget(cx: &mut Context<'_>, args: &Args<'_>) -> CmdResult {
    Ok(hashes::get(&cx.db(), args.get(1), args.get(2))?.map_or(Reply::Nil, Reply::Bulk))
}

fn hmget(cx: &mut Context<'_>, args: &Args<'_>) -> CmdResult {
    let values = hashes::mget(&cx.db(), args.get(1), &fields(args))?;
    Ok(Reply::Array(
        values
            .into_iter()
            .map(|v| v.map_or(Reply::Nil, Reply::Bulk))
            .collect(),
    ))
}

fn hdel(cx: &mut Context<'_>, args: &Args<'_>) -> CmdResult {
    let removed = hashes::del(&cx.db(), args.get(1), &fields(args))?;
    if removed > 0 {
        cx.notify(class::HASH, "hdel", args.get(1));
        cx.notify_if_gone(args.get(1));
    }
    Ok(Reply::Int(removed as i64))
}

fn hexists(cx: &mut Context<'_>, args: &Args<'_>) -> CmdResult {
    let found = hashes::exists(&cx.db(), args.get(1), args.get(2))?;
    Ok(Reply::Int(found.into()))
}

fn hlen(cx: &mut Context<'_>, args: &Args<'_>) -> CmdResult {
    Ok(Reply::Int(hashes::len(&cx.db(), args.get(1))? as i64))
}

fn hstrlen(cx: &mut Context<'_>, args: &Args<'_>) -> CmdResult {
    Ok(Reply::Int(
        hashes::strlen(&cx.db(), args.get(1), args.get(2))? as i64,
    ))
}

fn hkeys(cx: &mut Context<'_>, args: &Args<'_>) -> CmdResult {
    let all = hashes::all(&cx.db(), args.get(1), true, false)?;
    Ok(Reply::Array(
        all.into_iter().map(|(f, _)| Reply::Bulk(f)).collect(),
    ))
}

fn hvals(cx: &mut Context<'_>, args: &Args<'_>) -> CmdResult {
    let all = hashes::all(&cx.db(), args.get(1), false, true)?;
    Ok(Reply::Array(
        all.into_iter().map(|(_, v)| Reply::Bulk(v)).collect(),
    ))
}

/// HGETALL: a map (flattened to field, value, ... under RESP2).
fn hgetall(cx: &mut Context<'_>, args: &Args<'_>) -> CmdResult {
    let all = hashes::all(&cx.db(), args.get(1), true, true)?;
    Ok(Reply::Map(
        all.into_iter()
            .map(|(f, v)| (Reply::Bulk(f), Reply::Bulk(v)))
            .collect(),
    ))
}

/// HINCRBY key field increment: the increment is parsed before the key's type is checked.
fn hincrby(cx: &mut Context<'_>, args: &Args<'_>) -> CmdResult {
    let incr = args.i64(3)?;
    let v = hashes::incr_by(&cx.db(), args.get(1), args.get(2), incr)?;
    cx.notify(class::HASH, "hincrby", args.get(1));
    Ok(Reply::Int(v))
}

/// HINCRBYFLOAT key field increment: the new value as a bulk string.
fn hincrbyfloat(cx: &mut Context<'_>, args: &Args<'_>) -> CmdResult {
    let v = hashes::incr_by_float(&cx.db(), args.get(1), args.get(2), args.get(3))?;
    cx.notify(class::HASH, "hincrbyfloat", args.get(1));
    Ok(Reply::Bulk(Bytes::from(v)))
}

/// HRANDFIELD key [count [WITHVALUES]], with Redis 7.0's checks in its order: the count (an
/// integer in -LONG_MAX..=LONG_MAX), the syntax, WITHVALUES's range (±LONG_MAX/2), then the key.
/// Negative counts beyond [`MAX_RANDOM_COUNT`] are refused (Redis would build the reply).
fn hrandfield(cx: &mut Context<'_>, args: &Args<'_>) -> CmdResult {
    if args.len() == 2 {
        let field = hashes::random_field(&cx.db(), args.get(1))?;
        return Ok(field.map_or(Reply::Nil, Reply::Bulk));
    }
    let count = args.i64(2)?;
    if count == i64::MIN {
        return Err(CmdError::msg(
            "ERR value is out of range, value must between -9223372036854775807 and 9223372036854775807",
        ));
    }
    let with_values = match args.len() {
        3 => false,
        4 if args.is(3, "withvalues") => true,
        _ => return Err(CmdError::Syntax),
    };
    let out_of_range = || CmdError::msg("ERR value is out of range");
    if with_values && !(-(i64::MAX / 2)..=i64::MAX / 2).contains(&count) {
        return Err(out_of_range());
    }
    if count < 0 && count.unsigned_abs() > MAX_RANDOM_COUNT {
        // Redis answers a missing key (and a wrong type) before looking at the count's size.
        if hashes::len(&cx.db(), args.get(1))? == 0 {
            return Ok(Reply::Array(Vec::new()));
        }
        return Err(out_of_range());
    }
    let Some(found) = hashes::random_fields(&cx.db(), args.get(1), count)? else {
        return Ok(Reply::Array(Vec::new()));
    };
    let resp3 = cx.client.resp3;
    let items = if !with_values {
        found.into_iter().map(|(f, _)| Reply::Bulk(f)).collect()
    } else if resp3 {
        found
            .into_iter()
            .map(|(f, v)| Reply::Array(vec![Reply::Bulk(f), Reply::Bulk(v)]))
            .collect()
    } else {
        found
            .into_iter()
            .flat_map(|(f, v)| [Reply::Bulk(f), Reply::Bulk(v)])
            .collect()
    };
    Ok(Reply::Array(items))
}

/// HSCAN key cursor [MATCH pattern] [COUNT count]. As in Redis: the cursor is checked first,
/// then the key (missing: an empty, finished scan, whatever the options), then its type, then
/// the options.
fn hscan(cx: &mut Context<'_>, args: &Args<'_>) -> CmdResult {
    let cursor = args.cursor(2)?;
    let db = cx.db();
    let empty = || {
        Reply::Array(vec![
            Reply::Bulk(Bytes::from_static(b"0")),
            Reply::Array(Vec::new()),
        ])
    };
    if hashes::len(&db, args.get(1))? == 0 {
        return Ok(empty());
    }
    let mut count = 10usize;
    let mut pattern: Option<&[u8]> = None;
    let mut i = 3;
    while i < args.len() {
        let has_value = i + 1 < args.len();
        if args.is(i, "count") && has_value {
            let n = args.i64(i + 1)?;
            if n < 1 {
                return Err(CmdError::Syntax);
            }
            count = usize::try_from(n).unwrap_or(usize::MAX);
        } else if args.is(i, "match") && has_value {
            pattern = Some(args.get(i + 1));
        } else {
            return Err(CmdError::Syntax);
        }
        i += 2;
    }
    let (next, found) = hashes::scan(
        &db,
        &cx.shared.scan_cursors,
        args.get(1),
        cursor,
        count,
        pattern,
    )?;
    Ok(Reply::Array(vec![
        Reply::Bulk(Bytes::from(next.to_string())),
        Reply::Array(
            found
                .into_iter()
                .flat_map(|(f, v)| [Reply::Bulk(f), Reply::Bulk(v)])
                .collect(),
        ),
    ]))
}
