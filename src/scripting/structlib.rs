//! The `struct` library (Roberto Ierusalimschy's lua-struct as Redis ships it): `pack`,
//! `unpack` and `size` of binary records described by a format string.
//!
//! Formats: `>` big endian, `<` little endian (the default, as on x86), `!n` maximum alignment,
//! `x` a zero byte, `b/B` char, `h/H` short, `l/L` long (8 bytes), `T` size_t, `i/In` an
//! integer of n bytes (default 4, at most 32), `f` float, `d` double, `s` a zero-terminated
//! string, `cn` n characters (`c0`: the whole string when packing, a length taken from the
//! previous value when unpacking). Upper case is unsigned.

use super::engine::{arg_error, check_number, lua_error, type_name};
use super::fmt::{c_cast_i64, format_g};
use mlua::{Lua, MultiValue, Table, Value};

const MAXINTSIZE: usize = 32;
const MAXALIGN: usize = 8;

struct Header {
    big: bool,
    align: usize,
}

/// The number after an option, or `default`.
fn getnum(lua: &Lua, fmt: &[u8], pos: &mut usize, default: usize) -> mlua::Result<usize> {
    if !fmt.get(*pos).is_some_and(u8::is_ascii_digit) {
        return Ok(default);
    }
    let mut a: usize = 0;
    while let Some(&c) = fmt.get(*pos).filter(|c| c.is_ascii_digit()) {
        let d = usize::from(c - b'0');
        if a > (i32::MAX as usize) / 10 || a * 10 > i32::MAX as usize - d {
            return Err(lua_error(lua, "integral size overflow"));
        }
        a = a * 10 + d;
        *pos += 1;
    }
    Ok(a)
}

fn optsize(lua: &Lua, opt: u8, fmt: &[u8], pos: &mut usize) -> mlua::Result<usize> {
    Ok(match opt {
        b'B' | b'b' => 1,
        b'H' | b'h' => 2,
        b'L' | b'l' | b'T' => 8,
        b'f' => 4,
        b'd' => 8,
        b'x' => 1,
        b'c' => getnum(lua, fmt, pos, 1)?,
        b'i' | b'I' => {
            let sz = getnum(lua, fmt, pos, 4)?;
            if sz > MAXINTSIZE {
                return Err(lua_error(
                    lua,
                    format!("integral size {sz} is larger than limit of {MAXINTSIZE}"),
                ));
            }
            sz
        }
        _ => 0,
    })
}

fn gettoalign(len: usize, h: &Header, opt: u8, size: usize) -> usize {
    if size == 0 || opt == b'c' {
        return 0;
    }
    let size = size.min(h.align);
    (size - (len & (size - 1))) & (size - 1)
}

fn controloptions(
    lua: &Lua,
    opt: u8,
    fmt: &[u8],
    pos: &mut usize,
    h: &mut Header,
    func: &str,
) -> mlua::Result<()> {
    match opt {
        b' ' => {}
        b'>' => h.big = true,
        b'<' => h.big = false,
        b'!' => {
            let a = getnum(lua, fmt, pos, MAXALIGN)?;
            if !a.is_power_of_two() {
                return Err(lua_error(lua, format!("alignment {a} is not a power of 2")));
            }
            h.align = a;
        }
        _ => {
            return Err(arg_error(
                lua,
                1,
                func,
                &format!("invalid format option '{}'", char::from(opt)),
            ))
        }
    }
    Ok(())
}

/// `luaL_checklstring`: strings, and numbers as `%.14g`.
fn check_bytes(lua: &Lua, args: &MultiValue, n: usize, func: &str) -> mlua::Result<Vec<u8>> {
    match args.get(n - 1) {
        Some(Value::String(s)) => Ok(s.as_bytes().to_vec()),
        Some(Value::Integer(i)) => Ok(format_g(*i as f64, 14).into_bytes()),
        Some(Value::Number(f)) => Ok(format_g(*f, 14).into_bytes()),
        other => {
            let got = other.map_or("no value", type_name);
            Err(arg_error(
                lua,
                n,
                func,
                &format!("string expected, got {got}"),
            ))
        }
    }
}

fn put_int(out: &mut Vec<u8>, n: f64, big: bool, size: usize) {
    let mut value: u64 = if n < 0.0 {
        c_cast_i64(n) as u64
    } else if n >= 18_446_744_073_709_551_616.0 || n.is_nan() {
        0
    } else {
        n as u64
    };
    let mut buf = [0u8; MAXINTSIZE];
    for i in 0..size {
        let at = if big { size - 1 - i } else { i };
        buf[at] = (value & 0xff) as u8;
        value = value.checked_shr(8).unwrap_or(0);
    }
    out.extend_from_slice(&buf[..size]);
}

