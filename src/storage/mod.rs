//! RocksDB setup and the storage primitives every data type is built on: metadata reads, atomic
//! write batches with exact key counts and the expiry index, per-key locks, database mapping for
//! SWAPDB, version allocation for collections, and the active expiry cycle.

pub mod cache;
pub mod created;
pub mod encoding;
pub mod filters;
pub mod locks;
pub mod ready;
pub mod scan;
pub mod strings;
pub mod subkeys;
pub mod txn;
pub mod wal;
pub mod watch;
pub mod written;

pub use encoding::{Meta, ValueType};

use crate::config::{Compression, Config, MemoryPlan};
use encoding::{expire_key, meta_key, parse_expire_key, CF_DATA, CF_EXPIRE, CF_META, CF_ZSCORE};
use filters::{DbSlot, StaleSubkeyFilterFactory};
use locks::{KeyGuard, KeyLocks};
use parking_lot::{Mutex, RwLock, RwLockReadGuard, RwLockWriteGuard};
use rocksdb::{
    BlockBasedOptions, Cache, ColumnFamily, ColumnFamilyDescriptor, DBCompressionType, Options,
    WriteBatch, WriteBufferManager, WriteOptions, DB,
};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, AtomicU8, Ordering};
use std::sync::{Arc, OnceLock};
use wal::Wal;

