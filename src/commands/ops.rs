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

fn now_unix() -> Duration {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
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
                argv: slowlog_argv(args.len(), args.iter()),
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
                args.iter(),
            );
            let limit = monitor_limit(shared);
            ops.monitors.feed(&line, &limit);
        }
    }
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
    if mode == PauseMode::All {
        return true;
    }
    let may_replicate = |s: &Spec| {
        s.has(WRITE | MAY_REPLICATE)
            || matches!(
                s.name,
                "eval" | "evalsha" | "fcall" | "publish" | "spublish"
            )
    };
    if is_exec {
        return client.multi.as_ref().is_some_and(|m| {
            m.queued.iter().any(|q| {
                super::Table::get()
                    .lookup(q.args().get(0))
                    .is_some_and(may_replicate)
            })
        });
    }
    may_replicate(spec)
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
