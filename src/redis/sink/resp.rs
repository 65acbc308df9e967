//! RESP: the commands the sink sends, the replies it reads (one small,
//! size-capped reader for every peer: Redis and the Sentinels), and what
//! Redis's error replies mean.

use crate::redis::server::ServerCfg;
use std::ops::Range;

/// Append `$len\r\nbytes\r\n`; returns where `bytes` went.
fn write_bulk(out: &mut Vec<u8>, bytes: &[u8]) -> Range<usize> {
    out.push(b'$');
    out.extend_from_slice(itoa::Buffer::new().format(bytes.len()).as_bytes());
    out.extend_from_slice(b"\r\n");
    let start = out.len();
    out.extend_from_slice(bytes);
    out.extend_from_slice(b"\r\n");
    start..start + bytes.len()
}

/// Append a command of `args` (`*n` then each as a bulk string).
pub(super) fn write_command(out: &mut Vec<u8>, args: &[&[u8]]) {
    out.push(b'*');
    out.extend_from_slice(itoa::Buffer::new().format(args.len()).as_bytes());
    out.extend_from_slice(b"\r\n");
    for a in args {
        write_bulk(out, a);
    }
}

/// Append `RPUSH key payload`; returns where the key and the payload went.
pub(super) fn write_rpush(
    out: &mut Vec<u8>,
    key: &[u8],
    payload: &[u8],
) -> (Range<usize>, Range<usize>) {
    out.extend_from_slice(b"*3\r\n$5\r\nRPUSH\r\n");
    let k = write_bulk(out, key);
    let p = write_bulk(out, payload);
    (k, p)
}

/// `PING`, sent first on a new connection without AUTH or SELECT: its
/// reply is the first one, so an error sent when the connection opens
/// (`-ERR max number of clients reached`, `-DENIED`) is never taken for
/// the reply to an event.
pub(super) const PING: &[u8] = b"*1\r\n$4\r\nPING\r\n";

/// The names of the commands of [`setup_pipeline`], in order (for the
/// trace; never their arguments).
pub(super) type SetupNames = Vec<&'static str>;

/// AUTH and SELECT as `cfg` asks for them (either may be absent), as one
/// pipeline, and the names of the commands in it.
pub(super) fn setup_pipeline(cfg: &ServerCfg) -> (Vec<u8>, SetupNames) {
    let mut out = Vec::new();
    let mut names = Vec::new();
    match (&cfg.username, &cfg.password) {
        (Some(u), Some(p)) => {
            write_command(&mut out, &[b"AUTH", u.as_bytes(), p.as_bytes()]);
            names.push("AUTH");
        }
        (Some(p), None) | (None, Some(p)) => {
            write_command(&mut out, &[b"AUTH", p.as_bytes()]);
            names.push("AUTH");
        }
        (None, None) => {}
    }
    if let Some(db) = cfg.db {
        let db = db.to_string();
        write_command(&mut out, &[b"SELECT", db.as_bytes()]);
        names.push("SELECT");
    }
    (out, names)
}

/// An error reply (`-CODE text`), as far as the sink keeps it: the code,
/// and the whole text made printable and cut (see [`printable`]).
#[derive(Debug, PartialEq, Eq, Clone)]
pub(super) struct ErrorReply {
    pub(super) code: String,
    pub(super) text: String,
}

/// One reply.  An array is only its header (`*n`): its `n` elements are
/// the next replies read.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Reply {
    /// `:N` (RPUSH's reply: the length of the list).
    Int(i64),
    /// `+text` (AUTH's and SELECT's `+OK`, PING's `+PONG`), printable and
    /// cut.
    Status(String),
    Error(ErrorReply),
    /// `$n` and its bytes; `None` for `$-1`.
    Bulk(Option<Vec<u8>>),
    /// `*n`; `None` for `*-1`.
    Array(Option<usize>),
}

