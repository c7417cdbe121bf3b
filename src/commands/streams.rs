//! Stream commands: XADD, XRANGE, XREAD, XREADGROUP, XGROUP, XINFO and the rest of Redis 7.0's
//! stream family (`t_stream.c`), with its argument checks, their order and its error texts.
//!
//! XREAD and XREADGROUP with BLOCK wait like BLPOP (see `Context::block_with`): a blocked XREAD
//! is stored with its `$` IDs resolved to the stream's last ID at the time it blocked, and every
//! reader waiting on a stream is tried when the stream gets data. A blocked XREADGROUP whose
//! stream is deleted (or changes type) gets `UNBLOCKED`, one whose group is destroyed `NOGROUP`,
//! as in Redis 7.0.

use super::args::OwnedArgs;
use super::flags::*;
use super::introspection::{help_reply, run_sub, sub, Sub};
use super::{Args, BlockMode, CmdError, CmdResult, Context, Keys, Spec, Stored};
use crate::protocol::Reply;
use crate::server::notify::class;
use crate::types::streams::id::{self, Syntax, MAX, MIN};
use crate::types::streams::{
    self, ClaimArgs, Entry, GroupRead, IdSpec, PendingQuery, ReadFrom, StreamError, StreamId, Trim,
    TrimBy,
};
use bytes::Bytes;
use std::time::{Duration, Instant};

const G: &str = "stream";

/// The stream family's commands.
pub(super) const TABLE: &[Spec] = &[
    Spec::new("xadd", -5, WRITE | DENYOOM | FAST, Keys::one(1), xadd)
        .group(G)
        .doc("Appends a new message to a stream. Creates the key if it doesn't exist."),
    Spec::new("xrange", -4, READONLY, Keys::one(1), xrange)
        .group(G)
        .doc("Returns the messages from a stream within a range of IDs."),
    Spec::new("xrevrange", -4, READONLY, Keys::one(1), xrevrange)
        .group(G)
        .doc("Returns the messages from a stream within a range of IDs in reverse order."),
    Spec::new("xlen", 2, READONLY | FAST, Keys::one(1), xlen)
        .group(G)
        .doc("Return the number of messages in a stream."),
    Spec::new("xread", -4, READONLY | BLOCKING | MOVABLEKEYS, Keys::NONE, xread)
        .group(G)
        .doc("Returns messages from multiple streams with IDs greater than the ones requested. Blocks until a message is available otherwise."),
    Spec::new("xreadgroup", -7, WRITE | BLOCKING | MOVABLEKEYS, Keys::NONE, xreadgroup)
        .group(G)
        .doc("Returns new or historical messages from a stream for a consumer in a group. Blocks until a message is available otherwise."),
    Spec::new("xdel", -3, WRITE | FAST, Keys::one(1), xdel)
        .group(G)
        .doc("Returns the number of messages after removing them from a stream."),
    Spec::new("xtrim", -4, WRITE, Keys::one(1), xtrim)
        .group(G)
        .doc("Deletes messages from the beginning of a stream."),
    Spec::new("xack", -4, WRITE | FAST, Keys::one(1), xack)
        .group(G)
        .doc("Returns the number of messages that were successfully acknowledged by the consumer group member of a stream."),
    Spec::new("xpending", -3, READONLY, Keys::one(1), xpending)
        .group(G)
        .doc("Returns the information and entries from a stream consumer group's pending entries list."),
    Spec::new("xclaim", -6, WRITE | FAST, Keys::one(1), xclaim)
        .group(G)
        .doc("Changes, or acquires, ownership of a message in a consumer group, as if the message was delivered a consumer group member."),
    Spec::new("xautoclaim", -6, WRITE | FAST, Keys::one(1), xautoclaim)
        .group(G)
        .doc("Changes, or acquires, ownership of messages in a consumer group, as if the messages were delivered to as consumer group member."),
    Spec::new("xsetid", -3, WRITE | DENYOOM | FAST, Keys::one(1), xsetid)
        .group(G)
        .doc("An internal command for replicating stream values."),
    Spec::new("xgroup", -2, 0, Keys::NONE, xgroup)
        .group(G)
        .doc("A container for consumer groups commands."),
    Spec::new("xinfo", -2, 0, Keys::NONE, xinfo)
        .group(G)
        .doc("A container for stream introspection commands."),
];

/// XGROUP's subcommands.
pub(in crate::commands) const XGROUP_SUBS: &[Sub] = &[
    sub(
        "xgroup|create",
        -5,
        WRITE | DENYOOM,
        "Creates a consumer group.",
        xgroup_create,
    ),
    sub(
        "xgroup|setid",
        -5,
        WRITE,
        "Sets the last-delivered ID of a consumer group.",
        xgroup_setid,
    ),
    sub(
        "xgroup|destroy",
        4,
        WRITE,
        "Destroys a consumer group.",
        xgroup_destroy,
    ),
    sub(
        "xgroup|createconsumer",
        5,
        WRITE | DENYOOM,
        "Creates a consumer in a consumer group.",
        xgroup_createconsumer,
    ),
    sub(
        "xgroup|delconsumer",
        5,
        WRITE,
        "Deletes a consumer from a consumer group.",
        xgroup_delconsumer,
    ),
    sub(
        "xgroup|help",
        2,
        LOADING | STALE,
        "Returns helpful text about the different subcommands.",
        xgroup_help,
    ),
];

/// XINFO's subcommands.
pub(in crate::commands) const XINFO_SUBS: &[Sub] = &[
    sub(
        "xinfo|consumers",
        4,
        READONLY,
        "Returns a list of the consumers in a consumer group.",
        xinfo_consumers,
    ),
    sub(
        "xinfo|groups",
        3,
        READONLY,
        "Returns a list of the consumer groups of a stream.",
        xinfo_groups,
    ),
    sub(
        "xinfo|stream",
        -3,
        READONLY,
        "Returns information about a stream.",
        xinfo_stream,
    ),
    sub(
        "xinfo|help",
        2,
        LOADING | STALE,
        "Returns helpful text about the different subcommands.",
        xinfo_help,
    ),
];

/// Entries a blocked XREAD / XREADGROUP without COUNT gets when it is served
/// (`XREAD_BLOCKED_DEFAULT_COUNT`).
const BLOCKED_DEFAULT_COUNT: u64 = 1000;

