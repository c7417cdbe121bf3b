//! Connection commands: PING, ECHO, QUIT, SELECT, AUTH, HELLO, RESET.
//!
//! PING and RESET know about pub/sub: PING answers a subscribed RESP2 client with an array, RESET
//! drops every subscription.

use super::flags::*;
use super::{Args, CmdError, CmdResult, Context, Keys, Spec};
use crate::protocol::Reply;
use crate::server::ReplyMode;
use std::sync::atomic::Ordering;

const G: &str = "connection";

/// The Redis version Basalt's command set and replies follow; clients use it to pick features.
pub const REDIS_VERSION: &str = "7.0.15";

pub(super) const TABLE: &[Spec] = &[
    Spec::new("ping", -1, FAST, Keys::NONE, ping)
        .group(G)
        .doc("Returns the server's liveliness response."),
    Spec::new("echo", 2, FAST, Keys::NONE, echo)
        .group(G)
        .doc("Returns the given string."),
    Spec::new("quit", -1, ALLOW_BUSY | NO_AUTH | FAST, Keys::NONE, quit)
        .group(G)
        .doc("Closes the connection."),
    Spec::new("select", 2, LOADING | STALE | FAST, Keys::NONE, select)
        .group(G)
        .doc("Changes the selected database."),
    Spec::new(
        "auth",
        -2,
        NOSCRIPT | LOADING | STALE | FAST | NO_AUTH | ALLOW_BUSY,
        Keys::NONE,
        auth,
    )
    .group(G)
    .doc("Authenticates the connection."),
    Spec::new(
        "hello",
        -1,
        NOSCRIPT | LOADING | STALE | FAST | NO_AUTH | ALLOW_BUSY,
        Keys::NONE,
        hello,
    )
    .group(G)
    .doc("Handshakes with the Redis server."),
    Spec::new(
        "reset",
        1,
        NOSCRIPT | LOADING | STALE | FAST | NO_AUTH | ALLOW_BUSY,
        Keys::NONE,
        reset,
    )
    .group(G)
    .doc("Resets the connection."),
];

fn ping(cx: &mut Context<'_>, args: &Args<'_>) -> CmdResult {
    if args.len() > 2 {
        return Err(CmdError::Arity("ping".into()));
    }
    // A subscribed RESP2 client reads everything as pub/sub arrays, so Redis answers it with one.
    if !cx.client.resp3 && cx.client.pubsub.is_subscribed() {
        let payload = args.opt(1).unwrap_or_default();
        return Ok(Reply::Array(vec![
            Reply::bulk(b"pong"),
            Reply::bulk(payload),
        ]));
    }
    match args.len() {
        1 => Ok(Reply::status("PONG")),
        2 => Ok(Reply::bulk(args.get(1))),
        _ => Err(CmdError::Arity("ping".into())),
    }
}

fn echo(_cx: &mut Context<'_>, args: &Args<'_>) -> CmdResult {
    Ok(Reply::bulk(args.get(1)))
}

fn quit(cx: &mut Context<'_>, _args: &Args<'_>) -> CmdResult {
    cx.client.close_after_reply = true;
    Ok(Reply::Ok)
}

fn select(cx: &mut Context<'_>, args: &Args<'_>) -> CmdResult {
    let index = args.i64(1)?;
    cx.db_at(index)?;
    cx.client.select(index as usize);
    Ok(Reply::Ok)
}

/// Checks a username/password pair against the ACL users; on success the client becomes that
/// user, on failure the attempt goes to the ACL log.
fn check_password(cx: &mut Context<'_>, user: &[u8], pass: &[u8]) -> Result<(), CmdError> {
    match cx.shared.acl.authenticate(user, pass) {
        Some(u) => {
            cx.client.set_user(u);
            cx.client.authenticated = true;
            Ok(())
        }
        None => {
            let line = super::introspection::client_line_of(&cx.client.info);
            cx.shared.acl.log(
                "auth",
                "toplevel",
                "AUTH".into(),
                String::from_utf8_lossy(user).into_owned(),
                line,
            );
            Err(CmdError::msg(
                "WRONGPASS invalid username-password pair or user is disabled.",
            ))
        }
    }
}

