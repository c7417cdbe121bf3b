//! Every tunable of the server in one struct, parsed from a redis.conf-style file and command-line
//! flags, and exposed to CONFIG GET/SET/REWRITE through one parameter table.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// When the write-ahead log is fsynced; Redis's `appendfsync` semantics.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FsyncMode {
    /// Group commit: every acknowledged write is on stable storage.
    Always,
    /// A background task fsyncs once a second; a power loss may cost up to a second.
    EverySec,
    /// The OS decides when dirty pages reach the disk.
    No,
}

impl FsyncMode {
    fn parse(s: &str) -> Option<Self> {
        match s.to_ascii_lowercase().as_str() {
            "always" => Some(Self::Always),
            "everysec" => Some(Self::EverySec),
            "no" => Some(Self::No),
            _ => None,
        }
    }

    /// The name used in configuration files and CONFIG GET.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Always => "always",
            Self::EverySec => "everysec",
            Self::No => "no",
        }
    }
}

/// Block compression applied to RocksDB tables.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Compression {
    None,
    Lz4,
    Zstd,
}

impl Compression {
    fn parse(s: &str) -> Option<Self> {
        match s.to_ascii_lowercase().as_str() {
            "none" | "no" => Some(Self::None),
            "lz4" => Some(Self::Lz4),
            "zstd" => Some(Self::Zstd),
            _ => None,
        }
    }

    /// The name used in configuration files and CONFIG GET.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::None => "none",
            Self::Lz4 => "lz4",
            Self::Zstd => "zstd",
        }
    }
}

/// One client class's `client-output-buffer-limit`: a client whose unsent output reaches `hard`
/// bytes, or stays at `soft` bytes or more for over `soft_seconds`, is disconnected. 0 disables a
/// limit.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct OutputBufferLimit {
    /// Bytes at which the client is disconnected at once.
    pub hard: u64,
    /// Bytes the client may stay at or above for `soft_seconds` only.
    pub soft: u64,
    /// How long the soft limit may be exceeded, in whole seconds.
    pub soft_seconds: u64,
}

/// `client-output-buffer-limit` for every class Redis has (the `master` class takes the normal
/// limits, as in Redis).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OutputBufferLimits {
    /// Clients that are neither replicas nor subscribers (not enforced: replies are written as
    /// they are made).
    pub normal: OutputBufferLimit,
    /// Replicas (`replica` or `slave`); kept for compatibility, Basalt has no replication.
    pub replica: OutputBufferLimit,
    /// Clients with pub/sub subscriptions.
    pub pubsub: OutputBufferLimit,
}

impl Default for OutputBufferLimits {
    /// Redis's defaults: `normal 0 0 0 slave 256mb 64mb 60 pubsub 32mb 8mb 60`.
    fn default() -> Self {
        const MB: u64 = 1024 * 1024;
        Self {
            normal: OutputBufferLimit::default(),
            replica: OutputBufferLimit {
                hard: 256 * MB,
                soft: 64 * MB,
                soft_seconds: 60,
            },
            pubsub: OutputBufferLimit {
                hard: 32 * MB,
                soft: 8 * MB,
                soft_seconds: 60,
            },
        }
    }
}

impl OutputBufferLimits {
    /// Applies Redis's syntax: `<class> <hard> <soft> <soft-seconds>` groups, all or nothing;
    /// classes not named keep their limits. The error is Redis's reason text.
    fn apply(&mut self, value: &str) -> Result<(), String> {
        let words: Vec<&str> = value.split_whitespace().collect();
        if !words.len().is_multiple_of(4) {
            return Err("Wrong number of arguments in buffer limit configuration.".into());
        }
        // Checked in full before anything changes, so a bad group leaves every class as it was.
        let mut parsed = Vec::with_capacity(words.len() / 4);
        for group in words.chunks_exact(4) {
            let class = match group[0].to_ascii_lowercase().as_str() {
                "normal" => 0,
                "replica" | "slave" => 1,
                "pubsub" => 2,
                _ => {
                    return Err(
                        "Invalid client class specified in buffer limit configuration.".into(),
                    )
                }
            };
            let bad =
                || "Error in hard, soft or soft_seconds setting in buffer limit configuration.";
            let hard = parse_memory(group[1]).ok_or_else(bad)?;
            let soft = parse_memory(group[2]).ok_or_else(bad)?;
            // Redis keeps the seconds in a C int: a larger number wraps, a negative one is refused.
            let secs = group[3].parse::<i64>().map_err(|_| bad())? as i32;
            let soft_seconds = u64::try_from(secs).map_err(|_| bad())?;
            parsed.push((
                class,
                OutputBufferLimit {
                    hard,
                    soft,
                    soft_seconds,
                },
            ));
        }
        for (class, limit) in parsed {
            *match class {
                0 => &mut self.normal,
                1 => &mut self.replica,
                _ => &mut self.pubsub,
            } = limit;
        }
        Ok(())
    }