impl From<StreamError> for CmdError {
    fn from(e: StreamError) -> Self {
        match e {
            StreamError::Type(t) => t.into(),
            other => CmdError::msg(other.to_string()),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Replies and argument helpers
// ---------------------------------------------------------------------------------------------

fn id_reply(id: StreamId) -> Reply {
    Reply::text(id::format(id))
}

fn entry_reply(id: StreamId, fields: Option<Vec<Bytes>>) -> Reply {
    let body = match fields {
        Some(f) => Reply::Array(f.into_iter().map(Reply::Bulk).collect()),
        None => Reply::NilArray,
    };
    Reply::Array(vec![id_reply(id), body])
}

fn entries_reply(entries: Vec<Entry>) -> Reply {
    Reply::Array(
        entries
            .into_iter()
            .map(|e| entry_reply(e.id, Some(e.fields)))
            .collect(),
    )
}

fn int(n: u64) -> Reply {
    Reply::Int(i64::try_from(n).unwrap_or(i64::MAX))
}

fn invalid_id() -> CmdError {
    StreamError::InvalidId.into()
}

/// An ID where `-` and `+` are refused.
fn strict_id(arg: &[u8]) -> Result<StreamId, CmdError> {
    id::parse(arg, Syntax::STRICT)
        .map(|p| p.id)
        .ok_or_else(invalid_id)
}

/// The start of a range: an ID, `-`, or `(` and an ID (the next one is the start).
fn range_start(arg: &[u8]) -> Result<StreamId, CmdError> {
    let (id, excluded) = id::parse_interval(arg, 0).ok_or_else(invalid_id)?;
    if !excluded {
        return Ok(id);
    }
    id::incr(id).ok_or_else(|| CmdError::msg("ERR invalid start ID for the interval"))
}

/// The end of a range: an ID (a bare time means its last sequence), `+`, or `(` and an ID.
fn range_end(arg: &[u8]) -> Result<StreamId, CmdError> {
    let (id, excluded) = id::parse_interval(arg, u64::MAX).ok_or_else(invalid_id)?;
    if !excluded {
        return Ok(id);
    }
    id::decr(id).ok_or_else(|| CmdError::msg("ERR invalid end ID for the interval"))
}

/// Redis's `addReplySubcommandSyntaxError`, naming the subcommand as the client wrote it.
fn sub_syntax(args: &Args<'_>) -> CmdError {
    let sub = String::from_utf8_lossy(args.get(1));
    let sub: String = sub.chars().take(128).collect();
    CmdError::msg(format!(
        "ERR unknown subcommand or wrong number of arguments for '{sub}'. Try {} HELP.",
        String::from_utf8_lossy(args.get(0)).to_ascii_uppercase()
    ))
}

/// The NOGROUP text of XPENDING, XCLAIM and XAUTOCLAIM.
fn nogroup_key_or_group(key: &[u8], group: &[u8]) -> CmdError {
    CmdError::msg(format!(
        "NOGROUP No such key '{}' or consumer group '{}'",
        String::from_utf8_lossy(key),
        String::from_utf8_lossy(group)
    ))
}

/// The NOGROUP text of XGROUP and XINFO CONSUMERS.
fn nogroup_for_key(key: &[u8], group: &[u8]) -> CmdError {
    CmdError::msg(format!(
        "NOGROUP No such consumer group '{}' for key name '{}'",
        String::from_utf8_lossy(group),
        String::from_utf8_lossy(key)
    ))
}

/// Renders an error whose NOGROUP form needs the key and group names.
fn with_nogroup(e: StreamError, nogroup: impl FnOnce() -> CmdError) -> CmdError {
    match e {
        StreamError::NoGroup => nogroup(),
        e => e.into(),
    }
}

/// Whether argument `i` is exactly `word` as Redis's `strcmp` sees it (a C string: an embedded
/// NUL ends it).
fn c_str_is(arg: &[u8], word: &[u8]) -> bool {
    let end = arg.iter().position(|&b| b == 0).unwrap_or(arg.len());
    &arg[..end] == word
}

// ---------------------------------------------------------------------------------------------
// XADD, XTRIM
// ---------------------------------------------------------------------------------------------

/// The parsed options of XADD and XTRIM (`streamParseAddOrTrimArgsOrReply`).
struct AddTrim {
    trim: Option<Trim>,
    nomkstream: bool,
    /// XADD: the ID, and the position of the argument holding it.
    id: IdSpec,
    id_pos: usize,
}

fn parse_add_trim(args: &Args<'_>, xadd: bool) -> Result<AddTrim, CmdError> {
    let both = "ERR syntax error, MAXLEN and MINID options at the same time are not compatible";
    let mut by: Option<TrimBy> = None;
    let mut approx = false;
    let mut limit: i64 = 0;
    let mut limit_given = false;
    let mut nomkstream = false;
    let mut id = IdSpec::Auto;
    let mut i = 2;
    while i < args.len() {
        let more = args.len() - 1 - i;
        let opt = args.get(i);
        if xadd && opt.first() == Some(&b'*') && opt.get(1).is_none_or(|&b| b == 0) {
            break;
        } else if more > 0 && (args.is(i, "maxlen") || args.is(i, "minid")) {
            if by.is_some() {
                return Err(CmdError::msg(both));
            }
            let maxlen = args.is(i, "maxlen");
            approx = false;
            let next = args.get(i + 1);
            if more >= 2 && next == b"~" {
                approx = true;
                i += 1;
            } else if more >= 2 && next == b"=" {
                i += 1;
            }
            if maxlen {
                let n = args.i64(i + 1)?;
                if n < 0 {
                    return Err(CmdError::msg("ERR The MAXLEN argument must be >= 0."));
                }
                by = Some(TrimBy::MaxLen(n as u64));
            } else {
                by = Some(TrimBy::MinId(strict_id(args.get(i + 1))?));
            }
            i += 1;
        } else if more > 0 && args.is(i, "limit") {
            limit = args.i64(i + 1)?;
            if limit < 0 {
                return Err(CmdError::msg("ERR The LIMIT argument must be >= 0."));
            }
            limit_given = true;
            i += 1;
        } else if xadd && args.is(i, "nomkstream") {
            nomkstream = true;
        } else if xadd {
            let star = Syntax {
                star_seq: true,
                ..Syntax::STRICT
            };
            let p = id::parse(opt, star).ok_or_else(invalid_id)?;
            id = if p.seq_given {
                IdSpec::Exact(p.id)
            } else {
                IdSpec::Ms(p.id.ms)
            };
            break;
        } else {
            return Err(CmdError::Syntax);
        }
        i += 1;
    }
    if limit != 0 && by.is_none() {
        return Err(CmdError::msg(
            "ERR syntax error, LIMIT cannot be used without specifying a trimming strategy",
        ));
    }
    if !xadd && by.is_none() {
        return Err(CmdError::msg(
            "ERR syntax error, XTRIM must be called with a trimming strategy",
        ));
    }
    if limit_given && !approx {
        return Err(CmdError::msg(
            "ERR syntax error, LIMIT cannot be used without the special ~ option",
        ));
    }
    let limit = match (limit_given, approx) {
        (true, _) => limit as u64,
        // Redis's default: 100 nodes' worth of entries.
        (false, true) => 100 * streams::NODE_ENTRIES,
        (false, false) => 0,
    };
    Ok(AddTrim {
        trim: by.map(|by| Trim { by, approx, limit }),
        nomkstream,
        id,
        id_pos: i,
    })
}

fn xadd(cx: &mut Context<'_>, args: &Args<'_>) -> CmdResult {
    let key = args.get(1);
    let p = parse_add_trim(args, true)?;
    let first_field = p.id_pos + 1;
    let n = args.len().saturating_sub(first_field);
    if first_field > args.len() || n < 2 || n % 2 == 1 {
        return Err(CmdError::Arity("xadd".into()));
    }
    let fields: Vec<&[u8]> = (first_field..args.len()).map(|i| args.get(i)).collect();
    let added = streams::add(&cx.db(), key, p.id, p.nomkstream, &fields, p.trim.as_ref())?;
    let Some(added) = added else {
        return Ok(Reply::Nil);
    };
    cx.notify(class::STREAM, "xadd", key);
    if added.trimmed > 0 {
        cx.notify(class::STREAM, "xtrim", key);
    }
    Ok(id_reply(added.id))
}

fn xtrim(cx: &mut Context<'_>, args: &Args<'_>) -> CmdResult {
    let key = args.get(1);
    let p = parse_add_trim(args, false)?;
    let Some(t) = p.trim else {
        return Err(CmdError::Syntax);
    };
    let removed = streams::trim(&cx.db(), key, &t)?;
    if removed > 0 {
        cx.notify(class::STREAM, "xtrim", key);
    }
    Ok(int(removed))
}

// ---------------------------------------------------------------------------------------------
// XRANGE, XREVRANGE, XLEN, XDEL, XSETID
// ---------------------------------------------------------------------------------------------

fn range_cmd(cx: &mut Context<'_>, args: &Args<'_>, rev: bool) -> CmdResult {
    let (start_arg, end_arg) = if rev {
        (args.get(3), args.get(2))
    } else {
        (args.get(2), args.get(3))
    };
    let start = range_start(start_arg)?;
    let end = range_end(end_arg)?;
    let mut count: Option<u64> = None;
    let mut j = 4;
    while j < args.len() {
        if args.is(j, "count") && j + 1 < args.len() {
            count = Some(args.i64(j + 1)?.max(0) as u64);
            j += 2;
        } else {
            return Err(CmdError::Syntax);
        }
    }
    let db = cx.db();
    let key = args.get(1);
    if count == Some(0) {
        // Redis looks the key up (and checks its type) before answering a zero COUNT.
        return Ok(if streams::read_exists(&db, key)? {
            Reply::NilArray
        } else {
            Reply::Array(Vec::new())
        });
    }
    Ok(entries_reply(streams::range(
        &db, key, start, end, count, rev,
    )?))
}

fn xrange(cx: &mut Context<'_>, args: &Args<'_>) -> CmdResult {
    range_cmd(cx, args, false)
}

fn xrevrange(cx: &mut Context<'_>, args: &Args<'_>) -> CmdResult {
    range_cmd(cx, args, true)
}

fn xlen(cx: &mut Context<'_>, args: &Args<'_>) -> CmdResult {
    Ok(int(streams::len(&cx.db(), args.get(1))?))
}

fn xdel(cx: &mut Context<'_>, args: &Args<'_>) -> CmdResult {
    let ids = (2..args.len())
        .map(|i| strict_id(args.get(i)))
        .collect::<Result<Vec<_>, _>>()?;
    let key = args.get(1);
    let n = streams::delete(&cx.db(), key, &ids)?;
    if n > 0 {
        cx.notify(class::STREAM, "xdel", key);
    }
    Ok(int(n))
}

fn xsetid(cx: &mut Context<'_>, args: &Args<'_>) -> CmdResult {
    let last = strict_id(args.get(2))?;
    let mut entries_added = None;
    let mut max_deleted = None;
    let mut i = 3;
    while i < args.len() {
        let more = i + 1 < args.len();
        if more && args.is(i, "entriesadded") {
            let n = args.i64(i + 1)?;
            if n < 0 {
                return Err(CmdError::msg("ERR entries_added must be positive"));
            }
            entries_added = Some(n as u64);
        } else if more && args.is(i, "maxdeletedid") {
            let m = strict_id(args.get(i + 1))?;
            if last < m {
                return Err(CmdError::msg(
                    "ERR The ID specified in XSETID is smaller than the provided max_deleted_entry_id",
                ));
            }
            max_deleted = Some(m);
        } else {
            return Err(CmdError::Syntax);
        }
        i += 2;
    }
    let key = args.get(1);
    streams::set_id(&cx.db(), key, last, entries_added, max_deleted)?;
    cx.notify(class::STREAM, "xsetid", key);
    Ok(Reply::Ok)
}

// ---------------------------------------------------------------------------------------------
// XREAD, XREADGROUP
// ---------------------------------------------------------------------------------------------

/// BLOCK's milliseconds (`getTimeoutFromObjectOrReply` with milliseconds): None for 0 (wait
/// forever), else the deadline.
fn block_timeout(arg: &[u8]) -> Result<Option<Instant>, CmdError> {
    let ms = crate::util::num::parse_i64(arg)
        .ok_or_else(|| CmdError::msg("ERR timeout is not an integer or out of range"))?;
    if ms < 0 {
        return Err(CmdError::msg("ERR timeout is negative"));
    }
    let now = crate::util::time::now_ms() as i64;
    if ms > i64::MAX - now {
        return Err(CmdError::msg("ERR timeout is out of range"));
    }
    if ms == 0 {
        return Ok(None);
    }
    // A deadline past what Instant can represent is as good as forever.
    Ok(Instant::now().checked_add(Duration::from_millis(ms as u64)))
}

/// The options of XREAD / XREADGROUP, in Redis's parse order.
struct ReadArgs<'a> {
    /// Some when BLOCK was given.
    block: Option<Option<Instant>>,
    count: u64,
    noack: bool,
    group: Option<(&'a [u8], &'a [u8])>,
    /// Where the keys start; as many IDs follow them.
    streams_at: usize,
    streams: usize,
}

fn parse_read<'a>(args: &Args<'a>, group_cmd: bool) -> Result<ReadArgs<'a>, CmdError> {
    let mut r = ReadArgs {
        block: None,
        count: 0,
        noack: false,
        group: None,
        streams_at: 0,
        streams: 0,
    };
    let mut i = 1;
    while i < args.len() {
        let more = args.len() - 1 - i;
        if more > 0 && args.is(i, "block") {
            i += 1;
            r.block = Some(block_timeout(args.get(i))?);
        } else if more > 0 && args.is(i, "count") {
            i += 1;
            r.count = args.i64(i)?.max(0) as u64;
        } else if more > 0 && args.is(i, "streams") {
            r.streams_at = i + 1;
            let n = args.len() - r.streams_at;
            if !n.is_multiple_of(2) {
                return Err(CmdError::msg(
                    "ERR Unbalanced XREAD list of streams: for each stream key an ID or '$' must be specified.",
                ));
            }
            r.streams = n / 2;
            break;
        } else if more >= 2 && args.is(i, "group") {
            if !group_cmd {
                return Err(CmdError::msg(
                    "ERR The GROUP option is only supported by XREADGROUP. You called XREAD instead.",
                ));
            }
            r.group = Some((args.get(i + 1), args.get(i + 2)));
            i += 2;
        } else if args.is(i, "noack") {
            if !group_cmd {
                return Err(CmdError::msg(
                    "ERR The NOACK option is only supported by XREADGROUP. You called XREAD instead.",
                ));
            }
            r.noack = true;
        } else {
            return Err(CmdError::Syntax);
        }
        i += 1;
    }
    if r.streams_at == 0 {
        return Err(CmdError::Syntax);
    }
    if group_cmd && r.group.is_none() {
        return Err(CmdError::msg("ERR Missing GROUP option for XREADGROUP"));
    }
    Ok(r)
}

