//! Scripting commands: EVAL, EVALSHA, EVAL_RO, EVALSHA_RO, FCALL, FCALL_RO, SCRIPT and FUNCTION
//! (Redis 7.0's `eval.c`, `functions.c`, `script.c`).
//!
//! A script runs like EXEC: with the database view held exclusively (no other command runs, so
//! nobody sees it half done), each command it calls on that view seeing the writes before it, and
//! all its writes reaching the WAL as one record (`storage::txn`). A script that fails after
//! writing keeps its writes, as in Redis. Commands reach the script through [`ScriptHost`], which
//! applies Redis's checks (unknown, arity, `noscript`, ACL, writes from read-only scripts) and
//! runs them with [`super::run_nested`], the path EXEC's commands take.

use super::args::OwnedArgs;
use super::flags::*;
use super::introspection::{help_reply, run_sub, sub, Sub};
use super::{Args, CmdError, CmdResult, Context, Keys, Spec};
use crate::protocol::Reply;
use crate::scripting::busy::RunningInfo;
use crate::scripting::cache::{self, flags as script_flags, Script};
use crate::scripting::engine::{with_engine, Host};
use crate::scripting::functions::{self, Library, RestorePolicy};
use crate::scripting::sha1_hex;
use bytes::Bytes;
use std::sync::Arc;

const G: &str = "scripting";
/// Flags common to EVAL and FCALL. EXCLUSIVE: a script holds the database view as EXEC does.
const RUN: u32 = NOSCRIPT | STALE | SKIP_MONITOR | MOVABLEKEYS | EXCLUSIVE;

pub(super) const TABLE: &[Spec] = &[
    Spec::new("eval", -3, RUN, Keys::NONE, eval)
        .group(G)
        .doc("Executes a server-side Lua script."),
    Spec::new("evalsha", -3, RUN, Keys::NONE, evalsha)
        .group(G)
        .doc("Executes a server-side Lua script by SHA1 digest."),
    Spec::new("eval_ro", -3, READONLY | RUN, Keys::NONE, eval_ro)
        .group(G)
        .doc("Executes a read-only server-side Lua script."),
    Spec::new("evalsha_ro", -3, READONLY | RUN, Keys::NONE, evalsha_ro)
        .group(G)
        .doc("Executes a read-only server-side Lua script by SHA1 digest."),
    Spec::new("fcall", -3, RUN, Keys::NONE, fcall)
        .group(G)
        .doc("Invokes a function."),
    Spec::new("fcall_ro", -3, READONLY | RUN, Keys::NONE, fcall_ro)
        .group(G)
        .doc("Invokes a read-only function."),
    Spec::new("script", -2, 0, Keys::NONE, script)
        .group(G)
        .doc("A container for Lua scripts management commands."),
    Spec::new("function", -2, 0, Keys::NONE, function)
        .group(G)
        .doc("A container for function commands."),
];

/// SCRIPT's subcommands, for dispatch and COMMAND INFO/DOCS.
pub(super) const SCRIPT_SUBS: &[Sub] = &[
    sub(
        "script|load",
        3,
        NOSCRIPT | STALE,
        "Loads a server-side Lua script to the script cache.",
        script_load,
    ),
    sub(
        "script|exists",
        -3,
        NOSCRIPT,
        "Determines whether server-side Lua scripts exist in the script cache.",
        script_exists,
    ),
    sub(
        "script|flush",
        -2,
        NOSCRIPT,
        "Removes all server-side Lua scripts from the script cache.",
        script_flush,
    ),
    sub(
        "script|kill",
        2,
        NOSCRIPT | ALLOW_BUSY,
        "Terminates a server-side Lua script during execution.",
        script_kill,
    ),
    sub(
        "script|debug",
        3,
        NOSCRIPT,
        "Sets the debug mode of server-side Lua scripts.",
        script_debug,
    ),
    sub(
        "script|help",
        2,
        LOADING | STALE,
        "Returns helpful text about the different subcommands.",
        script_help,
    ),
];

