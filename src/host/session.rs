//! The session process: environment variables, session notes, disconnects.
//!
//! Values are copied into `session.pool`, which lives as long as the session.

use super::ffi;
use super::module::ModuleRecord;
use std::ffi::{CStr, CString};
use std::ptr;

fn session_pool() -> *mut ffi::pool {
    // SAFETY: reading proftpd's session global on its one thread.
    unsafe { ffi::session.pool }
}

fn notes() -> *mut ffi::pr_table_t {
    // SAFETY: as above.
    unsafe { ffi::session.notes }
}

fn cstr(s: &str) -> Result<CString, String> {
    CString::new(s).map_err(|_| format!("'{}' contains a NUL byte", s.escape_debug()))
}

/// Whether we are in a session process (`session.pool` exists).
pub fn in_session() -> bool {
    !session_pool().is_null()
}

/// Set an environment variable of the session (`pr_env_set`), so that
/// `%{NAME}e` and `%{env:NAME}` see it.
pub fn env_set(key: &str, value: &str) -> Result<(), String> {
    super::state::core_call("session::env");
    let (k, v) = (cstr(key)?, cstr(value)?);
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
    if let (Ok(k), pool) = (cstr(key), session_pool())
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
    let (k, v) = (cstr(key)?, cstr(value)?);
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
    if let (Ok(k), tab) = (cstr(key), notes())
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
    let k = cstr(key).ok()?;
    let tab = notes();
    if tab.is_null() {
        return None;
    }
    // SAFETY: notes set by pr_table_add_dup with size 0 are C strings.
    unsafe {
        let v = ffi::pr_table_get(tab, k.as_ptr(), ptr::null_mut());
        (!v.is_null()).then(|| {
            CStr::from_ptr(v as *const std::ffi::c_char)
                .to_string_lossy()
                .into_owned()
        })
    }
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
