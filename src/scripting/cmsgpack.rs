//! The `cmsgpack` library (lua-cmsgpack 0.4 as Redis ships it): MessagePack `pack` of any
//! number of values, `unpack` of a stream of objects, `unpack_one` and `unpack_limit` with
//! offsets.
//!
//! Encoding follows the library: integral numbers as the smallest integer type, other numbers as
//! float 32 when exact and float 64 otherwise, strings as fixstr/str8/str16/str32, a table whose
//! keys are exactly 1..n as an array (the empty table too) and any other as a map, tables nested
//! deeper than 16 as nil, and anything else (functions, userdata) as nil.

use super::engine::{arg_error, check_number, lua_error, type_name};
use super::fmt::c_cast_i64;
use mlua::{Lua, MultiValue, Table, Value};

const MAX_NESTING: usize = 16;

fn encode_int(out: &mut Vec<u8>, n: i64) {
    if n >= 0 {
        if n <= 127 {
            out.push(n as u8);
        } else if n <= 0xff {
            out.extend_from_slice(&[0xcc, n as u8]);
        } else if n <= 0xffff {
            out.push(0xcd);
            out.extend_from_slice(&(n as u16).to_be_bytes());
        } else if n <= 0xffff_ffff {
            out.push(0xce);
            out.extend_from_slice(&(n as u32).to_be_bytes());
        } else {
            out.push(0xcf);
            out.extend_from_slice(&(n as u64).to_be_bytes());
        }
    } else if n >= -32 {
        out.push(n as i8 as u8);
    } else if n >= -128 {
        out.extend_from_slice(&[0xd0, n as i8 as u8]);
    } else if n >= -32768 {
        out.push(0xd1);
        out.extend_from_slice(&(n as i16).to_be_bytes());
    } else if n >= -2_147_483_648 {
        out.push(0xd2);
        out.extend_from_slice(&(n as i32).to_be_bytes());
    } else {
        out.push(0xd3);
        out.extend_from_slice(&n.to_be_bytes());
    }
}

fn encode_number(out: &mut Vec<u8>, n: f64) {
    // IS_INT64_EQUIVALENT: finite and unchanged by a round trip through int64_t.
    if !n.is_infinite() && (c_cast_i64(n) as f64) == n {
        encode_int(out, c_cast_i64(n));
    } else {
        let f = n as f32;
        if f64::from(f) == n {
            out.push(0xca);
            out.extend_from_slice(&f.to_be_bytes());
        } else {
            out.push(0xcb);
            out.extend_from_slice(&n.to_be_bytes());
        }
    }
}

fn encode_bytes(out: &mut Vec<u8>, s: &[u8]) {
    let len = s.len();
    if len < 32 {
        out.push(0xa0 | len as u8);
    } else if len <= 0xff {
        out.extend_from_slice(&[0xd9, len as u8]);
    } else if len <= 0xffff {
        out.push(0xda);
        out.extend_from_slice(&(len as u16).to_be_bytes());
    } else {
        out.push(0xdb);
        out.extend_from_slice(&(len as u32).to_be_bytes());
    }
    out.extend_from_slice(s);
}

fn encode_header(out: &mut Vec<u8>, len: usize, fix: u8, b16: u8, b32: u8) {
    if len <= 15 {
        out.push(fix | len as u8);
    } else if len <= 0xffff {
        out.push(b16);
        out.extend_from_slice(&(len as u16).to_be_bytes());
    } else {
        out.push(b32);
        out.extend_from_slice(&(len as u32).to_be_bytes());
    }
}

/// Whether the table's keys are exactly the integers 1..n (the library's `table_is_an_array`).
fn is_array(t: &Table) -> mlua::Result<bool> {
    let (mut count, mut max) = (0i64, 0i64);
    for pair in t.pairs::<Value, Value>() {
        let (k, _) = pair?;
        let n = match k {
            Value::Integer(i) => i as f64,
            Value::Number(n) => n,
            _ => return Ok(false),
        };
        // IS_INT_EQUIVALENT (int) and positive.
        if n <= 0.0 || !(f64::from(super::fmt::c_cast_i32(n)) == n) {
            return Ok(false);
        }
        max = max.max(n as i64);
        count += 1;
    }
    Ok(max == count)
}

