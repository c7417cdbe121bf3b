//! CLIENT and its subcommands.

use super::*;
use crate::server::pubsub::Kind;

pub(super) const CLIENT_SUBS: &[Sub] = &[
    sub(
        "client|id",
        2,
        PLAIN_SUB,
        "Returns the unique client ID of the connection.",
        client_id,
    ),
    sub(
        "client|setname",
        3,
        PLAIN_SUB,
        "Sets the connection name.",
        client_setname,
    ),
    sub(
        "client|getname",
        2,
        PLAIN_SUB,
        "Returns the name of the connection.",
        client_getname,
    ),
    sub(
        "client|list",
        -2,
        ADMIN_SUB,
        "Lists open connections.",
        client_list,
    ),
    sub(
        "client|info",
        2,
        PLAIN_SUB,
        "Returns information about the connection.",
        client_info,
    ),
    sub(
        "client|kill",
        -3,
        ADMIN_SUB,
        "Terminates open connections.",
        client_kill,
    ),
    sub(
        "client|setinfo",
        4,
        PLAIN_SUB,
        "Sets information specific to the client or connection.",
        client_setinfo,
    ),
    sub(
        "client|reply",
        3,
        PLAIN_SUB,
        "Instructs the server whether to reply to commands.",
        client_reply,
    ),
    sub(
        "client|no-evict",
        3,
        ADMIN_SUB,
        "Sets the client eviction mode of the connection.",
        client_no_evict,
    ),
    sub(
        "client|no-touch",
        3,
        PLAIN_SUB,
        "Controls whether commands sent by the client affect the LRU/LFU of accessed keys.",
        client_no_touch,
    ),
    sub(
        "client|tracking",
        -3,
        PLAIN_SUB,
        "Controls server-assisted client-side caching for the connection.",
        client_tracking,
    ),
    sub(
        "client|caching",
        3,
        PLAIN_SUB,
        "Instructs the server whether to track the keys in the next request.",
        client_caching,
    ),
    sub(
        "client|getredir",
        2,
        PLAIN_SUB,
        "Returns the client ID to which the connection's tracking notifications are redirected.",
        client_getredir,
    ),
    sub(
        "client|trackinginfo",
        2,
        PLAIN_SUB,
        "Returns information about server-assisted client-side caching for the connection.",
        client_trackinginfo,
    ),
    sub(
        "client|unblock",
        -3,
        ADMIN_SUB,
        "Unblocks a client blocked by a blocking command from a different connection.",
        client_unblock,
    ),
    sub(
        "client|pause",
        -3,
        ADMIN_SUB,
        "Suspends commands processing.",
        client_pause,
    ),
    sub(
        "client|unpause",
        2,
        ADMIN_SUB,
        "Resumes processing commands from paused clients.",
        client_unpause,
    ),
    sub(
        "client|help",
        2,
        LOADING | STALE,
        "Returns helpful text about the different subcommands.",
        client_help,
    ),
];

pub(super) fn client(cx: &mut Context<'_>, args: &Args<'_>) -> CmdResult {
    run_sub(cx, args, CLIENT_SUBS)
}

/// The size of a connection's read buffer (the connection loop reads in chunks of this size).
const READ_BUFFER: usize = 16 * 1024;

/// The fields of one CLIENT LIST line that vary; the rest are constants for Basalt.
struct ClientLine<'a> {
    id: u64,
    addr: &'a str,
    laddr: &'a str,
    name: &'a str,
    age: u64,
    idle: u64,
    flags: &'a str,
    db: usize,
    /// Commands queued by MULTI, -1 outside a transaction.
    multi: i64,
    /// Subscriptions: channels, patterns, shard channels.
    subs: [usize; 3],
    qbuf: usize,
    argv_mem: usize,
    /// Pub/sub messages queued and not yet written, and their bytes.
    oll: usize,
    omem: usize,
    cmd: &'a str,
    user: &'a str,
    resp: u8,
    lib_name: &'a str,
    lib_ver: &'a str,
    fd: i32,
}

