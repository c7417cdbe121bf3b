//! Operator commands: SLOWLOG, LATENCY, MONITOR, DEBUG and MEMORY, plus the per-command hook
//! ([`record`]) that feeds the slow log, the latency monitor and MONITOR clients, and the CLIENT
//! PAUSE check ([`must_wait_for_pause`]) the connection loop asks before running a request.
//!
//! Reply shapes, help texts and error texts follow Redis 7.0 (slowlog.c, latency.c, debug.c,
//! object.c). The state lives in [`crate::server::ops`].

use super::flags::*;
use super::introspection::{help_reply, run_sub, sub, subcommand_flags, Sub};
use super::{Args, CmdError, CmdResult, Context, Keys, Spec};
use crate::protocol::Reply;
use crate::server::ops::{monitor_line, slowlog_argv, PauseMode, SlowEntry};
use crate::server::{Client, Shared};
use std::sync::atomic::Ordering;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

const SERVER: &str = "server";

pub(super) const TABLE: &[Spec] = &[
    Spec::new("slowlog", -2, 0, Keys::NONE, slowlog)
        .group(SERVER)
        .doc("A container for slow log commands."),
    Spec::new("latency", -2, 0, Keys::NONE, latency)
        .group(SERVER)
        .doc("A container for latency diagnostics commands."),
    Spec::new(
        "monitor",
        1,
        ADMIN | NOSCRIPT | LOADING | STALE,
        Keys::NONE,
        monitor,
    )
    .group(SERVER)
    .doc("Listens for all requests received by the server in real-time."),
    Spec::new(
        "debug",
        -2,
        ADMIN | NOSCRIPT | LOADING | STALE,
        Keys::NONE,
        debug,
    )
    .group(SERVER)
    .doc("A container for debugging commands."),
    Spec::new("memory", -2, 0, Keys::NONE, memory)
        .group(SERVER)
        .doc("A container for memory diagnostics commands."),
];

const ADMIN_SUB: u32 = ADMIN | NOSCRIPT | LOADING | STALE;

pub(in crate::commands) const SLOWLOG_SUBS: &[Sub] = &[
    sub(
        "slowlog|get",
        -2,
        ADMIN | LOADING | STALE,
        "Returns the slow log's entries.",
        slowlog_get,
    ),
    sub(
        "slowlog|len",
        2,
        ADMIN | LOADING | STALE,
        "Returns the number of entries in the slow log.",
        slowlog_len,
    ),
    sub(
        "slowlog|reset",
        2,
        ADMIN | LOADING | STALE,
        "Clears all entries from the slow log.",
        slowlog_reset,
    ),
    sub(
        "slowlog|help",
        2,
        LOADING | STALE,
        "Show helpful text about the different subcommands",
        slowlog_help,
    ),
];

pub(in crate::commands) const LATENCY_SUBS: &[Sub] = &[
    sub(
        "latency|latest",
        2,
        ADMIN_SUB,
        "Returns the latest latency samples for all events.",
        latency_latest,
    ),
    sub(
        "latency|history",
        3,
        ADMIN_SUB,
        "Returns timestamp-latency samples for an event.",
        latency_history,
    ),
    sub(
        "latency|reset",
        -2,
        ADMIN_SUB,
        "Resets the latency data for one or more events.",
        latency_reset,
    ),
    sub(
        "latency|doctor",
        2,
        ADMIN_SUB,
        "Returns a human-readable latency analysis report.",
        latency_doctor,
    ),
    sub(
        "latency|help",
        2,
        LOADING | STALE,
        "Returns helpful text about the different subcommands.",
        latency_help,
    ),
];

pub(in crate::commands) const MEMORY_SUBS: &[Sub] = &[
    sub(
        "memory|usage",
        -3,
        READONLY,
        "Estimates the memory usage of a key.",
        memory_usage,
    ),
    sub(
        "memory|stats",
        2,
        0,
        "Returns details about memory usage.",
        memory_stats,
    ),
    sub(
        "memory|doctor",
        2,
        0,
        "Outputs a memory problems report.",
        memory_doctor,
    ),
    sub(
        "memory|malloc-stats",
        2,
        0,
        "Returns the allocator statistics.",
        memory_malloc_stats,
    ),
    sub(
        "memory|purge",
        2,
        0,
        "Asks the allocator to release memory.",
        memory_purge,
    ),
    sub(
        "memory|help",
        2,
        LOADING | STALE,
        "Returns helpful text about the different subcommands.",
        memory_help,
    ),
];

