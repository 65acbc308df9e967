//! The host layer: the only home of `unsafe` in this crate.
//!
//! proftpd calls into us through C function pointers stored in the `module`
//! records we export.  Every such entry point is a small trampoline generated
//! by the macros in this module; each one runs the module's plain Rust
//! function inside [`guard::run`], which catches panics and reports them
//! through proftpd's own logging, so no panic ever unwinds into C.
//!
//! Module code declares itself with [`module!`], sees typed views
//! ([`conf::Directive`], [`cmd::Cmd`], [`logevent::LogEvent`]) and typed
//! keys and events ([`conf::Key`], [`event::Event`]), and calls safe
//! functions ([`session`], [`log`], [`privs`], [`fs`]); it never sees a raw
//! pointer, and cannot write `unsafe` (lib.rs denies it outside this folder).

/// The bindgen bindings: private to the host layer (the trampolines the
/// macros generate name their C types through `module::Raw*`).
mod ffi;

pub mod cmd;
pub mod conf;
pub mod core_redis;
pub mod dir;
pub mod event;
pub mod fs;
pub mod guard;
pub mod jot;
pub mod log;
pub mod logevent;
pub mod module;
pub mod privs;
pub mod record;
pub mod session;
pub mod state;
pub mod sys;
pub mod version;

pub use module::ModuleRecord;
pub(crate) use module::module;

/// A C string of proftpd's as an owned Rust string (`None` for NULL;
/// invalid UTF-8 becomes U+FFFD).
///
/// # Safety
/// `p` is NULL or points to a NUL-terminated string that stays valid for
/// the call.
pub(crate) unsafe fn text(p: *const std::ffi::c_char) -> Option<String> {
    if p.is_null() {
        return None;
    }
    // SAFETY: per the contract.
    Some(
        unsafe { std::ffi::CStr::from_ptr(p) }
            .to_string_lossy()
            .into_owned(),
    )
}

/// Configuration contexts (the C `CONF_*` flags), for
/// [`conf::Directive::check_context`].
pub mod context {
    use super::ffi;
    pub const ROOT: u32 = ffi::CONF_ROOT;
    pub const DIR: u32 = ffi::CONF_DIR;
    pub const ANON: u32 = ffi::CONF_ANON;
    pub const LIMIT: u32 = ffi::CONF_LIMIT;
    pub const VIRTUAL: u32 = ffi::CONF_VIRTUAL;
    pub const DYNDIR: u32 = ffi::CONF_DYNDIR;
    pub const GLOBAL: u32 = ffi::CONF_GLOBAL;
}
