//! Sub-key access for collections (hashes, sets, sorted sets, lists, streams).
//!
//! A collection's elements live in `data` (and, for sorted sets, `zscore`) under the prefix
//! `db · keylen · key · version`. Every read names the version from the collection's live metadata,
//! so the elements of a deleted or overwritten collection (an older version) are never seen, and
//! the compaction filter drops them later.

use super::encoding::{data_prefix, prefix_end, CF_DATA, CF_ZSCORE};
use super::{Batch, Db, Result};
use rocksdb::{DBRawIteratorWithThreadMode, ReadOptions, DB};

/// Which column family holds the sub-keys.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SubCf {
    /// `data`: hash fields, set members, list items, zset member -> score, stream entries.
    Data,
    /// `zscore`: the score-ordered index of a sorted set (score · member -> empty).
    Score,
}

impl SubCf {
    fn name(self) -> &'static str {
        match self {
            SubCf::Data => CF_DATA,
            SubCf::Score => CF_ZSCORE,
        }
    }
}

/// The full RocksDB key of one sub-key.
pub fn sub_key(phys: u8, key: &[u8], version: u64, sub: &[u8]) -> Vec<u8> {
    let mut k = data_prefix(phys, key, version);
    k.extend_from_slice(sub);
    k
}

/// An iterator over one collection version's sub-keys, yielding (sub-key suffix, value).
pub struct SubIter<'a> {
    it: DBRawIteratorWithThreadMode<'a, DB>,
    /// The collection version's key prefix (for [`SubIter::seek`]).
    prefix: Vec<u8>,
    prefix_len: usize,
    reverse: bool,
    started: bool,
}

impl<'a> SubIter<'a> {
    /// The next (sub-key, value) pair in iteration order, or None at the end.
    #[allow(clippy::should_implement_trait)]
    pub fn next(&mut self) -> Result<Option<(&[u8], &[u8])>> {
        if self.started {
            if self.reverse {
                self.it.prev();
            } else {
                self.it.next();
            }
        }
        self.started = true;
        self.current()
    }

    /// Moves a forward iterator to the first sub-key >= `from`; the next [`SubIter::next`]
    /// returns it. One iterator can so walk several ranges of a collection (GEO searches walk
    /// up to nine score ranges and their parts) without being rebuilt for each.
    pub fn seek(&mut self, from: &[u8]) {
        self.prefix.truncate(self.prefix_len);
        self.prefix.extend_from_slice(from);
        self.it.seek(&self.prefix);
        self.prefix.truncate(self.prefix_len);
        self.started = false;
    }

    /// The entry the iterator is on, without moving.
    pub fn current(&self) -> Result<Option<(&[u8], &[u8])>> {
        match self.it.item() {
            Some((k, v)) => Ok(Some((&k[self.prefix_len..], v))),
            None => {
                self.it.status()?;
                Ok(None)
            }
        }
    }
}

/// Unbounded iterators over `data` and `zscore`, created once and re-aimed at collection after
/// collection by a walk over many keys (`basalt-rdb export`). Creating, seeking and dropping a
/// RocksDB iterator per collection was a third of an export's CPU; a seek on a live iterator is
/// a fraction of that. Like any RocksDB iterator, each reads the data as of its creation: for
/// walks over data that does not change meanwhile (an offline export, one DUMP).
#[derive(Default)]
pub struct SubCursors<'a> {
    data: Option<DBRawIteratorWithThreadMode<'a, DB>>,
    score: Option<DBRawIteratorWithThreadMode<'a, DB>>,
    /// The collection version's key prefix; only keys under it are yielded.
    prefix: Vec<u8>,
    cf: Option<SubCf>,
    started: bool,
}

impl<'a> SubCursors<'a> {
    /// Aims at the first sub-key of a collection version; [`SubCursors::next`] then yields its
    /// sub-keys in byte order.
    pub fn start(&mut self, db: &Db<'a>, cf: SubCf, key: &[u8], version: u64) {
        let store = db.store;
        let slot = match cf {
            SubCf::Data => &mut self.data,
            SubCf::Score => &mut self.score,
        };
        let it = slot.get_or_insert_with(|| {
            store
                .rocks()
                .raw_iterator_cf_opt(store.cf(cf.name()), ReadOptions::default())
        });
        self.prefix = data_prefix(db.phys, key, version);
        it.seek(&self.prefix);
        self.cf = Some(cf);
        self.started = false;
    }