fn encode(out: &mut Vec<u8>, v: &Value, level: usize) -> mlua::Result<()> {
    match v {
        Value::String(s) => encode_bytes(out, &s.as_bytes()),
        Value::Boolean(b) => out.push(if *b { 0xc3 } else { 0xc2 }),
        Value::Integer(i) => encode_number(out, *i as f64),
        Value::Number(n) => encode_number(out, *n),
        Value::Table(t) if level < MAX_NESTING => {
            if is_array(t)? {
                let len = t.raw_len();
                encode_header(out, len, 0x90, 0xdc, 0xdd);
                for j in 1..=len {
                    let item: Value = t.raw_get(j)?;
                    encode(out, &item, level + 1)?;
                }
            } else {
                let pairs: Vec<(Value, Value)> =
                    t.pairs::<Value, Value>().collect::<mlua::Result<_>>()?;
                encode_header(out, pairs.len(), 0x80, 0xde, 0xdf);
                for (k, val) in &pairs {
                    encode(out, k, level + 1)?;
                    encode(out, val, level + 1)?;
                }
            }
        }
        _ => out.push(0xc0),
    }
    Ok(())
}

fn pack(lua: &Lua, args: MultiValue) -> mlua::Result<mlua::LuaString> {
    if args.is_empty() {
        return Err(arg_error(lua, 0, "pack", "MessagePack pack needs input."));
    }
    let mut out = Vec::new();
    for v in args.iter() {
        encode(&mut out, v, 0)?;
    }
    lua.create_string(&out)
}

/// Why decoding stopped.
enum DecodeError {
    Eof,
    BadFormat,
    Lua(mlua::Error),
}

impl From<mlua::Error> for DecodeError {
    fn from(e: mlua::Error) -> Self {
        DecodeError::Lua(e)
    }
}

struct Cursor<'a> {
    data: &'a [u8],
    pos: usize,
}