fn now_unix() -> Duration {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
}

/// Feeds a command to MONITOR clients as it arrives (EVAL and FCALL, which Redis shows before
/// the commands their script runs).
pub(crate) fn feed_monitors(shared: &Shared, client: &Client, args: &Args<'_>) {
    let ops = &shared.ops;
    if ops.monitors.is_empty() {
        return;
    }
    let line = monitor_line(
        now_unix().as_micros() as u64,
        client.db,
        &client.info.addr,
        args.iter(),
    );
    ops.monitors.feed(&line, &monitor_limit(shared));
}

/// After a command ran (at top level or inside EXEC): the slow log, the latency monitor and the
/// MONITOR feed, as Redis's `call()` does them. `slow` is false where Redis does not log (EXEC
/// itself, whose commands are logged one by one; a command that blocked). `feed` is false for
/// re-runs of blocked commands, which Redis fed when they first arrived.
pub(crate) fn record(
    shared: &Shared,
    client: &Client,
    spec: &Spec,
    args: &Args<'_>,
    elapsed: Duration,
    slow: bool,
    feed: bool,
) {
    let ops = &shared.ops;
    if slow && spec.name != "exec" && ops.is_slow(elapsed) {
        ops.slowlog.push(
            SlowEntry {
                id: 0,
                time: now_unix().as_secs(),
                micros: elapsed.as_micros() as u64,
                argv: slowlog_argv(args.len(), redacted(spec, args)),
                addr: client.info.addr.clone(),
                name: client.info.name.lock().clone().unwrap_or_default(),
            },
            ops.slowlog_max_len(),
        );
    }
    if let Some(threshold) = ops.latency_threshold() {
        let ms = elapsed.as_millis() as u64;
        if slow && ms >= threshold {
            let event = if spec.has(FAST) {
                "fast-command"
            } else {
                "command"
            };
            ops.latency.add(event, ms, now_unix().as_secs());
        }
    }
    if feed && !ops.monitors.is_empty() {
        // Redis keeps admin and skip_monitor commands (judged by the subcommand for containers)
        // out of the feed: CONFIG GET, CLIENT LIST, SLOWLOG GET and MONITOR are never shown.
        let flags = subcommand_flags(spec, args).unwrap_or(spec.flags);
        if flags & (ADMIN | SKIP_MONITOR) == 0 {
            let line = monitor_line(
                now_unix().as_micros() as u64,
                client.db,
                &client.info.addr,
                redacted(spec, args),
            );
            let limit = monitor_limit(shared);
            ops.monitors.feed(&line, &limit);
        }
    }
}

/// The arguments as the slow log and MONITOR show them: passwords replaced by `(redacted)`,
/// as Redis 7.0 redacts them (every argument of AUTH, the two after HELLO's AUTH).
fn redacted<'a>(spec: &Spec, args: &'a Args<'_>) -> impl Iterator<Item = &'a [u8]> + 'a {
    const REDACTED: &[u8] = b"(redacted)";
    let mut hide = [usize::MAX; 2];
    let auth = spec.name == "auth";
    if spec.name == "hello" {
        // HELLO's own parse: AUTH takes two arguments, SETNAME one; the first other word stops.
        let mut j = 2;
        while j < args.len() {
            if args.is(j, "auth") && j + 2 < args.len() {
                hide = [j + 1, j + 2];
                j += 3;
            } else if args.is(j, "setname") && j + 1 < args.len() {
                j += 2;
            } else {
                break;
            }
        }
    }
    args.iter().enumerate().map(move |(i, a)| {
        if (auth && i > 0) || hide.contains(&i) {
            REDACTED
        } else {
            a
        }
    })
}

/// The output buffer limit a MONITOR client is held to: Redis counts monitors as normal
/// clients, whose default limit is none; an unbounded queue behind a monitor that cannot keep up
/// is exactly what must not happen, so without a `normal` limit the `pubsub` one applies.
fn monitor_limit(shared: &Shared) -> crate::config::OutputBufferLimit {
    let cfg = shared.config.read();
    let l = &cfg.client_output_buffer_limit;
    if l.normal.hard > 0 || l.normal.soft > 0 {
        l.normal
    } else {
        l.pubsub
    }
}

