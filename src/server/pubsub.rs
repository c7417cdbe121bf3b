//! The pub/sub hub and each subscriber's queue of undelivered messages.
//!
//! [`Hub`] maps every channel, pattern and shard channel to its subscribers, in subscription
//! order. A subscriber is its connection's [`ClientInfo`], whose [`Mailbox`] holds the messages
//! published to it that are not yet written to its socket. PUBLISH never waits on a subscriber:
//! it encodes the message once per protocol version, appends it to each subscriber's mailbox
//! and wakes that subscriber's connection task, which writes it when idle or blocked
//! ([`pending`], [`write_pending`]) or between the commands of its own pass ([`deliver_queued`],
//! [`deliver_own`]). A subscriber whose queued bytes pass `client-output-buffer-limit pubsub` is
//! disconnected, as Redis does, so one that stops reading costs at most its limit in memory and
//! never slows its publishers down.
//!
//! A connection's own subscription sets ([`Subscriptions`], in [`Client`]) are the source of
//! truth for its confirmations; the hub mirrors them for publishers and PUBSUB, and the counts in
//! the mailbox mirror them for CLIENT LIST and for other connections' checks.

use super::{Client, ClientInfo, Shared};
use crate::config::OutputBufferLimit;
use crate::protocol::reply::{bulk, header};
use crate::util::glob::glob_match;
use bytes::Bytes;
use parking_lot::{Mutex, RwLock};
use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Instant;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio::sync::Notify;

/// The three namespaces of subscriptions.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// SUBSCRIBE and PUBLISH.
    Channel = 0,
    /// PSUBSCRIBE: glob patterns matched against PUBLISH's channel.
    Pattern = 1,
    /// SSUBSCRIBE and SPUBLISH: shard channels, a namespace of their own that patterns never see.
    Shard = 2,
}

impl Kind {
    fn index(self) -> usize {
        self as usize
    }

    /// The first element of a subscription confirmation.
    pub fn subscribe_word(self) -> &'static str {
        match self {
            Kind::Channel => "subscribe",
            Kind::Pattern => "psubscribe",
            Kind::Shard => "ssubscribe",
        }
    }

    /// The first element of an unsubscription confirmation.
    pub fn unsubscribe_word(self) -> &'static str {
        match self {
            Kind::Channel => "unsubscribe",
            Kind::Pattern => "punsubscribe",
            Kind::Shard => "sunsubscribe",
        }
    }
}

/// What other connections see of a client's pub/sub state: its subscription counts and the
/// messages published to it that its connection has not written yet.
#[derive(Default)]
pub struct Mailbox {
    /// Subscriptions per [`Kind`], for CLIENT LIST and the client's type.
    counts: [AtomicUsize; 3],
    /// Mirrors the queue's length, so the connection checks for messages without the lock.
    queued: AtomicUsize,
    queue: Mutex<Queue>,
    wake: Notify,
}

/// Messages waiting for one subscriber, already encoded for its protocol.
#[derive(Default)]
struct Queue {
    /// Each message is copied in, as into a Redis client's reply buffer: the memory a subscriber
    /// holds is exactly what its limit counts.
    buf: Vec<u8>,
    /// How many messages `buf` holds (CLIENT LIST's `oll`).
    messages: usize,
    /// When the queue last reached the soft limit (Redis's `obuf_soft_limit_reached_time`).
    soft_since: Option<Instant>,
    /// Over its limit: the client is being disconnected and gets nothing more.
    closed: bool,
}

impl Mailbox {
    /// How many subscriptions of `kind` the client has.
    pub fn count(&self, kind: Kind) -> usize {
        self.counts[kind.index()].load(Ordering::Relaxed)
    }

    /// Whether the client has any subscription (Redis's `CLIENT_PUBSUB` flag).
    pub fn is_subscribed(&self) -> bool {
        self.counts.iter().any(|c| c.load(Ordering::Relaxed) > 0)
    }

    /// Messages and bytes queued and not yet taken by the connection (CLIENT LIST's `oll` and
    /// `omem`).
    pub fn backlog(&self) -> (usize, usize) {
        let q = self.queue.lock();
        (q.messages, q.buf.len())
    }

