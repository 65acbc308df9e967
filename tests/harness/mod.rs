//! Integration-test harness: real `proftpd` and `redis-server` processes on free loopback
//! ports, each in its own temp dir, plus a small FTP client and a small Redis client.
//!
//! Every integration test file pulls it in with
//!
//! ```ignore
//! mod harness;
//! use harness::{Ftp, Modules, Proftpd};
//! ```
//!
//! A typical test:
//!
//! ```ignore
//! let server = Proftpd::builder(Modules::Ours)
//!     .load_module("mod_unique_id.c")
//!     .config(r#"
//!         LogFormat session "%{UNIQUE_ID}e %u"
//!         ExtendedLog @DIR@/ext.log ALL session
//!     "#)
//!     .start();
//! let mut ftp = server.login("alice", "secret");
//! ftp.stor("a.txt", b"hello");
//! ftp.quit();
//! let lines = server.wait_for_lines("ext.log", 3);
//! ```
//!
//! Design rules (so that tests can run in parallel and fail debuggably):
//! * every server gets a fresh temp dir and a fresh port ([`free_port`]); nothing is shared;
//! * nothing sleeps for a fixed time: wait on a condition ([`wait_until`],
//!   [`wait_for_lines`], [`RedisClient::wait_for_list`]);
//! * when a test panics, [`Proftpd`] and [`RedisServer`] print their config and logs on drop;
//! * set `PROFTPD_RS_KEEP_TMP=1` to keep the temp dirs, `PROFTPD_RS_DUMP_LOGS=1` to print
//!   the logs of passing tests too.
//!
//! Environment overrides: `PROFTPD_BIN` (default `/usr/sbin/proftpd`), `PROFTPD_RS_MODULE`
//! (path of the built cdylib), `REDIS_SERVER_BIN` (default `redis-server`; `valkey-server`
//! runs the Redis tests against Valkey), `REDIS_SENTINEL_BIN` and `REDIS_CLI_BIN` (default:
//! the server's `-sentinel` and `-cli` siblings).
//!
//! The tests must run as root: proftpd switches to the `User`/`Group` of the config and
//! to the logged-in user's uid.

// Each test binary uses only part of the harness.
#![allow(dead_code)]

pub mod docker;
pub mod ftp;
pub mod proftpd;
pub mod redis;
pub mod ssh;
pub mod util;

// Not every test binary uses every item.
#[allow(unused_imports)]
pub use ftp::{DataMode, Ftp, Reply, Transfer};
#[allow(unused_imports)]
pub use proftpd::{
    ALICE, BOB, DEBIAN_MODULE_DIR, ModuleDir, Modules, OUR_MODULE_FILES, OUR_MODULES, Proftpd,
    ProftpdBuilder, SECRET_HASH, TestUser, cdylib_path, check_config, core_dso_load_lines,
    core_jot_knows_classes, core_survives_host, proftpd_bin, proftpd_series, proftpd_version,
};
#[allow(unused_imports)]
pub use redis::{RedisBuilder, RedisClient, RedisServer, Resp};
#[allow(unused_imports)]
pub use ssh::SshKeys;
#[allow(unused_imports)]
pub use util::{DEFAULT_TIMEOUT, free_port, wait_for_lines, wait_until};
