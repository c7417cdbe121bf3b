//! The Lua engine: one Lua 5.1 state per execution thread, sandboxed as Redis 7 sandboxes its
//! own, running EVAL scripts and FUNCTION libraries.
//!
//! Scripts run with the database view held exclusively (one at a time server-wide), so a state
//! per thread never contends and needs no lock; each thread compiles a script body once and keeps
//! the function (bounded, see [`MAX_COMPILED`]). Function libraries are loaded into a state when
//! it first runs a function after the registry changed.
//!
//! The sandbox: the globals table and every library table are read-only (the VM patch in
//! `vendor/lua-src`), reading a missing global is an error, `os`, `io`, `loadfile`, `dofile`,
//! `print`, `setfenv`/`getfenv`, `newproxy` and `debug` are absent, bytecode is never loaded.
//! Errors follow Redis: an error object is a table `{err=..., source=..., line=...}` built by
//! `__redis__err__handler`, and the reply is `-<err> script: <name>, on <source>:<line>.`
//!
//! Commands called by a script go through a [`Host`], implemented by the command layer.

use super::busy::Busy;
use super::cache::{flags, Script};
use super::convert;
use super::fmt::{c_cast_i32, format_g, Rand48, LRAND48_MAX};
use super::functions::{FunctionInfo, Registry};
use crate::protocol::Reply;
use mlua::{
    chunk::ChunkMode, ffi, Function, HookTriggers, Lua, LuaOptions, MultiValue, StdLib, Table,
    Value, VmState,
};
use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::ffi::c_int;
use std::ptr::NonNull;
use std::rc::Rc;
use std::time::{Duration, Instant};

/// Compiled scripts a thread keeps before dropping the least recently used.
pub const MAX_COMPILED: usize = 1000;
/// Instructions between two checks for SCRIPT KILL, as in Redis.
const HOOK_INSTRUCTIONS: u32 = 100_000;
/// How long a library's code may run at FUNCTION LOAD.
const LOAD_TIMEOUT: Duration = Duration::from_millis(500);
/// The version scripts see (`redis.REDIS_VERSION`), the Redis release Basalt follows.
const REDIS_VERSION: &str = "7.0.15";
const REDIS_VERSION_NUM: f64 = 0x0007_000F as f64;

unsafe extern "C-unwind" {
    /// Redis's read-only table switch, added to the vendored Lua (see `vendor/lua-src`).
    fn lua_enablereadonlytable(state: *mut ffi::lua_State, idx: c_int, enabled: c_int);
    fn lua_isreadonlytable(state: *mut ffi::lua_State, idx: c_int) -> c_int;
}

/// What the engine needs from the server to run commands for a script.
pub trait Host {
    /// Runs a command for `redis.call`/`redis.pcall` (the script's protocol is RESP3 when
    /// `resp3`). `Err` is a refusal before the command ran, as Redis words it: `-CODE text`, or a
    /// text that gets `ERR`.
    fn call(&mut self, argv: &[&[u8]], resp3: bool) -> Result<Reply, String>;
    /// `redis.acl_check_cmd`: whether the user may run the command; None if there is no such
    /// command.
    fn acl_check(&mut self, argv: &[&[u8]]) -> Option<bool>;
}

/// An error Redis raises as a table (`luaPushError` + `luaError`): `{err = text}`.
#[derive(Debug)]
struct TableError(String);

impl std::fmt::Display for TableError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for TableError {}

/// The error text Redis's `luaPushErrorBuff` makes of an error buffer: `-CODE msg` keeps its
/// code, anything else gets `ERR`.
pub fn push_error_text(buf: &str) -> String {
    let trim = |s: &str| s.trim_matches(|c| c == '\r' || c == '\n').to_string();
    match buf.strip_prefix('-') {
        Some(raw) => match raw.split_once(' ') {
            Some((code, msg)) => format!("{code} {}", trim(msg)),
            None => format!("ERR {}", trim(raw)),
        },
        None => format!("ERR {}", trim(buf)),
    }
}

fn table_error(buf: &str) -> mlua::Error {
    mlua::Error::external(TableError(push_error_text(buf)))
}

/// A `luaL_error`-style string error: prefixed with the caller's position when it is Lua code.
pub(crate) fn lua_error(lua: &Lua, msg: impl std::fmt::Display) -> mlua::Error {
    let at = lua
        .inspect_stack(1, |d| {
            let line = d.current_line()?;
            let src = d.source().short_src?.into_owned();
            Some(format!("{src}:{line}: "))
        })
        .flatten()
        .unwrap_or_default();
    mlua::Error::RuntimeError(format!("{at}{msg}"))
}

/// `luaL_argerror`'s text.
pub(crate) fn arg_error(lua: &Lua, n: usize, func: &str, extra: &str) -> mlua::Error {
    lua_error(lua, format!("bad argument #{n} to '{func}' ({extra})"))
}

/// Lua's name for a value's type, as `luaL_typename`.
pub(crate) fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Nil => "nil",
        Value::Boolean(_) => "boolean",
        Value::LightUserData(_) => "userdata",
        Value::Integer(_) | Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Table(_) => "table",
        Value::Function(_) => "function",
        Value::Thread(_) => "thread",
        Value::UserData(_) => "userdata",
        Value::Error(_) => "userdata",
        _ => "userdata",
    }
}

/// `luaL_checknumber`.
pub(crate) fn check_number(
    lua: &Lua,
    args: &MultiValue,
    n: usize,
    func: &str,
) -> mlua::Result<f64> {
    match args.get(n - 1) {
        Some(Value::Integer(i)) => Ok(*i as f64),
        Some(Value::Number(f)) => Ok(*f),
        Some(Value::String(s)) => {
            let text = s.to_str().map(|s| s.to_string()).unwrap_or_default();
            parse_lua_number(&text)
                .ok_or_else(|| arg_error(lua, n, func, "number expected, got string"))
        }
        other => {
            let got = other.map_or("no value", type_name);
            Err(arg_error(
                lua,
                n,
                func,
                &format!("number expected, got {got}"),
            ))
        }
    }
}

