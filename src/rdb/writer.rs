//! An RDB writer: files of RDB version 10 (the newest Redis 7.0 loads; 7 to 9 on request) and
//! DUMP payloads, with the compact encodings Redis 7.0 would choose under its default
//! thresholds (intset, listpack, quicklist of listpacks, integer and LZF strings).
//!
//! Collections are pushed element by element with their count given up front. A collection
//! small enough for a compact encoding is buffered (at most [`MAX_LISTPACK_ENTRIES`] or
//! [`MAX_INTSET_ENTRIES`] elements) until the encoding is known; a bigger one is streamed
//! straight out in the plain encoding, so memory stays bounded whatever the key's size. Lists
//! are packed into 8 KB listpack nodes as Redis does, up to [`LIST_BUFFER_BYTES`]; a longer
//! list is written as a plain list, which Redis turns into the same quicklist on load.

use super::{crc64::crc64, intset, listpack, lzf, opcodes, types, RdbError, StreamId};
use std::io::Write;

/// `hash-max-listpack-entries` / `zset-max-listpack-entries` defaults.
pub const MAX_LISTPACK_ENTRIES: u64 = 128;
/// `hash-max-listpack-value` / `zset-max-listpack-value` defaults.
pub const MAX_LISTPACK_VALUE: usize = 64;
/// `set-max-intset-entries` default.
pub const MAX_INTSET_ENTRIES: u64 = 512;
/// `list-max-listpack-size -2`: a quicklist node holds at most 8 KB.
const LIST_NODE_BYTES: usize = 8 << 10;
/// Most bytes of list nodes buffered before falling back to the plain list encoding.
pub const LIST_BUFFER_BYTES: usize = 32 << 20;

type Result<T> = std::result::Result<T, RdbError>;

/// Where bytes go, with the running checksum.
struct Out<W> {
    w: W,
    crc: u64,
    written: u64,
}

impl<W: Write> Out<W> {
    fn put(&mut self, b: &[u8]) -> Result<()> {
        self.w.write_all(b)?;
        self.crc = crc64(self.crc, b);
        self.written += b.len() as u64;
        Ok(())
    }

    fn len(&mut self, n: u64) -> Result<()> {
        if n < 1 << 6 {
            self.put(&[n as u8])
        } else if n < 1 << 14 {
            self.put(&[0x40 | (n >> 8) as u8, n as u8])
        } else if let Ok(n) = u32::try_from(n) {
            self.put(&[0x80])?;
            self.put(&n.to_be_bytes())
        } else {
            self.put(&[0x81])?;
            self.put(&n.to_be_bytes())
        }
    }

    /// A string as Redis saves it: a short canonical integer in 8, 16 or 32 bits, a string of
    /// more than 20 bytes LZF-compressed when that saves space, otherwise raw.
    fn string(&mut self, s: &[u8]) -> Result<()> {
        if s.len() <= 11 {
            if let Some(i) = canonical_int(s) {
                if let Ok(v) = i8::try_from(i) {
                    return self.put(&[0xc0, v as u8]);
                } else if let Ok(v) = i16::try_from(i) {
                    self.put(&[0xc1])?;
                    return self.put(&v.to_le_bytes());
                } else if let Ok(v) = i32::try_from(i) {
                    self.put(&[0xc2])?;
                    return self.put(&v.to_le_bytes());
                }
            }
        }
        if s.len() > 20 {
            if let Some(c) = lzf::compress(s) {
                self.put(&[0xc3])?;
                self.len(c.len() as u64)?;
                self.len(s.len() as u64)?;
                return self.put(&c);
            }
        }
        self.len(s.len() as u64)?;
        self.put(s)
    }

    /// A score of the old ZSET type (RDB < 8): length byte and ASCII, 254/255 for infinities.
    fn ascii_double(&mut self, d: f64) -> Result<()> {
        if d == f64::INFINITY {
            return self.put(&[254]);
        }
        if d == f64::NEG_INFINITY {
            return self.put(&[255]);
        }
        let s = crate::util::num::fmt_double(d);
        self.put(&[s.len() as u8])?;
        self.put(s.as_bytes())
    }
}

