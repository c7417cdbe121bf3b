//! Pub/Sub commands: SUBSCRIBE, UNSUBSCRIBE, PSUBSCRIBE, PUNSUBSCRIBE, PUBLISH, SSUBSCRIBE,
//! SUNSUBSCRIBE, SPUBLISH and PUBSUB, plus the rule of RESP2's subscribed mode.
//!
//! Replies follow Redis 7.0: every channel named gets its own confirmation (`subscribe`,
//! channel, running count), a push frame for RESP3 and an array for RESP2. Delivery, queues and
//! limits live in the hub (`server::pubsub`).

use super::flags::*;
use super::introspection::{help_reply, run_sub, sub, subcommand_name, Sub};
use super::{Args, BlockMode, CmdError, CmdResult, Context, Keys, Spec};
use crate::protocol::Reply;
use crate::server::pubsub::Kind;
use crate::server::Client;

const G: &str = "pubsub";
const SUBSCRIBING: u32 = PUBSUB | NOSCRIPT | LOADING | STALE;
const PUBLISHING: u32 = PUBSUB | LOADING | STALE | FAST;

/// The pub/sub family's slice of the command table.
pub(super) const TABLE: &[Spec] = &[
    Spec::new("subscribe", -2, SUBSCRIBING, Keys::NONE, subscribe)
        .group(G)
        .doc("Listen for messages published to the given channels"),
    Spec::new("unsubscribe", -1, SUBSCRIBING, Keys::NONE, unsubscribe)
        .group(G)
        .doc("Stop listening for messages posted to the given channels"),
    Spec::new("psubscribe", -2, SUBSCRIBING, Keys::NONE, psubscribe)
        .group(G)
        .doc("Listen for messages published to channels matching the given patterns"),
    Spec::new("punsubscribe", -1, SUBSCRIBING, Keys::NONE, punsubscribe)
        .group(G)
        .doc("Stop listening for messages posted to channels matching the given patterns"),
    Spec::new("publish", 3, PUBLISHING, Keys::NONE, publish)
        .group(G)
        .doc("Post a message to a channel"),
    // Shard channels are declared at key positions, as Redis does for cluster routing; COMMAND
    // reports them as `not_key`.
    Spec::new(
        "ssubscribe",
        -2,
        SUBSCRIBING,
        Keys::range(1, -1, 1),
        ssubscribe,
    )
    .group(G)
    .doc("Listen for messages published to the given shard channels"),
    Spec::new(
        "sunsubscribe",
        -1,
        SUBSCRIBING,
        Keys::range(1, -1, 1),
        sunsubscribe,
    )
    .group(G)
    .doc("Stop listening for messages posted to the given shard channels"),
    Spec::new("spublish", 3, PUBLISHING, Keys::one(1), spublish)
        .group(G)
        .doc("Post a message to a shard channel"),
    Spec::new("pubsub", -2, 0, Keys::NONE, pubsub)
        .group(G)
        .doc("A container for Pub/Sub commands"),
];

const SUB_FLAGS: u32 = PUBSUB | LOADING | STALE;

/// PUBSUB's subcommands, for dispatch and COMMAND INFO/DOCS.
pub(super) const PUBSUB_SUBS: &[Sub] = &[
    sub(
        "pubsub|help",
        2,
        LOADING | STALE,
        "Show helpful text about the different subcommands",
        pubsub_help,
    ),
    sub(
        "pubsub|numsub",
        -2,
        SUB_FLAGS,
        "Get the count of subscribers for channels",
        pubsub_numsub,
    ),
    sub(
        "pubsub|numpat",
        2,
        SUB_FLAGS,
        "Get the count of unique patterns pattern subscriptions",
        pubsub_numpat,
    ),
    sub(
        "pubsub|channels",
        -2,
        SUB_FLAGS,
        "List active channels",
        pubsub_channels,
    ),
    sub(
        "pubsub|shardchannels",
        -2,
        SUB_FLAGS,
        "List active shard channels",
        pubsub_shardchannels,
    ),
    sub(
        "pubsub|shardnumsub",
        -2,
        SUB_FLAGS,
        "Get the count of subscribers for shard channels",
        pubsub_shardnumsub,
    ),
];

/// Commands a RESP2 client may run while subscribed: their replies cannot be told apart from
/// messages any other way, so Redis allows nothing else.
const SUBSCRIBED_MODE_COMMANDS: &[&str] = &[
    "ping",
    "subscribe",
    "ssubscribe",
    "unsubscribe",
    "sunsubscribe",
    "psubscribe",
    "punsubscribe",
    "quit",
    "reset",
];

