//! Streams between storage and the RDB model: [`StreamLoad`] stores the entries, groups,
//! consumers and pending entries the RDB reader decodes (RESTORE, `basalt-rdb import`), and
//! [`write_stream`] streams a stored stream to the RDB writer in Redis's listpack nodes (DUMP,
//! `basalt-rdb export`).
//!
//! The writer needs the number of nodes before the first node, and the nodes are only known by
//! packing the entries, so the entries are walked twice (once to count the nodes, once to write
//! them): memory stays at one node (about 4 KB) whatever the stream's length.

use super::layout::{
    self, after_prefix, consumer_sub, cpel_prefix, cpel_sub, encode_fields, for_each_field,
    group_range, group_sub, pel_sub, ConsumerRec, GroupRec, Header, PelRec, INVALID_ENTRIES_READ,
    TAG_CONSUMER, TAG_ENTRY, TAG_GROUP, TAG_PEL,
};
use super::{encode_meta, id, StreamId};
use crate::rdb::stream::NodePacker;
use crate::rdb::writer::StreamHeader;
use crate::rdb::{StreamEntry, StreamMeta, Writer};
use crate::storage::subkeys::{sub_key, SubCf};
use crate::storage::{Batch, Db, Meta, StoreError};
use crate::types::rdb::KeyIoError;
use std::collections::{HashMap, HashSet};
use std::io::Write;

fn invalid(what: &'static str) -> KeyIoError {
    KeyIoError::Invalid(what)
}

/// A stream being loaded: its entries arrive in chunks, then its metadata.
#[derive(Default)]
pub struct StreamLoad {
    count: u64,
    first: Option<StreamId>,
    last: Option<StreamId>,
    /// Set once the metadata arrived: the header and the length to store.
    header: Option<Header>,
}

impl StreamLoad {
    /// Entries loaded so far.
    pub fn count(&self) -> u64 {
        self.count
    }

    /// Whether the whole stream (its metadata, which comes last) has been loaded.
    pub fn complete(&self) -> bool {
        self.header.is_some()
    }

    /// Writes one chunk of entries, which must come in increasing ID order.
    pub fn entries(
        &mut self,
        batch: &mut Batch<'_>,
        phys: u8,
        key: &[u8],
        version: u64,
        entries: Vec<StreamEntry>,
    ) -> Result<(), KeyIoError> {
        if self.header.is_some() {
            return Err(invalid("stream entries after the stream's metadata"));
        }
        let mut full = sub_key(phys, key, version, &[]);
        let prefix_len = full.len();
        for e in entries {
            if self.last.is_some_and(|l| e.id <= l) {
                return Err(invalid("stream entries out of order"));
            }
            if e.fields.is_empty() {
                return Err(invalid("a stream entry without fields"));
            }
            let flat: Vec<&[u8]> = e
                .fields
                .iter()
                .flat_map(|(f, v)| [f.as_slice(), v.as_slice()])
                .collect();
            full.truncate(prefix_len);
            full.extend_from_slice(&layout::entry_sub(e.id));
            batch.put_sub_raw(SubCf::Data, phys, key, &full, &encode_fields(&flat));
            self.first.get_or_insert(e.id);
            self.last = Some(e.id);
            self.count += 1;
        }
        Ok(())
    }

