//! RedisSentinel: asking the Sentinels for the current master.  Their
//! replies are read by the same size-capped reader as Redis's
//! ([`super::resp`]): a Sentinel that answers with a huge or endless reply
//! costs at most that bound, then counts as failed.

use super::conn::{Conn, Resolver, left, open};
use super::resp::{Reply, printable};
use super::{TlsFiles, Trace};
use crate::redis::server::{self, Addr, SentinelCfg, ServerCfg};
use std::time::{Duration, Instant};

/// Ask each Sentinel in turn for the current master's address (over TLS
/// when RedisSentinel has `ssl:true`).  Each Sentinel gets an equal share
/// of the time left, the master's connection one share too, so a silent
/// first Sentinel can neither use up the deadline nor keep the others from
/// being asked.
pub(super) fn discover_master(
    sentinel: &SentinelCfg,
    files: &TlsFiles,
    resolver: &mut Resolver,
    deadline: Instant,
    io: Duration,
    trace: &mut Trace,
) -> Result<Addr, String> {
    let mut errors = Vec::new();
    let n = sentinel.sentinels.len();
    trace.at(17, || {
        format!("querying Sentinels ({n} count) for Redis server")
    });
    for (i, addr) in sentinel.sentinels.iter().enumerate() {
        let probe = ServerCfg {
            addr: addr.clone(),
            username: None,
            password: None,
            db: None,
            tls: sentinel.tls.clone(),
        };
        let r = left(deadline).and_then(|rest| {
            let share = Instant::now() + rest / (n - i + 1) as u32;
            let mut con = open(&probe, files, resolver, share, io, trace)?;
            ask_sentinel(&mut con, sentinel.master.as_deref(), trace)
        });
        match r {
            Ok(a) => {
                trace.at(17, || {
                    format!(
                        "discovered Redis server {} using Sentinel #{} ({})",
                        addr_text(&a),
                        i + 1,
                        server::describe(&probe)
                    )
                });
                return Ok(a);
            }
            Err(e) => {
                trace.at(14, || format!("error getting master from Sentinel: {e}"));
                errors.push(format!("Sentinel {}: {e}", server::describe(&probe)));
            }
        }
    }
    Err(format!("no master from Sentinels ({})", errors.join("; ")))
}

/// Host names longer than this are not an answer.
const HOST_MAX: usize = 255;

/// A bulk string of at most `max` bytes, as text.
fn bulk(con: &mut Conn, what: &str, max: usize) -> Result<String, String> {
    match con.reply()? {
        Reply::Bulk(Some(b)) if b.len() <= max => {
            String::from_utf8(b).map_err(|_| format!("{what}: not UTF-8"))
        }
        Reply::Bulk(Some(_)) => Err(format!("{what}: too long")),
        Reply::Error(e) => Err(format!("{what}: {}", e.text)),
        other => Err(format!("{what}: unexpected {} reply", other.kind())),
    }
}

/// `SENTINEL get-master-addr-by-name` (after `SENTINEL masters` for the
/// first master's name when none is configured).
fn ask_sentinel(con: &mut Conn, master: Option<&str>, trace: &mut Trace) -> Result<Addr, String> {
    let name = match master {
        Some(n) => n.to_string(),
        None => {
            let name = first_master(con)?;
            trace.at(17, || {
                format!("discovered master '{}'", printable(name.as_bytes()))
            });
            name
        }
    };
    con.command(&[b"SENTINEL", b"get-master-addr-by-name", name.as_bytes()])?;
    let unknown = || format!("Sentinel knows no master '{}'", printable(name.as_bytes()));
    match con.reply()? {
        Reply::Array(None) | Reply::Bulk(None) => Err(unknown()),
        Reply::Array(Some(2)) => {
            let host = bulk(con, "master host", HOST_MAX)?;
            let port = bulk(con, "master port", 5)?;
            let port = port.parse::<u16>().ok().filter(|&p| p > 0).ok_or_else(|| {
                format!("master port '{}' is not a port", printable(port.as_bytes()))
            })?;
            if host.is_empty() || host.bytes().any(|b| b.is_ascii_control() || b == b' ') {
                return Err(format!(
                    "master host '{}' is not a host",
                    printable(host.as_bytes())
                ));
            }
            Ok(Addr::Tcp { host, port })
        }
        Reply::Error(e) => Err(e.text),
        other => Err(format!(
            "unexpected {} reply to SENTINEL get-master-addr-by-name",
            other.kind()
        )),
    }
}

/// The name of the first master of `SENTINEL masters` (an array of
/// masters, each an array of field names and values).
fn first_master(con: &mut Conn) -> Result<String, String> {
    con.command(&[b"SENTINEL", b"masters"])?;
    let masters = match con.reply()? {
        Reply::Array(Some(n)) => n,
        Reply::Array(None) => 0,
        Reply::Error(e) => return Err(e.text),
        other => {
            return Err(format!(
                "unexpected {} reply to SENTINEL masters",
                other.kind()
            ));
        }
    };
    if masters == 0 {
        return Err("Sentinel monitors no master".into());
    }
    let fields = match con.reply()? {
        Reply::Array(Some(n)) => n,
        other => return Err(format!("unexpected {} in SENTINEL masters", other.kind())),
    };
    let mut name = None;
    let mut i = 0;
    while i < fields {
        // Field names, then values; only `name` is kept.
        let field = bulk(con, "SENTINEL masters field", 64)?;
        i += 1;
        if i == fields {
            break;
        }
        if field == "name" && name.is_none() {
            name = Some(bulk(con, "master name", HOST_MAX)?);
        } else {
            con.skip(2)?;
        }
        i += 1;
    }
    // The other masters: read past them (each reply bounded).
    for _ in 1..masters {
        con.skip(2)?;
    }
    name.ok_or_else(|| "Sentinel monitors no master".into())
}

/// `host:port` (`[v6]:port`) of an address.
fn addr_text(a: &Addr) -> String {
    match a {
        Addr::Tcp { host, port } if host.contains(':') => format!("[{host}]:{port}"),
        Addr::Tcp { host, port } => format!("{host}:{port}"),
        Addr::Unix(p) => p.clone(),
    }
}