/// FUNCTION's subcommands.
pub(super) const FUNCTION_SUBS: &[Sub] = &[
    sub(
        "function|load",
        -3,
        WRITE | DENYOOM | NOSCRIPT,
        "Creates a library.",
        function_load,
    ),
    sub(
        "function|delete",
        3,
        WRITE | NOSCRIPT,
        "Deletes a library and its functions.",
        function_delete,
    ),
    sub(
        "function|list",
        -2,
        NOSCRIPT,
        "Returns information about all libraries.",
        function_list,
    ),
    sub(
        "function|dump",
        2,
        NOSCRIPT,
        "Dumps all libraries into a serialized binary payload.",
        function_dump,
    ),
    sub(
        "function|restore",
        -3,
        WRITE | DENYOOM | NOSCRIPT,
        "Restores all libraries from a payload.",
        function_restore,
    ),
    sub(
        "function|flush",
        -2,
        WRITE | NOSCRIPT,
        "Deletes all libraries and functions.",
        function_flush,
    ),
    sub(
        "function|stats",
        2,
        NOSCRIPT | ALLOW_BUSY,
        "Returns information about a function during execution.",
        function_stats,
    ),
    sub(
        "function|kill",
        2,
        NOSCRIPT | ALLOW_BUSY,
        "Terminates a function during execution.",
        function_kill,
    ),
    sub(
        "function|help",
        2,
        LOADING | STALE,
        "Returns helpful text about the different subcommands.",
        function_help,
    ),
];

/// A script's KEYS and ARGV.
type KeysAndArgs<'a> = (Vec<&'a [u8]>, Vec<&'a [u8]>);

/// The keys and arguments after `numkeys` (argument 2), with Redis's errors.
fn split_keys<'a>(args: &Args<'a>, bad_number: &'static str) -> Result<KeysAndArgs<'a>, CmdError> {
    let numkeys =
        crate::util::num::parse_i64(args.get(2)).ok_or_else(|| CmdError::msg(bad_number))?;
    let available = (args.len() - 3) as i64;
    if numkeys > available {
        return Err(CmdError::msg(
            "ERR Number of keys can't be greater than number of args",
        ));
    }
    if numkeys < 0 {
        return Err(CmdError::msg("ERR Number of keys can't be negative"));
    }
    let split = 3 + numkeys as usize;
    let keys = (3..split).map(|i| args.get(i)).collect();
    let rest = (split..args.len()).map(|i| args.get(i)).collect();
    Ok((keys, rest))
}

fn eval(cx: &mut Context<'_>, args: &Args<'_>) -> CmdResult {
    eval_generic(cx, args, false, false)
}

fn evalsha(cx: &mut Context<'_>, args: &Args<'_>) -> CmdResult {
    eval_generic(cx, args, true, false)
}

fn eval_ro(cx: &mut Context<'_>, args: &Args<'_>) -> CmdResult {
    eval_generic(cx, args, false, true)
}

fn evalsha_ro(cx: &mut Context<'_>, args: &Args<'_>) -> CmdResult {
    eval_generic(cx, args, true, true)
}

/// Finds a script in the cache or compiles and caches it (EVAL, SCRIPT LOAD).
fn script_for(cx: &Context<'_>, body: &[u8], pinned: bool) -> Result<Arc<Script>, CmdError> {
    let scripts = &cx.shared.scripts;
    let sha = sha1_hex(body);
    if !pinned {
        if let Some(s) = scripts.cache.get(&sha) {
            return Ok(s);
        }
    }
    let (flags, shebang_len) = cache::parse_shebang(body).map_err(CmdError::msg)?;
    let generation = scripts.cache.generation();
    // Compiled on this thread first: only a script that compiles is cached.
    let candidate = Script::new(sha, body, flags, shebang_len);
    with_engine(|e| e.prepare(&candidate, generation))
        .and_then(|r| r)
        .map_err(CmdError::msg)?;
    Ok(scripts.cache.insert(sha, body, flags, shebang_len, pinned))
}

