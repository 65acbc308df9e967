//! Read-only facts about the current session (proftpd's `session` global and
//! the session's connection addresses), copied into plain Rust values.

use super::ffi;
use std::ffi::{CStr, c_char};

/// Why the session is ending (`session.disconnect_reason`,
/// `PR_SESS_DISCONNECT_*`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EndReason {
    Unspecified,
    ClientQuit,
    ClientEof,
    SessionInitFailed,
    /// Terminated by a signal (SIGTERM, SIGINT, SIGQUIT, SIGILL, SIGFPE,
    /// SIGABRT, SIGXCPU, SIGXFSZ ...).
    Signal,
    NoMemory,
    ServerShutdown,
    Timeout,
    /// mod_ban.
    Banned,
    /// A configured policy (MaxLoginAttempts, MaxClients, ...).
    ConfigAcl,
    /// A module-specific policy (mod_load's MaxLoad, mod_wrap2, ...).
    ModuleAcl,
    BadConfig,
    ByApplication,
    SnprintfTruncated,
    BadProtocol,
    /// SIGSEGV.
    Segfault,
    Other(i32),
}

impl EndReason {
    fn from_code(code: i32) -> EndReason {
        let Ok(c) = u32::try_from(code) else {
            return EndReason::Other(code);
        };
        match c {
            ffi::PR_SESS_DISCONNECT_UNSPECIFIED => EndReason::Unspecified,
            ffi::PR_SESS_DISCONNECT_CLIENT_QUIT => EndReason::ClientQuit,
            ffi::PR_SESS_DISCONNECT_CLIENT_EOF => EndReason::ClientEof,
            ffi::PR_SESS_DISCONNECT_SESSION_INIT_FAILED => EndReason::SessionInitFailed,
            ffi::PR_SESS_DISCONNECT_SIGNAL => EndReason::Signal,
            ffi::PR_SESS_DISCONNECT_NOMEM => EndReason::NoMemory,
            ffi::PR_SESS_DISCONNECT_SERVER_SHUTDOWN => EndReason::ServerShutdown,
            ffi::PR_SESS_DISCONNECT_TIMEOUT => EndReason::Timeout,
            ffi::PR_SESS_DISCONNECT_BANNED => EndReason::Banned,
            ffi::PR_SESS_DISCONNECT_CONFIG_ACL => EndReason::ConfigAcl,
            ffi::PR_SESS_DISCONNECT_MODULE_ACL => EndReason::ModuleAcl,
            ffi::PR_SESS_DISCONNECT_BAD_CONFIG => EndReason::BadConfig,
            ffi::PR_SESS_DISCONNECT_BY_APPLICATION => EndReason::ByApplication,
            ffi::PR_SESS_DISCONNECT_SNPRINTF_TRUNCATED => EndReason::SnprintfTruncated,
            ffi::PR_SESS_DISCONNECT_BAD_PROTOCOL => EndReason::BadProtocol,
            ffi::PR_SESS_DISCONNECT_SEGFAULT => EndReason::Segfault,
            _ => EndReason::Other(code),
        }
    }
}

/// Why the session is ending, and whether a module asked for it
/// (`session.disconnect_module` is set).
pub fn end_reason() -> (EndReason, bool) {
    // SAFETY: reading proftpd's session global on its one thread.
    unsafe {
        let s = &raw const ffi::session;
        (
            EndReason::from_code((*s).disconnect_reason),
            !(*s).disconnect_module.is_null(),
        )
    }
}

/// A snapshot of the session, for report headers.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SessionInfo {
    /// The client's IP address as text (`pr_netaddr_get_ipstr`).
    pub client_addr: String,
    /// The local (server) IP address of the control connection.
    pub server_addr: String,
    /// The local port, in host byte order.
    pub server_port: u16,
    /// Milliseconds since the client connected.
    pub elapsed_ms: u64,
    /// `ftp`, `ftps`, `sftp`, ... (`pr_session_get_protocol`).
    pub protocol: String,
    /// `session.user`, once known.
    pub user: Option<String>,
    /// The effective user and group IDs of the process now.
    pub euid: u32,
    pub egid: u32,
    pub raw_bytes_in: u64,
    pub raw_bytes_out: u64,
    pub total_bytes_in: u64,
    pub total_bytes_out: u64,
    pub total_files_in: u32,
    pub total_files_out: u32,
    /// `session.pid`, or our PID when not yet set.
    pub pid: u32,
}

fn text(p: *const c_char) -> Option<String> {
    if p.is_null() {
        return None;
    }
    // SAFETY: proftpd strings are NUL-terminated.
    Some(unsafe { CStr::from_ptr(p) }.to_string_lossy().into_owned())
}

fn addr_text(na: *const ffi::pr_netaddr_t) -> String {
    if na.is_null() {
        return String::new();
    }
    // SAFETY: a live netaddr; pr_netaddr_get_ipstr returns a string cached in
    // the netaddr (or NULL).
    text(unsafe { ffi::pr_netaddr_get_ipstr(na) }).unwrap_or_default()
}

/// The session's process ID (`session.pid`, or getpid()).
pub fn pid() -> u32 {
    // SAFETY: reading the session global; getpid cannot fail.
    unsafe {
        let p = ffi::session.pid;
        if p > 0 {
            p as u32
        } else {
            libc::getpid() as u32
        }
    }
}

/// The session's protocol as proftpd names it (`pr_session_get_protocol`:
/// `ftp`, `ftps` once mod_tls is on the control channel, `ssh2`, `sftp`,
/// `scp`); what TransferLog writes as the service name.
pub fn protocol() -> String {
    super::state::core_call("sessinfo::protocol");
    // SAFETY: returns a string from the session notes or a static one.
    text(unsafe { ffi::pr_session_get_protocol(0) }).unwrap_or_else(|| "ftp".into())
}

/// Take a snapshot of the session now.
pub fn snapshot() -> SessionInfo {
    super::state::core_call("sessinfo::snapshot");
    // SAFETY: reading proftpd's globals on its one thread; the netaddr
    // accessors return NULL or live addresses of the session.
    unsafe {
        let s = &raw const ffi::session;
        let remote = ffi::pr_netaddr_get_sess_remote_addr();
        let local = ffi::pr_netaddr_get_sess_local_addr();
        let port = if local.is_null() {
            0
        } else {
            // pr_netaddr_get_port returns the port in network byte order.
            u16::from_be(ffi::pr_netaddr_get_port(local) as u16)
        };
        let mut now: u64 = 0;
        ffi::pr_gettimeofday_millis(&mut now);
        let connect = (*s).connect_time_ms;
        SessionInfo {
            client_addr: addr_text(remote),
            server_addr: addr_text(local),
            server_port: port,
            elapsed_ms: now.saturating_sub(connect),
            protocol: text(ffi::pr_session_get_protocol(0)).unwrap_or_default(),
            user: text((*s).user),
            euid: libc::geteuid(),
            egid: libc::getegid(),
            raw_bytes_in: (*s).total_raw_in.max(0) as u64,
            raw_bytes_out: (*s).total_raw_out.max(0) as u64,
            total_bytes_in: (*s).total_bytes_in.max(0) as u64,
            total_bytes_out: (*s).total_bytes_out.max(0) as u64,
            total_files_in: (*s).total_files_in,
            total_files_out: (*s).total_files_out,
            pid: pid(),
        }
    }
}
