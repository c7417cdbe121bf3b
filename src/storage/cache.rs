//! The hot-key cache: a byte-bounded, concurrent cache of `meta` values (a string's value, a
//! collection's header) in front of RocksDB, keyed by physical database and user key.
//!
//! The policy is quick_cache's (Clock-PRO / S3-FIFO family): a new key enters a small probation
//! queue and is promoted only when it is read again, and keys evicted recently are remembered
//! as "ghosts", so a scan of cold keys passes through probation without flushing the hot set.
//!
//! # Never stale
//! RocksDB is the truth; the cache may only hold what RocksDB holds now. Two paths fill it:
//! - **Writes** go through [`Batch`](super::Batch), which calls [`HotCache::begin_write`] for each
//!   key before the RocksDB write and [`HotCache::end_write`] after it. Every writer of a key
//!   holds that key's lock, so writers of one key are serialised and the last `end_write` carries
//!   the value RocksDB holds.
//! - **Reads that miss** fill the cache with what they read, which can be outdated by the time
//!   they insert it: the reader misses, reads the old value, a writer commits and updates the
//!   cache, then the reader inserts the old value. To exclude this, each stripe (a hash of the key
//!   to one of [`STRIPES`]) has a write *epoch* and a count of writes in progress, both changed
//!   under the stripe's mutex by `begin_write` (before the RocksDB write) and `end_write` (after).
//!   A reader takes a [`Ticket`] (the epoch) before its RocksDB read and inserts, under the stripe
//!   mutex, only if no write is in progress and the epoch is unchanged: so no write of a key in the
//!   stripe started between its read and its insert, and the value it read is still current.
//!   The writer's own insert may be refused by the policy (or the value be too big): the slot is
//!   then empty, and a stale fill still cannot land. `begin_write` also removes the key, so
//!   between a writer's commit and its `end_write` a reader finds nothing and reads RocksDB.
//!
//! Expiry needs nothing here: values are cached with their expire-at and every read checks it;
//! deleting an expired key (the active cycle, DEL, overwrite) is a write like any other.
//! FLUSHDB/FLUSHALL remove the database's entries under the exclusive view; SWAPDB changes only
//! the logical-to-physical map, and entries are keyed by the physical index.

use parking_lot::Mutex;
use quick_cache::sync::Cache;
use quick_cache::{Equivalent, Lifecycle, Weighter};
use std::hash::{Hash, Hasher};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

/// Number of epoch stripes. Keys sharing a stripe only make each other's fills give up while one
/// of them is being written, so more stripes means fewer lost fills; 4,096 costs 64 KB.
pub const STRIPES: usize = 4096;

/// Bytes charged per entry on top of its key and value (each rounded up to the allocator's size
/// class, see [`alloc_size`]): the cache's table slot (key and value pointers plus 21 bytes of
/// bookkeeping) with its share of spare and ghost slots (x1.5, then a power of two), and slack.
pub const ENTRY_OVERHEAD: u64 = 96;

/// What an allocation of `n` bytes really takes: jemalloc's size classes (multiples of 16 up to
/// 128, then four classes per doubling), so a 4,106-byte value is charged 5,120.
pub fn alloc_size(n: usize) -> u64 {
    let n = n.max(1) as u64;
    if n <= 128 {
        return n.div_ceil(16) * 16;
    }
    // n in (2^k, 2^(k+1)]: classes are multiples of 2^(k-2).
    let k = 63 - (n - 1).leading_zeros() as u64;
    let step = 1u64 << (k - 2);
    n.div_ceil(step) * step
}

/// Values longer than this are not cached (a write removes the key instead): one big value would
/// displace thousands of hot small ones, and its RocksDB read is dominated by the copy anyway.
pub const MAX_VALUE: usize = 64 * 1024;

/// A cached key: the physical database index followed by the user key (the `meta` key layout).
#[derive(Clone, PartialEq, Eq)]
struct CacheKey(Box<[u8]>);