/// Lua 5.1's string-to-number conversion (`lua_str2number` + trailing spaces allowed).
pub(crate) fn parse_lua_number(s: &str) -> Option<f64> {
    let t = s.trim_matches(|c: char| c.is_ascii_whitespace());
    if t.is_empty() {
        return None;
    }
    let (neg, body) = match t.strip_prefix('-') {
        Some(b) => (true, b),
        None => (false, t.strip_prefix('+').unwrap_or(t)),
    };
    if let Some(hex) = body.strip_prefix("0x").or_else(|| body.strip_prefix("0X")) {
        let v = u64::from_str_radix(hex, 16).ok()? as f64;
        return Some(if neg { -v } else { v });
    }
    let lower = body.to_ascii_lowercase();
    if lower.starts_with("inf") || lower.starts_with("nan") {
        // strtod accepts these.
        let v: f64 = t.parse().ok()?;
        return Some(v);
    }
    if !body
        .bytes()
        .all(|c| c.is_ascii_digit() || matches!(c, b'.' | b'e' | b'E' | b'+' | b'-'))
    {
        return None;
    }
    t.parse().ok()
}

/// What the running script is.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    Idle,
    Eval,
    Function,
    Load,
}

/// One function a library registered while loading.
pub struct Registered {
    pub info: FunctionInfo,
    callback: Function,
}

/// The state of the current run, shared with the Rust callbacks.
struct RunCell {
    host: Cell<Option<NonNull<dyn Host + 'static>>>,
    busy: Cell<Option<NonNull<Busy>>>,
    resp3: Cell<bool>,
    mode: Cell<Mode>,
    /// This run already handed its worker's duties to another thread.
    released: Cell<bool>,
    load_deadline: Cell<Option<Instant>>,
    registered: RefCell<Vec<Registered>>,
    rand: Cell<Rand48>,
}

impl RunCell {
    fn elapsed_ms(&self) -> u64 {
        // SAFETY: as for `killed`.
        self.busy
            .get()
            .map_or(0, |b| unsafe { b.as_ref() }.elapsed_ms())
    }

    fn killed(&self) -> bool {
        // SAFETY: `busy` is set only for the duration of a run by `Run`, which borrows the Busy.
        self.busy
            .get()
            .is_some_and(|b| unsafe { b.as_ref() }.is_killed())
    }
}

/// Sets the run state for one script and clears it when dropped (also on unwinding).
struct Run<'a> {
    cell: &'a RunCell,
}

impl<'a> Run<'a> {
    fn start(cell: &'a RunCell, mode: Mode, host: Option<&mut dyn Host>, busy: &Busy) -> Run<'a> {
        let host = host.map(|h| {
            // SAFETY: the pointer is only used while `Run` lives, which is within the borrow.
            let p: NonNull<dyn Host + '_> = NonNull::from(h);
            unsafe { std::mem::transmute::<NonNull<dyn Host + '_>, NonNull<dyn Host + 'static>>(p) }
        });
        cell.host.set(host);
        cell.busy.set(Some(NonNull::from(busy)));
        cell.resp3.set(false);
        cell.mode.set(mode);
        cell.released.set(false);
        Run { cell }
    }
}

impl Drop for Run<'_> {
    fn drop(&mut self) {
        self.cell.host.set(None);
        self.cell.busy.set(None);
        self.cell.mode.set(Mode::Idle);
        self.cell.load_deadline.set(None);
    }
}

struct Compiled {
    func: Function,
    used: u64,
}

/// A thread's Lua state.
pub struct Engine {
    lua: Lua,
    cell: Rc<RunCell>,
    /// `function(f) return xpcall(f, handler) end`
    run_eval: Function,
    /// `function(f, keys, args) return xpcall(function() return f(keys, args) end, handler) end`
    run_function: Function,
    /// The functions' globals: an empty read-only table whose metatable's `__index` is the
    /// load-time API while a library loads and the runtime globals otherwise.
    fn_env: Table,
    fn_env_meta: Table,
    load_api: Table,
    fn_runtime: Table,
    compiled: HashMap<[u8; 40], Compiled>,
    script_generation: u64,
    functions: HashMap<String, Function>,
    function_generation: Option<u64>,
    clock: u64,
    runs: u64,
}

thread_local! {
    static ENGINE: RefCell<Option<Engine>> = const { RefCell::new(None) };
}

/// Runs `f` with this thread's engine, creating it on first use.
pub fn with_engine<R>(f: impl FnOnce(&mut Engine) -> R) -> Result<R, String> {
    ENGINE.with(|cell| {
        let mut slot = cell
            .try_borrow_mut()
            .map_err(|_| "ERR scripting engine busy on this thread".to_string())?;
        if slot.is_none() {
            *slot = Some(Engine::new().map_err(|e| format!("ERR Lua engine: {e}"))?);
        }
        Ok(f(slot.as_mut().expect("just created")))
    })
}

/// The bootstrap chunk: error handler, Redis's pcall, the `redis` table, the function
/// environments. Runs once per state, before the globals become read-only.
const BOOTSTRAP: &str = r#"
local rust = ...
local dbg = debug
local getinfo, type, tostring, error, select = debug.getinfo, type, tostring, error, select
local lua_pcall, lua_xpcall = pcall, xpcall
local errobj, killed = rust.errobj, rust.killed

-- Errors raised by Rust callbacks arrive as userdata; Redis's are strings or tables.
local function plain(e)
  if type(e) == 'userdata' then
    local m = errobj(e)
    if m ~= nil then return m end
  end
  return e
end

local function handler(err)
  err = plain(err)
  local level = 2
  local i = getinfo(level, 'nSl')
  if i and i.what == 'C' then
    level = 3
    i = getinfo(level, 'nSl')
  end
  while i and i.source == '=basalt' do
    level = level + 1
    i = getinfo(level, 'nSl')
  end
  if type(err) ~= 'table' then
    err = {err = 'ERR ' .. tostring(err)}
  end
  if i then
    err['source'] = i.source
    err['line'] = i.currentline
  end
  return err
end
__redis__err__handler = handler

-- A killed script must not be able to catch its own termination.
local function fixpcall(ok, ...)
  if ok then return ok, ... end
  local e = plain((...))
  if killed() then error(e, 0) end
  if type(e) == 'table' then
    local m = e.err
    if type(m) == 'string' or type(m) == 'number' then return false, m end
  end
  return false, e
