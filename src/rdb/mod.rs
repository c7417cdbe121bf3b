//! The RDB format: a streaming reader for RDB versions 1 to 12 and DUMP payloads, a writer of
//! RDB version 10 (what Redis 7.0 loads) and of DUMP payloads, and the blob codecs they share
//! (LZF, listpack, ziplist, zipmap, intset, CRC-64). Used by the `basalt-rdb` tool and by DUMP and
//! RESTORE in the server. Redis's source (rdb.c, rdb.h, t_stream.c) is the authority.
//!
//! The reader yields [`Event`]s: a key's header, then its value in bounded [`Chunk`]s (one
//! listpack, one quicklist node or a bounded run of elements), then its end, so a file of any size
//! is read with memory bounded by the largest chunk, not the largest key.

pub mod crc64;
pub mod intset;
pub mod listpack;
pub mod lzf;
pub mod reader;
pub mod stream;
pub mod writer;
pub mod ziplist;
pub mod zipmap;

pub use reader::Reader;
pub use writer::Writer;

/// Why decoding RDB bytes failed; every variant that comes from the input names the byte offset
/// so a bad file can be located with a hex dump.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RdbError {
    /// The input ended before a complete value was read.
    #[error("truncated at offset {offset} while reading {what}")]
    Truncated {
        /// Byte offset where more input was needed.
        offset: usize,
        /// What was being read.
        what: &'static str,
    },
    /// The bytes do not follow the format.
    #[error("corrupt at offset {offset}: {what}")]
    Corrupt {
        /// Byte offset of the offending data.
        offset: usize,
        /// What was expected.
        what: &'static str,
    },
    /// A value or auxiliary record of a Redis module, which only that module can decode.
    #[error("offset {offset}: module data of module type '{module}' cannot be loaded (Basalt runs no Redis modules)")]
    Module {
        /// Byte offset of the module value.
        offset: usize,
        /// The module type's nine-character name, decoded from its id.
        module: String,
    },
    /// The checksum at the end does not match the content.
    #[error(
        "checksum mismatch: the file says {found:016x}, the content hashes to {expected:016x}"
    )]
    Checksum {
        /// CRC-64 of the bytes read.
        expected: u64,
        /// CRC-64 stored in the input.
        found: u64,
    },
    /// Not an RDB file, or a version this reader does not know.
    #[error("{0}")]
    Header(String),
    /// The underlying reader or writer failed.
    #[error("I/O error: {0}")]
    Io(String),
    /// A value this writer cannot express in the requested RDB version.
    #[error("{0}")]
    Unsupported(String),
}

impl From<std::io::Error> for RdbError {
    fn from(e: std::io::Error) -> Self {
        RdbError::Io(e.to_string())
    }
}

/// The newest RDB version the reader understands (Redis 7.4).
pub const MAX_READ_VERSION: u32 = 12;
/// The version the writer produces by default: the newest that Redis 7.0 loads.
pub const WRITE_VERSION: u32 = 10;
/// The oldest version the writer can produce.
pub const MIN_WRITE_VERSION: u32 = 7;

/// RDB object types (rdb.h).
pub mod types {
    pub const STRING: u8 = 0;
    pub const LIST: u8 = 1;
    pub const SET: u8 = 2;
    pub const ZSET: u8 = 3;
    pub const HASH: u8 = 4;
    pub const ZSET_2: u8 = 5;
    pub const MODULE_PRE_GA: u8 = 6;
    pub const MODULE_2: u8 = 7;
    pub const HASH_ZIPMAP: u8 = 9;
    pub const LIST_ZIPLIST: u8 = 10;
    pub const SET_INTSET: u8 = 11;
    pub const ZSET_ZIPLIST: u8 = 12;
    pub const HASH_ZIPLIST: u8 = 13;
    pub const LIST_QUICKLIST: u8 = 14;
    pub const STREAM_LISTPACKS: u8 = 15;
    pub const HASH_LISTPACK: u8 = 16;
    pub const ZSET_LISTPACK: u8 = 17;
    pub const LIST_QUICKLIST_2: u8 = 18;
    pub const STREAM_LISTPACKS_2: u8 = 19;
    pub const SET_LISTPACK: u8 = 20;
    pub const STREAM_LISTPACKS_3: u8 = 21;
    pub const HASH_METADATA_PRE_GA: u8 = 22;
    pub const HASH_LISTPACK_EX_PRE_GA: u8 = 23;
    pub const HASH_METADATA: u8 = 24;
    pub const HASH_LISTPACK_EX: u8 = 25;

