//! The guard every entry point from proftpd goes through.

use std::any::Any;
use std::panic::{AssertUnwindSafe, catch_unwind};

/// Run `f`, catching any panic.  A panic is logged through proftpd's SystemLog
/// (naming the module and the entry point, e.g. `mod_unique_id/0.1.0-rs:
/// sess_init`) and `on_panic` is returned instead, so the daemon and the
/// session carry on.  Nothing is allocated unless a panic happens.
pub fn run<R>(
    module: &str,
    name: &str,
    on_panic: impl FnOnce(&str) -> R,
    f: impl FnOnce() -> R,
) -> R {
    match catch_unwind(AssertUnwindSafe(|| {
        test_panic_hook(module, name);
        f()
    })) {
        Ok(r) => r,
        Err(payload) => {
            let msg = panic_message(payload.as_ref());
            crate::host::log::error(&format!(
                "{module}: {name}: internal error (panic caught): {msg}"
            ));
            on_panic(&msg)
        }
    }
}

/// Replace the default panic hook, which prints the panic to fd 2, by one
/// that writes nothing: after proftpd daemonizes, fd 2 may be any socket
/// (a client's control connection, Redis).  [`run`] logs every panic it
/// catches through the SystemLog instead.  Called from the module `init`
/// path only (once per process), so `cargo test` keeps readable panics.
pub fn install_quiet_panic_hook() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| std::panic::set_hook(Box::new(|_| {})));
}

/// The text of a panic payload.
pub fn panic_message(payload: &(dyn Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "unknown panic payload".to_string()
    }
}

/// Debug builds only: panic on purpose when `PROFTPD_RS_TEST_PANIC` names this
/// entry point (`sess_init`, `set_engine`, or `mod_unique_id:sess_init` to pick
/// one module), so the integration tests can prove that a panicking handler
/// leaves the session and the daemon alive.  Release builds have no such hook.
#[cfg(debug_assertions)]
fn test_panic_hook(module: &str, name: &str) {
    if let Some(v) = std::env::var_os("PROFTPD_RS_TEST_PANIC")
        && let Some(v) = v.to_str()
    {
        let hit = match v.split_once(':') {
            Some((m, n)) => module.starts_with(m) && n == name,
            None => v == name,
        };
        if hit {
            panic!("test panic requested by PROFTPD_RS_TEST_PANIC for {module}: {name}");
        }
    }
}

#[cfg(not(debug_assertions))]
fn test_panic_hook(_module: &str, _name: &str) {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payload_texts() {
        let e = catch_unwind(|| panic!("boom {}", 1)).unwrap_err();
        assert_eq!(panic_message(e.as_ref()), "boom 1");
        let e = catch_unwind(|| panic!("static")).unwrap_err();
        assert_eq!(panic_message(e.as_ref()), "static");
    }
}
