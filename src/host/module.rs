//! Module records and their directive/command tables, built as `const`s so a
//! module declaration is one short, readable static.
//!
//! proftpd writes into these records (`next`, `prev`, `handle`, `priority`,
//! and the `m` back-pointer of each table entry), so they live in writable
//! statics behind `UnsafeCell`.

use super::ffi;
use std::cell::UnsafeCell;
use std::ffi::{CStr, c_char, c_int};
use std::ptr;

/// `PR_MODULE_API_VERSION`: anything else makes mod_dso refuse the module.
pub const MODULE_API_VERSION: c_int = ffi::PR_MODULE_API_VERSION as c_int;

/// The C signature of directive and command handlers (`MODRET`).
pub type HandlerFn = unsafe extern "C" fn(*mut ffi::cmd_rec) -> *mut ffi::modret_t;
/// The C signature of `init` and `sess_init`.
pub type InitFn = unsafe extern "C" fn() -> c_int;

/// A `'static` C string from a literal that ends in `\0` (for strings built
/// with `concat!`, which `c"..."` literals cannot be).
pub const fn cstr(s: &'static str) -> &'static CStr {
    match CStr::from_bytes_with_nul(s.as_bytes()) {
        Ok(c) => c,
        Err(_) => panic!("C string literal must end in \\0 and contain no other NUL"),
    }
}

/// An exported `module` record (`unique_id_module`, ...).
#[repr(transparent)]
pub struct ModuleRecord(UnsafeCell<ffi::module>);

// SAFETY: proftpd is single-threaded; the record is only touched by proftpd
// (on its one thread) and by us passing its address back to proftpd.
unsafe impl Sync for ModuleRecord {}

/// What a module declares about itself.
pub struct ModuleSpec {
    /// Short name: `unique_id` makes proftpd call it `mod_unique_id.c`.
    pub name: &'static CStr,
    /// Shown by `proftpd -vv`, e.g. `mod_unique_id/0.1.0-rs`.
    pub version: &'static CStr,
    pub conftable: *mut ffi::conftable,
    pub cmdtable: *mut ffi::cmdtable,
    pub init: Option<InitFn>,
    pub sess_init: Option<InitFn>,
}

impl ModuleRecord {
    pub const fn new(spec: ModuleSpec) -> Self {
        ModuleRecord(UnsafeCell::new(ffi::module {
            next: ptr::null_mut(),
            prev: ptr::null_mut(),
            api_version: MODULE_API_VERSION,
            name: spec.name.as_ptr(),
            conftable: spec.conftable,
            cmdtable: spec.cmdtable,
            authtable: ptr::null_mut(),
            init: spec.init,
            sess_init: spec.sess_init,
            module_version: spec.version.as_ptr(),
            handle: ptr::null_mut(),
            priority: 0,
        }))
    }

    pub(crate) fn as_ptr(&self) -> *mut ffi::module {
        self.0.get()
    }

    /// The module name as proftpd knows it, e.g. `mod_unique_id.c`.
    pub fn file_name(&self) -> String {
        // SAFETY: `name` is the 'static C string we put there.
        let name = unsafe { CStr::from_ptr((*self.as_ptr()).name) };
        format!("mod_{}.c", name.to_string_lossy())
    }
}

/// A NULL-terminated directive table.
#[repr(transparent)]
pub struct ConfTable<const N: usize>(UnsafeCell<[ffi::conftable; N]>);

// SAFETY: as for ModuleRecord.
unsafe impl<const N: usize> Sync for ConfTable<N> {}

/// One directive: its name and the trampoline made by `conf_handler!`.
pub const fn directive(name: &'static CStr, handler: HandlerFn) -> ffi::conftable {
    ffi::conftable {
        directive: name.as_ptr() as *mut c_char,
        handler: Some(handler),
        m: ptr::null_mut(),
    }
}

/// The terminating entry of a directive table.
pub const CONF_END: ffi::conftable = ffi::conftable {
    directive: ptr::null_mut(),
    handler: None,
    m: ptr::null_mut(),
};

impl<const N: usize> ConfTable<N> {
    /// `entries` must end with [`CONF_END`].
    pub const fn new(entries: [ffi::conftable; N]) -> Self {
        assert!(
            N > 0 && entries[N - 1].directive.is_null(),
            "end the table with CONF_END"
        );
        ConfTable(UnsafeCell::new(entries))
    }

    pub const fn as_ptr(&'static self) -> *mut ffi::conftable {
        self.0.get() as *mut ffi::conftable
    }
}

/// When a command handler runs (`PRE_CMD`, `CMD`, ...).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    PreCmd,
    Cmd,
    PostCmd,
    PostCmdErr,
    LogCmd,
    LogCmdErr,
}