end
pcall = function(f, ...) return fixpcall(lua_pcall(f, ...)) end
xpcall = function(f, h)
  return lua_xpcall(f, function(e)
    e = plain(e)
    if killed() then return e end
    return h(e)
  end)
end
local resume = coroutine.resume
coroutine.resume = function(co, ...)
  local function fix(ok, ...)
    if ok then return ok, ... end
    local e = plain((...))
    if killed() then error(e, 0) end
    return false, e
  end
  return fix(resume(co, ...))
end

local function nonexistent(_, name)
  error("Script attempted to access nonexistent global variable '" .. tostring(name) .. "'", 2)
end

local redis = {
  call = rust.call,
  pcall = rust.pcall,
  log = rust.log,
  LOG_DEBUG = 0, LOG_VERBOSE = 1, LOG_NOTICE = 2, LOG_WARNING = 3,
  REDIS_VERSION = rust.version, REDIS_VERSION_NUM = rust.version_num,
  setresp = rust.setresp,
  sha1hex = rust.sha1hex,
  error_reply = rust.error_reply,
  status_reply = rust.status_reply,
  set_repl = rust.set_repl,
  replicate_commands = function() return true end,
  REPL_NONE = 0, REPL_AOF = 1, REPL_SLAVE = 2, REPL_REPLICA = 2, REPL_ALL = 3,
  acl_check_cmd = rust.acl_check_cmd,
  breakpoint = function() return false end,
  debug = function() end,
}
_G.redis = redis

-- Functions: the API a library sees while it loads, and the globals its functions see.
local load_redis = setmetatable({
  register_function = rust.register_function,
  log = rust.log,
  LOG_DEBUG = 0, LOG_VERBOSE = 1, LOG_NOTICE = 2, LOG_WARNING = 3,
  REDIS_VERSION = rust.version, REDIS_VERSION_NUM = rust.version_num,
}, {__index = nonexistent})
local load_api = setmetatable({redis = load_redis}, {__index = nonexistent})
local runtime = {}
for k, v in pairs(_G) do
  if k ~= 'KEYS' and k ~= 'ARGV' then runtime[k] = v end
end
runtime._G = runtime
setmetatable(runtime, {__index = nonexistent})
local env_meta = {__index = runtime}
local env = setmetatable({}, env_meta)

setmetatable(_G, {__index = nonexistent})

local run_eval = function(f) return lua_xpcall(f, handler) end
local run_function = function(f, keys, args)
  return lua_xpcall(function() return f(keys, args) end, handler)
end
return run_eval, run_function, env, env_meta, load_api, runtime
"#;

impl Engine {
    /// Creates a sandboxed state.
    pub fn new() -> mlua::Result<Engine> {
        // SAFETY: the debug library is needed by the error handler and removed right after.
        let lua = unsafe {
            Lua::unsafe_new_with(
                StdLib::TABLE | StdLib::STRING | StdLib::MATH | StdLib::DEBUG,
                LuaOptions::new(),
            )
        };
        let cell = Rc::new(RunCell {
            host: Cell::new(None),
            busy: Cell::new(None),
            resp3: Cell::new(false),
            mode: Cell::new(Mode::Idle),
            released: Cell::new(false),
            load_deadline: Cell::new(None),
            registered: RefCell::new(Vec::new()),
            rand: Cell::new(Rand48::default()),
        });
        let g = lua.globals();
        for name in [
            "print", "dofile", "loadfile", "setfenv", "getfenv", "newproxy", "module", "require",
            "package", "os", "io",
        ] {
            g.raw_set(name, Value::Nil)?;
        }
        g.raw_set("cjson", super::cjson::open(&lua)?)?;
        g.raw_set("struct", super::structlib::open(&lua)?)?;
        g.raw_set("cmsgpack", super::cmsgpack::open(&lua)?)?;
        g.raw_set("bit", super::bit::open(&lua)?)?;
        let math: Table = g.raw_get("math")?;
        math.raw_set("random", random_fn(&lua, &cell)?)?;
        math.raw_set("randomseed", randomseed_fn(&lua, &cell)?)?;

        let rust = lua.create_table()?;
        rust.raw_set("errobj", lua.create_function(errobj)?)?;
        let c = Rc::clone(&cell);
        rust.raw_set("killed", lua.create_function(move |_, ()| Ok(c.killed()))?)?;
        rust.raw_set("call", call_fn(&lua, &cell, true)?)?;
        rust.raw_set("pcall", call_fn(&lua, &cell, false)?)?;
        rust.raw_set("log", lua.create_function(log)?)?;
        rust.raw_set("version", REDIS_VERSION)?;
        rust.raw_set("version_num", REDIS_VERSION_NUM)?;
        let c = Rc::clone(&cell);
        rust.raw_set(
            "setresp",
            lua.create_function(move |_, args: MultiValue| setresp(&c, &args))?,
        )?;
        rust.raw_set("sha1hex", lua.create_function(sha1hex)?)?;
        rust.raw_set(
            "error_reply",
            lua.create_function(|lua, args: MultiValue| single_field(lua, &args, "err"))?,
        )?;
        rust.raw_set(
            "status_reply",
            lua.create_function(|lua, args: MultiValue| single_field(lua, &args, "ok"))?,
        )?;
        let c = Rc::clone(&cell);
        rust.raw_set(
            "set_repl",
            lua.create_function(move |_, args: MultiValue| set_repl(&c, &args))?,
        )?;
        let c = Rc::clone(&cell);
        rust.raw_set(
            "acl_check_cmd",
            lua.create_function(move |lua, args: MultiValue| acl_check(lua, &c, args))?,
        )?;
        let c = Rc::clone(&cell);
        rust.raw_set(
            "register_function",
            lua.create_function(move |lua, args: MultiValue| register_function(lua, &c, args))?,
        )?;

        let (run_eval, run_function, fn_env, fn_env_meta, load_api, fn_runtime): (
            Function,
            Function,
            Table,
            Table,
            Table,
            Table,
        ) = lua
            .load(BOOTSTRAP)
            .set_name("=basalt")
            .set_mode(ChunkMode::Text)
            .call(rust)?;
        g.raw_set("debug", Value::Nil)?;
        // Read-only from here on: the globals, every table reachable from them (libraries,
        // metatables), the string metatable, and the functions' environments (but not the
        // environment's metatable, which the engine switches and no script can reach).
        let mut seen = std::collections::HashSet::new();
        protect(&lua, &g, &mut seen)?;
        protect(&lua, &load_api, &mut seen)?;
        protect(&lua, &fn_runtime, &mut seen)?;
        if let Ok(Value::Table(string_meta)) = lua.load("return getmetatable('')").eval::<Value>() {
            protect(&lua, &string_meta, &mut seen)?;
        }
        set_readonly(&lua, &fn_env, true)?;

        let c = Rc::clone(&cell);
        lua.set_global_hook(
            HookTriggers::new().every_nth_instruction(HOOK_INSTRUCTIONS),
            move |_, _| {
                if c.mode.get() == Mode::Load {
                    if c.load_deadline.get().is_some_and(|d| Instant::now() > d) {
                        return Err(table_error("FUNCTION LOAD timeout"));
                    }
                } else if c.killed() {
                    tracing::warn!("Lua script killed by user with SCRIPT KILL.");
                    return Err(mlua::Error::RuntimeError(
                        "Script killed by user with SCRIPT KILL...".into(),
                    ));
                } else if !c.released.get() && c.elapsed_ms() >= super::busy::RELEASE_WORKER_MS {
                    // A long script: let the rest of the server run (and answer BUSY) meanwhile.
                    c.released.set(true);
                    super::busy::release_worker();
                }
                Ok(VmState::Continue)
            },
        )?;
        Ok(Engine {
            lua,
            cell,
            run_eval,
            run_function,
            fn_env,
            fn_env_meta,
            load_api,
            fn_runtime,
            compiled: HashMap::new(),
            script_generation: 0,
            functions: HashMap::new(),
            function_generation: None,
            clock: 0,
            runs: 0,
        })
    }