impl Reply {
    /// What kind of reply this is (for messages: never its contents).
    pub(super) fn kind(&self) -> &'static str {
        match self {
            Reply::Int(_) => "INTEGER",
            Reply::Status(_) => "STATUS",
            Reply::Error(_) => "ERROR",
            Reply::Bulk(Some(_)) => "STRING",
            Reply::Bulk(None) | Reply::Array(None) => "NIL",
            Reply::Array(Some(_)) => "ARRAY",
        }
    }
}

/// A bulk string or a line longer than this is a broken or hostile
/// server, not Redis: the reader never buffers more than this (plus a
/// line's header) from a peer.
pub(super) const REPLY_MAX: usize = 1 << 20;

/// The reader's buffer never grows beyond this.
pub(super) const BUF_MAX: usize = REPLY_MAX + 64;

/// More elements than this in one array is not a reply we asked for.
pub(super) const ELEMENTS_MAX: usize = 1 << 16;

/// Text from a peer (error replies, status lines, names) as we write it to
/// a log: at most [`TEXT_MAX`] bytes of it, control characters (NUL, CR,
/// ESC, ...) and bytes that are not UTF-8 written as `\xNN`, `...` where it
/// was cut.
pub(super) fn printable(bytes: &[u8]) -> String {
    let mut out = String::new();
    // Append `piece` if it still fits; else mark the cut.
    let fits = |out: &mut String, piece: &str| {
        if out.len() + piece.len() > TEXT_MAX {
            out.push_str("...");
            return false;
        }
        out.push_str(piece);
        true
    };
    let mut hex = String::new();
    for chunk in bytes.utf8_chunks() {
        for c in chunk.valid().chars() {
            let mut b = [0u8; 4];
            let piece = if c.is_control() {
                hex.clear();
                for &byte in c.encode_utf8(&mut b).as_bytes() {
                    push_hex(&mut hex, byte);
                }
                hex.as_str()
            } else {
                &*c.encode_utf8(&mut b)
            };
            if !fits(&mut out, piece) {
                return out;
            }
        }
        for &byte in chunk.invalid() {
            hex.clear();
            push_hex(&mut hex, byte);
            if !fits(&mut out, &hex) {
                return out;
            }
        }
    }
    out
}

fn push_hex(out: &mut String, b: u8) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    out.push_str("\\x");
    out.push(char::from(HEX[usize::from(b >> 4)]));
    out.push(char::from(HEX[usize::from(b & 15)]));
}

/// How much of a peer's text goes into a log line.
pub(super) const TEXT_MAX: usize = 200;

/// The line at the start of `buf` (without its CRLF) and where the next
/// one starts, if it is complete.
fn line(buf: &[u8]) -> Option<(&[u8], usize)> {
    // A long line arrives in many reads, and is looked at after each:
    // `contains` (memchr) first keeps that cheap.
    if !buf.contains(&b'\n') {
        return None;
    }
    let nl = buf.iter().position(|&b| b == b'\n')?;
    let text = &buf[..nl];
    Some((text.strip_suffix(b"\r").unwrap_or(text), nl + 1))
}

fn number(text: &[u8]) -> Result<i64, String> {
    std::str::from_utf8(text)
        .ok()
        .and_then(|t| t.parse().ok())
        .ok_or_else(|| "malformed reply from Redis".to_string())
}

