//! Opening log files the way proftpd does (`pr_log_openfile`): absolute
//! path, no symlink, no world-writable parent directory; as root, with
//! signals blocked.

use super::ffi;
use std::fs::File;
use std::os::fd::FromRawFd;

/// Why a log file could not be opened.
#[derive(Debug, PartialEq, Eq)]
pub enum OpenLogError {
    NotAbsolute,
    WorldWritableDir,
    Symlink,
    Os(String),
}

impl std::fmt::Display for OpenLogError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            OpenLogError::NotAbsolute => f.write_str("not an absolute path"),
            OpenLogError::WorldWritableDir => f.write_str("parent directory is world-writable"),
            OpenLogError::Symlink => f.write_str("is a symbolic link"),
            OpenLogError::Os(e) => f.write_str(e),
        }
    }
}

/// Open (create, append) a log file with `mode`.
pub fn open_log_file(path: &str, mode: u32) -> Result<File, OpenLogError> {
    if !path.starts_with('/') {
        return Err(OpenLogError::NotAbsolute);
    }
    super::state::core_call("fs::open_log_file");
    let p =
        std::ffi::CString::new(path).map_err(|_| OpenLogError::Os("NUL byte in path".into()))?;
    let mut fd: i32 = -1;
    let rc = super::privs::as_root(|| {
        // SAFETY: signals are blocked around the open, as proftpd's modules do.
        unsafe {
            ffi::pr_signals_block();
            let rc = ffi::pr_log_openfile(p.as_ptr(), &mut fd, mode as ffi::mode_t);
            let err = std::io::Error::last_os_error();
            ffi::pr_signals_unblock();
            (rc, err)
        }
    });
    match rc {
        (0, _) if fd >= 0 => {
            // SAFETY: pr_log_openfile handed us a new descriptor we now own.
            Ok(unsafe { File::from_raw_fd(fd) })
        }
        (r, _) if r == ffi::PR_LOG_WRITABLE_DIR => Err(OpenLogError::WorldWritableDir),
        (r, _) if r == ffi::PR_LOG_SYMLINK => Err(OpenLogError::Symlink),
        (_, e) => Err(OpenLogError::Os(e.to_string())),
    }
}

/// Bytes an unprivileged writer may still add to the file system holding
/// `file` (`fstatvfs`: `f_bavail * f_frsize`); `None` if unknown.
pub fn free_bytes(file: &File) -> Option<u64> {
    use std::os::fd::AsRawFd;
    let mut st = std::mem::MaybeUninit::<libc::statvfs>::uninit();
    // SAFETY: a valid descriptor and a buffer of the right type.
    let rc = unsafe { libc::fstatvfs(file.as_raw_fd(), st.as_mut_ptr()) };
    if rc != 0 {
        return None;
    }
    // SAFETY: fstatvfs filled it in.
    let st = unsafe { st.assume_init() };
    Some(st.f_bavail.saturating_mul(st.f_frsize))
}
