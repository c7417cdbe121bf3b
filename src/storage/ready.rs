//! Keys that blocked clients may now be served from.
//!
//! A client blocked in BLPOP or BZPOPMIN waits for its key to hold a list or sorted set. Every
//! path that can produce one (a push, LMOVE, ZUNIONSTORE, RENAME, COPY, MOVE, RESTORE, a
//! transaction) ends in [`Batch::put_meta`](super::Batch::put_meta), so that is where readiness is
//! noticed: while any client is blocked, a committed batch reports the list, sorted-set and stream
//! keys it wrote here, and the server serves the waiters before the writer's reply goes out. With
//! nobody blocked the cost is one relaxed atomic load per metadata write.

use parking_lot::Mutex;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

/// A key in a physical database.
pub type ReadyKey = (u8, Vec<u8>);

/// The set of keys written since the server last served blocked clients.
#[derive(Default)]
pub struct ReadyKeys {
    /// Number of registered waiters; zero means nobody needs to hear about writes.
    armed: AtomicUsize,
    pending: Mutex<Vec<ReadyKey>>,
    has_pending: AtomicBool,
}

impl ReadyKeys {
    /// A waiter registered: start reporting writes.
    pub fn arm(&self) {
        self.armed.fetch_add(1, Ordering::SeqCst);
    }

    /// A waiter went away.
    pub fn disarm(&self) {
        self.armed.fetch_sub(1, Ordering::SeqCst);
    }

    /// Whether a batch being built must report the blockable keys it writes.
    ///
    /// SeqCst pairs with [`ReadyKeys::arm`]: a waiter arms before it looks at its keys, and a
    /// writer checks after taking the key lock, so one of the two always sees the other.
    pub fn is_armed(&self) -> bool {
        self.armed.load(Ordering::SeqCst) > 0
    }

    /// Records keys a committed batch made ready.
    pub fn push(&self, keys: impl IntoIterator<Item = ReadyKey>) {
        let mut p = self.pending.lock();
        p.extend(keys);
        if !p.is_empty() {
            self.has_pending.store(true, Ordering::Release);
        }
    }

    /// Whether some key waits to be looked at (one atomic load: checked after every command).
    pub fn has_pending(&self) -> bool {
        self.has_pending.load(Ordering::Acquire)
    }

    /// Takes the pending keys, without duplicates, in the order they were first written.
    pub fn take(&self) -> Vec<ReadyKey> {
        let mut p = self.pending.lock();
        self.has_pending.store(false, Ordering::Release);
        let mut keys = std::mem::take(&mut *p);
        drop(p);
        let mut seen = std::collections::HashSet::with_capacity(keys.len());
        keys.retain(|k| seen.insert(k.clone()));
        keys
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn take_deduplicates_and_clears() {
        let r = ReadyKeys::default();
        assert!(!r.is_armed() && !r.has_pending());
        r.arm();
        assert!(r.is_armed());
        r.push([(0, b"a".to_vec()), (0, b"b".to_vec()), (0, b"a".to_vec())]);
        assert!(r.has_pending());
        assert_eq!(r.take(), vec![(0, b"a".to_vec()), (0, b"b".to_vec())]);
        assert!(!r.has_pending());
        assert!(r.take().is_empty());
        r.disarm();
        assert!(!r.is_armed());
    }
}
