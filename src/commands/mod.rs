//! The command table and dispatch.
//!
//! One declarative table ([`Spec`] entries, one slice per family file) is the single source of truth
//! for every command: name, arity, flags, key positions and handler. Dispatch, the arity error,
//! authentication checks and COMMAND INFO/COUNT/LIST/GETKEYS all read it.

pub mod acl;
pub mod args;
pub mod bitmaps;
pub mod blocking;
pub mod connection;
pub mod dump;
pub mod geo;
pub mod hashes;
pub mod hll;
pub mod introspection;
pub mod keys;
pub mod lists;
pub mod ops;
pub mod pubsub;
pub mod scripting;
pub mod server;
pub mod sets;
pub mod streams;
pub mod strings;
pub mod transactions;
pub mod zsets;

pub use args::Args;

use crate::protocol::Reply;
use crate::server::blocking::{Registration, Waiter};
use crate::server::{Client, Shared};
use crate::storage::{Db, StoreError, View};
use crate::types::TypeError;
use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::{Arc, OnceLock};

/// Command flags, as COMMAND INFO reports them (plus internal ones).
pub mod flags {
    pub const WRITE: u32 = 1 << 0;
    pub const READONLY: u32 = 1 << 1;
    pub const DENYOOM: u32 = 1 << 2;
    pub const ADMIN: u32 = 1 << 3;
    pub const PUBSUB: u32 = 1 << 4;
    pub const NOSCRIPT: u32 = 1 << 5;
    pub const BLOCKING: u32 = 1 << 6;
    pub const LOADING: u32 = 1 << 7;
    pub const STALE: u32 = 1 << 8;
    pub const SKIP_MONITOR: u32 = 1 << 9;
    pub const FAST: u32 = 1 << 10;
    pub const NO_AUTH: u32 = 1 << 11;
    pub const MAY_REPLICATE: u32 = 1 << 12;
    pub const ALLOW_BUSY: u32 = 1 << 13;
    pub const NO_MULTI: u32 = 1 << 14;
    /// Keys are found by parsing the arguments (numkeys-style commands), not by position.
    pub const MOVABLEKEYS: u32 = 1 << 15;
    /// Internal: runs with the database mapping held exclusively (SWAPDB, FLUSHDB, FLUSHALL).
    pub const EXCLUSIVE: u32 = 1 << 31;

    /// Names of the public flags, in COMMAND INFO order.
    pub const NAMES: &[(u32, &str)] = &[
        (WRITE, "write"),
        (READONLY, "readonly"),
        (DENYOOM, "denyoom"),
        (ADMIN, "admin"),
        (PUBSUB, "pubsub"),
        (NOSCRIPT, "noscript"),
        (BLOCKING, "blocking"),
        (LOADING, "loading"),
        (STALE, "stale"),
        (SKIP_MONITOR, "skip_monitor"),
        (FAST, "fast"),
        (NO_AUTH, "no_auth"),
        (MAY_REPLICATE, "may_replicate"),
        (ALLOW_BUSY, "allow_busy"),
        (NO_MULTI, "no_multi"),
        (MOVABLEKEYS, "movablekeys"),
    ];
}

/// Where a command's keys are: Redis's (first, last, step) convention; last may be negative
/// (counted from the end), first 0 means no keys.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Keys {
    pub first: i32,
    pub last: i32,
    pub step: i32,
}

impl Keys {
    pub const NONE: Keys = Keys {
        first: 0,
        last: 0,
        step: 0,
    };

    /// A single key at position `i`.
    pub const fn one(i: i32) -> Keys {
        Keys {
            first: i,
            last: i,
            step: 1,
        }
    }

    /// Keys from `first` to `last` (negative: from the end) every `step`.
    pub const fn range(first: i32, last: i32, step: i32) -> Keys {
        Keys { first, last, step }
    }

    /// Positions of the keys in an argument vector of length `argc`.
    pub fn positions(&self, argc: usize) -> impl Iterator<Item = usize> {
        let (first, step) = (self.first.max(0) as usize, self.step.max(1) as usize);
        let last = if self.last < 0 {
            argc as i64 + self.last as i64
        } else {
            self.last as i64
        };
        let end = if self.first == 0 {
            0
        } else {
            (last.min(argc as i64 - 1) + 1).max(0) as usize
        };
        (first..end.max(first)).step_by(step)
    }
}