    /// Writes the stream's groups, consumers and pending entries from its metadata, after
    /// Redis's checks (each pending entry owned by exactly one consumer of its group).
    pub fn meta(
        &mut self,
        batch: &mut Batch<'_>,
        phys: u8,
        key: &[u8],
        version: u64,
        meta: &StreamMeta,
    ) -> Result<(), KeyIoError> {
        if self.header.is_some() {
            return Err(invalid("a stream with two metadata records"));
        }
        if meta.length != self.count {
            return Err(invalid("a stream length that does not match its entries"));
        }
        if self.last.is_some_and(|l| meta.last_id < l) {
            return Err(invalid("a stream last ID below its last entry"));
        }
        let mut h = Header {
            last_id: meta.last_id,
            first_id: self.first.or(meta.first_id).unwrap_or(id::MIN),
            max_deleted: meta.max_deleted_id.unwrap_or(id::MIN),
            // Files from before Redis 7.0 do not count: all entries ever added are still here.
            entries_added: meta.entries_added.unwrap_or(self.count),
            groups: meta.groups.len() as u64,
            next_gid: meta.groups.len() as u64,
        };
        if self.count == 0 {
            h.first_id = meta.first_id.unwrap_or(id::MIN);
        }
        let put = |batch: &mut Batch<'_>, sub: &[u8], value: &[u8]| {
            batch.put_sub(SubCf::Data, phys, key, version, sub, value)
        };
        let mut names = HashSet::new();
        for (gid, g) in meta.groups.iter().enumerate() {
            let gid = gid as u64;
            if !names.insert(g.name.as_slice()) {
                return Err(invalid("a duplicated consumer group name"));
            }
            let entries_read = match g.entries_read {
                // Redis writes -1 (unknown) as an unsigned length.
                Some(n) => n as i64,
                None => super::groups::estimate_for_load(&h, self.count, g.last_id),
            };
            let mut owner: HashMap<StreamId, usize> = HashMap::with_capacity(g.pending.len());
            let mut consumer_names = HashSet::new();
            for (i, c) in g.consumers.iter().enumerate() {
                if !consumer_names.insert(c.name.as_slice()) {
                    return Err(invalid("a duplicated consumer name"));
                }
                for &id in &c.pending {
                    if owner.insert(id, i).is_some() {
                        return Err(invalid("a pending entry owned by two consumers"));
                    }
                }
            }
            let mut seen = HashSet::with_capacity(g.pending.len());
            for p in &g.pending {
                if !seen.insert(p.id) {
                    return Err(invalid("a duplicated pending entry"));
                }
                let Some(&i) = owner.get(&p.id) else {
                    return Err(invalid("a pending entry without a consumer"));
                };
                let rec = PelRec {
                    delivery_time: p.delivery_time_ms,
                    delivery_count: p.delivery_count,
                    consumer: g.consumers[i].name.clone(),
                };
                put(batch, &pel_sub(gid, p.id), &rec.encode());
            }
            if owner.len() != seen.len() {
                return Err(invalid("a consumer's pending entry missing from its group"));
            }
            for c in &g.consumers {
                let rec = ConsumerRec {
                    seen_time: c.seen_time_ms,
                    pel_count: c.pending.len() as u64,
                };
                put(batch, &consumer_sub(gid, &c.name), &rec.encode());
                for &id in &c.pending {
                    put(batch, &cpel_sub(gid, &c.name, id), b"");
                }
            }
            let rec = GroupRec {
                gid,
                last_id: g.last_id,
                entries_read,
                pel_count: g.pending.len() as u64,
                consumers: g.consumers.len() as u64,
            };
            put(batch, &group_sub(&g.name), &rec.encode());
        }
        self.header = Some(h);
        Ok(())
    }

    /// The metadata to store, once the stream is complete.
    pub fn meta_bytes(&self, expire_at: u64, version: u64) -> Option<Vec<u8>> {
        self.header
            .as_ref()
            .map(|h| encode_meta(expire_at, version, self.count, h))
    }
}

fn corrupt(what: &'static str) -> KeyIoError {
    KeyIoError::Store(StoreError::Corrupt(what))
}

/// Walks a stream version's entries once, handing each to the packer; calls `node` with every
/// node the packer closes.
fn pack_entries(
    db: &Db<'_>,
    key: &[u8],
    version: u64,
    mut node: impl FnMut(StreamId, Vec<u8>) -> Result<(), KeyIoError>,
) -> Result<u64, KeyIoError> {
    let mut packer = NodePacker::new();
    let mut it = db.iter_subs_between(
        SubCf::Data,
        key,
        version,
        &[TAG_ENTRY],
        &[TAG_ENTRY + 1],
        false,
    );
    let mut entries = 0u64;
    while let Some((sub, value)) = it.next()? {
        let id =
            layout::id_from(&sub[1.min(sub.len())..]).ok_or_else(|| corrupt("stream entry key"))?;
        let mut flat: Vec<&[u8]> = Vec::new();
        if !for_each_field(value, |f, v| {
            flat.push(f);
            flat.push(v);
        }) {
            return Err(corrupt("stream entry value"));
        }
        if let Some((master, lp)) = packer.push(id, &flat) {
            node(master, lp)?;
        }
        entries += 1;
    }
    if let Some((master, lp)) = packer.finish() {
        node(master, lp)?;
    }
    Ok(entries)
}