/// XREAD / XREADGROUP's reply: a map of key to entries (RESP3), or pairs (RESP2).
fn read_reply(resp3: bool, served: Vec<(Bytes, Reply)>) -> Reply {
    if resp3 {
        Reply::Map(
            served
                .into_iter()
                .map(|(k, v)| (Reply::Bulk(k), v))
                .collect(),
        )
    } else {
        Reply::Array(
            served
                .into_iter()
                .map(|(k, v)| Reply::Array(vec![Reply::Bulk(k), v]))
                .collect(),
        )
    }
}

fn xread(cx: &mut Context<'_>, args: &Args<'_>) -> CmdResult {
    let r = parse_read(args, false)?;
    let keys: Vec<&[u8]> = (0..r.streams).map(|i| args.get(r.streams_at + i)).collect();
    let db = cx.db();
    let serving = cx.block == BlockMode::Serve;
    // Per key, as Redis: the key's type, then its ID (`$` is the stream's last ID now). A
    // re-run of a blocked XREAD has its IDs resolved, and a key that changed type only means
    // nothing to read yet.
    let mut after = Vec::with_capacity(r.streams);
    let mut resolved: Vec<Option<StreamId>> = Vec::with_capacity(r.streams);
    for (i, key) in keys.iter().enumerate() {
        let last = if serving {
            MIN
        } else {
            streams::last_id(&db, key)?
        };
        let arg = args.get(r.streams_at + r.streams + i);
        if c_str_is(arg, b"$") {
            after.push(last);
            resolved.push(Some(last));
        } else if c_str_is(arg, b">") {
            return Err(CmdError::msg(
                "ERR The > ID can be specified only when calling XREADGROUP using the GROUP <group> <consumer> option.",
            ));
        } else {
            after.push(strict_id(arg)?);
            resolved.push(None);
        }
    }
    let count = if serving && r.count == 0 {
        BLOCKED_DEFAULT_COUNT
    } else {
        r.count
    };
    let attempt = |cx: &mut Context<'_>| -> Result<Option<Reply>, CmdError> {
        let db = cx.db();
        let mut served = Vec::new();
        for (i, key) in keys.iter().enumerate() {
            if let Some(entries) = streams::read_after(&db, key, after[i], count, serving)? {
                served.push((Bytes::copy_from_slice(key), entries_reply(entries)));
            }
        }
        Ok((!served.is_empty()).then(|| read_reply(cx.client.resp3, served)))
    };
    let Some(deadline) = r.block else {
        return Ok(attempt(cx)?.unwrap_or(Reply::NilArray));
    };
    // Re-run later with `$` replaced by the ID it stood for now.
    let ids: Vec<String> = resolved
        .iter()
        .flatten()
        .map(|&id| id::format(id))
        .collect();
    let mut next_id = ids.iter();
    let stored_args: Vec<&[u8]> = (0..args.len())
        .map(|i| {
            let is_id = i >= r.streams_at + r.streams;
            match (
                is_id,
                resolved.get(i.wrapping_sub(r.streams_at + r.streams)),
            ) {
                (true, Some(Some(_))) => next_id.next().map_or(args.get(i), |s| s.as_bytes()),
                _ => args.get(i),
            }
        })
        .collect();
    let stored = Stored {
        args: OwnedArgs::from_parts(stored_args),
        serve_all: true,
    };
    cx.block_with(stored, &keys, deadline, Reply::NilArray, attempt)
}

