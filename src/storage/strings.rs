//! The bytes of string values, in either of their two forms. Every command that reads or writes
//! a string's bytes goes through here (strings, bitmaps, HyperLogLog, keyspace, DUMP and RDB).
//!
//! - **Inline**: the bytes follow the metadata header in `meta`, so GET is one point read. Every
//!   whole-value write (SET, MSET, INCR, RESTORE, `basalt-rdb import`, ...) stores this form,
//!   whatever the size, and so do partial writes while the value stays within [`INLINE_MAX`].
//! - **Fragmented**: the metadata holds a version and the length (O(1) STRLEN); the bytes live in
//!   `data` under `db · keylen · key · version` as fragments of [`FRAGMENT_SIZE`] bytes keyed by
//!   fragment number (u64, big-endian). A fragment is stored without its leading and trailing
//!   zero bytes (a 2-byte header says how many leading ones were left out), and not at all when
//!   it is all zeros: a missing fragment, or any byte outside the stored run, reads as zero. So a
//!   sparse bitmap costs only its set bytes, and `SETBIT k 4294967295 1` writes a 3-byte
//!   fragment and a 26-byte metadata entry.
//!
//! A partial write (SETBIT, BITFIELD, SETRANGE, APPEND; [`StrEdit`]) that leaves a value longer
//! than [`INLINE_MAX`] turns an inline value into a fragmented one (once: its bytes are written
//! as fragments under a fresh version), and from then on writes only the fragments it touches.
//! A value never shrinks in place, so no fragment lies past the length. Deleting, expiring or
//! overwriting a fragmented value replaces only its metadata; the compaction filter drops
//! fragments whose version is no longer their owner's (see `filters`).

use super::encoding::{data_prefix, meta_key, prefix_end, Meta, CF_DATA, CF_META, META_HEADER};
use super::scan::decode_header;
use super::subkeys::{sub_key, SubCf};
use super::{Batch, Db, Result, StoreError};
use bytes::Bytes;
use rocksdb::{
    DBPinnableSlice, DBRawIteratorWithThreadMode, ReadOptions, SnapshotWithThreadMode, DB,
};
use std::collections::btree_map::{BTreeMap, Entry};
use std::collections::VecDeque;
use std::ops::ControlFlow;

/// Bytes per fragment of a fragmented string (chosen by measurement: docs/ARCHITECTURE.md,
/// "Strings: inline and fragmented").
pub const FRAGMENT_SIZE: u64 = 4096;
const FRAG: usize = FRAGMENT_SIZE as usize;

/// The longest value a partial write keeps inline; past it the value is fragmented (chosen by
/// measurement, see [`FRAGMENT_SIZE`]).
pub const INLINE_MAX: u64 = 8192;

/// Reads spanning at most this many fragments use point reads instead of an iterator.
const POINT_READ_FRAGMENTS: u64 = 2;
/// Keys per batched point read when a walk has turned to point reads.
const MULTI_GET_BATCH: u64 = 64;

/// The fragment holding byte `offset`.
pub fn fragment_of(offset: u64) -> u64 {
    offset / FRAGMENT_SIZE
}

/// The sub-key naming fragment `n`.
fn frag_sub(n: u64) -> [u8; 8] {
    n.to_be_bytes()
}

/// A zeroed buffer of `len` bytes; a length that cannot be allocated is an error, not an abort.
fn zeroed(len: u64) -> Result<Vec<u8>> {
    let oom = || StoreError::Io(std::io::ErrorKind::OutOfMemory.into());
    let n = usize::try_from(len).map_err(|_| oom())?;
    let mut v = Vec::new();
    v.try_reserve_exact(n).map_err(|_| oom())?;
    v.resize(n, 0);
    Ok(v)
}

/// Bytes of a stored fragment's header: how many leading zero bytes were left out (u16 BE).
const FRAG_HEADER: usize = 2;
const _: () = assert!(
    FRAGMENT_SIZE <= 1 << 16,
    "a fragment offset must fit the header"
);

/// The non-zero run of `bytes`: its offset and the bytes from the first to the last non-zero
/// one; None when all are zero.
fn nonzero_run(bytes: &[u8]) -> Option<(usize, &[u8])> {
    let first = bytes.iter().position(|&b| b != 0)?;
    let last = bytes.iter().rposition(|&b| b != 0)?;
    Some((first, &bytes[first..=last]))
}

/// A fragment as stored: the offset of its non-zero run (u16 BE), then the run.
fn encode_frag(skip: usize, run: &[u8]) -> Vec<u8> {
    let mut v = Vec::with_capacity(FRAG_HEADER + run.len());
    v.extend_from_slice(&(skip as u16).to_be_bytes());
    v.extend_from_slice(run);
    v
}

/// A stored fragment's run: its offset within the fragment and its bytes.
fn decode_frag(v: &[u8]) -> Result<(u64, &[u8])> {
    let corrupt = || StoreError::Corrupt("string fragment value");
    let head = v.get(..FRAG_HEADER).ok_or_else(corrupt)?;
    let skip = u64::from(u16::from_be_bytes([head[0], head[1]]));
    let run = &v[FRAG_HEADER..];
    if skip + run.len() as u64 > FRAGMENT_SIZE {
        return Err(corrupt());
    }
    Ok((skip, run))
}

type RawIter<'a> = DBRawIteratorWithThreadMode<'a, DB>;

