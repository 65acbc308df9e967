//! The core's own Redis configuration (`redis_set_server3()`,
//! `redis_set_timeouts()`), used by mod_ban (`BanCache redis`),
//! mod_tls_redis and mod_wrap2_redis through `pr_redis_conn_get()`.
//!
//! proftpd 1.3.7's core has only `redis_set_server()` (no user name, no TLS;
//! 1.3.7b and Debian 11's 1.3.7a also `redis_set_server2()`, with a user
//! name) and `redis_set_sentinels()` (no TLS); build.rs says which the
//! headers have (`cfg(proftpd_redis_server2)`, `cfg(proftpd_redis_server3)`,
//! `cfg(proftpd_redis_sentinels2)`). What the core cannot take is an error
//! ([`set_server`], [`set_sentinels`]; mod_redis refuses it at config time
//! with [`check_server`] and [`check_sentinels`]).
//!
//! A proftpd built without Redis support (no `PR_USE_REDIS`: build.rs then
//! sets no `cfg(proftpd_redis)`) has no such connection: every function
//! here does nothing (the core's stubs would fail with ENOSYS).
//!
//! The core keeps the pointers it is given, so what it gets lives in a pool
//! of ours (a sub-pool of the permanent pool) that is destroyed only when
//! the next call has handed the core new pointers. Across a restart, which
//! unloads our library, the last pools stay with the permanent pool: the
//! core may still point into them.

use super::ffi;
use std::ffi::{CString, c_char, c_int};
use std::ptr;
use std::sync::atomic::{AtomicPtr, Ordering};

static SERVER_POOL: AtomicPtr<ffi::pool_rec> = AtomicPtr::new(ptr::null_mut());
static SENTINEL_POOL: AtomicPtr<ffi::pool_rec> = AtomicPtr::new(ptr::null_mut());

/// Whether the core has a Redis connection to configure.
const CORE_HAS_REDIS: bool = cfg!(proftpd_redis);

/// Whether the core's connection takes a user name (`redis_set_server2()`
/// or `redis_set_server3()`).
pub const SERVER_TAKES_USERNAME: bool =
    cfg!(proftpd_redis_server2) || cfg!(proftpd_redis_server3) || !CORE_HAS_REDIS;

/// Whether the core's connection takes TLS settings (`redis_set_server3()`,
/// proftpd 1.3.8 and later).
pub const SERVER_TAKES_TLS: bool = cfg!(proftpd_redis_server3) || !CORE_HAS_REDIS;

/// Whether the core reaches Sentinels over TLS (`redis_set_sentinels2()`,
/// proftpd 1.3.8 and later).
pub const SENTINELS_TAKE_TLS: bool = cfg!(proftpd_redis_sentinels2) || !CORE_HAS_REDIS;

/// The refusal of what the core of this proftpd cannot do.
fn lacks(what: &str) -> String {
    format!(
        "{what} needs proftpd 1.3.8 or later: the core of proftpd {} (the headers this \
         library is built against) hands mod_ban, mod_tls_redis and mod_wrap2_redis a \
         Redis connection without it",
        super::version::HEADERS
    )
}

/// Whether the core can take a server with these settings (checked at
/// config time, so that a directive the core cannot follow is refused).
pub fn check_server(username: bool, tls: bool) -> Result<(), String> {
    if username && !SERVER_TAKES_USERNAME {
        return Err(lacks("a Redis user name (ACL)"));
    }
    if tls && !SERVER_TAKES_TLS {
        return Err(lacks("TLS (ssl:...) to Redis"));
    }
    Ok(())
}

/// Whether the core can take Sentinels with these settings.
pub fn check_sentinels(tls: bool) -> Result<(), String> {
    if SENTINELS_TAKE_TLS || !tls {
        return Ok(());
    }
    Err(lacks("TLS (ssl:...) to Redis Sentinels"))
}

/// `RedisOptions NoReconnect` for the core (`PR_REDIS_CONN_FL_NO_RECONNECT`).
pub const NO_RECONNECT: u64 = ffi::PR_REDIS_CONN_FL_NO_RECONNECT as u64;

/// Runs `f` with a new pool, then makes it `slot`'s pool and destroys the
/// previous one (or destroys the new one if `f` fails).
fn with_new_pool<T>(
    slot: &AtomicPtr<ffi::pool_rec>,
    f: impl FnOnce(*mut ffi::pool_rec) -> Result<T, String>,
) -> Result<T, String> {
    // SAFETY: a sub-pool of the permanent pool, ours alone.
    let pool = unsafe { ffi::make_sub_pool(ffi::permanent_pool) };
    let r = f(pool);
    let old = if r.is_ok() {
        slot.swap(pool, Ordering::SeqCst)
    } else {
        pool
    };
    if !old.is_null() {
        // SAFETY: the core no longer points into `old` (it was handed the
        // new pool's pointers, or never saw these).
        unsafe { ffi::destroy_pool(old) };
    }
    r
}

/// A copy of `s` in `pool` (NULL for `None`).
///
/// # Safety
/// `pool` must be a live pool.
unsafe fn pool_str(pool: *mut ffi::pool_rec, s: Option<&str>) -> Result<*const c_char, String> {
    let Some(s) = s else {
        return Ok(ptr::null());
    };
    let c = CString::new(s).map_err(|_| "NUL byte in Redis setting".to_string())?;
    // SAFETY: per the contract; pstrdup copies.
    Ok(unsafe { ffi::pstrdup(pool, c.as_ptr()) })
}

