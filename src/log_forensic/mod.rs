//! mod_log_forensic: captures every log message the core raises (even those
//! DebugLevel and Trace levels filter out) into a ring buffer, and writes
//! the buffer to the ForensicLogFile when a login fails, a session dies by
//! a signal, or a module's policy ends it.
//!
//! Directives (server config, `<VirtualHost>`, `<Global>`):
//! `ForensicLogEngine on|off` (off), `ForensicLogFile /path` (required),
//! `ForensicLogBufferSize count` (1024), `ForensicLogCapture type ...` (all),
//! `ForensicLogCriteria criterion ...` (FailedLogin UntimelyDeath).
//!
//! The capture handler runs for every log message, so it neither logs nor
//! traces (that would raise a log event from inside the handler) and does
//! not allocate once the ring has filled.

pub mod block;
pub mod config;
pub mod ring;

use crate::host::cmd::{Cmd, CmdResult};
use crate::host::conf::{self, Directive, Key, Scope};
use crate::host::event::{self, Handler};
use crate::host::logevent::{Log, LogEvent};
use crate::host::session::{self, EndReason};
use crate::host::state::SessionState;
use crate::host::{context, fs};
use block::{Criterion, Header};
use config::{Capture, Criteria};
use ring::Ring;
use std::fs::File;

crate::host::module! {
    name: log_forensic,
    directives: [BUFFER_SIZE, CAPTURE, CRITERIA, ENGINE, FILE],
    commands: [LogCmdErr c"PASS" => on_pass_failed],
    init: init,
    sess_init: sess_init,
}

// Event handlers, made once so they can be unregistered again.
const ON_LOG: Handler<Log> = event::handler!(on_log);
const ON_EXIT: Handler<()> = event::handler!(on_exit);
const ON_REINIT: Handler<()> = event::handler!(on_session_reinit);

/// The session's capture state (per process: sessions are forked).
struct State {
    file: File,
    path: String,
    ring: Ring,
    criteria: Criteria,
    capture: Capture,
}

/// Borrowed only for plain Rust (see [`SessionState`]): a log message
/// raised while the state is borrowed (which the rule makes impossible, but
/// a signal handler could) finds it busy and is dropped.
static STATE: SessionState<State> = SessionState::new();

// ---- directives ----------------------------------------------------------

const CONTEXTS: u32 = context::ROOT | context::VIRTUAL | context::GLOBAL;

/// usage: ForensicLogBufferSize count
const BUFFER_SIZE: Key<u32> = Key::new(c"ForensicLogBufferSize", set_buffer_size);

fn set_buffer_size(cmd: &mut Directive<u32>) -> Result<(), String> {
    cmd.check_ignoring_extra(1, CONTEXTS)?;
    let n = config::parse_buffer_size(cmd.arg(0))?;
    cmd.add_param(n);
    Ok(())
}

/// usage: ForensicLogCapture type ...
const CAPTURE: Key<Capture> = Key::new(c"ForensicLogCapture", set_capture);

fn set_capture(cmd: &mut Directive<Capture>) -> Result<(), String> {
    if cmd.argc() < 1 {
        return Err("wrong number of parameters".into());
    }
    cmd.check_context(CONTEXTS)?;
    let c = config::parse_capture(cmd.args())?;
    cmd.add_param(c);
    Ok(())
}

/// usage: ForensicLogCriteria criterion ...
const CRITERIA: Key<Criteria> = Key::new(c"ForensicLogCriteria", set_criteria);

fn set_criteria(cmd: &mut Directive<Criteria>) -> Result<(), String> {
    if cmd.argc() < 1 {
        return Err("wrong number of parameters".into());
    }
    cmd.check_context(CONTEXTS)?;
    let c = config::parse_criteria(cmd.args())?;
    cmd.add_param(c);
    Ok(())
}

/// usage: ForensicLogEngine on|off
const ENGINE: Key<bool> = Key::new(c"ForensicLogEngine", set_engine);