impl Phase {
    const fn code(self) -> u8 {
        (match self {
            Phase::PreCmd => ffi::PRE_CMD,
            Phase::Cmd => ffi::CMD,
            Phase::PostCmd => ffi::POST_CMD,
            Phase::PostCmdErr => ffi::POST_CMD_ERR,
            Phase::LogCmd => ffi::LOG_CMD,
            Phase::LogCmdErr => ffi::LOG_CMD_ERR,
        }) as u8
    }
}

/// `C_ANY`: the handler sees every command.
pub const ANY_COMMAND: &CStr = c"*";

/// One command handler entry.
pub const fn command(phase: Phase, command: &'static CStr, handler: HandlerFn) -> ffi::cmdtable {
    ffi::cmdtable {
        cmd_type: phase.code(),
        command: command.as_ptr(),
        group: ptr::null(),
        handler: Some(handler),
        requires_auth: 0,
        interrupt_xfer: 0,
        cmd_class: 0,
        m: ptr::null_mut(),
    }
}

/// The terminating entry of a command table.
pub const CMD_END: ffi::cmdtable = ffi::cmdtable {
    cmd_type: 0,
    command: ptr::null(),
    group: ptr::null(),
    handler: None,
    requires_auth: 0,
    interrupt_xfer: 0,
    cmd_class: 0,
    m: ptr::null_mut(),
};

/// A NULL-terminated command table.
#[repr(transparent)]
pub struct CmdTable<const N: usize>(UnsafeCell<[ffi::cmdtable; N]>);

// SAFETY: as for ModuleRecord.
unsafe impl<const N: usize> Sync for CmdTable<N> {}

impl<const N: usize> CmdTable<N> {
    /// `entries` must end with [`CMD_END`].
    pub const fn new(entries: [ffi::cmdtable; N]) -> Self {
        assert!(
            N > 0 && entries[N - 1].command.is_null(),
            "end the table with CMD_END"
        );
        CmdTable(UnsafeCell::new(entries))
    }

    pub const fn as_ptr(&'static self) -> *mut ffi::cmdtable {
        self.0.get() as *mut ffi::cmdtable
    }
}

/// A trampoline for a directive handler `fn(&mut Directive) -> Result<(), String>`.
/// `$what` names the module version for panic reports.
macro_rules! conf_handler {
    ($what:expr, $f:path) => {{
        unsafe extern "C" fn trampoline(
            cmd: *mut $crate::host::ffi::cmd_rec,
        ) -> *mut $crate::host::ffi::modret_t {
            // SAFETY: proftpd passes a valid cmd_rec for the directive.
            unsafe { $crate::host::conf::dispatch(cmd, $what, stringify!($f), $f) }
        }
        trampoline as $crate::host::module::HandlerFn
    }};
}
pub(crate) use conf_handler;

/// A trampoline for a command handler `fn(&mut Cmd) -> CmdResult`.
#[allow(unused_macros)]
macro_rules! cmd_handler {
    ($what:expr, $f:path) => {{
        unsafe extern "C" fn trampoline(
            cmd: *mut $crate::host::ffi::cmd_rec,
        ) -> *mut $crate::host::ffi::modret_t {
            // SAFETY: proftpd passes a valid cmd_rec for the command.
            unsafe { $crate::host::cmd::dispatch(cmd, $what, stringify!($f), $f) }
        }
        trampoline as $crate::host::module::HandlerFn
    }};
}
#[allow(unused_imports)]
pub(crate) use cmd_handler;

/// A trampoline for `init`/`sess_init`: `fn() -> Result<(), String>`.
/// An error (or a panic) is logged; an `Err` from `sess_init` ends the session
/// (proftpd's contract for a non-zero return), a panic does not.
///
/// First of all, the version guard ([`super::version::check`]): in a
/// proftpd of another release series, `init` fails before the module's own
/// function runs, so mod_dso refuses the `LoadModule` and registers nothing
/// of the module (no directive, command or event handler of ours runs).
macro_rules! init_fn {
    ($what:expr, $f:path) => {{
        unsafe extern "C" fn trampoline() -> ::std::ffi::c_int {
            $crate::host::module::run_init($what, stringify!($f), $f)
        }
        Some(trampoline as $crate::host::module::InitFn)
    }};
}
pub(crate) use init_fn;

#[doc(hidden)]
pub fn run_init(module: &str, name: &str, f: fn() -> Result<(), String>) -> c_int {
    super::guard::run(
        module,
        name,
        |_| 0,
        || match super::version::check().and_then(|()| f()) {
            Ok(()) => 0,
            Err(e) => {
                super::log::error(&format!("{module}: {name}: {e}"));
                -1
            }
        },
    )
}
