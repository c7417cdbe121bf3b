//! Whole keys between Basalt's storage and the RDB model: [`KeyLoader`] builds a key from the
//! chunks the RDB reader decodes (RESTORE, `basalt-rdb import`), and [`write_key`] streams a
//! stored key to the RDB writer (DUMP, `basalt-rdb export`).
//!
//! A loaded collection is written under a fresh version and its metadata goes in last, so a key
//! whose elements span several write batches stays invisible until it is complete; an
//! abandoned load leaves only unreferenced sub-keys, which the compaction filter drops.

use super::streams::rdb::{write_stream, StreamLoad};
use super::zsets;
use crate::rdb::{Chunk, Kind, RdbError, Writer};
use crate::storage::encoding::data_prefix;
use crate::storage::subkeys::{SubCf, SubCursors};
use crate::storage::{Batch, Db, Meta, StoreError, ValueType};
use std::collections::HashSet;
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
    /// A value that decodes but breaks its type's rules (a stream's entries out of order, a
    /// pending entry without a consumer...).
    #[error("invalid value: {0}")]
    Invalid(&'static str),
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
    /// The sub-key being written: the collection's prefix, then the element (reused).
    sub: Vec<u8>,
    prefix_len: usize,
    /// A stream's entries and metadata loaded so far (boxed: most keys are not streams).
    stream: Option<Box<StreamLoad>>,
}

/// A 128-bit fingerprint of an element, for the duplicate check: two independent 64-bit
/// multiply-fold hashes (as wyhash mixes), far cheaper than SipHash on the import path. A
/// collision could only make an import refuse a value, never accept a bad one.
fn fingerprint(b: &[u8]) -> u128 {
    const K: [u64; 2] = [0xa076_1d64_78bd_642f, 0xe703_7ed1_a0b4_28db];
    fn mix(a: u64, b: u64) -> u64 {
        let m = u128::from(a) * u128::from(b);
        (m as u64) ^ ((m >> 64) as u64)
    }
    let mut h = [K[0] ^ b.len() as u64, K[1].rotate_left(17) ^ b.len() as u64];
    let mut chunks = b.chunks_exact(8);
    for c in &mut chunks {
        let mut w = [0u8; 8];
        w.copy_from_slice(c);
        let w = u64::from_le_bytes(w);
        h[0] = mix(h[0] ^ w, K[1]);
        h[1] = mix(h[1] ^ w.rotate_left(29), K[0]);
    }
    let mut tail = [0u8; 8];
    tail[..chunks.remainder().len()].copy_from_slice(chunks.remainder());
    let w = u64::from_le_bytes(tail);
    h[0] = mix(mix(h[0] ^ w, K[1]), K[0] ^ 0x9e37_79b9);
    h[1] = mix(mix(h[1] ^ w.rotate_left(29), K[0]), K[1] ^ 0x7f4a_7c15);
    (u128::from(h[0]) << 64) | u128::from(h[1])
}

