//! Operator state shared by every connection: the slow log, the latency monitor, MONITOR feeds,
//! CLIENT PAUSE and the DEBUG switches.
//!
//! Everything a command pays for on the hot path is a few relaxed atomic loads: the slow log and
//! latency thresholds are mirrored from the configuration into atomics (see
//! [`Ops::config_changed`]), and MONITOR feeding is skipped by one counter check when nobody
//! monitors. The locks below are only taken when something is actually recorded.

use super::ClientInfo;
use crate::config::{Config, OutputBufferLimit};
use parking_lot::{Mutex, RwLock};
use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::Notify;

/// Redis's SLOWLOG_ENTRY_MAX_ARGC: arguments kept per entry (the last slot says how many more).
pub const SLOWLOG_MAX_ARGC: usize = 32;
/// Redis's SLOWLOG_ENTRY_MAX_STRING: bytes kept per argument.
pub const SLOWLOG_MAX_STRING: usize = 128;
/// Redis's LATENCY_TS_LEN: samples kept per latency event.
pub const LATENCY_TS_LEN: usize = 160;

/// One slow log entry, as SLOWLOG GET reports it.
#[derive(Clone, Debug)]
pub struct SlowEntry {
    pub id: u64,
    /// Unix seconds when the command finished.
    pub time: u64,
    pub micros: u64,
    /// The arguments, already truncated as Redis truncates them.
    pub argv: Vec<Vec<u8>>,
    pub addr: String,
    pub name: String,
}

/// Truncates an argument vector as Redis's `slowlogCreateEntry` does: at most 32 arguments, the
/// last of which then says how many were left out, and each argument cut at 128 bytes with a
/// note of how many bytes were left out.
pub fn slowlog_argv<'a>(argc: usize, args: impl Iterator<Item = &'a [u8]>) -> Vec<Vec<u8>> {
    let kept = argc.min(SLOWLOG_MAX_ARGC);
    let mut out = Vec::with_capacity(kept);
    for (j, a) in args.take(kept).enumerate() {
        if kept != argc && j == kept - 1 {
            out.push(format!("... ({} more arguments)", argc - kept + 1).into_bytes());
        } else if a.len() > SLOWLOG_MAX_STRING {
            let mut v = a[..SLOWLOG_MAX_STRING].to_vec();
            v.extend_from_slice(
                format!("... ({} more bytes)", a.len() - SLOWLOG_MAX_STRING).as_bytes(),
            );
            out.push(v);
        } else {
            out.push(a.to_vec());
        }
    }
    out
}

/// The slow log: newest entry first, as Redis keeps it.
#[derive(Default)]
pub struct SlowLog {
    entries: Mutex<VecDeque<SlowEntry>>,
    next_id: AtomicU64,
}

impl SlowLog {
    /// Adds an entry and trims the log to `max_len`. As in Redis, a smaller `slowlog-max-len`
    /// takes effect at the next entry, not when it is set.
    pub fn push(&self, mut entry: SlowEntry, max_len: usize) {
        entry.id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let mut e = self.entries.lock();
        e.push_front(entry);
        e.truncate(max_len);
    }

    /// Up to `count` entries, newest first.
    pub fn get(&self, count: usize) -> Vec<SlowEntry> {
        self.entries.lock().iter().take(count).cloned().collect()
    }

