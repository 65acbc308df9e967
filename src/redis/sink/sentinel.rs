//! RedisSentinel: asking the Sentinels for the current master.

use super::TlsFiles;
use super::conn::{Conn, Resolver, left, open};
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
) -> Result<Addr, String> {
    let mut errors = Vec::new();
    let n = sentinel.sentinels.len();
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
            let mut con = open(&probe, files, resolver, share, io)?;
            ask_sentinel(&mut con, sentinel.master.as_deref())
        });
        match r {
            Ok(a) => return Ok(a),
            Err(e) => errors.push(format!("Sentinel {}: {e}", server::describe(&probe))),
        }
    }
    Err(format!("no master from Sentinels ({})", errors.join("; ")))
}

/// `SENTINEL get-master-addr-by-name` (after `SENTINEL masters` for the
/// first master's name when none is configured).
fn ask_sentinel(con: &mut Conn, master: Option<&str>) -> Result<Addr, String> {
    let name = match master {
        Some(n) => n.to_string(),
        None => {
            let masters: Vec<Vec<String>> = con.query(redis::cmd("SENTINEL").arg("masters"))?;
            masters
                .first()
                .and_then(|m| {
                    m.chunks(2)
                        .find(|kv| kv.first().map(String::as_str) == Some("name"))
                        .and_then(|kv| kv.get(1).cloned())
                })
                .ok_or("Sentinel monitors no master")?
        }
    };
    let addr: Option<(String, u16)> = con.query(
        redis::cmd("SENTINEL")
            .arg("get-master-addr-by-name")
            .arg(&name),
    )?;
    let (host, port) = addr.ok_or_else(|| format!("Sentinel knows no master '{name}'"))?;
    Ok(Addr::Tcp { host, port })
}