/// Redis 7.0's subscribed-mode rule: a RESP2 client with any subscription may only run the
/// commands above. The error names the command as Redis does (`client|list` for a subcommand).
/// A request naming an unknown subcommand or with a wrong subcommand arity is let through, so
/// it gets that error, as in Redis, where those checks come first. Only requests from the
/// connection are checked (`block` is [`BlockMode::Allow`]): commands that EXEC runs after a
/// queued SUBSCRIBE run, as in Redis, where EXEC calls them without this check.
pub(super) fn refuse_in_subscribed_mode(
    client: &Client,
    spec: &Spec,
    args: &Args<'_>,
    block: BlockMode,
) -> Option<CmdError> {
    if client.resp3
        || block != BlockMode::Allow
        || !client.pubsub.is_subscribed()
        || SUBSCRIBED_MODE_COMMANDS.contains(&spec.name)
    {
        return None;
    }
    let name = if super::introspection::is_container(spec) {
        subcommand_name(spec, args)?
    } else {
        spec.name
    };
    Some(CmdError::msg(format!(
        "ERR Can't execute '{name}': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET are allowed in this context"
    )))
}

/// One (un)subscription confirmation: `[word, channel or nil, count]`.
fn confirmation(word: &'static str, name: Option<&[u8]>, count: usize) -> Reply {
    Reply::Push(vec![
        Reply::text(word),
        name.map_or(Reply::Nil, Reply::bulk),
        Reply::Int(count as i64),
    ])
}

/// One reply per confirmation, back to back.
fn confirmations(mut replies: Vec<Reply>) -> Reply {
    if replies.len() == 1 {
        replies.pop().unwrap_or(Reply::Nil)
    } else {
        Reply::Sequence(replies)
    }
}

fn subscribe_to(cx: &mut Context<'_>, args: &Args<'_>, kind: Kind) -> CmdResult {
    let hub = &cx.shared.pubsub;
    let mut replies = Vec::with_capacity(args.len() - 1);
    for name in args.iter().skip(1) {
        // Subscribing twice is not an error: the confirmation repeats the count.
        hub.subscribe(cx.client, kind, name);
        replies.push(confirmation(
            kind.subscribe_word(),
            Some(name),
            cx.client.pubsub.confirm_count(kind),
        ));
    }
    Ok(confirmations(replies))
}

fn unsubscribe_from(cx: &mut Context<'_>, args: &Args<'_>, kind: Kind) -> CmdResult {
    let hub = &cx.shared.pubsub;
    let word = kind.unsubscribe_word();
    if args.len() > 1 {
        // A channel the client was not subscribed to is confirmed all the same.
        let replies = args
            .iter()
            .skip(1)
            .map(|name| {
                hub.unsubscribe(cx.client, kind, name);
                confirmation(word, Some(name), cx.client.pubsub.confirm_count(kind))
            })
            .collect();
        return Ok(confirmations(replies));
    }
    let names = hub.unsubscribe_all(cx.client, kind);
    let left = cx.client.pubsub.confirm_count(kind);
    if names.is_empty() {
        // Subscribed to nothing: Redis still answers, with a nil channel.
        return Ok(confirmation(word, None, left));
    }
    // Redis drops them one at a time; each confirmation shows the count after its own.
    let n = names.len();
    let replies = names
        .iter()
        .enumerate()
        .map(|(i, name)| confirmation(word, Some(name), left + n - 1 - i))
        .collect();
    Ok(confirmations(replies))
}

fn subscribe(cx: &mut Context<'_>, args: &Args<'_>) -> CmdResult {
    subscribe_to(cx, args, Kind::Channel)
}

fn psubscribe(cx: &mut Context<'_>, args: &Args<'_>) -> CmdResult {
    subscribe_to(cx, args, Kind::Pattern)
}

fn ssubscribe(cx: &mut Context<'_>, args: &Args<'_>) -> CmdResult {
    // Redis refuses it to a client that must get one reply per command (inside MULTI), while
    // SUBSCRIBE keeps an old exemption.
    if cx.block == BlockMode::Deny {
        return Err(CmdError::msg(
            "ERR SSUBSCRIBE isn't allowed for a DENY BLOCKING client",
        ));
    }
    subscribe_to(cx, args, Kind::Shard)
}

fn unsubscribe(cx: &mut Context<'_>, args: &Args<'_>) -> CmdResult {
    unsubscribe_from(cx, args, Kind::Channel)
}