    /// Compiles a script body (without its shebang line); the error is Redis's reply.
    pub fn compile(&self, code: &[u8]) -> Result<Function, String> {
        self.lua
            .load(code)
            .set_name("@user_script")
            .set_mode(ChunkMode::Text)
            .into_function()
            .map_err(|e| {
                format!(
                    "ERR Error compiling script (new function): {}",
                    compile_message(&e)
                )
            })
    }

    /// Drops compiled scripts after SCRIPT FLUSH (`generation` is the cache's).
    fn sync_scripts(&mut self, generation: u64) {
        if self.script_generation != generation {
            self.compiled.clear();
            self.script_generation = generation;
            let _ = self.lua.gc_collect();
        }
    }

    /// Compiles and keeps a script (EVAL, SCRIPT LOAD); `generation` is the cache's.
    pub fn prepare(&mut self, script: &Script, generation: u64) -> Result<(), String> {
        self.sync_scripts(generation);
        self.compiled_fn(script).map(|_| ())
    }

    fn compiled_fn(&mut self, script: &Script) -> Result<Function, String> {
        self.clock += 1;
        if let Some(c) = self.compiled.get_mut(&script.sha) {
            c.used = self.clock;
            return Ok(c.func.clone());
        }
        let func = self.compile(script.code())?;
        if self.compiled.len() >= MAX_COMPILED {
            // Drop the least recently used quarter.
            let mut ages: Vec<(u64, [u8; 40])> =
                self.compiled.iter().map(|(k, c)| (c.used, *k)).collect();
            ages.sort_unstable();
            for (_, k) in ages.into_iter().take(MAX_COMPILED / 4) {
                self.compiled.remove(&k);
            }
        }
        self.compiled.insert(
            script.sha,
            Compiled {
                func: func.clone(),
                used: self.clock,
            },
        );
        Ok(func)
    }

    /// Runs an EVAL script and returns its reply (errors included, worded as Redis's).
    pub fn run_script(
        &mut self,
        script: &Script,
        generation: u64,
        keys: &[&[u8]],
        argv: &[&[u8]],
        host: &mut dyn Host,
        busy: &Busy,
    ) -> Reply {
        self.sync_scripts(generation);
        let func = match self.compiled_fn(script) {
            Ok(f) => f,
            Err(e) => return Reply::Error(e.into()),
        };
        let result = (|| -> mlua::Result<(bool, Value)> {
            let keys_t = self.array(keys)?;
            let argv_t = self.array(argv)?;
            set_keys_argv(&self.lua, keys_t, argv_t)?;
            let _run = Run::start(&self.cell, Mode::Eval, Some(host), busy);
            self.run_eval.call::<(bool, Value)>(func)
        })();
        let name = String::from_utf8_lossy(&script.sha).into_owned();
        self.finish(result, &name)
    }

    /// Runs a function (FCALL): loads the registry's libraries first if they changed.
    #[allow(clippy::too_many_arguments)]
    pub fn run_function(
        &mut self,
        registry: &Registry,
        name: &str,
        keys: &[&[u8]],
        args: &[&[u8]],
        host: &mut dyn Host,
        busy: &Busy,
    ) -> Reply {
        self.sync_functions(registry, busy);
        let Some(func) = self.functions.get(name).cloned() else {
            return Reply::Error("ERR Function not found".into());
        };
        let result = (|| -> mlua::Result<(bool, Value)> {
            let keys_t = self.array(keys)?;
            let args_t = self.array(args)?;
            let _run = Run::start(&self.cell, Mode::Function, Some(host), busy);
            self.run_function
                .call::<(bool, Value)>((func, keys_t, args_t))
        })();
        self.finish(result, name)
    }

    fn array(&self, items: &[&[u8]]) -> mlua::Result<Table> {
        let t = self.lua.create_table_with_capacity(items.len(), 0)?;
        for (i, item) in items.iter().enumerate() {
            t.raw_set(i + 1, self.lua.create_string(item)?)?;
        }
        Ok(t)
    }

