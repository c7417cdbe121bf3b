//! The network server: listeners, shared state, background maintenance and shutdown.

pub mod acl;
pub mod blocking;
pub mod client;
pub mod connection;
pub mod notify;
pub mod ops;
pub mod pubsub;
pub mod tracking;

pub use client::{Client, ClientInfo, Clients, ReplyMode};

use crate::config::Config;
use crate::storage::{Store, StoreError};
use parking_lot::RwLock;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::net::TcpListener;
use tokio::sync::Notify;

/// Errors that stop the server from starting or running.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: String,
        source: std::io::Error,
    },
    #[error(transparent)]
    Io(#[from] std::io::Error),
    #[error("configuration: {0}")]
    Config(String),
}

/// Server-wide counters for INFO stats.
#[derive(Default)]
pub struct Stats {
    pub connections_received: AtomicU64,
    pub commands_processed: AtomicU64,
    pub rejected_connections: AtomicU64,
    pub error_replies: AtomicU64,
    pub net_input_bytes: AtomicU64,
    pub net_output_bytes: AtomicU64,
}

impl Stats {
    pub fn note_command(&self, failed: bool) {
        self.commands_processed.fetch_add(1, Ordering::Relaxed);
        if failed {
            self.error_replies.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// A command refused before it ran (unknown, wrong arity, not authenticated).
    pub fn note_rejected(&self) {
        self.error_replies.fetch_add(1, Ordering::Relaxed);
    }

    /// CONFIG RESETSTAT.
    pub fn reset(&self) {
        for c in [
            &self.connections_received,
            &self.commands_processed,
            &self.rejected_connections,
            &self.error_replies,
            &self.net_input_bytes,
            &self.net_output_bytes,
        ] {
            c.store(0, Ordering::Relaxed);
        }
    }
}

/// State shared by every connection.
pub struct Shared {
    pub store: Arc<Store>,
    pub config: RwLock<Config>,
    pub clients: Clients,
    pub stats: Stats,
    pub started: Instant,
    pub started_unix: u64,
    pub run_id: String,
    /// Ports actually bound (the configured port may be 0).
    pub listen_addrs: RwLock<Vec<SocketAddr>>,
    /// Unix seconds of the last successful SAVE/BGSAVE.
    pub last_save: AtomicU64,
    pub bgsave_running: AtomicBool,
    pub scan_cursors: crate::types::keyspace::ScanCursors,
    /// Clients blocked in BLPOP and friends.
    pub blocking: blocking::Blocking,
    /// Command names after the config file's `rename-command` lines.
    pub names: crate::commands::Names,
    /// Pub/sub subscriptions and message delivery.
    pub pubsub: pubsub::Hub,
    /// ACL users and log.
    pub acl: acl::Acl,
    /// CLIENT TRACKING: who cached which keys.
    pub tracking: tracking::Tracking,
    /// The requirepass the default user's password last came from.
    requirepass: parking_lot::Mutex<Option<String>>,
    /// SLOWLOG, LATENCY, MONITOR, CLIENT PAUSE and DEBUG state.
    pub ops: ops::Ops,
    /// Lua scripts, function libraries and the running script.
    pub scripts: crate::scripting::Scripts,
    /// Queues connections for the commands that take the database view exclusively (scripts,
    /// EXEC, FLUSHALL...): one permit, awaited by the connection's task before it runs such a
    /// command, so that a connection waiting its turn frees its worker thread instead of
    /// parking it on the view's lock (see `connection::run_pass`).
    pub exclusive_gate: tokio::sync::Semaphore,
    /// `notify-keyspace-events` mirrored outside the config lock: every write command reads it,
    /// and when it is 0 that one load is all notifications cost.
    notify_flags: AtomicU32,
    shutting_down: AtomicBool,
    shutdown: Notify,
    auth_required: AtomicBool,
}

impl Shared {
    /// Whether clients must AUTH before other commands.
    pub fn auth_required(&self) -> bool {
        self.auth_required.load(Ordering::Relaxed)
    }

    /// Re-reads settings that are cached outside the config lock; call after CONFIG SET.
    pub fn config_changed(&self) {
        let cfg = self.config.read();
        // Only a change of requirepass resets the default user's password (an ACL SETUSER of
        // the default user stays otherwise).
        let mut last = self.requirepass.lock();
        if *last != cfg.requirepass {
            self.acl.set_requirepass(cfg.requirepass.as_deref());
            last.clone_from(&cfg.requirepass);
        }
        drop(last);
        self.acl_changed();
        self.store.wal().set_mode(cfg.fsync);
        if let Err(e) = self.store.set_memory_plan(cfg.memory_plan()) {
            tracing::warn!(error = %e, "applying the new memory budget to RocksDB failed");
        }
        self.ops.config_changed(&cfg);
        self.notify_flags
            .store(cfg.notify_keyspace_events, Ordering::Relaxed);
        self.scripts.busy.set_threshold(cfg.busy_reply_threshold);
        self.store
            .created
            .arm(notify::new_key_events(cfg.notify_keyspace_events));
        self.store
            .arm_expired_hook(notify::expired_events(cfg.notify_keyspace_events));
    }

    /// Re-reads whether new connections must authenticate; call after ACL changes.
    pub fn acl_changed(&self) {
        self.auth_required
            .store(self.acl.auth_required(), Ordering::Relaxed);
    }

    /// Starts an orderly shutdown.
    pub fn request_shutdown(&self) {
        self.shutting_down.store(true, Ordering::Release);
        // A running script stops at its next check, even one that wrote (SHUTDOWN NOSAVE).
        self.scripts.busy.kill_for_shutdown();
        self.shutdown.notify_waiters();
        self.clients.kill_all();
    }

    pub fn is_shutting_down(&self) -> bool {
        self.shutting_down.load(Ordering::Acquire)
    }

    /// The data directory.
    pub fn checkpoint_dir(&self) -> std::path::PathBuf {
        self.config.read().dir.join("checkpoint")
    }

    /// SAVE/BGSAVE: a RocksDB checkpoint of the current state.
    pub fn save(&self) -> Result<(), StoreError> {
        let dest = self.checkpoint_dir();
        self.store.checkpoint(&dest)?;
        self.last_save
            .store(crate::util::time::now_ms() / 1000, Ordering::Relaxed);
        Ok(())
    }
}

fn random_run_id() -> String {
    use rand::Rng;
    let mut rng = rand::rng();
    (0..40)
        .map(|_| char::from_digit(rng.random_range(0..16), 16).unwrap_or('0'))
        .collect()
}

/// A started server: its shared state and bound addresses.
pub struct Running {
    pub shared: Arc<Shared>,
    listeners: Vec<TcpListener>,
}

impl Running {
    /// Addresses the server listens on.
    pub fn local_addrs(&self) -> Vec<SocketAddr> {
        self.shared.listen_addrs.read().clone()
    }
}

/// Opens the store and binds the listeners, without serving yet.
pub async fn start(config: Config) -> Result<Running, ServerError> {
    let names =
        crate::commands::Names::new(&config.renamed_commands).map_err(ServerError::Config)?;
    let store = Store::open(&config)?;
    let mut listeners = Vec::new();
    let mut addrs = Vec::new();
    for host in &config.bind {
        // Redis's "-" prefix marks an optional address: failing to bind it is not fatal.
        let (optional, host) = match host.strip_prefix('-') {
            Some(h) => (true, h),
            None => (false, host.as_str()),
        };
        let addr = if host.contains(':') {
            format!("[{host}]:{}", config.port)
        } else {
            format!("{host}:{}", config.port)
        };
        match TcpListener::bind(&addr).await {
            Ok(l) => {
                addrs.push(l.local_addr()?);
                listeners.push(l);
            }
            Err(e) if optional => {
                tracing::warn!(%addr, error = %e, "could not bind optional address")
            }
            Err(source) => return Err(ServerError::Bind { addr, source }),
        }
    }
    let acl = acl::Acl::new(config.requirepass.as_deref());
    let requirepass = parking_lot::Mutex::new(config.requirepass.clone());
    let auth_required = acl.auth_required();
    let ops = ops::Ops::new(&config);
    let notify_flags = config.notify_keyspace_events;
    let scripts = crate::scripting::Scripts::new(config.busy_reply_threshold);
    store.created.arm(notify::new_key_events(notify_flags));
    store.arm_expired_hook(notify::expired_events(notify_flags));
    let shared = Arc::new(Shared {
        store,
        config: RwLock::new(config),
        clients: Clients::default(),
        stats: Stats::default(),
        started: Instant::now(),
        started_unix: crate::util::time::now_ms() / 1000,
        run_id: random_run_id(),
        listen_addrs: RwLock::new(addrs),
        last_save: AtomicU64::new(crate::util::time::now_ms() / 1000),
        bgsave_running: AtomicBool::new(false),
        scan_cursors: Default::default(),
        blocking: Default::default(),
        names,
        pubsub: Default::default(),
        ops,
        scripts,
        exclusive_gate: tokio::sync::Semaphore::new(1),
        notify_flags: AtomicU32::new(notify_flags),
        shutting_down: AtomicBool::new(false),
        shutdown: Notify::new(),
        auth_required: AtomicBool::new(auth_required),
        acl,
        requirepass,
        tracking: Default::default(),
    });
    // Expired keys removed by the active cycle or replaced by a write become `expired` events.
    // Weak: the store, which keeps the hook, belongs to `shared`.
    let weak = Arc::downgrade(&shared);
    shared.store.set_expired_hook(Box::new(move |db, key| {
        if let Some(shared) = weak.upgrade() {
            shared.notify_keyspace_event(notify::class::EXPIRED, "expired", db, key, 0);
        }
    }));
    // Function libraries persist in the data directory; load them before serving.
    match crate::commands::scripting::load_stored_functions(&shared) {
        Ok(0) => {}
        Ok(n) => tracing::info!(libraries = n, "loaded function libraries"),
        Err(e) => {
            return Err(ServerError::Config(format!(
                "loading function libraries: {e}"
            )))
        }
    }
    Ok(Running { shared, listeners })
}

/// Serves until SHUTDOWN or a termination signal, then makes every write durable.
pub async fn serve(running: Running) -> Result<(), ServerError> {
    let Running { shared, listeners } = running;
    for addr in shared.listen_addrs.read().iter() {
        tracing::info!(%addr, "Ready to accept connections");
    }
    let maintenance = spawn_maintenance(shared.clone());
    let mut accept_tasks = Vec::new();
    for listener in listeners {
        let shared = shared.clone();
        accept_tasks.push(tokio::spawn(accept_loop(shared, listener)));
    }
    wait_for_shutdown(&shared).await;
    tracing::info!("shutting down: closing clients and syncing the write-ahead log");
    shared.request_shutdown();
    for t in &accept_tasks {
        t.abort();
    }
    // Give connections a moment to finish the pass they are in.
    for _ in 0..100 {
        if shared.clients.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let _ = maintenance.join();
    shared
        .store
        .wal()
        .sync(shared.store.rocks())
        .map_err(StoreError::from)?;
    tracing::info!("Basalt is now ready to exit, bye bye...");
    Ok(())
}

async fn wait_for_shutdown(shared: &Shared) {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate()).ok();
    let mut int = signal(SignalKind::interrupt()).ok();
    let notified = shared.shutdown.notified();
    tokio::pin!(notified);
    // The flag may have been set before we started waiting.
    notified.as_mut().enable();
    if shared.is_shutting_down() {
        return;
    }
    tokio::select! {
        _ = &mut notified => {}
        _ = async { match term.as_mut() { Some(s) => { s.recv().await; } None => std::future::pending().await } } => {
            tracing::warn!("received SIGTERM, scheduling shutdown");
        }
        _ = async { match int.as_mut() { Some(s) => { s.recv().await; } None => std::future::pending().await } } => {
            tracing::warn!("received SIGINT, scheduling shutdown");
        }
    }
}

async fn accept_loop(shared: Arc<Shared>, listener: TcpListener) {
    loop {
        match listener.accept().await {
            Ok((stream, peer)) => {
                shared
                    .stats
                    .connections_received
                    .fetch_add(1, Ordering::Relaxed);
                let shared = shared.clone();
                tokio::spawn(connection::handle(shared, stream, peer));
            }
            Err(e) => {
                // Out of file descriptors and the like: back off instead of spinning.
                tracing::warn!(error = %e, "accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
}

/// Background work on a plain thread (RocksDB calls block): active expiry every 100 ms, and once
/// a second the WAL fsync of `fsync everysec` and closing clients idle past `timeout` (as Redis's
/// clientsCron does, so a CONFIG SET timeout reaches clients that were already idle).
fn spawn_maintenance(shared: Arc<Shared>) -> std::thread::JoinHandle<()> {
    std::thread::Builder::new()
        .name("basalt-maintenance".into())
        .spawn(move || {
            let mut last_sync = Instant::now();
            while !shared.is_shutting_down() {
                let store = &shared.store;
                // DEBUG SET-ACTIVE-EXPIRE 0 turns the cycle off (keys still expire on access);
                // so does CLIENT PAUSE, as Redis 7.0 stops active expiry while clients are
                // paused so that a paused dataset does not change under them.
                let active = shared.ops.active_expire.load(Ordering::Relaxed)
                    && shared.ops.pause.current().is_none();
                let cycle = if active {
                    store.expire_cycle(512)
                } else {
                    Ok(0)
                };
                // An expired stream ends its group readers' waits (UNBLOCKED), as in Redis.
                if store.ready.has_pending() {
                    blocking::serve_ready(&shared);
                }
                // Expired keys invalidate what clients cached, as any write does.
                if shared.tracking.is_active() {
                    let keys = crate::storage::written::take();
                    if !keys.is_empty() {
                        shared.tracking.invalidate(&shared, &keys, None);
                    }
                }
                match cycle {
                    // A full round: more keys are due, keep going without sleeping long.
                    Ok(n) if n >= 512 => std::thread::sleep(Duration::from_millis(1)),
                    Ok(_) => std::thread::sleep(Duration::from_millis(100)),
                    Err(e) => {
                        tracing::error!(error = %e, "active expiry failed");
                        std::thread::sleep(Duration::from_millis(500));
                    }
                }
                if last_sync.elapsed() >= Duration::from_secs(1) {
                    if store.wal().mode() == crate::config::FsyncMode::EverySec {
                        if let Err(e) = store.wal().sync(store.rocks()) {
                            tracing::error!(error = %e, "WAL fsync failed");
                        }
                    }
                    let timeout = shared.config.read().timeout;
                    if timeout > 0 {
                        let n = shared.clients.reap_idle(timeout);
                        if n > 0 {
                            tracing::debug!(clients = n, "closed idle clients");
                        }
                    }
                    last_sync = Instant::now();
                }
            }
        })
        .expect("spawning the maintenance thread")
}
