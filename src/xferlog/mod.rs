//! mod_xferlog: transfer logs in the wu-orig, wu-ext and anon formats
//! (xferlog(5)), to files or to syslog (facility LOG_FTP).
//!
//! Directives (server config, `<VirtualHost>`, `<Global>`, `<Anonymous>`):
//! - `XferLog path|syslog [wu-orig|wu-ext|anon]` — repeatable; default
//!   wu-orig; `anon` is file-only and logs anonymous downloads only.
//! - `XferLogPaths chroot|real` — filename and cwd as seen inside a chrooted
//!   session (default) or as real file-system paths.
//! - `XferLogEngine on|off` (default on).
//!
//! Anonymous sessions use the `XferLog` lines of their `<Anonymous>`
//! section when it has any, else the server's.  Every file is opened in
//! `sess_init`, as root and before the chroot, with mode 0644 (ProFTPD's
//! TransferLog mode).

pub mod format;
pub mod syslog;

use crate::host::cmd::{Cmd, CmdResult};
use crate::host::conf::{self, Directive, Key, Scope};
use crate::host::event;
use crate::host::state::SessionState;
use crate::host::{context, fs, session, sys};
use format::{AccessMode, Completion, Direction, Extended, Format, Operation, Record};
use std::io::Write;
use std::sync::Arc;

// One handler per transfer command and outcome: every handler proftpd
// dispatches costs it a debug message (a 16 KB buffer cleared), so the REST
// offset is taken when REST is logged, not in a PRE_CMD of every transfer;
// only STOU, whose argument mod_xfer replaces, needs its PRE_CMD. mod_sftp
// dispatches OPEN, READ and WRITE (LOG_CMD) for SFTP requests: the offset of
// the first READ or WRITE after an OPEN is the transfer's restart point, so
// every SFTP READ and WRITE request costs that debug message (about 20 k
// instructions for a 32 KB request of OpenSSH's sftp, 2% of mod_sftp's own).
crate::host::module! {
    name: xferlog,
    directives: [XFERLOG, ENGINE, PATHS],
    commands: [
        LogCmd c"REST" => log_rest,
        PreCmd c"STOU" => pre_stou,
        LogCmd c"RETR" => log_complete,
        LogCmd c"STOR" => log_complete,
        LogCmd c"STOU" => log_complete,
        LogCmd c"APPE" => log_complete,
        LogCmdErr c"RETR" => log_failed,
        LogCmdErr c"STOR" => log_failed,
        LogCmdErr c"STOU" => log_failed,
        LogCmdErr c"APPE" => log_failed,
        LogCmd c"PROT" => log_prot,
        LogCmd c"AUTH" => log_auth,
        LogCmd c"OPEN" => log_sftp_open,
        LogCmd c"READ" => log_sftp_io,
        LogCmd c"WRITE" => log_sftp_io,
        PreCmd c"ABOR" => pre_abor,
    ],
    sess_init: sess_init,
}

/// ProFTPD's PR_TUNABLE_XFER_LOG_MODE, used for TransferLog.
const LOG_MODE: u32 = 0o644;

/// Where one `XferLog` line writes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Target {
    File(String),
    Syslog,
}

/// One `XferLog` directive.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Output {
    pub target: Target,
    pub format: Format,
}

/// `XferLogPaths`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PathView {
    Chroot,
    Real,
}

const CONTEXTS: u32 = context::ROOT | context::VIRTUAL | context::GLOBAL | context::ANON;

/// Parse the arguments of `XferLog`.
pub fn parse_xferlog(args: &[String]) -> Result<Output, String> {
    if args.is_empty() || args.len() > 2 {
        return Err("usage: XferLog path|syslog [wu-orig|wu-ext|anon]".into());
    }
    let format = match args.get(1) {
        None => Format::WuOrig,
        Some(f) => Format::from_config(f)
            .ok_or_else(|| format!("unknown format '{f}' (expected wu-orig, wu-ext or anon)"))?,
    };
    let target = if args[0].eq_ignore_ascii_case("syslog") {
        if format == Format::Anon {
            return Err("the anon format can only be written to a file, not to syslog".into());
        }
        Target::Syslog
    } else if args[0].starts_with('/') {
        Target::File(args[0].clone())
    } else {
        return Err(format!(
            "'{}' is not an absolute path (or 'syslog')",
            args[0]
        ));
    };
    Ok(Output { target, format })
}

