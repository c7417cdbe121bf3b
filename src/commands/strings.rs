//! String commands: GET, SET and the rest of Redis's string family.

use super::flags::*;
use super::{Args, CmdError, CmdResult, Context, Keys, Spec};
use crate::protocol::Reply;
use crate::server::notify::class;
use crate::types::strings::{self, ExpiryChange, LcsWant, Pair, SetCond, Ttl};
use crate::types::TypeError;

const G: &str = "string";

pub(super) const TABLE: &[Spec] = &[
    Spec::new("get", 2, READONLY | FAST, Keys::one(1), get)
        .group(G)
        .doc("Returns the string value of a key."),
    Spec::new("set", -3, WRITE | DENYOOM, Keys::one(1), set)
        .group(G)
        .doc("Sets the string value of a key, ignoring its type. The key is created if it doesn't exist."),
    Spec::new("setnx", 3, WRITE | DENYOOM | FAST, Keys::one(1), setnx)
        .group(G)
        .doc("Set the string value of a key only when the key doesn't exist."),
    Spec::new("setex", 4, WRITE | DENYOOM, Keys::one(1), setex)
        .group(G)
        .doc("Sets the string value and expiration time of a key. Creates the key if it doesn't exist."),
    Spec::new("psetex", 4, WRITE | DENYOOM, Keys::one(1), psetex)
        .group(G)
        .doc("Sets both string value and expiration time in milliseconds of a key. The key is created if it doesn't exist."),
    Spec::new("getset", 3, WRITE | DENYOOM | FAST, Keys::one(1), getset)
        .group(G)
        .doc("Returns the previous string value of a key after setting it to a new value."),
    Spec::new("getdel", 2, WRITE | FAST, Keys::one(1), getdel)
        .group(G)
        .doc("Returns the string value of a key after deleting the key."),
    Spec::new("getex", -2, WRITE | FAST, Keys::one(1), getex)
        .group(G)
        .doc("Returns the string value of a key after setting its expiration time."),
    Spec::new("mget", -2, READONLY | FAST, Keys::range(1, -1, 1), mget)
        .group(G)
        .doc("Atomically returns the string values of one or more keys."),
    Spec::new("mset", -3, WRITE | DENYOOM, Keys::range(1, -1, 2), mset)
        .group(G)
        .doc("Atomically creates or modifies the string values of one or more keys."),
    Spec::new("msetnx", -3, WRITE | DENYOOM, Keys::range(1, -1, 2), msetnx)
        .group(G)
        .doc("Atomically modifies the string values of one or more keys only when all keys don't exist."),
    Spec::new("append", 3, WRITE | DENYOOM | FAST, Keys::one(1), append)
        .group(G)
        .doc("Appends a string to the value of a key. Creates the key if it doesn't exist."),
    Spec::new("strlen", 2, READONLY | FAST, Keys::one(1), strlen)
        .group(G)
        .doc("Returns the length of a string value."),
    Spec::new("getrange", 4, READONLY, Keys::one(1), getrange)
        .group(G)
        .doc("Returns a substring of the string stored at a key."),
    Spec::new("substr", 4, READONLY, Keys::one(1), getrange)
        .group(G)
        .doc("Returns a substring from a string value."),
    Spec::new("setrange", 4, WRITE | DENYOOM, Keys::one(1), setrange)
        .group(G)
        .doc("Overwrites a part of a string value with another by an offset. Creates the key if it doesn't exist."),
    Spec::new("incr", 2, WRITE | DENYOOM | FAST, Keys::one(1), incr)
        .group(G)
        .doc("Increments the integer value of a key by one. Uses 0 as initial value if the key doesn't exist."),
    Spec::new("decr", 2, WRITE | DENYOOM | FAST, Keys::one(1), decr)
        .group(G)
        .doc("Decrements the integer value of a key by one. Uses 0 as initial value if the key doesn't exist."),
    Spec::new("incrby", 3, WRITE | DENYOOM | FAST, Keys::one(1), incrby)
        .group(G)
        .doc("Increments the integer value of a key by a number. Uses 0 as initial value if the key doesn't exist."),
    Spec::new("decrby", 3, WRITE | DENYOOM | FAST, Keys::one(1), decrby)
        .group(G)
        .doc("Decrements a number from the integer value of a key. Uses 0 as initial value if the key doesn't exist."),
    Spec::new("incrbyfloat", 3, WRITE | DENYOOM | FAST, Keys::one(1), incrbyfloat)
        .group(G)
        .doc("Increment the floating point value of a key by a number. Uses 0 as initial value if the key doesn't exist."),
    Spec::new("lcs", -3, READONLY, Keys::range(1, 2, 1), lcs)
        .group(G)
        .doc("Finds the longest common substring."),
];

