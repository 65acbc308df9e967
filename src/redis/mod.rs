//! mod_redis: log FTP commands as JSON objects onto Redis lists.
//!
//! Directives (syntax, contexts and defaults of ProFTPD 1.3.8's C module):
//! `RedisEngine`, `RedisLog`, `RedisLogFormatExtra`, `RedisLogOnCommand`,
//! `RedisLogOnEvent`, `RedisOptions`, `RedisSentinel`, `RedisServer`,
//! `RedisTimeouts`.  Differences from the C module are documented on the
//! handlers and in README.md (ALL logs everything, bounded waits, backlog).

pub mod json;
pub mod legacy;
pub mod server;
pub mod sink;

use crate::host::cmd::{Cmd, CmdResult};
use crate::host::conf::{self, CArg, Directive, Key, Scope};
use crate::host::event;
use crate::host::jot::{self, FilterKind, Filters, LogFmt};
use crate::host::module::ANY_COMMAND;
use crate::host::state::SessionState;
use crate::host::{context, core_redis, fs, privs, sys};
use serde_json::{Map, Value};
use server::{SentinelCfg, ServerCfg};
use sink::{Settings, Sink};
use std::io::Write;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

crate::host::module! {
    name: redis,
    directives: [
        ENGINE, LOG_FILE_DIRECTIVE, EXTRA, ON_COMMAND, ON_EVENT, OPTIONS, SENTINEL, SERVER, TIMEOUTS,
    ],
    commands: [LogCmd ANY_COMMAND => log_any, LogCmdErr ANY_COMMAND => log_any],
    init: init,
    sess_init: sess_init,
}

/// RedisOptions NoReconnect.
const OPT_NO_RECONNECT: u32 = 0x1;

const SERVER_CTX: u32 = context::ROOT | context::VIRTUAL | context::GLOBAL;
const LOG_CTX: u32 = SERVER_CTX | context::ANON | context::DIR;

/// One `RedisLogOnCommand` / `RedisLogOnEvent` record.
#[derive(Clone, Debug)]
enum Rule {
    /// `none`: no logging of this kind here and below.
    None,
    Log(Arc<LogRule>),
}

#[derive(Debug)]
struct LogRule {
    /// `None` logs every command.
    filters: Option<Filters>,
    fmt_name: String,
    fmt: LogFmt,
    key: Option<LogFmt>,
}

/// One `RedisLogFormatExtra` record.
#[derive(Clone, Debug)]
struct Extra {
    fmt_name: String,
    object: Map<String, Value>,
}

// ---- directive handlers -------------------------------------------------

/// usage: RedisEngine on|off
const ENGINE: Key<bool> = Key::new(c"RedisEngine", set_engine);

fn set_engine(cmd: &mut Directive<bool>) -> Result<(), String> {
    cmd.check(1, SERVER_CTX)?;
    let on = cmd.bool_arg(0)?;
    cmd.add_param_c(on, &[CArg::Int(on.into())]);
    Ok(())
}

/// usage: RedisLog path|"none"
const LOG_FILE_DIRECTIVE: Key<String> = Key::new(c"RedisLog", set_log);

fn set_log(cmd: &mut Directive<String>) -> Result<(), String> {
    cmd.check(1, SERVER_CTX)?;
    let path = cmd.arg(0).to_string();
    if !path.eq_ignore_ascii_case("none") && !path.starts_with('/') {
        return Err("must be an absolute path".into());
    }
    cmd.add_param_c(path.clone(), &[CArg::Str(Some(path))]);
    Ok(())
}

fn require_format(name: &str) -> Result<LogFmt, String> {
    jot::find_log_format(name).ok_or_else(|| format!("no LogFormat '{name}' configured"))
}

/// usage: RedisLogFormatExtra format-name json-object
const EXTRA: Key<Extra> = Key::new(c"RedisLogFormatExtra", set_format_extra);

fn set_format_extra(cmd: &mut Directive<Extra>) -> Result<(), String> {
    cmd.check(2, LOG_CTX)?;
    let fmt_name = cmd.arg(0).to_string();
    require_format(&fmt_name)?;
    let object = json::parse_extra(cmd.arg(1))?;
    for (k, v) in &object {
        if let Value::String(s) = v
            && s.contains('%')
        {
            jot::compile(s).map_err(|e| format!("error parsing value of '{k}': {e}"))?;
        }
    }
    cmd.add_param_multi(Extra { fmt_name, object });
    Ok(())
}

