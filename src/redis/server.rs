//! Parsing of RedisServer / RedisSentinel / RedisTimeouts arguments (pure).

pub const DEFAULT_PORT: u16 = 6379;

/// Where the Redis server is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Addr {
    Tcp { host: String, port: u16 },
    Unix(String),
}

/// TLS options (`ssl:`, `ssl-ca:`, `ssl-cert:`, `ssl-key:`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Tls {
    pub enabled: bool,
    pub ca: Option<String>,
    pub cert: Option<String>,
    pub key: Option<String>,
}

/// A parsed `RedisServer`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServerCfg {
    pub addr: Addr,
    pub username: Option<String>,
    pub password: Option<String>,
    pub db: Option<i64>,
    pub tls: Tls,
}

/// `host[:port]`, `[ipv6]`, `[ipv6]:port`, `/path/to.sock` (as the C
/// module splits them: the last `:` separates the port).
pub fn parse_addr(text: &str) -> Result<Addr, String> {
    parse_addr_with(text, DEFAULT_PORT)
}

/// Sentinels listen on 26379 by default.
pub const SENTINEL_DEFAULT_PORT: u16 = 26379;

/// Like [`parse_addr`], with another default port.
pub fn parse_addr_with(text: &str, default_port: u16) -> Result<Addr, String> {
    if text.starts_with('/') {
        return Ok(Addr::Unix(text.to_string()));
    }
    let bad_port = |p: &str| format!("invalid port '{p}' in '{text}'");
    let port_of = |p: &str| -> Result<u16, String> {
        match p.parse::<u16>() {
            Ok(n) if n > 0 => Ok(n),
            _ => Err(bad_port(p)),
        }
    };
    if let Some(rest) = text.strip_prefix('[') {
        let Some(end) = rest.find(']') else {
            return Err(format!("invalid IPv6 address '{text}'"));
        };
        let host = &rest[..end];
        let after = &rest[end + 1..];
        let port = match after {
            "" => default_port,
            p if p.starts_with(':') => port_of(&p[1..])?,
            _ => return Err(format!("invalid IPv6 address '{text}'")),
        };
        if host.is_empty() {
            return Err(format!("invalid IPv6 address '{text}'"));
        }
        return Ok(Addr::Tcp {
            host: host.to_string(),
            port,
        });
    }
    let (host, port) = match text.rfind(':') {
        Some(i) => (&text[..i], port_of(&text[i + 1..])?),
        None => (text, default_port),
    };
    if host.is_empty() {
        return Err(format!("missing host in '{text}'"));
    }
    Ok(Addr::Tcp {
        host: host.to_string(),
        port,
    })
}

/// The option words of RedisServer and RedisSentinel.
const TLS_PREFIXES: [&str; 4] = ["ssl:", "ssl-ca:", "ssl-cert:", "ssl-key:"];

/// Is `text` one of the known `ssl...:` options?  Every other word is a
/// positional parameter (a user name or password may well contain `:` or
/// start with `ssl`).
pub fn is_tls_option(text: &str) -> bool {
    TLS_PREFIXES.iter().any(|p| text.starts_with(p))
}

/// Apply one option word (see [`is_tls_option`]) to `tls`.  Errors never
/// echo the word's value unless it is a path.
fn apply_tls_option(tls: &mut Tls, a: &str) -> Result<(), String> {
    if let Some(v) = a.strip_prefix("ssl:") {
        tls.enabled = crate::host::conf::parse_bool(v)
            .ok_or_else(|| "ssl: expects a Boolean value (on/off)".to_string())?;
    } else if let Some(v) = a.strip_prefix("ssl-ca:") {
        tls.ca = Some(v.to_string());
    } else if let Some(v) = a.strip_prefix("ssl-cert:") {
        tls.cert = Some(v.to_string());
    } else if let Some(v) = a.strip_prefix("ssl-key:") {
        tls.key = Some(v.to_string());
    } else {
        return Err("not an ssl option".into());
    }
    Ok(())
}

/// Parse the TLS options `args` (the parameters from number `first` on,
/// counting from 1).  A word that is not an option is named by its
/// position only: it may be a misplaced password.
pub fn parse_tls(args: &[String], first: usize) -> Result<Tls, String> {
    let mut tls = Tls::default();
    for (i, a) in args.iter().enumerate() {
        if !is_tls_option(a) {
            return Err(format!(
                "parameter {} is neither a user name, password or db index nor an \
                 ssl:, ssl-ca:, ssl-cert: or ssl-key: option",
                first + i
            ));
        }
        apply_tls_option(&mut tls, a)?;
    }
    Ok(tls)
}

