//! RESP: the commands the sink sends, the replies it reads, and what
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

/// AUTH and SELECT as `cfg` asks for them (either may be absent), as one
/// pipeline, and the number of commands in it.
pub(super) fn setup_pipeline(cfg: &ServerCfg) -> (Vec<u8>, usize) {
    let mut setup = redis::pipe();
    match (&cfg.username, &cfg.password) {
        (Some(u), Some(p)) => {
            setup.cmd("AUTH").arg(u).arg(p);
        }
        (Some(p), None) | (None, Some(p)) => {
            setup.cmd("AUTH").arg(p);
        }
        (None, None) => {}
    }
    if let Some(db) = cfg.db {
        setup.cmd("SELECT").arg(db);
    }
    (setup.get_packed_pipeline(), setup.cmd_iter().count())
}

/// A reply to RPUSH, AUTH or SELECT, as far as the sink cares.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Reply {
    /// Anything but an error (`:N` for RPUSH, `+OK`).
    Done,
    /// `-CODE details`.
    Error {
        code: String,
        details: Option<String>,
    },
}

/// Replies longer than this are a broken server, not Redis.
pub(super) const REPLY_MAX: usize = 1 << 20;

/// Nesting of the aggregate replies [`parse_reply`] skips.
const DEPTH_MAX: usize = 8;

/// The line at the start of `buf` (without its CRLF) and where the next
/// one starts, if it is complete.
fn line(buf: &[u8]) -> Option<(&[u8], usize)> {
    let nl = buf.iter().position(|&b| b == b'\n')?;
    let text = &buf[..nl];
    Some((text.strip_suffix(b"\r").unwrap_or(text), nl + 1))
}

fn length(text: &[u8]) -> Result<i64, String> {
    std::str::from_utf8(text)
        .ok()
        .and_then(|t| t.parse().ok())
        .ok_or_else(|| "malformed reply from Redis".to_string())
}

/// Where the RESP2 value starting at `buf[pos..]` ends, if it is complete.
fn skip(buf: &[u8], pos: usize, depth: usize) -> Result<Option<usize>, String> {
    if depth > DEPTH_MAX {
        return Err("malformed reply from Redis (nested too deep)".into());
    }
    let Some((text, used)) = line(&buf[pos..]) else {
        return Ok(None);
    };
    let after = pos + used;
    match text.first() {
        Some(b':' | b'+' | b'-') => Ok(Some(after)),
        Some(b'$') => match length(&text[1..])? {
            n if n < 0 => Ok(Some(after)),
            n => {
                let end = after.saturating_add(n as usize).saturating_add(2);
                Ok((end <= buf.len()).then_some(end))
            }
        },
        Some(b'*') => {
            let mut p = after;
            for _ in 0..length(&text[1..])?.max(0) {
                match skip(buf, p, depth + 1)? {
                    Some(e) => p = e,
                    None => return Ok(None),
                }
            }
            Ok(Some(p))
        }
        _ => Err("malformed reply from Redis".into()),
    }
}

/// The first reply in `buf` and its length, or `None` if it is not all
/// there yet.  RPUSH's `:N` (nearly every reply) takes one line.
pub(super) fn parse_reply(buf: &[u8]) -> Result<Option<(Reply, usize)>, String> {
    let Some((text, used)) = line(buf) else {
        return Ok(None);
    };
    match text.first() {
        Some(b':' | b'+') => Ok(Some((Reply::Done, used))),
        Some(b'-') => {
            let text = String::from_utf8_lossy(&text[1..]);
            let (code, details) = match text.split_once(' ') {
                Some((c, d)) => (c.to_string(), Some(d.to_string())),
                None => (text.into_owned(), None),
            };
            Ok(Some((Reply::Error { code, details }, used)))
        }
        _ => Ok(skip(buf, 0, 0)?.map(|end| (Reply::Done, end))),
    }
}