/// Whether CLIENT PAUSE holds this request back. As Redis 7.0's `processCommand` decides: in
/// ALL mode every command waits; in WRITE mode those that may write or replicate (write
/// commands, PUBLISH and other may_replicate ones, EVAL and friends, an EXEC whose queue holds
/// any of them). Commands queued by MULTI are not held (they do not run yet), EXEC is. Unknown
/// commands and arity errors are answered at once, as Redis rejects them before pausing.
pub fn must_wait_for_pause(shared: &Shared, client: &Client, args: &Args<'_>) -> bool {
    let Some((_, mode)) = shared.ops.pause.current() else {
        return false;
    };
    let Some(spec) = super::Table::get().lookup(args.get(0)) else {
        return false;
    };
    if !spec.arity_ok(args.len()) {
        return false;
    }
    let is_exec = spec.name == "exec";
    if client.multi.is_some() && !is_exec && !super::transactions::runs_inside_multi(spec.name) {
        return false;
    }
    // Redis has looked the command up by then: CLIENT LIST shows it as the held one.
    let hold = |held: bool| {
        if held {
            *client.info.last_cmd.lock() = spec.name;
        }
        held
    };
    if mode == PauseMode::All {
        return hold(true);
    }
    let may_replicate = |s: &Spec| {
        s.has(WRITE | MAY_REPLICATE)
            || matches!(
                s.name,
                "eval" | "evalsha" | "fcall" | "publish" | "spublish"
            )
    };
    if is_exec {
        return hold(client.multi.as_ref().is_some_and(|m| {
            m.queued.iter().any(|q| {
                super::Table::get()
                    .lookup(q.args().get(0))
                    .is_some_and(may_replicate)
            })
        }));
    }
    hold(may_replicate(spec))
}

// ---------------------------------------------------------------------------------------------
// SLOWLOG
// ---------------------------------------------------------------------------------------------

fn slowlog(cx: &mut Context<'_>, args: &Args<'_>) -> CmdResult {
    run_sub(cx, args, SLOWLOG_SUBS)
}

fn slowlog_get(cx: &mut Context<'_>, args: &Args<'_>) -> CmdResult {
    const MSG: &str = "ERR count should be greater than or equal to -1";
    let log = &cx.shared.ops.slowlog;
    let count = match args.len() {
        2 => 10,
        3 => match crate::util::num::parse_i64(args.get(2)) {
            Some(-1) => usize::MAX,
            Some(n) if n >= 0 => usize::try_from(n).unwrap_or(usize::MAX),
            _ => return Err(CmdError::msg(MSG)),
        },
        _ => return Err(CmdError::Syntax),
    };
    let entries = log
        .get(count)
        .into_iter()
        .map(|e| {
            Reply::Array(vec![
                Reply::Int(e.id as i64),
                Reply::Int(e.time as i64),
                Reply::Int(e.micros as i64),
                Reply::Array(e.argv.iter().map(|a| Reply::bulk(a)).collect()),
                Reply::bulk(e.addr.as_bytes()),
                Reply::bulk(e.name.as_bytes()),
            ])
        })
        .collect();
    Ok(Reply::Array(entries))
}

fn slowlog_len(cx: &mut Context<'_>, _: &Args<'_>) -> CmdResult {
    Ok(Reply::Int(cx.shared.ops.slowlog.len() as i64))
}

fn slowlog_reset(cx: &mut Context<'_>, _: &Args<'_>) -> CmdResult {
    cx.shared.ops.slowlog.reset();
    Ok(Reply::Ok)
}

fn slowlog_help(_: &mut Context<'_>, _: &Args<'_>) -> CmdResult {
    Ok(help_reply(
        "SLOWLOG <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
        &[
            "GET [<count>]",
            "    Return top <count> entries from the slowlog (default: 10, -1 mean all).",
            "    Entries are made of:",
            "    id, timestamp, time in microseconds, arguments array, client IP and port,",
            "    client name",
            "LEN",
            "    Return the length of the slowlog.",
            "RESET",
            "    Reset the slowlog.",
        ],
    ))
}

// ---------------------------------------------------------------------------------------------
// LATENCY
// ---------------------------------------------------------------------------------------------

fn latency(cx: &mut Context<'_>, args: &Args<'_>) -> CmdResult {
    run_sub(cx, args, LATENCY_SUBS)
}

