//! The Redis sink of one session process: a lazily opened connection, a
//! bounded backlog kept across outages, back-off after failures, and one
//! pipeline (one round trip) per flush.
//!
//! Nothing here runs in the master process: the sink is created on the
//! first event of a session.  Opening a connection (resolving the name,
//! once per session; connecting to each address; TLS handshake; asking the
//! Sentinels; AUTH and SELECT) never takes longer than the connect timeout
//! in total, and reading the replies and sending the events of one flush
//! never longer than the io timeout together: no flush waits longer than
//! connect + io timeout.  After a failure, no new attempt is made before
//! the back-off delay has passed (so a dead Redis costs nothing per
//! command), and events wait in the backlog, delivered in order later.

use super::server::{self, Addr, SentinelCfg, ServerCfg};
use std::collections::VecDeque;
use std::io::{Read, Write};
use std::net::{IpAddr, SocketAddr, TcpStream};
use std::os::unix::net::UnixStream;
use std::time::{Duration, Instant};

/// First delay after a failure; doubled on each further failure.
pub const BACKOFF_MIN: Duration = Duration::from_millis(1000);
pub const BACKOFF_MAX: Duration = Duration::from_secs(30);
/// How long a session keeps trying to deliver its backlog when it ends.
pub const EXIT_GRACE: Duration = Duration::from_secs(3);
/// Events kept while Redis is unreachable.
pub const BACKLOG_MAX: usize = 10_000;
/// Items per pipeline.
const CHUNK: usize = 512;

#[derive(Clone, Debug)]
pub struct Settings {
    pub server: ServerCfg,
    /// PEM contents of ssl-ca / ssl-cert / ssl-key, read as root when the
    /// session starts.
    pub tls_files: TlsFiles,
    /// Discover the master through these Sentinels (RedisSentinel).
    pub sentinel: Option<SentinelCfg>,
    /// PEM material of the Sentinels' ssl-* options.
    pub sentinel_tls_files: TlsFiles,
    pub connect_timeout: Duration,
    pub io_timeout: Duration,
    pub no_reconnect: bool,
    pub backlog_max: usize,
}

/// PEM material for TLS connections.
#[derive(Clone, Debug, Default)]
pub struct TlsFiles {
    pub ca: Option<Vec<u8>>,
    pub cert: Option<Vec<u8>>,
    pub key: Option<Vec<u8>>,
    /// The system's CA certificates (DER), for a TLS connection without
    /// `ssl-ca:`; read when the session starts, before any chroot.
    pub system_roots: Vec<Vec<u8>>,
}

pub struct Sink {
    settings: Settings,
    conn: Option<Conn>,
    backlog: VecDeque<(String, String)>,
    /// The first `inflight` backlog events were sent; replies not read yet.
    inflight: usize,
    dropped_unreported: u64,
    retry_at: Option<Instant>,
    backoff: Duration,
    given_up: bool,
    ever_connected: bool,
    resolver: Resolver,
}

/// Redis error text without anything that could hold credentials.
fn err_text(e: &redis::RedisError) -> String {
    if e.is_timeout() {
        return "timed out".into();
    }
    cut(e.to_string(), 200)
}

/// `s` cut to at most `max` bytes, at a character boundary (a cut inside a
/// multi-byte character would panic).
fn cut(mut s: String, max: usize) -> String {
    if s.len() > max {
        let mut end = max;
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        s.truncate(end);
    }
    s
}

impl Sink {
    pub fn new(settings: Settings) -> Sink {
        Sink {
            settings,
            conn: None,
            backlog: VecDeque::new(),
            inflight: 0,
            dropped_unreported: 0,
            retry_at: None,
            backoff: BACKOFF_MIN,
            given_up: false,
            ever_connected: false,
            resolver: Resolver::default(),
        }
    }

    pub fn pending(&self) -> usize {
        self.backlog.len()
    }