/// One CLIENT LIST line (without the trailing newline), Redis 7.0 field order plus 7.2's
/// lib-name and lib-ver.
fn format_client_line(l: &ClientLine<'_>) -> String {
    let rbs = READ_BUFFER.max(l.qbuf);
    let qbuf_free = rbs - l.qbuf;
    // Read buffer plus reply buffer plus the current arguments plus queued messages.
    let tot_mem = 2 * READ_BUFFER + l.argv_mem + l.omem;
    format!(
        "id={} addr={} laddr={} fd={} name={} age={} idle={} flags={} db={} sub={} psub={} ssub={} \
         multi={} qbuf={} qbuf-free={} argv-mem={} multi-mem=0 rbs={} rbp={} obl=0 oll={} omem={} \
         tot-mem={} events=r cmd={} user={} redir=-1 resp={} lib-name={} lib-ver={}",
        l.id,
        l.addr,
        l.laddr,
        l.fd,
        l.name,
        l.age,
        l.idle,
        l.flags,
        l.db,
        l.subs[0],
        l.subs[1],
        l.subs[2],
        l.multi,
        l.qbuf,
        qbuf_free,
        l.argv_mem,
        rbs,
        l.qbuf,
        l.oll,
        l.omem,
        tot_mem,
        l.cmd,
        l.user,
        l.resp,
        l.lib_name,
        l.lib_ver,
    )
}

/// The `flags=` letters Redis would show, from what Basalt tracks.
fn client_flags(info: &ClientInfo) -> String {
    let tracking = info.tracking.load(Ordering::Relaxed);
    // Redis's order (catClientInfoString): a monitor's `O` where a replica's `S` goes.
    let flags = [
        (info.monitor.load(Ordering::Relaxed), 'O'),
        (info.pubsub.is_subscribed(), 'P'),
        (info.multi.load(Ordering::Relaxed) >= 0, 'x'),
        (info.blocked.load(Ordering::Relaxed), 'b'),
        (tracking & 1 != 0, 't'),
        (tracking & 2 != 0, 'B'),
        (info.is_killed(), 'A'),
        (info.no_evict.load(Ordering::Relaxed), 'e'),
        (info.no_touch.load(Ordering::Relaxed), 'T'),
    ];
    let f: String = flags.iter().filter(|(on, _)| *on).map(|(_, c)| c).collect();
    if f.is_empty() {
        "N".into()
    } else {
        f
    }
}

/// The CLIENT LIST line of a client; `argv_mem` is the size of the command it is running.
/// A client's CLIENT LIST line outside of a command on it (ACL LOG's client-info).
pub(in crate::commands) fn client_line_of(info: &ClientInfo) -> String {
    client_line(info, 0)
}

fn client_line(info: &ClientInfo, argv_mem: usize) -> String {
    let name = info.name.lock().clone().unwrap_or_default();
    let lib_name = info.lib_name.lock().clone().unwrap_or_default();
    let lib_ver = info.lib_ver.lock().clone().unwrap_or_default();
    let cmd: &str = *info.last_cmd.lock();
    let user = info.user.lock().clone();
    let flags = client_flags(info);
    let (oll, omem) = info.pubsub.backlog();
    format_client_line(&ClientLine {
        id: info.id,
        addr: &info.addr,
        laddr: &info.laddr,
        name: &name,
        age: info.created.elapsed().as_secs(),
        idle: info.idle_secs(),
        flags: &flags,
        db: info.db.load(Ordering::Relaxed),
        multi: info.multi.load(Ordering::Relaxed),
        subs: [Kind::Channel, Kind::Pattern, Kind::Shard].map(|k| info.pubsub.count(k)),
        qbuf: info.query_buf.load(Ordering::Relaxed),
        argv_mem,
        oll,
        omem,
        cmd,
        user: &user,
        resp: info.resp.load(Ordering::Relaxed),
        lib_name: &lib_name,
        lib_ver: &lib_ver,
        fd: info.fd,
    })
}

fn argv_mem(args: &Args<'_>) -> usize {
    args.iter().map(<[u8]>::len).sum()
}

/// Redis's client types: normal, replica (slave), master, pubsub.
#[derive(Clone, Copy, PartialEq, Eq)]
enum ClientType {
    Normal,
    Replica,
    Master,
    PubSub,
}

