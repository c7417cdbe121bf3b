//! Clients blocked in BLPOP, BLMOVE, BZPOPMIN and the other blocking commands.
//!
//! Redis 7 serves a blocked client by re-running its command as soon as a key it waits on gets
//! data, before the command that produced the data replies. Basalt does the same: after every
//! command, the writer's connection calls [`serve_ready`], which re-runs the waiting commands of
//! each ready key in the order their clients blocked (first come, first served) until one finds
//! nothing left, and hands each reply to the waiter's connection, which only writes it out.
//! Re-running the whole command keeps every rule (key order, WRONGTYPE, LMOVE's destination, a
//! waiter on several keys) in the command's own code.
//!
//! A waiter registers before its second look at the keys (see `Context::block_on`), so a write
//! that lands between that look and the client going to sleep is never missed: the writer either
//! sees the registration (and serves, or flags the waiter to look again), or the look sees the
//! write.

use super::{Client, ClientInfo, Shared};
use crate::commands::{self, args::OwnedArgs, BlockMode, Outcome};
use crate::protocol::Reply;
use crate::storage::ready::ReadyKey;
use crate::storage::Store;
use parking_lot::Mutex;
use std::collections::{HashMap, VecDeque};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Instant;
use tokio::sync::Notify;

/// One blocked command.
pub struct Waiter {
    pub client: Arc<ClientInfo>,
    /// The logical database the command runs in.
    db: usize,
    args: OwnedArgs,
    timeout_reply: Reply,
    /// None: wait forever.
    pub deadline: Option<Instant>,
    /// Every waiter on a ready key is tried, one that finds nothing does not stop the others
    /// (stream readers: an XADD can serve them all, and each waits for its own ID).
    serve_all: bool,
    state: Mutex<State>,
    notify: Notify,
}

enum State {
    /// Registered while the command still makes its own look at the keys; a writer must not run
    /// it concurrently, so it only flags that the look must be repeated.
    Pending { missed: bool },
    /// Asleep; a writer may claim it.
    Waiting,
    /// A writer is re-running the command.
    Serving,
    /// Finished: the reply to send (None once taken, or when the wait was abandoned).
    Done(Option<Reply>),
}

impl std::fmt::Debug for Waiter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Waiter")
            .field("client", &self.client.id)
            .field("db", &self.db)
            .finish_non_exhaustive()
    }
}

impl Waiter {
    /// After the command's own look found nothing: true if a writer made a key ready meanwhile
    /// (look again), false once the waiter is asleep and claimable.
    pub fn settle(&self) -> bool {
        let mut s = self.state.lock();
        match *s {
            State::Pending { missed: true } => {
                *s = State::Pending { missed: false };
                true
            }
            State::Pending { missed: false } => {
                *s = State::Waiting;
                false
            }
            _ => false,
        }
    }

    /// The reply, if the command has finished (served, unblocked or timed out by another party).
    pub fn take_reply(&self) -> Option<Reply> {
        match &mut *self.state.lock() {
            State::Done(r) => r.take(),
            _ => None,
        }
    }

    /// Whether the waiter has finished.
    pub fn is_done(&self) -> bool {
        matches!(*self.state.lock(), State::Done(_))
    }

    /// The reply a timeout gives (a null of the command's reply type).
    pub fn timeout_reply(&self) -> Reply {
        self.timeout_reply.clone()
    }

    /// Resolves after the waiter's state changed.
    pub async fn changed(&self) {
        self.notify.notified().await
    }
}

/// The registry of blocked clients and the per-key queues.
#[derive(Default)]
pub struct Blocking {
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    /// Waiters per key, in the order they blocked.
    queues: HashMap<ReadyKey, VecDeque<Arc<Waiter>>>,
    /// Client id -> its waiter and the keys it is queued on.
    clients: HashMap<u64, (Arc<Waiter>, Vec<ReadyKey>)>,
}

impl Inner {
    fn remove(&mut self, w: &Arc<Waiter>) -> bool {
        let Some((found, keys)) = self.clients.remove(&w.client.id) else {
            return false;
        };
        if !Arc::ptr_eq(&found, w) {
            self.clients.insert(w.client.id, (found, keys));
            return false;
        }
        for k in keys {
            if let Some(q) = self.queues.get_mut(&k) {
                q.retain(|x| !Arc::ptr_eq(x, w));
                if q.is_empty() {
                    self.queues.remove(&k);
                }
            }
        }
        true
    }
}

