//! The session process: its facts (proftpd's `session` global and the
//! connection's addresses, copied into plain Rust values), the current data
//! transfer, environment variables, session notes and disconnects.
//!
//! Every read of the `session` global goes through [`read`]; values set
//! here are copied into `session.pool`, which lives as long as the session.

use super::ffi;
use super::record::ModuleRecord;
use super::text;
use std::ffi::CString;
use std::ptr;

/// Read proftpd's `session` global: `f` only copies fields (it calls
/// nothing of proftpd's, which might change them meanwhile).
fn read<R>(f: impl FnOnce(&ffi::session_t) -> R) -> R {
    // SAFETY: proftpd's one thread; the global lives as long as the process
    // and nothing changes it while `f` copies fields out of it.
    let session = &raw const ffi::session;
    f(unsafe { &*session })
}

fn session_pool() -> *mut ffi::pool {
    read(|s| s.pool)
}

fn notes() -> *mut ffi::pr_table_t {
    read(|s| s.notes)
}

fn c_arg(s: &str) -> Result<CString, String> {
    CString::new(s).map_err(|_| format!("'{}' contains a NUL byte", s.escape_debug()))
}

// ---- facts ----------------------------------------------------------------

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
    read(|s| {
        (
            EndReason::from_code(s.disconnect_reason),
            !s.disconnect_module.is_null(),
        )
    })
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

/// The IP address of `na` as text.
///
/// # Safety
/// `na` is NULL or a live netaddr.
unsafe fn addr_text(na: *const ffi::pr_netaddr_t) -> String {
    if na.is_null() {
        return String::new();
    }
    // SAFETY: per the contract; pr_netaddr_get_ipstr returns a string
    // cached in the netaddr (or NULL).
    unsafe { text(ffi::pr_netaddr_get_ipstr(na)) }.unwrap_or_default()
}

/// The session's process ID (`session.pid`, or getpid()).
pub fn pid() -> u32 {
    match read(|s| s.pid) {
        p if p > 0 => p as u32,
        _ => std::process::id(),
    }
}

/// The session's protocol as proftpd names it (`pr_session_get_protocol`:
/// `ftp`, `ftps` once mod_tls is on the control channel, `ssh2`, `sftp`,
/// `scp`); what TransferLog writes as the service name.
pub fn protocol() -> String {
    super::state::core_call("session::protocol");
    // SAFETY: returns a string from the session notes or a static one.
    unsafe { text(ffi::pr_session_get_protocol(0)) }.unwrap_or_else(|| "ftp".into())
}

/// The user name the session logged in with (`session.user`; for an
/// anonymous login the system user, e.g. `ftp`), `None` before a login.
pub fn user() -> Option<String> {
    // SAFETY: NULL or a string in the session's pool.
    read(|s| unsafe { text(s.user) })
}

/// Take a snapshot of the session now.
pub fn snapshot() -> SessionInfo {
    super::state::core_call("session::snapshot");
    // SAFETY: the netaddr accessors return NULL or live addresses of the
    // session; pr_netaddr_get_port reads one.
    let (remote, local, port) = unsafe {
        let remote = ffi::pr_netaddr_get_sess_remote_addr();
        let local = ffi::pr_netaddr_get_sess_local_addr();
        // pr_netaddr_get_port returns the port in network byte order.
        let port = if local.is_null() {
            0
        } else {
            u16::from_be(ffi::pr_netaddr_get_port(local) as u16)
        };
        (remote, local, port)
    };
    let mut now: u64 = 0;
    // SAFETY: writes the time into `now`.
    unsafe { ffi::pr_gettimeofday_millis(&mut now) };
    // SAFETY: NULL or the session's live addresses.
    let (client_addr, server_addr) = unsafe { (addr_text(remote), addr_text(local)) };
    // SAFETY: as in [`protocol`].
    let protocol = unsafe { text(ffi::pr_session_get_protocol(0)) }.unwrap_or_default();
    let mut info = read(|s| SessionInfo {
        elapsed_ms: now.saturating_sub(s.connect_time_ms),
        // SAFETY: NULL or a string in the session's pool.
        user: unsafe { text(s.user) },
        raw_bytes_in: s.total_raw_in.max(0) as u64,
        raw_bytes_out: s.total_raw_out.max(0) as u64,
        total_bytes_in: s.total_bytes_in.max(0) as u64,
        total_bytes_out: s.total_bytes_out.max(0) as u64,
        total_files_in: s.total_files_in,
        total_files_out: s.total_files_out,
        ..SessionInfo::default()
    });
    info.client_addr = client_addr;
    info.server_addr = server_addr;
    info.server_port = port;
    info.protocol = protocol;
    // SAFETY: plain system calls.
    (info.euid, info.egid) = unsafe { (libc::geteuid(), libc::getegid()) };
    info.pid = pid();
    info
}

