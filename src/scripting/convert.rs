//! Redis's conversion rules between command replies and Lua values (`script_lua.c`).
//!
//! Reply to Lua (what `redis.call` returns), RESP2 (the default): integers become numbers, bulk
//! strings strings, a null bulk or null array `false`, a status `{ok=...}`, an error
//! `{err=...}`, arrays tables; maps flatten to arrays, doubles become strings and booleans
//! integers, as a RESP2 client would see them. After `redis.setresp(3)`: null is `nil`, booleans
//! are booleans, and maps, sets, doubles, big numbers and verbatim strings become
//! `{map=...}`, `{set=...}`, `{double=...}`, `{big_number=...}`, `{verbatim_string=...}`.
//!
//! Lua to reply (what a script returns): numbers become integers by truncation, strings bulk
//! strings, `false` (and `nil`) a null, `true` the integer 1 (RESP2 script) or a boolean (RESP3),
//! tables with an `err`/`ok`/`double`/`big_number`/`verbatim_string`/`map`/`set` field those
//! replies, and other tables arrays cut at the first `nil`.

use super::fmt::c_cast_i64;
use crate::protocol::Reply;
use bytes::Bytes;
use mlua::{Lua, Table, Value};
use std::borrow::Cow;

/// How deep nested tables may go in a script's reply before Redis's stack limit error.
const MAX_DEPTH: usize = 1000;

/// The error a command reply turns into inside Lua: `CODE message` (Redis's
/// `luaPushErrorBuff`), from the text of a [`Reply::Error`].
pub fn error_table_text(text: &str) -> String {
    // The text as it goes on the wire (without the dash): a code is added when missing.
    let wire: Cow<'_, str> = match text.strip_prefix('-') {
        Some(raw) => Cow::Borrowed(raw),
        None => {
            let first = text.split(' ').next().unwrap_or("");
            if !first.is_empty() && first.bytes().all(|c| c.is_ascii_uppercase()) {
                Cow::Borrowed(text)
            } else {
                Cow::Owned(format!("ERR {text}"))
            }
        }
    };
    let (code, msg) = match wire.split_once(' ') {
        Some((code, msg)) => (code, msg),
        None => ("ERR", wire.as_ref()),
    };
    let msg = msg.trim_matches(|c| c == '\r' || c == '\n');
    format!("{code} {msg}")
}

/// Converts a command's reply for the script (RESP3 rules when `resp3`).
pub fn reply_to_lua(lua: &Lua, reply: &Reply, resp3: bool) -> mlua::Result<Value> {
    Ok(match reply {
        Reply::Ok => status_table(lua, "OK")?,
        Reply::Status(s) => status_table(lua, s)?,
        Reply::Error(e) => Value::Table(error_table(lua, &error_table_text(e))?),
        Reply::Int(i) => Value::Number(*i as f64),
        Reply::Bulk(b) => Value::String(lua.create_string(b)?),
        Reply::Nil | Reply::NilArray => {
            if resp3 {
                Value::Nil
            } else {
                Value::Boolean(false)
            }
        }
        Reply::Double(d) => {
            if resp3 {
                let t = lua.create_table()?;
                t.raw_set("double", *d)?;
                Value::Table(t)
            } else {
                Value::String(lua.create_string(crate::util::num::fmt_double(*d))?)
            }
        }
        // GEO coordinates: the text Redis prints; a RESP3 double is parsed back as Redis's
        // Lua conversion parses the `,` reply.
        Reply::FormattedDouble(text) => {
            if resp3 {
                let d = std::str::from_utf8(text)
                    .ok()
                    .and_then(|t| t.parse::<f64>().ok())
                    .unwrap_or(f64::NAN);
                let t = lua.create_table()?;
                t.raw_set("double", d)?;
                Value::Table(t)
            } else {
                Value::String(lua.create_string(text)?)
            }
        }
        Reply::BigNumber(n) => {
            if resp3 {
                let t = lua.create_table()?;
                t.raw_set("big_number", lua.create_string(n.as_bytes())?)?;
                Value::Table(t)
            } else {
                Value::String(lua.create_string(n.as_bytes())?)
            }
        }
        Reply::Bool(b) => {
            if resp3 {
                Value::Boolean(*b)
            } else {
                Value::Number(if *b { 1.0 } else { 0.0 })
            }
        }
        Reply::Array(items) | Reply::Push(items) | Reply::Sequence(items) => {
            array_table(lua, items, resp3)?
        }
        Reply::Set(items) => {
            if resp3 {
                let set = lua.create_table()?;
                for item in items {
                    set.raw_set(reply_to_lua(lua, item, resp3)?, true)?;
                }
                let t = lua.create_table()?;
                t.raw_set("set", set)?;
                Value::Table(t)
            } else {
                array_table(lua, items, resp3)?
            }
        }
        Reply::Map(pairs) => {
            if resp3 {
                let map = lua.create_table()?;
                for (k, v) in pairs {
                    map.raw_set(reply_to_lua(lua, k, resp3)?, reply_to_lua(lua, v, resp3)?)?;
                }
                let t = lua.create_table()?;
                t.raw_set("map", map)?;
                Value::Table(t)
            } else {
                let t = lua.create_table_with_capacity(pairs.len() * 2, 0)?;
                let mut i = 1;
                for (k, v) in pairs {
                    t.raw_set(i, reply_to_lua(lua, k, resp3)?)?;
                    t.raw_set(i + 1, reply_to_lua(lua, v, resp3)?)?;
                    i += 2;
                }
                Value::Table(t)
            }
        }
        Reply::Verbatim(format, text) => {
            if resp3 {
                let inner = lua.create_table()?;
                inner.raw_set("string", lua.create_string(text.as_bytes())?)?;
                inner.raw_set("format", *format)?;
                let t = lua.create_table()?;
                t.raw_set("verbatim_string", inner)?;
                Value::Table(t)
            } else {
                Value::String(lua.create_string(text.as_bytes())?)
            }
        }
    })
}