/// usage: XferLog path|syslog [wu-orig|wu-ext|anon]
const XFERLOG: Key<Output> = Key::new(c"XferLog", set_xferlog);

fn set_xferlog(cmd: &mut Directive<Output>) -> Result<(), String> {
    cmd.check_args_range(1, 2)?;
    cmd.check_context(CONTEXTS)?;
    let out = parse_xferlog(cmd.args())?;
    cmd.add_param(out);
    Ok(())
}

/// usage: XferLogEngine on|off
const ENGINE: Key<bool> = Key::new(c"XferLogEngine", conf::on_off::<CONTEXTS>);

/// The `XferLogPaths` word (case-insensitive).
pub fn parse_paths(word: &str) -> Result<PathView, String> {
    match word.to_ascii_lowercase().as_str() {
        "chroot" => Ok(PathView::Chroot),
        "real" => Ok(PathView::Real),
        other => Err(format!("expected 'chroot' or 'real', not '{other}'")),
    }
}

/// usage: XferLogPaths chroot|real
const PATHS: Key<PathView> = Key::new(c"XferLogPaths", set_paths);

fn set_paths(cmd: &mut Directive<PathView>) -> Result<(), String> {
    cmd.check(1, CONTEXTS)?;
    let v = parse_paths(cmd.arg(0))?;
    cmd.add_param(v);
    Ok(())
}

/// Per-session state (sessions are forked processes).
#[derive(Default)]
struct Session {
    /// The open XferLog files by path (a few at most: a list, and no
    /// HashMap, whose random keys would cost a getrandom() per session).
    files: Vec<(String, std::fs::File)>,
    /// The REST offset for the next transfer command (SFTP: the offset of
    /// the first READ or WRITE since the OPEN).
    restart: u64,
    /// An SFTP OPEN was logged and no READ or WRITE since.
    sftp_opened: bool,
    /// Data-channel protection chosen by the client: PROT P/C, or AUTH
    /// SSL/TLS-P (protected) and AUTH TLS/TLS-C (clear); `None` until it
    /// sent either (see [`protection`]).
    protected: Option<bool>,
    /// The syslog socket, when an `XferLog syslog` applies.
    syslog: Option<std::os::unix::net::UnixDatagram>,
    /// STOU's argument as the client sent it (mod_xfer replaces it with
    /// the name it chose).
    stou_arg: Option<String>,
    /// The settings that apply to this session's transfers, looked up at
    /// its first transfer (after login, when `<Anonymous>` is known).
    settings: Option<Arc<Settings>>,
    /// The transfer as it was when ABOR came in during it ([`pre_abor`]).
    aborted: Option<session::XferState>,
}

/// The XferLog settings of a session.
struct Settings {
    engine: bool,
    view: PathView,
    outputs: Vec<Output>,
    wants_ext: bool,
}

impl Settings {
    fn lookup() -> Settings {
        let mut outputs = XFERLOG.all_anon();
        if outputs.is_empty() {
            outputs = XFERLOG.all(Scope::Server);
        }
        Settings {
            engine: setting(ENGINE).unwrap_or(true),
            view: setting(PATHS).unwrap_or(PathView::Chroot),
            wants_ext: outputs.iter().any(|o| o.format == Format::WuExt),
            outputs,
        }
    }
}

static SESSION: SessionState<Session> = SessionState::new();

/// Borrow the session state for a stretch of plain Rust (no call into
/// proftpd: see [`SessionState`]); `None` if it is busy (re-entered), in
/// which case the caller goes on without it.
fn with_session<R>(f: impl FnOnce(&mut Session) -> R) -> Option<R> {
    SESSION
        .with(|s| f(s.get_or_insert_with(Session::default)))
        .ok()
}

fn sess_init() -> Result<(), String> {
    event::register(
        &MODULE,
        event::SESSION_REINIT,
        event::handler!(on_session_reinit),
    );
    open_outputs();
    Ok(())
}

/// HOST switched the virtual host (before login): open that server's logs.
fn on_session_reinit() {
    open_outputs();
}