/// The words of a `RedisLogOnCommand` / `RedisLogOnEvent` line (the pure
/// part of [`set_log_on`]).
#[derive(Debug, PartialEq, Eq)]
enum LogOnArgs {
    /// `none`.
    None,
    Log {
        /// The command/class list, as written.
        rules: String,
        /// RedisLogOnCommand with `ALL` in the list: every command.
        every_command: bool,
        fmt_name: String,
        key: Option<String>,
    },
}

fn parse_log_on(args: &[String], kind: FilterKind) -> Result<LogOnArgs, String> {
    if args.len() == 1 && args[0].eq_ignore_ascii_case("none") {
        return Ok(LogOnArgs::None);
    }
    conf::check_arity(args.len(), 2, 3)?;
    let rules = args[0].clone();
    // `ALL` means every command (the C module's command filter took it for
    // an unknown command name and logged nothing).
    let all = rules
        .split(',')
        .any(|r| r.trim().eq_ignore_ascii_case("ALL"));
    Ok(LogOnArgs::Log {
        rules,
        every_command: all && kind == FilterKind::Commands,
        fmt_name: args[1].clone(),
        key: args.get(2).cloned(),
    })
}

fn set_log_on(cmd: &mut Directive<Rule>, kind: FilterKind, what: &str) -> Result<(), String> {
    cmd.check_context(LOG_CTX)?;
    let LogOnArgs::Log {
        rules,
        every_command,
        fmt_name,
        key,
    } = parse_log_on(cmd.args(), kind)?
    else {
        cmd.add_param_multi(Rule::None);
        return Ok(());
    };
    let filters = if every_command {
        None
    } else {
        Some(
            Filters::new(&rules, kind)
                .map_err(|e| format!("unable to use {what} '{rules}': {e}"))?,
        )
    };
    let fmt = require_format(&fmt_name)?;
    let key = if let Some(text) = key {
        if text.is_empty() {
            return Err("error parsing Redis key '': empty key".into());
        }
        Some(jot::compile(&text).map_err(|e| format!("error parsing Redis key '{text}': {e}"))?)
    } else {
        None
    };
    cmd.add_param_multi(Rule::Log(Arc::new(LogRule {
        filters,
        fmt_name,
        fmt,
        key,
    })));
    Ok(())
}

/// usage: RedisLogOnCommand "none"|commands format-name [key]
const ON_COMMAND: Key<Rule> = Key::new(c"RedisLogOnCommand", set_log_on_command);

fn set_log_on_command(cmd: &mut Directive<Rule>) -> Result<(), String> {
    set_log_on(cmd, FilterKind::Commands, "commands")
}

/// usage: RedisLogOnEvent "none"|events format-name [key]
const ON_EVENT: Key<Rule> = Key::new(c"RedisLogOnEvent", set_log_on_event);

fn set_log_on_event(cmd: &mut Directive<Rule>) -> Result<(), String> {
    set_log_on(cmd, FilterKind::CommandsWithClasses, "events")
}

/// The `RedisOptions` words as flags (names are case-sensitive, as in the
/// C module).
fn parse_options(args: &[String]) -> Result<u32, String> {
    let mut opts = 0u32;
    for a in args {
        match a.as_str() {
            "NoReconnect" => opts |= OPT_NO_RECONNECT,
            other => return Err(format!("unknown RedisOption '{other}'")),
        }
    }
    Ok(opts)
}

/// usage: RedisOptions opt1 ...
const OPTIONS: Key<u32> = Key::new(c"RedisOptions", set_options);

fn set_options(cmd: &mut Directive<u32>) -> Result<(), String> {
    if cmd.argc() == 0 {
        return Err("wrong number of parameters".into());
    }
    cmd.check_context(SERVER_CTX)?;
    let opts = parse_options(cmd.args())?;
    // 1.3.9's C module marks the record CF_MULTI when mod_ifsession is
    // loaded, so that an <IfUser>/<IfGroup>/<IfClass> RedisOptions adds to
    // the server's options instead of replacing them; 1.3.8's does not.
    let multi = crate::host::version::built_for_series((1, 3, 9))
        && crate::host::module::is_loaded("mod_ifsession.c");
    cmd.add_param_c_multi(opts, &[CArg::ULong(opts.into())], multi);
    Ok(())
}