fn client_type(name: &[u8]) -> Result<ClientType, CmdError> {
    match name.to_ascii_lowercase().as_slice() {
        b"normal" => Ok(ClientType::Normal),
        b"replica" | b"slave" => Ok(ClientType::Replica),
        b"master" => Ok(ClientType::Master),
        b"pubsub" => Ok(ClientType::PubSub),
        _ => Err(CmdError::msg(format!(
            "ERR Unknown client type '{}'",
            String::from_utf8_lossy(name)
        ))),
    }
}

/// A client with subscriptions is a pub/sub client, as in Redis; every other one is normal
/// (no replication).
fn type_of(info: &ClientInfo) -> ClientType {
    if info.pubsub.is_subscribed() {
        ClientType::PubSub
    } else {
        ClientType::Normal
    }
}

fn client_id(cx: &mut Context<'_>, _args: &Args<'_>) -> CmdResult {
    Ok(Reply::Int(cx.client.id() as i64))
}

fn client_setname(cx: &mut Context<'_>, args: &Args<'_>) -> CmdResult {
    let name = args.get(2);
    if !crate::commands::connection::valid_client_name(name) {
        return Err(CmdError::msg(
            "ERR Client names cannot contain spaces, newlines or special characters.",
        ));
    }
    *cx.client.info.name.lock() =
        (!name.is_empty()).then(|| String::from_utf8_lossy(name).into_owned());
    Ok(Reply::Ok)
}

fn client_getname(cx: &mut Context<'_>, _args: &Args<'_>) -> CmdResult {
    Ok(match cx.client.info.name.lock().as_deref() {
        Some(n) => Reply::text(n),
        None => Reply::Nil,
    })
}

fn client_list(cx: &mut Context<'_>, args: &Args<'_>) -> CmdResult {
    let me = cx.client.id();
    let my_argv = argv_mem(args);
    let line = |info: &ClientInfo| {
        let mem = if info.id == me { my_argv } else { 0 };
        let mut l = client_line(info, mem);
        l.push('\n');
        l
    };
    let mut out = String::new();
    if args.len() == 4 && args.is(2, "type") {
        let wanted = client_type(args.get(3))?;
        for info in cx.shared.clients.all() {
            if type_of(&info) == wanted {
                out.push_str(&line(&info));
            }
        }
    } else if args.len() > 3 && args.is(2, "id") {
        let mut ids = Vec::with_capacity(args.len() - 3);
        for i in 3..args.len() {
            ids.push(
                args.i64(i)
                    .map_err(|_| CmdError::msg("ERR Invalid client ID"))?,
            );
        }
        for id in ids {
            if let Some(info) = u64::try_from(id)
                .ok()
                .and_then(|id| cx.shared.clients.get(id))
            {
                out.push_str(&line(&info));
            }
        }
    } else if args.len() != 2 {
        return Err(CmdError::Syntax);
    } else {
        for info in cx.shared.clients.all() {
            out.push_str(&line(&info));
        }
    }
    Ok(Reply::Verbatim("txt", out))
}

fn client_info(cx: &mut Context<'_>, args: &Args<'_>) -> CmdResult {
    let mut l = client_line(&cx.client.info, argv_mem(args));
    l.push('\n');
    Ok(Reply::Verbatim("txt", l))
}

/// CLIENT KILL's filters.
#[derive(Default)]
struct KillFilter {
    addr: Option<String>,
    laddr: Option<String>,
    id: Option<u64>,
    kind: Option<ClientType>,
    user: Option<String>,
    skipme: bool,
}

/// Parses the new form of CLIENT KILL: option/value pairs from argument 2.
fn parse_kill_filter(cx: &Context<'_>, args: &Args<'_>) -> Result<KillFilter, CmdError> {
    let mut f = KillFilter {
        skipme: true,
        ..KillFilter::default()
    };
    let mut i = 2;
    while i < args.len() {
        if i + 1 >= args.len() {
            return Err(CmdError::Syntax);
        }
        let value = args.get(i + 1);
        if args.is(i, "id") {
            let id = args
                .i64(i + 1)
                .ok()
                .filter(|&n| n >= 1)
                .ok_or_else(|| CmdError::msg("ERR client-id should be greater than 0"))?;
            f.id = Some(id as u64);
        } else if args.is(i, "type") {
            f.kind = Some(client_type(value)?);
        } else if args.is(i, "addr") {
            f.addr = Some(args.text(i + 1));
        } else if args.is(i, "laddr") {
            f.laddr = Some(args.text(i + 1));
        } else if args.is(i, "user") {
            let name = args.text(i + 1);
            if cx.shared.acl.get(&name).is_none() {
                return Err(CmdError::msg(format!("ERR No such user '{name}'")));
            }
            f.user = Some(name);
        } else if args.is(i, "skipme") {
            f.skipme = if value.eq_ignore_ascii_case(b"yes") {
                true
            } else if value.eq_ignore_ascii_case(b"no") {
                false
            } else {
                return Err(CmdError::Syntax);
            };
        } else {
            return Err(CmdError::Syntax);
        }
        i += 2;
    }
    Ok(f)
}

