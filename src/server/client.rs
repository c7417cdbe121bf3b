//! Per-connection state and the registry of connected clients (CLIENT LIST, KILL, INFO clients).

use parking_lot::Mutex;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicU8, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Instant;
use tokio::sync::Notify;

/// What CLIENT REPLY asked for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReplyMode {
    On,
    Off,
    /// Skip the reply of the next command only.
    Skip,
    /// Set by SKIP: this command's reply is dropped, then back to On.
    SkipThis,
}

/// The part of a client's state other connections may read or signal (CLIENT LIST/KILL).
pub struct ClientInfo {
    pub id: u64,
    pub addr: String,
    pub laddr: String,
    /// The socket's file descriptor, for CLIENT LIST.
    pub fd: i32,
    pub created: Instant,
    pub name: Mutex<Option<String>>,
    pub lib_name: Mutex<Option<String>>,
    pub lib_ver: Mutex<Option<String>>,
    pub db: AtomicUsize,
    /// Milliseconds since `created` of the last command.
    pub last_active_ms: AtomicU64,
    pub last_cmd: Mutex<&'static str>,
    pub resp: AtomicU8,
    pub query_buf: AtomicUsize,
    pub no_evict: AtomicBool,
    pub no_touch: AtomicBool,
    /// In a blocking command (CLIENT LIST flag `b`).
    pub blocked: AtomicBool,
    /// Commands queued by MULTI, or -1 outside a transaction (CLIENT LIST `multi=`, flag `x`).
    pub multi: std::sync::atomic::AtomicI64,
    /// CLIENT TRACKING: bit 0 on, bit 1 BCAST (CLIENT LIST flags `t`, `B`).
    pub tracking: AtomicU8,
    /// The ACL user the client authenticated as (CLIENT LIST `user=`, CLIENT KILL USER).
    pub user: Mutex<String>,
    /// In MONITOR mode (CLIENT LIST flag `O`).
    pub monitor: AtomicBool,
    /// Subscription counts and messages waiting to be written (pub/sub).
    pub pubsub: super::pubsub::Mailbox,
    killed: AtomicBool,
    kill_notify: Notify,
}

impl ClientInfo {
    /// Asks the connection to close (CLIENT KILL, SHUTDOWN).
    pub fn kill(&self) {
        self.killed.store(true, Ordering::Release);
        self.kill_notify.notify_one();
    }

    pub fn is_killed(&self) -> bool {
        self.killed.load(Ordering::Acquire)
    }

    /// Resolves when [`ClientInfo::kill`] has been called.
    pub async fn killed(&self) {
        while !self.is_killed() {
            self.kill_notify.notified().await;
        }
    }

    /// Seconds since the last command.
    pub fn idle_secs(&self) -> u64 {
        let now = self.created.elapsed().as_millis() as u64;
        now.saturating_sub(self.last_active_ms.load(Ordering::Relaxed)) / 1000
    }
}

/// A transaction being queued between MULTI and EXEC.
#[derive(Default)]
pub struct Multi {
    /// The queued commands, checked for existence and arity when queued.
    pub queued: Vec<crate::commands::args::OwnedArgs>,
    /// A command was refused while queueing: EXEC answers EXECABORT.
    pub aborted: bool,
}

/// One key under WATCH.
pub struct WatchedKey {
    pub phys: u8,
    /// The logical database, to look the key up again at EXEC.
    pub db: usize,
    pub key: Vec<u8>,
    /// Whether the key existed (unexpired) when watched: if it has expired by EXEC, that is a
    /// change, as in Redis.
    pub existed: bool,
}

/// The keys a client watches and the flag any write to them raises.
#[derive(Default)]
pub struct Watching {
    pub dirty: crate::storage::watch::DirtyFlag,
    pub keys: Vec<WatchedKey>,
}

/// State owned by the connection task.
pub struct Client {
    pub info: Arc<ClientInfo>,
    /// Selected logical database.
    pub db: usize,
    pub resp3: bool,
    /// Channels, patterns and shard channels this connection is subscribed to.
    pub pubsub: super::pubsub::Subscriptions,
    pub authenticated: bool,
    /// Close the connection once this pass's replies are written (QUIT, protocol error).
    pub close_after_reply: bool,
    pub reply_mode: ReplyMode,
    /// Between MULTI and EXEC/DISCARD.
    pub multi: Option<Multi>,
    pub watching: Watching,
    /// The ACL user; None is the default user.
    pub user: Option<Arc<super::acl::User>>,
    /// CLIENT CACHING YES/NO, for the next command only.
    pub caching: Option<bool>,
}

