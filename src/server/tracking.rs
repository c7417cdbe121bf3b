//! Client-side caching: CLIENT TRACKING's server side (Redis 7.0's `tracking.c`).
//!
//! A tracking client in the default mode is remembered for every key its read-only commands
//! read; the first write of such a key sends it an `invalidate` message and forgets it. In
//! BCAST mode a client hears of every written key under its prefixes. Messages go to the client
//! itself as RESP3 pushes, or to a REDIRECT client (a RESP2 client subscribed to
//! `__redis__:invalidate` receives them as Pub/Sub messages). The keys a command wrote are
//! collected by the store per thread (see `storage::written`), so each command's invalidations
//! are sent right after it, before its reply, and NOLOOP knows who wrote.

use super::client::ClientInfo;
use super::pubsub;
use super::{Client, Shared};
use parking_lot::Mutex;
use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

/// The channel RESP2 redirect clients subscribe to.
pub const CHANNEL: &[u8] = b"__redis__:invalidate";

/// One client's CLIENT TRACKING options.
#[derive(Clone, Debug, Default)]
pub struct Options {
    pub redirect: Option<u64>,
    pub bcast: bool,
    pub prefixes: Vec<Vec<u8>>,
    pub optin: bool,
    pub optout: bool,
    pub noloop: bool,
}

struct Tracked {
    info: Arc<ClientInfo>,
    opts: Options,
}

#[derive(Default)]
struct Inner {
    clients: HashMap<u64, Tracked>,
    /// Default mode: key -> ids of clients that read it.
    keys: HashMap<Vec<u8>, HashSet<u64>>,
}

/// The server's tracking table.
#[derive(Default)]
pub struct Tracking {
    /// Clients with tracking on: zero means no work after commands.
    active: AtomicUsize,
    inner: Mutex<Inner>,
}

impl Tracking {
    /// Whether any client tracks (one atomic load, checked after every command).
    pub fn is_active(&self) -> bool {
        self.active.load(Ordering::Relaxed) > 0
    }

    /// Number of tracking clients (INFO `tracking_clients`).
    pub fn clients(&self) -> usize {
        self.active.load(Ordering::Relaxed)
    }

    /// Number of keys remembered (INFO `tracking_total_keys`).
    pub fn keys(&self) -> usize {
        self.inner.lock().keys.len()
    }

    /// CLIENT TRACKING ON.
    pub fn enable(&self, info: &Arc<ClientInfo>, opts: Options) {
        let mut inner = self.inner.lock();
        let bits = 1 | if opts.bcast { 2 } else { 0 };
        info.tracking.store(bits, Ordering::Relaxed);
        let tracked = Tracked {
            info: Arc::clone(info),
            opts,
        };
        if inner.clients.insert(info.id, tracked).is_none() {
            self.active.fetch_add(1, Ordering::Relaxed);
            crate::storage::written::arm();
        }
    }

    /// CLIENT TRACKING OFF, RESET or disconnect.
    pub fn disable(&self, id: u64) {
        let mut inner = self.inner.lock();
        if let Some(t) = inner.clients.remove(&id) {
            t.info.tracking.store(0, Ordering::Relaxed);
            self.active.fetch_sub(1, Ordering::Relaxed);
            crate::storage::written::disarm();
            inner.keys.retain(|_, ids| {
                ids.remove(&id);
                !ids.is_empty()
            });
        }
    }

    /// The options of a tracking client.
    pub fn options(&self, id: u64) -> Option<Options> {
        self.inner.lock().clients.get(&id).map(|t| t.opts.clone())
    }