fn array_table(lua: &Lua, items: &[Reply], resp3: bool) -> mlua::Result<Value> {
    let t = lua.create_table_with_capacity(items.len(), 0)?;
    for (i, item) in items.iter().enumerate() {
        t.raw_set(i + 1, reply_to_lua(lua, item, resp3)?)?;
    }
    Ok(Value::Table(t))
}

fn status_table(lua: &Lua, s: &str) -> mlua::Result<Value> {
    let t = lua.create_table()?;
    t.raw_set("ok", lua.create_string(s.as_bytes())?)?;
    Ok(Value::Table(t))
}

/// `{err = text}`.
pub fn error_table(lua: &Lua, text: &str) -> mlua::Result<Table> {
    let t = lua.create_table()?;
    t.raw_set("err", lua.create_string(text.as_bytes())?)?;
    Ok(t)
}

/// Converts what a script returned into its reply; `resp3` is the script's protocol
/// (`redis.setresp`), which decides how booleans are sent.
pub fn lua_to_reply(value: &Value, resp3: bool) -> Reply {
    to_reply(value, resp3, 0)
}

fn to_reply(value: &Value, resp3: bool, depth: usize) -> Reply {
    if depth > MAX_DEPTH {
        return Reply::Error("ERR reached lua stack limit".into());
    }
    match value {
        Value::String(s) => Reply::Bulk(Bytes::copy_from_slice(&s.as_bytes())),
        Value::Boolean(b) => {
            if resp3 {
                Reply::Bool(*b)
            } else if *b {
                Reply::Int(1)
            } else {
                Reply::Nil
            }
        }
        Value::Integer(i) => Reply::Int(*i),
        Value::Number(n) => Reply::Int(c_cast_i64(*n)),
        Value::Table(t) => table_to_reply(t, resp3, depth),
        _ => Reply::Nil,
    }
}

fn field(t: &Table, name: &str) -> Value {
    t.raw_get::<Value>(name).unwrap_or(Value::Nil)
}