impl KeyLoader {
    /// Starts loading `key` of `kind` into `db`; collections get a fresh version.
    pub fn new(db: &Db<'_>, key: &[u8], kind: Kind) -> Result<KeyLoader, KeyIoError> {
        let version = match kind {
            Kind::String => 0,
            _ => db.store.next_version()?,
        };
        let sub = data_prefix(db.phys, key, version);
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
            prefix_len: sub.len(),
            sub,
            stream: (kind == Kind::Stream).then(Box::default),
        })
    }

    /// Elements added so far (a stream's entries).
    pub fn count(&self) -> u64 {
        match &self.stream {
            Some(s) => s.count(),
            None => self.count,
        }
    }

    /// Whether the key has a value to store: elements, or for a stream (which may be empty)
    /// its metadata.
    pub fn has_value(&self) -> bool {
        match &self.stream {
            Some(s) => s.complete(),
            None => self.count > 0,
        }
    }

    fn first_time(&mut self, element: &[u8], what: &'static str) -> Result<(), KeyIoError> {
        if self.seen.insert(fingerprint(element)) {
            Ok(())
        } else {
            Err(KeyIoError::Duplicate(what))
        }
    }

    /// Writes the sub-key `element` of this collection with `value`.
    fn put(&mut self, batch: &mut Batch<'_>, element: &[u8], value: &[u8]) {
        self.sub.truncate(self.prefix_len);
        self.sub.extend_from_slice(element);
        batch.put_sub_raw(SubCf::Data, self.phys, &self.key, &self.sub, value);
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
                    self.put(batch, &index.to_be_bytes(), &e);
                    self.count += 1;
                }
            }
            (Kind::Set, Chunk::Set(members)) => {
                for m in members {
                    self.first_time(&m, "set member")?;
                    self.put(batch, &m, b"");
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
                    self.put(batch, &f.field, &f.value);
                    self.count += 1;
                }
            }
            (Kind::Stream, Chunk::StreamEntries(entries)) => {
                if let Some(s) = self.stream.as_mut() {
                    s.entries(batch, phys, &self.key, version, entries)?;
                }
            }
            (Kind::Stream, Chunk::StreamMeta(meta)) => {
                if let Some(s) = self.stream.as_mut() {
                    s.meta(batch, phys, &self.key, version, &meta)?;
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
            Kind::List | Kind::Set | Kind::ZSet | Kind::Hash if self.count == 0 => {
                return Ok(false)
            }
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
            Kind::Stream => match self
                .stream
                .as_ref()
                .and_then(|s| s.meta_bytes(expire_at, self.version))
            {
                Some(m) => m,
                None => return Ok(false),
            },
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

/// Bytes of a fragmented value read and LZF-compressed at a time.
const LZF_PIECE: u64 = 1 << 20;
/// Most LZF output kept for one value: past it the value is written raw instead.
const LZF_BUFFER: u64 = 32 << 20;

/// Writes a fragmented string without holding it whole: first LZF-compressed piece by piece
/// (the pieces' streams concatenate into one valid stream) while the output stays below both
/// the value's length less 4 (Redis's rule for compressing) and [`LZF_BUFFER`]; otherwise raw,
/// streamed from a second read. So a sparse 512 MB bitmap exports as a few MB, and memory stays
/// bounded by the buffer and one piece.
fn write_fragmented<W: Write>(
    db: &Db<'_>,
    key: &[u8],
    meta: &Meta,
    expire_ms: Option<i64>,
    w: &mut Writer<W>,
) -> Result<(), KeyIoError> {
    let len = meta.string_len();
    let limit = len.saturating_sub(4).min(LZF_BUFFER);
    let mut packed = Vec::new();
    let mut reader = db.string_reader(key, meta.clone());
    let mut fits = len > 20;
    let mut off = 0;
    while fits && off < len {
        let end = (off + LZF_PIECE).min(len);
        let piece = reader.read(off, end)?;
        match crate::rdb::lzf::compress(&piece) {
            Some(c) => packed.extend_from_slice(&c),
            None => crate::rdb::lzf::push_literals(&mut packed, &piece),
        }
        fits = (packed.len() as u64) < limit;
        off = end;
    }
    if fits {
        w.begin_lzf_string(key, expire_ms, packed.len() as u64, len)?;
        w.string_piece(&packed)?;
        return Ok(w.end()?);
    }
    drop(packed);
    w.begin_string(key, expire_ms, len)?;
    let mut reader = db.string_reader(key, meta.clone());
    let mut off = 0;
    while off < len {
        let end = (off + LZF_PIECE).min(len);
        w.string_piece(&reader.read(off, end)?)?;
        off = end;
    }
    Ok(w.end()?)
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
    write_key_with(db, key, meta, expire_ms, w, &mut SubCursors::default())
}

/// [`write_key`] with iterators kept from key to key by the caller (a walk over many keys).
pub fn write_key_with<'a, W: Write>(
    db: &Db<'a>,
    key: &[u8],
    meta: &Meta,
    expire_ms: Option<i64>,
    w: &mut Writer<W>,
    cursors: &mut SubCursors<'a>,
) -> Result<(), KeyIoError> {
    let short = || KeyIoError::Store(StoreError::Corrupt("collection shorter than its count"));
    let (version, count) = match meta.ty() {
        ValueType::String => (0, 0),
        _ => (meta.version(), meta.count()),
    };
    match meta.ty() {
        ValueType::String if meta.is_fragmented() => {
            return write_fragmented(db, key, meta, expire_ms, w)
        }
        ValueType::String => {
            let v = meta.inline_value().unwrap_or_default();
            return Ok(w.string(key, expire_ms, v)?);
        }
        ValueType::Stream => return write_stream(db, key, meta, expire_ms, w),
        ValueType::List => {
            w.begin_list(key, expire_ms, count)?;
            let it = &mut *cursors;
            it.start(db, SubCf::Data, key, version);
            for _ in 0..count {
                let (_, v) = it.next()?.ok_or_else(short)?;
                w.item(v)?;
            }
        }
        ValueType::Set => {
            w.begin_set(key, expire_ms, count)?;
            let it = &mut *cursors;
            it.start(db, SubCf::Data, key, version);
            for _ in 0..count {
                let (m, _) = it.next()?.ok_or_else(short)?;
                w.member(m)?;
            }
        }
        ValueType::Hash => {
            w.begin_hash(key, expire_ms, count)?;
            let it = &mut *cursors;
            it.start(db, SubCf::Data, key, version);
            for _ in 0..count {
                let (f, v) = it.next()?.ok_or_else(short)?;
                w.field(f, v)?;
            }
        }
        ValueType::ZSet => {
            w.begin_zset(key, expire_ms, count)?;
            let it = &mut *cursors;
            it.start(db, SubCf::Score, key, version);
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
