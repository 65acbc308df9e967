//! ProFTPD modules implemented in Rust, in one cdylib.
//!
//! This file holds only the exported module records that proftpd's mod_dso
//! looks up after `dlopen()` (`LoadModule mod_unique_id.c` loads
//! `mod_unique_id.so` and looks up `unique_id_module`).  `src/host/` is the
//! only home of `unsafe`; the modules are ordinary Rust.

#![deny(unsafe_op_in_unsafe_fn)]

pub mod decimal;
pub mod host;
pub mod log_forensic;
pub mod redis;
pub mod unique_id;
pub mod xferlog;

#[cfg(test)]
mod proptest_support;

use host::ModuleRecord;

/// mod_unique_id.
#[unsafe(no_mangle)]
pub static unique_id_module: ModuleRecord = unique_id::record();

/// mod_log_forensic.
#[unsafe(no_mangle)]
pub static log_forensic_module: ModuleRecord = log_forensic::record();
/// mod_xferlog.
#[unsafe(no_mangle)]
pub static xferlog_module: ModuleRecord = xferlog::record();
/// mod_redis.
#[unsafe(no_mangle)]
pub static redis_module: ModuleRecord = redis::record();

#[cfg(test)]
mod tests {
    /// The committed header must match what cbindgen generates from the
    /// sources now (refresh with `PROFTPD_RS_UPDATE_HEADER=1 cargo build`).
    #[test]
    fn committed_header_is_current() {
        let generated = include_str!(concat!(env!("OUT_DIR"), "/proftpd_rs.h"));
        let committed = include_str!("../include/proftpd_rs.h");
        assert_eq!(
            committed, generated,
            "include/proftpd_rs.h is stale: run `PROFTPD_RS_UPDATE_HEADER=1 cargo build` and commit it"
        );
    }
}