/// Errors of the storage layer.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("storage error: {0}")]
    Rocks(#[from] rocksdb::Error),
    #[error("corrupt data: {0}")]
    Corrupt(&'static str),
    #[error("{0}")]
    Schema(String),
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

/// Result alias of the storage layer.
pub type Result<T, E = StoreError> = std::result::Result<T, E>;

const REC_SCHEMA: &[u8] = b"schema";
const REC_VERSION_HWM: &[u8] = b"version-hwm";
const REC_DB_MAP: &[u8] = b"db-map";
const REC_COUNT_PREFIX: &[u8] = b"count:";
const REC_EXPIRES_PREFIX: &[u8] = b"expires:";
/// Most databases a server can have: a physical index is one byte and each needs a successor byte
/// to bound its key range.
pub const MAX_DATABASES: usize = 255;
/// Versions are reserved in blocks so allocating one rarely costs a synced write.
const VERSION_BLOCK: u64 = 1 << 16;

/// The database: RocksDB plus the in-memory state that must stay consistent with it.
pub struct Store {
    db: Arc<DB>,
    path: PathBuf,
    locks: KeyLocks,
    wal: Wal,
    /// Keys per physical database (including expired keys not yet reclaimed, as Redis counts).
    counts: Vec<AtomicI64>,
    /// Keys with a TTL per physical database (INFO keyspace `expires=`), counted the same way.
    expires: Vec<AtomicI64>,
    /// Logical (SELECT) index -> physical index. SWAPDB and FLUSH take it exclusively, so each
    /// command sees one consistent mapping.
    db_map: RwLock<Vec<u8>>,
    next_version: AtomicU64,
    version_hwm: Mutex<u64>,
    block_cache: Cache,
    /// Charges every memtable to `block_cache` and flushes when they reach the plan's limit.
    write_buffers: WriteBufferManager,
    /// The memory split in force (changed by CONFIG SET maxmemory).
    plan: Mutex<MemoryPlan>,
    /// The hot-key cache in front of `meta`.
    pub cache: cache::HotCache,
    /// Measurement switch (`BASALT_COLD_READS=block_in_place`): run the RocksDB read of a cache
    /// miss under `block_in_place`. Measured slower than inline (docs/ARCHITECTURE.md, Execution
    /// strategy); kept so the measurement can be repeated.
    cold_reads_off_worker: bool,
    /// Keys removed by the active expiry cycle, for INFO.
    pub expired_keys: AtomicU64,
    /// Keys that blocked clients may now be served from.
    pub ready: ready::ReadyKeys,
    /// Keys watched by WATCH.
    pub watches: watch::Watches,
    /// Whether commits record the keys they create (the `new` keyspace event).
    pub created: created::CreatedKeys,
    /// Physical index -> logical index, mirroring `db_map` for [`Batch::commit`], which may run
    /// under the mapping's write lock (EXEC) and so cannot read it. `NO_DB` if unmapped.
    logical: Vec<AtomicU8>,
    /// Told of every expired key a commit removed or replaced, while armed.
    expired_hook: OnceLock<ExpiredHook>,
    expired_armed: AtomicBool,
}

/// Receives (logical database, key) for each expired key a commit deleted or overwrote.
pub type ExpiredHook = Box<dyn Fn(usize, &[u8]) + Send + Sync>;

/// Marks a physical index no logical database maps to.
const NO_DB: u8 = u8::MAX;

/// A consistent view of the database mapping, held for the duration of one command.
pub struct View<'a> {
    store: &'a Store,
    map: ViewGuard<'a>,
}

enum ViewGuard<'a> {
    Shared(RwLockReadGuard<'a, Vec<u8>>),
    Exclusive(RwLockWriteGuard<'a, Vec<u8>>),
    /// A view lent to a command run inside another one (the commands of EXEC).
    LentShared(&'a [u8]),
    LentExclusive(&'a mut Vec<u8>),
}

/// One logical database, resolved to its physical index.
#[derive(Clone, Copy)]
pub struct Db<'a> {
    pub store: &'a Store,
    /// The physical index, used in every stored key.
    pub phys: u8,
}

fn cf_options(cfg: &Config, plan: &MemoryPlan, cache: &Cache, bloom: bool) -> Options {
    let mut table = BlockBasedOptions::default();
    table.set_block_cache(cache);
    // Index and filter blocks live in the block cache (so the budget bounds them too), split into
    // 4 KB partitions under a small pinned top level: a point read that misses the cache loads
    // one partition, not a whole file's index (measured: with monolithic index blocks, a uniform
    // GET load at 10x the budget spent a third of its time re-reading evicted indexes).
    table.set_cache_index_and_filter_blocks(true);
    table.set_cache_index_and_filter_blocks_with_high_priority(true);
    table.set_pin_l0_filter_and_index_blocks_in_cache(true);
    table.set_index_type(rocksdb::BlockBasedIndexType::TwoLevelIndexSearch);
    table.set_partition_filters(bloom);
    table.set_metadata_block_size(4096);
    table.set_pin_top_level_index_and_filter(true);
    table.set_block_size(cfg.block_size as usize);
    table.set_format_version(6);
    if bloom {
        table.set_bloom_filter(10.0, false);
        table.set_whole_key_filtering(true);
        table.set_optimize_filters_for_memory(true);
    }
    let mut o = Options::default();
    o.set_block_based_table_factory(&table);
    o.set_write_buffer_size(plan.write_buffer as usize);
    o.set_level_compaction_dynamic_level_bytes(true);
    let c = match cfg.compression {
        Compression::None => DBCompressionType::None,
        Compression::Lz4 => DBCompressionType::Lz4,
        Compression::Zstd => DBCompressionType::Zstd,
    };
    // The top levels are rewritten soon; compressing them costs CPU for nothing.
    o.set_compression_per_level(&[
        DBCompressionType::None,
        DBCompressionType::None,
        c,
        c,
        c,
        c,
        c,
    ]);
    if cfg.compression != Compression::None {
        o.set_bottommost_compression_type(DBCompressionType::Zstd);
    }
    o
}

/// Name of the key counters' merge operator: a tool opening the data directory must register
/// [`add_i64_merge`] under it to replay the WAL.
pub const COUNTER_MERGE: &str = "basalt.add_i64";

/// Adds little-endian i64 operands to an existing little-endian i64 (the key counters).
pub fn add_i64_merge(
    _key: &[u8],
    existing: Option<&[u8]>,
    operands: &rocksdb::MergeOperands,
) -> Option<Vec<u8>> {
    let decode = |b: &[u8]| b.try_into().map(i64::from_le_bytes).unwrap_or(0);
    let mut total = existing.map_or(0, decode);
    for op in operands {
        total = total.wrapping_add(decode(op));
    }
    Some(total.to_le_bytes().to_vec())
}

fn count_key(phys: u8) -> Vec<u8> {
    let mut k = REC_COUNT_PREFIX.to_vec();
    k.push(phys);
    k
}

fn expires_key(phys: u8) -> Vec<u8> {
    let mut k = REC_EXPIRES_PREFIX.to_vec();
    k.push(phys);
    k
}

impl Store {
    /// Opens (creating if needed) the data directory named by the configuration.
    pub fn open(cfg: &Config) -> Result<Arc<Store>> {
        let path = cfg.dir.join("db");
        std::fs::create_dir_all(&path)?;
        let plan = cfg.memory_plan();
        let cache = Cache::new_lru_cache(plan.block_cache as usize);
        // Memtables are charged to the block cache, so its capacity bounds both; writers are
        // not stalled at the limit (the flush it triggers frees the memory soon enough).
        let write_buffers = WriteBufferManager::new_write_buffer_manager_with_cache(
            plan.memtables as usize,
            false,
            cache.clone(),
        );
        let slot: DbSlot = Arc::new(OnceLock::new());

        let mut opts = Options::default();
        opts.create_if_missing(true);
        opts.create_missing_column_families(true);
        opts.set_max_background_jobs(cfg.max_background_jobs as i32);
        opts.set_bytes_per_sync(1 << 20);
        opts.set_max_total_wal_size(4 * plan.write_buffer.max(16 << 20));
        opts.set_write_buffer_manager(&write_buffers);
        opts.set_use_direct_reads(cfg.direct_reads);
        opts.set_keep_log_file_num(4);
        opts.set_merge_operator_associative(COUNTER_MERGE, add_i64_merge);

        let meta = cf_options(cfg, &plan, &cache, true);
        let mut data = cf_options(cfg, &plan, &cache, true);
        data.set_compaction_filter_factory(StaleSubkeyFilterFactory {
            db: slot.clone(),
            name: c"basalt.stale_subkeys.data",
        });
        let mut zscore = cf_options(cfg, &plan, &cache, false);
        zscore.set_compaction_filter_factory(StaleSubkeyFilterFactory {
            db: slot.clone(),
            name: c"basalt.stale_subkeys.zscore",
        });
        let expire = cf_options(cfg, &plan, &cache, false);
        let mut default = cf_options(cfg, &plan, &cache, false);
        default.set_merge_operator_associative(COUNTER_MERGE, add_i64_merge);
        let cfs = vec![
            ColumnFamilyDescriptor::new(rocksdb::DEFAULT_COLUMN_FAMILY_NAME, default),
            ColumnFamilyDescriptor::new(CF_META, meta),
            ColumnFamilyDescriptor::new(CF_DATA, data),
            ColumnFamilyDescriptor::new(CF_ZSCORE, zscore),
            ColumnFamilyDescriptor::new(CF_EXPIRE, expire),
        ];
        let db = Arc::new(DB::open_cf_descriptors(&opts, &path, cfs)?);
        let _ = slot.set(Arc::downgrade(&db));

        check_schema(&db)?;
        let databases = cfg.databases as usize;
        let read_i64 = |k: &[u8]| -> Result<i64> {
            Ok(db
                .get(k)?
                .and_then(|v| v.as_slice().try_into().ok().map(i64::from_le_bytes))
                .unwrap_or(0))
        };
        let counts = (0..MAX_DATABASES)
            .map(|i| read_i64(&count_key(i as u8)).map(AtomicI64::new))
            .collect::<Result<Vec<_>>>()?;
        let expires = (0..MAX_DATABASES)
            .map(|i| read_i64(&expires_key(i as u8)).map(AtomicI64::new))
            .collect::<Result<Vec<_>>>()?;
        let hwm = db
            .get(REC_VERSION_HWM)?
            .and_then(|v| v.as_slice().try_into().ok().map(u64::from_be_bytes))
            .unwrap_or(1);
        let mut map: Vec<u8> = match db.get(REC_DB_MAP)? {
            Some(m) if m.len() == MAX_DATABASES => m,
            _ => (0..MAX_DATABASES as u8).collect(),
        };
        map.truncate(databases.max(1));
        let store = Store {
            db,
            path,
            locks: KeyLocks::default(),
            wal: Wal::new(cfg.fsync),
            counts,
            expires,
            db_map: RwLock::new(map),
            // Everything below the persisted high-water mark may have been handed out before.
            next_version: AtomicU64::new(hwm),
            version_hwm: Mutex::new(hwm),
            block_cache: cache,
            write_buffers,
            plan: Mutex::new(plan),
            cache: cache::HotCache::new(plan.hot_cache),
            cold_reads_off_worker: std::env::var("BASALT_COLD_READS")
                .is_ok_and(|v| v == "block_in_place"),
            expired_keys: AtomicU64::new(0),
            ready: ready::ReadyKeys::default(),
            watches: watch::Watches::default(),
            created: created::CreatedKeys::default(),
            logical: (0..MAX_DATABASES).map(|_| AtomicU8::new(NO_DB)).collect(),
            expired_hook: OnceLock::new(),
            expired_armed: AtomicBool::new(false),
        };
        for (l, &p) in store.db_map.read().iter().enumerate() {
            store.logical[usize::from(p)].store(l as u8, Ordering::Relaxed);
        }
        Ok(Arc::new(store))
    }

    /// The RocksDB handle.
    pub fn rocks(&self) -> &DB {
        &self.db
    }

    /// The directory holding the RocksDB files.
    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn wal(&self) -> &Wal {
        &self.wal
    }

    pub fn locks(&self) -> &KeyLocks {
        &self.locks
    }

    /// Bytes in use in the shared block cache (memtables' reservations included).
    pub fn block_cache_usage(&self) -> usize {
        self.block_cache.get_usage()
    }

    /// Bytes of the block cache held by entries in use (pinned blocks, memtable reservations).
    pub fn block_cache_pinned(&self) -> usize {
        self.block_cache.get_pinned_usage()
    }

    /// Bytes the write-buffer manager counts for all memtables.
    pub fn memtable_usage(&self) -> usize {
        self.write_buffers.get_usage()
    }

    /// The memory split in force.
    pub fn memory_plan(&self) -> MemoryPlan {
        *self.plan.lock()
    }

    /// Applies a new memory split at runtime (CONFIG SET maxmemory and its percentages): the
    /// hot-key cache and the block cache are resized (evicting down to the new capacity), and
    /// the memtable limit and per-column-family memtable size change for the next memtables.
    pub fn set_memory_plan(&self, plan: MemoryPlan) -> Result<()> {
        let mut cur = self.plan.lock();
        if *cur == plan {
            return Ok(());
        }
        self.cache.set_capacity(plan.hot_cache);
        let mut bc = self.block_cache.clone();
        bc.set_capacity(plan.block_cache as usize);
        self.write_buffers.set_buffer_size(plan.memtables as usize);
        if plan.write_buffer != cur.write_buffer {
            let size = plan.write_buffer.to_string();
            for name in [
                rocksdb::DEFAULT_COLUMN_FAMILY_NAME,
                CF_META,
                CF_DATA,
                CF_ZSCORE,
                CF_EXPIRE,
            ] {
                self.db
                    .set_options_cf(self.cf(name), &[("write_buffer_size", &size)])?;
            }
        }
        *cur = plan;
        Ok(())
    }

    pub(crate) fn cf(&self, name: &str) -> &ColumnFamily {
        self.db
            .cf_handle(name)
            .expect("column families are created at open")
    }

    /// Takes a shared view of the database mapping for one command.
    pub fn view(&self) -> View<'_> {
        View {
            store: self,
            map: ViewGuard::Shared(self.db_map.read()),
        }
    }

    /// Takes the mapping exclusively (SWAPDB, FLUSHDB, FLUSHALL): no other command runs meanwhile.
    pub fn view_exclusive(&self) -> View<'_> {
        View {
            store: self,
            map: ViewGuard::Exclusive(self.db_map.write()),
        }
    }

    /// A shared view if one can be had within `wait` (a running script or EXEC holds the
    /// mapping exclusively; the dispatcher waits in steps so it can answer BUSY).
    pub fn try_view_for(&self, wait: std::time::Duration) -> Option<View<'_>> {
        Some(View {
            store: self,
            map: ViewGuard::Shared(self.db_map.try_read_for(wait)?),
        })
    }

    /// An exclusive view if one can be had within `wait`.
    pub fn try_view_exclusive_for(&self, wait: std::time::Duration) -> Option<View<'_>> {
        Some(View {
            store: self,
            map: ViewGuard::Exclusive(self.db_map.try_write_for(wait)?),
        })
    }

    /// A view that resolves no database, for the few commands that run while a script holds the
    /// mapping (SCRIPT KILL, SHUTDOWN NOSAVE, AUTH, ...): they touch no data.
    pub fn detached_view(&self) -> View<'_> {
        View {
            store: self,
            map: ViewGuard::LentShared(&[]),
        }
    }

    /// Allocates a collection version larger than any handed out before, across restarts.
    pub fn next_version(&self) -> Result<u64> {
        let v = self.next_version.fetch_add(1, Ordering::Relaxed);
        let mut hwm = self.version_hwm.lock();
        if v >= *hwm {
            let new = v + VERSION_BLOCK;
            self.db.put(REC_VERSION_HWM, new.to_be_bytes())?;
            self.db.flush_wal(true)?;
            *hwm = new;
        }
        Ok(v)
    }

    /// Makes all writes so far durable per the fsync policy; called once per pass, before the
    /// replies go out (see [`wal`]).
    pub fn ack(&self) -> Result<()> {
        Ok(self.wal.ack(&self.db)?)
    }

    /// Flushes every column family's memtable to SST files and syncs the WAL: after writes
    /// made with [`Batch::commit_unlogged`], this is what makes them durable.
    pub fn flush_all(&self) -> Result<()> {
        let mut fo = rocksdb::FlushOptions::default();
        fo.set_wait(true);
        let cfs: Vec<&ColumnFamily> = [
            rocksdb::DEFAULT_COLUMN_FAMILY_NAME,
            CF_META,
            CF_DATA,
            CF_ZSCORE,
            CF_EXPIRE,
        ]
        .iter()
        .map(|n| self.cf(n))
        .collect();
        self.db.flush_cfs_opt(&cfs, &fo)?;
        self.db.flush_wal(true)?;
        Ok(())
    }

    /// Starts a write batch.
    pub fn batch(&self) -> Batch<'_> {
        Batch {
            store: self,
            wb: WriteBatch::default(),
            deltas: Vec::new(),
            ready: Vec::new(),
            touched: Vec::new(),
            created: Vec::new(),
            expired: Vec::new(),
            cached: Vec::new(),
        }
    }

    /// Installs the receiver of expired-key reports (once; later calls are ignored).
    pub fn set_expired_hook(&self, hook: ExpiredHook) {
        let _ = self.expired_hook.set(hook);
    }

    /// Starts or stops reporting expired keys to the hook (keyspace notifications `x`).
    pub fn arm_expired_hook(&self, on: bool) {
        self.expired_armed.store(on, Ordering::Relaxed);
    }

    /// Number of keys in a physical database.
    pub fn count(&self, phys: u8) -> u64 {
        self.counts[phys as usize].load(Ordering::Relaxed).max(0) as u64
    }

    /// Number of keys with a TTL in a physical database.
    pub fn expires_count(&self, phys: u8) -> u64 {
        self.expires[phys as usize].load(Ordering::Relaxed).max(0) as u64
    }

    /// Reads and validates the metadata of a key, expired or not: from the hot-key cache, or
    /// from RocksDB, filling the cache with what was read (see [`cache`] for why that is safe).
    pub fn get_meta_raw(&self, phys: u8, key: &[u8]) -> Result<Option<Meta>> {
        // Inside a transaction the last batch may still be held back (see `txn::apply`).
        txn::flush_pending(self)?;
        if !self.cache.is_enabled() {
            return self.read_meta(phys, key);
        }
        if let Some(bytes) = self.cache.get(phys, key) {
            return Ok(Some(Meta::decode(bytes)?));
        }
        let ticket = self.cache.ticket(phys, key);
        let meta = if self.cold_reads_off_worker {
            cold_read(|| self.read_meta(phys, key))?
        } else {
            self.read_meta(phys, key)?
        };
        if let Some(m) = &meta {
            self.cache.fill(ticket, phys, key, m.as_bytes());
        }
        Ok(meta)
    }

    /// Reads a key's metadata from RocksDB.
    fn read_meta(&self, phys: u8, key: &[u8]) -> Result<Option<Meta>> {
        match self.db.get_cf(self.cf(CF_META), meta_key(phys, key))? {
            Some(bytes) => Ok(Some(Meta::decode(bytes)?)),
            None => Ok(None),
        }
    }

    /// Adds the key-count merge operands for `deltas` (per physical database: keys, keys with a
    /// TTL) to a batch.
    fn merge_counts(&self, wb: &mut WriteBatch, deltas: &[(u8, i64, i64)]) {
        for &(phys, keys, expires) in deltas {
            if keys != 0 {
                wb.merge(count_key(phys), keys.to_le_bytes());
            }
            if expires != 0 {
                wb.merge(expires_key(phys), expires.to_le_bytes());
            }
        }
    }

    /// Adds puts of a database's current key counters to a batch (a transaction's record).
    fn put_counts(&self, wb: &mut WriteBatch, phys: u8) {
        let p = usize::from(phys);
        wb.put(
            count_key(phys),
            self.counts[p].load(Ordering::Relaxed).to_le_bytes(),
        );
        wb.put(
            expires_key(phys),
            self.expires[p].load(Ordering::Relaxed).to_le_bytes(),
        );
    }

    /// Writes a batch built outside [`Batch`] (FLUSHDB, SWAPDB's map), joining a running
    /// transaction's record if there is one so the WAL keeps the commands' order.
    fn write_raw(&self, wb: WriteBatch) -> Result<()> {
        if txn::active() {
            return txn::apply(self, wb, &[]);
        }
        self.db.write(wb)?;
        Ok(())
    }

    /// Runs one round of active expiry: deletes up to `limit` keys whose time has come, under their
    /// key locks, with the count and the index updated in the same batch. Returns how many index
    /// entries it processed (a full round means the caller should go again soon). Each deletion
    /// is reported to the expiry hook (see [`Store::set_expired_hook`]) like any other.
    pub fn expire_cycle(&self, limit: usize) -> Result<usize> {
        let now = crate::util::time::now_ms();
        let mut processed = 0;
        let view = self.view();
        for &phys in view.physical_dbs() {
            let mut due = Vec::new();
            let mut it = self.db.raw_iterator_cf(self.cf(CF_EXPIRE));
            it.seek([phys]);
            while let Some(k) = it.key() {
                let Some((db, at, key)) = parse_expire_key(k) else {
                    break;
                };
                if db != phys || at > now || due.len() >= limit {
                    break;
                }
                due.push((at, key.to_vec()));
                it.next();
            }
            it.status()?;
            drop(it);
            for (at, key) in due {
                processed += 1;
                let _g = self.locks.lock_one(phys, &key);
                let mut batch = self.batch();
                match self.get_meta_raw(phys, &key)? {
                    Some(meta) if meta.expire_at() == at && meta.is_expired(now) => {
                        batch.delete_key(phys, &key, &meta);
                        self.expired_keys.fetch_add(1, Ordering::Relaxed);
                    }
                    // The TTL changed or the key went away; the index entry is stale.
                    _ => batch
                        .raw()
                        .delete_cf(self.cf(CF_EXPIRE), expire_key(phys, at, &key)),
                }
                batch.commit()?;
            }
        }
        Ok(processed)
    }

    /// Compacts the whole key range of the given physical databases (after a flush), so the space
    /// of range-deleted data is given back.
    pub fn compact_dbs(&self, phys: &[u8]) {
        for &p in phys {
            for cf in [CF_META, CF_DATA, CF_ZSCORE, CF_EXPIRE] {
                self.db
                    .compact_range_cf(self.cf(cf), Some(&[p][..]), Some(&[p + 1][..]));
            }
        }
    }

    /// Creates a consistent RocksDB checkpoint (BGSAVE/SAVE) under the data directory, replacing the
    /// previous one.
    pub fn checkpoint(&self, dest: &Path) -> Result<()> {
        self.wal.sync(&self.db)?;
        let tmp = dest.with_extension("tmp");
        if tmp.exists() {
            std::fs::remove_dir_all(&tmp)?;
        }
        rocksdb::checkpoint::Checkpoint::new(&self.db)?.create_checkpoint(&tmp)?;
        if dest.exists() {
            std::fs::remove_dir_all(dest)?;
        }
        std::fs::rename(&tmp, dest)?;
        Ok(())
    }

    /// A RocksDB text property of one column family, for INFO.
    pub fn property_text(&self, cf: &str, name: &str) -> Option<String> {
        self.db.property_value_cf(self.cf(cf), name).ok().flatten()
    }

    /// A RocksDB property of one column family, for INFO.
    pub fn property(&self, cf: &str, name: &str) -> Option<u64> {
        self.db
            .property_int_value_cf(self.cf(cf), name)
            .ok()
            .flatten()
    }
}

