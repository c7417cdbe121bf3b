//! Introspection and administration: INFO, CONFIG, COMMAND, CLIENT.
//!
//! Reply shapes and error texts follow Redis 7.0 (`CLIENT SETINFO` and `CLIENT NO-TOUCH` follow 7.2).
//! CONFIG, COMMAND and CLIENT are containers: their subcommands live in small tables here ([`Sub`])
//! that drive dispatch, the per-subcommand arity error (`'config|get'`) and what COMMAND INFO, DOCS
//! and LIST report about them.

use super::flags::*;
use super::{Args, CmdError, CmdResult, Context, Handler, Keys, Spec, Table};
use crate::config::{self, Config, Param};
use crate::protocol::Reply;
use crate::server::{ClientInfo, ReplyMode};
use crate::storage::encoding::{CF_DATA, CF_EXPIRE, CF_META, CF_ZSCORE};
use crate::util::glob::glob_match;
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

// ---------------------------------------------------------------------------------------------
// Subcommands
// ---------------------------------------------------------------------------------------------

/// One subcommand of a container command.
struct Sub {
    /// Full lowercase name, `container|sub`, as Redis reports it.
    name: &'static str,
    /// Redis's convention, counting every argument including the container's name.
    arity: i32,
    flags: u32,
    summary: &'static str,
    handler: Handler,
}

const fn sub(
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

const CONFIG_SUBS: &[Sub] = &[
    sub(
        "config|get",
        -3,
        ADMIN_SUB,
        "Returns the effective values of configuration parameters.",
        config_get,
    ),
    sub(
        "config|set",
        -4,
        ADMIN_SUB,
        "Sets configuration parameters in-flight.",
        config_set,
    ),
    sub(
        "config|resetstat",
        2,
        ADMIN_SUB,
        "Resets the server's statistics.",
        config_resetstat,
    ),
    sub(
        "config|rewrite",
        2,
        ADMIN_SUB,
        "Persists the effective configuration to file.",
        config_rewrite,
    ),
    sub(
        "config|help",
        2,
        LOADING | STALE,
        "Returns helpful text about the different subcommands.",
        config_help,
    ),
];

const COMMAND_SUBS: &[Sub] = &[
    sub(
        "command|count",
        2,
        LOADING | STALE,
        "Returns a count of commands.",
        command_count,
    ),
    sub(
        "command|info",
        -2,
        LOADING | STALE,
        "Returns information about one, multiple or all commands.",
        command_info,
    ),
    sub(
        "command|docs",
        -2,
        LOADING | STALE,
        "Returns documentary information about one, multiple or all commands.",
        command_docs,
    ),
    sub(
        "command|list",
        -2,
        LOADING | STALE,
        "Returns a list of command names.",
        command_list,
    ),
    sub(
        "command|getkeys",
        -4,
        LOADING | STALE,
        "Extracts the key names from an arbitrary command.",
        command_getkeys,
    ),
    sub(
        "command|getkeysandflags",
        -4,
        LOADING | STALE,
        "Extracts the key names and access flags for an arbitrary command.",
        command_getkeysandflags,
    ),
    sub(
        "command|help",
        2,
        LOADING | STALE,
        "Returns helpful text about the different subcommands.",
        command_help,
    ),
];

const CLIENT_SUBS: &[Sub] = &[
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
        "client|help",
        2,
        LOADING | STALE,
        "Returns helpful text about the different subcommands.",
        client_help,
    ),
];

/// The subcommands of a container defined here; empty for every other command.
fn subcommands_of(name: &str) -> &'static [Sub] {
    match name {
        "config" => CONFIG_SUBS,
        "command" => COMMAND_SUBS,
        "client" => CLIENT_SUBS,
        _ => &[],
    }
}

fn find_sub(subs: &'static [Sub], name: &[u8]) -> Option<&'static Sub> {
    subs.iter()
        .find(|s| s.short().as_bytes().eq_ignore_ascii_case(name))
}

fn arity_ok(arity: i32, argc: usize) -> bool {
    let argc = argc as i64;
    let a = arity as i64;
    if a >= 0 {
        argc == a
    } else {
        argc >= -a
    }
}

/// Runs the subcommand named by argument 1, after Redis's checks: known, then arity.
fn run_sub(cx: &mut Context<'_>, args: &Args<'_>, subs: &'static [Sub]) -> CmdResult {
    let Some(sub) = args.opt(1).and_then(|n| find_sub(subs, n)) else {
        return Err(super::unknown_subcommand(args));
    };
    if !arity_ok(sub.arity, args.len()) {
        return Err(CmdError::Arity(sub.name.to_string()));
    }
    // CLIENT LIST shows the full subcommand name, as Redis does.
    *cx.client.info.last_cmd.lock() = sub.name;
    (sub.handler)(cx, args)
}

/// Redis's HELP reply: a title line, then the given lines, then HELP itself; all status replies.
fn help_reply(title: &'static str, lines: &[&'static str]) -> Reply {
    let mut v = Vec::with_capacity(lines.len() + 3);
    v.push(Reply::status(title));
    v.extend(lines.iter().map(|&l| Reply::status(l)));
    v.push(Reply::status("HELP"));
    v.push(Reply::status("    Print this help."));
    Reply::Array(v)
}

// ---------------------------------------------------------------------------------------------
// CONFIG
// ---------------------------------------------------------------------------------------------

fn config(cx: &mut Context<'_>, args: &Args<'_>) -> CmdResult {
    run_sub(cx, args, CONFIG_SUBS)
}