    /// The reply of a finished run, and Redis's periodic incremental GC step.
    fn finish(&mut self, result: mlua::Result<(bool, Value)>, name: &str) -> Reply {
        let resp3 = self.cell.resp3.get();
        let reply = match result {
            Ok((true, value)) => convert::lua_to_reply(&value, resp3),
            Ok((false, Value::Table(err))) => error_reply_of(&err, name),
            Ok((false, other)) => Reply::Error(
                format!(
                    "ERR Error running script {name}, {:.100}",
                    value_text(&other).unwrap_or_else(|| "execution failure".into())
                )
                .into(),
            ),
            Err(e) => Reply::Error(format!("ERR Error running script {name}, {e:.100}").into()),
        };
        self.runs += 1;
        if self.runs.is_multiple_of(50) {
            let _ = self.lua.gc_step();
        }
        reply
    }

    /// Loads every library of the registry if it changed since this state last did.
    fn sync_functions(&mut self, registry: &Registry, busy: &Busy) {
        let generation = registry.generation();
        if self.function_generation == Some(generation) {
            return;
        }
        self.functions.clear();
        for lib in registry.libraries() {
            let start = super::functions::parse_metadata(&lib.code).map_or(0, |m| m.code_start);
            match self.load_library(&lib.code[start..], busy) {
                Ok(registered) => {
                    for r in registered {
                        self.functions.insert(r.info.name, r.callback);
                    }
                }
                Err(e) => {
                    tracing::error!(library = %lib.name, error = %e, "reloading a function library failed")
                }
            }
        }
        self.function_generation = Some(generation);
    }

    /// Runs a library's code (after its shebang line) and returns the functions it registered;
    /// the error is Redis's FUNCTION LOAD reply.
    pub fn load_library(&mut self, code: &[u8], busy: &Busy) -> Result<Vec<Registered>, String> {
        let func = self
            .lua
            .load(code)
            .set_name("@user_function")
            .set_mode(ChunkMode::Text)
            .set_environment(self.fn_env.clone())
            .into_function()
            .map_err(|e| format!("ERR Error compiling function: {}", compile_message(&e)))?;
        self.fn_env_meta
            .raw_set("__index", self.load_api.clone())
            .map_err(|e| format!("ERR {e}"))?;
        self.cell.registered.borrow_mut().clear();
        let result = {
            let _run = Run::start(&self.cell, Mode::Load, None, busy);
            self.cell
                .load_deadline
                .set(Some(Instant::now() + LOAD_TIMEOUT));
            self.run_eval.call::<(bool, Value)>(func)
        };
        let _ = self.fn_env_meta.raw_set("__index", self.fn_runtime.clone());
        let registered = std::mem::take(&mut *self.cell.registered.borrow_mut());
        match result {
            Ok((true, _)) => {}
            Ok((false, Value::Table(err))) => {
                let msg = err
                    .raw_get::<mlua::LuaString>("err")
                    .map(|s| String::from_utf8_lossy(&s.as_bytes()).into_owned())
                    .unwrap_or_default();
                return Err(format!("ERR Error registering functions: {msg}"));
            }
            Ok((false, other)) => {
                return Err(format!(
                    "ERR Error registering functions: {}",
                    value_text(&other).unwrap_or_default()
                ))
            }
            Err(e) => return Err(format!("ERR Error registering functions: {e}")),
        }
        if registered.is_empty() {
            return Err("ERR No functions registered".into());
        }
        Ok(registered)
    }

    /// Memory the state uses, in bytes (INFO's `used_memory_lua`).
    pub fn used_memory(&self) -> usize {
        self.lua.used_memory()
    }
}

/// The message of a compile error, without mlua's decoration.
fn compile_message(e: &mlua::Error) -> String {
    match e {
        mlua::Error::SyntaxError { message, .. } => message.clone(),
        mlua::Error::RuntimeError(m) => m.clone(),
        other => other.to_string(),
    }
}

/// The reply for an error table `{err, source, line}`: `-<err> script: <name>, on <source>:<line>.`
fn error_reply_of(err: &Table, name: &str) -> Reply {
    let msg = match err.raw_get::<Value>("err") {
        Ok(v) => value_text(&v).unwrap_or_default(),
        Err(_) => String::new(),
    };
    let source = err
        .raw_get::<Value>("source")
        .ok()
        .and_then(|v| value_text(&v));
    let line = err
        .raw_get::<Value>("line")
        .ok()
        .and_then(|v| value_text(&v));
    let mut text = format!("-{msg}");
    if let (Some(source), Some(line)) = (source, line) {
        text.push_str(&format!(" script: {name}, on {source}:{line}."));
    }
    Reply::Error(text.into())
}

/// A string or number as Lua's `lua_tostring` renders it.
fn value_text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(String::from_utf8_lossy(&s.as_bytes()).into_owned()),
        Value::Integer(i) => Some(i.to_string()),
        Value::Number(n) => Some(format_g(*n, 14)),
        _ => None,
    }
}

/// Sets KEYS and ARGV, lifting the globals' protection for the two assignments as Redis does.
fn set_keys_argv(lua: &Lua, keys: Table, argv: Table) -> mlua::Result<()> {
    // SAFETY: the two tables are on the stack; the globals index is always valid.
    unsafe {
        lua.exec_raw::<()>((keys, argv), |state| {
            lua_enablereadonlytable(state, ffi::LUA_GLOBALSINDEX, 0);
            ffi::lua_setfield(state, ffi::LUA_GLOBALSINDEX, c"ARGV".as_ptr());
            ffi::lua_setfield(state, ffi::LUA_GLOBALSINDEX, c"KEYS".as_ptr());
            lua_enablereadonlytable(state, ffi::LUA_GLOBALSINDEX, 1);
        })
    }
}

fn set_readonly(lua: &Lua, t: &Table, on: bool) -> mlua::Result<()> {
    // SAFETY: the table is on top of the stack.
    unsafe {
        lua.exec_raw::<()>(t.clone(), |state| {
            lua_enablereadonlytable(state, -1, c_int::from(on));
        })
    }
}