    /// Queue `events` (key, JSON payload), dropping the oldest ones beyond
    /// the bound, then try to deliver.  `log` receives RedisLog messages.
    pub fn submit(&mut self, events: Vec<(String, String)>, log: &mut dyn FnMut(String)) {
        for ev in events {
            if self.backlog.len() >= self.settings.backlog_max && self.backlog.len() > self.inflight
            {
                // Drop the oldest event that is not in flight.
                self.backlog.remove(self.inflight);
                self.dropped_unreported += 1;
            }
            self.backlog.push_back(ev);
        }
        self.flush(false, log);
    }

    /// Deliver the backlog.  `force` ignores the back-off (session end).
    pub fn flush(&mut self, force: bool, log: &mut dyn FnMut(String)) {
        if self.dropped_unreported > 0 {
            log(format!(
                "Redis backlog full ({} events): dropped {} oldest event(s)",
                self.settings.backlog_max, self.dropped_unreported
            ));
            self.dropped_unreported = 0;
        }
        if self.backlog.is_empty() {
            return;
        }
        if self.conn.is_none() {
            if self.given_up {
                return;
            }
            if !force && self.retry_at.is_some_and(|t| Instant::now() < t) {
                return;
            }
            match self.connect() {
                Ok(c) => {
                    if self.retry_at.is_some() {
                        log(format!(
                            "reconnected to Redis at {}; delivering {} pending event(s)",
                            server::describe(&self.settings.server),
                            self.backlog.len()
                        ));
                    }
                    self.conn = Some(c);
                    self.ever_connected = true;
                }
                Err(e) => {
                    self.failed(
                        format!(
                            "error connecting to Redis at {}: {e}",
                            server::describe(&self.settings.server)
                        ),
                        log,
                    );
                    return;
                }
            }
        }
        // One io timeout for reading the acknowledgements of what was sent
        // last time (usually already here) and sending the new events.
        self.limit_io();
        if !self.collect(log) {
            return;
        }
        // Send the rest in one pipeline; its replies are read at the next
        // flush (or now, at the end of the session), so a command does not
        // wait for Redis's round trip.
        while !self.backlog.is_empty() {
            let n = self.backlog.len().min(CHUNK);
            let mut pipe = redis::pipe();
            for (key, payload) in self.backlog.iter().take(n) {
                pipe.cmd("RPUSH").arg(key).arg(payload);
            }
            let Some(conn) = self.conn.as_mut() else {
                return;
            };
            if let Err(e) = conn.send(&pipe.get_packed_pipeline()) {
                self.lost(format!("error sending log messages to Redis: {e}"), log);
                return;
            }
            self.inflight = n;
            if !force || !self.collect(log) {
                return;
            }
            self.limit_io();
        }
    }

    /// Nothing on the connection waits past one io timeout from now.
    fn limit_io(&mut self) {
        let io = self.settings.io_timeout.max(Duration::from_millis(1));
        if let Some(c) = self.conn.as_mut() {
            c.limit = Some(Instant::now() + io);
        }
    }

    /// Session end: deliver what is left, and while Redis is unreachable
    /// keep trying for up to `grace` (by now the client has its last reply
    /// and the session's scoreboard slot is free, so nobody waits on this).
    /// Returns how long the extra attempts took, if there were any.
    pub fn finish(&mut self, grace: Duration, log: &mut dyn FnMut(String)) -> Option<Duration> {
        let start = Instant::now();
        self.flush(true, log);
        let mut pause = Duration::from_millis(100);
        let mut retried = false;
        while !self.backlog.is_empty() && !self.given_up && start.elapsed() + pause <= grace {
            std::thread::sleep(pause);
            pause = (pause * 2).min(Duration::from_millis(800));
            retried = true;
            // Only the first failure goes to RedisLog; the caller reports
            // the outcome.
            self.flush(true, &mut |m| {
                if !m.starts_with("error") {
                    log(m)
                }
            });
        }
        retried.then(|| start.elapsed())
    }

