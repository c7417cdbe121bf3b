//! Ordered iteration over one database's keys (SCAN, KEYS, RANDOMKEY), and the sub-key copy that
//! RENAME, MOVE and COPY use to relocate a collection.
//!
//! Keys of physical database `p` are the `meta` entries in `[p] .. [p + 1]`, in byte order of the
//! user key. Expired entries that compaction has not dropped yet are skipped here; they still count
//! as examined, so a page of a scan does bounded work whatever the mix.

use super::encoding::{
    data_prefix, meta_key, prefix_end, Meta, ValueType, CF_DATA, CF_META, CF_ZSCORE,
    COLLECTION_HEADER,
};
use super::{Batch, Db, Result};
use rocksdb::{DBRawIteratorWithThreadMode, ReadOptions, DB};

/// Branching points the random descent of RANDOMKEY follows at most.
const RANDOM_DEPTH: usize = 64;
/// RANDOMKEY moves up to this many entries on from where the descent lands.
const RANDOM_SPREAD: usize = 8;
/// Entries RANDOMKEY steps over from a random position before trying another one.
const RANDOM_STEPS: usize = 16;
/// Random positions RANDOMKEY tries before falling back to a walk from the first key.
const RANDOM_SEEKS: usize = 8;
/// Entries the fallback walk of RANDOMKEY examines at most.
const RANDOM_FALLBACK_STEPS: usize = 10_000;

/// Decodes only the header of a metadata value (type, expiry, and for a collection its version and
/// count), without copying a string's bytes. Enough to filter by type and expiry, and to pass as
/// the "old" metadata of [`Batch::put_meta`] / [`Batch::delete_key`], which read only the expiry.
pub fn decode_header(value: &[u8]) -> Result<Meta> {
    let n = value.len().min(COLLECTION_HEADER);
    Meta::decode(value[..n].to_vec())
}

/// A live key found by [`Db::scan_keys`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScannedKey {
    /// The user key (without the database byte).
    pub key: Vec<u8>,
    pub ty: ValueType,
}

/// One bounded step of a scan.
#[derive(Debug, Default)]
pub struct ScanPage {
    /// Live keys examined in this step, in byte order.
    pub keys: Vec<ScannedKey>,
    /// The last key examined, when more keys follow; None when the scan reached the end.
    pub resume_after: Option<Vec<u8>>,
}

type RawIter<'a> = DBRawIteratorWithThreadMode<'a, DB>;