/// Redis 7.0: one `[event, time of the latest sample, its latency, the all-time max]` per event.
fn latency_latest(cx: &mut Context<'_>, _: &Args<'_>) -> CmdResult {
    let rows = cx
        .shared
        .ops
        .latency
        .all()
        .into_iter()
        .filter_map(|(event, s)| {
            let &(time, ms) = s.samples.back()?;
            Some(Reply::Array(vec![
                Reply::bulk(event.as_bytes()),
                Reply::Int(time as i64),
                Reply::Int(ms as i64),
                Reply::Int(s.max as i64),
            ]))
        })
        .collect();
    Ok(Reply::Array(rows))
}

fn latency_history(cx: &mut Context<'_>, args: &Args<'_>) -> CmdResult {
    let rows = cx
        .shared
        .ops
        .latency
        .history(args.get(2))
        .into_iter()
        .map(|(t, ms)| Reply::Array(vec![Reply::Int(t as i64), Reply::Int(ms as i64)]))
        .collect();
    Ok(Reply::Array(rows))
}

fn latency_reset(cx: &mut Context<'_>, args: &Args<'_>) -> CmdResult {
    let events: Vec<&[u8]> = args.iter().skip(2).collect();
    Ok(Reply::Int(cx.shared.ops.latency.reset(&events) as i64))
}

/// A short report: Redis's exact texts when monitoring is off or nothing was recorded, else one
/// line per event (Redis's full advice engine is not reproduced).
fn latency_doctor(cx: &mut Context<'_>, _: &Args<'_>) -> CmdResult {
    let ops = &cx.shared.ops;
    let events = ops.latency.all();
    let text = if ops.latency_threshold().is_none() && events.is_empty() {
        "I'm sorry, Dave, I can't do that. Latency monitoring is disabled in this Redis instance. \
         You may use \"CONFIG SET latency-monitor-threshold <milliseconds>.\" in order to enable \
         it. If we weren't in a deep space mission I'd suggest to take a look at \
         https://redis.io/topics/latency-monitor.\n"
            .to_string()
    } else if events.is_empty() {
        "Dave, no latency spike was observed during the lifetime of this Redis instance, not in \
         the slightest bit. I honestly think you ought to sleep tonight.\n"
            .to_string()
    } else {
        let mut t = String::from(
            "Dave, I have observed latency spikes in this Redis instance. You don't mind talking \
             about it, do you Dave?\n\n",
        );
        for (i, (event, s)) in events.iter().enumerate() {
            let n = s.samples.len().max(1) as u64;
            let avg = s.samples.iter().map(|x| x.1).sum::<u64>() / n;
            t.push_str(&format!(
                "{}. {}: {} latency spikes (average {}ms, worst {}ms).\n",
                i + 1,
                event,
                s.samples.len(),
                avg,
                s.max
            ));
        }
        t.push_str(
            "\nI have a few advices for you:\n\n- Check your slow log (SLOWLOG GET) for the \
             commands that took the longest, and see the storage section of docs/ARCHITECTURE.md \
             for what makes a Basalt command slow.\n",
        );
        t
    };
    Ok(Reply::Verbatim("txt", text))
}

fn latency_help(_: &mut Context<'_>, _: &Args<'_>) -> CmdResult {
    Ok(help_reply(
        "LATENCY <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
        &[
            "DOCTOR",
            "    Return a human readable latency analysis report.",
            "HISTORY <event>",
            "    Return time-latency samples for the <event> class.",
            "LATEST",
            "    Return the latest latency samples for all events.",
            "RESET [<event> ...]",
            "    Reset latency data of one or more <event> classes.",
            "    (default: reset all data for all event classes)",
        ],
    ))
}

// ---------------------------------------------------------------------------------------------
// MONITOR
// ---------------------------------------------------------------------------------------------

/// Turns the connection into a monitor: `+OK`, then every command any client runs arrives as a
/// status line through the client's mailbox (written when it is idle, like pub/sub messages).
fn monitor(cx: &mut Context<'_>, _: &Args<'_>) -> CmdResult {
    // Inside EXEC (Redis's CLIENT_DENY_BLOCKING) a connection cannot turn into a monitor.
    if cx.block == super::BlockMode::Deny {
        return Err(CmdError::msg(
            "ERR MONITOR isn't allowed for DENY BLOCKING client",
        ));
    }
    // Redis ignores MONITOR from a client that is already monitoring: no reply at all.
    if !cx.shared.ops.monitors.add(cx.client.info.clone()) {
        return Ok(Reply::Sequence(Vec::new()));
    }
    Ok(Reply::Ok)
}