/// Parses a string Redis would store as an integer: no leading zeros or plus sign, fits i64.
pub fn canonical_int(s: &[u8]) -> Option<i64> {
    let text = std::str::from_utf8(s).ok()?;
    let v: i64 = text.parse().ok()?;
    (itoa::Buffer::new().format(v).as_bytes() == s).then_some(v)
}

/// A collection being written.
enum Pending {
    Set {
        count: u64,
        added: u64,
        /// Members kept until the encoding is known (small sets only).
        buffered: Option<Vec<Vec<u8>>>,
    },
    Hash {
        count: u64,
        added: u64,
        buffered: Option<Vec<(Vec<u8>, Vec<u8>)>>,
    },
    ZSet {
        count: u64,
        added: u64,
        buffered: Option<Vec<(Vec<u8>, f64)>>,
    },
    List {
        count: u64,
        added: u64,
        /// Finished quicklist nodes and the one being filled; None once streaming plain.
        nodes: Option<(Vec<Vec<u8>>, listpack::Writer, usize)>,
    },
    /// A string streamed in pieces: bytes announced and written.
    String { count: u64, added: u64 },
    /// A stream, written as it comes (nodes, then its metadata and groups); the counts left
    /// of each part, checked as the parts arrive.
    Stream(StreamParts),
}

/// What is left to write of a stream.
#[derive(Default)]
struct StreamParts {
    nodes: u64,
    meta: bool,
    groups: u64,
    /// Pending entries left in the current group's PEL.
    pel: u64,
    /// Consumers left in the current group; None until they are announced.
    consumers: Option<u64>,
    /// IDs left in the current consumer's PEL.
    consumer_pel: u64,
    /// A group was started (its consumers must follow).
    group_open: bool,
}

impl StreamParts {
    /// Whether the current group (if any) is complete.
    fn group_done(&self) -> bool {
        self.pel == 0
            && self.consumer_pel == 0
            && match self.consumers {
                Some(n) => n == 0,
                None => !self.group_open,
            }
    }
}

/// A stream's metadata as RDB stores it after its nodes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StreamHeader {
    pub length: u64,
    pub last_id: StreamId,
    pub first_id: StreamId,
    pub max_deleted: StreamId,
    pub entries_added: u64,
    pub groups: u64,
}

/// Writes an RDB file, or a DUMP payload (see [`Writer::payload`]).
pub struct Writer<W: Write> {
    out: Out<W>,
    version: u32,
    payload: bool,
    /// Key and expiry of a buffered collection, written once its encoding is chosen.
    key: Option<(Vec<u8>, Option<i64>)>,
    pending: Option<Pending>,
}

impl<W: Write> Writer<W> {
    /// Starts an RDB file of `version` (7 to 10; see [`super::WRITE_VERSION`]).
    pub fn new(w: W, version: u32) -> Result<Self> {
        if !(super::MIN_WRITE_VERSION..=super::WRITE_VERSION).contains(&version) {
            return Err(RdbError::Unsupported(format!(
                "RDB version {version} cannot be written (supported: {} to {})",
                super::MIN_WRITE_VERSION,
                super::WRITE_VERSION
            )));
        }
        let mut out = Out {
            w,
            crc: 0,
            written: 0,
        };
        out.put(format!("REDIS{version:04}").as_bytes())?;
        Ok(Writer {
            out,
            version,
            payload: false,
            key: None,
            pending: None,
        })
    }

    /// Bytes written so far.
    pub fn written(&self) -> u64 {
        self.out.written
    }

    pub fn aux(&mut self, key: &[u8], value: &[u8]) -> Result<()> {
        self.out.put(&[opcodes::AUX])?;
        self.out.string(key)?;
        self.out.string(value)
    }

    pub fn select_db(&mut self, db: u64) -> Result<()> {
        self.out.put(&[opcodes::SELECTDB])?;
        self.out.len(db)
    }

    pub fn resize_db(&mut self, keys: u64, expires: u64) -> Result<()> {
        self.out.put(&[opcodes::RESIZEDB])?;
        self.out.len(keys)?;
        self.out.len(expires)
    }

    /// A function library's source (FUNCTION2, RDB 10 and later).
    pub fn function(&mut self, code: &[u8]) -> Result<()> {
        if self.version < 10 {
            return Err(RdbError::Unsupported(
                "functions need RDB version 10 or later".into(),
            ));
        }
        self.out.put(&[opcodes::FUNCTION2])?;
        self.out.string(code)
    }

