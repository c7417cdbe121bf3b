//! Transactions: MULTI, EXEC, DISCARD, WATCH, UNWATCH (Redis 7.0's `multi.c`).
//!
//! Between MULTI and EXEC the dispatcher queues commands (see `execute` in the parent module)
//! after checking that they exist and have a valid arity; a refused command makes EXEC answer
//! EXECABORT. EXEC runs with the database view held exclusively, the way SWAPDB does: no other
//! command runs while the queued ones do, so no client observes a transaction half done, and
//! each queued command sees the writes of the ones before it; their writes reach the WAL as one
//! record (see `storage::txn`), so a crash keeps all of a transaction or none. WATCH registers the keys with the
//! store, whose write batches raise the client's flag when one of them is written by anyone
//! (the client itself included), and FLUSHDB/FLUSHALL/SWAPDB raise it for their databases.

use super::flags::*;
use super::{Args, CmdError, CmdResult, Context, Keys, Spec};
use crate::protocol::Reply;
use crate::server::client::{Multi, WatchedKey};
use std::sync::atomic::Ordering;

const G: &str = "transactions";

pub(super) const TABLE: &[Spec] = &[
    Spec::new(
        "multi",
        1,
        NOSCRIPT | LOADING | STALE | FAST | ALLOW_BUSY,
        Keys::NONE,
        multi,
    )
    .group(G)
    .doc("Starts a transaction."),
    Spec::new(
        "exec",
        1,
        NOSCRIPT | LOADING | STALE | EXCLUSIVE,
        Keys::NONE,
        exec,
    )
    .group(G)
    .doc("Executes all commands in a transaction."),
    Spec::new(
        "discard",
        1,
        NOSCRIPT | LOADING | STALE | FAST | ALLOW_BUSY,
        Keys::NONE,
        discard,
    )
    .group(G)
    .doc("Discards a transaction."),
    Spec::new(
        "watch",
        -2,
        NOSCRIPT | LOADING | STALE | FAST | ALLOW_BUSY,
        Keys::range(1, -1, 1),
        watch,
    )
    .group(G)
    .doc("Monitors changes to keys to determine the execution of a transaction."),
    Spec::new(
        "unwatch",
        1,
        NOSCRIPT | LOADING | STALE | FAST | ALLOW_BUSY,
        Keys::NONE,
        unwatch,
    )
    .group(G)
    .doc("Forgets about watched keys of a transaction."),
];

/// Commands that run at once inside MULTI instead of being queued, as in Redis.
pub(super) fn runs_inside_multi(name: &str) -> bool {
    matches!(
        name,
        "exec" | "discard" | "multi" | "watch" | "quit" | "reset"
    )
}

fn multi(cx: &mut Context<'_>, _args: &Args<'_>) -> CmdResult {
    if cx.client.multi.is_some() {
        return Err(CmdError::msg("ERR MULTI calls can not be nested"));
    }
    cx.client.multi = Some(Multi::default());
    cx.client.info.multi.store(0, Ordering::Relaxed);
    Ok(Reply::Ok)
}

fn discard(cx: &mut Context<'_>, _args: &Args<'_>) -> CmdResult {
    if cx.client.multi.take().is_none() {
        return Err(CmdError::msg("ERR DISCARD without MULTI"));
    }
    cx.client.info.multi.store(-1, Ordering::Relaxed);
    cx.client.unwatch(&cx.shared.store);
    Ok(Reply::Ok)
}

fn exec(cx: &mut Context<'_>, _args: &Args<'_>) -> CmdResult {
    let Some(multi) = cx.client.multi.take() else {
        return Err(CmdError::msg("ERR EXEC without MULTI"));
    };
    cx.client.info.multi.store(-1, Ordering::Relaxed);
    if multi.aborted {
        cx.client.unwatch(&cx.shared.store);
        return Err(CmdError::msg(
            "EXECABORT Transaction discarded because of previous errors.",
        ));
    }
    // The view is exclusive from here on: nothing can change a watched key between this check
    // and the last queued command.
    let changed = cx.client.watching.dirty.load(Ordering::SeqCst) || watched_key_expired(cx)?;
    cx.client.unwatch(&cx.shared.store);
    if changed {
        return Ok(Reply::NilArray);
    }
    // The queued commands' writes go to the WAL as one record (storage::txn).
    let txn = cx.shared.store.begin_txn();
    let mut replies = Vec::with_capacity(multi.queued.len());
    for queued in &multi.queued {
        replies.push(super::run_queued(cx, &queued.args()));
    }
    txn.commit()?;
    Ok(Reply::Array(replies))
}

/// Whether a key that existed when watched has expired since (Redis counts that as a change
/// even before the key is reclaimed).
fn watched_key_expired(cx: &Context<'_>) -> Result<bool, CmdError> {
    for k in cx.client.watching.keys.iter().filter(|k| k.existed) {
        let Some(db) = cx.view.db(k.db) else {
            return Ok(true);
        };
        if db.meta(&k.key)?.is_none() {
            return Ok(true);
        }
    }
    Ok(false)
}

fn watch(cx: &mut Context<'_>, args: &Args<'_>) -> CmdResult {
    if cx.client.multi.is_some() {
        return Err(CmdError::msg("ERR WATCH inside MULTI is not allowed"));
    }
    let db = cx.db();
    let store = &cx.shared.store;
    for key in args.iter().skip(1) {
        let watching = &mut cx.client.watching;
        if watching
            .keys
            .iter()
            .any(|k| k.db == cx.client.db && k.key == key)
        {
            continue;
        }
        // Registered before the existence check, so a write in between raises the flag.
        store
            .watches
            .watch((db.phys, key.to_vec()), &watching.dirty);
        let existed = db.meta(key)?.is_some();
        watching.keys.push(WatchedKey {
            phys: db.phys,
            db: cx.client.db,
            key: key.to_vec(),
            existed,
        });
    }
    Ok(Reply::Ok)
}

fn unwatch(cx: &mut Context<'_>, _args: &Args<'_>) -> CmdResult {
    cx.client.unwatch(&cx.shared.store);
    Ok(Reply::Ok)
}