// ---------------------------------------------------------------------------------------------
// DEBUG
// ---------------------------------------------------------------------------------------------

/// The subset of DEBUG that Redis's own test suite and client test suites use. Like Redis, DEBUG
/// parses its subcommand itself: an unknown one or a wrong argument count gets one error.
fn debug(cx: &mut Context<'_>, args: &Args<'_>) -> CmdResult {
    let sub = args.get(1).to_ascii_lowercase();
    match (sub.as_slice(), args.len()) {
        (b"help", 2) => Ok(debug_help()),
        (b"sleep", 3) => {
            // Redis uses atof: anything unparsable sleeps 0 seconds.
            let secs = std::str::from_utf8(args.get(2))
                .ok()
                .and_then(|s| s.trim().parse::<f64>().ok())
                .filter(|s| s.is_finite() && *s > 0.0)
                .unwrap_or(0.0);
            // Redis stops the whole server; here the sleep holds this connection's worker
            // thread, which is what tests that make a command slow on purpose need.
            std::thread::sleep(Duration::from_secs_f64(secs.min(1e9)));
            Ok(Reply::Ok)
        }
        (b"set-active-expire", 3) => {
            // Redis uses atoi: anything that does not start with a non-zero number disables.
            let on = leading_int(args.get(2)) != 0;
            cx.shared.ops.active_expire.store(on, Ordering::Relaxed);
            Ok(Reply::Ok)
        }
        (b"object", 3) => debug_object(cx, args.get(2)),
        (b"change-repl-id", 2) => Ok(Reply::Ok),
        (b"reload", _) => debug_reload(cx, args),
        _ => Err(CmdError::msg(format!(
            "ERR unknown subcommand or wrong number of arguments for '{}'. Try DEBUG HELP.",
            String::from_utf8_lossy(args.get(1))
        ))),
    }
}

/// C's atoi: optional sign and leading digits, 0 if none.
fn leading_int(s: &[u8]) -> i64 {
    let s = std::str::from_utf8(s).unwrap_or("").trim_start();
    let (neg, digits) = match s.as_bytes().first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    let end = digits
        .bytes()
        .position(|c| !c.is_ascii_digit())
        .unwrap_or(digits.len());
    let n = digits[..end].parse::<i64>().unwrap_or(0);
    if neg {
        -n
    } else {
        n
    }
}

/// Redis's RDB length encoding size: 1, 2, 5 or 9 bytes.
fn rdb_len_size(n: u64) -> u64 {
    match n {
        0..=63 => 1,
        64..=16383 => 2,
        16384..=0xffff_ffff => 5,
        _ => 9,
    }
}

/// What `rdbSavedObjectLen` would give. Strings are exact for Redis without compression (an
/// integer-encodable value is 2, 3 or 5 bytes, otherwise a length then the bytes; Redis may
/// LZF-compress values over 20 bytes and report less); a fragmented string is its length
/// prefix and length, from the metadata, without reading it. Collections are estimated from the
/// metadata alone, without reading the elements: the length prefix plus 9 bytes per element
/// (a short length-prefixed member), which is the order of a small listpack entry.
fn serialized_length(meta: &crate::storage::encoding::Meta) -> u64 {
    use crate::storage::encoding::ValueType;
    match meta.ty() {
        ValueType::String if meta.is_fragmented() => {
            rdb_len_size(meta.string_len()) + meta.string_len()
        }
        ValueType::String => {
            let v = meta.inline_value().unwrap_or_default();
            match crate::util::num::parse_i64(v).filter(|_| v.len() <= 11) {
                Some(n) if (-128..=127).contains(&n) => 2,
                Some(n) if (-32768..=32767).contains(&n) => 3,
                Some(n) if (i32::MIN as i64..=i32::MAX as i64).contains(&n) => 5,
                _ => rdb_len_size(v.len() as u64) + v.len() as u64,
            }
        }
        _ => rdb_len_size(meta.count()) + 9 * meta.count(),
    }
}