/// Streams the stream `key` (live metadata `meta`) to `w`: its entries in listpack nodes, then
/// its metadata, groups, their PELs and consumers. The caller holds the key lock when others
/// may write (the entries are walked twice).
pub fn write_stream<W: Write>(
    db: &Db<'_>,
    key: &[u8],
    meta: &Meta,
    expire_ms: Option<i64>,
    w: &mut Writer<W>,
) -> Result<(), KeyIoError> {
    let h = Header::decode(meta.extra())
        .ok_or_else(|| corrupt("stream metadata without its header"))?;
    let version = meta.version();
    let mut nodes = 0u64;
    pack_entries(db, key, version, |_, _| {
        nodes += 1;
        Ok(())
    })?;
    w.begin_stream(key, expire_ms, nodes)?;
    let mut written = 0u64;
    let entries = pack_entries(db, key, version, |master, lp| {
        written += 1;
        if written > nodes {
            return Err(corrupt("stream changed while it was written"));
        }
        Ok(w.stream_node(master, &lp)?)
    })?;
    if written != nodes || entries != meta.count() {
        return Err(corrupt("stream length does not match its entries"));
    }
    w.stream_meta(&StreamHeader {
        length: meta.count(),
        last_id: h.last_id,
        first_id: h.first_id,
        max_deleted: h.max_deleted,
        entries_added: h.entries_added,
        groups: h.groups,
    })?;
    let walk = |lower: &[u8], upper: &[u8]| {
        db.iter_subs_between(SubCf::Data, key, version, lower, upper, false)
    };
    let trailing = |sub: &[u8]| {
        sub.len()
            .checked_sub(16)
            .and_then(|at| layout::id_from(&sub[at..]))
            .ok_or_else(|| corrupt("stream pending entry key"))
    };
    let mut groups = 0u64;
    let mut it = walk(&[TAG_GROUP], &[TAG_GROUP + 1]);
    while let Some((sub, value)) = it.next()? {
        let g = GroupRec::decode(value).ok_or_else(|| corrupt("stream group record"))?;
        groups += 1;
        if groups > h.groups {
            return Err(corrupt("more stream groups than counted"));
        }
        let entries_read = if g.entries_read < 0 {
            INVALID_ENTRIES_READ
        } else {
            g.entries_read
        };
        w.stream_group(&sub[1..], g.last_id, entries_read, g.pel_count)?;
        let lower = group_range(TAG_PEL, g.gid);
        let mut pel = walk(&lower, &after_prefix(&lower));
        let mut n = 0u64;
        while let Some((psub, pvalue)) = pel.next()? {
            let p = PelRec::decode(pvalue).ok_or_else(|| corrupt("stream pending entry"))?;
            n += 1;
            if n > g.pel_count {
                return Err(corrupt("more pending entries than counted"));
            }
            w.stream_pel_entry(trailing(psub)?, p.delivery_time, p.delivery_count)?;
        }
        if n != g.pel_count {
            return Err(corrupt("fewer pending entries than counted"));
        }
        w.stream_consumers(g.consumers)?;
        let lower = group_range(TAG_CONSUMER, g.gid);
        let mut consumers = walk(&lower, &after_prefix(&lower));
        let mut seen = 0u64;
        while let Some((csub, cvalue)) = consumers.next()? {
            let c = ConsumerRec::decode(cvalue).ok_or_else(|| corrupt("stream consumer record"))?;
            let name = &csub[lower.len()..];
            seen += 1;
            if seen > g.consumers {
                return Err(corrupt("more consumers than counted"));
            }
            w.stream_consumer(name, c.seen_time, c.pel_count)?;
            let prefix = cpel_prefix(g.gid, name);
            let mut owned = walk(&prefix, &after_prefix(&prefix));
            let mut k = 0u64;
            while let Some((osub, _)) = owned.next()? {
                k += 1;
                if k > c.pel_count {
                    return Err(corrupt("more consumer pending entries than counted"));
                }
                w.stream_consumer_pel(trailing(osub)?)?;
            }
            if k != c.pel_count {
                return Err(corrupt("fewer consumer pending entries than counted"));
            }
        }
        if seen != g.consumers {
            return Err(corrupt("fewer consumers than counted"));
        }
    }
    if groups != h.groups {
        return Err(corrupt("fewer stream groups than counted"));
    }
    Ok(w.end()?)
}