/// usage: RedisSentinel host[:port] ... [master name] [ssl:...]
/// Our own connection asks the Sentinels for the master (the first one they
/// monitor when no name is given) and asks again after a failure, so it
/// follows a failover.  RedisServer's credentials and db index apply to the
/// master.
const SENTINEL: Key<SentinelCfg> = Key::new(c"RedisSentinel", set_sentinel);

fn set_sentinel(cmd: &mut Directive<SentinelCfg>) -> Result<(), String> {
    cmd.check_context(SERVER_CTX)?;
    let cfg: SentinelCfg = server::parse_sentinel(cmd.args())?;
    core_redis::check_sentinels(cfg.tls.enabled)?;
    check_tls_files(&cfg.tls)?;
    if cmd.context() == context::ROOT {
        configure_core_sentinels(&cfg);
    }
    let c_argv = sentinel_c_argv(&cfg);
    cmd.add_param_c(cfg, &c_argv);
    Ok(())
}

/// usage: RedisServer server [username] [password] [db-index] [ssl:...]
const SERVER: Key<ServerCfg> = Key::new(c"RedisServer", set_server);

fn set_server(cmd: &mut Directive<ServerCfg>) -> Result<(), String> {
    cmd.check_args_range(1, 8)?;
    cmd.check_context(SERVER_CTX)?;
    let cfg = if series_1_3_7() {
        legacy::parse_server(cmd.args())?
    } else {
        server::parse_server(cmd.args())?
    };
    // A single credential is a password (configure_core).
    core_redis::check_server(
        cfg.username.is_some() && cfg.password.is_some(),
        cfg.tls.enabled,
    )?;
    if cfg.tls.enabled && matches!(cfg.addr, server::Addr::Unix(_)) {
        return Err("TLS (ssl:true) needs a TCP address, not a unix socket".into());
    }
    check_tls_files(&cfg.tls)?;
    // In the "server config" context, configure the core now (as the C
    // module does), so that e.g. mod_ban's session init finds it.
    if cmd.context() == context::ROOT {
        configure_core(&cfg, 0);
    }
    let c_argv = server_c_argv(&cfg);
    cmd.add_param_c(cfg, &c_argv);
    Ok(())
}

/// Whether the library is built for proftpd 1.3.7 (its C module's
/// RedisServer syntax and records: `legacy`).
fn series_1_3_7() -> bool {
    !crate::host::version::built_for_series((1, 3, 8))
}

/// RedisServer's record as the C module lays it out (mod_wrap2_redis reads
/// it): host (or socket path), port, the credentials as written, db index,
/// use-ssl, ssl-ca, ssl-cert, ssl-key (1.3.7: host, port, password, db
/// index).
fn server_c_argv(cfg: &ServerCfg) -> Vec<CArg> {
    let (host, port) = match &cfg.addr {
        server::Addr::Tcp { host, port } => (host.clone(), *port),
        server::Addr::Unix(path) => (path.clone(), server::DEFAULT_PORT),
    };
    if series_1_3_7() {
        return vec![
            CArg::Str(Some(host)),
            CArg::Int(port.into()),
            CArg::Str(cfg.password.clone()),
            CArg::Str(cfg.db.map(|d| d.to_string())),
        ];
    }
    let mut v = vec![
        CArg::Str(Some(host)),
        CArg::Int(port.into()),
        CArg::Str(cfg.username.clone()),
        CArg::Str(cfg.password.clone()),
        CArg::Str(cfg.db.map(|d| d.to_string())),
    ];
    v.extend(tls_c_argv(&cfg.tls));
    v
}

/// RedisSentinel's record as the C module lays it out: the Sentinels'
/// addresses, master name, use-ssl, ssl-ca, ssl-cert, ssl-key (1.3.7: the
/// first two).
fn sentinel_c_argv(cfg: &SentinelCfg) -> Vec<CArg> {
    let mut v = vec![
        CArg::NetAddrs(sentinel_addrs(cfg)),
        CArg::Str(cfg.master.clone()),
    ];
    if series_1_3_7() {
        return v;
    }
    v.extend(tls_c_argv(&cfg.tls));
    v
}

