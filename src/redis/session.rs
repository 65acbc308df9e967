//! The session's set-up (RedisEngine, RedisLog, the server or Sentinels,
//! TLS files, timeouts; the core's Redis settings) and its end (delivering
//! the backlog), and the RedisLog file.

use super::directives::{
    ENGINE, LOG_FILE_DIRECTIVE, OPT_NO_RECONNECT, OPTIONS, SENTINEL, SERVER, SPOOL, TIMEOUTS,
    configure_core, configure_core_sentinels,
};
use super::server::{self, ServerCfg};
use super::sink::{self, Settings, Sink};
use super::spool::{self, Spool};
use super::{LOG, VERSION};
use crate::host::conf::Scope;
use crate::host::state::SessionState;
use crate::host::{core_redis, fs, privs, sys};
use std::io::Write;
use std::sync::atomic::{AtomicI32, AtomicUsize, Ordering};
use std::time::Duration;

// ---- session state ------------------------------------------------------

struct Session {
    settings: Option<Settings>,
    sink: Option<Sink>,
    /// RedisLogSpool, opened when the session started; handed to the sink
    /// when it is made.
    spool: Option<Spool>,
    warned_no_server: bool,
}

/// The session's Redis connection and backlog (`None`: RedisEngine off).
/// Borrowed only for plain Rust (see [`SessionState`]): settings are looked
/// up and LogFormats resolved before, debug messages logged after.
static SESSION: SessionState<Session> = SessionState::new();

/// The RedisLog file, apart from [`SESSION`] so that the exit handler can
/// still count what it could not deliver if it ever finds SESSION busy.
static LOG_FILE: SessionState<std::fs::File> = SessionState::new();

/// Events not yet delivered, as of the last borrow of [`SESSION`] (for that
/// same case).
static PENDING: AtomicUsize = AtomicUsize::new(0);

/// The level of the `redis` trace channel in this session ([`UNKNOWN`]:
/// not read yet).  Read once (at the first event, when the core has its
/// session's Trace settings), not per event.
static TRACE_LEVEL: AtomicI32 = AtomicI32::new(UNKNOWN);
const UNKNOWN: i32 = i32::MIN;

/// The `redis` trace channel's level: below 1, no trace line is made.
pub(super) fn trace_level() -> i32 {
    let level = TRACE_LEVEL.load(Ordering::Relaxed);
    if level != UNKNOWN {
        return level;
    }
    let level = LOG.trace_level();
    TRACE_LEVEL.store(level, Ordering::Relaxed);
    level
}

/// The trace lines gathered during a borrow, once it ended.
fn trace_after(lines: Vec<(i32, String)>) {
    for (level, line) in lines {
        LOG.trace(level, &line);
    }
}

/// Read this server's settings and set the session up; every call into
/// proftpd happens here, before the state is touched.
pub(super) fn configure_session() {
    let (session, log_file) = if ENGINE.get(Scope::Server).unwrap_or(false) {
        let (s, f) = session_settings();
        (Some(s), f)
    } else {
        (None, None)
    };
    // The rules in force may differ on another server (HOST).
    super::events::forget_rules();
    let (old, old_file) = (SESSION.replace(session), LOG_FILE.replace(log_file));
    if old.is_err() || old_file.is_err() {
        LOG.notice("session state busy: RedisEngine settings not applied");
    }
}

/// The settings of an engine-on session, and its RedisLog.
fn session_settings() -> (Session, Option<std::fs::File>) {
    let mut log_file = None;
    if let Some(path) = LOG_FILE_DIRECTIVE.get(Scope::Server)
        && !path.eq_ignore_ascii_case("none")
    {
        match fs::open_log_file(&path, 0o640) {
            Ok(f) => log_file = Some(f),
            Err(e) => LOG.notice(&format!("notice: unable to open RedisLog '{path}': {e}")),
        }
    }
    let opts = OPTIONS.all(Scope::Server).into_iter().fold(0, |a, b| a | b);
    let (connect, io) = TIMEOUTS.get(Scope::Server).unwrap_or((500, 500));
    let no_reconnect = opts & OPT_NO_RECONNECT != 0;
    let sentinel = SENTINEL.get(Scope::Server);
    if let Some(s) = &sentinel
        && let Err(e) = configure_core_sentinels(s)
    {
        LOG.notice(&format!(
            "RedisSentinel: error configuring the core's Redis Sentinels: {e}"
        ));
    }
    let explicit = SERVER.get(Scope::Server);
    if let Some(cfg) = &explicit {
        let flags = if no_reconnect {
            core_redis::NO_RECONNECT
        } else {
            0
        };
        configure_core(cfg, flags);
    }
    let server = explicit.or_else(main_server_redis).or_else(|| {
        // Sentinel only: the master's address comes from the Sentinels.
        sentinel.as_ref().map(|s| ServerCfg {
            addr: server::Addr::Tcp {
                host: String::new(),
                port: server::DEFAULT_PORT,
            },
            username: None,
            password: None,
            db: None,
            tls: s.tls.clone(),
        })
    });
    if let Err(e) = core_redis::set_timeouts(connect, io) {
        LOG.notice(&format!("error setting Redis timeouts: {e}"));
    }
    let settings = server.map(|server| Settings {
        tls_files: read_tls_files(&server.tls, &mut log_file),
        sentinel_tls_files: sentinel
            .as_ref()
            .map(|s| read_tls_files(&s.tls, &mut log_file))
            .unwrap_or_default(),
        sentinel: sentinel.clone(),
        server,
        connect_timeout: Duration::from_millis(connect),
        io_timeout: Duration::from_millis(io),
        no_reconnect,
        backlog_max: sink::BACKLOG_MAX,
    });
    let spool = settings
        .as_ref()
        .and_then(|st| open_spool(st, &mut log_file));
    let session = Session {
        settings,
        sink: None,
        spool,
        warned_no_server: false,
    };
    (session, log_file)
}

