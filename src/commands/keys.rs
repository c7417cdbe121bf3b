//! Generic key commands: DEL, EXISTS, TYPE, expiry, renaming, moving and copying, listing and
//! scanning, OBJECT. Semantics and error texts follow Redis 7.0 (`db.c`, `expire.c`, `object.c`).

use super::flags::*;
use super::{unknown_subcommand, Args, CmdError, CmdResult, Context, Keys, Spec};
use crate::protocol::Reply;
use crate::server::notify::class;
use crate::storage::ValueType;
use crate::types::keyspace::{self, ExpireFlags, KeyTtl, ScanOptions, TypeFilter};
use bytes::Bytes;

const G: &str = "generic";

pub(super) const TABLE: &[Spec] = &[
    Spec::new("del", -2, WRITE, Keys::range(1, -1, 1), del)
        .group(G)
        .doc("Deletes one or more keys."),
    Spec::new("unlink", -2, WRITE | FAST, Keys::range(1, -1, 1), del)
        .group(G)
        .doc("Asynchronously deletes one or more keys."),
    Spec::new("exists", -2, READONLY | FAST, Keys::range(1, -1, 1), exists)
        .group(G)
        .doc("Determines whether one or more keys exist."),
    Spec::new("touch", -2, READONLY | FAST, Keys::range(1, -1, 1), exists)
        .group(G)
        .doc("Returns the number of existing keys out of those specified after updating the time they were last accessed."),
    Spec::new("type", 2, READONLY | FAST, Keys::one(1), type_cmd)
        .group(G)
        .doc("Determines the type of value stored at a key."),
    Spec::new("rename", 3, WRITE, Keys::range(1, 2, 1), rename)
        .group(G)
        .doc("Renames a key and overwrites the destination."),
    Spec::new("renamenx", 3, WRITE | FAST, Keys::range(1, 2, 1), renamenx)
        .group(G)
        .doc("Renames a key only when the target key name doesn't exist."),
    Spec::new("move", 3, WRITE | FAST, Keys::one(1), move_cmd)
        .group(G)
        .doc("Moves a key to another database."),
    Spec::new("copy", -3, WRITE | DENYOOM, Keys::range(1, 2, 1), copy)
        .group(G)
        .doc("Copies the value of a key to a new key."),
    Spec::new("expire", -3, WRITE | FAST, Keys::one(1), expire)
        .group(G)
        .doc("Sets the expiration time of a key in seconds."),
    Spec::new("pexpire", -3, WRITE | FAST, Keys::one(1), pexpire)
        .group(G)
        .doc("Sets the expiration time of a key in milliseconds."),
    Spec::new("expireat", -3, WRITE | FAST, Keys::one(1), expireat)
        .group(G)
        .doc("Sets the expiration time of a key to a Unix timestamp."),
    Spec::new("pexpireat", -3, WRITE | FAST, Keys::one(1), pexpireat)
        .group(G)
        .doc("Sets the expiration time of a key to a Unix milliseconds timestamp."),
    Spec::new("ttl", 2, READONLY | FAST, Keys::one(1), ttl)
        .group(G)
        .doc("Returns the expiration time in seconds of a key."),
    Spec::new("pttl", 2, READONLY | FAST, Keys::one(1), pttl)
        .group(G)
        .doc("Returns the expiration time in milliseconds of a key."),
    Spec::new("expiretime", 2, READONLY | FAST, Keys::one(1), expiretime)
        .group(G)
        .doc("Returns the expiration time of a key as a Unix timestamp."),
    Spec::new("pexpiretime", 2, READONLY | FAST, Keys::one(1), pexpiretime)
        .group(G)
        .doc("Returns the expiration time of a key as a Unix milliseconds timestamp."),
    Spec::new("persist", 2, WRITE | FAST, Keys::one(1), persist)
        .group(G)
        .doc("Removes the expiration time of a key."),
    Spec::new("keys", 2, READONLY, Keys::NONE, keys)
        .group(G)
        .doc("Returns all key names that match a pattern."),
    Spec::new("scan", -2, READONLY, Keys::NONE, scan)
        .group(G)
        .doc("Iterates over the key names in the database."),
    Spec::new("randomkey", 1, READONLY, Keys::NONE, randomkey)
        .group(G)
        .doc("Returns a random key name from the database."),
    // A container command in Redis 7: no flags and no keys of its own (its subcommands are
    // read-only and name their key at position 2).
    Spec::new("object", -2, 0, Keys::NONE, object)
        .group(G)
        .doc("A container for object introspection commands."),
];

