//! mod_redis: log FTP commands as JSON objects onto Redis lists.
//!
//! Directives (syntax, contexts and defaults of ProFTPD 1.3.8's C module):
//! `RedisEngine`, `RedisLog`, `RedisLogFormatExtra`, `RedisLogOnCommand`,
//! `RedisLogOnEvent`, `RedisOptions`, `RedisSentinel`, `RedisServer`,
//! `RedisTimeouts`.  Differences from the C module are documented on the
//! handlers and in README.md (ALL logs everything, bounded waits, backlog).

//!
//! The module's parts: `directives` (the handlers and what they store),
//! `session` (the session's set-up and end, RedisLog), `events` (the
//! logging path: rules in force, JSON events, the hand-off to the sink),
//! `sink` (the connection and backlog), `json`, `server` (pure).

pub mod directives;
mod events;
pub mod json;
pub mod legacy;
pub mod server;
mod session;
pub mod sink;
pub mod spool;

use crate::host::event;
use crate::host::jot;
use crate::host::module::ANY_COMMAND;
use directives::{
    ENGINE, EXTRA, LOG_FILE_DIRECTIVE, ON_COMMAND, ON_EVENT, OPTIONS, SENTINEL, SERVER, SPOOL,
    TIMEOUTS,
};
use events::log_any;
use session::{configure_session, flush_session};

crate::host::module! {
    name: redis,
    directives: [
        ENGINE, LOG_FILE_DIRECTIVE, EXTRA, ON_COMMAND, ON_EVENT, OPTIONS, SENTINEL, SERVER, SPOOL, TIMEOUTS,
    ],
    commands: [LogCmd ANY_COMMAND => log_any, LogCmdErr ANY_COMMAND => log_any],
    init: init,
    sess_init: sess_init,
}

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
