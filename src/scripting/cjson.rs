//! The `cjson` library (lua-cjson 2.1 as Redis ships it): `encode`, `decode`, `null` and the
//! configuration functions.
//!
//! Encoding as the library does it: numbers with `%.14g` (configurable precision), NaN/Inf
//! refused, strings escaped with `\/` and `\u00XX` for control bytes and DEL (other bytes pass
//! through), a table whose keys are all integers >= 1 as an array (holes as `null`, refused when
//! excessively sparse), any other table as an object in `next` order (the empty table is `{}`).
//! Decoding: `null` is `cjson.null` (a NULL light userdata), numbers go through `strtod` (so hex,
//! leading zeros, `inf` and `nan` are accepted, as Redis's configuration allows), `\uXXXX`
//! escapes (with surrogate pairs) become UTF-8, and errors name the token and the character.

use super::engine::{arg_error, lua_error, type_name};
use super::fmt::{c_cast_i32, format_g};
use mlua::{LightUserData, Lua, MultiValue, Table, Value};
use std::cell::Cell;
use std::rc::Rc;

/// A configuration (per `cjson` table; `cjson.new()` makes another).
#[derive(Clone, Copy)]
struct Config {
    sparse_convert: bool,
    sparse_ratio: i32,
    sparse_safe: i32,
    encode_max_depth: i32,
    decode_max_depth: i32,
    precision: i32,
    keep_buffer: bool,
    /// 0: refuse, 1: allow, 2: encode as null.
    encode_invalid: u8,
    decode_invalid: bool,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            sparse_convert: false,
            sparse_ratio: 2,
            sparse_safe: 10,
            encode_max_depth: 1000,
            decode_max_depth: 1000,
            precision: 14,
            keep_buffer: true,
            encode_invalid: 0,
            decode_invalid: true,
        }
    }
}

fn null() -> Value {
    Value::LightUserData(LightUserData(std::ptr::null_mut()))
}

