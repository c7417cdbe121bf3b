//! A streaming RDB reader: RDB versions 1 to 12 (Redis 2.x to 7.4) and DUMP payloads.
//!
//! [`Reader::next`] yields one [`Event`] at a time. A key's value comes as bounded chunks (one
//! compact blob, one quicklist node, one stream listpack, or at most [`CHUNK_ELEMS`] elements of a
//! plain encoding), so memory stays bounded by the biggest chunk whatever the file or key size.
//! Every length read from the input is checked against the bytes actually present before memory
//! is committed to it: a lying length fails with `Truncated`, never with a huge allocation.

use super::{
    crc64::crc64, intset, listpack, lzf, opcodes, types, ziplist, zipmap, Chunk, Consumer,
    ConsumerGroup, Event, HashField, KeyHeader, Kind, PendingEntry, RdbError, StreamEntry,
    StreamId, StreamMeta, MAX_READ_VERSION,
};
use std::io::{BufRead, Read};

/// Most elements one chunk of a plain-encoded collection holds.
pub const CHUNK_ELEMS: usize = 4096;
/// A chunk of a plain-encoded collection is cut once its elements reach this many bytes.
const CHUNK_BYTES: usize = 8 << 20;

/// Where the reader is inside the current key.
enum State {
    /// Between keys: the next byte is an opcode or a type.
    Top,
    /// A plain collection (LIST, SET, ZSET, ZSET_2, HASH, HASH_METADATA*) with elements left.
    Plain {
        rdb_type: u8,
        remaining: u64,
        /// HASH_METADATA: field TTLs are stored relative to this.
        min_expire: u64,
    },
    /// Quicklist nodes left (LIST_QUICKLIST or LIST_QUICKLIST_2).
    Quicklist { v2: bool, remaining: u64 },
    /// Stream listpacks left, then the stream's metadata.
    Stream { rdb_type: u8, remaining: u64 },
    /// The value is complete: [`Event::KeyEnd`] comes next.
    End,
    /// EOF was read.
    Done,
}

/// Reads RDB content from any buffered source.
pub struct Reader<R> {
    src: R,
    /// Bytes consumed so far (the offset in error messages).
    pos: usize,
    crc: u64,
    version: u32,
    db: u64,
    state: State,
    /// A DUMP payload holds one object and no key; the reader stops after it.
    payload: bool,
    /// A chunk decoded along with the key's header, returned next.
    pending_chunk: Option<Chunk>,
    /// Where the data of the last string read began (the blob codecs' offsets are relative).
    string_start: usize,
    // Key attributes set by opcodes before the key.
    expire: Option<i64>,
    idle: Option<u64>,
    freq: Option<u8>,
}

/// A length, or the marker of a specially encoded string (the two top bits set).
enum Len {
    Plain(u64),
    Encoded(u8),
}

impl<R: BufRead> Reader<R> {
    /// Reads the `REDIS0012` header of an RDB file.
    pub fn new(mut src: R) -> Result<Self, RdbError> {
        let mut magic = [0u8; 9];
        src.read_exact(&mut magic)
            .map_err(|e| eof(e, 0, "RDB header"))?;
        if &magic[..5] != b"REDIS" {
            return Err(RdbError::Header(
                "not an RDB file (no REDIS signature)".into(),
            ));
        }
        let version = std::str::from_utf8(&magic[5..])
            .ok()
            .filter(|s| s.bytes().all(|b| b.is_ascii_digit()))
            .and_then(|s| s.parse::<u32>().ok())
            .ok_or_else(|| RdbError::Header("RDB header without a version number".into()))?;
        if !(1..=MAX_READ_VERSION).contains(&version) {
            return Err(RdbError::Header(format!(
                "RDB version {version} is not supported (this reader knows 1 to {MAX_READ_VERSION})"
            )));
        }
        Ok(Reader {
            src,
            pos: 9,
            crc: crc64(0, &magic),
            version,
            db: 0,
            state: State::Top,
            payload: false,
            pending_chunk: None,
            string_start: 0,
            expire: None,
            idle: None,
            freq: None,
        })
    }

    /// The file's RDB version.
    pub fn version(&self) -> u32 {
        self.version
    }

    /// Bytes consumed so far.
    pub fn position(&self) -> usize {
        self.pos
    }

    /// The next event, or None after [`Event::Eof`] (or after the object of a payload).
    #[allow(clippy::should_implement_trait)]
    pub fn next(&mut self) -> Result<Option<Event>, RdbError> {
        if let Some(chunk) = self.pending_chunk.take() {
            return Ok(Some(Event::Chunk(chunk)));
        }
        match std::mem::replace(&mut self.state, State::Top) {
            State::Done => {
                self.state = State::Done;
                Ok(None)
            }
            State::End => {
                if self.payload {
                    self.state = State::Done;
                }
                Ok(Some(Event::KeyEnd))
            }
            State::Plain {
                rdb_type,
                remaining,
                min_expire,
            } => self.plain_chunk(rdb_type, remaining, min_expire).map(Some),
            State::Quicklist { v2, remaining } => self.quicklist_node(v2, remaining).map(Some),
            State::Stream {
                rdb_type,
                remaining,
            } => self.stream_part(rdb_type, remaining).map(Some),
            State::Top if self.payload => {
                let at = self.pos;
                let t = self.u8("object type")?;
                self.begin_key(t, at, Vec::new()).map(Some)
            }
            State::Top => self.top().map(Some),
        }
    }