    /// Writes the expiry (if any), the type byte and the key.
    fn header(&mut self, rdb_type: u8, key: &[u8], expire_ms: Option<i64>) -> Result<()> {
        if !self.payload {
            if let Some(at) = expire_ms {
                self.out.put(&[opcodes::EXPIRETIME_MS])?;
                self.out.put(&at.to_le_bytes())?;
            }
        }
        self.out.put(&[rdb_type])?;
        if !self.payload {
            self.out.string(key)?;
        }
        Ok(())
    }

    fn busy(&self) -> Result<()> {
        match self.pending {
            Some(_) => Err(RdbError::Unsupported(
                "a key was started before the previous one ended".into(),
            )),
            None => Ok(()),
        }
    }

    /// A string key.
    pub fn string(&mut self, key: &[u8], expire_ms: Option<i64>, value: &[u8]) -> Result<()> {
        self.busy()?;
        self.header(types::STRING, key, expire_ms)?;
        self.out.string(value)
    }

    /// Starts a string key of `len` bytes, stored raw, whose bytes follow in pieces
    /// ([`Writer::string_piece`], then [`Writer::end`]): for a value too large to hold at once.
    pub fn begin_string(&mut self, key: &[u8], expire_ms: Option<i64>, len: u64) -> Result<()> {
        self.busy()?;
        self.header(types::STRING, key, expire_ms)?;
        self.out.len(len)?;
        self.pending = Some(Pending::String {
            count: len,
            added: 0,
        });
        Ok(())
    }

    /// Starts a string key of `len` bytes stored LZF-compressed: `clen` bytes of LZF stream
    /// follow in pieces ([`Writer::string_piece`], then [`Writer::end`]).
    pub fn begin_lzf_string(
        &mut self,
        key: &[u8],
        expire_ms: Option<i64>,
        clen: u64,
        len: u64,
    ) -> Result<()> {
        self.busy()?;
        self.header(types::STRING, key, expire_ms)?;
        self.out.put(&[0xc3])?;
        self.out.len(clen)?;
        self.out.len(len)?;
        self.pending = Some(Pending::String {
            count: clen,
            added: 0,
        });
        Ok(())
    }

    /// The next bytes of a string started with [`Writer::begin_string`] or
    /// [`Writer::begin_lzf_string`].
    pub fn string_piece(&mut self, bytes: &[u8]) -> Result<()> {
        match &mut self.pending {
            Some(Pending::String { count, added }) if *added + bytes.len() as u64 <= *count => {
                *added += bytes.len() as u64;
            }
            _ => return Err(Self::mismatch("string bytes")),
        }
        self.out.put(bytes)
    }

    /// Starts a set of `count` members; follow with [`Writer::member`] and [`Writer::end`].
    pub fn begin_set(&mut self, key: &[u8], expire_ms: Option<i64>, count: u64) -> Result<()> {
        self.busy()?;
        let buffered = if count <= MAX_INTSET_ENTRIES {
            self.key = Some((key.to_vec(), expire_ms));
            Some(Vec::with_capacity(count as usize))
        } else {
            self.header(types::SET, key, expire_ms)?;
            self.out.len(count)?;
            None
        };
        self.pending = Some(Pending::Set {
            count,
            added: 0,
            buffered,
        });
        Ok(())
    }

    /// Starts a hash of `count` fields; follow with [`Writer::field`] and [`Writer::end`].
    pub fn begin_hash(&mut self, key: &[u8], expire_ms: Option<i64>, count: u64) -> Result<()> {
        self.busy()?;
        let buffered = if count <= MAX_LISTPACK_ENTRIES && self.version >= 10 {
            self.key = Some((key.to_vec(), expire_ms));
            Some(Vec::with_capacity(count as usize))
        } else {
            self.header(types::HASH, key, expire_ms)?;
            self.out.len(count)?;
            None
        };
        self.pending = Some(Pending::Hash {
            count,
            added: 0,
            buffered,
        });
        Ok(())
    }