/// A command handler.
pub type Handler = fn(&mut Context<'_>, &Args<'_>) -> CmdResult;

/// One entry of the command table.
#[derive(Clone, Copy)]
pub struct Spec {
    /// Lowercase name.
    pub name: &'static str,
    /// Redis's convention: N = exactly N arguments including the name, -N = at least N.
    pub arity: i32,
    pub flags: u32,
    pub keys: Keys,
    pub handler: Handler,
    /// The COMMAND DOCS group (string, generic, connection, server).
    pub group: &'static str,
    /// One line for COMMAND DOCS.
    pub summary: &'static str,
}

impl Spec {
    /// A table entry; `group` and `summary` are set with the builder methods.
    pub const fn new(
        name: &'static str,
        arity: i32,
        flags: u32,
        keys: Keys,
        handler: Handler,
    ) -> Spec {
        Spec {
            name,
            arity,
            flags,
            keys,
            handler,
            group: "",
            summary: "",
        }
    }

    pub const fn group(mut self, group: &'static str) -> Spec {
        self.group = group;
        self
    }

    pub const fn doc(mut self, summary: &'static str) -> Spec {
        self.summary = summary;
        self
    }

    pub fn has(&self, flag: u32) -> bool {
        self.flags & flag != 0
    }

    /// Whether `argc` arguments satisfy the arity.
    pub fn arity_ok(&self, argc: usize) -> bool {
        arity_matches(self.arity, argc)
    }
}

/// Redis's arity rule: N means exactly N arguments (the name included), -N at least N.
pub fn arity_matches(arity: i32, argc: usize) -> bool {
    let (argc, a) = (argc as i64, arity as i64);
    if a >= 0 {
        argc == a
    } else {
        argc >= -a
    }
}

/// Errors a command replies with. The display text is the exact Redis error line.
#[derive(Debug, thiserror::Error)]
pub enum CmdError {
    #[error("WRONGTYPE Operation against a key holding the wrong kind of value")]
    WrongType,
    #[error("ERR syntax error")]
    Syntax,
    #[error("ERR value is not an integer or out of range")]
    NotInteger,
    #[error("ERR value is not a valid float")]
    NotFloat,
    #[error("ERR wrong number of arguments for '{0}' command")]
    Arity(String),
    #[error("ERR no such key")]
    NoSuchKey,
    #[error("ERR DB index is out of range")]
    DbIndex,
    /// Any other error; the text includes its code.
    #[error("{0}")]
    Msg(Cow<'static, str>),
    #[error("ERR {0}")]
    Storage(#[from] StoreError),
    /// Not an error: the command blocked (see [`Context::block_on`]).
    #[error("blocked")]
    Blocked(Arc<Waiter>),
    /// Not an error: a blocked command re-run for a ready key still found nothing.
    #[error("not ready")]
    NotReady,
}

impl CmdError {
    /// An error with a fixed text (including its code, e.g. `ERR ...`).
    pub fn msg(text: impl Into<Cow<'static, str>>) -> Self {
        CmdError::Msg(text.into())
    }
}

impl From<TypeError> for CmdError {
    fn from(e: TypeError) -> Self {
        match e {
            TypeError::WrongType => CmdError::WrongType,
            TypeError::NotInteger => CmdError::NotInteger,
            TypeError::NotFloat => CmdError::NotFloat,
            TypeError::NoSuchKey => CmdError::NoSuchKey,
            TypeError::Storage(s) => CmdError::Storage(s),
            other => CmdError::msg(other.to_string()),
        }
    }
}

/// What a handler returns.
pub type CmdResult = Result<Reply, CmdError>;

/// How a blocking command (BLPOP, BZPOPMIN, ...) behaves when it finds nothing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BlockMode {
    /// Block the client until data arrives or the timeout passes.
    Allow,
    /// Reply as if the timeout had passed (inside MULTI, as Redis does).
    Deny,
    /// A blocked command re-run because a key got data: report [`Outcome::NotReady`].
    Serve,
}

/// Everything a handler may touch: the shared server, its own client, and the database view
/// taken for this command.
pub struct Context<'a> {
    pub shared: &'a Arc<Shared>,
    pub client: &'a mut Client,
    pub view: View<'a>,
    pub block: BlockMode,
}