    /// Reads opcodes until a key starts or the file ends.
    fn top(&mut self) -> Result<Event, RdbError> {
        loop {
            let at = self.pos;
            let t = self.u8("record type")?;
            match t {
                opcodes::EXPIRETIME => {
                    let secs = i32::from_le_bytes(self.array("expire time")?);
                    self.expire = Some(i64::from(secs) * 1000);
                }
                opcodes::EXPIRETIME_MS => {
                    self.expire = Some(i64::from_le_bytes(self.array("expire time")?));
                }
                opcodes::FREQ => self.freq = Some(self.u8("LFU frequency")?),
                opcodes::IDLE => self.idle = Some(self.len("LRU idle time")?),
                opcodes::EOF => return self.eof(),
                opcodes::SELECTDB => {
                    self.db = self.len("database number")?;
                    return Ok(Event::SelectDb(self.db));
                }
                opcodes::RESIZEDB => {
                    let keys = self.len("database size")?;
                    let expires = self.len("expires size")?;
                    return Ok(Event::ResizeDb { keys, expires });
                }
                opcodes::SLOT_INFO => {
                    // Cluster slot sizes: a hint only.
                    for what in ["slot id", "slot size", "slot expires size"] {
                        self.len(what)?;
                    }
                }
                opcodes::AUX => {
                    let key = self.string("AUX field name")?;
                    let value = self.string("AUX field value")?;
                    return Ok(Event::Aux { key, value });
                }
                opcodes::MODULE_AUX => {
                    let id = self.len("module id")?;
                    return Err(RdbError::Module {
                        offset: at,
                        module: module_name(id),
                    });
                }
                opcodes::FUNCTION_PRE_GA => {
                    return Err(corrupt(at, "pre-release (7.0 RC) function format"));
                }
                opcodes::FUNCTION2 => {
                    return Ok(Event::Function(self.string("function library")?));
                }
                t => {
                    let key = self.string("key")?;
                    return self.begin_key(t, at, key);
                }
            }
        }
    }

    /// After the EOF opcode: the checksum (RDB 5+), checked unless it is zero.
    fn eof(&mut self) -> Result<Event, RdbError> {
        self.state = State::Done;
        if self.version < 5 {
            return Ok(Event::Eof { checksum: None });
        }
        let expected = self.crc;
        let found = u64::from_le_bytes(self.array("checksum")?);
        if found != 0 && found != expected {
            return Err(RdbError::Checksum { expected, found });
        }
        Ok(Event::Eof {
            checksum: Some(found),
        })
    }

    /// Reads the start of a value of type `t` and returns the key's header.
    fn begin_key(&mut self, t: u8, at: usize, key: Vec<u8>) -> Result<Event, RdbError> {
        use types::*;
        let kind = match t {
            STRING => Kind::String,
            LIST | LIST_ZIPLIST | LIST_QUICKLIST | LIST_QUICKLIST_2 => Kind::List,
            SET | SET_INTSET | SET_LISTPACK => Kind::Set,
            ZSET | ZSET_2 | ZSET_ZIPLIST | ZSET_LISTPACK => Kind::ZSet,
            HASH
            | HASH_ZIPMAP
            | HASH_ZIPLIST
            | HASH_LISTPACK
            | HASH_METADATA_PRE_GA
            | HASH_METADATA
            | HASH_LISTPACK_EX_PRE_GA
            | HASH_LISTPACK_EX => Kind::Hash,
            STREAM_LISTPACKS | STREAM_LISTPACKS_2 | STREAM_LISTPACKS_3 => Kind::Stream,
            MODULE_2 => {
                let id = self.len("module id")?;
                return Err(RdbError::Module {
                    offset: at,
                    module: module_name(id),
                });
            }
            MODULE_PRE_GA => return Err(corrupt(at, "pre-release module format")),
            _ => return Err(corrupt(at, "a known object type or opcode")),
        };
        let header = KeyHeader {
            db: self.db,
            key,
            expire_ms: self.expire.take(),
            idle: self.idle.take(),
            freq: self.freq.take(),
            kind,
            rdb_type: t,
            offset: at,
        };
        self.state = match t {
            STRING => {
                let v = self.string("string value")?;
                self.pending_chunk = Some(Chunk::String(v));
                State::End
            }
            LIST | SET | ZSET | ZSET_2 | HASH | HASH_METADATA_PRE_GA => State::Plain {
                rdb_type: t,
                remaining: self.len("collection length")?,
                min_expire: 0,
            },
            HASH_METADATA => {
                let min_expire = u64::from_le_bytes(self.array("hash minimum field expiry")?);
                State::Plain {
                    rdb_type: t,
                    remaining: self.len("hash length")?,
                    min_expire,
                }
            }
            LIST_QUICKLIST | LIST_QUICKLIST_2 => State::Quicklist {
                v2: t == LIST_QUICKLIST_2,
                remaining: self.len("quicklist node count")?,
            },
            STREAM_LISTPACKS | STREAM_LISTPACKS_2 | STREAM_LISTPACKS_3 => State::Stream {
                rdb_type: t,
                remaining: self.len("stream listpack count")?,
            },
            _ => {
                if t == HASH_LISTPACK_EX {
                    // The minimum field expiry, kept by Redis for a future use; the fields say it all.
                    self.array::<8>("hash minimum field expiry")?;
                }
                let blob = self.string("encoded value")?;
                let base = self.string_start;
                let chunk = decode_blob(t, &blob).map_err(|e| rebase(e, base))?;
                self.pending_chunk = Some(chunk);
                State::End
            }
        };
        // An empty collection (Redis skips those keys) has no chunks.
        if matches!(
            self.state,
            State::Plain { remaining: 0, .. } | State::Quicklist { remaining: 0, .. }
        ) {
            self.state = State::End;
        }
        Ok(Event::Key(header))
    }
}

impl<'a> Reader<&'a [u8]> {
    /// Reads a DUMP payload: one object (type byte and value), then the RDB version (u16 LE) and
    /// the CRC-64 of everything before it (u64 LE). The footer is checked before anything is
    /// decoded; the error is the one RESTORE answers with.
    pub fn payload(bytes: &'a [u8]) -> Result<Self, RdbError> {
        let bad = || RdbError::Header("DUMP payload version or checksum are wrong".into());
        let body_len = bytes.len().checked_sub(10).ok_or_else(bad)?;
        let (body, footer) = bytes.split_at(body_len);
        let version = u32::from(u16::from_le_bytes([footer[0], footer[1]]));
        let mut crc_bytes = [0u8; 8];
        crc_bytes.copy_from_slice(&footer[2..]);
        let found = u64::from_le_bytes(crc_bytes);
        if version > MAX_READ_VERSION || crc64(0, &bytes[..body_len + 2]) != found {
            return Err(bad());
        }
        Ok(Reader {
            src: body,
            pos: 0,
            crc: 0,
            version,
            db: 0,
            state: State::Top,
            payload: true,
            pending_chunk: None,
            string_start: 0,
            expire: None,
            idle: None,
            freq: None,
        })
    }
}