    pub fn len(&self) -> usize {
        self.entries.lock().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// SLOWLOG RESET: drops the entries; ids keep counting, as in Redis.
    pub fn reset(&self) {
        self.entries.lock().clear();
    }
}

/// One latency event's history (Redis's `latencyTimeSeries`).
#[derive(Clone, Debug, Default)]
pub struct LatencySeries {
    /// (unix seconds, milliseconds), oldest first, at most [`LATENCY_TS_LEN`].
    pub samples: VecDeque<(u64, u64)>,
    /// The largest latency ever seen for the event.
    pub max: u64,
}

/// The latency monitor's events.
#[derive(Default)]
pub struct Latency {
    events: Mutex<HashMap<&'static str, LatencySeries>>,
}

impl Latency {
    /// Redis's `latencyAddSample`: one sample per second per event, keeping the largest.
    pub fn add(&self, event: &'static str, ms: u64, now_secs: u64) {
        let mut events = self.events.lock();
        let ts = events.entry(event).or_default();
        ts.max = ts.max.max(ms);
        if let Some(last) = ts.samples.back_mut() {
            if last.0 == now_secs {
                last.1 = last.1.max(ms);
                return;
            }
        }
        if ts.samples.len() == LATENCY_TS_LEN {
            ts.samples.pop_front();
        }
        ts.samples.push_back((now_secs, ms));
    }

    /// Every event and its series, sorted by name so replies are stable.
    pub fn all(&self) -> Vec<(&'static str, LatencySeries)> {
        let mut v: Vec<_> = self
            .events
            .lock()
            .iter()
            .map(|(k, s)| (*k, s.clone()))
            .collect();
        v.sort_by_key(|(k, _)| *k);
        v
    }

    pub fn history(&self, event: &[u8]) -> Vec<(u64, u64)> {
        self.events
            .lock()
            .iter()
            .find(|(k, _)| k.as_bytes() == event)
            .map(|(_, s)| s.samples.iter().copied().collect())
            .unwrap_or_default()
    }

    /// Resets the named events (all with an empty list); returns how many existed.
    pub fn reset(&self, events: &[&[u8]]) -> usize {
        let mut map = self.events.lock();
        if events.is_empty() {
            let n = map.len();
            map.clear();
            return n;
        }
        let mut n = 0;
        for e in events {
            let found = map.keys().find(|k| k.as_bytes() == *e).copied();
            if let Some(k) = found {
                map.remove(k);
                n += 1;
            }
        }
        n
    }
}

/// The clients in MONITOR mode.
#[derive(Default)]
pub struct Monitors {
    clients: RwLock<Vec<Arc<ClientInfo>>>,
    /// Mirrors the list's length so commands skip feeding without the lock.
    count: AtomicUsize,
}

impl Monitors {
    /// Adds a monitor; false if it already was one.
    pub fn add(&self, info: Arc<ClientInfo>) -> bool {
        let mut c = self.clients.write();
        if c.iter().any(|x| x.id == info.id) {
            return false;
        }
        info.monitor.store(true, Ordering::Relaxed);
        c.push(info);
        self.count.store(c.len(), Ordering::Release);
        true
    }

    pub fn remove(&self, id: u64) {
        if self.count.load(Ordering::Acquire) == 0 {
            return;
        }
        let mut c = self.clients.write();
        c.retain(|x| {
            if x.id == id {
                x.monitor.store(false, Ordering::Relaxed);
            }
            x.id != id
        });
        self.count.store(c.len(), Ordering::Release);
    }

    pub fn is_empty(&self) -> bool {
        self.count.load(Ordering::Acquire) == 0
    }

    pub fn len(&self) -> usize {
        self.count.load(Ordering::Acquire)
    }

    /// Queues one encoded line for every monitor, through the same mailbox (and the same
    /// disconnect-on-overflow rule) as pub/sub messages.
    pub fn feed(&self, line: &[u8], limit: &OutputBufferLimit) {
        for info in self.clients.read().iter() {
            super::pubsub::push_raw(info, line, limit);
        }
    }
}

/// Redis's `sdscatrepr`: a double-quoted string with C-style escapes.
pub fn repr(out: &mut Vec<u8>, s: &[u8]) {
    out.push(b'"');
    for &c in s {
        match c {
            b'\\' | b'"' => out.extend_from_slice(&[b'\\', c]),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            b'\t' => out.extend_from_slice(b"\\t"),
            7 => out.extend_from_slice(b"\\a"),
            8 => out.extend_from_slice(b"\\b"),
            // C's isprint in the "C" locale.
            0x20..=0x7e => out.push(c),
            _ => out.extend_from_slice(format!("\\x{c:02x}").as_bytes()),
        }
    }
    out.push(b'"');
}

/// One MONITOR line as Redis 7.0's `replicationFeedMonitors` writes it, as a status reply:
/// `+<secs>.<micros> [<db> <addr>] "arg" "arg"...\r\n`.
pub fn monitor_line<'a>(
    unix_micros: u64,
    db: usize,
    addr: &str,
    args: impl Iterator<Item = &'a [u8]>,
) -> Vec<u8> {
    let mut out = Vec::with_capacity(64);
    out.extend_from_slice(
        format!(
            "+{}.{:06} [{} {}]",
            unix_micros / 1_000_000,
            unix_micros % 1_000_000,
            db,
            addr
        )
        .as_bytes(),
    );
    for a in args {
        out.push(b' ');
        repr(&mut out, a);
    }
    out.extend_from_slice(b"\r\n");
    out
}

