//! proftpd events (`pr_event_register`): `core.session-reinit`,
//! `core.restart`, `core.exit`, `core.module-unload`, log events, ...

use super::ffi;
use super::module::ModuleRecord;
use std::ffi::{CStr, c_void};
use std::ptr;
use std::sync::atomic::{AtomicUsize, Ordering};

/// The C signature of event callbacks.
pub type EventFn = unsafe extern "C" fn(*const c_void, *mut c_void);

/// The data an event carries; what it points to depends on the event.
pub struct EventData {
    data: *const c_void,
}

impl EventData {
    /// For events whose data is a C string (`core.module-unload`: the
    /// module's file name, e.g. `mod_unique_id.c`).
    pub fn as_str(&self) -> Option<String> {
        if self.data.is_null() {
            return None;
        }
        // SAFETY: only called for events documented to carry a C string.
        Some(
            unsafe { CStr::from_ptr(self.data as *const std::ffi::c_char) }
                .to_string_lossy()
                .into_owned(),
        )
    }

    #[allow(dead_code)]
    pub(crate) fn raw(&self) -> *const c_void {
        self.data
    }
}

/// Register `cb` (a trampoline made by `event_handler!`) for `event`.
pub fn register(module: &'static ModuleRecord, event: &'static CStr, cb: EventFn) {
    super::state::core_call("event");
    // SAFETY: the module record is 'static (proftpd keeps its pointer; it
    // copies the event name).
    unsafe {
        ffi::pr_event_register(module.as_ptr(), event.as_ptr(), Some(cb), ptr::null_mut());
    }
}

/// Unregister `cb` from `event`.
pub fn unregister(module: &'static ModuleRecord, event: &'static CStr, cb: EventFn) {
    super::state::core_call("event");
    // SAFETY: as above.
    unsafe {
        ffi::pr_event_unregister(module.as_ptr(), event.as_ptr(), Some(cb));
    }
}

/// Unregister all of the module's event handlers.
pub fn unregister_all(module: &'static ModuleRecord) {
    // SAFETY: NULL event and callback mean "all of this module's".
    unsafe {
        ffi::pr_event_unregister(module.as_ptr(), ptr::null(), None);
    }
}

#[doc(hidden)]
pub fn dispatch(data: *const c_void, module: &str, name: &str, f: fn(&EventData)) {
    let ev = EventData { data };
    super::guard::run(module, name, |_| (), || f(&ev));
}

/// A trampoline for an event handler `fn(&EventData)`.
macro_rules! event_handler {
    ($what:expr, $f:path) => {{
        unsafe extern "C" fn trampoline(
            data: *const ::std::ffi::c_void,
            _user: *mut ::std::ffi::c_void,
        ) {
            $crate::host::event::dispatch(data, $what, stringify!($f), $f)
        }
        trampoline as $crate::host::event::EventFn
    }};
}
pub(crate) use event_handler;

/// How many of our modules are loaded (their `init` ran, no unload yet).
static LOADED: AtomicUsize = AtomicUsize::new(0);

/// What every module registers in its `init`: on `core.module-unload` of
/// this module, unregister all of its event handlers; on `core.restart`,
/// forget the stored directive values (the configuration is re-read).
/// Modules with more to reset on restart register their own handler too.
///
/// On a restart (SIGHUP) mod_dso unloads every module before the core
/// raises `core.restart` for the others, and dlclose()s our library, which
/// runs no Rust destructors: so when the last of our modules is unloaded,
/// everything Rust-owned that the statics hold is freed first.
///
/// (`init` runs in the master: also warms up caches the sessions inherit.)
pub fn register_module_lifecycle(module: &'static ModuleRecord) {
    LOADED.fetch_add(1, Ordering::SeqCst);
    super::sys::warm_up_before_fork();
    // SAFETY: the module record is 'static; it is passed back to us as the
    // user data of the two host-internal handlers below.
    unsafe {
        let user = module.as_ptr() as *mut c_void;
        ffi::pr_event_register(
            module.as_ptr(),
            c"core.module-unload".as_ptr(),
            Some(on_module_unload),
            user,
        );
        ffi::pr_event_register(
            module.as_ptr(),
            c"core.restart".as_ptr(),
            Some(on_restart),
            user,
        );
    }
}

unsafe extern "C" fn on_module_unload(data: *const c_void, user: *mut c_void) {
    super::guard::run(
        "proftpd-rs",
        "core.module-unload",
        |_| (),
        || {
            let unloaded = EventData { data }.as_str();
            // SAFETY: `user` is the 'static module record registered above.
            let module = unsafe { &*(user as *const ModuleRecord) };
            if unloaded.as_deref() == Some(module.file_name().as_str()) {
                unregister_all(module);
                if LOADED.fetch_sub(1, Ordering::SeqCst) == 1 {
                    super::conf::reset_registry();
                    super::jot::reset();
                }
            }
        },
    );
}

unsafe extern "C" fn on_restart(_data: *const c_void, _user: *mut c_void) {
    super::guard::run(
        "proftpd-rs",
        "core.restart",
        |_| (),
        super::conf::reset_registry,
    );
}