/// The parameters CONFIG GET reports for the given patterns, as (name shown, parameter), in order
/// of first match. A pattern without glob characters is an exact, case-insensitive lookup by name
/// or alias and is shown as given; a glob is matched against every name and alias.
fn config_get_matches(patterns: &[&[u8]]) -> Vec<(String, &'static Param)> {
    let mut out: Vec<(String, &'static Param)> = Vec::new();
    for &pat in patterns {
        if !pat.iter().any(|c| matches!(c, b'[' | b'*' | b'?')) {
            let name = String::from_utf8_lossy(pat).into_owned();
            if out.iter().any(|(n, _)| n.eq_ignore_ascii_case(&name)) {
                continue;
            }
            if let Some(p) = config::find_param(&name) {
                out.push((name, p));
            }
            continue;
        }
        for p in config::PARAMS {
            for n in std::iter::once(p.name).chain(p.alias) {
                if glob_match(pat, n.as_bytes(), true) && !out.iter().any(|(m, _)| m == n) {
                    out.push((n.to_string(), p));
                }
            }
        }
    }
    out
}

fn config_get(cx: &mut Context<'_>, args: &Args<'_>) -> CmdResult {
    let patterns: Vec<&[u8]> = args.iter().skip(2).collect();
    let matches = config_get_matches(&patterns);
    let cfg = cx.shared.config.read();
    let pairs = matches
        .into_iter()
        .map(|(name, p)| {
            let value = cfg.get(p.name).unwrap_or_default();
            (Reply::text(name), Reply::text(value))
        })
        .collect();
    Ok(Reply::Map(pairs))
}

/// Applies CONFIG SET's name/value pairs to a copy of `cfg`, all or nothing, with Redis's checks
/// in Redis's order: every name known, mutable and not repeated, then every value valid. The error
/// is the full Redis error text.
fn plan_config_set(cfg: &Config, pairs: &[(&[u8], &[u8])]) -> Result<Config, String> {
    let mut seen: Vec<&'static str> = Vec::new();
    for &(name, _) in pairs {
        let shown = String::from_utf8_lossy(name);
        let Some(param) = config::find_param(&shown) else {
            return Err(format!(
                "ERR Unknown option or number of arguments for CONFIG SET - '{shown}'"
            ));
        };
        let failed = |why: &str| {
            format!("ERR CONFIG SET failed (possibly related to argument '{shown}') - {why}")
        };
        if !param.mutable {
            return Err(failed("can't set immutable config"));
        }
        if seen.contains(&param.name) {
            return Err(failed("duplicate parameter"));
        }
        seen.push(param.name);
    }
    let mut new = cfg.clone();
    for &(name, value) in pairs {
        let shown = String::from_utf8_lossy(name);
        let value = String::from_utf8_lossy(value);
        new.set(&shown, &value).map_err(|why| {
            format!("ERR CONFIG SET failed (possibly related to argument '{shown}') - {why}")
        })?;
    }
    Ok(new)
}

fn config_set(cx: &mut Context<'_>, args: &Args<'_>) -> CmdResult {
    if !args.len().is_multiple_of(2) {
        return Err(CmdError::Syntax);
    }
    let all: Vec<&[u8]> = args.iter().skip(2).collect();
    let pairs: Vec<(&[u8], &[u8])> = all.chunks_exact(2).map(|p| (p[0], p[1])).collect();
    {
        let mut cfg = cx.shared.config.write();
        let new = plan_config_set(&cfg, &pairs).map_err(CmdError::msg)?;
        *cfg = new;
    }
    cx.shared.config_changed();
    Ok(Reply::Ok)
}

fn config_resetstat(cx: &mut Context<'_>, _args: &Args<'_>) -> CmdResult {
    cx.shared.stats.reset();
    cx.shared.store.expired_keys.store(0, Ordering::Relaxed);
    Ok(Reply::Ok)
}

fn config_rewrite(cx: &mut Context<'_>, _args: &Args<'_>) -> CmdResult {
    let cfg = cx.shared.config.read();
    if cfg.config_file.is_none() {
        return Err(CmdError::msg(
            "ERR The server is running without a config file",
        ));
    }
    cfg.rewrite().map_err(|why| {
        tracing::warn!(error = %why, "CONFIG REWRITE failed");
        CmdError::msg(format!("ERR Rewriting config file: {why}"))
    })?;
    Ok(Reply::Ok)
}

fn config_help(_cx: &mut Context<'_>, _args: &Args<'_>) -> CmdResult {
    Ok(help_reply(
        "CONFIG <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
        &[
            "GET <pattern> [<pattern> ...]",
            "    Return parameters matching the glob-like <pattern>s and their values.",
            "SET <directive> <value> [<directive> <value> ...]",
            "    Set the configuration <directive>s to <value>s, all or none.",
            "RESETSTAT",
            "    Reset statistics reported by the INFO command.",
            "REWRITE",
            "    Rewrite the configuration file with the current values.",
        ],
    ))
}

// ---------------------------------------------------------------------------------------------
// COMMAND
// ---------------------------------------------------------------------------------------------

/// What COMMAND INFO/DOCS/LIST report about a command or a subcommand.
#[derive(Clone, Copy)]
struct Desc {
    name: &'static str,
    arity: i32,
    flags: u32,
    keys: Keys,
    group: &'static str,
    summary: &'static str,
    subs: &'static [Sub],
}

impl Desc {
    fn of(spec: &'static Spec) -> Desc {
        Desc {
            name: spec.name,
            arity: spec.arity,
            flags: spec.flags,
            keys: spec.keys,
            group: spec.group,
            summary: spec.summary,
            subs: subcommands_of(spec.name),
        }
    }

    fn of_sub(parent: &'static Spec, sub: &'static Sub) -> Desc {
        Desc {
            name: sub.name,
            arity: sub.arity,
            flags: sub.flags,
            keys: Keys::NONE,
            group: parent.group,
            summary: sub.summary,
            subs: &[],
        }
    }

    fn children(&self, parent: &'static Spec) -> impl Iterator<Item = Desc> + '_ {
        self.subs.iter().map(move |s| Desc::of_sub(parent, s))
    }
}

/// Every command, sorted by name.
fn sorted_specs() -> Vec<&'static Spec> {
    let mut v: Vec<_> = Table::get().iter().collect();
    v.sort_by_key(|s| s.name);
    v
}

/// Looks a command up by name, or a subcommand of ours by its full `container|sub` name.
fn lookup_desc(name: &[u8]) -> Option<Desc> {
    let table = Table::get();
    match name.iter().position(|&c| c == b'|') {
        None => table.lookup(name).map(Desc::of),
        Some(i) => {
            let parent = table.lookup(&name[..i])?;
            let sub = find_sub(subcommands_of(parent.name), &name[i + 1..])?;
            Some(Desc::of_sub(parent, sub))
        }
    }
}

/// ACL categories, in the order Redis lists them.
const CATEGORIES: &[&str] = &[
    "@keyspace",
    "@read",
    "@write",
    "@set",
    "@sortedset",
    "@list",
    "@hash",
    "@string",
    "@bitmap",
    "@hyperloglog",
    "@geo",
    "@stream",
    "@pubsub",
    "@admin",
    "@fast",
    "@slow",
    "@blocking",
    "@dangerous",
    "@connection",
    "@transaction",
    "@scripting",
];

fn cat(name: &str) -> u32 {
    CATEGORIES
        .iter()
        .position(|c| &c[1..] == name)
        .map_or(0, |i| 1 << i)
}

/// The category a command group implies.
fn group_category(group: &str) -> u32 {
    match group {
        "generic" | "keyspace" => cat("keyspace"),
        "string" => cat("string"),
        "list" => cat("list"),
        "set" => cat("set"),
        "sorted-set" | "sorted_set" | "sortedset" | "zset" => cat("sortedset"),
        "hash" => cat("hash"),
        "bitmap" => cat("bitmap"),
        "hyperloglog" => cat("hyperloglog"),
        "geo" => cat("geo"),
        "stream" => cat("stream"),
        "pubsub" => cat("pubsub"),
        "connection" => cat("connection"),
        "transactions" | "transaction" => cat("transaction"),
        "scripting" => cat("scripting"),
        _ => 0,
    }
}

/// Categories Redis assigns explicitly beyond what flags and group imply: (added, removed).
fn category_overrides(name: &str) -> (u32, u32) {
    let base = name.split('|').next().unwrap_or(name);
    match base {
        "sort" | "sort_ro" => (
            cat("dangerous") | cat("list") | cat("set") | cat("sortedset"),
            cat("keyspace"),
        ),
        "dbsize" => (cat("keyspace"), 0),
        "role" | "lastsave" => (cat("admin") | cat("dangerous"), 0),
        "keys" | "migrate" | "restore" | "info" => (cat("dangerous"), 0),
        "swapdb" | "flushall" | "flushdb" | "restore-asking" => {
            (cat("dangerous") | cat("keyspace"), 0)
        }
        "readwrite" | "readonly" | "asking" | "command" => (cat("connection"), 0),
        "wait" => (cat("connection"), cat("keyspace")),
        _ => (0, 0),
    }
}

/// The ACL categories of a command, derived as Redis does from its flags, plus its group's
/// category and Redis's explicit extras. A command without flags is a container (CONFIG, OBJECT,
/// XINFO...: in Redis exactly those have none), which is only @slow.
fn categories(d: &Desc) -> Vec<&'static str> {
    let mut bits = 0u32;
    if d.flags != 0 {
        if d.flags & WRITE != 0 {
            bits |= cat("write");
        }
        if d.flags & READONLY != 0 && d.group != "scripting" {
            bits |= cat("read");
        }
        if d.flags & ADMIN != 0 {
            bits |= cat("admin") | cat("dangerous");
        }
        if d.flags & PUBSUB != 0 {
            bits |= cat("pubsub");
        }
        if d.flags & FAST != 0 {
            bits |= cat("fast");
        }
        if d.flags & BLOCKING != 0 {
            bits |= cat("blocking");
        }
        bits |= group_category(d.group);
        let (add, remove) = category_overrides(d.name);
        bits = (bits | add) & !remove;
    }
    if bits & cat("fast") == 0 {
        bits |= cat("slow");
    }
    CATEGORIES
        .iter()
        .enumerate()
        .filter(|(i, _)| bits & (1 << i) != 0)
        .map(|(_, c)| *c)
        .collect()
}