impl Cursor<'_> {
    fn need(&self, n: usize) -> Result<(), DecodeError> {
        if self.data.len() - self.pos < n {
            Err(DecodeError::Eof)
        } else {
            Ok(())
        }
    }

    fn at(&self, i: usize) -> u8 {
        self.data[self.pos + i]
    }

    fn be(&self, from: usize, n: usize) -> u64 {
        (0..n).fold(0u64, |acc, i| (acc << 8) | u64::from(self.at(from + i)))
    }

    fn decode(&mut self, lua: &Lua) -> Result<Value, DecodeError> {
        self.need(1)?;
        let t = self.at(0);
        let num = |n: f64| Value::Number(n);
        let v = match t {
            0xcc => {
                self.need(2)?;
                let v = num(f64::from(self.at(1)));
                self.pos += 2;
                v
            }
            0xd0 => {
                self.need(2)?;
                let v = num(f64::from(self.at(1) as i8));
                self.pos += 2;
                v
            }
            0xcd => {
                self.need(3)?;
                let v = num(self.be(1, 2) as f64);
                self.pos += 3;
                v
            }
            0xd1 => {
                self.need(3)?;
                let v = num(f64::from(self.be(1, 2) as u16 as i16));
                self.pos += 3;
                v
            }
            0xce => {
                self.need(5)?;
                let v = num(self.be(1, 4) as f64);
                self.pos += 5;
                v
            }
            0xd2 => {
                self.need(5)?;
                let v = num(f64::from(self.be(1, 4) as u32 as i32));
                self.pos += 5;
                v
            }
            0xcf => {
                self.need(9)?;
                let v = num(self.be(1, 8) as f64);
                self.pos += 9;
                v
            }
            0xd3 => {
                self.need(9)?;
                let v = num(self.be(1, 8) as i64 as f64);
                self.pos += 9;
                v
            }
            0xc0 => {
                self.pos += 1;
                Value::Nil
            }
            0xc3 => {
                self.pos += 1;
                Value::Boolean(true)
            }
            0xc2 => {
                self.pos += 1;
                Value::Boolean(false)
            }
            0xca => {
                self.need(5)?;
                let v = num(f64::from(f32::from_bits(self.be(1, 4) as u32)));
                self.pos += 5;
                v
            }
            0xcb => {
                self.need(9)?;
                let v = num(f64::from_bits(self.be(1, 8)));
                self.pos += 9;
                v
            }
            0xd9..=0xdb => {
                let hdr = match t {
                    0xd9 => 1,
                    0xda => 2,
                    _ => 4,
                };
                self.need(1 + hdr)?;
                let l = self.be(1, hdr) as usize;
                self.need(1 + hdr + l)?;
                let s = &self.data[self.pos + 1 + hdr..self.pos + 1 + hdr + l];
                let v = Value::String(lua.create_string(s)?);
                self.pos += 1 + hdr + l;
                v
            }
            0xdc | 0xdd => {
                let hdr = if t == 0xdc { 2 } else { 4 };
                self.need(1 + hdr)?;
                let l = self.be(1, hdr) as usize;
                self.pos += 1 + hdr;
                self.array(lua, l)?
            }
            0xde | 0xdf => {
                let hdr = if t == 0xde { 2 } else { 4 };
                self.need(1 + hdr)?;
                let l = self.be(1, hdr) as usize;
                self.pos += 1 + hdr;
                self.map(lua, l)?
            }
            _ if t & 0x80 == 0 => {
                self.pos += 1;
                num(f64::from(t))
            }
            _ if t & 0xe0 == 0xe0 => {
                self.pos += 1;
                num(f64::from(t as i8))
            }
            _ if t & 0xe0 == 0xa0 => {
                let l = usize::from(t & 0x1f);
                self.need(1 + l)?;
                let v =
                    Value::String(lua.create_string(&self.data[self.pos + 1..self.pos + 1 + l])?);
                self.pos += 1 + l;
                v
            }
            _ if t & 0xf0 == 0x90 => {
                self.pos += 1;
                self.array(lua, usize::from(t & 0xf))?
            }
            _ if t & 0xf0 == 0x80 => {
                self.pos += 1;
                self.map(lua, usize::from(t & 0xf))?
            }
            _ => return Err(DecodeError::BadFormat),
        };
        Ok(v)
    }

    fn array(&mut self, lua: &Lua, len: usize) -> Result<Value, DecodeError> {
        let t = lua.create_table()?;
        for i in 1..=len {
            let v = self.decode(lua)?;
            t.set(i, v)?;
        }
        Ok(Value::Table(t))
    }

    fn map(&mut self, lua: &Lua, len: usize) -> Result<Value, DecodeError> {
        let t = lua.create_table()?;
        for _ in 0..len {
            let k = self.decode(lua)?;
            let v = self.decode(lua)?;
            t.set(k, v)?;
        }
        Ok(Value::Table(t))
    }
}

/// `mp_unpack_full`: decodes up to `limit` objects from `offset` (all when both are 0).
fn unpack_full(
    lua: &Lua,
    args: &MultiValue,
    limit: i64,
    offset: i64,
    func: &str,
) -> mlua::Result<MultiValue> {
    let data = match args.front() {
        Some(Value::String(s)) => s.as_bytes().to_vec(),
        Some(Value::Integer(i)) => super::fmt::format_g(*i as f64, 14).into_bytes(),
        Some(Value::Number(n)) => super::fmt::format_g(*n, 14).into_bytes(),
        other => {
            let got = other.map_or("no value", type_name);
            return Err(arg_error(
                lua,
                1,
                func,
                &format!("string expected, got {got}"),
            ));
        }
    };
    let decode_all = limit == 0 && offset == 0;
    let len = data.len() as i64;
    if offset < 0 || limit < 0 {
        return Err(lua_error(
            lua,
            format!("Invalid request to unpack with offset of {offset} and limit of {len}."),
        ));
    } else if offset > len {
        return Err(lua_error(
            lua,
            format!("Start offset {offset} greater than input length {len}."),
        ));
    }
    let limit = if decode_all { i64::MAX } else { limit };
    let mut c = Cursor {
        data: &data,
        pos: offset as usize,
    };
    let mut out = Vec::new();
    let mut count = 0;
    while c.pos < data.len() && count < limit {
        match c.decode(lua) {
            Ok(v) => out.push(v),
            Err(DecodeError::Eof) => return Err(lua_error(lua, "Missing bytes in input.")),
            Err(DecodeError::BadFormat) => return Err(lua_error(lua, "Bad data format in input.")),
            Err(DecodeError::Lua(e)) => return Err(e),
        }
        count += 1;
    }
    if !decode_all {
        let next = if c.pos == data.len() {
            -1
        } else {
            c.pos as i64
        };
        out.insert(0, Value::Integer(next));
    }
    Ok(MultiValue::from_iter(out))
}

