//! Server commands over the keyspace and persistence: DBSIZE, FLUSHDB, FLUSHALL, SWAPDB, SAVE,
//! BGSAVE, LASTSAVE, TIME, SHUTDOWN.

use super::flags::*;
use super::{Args, CmdError, CmdResult, Context, Keys, Spec};
use crate::protocol::Reply;
use crate::server::ReplyMode;
use std::sync::atomic::Ordering;
use std::sync::Arc;

const G: &str = "server";

pub(super) const TABLE: &[Spec] = &[
    Spec::new("dbsize", 1, READONLY | FAST, Keys::NONE, dbsize)
        .group(G)
        .doc("Returns the number of keys in the database."),
    Spec::new("flushdb", -1, WRITE | EXCLUSIVE, Keys::NONE, flushdb)
        .group(G)
        .doc("Removes all keys from the current database."),
    Spec::new("flushall", -1, WRITE | EXCLUSIVE, Keys::NONE, flushall)
        .group(G)
        .doc("Removes all keys from all databases."),
    Spec::new("swapdb", 3, WRITE | FAST | EXCLUSIVE, Keys::NONE, swapdb)
        .group(G)
        .doc("Swaps two Redis databases."),
    Spec::new("save", 1, ADMIN | NOSCRIPT | NO_MULTI, Keys::NONE, save)
        .group(G)
        .doc("Synchronously saves the database(s) to disk (a RocksDB checkpoint)."),
    Spec::new("bgsave", -1, ADMIN | NOSCRIPT, Keys::NONE, bgsave)
        .group(G)
        .doc("Asynchronously saves the database(s) to disk (a RocksDB checkpoint)."),
    Spec::new("lastsave", 1, LOADING | STALE | FAST, Keys::NONE, lastsave)
        .group(G)
        .doc("Returns the Unix timestamp of the last successful save to disk."),
    Spec::new("time", 1, LOADING | STALE | FAST, Keys::NONE, time)
        .group(G)
        .doc("Returns the server time."),
    Spec::new(
        "shutdown",
        -1,
        ADMIN | NOSCRIPT | LOADING | STALE | NO_MULTI | ALLOW_BUSY,
        Keys::NONE,
        shutdown,
    )
    .group(G)
    .doc("Synchronously saves the database(s) to disk and shuts down the Redis server."),
];

fn dbsize(cx: &mut Context<'_>, _args: &Args<'_>) -> CmdResult {
    Ok(Reply::Int(cx.db().size() as i64))
}

/// FLUSHDB/FLUSHALL take an optional ASYNC or SYNC; both are O(1) here (range deletions).
fn flush_mode_ok(args: &Args<'_>) -> Result<(), CmdError> {
    match args.len() {
        1 => Ok(()),
        2 if args.is(1, "async") || args.is(1, "sync") => Ok(()),
        _ => Err(CmdError::Syntax),
    }
}

fn flush(cx: &mut Context<'_>, logical: &[usize]) -> CmdResult {
    let phys = cx.view.flush(logical)?;
    cx.shared.blocking.flushed_dbs(&cx.shared.store, &phys);
    if cx.shared.tracking.is_active() {
        cx.shared.tracking.invalidate_all(cx.shared);
    }
    // Give the space back in the background: the range tombstones only hide the data.
    let store = Arc::clone(&cx.shared.store);
    std::thread::spawn(move || store.compact_dbs(&phys));
    Ok(Reply::Ok)
}

fn flushdb(cx: &mut Context<'_>, args: &Args<'_>) -> CmdResult {
    flush_mode_ok(args)?;
    let db = cx.client.db;
    flush(cx, &[db])
}

fn flushall(cx: &mut Context<'_>, args: &Args<'_>) -> CmdResult {
    flush_mode_ok(args)?;
    let all: Vec<usize> = (0..cx.view.databases()).collect();
    flush(cx, &all)
}

fn swapdb(cx: &mut Context<'_>, args: &Args<'_>) -> CmdResult {
    let a = args
        .i64(1)
        .map_err(|_| CmdError::msg("ERR invalid first DB index"))?;
    let b = args
        .i64(2)
        .map_err(|_| CmdError::msg("ERR invalid second DB index"))?;
    let (pa, pb) = (cx.db_at(a)?.phys, cx.db_at(b)?.phys);
    cx.view.swap(a as usize, b as usize)?;
    cx.shared.blocking.swap_dbs(&cx.shared.store, pa, pb);
    Ok(Reply::Ok)
}

fn save(cx: &mut Context<'_>, _args: &Args<'_>) -> CmdResult {
    if cx.shared.bgsave_running.load(Ordering::Acquire) {
        return Err(CmdError::msg("ERR Background save already in progress"));
    }
    cx.shared.save()?;
    Ok(Reply::Ok)
}

fn bgsave(cx: &mut Context<'_>, args: &Args<'_>) -> CmdResult {
    if args.len() > 2 || (args.len() == 2 && !args.is(1, "schedule")) {
        return Err(CmdError::Syntax);
    }
    if cx.shared.bgsave_running.swap(true, Ordering::AcqRel) {
        return Err(CmdError::msg("ERR Background save already in progress"));
    }
    let shared = Arc::clone(cx.shared);
    let dest = shared.checkpoint_dir();
    std::thread::spawn(move || {
        match shared.store.checkpoint(&dest) {
            Ok(()) => shared
                .last_save
                .store(crate::util::time::now_ms() / 1000, Ordering::Relaxed),
            Err(e) => tracing::error!(error = %e, "BGSAVE failed"),
        }
        shared.bgsave_running.store(false, Ordering::Release);
    });
    Ok(Reply::status("Background saving started"))
}

fn lastsave(cx: &mut Context<'_>, _args: &Args<'_>) -> CmdResult {
    Ok(Reply::Int(
        cx.shared.last_save.load(Ordering::Relaxed) as i64
    ))
}

fn time(_cx: &mut Context<'_>, _args: &Args<'_>) -> CmdResult {
    let us = crate::util::time::now_us();
    Ok(Reply::bulks([
        (us / 1_000_000).to_string().into_bytes(),
        (us % 1_000_000).to_string().into_bytes(),
    ]))
}

fn shutdown(cx: &mut Context<'_>, args: &Args<'_>) -> CmdResult {
    let (mut abort, mut save, mut nosave, mut other) = (false, false, false, false);
    for a in args.iter().skip(1) {
        match a.to_ascii_lowercase().as_slice() {
            b"nosave" => nosave = true,
            b"save" => save = true,
            b"now" | b"force" => other = true,
            b"abort" => abort = true,
            _ => return Err(CmdError::Syntax),
        }
    }
    // Redis refuses ABORT with any other flag, and SAVE with NOSAVE.
    if (abort && (save || nosave || other)) || (save && nosave) {
        return Err(CmdError::Syntax);
    }
    if abort {
        return Err(CmdError::msg("ERR No shutdown in progress."));
    }
    // While a script runs past the threshold only SHUTDOWN NOSAVE may stop the server.
    if !nosave {
        if let Some(busy) = cx.shared.scripts.busy.refusal() {
            return Err(CmdError::msg(busy));
        }
    }
    // Every acknowledged write is already in the WAL; shutdown syncs it. No reply is sent, as in
    // Redis: the connection closes.
    cx.client.reply_mode = ReplyMode::SkipThis;
    cx.client.close_after_reply = true;
    cx.shared.request_shutdown();
    Ok(Reply::Ok)
}