/// Key access flags for key specs and GETKEYSANDFLAGS (an approximation from the command flags).
fn key_flags(flags: u32) -> &'static [&'static str] {
    if flags & WRITE != 0 {
        &["RW", "access", "update"]
    } else {
        &["RO", "access"]
    }
}

/// `lastkey` of a range key spec: relative to the first key, or negative from the end.
fn spec_lastkey(keys: Keys) -> i64 {
    if keys.last < 0 {
        keys.last as i64
    } else {
        keys.last as i64 - keys.first as i64
    }
}

fn status_set(items: &[&'static str]) -> Reply {
    Reply::Set(items.iter().map(|&s| Reply::status(s)).collect())
}

fn key_specs(d: &Desc) -> Reply {
    if d.keys.first <= 0 {
        return Reply::Set(Vec::new());
    }
    let spec = Reply::Map(vec![
        (Reply::text("flags"), status_set(key_flags(d.flags))),
        (
            Reply::text("begin_search"),
            Reply::Map(vec![
                (Reply::text("type"), Reply::text("index")),
                (
                    Reply::text("spec"),
                    Reply::Map(vec![(
                        Reply::text("index"),
                        Reply::Int(d.keys.first as i64),
                    )]),
                ),
            ]),
        ),
        (
            Reply::text("find_keys"),
            Reply::Map(vec![
                (Reply::text("type"), Reply::text("range")),
                (
                    Reply::text("spec"),
                    Reply::Map(vec![
                        (Reply::text("lastkey"), Reply::Int(spec_lastkey(d.keys))),
                        (Reply::text("keystep"), Reply::Int(d.keys.step as i64)),
                        (Reply::text("limit"), Reply::Int(0)),
                    ]),
                ),
            ]),
        ),
    ]);
    Reply::Set(vec![spec])
}

fn flag_names(flags: u32) -> Vec<&'static str> {
    super::flags::NAMES
        .iter()
        .filter(|(bit, _)| flags & bit != 0)
        .map(|(_, n)| *n)
        .collect()
}

/// One COMMAND INFO entry, Redis 7 shape.
fn info_entry(d: &Desc, parent: Option<&'static Spec>) -> Reply {
    let subs = match parent {
        Some(p) if !d.subs.is_empty() => {
            Reply::Array(d.children(p).map(|c| info_entry(&c, None)).collect())
        }
        _ => Reply::Set(Vec::new()),
    };
    Reply::Array(vec![
        Reply::text(d.name),
        Reply::Int(d.arity as i64),
        status_set(&flag_names(d.flags)),
        Reply::Int(d.keys.first as i64),
        Reply::Int(d.keys.last as i64),
        Reply::Int(d.keys.step as i64),
        status_set(&categories(d)),
        Reply::Set(Vec::new()),
        key_specs(d),
        subs,
    ])
}

/// One COMMAND DOCS entry: a map of summary, since, group and, for containers, subcommands.
fn docs_entry(d: &Desc, parent: Option<&'static Spec>) -> Reply {
    let mut fields = vec![
        (Reply::text("summary"), Reply::text(d.summary)),
        (Reply::text("since"), Reply::text("1.0.0")),
        (Reply::text("group"), Reply::text(d.group)),
    ];
    if let Some(p) = parent.filter(|_| !d.subs.is_empty()) {
        let subs = d
            .children(p)
            .map(|c| (Reply::text(c.name), docs_entry(&c, None)))
            .collect();
        fields.push((Reply::text("subcommands"), Reply::Map(subs)));
    }
    Reply::Map(fields)
}

fn command(cx: &mut Context<'_>, args: &Args<'_>) -> CmdResult {
    if args.len() == 1 {
        return Ok(all_command_info());
    }
    run_sub(cx, args, COMMAND_SUBS)
}

fn all_command_info() -> Reply {
    Reply::Array(
        sorted_specs()
            .into_iter()
            .map(|s| info_entry(&Desc::of(s), Some(s)))
            .collect(),
    )
}

fn command_count(_cx: &mut Context<'_>, _args: &Args<'_>) -> CmdResult {
    Ok(Reply::Int(Table::get().len() as i64))
}

/// The top-level spec a description belongs to (for nesting subcommands).
fn parent_spec(d: &Desc) -> Option<&'static Spec> {
    Table::get().lookup(d.name.as_bytes())
}

fn command_info(_cx: &mut Context<'_>, args: &Args<'_>) -> CmdResult {
    if args.len() == 2 {
        return Ok(all_command_info());
    }
    Ok(Reply::Array(
        args.iter()
            .skip(2)
            .map(|name| match lookup_desc(name) {
                Some(d) => info_entry(&d, parent_spec(&d)),
                None => Reply::Nil,
            })
            .collect(),
    ))
}

fn command_docs(_cx: &mut Context<'_>, args: &Args<'_>) -> CmdResult {
    let descs: Vec<Desc> = if args.len() == 2 {
        sorted_specs().into_iter().map(Desc::of).collect()
    } else {
        args.iter().skip(2).filter_map(lookup_desc).collect()
    };
    Ok(Reply::Map(
        descs
            .iter()
            .map(|d| (Reply::text(d.name), docs_entry(d, parent_spec(d))))
            .collect(),
    ))
}