/// Walks one fragmented value's stored fragments in order.
///
/// An iterator is the fast way over a settled value (SST blocks: a step is a few tens of
/// nanoseconds) and skips missing fragments for free. But a fragment rewritten many times (SETBIT
/// on a hot bitmap) has as many versions in the memtable until the next flush, and an iterator
/// steps over every one of them (reseeking every level after a few), which made BITCOUNT of a
/// hot 128 KB bitmap 5x slower than point reads, which stop at the newest version. So the
/// iterator is told to give up after [`MAX_SKIPPED_VERSIONS`] hidden entries in one step, and
/// the walk then continues with batched point reads (see docs/ARCHITECTURE.md).
struct FragIter<'a> {
    db: Db<'a>,
    key: Vec<u8>,
    version: u64,
    /// Point reads' options (the reader's snapshot, if any).
    point_ro: ReadOptions,
    it: RawIter<'a>,
    prefix: Vec<u8>,
    /// The fragment last asked for; asking for an earlier one seeks back.
    target: u64,
    started: bool,
    /// Set once the iterator gave up: fragments fetched by point reads, in order, from
    /// `points_next` on.
    points: Option<VecDeque<(u64, DBPinnableSlice<'a>)>>,
    points_next: u64,
}

/// Hidden (older) versions an iterator step may pass before the walk turns to point reads. Below
/// RocksDB's `max_sequential_skip_in_iterations` (8), after which the iterator reseeks, so the
/// count cannot be reset by reseeks before it is reached.
const MAX_SKIPPED_VERSIONS: u64 = 4;

impl<'a> FragIter<'a> {
    /// `snap`, when given, must outlive the walk (the reader owns it, and drops it last).
    fn new(db: Db<'a>, key: &[u8], version: u64, snap: Option<&Snapshot<'a>>) -> FragIter<'a> {
        let prefix = data_prefix(db.phys, key, version);
        let mut ro = read_options(snap);
        ro.set_iterate_lower_bound(prefix.clone());
        if let Some(end) = prefix_end(&prefix) {
            ro.set_iterate_upper_bound(end);
        }
        ro.set_max_skippable_internal_keys(MAX_SKIPPED_VERSIONS);
        let store = db.store;
        FragIter {
            db,
            key: key.to_vec(),
            version,
            point_ro: read_options(snap),
            it: store.rocks().raw_iterator_cf_opt(store.cf(CF_DATA), ro),
            prefix,
            target: 0,
            started: false,
            points: None,
            points_next: 0,
        }
    }

    /// The fragment number of the entry the iterator is on, if any; Ok(Err(())) when the
    /// iterator gave up on too many hidden versions.
    fn current(&self) -> Result<std::result::Result<Option<u64>, ()>> {
        match self.it.key() {
            None => match self.it.status() {
                Ok(()) => Ok(Ok(None)),
                Err(e) if e.kind() == rocksdb::ErrorKind::Incomplete => Ok(Err(())),
                Err(e) => Err(e.into()),
            },
            Some(k) => {
                let sub = k
                    .get(self.prefix.len()..)
                    .and_then(|s| <[u8; 8]>::try_from(s).ok())
                    .ok_or(StoreError::Corrupt("string fragment key"))?;
                Ok(Ok(Some(u64::from_be_bytes(sub))))
            }
        }
    }

    fn seek(&mut self, n: u64) {
        let mut k = self.prefix.clone();
        k.extend_from_slice(&frag_sub(n));
        self.it.seek(&k);
    }

    /// Positions the iterator on the first stored fragment numbered `n` or more; Err(()) when
    /// it gave up. Sequential calls step with `next` rather than seeking.
    fn position(&mut self, n: u64) -> Result<std::result::Result<Option<u64>, ()>> {
        if !self.started || n < self.target {
            self.seek(n);
            self.started = true;
        } else {
            let mut steps = 0;
            loop {
                match self.current()? {
                    Ok(Some(c)) if c < n => {}
                    other => return Ok(other),
                }
                if steps == 2 {
                    self.seek(n);
                    break;
                }
                self.it.next();
                steps += 1;
            }
        }
        self.current()
    }

    /// The first stored fragment numbered `n` or more and below `limit`: its number and bytes.
    fn at_or_after(&mut self, n: u64, limit: u64) -> Result<Option<(u64, &[u8])>> {
        if self.points.is_none() {
            let at = self.position(n)?;
            self.target = n;
            match at {
                Ok(Some(c)) if c < limit => {
                    return Ok(Some((c, self.it.value().unwrap_or_default())));
                }
                Ok(_) => return Ok(None),
                Err(()) => {
                    self.points = Some(VecDeque::new());
                    self.points_next = n;
                }
            }
        }
        self.by_point_reads(n, limit)
    }

    /// [`FragIter::at_or_after`] by batched point reads.
    fn by_point_reads(&mut self, n: u64, limit: u64) -> Result<Option<(u64, &[u8])>> {
        let store = self.db.store;
        let queue = self.points.get_or_insert_with(VecDeque::new);
        if n < self.points_next && queue.front().is_none_or(|&(c, _)| c > n) {
            // Asked for an earlier fragment than fetched: start over from it.
            queue.clear();
            self.points_next = n;
        }
        loop {
            while queue.front().is_some_and(|&(c, _)| c < n) {
                queue.pop_front();
            }
            if let Some(&(c, _)) = queue.front() {
                break if c < limit {
                    Ok(queue.front().map(|(c, v)| (*c, &v[..])))
                } else {
                    Ok(None)
                };
            }
            let from = self.points_next.max(n);
            if from >= limit {
                return Ok(None);
            }
            let upto = limit.min(from + MULTI_GET_BATCH);
            let keys: Vec<Vec<u8>> = (from..upto)
                .map(|i| sub_key(self.db.phys, &self.key, self.version, &frag_sub(i)))
                .collect();
            let values = store.rocks().batched_multi_get_cf_opt(
                store.cf(CF_DATA),
                &keys,
                true,
                &self.point_ro,
            );
            for (i, v) in (from..upto).zip(values) {
                if let Some(v) = v? {
                    queue.push_back((i, v));
                }
            }
            self.points_next = upto;
        }
    }
}

type Snapshot<'a> = SnapshotWithThreadMode<'a, DB>;