/// The `cjson` table.
pub fn open(lua: &Lua) -> mlua::Result<Table> {
    let cfg = Rc::new(Cell::new(Config::default()));
    let t = lua.create_table()?;
    let c = Rc::clone(&cfg);
    t.raw_set(
        "encode",
        lua.create_function(move |lua, args: MultiValue| {
            if args.len() != 1 {
                return Err(arg_error(lua, 1, "encode", "expected 1 argument"));
            }
            let mut out = Vec::new();
            encode(lua, &c.get(), &args[0], 0, &mut out)?;
            lua.create_string(&out)
        })?,
    )?;
    let c = Rc::clone(&cfg);
    t.raw_set(
        "decode",
        lua.create_function(move |lua, args: MultiValue| {
            if args.len() != 1 {
                return Err(arg_error(lua, 1, "decode", "expected 1 argument"));
            }
            let data: Vec<u8> = match &args[0] {
                Value::String(s) => s.as_bytes().to_vec(),
                Value::Integer(i) => format_g(*i as f64, 14).into_bytes(),
                Value::Number(n) => format_g(*n, 14).into_bytes(),
                other => {
                    return Err(arg_error(
                        lua,
                        1,
                        "decode",
                        &format!("string expected, got {}", type_name(other)),
                    ))
                }
            };
            decode(lua, &c.get(), &data)
        })?,
    )?;
    let c = Rc::clone(&cfg);
    t.raw_set(
        "encode_sparse_array",
        lua.create_function(move |lua, args: MultiValue| {
            let mut v = c.get();
            if let Some(b) = opt_bool(&args, 0) {
                v.sparse_convert = b;
            }
            if let Some(n) = opt_int(lua, &args, 1, "encode_sparse_array", 0, i32::MAX)? {
                v.sparse_ratio = n;
            }
            if let Some(n) = opt_int(lua, &args, 2, "encode_sparse_array", 0, i32::MAX)? {
                v.sparse_safe = n;
            }
            c.set(v);
            Ok((v.sparse_convert, v.sparse_ratio, v.sparse_safe))
        })?,
    )?;
    type Field = fn(&mut Config) -> &mut i32;
    let ints: [(&str, Field, i32, i32); 3] = [
        ("encode_max_depth", |c| &mut c.encode_max_depth, 1, i32::MAX),
        ("decode_max_depth", |c| &mut c.decode_max_depth, 1, i32::MAX),
        ("encode_number_precision", |c| &mut c.precision, 1, 14),
    ];
    for (name, field, min, max) in ints {
        let c = Rc::clone(&cfg);
        t.raw_set(
            name,
            lua.create_function(move |lua, args: MultiValue| {
                let mut v = c.get();
                if let Some(n) = opt_int(lua, &args, 0, name, min, max)? {
                    *field(&mut v) = n;
                }
                c.set(v);
                Ok(*field(&mut v))
            })?,
        )?;
    }
    let c = Rc::clone(&cfg);
    t.raw_set(
        "encode_keep_buffer",
        lua.create_function(move |_, args: MultiValue| {
            let mut v = c.get();
            if let Some(b) = opt_bool(&args, 0) {
                v.keep_buffer = b;
            }
            c.set(v);
            Ok(v.keep_buffer)
        })?,
    )?;
    let c = Rc::clone(&cfg);
    t.raw_set(
        "encode_invalid_numbers",
        lua.create_function(move |lua, args: MultiValue| {
            let mut v = c.get();
            match args.front() {
                None | Some(Value::Nil) => {}
                Some(Value::String(s)) if &*s.as_bytes() == b"null" => v.encode_invalid = 2,
                Some(Value::Boolean(b)) => v.encode_invalid = u8::from(*b),
                Some(_) => {
                    return Err(arg_error(
                        lua,
                        1,
                        "encode_invalid_numbers",
                        "invalid option",
                    ))
                }
            }
            c.set(v);
            Ok(match v.encode_invalid {
                0 => Value::Boolean(false),
                1 => Value::Boolean(true),
                _ => Value::String(lua.create_string("null")?),
            })
        })?,
    )?;
    let c = Rc::clone(&cfg);
    t.raw_set(
        "decode_invalid_numbers",
        lua.create_function(move |_, args: MultiValue| {
            let mut v = c.get();
            if let Some(b) = opt_bool(&args, 0) {
                v.decode_invalid = b;
            }
            c.set(v);
            Ok(v.decode_invalid)
        })?,
    )?;
    t.raw_set("new", lua.create_function(|lua, ()| open(lua))?)?;
    t.raw_set("null", null())?;
    t.raw_set("_NAME", "cjson")?;
    t.raw_set("_VERSION", "2.1.0")?;
    Ok(t)
}

fn opt_bool(args: &MultiValue, i: usize) -> Option<bool> {
    match args.get(i) {
        None | Some(Value::Nil) => None,
        Some(Value::Boolean(b)) => Some(*b),
        Some(_) => Some(true),
    }
}

fn opt_int(
    lua: &Lua,
    args: &MultiValue,
    i: usize,
    func: &str,
    min: i32,
    max: i32,
) -> mlua::Result<Option<i32>> {
    let n = match args.get(i) {
        None | Some(Value::Nil) => return Ok(None),
        Some(Value::Integer(n)) => *n as f64,
        Some(Value::Number(n)) => *n,
        Some(other) => {
            return Err(arg_error(
                lua,
                i + 1,
                func,
                &format!("number expected, got {}", type_name(other)),
            ))
        }
    };
    let n = c_cast_i32(n);
    if n < min || n > max {
        return Err(arg_error(
            lua,
            i + 1,
            func,
            &format!("expected integer between {min} and {max}"),
        ));
    }
    Ok(Some(n))
}

// ---------------------------------------------------------------------------------------------
// Encoding

fn escape(b: u8) -> Option<&'static str> {
    const CONTROL: [&str; 32] = [
        "\\u0000", "\\u0001", "\\u0002", "\\u0003", "\\u0004", "\\u0005", "\\u0006", "\\u0007",
        "\\b", "\\t", "\\n", "\\u000b", "\\f", "\\r", "\\u000e", "\\u000f", "\\u0010", "\\u0011",
        "\\u0012", "\\u0013", "\\u0014", "\\u0015", "\\u0016", "\\u0017", "\\u0018", "\\u0019",
        "\\u001a", "\\u001b", "\\u001c", "\\u001d", "\\u001e", "\\u001f",
    ];
    match b {
        0..=31 => Some(CONTROL[usize::from(b)]),
        b'"' => Some("\\\""),
        b'\\' => Some("\\\\"),
        b'/' => Some("\\/"),
        127 => Some("\\u007f"),
        _ => None,
    }
}