    /// Queues an encoded message. True when this push took the queue over `limit`: the queue is
    /// then dropped and closed, and the caller disconnects the client.
    fn push(&self, frame: &[u8], limit: &OutputBufferLimit) -> bool {
        let mut q = self.queue.lock();
        if q.closed {
            return false;
        }
        q.buf.extend_from_slice(frame);
        q.messages += 1;
        let used = q.buf.len();
        if over_limit(limit, used, &mut q.soft_since) {
            q.closed = true;
            // Free the memory now; the connection may take a while to notice the kill.
            q.buf = Vec::new();
            q.messages = 0;
            self.queued.store(0, Ordering::Release);
            return true;
        }
        self.queued.store(used, Ordering::Release);
        drop(q);
        self.wake.notify_one();
        false
    }

    /// Takes every queued message, leaving the queue empty.
    fn take(&self) -> Vec<u8> {
        if self.queued.load(Ordering::Acquire) == 0 {
            return Vec::new();
        }
        let mut q = self.queue.lock();
        q.messages = 0;
        self.queued.store(0, Ordering::Release);
        std::mem::take(&mut q.buf)
    }
}

/// Redis's `checkClientOutputBufferLimits`: at or over the hard limit, or at or over the soft
/// limit for longer than its seconds. The soft clock starts the first time the soft limit is
/// seen reached and stops when a later check finds the queue below it.
fn over_limit(limit: &OutputBufferLimit, used: usize, soft_since: &mut Option<Instant>) -> bool {
    let used = used as u64;
    if limit.hard > 0 && used >= limit.hard {
        return true;
    }
    if limit.soft > 0 && used >= limit.soft {
        match soft_since {
            None => {
                *soft_since = Some(Instant::now());
                false
            }
            Some(since) => since.elapsed().as_secs() > limit.soft_seconds,
        }
    } else {
        *soft_since = None;
        false
    }
}

/// Encodes a message (`message`/`pmessage`/`smessage` and its fields) for one protocol.
fn encode_message(resp3: bool, parts: &[&[u8]]) -> Vec<u8> {
    let mut out = Vec::with_capacity(parts.iter().map(|p| p.len() + 16).sum::<usize>() + 8);
    header(&mut out, if resp3 { b'>' } else { b'*' }, parts.len());
    for p in parts {
        bulk(&mut out, p);
    }
    out
}

/// One message encoded lazily, at most once per protocol version, however many subscribers
/// receive it.
struct Encoded<'a> {
    parts: [&'a [u8]; 4],
    len: usize,
    frames: [Option<Vec<u8>>; 2],
}

impl<'a> Encoded<'a> {
    fn new(parts: &[&'a [u8]]) -> Self {
        let mut all: [&[u8]; 4] = [b""; 4];
        all[..parts.len()].copy_from_slice(parts);
        Encoded {
            parts: all,
            len: parts.len(),
            frames: [None, None],
        }
    }

    fn for_client(&mut self, info: &ClientInfo) -> &[u8] {
        let resp3 = info.resp.load(Ordering::Relaxed) == 3;
        let parts = &self.parts[..self.len];
        self.frames[usize::from(resp3)].get_or_insert_with(|| encode_message(resp3, parts))
    }
}

/// Queues a message for one subscriber, disconnecting it if that takes it over its limit.
fn deliver(info: &ClientInfo, frame: &[u8], limit: &OutputBufferLimit) {
    // A client on its way out is still counted as a receiver, as in Redis, but gets nothing.
    if info.is_killed() {
        return;
    }
    if info.pubsub.push(frame, limit) {
        tracing::warn!(
            client = info.id,
            addr = %info.addr,
            "client scheduled to be closed ASAP for overcoming of output buffer limits"
        );
        info.kill();
    }
}

/// Queues an already encoded frame for a client outside pub/sub (MONITOR lines): same mailbox,
/// same output buffer limit and disconnect as a subscriber's messages.
pub(crate) fn push_raw(info: &ClientInfo, frame: &[u8], limit: &OutputBufferLimit) {
    deliver(info, frame, limit);
}

/// What a PUBLISH did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Delivery {
    /// Deliveries made: a client is counted once per matching subscription, as in Redis.
    pub receivers: usize,
    /// Whether the publishing client itself was among the receivers.
    pub to_self: bool,
}

type Subscribers = Vec<Arc<ClientInfo>>;

/// Every subscription on the server, by [`Kind`].
#[derive(Default)]
pub struct Hub {
    maps: RwLock<[HashMap<Bytes, Subscribers>; 3]>,
}

impl Hub {
    /// Subscribes a client; false (and nothing changes) if it already was.
    pub fn subscribe(&self, client: &mut Client, kind: Kind, name: &[u8]) -> bool {
        let Some(name) = client.pubsub.sets[kind.index()].insert(name) else {
            return false;
        };
        self.maps.write()[kind.index()]
            .entry(name)
            .or_default()
            .push(client.info.clone());
        client.pubsub.mirror_count(&client.info, kind);
        true
    }