/// The first reply in `buf` and its length, or `None` if it is not all
/// there yet (an array: its header only).  RPUSH's `:N` (nearly every
/// reply) takes one line and no allocation.  A bulk string longer than
/// [`REPLY_MAX`] or an array of more than [`ELEMENTS_MAX`] elements is an
/// error at once, before any of it is read.
pub(super) fn parse_reply(buf: &[u8]) -> Result<Option<(Reply, usize)>, String> {
    let Some((text, used)) = line(buf) else {
        if buf.len() > REPLY_MAX {
            return Err("reply from Redis too long".into());
        }
        return Ok(None);
    };
    let reply = match text.first() {
        Some(b':') => Reply::Int(number(&text[1..])?),
        Some(b'+') => Reply::Status(printable(&text[1..])),
        Some(b'-') => {
            let text = &text[1..];
            let code = text.split(|&b| b == b' ').next().unwrap_or_default();
            Reply::Error(ErrorReply {
                code: printable(code),
                text: printable(text),
            })
        }
        Some(b'$') => match number(&text[1..])? {
            n if n < 0 => Reply::Bulk(None),
            n if n as u64 > REPLY_MAX as u64 => {
                return Err(format!("reply from Redis too long ({n} bytes)"));
            }
            n => {
                let n = n as usize;
                let end = used + n + 2;
                if buf.len() < end {
                    return Ok(None);
                }
                if &buf[used + n..end] != b"\r\n" {
                    return Err("malformed reply from Redis".into());
                }
                return Ok(Some((Reply::Bulk(Some(buf[used..used + n].to_vec())), end)));
            }
        },
        Some(b'*') => match number(&text[1..])? {
            n if n < 0 => Reply::Array(None),
            n if n as u64 > ELEMENTS_MAX as u64 => {
                return Err(format!("reply from Redis too long ({n} elements)"));
            }
            n => Reply::Array(Some(n as usize)),
        },
        _ => return Err("malformed reply from Redis".into()),
    };
    Ok(Some((reply, used)))
}