/// What registering a blocked command needs.
pub struct Registration<'a> {
    pub client: &'a Arc<ClientInfo>,
    pub db: usize,
    pub phys: u8,
    pub keys: &'a [&'a [u8]],
    pub args: OwnedArgs,
    pub timeout_reply: Reply,
    pub deadline: Option<Instant>,
    /// See [`Waiter`]'s `serve_all`.
    pub serve_all: bool,
}

impl Blocking {
    /// Queues a command on its keys, in the Pending state.
    pub fn register(&self, store: &Store, r: Registration<'_>) -> Arc<Waiter> {
        let w = Arc::new(Waiter {
            client: Arc::clone(r.client),
            db: r.db,
            args: r.args,
            timeout_reply: r.timeout_reply,
            deadline: r.deadline,
            serve_all: r.serve_all,
            state: Mutex::new(State::Pending { missed: false }),
            notify: Notify::new(),
        });
        let mut keys: Vec<ReadyKey> = Vec::with_capacity(r.keys.len());
        for k in r.keys {
            let key = (r.phys, k.to_vec());
            // BLPOP k k waits once on k.
            if !keys.contains(&key) {
                keys.push(key);
            }
        }
        let mut inner = self.inner.lock();
        for k in &keys {
            inner
                .queues
                .entry(k.clone())
                .or_default()
                .push_back(Arc::clone(&w));
        }
        if let Some((old, _)) = inner.clients.insert(w.client.id, (Arc::clone(&w), keys)) {
            // A client runs one command at a time; a stale entry would be a bug, not a case.
            tracing::error!(client = old.client.id, "client registered twice as blocked");
        }
        drop(inner);
        store.ready.arm();
        w.client.blocked.store(true, Ordering::Relaxed);
        w
    }

    /// Takes a waiter out of the registry; false if it was not there.
    fn remove(&self, store: &Store, w: &Arc<Waiter>) -> bool {
        let removed = self.inner.lock().remove(w);
        if removed {
            store.ready.disarm();
            w.client.blocked.store(false, Ordering::Relaxed);
        }
        removed
    }

    /// Unregisters a waiter whose command completed during its own look (data or an error).
    pub fn forget(&self, store: &Store, w: &Arc<Waiter>) {
        *w.state.lock() = State::Done(None);
        self.remove(store, w);
    }

    /// Claims the first claimable waiter queued on `key` that is not in `tried`, flagging
    /// Pending ones to look again.
    fn claim_first(&self, key: &ReadyKey, tried: &[Arc<Waiter>]) -> Option<Arc<Waiter>> {
        let inner = self.inner.lock();
        for w in inner.queues.get(key)? {
            if tried.iter().any(|t| Arc::ptr_eq(t, w)) {
                continue;
            }
            let mut s = w.state.lock();
            match *s {
                State::Pending { .. } => *s = State::Pending { missed: true },
                State::Waiting => {
                    *s = State::Serving;
                    return Some(Arc::clone(w));
                }
                State::Serving | State::Done(_) => {}
            }
        }
        None
    }

    /// Finishes a waiter with a reply and wakes its connection. False if it had already
    /// finished (it stays finished).
    fn finish(&self, store: &Store, w: &Arc<Waiter>, reply: Reply, from: &[StateKind]) -> bool {
        {
            let mut s = w.state.lock();
            if !from.iter().any(|k| k.matches(&s)) {
                return false;
            }
            *s = State::Done(Some(reply));
        }
        self.remove(store, w);
        w.notify.notify_one();
        true
    }

    /// Gives up a wait (timeout, disconnect). False while a writer is serving it: the caller
    /// waits for [`Waiter::changed`] and looks again.
    pub fn cancel(&self, store: &Store, w: &Arc<Waiter>) -> bool {
        {
            let mut s = w.state.lock();
            match *s {
                State::Waiting | State::Pending { .. } => *s = State::Done(None),
                State::Serving => return false,
                State::Done(_) => return true,
            }
        }
        self.remove(store, w);
        true
    }