fn key_args<'a>(args: &Args<'a>, from: usize) -> Vec<&'a [u8]> {
    args.iter().skip(from).collect()
}

fn del(cx: &mut Context<'_>, args: &Args<'_>) -> CmdResult {
    let keys = key_args(args, 1);
    if !cx.notifying(class::GENERIC) {
        return Ok(Reply::Int(keyspace::delete(&cx.db(), &keys)?));
    }
    let deleted = keyspace::delete_listing(&cx.db(), &keys)?;
    for &key in &deleted {
        cx.notify(class::GENERIC, "del", key);
    }
    Ok(Reply::Int(deleted.len() as i64))
}

/// EXISTS and TOUCH (Basalt keeps no access time, so TOUCH only counts).
fn exists(cx: &mut Context<'_>, args: &Args<'_>) -> CmdResult {
    Ok(Reply::Int(keyspace::exists(&cx.db(), &key_args(args, 1))?))
}

fn type_cmd(cx: &mut Context<'_>, args: &Args<'_>) -> CmdResult {
    let name = keyspace::type_of(&cx.db(), args.get(1))?.map_or("none", ValueType::name);
    Ok(Reply::status(name))
}

fn rename(cx: &mut Context<'_>, args: &Args<'_>) -> CmdResult {
    let moved = keyspace::rename(&cx.db(), args.get(1), args.get(2), false)?;
    notify_rename(cx, args, moved);
    Ok(Reply::Ok)
}

fn renamenx(cx: &mut Context<'_>, args: &Args<'_>) -> CmdResult {
    let moved = keyspace::rename(&cx.db(), args.get(1), args.get(2), true)?;
    notify_rename(cx, args, moved);
    Ok(Reply::Int(moved.into()))
}

/// RENAME's events; renaming a key to itself changes nothing and Redis says nothing.
fn notify_rename(cx: &mut Context<'_>, args: &Args<'_>, moved: bool) {
    let (src, dst) = (args.get(1), args.get(2));
    if moved && src != dst {
        let db = cx.client.db;
        cx.notify_new(db, dst);
        cx.notify(class::GENERIC, "rename_from", src);
        cx.notify(class::GENERIC, "rename_to", dst);
    }
}

/// A database index argument as Redis's `getIntFromObjectOrReply` reads it: an integer, else
/// `ERR value is not an integer or out of range`, that fits in 32 bits, else its range error.
fn db_index(args: &Args<'_>, i: usize) -> Result<i64, CmdError> {
    let v = args.i64(i)?;
    if i32::try_from(v).is_err() {
        return Err(CmdError::msg(
            "ERR value is out of range, value must between -2147483648 and 2147483647",
        ));
    }
    Ok(v)
}

const SAME_OBJECT: &str = "ERR source and destination objects are the same";

fn move_cmd(cx: &mut Context<'_>, args: &Args<'_>) -> CmdResult {
    let index = db_index(args, 2)?;
    let dst = cx.db_at(index)?;
    let src = cx.db();
    if src.phys == dst.phys {
        return Err(CmdError::msg(SAME_OBJECT));
    }
    let moved = keyspace::move_key(&src, &dst, args.get(1))?;
    if moved {
        let from = cx.client.db;
        cx.notify_new(index as usize, args.get(1));
        cx.notify_in(class::GENERIC, "move_from", from, args.get(1));
        // db_at accepted the index, so it is a valid usize.
        cx.notify_in(class::GENERIC, "move_to", index as usize, args.get(1));
    }
    Ok(Reply::Int(moved.into()))
}

/// COPY source destination [DB destination-db] [REPLACE]
fn copy(cx: &mut Context<'_>, args: &Args<'_>) -> CmdResult {
    let src = cx.db();
    let mut dst = src;
    let mut dst_index = cx.client.db;
    let mut replace = false;
    let mut i = 3;
    while i < args.len() {
        if args.is(i, "replace") {
            replace = true;
        } else if args.is(i, "db") && i + 1 < args.len() {
            let index = db_index(args, i + 1)?;
            dst = cx.db_at(index)?;
            // db_at accepted the index, so it is a valid usize.
            dst_index = index as usize;
            i += 1;
        } else {
            return Err(CmdError::Syntax);
        }
        i += 1;
    }
    let (src_key, dst_key) = (args.get(1), args.get(2));
    if src.phys == dst.phys && src_key == dst_key {
        return Err(CmdError::msg(SAME_OBJECT));
    }
    let copied = keyspace::copy(&src, &dst, src_key, dst_key, replace)?;
    if copied {
        cx.notify_new(dst_index, dst_key);
        cx.notify_in(class::GENERIC, "copy_to", dst_index, dst_key);
    }
    Ok(Reply::Int(copied.into()))
}