/// Runs a read that may wait on the disk so the tokio worker's other tasks move to another
/// thread meanwhile (outside a multi-threaded runtime it just runs).
fn cold_read<T>(f: impl FnOnce() -> T) -> T {
    match tokio::runtime::Handle::try_current() {
        Ok(h) if h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread => {
            tokio::task::block_in_place(f)
        }
        _ => f(),
    }
}

fn check_schema(db: &DB) -> Result<()> {
    match db.get(REC_SCHEMA)? {
        Some(v) => {
            let found = v
                .as_slice()
                .try_into()
                .map(u32::from_be_bytes)
                .map_err(|_| StoreError::Corrupt("schema record"))?;
            if !(encoding::OLDEST_SCHEMA_VERSION..=encoding::SCHEMA_VERSION).contains(&found) {
                return Err(StoreError::Schema(format!(
                    "the data directory uses storage schema v{found}; this build reads v{} to v{}",
                    encoding::OLDEST_SCHEMA_VERSION,
                    encoding::SCHEMA_VERSION
                )));
            }
            if found < encoding::SCHEMA_VERSION {
                // Older layouts are subsets of the current one: only the record changes, made
                // durable before any write of the new layout can follow it.
                db.put(REC_SCHEMA, encoding::SCHEMA_VERSION.to_be_bytes())?;
                db.flush_wal(true)?;
                tracing::info!(
                    from = found,
                    to = encoding::SCHEMA_VERSION,
                    "upgraded the data directory's storage schema"
                );
            }
        }
        None => {
            db.put(REC_SCHEMA, encoding::SCHEMA_VERSION.to_be_bytes())?;
            db.flush_wal(true)?;
        }
    }
    Ok(())
}