fn get(cx: &mut Context<'_>, args: &Args<'_>) -> CmdResult {
    Ok(strings::get(&cx.db(), args.get(1))?.map_or(Reply::Nil, Reply::Bulk))
}

/// Which expiry option was given; SET/GETEX accept at most one of them.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum ExpireUnit {
    Ex,
    Px,
    ExAt,
    PxAt,
}

/// Converts an EX/PX/EXAT/PXAT argument to an absolute Unix time in ms, with Redis's checks:
/// positive, no overflow, else `ERR invalid expire time in '<cmd>' command`.
pub(super) fn expire_at_ms(unit: ExpireUnit, raw: &[u8], command: &str) -> Result<u64, CmdError> {
    let invalid = || CmdError::msg(format!("ERR invalid expire time in '{command}' command"));
    let v = crate::util::num::parse_i64(raw).ok_or(CmdError::NotInteger)?;
    if v <= 0 {
        return Err(invalid());
    }
    let ms = match unit {
        ExpireUnit::Ex | ExpireUnit::ExAt => v.checked_mul(1000).ok_or_else(invalid)?,
        ExpireUnit::Px | ExpireUnit::PxAt => v,
    };
    let at = match unit {
        ExpireUnit::Ex | ExpireUnit::Px => ms
            .checked_add(crate::util::time::now_ms() as i64)
            .ok_or_else(invalid)?,
        ExpireUnit::ExAt | ExpireUnit::PxAt => ms,
    };
    Ok(at as u64)
}

/// Parses one EX/PX/EXAT/PXAT keyword.
pub(super) fn expire_unit(word: &[u8]) -> Option<ExpireUnit> {
    match word.to_ascii_lowercase().as_slice() {
        b"ex" => Some(ExpireUnit::Ex),
        b"px" => Some(ExpireUnit::Px),
        b"exat" => Some(ExpireUnit::ExAt),
        b"pxat" => Some(ExpireUnit::PxAt),
        _ => None,
    }
}

/// SET key value [NX | XX] [GET] [EX s | PX ms | EXAT s | PXAT ms | KEEPTTL], with Redis's rules:
/// NX and XX exclude each other; KEEPTTL excludes the expiry options; repeating the same
/// expiry option is allowed (the last wins), mixing two different ones is a syntax error.
fn set(cx: &mut Context<'_>, args: &Args<'_>) -> CmdResult {
    let mut cond = SetCond::Always;
    let mut want_old = false;
    let mut keep_ttl = false;
    let mut expire: Option<(ExpireUnit, &[u8])> = None;
    let mut i = 3;
    while i < args.len() {
        let opt = args.get(i);
        let lower = opt.to_ascii_lowercase();
        match lower.as_slice() {
            b"nx" if cond != SetCond::IfPresent => cond = SetCond::IfAbsent,
            b"xx" if cond != SetCond::IfAbsent => cond = SetCond::IfPresent,
            b"get" => want_old = true,
            b"keepttl" if expire.is_none() => keep_ttl = true,
            _ => match (expire_unit(opt), args.opt(i + 1)) {
                (Some(unit), Some(value)) if !keep_ttl && expire.is_none_or(|(u, _)| u == unit) => {
                    expire = Some((unit, value));
                    i += 1;
                }
                _ => return Err(CmdError::Syntax),
            },
        }
        i += 1;
    }
    let ttl = match expire {
        Some((unit, raw)) => Ttl::At(expire_at_ms(unit, raw, "set")?),
        None if keep_ttl => Ttl::Keep,
        None => Ttl::Clear,
    };
    let outcome = strings::set(&cx.db(), args.get(1), args.get(2), cond, ttl, want_old)?;
    if outcome.written {
        cx.notify(class::STRING, "set", args.get(1));
        if expire.is_some() {
            cx.notify(class::GENERIC, "expire", args.get(1));
        }
    }
    Ok(match (want_old, outcome.written) {
        (true, _) => outcome.old.map_or(Reply::Nil, Reply::Bulk),
        (false, true) => Reply::Ok,
        (false, false) => Reply::Nil,
    })
}