    /// The next (sub-key suffix, value) of the collection [`SubCursors::start`] aimed at, or
    /// None past its last.
    #[allow(clippy::should_implement_trait)]
    pub fn next(&mut self) -> Result<Option<(&[u8], &[u8])>> {
        let it = match self.cf {
            Some(SubCf::Data) => self.data.as_mut(),
            Some(SubCf::Score) => self.score.as_mut(),
            None => None,
        };
        let Some(it) = it else { return Ok(None) };
        if self.started {
            it.next();
        }
        self.started = true;
        match it.item() {
            Some((k, v)) if k.starts_with(&self.prefix) => Ok(Some((&k[self.prefix.len()..], v))),
            Some(_) => Ok(None),
            None => {
                it.status()?;
                Ok(None)
            }
        }
    }
}

impl<'a> Db<'a> {
    /// Reads one sub-key of a collection version.
    pub fn get_sub(
        &self,
        cf: SubCf,
        key: &[u8],
        version: u64,
        sub: &[u8],
    ) -> Result<Option<Vec<u8>>> {
        let store = self.store;
        Ok(store
            .rocks()
            .get_cf(store.cf(cf.name()), sub_key(self.phys, key, version, sub))?)
    }

    /// Reads several sub-keys of one collection version in one batched lookup, in order.
    pub fn get_subs(
        &self,
        cf: SubCf,
        key: &[u8],
        version: u64,
        subs: &[&[u8]],
    ) -> Result<Vec<Option<Vec<u8>>>> {
        let store = self.store;
        let handle = store.cf(cf.name());
        let keys: Vec<Vec<u8>> = subs
            .iter()
            .map(|s| sub_key(self.phys, key, version, s))
            .collect();
        store
            .rocks()
            .batched_multi_get_cf(handle, &keys, false)
            .into_iter()
            .map(|r| Ok(r?.map(|v| v.to_vec())))
            .collect()
    }

    /// Iterates a collection version's sub-keys in byte order of the sub-key (or reversed),
    /// starting at the first sub-key >= `from` (<= `from` when reversed); `None` starts at the
    /// respective end.
    pub fn iter_subs(
        &self,
        cf: SubCf,
        key: &[u8],
        version: u64,
        from: Option<&[u8]>,
        reverse: bool,
    ) -> SubIter<'a> {
        let store = self.store;
        let prefix = data_prefix(self.phys, key, version);
        let mut ro = ReadOptions::default();
        ro.set_iterate_lower_bound(prefix.clone());
        if let Some(end) = prefix_end(&prefix) {
            ro.set_iterate_upper_bound(end);
        }
        let prefix_len = prefix.len();
        let mut it = store.rocks().raw_iterator_cf_opt(store.cf(cf.name()), ro);
        match (from, reverse) {
            (None, false) => it.seek_to_first(),
            (None, true) => it.seek_to_last(),
            (Some(f), false) => it.seek([prefix.as_slice(), f].concat()),
            (Some(f), true) => it.seek_for_prev([prefix.as_slice(), f].concat()),
        }
        SubIter {
            it,
            prefix,
            prefix_len,
            reverse,
            started: false,
        }
    }
}

impl<'a> Db<'a> {
    /// Iterates the sub-keys of a collection version in `[lower, upper)` (sub-key suffixes), in
    /// byte order or reversed. The bounds are handed to RocksDB, so a walk never reads past
    /// them; a walk that starts at a live key also never visits the deletions before it (a
    /// queue trimmed at its head keeps its tombstones behind `lower`).
    pub fn iter_subs_between(
        &self,
        cf: SubCf,
        key: &[u8],
        version: u64,
        lower: &[u8],
        upper: &[u8],
        reverse: bool,
    ) -> SubIter<'a> {
        let store = self.store;
        let prefix = data_prefix(self.phys, key, version);
        let mut ro = ReadOptions::default();
        ro.set_iterate_lower_bound([prefix.as_slice(), lower].concat());
        ro.set_iterate_upper_bound([prefix.as_slice(), upper].concat());
        let mut it = store.rocks().raw_iterator_cf_opt(store.cf(cf.name()), ro);
        if reverse {
            it.seek_to_last();
        } else {
            it.seek_to_first();
        }
        SubIter {
            it,
            prefix_len: prefix.len(),
            prefix,
            reverse,
            started: false,
        }
    }
}

impl<'a> Batch<'a> {
    /// Deletes the sub-keys of a collection version in `[lower, upper)` with one range
    /// deletion.
    pub fn delete_sub_range(
        &mut self,
        cf: SubCf,
        phys: u8,
        key: &[u8],
        version: u64,
        lower: &[u8],
        upper: &[u8],
    ) {
        self.touch(phys, key);
        let handle = self.store.cf(cf.name());
        self.raw().delete_range_cf(
            handle,
            sub_key(phys, key, version, lower),
            sub_key(phys, key, version, upper),
        );
    }