/// Open every XferLog of the current server, including those in
/// `<Anonymous>` sections: as root, before any chroot.
fn open_outputs() {
    let outputs = XFERLOG.all_nested(Scope::Server);
    let mut files: Vec<(String, std::fs::File)> = Vec::new();
    let mut syslog = false;
    for o in outputs {
        match o.target {
            Target::Syslog => syslog = true,
            Target::File(path) => {
                if files.iter().any(|(p, _)| *p == path) {
                    continue;
                }
                LOG.debug_with(6, || format!("opening XferLog '{path}'"));
                match fs::open_log_file(&path, LOG_MODE) {
                    Ok(f) => {
                        files.push((path, f));
                    }
                    Err(e) => LOG.notice(&format!("unable to open XferLog '{path}': {e}")),
                }
            }
        }
    }
    let syslog = if syslog {
        let path = syslog::socket_path();
        match syslog::connect(&path) {
            Ok(sock) => Some(sock),
            Err(e) => {
                LOG.notice(&format!("unable to connect to syslog socket '{path}': {e}"));
                None
            }
        }
    } else {
        None
    };
    // Replacing the list closes the previous server's files (after HOST).
    with_session(|s| {
        s.files = files;
        s.syslog = syslog;
        s.settings = None;
    });
}

/// A setting for this session: the `<Anonymous>` section's, else the server's.
fn setting<T: std::any::Any + Clone>(key: Key<T>) -> Option<T> {
    key.all_anon()
        .into_iter()
        .next()
        .or_else(|| key.get(Scope::Server))
}

fn log_rest(_cmd: &mut Cmd) -> CmdResult {
    let pos = session::restart_pos();
    with_session(|s| s.restart = pos);
    CmdResult::Declined
}

/// An SFTP OPEN succeeded: mod_sftp has set up `session.xfer` for the file
/// (its CLOSE dispatches the RETR, STOR or APPE we log).
fn log_sftp_open(_cmd: &mut Cmd) -> CmdResult {
    with_session(|s| {
        s.restart = 0;
        s.sftp_opened = true;
    });
    CmdResult::Declined
}

/// An SFTP READ or WRITE: mod_sftp notes its offset. The first one after
/// the OPEN is where the client started (OpenSSH's `reget`/`reput` start
/// where its copy ends); later ones are only a check of the state.
fn log_sftp_io(cmd: &mut Cmd) -> CmdResult {
    if with_session(|s| s.sftp_opened) != Some(true) {
        return CmdResult::Declined;
    }
    let offset = cmd.note_off_t(FILE_OFFSET_NOTE).unwrap_or(0);
    with_session(|s| {
        s.restart = offset;
        s.sftp_opened = false;
    });
    CmdResult::Declined
}

fn pre_stou(cmd: &mut Cmd) -> CmdResult {
    let arg = String::from_utf8_lossy(&cmd.arg_bytes()).into_owned();
    with_session(|s| s.stou_arg = Some(arg));
    CmdResult::Declined
}

fn log_prot(cmd: &mut Cmd) -> CmdResult {
    let arg = String::from_utf8_lossy(&cmd.arg_bytes())
        .trim()
        .to_ascii_uppercase();
    with_session(|s| s.protected = Some(arg == "P"));
    CmdResult::Declined
}

/// mod_tls protects the data channel after `AUTH SSL` and `AUTH TLS-P`
/// without any PROT command; `AUTH TLS` and `AUTH TLS-C` leave it clear.
fn log_auth(cmd: &mut Cmd) -> CmdResult {
    let arg = String::from_utf8_lossy(&cmd.arg_bytes())
        .trim()
        .to_ascii_uppercase();
    match arg.as_str() {
        "SSL" | "TLS-P" => {
            with_session(|s| s.protected = Some(true));
        }
        "TLS" | "TLS-C" => {
            with_session(|s| s.protected = Some(false));
        }
        _ => {}
    }
    CmdResult::Declined
}

/// Whether `protocol` (`pr_session_get_protocol`) is one of mod_sftp's:
/// SSH encrypts every SFTP and SCP transfer.
pub fn is_ssh(protocol: &str) -> bool {
    matches!(protocol, "ssh2" | "sftp" | "scp")
}