fn get_int(data: &[u8], big: bool, signed: bool, size: usize) -> f64 {
    let mut l: u64 = 0;
    for i in 0..size {
        let b = if big { data[i] } else { data[size - 1 - i] };
        l = (l << 8) | u64::from(b);
    }
    if !signed {
        return l as f64;
    }
    let shift = (size * 8).saturating_sub(1);
    if shift < 64 {
        let mask = u64::MAX << shift;
        if l & mask != 0 {
            l |= mask;
        }
    }
    l as i64 as f64
}

fn pack(lua: &Lua, args: MultiValue) -> mlua::Result<mlua::LuaString> {
    let fmt = check_bytes(lua, &args, 1, "pack")?;
    let mut h = Header {
        big: false,
        align: 1,
    };
    let mut arg = 2;
    let mut out = Vec::new();
    let mut pos = 0;
    while pos < fmt.len() {
        let opt = fmt[pos];
        pos += 1;
        let mut size = optsize(lua, opt, &fmt, &mut pos)?;
        let toalign = gettoalign(out.len(), &h, opt, size);
        out.resize(out.len() + toalign, 0);
        match opt {
            b'b' | b'B' | b'h' | b'H' | b'l' | b'L' | b'T' | b'i' | b'I' => {
                let n = check_number(lua, &args, arg, "pack")?;
                arg += 1;
                put_int(&mut out, n, h.big, size);
            }
            b'x' => out.push(0),
            b'f' => {
                let f = check_number(lua, &args, arg, "pack")? as f32;
                arg += 1;
                if h.big {
                    out.extend_from_slice(&f.to_be_bytes());
                } else {
                    out.extend_from_slice(&f.to_le_bytes());
                }
            }
            b'd' => {
                let d = check_number(lua, &args, arg, "pack")?;
                arg += 1;
                if h.big {
                    out.extend_from_slice(&d.to_be_bytes());
                } else {
                    out.extend_from_slice(&d.to_le_bytes());
                }
            }
            b'c' | b's' => {
                let s = check_bytes(lua, &args, arg, "pack")?;
                arg += 1;
                if size == 0 {
                    size = s.len();
                }
                if s.len() < size {
                    return Err(arg_error(lua, arg, "pack", "string too short"));
                }
                out.extend_from_slice(&s[..size]);
                if opt == b's' {
                    out.push(0);
                }
            }
            _ => controloptions(lua, opt, &fmt, &mut pos, &mut h, "pack")?,
        }
    }
    lua.create_string(&out)
}

fn unpack(lua: &Lua, args: MultiValue) -> mlua::Result<MultiValue> {
    let fmt = check_bytes(lua, &args, 1, "unpack")?;
    let data = check_bytes(lua, &args, 2, "unpack")?;
    let ld = data.len();
    let start = match args.get(2) {
        None | Some(Value::Nil) => 1,
        Some(_) => c_cast_i64(check_number(lua, &args, 3, "unpack")?),
    };
    if start <= 0 {
        return Err(arg_error(lua, 3, "unpack", "offset must be 1 or greater"));
    }
    let mut pos = (start - 1) as usize;
    let mut h = Header {
        big: false,
        align: 1,
    };
    let mut out: Vec<Value> = Vec::new();
    let mut fpos = 0;
    while fpos < fmt.len() {
        let opt = fmt[fpos];
        fpos += 1;
        let mut size = optsize(lua, opt, &fmt, &mut fpos)?;
        pos += gettoalign(pos, &h, opt, size);
        if size > ld || pos > ld - size {
            return Err(arg_error(lua, 2, "unpack", "data string too short"));
        }
        match opt {
            b'b' | b'B' | b'h' | b'H' | b'l' | b'L' | b'T' | b'i' | b'I' => {
                let signed = opt.is_ascii_lowercase();
                out.push(Value::Number(get_int(&data[pos..], h.big, signed, size)));
            }
            b'x' => {}
            b'f' => {
                let mut b = [0u8; 4];
                b.copy_from_slice(&data[pos..pos + 4]);
                let f = if h.big {
                    f32::from_be_bytes(b)
                } else {
                    f32::from_le_bytes(b)
                };
                out.push(Value::Number(f64::from(f)));
            }
            b'd' => {
                let mut b = [0u8; 8];
                b.copy_from_slice(&data[pos..pos + 8]);
                let d = if h.big {
                    f64::from_be_bytes(b)
                } else {
                    f64::from_le_bytes(b)
                };
                out.push(Value::Number(d));
            }
            b'c' => {
                if size == 0 {
                    let prev = match out.last() {
                        Some(Value::Number(n)) => Some(*n),
                        Some(Value::Integer(i)) => Some(*i as f64),
                        Some(Value::String(s)) => s
                            .to_str()
                            .ok()
                            .and_then(|s| super::engine::parse_lua_number(&s)),
                        _ => None,
                    };
                    let Some(n) = prev else {
                        return Err(lua_error(lua, "format 'c0' needs a previous size"));
                    };
                    out.pop();
                    size = if n <= 0.0 { 0 } else { n as usize };
                    if size > ld || pos > ld - size {
                        return Err(arg_error(lua, 2, "unpack", "data string too short"));
                    }
                }
                out.push(Value::String(lua.create_string(&data[pos..pos + size])?));
            }
            b's' => {
                let Some(end) = data[pos..].iter().position(|&b| b == 0) else {
                    return Err(lua_error(lua, "unfinished string in data"));
                };
                out.push(Value::String(lua.create_string(&data[pos..pos + end])?));
                size = end + 1;
            }
            _ => controloptions(lua, opt, &fmt, &mut fpos, &mut h, "unpack")?,
        }
        pos += size;
    }
    out.push(Value::Number((pos + 1) as f64));
    Ok(MultiValue::from_iter(out))
}