    /// The encoding an object type stands for, as `basalt-rdb inspect` reports it.
    pub fn encoding_name(t: u8) -> &'static str {
        match t {
            STRING => "string",
            LIST => "linkedlist",
            SET => "hashtable",
            ZSET => "skiplist-v1",
            HASH => "hashtable",
            ZSET_2 => "skiplist",
            MODULE_PRE_GA | MODULE_2 => "module",
            HASH_ZIPMAP => "zipmap",
            LIST_ZIPLIST | ZSET_ZIPLIST | HASH_ZIPLIST => "ziplist",
            SET_INTSET => "intset",
            LIST_QUICKLIST => "quicklist-ziplist",
            LIST_QUICKLIST_2 => "quicklist",
            STREAM_LISTPACKS | STREAM_LISTPACKS_2 | STREAM_LISTPACKS_3 => "stream",
            HASH_LISTPACK | ZSET_LISTPACK | SET_LISTPACK => "listpack",
            HASH_METADATA_PRE_GA | HASH_METADATA => "hashtable-ttl",
            HASH_LISTPACK_EX_PRE_GA | HASH_LISTPACK_EX => "listpack-ttl",
            _ => "unknown",
        }
    }
}

/// Special opcodes that precede keys or end the file (rdb.h).
pub mod opcodes {
    pub const SLOT_INFO: u8 = 244;
    pub const FUNCTION2: u8 = 245;
    pub const FUNCTION_PRE_GA: u8 = 246;
    pub const MODULE_AUX: u8 = 247;
    pub const IDLE: u8 = 248;
    pub const FREQ: u8 = 249;
    pub const AUX: u8 = 250;
    pub const RESIZEDB: u8 = 251;
    pub const EXPIRETIME_MS: u8 = 252;
    pub const EXPIRETIME: u8 = 253;
    pub const SELECTDB: u8 = 254;
    pub const EOF: u8 = 255;
}

/// The logical type of a key, whatever its RDB encoding.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Kind {
    String,
    List,
    Set,
    ZSet,
    Hash,
    Stream,
}

impl Kind {
    /// The name TYPE uses.
    pub fn name(self) -> &'static str {
        match self {
            Kind::String => "string",
            Kind::List => "list",
            Kind::Set => "set",
            Kind::ZSet => "zset",
            Kind::Hash => "hash",
            Kind::Stream => "stream",
        }
    }

    /// Parses a TYPE name.
    pub fn from_name(name: &str) -> Option<Kind> {
        Some(match name.to_ascii_lowercase().as_str() {
            "string" => Kind::String,
            "list" => Kind::List,
            "set" => Kind::Set,
            "zset" => Kind::ZSet,
            "hash" => Kind::Hash,
            "stream" => Kind::Stream,
            _ => return None,
        })
    }
}

/// The start of one key: where it lives and what follows.
#[derive(Clone, Debug, PartialEq)]
pub struct KeyHeader {
    /// Database index (SELECTDB), 0 for a DUMP payload.
    pub db: u64,
    pub key: Vec<u8>,
    /// Absolute expiry in Unix milliseconds, if any.
    pub expire_ms: Option<i64>,
    /// LRU idle seconds (IDLE opcode), if given.
    pub idle: Option<u64>,
    /// LFU frequency (FREQ opcode), if given.
    pub freq: Option<u8>,
    pub kind: Kind,
    /// The RDB object type byte (see [`types`]).
    pub rdb_type: u8,
    /// Byte offset of the type byte, for error messages about this key.
    pub offset: usize,
}