fn client_kill(cx: &mut Context<'_>, args: &Args<'_>) -> CmdResult {
    let old_form = args.len() == 3;
    let filter = if old_form {
        // CLIENT KILL addr:port; this form may kill the caller.
        KillFilter {
            addr: Some(args.text(2)),
            skipme: false,
            ..KillFilter::default()
        }
    } else {
        parse_kill_filter(cx, args)?
    };
    let me = cx.client.id();
    let mut killed = 0i64;
    for info in cx.shared.clients.all() {
        if info.is_killed()
            || filter.addr.as_ref().is_some_and(|a| *a != info.addr)
            || filter.laddr.as_ref().is_some_and(|a| *a != info.laddr)
            || filter.id.is_some_and(|id| id != info.id)
            || filter.kind.is_some_and(|k| k != type_of(&info))
            || filter
                .user
                .as_ref()
                .is_some_and(|u| *u != *info.user.lock())
            || (filter.skipme && info.id == me)
        {
            continue;
        }
        if info.id == me {
            // The reply still goes out; then the connection closes.
            cx.client.close_after_reply = true;
        } else {
            info.kill();
        }
        killed += 1;
    }
    if old_form {
        if killed == 0 {
            return Err(CmdError::msg("ERR No such client"));
        }
        return Ok(Reply::Ok);
    }
    Ok(Reply::Int(killed))
}

fn client_setinfo(cx: &mut Context<'_>, args: &Args<'_>) -> CmdResult {
    let attr = args.text(2);
    let slot = if attr.eq_ignore_ascii_case("lib-name") {
        &cx.client.info.lib_name
    } else if attr.eq_ignore_ascii_case("lib-ver") {
        &cx.client.info.lib_ver
    } else {
        return Err(CmdError::msg(format!("ERR Unrecognized option '{attr}'")));
    };
    let value = args.get(3);
    if !crate::commands::connection::valid_client_name(value) {
        return Err(CmdError::msg(format!(
            "ERR {attr} cannot contain spaces, newlines or special characters."
        )));
    }
    *slot.lock() = (!value.is_empty()).then(|| String::from_utf8_lossy(value).into_owned());
    Ok(Reply::Ok)
}

fn client_reply(cx: &mut Context<'_>, args: &Args<'_>) -> CmdResult {
    if args.is(2, "on") {
        cx.client.reply_mode = ReplyMode::On;
    } else if args.is(2, "off") {
        cx.client.reply_mode = ReplyMode::Off;
    } else if args.is(2, "skip") {
        // SKIP while OFF stays OFF, as in Redis.
        if cx.client.reply_mode != ReplyMode::Off {
            cx.client.reply_mode = ReplyMode::Skip;
        }
    } else {
        return Err(CmdError::Syntax);
    }
    Ok(Reply::Ok)
}

/// Parses an ON/OFF argument, or `ERR syntax error`.
fn on_off(args: &Args<'_>, i: usize) -> Result<bool, CmdError> {
    if args.is(i, "on") {
        Ok(true)
    } else if args.is(i, "off") {
        Ok(false)
    } else {
        Err(CmdError::Syntax)
    }
}

fn client_no_evict(cx: &mut Context<'_>, args: &Args<'_>) -> CmdResult {
    let on = on_off(args, 2)?;
    cx.client.info.no_evict.store(on, Ordering::Relaxed);
    Ok(Reply::Ok)
}