/// The libraries of a FUNCTION DUMP payload: FUNCTION2 records (each a library's code) and the
/// DUMP footer, which is checked first (`Header` error when it does not match).
pub fn function_payload(bytes: &[u8]) -> Result<Vec<Vec<u8>>, RdbError> {
    let mut r = Reader::payload(bytes)?;
    let mut out = Vec::new();
    while !r.src.is_empty() {
        let at = r.pos;
        match r.u8("record type")? {
            opcodes::FUNCTION2 => out.push(r.string("function library")?),
            opcodes::FUNCTION_PRE_GA => {
                return Err(corrupt(at, "Pre-GA function format not supported"))
            }
            _ => return Err(corrupt(at, "given type is not a function")),
        }
    }
    Ok(out)
}

// ---------------------------------------------------------------------------------------------
// Values
// ---------------------------------------------------------------------------------------------

impl<R: BufRead> Reader<R> {
    /// Up to [`CHUNK_ELEMS`] elements of a plain collection.
    fn plain_chunk(
        &mut self,
        rdb_type: u8,
        remaining: u64,
        min_expire: u64,
    ) -> Result<Event, RdbError> {
        use types::*;
        let n = remaining.min(CHUNK_ELEMS as u64) as usize;
        let mut bytes = 0usize;
        let mut taken = 0usize;
        let chunk = match rdb_type {
            LIST | SET => {
                let mut v = Vec::new();
                while taken < n && bytes < CHUNK_BYTES {
                    let e = self.string("collection element")?;
                    bytes += e.len();
                    v.push(e);
                    taken += 1;
                }
                if rdb_type == LIST {
                    Chunk::List(v)
                } else {
                    Chunk::Set(v)
                }
            }
            ZSET | ZSET_2 => {
                let mut v = Vec::new();
                while taken < n && bytes < CHUNK_BYTES {
                    let m = self.string("zset member")?;
                    let at = self.pos;
                    let score = if rdb_type == ZSET_2 {
                        f64::from_le_bytes(self.array("zset score")?)
                    } else {
                        self.ascii_double()?
                    };
                    if score.is_nan() {
                        return Err(corrupt(at, "a zset score that is a number (found NaN)"));
                    }
                    bytes += m.len() + 8;
                    v.push((m, score));
                    taken += 1;
                }
                Chunk::ZSet(v)
            }
            _ => {
                let mut v = Vec::new();
                while taken < n && bytes < CHUNK_BYTES {
                    let expire_ms = match rdb_type {
                        HASH_METADATA => match self.len("hash field TTL")? {
                            0 => 0,
                            ttl => (ttl - 1).saturating_add(min_expire),
                        },
                        HASH_METADATA_PRE_GA => self.len("hash field TTL")?,
                        _ => 0,
                    };
                    let field = self.string("hash field")?;
                    let value = self.string("hash value")?;
                    bytes += field.len() + value.len();
                    v.push(HashField {
                        field,
                        value,
                        expire_ms,
                    });
                    taken += 1;
                }
                Chunk::Hash(v)
            }
        };
        let remaining = remaining - taken as u64;
        self.state = if remaining == 0 {
            State::End
        } else {
            State::Plain {
                rdb_type,
                remaining,
                min_expire,
            }
        };
        Ok(Event::Chunk(chunk))
    }

    /// One quicklist node: a ziplist (v1), or a listpack or a single plain element (v2).
    fn quicklist_node(&mut self, v2: bool, remaining: u64) -> Result<Event, RdbError> {
        let container = if v2 {
            let at = self.pos;
            match self.len("quicklist node container")? {
                c @ (1 | 2) => c,
                _ => return Err(corrupt(at, "quicklist container 1 (plain) or 2 (packed)")),
            }
        } else {
            2
        };
        let blob = self.string("quicklist node")?;
        let base = self.string_start;
        self.state = if remaining > 1 {
            State::Quicklist {
                v2,
                remaining: remaining - 1,
            }
        } else {
            State::End
        };
        let items = if container == 1 {
            vec![blob]
        } else if v2 {
            owned(listpack::items(&blob).map_err(|e| rebase(e, base))?)
        } else {
            owned(ziplist::items(&blob).map_err(|e| rebase(e, base))?)
        };
        Ok(Event::Chunk(Chunk::List(items)))
    }

    /// One listpack of stream entries, or (when none are left) the stream's metadata.
    fn stream_part(&mut self, rdb_type: u8, remaining: u64) -> Result<Event, RdbError> {
        if remaining == 0 {
            let meta = self.stream_meta(rdb_type)?;
            self.state = State::End;
            return Ok(Event::Chunk(Chunk::StreamMeta(Box::new(meta))));
        }
        let at = self.pos;
        let node_key = self.string("stream node key")?;
        let master =
            stream_id_be(&node_key).ok_or_else(|| corrupt(at, "a 16-byte stream node key"))?;
        let blob = self.string("stream listpack")?;
        let base = self.string_start;
        let entries = stream_entries(master, &blob).map_err(|e| rebase(e, base))?;
        self.state = State::Stream {
            rdb_type,
            remaining: remaining - 1,
        };
        Ok(Event::Chunk(Chunk::StreamEntries(entries)))
    }

    fn stream_id(&mut self, what: &'static str) -> Result<StreamId, RdbError> {
        Ok(StreamId {
            ms: self.len(what)?,
            seq: self.len(what)?,
        })
    }

    fn raw_stream_id(&mut self, what: &'static str) -> Result<StreamId, RdbError> {
        let at = self.pos;
        let raw: [u8; 16] = self.array(what)?;
        stream_id_be(&raw).ok_or_else(|| corrupt(at, what))
    }

