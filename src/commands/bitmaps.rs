//! Bitmap commands: SETBIT GETBIT BITCOUNT BITPOS BITOP BITFIELD BITFIELD_RO (Redis 7.0's
//! bitops.c), on string values; the operations live in `types::bitmaps`.

use super::flags::*;
use super::{Args, CmdError, CmdResult, Context, Keys, Spec};
use crate::protocol::Reply;
use crate::server::notify::class;
use crate::types::bitmaps::{self, BitOp, Field, FieldOp, Overflow, Unit};
use crate::util::num::parse_i64;

const G: &str = "bitmap";

pub(super) const TABLE: &[Spec] = &[
    Spec::new("setbit", 4, WRITE | DENYOOM, Keys::one(1), setbit)
        .group(G)
        .doc("Sets or clears the bit at offset of the string value. Creates the key if it doesn't exist."),
    Spec::new("getbit", 3, READONLY | FAST, Keys::one(1), getbit)
        .group(G)
        .doc("Returns a bit value by offset."),
    Spec::new("bitcount", -2, READONLY, Keys::one(1), bitcount)
        .group(G)
        .doc("Counts the number of set bits (population counting) in a string."),
    Spec::new("bitpos", -3, READONLY, Keys::one(1), bitpos)
        .group(G)
        .doc("Finds the first set (1) or clear (0) bit in a string."),
    Spec::new("bitop", -4, WRITE | DENYOOM, Keys::range(2, -1, 1), bitop)
        .group(G)
        .doc("Performs bitwise operations on multiple strings, and stores the result."),
    Spec::new("bitfield", -2, WRITE | DENYOOM, Keys::one(1), bitfield)
        .group(G)
        .doc("Performs arbitrary bitfield integer operations on strings."),
    Spec::new("bitfield_ro", -2, READONLY | FAST, Keys::one(1), bitfield_ro)
        .group(G)
        .doc("Performs arbitrary read-only bitfield integer operations on strings."),
];

const OFFSET_ERR: &str = "ERR bit offset is not an integer or out of range";

/// A bit offset (getBitOffsetFromArgument): `#n` means n fields of `bits` bits when allowed;
/// the byte it falls in must be below proto-max-bulk-len.
fn bit_offset(cx: &Context<'_>, arg: &[u8], hash_bits: Option<u32>) -> Result<u64, CmdError> {
    let (digits, mult) = match (arg.first(), hash_bits) {
        (Some(b'#'), Some(bits)) => (&arg[1..], i64::from(bits)),
        _ => (arg, 1),
    };
    let max = cx.shared.config.read().proto_max_bulk_len;
    parse_i64(digits)
        .and_then(|n| n.checked_mul(mult))
        .and_then(|n| u64::try_from(n).ok())
        .filter(|n| (n >> 3) < max)
        .ok_or(CmdError::msg(OFFSET_ERR))
}

fn setbit(cx: &mut Context<'_>, args: &Args<'_>) -> CmdResult {
    const BIT_ERR: &str = "ERR bit is not an integer or out of range";
    let offset = bit_offset(cx, args.get(2), None)?;
    let on = match parse_i64(args.get(3)) {
        Some(0) => false,
        Some(1) => true,
        _ => return Err(CmdError::msg(BIT_ERR)),
    };
    let key = args.get(1);
    let (old, changed) = bitmaps::setbit(&cx.db(), key, offset, on)?;
    if changed {
        cx.notify(class::STRING, "setbit", key);
    }
    Ok(Reply::Int(old.into()))
}

fn getbit(cx: &mut Context<'_>, args: &Args<'_>) -> CmdResult {
    let offset = bit_offset(cx, args.get(2), None)?;
    Ok(Reply::Int(
        bitmaps::getbit(&cx.db(), args.get(1), offset)?.into(),
    ))
}

fn unit(args: &Args<'_>, i: usize) -> Result<Unit, CmdError> {
    if args.is(i, "bit") {
        Ok(Unit::Bit)
    } else if args.is(i, "byte") {
        Ok(Unit::Byte)
    } else {
        Err(CmdError::Syntax)
    }
}

fn bitcount(cx: &mut Context<'_>, args: &Args<'_>) -> CmdResult {
    // Redis 7.0 looks the key up first: a missing key is 0 whatever the other arguments.
    let db = cx.db();
    if bitmaps::bitcount(&db, args.get(1), None)?.is_none() {
        return Ok(Reply::Int(0));
    }
    let range = match args.len() {
        2 => None,
        4 | 5 => {
            let (s, e) = (args.i64(2)?, args.i64(3)?);
            // Redis answers an inverted pair of negative indexes before reading the unit.
            if s < 0 && e < 0 && s > e {
                return Ok(Reply::Int(0));
            }
            let u = if args.len() == 5 {
                unit(args, 4)?
            } else {
                Unit::Byte
            };
            Some((s, e, u))
        }
        _ => return Err(CmdError::Syntax),
    };
    let n = bitmaps::bitcount(&db, args.get(1), range)?.unwrap_or(0);
    Ok(Reply::Int(i64::try_from(n).unwrap_or(i64::MAX)))
}

