//! RESP: the commands the sink sends, and what Redis's error replies mean.

use super::Event;
use crate::redis::server::ServerCfg;

/// One `RPUSH key payload` per event, as one pipeline.
pub(super) fn rpush_pipeline<'a>(events: impl Iterator<Item = &'a Event>) -> Vec<u8> {
    let mut pipe = redis::pipe();
    for (key, payload) in events {
        pipe.cmd("RPUSH").arg(key).arg(payload);
    }
    pipe.get_packed_pipeline()
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
        let code = |reply: &[u8]| match redis::Parser::new().parse_value(reply) {
            Ok(redis::Value::ServerError(e)) => e.code().to_string(),
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
}
