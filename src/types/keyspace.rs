//! Operations on keys of any type: existence, deletion, type, expiry.

use super::Result;
use crate::storage::Db;

/// Deletes the given keys; returns how many existed (and were not expired).
pub fn delete(db: &Db<'_>, keys: &[&[u8]]) -> Result<i64> {
    let _guard = db.lock_keys(keys.iter().copied());
    let now = crate::util::time::now_ms();
    let mut batch = db.batch();
    let mut removed = 0;
    let mut seen = std::collections::HashSet::with_capacity(keys.len());
    for &key in keys {
        if !seen.insert(key) {
            continue;
        }
        if let Some(meta) = db.meta_raw(key)? {
            if !meta.is_expired(now) {
                removed += 1;
            }
            batch.delete_key(db.phys, key, &meta);
        }
    }
    batch.commit()?;
    Ok(removed)
}

/// Counts the given keys that exist; a key named twice counts twice, as in Redis.
pub fn exists(db: &Db<'_>, keys: &[&[u8]]) -> Result<i64> {
    let mut n = 0;
    for &key in keys {
        if db.meta(key)?.is_some() {
            n += 1;
        }
    }
    Ok(n)
}

/// Server-side SCAN cursors: a cursor number stands for the last key returned, so a scan resumes
/// in key order. Redis clients expect decimal integer cursors; keys do not fit in one.
#[derive(Default)]
pub struct ScanCursors {}