    /// The CONFIG GET form: every class, in Redis's order and naming, sizes in bytes.
    fn render(&self) -> String {
        let mut out = String::new();
        for (name, l) in [
            ("normal", &self.normal),
            ("slave", &self.replica),
            ("pubsub", &self.pubsub),
        ] {
            if !out.is_empty() {
                out.push(' ');
            }
            let _ = write!(out, "{name} {} {} {}", l.hard, l.soft, l.soft_seconds);
        }
        out
    }
}

/// The server's configuration. Defaults follow Redis where Redis has the same knob.
#[derive(Clone, Debug)]
pub struct Config {
    pub port: u16,
    pub bind: Vec<String>,
    pub dir: PathBuf,
    pub databases: u32,
    pub requirepass: Option<String>,
    pub maxclients: u32,
    /// Idle seconds before a client is disconnected; 0 disables.
    pub timeout: u64,
    pub loglevel: String,
    pub logfile: String,
    pub protected_mode: bool,
    pub fsync: FsyncMode,
    pub proto_max_bulk_len: u64,
    pub client_query_buffer_limit: u64,
    /// Limits on output not yet written to a client; enforced for pub/sub subscribers.
    pub client_output_buffer_limit: OutputBufferLimits,
    pub tcp_keepalive: u64,
    pub block_cache_size: u64,
    pub write_buffer_size: u64,
    /// The memory budget (`maxmemory`), split by [`Config::memory_plan`]; 0 derives it from
    /// `rocksdb-block-cache-size`.
    pub maxmemory: u64,
    /// Percent of the budget given to the hot-key cache (0 disables the cache).
    pub maxmemory_cache_percent: u64,
    /// Percent of the budget the memtables may use (charged to the block cache).
    pub maxmemory_memtable_percent: u64,
    /// Read SST files with O_DIRECT, bypassing the OS page cache (so the budget bounds the
    /// memory that serves reads, and a benchmark measures the disk, not the page cache).
    pub direct_reads: bool,
    /// Uncompressed size of an SST data block: what a point read that misses the block cache
    /// reads and decompresses.
    pub block_size: u64,
    pub compression: Compression,
    pub max_background_jobs: u32,
    /// Commands at least this many microseconds long go into the slow log; -1 disables it.
    pub slowlog_log_slower_than: i64,
    /// Entries the slow log keeps.
    pub slowlog_max_len: u64,
    /// Milliseconds from which the latency monitor records an event; 0 disables it.
    pub latency_monitor_threshold: u64,
    /// Keyspace notification classes (`notify-keyspace-events`), as [`keyspace_events`] bits;
    /// 0 (the default) turns notifications off.
    pub notify_keyspace_events: u32,
    /// Milliseconds a script may run before other clients get BUSY and it can be killed
    /// (`busy-reply-threshold`, alias `lua-time-limit`); 0 disables both.
    pub busy_reply_threshold: u64,
    /// Where the configuration was loaded from, for CONFIG REWRITE.
    pub config_file: Option<PathBuf>,
    /// `rename-command old new` lines of the config file, in order; an empty new name disables
    /// the command.
    pub renamed_commands: Vec<(String, String)>,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            port: 6379,
            bind: vec!["127.0.0.1".into()],
            dir: PathBuf::from("basalt-data"),
            databases: 16,
            requirepass: None,
            maxclients: 10_000,
            timeout: 0,
            loglevel: "notice".into(),
            logfile: String::new(),
            protected_mode: true,
            fsync: FsyncMode::EverySec,
            proto_max_bulk_len: 512 * 1024 * 1024,
            client_query_buffer_limit: 1024 * 1024 * 1024,
            client_output_buffer_limit: OutputBufferLimits::default(),
            tcp_keepalive: 300,
            block_cache_size: 256 * 1024 * 1024,
            write_buffer_size: 64 * 1024 * 1024,
            maxmemory: 0,
            maxmemory_cache_percent: 25,
            maxmemory_memtable_percent: 25,
            direct_reads: false,
            block_size: 16 * 1024,
            compression: Compression::Lz4,
            max_background_jobs: 2,
            slowlog_log_slower_than: 10_000,
            slowlog_max_len: 128,
            latency_monitor_threshold: 0,
            notify_keyspace_events: 0,
            busy_reply_threshold: 5000,
            config_file: None,
            renamed_commands: Vec::new(),
        }
    }
}

/// One configuration parameter: its canonical name, an alias, and whether CONFIG SET may change it.
pub struct Param {
    pub name: &'static str,
    pub alias: Option<&'static str>,
    pub mutable: bool,
}

const fn p(name: &'static str, mutable: bool) -> Param {
    Param {
        name,
        alias: None,
        mutable,
    }
}