    /// Starts a sorted set of `count` members; follow with [`Writer::scored`] and
    /// [`Writer::end`].
    pub fn begin_zset(&mut self, key: &[u8], expire_ms: Option<i64>, count: u64) -> Result<()> {
        self.busy()?;
        let buffered = if count <= MAX_LISTPACK_ENTRIES && self.version >= 10 {
            self.key = Some((key.to_vec(), expire_ms));
            Some(Vec::with_capacity(count as usize))
        } else {
            let t = if self.version >= 8 {
                types::ZSET_2
            } else {
                types::ZSET
            };
            self.header(t, key, expire_ms)?;
            self.out.len(count)?;
            None
        };
        self.pending = Some(Pending::ZSet {
            count,
            added: 0,
            buffered,
        });
        Ok(())
    }

    /// Starts a list of `count` elements; follow with [`Writer::item`] and [`Writer::end`].
    pub fn begin_list(&mut self, key: &[u8], expire_ms: Option<i64>, count: u64) -> Result<()> {
        self.busy()?;
        let nodes = if self.version >= 10 {
            self.key = Some((key.to_vec(), expire_ms));
            Some((Vec::new(), listpack::Writer::new(), 0))
        } else {
            self.header(types::LIST, key, expire_ms)?;
            self.out.len(count)?;
            None
        };
        self.pending = Some(Pending::List {
            count,
            added: 0,
            nodes,
        });
        Ok(())
    }

    /// Starts a stream of `nodes` listpack nodes (see [`super::stream::NodePacker`]); follow
    /// with [`Writer::stream_node`] for each, [`Writer::stream_meta`], then per group
    /// [`Writer::stream_group`], its PEL entries, [`Writer::stream_consumers`] and each
    /// consumer with its PEL, and [`Writer::end`]. RDB 10 gets `STREAM_LISTPACKS_2` (Redis
    /// 7.0), RDB 9 `STREAM_LISTPACKS` (Redis 5 and 6: no first ID, greatest deleted ID,
    /// entries-added or entries-read); older versions have no streams.
    pub fn begin_stream(&mut self, key: &[u8], expire_ms: Option<i64>, nodes: u64) -> Result<()> {
        self.busy()?;
        let t = match self.version {
            10.. => types::STREAM_LISTPACKS_2,
            9 => types::STREAM_LISTPACKS,
            v => {
                return Err(RdbError::Unsupported(format!(
                    "streams need RDB version 9 or later (Redis 5.0), not {v}"
                )))
            }
        };
        self.header(t, key, expire_ms)?;
        self.out.len(nodes)?;
        self.pending = Some(Pending::Stream(StreamParts {
            nodes,
            ..StreamParts::default()
        }));
        Ok(())
    }

    fn stream_parts(&mut self, what: &str) -> Result<&mut StreamParts> {
        match &mut self.pending {
            Some(Pending::Stream(p)) => Ok(p),
            _ => Err(Self::mismatch(what)),
        }
    }

    /// One node of the stream: its master ID and listpack.
    pub fn stream_node(&mut self, master: StreamId, listpack: &[u8]) -> Result<()> {
        let p = self.stream_parts("a stream node")?;
        if p.nodes == 0 {
            return Err(Self::mismatch("a stream node"));
        }
        p.nodes -= 1;
        let mut key = [0u8; 16];
        key[..8].copy_from_slice(&master.ms.to_be_bytes());
        key[8..].copy_from_slice(&master.seq.to_be_bytes());
        self.out.string(&key)?;
        self.out.string(listpack)
    }

    /// The stream's metadata, after its nodes.
    pub fn stream_meta(&mut self, h: &StreamHeader) -> Result<()> {
        let v2 = self.version >= 10;
        let p = self.stream_parts("stream metadata")?;
        if p.nodes != 0 || p.meta {
            return Err(Self::mismatch("stream metadata"));
        }
        p.meta = true;
        p.groups = h.groups;
        self.out.len(h.length)?;
        self.out.len(h.last_id.ms)?;
        self.out.len(h.last_id.seq)?;
        if v2 {
            self.out.len(h.first_id.ms)?;
            self.out.len(h.first_id.seq)?;
            self.out.len(h.max_deleted.ms)?;
            self.out.len(h.max_deleted.seq)?;
            self.out.len(h.entries_added)?;
        }
        self.out.len(h.groups)
    }

