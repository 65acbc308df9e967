//! The facts of the current data transfer (`session.xfer` and friends), for
//! transfer logs; local time.
//!
//! Read these in PRE_CMD/LOG_CMD/LOG_CMD_ERR handlers of RETR, STOR, STOU
//! and APPE, before mod_xfer's own LOG_CMD handler clears `session.xfer`.

use super::ffi;
use std::ffi::{CStr, c_char};

// proftpd.h's session flags and netio.h's direction (data read from the
// client: an upload), as C ints.
const SF_ASCII: i32 = ffi::SF_ASCII as i32;
const SF_ANON: i32 = ffi::SF_ANON as i32;
const PR_NETIO_IO_RD: i32 = ffi::PR_NETIO_IO_RD as i32;

fn string(p: *const c_char) -> Option<String> {
    if p.is_null() {
        None
    } else {
        // SAFETY: proftpd keeps NUL-terminated strings in its pools.
        Some(unsafe { CStr::from_ptr(p) }.to_string_lossy().into_owned())
    }
}

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
pub fn state() -> XferState {
    super::state::core_call("xfer::state");
    // SAFETY: reading proftpd's session global on its one thread; all
    // pointers are NULL or NUL-terminated strings in session pools.
    unsafe {
        let s = &raw const ffi::session;
        let x = &(*s).xfer;
        let flags = (*s).sf_flags;
        let start =
            (x.start_time.tv_sec != 0).then_some((x.start_time.tv_sec, x.start_time.tv_usec));
        XferState {
            active: !x.p.is_null(),
            path: string(x.path),
            start,
            total_bytes: x.total_bytes.max(0) as u64,
            file_size: x.file_size.max(0) as u64,
            incoming: x.direction == PR_NETIO_IO_RD,
            ascii: flags & SF_ASCII != 0,
            anonymous: flags & SF_ANON != 0,
            user: string((*s).user),
            anon_user: string((*s).anon_user),
            chroot_path: string((*s).chroot_path),
            cwd: string(ffi::pr_fs_getcwd()).unwrap_or_else(|| "/".into()),
            remote_name: string(ffi::pr_netaddr_get_sess_remote_name()).unwrap_or_default(),
        }
    }
}

/// Whether a transfer was set up (`session.xfer.p` exists).
pub fn active() -> bool {
    // SAFETY: reading proftpd's session global on its one thread.
    unsafe { !ffi::session.xfer.p.is_null() }
}

/// `session.restart_pos`: the REST offset (mod_xfer resets it to 0 during
/// the transfer command, so read it in PRE_CMD).
pub fn restart_pos() -> u64 {
    // SAFETY: as above.
    unsafe { ffi::session.restart_pos.max(0) as u64 }
}

/// Whether this is an anonymous (`<Anonymous>`) session.
pub fn is_anonymous() -> bool {
    // SAFETY: as above.
    unsafe { ffi::session.sf_flags & SF_ANON != 0 }
}

/// Broken-down local time: (year, month 1-12, day, hour, minute, second).
pub fn local_time(secs: i64) -> (i32, u8, u8, u8, u8, u8) {
    let t: libc::time_t = secs as libc::time_t;
    // SAFETY: localtime_r writes into our own tm.
    let mut tm: libc::tm = unsafe { std::mem::zeroed() };
    let ok = unsafe { !libc::localtime_r(&t, &mut tm).is_null() };
    if !ok {
        return (1970, 1, 1, 0, 0, 0);
    }
    (
        tm.tm_year + 1900,
        (tm.tm_mon + 1) as u8,
        tm.tm_mday as u8,
        tm.tm_hour as u8,
        tm.tm_min as u8,
        tm.tm_sec as u8,
    )
}

/// `session.rfc2228_mech`: the security mechanism on the control channel
/// (mod_tls sets "TLS" after AUTH or an implicit FTPS handshake).
pub fn rfc2228_mech() -> Option<String> {
    // SAFETY: reading the session global; the value is NULL or a static
    // string of mod_tls.
    unsafe { string(ffi::session.rfc2228_mech) }
}