fn auth(cx: &mut Context<'_>, args: &Args<'_>) -> CmdResult {
    if args.len() > 3 {
        return Err(CmdError::Syntax);
    }
    if args.len() == 2 && !cx.shared.auth_required() {
        return Err(CmdError::msg(
            "ERR AUTH <password> called without any password configured for the default user. Are you sure your configuration is correct?",
        ));
    }
    let (user, pass) = if args.len() == 3 {
        (args.get(1), args.get(2))
    } else {
        (&b"default"[..], args.get(1))
    };
    check_password(cx, user, pass)?;
    Ok(Reply::Ok)
}

/// Client names may not contain spaces, newlines or non-printable characters.
pub(super) fn valid_client_name(name: &[u8]) -> bool {
    name.iter().all(|&c| (b'!'..=b'~').contains(&c))
}

fn hello(cx: &mut Context<'_>, args: &Args<'_>) -> CmdResult {
    let mut version = if cx.client.resp3 { 3 } else { 2 };
    let mut i = 1;
    if args.len() > 1 {
        let v = args
            .i64(1)
            .map_err(|_| CmdError::msg("ERR Protocol version is not an integer or out of range"))?;
        if !(2..=3).contains(&v) {
            return Err(CmdError::msg("NOPROTO unsupported protocol version"));
        }
        version = v;
        i = 2;
    }
    let mut creds = None;
    let mut name = None;
    while i < args.len() {
        let more = args.len() - i - 1;
        if args.is(i, "auth") && more >= 2 {
            creds = Some((args.get(i + 1), args.get(i + 2)));
            i += 3;
        } else if args.is(i, "setname") && more >= 1 {
            name = Some(args.get(i + 1));
            i += 2;
        } else {
            return Err(CmdError::msg(format!(
                "ERR Syntax error in HELLO option '{}'",
                args.text(i)
            )));
        }
    }
    if let Some((user, pass)) = creds {
        check_password(cx, user, pass)?;
    }
    if !cx.client.authenticated && cx.shared.auth_required() {
        return Err(CmdError::msg(
            "NOAUTH HELLO must be called with the client already authenticated, otherwise the HELLO AUTH <user> <pass> option can be used to authenticate the client and select the RESP protocol version at the same time",
        ));
    }
    if let Some(name) = name {
        if !valid_client_name(name) {
            return Err(CmdError::msg(
                "ERR Client names cannot contain spaces, newlines or special characters.",
            ));
        }
        *cx.client.info.name.lock() =
            (!name.is_empty()).then(|| String::from_utf8_lossy(name).into_owned());
    }
    cx.client.set_resp(version as u8);
    Ok(Reply::Map(vec![
        (Reply::text("server"), Reply::text("redis")),
        (Reply::text("version"), Reply::text(REDIS_VERSION)),
        (Reply::text("proto"), Reply::Int(version)),
        (Reply::text("id"), Reply::Int(cx.client.id() as i64)),
        (Reply::text("mode"), Reply::text("standalone")),
        (Reply::text("role"), Reply::text("master")),
        (Reply::text("modules"), Reply::Array(Vec::new())),
    ]))
}

fn reset(cx: &mut Context<'_>, _args: &Args<'_>) -> CmdResult {
    // Subscriptions end silently: no unsubscribe confirmations, as in Redis.
    cx.shared.pubsub.forget(cx.client);
    // RESET also ends MONITOR mode, as in Redis.
    cx.shared.ops.monitors.remove(cx.client.id());
    let client = &mut *cx.client;
    client.multi = None;
    client
        .info
        .multi
        .store(-1, std::sync::atomic::Ordering::Relaxed);
    client.unwatch(&cx.shared.store);
    cx.shared.tracking.disable(client.info.id);
    client.caching = None;
    client.set_user(std::sync::Arc::clone(&cx.shared.acl.default));
    client.select(0);
    client.set_resp(2);
    client.reply_mode = ReplyMode::On;
    client.authenticated = !cx.shared.auth_required();
    *client.info.name.lock() = None;
    client.info.no_evict.store(false, Ordering::Relaxed);
    client.info.no_touch.store(false, Ordering::Relaxed);
    Ok(Reply::status("RESET"))
}