impl<'a> View<'a> {
    fn map(&self) -> &[u8] {
        match &self.map {
            ViewGuard::Shared(g) => g,
            ViewGuard::Exclusive(g) => g,
            ViewGuard::LentShared(m) => m,
            ViewGuard::LentExclusive(m) => m,
        }
    }

    /// The same view lent for a nested command (as exclusive as this one).
    pub fn lend(&mut self) -> View<'_> {
        let map = match &mut self.map {
            ViewGuard::Shared(g) => ViewGuard::LentShared(g),
            ViewGuard::LentShared(m) => ViewGuard::LentShared(m),
            ViewGuard::Exclusive(g) => ViewGuard::LentExclusive(g),
            ViewGuard::LentExclusive(m) => ViewGuard::LentExclusive(m),
        };
        View {
            store: self.store,
            map,
        }
    }

    /// Number of logical databases.
    pub fn databases(&self) -> usize {
        self.map().len()
    }

    /// The logical database `index`, or None if out of range.
    pub fn db(&self, index: usize) -> Option<Db<'a>> {
        self.map().get(index).map(|&phys| Db {
            store: self.store,
            phys,
        })
    }

    /// Every physical index in use, in logical order.
    pub fn physical_dbs(&self) -> &[u8] {
        self.map()
    }

    /// Swaps two logical databases (SWAPDB). Requires an exclusive view.
    pub fn swap(&mut self, a: usize, b: usize) -> Result<()> {
        let map: &mut Vec<u8> = match &mut self.map {
            ViewGuard::Exclusive(g) => g,
            ViewGuard::LentExclusive(m) => m,
            _ => panic!("swap requires an exclusive view"),
        };
        self.store.watches.touch_dbs(&[map[a], map[b]]);
        map.swap(a, b);
        for i in [a, b] {
            self.store.logical[usize::from(map[i])].store(i as u8, Ordering::Relaxed);
        }
        // Physical indexes past the configured count keep their identity mapping.
        let mut full: Vec<u8> = (0..MAX_DATABASES as u8).collect();
        full[..map.len()].copy_from_slice(map);
        let mut wb = WriteBatch::default();
        wb.put(REC_DB_MAP, &full);
        self.store.write_raw(wb)?;
        Ok(())
    }

    /// Deletes every key of the given logical databases with range deletions (FLUSHDB/FLUSHALL):
    /// O(1) writes whatever their size. Returns the physical indexes for a later compaction.
    pub fn flush(&self, logical: &[usize]) -> Result<Vec<u8>> {
        let store = self.store;
        let mut wb = WriteBatch::default();
        let mut phys_list = Vec::new();
        for &l in logical {
            let Some(&p) = self.map().get(l) else {
                continue;
            };
            let start = [p];
            for cf in [CF_META, CF_DATA, CF_ZSCORE, CF_EXPIRE] {
                let cf = store.cf(cf);
                // Every key of database p lies in [p, p+1); p < 255 (see MAX_DATABASES).
                wb.delete_range_cf(cf, &start[..], &[p + 1][..]);
            }
            wb.put(count_key(p), 0i64.to_le_bytes());
            wb.put(expires_key(p), 0i64.to_le_bytes());
            phys_list.push(p);
        }
        store.write_raw(wb)?;
        store.cache.remove_dbs(&phys_list);
        for &p in &phys_list {
            store.counts[p as usize].store(0, Ordering::Relaxed);
            store.expires[p as usize].store(0, Ordering::Relaxed);
        }
        store.watches.touch_dbs(&phys_list);
        Ok(phys_list)
    }
}