fn punsubscribe(cx: &mut Context<'_>, args: &Args<'_>) -> CmdResult {
    unsubscribe_from(cx, args, Kind::Pattern)
}

fn sunsubscribe(cx: &mut Context<'_>, args: &Args<'_>) -> CmdResult {
    unsubscribe_from(cx, args, Kind::Shard)
}

fn publish_to(cx: &mut Context<'_>, args: &Args<'_>, kind: Kind) -> CmdResult {
    let limit = cx.shared.config.read().client_output_buffer_limit.pubsub;
    let done = cx
        .shared
        .pubsub
        .publish(kind, args.get(1), args.get(2), &limit, cx.client.id());
    if done.to_self {
        cx.client.pubsub.note_delivered_to_self();
    }
    Ok(Reply::Int(done.receivers as i64))
}

fn publish(cx: &mut Context<'_>, args: &Args<'_>) -> CmdResult {
    publish_to(cx, args, Kind::Channel)
}

fn spublish(cx: &mut Context<'_>, args: &Args<'_>) -> CmdResult {
    publish_to(cx, args, Kind::Shard)
}

fn pubsub(cx: &mut Context<'_>, args: &Args<'_>) -> CmdResult {
    run_sub(cx, args, PUBSUB_SUBS)
}

/// Redis's reply when a PUBSUB subcommand gets more arguments than it takes.
fn pubsub_syntax_error(args: &Args<'_>) -> CmdError {
    let sub: String = args.text(1).chars().take(128).collect();
    CmdError::msg(format!(
        "ERR unknown subcommand or wrong number of arguments for '{sub}'. Try {} HELP.",
        args.text(0).to_ascii_uppercase()
    ))
}

/// PUBSUB CHANNELS / SHARDCHANNELS [pattern].
fn list_channels(cx: &mut Context<'_>, args: &Args<'_>, kind: Kind) -> CmdResult {
    if args.len() > 3 {
        return Err(pubsub_syntax_error(args));
    }
    let channels = cx.shared.pubsub.channels(kind, args.opt(2));
    Ok(Reply::bulks(channels))
}

/// PUBSUB NUMSUB / SHARDNUMSUB [channel ...]: a flat array of channel, count pairs.
fn count_subscribers(cx: &mut Context<'_>, args: &Args<'_>, kind: Kind) -> CmdResult {
    let hub = &cx.shared.pubsub;
    let mut out = Vec::with_capacity(2 * (args.len() - 2));
    for name in args.iter().skip(2) {
        out.push(Reply::bulk(name));
        out.push(Reply::Int(hub.numsub(kind, name) as i64));
    }
    Ok(Reply::Array(out))
}

fn pubsub_channels(cx: &mut Context<'_>, args: &Args<'_>) -> CmdResult {
    list_channels(cx, args, Kind::Channel)
}

fn pubsub_shardchannels(cx: &mut Context<'_>, args: &Args<'_>) -> CmdResult {
    list_channels(cx, args, Kind::Shard)
}

fn pubsub_numsub(cx: &mut Context<'_>, args: &Args<'_>) -> CmdResult {
    count_subscribers(cx, args, Kind::Channel)
}

fn pubsub_shardnumsub(cx: &mut Context<'_>, args: &Args<'_>) -> CmdResult {
    count_subscribers(cx, args, Kind::Shard)
}

fn pubsub_numpat(cx: &mut Context<'_>, _args: &Args<'_>) -> CmdResult {
    // Distinct patterns, not pattern subscriptions, as in Redis.
    Ok(Reply::Int(cx.shared.pubsub.len(Kind::Pattern) as i64))
}

fn pubsub_help(_cx: &mut Context<'_>, _args: &Args<'_>) -> CmdResult {
    Ok(help_reply(
        "PUBSUB <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
        &[
            "CHANNELS [<pattern>]",
            "    Return the currently active channels matching a <pattern> (default: '*').",
            "NUMPAT",
            "    Return number of subscriptions to patterns.",
            "NUMSUB [<channel> ...]",
            "    Return the number of subscribers for the specified channels, excluding",
            "    pattern subscriptions(default: no channels).",
            "SHARDCHANNELS [<pattern>]",
            "    Return the currently active shard level channels matching a <pattern> (default: '*').",
            "SHARDNUMSUB [<shardchannel> ...]",
            "    Return the number of subscribers for the specified shard level channel(s)",
        ],
    ))
}
