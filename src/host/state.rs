//! Per-session module state that is safe under proftpd's re-entrancy.
//!
//! proftpd runs a session on one thread, but that thread is **re-entrant**:
//! almost every call into the core (`find_config`, `pr_jot_resolve_logfmt`,
//! the table, env and note functions, logging on `EINTR`, I/O) runs
//! `pr_signals_handle()`, which may end the session on the spot (SIGTERM,
//! a timeout's SIGALRM: `core.exit` handlers, ours included, run *inside*
//! that call) or raise events that reach our own listeners.  A `Mutex`
//! held across such a call turns the re-entry into a deadlock: the session
//! hangs for ever, holding its `MaxInstances` slot.
//!
//! [`SessionState`] is the one primitive the modules keep their state in:
//!
//! * it is borrowed only inside [`SessionState::with`], for a short stretch
//!   of plain Rust: **never call into proftpd inside the closure** (no
//!   `conf::lookup`, no `jot::resolve`, no `session::note_*`, no logging;
//!   look settings up before, log after);
//! * a re-entrant access never blocks: it gets [`Busy`], and each handler
//!   says what it does then (drop a captured message, count events as
//!   lost, skip a block) — it never waits.
//!
//! Debug builds check the rule: every host function that calls into the
//! core first calls [`core_call`], which panics (caught and logged by the
//! entry point's guard) when any state is borrowed.  They also carry the
//! test hook `PROFTPD_RS_TEST_SIGNAL=point:SIGNAL:N`, which raises SIGNAL
//! just before the N-th core call at `point` in a session process (e.g.
//! `jot::resolve:TERM:40`), so the integration tests can make a signal
//! pending exactly where a naive module would hold its state.

use std::cell::UnsafeCell;
use std::sync::atomic::{AtomicBool, Ordering};

/// Whether this is a session process (`session.pool` exists): the test
/// hook fires only there.  (Read here, not through `session`, which is a
/// layer above this one.)
#[cfg(debug_assertions)]
fn in_session_process() -> bool {
    // SAFETY: proftpd's one thread; a plain read of a global pointer.
    unsafe { !super::ffi::session.pool.is_null() }
}

/// The state was already borrowed: this access re-entered it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Busy;

impl std::fmt::Display for Busy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("module state busy (re-entered)")
    }
}

/// A module's per-process state (`None` until the session sets it up).
/// See the module docs for the rule of use.
pub struct SessionState<T> {
    busy: AtomicBool,
    value: UnsafeCell<Option<T>>,
}

// SAFETY: the value is reached only through `with`, which hands out the
// one `&mut` while `busy` is set (an acquire/release try-lock that never
// waits), so no two accesses overlap, from any thread.
unsafe impl<T: Send> Sync for SessionState<T> {}

impl<T> Default for SessionState<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T> SessionState<T> {
    pub const fn new() -> Self {
        SessionState {
            busy: AtomicBool::new(false),
            value: UnsafeCell::new(None),
        }
    }

    /// Borrow the state for `f`, or [`Busy`] if it is borrowed already
    /// (a signal or event handler re-entered while `f`'s caller held it).
    /// `f` must not call into proftpd.  A panic in `f` releases the borrow.
    pub fn with<R>(&self, f: impl FnOnce(&mut Option<T>) -> R) -> Result<R, Busy> {
        if self.busy.swap(true, Ordering::Acquire) {
            return Err(Busy);
        }
        #[cfg(debug_assertions)]
        debug::BORROWED.fetch_add(1, Ordering::Relaxed);
        let _release = Release(&self.busy);
        // SAFETY: `busy` was clear and is now set by us: ours is the only
        // reference until `_release` clears it.
        Ok(f(unsafe { &mut *self.value.get() }))
    }

    /// [`SessionState::with`] on the value, if there is one.
    pub fn with_some<R>(&self, f: impl FnOnce(&mut T) -> R) -> Result<Option<R>, Busy> {
        self.with(|v| v.as_mut().map(f))
    }

    /// Put `value` in place; the previous value is returned, so that the
    /// caller drops it after the borrow.
    pub fn replace(&self, value: Option<T>) -> Result<Option<T>, Busy> {
        self.with(|v| std::mem::replace(v, value))
    }

