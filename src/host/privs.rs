//! Privileges (`PRIVS_ROOT` / `PRIVS_RELINQUISH`).

use super::ffi;

/// Run `f` with root privileges, then relinquish them again.
pub fn as_root<R>(f: impl FnOnce() -> R) -> R {
    struct Relinquish;
    impl Drop for Relinquish {
        fn drop(&mut self) {
            // SAFETY: matches the pr_privs_root below.
            unsafe {
                ffi::pr_privs_relinquish(c"proftpd-rs".as_ptr(), line!() as i32);
            }
        }
    }
    super::state::core_call("privs");
    // SAFETY: plain call into proftpd's privilege switching.
    unsafe {
        ffi::pr_privs_root(c"proftpd-rs".as_ptr(), line!() as i32);
    }
    let _guard = Relinquish;
    f()
}