/// One command's writes: committed atomically as one WriteBatch, with the key-count changes and
/// the expiry-index updates that keep DBSIZE and active expiry exact.
pub struct Batch<'a> {
    store: &'a Store,
    wb: WriteBatch,
    /// Per physical database: change in the key count and in the count of keys with a TTL.
    deltas: Vec<(u8, i64, i64)>,
    /// Blockable keys written, reported on commit while some client is blocked.
    ready: Vec<ready::ReadyKey>,
    /// Keys written, reported on commit while some key is watched.
    touched: Vec<watch::WatchKey>,
    /// Keys created, reported on commit while [`Store::created`] is armed.
    created: Vec<created::CreatedKey>,
    /// Expired keys deleted or overwritten, reported on commit while the expiry hook is armed.
    expired: Vec<created::CreatedKey>,
    /// Metadata written (`Some`) or deleted (`None`), in order, for the hot-key cache.
    cached: Vec<(u8, Vec<u8>, Option<Vec<u8>>)>,
}

impl<'a> Batch<'a> {
    /// Notes a write of `key` for WATCH.
    pub(crate) fn touch(&mut self, phys: u8, key: &[u8]) {
        let repeat = self
            .touched
            .last()
            .is_some_and(|(p, k)| *p == phys && k == key);
        if !repeat && (self.store.watches.is_armed() || written::is_armed()) {
            self.touched.push((phys, key.to_vec()));
        }
    }

