//! Compaction filters that reclaim the space of deleted, overwritten and expired collections and
//! fragmented strings.
//!
//! Deleting a collection (or a fragmented string) only removes its metadata; its sub-keys in
//! `data` and `zscore` carry a version that no longer matches, so reads never see them. When
//! RocksDB compacts those files, this filter looks up each sub-key's owner in `meta` and drops the
//! sub-key when the owner is gone, expired, an inline string, or has another version. A removed
//! entry becomes a tombstone below the bottom level, so an older value can never resurface.

use super::encoding::{meta_key, parse_data_key, Meta, CF_META};
use rocksdb::compaction_filter::{CompactionFilter, Decision};
use rocksdb::compaction_filter_factory::{CompactionFilterContext, CompactionFilterFactory};
use rocksdb::DB;
use std::ffi::CStr;
use std::sync::{Arc, OnceLock, Weak};

/// Late-bound handle to the database: the filter is configured before the DB is opened.
pub type DbSlot = Arc<OnceLock<Weak<DB>>>;

/// Creates one [`StaleSubkeyFilter`] per compaction.
pub struct StaleSubkeyFilterFactory {
    pub db: DbSlot,
    pub name: &'static CStr,
}

impl CompactionFilterFactory for StaleSubkeyFilterFactory {
    type Filter = StaleSubkeyFilter;

    fn create(&mut self, _context: CompactionFilterContext) -> Self::Filter {
        StaleSubkeyFilter {
            db: self.db.get().and_then(Weak::upgrade),
            name: self.name,
            cached: None,
        }
    }

    fn name(&self) -> &CStr {
        self.name
    }
}

/// Drops sub-keys whose owning collection no longer has their version.
pub struct StaleSubkeyFilter {
    db: Option<Arc<DB>>,
    name: &'static CStr,
    /// Sub-keys of one collection are adjacent: remember the last owner's live version.
    cached: Option<(u8, Vec<u8>, Option<u64>)>,
}

impl StaleSubkeyFilter {
    /// The live version of (db, key), or None if the key is absent, expired or has no sub-keys
    /// (an inline string). Outer None: the metadata could not be read.
    fn live_version(db: &DB, dbi: u8, key: &[u8]) -> Option<Option<u64>> {
        let cf = db.cf_handle(CF_META)?;
        match db.get_cf(cf, meta_key(dbi, key)) {
            Ok(Some(raw)) => {
                let meta = Meta::decode(raw).ok()?;
                let now = crate::util::time::now_ms();
                if meta.is_expired(now) || !meta.has_subkeys() {
                    Some(None)
                } else {
                    Some(Some(meta.version()))
                }
            }
            Ok(None) => Some(None),
            // On a read error keep the entry: dropping live data is worse than keeping garbage.
            Err(_) => None,
        }
    }
}

impl CompactionFilter for StaleSubkeyFilter {
    fn filter(&mut self, _level: u32, key: &[u8], _value: &[u8]) -> Decision {
        let (Some(db), Some(parsed)) = (self.db.as_ref(), parse_data_key(key)) else {
            return Decision::Keep;
        };
        let live = match &self.cached {
            Some((d, k, v)) if *d == parsed.db && k == parsed.key => *v,
            _ => {
                let Some(v) = Self::live_version(db, parsed.db, parsed.key) else {
                    return Decision::Keep;
                };
                self.cached = Some((parsed.db, parsed.key.to_vec(), v));
                v
            }
        };
        if live == Some(parsed.version) {
            Decision::Keep
        } else {
            Decision::Remove
        }
    }

    fn name(&self) -> &CStr {
        self.name
    }
}