/// RedisLogSpool's directory, opened as root before any chroot (the
/// session keeps using it through descriptors), with this session's own
/// file in it.
fn open_spool(settings: &Settings, log_file: &mut Option<std::fs::File>) -> Option<Spool> {
    let cfg = SPOOL.get(Scope::Server)?;
    let destination = spool::destination_of(&destination(settings));
    let (now, _) = sys::now();
    let mut tag = [0u8; 4];
    let _ = sys::random_bytes(&mut tag);
    let opened = privs::as_root(|| {
        Spool::open(
            &cfg,
            destination,
            now,
            std::process::id(),
            u32::from_le_bytes(tag),
        )
    });
    match opened {
        Ok(s) => Some(s),
        Err(e) => {
            log_line(
                log_file,
                &format!("RedisLogSpool: {e}: not spooling in this session"),
            );
            None
        }
    }
}

/// Where this session's events go, as the spool names it: the address
/// (or the Sentinels and their master) and the db index, never a
/// credential.
fn destination(settings: &Settings) -> String {
    let mut d = server::describe(&settings.server);
    if let Some(s) = &settings.sentinel {
        let mut sentinels: Vec<String> = s
            .sentinels
            .iter()
            .map(|a| match a {
                server::Addr::Tcp { host, port } => format!("{host}:{port}"),
                server::Addr::Unix(p) => p.clone(),
            })
            .collect();
        sentinels.sort();
        d = format!(
            "sentinel {} master {}",
            sentinels.join(","),
            s.master.as_deref().unwrap_or("")
        );
    }
    format!("{d} db {}", settings.server.db.unwrap_or(0))
}

/// A `<VirtualHost>` without a RedisServer of its own uses the one of the
/// server config, as the C module does: there, the server config's
/// RedisServer sets the process's Redis server while the configuration is
/// read, and a vhost's session without one of its own keeps it (its
/// RedisSentinel is not carried over: the C module hands the Sentinels
/// over only in the session of the server they are configured in).  The
/// last one of the server config, as the last one read is what stays set.
fn main_server_redis() -> Option<ServerCfg> {
    SERVER.all(Scope::MainServer).pop()
}

/// Read the TLS files as root (the session may run as a user that cannot).
fn read_tls_files(tls: &server::Tls, log_file: &mut Option<std::fs::File>) -> sink::TlsFiles {
    if !tls.enabled {
        return sink::TlsFiles::default();
    }
    let mut read = |path: &Option<String>| {
        let p = path.as_ref()?;
        match privs::as_root(|| std::fs::read(p)) {
            Ok(b) => Some(b),
            Err(e) => {
                log_line(log_file, &format!("unable to read '{p}': {e}"));
                None
            }
        }
    };
    let (ca, cert, key) = (read(&tls.ca), read(&tls.cert), read(&tls.key));
    // Without ssl-ca, the server is verified against the system's CAs: read
    // them now, before a chroot hides them.
    let system_roots = if ca.is_none() {
        let found = privs::as_root(rustls_native_certs::load_native_certs);
        if found.certs.is_empty() {
            log_line(log_file, "no system CA certificates found (use ssl-ca:)");
        }
        found.certs.into_iter().map(|c| c.to_vec()).collect()
    } else {
        Vec::new()
    };
    sink::TlsFiles {
        ca,
        cert,
        key,
        system_roots,
    }
}

/// A RedisLog line, and the same message at DebugLevel 3.  Not while
/// [`SESSION`] is borrowed (it logs): there, [`write_log_line`] and
/// [`debug_after`].
fn log_line(file: &mut Option<std::fs::File>, msg: &str) {
    if let Some(f) = file {
        write_line(f, msg);
    }
    LOG.debug(3, msg);
}

/// A RedisLog line: `YYYY-MM-DD HH:MM:SS,mmm mod_redis/x-rs[pid]: msg` (UTC).
fn write_line(f: &mut std::fs::File, msg: &str) {
    let (secs, micros) = sys::now();
    let line = format!(
        "{},{:03} {VERSION}[{}]: {msg}\n",
        utc_time(secs),
        micros / 1000,
        std::process::id()
    );
    let _ = f.write_all(line.as_bytes());
}

