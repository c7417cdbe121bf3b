//! The per-connection loop.
//!
//! Each read is followed by one pass: every complete request in the buffer runs in order, inline,
//! with no hop per command; the pass's writes are acknowledged with one WAL flush (shared with
//! concurrent connections); then all replies go out in one socket write. A pipeline of N commands
//! therefore costs one read, one flush and one write.

use super::blocking::{self, Waiter};
use super::pubsub;
use super::{Client, ReplyMode, Shared};
use crate::commands::{self, Args, Outcome};
use crate::protocol::reply::error_line;
use crate::protocol::request::{ArgSource, Limits, RequestParser, Step};
use crate::protocol::Reply;
use bytes::{Buf, BytesMut};
use std::net::SocketAddr;
use std::os::fd::AsRawFd;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const READ_CHUNK: usize = 16 * 1024;

/// Redis's reply to a non-loopback client in protected mode.
const DENIED: &str = "DENIED Redis is running in protected mode because protected mode is enabled and no password is set for the default user. In this mode connections are only accepted from the loopback interface. If you want to connect from external computers to Redis you may adopt one of the following solutions: 1) Just disable protected mode sending the command 'CONFIG SET protected-mode no' from the loopback interface by connecting to Redis from the same host the server is running, however MAKE SURE Redis is not publicly accessible from internet if you do so. Use CONFIG REWRITE to make this change permanent. 2) Alternatively you can just disable the protected mode by editing the Redis configuration file, and setting the protected mode option to 'no', and then restarting the server. 3) If you started the server manually just for testing, restart it with the '--protected-mode no' option. 4) Set up an authentication password for the default user. NOTE: You only need to do one of the above things in order for the server to start accepting connections from the outside.";

/// Serves one client until it quits, is killed, times out or breaks the protocol.
pub async fn handle(shared: Arc<Shared>, mut stream: TcpStream, peer: SocketAddr) {
    let _ = stream.set_nodelay(true);
    let laddr = stream
        .local_addr()
        .map(|a| a.to_string())
        .unwrap_or_default();
    let (maxclients, protected) = {
        let cfg = shared.config.read();
        (
            cfg.maxclients as usize,
            cfg.protected_mode && !shared.auth_required(),
        )
    };
    if protected && !peer.ip().is_loopback() {
        let mut out = Vec::new();
        error_line(&mut out, DENIED);
        let _ = stream.write_all(&out).await;
        return;
    }
    let Some(info) =
        shared
            .clients
            .register(peer.to_string(), laddr, stream.as_raw_fd(), maxclients)
    else {
        shared
            .stats
            .rejected_connections
            .fetch_add(1, Ordering::Relaxed);
        let _ = stream
            .write_all(b"-ERR max number of clients reached\r\n")
            .await;
        return;
    };
    let id = info.id;
    let mut client = Client::new(info.clone(), !shared.auth_required());
    if let Err(e) = serve_client(&shared, &mut stream, &mut client).await {
        tracing::debug!(client = id, error = %e, "connection closed with an error");
    }
    client.unwatch(&shared.store);
    shared.tracking.disable(id);
    shared.pubsub.forget(&mut client);
    shared.ops.monitors.remove(id);
    shared.clients.unregister(id);
}

