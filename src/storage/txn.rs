//! One WAL record for a whole transaction (EXEC).
//!
//! EXEC's queued commands must each see the writes of the ones before them, and RocksDB's plain
//! `DB` has no reads through an uncommitted batch. So while a transaction runs (on one thread,
//! with every other command held off by EXEC's exclusive view), each command's batch is applied
//! to the memtables without the WAL, so later commands read it, and its records are appended to
//! one transaction batch; the key counters' merge operands are kept aside and added once. At the
//! end that batch is written with the WAL: it re-applies the same puts and deletes in the same
//! order (the final state does not change) and is the transaction's only WAL record, so a crash
//! before it loses the whole transaction and a crash after it keeps all of it. The key counters
//! are merge operands, which must not be applied twice: the commands' operands go to the
//! memtables only, and the record ends with the counters' resulting values instead.
//!
//! The last batch is held back until something reads (a metadata read, or the next command of
//! the transaction): when nothing does, the final record is the only thing that applies it, so
//! a transaction or script whose last (often only) command writes pays one write for it, not two.
//!
//! The residual window: a memtable flush that happens to run during the transaction persists its
//! WAL-less writes early; a crash between that flush and the transaction's record would then
//! keep part of it.

use super::{Result, Store};
use rocksdb::{WriteBatch, WriteOptions};
use std::cell::RefCell;

/// Bytes of a WriteBatch's header: sequence number (8) and record count (4, little-endian).
const HEADER: usize = 12;

#[derive(Default)]
struct Log {
    /// Records of every batch committed so far, without their headers.
    records: Vec<u8>,
    count: u32,
    /// Physical databases whose key counters changed.
    counted: Vec<u8>,
    /// The last batch, not applied to the memtables yet (with its counters' operands): applied
    /// before anything reads, or else only by the final record.
    pending: Option<WriteBatch>,
}

thread_local! {
    static LOG: RefCell<Option<Log>> = const { RefCell::new(None) };
}

/// Whether this thread is inside a transaction.
pub(super) fn active() -> bool {
    LOG.with(|l| l.borrow().is_some())
}

/// Takes `wb` into the running transaction: to the memtables before the next read (see
/// [`flush_pending`]), to the WAL at the end. `deltas` are the key-count changes; their merge
/// operands go to the memtables only, the final record carries the counters' values instead.
///
/// The batch is held back until something reads: the last batch of a transaction (often its
/// only one, as in a script that takes a lock) then reaches the memtables once, through the
/// final record, instead of twice.
pub(super) fn apply(store: &Store, mut wb: WriteBatch, deltas: &[(u8, i64, i64)]) -> Result<()> {
    flush_pending(store)?;
    let data = wb.data();
    let (records, count) = (data[HEADER..].to_vec(), wb.len() as u32);
    store.merge_counts(&mut wb, deltas);
    LOG.with(|l| {
        if let Some(log) = l.borrow_mut().as_mut() {
            log.records.extend_from_slice(&records);
            log.count += count;
            log.pending = Some(wb);
            for &(phys, _, _) in deltas {
                if !log.counted.contains(&phys) {
                    log.counted.push(phys);
                }
            }
        }
    });
    Ok(())
}

/// Applies the transaction's held-back batch to the memtables, so a read sees it; called before
/// every metadata read and before each command of a transaction or script. Nothing to do (one
/// thread-local check) outside a transaction.
pub fn flush_pending(store: &Store) -> Result<()> {
    let Some(wb) = LOG.with(|l| l.borrow_mut().as_mut().and_then(|log| log.pending.take())) else {
        return Ok(());
    };
    let mut wo = WriteOptions::default();
    wo.disable_wal(true);
    store.db.write_opt(wb, &wo)?;
    Ok(())
}

/// A running transaction; [`Txn::commit`] writes its record. Dropped without a commit (a panic
/// in a command), it still writes what was applied, so memory and WAL never disagree for long.
pub struct Txn<'a> {
    store: &'a Store,
    done: bool,
    /// Started inside another transaction (EVAL inside EXEC): the outer one writes the record.
    nested: bool,
}

impl Store {
    /// Starts a transaction on this thread: batches committed until [`Txn::commit`] go to the
    /// WAL as one record.
    pub fn begin_txn(&self) -> Txn<'_> {
        let nested = active();
        if !nested {
            LOG.with(|l| *l.borrow_mut() = Some(Log::default()));
        }
        Txn {
            store: self,
            done: false,
            nested,
        }
    }
}

impl Txn<'_> {
    /// Writes the transaction's WAL record.
    pub fn commit(mut self) -> Result<()> {
        self.done = true;
        if self.nested {
            return Ok(());
        }
        finish(self.store)
    }

    /// Drops the transaction without writing its record (a script stopped by SHUTDOWN NOSAVE,
    /// whose writes Redis would not persist either): its writes reached the memtables only, not
    /// the WAL, so a restart does not replay them (unless a memtable flush persisted them, the
    /// window described above). Inside another transaction, that one decides.
    pub fn abandon(mut self) {
        self.done = true;
        if !self.nested {
            LOG.with(|l| l.borrow_mut().take());
        }
    }
}

impl Drop for Txn<'_> {
    fn drop(&mut self) {
        if !self.done && !self.nested {
            if let Err(e) = finish(self.store) {
                tracing::error!(error = %e, "writing an interrupted transaction's WAL record failed");
            }
        }
    }
}

fn finish(store: &Store) -> Result<()> {
    let Some(log) = LOG.with(|l| l.borrow_mut().take()) else {
        return Ok(());
    };
    // A held-back batch is applied by the record itself (its records are in it).
    if log.count == 0 && log.counted.is_empty() {
        if let Some(wb) = log.pending {
            let mut wo = WriteOptions::default();
            wo.disable_wal(true);
            store.db.write_opt(wb, &wo)?;
        }
        return Ok(());
    }
    let mut rep = Vec::with_capacity(HEADER + log.records.len());
    rep.extend_from_slice(&[0u8; 8]);
    rep.extend_from_slice(&log.count.to_le_bytes());
    rep.extend_from_slice(&log.records);
    let mut wb = WriteBatch::from_data(&rep);
    // The counters as they now are (exact: nothing else writes while EXEC runs).
    for phys in log.counted {
        store.put_counts(&mut wb, phys);
    }
    let mut wo = WriteOptions::default();
    wo.set_sync(false);
    store.db.write_opt(wb, &wo)?;
    Ok(())
}
