//! How a stream is laid out in storage: the fields after the collection header in its
//! metadata, the tagged sub-keys under its version in `data`, and the values they hold.
//!
//! | sub-key (after `db · keylen · key · version`) | value |
//! |---|---|
//! | `1 · ms · seq` (an entry) | field count, then each field and value, all varint-length prefixed |
//! | `2 · group name` | [`GroupRec`]: gid, last delivered ID, entries read, PEL size, consumer count |
//! | `3 · gid · consumer name` | [`ConsumerRec`]: seen time, PEL size |
//! | `4 · gid · ms · seq` (the group's PEL) | [`PelRec`]: delivery time, delivery count, owner's name |
//! | `5 · gid · namelen(u32) · consumer name · ms · seq` (a consumer's PEL) | empty |
//!
//! Integers are big-endian (IDs sort as Redis compares them). A group gets a number (`gid`)
//! from a counter in the stream's metadata when it is created, never reused within the stream,
//! so each group's consumers and PELs are contiguous ranges that XGROUP DESTROY removes with
//! range deletions, and a group created again under the same name starts empty.

use crate::rdb::StreamId;
use crate::storage::encoding::read_u64;
use bytes::Bytes;

/// Tag of an entry's sub-key.
pub(super) const TAG_ENTRY: u8 = 1;
/// Tag of a group record.
pub(super) const TAG_GROUP: u8 = 2;
/// Tag of a consumer record.
pub(super) const TAG_CONSUMER: u8 = 3;
/// Tag of a group PEL entry.
pub(super) const TAG_PEL: u8 = 4;
/// Tag of a consumer PEL index entry.
pub(super) const TAG_CPEL: u8 = 5;

/// The ID as 16 big-endian bytes (Redis's `streamEncodeID`).
pub fn id_bytes(id: StreamId) -> [u8; 16] {
    let mut b = [0u8; 16];
    b[..8].copy_from_slice(&id.ms.to_be_bytes());
    b[8..].copy_from_slice(&id.seq.to_be_bytes());
    b
}

/// The ID in 16 big-endian bytes; None when `b` is shorter.
pub fn id_from(b: &[u8]) -> Option<StreamId> {
    let b = b.get(..16)?;
    Some(StreamId {
        ms: read_u64(&b[..8]),
        seq: read_u64(&b[8..]),
    })
}

/// `1 · id`: an entry.
pub(super) fn entry_sub(id: StreamId) -> [u8; 17] {
    let mut k = [0u8; 17];
    k[0] = TAG_ENTRY;
    k[1..].copy_from_slice(&id_bytes(id));
    k
}

/// `2 · name`: a group record.
pub(super) fn group_sub(name: &[u8]) -> Vec<u8> {
    let mut k = Vec::with_capacity(1 + name.len());
    k.push(TAG_GROUP);
    k.extend_from_slice(name);
    k
}

/// `tag · gid`: where a group's consumers (3), PEL (4) or consumer PELs (5) begin.
pub(super) fn group_range(tag: u8, gid: u64) -> [u8; 9] {
    let mut k = [0u8; 9];
    k[0] = tag;
    k[1..].copy_from_slice(&gid.to_be_bytes());
    k
}

/// `3 · gid · name`: a consumer record.
pub(super) fn consumer_sub(gid: u64, name: &[u8]) -> Vec<u8> {
    let mut k = Vec::with_capacity(9 + name.len());
    k.extend_from_slice(&group_range(TAG_CONSUMER, gid));
    k.extend_from_slice(name);
    k
}

/// `4 · gid · id`: a group PEL entry.
pub(super) fn pel_sub(gid: u64, id: StreamId) -> [u8; 25] {
    let mut k = [0u8; 25];
    k[..9].copy_from_slice(&group_range(TAG_PEL, gid));
    k[9..].copy_from_slice(&id_bytes(id));
    k
}

/// `5 · gid · namelen · name`: where a consumer's own PEL index begins.
pub(super) fn cpel_prefix(gid: u64, consumer: &[u8]) -> Vec<u8> {
    let mut k = Vec::with_capacity(13 + consumer.len() + 16);
    k.extend_from_slice(&group_range(TAG_CPEL, gid));
    k.extend_from_slice(&(consumer.len() as u32).to_be_bytes());
    k.extend_from_slice(consumer);
    k
}

