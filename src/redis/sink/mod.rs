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

mod backlog;
mod conn;
mod resp;
mod sentinel;
mod tls;

use super::server::{self, SentinelCfg, ServerCfg};
use backlog::Backlog;
pub use backlog::Event;
use conn::{Conn, Resolver, open};
use resp::{Reply, is_transient};
use sentinel::discover_master;
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
    backlog: Backlog,
    retry_at: Option<Instant>,
    backoff: Duration,
    given_up: bool,
    ever_connected: bool,
    resolver: Resolver,
    /// The pipeline being sent (reused).
    send_buf: Vec<u8>,
}

impl Sink {
    pub fn new(settings: Settings) -> Sink {
        Sink {
            conn: None,
            backlog: Backlog::new(settings.backlog_max),
            retry_at: None,
            backoff: BACKOFF_MIN,
            given_up: false,
            ever_connected: false,
            resolver: Resolver::default(),
            send_buf: Vec::new(),
            settings,
        }
    }

    pub fn pending(&self) -> usize {
        self.backlog.len()
    }

    /// Queue `events`, dropping the oldest ones beyond the bound, then try
    /// to deliver.  `log` receives RedisLog messages.
    pub fn submit(&mut self, events: impl IntoIterator<Item = Event>, log: &mut dyn FnMut(String)) {
        for ev in events {
            self.backlog.push(ev);
        }
        self.flush(false, log);
    }

    /// Hand the buffers of delivered events to `into`, for new events
    /// ([`Event::in_buffer`]).
    pub fn recycle(&mut self, into: &mut Vec<Vec<u8>>) {
        self.backlog.recycle(into);
    }

    /// Deliver the backlog.  `force` ignores the back-off (session end).
    pub fn flush(&mut self, force: bool, log: &mut dyn FnMut(String)) {
        let dropped = self.backlog.take_dropped();
        if dropped > 0 {
            log(format!(
                "Redis backlog full ({} events): dropped {dropped} oldest event(s)",
                self.backlog.max()
            ));
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
            self.send_buf.clear();
            for ev in self.backlog.send_front(n) {
                self.send_buf.extend_from_slice(ev.command());
            }
            let Some(conn) = self.conn.as_mut() else {
                self.backlog.unanswered();
                return;
            };
            if let Err(e) = conn.send(&self.send_buf) {
                self.lost(format!("error sending log messages to Redis: {e}"), log);
                return;
            }
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
        while self.backlog.inflight() > 0 {
            let Some(conn) = self.conn.as_mut() else {
                self.backlog.unanswered();
                return false;
            };
            match conn.reply() {
                Ok(Reply::Error { code, details }) => {
                    let text = match details {
                        Some(d) => format!("{code} {d}"),
                        None => code.clone(),
                    };
                    if is_transient(&code) {
                        self.lost(format!("Redis refused the log messages: {text}"), log);
                        return false;
                    }
                    // This event can never be stored (e.g. WRONGTYPE): drop it
                    // rather than block the ones behind it.
                    if let Some(key) = self
                        .backlog
                        .answered(|ev| String::from_utf8_lossy(ev.key()).into_owned())
                    {
                        log(format!("error appending log message to '{key}': {text}"));
                    }
                    answered = true;
                }
                Ok(Reply::Done) => {
                    self.backlog.answered(|_| ());
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
        self.backlog.unanswered();
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::redis::server::{Addr, Tls};
    use std::io::Write;
    use std::net::TcpListener;

    /// An event for the key `k`.
    fn ev(payload: &str) -> Event {
        Event::new(b"k", payload.as_bytes())
    }

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
        s.tls_files.system_roots = vec![include_bytes!("../testdata/ca.der").to_vec()];
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

    #[test]
    fn refused_backs_off_and_bounds_the_backlog() {
        let mut sink = Sink::new(settings(closed_port(), 3));
        let mut log = Vec::new();
        for i in 0..5 {
            sink.submit([ev(&format!("{i}"))], &mut |m| log.push(m));
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
        assert_eq!(sink.backlog.payloads(), ["2", "3", "4"]);
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
        sink.submit([ev("a")], &mut |m| log.push(m));
        sink.submit([ev("a")], &mut |m| log.push(m));
        let first = t.elapsed();
        assert!(first < Duration::from_millis(700), "first {first:?}");
        assert!(sink.retry_at.is_some(), "{log:?}");
        let t = Instant::now();
        for _ in 0..100 {
            sink.submit([ev("b")], &mut |m| log.push(m));
        }
        assert!(
            t.elapsed() < Duration::from_millis(100),
            "{:?}",
            t.elapsed()
        );
        assert_eq!(sink.pending(), 100, "bounded at 100");
    }

    #[test]
    fn silent_server_doubles_the_back_off() {
        let mut sink = Sink::new(settings(silent_port(), 100));
        let mut log = Vec::new();
        let mut submit =
            |sink: &mut Sink, ev: &str| sink.submit([self::ev(ev)], &mut |m| log.push(m));
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

    /// A port whose server answers every read with bytes that are not
    /// RESP (not Redis, or a broken one).
    fn garbage_port() -> u16 {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        std::thread::spawn(move || {
            for mut s in l.incoming().flatten() {
                std::thread::spawn(move || {
                    let mut buf = [0u8; 4096];
                    while let Ok(n) = std::io::Read::read(&mut s, &mut buf) {
                        if n == 0 || s.write_all(b"?garbage\r\n").is_err() {
                            break;
                        }
                    }
                });
            }
        });
        port
    }

    /// Replies that are not RESP: the connection is dropped (no panic, no
    /// wait beyond the io timeout), the events stay queued, in order.
    #[test]
    fn garbage_replies_drop_the_connection_and_keep_the_events() {
        let mut sink = Sink::new(settings(garbage_port(), 100));
        let mut log = Vec::new();
        let t = Instant::now();
        sink.submit([ev("a")], &mut |m| log.push(m));
        sink.submit([ev("b")], &mut |m| log.push(m));
        assert!(
            t.elapsed() < Duration::from_millis(400),
            "{:?}",
            t.elapsed()
        );
        assert!(sink.conn.is_none(), "{log:#?}");
        assert!(sink.retry_at.is_some());
        assert!(
            log.iter().any(|m| m.contains("malformed reply from Redis")),
            "{log:#?}"
        );
        assert_eq!(sink.backlog.payloads(), ["a", "b"]);
    }

    #[test]
    fn no_reconnect_needs_a_first_connection() {
        let mut s = settings(closed_port(), 10);
        s.no_reconnect = true;
        let mut sink = Sink::new(s);
        let mut log = Vec::new();
        sink.submit([ev("a")], &mut |m| log.push(m));
        // Never connected: keep retrying later (NoReconnect is about losing
        // an established connection).
        assert!(!sink.given_up);
    }
}