fn size(lua: &Lua, args: MultiValue) -> mlua::Result<f64> {
    let fmt = check_bytes(lua, &args, 1, "size")?;
    let mut h = Header {
        big: false,
        align: 1,
    };
    let mut pos = 0usize;
    let mut fpos = 0;
    while fpos < fmt.len() {
        let opt = fmt[fpos];
        fpos += 1;
        let size = optsize(lua, opt, &fmt, &mut fpos)?;
        pos += gettoalign(pos, &h, opt, size);
        if opt == b's' {
            return Err(arg_error(lua, 1, "size", "option 's' has no fixed size"));
        } else if opt == b'c' && size == 0 {
            return Err(arg_error(lua, 1, "size", "option 'c0' has no fixed size"));
        }
        if !opt.is_ascii_alphanumeric() {
            controloptions(lua, opt, &fmt, &mut fpos, &mut h, "size")?;
        }
        pos += size;
    }
    Ok(pos as f64)
}

/// The `struct` table.
pub fn open(lua: &Lua) -> mlua::Result<Table> {
    let t = lua.create_table()?;
    t.raw_set("pack", lua.create_function(pack)?)?;
    t.raw_set("unpack", lua.create_function(unpack)?)?;
    t.raw_set("size", lua.create_function(size)?)?;
    Ok(t)
}

#[cfg(test)]
mod tests {
    fn lua() -> mlua::Lua {
        let lua = mlua::Lua::new();
        lua.globals()
            .set("struct", super::open(&lua).unwrap())
            .unwrap();
        lua
    }

    #[test]
    fn packs_as_redis_does() {
        let lua = lua();
        // Observed on redis-server 7.0.15.
        let s: mlua::LuaString = lua
            .load("return struct.pack('>I2 <i4 b B h H l L', 1, -2, -3, 250, -4, 65000, -5, 6)")
            .eval()
            .unwrap();
        assert_eq!(
            &*s.as_bytes(),
            b"\x00\x01\xfe\xff\xff\xff\xfd\xfa\xfc\xff\xe8\xfd\xfb\xff\xff\xff\xff\xff\xff\xff\x06\x00\x00\x00\x00\x00\x00\x00"
        );
        let s: mlua::LuaString = lua
            .load("return struct.pack('!4 b i4 d f s c3 x', 1, 2, 1.5, 2.5, 'hi', 'abc')")
            .eval()
            .unwrap();
        assert_eq!(
            &*s.as_bytes(),
            b"\x01\x00\x00\x00\x02\x00\x00\x00\x00\x00\x00\x00\x00\x00\xf8?\x00\x00 @hi\x00abc\x00"
        );
        let n: i64 = lua
            .load("return struct.size('!4 b i4 d c3 x')")
            .eval()
            .unwrap();
        assert_eq!(n, 20);
        let v: Vec<f64> = lua
            .load("return {struct.unpack('>I2 <i4', struct.pack('>I2 <i4', 1, -2))}")
            .eval()
            .unwrap();
        assert_eq!(v, vec![1.0, -2.0, 7.0]);
        let v: Vec<mlua::Value> = lua
            .load("return {struct.unpack('b c0 s', struct.pack('b c0 s', 3, 'xyz', 'q'))}")
            .eval()
            .unwrap();
        assert_eq!(v.len(), 3);
    }
}
