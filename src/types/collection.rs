//! Shared plumbing of the collection types: finding a live collection of the expected type,
//! creating one under a fresh version, and storing its metadata with the element count (a
//! collection whose count drops to zero disappears, as in Redis).

use super::{Result, TypeError};
use crate::storage::{Batch, Db, Meta, ValueType};

/// The live metadata of `key` if it holds a `ty`; None if it is missing or expired; WRONGTYPE if
/// it holds something else. For read-only commands (no lock needed).
pub fn read(db: &Db<'_>, key: &[u8], ty: ValueType) -> Result<Option<Meta>> {
    match db.meta(key)? {
        Some(m) if m.ty() == ty => Ok(Some(m)),
        Some(_) => Err(TypeError::WrongType),
        None => Ok(None),
    }
}

/// A key about to be written as a collection of one type; read under the key lock.
pub struct Target {
    ty: ValueType,
    /// The stored metadata, expired or not (for exact counts and the expiry index).
    raw: Option<Meta>,
    live: bool,
    /// The version elements are written under, once known.
    version: Option<u64>,
}

impl Target {
    /// Reads `key` for a write. Call with the key lock held.
    pub fn load(db: &Db<'_>, key: &[u8], ty: ValueType) -> Result<Target> {
        let now = crate::util::time::now_ms();
        let raw = db.meta_raw(key)?;
        let live = raw.as_ref().is_some_and(|m| !m.is_expired(now));
        if live && raw.as_ref().is_some_and(|m| m.ty() != ty) {
            return Err(TypeError::WrongType);
        }
        let version = raw.as_ref().filter(|_| live).map(Meta::version);
        Ok(Target {
            ty,
            raw,
            live,
            version,
        })
    }

    /// Whether the collection exists (and has not expired).
    pub fn exists(&self) -> bool {
        self.live
    }

    /// The live metadata, if the collection exists.
    pub fn meta(&self) -> Option<&Meta> {
        self.raw.as_ref().filter(|_| self.live)
    }

    /// Number of elements (0 when absent).
    pub fn count(&self) -> u64 {
        self.meta().map_or(0, Meta::count)
    }

    /// The version of the existing collection, if any.
    pub fn version(&self) -> Option<u64> {
        self.version
    }

    /// The version to write elements under: the existing one, or a fresh one (allocated once)
    /// for a new collection.
    pub fn version_or_new(&mut self, db: &Db<'_>) -> Result<u64> {
        if let Some(v) = self.version {
            return Ok(v);
        }
        let v = db.store.next_version()?;
        self.version = Some(v);
        Ok(v)
    }

    /// Stores the metadata with the new element count and type-specific trailing bytes, keeping
    /// the expiry of an existing collection. A count of zero deletes the key. Does nothing when
    /// the collection neither existed nor got elements, or when neither count nor trailing bytes
    /// changed.
    pub fn store(&self, batch: &mut Batch<'_>, db: &Db<'_>, key: &[u8], count: u64, extra: &[u8]) {
        if count == 0 {
            if let Some(raw) = self.raw.as_ref().filter(|_| self.live) {
                batch.delete_key(db.phys, key, raw);
            }
            return;
        }
        let Some(version) = self.version else {
            return;
        };
        // Overwriting existing elements (HSET of a known field) leaves the metadata as it is:
        // one write fewer on the commonest update.
        let unchanged =
            |m: &Meta| m.version() == version && m.count() == count && m.extra() == extra;
        if self.meta().is_some_and(unchanged) {
            return;
        }
        let expire_at = self.meta().map_or(0, Meta::expire_at);
        let mut bytes = Meta::encode_collection(self.ty, expire_at, version, count);
        bytes.extend_from_slice(extra);
        batch.put_meta(db.phys, key, self.raw.as_ref(), &bytes);
    }
}