    fn delta(&mut self, phys: u8, keys: i64, expires: i64) {
        match self.deltas.iter_mut().find(|(p, _, _)| *p == phys) {
            Some((_, k, e)) => {
                *k += keys;
                *e += expires;
            }
            None => self.deltas.push((phys, keys, expires)),
        }
    }

    /// Stores a key's metadata. `old` is the raw previous metadata (expired or not) so the key
    /// count and the expiry index stay exact.
    pub fn put_meta(&mut self, phys: u8, key: &[u8], old: Option<&Meta>, value: &[u8]) {
        let store = self.store;
        self.touch(phys, key);
        let new_at = encoding::read_u64(&value[2..10]);
        let old_at = old.map_or(0, Meta::expire_at);
        if old_at != new_at {
            if old_at != 0 {
                self.wb
                    .delete_cf(store.cf(CF_EXPIRE), expire_key(phys, old_at, key));
            }
            if new_at != 0 {
                self.wb
                    .put_cf(store.cf(CF_EXPIRE), expire_key(phys, new_at, key), []);
            }
        }
        let had_ttl = i64::from(old_at != 0);
        let has_ttl = i64::from(new_at != 0);
        self.delta(phys, i64::from(old.is_none()), has_ttl - had_ttl);
        // Overwriting an expired key creates one, as in Redis (which deletes it first).
        let creates = || old.is_none_or(|m| m.is_expired(crate::util::time::now_ms()));
        if store.created.is_armed() && creates() {
            self.created.push((phys, key.to_vec()));
        }
        if let Some(old) = old {
            self.note_if_expired(phys, key, old);
        }
        self.wb
            .put_cf(store.cf(CF_META), meta_key(phys, key), value);
        let cached =
            (store.cache.is_enabled() && value.len() <= cache::MAX_VALUE).then(|| value.to_vec());
        self.cached.push((phys, key.to_vec(), cached));
        let blockable = [ValueType::List, ValueType::ZSet, ValueType::Stream]
            .iter()
            .any(|&t| value[0] == t as u8);
        // A stream overwritten by another type is news too: its group readers get an error.
        let was_stream = old.is_some_and(|m| m.ty() == ValueType::Stream);
        if (blockable || was_stream) && store.ready.is_armed() {
            self.ready.push((phys, key.to_vec()));
        }
    }

    /// Deletes a key given its raw metadata. A collection's sub-keys are left to the compaction
    /// filter, so this is O(1) whatever the size.
    pub fn delete_key(&mut self, phys: u8, key: &[u8], old: &Meta) {
        let store = self.store;
        self.touch(phys, key);
        self.note_if_expired(phys, key, old);
        if old.expire_at() != 0 {
            self.wb
                .delete_cf(store.cf(CF_EXPIRE), expire_key(phys, old.expire_at(), key));
        }
        self.wb.delete_cf(store.cf(CF_META), meta_key(phys, key));
        self.cached.push((phys, key.to_vec(), None));
        self.delta(phys, -1, -i64::from(old.expire_at() != 0));
        // Clients blocked in XREADGROUP on a deleted stream are woken with an error.
        if old.ty() == ValueType::Stream && store.ready.is_armed() {
            self.ready.push((phys, key.to_vec()));
        }
    }

    /// Notes that the batch removes or replaces an expired key, for the expiry hook. Redis
    /// announces `expired` when a command finds such a key, before the command's own events.
    fn note_if_expired(&mut self, phys: u8, key: &[u8], old: &Meta) {
        if self.store.expired_armed.load(Ordering::Relaxed)
            && old.is_expired(crate::util::time::now_ms())
        {
            self.expired.push((phys, key.to_vec()));
        }
    }

    /// Direct access for type-specific sub-key writes.
    pub fn raw(&mut self) -> &mut WriteBatch {
        &mut self.wb
    }

    /// Whether the batch holds no writes.
    pub fn is_empty(&self) -> bool {
        self.wb.is_empty()
    }

    /// Commits atomically and applies the key-count changes. The write is in RocksDB's WAL buffer
    /// afterwards; [`Store::ack`] makes it durable before any reply goes out.
    pub fn commit(self) -> Result<()> {
        self.commit_with(true)
    }

    /// Commits without writing the WAL, for offline bulk loads (`basalt-rdb import`): the caller
    /// makes the writes durable with [`Store::flush_all`] before reporting success. Counts and
    /// hooks are applied as by [`Batch::commit`].
    pub fn commit_unlogged(self) -> Result<()> {
        self.commit_with(false)
    }

