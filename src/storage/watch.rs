//! Keys watched by WATCH, and the flags that a write to one of them raises.
//!
//! WATCH makes EXEC fail if a watched key changed, by anyone, through any path. Every write of a
//! key goes through [`Batch`](super::Batch) (metadata, element writes and deletions), so the batch
//! reports the keys it wrote here on commit while anything is watched; FLUSHDB, FLUSHALL and
//! SWAPDB raise every flag of their databases. With nothing watched the cost is one atomic load
//! per write.

use parking_lot::Mutex;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;

/// A key in a physical database.
pub type WatchKey = (u8, Vec<u8>);

/// The raised-when-modified flag of one client's WATCH.
pub type DirtyFlag = Arc<AtomicBool>;

/// The registry of watched keys.
#[derive(Default)]
pub struct Watches {
    /// Number of (key, client) registrations.
    armed: AtomicUsize,
    map: Mutex<HashMap<WatchKey, Vec<DirtyFlag>>>,
}

impl Watches {
    /// Whether writes must report their keys. SeqCst pairs with [`Watches::watch`]: a key is
    /// registered before WATCH replies, and a write checks after taking the key lock.
    pub fn is_armed(&self) -> bool {
        self.armed.load(Ordering::SeqCst) > 0
    }

    /// Watches `key` for the client owning `flag`.
    pub fn watch(&self, key: WatchKey, flag: &DirtyFlag) {
        let mut map = self.map.lock();
        let flags = map.entry(key).or_default();
        if !flags.iter().any(|f| Arc::ptr_eq(f, flag)) {
            flags.push(Arc::clone(flag));
            self.armed.fetch_add(1, Ordering::SeqCst);
        }
    }

    /// Stops watching `key` for the client owning `flag`.
    pub fn unwatch(&self, key: &WatchKey, flag: &DirtyFlag) {
        let mut map = self.map.lock();
        if let Some(flags) = map.get_mut(key) {
            let before = flags.len();
            flags.retain(|f| !Arc::ptr_eq(f, flag));
            self.armed.fetch_sub(before - flags.len(), Ordering::SeqCst);
            if flags.is_empty() {
                map.remove(key);
            }
        }
    }

    /// Raises the flags of every client watching one of `keys`.
    pub fn touch<'k>(&self, keys: impl IntoIterator<Item = &'k WatchKey>) {
        let map = self.map.lock();
        for k in keys {
            for f in map.get(k).into_iter().flatten() {
                f.store(true, Ordering::SeqCst);
            }
        }
    }

    /// Raises the flags of every key watched in the physical databases `dbs`.
    pub fn touch_dbs(&self, dbs: &[u8]) {
        if !self.is_armed() {
            return;
        }
        let map = self.map.lock();
        for ((phys, _), flags) in map.iter() {
            if dbs.contains(phys) {
                for f in flags {
                    f.store(true, Ordering::SeqCst);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn touch_raises_only_the_watchers_of_the_key() {
        let w = Watches::default();
        let (a, b) = (DirtyFlag::default(), DirtyFlag::default());
        assert!(!w.is_armed());
        w.watch((0, b"k".to_vec()), &a);
        w.watch((0, b"k".to_vec()), &a);
        w.watch((1, b"j".to_vec()), &b);
        assert!(w.is_armed());
        w.touch([&(0, b"x".to_vec())]);
        assert!(!a.load(Ordering::SeqCst) && !b.load(Ordering::SeqCst));
        w.touch([&(0, b"k".to_vec())]);
        assert!(a.load(Ordering::SeqCst) && !b.load(Ordering::SeqCst));
        w.touch_dbs(&[1]);
        assert!(b.load(Ordering::SeqCst));
        w.unwatch(&(0, b"k".to_vec()), &a);
        w.unwatch(&(1, b"j".to_vec()), &b);
        assert!(!w.is_armed());
        assert!(w.map.lock().is_empty());
    }
}