fn xreadgroup(cx: &mut Context<'_>, args: &Args<'_>) -> CmdResult {
    let r = parse_read(args, true)?;
    let Some((group, consumer)) = r.group else {
        return Err(CmdError::msg("ERR Missing GROUP option for XREADGROUP"));
    };
    let keys: Vec<&[u8]> = (0..r.streams).map(|i| args.get(r.streams_at + i)).collect();
    let mut from = Vec::with_capacity(r.streams);
    let mut id_error = None;
    for i in 0..r.streams {
        let arg = args.get(r.streams_at + r.streams + i);
        let parsed = if c_str_is(arg, b"$") {
            Err(CmdError::msg(
                "ERR The $ ID is meaningless in the context of XREADGROUP: you want to read the history of this consumer by specifying a proper ID, or use the > ID to get new messages. The $ ID would just return an empty result set.",
            ))
        } else if c_str_is(arg, b">") {
            Ok(ReadFrom::New)
        } else {
            // The greatest ID is how Redis marks `>`, so it reads as `>` too.
            strict_id(arg).map(|id| match id {
                MAX => ReadFrom::New,
                id => ReadFrom::History(id),
            })
        };
        match parsed {
            Ok(f) => from.push(f),
            Err(e) => {
                id_error = Some((i, e));
                break;
            }
        }
    }
    let nogroup = |i: usize| {
        CmdError::msg(format!(
            "NOGROUP No such key '{}' or consumer group '{}' in XREADGROUP with GROUP option",
            String::from_utf8_lossy(keys[i]),
            String::from_utf8_lossy(group)
        ))
    };
    if let Some((i, e)) = id_error {
        // Redis checks each key and its group before that key's ID.
        return Err(
            match streams::check_group_keys(&cx.db(), &keys[..=i], group) {
                Ok(()) => e,
                Err(StreamError::NoKeyAt(j) | StreamError::NoGroupAt(j)) => nogroup(j),
                Err(e) => e.into(),
            },
        );
    }
    let serving = cx.block == BlockMode::Serve;
    let count = if serving && r.count == 0 {
        BLOCKED_DEFAULT_COUNT
    } else {
        r.count
    };
    let noack = r.noack;
    let attempt = |cx: &mut Context<'_>| -> Result<Option<Reply>, CmdError> {
        let req = GroupRead {
            keys: &keys,
            from: &from,
            group,
            consumer,
            count,
            noack,
        };
        let served = match streams::read_group(&cx.db(), &req) {
            Ok(s) => s,
            Err(
                StreamError::NoKeyAt(_) | StreamError::Type(crate::types::TypeError::WrongType),
            ) if serving => return Err(CmdError::msg("UNBLOCKED the stream key no longer exists")),
            Err(StreamError::NoGroupAt(_)) if serving => {
                return Err(CmdError::msg(
                    "NOGROUP the consumer group this client was blocked on no longer exists",
                ))
            }
            Err(StreamError::NoKeyAt(i) | StreamError::NoGroupAt(i)) => return Err(nogroup(i)),
            Err(e) => return Err(e.into()),
        };
        if served.is_empty() {
            return Ok(None);
        }
        let mut out = Vec::with_capacity(served.len());
        for k in served {
            let key = keys[k.index];
            if k.consumer_created {
                cx.notify(class::STREAM, "xgroup-createconsumer", key);
            }
            let entries = k
                .entries
                .into_iter()
                .map(|(id, fields)| entry_reply(id, fields))
                .collect();
            out.push((Bytes::copy_from_slice(key), Reply::Array(entries)));
        }
        Ok(Some(read_reply(cx.client.resp3, out)))
    };
    let Some(deadline) = r.block else {
        return Ok(attempt(cx)?.unwrap_or(Reply::NilArray));
    };
    let stored = Stored {
        args: args.to_owned_args(),
        serve_all: true,
    };
    cx.block_with(stored, &keys, deadline, Reply::NilArray, attempt)
}