    fn commit_with(mut self, wal: bool) -> Result<()> {
        if self.wb.is_empty() {
            return Ok(());
        }
        // The hot-key cache brackets the write (see `cache`): every key of the batch is
        // uncacheable from before the write until its new value is in.
        let hot = &self.store.cache;
        for (phys, key, _) in &self.cached {
            hot.begin_write(*phys, key);
        }
        let written = if txn::active() {
            // Inside EXEC: applied now, logged once at the end with the counters' operands.
            txn::apply(self.store, std::mem::take(&mut self.wb), &self.deltas)
        } else {
            self.store.merge_counts(&mut self.wb, &self.deltas);
            let mut wo = WriteOptions::default();
            wo.set_sync(false);
            wo.disable_wal(!wal);
            self.store
                .db
                .write_opt(std::mem::take(&mut self.wb), &wo)
                .map_err(StoreError::from)
        };
        for (phys, key, value) in &self.cached {
            let value = value.as_deref().filter(|_| written.is_ok());
            hot.end_write(*phys, key, value);
        }
        written?;
        for (phys, keys, expires) in self.deltas {
            self.store.counts[phys as usize].fetch_add(keys, Ordering::Relaxed);
            self.store.expires[phys as usize].fetch_add(expires, Ordering::Relaxed);
        }
        if !self.ready.is_empty() {
            self.store.ready.push(self.ready);
        }
        if !self.touched.is_empty() {
            self.store.watches.touch(&self.touched);
            if written::is_armed() {
                written::record(self.touched.into_iter().map(|(_, k)| k));
            }
        }
        if !self.created.is_empty() {
            created::record(self.created);
        }
        if let (false, Some(hook)) = (self.expired.is_empty(), self.store.expired_hook.get()) {
            for (phys, key) in &self.expired {
                match self.store.logical[usize::from(*phys)].load(Ordering::Relaxed) {
                    NO_DB => {}
                    db => hook(usize::from(db), key),
                }
            }
        }
        Ok(())
    }
}

impl<'a> Db<'a> {
    /// The key's metadata if it exists and has not expired.
    pub fn meta(&self, key: &[u8]) -> Result<Option<Meta>> {
        let now = crate::util::time::now_ms();
        Ok(self
            .store
            .get_meta_raw(self.phys, key)?
            .filter(|m| !m.is_expired(now)))
    }

    /// The key's metadata as stored, expired or not; writers pass it to [`Batch`] so counts and
    /// the expiry index stay exact.
    pub fn meta_raw(&self, key: &[u8]) -> Result<Option<Meta>> {
        self.store.get_meta_raw(self.phys, key)
    }