    /// CLIENT UNBLOCK: ends a client's wait as a timeout would, or with an error. False if the
    /// client is not blocked (or is being served right now).
    pub fn unblock(&self, store: &Store, client_id: u64, error: bool) -> bool {
        let Some(w) = self
            .inner
            .lock()
            .clients
            .get(&client_id)
            .map(|(w, _)| Arc::clone(w))
        else {
            return false;
        };
        let reply = if error {
            Reply::Error("UNBLOCKED client unblocked via CLIENT UNBLOCK".into())
        } else {
            w.timeout_reply()
        };
        self.finish(store, &w, reply, &[StateKind::Waiting])
    }

    /// SWAPDB: the clients blocked in each database keep waiting on that database, whose
    /// contents are now the other one's, and are served if their keys hold data there.
    pub fn swap_dbs(&self, store: &Store, a: u8, b: u8) {
        if a == b {
            return;
        }
        let flip = |p: u8| {
            if p == a {
                b
            } else if p == b {
                a
            } else {
                p
            }
        };
        let mut inner = self.inner.lock();
        let moved: Vec<ReadyKey> = inner
            .queues
            .keys()
            .filter(|(p, _)| *p == a || *p == b)
            .cloned()
            .collect();
        let mut taken = Vec::with_capacity(moved.len());
        for k in &moved {
            if let Some(q) = inner.queues.remove(k) {
                taken.push(((flip(k.0), k.1.clone()), q));
            }
        }
        for (k, q) in taken {
            inner.queues.insert(k, q);
        }
        for (_, keys) in inner.clients.values_mut() {
            for k in keys.iter_mut() {
                k.0 = flip(k.0);
            }
        }
        let ready: Vec<ReadyKey> = moved.into_iter().map(|(p, k)| (flip(p), k)).collect();
        drop(inner);
        store.ready.push(ready);
    }

    /// FLUSHDB / FLUSHALL: the keys clients wait on in these physical databases are ready, so
    /// a blocked XREADGROUP learns that its stream is gone (the others find nothing and wait).
    pub fn flushed_dbs(&self, store: &Store, phys: &[u8]) {
        let ready: Vec<ReadyKey> = self
            .inner
            .lock()
            .queues
            .keys()
            .filter(|(p, _)| phys.contains(p))
            .cloned()
            .collect();
        if !ready.is_empty() {
            store.ready.push(ready);
        }
    }

    /// Number of blocked clients (INFO `blocked_clients`).
    pub fn len(&self) -> usize {
        self.inner.lock().clients.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Number of keys with blocked clients (INFO `total_blocking_keys`).
    pub fn keys(&self) -> usize {
        self.inner.lock().queues.len()
    }
}

/// A state without its payload, to say which states a transition may start from.
#[derive(Clone, Copy)]
enum StateKind {
    Waiting,
    Serving,
}

impl StateKind {
    fn matches(self, s: &State) -> bool {
        matches!(
            (self, s),
            (StateKind::Waiting, State::Waiting) | (StateKind::Serving, State::Serving)
        )
    }
}

/// Serves the waiters of every key written since the last call. Runs on the writer's connection
/// after each command, before its reply goes out, as Redis does after each command.
pub fn serve_ready(shared: &Arc<Shared>) {
    while shared.store.ready.has_pending() {
        for key in shared.store.ready.take() {
            // Stream readers that found nothing, skipped by the next claims of this key.
            let mut tried: Vec<Arc<Waiter>> = Vec::new();
            while let Some(w) = shared.blocking.claim_first(&key, &tried) {
                let mut client = Client::new(Arc::clone(&w.client), true);
                client.select(w.db);
                // The reply's shape may depend on the protocol (XREAD answers a map in RESP3).
                client.resp3 = w.client.resp.load(Ordering::Relaxed) == 3;
                let outcome =
                    commands::execute(shared, &mut client, &w.args.args(), BlockMode::Serve);
                match outcome {
                    Outcome::Reply(reply) => {
                        shared
                            .blocking
                            .finish(&shared.store, &w, reply, &[StateKind::Serving]);
                    }
                    Outcome::NotReady | Outcome::Blocked(_) => {
                        *w.state.lock() = State::Waiting;
                        // Its connection may have timed out meanwhile and be waiting to cancel.
                        w.notify.notify_one();
                        if !w.serve_all {
                            break;
                        }
                        tried.push(w);
                    }
                }
            }
        }
    }
}
