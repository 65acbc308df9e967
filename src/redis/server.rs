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

fn is_option(text: &str) -> bool {
    text.contains(':') || text.starts_with("ssl")
}

/// Parse the TLS options starting at `args`.
pub fn parse_tls(args: &[String]) -> Result<Tls, String> {
    let mut tls = Tls::default();
    for a in args {
        if let Some(v) = a.strip_prefix("ssl:") {
            tls.enabled = crate::host::conf::parse_bool(v)
                .ok_or_else(|| format!("use SSL '{v}': expected Boolean value"))?;
        } else if let Some(v) = a.strip_prefix("ssl-ca:") {
            tls.ca = Some(v.to_string());
        } else if let Some(v) = a.strip_prefix("ssl-cert:") {
            tls.cert = Some(v.to_string());
        } else if let Some(v) = a.strip_prefix("ssl-key:") {
            tls.key = Some(v.to_string());
        } else {
            return Err(format!("unknown parameter '{a}'"));
        }
    }
    Ok(tls)
}

/// `RedisServer server [username] [password] [db-index] [ssl:...]...`
pub fn parse_server(args: &[String]) -> Result<ServerCfg, String> {
    let Some(first) = args.first() else {
        return Err("wrong number of parameters".into());
    };
    let addr = parse_addr(first)?;
    let mut positional: Vec<Option<String>> = Vec::new();
    let mut idx = 1;
    while idx < args.len() && idx <= 3 && !is_option(&args[idx]) {
        let a = &args[idx];
        positional.push((!a.is_empty()).then(|| a.clone()));
        idx += 1;
    }
    let tls = parse_tls(&args[idx..])?;
    let username = positional.first().cloned().flatten();
    let password = positional.get(1).cloned().flatten();
    let db = match positional.get(2).cloned().flatten() {
        Some(d) => Some(
            d.parse::<i64>()
                .ok()
                .filter(|n| *n >= 0)
                .ok_or_else(|| format!("invalid database index '{d}'"))?,
        ),
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
pub fn parse_sentinel(args: &[String]) -> Result<SentinelCfg, String> {
    let mut sentinels = Vec::new();
    let mut master = None;
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
        if a.starts_with("ssl") {
            break;
        }
        match parse_addr_with(a, SENTINEL_DEFAULT_PORT)? {
            Addr::Unix(_) => return Err(format!("Sentinel '{a}' must be a TCP address")),
            addr => sentinels.push(addr),
        }
        i += 1;
    }
    if sentinels.is_empty() {
        return Err("wrong number of parameters".into());
    }
    let tls = parse_tls(&args[i..])?;
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
            format!("redis+unix://{path}{q}")
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
    }

    #[test]
    fn millis() {
        assert_eq!(parse_millis("500", "connect"), Ok(500));
        assert!(parse_millis("5s", "connect").is_err());
        assert!(parse_millis("-1", "IO").is_err());
    }
}