    /// A consumer group (in name order), followed by its `pel` pending entries.
    /// `entries_read` is -1 when unknown (written as Redis writes it, cast to unsigned).
    pub fn stream_group(
        &mut self,
        name: &[u8],
        last_id: StreamId,
        entries_read: i64,
        pel: u64,
    ) -> Result<()> {
        let v2 = self.version >= 10;
        let p = self.stream_parts("a consumer group")?;
        if !p.meta || p.groups == 0 || !p.group_done() {
            return Err(Self::mismatch("a consumer group"));
        }
        p.groups -= 1;
        p.pel = pel;
        p.consumers = None;
        p.group_open = true;
        self.out.string(name)?;
        self.out.len(last_id.ms)?;
        self.out.len(last_id.seq)?;
        if v2 {
            self.out.len(entries_read as u64)?;
        }
        self.out.len(pel)
    }

    /// One entry of the current group's PEL, in ID order.
    pub fn stream_pel_entry(
        &mut self,
        id: StreamId,
        delivery_time_ms: u64,
        delivery_count: u64,
    ) -> Result<()> {
        let p = self.stream_parts("a pending entry")?;
        if p.pel == 0 {
            return Err(Self::mismatch("a pending entry"));
        }
        p.pel -= 1;
        self.raw_id(id)?;
        self.out.put(&delivery_time_ms.to_le_bytes())?;
        self.out.len(delivery_count)
    }

    /// How many consumers the current group has, after its PEL.
    pub fn stream_consumers(&mut self, n: u64) -> Result<()> {
        let p = self.stream_parts("stream consumers")?;
        if p.pel != 0 || p.consumers.is_some() {
            return Err(Self::mismatch("stream consumers"));
        }
        p.consumers = Some(n);
        self.out.len(n)
    }

    /// A consumer (in name order), followed by the `pel` IDs it owns.
    pub fn stream_consumer(&mut self, name: &[u8], seen_time_ms: u64, pel: u64) -> Result<()> {
        let p = self.stream_parts("a stream consumer")?;
        match p.consumers {
            Some(n) if n > 0 && p.consumer_pel == 0 => p.consumers = Some(n - 1),
            _ => return Err(Self::mismatch("a stream consumer")),
        }
        p.consumer_pel = pel;
        self.out.string(name)?;
        self.out.put(&seen_time_ms.to_le_bytes())?;
        self.out.len(pel)
    }

    /// One ID of the current consumer's PEL, in ID order.
    pub fn stream_consumer_pel(&mut self, id: StreamId) -> Result<()> {
        let p = self.stream_parts("a consumer's pending entry")?;
        if p.consumer_pel == 0 {
            return Err(Self::mismatch("a consumer's pending entry"));
        }
        p.consumer_pel -= 1;
        self.raw_id(id)
    }

    /// An ID in 16 raw big-endian bytes, as rax keys are stored.
    fn raw_id(&mut self, id: StreamId) -> Result<()> {
        self.out.put(&id.ms.to_be_bytes())?;
        self.out.put(&id.seq.to_be_bytes())
    }

    fn mismatch(what: &str) -> RdbError {
        RdbError::Unsupported(format!(
            "{what} added to a key of another type or past its count"
        ))
    }

    /// One member of the set being written.
    pub fn member(&mut self, m: &[u8]) -> Result<()> {
        match &mut self.pending {
            Some(Pending::Set {
                count,
                added,
                buffered,
            }) if *added < *count => {
                *added += 1;
                match buffered {
                    Some(b) => {
                        b.push(m.to_vec());
                        Ok(())
                    }
                    None => self.out.string(m),
                }
            }
            _ => Err(Self::mismatch("a set member")),
        }
    }

    /// One field of the hash being written.
    pub fn field(&mut self, f: &[u8], v: &[u8]) -> Result<()> {
        match &mut self.pending {
            Some(Pending::Hash {
                count,
                added,
                buffered,
            }) if *added < *count => {
                *added += 1;
                match buffered {
                    Some(b) => {
                        b.push((f.to_vec(), v.to_vec()));
                        Ok(())
                    }
                    None => {
                        self.out.string(f)?;
                        self.out.string(v)
                    }
                }
            }
            _ => Err(Self::mismatch("a hash field")),
        }
    }