fn eval_generic(cx: &mut Context<'_>, args: &Args<'_>, by_sha: bool, ro: bool) -> CmdResult {
    let (keys, argv) = split_keys(args, "ERR value is not an integer or out of range")?;
    let script = if by_sha {
        cx.shared
            .scripts
            .cache
            .get(args.get(1))
            .ok_or_else(|| CmdError::msg("NOSCRIPT No matching script. Please use EVAL."))?
    } else {
        script_for(cx, args.get(1), false)?
    };
    let read_only = run_mode(script.flags, ro)?;
    let generation = cx.shared.scripts.cache.generation();
    run(cx, args, false, read_only, None, |engine, host, busy| {
        engine.run_script(&script, generation, &keys, &argv, host, busy)
    })
}

/// Whether a script runs read-only, or Redis's refusal of a write script run by a `_ro` command.
fn run_mode(flags: u32, ro: bool) -> Result<bool, CmdError> {
    let compat = flags & script_flags::EVAL_COMPAT != 0;
    let no_writes = flags & script_flags::NO_WRITES != 0;
    if !compat && !no_writes && ro {
        return Err(CmdError::msg(
            "ERR Can not execute a script with write flag using *_ro command.",
        ));
    }
    Ok(ro || (!compat && no_writes))
}

fn fcall(cx: &mut Context<'_>, args: &Args<'_>) -> CmdResult {
    fcall_generic(cx, args, false)
}

fn fcall_ro(cx: &mut Context<'_>, args: &Args<'_>) -> CmdResult {
    fcall_generic(cx, args, true)
}

fn fcall_generic(cx: &mut Context<'_>, args: &Args<'_>, ro: bool) -> CmdResult {
    let name = args.text(1);
    let Some((_, info)) = cx.shared.scripts.functions.function(&name) else {
        return Err(CmdError::msg("ERR Function not found"));
    };
    let (keys, argv) = split_keys(args, "ERR Bad number of keys provided")?;
    let read_only = run_mode(info.flags, ro)?;
    let running = RunningInfo {
        name: name.clone(),
        command: args.iter().map(<[u8]>::to_vec).collect(),
    };
    let shared = Arc::clone(cx.shared);
    run(
        cx,
        args,
        true,
        read_only,
        Some(running),
        |engine, host, busy| {
            engine.run_function(&shared.scripts.functions, &name, &keys, &argv, host, busy)
        },
    )
}

/// Runs a script or function: marks it busy, runs it on this thread's engine with the client's
/// database and protocol restored afterwards, and commits its writes as one WAL record.
fn run(
    cx: &mut Context<'_>,
    args: &Args<'_>,
    function: bool,
    read_only: bool,
    running: Option<RunningInfo>,
    f: impl FnOnce(
        &mut crate::scripting::engine::Engine,
        &mut dyn Host,
        &crate::scripting::busy::Busy,
    ) -> Reply,
) -> CmdResult {
    // Redis feeds EVAL and FCALL to MONITOR before the commands they run (they are flagged
    // skip_monitor so that the dispatcher does not feed them again afterwards).
    super::ops::feed_monitors(cx.shared, cx.client, args);
    let busy = Arc::clone(&cx.shared.scripts.busy);
    let saved_db = cx.client.db;
    let saved_resp3 = cx.client.resp3;
    let store = Arc::clone(&cx.shared.store);
    let txn = store.begin_txn();
    let reply = {
        let _running = busy.start(function, running);
        let mut host = ScriptHost {
            cx: &mut *cx,
            read_only,
            busy: &busy,
        };
        with_engine(|engine| f(engine, &mut host, &busy))
    };
    cx.client.db = saved_db;
    cx.client.resp3 = saved_resp3;
    if busy.is_shutting_down() {
        // SHUTDOWN stopped the script: Redis exits without persisting its writes.
        txn.abandon();
    } else {
        txn.commit()?;
    }
    reply.map_err(CmdError::msg)
}

/// The server side of `redis.call`: Redis's checks, then the command on the script's view.
struct ScriptHost<'c, 'a> {
    cx: &'c mut Context<'a>,
    read_only: bool,
    busy: &'c crate::scripting::busy::Busy,
}

impl ScriptHost<'_, '_> {
    /// The command an argument vector names and its effective flags (a container's subcommand
    /// decides), or Redis's refusal.
    fn resolve(&self, args: &Args<'_>) -> Result<(&'static Spec, u32), String> {
        let spec = self
            .cx
            .shared
            .names
            .lookup(args.get(0))
            .ok_or("Unknown Redis command called from script")?;
        if !spec.arity_ok(args.len()) {
            return Err("Wrong number of args calling Redis command from script".into());
        }
        let flags = super::introspection::subcommand_flags(spec, args).unwrap_or(spec.flags);
        Ok((spec, flags))
    }
}

