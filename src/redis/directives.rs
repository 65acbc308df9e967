//! mod_redis's directives: their handlers and the values they store, the
//! C module's record layouts (mod_wrap2_redis reads RedisServer's), and
//! what the master hands the core's Redis connection at parse time.

use super::LOG;
use super::json;
use super::legacy;
use super::server::{self, SentinelCfg, ServerCfg};
use super::spool;
use crate::host::conf::{self, CArg, Directive, Key};
use crate::host::jot::{self, FilterKind, Filters, LogFmt};
use crate::host::{context, core_redis};
use serde_json::{Map, Value};
use std::sync::Arc;

/// RedisOptions NoReconnect.
pub(super) const OPT_NO_RECONNECT: u32 = 0x1;

const SERVER_CTX: u32 = context::ROOT | context::VIRTUAL | context::GLOBAL;
const LOG_CTX: u32 = SERVER_CTX | context::ANON | context::DIR;

/// One `RedisLogOnCommand` / `RedisLogOnEvent` record.
#[derive(Clone, Debug)]
pub(super) enum Rule {
    /// `none`: no logging of this kind here and below.
    None,
    Log(Arc<LogRule>),
}

#[derive(Debug)]
pub(super) struct LogRule {
    /// `None` logs every command.
    pub(super) filters: Option<Filters>,
    pub(super) fmt_name: String,
    pub(super) fmt: LogFmt,
    pub(super) key: Option<LogFmt>,
}

/// One `RedisLogFormatExtra` record.
#[derive(Clone, Debug)]
pub(super) struct Extra {
    pub(super) fmt_name: String,
    pub(super) object: Map<String, Value>,
}

// ---- directive handlers -------------------------------------------------

/// The parse warnings of `cmd`, each naming the directive and the line.
fn warn_all(cmd: &Directive<impl Send + 'static>, warnings: Vec<String>) {
    for w in warnings {
        cmd.warn(&w);
    }
}

/// usage: RedisEngine on|off
pub(super) const ENGINE: Key<bool> = Key::new(c"RedisEngine", set_engine);

fn set_engine(cmd: &mut Directive<bool>) -> Result<(), String> {
    cmd.check_ignoring_extra(1, SERVER_CTX)?;
    let on = cmd.bool_arg(0)?;
    cmd.add_param_c(on, &[CArg::Int(on.into())]);
    Ok(())
}

/// usage: RedisLog path|"none"
pub(super) const LOG_FILE_DIRECTIVE: Key<String> = Key::new(c"RedisLog", set_log);