    /// Unsubscribes a client from one channel or pattern; false if it was not subscribed.
    pub fn unsubscribe(&self, client: &mut Client, kind: Kind, name: &[u8]) -> bool {
        if !client.pubsub.sets[kind.index()].remove(name) {
            return false;
        }
        self.remove(kind, &[name], client.info.id);
        client.pubsub.mirror_count(&client.info, kind);
        true
    }

    /// Unsubscribes a client from everything of `kind`; returns the names, in subscription order.
    pub fn unsubscribe_all(&self, client: &mut Client, kind: Kind) -> Vec<Bytes> {
        let names = client.pubsub.sets[kind.index()].take_in_order();
        if !names.is_empty() {
            let refs: Vec<&[u8]> = names.iter().map(|n| &n[..]).collect();
            self.remove(kind, &refs, client.info.id);
            client.pubsub.mirror_count(&client.info, kind);
        }
        names
    }

    /// Drops every subscription of a client (RESET, and the connection closing).
    pub fn forget(&self, client: &mut Client) {
        for kind in [Kind::Channel, Kind::Pattern, Kind::Shard] {
            self.unsubscribe_all(client, kind);
        }
    }

    fn remove(&self, kind: Kind, names: &[&[u8]], id: u64) {
        let mut maps = self.maps.write();
        let map = &mut maps[kind.index()];
        for &name in names {
            if let Some(subs) = map.get_mut(name) {
                // Keeps the others in subscription order, the order they receive messages in.
                subs.retain(|c| c.id != id);
                if subs.is_empty() {
                    map.remove(name);
                }
            }
        }
    }

    /// Delivers a message to the subscribers of `channel` in namespace `kind` (Channel or
    /// Shard) and, for a plain channel, to those of every matching pattern, each pattern
    /// subscription getting its own `pmessage` as in Redis. Never waits on a subscriber; one
    /// that this takes over `limit` is disconnected.
    pub fn publish(
        &self,
        kind: Kind,
        channel: &[u8],
        message: &[u8],
        limit: &OutputBufferLimit,
        publisher: u64,
    ) -> Delivery {
        let maps = self.maps.read();
        let mut done = Delivery::default();
        let mut note = |info: &ClientInfo| {
            done.receivers += 1;
            done.to_self |= info.id == publisher;
        };
        if let Some(subs) = maps[kind.index()].get(channel) {
            let word: &[u8] = if kind == Kind::Shard {
                b"smessage"
            } else {
                b"message"
            };
            let mut msg = Encoded::new(&[word, channel, message]);
            for info in subs {
                deliver(info, msg.for_client(info), limit);
                note(info);
            }
        }
        if kind == Kind::Channel {
            for (pattern, subs) in &maps[Kind::Pattern.index()] {
                if !glob_match(pattern, channel, false) {
                    continue;
                }
                let mut msg = Encoded::new(&[b"pmessage", pattern, channel, message]);
                for info in subs {
                    deliver(info, msg.for_client(info), limit);
                    note(info);
                }
            }
        }
        done
    }

    /// Channels (Channel or Shard) with at least one subscriber, matching `pattern` if given.
    pub fn channels(&self, kind: Kind, pattern: Option<&[u8]>) -> Vec<Bytes> {
        self.maps.read()[kind.index()]
            .keys()
            .filter(|c| pattern.is_none_or(|p| glob_match(p, c, false)))
            .cloned()
            .collect()
    }

    /// Subscribers of one channel (Channel or Shard); pattern subscriptions are not counted.
    pub fn numsub(&self, kind: Kind, name: &[u8]) -> usize {
        self.maps.read()[kind.index()].get(name).map_or(0, Vec::len)
    }

    /// How many distinct channels, patterns or shard channels have subscribers.
    pub fn len(&self, kind: Kind) -> usize {
        self.maps.read()[kind.index()].len()
    }
}

/// A set that remembers insertion order, for unsubscribing everything in subscription order.
#[derive(Default)]
struct OrderedSet {
    map: HashMap<Bytes, u64>,
    next: u64,
}

impl OrderedSet {
    /// Adds a name; the stored copy if it was not there yet.
    fn insert(&mut self, name: &[u8]) -> Option<Bytes> {
        if self.map.contains_key(name) {
            return None;
        }
        let name = Bytes::copy_from_slice(name);
        self.map.insert(name.clone(), self.next);
        self.next += 1;
        Some(name)
    }

