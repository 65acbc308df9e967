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
//!
//! Delivery is at least once: an event leaves the backlog only when Redis
//! acknowledged it (`:N`), or refused it for good (`-WRONGTYPE`,
//! `-NOPERM`).  The replies of a pipeline are matched to its events only
//! when they agree: as many replies as events, each of RPUSH's kind, and
//! nothing more waiting; otherwise the connection is out of step and is
//! dropped, and its events are sent again on a new one.

mod backlog;
mod conn;
mod resp;
mod sentinel;
mod spooling;
mod tls;

pub use tls::TlsFiles;

use super::server::{self, SentinelCfg, ServerCfg};
use backlog::Backlog;
pub use backlog::Event;
use conn::{Conn, OUT_OF_STEP, Quiet, Resolver, open};
use resp::{ErrorReply, Reply, drops_event, printable};
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
/// While Redis stays unreachable (or the backlog stays full), RedisLog
/// says so when the count of failed attempts (of dropped events) reaches
/// a power of ten, and at least this often.
pub const REPORT_EVERY: Duration = Duration::from_secs(600);

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

/// Lines for the `redis` trace channel (`Trace redis:N`), made only when
/// the channel's level lets them through, and kept until the caller can
/// hand them to proftpd (not while the session state is borrowed).
#[derive(Default)]
pub struct Trace {
    level: i32,
    lines: Vec<(i32, String)>,
}

impl Trace {
    /// Keep `msg()` for the channel at `level`, if that level is traced.
    #[inline]
    pub(super) fn at(&mut self, level: i32, msg: impl FnOnce() -> String) {
        if self.level >= level {
            self.lines.push((level, msg()));
        }
    }

    #[inline]
    fn on(&self, level: i32) -> bool {
        self.level >= level
    }
}

/// Redis unreachable since `since`.
struct Outage {
    since: Instant,
    failures: u64,
    last_report: Instant,
}

/// Events dropped because the backlog was full.
#[derive(Default)]
struct Drops {
    /// In this session.
    total: u64,
    /// Since the backlog last had room (reported when Redis is back).
    episode: u64,
    last_report: Option<Instant>,
}

/// Whether a count going from `before` to `after` reached a power of ten
/// (10, 100, 1000, ...).
fn crosses_power_of_ten(before: u64, after: u64) -> bool {
    let mut p: u64 = 10;
    while p <= after {
        if before < p {
            return true;
        }
        match p.checked_mul(10) {
            Some(n) => p = n,
            None => break,
        }
    }
    false
}