// ---------------------------------------------------------------------------------------------
// XACK, XPENDING, XCLAIM, XAUTOCLAIM
// ---------------------------------------------------------------------------------------------

fn xack(cx: &mut Context<'_>, args: &Args<'_>) -> CmdResult {
    let ids = (3..args.len())
        .map(|i| strict_id(args.get(i)))
        .collect::<Result<Vec<_>, _>>();
    let n = streams::ack(&cx.db(), args.get(1), args.get(2), ids)??;
    Ok(int(n))
}

fn xpending(cx: &mut Context<'_>, args: &Args<'_>) -> CmdResult {
    let (key, group) = (args.get(1), args.get(2));
    let argc = args.len();
    if argc != 3 && !(6..=9).contains(&argc) {
        return Err(CmdError::Syntax);
    }
    let db = cx.db();
    let nogroup = || nogroup_key_or_group(key, group);
    if argc == 3 {
        let s = streams::pending_summary(&db, key, group).map_err(|e| with_nogroup(e, nogroup))?;
        let Some((min, max)) = s.range else {
            return Ok(Reply::Array(vec![
                Reply::Int(0),
                Reply::Nil,
                Reply::Nil,
                Reply::NilArray,
            ]));
        };
        let consumers = s
            .consumers
            .into_iter()
            .map(|(name, n)| {
                Reply::Array(vec![Reply::Bulk(name.into()), Reply::text(n.to_string())])
            })
            .collect();
        return Ok(Reply::Array(vec![
            int(s.count),
            id_reply(min),
            id_reply(max),
            Reply::Array(consumers),
        ]));
    }
    let mut at = 3;
    let mut min_idle = 0;
    if args.is(3, "idle") {
        min_idle = args.i64(4)?;
        if argc < 8 {
            return Err(CmdError::Syntax);
        }
        at = 5;
    }
    let count = args.i64(at + 2)?.max(0) as u64;
    let start = range_start(args.get(at))?;
    let end = range_end(args.get(at + 1))?;
    let consumer = args.opt(at + 3);
    let q = PendingQuery {
        min_idle,
        start,
        end,
        count,
        consumer,
    };
    let items =
        streams::pending_range(&db, key, group, &q).map_err(|e| with_nogroup(e, nogroup))?;
    Ok(Reply::Array(
        items
            .into_iter()
            .map(|p| {
                Reply::Array(vec![
                    id_reply(p.id),
                    Reply::Bulk(p.consumer.into()),
                    Reply::Int(p.idle),
                    int(p.delivery_count),
                ])
            })
            .collect(),
    ))
}