/// Every parameter the server understands, in CONFIG REWRITE order.
pub const PARAMS: &[Param] = &[
    p("port", false),
    p("bind", false),
    p("dir", false),
    p("databases", false),
    p("requirepass", true),
    p("maxclients", true),
    p("timeout", true),
    p("loglevel", true),
    p("logfile", false),
    p("protected-mode", true),
    Param {
        name: "fsync",
        alias: Some("appendfsync"),
        mutable: true,
    },
    p("proto-max-bulk-len", true),
    p("client-query-buffer-limit", true),
    p("client-output-buffer-limit", true),
    p("tcp-keepalive", true),
    p("rocksdb-block-cache-size", false),
    p("rocksdb-write-buffer-size", false),
    p("rocksdb-compression", false),
    p("rocksdb-max-background-jobs", false),
    p("rocksdb-direct-reads", false),
    p("rocksdb-block-size", false),
    p("maxmemory", true),
    p("maxmemory-cache-percent", true),
    p("maxmemory-memtable-percent", true),
    p("slowlog-log-slower-than", true),
    p("slowlog-max-len", true),
    p("latency-monitor-threshold", true),
    p("notify-keyspace-events", true),
    Param {
        name: "busy-reply-threshold",
        alias: Some("lua-time-limit"),
        mutable: true,
    },
    // Answered for the benefit of tools (redis-benchmark asks for these on connect); fixed values.
    // Settable (as no-ops) because client test suites send `CONFIG SET save ""`.
    p("save", true),
    p("appendonly", true),
];

/// The classes of `notify-keyspace-events`: Redis's bits and letters (notify.c).
pub mod keyspace_events {
    /// `K`: publish to `__keyspace@<db>__:<key>`.
    pub const KEYSPACE: u32 = 1 << 0;
    /// `E`: publish to `__keyevent@<db>__:<event>`.
    pub const KEYEVENT: u32 = 1 << 1;
    /// `g`: generic commands (DEL, EXPIRE, RENAME, ...).
    pub const GENERIC: u32 = 1 << 2;
    /// `$`: string commands.
    pub const STRING: u32 = 1 << 3;
    /// `l`: list commands.
    pub const LIST: u32 = 1 << 4;
    /// `s`: set commands.
    pub const SET: u32 = 1 << 5;
    /// `h`: hash commands.
    pub const HASH: u32 = 1 << 6;
    /// `z`: sorted set commands.
    pub const ZSET: u32 = 1 << 7;
    /// `x`: a key expired.
    pub const EXPIRED: u32 = 1 << 8;
    /// `e`: a key was evicted (Basalt does not evict, so never emitted).
    pub const EVICTED: u32 = 1 << 9;
    /// `t`: stream commands.
    pub const STREAM: u32 = 1 << 10;
    /// `m`: a read missed its key.
    pub const KEY_MISS: u32 = 1 << 11;
    /// `d`: module events.
    pub const MODULE: u32 = 1 << 13;
    /// `n`: a key was created.
    pub const NEW: u32 = 1 << 14;
    /// `A`: Redis's NOTIFY_ALL, which leaves out `m` and `n`.
    pub const ALL: u32 =
        GENERIC | STRING | LIST | SET | HASH | ZSET | EXPIRED | EVICTED | STREAM | MODULE;

    /// Redis's `keyspaceEventsStringToFlags`: None for a character that is not a class.
    pub fn parse(s: &str) -> Option<u32> {
        s.bytes().try_fold(0, |flags, c| {
            Some(
                flags
                    | match c {
                        b'A' => ALL,
                        b'g' => GENERIC,
                        b'$' => STRING,
                        b'l' => LIST,
                        b's' => SET,
                        b'h' => HASH,
                        b'z' => ZSET,
                        b'x' => EXPIRED,
                        b'e' => EVICTED,
                        b'K' => KEYSPACE,
                        b'E' => KEYEVENT,
                        b't' => STREAM,
                        b'm' => KEY_MISS,
                        b'd' => MODULE,
                        b'n' => NEW,
                        _ => return None,
                    },
            )
        })
    }

    /// Redis's `keyspaceEventsFlagsToString`, letter order included. As in Redis, `n` is not
    /// shown next to `A` (CONFIG GET after `KEAn` reads `AKE`), though it stays set.
    pub fn render(flags: u32) -> String {
        let mut out = String::new();
        if flags & ALL == ALL {
            out.push('A');
        } else {
            for (bit, c) in [
                (GENERIC, 'g'),
                (STRING, '$'),
                (LIST, 'l'),
                (SET, 's'),
                (HASH, 'h'),
                (ZSET, 'z'),
                (EXPIRED, 'x'),
                (EVICTED, 'e'),
                (STREAM, 't'),
                (MODULE, 'd'),
                (NEW, 'n'),
            ] {
                if flags & bit != 0 {
                    out.push(c);
                }
            }
        }
        for (bit, c) in [(KEYSPACE, 'K'), (KEYEVENT, 'E'), (KEY_MISS, 'm')] {
            if flags & bit != 0 {
                out.push(c);
            }
        }
        out
    }
}