/// `5 · gid · namelen · name · id`: an entry of a consumer's PEL index.
pub(super) fn cpel_sub(gid: u64, consumer: &[u8], id: StreamId) -> Vec<u8> {
    let mut k = cpel_prefix(gid, consumer);
    k.extend_from_slice(&id_bytes(id));
    k
}

/// `prefix` followed by `id`.
pub(super) fn with_id(prefix: &[u8], id: StreamId) -> Vec<u8> {
    let mut k = Vec::with_capacity(prefix.len() + 16);
    k.extend_from_slice(prefix);
    k.extend_from_slice(&id_bytes(id));
    k
}

/// The smallest sub-key after every sub-key starting with `prefix` (prefixes here always end
/// below 0xff somewhere: they start with a tag).
pub(super) fn after_prefix(prefix: &[u8]) -> Vec<u8> {
    crate::storage::encoding::prefix_end(prefix).unwrap_or_else(|| vec![0xff; prefix.len() + 1])
}

/// The stream's own fields, after the collection header in its metadata.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Header {
    /// The last ID generated or set (XADD, XSETID); entries never go at or below it.
    pub last_id: StreamId,
    /// The first entry's ID (0-0 when empty), Redis's `recorded-first-entry-id`.
    pub first_id: StreamId,
    /// The greatest ID ever removed by XDEL.
    pub max_deleted: StreamId,
    /// Entries ever added (XADD), or as set by XSETID.
    pub entries_added: u64,
    /// Number of consumer groups.
    pub groups: u64,
    /// The number the next group created gets.
    pub next_gid: u64,
}

/// Bytes of an encoded [`Header`].
pub const HEADER_LEN: usize = 72;

impl Header {
    /// The stored bytes.
    pub fn encode(&self) -> [u8; HEADER_LEN] {
        let mut b = [0u8; HEADER_LEN];
        b[..16].copy_from_slice(&id_bytes(self.last_id));
        b[16..32].copy_from_slice(&id_bytes(self.first_id));
        b[32..48].copy_from_slice(&id_bytes(self.max_deleted));
        b[48..56].copy_from_slice(&self.entries_added.to_be_bytes());
        b[56..64].copy_from_slice(&self.groups.to_be_bytes());
        b[64..72].copy_from_slice(&self.next_gid.to_be_bytes());
        b
    }

    /// Reads the stored bytes; None when they are too short.
    pub fn decode(b: &[u8]) -> Option<Header> {
        let b = b.get(..HEADER_LEN)?;
        Some(Header {
            last_id: id_from(&b[..16])?,
            first_id: id_from(&b[16..32])?,
            max_deleted: id_from(&b[32..48])?,
            entries_added: read_u64(&b[48..56]),
            groups: read_u64(&b[56..64]),
            next_gid: read_u64(&b[64..72]),
        })
    }
}

/// Redis's marker for a group whose entries-read counter is unknown (`SCG_INVALID_ENTRIES_READ`).
pub const INVALID_ENTRIES_READ: i64 = -1;

/// A consumer group's record.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GroupRec {
    pub gid: u64,
    pub last_id: StreamId,
    /// [`INVALID_ENTRIES_READ`] when unknown.
    pub entries_read: i64,
    pub pel_count: u64,
    pub consumers: u64,
}

impl GroupRec {
    /// The stored bytes.
    pub fn encode(&self) -> [u8; 48] {
        let mut b = [0u8; 48];
        b[..8].copy_from_slice(&self.gid.to_be_bytes());
        b[8..24].copy_from_slice(&id_bytes(self.last_id));
        b[24..32].copy_from_slice(&self.entries_read.to_be_bytes());
        b[32..40].copy_from_slice(&self.pel_count.to_be_bytes());
        b[40..48].copy_from_slice(&self.consumers.to_be_bytes());
        b
    }

    /// Reads the stored bytes; None when they are too short.
    pub fn decode(b: &[u8]) -> Option<GroupRec> {
        let b = b.get(..48)?;
        Some(GroupRec {
            gid: read_u64(&b[..8]),
            last_id: id_from(&b[8..24])?,
            entries_read: read_u64(&b[24..32]) as i64,
            pel_count: read_u64(&b[32..40]),
            consumers: read_u64(&b[40..48]),
        })
    }
}