    fn remove(&mut self, name: &[u8]) -> bool {
        self.map.remove(name).is_some()
    }

    /// Empties the set, returning its names oldest first.
    fn take_in_order(&mut self) -> Vec<Bytes> {
        let mut all: Vec<(Bytes, u64)> = self.map.drain().collect();
        all.sort_unstable_by_key(|&(_, seq)| seq);
        all.into_iter().map(|(name, _)| name).collect()
    }
}

/// One connection's subscriptions, owned by its task.
#[derive(Default)]
pub struct Subscriptions {
    /// Per [`Kind`]. Redis 7.0 unsubscribes patterns in subscription order; its channel order is
    /// its hash table's, so subscription order is as good there.
    sets: [OrderedSet; 3],
    /// This client's own PUBLISH reached itself: that message goes out before the reply.
    delivered_to_self: bool,
}

impl Subscriptions {
    /// How many subscriptions of `kind` this client has.
    pub fn count(&self, kind: Kind) -> usize {
        self.sets[kind.index()].map.len()
    }

    /// Whether the client has any subscription: a RESP2 client is then in subscribed mode.
    pub fn is_subscribed(&self) -> bool {
        self.sets.iter().any(|s| !s.map.is_empty())
    }

    /// The count a (un)subscription confirmation reports, as Redis does: channels and patterns
    /// together, shard channels on their own.
    pub fn confirm_count(&self, kind: Kind) -> usize {
        match kind {
            Kind::Shard => self.count(Kind::Shard),
            _ => self.count(Kind::Channel) + self.count(Kind::Pattern),
        }
    }

    /// Records that a PUBLISH by this client delivered to itself (see [`deliver_own`]).
    pub fn note_delivered_to_self(&mut self) {
        self.delivered_to_self = true;
    }

    fn mirror_count(&self, info: &ClientInfo, kind: Kind) {
        info.pubsub.counts[kind.index()].store(self.count(kind), Ordering::Relaxed);
    }
}

/// Before a command runs: the messages queued so far go into the pass's output first, so
/// whatever was published before the command precedes its reply (as in Redis, where a message
/// lands in the reply buffer when it is published).
pub fn deliver_queued(client: &Client, out: &mut Vec<u8>) {
    let queued = client.info.pubsub.take();
    out.extend_from_slice(&queued);
}

/// After a command, before its reply: a PUBLISH that reached its own client puts that message
/// ahead of the receiver count, as Redis does.
pub fn deliver_own(client: &mut Client, out: &mut Vec<u8>) {
    if std::mem::take(&mut client.pubsub.delivered_to_self) {
        deliver_queued(client, out);
    }
}

/// Resolves once messages are queued for the client. Cancel-safe: a wake-up that arrives while
/// nobody waits is kept for the next call.
pub async fn pending(info: &ClientInfo) {
    loop {
        if info.pubsub.queued.load(Ordering::Acquire) > 0 {
            return;
        }
        info.pubsub.wake.notified().await;
    }
}