fn is_readonly(lua: &Lua, t: &Table) -> bool {
    // SAFETY: the table is on top of the stack.
    unsafe {
        lua.exec_raw::<bool>(t.clone(), |state| {
            let ro = lua_isreadonlytable(state, -1);
            ffi::lua_pop(state, 1);
            ffi::lua_pushboolean(state, ro);
        })
        .unwrap_or(false)
    }
}

/// Makes a table, the tables it holds and their metatables read-only (Redis's
/// `luaSetTableProtectionRecursively`).
fn protect(lua: &Lua, t: &Table, seen: &mut std::collections::HashSet<usize>) -> mlua::Result<()> {
    if !seen.insert(t.to_pointer() as usize) || is_readonly(lua, t) {
        return Ok(());
    }
    let mut nested = Vec::new();
    for pair in t.pairs::<Value, Value>() {
        if let (_, Value::Table(inner)) = pair? {
            nested.push(inner);
        }
    }
    if let Some(meta) = t.metatable() {
        nested.push(meta);
    }
    set_readonly(lua, t, true)?;
    for inner in nested {
        protect(lua, &inner, seen)?;
    }
    Ok(())
}

/// Turns an error raised by a Rust callback back into what Redis would have raised: a table for
/// [`TableError`], a string otherwise.
fn errobj(lua: &Lua, v: Value) -> mlua::Result<Value> {
    let Value::Error(err) = v else {
        return Ok(Value::Nil);
    };
    let mut e: &mlua::Error = &err;
    loop {
        match e {
            mlua::Error::CallbackError { cause, .. } => e = cause,
            mlua::Error::WithContext { cause, .. } => e = cause,
            mlua::Error::ExternalError(inner) => {
                if let Some(TableError(text)) = inner.downcast_ref::<TableError>() {
                    return Ok(Value::Table(convert::error_table(lua, text)?));
                }
                return Ok(Value::String(lua.create_string(inner.to_string())?));
            }
            mlua::Error::RuntimeError(m) => return Ok(Value::String(lua.create_string(m)?)),
            other => return Ok(Value::String(lua.create_string(other.to_string())?)),
        }
    }
}

/// `redis.call` (`raise`) and `redis.pcall`.
fn call_fn(lua: &Lua, cell: &Rc<RunCell>, raise: bool) -> mlua::Result<Function> {
    let cell = Rc::clone(cell);
    lua.create_function(move |lua, args: MultiValue| -> mlua::Result<Value> {
        let outcome = (|| -> Result<Reply, String> {
            let Some(mut host) = cell.host.get() else {
                return Err(
                    "redis.call/pcall can only be called inside a script invocation".into(),
                );
            };
            let argv = lua_args(&args)?;
            let refs: Vec<&[u8]> = argv.iter().map(|a| a.as_ref()).collect();
            // SAFETY: set by `Run` for the duration of the script, which is running now.
            let host = unsafe { host.as_mut() };
            host.call(&refs, cell.resp3.get())
        })();
        match outcome {
            Ok(Reply::Error(e)) if raise => {
                Err(table_error(&format!("-{}", convert::error_table_text(&e))))
            }
            Ok(reply) => convert::reply_to_lua(lua, &reply, cell.resp3.get()),
            Err(e) if raise => Err(table_error(&e)),
            Err(e) => Ok(Value::Table(convert::error_table(
                lua,
                &push_error_text(&e),
            )?)),
        }
    })
}

/// A command's arguments from Lua values: strings as they are, numbers as `%.17g`.
fn lua_args(args: &MultiValue) -> Result<Vec<Vec<u8>>, String> {
    if args.is_empty() {
        return Err("Please specify at least one argument for this redis lib call".into());
    }
    let mut out = Vec::with_capacity(args.len());
    for a in args.iter() {
        match a {
            Value::String(s) => out.push(s.as_bytes().to_vec()),
            Value::Integer(i) => out.push(format_g(*i as f64, 17).into_bytes()),
            Value::Number(n) => out.push(format_g(*n, 17).into_bytes()),
            _ => return Err("Lua redis lib command arguments must be strings or integers".into()),
        }
    }
    Ok(out)
}

fn log(_: &Lua, args: MultiValue) -> mlua::Result<()> {
    if args.len() < 2 {
        return Err(table_error("redis.log() requires two arguments or more."));
    }
    let level = match &args[0] {
        Value::Integer(i) => *i as f64,
        Value::Number(n) => *n,
        Value::String(s) => match s.to_str().ok().and_then(|s| parse_lua_number(&s)) {
            Some(n) => n,
            None => return Err(table_error("First argument must be a number (log level).")),
        },
        _ => return Err(table_error("First argument must be a number (log level).")),
    };
    let level = c_cast_i32(level);
    if !(0..=3).contains(&level) {
        return Err(table_error("Invalid debug level."));
    }
    let mut text = Vec::new();
    for (i, a) in args.iter().skip(1).enumerate() {
        let piece = match a {
            Value::String(s) => s.as_bytes().to_vec(),
            Value::Integer(n) => format_g(*n as f64, 14).into_bytes(),
            Value::Number(n) => format_g(*n, 14).into_bytes(),
            _ => continue,
        };
        if i != 0 {
            text.push(b' ');
        }
        text.extend_from_slice(&piece);
    }
    let text = String::from_utf8_lossy(&text);
    match level {
        0 | 1 => tracing::debug!(target: "basalt::lua", "{text}"),
        2 => tracing::info!(target: "basalt::lua", "{text}"),
        _ => tracing::warn!(target: "basalt::lua", "{text}"),
    }
    Ok(())
}

fn setresp(cell: &RunCell, args: &MultiValue) -> mlua::Result<()> {
    if cell.host.get().is_none() {
        return Err(table_error(
            "redis.setresp can only be called inside a script invocation",
        ));
    }
    if args.len() != 1 {
        return Err(table_error("redis.setresp() requires one argument."));
    }
    let resp = match &args[0] {
        Value::Integer(i) => *i,
        Value::Number(n) => c_cast_i32(*n).into(),
        Value::String(s) => s
            .to_str()
            .ok()
            .and_then(|s| parse_lua_number(&s))
            .map_or(0, |n| c_cast_i32(n).into()),
        _ => 0,
    };
    match resp {
        2 => cell.resp3.set(false),
        3 => cell.resp3.set(true),
        _ => return Err(table_error("RESP version must be 2 or 3.")),
    }
    Ok(())
}