/// COMMAND LIST's FILTERBY.
enum ListFilter<'a> {
    None,
    Module,
    /// A category bit; 0 (unknown category) matches nothing.
    AclCat(u32),
    Pattern(&'a [u8]),
}

impl ListFilter<'_> {
    fn matches(&self, d: &Desc) -> bool {
        match self {
            ListFilter::None => true,
            ListFilter::Module => false,
            ListFilter::AclCat(bit) => {
                *bit != 0 && categories(d).iter().any(|c| cat(&c[1..]) == *bit)
            }
            ListFilter::Pattern(p) => glob_match(p, d.name.as_bytes(), true),
        }
    }
}

fn command_list(_cx: &mut Context<'_>, args: &Args<'_>) -> CmdResult {
    let filter = match args.len() {
        2 => ListFilter::None,
        5 if args.is(2, "filterby") => {
            let arg = args.get(4);
            if args.is(3, "module") {
                ListFilter::Module
            } else if args.is(3, "aclcat") {
                let name = String::from_utf8_lossy(arg).to_ascii_lowercase();
                ListFilter::AclCat(cat(&name))
            } else if args.is(3, "pattern") {
                ListFilter::Pattern(arg)
            } else {
                return Err(CmdError::Syntax);
            }
        }
        _ => return Err(CmdError::Syntax),
    };
    let mut names = Vec::new();
    for spec in sorted_specs() {
        let d = Desc::of(spec);
        if filter.matches(&d) {
            names.push(Reply::text(d.name));
        }
        for c in d.children(spec) {
            if filter.matches(&c) {
                names.push(Reply::text(c.name));
            }
        }
    }
    Ok(Reply::Array(names))
}

/// The key positions of the command in `args[2..]`, with Redis's COMMAND GETKEYS errors.
fn getkeys_positions(args: &Args<'_>) -> Result<(Desc, Vec<usize>), CmdError> {
    let argv: Vec<&[u8]> = args.iter().skip(2).collect();
    let invalid = || CmdError::msg("ERR Invalid command specified");
    let spec = argv
        .first()
        .and_then(|n| Table::get().lookup(n))
        .ok_or_else(invalid)?;
    let mut d = Desc::of(spec);
    let subs = subcommands_of(spec.name);
    if !subs.is_empty() && argv.len() >= 2 {
        let sub = find_sub(subs, argv[1]).ok_or_else(invalid)?;
        d = Desc::of_sub(spec, sub);
    }
    if d.keys.first <= 0 {
        return Err(CmdError::msg("ERR The command has no key arguments"));
    }
    if !arity_ok(d.arity, argv.len()) {
        return Err(CmdError::msg(
            "ERR Invalid number of arguments specified for command",
        ));
    }
    let positions: Vec<usize> = d.keys.positions(argv.len()).collect();
    if positions.is_empty() {
        return Err(CmdError::msg("ERR Invalid arguments specified for command"));
    }
    Ok((d, positions.into_iter().map(|p| p + 2).collect()))
}

fn command_getkeys(_cx: &mut Context<'_>, args: &Args<'_>) -> CmdResult {
    let (_, positions) = getkeys_positions(args)?;
    Ok(Reply::Array(
        positions
            .into_iter()
            .map(|i| Reply::bulk(args.get(i)))
            .collect(),
    ))
}

fn command_getkeysandflags(_cx: &mut Context<'_>, args: &Args<'_>) -> CmdResult {
    let (d, positions) = getkeys_positions(args)?;
    let flags = key_flags(d.flags);
    Ok(Reply::Array(
        positions
            .into_iter()
            .map(|i| Reply::Array(vec![Reply::bulk(args.get(i)), status_set(flags)]))
            .collect(),
    ))
}

fn command_help(_cx: &mut Context<'_>, _args: &Args<'_>) -> CmdResult {
    Ok(help_reply(
        "COMMAND <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
        &[
            "(no subcommand)",
            "    Return details about all commands.",
            "COUNT",
            "    Return the total number of commands in this server.",
            "LIST [FILTERBY (MODULE <module-name>|ACLCAT <category>|PATTERN <pattern>)]",
            "    Return a list of all commands in this server, optionally filtered.",
            "INFO [<command-name> ...]",
            "    Return details about the given commands, or about all commands.",
            "DOCS [<command-name> ...]",
            "    Return documentation details about the given commands, or about all commands.",
            "GETKEYS <full-command>",
            "    Return the keys from a full command.",
            "GETKEYSANDFLAGS <full-command>",
            "    Return the keys and the access flags from a full command.",
        ],
    ))
}

// ---------------------------------------------------------------------------------------------
// CLIENT
// ---------------------------------------------------------------------------------------------

fn client(cx: &mut Context<'_>, args: &Args<'_>) -> CmdResult {
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
    qbuf: usize,
    argv_mem: usize,
    cmd: &'a str,
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
    // Read buffer plus reply buffer plus the current arguments.
    let tot_mem = 2 * READ_BUFFER + l.argv_mem;
    format!(
        "id={} addr={} laddr={} fd={} name={} age={} idle={} flags={} db={} sub=0 psub=0 ssub=0 \
         multi=-1 qbuf={} qbuf-free={} argv-mem={} multi-mem=0 rbs={} rbp={} obl=0 oll=0 omem=0 \
         tot-mem={} events=r cmd={} user=default redir=-1 resp={} lib-name={} lib-ver={}",
        l.id,
        l.addr,
        l.laddr,
        l.fd,
        l.name,
        l.age,
        l.idle,
        l.flags,
        l.db,
        l.qbuf,
        qbuf_free,
        l.argv_mem,
        rbs,
        l.qbuf,
        tot_mem,
        l.cmd,
        l.resp,
        l.lib_name,
        l.lib_ver,
    )
}

/// The `flags=` letters Redis would show, from what Basalt tracks.
fn client_flags(info: &ClientInfo) -> String {
    let mut f = String::new();
    if info.is_killed() {
        f.push('A');
    }
    if info.no_evict.load(Ordering::Relaxed) {
        f.push('e');
    }
    if info.no_touch.load(Ordering::Relaxed) {
        f.push('T');
    }
    if f.is_empty() {
        f.push('N');
    }
    f
}