impl Client {
    pub fn new(info: Arc<ClientInfo>, authenticated: bool) -> Self {
        Self {
            info,
            db: 0,
            resp3: false,
            pubsub: Default::default(),
            authenticated,
            close_after_reply: false,
            reply_mode: ReplyMode::On,
            multi: None,
            watching: Watching::default(),
            user: None,
            caching: None,
        }
    }

    pub fn id(&self) -> u64 {
        self.info.id
    }

    /// Records the command about to run, for CLIENT LIST's `cmd`.
    pub fn note_command(&mut self, name: &'static str) {
        *self.info.last_cmd.lock() = name;
    }

    /// Records input from the client, for CLIENT LIST's `idle` and the idle `timeout`.
    pub fn touch(&mut self) {
        self.info.last_active_ms.store(
            self.info.created.elapsed().as_millis() as u64,
            Ordering::Relaxed,
        );
    }

    /// Selects a database, keeping the shared info in step.
    pub fn select(&mut self, db: usize) {
        self.db = db;
        self.info.db.store(db, Ordering::Relaxed);
    }

    /// Switches to an ACL user (AUTH, HELLO AUTH, RESET).
    pub fn set_user(&mut self, user: Arc<super::acl::User>) {
        *self.info.user.lock() = user.name.clone();
        self.user = (user.name != "default").then_some(user);
    }

    /// Forgets every watched key (UNWATCH, EXEC, DISCARD, RESET, disconnect).
    pub fn unwatch(&mut self, store: &crate::storage::Store) {
        for k in self.watching.keys.drain(..) {
            store
                .watches
                .unwatch(&(k.phys, k.key), &self.watching.dirty);
        }
        self.watching.dirty.store(false, Ordering::SeqCst);
    }

    /// Switches protocol version, keeping the shared info in step.
    pub fn set_resp(&mut self, version: u8) {
        self.resp3 = version == 3;
        self.info.resp.store(version, Ordering::Relaxed);
    }
}

/// The registry of connected clients.
pub struct Clients {
    map: Mutex<HashMap<u64, Arc<ClientInfo>>>,
    next_id: AtomicU64,
}

impl Default for Clients {
    fn default() -> Self {
        Self {
            map: Mutex::new(HashMap::new()),
            next_id: AtomicU64::new(1),
        }
    }
}

impl Clients {
    /// Registers a new connection; None when `max` clients are already connected.
    pub fn register(
        &self,
        addr: String,
        laddr: String,
        fd: i32,
        max: usize,
    ) -> Option<Arc<ClientInfo>> {
        let mut map = self.map.lock();
        if map.len() >= max {
            return None;
        }
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let info = Arc::new(ClientInfo {
            id,
            addr,
            laddr,
            fd,
            created: Instant::now(),
            name: Mutex::new(None),
            lib_name: Mutex::new(None),
            lib_ver: Mutex::new(None),
            db: AtomicUsize::new(0),
            last_active_ms: AtomicU64::new(0),
            last_cmd: Mutex::new("NULL"),
            resp: AtomicU8::new(2),
            query_buf: AtomicUsize::new(0),
            no_evict: AtomicBool::new(false),
            no_touch: AtomicBool::new(false),
            blocked: AtomicBool::new(false),
            multi: std::sync::atomic::AtomicI64::new(-1),
            tracking: AtomicU8::new(0),
            user: Mutex::new("default".into()),
            monitor: AtomicBool::new(false),
            pubsub: Default::default(),
            killed: AtomicBool::new(false),
            kill_notify: Notify::new(),
        });
        map.insert(id, info.clone());
        Some(info)
    }

    pub fn unregister(&self, id: u64) {
        self.map.lock().remove(&id);
    }

    /// A snapshot of every connected client, in id order.
    pub fn all(&self) -> Vec<Arc<ClientInfo>> {
        let mut v: Vec<_> = self.map.lock().values().cloned().collect();
        v.sort_by_key(|c| c.id);
        v
    }

    pub fn get(&self, id: u64) -> Option<Arc<ClientInfo>> {
        self.map.lock().get(&id).cloned()
    }

    pub fn len(&self) -> usize {
        self.map.lock().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Closes clients idle for at least `secs` seconds (the `timeout` setting); returns how many.
    pub fn reap_idle(&self, secs: u64) -> usize {
        let map = self.map.lock();
        // A blocked client waits on its command's own timeout, and a subscriber waits for
        // messages, as in Redis.
        let idle: Vec<_> = map
            .values()
            .filter(|c| {
                c.idle_secs() >= secs
                    && !c.blocked.load(Ordering::Relaxed)
                    && !c.pubsub.is_subscribed()
            })
            .collect();
        for c in &idle {
            c.kill();
        }
        idle.len()
    }

    /// Asks every connection to close (shutdown).
    pub fn kill_all(&self) {
        for c in self.map.lock().values() {
            c.kill();
        }
    }
}
