//! Acknowledgement of writes: nothing is acknowledged before it is in the write-ahead log.
//!
//! RocksDB writes each WriteBatch's WAL record to the OS before `write` returns (its own write
//! group merges concurrent writers into one system call), so under `fsync no` and `everysec` a
//! write is acknowledgeable as soon as it is committed, and a `kill -9` loses nothing. Under
//! `fsync always`, the connection calls [`Wal::ack`] once per pass before writing replies: one
//! fsync covers every write of the pass, and it is shared: a connection whose writes were already
//! synced by another connection's fsync returns at once, so concurrent clients commit as a group.
//!
//! (The design proposed `manual_wal_flush` with one `FlushWAL` per pass. Measured with
//! redis-benchmark, that made unpipelined SET ~40% slower, from the extra flush gate two workers
//! contend on, and pipelined SET no faster; see docs/ARCHITECTURE.md.)

use crate::config::FsyncMode;
use parking_lot::Mutex;
use rocksdb::DB;
use std::sync::atomic::{AtomicU64, AtomicU8, Ordering};

/// The shared flush gate.
pub struct Wal {
    mode: AtomicU8,
    /// Serialises fsyncs; whoever holds it syncs for everyone waiting.
    gate: Mutex<()>,
    /// Highest sequence number known to be fsynced.
    synced: AtomicU64,
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
            synced: AtomicU64::new(0),
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

    /// Makes every write visible so far durable per the policy: under `always`, fsyncs the WAL
    /// unless another caller's fsync already covered it; otherwise nothing to do (the OS has the
    /// records). Lock-free when there is nothing to do.
    pub fn ack(&self, db: &DB) -> Result<(), rocksdb::Error> {
        if self.mode() != FsyncMode::Always {
            return Ok(());
        }
        let need = db.latest_sequence_number();
        if self.synced.load(Ordering::Acquire) >= need {
            return Ok(());
        }
        let _gate = self.gate.lock();
        // Another caller may have synced our writes while we waited for the gate.
        if self.synced.load(Ordering::Acquire) >= need {
            return Ok(());
        }
        // Everything published up to here is in the WAL file and is covered by this sync.
        let upto = db.latest_sequence_number();
        db.flush_wal(true)?;
        self.synced.fetch_max(upto, Ordering::AcqRel);
        self.syncs.fetch_add(1, Ordering::Relaxed);
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
        self.synced.fetch_max(upto, Ordering::AcqRel);
        self.syncs.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }

    /// WAL fsyncs performed so far, for INFO.
    pub fn fsyncs(&self) -> u64 {
        self.syncs.load(Ordering::Relaxed)
    }
}
