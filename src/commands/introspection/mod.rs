//! Introspection and administration: INFO, CONFIG, COMMAND, CLIENT.
//!
//! Reply shapes and error texts follow Redis 7.0 (`CLIENT SETINFO` and `CLIENT NO-TOUCH` follow 7.2).
//! CONFIG, COMMAND and CLIENT are containers: their subcommands live in small tables here ([`Sub`])
//! that drive dispatch, the per-subcommand arity error (`'config|get'`) and what COMMAND INFO, DOCS
//! and LIST report about them.

mod client;
mod command;

pub(in crate::commands) use client::client_line_of;
pub(crate) use command::{acl_catalog, acl_category_names};
mod config;
mod info;

use super::flags::*;
use super::{Args, CmdError, CmdResult, Context, Handler, Keys, Spec, Table};
use crate::config::{Config, Param};
use crate::protocol::Reply;
use crate::server::{ClientInfo, ReplyMode};
use crate::storage::encoding::{CF_DATA, CF_EXPIRE, CF_META, CF_ZSCORE};
use crate::util::glob::glob_match;
use client::{client, CLIENT_SUBS};
use command::{command, COMMAND_SUBS};
use config::{config, CONFIG_SUBS};
use info::info;
use std::borrow::Cow;
use std::fmt::Write as _;
use std::sync::atomic::Ordering;

const SERVER: &str = "server";
const CONNECTION: &str = "connection";

pub(super) const TABLE: &[Spec] = &[
    Spec::new("config", -2, 0, Keys::NONE, config)
        .group(SERVER)
        .doc("A container for server configuration commands."),
    Spec::new("command", -1, LOADING | STALE, Keys::NONE, command)
        .group(SERVER)
        .doc("Returns detailed information about all commands."),
    Spec::new("client", -2, 0, Keys::NONE, client)
        .group(CONNECTION)
        .doc("A container for client connection commands."),
    Spec::new("info", -1, LOADING | STALE, Keys::NONE, info)
        .group(SERVER)
        .doc("Returns information and statistics about the server."),
];

/// One subcommand of a container command.
pub(in crate::commands) struct Sub {
    /// Full lowercase name, `container|sub`, as Redis reports it.
    name: &'static str,
    /// Redis's convention, counting every argument including the container's name.
    arity: i32,
    flags: u32,
    summary: &'static str,
    handler: Handler,
}

pub(in crate::commands) const fn sub(
    name: &'static str,
    arity: i32,
    flags: u32,
    summary: &'static str,
    handler: Handler,
) -> Sub {
    Sub {
        name,
        arity,
        flags,
        summary,
        handler,
    }
}

impl Sub {
    /// The part after the `|`.
    fn short(&self) -> &'static str {
        self.name.split_once('|').map_or(self.name, |(_, s)| s)
    }
}

const ADMIN_SUB: u32 = ADMIN | NOSCRIPT | LOADING | STALE;
const PLAIN_SUB: u32 = NOSCRIPT | LOADING | STALE;

/// The subcommands of a container defined here; empty for every other command.
fn subcommands_of(name: &str) -> &'static [Sub] {
    match name {
        "config" => CONFIG_SUBS,
        "command" => COMMAND_SUBS,
        "client" => CLIENT_SUBS,
        "pubsub" => super::pubsub::PUBSUB_SUBS,
        "acl" => super::acl::ACL_SUBS,
        "slowlog" => super::ops::SLOWLOG_SUBS,
        "latency" => super::ops::LATENCY_SUBS,
        "memory" => super::ops::MEMORY_SUBS,
        "xgroup" => super::streams::XGROUP_SUBS,
        "xinfo" => super::streams::XINFO_SUBS,
        "script" => super::scripting::SCRIPT_SUBS,
        "function" => super::scripting::FUNCTION_SUBS,
        _ => &[],
    }
}

fn find_sub(subs: &'static [Sub], name: &[u8]) -> Option<&'static Sub> {
    subs.iter()
        .find(|s| s.short().as_bytes().eq_ignore_ascii_case(name))
}

/// Whether a command is a container whose subcommands are listed here (CONFIG, CLIENT, ...).
pub(in crate::commands) fn is_container(spec: &Spec) -> bool {
    !subcommands_of(spec.name).is_empty()
}

/// The full name (`container|sub`) of the subcommand a request runs, if `spec` is a container
/// and argument 1 names one of its subcommands with a valid number of arguments.
pub(in crate::commands) fn subcommand_name(spec: &Spec, args: &Args<'_>) -> Option<&'static str> {
    let sub = find_sub(subcommands_of(spec.name), args.opt(1)?)?;
    super::arity_matches(sub.arity, args.len()).then_some(sub.name)
}

/// The flags of the subcommand a request runs, if `spec` is a container and argument 1 names
/// one of its subcommands (MONITOR judges CONFIG GET by `config|get`'s flags, as Redis does).
pub(in crate::commands) fn subcommand_flags(spec: &Spec, args: &Args<'_>) -> Option<u32> {
    let subs = subcommands_of(spec.name);
    if subs.is_empty() {
        return None;
    }
    find_sub(subs, args.opt(1)?).map(|s| s.flags)
}

/// Runs the subcommand named by argument 1, after Redis's checks: known, then arity.
pub(in crate::commands) fn run_sub(
    cx: &mut Context<'_>,
    args: &Args<'_>,
    subs: &'static [Sub],
) -> CmdResult {
    let Some(sub) = args.opt(1).and_then(|n| find_sub(subs, n)) else {
        return Err(crate::commands::unknown_subcommand(args));
    };
    if !super::arity_matches(sub.arity, args.len()) {
        return Err(CmdError::Arity(sub.name.to_string()));
    }
    // CLIENT LIST shows the full subcommand name, as Redis does.
    *cx.client.info.last_cmd.lock() = sub.name;
    (sub.handler)(cx, args)
}

/// Redis's HELP reply: a title line, then the given lines, then HELP itself; all status replies.
pub(in crate::commands) fn help_reply(title: &'static str, lines: &[&'static str]) -> Reply {
    let mut v = Vec::with_capacity(lines.len() + 3);
    v.push(Reply::status(title));
    v.extend(lines.iter().map(|&l| Reply::status(l)));
    v.push(Reply::status("HELP"));
    v.push(Reply::status("    Prints this help."));
    Reply::Array(v)
}