fn encode_string(out: &mut Vec<u8>, s: &[u8]) {
    out.push(b'"');
    for &b in s {
        match escape(b) {
            Some(e) => out.extend_from_slice(e.as_bytes()),
            None => out.push(b),
        }
    }
    out.push(b'"');
}

fn exception(lua: &Lua, v: &Value, reason: &str) -> mlua::Error {
    lua_error(lua, format!("Cannot serialise {}: {reason}", type_name(v)))
}

fn encode_number(
    lua: &Lua,
    cfg: &Config,
    v: &Value,
    n: f64,
    out: &mut Vec<u8>,
) -> mlua::Result<()> {
    if !n.is_finite() {
        match cfg.encode_invalid {
            0 => return Err(exception(lua, v, "must not be NaN or Inf")),
            1 if n.is_nan() => {
                out.extend_from_slice(b"nan");
                return Ok(());
            }
            2 => {
                out.extend_from_slice(b"null");
                return Ok(());
            }
            _ => {}
        }
    }
    out.extend_from_slice(format_g(n, cfg.precision.max(1) as usize).as_bytes());
    Ok(())
}

/// The array length of a table, -1 if it must be an object (`lua_array_length`).
fn array_length(lua: &Lua, cfg: &Config, t: &Table, v: &Value) -> mlua::Result<i64> {
    let (mut max, mut items) = (0i64, 0i64);
    for pair in t.pairs::<Value, Value>() {
        let (k, _) = pair?;
        let n = match k {
            Value::Integer(i) => i as f64,
            Value::Number(n) => n,
            _ => return Ok(-1),
        };
        if n != 0.0 && n.floor() == n && n >= 1.0 {
            let n = n as i64;
            max = max.max(n);
            items += 1;
            continue;
        }
        return Ok(-1);
    }
    let ratio = i64::from(cfg.sparse_ratio);
    if ratio > 0 && max > items * ratio && max > i64::from(cfg.sparse_safe) {
        if !cfg.sparse_convert {
            return Err(exception(lua, v, "excessively sparse array"));
        }
        return Ok(-1);
    }
    Ok(max)
}

fn encode(lua: &Lua, cfg: &Config, v: &Value, depth: i32, out: &mut Vec<u8>) -> mlua::Result<()> {
    match v {
        Value::String(s) => encode_string(out, &s.as_bytes()),
        Value::Integer(i) => encode_number(lua, cfg, v, *i as f64, out)?,
        Value::Number(n) => encode_number(lua, cfg, v, *n, out)?,
        Value::Boolean(b) => out.extend_from_slice(if *b { b"true" } else { b"false" }),
        Value::Nil => out.extend_from_slice(b"null"),
        Value::LightUserData(p) if p.0.is_null() => out.extend_from_slice(b"null"),
        Value::Table(t) => {
            let depth = depth + 1;
            if depth > cfg.encode_max_depth {
                return Err(lua_error(
                    lua,
                    format!("Cannot serialise, excessive nesting ({depth})"),
                ));
            }
            let len = array_length(lua, cfg, t, v)?;
            if len > 0 {
                out.push(b'[');
                for i in 1..=len {
                    if i > 1 {
                        out.push(b',');
                    }
                    let item: Value = t.raw_get(i)?;
                    encode(lua, cfg, &item, depth, out)?;
                }
                out.push(b']');
            } else {
                out.push(b'{');
                let mut first = true;
                for pair in t.pairs::<Value, Value>() {
                    let (k, val) = pair?;
                    if !first {
                        out.push(b',');
                    }
                    first = false;
                    match &k {
                        Value::Integer(i) => {
                            out.push(b'"');
                            encode_number(lua, cfg, &k, *i as f64, out)?;
                            out.extend_from_slice(b"\":");
                        }
                        Value::Number(n) => {
                            out.push(b'"');
                            encode_number(lua, cfg, &k, *n, out)?;
                            out.extend_from_slice(b"\":");
                        }
                        Value::String(s) => {
                            encode_string(out, &s.as_bytes());
                            out.push(b':');
                        }
                        other => {
                            return Err(exception(
                                lua,
                                other,
                                "table key must be a number or string",
                            ))
                        }
                    }
                    encode(lua, cfg, &val, depth, out)?;
                }
                out.push(b'}');
            }
        }
        other => return Err(exception(lua, other, "type not supported")),
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Decoding

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Kind {
    ObjBegin,
    ObjEnd,
    ArrBegin,
    ArrEnd,
    Str,
    Number,
    Boolean,
    Null,
    Colon,
    Comma,
    End,
    Error,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::ObjBegin => "T_OBJ_BEGIN",
            Kind::ObjEnd => "T_OBJ_END",
            Kind::ArrBegin => "T_ARR_BEGIN",
            Kind::ArrEnd => "T_ARR_END",
            Kind::Str => "T_STRING",
            Kind::Number => "T_NUMBER",
            Kind::Boolean => "T_BOOLEAN",
            Kind::Null => "T_NULL",
            Kind::Colon => "T_COLON",
            Kind::Comma => "T_COMMA",
            Kind::End => "T_END",
            Kind::Error => "T_ERROR",
        }
    }
}