/// A bulk reply, or nil.
fn bulk_or_nil(v: Option<bytes::Bytes>) -> Reply {
    v.map_or(Reply::Nil, Reply::Bulk)
}

/// The configured proto-max-bulk-len: the largest string a command may build.
fn max_bulk_len(cx: &Context<'_>) -> u64 {
    cx.shared.config.read().proto_max_bulk_len
}

/// SETNX key value: 1 if the key was set, 0 if it existed.
fn setnx(cx: &mut Context<'_>, args: &Args<'_>) -> CmdResult {
    let outcome = strings::set(
        &cx.db(),
        args.get(1),
        args.get(2),
        SetCond::IfAbsent,
        Ttl::Clear,
        false,
    )?;
    if outcome.written {
        cx.notify(class::STRING, "set", args.get(1));
    }
    Ok(Reply::Int(outcome.written.into()))
}

/// SETEX / PSETEX key time value.
fn set_with_expiry(
    args: &Args<'_>,
    cx: &mut Context<'_>,
    unit: ExpireUnit,
    name: &str,
) -> CmdResult {
    let at = expire_at_ms(unit, args.get(2), name)?;
    strings::set(
        &cx.db(),
        args.get(1),
        args.get(3),
        SetCond::Always,
        Ttl::At(at),
        false,
    )?;
    cx.notify(class::STRING, "set", args.get(1));
    cx.notify(class::GENERIC, "expire", args.get(1));
    Ok(Reply::Ok)
}

fn setex(cx: &mut Context<'_>, args: &Args<'_>) -> CmdResult {
    set_with_expiry(args, cx, ExpireUnit::Ex, "setex")
}

fn psetex(cx: &mut Context<'_>, args: &Args<'_>) -> CmdResult {
    set_with_expiry(args, cx, ExpireUnit::Px, "psetex")
}

/// GETSET key value: SET key value GET.
fn getset(cx: &mut Context<'_>, args: &Args<'_>) -> CmdResult {
    let outcome = strings::set(
        &cx.db(),
        args.get(1),
        args.get(2),
        SetCond::Always,
        Ttl::Clear,
        true,
    )?;
    cx.notify(class::STRING, "set", args.get(1));
    Ok(bulk_or_nil(outcome.old))
}

fn getdel(cx: &mut Context<'_>, args: &Args<'_>) -> CmdResult {
    let value = strings::getdel(&cx.db(), args.get(1))?;
    if value.is_some() {
        cx.notify(class::GENERIC, "del", args.get(1));
    }
    Ok(bulk_or_nil(value))
}

/// GETEX's option, as parsed.
#[derive(Clone, Copy)]
enum GetexOption<'a> {
    Persist,
    Expire(ExpireUnit, &'a [u8]),
}