impl<'a> Context<'a> {
    /// The client's selected database.
    pub fn db(&self) -> Db<'a> {
        self.view
            .db(self.client.db)
            .expect("a client's selected database is always in range")
    }

    /// Runs a blocking command: `attempt` looks at the keys and returns the reply, or None when
    /// there is nothing to take. If nothing is there, the client blocks on `keys` until a write
    /// makes one ready (the command is then re-run) or `deadline` passes (`timeout_reply`).
    pub fn block_on(
        &mut self,
        args: &Args<'_>,
        keys: &[&[u8]],
        deadline: Option<std::time::Instant>,
        timeout_reply: Reply,
        attempt: impl FnMut(&mut Context<'a>) -> Result<Option<Reply>, CmdError>,
    ) -> CmdResult {
        let stored = Stored {
            args: args.to_owned_args(),
            serve_all: false,
        };
        self.block_with(stored, keys, deadline, timeout_reply, attempt)
    }

    /// [`Context::block_on`] for a command that is re-run with `stored.args` (XREAD's `$`
    /// resolved to the IDs it meant when the client blocked) and whose waiters on a key are all
    /// tried when it gets data (`stored.serve_all`).
    pub fn block_with(
        &mut self,
        stored: Stored,
        keys: &[&[u8]],
        deadline: Option<std::time::Instant>,
        timeout_reply: Reply,
        mut attempt: impl FnMut(&mut Context<'a>) -> Result<Option<Reply>, CmdError>,
    ) -> CmdResult {
        if let Some(reply) = attempt(self)? {
            return Ok(reply);
        }
        match self.block {
            BlockMode::Serve => return Err(CmdError::NotReady),
            BlockMode::Deny => return Ok(timeout_reply),
            BlockMode::Allow => {}
        }
        let store = &self.shared.store;
        let waiter = self.shared.blocking.register(
            store,
            Registration {
                client: &self.client.info,
                db: self.client.db,
                phys: self.db().phys,
                keys,
                args: stored.args,
                timeout_reply,
                deadline,
                serve_all: stored.serve_all,
            },
        );
        // Look again now that writers know about us: a write between the first look and the
        // registration would otherwise be missed.
        loop {
            match attempt(self) {
                Ok(None) if waiter.settle() => continue,
                Ok(None) => return Err(CmdError::Blocked(waiter)),
                Ok(Some(reply)) => {
                    self.shared.blocking.forget(store, &waiter);
                    return Ok(reply);
                }
                Err(e) => {
                    self.shared.blocking.forget(store, &waiter);
                    return Err(e);
                }
            }
        }
    }

    /// A database by logical index, as given by a client (MOVE, COPY DB, SWAPDB).
    pub fn db_at(&self, index: i64) -> Result<Db<'a>, CmdError> {
        usize::try_from(index)
            .ok()
            .and_then(|i| self.view.db(i))
            .ok_or(CmdError::DbIndex)
    }
}

/// How a blocked command is re-run (see [`Context::block_with`]).
pub struct Stored {
    /// The arguments it is re-run with.
    pub args: args::OwnedArgs,
    /// Whether every waiter on a ready key is tried.
    pub serve_all: bool,
}

/// Every family's slice of the table.
fn all_specs() -> impl Iterator<Item = &'static Spec> {
    [
        strings::TABLE,
        bitmaps::TABLE,
        keys::TABLE,
        dump::TABLE,
        connection::TABLE,
        server::TABLE,
        introspection::TABLE,
        hashes::TABLE,
        hll::TABLE,
        sets::TABLE,
        zsets::TABLE,
        geo::TABLE,
        lists::TABLE,
        streams::TABLE,
        blocking::TABLE,
        transactions::TABLE,
        acl::TABLE,
        pubsub::TABLE,
        ops::TABLE,
        scripting::TABLE,
    ]
    .into_iter()
    .flatten()
}

/// The command table, indexed by lowercase name.
pub struct Table {
    by_name: HashMap<&'static [u8], &'static Spec>,
}