    /// Take the value out.
    pub fn take(&self) -> Result<Option<T>, Busy> {
        self.replace(None)
    }
}

/// Clears the busy flag (also when the closure panics) and the debug count.
struct Release<'a>(&'a AtomicBool);

impl Drop for Release<'_> {
    fn drop(&mut self) {
        self.0.store(false, Ordering::Release);
        #[cfg(debug_assertions)]
        debug::BORROWED.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Called by the host layer right before a call into the core that may run
/// signal, exit or event handlers.  Release builds: nothing.  Debug builds:
/// the rule check and the signal test hook (see the module docs).
#[inline(always)]
pub(crate) fn core_call(point: &'static str) {
    #[cfg(debug_assertions)]
    debug::core_call(point);
    #[cfg(not(debug_assertions))]
    let _ = point;
}

#[cfg(debug_assertions)]
pub(crate) mod debug {
    use std::sync::OnceLock;
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// How many `SessionState`s are borrowed right now.
    pub static BORROWED: AtomicUsize = AtomicUsize::new(0);

    struct Hook {
        point: String,
        signal: i32,
        nth: usize,
    }

    static HOOK: OnceLock<Option<Hook>> = OnceLock::new();
    static CALLS: AtomicUsize = AtomicUsize::new(0);

    /// `point:SIGNAL:N` (SIGNAL: TERM, ALRM, HUP, INT, USR1 or a number).
    fn parse(v: &str) -> Option<Hook> {
        let mut it = v.rsplitn(3, ':');
        let nth = it.next()?.parse().ok()?;
        let sig = it.next()?;
        let point = it.next()?.to_string();
        let signal = match sig.trim_start_matches("SIG") {
            "TERM" => libc::SIGTERM,
            "ALRM" => libc::SIGALRM,
            "HUP" => libc::SIGHUP,
            "INT" => libc::SIGINT,
            "USR1" => libc::SIGUSR1,
            n => n.parse().ok()?,
        };
        Some(Hook { point, signal, nth })
    }

    pub fn core_call(point: &'static str) {
        if BORROWED.load(Ordering::Relaxed) != 0 {
            panic!(
                "host rule broken: calling into proftpd ({point}) while module state is borrowed"
            );
        }
        let hook = HOOK.get_or_init(|| {
            std::env::var("PROFTPD_RS_TEST_SIGNAL")
                .ok()
                .and_then(|v| parse(&v))
        });
        if let Some(h) = hook
            && h.point == point
            && super::in_session_process()
            && CALLS.fetch_add(1, Ordering::Relaxed) + 1 == h.nth
        {
            // SAFETY: raise() runs proftpd's handler, which only sets a
            // flag; the core call that follows handles it.
            unsafe {
                libc::raise(h.signal);
            }
        }
    }

    #[cfg(test)]
    mod tests {
        #[test]
        fn hook_words() {
            let h = super::parse("jot::resolve:TERM:40").unwrap();
            assert_eq!(
                (h.point.as_str(), h.signal, h.nth),
                ("jot::resolve", libc::SIGTERM, 40)
            );
            let h = super::parse("conf::lookup:SIGALRM:1").unwrap();
            assert_eq!(
                (h.point.as_str(), h.signal),
                ("conf::lookup", libc::SIGALRM)
            );
            assert!(super::parse("x:TERM").is_none());
            assert!(super::parse("x:NOPE:1").is_none());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn re_entry_is_busy_not_a_deadlock() {
        let s: SessionState<u32> = SessionState::new();
        assert_eq!(s.replace(Some(1)), Ok(None));
        let inner = s.with(|v| {
            *v = Some(2);
            s.with(|_| ())
        });
        assert_eq!(inner, Ok(Err(Busy)));
        assert_eq!(s.with_some(|v| *v), Ok(Some(2)));
        assert_eq!(s.take(), Ok(Some(2)));
        assert_eq!(s.with_some(|v| *v), Ok(None));
    }

    #[test]
    fn a_panic_releases_the_borrow() {
        let s: SessionState<u32> = SessionState::new();
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            let _ = s.with(|_| panic!("boom"));
        }));
        assert!(r.is_err());
        assert_eq!(s.replace(Some(3)), Ok(None));
    }
}