/// DEBUG OBJECT key: Redis's line. `Value at` is a stable pseudo address (Basalt values have no
/// address), LRU fields are 0 (Basalt keeps no access times), and Redis's list-only `ql_*`
/// fields are left out.
fn debug_object(cx: &mut Context<'_>, key: &[u8]) -> CmdResult {
    let db = cx.db();
    let Some(meta) = db.meta(key)? else {
        return Err(CmdError::NoSuchKey);
    };
    let encoding = crate::types::keyspace::encoding(&db, key, &meta)?;
    // Only collections carry a version; a string's pseudo address comes from its key (FNV-1a).
    let addr = if meta.ty() == crate::storage::encoding::ValueType::String {
        key.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, &b| {
            (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
        })
    } else {
        meta.version()
    };
    Ok(Reply::Status(
        format!(
            "Value at:0x7f{:010x} refcount:{} encoding:{} serializedlength:{} lru:0 \
             lru_seconds_idle:0",
            addr & 0xff_ffff_ffff,
            crate::types::keyspace::refcount(&meta),
            encoding,
            serialized_length(&meta)
        )
        .into(),
    ))
}

/// DEBUG RELOAD [MERGE|NOFLUSH|NOSAVE...]: Redis saves the RDB and loads it back. Basalt's data
/// already lives on disk, so "reload" means making everything durable as a restart would find
/// it: the write-ahead log is fsynced and every column family's memtables are flushed to SST
/// files. The keyspace is not reopened (nothing in memory can differ from what RocksDB holds:
/// the hot-key cache is write-through). The options are accepted and have no effect.
fn debug_reload(cx: &mut Context<'_>, args: &Args<'_>) -> CmdResult {
    for a in args.iter().skip(2) {
        let a = a.to_ascii_lowercase();
        if !matches!(a.as_slice(), b"merge" | b"noflush" | b"nosave") {
            return Err(CmdError::msg(
                "ERR DEBUG RELOAD only supports the MERGE, NOFLUSH and NOSAVE options.",
            ));
        }
    }
    let store = &cx.shared.store;
    store.wal().sync(store.rocks()).map_err(|e| {
        tracing::error!(error = %e, "DEBUG RELOAD: WAL sync failed");
        CmdError::msg(format!("ERR Error trying to save the DB: {e}"))
    })?;
    for cf in COLUMN_FAMILIES {
        if let Some(h) = store.rocks().cf_handle(cf) {
            store.rocks().flush_cf(h).map_err(|e| {
                tracing::error!(error = %e, cf, "DEBUG RELOAD: memtable flush failed");
                CmdError::msg(format!("ERR Error trying to save the DB: {e}"))
            })?;
        }
    }
    tracing::info!("DB reloaded by DEBUG RELOAD (WAL synced, memtables flushed)");
    Ok(Reply::Ok)
}

const COLUMN_FAMILIES: &[&str] = &[
    "default",
    crate::storage::encoding::CF_META,
    crate::storage::encoding::CF_DATA,
    crate::storage::encoding::CF_ZSCORE,
    crate::storage::encoding::CF_EXPIRE,
];

/// Redis's DEBUG HELP lines for the subcommands Basalt has.
fn debug_help() -> Reply {
    help_reply(
        "DEBUG <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
        &[
            "CHANGE-REPL-ID",
            "    Change the replication IDs of the instance.",
            "    Dangerous: should be used only for testing the replication subsystem.",
            "OBJECT <key>",
            "    Show low level info about `key` and associated value.",
            "RELOAD [option ...]",
            "    Save the RDB on disk and reload it back to memory. Valid <option> values:",
            "    * MERGE: conflicting keys will be loaded from RDB.",
            "    * NOFLUSH: the existing database will not be removed before load, but",
            "      conflicting keys will generate an exception and kill the server.",
            "    * NOSAVE: the database will be loaded from an existing RDB file.",
            "    (Basalt: fsyncs the write-ahead log and flushes memtables; options ignored.)",
            "SET-ACTIVE-EXPIRE <0|1>",
            "    Setting it to 0 disables expiring keys in background when they are not",
            "    accessed (otherwise the Redis behavior). Setting it to 1 reenables back the",
            "    default.",
            "SLEEP <seconds>",
            "    Stop the server for <seconds>. Decimals allowed.",
        ],
    )
}

// ---------------------------------------------------------------------------------------------
// MEMORY
// ---------------------------------------------------------------------------------------------