struct Token {
    kind: Kind,
    index: usize,
    string: Vec<u8>,
    number: f64,
    boolean: bool,
    error: &'static str,
}

struct Parser<'a> {
    data: &'a [u8],
    ptr: usize,
    depth: i32,
    cfg: Config,
}

impl Parser<'_> {
    /// The byte at `i`, with the C string's terminating NUL past the end.
    fn at(&self, i: usize) -> u8 {
        self.data.get(i).copied().unwrap_or(0)
    }

    fn starts(&self, word: &[u8]) -> bool {
        self.data[self.ptr.min(self.data.len())..].starts_with(word)
    }

    fn error(&self, token: &mut Token, what: &'static str) {
        token.kind = Kind::Error;
        token.index = self.ptr;
        token.error = what;
    }

    fn is_invalid_number(&self) -> bool {
        let mut p = self.ptr;
        if self.at(p) == b'+' {
            return true;
        }
        if self.at(p) == b'-' {
            p += 1;
        }
        let c = self.at(p);
        if c == b'0' {
            let c2 = self.at(p + 1);
            return (c2 | 0x20) == b'x' || c2.is_ascii_digit();
        } else if c <= b'9' {
            return false;
        }
        let rest = &self.data[p.min(self.data.len())..];
        let prefix = |w: &[u8]| rest.len() >= 3 && rest[..3].eq_ignore_ascii_case(w);
        prefix(b"inf") || prefix(b"nan")
    }

    fn next(&mut self) -> Token {
        let mut t = Token {
            kind: Kind::End,
            index: 0,
            string: Vec::new(),
            number: 0.0,
            boolean: false,
            error: "",
        };
        while matches!(self.at(self.ptr), b' ' | b'\t' | b'\n' | b'\r') {
            self.ptr += 1;
        }
        t.index = self.ptr;
        let ch = self.at(self.ptr);
        let single = match ch {
            b'{' => Some(Kind::ObjBegin),
            b'}' => Some(Kind::ObjEnd),
            b'[' => Some(Kind::ArrBegin),
            b']' => Some(Kind::ArrEnd),
            b':' => Some(Kind::Colon),
            b',' => Some(Kind::Comma),
            0 => {
                t.kind = Kind::End;
                return t;
            }
            _ => None,
        };
        if let Some(kind) = single {
            t.kind = kind;
            self.ptr += 1;
            return t;
        }
        let unknown = matches!(
            ch,
            b'f' | b'i' | b'I' | b'n' | b'N' | b't' | b'"' | b'+' | b'-'
        ) || ch.is_ascii_digit();
        if !unknown {
            self.error(&mut t, "invalid token");
            return t;
        }
        if ch == b'"' {
            self.string(&mut t);
        } else if ch == b'-' || ch.is_ascii_digit() {
            if !self.cfg.decode_invalid && self.is_invalid_number() {
                self.error(&mut t, "invalid number");
            } else {
                self.number(&mut t);
            }
        } else if self.starts(b"true") {
            t.kind = Kind::Boolean;
            t.boolean = true;
            self.ptr += 4;
        } else if self.starts(b"false") {
            t.kind = Kind::Boolean;
            self.ptr += 5;
        } else if self.starts(b"null") {
            t.kind = Kind::Null;
            self.ptr += 4;
        } else if self.cfg.decode_invalid && self.is_invalid_number() {
            self.number(&mut t);
        } else {
            self.error(&mut t, "invalid token");
        }
        t
    }

    fn number(&mut self, t: &mut Token) {
        let end = self
            .data
            .iter()
            .skip(self.ptr)
            .position(|&b| b == 0)
            .map_or(self.data.len(), |p| self.ptr + p);
        let (v, used) = strtod(&self.data[self.ptr..end]);
        if used == 0 {
            self.error(t, "invalid number");
        } else {
            t.kind = Kind::Number;
            t.number = v;
            self.ptr += used;
        }
    }

    fn string(&mut self, t: &mut Token) {
        self.ptr += 1;
        let mut buf = Vec::new();
        loop {
            let ch = self.at(self.ptr);
            if ch == b'"' {
                break;
            }
            if ch == 0 {
                self.error(t, "unexpected end of string");
                return;
            }
            let mut out = ch;
            if ch == b'\\' {
                let esc = match self.at(self.ptr + 1) {
                    b'"' => b'"',
                    b'\\' => b'\\',
                    b'/' => b'/',
                    b'b' => 8,
                    b't' => b'\t',
                    b'n' => b'\n',
                    b'f' => 12,
                    b'r' => b'\r',
                    b'u' => b'u',
                    _ => 0,
                };
                if esc == b'u' {
                    if self.unicode_escape(&mut buf) {
                        continue;
                    }
                    self.error(t, "invalid unicode escape code");
                    return;
                }
                if esc == 0 {
                    self.error(t, "invalid escape code");
                    return;
                }
                self.ptr += 1;
                out = esc;
            }
            buf.push(out);
            self.ptr += 1;
        }
        self.ptr += 1;
        t.kind = Kind::Str;
        t.string = buf;
    }

    fn hex4(&self, at: usize) -> Option<u32> {
        let mut v = 0u32;
        for i in 0..4 {
            let d = char::from(self.at(at + i)).to_digit(16)?;
            v = (v << 4) | d;
        }
        Some(v)
    }

    fn unicode_escape(&mut self, buf: &mut Vec<u8>) -> bool {
        let Some(mut cp) = self.hex4(self.ptr + 2) else {
            return false;
        };
        let mut len = 6;
        if cp & 0xF800 == 0xD800 {
            if cp & 0x400 != 0 {
                return false;
            }
            if self.at(self.ptr + 6) != b'\\' || self.at(self.ptr + 7) != b'u' {
                return false;
            }
            let Some(low) = self.hex4(self.ptr + 8) else {
                return false;
            };
            if low & 0xFC00 != 0xDC00 {
                return false;
            }
            cp = (((cp & 0x3FF) << 10) | (low & 0x3FF)) + 0x10000;
            len = 12;
        }
        let mut tmp = [0u8; 4];
        let n = match cp {
            0..=0x7F => {
                tmp[0] = cp as u8;
                1
            }
            0x80..=0x7FF => {
                tmp[0] = 0xC0 | (cp >> 6) as u8;
                tmp[1] = 0x80 | (cp & 0x3F) as u8;
                2
            }
            0x800..=0xFFFF => {
                tmp[0] = 0xE0 | (cp >> 12) as u8;
                tmp[1] = 0x80 | ((cp >> 6) & 0x3F) as u8;
                tmp[2] = 0x80 | (cp & 0x3F) as u8;
                3
            }
            _ => {
                tmp[0] = 0xF0 | (cp >> 18) as u8;
                tmp[1] = 0x80 | ((cp >> 12) & 0x3F) as u8;
                tmp[2] = 0x80 | ((cp >> 6) & 0x3F) as u8;
                tmp[3] = 0x80 | (cp & 0x3F) as u8;
                4
            }
        };
        buf.extend_from_slice(&tmp[..n]);
        self.ptr += len;
        true
    }

    fn throw(&self, lua: &Lua, expected: &str, t: &Token) -> mlua::Error {
        let found = if t.kind == Kind::Error {
            t.error
        } else {
            t.kind.name()
        };
        lua_error(
            lua,
            format!(
                "Expected {expected} but found {found} at character {}",
                t.index + 1
            ),
        )
    }

    fn descend(&mut self, lua: &Lua) -> mlua::Result<()> {
        self.depth += 1;
        if self.depth > self.cfg.decode_max_depth {
            return Err(lua_error(
                lua,
                format!(
                    "Found too many nested data structures ({}) at character {}",
                    self.depth, self.ptr
                ),
            ));
        }
        Ok(())
    }

    fn value(&mut self, lua: &Lua, t: Token) -> mlua::Result<Value> {
        Ok(match t.kind {
            Kind::Str => Value::String(lua.create_string(&t.string)?),
            Kind::Number => Value::Number(t.number),
            Kind::Boolean => Value::Boolean(t.boolean),
            Kind::ObjBegin => self.object(lua)?,
            Kind::ArrBegin => self.array(lua)?,
            Kind::Null => null(),
            _ => return Err(self.throw(lua, "value", &t)),
        })
    }

    fn object(&mut self, lua: &Lua) -> mlua::Result<Value> {
        self.descend(lua)?;
        let table = lua.create_table()?;
        let mut t = self.next();
        if t.kind == Kind::ObjEnd {
            self.depth -= 1;
            return Ok(Value::Table(table));
        }
        loop {
            if t.kind != Kind::Str {
                return Err(self.throw(lua, "object key string", &t));
            }
            let key = lua.create_string(&t.string)?;
            t = self.next();
            if t.kind != Kind::Colon {
                return Err(self.throw(lua, "colon", &t));
            }
            let vt = self.next();
            let v = self.value(lua, vt)?;
            table.raw_set(key, v)?;
            t = self.next();
            if t.kind == Kind::ObjEnd {
                self.depth -= 1;
                return Ok(Value::Table(table));
            }
            if t.kind != Kind::Comma {
                return Err(self.throw(lua, "comma or object end", &t));
            }
            t = self.next();
        }
    }

    fn array(&mut self, lua: &Lua) -> mlua::Result<Value> {
        self.descend(lua)?;
        let table = lua.create_table()?;
        let mut t = self.next();
        if t.kind == Kind::ArrEnd {
            self.depth -= 1;
            return Ok(Value::Table(table));
        }
        let mut i = 1;
        loop {
            let v = self.value(lua, t)?;
            table.raw_set(i, v)?;
            i += 1;
            t = self.next();
            if t.kind == Kind::ArrEnd {
                self.depth -= 1;
                return Ok(Value::Table(table));
            }
            if t.kind != Kind::Comma {
                return Err(self.throw(lua, "comma or array end", &t));
            }
            t = self.next();
        }
    }
}