/// A consumer's record.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ConsumerRec {
    /// When the consumer last read or claimed (Unix ms), for XINFO's `idle` and `seen-time`.
    pub seen_time: u64,
    pub pel_count: u64,
}

impl ConsumerRec {
    /// The stored bytes.
    pub fn encode(&self) -> [u8; 16] {
        let mut b = [0u8; 16];
        b[..8].copy_from_slice(&self.seen_time.to_be_bytes());
        b[8..].copy_from_slice(&self.pel_count.to_be_bytes());
        b
    }

    /// Reads the stored bytes; None when they are too short.
    pub fn decode(b: &[u8]) -> Option<ConsumerRec> {
        let b = b.get(..16)?;
        Some(ConsumerRec {
            seen_time: read_u64(&b[..8]),
            pel_count: read_u64(&b[8..]),
        })
    }
}

/// A pending entry of a group: delivered to `consumer`, not acknowledged yet.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PelRec {
    /// Unix ms of the last delivery.
    pub delivery_time: u64,
    pub delivery_count: u64,
    pub consumer: Vec<u8>,
}

impl PelRec {
    /// The stored bytes.
    pub fn encode(&self) -> Vec<u8> {
        let mut b = Vec::with_capacity(16 + self.consumer.len());
        b.extend_from_slice(&self.delivery_time.to_be_bytes());
        b.extend_from_slice(&self.delivery_count.to_be_bytes());
        b.extend_from_slice(&self.consumer);
        b
    }

    /// Reads the stored bytes; None when they are too short.
    pub fn decode(b: &[u8]) -> Option<PelRec> {
        if b.len() < 16 {
            return None;
        }
        Some(PelRec {
            delivery_time: read_u64(&b[..8]),
            delivery_count: read_u64(&b[8..16]),
            consumer: b[16..].to_vec(),
        })
    }
}

fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push(v as u8 | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn get_varint(b: &[u8], pos: &mut usize) -> Option<u64> {
    let mut v = 0u64;
    for shift in (0..64).step_by(7) {
        let byte = *b.get(*pos)?;
        *pos += 1;
        v |= u64::from(byte & 0x7f) << shift;
        if byte & 0x80 == 0 {
            return Some(v);
        }
    }
    None
}

/// Encodes an entry's fields, given as field, value, field, value...
pub fn encode_fields<T: AsRef<[u8]>>(flat: &[T]) -> Vec<u8> {
    let bytes: usize = flat.iter().map(|f| f.as_ref().len() + 2).sum();
    let mut out = Vec::with_capacity(bytes + 2);
    put_varint(&mut out, (flat.len() / 2) as u64);
    for f in flat {
        put_varint(&mut out, f.as_ref().len() as u64);
        out.extend_from_slice(f.as_ref());
    }
    out
}

/// Decodes an entry's fields into field, value, ... slices of one shared buffer (one
/// allocation per entry, whatever its number of fields).
pub fn decode_fields(value: &[u8]) -> Option<Vec<Bytes>> {
    let buf = Bytes::copy_from_slice(value);
    let mut pos = 0;
    let n = usize::try_from(get_varint(&buf, &mut pos)?).ok()?;
    // Every field takes at least one byte: a count beyond the bytes is corrupt.
    if n > buf.len() {
        return None;
    }
    let mut out = Vec::with_capacity(n * 2);
    for _ in 0..n * 2 {
        let len = usize::try_from(get_varint(&buf, &mut pos)?).ok()?;
        let end = pos.checked_add(len).filter(|&e| e <= buf.len())?;
        out.push(buf.slice(pos..end));
        pos = end;
    }
    (pos == buf.len()).then_some(out)
}

/// Calls `f` with each field and value of an encoded entry, without copying; false if the
/// value is corrupt.
pub fn for_each_field<'v>(value: &'v [u8], mut f: impl FnMut(&'v [u8], &'v [u8])) -> bool {
    let mut pos = 0;
    let Some(n) = get_varint(value, &mut pos) else {
        return false;
    };
    let take = |pos: &mut usize| -> Option<&'v [u8]> {
        let len = usize::try_from(get_varint(value, pos)?).ok()?;
        let end = pos.checked_add(len).filter(|&e| e <= value.len())?;
        let s = &value[*pos..end];
        *pos = end;
        Some(s)
    };
    for _ in 0..n {
        let (Some(k), Some(v)) = (take(&mut pos), take(&mut pos)) else {
            return false;
        };
        f(k, v);
    }
    pos == value.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(ms: u64, seq: u64) -> StreamId {
        StreamId { ms, seq }
    }

    #[test]
    fn ids_sort_as_redis_compares_them() {
        let ids = [
            id(0, 1),
            id(0, u64::MAX),
            id(1, 0),
            id(u64::MAX, 0),
            id(u64::MAX, u64::MAX),
        ];
        for w in ids.windows(2) {
            assert!(w[0] < w[1]);
            assert!(entry_sub(w[0]) < entry_sub(w[1]));
            assert!(pel_sub(7, w[0]) < pel_sub(7, w[1]));
        }
        assert_eq!(id_from(&id_bytes(id(5, 9))), Some(id(5, 9)));
        assert_eq!(id_from(&[0; 15]), None);
    }

    #[test]
    fn tags_keep_each_kind_contiguous() {
        // Every entry sorts before every group record, every group's ranges are disjoint.
        assert!(entry_sub(id(u64::MAX, u64::MAX)).as_slice() < group_sub(b"").as_slice());
        assert!(group_sub(&[0xff; 40]).as_slice() < consumer_sub(0, b"").as_slice());
        assert!(consumer_sub(1, &[0xff; 9]) < consumer_sub(2, b""));
        assert!(pel_sub(1, id(u64::MAX, u64::MAX)) < pel_sub(2, id(0, 0)));
        // A consumer named "a" never sees "ab"'s PEL entries: the length is part of the prefix.
        let a = cpel_sub(1, b"a", id(0x6200, 0));
        assert!(!a.starts_with(&cpel_prefix(1, b"ab")));
        assert!(cpel_sub(1, b"ab", id(0, 0)).starts_with(&cpel_prefix(1, b"ab")));
        assert_eq!(after_prefix(&[3, 0xff]), vec![4]);
    }

    #[test]
    fn records_round_trip() {
        let h = Header {
            last_id: id(1, 2),
            first_id: id(3, 4),
            max_deleted: id(5, 6),
            entries_added: 7,
            groups: 8,
            next_gid: 9,
        };
        assert_eq!(Header::decode(&h.encode()), Some(h));
        assert_eq!(Header::decode(&h.encode()[..71]), None);
        let g = GroupRec {
            gid: 1,
            last_id: id(2, 3),
            entries_read: INVALID_ENTRIES_READ,
            pel_count: 4,
            consumers: 5,
        };
        assert_eq!(GroupRec::decode(&g.encode()), Some(g));
        let c = ConsumerRec {
            seen_time: 10,
            pel_count: 11,
        };
        assert_eq!(ConsumerRec::decode(&c.encode()), Some(c));
        let p = PelRec {
            delivery_time: 12,
            delivery_count: 13,
            consumer: b"bob".to_vec(),
        };
        assert_eq!(PelRec::decode(&p.encode()), Some(p));
        assert_eq!(PelRec::decode(&[0; 15]), None);
    }

    #[test]
    fn fields_round_trip_and_corruption_is_caught() {
        let long = vec![b'x'; 300];
        let flat: Vec<&[u8]> = vec![b"f", b"", b"", &long, b"k", b"v"];
        let enc = encode_fields(&flat);
        let dec = decode_fields(&enc).unwrap();
        assert_eq!(dec.iter().map(|b| &b[..]).collect::<Vec<_>>(), flat);
        let mut seen = Vec::new();
        assert!(for_each_field(&enc, |k, v| seen.push((k.to_vec(), v.to_vec()))));
        assert_eq!(seen.len(), 3);
        assert!(decode_fields(&enc[..enc.len() - 1]).is_none());
        assert!(decode_fields(&[200]).is_none());
        let mut trailing = enc.clone();
        trailing.push(0);
        assert!(decode_fields(&trailing).is_none());
        assert!(!for_each_field(&trailing, |_, _| {}));
        // A huge declared count allocates nothing.
        assert!(decode_fields(&[0xff, 0xff, 0xff, 0xff, 0x0f]).is_none());
    }
}
