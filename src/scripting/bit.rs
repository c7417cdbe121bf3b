//! The `bit` library (LuaBitOp 1.0 as Redis ships it): 32-bit operations on Lua numbers.
//!
//! A number becomes a 32-bit integer the way LuaBitOp does it: adding 2^52 + 2^51 and taking the
//! low 32 bits of the double's representation (rounding to nearest, wrapping modulo 2^32);
//! results are signed 32-bit values.

use super::engine::{arg_error, parse_lua_number, type_name};
use mlua::{Lua, MultiValue, Table, Value};

/// The 32 bits LuaBitOp's `barg` takes from argument `n` (1-based).
fn barg(lua: &Lua, args: &MultiValue, n: usize, func: &str) -> mlua::Result<u32> {
    let v = match args.get(n - 1) {
        Some(Value::Integer(i)) => Some(*i as f64),
        Some(Value::Number(f)) => Some(*f),
        Some(Value::String(s)) => s.to_str().ok().and_then(|s| parse_lua_number(&s)),
        _ => None,
    };
    match v {
        Some(x) => Ok((x + 6_755_399_441_055_744.0).to_bits() as u32),
        None => {
            let got = args.get(n - 1).map_or("no value", type_name);
            Err(arg_error(
                lua,
                n,
                func,
                &format!("number expected, got {got}"),
            ))
        }
    }
}

fn ret(b: u32) -> f64 {
    f64::from(b as i32)
}

/// The `bit` table.
pub fn open(lua: &Lua) -> mlua::Result<Table> {
    let t = lua.create_table()?;
    t.raw_set(
        "tobit",
        lua.create_function(|lua, a: MultiValue| Ok(ret(barg(lua, &a, 1, "tobit")?)))?,
    )?;
    t.raw_set(
        "bnot",
        lua.create_function(|lua, a: MultiValue| Ok(ret(!barg(lua, &a, 1, "bnot")?)))?,
    )?;
    type Op = fn(u32, u32) -> u32;
    let variadic: [(&str, Op); 3] = [
        ("band", |a, b| a & b),
        ("bor", |a, b| a | b),
        ("bxor", |a, b| a ^ b),
    ];
    for (name, op) in variadic {
        t.raw_set(
            name,
            lua.create_function(move |lua, a: MultiValue| {
                let mut acc = barg(lua, &a, 1, name)?;
                for i in 2..=a.len() {
                    acc = op(acc, barg(lua, &a, i, name)?);
                }
                Ok(ret(acc))
            })?,
        )?;
    }
    let shifts: [(&str, Op); 5] = [
        ("lshift", |b, n| b << (n & 31)),
        ("rshift", |b, n| b >> (n & 31)),
        ("arshift", |b, n| ((b as i32) >> (n & 31)) as u32),
        ("rol", |b, n| b.rotate_left(n & 31)),
        ("ror", |b, n| b.rotate_right(n & 31)),
    ];
    for (name, op) in shifts {
        t.raw_set(
            name,
            lua.create_function(move |lua, a: MultiValue| {
                let b = barg(lua, &a, 1, name)?;
                let n = barg(lua, &a, 2, name)?;
                Ok(ret(op(b, n)))
            })?,
        )?;
    }
    t.raw_set(
        "bswap",
        lua.create_function(|lua, a: MultiValue| Ok(ret(barg(lua, &a, 1, "bswap")?.swap_bytes())))?,
    )?;
    t.raw_set(
        "tohex",
        lua.create_function(|lua, a: MultiValue| {
            let mut b = barg(lua, &a, 1, "tohex")?;
            let mut n = if matches!(a.get(1), None | Some(Value::Nil)) && a.len() < 2 {
                8
            } else {
                barg(lua, &a, 2, "tohex")? as i32
            };
            let mut digits = b"0123456789abcdef";
            if n < 0 {
                n = n.wrapping_neg();
                digits = b"0123456789ABCDEF";
            }
            let n = n.clamp(0, 8) as usize;
            let mut buf = [0u8; 8];
            for i in (0..n).rev() {
                buf[i] = digits[(b & 15) as usize];
                b >>= 4;
            }
            lua.create_string(&buf[..n])
        })?,
    )?;
    Ok(t)
}

#[cfg(test)]
mod tests {
    #[test]
    fn matches_redis_outputs() {
        let lua = mlua::Lua::new();
        lua.globals()
            .set("bit", super::open(&lua).unwrap())
            .unwrap();
        // Observed on redis-server 7.0.15.
        let got: Vec<f64> = lua
            .load("return {bit.tobit(1), bit.tobit(2^32+5), bit.tobit(-1), bit.tobit(2^31), bit.bnot(0), bit.band(0xff, 0x0f, 0x3), bit.bor(1,2,4), bit.bxor(5,3), bit.lshift(1, 31), bit.rshift(-1, 28), bit.arshift(-256, 4), bit.rol(0x12345678, 8), bit.ror(0x12345678, 8), bit.bswap(0x12345678), bit.tobit(1.5), bit.tobit(2.5), bit.tobit('12')}")
            .eval()
            .unwrap();
        assert_eq!(
            got,
            vec![
                1.0,
                5.0,
                -1.0,
                -2147483648.0,
                -1.0,
                3.0,
                7.0,
                6.0,
                -2147483648.0,
                15.0,
                -16.0,
                878082066.0,
                2014458966.0,
                2018915346.0,
                2.0,
                2.0,
                12.0
            ]
        );
        let hex: Vec<String> = lua
            .load("return {bit.tohex(255), bit.tohex(-1, -4), bit.tohex(0x1234, 2)}")
            .eval()
            .unwrap();
        assert_eq!(hex, vec!["000000ff", "FFFF", "34"]);
    }
}