    /// Length, IDs, and consumer groups with their PELs and consumers.
    fn stream_meta(&mut self, rdb_type: u8) -> Result<StreamMeta, RdbError> {
        let v2 = rdb_type >= types::STREAM_LISTPACKS_2;
        let v3 = rdb_type >= types::STREAM_LISTPACKS_3;
        let mut meta = StreamMeta {
            length: self.len("stream length")?,
            last_id: self.stream_id("stream last ID")?,
            ..StreamMeta::default()
        };
        if v2 {
            meta.first_id = Some(self.stream_id("stream first ID")?);
            meta.max_deleted_id = Some(self.stream_id("stream max deleted ID")?);
            meta.entries_added = Some(self.len("stream entries added")?);
        }
        let groups = self.len("consumer group count")?;
        for _ in 0..groups {
            let name = self.string("consumer group name")?;
            let last_id = self.stream_id("consumer group last ID")?;
            let entries_read = if v2 {
                Some(self.len("consumer group entries read")?)
            } else {
                None
            };
            let mut pending = Vec::new();
            // The group's PEL IDs, to check each consumer's without a quadratic scan.
            let mut pel_ids = std::collections::HashSet::new();
            for _ in 0..self.len("group PEL size")? {
                let p = PendingEntry {
                    id: self.raw_stream_id("PEL entry ID")?,
                    delivery_time_ms: u64::from_le_bytes(self.array("PEL delivery time")?),
                    delivery_count: self.len("PEL delivery count")?,
                };
                pel_ids.insert(p.id);
                pending.push(p);
            }
            let mut consumers = Vec::new();
            for _ in 0..self.len("consumer count")? {
                let name = self.string("consumer name")?;
                let seen_time_ms = u64::from_le_bytes(self.array("consumer seen time")?);
                let active_time_ms = if v3 {
                    u64::from_le_bytes(self.array("consumer active time")?)
                } else {
                    seen_time_ms
                };
                let mut owned = Vec::new();
                for _ in 0..self.len("consumer PEL size")? {
                    let at = self.pos;
                    let id = self.raw_stream_id("consumer PEL entry ID")?;
                    if !pel_ids.contains(&id) {
                        return Err(corrupt(at, "a consumer PEL entry present in the group PEL"));
                    }
                    owned.push(id);
                }
                consumers.push(Consumer {
                    name,
                    seen_time_ms,
                    active_time_ms,
                    pending: owned,
                });
            }
            meta.groups.push(ConsumerGroup {
                name,
                last_id,
                entries_read,
                pending,
                consumers,
            });
        }
        Ok(meta)
    }
}

/// Decodes a value stored as one blob (ziplist, listpack, intset, zipmap).
fn decode_blob(t: u8, blob: &[u8]) -> Result<Chunk, RdbError> {
    use types::*;
    Ok(match t {
        HASH_ZIPMAP => Chunk::Hash(
            zipmap::pairs(blob)?
                .into_iter()
                .map(|(f, v)| HashField {
                    field: f.to_vec(),
                    value: v.to_vec(),
                    expire_ms: 0,
                })
                .collect(),
        ),
        LIST_ZIPLIST => Chunk::List(owned(ziplist::items(blob)?)),
        SET_INTSET => Chunk::Set(
            intset::decode(blob)?
                .into_iter()
                .map(|i| i.to_string().into_bytes())
                .collect(),
        ),
        SET_LISTPACK => Chunk::Set(owned(listpack::items(blob)?)),
        ZSET_ZIPLIST => zset_pairs(ziplist::items(blob)?)?,
        ZSET_LISTPACK => zset_pairs(listpack::items(blob)?)?,
        HASH_ZIPLIST => hash_tuples(ziplist::items(blob)?, false)?,
        HASH_LISTPACK => hash_tuples(listpack::items(blob)?, false)?,
        HASH_LISTPACK_EX | HASH_LISTPACK_EX_PRE_GA => hash_tuples(listpack::items(blob)?, true)?,
        _ => return Err(corrupt(0, "an encoded object type")),
    })
}

fn owned(items: Vec<listpack::Item<'_>>) -> Vec<Vec<u8>> {
    items.iter().map(listpack::Item::to_vec).collect()
}

/// Member/score pairs of a ziplist- or listpack-encoded sorted set.
fn zset_pairs(items: Vec<listpack::Item<'_>>) -> Result<Chunk, RdbError> {
    if !items.len().is_multiple_of(2) {
        return Err(corrupt(0, "member/score pairs in a sorted set blob"));
    }
    let mut out = Vec::with_capacity(items.len() / 2);
    for pair in items.chunks_exact(2) {
        let score = match pair[1] {
            listpack::Item::Int(i) => i as f64,
            listpack::Item::Str(s) => std::str::from_utf8(s)
                .ok()
                .and_then(|s| s.parse::<f64>().ok())
                .filter(|f| !f.is_nan())
                .ok_or_else(|| corrupt(0, "a numeric score in a sorted set blob"))?,
        };
        out.push((pair[0].to_vec(), score));
    }
    Ok(Chunk::ZSet(out))
}

/// Field/value pairs (or field/value/TTL triples) of an encoded hash.
fn hash_tuples(items: Vec<listpack::Item<'_>>, ttl: bool) -> Result<Chunk, RdbError> {
    let width = if ttl { 3 } else { 2 };
    if !items.len().is_multiple_of(width) {
        return Err(corrupt(0, "whole field/value tuples in a hash blob"));
    }
    let mut out = Vec::with_capacity(items.len() / width);
    for t in items.chunks_exact(width) {
        let expire_ms = match t.get(2) {
            None => 0,
            Some(listpack::Item::Int(i)) if *i >= 0 => *i as u64,
            Some(_) => return Err(corrupt(0, "a field expiry in a hash listpack")),
        };
        out.push(HashField {
            field: t[0].to_vec(),
            value: t[1].to_vec(),
            expire_ms,
        });
    }
    Ok(Chunk::Hash(out))
}

/// A stream ID as stored in a rax key: two big-endian u64.
fn stream_id_be(b: &[u8]) -> Option<StreamId> {
    let b: &[u8; 16] = b.try_into().ok()?;
    let (ms, seq) = b.split_at(8);
    Some(StreamId {
        ms: u64::from_be_bytes(ms.try_into().ok()?),
        seq: u64::from_be_bytes(seq.try_into().ok()?),
    })
}

/// Flags of a stream listpack entry (t_stream.c).
const STREAM_ITEM_FLAG_DELETED: i64 = 1;
const STREAM_ITEM_FLAG_SAMEFIELDS: i64 = 2;