/// Looks up a parameter by its name or alias, case-insensitively.
pub fn find_param(name: &str) -> Option<&'static Param> {
    PARAMS.iter().find(|p| {
        p.name.eq_ignore_ascii_case(name) || p.alias.is_some_and(|a| a.eq_ignore_ascii_case(name))
    })
}

/// Parses a Redis memory value: plain bytes or with a k/kb/m/mb/g/gb unit (case-insensitive).
pub fn parse_memory(s: &str) -> Option<u64> {
    let lower = s.to_ascii_lowercase();
    let split = lower
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(lower.len());
    let (num, unit) = lower.split_at(split);
    let mul: u64 = match unit {
        "" | "b" => 1,
        "k" => 1000,
        "kb" => 1024,
        "m" => 1000 * 1000,
        "mb" => 1024 * 1024,
        "g" => 1000 * 1000 * 1000,
        "gb" => 1024 * 1024 * 1024,
        _ => return None,
    };
    num.parse::<u64>().ok()?.checked_mul(mul)
}

fn parse_bool(s: &str) -> Option<bool> {
    match s.to_ascii_lowercase().as_str() {
        "yes" => Some(true),
        "no" => Some(false),
        _ => None,
    }
}

fn yes_no(b: bool) -> String {
    if b { "yes" } else { "no" }.to_string()
}

fn num<T: std::str::FromStr>(s: &str) -> Result<T, String> {
    s.parse::<T>()
        .map_err(|_| "argument couldn't be parsed into an integer".to_string())
}

fn mem(s: &str) -> Result<u64, String> {
    parse_memory(s).ok_or_else(|| "argument must be a memory value".to_string())
}

/// An integer within Redis's bounds for the parameter, with Redis's range error.
fn bounded(s: &str, min: u64, max: u64) -> Result<u64, String> {
    let v: i64 = num(s)?;
    match u64::try_from(v) {
        Ok(v) if (min..=max).contains(&v) => Ok(v),
        _ => Err(format!(
            "argument must be between {min} and {max} inclusive"
        )),
    }
}

/// A memory value of at least `min` bytes, with Redis's range error.
fn mem_at_least(s: &str, min: u64) -> Result<u64, String> {
    let v = mem(s)?;
    if v < min {
        return Err(format!(
            "argument must be between {min} and {} inclusive",
            i64::MAX
        ));
    }
    Ok(v)
}

/// How the memory budget is divided, derived from the configuration by [`Config::memory_plan`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MemoryPlan {
    /// The whole budget: `maxmemory`, or derived from `rocksdb-block-cache-size` when that is 0.
    pub budget: u64,
    /// Kept out of the split for what no cache accounts for: code, thread stacks, connection
    /// and compaction buffers, allocator slack (see [`reserve_for`]).
    pub reserve: u64,
    /// Bytes for the hot-key cache.
    pub hot_cache: u64,
    /// Capacity of RocksDB's block cache: the rest of the budget. Memtables are charged to it
    /// (write-buffer manager), as are index and filter blocks, so it bounds all three.
    pub block_cache: u64,
    /// Most bytes all memtables together may hold before RocksDB flushes the largest.
    pub memtables: u64,
    /// Memtable size of each column family: `rocksdb-write-buffer-size`, at most half of
    /// `memtables` so a flush is triggered by the column family before the manager steps in.
    pub write_buffer: u64,
}

/// The smallest budget the plan uses, whatever `maxmemory` says: below it RocksDB would flush
/// memtables of a few kilobytes and thrash its block cache.
pub const MIN_BUDGET: u64 = 16 * 1024 * 1024;

/// The part of a `maxmemory` budget kept for memory that is not in a cache: a fifth of it,
/// between 16 and 64 MB. Measured under a GET load at a 64 MB budget: RSS is ~15 MB idle (11 MB
/// of it code), and block reads, RocksDB's file and compaction buffers, connections and
/// allocator slack add ~20 MB beyond the caches. At most half the budget.
pub fn reserve_for(budget: u64) -> u64 {
    (budget / 5).clamp(16 << 20, 64 << 20).min(budget / 2)
}