async fn serve_client(
    shared: &Arc<Shared>,
    stream: &mut TcpStream,
    client: &mut Client,
) -> std::io::Result<()> {
    let mut buf = BytesMut::with_capacity(READ_CHUNK);
    let mut out: Vec<u8> = Vec::with_capacity(READ_CHUNK);
    let mut parser = RequestParser::default();
    let info = client.info.clone();
    // After a blocked command finishes, requests pipelined behind it may already be buffered.
    let mut need_read = true;
    let mut turn = Turn::None;
    loop {
        if need_read {
            if buf.capacity() - buf.len() < READ_CHUNK {
                buf.reserve(READ_CHUNK);
            }
            let read = stream.read_buf(&mut buf);
            let n = tokio::select! {
                r = read => r?,
                _ = info.killed() => return Ok(()),
                // Messages reach a subscriber that sends nothing.
                _ = pubsub::pending(&info) => {
                    if !pubsub::write_pending(shared, stream, &info).await? {
                        return Ok(());
                    }
                    continue;
                }
            };
            if n == 0 {
                return Ok(());
            }
            note_input(shared, client, n);
        }
        need_read = true;
        let (limits, query_limit) = {
            let cfg = shared.config.read();
            (
                Limits {
                    max_bulk_len: cfg.proto_max_bulk_len,
                    // Without a password every client is as good as authenticated.
                    authenticated: client.authenticated || !shared.auth_required(),
                },
                cfg.client_query_buffer_limit as usize,
            )
        };
        let pass = run_pass(
            shared,
            client,
            &mut parser,
            &buf,
            limits,
            &mut out,
            &mut turn,
        );
        // The gate goes back at the end of every pass.
        turn = Turn::None;
        buf.advance(pass.consumed);
        info.query_buf.store(buf.len(), Ordering::Relaxed);
        if buf.len() > query_limit {
            tracing::warn!(
                client = info.id,
                "closing client that reached max query buffer length"
            );
            client.close_after_reply = true;
        }
        if !flush(shared, stream, &mut out).await? {
            return Ok(());
        }
        if pass.paused {
            // CLIENT PAUSE holds the next request back (unread, in `buf`) until it ends.
            let _held = shared.ops.pause.hold(&info);
            tokio::select! {
                _ = shared.ops.pause.wait() => {}
                _ = info.killed() => return Ok(()),
            }
            need_read = false;
            continue;
        }
        if pass.wait_turn {
            // The next request takes the database view exclusively and another holds the gate:
            // wait for it here, where waiting frees the worker thread (the request stays in `buf`).
            let Some(t) = wait_turn(shared, &info).await else {
                return Ok(());
            };
            turn = t;
            need_read = false;
            continue;
        }
        if let Some(waiter) = pass.blocked {
            let Some(reply) =
                wait_blocked(shared, stream, &mut buf, client, &waiter, query_limit).await?
            else {
                return Ok(());
            };
            emit(client, reply, &mut out);
            if !flush(shared, stream, &mut out).await? {
                return Ok(());
            }
            need_read = false;
        }
        if client.close_after_reply || info.is_killed() {
            let _ = stream.shutdown().await;
            return Ok(());
        }
    }
}

/// Accounts for `n` bytes read from the client.
fn note_input(shared: &Shared, client: &mut Client, n: usize) {
    client.touch();
    shared
        .stats
        .net_input_bytes
        .fetch_add(n as u64, Ordering::Relaxed);
}

/// Acknowledges the pass's writes and sends its replies. False if the WAL failed, in which case
/// nothing may be acknowledged and the connection must close.
async fn flush(
    shared: &Shared,
    stream: &mut TcpStream,
    out: &mut Vec<u8>,
) -> std::io::Result<bool> {
    // Nothing is acknowledged before it is in the write-ahead log.
    if let Err(e) = shared.store.ack() {
        tracing::error!(error = %e, "WAL flush failed; dropping replies and the connection");
        return Ok(false);
    }
    if !out.is_empty() {
        stream.write_all(out).await?;
        shared
            .stats
            .net_output_bytes
            .fetch_add(out.len() as u64, Ordering::Relaxed);
        out.clear();
        if out.capacity() > 1 << 20 {
            out.shrink_to(READ_CHUNK);
        }
    }
    Ok(true)
}