/// XCLAIM's arguments after the consumer, parsed as Redis does: IDs up to the first argument
/// that is not one, then options.
fn parse_claim(args: &Args<'_>) -> Result<ClaimArgs, CmdError> {
    let min_idle = crate::util::num::parse_i64(args.get(4))
        .ok_or_else(|| CmdError::msg("ERR Invalid min-idle-time argument for XCLAIM"))?;
    let mut c = ClaimArgs {
        min_idle: min_idle.max(0),
        ..ClaimArgs::default()
    };
    let mut j = 5;
    while j < args.len() {
        match id::parse(args.get(j), Syntax::STRICT) {
            Some(p) => c.ids.push(p.id),
            None => break,
        }
        j += 1;
    }
    let now = crate::util::time::now_ms() as i64;
    let int_at = |j: usize, what: &str| {
        crate::util::num::parse_i64(args.get(j))
            .ok_or_else(|| CmdError::msg(format!("ERR Invalid {what} option argument for XCLAIM")))
    };
    while j < args.len() {
        let more = j + 1 < args.len();
        if args.is(j, "force") {
            c.force = true;
        } else if args.is(j, "justid") {
            c.justid = true;
        } else if more && args.is(j, "idle") {
            j += 1;
            c.delivery_time = Some(now.saturating_sub(int_at(j, "IDLE")?));
        } else if more && args.is(j, "time") {
            j += 1;
            c.delivery_time = Some(int_at(j, "TIME")?);
        } else if more && args.is(j, "retrycount") {
            j += 1;
            c.retry_count = Some(int_at(j, "RETRYCOUNT")?);
        } else if more && args.is(j, "lastid") {
            j += 1;
            c.last_id = Some(strict_id(args.get(j))?);
        } else {
            return Err(CmdError::msg(format!(
                "ERR Unrecognized XCLAIM option '{}'",
                String::from_utf8_lossy(args.get(j))
            )));
        }
        j += 1;
    }
    Ok(c)
}

fn claimed_reply(items: Vec<(StreamId, Option<Vec<Bytes>>)>) -> Reply {
    Reply::Array(
        items
            .into_iter()
            .map(|(id, fields)| match fields {
                Some(f) => entry_reply(id, Some(f)),
                None => id_reply(id),
            })
            .collect(),
    )
}

fn xclaim(cx: &mut Context<'_>, args: &Args<'_>) -> CmdResult {
    let (key, group, consumer) = (args.get(1), args.get(2), args.get(3));
    let parsed = parse_claim(args);
    let out = streams::claim(&cx.db(), key, group, consumer, parsed)
        .map_err(|e| with_nogroup(e, || nogroup_key_or_group(key, group)))??;
    if out.consumer_created {
        cx.notify(class::STREAM, "xgroup-createconsumer", key);
    }
    Ok(claimed_reply(out.items))
}

fn xautoclaim(cx: &mut Context<'_>, args: &Args<'_>) -> CmdResult {
    let (key, group, consumer) = (args.get(1), args.get(2), args.get(3));
    let min_idle = crate::util::num::parse_i64(args.get(4))
        .ok_or_else(|| CmdError::msg("ERR Invalid min-idle-time argument for XAUTOCLAIM"))?
        .max(0);
    let start = range_start(args.get(5))?;
    let mut count: u64 = 100;
    let mut justid = false;
    let mut j = 6;
    // Redis bounds COUNT so that COUNT * 10 attempts and the reply's IDs cannot overflow.
    let max_count = (i64::MAX / 16) as u64;
    while j < args.len() {
        let more = j + 1 < args.len();
        if more && args.is(j, "count") {
            count = crate::util::num::parse_i64(args.get(j + 1))
                .and_then(|n| u64::try_from(n).ok())
                .filter(|n| (1..=max_count).contains(n))
                .ok_or_else(|| CmdError::msg("ERR COUNT must be > 0"))?;
            j += 1;
        } else if args.is(j, "justid") {
            justid = true;
        } else {
            return Err(CmdError::Syntax);
        }
        j += 1;
    }
    let out = streams::autoclaim(
        &cx.db(),
        key,
        group,
        consumer,
        min_idle,
        start,
        count,
        justid,
    )
    .map_err(|e| with_nogroup(e, || nogroup_key_or_group(key, group)))?;
    if out.consumer_created {
        cx.notify(class::STREAM, "xgroup-createconsumer", key);
    }
    Ok(Reply::Array(vec![
        id_reply(out.next),
        claimed_reply(out.items),
        Reply::Array(out.deleted.into_iter().map(id_reply).collect()),
    ]))
}

// ---------------------------------------------------------------------------------------------
// XGROUP
// ---------------------------------------------------------------------------------------------

fn xgroup(cx: &mut Context<'_>, args: &Args<'_>) -> CmdResult {
    run_sub(cx, args, XGROUP_SUBS)
}

/// ENTRIESREAD's value: a count, or -1 for unknown.
fn entries_read_at(args: &Args<'_>, i: usize) -> Result<i64, CmdError> {
    let n = args.i64(i)?;
    if n < 0 && n != -1 {
        return Err(CmdError::msg(
            "ERR value for ENTRIESREAD must be positive or -1",
        ));
    }
    Ok(n)
}

/// Redis's checks common to the XGROUP subcommands before they dispatch: the key's type, and
/// that it exists (unless MKSTREAM).
fn xgroup_key_check(cx: &mut Context<'_>, key: &[u8], mkstream: bool) -> Result<(), CmdError> {
    let exists = streams::read_exists(&cx.db(), key)?;
    if !exists && !mkstream {
        return Err(StreamError::XGroupNeedsKey.into());
    }
    Ok(())
}

fn xgroup_create(cx: &mut Context<'_>, args: &Args<'_>) -> CmdResult {
    let (key, group) = (args.get(2), args.get(3));
    let mut mkstream = false;
    let mut entries_read = -1;
    let mut i = 5;
    while i < args.len() {
        if args.is(i, "mkstream") {
            mkstream = true;
            i += 1;
        } else if args.is(i, "entriesread") && i + 1 < args.len() {
            entries_read = entries_read_at(args, i + 1)?;
            i += 2;
        } else {
            return Err(sub_syntax(args));
        }
    }
    if args.len() > 8 {
        xgroup_key_check(cx, key, mkstream)?;
        return Err(sub_syntax(args));
    }
    streams::create_group(&cx.db(), key, group, args.get(4), mkstream, entries_read)?;
    cx.notify(class::STREAM, "xgroup-create", key);
    Ok(Reply::Ok)
}