/// The TLS settings handed to the core with a server or the Sentinels, as
/// the C module hands them: use TLS, and the ssl-ca / ssl-cert / ssl-key
/// paths.  A core built without Redis TLS ignores them (Debian's); one
/// built with it connects (and sends AUTH) over TLS.
#[derive(Clone, Copy, Debug, Default)]
pub struct Tls<'a> {
    pub enabled: bool,
    pub ca: Option<&'a str>,
    pub cert: Option<&'a str>,
    pub key: Option<&'a str>,
}

/// Tell the core which Redis server to use (`server` is a host name, an IP
/// address or a unix socket path).
pub fn set_server(
    server: &str,
    port: u16,
    flags: u64,
    username: Option<&str>,
    password: Option<&str>,
    db_index: Option<&str>,
    tls: Tls<'_>,
) -> Result<(), String> {
    if !CORE_HAS_REDIS {
        return Ok(());
    }
    check_server(username.is_some(), tls.enabled)?;
    #[cfg(all(proftpd_redis_server2, not(proftpd_redis_server3)))]
    return with_new_pool(&SERVER_POOL, |pool| {
        // SAFETY: as below (1.3.7b: no TLS).
        let rc = unsafe {
            ffi::redis_set_server2(
                pool_str(pool, Some(server))?,
                c_int::from(port),
                flags as _,
                pool_str(pool, username)?,
                pool_str(pool, password)?,
                pool_str(pool, db_index)?,
            )
        };
        if rc < 0 {
            return Err(std::io::Error::last_os_error().to_string());
        }
        Ok(())
    });
    #[cfg(not(any(proftpd_redis_server2, proftpd_redis_server3)))]
    return with_new_pool(&SERVER_POOL, |pool| {
        // SAFETY: as below (1.3.7a: no user name, no TLS).
        let rc = unsafe {
            ffi::redis_set_server(
                pool_str(pool, Some(server))?,
                c_int::from(port),
                flags as _,
                pool_str(pool, password)?,
                pool_str(pool, db_index)?,
            )
        };
        if rc < 0 {
            return Err(std::io::Error::last_os_error().to_string());
        }
        Ok(())
    });
    #[cfg(proftpd_redis_server3)]
    with_new_pool(&SERVER_POOL, |pool| {
        // SAFETY: the strings live in `pool`, which outlives the core's use
        // of them (see with_new_pool); the core keeps the ssl paths too.
        let rc = unsafe {
            ffi::redis_set_server3(
                pool_str(pool, Some(server))?,
                c_int::from(port),
                flags as _,
                pool_str(pool, username)?,
                pool_str(pool, password)?,
                pool_str(pool, db_index)?,
                c_int::from(tls.enabled),
                pool_str(pool, tls.ca)?,
                pool_str(pool, tls.cert)?,
                pool_str(pool, tls.key)?,
            )
        };
        if rc < 0 {
            return Err(std::io::Error::last_os_error().to_string());
        }
        Ok(())
    })
}

/// The core's connect and io timeouts (milliseconds).
pub fn set_timeouts(connect_millis: u64, io_millis: u64) -> Result<(), String> {
    if !CORE_HAS_REDIS {
        return Ok(());
    }
    // SAFETY: plain values.
    let rc = unsafe { ffi::redis_set_timeouts(connect_millis as _, io_millis as _) };
    if rc < 0 {
        return Err(std::io::Error::last_os_error().to_string());
    }
    Ok(())
}

/// Tell the core to find its Redis master through these Sentinels
/// (`redis_set_sentinels2()`); `master` `None`: the first one monitored.
/// Those that do not resolve are left out, as the C module leaves them
/// out; their positions (from 0) are returned.  Messages never name a
/// Sentinel (a word in its place may be a misplaced password).
pub fn set_sentinels(
    sentinels: &[(String, u16)],
    master: Option<&str>,
    tls: Tls<'_>,
) -> Result<Vec<usize>, String> {
    if sentinels.is_empty() {
        return Err("no Sentinels".into());
    }
    if !CORE_HAS_REDIS {
        return Ok(Vec::new());
    }
    check_sentinels(tls.enabled)?;
    with_new_pool(&SENTINEL_POOL, |pool| {
        // SAFETY: the array, addresses and name live in `pool`, which
        // outlives the core's use of them (see with_new_pool).
        unsafe {
            let (arr, unresolved) = super::conf::netaddr_array(pool, sentinels);
            if unresolved.len() == sentinels.len() {
                return Err("no Sentinel resolves".into());
            }
            let unresolved: Vec<usize> = sentinels
                .iter()
                .enumerate()
                .filter(|(_, (h, _))| unresolved.contains(h))
                .map(|(i, _)| i)
                .collect();
            let name = pool_str(pool, master)?;
            #[cfg(not(proftpd_redis_sentinels2))]
            let rc = {
                let _ = tls;
                ffi::redis_set_sentinels(arr, name)
            };
            #[cfg(proftpd_redis_sentinels2)]
            let rc = ffi::redis_set_sentinels2(
                arr,
                name,
                c_int::from(tls.enabled),
                pool_str(pool, tls.ca)?,
                pool_str(pool, tls.cert)?,
                pool_str(pool, tls.key)?,
            );
            if rc < 0 {
                return Err(std::io::Error::last_os_error().to_string());
            }
            Ok(unresolved)
        }
    })
}
