//! ProFTPD modules implemented in Rust, in one cdylib.
//!
//! `src/host/` is the only home of `unsafe` (the lint below refuses it
//! anywhere else); each module folder declares its module with
//! [`host::module!`], which exports the record proftpd's mod_dso looks up
//! after `dlopen()` (`LoadModule mod_unique_id.c` loads `mod_unique_id.so`
//! and looks up `unique_id_module`).  The modules are listed in
//! `modules.txt`; the build checks that the list and the declarations agree.

#![deny(unsafe_code)]
#![deny(unsafe_op_in_unsafe_fn)]

pub mod decimal;
#[allow(unsafe_code)]
pub mod host;

pub mod log_forensic;
pub mod redis;
pub mod unique_id;
pub mod xferlog;

#[cfg(test)]
mod proptest_support;

include!(concat!(env!("OUT_DIR"), "/modules.rs"));

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
