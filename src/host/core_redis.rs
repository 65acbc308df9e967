//! The core's own Redis configuration (`redis_set_server3()`,
//! `redis_set_timeouts()`), used by mod_ban (`BanCache redis`),
//! mod_tls_redis and mod_wrap2_redis through `pr_redis_conn_get()`.
//!
//! The core keeps the string pointers it is given, so the strings live in a
//! static here until the next call replaces them.

use super::ffi;
use std::ffi::{CString, c_char, c_int};
use std::ptr;
use std::sync::Mutex;

static STRINGS: Mutex<Vec<CString>> = Mutex::new(Vec::new());

/// `RedisOptions NoReconnect` for the core.
pub const NO_RECONNECT: u64 = 0x1;

/// Tell the core which Redis server to use (`server` is a host name, an IP
/// address or a unix socket path).
pub fn set_server(
    server: &str,
    port: u16,
    flags: u64,
    username: Option<&str>,
    password: Option<&str>,
    db_index: Option<&str>,
) -> Result<(), String> {
    let to_c = |s: &str| CString::new(s).map_err(|_| "NUL byte in Redis setting".to_string());
    let server = to_c(server)?;
    let username = username.map(to_c).transpose()?;
    let password = password.map(to_c).transpose()?;
    let db_index = db_index.map(to_c).transpose()?;
    let p = |o: &Option<CString>| o.as_ref().map_or(ptr::null(), |c| c.as_ptr());
    let mut keep = STRINGS.lock().unwrap_or_else(|e| e.into_inner());
    // SAFETY: the strings are kept alive in STRINGS until the next call,
    // which first hands the core the new pointers.
    let rc = unsafe {
        ffi::redis_set_server3(
            server.as_ptr(),
            c_int::from(port),
            flags as _,
            p(&username),
            p(&password),
            p(&db_index),
            0,
            ptr::null::<c_char>(),
            ptr::null(),
            ptr::null(),
        )
    };
    let old = std::mem::take(&mut *keep);
    keep.push(server);
    keep.extend(username);
    keep.extend(password);
    keep.extend(db_index);
    drop(old);
    if rc < 0 {
        return Err(std::io::Error::last_os_error().to_string());
    }
    Ok(())
}

/// The core's connect and io timeouts (milliseconds).
pub fn set_timeouts(connect_millis: u64, io_millis: u64) -> Result<(), String> {
    // SAFETY: plain values.
    let rc = unsafe { ffi::redis_set_timeouts(connect_millis as _, io_millis as _) };
    if rc < 0 {
        return Err(std::io::Error::last_os_error().to_string());
    }
    Ok(())
}

static SENTINEL_POOL: std::sync::atomic::AtomicPtr<ffi::pool_rec> =
    std::sync::atomic::AtomicPtr::new(ptr::null_mut());
static SENTINEL_NAME: Mutex<Option<CString>> = Mutex::new(None);

/// Tell the core to find its Redis master through these Sentinels
/// (`redis_set_sentinels2()`); `master` `None`: the first one monitored.
pub fn set_sentinels(sentinels: &[(String, u16)], master: Option<&str>) -> Result<(), String> {
    if sentinels.is_empty() {
        return Err("no Sentinels".into());
    }
    let name = master
        .map(CString::new)
        .transpose()
        .map_err(|_| "NUL byte in master name".to_string())?;
    // SAFETY: the addresses and the array live in a pool of ours that is
    // only destroyed after the core has been handed the next set.
    unsafe {
        let pool = ffi::make_sub_pool(ffi::permanent_pool);
        let (arr, unresolved) = super::conf::netaddr_array(pool, sentinels);
        if let Some(host) = unresolved.first() {
            ffi::destroy_pool(pool);
            return Err(format!("unable to resolve Sentinel '{host}'"));
        }
        let mut keep = SENTINEL_NAME.lock().unwrap_or_else(|e| e.into_inner());
        let name_ptr = name.as_ref().map_or(ptr::null(), |c| c.as_ptr());
        let rc = ffi::redis_set_sentinels2(arr, name_ptr, 0, ptr::null(), ptr::null(), ptr::null());
        let err = std::io::Error::last_os_error();
        *keep = name;
        let old = SENTINEL_POOL.swap(pool, std::sync::atomic::Ordering::Relaxed);
        if !old.is_null() {
            ffi::destroy_pool(old);
        }
        if rc < 0 {
            return Err(err.to_string());
        }
    }
    Ok(())
}
