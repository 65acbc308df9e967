//! proftpd events (`pr_event_register`): the core's events as typed
//! constants ([`RESTART`], [`SESSION_REINIT`], [`EXIT`], the log events of
//! [`super::logevent::LogType::event`]), handlers made by [`handler!`], and
//! the lifecycle handlers every module gets (`core.module-unload`,
//! `core.restart`).
//!
//! An [`Event<P>`] says what data the core raises it with (its payload
//! kind `P`); a [`Handler<P>`] takes that data, typed: `fn()` for the
//! events without data, `fn(&LogEvent)` for the log events.  Registration
//! takes the two of the same `P`, so a handler only ever sees the data it
//! was made for.

use super::ffi;
use super::logevent::{Log, LogEvent, LogType};
use super::record::ModuleRecord;
use std::ffi::{CStr, c_void};
use std::marker::PhantomData;
use std::ptr;
use std::sync::atomic::{AtomicBool, AtomicPtr, Ordering};

/// The C signature of event callbacks.
pub(crate) type EventFn = unsafe extern "C" fn(*const c_void, *mut c_void);

/// A core event, raised with data of kind `P` (`()`: none that we read).
pub struct Event<P> {
    name: &'static CStr,
    _payload: PhantomData<fn(P)>,
}

impl<P> Clone for Event<P> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<P> Copy for Event<P> {}

impl<P> Event<P> {
    /// Only the host names events: `P` must be what the core raises the
    /// event with.
    pub(crate) const fn new(name: &'static CStr) -> Self {
        Event {
            name,
            _payload: PhantomData,
        }
    }

    pub fn name(self) -> &'static CStr {
        self.name
    }
}

/// `core.restart`: the master re-reads the configuration (SIGHUP).
pub const RESTART: Event<()> = Event::new(c"core.restart");
/// `core.session-reinit`: `HOST` switched the session to another virtual
/// host (before login); settings are to be read anew.
pub const SESSION_REINIT: Event<()> = Event::new(c"core.session-reinit");
/// `core.exit`: the session process ends (also from inside a signal
/// handler, see docs/architecture.md).
pub const EXIT: Event<()> = Event::new(c"core.exit");
/// `core.module-unload`, with the module's file name (`mod_x.c`).
const MODULE_UNLOAD: &CStr = c"core.module-unload";

/// An event handler for events of payload kind `P`, made by [`handler!`].
pub struct Handler<P> {
    callback: EventFn,
    _payload: PhantomData<fn(P)>,
}

impl<P> Clone for Handler<P> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<P> Copy for Handler<P> {}

impl<P> Handler<P> {
    /// `callback` is a trampoline that hands its data to `_f` (see
    /// [`handler!`]); `_f` only picks `P`.
    #[doc(hidden)]
    pub(crate) const fn new<H: Deliver<P>>(callback: EventFn, _f: &H) -> Self {
        Handler {
            callback,
            _payload: PhantomData,
        }
    }
}

/// How the data of an event of payload kind `P` reaches a handler `fn`.
#[doc(hidden)]
pub(crate) trait Deliver<P> {
    /// # Safety
    /// `data` is what the core raised an event of kind `P` with.
    unsafe fn deliver(&self, data: *const c_void);
}

impl<F: Fn()> Deliver<()> for F {
    unsafe fn deliver(&self, _data: *const c_void) {
        self()
    }
}

/// Run an event handler inside the guard (the body of [`handler!`]'s
/// trampolines).
///
/// # Safety
/// `data` is what the core raised an event of kind `P` with: the trampoline
/// is registered only for events of that kind ([`register`] takes an
/// [`Event<P>`] and a [`Handler<P>`]).
pub(crate) unsafe fn dispatch<P, H: Deliver<P>>(
    data: *const c_void,
    module: &str,
    name: &str,
    f: &H,
) {
    // SAFETY: per this function's contract.
    super::guard::run(module, name, |_| (), || unsafe { f.deliver(data) });
}

/// A [`Handler`] for the function `$f` (`fn()`, or `fn(&LogEvent)` for the
/// log events), named in panic reports as the module's `VERSION` (the one
/// [`crate::host::module!`] defines where this is used) and `$f`.
macro_rules! handler {
    ($f:path) => {{
        #[allow(unsafe_code)]
        unsafe extern "C" fn trampoline(
            data: *const ::std::ffi::c_void,
            _user: *mut ::std::ffi::c_void,
        ) {
            // SAFETY: registered only for events of the payload kind that
            // `$f` takes (see `event::register`).
            unsafe { $crate::host::event::dispatch(data, VERSION, stringify!($f), &$f) }
        }
        $crate::host::event::Handler::new(trampoline, &$f)
    }};
}
pub(crate) use handler;

