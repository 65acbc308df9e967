//! Small system facilities the modules need.

/// Fill `buf` with random bytes from the kernel (getrandom(2)); read anew in
/// each process, so forked sessions never share them.
pub fn random_bytes(buf: &mut [u8]) -> Result<(), String> {
    getrandom::fill(buf).map_err(|e| e.to_string())
}

/// Wall-clock time as (seconds, microseconds) since the epoch.
pub fn now() -> (u64, u32) {
    let d = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    (d.as_secs(), d.subsec_micros())
}