    /// Read the replies of the events in flight; `false` if the connection
    /// failed (the events stay queued and are sent again later).
    fn collect(&mut self, log: &mut dyn FnMut(String)) -> bool {
        let mut answered = false;
        while self.inflight > 0 {
            let Some(conn) = self.conn.as_mut() else {
                self.inflight = 0;
                return false;
            };
            match conn.recv() {
                Ok(redis::Value::ServerError(e)) => {
                    let text = match e.details() {
                        Some(d) => format!("{} {d}", e.code()),
                        None => e.code().to_string(),
                    };
                    if is_transient(e.code()) {
                        self.lost(format!("Redis refused the log messages: {text}"), log);
                        return false;
                    }
                    // This event can never be stored (e.g. WRONGTYPE): drop it
                    // rather than block the ones behind it.
                    if let Some((key, _)) = self.backlog.pop_front() {
                        log(format!("error appending log message to '{key}': {text}"));
                    }
                    self.inflight -= 1;
                    answered = true;
                }
                Ok(_) => {
                    self.backlog.pop_front();
                    self.inflight -= 1;
                    answered = true;
                }
                Err(e) => {
                    self.lost(format!("error appending log messages to Redis: {e}"), log);
                    return false;
                }
            }
        }
        // Only an answer ends an outage: a connection that was merely
        // accepted (e.g. by a silent server) must not reset the back-off.
        if answered {
            self.retry_at = None;
            self.backoff = BACKOFF_MIN;
        }
        true
    }

    /// The connection is unusable: drop it; queued events are kept.
    fn lost(&mut self, msg: String, log: &mut dyn FnMut(String)) {
        self.conn = None;
        self.inflight = 0;
        self.failed(msg, log);
    }

    fn failed(&mut self, msg: String, log: &mut dyn FnMut(String)) {
        if self.settings.no_reconnect && self.ever_connected {
            self.given_up = true;
            log(format!("{msg}; RedisOptions NoReconnect: not reconnecting"));
            return;
        }
        log(format!(
            "{msg}; {} event(s) pending, retrying in {} ms",
            self.backlog.len(),
            self.backoff.as_millis()
        ));
        self.retry_at = Some(Instant::now() + self.backoff);
        self.backoff = (self.backoff * 2).min(BACKOFF_MAX);
    }

    /// A new connection: to the master the Sentinels name, or to
    /// RedisServer.  Everything before it is usable — resolving (once per
    /// session), connecting to each address, TLS handshakes, asking the
    /// Sentinels, AUTH and SELECT — shares one deadline: the connect
    /// timeout.
    fn connect(&mut self) -> Result<Conn, String> {
        let Sink {
            settings, resolver, ..
        } = self;
        let deadline = Instant::now() + settings.connect_timeout.max(Duration::from_millis(1));
        let io = settings.io_timeout.max(Duration::from_millis(1));
        let mut cfg = settings.server.clone();
        let mut files = &settings.tls_files;
        if let Some(sentinel) = &settings.sentinel {
            cfg.addr = discover_master(
                sentinel,
                &settings.sentinel_tls_files,
                resolver,
                deadline,
                io,
            )?;
            // As in the core, where one ssl setting covers Sentinels and
            // master: TLS to the Sentinels means TLS to the master too
            // (with RedisServer's ssl-* files if it has TLS of its own).
            if !cfg.tls.enabled && sentinel.tls.enabled {
                cfg.tls = sentinel.tls.clone();
                files = &settings.sentinel_tls_files;
            }
        }
        let mut conn = open(&cfg, files, resolver, deadline, io)?;
        conn.limit = None;
        Ok(conn)
    }
}

/// Time left until `deadline`, or an error if none is.
fn left(deadline: Instant) -> Result<Duration, String> {
    match deadline.checked_duration_since(Instant::now()) {
        Some(d) if !d.is_zero() => Ok(d),
        _ => Err("connect timeout reached".into()),
    }
}