/// Register `handler` for `event`.
pub fn register<P>(module: &'static ModuleRecord, event: Event<P>, handler: Handler<P>) {
    super::state::core_call("event");
    // SAFETY: the module record is 'static (proftpd keeps its pointer; it
    // copies the event name).
    unsafe {
        ffi::pr_event_register(
            module.as_ptr(),
            event.name.as_ptr(),
            Some(handler.callback),
            ptr::null_mut(),
        );
    }
}

/// Unregister `handler` from `event`.
pub fn unregister<P>(module: &'static ModuleRecord, event: Event<P>, handler: Handler<P>) {
    super::state::core_call("event");
    // SAFETY: as above.
    unsafe {
        ffi::pr_event_unregister(module.as_ptr(), event.name.as_ptr(), Some(handler.callback));
    }
}

/// The modules whose lifecycle handlers are registered, one slot for each
/// module of `modules.txt` (see [`register_module_lifecycle`]), and whether
/// each is loaded (its `init` ran, no `core.module-unload` for it yet).
const SLOTS: usize = crate::LISTED_MODULES.len();

struct Slot {
    module: AtomicPtr<ModuleRecord>,
    loaded: AtomicBool,
}

#[allow(clippy::declare_interior_mutable_const)]
const EMPTY_SLOT: Slot = Slot {
    module: AtomicPtr::new(ptr::null_mut()),
    loaded: AtomicBool::new(false),
};

static LIFECYCLE: [Slot; SLOTS] = [EMPTY_SLOT; SLOTS];

/// What every module's `init` registers first (the `init` trampoline of
/// [`crate::host::module!`] calls this): on `core.module-unload` of
/// this module, mark it unloaded (when it was the last of ours, free what
/// the host keeps: directive values, jot filters); on `core.restart`,
/// forget the stored directive values (the configuration is re-read).
/// Modules with more to reset on restart register their own handler too.
///
/// `pr_event_register` refuses a callback already registered for the
/// event (EEXIST), whichever module registered it: so each module has its
/// own copy of the two handlers, `unload` and `restart` (trampolines made
/// by [`crate::host::module!`] that call [`on_module_unload`] and
/// [`on_restart`] with the module's record, so their bodies differ and the
/// linker cannot fold them), and the core removes a module's copies itself
/// when it unloads it (`pr_module_unload` unregisters all of the module's
/// handlers).
///
/// On a restart (SIGHUP) mod_dso unloads every module before the core
/// raises `core.restart` for the others, and dlclose()s our library, which
/// runs no Rust destructors: so when the last of our modules is unloaded,
/// everything Rust-owned that the statics hold is freed first.
///
/// (`init` runs in the master: also warms up caches the sessions inherit,
/// and silences the default panic hook, see
/// [`super::guard::install_quiet_panic_hook`].)
pub(crate) fn register_module_lifecycle(
    module: &'static ModuleRecord,
    unload: EventFn,
    restart: EventFn,
) {
    super::guard::install_quiet_panic_hook();
    super::sys::warm_up_before_fork();
    let want = module as *const ModuleRecord as *mut ModuleRecord;
    let slot = LIFECYCLE
        .iter()
        .position(|s| s.module.load(Ordering::SeqCst) == want)
        .or_else(|| {
            LIFECYCLE.iter().position(|s| {
                s.module
                    .compare_exchange(ptr::null_mut(), want, Ordering::SeqCst, Ordering::SeqCst)
                    .is_ok()
            })
        });
    let Some(slot) = slot else {
        super::log::error(&format!(
            "proftpd-rs: more than {SLOTS} modules of this library; {} has no lifecycle handlers",
            module.file_name()
        ));
        return;
    };
    // Our statics outlived every one of our modules (the library stayed
    // mapped) and no unload handler freed what they hold: proftpd < 1.3.8c
    // may lose handlers from its event lists when a module is unloaded
    // (see docs/reliability.md, "Host hardening").  Nothing of ours is loaded, so nothing
    // refers to it: free it now.
    if still_loaded(None) == 0 && (super::conf::registry_len() > 0 || super::jot::is_set()) {
        super::conf::reset_registry();
        super::jot::reset();
        super::log::debug(
            7,
            "proftpd-rs: stored settings left by a missed module unload freed",
        );
    }
    LIFECYCLE[slot].loaded.store(true, Ordering::SeqCst);
    // SAFETY: the module record is 'static (proftpd keeps its pointer; it
    // copies the event name).  A second init of a loaded module gets EEXIST
    // (its handlers are there already), which is fine.
    unsafe {
        ffi::pr_event_register(
            module.as_ptr(),
            MODULE_UNLOAD.as_ptr(),
            Some(unload),
            ptr::null_mut(),
        );
        ffi::pr_event_register(
            module.as_ptr(),
            RESTART.name.as_ptr(),
            Some(restart),
            ptr::null_mut(),
        );
    }
}