/// Arguments owned in one buffer, from a script's argument vector.
fn owned_args(argv: &[&[u8]]) -> OwnedArgs {
    OwnedArgs::from_parts(argv.iter().copied())
}

impl Host for ScriptHost<'_, '_> {
    fn call(&mut self, argv: &[&[u8]], resp3: bool) -> Result<Reply, String> {
        let owned = owned_args(argv);
        let args = owned.args();
        let (spec, flags) = self.resolve(&args)?;
        if flags & NOSCRIPT != 0 {
            return Err("This Redis command is not allowed from script".into());
        }
        if let Err(e) = super::acl::check(self.cx.shared, self.cx.client, spec, &args) {
            return Err(format!("-{e}"));
        }
        if self.read_only && flags & (WRITE | MAY_REPLICATE) != 0 {
            return Err("Write commands are not allowed from read-only scripts.".into());
        }
        if flags & WRITE != 0 {
            self.busy.note_write();
        }
        let saved = self.cx.client.resp3;
        self.cx.client.resp3 = resp3;
        let reply = super::run_nested(self.cx, spec, &args);
        self.cx.client.resp3 = saved;
        Ok(reply)
    }

    fn acl_check(&mut self, argv: &[&[u8]]) -> Option<bool> {
        let owned = owned_args(argv);
        let args = owned.args();
        let spec = self.cx.shared.names.lookup(args.get(0))?;
        Some(super::acl::permits(
            self.cx.shared,
            self.cx.client,
            spec,
            &args,
        ))
    }
}

// ---------------------------------------------------------------------------------------------
// SCRIPT

fn script(cx: &mut Context<'_>, args: &Args<'_>) -> CmdResult {
    run_sub(cx, args, SCRIPT_SUBS)
}

fn script_load(cx: &mut Context<'_>, args: &Args<'_>) -> CmdResult {
    let script = script_for(cx, args.get(2), true)?;
    Ok(Reply::Bulk(Bytes::copy_from_slice(&script.sha)))
}

fn script_exists(cx: &mut Context<'_>, args: &Args<'_>) -> CmdResult {
    let cache = &cx.shared.scripts.cache;
    Ok(Reply::Array(
        args.iter()
            .skip(2)
            .map(|sha| Reply::Int(i64::from(cache.contains(sha))))
            .collect(),
    ))
}

fn script_flush(cx: &mut Context<'_>, args: &Args<'_>) -> CmdResult {
    let mode_ok = match args.len() {
        2 => true,
        3 => args.is(2, "sync") || args.is(2, "async"),
        _ => false,
    };
    if !mode_ok {
        return Err(CmdError::msg(
            "ERR SCRIPT FLUSH only support SYNC|ASYNC option",
        ));
    }
    cx.shared.scripts.cache.flush();
    Ok(Reply::Ok)
}

fn script_kill(cx: &mut Context<'_>, _args: &Args<'_>) -> CmdResult {
    cx.shared
        .scripts
        .busy
        .kill(true)
        .map(|()| Reply::Ok)
        .map_err(|e| CmdError::msg(e.text()))
}

fn script_debug(_cx: &mut Context<'_>, args: &Args<'_>) -> CmdResult {
    if args.is(2, "no") {
        Ok(Reply::Ok)
    } else if args.is(2, "yes") || args.is(2, "sync") {
        Err(CmdError::msg(
            "ERR SCRIPT DEBUG (the Lua debugger) is not supported by Basalt",
        ))
    } else {
        Err(CmdError::msg("ERR Use SCRIPT DEBUG YES/SYNC/NO"))
    }
}