fn table_to_reply(t: &Table, resp3: bool, depth: usize) -> Reply {
    if let Value::String(e) = field(t, "err") {
        let text = String::from_utf8_lossy(&e.as_bytes()).into_owned();
        return Reply::Error(format!("-{text}").into());
    }
    if let Value::String(s) = field(t, "ok") {
        return Reply::Status(String::from_utf8_lossy(&s.as_bytes()).into_owned().into());
    }
    match field(t, "double") {
        Value::Number(d) => return Reply::Double(d),
        Value::Integer(i) => return Reply::Double(i as f64),
        _ => {}
    }
    if let Value::String(s) = field(t, "big_number") {
        let text = String::from_utf8_lossy(&s.as_bytes()).replace(['\r', '\n'], " ");
        return Reply::BigNumber(text.into());
    }
    if let Value::Table(v) = field(t, "verbatim_string") {
        if let (Value::String(format), Value::String(text)) =
            (field(&v, "format"), field(&v, "string"))
        {
            let format = match &*format.as_bytes() {
                b"mkd" => "mkd",
                _ => "txt",
            };
            return Reply::Verbatim(
                format,
                String::from_utf8_lossy(&text.as_bytes()).into_owned(),
            );
        }
    }
    if let Value::Table(m) = field(t, "map") {
        let mut pairs = Vec::new();
        for (k, v) in m.pairs::<Value, Value>().flatten() {
            pairs.push((
                to_reply(&k, resp3, depth + 1),
                to_reply(&v, resp3, depth + 1),
            ));
        }
        return Reply::Map(pairs);
    }
    if let Value::Table(s) = field(t, "set") {
        let mut items = Vec::new();
        for (k, _) in s.pairs::<Value, Value>().flatten() {
            items.push(to_reply(&k, resp3, depth + 1));
        }
        return Reply::Set(items);
    }
    let mut items = Vec::new();
    let mut i: i64 = 1;
    loop {
        let v = t.raw_get::<Value>(i).unwrap_or(Value::Nil);
        if v.is_nil() {
            break;
        }
        items.push(to_reply(&v, resp3, depth + 1));
        i += 1;
    }
    Reply::Array(items)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn command_errors_get_redis_codes() {
        assert_eq!(
            error_table_text("ERR value is not an integer or out of range"),
            "ERR value is not an integer or out of range"
        );
        assert_eq!(
            error_table_text("WRONGTYPE Operation against a key"),
            "WRONGTYPE Operation against a key"
        );
        assert_eq!(error_table_text("no code here"), "ERR no code here");
        assert_eq!(error_table_text("-boom"), "ERR boom");
        assert_eq!(error_table_text("-X y z"), "X y z");
    }

    #[test]
    fn both_directions() {
        let lua = Lua::new();
        let v = reply_to_lua(&lua, &Reply::Int(7), false).unwrap();
        assert_eq!(lua_to_reply(&v, false), Reply::Int(7));
        assert_eq!(
            lua_to_reply(&reply_to_lua(&lua, &Reply::Nil, false).unwrap(), false),
            Reply::Nil
        );
        assert_eq!(lua_to_reply(&Value::Number(-3.99), false), Reply::Int(-3));
        assert_eq!(
            lua_to_reply(&Value::Number(1e20), false),
            Reply::Int(i64::MIN)
        );
        assert_eq!(lua_to_reply(&Value::Boolean(true), false), Reply::Int(1));
        assert_eq!(lua_to_reply(&Value::Boolean(true), true), Reply::Bool(true));
        let map = Reply::Map(vec![(Reply::text("a"), Reply::Int(1))]);
        let flat = reply_to_lua(&lua, &map, false).unwrap();
        assert_eq!(
            lua_to_reply(&flat, false),
            Reply::Array(vec![Reply::text("a"), Reply::Int(1)])
        );
        let tagged = reply_to_lua(&lua, &map, true).unwrap();
        assert_eq!(lua_to_reply(&tagged, true), map);
        let d = reply_to_lua(&lua, &Reply::Double(1.5), false).unwrap();
        assert_eq!(lua_to_reply(&d, false), Reply::text("1.5"));
        // Arrays stop at the first nil.
        let t: Table = lua.load("return {1, 2, nil, 4}").eval().unwrap();
        assert_eq!(
            lua_to_reply(&Value::Table(t), false),
            Reply::Array(vec![Reply::Int(1), Reply::Int(2)])
        );
        // A self-referencing table ends in Redis's stack error instead of overflowing.
        let t: Table = lua.load("local t = {} t[1] = t return t").eval().unwrap();
        let mut r = lua_to_reply(&Value::Table(t), false);
        let mut depth = 0;
        while let Reply::Array(mut v) = r {
            r = v.remove(0);
            depth += 1;
        }
        assert!(depth > 100);
        assert_eq!(r, Reply::Error("ERR reached lua stack limit".into()));
    }
}