/// The Sentinels' (host, port) pairs (they are all TCP addresses).
fn sentinel_addrs(cfg: &SentinelCfg) -> Vec<(String, u16)> {
    cfg.sentinels
        .iter()
        .filter_map(|a| match a {
            server::Addr::Tcp { host, port } => Some((host.clone(), *port)),
            server::Addr::Unix(_) => None,
        })
        .collect()
}

fn tls_c_argv(tls: &server::Tls) -> [CArg; 4] {
    [
        CArg::Int(tls.enabled.into()),
        CArg::Str(tls.ca.clone()),
        CArg::Str(tls.cert.clone()),
        CArg::Str(tls.key.clone()),
    ]
}

/// The ssl-* files must exist; cert and key go together.
fn check_tls_files(tls: &server::Tls) -> Result<(), String> {
    for (what, path) in [
        ("ssl-ca", &tls.ca),
        ("ssl-cert", &tls.cert),
        ("ssl-key", &tls.key),
    ] {
        if let Some(p) = path
            && !std::path::Path::new(p).is_file()
        {
            return Err(format!("{what}: '{p}': no such file"));
        }
    }
    if tls.cert.is_some() != tls.key.is_some() {
        return Err("ssl-cert and ssl-key must be given together".into());
    }
    Ok(())
}

/// Hand the RedisServer settings to the core (for mod_ban, mod_tls_redis,
/// mod_wrap2_redis).  A single credential is a password, as for our own
/// connection.
fn configure_core(cfg: &ServerCfg, flags: u64) {
    let (host, port) = match &cfg.addr {
        server::Addr::Tcp { host, port } => (host.as_str(), *port),
        server::Addr::Unix(path) => (path.as_str(), server::DEFAULT_PORT),
    };
    let (user, pass) = match (&cfg.username, &cfg.password) {
        (Some(u), Some(p)) => (Some(u.as_str()), Some(p.as_str())),
        (Some(p), None) | (None, Some(p)) => (None, Some(p.as_str())),
        (None, None) => (None, None),
    };
    let db = cfg.db.map(|d| d.to_string());
    let tls = core_tls(&cfg.tls);
    if let Err(e) = core_redis::set_server(host, port, flags, user, pass, db.as_deref(), tls) {
        LOG.notice(&format!("error configuring the core's Redis server: {e}"));
    }
}

/// The ssl settings for the core, as the C module passes them (the core
/// keeps one set: the Sentinels' and then RedisServer's, in that order, as
/// with the C module).
fn core_tls(tls: &server::Tls) -> core_redis::Tls<'_> {
    core_redis::Tls {
        enabled: tls.enabled,
        ca: tls.ca.as_deref(),
        cert: tls.cert.as_deref(),
        key: tls.key.as_deref(),
    }
}

/// Hand the Sentinels to the core (mod_ban etc. then find the master
/// through them, as with the C module).
fn configure_core_sentinels(cfg: &SentinelCfg) {
    let tls = core_tls(&cfg.tls);
    if let Err(e) = core_redis::set_sentinels(&sentinel_addrs(cfg), cfg.master.as_deref(), tls) {
        LOG.notice(&format!(
            "error configuring the core's Redis Sentinels: {e}"
        ));
    }
}

/// usage: RedisTimeouts connect-millis io-millis
const TIMEOUTS: Key<(u64, u64)> = Key::new(c"RedisTimeouts", set_timeouts);

fn set_timeouts(cmd: &mut Directive<(u64, u64)>) -> Result<(), String> {
    cmd.check(2, SERVER_CTX)?;
    let connect = server::parse_millis(cmd.arg(0), "connect")?;
    let io = server::parse_millis(cmd.arg(1), "IO")?;
    cmd.add_param_c((connect, io), &[CArg::ULong(connect), CArg::ULong(io)]);
    Ok(())
}

// ---- session state ------------------------------------------------------