fn xgroup_setid(cx: &mut Context<'_>, args: &Args<'_>) -> CmdResult {
    let (key, group) = (args.get(2), args.get(3));
    let mut entries_read = -1;
    match args.len() {
        7 if args.is(5, "entriesread") => entries_read = entries_read_at(args, 6)?,
        5 => {}
        _ => {
            return Err(sub_syntax(args));
        }
    }
    streams::set_group_id(&cx.db(), key, group, args.get(4), entries_read)
        .map_err(|e| with_nogroup(e, || nogroup_for_key(key, group)))?;
    cx.notify(class::STREAM, "xgroup-setid", key);
    Ok(Reply::Ok)
}

fn xgroup_destroy(cx: &mut Context<'_>, args: &Args<'_>) -> CmdResult {
    let key = args.get(2);
    let destroyed = streams::destroy_group(&cx.db(), key, args.get(3))?;
    if destroyed {
        cx.notify(class::STREAM, "xgroup-destroy", key);
    }
    Ok(Reply::Int(i64::from(destroyed)))
}

fn xgroup_createconsumer(cx: &mut Context<'_>, args: &Args<'_>) -> CmdResult {
    let (key, group) = (args.get(2), args.get(3));
    let created = streams::create_consumer(&cx.db(), key, group, args.get(4))
        .map_err(|e| with_nogroup(e, || nogroup_for_key(key, group)))?;
    if created {
        cx.notify(class::STREAM, "xgroup-createconsumer", key);
    }
    Ok(Reply::Int(i64::from(created)))
}

fn xgroup_delconsumer(cx: &mut Context<'_>, args: &Args<'_>) -> CmdResult {
    let (key, group) = (args.get(2), args.get(3));
    let pending = streams::delete_consumer(&cx.db(), key, group, args.get(4))
        .map_err(|e| with_nogroup(e, || nogroup_for_key(key, group)))?;
    if pending.is_some() {
        cx.notify(class::STREAM, "xgroup-delconsumer", key);
    }
    Ok(int(pending.unwrap_or(0)))
}

fn xgroup_help(_cx: &mut Context<'_>, _args: &Args<'_>) -> CmdResult {
    Ok(help_reply(
        "XGROUP <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
        &[
            "CREATE <key> <groupname> <id|$> [option]",
            "    Create a new consumer group. Options are:",
            "    * MKSTREAM",
            "      Create the empty stream if it does not exist.",
            "    * ENTRIESREAD entries_read",
            "      Set the group's entries_read counter (internal use).",
            "CREATECONSUMER <key> <groupname> <consumer>",
            "    Create a new consumer in the specified group.",
            "DELCONSUMER <key> <groupname> <consumer>",
            "    Remove the specified consumer.",
            "DESTROY <key> <groupname>",
            "    Remove the specified group.",
            "SETID <key> <groupname> <id|$> [ENTRIESREAD entries_read]",
            "    Set the current group ID and entries_read counter.",
        ],
    ))
}

// ---------------------------------------------------------------------------------------------
// XINFO
// ---------------------------------------------------------------------------------------------

fn xinfo(cx: &mut Context<'_>, args: &Args<'_>) -> CmdResult {
    run_sub(cx, args, XINFO_SUBS)
}

fn xinfo_help(_cx: &mut Context<'_>, _args: &Args<'_>) -> CmdResult {
    Ok(help_reply(
        "XINFO <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
        &[
            "CONSUMERS <key> <groupname>",
            "    Show consumers of <groupname>.",
            "GROUPS <key>",
            "    Show the stream consumer groups.",
            "STREAM <key> [FULL [COUNT <count>]",
            "    Show information about the stream.",
        ],
    ))
}

fn text(s: &'static str) -> Reply {
    Reply::text(s)
}

fn opt_int(v: Option<i64>) -> Reply {
    v.map_or(Reply::Nil, Reply::Int)
}

fn xinfo_consumers(cx: &mut Context<'_>, args: &Args<'_>) -> CmdResult {
    let (key, group) = (args.get(2), args.get(3));
    let list = streams::info_consumers(&cx.db(), key, group)
        .map_err(|e| with_nogroup(e, || nogroup_for_key(key, group)))?;
    Ok(Reply::Array(
        list.into_iter()
            .map(|c| {
                Reply::Map(vec![
                    (text("name"), Reply::Bulk(c.name.into())),
                    (text("pending"), int(c.pending)),
                    (text("idle"), Reply::Int(c.idle)),
                ])
            })
            .collect(),
    ))
}

fn group_fields(g: &streams::GroupInfo) -> Vec<(Reply, Reply)> {
    vec![
        (text("name"), Reply::Bulk(g.name.clone().into())),
        (text("consumers"), int(g.consumers)),
        (text("pending"), int(g.pending)),
        (text("last-delivered-id"), id_reply(g.last_id)),
        (text("entries-read"), opt_int(g.entries_read)),
        (text("lag"), opt_int(g.lag)),
    ]
}

fn xinfo_groups(cx: &mut Context<'_>, args: &Args<'_>) -> CmdResult {
    let list = streams::info_groups(&cx.db(), args.get(2))?;
    Ok(Reply::Array(
        list.iter().map(|g| Reply::Map(group_fields(g))).collect(),
    ))
}

/// Redis's rax figures for XINFO STREAM, estimated: Basalt keeps no listpack nodes, so
/// `radix-tree-keys` counts the nodes of 100 entries Redis would have at least, and
/// `radix-tree-nodes` one more.
fn radix_estimate(len: u64) -> (u64, u64) {
    let keys = len.div_ceil(streams::NODE_ENTRIES);
    (keys, keys + 1)
}