/// What CLIENT PAUSE holds back.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PauseMode {
    /// Commands that may write or replicate (Redis's `is_may_replicate_command`).
    Write,
    /// Every command.
    All,
}

/// CLIENT PAUSE state: until when and what.
#[derive(Default)]
pub struct Pause {
    state: Mutex<Option<(Instant, PauseMode)>>,
    /// Cheap check for the hot path.
    active: AtomicBool,
    /// Wakes paused clients on UNPAUSE (a new, shorter pause is also a change).
    changed: Notify,
    /// Clients holding a request back right now (counted in INFO `blocked_clients`, as Redis
    /// counts its postponed clients).
    held: AtomicUsize,
}

/// A client held back by CLIENT PAUSE: shown as blocked (CLIENT LIST flag `b`, INFO
/// `blocked_clients`) until dropped, as Redis shows a postponed client.
pub struct Held<'a> {
    pause: &'a Pause,
    info: &'a ClientInfo,
}

impl Drop for Held<'_> {
    fn drop(&mut self) {
        self.pause.held.fetch_sub(1, Ordering::Relaxed);
        self.info.blocked.store(false, Ordering::Relaxed);
    }
}

impl Pause {
    /// Pauses until `end`. As in Redis 7.0's `pauseClients`, the new mode replaces the old one
    /// but a pause in force is never shortened.
    pub fn pause(&self, end: Instant, mode: PauseMode) {
        let mut s = self.state.lock();
        let new = match *s {
            Some((e, _)) if e > Instant::now() => (e.max(end), mode),
            _ => (end, mode),
        };
        *s = Some(new);
        self.active.store(true, Ordering::Release);
        drop(s);
        self.changed.notify_waiters();
    }

    pub fn unpause(&self) {
        *self.state.lock() = None;
        self.active.store(false, Ordering::Release);
        self.changed.notify_waiters();
    }

    /// The mode in force now, if any.
    pub fn current(&self) -> Option<(Instant, PauseMode)> {
        if !self.active.load(Ordering::Acquire) {
            return None;
        }
        let mut s = self.state.lock();
        match *s {
            Some((end, mode)) if end > Instant::now() => Some((end, mode)),
            _ => {
                *s = None;
                self.active.store(false, Ordering::Release);
                None
            }
        }
    }

    /// Marks a client as held back until the returned guard is dropped.
    pub fn hold<'a>(&'a self, info: &'a ClientInfo) -> Held<'a> {
        self.held.fetch_add(1, Ordering::Relaxed);
        info.blocked.store(true, Ordering::Relaxed);
        Held { pause: self, info }
    }

    /// How many clients are held back now.
    pub fn held(&self) -> usize {
        self.held.load(Ordering::Relaxed)
    }

    /// Waits until the pause in force now has ended or changed (UNPAUSE, a new pause); the
    /// caller checks again.
    pub async fn wait(&self) {
        let changed = self.changed.notified();
        tokio::pin!(changed);
        changed.as_mut().enable();
        let Some((end, _)) = self.current() else {
            return;
        };
        tokio::select! {
            _ = changed => {}
            _ = tokio::time::sleep_until(end.into()) => {}
        }
    }
}