/// Read options at `snap`, or at the latest state.
fn read_options(snap: Option<&Snapshot<'_>>) -> ReadOptions {
    let mut ro = ReadOptions::default();
    if let Some(s) = snap {
        ro.set_snapshot(s);
    }
    ro
}

/// Read access to one string value, inline or fragmented, at the latest state or at a snapshot
/// (see [`Db::read_string`]).
pub struct StrReader<'a> {
    db: Db<'a>,
    key: Vec<u8>,
    meta: Meta,
    len: u64,
    iter: Option<FragIter<'a>>,
    /// Declared after `iter`, so it is released after the iterator that reads at it.
    snap: Option<Snapshot<'a>>,
}

impl<'a> Db<'a> {
    /// Opens the string value of `key`, whose live metadata is `meta`, for reading.
    pub fn string_reader(&self, key: &[u8], meta: Meta) -> StrReader<'a> {
        StrReader {
            db: *self,
            key: key.to_vec(),
            len: meta.string_len(),
            meta,
            iter: None,
            snap: None,
        }
    }

    /// The whole value of the string `key` whose live metadata is `meta` (no copy when inline).
    pub fn string_value(&self, key: &[u8], meta: Meta) -> Result<Bytes> {
        if !meta.is_fragmented() {
            return Ok(Bytes::from(meta.into_bytes()).slice(META_HEADER..));
        }
        self.string_reader(key, meta).into_bytes()
    }
}

impl<'a> StrReader<'a> {
    /// The value's length in bytes.
    pub fn len(&self) -> u64 {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Whether a walk gave up its iterator for point reads.
    #[cfg(test)]
    fn fell_back(&self) -> bool {
        self.iter.as_ref().is_some_and(|i| i.points.is_some())
    }

    /// Whether the value is fragmented.
    pub fn is_fragmented(&self) -> bool {
        self.meta.is_fragmented()
    }

    /// The metadata the value is read from.
    pub fn meta(&self) -> &Meta {
        &self.meta
    }

    fn iter(&mut self) -> &mut FragIter<'a> {
        let (db, key, version) = (self.db, &self.key, self.meta.version());
        let snap = self.snap.as_ref();
        self.iter
            .get_or_insert_with(|| FragIter::new(db, key, version, snap))
    }

    /// The stored run of fragment `n`: its offset within the fragment and its bytes (the rest
    /// of the fragment reads as zeros); empty when it is missing or past the end. Cheapest
    /// when called with increasing `n` (BITOP's fragment-aligned walk).
    pub fn fragment(&mut self, n: u64) -> Result<(usize, &[u8])> {
        let len = self.len;
        let start = n.saturating_mul(FRAGMENT_SIZE);
        if start >= len {
            return Ok((0, &[]));
        }
        let extent = (len - start).min(FRAGMENT_SIZE);
        if !self.meta.is_fragmented() {
            let v = self.meta.inline_value().unwrap_or_default();
            let s = start as usize;
            return Ok((0, &v[s..s + extent as usize]));
        }
        match self.iter().at_or_after(n, n + 1)? {
            Some((c, v)) if c == n => {
                let (skip, run) = decode_frag(v)?;
                let skip = skip.min(extent);
                let keep = run.len().min((extent - skip) as usize);
                Ok((skip as usize, &run[..keep]))
            }
            _ => Ok((0, &[])),
        }
    }

    /// Calls `f(offset, bytes)` for each stored run of bytes in `[start, end)` (clamped to the
    /// value), in order; bytes between the runs are zeros. Stops when `f` breaks.
    pub fn visit(
        &mut self,
        start: u64,
        end: u64,
        mut f: impl FnMut(u64, &[u8]) -> ControlFlow<()>,
    ) -> Result<()> {
        let end = end.min(self.len);
        if start >= end {
            return Ok(());
        }
        if let Some(v) = self.meta.inline_value() {
            let _ = f(start, &v[start as usize..end as usize]);
            return Ok(());
        }
        let len = self.len;
        let limit = fragment_of(end - 1) + 1;
        let mut n = fragment_of(start);
        let it = self.iter();
        while let Some((c, v)) = it.at_or_after(n, limit)? {
            let base = c.saturating_mul(FRAGMENT_SIZE);
            if base >= end {
                break;
            }
            let (skip, v) = decode_frag(v)?;
            let off = base + skip;
            let (lo, hi) = (start.max(off), end.min(off + v.len() as u64).min(len));
            if lo < hi && f(lo, &v[(lo - off) as usize..(hi - off) as usize]).is_break() {
                break;
            }
            n = c + 1;
        }
        Ok(())
    }

    /// The bytes in `[start, end)`, clamped to the value. A short range is read with point reads
    /// of its fragments, a long one with an iterator that skips missing fragments.
    pub fn read(&mut self, start: u64, end: u64) -> Result<Vec<u8>> {
        let end = end.min(self.len);
        if start >= end {
            return Ok(Vec::new());
        }
        if let Some(v) = self.meta.inline_value() {
            return Ok(v[start as usize..end as usize].to_vec());
        }
        let mut out = zeroed(end - start)?;
        let (first, last) = (fragment_of(start), fragment_of(end - 1));
        if last - first < POINT_READ_FRAGMENTS {
            let (version, store) = (self.meta.version(), self.db.store);
            let ro = read_options(self.snap.as_ref());
            for n in first..=last {
                // Pinned: GETBIT wants one byte of a 4 KB fragment, not a copy of it.
                let k = sub_key(self.db.phys, &self.key, version, &frag_sub(n));
                let Some(pinned) = store.rocks().get_pinned_cf_opt(store.cf(CF_DATA), k, &ro)?
                else {
                    continue;
                };
                let (skip, v) = decode_frag(&pinned)?;
                let off = n * FRAGMENT_SIZE + skip;
                let (lo, hi) = (start.max(off), end.min(off + v.len() as u64));
                if lo < hi {
                    out[(lo - start) as usize..(hi - start) as usize]
                        .copy_from_slice(&v[(lo - off) as usize..(hi - off) as usize]);
                }
            }
            return Ok(out);
        }
        self.visit(start, end, |off, bytes| {
            let at = (off - start) as usize;
            out[at..at + bytes.len()].copy_from_slice(bytes);
            ControlFlow::Continue(())
        })?;
        Ok(out)
    }

