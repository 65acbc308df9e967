//! Building the JSON payload of one log event (pure code).
//!
//! * Keys and types come from the core's LogFormat table (see
//!   `host::jot`); literal text of the LogFormat is ignored.
//! * Numbers that are whole (and exactly representable) are written as
//!   integers (`432`), others as the shortest round-tripping decimal
//!   (`4.211`), like the C module's `%.16g` for ordinary values.
//! * Strings need not be UTF-8 (file names, arguments): every byte that is
//!   not part of a valid UTF-8 sequence becomes U+FFFD, one per byte, as the
//!   core's JSON encoder does.  Characters are escaped as the core's encoder
//!   (ccan-json) escapes them: `\"`, `\\`, `\b`, `\f`, `\n`, `\r`, `\t`,
//!   other control characters as `\u00XX` with upper-case hex digits; `/`,
//!   DEL and everything else as is.  Unlike the core's, U+001F is escaped
//!   too (the core writes it raw, which is not valid JSON), so the payload
//!   is always valid JSON.
//! * A key that appears twice keeps its first position and its last value
//!   (the C module would emit a duplicate key).
//! * `RedisLogFormatExtra` keys are added after the logged ones and never
//!   override them; values that are objects or arrays are left out (as
//!   Debian's 1.3.8 C module does: the core cannot copy them into the
//!   event), strings, numbers, booleans and null are kept.  Their numbers
//!   are written with the digits as given (serde_json's
//!   `arbitrary_precision`; an exponent is written `e+N`/`e-N`), where the
//!   C module prints them again with `%.16g`; one out of the range of a
//!   double (`1e400`) becomes `null`, as with the C module.

use crate::host::jot::JotRef;
use serde_json::{Map, Number, Value};

/// Parse a `RedisLogFormatExtra` argument: it must be a JSON object.  As
/// with the C module, a key that comes twice keeps its first value, and a
/// number out of the range of a double (`1e400`) is `null`.
pub fn parse_extra(text: &str) -> Result<Map<String, Value>, String> {
    let invalid = || format!("error parsing '{text}' as JSON object: invalid JSON");
    let Ok(Value::Object(mut m)) = serde_json::from_str::<Value>(text) else {
        return Err(invalid());
    };
    // serde_json keeps a repeated key's last value: take the first one.
    if let Some(members) = top_level_members(text)
        && members.len() != m.len()
    {
        let mut first = Map::new();
        for (k, raw) in members {
            if !first.contains_key(&k) {
                first.insert(k, serde_json::from_str(raw).map_err(|_| invalid())?);
            }
        }
        m = first;
    }
    for v in m.values_mut() {
        if let Value::Number(n) = v
            && !n.as_f64().is_some_and(f64::is_finite)
        {
            *v = Value::Null;
        }
    }
    Ok(m)
}

/// The members of a JSON object known to be valid: each key (decoded) and
/// the text of its value.
fn top_level_members(text: &str) -> Option<Vec<(String, &str)>> {
    let b = text.as_bytes();
    let mut i = 0;
    let skip_ws = |i: &mut usize| {
        while *i < b.len() && matches!(b[*i], b' ' | b'\t' | b'\n' | b'\r') {
            *i += 1;
        }
    };
    // The end of the string starting at `i` (a quote), after its closing quote.
    let string_end = |mut i: usize| -> Option<usize> {
        i += 1;
        while i < b.len() {
            match b[i] {
                b'\\' => i += 2,
                b'"' => return Some(i + 1),
                _ => i += 1,
            }
        }
        None
    };
    skip_ws(&mut i);
    if b.get(i) != Some(&b'{') {
        return None;
    }
    i += 1;
    let mut members = Vec::new();
    loop {
        skip_ws(&mut i);
        match b.get(i)? {
            b'}' => return Some(members),
            b',' => {
                i += 1;
                continue;
            }
            b'"' => {}
            _ => return None,
        }
        let key_end = string_end(i)?;
        let key: String = serde_json::from_str(&text[i..key_end]).ok()?;
        i = key_end;
        skip_ws(&mut i);
        if b.get(i) != Some(&b':') {
            return None;
        }
        i += 1;
        skip_ws(&mut i);
        let start = i;
        let mut depth = 0usize;
        while i < b.len() {
            match b[i] {
                b'"' => {
                    i = string_end(i)?;
                    if depth == 0 {
                        break;
                    }
                    continue;
                }
                b'{' | b'[' => depth += 1,
                b'}' | b']' if depth > 0 => {
                    depth -= 1;
                    if depth == 0 {
                        i += 1;
                        break;
                    }
                }
                b',' | b'}' | b' ' | b'\t' | b'\n' | b'\r' if depth == 0 => break,
                _ => {}
            }
            i += 1;
        }
        members.push((key, &text[start..i]));
    }
}

// Per event, the object is written straight from the core's callbacks into
// reused buffers: no map, no `String` per value.  The `reference` module
// below builds the same object as a `serde_json::Map`, the plain way; the
// property tests check that both write the same bytes.

/// `ESCAPE[b]`: how byte `b` is written inside a JSON string, as the core's
/// encoder writes it (and serde_json, but for the case of the hex digits):
/// 0 as is, `u` as `\u00XX`, anything else after a backslash.
const ESCAPE: [u8; 256] = {
    let mut t = [0u8; 256];
    let mut b = 0;
    while b < 0x20 {
        t[b] = b'u';
        b += 1;
    }
    t[0x08] = b'b';
    t[0x09] = b't';
    t[0x0a] = b'n';
    t[0x0c] = b'f';
    t[0x0d] = b'r';
    t[b'"' as usize] = b'"';
    t[b'\\' as usize] = b'\\';
    t
};