fn script_help(_cx: &mut Context<'_>, _args: &Args<'_>) -> CmdResult {
    Ok(help_reply(
        "SCRIPT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
        &[
            "DEBUG (YES|SYNC|NO)",
            "    Set the debug mode for subsequent scripts executed.",
            "EXISTS <sha1> [<sha1> ...]",
            "    Return information about the existence of the scripts in the script cache.",
            "FLUSH [ASYNC|SYNC]",
            "    Flush the Lua scripts cache. Very dangerous on replicas.",
            "    When called without the optional mode argument, the behavior is determined by the",
            "    lazyfree-lazy-user-flush configuration directive. Valid modes are:",
            "    * ASYNC: Asynchronously flush the scripts cache.",
            "    * SYNC: Synchronously flush the scripts cache.",
            "KILL",
            "    Kill the currently executing Lua script.",
            "LOAD <script>",
            "    Load a script into the scripts cache without executing it.",
        ],
    ))
}

// ---------------------------------------------------------------------------------------------
// FUNCTION

fn function(cx: &mut Context<'_>, args: &Args<'_>) -> CmdResult {
    run_sub(cx, args, FUNCTION_SUBS)
}

/// Redis's reply when a FUNCTION subcommand gets arguments it does not take.
fn syntax_error(args: &Args<'_>) -> CmdError {
    let sub: String = args.text(1).chars().take(128).collect();
    CmdError::msg(format!(
        "ERR unknown subcommand or wrong number of arguments for '{sub}'. Try {} HELP.",
        args.text(0).to_ascii_uppercase()
    ))
}

/// Runs a library's code on this thread's engine and describes it, or Redis's error.
fn compile_library(cx: &Context<'_>, code: &[u8]) -> Result<Library, CmdError> {
    let meta = functions::parse_metadata(code).map_err(CmdError::msg)?;
    let busy = &cx.shared.scripts.busy;
    let registered = with_engine(|e| e.load_library(&code[meta.code_start..], busy))
        .and_then(|r| r)
        .map_err(CmdError::msg)?;
    Ok(Library {
        name: meta.name,
        code: code.to_vec(),
        functions: registered.into_iter().map(|r| r.info).collect(),
    })
}

fn function_load(cx: &mut Context<'_>, args: &Args<'_>) -> CmdResult {
    let mut replace = false;
    let mut at = 2;
    while at < args.len() - 1 {
        if args.is(at, "replace") {
            replace = true;
            at += 1;
            continue;
        }
        return Err(CmdError::msg(format!(
            "ERR Unknown option given: {}",
            args.text(at)
        )));
    }
    let code = args.get(at);
    // Checked before running the code, as Redis does.
    let meta = functions::parse_metadata(code).map_err(CmdError::msg)?;
    let registry = &cx.shared.scripts.functions;
    if !replace && registry.has_library(&meta.name) {
        return Err(CmdError::msg(format!(
            "ERR Library '{}' already exists",
            meta.name
        )));
    }
    let lib = compile_library(cx, code)?;
    let name = lib.name.clone();
    registry
        .load(&cx.shared.store, lib, replace)
        .map_err(CmdError::msg)?;
    Ok(Reply::text(name))
}

fn function_delete(cx: &mut Context<'_>, args: &Args<'_>) -> CmdResult {
    cx.shared
        .scripts
        .functions
        .delete(&cx.shared.store, &args.text(2))
        .map_err(CmdError::msg)?;
    Ok(Reply::Ok)
}

fn function_flush(cx: &mut Context<'_>, args: &Args<'_>) -> CmdResult {
    if args.len() > 3 {
        return Err(syntax_error(args));
    }
    if args.len() == 3 && !args.is(2, "sync") && !args.is(2, "async") {
        return Err(CmdError::msg(
            "ERR FUNCTION FLUSH only supports SYNC|ASYNC option",
        ));
    }
    cx.shared.scripts.functions.flush(&cx.shared.store)?;
    Ok(Reply::Ok)
}