fn client_no_touch(cx: &mut Context<'_>, args: &Args<'_>) -> CmdResult {
    let on = on_off(args, 2)?;
    cx.client.info.no_touch.store(on, Ordering::Relaxed);
    Ok(Reply::Ok)
}

fn client_getredir(cx: &mut Context<'_>, _args: &Args<'_>) -> CmdResult {
    let redirect = match cx.shared.tracking.options(cx.client.info.id) {
        None => -1,
        Some(o) => o.redirect.map_or(0, |id| id as i64),
    };
    Ok(Reply::Int(redirect))
}

fn client_trackinginfo(cx: &mut Context<'_>, _args: &Args<'_>) -> CmdResult {
    let opts = cx.shared.tracking.options(cx.client.info.id);
    let mut flags = Vec::new();
    let (redirect, prefixes) = match &opts {
        None => {
            flags.push(Reply::text("off"));
            (-1, Vec::new())
        }
        Some(o) => {
            flags.push(Reply::text("on"));
            for (set, name) in [(o.bcast, "bcast"), (o.optin, "optin"), (o.optout, "optout")] {
                if set {
                    flags.push(Reply::text(name));
                }
            }
            match cx.client.caching {
                Some(true) => flags.push(Reply::text("caching-yes")),
                Some(false) => flags.push(Reply::text("caching-no")),
                None => {}
            }
            if o.noloop {
                flags.push(Reply::text("noloop"));
            }
            if o.redirect
                .is_some_and(|id| cx.shared.clients.get(id).is_none())
            {
                flags.push(Reply::text("broken_redirect"));
            }
            let prefixes = o.prefixes.iter().map(|p| Reply::bulk(p)).collect();
            (o.redirect.map_or(0, |id| id as i64), prefixes)
        }
    };
    Ok(Reply::Map(vec![
        (Reply::text("flags"), Reply::Set(flags)),
        (Reply::text("redirect"), Reply::Int(redirect)),
        (Reply::text("prefixes"), Reply::Array(prefixes)),
    ]))
}

/// CLIENT TRACKING ON|OFF [REDIRECT id] [PREFIX p ...] [BCAST] [OPTIN] [OPTOUT] [NOLOOP].
fn client_tracking(cx: &mut Context<'_>, args: &Args<'_>) -> CmdResult {
    use crate::server::tracking::Options;
    let on = if args.is(2, "on") {
        true
    } else if args.is(2, "off") {
        false
    } else {
        return Err(CmdError::Syntax);
    };
    let mut o = Options::default();
    let mut i = 3;
    while i < args.len() {
        let more = i + 1 < args.len();
        if args.is(i, "redirect") && more {
            if o.redirect.is_some() {
                return Err(CmdError::msg(
                    "ERR A client can only redirect to a single other client",
                ));
            }
            let id = args.i64(i + 1)?;
            let exists = u64::try_from(id).is_ok_and(|id| cx.shared.clients.get(id).is_some());
            if !exists {
                return Err(CmdError::msg(
                    "ERR The client ID you want redirect to does not exist",
                ));
            }
            o.redirect = Some(id as u64);
            i += 2;
        } else if args.is(i, "prefix") && more {
            o.prefixes.push(args.get(i + 1).to_vec());
            i += 2;
        } else if args.is(i, "bcast") {
            o.bcast = true;
            i += 1;
        } else if args.is(i, "optin") {
            o.optin = true;
            i += 1;
        } else if args.is(i, "optout") {
            o.optout = true;
            i += 1;
        } else if args.is(i, "noloop") {
            o.noloop = true;
            i += 1;
        } else {
            return Err(CmdError::Syntax);
        }
    }
    let id = cx.client.info.id;
    if !on {
        cx.shared.tracking.disable(id);
        cx.client.caching = None;
        return Ok(Reply::Ok);
    }
    if !o.bcast && !o.prefixes.is_empty() {
        return Err(CmdError::msg(
            "ERR PREFIX option requires BCAST mode to be enabled",
        ));
    }
    if let Some(cur) = cx.shared.tracking.options(id) {
        if cur.bcast != o.bcast {
            return Err(CmdError::msg("ERR You can't switch BCAST mode on/off before disabling tracking for this client, and then re-enabling it with a different mode."));
        }
    }
    if o.optin && o.optout {
        return Err(CmdError::msg(
            "ERR You can't specify both OPTIN mode and OPTOUT mode",
        ));
    }
    if (o.optin || o.optout) && o.bcast {
        return Err(CmdError::msg(
            "ERR OPTIN and OPTOUT are not compatible with BCAST",
        ));
    }
    cx.shared.tracking.enable(&cx.client.info, o);
    Ok(Reply::Ok)
}

