//! Stream entries packed into Redis's listpack nodes (t_stream.c, `streamAppendItem`), for RDB
//! export and DUMP.
//!
//! A node is a listpack: a master entry (live count, deleted count, the field names of the
//! node's first entry, a 0 terminator), then per entry its flags, the milliseconds and
//! sequence deltas from the node's master ID, either its values alone (when its fields are the
//! master's: `SAMEFIELDS`) or its field count and field/value pairs, and a back-pointer count.
//! A node is closed as Redis 7.0 closes it with its defaults: at 100 entries, or when the next
//! entry would take it to 4096 bytes (`stream-node-max-entries`, `stream-node-max-bytes`).
//! Redis loads nodes of any size, so these limits only keep the nodes Redis-sized.

use super::listpack;
use super::StreamId;

/// `stream-node-max-entries` default.
pub const NODE_MAX_ENTRIES: u64 = 100;
/// `stream-node-max-bytes` default.
pub const NODE_MAX_BYTES: usize = 4096;

const FLAG_SAMEFIELDS: i64 = 2;

/// One element of a node's listpack, kept until the node is finished (the master entry's
/// count, which comes first, is known only then).
enum Elem {
    Int(i64),
    Bytes(Vec<u8>),
}

/// A node being filled.
struct Node {
    master: StreamId,
    fields: Vec<Vec<u8>>,
    entries: u64,
    body: Vec<Elem>,
    /// The listpack's size so far, to apply the byte limit (master entry and body).
    sizer: listpack::Writer,
}

/// Packs entries, in ID order, into listpack nodes.
#[derive(Default)]
pub struct NodePacker {
    node: Option<Node>,
}

impl NodePacker {
    /// A packer with no node started.
    pub fn new() -> NodePacker {
        NodePacker::default()
    }

    /// Adds an entry (`flat`: field, value, field, value...). Returns the node it closed, if
    /// the entry starts a new one: its master ID and listpack.
    pub fn push<T: AsRef<[u8]>>(
        &mut self,
        id: StreamId,
        flat: &[T],
    ) -> Option<(StreamId, Vec<u8>)> {
        let element_bytes: usize = flat.iter().map(|f| f.as_ref().len()).sum();
        let full = self.node.as_ref().is_some_and(|n| {
            n.sizer.bytes_len() + element_bytes >= NODE_MAX_BYTES || n.entries >= NODE_MAX_ENTRIES
        });
        let closed = if full { self.finish() } else { None };
        let node = self.node.get_or_insert_with(|| {
            let fields: Vec<Vec<u8>> = flat
                .iter()
                .step_by(2)
                .map(|f| f.as_ref().to_vec())
                .collect();
            let mut sizer = listpack::Writer::new();
            // The master entry; its count (1..=100) always takes the one-byte encoding.
            sizer.push_int(1);
            sizer.push_int(0);
            sizer.push_int(fields.len() as i64);
            for f in &fields {
                sizer.push_bytes(f);
            }
            sizer.push_int(0);
            Node {
                master: id,
                fields,
                entries: 0,
                body: Vec::new(),
                sizer,
            }
        });
        let n = flat.len() / 2;
        let same = n == node.fields.len()
            && flat
                .iter()
                .step_by(2)
                .zip(&node.fields)
                .all(|(f, m)| f.as_ref() == m.as_slice());
        let add = |node: &mut Node, e: Elem| {
            match &e {
                Elem::Int(v) => node.sizer.push_int(*v),
                Elem::Bytes(b) => node.sizer.push_bytes(b),
            }
            node.body.push(e);
        };
        add(node, Elem::Int(if same { FLAG_SAMEFIELDS } else { 0 }));
        // Redis stores the unsigned differences as int64 (wrapping).
        add(node, Elem::Int(id.ms.wrapping_sub(node.master.ms) as i64));
        add(node, Elem::Int(id.seq.wrapping_sub(node.master.seq) as i64));
        if !same {
            add(node, Elem::Int(n as i64));
        }
        for (i, f) in flat.iter().enumerate() {
            if same && i % 2 == 0 {
                continue;
            }
            add(node, Elem::Bytes(f.as_ref().to_vec()));
        }
        let mut lp_count = n as i64 + 3;
        if !same {
            lp_count += n as i64 + 1;
        }
        add(node, Elem::Int(lp_count));
        node.entries += 1;
        closed
    }

    /// Closes the node being filled, if any: its master ID and listpack.
    pub fn finish(&mut self) -> Option<(StreamId, Vec<u8>)> {
        let node = self.node.take()?;
        let mut lp = listpack::Writer::new();
        lp.push_int(node.entries as i64);
        lp.push_int(0);
        lp.push_int(node.fields.len() as i64);
        for f in &node.fields {
            lp.push_bytes(f);
        }
        lp.push_int(0);
        for e in node.body {
            match e {
                Elem::Int(v) => lp.push_int(v),
                Elem::Bytes(b) => lp.push_bytes(&b),
            }
        }
        Some((node.master, lp.finish()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(ms: u64, seq: u64) -> StreamId {
        StreamId { ms, seq }
    }

    #[test]
    fn nodes_close_at_100_entries_and_compress_same_fields() {
        let mut p = NodePacker::new();
        let mut nodes = Vec::new();
        for i in 0..250u64 {
            let f: Vec<&[u8]> = if i % 7 == 3 {
                vec![b"other", b"x"]
            } else {
                vec![b"f", b"v"]
            };
            nodes.extend(p.push(id(1000 + i, 0), &f));
        }
        nodes.extend(p.finish());
        assert_eq!(nodes.len(), 3);
        assert_eq!(nodes[0].0, id(1000, 0));
        assert_eq!(nodes[1].0, id(1100, 0));
        assert_eq!(nodes[2].0, id(1200, 0));
        // The reader's decoder gets the entries back.
        let items = listpack::items(&nodes[0].1).unwrap();
        assert_eq!(items[0], listpack::Item::Int(100));
        assert_eq!(items[1], listpack::Item::Int(0));
        assert_eq!(items[2], listpack::Item::Int(1));
        assert_eq!(items[3], listpack::Item::Str(b"f"));
        assert_eq!(items[4], listpack::Item::Int(0));
        // First entry: SAMEFIELDS, deltas 0, the value, lp-count 1 + 3.
        assert_eq!(
            &items[5..10],
            &[
                listpack::Item::Int(2),
                listpack::Item::Int(0),
                listpack::Item::Int(0),
                listpack::Item::Str(b"v"),
                listpack::Item::Int(4)
            ]
        );
    }

    #[test]
    fn nodes_close_before_4096_bytes() {
        let mut p = NodePacker::new();
        let big = vec![b'x'; 1500];
        let mut nodes = Vec::new();
        for i in 0..5u64 {
            nodes.extend(p.push(id(i + 1, 0), &[&b"f"[..], &big]));
        }
        nodes.extend(p.finish());
        assert_eq!(nodes.len(), 3);
        assert!(nodes.iter().all(|(_, lp)| lp.len() < NODE_MAX_BYTES));
        // A single entry larger than a node still gets a node of its own.
        let mut p = NodePacker::new();
        let huge = vec![b'y'; 10_000];
        assert!(p.push(id(1, 0), &[&b"f"[..], &huge]).is_none());
        assert!(p.push(id(2, 0), &[&b"f"[..], &b"v"[..]]).is_some());
    }
}