    /// The whole value (no copy when inline).
    pub fn into_bytes(mut self) -> Result<Bytes> {
        if self.meta.inline_value().is_some() {
            return Ok(Bytes::from(self.meta.into_bytes()).slice(META_HEADER..));
        }
        let len = self.len;
        self.read(0, len).map(Bytes::from)
    }
}

/// One fragment loaded for an edit: always [`FRAGMENT_SIZE`] bytes, zero-padded.
struct Frag {
    bytes: Vec<u8>,
    dirty: bool,
    /// Whether a stored copy may exist (so an all-zero result must be deleted).
    stored: bool,
}

enum Form {
    /// The whole encoded metadata (header, then the value's bytes).
    Inline(Vec<u8>),
    Fragmented {
        version: u64,
        /// The version was allocated by this edit: nothing is stored under it yet.
        fresh: bool,
        frags: BTreeMap<u64, Frag>,
    },
}

/// A string value opened for partial writes under its key lock (SETBIT, BITFIELD, SETRANGE,
/// APPEND). Reads see the edit's own writes; [`StrEdit::commit`] adds the changed fragments and,
/// when it changed, the metadata to a batch.
pub struct StrEdit {
    phys: u8,
    key: Vec<u8>,
    /// The header of the metadata stored before (expired or not), for the batch's accounting.
    old: Option<Meta>,
    existed: bool,
    expire_at: u64,
    len: u64,
    form: Form,
    /// The metadata must be written (created, grown, converted, or an inline value changed).
    meta_dirty: bool,
}

impl StrEdit {
    /// Opens the string value of `key` in `db`. `raw` is its stored metadata, expired or not;
    /// when live it must be a string (the caller checks the type). A missing or expired key
    /// opens as an empty value that is created by the first write.
    pub fn open(db: &Db<'_>, key: &[u8], raw: Option<Meta>, now: u64) -> Result<StrEdit> {
        let old = raw
            .as_ref()
            .map(|m| decode_header(m.as_bytes()))
            .transpose()?;
        let live = raw.filter(|m| !m.is_expired(now));
        let (existed, expire_at, len, form) = match live {
            None => (false, 0, 0, Form::Inline(Meta::encode_string(b"", 0))),
            Some(m) if m.is_fragmented() => (
                true,
                m.expire_at(),
                m.string_len(),
                Form::Fragmented {
                    version: m.version(),
                    fresh: false,
                    frags: BTreeMap::new(),
                },
            ),
            Some(m) => (
                true,
                m.expire_at(),
                m.string_len(),
                Form::Inline(m.into_bytes()),
            ),
        };
        Ok(StrEdit {
            phys: db.phys,
            key: key.to_vec(),
            old,
            existed,
            expire_at,
            len,
            form,
            meta_dirty: false,
        })
    }

