//! The script running now, as other clients see it.
//!
//! A script runs with the database view held exclusively, so at most one runs at a time. While
//! it runs past `busy-reply-threshold`, other clients' commands are answered with BUSY (see the
//! dispatcher), SCRIPT KILL / FUNCTION KILL set the kill flag, and the running script's
//! instruction-count hook raises an error when it sees the flag.

use parking_lot::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicU8, Ordering};
use std::time::Instant;

/// No script is running.
const IDLE: u8 = 0;
/// An EVAL/EVALSHA script is running.
const EVAL: u8 = 1;
/// A function (FCALL) is running.
const FUNCTION: u8 = 2;

/// Redis's BUSY reply while an EVAL script runs.
pub const BUSY_EVAL: &str =
    "BUSY Redis is busy running a script. You can only call SCRIPT KILL or SHUTDOWN NOSAVE.";
/// Redis's BUSY reply while a function runs.
pub const BUSY_FUNCTION: &str =
    "BUSY Redis is busy running a script. You can only call FUNCTION KILL or SHUTDOWN NOSAVE.";

/// How long a script runs on a tokio worker before another worker is woken to take over the
/// I/O driver (see [`release_worker`]). Short scripts never pay for it.
pub const RELEASE_WORKER_MS: u64 = 10;

/// Wakes an idle tokio worker so that it takes over the I/O driver while this worker runs a long
/// script. Tokio polls sockets from whichever worker parks on the driver; a worker that parked
/// while this one held the driver sleeps until it gets a task, so without a nudge nobody would
/// read other clients' requests (nor answer BUSY, nor accept SCRIPT KILL) until the script ends.
/// A task spawned from a thread that is not a worker goes to the shared queue and wakes an idle
/// worker, which runs it and then parks on the driver. Outside a runtime it does nothing.
pub fn release_worker() {
    let Ok(handle) = tokio::runtime::Handle::try_current() else {
        return;
    };
    let spawned = std::thread::Builder::new()
        .name("basalt-nudge".into())
        .spawn(move || {
            handle.spawn(async {});
        });
    if let Err(e) = spawned {
        tracing::warn!(error = %e, "could not wake a worker during a long script");
    }
}

/// State of the running script.
pub struct Busy {
    kind: AtomicU8,
    /// Milliseconds since `epoch` when the script started.
    started_ms: AtomicU64,
    epoch: Instant,
    threshold_ms: AtomicU64,
    /// SCRIPT KILL / FUNCTION KILL / SHUTDOWN asked the script to stop.
    killed: AtomicBool,
    /// The script has called a write command: it can no longer be killed (only SHUTDOWN NOSAVE).
    dirty: AtomicBool,
    /// The server is shutting down: the script stops even if it wrote.
    shutdown: AtomicBool,
    /// What FUNCTION STATS shows: the function's name and the command line.
    running: Mutex<Option<RunningInfo>>,
}

/// FUNCTION STATS's `running_script`.
#[derive(Clone, Debug)]
pub struct RunningInfo {
    pub name: String,
    pub command: Vec<Vec<u8>>,
}

impl Default for Busy {
    fn default() -> Self {
        Busy {
            kind: AtomicU8::new(IDLE),
            started_ms: AtomicU64::new(0),
            epoch: Instant::now(),
            threshold_ms: AtomicU64::new(5000),
            killed: AtomicBool::new(false),
            dirty: AtomicBool::new(false),
            shutdown: AtomicBool::new(false),
            running: Mutex::new(None),
        }
    }
}

/// Why SCRIPT KILL / FUNCTION KILL could not stop the script.
#[derive(Debug, PartialEq, Eq)]
pub enum KillError {
    NotBusy,
    Unkillable,
    /// SCRIPT KILL while a function runs, or FUNCTION KILL while an EVAL script runs: the BUSY
    /// text naming the right command.
    WrongKind(&'static str),
}

impl KillError {
    /// Redis's reply.
    pub fn text(&self) -> &'static str {
        match self {
            KillError::NotBusy => "NOTBUSY No scripts in execution right now.",
            KillError::Unkillable => {
                "UNKILLABLE Sorry the script already executed write commands against the dataset. You can either wait the script termination or kill the server in a hard way using the SHUTDOWN NOSAVE command."
            }
            KillError::WrongKind(t) => t,
        }
    }
}

impl Busy {
    fn now_ms(&self) -> u64 {
        self.epoch.elapsed().as_millis() as u64
    }

    /// Sets `busy-reply-threshold` in milliseconds (0: never busy, scripts cannot be killed).
    pub fn set_threshold(&self, ms: u64) {
        self.threshold_ms.store(ms, Ordering::Relaxed);
    }

    /// Whether the instruction-count hook is needed.
    pub fn threshold_ms(&self) -> u64 {
        self.threshold_ms.load(Ordering::Relaxed)
    }