/// The protection level: `P` for mod_sftp's transfers (SSH); for FTP `C`
/// without TLS on the control channel (`session.rfc2228_mech` unset), else
/// what AUTH/PROT chose; TLS without any AUTH is implicit FTPS, where mod_tls
/// protects data from the start.
pub fn protection(protocol: &str, rfc2228_mech: Option<&str>, chosen: Option<bool>) -> char {
    if is_ssh(protocol) {
        return 'P';
    }
    match (rfc2228_mech, chosen) {
        (None, _) | (Some(_), Some(false)) => 'C',
        (Some(_), _) => 'P',
    }
}

/// The note mod_xfer's POST_CMD handlers of RETR, STOR, STOU and APPE set
/// to the file's size (stat(2) after the transfer); mod_sftp dispatches its
/// SFTP and SCP transfers through them too (where `session.xfer.file_size`
/// stays 0). Missing after a failed transfer (POST_CMD_ERR).
const FILE_SIZE_NOTE: &std::ffi::CStr = c"mod_xfer.file-size";

/// The note mod_sftp sets on its READ and WRITE requests to their offset
/// (what `%{file-offset}` logs).
const FILE_OFFSET_NOTE: &std::ffi::CStr = c"mod_xfer.file-offset";

fn log_complete(cmd: &mut Cmd) -> CmdResult {
    log_transfer(cmd, Completion::Complete);
    CmdResult::Declined
}

fn log_failed(cmd: &mut Cmd) -> CmdResult {
    log_transfer(cmd, Completion::Incomplete);
    CmdResult::Declined
}

/// `a` and `b` joined with one `/`.
fn join(a: &str, b: &str) -> String {
    let a = a.trim_end_matches('/');
    let b = b.trim_start_matches('/');
    if b.is_empty() {
        if a.is_empty() {
            "/".to_string()
        } else {
            a.to_string()
        }
    } else {
        format!("{a}/{b}")
    }
}

/// ABOR during a transfer: proftpd 1.3.7's mod_xfer ends the transfer in
/// ABOR's own handler and clears `session.xfer` before the transfer
/// command's LOG_CMD_ERR, where [`log_transfer`] then takes this copy
/// (1.3.8 and later keep `session.xfer` until then, and the copy goes
/// unused).
fn pre_abor(_cmd: &mut Cmd) -> CmdResult {
    if session::xfer_active() {
        let st = session::xfer();
        with_session(|s| s.aborted = Some(st));
    }
    CmdResult::Declined
}

/// The real file-system path of `path` as a chrooted session sees it
/// (ProFTPD's `dir_abs_path`: a path already under the chroot stays).
pub fn real_path(chroot: Option<&str>, cwd: &str, path: &str) -> String {
    match chroot {
        None if path.starts_with('/') => path.to_string(),
        None => join(cwd, path),
        Some(root) if path.starts_with('/') => {
            if path.starts_with(root) {
                path.to_string()
            } else {
                join(root, path)
            }
        }
        Some(root) => join(root, &join(cwd, path)),
    }
}

/// The transfer's path as the session sees it (inside its chroot), from
/// `session.xfer.path`. mod_xfer (FTP) sets that to the session's absolute
/// path, mod_sftp for SFTP to the path of the client's OPEN (absolute for
/// OpenSSH's sftp; a relative one is taken from `cwd`), but for SCP, just
/// before it dispatches the RETR or STOR, to the real path (`dir_abs_path`:
/// the chroot prepended), which is taken off again here. (A path inside the
/// chroot that itself starts with the chroot's path, which `dir_abs_path`
/// leaves alone, cannot be told from a real one: it loses that prefix.)
pub fn session_path(scp: bool, chroot: Option<&str>, cwd: &str, xfer_path: &str) -> String {
    if scp {
        let root = chroot.unwrap_or("").trim_end_matches('/');
        if !root.is_empty() {
            match xfer_path.strip_prefix(root) {
                Some("") => return "/".into(),
                Some(rest) if rest.starts_with('/') => return rest.into(),
                _ => {}
            }
        }
        return xfer_path.into();
    }
    if xfer_path.starts_with('/') {
        xfer_path.into()
    } else {
        join(cwd, xfer_path)
    }
}