/// Upper case, as the core's encoder writes them.
const HEX: &[u8; 16] = b"0123456789ABCDEF";

/// Append valid UTF-8 `s`, escaped for the inside of a JSON string.
fn escape_utf8(out: &mut Vec<u8>, s: &[u8]) {
    let mut start = 0;
    for (i, &b) in s.iter().enumerate() {
        let e = ESCAPE[usize::from(b)];
        if e == 0 {
            continue;
        }
        out.extend_from_slice(&s[start..i]);
        if e == b'u' {
            out.extend_from_slice(b"\\u00");
            out.push(HEX[usize::from(b >> 4)]);
            out.push(HEX[usize::from(b & 0xf)]);
        } else {
            out.push(b'\\');
            out.push(e);
        }
        start = i + 1;
    }
    out.extend_from_slice(&s[start..]);
}

/// Append `bytes` as `reference::lossy_bytes` makes them text, passing each valid
/// piece to `put` (each invalid byte becomes U+FFFD).
fn lossy_pieces(mut bytes: &[u8], out: &mut Vec<u8>, put: fn(&mut Vec<u8>, &[u8])) {
    loop {
        match std::str::from_utf8(bytes) {
            Ok(_) => return put(out, bytes),
            Err(e) => {
                let (good, rest) = bytes.split_at(e.valid_up_to());
                put(out, good);
                let bad = e.error_len().unwrap_or(rest.len());
                for _ in 0..bad {
                    out.extend_from_slice("\u{FFFD}".as_bytes());
                }
                bytes = &rest[bad..];
            }
        }
    }
}

/// Append `bytes` as a JSON string (quotes included): the text of
/// `reference::lossy_bytes`, escaped as the core's encoder escapes it.
pub fn write_string(out: &mut Vec<u8>, bytes: &[u8]) {
    out.push(b'"');
    lossy_pieces(bytes, out, escape_utf8);
    out.push(b'"');
}

/// Append `bytes` as text (each invalid UTF-8 byte as U+FFFD).
pub fn write_lossy(out: &mut Vec<u8>, bytes: &[u8]) {
    lossy_pieces(bytes, out, |o, s| o.extend_from_slice(s));
}

/// Append `n` as `reference::number` writes it (`null` if not finite).
pub fn write_number(out: &mut Vec<u8>, n: f64) {
    if n.is_finite() && n.fract() == 0.0 && n.abs() < 9_007_199_254_740_992.0 {
        out.extend_from_slice(itoa::Buffer::new().format(n as i64).as_bytes());
    } else {
        match Number::from_f64(n) {
            Some(num) => out.extend_from_slice(num.to_string().as_bytes()),
            None => out.extend_from_slice(b"null"),
        }
    }
}

/// Append a resolved value as JSON.
pub fn write_value(out: &mut Vec<u8>, v: JotRef<'_>) {
    match v {
        JotRef::Str(b) => write_string(out, b),
        JotRef::Num(n) => write_number(out, n),
        JotRef::Bool(b) => out.extend_from_slice(if b { b"true" } else { b"false" }),
    }
}

/// Append a resolved value as `reference::text` writes it.
pub fn write_text_value(out: &mut Vec<u8>, v: JotRef<'_>) {
    match v {
        JotRef::Str(b) => write_lossy(out, b),
        JotRef::Num(n) if n.is_finite() => write_number(out, n),
        JotRef::Num(_) => out.push(b'-'),
        JotRef::Bool(b) => out.extend_from_slice(if b { b"true" } else { b"false" }),
    }
}

/// One JSON object being written, with the rules of the reference's
/// `object`, `mark_session_event` and `add_extra`: a key that comes again keeps
/// its first position and takes the last value.  Keys and values are kept
/// as JSON text in one reused buffer.
#[derive(Default)]
pub struct Object {
    arena: Vec<u8>,
    /// Each member: its key and its value, as ranges of `arena`.
    members: Vec<(std::ops::Range<usize>, std::ops::Range<usize>)>,
}

impl Object {
    /// Empty, keeping the buffers.
    pub fn clear(&mut self) {
        self.arena.clear();
        self.members.clear();
    }

    /// The member whose key (JSON text, quotes included) is `key`.
    fn find(&self, key: &[u8]) -> Option<usize> {
        self.members
            .iter()
            .position(|(k, _)| &self.arena[k.clone()] == key)
    }

    /// Whether a member has the key `key` (JSON text).
    pub fn has(&self, key: &[u8]) -> bool {
        self.find(key).is_some()
    }

    /// Add the member whose key was just written to the arena from
    /// `key_start`, with the value written after it; a known key takes the
    /// new value in its old place.
    fn add_written(&mut self, key_start: usize, value_start: usize) {
        let key = key_start..value_start;
        let value = value_start..self.arena.len();
        match self.find(&self.arena[key.clone()]) {
            Some(i) => self.members[i].1 = value,
            None => self.members.push((key, value)),
        }
    }