fn set_engine(cmd: &mut Directive<bool>) -> Result<(), String> {
    cmd.check_ignoring_extra(1, CONTEXTS)?;
    let on = conf::parse_bool(cmd.arg(0))
        .ok_or_else(|| format!("expected Boolean parameter: {}", cmd.arg(0)))?;
    cmd.add_param(on);
    Ok(())
}

/// usage: ForensicLogFile path
const FILE: Key<String> = Key::new(c"ForensicLogFile", conf::absolute_path::<CONTEXTS>);

// ---- module and session initialisation -------------------------------------

fn init() -> Result<(), String> {
    event::register(&MODULE, event::RESTART, event::handler!(on_restart));
    Ok(())
}

/// The configuration is re-read: drop the session state (the stored
/// directive values are reset by the host, see `register_module_lifecycle`).
fn on_restart() {
    let _ = STATE.take();
}

fn sess_init() -> Result<(), String> {
    event::register(&MODULE, event::SESSION_REINIT, ON_REINIT);
    start();
    Ok(())
}

/// Read this server's configuration, open the file and start capturing.
fn start() {
    if !ENGINE.get(Scope::Server).unwrap_or(false) {
        return;
    }
    let Some(path) = FILE.get(Scope::Server) else {
        LOG.notice("missing required ForensicLogFile setting, disabling module");
        return;
    };
    let file = match fs::open_log_file(&path, 0o640) {
        Ok(f) => f,
        Err(e) => {
            let why = match e {
                fs::OpenLogError::WorldWritableDir => "parent directory is world-writable".into(),
                fs::OpenLogError::Symlink => "cannot log to a symlink".into(),
                fs::OpenLogError::NotAbsolute => "not an absolute path".into(),
                fs::OpenLogError::Os(e) => e,
            };
            LOG.notice(&format!(
                "notice: unable to open ForensicLogFile '{path}': {why}, disabling module"
            ));
            return;
        }
    };
    let capture = CAPTURE.get(Scope::Server).unwrap_or(Capture::ALL);
    let criteria = CRITERIA.get(Scope::Server).unwrap_or(Criteria::DEFAULT);
    let size = BUFFER_SIZE
        .get(Scope::Server)
        .unwrap_or(config::DEFAULT_BUFFER_SIZE);

    let old = STATE.replace(Some(State {
        file,
        path,
        ring: Ring::new(size as usize),
        criteria,
        capture,
    }));
    drop(old);

    // Listeners last, as the C module does.
    if criteria.module_config || criteria.untimely_death {
        event::register(&MODULE, event::EXIT, ON_EXIT);
    }
    for t in capture.types() {
        event::register(&MODULE, t.event(), ON_LOG);
    }
}

/// Stop capturing; close the file.
fn stop() {
    let capture = STATE.take().ok().flatten().map(|s| s.capture);
    event::unregister(&MODULE, event::EXIT, ON_EXIT);
    if let Some(capture) = capture {
        for t in capture.types() {
            event::unregister(&MODULE, t.event(), ON_LOG);
        }
    }
}

/// HOST switched the virtual host: start over with that server's settings.
fn on_session_reinit() {
    stop();
    start();
}

// ---- capture -----------------------------------------------------------------

/// A `core.log.*` event: keep the message.  No logging in here (loop), and
/// no waiting: if the state is busy (we are writing a block, and writing
/// raised a log message) the message is dropped.
fn on_log(le: &LogEvent) {
    if le.message.is_empty() {
        return;
    }
    // Busy: drop the message rather than wait or loop.
    let _ = STATE.with_some(|s| s.ring.push(le.log_type_code, le.log_level, le.message));
}

// ---- writing blocks ------------------------------------------------------------

fn on_pass_failed(_cmd: &mut Cmd) -> CmdResult {
    if STATE.with_some(|s| s.criteria.failed_login) == Ok(Some(true)) {
        write_forensics(Criterion::FailedLogin);
    }
    CmdResult::Declined
}