/// GETEX key [EX s | PX ms | EXAT s | PXAT ms | PERSIST], with Redis's rules: one kind of option
/// only (repeating the same one is allowed, the last wins). Without an option it is a plain
/// read; otherwise the expire time is validated only once the key is known to hold a string.
fn getex(cx: &mut Context<'_>, args: &Args<'_>) -> CmdResult {
    let mut option: Option<GetexOption<'_>> = None;
    let mut i = 2;
    while i < args.len() {
        let opt = args.get(i);
        if opt.eq_ignore_ascii_case(b"persist")
            && matches!(option, None | Some(GetexOption::Persist))
        {
            option = Some(GetexOption::Persist);
        } else {
            match (expire_unit(opt), args.opt(i + 1), option) {
                (Some(unit), Some(value), None) => {
                    option = Some(GetexOption::Expire(unit, value));
                }
                (Some(unit), Some(value), Some(GetexOption::Expire(prev, _))) if prev == unit => {
                    option = Some(GetexOption::Expire(unit, value));
                }
                _ => return Err(CmdError::Syntax),
            }
            i += 1;
        }
        i += 1;
    }
    let db = cx.db();
    let key = args.get(1);
    // The expiry time chosen, read back for the notification.
    let mut target = None;
    let value = match option {
        None => strings::get(&db, key)?,
        Some(GetexOption::Persist) => {
            // Redis announces `persist` only when a TTL was removed; looked up only when the
            // event is wanted.
            let had_ttl =
                cx.notifying(class::GENERIC) && db.meta(key)?.is_some_and(|m| m.expire_at() != 0);
            let value = strings::getex(&db, key, || Ok::<_, CmdError>(ExpiryChange::Persist))?;
            if value.is_some() && had_ttl {
                cx.notify(class::GENERIC, "persist", key);
            }
            value
        }
        Some(GetexOption::Expire(unit, raw)) => {
            let value = strings::getex(&db, key, || {
                let at = expire_at_ms(unit, raw, "getex")?;
                target = Some(at);
                Ok::<_, CmdError>(ExpiryChange::At(at))
            })?;
            if let (Some(_), Some(at)) = (&value, target) {
                // A time already passed deleted the key.
                let event = if at <= crate::util::time::now_ms() {
                    "del"
                } else {
                    "expire"
                };
                cx.notify(class::GENERIC, event, key);
            }
            value
        }
    };
    Ok(bulk_or_nil(value))
}

fn mget(cx: &mut Context<'_>, args: &Args<'_>) -> CmdResult {
    let keys: Vec<&[u8]> = args.iter().skip(1).collect();
    let values = strings::mget(&cx.db(), &keys)?;
    Ok(Reply::Array(values.into_iter().map(bulk_or_nil).collect()))
}

/// The key/value pairs of MSET/MSETNX; an odd count is an arity error, as in Redis.
fn pairs<'a>(args: &Args<'a>) -> Result<Vec<Pair<'a>>, CmdError> {
    if args.len().is_multiple_of(2) {
        return Err(CmdError::Arity(args.name_lower()));
    }
    Ok((1..args.len())
        .step_by(2)
        .map(|i| (args.get(i), args.get(i + 1)))
        .collect())
}

fn mset(cx: &mut Context<'_>, args: &Args<'_>) -> CmdResult {
    let pairs = pairs(args)?;
    strings::mset(&cx.db(), &pairs)?;
    for (key, _) in pairs {
        cx.notify(class::STRING, "set", key);
    }
    Ok(Reply::Ok)
}

fn msetnx(cx: &mut Context<'_>, args: &Args<'_>) -> CmdResult {
    let pairs = pairs(args)?;
    let written = strings::msetnx(&cx.db(), &pairs)?;
    if written {
        for (key, _) in pairs {
            cx.notify(class::STRING, "set", key);
        }
    }
    Ok(Reply::Int(written.into()))
}

/// A length as an integer reply (lengths are bounded by proto-max-bulk-len).
fn len_reply(n: u64) -> Reply {
    Reply::Int(i64::try_from(n).unwrap_or(i64::MAX))
}

fn append(cx: &mut Context<'_>, args: &Args<'_>) -> CmdResult {
    let max = max_bulk_len(cx);
    let len = strings::append(&cx.db(), args.get(1), args.get(2), max)?;
    cx.notify(class::STRING, "append", args.get(1));
    Ok(len_reply(len))
}

fn strlen(cx: &mut Context<'_>, args: &Args<'_>) -> CmdResult {
    Ok(len_reply(strings::strlen(&cx.db(), args.get(1))?))
}

/// GETRANGE / SUBSTR key start end.
fn getrange(cx: &mut Context<'_>, args: &Args<'_>) -> CmdResult {
    let (start, end) = (args.i64(2)?, args.i64(3)?);
    Ok(Reply::Bulk(strings::getrange(
        &cx.db(),
        args.get(1),
        start,
        end,
    )?))
}

fn setrange(cx: &mut Context<'_>, args: &Args<'_>) -> CmdResult {
    let offset =
        u64::try_from(args.i64(2)?).map_err(|_| CmdError::msg("ERR offset is out of range"))?;
    let max = max_bulk_len(cx);
    let len = strings::setrange(&cx.db(), args.get(1), offset, args.get(3), max)?;
    // An empty value changes nothing, and Redis says nothing.
    if !args.get(3).is_empty() {
        cx.notify(class::STRING, "setrange", args.get(1));
    }
    Ok(len_reply(len))
}

