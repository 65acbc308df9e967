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
/// module splits them: the last `:` separates the port), the address of
/// RedisServer (parameter 1): see [`parse_addr_with`].
pub fn parse_addr(text: &str, warnings: &mut Vec<String>) -> Result<Addr, String> {
    parse_addr_with(text, DEFAULT_PORT, "the address (parameter 1)", warnings)
}

/// Sentinels listen on 26379 by default.
pub const SENTINEL_DEFAULT_PORT: u16 = 26379;

/// The port of `host:port` as the C module reads it (`atoi`: leading
/// white space, a sign, the digits up to the first other character), and
/// whether it was written as a plain port (digits, 1 to 65535).
fn atoi_port(text: &str) -> (i64, bool) {
    let t = text.trim_start_matches([' ', '\t', '\n', '\x0b', '\x0c', '\r']);
    let (neg, digits) = match t.as_bytes().first() {
        Some(b'-') => (true, &t[1..]),
        Some(b'+') => (false, &t[1..]),
        _ => (false, t),
    };
    let n = digits
        .bytes()
        .take_while(u8::is_ascii_digit)
        .fold(0i64, |n, d| {
            n.saturating_mul(10).saturating_add(i64::from(d - b'0'))
        });
    let n = if neg { -n } else { n };
    let plain = !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit());
    (n, plain && (1..=65535).contains(&n))
}