/// Which criterion, if any, a session end meets.
///
/// A segfault is not one: the core reports it from inside its SIGSEGV
/// handler, where building and writing a block (allocation, locks in the
/// C library) is not safe; the C module does not write then either.
fn exit_criterion(reason: EndReason, by_module: bool, c: Criteria) -> Option<Criterion> {
    match reason {
        EndReason::Signal if c.untimely_death => Some(Criterion::UntimelyDeath),
        EndReason::ModuleAcl if c.module_config => Some(Criterion::ModuleConfig),
        EndReason::Banned | EndReason::ConfigAcl if by_module && c.module_config => {
            Some(Criterion::ModuleConfig)
        }
        _ => None,
    }
}

fn on_exit() {
    let (reason, by_module) = session::end_reason();
    if reason == EndReason::Segfault {
        // Inside the core's SIGSEGV handler: touch nothing (see above).
        return;
    }
    let Ok(Some(criteria)) = STATE.with_some(|s| s.criteria) else {
        return;
    };
    if let Some(c) = exit_criterion(reason, by_module, criteria) {
        write_forensics(c);
    }
}

/// Write one block with everything captured so far, then start afresh.  A
/// write error is reported once (after the state is released, so the
/// notice itself can be captured) and the block is given up.  The state is
/// borrowed only to render and write(2) the block: plain Rust and a system
/// call, nothing of proftpd's.
fn write_forensics(criterion: Criterion) {
    // Gather the session facts before taking the state: these calls may
    // log, and their messages are captured like any other.
    let info = session::snapshot();
    let unique_id = session::note_get(crate::unique_id::NOTE);
    let header = Header {
        client_addr: info.client_addr,
        server_addr: info.server_addr,
        server_port: info.server_port,
        elapsed_ms: info.elapsed_ms,
        protocol: info.protocol,
        user: info.user,
        uid: info.euid,
        gid: info.egid,
        unique_id,
        raw_bytes_in: info.raw_bytes_in,
        raw_bytes_out: info.raw_bytes_out,
        total_bytes_in: info.total_bytes_in,
        total_bytes_out: info.total_bytes_out,
        total_files_in: info.total_files_in,
        total_files_out: info.total_files_out,
        pid: info.pid,
    };
    let failure = STATE.with_some(|s| {
        let out = block::render(criterion, &header, &s.ring);
        s.ring.clear();
        // A block that cannot fit is not started: no torn block in the file.
        let fits = fs::free_bytes(&s.file).is_none_or(|free| free >= out.len() as u64);
        let written = if fits {
            block::write_block(&mut s.file, &out)
        } else {
            Err(std::io::Error::from_raw_os_error(libc::ENOSPC))
        };
        written.err().map(|e| (s.path.clone(), e))
    });
    if let Ok(Some(Some((path, e)))) = failure {
        LOG.notice(&format!(
            "error writing to ForensicLogFile '{path}': {e}; forensic block dropped"
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_criteria() {
        let all = Criteria {
            failed_login: true,
            module_config: true,
            untimely_death: true,
        };
        let none = Criteria {
            failed_login: true,
            module_config: false,
            untimely_death: false,
        };
        use EndReason::*;
        assert_eq!(
            exit_criterion(Signal, false, all),
            Some(Criterion::UntimelyDeath)
        );
        // Not on a segfault: the core reports it from its signal handler.
        assert_eq!(exit_criterion(Segfault, false, all), None);
        assert_eq!(
            exit_criterion(ModuleAcl, true, all),
            Some(Criterion::ModuleConfig)
        );
        assert_eq!(
            exit_criterion(Banned, true, all),
            Some(Criterion::ModuleConfig)
        );
        assert_eq!(exit_criterion(ConfigAcl, false, all), None);
        for r in [ClientQuit, ClientEof, Timeout, ServerShutdown, Unspecified] {
            assert_eq!(exit_criterion(r, true, all), None, "{r:?}");
        }
        for r in [Signal, Segfault, ModuleAcl, Banned] {
            assert_eq!(exit_criterion(r, true, none), None, "{r:?}");
        }
        assert_eq!(
            exit_criterion(Signal, false, Criteria::DEFAULT),
            Some(Criterion::UntimelyDeath)
        );
        assert_eq!(exit_criterion(ModuleAcl, true, Criteria::DEFAULT), None);
    }
}
