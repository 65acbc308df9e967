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