struct Session {
    settings: Option<Settings>,
    sink: Option<Sink>,
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

fn init() -> Result<(), String> {
    // Also forget the jot filters (in a pool of ours) on restart.
    event::register(&MODULE, event::RESTART, event::handler!(on_restart));
    Ok(())
}

fn on_restart() {
    jot::reset();
}

fn sess_init() -> Result<(), String> {
    event::register(
        &MODULE,
        event::SESSION_REINIT,
        event::handler!(on_session_reinit),
    );
    event::register(&MODULE, event::EXIT, event::handler!(on_exit));
    configure_session();
    Ok(())
}

fn on_session_reinit() {
    flush_session(false);
    configure_session();
}

fn on_exit() {
    flush_session(true);
}

/// Read this server's settings and set the session up; every call into
/// proftpd happens here, before the state is touched.
fn configure_session() {
    let (session, log_file) = if ENGINE.get(Scope::Server).unwrap_or(false) {
        let (s, f) = session_settings();
        (Some(s), f)
    } else {
        (None, None)
    };
    // The rules in force may differ on another server (HOST).
    let _ = ACTIVE.replace(None);
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
    if let Some(s) = &sentinel {
        configure_core_sentinels(s);
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
    let server = explicit.or_else(|| {
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
    let session = Session {
        settings,
        sink: None,
        warned_no_server: false,
    };
    (session, log_file)
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
fn write_log_line(msg: String, debug: &mut Vec<String>) {
    let _ = LOG_FILE.with_some(|f| write_line(f, &msg));
    debug.push(msg);
}

/// The messages gathered during a borrow, at DebugLevel 3, once it ended.
fn debug_after(debug: Vec<String>) {
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

/// Deliver the session's backlog: once (before `HOST` switches servers), or
/// at session end with up to [`sink::EXIT_GRACE`] for Redis to come back.
/// Never waits for the state: if it is busy (the session ends inside a
/// borrow, which the rule should make impossible) the undelivered events
/// are counted as lost.
fn flush_session(at_exit: bool) {
    let when = if at_exit {
        "session ending"
    } else {
        "switching servers (HOST)"
    };
    let mut debug = Vec::new();
    let done = SESSION.with_some(|s| {
        let Some(sink) = s.sink.as_mut() else {
            return;
        };
        let mut log = |m: String| write_log_line(m, &mut debug);
        let retried = if at_exit {
            sink.finish(sink::EXIT_GRACE, &mut log)
        } else {
            sink.flush(true, &mut log);
            None
        };
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
}

// ---- logging ------------------------------------------------------------

/// A `RedisLogFormatExtra` member as events get it: the key and, unless
/// it needs resolving per event, the value, both as JSON text.
#[derive(Debug)]
struct ExtraMember {
    key: Vec<u8>,
    value: ExtraValue,
}

#[derive(Debug)]
enum ExtraValue {
    Json(Vec<u8>),
    /// A string with LogFormat variables, resolved per event to text (the
    /// string as written if that fails).
    Format {
        fmt: LogFmt,
        written: Vec<u8>,
    },
}

/// A rule in force, with the extra members of its LogFormat.
#[derive(Debug)]
struct ActiveRule {
    rule: Arc<LogRule>,
    extras: Vec<ExtraMember>,
}

/// The RedisLogOnCommand/RedisLogOnEvent rules in force in a configuration
/// context, found once per context and session, not per command.
type Active = Arc<Vec<ActiveRule>>;

/// The rules of the contexts seen in this session (a few: the server, its
/// `<Directory>` sections as the session moves through them).
static ACTIVE: SessionState<Vec<(conf::Context, Active)>> = SessionState::new();

/// Contexts remembered per session; beyond this, the oldest is forgotten.
const CONTEXTS_MAX: usize = 16;

/// The members of the extras (in order) that apply to `fmt_name`.
fn extra_members(extras: &[Extra], fmt_name: &str) -> Vec<ExtraMember> {
    let mut members = Vec::new();
    for extra in extras.iter().filter(|e| e.fmt_name == fmt_name) {
        for (k, v) in &extra.object {
            // Objects and arrays are left out, as in the C module.
            if matches!(v, Value::Object(_) | Value::Array(_)) {
                continue;
            }
            let written = json::to_json(v);
            let value = match v {
                Value::String(s) if s.contains('%') => match jot::compile(s) {
                    Ok(fmt) => ExtraValue::Format { fmt, written },
                    Err(_) => ExtraValue::Json(written),
                },
                _ => ExtraValue::Json(written),
            };
            members.push(ExtraMember {
                key: json::key_json(k),
                value,
            });
        }
    }
    members
}

fn rules_of(key: Key<Rule>) -> Vec<Arc<LogRule>> {
    let rules = key.all(Scope::Current);
    if rules.iter().any(|r| matches!(r, Rule::None)) {
        return Vec::new();
    }
    rules
        .into_iter()
        .filter_map(|r| match r {
            Rule::Log(l) => Some(l),
            Rule::None => None,
        })
        .collect()
}

/// The rules in force for this command: looked up in the configuration
/// the first time the session is in this context, from [`ACTIVE`] after.
fn active_rules() -> Active {
    let ctx = conf::current_context();
    let known = ACTIVE.with(|c| {
        c.as_ref()
            .and_then(|list| list.iter().find(|(k, _)| *k == ctx))
            .map(|(_, a)| a.clone())
    });
    if let Ok(Some(active)) = known {
        return active;
    }
    // Calls into proftpd: with nothing borrowed.
    let mut rules = rules_of(ON_COMMAND);
    rules.extend(rules_of(ON_EVENT));
    let extras = if rules.is_empty() {
        Vec::new()
    } else {
        EXTRA.all(Scope::Current)
    };
    let active: Active = Arc::new(
        rules
            .into_iter()
            .map(|rule| ActiveRule {
                extras: extra_members(&extras, &rule.fmt_name),
                rule,
            })
            .collect(),
    );
    let _ = ACTIVE.with(|c| {
        let list = c.get_or_insert_with(Vec::new);
        if list.len() >= CONTEXTS_MAX {
            list.remove(0);
        }
        list.push((ctx, active.clone()));
    });
    active
}

/// The buffers events are written in, reused from command to command
/// (taken out of [`SCRATCH`] while in use, so nothing is borrowed while
/// the core resolves LogFormats).
#[derive(Default)]
struct Scratch {
    object: json::Object,
    text: json::Text,
    payload: Vec<u8>,
    events: Vec<sink::Event>,
    /// Buffers of delivered events (from the sink), for new ones.
    spare: Vec<Vec<u8>>,
}

static SCRATCH: SessionState<Scratch> = SessionState::new();

/// Resolve `fmt` (with its text) into `out`; `false` if that failed.
fn resolve_text(cmd: &Cmd, fmt: &LogFmt, out: &mut json::Text) -> Result<bool, String> {
    out.0.clear();
    jot::resolve_to(cmd, None, fmt, out, true)
}

/// The event of `rule` for `cmd`, added to `sc.events` (unless the rule's
/// filters exclude the command).
fn event_for(cmd: &Cmd, active: &ActiveRule, sc: &mut Scratch, errors: &mut Vec<String>) {
    let rule = &active.rule;
    sc.object.clear();
    match jot::resolve_to(cmd, rule.filters, &rule.fmt, &mut sc.object, false) {
        Ok(true) => {}
        Ok(false) => return,
        Err(e) => {
            errors.push(format!("error generating JSON formatted log message: {e}"));
            return;
        }
    }
    if cmd.is_connect() {
        sc.object.mark_first(br#""connecting""#);
    }
    if cmd.is_disconnect() {
        sc.object.mark_first(br#""disconnecting""#);
    }
    for m in &active.extras {
        match &m.value {
            ExtraValue::Json(v) => sc.object.add_if_absent(&m.key, v),
            ExtraValue::Format { fmt, written } => {
                if sc.object.has(&m.key) {
                    continue;
                }
                match resolve_text(cmd, fmt, &mut sc.text) {
                    Ok(true) => sc.object.add_text_if_absent(&m.key, &sc.text.0),
                    _ => sc.object.add_if_absent(&m.key, written),
                }
            }
        }
    }
    let key: &[u8] = match &rule.key {
        Some(k) => match resolve_text(cmd, k, &mut sc.text) {
            Ok(true) => &sc.text.0,
            Ok(false) => rule.fmt_name.as_bytes(),
            Err(e) => {
                errors.push(format!("error resolving Redis key format: {e}"));
                rule.fmt_name.as_bytes()
            }
        },
        None => rule.fmt_name.as_bytes(),
    };
    sc.payload.clear();
    sc.object.write(&mut sc.payload);
    let buf = sc.spare.pop().unwrap_or_default();
    sc.events
        .push(sink::Event::in_buffer(buf, key, &sc.payload));
}

/// LOG_CMD / LOG_CMD_ERR for every command.  The rules are looked up and
/// the events resolved first (calls into proftpd); the state is borrowed
/// only to hand them to the sink.
fn log_any(cmd: &mut Cmd) -> CmdResult {
    if SESSION.with(|s| s.is_some()) != Ok(true) {
        return CmdResult::Declined;
    }
    let active = active_rules();
    if active.is_empty() {
        return CmdResult::Declined;
    }
    let mut sc = SCRATCH.take().ok().flatten().unwrap_or_default();
    sc.events.clear();
    let mut errors = Vec::new();
    for rule in active.iter() {
        event_for(cmd, rule, &mut sc, &mut errors);
    }
    if sc.events.is_empty() && errors.is_empty() {
        let _ = SCRATCH.replace(Some(sc));
        return CmdResult::Declined;
    }
    let mut debug = Vec::new();
    for e in errors {
        write_log_line(e, &mut debug);
    }
    let n = sc.events.len();
    let submitted = SESSION.with_some(|s| {
        if sc.events.is_empty() {
            return;
        }
        if s.sink.is_none() {
            match &s.settings {
                Some(settings) => s.sink = Some(Sink::new(settings.clone())),
                None => {
                    if !s.warned_no_server {
                        s.warned_no_server = true;
                        write_log_line(
                            "no RedisServer configured: not logging to Redis".into(),
                            &mut debug,
                        );
                    }
                    return;
                }
            }
        }
        if let Some(sink) = s.sink.as_mut() {
            sink.submit(sc.events.drain(..), &mut |m| write_log_line(m, &mut debug));
            sink.recycle(&mut sc.spare);
            PENDING.store(sink.pending(), Ordering::Relaxed);
        }
    });
    if submitted.is_err() {
        write_log_line(
            format!("module state busy: {n} event(s) dropped"),
            &mut debug,
        );
    }
    let _ = SCRATCH.replace(Some(sc));
    debug_after(debug);
    CmdResult::Declined
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

/// Property tests of the pure directive parsing (see docs/fuzzing.md);
/// the command/class lists themselves are parsed by the core
/// (`pr_jot_filters_create`), and RedisLogFormatExtra's JSON by
/// [`json::parse_extra`] (tested there).
#[cfg(test)]
mod proptests {
    use super::*;
    use crate::proptest_support::{config, text_or};
    use proptest::prelude::*;

    const RULE_PIECES: &[&str] = &[
        "ALL", "all", "All", "ALLX", "XALL", ",", ", ", " ", "\t", "RETR", "STOR", "AUTH", "READ",
        "none", "NONE", "é", "\u{fffd}", "",
    ];

    fn kind() -> impl Strategy<Value = FilterKind> {
        prop_oneof![
            Just(FilterKind::Commands),
            Just(FilterKind::CommandsWithClasses)
        ]
    }

    proptest! {
        #![proptest_config(config(1024))]

        #[test]
        fn log_on_words(
            args in prop::collection::vec(text_or(RULE_PIECES, 6), 0..6),
            kind in kind(),
        ) {
            let r = parse_log_on(&args, kind);
            if args.len() == 1 && args[0].eq_ignore_ascii_case("none") {
                prop_assert_eq!(r, Ok(LogOnArgs::None));
            } else if args.len() < 2 {
                prop_assert_eq!(r, Err("missing parameters".to_string()));
            } else if args.len() > 3 {
                prop_assert_eq!(r, Err("wrong number of parameters".to_string()));
            } else {
                let all = args[0]
                    .split(',')
                    .map(|w| w.trim_matches(char::is_whitespace).to_ascii_uppercase())
                    .any(|w| w == "ALL");
                prop_assert_eq!(r, Ok(LogOnArgs::Log {
                    rules: args[0].clone(),
                    every_command: all && kind == FilterKind::Commands,
                    fmt_name: args[1].clone(),
                    key: args.get(2).cloned(),
                }));
            }
        }

        #[test]
        fn options_words(args in prop::collection::vec(
            text_or(&["NoReconnect", "noreconnect", "No", "Reconnect", " ", ""], 3), 0..5)
        ) {
            match parse_options(&args) {
                Ok(flags) => {
                    prop_assert!(args.iter().all(|a| a == "NoReconnect"));
                    prop_assert_eq!(flags, if args.is_empty() { 0 } else { OPT_NO_RECONNECT });
                }
                Err(e) => {
                    let bad = args.iter().find(|a| *a != "NoReconnect");
                    prop_assert_eq!(Some(e), bad.map(|b| format!("unknown RedisOption '{b}'")));
                }
            }
        }
    }
}