    /// The value's current length.
    pub fn len(&self) -> u64 {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Whether a live value existed when opened.
    pub fn existed(&self) -> bool {
        self.existed
    }

    /// Whether the value is (now) fragmented.
    pub fn is_fragmented(&self) -> bool {
        matches!(self.form, Form::Fragmented { .. })
    }

    /// Makes room for a value of `new_len` bytes: an inline value that would pass
    /// [`INLINE_MAX`] becomes fragmented under a fresh version.
    fn prepare(&mut self, db: &Db<'_>, new_len: u64) -> Result<()> {
        let Form::Inline(buf) = &mut self.form else {
            return Ok(());
        };
        if new_len.max(self.len) <= INLINE_MAX {
            return Ok(());
        }
        let version = db.store.next_version()?;
        let mut frags = BTreeMap::new();
        for (n, chunk) in buf[META_HEADER..].chunks(FRAG).enumerate() {
            if nonzero_run(chunk).is_none() {
                continue;
            }
            let mut bytes = vec![0u8; FRAG];
            bytes[..chunk.len()].copy_from_slice(chunk);
            let frag = Frag {
                bytes,
                dirty: true,
                stored: false,
            };
            frags.insert(n as u64, frag);
        }
        self.form = Form::Fragmented {
            version,
            fresh: true,
            frags,
        };
        self.meta_dirty = true;
        Ok(())
    }

    /// Fragment `n`, loaded if needed. With `overwrite`, the caller replaces every byte of it
    /// that lies within the current length, so it is not read from storage.
    fn frag(&mut self, db: &Db<'_>, n: u64, overwrite: bool) -> Result<Option<&mut Frag>> {
        let Form::Fragmented {
            version,
            fresh,
            frags,
        } = &mut self.form
        else {
            return Ok(None);
        };
        let slot = match frags.entry(n) {
            Entry::Occupied(e) => return Ok(Some(e.into_mut())),
            Entry::Vacant(slot) => slot,
        };
        let frag = if *fresh || overwrite {
            Frag {
                bytes: vec![0u8; FRAG],
                dirty: false,
                stored: !*fresh,
            }
        } else {
            let store = db.store;
            let k = sub_key(db.phys, &self.key, *version, &frag_sub(n));
            let stored = store.rocks().get_pinned_cf(store.cf(CF_DATA), k)?;
            let mut bytes = vec![0u8; FRAG];
            if let Some(v) = &stored {
                let (skip, run) = decode_frag(v)?;
                bytes[skip as usize..skip as usize + run.len()].copy_from_slice(run);
            }
            Frag {
                bytes,
                dirty: false,
                stored: stored.is_some(),
            }
        };
        Ok(Some(slot.insert(frag)))
    }

    /// Copies the bytes at `offset..offset + out.len()` into `out`; zeros past the end.
    pub fn read(&mut self, db: &Db<'_>, offset: u64, out: &mut [u8]) -> Result<()> {
        out.fill(0);
        let end = offset.saturating_add(out.len() as u64).min(self.len);
        if offset >= end {
            return Ok(());
        }
        if let Form::Inline(buf) = &self.form {
            let v = &buf[META_HEADER..];
            let n = (end - offset) as usize;
            out[..n].copy_from_slice(&v[offset as usize..end as usize]);
            return Ok(());
        }
        for n in fragment_of(offset)..=fragment_of(end - 1) {
            let base = n * FRAGMENT_SIZE;
            let (lo, hi) = (offset.max(base), end.min(base + FRAGMENT_SIZE));
            if let Some(f) = self.frag(db, n, false)? {
                out[(lo - offset) as usize..(hi - offset) as usize]
                    .copy_from_slice(&f.bytes[(lo - base) as usize..(hi - base) as usize]);
            }
        }
        Ok(())
    }

    /// Writes `data` at `offset`, growing the value with zeros as needed (the caller checks the
    /// length limit). Creates the value if it did not exist, even when `data` is empty.
    pub fn write(&mut self, db: &Db<'_>, offset: u64, data: &[u8]) -> Result<()> {
        let end = offset.saturating_add(data.len() as u64);
        let new_len = self.len.max(end);
        self.prepare(db, new_len)?;
        self.meta_dirty |= !self.existed || new_len != self.len;
        if let Form::Inline(buf) = &mut self.form {
            let (o, e) = (META_HEADER + offset as usize, META_HEADER + end as usize);
            if buf.len() < e {
                buf.resize(e, 0);
            }
            buf[o..e].copy_from_slice(data);
            self.meta_dirty = true;
            self.len = new_len;
            return Ok(());
        }
        let old_len = self.len;
        self.len = new_len;
        if data.is_empty() {
            return Ok(());
        }
        for n in fragment_of(offset)..=fragment_of(end - 1) {
            let base = n * FRAGMENT_SIZE;
            let (lo, hi) = (offset.max(base), end.min(base + FRAGMENT_SIZE));
            // Bytes of the fragment past the old length are zeros: only those before it matter.
            let overwrite = lo <= base && hi >= old_len.min(base + FRAGMENT_SIZE);
            if let Some(f) = self.frag(db, n, overwrite)? {
                f.bytes[(lo - base) as usize..(hi - base) as usize]
                    .copy_from_slice(&data[(lo - offset) as usize..(hi - offset) as usize]);
                f.dirty = true;
            }
        }
        Ok(())
    }

    /// Grows the value with zeros to at least `len` bytes (creating it if needed).
    pub fn grow(&mut self, db: &Db<'_>, len: u64) -> Result<()> {
        if len > self.len || !self.existed {
            let at = self.len.max(len);
            self.prepare(db, at)?;
            if let Form::Inline(buf) = &mut self.form {
                buf.resize(META_HEADER + at as usize, 0);
            }
            self.meta_dirty = true;
            self.len = at;
        }
        Ok(())
    }

    /// Adds the edit's writes to `batch`: changed fragments, and the metadata when it changed.
    /// Returns whether anything was written.
    pub fn commit(self, batch: &mut Batch<'_>) -> bool {
        let mut wrote = false;
        let meta = match self.form {
            Form::Inline(mut buf) => {
                if !self.meta_dirty {
                    return false;
                }
                buf[2..10].copy_from_slice(&self.expire_at.to_be_bytes());
                buf
            }
            Form::Fragmented {
                version,
                fresh,
                frags,
            } => {
                for (n, f) in frags.iter().filter(|(_, f)| f.dirty) {
                    batch.put_fragment(self.phys, &self.key, version, *n, &f.bytes, f.stored);
                    wrote = true;
                }
                if !self.meta_dirty && !fresh {
                    return wrote;
                }
                Meta::encode_fragmented(self.expire_at, version, self.len)
            }
        };
        batch.put_meta(self.phys, &self.key, self.old.as_ref(), &meta);
        true
    }
}

impl Batch<'_> {
    /// Stores fragment `n` of the fragmented string `key` at `version` (`bytes` from the
    /// fragment's start): only its non-zero run, or nothing when it is all zeros (deleting a copy
    /// that may be stored).
    pub fn put_fragment(
        &mut self,
        phys: u8,
        key: &[u8],
        version: u64,
        n: u64,
        bytes: &[u8],
        maybe_stored: bool,
    ) {
        if let Some((skip, run)) = nonzero_run(bytes) {
            let value = encode_frag(skip, run);
            self.put_sub(SubCf::Data, phys, key, version, &frag_sub(n), &value);
        } else if maybe_stored {
            self.delete_sub(SubCf::Data, phys, key, version, &frag_sub(n));
        }
    }
}

/// The full `data` key of fragment `n` of a fragmented string (tests and tools).
pub fn fragment_key(phys: u8, key: &[u8], version: u64, n: u64) -> Vec<u8> {
    sub_key(phys, key, version, &frag_sub(n))
}

/// Snapshot reads of a fragmented value tried before [`Db::read_string`] takes the key lock.
const SNAPSHOT_ATTEMPTS: usize = 3;