    /// One member of the sorted set being written.
    pub fn scored(&mut self, m: &[u8], score: f64) -> Result<()> {
        let v8 = self.version >= 8;
        match &mut self.pending {
            Some(Pending::ZSet {
                count,
                added,
                buffered,
            }) if *added < *count => {
                *added += 1;
                match buffered {
                    Some(b) => {
                        b.push((m.to_vec(), score));
                        Ok(())
                    }
                    None => {
                        self.out.string(m)?;
                        if v8 {
                            self.out.put(&score.to_le_bytes())
                        } else {
                            self.out.ascii_double(score)
                        }
                    }
                }
            }
            _ => Err(Self::mismatch("a sorted set member")),
        }
    }

    /// One element of the list being written, in order from head to tail.
    pub fn item(&mut self, e: &[u8]) -> Result<()> {
        let overflow = {
            let Some(Pending::List {
                count,
                added,
                nodes,
            }) = &mut self.pending
            else {
                return Err(Self::mismatch("a list element"));
            };
            if *added >= *count {
                return Err(Self::mismatch("a list element"));
            }
            *added += 1;
            let Some((done, node, buffered)) = nodes else {
                return self.out.string(e);
            };
            // Redis starts a new node when the element would take this one past 8 KB
            // (quicklist.c, _quicklistNodeAllowInsert, with its 8-byte overhead estimate).
            if !node.is_empty() && node.bytes_len() + e.len() + 8 > LIST_NODE_BYTES {
                let full = std::mem::take(node).finish();
                *buffered += full.len();
                done.push(full);
            }
            node.push_bytes(e);
            *buffered > LIST_BUFFER_BYTES
        };
        if overflow {
            self.spill_list()?;
        }
        Ok(())
    }

    /// A list too long to buffer: what was packed so far goes out as a plain list, and the
    /// remaining elements are streamed.
    fn spill_list(&mut self) -> Result<()> {
        let Some(Pending::List { count, nodes, .. }) = &mut self.pending else {
            return Ok(());
        };
        let count = *count;
        let Some((done, node, _)) = nodes.take() else {
            return Ok(());
        };
        let (key, expire) = self.key.take().unwrap_or_default();
        self.header(types::LIST, &key, expire)?;
        self.out.len(count)?;
        for blob in done.iter().chain(std::iter::once(&node.finish())) {
            for item in listpack::items(blob)? {
                self.out.string(&item.to_vec())?;
            }
        }
        Ok(())
    }

