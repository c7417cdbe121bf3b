//! String values: stored inline in the key's metadata, so a GET is one point read.

use super::{Result, TypeError};
use crate::storage::{Db, Meta, ValueType};
use bytes::Bytes;

/// Condition of a SET.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SetCond {
    Always,
    /// Only if the key does not exist (NX).
    IfAbsent,
    /// Only if the key exists (XX).
    IfPresent,
}

/// What happens to the key's time to live on a write.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ttl {
    /// Remove any expiry (a plain SET).
    Clear,
    /// Keep the current expiry (KEEPTTL).
    Keep,
    /// Expire at this Unix time in milliseconds.
    At(u64),
}

/// Outcome of a SET.
#[derive(Debug, PartialEq, Eq)]
pub struct SetOutcome {
    /// Whether the value was written (false when NX/XX did not hold).
    pub written: bool,
    /// The previous value, when asked for (SET ... GET).
    pub old: Option<Bytes>,
}

/// The value of a live string key; wrong type if the key holds something else.
pub fn value_of(meta: &Meta) -> Result<&[u8]> {
    if meta.ty() != ValueType::String {
        return Err(TypeError::WrongType);
    }
    Ok(meta.string_value())
}

/// GET: the value, or None if the key does not exist.
pub fn get(db: &Db<'_>, key: &[u8]) -> Result<Option<Bytes>> {
    match db.meta(key)? {
        None => Ok(None),
        Some(meta) => {
            value_of(&meta)?;
            Ok(Some(Bytes::from(meta.into_bytes()).slice(crate::storage::encoding::META_HEADER..)))
        }
    }
}

/// SET with its conditions and TTL handling. With `want_old`, the previous value is returned
/// (and a non-string previous value is an error, leaving the key untouched).
pub fn set(
    db: &Db<'_>,
    key: &[u8],
    value: &[u8],
    cond: SetCond,
    ttl: Ttl,
    want_old: bool,
) -> Result<SetOutcome> {
    let _guard = db.lock(key);
    let now = crate::util::time::now_ms();
    let raw = db.meta_raw(key)?;
    let live = raw.as_ref().filter(|m| !m.is_expired(now));
    let old = match (want_old, live) {
        (true, Some(m)) => Some(Bytes::copy_from_slice(value_of(m)?)),
        _ => None,
    };
    let exists = live.is_some();
    if (cond == SetCond::IfAbsent && exists) || (cond == SetCond::IfPresent && !exists) {
        return Ok(SetOutcome {
            written: false,
            old,
        });
    }
    let expire_at = match ttl {
        Ttl::Clear => 0,
        Ttl::Keep => live.map_or(0, Meta::expire_at),
        Ttl::At(at) => at,
    };
    let mut batch = db.batch();
    batch.put_meta(db.phys, key, raw.as_ref(), &Meta::encode_string(value, expire_at));
    batch.commit()?;
    Ok(SetOutcome { written: true, old })
}