/// The live entries of one stream listpack. Layout: a master entry (count, deleted, the
/// master field names, a 0 terminator), then per entry: flags, ms and seq deltas from the node
/// key, the values alone (SAMEFIELDS) or a field count and field/value pairs, and a
/// back-pointer count.
fn stream_entries(master: StreamId, blob: &[u8]) -> Result<Vec<StreamEntry>, RdbError> {
    let items = listpack::items(blob)?;
    let mut it = items.iter();
    let bad = |what| corrupt(0, what);
    let int = |it: &mut std::slice::Iter<'_, listpack::Item<'_>>, what| -> Result<i64, RdbError> {
        match it.next() {
            Some(listpack::Item::Int(i)) => Ok(*i),
            Some(listpack::Item::Str(s)) => std::str::from_utf8(s)
                .ok()
                .and_then(|s| s.parse().ok())
                .ok_or_else(|| bad(what)),
            None => Err(bad(what)),
        }
    };
    let count = int(&mut it, "stream master entry count")?;
    let deleted = int(&mut it, "stream master deleted count")?;
    let nfields = usize::try_from(int(&mut it, "stream master field count")?)
        .map_err(|_| bad("a stream master field count"))?;
    if nfields > items.len() {
        return Err(bad("a stream master field count within the listpack"));
    }
    let master_fields: Vec<Vec<u8>> = it.by_ref().take(nfields).map(|i| i.to_vec()).collect();
    if master_fields.len() != nfields || int(&mut it, "stream master terminator")? != 0 {
        return Err(bad("a stream master entry terminated by 0"));
    }
    let total = count
        .checked_add(deleted)
        .ok_or_else(|| bad("stream entry counts"))?;
    let mut out = Vec::new();
    let mut seen = 0i64;
    while it.len() > 0 {
        let flags = int(&mut it, "stream entry flags")?;
        let ms = int(&mut it, "stream entry ms delta")?;
        let seq = int(&mut it, "stream entry seq delta")?;
        let id = StreamId {
            ms: master.ms.wrapping_add(ms as u64),
            seq: master.seq.wrapping_add(seq as u64),
        };
        let fields = if flags & STREAM_ITEM_FLAG_SAMEFIELDS != 0 {
            let mut f = Vec::with_capacity(nfields);
            for name in &master_fields {
                let v = it.next().ok_or_else(|| bad("a stream entry value"))?;
                f.push((name.clone(), v.to_vec()));
            }
            f
        } else {
            let n = usize::try_from(int(&mut it, "stream entry field count")?)
                .map_err(|_| bad("a stream entry field count"))?;
            if n > it.len() {
                return Err(bad("a stream entry field count within the listpack"));
            }
            let mut f = Vec::with_capacity(n);
            for _ in 0..n {
                let name = it.next().ok_or_else(|| bad("a stream entry field"))?;
                let v = it.next().ok_or_else(|| bad("a stream entry value"))?;
                f.push((name.to_vec(), v.to_vec()));
            }
            f
        };
        int(&mut it, "stream entry back-pointer")?;
        seen += 1;
        if flags & STREAM_ITEM_FLAG_DELETED == 0 {
            out.push(StreamEntry { id, fields });
        }
    }
    if seen != total || out.len() as i64 != count {
        return Err(bad("stream entry counts matching the master entry"));
    }
    Ok(out)
}

/// A module type's name from its 64-bit id: nine characters of six bits each, then ten bits
/// of encoding version (module.c, moduleTypeNameByID).
fn module_name(id: u64) -> String {
    const CHARSET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut id = id >> 10;
    let mut name = [0u8; 9];
    for c in name.iter_mut().rev() {
        *c = CHARSET[(id & 63) as usize];
        id >>= 6;
    }
    String::from_utf8_lossy(&name).into_owned()
}

fn corrupt(offset: usize, what: &'static str) -> RdbError {
    RdbError::Corrupt { offset, what }
}

/// Moves a blob codec's error (offset within the blob) to the file's offsets.
fn rebase(e: RdbError, base: usize) -> RdbError {
    match e {
        RdbError::Corrupt { offset, what } => RdbError::Corrupt {
            offset: base + offset,
            what,
        },
        RdbError::Truncated { offset, what } => RdbError::Truncated {
            offset: base + offset,
            what,
        },
        e => e,
    }
}

fn eof(e: std::io::Error, offset: usize, what: &'static str) -> RdbError {
    if e.kind() == std::io::ErrorKind::UnexpectedEof {
        RdbError::Truncated { offset, what }
    } else {
        RdbError::Io(e.to_string())
    }
}

// ---------------------------------------------------------------------------------------------
// Primitives
// ---------------------------------------------------------------------------------------------

impl<R: BufRead> Reader<R> {
    fn fill(&mut self, buf: &mut [u8], what: &'static str) -> Result<(), RdbError> {
        self.src
            .read_exact(buf)
            .map_err(|e| eof(e, self.pos, what))?;
        self.crc = crc64(self.crc, buf);
        self.pos += buf.len();
        Ok(())
    }

    fn array<const N: usize>(&mut self, what: &'static str) -> Result<[u8; N], RdbError> {
        let mut b = [0u8; N];
        self.fill(&mut b, what)?;
        Ok(b)
    }

    fn u8(&mut self, what: &'static str) -> Result<u8, RdbError> {
        Ok(self.array::<1>(what)?[0])
    }

    /// Reads exactly `n` bytes, growing the buffer only as the bytes arrive: a corrupt length
    /// cannot make us allocate more than the input holds.
    fn bytes(&mut self, n: u64, what: &'static str) -> Result<Vec<u8>, RdbError> {
        let at = self.pos;
        let mut v = Vec::with_capacity(n.min(64 << 10) as usize);
        (&mut self.src)
            .take(n)
            .read_to_end(&mut v)
            .map_err(|e| eof(e, at, what))?;
        self.crc = crc64(self.crc, &v);
        self.pos += v.len();
        if (v.len() as u64) < n {
            return Err(RdbError::Truncated { offset: at, what });
        }
        Ok(v)
    }

    fn len_or_encoding(&mut self, what: &'static str) -> Result<Len, RdbError> {
        let at = self.pos;
        let b = self.u8(what)?;
        Ok(match b >> 6 {
            0 => Len::Plain(u64::from(b & 0x3f)),
            1 => Len::Plain(u64::from(b & 0x3f) << 8 | u64::from(self.u8(what)?)),
            2 => match b {
                0x80 => Len::Plain(u64::from(u32::from_be_bytes(self.array(what)?))),
                0x81 => Len::Plain(u64::from_be_bytes(self.array(what)?)),
                _ => return Err(corrupt(at, "a length encoding (0x80 or 0x81)")),
            },
            _ => Len::Encoded(b & 0x3f),
        })
    }