    /// A resolved variable (as `reference::object` takes it).
    pub fn var(&mut self, key: &[u8], value: JotRef<'_>) {
        let k = self.arena.len();
        write_string(&mut self.arena, key);
        let v = self.arena.len();
        write_value(&mut self.arena, value);
        self.add_written(k, v);
    }

    /// Unless a member has the key `key` (JSON text): a new member at
    /// position `at` (or last), with the value `value` writes.
    fn add_new(&mut self, key: &[u8], at: Option<usize>, value: impl FnOnce(&mut Vec<u8>)) {
        if self.has(key) {
            return;
        }
        let k = self.arena.len();
        self.arena.extend_from_slice(key);
        let v = self.arena.len();
        value(&mut self.arena);
        let member = (k..v, v..self.arena.len());
        match at {
            Some(i) => self.members.insert(i, member),
            None => self.members.push(member),
        }
    }

    /// `key: true` as the first member, unless the key is there (as
    /// `reference::mark_session_event` does; `key` is JSON text).
    pub fn mark_first(&mut self, key: &[u8]) {
        self.add_new(key, Some(0), |a| a.extend_from_slice(b"true"));
    }

    /// A member written as JSON text, unless its key is there (as
    /// `reference::add_extra` does).
    pub fn add_if_absent(&mut self, key: &[u8], value_json: &[u8]) {
        self.add_new(key, None, |a| a.extend_from_slice(value_json));
    }

    /// Like [`Object::add_if_absent`], the value a string of `text`.
    pub fn add_text_if_absent(&mut self, key: &[u8], text: &[u8]) {
        self.add_new(key, None, |a| write_string(a, text));
    }

    /// Append the object's JSON text (as `reference::to_string` writes the map).
    pub fn write(&self, out: &mut Vec<u8>) {
        out.push(b'{');
        for (i, (k, v)) in self.members.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            out.extend_from_slice(&self.arena[k.clone()]);
            out.push(b':');
            out.extend_from_slice(&self.arena[v.clone()]);
        }
        out.push(b'}');
    }
}

impl crate::host::jot::JotSink for Object {
    fn var(&mut self, key: &[u8], value: JotRef<'_>) {
        Object::var(self, key, value)
    }
}

/// Resolved pieces as text (a Redis key, an extra's value), as `reference::text`
/// writes them.
#[derive(Default)]
pub struct Text(pub Vec<u8>);

impl crate::host::jot::JotSink for Text {
    fn var(&mut self, _key: &[u8], value: JotRef<'_>) {
        write_text_value(&mut self.0, value)
    }

    fn text(&mut self, bytes: &[u8]) {
        write_lossy(&mut self.0, bytes)
    }
}

/// A value as JSON text: strings escaped as [`write_string`] does,
/// numbers with their digits as given (see [`parse_extra`]).
pub fn to_json(v: &Value) -> Vec<u8> {
    let mut out = Vec::new();
    write_json(&mut out, v);
    out
}

fn write_json(out: &mut Vec<u8>, v: &Value) {
    match v {
        Value::Null => out.extend_from_slice(b"null"),
        Value::Bool(b) => out.extend_from_slice(if *b { b"true" } else { b"false" }),
        Value::Number(n) => out.extend_from_slice(n.to_string().as_bytes()),
        Value::String(s) => write_string(out, s.as_bytes()),
        Value::Array(items) => {
            out.push(b'[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_json(out, item);
            }
            out.push(b']');
        }
        Value::Object(m) => {
            out.push(b'{');
            for (i, (k, item)) in m.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_string(out, k.as_bytes());
                out.push(b':');
                write_json(out, item);
            }
            out.push(b'}');
        }
    }
}

/// A key as JSON text (quotes included), as [`write_string`] writes it.
pub fn key_json(key: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(key.len() + 2);
    write_string(&mut out, key.as_bytes());
    out
}

/// The object of an event built as a `serde_json::Map`, the plain way:
/// the model [`Object`] and [`Text`] are tested against.
#[cfg(test)]
pub mod reference {
    use super::*;

    /// A typed value of one resolved LogFormat variable.
    #[derive(Clone, Debug, PartialEq)]
    pub enum JotValue {
        Str(Vec<u8>),
        Num(f64),
        Bool(bool),
    }

    /// One piece of a resolved LogFormat.
    #[derive(Clone, Debug, PartialEq)]
    pub enum JotItem {
        Var { key: String, value: JotValue },
        Text(Vec<u8>),
    }