/// Like [`parse_addr`], with another default port; `what` names the word
/// in messages (which never contain it: it may be a misplaced
/// credential).  A word with `@` or a `/` (other than a unix socket path)
/// is refused: a URL with a password in it is not an address.  Anything
/// else the C module accepts is accepted as it reads it, with a warning
/// when no connection can work: a port that is not a number from 1 to
/// 65535 (`atoi`; an unusable one becomes 0, which no connection reaches),
/// an empty host, an unclosed `[`.
pub fn parse_addr_with(
    text: &str,
    default_port: u16,
    what: &str,
    warnings: &mut Vec<String>,
) -> Result<Addr, String> {
    if text.starts_with('/') {
        return Ok(Addr::Unix(text.to_string()));
    }
    if text.contains('@') || text.contains('/') {
        return Err(format!(
            "{what} holds '{}': a URL is not an address (write host[:port], and the user \
             name and password as parameters of their own)",
            if text.contains('@') { '@' } else { '/' }
        ));
    }
    let mut port_of = |p: &str| -> u16 {
        let (n, plain) = atoi_port(p);
        if plain {
            return n as u16;
        }
        match u16::try_from(n) {
            Ok(n) if n > 0 => {
                warnings.push(format!(
                    "the port of {what} is not a plain number: taken as {n}, as the C module does"
                ));
                n
            }
            _ => {
                warnings.push(format!(
                    "the port of {what} is not a number from 1 to 65535: no connection will work"
                ));
                0
            }
        }
    };
    let (host, port) = match text.rfind(':') {
        Some(i) if text.starts_with('[') => {
            if i > 0 && text.as_bytes()[i - 1] == b']' {
                (&text[1..i - 1], port_of(&text[i + 1..]))
            } else if text.len() > 1 && text.ends_with(']') {
                (&text[1..text.len() - 1], default_port)
            } else {
                (text, default_port)
            }
        }
        Some(i) => (&text[..i], port_of(&text[i + 1..])),
        None => (text, default_port),
    };
    if host.is_empty() {
        warnings.push(format!("{what} has no host: no connection will work"));
    } else if host.starts_with('[') || host.ends_with(']') {
        warnings.push(format!(
            "{what} is not a valid [IPv6] address: no connection will work"
        ));
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
/// counting from 1).  A word that is not an option is ignored with a
/// warning in `warnings` (as 1.3.7's C module ignored every word after the
/// db index), named by its position only: it may be a misplaced password.
pub fn parse_tls(args: &[String], first: usize, warnings: &mut Vec<String>) -> Result<Tls, String> {
    let mut tls = Tls::default();
    for (i, a) in args.iter().enumerate() {
        if !is_tls_option(a) {
            warnings.push(format!(
                "parameter {} ignored: it is neither a user name, password or db index nor \
                 an ssl:, ssl-ca:, ssl-cert: or ssl-key: option",
                first + i
            ));
            continue;
        }
        apply_tls_option(&mut tls, a)?;
    }
    Ok(tls)
}

/// A db index, parameter number `param`: one that is not a number from 0
/// up, which the C module hands to SELECT (which fails), is kept as -1,
/// which fails likewise, with a warning (not echoed: with a word too many,
/// a password with a space?, it may be part of a credential).
pub fn parse_db_index(word: &str, param: usize, warnings: &mut Vec<String>) -> i64 {
    word.parse::<i64>()
        .ok()
        .filter(|n| *n >= 0)
        .unwrap_or_else(|| {
            warnings.push(format!(
                "the database index (parameter {param}) is not a number from 0 up: SELECT \
                 will fail, so no connection will work"
            ));
            -1
        })
}

/// The most words RedisServer uses: server, user name, password, db index
/// and the four options.
const SERVER_WORDS: usize = 8;

/// `RedisServer server [username] [password] [db-index] [ssl:...]...`
///
/// As in the C module, the words after the server up to the first option
/// are the user name, password and db index, and an empty word (`""`)
/// leaves one out; unlike the C module, which took any word with a `:` or
/// an `ssl` prefix for an option (and ignored it: `alice pa:ss` connected
/// without the password), only the known option prefixes make an option.
/// What the C module accepts and ignores (words after the options that are
/// none; more than eight words) is ignored with a warning in `warnings`,
/// and a db index that is not a number, which the C module hands to
/// SELECT (which fails), is kept as -1, which fails likewise.  No message
/// contains a credential.
pub fn parse_server(args: &[String], warnings: &mut Vec<String>) -> Result<ServerCfg, String> {
    let Some(first) = args.first() else {
        return Err("missing parameters".into());
    };
    let addr = parse_addr(first, warnings)?;
    let mut positional: Vec<Option<String>> = Vec::new();
    let mut idx = 1;
    while idx < args.len() && idx <= 3 && !is_tls_option(&args[idx]) {
        let a = &args[idx];
        positional.push((!a.is_empty()).then(|| a.clone()));
        idx += 1;
    }
    let tls = parse_tls(&args[idx..args.len().min(SERVER_WORDS)], idx + 1, warnings)?;
    if args.len() > SERVER_WORDS {
        warnings.push(format!(
            "parameters {} to {} ignored: it takes at most {SERVER_WORDS}",
            SERVER_WORDS + 1,
            args.len()
        ));
    }
    let username = positional.first().cloned().flatten();
    let password = positional.get(1).cloned().flatten();
    // Not echoed: with a word too many (a password with a space?) it may
    // be part of a credential.
    let db = positional
        .get(2)
        .cloned()
        .flatten()
        .map(|d| parse_db_index(&d, 4, warnings));
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
/// (a Sentinel may be called `sentinel-ssl`), and options may stand
/// anywhere.  After `master name` only options may follow: the C module
/// takes `master name` only as the last two words (before any option it
/// ignores them, and resolves both as Sentinels), and a word there may be a
/// misplaced password, so it is refused, named by its position.  A
/// Sentinel the C module cannot use (it resolves each at once and ignores
/// those it cannot, `master` without a name too) is ignored with a
/// warning: a unix socket path, a port that is not a number from 1 to
/// 65535.  `None` when none is left (the C module then has no Sentinels).
pub fn parse_sentinel(
    args: &[String],
    warnings: &mut Vec<String>,
) -> Result<Option<SentinelCfg>, String> {
    if args.is_empty() {
        return Err("missing parameters".into());
    }
    let mut sentinels = Vec::new();
    let mut master = None;
    let mut tls = Tls::default();
    let mut i = 0;
    while i < args.len() {
        let a = &args[i];
        if is_tls_option(a) {
            apply_tls_option(&mut tls, a)?;
        } else if master.is_some() {
            return Err(format!(
                "parameter {} follows 'master NAME', where only ssl:, ssl-ca:, ssl-cert: and \
                 ssl-key: options may (the Sentinels come first)",
                i + 1
            ));
        } else if a.eq_ignore_ascii_case("master") {
            match args.get(i + 1) {
                Some(name) => {
                    master = Some(name.clone());
                    i += 1;
                }
                None => warnings.push(format!(
                    "parameter {} ('master' without a name) ignored",
                    i + 1
                )),
            }
        } else {
            let what = format!("Sentinel {} (parameter {})", sentinels.len() + 1, i + 1);
            let mut w = Vec::new();
            match parse_addr_with(a, SENTINEL_DEFAULT_PORT, &what, &mut w)? {
                Addr::Unix(_) => warnings.push(format!(
                    "{what} ignored: a Sentinel has a TCP address, not a unix socket path"
                )),
                Addr::Tcp { port: 0, .. } => warnings.push(format!(
                    "{what} ignored: its port is not a number from 1 to 65535"
                )),
                addr => {
                    warnings.extend(w);
                    sentinels.push(addr);
                }
            }
        }
        i += 1;
    }
    if sentinels.is_empty() {
        warnings.push("no usable Sentinel: RedisSentinel ignored".into());
        return Ok(None);
    }
    Ok(Some(SentinelCfg {
        sentinels,
        master,
        tls,
    }))
}

/// A millisecond value of RedisTimeouts as the C module reads it
/// (`strtoul`: leading white space, a sign, decimal digits to the end; an
/// empty word is 0; a negative one wraps around).  Values above
/// [`MAX_TIMEOUT_MS`] (a negative one, too: the C module waits for ever)
/// are taken as that, with a warning.
pub fn parse_timeout(text: &str, what: &str, warnings: &mut Vec<String>) -> Result<u64, String> {
    let bad = || format!("badly formatted {what} timeout value: {text}");
    let t = text.trim_start_matches([' ', '\t', '\n', '\x0b', '\x0c', '\r']);
    let (neg, digits) = match t.as_bytes().first() {
        Some(b'-') => (true, &t[1..]),
        Some(b'+') => (false, &t[1..]),
        _ => (false, t),
    };
    if text.is_empty() {
        warnings.push(format!(
            "the {what} timeout is empty: taken as 0, as the C module does"
        ));
        return Ok(0);
    }
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    let n = digits.parse::<u64>().ok();
    match n {
        Some(0) => Ok(0),
        Some(n) if !neg && n <= MAX_TIMEOUT_MS => Ok(n),
        _ => {
            warnings.push(format!(
                "the {what} timeout is {}: taken as {MAX_TIMEOUT_MS} ms (a day)",
                if neg { "negative" } else { "more than a day" }
            ));
            Ok(MAX_TIMEOUT_MS)
        }
    }
}

/// The longest RedisTimeouts value: a day.
pub const MAX_TIMEOUT_MS: u64 = 86_400_000;

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

    fn pa(text: &str) -> Result<Addr, String> {
        parse_addr(text, &mut Vec::new())
    }

    fn ps(args: &[String]) -> Result<ServerCfg, String> {
        parse_server(args, &mut Vec::new())
    }

    /// The Sentinels, or an error (also for none left).
    fn pse(args: &[String]) -> Result<SentinelCfg, String> {
        parse_sentinel(args, &mut Vec::new())?.ok_or_else(|| "none".into())
    }

    #[test]
    fn addresses() {
        let tcp = |h: &str, p| Addr::Tcp {
            host: h.into(),
            port: p,
        };
        assert_eq!(pa("127.0.0.1").unwrap(), tcp("127.0.0.1", 6379));
        assert_eq!(pa("redis:7000").unwrap(), tcp("redis", 7000));
        assert_eq!(pa("[::1]").unwrap(), tcp("::1", 6379));
        assert_eq!(pa("[::1]:7001").unwrap(), tcp("::1", 7001));
        assert_eq!(pa("/run/r.sock").unwrap(), Addr::Unix("/run/r.sock".into()));
        // What the C module accepts, with a warning when nothing can work:
        // the port as atoi reads it (0 when unusable), the host as given.
        for (text, want, warned) in [
            ("host:6379x", tcp("host", 6379), true),
            ("host:+7", tcp("host", 7), true),
            ("host:notaport", tcp("host", 0), true),
            ("host:0", tcp("host", 0), true),
            ("host:-1", tcp("host", 0), true),
            ("host:70000", tcp("host", 0), true),
            ("[::1", tcp("[::1", 6379), true),
            ("[::1]x", tcp("[::1]x", 6379), true),
            (":6379", tcp("", 6379), true),
            ("host:65535", tcp("host", 65535), false),
        ] {
            let mut w = Vec::new();
            assert_eq!(parse_addr(text, &mut w), Ok(want), "{text}");
            assert_eq!(!w.is_empty(), warned, "{text}: {w:?}");
            assert!(w.iter().all(|m| m.contains("parameter 1")), "{w:?}");
        }
        // A URL (a password in it) is refused, without echoing it.
        for text in [
            "redis://alice:UrlSecret99@127.0.0.1:6379",
            "alice:UrlSecret99@127.0.0.1",
            "alice:UrlSecret99@127.0.0.1:6379",
            "host/UrlSecret99",
        ] {
            let e = pa(text).unwrap_err();
            assert!(
                !e.contains("UrlSecret99") && e.contains("parameter 1"),
                "{e}"
            );
        }
    }

    #[test]
    fn server_args() {
        let c = ps(&s(&["h:1"])).unwrap();
        assert_eq!((c.username, c.password, c.db), (None, None, None));
        let c = ps(&s(&["h:1", "pw"])).unwrap();
        assert_eq!(c.username.as_deref(), Some("pw"));
        assert_eq!(url(&c), "redis://:pw@h:1");
        let c = ps(&s(&["h:1", "bob", "s3cr/t", "2"])).unwrap();
        assert_eq!(url(&c), "redis://bob:s3cr%2Ft@h:1/2");
        let c = ps(&s(&["h:1", "", "pw", "3"])).unwrap();
        assert_eq!(url(&c), "redis://:pw@h:1/3");
        let c = ps(&s(&["/tmp/r.sock", "", "", "4"])).unwrap();
        assert_eq!(url(&c), "redis+unix:///tmp/r.sock?db=4");
        let c = ps(&s(&["[::1]:5", "ssl:true", "ssl-ca:/ca.pem"])).unwrap();
        assert!(c.tls.enabled);
        assert_eq!(c.tls.ca.as_deref(), Some("/ca.pem"));
        assert_eq!(url(&c), "rediss://[::1]:5");
        assert!(ps(&s(&["h", "ssl:maybe"])).is_err());
        // What the C module ignores is ignored, with a warning; a db index
        // that is not one fails SELECT, as in the C module.
        for (args, db) in [
            (&["h", "u", "p", "x"][..], Some(-1)),
            (&["h", "u", "p", "-1"], Some(-1)),
            (&["h", "u", "p", "1", "extra"], Some(1)),
            (&["h", "u", "p", "ssl:on", "extra"], None),
            (&["h", "u", "p", "1", "ssl:on", "a", "b", "c", "d"], Some(1)),
        ] {
            let mut w = Vec::new();
            let c = parse_server(&s(args), &mut w).unwrap();
            assert_eq!(c.db, db, "{args:?}");
            assert_eq!(c.password.as_deref(), Some("p"));
            assert!(!w.is_empty(), "{args:?}");
        }
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
            let c = ps(&s(&["127.0.0.1:6379", user, pass, "ssl:on"])).unwrap();
            assert_eq!(c.username.as_deref(), Some(user));
            assert_eq!(c.password.as_deref(), Some(pass), "{pass}");
            assert!(c.tls.enabled);
            let c = ps(&s(&["127.0.0.1:6379", user, pass, "2"])).unwrap();
            assert_eq!(c.password.as_deref(), Some(pass), "{pass}");
            assert_eq!(c.db, Some(2));
            // One credential: a password.
            let c = ps(&s(&["h", pass])).unwrap();
            assert_eq!(url(&c), format!("redis://:{}@h:6379", pct(pass)));
        }
        // The known prefixes are options, wherever they stand.
        let c = ps(&s(&["h", "u", "ssl-ca:/ca.pem"])).unwrap();
        assert_eq!((c.password, c.tls.ca.as_deref()), (None, Some("/ca.pem")));
    }

    /// No error or warning names a credential (they go to stderr and the
    /// system log).
    #[test]
    fn errors_never_echo_credentials() {
        for args in [
            &["h", "alice", "pa:ss", "notanumber"][..],
            &["h", "alice", "pa ss", "2", "more"],
            &["h", "alice", "secret", "ssl:yes", "secret2"],
            &["h", "alice", "secret", "ssl:secret3"],
            &["h:secret4", "alice", "secret"],
            &["secret5@h", "alice"],
        ] {
            let mut w = Vec::new();
            let r = parse_server(&s(args), &mut w);
            let mut all = w.join("\n");
            if let Err(e) = r {
                all.push_str(&e);
            }
            assert!(!all.is_empty(), "{args:?}");
            for word in &args[1..] {
                let word = word.trim_start_matches("ssl:");
                assert!(!all.contains(word), "{all:?} contains {word:?}");
            }
            assert!(
                !all.contains("secret4") && !all.contains("secret5"),
                "{all}"
            );
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
            let cfg = ps(&s(&[path, "", "pw", "2"])).unwrap();
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
        let c = pse(&s(&["a", "b:1", "master", "mymaster"])).unwrap();
        assert_eq!(c.sentinels.len(), 2);
        assert_eq!(
            c.sentinels[0],
            Addr::Tcp {
                host: "a".into(),
                port: 26379
            }
        );
        assert_eq!(
            pse(&s(&["[::1]"])).unwrap().sentinels[0],
            Addr::Tcp {
                host: "::1".into(),
                port: 26379
            }
        );
        assert_eq!(c.master.as_deref(), Some("mymaster"));
        assert!(parse_sentinel(&s(&[]), &mut Vec::new()).is_err());
        // A host name with an `ssl` prefix is a Sentinel; options anywhere.
        let c = pse(&s(&["sslhost", "ssl:on", "b", "master", "ssl:m"])).unwrap();
        assert_eq!(c.sentinels.len(), 2);
        assert_eq!(c.master.as_deref(), Some("ssl:m"));
        assert!(c.tls.enabled);
        let e = pse(&s(&["a", "ssl:s3cr3t"])).unwrap_err();
        assert!(!e.contains("s3cr3t"), "{e}");
        // What the C module ignores (it resolves every word at once and
        // leaves out those it cannot) is ignored, with a warning.
        for (args, left) in [
            (&["master"][..], 0),
            (&["h", "master"], 1),
            (&["/tmp/s.sock", "h"], 1),
            (&["h:bad", "h:2"], 1),
            (&["h:0"], 0),
        ] {
            let mut w = Vec::new();
            let c = parse_sentinel(&s(args), &mut w).unwrap();
            assert_eq!(c.map_or(0, |c| c.sentinels.len()), left, "{args:?}");
            assert!(!w.is_empty(), "{args:?}");
        }
        // After `master NAME` only options: a word there (a misplaced
        // password?) is refused, by its position.
        for args in [
            &["127.0.0.1:26379", "master", "mymaster", "SentSecret77"][..],
            &["master", "m", "127.0.0.1"],
            &["h", "master", "m", "ssl:on", "SentSecret77"],
        ] {
            let e = pse(&s(args)).unwrap_err();
            assert!(
                e.contains("parameter") && !e.contains("SentSecret77"),
                "{e}"
            );
        }
        let e = pse(&s(&["redis://u:SentSecret77@h"])).unwrap_err();
        assert!(!e.contains("SentSecret77"), "{e}");
    }

    #[test]
    fn timeouts_as_strtoul_reads_them() {
        let t = |text: &str| {
            let mut w = Vec::new();
            (parse_timeout(text, "connect", &mut w), w.len())
        };
        assert_eq!(t("500"), (Ok(500), 0));
        assert_eq!(t("+5"), (Ok(5), 0));
        assert_eq!(t(" 5"), (Ok(5), 0));
        assert_eq!(t("0"), (Ok(0), 0));
        assert_eq!(t("-0"), (Ok(0), 0));
        assert_eq!(t(""), (Ok(0), 1));
        assert_eq!(t("-1"), (Ok(MAX_TIMEOUT_MS), 1));
        assert_eq!(t("86400001"), (Ok(MAX_TIMEOUT_MS), 1));
        assert_eq!(t("99999999999999999999"), (Ok(MAX_TIMEOUT_MS), 1));
        for bad in ["5s", "5 ", "+", " ", "x", "0x10", "1.5"] {
            assert!(t(bad).0.is_err(), "{bad}");
        }
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

    /// A host as `host[:port]` gives it back: no `:`, `/`, `@`, `[` or
    /// `]`, not empty.
    fn plain_host() -> impl Strategy<Value = String> {
        "[^:/@\\[\\]]{1,31}"
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
            let mut w = Vec::new();
            match parse_addr_with(&text, default, "the address", &mut w) {
                Ok(Addr::Unix(p)) => {
                    prop_assert!(text.starts_with('/'));
                    prop_assert_eq!(p, text);
                }
                Ok(Addr::Tcp { host, port }) => {
                    prop_assert!(!text.contains('@') && !text.contains('/'));
                    prop_assert!(text.contains(&host));
                    if w.is_empty() {
                        prop_assert!(!host.is_empty() && port > 0);
                    }
                    if port == 0 {
                        prop_assert!(!w.is_empty());
                    }
                }
                Err(e) => {
                    prop_assert!(text.contains('@') || text.contains('/'), "{e}");
                    prop_assert!(e.contains("the address"), "{e}");
                }
            }
        }

        /// Nothing said about an address contains it (marked with `§`,
        /// which no message contains): it may be a misplaced password.
        #[test]
        fn addr_messages_never_echo_it(text in text_or(ADDR_PIECES, 6)) {
            let text = format!("§{text}");
            let mut w = Vec::new();
            let r = parse_addr_with(&text, 1, "the address", &mut w);
            prop_assert!(w.iter().all(|m| !m.contains('§')), "{w:?}");
            prop_assert!(r.as_ref().err().is_none_or(|e| !e.contains('§')), "{r:?}");
        }

        #[test]
        fn host_port_round_trip(host in plain_host(), port in 1u16.., default in 1u16..) {
            let tcp = |port| Addr::Tcp { host: host.clone(), port };
            let mut w = Vec::new();
            prop_assert_eq!(parse_addr_with(&format!("{host}:{port}"), default, "a", &mut w), Ok(tcp(port)));
            prop_assert_eq!(parse_addr_with(&host, default, "a", &mut w), Ok(tcp(default)));
            prop_assert!(w.is_empty(), "{w:?}");
        }

        #[test]
        fn bracketed_host_round_trip(host in "[^\\]/@\\[]{1,30}", port in 1u16..) {
            let tcp = |port| Addr::Tcp { host: host.clone(), port };
            let mut w = Vec::new();
            prop_assert_eq!(parse_addr(&format!("[{host}]:{port}"), &mut w), Ok(tcp(port)));
            prop_assert!(w.is_empty(), "{w:?}");
            // Without a port, the C module takes the brackets off only when
            // there is a `:` (an IPv6 address); else the word is the host.
            let bare = format!("[{host}]");
            if host.contains(':') {
                prop_assert_eq!(parse_addr(&bare, &mut w), Ok(tcp(DEFAULT_PORT)));
                prop_assert!(w.is_empty(), "{w:?}");
            } else {
                prop_assert_eq!(parse_addr(&bare, &mut w), Ok(Addr::Tcp { host: bare.clone(), port: DEFAULT_PORT }));
                prop_assert_eq!(w.len(), 1);
                w.clear();
            }
            // As the C module reads them, with a warning.
            let (zero, junk) = (format!("[{host}]:0"), format!("[{host}]x"));
            prop_assert_eq!(parse_addr(&zero, &mut w), Ok(tcp(0)));
            prop_assert_eq!(w.len(), 1);
            prop_assert_eq!(parse_addr(&junk, &mut w), Ok(Addr::Tcp { host: junk.clone(), port: DEFAULT_PORT }));
            prop_assert_eq!(w.len(), 2);
        }

        #[test]
        fn unix_path_is_kept(path in "/.*") {
            prop_assert_eq!(parse_addr(&path, &mut Vec::new()), Ok(Addr::Unix(path.clone())));
        }

        #[test]
        /// strtoul's reading: white space, a sign, digits to the end.
        #[test]
        fn timeout_accepts_what_strtoul_reads(
            text in text_or(&["0", "1", "9", "-", "+", " ", "\t", "a", "86400000", "18446744073709551615", "18446744073709551616"], 4),
        ) {
            let mut w = Vec::new();
            let r = parse_timeout(&text, "connect", &mut w);
            let t = text.trim_start_matches([' ', '\t']);
            let digits = t.strip_prefix(['+', '-']).unwrap_or(t);
            let number = !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit());
            match r {
                Ok(n) => {
                    prop_assert!(text.is_empty() || number, "{text:?}");
                    prop_assert!(n <= MAX_TIMEOUT_MS);
                    let exact = digits.parse::<u64>().ok().filter(|v| *v <= MAX_TIMEOUT_MS && (*v == 0 || !t.starts_with('-')));
                    prop_assert_eq!(w.is_empty(), exact.is_some(), "{:?} {:?}", text, w);
                    if let Some(v) = exact {
                        prop_assert_eq!(n, v);
                    }
                }
                Err(e) => {
                    prop_assert!(!text.is_empty() && !number, "{text:?}");
                    prop_assert!(e.contains("connect") && e.ends_with(&text), "{e}");
                }
            }
        }

        #[test]
        fn timeout_round_trip(n in any::<u64>()) {
            let mut w = Vec::new();
            prop_assert_eq!(parse_timeout(&n.to_string(), "IO", &mut w), Ok(n.min(MAX_TIMEOUT_MS)));
            prop_assert_eq!(w.is_empty(), n <= MAX_TIMEOUT_MS);
        }

        #[test]
        fn tls_never_panics(args in args()) {
            let known = |a: &String| {
                ["ssl-ca:", "ssl-cert:", "ssl-key:"].iter().any(|p| a.starts_with(p))
                    || a.strip_prefix("ssl:").is_some_and(|v| crate::host::conf::parse_bool(v).is_some())
            };
            let mut w = Vec::new();
            let ok = parse_tls(&args, 1, &mut w).is_ok();
            prop_assert_eq!(ok, args.iter().all(|a| !is_tls_option(a) || known(a)));
            if ok {
                prop_assert_eq!(w.len(), args.iter().filter(|a| !is_tls_option(a)).count());
            }
        }

        #[test]
        fn tls_round_trip(t in tls(), write_false in any::<bool>()) {
            prop_assert_eq!(parse_tls(&tls_args(&t, write_false), 1, &mut Vec::new()), Ok(t));
        }

        #[test]
        fn server_never_panics(args in args()) {
            if let Ok(cfg) = parse_server(&args, &mut Vec::new()) {
                prop_assert_eq!(Ok(cfg.addr), parse_addr(&args[0], &mut Vec::new()));
                prop_assert!(cfg.db.is_none_or(|d| d >= -1));
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
            let mut w = Vec::new();
            prop_assert_eq!(parse_server(&args, &mut w), Ok(want));
            prop_assert!(w.is_empty(), "{w:?}");
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
            let mut w = Vec::new();
            if let Err(e) = parse_server(&args, &mut w) {
                prop_assert!(!e.contains('§'), "{e}");
            }
            prop_assert!(w.iter().all(|m| !m.contains('§')), "{w:?}");
        }

        #[test]
        fn sentinel_never_panics(args in args()) {
            let mut w = Vec::new();
            match parse_sentinel(&args, &mut w) {
                Ok(Some(cfg)) => {
                    prop_assert!(!cfg.sentinels.is_empty());
                    let usable = cfg.sentinels.iter().all(|a| matches!(a, Addr::Tcp { port, .. } if *port > 0));
                    prop_assert!(usable);
                }
                Ok(None) => prop_assert!(!w.is_empty()),
                Err(_) => {}
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
            tls_at in any::<prop::sample::Index>(),
        ) {
            let mut args: Vec<String> = hosts
                .iter()
                .map(|(h, p)| p.map_or(h.clone(), |p| format!("{h}:{p}")))
                .collect();
            let mut master_at = args.len();
            if let Some((name, at)) = &master {
                master_at = at.index(args.len() + 1);
                args.insert(master_at, name.clone());
                args.insert(master_at, "Master".into());
            }
            // Options may stand anywhere.
            for (k, o) in tls_args(&tls, false).into_iter().enumerate() {
                let at = tls_at.index(args.len() + 1);
                let at = if master.is_some() && at == master_at + 1 { at + 1 } else { at };
                args.insert(at.min(args.len()), o);
                if at <= master_at {
                    master_at += 1;
                }
                let _ = k;
            }
            let want = SentinelCfg {
                sentinels: hosts
                    .iter()
                    .map(|(h, p)| Addr::Tcp { host: h.clone(), port: p.unwrap_or(SENTINEL_DEFAULT_PORT) })
                    .collect(),
                master: master.as_ref().map(|m| m.0.clone()),
                tls,
            };
            let mut w = Vec::new();
            let r = parse_sentinel(&args, &mut w);
            if master.is_some() && master_at + 2 < args.len()
                && !args[master_at + 2..].iter().all(|a| is_tls_option(a))
            {
                // A Sentinel after `master NAME`: refused.
                prop_assert!(r.is_err(), "{args:?}: {r:?}");
            } else {
                prop_assert_eq!(r, Ok(Some(want)));
                prop_assert!(w.is_empty(), "{w:?}");
            }
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