    fn len(&mut self, what: &'static str) -> Result<u64, RdbError> {
        let at = self.pos;
        match self.len_or_encoding(what)? {
            Len::Plain(n) => Ok(n),
            Len::Encoded(_) => Err(corrupt(at, "a length, not an encoded string")),
        }
    }

    /// A string: raw, an integer (8/16/32 bits) rendered in decimal, or LZF-compressed.
    fn string(&mut self, what: &'static str) -> Result<Vec<u8>, RdbError> {
        let at = self.pos;
        let len = self.len_or_encoding(what)?;
        self.string_start = self.pos;
        match len {
            Len::Plain(n) => self.bytes(n, what),
            Len::Encoded(0) => Ok((self.array::<1>(what)?[0] as i8).to_string().into_bytes()),
            Len::Encoded(1) => Ok(i16::from_le_bytes(self.array(what)?)
                .to_string()
                .into_bytes()),
            Len::Encoded(2) => Ok(i32::from_le_bytes(self.array(what)?)
                .to_string()
                .into_bytes()),
            Len::Encoded(3) => {
                let clen = self.len(what)?;
                let ulen = self.len(what)?;
                let data_at = self.pos;
                let data = self.bytes(clen, what)?;
                if ulen == 0 {
                    return Err(corrupt(at, "an LZF string with a length"));
                }
                let ulen = usize::try_from(ulen)
                    .map_err(|_| corrupt(at, "an LZF length that fits in memory"))?;
                self.string_start = data_at;
                lzf::decompress(&data, ulen).map_err(|e| rebase(e, data_at))
            }
            Len::Encoded(_) => Err(corrupt(at, "a string encoding (int8/16/32 or LZF)")),
        }
    }