/// filename-arg of an SCP upload. mod_sftp's STOR carries the target as an
/// absolute path of the session, not the remote operand the client gave
/// `scp` (a file, or a directory the file goes into under its own name),
/// which it does not pass on: relative to `cwd` (where the session logged
/// in, which an SCP session does not leave) when it is inside it, as the
/// usual relative operand, else absolute.
pub fn scp_upload_arg(cwd: &str, target: &str) -> String {
    let dir = cwd.trim_end_matches('/');
    match target.strip_prefix(dir) {
        Some(rest) if rest.len() > 1 && rest.starts_with('/') => rest[1..].into(),
        _ => target.into(),
    }
}

/// Seconds between `start` and `now` (whole seconds, as ProFTPD counts).
pub fn elapsed(start: Option<(i64, i64)>, now: (i64, i64)) -> u64 {
    match start {
        None => 0,
        Some((s, us)) => {
            let mut secs = now.0 - s;
            if now.1 < us {
                secs -= 1;
            }
            secs.max(0) as u64
        }
    }
}

fn log_transfer(cmd: &mut Cmd, completion: Completion) {
    // What this command consumes, whether it is logged or not.
    let (restart, protected, stou_arg, aborted) = with_session(|s| {
        let r = (s.restart, s.protected, s.stou_arg.take(), s.aborted.take());
        s.restart = 0;
        s.sftp_opened = false;
        r
    })
    .unwrap_or_default();
    let name = cmd.name();
    let live = session::xfer_active();
    // Aborted with ABOR in proftpd 1.3.7 (see pre_abor): the copy, if it is
    // a transfer of this command's direction.
    let aborted = aborted.filter(|a| !live && a.incoming == (name != "RETR"));
    if !live && aborted.is_none() {
        // No transfer was set up (e.g. "550 no such file", or not logged
        // in yet): nothing to log.
        LOG.trace(9, "no transfer to log");
        return;
    }
    // Logged in by now, so the `<Anonymous>` section (if any) is known.
    let settings = match with_session(|s| s.settings.clone()).flatten() {
        Some(settings) => settings,
        None => {
            let settings = Arc::new(Settings::lookup());
            with_session(|s| s.settings = Some(settings.clone()));
            settings
        }
    };
    if !settings.engine || settings.outputs.is_empty() {
        return;
    }
    let st = match aborted {
        Some(st) => st,
        None => session::xfer(),
    };
    let Some(xfer_path) = st.path.as_deref() else {
        return;
    };
    // As TransferLog: `ftp`, `ftps` (mod_tls), `sftp` or `scp` (mod_sftp).
    let service = session::protocol();
    let path = session_path(
        service == "scp",
        st.chroot_path.as_deref(),
        &st.cwd,
        xfer_path,
    );
    let (direction, op) = match name.as_str() {
        "RETR" => (Direction::Outgoing, Operation::Get),
        "APPE" => (Direction::Incoming, Operation::Append),
        _ => (Direction::Incoming, Operation::Put),
    };
    let view = settings.view;
    let (now_s, now_us) = sys::now();
    let now = (now_s as i64, i64::from(now_us));
    let time = sys::local_time(now.0);
    let access_mode = if st.anonymous {
        AccessMode::Anonymous
    } else if st.chroot_path.is_some() {
        AccessMode::Guest
    } else {
        AccessMode::Real
    };
    let username = if st.anonymous {
        st.anon_user.clone().or(st.user.clone())
    } else {
        st.user.clone()
    }
    .unwrap_or_default();
    // The file's size (only wu-ext writes it): mod_xfer's note when its
    // POST_CMD handler ran (a completed transfer, FTP or SFTP/SCP). Without
    // it (a failed transfer): for a download `session.xfer.file_size`, or
    // the file system's answer where that is 0 (mod_sftp leaves it 0);
    // after a plain binary STOR/STOU what came in
    // (the file was truncated); else asked of the file system (ASCII mode
    // rewrites line ends, a REST inside a longer file leaves its tail, APPE
    // adds to what was there).
    let file_size = match (cmd.note_off_t(FILE_SIZE_NOTE), direction) {
        (Some(n), _) => n,
        (None, Direction::Incoming)
            if settings.wants_ext && (st.ascii || restart > 0 || op == Operation::Append) =>
        {
            std::fs::metadata(&path)
                .map(|m| m.len())
                .unwrap_or(st.file_size + st.total_bytes)
        }
        (None, Direction::Incoming) => st.total_bytes,
        (None, Direction::Outgoing) if st.file_size == 0 && settings.wants_ext => {
            std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0)
        }
        (None, Direction::Outgoing) => st.file_size,
    };
    let protection = protection(&service, session::rfc2228_mech().as_deref(), protected);
    let (filename, cwd) = match view {
        PathView::Chroot => (path, st.cwd.clone()),
        PathView::Real => {
            let root = st.chroot_path.as_deref();
            (
                real_path(root, &st.cwd, &path),
                real_path(root, "/", &st.cwd),
            )
        }
    };
    // mod_ident's RFC 1413 answer, as ProFTPD's TransferLog uses it.
    let ident = session::note_get("mod_ident.rfc1413-ident");
    let arg = String::from_utf8_lossy(&cmd.arg_bytes()).into_owned();
    let filename_arg = match (stou_arg, service.as_str()) {
        (Some(a), _) if name == "STOU" => a,
        // The path of the client's OPEN: mod_sftp's RETR/STOR/APPE carry the
        // file it opened (for a symlink its target).
        (_, "sftp") => xfer_path.to_string(),
        (_, "scp") if direction == Direction::Incoming => scp_upload_arg(&st.cwd, &arg),
        // FTP; an SCP download: the remote operand given to scp.
        _ => arg,
    };
    let mut rec = Record {
        format: Format::WuOrig,
        time,
        transfer_time: elapsed(st.start, now),
        remote_host: st.remote_name.clone(),
        bytes: st.total_bytes,
        filename,
        transfer_type: Some(if st.ascii {
            format::TransferType::Ascii
        } else {
            format::TransferType::Binary
        }),
        special_action: Some("_".into()),
        direction,
        access_mode,
        username,
        service: Some(service),
        auth_method: Some(u8::from(ident.is_some())),
        auth_user_id: Some(match ident.as_deref() {
            None | Some("UNKNOWN") => "*".into(),
            Some(i) => i.to_string(),
        }),
        completion: Some(completion),
        ext: Some(Extended {
            restart_point: restart,
            file_size,
            cwd,
            filename_arg,
            protection,
        }),
    };
    let mut line = String::with_capacity(256);
    // Errors are logged after the state is released.
    let mut errors: Vec<(bool, String)> = Vec::new();
    let written = with_session(|s| {
        for o in &settings.outputs {
            if o.format == Format::Anon && !(st.anonymous && direction == Direction::Outgoing) {
                continue;
            }
            rec.format = o.format;
            match &o.target {
                Target::Syslog => {
                    if let Some(sock) = &s.syslog {
                        let msg = rec.to_syslog(o.format, op);
                        let d = syslog::datagram(&rec.time, std::process::id(), &msg);
                        if let Err(e) = sock.send(d.as_bytes()) {
                            errors.push((false, format!("error sending to syslog: {e}")));
                        }
                    }
                }
                Target::File(p) => {
                    let Some((_, f)) = s.files.iter_mut().find(|(q, _)| q == p) else {
                        errors.push((false, format!("XferLog '{p}' is not open")));
                        continue;
                    };
                    line.clear();
                    rec.push_line(&mut line, o.format);
                    line.push('\n');
                    if let Err(e) = f.write_all(line.as_bytes()) {
                        errors.push((true, format!("error writing XferLog '{p}': {e}")));
                    }
                }
            }
        }
    });
    if written.is_none() {
        errors.push((true, "session state busy: transfer not logged".into()));
    }
    for (notice, e) in errors {
        if notice {
            LOG.notice(&e);
        } else {
            LOG.debug(3, &e);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn protection_levels() {
        assert_eq!(protection("ftp", None, None), 'C');
        assert_eq!(protection("ftp", None, Some(true)), 'C');
        assert_eq!(protection("ftps", Some("TLS"), Some(false)), 'C');
        assert_eq!(protection("ftps", Some("TLS"), Some(true)), 'P');
        // Implicit FTPS: TLS from the start, no AUTH or PROT.
        assert_eq!(protection("ftps", Some("TLS"), None), 'P');
        // SFTP and SCP run inside SSH.
        assert_eq!(protection("sftp", None, None), 'P');
        assert_eq!(protection("scp", None, None), 'P');
        assert_eq!(protection("ssh2", None, Some(false)), 'P');
        assert!(!is_ssh("ftps"));
    }

    fn args(a: &[&str]) -> Vec<String> {
        a.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn xferlog_arguments() {
        assert_eq!(
            parse_xferlog(&args(&["/var/log/x"])).unwrap(),
            Output {
                target: Target::File("/var/log/x".into()),
                format: Format::WuOrig
            }
        );
        assert_eq!(
            parse_xferlog(&args(&["syslog", "wu-ext"])).unwrap(),
            Output {
                target: Target::Syslog,
                format: Format::WuExt
            }
        );
        assert_eq!(
            parse_xferlog(&args(&["/a", "ANON"])).unwrap().format,
            Format::Anon
        );
        assert!(
            parse_xferlog(&args(&["syslog", "anon"]))
                .unwrap_err()
                .contains("file")
        );
        assert!(
            parse_xferlog(&args(&["rel/path"]))
                .unwrap_err()
                .contains("absolute")
        );
        assert!(
            parse_xferlog(&args(&["/a", "proftpd"]))
                .unwrap_err()
                .contains("unknown format")
        );
        assert!(parse_xferlog(&args(&[])).is_err());
    }

    #[test]
    fn real_paths() {
        assert_eq!(real_path(None, "/", "/a/b"), "/a/b");
        assert_eq!(real_path(None, "/home", "b"), "/home/b");
        assert_eq!(real_path(Some("/home/al"), "/", "/x.txt"), "/home/al/x.txt");
        assert_eq!(real_path(Some("/home/al"), "/d", "x"), "/home/al/d/x");
        assert_eq!(real_path(Some("/home/al"), "/", "/home/al/x"), "/home/al/x");
        assert_eq!(real_path(Some("/home/al"), "/", "/"), "/home/al");
    }

    #[test]
    fn session_paths() {
        // FTP and SFTP: the session's own path; a relative one from cwd.
        assert_eq!(
            session_path(false, Some("/home/al"), "/", "/sub/f"),
            "/sub/f"
        );
        assert_eq!(session_path(false, None, "/home/al", "f"), "/home/al/f");
        assert_eq!(session_path(false, Some("/home/al"), "/d", "f"), "/d/f");
        // SCP: the real path mod_sftp made of it, without the chroot.
        for root in ["/home/al", "/home/al/"] {
            assert_eq!(
                session_path(true, Some(root), "/", "/home/al/sub/f"),
                "/sub/f"
            );
        }
        assert_eq!(session_path(true, Some("/home/al"), "/", "/home/al"), "/");
        // A failed SCP transfer: mod_sftp leaves the session's path.
        assert_eq!(
            session_path(true, Some("/home/al"), "/", "/sub/f"),
            "/sub/f"
        );
        assert_eq!(
            session_path(true, Some("/home/al"), "/", "/home/alice/f"),
            "/home/alice/f"
        );
        assert_eq!(
            session_path(true, None, "/home/al", "/home/al/f"),
            "/home/al/f"
        );
        assert_eq!(session_path(true, Some("/"), "/", "/f"), "/f");
    }

    #[test]
    fn scp_upload_args() {
        assert_eq!(scp_upload_arg("/", "/sub/up.bin"), "sub/up.bin");
        assert_eq!(scp_upload_arg("/home/al", "/home/al/sub/up"), "sub/up");
        assert_eq!(scp_upload_arg("/home/al/", "/home/al/x"), "x");
        // Outside the login directory: absolute.
        assert_eq!(scp_upload_arg("/home/al", "/home/alice/x"), "/home/alice/x");
        assert_eq!(scp_upload_arg("/home/al", "/tmp/x"), "/tmp/x");
        assert_eq!(scp_upload_arg("/home/al", "/home/al"), "/home/al");
        assert_eq!(scp_upload_arg("/", "/"), "/");
    }

    #[test]
    fn elapsed_seconds() {
        assert_eq!(elapsed(None, (10, 0)), 0);
        assert_eq!(elapsed(Some((10, 500)), (12, 400)), 1);
        assert_eq!(elapsed(Some((10, 500)), (12, 600)), 2);
        assert_eq!(elapsed(Some((10, 500)), (10, 400)), 0);
    }
}

/// Property tests of the directive words (see docs/fuzzing.md);
/// `XferLogEngine` is [`conf::parse_bool`], tested in `host::conf`.
#[cfg(test)]
mod proptests {
    use super::*;
    use crate::proptest_support::{config, text_or};
    use proptest::prelude::*;

    const PIECES: &[&str] = &[
        "/", "var", "log", "syslog", "SYSLOG", "wu-orig", "WU-EXT", "anon", "Anon", "proftpd",
        "chroot", "Real", "-", " ", "\u{130}", "\u{212a}", "",
    ];

    proptest! {
        #![proptest_config(config(1024))]

        #[test]
        fn xferlog_words(args in prop::collection::vec(text_or(PIECES, 4), 0..4)) {
            let r = parse_xferlog(&args);
            if args.is_empty() || args.len() > 2 {
                prop_assert!(r.unwrap_err().starts_with("usage: "));
                return Ok(());
            }
            let format = match args.get(1).map(|f| f.to_ascii_lowercase()) {
                None => Some(Format::WuOrig),
                Some(f) if f == "wu-orig" => Some(Format::WuOrig),
                Some(f) if f == "wu-ext" => Some(Format::WuExt),
                Some(f) if f == "anon" => Some(Format::Anon),
                Some(_) => None,
            };
            let syslog = args[0].eq_ignore_ascii_case("syslog");
            match (r, format) {
                (Ok(out), Some(f)) => {
                    prop_assert_eq!(out.format, f);
                    if syslog {
                        prop_assert_eq!(out.target, Target::Syslog);
                        prop_assert!(f != Format::Anon);
                    } else {
                        prop_assert!(args[0].starts_with('/'));
                        prop_assert_eq!(out.target, Target::File(args[0].clone()));
                    }
                }
                (Err(e), None) => prop_assert!(e.starts_with("unknown format"), "{e}"),
                (Err(e), Some(f)) => prop_assert!(
                    (syslog && f == Format::Anon) || (!syslog && !args[0].starts_with('/')),
                    "{e}"
                ),
                (Ok(out), None) => prop_assert!(false, "{args:?} gave {out:?}"),
            }
        }

        #[test]
        fn paths_word(w in text_or(PIECES, 3)) {
            let want = match w.to_ascii_lowercase().as_str() {
                "chroot" => Some(PathView::Chroot),
                "real" => Some(PathView::Real),
                _ => None,
            };
            match parse_paths(&w) {
                Ok(v) => prop_assert_eq!(Some(v), want),
                Err(e) => {
                    prop_assert!(want.is_none());
                    prop_assert!(e.ends_with(&format!("not '{}'", w.to_ascii_lowercase())), "{e}");
                }
            }
        }

        #[test]
        fn real_path_is_absolute(
            chroot in prop::option::of(text_or(&["/", "home", "al", "..", "."], 5).prop_map(|s| format!("/{s}"))),
            cwd in text_or(&["/", "d", "..", "."], 5).prop_map(|s| format!("/{s}")),
            path in text_or(&["/", "x", "..", ".", " "], 5),
        ) {
            let p = real_path(chroot.as_deref(), &cwd, &path);
            prop_assert!(p.starts_with('/'), "{p:?}");
        }

        /// What mod_sftp makes of an SCP path in a chroot
        /// (`dir_abs_path`, as [`real_path`]) comes back to the path.
        #[test]
        fn scp_path_round_trip(
            root in prop::collection::vec("[a-z.]{1,4}", 1..4),
            path in prop::collection::vec("[a-z.]{1,4}", 0..4),
        ) {
            let root = format!("/{}", root.join("/"));
            let path = format!("/{}", path.join("/"));
            prop_assume!(!path.starts_with(&root));
            let real = real_path(Some(&root), "/", &path);
            prop_assert_eq!(session_path(true, Some(&root), "/", &real), path.clone());
            prop_assert_eq!(session_path(false, Some(&root), "/", &path), path);
        }

        #[test]
        fn elapsed_is_whole_seconds(s in any::<i32>(), us in 0i64..1_000_000, d in 0i64..1_000_000_000, dus in 0i64..1_000_000) {
            let start = (i64::from(s), us);
            let total = us + dus;
            let now = (start.0 + d + total / 1_000_000, total % 1_000_000);
            prop_assert_eq!(elapsed(Some(start), now), d as u64);
            prop_assert_eq!(elapsed(Some(now), start), 0);
        }
    }
}
