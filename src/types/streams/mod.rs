//! Streams as typed operations over the versioned sub-key layout ([`layout`] has the table).
//!
//! A stream is collection metadata of type [`ValueType::Stream`] whose element count is the
//! stream's length and whose type-specific bytes are a [`Header`] (last ID, first ID, greatest
//! deleted ID, entries added, group count). Entries, consumer groups, consumers and the
//! pending entries lists are sub-keys of its version, each kind under its own tag, so every
//! read is a point lookup or a seek plus the items returned, and nothing needs memory
//! proportional to the stream: XRANGE and XREAD seek to their start, XLEN reads the metadata,
//! XTRIM deletes from the head with a range deletion, a consumer's pending entries have their
//! own index. Unlike the other collections, a stream stays when it becomes empty (as in Redis).
//!
//! Writes hold the key lock across their reads and their one batch. Semantics and error texts
//! follow Redis 7.0's `t_stream.c`; commands render the few errors whose text names the key or
//! the group.

mod entries;
mod groups;
pub mod id;
pub mod layout;
pub mod rdb;

pub use crate::rdb::StreamId;
pub use entries::*;
pub use groups::*;
pub use layout::Header;

use super::TypeError;
use crate::storage::encoding::COLLECTION_HEADER;
use crate::storage::{Batch, Db, Meta, StoreError, ValueType};
use bytes::Bytes;

const T: ValueType = ValueType::Stream;

/// Errors of the stream operations beyond the common [`TypeError`]s.
#[derive(Debug, thiserror::Error)]
pub enum StreamError {
    #[error(transparent)]
    Type(#[from] TypeError),
    #[error("ERR Invalid stream ID specified as stream command argument")]
    InvalidId,
    #[error("ERR The ID specified in XADD is equal or smaller than the target stream top item")]
    IdNotGreater,
    #[error("ERR The ID specified in XADD must be greater than 0-0")]
    IdZero,
    #[error("ERR The stream has exhausted the last possible ID, unable to add more items")]
    Exhausted,
    /// The group does not exist; the command renders the text, which names key and group.
    #[error("NOGROUP No such consumer group")]
    NoGroup,
    /// XREADGROUP: the key at this position of its keys is missing.
    #[error("NOGROUP No such key")]
    NoKeyAt(usize),
    /// XREADGROUP: the group does not exist in the key at this position of its keys.
    #[error("NOGROUP No such consumer group")]
    NoGroupAt(usize),
    #[error("BUSYGROUP Consumer Group name already exists")]
    BusyGroup,
    #[error("ERR The XGROUP subcommand requires the key to exist. Note that for CREATE you may want to use the MKSTREAM option to create an empty stream automatically.")]
    XGroupNeedsKey,
    /// XAUTOCLAIM with a COUNT whose bookkeeping Redis could not allocate.
    #[error("ERR Insufficient memory, failed allocating transient memory, COUNT too high.")]
    CountTooHigh,
    #[error("ERR The ID specified in XSETID is smaller than the target stream top item")]
    SetIdBelowTop,
    #[error("ERR The entries_added specified in XSETID is smaller than the target stream length")]
    EntriesAddedBelowLength,
}

impl From<StoreError> for StreamError {
    fn from(e: StoreError) -> Self {
        StreamError::Type(TypeError::Storage(e))
    }
}

/// Result alias of the stream operations.
pub type Result<T, E = StreamError> = std::result::Result<T, E>;

/// A storage corruption error naming what was malformed.
pub(crate) fn corrupt(what: &'static str) -> StreamError {
    StreamError::Type(TypeError::Storage(StoreError::Corrupt(what)))
}

/// One entry: its ID and its fields and values, alternating.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    pub id: StreamId,
    pub fields: Vec<Bytes>,
}

/// The encoding OBJECT ENCODING reports.
pub fn encoding() -> &'static str {
    "stream"
}