/// EXPIRE, PEXPIRE, EXPIREAT and PEXPIREAT: `millis` says the unit of the argument, `absolute`
/// whether it is a Unix time rather than relative to now. Redis 7.0's order of checks: options,
/// then the number, then overflow, then the key.
fn expire_generic(
    cx: &mut Context<'_>,
    args: &Args<'_>,
    millis: bool,
    absolute: bool,
) -> CmdResult {
    let mut flags = ExpireFlags::default();
    for i in 3..args.len() {
        let opt = args.get(i).to_ascii_lowercase();
        match opt.as_slice() {
            b"nx" => flags.nx = true,
            b"xx" => flags.xx = true,
            b"gt" => flags.gt = true,
            b"lt" => flags.lt = true,
            _ => {
                return Err(CmdError::msg(format!(
                    "ERR Unsupported option {}",
                    args.text(i)
                )))
            }
        }
    }
    if flags.nx && (flags.xx || flags.gt || flags.lt) {
        return Err(CmdError::msg(
            "ERR NX and XX, GT or LT options at the same time are not compatible",
        ));
    }
    if flags.gt && flags.lt {
        return Err(CmdError::msg(
            "ERR GT and LT options at the same time are not compatible",
        ));
    }
    let invalid = || {
        CmdError::msg(format!(
            "ERR invalid expire time in '{}' command",
            args.name_lower()
        ))
    };
    let mut when = args.i64(2)?;
    if !millis {
        when = when.checked_mul(1000).ok_or_else(invalid)?;
    }
    let now = crate::util::time::now_ms();
    if !absolute {
        let base = i64::try_from(now).map_err(|_| invalid())?;
        when = when.checked_add(base).ok_or_else(invalid)?;
    }
    let done = keyspace::expire(&cx.db(), args.get(1), when, flags, now)?;
    if done {
        // A time not after `now` deleted the key (the same test keyspace::expire makes).
        let event = if u64::try_from(when).is_ok_and(|at| at > now) {
            "expire"
        } else {
            "del"
        };
        cx.notify(class::GENERIC, event, args.get(1));
    }
    Ok(Reply::Int(done.into()))
}

fn expire(cx: &mut Context<'_>, args: &Args<'_>) -> CmdResult {
    expire_generic(cx, args, false, false)
}

fn pexpire(cx: &mut Context<'_>, args: &Args<'_>) -> CmdResult {
    expire_generic(cx, args, true, false)
}

fn expireat(cx: &mut Context<'_>, args: &Args<'_>) -> CmdResult {
    expire_generic(cx, args, false, true)
}

fn pexpireat(cx: &mut Context<'_>, args: &Args<'_>) -> CmdResult {
    expire_generic(cx, args, true, true)
}

/// TTL, PTTL, EXPIRETIME and PEXPIRETIME: -2 for a missing key, -1 without expiry; seconds are
/// rounded to nearest, as Redis's `(ttl + 500) / 1000`.
fn ttl_generic(cx: &mut Context<'_>, args: &Args<'_>, millis: bool, absolute: bool) -> CmdResult {
    let at = match keyspace::ttl(&cx.db(), args.get(1))? {
        KeyTtl::Missing => return Ok(Reply::Int(-2)),
        KeyTtl::Persistent => return Ok(Reply::Int(-1)),
        KeyTtl::At(at) => i128::from(at),
    };
    let t = if absolute {
        at
    } else {
        (at - i128::from(crate::util::time::now_ms())).max(0)
    };
    let v = if millis { t } else { (t + 500) / 1000 };
    Ok(Reply::Int(i64::try_from(v).unwrap_or(i64::MAX)))
}

fn ttl(cx: &mut Context<'_>, args: &Args<'_>) -> CmdResult {
    ttl_generic(cx, args, false, false)
}

fn pttl(cx: &mut Context<'_>, args: &Args<'_>) -> CmdResult {
    ttl_generic(cx, args, true, false)
}

fn expiretime(cx: &mut Context<'_>, args: &Args<'_>) -> CmdResult {
    ttl_generic(cx, args, false, true)
}

fn pexpiretime(cx: &mut Context<'_>, args: &Args<'_>) -> CmdResult {
    ttl_generic(cx, args, true, true)
}