fn incr_reply(cx: &mut Context<'_>, key: &[u8], delta: i64) -> CmdResult {
    let value = strings::incr_by(&cx.db(), key, delta)?;
    cx.notify(class::STRING, "incrby", key);
    Ok(Reply::Int(value))
}

fn incr(cx: &mut Context<'_>, args: &Args<'_>) -> CmdResult {
    incr_reply(cx, args.get(1), 1)
}

fn decr(cx: &mut Context<'_>, args: &Args<'_>) -> CmdResult {
    incr_reply(cx, args.get(1), -1)
}

fn incrby(cx: &mut Context<'_>, args: &Args<'_>) -> CmdResult {
    let delta = args.i64(2)?;
    incr_reply(cx, args.get(1), delta)
}

fn decrby(cx: &mut Context<'_>, args: &Args<'_>) -> CmdResult {
    let delta = args.i64(2)?;
    // Negating i64::MIN overflows; Redis checks it before looking at the key.
    let delta = delta
        .checked_neg()
        .ok_or_else(|| CmdError::msg("ERR decrement would overflow"))?;
    incr_reply(cx, args.get(1), delta)
}

fn incrbyfloat(cx: &mut Context<'_>, args: &Args<'_>) -> CmdResult {
    let value = strings::incr_by_float(&cx.db(), args.get(1), args.get(2))?;
    cx.notify(class::STRING, "incrbyfloat", args.get(1));
    Ok(Reply::Bulk(value))
}

/// LCS key1 key2 [LEN] [IDX] [MINMATCHLEN len] [WITHMATCHLEN], checked in Redis's order: the
/// key types, the options, LEN with IDX, then the size of the table.
fn lcs(cx: &mut Context<'_>, args: &Args<'_>) -> CmdResult {
    let db = cx.db();
    let operands = strings::lcs_operands(&db, args.get(1), args.get(2)).map_err(|e| match e {
        TypeError::WrongType => CmdError::msg("ERR The specified keys must contain string values"),
        other => other.into(),
    })?;
    let (mut get_len, mut get_idx, mut with_match_len) = (false, false, false);
    let mut min_match_len: i64 = 0;
    let mut i = 3;
    while i < args.len() {
        if args.is(i, "idx") {
            get_idx = true;
        } else if args.is(i, "len") {
            get_len = true;
        } else if args.is(i, "withmatchlen") {
            with_match_len = true;
        } else if args.is(i, "minmatchlen") && i + 1 < args.len() {
            min_match_len = args.i64(i + 1)?.max(0);
            i += 1;
        } else {
            return Err(CmdError::Syntax);
        }
        i += 1;
    }
    if get_len && get_idx {
        return Err(CmdError::msg(
            "ERR If you want both the length and indexes, please just use IDX.",
        ));
    }
    let want = LcsWant {
        string: !get_len,
        ranges: get_idx.then_some(min_match_len as u64),
    };
    let max = max_bulk_len(cx);
    let lcs_err = |e: strings::LcsError| CmdError::msg(e.to_string());
    // Refused sizes are refused before the values (possibly large) are read.
    let (alen, blen) = operands.lens();
    strings::lcs_check(alen, blen, max).map_err(lcs_err)?;
    let (a, b) = operands.read(&db)?;
    let result = strings::lcs(&a, &b, want, max).map_err(lcs_err)?;
    if get_idx {
        let matches = result
            .ranges
            .iter()
            .map(|r| {
                let mut item = vec![
                    Reply::Array(vec![Reply::Int(r.a.0.into()), Reply::Int(r.a.1.into())]),
                    Reply::Array(vec![Reply::Int(r.b.0.into()), Reply::Int(r.b.1.into())]),
                ];
                if with_match_len {
                    item.push(Reply::Int(r.len.into()));
                }
                Reply::Array(item)
            })
            .collect();
        Ok(Reply::Map(vec![
            (Reply::text("matches"), Reply::Array(matches)),
            (Reply::text("len"), Reply::Int(result.len.into())),
        ]))
    } else if get_len {
        Ok(Reply::Int(result.len.into()))
    } else {
        Ok(Reply::from(result.string))
    }
}