fn xinfo_stream(cx: &mut Context<'_>, args: &Args<'_>) -> CmdResult {
    let key = args.get(2);
    let db = cx.db();
    if !streams::read_exists(&db, key)? {
        return Err(crate::types::TypeError::NoSuchKey.into());
    }
    let full = match args.len() {
        3 => None,
        4 if args.is(3, "full") => Some(10),
        6 if args.is(3, "full") && args.is(4, "count") => {
            let n = args.i64(5)?;
            Some(if n < 0 { 10 } else { n as u64 })
        }
        _ => return Err(sub_syntax(args)),
    };
    let info = streams::info_stream(&db, key, full)?;
    let (rax_keys, rax_nodes) = radix_estimate(info.len);
    let mut fields = vec![
        (text("length"), int(info.len)),
        (text("radix-tree-keys"), int(rax_keys)),
        (text("radix-tree-nodes"), int(rax_nodes)),
        (text("last-generated-id"), id_reply(info.h.last_id)),
        (text("max-deleted-entry-id"), id_reply(info.h.max_deleted)),
        (text("entries-added"), int(info.h.entries_added)),
        (text("recorded-first-entry-id"), id_reply(info.h.first_id)),
    ];
    let one = |e: Option<Entry>| e.map_or(Reply::Nil, |e| entry_reply(e.id, Some(e.fields)));
    if full.is_none() {
        fields.push((text("groups"), int(info.h.groups)));
        fields.push((text("first-entry"), one(info.first)));
        fields.push((text("last-entry"), one(info.last)));
        return Ok(Reply::Map(fields));
    }
    fields.push((text("entries"), entries_reply(info.entries)));
    let groups = info
        .groups
        .into_iter()
        .map(|g| {
            let pending = g
                .pending
                .into_iter()
                .map(|p| {
                    Reply::Array(vec![
                        id_reply(p.id),
                        Reply::Bulk(p.consumer.into()),
                        int(p.delivery_time),
                        int(p.delivery_count),
                    ])
                })
                .collect();
            let consumers = g
                .consumers
                .into_iter()
                .map(|c| {
                    let pending = c
                        .pending
                        .into_iter()
                        .map(|p| {
                            Reply::Array(vec![
                                id_reply(p.id),
                                int(p.delivery_time),
                                int(p.delivery_count),
                            ])
                        })
                        .collect();
                    Reply::Map(vec![
                        (text("name"), Reply::Bulk(c.name.into())),
                        (text("seen-time"), int(c.seen_time)),
                        (text("pel-count"), int(c.pel_count)),
                        (text("pending"), Reply::Array(pending)),
                    ])
                })
                .collect();
            let i = &g.info;
            Reply::Map(vec![
                (text("name"), Reply::Bulk(i.name.clone().into())),
                (text("last-delivered-id"), id_reply(i.last_id)),
                (text("entries-read"), opt_int(i.entries_read)),
                (text("lag"), opt_int(i.lag)),
                (text("pel-count"), int(i.pending)),
                (text("pending"), Reply::Array(pending)),
                (text("consumers"), Reply::Array(consumers)),
            ])
        })
        .collect();
    fields.push((text("groups"), Reply::Array(groups)));
    Ok(Reply::Map(fields))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args_of(parts: &[&str]) -> OwnedArgs {
        OwnedArgs::from_parts(parts.iter().map(|p| p.as_bytes()))
    }

    #[test]
    fn add_and_trim_options_parse_in_redis_order() {
        let ok = |parts: &[&str], xadd: bool| {
            let a = args_of(parts);
            let p = parse_add_trim(&a.args(), xadd).map_err(|e| e.to_string());
            p.map(|p| (p.trim, p.nomkstream, p.id, p.id_pos))
        };
        let (trim, nomk, id, pos) =
            ok(&["xadd", "s", "MAXLEN", "~", "10", "*", "f", "v"], true).unwrap();
        assert_eq!(
            trim,
            Some(Trim {
                by: TrimBy::MaxLen(10),
                approx: true,
                limit: 10_000
            })
        );
        assert!(!nomk);
        assert_eq!((id, pos), (IdSpec::Auto, 5));
        let (_, _, id, _) = ok(&["xadd", "s", "NOMKSTREAM", "5-*", "f", "v"], true).unwrap();
        assert_eq!(id, IdSpec::Ms(5));
        for (parts, err) in [
            (
                &["xadd", "s", "MAXLEN", "1", "MINID", "1", "*", "f", "v"][..],
                "ERR syntax error, MAXLEN and MINID options at the same time are not compatible",
            ),
            (
                &["xadd", "s", "MAXLEN", "1", "LIMIT", "10", "*", "f", "v"],
                "ERR syntax error, LIMIT cannot be used without the special ~ option",
            ),
            (
                &["xadd", "s", "LIMIT", "5", "*", "f", "v"],
                "ERR syntax error, LIMIT cannot be used without specifying a trimming strategy",
            ),
            (
                &["xadd", "s", "MAXLEN", "-1", "*", "f", "v"],
                "ERR The MAXLEN argument must be >= 0.",
            ),
            (
                &["xadd", "s", "MINID", "-", "*", "f", "v"],
                "ERR Invalid stream ID specified as stream command argument",
            ),
        ] {
            assert_eq!(ok(parts, true).unwrap_err(), err, "{parts:?}");
        }
        assert_eq!(
            ok(&["xtrim", "s", "MAXLEN", "1", "FOO"], false).unwrap_err(),
            "ERR syntax error"
        );
        assert_eq!(
            ok(&["xtrim", "s", "LIMIT", "1"], false).unwrap_err(),
            "ERR syntax error, LIMIT cannot be used without specifying a trimming strategy"
        );
    }

    #[test]
    fn block_timeouts_are_milliseconds() {
        assert_eq!(block_timeout(b"0").unwrap(), None);
        assert!(block_timeout(b"10").unwrap().is_some());
        assert_eq!(
            block_timeout(b"1.5").unwrap_err().to_string(),
            "ERR timeout is not an integer or out of range"
        );
        assert_eq!(
            block_timeout(b"-1").unwrap_err().to_string(),
            "ERR timeout is negative"
        );
        assert_eq!(
            block_timeout(b"9223372036854775807")
                .unwrap_err()
                .to_string(),
            "ERR timeout is out of range"
        );
    }

    #[test]
    fn ranges_exclude_with_a_parenthesis() {
        assert_eq!(range_start(b"(1-1").unwrap(), StreamId { ms: 1, seq: 2 });
        assert_eq!(
            range_end(b"(1-0").unwrap(),
            StreamId {
                ms: 0,
                seq: u64::MAX
            }
        );
        assert_eq!(
            range_end(b"5").unwrap(),
            StreamId {
                ms: 5,
                seq: u64::MAX
            }
        );
        assert!(range_start(b"(18446744073709551615-18446744073709551615").is_err());
        assert!(range_end(b"(0-0").is_err());
        assert_eq!(range_start(b"-").unwrap(), MIN);
    }
}