    /// Marks a script as started; the guard marks it finished.
    pub fn start(&self, function: bool, info: Option<RunningInfo>) -> RunGuard<'_> {
        self.killed.store(false, Ordering::SeqCst);
        self.dirty.store(false, Ordering::SeqCst);
        *self.running.lock() = info;
        self.started_ms.store(self.now_ms(), Ordering::SeqCst);
        self.kind
            .store(if function { FUNCTION } else { EVAL }, Ordering::SeqCst);
        RunGuard { busy: self }
    }

    /// Whether an EVAL script (not a function) is running.
    pub fn eval_running(&self) -> bool {
        self.kind.load(Ordering::Acquire) == EVAL
    }

    /// Whether a script is running.
    pub fn is_running(&self) -> bool {
        self.kind.load(Ordering::Acquire) != IDLE
    }

    /// The BUSY reply if a script has been running past the threshold; None otherwise.
    pub fn refusal(&self) -> Option<&'static str> {
        let kind = self.kind.load(Ordering::Acquire);
        if kind == IDLE {
            return None;
        }
        let threshold = self.threshold_ms();
        if threshold == 0 {
            return None;
        }
        let started = self.started_ms.load(Ordering::Acquire);
        if self.now_ms().saturating_sub(started) < threshold {
            return None;
        }
        Some(if kind == FUNCTION {
            BUSY_FUNCTION
        } else {
            BUSY_EVAL
        })
    }

    /// Milliseconds the running script has run (0 when none runs).
    pub fn elapsed_ms(&self) -> u64 {
        if !self.is_running() {
            return 0;
        }
        self.now_ms()
            .saturating_sub(self.started_ms.load(Ordering::Acquire))
    }

    /// Milliseconds until a running script reaches the threshold (0 if past it), or None when
    /// nothing runs or the threshold is off.
    pub fn until_threshold_ms(&self) -> Option<u64> {
        if !self.is_running() || self.threshold_ms() == 0 {
            return None;
        }
        let elapsed = self
            .now_ms()
            .saturating_sub(self.started_ms.load(Ordering::Acquire));
        Some(self.threshold_ms().saturating_sub(elapsed))
    }

    /// Records that the script called a write command.
    pub fn note_write(&self) {
        self.dirty.store(true, Ordering::Relaxed);
    }

    /// SCRIPT KILL (`eval` true) or FUNCTION KILL, with Redis's checks in Redis's order.
    pub fn kill(&self, eval: bool) -> Result<(), KillError> {
        let kind = self.kind.load(Ordering::Acquire);
        if kind == IDLE {
            return Err(KillError::NotBusy);
        }
        if self.dirty.load(Ordering::Acquire) {
            return Err(KillError::Unkillable);
        }
        if eval && kind == FUNCTION {
            return Err(KillError::WrongKind(BUSY_FUNCTION));
        }
        if !eval && kind == EVAL {
            return Err(KillError::WrongKind(BUSY_EVAL));
        }
        self.killed.store(true, Ordering::SeqCst);
        Ok(())
    }

    /// SHUTDOWN: stops a running script whatever it did.
    pub fn kill_for_shutdown(&self) {
        self.shutdown.store(true, Ordering::SeqCst);
        self.killed.store(true, Ordering::SeqCst);
    }

    /// Checked by the running script's hook.
    pub fn is_killed(&self) -> bool {
        self.killed.load(Ordering::Relaxed)
    }

    /// Whether the script was stopped by a shutdown (its writes are then not committed).
    pub fn is_shutting_down(&self) -> bool {
        self.shutdown.load(Ordering::Relaxed)
    }

    /// FUNCTION STATS: the running function's name, command line and milliseconds so far.
    pub fn running_function(&self) -> Option<(RunningInfo, u64)> {
        if self.kind.load(Ordering::Acquire) == IDLE {
            return None;
        }
        let info = self.running.lock().clone()?;
        let elapsed = self
            .now_ms()
            .saturating_sub(self.started_ms.load(Ordering::Acquire));
        Some((info, elapsed))
    }
}

/// Marks the script finished when dropped.
pub struct RunGuard<'a> {
    busy: &'a Busy,
}

impl Drop for RunGuard<'_> {
    fn drop(&mut self) {
        self.busy.kind.store(IDLE, Ordering::SeqCst);
        *self.busy.running.lock() = None;
        self.busy.killed.store(false, Ordering::SeqCst);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kill_rules_follow_redis() {
        let b = Busy::default();
        assert_eq!(b.kill(true), Err(KillError::NotBusy));
        {
            let _g = b.start(false, None);
            assert_eq!(b.kill(false), Err(KillError::WrongKind(BUSY_EVAL)));
            b.note_write();
            assert_eq!(b.kill(true), Err(KillError::Unkillable));
        }
        {
            let _g = b.start(true, None);
            assert_eq!(b.kill(true), Err(KillError::WrongKind(BUSY_FUNCTION)));
            assert!(!b.is_killed());
            assert_eq!(b.kill(false), Ok(()));
            assert!(b.is_killed());
        }
        assert!(!b.is_running() && !b.is_killed());
    }

    #[test]
    fn busy_only_past_the_threshold() {
        let b = Busy::default();
        b.set_threshold(0);
        let g = b.start(false, None);
        assert_eq!(b.refusal(), None);
        b.set_threshold(1);
        std::thread::sleep(std::time::Duration::from_millis(5));
        assert_eq!(b.refusal(), Some(BUSY_EVAL));
        drop(g);
        assert_eq!(b.refusal(), None);
    }
}