/// A RedisLog line written from plain Rust (the file's own short borrow);
/// the message is also kept in `debug` for [`debug_after`].
pub(super) fn write_log_line(msg: String, debug: &mut Vec<String>) {
    let _ = LOG_FILE.with_some(|f| write_line(f, &msg));
    debug.push(msg);
}

/// The messages gathered during a borrow, at DebugLevel 3, once it ended.
pub(super) fn debug_after(debug: Vec<String>) {
    for m in debug {
        LOG.debug(3, &m);
    }
}

/// `YYYY-MM-DD HH:MM:SS` for seconds since the epoch (UTC).
pub fn utc_time(secs: u64) -> String {
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    // Howard Hinnant's civil-from-days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02}",
        rem / 3600,
        rem / 60 % 60,
        rem % 60
    )
}

/// Whether this session logs to Redis (RedisEngine on).
pub(super) fn engine_on() -> bool {
    SESSION.with(|s| s.is_some()) == Ok(true)
}

/// Hand `events` to the session's sink (made at the first event), which
/// sends them; `spare` gets the buffers of delivered events back.  RedisLog
/// messages go to `debug` too (for [`debug_after`]).
pub(super) fn submit(
    events: &mut Vec<sink::Event>,
    spare: &mut Vec<Vec<u8>>,
    debug: &mut Vec<String>,
) {
    let n = events.len();
    let trace = trace_level();
    let mut traces = Vec::new();
    let submitted = SESSION.with_some(|s| {
        if events.is_empty() {
            return;
        }
        if s.sink.is_none() {
            match &s.settings {
                Some(settings) => {
                    let mut sink = Sink::new(settings.clone());
                    if let Some(sp) = s.spool.take() {
                        sink.set_spool(sp);
                    }
                    s.sink = Some(sink);
                }
                None => {
                    if !s.warned_no_server {
                        s.warned_no_server = true;
                        write_log_line(
                            "no RedisServer configured: not logging to Redis".into(),
                            debug,
                        );
                    }
                    return;
                }
            }
        }
        if let Some(sink) = s.sink.as_mut() {
            sink.set_trace_level(trace);
            sink.submit(events.drain(..), &mut |m| write_log_line(m, debug));
            sink.recycle(spare);
            sink.take_traces(&mut traces);
            PENDING.store(sink.pending(), Ordering::Relaxed);
        }
    });
    if submitted.is_err() {
        write_log_line(format!("module state busy: {n} event(s) dropped"), debug);
    }
    trace_after(traces);
}

/// Deliver the session's backlog: once (before `HOST` switches servers), or
/// at session end with up to [`sink::EXIT_GRACE`] for Redis to come back
/// (with RedisLogSpool: what Redis does not take goes to the spool at once,
/// and the grace time drains spooled events while Redis answers).  Never
/// waits for the state: if it is busy (the session ends inside a borrow,
/// which the rule should make impossible) the undelivered events are
/// counted as lost.
pub(super) fn flush_session(at_exit: bool) {
    let when = if at_exit {
        "session ending"
    } else {
        "switching servers (HOST)"
    };
    let mut debug = Vec::new();
    let mut traces = Vec::new();
    let mut spool = None;
    let done = SESSION.with_some(|s| {
        let Some(sink) = s.sink.as_mut() else {
            // No event in this session: its spool file is empty.
            spool = s.spool.take();
            if let Some(sp) = spool.as_mut() {
                sp.finish_writing();
            }
            return;
        };
        let mut log = |m: String| write_log_line(m, &mut debug);
        let retried = if at_exit {
            sink.finish(sink::EXIT_GRACE, &mut log)
        } else {
            sink.hand_over(&mut log);
            None
        };
        spool = sink.take_spool();
        let pending = sink.pending();
        PENDING.store(pending, Ordering::Relaxed);
        if pending > 0 {
            log(format!(
                "{when}: {pending} event(s) could not be delivered to Redis"
            ));
        } else if let Some(t) = retried {
            log(format!(
                "session ending: all events delivered after waiting {} ms for Redis",
                t.as_millis()
            ));
        }
        sink.take_traces(&mut traces);
    });
    if done.is_err() {
        let pending = PENDING.load(Ordering::Relaxed);
        write_log_line(
            format!(
                "{when}: module state busy: {pending} event(s) could not be delivered to Redis"
            ),
            &mut debug,
        );
    }
    debug_after(debug);
    trace_after(traces);
    if let Some(mut sp) = spool {
        // Emptied files go.  After a login with RootRevoke (proftpd's
        // default) this fails quietly: the next session to start removes
        // them.
        privs::as_root(|| sp.remove_done());
    }
    if !at_exit {
        // Another server (HOST) may have other Trace settings.
        TRACE_LEVEL.store(UNKNOWN, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn utc_time() {
        assert_eq!(super::utc_time(0), "1970-01-01 00:00:00");
        assert_eq!(super::utc_time(1_700_000_000), "2023-11-14 22:13:20");
        assert_eq!(super::utc_time(951_825_600), "2000-02-29 12:00:00");
    }
}