/// One hash field; `expire_ms` is the field's own TTL (Redis 7.4+), 0 when it has none.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HashField {
    pub field: Vec<u8>,
    pub value: Vec<u8>,
    pub expire_ms: u64,
}

/// A stream ID.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct StreamId {
    pub ms: u64,
    pub seq: u64,
}

impl std::fmt::Display for StreamId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}-{}", self.ms, self.seq)
    }
}

/// One live stream entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StreamEntry {
    pub id: StreamId,
    pub fields: Vec<(Vec<u8>, Vec<u8>)>,
}

/// A pending (delivered, unacknowledged) entry of a consumer group.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PendingEntry {
    pub id: StreamId,
    pub delivery_time_ms: u64,
    pub delivery_count: u64,
}

/// A consumer of a group, with the IDs it owns in the group's PEL.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Consumer {
    pub name: Vec<u8>,
    pub seen_time_ms: u64,
    /// Equal to `seen_time_ms` for files older than RDB 11.
    pub active_time_ms: u64,
    pub pending: Vec<StreamId>,
}

/// A consumer group.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConsumerGroup {
    pub name: Vec<u8>,
    pub last_id: StreamId,
    /// `entries-read`; None when the file predates it (RDB < 10); `u64::MAX` where Redis stored
    /// -1 (not known exactly, shown as nil by XINFO).
    pub entries_read: Option<u64>,
    pub pending: Vec<PendingEntry>,
    pub consumers: Vec<Consumer>,
}

/// Everything about a stream except its entries.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct StreamMeta {
    pub length: u64,
    pub last_id: StreamId,
    /// None when the file predates these fields (RDB < 10).
    pub first_id: Option<StreamId>,
    pub max_deleted_id: Option<StreamId>,
    pub entries_added: Option<u64>,
    pub groups: Vec<ConsumerGroup>,
}

/// A bounded part of one key's value.
#[derive(Clone, Debug, PartialEq)]
pub enum Chunk {
    String(Vec<u8>),
    List(Vec<Vec<u8>>),
    Set(Vec<Vec<u8>>),
    ZSet(Vec<(Vec<u8>, f64)>),
    Hash(Vec<HashField>),
    StreamEntries(Vec<StreamEntry>),
    /// Always the last chunk of a stream.
    StreamMeta(Box<StreamMeta>),
}

impl Chunk {
    /// Number of elements (entries for streams; 1 for a string).
    pub fn len(&self) -> usize {
        match self {
            Chunk::String(_) | Chunk::StreamMeta(_) => 1,
            Chunk::List(v) | Chunk::Set(v) => v.len(),
            Chunk::ZSet(v) => v.len(),
            Chunk::Hash(v) => v.len(),
            Chunk::StreamEntries(v) => v.len(),
        }
    }

    /// Whether the chunk holds no elements.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// What the reader found next.
#[derive(Clone, Debug, PartialEq)]
pub enum Event {
    /// An AUX field (`redis-ver`, `ctime`, ...).
    Aux {
        key: Vec<u8>,
        value: Vec<u8>,
    },
    /// The following keys belong to this database.
    SelectDb(u64),
    /// Size hints of the current database.
    ResizeDb {
        keys: u64,
        expires: u64,
    },
    /// A function library's source code (FUNCTION2).
    Function(Vec<u8>),
    /// A key begins; its value follows as chunks.
    Key(KeyHeader),
    Chunk(Chunk),
    /// The current key is complete.
    KeyEnd,
    /// The end of the file; `checksum` is what it carried (None for files older than RDB 5,
    /// Some(0) when saved with checksums disabled), already verified otherwise.
    Eof {
        checksum: Option<u64>,
    },
}