/// A live stream as read without the lock (XRANGE, XLEN, XINFO, ...).
#[derive(Clone, Copy, Debug)]
pub struct View {
    pub version: u64,
    pub len: u64,
    pub h: Header,
}

fn header_of(meta: &Meta) -> Result<Header> {
    Header::decode(meta.extra()).ok_or_else(|| corrupt("stream metadata without its header"))
}

/// The live stream at `key`, None when missing, WRONGTYPE for another type.
pub(crate) fn read(db: &Db<'_>, key: &[u8]) -> Result<Option<View>> {
    match super::collection::read(db, key, T)? {
        Some(m) => Ok(Some(View {
            version: m.version(),
            len: m.count(),
            h: header_of(&m)?,
        })),
        None => Ok(None),
    }
}

/// Whether a stream exists at `key` (WRONGTYPE for another type).
pub fn read_exists(db: &Db<'_>, key: &[u8]) -> Result<bool> {
    Ok(read(db, key)?.is_some())
}

/// A stream loaded for a write under its key lock. Changes to `len` and `h` are stored by
/// [`Writer::store`]; a stream that did not exist is created by it (streams may be empty).
pub(crate) struct Writer<'k> {
    pub key: &'k [u8],
    /// The stored metadata, expired or not (for exact key counts and the expiry index).
    raw: Option<Meta>,
    live: bool,
    /// The version sub-keys are written under (allocated by [`Writer::create`] for a new one).
    pub version: u64,
    pub len: u64,
    pub h: Header,
    /// What was stored, to skip rewriting unchanged metadata.
    stored: Option<(u64, Header)>,
    expire_at: u64,
}

impl<'k> Writer<'k> {
    /// Reads `key` for a write; WRONGTYPE if it holds another type. Call with the lock held.
    pub fn load(db: &Db<'_>, key: &'k [u8]) -> Result<Writer<'k>> {
        let now = crate::util::time::now_ms();
        let raw = db.meta_raw(key)?;
        let live = raw.as_ref().is_some_and(|m| !m.is_expired(now));
        let mut w = Writer {
            key,
            raw,
            live,
            version: 0,
            len: 0,
            h: Header::default(),
            stored: None,
            expire_at: 0,
        };
        if let Some(m) = w.raw.as_ref().filter(|_| live) {
            if m.ty() != T {
                return Err(TypeError::WrongType.into());
            }
            w.version = m.version();
            w.len = m.count();
            w.h = header_of(m)?;
            w.expire_at = m.expire_at();
            w.stored = Some((w.len, w.h));
        }
        Ok(w)
    }

    /// Whether the stream exists (or was created by this writer).
    pub fn exists(&self) -> bool {
        self.live || self.version != 0
    }

    /// Starts a new, empty stream (the key was missing or expired).
    pub fn create(&mut self, db: &Db<'_>) -> Result<()> {
        self.version = db.store.next_version()?;
        self.len = 0;
        self.h = Header::default();
        Ok(())
    }

    /// The stream as it stands in this writer (for reads within the same command).
    pub fn view(&self) -> View {
        View {
            version: self.version,
            len: self.len,
            h: self.h,
        }
    }

    /// Stores the metadata if anything changed (or the stream is new).
    pub fn store(&self, batch: &mut Batch<'_>, db: &Db<'_>) {
        if !self.exists() || self.stored == Some((self.len, self.h)) {
            return;
        }
        let mut bytes = Meta::encode_collection(T, self.expire_at, self.version, self.len);
        bytes.reserve(layout::HEADER_LEN);
        bytes.extend_from_slice(&self.h.encode());
        debug_assert_eq!(bytes.len(), COLLECTION_HEADER + layout::HEADER_LEN);
        batch.put_meta(db.phys, self.key, self.raw.as_ref(), &bytes);
    }
}