impl Table {
    /// The table, built once.
    pub fn get() -> &'static Table {
        static TABLE: OnceLock<Table> = OnceLock::new();
        TABLE.get_or_init(|| Table {
            by_name: all_specs().map(|s| (s.name.as_bytes(), s)).collect(),
        })
    }

    /// Looks a command up by name, case-insensitively, without allocating.
    pub fn lookup(&self, name: &[u8]) -> Option<&'static Spec> {
        let mut buf = [0u8; 32];
        let lower = buf.get_mut(..name.len())?;
        lower.copy_from_slice(name);
        lower.make_ascii_lowercase();
        self.by_name.get(&*lower).copied()
    }

    /// Every command, in no particular order.
    pub fn iter(&self) -> impl Iterator<Item = &'static Spec> + '_ {
        self.by_name.values().copied()
    }

    pub fn len(&self) -> usize {
        self.by_name.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_name.is_empty()
    }
}

/// The names commands answer to on this server: the table's, changed by the config file's
/// `rename-command` lines (to hide dangerous commands or give them a secret name).
#[derive(Default)]
pub struct Names {
    /// Original names no longer callable.
    hidden: std::collections::HashSet<&'static str>,
    /// New lowercase name -> command.
    renamed: HashMap<Vec<u8>, &'static Spec>,
}

impl Names {
    /// Applies `rename-command old new` pairs (an empty new name disables the command).
    pub fn new(renames: &[(String, String)]) -> Result<Names, String> {
        let mut names = Names::default();
        for (old, new) in renames {
            let spec = Table::get()
                .lookup(old.as_bytes())
                .filter(|s| !names.hidden.contains(s.name))
                .ok_or_else(|| format!("No such command in rename-command: {old}"))?;
            names.hidden.insert(spec.name);
            if !new.is_empty() {
                let new = new.to_ascii_lowercase().into_bytes();
                if Table::get().lookup(&new).is_some() || names.renamed.contains_key(&new) {
                    return Err(format!(
                        "Target command name already exists: {}",
                        String::from_utf8_lossy(&new)
                    ));
                }
                names.renamed.insert(new, spec);
            }
        }
        Ok(names)
    }

    /// The command `name` calls, case-insensitively; one emptiness check when nothing is renamed.
    pub fn lookup(&self, name: &[u8]) -> Option<&'static Spec> {
        if self.hidden.is_empty() {
            return Table::get().lookup(name);
        }
        if let Some(spec) = self.renamed.get(&name.to_ascii_lowercase()) {
            return Some(spec);
        }
        Table::get()
            .lookup(name)
            .filter(|s| !self.hidden.contains(s.name))
    }
}

/// Positions of a request's keys: the table's (first, last, step), or for commands whose keys
/// follow a `numkeys` argument, those (plus a STORE command's destination).
pub fn key_positions(spec: &Spec, args: &Args<'_>) -> Vec<usize> {
    if !spec.has(flags::MOVABLEKEYS) {
        return spec.keys.positions(args.len()).collect();
    }
    if let Some(start) = geo::store_keyword_start(spec.name) {
        return geo::key_positions(args, start);
    }
    if spec.name == "xread" || spec.name == "xreadgroup" {
        return stream_read_keys(args);
    }
    let (dest, numkeys_at) = match spec.name {
        "zunionstore" | "zinterstore" | "zdiffstore" => (Some(1), 2),
        "blmpop" | "bzmpop" => (None, 2),
        "eval" | "evalsha" | "eval_ro" | "evalsha_ro" | "fcall" | "fcall_ro" => (None, 2),
        _ => (None, 1),
    };
    let first = numkeys_at + 1;
    // A numkeys below 1 or past the arguments names no keys (the command itself will refuse).
    let Some(end) = args
        .opt(numkeys_at)
        .and_then(crate::util::num::parse_i64)
        .and_then(|n| usize::try_from(n).ok())
        .filter(|&n| n >= 1)
        .map(|n| first.saturating_add(n))
        .filter(|&end| end <= args.len())
    else {
        return Vec::new();
    };
    dest.into_iter().chain(first..end).collect()
}