fn set_log(cmd: &mut Directive<String>) -> Result<(), String> {
    cmd.check_ignoring_extra(1, SERVER_CTX)?;
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
pub(super) const EXTRA: Key<Extra> = Key::new(c"RedisLogFormatExtra", set_format_extra);

fn set_format_extra(cmd: &mut Directive<Extra>) -> Result<(), String> {
    cmd.check_ignoring_extra(2, LOG_CTX)?;
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
    let key = match key {
        // The C module starts with an empty key, then drops every event
        // (Redis needs a key): the LogFormat's name instead, with a warning.
        Some(text) if text.is_empty() => {
            cmd.warn(&format!(
                "empty Redis key (parameter 3): events go to the list '{fmt_name}'"
            ));
            None
        }
        Some(text) => Some(
            jot::compile(&text).map_err(|e| format!("error parsing Redis key '{text}': {e}"))?,
        ),
        None => None,
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
pub(super) const ON_COMMAND: Key<Rule> = Key::new(c"RedisLogOnCommand", set_log_on_command);

fn set_log_on_command(cmd: &mut Directive<Rule>) -> Result<(), String> {
    set_log_on(cmd, FilterKind::Commands, "commands")
}

/// usage: RedisLogOnEvent "none"|events format-name [key]
pub(super) const ON_EVENT: Key<Rule> = Key::new(c"RedisLogOnEvent", set_log_on_event);

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
pub(super) const OPTIONS: Key<u32> = Key::new(c"RedisOptions", set_options);

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
pub(super) const SENTINEL: Key<SentinelCfg> = Key::new(c"RedisSentinel", set_sentinel);

fn set_sentinel(cmd: &mut Directive<SentinelCfg>) -> Result<(), String> {
    cmd.check_at_least(1, SERVER_CTX)?;
    let mut warnings = Vec::new();
    let parsed = server::parse_sentinel(cmd.args(), &mut warnings);
    warn_all(cmd, warnings);
    // None usable: no Sentinels, as in the C module.
    let Some(cfg) = parsed? else {
        return Ok(());
    };
    core_redis::check_sentinels(cfg.tls.enabled)?;
    check_tls_files(&cfg.tls)?;
    if cmd.context() == context::ROOT {
        let w = match configure_core_sentinels(&cfg) {
            Ok(unresolved) => unresolved
                .into_iter()
                .map(|i| {
                    format!(
                        "Sentinel {} does not resolve: the core leaves it out",
                        i + 1
                    )
                })
                .collect(),
            Err(e) => vec![format!("error configuring the core's Redis Sentinels: {e}")],
        };
        warn_all(cmd, w);
    }
    let c_argv = sentinel_c_argv(&cfg);
    cmd.add_param_c(cfg, &c_argv);
    Ok(())
}

/// usage: RedisServer server [username] [password] [db-index] [ssl:...]
pub(super) const SERVER: Key<ServerCfg> = Key::new(c"RedisServer", set_server);

fn set_server(cmd: &mut Directive<ServerCfg>) -> Result<(), String> {
    cmd.check_at_least(1, SERVER_CTX)?;
    let mut warnings = Vec::new();
    let parsed = if series_1_3_7() {
        legacy::parse_server(cmd.args(), &mut warnings)
    } else {
        server::parse_server(cmd.args(), &mut warnings)
    };
    warn_all(cmd, warnings);
    let cfg = parsed?;
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
pub(super) fn configure_core(cfg: &ServerCfg, flags: u64) {
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
/// through them, as with the C module, which leaves out those that do not
/// resolve); returns the positions of those (counting from 0).  No message
/// names a Sentinel.
pub(super) fn configure_core_sentinels(cfg: &SentinelCfg) -> Result<Vec<usize>, String> {
    let tls = core_tls(&cfg.tls);
    core_redis::set_sentinels(&sentinel_addrs(cfg), cfg.master.as_deref(), tls)
}

/// usage: RedisLogSpool path [max-size]
/// Events Redis cannot take wait in this directory (root's alone) until a
/// session that reaches Redis sends them (see `spool`).  Not in the C
/// module: off by default.
pub(super) const SPOOL: Key<spool::Config> = Key::new(c"RedisLogSpool", set_spool);

fn set_spool(cmd: &mut Directive<spool::Config>) -> Result<(), String> {
    cmd.check_args_range(1, 2)?;
    cmd.check_context(SERVER_CTX)?;
    let path = cmd.arg(0).to_string();
    spool::check_dir(&path)?;
    let max_size = match cmd.args().get(1) {
        Some(w) => spool::parse_size(w)?,
        None => spool::DEFAULT_MAX_SIZE,
    };
    cmd.add_param(spool::Config { path, max_size });
    Ok(())
}

/// usage: RedisTimeouts connect-millis io-millis
pub(super) const TIMEOUTS: Key<(u64, u64)> = Key::new(c"RedisTimeouts", set_timeouts);

fn set_timeouts(cmd: &mut Directive<(u64, u64)>) -> Result<(), String> {
    cmd.check_ignoring_extra(2, SERVER_CTX)?;
    let mut warnings = Vec::new();
    let connect = server::parse_timeout(cmd.arg(0), "connect", &mut warnings);
    let io = server::parse_timeout(cmd.arg(1), "IO", &mut warnings);
    warn_all(cmd, warnings);
    let (connect, io) = (connect?, io?);
    cmd.add_param_c((connect, io), &[CArg::ULong(connect), CArg::ULong(io)]);
    Ok(())
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