impl<'a> Db<'a> {
    /// Reads the value of `key` with `f`, which gets a reader (or None when the key is missing or
    /// expired) and must check the type itself. An inline value is one point read, consistent
    /// by itself. A fragmented value is read at a RocksDB snapshot, metadata and fragments alike,
    /// so they come from one state of the value without holding the key lock (reads of one
    /// bitmap run in parallel, and beside its writers). One hazard remains, because compaction
    /// filters ignore snapshots: a value deleted or expired after the snapshot may lose
    /// fragments to a compaction while they are read. So the version is checked again
    /// afterwards: if the key still holds it, live, its fragments were never stale (a version
    /// is never reused), and otherwise `f` runs again (under the key lock after a few tries).
    pub fn read_string<T, E: From<StoreError>>(
        &self,
        key: &[u8],
        mut f: impl FnMut(Option<StrReader<'a>>) -> std::result::Result<T, E>,
    ) -> std::result::Result<T, E> {
        let meta = self.meta(key)?;
        if !meta.as_ref().is_some_and(Meta::is_fragmented) {
            return f(meta.map(|m| self.string_reader(key, m)));
        }
        let now = crate::util::time::now_ms();
        for _ in 0..SNAPSHOT_ATTEMPTS {
            let store = self.store;
            let snap = store.rocks().snapshot();
            let raw = store
                .rocks()
                .get_cf_opt(
                    store.cf(CF_META),
                    meta_key(self.phys, key),
                    &read_options(Some(&snap)),
                )
                .map_err(StoreError::from)?;
            let meta = raw
                .map(Meta::decode)
                .transpose()?
                .filter(|m| !m.is_expired(now));
            let m = match meta {
                Some(m) if m.is_fragmented() => m,
                // Gone, or replaced by an inline value or another type, at the snapshot.
                other => return f(other.map(|m| self.string_reader(key, m))),
            };
            let version = m.version();
            let mut reader = self.string_reader(key, m);
            reader.snap = Some(snap);
            let out = f(Some(reader))?;
            let still = self.meta(key)?;
            if still.is_some_and(|m| m.is_fragmented() && m.version() == version) {
                return Ok(out);
            }
        }
        let _guard = self.lock(key);
        f(self.meta(key)?.map(|m| self.string_reader(key, m)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;
    use crate::storage::encoding::parse_data_key;
    use crate::storage::{Store, ValueType};
    use rand::rngs::StdRng;
    use rand::{Rng, SeedableRng};
    use std::sync::Arc;

    fn open(dir: &std::path::Path) -> Arc<Store> {
        let cfg = Config {
            dir: dir.to_path_buf(),
            ..Config::default()
        };
        Store::open(&cfg).expect("open store")
    }

    /// Applies one edit to `key` and commits it.
    fn edit(db: &Db<'_>, key: &[u8], f: impl FnOnce(&mut StrEdit)) {
        let raw = db.meta_raw(key).unwrap();
        let mut e = StrEdit::open(db, key, raw, crate::util::time::now_ms()).unwrap();
        f(&mut e);
        let mut batch = db.batch();
        e.commit(&mut batch);
        batch.commit().unwrap();
    }

    fn value(db: &Db<'_>, key: &[u8]) -> Vec<u8> {
        let meta = db.meta(key).unwrap().unwrap();
        db.string_value(key, meta).unwrap().to_vec()
    }

    /// (fragment number, stored length) of every `data` entry of `key`, any version.
    fn stored(store: &Store, key: &[u8]) -> Vec<(u64, u64, usize)> {
        let mut it = store.rocks().raw_iterator_cf(store.cf(CF_DATA));
        it.seek_to_first();
        let mut out = Vec::new();
        while let Some((k, v)) = it.item() {
            let p = parse_data_key(k).unwrap();
            if p.key == key {
                let n = u64::from_be_bytes(p.sub.try_into().unwrap());
                out.push((p.version, n, v.len()));
            }
            it.next();
        }
        out
    }

    #[test]
    fn edits_reads_and_fragments_match_a_model() {
        let dir = tempfile::tempdir().unwrap();
        let store = open(dir.path());
        let view = store.view();
        let db = view.db(0).unwrap();
        let mut rng = StdRng::seed_from_u64(11);
        let mut model: Vec<u8> = Vec::new();
        let key = b"k";
        let span = 6 * FRAGMENT_SIZE;
        for round in 0..400 {
            let off = rng.random_range(0..span);
            let len = match rng.random_range(0..4) {
                0 => rng.random_range(0..3),
                1 => rng.random_range(0..2 * FRAG),
                _ => rng.random_range(0..40),
            };
            // Mostly zeros, so fragments empty out and come back.
            let data: Vec<u8> = (0..len)
                .map(|_| {
                    if rng.random_bool(0.5) {
                        0
                    } else {
                        rng.random()
                    }
                })
                .collect();
            let grow_to = rng.random_bool(0.1).then(|| rng.random_range(0..span));
            edit(&db, key, |e| {
                // Reads inside an edit see the edit's own writes.
                e.write(&db, off, &data).unwrap();
                let mut back = vec![0u8; data.len()];
                e.read(&db, off, &mut back).unwrap();
                assert_eq!(back, data);
                if let Some(g) = grow_to {
                    e.grow(&db, g).unwrap();
                }
            });
            let end = off as usize + data.len();
            if model.len() < end {
                model.resize(end, 0);
            }
            model[off as usize..end].copy_from_slice(&data);
            if let Some(g) = grow_to {
                if model.len() < g as usize {
                    model.resize(g as usize, 0);
                }
            }
            let meta = db.meta(key).unwrap().unwrap();
            assert_eq!(meta.string_len(), model.len() as u64, "round {round}");
            assert_eq!(meta.is_fragmented(), model.len() as u64 > INLINE_MAX);
            assert_eq!(value(&db, key), model, "round {round}");
            // Ranges, fragment by fragment, and runs.
            let mut r = db.string_reader(key, meta.clone());
            for _ in 0..5 {
                let a = rng.random_range(0..=model.len() as u64 + 10);
                let b = rng.random_range(a..=a + 3 * FRAGMENT_SIZE);
                let want = &model[(a as usize).min(model.len())..(b as usize).min(model.len())];
                assert_eq!(r.read(a, b).unwrap(), want, "read {a}..{b}");
            }
            let mut r = db.string_reader(key, meta.clone());
            let mut joined = Vec::new();
            for n in 0..=fragment_of(model.len() as u64) {
                let (skip, run) = r.fragment(n).unwrap();
                let extent = (model.len() as u64)
                    .saturating_sub(n * FRAGMENT_SIZE)
                    .min(FRAGMENT_SIZE) as usize;
                assert!(skip + run.len() <= extent);
                let mut f = vec![0u8; extent];
                f[skip..skip + run.len()].copy_from_slice(run);
                joined.extend_from_slice(&f);
            }
            assert_eq!(joined, model);
            let mut rebuilt = vec![0u8; model.len()];
            let mut last = 0;
            db.string_reader(key, meta.clone())
                .visit(0, u64::MAX, |o, b| {
                    assert!(o >= last, "runs come in order");
                    rebuilt[o as usize..o as usize + b.len()].copy_from_slice(b);
                    last = o + b.len() as u64;
                    ControlFlow::Continue(())
                })
                .unwrap();
            assert_eq!(rebuilt, model);
            // Only non-zero fragments are stored, each without trailing zeros.
            if meta.is_fragmented() {
                for (v, n, len) in stored(&store, key) {
                    if v != meta.version() {
                        continue;
                    }
                    let s = (n * FRAGMENT_SIZE) as usize;
                    let frag = &model[s..(s + FRAG).min(model.len())];
                    let run = nonzero_run(frag).expect("only non-zero fragments are stored");
                    assert_eq!(len, FRAG_HEADER + run.1.len(), "fragment {n}");
                }
            }
        }
    }

    #[test]
    fn walks_over_hot_fragments_turn_to_point_reads() {
        let dir = tempfile::tempdir().unwrap();
        let store = open(dir.path());
        let view = store.view();
        let db = view.db(0).unwrap();
        let key = b"hot";
        let mut model = vec![0u8; 40 * FRAG];
        // Sparse: every third fragment stored, one of them rewritten many times (each a new
        // version in the memtable).
        for n in (0..40).step_by(3) {
            model[n * FRAG + 1] = n as u8 + 1;
        }
        edit(&db, key, |e| e.write(&db, 0, &model).unwrap());
        for i in 0..(2 * MAX_SKIPPED_VERSIONS as usize) {
            let at = 9 * FRAG + 5;
            model[at] = i as u8;
            edit(&db, key, |e| e.write(&db, at as u64, &[i as u8]).unwrap());
        }
        let meta = db.meta(key).unwrap().unwrap();
        let mut r = db.string_reader(key, meta.clone());
        let mut rebuilt = vec![0u8; model.len()];
        r.visit(0, u64::MAX, |o, b| {
            rebuilt[o as usize..o as usize + b.len()].copy_from_slice(b);
            ControlFlow::Continue(())
        })
        .unwrap();
        assert!(
            r.fell_back(),
            "the iterator should have given up on fragment 9"
        );
        assert_eq!(rebuilt, model);
        // Fragment by fragment (BITOP's walk), in order and then backwards.
        let mut r = db.string_reader(key, meta.clone());
        for n in (0..40u64).chain((0..40).rev()) {
            let s = n as usize * FRAG;
            let want = nonzero_run(&model[s..s + FRAG]).map_or((0, &[][..]), |(k, r)| (k, r));
            assert_eq!(r.fragment(n).unwrap(), want, "{n}");
        }
        let mut r = db.string_reader(key, meta);
        assert_eq!(
            r.read(9 * FRAG as u64, 12 * FRAG as u64).unwrap(),
            &model[9 * FRAG..12 * FRAG]
        );
        assert_eq!(r.into_bytes().unwrap(), model);
    }

    #[test]
    fn a_bit_near_4_gib_stores_one_fragment() {
        let dir = tempfile::tempdir().unwrap();
        let store = open(dir.path());
        let view = store.view();
        let db = view.db(0).unwrap();
        let last = (1u64 << 29) - 1;
        edit(&db, b"big", |e| e.write(&db, last, &[1]).unwrap());
        let meta = db.meta(b"big").unwrap().unwrap();
        assert!(meta.is_fragmented());
        assert_eq!(meta.string_len(), 1 << 29);
        let frags = stored(&store, b"big");
        // The fragment holds the one non-zero byte and its offset.
        assert_eq!(
            frags,
            vec![(meta.version(), fragment_of(last), FRAG_HEADER + 1)]
        );
        let mut r = db.string_reader(b"big", meta.clone());
        assert_eq!(r.read(last - 2, last + 5).unwrap(), vec![0, 0, 1]);
        assert_eq!(r.read(0, 3).unwrap(), vec![0, 0, 0]);
        let mut runs = 0;
        db.string_reader(b"big", meta)
            .visit(0, u64::MAX, |_, _| {
                runs += 1;
                ControlFlow::Continue(())
            })
            .unwrap();
        assert_eq!(runs, 1);
        // Clearing it again leaves no fragment at all.
        edit(&db, b"big", |e| e.write(&db, last, &[0]).unwrap());
        assert!(stored(&store, b"big").is_empty());
        assert_eq!(db.meta(b"big").unwrap().unwrap().string_len(), 1 << 29);
    }

    #[test]
    fn a_large_inline_value_converts_on_its_first_partial_write() {
        let dir = tempfile::tempdir().unwrap();
        let store = open(dir.path());
        let view = store.view();
        let db = view.db(0).unwrap();
        // Whole-value writes stay inline whatever the size (as SET stores them).
        let big: Vec<u8> = (0..3 * FRAG + 7).map(|i| (i % 251) as u8).collect();
        let mut b = db.batch();
        b.put_meta(0, b"s", None, &Meta::encode_string(&big, 0));
        b.commit().unwrap();
        assert!(!db.meta(b"s").unwrap().unwrap().is_fragmented());
        edit(&db, b"s", |e| {
            assert!(e.existed());
            e.write(&db, 1, b"xy").unwrap()
        });
        let mut want = big.clone();
        want[1..3].copy_from_slice(b"xy");
        let meta = db.meta(b"s").unwrap().unwrap();
        assert!(meta.is_fragmented());
        assert_eq!(value(&db, b"s"), want);
        assert_eq!(stored(&store, b"s").len(), 4);
        // A small value stays inline up to the limit, and converts past it.
        edit(&db, b"t", |e| e.write(&db, INLINE_MAX - 1, b"z").unwrap());
        assert!(!db.meta(b"t").unwrap().unwrap().is_fragmented());
        edit(&db, b"t", |e| e.write(&db, INLINE_MAX, b"!").unwrap());
        let t = db.meta(b"t").unwrap().unwrap();
        assert!(t.is_fragmented());
        assert_eq!(t.string_len(), INLINE_MAX + 1);
        let v = value(&db, b"t");
        assert_eq!(&v[INLINE_MAX as usize - 1..], b"z!");
        assert!(v[..INLINE_MAX as usize - 1].iter().all(|&b| b == 0));
    }

    #[test]
    fn an_edit_keeps_the_ttl_and_an_expired_value_reopens_empty() {
        let dir = tempfile::tempdir().unwrap();
        let store = open(dir.path());
        let view = store.view();
        let db = view.db(0).unwrap();
        let later = crate::util::time::now_ms() + 100_000;
        let mut b = db.batch();
        b.put_meta(0, b"k", None, &Meta::encode_fragmented(later, 5, 10_000));
        b.commit().unwrap();
        edit(&db, b"k", |e| e.write(&db, 20_000, b"a").unwrap());
        let m = db.meta(b"k").unwrap().unwrap();
        assert_eq!(
            (m.expire_at(), m.version(), m.string_len()),
            (later, 5, 20_001)
        );
        let past = crate::util::time::now_ms() - 1;
        let mut b = db.batch();
        b.put_meta(0, b"x", None, &Meta::encode_fragmented(past, 6, 10_000));
        b.commit().unwrap();
        edit(&db, b"x", |e| {
            assert!(!e.existed());
            e.write(&db, 0, b"q").unwrap()
        });
        let m = db.meta(b"x").unwrap().unwrap();
        assert_eq!((m.expire_at(), m.string_len()), (0, 1));
        assert!(!m.is_fragmented());
        assert_eq!(store.count(0), 2);
    }

    #[test]
    fn compaction_keeps_live_fragments_and_drops_stale_ones() {
        let dir = tempfile::tempdir().unwrap();
        let store = open(dir.path());
        let view = store.view();
        let db = view.db(0).unwrap();
        for key in [&b"live"[..], b"overwritten", b"deleted"] {
            edit(&db, key, |e| {
                e.write(&db, 3 * FRAGMENT_SIZE, b"data").unwrap();
                e.write(&db, 10, b"head").unwrap();
            });
        }
        let mut b = db.batch();
        let old = db.meta_raw(b"overwritten").unwrap();
        b.put_meta(
            0,
            b"overwritten",
            old.as_ref(),
            &Meta::encode_string(b"v", 0),
        );
        let old = db.meta_raw(b"deleted").unwrap().unwrap();
        b.delete_key(0, b"deleted", &old);
        b.commit().unwrap();
        store.rocks().flush_cf(store.cf(CF_DATA)).unwrap();
        store
            .rocks()
            .compact_range_cf::<&[u8], &[u8]>(store.cf(CF_DATA), None, None);
        let live = db.meta(b"live").unwrap().unwrap();
        assert_eq!(live.ty(), ValueType::String);
        assert_eq!(stored(&store, b"live").len(), 2);
        assert!(stored(&store, b"overwritten").is_empty());
        assert!(stored(&store, b"deleted").is_empty());
        let v = value(&db, b"live");
        assert_eq!(&v[10..14], b"head");
        assert_eq!(&v[3 * FRAG..], b"data");
    }

    #[test]
    fn fragmented_values_are_read_at_a_snapshot() {
        let dir = tempfile::tempdir().unwrap();
        let store = open(dir.path());
        let view = store.view();
        let db = view.db(0).unwrap();
        edit(&db, b"small", |e| e.write(&db, 0, b"x").unwrap());
        edit(&db, b"large", |e| {
            e.write(&db, 0, b"old").unwrap();
            e.write(&db, INLINE_MAX + 10, b"end").unwrap();
        });
        let read = |key: &[u8]| {
            db.read_string(key, |r| -> Result<_> {
                r.map(|mut r| r.read(0, 3)).transpose()
            })
            .unwrap()
        };
        assert_eq!(read(b"small"), Some(b"x".to_vec()));
        assert_eq!(read(b"missing"), None);
        // A write made while the reader runs is not seen by it, and does not make it retry
        // (the version is unchanged); a deletion does: the retry finds the key gone.
        let mut calls = 0;
        let got = db
            .read_string(b"large", |r| -> Result<_> {
                calls += 1;
                let mut r = r.expect("present");
                if calls == 1 {
                    edit(&db, b"large", |e| e.write(&db, 0, b"new").unwrap());
                }
                r.read(0, 3)
            })
            .unwrap();
        assert_eq!((got, calls), (b"old".to_vec(), 1));
        let mut calls = 0;
        let got = db
            .read_string(b"large", |r| -> Result<_> {
                calls += 1;
                if calls == 1 {
                    let old = db.meta_raw(b"large").unwrap().unwrap();
                    let mut b = db.batch();
                    b.delete_key(0, b"large", &old);
                    b.commit().unwrap();
                }
                r.map(|mut r| r.read(0, 3)).transpose()
            })
            .unwrap();
        assert_eq!((got, calls), (None, 2));
    }
}