fn decode(lua: &Lua, cfg: &Config, data: &[u8]) -> mlua::Result<Value> {
    if data.len() >= 2 && (data[0] == 0 || data[1] == 0) {
        return Err(lua_error(
            lua,
            "JSON parser does not support UTF-16 or UTF-32",
        ));
    }
    let mut p = Parser {
        data,
        ptr: 0,
        depth: 0,
        cfg: *cfg,
    };
    let t = p.next();
    let v = p.value(lua, t)?;
    let t = p.next();
    if t.kind != Kind::End {
        return Err(p.throw(lua, "the end", &t));
    }
    Ok(v)
}

/// C's `strtod` in the "C" locale: the value and the bytes it used (0 if none form a number).
pub fn strtod(s: &[u8]) -> (f64, usize) {
    let mut i = 0;
    let neg = match s.first() {
        Some(b'-') => {
            i = 1;
            true
        }
        Some(b'+') => {
            i = 1;
            false
        }
        _ => false,
    };
    let sign = |v: f64| if neg { -v } else { v };
    let rest = &s[i..];
    let lower = |n: usize| rest.get(..n).map(|p| p.to_ascii_lowercase());
    if lower(3).as_deref() == Some(b"inf") {
        let used = if lower(8).as_deref() == Some(b"infinity") {
            8
        } else {
            3
        };
        return (sign(f64::INFINITY), i + used);
    }
    if lower(3).as_deref() == Some(b"nan") {
        let mut used = 3;
        if rest.get(3) == Some(&b'(') {
            if let Some(close) = rest[4..].iter().position(|&c| c == b')') {
                if rest[4..4 + close]
                    .iter()
                    .all(|c| c.is_ascii_alphanumeric() || *c == b'_')
                {
                    used = 4 + close + 1;
                }
            }
        }
        return (sign(f64::NAN), i + used);
    }
    if rest.len() >= 2 && rest[0] == b'0' && (rest[1] | 0x20) == b'x' {
        // Hexadecimal: digits, an optional fraction, an optional binary exponent.
        let mut j = 2;
        let mut mant = 0f64;
        let mut any = false;
        while let Some(d) = rest.get(j).and_then(|&c| char::from(c).to_digit(16)) {
            mant = mant * 16.0 + f64::from(d);
            any = true;
            j += 1;
        }
        let mut scale = 0i32;
        if rest.get(j) == Some(&b'.') {
            let mut k = j + 1;
            let mut frac_any = false;
            while let Some(d) = rest.get(k).and_then(|&c| char::from(c).to_digit(16)) {
                mant = mant * 16.0 + f64::from(d);
                scale -= 4;
                frac_any = true;
                k += 1;
            }
            if any || frac_any {
                any = true;
                j = k;
            }
        }
        if !any {
            // Only the "0" is a number.
            return (sign(0.0), i + 1);
        }
        if matches!(rest.get(j), Some(b'p' | b'P')) {
            let (e, used) = exponent(&rest[j + 1..]);
            if used > 0 {
                scale = scale.saturating_add(e);
                j += 1 + used;
            }
        }
        return (sign(mant * 2f64.powi(scale)), i + j);
    }
    let mut j = 0;
    let mut digits = 0;
    while rest.get(j).is_some_and(u8::is_ascii_digit) {
        j += 1;
        digits += 1;
    }
    if rest.get(j) == Some(&b'.') {
        let mut k = j + 1;
        while rest.get(k).is_some_and(u8::is_ascii_digit) {
            k += 1;
            digits += 1;
        }
        if digits > 0 {
            j = k;
        }
    }
    if digits == 0 {
        return (0.0, 0);
    }
    if matches!(rest.get(j), Some(b'e' | b'E')) {
        let (_, used) = exponent(&rest[j + 1..]);
        if used > 0 {
            j += 1 + used;
        }
    }
    let text = std::str::from_utf8(&rest[..j]).unwrap_or("0");
    let v: f64 = text.parse().unwrap_or(0.0);
    (sign(v), i + j)
}