fn memory(cx: &mut Context<'_>, args: &Args<'_>) -> CmdResult {
    run_sub(cx, args, MEMORY_SUBS)
}

/// Bytes per element MEMORY USAGE assumes for each collection type: a small element in Redis's
/// compact encodings plus its share of pointers and headers (a set member or list element is
/// one string, a hash field and a sorted-set member two values).
fn per_element(ty: crate::storage::encoding::ValueType) -> u64 {
    use crate::storage::encoding::ValueType;
    match ty {
        ValueType::String => 0,
        ValueType::List => 16,
        ValueType::Set => 24,
        ValueType::Hash => 40,
        ValueType::ZSet => 48,
        ValueType::Stream => 64,
    }
}

/// MEMORY USAGE key [SAMPLES n]: an estimate from the metadata, without reading elements:
///
/// `usage = 40 + (key length + 8) + value`, where 40 is a dict entry and an object header, and
/// `value` is `length + 8` for a string, inline or fragmented (what Redis would hold in memory;
/// 0 extra for an integer Redis would store in the pointer) or `48 + count * per_element(type)` for a collection ([`per_element`]).
/// SAMPLES is validated as Redis validates it but not used: nothing is sampled.
fn memory_usage(cx: &mut Context<'_>, args: &Args<'_>) -> CmdResult {
    let mut j = 3;
    while j < args.len() {
        if args.is(j, "samples") && j + 1 < args.len() {
            if args.i64(j + 1)? < 0 {
                return Err(CmdError::Syntax);
            }
            j += 2;
        } else {
            return Err(CmdError::Syntax);
        }
    }
    let key = args.get(2);
    let Some(meta) = cx.db().meta(key)? else {
        return Ok(Reply::Nil);
    };
    Ok(Reply::Int(estimate_usage(key.len() as u64, &meta) as i64))
}

fn estimate_usage(key_len: u64, meta: &crate::storage::encoding::Meta) -> u64 {
    use crate::storage::encoding::ValueType;
    let value = match meta.ty() {
        ValueType::String if meta.is_fragmented() => meta.string_len() + 8,
        ValueType::String => {
            let v = meta.inline_value().unwrap_or_default();
            if v.len() <= 20 && crate::util::num::parse_i64(v).is_some() {
                0
            } else {
                v.len() as u64 + 8
            }
        }
        ty => 48 + meta.count().saturating_mul(per_element(ty)),
    };
    40 + key_len + 8 + value
}

fn proc_kb(text: &str, key: &str) -> u64 {
    text.lines()
        .find_map(|l| {
            let rest = l.strip_prefix(key)?.strip_prefix(':')?;
            rest.split_whitespace().next()?.parse::<u64>().ok()
        })
        .unwrap_or(0)
        * 1024
}

fn rocks_sum(cx: &Context<'_>, prop: &str) -> u64 {
    COLUMN_FAMILIES
        .iter()
        .filter_map(|cf| cx.shared.store.property(cf, prop))
        .sum()
}

