//! Small system facilities the modules need.

/// Fill `buf` with random bytes from the kernel (getrandom(2)); read anew in
/// each process, so forked sessions never share them.
///
/// Calls glibc's getrandom() directly: the `getrandom` crate looks the function
/// up with dlsym() on first use, which costs ~150 µs in every session process
/// (a search through all of proftpd's libraries, run anew after each fork).
pub fn random_bytes(buf: &mut [u8]) -> Result<(), String> {
    let mut filled = 0;
    while filled < buf.len() {
        let rest = &mut buf[filled..];
        // SAFETY: the pointer and length describe `rest`, writable memory.
        let n = unsafe { libc::getrandom(rest.as_mut_ptr().cast(), rest.len(), 0) };
        if n < 0 {
            let err = std::io::Error::last_os_error();
            if err.kind() == std::io::ErrorKind::Interrupted {
                continue;
            }
            return Err(format!("getrandom: {err}"));
        }
        filled += n as usize;
    }
    Ok(())
}

/// Fills process-wide lazy caches in the master, before it forks sessions, so
/// that the sessions inherit them instead of each filling them again: the CPU
/// feature detection behind `memchr` & co. (CPUID instructions, which trap to
/// the hypervisor in a VM: ~100 µs per session otherwise).
pub fn warm_up_before_fork() {
    #[cfg(target_arch = "x86_64")]
    {
        let _ = std::arch::is_x86_feature_detected!("avx2");
    }
}

/// Wall-clock time as (seconds, microseconds) since the epoch.
pub fn now() -> (u64, u32) {
    let d = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    (d.as_secs(), d.subsec_micros())
}

/// A broken-down local time (what `localtime(3)` gives).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct LocalTime {
    pub year: i32,
    /// 1..=12
    pub month: u8,
    /// 1..=31
    pub day: u8,
    pub hour: u8,
    pub minute: u8,
    pub second: u8,
}

/// `secs` since the epoch as local time (1970-01-01 00:00:00 if
/// localtime_r(3) fails).
pub fn local_time(secs: i64) -> LocalTime {
    let t: libc::time_t = secs as libc::time_t;
    // SAFETY: a plain C struct, all zeroes is a valid value.
    let mut tm: libc::tm = unsafe { std::mem::zeroed() };
    // SAFETY: localtime_r writes into our own tm.
    if unsafe { libc::localtime_r(&t, &mut tm) }.is_null() {
        return LocalTime {
            year: 1970,
            month: 1,
            day: 1,
            ..LocalTime::default()
        };
    }
    LocalTime {
        year: tm.tm_year + 1900,
        month: (tm.tm_mon + 1) as u8,
        day: tm.tm_mday as u8,
        hour: tm.tm_hour as u8,
        minute: tm.tm_min as u8,
        second: tm.tm_sec as u8,
    }
}

/// The addresses of `host`:`port` (getaddrinfo), waiting at most `timeout`.
///
/// getaddrinfo() has no timeout of its own (an unanswering DNS server costs
/// seconds), so it runs in a short-lived helper thread; after `timeout` the
/// caller goes on and the thread's late answer is dropped.  The thread is
/// created with every signal blocked (it inherits the mask), so proftpd's
/// signals (SIGALRM timers, SIGTERM, ...) keep reaching the session's own
/// thread; it calls nothing of proftpd.
pub fn resolve(
    host: &str,
    port: u16,
    timeout: std::time::Duration,
) -> Result<Vec<std::net::SocketAddr>, String> {
    use std::net::ToSocketAddrs;
    let (tx, rx) = std::sync::mpsc::channel();
    let name = host.to_string();
    // SAFETY: plain sigset_t values on the stack; pthread_sigmask only
    // changes this thread's mask, restored right after the spawn.
    let old = unsafe {
        let mut all: libc::sigset_t = std::mem::zeroed();
        let mut old: libc::sigset_t = std::mem::zeroed();
        libc::sigfillset(&mut all);
        libc::pthread_sigmask(libc::SIG_SETMASK, &all, &mut old);
        old
    };
    let spawned = std::thread::Builder::new()
        .name("resolve".into())
        .stack_size(256 * 1024)
        .spawn(move || {
            let r = (name.as_str(), port)
                .to_socket_addrs()
                .map(|a| a.collect::<Vec<_>>())
                .map_err(|e| e.to_string());
            let _ = tx.send(r);
        });
    // SAFETY: restores the mask saved above.
    unsafe {
        libc::pthread_sigmask(libc::SIG_SETMASK, &old, std::ptr::null_mut());
    }
    spawned.map_err(|e| format!("resolving '{host}': {e}"))?;
    match rx.recv_timeout(timeout) {
        Ok(Ok(addrs)) if addrs.is_empty() => Err(format!("no address for '{host}'")),
        Ok(Ok(addrs)) => Ok(addrs),
        Ok(Err(e)) => Err(format!("resolving '{host}': {e}")),
        Err(_) => Err(format!(
            "resolving '{host}' timed out after {} ms",
            timeout.as_millis()
        )),
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    #[test]
    fn resolve_names_and_literals() {
        let a = super::resolve("127.0.0.1", 7, Duration::from_secs(2)).unwrap();
        assert_eq!(a, ["127.0.0.1:7".parse().unwrap()]);
        let a = super::resolve("localhost", 7, Duration::from_secs(2)).unwrap();
        assert!(
            a.iter().all(|a| a.ip().is_loopback() && a.port() == 7),
            "{a:?}"
        );
        assert!(super::resolve("no-such-host.invalid", 7, Duration::from_secs(2)).is_err());
    }
}