/// XREAD / XREADGROUP's keys: the first half of what follows STREAMS (Redis's
/// `xreadGetKeys`, which skips the options before it).
fn stream_read_keys(args: &Args<'_>) -> Vec<usize> {
    let mut i = 1;
    while i < args.len() {
        if args.is(i, "block") || args.is(i, "count") {
            i += 2;
        } else if args.is(i, "group") {
            i += 3;
        } else if args.is(i, "noack") {
            i += 1;
        } else if args.is(i, "streams") {
            let n = args.len() - i - 1;
            if n == 0 || !n.is_multiple_of(2) {
                return Vec::new();
            }
            return (i + 1..i + 1 + n / 2).collect();
        } else {
            break;
        }
    }
    Vec::new()
}

/// Redis's reply to an unknown command: the name and up to 128 characters of its arguments.
pub fn unknown_command(args: &Args<'_>) -> CmdError {
    let mut listed = String::new();
    for a in args.iter().skip(1) {
        if listed.len() >= 128 {
            break;
        }
        let room = 128 - listed.len();
        let text = String::from_utf8_lossy(a);
        let shown: String = text.chars().take(room).collect();
        listed.push('\'');
        listed.push_str(&shown);
        listed.push_str("' ");
    }
    let name = String::from_utf8_lossy(args.get(0));
    let name: String = name.chars().take(128).collect();
    CmdError::msg(format!(
        "ERR unknown command '{name}', with args beginning with: {listed}"
    ))
}

/// Redis's reply to an unknown subcommand.
pub fn unknown_subcommand(args: &Args<'_>) -> CmdError {
    let sub = String::from_utf8_lossy(args.get(1));
    let sub: String = sub.chars().take(128).collect();
    CmdError::msg(format!(
        "ERR unknown subcommand '{sub}'. Try {} HELP.",
        String::from_utf8_lossy(args.get(0)).to_ascii_uppercase()
    ))
}

/// What running a request produced.
#[derive(Debug)]
pub enum Outcome {
    Reply(Reply),
    /// The client is blocked; its connection waits on the waiter for the reply.
    Blocked(Arc<Waiter>),
    /// A re-run blocked command still found nothing ([`BlockMode::Serve`]).
    NotReady,
}

/// Runs one request from a connection and returns its outcome.
pub fn dispatch(shared: &Arc<Shared>, client: &mut Client, args: &Args<'_>) -> Outcome {
    execute(shared, client, args, BlockMode::Allow)
}

/// Runs one request with the given blocking behaviour. Checks existence, arity and
/// authentication first, as Redis does, in that order; inside MULTI, queues the command instead.
pub fn execute(
    shared: &Arc<Shared>,
    client: &mut Client,
    args: &Args<'_>,
    block: BlockMode,
) -> Outcome {
    let Some(spec) = shared.names.lookup(args.get(0)) else {
        return reject(shared, client, unknown_command(args));
    };
    if !spec.arity_ok(args.len()) {
        return reject(shared, client, CmdError::Arity(spec.name.to_string()));
    }
    if !client.authenticated && !spec.has(flags::NO_AUTH) && shared.auth_required() {
        return reject(
            shared,
            client,
            CmdError::msg("NOAUTH Authentication required."),
        );
    }
    client.note_command(spec.name);
    // A re-run blocked command was checked when it blocked.
    if block != BlockMode::Serve {
        if let Err(e) = acl::check(shared, client, spec, args) {
            return reject(shared, client, e);
        }
    }
    if let Some(e) = pubsub::refuse_in_subscribed_mode(client, spec, args, block) {
        return reject(shared, client, e);
    }
    // While a script runs past busy-reply-threshold only allow_busy commands get through, as in
    // Redis (checked before MULTI queues, so a refusal dooms the transaction).
    let busy = &shared.scripts.busy;
    let allowed_when_busy = busy.is_running() && allowed_when_busy(spec, args);
    if !allowed_when_busy {
        if let Some(text) = busy.refusal() {
            return reject(shared, client, CmdError::msg(text));
        }
    }
    if let Some(multi) = client.multi.as_mut() {
        if !transactions::runs_inside_multi(spec.name) {
            if spec.has(flags::NO_MULTI) {
                let e = CmdError::msg("ERR Command not allowed inside a transaction");
                return reject(shared, client, e);
            }
            multi.queued.push(args.to_owned_args());
            client
                .info
                .multi
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            return Outcome::Reply(Reply::status("QUEUED"));
        }
    }
    let view = match take_view(shared, spec, allowed_when_busy) {
        Ok(view) => view,
        Err(e) => return reject(shared, client, e),
    };
    let mut cx = Context {
        shared,
        client,
        view,
        block,
    };
    // One clock pair per command, for the slow log and the latency monitor.
    let start = std::time::Instant::now();
    let result = (spec.handler)(&mut cx, args);
    drop(cx);
    // A command that blocked is logged when it is finally served (its re-run), as Redis logs
    // it on unblocking; it was fed to MONITOR when it arrived.
    let ran = !matches!(result, Err(CmdError::Blocked(_) | CmdError::NotReady));
    let rerun = block == BlockMode::Serve;
    ops::record(shared, client, spec, args, start.elapsed(), ran, !rerun);
    if ran && shared.tracking.is_active() {
        after_tracked(shared, client, spec, args);
    }
    match result {
        Err(CmdError::Blocked(w)) => Outcome::Blocked(w),
        Err(CmdError::NotReady) => Outcome::NotReady,
        result => Outcome::Reply(finish(shared, spec, result)),
    }
}