/// The reply to one event of a pipeline.
enum Outcome {
    Stored,
    /// Refused for good (the event can never be stored).
    Refused(ErrorReply),
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
    /// The replies of the pipeline being read (reused).
    outcomes: Vec<Outcome>,
    outage: Option<Outage>,
    drops: Drops,
    trace: Trace,
    /// RedisLogSpool, when configured.
    spool: Option<spooling::Spooling>,
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
            outcomes: Vec::new(),
            outage: None,
            drops: Drops::default(),
            trace: Trace::default(),
            spool: None,
            settings,
        }
    }

    pub fn pending(&self) -> usize {
        self.backlog.len()
    }

    /// The level of the `redis` trace channel (read once per session by
    /// the caller: below 1, nothing is traced and no line is made).
    pub fn set_trace_level(&mut self, level: i32) {
        self.trace.level = level;
    }

    /// Move the trace lines made so far to `into` (for the caller to hand
    /// to proftpd once nothing is borrowed).
    pub fn take_traces(&mut self, into: &mut Vec<(i32, String)>) {
        into.append(&mut self.trace.lines);
    }

    /// Queue `events`, dropping the oldest ones beyond the bound, then try
    /// to deliver.  `log` receives RedisLog messages.
    pub fn submit(&mut self, events: impl IntoIterator<Item = Event>, log: &mut dyn FnMut(String)) {
        if self.spooling() {
            // Redis is unreachable: straight to the spool file.
            let events = events.into_iter().collect();
            self.write_spool(events, log);
        } else {
            for ev in events {
                if self.spool.is_some() && self.backlog.is_full() {
                    self.spool_oldest(log);
                }
                self.backlog.push(ev);
            }
        }
        self.flush(false, log);
    }

    /// Hand the buffers of delivered events to `into`, for new events
    /// ([`Event::in_buffer`]).
    pub fn recycle(&mut self, into: &mut Vec<Vec<u8>>) {
        self.backlog.recycle(into);
    }

    /// Say in RedisLog that the backlog is full when it starts dropping
    /// events, then how many at each power of ten and at least every
    /// [`REPORT_EVERY`] (not once per event).
    fn report_drops(&mut self, log: &mut dyn FnMut(String)) {
        let d = self.backlog.take_dropped();
        if d == 0 {
            return;
        }
        let before = self.drops.episode;
        self.drops.episode += d;
        self.drops.total += d;
        let now = Instant::now();
        let max = self.backlog.max();
        if before == 0 {
            log(format!(
                "Redis backlog full ({max} events): dropping the oldest events until Redis \
                 takes them ({d} so far)"
            ));
        } else if crosses_power_of_ten(before, self.drops.episode)
            || self
                .drops
                .last_report
                .is_none_or(|t| now.duration_since(t) >= REPORT_EVERY)
        {
            log(format!(
                "Redis backlog full ({max} events): {} oldest event(s) dropped so far",
                self.drops.episode
            ));
        } else {
            return;
        }
        self.drops.last_report = Some(now);
    }

    /// Deliver the backlog.  `force` ignores the back-off (session end).
    pub fn flush(&mut self, force: bool, log: &mut dyn FnMut(String)) {
        self.report_drops(log);
        if self.backlog.is_empty() && !self.drain_pending() {
            return;
        }
        if self.backlog.inflight() == 0
            && let Some(conn) = self.conn.as_mut()
            && !conn.needs_ping
            && !conn.ping_inflight
        {
            // Nothing was sent since the replies were last read: nothing
            // may have come since either.
            match conn.quiet() {
                Quiet::Yes => {}
                // Redis closed it (idle timeout, restart): a new one.
                Quiet::Closed(e) => {
                    self.trace
                        .at(9, || format!("connection lost ({e}): reconnecting"));
                    self.conn = None;
                }
                Quiet::OutOfStep => {
                    self.lost(OUT_OF_STEP.into(), log);
                    return;
                }
            }
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
                    self.conn = Some(c);
                    self.ever_connected = true;
                }
                Err(e) => {
                    let to = server::describe(&self.settings.server);
                    self.trace
                        .at(3, || format!("error connecting to {to}: {e}"));
                    self.failed(format!("error connecting to Redis at {to}: {e}"), log);
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
        self.add_drained();
        // Send the rest in one pipeline; its replies are read at the next
        // flush (or now, at the end of the session), so a command does not
        // wait for Redis's round trip.
        while !self.backlog.is_empty() {
            let n = self.backlog.len().min(CHUNK);
            self.send_buf.clear();
            let Some(conn) = self.conn.as_mut() else {
                // Closed by Redis after its last replies (which counted):
                // the rest goes on a new connection.
                return self.flush(force, log);
            };
            if conn.needs_ping {
                // First on a new connection: an error sent as it opens
                // is PING's reply, not an event's.
                conn.needs_ping = false;
                conn.ping_inflight = true;
                self.send_buf.extend_from_slice(resp::PING);
                self.trace.at(7, || "sending command: PING".into());
            }
            for ev in self.backlog.send_front(n) {
                self.send_buf.extend_from_slice(ev.command());
            }
            if self.trace.on(7) {
                for _ in 0..n {
                    self.trace.at(7, || "sending command: RPUSH".into());
                }
            }
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
    /// RedisLog gets what is left to say: the events dropped because the
    /// backlog was full, an outage still going on.
    pub fn finish(&mut self, grace: Duration, log: &mut dyn FnMut(String)) -> Option<Duration> {
        let start = Instant::now();
        self.flush(true, log);
        if self.spool.is_some() {
            // What Redis did not take goes to the spool (no waiting), then
            // spooled events are sent while Redis answers and time is left.
            self.finish_spool(grace, log);
        }
        let mut pause = Duration::from_millis(100);
        let mut retried = false;
        while !self.backlog.is_empty() && !self.given_up && start.elapsed() + pause <= grace {
            std::thread::sleep(pause);
            pause = (pause * 2).min(Duration::from_millis(800));
            retried = true;
            self.flush(true, log);
        }
        self.report_drops(log);
        if let Some(o) = &self.outage {
            log(format!(
                "session ending: Redis unreachable for the last {} ms ({} failed attempt(s))",
                o.since.elapsed().as_millis(),
                o.failures
            ));
        }
        if self.drops.total > 0 {
            log(format!(
                "session ending: {} event(s) were dropped in this session because the backlog \
                 was full ({} events)",
                self.drops.total,
                self.backlog.max()
            ));
        }
        retried.then(|| start.elapsed())
    }

    /// Read the replies of the events in flight and, when they agree with
    /// the events, take the acknowledged ones off the backlog; `false` if
    /// the connection failed (the unacknowledged events stay queued and are
    /// sent again later).
    fn collect(&mut self, log: &mut dyn FnMut(String)) -> bool {
        let n = self.backlog.inflight();
        let Some(conn) = self.conn.as_mut() else {
            self.backlog.unanswered();
            return false;
        };
        if n == 0 {
            return true;
        }
        if conn.ping_inflight {
            match conn.reply() {
                // The user may lack the right to PING: still Redis.
                Ok(Reply::Error(e)) if e.code != "NOPERM" => {
                    self.trace.at(2, || format!("PING error: {}", e.text));
                    self.lost(format!("Redis refused the connection: {}", e.text), log);
                    return false;
                }
                Ok(r @ (Reply::Int(_) | Reply::Array(_))) => {
                    let kind = r.kind();
                    self.lost(format!("unexpected {kind} reply to PING (not Redis?)"), log);
                    return false;
                }
                Ok(r) => self.trace.at(7, || match r {
                    Reply::Status(s) => format!("PING reply: {s}"),
                    r => format!("PING reply: ({})", r.kind()),
                }),
                Err(e) => {
                    self.lost(format!("error appending log messages to Redis: {e}"), log);
                    return false;
                }
            }
            conn.ping_inflight = false;
        }
        self.outcomes.clear();
        // The first error that is not about its event (the server cannot
        // store anything now): it and the events after it are kept.
        let mut refused = None;
        for _ in 0..n {
            match conn.reply() {
                Ok(Reply::Int(v)) => {
                    self.trace.at(7, || format!("RPUSH reply: {v}"));
                    self.outcomes.push(Outcome::Stored);
                }
                Ok(Reply::Error(e)) => {
                    self.trace
                        .at(2, || "expected INTEGER reply for RPUSH, got ERROR".into());
                    self.trace.at(2, || format!("RPUSH error: {}", e.text));
                    if drops_event(&e.code) {
                        self.outcomes.push(Outcome::Refused(e));
                    } else {
                        refused = Some(e);
                        break;
                    }
                }
                Ok(other) => {
                    // RPUSH answers `:N`: anything else belongs to another
                    // command, so every reply from here on is out of step.
                    let kind = other.kind();
                    self.trace.at(2, || {
                        format!("expected INTEGER reply for RPUSH, got {kind}")
                    });
                    self.lost(
                        format!("unexpected {kind} reply to RPUSH (out of step): reconnecting"),
                        log,
                    );
                    return false;
                }
                Err(e) => {
                    self.lost(format!("error appending log messages to Redis: {e}"), log);
                    return false;
                }
            }
        }
        // As many replies as events: nothing more may be there.
        let mut closed = None;
        if refused.is_none() {
            match conn.quiet() {
                Quiet::Yes => {}
                // Closed after its last reply (Redis stopped, failover):
                // the replies count; the next events need a new one.
                Quiet::Closed(e) => closed = Some(e),
                Quiet::OutOfStep => {
                    self.lost(OUT_OF_STEP.into(), log);
                    return false;
                }
            }
        }
        // The replies agree with the events: take them off the backlog.
        let answered = self.outcomes.len();
        let trace_keys = self.trace.on(17);
        for outcome in self.outcomes.drain(..) {
            match outcome {
                Outcome::Stored => {
                    let (key, origin) = self
                        .backlog
                        .answered(|ev| (trace_keys.then(|| printable(ev.key())), ev.origin()))
                        .unwrap_or_default();
                    if let (Some(end), Some(sp)) = (origin, self.spool.as_mut()) {
                        sp.spool.acked(end);
                    }
                    if let Some(key) = key {
                        self.trace
                            .at(17, || format!("appended log message to '{key}'"));
                    }
                }
                Outcome::Refused(e) => {
                    // This event can never be stored (e.g. WRONGTYPE): drop
                    // it rather than block the ones behind it.
                    if let Some((key, origin)) = self
                        .backlog
                        .answered(|ev| (printable(ev.key()), ev.origin()))
                    {
                        if let (Some(end), Some(sp)) = (origin, self.spool.as_mut()) {
                            sp.spool.acked(end);
                        }
                        log(format!(
                            "error appending log message to '{key}': {}",
                            e.text
                        ));
                    }
                }
            }
        }
        if let Some(e) = refused {
            self.lost(format!("Redis refused the log messages: {}", e.text), log);
            return false;
        }
        if let Some(e) = closed {
            self.trace
                .at(9, || format!("connection lost ({e}): reconnecting"));
            self.conn = None;
        }
        // Only an answer ends an outage: a connection that was merely
        // accepted (e.g. by a silent server) must not reset the back-off.
        if answered > 0 {
            self.retry_at = None;
            self.backoff = BACKOFF_MIN;
            if let Some(o) = self.outage.take() {
                let mut msg = format!(
                    "reconnected to Redis at {} after {} ms ({} failed attempt(s)): {answered} \
                     held event(s) delivered, {} pending",
                    server::describe(&self.settings.server),
                    o.since.elapsed().as_millis(),
                    o.failures,
                    self.backlog.len()
                );
                if self.drops.episode > 0 {
                    msg += &format!(
                        "; {} event(s) were dropped meanwhile (backlog full)",
                        self.drops.episode
                    );
                }
                log(msg);
            }
            self.drops.episode = 0;
        }
        true
    }

    /// One connection attempt whose success is a PING answered (not merely
    /// a connection accepted): it ends an outage.  No RedisLog line when it
    /// fails (the outage is reported as it goes on).
    pub(super) fn probe(&mut self, log: &mut dyn FnMut(String)) {
        let Ok(mut conn) = self.connect() else {
            return;
        };
        conn.limit = Some(Instant::now() + self.settings.io_timeout.max(Duration::from_millis(1)));
        let answered = conn.send(resp::PING).is_ok()
            && matches!(conn.reply(), Ok(Reply::Status(_)))
            && matches!(conn.quiet(), Quiet::Yes);
        conn.limit = None;
        if !answered {
            return;
        }
        conn.needs_ping = false;
        self.conn = Some(conn);
        self.ever_connected = true;
        self.retry_at = None;
        self.backoff = BACKOFF_MIN;
        if let Some(o) = self.outage.take() {
            log(format!(
                "reconnected to Redis at {} after {} ms ({} failed attempt(s))",
                server::describe(&self.settings.server),
                o.since.elapsed().as_millis(),
                o.failures
            ));
        }
    }

    /// `HOST`: deliver what can be now; what cannot goes to the spool.
    pub fn hand_over(&mut self, log: &mut dyn FnMut(String)) {
        self.flush(true, log);
        self.finish_spool(Duration::ZERO, log);
    }

    /// The connection is unusable: drop it; queued events are kept (those
    /// read from spool files stay in their files).
    fn lost(&mut self, msg: String, log: &mut dyn FnMut(String)) {
        self.conn = None;
        self.backlog.unanswered();
        self.forget_drained();
        self.failed(msg, log);
    }

    /// An attempt failed.  RedisLog says so when an outage starts, then
    /// how long it lasts at each power of ten of failed attempts and at
    /// least every [`REPORT_EVERY`], and when it ends (one line, not one
    /// per attempt).
    fn failed(&mut self, msg: String, log: &mut dyn FnMut(String)) {
        if self.settings.no_reconnect && self.ever_connected {
            self.given_up = true;
            log(format!("{msg}; RedisOptions NoReconnect: not reconnecting"));
            self.spool_backlog(log);
            return;
        }
        let now = Instant::now();
        let retry = self.backoff.as_millis();
        let pending = self.backlog.len();
        match &mut self.outage {
            None => {
                self.outage = Some(Outage {
                    since: now,
                    failures: 1,
                    last_report: now,
                });
                log(format!(
                    "{msg}; {pending} event(s) pending, retrying in {retry} ms"
                ));
            }
            Some(o) => {
                o.failures += 1;
                if crosses_power_of_ten(o.failures - 1, o.failures)
                    || now.duration_since(o.last_report) >= REPORT_EVERY
                {
                    o.last_report = now;
                    log(format!(
                        "Redis still unreachable after {} ms ({} failed attempts; last: {msg}); \
                         {pending} event(s) pending, retrying in {retry} ms",
                        now.duration_since(o.since).as_millis(),
                        o.failures
                    ));
                }
            }
        }
        self.retry_at = Some(now + self.backoff);
        self.backoff = (self.backoff * 2).min(BACKOFF_MAX);
        self.spool_backlog(log);
    }

    /// A new connection: to the master the Sentinels name, or to
    /// RedisServer.  Everything before it is usable — resolving (once per
    /// session), connecting to each address, TLS handshakes, asking the
    /// Sentinels, AUTH and SELECT — shares one deadline: the connect
    /// timeout.
    fn connect(&mut self) -> Result<Conn, String> {
        let Sink {
            settings,
            resolver,
            trace,
            ..
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
                trace,
            )?;
            // As in the core, where one ssl setting covers Sentinels and
            // master: TLS to the Sentinels means TLS to the master too
            // (with RedisServer's ssl-* files if it has TLS of its own).
            if !cfg.tls.enabled && sentinel.tls.enabled {
                cfg.tls = sentinel.tls.clone();
                files = &settings.sentinel_tls_files;
            }
        }
        let mut conn = open(&cfg, files, resolver, deadline, io, trace)?;
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
        // Said once when it starts, not once per dropped event.
        let full: Vec<_> = log.iter().filter(|m| m.contains("backlog full")).collect();
        assert_eq!(full.len(), 1, "{log:#?}");
        assert_eq!(sink.drops.total, 2);
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

    // ---- #21: replies out of step, errors on connect, hostile Sentinels --

    use std::io::{BufRead, BufReader};
    use std::sync::{Arc, Mutex};

    /// One RESP command (an array of bulk strings) from `r`.
    fn read_command(r: &mut impl BufRead) -> Option<Vec<Vec<u8>>> {
        let mut line = String::new();
        r.read_line(&mut line).ok()?;
        let n: usize = line.trim_end().strip_prefix('*')?.parse().ok()?;
        let mut args = Vec::new();
        for _ in 0..n {
            line.clear();
            r.read_line(&mut line).ok()?;
            let len: usize = line.trim_end().strip_prefix('$')?.parse().ok()?;
            let mut b = vec![0; len + 2];
            r.read_exact(&mut b).ok()?;
            b.truncate(len);
            args.push(b);
        }
        Some(args)
    }

    /// A scripted RESP server: `answer(connection number, command)` gives
    /// the bytes to send back; the RPUSH payloads it got are recorded.
    fn scripted(
        answer: impl Fn(usize, &[Vec<u8>]) -> Vec<u8> + Send + Sync + 'static,
    ) -> (u16, Arc<Mutex<Vec<String>>>) {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        let got = Arc::new(Mutex::new(Vec::new()));
        let answer = Arc::new(answer);
        let g = got.clone();
        std::thread::spawn(move || {
            for (i, s) in l.incoming().flatten().enumerate() {
                let (answer, got) = (answer.clone(), g.clone());
                std::thread::spawn(move || {
                    let mut w = s.try_clone().unwrap();
                    let mut r = BufReader::new(s);
                    while let Some(cmd) = read_command(&mut r) {
                        if cmd[0] == b"RPUSH" {
                            got.lock()
                                .unwrap()
                                .push(String::from_utf8_lossy(&cmd[2]).into_owned());
                        }
                        if w.write_all(&answer(i, &cmd)).is_err() {
                            break;
                        }
                    }
                });
            }
        });
        (port, got)
    }

    fn redis_like(cmd: &[Vec<u8>]) -> Vec<u8> {
        match &cmd[0][..] {
            b"PING" => b"+PONG\r\n".to_vec(),
            _ => b":1\r\n".to_vec(),
        }
    }

    /// Submit `events` one at a time, then end the session; the RedisLog
    /// lines.
    fn session(sink: &mut Sink, events: &[&str]) -> Vec<String> {
        let mut log = Vec::new();
        for e in events {
            sink.submit([ev(e)], &mut |m| log.push(m));
            // Do not wait for the back-off.
            sink.retry_at = None;
        }
        sink.finish(Duration::from_secs(2), &mut |m| log.push(m));
        log
    }

    /// Found in review (#21): one unsolicited reply made every later event
    /// match the previous one's reply.  Now the connection is out of step:
    /// it is dropped and the unacknowledged events are sent again.
    #[test]
    fn an_extra_reply_is_out_of_step_and_loses_nothing() {
        // The first connection answers its first RPUSH twice.
        let (port, got) = scripted(|conn, cmd| {
            let mut a = redis_like(cmd);
            if conn == 0 && cmd[0] == b"RPUSH" && &cmd[2][..] == b"a" {
                a.extend_from_slice(b":99\r\n");
            }
            a
        });
        let mut sink = Sink::new(settings(port, 100));
        let log = session(&mut sink, &["a", "b", "c", "d"]);
        assert_eq!(sink.pending(), 0, "{log:#?}");
        assert!(log.iter().any(|m| m.contains("out of step")), "{log:#?}");
        let got = got.lock().unwrap().clone();
        // Every event, in order; `a` twice (sent again: at least once).
        assert_eq!(got, ["a", "a", "b", "c", "d"], "{log:#?}");
    }

    /// A reply of another kind than RPUSH's `:N` (here `+OK`) is out of
    /// step too.
    #[test]
    fn a_reply_of_the_wrong_kind_is_out_of_step() {
        let (port, got) = scripted(|conn, cmd| {
            if conn == 0 && cmd[0] == b"RPUSH" && &cmd[2][..] == b"b" {
                return b"+OK\r\n".to_vec();
            }
            redis_like(cmd)
        });
        let mut sink = Sink::new(settings(port, 100));
        let log = session(&mut sink, &["a", "b", "c"]);
        assert_eq!(sink.pending(), 0, "{log:#?}");
        assert!(
            log.iter().any(|m| m.contains("STATUS reply to RPUSH")),
            "{log:#?}"
        );
        let got = got.lock().unwrap().clone();
        assert_eq!(got, ["a", "b", "b", "c"], "{log:#?}");
    }

    /// Found in review (#21): Redis at maxclients answers a new connection
    /// with an error and closes it; that error was taken for the first
    /// event's reply and the event dropped.  It is PING's reply now: a
    /// failed connection, the events are kept.
    #[test]
    fn an_error_when_the_connection_opens_keeps_the_events() {
        let (port, got) = scripted(|conn, cmd| {
            if conn < 2 {
                return b"-ERR max number of clients reached\r\n".to_vec();
            }
            redis_like(cmd)
        });
        let mut sink = Sink::new(settings(port, 100));
        let log = session(&mut sink, &["a", "b", "c"]);
        assert_eq!(sink.pending(), 0, "{log:#?}");
        assert!(
            log.iter()
                .any(|m| m.contains("Redis refused the connection: ERR max number")),
            "{log:#?}"
        );
        let got = got.lock().unwrap().clone();
        let last: Vec<_> = got.iter().rev().take(3).rev().cloned().collect();
        assert_eq!(last, ["a", "b", "c"], "{got:?}");
    }

    /// Errors about the server keep the event (and those behind it);
    /// errors about the event drop it alone.
    #[test]
    fn server_errors_keep_events_event_errors_drop_them() {
        let (port, got) = scripted(|conn, cmd| {
            if cmd[0] == b"RPUSH" && &cmd[2][..] == b"b" {
                return match conn {
                    0 => b"-LOADING Redis is loading the dataset in memory\r\n".to_vec(),
                    _ => b"-WRONGTYPE Operation against a key holding the wrong kind of value\r\n"
                        .to_vec(),
                };
            }
            redis_like(cmd)
        });
        let mut sink = Sink::new(settings(port, 100));
        let log = session(&mut sink, &["a", "b", "c"]);
        assert_eq!(sink.pending(), 0, "{log:#?}");
        assert!(
            log.iter()
                .any(|m| m.contains("refused the log messages: LOADING")),
            "{log:#?}"
        );
        assert!(
            log.iter()
                .any(|m| m.contains("error appending log message to 'k': WRONGTYPE"))
        );
        let got = got.lock().unwrap().clone();
        assert_eq!(got, ["a", "b", "b", "c"], "{log:#?}");
    }

    /// Found in review (#21): 90,001 "backlog full" lines in a session.
    /// Now: one when it starts, one per power of ten, the total at the end.
    #[test]
    fn backlog_full_is_said_a_few_times() {
        let mut sink = Sink::new(settings(closed_port(), 10));
        let mut log = Vec::new();
        for i in 0..20_010 {
            sink.submit([ev(&i.to_string())], &mut |m| log.push(m));
        }
        sink.finish(Duration::ZERO, &mut |m| log.push(m));
        assert!(log.len() < 12, "{log:#?}");
        assert_eq!(sink.drops.total, 20_000);
        assert!(
            log.last().unwrap().contains("20000 event(s) were dropped"),
            "{log:#?}"
        );
        assert!(
            log.iter()
                .any(|m| m.contains("10000 oldest event(s) dropped so far"))
        );
    }

    /// Found in review (#21): a Sentinel answering `$9999999999` and
    /// streaming had the session buffer it all.  The reader refuses it at
    /// once; a stream of long-but-allowed values never makes it hold more
    /// than its bound.
    #[test]
    fn hostile_sentinel_costs_a_bounded_buffer() {
        for reply in [
            b"$9999999999\r\n".to_vec(),
            // Just under the cap, then more and more.
            format!("*2\r\n${}\r\n", resp::REPLY_MAX).into_bytes(),
        ] {
            let l = TcpListener::bind("127.0.0.1:0").unwrap();
            let port = l.local_addr().unwrap().port();
            std::thread::spawn(move || {
                if let Some(mut s) = l.incoming().flatten().next() {
                    let _ = s.write_all(&reply);
                    let chunk = vec![b'x'; 65536];
                    while s.write_all(&chunk).is_ok() {}
                }
            });
            let cfg = ServerCfg {
                addr: Addr::Tcp {
                    host: "127.0.0.1".into(),
                    port,
                },
                username: None,
                password: None,
                db: None,
                tls: Tls::default(),
            };
            let deadline = Instant::now() + Duration::from_secs(2);
            let mut conn = open(
                &cfg,
                &TlsFiles::default(),
                &mut Resolver::default(),
                deadline,
                Duration::from_secs(2),
                &mut Trace::default(),
            )
            .unwrap();
            let mut r = Ok(());
            for _ in 0..3 {
                r = conn.skip(2);
                if r.is_err() {
                    break;
                }
            }
            assert!(r.is_err(), "{r:?}");
            assert!(conn.buffered() <= resp::BUF_MAX, "{}", conn.buffered());
        }
    }

    /// A Sentinel that names itself as the master (not a Redis that
    /// stores lists): the events are kept, and delivered once a Sentinel
    /// names the true master.
    #[test]
    fn a_lying_sentinel_keeps_the_events() {
        let (master, got) = scripted(|_, cmd| redis_like(cmd));
        let truth = Arc::new(Mutex::new(false));
        let t = truth.clone();
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let sport = l.local_addr().unwrap().port();
        std::thread::spawn(move || {
            for s in l.incoming().flatten() {
                let t = t.clone();
                std::thread::spawn(move || {
                    let mut w = s.try_clone().unwrap();
                    let mut r = BufReader::new(s);
                    while let Some(cmd) = read_command(&mut r) {
                        let port = if *t.lock().unwrap() { master } else { sport };
                        let a = match &cmd[0][..] {
                            b"SENTINEL" => format!(
                                "*2\r\n$9\r\n127.0.0.1\r\n${}\r\n{port}\r\n",
                                port.to_string().len()
                            )
                            .into_bytes(),
                            b"PING" => b"+PONG\r\n".to_vec(),
                            _ => b"-ERR unknown command\r\n".to_vec(),
                        };
                        if w.write_all(&a).is_err() {
                            break;
                        }
                    }
                });
            }
        });
        let mut s = settings(0, 100);
        s.sentinel = Some(SentinelCfg {
            sentinels: vec![Addr::Tcp {
                host: "127.0.0.1".into(),
                port: sport,
            }],
            master: Some("mymaster".into()),
            tls: Tls::default(),
        });
        let mut sink = Sink::new(s);
        let mut log = Vec::new();
        for e in ["a", "b"] {
            sink.submit([ev(e)], &mut |m| log.push(m));
            sink.retry_at = None;
        }
        sink.flush(true, &mut |m| log.push(m));
        assert_eq!(sink.pending(), 2, "{log:#?}");
        assert!(
            log.iter().any(|m| m.contains("unknown command")),
            "{log:#?}"
        );
        *truth.lock().unwrap() = true;
        let log2 = session(&mut sink, &["c"]);
        assert_eq!(sink.pending(), 0, "{log2:#?}");
        assert_eq!(*got.lock().unwrap(), ["a", "b", "c"], "{log:#?} {log2:#?}");
    }

    /// An extra reply that comes late, while nothing is in flight: found
    /// before the next events are sent (they go on a new connection).
    #[test]
    fn a_late_extra_reply_is_found_before_sending() {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        let got = Arc::new(Mutex::new(Vec::new()));
        let g = got.clone();
        std::thread::spawn(move || {
            for (i, s) in l.incoming().flatten().enumerate() {
                let g = g.clone();
                std::thread::spawn(move || {
                    let mut w = s.try_clone().unwrap();
                    let mut r = BufReader::new(s);
                    while let Some(cmd) = read_command(&mut r) {
                        if cmd[0] == b"RPUSH" {
                            g.lock()
                                .unwrap()
                                .push(String::from_utf8_lossy(&cmd[2]).into_owned());
                        }
                        let _ = w.write_all(&redis_like(&cmd));
                        if i == 0 && cmd[0] == b"RPUSH" {
                            // 100 ms later, unasked.
                            let mut w = w.try_clone().unwrap();
                            std::thread::spawn(move || {
                                std::thread::sleep(Duration::from_millis(100));
                                let _ = w.write_all(b":99\r\n");
                            });
                        }
                    }
                });
            }
        });
        let mut sink = Sink::new(settings(port, 100));
        let mut log = Vec::new();
        sink.submit([ev("a")], &mut |m| log.push(m));
        // Its reply read at once (as at HOST): nothing in flight.
        sink.flush(true, &mut |m| log.push(m));
        assert_eq!(sink.pending(), 0, "{log:#?}");
        std::thread::sleep(Duration::from_millis(300));
        sink.submit([ev("b")], &mut |m| log.push(m));
        assert!(log.iter().any(|m| m.contains("out of step")), "{log:#?}");
        assert_eq!(sink.pending(), 1);
        sink.finish(Duration::from_secs(2), &mut |m| log.push(m));
        assert_eq!(sink.pending(), 0, "{log:#?}");
        assert_eq!(*got.lock().unwrap(), ["a", "b"], "{log:#?}");
    }
}