/// An exponent `[+-]digits`: its value (saturated) and the bytes used (0 if no digits).
fn exponent(s: &[u8]) -> (i32, usize) {
    let mut i = 0;
    let neg = match s.first() {
        Some(b'-') => {
            i = 1;
            true
        }
        Some(b'+') => {
            i = 1;
            false
        }
        _ => false,
    };
    let start = i;
    let mut v: i32 = 0;
    while let Some(d) = s.get(i).filter(|c| c.is_ascii_digit()) {
        v = v.saturating_mul(10).saturating_add(i32::from(d - b'0'));
        i += 1;
    }
    if i == start {
        return (0, 0);
    }
    (if neg { -v } else { v }, i)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lua() -> Lua {
        let lua = Lua::new();
        lua.globals().set("cjson", open(&lua).unwrap()).unwrap();
        lua
    }

    fn eval_str(lua: &Lua, code: &str) -> String {
        let s: mlua::LuaString = lua.load(code).eval().unwrap();
        String::from_utf8_lossy(&s.as_bytes()).into_owned()
    }

    fn eval_err(lua: &Lua, code: &str) -> String {
        match lua.load(code).set_name("@user_script").exec() {
            Err(e) => {
                let mut e = &e;
                while let mlua::Error::CallbackError { cause, .. } = e {
                    e = cause;
                }
                e.to_string()
            }
            Ok(()) => panic!("no error for {code}"),
        }
    }

    #[test]
    fn encodes_as_redis_does() {
        let lua = lua();
        // Observed on redis-server 7.0.15.
        assert_eq!(
            eval_str(
                &lua,
                r#"return cjson.encode({1,2,3,{a=1},'x\n/"', true, false, cjson.null, 1.5, 0.1, 1e20, -0, 3.14159265358979})"#
            ),
            r#"[1,2,3,{"a":1},"x\n\/\"",true,false,null,1.5,0.1,1e+20,-0,3.1415926535898]"#
        );
        assert_eq!(
            eval_str(&lua, "return cjson.encode({[1]=1, [3]=3})"),
            "[1,null,3]"
        );
        assert_eq!(eval_str(&lua, "return cjson.encode({})"), "{}");
        assert_eq!(
            eval_str(&lua, "return cjson.encode(string.char(0,1,31,127))"),
            r#""\u0000\u0001\u001f\u007f""#
        );
        assert_eq!(
            eval_str(
                &lua,
                r#"return cjson.encode(cjson.decode('{"b":1,"a":2,"c":[]}'))"#
            ),
            r#"{"a":2,"c":{},"b":1}"#
        );
        assert!(eval_err(&lua, "return cjson.encode({[1]=1, [30]=3})")
            .ends_with("Cannot serialise table: excessively sparse array"));
        assert!(eval_err(&lua, "return cjson.encode({[true]=1})")
            .ends_with("Cannot serialise boolean: table key must be a number or string"));
    }

    #[test]
    fn decodes_as_redis_does() {
        let lua = lua();
        assert_eq!(
            eval_str(
                &lua,
                r#"local t = cjson.decode('{"a":[1,2,{"b":null}],"c":"x\\u00e9\\n","d":true,"e":1.5e3}') return t.c .. type(t.a[3].b) .. t.e"#
            ),
            "x\u{e9}\nuserdata1500"
        );
        assert_eq!(
            eval_str(&lua, r#"return cjson.decode('"\\ud83d\\ude00"')"#),
            "\u{1f600}"
        );
        let n: f64 = lua.load("return cjson.decode('0x10')").eval().unwrap();
        assert_eq!(n, 16.0);
        for (input, msg) in [
            ("''", "Expected value but found T_END at character 1"),
            (
                "'[1,2'",
                "Expected comma or array end but found T_END at character 5",
            ),
            (
                r#"'{"a" 1}'"#,
                "Expected colon but found T_NUMBER at character 6",
            ),
            (
                "'[1] x'",
                "Expected the end but found invalid token at character 5",
            ),
            (
                "'nul'",
                "Expected value but found invalid token at character 1",
            ),
            (
                r#"'"\\q"'"#,
                "Expected value but found invalid escape code at character 2",
            ),
            (
                "'[-]'",
                "Expected value but found invalid number at character 2",
            ),
            (
                "'{1:2}'",
                "Expected object key string but found T_NUMBER at character 2",
            ),
            (
                r#"'"abc'"#,
                "Expected value but found unexpected end of string at character 5",
            ),
        ] {
            let err = eval_err(&lua, &format!("return cjson.decode({input})"));
            assert!(err.ends_with(msg), "{input}: {err}");
            assert!(err.contains("user_script:1: "), "{err}");
        }
    }

    #[test]
    fn strtod_follows_c() {
        assert_eq!(strtod(b"1.5e3x"), (1500.0, 5));
        assert_eq!(strtod(b"0x10"), (16.0, 4));
        assert_eq!(strtod(b"0x"), (0.0, 1));
        assert_eq!(strtod(b"-"), (0.0, 0));
        assert_eq!(strtod(b"1e"), (1.0, 1));
        assert_eq!(strtod(b"01"), (1.0, 2));
        assert_eq!(strtod(b".5"), (0.5, 2));
        assert_eq!(strtod(b"Infinity"), (f64::INFINITY, 8));
        assert!(strtod(b"nan").0.is_nan());
    }
}