fn persist(cx: &mut Context<'_>, args: &Args<'_>) -> CmdResult {
    let done = keyspace::persist(&cx.db(), args.get(1))?;
    if done {
        cx.notify(class::GENERIC, "persist", args.get(1));
    }
    Ok(Reply::Int(done.into()))
}

fn keys(cx: &mut Context<'_>, args: &Args<'_>) -> CmdResult {
    let found = keyspace::keys(&cx.db(), args.get(1))?;
    Ok(Reply::Array(found.into_iter().map(Reply::Bulk).collect()))
}

fn randomkey(cx: &mut Context<'_>, _args: &Args<'_>) -> CmdResult {
    Ok(keyspace::random_key(&cx.db())?.map_or(Reply::Nil, Reply::Bulk))
}

/// SCAN cursor [MATCH pattern] [COUNT count] [TYPE type]
fn scan(cx: &mut Context<'_>, args: &Args<'_>) -> CmdResult {
    let cursor = args.cursor(1)?;
    let mut opts = ScanOptions {
        count: 10,
        pattern: None,
        ty: TypeFilter::Any,
    };
    let mut i = 2;
    while i < args.len() {
        let has_value = i + 1 < args.len();
        if args.is(i, "count") && has_value {
            let n = args.i64(i + 1)?;
            if n < 1 {
                return Err(CmdError::Syntax);
            }
            opts.count = usize::try_from(n).unwrap_or(usize::MAX);
        } else if args.is(i, "match") && has_value {
            opts.pattern = Some(args.get(i + 1));
        } else if args.is(i, "type") && has_value {
            opts.ty =
                ValueType::from_name(args.get(i + 1)).map_or(TypeFilter::Nothing, TypeFilter::Only);
        } else {
            return Err(CmdError::Syntax);
        }
        i += 2;
    }
    let (next, found) = keyspace::scan(&cx.db(), &cx.shared.scan_cursors, cursor, opts)?;
    Ok(Reply::Array(vec![
        Reply::Bulk(Bytes::from(next.to_string())),
        Reply::Array(found.into_iter().map(Reply::Bulk).collect()),
    ]))
}

const OBJECT_HELP: &[&str] = &[
    "OBJECT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "ENCODING <key>",
    "    Return the kind of internal representation used in order to store the value",
    "    associated with a <key>.",
    "FREQ <key>",
    "    Return the access frequency index of the <key>. The returned integer is",
    "    proportional to the logarithm of the recent access frequency of the key.",
    "IDLETIME <key>",
    "    Return the idle time of the <key>, that is the approximated number of",
    "    seconds elapsed since the last access to the key.",
    "REFCOUNT <key>",
    "    Return the number of references of the value associated with the specified",
    "    <key>.",
    "HELP",
    "    Prints this help.",
];

/// OBJECT ENCODING | FREQ | IDLETIME | REFCOUNT key, OBJECT HELP. A missing key is nil.
///
/// - ENCODING: what Redis 7.0 would report for the value (see [`keyspace::encoding`]).
/// - FREQ: Basalt has no LFU eviction policy, so this is Redis's error for a server whose
///   maxmemory-policy is not LFU.
/// - IDLETIME: Basalt does not track access times; always 0.
/// - REFCOUNT: Redis's count for the same value (shared small integers report INT_MAX, else 1).
fn object(cx: &mut Context<'_>, args: &Args<'_>) -> CmdResult {
    let sub = args.get(1).to_ascii_lowercase();
    let wanted = match sub.as_slice() {
        b"help" => 2,
        b"encoding" | b"freq" | b"idletime" | b"refcount" => 3,
        _ => return Err(unknown_subcommand(args)),
    };
    if args.len() != wanted {
        return Err(CmdError::Arity(format!(
            "object|{}",
            String::from_utf8_lossy(&sub)
        )));
    }
    if wanted == 2 {
        return Ok(Reply::Array(
            OBJECT_HELP.iter().map(|l| Reply::status(l)).collect(),
        ));
    }
    let db = cx.db();
    let Some(meta) = db.meta(args.get(2))? else {
        return Ok(Reply::Nil);
    };
    Ok(match sub.as_slice() {
        b"encoding" => Reply::text(keyspace::encoding(&db, args.get(2), &meta)?),
        b"freq" => {
            return Err(CmdError::msg(
                "ERR An LFU maxmemory policy is not selected, access frequency not tracked. \
                 Please note that when switching between policies at runtime LRU and LFU data \
                 will take some time to adjust.",
            ))
        }
        b"idletime" => Reply::Int(0),
        _ => Reply::Int(keyspace::refcount(&meta)),
    })
}