/// Waits for a blocked command's reply: served by a writer, unblocked, or timed out. Keeps
/// reading what the client sends meanwhile (run once the command finishes) so a disconnect is
/// noticed. None when the client went away or was killed; its wait is cleaned up.
async fn wait_blocked(
    shared: &Arc<Shared>,
    stream: &mut TcpStream,
    buf: &mut BytesMut,
    client: &mut Client,
    waiter: &Arc<Waiter>,
    query_limit: usize,
) -> std::io::Result<Option<Reply>> {
    let info = client.info.clone();
    let mut timed_out = false;
    let mut gone = false;
    loop {
        if let Some(reply) = waiter.take_reply() {
            return Ok((!gone).then_some(reply));
        }
        if (timed_out || gone) && shared.blocking.cancel(&shared.store, waiter) {
            return Ok((!gone).then(|| waiter.timeout_reply()));
        }
        if gone && waiter.is_done() {
            return Ok(None);
        }
        // While a writer serves the command, only its outcome matters.
        let deadline = waiter.deadline.filter(|_| !timed_out && !gone);
        let sleep = async move {
            match deadline {
                Some(d) => tokio::time::sleep_until(d.into()).await,
                None => std::future::pending().await,
            }
        };
        if buf.capacity() - buf.len() < READ_CHUNK {
            buf.reserve(READ_CHUNK);
        }
        tokio::select! {
            _ = waiter.changed() => {}
            _ = sleep => timed_out = true,
            _ = info.killed(), if !gone => gone = true,
            // A RESP3 subscriber gets its messages while blocked.
            _ = pubsub::pending(&info), if !gone => {
                if !matches!(pubsub::write_pending(shared, stream, &info).await, Ok(true)) {
                    gone = true;
                }
            }
            r = stream.read_buf(buf), if !gone => match r {
                Ok(0) | Err(_) => gone = true,
                Ok(n) => {
                    note_input(shared, client, n);
                    info.query_buf.store(buf.len(), Ordering::Relaxed);
                    if buf.len() > query_limit {
                        tracing::warn!(client = info.id, "closing blocked client that reached max query buffer length");
                        gone = true;
                    }
                }
            },
        }
    }
}

/// What one pass over the read buffer did.
struct Pass {
    consumed: usize,
    /// The command that blocked; the pass stopped after it.
    blocked: Option<Arc<Waiter>>,
    /// CLIENT PAUSE holds the next request; the pass stopped before it.
    paused: bool,
    /// The next request needs the exclusive gate, which another connection holds; the pass
    /// stopped before it.
    wait_turn: bool,
}

impl Pass {
    fn stopped(consumed: usize) -> Pass {
        Pass {
            consumed,
            blocked: None,
            paused: false,
            wait_turn: false,
        }
    }
}

/// A connection's claim on [`Shared::exclusive_gate`] for its next exclusive request.
///
/// Commands that take the database view exclusively (scripts, EXEC, FLUSHALL, SWAPDB) queue for
/// the gate asynchronously before they run. Without it, a second script arriving while one runs
/// parks its tokio worker on the view's lock: with scripts from many clients, the workers take
/// turns sleeping on a futex and waking each other, and nobody reads sockets meanwhile. Through
/// the gate, a waiting connection yields its worker, which goes on reading and parsing other
/// clients' requests, and a released permit wakes the next waiter on the releasing worker. The
/// lock still provides the exclusion; the gate only orders who asks for it.
enum Turn<'a> {
    None,
    /// Acquired by [`wait_turn`] for the request the pass stopped before, or by the pass itself;
    /// held until the pass ends.
    Held {
        _permit: tokio::sync::SemaphorePermit<'a>,
    },
    /// A script has run past busy-reply-threshold: run the request without the gate, so that
    /// it answers BUSY (or waits on the lock in steps) as the dispatcher decides.
    Bypass,
}

/// Whether a request must hold the exclusive gate to run: a command flagged EXCLUSIVE that
/// will run now (inside MULTI only EXEC runs; the rest are queued).
fn needs_gate(shared: &Shared, client: &Client, args: &Args<'_>) -> bool {
    let Some(spec) = shared.names.lookup(args.get(0)) else {
        return false;
    };
    spec.has(commands::flags::EXCLUSIVE)
        && spec.arity_ok(args.len())
        && (client.multi.is_none() || spec.name == "exec")
}