impl Config {
    /// Divides the memory budget: a fixed reserve first ([`reserve_for`]), then
    /// `maxmemory-cache-percent` of the rest to the hot-key cache and the remainder to the RocksDB
    /// block cache, inside which memtables may take `maxmemory-memtable-percent`. With
    /// `maxmemory 0` the budget is the one whose RocksDB share is `rocksdb-block-cache-size`, so
    /// that parameter keeps its meaning.
    pub fn memory_plan(&self) -> MemoryPlan {
        let cache_pct = self.maxmemory_cache_percent.min(90);
        let (budget, reserve, hot_cache, block_cache) = if self.maxmemory > 0 {
            let budget = self.maxmemory.max(MIN_BUDGET);
            let reserve = reserve_for(budget);
            let split = budget - reserve;
            let hot = split / 100 * cache_pct;
            (budget, reserve, hot, split - hot)
        } else {
            // No budget given: the block cache is the configured one, the rest follows.
            let rocks = self.block_cache_size.max(MIN_BUDGET);
            let hot = rocks.saturating_mul(cache_pct) / (100 - cache_pct);
            let split = rocks.saturating_add(hot);
            let reserve = reserve_for(split);
            (split + reserve, reserve, hot, rocks)
        };
        let split = budget - reserve;
        let memtables = (split / 100 * self.maxmemory_memtable_percent.clamp(1, 50))
            .min(block_cache / 2)
            .max(1 << 20);
        let write_buffer = self.write_buffer_size.min(memtables / 2).max(64 * 1024);
        MemoryPlan {
            budget,
            reserve,
            hot_cache,
            block_cache,
            memtables,
            write_buffer,
        }
    }
}

impl Config {
    /// The current value of a parameter as CONFIG GET shows it.
    pub fn get(&self, name: &str) -> Option<String> {
        let param = find_param(name)?;
        Some(match param.name {
            "port" => self.port.to_string(),
            "bind" => self.bind.join(" "),
            "dir" => self.dir.display().to_string(),
            "databases" => self.databases.to_string(),
            "requirepass" => self.requirepass.clone().unwrap_or_default(),
            "maxclients" => self.maxclients.to_string(),
            "timeout" => self.timeout.to_string(),
            "loglevel" => self.loglevel.clone(),
            "logfile" => self.logfile.clone(),
            "protected-mode" => yes_no(self.protected_mode),
            "fsync" => self.fsync.as_str().to_string(),
            "proto-max-bulk-len" => self.proto_max_bulk_len.to_string(),
            "client-query-buffer-limit" => self.client_query_buffer_limit.to_string(),
            "client-output-buffer-limit" => self.client_output_buffer_limit.render(),
            "tcp-keepalive" => self.tcp_keepalive.to_string(),
            "rocksdb-block-cache-size" => self.block_cache_size.to_string(),
            "rocksdb-write-buffer-size" => self.write_buffer_size.to_string(),
            "rocksdb-compression" => self.compression.as_str().to_string(),
            "rocksdb-max-background-jobs" => self.max_background_jobs.to_string(),
            "slowlog-log-slower-than" => self.slowlog_log_slower_than.to_string(),
            "slowlog-max-len" => self.slowlog_max_len.to_string(),
            "latency-monitor-threshold" => self.latency_monitor_threshold.to_string(),
            "busy-reply-threshold" => self.busy_reply_threshold.to_string(),
            "notify-keyspace-events" => keyspace_events::render(self.notify_keyspace_events),
            "save" => String::new(),
            "appendonly" => "no".to_string(),
            "maxmemory" => self.maxmemory.to_string(),
            "maxmemory-cache-percent" => self.maxmemory_cache_percent.to_string(),
            "maxmemory-memtable-percent" => self.maxmemory_memtable_percent.to_string(),
            "rocksdb-direct-reads" => yes_no(self.direct_reads),
            "rocksdb-block-size" => self.block_size.to_string(),
            _ => return None,
        })
    }