    /// A score of the old ZSET type: a length byte, then ASCII (253 = NaN, 254 = +inf,
    /// 255 = -inf).
    fn ascii_double(&mut self) -> Result<f64, RdbError> {
        let at = self.pos;
        match self.u8("zset score")? {
            253 => Ok(f64::NAN),
            254 => Ok(f64::INFINITY),
            255 => Ok(f64::NEG_INFINITY),
            n => {
                let b = self.bytes(u64::from(n), "zset score")?;
                std::str::from_utf8(&b)
                    .ok()
                    .and_then(|s| s.trim().parse::<f64>().ok())
                    .ok_or_else(|| corrupt(at, "a decimal zset score"))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rdb::Writer;

    /// Builds an RDB file of `version` from `body` (everything between the header and EOF),
    /// with a correct checksum for RDB 5+.
    fn file(version: u32, body: &[u8]) -> Vec<u8> {
        let mut f = format!("REDIS{version:04}").into_bytes();
        f.extend_from_slice(body);
        f.push(opcodes::EOF);
        if version >= 5 {
            let crc = crc64(0, &f);
            f.extend_from_slice(&crc.to_le_bytes());
        }
        f
    }

    /// Every event of a file, or the first error.
    fn events(bytes: &[u8]) -> Result<Vec<Event>, RdbError> {
        let mut r = Reader::new(bytes)?;
        let mut out = Vec::new();
        while let Some(e) = r.next()? {
            out.push(e);
        }
        Ok(out)
    }

    /// (key, kind, all elements as one chunk, expiry) per key.
    fn keys(evs: &[Event]) -> Vec<(Vec<u8>, Kind, Chunk, Option<i64>)> {
        let mut out: Vec<(Vec<u8>, Kind, Chunk, Option<i64>)> = Vec::new();
        for e in evs {
            match e {
                Event::Key(h) => {
                    let empty = match h.kind {
                        Kind::String => Chunk::String(Vec::new()),
                        Kind::List => Chunk::List(Vec::new()),
                        Kind::Set => Chunk::Set(Vec::new()),
                        Kind::ZSet => Chunk::ZSet(Vec::new()),
                        Kind::Hash => Chunk::Hash(Vec::new()),
                        Kind::Stream => Chunk::StreamEntries(Vec::new()),
                    };
                    out.push((h.key.clone(), h.kind, empty, h.expire_ms));
                }
                Event::Chunk(c) => {
                    let last = &mut out.last_mut().expect("chunk after a key").2;
                    match (last, c.clone()) {
                        (Chunk::String(a), Chunk::String(b)) => *a = b,
                        (Chunk::List(a), Chunk::List(b)) | (Chunk::Set(a), Chunk::Set(b)) => {
                            a.extend(b)
                        }
                        (Chunk::ZSet(a), Chunk::ZSet(b)) => a.extend(b),
                        (Chunk::Hash(a), Chunk::Hash(b)) => a.extend(b),
                        (Chunk::StreamEntries(a), Chunk::StreamEntries(b)) => a.extend(b),
                        (_, Chunk::StreamMeta(_)) => {}
                        (a, b) => panic!("chunk {b:?} after {a:?}"),
                    }
                }
                _ => {}
            }
        }
        out
    }

    fn strs(v: &[&str]) -> Vec<Vec<u8>> {
        v.iter().map(|s| s.as_bytes().to_vec()).collect()
    }

    fn hash(v: &[(&str, &str)]) -> Chunk {
        Chunk::Hash(
            v.iter()
                .map(|(f, v)| HashField {
                    field: f.as_bytes().to_vec(),
                    value: v.as_bytes().to_vec(),
                    expire_ms: 0,
                })
                .collect(),
        )
    }

    /// A ziplist of "a", 5 (4-bit immediate), "bc", -300 (int16), hand-built from ziplist.c's
    /// description: zlbytes, zltail, zllen, entries with prevlen, end byte.
    const ZIPLIST: [u8; 26] = [
        26, 0, 0, 0, 19, 0, 0, 0, 4, 0, // header
        0, 0x01, b'a', // "a"
        3, 0xf6, // 5
        2, 0x02, b'b', b'c', // "bc"
        4, 0xc0, 0xd4, 0xfe, // -300 as int16 LE
        0xff, 0xff, 0xff,
    ];

    #[test]
    fn old_versions_with_ziplist_zipmap_intset_and_ascii_scores() {
        // The hand-built ziplist above ends in an extra 0xff 0xff: trim to the real one.
        let mut zl = ZIPLIST[..24].to_vec();
        zl[0] = 24;
        for version in [6u32, 7, 8, 9] {
            let mut body = vec![opcodes::SELECTDB, 2];
            // A list as a ziplist (type 10), with a seconds expiry (EXPIRETIME).
            body.push(opcodes::EXPIRETIME);
            body.extend_from_slice(&2_000_000_000i32.to_le_bytes());
            body.extend_from_slice(&[types::LIST_ZIPLIST, 1, b'l', zl.len() as u8]);
            body.extend_from_slice(&zl);
            // A zipmap hash {"f": "vv"} with a free byte after the value.
            let zm = [1u8, 1, b'f', 2, 1, b'v', b'v', 0, 0xff];
            body.extend_from_slice(&[types::HASH_ZIPMAP, 1, b'h', zm.len() as u8]);
            body.extend_from_slice(&zm);
            // An old-style sorted set: ASCII scores, with the infinity markers.
            body.extend_from_slice(&[types::ZSET, 1, b'z', 3]);
            body.extend_from_slice(&[1, b'a', 3, b'1', b'.', b'5']);
            body.extend_from_slice(&[1, b'b', 255]);
            body.extend_from_slice(&[1, b'c', 254]);
            // A 16-bit intset {1, -2}; an int-encoded string with a millisecond expiry.
            let is = [2u8, 0, 0, 0, 2, 0, 0, 0, 0xfe, 0xff, 1, 0];
            body.extend_from_slice(&[types::SET_INTSET, 1, b's', is.len() as u8]);
            body.extend_from_slice(&is);
            body.push(opcodes::EXPIRETIME_MS);
            body.extend_from_slice(&1234i64.to_le_bytes());
            body.extend_from_slice(&[types::STRING, 1, b'n', 0xc1, 0x39, 0x30]);
            let evs = events(&file(version, &body)).unwrap();
            assert_eq!(evs[0], Event::SelectDb(2));
            let ks = keys(&evs);
            assert_eq!(
                ks,
                vec![
                    (
                        b"l".to_vec(),
                        Kind::List,
                        Chunk::List(strs(&["a", "5", "bc", "-300"])),
                        Some(2_000_000_000_000)
                    ),
                    (b"h".to_vec(), Kind::Hash, hash(&[("f", "vv")]), None),
                    (
                        b"z".to_vec(),
                        Kind::ZSet,
                        Chunk::ZSet(vec![
                            (b"a".to_vec(), 1.5),
                            (b"b".to_vec(), f64::NEG_INFINITY),
                            (b"c".to_vec(), f64::INFINITY)
                        ]),
                        None
                    ),
                    (
                        b"s".to_vec(),
                        Kind::Set,
                        Chunk::Set(strs(&["-2", "1"])),
                        None
                    ),
                    (
                        b"n".to_vec(),
                        Kind::String,
                        Chunk::String(b"12345".to_vec()),
                        Some(1234)
                    ),
                ],
                "version {version}"
            );
            let Some(Event::Eof { checksum }) = evs.last() else {
                panic!("no EOF")
            };
            assert_eq!(checksum.is_some(), version >= 5);
        }
    }

    #[test]
    fn quicklist_v1_and_ziplist_pairs() {
        let mut zl = ZIPLIST[..24].to_vec();
        zl[0] = 24;
        // Quicklist of two ziplist nodes.
        let mut body = vec![types::LIST_QUICKLIST, 1, b'q', 2];
        for _ in 0..2 {
            body.push(zl.len() as u8);
            body.extend_from_slice(&zl);
        }
        // A ziplist-encoded zset and hash use the same blob as pairs: ("a", 5), ("bc", -300).
        for t in [types::ZSET_ZIPLIST, types::HASH_ZIPLIST] {
            body.extend_from_slice(&[t, 1, b'p', zl.len() as u8]);
            body.extend_from_slice(&zl);
        }
        let ks = keys(&events(&file(9, &body)).unwrap());
        let four = strs(&["a", "5", "bc", "-300"]);
        assert_eq!(ks[0].2, Chunk::List([four.clone(), four].concat()));
        assert_eq!(
            ks[1].2,
            Chunk::ZSet(vec![(b"a".to_vec(), 5.0), (b"bc".to_vec(), -300.0)])
        );
        assert_eq!(ks[2].2, hash(&[("a", "5"), ("bc", "-300")]));
    }

    /// Redis 7.4's hashes with field TTLs, in all four forms: TTLs relative to a minimum (+1) or
    /// absolute, in a plain encoding or a listpack of field/value/TTL triples.
    #[test]
    fn hashes_with_field_ttls() {
        let field = |f: &str, v: &str, at: u64| HashField {
            field: f.as_bytes().to_vec(),
            value: v.as_bytes().to_vec(),
            expire_ms: at,
        };
        let want = Chunk::Hash(vec![field("a", "1", 0), field("b", "2", 5000)]);
        let mut body = vec![types::HASH_METADATA, 1, b'm'];
        body.extend_from_slice(&4000u64.to_le_bytes());
        body.extend_from_slice(&[2, 0, 1, b'a', 1, b'1', 0x43, 0xe9, 1, b'b', 1, b'2']);
        body.extend_from_slice(&[types::HASH_METADATA_PRE_GA, 1, b'p', 2]);
        body.extend_from_slice(&[0, 1, b'a', 1, b'1', 0x53, 0x88, 1, b'b', 1, b'2']);
        let mut lp = listpack::Writer::new();
        for item in ["a", "1", "0", "b", "2", "5000"] {
            lp.push_bytes(item.as_bytes());
        }
        let lp = lp.finish();
        body.extend_from_slice(&[types::HASH_LISTPACK_EX, 1, b'l']);
        body.extend_from_slice(&5000u64.to_le_bytes());
        body.push(lp.len() as u8);
        body.extend_from_slice(&lp);
        body.extend_from_slice(&[types::HASH_LISTPACK_EX_PRE_GA, 1, b'x', lp.len() as u8]);
        body.extend_from_slice(&lp);
        let ks = keys(&events(&file(12, &body)).unwrap());
        assert_eq!(ks.len(), 4);
        for k in ks {
            assert_eq!(k.2, want, "{:?}", k.0);
        }
    }

    #[test]
    fn module_values_name_the_module_and_bad_input_names_the_offset() {
        // Module type "ReJSON-RL" has id chars then a 10-bit version; build the id the same way.
        let charset = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
        let mut id = 0u64;
        for c in b"ReJSON-RL" {
            id = (id << 6) | charset.iter().position(|x| x == c).unwrap() as u64;
        }
        id = (id << 10) | 3;
        let mut body = vec![types::MODULE_2, 1, b'k', 0x81];
        body.extend_from_slice(&id.to_be_bytes());
        let err = events(&file(9, &body)).unwrap_err();
        assert!(err.to_string().contains("'ReJSON-RL'"), "{err}");
        assert!(matches!(err, RdbError::Module { offset: 9, .. }));

        let err = events(&file(9, &[200, 1, b'k'])).unwrap_err();
        assert_eq!(
            err.to_string(),
            "corrupt at offset 9: a known object type or opcode"
        );
        // A zset whose length promises more than the file holds.
        let err = events(b"REDIS0009\x05\x01k\x80\x7f\xff\xff\xff").unwrap_err();
        assert!(
            matches!(
                err,
                RdbError::Truncated {
                    what: "zset member",
                    ..
                }
            ),
            "{err}"
        );
        let err = events(b"REDIS0009\x00\x01k\x80\xff\xff\xff\xff").unwrap_err();
        assert_eq!(
            err.to_string(),
            "truncated at offset 17 while reading string value"
        );
        let mut bad_crc = file(9, &[types::STRING, 1, b'k', 1, b'v']);
        let n = bad_crc.len();
        bad_crc[n - 1] ^= 1;
        assert!(matches!(events(&bad_crc), Err(RdbError::Checksum { .. })));
        assert!(matches!(events(b"REDIS0013"), Err(RdbError::Header(_))));
        assert!(matches!(events(b"RODIS0009"), Err(RdbError::Header(_))));
    }

    /// A file with every type the writer produces, in compact and plain encodings.
    fn sample() -> Vec<u8> {
        let mut w = Writer::new(Vec::new(), 10).unwrap();
        w.aux(b"redis-ver", b"7.0.15").unwrap();
        w.select_db(0).unwrap();
        w.string(b"int", None, b"-123456").unwrap();
        w.string(b"lzf", Some(99), "abc".repeat(100).as_bytes())
            .unwrap();
        w.begin_list(b"list", None, 3000).unwrap();
        for i in 0..3000 {
            w.item(format!("item{i}").as_bytes()).unwrap();
        }
        w.end().unwrap();
        for (name, n) in [(&b"smallset"[..], 3u64), (b"bigset", 600)] {
            w.begin_set(name, None, n).unwrap();
            for i in 0..n {
                w.member(i.to_string().as_bytes()).unwrap();
            }
            w.end().unwrap();
        }
        w.begin_set(b"strset", None, 2).unwrap();
        w.member(b"x").unwrap();
        w.member(b"y").unwrap();
        w.end().unwrap();
        for (name, n) in [(&b"smallz"[..], 3u64), (b"bigz", 200)] {
            w.begin_zset(name, None, n).unwrap();
            for i in 0..n {
                w.scored(format!("m{i}").as_bytes(), i as f64 / 4.0)
                    .unwrap();
            }
            w.end().unwrap();
        }
        for (name, n) in [(&b"smallh"[..], 3u64), (b"bigh", 200)] {
            w.begin_hash(name, None, n).unwrap();
            for i in 0..n {
                w.field(format!("f{i}").as_bytes(), b"v").unwrap();
            }
            w.end().unwrap();
        }
        w.finish().unwrap()
    }

    #[test]
    fn writer_output_reads_back() {
        let ks = keys(&events(&sample()).unwrap());
        let names: Vec<&[u8]> = ks.iter().map(|k| k.0.as_slice()).collect();
        assert_eq!(
            names,
            [
                &b"int"[..],
                b"lzf",
                b"list",
                b"smallset",
                b"bigset",
                b"strset",
                b"smallz",
                b"bigz",
                b"smallh",
                b"bigh"
            ]
        );
        assert_eq!(ks[0].2, Chunk::String(b"-123456".to_vec()));
        assert_eq!(ks[1].2, Chunk::String("abc".repeat(100).into_bytes()));
        assert_eq!(ks[1].3, Some(99));
        let Chunk::List(items) = &ks[2].2 else {
            panic!()
        };
        assert_eq!(items.len(), 3000);
        assert_eq!(items[2999], b"item2999");
        let Chunk::Set(m) = &ks[4].2 else { panic!() };
        assert_eq!(m.len(), 600);
        let Chunk::ZSet(z) = &ks[7].2 else { panic!() };
        assert_eq!(z.len(), 200);
        assert_eq!(z[199], (b"m199".to_vec(), 49.75));
        let Chunk::Hash(h) = &ks[9].2 else { panic!() };
        assert_eq!(h.len(), 200);
    }

    /// Random corruption of a valid file never panics: every input ends in events or an error.
    #[test]
    fn mutated_files_never_panic() {
        let good = sample();
        let mut seed = 0x9e37_79b9_7f4a_7c15u64;
        let mut rand = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        for round in 0..3000 {
            let mut f = good.clone();
            match round % 3 {
                0 => {
                    let at = rand() as usize % f.len();
                    f[at] = rand() as u8;
                }
                1 => f.truncate(rand() as usize % f.len()),
                _ => {
                    for _ in 0..4 {
                        let at = rand() as usize % f.len();
                        f[at] ^= 1 << (rand() % 8);
                    }
                }
            }
            // Skip the checksum so the decoders see the damage.
            let n = f.len();
            if n > 8 {
                f[n - 8..].fill(0);
            }
            let _ = events(&f);
        }
    }

    #[test]
    fn payloads_check_version_and_checksum_first() {
        let mut w = Writer::payload();
        w.begin_hash(b"", None, 1).unwrap();
        w.field(b"f", b"v").unwrap();
        w.end().unwrap();
        let p = w.finish_payload().unwrap();
        let mut r = Reader::payload(&p).unwrap();
        assert!(matches!(r.next(), Ok(Some(Event::Key(h))) if h.kind == Kind::Hash));
        assert_eq!(r.next().unwrap(), Some(Event::Chunk(hash(&[("f", "v")]))));
        assert_eq!(r.next().unwrap(), Some(Event::KeyEnd));
        assert_eq!(r.next().unwrap(), None);
        let mut bad = p.clone();
        bad[2] ^= 1;
        assert!(Reader::payload(&bad).is_err());
        assert!(Reader::payload(&p[..5]).is_err());
    }
}
