//! Building the JSON payload of one log event (pure code).
//!
//! * Keys and types come from the core's LogFormat table (see
//!   `host::jot`); literal text of the LogFormat is ignored.
//! * Numbers that are whole (and exactly representable) are written as
//!   integers (`432`), others as the shortest round-tripping decimal
//!   (`4.211`), like the C module's `%.16g` for ordinary values.
//! * Strings need not be UTF-8 (file names, arguments): every byte that is
//!   not part of a valid UTF-8 sequence becomes U+FFFD, one per byte, as the
//!   core's JSON encoder does.  Control characters are escaped, so the
//!   payload is always valid JSON.
//! * A key that appears twice keeps its first position and its last value
//!   (the C module would emit a duplicate key).
//! * `RedisLogFormatExtra` keys are added after the logged ones and never
//!   override them.

use crate::host::jot::{JotItem, JotValue};
use serde_json::{Map, Number, Value};

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

/// Add `extra` keys that are not logged already.
pub fn add_extra(map: &mut Map<String, Value>, extra: impl IntoIterator<Item = (String, Value)>) {
    for (k, v) in extra {
        map.entry(k).or_insert(v);
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

/// Parse a `RedisLogFormatExtra` argument: it must be a JSON object.
pub fn parse_extra(text: &str) -> Result<Map<String, Value>, String> {
    match serde_json::from_str::<Value>(text) {
        Ok(Value::Object(m)) => Ok(m),
        _ => Err(format!(
            "error parsing '{text}' as JSON object: invalid JSON"
        )),
    }
}

pub fn to_string(map: &Map<String, Value>) -> String {
    serde_json::to_string(map).unwrap_or_else(|_| "{}".to_string())
}

#[cfg(test)]
mod tests {
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
        assert_eq!(s, r#"{"file":"a\"b\\c\nd\te\u0001f\u001fg/h"}"#);
        let back: Value = serde_json::from_str(&s).unwrap();
        assert_eq!(back["file"], "a\"b\\c\nd\te\u{1}f\u{1f}g/h");
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
