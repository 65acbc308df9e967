//! The core's log events (`core.log.*`): every message proftpd formats for a
//! log destination -- SystemLog, syslog, TraceLog, TransferLog, ExtendedLog
//! and module log files -- is raised as an event carrying a
//! `pr_log_event_t`, even when DebugLevel/Trace levels filter it out, as long
//! as someone listens for it.
//!
//! A handler of these events must not itself log or trace (that would raise
//! another log event from inside the handler: a loop).

use super::ffi;
use std::ffi::CStr;
use std::ffi::c_void;

/// The log types (`PR_LOG_TYPE_*`) and the event raised for each.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum LogType {
    /// Module-specific log files written with `pr_log_writefile`
    /// (`core.log.unspec`).
    Unspec,
    /// TransferLog (`core.log.xferlog`).
    TransferLog,
    /// syslog, when no SystemLog is configured (`core.log.syslog`).
    Syslog,
    /// SystemLog (`core.log.systemlog`).
    SystemLog,
    /// ExtendedLog (`core.log.extendedlog`).
    ExtendedLog,
    /// TraceLog (`core.log.tracelog`).
    TraceLog,
}

impl LogType {
    pub const ALL: [LogType; 6] = [
        LogType::Unspec,
        LogType::TransferLog,
        LogType::Syslog,
        LogType::SystemLog,
        LogType::ExtendedLog,
        LogType::TraceLog,
    ];

    /// The `PR_LOG_TYPE_*` code.
    pub fn code(self) -> u32 {
        match self {
            LogType::Unspec => ffi::PR_LOG_TYPE_UNSPEC,
            LogType::TransferLog => ffi::PR_LOG_TYPE_XFERLOG,
            LogType::Syslog => ffi::PR_LOG_TYPE_SYSLOG,
            LogType::SystemLog => ffi::PR_LOG_TYPE_SYSTEMLOG,
            LogType::ExtendedLog => ffi::PR_LOG_TYPE_EXTLOG,
            LogType::TraceLog => ffi::PR_LOG_TYPE_TRACELOG,
        }
    }

    pub fn from_code(code: u32) -> Option<LogType> {
        LogType::ALL.into_iter().find(|t| t.code() == code)
    }

    /// The name of the event the core raises for this type (the
    /// `PR_LOG_NAME_*` constants of log.h).
    pub fn event_name(self) -> &'static CStr {
        let name: &'static [u8] = match self {
            LogType::Unspec => ffi::PR_LOG_NAME_UNSPEC,
            LogType::TransferLog => ffi::PR_LOG_NAME_XFERLOG,
            LogType::Syslog => ffi::PR_LOG_NAME_SYSLOG,
            LogType::SystemLog => ffi::PR_LOG_NAME_SYSTEMLOG,
            LogType::ExtendedLog => ffi::PR_LOG_NAME_EXTLOG,
            LogType::TraceLog => ffi::PR_LOG_NAME_TRACELOG,
        };
        CStr::from_bytes_with_nul(name).unwrap_or(c"core.log.unspec")
    }
}

/// One log event, borrowed from the core for the duration of the handler.
#[derive(Debug)]
pub struct LogEvent<'a> {
    /// `None` for a type code this build does not know.
    pub log_type: Option<LogType>,
    /// The raw `PR_LOG_TYPE_*` code.
    pub log_type_code: u32,
    /// The descriptor the message goes to (-1 or a socket for syslog).
    pub log_fd: i32,
    /// The level: a syslog priority, a trace level, or -1.
    pub log_level: i32,
    /// The formatted message (SystemLog/TraceLog lines end in `\n`,
    /// syslog messages do not).
    pub message: &'a [u8],
}

/// The payload kind of the `core.log.*` events (`LogType::event`, in
/// event.rs):
/// their handlers take a `&LogEvent`.
pub enum Log {}

impl<'a> LogEvent<'a> {
    /// The log event a `core.log.*` event carries, or `None` when the data
    /// is missing.
    ///
    /// # Safety
    /// `data` is what the core raised a `core.log.*` event with: NULL or a
    /// live `pr_log_event_t` whose message stays valid for `'a`.
    pub(super) unsafe fn from_raw(data: *const c_void) -> Option<LogEvent<'a>> {
        let p = data as *const ffi::pr_log_event_t;
        if p.is_null() {
            return None;
        }
        // SAFETY: per the contract: the message is log_msglen bytes long.
        unsafe {
            let raw = &*p;
            let message = if raw.log_msg.is_null() || raw.log_msglen == 0 {
                &[][..]
            } else {
                std::slice::from_raw_parts(raw.log_msg as *const u8, raw.log_msglen)
            };
            Some(LogEvent {
                log_type: LogType::from_code(raw.log_type),
                log_type_code: raw.log_type,
                log_fd: raw.log_fd,
                log_level: raw.log_level,
                message,
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_round_trip() {
        for t in LogType::ALL {
            assert_eq!(LogType::from_code(t.code()), Some(t));
        }
        assert_eq!(LogType::from_code(99), None);
    }

    #[test]
    fn event_names_from_log_h() {
        assert_eq!(LogType::ExtendedLog.event_name(), c"core.log.extendedlog");
        assert_eq!(LogType::TraceLog.event_name(), c"core.log.tracelog");
        assert_eq!(LogType::Unspec.event_name(), c"core.log.unspec");
    }
}