impl Hash for CacheKey {
    fn hash<H: Hasher>(&self, state: &mut H) {
        // The same calls as `KeyRef`, so a lookup needs no owned key.
        state.write_u8(self.0[0]);
        state.write(&self.0[1..]);
    }
}

/// A borrowed lookup key.
struct KeyRef<'a> {
    phys: u8,
    key: &'a [u8],
}

impl Hash for KeyRef<'_> {
    fn hash<H: Hasher>(&self, state: &mut H) {
        state.write_u8(self.phys);
        state.write(self.key);
    }
}

impl Equivalent<CacheKey> for KeyRef<'_> {
    fn equivalent(&self, k: &CacheKey) -> bool {
        k.0[0] == self.phys && &k.0[1..] == self.key
    }
}

fn owned_key(phys: u8, key: &[u8]) -> CacheKey {
    let mut k = Vec::with_capacity(1 + key.len());
    k.push(phys);
    k.extend_from_slice(key);
    CacheKey(k.into_boxed_slice())
}

#[derive(Clone)]
struct ByteWeight;

impl Weighter<CacheKey, Box<[u8]>> for ByteWeight {
    fn weight(&self, key: &CacheKey, val: &Box<[u8]>) -> u64 {
        alloc_size(key.0.len()) + alloc_size(val.len()) + ENTRY_OVERHEAD
    }
}

/// Counts evictions for INFO.
#[derive(Clone, Default)]
struct CountEvictions(Arc<AtomicU64>);

impl Lifecycle<CacheKey, Box<[u8]>> for CountEvictions {
    type RequestState = ();

    fn on_evict(&self, _state: &mut (), _key: CacheKey, _val: Box<[u8]>) {
        self.0.fetch_add(1, Ordering::Relaxed);
    }
}

type Inner =
    Cache<CacheKey, Box<[u8]>, ByteWeight, quick_cache::DefaultHashBuilder, CountEvictions>;

/// Per-stripe write state; see the module documentation.
#[derive(Default)]
struct Stripe {
    /// Writes of the stripe's keys between `begin_write` and `end_write`; changed under `lock`.
    lock: Mutex<u32>,
    /// Bumped under `lock` by both `begin_write` and `end_write`.
    epoch: AtomicU64,
}

/// What a reader saw before its RocksDB read; [`HotCache::fill`] inserts only if it still holds.
#[derive(Clone, Copy)]
pub struct Ticket {
    stripe: usize,
    epoch: u64,
}

/// Figures for INFO.
#[derive(Debug, Default, Clone, Copy)]
pub struct CacheStats {
    pub capacity: u64,
    /// Bytes charged (keys, values and [`ENTRY_OVERHEAD`] per entry).
    pub bytes: u64,
    /// Bytes of the cache's own tables (already covered by the per-entry charge).
    pub table_bytes: u64,
    pub entries: u64,
    pub hits: u64,
    pub misses: u64,
    pub evictions: u64,
}

/// The cache. With a capacity of 0 it holds nothing and lookups are skipped, but writes still
/// run the stripe protocol, so enabling it later (CONFIG SET) cannot admit a stale fill.
pub struct HotCache {
    inner: Inner,
    enabled: AtomicBool,
    /// The capacity asked for (the inner cache rounds it up to a multiple of its shards).
    capacity: AtomicU64,
    stripes: Box<[Stripe]>,
    hits: AtomicU64,
    misses: AtomicU64,
    evictions: Arc<AtomicU64>,
}