// ---- the data transfer ------------------------------------------------------
//
// Read these in PRE_CMD/LOG_CMD/LOG_CMD_ERR handlers of RETR, STOR, STOU and
// APPE, before mod_xfer's own LOG_CMD handler clears `session.xfer`.

/// A snapshot of the session's transfer state.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct XferState {
    /// Whether a transfer was set up (`session.xfer.p` exists).
    pub active: bool,
    /// `session.xfer.path`: the file's absolute path as the (possibly
    /// chrooted) session sees it.
    pub path: Option<String>,
    /// Start time (seconds, microseconds); `None` before the data flowed.
    pub start: Option<(i64, i64)>,
    pub total_bytes: u64,
    /// `session.xfer.file_size` (RETR: the file's size; STOR: size at start).
    pub file_size: u64,
    /// Data read from the client (`PR_NETIO_IO_RD`).
    pub incoming: bool,
    pub ascii: bool,
    pub anonymous: bool,
    /// `session.user` (for anonymous logins: the system user, e.g. `ftp`).
    pub user: Option<String>,
    /// `session.anon_user`: for anonymous logins the PASS string (ident).
    pub anon_user: Option<String>,
    pub chroot_path: Option<String>,
    /// The session's working directory (`pr_fs_getcwd`), inside the chroot.
    pub cwd: String,
    /// The client's address as proftpd resolves it (`UseReverseDNS`).
    pub remote_name: String,
}

/// Read the current transfer state.
pub fn xfer() -> XferState {
    super::state::core_call("session::xfer");
    // SAFETY: both return NULL or a NUL-terminated string of the session.
    let (cwd, remote_name) = unsafe {
        (
            text(ffi::pr_fs_getcwd()),
            text(ffi::pr_netaddr_get_sess_remote_name()),
        )
    };
    let flags = read(|s| s.sf_flags);
    // SAFETY: (in the closure) the pointers are NULL or NUL-terminated
    // strings in session pools.
    read(|s| {
        let x = &s.xfer;
        let start =
            (x.start_time.tv_sec != 0).then_some((x.start_time.tv_sec, x.start_time.tv_usec));
        unsafe {
            XferState {
                active: !x.p.is_null(),
                path: text(x.path),
                start,
                total_bytes: x.total_bytes.max(0) as u64,
                file_size: x.file_size.max(0) as u64,
                incoming: x.direction == ffi::PR_NETIO_IO_RD as i32,
                ascii: flags & ffi::SF_ASCII as i32 != 0,
                anonymous: flags & ffi::SF_ANON as i32 != 0,
                user: text(s.user),
                anon_user: text(s.anon_user),
                chroot_path: text(s.chroot_path),
                cwd: cwd.unwrap_or_else(|| "/".into()),
                remote_name: remote_name.unwrap_or_default(),
            }
        }
    })
}

/// Whether a transfer was set up (`session.xfer.p` exists).
pub fn xfer_active() -> bool {
    read(|s| !s.xfer.p.is_null())
}

/// `session.restart_pos`: the REST offset (mod_xfer resets it to 0 during
/// the transfer command, so read it in PRE_CMD).
pub fn restart_pos() -> u64 {
    read(|s| s.restart_pos.max(0) as u64)
}

/// `session.rfc2228_mech`: the security mechanism on the control channel
/// (mod_tls sets "TLS" after AUTH or an implicit FTPS handshake).
pub fn rfc2228_mech() -> Option<String> {
    // SAFETY: NULL or a static string of mod_tls.
    read(|s| unsafe { text(s.rfc2228_mech) })
}