/// How many of our modules are loaded.
pub fn loaded_modules() -> usize {
    LIFECYCLE
        .iter()
        .filter(|s| s.loaded.load(Ordering::SeqCst))
        .count()
}

/// The body of a module's `core.module-unload` handler (`module`: whose
/// handler it is).
///
/// # Safety
/// `data` is what the core raises core.module-unload with: the unloaded
/// module's file name, a C string (or NULL).
pub(crate) unsafe fn on_module_unload(module: &'static ModuleRecord, data: *const c_void) {
    super::guard::run(
        "proftpd-rs",
        "core.module-unload",
        |_| (),
        || {
            let _ = std::hint::black_box(module);
            // SAFETY: per this function's contract.
            let name = unsafe { super::text(data.cast()) };
            module_unloaded(name.as_deref())
        },
    );
}

/// `core.module-unload` of `unloaded`.  Every handler of ours sees every
/// unload and does the same (idempotent) bookkeeping: with proftpd < 1.3.8c
/// the core may have lost some of them from its list (see
/// docs/reliability.md, "Host hardening"), so none is relied on for its own module only.
fn module_unloaded(unloaded: Option<&str>) {
    let Some(idx) = LIFECYCLE.iter().position(|s| {
        let m = s.module.load(Ordering::SeqCst);
        // SAFETY: slots hold only 'static module records.
        !m.is_null() && unloaded == Some(unsafe { &*m }.file_name().as_str())
    }) else {
        return;
    };
    let was_loaded = LIFECYCLE[idx].loaded.load(Ordering::SeqCst);
    // Count by the core's list of loaded modules (the one being unloaded
    // is still in it during this event).  The core unregisters the
    // module's handlers, these included, right after this event.
    let left = still_loaded(unloaded);
    let name = unloaded.unwrap_or_default();
    if left == 0 {
        super::conf::reset_registry();
        super::jot::reset();
        if was_loaded {
            super::log::debug(
                7,
                &format!(
                    "proftpd-rs: {name} unloaded, the last of this library's modules: stored settings freed"
                ),
            );
        }
    } else if was_loaded {
        super::log::debug(
            7,
            &format!("proftpd-rs: {name} unloaded, {left} of this library's modules still loaded"),
        );
    }
}

/// How many of our modules the core has loaded, not counting `except`
/// (the one being unloaded); slots of modules gone are marked unloaded.
fn still_loaded(except: Option<&str>) -> usize {
    let mut n = 0;
    for s in &LIFECYCLE {
        let m = s.module.load(Ordering::SeqCst);
        if m.is_null() {
            continue;
        }
        // SAFETY: slots hold only 'static module records.
        let name = unsafe { &*m }.file_name();
        let c = super::log::to_cstring(&name);
        // SAFETY: a plain lookup in the core's module list.
        let loaded =
            Some(name.as_str()) != except && !unsafe { ffi::pr_module_get(c.as_ptr()) }.is_null();
        s.loaded.store(loaded, Ordering::SeqCst);
        n += usize::from(loaded);
    }
    n
}

/// The body of a module's `core.restart` handler (`module`: whose handler
/// it is).
pub(crate) fn on_restart(module: &'static ModuleRecord) {
    super::guard::run(
        "proftpd-rs",
        "core.restart",
        |_| (),
        || {
            let _ = std::hint::black_box(module);
            super::conf::reset_registry();
        },
    );
}

// ---- the log events ------------------------------------------------------

impl LogType {
    /// The event the core raises for this type.
    pub fn event(self) -> Event<Log> {
        Event::new(self.event_name())
    }
}

impl<F: Fn(&LogEvent<'_>)> Deliver<Log> for F {
    unsafe fn deliver(&self, data: *const c_void) {
        // SAFETY: the core raises core.log.* events with a pointer to a
        // live pr_log_event_t on its stack, valid until the handlers return:
        // the LogEvent is only lent to the handler for the call.
        if let Some(ev) = unsafe { LogEvent::from_raw(data) } {
            self(&ev)
        }
    }
}