/// The CLIENT LIST line of a client; `argv_mem` is the size of the command it is running.
fn client_line(info: &ClientInfo, argv_mem: usize) -> String {
    let name = info.name.lock().clone().unwrap_or_default();
    let lib_name = info.lib_name.lock().clone().unwrap_or_default();
    let lib_ver = info.lib_ver.lock().clone().unwrap_or_default();
    let cmd: &str = *info.last_cmd.lock();
    let flags = client_flags(info);
    format_client_line(&ClientLine {
        id: info.id,
        addr: &info.addr,
        laddr: &info.laddr,
        name: &name,
        age: info.created.elapsed().as_secs(),
        idle: info.idle_secs(),
        flags: &flags,
        db: info.db.load(Ordering::Relaxed),
        qbuf: info.query_buf.load(Ordering::Relaxed),
        argv_mem,
        cmd,
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

/// Every connection is a normal client as far as this registry knows (no replication; pub/sub
/// state is not published in [`ClientInfo`]).
fn type_of(_info: &ClientInfo) -> ClientType {
    ClientType::Normal
}

fn client_id(cx: &mut Context<'_>, _args: &Args<'_>) -> CmdResult {
    Ok(Reply::Int(cx.client.id() as i64))
}

fn client_setname(cx: &mut Context<'_>, args: &Args<'_>) -> CmdResult {
    let name = args.get(2);
    if !super::connection::valid_client_name(name) {
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
    skipme: bool,
}

/// Parses the new form of CLIENT KILL: option/value pairs from argument 2.
fn parse_kill_filter(args: &Args<'_>) -> Result<KillFilter, CmdError> {
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
            if value != b"default" {
                return Err(CmdError::msg(format!(
                    "ERR No such user '{}'",
                    args.text(i + 1)
                )));
            }
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
        parse_kill_filter(args)?
    };
    let me = cx.client.id();
    let mut killed = 0i64;
    for info in cx.shared.clients.all() {
        if info.is_killed()
            || filter.addr.as_ref().is_some_and(|a| *a != info.addr)
            || filter.laddr.as_ref().is_some_and(|a| *a != info.laddr)
            || filter.id.is_some_and(|id| id != info.id)
            || filter.kind.is_some_and(|k| k != type_of(&info))
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
    if !super::connection::valid_client_name(value) {
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

fn client_getredir(_cx: &mut Context<'_>, _args: &Args<'_>) -> CmdResult {
    // Client-side caching is not supported, so tracking is always off.
    Ok(Reply::Int(-1))
}

fn client_trackinginfo(_cx: &mut Context<'_>, _args: &Args<'_>) -> CmdResult {
    Ok(Reply::Map(vec![
        (Reply::text("flags"), Reply::Set(vec![Reply::text("off")])),
        (Reply::text("redirect"), Reply::Int(-1)),
        (Reply::text("prefixes"), Reply::Array(Vec::new())),
    ]))
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
            "TRACKINGINFO",
            "    Report tracking status for the current connection.",
        ],
    ))
}

// ---------------------------------------------------------------------------------------------
// INFO
// ---------------------------------------------------------------------------------------------

/// INFO sections in output order: (name, title, in the default set).
const SECTIONS: &[(&str, &str, bool)] = &[
    ("server", "Server", true),
    ("clients", "Clients", true),
    ("memory", "Memory", true),
    ("persistence", "Persistence", true),
    ("stats", "Stats", true),
    ("replication", "Replication", true),
    ("cpu", "CPU", true),
    ("modules", "Modules", true),
    ("commandstats", "Commandstats", false),
    ("errorstats", "Errorstats", true),
    ("latencystats", "Latencystats", false),
    ("cluster", "Cluster", true),
    ("keyspace", "Keyspace", true),
    ("rocksdb", "RocksDB", true),
];

/// The sections INFO's arguments select, in output order. No argument means `default`; `all` and
/// `everything` select every section; names are case-insensitive and unknown ones are ignored.
fn select_sections<'a>(args: impl IntoIterator<Item = &'a [u8]>) -> Vec<&'static str> {
    let mut wanted = vec![false; SECTIONS.len()];
    let mut any = false;
    for a in args {
        any = true;
        let a = a.to_ascii_lowercase();
        match a.as_slice() {
            b"all" | b"everything" => wanted.iter_mut().for_each(|w| *w = true),
            b"default" => {
                for (w, s) in wanted.iter_mut().zip(SECTIONS) {
                    *w |= s.2;
                }
            }
            name => {
                if let Some(i) = SECTIONS.iter().position(|s| s.0.as_bytes() == name) {
                    wanted[i] = true;
                }
            }
        }
    }
    if !any {
        for (w, s) in wanted.iter_mut().zip(SECTIONS) {
            *w = s.2;
        }
    }
    SECTIONS
        .iter()
        .zip(wanted)
        .filter(|(_, w)| *w)
        .map(|(s, _)| s.0)
        .collect()
}

/// Lines of one section: (field, value).
type Fields = Vec<(Cow<'static, str>, String)>;

/// Renders sections as Redis does: `# Title`, `field:value` lines, a blank line between
/// sections, CRLF line ends.
fn render_info(sections: &[(&str, Fields)]) -> String {
    let mut out = String::new();
    for (i, (title, fields)) in sections.iter().enumerate() {
        if i > 0 {
            out.push_str("\r\n");
        }
        let _ = write!(out, "# {title}\r\n");
        for (k, v) in fields {
            let _ = write!(out, "{k}:{v}\r\n");
        }
    }
    out
}

/// Redis's `bytesToHuman`.
fn bytes_to_human(n: u64) -> String {
    const UNITS: &[(u64, &str)] = &[
        (1 << 10, "K"),
        (1 << 20, "M"),
        (1 << 30, "G"),
        (1 << 40, "T"),
        (1 << 50, "P"),
    ];
    if n < 1024 {
        return format!("{n}B");
    }
    for (i, &(unit, suffix)) in UNITS.iter().enumerate() {
        let next = UNITS.get(i + 1).map_or(u64::MAX, |u| u.0);
        if n < next {
            return format!("{:.2}{suffix}", n as f64 / unit as f64);
        }
    }
    format!("{n}B")
}

/// A `Key:   123 kB` field of /proc/self/status or /proc/meminfo, in bytes.
fn parse_kb_field(text: &str, key: &str) -> Option<u64> {
    text.lines().find_map(|l| {
        let rest = l.strip_prefix(key)?.strip_prefix(':')?;
        let kb: u64 = rest.split_whitespace().next()?.parse().ok()?;
        Some(kb * 1024)
    })
}

/// (utime, stime, cutime, cstime) in clock ticks from a /proc/<pid>/stat line.
fn parse_proc_stat(text: &str) -> Option<(u64, u64, u64, u64)> {
    // The command name (field 2) is parenthesised and may contain spaces; fields after it
    // start at field 3 (state).
    let rest = &text[text.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let n = |field: usize| fields.get(field - 3)?.parse::<u64>().ok();
    Some((n(14)?, n(15)?, n(16)?, n(17)?))
}

/// Clock ticks per second of /proc times (USER_HZ, 100 on every Linux architecture Basalt targets).
const CLK_TCK: u64 = 100;

/// Seconds from clock ticks as Redis prints CPU time: `%ld.%06ld`.
fn cpu_secs(ticks: u64) -> String {
    let us = ticks * (1_000_000 / CLK_TCK);
    format!("{}.{:06}", us / 1_000_000, us % 1_000_000)
}

fn read_proc(path: &str) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}

fn f(k: &'static str, v: impl ToString) -> (Cow<'static, str>, String) {
    (Cow::Borrowed(k), v.to_string())
}

fn info_server(cx: &Context<'_>) -> Fields {
    let (port, config_file) = {
        let cfg = cx.shared.config.read();
        (
            cfg.port,
            cfg.config_file
                .as_ref()
                .map(|p| p.display().to_string())
                .unwrap_or_default(),
        )
    };
    let port = cx
        .shared
        .listen_addrs
        .read()
        .first()
        .map_or(port, |a| a.port());
    let os_name = match std::env::consts::OS {
        "linux" => "Linux".to_string(),
        other => other.to_string(),
    };
    let release = read_proc("/proc/sys/kernel/osrelease");
    let os = [os_name.as_str(), release.trim(), std::env::consts::ARCH]
        .iter()
        .filter(|s| !s.is_empty())
        .copied()
        .collect::<Vec<_>>()
        .join(" ");
    let uptime = cx.shared.started.elapsed().as_secs();
    // Linux marks a binary replaced on disk since start with " (deleted)".
    let executable = std::env::current_exe()
        .map(|p| p.display().to_string())
        .unwrap_or_default();
    let executable = executable
        .strip_suffix(" (deleted)")
        .unwrap_or(&executable)
        .to_string();
    vec![
        f("redis_version", super::connection::REDIS_VERSION),
        f("basalt_version", env!("CARGO_PKG_VERSION")),
        f("redis_git_sha1", "00000000"),
        f("redis_git_dirty", 0),
        f("redis_mode", "standalone"),
        f("os", os),
        f("arch_bits", usize::BITS),
        f("multiplexing_api", "epoll"),
        f("process_id", std::process::id()),
        f("process_supervised", "no"),
        f("run_id", &cx.shared.run_id),
        f("tcp_port", port),
        f("server_time_usec", crate::util::time::now_us()),
        f("uptime_in_seconds", uptime),
        f("uptime_in_days", uptime / 86_400),
        f("executable", executable),
        f("config_file", config_file),
    ]
}

fn info_clients(cx: &Context<'_>) -> Fields {
    let clients = cx.shared.clients.all();
    let max_qbuf = clients
        .iter()
        .map(|c| c.query_buf.load(Ordering::Relaxed))
        .max()
        .unwrap_or(0);
    let maxclients = cx.shared.config.read().maxclients;
    vec![
        f("connected_clients", clients.len()),
        f("cluster_connections", 0),
        f("maxclients", maxclients),
        f("client_recent_max_input_buffer", max_qbuf),
        f("client_recent_max_output_buffer", 0),
        f("blocked_clients", 0),
        f("tracking_clients", 0),
        f("clients_in_timeout_table", 0),
    ]
}

/// Sum of an integer RocksDB property over every column family.
fn rocks_sum(cx: &Context<'_>, prop: &str) -> u64 {
    COLUMN_FAMILIES
        .iter()
        .filter_map(|cf| cx.shared.store.property(cf, prop))
        .sum()
}

/// A database-wide RocksDB property (read through the default column family).
fn rocks_db(cx: &Context<'_>, prop: &str) -> u64 {
    cx.shared.store.property("default", prop).unwrap_or(0)
}

const COLUMN_FAMILIES: &[&str] = &["default", CF_META, CF_DATA, CF_ZSCORE, CF_EXPIRE];

fn info_memory(cx: &Context<'_>) -> Fields {
    let status = read_proc("/proc/self/status");
    let rss = parse_kb_field(&status, "VmRSS").unwrap_or(0);
    let peak = parse_kb_field(&status, "VmHWM").unwrap_or(rss);
    let total = parse_kb_field(&read_proc("/proc/meminfo"), "MemTotal").unwrap_or(0);
    let cache_capacity = cx.shared.config.read().block_cache_size;
    vec![
        f("used_memory", rss),
        f("used_memory_human", bytes_to_human(rss)),
        f("used_memory_rss", rss),
        f("used_memory_rss_human", bytes_to_human(rss)),
        f("used_memory_peak", peak),
        f("used_memory_peak_human", bytes_to_human(peak)),
        f("total_system_memory", total),
        f("total_system_memory_human", bytes_to_human(total)),
        f("maxmemory", 0),
        f("maxmemory_human", "0B"),
        f("maxmemory_policy", "noeviction"),
        f("mem_allocator", "libc"),
        f(
            "rocksdb_block_cache_usage",
            cx.shared.store.block_cache_usage(),
        ),
        f("rocksdb_block_cache_capacity", cache_capacity),
        f(
            "rocksdb_memtables",
            rocks_sum(cx, "rocksdb.cur-size-all-mem-tables"),
        ),
        f(
            "rocksdb_table_readers",
            rocks_sum(cx, "rocksdb.estimate-table-readers-mem"),
        ),
    ]
}

fn info_persistence(cx: &Context<'_>) -> Fields {
    let wal = cx.shared.store.wal();
    let fsyncs = wal.fsyncs();
    vec![
        f("loading", 0),
        f("async_loading", 0),
        f("rdb_changes_since_last_save", 0),
        f(
            "rdb_bgsave_in_progress",
            u8::from(cx.shared.bgsave_running.load(Ordering::Relaxed)),
        ),
        f(
            "rdb_last_save_time",
            cx.shared.last_save.load(Ordering::Relaxed),
        ),
        f("rdb_last_bgsave_status", "ok"),
        f("aof_enabled", 0),
        f("aof_rewrite_in_progress", 0),
        f("aof_rewrite_scheduled", 0),
        f("aof_last_bgrewrite_status", "ok"),
        f("aof_last_write_status", "ok"),
        f("wal_fsync_policy", wal.mode().as_str()),
        f("wal_fsyncs", fsyncs),
    ]
}

fn info_stats(cx: &Context<'_>) -> Fields {
    let s = &cx.shared.stats;
    let load = |a: &std::sync::atomic::AtomicU64| a.load(Ordering::Relaxed);
    vec![
        f("total_connections_received", load(&s.connections_received)),
        f("total_commands_processed", load(&s.commands_processed)),
        f("instantaneous_ops_per_sec", 0),
        f("total_net_input_bytes", load(&s.net_input_bytes)),
        f("total_net_output_bytes", load(&s.net_output_bytes)),
        f("instantaneous_input_kbps", "0.00"),
        f("instantaneous_output_kbps", "0.00"),
        f("rejected_connections", load(&s.rejected_connections)),
        f("sync_full", 0),
        f("sync_partial_ok", 0),
        f("sync_partial_err", 0),
        f("expired_keys", load(&cx.shared.store.expired_keys)),
        f("evicted_keys", 0),
        f("evicted_clients", 0),
        f("total_error_replies", load(&s.error_replies)),
    ]
}

fn info_replication(cx: &Context<'_>) -> Fields {
    vec![
        f("role", "master"),
        f("connected_slaves", 0),
        f("master_failover_state", "no-failover"),
        f("master_replid", &cx.shared.run_id),
        f("master_replid2", "0000000000000000000000000000000000000000"),
        f("master_repl_offset", 0),
        f("second_repl_offset", -1),
        f("repl_backlog_active", 0),
        f("repl_backlog_size", 1_048_576),
        f("repl_backlog_first_byte_offset", 0),
        f("repl_backlog_histlen", 0),
    ]
}

fn info_cpu() -> Fields {
    let (utime, stime, cutime, cstime) =
        parse_proc_stat(&read_proc("/proc/self/stat")).unwrap_or_default();
    vec![
        f("used_cpu_sys", cpu_secs(stime)),
        f("used_cpu_user", cpu_secs(utime)),
        f("used_cpu_sys_children", cpu_secs(cstime)),
        f("used_cpu_user_children", cpu_secs(cutime)),
    ]
}

fn info_keyspace(cx: &Context<'_>) -> Fields {
    let mut out = Vec::new();
    for i in 0..cx.view.databases() {
        let Some(db) = cx.view.db(i) else { continue };
        let keys = db.size();
        if keys > 0 {
            out.push((
                Cow::Owned(format!("db{i}")),
                format!("keys={keys},expires=0,avg_ttl=0"),
            ));
        }
    }
    out
}

fn info_rocksdb(cx: &Context<'_>) -> Fields {
    let cache_capacity = cx.shared.config.read().block_cache_size;
    let mut out = vec![
        f(
            "rocksdb_block_cache_usage",
            cx.shared.store.block_cache_usage(),
        ),
        f("rocksdb_block_cache_capacity", cache_capacity),
        f(
            "rocksdb_estimate_num_keys",
            rocks_sum(cx, "rocksdb.estimate-num-keys"),
        ),
        f(
            "rocksdb_total_sst_files_size",
            rocks_sum(cx, "rocksdb.total-sst-files-size"),
        ),
        f(
            "rocksdb_estimate_live_data_size",
            rocks_sum(cx, "rocksdb.estimate-live-data-size"),
        ),
        f(
            "rocksdb_cur_size_all_mem_tables",
            rocks_sum(cx, "rocksdb.cur-size-all-mem-tables"),
        ),
        f(
            "rocksdb_estimate_table_readers_mem",
            rocks_sum(cx, "rocksdb.estimate-table-readers-mem"),
        ),
        f(
            "rocksdb_estimate_pending_compaction_bytes",
            rocks_sum(cx, "rocksdb.estimate-pending-compaction-bytes"),
        ),
        f(
            "rocksdb_num_running_compactions",
            rocks_db(cx, "rocksdb.num-running-compactions"),
        ),
        f(
            "rocksdb_num_running_flushes",
            rocks_db(cx, "rocksdb.num-running-flushes"),
        ),
        f(
            "rocksdb_background_errors",
            rocks_db(cx, "rocksdb.background-errors"),
        ),
        f(
            "rocksdb_is_write_stopped",
            rocks_db(cx, "rocksdb.is-write-stopped"),
        ),
        f(
            "rocksdb_actual_delayed_write_rate",
            rocks_db(cx, "rocksdb.actual-delayed-write-rate"),
        ),
    ];
    for cf in COLUMN_FAMILIES {
        let p = |name: &str| cx.shared.store.property(cf, name).unwrap_or(0);
        out.push((
            Cow::Owned(format!("cf_{cf}")),
            format!(
                "keys={},sst_bytes={},memtable_bytes={},pending_compaction_bytes={}",
                p("rocksdb.estimate-num-keys"),
                p("rocksdb.total-sst-files-size"),
                p("rocksdb.cur-size-all-mem-tables"),
                p("rocksdb.estimate-pending-compaction-bytes"),
            ),
        ));
    }
    out
}

fn section_fields(cx: &Context<'_>, name: &str) -> Fields {
    match name {
        "server" => info_server(cx),
        "clients" => info_clients(cx),
        "memory" => info_memory(cx),
        "persistence" => info_persistence(cx),
        "stats" => info_stats(cx),
        "replication" => info_replication(cx),
        "cpu" => info_cpu(),
        "cluster" => vec![f("cluster_enabled", 0)],
        "keyspace" => info_keyspace(cx),
        "rocksdb" => info_rocksdb(cx),
        // Modules, per-command and per-error statistics are not tracked: the section is empty.
        _ => Vec::new(),
    }
}

fn info(cx: &mut Context<'_>, args: &Args<'_>) -> CmdResult {
    let cx: &Context<'_> = cx;
    let names = select_sections(args.iter().skip(1));
    let sections: Vec<(&str, Fields)> = names
        .into_iter()
        .filter_map(|n| SECTIONS.iter().find(|s| s.0 == n))
        .map(|s| (s.1, section_fields(cx, s.0)))
        .collect();
    Ok(Reply::Verbatim("txt", render_info(&sections)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn info_section_selection() {
        let sel = |a: &[&str]| select_sections(a.iter().map(|s| s.as_bytes()));
        let default = sel(&[]);
        assert_eq!(default, sel(&["default"]));
        assert!(default.contains(&"server") && default.contains(&"keyspace"));
        assert!(!default.contains(&"commandstats"));
        assert_eq!(sel(&["all"]).len(), SECTIONS.len());
        assert_eq!(sel(&["EVERYTHING"]).len(), SECTIONS.len());
        // Output order is fixed, whatever the argument order; case-insensitive; unknown ignored.
        assert_eq!(
            sel(&["Keyspace", "SERVER", "nope"]),
            vec!["server", "keyspace"]
        );
        assert_eq!(sel(&["nope"]), Vec::<&str>::new());
        assert_eq!(sel(&["cpu", "cpu"]), vec!["cpu"]);
        assert_eq!(sel(&["commandstats", "default"]).len(), default.len() + 1);
    }

    #[test]
    fn info_rendering_matches_redis_layout() {
        let text = render_info(&[
            ("Cluster", vec![f("cluster_enabled", 0)]),
            (
                "Keyspace",
                vec![(Cow::Borrowed("db0"), "keys=1,expires=0,avg_ttl=0".into())],
            ),
        ]);
        assert_eq!(
            text,
            "# Cluster\r\ncluster_enabled:0\r\n\r\n# Keyspace\r\ndb0:keys=1,expires=0,avg_ttl=0\r\n"
        );
        assert_eq!(render_info(&[("Modules", Vec::new())]), "# Modules\r\n");
        assert_eq!(render_info(&[]), "");
    }

    #[test]
    fn human_bytes() {
        assert_eq!(bytes_to_human(0), "0B");
        assert_eq!(bytes_to_human(1023), "1023B");
        assert_eq!(bytes_to_human(1024), "1.00K");
        assert_eq!(bytes_to_human(1_015_216), "991.42K");
        assert_eq!(bytes_to_human(7_319_552), "6.98M");
        assert_eq!(bytes_to_human(25_276_063_744), "23.54G");
    }

    #[test]
    fn proc_parsing() {
        let status = "Name:\tbasalt\nVmHWM:\t   2048 kB\nVmRSS:\t   1024 kB\n";
        assert_eq!(parse_kb_field(status, "VmRSS"), Some(1024 * 1024));
        assert_eq!(parse_kb_field(status, "VmHWM"), Some(2048 * 1024));
        assert_eq!(parse_kb_field(status, "VmSwap"), None);
        let stat = "123 (a b) c) S 1 123 123 0 -1 4194560 100 0 0 0 250 75 3 4 20 0 8 0 1 1 1";
        assert_eq!(parse_proc_stat(stat), Some((250, 75, 3, 4)));
        assert_eq!(parse_proc_stat("garbage"), None);
        assert_eq!(parse_proc_stat("1 (x) S 1 2"), None);
        assert_eq!(cpu_secs(250), "2.500000");
        assert_eq!(cpu_secs(0), "0.000000");
    }

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
            qbuf: 26,
            argv_mem: 10,
            cmd: "client|list",
            resp: 3,
            lib_name: "redis-py",
            lib_ver: "5.0",
            fd: 9,
        });
        assert_eq!(
            line,
            "id=3 addr=127.0.0.1:39008 laddr=127.0.0.1:7779 fd=9 name= age=5 idle=1 flags=N db=2 \
             sub=0 psub=0 ssub=0 multi=-1 qbuf=26 qbuf-free=16358 argv-mem=10 multi-mem=0 \
             rbs=16384 rbp=26 obl=0 oll=0 omem=0 tot-mem=32778 events=r cmd=client|list \
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

    #[test]
    fn config_get_patterns() {
        let names = |pats: &[&str]| {
            let pats: Vec<&[u8]> = pats.iter().map(|p| p.as_bytes()).collect();
            config_get_matches(&pats)
                .into_iter()
                .map(|(n, _)| n)
                .collect::<Vec<_>>()
        };
        // Exact names are shown as given; aliases resolve.
        assert_eq!(names(&["PORT"]), vec!["PORT"]);
        assert_eq!(names(&["appendfsync"]), vec!["appendfsync"]);
        assert_eq!(names(&["port", "port"]), vec!["port"]);
        assert_eq!(names(&["nosuch"]), Vec::<String>::new());
        // Globs see names and aliases, case-insensitively, each once.
        assert_eq!(names(&["*FSYNC*"]), vec!["fsync", "appendfsync"]);
        assert_eq!(names(&["?ort", "p*t"]), vec!["port"]);
        assert_eq!(names(&["*"]).len(), config::PARAMS.len() + 1);
        assert_eq!(names(&["save", "appendonly"]), vec!["save", "appendonly"]);
    }

    #[test]
    fn config_set_is_checked_then_applied_atomically() {
        let cfg = Config::default();
        let set = |pairs: &[(&str, &str)]| {
            let pairs: Vec<(&[u8], &[u8])> = pairs
                .iter()
                .map(|(a, b)| (a.as_bytes(), b.as_bytes()))
                .collect();
            plan_config_set(&cfg, &pairs)
        };
        let ok = set(&[("timeout", "5"), ("APPENDFSYNC", "always")]).unwrap();
        assert_eq!(ok.timeout, 5);
        assert_eq!(ok.fsync, config::FsyncMode::Always);
        assert_eq!(
            set(&[("timeout", "5"), ("foo", "1")]).err().unwrap(),
            "ERR Unknown option or number of arguments for CONFIG SET - 'foo'"
        );
        assert_eq!(
            set(&[("port", "1")]).err().unwrap(),
            "ERR CONFIG SET failed (possibly related to argument 'port') - can't set immutable config"
        );
        assert_eq!(
            set(&[("timeout", "abc")]).err().unwrap(),
            "ERR CONFIG SET failed (possibly related to argument 'timeout') - argument couldn't be parsed into an integer"
        );
        assert_eq!(
            set(&[("fsync", "no"), ("appendfsync", "no")]).err().unwrap(),
            "ERR CONFIG SET failed (possibly related to argument 'appendfsync') - duplicate parameter"
        );
        // The first error wins, and nothing is applied on error (the input is untouched).
        assert!(set(&[("timeout", "7"), ("maxclients", "0")]).is_err());
        assert_eq!(cfg.timeout, 0);
    }

    #[test]
    fn acl_categories_follow_redis() {
        let d = |name, flags, group| Desc {
            name,
            arity: 2,
            flags,
            keys: Keys::one(1),
            group,
            summary: "",
            subs: &[],
        };
        assert_eq!(
            categories(&d("get", READONLY | FAST, "string")),
            vec!["@read", "@string", "@fast"]
        );
        assert_eq!(
            categories(&d("set", WRITE | DENYOOM, "string")),
            vec!["@write", "@string", "@slow"]
        );
        assert_eq!(
            categories(&d("flushdb", WRITE, "server")),
            vec!["@keyspace", "@write", "@slow", "@dangerous"]
        );
        assert_eq!(
            categories(&d("config|get", ADMIN_SUB, "server")),
            vec!["@admin", "@slow", "@dangerous"]
        );
        assert_eq!(
            categories(&d("command|info", LOADING | STALE, "server")),
            vec!["@slow", "@connection"]
        );
        let container = Desc {
            subs: CLIENT_SUBS,
            ..d("client", 0, "connection")
        };
        assert_eq!(categories(&container), vec!["@slow"]);
    }

    #[test]
    fn key_spec_lastkey_is_relative() {
        assert_eq!(spec_lastkey(Keys::one(1)), 0);
        assert_eq!(spec_lastkey(Keys::range(1, -1, 2)), -1);
        assert_eq!(spec_lastkey(Keys::range(1, 2, 1)), 1);
    }

    #[test]
    fn subcommand_tables_are_consistent() {
        for (parent, subs) in [
            ("config", CONFIG_SUBS),
            ("command", COMMAND_SUBS),
            ("client", CLIENT_SUBS),
        ] {
            assert!(TABLE.iter().any(|s| s.name == parent));
            assert!(std::ptr::eq(subcommands_of(parent), subs));
            for s in subs {
                assert!(s.name.starts_with(&format!("{parent}|")), "{}", s.name);
                assert_eq!(s.name, s.name.to_ascii_lowercase());
                assert!(find_sub(subs, s.short().to_ascii_uppercase().as_bytes()).is_some());
                assert!(s.arity.abs() >= 2);
            }
        }
        assert!(find_sub(CLIENT_SUBS, b"nosuch").is_none());
        assert!(arity_ok(-3, 3) && arity_ok(-3, 9) && !arity_ok(-3, 2));
        assert!(arity_ok(2, 2) && !arity_ok(2, 3));
    }

    #[test]
    fn lookup_by_full_name() {
        assert_eq!(
            lookup_desc(b"CONFIG|GET").map(|d| d.name),
            Some("config|get")
        );
        assert_eq!(
            lookup_desc(b"client").map(|d| d.subs.len()),
            Some(CLIENT_SUBS.len())
        );
        assert!(lookup_desc(b"config|nosuch").is_none());
        assert!(lookup_desc(b"nosuch|get").is_none());
        assert!(lookup_desc(b"|").is_none());
    }
}
