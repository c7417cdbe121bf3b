//! The `basalt` server binary: flags and an optional config file become a [`Config`], then the
//! server runs until SHUTDOWN or a termination signal.

use anyhow::Context as _;
use basalt::config::Config;
use clap::Parser;
use std::path::PathBuf;

/// jemalloc serves every allocation of the process, RocksDB's included: it returns freed
/// memory to the OS (background purging) instead of keeping it in per-thread arenas, which is
/// what keeps RSS near the memory budget.
#[cfg(all(target_os = "linux", not(target_env = "musl")))]
#[global_allocator]
static ALLOC: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// jemalloc's options: purge unused pages within a second, from a background thread.
#[cfg(all(target_os = "linux", not(target_env = "musl")))]
#[unsafe(export_name = "malloc_conf")]
pub static MALLOC_CONF: &[u8] = b"background_thread:true,dirty_decay_ms:1000,muzzy_decay_ms:1000\0";

/// A Redis-compatible server that keeps its data on disk in RocksDB.
#[derive(Parser, Debug)]
#[command(name = "basalt", version, about)]
struct Cli {
    /// A redis.conf-style configuration file; flags override it.
    #[arg(long, short = 'c')]
    config: Option<PathBuf>,
    /// TCP port (0 picks a free one).
    #[arg(long)]
    port: Option<u16>,
    /// Addresses to listen on (space-separated or repeated).
    #[arg(long, num_args = 1..)]
    bind: Option<Vec<String>>,
    /// Data directory.
    #[arg(long)]
    dir: Option<PathBuf>,
    /// Number of databases (SELECT 0..N-1), at most 255.
    #[arg(long)]
    databases: Option<String>,
    /// Password clients must AUTH with.
    #[arg(long)]
    requirepass: Option<String>,
    /// Maximum number of connected clients.
    #[arg(long)]
    maxclients: Option<String>,
    /// Close clients idle for this many seconds (0 = never).
    #[arg(long)]
    timeout: Option<String>,
    /// debug, verbose, notice or warning.
    #[arg(long)]
    loglevel: Option<String>,
    /// Log to this file instead of standard error.
    #[arg(long)]
    logfile: Option<String>,
    /// yes or no: refuse non-loopback clients while no password is set.
    #[arg(long = "protected-mode")]
    protected_mode: Option<String>,
    /// When the WAL is fsynced: always, everysec or no.
    #[arg(long, alias = "appendfsync")]
    fsync: Option<String>,
    /// Largest bulk argument accepted (e.g. 512mb).
    #[arg(long = "proto-max-bulk-len")]
    proto_max_bulk_len: Option<String>,
    /// Largest unparsed query buffer per client before it is disconnected.
    #[arg(long = "client-query-buffer-limit")]
    client_query_buffer_limit: Option<String>,
    /// RocksDB block cache size (e.g. 256mb).
    #[arg(long = "rocksdb-block-cache-size")]
    block_cache_size: Option<String>,
    /// RocksDB memtable size per column family (e.g. 64mb).
    #[arg(long = "rocksdb-write-buffer-size")]
    write_buffer_size: Option<String>,
    /// Table compression: none, lz4 or zstd.
    #[arg(long = "rocksdb-compression")]
    compression: Option<String>,
    /// RocksDB background flush and compaction threads.
    #[arg(long = "rocksdb-max-background-jobs")]
    max_background_jobs: Option<String>,
    /// Keyspace notification classes, as Redis's flag letters (e.g. KEA); empty disables.
    #[arg(long = "notify-keyspace-events")]
    notify_keyspace_events: Option<String>,
    /// Memory budget (e.g. 1gb), divided between the hot-key cache, the block cache and the
    /// memtables; 0 derives it from --rocksdb-block-cache-size.
    #[arg(long)]
    maxmemory: Option<String>,
    /// Percent of the budget for the hot-key cache (0-90, 0 disables it).
    #[arg(long = "maxmemory-cache-percent")]
    maxmemory_cache_percent: Option<String>,
    /// Percent of the budget the memtables may use (1-50).
    #[arg(long = "maxmemory-memtable-percent")]
    maxmemory_memtable_percent: Option<String>,
    /// yes or no: read SST files with O_DIRECT, bypassing the OS page cache.
    #[arg(long = "rocksdb-direct-reads")]
    direct_reads: Option<String>,
    /// Uncompressed size of an SST data block (e.g. 4kb).
    #[arg(long = "rocksdb-block-size")]
    block_size: Option<String>,
}

impl Cli {
    /// The flags given, as (parameter, value) pairs applied on top of the file.
    fn overrides(&self) -> Vec<(&'static str, String)> {
        let mut v = Vec::new();
        let mut add = |name: &'static str, value: Option<String>| {
            if let Some(value) = value {
                v.push((name, value));
            }
        };
        add("port", self.port.map(|p| p.to_string()));
        add("bind", self.bind.as_ref().map(|b| b.join(" ")));
        add("dir", self.dir.as_ref().map(|d| d.display().to_string()));
        add("databases", self.databases.clone());
        add("requirepass", self.requirepass.clone());
        add("maxclients", self.maxclients.clone());
        add("timeout", self.timeout.clone());
        add("loglevel", self.loglevel.clone());
        add("logfile", self.logfile.clone());
        add("protected-mode", self.protected_mode.clone());
        add("fsync", self.fsync.clone());
        add("proto-max-bulk-len", self.proto_max_bulk_len.clone());
        add(
            "client-query-buffer-limit",
            self.client_query_buffer_limit.clone(),
        );
        add("rocksdb-block-cache-size", self.block_cache_size.clone());
        add("rocksdb-write-buffer-size", self.write_buffer_size.clone());
        add("rocksdb-compression", self.compression.clone());
        add(
            "rocksdb-max-background-jobs",
            self.max_background_jobs.clone(),
        );
        add(
            "notify-keyspace-events",
            self.notify_keyspace_events.clone(),
        );
        add("maxmemory", self.maxmemory.clone());
        add(
            "maxmemory-cache-percent",
            self.maxmemory_cache_percent.clone(),
        );
        add(
            "maxmemory-memtable-percent",
            self.maxmemory_memtable_percent.clone(),
        );
        add("rocksdb-direct-reads", self.direct_reads.clone());
        add("rocksdb-block-size", self.block_size.clone());
        v
    }
}

fn init_logging(cfg: &Config) -> anyhow::Result<()> {
    let level = match cfg.loglevel.as_str() {
        "debug" => "debug",
        "verbose" => "info",
        "notice" => "info",
        "nothing" => "off",
        _ => "warn",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(format!("basalt={level}")));
    let builder = tracing_subscriber::fmt().with_env_filter(filter);
    if cfg.logfile.is_empty() {
        builder.with_writer(std::io::stderr).init();
    } else {
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&cfg.logfile)
            .with_context(|| format!("opening log file {}", cfg.logfile))?;
        builder
            .with_ansi(false)
            .with_writer(std::sync::Mutex::new(file))
            .init();
    }
    Ok(())
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let mut cfg = Config::default();
    if let Some(path) = &cli.config {
        cfg.load_file(path).map_err(anyhow::Error::msg)?;
    }
    for (name, value) in cli.overrides() {
        cfg.set(name, &value)
            .map_err(|e| anyhow::anyhow!("--{name} {value}: {e}"))?;
    }
    init_logging(&cfg)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("basalt-worker")
        .build()?;
    runtime.block_on(async move {
        let running = basalt::server::start(cfg).await?;
        basalt::server::serve(running).await
    })?;
    Ok(())
}