fn function_list(cx: &mut Context<'_>, args: &Args<'_>) -> CmdResult {
    let (mut with_code, mut pattern) = (false, None);
    let mut i = 2;
    while i < args.len() {
        if !with_code && args.is(i, "withcode") {
            with_code = true;
        } else if pattern.is_none() && args.is(i, "libraryname") {
            if i >= args.len() - 1 {
                return Err(CmdError::msg("ERR library name argument was not given"));
            }
            i += 1;
            pattern = Some(args.get(i));
        } else {
            return Err(CmdError::msg(format!(
                "ERR Unknown argument {}",
                args.text(i)
            )));
        }
        i += 1;
    }
    let mut out = Vec::new();
    for lib in cx.shared.scripts.functions.libraries() {
        if let Some(p) = pattern {
            if !crate::util::glob::glob_match(p, lib.name.as_bytes(), true) {
                continue;
            }
        }
        let fns = lib
            .functions
            .iter()
            .map(|f| {
                let flags = script_flags::NAMES
                    .iter()
                    .filter(|(bit, _)| f.flags & bit != 0)
                    .map(|&(_, n)| Reply::status(n))
                    .collect();
                Reply::Map(vec![
                    (Reply::text("name"), Reply::text(f.name.clone())),
                    (
                        Reply::text("description"),
                        f.description.clone().map_or(Reply::Nil, Reply::from),
                    ),
                    (Reply::text("flags"), Reply::Set(flags)),
                ])
            })
            .collect();
        let mut fields = vec![
            (Reply::text("library_name"), Reply::text(lib.name.clone())),
            (Reply::text("engine"), Reply::text("LUA")),
            (Reply::text("functions"), Reply::Array(fns)),
        ];
        if with_code {
            fields.push((Reply::text("library_code"), Reply::bulk(&lib.code)));
        }
        out.push(Reply::Map(fields));
    }
    Ok(Reply::Array(out))
}

fn function_dump(cx: &mut Context<'_>, _args: &Args<'_>) -> CmdResult {
    let payload = cx
        .shared
        .scripts
        .functions
        .dump()
        .map_err(|e| CmdError::msg(format!("ERR {e}")))?;
    Ok(Reply::Bulk(Bytes::from(payload)))
}

fn function_restore(cx: &mut Context<'_>, args: &Args<'_>) -> CmdResult {
    if args.len() > 4 {
        return Err(syntax_error(args));
    }
    let policy =
        match args.opt(3) {
            None => RestorePolicy::Append,
            Some(_) if args.is(3, "append") => RestorePolicy::Append,
            Some(_) if args.is(3, "replace") => RestorePolicy::Replace,
            Some(_) if args.is(3, "flush") => RestorePolicy::Flush,
            Some(_) => return Err(CmdError::msg(
                "ERR Wrong restore policy given, value should be either FLUSH, APPEND or REPLACE.",
            )),
        };
    let codes = crate::rdb::reader::function_payload(args.get(2)).map_err(|e| match e {
        crate::rdb::RdbError::Header(_) => {
            CmdError::msg("ERR DUMP payload version or checksum are wrong")
        }
        other => CmdError::msg(format!("ERR {other}")),
    })?;
    let mut libs: Vec<Library> = Vec::with_capacity(codes.len());
    for code in codes {
        let lib = compile_library(cx, &code)?;
        if libs.iter().any(|l| l.name == lib.name) {
            return Err(CmdError::msg(format!(
                "ERR Library {} already exists",
                lib.name
            )));
        }
        libs.push(lib);
    }
    cx.shared
        .scripts
        .functions
        .restore(&cx.shared.store, libs, policy)
        .map_err(CmdError::msg)?;
    Ok(Reply::Ok)
}

fn function_stats(cx: &mut Context<'_>, _args: &Args<'_>) -> CmdResult {
    let scripts = &cx.shared.scripts;
    // Redis answers an EVAL script's BUSY here (FUNCTION STATS is for functions).
    if scripts.busy.eval_running() {
        return Err(CmdError::msg(crate::scripting::busy::BUSY_EVAL));
    }
    let running = match scripts.busy.running_function() {
        Some((info, ms)) => Reply::Map(vec![
            (Reply::text("name"), Reply::text(info.name)),
            (
                Reply::text("command"),
                Reply::Array(info.command.into_iter().map(Reply::from).collect()),
            ),
            (Reply::text("duration_ms"), Reply::Int(ms as i64)),
        ]),
        None => Reply::Nil,
    };
    let (libraries, functions) = scripts.functions.counts();
    Ok(Reply::Map(vec![
        (Reply::text("running_script"), running),
        (
            Reply::text("engines"),
            Reply::Map(vec![(
                Reply::text("LUA"),
                Reply::Map(vec![
                    (Reply::text("libraries_count"), Reply::Int(libraries as i64)),
                    (Reply::text("functions_count"), Reply::Int(functions as i64)),
                ]),
            )]),
        ),
    ]))
}

