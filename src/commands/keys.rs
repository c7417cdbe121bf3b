//! Generic key commands: DEL, EXISTS, TYPE, expiry, renaming, scanning.

use super::flags::*;
use super::{Args, CmdResult, Context, Keys, Spec};
use crate::protocol::Reply;
use crate::types::keyspace;

const G: &str = "generic";

pub(super) const TABLE: &[Spec] = &[
    Spec::new("del", -2, WRITE, Keys::range(1, -1, 1), del)
        .group(G)
        .doc("Deletes one or more keys."),
    Spec::new("unlink", -2, WRITE | FAST, Keys::range(1, -1, 1), del)
        .group(G)
        .doc("Asynchronously deletes one or more keys."),
    Spec::new("exists", -2, READONLY | FAST, Keys::range(1, -1, 1), exists)
        .group(G)
        .doc("Determines whether one or more keys exist."),
];

fn key_args<'a>(args: &Args<'a>, from: usize) -> Vec<&'a [u8]> {
    args.iter().skip(from).collect()
}

fn del(cx: &mut Context<'_>, args: &Args<'_>) -> CmdResult {
    Ok(Reply::Int(keyspace::delete(&cx.db(), &key_args(args, 1))?))
}

fn exists(cx: &mut Context<'_>, args: &Args<'_>) -> CmdResult {
    Ok(Reply::Int(keyspace::exists(&cx.db(), &key_args(args, 1))?))
}
