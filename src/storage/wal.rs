//! Acknowledgement of writes: nothing is acknowledged before it is in the write-ahead log.
//!
//! RocksDB runs with `manual_wal_flush`, so a WriteBatch lands in an in-process WAL buffer. Before a
//! connection writes the replies of a pass, it calls [`Wal::ack`]: one `FlushWAL` puts every buffered
//! write in the OS (and, under `fsync always`, on disk). Flushes are shared: a connection whose writes
//! were already carried out by another connection's flush returns at once, so concurrent clients
//! commit as a group and a pipeline of N writes costs one system call, not N.

use crate::config::FsyncMode;
use parking_lot::Mutex;
use rocksdb::DB;
use std::sync::atomic::{AtomicU64, AtomicU8, Ordering};

/// The shared flush gate.
pub struct Wal {
    mode: AtomicU8,
    /// Serialises flushes; whoever holds it flushes for everyone waiting.
    gate: Mutex<()>,
    /// Highest sequence number known to be in the OS (flushed from RocksDB's buffer).
    flushed: AtomicU64,
    /// Highest sequence number known to be fsynced.
    synced: AtomicU64,
    flushes: AtomicU64,
    syncs: AtomicU64,
}

fn mode_to_u8(m: FsyncMode) -> u8 {
    match m {
        FsyncMode::Always => 0,
        FsyncMode::EverySec => 1,
        FsyncMode::No => 2,
    }
}

impl Wal {
    pub fn new(mode: FsyncMode) -> Self {
        Self {
            mode: AtomicU8::new(mode_to_u8(mode)),
            gate: Mutex::new(()),
            flushed: AtomicU64::new(0),
            synced: AtomicU64::new(0),
            flushes: AtomicU64::new(0),
            syncs: AtomicU64::new(0),
        }
    }

    /// The fsync policy in force.
    pub fn mode(&self) -> FsyncMode {
        match self.mode.load(Ordering::Relaxed) {
            0 => FsyncMode::Always,
            1 => FsyncMode::EverySec,
            _ => FsyncMode::No,
        }
    }

    /// Changes the fsync policy (CONFIG SET fsync).
    pub fn set_mode(&self, m: FsyncMode) {
        self.mode.store(mode_to_u8(m), Ordering::Relaxed);
    }

    /// Makes every write visible so far durable per the policy. Blocks for the flush (and under
    /// `always` the fsync); concurrent callers share one. Lock-free when there is nothing to do,
    /// which is every read-only pass.
    pub fn ack(&self, db: &DB) -> Result<(), rocksdb::Error> {
        let need = db.latest_sequence_number();
        let sync = self.mode() == FsyncMode::Always;
        // Under `always` only a sync counts (the policy may have just changed from a weaker one).
        let done = |w: &Self| {
            if sync {
                w.synced.load(Ordering::Acquire)
            } else {
                w.flushed.load(Ordering::Acquire)
            }
        };
        if done(self) >= need {
            return Ok(());
        }
        let _gate = self.gate.lock();
        // Another caller may have flushed our writes while we waited for the gate.
        if done(self) >= need {
            return Ok(());
        }
        // Everything published up to here is in the WAL buffer and is covered by this flush.
        let upto = db.latest_sequence_number();
        db.flush_wal(sync)?;
        self.flushed.fetch_max(upto, Ordering::AcqRel);
        self.flushes.fetch_add(1, Ordering::Relaxed);
        if sync {
            self.synced.fetch_max(upto, Ordering::AcqRel);
            self.syncs.fetch_add(1, Ordering::Relaxed);
        }
        Ok(())
    }

    /// Flushes and fsyncs the WAL if anything was written since the last sync (the `everysec` tick,
    /// SAVE and shutdown).
    pub fn sync(&self, db: &DB) -> Result<(), rocksdb::Error> {
        let upto = db.latest_sequence_number();
        if self.synced.load(Ordering::Relaxed) >= upto {
            return Ok(());
        }
        db.flush_wal(true)?;
        self.flushed.fetch_max(upto, Ordering::AcqRel);
        self.synced.fetch_max(upto, Ordering::AcqRel);
        self.syncs.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }

    /// (WAL flushes, fsyncs) performed so far, for INFO.
    pub fn counts(&self) -> (u64, u64) {
        (
            self.flushes.load(Ordering::Relaxed),
            self.syncs.load(Ordering::Relaxed),
        )
    }
}
