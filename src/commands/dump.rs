//! DUMP and RESTORE: a key's value in Redis's payload format (an RDB object, the RDB version and
//! a CRC-64), so keys move between Basalt and Redis in either direction (cluster.c in Redis 7.0).

use super::flags::*;
use super::{Args, CmdError, CmdResult, Context, Keys, Spec};
use crate::protocol::Reply;
use crate::rdb::{Event, Reader, Writer};
use crate::server::notify::class;
use crate::types::rdb::{expire_of, write_key, KeyIoError, KeyLoader};
use bytes::Bytes;

const G: &str = "generic";

pub(super) const TABLE: &[Spec] = &[
    Spec::new("dump", 2, READONLY, Keys::one(1), dump)
        .group(G)
        .doc("Returns a serialized representation of the value stored at a key."),
    Spec::new("restore", -4, WRITE | DENYOOM, Keys::one(1), restore)
        .group(G)
        .doc("Creates a key from the serialized representation of a value."),
];

fn key_io(e: KeyIoError) -> CmdError {
    match e {
        KeyIoError::Store(s) => CmdError::Storage(s),
        other => CmdError::msg(format!("ERR {other}")),
    }
}

fn dump(cx: &mut Context<'_>, args: &Args<'_>) -> CmdResult {
    let db = cx.db();
    let key = args.get(1);
    // Under the key lock: a fragmented string's bytes then come from one state of it, and a
    // stream's entries, walked twice (to count its nodes, then to write them), see no write in
    // between.
    let _guard = db.lock(key);
    let Some(meta) = db.meta(key)? else {
        return Ok(Reply::Nil);
    };
    let mut w = Writer::payload();
    write_key(&db, key, &meta, expire_of(&meta), &mut w).map_err(key_io)?;
    let payload = w.finish_payload().map_err(|e| key_io(e.into()))?;
    Ok(Reply::Bulk(Bytes::from(payload)))
}

/// RESTORE's options, checked in Redis's order before anything else.
struct RestoreOptions {
    replace: bool,
    absttl: bool,
}

fn restore_options(args: &Args<'_>) -> Result<RestoreOptions, CmdError> {
    let mut o = RestoreOptions {
        replace: false,
        absttl: false,
    };
    let (mut idle, mut freq) = (false, false);
    let mut j = 4;
    while j < args.len() {
        let more = j + 1 < args.len();
        if args.is(j, "replace") {
            o.replace = true;
        } else if args.is(j, "absttl") {
            o.absttl = true;
        } else if args.is(j, "idletime") && more && !freq {
            if args.i64(j + 1)? < 0 {
                return Err(CmdError::msg("ERR Invalid IDLETIME value, must be >= 0"));
            }
            // Basalt keeps no LRU clock per key: the hint is validated and not stored.
            idle = true;
            j += 1;
        } else if args.is(j, "freq") && more && !idle {
            if !(0..=255).contains(&args.i64(j + 1)?) {
                return Err(CmdError::msg(
                    "ERR Invalid FREQ value, must be >= 0 and <= 255",
                ));
            }
            freq = true;
            j += 1;
        } else {
            return Err(CmdError::Syntax);
        }
        j += 1;
    }
    Ok(o)
}

fn restore(cx: &mut Context<'_>, args: &Args<'_>) -> CmdResult {
    let opts = restore_options(args)?;
    let db = cx.db();
    let key = args.get(1);
    let _guard = db.lock(key);
    let old = db.meta_raw(key)?;
    let now = crate::util::time::now_ms();
    let live = old.as_ref().filter(|m| !m.is_expired(now));
    if live.is_some() && !opts.replace {
        return Err(CmdError::msg("BUSYKEY Target key name already exists."));
    }
    let ttl = args.i64(2)?;
    if ttl < 0 {
        return Err(CmdError::msg("ERR Invalid TTL value, must be >= 0"));
    }
    let bad_format = || CmdError::msg("ERR Bad data format");
    let mut reader = Reader::payload(args.get(3))
        .map_err(|_| CmdError::msg("ERR DUMP payload version or checksum are wrong"))?;
    let Ok(Some(Event::Key(header))) = reader.next() else {
        return Err(bad_format());
    };
    let mut batch = db.batch();
    let mut loader = KeyLoader::new(&db, key, header.kind).map_err(|e| match e {
        KeyIoError::Unsupported(what) => CmdError::msg(format!("ERR {what}")),
        e => key_io(e),
    })?;
    loop {
        match reader.next() {
            Ok(Some(Event::Chunk(chunk))) => match loader.add(&mut batch, chunk, now) {
                Ok(()) => {}
                Err(KeyIoError::Store(s)) => return Err(CmdError::Storage(s)),
                Err(_) => return Err(bad_format()),
            },
            Ok(Some(Event::KeyEnd)) => break,
            _ => return Err(bad_format()),
        }
    }
    if !loader.has_value() {
        return Err(bad_format());
    }
    let expire_at = match (ttl, opts.absttl) {
        (0, _) => 0,
        (t, true) => t as u64,
        (t, false) => now.saturating_add(t as u64),
    };
    if expire_at != 0 && expire_at <= now {
        // Already expired: nothing is created; a replaced key is deleted.
        if let Some(live) = live {
            let mut del = db.batch();
            del.delete_key(db.phys, key, live);
            del.commit()?;
            cx.notify(class::GENERIC, "del", key);
        }
        return Ok(Reply::Ok);
    }
    loader
        .finish(&mut batch, old.as_ref(), expire_at)
        .map_err(key_io)?;
    batch.commit()?;
    let index = cx.client.db;
    cx.notify_new(index, key);
    cx.notify(class::GENERIC, "restore", key);
    Ok(Reply::Ok)
}