/// Whether a command may run while a script is busy: flagged `allow_busy` (for a container,
/// its subcommand), as in Redis.
fn allowed_when_busy(spec: &Spec, args: &Args<'_>) -> bool {
    let flags = introspection::subcommand_flags(spec, args).unwrap_or(spec.flags);
    flags & flags::ALLOW_BUSY != 0
}

/// Takes the database view for a command. A script (or EXEC) holds it exclusively while it
/// runs: the command waits for it in steps, so that once a script has run past the threshold
/// it answers BUSY instead, and waiting never outlasts the threshold. Commands allowed while
/// busy that touch no data (SCRIPT KILL, SHUTDOWN NOSAVE, AUTH...) get a view of no database
/// at once; WATCH reads keys, so it waits like any other command.
fn take_view<'a>(
    shared: &'a Shared,
    spec: &Spec,
    allowed_when_busy: bool,
) -> Result<View<'a>, CmdError> {
    let store = &shared.store;
    let exclusive = spec.has(flags::EXCLUSIVE);
    let quick = std::time::Duration::ZERO;
    let view = if exclusive {
        store.try_view_exclusive_for(quick)
    } else {
        store.try_view_for(quick)
    };
    if let Some(view) = view {
        return Ok(view);
    }
    let busy = &shared.scripts.busy;
    loop {
        if busy.is_running() {
            if allowed_when_busy && spec.name != "watch" {
                return Ok(store.detached_view());
            }
            if let Some(text) = busy.refusal() {
                return Err(CmdError::msg(text));
            }
        }
        let step = busy.until_threshold_ms().map_or(100, |ms| ms.clamp(1, 100));
        let wait = std::time::Duration::from_millis(step);
        let view = if exclusive {
            store.try_view_exclusive_for(wait)
        } else {
            store.try_view_for(wait)
        };
        if let Some(view) = view {
            return Ok(view);
        }
    }
}

/// Client-side caching after a command: invalidations for the keys it wrote (sent before its
/// reply), the keys it read remembered for a tracking client, and CLIENT CACHING's one-command
/// flag cleared.
fn after_tracked(shared: &Shared, client: &mut Client, spec: &Spec, args: &Args<'_>) {
    let written = crate::storage::written::take();
    if !written.is_empty() {
        shared
            .tracking
            .invalidate(shared, &written, Some(client.info.id));
    }
    if spec.has(flags::READONLY) {
        let keys: Vec<&[u8]> = key_positions(spec, args)
            .into_iter()
            .map(|i| args.get(i))
            .collect();
        shared.tracking.note_read(client, &keys);
    }
    if spec.name != "client" && client.multi.is_none() {
        client.caching = None;
    }
}

/// A command refused before it ran: counted as an error reply in INFO stats, as in Redis, and
/// inside MULTI it dooms the transaction (EXECABORT).
fn reject(shared: &Shared, client: &mut Client, e: CmdError) -> Outcome {
    shared.stats.note_rejected();
    if let Some(multi) = client.multi.as_mut() {
        multi.aborted = true;
    }
    Outcome::Reply(error_reply(e))
}