/// CLIENT CACHING YES|NO: whether the next command's keys are tracked (OPTIN / OPTOUT modes).
fn client_caching(cx: &mut Context<'_>, args: &Args<'_>) -> CmdResult {
    let opts = cx.shared.tracking.options(cx.client.info.id);
    let Some(o) = opts.filter(|o| o.optin || o.optout) else {
        return Err(CmdError::msg("ERR CLIENT CACHING can be called only when the client is in tracking mode with OPTIN or OPTOUT mode enabled"));
    };
    if args.is(2, "yes") {
        if !o.optin {
            return Err(CmdError::msg(
                "ERR CLIENT CACHING YES is only valid when tracking is enabled in OPTIN mode.",
            ));
        }
        cx.client.caching = Some(true);
    } else if args.is(2, "no") {
        if !o.optout {
            return Err(CmdError::msg(
                "ERR CLIENT CACHING NO is only valid when tracking is enabled in OPTOUT mode.",
            ));
        }
        cx.client.caching = Some(false);
    } else {
        return Err(CmdError::Syntax);
    }
    Ok(Reply::Ok)
}

fn client_unblock(cx: &mut Context<'_>, args: &Args<'_>) -> CmdResult {
    let id = args.i64(2)?;
    let error = match args.opt(3) {
        None => false,
        Some(_) if args.len() == 4 && args.is(3, "timeout") => false,
        Some(_) if args.len() == 4 && args.is(3, "error") => true,
        Some(_) => {
            return Err(CmdError::msg(
                "ERR CLIENT UNBLOCK reason should be TIMEOUT or ERROR",
            ))
        }
    };
    let done =
        u64::try_from(id).is_ok_and(|id| cx.shared.blocking.unblock(&cx.shared.store, id, error));
    Ok(Reply::Int(i64::from(done)))
}

/// CLIENT PAUSE timeout [WRITE|ALL]: Redis 7.0 checks the mode before the timeout. Every client
/// is held back, the one that paused included, as in Redis; a paused client's requests wait
/// unread in its connection until the pause ends (see `commands::ops::must_wait_for_pause`).
fn client_pause(cx: &mut Context<'_>, args: &Args<'_>) -> CmdResult {
    use crate::server::ops::PauseMode;
    let mode = match args.opt(3) {
        None => PauseMode::All,
        Some(_) if args.len() > 4 => return Err(CmdError::Syntax),
        Some(_) if args.is(3, "write") => PauseMode::Write,
        Some(_) if args.is(3, "all") => PauseMode::All,
        Some(_) => return Err(CmdError::msg("ERR CLIENT PAUSE mode must be WRITE or ALL")),
    };
    let ms = crate::util::num::parse_i64(args.get(2))
        .ok_or_else(|| CmdError::msg("ERR timeout is not an integer or out of range"))?;
    let ms = u64::try_from(ms).map_err(|_| CmdError::msg("ERR timeout is negative"))?;
    let end = std::time::Instant::now()
        .checked_add(std::time::Duration::from_millis(ms))
        // Beyond what the clock can hold: as good as forever (UNPAUSE still ends it).
        .unwrap_or_else(|| std::time::Instant::now() + std::time::Duration::from_secs(1 << 40));
    cx.shared.ops.pause.pause(end, mode);
    Ok(Reply::Ok)
}

fn client_unpause(cx: &mut Context<'_>, _args: &Args<'_>) -> CmdResult {
    cx.shared.ops.pause.unpause();
    Ok(Reply::Ok)
}