    /// Ends the collection being written, choosing its encoding if it was buffered.
    pub fn end(&mut self) -> Result<()> {
        let pending = self
            .pending
            .take()
            .ok_or_else(|| RdbError::Unsupported("end of a key that was not started".into()))?;
        let (count, added) = match &pending {
            Pending::Set { count, added, .. }
            | Pending::Hash { count, added, .. }
            | Pending::ZSet { count, added, .. }
            | Pending::List { count, added, .. }
            | Pending::String { count, added } => (*count, *added),
            Pending::Stream(p) => {
                if p.nodes != 0 || !p.meta || p.groups != 0 || !p.group_done() {
                    return Err(RdbError::Unsupported(
                        "a stream ended before all of its parts were written".into(),
                    ));
                }
                return Ok(());
            }
        };
        if count != added {
            return Err(RdbError::Unsupported(format!(
                "a collection announced {count} elements but {added} were written"
            )));
        }
        let key = self.key.take();
        let (key, expire) = key.unwrap_or_default();
        match pending {
            Pending::Set {
                buffered: Some(members),
                ..
            } => {
                let ints: Option<Vec<i64>> = members.iter().map(|m| canonical_int(m)).collect();
                match ints {
                    Some(ints) => {
                        self.header(types::SET_INTSET, &key, expire)?;
                        self.out.string(&intset::encode(&ints))?;
                    }
                    None => {
                        self.header(types::SET, &key, expire)?;
                        self.out.len(count)?;
                        for m in &members {
                            self.out.string(m)?;
                        }
                    }
                }
            }
            Pending::Hash {
                buffered: Some(fields),
                ..
            } => {
                let small = fields
                    .iter()
                    .all(|(f, v)| f.len() <= MAX_LISTPACK_VALUE && v.len() <= MAX_LISTPACK_VALUE);
                if small {
                    let mut lp = listpack::Writer::new();
                    for (f, v) in &fields {
                        lp.push_bytes(f);
                        lp.push_bytes(v);
                    }
                    self.header(types::HASH_LISTPACK, &key, expire)?;
                    self.out.string(&lp.finish())?;
                } else {
                    self.header(types::HASH, &key, expire)?;
                    self.out.len(count)?;
                    for (f, v) in &fields {
                        self.out.string(f)?;
                        self.out.string(v)?;
                    }
                }
            }
            Pending::ZSet {
                buffered: Some(mut members),
                ..
            } => {
                if members.iter().all(|(m, _)| m.len() <= MAX_LISTPACK_VALUE) {
                    // A listpack zset is kept in (score, member) order.
                    members.sort_by(|a, b| a.1.total_cmp(&b.1).then_with(|| a.0.cmp(&b.0)));
                    let mut lp = listpack::Writer::new();
                    for (m, s) in &members {
                        lp.push_bytes(m);
                        push_score(&mut lp, *s);
                    }
                    self.header(types::ZSET_LISTPACK, &key, expire)?;
                    self.out.string(&lp.finish())?;
                } else {
                    self.header(types::ZSET_2, &key, expire)?;
                    self.out.len(count)?;
                    for (m, s) in &members {
                        self.out.string(m)?;
                        self.out.put(&s.to_le_bytes())?;
                    }
                }
            }
            Pending::List {
                nodes: Some((mut done, node, _)),
                ..
            } => {
                if !node.is_empty() {
                    done.push(node.finish());
                }
                self.header(types::LIST_QUICKLIST_2, &key, expire)?;
                self.out.len(done.len() as u64)?;
                for blob in &done {
                    // Container 2: a packed (listpack) node.
                    self.out.len(2)?;
                    self.out.string(blob)?;
                }
            }
            // Streamed in the plain encoding: everything is out already.
            _ => {}
        }
        Ok(())
    }

    /// Ends the file: the EOF opcode and the checksum. Returns the inner writer, flushed.
    pub fn finish(mut self) -> Result<W> {
        self.busy()?;
        if self.payload {
            return Err(RdbError::Unsupported(
                "a DUMP payload ends with Writer::finish_payload".into(),
            ));
        }
        self.out.put(&[opcodes::EOF])?;
        let crc = self.out.crc;
        self.out.w.write_all(&crc.to_le_bytes())?;
        self.out.w.flush()?;
        Ok(self.out.w)
    }
}

/// A score as Redis stores it in a listpack (util.c, d2string): an integer when it is one,
/// `inf`/`-inf`, otherwise `%.17g`.
fn push_score(lp: &mut listpack::Writer, s: f64) {
    lp.push_bytes(d2string(s).as_bytes());
}

/// Redis's d2string for a score (never NaN).
pub fn d2string(v: f64) -> String {
    const HALF_RANGE: f64 = (i64::MAX / 2) as f64;
    if v.is_infinite() {
        return if v > 0.0 { "inf" } else { "-inf" }.to_string();
    }
    if v == 0.0 {
        return if v.is_sign_negative() { "-0" } else { "0" }.to_string();
    }
    if (-HALF_RANGE..=HALF_RANGE).contains(&v) && v.fract() == 0.0 {
        return (v as i64).to_string();
    }
    crate::util::num::fmt_double(v)
}

impl Writer<Vec<u8>> {
    /// Starts a DUMP payload: one value, no key and no expiry, in RDB version 10.
    pub fn payload() -> Self {
        Writer {
            out: Out {
                w: Vec::new(),
                crc: 0,
                written: 0,
            },
            version: super::WRITE_VERSION,
            payload: true,
            key: None,
            pending: None,
        }
    }

    /// Ends a DUMP payload: the RDB version (u16 LE) and the CRC-64 of all before it.
    pub fn finish_payload(mut self) -> Result<Vec<u8>> {
        self.busy()?;
        self.out.put(&(self.version as u16).to_le_bytes())?;
        let crc = self.out.crc;
        self.out.w.extend_from_slice(&crc.to_le_bytes());
        Ok(self.out.w)
    }
}