    /// Locks one key of this database for a read-modify-write.
    pub fn lock(&self, key: &[u8]) -> KeyGuard<'a> {
        self.store.locks.lock_one(self.phys, key)
    }

    /// Locks several keys of this database.
    pub fn lock_keys<'k>(&self, keys: impl IntoIterator<Item = &'k [u8]>) -> KeyGuard<'a> {
        let phys = self.phys;
        self.store
            .locks
            .lock_many(keys.into_iter().map(|k| (phys, k)))
    }

    /// Starts a write batch.
    pub fn batch(&self) -> Batch<'a> {
        self.store.batch()
    }

    /// Number of keys in this database.
    pub fn size(&self) -> u64 {
        self.store.count(self.phys)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use encoding::data_prefix;

    fn open(dir: &Path) -> Arc<Store> {
        let cfg = Config {
            dir: dir.to_path_buf(),
            ..Config::default()
        };
        Store::open(&cfg).expect("open store")
    }

    fn put_string(store: &Store, phys: u8, key: &[u8], value: &[u8], expire_at: u64) {
        let old = store.get_meta_raw(phys, key).unwrap();
        let mut b = store.batch();
        b.put_meta(
            phys,
            key,
            old.as_ref(),
            &Meta::encode_string(value, expire_at),
        );
        b.commit().unwrap();
    }

    fn delete(store: &Store, phys: u8, key: &[u8]) {
        let old = store.get_meta_raw(phys, key).unwrap().unwrap();
        let mut b = store.batch();
        b.delete_key(phys, key, &old);
        b.commit().unwrap();
    }

    #[test]
    fn counts_are_exact_and_survive_reopen() {
        let dir = tempfile::tempdir().unwrap();
        {
            let s = open(dir.path());
            put_string(&s, 0, b"a", b"1", 0);
            put_string(&s, 0, b"a", b"2", 0); // overwrite: no new key
            put_string(&s, 0, b"b", b"1", 0);
            put_string(&s, 3, b"a", b"1", 0);
            delete(&s, 0, b"b");
            let later = crate::util::time::now_ms() + 100_000;
            put_string(&s, 0, b"t1", b"1", later);
            put_string(&s, 0, b"t2", b"1", later);
            put_string(&s, 0, b"t2", b"1", later + 1); // TTL changed: still one key with a TTL
            put_string(&s, 0, b"t1", b"1", 0); // TTL removed
            delete(&s, 0, b"t2");
            put_string(&s, 0, b"t3", b"1", later);
            assert_eq!((s.count(0), s.count(3)), (3, 1));
            assert_eq!(s.expires_count(0), 1);
            s.ack().unwrap();
        }
        let s = open(dir.path());
        assert_eq!((s.count(0), s.count(3)), (3, 1));
        assert_eq!(s.expires_count(0), 1);
    }

    #[test]
    fn expired_and_created_keys_are_reported_once_armed() {
        let dir = tempfile::tempdir().unwrap();
        let s = open(dir.path());
        let seen = Arc::new(Mutex::new(Vec::new()));
        let sink = seen.clone();
        s.set_expired_hook(Box::new(move |db, key| {
            sink.lock().push((db, key.to_vec()))
        }));
        let past = crate::util::time::now_ms() - 1;
        // Disarmed: nothing recorded.
        put_string(&s, 0, b"a", b"1", past);
        put_string(&s, 0, b"a", b"2", 0);
        assert!(seen.lock().is_empty());
        assert!(!created::take(0, b"a"));
        s.arm_expired_hook(true);
        s.created.arm(true);
        // Overwriting an expired key: reported as expired, and as created.
        put_string(&s, 0, b"b", b"1", past);
        assert!(created::take(0, b"b"));
        put_string(&s, 0, b"b", b"2", 0);
        assert!(created::take(0, b"b"));
        // Deleting one (DEL), and the active cycle: reported too, with the logical index.
        put_string(&s, 0, b"c", b"1", past);
        delete(&s, 0, b"c");
        let mut view = s.view_exclusive();
        view.swap(0, 1).unwrap();
        drop(view);
        put_string(&s, 0, b"d", b"1", past);
        s.expire_cycle(100).unwrap();
        // A live overwrite is neither.
        put_string(&s, 0, b"b", b"3", 0);
        assert!(!created::take(0, b"b"));
        assert_eq!(
            *seen.lock(),
            vec![(0, b"b".to_vec()), (0, b"c".to_vec()), (1, b"d".to_vec())]
        );
    }

    #[test]
    fn active_expiry_removes_due_keys_and_stale_index_entries() {
        let dir = tempfile::tempdir().unwrap();
        let s = open(dir.path());
        let past = crate::util::time::now_ms() - 1;
        let future = crate::util::time::now_ms() + 1_000_000;
        put_string(&s, 0, b"due", b"x", past);
        put_string(&s, 0, b"later", b"x", future);
        // A TTL changed from `past` to none leaves a stale index entry that must not delete the key.
        put_string(&s, 0, b"kept", b"x", past);
        put_string(&s, 0, b"kept", b"y", 0);
        assert_eq!(s.count(0), 3);
        s.expire_cycle(100).unwrap();
        assert!(s.get_meta_raw(0, b"due").unwrap().is_none());
        assert!(s.get_meta_raw(0, b"later").unwrap().is_some());
        assert_eq!(
            s.get_meta_raw(0, b"kept").unwrap().unwrap().inline_value(),
            Some(&b"y"[..])
        );
        assert_eq!(s.count(0), 2);
        // Nothing due is left in the index.
        let mut it = s.rocks().raw_iterator_cf(s.cf(CF_EXPIRE));
        it.seek_to_first();
        let mut left = Vec::new();
        while let Some(k) = it.key() {
            left.push(parse_expire_key(k).unwrap().2.to_vec());
            it.next();
        }
        assert_eq!(left, vec![b"later".to_vec()]);
    }

    #[test]
    fn compaction_drops_sub_keys_of_deleted_and_replaced_collections() {
        let dir = tempfile::tempdir().unwrap();
        let s = open(dir.path());
        let v1 = s.next_version().unwrap();
        let v2 = s.next_version().unwrap();
        assert!(v2 > v1);
        // A live hash at v2 with one field, and a stale field left over from v1.
        let mut b = s.batch();
        b.put_meta(
            0,
            b"h",
            None,
            &Meta::encode_collection(ValueType::Hash, 0, v2, 1),
        );
        for (v, field) in [(v1, &b"old"[..]), (v2, &b"new"[..])] {
            let mut k = data_prefix(0, b"h", v);
            k.extend_from_slice(field);
            b.raw().put_cf(s.cf(CF_DATA), k, b"value");
        }
        // Sub-keys of a collection that no longer exists at all.
        let mut gone = data_prefix(0, b"gone", v1);
        gone.extend_from_slice(b"f");
        b.raw().put_cf(s.cf(CF_DATA), gone, b"value");
        b.commit().unwrap();
        s.rocks().flush_cf(s.cf(CF_DATA)).unwrap();
        s.rocks()
            .compact_range_cf::<&[u8], &[u8]>(s.cf(CF_DATA), None, None);
        let mut it = s.rocks().raw_iterator_cf(s.cf(CF_DATA));
        it.seek_to_first();
        let mut left = Vec::new();
        while let Some(k) = it.key() {
            let p = encoding::parse_data_key(k).unwrap();
            left.push((p.key.to_vec(), p.version, p.sub.to_vec()));
            it.next();
        }
        assert_eq!(left, vec![(b"h".to_vec(), v2, b"new".to_vec())]);
    }

    #[test]
    fn versions_are_never_reused_across_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let first = {
            let s = open(dir.path());
            s.next_version().unwrap()
        };
        let s = open(dir.path());
        assert!(s.next_version().unwrap() > first);
    }

    #[test]
    fn an_older_schema_is_upgraded_in_place() {
        let dir = tempfile::tempdir().unwrap();
        {
            let s = open(dir.path());
            s.rocks().put(REC_SCHEMA, 1u32.to_be_bytes()).unwrap();
            s.rocks().flush_wal(true).unwrap();
        }
        let s = open(dir.path());
        let v = s.rocks().get(REC_SCHEMA).unwrap().unwrap();
        assert_eq!(v, encoding::SCHEMA_VERSION.to_be_bytes());
    }

    #[test]
    fn another_schema_version_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        {
            let s = open(dir.path());
            s.rocks().put(REC_SCHEMA, 999u32.to_be_bytes()).unwrap();
            s.rocks().flush_wal(true).unwrap();
        }
        let cfg = Config {
            dir: dir.path().to_path_buf(),
            ..Config::default()
        };
        match Store::open(&cfg) {
            Err(StoreError::Schema(msg)) => assert!(msg.contains("v999"), "{msg}"),
            Err(e) => panic!("unexpected error {e}"),
            Ok(_) => panic!("a foreign schema version was accepted"),
        }
    }

    #[test]
    fn flush_removes_only_the_given_databases_and_swap_persists() {
        let dir = tempfile::tempdir().unwrap();
        {
            let s = open(dir.path());
            put_string(&s, 0, b"a", b"0", 0);
            put_string(&s, 1, b"a", b"1", crate::util::time::now_ms() + 100_000);
            put_string(&s, 2, b"a", b"2", 0);
            let phys = s.view_exclusive().flush(&[1]).unwrap();
            assert_eq!(phys, vec![1]);
            assert!(s.get_meta_raw(1, b"a").unwrap().is_none());
            assert_eq!((s.count(0), s.count(1), s.count(2)), (1, 0, 1));
            s.view_exclusive().swap(0, 2).unwrap();
            let view = s.view();
            assert_eq!(view.db(0).unwrap().phys, 2);
            s.rocks().flush_wal(true).unwrap();
        }
        let s = open(dir.path());
        assert_eq!(s.view().db(0).unwrap().phys, 2);
        assert_eq!(s.view().db(2).unwrap().phys, 0);
        assert_eq!(s.count(1), 0);
    }
}