fn function_kill(cx: &mut Context<'_>, _args: &Args<'_>) -> CmdResult {
    cx.shared
        .scripts
        .busy
        .kill(false)
        .map(|()| Reply::Ok)
        .map_err(|e| CmdError::msg(e.text()))
}

fn function_help(_cx: &mut Context<'_>, _args: &Args<'_>) -> CmdResult {
    Ok(help_reply(
        "FUNCTION <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
        &[
            "LOAD [REPLACE] <FUNCTION CODE>",
            "    Create a new library with the given library name and code.",
            "DELETE <LIBRARY NAME>",
            "    Delete the given library.",
            "LIST [LIBRARYNAME PATTERN] [WITHCODE]",
            "    Return general information on all the libraries:",
            "    * Library name",
            "    * The engine used to run the Library",
            "    * Library description",
            "    * Functions list",
            "    * Library code (if WITHCODE is given)",
            "    It also possible to get only function that matches a pattern using LIBRARYNAME argument.",
            "STATS",
            "    Return information about the current function running:",
            "    * Function name",
            "    * Command used to run the function",
            "    * Duration in MS that the function is running",
            "    If no function is running, return nil",
            "    In addition, returns a list of available engines.",
            "KILL",
            "    Kill the current running function.",
            "FLUSH [ASYNC|SYNC]",
            "    Delete all the libraries.",
            "    When called without the optional mode argument, the behavior is determined by the",
            "    lazyfree-lazy-user-flush configuration directive. Valid modes are:",
            "    * ASYNC: Asynchronously flush the libraries.",
            "    * SYNC: Synchronously flush the libraries.",
            "DUMP",
            "    Return a serialized payload representing the current libraries, can be restored using FUNCTION RESTORE command",
            "RESTORE <PAYLOAD> [FLUSH|APPEND|REPLACE]",
            "    Restore the libraries represented by the given payload, it is possible to give a restore policy to",
            "    control how to handle existing libraries (default APPEND):",
            "    * FLUSH: delete all existing libraries.",
            "    * APPEND: appends the restored libraries to the existing libraries. On collision, abort.",
            "    * REPLACE: appends the restored libraries to the existing libraries, On collision, replace the old",
            "      libraries with the new libraries (notice that even on this option there is a chance of failure",
            "      in case of functions name collision with another library).",
        ],
    ))
}

/// Loads the libraries stored in the data directory into the registry (at startup).
pub fn load_stored_functions(shared: &crate::server::Shared) -> Result<usize, String> {
    let stored = functions::stored(&shared.store).map_err(|e| e.to_string())?;
    let mut engine = crate::scripting::engine::Engine::new().map_err(|e| e.to_string())?;
    let busy = crate::scripting::busy::Busy::default();
    let mut libs = Vec::with_capacity(stored.len());
    for (name, code) in stored {
        let meta = match functions::parse_metadata(&code) {
            Ok(m) => m,
            Err(e) => {
                tracing::error!(library = %name, error = %e, "skipping a stored function library");
                continue;
            }
        };
        match engine.load_library(&code[meta.code_start..], &busy) {
            Ok(registered) => libs.push(Library {
                name: meta.name,
                code,
                functions: registered.into_iter().map(|r| r.info).collect(),
            }),
            Err(e) => {
                tracing::error!(library = %name, error = %e, "skipping a stored function library")
            }
        }
    }
    let n = libs.len();
    shared.scripts.functions.install_loaded(libs);
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn run_modes_follow_redis() {
        use script_flags::*;
        assert!(!run_mode(EVAL_COMPAT, false).unwrap());
        assert!(run_mode(EVAL_COMPAT, true).unwrap());
        assert!(run_mode(NO_WRITES, false).unwrap());
        assert!(!run_mode(0, false).unwrap());
        assert!(run_mode(0, true).is_err());
    }
}