    /// Sets a parameter from its textual value. Mutability is the caller's concern (the file may set
    /// anything, CONFIG SET only the mutable ones). The error is Redis's reason text.
    pub fn set(&mut self, name: &str, value: &str) -> Result<(), String> {
        let param = find_param(name).ok_or_else(|| format!("Unknown option '{name}'"))?;
        match param.name {
            "port" => self.port = num(value)?,
            "bind" => {
                self.bind = value.split_whitespace().map(str::to_string).collect();
                if self.bind.is_empty() {
                    return Err("Too many bind addresses specified.".into());
                }
            }
            "dir" => self.dir = PathBuf::from(value),
            "databases" => {
                let n: u32 = num(value)?;
                if !(1..=255).contains(&n) {
                    return Err("argument must be between 1 and 255 inclusive".into());
                }
                self.databases = n;
            }
            "requirepass" => {
                self.requirepass = (!value.is_empty()).then(|| value.to_string());
            }
            "maxclients" => {
                let n: u32 = num(value)?;
                if n == 0 {
                    return Err("argument must be between 1 and 4294967295 inclusive".into());
                }
                self.maxclients = n;
            }
            "timeout" => self.timeout = bounded(value, 0, i32::MAX as u64)?,
            "loglevel" => {
                let v = value.to_ascii_lowercase();
                if !["debug", "verbose", "notice", "warning"].contains(&v.as_str()) {
                    return Err(
                        "argument(s) must be one of the following: debug, verbose, notice, warning"
                            .into(),
                    );
                }
                self.loglevel = v;
            }
            "logfile" => self.logfile = value.to_string(),
            "protected-mode" => {
                self.protected_mode =
                    parse_bool(value).ok_or_else(|| "argument must be 'yes' or 'no'".to_string())?
            }
            "fsync" => {
                self.fsync = FsyncMode::parse(value).ok_or_else(|| {
                    "argument(s) must be one of the following: everysec, always, no".to_string()
                })?
            }
            "proto-max-bulk-len" => self.proto_max_bulk_len = mem_at_least(value, 1 << 20)?,
            "client-query-buffer-limit" => {
                self.client_query_buffer_limit = mem_at_least(value, 1 << 20)?
            }
            "client-output-buffer-limit" => self.client_output_buffer_limit.apply(value)?,
            "tcp-keepalive" => self.tcp_keepalive = num(value)?,
            "rocksdb-block-cache-size" => self.block_cache_size = mem(value)?,
            "rocksdb-write-buffer-size" => {
                let v = mem(value)?;
                if v < 64 * 1024 {
                    return Err("argument must be a memory value of at least 64kb".into());
                }
                self.write_buffer_size = v;
            }
            "rocksdb-compression" => {
                self.compression = Compression::parse(value).ok_or_else(|| {
                    "argument(s) must be one of the following: none, lz4, zstd".to_string()
                })?
            }
            "rocksdb-max-background-jobs" => {
                let n: u32 = num(value)?;
                if n == 0 {
                    return Err("argument must be at least 1".into());
                }
                self.max_background_jobs = n;
            }
            // Redis's bounds: -1 (off) up to LLONG_MAX; 0..LONG_MAX; 0..LLONG_MAX.
            "slowlog-log-slower-than" => {
                let v: i64 = num(value)?;
                if v < -1 {
                    return Err(format!(
                        "argument must be between -1 and {} inclusive",
                        i64::MAX
                    ));
                }
                self.slowlog_log_slower_than = v;
            }
            "slowlog-max-len" => self.slowlog_max_len = bounded(value, 0, i64::MAX as u64)?,
            "busy-reply-threshold" => {
                self.busy_reply_threshold = bounded(value, 0, i64::MAX as u64)?
            }
            "latency-monitor-threshold" => {
                self.latency_monitor_threshold = bounded(value, 0, i64::MAX as u64)?
            }
            "notify-keyspace-events" => {
                self.notify_keyspace_events = keyspace_events::parse(value).ok_or_else(|| {
                    "Invalid event class character. Use 'Ag$lshzxeKEtmdn'.".to_string()
                })?
            }
            "maxmemory" => self.maxmemory = mem(value)?,
            "maxmemory-cache-percent" => self.maxmemory_cache_percent = bounded(value, 0, 90)?,
            "maxmemory-memtable-percent" => {
                self.maxmemory_memtable_percent = bounded(value, 1, 50)?
            }
            "rocksdb-block-size" => {
                let v = mem(value)?;
                if !(1024..=1 << 20).contains(&v) {
                    return Err("argument must be a memory value between 1kb and 1mb".into());
                }
                self.block_size = v;
            }
            "rocksdb-direct-reads" => {
                self.direct_reads =
                    parse_bool(value).ok_or_else(|| "argument must be 'yes' or 'no'".to_string())?
            }
            // Accepted so a redis.conf carrying them loads; Basalt's persistence is the WAL.
            "save" | "appendonly" => {}
            _ => unreachable!("every PARAMS entry is handled"),
        }
        Ok(())
    }

    /// Applies a redis.conf-style text: one `name value...` per line, `#` comments, quoted values.
    pub fn apply_file_text(&mut self, text: &str) -> Result<(), String> {
        for (lineno, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let words = split_config_line(line)
                .ok_or_else(|| format!("line {}: unbalanced quotes", lineno + 1))?;
            let Some((name, values)) = words.split_first() else {
                continue;
            };
            // Only in the file, as in Redis: a rename is fixed for the server's lifetime.
            if name.eq_ignore_ascii_case("rename-command") {
                let [old, new] = values else {
                    return Err(format!(
                        "line {}: '{}': rename-command takes a command and its new name",
                        lineno + 1,
                        line
                    ));
                };
                self.renamed_commands
                    .push((old.to_ascii_lowercase(), new.clone()));
                continue;
            }
            let value = values.join(" ");
            self.set(name, &value)
                .map_err(|e| format!("line {}: '{}': {}", lineno + 1, line, e))?;
        }
        Ok(())
    }

