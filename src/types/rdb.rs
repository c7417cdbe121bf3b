//! Whole keys between Basalt's storage and the RDB model: [`KeyLoader`] builds a key from the
//! chunks the RDB reader decodes (RESTORE, `basalt-rdb import`), and [`write_key`] streams a
//! stored key to the RDB writer (DUMP, `basalt-rdb export`).
//!
//! A loaded collection is written under a fresh version and its metadata goes in last, so a key
//! whose elements span several write batches stays invisible until it is complete; an
//! abandoned load leaves only unreferenced sub-keys, which the compaction filter drops.

use super::zsets;
use crate::rdb::{Chunk, Kind, RdbError, Writer};
use crate::storage::subkeys::SubCf;
use crate::storage::{Batch, Db, Meta, StoreError, ValueType};
use std::collections::HashSet;
use std::hash::{Hash, Hasher};
use std::io::Write;

/// Why a key could not be moved between storage and RDB.
#[derive(Debug, thiserror::Error)]
pub enum KeyIoError {
    #[error(transparent)]
    Rdb(#[from] RdbError),
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The value repeats an element (a set member, hash field or sorted set member).
    #[error("duplicate {0} in the value")]
    Duplicate(&'static str),
    /// A type Basalt does not store yet.
    #[error("{0}")]
    Unsupported(String),
}

/// Builds one key from decoded chunks.
pub struct KeyLoader {
    phys: u8,
    key: Vec<u8>,
    kind: Kind,
    /// A string's value (strings are stored inline in the metadata).
    string: Option<Vec<u8>>,
    version: u64,
    count: u64,
    /// 128-bit fingerprints of the elements seen, to refuse duplicates as Redis does.
    seen: HashSet<u128>,
    /// Hash fields whose own TTL had passed, left out.
    pub expired_fields: u64,
    /// Hash fields imported without the TTL they carried (Basalt has no field TTLs).
    pub dropped_field_ttls: u64,
}

fn fingerprint(b: &[u8]) -> u128 {
    let half = |salt: u8| {
        let mut h = std::hash::DefaultHasher::new();
        salt.hash(&mut h);
        b.hash(&mut h);
        h.finish()
    };
    (u128::from(half(0)) << 64) | u128::from(half(1))
}

impl KeyLoader {
    /// Starts loading `key` of `kind` into `db`; collections get a fresh version.
    pub fn new(db: &Db<'_>, key: &[u8], kind: Kind) -> Result<KeyLoader, KeyIoError> {
        let version = match kind {
            Kind::String => 0,
            Kind::Stream => {
                return Err(KeyIoError::Unsupported(
                    "streams are not supported by Basalt yet".into(),
                ))
            }
            _ => db.store.next_version()?,
        };
        Ok(KeyLoader {
            phys: db.phys,
            key: key.to_vec(),
            kind,
            string: None,
            version,
            count: 0,
            seen: HashSet::new(),
            expired_fields: 0,
            dropped_field_ttls: 0,
        })
    }

    /// Elements added so far.
    pub fn count(&self) -> u64 {
        self.count
    }

    fn first_time(&mut self, element: &[u8], what: &'static str) -> Result<(), KeyIoError> {
        if self.seen.insert(fingerprint(element)) {
            Ok(())
        } else {
            Err(KeyIoError::Duplicate(what))
        }
    }

    /// Writes one chunk's elements into `batch`.
    pub fn add(
        &mut self,
        batch: &mut Batch<'_>,
        chunk: Chunk,
        now_ms: u64,
    ) -> Result<(), KeyIoError> {
        let (phys, version) = (self.phys, self.version);
        let mismatch = || KeyIoError::Rdb(RdbError::Unsupported("chunk of another type".into()));
        match (self.kind, chunk) {
            (Kind::String, Chunk::String(v)) if self.string.is_none() => {
                self.string = Some(v);
                self.count = 1;
            }
            (Kind::List, Chunk::List(items)) => {
                for e in items {
                    let index = crate::types::lists::INITIAL_HEAD + self.count;
                    let key = &self.key;
                    batch.put_sub(SubCf::Data, phys, key, version, &index.to_be_bytes(), &e);
                    self.count += 1;
                }
            }
            (Kind::Set, Chunk::Set(members)) => {
                for m in members {
                    self.first_time(&m, "set member")?;
                    batch.put_sub(SubCf::Data, phys, &self.key, version, &m, b"");
                    self.count += 1;
                }
            }
            (Kind::ZSet, Chunk::ZSet(members)) => {
                for (m, score) in members {
                    self.first_time(&m, "sorted set member")?;
                    zsets::put_member(batch, phys, &self.key, version, &m, None, score);
                    self.count += 1;
                }
            }
            (Kind::Hash, Chunk::Hash(fields)) => {
                for f in fields {
                    self.first_time(&f.field, "hash field")?;
                    if f.expire_ms != 0 {
                        if f.expire_ms <= now_ms {
                            self.expired_fields += 1;
                            continue;
                        }
                        self.dropped_field_ttls += 1;
                    }
                    batch.put_sub(SubCf::Data, phys, &self.key, version, &f.field, &f.value);
                    self.count += 1;
                }
            }
            _ => return Err(mismatch()),
        }
        Ok(())
    }

    /// Stores the key's metadata, replacing `old` (the raw metadata under that name, if any).
    /// Returns false, writing nothing, for an empty collection (Redis skips those too).
    pub fn finish(
        self,
        batch: &mut Batch<'_>,
        old: Option<&Meta>,
        expire_at: u64,
    ) -> Result<bool, KeyIoError> {
        let meta = match self.kind {
            Kind::String => match &self.string {
                Some(v) => Meta::encode_string(v, expire_at),
                None => return Ok(false),
            },
            _ if self.count == 0 => return Ok(false),
            Kind::List => {
                let mut m =
                    Meta::encode_collection(ValueType::List, expire_at, self.version, self.count);
                m.extend_from_slice(&crate::types::lists::INITIAL_HEAD.to_be_bytes());
                m
            }
            Kind::Set => {
                Meta::encode_collection(ValueType::Set, expire_at, self.version, self.count)
            }
            Kind::ZSet => {
                Meta::encode_collection(ValueType::ZSet, expire_at, self.version, self.count)
            }
            Kind::Hash => {
                Meta::encode_collection(ValueType::Hash, expire_at, self.version, self.count)
            }
            Kind::Stream => return Ok(false),
        };
        batch.put_meta(self.phys, &self.key, old, &meta);
        Ok(true)
    }
}

/// The expiry to write for a stored key: None when it has none.
pub fn expire_of(meta: &Meta) -> Option<i64> {
    match meta.expire_at() {
        0 => None,
        at => Some(i64::try_from(at).unwrap_or(i64::MAX)),
    }
}

/// Streams `key` (whose live metadata is `meta`) to `w`, with `expire_ms` (ignored in a
/// payload). Sub-keys are read with an iterator, never all at once.
pub fn write_key<W: Write>(
    db: &Db<'_>,
    key: &[u8],
    meta: &Meta,
    expire_ms: Option<i64>,
    w: &mut Writer<W>,
) -> Result<(), KeyIoError> {
    let short = || KeyIoError::Store(StoreError::Corrupt("collection shorter than its count"));
    let (version, count) = match meta.ty() {
        ValueType::String => (0, 0),
        _ => (meta.version(), meta.count()),
    };
    match meta.ty() {
        ValueType::String => return Ok(w.string(key, expire_ms, meta.string_value())?),
        ValueType::Stream => {
            return Err(KeyIoError::Unsupported(
                "streams are not supported by Basalt yet".into(),
            ))
        }
        ValueType::List => {
            w.begin_list(key, expire_ms, count)?;
            let mut it = db.iter_subs(SubCf::Data, key, version, None, false);
            for _ in 0..count {
                let (_, v) = it.next()?.ok_or_else(short)?;
                w.item(v)?;
            }
        }
        ValueType::Set => {
            w.begin_set(key, expire_ms, count)?;
            let mut it = db.iter_subs(SubCf::Data, key, version, None, false);
            for _ in 0..count {
                let (m, _) = it.next()?.ok_or_else(short)?;
                w.member(m)?;
            }
        }
        ValueType::Hash => {
            w.begin_hash(key, expire_ms, count)?;
            let mut it = db.iter_subs(SubCf::Data, key, version, None, false);
            for _ in 0..count {
                let (f, v) = it.next()?.ok_or_else(short)?;
                w.field(f, v)?;
            }
        }
        ValueType::ZSet => {
            w.begin_zset(key, expire_ms, count)?;
            let mut it = db.iter_subs(SubCf::Score, key, version, None, false);
            for _ in 0..count {
                let (sub, _) = it.next()?.ok_or_else(short)?;
                let (score, m) = zsets::parse_index_sub(sub).map_err(|e| match e {
                    crate::types::TypeError::Storage(s) => KeyIoError::Store(s),
                    _ => short(),
                })?;
                w.scored(m, score)?;
            }
        }
    }
    Ok(w.end()?)
}