/// Whether an error reply to RPUSH is about that event — it can never be
/// stored, so it is dropped (with a RedisLog line) rather than block the
/// events behind it: the key holds another type (`WRONGTYPE`), or the ACL
/// user may not write it (`NOPERM`).  Any other error (`-LOADING`,
/// `-READONLY`, `-MASTERDOWN`, `-BUSY`, `-NOAUTH`, `-OOM`, `-TRYAGAIN`,
/// `-CLUSTERDOWN`, `-MOVED`, `-ERR max number of clients reached`,
/// `-ERR unknown command`, an unknown code...) is a failure of the server
/// or the connection, not of the event: the event is kept and sent again
/// after the back-off.
pub(super) fn drops_event(code: &str) -> bool {
    matches!(code, "WRONGTYPE" | "NOPERM")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(reply: &[u8]) -> Reply {
        match parse_reply(reply) {
            Ok(Some((r, n))) if n == reply.len() => r,
            other => panic!("{}: {other:?}", String::from_utf8_lossy(reply)),
        }
    }

    #[test]
    fn errors_that_drop_the_event_and_errors_that_keep_it() {
        let code = |reply: &[u8]| match one(reply) {
            Reply::Error(e) => e.code,
            other => panic!("{other:?}"),
        };
        // What Redis and Valkey send when the server, not the event, is
        // the problem: the event is kept.
        for reply in [
            &b"-LOADING Redis is loading the dataset in memory\r\n"[..],
            b"-READONLY You can't write against a read only replica.\r\n",
            b"-MASTERDOWN Link with MASTER is down and replica-serve-stale-data is set to 'no'.\r\n",
            b"-NOAUTH Authentication required.\r\n",
            b"-BUSY Redis is busy running a script. You can only call SCRIPT KILL or SHUTDOWN NOSCRIPT.\r\n",
            b"-OOM command not allowed when used memory > 'maxmemory'.\r\n",
            b"-ERR max number of clients reached\r\n",
            b"-DENIED Redis is running in protected mode because protected mode is enabled\r\n",
            b"-MISCONF Redis is configured to save RDB snapshots, but it's currently unable to persist to disk.\r\n",
            b"-TRYAGAIN Multiple keys request during rehashing of slot\r\n",
            b"-CLUSTERDOWN The cluster is down\r\n",
            b"-MOVED 3999 127.0.0.1:6381\r\n",
            b"-ERR unknown command 'RPUSH', with args beginning with: \r\n",
            b"-SOMETHINGNEW\r\n",
        ] {
            assert!(
                !drops_event(&code(reply)),
                "{}",
                String::from_utf8_lossy(reply)
            );
        }
        for reply in [
            &b"-WRONGTYPE Operation against a key holding the wrong kind of value\r\n"[..],
            b"-NOPERM No permissions to access a key\r\n",
        ] {
            assert!(
                drops_event(&code(reply)),
                "{}",
                String::from_utf8_lossy(reply)
            );
        }
    }

    #[test]
    fn replies_of_each_kind() {
        assert_eq!(one(b":1\r\n"), Reply::Int(1));
        assert_eq!(one(b":-7\r\n"), Reply::Int(-7));
        assert_eq!(one(b"+OK\r\n"), Reply::Status("OK".into()));
        assert_eq!(
            one(b"-ERR wrong number of arguments\r\n"),
            Reply::Error(ErrorReply {
                code: "ERR".into(),
                text: "ERR wrong number of arguments".into()
            })
        );
        assert_eq!(one(b"$3\r\nabc\r\n"), Reply::Bulk(Some(b"abc".to_vec())));
        assert_eq!(one(b"$-1\r\n"), Reply::Bulk(None));
        assert_eq!(one(b"$0\r\n\r\n"), Reply::Bulk(Some(Vec::new())));
        assert_eq!(one(b"*-1\r\n"), Reply::Array(None));
        assert_eq!(one(b"*2\r\n"), Reply::Array(Some(2)));
        // Cut anywhere: not complete yet.
        for reply in [&b":12\r\n"[..], b"$3\r\nabc\r\n", b"-ERR x\r\n"] {
            for cut in 0..reply.len() {
                assert_eq!(parse_reply(&reply[..cut]), Ok(None), "{cut}");
            }
        }
        // Two replies in a row: the first one only.
        assert_eq!(parse_reply(b":1\r\n:2\r\n"), Ok(Some((Reply::Int(1), 4))));
        for bad in [
            &b"?\r\n"[..],
            b"$x\r\n",
            b"*9999999999999999999999\r\n",
            b":x\r\n",
            b"$3\r\nabcde\r\n",
        ] {
            assert!(parse_reply(bad).is_err(), "{bad:?}");
        }
    }

    /// Found in review (#21): a Sentinel answering `$9999999999` had the
    /// redis crate's parser buffer whatever followed.  Too long is an
    /// error before a byte of it is buffered.
    #[test]
    fn huge_lengths_are_refused_at_once() {
        assert!(parse_reply(b"$9999999999\r\n").is_err());
        assert!(parse_reply(format!("${}\r\n", REPLY_MAX + 1).as_bytes()).is_err());
        assert_eq!(
            parse_reply(format!("${REPLY_MAX}\r\n").as_bytes()),
            Ok(None)
        );
        assert!(parse_reply(b"*99999999\r\n").is_err());
        // A line without its end, longer than any reply.
        let mut long = b"+".to_vec();
        long.resize(REPLY_MAX + 2, b'x');
        assert!(parse_reply(&long).is_err());
    }

    /// Found in review (#21): a `-` line of up to 1 MiB went to RedisLog
    /// raw, NUL, CR and ESC included.
    #[test]
    fn peer_text_is_cut_and_escaped() {
        assert_eq!(printable(b"plain text"), "plain text");
        assert_eq!(
            printable(b"a\0b\rc\x1b[31md\x7f"),
            "a\\x00b\\x0dc\\x1b[31md\\x7f"
        );
        assert_eq!(printable(b"caf\xc3\xa9 \xff"), "caf\u{e9} \\xff");
        let long = printable(&[b'x'; 5000]);
        assert_eq!(long.len(), TEXT_MAX + 3);
        assert!(long.ends_with("..."));
        let esc = printable(&[0x1b; 5000]);
        assert!(esc.len() <= TEXT_MAX + 3 && esc.ends_with("..."), "{esc}");
        // Cut between characters, never inside one.
        for prefix in 0..4 {
            let text = format!("{}{}", "x".repeat(prefix), "é€😀".repeat(100));
            let c = printable(text.as_bytes());
            assert!(c.len() <= TEXT_MAX + 3, "{}", c.len());
            assert!(text.starts_with(c.trim_end_matches("...")));
        }
        let big = [b"-ERR ".as_slice(), &[b'\x1b'; 100_000], b"\r\n"].concat();
        match one(&big) {
            Reply::Error(e) => {
                assert_eq!(e.code, "ERR");
                assert!(e.text.len() <= TEXT_MAX + 3);
                assert!(!e.text.contains('\x1b'));
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn setup_pipeline_and_commands() {
        let mut out = Vec::new();
        write_command(&mut out, &[b"SENTINEL", b"masters"]);
        assert_eq!(out, b"*2\r\n$8\r\nSENTINEL\r\n$7\r\nmasters\r\n");
        let cfg = ServerCfg {
            addr: crate::redis::server::Addr::Unix("/x".into()),
            username: Some("u".into()),
            password: Some("p w".into()),
            db: Some(3),
            tls: Default::default(),
        };
        let (bytes, names) = setup_pipeline(&cfg);
        assert_eq!(names, ["AUTH", "SELECT"]);
        assert_eq!(
            bytes,
            b"*3\r\n$4\r\nAUTH\r\n$1\r\nu\r\n$3\r\np w\r\n*2\r\n$6\r\nSELECT\r\n$1\r\n3\r\n"
        );
    }
}

/// Property tests (see docs/fuzzing.md): whatever a server sends, the
/// reader neither panics nor reads past a reply, and it agrees with the
/// redis crate's parser on what is an error and where a reply ends.
#[cfg(test)]
mod proptests {
    use super::*;
    use crate::proptest_support::config;
    use proptest::prelude::*;

    /// RESP2 replies, well formed.
    fn reply() -> impl Strategy<Value = Vec<u8>> {
        let leaf = prop_oneof![
            any::<i64>().prop_map(|n| format!(":{n}\r\n").into_bytes()),
            "[A-Z]{1,8}( [ -~]{0,20})?".prop_map(|t| format!("-{t}\r\n").into_bytes()),
            "[ -~]{0,10}".prop_map(|t| format!("+{t}\r\n").into_bytes()),
            prop::collection::vec(any::<u8>(), 0..20).prop_map(|b| {
                let mut v = format!("${}\r\n", b.len()).into_bytes();
                v.extend(b);
                v.extend(b"\r\n");
                v
            }),
            Just(b"$-1\r\n".to_vec()),
        ];
        leaf.prop_recursive(3, 16, 4, |inner| {
            prop::collection::vec(inner, 0..4).prop_map(|items| {
                let mut v = format!("*{}\r\n", items.len()).into_bytes();
                for i in items {
                    v.extend(i);
                }
                v
            })
        })
    }

    /// Where the whole value at the start of `buf` ends (an array with its
    /// elements), and whether it is an error.
    fn whole(buf: &[u8]) -> Result<Option<(bool, usize)>, String> {
        let Some((r, mut used)) = parse_reply(buf)? else {
            return Ok(None);
        };
        if let Reply::Array(Some(n)) = r {
            for _ in 0..n {
                match whole(&buf[used..])? {
                    Some((_, u)) => used += u,
                    None => return Ok(None),
                }
            }
        }
        Ok(Some((matches!(r, Reply::Error(_)), used)))
    }

    proptest! {
        #![proptest_config(config(1024))]

        #[test]
        fn any_bytes_never_panic(b in prop::collection::vec(any::<u8>(), 0..64)) {
            if let Ok(Some((_, used))) = parse_reply(&b) {
                prop_assert!(used <= b.len());
            }
            let _ = printable(&b);
        }

        #[test]
        fn well_formed_replies_as_the_redis_crate_reads_them(
            first in reply(),
            next in reply(),
        ) {
            let mut both = first.clone();
            both.extend(&next);
            let is_error = match redis::Parser::new().parse_value(&first[..]) {
                Ok(redis::Value::ServerError(_)) => true,
                Ok(_) => false,
                Err(e) => return Err(TestCaseError::fail(format!("{e}"))),
            };
            prop_assert_eq!(whole(&both), Ok(Some((is_error, first.len()))));
            for cut in 0..first.len() {
                prop_assert_eq!(whole(&first[..cut]), Ok(None));
            }
        }

        #[test]
        fn printable_has_no_control_characters(b in prop::collection::vec(any::<u8>(), 0..400)) {
            let p = printable(&b);
            prop_assert!(p.len() <= TEXT_MAX + 3);
            prop_assert!(!p.chars().any(char::is_control));
        }
    }
}