    /// Loads a configuration file on top of the current values and remembers its path.
    pub fn load_file(&mut self, path: &Path) -> Result<(), String> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read config file {}: {e}", path.display()))?;
        self.apply_file_text(&text)?;
        self.config_file = Some(path.to_path_buf());
        Ok(())
    }

    /// Rewrites the configuration file: lines for known parameters are replaced in place with the
    /// current values, other lines and comments are kept, missing parameters are appended.
    pub fn rewrite(&self) -> Result<(), String> {
        let path = self
            .config_file
            .as_ref()
            .ok_or_else(|| "The server is running without a config file".to_string())?;
        let old = std::fs::read_to_string(path).unwrap_or_default();
        let mut written = std::collections::HashSet::new();
        let mut out = String::new();
        for line in old.lines() {
            let name = line.split_whitespace().next().unwrap_or("");
            match (line.trim_start().starts_with('#'), find_param(name)) {
                (false, Some(param)) => {
                    if written.insert(param.name) {
                        self.rewrite_line(&mut out, param);
                    }
                }
                _ => {
                    out.push_str(line);
                    out.push('\n');
                }
            }
        }
        for param in PARAMS {
            if !written.contains(param.name) && !matches!(param.name, "save" | "appendonly") {
                self.rewrite_line(&mut out, param);
            }
        }
        let tmp = path.with_extension("tmp-rewrite");
        std::fs::write(&tmp, out).map_err(|e| e.to_string())?;
        std::fs::rename(&tmp, path).map_err(|e| e.to_string())
    }

    fn rewrite_line(&self, out: &mut String, param: &Param) {
        let value = self.get(param.name).unwrap_or_default();
        let _ = writeln!(out, "{} {}", param.name, quote_if_needed(&value));
    }
}

fn quote_if_needed(v: &str) -> String {
    if v.is_empty() || v.contains(|c: char| c.is_whitespace() || c == '"' || c == '\'') {
        format!("{:?}", v)
    } else {
        v.to_string()
    }
}