/// Ask each Sentinel in turn for the current master's address (over TLS
/// when RedisSentinel has `ssl:true`).  Each Sentinel gets an equal share
/// of the time left, the master's connection one share too, so a silent
/// first Sentinel can neither use up the deadline nor keep the others from
/// being asked.
fn discover_master(
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

/// Host names resolved in this session (each once; IP addresses need no
/// lookup).
#[derive(Default)]
struct Resolver {
    cache: Vec<((String, u16), Vec<SocketAddr>)>,
}

impl Resolver {
    fn addrs(
        &mut self,
        host: &str,
        port: u16,
        deadline: Instant,
    ) -> Result<Vec<SocketAddr>, String> {
        if let Ok(ip) = host.parse::<IpAddr>() {
            return Ok(vec![SocketAddr::new(ip, port)]);
        }
        if let Some((_, a)) = self.cache.iter().find(|(k, _)| k.0 == host && k.1 == port) {
            return Ok(a.clone());
        }
        let addrs = crate::host::sys::resolve(host, port, left(deadline)?)?;
        self.cache.push(((host.to_string(), port), addrs.clone()));
        Ok(addrs)
    }
}

/// TCP to the first address that answers; each address gets an equal
/// share of the time left (a silent first one does not use it all up).
fn connect_tcp(addrs: &[SocketAddr], deadline: Instant) -> Result<TcpStream, String> {
    let mut errors = Vec::new();
    for (i, a) in addrs.iter().enumerate() {
        let rest = match left(deadline) {
            Ok(r) => r,
            Err(e) => {
                errors.push(e);
                break;
            }
        };
        let share = rest / (addrs.len() - i) as u32;
        match TcpStream::connect_timeout(a, share.max(Duration::from_millis(1))) {
            Ok(s) => return Ok(s),
            Err(e) => errors.push(format!("{a}: {}", io_text(&e))),
        }
    }
    Err(errors.join("; "))
}

/// A connection to `cfg`: connected, TLS handshake done, AUTH and SELECT
/// answered, all before `deadline`; the connection keeps `deadline` as
/// its limit (the caller lifts it).
fn open(
    cfg: &ServerCfg,
    files: &TlsFiles,
    resolver: &mut Resolver,
    deadline: Instant,
    io: Duration,
) -> Result<Conn, String> {
    let sock = match &cfg.addr {
        Addr::Unix(path) => {
            if cfg.tls.enabled {
                return Err("TLS needs a TCP address".into());
            }
            // A local connect: it does not wait for a peer.
            Sock::Unix(UnixStream::connect(path).map_err(|e| io_text(&e))?)
        }
        Addr::Tcp { host, port } => {
            let addrs = resolver.addrs(host, *port, deadline)?;
            let tcp = connect_tcp(&addrs, deadline)?;
            let _ = tcp.set_nodelay(true);
            Sock::Tcp(tcp)
        }
    };
    let sock = TimedSock { sock, deadline };
    let transport = if cfg.tls.enabled {
        let Addr::Tcp { host, .. } = &cfg.addr else {
            return Err("TLS needs a TCP address".into());
        };
        Transport::Tls(Box::new(tls_handshake(host, files, sock)?))
    } else {
        Transport::Plain(sock)
    };
    let mut conn = Conn {
        transport,
        parser: redis::Parser::new(),
        io,
        limit: Some(deadline),
    };
    // AUTH and SELECT in one round trip.
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
    let n = setup.cmd_iter().count();
    if n > 0 {
        conn.send(&setup.get_packed_pipeline())?;
        for _ in 0..n {
            if let redis::Value::ServerError(e) = conn.recv()? {
                // Never echo the command: it holds the password.
                return Err(format!("Redis refused AUTH/SELECT: {:?}", e.code()));
            }
        }
    }
    Ok(conn)
}

/// The TLS handshake over `sock`, before its deadline (checked before every
/// read and write, so a peer trickling bytes cannot stretch it).
fn tls_handshake(
    host: &str,
    files: &TlsFiles,
    sock: TimedSock,
) -> Result<rustls::StreamOwned<rustls::ClientConnection, TimedSock>, String> {
    let config = tls_config(files)?;
    let name = rustls::pki_types::ServerName::try_from(host.to_string())
        .map_err(|e| format!("TLS server name '{host}': {e}"))?;
    let client = rustls::ClientConnection::new(std::sync::Arc::new(config), name)
        .map_err(|e| e.to_string())?;
    let mut stream = rustls::StreamOwned::new(client, sock);
    // The handshake now, so that its errors (and timeouts) show here.
    while stream.conn.is_handshaking() {
        stream
            .conn
            .complete_io(&mut stream.sock)
            .map_err(|e| match e.kind() {
                std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut => {
                    "TLS handshake timed out".to_string()
                }
                _ => format!("TLS handshake: {e}"),
            })?;
    }
    Ok(stream)
}

fn io_text(e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut => "timed out".into(),
        _ => e.to_string(),
    }
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

/// Error codes of a Redis that cannot store anything right now (still
/// loading its data after a restart, a replica after a failover, out of
/// memory until its lists are drained, ...): the
/// event is kept and sent again, unlike errors about the event itself
/// (e.g. WRONGTYPE).
fn is_transient(code: &str) -> bool {
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

enum Sock {
    Tcp(TcpStream),
    Unix(UnixStream),
}

/// A socket whose every read and write waits at most until `deadline`
/// (the socket timeout is set to the time left before each call, so a
/// peer that trickles bytes cannot stretch an operation).
struct TimedSock {
    sock: Sock,
    deadline: Instant,
}

impl TimedSock {
    fn time_left(&self) -> std::io::Result<Duration> {
        match self.deadline.checked_duration_since(Instant::now()) {
            Some(d) if !d.is_zero() => Ok(d),
            _ => Err(std::io::ErrorKind::TimedOut.into()),
        }
    }
}

/// A signal (proftpd's SIGTERM, SIGALRM, SIGCHLD handlers only set a flag)
/// interrupts a socket call that has a timeout even under SA_RESTART: that
/// is no error, so the call is made again with the time still left.
/// (Treating it as one made the sink reconnect and send an event twice.)
fn again_on_eintr<T>(mut call: impl FnMut() -> std::io::Result<T>) -> std::io::Result<T> {
    loop {
        match call() {
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            r => return r,
        }
    }
}

impl Read for TimedSock {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        again_on_eintr(|| {
            let t = Some(self.time_left()?);
            match &mut self.sock {
                Sock::Tcp(s) => {
                    s.set_read_timeout(t)?;
                    s.read(buf)
                }
                Sock::Unix(s) => {
                    s.set_read_timeout(t)?;
                    s.read(buf)
                }
            }
        })
    }
}

impl Write for TimedSock {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        again_on_eintr(|| {
            let t = Some(self.time_left()?);
            match &mut self.sock {
                Sock::Tcp(s) => {
                    s.set_write_timeout(t)?;
                    s.write(buf)
                }
                Sock::Unix(s) => {
                    s.set_write_timeout(t)?;
                    s.write(buf)
                }
            }
        })
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// RESP over TCP, a unix socket or TLS (rustls with the ring provider: no
/// libssl in the process, whose mere loading cost every session of the
/// host).  Our own, not the `redis` crate's connection, so that one
/// deadline covers resolving, connecting and the TLS handshake (the crate
/// has a timeout per address and none for the handshake).
enum Transport {
    Plain(TimedSock),
    Tls(Box<rustls::StreamOwned<rustls::ClientConnection, TimedSock>>),
}

struct Conn {
    transport: Transport,
    parser: redis::Parser,
    /// Each write of a command and each read of a reply waits at most this.
    io: Duration,
    /// While the connection is being set up: nothing waits past this.
    limit: Option<Instant>,
}

impl Conn {
    /// The deadline of one operation starting now.
    fn arm(&mut self) {
        let mut d = Instant::now() + self.io;
        if let Some(l) = self.limit {
            d = d.min(l);
        }
        match &mut self.transport {
            Transport::Plain(s) => s.deadline = d,
            Transport::Tls(t) => t.sock.deadline = d,
        }
    }

    fn send(&mut self, bytes: &[u8]) -> Result<(), String> {
        self.arm();
        let r = match &mut self.transport {
            Transport::Plain(s) => s.write_all(bytes),
            Transport::Tls(t) => t.write_all(bytes).and_then(|_| t.flush()),
        };
        r.map_err(|e| io_text(&e))
    }

    /// One command and its reply, converted to `T`.
    fn query<T: redis::FromRedisValue>(&mut self, cmd: &redis::Cmd) -> Result<T, String> {
        self.send(&cmd.get_packed_command())?;
        match self.recv()? {
            redis::Value::ServerError(e) => Err(format!("{:?}", e.code())),
            v => redis::from_redis_value(v).map_err(|e| e.to_string()),
        }
    }

    fn recv(&mut self) -> Result<redis::Value, String> {
        self.arm();
        let Conn {
            transport, parser, ..
        } = self;
        match transport {
            Transport::Plain(s) => parser.parse_value(s),
            Transport::Tls(t) => parser.parse_value(&mut **t),
        }
        .map_err(|e| err_text(&e))
    }
}

/// The rustls client configuration for `f`: the CA certificates of
/// `ssl-ca` (else the system's), and the client certificate if given.
fn tls_config(f: &TlsFiles) -> Result<rustls::ClientConfig, String> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let mut roots = rustls::RootCertStore::empty();
    match &f.ca {
        Some(pem) => {
            for cert in CertificateDer::pem_slice_iter(pem) {
                let cert = cert.map_err(|e| format!("ssl-ca: {e}"))?;
                roots.add(cert).map_err(|e| format!("ssl-ca: {e}"))?;
            }
        }
        None => {
            for der in &f.system_roots {
                let _ = roots.add(CertificateDer::from(der.clone()));
            }
        }
    }
    if roots.is_empty() {
        return Err("no CA certificate to verify the server with".into());
    }
    let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_root_certificates(roots);
    match (&f.cert, &f.key) {
        (Some(cert), Some(key)) => {
            let chain = CertificateDer::pem_slice_iter(cert)
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| format!("ssl-cert: {e}"))?;
            let key = PrivateKeyDer::from_pem_slice(key).map_err(|e| format!("ssl-key: {e}"))?;
            builder
                .with_client_auth_cert(chain, key)
                .map_err(|e| format!("ssl-cert/ssl-key: {e}"))
        }
        _ => Ok(builder.with_no_client_auth()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::redis::server::{Addr, Tls};
    use std::net::TcpListener;

    fn settings(port: u16, max: usize) -> Settings {
        Settings {
            server: ServerCfg {
                addr: Addr::Tcp {
                    host: "127.0.0.1".into(),
                    port,
                },
                username: None,
                password: None,
                db: None,
                tls: Tls::default(),
            },
            tls_files: Default::default(),
            sentinel: None,
            sentinel_tls_files: Default::default(),
            connect_timeout: Duration::from_millis(200),
            io_timeout: Duration::from_millis(200),
            no_reconnect: false,
            backlog_max: max,
        }
    }

    /// A port that accepts connections and never answers.
    fn silent_port() -> u16 {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        std::thread::spawn(move || {
            let mut held = Vec::new();
            for s in l.incoming().flatten() {
                held.push(s);
            }
        });
        port
    }

    /// A port that accepts connections and sends one byte every 100 ms
    /// (a TLS handshake that never ends, each read answered in time).
    fn trickling_port() -> u16 {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        std::thread::spawn(move || {
            for mut s in l.incoming().flatten() {
                std::thread::spawn(move || {
                    // A TLS record header, then its body byte by byte.
                    let mut bytes = [0x16u8, 0x03, 0x03, 0x40, 0x00]
                        .into_iter()
                        .chain(std::iter::repeat(0x02));
                    while s.write_all(&[bytes.next().unwrap()]).is_ok() {
                        std::thread::sleep(Duration::from_millis(100));
                    }
                });
            }
        });
        port
    }

    fn tls_on(s: &mut Settings) {
        s.server.tls.enabled = true;
        // Any CA will do: the handshake never gets that far.
        s.tls_files.system_roots = vec![include_bytes!("testdata/ca.der").to_vec()];
    }

    /// Time one connection attempt.
    fn time_connect(s: Settings) -> (Duration, Result<(), String>, Sink) {
        let mut sink = Sink::new(s);
        let t = Instant::now();
        let r = sink.connect().map(|_| ());
        (t.elapsed(), r, sink)
    }

    const SLACK: Duration = Duration::from_millis(150);

    /// Found in review: the TLS handshake had the io timeout per read, so
    /// a peer sending a byte every 100 ms held the session for ever.
    #[test]
    fn trickling_tls_peer_is_bounded_by_the_connect_timeout() {
        let mut s = settings(trickling_port(), 10);
        s.connect_timeout = Duration::from_millis(400);
        s.io_timeout = Duration::from_millis(300);
        tls_on(&mut s);
        let (took, r, _) = time_connect(s);
        assert!(r.is_err());
        assert!(took < Duration::from_millis(400) + SLACK, "{took:?} {r:?}");
    }

    /// Several silent Sentinels (accept, never answer) share one deadline:
    /// the attempt fails within the connect timeout, and each was asked.
    #[test]
    fn silent_sentinels_share_the_connect_timeout() {
        let mut s = settings(closed_port(), 10);
        s.connect_timeout = Duration::from_millis(400);
        s.io_timeout = Duration::from_millis(400);
        let ports = [
            silent_port(),
            silent_port(),
            silent_port(),
            trickling_port(),
        ];
        s.sentinel = Some(SentinelCfg {
            sentinels: ports
                .iter()
                .map(|&port| Addr::Tcp {
                    host: "127.0.0.1".into(),
                    port,
                })
                .collect(),
            master: Some("mymaster".into()),
            tls: Tls::default(),
        });
        let (took, r, _) = time_connect(s);
        let e = r.unwrap_err();
        assert!(took < Duration::from_millis(400) + SLACK, "{took:?} {e}");
        for p in ports {
            assert!(e.contains(&format!("127.0.0.1:{p}")), "{p} not asked: {e}");
        }
        // Before: 4 x (connect + io timeout) = 3.2 s.
    }

    /// `localhost` (resolved once per session) with a silent TLS peer on
    /// each of its addresses: one deadline for the lot.
    #[test]
    fn host_name_is_resolved_once_and_bounded() {
        let l4 = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l4.local_addr().unwrap().port();
        let l6 = TcpListener::bind(("::1", port)).ok();
        let mut s = settings(port, 10);
        s.server.addr = Addr::Tcp {
            host: "localhost".into(),
            port,
        };
        s.connect_timeout = Duration::from_millis(300);
        tls_on(&mut s);
        let (took, r, mut sink) = time_connect(s);
        assert!(r.is_err());
        assert!(took < Duration::from_millis(300) + SLACK, "{took:?} {r:?}");
        assert_eq!(sink.resolver.cache.len(), 1);
        let addrs = sink.resolver.cache[0].1.clone();
        assert!(addrs.iter().all(|a| a.ip().is_loopback()), "{addrs:?}");
        // Again: from the cache, not the resolver.
        let t = Instant::now();
        assert!(sink.connect().is_err());
        assert!(t.elapsed() < Duration::from_millis(300) + SLACK);
        assert_eq!(sink.resolver.cache.len(), 1);
        drop((l4, l6));
    }

    fn closed_port() -> u16 {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    }

    /// Found in review: a String truncated at byte 200 panicked when that
    /// byte was inside a multi-byte character.
    #[test]
    fn error_text_is_cut_at_a_char_boundary() {
        for prefix in 0..4 {
            let text = format!("{}{}", "x".repeat(prefix), "é€😀".repeat(100));
            let c = cut(text.clone(), 200);
            assert!(c.len() <= 200 && c.len() > 195, "{}", c.len());
            assert!(text.starts_with(&c));
        }
        assert_eq!(cut("short".into(), 200), "short");
        assert_eq!(cut("ab€".into(), 4), "ab");
        let e = redis::RedisError::from((redis::ErrorKind::Client, "refused", "ü".repeat(300)));
        assert!(err_text(&e).len() <= 200);
    }

    #[test]
    fn refused_backs_off_and_bounds_the_backlog() {
        let mut sink = Sink::new(settings(closed_port(), 3));
        let mut log = Vec::new();
        for i in 0..5 {
            sink.submit(vec![("k".into(), format!("{i}"))], &mut |m| log.push(m));
        }
        assert_eq!(sink.pending(), 3);
        // One connect attempt, then back-off: no attempt on every event.
        let attempts = log
            .iter()
            .filter(|m| m.contains("error connecting"))
            .count();
        assert_eq!(attempts, 1, "{log:#?}");
        let dropped: Vec<_> = log.iter().filter(|m| m.contains("dropped")).collect();
        assert!(!dropped.is_empty(), "{log:#?}");
        assert!(dropped.iter().any(|m| m.contains("dropped 1 ")), "{log:#?}");
        // The oldest were dropped; order kept.
        let kept: Vec<_> = sink.backlog.iter().map(|(_, v)| v.as_str()).collect();
        assert_eq!(kept, ["2", "3", "4"]);
        assert!(sink.retry_at.is_some());
        assert_eq!(sink.backoff, BACKOFF_MIN * 2);
    }

    #[test]
    fn silent_server_costs_one_io_timeout_then_nothing() {
        let mut sink = Sink::new(settings(silent_port(), 100));
        let mut log = Vec::new();
        // The first event is sent without waiting; waiting for its reply at
        // the second costs one io timeout: that is the first failure.
        let t = Instant::now();
        sink.submit(vec![("k".into(), "a".into())], &mut |m| log.push(m));
        sink.submit(vec![("k".into(), "a".into())], &mut |m| log.push(m));
        let first = t.elapsed();
        assert!(first < Duration::from_millis(700), "first {first:?}");
        assert!(sink.retry_at.is_some(), "{log:?}");
        let t = Instant::now();
        for _ in 0..100 {
            sink.submit(vec![("k".into(), "b".into())], &mut |m| log.push(m));
        }
        assert!(
            t.elapsed() < Duration::from_millis(100),
            "{:?}",
            t.elapsed()
        );
        assert_eq!(sink.pending(), 100, "bounded at 100");
    }

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

    #[test]
    fn silent_server_doubles_the_back_off() {
        let mut sink = Sink::new(settings(silent_port(), 100));
        let mut log = Vec::new();
        let mut submit = |sink: &mut Sink, ev: &str| {
            sink.submit(vec![("k".into(), ev.into())], &mut |m| log.push(m))
        };
        submit(&mut sink, "a");
        submit(&mut sink, "b");
        assert!(sink.conn.is_none(), "the silent server was given up");
        assert_eq!(sink.backoff, BACKOFF_MIN * 2);
        // The retry connects (accepted), sends, and waits in vain again: the
        // accepted connection must not count as Redis being back.
        sink.retry_at = Some(Instant::now());
        submit(&mut sink, "c");
        submit(&mut sink, "d");
        assert!(sink.conn.is_none());
        assert_eq!(sink.backoff, BACKOFF_MIN * 4);
        assert_eq!(sink.pending(), 4);
    }

    #[test]
    fn no_reconnect_needs_a_first_connection() {
        let mut s = settings(closed_port(), 10);
        s.no_reconnect = true;
        let mut sink = Sink::new(s);
        let mut log = Vec::new();
        sink.submit(vec![("k".into(), "a".into())], &mut |m| log.push(m));
        // Never connected: keep retrying later (NoReconnect is about losing
        // an established connection).
        assert!(!sink.given_up);
    }
}
