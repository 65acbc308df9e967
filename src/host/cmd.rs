//! FTP command handlers: a typed view of the command's `cmd_rec`.

use super::ffi;
use std::ffi::CStr;
use std::ptr;

/// What a command handler tells proftpd.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CmdResult {
    /// `PR_DECLINED`: not ours, let others handle it (the usual answer of a
    /// logging handler).
    Declined,
    /// `PR_HANDLED`.
    Handled,
    /// `PR_ERROR`: the command failed (the handler has queued a response).
    Error,
}

/// The command being handled.
pub struct Cmd {
    cmd: *mut ffi::cmd_rec,
}

impl Cmd {
    /// The command name as proftpd stores it (upper case, e.g. `RETR`).
    pub fn name(&self) -> String {
        self.argv_bytes(0)
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .unwrap_or_default()
    }

    /// Number of arguments, not counting the command name.
    pub fn argc(&self) -> usize {
        // SAFETY: `cmd` is valid for the handler's duration.
        (unsafe { (*self.cmd).argc } as usize).saturating_sub(1)
    }

    /// argv[i] as raw bytes (0 is the command name).
    pub fn argv_bytes(&self, i: usize) -> Option<Vec<u8>> {
        // SAFETY: argv holds argc NUL-terminated strings.
        unsafe {
            let c = &*self.cmd;
            if i >= c.argc as usize || c.argv.is_null() {
                return None;
            }
            let p = *c.argv.add(i) as *const std::ffi::c_char;
            (!p.is_null()).then(|| CStr::from_ptr(p).to_bytes().to_vec())
        }
    }

    /// The whole argument string as the client sent it (`cmd->arg`), as bytes.
    pub fn arg_bytes(&self) -> Vec<u8> {
        // SAFETY: `arg` is NULL or a NUL-terminated string.
        unsafe {
            let p = (*self.cmd).arg;
            if p.is_null() {
                Vec::new()
            } else {
                CStr::from_ptr(p).to_bytes().to_vec()
            }
        }
    }

    /// The command class bits (`CL_*`).
    pub fn class(&self) -> i32 {
        // SAFETY: `cmd` is valid.
        unsafe { (*self.cmd).cmd_class }
    }

    /// Whether this is an FTP command (as opposed to SSH/SFTP requests).
    pub fn is_ftp(&self) -> bool {
        // SAFETY: `cmd` is valid.
        unsafe { (*self.cmd).is_ftp != 0 }
    }

    /// A command note that holds an `off_t` (e.g. `mod_xfer.file-size`,
    /// which mod_xfer's POST_CMD handlers of RETR/STOR/STOU/APPE set from
    /// stat(2), for FTP and for mod_sftp's SFTP/SCP transfers alike).
    /// `None` when the note is missing or is not an `off_t`.
    pub fn note_off_t(&self, key: &std::ffi::CStr) -> Option<u64> {
        super::state::core_call("cmd::note");
        // SAFETY: `cmd` is valid; `notes` is NULL or its table; a value of
        // exactly sizeof(off_t) bytes is read unaligned.
        unsafe {
            let tab = (*self.cmd).notes;
            if tab.is_null() {
                return None;
            }
            let mut len: usize = 0;
            let v = ffi::pr_table_get(tab, key.as_ptr(), &mut len);
            if v.is_null() || len != std::mem::size_of::<ffi::off_t>() {
                return None;
            }
            let n = ptr::read_unaligned(v as *const ffi::off_t);
            u64::try_from(n).ok()
        }
    }

    /// The raw record, for other host functions (e.g. LogFormat resolution).
    #[allow(dead_code)]
    pub(crate) fn raw(&self) -> *mut ffi::cmd_rec {
        self.cmd
    }
}

/// Run a command handler inside the panic guard (a panic declines).
///
/// # Safety
/// `cmd` must be the cmd_rec proftpd passed to a command handler.
pub(crate) unsafe fn dispatch(
    cmd: *mut ffi::cmd_rec,
    module: &str,
    name: &str,
    f: fn(&mut Cmd) -> CmdResult,
) -> *mut ffi::modret_t {
    let mut c = Cmd { cmd };
    let r = super::guard::run(module, name, |_| CmdResult::Declined, || f(&mut c));
    // SAFETY: mod_create_ret allocates in cmd->tmp_pool.
    unsafe {
        match r {
            CmdResult::Declined => ptr::null_mut(),
            CmdResult::Handled => ffi::mod_create_ret(cmd, 0, ptr::null(), ptr::null()),
            CmdResult::Error => ffi::mod_create_ret(cmd, 1, ptr::null(), ptr::null()),
        }
    }
}

impl Cmd {
    /// The session-start pseudo command (`CONNECT`, class `CL_CONNECT`).
    pub fn is_connect(&self) -> bool {
        self.class() == ffi::CL_CONNECT as i32
    }

    /// The session-end pseudo command (`EXIT`, class `CL_DISCONNECT`).
    pub fn is_disconnect(&self) -> bool {
        self.class() & ffi::CL_DISCONNECT as i32 != 0
    }
}