/// Writes the messages queued for an idle or blocked connection. False when the connection must
/// close instead: the client was killed meanwhile (for instance for overrunning its output
/// buffer limit while this write waited on a peer that does not read) or the WAL failed.
pub async fn write_pending(
    shared: &Shared,
    stream: &mut TcpStream,
    info: &ClientInfo,
) -> std::io::Result<bool> {
    let out = info.pubsub.take();
    if out.is_empty() {
        return Ok(true);
    }
    // A message may announce a write its publisher just made: it goes out no sooner than that
    // write's own acknowledgement could.
    if let Err(e) = shared.store.ack() {
        tracing::error!(error = %e, "WAL flush failed; dropping messages and the connection");
        return Ok(false);
    }
    tokio::select! {
        r = stream.write_all(&out) => r?,
        // A peer that stopped reading would hold this write forever.
        _ = info.killed() => return Ok(false),
    }
    shared
        .stats
        .net_output_bytes
        .fetch_add(out.len() as u64, Ordering::Relaxed);
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::server::Clients;

    fn client(clients: &Clients) -> Client {
        let info = clients
            .register("127.0.0.1:1".into(), "127.0.0.1:2".into(), -1, 100)
            .expect("room for a client");
        Client::new(info, true)
    }

    const NO_LIMIT: OutputBufferLimit = OutputBufferLimit {
        hard: 0,
        soft: 0,
        soft_seconds: 0,
    };

    fn queued(c: &Client) -> Vec<u8> {
        let mut out = Vec::new();
        deliver_queued(c, &mut out);
        out
    }

    #[test]
    fn channel_and_pattern_subscribers_each_get_a_copy() {
        let (clients, hub) = (Clients::default(), Hub::default());
        let mut a = client(&clients);
        let mut b = client(&clients);
        assert!(hub.subscribe(&mut a, Kind::Channel, b"news"));
        assert!(!hub.subscribe(&mut a, Kind::Channel, b"news"));
        assert!(hub.subscribe(&mut a, Kind::Pattern, b"n*"));
        b.set_resp(3);
        assert!(hub.subscribe(&mut b, Kind::Channel, b"news"));
        let d = hub.publish(Kind::Channel, b"news", b"hi", &NO_LIMIT, b.id());
        assert_eq!(
            d,
            Delivery {
                receivers: 3,
                to_self: true
            }
        );
        assert_eq!(
            queued(&a),
            b"*3\r\n$7\r\nmessage\r\n$4\r\nnews\r\n$2\r\nhi\r\n\
              *4\r\n$8\r\npmessage\r\n$2\r\nn*\r\n$4\r\nnews\r\n$2\r\nhi\r\n"
        );
        assert_eq!(
            queued(&b),
            b">3\r\n$7\r\nmessage\r\n$4\r\nnews\r\n$2\r\nhi\r\n"
        );
        // Shard channels are their own namespace, and patterns never see them.
        assert_eq!(
            hub.publish(Kind::Shard, b"news", b"x", &NO_LIMIT, 0)
                .receivers,
            0
        );
        assert_eq!(hub.numsub(Kind::Channel, b"news"), 2);
        assert_eq!(hub.len(Kind::Pattern), 1);
        assert_eq!(a.info.pubsub.count(Kind::Pattern), 1);
    }

    #[test]
    fn unsubscribe_all_goes_in_subscription_order_and_cleans_the_hub() {
        let (clients, hub) = (Clients::default(), Hub::default());
        let mut a = client(&clients);
        for p in [&b"z*"[..], b"a*", b"m*"] {
            hub.subscribe(&mut a, Kind::Pattern, p);
        }
        hub.subscribe(&mut a, Kind::Shard, b"s");
        let names = hub.unsubscribe_all(&mut a, Kind::Pattern);
        assert_eq!(names, vec![&b"z*"[..], b"a*", b"m*"]);
        assert_eq!(hub.len(Kind::Pattern), 0);
        assert!(a.pubsub.is_subscribed() && a.info.pubsub.is_subscribed());
        hub.forget(&mut a);
        assert!(!a.pubsub.is_subscribed() && !a.info.pubsub.is_subscribed());
        assert_eq!(hub.len(Kind::Shard), 0);
        assert!(!hub.unsubscribe(&mut a, Kind::Shard, b"s"));
    }

    #[test]
    fn a_subscriber_over_its_hard_limit_is_dropped_and_killed() {
        let (clients, hub) = (Clients::default(), Hub::default());
        let mut slow = client(&clients);
        hub.subscribe(&mut slow, Kind::Channel, b"c");
        let limit = OutputBufferLimit {
            hard: 1000,
            soft: 0,
            soft_seconds: 0,
        };
        let payload = [b'x'; 100];
        let mut pushed = 0;
        while !slow.info.is_killed() {
            let d = hub.publish(Kind::Channel, b"c", &payload, &limit, 0);
            // Still counted, as Redis counts a client that is being closed.
            assert_eq!(d.receivers, 1);
            pushed += 1;
            assert!(pushed < 100, "never disconnected");
        }
        assert_eq!(slow.info.pubsub.backlog(), (0, 0));
        hub.publish(Kind::Channel, b"c", &payload, &limit, 0);
        assert!(queued(&slow).is_empty());
    }

    #[test]
    fn soft_limit_needs_to_hold_for_its_seconds() {
        let limit = OutputBufferLimit {
            hard: 0,
            soft: 10,
            soft_seconds: 0,
        };
        let mut since = None;
        assert!(!over_limit(&limit, 5, &mut since));
        // First time over: the clock starts.
        assert!(!over_limit(&limit, 10, &mut since));
        assert!(since.is_some());
        // Below again: the clock stops.
        assert!(!over_limit(&limit, 9, &mut since));
        assert!(since.is_none());
        assert!(!over_limit(&limit, 11, &mut since));
        since = since.and_then(|t| t.checked_sub(std::time::Duration::from_secs(2)));
        assert!(over_limit(&limit, 11, &mut since));
    }
}