/// MEMORY STATS: Redis 7.0's field names, filled from what Basalt knows. Allocations are the
/// process's resident set (Basalt has no allocator statistics); the overhead is what RocksDB
/// holds in memory (block cache, memtables, table readers) plus client buffers; the dataset is
/// what remains. Basalt adds its RocksDB figures under `rocksdb.*` names.
fn memory_stats(cx: &mut Context<'_>, _: &Args<'_>) -> CmdResult {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let rss = proc_kb(&status, "VmRSS");
    let peak = proc_kb(&status, "VmHWM").max(rss);
    let store = &cx.shared.store;
    let block_cache = store.block_cache_usage() as u64;
    let memtables = rocks_sum(cx, "rocksdb.cur-size-all-mem-tables");
    let readers = rocks_sum(cx, "rocksdb.estimate-table-readers-mem");
    let sst = rocks_sum(cx, "rocksdb.total-sst-files-size");
    let clients: Vec<_> = cx.shared.clients.all();
    // A read buffer and a reply buffer per connection, plus undelivered pub/sub and MONITOR
    // output.
    let client_mem: u64 = clients
        .iter()
        .map(|c| 2 * 16 * 1024 + c.pubsub.backlog().1 as u64)
        .sum();
    let overhead = block_cache + memtables + readers + client_mem;
    let mut keys = 0u64;
    let mut dbs = Vec::new();
    for i in 0..cx.view.databases() {
        let Some(db) = cx.view.db(i) else { continue };
        let n = db.size();
        keys += n;
        if n > 0 {
            dbs.push((i, n, store.expires_count(db.phys)));
        }
    }
    let dataset = rss.saturating_sub(overhead);
    let pct = |part: u64, whole: u64| {
        if whole == 0 {
            0.0
        } else {
            part as f64 * 100.0 / whole as f64
        }
    };
    let int = |k: &'static str, v: u64| (Reply::text(k), Reply::Int(v as i64));
    let dbl = |k: &'static str, v: f64| (Reply::text(k), Reply::Double(v));
    let mut m = vec![
        int("peak.allocated", peak),
        int("total.allocated", rss),
        int("startup.allocated", 0),
        int("replication.backlog", 0),
        int("clients.slaves", 0),
        int("clients.normal", client_mem),
        int("cluster.links", 0),
        int("aof.buffer", 0),
        int("lua.caches", 0),
        int("functions.caches", 0),
    ];
    for (i, n, expires) in dbs {
        // Redis reports its hash tables' overhead; Basalt's per-key index lives in RocksDB, so
        // these are the key and expiry counts times a pointer-sized slot, for scale only.
        m.push((
            Reply::text(format!("db.{i}")),
            Reply::Map(vec![
                int("overhead.hashtable.main", n * 8),
                int("overhead.hashtable.expires", expires * 8),
            ]),
        ));
    }
    m.extend([
        int("overhead.total", overhead),
        int("keys.count", keys),
        int("keys.bytes-per-key", rss.checked_div(keys).unwrap_or(0)),
        int("dataset.bytes", dataset),
        dbl("dataset.percentage", pct(dataset, rss)),
        dbl("peak.percentage", pct(rss, peak)),
        int("allocator.allocated", rss),
        int("allocator.active", rss),
        int("allocator.resident", rss),
        dbl("allocator-fragmentation.ratio", 1.0),
        int("allocator-fragmentation.bytes", 0),
        dbl("allocator.rss-ratio", 1.0),
        int("allocator.rss-bytes", 0),
        dbl("rss-overhead.ratio", 1.0),
        int("rss-overhead.bytes", 0),
        dbl("fragmentation", 1.0),
        int("fragmentation.bytes", 0),
        int("rocksdb.block-cache.usage", block_cache),
        int(
            "rocksdb.block-cache.capacity",
            cx.shared.config.read().block_cache_size,
        ),
        int("rocksdb.memtables", memtables),
        int("rocksdb.table-readers", readers),
        int("rocksdb.sst-files.bytes", sst),
    ]);
    Ok(Reply::Map(m))
}

/// Redis's report when it finds nothing wrong (its checks are about allocator fragmentation
/// and client buffers, which do not apply as such to Basalt).
fn memory_doctor(_: &mut Context<'_>, _: &Args<'_>) -> CmdResult {
    Ok(Reply::Verbatim(
        "txt",
        "Hi Sam, I can't find any memory issue in your instance. I can only account for what \
         occurs on this base."
            .to_string(),
    ))
}

/// Redis's reply when built without jemalloc.
fn memory_malloc_stats(_: &mut Context<'_>, _: &Args<'_>) -> CmdResult {
    Ok(Reply::Verbatim(
        "txt",
        "Stats not supported for the current allocator".to_string(),
    ))
}

/// Redis's reply when built without jemalloc: nothing to purge.
fn memory_purge(_: &mut Context<'_>, _: &Args<'_>) -> CmdResult {
    Ok(Reply::Ok)
}

fn memory_help(_: &mut Context<'_>, _: &Args<'_>) -> CmdResult {
    Ok(help_reply(
        "MEMORY <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
        &[
            "DOCTOR",
            "    Return memory problems reports.",
            "MALLOC-STATS",
            "    Return internal statistics report from the memory allocator.",
            "PURGE",
            "    Attempt to purge dirty pages for reclamation by the allocator.",
            "STATS",
            "    Return information about the memory usage of the server.",
            "USAGE <key> [SAMPLES <count>]",
            "    Return memory in bytes used by <key> and its value. Nested values are",
            "    sampled up to <count> times (default: 5, 0 means sample all).",
        ],
    ))
}