    impl JotValue {
        pub fn as_ref(&self) -> JotRef<'_> {
            match self {
                JotValue::Str(b) => JotRef::Str(b),
                JotValue::Num(n) => JotRef::Num(*n),
                JotValue::Bool(b) => JotRef::Bool(*b),
            }
        }
    }

    /// Bytes as a string, each invalid byte replaced by U+FFFD.
    pub fn lossy_bytes(mut bytes: &[u8]) -> String {
        let mut out = String::with_capacity(bytes.len());
        loop {
            match std::str::from_utf8(bytes) {
                Ok(s) => {
                    out.push_str(s);
                    return out;
                }
                Err(e) => {
                    let (good, rest) = bytes.split_at(e.valid_up_to());
                    // SAFETY-free: `good` is valid UTF-8 by construction.
                    out.push_str(std::str::from_utf8(good).unwrap_or_default());
                    let bad = e.error_len().unwrap_or(rest.len());
                    for _ in 0..bad {
                        out.push('\u{FFFD}');
                    }
                    bytes = &rest[bad..];
                }
            }
        }
    }

    /// A JSON number: integral values as integers.
    pub fn number(n: f64) -> Value {
        if n.is_finite() && n.fract() == 0.0 && n.abs() < 9_007_199_254_740_992.0 {
            Value::Number(Number::from(n as i64))
        } else {
            Number::from_f64(n).map_or(Value::Null, Value::Number)
        }
    }

    pub fn value(v: &JotValue) -> Value {
        match v {
            JotValue::Str(b) => Value::String(lossy_bytes(b)),
            JotValue::Num(n) => number(*n),
            JotValue::Bool(b) => Value::Bool(*b),
        }
    }

    /// The JSON object for the resolved variables of one event.
    pub fn object(items: &[JotItem]) -> Map<String, Value> {
        let mut map = Map::new();
        for item in items {
            if let JotItem::Var { key, value: v } = item {
                map.insert(key.clone(), value(v));
            }
        }
        map
    }

    /// Add `extra` keys that are not logged already; objects and arrays are
    /// left out, like the C module does.
    pub fn add_extra(
        map: &mut Map<String, Value>,
        extra: impl IntoIterator<Item = (String, Value)>,
    ) {
        for (k, v) in extra {
            if !matches!(v, Value::Object(_) | Value::Array(_)) {
                map.entry(k).or_insert(v);
            }
        }
    }

    /// The text of resolved items (a key format, an extra value): variables as
    /// their plain value, literal text as is.
    pub fn text(items: &[JotItem]) -> String {
        let mut out = String::new();
        for item in items {
            match item {
                JotItem::Text(t) => out.push_str(&lossy_bytes(t)),
                JotItem::Var { value: v, .. } => match v {
                    JotValue::Str(b) => out.push_str(&lossy_bytes(b)),
                    JotValue::Num(n) => match number(*n) {
                        Value::Number(num) => out.push_str(&num.to_string()),
                        _ => out.push('-'),
                    },
                    JotValue::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
                },
            }
        }
        out
    }

    /// Mark session start/end events as the spec describes: `"connecting":true`
    /// / `"disconnecting":true` as the first key (the core's LogFormat parser in
    /// 1.3.8 has no variable for them, so the C module never writes them).
    pub fn mark_session_event(map: &mut Map<String, Value>, connect: bool, disconnect: bool) {
        if connect && !map.contains_key("connecting") {
            map.shift_insert(0, "connecting".into(), Value::Bool(true));
        }
        if disconnect && !map.contains_key("disconnecting") {
            map.shift_insert(0, "disconnecting".into(), Value::Bool(true));
        }
    }

    /// The map as serde_json writes it, with the hex digits of `\u00XX`
    /// escapes in upper case, as the core's encoder writes them.
    pub fn to_string(map: &Map<String, Value>) -> String {
        c_hex_case(&serde_json::to_string(map).unwrap_or_else(|_| "{}".to_string()))
    }

    /// JSON text with the hex digits of its `\uXXXX` escapes in upper case
    /// (an escaped backslash followed by `u` is left alone).
    pub fn c_hex_case(json: &str) -> String {
        let mut out = String::with_capacity(json.len());
        let mut chars = json.chars();
        while let Some(c) = chars.next() {
            out.push(c);
            if c != '\\' {
                continue;
            }
            match chars.next() {
                Some('u') => {
                    out.push('u');
                    for h in chars.by_ref().take(4) {
                        out.push(h.to_ascii_uppercase());
                    }
                }
                Some(other) => out.push(other),
                None => {}
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::reference::*;
    use super::*;

    fn var(k: &str, v: JotValue) -> JotItem {
        JotItem::Var {
            key: k.to_string(),
            value: v,
        }
    }

    #[test]
    fn order_types_and_text_ignored() {
        let items = vec![
            var("remote_ip", JotValue::Str(b"127.0.0.1".to_vec())),
            JotItem::Text(b" - ".to_vec()),
            var("bytes_sent", JotValue::Num(432.0)),
            var("transfer_secs", JotValue::Num(4.211)),
            var("connecting", JotValue::Bool(true)),
            var("ENV:HOME", JotValue::Str(b"/root".to_vec())),
            var("NOTE:x", JotValue::Str(b"y".to_vec())),
        ];
        assert_eq!(
            to_string(&object(&items)),
            r#"{"remote_ip":"127.0.0.1","bytes_sent":432,"transfer_secs":4.211,"connecting":true,"ENV:HOME":"/root","NOTE:x":"y"}"#
        );
    }

    #[test]
    fn escaping_is_valid_json() {
        let raw = b"a\"b\\c\nd\te\x01f\x1fg/h".to_vec();
        let s = to_string(&object(&[var("file", JotValue::Str(raw))]));
        assert_eq!(s, r#"{"file":"a\"b\\c\nd\te\u0001f\u001Fg/h"}"#);
        let back: Value = serde_json::from_str(&s).unwrap();
        assert_eq!(back["file"], "a\"b\\c\nd\te\u{1}f\u{1f}g/h");
    }

    /// Every byte alone, escaped as the core's encoder (ccan-json's
    /// emit_string) escapes it: the short escapes, `\u00XX` in upper case
    /// below U+001F, the rest as is; U+001F, which the core writes raw (not
    /// valid JSON), as `\u001F`; an invalid byte as U+FFFD.
    #[test]
    fn escapes_as_the_core() {
        for b in 0..=255u8 {
            let want = match b {
                b'"' => "\\\"".to_string(),
                b'\\' => "\\\\".to_string(),
                0x08 => "\\b".into(),
                0x0c => "\\f".into(),
                0x0a => "\\n".into(),
                0x0d => "\\r".into(),
                0x09 => "\\t".into(),
                0..=0x1f => format!("\\u{b:04X}"),
                0x20..=0x7f => char::from(b).to_string(),
                _ => "\u{FFFD}".into(),
            };
            let mut out = Vec::new();
            write_string(&mut out, &[b]);
            assert_eq!(
                String::from_utf8(out).unwrap(),
                format!("\"{want}\""),
                "{b:#04x}"
            );
        }
        assert_eq!(
            c_hex_case(r#""\u001b\\u00ab\\\u00ff""#),
            r#""\u001B\\u00ab\\\u00FF""#
        );
    }

    /// A key that comes twice keeps its first value, as in the C module;
    /// nested objects and strings with braces do not confuse the split.
    #[test]
    fn extra_repeated_key_keeps_the_first_value() {
        let m = parse_extra(
            r#" { "a" : 1 , "b":{"a":[2,{"c":"}"}]},"s":"x\"}{,","a":3,"b":null, "\u0061":4 } "#,
        )
        .unwrap();
        assert_eq!(
            serde_json::to_string(&m).unwrap(),
            r#"{"a":1,"b":{"a":[2,{"c":"}"}]},"s":"x\"}{,"}"#
        );
        assert_eq!(
            top_level_members(r#"{"k":[1,2],"t":true,"n":-1.5e+3}"#),
            Some(vec![
                ("k".into(), "[1,2]"),
                ("t".into(), "true"),
                ("n".into(), "-1.5e+3")
            ])
        );
    }

    /// Extra numbers: the digits as given, out of range as null (the
    /// exponent as serde_json writes it).
    #[test]
    fn extra_numbers_as_given() {
        let m = parse_extra(
            r#"{"a":1.0,"b":1e3,"c":12345678901234567,"d":1e400,"e":-1e400,"f":-0,"g":1E-2,"h":0.1}"#,
        )
        .unwrap();
        let written: Vec<String> = m
            .values()
            .map(|v| String::from_utf8(to_json(v)).unwrap())
            .collect();
        assert_eq!(
            written,
            [
                "1.0",
                "1e+3",
                "12345678901234567",
                "null",
                "null",
                "-0",
                "1e-2",
                "0.1"
            ]
        );
        assert_eq!(
            to_json(&Value::String("\u{1b}/\u{7f}".into())),
            b"\"\\u001B/\x7f\""
        );
    }

    #[test]
    fn invalid_utf8_one_replacement_per_byte() {
        assert_eq!(lossy_bytes(b"ok\xff\xfe.txt"), "ok\u{FFFD}\u{FFFD}.txt");
        assert_eq!(lossy_bytes("é".as_bytes()), "é");
        assert_eq!(lossy_bytes(b"x\xc3"), "x\u{FFFD}");
        let s = to_string(&object(&[var("file", JotValue::Str(b"\x80a".to_vec()))]));
        assert!(serde_json::from_str::<Value>(&s).is_ok());
        assert_eq!(s, "{\"file\":\"\u{FFFD}a\"}");
    }

    #[test]
    fn numbers() {
        assert_eq!(number(0.0).to_string(), "0");
        assert_eq!(number(-3.0).to_string(), "-3");
        assert_eq!(number(1e20).to_string(), "1e+20");
        assert_eq!(number(0.5).to_string(), "0.5");
        assert_eq!(number(f64::NAN), Value::Null);
    }

    #[test]
    fn extras_do_not_override() {
        let mut m = object(&[var("user", JotValue::Str(b"alice".to_vec()))]);
        let extra = parse_extra(r#"{"user":"mallory","site":"eu","n":1}"#).unwrap();
        add_extra(&mut m, extra);
        assert_eq!(to_string(&m), r#"{"user":"alice","site":"eu","n":1}"#);
    }

    /// As Debian's C module (checked side by side in tests/redis.rs):
    /// objects and arrays are left out, null is kept.
    #[test]
    fn extras_leave_out_objects_and_arrays() {
        let mut m = object(&[var("command", JotValue::Str(b"PWD".to_vec()))]);
        let extra = parse_extra(r#"{"a":"x","b":{},"c":[1,3,5],"d":null}"#).unwrap();
        add_extra(&mut m, extra);
        assert_eq!(to_string(&m), r#"{"command":"PWD","a":"x","d":null}"#);
        // Only the scalar values are added, in order.
        let mut m = Map::new();
        add_extra(
            &mut m,
            parse_extra(r#"{"b":{"k":1},"t":true,"n":1.5}"#).unwrap(),
        );
        assert_eq!(to_string(&m), r#"{"t":true,"n":1.5}"#);
    }

    #[test]
    fn session_event_marks_come_first() {
        let mut m = object(&[var("user", JotValue::Str(b"a".to_vec()))]);
        mark_session_event(&mut m, true, false);
        assert_eq!(to_string(&m), r#"{"connecting":true,"user":"a"}"#);
        let mut m = object(&[var("user", JotValue::Str(b"a".to_vec()))]);
        mark_session_event(&mut m, false, true);
        assert_eq!(to_string(&m), r#"{"disconnecting":true,"user":"a"}"#);
    }

    #[test]
    fn extra_must_be_an_object() {
        assert!(parse_extra("[1]").is_err());
        assert!(parse_extra("{bad").is_err());
        assert!(parse_extra("{}").is_ok());
    }

    #[test]
    fn duplicate_key_keeps_first_position_last_value() {
        let items = vec![
            var("user", JotValue::Str(b"a".to_vec())),
            var("command", JotValue::Str(b"RETR".to_vec())),
            var("user", JotValue::Str(b"b".to_vec())),
        ];
        assert_eq!(
            to_string(&object(&items)),
            r#"{"user":"b","command":"RETR"}"#
        );
    }

    #[test]
    fn text_of_key_format() {
        let items = vec![
            var("user", JotValue::Str(b"alice".to_vec())),
            JotItem::Text(b":".to_vec()),
            var("command", JotValue::Str(b"STOR".to_vec())),
            JotItem::Text(b":".to_vec()),
            var("pid", JotValue::Num(42.0)),
        ];
        assert_eq!(text(&items), "alice:STOR:42");
    }
}

/// Property tests (see docs/fuzzing.md): the payload is always valid JSON
/// that parses back to the same object, whatever the bytes and numbers.
#[cfg(test)]
mod proptests {
    use super::reference::*;
    use super::*;
    use crate::proptest_support::{NASTY, config, made_of, text_or};
    use proptest::prelude::*;

    /// Bytes: anything, or UTF-8 with invalid bytes spliced in.
    fn bytes() -> impl Strategy<Value = Vec<u8>> {
        prop_oneof![
            prop::collection::vec(any::<u8>(), 0..40),
            prop::collection::vec(
                prop_oneof![
                    made_of(NASTY, 3).prop_map(String::into_bytes),
                    prop::sample::select(vec![
                        vec![0x80],
                        vec![0xff],
                        vec![0xc3],
                        vec![0xe2, 0x82],
                        vec![0xf0, 0x9f, 0x98],
                        vec![0xed, 0xa0, 0x80],
                        vec![0xc0, 0xaf],
                        vec![0xf4, 0x90, 0x80, 0x80],
                    ]),
                ],
                0..8
            )
            .prop_map(|v| v.concat()),
        ]
    }

    fn jot_value() -> impl Strategy<Value = JotValue> {
        prop_oneof![
            bytes().prop_map(JotValue::Str),
            any::<f64>().prop_map(JotValue::Num),
            any::<i64>().prop_map(|n| JotValue::Num(n as f64)),
            (0u32..1_000_000, 0u32..1000)
                .prop_map(|(a, b)| JotValue::Num(f64::from(a) + f64::from(b) / 1000.0)),
            any::<bool>().prop_map(JotValue::Bool),
        ]
    }

    /// Keys: few distinct ones (so keys repeat), or anything.
    fn key() -> impl Strategy<Value = String> {
        prop_oneof![
            prop::sample::select(vec![
                "user",
                "command",
                "connecting",
                "disconnecting",
                "ENV:X",
                ""
            ])
            .prop_map(String::from),
            text_or(NASTY, 4),
        ]
    }

    fn items() -> impl Strategy<Value = Vec<JotItem>> {
        prop::collection::vec(
            prop_oneof![
                3 => (key(), jot_value()).prop_map(|(key, value)| JotItem::Var { key, value }),
                1 => bytes().prop_map(JotItem::Text),
            ],
            0..12,
        )
    }

    fn json_value() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(Value::from),
            any::<u64>().prop_map(Value::from),
            any::<f64>().prop_map(number),
            text_or(NASTY, 6).prop_map(Value::String),
        ];
        leaf.prop_recursive(3, 24, 4, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
                prop::collection::vec((key(), inner), 0..4)
                    .prop_map(|kv| Value::Object(kv.into_iter().collect())),
            ]
        })
    }

    /// Equal, floats up to the last bits (serde_json's default float
    /// parser, without its `float_roundtrip` feature, may be an ULP off;
    /// the text itself is exact, see `numbers_keep_their_value`).
    fn same(a: &Value, b: &Value) -> bool {
        match (a, b) {
            (Value::Number(x), Value::Number(y)) if x.is_f64() || y.is_f64() => {
                let (x, y) = (
                    x.as_f64().unwrap_or(f64::NAN),
                    y.as_f64().unwrap_or(f64::NAN),
                );
                x == y || (x.signum() == y.signum() && x.to_bits().abs_diff(y.to_bits()) <= 2)
            }
            (Value::Array(x), Value::Array(y)) => {
                x.len() == y.len() && x.iter().zip(y).all(|(a, b)| same(a, b))
            }
            (Value::Object(x), Value::Object(y)) => same_map(x, y),
            _ => a == b,
        }
    }

    /// Same keys in the same order, same values.
    fn same_map(x: &Map<String, Value>, y: &Map<String, Value>) -> bool {
        x.len() == y.len()
            && x.iter()
                .zip(y)
                .all(|((k1, v1), (k2, v2))| k1 == k2 && same(v1, v2))
    }

    /// The text is valid JSON, with no raw control character, and parses
    /// back to `map`.
    fn check_json(map: &Map<String, Value>) -> Result<(), TestCaseError> {
        let s = to_string(map);
        prop_assert!(
            !s.chars().any(|c| u32::from(c) < 0x20),
            "raw control character in {s:?}"
        );
        let back: Map<String, Value> =
            serde_json::from_str(&s).map_err(|e| TestCaseError::fail(format!("{e}: {s:?}")))?;
        prop_assert!(
            same_map(&back, map),
            "{s:?} parsed as {back:?}, not {map:?}"
        );
        Ok(())
    }

    proptest! {
        #![proptest_config(config(1024))]

        #[test]
        fn lossy_bytes_replaces_each_invalid_byte(b in bytes()) {
            let mut want = String::new();
            for chunk in b.utf8_chunks() {
                want.push_str(chunk.valid());
                want.extend(std::iter::repeat_n('\u{FFFD}', chunk.invalid().len()));
            }
            prop_assert_eq!(lossy_bytes(&b), want);
        }

        #[test]
        fn lossy_bytes_is_identity_on_utf8(s in any::<String>()) {
            prop_assert_eq!(lossy_bytes(s.as_bytes()), s);
        }

        #[test]
        fn numbers_keep_their_value(n in any::<f64>()) {
            let v = number(n);
            if !n.is_finite() {
                prop_assert_eq!(v, Value::Null);
            } else {
                if n.fract() == 0.0 && n.abs() < 9_007_199_254_740_992.0 {
                    prop_assert!(v.is_i64(), "{n} as {v}");
                }
                prop_assert_eq!(v.as_f64(), Some(n));
                // The text is exact (a correctly rounding parser gives n back).
                prop_assert_eq!(v.to_string().parse::<f64>(), Ok(n));
                let back: Value = serde_json::from_str(&v.to_string()).unwrap();
                prop_assert!(same(&back, &v), "{v} parsed as {back}");
            }
        }

        /// Variables in order of first appearance, each with its last
        /// value; literal text ignored; the text is valid JSON.
        #[test]
        fn object_is_valid_json_first_position_last_value(items in items()) {
            let map = object(&items);
            let vars: Vec<(&String, &JotValue)> = items
                .iter()
                .filter_map(|i| match i {
                    JotItem::Var { key, value } => Some((key, value)),
                    JotItem::Text(_) => None,
                })
                .collect();
            let mut keys: Vec<&String> = Vec::new();
            for (k, _) in &vars {
                if !keys.contains(k) {
                    keys.push(k);
                }
            }
            prop_assert_eq!(map.keys().collect::<Vec<_>>(), keys);
            for (k, v) in &map {
                let last = vars.iter().rev().find(|(key, _)| *key == k).map(|(_, v)| value(v));
                prop_assert_eq!(Some(v), last.as_ref());
            }
            check_json(&map)?;
        }

        #[test]
        fn extras_add_but_never_override(items in items(), extra in prop::collection::vec((key(), json_value()), 0..6)) {
            let before = object(&items);
            let mut map = before.clone();
            add_extra(&mut map, extra.clone());
            prop_assert_eq!(&map.iter().take(before.len()).collect::<Vec<_>>(), &before.iter().collect::<Vec<_>>());
            let kept = |v: &Value| !matches!(v, Value::Object(_) | Value::Array(_));
            for (k, v) in &map {
                if !before.contains_key(k) {
                    let first = extra.iter().find(|(key, v)| key == k && kept(v)).map(|(_, v)| v);
                    prop_assert_eq!(Some(v), first);
                }
            }
            prop_assert!(extra.iter().all(|(k, v)| !kept(v) || map.contains_key(k)));
            check_json(&map)?;
        }

        #[test]
        fn session_marks_come_first_and_once(items in items(), connect in any::<bool>(), disconnect in any::<bool>()) {
            let before = object(&items);
            let mut map = before.clone();
            mark_session_event(&mut map, connect, disconnect);
            let mut added = Vec::new();
            if disconnect && !before.contains_key("disconnecting") {
                added.push("disconnecting");
            }
            if connect && !before.contains_key("connecting") {
                added.push("connecting");
            }
            let keys: Vec<&str> = map.keys().map(String::as_str).collect();
            prop_assert_eq!(&keys[..added.len()], &added[..]);
            prop_assert_eq!(
                &keys[added.len()..],
                &before.keys().map(String::as_str).collect::<Vec<_>>()[..]
            );
            for k in added {
                prop_assert_eq!(&map[k], &Value::Bool(true));
            }
            for (k, v) in &before {
                prop_assert_eq!(&map[k], v);
            }
            check_json(&map)?;
        }

        #[test]
        fn text_concatenates_values(items in items()) {
            let t = text(&items);
            let mut want = String::new();
            for i in &items {
                match i {
                    JotItem::Text(b) | JotItem::Var { value: JotValue::Str(b), .. } => want.push_str(&lossy_bytes(b)),
                    JotItem::Var { value: JotValue::Num(n), .. } => {
                        want.push_str(&if n.is_finite() { number(*n).to_string() } else { "-".into() })
                    }
                    JotItem::Var { value: JotValue::Bool(b), .. } => want.push_str(&b.to_string()),
                }
            }
            prop_assert_eq!(t, want);
        }

        /// The writer used per event writes what the reference writes,
        /// byte for byte: variables, session marks and extras.
        #[test]
        fn writer_matches_reference(
            items in items(),
            connect in any::<bool>(),
            disconnect in any::<bool>(),
            extra in prop::collection::vec((key(), json_value()), 0..6),
        ) {
            let mut map = object(&items);
            mark_session_event(&mut map, connect, disconnect);
            add_extra(&mut map, extra.clone());
            let want = to_string(&map);

            let mut o = Object::default();
            // Twice: a reused object holds only the new event.
            for _ in 0..2 {
                o.clear();
                for i in &items {
                    if let JotItem::Var { key, value } = i {
                        o.var(key.as_bytes(), value.as_ref());
                    }
                }
                if connect {
                    o.mark_first(br#""connecting""#);
                }
                if disconnect {
                    o.mark_first(br#""disconnecting""#);
                }
                for (k, v) in &extra {
                    if !matches!(v, Value::Object(_) | Value::Array(_)) {
                        o.add_if_absent(&key_json(k), &to_json(v));
                    }
                }
                let mut out = b"junk".to_vec();
                o.write(&mut out);
                prop_assert_eq!(String::from_utf8(out[4..].to_vec()).unwrap(), want.clone());
            }
        }

        #[test]
        fn text_writer_matches_reference(items in items()) {
            let mut t = Text::default();
            for i in &items {
                match i {
                    JotItem::Var { key, value } => {
                        crate::host::jot::JotSink::var(&mut t, key.as_bytes(), value.as_ref())
                    }
                    JotItem::Text(b) => crate::host::jot::JotSink::text(&mut t, b),
                }
            }
            prop_assert_eq!(String::from_utf8(t.0).unwrap(), text(&items));
        }

        #[test]
        /// serde_json escapes what the core's encoder escapes, but for the
        /// case of the hex digits (and U+001F, which the core writes raw:
        /// see `escapes_as_the_core`).
        fn strings_escaped_as_serde_json_does_but_hex_case(b in bytes()) {
            let mut out = Vec::new();
            write_string(&mut out, &b);
            let want = c_hex_case(&serde_json::to_string(&Value::String(lossy_bytes(&b))).unwrap());
            prop_assert_eq!(String::from_utf8(out).unwrap(), want);
            // Every byte value, alone and inside text.
            for c in 0..=255u8 {
                let s = [b'a', c, b'b'];
                let mut out = Vec::new();
                write_string(&mut out, &s);
                let want = c_hex_case(&serde_json::to_string(&Value::String(lossy_bytes(&s))).unwrap());
                prop_assert_eq!(String::from_utf8(out).unwrap(), want);
            }
        }

        #[test]
        fn numbers_written_as_reference(n in prop_oneof![any::<f64>(), any::<i64>().prop_map(|i| i as f64), (-1e6f64..1e6)]) {
            let mut out = Vec::new();
            write_number(&mut out, n);
            prop_assert_eq!(String::from_utf8(out).unwrap(), number(n).to_string());
        }

        #[test]
        fn parse_extra_never_panics(s in text_or(&["{", "}", "[", "]", "\"", ":", ",", "1", "-", "e", "null", "true", "\\", "\\u", "d83d", " ", "é", "%u", "e400", "E999"], 12)) {
            match parse_extra(&s) {
                Ok(m) => {
                    // As serde_json parses it, numbers out of range as null
                    // (and, for a repeated key, the first value: see
                    // `extra_first_value_wins`).
                    let Ok(Value::Object(mut o)) = serde_json::from_str::<Value>(&s) else {
                        return Err(TestCaseError::fail(format!("accepted {s:?}")));
                    };
                    for v in o.values_mut() {
                        if v.as_f64().is_some_and(|f| !f.is_finite()) {
                            *v = Value::Null;
                        }
                    }
                    prop_assert_eq!(m.keys().collect::<Vec<_>>(), o.keys().collect::<Vec<_>>());
                    if top_level_members(&s).is_some_and(|v| v.len() == o.len()) {
                        prop_assert_eq!(m, o);
                    }
                }
                Err(e) => {
                    prop_assert!(e.contains(&s), "{e}");
                    prop_assert!(!matches!(serde_json::from_str::<Value>(&s), Ok(Value::Object(_))));
                }
            }
        }

        /// A key that comes again keeps its first position and first
        /// value (as in the C module).
        #[test]
        fn extra_first_value_wins(kv in prop::collection::vec((key(), json_value()), 0..8), pretty in any::<bool>()) {
            let sep = if pretty { " ,\n " } else { "," };
            let body: Vec<String> = kv
                .iter()
                .map(|(k, v)| format!("{} : {}", serde_json::to_string(k).unwrap(), serde_json::to_string(v).unwrap()))
                .collect();
            let text = format!("{{{}}}", body.join(sep));
            let mut want = Map::new();
            for (k, v) in &kv {
                want.entry(k.clone()).or_insert_with(|| v.clone());
            }
            let got = parse_extra(&text);
            prop_assert!(got.as_ref().is_ok_and(|g| same_map(g, &want)), "{text}: {got:?}");
        }

        #[test]
        fn parse_extra_round_trip(kv in prop::collection::vec((key(), json_value()), 0..6)) {
            let map: Map<String, Value> = kv.into_iter().collect();
            let back = parse_extra(&to_string(&map));
            prop_assert!(back.as_ref().is_ok_and(|b| same_map(b, &map)), "{back:?}");
            // Written with the spaces of a config line, too.
            let pretty = serde_json::to_string_pretty(&map).unwrap();
            prop_assert!(parse_extra(&pretty).is_ok_and(|b| same_map(&b, &map)));
        }
    }
}
