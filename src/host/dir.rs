//! A directory held open by its descriptor: files in it are created,
//! opened, listed, renamed and removed relative to that descriptor, so it
//! keeps working after the session chroots (a path would no longer lead
//! there).  Opened as root before the chroot, like log files; what is done
//! in it later needs the privileges the directory's permissions ask for.

use std::ffi::{CStr, CString};
use std::fs::{File, OpenOptions};
use std::io;
use std::os::fd::{AsRawFd, FromRawFd};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};

/// An open directory.
#[derive(Debug)]
pub struct Dir {
    file: File,
}

/// A file's identity, size and age, as `fstatat` sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Entry {
    pub dev: u64,
    pub ino: u64,
    pub size: u64,
    pub mtime: i64,
    pub regular: bool,
}

fn c_name(name: &str) -> io::Result<CString> {
    if name.is_empty() || name.contains('/') || name == "." || name == ".." {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "not a file name",
        ));
    }
    CString::new(name).map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "NUL in name"))
}

fn check(rc: libc::c_int) -> io::Result<libc::c_int> {
    if rc < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(rc)
    }
}

impl Dir {
    /// Open `path` (a directory, not a symbolic link).
    pub fn open(path: &str) -> io::Result<Dir> {
        let file = OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_DIRECTORY | libc::O_NOFOLLOW)
            .open(path)?;
        Ok(Dir { file })
    }

    /// The directory's own owner and permission bits.
    pub fn owner_mode(&self) -> io::Result<(u32, u32)> {
        let m = self.file.metadata()?;
        Ok((m.uid(), m.mode() & 0o7777))
    }

    fn openat(&self, name: &str, flags: libc::c_int, mode: u32) -> io::Result<File> {
        let n = c_name(name)?;
        let flags = flags | libc::O_NOFOLLOW | libc::O_CLOEXEC | libc::O_NOCTTY;
        // SAFETY: a valid directory descriptor and a NUL-terminated name.
        let fd = check(unsafe {
            libc::openat(
                self.file.as_raw_fd(),
                n.as_ptr(),
                flags,
                mode as libc::c_uint,
            )
        })?;
        // SAFETY: openat gave us a new descriptor we now own.
        let f = unsafe { File::from_raw_fd(fd) };
        if !f.metadata()?.is_file() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "not a regular file",
            ));
        }
        Ok(f)
    }

    /// Create `name` (it must not exist), read-write, with `mode`.
    pub fn create(&self, name: &str, mode: u32) -> io::Result<File> {
        self.openat(name, libc::O_RDWR | libc::O_CREAT | libc::O_EXCL, mode)
    }

    /// Open the regular file `name` read-write.
    pub fn open_rw(&self, name: &str) -> io::Result<File> {
        self.openat(name, libc::O_RDWR, 0)
    }

    /// Open the regular file `name` read-only.
    pub fn open_ro(&self, name: &str) -> io::Result<File> {
        self.openat(name, libc::O_RDONLY, 0)
    }

    /// The names in the directory (without `.` and `..`).
    pub fn names(&self) -> io::Result<Vec<String>> {
        // fdopendir takes over its descriptor: give it a copy of ours,
        // reading from the start.
        let copy = self.file.try_clone()?;
        // SAFETY: a valid descriptor; the DIR stream owns it from here and
        // closedir closes it.
        let fd = std::os::fd::IntoRawFd::into_raw_fd(copy);
        let d = unsafe { libc::fdopendir(fd) };
        if d.is_null() {
            let e = io::Error::last_os_error();
            // SAFETY: fdopendir failed, so the descriptor is still ours.
            unsafe { libc::close(fd) };
            return Err(e);
        }
        let mut names = Vec::new();
        // SAFETY: d is a valid DIR stream until closedir below; each entry
        // is read before the next readdir call.
        unsafe {
            libc::rewinddir(d);
            loop {
                let e = libc::readdir(d);
                if e.is_null() {
                    break;
                }
                let name = CStr::from_ptr((*e).d_name.as_ptr()).to_string_lossy();
                if name != "." && name != ".." {
                    names.push(name.into_owned());
                }
            }
            libc::closedir(d);
        }
        Ok(names)
    }

    /// `name`'s identity, size and age (not following a symbolic link).
    pub fn stat(&self, name: &str) -> io::Result<Entry> {
        let n = c_name(name)?;
        let mut st = std::mem::MaybeUninit::<libc::stat>::uninit();
        // SAFETY: a valid descriptor, name and buffer.
        check(unsafe {
            libc::fstatat(
                self.file.as_raw_fd(),
                n.as_ptr(),
                st.as_mut_ptr(),
                libc::AT_SYMLINK_NOFOLLOW,
            )
        })?;
        // SAFETY: fstatat filled it in.
        let st = unsafe { st.assume_init() };
        Ok(Entry {
            dev: st.st_dev,
            ino: st.st_ino,
            size: st.st_size as u64,
            mtime: st.st_mtime,
            regular: st.st_mode & libc::S_IFMT == libc::S_IFREG,
        })
    }

    /// Whether `name` is still the file `f` (not removed or replaced).
    pub fn holds(&self, name: &str, f: &File) -> bool {
        match (self.stat(name), f.metadata()) {
            (Ok(e), Ok(m)) => e.dev == m.dev() && e.ino == m.ino(),
            _ => false,
        }
    }

    /// Remove the file `name`.
    pub fn unlink(&self, name: &str) -> io::Result<()> {
        let n = c_name(name)?;
        // SAFETY: a valid descriptor and name.
        check(unsafe { libc::unlinkat(self.file.as_raw_fd(), n.as_ptr(), 0) }).map(|_| ())
    }

    /// Rename `from` to `to`, both in this directory.
    pub fn rename(&self, from: &str, to: &str) -> io::Result<()> {
        let (f, t) = (c_name(from)?, c_name(to)?);
        let fd = self.file.as_raw_fd();
        // SAFETY: a valid descriptor and names.
        check(unsafe { libc::renameat(fd, f.as_ptr(), fd, t.as_ptr()) }).map(|_| ())
    }

    /// Bytes an unprivileged writer may still add to the file system.
    pub fn free_bytes(&self) -> Option<u64> {
        super::fs::free_bytes(&self.file)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn files_relative_to_the_descriptor() {
        let t = tempfile::tempdir().unwrap();
        let d = Dir::open(t.path().to_str().unwrap()).unwrap();
        let mut f = d.create("a.spool", 0o600).unwrap();
        f.write_all(b"abc").unwrap();
        assert!(d.create("a.spool", 0o600).is_err(), "exclusive");
        assert!(d.holds("a.spool", &f));
        assert_eq!(d.stat("a.spool").unwrap().size, 3);
        d.rename("a.spool", "b.spool").unwrap();
        assert!(d.holds("b.spool", &f));
        assert!(!d.holds("a.spool", &f));
        // Moving the directory does not matter: the descriptor follows it.
        let moved = t.path().with_extension("moved");
        std::fs::rename(t.path(), &moved).unwrap();
        assert_eq!(d.names().unwrap(), vec!["b.spool".to_string()]);
        let r = d.open_ro("b.spool").unwrap();
        assert_eq!(std::io::read_to_string(r).unwrap(), "abc");
        d.unlink("b.spool").unwrap();
        assert!(d.names().unwrap().is_empty());
        assert!(!d.holds("b.spool", &f));
        std::fs::rename(&moved, t.path()).unwrap();
    }

    #[test]
    fn names_are_plain_and_links_are_not_followed() {
        let t = tempfile::tempdir().unwrap();
        let d = Dir::open(t.path().to_str().unwrap()).unwrap();
        for bad in ["", ".", "..", "a/b", "x\0y"] {
            assert!(d.create(bad, 0o600).is_err(), "{bad:?}");
        }
        std::os::unix::fs::symlink("/etc/passwd", t.path().join("link")).unwrap();
        assert!(d.open_ro("link").is_err());
        assert!(d.open_rw("link").is_err());
        assert!(!d.stat("link").unwrap().regular);
        std::fs::create_dir(t.path().join("sub")).unwrap();
        assert!(d.open_ro("sub").is_err());
        let link = t.path().with_extension("dirlink");
        std::os::unix::fs::symlink(t.path(), &link).unwrap();
        assert!(Dir::open(link.to_str().unwrap()).is_err());
        std::fs::remove_file(link).unwrap();
    }
}