/// Waits for the exclusive gate. Bypasses it once a script has run past busy-reply-threshold;
/// None if the client was killed meanwhile.
async fn wait_turn<'a>(shared: &'a Shared, info: &super::ClientInfo) -> Option<Turn<'a>> {
    let acquire = shared.exclusive_gate.acquire();
    tokio::pin!(acquire);
    loop {
        let step = shared
            .scripts
            .busy
            .until_threshold_ms()
            .map_or(100, |ms| ms.clamp(1, 100));
        tokio::select! {
            permit = &mut acquire => {
                // The gate is never closed; if it were, the lock alone still excludes.
                return Some(permit.map_or(Turn::Bypass, |p| Turn::Held { _permit: p }));
            }
            _ = tokio::time::sleep(std::time::Duration::from_millis(step)) => {
                if shared.scripts.busy.refusal().is_some() {
                    return Some(Turn::Bypass);
                }
            }
            _ = info.killed() => return None,
        }
    }
}

/// Appends a reply unless CLIENT REPLY says otherwise.
fn emit(client: &mut Client, reply: Reply, out: &mut Vec<u8>) {
    match client.reply_mode {
        ReplyMode::On => reply.encode(out, client.resp3),
        ReplyMode::Off => {}
        ReplyMode::SkipThis => client.reply_mode = ReplyMode::On,
        // CLIENT REPLY SKIP itself is not answered; the next command's reply is dropped.
        ReplyMode::Skip => client.reply_mode = ReplyMode::SkipThis,
    }
}

/// Runs every complete request in `buf`, appending replies to `out`, until one blocks.
fn run_pass<'s>(
    shared: &'s Arc<Shared>,
    client: &mut Client,
    parser: &mut RequestParser,
    buf: &[u8],
    mut limits: Limits,
    out: &mut Vec<u8>,
    turn: &mut Turn<'s>,
) -> Pass {
    let mut off = 0;
    while !client.close_after_reply {
        match parser.parse(&buf[off..], limits) {
            Ok(Step::Request { consumed, source }) => {
                let base = match source {
                    ArgSource::Buffer => &buf[off..],
                    ArgSource::Inline => parser.inline_bytes(),
                };
                let args = Args::new(base, parser.args());
                if commands::ops::must_wait_for_pause(shared, client, &args) {
                    return Pass {
                        paused: true,
                        ..Pass::stopped(off)
                    };
                }
                // The gate, once had, is kept to the end of the pass: a pipeline of scripts runs
                // through without handing it over (and stopping) after each one.
                if needs_gate(shared, client, &args) {
                    match turn {
                        Turn::Held { .. } => {}
                        Turn::Bypass => *turn = Turn::None,
                        Turn::None => match shared.exclusive_gate.try_acquire() {
                            Ok(permit) => *turn = Turn::Held { _permit: permit },
                            Err(_) => {
                                return Pass {
                                    wait_turn: true,
                                    ..Pass::stopped(off)
                                }
                            }
                        },
                    }
                }
                pubsub::deliver_queued(client, out);
                let outcome = commands::dispatch(shared, client, &args);
                off += consumed;
                // Clients blocked on keys this command wrote are served before it replies.
                if shared.store.ready.has_pending() {
                    blocking::serve_ready(shared);
                }
                match outcome {
                    Outcome::Reply(reply) => {
                        pubsub::deliver_own(client, out);
                        emit(client, reply, out)
                    }
                    Outcome::Blocked(waiter) => {
                        return Pass {
                            blocked: Some(waiter),
                            ..Pass::stopped(off)
                        }
                    }
                    // Only re-runs of blocked commands report this; a connection never does.
                    Outcome::NotReady => emit(client, Reply::NilArray, out),
                }
                limits.authenticated |= client.authenticated;
            }
            Ok(Step::Skip { consumed }) => off += consumed,
            Ok(Step::Incomplete) => break,
            Err(e) => {
                error_line(out, &e.to_string());
                client.close_after_reply = true;
            }
        }
    }
    Pass::stopped(off)
}