fn bitpos(cx: &mut Context<'_>, args: &Args<'_>) -> CmdResult {
    let bit = match args.i64(2)? {
        0 => 0,
        1 => 1,
        _ => return Err(CmdError::msg("ERR The bit argument must be 1 or 0.")),
    };
    let db = cx.db();
    let missing = if bit == 1 { -1 } else { 0 };
    if bitmaps::bitpos(&db, args.get(1), bit, None, None, Unit::Byte)?.is_none() {
        return Ok(Reply::Int(missing));
    }
    let (start, end, u) = match args.len() {
        3 => (None, None, Unit::Byte),
        4..=6 => {
            let start = Some(args.i64(3)?);
            let u = if args.len() == 6 {
                unit(args, 5)?
            } else {
                Unit::Byte
            };
            let end = if args.len() >= 5 {
                Some(args.i64(4)?)
            } else {
                None
            };
            (start, end, u)
        }
        _ => return Err(CmdError::Syntax),
    };
    let pos = bitmaps::bitpos(&db, args.get(1), bit, start, end, u)?.unwrap_or(missing);
    Ok(Reply::Int(pos))
}

fn bitop(cx: &mut Context<'_>, args: &Args<'_>) -> CmdResult {
    let op = if args.is(1, "and") {
        BitOp::And
    } else if args.is(1, "or") {
        BitOp::Or
    } else if args.is(1, "xor") {
        BitOp::Xor
    } else if args.is(1, "not") {
        BitOp::Not
    } else {
        return Err(CmdError::Syntax);
    };
    if op == BitOp::Not && args.len() != 4 {
        return Err(CmdError::msg(
            "ERR BITOP NOT must be called with a single source key.",
        ));
    }
    let dest = args.get(2);
    let sources: Vec<&[u8]> = args.iter().skip(3).collect();
    let (len, written) = bitmaps::bitop(&cx.db(), op, dest, &sources)?;
    if written {
        if len > 0 {
            cx.notify(class::STRING, "set", dest);
        } else {
            cx.notify(class::GENERIC, "del", dest);
        }
    }
    Ok(Reply::Int(len as i64))
}

/// A field type: `i1`..`i64` or `u1`..`u63`.
fn field_type(arg: &[u8]) -> Result<(bool, u32), CmdError> {
    const ERR: &str = "ERR Invalid bitfield type. Use something like i16 u8. Note that u64 is not supported but i64 is.";
    let signed = match arg.first() {
        Some(b'i') => true,
        Some(b'u') => false,
        _ => return Err(CmdError::msg(ERR)),
    };
    // Redis reads the width as a C string: it ends at a NUL byte.
    let digits = arg[1..].split(|&b| b == 0).next().unwrap_or_default();
    match parse_i64(digits) {
        Some(n) if n >= 1 && n <= if signed { 64 } else { 63 } => Ok((signed, n as u32)),
        _ => Err(CmdError::msg(ERR)),
    }
}

/// Parses BITFIELD's operations, with Redis's checks in Redis's order.
fn parse_fields(cx: &Context<'_>, args: &Args<'_>) -> Result<Vec<Field>, CmdError> {
    let mut fields = Vec::new();
    let mut overflow = Overflow::Wrap;
    let mut j = 2;
    while j < args.len() {
        let rem = args.len() - j - 1;
        let op = if args.is(j, "get") && rem >= 2 {
            FieldOp::Get
        } else if args.is(j, "set") && rem >= 3 {
            FieldOp::Set(0)
        } else if args.is(j, "incrby") && rem >= 3 {
            FieldOp::IncrBy(0)
        } else if args.is(j, "overflow") && rem >= 1 {
            overflow = if args.is(j + 1, "wrap") {
                Overflow::Wrap
            } else if args.is(j + 1, "sat") {
                Overflow::Sat
            } else if args.is(j + 1, "fail") {
                Overflow::Fail
            } else {
                return Err(CmdError::msg("ERR Invalid OVERFLOW type specified"));
            };
            j += 2;
            continue;
        } else {
            return Err(CmdError::Syntax);
        };
        let (signed, bits) = field_type(args.get(j + 1))?;
        let offset = bit_offset(cx, args.get(j + 2), Some(bits))?;
        let op = match op {
            FieldOp::Get => FieldOp::Get,
            FieldOp::Set(_) => FieldOp::Set(args.i64(j + 3)?),
            FieldOp::IncrBy(_) => FieldOp::IncrBy(args.i64(j + 3)?),
        };
        fields.push(Field {
            op,
            signed,
            bits,
            offset,
            overflow,
        });
        j += if op == FieldOp::Get { 3 } else { 4 };
    }
    Ok(fields)
}

fn run_bitfield(cx: &mut Context<'_>, args: &Args<'_>, readonly: bool) -> CmdResult {
    let fields = parse_fields(cx, args)?;
    if readonly && fields.iter().any(|f| f.op != FieldOp::Get) {
        return Err(CmdError::msg(
            "ERR BITFIELD_RO only supports the GET subcommand",
        ));
    }
    let key = args.get(1);
    let (values, changes) = bitmaps::bitfield(&cx.db(), key, &fields)?;
    if changes > 0 {
        cx.notify(class::STRING, "setbit", key);
    }
    Ok(Reply::Array(
        values
            .into_iter()
            .map(|v| v.map_or(Reply::Nil, Reply::Int))
            .collect(),
    ))
}

fn bitfield(cx: &mut Context<'_>, args: &Args<'_>) -> CmdResult {
    run_bitfield(cx, args, false)
}

fn bitfield_ro(cx: &mut Context<'_>, args: &Args<'_>) -> CmdResult {
    run_bitfield(cx, args, true)
}