/// FNV-1a over the database index and the key (the same spread as the key locks').
fn stripe_of(phys: u8, key: &[u8]) -> usize {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in std::iter::once(&phys).chain(key) {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    (h as usize) % STRIPES
}

impl HotCache {
    /// A cache holding up to `capacity` bytes (0: disabled).
    pub fn new(capacity: u64) -> Self {
        let evictions = Arc::new(AtomicU64::new(0));
        // The table grows with the entries; starting it at one slot per KB of budget keeps it a
        // small fraction of the budget when values are big.
        let estimated = usize::try_from(capacity / 1024)
            .unwrap_or(usize::MAX)
            .max(64);
        let options = quick_cache::OptionsBuilder::new()
            .estimated_items_capacity(estimated)
            .weight_capacity(capacity.max(1))
            .build()
            .expect("valid cache options");
        let inner = Cache::with_options(
            options,
            ByteWeight,
            quick_cache::DefaultHashBuilder::default(),
            CountEvictions(evictions.clone()),
        );
        Self {
            inner,
            enabled: AtomicBool::new(capacity > 0),
            capacity: AtomicU64::new(capacity),
            stripes: (0..STRIPES).map(|_| Stripe::default()).collect(),
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
            evictions,
        }
    }

    /// Whether lookups and fills happen at all.
    pub fn is_enabled(&self) -> bool {
        self.enabled.load(Ordering::Relaxed)
    }

    /// Changes the capacity (CONFIG SET maxmemory): entries beyond it are evicted; 0 disables
    /// the cache and drops everything.
    pub fn set_capacity(&self, capacity: u64) {
        self.enabled.store(capacity > 0, Ordering::Relaxed);
        self.capacity.store(capacity, Ordering::Relaxed);
        self.inner.set_capacity(capacity.max(1));
        if capacity == 0 {
            self.inner.clear();
        }
    }

    /// The cached metadata of a key, counting a hit or a miss.
    pub fn get(&self, phys: u8, key: &[u8]) -> Option<Vec<u8>> {
        if !self.is_enabled() {
            return None;
        }
        match self.inner.get(&KeyRef { phys, key }) {
            Some(v) => {
                self.hits.fetch_add(1, Ordering::Relaxed);
                Some(v.into_vec())
            }
            None => {
                self.misses.fetch_add(1, Ordering::Relaxed);
                None
            }
        }
    }

    /// Taken by a reader that missed, before it reads RocksDB.
    pub fn ticket(&self, phys: u8, key: &[u8]) -> Ticket {
        let stripe = stripe_of(phys, key);
        Ticket {
            stripe,
            epoch: self.stripes[stripe].epoch.load(Ordering::Acquire),
        }
    }

    /// Inserts what a reader read from RocksDB after taking `ticket`, unless a write of a key
    /// of the stripe started since (then the value may be outdated and is dropped).
    pub fn fill(&self, ticket: Ticket, phys: u8, key: &[u8], value: &[u8]) {
        if !self.is_enabled() || value.len() > MAX_VALUE {
            return;
        }
        let stripe = &self.stripes[ticket.stripe];
        let pending = stripe.lock.lock();
        if *pending == 0 && stripe.epoch.load(Ordering::Relaxed) == ticket.epoch {
            self.inner.insert(owned_key(phys, key), value.into());
        }
        drop(pending);
    }

    /// Called for a key before the RocksDB write that changes it; the caller holds the key lock.
    pub fn begin_write(&self, phys: u8, key: &[u8]) {
        let stripe = &self.stripes[stripe_of(phys, key)];
        let mut pending = stripe.lock.lock();
        *pending += 1;
        stripe.epoch.fetch_add(1, Ordering::AcqRel);
        if self.is_enabled() {
            self.inner.remove(&KeyRef { phys, key });
        }
    }

    /// Called after the write (committed or failed) with the key's metadata as RocksDB now holds
    /// it: `None` after a deletion or a failed write (the entry is removed).
    pub fn end_write(&self, phys: u8, key: &[u8], value: Option<&[u8]>) {
        let stripe = &self.stripes[stripe_of(phys, key)];
        let mut pending = stripe.lock.lock();
        *pending = pending.saturating_sub(1);
        stripe.epoch.fetch_add(1, Ordering::AcqRel);
        if !self.is_enabled() {
            return;
        }
        match value.filter(|v| v.len() <= MAX_VALUE) {
            Some(v) => self.inner.insert(owned_key(phys, key), v.into()),
            // A batch may write a key twice (RENAME of a key onto itself, a put then a delete):
            // the last call decides, so an earlier insert must not survive this one.
            None => {
                self.inner.remove(&KeyRef { phys, key });
            }
        }
    }

    /// Drops every entry of the given physical databases (FLUSHDB/FLUSHALL, under the exclusive
    /// view, after the range deletion is written).
    pub fn remove_dbs(&self, phys: &[u8]) {
        if phys.is_empty() {
            return;
        }
        self.inner.retain(|k, _| !phys.contains(&k.0[0]));
    }

    /// Counters and occupancy.
    pub fn stats(&self) -> CacheStats {
        CacheStats {
            capacity: self.capacity.load(Ordering::Relaxed),
            bytes: self.inner.weight(),
            table_bytes: {
                let m = self.inner.memory_used();
                (m.entries + m.map) as u64
            },
            entries: self.inner.len() as u64,
            hits: self.hits.load(Ordering::Relaxed),
            misses: self.misses.load(Ordering::Relaxed),
            evictions: self.evictions.load(Ordering::Relaxed),
        }
    }

    /// CONFIG RESETSTAT.
    pub fn reset_stats(&self) {
        self.hits.store(0, Ordering::Relaxed);
        self.misses.store(0, Ordering::Relaxed);
        self.evictions.store(0, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn size_classes() {
        assert_eq!(alloc_size(1), 16);
        assert_eq!(alloc_size(17), 32);
        assert_eq!(alloc_size(128), 128);
        assert_eq!(alloc_size(129), 160);
        assert_eq!(alloc_size(4096), 4096);
        assert_eq!(alloc_size(4106), 5120);
        assert_eq!(alloc_size(8193), 10240);
    }

    #[test]
    fn write_through_and_removal() {
        let c = HotCache::new(1 << 20);
        assert_eq!(c.get(0, b"k"), None);
        c.begin_write(0, b"k");
        c.end_write(0, b"k", Some(b"v1"));
        assert_eq!(c.get(0, b"k").as_deref(), Some(&b"v1"[..]));
        // Another physical database is another key.
        assert_eq!(c.get(1, b"k"), None);
        c.begin_write(0, b"k");
        assert_eq!(c.get(0, b"k"), None, "begin_write removes the entry");
        c.end_write(0, b"k", None);
        assert_eq!(c.get(0, b"k"), None);
        let s = c.stats();
        assert_eq!((s.hits, s.misses), (1, 4));
    }

    #[test]
    fn a_fill_that_raced_a_write_is_dropped() {
        let c = HotCache::new(1 << 20);
        // Reader misses and reads v0 from RocksDB...
        let t = c.ticket(0, b"k");
        // ...a writer commits v1, and its insert is refused (here: too big to cache)...
        c.begin_write(0, b"k");
        let big = vec![b'x'; MAX_VALUE + 1];
        c.end_write(0, b"k", Some(&big));
        // ...then the reader's fill of v0 must not land.
        c.fill(t, 0, b"k", b"v0");
        assert_eq!(c.get(0, b"k"), None);
        // A fill racing a write still in progress is dropped too, even with a ticket taken
        // after the write began.
        c.begin_write(0, b"k");
        let t = c.ticket(0, b"k");
        c.fill(t, 0, b"k", b"v0");
        assert_eq!(c.get(0, b"k"), None);
        c.end_write(0, b"k", None);
        // An undisturbed fill lands.
        let t = c.ticket(0, b"k");
        c.fill(t, 0, b"k", b"v2");
        assert_eq!(c.get(0, b"k").as_deref(), Some(&b"v2"[..]));
    }

    #[test]
    fn disabled_cache_serves_nothing_and_stays_safe_to_enable() {
        let c = HotCache::new(0);
        c.begin_write(0, b"k");
        c.end_write(0, b"k", Some(b"v"));
        assert_eq!(c.get(0, b"k"), None);
        let t = c.ticket(0, b"k");
        c.begin_write(0, b"k");
        c.end_write(0, b"k", Some(b"v1"));
        c.set_capacity(1 << 20);
        // The ticket predates a write made while disabled: still refused.
        c.fill(t, 0, b"k", b"v0");
        assert_eq!(c.get(0, b"k"), None);
    }

    #[test]
    fn flush_removes_only_its_databases() {
        let c = HotCache::new(1 << 20);
        for db in 0..3u8 {
            c.begin_write(db, b"k");
            c.end_write(db, b"k", Some(b"v"));
        }
        c.remove_dbs(&[0, 2]);
        assert_eq!(c.get(0, b"k"), None);
        assert!(c.get(1, b"k").is_some());
        assert_eq!(c.get(2, b"k"), None);
    }

    #[test]
    fn capacity_bounds_the_charged_bytes() {
        let cap = 256 * 1024;
        let c = HotCache::new(cap);
        for i in 0..20_000u32 {
            let k = i.to_be_bytes();
            c.begin_write(0, &k);
            c.end_write(0, &k, Some(&[7u8; 100]));
        }
        let s = c.stats();
        assert!(s.bytes <= cap, "{} > {cap}", s.bytes);
        assert!(s.evictions > 0);
        assert!(s.entries > 0 && s.entries < 20_000);
        c.set_capacity(cap / 4);
        assert!(c.stats().bytes <= cap / 4);
        c.set_capacity(0);
        assert_eq!(c.stats().entries, 0);
    }

    #[test]
    fn a_scan_does_not_flush_the_hot_set() {
        // Room for ~1,000 entries; 200 hot keys read over and over, then a scan of 20,000 cold
        // keys read once each (filled on miss, as a SCAN+GET or a cold range would).
        let c = HotCache::new(1000 * (ENTRY_OVERHEAD + 8 + 32));
        let fill = |k: &[u8]| {
            if c.get(0, k).is_none() {
                let t = c.ticket(0, k);
                c.fill(t, 0, k, &[1u8; 32]);
            }
        };
        for _ in 0..5 {
            for i in 0..200u64 {
                fill(&i.to_be_bytes());
            }
        }
        for i in 1_000_000..1_020_000u64 {
            fill(&i.to_be_bytes());
            // The hot set keeps being used while the scan runs.
            if i % 10 == 0 {
                fill(&(i % 200).to_be_bytes());
            }
        }
        let kept = (0..200u64)
            .filter(|i| c.get(0, &i.to_be_bytes()).is_some())
            .count();
        assert!(kept >= 190, "only {kept} of 200 hot keys survived the scan");
    }

    #[test]
    fn concurrent_fills_never_outlive_a_write() {
        // Writers set k to increasing versions under a lock (the key lock); readers miss, read
        // "RocksDB" (the shared value) and fill. After every write, a hit must never return an
        // older version than the last committed one.
        use std::sync::atomic::AtomicU64;
        let c = Arc::new(HotCache::new(1 << 20));
        let db = Arc::new(AtomicU64::new(0));
        let key_lock = Arc::new(Mutex::new(()));
        let stop = Arc::new(AtomicBool::new(false));
        let readers: Vec<_> = (0..2)
            .map(|_| {
                let (c, db, stop) = (c.clone(), db.clone(), stop.clone());
                std::thread::spawn(move || {
                    let mut fills = 0u64;
                    while !stop.load(Ordering::Relaxed) {
                        let floor = db.load(Ordering::SeqCst);
                        match c.get(0, b"k") {
                            Some(v) => {
                                let seen = u64::from_be_bytes(v.try_into().unwrap());
                                assert!(seen >= floor, "stale hit {seen} < committed {floor}");
                            }
                            None => {
                                let t = c.ticket(0, b"k");
                                let v = db.load(Ordering::SeqCst);
                                std::thread::yield_now();
                                c.fill(t, 0, b"k", &v.to_be_bytes());
                                fills += 1;
                            }
                        }
                    }
                    fills
                })
            })
            .collect();
        for v in 1..=20_000u64 {
            let _g = key_lock.lock();
            c.begin_write(0, b"k");
            db.store(v, Ordering::SeqCst);
            // Every other write's insert is "refused", leaving the slot empty.
            let val = v.to_be_bytes();
            c.end_write(0, b"k", (v % 2 == 0).then_some(&val[..]));
        }
        stop.store(true, Ordering::Relaxed);
        for r in readers {
            r.join().unwrap();
        }
    }
}