/// Metadata bytes for a stream (RDB import): the collection header and the [`Header`].
pub fn encode_meta(expire_at: u64, version: u64, len: u64, h: &Header) -> Vec<u8> {
    let mut bytes = Meta::encode_collection(T, expire_at, version, len);
    bytes.extend_from_slice(&h.encode());
    bytes
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;
    use crate::rdb::{Event, Reader};
    use crate::storage::Store;
    use crate::types::rdb::{write_key, KeyLoader};

    fn id(ms: u64, seq: u64) -> StreamId {
        StreamId { ms, seq }
    }

    fn store(dir: &std::path::Path) -> std::sync::Arc<Store> {
        let cfg = Config {
            dir: dir.to_path_buf(),
            ..Config::default()
        };
        Store::open(&cfg).unwrap()
    }

    fn ids(entries: &[Entry]) -> Vec<StreamId> {
        entries.iter().map(|e| e.id).collect()
    }

    #[test]
    fn trims_and_deletions_keep_length_and_first_id_exact() {
        let dir = tempfile::tempdir().unwrap();
        let s = store(dir.path());
        let view = s.view();
        let db = view.db(0).unwrap();
        for i in 1..=200 {
            let fields: [&[u8]; 2] = [b"f", b"v"];
            add(&db, b"s", IdSpec::Exact(id(i, 0)), false, &fields, None).unwrap();
        }
        // A range deletion (more than 32 entries) and point deletions.
        let t = Trim {
            by: TrimBy::MaxLen(150),
            approx: false,
            limit: 0,
        };
        assert_eq!(trim(&db, b"s", &t).unwrap(), 50);
        let t = Trim {
            by: TrimBy::MinId(id(61, 0)),
            approx: false,
            limit: 0,
        };
        assert_eq!(trim(&db, b"s", &t).unwrap(), 10);
        let v = read(&db, b"s").unwrap().unwrap();
        assert_eq!(
            (v.len, v.h.first_id, v.h.entries_added),
            (140, id(61, 0), 200)
        );
        assert_eq!(
            delete(&db, b"s", &[id(61, 0), id(62, 0), id(7, 0)]).unwrap(),
            2
        );
        let v = read(&db, b"s").unwrap().unwrap();
        assert_eq!(
            (v.len, v.h.first_id, v.h.max_deleted),
            (138, id(63, 0), id(62, 0))
        );
        let all = range(&db, b"s", id::MIN, id::MAX, None, false).unwrap();
        assert_eq!(all.len(), 138);
        assert_eq!(ids(&all[..2]), [id(63, 0), id(64, 0)]);
        let back = range(&db, b"s", id(100, 0), id(102, 5), None, true).unwrap();
        assert_eq!(ids(&back), [id(102, 0), id(101, 0), id(100, 0)]);
        // An approximate trim removes whole blocks of 100 only.
        let t = Trim {
            by: TrimBy::MaxLen(0),
            approx: true,
            limit: 150,
        };
        assert_eq!(trim(&db, b"s", &t).unwrap(), 100);
        assert_eq!(len(&db, b"s").unwrap(), 38);
        // XADD trimming most of the stream, the new entry (not stored yet) among those kept.
        let keep3 = Trim {
            by: TrimBy::MaxLen(3),
            approx: false,
            limit: 0,
        };
        let fields: [&[u8]; 2] = [b"f", b"v"];
        let added = add(
            &db,
            b"s",
            IdSpec::Exact(id(500, 0)),
            false,
            &fields,
            Some(&keep3),
        );
        assert_eq!(added.unwrap().unwrap().trimmed, 36);
        let left = range(&db, b"s", id::MIN, id::MAX, None, false).unwrap();
        assert_eq!(ids(&left), [id(199, 0), id(200, 0), id(500, 0)]);
        assert_eq!(read(&db, b"s").unwrap().unwrap().h.first_id, id(199, 0));
        // And all of it, the new entry included.
        let none = Trim {
            by: TrimBy::MaxLen(0),
            approx: false,
            limit: 0,
        };
        let added = add(
            &db,
            b"s",
            IdSpec::Exact(id(501, 0)),
            false,
            &fields,
            Some(&none),
        );
        assert_eq!(added.unwrap().unwrap().trimmed, 4);
        assert!(range(&db, b"s", id::MIN, id::MAX, None, false)
            .unwrap()
            .is_empty());
        let v = read(&db, b"s").unwrap().unwrap();
        assert_eq!((v.len, v.h.first_id, v.h.last_id), (0, id::MIN, id(501, 0)));
    }

    #[test]
    fn groups_survive_a_dump_and_restore_through_the_rdb_codec() {
        let dir = tempfile::tempdir().unwrap();
        let s = store(dir.path());
        let view = s.view();
        let db = view.db(0).unwrap();
        for i in 1..=250u64 {
            let v = i.to_string();
            let fields: [&[u8]; 4] = [
                b"f",
                v.as_bytes(),
                if i % 3 == 0 { b"x" } else { b"g" },
                b"y",
            ];
            add(&db, b"s", IdSpec::Exact(id(i, 1)), false, &fields, None).unwrap();
        }
        create_group(&db, b"s", b"g", b"0", false, -1).unwrap();
        let read_as = |who: &[u8], count| {
            let keys: [&[u8]; 1] = [b"s"];
            let req = GroupRead {
                keys: &keys,
                from: &[ReadFrom::New],
                group: b"g",
                consumer: who,
                count,
                noack: false,
            };
            read_group(&db, &req).unwrap()
        };
        assert_eq!(read_as(b"alice", 100)[0].entries.len(), 100);
        assert_eq!(read_as(b"bob", 20)[0].entries.len(), 20);
        // An ID named twice is acknowledged once.
        let acked = ack::<()>(&db, b"s", b"g", Ok(vec![id(1, 1), id(1, 1), id(2, 1)])).unwrap();
        assert_eq!(acked, Ok(2));
        delete(&db, b"s", &[id(3, 1)]).unwrap();
        let claim_args = ClaimArgs {
            ids: vec![id(101, 1), id(101, 1), id(3, 1)],
            ..ClaimArgs::default()
        };
        let out = claim::<()>(&db, b"s", b"g", b"carol", Ok(claim_args))
            .unwrap()
            .unwrap();
        assert!(out.consumer_created);
        assert_eq!(out.items.len(), 2, "claimed twice, the deleted one dropped");
        let summary = pending_summary(&db, b"s", b"g").unwrap();
        assert_eq!(summary.count, 117);
        assert_eq!(
            summary.consumers,
            vec![
                (b"alice".to_vec(), 97),
                (b"bob".to_vec(), 19),
                (b"carol".to_vec(), 1)
            ]
        );
        let meta = db.meta(b"s").unwrap().unwrap();
        let mut w = crate::rdb::Writer::payload();
        write_key(&db, b"s", &meta, None, &mut w).unwrap();
        let payload = w.finish_payload().unwrap();
        // Load it under another name.
        let mut reader = Reader::payload(&payload).unwrap();
        let Some(Event::Key(h)) = reader.next().unwrap() else {
            panic!("a key")
        };
        let mut batch = db.batch();
        let mut loader = KeyLoader::new(&db, b"copy", h.kind).unwrap();
        while let Some(Event::Chunk(c)) = reader.next().unwrap() {
            loader.add(&mut batch, c, 0).unwrap();
        }
        assert!(loader.has_value());
        assert!(loader.finish(&mut batch, None, 0).unwrap());
        batch.commit().unwrap();
        let a = range(&db, b"s", id::MIN, id::MAX, None, false).unwrap();
        let b = range(&db, b"copy", id::MIN, id::MAX, None, false).unwrap();
        assert_eq!(a, b);
        assert_eq!(
            info_stream(&db, b"s", Some(0)).unwrap(),
            info_stream(&db, b"copy", Some(0)).unwrap()
        );
        assert_eq!(pending_summary(&db, b"copy", b"g").unwrap(), summary);
    }
}