/// `RedisServer server [username] [password] [db-index] [ssl:...]...`
///
/// As in the C module, the words after the server up to the first option
/// are the user name, password and db index, and an empty word (`""`)
/// leaves one out; unlike the C module, which took any word with a `:` or
/// an `ssl` prefix for an option (and ignored it: `alice pa:ss` connected
/// without the password), only the known option prefixes make an option.
/// No error message contains a credential.
pub fn parse_server(args: &[String]) -> Result<ServerCfg, String> {
    let Some(first) = args.first() else {
        return Err("wrong number of parameters".into());
    };
    let addr = parse_addr(first)?;
    let mut positional: Vec<Option<String>> = Vec::new();
    let mut idx = 1;
    while idx < args.len() && idx <= 3 && !is_tls_option(&args[idx]) {
        let a = &args[idx];
        positional.push((!a.is_empty()).then(|| a.clone()));
        idx += 1;
    }
    let tls = parse_tls(&args[idx..], idx + 1)?;
    let username = positional.first().cloned().flatten();
    let password = positional.get(1).cloned().flatten();
    let db = match positional.get(2).cloned().flatten() {
        // Not echoed: with a word too many (a password with a space?) it
        // may be part of a credential.
        Some(d) => Some(d.parse::<i64>().ok().filter(|n| *n >= 0).ok_or_else(|| {
            "invalid database index (parameter 4): expected a number, 0 or more".to_string()
        })?),
        None => None,
    };
    Ok(ServerCfg {
        addr,
        username,
        password,
        db,
        tls,
    })
}

/// A parsed `RedisSentinel`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SentinelCfg {
    pub sentinels: Vec<Addr>,
    pub master: Option<String>,
    pub tls: Tls,
}

/// `RedisSentinel host[:port] ... [master name] [ssl:...]`
///
/// As in the C module, only the known `ssl...:` prefixes make an option
/// (a Sentinel may be called `sslhost`), and options may stand anywhere.
pub fn parse_sentinel(args: &[String]) -> Result<SentinelCfg, String> {
    let mut sentinels = Vec::new();
    let mut master = None;
    let mut tls = Tls::default();
    let mut i = 0;
    while i < args.len() {
        let a = &args[i];
        if a.eq_ignore_ascii_case("master") {
            let name = args
                .get(i + 1)
                .ok_or_else(|| "missing master name".to_string())?;
            master = Some(name.clone());
            i += 2;
            continue;
        }
        if is_tls_option(a) {
            apply_tls_option(&mut tls, a)?;
        } else {
            match parse_addr_with(a, SENTINEL_DEFAULT_PORT)? {
                Addr::Unix(_) => return Err(format!("Sentinel '{a}' must be a TCP address")),
                addr => sentinels.push(addr),
            }
        }
        i += 1;
    }
    if sentinels.is_empty() {
        return Err("wrong number of parameters".into());
    }
    Ok(SentinelCfg {
        sentinels,
        master,
        tls,
    })
}

/// A millisecond value of RedisTimeouts (an unsigned decimal number).
pub fn parse_millis(text: &str, what: &str) -> Result<u64, String> {
    if !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()) {
        text.parse::<u64>()
            .map_err(|_| format!("badly formatted {what} timeout value: {text}"))
    } else {
        Err(format!("badly formatted {what} timeout value: {text}"))
    }
}