impl<'a> Db<'a> {
    /// An iterator over this database's `meta` entries whose user key starts with `prefix`.
    fn meta_iter(&self, prefix: &[u8], fill_cache: bool) -> RawIter<'a> {
        let lower = meta_key(self.phys, prefix);
        // The database byte is below 0xff (see MAX_DATABASES), so there is always an end.
        let upper = prefix_end(&lower).unwrap_or_else(|| vec![self.phys.saturating_add(1)]);
        let mut ro = ReadOptions::default();
        ro.fill_cache(fill_cache);
        ro.set_iterate_lower_bound(lower);
        ro.set_iterate_upper_bound(upper);
        let store = self.store;
        store.rocks().raw_iterator_cf_opt(store.cf(CF_META), ro)
    }

    /// One step of a scan: examines at most `limit` keys (live or expired, at least one) that start
    /// with `prefix`, in byte order, strictly after `after` when given. Returns the live ones with
    /// their types, and where to resume.
    pub fn scan_keys(
        &self,
        after: Option<&[u8]>,
        prefix: &[u8],
        limit: usize,
        now: u64,
    ) -> Result<ScanPage> {
        let mut it = self.meta_iter(prefix, true);
        match after {
            Some(a) if a >= prefix => {
                let target = meta_key(self.phys, a);
                it.seek(&target);
                if it.key() == Some(&target[..]) {
                    it.next();
                }
            }
            _ => it.seek_to_first(),
        }
        let mut page = ScanPage::default();
        let mut last = None;
        for _ in 0..limit.max(1) {
            let Some((k, v)) = it.item() else { break };
            let meta = decode_header(v)?;
            let key = k.get(1..).unwrap_or_default();
            if !meta.is_expired(now) {
                page.keys.push(ScannedKey {
                    key: key.to_vec(),
                    ty: meta.ty(),
                });
            }
            let buf: &mut Vec<u8> = last.get_or_insert_with(Vec::new);
            buf.clear();
            buf.extend_from_slice(key);
            it.next();
        }
        it.status()?;
        if it.valid() {
            page.resume_after = last;
        }
        Ok(page)
    }

    /// Calls `f` with every live key that starts with `prefix`, in byte order, and its metadata
    /// header. Reads bypass the block cache so a full walk does not evict the hot set.
    pub fn for_each_key(
        &self,
        prefix: &[u8],
        now: u64,
        mut f: impl FnMut(&[u8], &Meta),
    ) -> Result<()> {
        let mut it = self.meta_iter(prefix, false);
        it.seek_to_first();
        while let Some((k, v)) = it.item() {
            let meta = decode_header(v)?;
            if !meta.is_expired(now) {
                f(k.get(1..).unwrap_or_default(), &meta);
            }
            it.next();
        }
        it.status()?;
        Ok(())
    }

    /// Calls `f` with every live key of the database and its full metadata (a string's value
    /// included), in byte order, stopping at the first error `f` returns. For whole-database
    /// walks such as `basalt-rdb export`; bypasses the block cache like [`Db::for_each_key`].
    pub fn try_for_each_entry<E: From<super::StoreError>>(
        &self,
        now: u64,
        mut f: impl FnMut(&[u8], Meta) -> std::result::Result<(), E>,
    ) -> std::result::Result<(), E> {
        let mut it = self.meta_iter(b"", false);
        it.seek_to_first();
        while let Some((k, v)) = it.item() {
            let meta = Meta::decode(v.to_vec())?;
            if !meta.is_expired(now) {
                f(k.get(1..).unwrap_or_default(), meta)?;
            }
            it.next();
        }
        it.status().map_err(super::StoreError::from)?;
        Ok(())
    }

    /// A random live key, or None when the database has none.
    ///
    /// Keys are ordered, not hashed, so this walks down the key space as a trie (a random descent,
    /// see `random_entry`), moves a few entries on at random, and takes the first live key from
    /// there, wrapping to the first. The choice is not uniform (a key in a sparse branch is
    /// likelier than one in a crowded branch) but every key can come up. Expired entries are
    /// stepped over a bounded number of times; if only expired entries turn up, a bounded walk from the start decides, so
    /// a database holding nothing but a very long run of expired keys (not yet removed by active
    /// expiry) may answer None.
    pub fn random_key(&self, now: u64) -> Result<Option<Vec<u8>>> {
        use rand::Rng;
        let mut it = self.meta_iter(&[], true);
        let mut rng = rand::rng();
        for _ in 0..RANDOM_SEEKS {
            if !self.random_entry(&mut it, &mut rng)? {
                return Ok(None);
            }
            // Spreads the weight of a key that ends a sparse branch over its successors.
            for _ in 0..rng.random_range(0..RANDOM_SPREAD) {
                it.next();
                if !it.valid() {
                    it.status()?;
                    it.seek_to_first();
                }
            }
            for _ in 0..RANDOM_STEPS {
                let Some((k, v)) = it.item() else {
                    it.status()?;
                    it.seek_to_first();
                    continue;
                };
                if !decode_header(v)?.is_expired(now) {
                    return Ok(Some(k.get(1..).unwrap_or_default().to_vec()));
                }
                it.next();
            }
        }
        it.seek_to_first();
        for _ in 0..RANDOM_FALLBACK_STEPS {
            let Some((k, v)) = it.item() else { break };
            if !decode_header(v)?.is_expired(now) {
                return Ok(Some(k.get(1..).unwrap_or_default().to_vec()));
            }
            it.next();
        }
        it.status()?;
        Ok(None)
    }

    /// Positions `it` on a random `meta` entry of this database (live or expired); false when
    /// there is none. A random descent of the key trie: at each branching point (the common prefix
    /// of the smallest and largest key under the current prefix) it picks a random byte between
    /// theirs, and follows the first branch present at or after it (or stops, when the prefix is
    /// itself a key and the pick says so). Every step costs a few seeks; the depth is bounded.
    fn random_entry(&self, it: &mut RawIter<'a>, rng: &mut impl rand::Rng) -> Result<bool> {
        let mut p = vec![self.phys];
        for _ in 0..RANDOM_DEPTH {
            it.seek(&p);
            let Some(lo) = it.key().map(<[u8]>::to_vec) else {
                it.status()?;
                return Ok(false);
            };
            match prefix_end(&p) {
                Some(end) => {
                    it.seek_for_prev(&end);
                    if it.key() == Some(&end[..]) {
                        it.prev();
                    }
                }
                None => it.seek_to_last(),
            }
            let Some(hi) = it.key().map(<[u8]>::to_vec) else {
                it.status()?;
                return Ok(false);
            };
            if lo >= hi {
                it.seek(&lo);
                return Ok(it.valid());
            }
            let c = lo.iter().zip(&hi).take_while(|(a, b)| a == b).count();
            // lo < hi and they first differ at c, so hi has a byte there.
            let Some(&hi_b) = hi.get(c) else {
                it.seek(&lo);
                return Ok(it.valid());
            };
            p.clear();
            p.extend_from_slice(&hi[..c]);
            // When lo is the prefix itself, it is one more choice besides the branches.
            let stop = lo.len() == c;
            let lo_b = if stop {
                it.seek(&lo);
                it.next();
                match it.key().and_then(|k| k.get(c)) {
                    Some(&b) => b,
                    None => {
                        it.status()?;
                        it.seek(&lo);
                        return Ok(it.valid());
                    }
                }
            } else {
                lo[c]
            };
            let span = u32::from(hi_b.saturating_sub(lo_b)) + 1 + u32::from(stop);
            let mut r = rng.random_range(0..span);
            if stop {
                if r == 0 {
                    it.seek(&p);
                    return Ok(it.valid());
                }
                r -= 1;
            }
            // r < hi_b - lo_b + 1, so this stays a byte.
            p.push(lo_b.saturating_add(r as u8));
            it.seek(&p);
            p.pop();
            match it.key().and_then(|k| k.get(c)) {
                Some(&b) if it.key().is_some_and(|k| k.starts_with(&p)) => p.push(b),
                _ => {
                    it.status()?;
                    it.seek(&lo);
                    return Ok(it.valid());
                }
            }
        }
        it.seek(&p);
        if !it.valid() {
            it.status()?;
            it.seek_to_first();
        }
        Ok(it.valid())
    }

    /// Copies every sub-key of the collection `key` at `version` in this database, in both `data`
    /// and `zscore`, to the collection `to_key` at `to_version` in physical database `to_phys`
    /// (same suffix, same value), adding the writes to `batch`.
    ///
    /// This is O(number of elements) in time and in the batch's memory: RENAME, MOVE and COPY of a
    /// collection cost as much as its size (Redis's RENAME and MOVE are O(1), its COPY is O(N)).
    /// The old sub-keys are left in place; once the old metadata is gone or carries another
    /// version, the compaction filter drops them.
    pub fn copy_subkeys(
        &self,
        key: &[u8],
        version: u64,
        to_phys: u8,
        to_key: &[u8],
        to_version: u64,
        batch: &mut Batch<'_>,
    ) -> Result<()> {
        let store = self.store;
        let from = data_prefix(self.phys, key, version);
        let to = data_prefix(to_phys, to_key, to_version);
        let Some(end) = prefix_end(&from) else {
            return Ok(());
        };
        for cf_name in [CF_DATA, CF_ZSCORE] {
            let cf = store.cf(cf_name);
            let mut ro = ReadOptions::default();
            ro.fill_cache(false);
            ro.set_iterate_lower_bound(from.clone());
            ro.set_iterate_upper_bound(end.clone());
            let mut it = store.rocks().raw_iterator_cf_opt(cf, ro);
            it.seek_to_first();
            let mut new_key = to.clone();
            while let Some((k, v)) = it.item() {
                let Some(suffix) = k.strip_prefix(&from[..]) else {
                    break;
                };
                new_key.truncate(to.len());
                new_key.extend_from_slice(suffix);
                batch.raw().put_cf(cf, &new_key, v);
                it.next();
            }
            it.status()?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_decoding_ignores_the_string_bytes() {
        let full = Meta::encode_string(&[7u8; 1000], 42);
        let h = decode_header(&full).unwrap();
        assert_eq!((h.ty(), h.expire_at()), (ValueType::String, 42));
        assert!(h.as_bytes().len() <= COLLECTION_HEADER);
        let c = Meta::encode_collection(ValueType::ZSet, 5, 9, 3);
        let h = decode_header(&c).unwrap();
        assert_eq!((h.ty(), h.version(), h.count()), (ValueType::ZSet, 9, 3));
        assert!(decode_header(&[1, 0, 0]).is_err());
    }

    fn open(dir: &std::path::Path) -> std::sync::Arc<super::super::Store> {
        let cfg = crate::config::Config {
            dir: dir.to_path_buf(),
            ..crate::config::Config::default()
        };
        super::super::Store::open(&cfg).expect("open store")
    }

    fn put(db: &Db<'_>, key: &[u8], value: &[u8]) {
        let old = db.meta_raw(key).unwrap();
        let mut b = db.batch();
        b.put_meta(db.phys, key, old.as_ref(), value);
        b.commit().unwrap();
    }

    #[test]
    fn scans_page_through_every_live_key_once() {
        let dir = tempfile::tempdir().unwrap();
        let store = open(dir.path());
        let view = store.view();
        let db = view.db(1).unwrap();
        let other = view.db(2).unwrap();
        let mut want = Vec::new();
        for i in 0..250u32 {
            let key = format!("k{i:04}").into_bytes();
            // Every fifth key has expired already.
            let at = if i % 5 == 0 { 1 } else { 0 };
            put(&db, &key, &Meta::encode_string(b"v", at));
            if at == 0 {
                want.push(key);
            }
        }
        put(&db, b"", &Meta::encode_string(b"empty", 0));
        put(
            &db,
            b"\xff\xff",
            &Meta::encode_collection(ValueType::Hash, 0, 1, 0),
        );
        put(&other, b"k0001", &Meta::encode_string(b"elsewhere", 0));
        want.insert(0, Vec::new());
        want.push(b"\xff\xff".to_vec());
        let now = crate::util::time::now_ms();
        for limit in [1, 7, 10, 1000] {
            let mut got = Vec::new();
            let mut after: Option<Vec<u8>> = None;
            let mut calls = 0;
            loop {
                let page = db.scan_keys(after.as_deref(), b"", limit, now).unwrap();
                assert!(page.keys.len() <= limit);
                got.extend(page.keys.into_iter().map(|k| k.key));
                calls += 1;
                match page.resume_after {
                    Some(a) => after = Some(a),
                    None => break,
                }
            }
            assert_eq!(got, want, "limit {limit}");
            assert_eq!(calls, (252usize).div_ceil(limit), "limit {limit}");
        }
        let page = db.scan_keys(None, b"k01", 1000, now).unwrap();
        let keys: Vec<_> = page.keys.iter().map(|k| k.key.clone()).collect();
        assert_eq!(keys.len(), 80);
        assert!(keys.iter().all(|k| k.starts_with(b"k01")));
        assert!(page.resume_after.is_none());
        // Resuming from before the prefix starts at the prefix; from after it, nothing is left.
        let page = db.scan_keys(Some(b"a"), b"k02", 3, now).unwrap();
        assert_eq!(page.keys[0].key, b"k0201");
        let page = db.scan_keys(Some(b"z"), b"k02", 3, now).unwrap();
        assert!(page.keys.is_empty() && page.resume_after.is_none());
        let page = db.scan_keys(None, b"\xff", 3, now).unwrap();
        assert_eq!(page.keys[0].ty, ValueType::Hash);

        let mut all = Vec::new();
        db.for_each_key(b"", now, |k, _| all.push(k.to_vec()))
            .unwrap();
        assert_eq!(all, want);
        let mut some = Vec::new();
        db.for_each_key(b"k024", now, |k, _| some.push(k.to_vec()))
            .unwrap();
        assert_eq!(some.len(), 8);
    }

    #[test]
    fn random_keys_cover_the_database_and_skip_expired_ones() {
        let dir = tempfile::tempdir().unwrap();
        let store = open(dir.path());
        let view = store.view();
        let db = view.db(0).unwrap();
        let now = crate::util::time::now_ms();
        assert_eq!(db.random_key(now).unwrap(), None);
        put(&db, b"only", &Meta::encode_string(b"v", 0));
        assert_eq!(db.random_key(now).unwrap(), Some(b"only".to_vec()));
        put(&db, b"", &Meta::encode_string(b"v", 0));
        put(&db, b"a", &Meta::encode_string(b"v", 0));
        put(&db, b"dead", &Meta::encode_string(b"v", 1));
        for i in 0..100 {
            put(
                &db,
                format!("key:{i}").as_bytes(),
                &Meta::encode_string(b"v", 0),
            );
        }
        let mut seen = std::collections::HashMap::new();
        for _ in 0..3000 {
            let k = db.random_key(now).unwrap().unwrap();
            assert_ne!(k, b"dead");
            *seen.entry(k).or_insert(0) += 1;
        }
        // Not uniform, but no key dominates and most come up.
        assert!(seen.len() > 60, "{} distinct", seen.len());
        assert!(seen.values().all(|&n| n < 1000), "{seen:?}");
        // Only expired keys: nothing.
        let other = view.db(3).unwrap();
        put(&other, b"x", &Meta::encode_string(b"v", 1));
        put(&other, b"y", &Meta::encode_string(b"v", 1));
        assert_eq!(other.random_key(now).unwrap(), None);
    }

    #[test]
    fn subkeys_copy_to_another_key_database_and_version() {
        let dir = tempfile::tempdir().unwrap();
        let store = open(dir.path());
        let view = store.view();
        let db = view.db(0).unwrap();
        let mut b = db.batch();
        for (key, version, sub) in [
            (&b"h"[..], 5u64, &b"f1"[..]),
            (b"h", 5, b"f2"),
            (b"h", 4, b"stale"),
            (b"h", 6, b"newer"),
            (b"h\0", 5, b"neighbour"),
        ] {
            let mut k = data_prefix(0, key, version);
            k.extend_from_slice(sub);
            b.raw().put_cf(store.cf(CF_DATA), &k, sub);
            b.raw().put_cf(store.cf(CF_ZSCORE), &k, b"");
        }
        b.commit().unwrap();
        let mut b = db.batch();
        db.copy_subkeys(b"h", 5, 7, b"g", 9, &mut b).unwrap();
        b.commit().unwrap();
        for cf in [CF_DATA, CF_ZSCORE] {
            let prefix = data_prefix(7, b"g", 9);
            let mut it = store.rocks().raw_iterator_cf(store.cf(cf));
            it.seek(&prefix);
            let mut subs = Vec::new();
            while let Some((k, v)) = it.item() {
                let Some(sub) = k.strip_prefix(&prefix[..]) else {
                    break;
                };
                subs.push(sub.to_vec());
                if cf == CF_DATA {
                    assert_eq!(v, sub);
                }
                it.next();
            }
            assert_eq!(subs, vec![b"f1".to_vec(), b"f2".to_vec()], "{cf}");
        }
    }
}
