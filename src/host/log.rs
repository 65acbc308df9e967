//! Logging through proftpd: SystemLog/syslog (`pr_log_pri`), DebugLevel
//! messages (`pr_log_debug`) and trace channels (`pr_trace_msg`).
//!
//! The C functions are variadic printf-style: we always pass the fixed format
//! `"%s"` and our own preformatted text, never our text as a format.

use super::ffi;
use std::ffi::{CStr, CString, c_int};

const FMT: &CStr = c"%s";

/// Our text as a C string: interior NUL bytes become `\0` so nothing is cut.
pub fn to_cstring(s: &str) -> CString {
    CString::new(s.replace('\0', "\\0")).expect("no NUL left")
}

/// Syslog priorities (`PR_LOG_*`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Level {
    Err,
    Warning,
    Notice,
    Info,
    Debug,
}

impl Level {
    fn pri(self) -> c_int {
        (match self {
            Level::Err => ffi::PR_LOG_ERR,
            Level::Warning => ffi::PR_LOG_WARNING,
            Level::Notice => ffi::PR_LOG_NOTICE,
            Level::Info => ffi::PR_LOG_INFO,
            Level::Debug => ffi::PR_LOG_DEBUG,
        }) as c_int
    }
}

/// Log at the given priority (SystemLog or syslog, as proftpd is configured).
pub fn pri(level: Level, msg: &str) {
    super::state::core_call("log");
    let m = to_cstring(msg);
    // SAFETY: fixed "%s" format with one NUL-terminated string argument.
    unsafe { ffi::pr_log_pri(level.pri(), FMT.as_ptr(), m.as_ptr()) }
}

pub fn error(msg: &str) {
    pri(Level::Err, msg)
}

pub fn warning(msg: &str) {
    pri(Level::Warning, msg)
}

pub fn notice(msg: &str) {
    pri(Level::Notice, msg)
}

/// Whether a debug message of `level` goes anywhere: `DebugLevel` lets it
/// through, or a module (e.g. mod_log_forensic) listens to the log events.
/// (proftpd clears a 16 KB buffer for every `pr_log_debug()` call, even one
/// it then discards.)
pub fn debug_wanted(level: i32) -> bool {
    // SAFETY: plain calls; setting the level back at once.
    unsafe {
        let current = ffi::pr_log_setdebuglevel(0);
        ffi::pr_log_setdebuglevel(current);
        current >= level
            || ffi::pr_log_event_listening(ffi::PR_LOG_TYPE_SYSLOG) > 0
            || ffi::pr_log_event_listening(ffi::PR_LOG_TYPE_SYSTEMLOG) > 0
    }
}

/// A debug message, shown when `DebugLevel` >= `level` (0..=10).
pub fn debug(level: i32, msg: &str) {
    super::state::core_call("log");
    if !debug_wanted(level) {
        return;
    }
    let m = to_cstring(msg);
    // SAFETY: fixed "%s" format with one NUL-terminated string argument.
    unsafe { ffi::pr_log_debug(level as c_int, FMT.as_ptr(), m.as_ptr()) }
}

/// A message on a trace channel (`Trace channel:level`).
pub fn trace(channel: &CStr, level: i32, msg: &str) {
    super::state::core_call("log");
    let m = to_cstring(msg);
    // SAFETY: fixed "%s" format with one NUL-terminated string argument.
    unsafe {
        ffi::pr_trace_msg(channel.as_ptr(), level as c_int, FMT.as_ptr(), m.as_ptr());
    }
}

/// The level a trace channel is traced at (`Trace channel:N`), or -1 when
/// nothing of it goes anywhere (no TraceLog, or not that channel).  A
/// module reads it once per session and makes no trace line above it.
pub fn trace_level(channel: &CStr) -> i32 {
    super::state::core_call("log");
    // SAFETY: a NUL-terminated channel name; the core only reads it.
    unsafe { ffi::pr_trace_get_level(channel.as_ptr()) }
}

/// A module's logger: prefixes every message with the module version (as the
/// C modules do, e.g. `mod_unique_id/0.1.0-rs: ...`) and traces on the
/// module's own channel.
#[derive(Clone, Copy, Debug)]
pub struct Logger {
    pub version: &'static str,
    pub channel: &'static CStr,
}

impl Logger {
    pub const fn new(version: &'static str, channel: &'static CStr) -> Self {
        Logger { version, channel }
    }

    pub fn pri(&self, level: Level, msg: &str) {
        pri(level, &format!("{}: {msg}", self.version));
    }

    pub fn error(&self, msg: &str) {
        self.pri(Level::Err, msg)
    }

    pub fn warning(&self, msg: &str) {
        self.pri(Level::Warning, msg)
    }

    pub fn notice(&self, msg: &str) {
        self.pri(Level::Notice, msg)
    }

    pub fn debug(&self, level: i32, msg: &str) {
        super::state::core_call("log");
        if debug_wanted(level) {
            debug(level, &format!("{}: {msg}", self.version));
        }
    }

    /// [`Logger::debug`] with the message made only when it goes anywhere
    /// (no formatting on a session's path when nobody looks).
    pub fn debug_with(&self, level: i32, msg: impl FnOnce() -> String) {
        super::state::core_call("log");
        if debug_wanted(level) {
            debug(level, &format!("{}: {}", self.version, msg()));
        }
    }

    pub fn trace(&self, level: i32, msg: &str) {
        trace(self.channel, level, msg);
    }

    /// The level of the module's trace channel ([`trace_level`]).
    pub fn trace_level(&self) -> i32 {
        trace_level(self.channel)
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn nul_bytes_are_escaped() {
        assert_eq!(super::to_cstring("a\0b").as_bytes(), b"a\\0b");
    }
}
