//! proftpd 1.3.7's `RedisServer` syntax (pure): a library built against
//! 1.3.7's headers reads the directive as 1.3.7's C module does, so that a
//! configuration written for it means the same with ours.
//!
//! 1.3.7: `RedisServer host[:port] [password] [db-index]`; 1.3.8 put a user
//! name (Redis 6 ACL) before the password, and TLS options after. With three
//! words after the host we read 1.3.8's `username password db-index` (1.3.7's
//! C module ignored them all and connected without a password); the core of
//! 1.3.7b, and Debian 11's 1.3.7a, takes a user name for its own connection
//! (mod_ban and co.), 1.3.7a's upstream core does not. No 1.3.7 core takes
//! TLS. What the core cannot take, [`crate::host::core_redis::check_server`]
//! refuses at config time; this parser reads the `ssl...:` options so that
//! the refusal can name them.

use super::server::{self, ServerCfg};

/// `RedisServer host[:port] [password] [db-index] [ssl:...]`, as 1.3.7's C
/// module reads it (an empty word leaves one out), or `host[:port] username
/// password db-index` (1.3.8's three words). Unlike that module, whose
/// `RedisServer host password 2` lost the password (it read the password
/// only when it was the last word), both are kept.
pub fn parse_server(args: &[String], warnings: &mut Vec<String>) -> Result<ServerCfg, String> {
    let Some(first) = args.first() else {
        return Err("wrong number of parameters".into());
    };
    let addr = server::parse_addr(first, warnings)?;
    let mut idx = 1;
    let mut positional: Vec<Option<String>> = Vec::new();
    while idx < args.len() && !server::is_tls_option(&args[idx]) {
        let a = &args[idx];
        positional.push((!a.is_empty()).then(|| a.clone()));
        idx += 1;
    }
    if positional.len() > 3 {
        // 1.3.7's C module ignored what follows; so do we, saying so (not
        // echoed: the words are credentials).
        let which = if idx == 5 {
            "parameter 5".to_string()
        } else {
            format!("parameters 5 to {idx}")
        };
        warnings.push(format!(
            "{which} ignored: proftpd {}'s RedisServer takes host[:port] [password] \
             [db-index], or host[:port] username password db-index",
            crate::host::version::HEADERS
        ));
        positional.truncate(3);
    }
    let tls = server::parse_tls(&args[idx..], idx + 1, warnings)?;
    // (username, password, db index, the db index's parameter number)
    let (username, password, db, db_param) = if positional.len() == 3 {
        let mut w = positional.into_iter();
        (
            w.next().flatten(),
            w.next().flatten(),
            w.next().flatten(),
            4,
        )
    } else {
        let mut w = positional.into_iter();
        (None, w.next().flatten(), w.next().flatten(), 3)
    };
    // As 1.3.7's C module and the 1.3.8 syntax.
    let db = db.map(|d| server::parse_db_index(&d, db_param, warnings));
    Ok(ServerCfg {
        addr,
        username,
        password,
        db,
        tls,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use server::{Addr, Tls};

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| x.to_string()).collect()
    }

    fn parse_server_(args: &[String]) -> Result<ServerCfg, String> {
        parse_server(args, &mut Vec::new())
    }

    #[test]
    fn password_and_db_index() {
        let c = parse_server_(&s(&["h:1"])).unwrap();
        assert_eq!(
            c,
            ServerCfg {
                addr: Addr::Tcp {
                    host: "h".into(),
                    port: 1
                },
                username: None,
                password: None,
                db: None,
                tls: Tls::default(),
            }
        );
        let c = parse_server_(&s(&["h", "s3:cr/t"])).unwrap();
        assert_eq!(
            (c.username, c.password, c.db),
            (None, Some("s3:cr/t".into()), None)
        );
        // 1.3.7's C module dropped the password here; we keep it.
        let c = parse_server_(&s(&["h", "pw", "2"])).unwrap();
        assert_eq!((c.password.as_deref(), c.db), (Some("pw"), Some(2)));
        let c = parse_server_(&s(&["/run/r.sock", "", "4"])).unwrap();
        assert_eq!(c.addr, Addr::Unix("/run/r.sock".into()));
        assert_eq!((c.password, c.db), (None, Some(4)));
    }

    #[test]
    fn three_words_are_user_password_db() {
        let c = parse_server_(&s(&["h", "alice", "s3cret", "2"])).unwrap();
        assert_eq!(
            (c.username.as_deref(), c.password.as_deref(), c.db),
            (Some("alice"), Some("s3cret"), Some(2))
        );
        let c = parse_server_(&s(&["h", "alice", "s3cret", ""])).unwrap();
        assert_eq!((c.username.as_deref(), c.db), (Some("alice"), None));
    }

    #[test]
    fn bad_words_are_warned_of_without_echoing_them() {
        // What 1.3.7's C module starts with, ours starts with.
        let warned = |args: &[&str]| {
            let mut w = Vec::new();
            let c = parse_server(&s(args), &mut w).unwrap();
            for line in &w {
                assert!(
                    !line.contains("s3cret") && !line.contains("alice"),
                    "{line}"
                );
            }
            (c, w.join("\n"))
        };
        let (c, w) = warned(&["h", "alice", "s3cret", "2", "x"]);
        assert!(w.contains("parameter 5 ignored"), "{w}");
        assert_eq!((c.username.as_deref(), c.db), (Some("alice"), Some(2)));
        let (c, w) = warned(&["h", "alice", "s3cret", "2", "x", "y", "ssl:off", "z"]);
        assert!(w.contains("parameters 5 to 6 ignored"), "{w}");
        assert!(w.contains("parameter 8 ignored"), "{w}");
        assert!(!c.tls.enabled);
        assert_eq!((c.username.as_deref(), c.db), (Some("alice"), Some(2)));
        let (c, w) = warned(&["h", "s3cret", "x"]);
        assert!(w.contains("database index (parameter 3)"), "{w}");
        assert_eq!(c.db, Some(-1));
        let (c, w) = warned(&["h", "alice", "s3cret", "x"]);
        assert!(w.contains("database index (parameter 4)"), "{w}");
        assert_eq!(c.db, Some(-1));
        assert!(parse_server_(&[]).is_err());
    }

    #[test]
    fn tls_options_are_read_for_the_refusal() {
        let c = parse_server_(&s(&["h", "pw", "ssl:true", "ssl-ca:/ca.pem"])).unwrap();
        assert!(c.tls.enabled);
        assert_eq!(c.tls.ca.as_deref(), Some("/ca.pem"));
        assert_eq!(c.password.as_deref(), Some("pw"));
    }
}
