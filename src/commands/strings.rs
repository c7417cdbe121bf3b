//! String commands: GET, SET and the rest of Redis's string family.

use super::flags::*;
use super::{Args, CmdError, CmdResult, Context, Keys, Spec};
use crate::protocol::Reply;
use crate::types::strings::{self, SetCond, Ttl};

const G: &str = "string";

pub(super) const TABLE: &[Spec] = &[
    Spec::new("get", 2, READONLY | FAST, Keys::one(1), get)
        .group(G)
        .doc("Returns the string value of a key."),
    Spec::new("set", -3, WRITE | DENYOOM, Keys::one(1), set)
        .group(G)
        .doc("Sets the string value of a key, ignoring its type. The key is created if it doesn't exist."),
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
pub(super) fn expire_at_ms(
    unit: ExpireUnit,
    raw: &[u8],
    command: &str,
) -> Result<u64, CmdError> {
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
                (Some(unit), Some(value))
                    if !keep_ttl && expire.is_none_or(|(u, _)| u == unit) =>
                {
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
    Ok(match (want_old, outcome.written) {
        (true, _) => outcome.old.map_or(Reply::Nil, Reply::Bulk),
        (false, true) => Reply::Ok,
        (false, false) => Reply::Nil,
    })
}