fn set_repl(cell: &RunCell, args: &MultiValue) -> mlua::Result<()> {
    if cell.host.get().is_none() {
        return Err(table_error(
            "redis.set_repl can only be called inside a script invocation",
        ));
    }
    if args.len() != 1 {
        return Err(table_error("redis.set_repl() requires two arguments."));
    }
    let flags = match &args[0] {
        Value::Integer(i) => *i,
        Value::Number(n) => c_cast_i32(*n).into(),
        _ => 0,
    };
    if flags & !3 != 0 {
        return Err(table_error(
            "Invalid replication flags. Use REPL_AOF, REPL_REPLICA, REPL_ALL or REPL_NONE.",
        ));
    }
    // Basalt has no replication or AOF: the script's writes are always persisted.
    Ok(())
}

fn sha1hex(lua: &Lua, args: MultiValue) -> mlua::Result<mlua::LuaString> {
    if args.len() != 1 {
        return Err(table_error("wrong number of arguments"));
    }
    let bytes: Vec<u8> = match &args[0] {
        Value::String(s) => s.as_bytes().to_vec(),
        Value::Integer(i) => format_g(*i as f64, 14).into_bytes(),
        Value::Number(n) => format_g(*n, 14).into_bytes(),
        _ => Vec::new(),
    };
    lua.create_string(super::sha1_hex(&bytes))
}

/// `redis.error_reply` / `redis.status_reply`.
fn single_field(lua: &Lua, args: &MultiValue, field: &str) -> mlua::Result<Table> {
    let s = match (args.len(), args.front()) {
        (1, Some(Value::String(s))) => s.as_bytes().to_vec(),
        _ => return convert::error_table(lua, "ERR wrong number or type of arguments"),
    };
    if field == "err" {
        let text = String::from_utf8_lossy(&s);
        let buf = if text.starts_with('-') {
            text.into_owned()
        } else {
            format!("-{text}")
        };
        return convert::error_table(lua, &push_error_text(&buf));
    }
    let t = lua.create_table()?;
    t.raw_set(field, lua.create_string(&s)?)?;
    Ok(t)
}

fn acl_check(lua: &Lua, cell: &RunCell, args: MultiValue) -> mlua::Result<bool> {
    let Some(mut host) = cell.host.get() else {
        return Err(table_error(
            "redis.acl_check_cmd can only be called inside a script invocation",
        ));
    };
    let _ = lua;
    let argv = lua_args(&args).map_err(|e| table_error(&e))?;
    let refs: Vec<&[u8]> = argv.iter().map(|a| a.as_ref()).collect();
    // SAFETY: set by `Run` for the duration of the script, which is running now.
    match unsafe { host.as_mut() }.acl_check(&refs) {
        Some(ok) => Ok(ok),
        None => Err(table_error(
            "Invalid command passed to redis.acl_check_cmd()",
        )),
    }
}

/// `math.random`, on Redis's rand48 so a seed gives the same sequence everywhere.
fn random_fn(lua: &Lua, cell: &Rc<RunCell>) -> mlua::Result<Function> {
    let cell = Rc::clone(cell);
    lua.create_function(move |lua, args: MultiValue| -> mlua::Result<f64> {
        let mut rng = cell.rand.get();
        let r = f64::from(rng.next() % LRAND48_MAX) / f64::from(LRAND48_MAX);
        cell.rand.set(rng);
        match args.len() {
            0 => Ok(r),
            1 => {
                let u = c_cast_i32(check_number(lua, &args, 1, "random")?);
                if u < 1 {
                    return Err(arg_error(lua, 1, "random", "interval is empty"));
                }
                Ok((r * f64::from(u)).floor() + 1.0)
            }
            2 => {
                let l = c_cast_i32(check_number(lua, &args, 1, "random")?);
                let u = c_cast_i32(check_number(lua, &args, 2, "random")?);
                if l > u {
                    return Err(arg_error(lua, 2, "random", "interval is empty"));
                }
                Ok((r * (f64::from(u) - f64::from(l) + 1.0)).floor() + f64::from(l))
            }
            _ => Err(lua_error(lua, "wrong number of arguments")),
        }
    })
}

fn randomseed_fn(lua: &Lua, cell: &Rc<RunCell>) -> mlua::Result<Function> {
    let cell = Rc::clone(cell);
    lua.create_function(move |lua, args: MultiValue| {
        let seed = c_cast_i32(check_number(lua, &args, 1, "randomseed")?);
        let mut rng = cell.rand.get();
        rng.seed(seed);
        cell.rand.set(rng);
        Ok(())
    })
}

/// `redis.register_function`, available while a library loads.
fn register_function(lua: &Lua, cell: &RunCell, args: MultiValue) -> mlua::Result<()> {
    if cell.mode.get() != Mode::Load {
        return Err(table_error(
            "redis.register_function can only be called on FUNCTION LOAD command",
        ));
    }
    let (name, callback, description, fn_flags) = match args.len() {
        1 => named_args(&args[0])?,
        2 => {
            let name = match &args[0] {
                Value::String(s) => s.as_bytes().to_vec(),
                Value::Integer(i) => format_g(*i as f64, 14).into_bytes(),
                Value::Number(n) => format_g(*n, 14).into_bytes(),
                _ => {
                    return Err(table_error(
                        "first argument to redis.register_function must be a string",
                    ))
                }
            };
            let Value::Function(f) = &args[1] else {
                return Err(table_error(
                    "second argument to redis.register_function must be a function",
                ));
            };
            (name, f.clone(), None, 0)
        }
        _ => {
            return Err(table_error(
                "wrong number of arguments to redis.register_function",
            ))
        }
    };
    let _ = lua;
    let name = String::from_utf8_lossy(&name).into_owned();
    if !super::functions::valid_name(&name) {
        return Err(table_error("Library names can only contain letters, numbers, or underscores(_) and must be at least one character long"));
    }
    let mut registered = cell.registered.borrow_mut();
    if registered.iter().any(|r| r.info.name == name) {
        return Err(table_error("Function already exists in the library"));
    }
    registered.push(Registered {
        info: FunctionInfo {
            name,
            description,
            flags: fn_flags,
        },
        callback,
    });
    Ok(())
}