    /// Remembers the keys a tracking client just read (default mode; OPTIN only after CLIENT
    /// CACHING YES, OPTOUT unless CLIENT CACHING NO).
    pub fn note_read(&self, client: &Client, keys: &[&[u8]]) {
        if keys.is_empty() {
            return;
        }
        let mut inner = self.inner.lock();
        let Some(t) = inner.clients.get(&client.info.id) else {
            return;
        };
        let o = &t.opts;
        let wanted = !o.bcast
            && match (o.optin, o.optout) {
                (true, _) => client.caching == Some(true),
                (_, true) => client.caching != Some(false),
                _ => true,
            };
        if !wanted {
            return;
        }
        for k in keys {
            inner
                .keys
                .entry(k.to_vec())
                .or_default()
                .insert(client.info.id);
        }
    }

    /// Sends the invalidations for keys written by `writer` (None: the server itself, e.g.
    /// expiry).
    pub fn invalidate(&self, shared: &Shared, keys: &[Vec<u8>], writer: Option<u64>) {
        let mut inner = self.inner.lock();
        let mut sends: Vec<(u64, Vec<u8>)> = Vec::new();
        for key in keys {
            if let Some(ids) = inner.keys.remove(key) {
                for id in ids {
                    sends.push((id, key.clone()));
                }
            }
            for (id, t) in &inner.clients {
                let matches = t.opts.bcast
                    && (t.opts.prefixes.is_empty()
                        || t.opts.prefixes.iter().any(|p| key.starts_with(p)));
                if matches {
                    sends.push((*id, key.clone()));
                }
            }
        }
        for (id, key) in sends {
            let Some(t) = inner.clients.get(&id) else {
                continue;
            };
            if t.opts.noloop && writer == Some(id) {
                continue;
            }
            send(shared, t, Some(&key));
        }
    }

    /// FLUSHDB/FLUSHALL: every tracking client hears that everything is invalid (a null key
    /// list), and the table is emptied, as in Redis.
    pub fn invalidate_all(&self, shared: &Shared) {
        let mut inner = self.inner.lock();
        inner.keys.clear();
        for t in inner.clients.values() {
            send(shared, t, None);
        }
    }
}

/// Delivers one invalidation (`key` None: flush) to a tracking client or its redirect target.
fn send(shared: &Shared, t: &Tracked, key: Option<&[u8]>) {
    let target = match t.opts.redirect {
        None => Arc::clone(&t.info),
        Some(id) => match shared.clients.get(id) {
            Some(info) => info,
            None => {
                // Redis tells a RESP3 client its redirect target is gone.
                if t.info.resp.load(Ordering::Relaxed) == 3 {
                    let mut f = b">2\r\n$21\r\ntracking-redir-broken\r\n".to_vec();
                    f.extend_from_slice(format!(":{id}\r\n").as_bytes());
                    push(shared, &t.info, &f);
                }
                return;
            }
        },
    };
    let mut keys_part = Vec::new();
    match key {
        Some(k) => {
            keys_part.extend_from_slice(format!("*1\r\n${}\r\n", k.len()).as_bytes());
            keys_part.extend_from_slice(k);
            keys_part.extend_from_slice(b"\r\n");
        }
        // Redis's shared null: a null bulk in RESP2, `_` in RESP3.
        None => keys_part.extend_from_slice(b"$-1\r\n"),
    }
    let mut frame = Vec::with_capacity(48 + keys_part.len());
    if target.resp.load(Ordering::Relaxed) == 3 {
        frame.extend_from_slice(b">2\r\n$10\r\ninvalidate\r\n");
        if key.is_none() {
            keys_part = b"_\r\n".to_vec();
        }
    } else if target.pubsub.is_subscribed() {
        // A RESP2 redirect target gets a Pub/Sub message on the invalidation channel.
        frame.extend_from_slice(b"*3\r\n$7\r\nmessage\r\n$20\r\n__redis__:invalidate\r\n");
    } else {
        return;
    }
    frame.extend_from_slice(&keys_part);
    push(shared, &target, &frame);
}

fn push(shared: &Shared, info: &ClientInfo, frame: &[u8]) {
    let limit = shared.config.read().client_output_buffer_limit.pubsub;
    pubsub::push_raw(info, frame, &limit);
}