// ---- environment, notes, disconnect -------------------------------------------

/// Whether we are in a session process (`session.pool` exists).
pub fn in_session() -> bool {
    !session_pool().is_null()
}

/// Set an environment variable of the session (`pr_env_set`), so that
/// `%{NAME}e` and `%{env:NAME}` see it.
pub fn env_set(key: &str, value: &str) -> Result<(), String> {
    super::state::core_call("session::env");
    let (k, v) = (c_arg(key)?, c_arg(value)?);
    let pool = session_pool();
    if pool.is_null() {
        return Err("no session".into());
    }
    // SAFETY: pr_env_set copies key and value into `pool`.
    let rc = unsafe { ffi::pr_env_set(pool, k.as_ptr(), v.as_ptr()) };
    if rc < 0 {
        Err(format!("pr_env_set: {}", std::io::Error::last_os_error()))
    } else {
        Ok(())
    }
}

/// Remove an environment variable of the session.
pub fn env_unset(key: &str) {
    super::state::core_call("session::env");
    if let (Ok(k), pool) = (c_arg(key), session_pool())
        && !pool.is_null()
    {
        // SAFETY: key is a valid C string.
        unsafe {
            ffi::pr_env_unset(pool, k.as_ptr());
        }
    }
}

/// Read an environment variable.
pub fn env_get(key: &str) -> Option<String> {
    std::env::var(key).ok()
}

/// Set (replace) a session note, visible as `%{note:KEY}`.
pub fn note_set(key: &str, value: &str) -> Result<(), String> {
    super::state::core_call("session::note");
    let (k, v) = (c_arg(key)?, c_arg(value)?);
    let (tab, pool) = (notes(), session_pool());
    if tab.is_null() || pool.is_null() {
        return Err("no session notes".into());
    }
    // SAFETY: the key is duplicated into session.pool (the table keeps the
    // pointer); pr_table_add_dup copies the value.
    unsafe {
        ffi::pr_table_remove(tab, k.as_ptr(), ptr::null_mut());
        let kp = ffi::pstrdup(pool, k.as_ptr());
        if ffi::pr_table_add_dup(tab, kp, v.as_ptr() as *const _, 0) < 0 {
            return Err(format!(
                "pr_table_add_dup: {}",
                std::io::Error::last_os_error()
            ));
        }
    }
    Ok(())
}

/// Remove a session note.
pub fn note_remove(key: &str) {
    super::state::core_call("session::note");
    if let (Ok(k), tab) = (c_arg(key), notes())
        && !tab.is_null()
    {
        // SAFETY: valid table and key.
        unsafe {
            ffi::pr_table_remove(tab, k.as_ptr(), ptr::null_mut());
        }
    }
}

/// Read a session note that holds a string.
pub fn note_get(key: &str) -> Option<String> {
    super::state::core_call("session::note");
    let k = c_arg(key).ok()?;
    let tab = notes();
    if tab.is_null() {
        return None;
    }
    // SAFETY: notes set by pr_table_add_dup with size 0 are C strings.
    unsafe { text(ffi::pr_table_get(tab, k.as_ptr(), ptr::null_mut()) as *const std::ffi::c_char) }
}

/// Why a module ends a session (`PR_SESS_DISCONNECT_*`).
#[derive(Clone, Copy, Debug)]
pub enum DisconnectReason {
    ByApplication,
    BadConfig,
    ModuleAcl,
}

/// End the session (`pr_session_disconnect`); does not return.
pub fn disconnect(module: &'static ModuleRecord, reason: DisconnectReason, details: &str) -> ! {
    super::state::core_call("session::disconnect");
    let code = match reason {
        DisconnectReason::ByApplication => ffi::PR_SESS_DISCONNECT_BY_APPLICATION,
        DisconnectReason::BadConfig => ffi::PR_SESS_DISCONNECT_BAD_CONFIG,
        DisconnectReason::ModuleAcl => ffi::PR_SESS_DISCONNECT_MODULE_ACL,
    };
    let d = super::log::to_cstring(details);
    // SAFETY: pr_session_disconnect ends the process.
    unsafe {
        ffi::pr_session_disconnect(module.as_ptr(), code as i32, d.as_ptr());
    }
    std::process::exit(1)
}