/// `luaL_optinteger`.
fn opt_int(lua: &Lua, args: &MultiValue, n: usize, func: &str, default: i64) -> mlua::Result<i64> {
    match args.get(n - 1) {
        None | Some(Value::Nil) => Ok(default),
        Some(_) => Ok(c_cast_i64(check_number(lua, args, n, func)?) as i32 as i64),
    }
}

/// The `cmsgpack` table.
pub fn open(lua: &Lua) -> mlua::Result<Table> {
    let t = lua.create_table()?;
    t.raw_set("pack", lua.create_function(pack)?)?;
    t.raw_set(
        "unpack",
        lua.create_function(|lua, a: MultiValue| unpack_full(lua, &a, 0, 0, "unpack"))?,
    )?;
    t.raw_set(
        "unpack_one",
        lua.create_function(|lua, a: MultiValue| {
            let offset = opt_int(lua, &a, 2, "unpack_one", 0)?;
            unpack_full(lua, &a, 1, offset, "unpack_one")
        })?,
    )?;
    t.raw_set(
        "unpack_limit",
        lua.create_function(|lua, a: MultiValue| {
            let limit = c_cast_i64(check_number(lua, &a, 2, "unpack_limit")?) as i32 as i64;
            let offset = opt_int(lua, &a, 3, "unpack_limit", 0)?;
            unpack_full(lua, &a, limit, offset, "unpack_limit")
        })?,
    )?;
    t.raw_set("_NAME", "cmsgpack")?;
    t.raw_set("_VERSION", "lua-cmsgpack 0.4.0")?;
    t.raw_set(
        "_COPYRIGHT",
        "Copyright (C) 2012, Salvatore Sanfilippo; 2014 Matt Stancliff",
    )?;
    t.raw_set("_DESCRIPTION", "MessagePack C implementation for Lua")?;
    Ok(t)
}

#[cfg(test)]
mod tests {
    #[test]
    fn packs_as_redis_does() {
        let lua = mlua::Lua::new();
        lua.globals()
            .set("cmsgpack", super::open(&lua).unwrap())
            .unwrap();
        // Observed on redis-server 7.0.15.
        let s: mlua::LuaString = lua
            .load("return cmsgpack.pack(1, -1, 127, 128, 255, 256, 65535, 65536, -32, -33, -128, -129, -32768, -32769, 2^32, -2^31-1, 1.5, 0.1, 'abc', true, false, {1,2}, {a=1})")
            .eval()
            .unwrap();
        assert_eq!(
            &*s.as_bytes(),
            &b"\x01\xff\x7f\xcc\x80\xcc\xff\xcd\x01\x00\xcd\xff\xff\xce\x00\x01\x00\x00\xe0\xd0\xdf\xd0\x80\xd1\xff\x7f\xd1\x80\x00\xd2\xff\xff\x7f\xff\xcf\x00\x00\x00\x01\x00\x00\x00\x00\xd3\xff\xff\xff\xff\x7f\xff\xff\xff\xca?\xc0\x00\x00\xcb?\xb9\x99\x99\x99\x99\x99\x9a\xa3abc\xc3\xc2\x92\x01\x02\x81\xa1a\x01"[..]
        );
        let v: Vec<i64> = lua
            .load("return {cmsgpack.unpack_limit(cmsgpack.pack(1, 2, 3), 2)}")
            .eval()
            .unwrap();
        assert_eq!(v, vec![2, 1, 2]);
        let v: Vec<i64> = lua
            .load("return {cmsgpack.unpack_one(cmsgpack.pack(1, 2, 3), 2)}")
            .eval()
            .unwrap();
        assert_eq!(v, vec![-1, 3]);
        let s: mlua::LuaString = lua
            .load("return cmsgpack.pack(string.rep('x', 40))")
            .eval()
            .unwrap();
        assert_eq!(&s.as_bytes()[..2], b"\xd9\x28");
    }
}