/// All of it, in [`super::Shared`].
pub struct Ops {
    pub slowlog: SlowLog,
    pub latency: Latency,
    pub monitors: Monitors,
    pub pause: Pause,
    /// `slowlog-log-slower-than` in microseconds; negative disables.
    slower_than: AtomicI64,
    slowlog_max_len: AtomicU64,
    /// `latency-monitor-threshold` in milliseconds; 0 disables.
    latency_threshold: AtomicU64,
    /// DEBUG SET-ACTIVE-EXPIRE: whether the background expiry cycle runs.
    pub active_expire: AtomicBool,
}

impl Ops {
    pub fn new(config: &Config) -> Self {
        let ops = Ops {
            slowlog: SlowLog::default(),
            latency: Latency::default(),
            monitors: Monitors::default(),
            pause: Pause::default(),
            slower_than: AtomicI64::new(0),
            slowlog_max_len: AtomicU64::new(0),
            latency_threshold: AtomicU64::new(0),
            active_expire: AtomicBool::new(true),
        };
        ops.config_changed(config);
        ops
    }

    /// Mirrors the thresholds from the configuration (startup and CONFIG SET).
    pub fn config_changed(&self, config: &Config) {
        self.slower_than
            .store(config.slowlog_log_slower_than, Ordering::Relaxed);
        self.slowlog_max_len
            .store(config.slowlog_max_len, Ordering::Relaxed);
        self.latency_threshold
            .store(config.latency_monitor_threshold, Ordering::Relaxed);
    }

    pub fn slowlog_max_len(&self) -> usize {
        usize::try_from(self.slowlog_max_len.load(Ordering::Relaxed)).unwrap_or(usize::MAX)
    }

    /// Whether a command that took `d` goes into the slow log.
    pub fn is_slow(&self, d: Duration) -> bool {
        let t = self.slower_than.load(Ordering::Relaxed);
        t >= 0 && d.as_micros() >= t as u128
    }

    /// The latency monitor threshold in ms, if enabled.
    pub fn latency_threshold(&self) -> Option<u64> {
        Some(self.latency_threshold.load(Ordering::Relaxed)).filter(|&t| t > 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slowlog_truncates_like_redis() {
        let many: Vec<Vec<u8>> = (0..40).map(|i| i.to_string().into_bytes()).collect();
        let v = slowlog_argv(40, many.iter().map(|a| &a[..]));
        assert_eq!(v.len(), 32);
        assert_eq!(v[30], b"30");
        assert_eq!(v[31], b"... (9 more arguments)");
        let long = vec![b'x'; 130];
        let v = slowlog_argv(2, [&b"set"[..], &long].into_iter());
        assert_eq!(v[1].len(), 128 + "... (2 more bytes)".len());
        assert!(v[1].ends_with(b"x... (2 more bytes)"));
    }

    #[test]
    fn repr_escapes_like_sdscatrepr() {
        let mut out = Vec::new();
        repr(&mut out, b"a\"\\\n\r\t\x07\x08\x00\xff ~");
        assert_eq!(out, br#""a\"\\\n\r\t\a\b\x00\xff ~""#);
        let line = monitor_line(
            1_700_000_000_000_042,
            3,
            "1.2.3.4:5",
            [&b"GET"[..]].into_iter(),
        );
        assert_eq!(line, b"+1700000000.000042 [3 1.2.3.4:5] \"GET\"\r\n");
    }

    #[test]
    fn latency_keeps_one_sample_per_second() {
        let l = Latency::default();
        l.add("command", 5, 100);
        l.add("command", 9, 100);
        l.add("command", 2, 101);
        assert_eq!(l.history(b"command"), vec![(100, 9), (101, 2)]);
        assert_eq!(l.all()[0].1.max, 9);
        assert_eq!(l.reset(&[b"nope"]), 0);
        assert_eq!(l.reset(&[]), 1);
    }
}