fn client_help(_cx: &mut Context<'_>, _args: &Args<'_>) -> CmdResult {
    Ok(help_reply(
        "CLIENT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
        &[
            "GETNAME",
            "    Return the name of the current connection.",
            "GETREDIR",
            "    Return the client ID tracking notifications go to (always -1: no tracking).",
            "ID",
            "    Return the ID of the current connection.",
            "INFO",
            "    Return information about the current client connection.",
            "PAUSE <timeout> [WRITE|ALL]",
            "    Suspend all, or just write, clients for <timeout> milliseconds.",
            "UNPAUSE",
            "    Stop the current client pause, resuming traffic.",
            "KILL <ip:port>",
            "    Kill the connection made from <ip:port>.",
            "KILL <option> <value> [<option> <value> [...]]",
            "    Kill connections. Options are:",
            "    * ADDR (<ip:port>|<unixsocket>:0)",
            "      Kill connections made from the given address.",
            "    * LADDR (<ip:port>|<unixsocket>:0)",
            "      Kill connections made to the given local address.",
            "    * ID <client-id>",
            "      Kill the connection with the given ID.",
            "    * TYPE (NORMAL|MASTER|REPLICA|PUBSUB)",
            "      Kill connections of the given type.",
            "    * USER <username>",
            "      Kill connections authenticated by <username>.",
            "    * SKIPME (YES|NO)",
            "      Skip the current connection (default: yes).",
            "LIST [options ...]",
            "    Return information about client connections. Options:",
            "    * TYPE (NORMAL|MASTER|REPLICA|PUBSUB)",
            "      Return clients of the given type.",
            "    * ID <client-id> [<client-id> ...]",
            "      Return clients with the given IDs.",
            "NO-EVICT (ON|OFF)",
            "    Protect the current connection from client eviction.",
            "NO-TOUCH (ON|OFF)",
            "    Do not update the access time of keys the current connection reads.",
            "REPLY (ON|OFF|SKIP)",
            "    Control the replies sent to the current connection.",
            "SETINFO <LIB-NAME|LIB-VER> <value>",
            "    Set client library information shown by CLIENT LIST.",
            "SETNAME <name>",
            "    Assign the name <name> to the current connection.",
            "TRACKING (ON|OFF) [REDIRECT <id>] [BCAST] [PREFIX <prefix> [...]]",
            "         [OPTIN] [OPTOUT] [NOLOOP]",
            "    Control server assisted client side caching.",
            "CACHING (YES|NO)",
            "    Enable/disable tracking of the keys for next command in OPTIN/OPTOUT modes.",
            "TRACKINGINFO",
            "    Report tracking status for the current connection.",
            "UNBLOCK <clientid> [TIMEOUT|ERROR]",
            "    Unblock the specified blocked client.",
        ],
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_line_format() {
        let line = format_client_line(&ClientLine {
            id: 3,
            addr: "127.0.0.1:39008",
            laddr: "127.0.0.1:7779",
            name: "",
            age: 5,
            idle: 1,
            flags: "N",
            db: 2,
            multi: -1,
            subs: [1, 2, 3],
            qbuf: 26,
            argv_mem: 10,
            oll: 4,
            omem: 100,
            user: "default",
            cmd: "client|list",
            resp: 3,
            lib_name: "redis-py",
            lib_ver: "5.0",
            fd: 9,
        });
        assert_eq!(
            line,
            "id=3 addr=127.0.0.1:39008 laddr=127.0.0.1:7779 fd=9 name= age=5 idle=1 flags=N db=2 \
             sub=1 psub=2 ssub=3 multi=-1 qbuf=26 qbuf-free=16358 argv-mem=10 multi-mem=0 \
             rbs=16384 rbp=26 obl=0 oll=4 omem=100 tot-mem=32878 events=r cmd=client|list \
             user=default redir=-1 resp=3 lib-name=redis-py lib-ver=5.0"
        );
        let fields: Vec<&str> = line
            .split(' ')
            .map(|kv| kv.split('=').next().unwrap_or(""))
            .collect();
        assert_eq!(
            fields,
            [
                "id",
                "addr",
                "laddr",
                "fd",
                "name",
                "age",
                "idle",
                "flags",
                "db",
                "sub",
                "psub",
                "ssub",
                "multi",
                "qbuf",
                "qbuf-free",
                "argv-mem",
                "multi-mem",
                "rbs",
                "rbp",
                "obl",
                "oll",
                "omem",
                "tot-mem",
                "events",
                "cmd",
                "user",
                "redir",
                "resp",
                "lib-name",
                "lib-ver"
            ]
        );
    }
}
