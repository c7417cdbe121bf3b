//! Striped per-key locks for read-modify-write commands.
//!
//! A key hashes to one of a fixed set of mutexes. Multi-key commands lock their stripes in
//! ascending index order, so two commands naming the same keys in any order cannot deadlock.

use parking_lot::{Mutex, MutexGuard};

const STRIPES: usize = 4096;

/// The lock table.
pub struct KeyLocks {
    stripes: Box<[Mutex<()>]>,
}

/// Holds the stripes of one command's keys until dropped.
pub struct KeyGuard<'a> {
    _guards: Vec<MutexGuard<'a, ()>>,
}

impl Default for KeyLocks {
    fn default() -> Self {
        Self {
            stripes: (0..STRIPES).map(|_| Mutex::new(())).collect(),
        }
    }
}

/// FNV-1a over the database index and the key: cheap, and good enough to spread keys over stripes.
fn stripe_of(db: u8, key: &[u8]) -> usize {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in std::iter::once(&db).chain(key) {
        h ^= b as u64;
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    (h as usize) % STRIPES
}

impl KeyLocks {
    /// Locks one key.
    pub fn lock_one(&self, db: u8, key: &[u8]) -> KeyGuard<'_> {
        KeyGuard {
            _guards: vec![self.stripes[stripe_of(db, key)].lock()],
        }
    }

    /// Locks several keys (possibly in several databases) in a deadlock-free order.
    pub fn lock_many<'k>(&self, keys: impl IntoIterator<Item = (u8, &'k [u8])>) -> KeyGuard<'_> {
        let mut idx: Vec<usize> = keys.into_iter().map(|(db, k)| stripe_of(db, k)).collect();
        idx.sort_unstable();
        idx.dedup();
        KeyGuard {
            _guards: idx.into_iter().map(|i| self.stripes[i].lock()).collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn same_key_twice_does_not_self_deadlock() {
        let l = KeyLocks::default();
        let _g = l.lock_many([(0, &b"a"[..]), (0, &b"a"[..]), (1, &b"a"[..])]);
    }

    #[test]
    fn opposite_orders_do_not_deadlock() {
        let l = Arc::new(KeyLocks::default());
        let threads: Vec<_> = (0..4)
            .map(|t| {
                let l = l.clone();
                std::thread::spawn(move || {
                    for _ in 0..2000 {
                        let keys: [&[u8]; 2] = if t % 2 == 0 {
                            [b"x", b"y"]
                        } else {
                            [b"y", b"x"]
                        };
                        let _g = l.lock_many(keys.iter().map(|k| (0u8, *k)));
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
    }
}
