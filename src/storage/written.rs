//! The keys the current thread's commands wrote, for client-side caching invalidation.
//!
//! A command runs synchronously on one thread, and every write of a key goes through
//! [`Batch`](super::Batch); so while any client tracks keys, a committed batch appends the user
//! keys it wrote to a per-thread list, which the server drains right after the command and turns
//! into invalidation messages (knowing which client wrote, for NOLOOP). With no tracking client
//! the cost is one relaxed atomic load per commit.

use std::cell::RefCell;
use std::sync::atomic::{AtomicUsize, Ordering};

static ARMED: AtomicUsize = AtomicUsize::new(0);

thread_local! {
    static WRITTEN: RefCell<Vec<Vec<u8>>> = const { RefCell::new(Vec::new()) };
}

/// A client turned tracking on.
pub fn arm() {
    ARMED.fetch_add(1, Ordering::Relaxed);
}

/// A client turned tracking off.
pub fn disarm() {
    ARMED.fetch_sub(1, Ordering::Relaxed);
}

/// Whether commits must record their keys.
pub fn is_armed() -> bool {
    ARMED.load(Ordering::Relaxed) > 0
}

/// Records keys a committed batch wrote.
pub(super) fn record(keys: impl IntoIterator<Item = Vec<u8>>) {
    WRITTEN.with(|w| w.borrow_mut().extend(keys));
}

/// Takes the keys written on this thread since the last call, in the order first written,
/// without duplicates.
pub fn take() -> Vec<Vec<u8>> {
    let mut keys = WRITTEN.with(|w| std::mem::take(&mut *w.borrow_mut()));
    let mut seen = std::collections::HashSet::with_capacity(keys.len());
    keys.retain(|k| seen.insert(k.clone()));
    keys
}