/// Counts a finished command and renders its result.
fn finish(shared: &Shared, spec: &Spec, result: CmdResult) -> Reply {
    shared.stats.note_command(result.is_err());
    match result {
        Ok(reply) => reply,
        Err(e) => {
            if let CmdError::Storage(s) = &e {
                tracing::error!(command = spec.name, error = %s, "storage error");
            }
            error_reply(e)
        }
    }
}

/// Runs a command queued by MULTI inside EXEC, on EXEC's (exclusive) view. Blocking commands
/// reply as if they timed out, as in Redis.
pub(crate) fn run_queued(cx: &mut Context<'_>, args: &Args<'_>) -> Reply {
    let Some(spec) = cx.shared.names.lookup(args.get(0)) else {
        return error_reply(unknown_command(args));
    };
    run_nested(cx, spec, args)
}

/// Runs a command inside another one on its borrowed view: a command of EXEC, or one a script
/// calls. Each is counted, logged and fed to MONITOR on its own, and never blocks.
pub(crate) fn run_nested(cx: &mut Context<'_>, spec: &'static Spec, args: &Args<'_>) -> Reply {
    cx.client.note_command(spec.name);
    // Whatever the command reads must see the writes of the ones before it.
    if let Err(e) = crate::storage::txn::flush_pending(&cx.shared.store) {
        return error_reply(CmdError::Storage(e));
    }
    let mut inner = Context {
        shared: cx.shared,
        client: &mut *cx.client,
        view: cx.view.lend(),
        block: BlockMode::Deny,
    };
    let start = std::time::Instant::now();
    let result = (spec.handler)(&mut inner, args);
    drop(inner);
    if cx.shared.tracking.is_active() {
        after_tracked(cx.shared, cx.client, spec, args);
    }
    // Redis logs and feeds each command of a transaction on its own.
    ops::record(
        cx.shared,
        cx.client,
        spec,
        args,
        start.elapsed(),
        true,
        true,
    );
    match result {
        // Deny never blocks; a stray outcome still answers as a timeout would.
        Err(CmdError::Blocked(_) | CmdError::NotReady) => Reply::NilArray,
        result => finish(cx.shared, spec, result),
    }
}

/// Renders an error as a reply.
pub fn error_reply(e: CmdError) -> Reply {
    Reply::Error(e.to_string().into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_positions() {
        let v = |k: Keys, n| k.positions(n).collect::<Vec<_>>();
        assert_eq!(v(Keys::one(1), 2), vec![1]);
        assert_eq!(v(Keys::range(1, -1, 1), 4), vec![1, 2, 3]);
        assert_eq!(v(Keys::range(1, -1, 2), 5), vec![1, 3]);
        assert_eq!(v(Keys::range(1, 2, 1), 3), vec![1, 2]);
        assert_eq!(v(Keys::NONE, 3), Vec::<usize>::new());
        assert_eq!(v(Keys::one(1), 1), Vec::<usize>::new());
    }

    #[test]
    fn table_names_are_unique_lowercase_and_looked_up_case_insensitively() {
        let mut seen = std::collections::HashSet::new();
        for s in all_specs() {
            assert!(seen.insert(s.name), "duplicate {}", s.name);
            assert_eq!(s.name, s.name.to_ascii_lowercase());
            assert!(!s.group.is_empty(), "{} has no group", s.name);
        }
        let t = Table::get();
        assert!(t.lookup(b"GeT").is_some());
        assert!(t.lookup(b"nosuchcommand").is_none());
        assert!(t.lookup(&[b'a'; 100]).is_none());
    }

    #[test]
    fn arity_rules() {
        fn h(_: &mut Context<'_>, _: &Args<'_>) -> CmdResult {
            Ok(Reply::Ok)
        }
        let exact = Spec::new("x", 2, 0, Keys::NONE, h);
        let atleast = Spec::new("y", -2, 0, Keys::NONE, h);
        assert!(exact.arity_ok(2) && !exact.arity_ok(3) && !exact.arity_ok(1));
        assert!(atleast.arity_ok(2) && atleast.arity_ok(9) && !atleast.arity_ok(1));
    }
}