/// Splits a configuration line into words, honouring double and single quotes.
fn split_config_line(line: &str) -> Option<Vec<String>> {
    let mut words = Vec::new();
    let mut chars = line.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
        let Some(&first) = chars.peek() else {
            return Some(words);
        };
        let mut word = String::new();
        if first == '"' || first == '\'' {
            chars.next();
            loop {
                match chars.next()? {
                    '\\' if first == '"' => word.push(chars.next()?),
                    c if c == first => break,
                    c => word.push(c),
                }
            }
        } else {
            while let Some(&c) = chars.peek() {
                if c.is_whitespace() {
                    break;
                }
                word.push(c);
                chars.next();
            }
        }
        words.push(word);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keyspace_events_parse_and_render_as_redis() {
        let round = |v: &str| keyspace_events::render(keyspace_events::parse(v).unwrap());
        assert_eq!(round("KEA"), "AKE");
        assert_eq!(round("KEAnm"), "AKEm");
        assert_eq!(round("Kgg"), "gK");
        assert_eq!(round("Etd"), "tdE");
        assert_eq!(round("E$lxm"), "$lxEm");
        assert_eq!(round("g$lshzxetd"), "A");
        assert_eq!(round("nK"), "nK");
        assert_eq!(round(""), "");
        assert!(keyspace_events::parse("Kq").is_none());
        let mut cfg = Config::default();
        assert_eq!(cfg.get("notify-keyspace-events").as_deref(), Some(""));
        let e = cfg.set("notify-keyspace-events", "K?").unwrap_err();
        assert_eq!(e, "Invalid event class character. Use 'Ag$lshzxeKEtmdn'.");
        cfg.set("notify-keyspace-events", "Elg").unwrap();
        assert_eq!(cfg.get("notify-keyspace-events").as_deref(), Some("glE"));
        // From a file, quoted as CONFIG REWRITE writes it (an empty value is `""`).
        cfg.apply_file_text("notify-keyspace-events \"Ex\"\n")
            .unwrap();
        assert_eq!(cfg.get("notify-keyspace-events").as_deref(), Some("xE"));
        cfg.apply_file_text("notify-keyspace-events \"\"\n")
            .unwrap();
        assert_eq!(cfg.notify_keyspace_events, 0);
        assert!(cfg.apply_file_text("notify-keyspace-events KQ\n").is_err());
    }

    #[test]
    fn memory_plan_splits_the_budget() {
        let mut c = Config::default();
        // No maxmemory: RocksDB's share is the configured block cache.
        let p = c.memory_plan();
        assert_eq!(p.block_cache, 256 << 20);
        assert_eq!(p.reserve + p.hot_cache + p.block_cache, p.budget);
        assert_eq!(p.hot_cache, (256u64 << 20) * 25 / 75);
        c.set("maxmemory", "64mb").unwrap();
        let p = c.memory_plan();
        assert_eq!(p.budget, 64 << 20);
        assert_eq!(p.reserve, 16 << 20);
        assert_eq!(p.reserve + p.hot_cache + p.block_cache, 64 << 20);
        assert_eq!(p.memtables, (48 << 20) / 100 * 25);
        assert!(p.write_buffer <= p.memtables / 2);
        c.set("maxmemory", "4gb").unwrap();
        assert_eq!(c.memory_plan().reserve, 64 << 20);
        c.set("maxmemory", "64mb").unwrap();
        c.set("maxmemory-cache-percent", "0").unwrap();
        assert_eq!(c.memory_plan().hot_cache, 0);
        assert_eq!(c.memory_plan().block_cache, 48 << 20);
        assert!(c.set("maxmemory-cache-percent", "91").is_err());
        assert!(c.set("maxmemory-memtable-percent", "0").is_err());
        c.set("maxmemory", "1mb").unwrap();
        assert_eq!(c.memory_plan().budget, MIN_BUDGET);
        assert_eq!(c.get("maxmemory").as_deref(), Some("1048576"));
    }

    #[test]
    fn memory_units() {
        assert_eq!(parse_memory("100"), Some(100));
        assert_eq!(parse_memory("1k"), Some(1000));
        assert_eq!(parse_memory("1KB"), Some(1024));
        assert_eq!(parse_memory("512mb"), Some(512 << 20));
        assert_eq!(parse_memory("2gb"), Some(2 << 30));
        assert_eq!(parse_memory("x"), None);
        assert_eq!(parse_memory("1tb"), None);
    }

    #[test]
    fn file_overrides_defaults_and_alias_works() {
        let mut c = Config::default();
        c.apply_file_text(
            "# comment\nport 7000\nappendfsync always\nbind 0.0.0.0 ::1\nrequirepass \"a b\"\n",
        )
        .unwrap();
        assert_eq!(c.port, 7000);
        assert_eq!(c.fsync, FsyncMode::Always);
        assert_eq!(c.bind, vec!["0.0.0.0", "::1"]);
        assert_eq!(c.requirepass.as_deref(), Some("a b"));
        assert_eq!(c.get("appendfsync").as_deref(), Some("always"));
    }

    #[test]
    fn bad_values_are_rejected_with_reason() {
        let mut c = Config::default();
        assert!(c.set("port", "abc").is_err());
        assert!(c.set("fsync", "sometimes").is_err());
        assert!(c.set("nope", "1").is_err());
        assert!(c.apply_file_text("port \"7000").is_err());
    }

    #[test]
    fn output_buffer_limits_follow_redis_syntax() {
        let mut c = Config::default();
        assert_eq!(
            c.get("client-output-buffer-limit").as_deref(),
            Some("normal 0 0 0 slave 268435456 67108864 60 pubsub 33554432 8388608 60")
        );
        c.set("client-output-buffer-limit", "pubsub 1mb 0 0")
            .unwrap();
        c.set(
            "client-output-buffer-limit",
            "REPLICA 1k 2kb 3 normal 5 6 7",
        )
        .unwrap();
        assert_eq!(
            c.get("client-output-buffer-limit").as_deref(),
            Some("normal 5 6 7 slave 1000 2048 3 pubsub 1048576 0 0")
        );
        // Later groups win; an empty value changes nothing.
        c.set("client-output-buffer-limit", "slave 1 2 3 slave 7 8 9")
            .unwrap();
        c.set("client-output-buffer-limit", "").unwrap();
        assert_eq!(c.client_output_buffer_limit.replica.hard, 7);
        let err = |v: &str| Config::default().set("client-output-buffer-limit", v);
        assert_eq!(
            err("pubsub 1mb 0"),
            Err("Wrong number of arguments in buffer limit configuration.".into())
        );
        for class in ["master 1 0 0", "foo 1 0 0"] {
            assert_eq!(
                err(class),
                Err("Invalid client class specified in buffer limit configuration.".into())
            );
        }
        for bad in [
            "pubsub x 0 0",
            "pubsub -1 0 0",
            "pubsub 1 0 -1",
            "pubsub 1 0 1x",
        ] {
            assert_eq!(
                err(bad),
                Err(
                    "Error in hard, soft or soft_seconds setting in buffer limit configuration."
                        .into()
                ),
                "{bad}"
            );
        }
        // All or nothing: the valid first group is not applied either.
        let mut c = Config::default();
        assert!(c
            .set("client-output-buffer-limit", "pubsub 1 1 1 normal x 0 0")
            .is_err());
        assert_eq!(c.client_output_buffer_limit, OutputBufferLimits::default());
        // A file may give one class per line, as redis.conf does.
        let mut c = Config::default();
        c.apply_file_text(
            "client-output-buffer-limit pubsub 64mb 16mb 90\nclient-output-buffer-limit normal 1mb 0 0\n",
        )
        .unwrap();
        assert_eq!(
            c.get("client-output-buffer-limit").as_deref(),
            Some("normal 1048576 0 0 slave 268435456 67108864 60 pubsub 67108864 16777216 90")
        );
    }

    #[test]
    fn rewrite_keeps_comments_and_updates_values() {
        let dir = std::env::temp_dir().join(format!("basalt-cfg-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("b.conf");
        std::fs::write(&path, "# mine\nport 7001\ntimeout 5\n").unwrap();
        let mut c = Config::default();
        c.load_file(&path).unwrap();
        c.set("timeout", "9").unwrap();
        c.rewrite().unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.starts_with("# mine\nport 7001\ntimeout 9\n"), "{text}");
        let mut again = Config::default();
        again.load_file(&path).unwrap();
        assert_eq!(again.timeout, 9);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
