//! HyperLogLog commands: PFADD, PFCOUNT, PFMERGE (Redis 7.0's hyperloglog.c); the
//! representation lives in `types::hll`.

use super::flags::*;
use super::{Args, CmdResult, Context, Keys, Spec};
use crate::protocol::Reply;
use crate::server::notify::class;
use crate::types::hll;

const G: &str = "hyperloglog";

pub(super) const TABLE: &[Spec] = &[
    Spec::new("pfadd", -2, WRITE | DENYOOM | FAST, Keys::one(1), pfadd)
        .group(G)
        .doc("Adds elements to a HyperLogLog key. Creates the key if it doesn't exist."),
    Spec::new(
        "pfcount",
        -2,
        READONLY | MAY_REPLICATE,
        Keys::range(1, -1, 1),
        pfcount,
    )
    .group(G)
    .doc("Returns the approximated cardinality of the set(s) observed by the HyperLogLog key(s)."),
    Spec::new(
        "pfmerge",
        -2,
        WRITE | DENYOOM,
        Keys::range(1, -1, 1),
        pfmerge,
    )
    .group(G)
    .doc("Merges one or more HyperLogLog values into a single key."),
];

fn pfadd(cx: &mut Context<'_>, args: &Args<'_>) -> CmdResult {
    let key = args.get(1);
    let elements: Vec<&[u8]> = args.iter().skip(2).collect();
    let updated = hll::pfadd(&cx.db(), key, &elements)?;
    if updated {
        cx.notify(class::STRING, "pfadd", key);
    }
    Ok(Reply::Int(updated.into()))
}

fn pfcount(cx: &mut Context<'_>, args: &Args<'_>) -> CmdResult {
    let keys: Vec<&[u8]> = args.iter().skip(1).collect();
    let card = hll::pfcount(&cx.db(), &keys)?;
    Ok(Reply::Int(i64::try_from(card).unwrap_or(i64::MAX)))
}

fn pfmerge(cx: &mut Context<'_>, args: &Args<'_>) -> CmdResult {
    let dest = args.get(1);
    let sources: Vec<&[u8]> = args.iter().skip(2).collect();
    hll::pfmerge(&cx.db(), dest, &sources)?;
    // Redis announces a merge as `pfadd`: a mass add of elements.
    cx.notify(class::STRING, "pfadd", dest);
    Ok(Reply::Ok)
}
