//! Keys created by commits, for the `new` keyspace event (`notify-keyspace-events n`).
//!
//! A [`Batch`](super::Batch) knows when it writes metadata where there was none (or only an
//! expired key): that is a key being created, wherever in the command families it happens. When
//! armed, committed batches append those keys to a list of the committing thread; the command
//! that made them, still running on that thread (handlers are synchronous), takes a key from the
//! list when it announces its own event about that key, so `new` precedes it as Redis's `dbAdd`
//! does (MSET: `new a`, `set a`, `new b`, `set b`).
//!
//! Disarmed (the default), the cost is one relaxed load per metadata write.

use std::cell::RefCell;
use std::sync::atomic::{AtomicBool, Ordering};

/// A created key: physical database and key.
pub type CreatedKey = (u8, Vec<u8>);

thread_local! {
    static CREATED: RefCell<Vec<CreatedKey>> = const { RefCell::new(Vec::new()) };
}

/// Whether created keys are being recorded.
#[derive(Default)]
pub struct CreatedKeys {
    armed: AtomicBool,
}

impl CreatedKeys {
    pub fn is_armed(&self) -> bool {
        self.armed.load(Ordering::Relaxed)
    }

    /// Starts or stops recording; stopping forgets what this thread had not taken yet.
    pub fn arm(&self, on: bool) {
        self.armed.store(on, Ordering::Relaxed);
        if !on {
            CREATED.with(|c| c.borrow_mut().clear());
        }
    }
}

/// At most this many keys wait to be announced per thread: every command that creates a key
/// announces an event about it at once, so more would only be entries nobody will take.
const MAX_PENDING: usize = 1024;

/// Records keys a batch committed on this thread created.
pub(super) fn record(keys: Vec<CreatedKey>) {
    CREATED.with(|c| {
        let mut c = c.borrow_mut();
        c.extend(keys);
        if c.len() > MAX_PENDING {
            let extra = c.len() - MAX_PENDING;
            c.drain(..extra);
        }
    });
}

/// Takes `key` of physical database `phys` off this thread's list of created keys; whether it
/// was there.
pub fn take(phys: u8, key: &[u8]) -> bool {
    CREATED.with(|c| {
        let mut c = c.borrow_mut();
        let before = c.len();
        c.retain(|(p, k)| !(*p == phys && k == key));
        c.len() != before
    })
}
