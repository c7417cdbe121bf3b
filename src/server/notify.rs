//! Keyspace notifications (Redis's `notify.c`).
//!
//! A write command that changed a key calls [`Context::notify`] with the event's class (a
//! [`class`] bit), the event name Redis uses (`set`, `lpush`, `del`, ...) and the key. When the
//! class and `K` or `E` are enabled in `notify-keyspace-events`, the event is published, through
//! the same [`Hub::publish`](super::pubsub::Hub::publish) as PUBLISH, to
//! `__keyspace@<db>__:<key>` (message: the event) and then to `__keyevent@<db>__:<event>`
//! (message: the key), in that order as in Redis.
//!
//! Off by default; then a notification costs one relaxed atomic load and a branch, with nothing
//! allocated, because the enabled classes are mirrored outside the configuration lock.

use super::pubsub::Kind;
use super::Shared;
use crate::commands::Context;
use std::io::Write as _;
use std::sync::atomic::Ordering;

/// The classes of events, as Redis numbers them (the bits of `notify-keyspace-events`).
pub use crate::config::keyspace_events as class;

/// Whether `flags` ask for `expired` events anywhere, so commits must report expired keys.
pub fn expired_events(flags: u32) -> bool {
    flags & class::EXPIRED != 0 && flags & (class::KEYSPACE | class::KEYEVENT) != 0
}

/// Whether `flags` ask for `new` events anywhere, so commits must record the keys they create.
pub fn new_key_events(flags: u32) -> bool {
    flags & class::NEW != 0 && flags & (class::KEYSPACE | class::KEYEVENT) != 0
}

impl Shared {
    /// Whether events of `class` are enabled (they may still go nowhere without `K` or `E`).
    #[inline]
    pub fn notifies(&self, class: u32) -> bool {
        self.notify_flags.load(Ordering::Relaxed) & class != 0
    }

    /// Publishes one event of `class` about `key` in logical database `db`, if enabled.
    /// `publisher` is the client whose command caused it (0 for the server itself); returns
    /// whether that client was among the receivers, so its connection can deliver its own
    /// message before the reply, as for PUBLISH.
    pub fn notify_keyspace_event(
        &self,
        class: u32,
        event: &str,
        db: usize,
        key: &[u8],
        publisher: u64,
    ) -> bool {
        let flags = self.notify_flags.load(Ordering::Relaxed);
        if flags & class == 0 || flags & (class::KEYSPACE | class::KEYEVENT) == 0 {
            return false;
        }
        let limit = self.config.read().client_output_buffer_limit.pubsub;
        let mut to_self = false;
        let mut channel = Vec::with_capacity(24 + key.len().max(event.len()));
        if flags & class::KEYSPACE != 0 {
            // Writing into a Vec cannot fail.
            let _ = write!(channel, "__keyspace@{db}__:");
            channel.extend_from_slice(key);
            let done =
                self.pubsub
                    .publish(Kind::Channel, &channel, event.as_bytes(), &limit, publisher);
            to_self |= done.to_self;
        }
        if flags & class::KEYEVENT != 0 {
            channel.clear();
            let _ = write!(channel, "__keyevent@{db}__:{event}");
            let done = self
                .pubsub
                .publish(Kind::Channel, &channel, key, &limit, publisher);
            to_self |= done.to_self;
        }
        to_self
    }
}

impl Context<'_> {
    /// Whether events of `class` are enabled: lets a handler skip work done only to find out
    /// which events to send (such as whether a collection was emptied).
    #[inline]
    pub fn notifying(&self, class: u32) -> bool {
        self.shared.notifies(class)
    }

    /// Publishes an event about `key` in the client's selected database.
    #[inline]
    pub fn notify(&mut self, class: u32, event: &str, key: &[u8]) {
        let db = self.client.db;
        self.notify_in(class, event, db, key);
    }

    /// Publishes an event about `key` in logical database `db` (MOVE, COPY ... DB). If the
    /// command created the key, `new` is announced first, as Redis does when it adds it.
    pub fn notify_in(&mut self, class: u32, event: &str, db: usize, key: &[u8]) {
        if !self.shared.notifies(class | class::NEW) {
            return;
        }
        if self.shared.notifies(class::NEW) && self.created(db, key) {
            self.publish(class::NEW, "new", db, key);
        }
        if self.shared.notifies(class) {
            self.publish(class, event, db, key);
        }
    }

    /// Announces `new` for a key the command (re)created whether or not it existed before:
    /// RENAME, MOVE and COPY delete an existing destination and add the key again in Redis.
    pub fn notify_new(&mut self, db: usize, key: &[u8]) {
        if self.shared.notifies(class::NEW) {
            self.created(db, key);
            self.publish(class::NEW, "new", db, key);
        }
    }

    /// Whether this command's commits created `key` in logical database `db` (forgetting it,
    /// so it is announced once).
    fn created(&self, db: usize, key: &[u8]) -> bool {
        self.view
            .physical_dbs()
            .get(db)
            .is_some_and(|&phys| crate::storage::created::take(phys, key))
    }

    fn publish(&mut self, class: u32, event: &str, db: usize, key: &[u8]) {
        let id = self.client.id();
        if self.shared.notify_keyspace_event(class, event, db, key, id) {
            self.client.pubsub.note_delivered_to_self();
        }
    }

    /// Publishes `del` for `key` if notifications are on and it no longer exists: for commands
    /// that remove elements, since Redis deletes a collection that becomes empty and says so.
    ///
    /// The check is a read after the command's write, not part of it: a concurrent write to the
    /// same key in between can hide (or fake) the emptying. Redis, being single-threaded, has no
    /// such window.
    pub fn notify_if_gone(&mut self, key: &[u8]) {
        if !self.shared.notifies(class::GENERIC) {
            return;
        }
        match self.db().meta(key) {
            Ok(None) => self.notify(class::GENERIC, "del", key),
            Ok(Some(_)) => {}
            Err(e) => tracing::warn!(error = %e, "keyspace notification: existence check failed"),
        }
    }
}