fn pct(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// A unix socket path for a URL: every byte but `/` and the unreserved
/// ones percent-encoded (URL parsing drops tabs and newlines and stops at
/// `?` or `#`; the crate decodes the path again).
fn pct_path(path: &str) -> String {
    path.split('/').map(pct).collect::<Vec<_>>().join("/")
}

/// The connection URL for the `redis` crate (never logged: it may hold
/// the password).
pub fn url(cfg: &ServerCfg) -> String {
    let auth = match (&cfg.username, &cfg.password) {
        (Some(u), Some(p)) => format!("{}:{}@", pct(u), pct(p)),
        // A single credential is a password (AUTH password).
        (Some(p), None) | (None, Some(p)) => format!(":{}@", pct(p)),
        (None, None) => String::new(),
    };
    match &cfg.addr {
        Addr::Tcp { host, port } => {
            let scheme = if cfg.tls.enabled { "rediss" } else { "redis" };
            let host = if host.contains(':') {
                format!("[{host}]")
            } else {
                host.clone()
            };
            let db = cfg.db.map(|d| format!("/{d}")).unwrap_or_default();
            format!("{scheme}://{auth}{host}:{port}{db}")
        }
        Addr::Unix(path) => {
            let mut q = Vec::new();
            if let Some(d) = cfg.db {
                q.push(format!("db={d}"));
            }
            match (&cfg.username, &cfg.password) {
                (Some(u), Some(p)) => {
                    q.push(format!("user={}", pct(u)));
                    q.push(format!("pass={}", pct(p)));
                }
                (Some(p), None) | (None, Some(p)) => q.push(format!("pass={}", pct(p))),
                _ => {}
            }
            let q = if q.is_empty() {
                String::new()
            } else {
                format!("?{}", q.join("&"))
            };
            format!("redis+unix://{}{q}", pct_path(path))
        }
    }
}

/// A description for logs, without credentials.
pub fn describe(cfg: &ServerCfg) -> String {
    match &cfg.addr {
        Addr::Tcp { host, port } if host.contains(':') => format!("[{host}]:{port}"),
        Addr::Tcp { host, port } => format!("{host}:{port}"),
        Addr::Unix(p) => p.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn addresses() {
        let tcp = |h: &str, p| Addr::Tcp {
            host: h.into(),
            port: p,
        };
        assert_eq!(parse_addr("127.0.0.1").unwrap(), tcp("127.0.0.1", 6379));
        assert_eq!(parse_addr("redis:7000").unwrap(), tcp("redis", 7000));
        assert_eq!(parse_addr("[::1]").unwrap(), tcp("::1", 6379));
        assert_eq!(parse_addr("[::1]:7001").unwrap(), tcp("::1", 7001));
        assert_eq!(
            parse_addr("/run/r.sock").unwrap(),
            Addr::Unix("/run/r.sock".into())
        );
        assert!(parse_addr("host:notaport").is_err());
        assert!(parse_addr("host:0").is_err());
        assert!(parse_addr("[::1").is_err());
        assert!(parse_addr(":6379").is_err());
    }

    #[test]
    fn server_args() {
        let c = parse_server(&s(&["h:1"])).unwrap();
        assert_eq!((c.username, c.password, c.db), (None, None, None));
        let c = parse_server(&s(&["h:1", "pw"])).unwrap();
        assert_eq!(c.username.as_deref(), Some("pw"));
        assert_eq!(url(&c), "redis://:pw@h:1");
        let c = parse_server(&s(&["h:1", "bob", "s3cr/t", "2"])).unwrap();
        assert_eq!(url(&c), "redis://bob:s3cr%2Ft@h:1/2");
        let c = parse_server(&s(&["h:1", "", "pw", "3"])).unwrap();
        assert_eq!(url(&c), "redis://:pw@h:1/3");
        let c = parse_server(&s(&["/tmp/r.sock", "", "", "4"])).unwrap();
        assert_eq!(url(&c), "redis+unix:///tmp/r.sock?db=4");
        let c = parse_server(&s(&["[::1]:5", "ssl:true", "ssl-ca:/ca.pem"])).unwrap();
        assert!(c.tls.enabled);
        assert_eq!(c.tls.ca.as_deref(), Some("/ca.pem"));
        assert_eq!(url(&c), "rediss://[::1]:5");
        assert!(parse_server(&s(&["h", "u", "p", "x"])).is_err());
        assert!(parse_server(&s(&["h", "ssl:maybe"])).is_err());
        assert!(parse_server(&s(&["h", "u", "p", "1", "extra"])).is_err());
        assert!(parse_server(&s(&["h", "u", "p", "ssl:on", "extra"])).is_err());
    }

    /// Found in review: a password with a `:` or an `ssl` prefix was taken
    /// for an option ("unknown parameter 'pa:ss'": proftpd did not start,
    /// and printed the password).  Only the known option prefixes are
    /// options.
    #[test]
    fn credentials_with_colons_and_ssl_prefixes() {
        for (user, pass) in [
            ("alice", "pa:ss"),
            ("alice", "sslpass"),
            ("ssl", "ssl"),
            ("ssl-user", "ssl-ca"),
            ("a:b", ":"),
            ("alice", "ssl-ca"),
            ("alice", "SSL:on"),
            ("alice", "p@ss#w%rd\"x'y{}[]&?=/+é"),
        ] {
            let c = parse_server(&s(&["127.0.0.1:6379", user, pass, "ssl:on"])).unwrap();
            assert_eq!(c.username.as_deref(), Some(user));
            assert_eq!(c.password.as_deref(), Some(pass), "{pass}");
            assert!(c.tls.enabled);
            let c = parse_server(&s(&["127.0.0.1:6379", user, pass, "2"])).unwrap();
            assert_eq!(c.password.as_deref(), Some(pass), "{pass}");
            assert_eq!(c.db, Some(2));
            // One credential: a password.
            let c = parse_server(&s(&["h", pass])).unwrap();
            assert_eq!(url(&c), format!("redis://:{}@h:6379", pct(pass)));
        }
        // The known prefixes are options, wherever they stand.
        let c = parse_server(&s(&["h", "u", "ssl-ca:/ca.pem"])).unwrap();
        assert_eq!((c.password, c.tls.ca.as_deref()), (None, Some("/ca.pem")));
    }

    /// No error names a credential (it goes to stderr and the system log).
    #[test]
    fn errors_never_echo_credentials() {
        for args in [
            &["h", "alice", "pa:ss", "notanumber"][..],
            &["h", "alice", "pa ss", "2", "more"],
            &["h", "alice", "secret", "ssl:yes", "secret2"],
            &["h", "alice", "secret", "ssl:secret3"],
        ] {
            let e = parse_server(&s(args)).unwrap_err();
            for word in &args[1..] {
                let word = word.trim_start_matches("ssl:");
                assert!(!e.contains(word), "{e:?} contains {word:?}");
            }
        }
    }

    /// Found by the property tests: the socket path went into the URL
    /// unencoded, so `/tmp/a\tb.sock` became `/tmp/ab.sock`, `/tmp/a?b.sock`
    /// and `/tmp/a#b` became `/tmp/a`, and `/tmp/100%41` `/tmp/100A`.
    #[test]
    fn unix_socket_path_survives_the_url() {
        for path in [
            "/tmp/a\tb.sock",
            "/tmp/a?b.sock",
            "/tmp/a#b",
            "/tmp/100%41",
            "/r s/é.sock",
        ] {
            let cfg = parse_server(&s(&[path, "", "pw", "2"])).unwrap();
            let client = redis::Client::open(url(&cfg).as_str()).unwrap();
            let info = client.get_connection_info();
            assert_eq!(
                info.addr(),
                &redis::ConnectionAddr::Unix(path.into()),
                "{path}"
            );
            assert_eq!(info.redis_settings().password(), Some("pw"));
            assert_eq!(info.redis_settings().db(), 2);
        }
    }

    #[test]
    fn sentinels() {
        let c = parse_sentinel(&s(&["a", "b:1", "master", "mymaster"])).unwrap();
        assert_eq!(c.sentinels.len(), 2);
        assert_eq!(
            c.sentinels[0],
            Addr::Tcp {
                host: "a".into(),
                port: 26379
            }
        );
        assert_eq!(
            parse_sentinel(&s(&["[::1]"])).unwrap().sentinels[0],
            Addr::Tcp {
                host: "::1".into(),
                port: 26379
            }
        );
        assert_eq!(c.master.as_deref(), Some("mymaster"));
        assert!(parse_sentinel(&s(&["master"])).is_err());
        assert!(parse_sentinel(&s(&[])).is_err());
        // A host name with an `ssl` prefix is a Sentinel; options anywhere.
        let c = parse_sentinel(&s(&["sslhost", "ssl:on", "b", "master", "ssl:m"])).unwrap();
        assert_eq!(c.sentinels.len(), 2);
        assert_eq!(c.master.as_deref(), Some("ssl:m"));
        assert!(c.tls.enabled);
        let e = parse_sentinel(&s(&["a", "ssl:s3cr3t"])).unwrap_err();
        assert!(!e.contains("s3cr3t"), "{e}");
    }

    #[test]
    fn millis() {
        assert_eq!(parse_millis("500", "connect"), Ok(500));
        assert!(parse_millis("5s", "connect").is_err());
        assert!(parse_millis("-1", "IO").is_err());
    }
}

/// Property tests (see docs/fuzzing.md): no input panics, errors name the
/// input, and what is written the documented way parses back.
#[cfg(test)]
mod proptests {
    use super::*;
    use crate::proptest_support::{NASTY, config, made_of, text_or};
    use proptest::prelude::*;

    const ADDR_PIECES: &[&str] = &[
        "[",
        "]",
        ":",
        "/",
        "::1",
        "127.0.0.1",
        "host",
        "0",
        "6379",
        "65535",
        "65536",
        "99999999999999999999",
        "-1",
        "+1",
        " ",
        "é",
        "\u{fffd}",
        "ssl",
        "master",
    ];

    const ARG_PIECES: &[&str] = &[
        "ssl",
        "ssl:",
        "ssl-ca:",
        "ssl-cert:",
        "ssl-key:",
        "true",
        "off",
        "maybe",
        "/p",
        ":",
        "[::1]",
        "h",
        "6379",
        "0",
        "-1",
        "99999999999999999999",
        "master",
        "MASTER",
        "",
        "é",
        "\u{fffd}",
        " ",
    ];

    /// Arguments of a directive: any strings, or ones made of `ARG_PIECES`.
    fn args() -> impl Strategy<Value = Vec<String>> {
        prop::collection::vec(text_or(ARG_PIECES, 4), 0..8)
    }

    /// A host as `host[:port]` gives it back: no `:`, not starting with
    /// `/` or `[`, not empty.
    fn plain_host() -> impl Strategy<Value = String> {
        "[^:/\\[][^:]{0,30}"
    }

    /// A word that is neither a known option (`ssl:`, `ssl-ca:`, ...) nor
    /// empty: a user name, password or db index position.  Colons and an
    /// `ssl` prefix are fine.
    fn positional() -> impl Strategy<Value = String> {
        prop_oneof![
            ".{1,20}",
            "(ssl|ssl-ca|ssl-cert|ssl-key|:)[^:]{0,10}",
            "[^:]{0,5}:.{0,10}",
        ]
        .prop_filter("option", |s| !s.is_empty() && !is_tls_option(s))
    }

    fn tls() -> impl Strategy<Value = Tls> {
        let path = prop::option::of("[^\0]{0,20}");
        (any::<bool>(), path.clone(), path.clone(), path).prop_map(|(enabled, ca, cert, key)| Tls {
            enabled,
            ca,
            cert,
            key,
        })
    }

    /// `tls` written as options; `ssl:false` only sometimes (it is the
    /// default).
    fn tls_args(tls: &Tls, write_false: bool) -> Vec<String> {
        let mut v = Vec::new();
        if tls.enabled || write_false {
            v.push(format!("ssl:{}", if tls.enabled { "on" } else { "off" }));
        }
        for (k, p) in [("ca", &tls.ca), ("cert", &tls.cert), ("key", &tls.key)] {
            if let Some(p) = p {
                v.push(format!("ssl-{k}:{p}"));
            }
        }
        v
    }

    /// A non-empty user name or password, any characters.
    fn credential() -> impl Strategy<Value = String> {
        prop::collection::vec(any::<char>(), 1..20).prop_map(String::from_iter)
    }

    /// The crate refuses the wildcard addresses (0.0.0.0, ::): use
    /// localhost instead.
    fn routable(ip: std::net::IpAddr) -> String {
        if ip.is_unspecified() {
            "localhost".into()
        } else {
            ip.to_string()
        }
    }

    /// `/text` as a socket path can be: no NUL (config words are C
    /// strings), no `.`/`..` segments (URL parsing resolves them, as the
    /// kernel would, except through symlinks).
    fn unix_path(text: &str) -> String {
        let text = text.replace('\0', "");
        let segments: Vec<&str> = text
            .split('/')
            .map(|s| if s == "." || s == ".." { "_" } else { s })
            .collect();
        format!("/{}", segments.join("/"))
    }

    proptest! {
        #![proptest_config(config(512))]

        #[test]
        fn addr_never_panics_and_is_consistent(
            text in text_or(ADDR_PIECES, 8),
            default in 1u16..,
        ) {
            match parse_addr_with(&text, default) {
                Ok(Addr::Unix(p)) => {
                    prop_assert!(text.starts_with('/'));
                    prop_assert_eq!(p, text);
                }
                Ok(Addr::Tcp { host, port }) => {
                    prop_assert!(!host.is_empty());
                    prop_assert!(port > 0);
                    prop_assert!(text.contains(&host));
                }
                Err(e) => prop_assert!(e.contains(&text), "{e}"),
            }
        }

        #[test]
        fn host_port_round_trip(host in plain_host(), port in 1u16.., default in 1u16..) {
            let tcp = |port| Addr::Tcp { host: host.clone(), port };
            prop_assert_eq!(parse_addr_with(&format!("{host}:{port}"), default), Ok(tcp(port)));
            prop_assert_eq!(parse_addr_with(&host, default), Ok(tcp(default)));
        }

        #[test]
        fn bracketed_host_round_trip(host in "[^\\]]{1,30}", port in 1u16..) {
            let tcp = |port| Addr::Tcp { host: host.clone(), port };
            prop_assert_eq!(parse_addr(&format!("[{host}]:{port}")), Ok(tcp(port)));
            prop_assert_eq!(parse_addr(&format!("[{host}]")), Ok(tcp(DEFAULT_PORT)));
            let (zero, junk) = (format!("[{host}]:0"), format!("[{host}]x"));
            prop_assert!(parse_addr(&zero).is_err());
            prop_assert!(parse_addr(&junk).is_err());
        }

        #[test]
        fn unix_path_is_kept(path in "/.*") {
            prop_assert_eq!(parse_addr(&path), Ok(Addr::Unix(path.clone())));
        }

        #[test]
        fn millis_accepts_exactly_decimal_numbers(
            text in text_or(&["0", "1", "9", "-", "+", " ", "a", "18446744073709551615", "18446744073709551616"], 4),
        ) {
            let r = parse_millis(&text, "connect");
            let decimal = !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit());
            match text.parse::<u64>() {
                Ok(n) if decimal => prop_assert_eq!(r, Ok(n)),
                _ => {
                    let e = r.unwrap_err();
                    prop_assert!(e.contains("connect") && e.ends_with(&text), "{e}");
                }
            }
        }

        #[test]
        fn millis_round_trip(n in any::<u64>()) {
            prop_assert_eq!(parse_millis(&n.to_string(), "IO"), Ok(n));
        }

        #[test]
        fn tls_never_panics(args in args()) {
            let known = |a: &String| {
                ["ssl-ca:", "ssl-cert:", "ssl-key:"].iter().any(|p| a.starts_with(p))
                    || a.strip_prefix("ssl:").is_some_and(|v| crate::host::conf::parse_bool(v).is_some())
            };
            prop_assert_eq!(parse_tls(&args, 1).is_ok(), args.iter().all(known));
        }

        #[test]
        fn tls_round_trip(t in tls(), write_false in any::<bool>()) {
            prop_assert_eq!(parse_tls(&tls_args(&t, write_false), 1), Ok(t));
        }

        #[test]
        fn server_never_panics(args in args()) {
            if let Ok(cfg) = parse_server(&args) {
                prop_assert_eq!(Ok(cfg.addr), parse_addr(&args[0]));
                prop_assert!(cfg.db.is_none_or(|d| d >= 0));
                prop_assert!(cfg.username.is_none_or(|u| !u.is_empty()));
                prop_assert!(cfg.password.is_none_or(|p| !p.is_empty()));
            }
        }

        #[test]
        fn server_round_trip(
            addr in prop_oneof![
                (plain_host(), 1u16..).prop_map(|(h, p)| (format!("{h}:{p}"), Addr::Tcp { host: h, port: p })),
                "/[^\0]{0,30}".prop_map(|p| (p.clone(), Addr::Unix(p))),
            ],
            user in prop::option::of(positional()),
            password in prop::option::of(positional()),
            db in prop::option::of(0..=i64::MAX),
            tls in tls(),
            write_false in any::<bool>(),
        ) {
            let mut args = vec![addr.0];
            let slots = [user.clone(), password.clone(), db.map(|d| d.to_string())];
            let used = slots.iter().rposition(Option::is_some).map_or(0, |i| i + 1);
            args.extend(slots[..used].iter().map(|s| s.clone().unwrap_or_default()));
            args.extend(tls_args(&tls, write_false));
            let want = ServerCfg { addr: addr.1, username: user, password, db, tls };
            prop_assert_eq!(parse_server(&args), Ok(want));
        }

        /// Whatever follows the server, an error never names a user name or
        /// password (marked with `§`, which no message contains).
        #[test]
        fn server_errors_never_echo_credentials(
            user in ".{0,10}",
            password in ".{0,10}",
            rest in prop::collection::vec(prop_oneof![
                text_or(ARG_PIECES, 4).prop_filter("§", |s| !s.contains('§')),
                ".{0,10}".prop_map(|s| format!("§{s}")),
                ".{0,10}".prop_map(|s| format!("ssl:§{s}")),
            ], 0..4),
        ) {
            let mut args = vec!["h:1".to_string(), format!("§{user}"), format!("§{password}")];
            args.extend(rest);
            if let Err(e) = parse_server(&args) {
                prop_assert!(!e.contains('§'), "{e}");
            }
        }

        #[test]
        fn sentinel_never_panics(args in args()) {
            if let Ok(cfg) = parse_sentinel(&args) {
                prop_assert!(!cfg.sentinels.is_empty());
                let all_tcp = cfg.sentinels.iter().all(|a| matches!(a, Addr::Tcp { .. }));
                prop_assert!(all_tcp);
            }
        }

        #[test]
        fn sentinel_round_trip(
            hosts in prop::collection::vec(
                (plain_host().prop_filter("word", |h| !is_tls_option(h) && !h.eq_ignore_ascii_case("master")),
                 prop::option::of(1u16..)),
                1..5),
            master in prop::option::of((any::<String>(), any::<prop::sample::Index>())),
            tls in tls(),
        ) {
            let mut args: Vec<String> = hosts
                .iter()
                .map(|(h, p)| p.map_or(h.clone(), |p| format!("{h}:{p}")))
                .collect();
            if let Some((name, at)) = &master {
                let i = at.index(args.len() + 1);
                args.insert(i, name.clone());
                args.insert(i, "Master".into());
            }
            args.extend(tls_args(&tls, false));
            let want = SentinelCfg {
                sentinels: hosts
                    .iter()
                    .map(|(h, p)| Addr::Tcp { host: h.clone(), port: p.unwrap_or(SENTINEL_DEFAULT_PORT) })
                    .collect(),
                master: master.map(|m| m.0),
                tls,
            };
            prop_assert_eq!(parse_sentinel(&args), Ok(want));
        }

        /// The URL handed to the `redis` crate means what the directive
        /// said: same address, credentials and db index.
        #[test]
        fn url_round_trips_through_the_redis_crate(
            addr in prop_oneof![
                "[a-z0-9]([a-z0-9.-]{0,20}[a-z0-9])?".prop_map(|h| Addr::Tcp { host: h, port: 1 }),
                any::<std::net::Ipv4Addr>().prop_map(|ip| Addr::Tcp { host: routable(ip.into()), port: 1 }),
                any::<std::net::Ipv6Addr>().prop_map(|ip| Addr::Tcp { host: routable(ip.into()), port: 1 }),
                made_of(NASTY, 12).prop_map(|p| Addr::Unix(unix_path(&p))),
                ".{0,30}".prop_map(|p| Addr::Unix(unix_path(&p))),
            ],
            port in 1u16..,
            // parse_server makes empty credentials None.
            username in prop::option::of(credential()),
            password in prop::option::of(credential()),
            db in prop::option::of(0..=i64::MAX),
        ) {
            let addr = match addr {
                Addr::Tcp { host, .. } => Addr::Tcp { host, port },
                a => a,
            };
            let cfg = ServerCfg { addr: addr.clone(), username, password, db, tls: Tls::default() };
            let client = redis::Client::open(url(&cfg).as_str());
            prop_assert!(client.is_ok(), "{:?}", client.err());
            let client = client.unwrap();
            let info = client.get_connection_info();
            match (&addr, info.addr()) {
                (Addr::Tcp { host, port }, redis::ConnectionAddr::Tcp(h, p)) => {
                    prop_assert_eq!(h, host);
                    prop_assert_eq!(p, port);
                }
                (Addr::Unix(path), redis::ConnectionAddr::Unix(p)) => {
                    prop_assert_eq!(p, std::path::Path::new(path));
                }
                (a, b) => prop_assert!(false, "{a:?} became {b:?}"),
            }
            let s = info.redis_settings();
            let (want_user, want_pass) = match (&cfg.username, &cfg.password) {
                (Some(u), Some(p)) => (Some(u.as_str()), Some(p.as_str())),
                (Some(p), None) | (None, Some(p)) => (None, Some(p.as_str())),
                (None, None) => (None, None),
            };
            prop_assert_eq!(s.username(), want_user);
            prop_assert_eq!(s.password(), want_pass);
            prop_assert_eq!(s.db(), db.unwrap_or(0));
        }
    }
}