    /// Writes one sub-key of a collection version.
    pub fn put_sub(
        &mut self,
        cf: SubCf,
        phys: u8,
        key: &[u8],
        version: u64,
        sub: &[u8],
        value: &[u8],
    ) {
        self.touch(phys, key);
        let handle = self.store.cf(cf.name());
        self.raw()
            .put_cf(handle, sub_key(phys, key, version, sub), value);
    }

    /// Writes one sub-key given its full RocksDB key ([`sub_key`]), for bulk loads that build
    /// keys in one reused buffer.
    pub fn put_sub_raw(&mut self, cf: SubCf, phys: u8, key: &[u8], full: &[u8], value: &[u8]) {
        self.touch(phys, key);
        let handle = self.store.cf(cf.name());
        self.raw().put_cf(handle, full, value);
    }

    /// Deletes one sub-key of a collection version.
    pub fn delete_sub(&mut self, cf: SubCf, phys: u8, key: &[u8], version: u64, sub: &[u8]) {
        self.touch(phys, key);
        let handle = self.store.cf(cf.name());
        self.raw()
            .delete_cf(handle, sub_key(phys, key, version, sub));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;
    use crate::storage::{Meta, Store, ValueType};

    #[test]
    fn sub_keys_are_scoped_to_their_version_and_iterate_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = Config {
            dir: dir.path().to_path_buf(),
            ..Config::default()
        };
        let store = Store::open(&cfg).unwrap();
        let view = store.view();
        let db = view.db(0).unwrap();
        let (v1, v2) = (store.next_version().unwrap(), store.next_version().unwrap());
        let mut b = db.batch();
        b.put_meta(
            0,
            b"h",
            None,
            &Meta::encode_collection(ValueType::Hash, 0, v2, 3),
        );
        for f in [&b"b"[..], b"a", b"c"] {
            b.put_sub(SubCf::Data, 0, b"h", v2, f, f);
        }
        b.put_sub(SubCf::Data, 0, b"h", v1, b"stale", b"x");
        // A neighbouring key whose prefix extends ours must not leak into the iteration.
        b.put_sub(SubCf::Data, 0, b"h\x00", v2, b"z", b"x");
        b.commit().unwrap();

        assert_eq!(
            db.get_sub(SubCf::Data, b"h", v2, b"a").unwrap(),
            Some(b"a".to_vec())
        );
        assert_eq!(db.get_sub(SubCf::Data, b"h", v2, b"stale").unwrap(), None);
        let got = db
            .get_subs(SubCf::Data, b"h", v2, &[b"c", b"nope", b"a"])
            .unwrap();
        assert_eq!(got, vec![Some(b"c".to_vec()), None, Some(b"a".to_vec())]);

        let collect = |from: Option<&[u8]>, rev| {
            let mut it = db.iter_subs(SubCf::Data, b"h", v2, from, rev);
            let mut out = Vec::new();
            while let Some((k, _)) = it.next().unwrap() {
                out.push(k.to_vec());
            }
            out
        };
        assert_eq!(
            collect(None, false),
            vec![b"a".to_vec(), b"b".to_vec(), b"c".to_vec()]
        );
        assert_eq!(
            collect(None, true),
            vec![b"c".to_vec(), b"b".to_vec(), b"a".to_vec()]
        );
        assert_eq!(
            collect(Some(b"b"), false),
            vec![b"b".to_vec(), b"c".to_vec()]
        );
        assert_eq!(
            collect(Some(b"bb"), true),
            vec![b"b".to_vec(), b"a".to_vec()]
        );

        // One set of cursors re-aimed from collection to collection: each walk stops at its own
        // prefix (the neighbour `h\0` and the stale version included), in either order.
        let mut cursors = SubCursors::default();
        let mut walk = |key: &[u8], version| {
            cursors.start(&db, SubCf::Data, key, version);
            let mut out = Vec::new();
            while let Some((k, _)) = cursors.next().unwrap() {
                out.push(k.to_vec());
            }
            out
        };
        let all = vec![b"a".to_vec(), b"b".to_vec(), b"c".to_vec()];
        assert_eq!(walk(b"h", v2), all);
        assert_eq!(walk(b"h", v1), vec![b"stale".to_vec()]);
        assert_eq!(walk(b"h\x00", v2), vec![b"z".to_vec()]);
        assert_eq!(walk(b"h", v2), all);
        assert_eq!(walk(b"nope", v2), Vec::<Vec<u8>>::new());

        let mut b = db.batch();
        b.delete_sub(SubCf::Data, 0, b"h", v2, b"b");
        b.commit().unwrap();
        assert_eq!(collect(None, false), vec![b"a".to_vec(), b"c".to_vec()]);
    }
}