/// Error codes of a Redis that cannot store anything right now (still
/// loading its data after a restart, a replica after a failover, out of
/// memory until its lists are drained, ...): the
/// event is kept and sent again, unlike errors about the event itself
/// (e.g. WRONGTYPE).
pub(super) fn is_transient(code: &str) -> bool {
    matches!(
        code,
        "LOADING"
            | "READONLY"
            | "MASTERDOWN"
            | "TRYAGAIN"
            | "NOAUTH"
            | "BUSY"
            | "CLUSTERDOWN"
            | "OOM"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transient_errors_by_code() {
        let code = |reply: &[u8]| match parse_reply(reply) {
            Ok(Some((Reply::Error { code, .. }, n))) if n == reply.len() => code,
            other => panic!("{other:?}"),
        };
        for reply in [
            &b"-LOADING Redis is loading the dataset in memory\r\n"[..],
            b"-READONLY You can't write against a read only replica.\r\n",
            b"-MASTERDOWN Link with MASTER is down\r\n",
            b"-NOAUTH Authentication required.\r\n",
            b"-BUSY Redis is busy running a script.\r\n",
            b"-OOM command not allowed when used memory > 'maxmemory'.\r\n",
        ] {
            assert!(
                is_transient(&code(reply)),
                "{}",
                String::from_utf8_lossy(reply)
            );
        }
        for reply in [
            &b"-WRONGTYPE Operation against a key holding the wrong kind of value\r\n"[..],
            b"-ERR unknown command\r\n",
        ] {
            assert!(
                !is_transient(&code(reply)),
                "{}",
                String::from_utf8_lossy(reply)
            );
        }
    }

    #[test]
    fn replies_as_the_redis_crate_reads_them() {
        let cases: &[&[u8]] = &[
            b":1\r\n",
            b":-7\r\n",
            b"+OK\r\n",
            b"-ERR wrong number of arguments\r\n",
            b"-NOAUTH\r\n",
            b"$3\r\nabc\r\n",
            b"$-1\r\n",
            b"$0\r\n\r\n",
            b"*-1\r\n",
            b"*2\r\n$1\r\na\r\n*1\r\n:3\r\n",
        ];
        for &reply in cases {
            let theirs = redis::Parser::new().parse_value(reply).unwrap();
            let want = match theirs {
                redis::Value::ServerError(e) => Reply::Error {
                    code: e.code().to_string(),
                    details: e.details().map(str::to_string),
                },
                _ => Reply::Done,
            };
            assert_eq!(
                parse_reply(reply),
                Ok(Some((want, reply.len()))),
                "{}",
                String::from_utf8_lossy(reply)
            );
            // Cut anywhere: not complete yet.
            for cut in 0..reply.len() {
                assert_eq!(parse_reply(&reply[..cut]), Ok(None), "{cut}");
            }
        }
        // Two replies in a row: the first one only.
        assert_eq!(parse_reply(b":1\r\n:2\r\n"), Ok(Some((Reply::Done, 4))));
        for bad in [&b"?\r\n"[..], b"$x\r\n", b"*9999999999999999999999\r\n"] {
            assert!(parse_reply(bad).is_err(), "{bad:?}");
        }
        let deep = "*1\r\n".repeat(20) + ":1\r\n";
        assert!(parse_reply(deep.as_bytes()).is_err());
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

    proptest! {
        #![proptest_config(config(1024))]

        #[test]
        fn any_bytes_never_panic(b in prop::collection::vec(any::<u8>(), 0..64)) {
            if let Ok(Some((_, used))) = parse_reply(&b) {
                prop_assert!(used <= b.len());
            }
        }

        #[test]
        fn well_formed_replies_as_the_redis_crate_reads_them(
            first in reply(),
            next in reply(),
        ) {
            let mut both = first.clone();
            both.extend(&next);
            let want = match redis::Parser::new().parse_value(&first[..]) {
                Ok(redis::Value::ServerError(e)) => Reply::Error {
                    code: e.code().to_string(),
                    details: e.details().map(str::to_string),
                },
                Ok(_) => Reply::Done,
                Err(e) => return Err(TestCaseError::fail(format!("{e}"))),
            };
            prop_assert_eq!(parse_reply(&both), Ok(Some((want, first.len()))));
            for cut in 0..first.len() {
                prop_assert_eq!(parse_reply(&first[..cut]), Ok(None));
            }
        }
    }
}
