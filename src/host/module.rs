//! Module records and their directive/command tables, and
//! [`module!`](crate::host::module!): the one way a module declares itself.
//!
//! proftpd writes into these records (`next`, `prev`, `handle`, `priority`,
//! and the `m` back-pointer of each table entry), so they live in writable
//! statics behind `UnsafeCell`.

use super::event::EventFn;
use super::ffi;
pub use super::record::ModuleRecord;
use std::cell::UnsafeCell;
use std::ffi::{CStr, c_char, c_int};
use std::ptr;

/// `PR_MODULE_API_VERSION`: anything else makes mod_dso refuse the module.
pub const MODULE_API_VERSION: c_int = ffi::PR_MODULE_API_VERSION as c_int;

/// The C signature of directive and command handlers (`MODRET`).
pub(crate) type HandlerFn = unsafe extern "C" fn(*mut ffi::cmd_rec) -> *mut ffi::modret_t;
/// The C signature of `init` and `sess_init`.
pub(crate) type InitFn = unsafe extern "C" fn() -> c_int;

/// A `'static` C string from a literal that ends in `\0` (for strings built
/// with `concat!`, which `c"..."` literals cannot be).
pub const fn cstr(s: &'static str) -> &'static CStr {
    match CStr::from_bytes_with_nul(s.as_bytes()) {
        Ok(c) => c,
        Err(_) => panic!("C string literal must end in \\0 and contain no other NUL"),
    }
}

/// What a module declares about itself (made by [`module!`]).
pub(crate) struct ModuleSpec {
    /// Short name: `unique_id` makes proftpd call it `mod_unique_id.c`.
    pub name: &'static CStr,
    /// Shown by `proftpd -vv`, e.g. `mod_unique_id/0.1.0-rs`.
    pub version: &'static CStr,
    pub conftable: *mut ffi::conftable,
    pub cmdtable: *mut ffi::cmdtable,
    pub init: Option<InitFn>,
    pub sess_init: Option<InitFn>,
}

// The record's constructor is here, with what it is made of; the type
// itself is in record.rs (below the typed views that take it).
impl ModuleRecord {
    pub(crate) const fn new(spec: ModuleSpec) -> Self {
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
}

/// A NULL-terminated directive table.
#[repr(transparent)]
pub(crate) struct ConfTable<const N: usize>(UnsafeCell<[ffi::conftable; N]>);

// SAFETY: as for ModuleRecord.
unsafe impl<const N: usize> Sync for ConfTable<N> {}

/// One directive: its name and its trampoline (see [`module!`]).
pub(crate) const fn directive(name: &'static CStr, handler: HandlerFn) -> ffi::conftable {
    ffi::conftable {
        directive: name.as_ptr() as *mut c_char,
        handler: Some(handler),
        m: ptr::null_mut(),
    }
}

/// The terminating entry of a directive table.
pub(crate) const CONF_END: ffi::conftable = ffi::conftable {
    directive: ptr::null_mut(),
    handler: None,
    m: ptr::null_mut(),
};

impl<const N: usize> ConfTable<N> {
    /// `entries` must end with [`CONF_END`].
    pub(crate) const fn new(entries: [ffi::conftable; N]) -> Self {
        assert!(
            N > 0 && entries[N - 1].directive.is_null(),
            "end the table with CONF_END"
        );
        ConfTable(UnsafeCell::new(entries))
    }

    pub(crate) const fn as_ptr(&'static self) -> *mut ffi::conftable {
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
pub(crate) const fn command(
    phase: Phase,
    command: &'static CStr,
    handler: HandlerFn,
) -> ffi::cmdtable {
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
pub(crate) const CMD_END: ffi::cmdtable = ffi::cmdtable {
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
pub(crate) struct CmdTable<const N: usize>(UnsafeCell<[ffi::cmdtable; N]>);

// SAFETY: as for ModuleRecord.
unsafe impl<const N: usize> Sync for CmdTable<N> {}

impl<const N: usize> CmdTable<N> {
    /// `entries` must end with [`CMD_END`].
    pub(crate) const fn new(entries: [ffi::cmdtable; N]) -> Self {
        assert!(
            N > 0 && entries[N - 1].command.is_null(),
            "end the table with CMD_END"
        );
        CmdTable(UnsafeCell::new(entries))
    }

    pub(crate) const fn as_ptr(&'static self) -> *mut ffi::cmdtable {
        self.0.get() as *mut ffi::cmdtable
    }
}

/// Whether `name` is one of the modules listed in `modules.txt` (build.rs
/// makes [`crate::LISTED_MODULES`] from it); [`module!`] refuses to compile
/// a module that is not listed.
pub const fn listed(name: &str) -> bool {
    let mut i = 0;
    while i < crate::LISTED_MODULES.len() {
        if str_eq(crate::LISTED_MODULES[i], name) {
            return true;
        }
        i += 1;
    }
    false
}

const fn str_eq(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    if a.len() != b.len() {
        return false;
    }
    let mut i = 0;
    while i < a.len() {
        if a[i] != b[i] {
            return false;
        }
        i += 1;
    }
    true
}

/// The C types a command handler's trampoline takes and returns, for the
/// code [`module!`] generates (the bindings themselves are private to the
/// host layer).
#[doc(hidden)]
pub type RawCmd = ffi::cmd_rec;
#[doc(hidden)]
pub type RawModret = ffi::modret_t;

/// Declares the module of the Rust module it is written in: one per module
/// folder (`src/NAME/mod.rs`), for a `NAME` listed in `modules.txt`.
///
/// ```ignore
/// crate::host::module! {
///     name: unique_id,
///     directives: [ENGINE],
///     commands: [LogCmdErr c"PASS" => on_pass_failed],   // optional
///     init: init,                                         // optional
///     sess_init: sess_init,                               // optional
/// }
/// ```
///
/// It defines, in that Rust module:
/// - `VERSION`: `mod_NAME/<crate version>-rs` (what `proftpd -vv` shows and
///   log lines start with);
/// - `LOG`: the module's [`Logger`](crate::host::log::Logger) (prefix
///   `VERSION`, trace channel `NAME`);
/// - `MODULE`: the module record, exported as `NAME_module` (what
///   `LoadModule mod_NAME.c` looks up in `mod_NAME.so`), with
///   - the directive table: each `KEY` a
///     [`Key<T>`](crate::host::conf::Key) constant (the directive's name,
///     value type and handler);
///   - the command table: each `Phase "COMMAND" => handler` (a
///     [`Phase`] name; `ANY_COMMAND` for every command), `handler` a
///     `fn(&mut Cmd) -> CmdResult`;
///   - `init`: the version guard ([`super::version::check`]: a proftpd of
///     another release series refuses the module before anything of it
///     runs), the lifecycle handlers every module has
///     ([`super::event::register_module_lifecycle`]), then `init` if given;
///   - `sess_init` if given: an `Err` ends the session (proftpd's contract
///     for a non-zero return).
///
/// Every entry point it makes is a trampoline that runs the function inside
/// [`super::guard::run`] (a panic is logged, never unwound into C): the
/// module's own code has no `unsafe`, and the lint on the module folders
/// (`#![deny(unsafe_code)]` in lib.rs) refuses any.
macro_rules! module {
    (
        name: $name:ident,
        directives: [$($key:path),* $(,)?],
        $(commands: [$($phase:ident $command:expr => $handler:path),* $(,)?],)?
        $(init: $init:path,)?
        $(sess_init: $sess_init:path,)?
    ) => {
        const _: () = assert!(
            $crate::host::module::listed(stringify!($name)),
            concat!("module ", stringify!($name), " is not listed in modules.txt"),
        );

        /// This module's version, e.g. `mod_unique_id/0.1.0-rs`.
        pub const VERSION: &str =
            concat!("mod_", stringify!($name), "/", env!("CARGO_PKG_VERSION"), "-rs");

        /// This module's logger (messages start with [`VERSION`]; trace
        /// channel: the module's short name).
        #[allow(dead_code)]
        const LOG: $crate::host::log::Logger = $crate::host::log::Logger::new(
            VERSION,
            $crate::host::module::cstr(concat!(stringify!($name), "\0")),
        );

        /// The module record proftpd looks up after `dlopen()`.
        #[allow(unsafe_code)]
        #[unsafe(export_name = concat!(stringify!($name), "_module"))]
        pub static MODULE: $crate::host::ModuleRecord =
            $crate::host::ModuleRecord::new($crate::host::module::ModuleSpec {
                name: $crate::host::module::cstr(concat!(stringify!($name), "\0")),
                version: $crate::host::module::cstr(concat!(
                    "mod_", stringify!($name), "/", env!("CARGO_PKG_VERSION"), "-rs\0"
                )),
                conftable: {
                    static CONFTAB: $crate::host::module::ConfTable<
                        { <[&str]>::len(&[$(stringify!($key)),*]) + 1 },
                    > = $crate::host::module::ConfTable::new([
                        $($crate::host::module::directive(
                            $key.c_name(),
                            $crate::host::module::module!(@directive $key),
                        ),)*
                        $crate::host::module::CONF_END,
                    ]);
                    CONFTAB.as_ptr()
                },
                cmdtable: $crate::host::module::module!(@commands $([$($phase $command => $handler),*])?),
                init: {
                    #[allow(unsafe_code)]
                    unsafe extern "C" fn on_unload(
                        data: *const ::std::ffi::c_void,
                        _user: *mut ::std::ffi::c_void,
                    ) {
                        // SAFETY: registered for core.module-unload only.
                        unsafe { $crate::host::event::on_module_unload(&MODULE, data) }
                    }
                    #[allow(unsafe_code)]
                    unsafe extern "C" fn on_restart(
                        _data: *const ::std::ffi::c_void,
                        _user: *mut ::std::ffi::c_void,
                    ) {
                        $crate::host::event::on_restart(&MODULE)
                    }
                    #[allow(unsafe_code)]
                    unsafe extern "C" fn trampoline() -> ::std::ffi::c_int {
                        $crate::host::module::run_init(
                            VERSION,
                            Some((&MODULE, on_unload, on_restart)),
                            "init",
                            $crate::host::module::module!(@fn $($init)?),
                        )
                    }
                    Some(trampoline as $crate::host::module::InitFn)
                },
                sess_init: $crate::host::module::module!(@sess_init $($sess_init)?),
            });
    };
    (@directive $key:path) => {{
        #[allow(unsafe_code)]
        unsafe extern "C" fn trampoline(
            cmd: *mut $crate::host::module::RawCmd,
        ) -> *mut $crate::host::module::RawModret {
            // SAFETY: proftpd passes the cmd_rec of the directive being read.
            unsafe { $crate::host::conf::dispatch(cmd, VERSION, &$key) }
        }
        trampoline as $crate::host::module::HandlerFn
    }};
    (@commands) => { ::std::ptr::null_mut() };
    (@commands [$($phase:ident $command:expr => $handler:path),*]) => {{
        static CMDTAB: $crate::host::module::CmdTable<
            { <[&str]>::len(&[$(stringify!($handler)),*]) + 1 },
        > = $crate::host::module::CmdTable::new([
            $($crate::host::module::command(
                $crate::host::module::Phase::$phase,
                $command,
                {
                    #[allow(unsafe_code)]
                    unsafe extern "C" fn trampoline(
                        cmd: *mut $crate::host::module::RawCmd,
                    ) -> *mut $crate::host::module::RawModret {
                        // SAFETY: proftpd passes the cmd_rec of the command.
                        unsafe {
                            $crate::host::cmd::dispatch(cmd, VERSION, stringify!($handler), $handler)
                        }
                    }
                    trampoline as $crate::host::module::HandlerFn
                },
            ),)*
            $crate::host::module::CMD_END,
        ]);
        CMDTAB.as_ptr()
    }};
    (@fn) => { None };
    (@fn $f:path) => { Some($f as fn() -> Result<(), String>) };
    (@sess_init) => { None };
    (@sess_init $f:path) => {{
        #[allow(unsafe_code)]
        unsafe extern "C" fn trampoline() -> ::std::ffi::c_int {
            $crate::host::module::run_init(VERSION, None, stringify!($f), Some($f))
        }
        Some(trampoline as $crate::host::module::InitFn)
    }};
}
pub(crate) use module;

/// The body of the `init` and `sess_init` trampolines: the version guard,
/// for `init` the module's lifecycle handlers (`lifecycle`: the module and
/// its `core.module-unload` and `core.restart` trampolines), then `f`.
/// An error (or a panic) is logged; `init` failing makes mod_dso refuse the
/// `LoadModule`, `sess_init` failing ends the session; a panic in
/// `sess_init` does not.
pub(crate) fn run_init(
    module: &str,
    lifecycle: Option<(&'static ModuleRecord, EventFn, EventFn)>,
    name: &str,
    f: Option<fn() -> Result<(), String>>,
) -> c_int {
    super::guard::run(
        module,
        name,
        |_| 0,
        || {
            let r = super::version::check_at_init(module).and_then(|()| {
                if let Some((m, unload, restart)) = lifecycle {
                    super::event::register_module_lifecycle(m, unload, restart);
                }
                f.map_or(Ok(()), |f| f())
            });
            match r {
                Ok(()) => 0,
                Err(e) => {
                    super::log::error(&format!("{module}: {name}: {e}"));
                    -1
                }
            }
        },
    )
}

/// Whether the core has loaded the module `name` ("mod_ifsession.c"),
/// statically or with LoadModule.
pub fn is_loaded(name: &str) -> bool {
    let c = super::log::to_cstring(name);
    // SAFETY: a plain lookup in the core's module list.
    unsafe { ffi::pr_module_exists(c.as_ptr()) != 0 }
}