type NamedArgs = (Vec<u8>, Function, Option<Vec<u8>>, u32);

fn named_args(arg: &Value) -> mlua::Result<NamedArgs> {
    let Value::Table(t) = arg else {
        return Err(table_error("calling redis.register_function with a single argument is only applicable to Lua table (representing named arguments)."));
    };
    let (mut name, mut callback, mut description, mut fn_flags) = (None, None, None, 0);
    for pair in t.pairs::<Value, Value>() {
        let (k, v) = pair?;
        let key = match &k {
            Value::String(s) => s.as_bytes().to_ascii_lowercase(),
            Value::Integer(i) => format_g(*i as f64, 14).into_bytes(),
            Value::Number(n) => format_g(*n, 14).into_bytes(),
            _ => {
                return Err(table_error(
                    "named argument key given to redis.register_function is not a string",
                ))
            }
        };
        let text = |v: &Value| match v {
            Value::String(s) => Some(s.as_bytes().to_vec()),
            Value::Integer(i) => Some(format_g(*i as f64, 14).into_bytes()),
            Value::Number(n) => Some(format_g(*n, 14).into_bytes()),
            _ => None,
        };
        match key.as_slice() {
            b"function_name" => {
                name = Some(text(&v).ok_or_else(|| {
                    table_error(
                        "function_name argument given to redis.register_function must be a string",
                    )
                })?)
            }
            b"description" => {
                description = Some(text(&v).ok_or_else(|| {
                    table_error(
                        "description argument given to redis.register_function must be a string",
                    )
                })?)
            }
            b"callback" => match v {
                Value::Function(f) => callback = Some(f),
                _ => {
                    return Err(table_error(
                        "callback argument given to redis.register_function must be a function",
                    ))
                }
            },
            b"flags" => {
                let Value::Table(list) = v else {
                    return Err(table_error("flags argument to redis.register_function must be a table representing function flags"));
                };
                let mut i = 1;
                loop {
                    let f: Value = list.get(i)?;
                    if f.is_nil() {
                        break;
                    }
                    let Some(name) = text(&f) else {
                        return Err(table_error("unknown flag given"));
                    };
                    match flags::by_name(&name.to_ascii_lowercase()) {
                        Some(bit) => fn_flags |= bit,
                        None => return Err(table_error("unknown flag given")),
                    }
                    i += 1;
                }
            }
            _ => {
                return Err(table_error(
                    "unknown argument given to redis.register_function",
                ))
            }
        }
    }
    let Some(name) = name else {
        return Err(table_error(
            "redis.register_function must get a function name argument",
        ));
    };
    let Some(callback) = callback else {
        return Err(table_error(
            "redis.register_function must get a callback argument",
        ));
    };
    Ok((name, callback, description, fn_flags))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scripting::cache::parse_shebang;
    use crate::scripting::sha1_hex;

    /// A host that answers every command with its own name.
    struct Echo;

    impl Host for Echo {
        fn call(&mut self, argv: &[&[u8]], _resp3: bool) -> Result<Reply, String> {
            match argv[0] {
                b"fail" => Ok(Reply::Error("ERR failed".into())),
                b"refuse" => Err("This Redis command is not allowed from script".into()),
                name => Ok(Reply::bulk(name)),
            }
        }

        fn acl_check(&mut self, _argv: &[&[u8]]) -> Option<bool> {
            Some(true)
        }
    }

    fn run(engine: &mut Engine, busy: &Busy, body: &str) -> Reply {
        let (flags, len) = parse_shebang(body.as_bytes()).unwrap();
        let script = Script::new(sha1_hex(body.as_bytes()), body.as_bytes(), flags, len);
        engine.run_script(&script, 0, &[b"k"], &[b"a"], &mut Echo, busy)
    }

    #[test]
    fn scripts_run_with_redis_error_texts() {
        let mut e = Engine::new().unwrap();
        let busy = Busy::default();
        assert_eq!(
            run(&mut e, &busy, "return redis.call('get', KEYS[1])"),
            Reply::bulk(b"get")
        );
        assert_eq!(run(&mut e, &busy, "return ARGV[1]"), Reply::bulk(b"a"));
        let sha = String::from_utf8(sha1_hex(b"return redis.call('fail')").to_vec()).unwrap();
        assert_eq!(
            run(&mut e, &busy, "return redis.call('fail')"),
            Reply::Error(format!("-ERR failed script: {sha}, on @user_script:1.").into())
        );
        assert_eq!(
            run(&mut e, &busy, "return redis.pcall('refuse')"),
            Reply::Error("-ERR This Redis command is not allowed from script".into())
        );
        let sha = String::from_utf8(sha1_hex(b"x = 1").to_vec()).unwrap();
        assert_eq!(
            run(&mut e, &busy, "x = 1"),
            Reply::Error(
                format!("-ERR user_script:1: Attempt to modify a readonly table script: {sha}, on @user_script:1.")
                    .into()
            )
        );
        let r = run(&mut e, &busy, "return os");
        assert!(
            matches!(&r, Reply::Error(t) if t.contains("nonexistent global variable 'os'")),
            "{r:?}"
        );
        let r = run(&mut e, &busy, "string.upper = nil");
        assert!(
            matches!(&r, Reply::Error(t) if t.contains("readonly table")),
            "{r:?}"
        );
        let r = run(
            &mut e,
            &busy,
            "return loadstring(string.dump(function() return 1 end))",
        );
        assert_eq!(r, Reply::Nil);
    }

    #[test]
    fn the_hook_stops_a_killed_script_even_through_pcall() {
        let mut e = Engine::new().unwrap();
        let busy = Busy::default();
        let _g = busy.start(false, None);
        busy.kill(true).unwrap();
        let body = "while true do pcall(function() while true do end end) end";
        match run(&mut e, &busy, body) {
            Reply::Error(t) => assert!(
                t.starts_with("-ERR Script killed by user with SCRIPT KILL..."),
                "{t}"
            ),
            other => panic!("{other:?}"),
        }
    }
}
