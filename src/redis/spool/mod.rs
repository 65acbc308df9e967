//! RedisLogSpool: events that Redis cannot take wait on disk, in a spool
//! directory, until a session that can reach Redis sends them.
//!
//! Each session that spools writes one file of its own (see [`format`]),
//! created when the session starts, as root and before any chroot, and
//! locked (`flock`) for as long as the session lives.  A file is drained by
//! whoever can lock it: a later session, once its writer ended (or died),
//! or `redis-spool drain`.  The lock makes one drainer at a time, across
//! sessions and master restarts alike; the drainer records in the file's
//! header how far Redis acknowledged its records, so a drain that dies
//! resends at most one batch.  A drained file is emptied while still
//! locked (a drainer that locks it later finds nothing to send) and removed
//! when the next session starts, or at the end of the session when it may.
//!
//! Everything a session does in the directory after it started goes
//! through descriptors it opened then (the spool directory, its own file,
//! the files there were to drain): no privileges, paths or chroot needed,
//! so `DefaultRoot` and `RootRevoke on` sessions spool and drain alike.

pub mod format;

use crate::host::dir::Dir;
use format::{HEADER_LEN, Header, Item};
use std::collections::VecDeque;
use std::fs::File;
use std::os::unix::fs::FileExt;

/// RedisLogSpool's default bound of the directory.
pub const DEFAULT_MAX_SIZE: u64 = 256 << 20;
/// Files a session opens to drain (the oldest first).
pub const SOURCES_MAX: usize = 256;
/// Bytes read from a file at a time while draining.
const READ_CHUNK: usize = 256 << 10;
/// Spool file names end so.
pub const SUFFIX: &str = ".spool";
/// A session's file while it is being made.
const NEW: &str = ".new";

fn now_secs() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// `RedisLogSpool path [max-size]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Config {
    pub path: String,
    pub max_size: u64,
}

/// A size: bytes, or with a `K`, `M` or `G` suffix (powers of 1024).
pub fn parse_size(word: &str) -> Result<u64, String> {
    let bad = || format!("'{word}' is not a size (bytes, or a number with K, M or G)");
    let (digits, unit) = match word.char_indices().last() {
        Some((i, c)) if c.is_ascii_alphabetic() => (&word[..i], c.to_ascii_uppercase()),
        _ => (word, 'B'),
    };
    let n: u64 = digits.parse().map_err(|_| bad())?;
    let shift = match unit {
        'B' => 0,
        'K' => 10,
        'M' => 20,
        'G' => 30,
        _ => return Err(bad()),
    };
    n.checked_mul(1 << shift).ok_or_else(bad)
}

/// The name a Redis destination's spool files carry: a hash (FNV-1a) of
/// how the events reach it (its address, db index, Sentinel master),
/// never of a credential.
pub fn destination_of(text: &str) -> u64 {
    text.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// What a session's spool did so far.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// Events written to this session's spool file.
    pub spooled: u64,
    /// Events dropped because the directory had reached its bound.
    pub dropped: u64,
    /// Spooled events (of any session) that Redis acknowledged.
    pub drained: u64,
    /// Files drained to the end.
    pub files_done: u64,
    /// Bytes of damage skipped, and of torn last records, while draining.
    pub damaged: u64,
    pub torn: u64,
}

/// The outcome of [`Spool::append`].
#[derive(Debug, PartialEq, Eq)]
pub enum Appended {
    /// The first `written` events are on disk; the other `dropped` ones
    /// did not fit under the bound (and are gone).
    Done { written: usize, dropped: usize },
    /// Nothing was written: the spool cannot be written (now or before;
    /// the message comes once, with the first failure).
    Failed(Option<String>),
}

struct Own {
    name: String,
    file: File,
    end: u64,
}

struct Source {
    name: String,
    file: File,
}

/// The file being drained.
struct Drain {
    src: Source,
    /// File bytes from `buf_start`; records before `pos` were handed out.
    buf: Vec<u8>,
    buf_start: u64,
    pos: usize,
    eof: bool,
    /// End of the last record handed out, and of the last acknowledged.
    sent: u64,
    acked: u64,
    /// Where the header says Redis acknowledged up to.
    persisted: u64,
    /// Damage is counted once, beyond this offset.
    counted: u64,
}

pub struct Spool {
    dir: Dir,
    /// This session's file's name (kept after it is closed, for messages).
    own_name: String,
    /// Whose files this spool drains (`None`: every destination's).
    destination: Option<u64>,
    own: Option<Own>,
    /// Why this session's file cannot be written (said once).
    broken: Option<String>,
    said_broken: bool,
    /// Bytes this session may still add to the directory.
    room: u64,
    sources: VecDeque<Source>,
    drain: Option<Drain>,
    /// Files emptied after draining, to remove when privileges allow.
    done: Vec<String>,
    pub stats: Stats,
}

/// Why a spool directory is refused (`proftpd -t` names the directive).
pub fn check_dir(path: &str) -> Result<(), String> {
    if !path.starts_with('/') {
        return Err("must be an absolute path".into());
    }
    let dir = Dir::open(path).map_err(|e| match e.raw_os_error() {
        Some(libc::ELOOP) | Some(libc::ENOTDIR) => {
            format!("'{path}' is not a directory (or is a symbolic link)")
        }
        _ => format!("'{path}': {e}"),
    })?;
    let (uid, mode) = dir.owner_mode().map_err(|e| format!("'{path}': {e}"))?;
    if uid != 0 {
        return Err(format!("'{path}' must be owned by root"));
    }
    if mode & 0o022 != 0 {
        return Err(format!(
            "'{path}' must not be writable by group or others (mode {mode:o})"
        ));
    }
    Ok(())
}

impl Spool {
    /// Open the spool directory of `cfg` for the events of `destination`:
    /// remove the files drained before, open those there are to drain
    /// (another destination's are left alone; at most [`SOURCES_MAX`], the
    /// oldest first) and create this session's own file (named after the
    /// destination, `now`, `pid` and `tag`).  As root, before any chroot.  Fails only when the directory cannot be
    /// used at all; a file that cannot be created leaves a spool that
    /// drains but does not write ([`Spool::append`] says why).
    pub fn open(
        cfg: &Config,
        destination: u64,
        now: u64,
        pid: u32,
        tag: u32,
    ) -> Result<Spool, String> {
        let mut spool = Spool::open_dir(cfg, Some(destination))?;
        let name = format!("{destination:016x}-{now}-{pid}-{tag:08x}{SUFFIX}");
        spool.own_name = name.clone();
        match spool.create_own(&name, now) {
            Ok(own) => {
                spool.room = spool.room.saturating_sub(HEADER_LEN);
                spool.own = Some(own);
            }
            Err(e) => spool.broken = Some(format!("unable to create spool file '{name}': {e}")),
        }
        Ok(spool)
    }

    /// Open the spool directory at `path` to drain it by hand (`redis-spool
    /// drain`): the files of `destination`, or of every destination.
    pub fn open_to_drain(path: &str, destination: Option<u64>) -> Result<Spool, String> {
        let cfg = Config {
            path: path.to_string(),
            max_size: 0,
        };
        let mut spool = Spool::open_dir(&cfg, destination)?;
        spool.said_broken = true;
        Ok(spool)
    }

    /// The directory, the drained files removed, the files to drain open.
    fn open_dir(cfg: &Config, destination: Option<u64>) -> Result<Spool, String> {
        check_dir(&cfg.path)?;
        let dir = Dir::open(&cfg.path).map_err(|e| format!("'{}': {e}", cfg.path))?;
        let prefix = destination.map(|d| format!("{d:016x}-"));
        let mut total = 0u64;
        let mut candidates = Vec::new();
        for name in dir.names().map_err(|e| format!("'{}': {e}", cfg.path))? {
            if name.ends_with(NEW) {
                // A session died while it made its file (before any event
                // was in it): gone after a minute.
                if let Ok(st) = dir.stat(&name)
                    && st.regular
                    && st.mtime < now_secs() - 60
                    && let Ok(f) = dir.open_rw(&name)
                    && f.try_lock().is_ok()
                {
                    let _ = dir.unlink(&name);
                }
                continue;
            }
            if !name.ends_with(SUFFIX) {
                continue;
            }
            let Ok(st) = dir.stat(&name) else { continue };
            if !st.regular {
                continue;
            }
            if st.size <= HEADER_LEN {
                // Drained, or no event in it: remove it unless its writer
                // is still there.
                if let Ok(f) = dir.open_rw(&name)
                    && f.try_lock().is_ok()
                    && dir.holds(&name, &f)
                    && f.metadata().map(|m| m.len() <= HEADER_LEN).unwrap_or(false)
                {
                    let _ = dir.unlink(&name);
                }
                continue;
            }
            total += st.size;
            if prefix.as_ref().is_none_or(|p| name.starts_with(p)) {
                candidates.push((st.mtime, name));
            }
        }
        candidates.sort();
        let sources = candidates
            .into_iter()
            .filter_map(|(_, name)| {
                let file = dir.open_rw(&name).ok()?;
                Some(Source { name, file })
            })
            .take(SOURCES_MAX)
            .collect();
        Ok(Spool {
            dir,
            own_name: String::new(),
            destination,
            own: None,
            broken: None,
            said_broken: false,
            room: cfg.max_size.saturating_sub(total),
            sources,
            drain: None,
            done: Vec::new(),
            stats: Stats::default(),
        })
    }

    /// This session's file: made under a name no other session takes for
    /// a spool file (`NAME.new`), locked, given its header, and only then
    /// named: a session starting at the same moment must not find it
    /// unlocked and empty, and remove it.
    fn create_own(&self, name: &str, now: u64) -> std::io::Result<Own> {
        let new = format!("{name}{NEW}");
        let file = self.dir.create(&new, 0o600)?;
        // A new file nobody else has opened yet: this cannot wait.
        let header = Header::new(self.destination.unwrap_or(0), now).encode();
        let made = file
            .lock()
            .and_then(|()| file.write_all_at(&header, 0))
            .and_then(|()| self.dir.rename(&new, name));
        if let Err(e) = made {
            let _ = self.dir.unlink(&new);
            return Err(e);
        }
        Ok(Own {
            name: name.to_string(),
            file,
            end: HEADER_LEN,
        })
    }

    /// This session's spool file, if it can be written.
    pub fn file_name(&self) -> Option<&str> {
        self.own.as_ref().map(|o| o.name.as_str())
    }

    /// The name of this session's spool file (also once it is closed).
    pub fn own_name(&self) -> &str {
        &self.own_name
    }

    /// Whether [`Spool::append`] can write (the session's file is open and
    /// has not failed).
    pub fn writable(&self) -> bool {
        self.own.is_some()
    }

    /// Write `events` (key, payload) to this session's file, in order, in
    /// one write: whole records only, as many as the bound allows (the
    /// rest are dropped and counted).  Nothing is written when the file
    /// cannot be (a full disk, an I/O error): the events stay the caller's.
    pub fn append<'a>(
        &mut self,
        events: impl IntoIterator<Item = (&'a [u8], &'a [u8])>,
    ) -> Appended {
        let Some(own) = self.own.as_mut() else {
            return Appended::Failed(self.say_broken());
        };
        let mut buf = Vec::new();
        let (mut written, mut dropped) = (0, 0);
        for (key, payload) in events {
            let n = format::record_len(key, payload) as u64;
            if dropped > 0 || n > self.room.saturating_sub(buf.len() as u64) {
                dropped += 1;
                continue;
            }
            format::encode_record(&mut buf, key, payload);
            written += 1;
        }
        if !buf.is_empty() {
            if let Err(e) = own.file.write_all_at(&buf, own.end) {
                // What a partial write left is a torn tail: nothing more
                // goes into this file; what it holds is drained as usual.
                self.broken = Some(format!("error writing spool file '{}': {e}", own.name));
                let own = self.own.take().unwrap();
                let _ = own.file.sync_data();
                self.sources.push_front(Source {
                    name: own.name,
                    file: own.file,
                });
                return Appended::Failed(self.say_broken());
            }
            own.end += buf.len() as u64;
            self.room -= buf.len() as u64;
        }
        self.stats.spooled += written as u64;
        self.stats.dropped += dropped as u64;
        Appended::Done { written, dropped }
    }

    fn say_broken(&mut self) -> Option<String> {
        if self.said_broken {
            return None;
        }
        self.said_broken = true;
        Some(match &self.broken {
            Some(m) => format!("{m}; not spooling in this session"),
            None => "no spool file: not spooling in this session".into(),
        })
    }

    /// The session ends: this session's file goes to disk (`fdatasync`)
    /// and, if it holds events, is the first to drain (still locked by us,
    /// so nobody else starts on it before we are done).
    pub fn finish_writing(&mut self) {
        let Some(own) = self.own.take() else { return };
        let _ = own.file.sync_data();
        if own.end > HEADER_LEN {
            self.sources.push_front(Source {
                name: own.name,
                file: own.file,
            });
        } else {
            let _ = own.file.set_len(0);
            self.done.push(own.name);
        }
    }

    /// Whether there is (or may be) something to drain.
    pub fn has_work(&self) -> bool {
        self.drain.is_some() || !self.sources.is_empty()
    }

    /// Records handed out and not acknowledged yet.
    pub fn in_flight(&self) -> bool {
        self.drain.as_ref().is_some_and(|d| d.sent > d.acked)
    }

    /// Lock the next file to drain; `false` when there is none.
    fn claim(&mut self) -> bool {
        while self.drain.is_none() {
            let Some(src) = self.sources.pop_front() else {
                return false;
            };
            // Another drainer, or its live writer, has it: leave it to them.
            // (A file is emptied before its drainer lets it go, and only an
            // empty one is removed: a file that is gone by now is empty.
            // Its name cannot be looked up here: the session may have
            // left root's privileges that the directory asks for.)
            if src.file.try_lock().is_err() {
                continue;
            }
            let mut head = [0u8; HEADER_LEN as usize];
            let header = match src.file.read_at(&mut head, 0) {
                Ok(n) if n == head.len() => Header::decode(&head),
                _ => None,
            };
            let Some(header) = header else {
                let len = src.file.metadata().map(|m| m.len()).unwrap_or(0);
                if len < HEADER_LEN {
                    // Emptied by an earlier drainer, or a header never
                    // written in full: nothing in it to send.
                    let _ = src.file.set_len(0);
                    self.done.push(src.name);
                } else {
                    // Not a spool file of this version: left alone, for
                    // the operator (`redis-spool list` shows it).
                    self.stats.damaged += len;
                }
                continue;
            };
            if self.destination.is_some_and(|d| d != header.destination) {
                continue;
            }
            self.drain = Some(Drain {
                src,
                buf: Vec::new(),
                buf_start: header.acked,
                pos: 0,
                eof: false,
                sent: header.acked,
                acked: header.acked,
                persisted: header.acked,
                counted: header.acked,
            });
        }
        true
    }

    /// Hand out up to `max` spooled events (and about `max_bytes`), in the
    /// order they were written, calling `each(key, payload, end)`; `end` is
    /// what [`Spool::acked`] takes once Redis acknowledged the event.
    /// Returns how many were handed out (0: nothing to drain now).
    pub fn next_batch(
        &mut self,
        max: usize,
        max_bytes: usize,
        mut each: impl FnMut(&[u8], &[u8], u64),
    ) -> usize {
        let mut handed = 0;
        let mut bytes = 0;
        while handed < max && bytes < max_bytes {
            if !self.claim() {
                break;
            }
            let d = self.drain.as_mut().unwrap();
            let avail = &d.buf[d.pos..];
            let at = d.buf_start + d.pos as u64;
            match format::next(avail) {
                Item::Record { key, payload, len } => {
                    d.pos += len;
                    d.sent = d.buf_start + d.pos as u64;
                    each(key, payload, d.sent);
                    handed += 1;
                    bytes += len;
                }
                Item::Damaged(n) => {
                    d.pos += n;
                    if at >= d.counted {
                        self.stats.damaged += n as u64;
                        d.counted = at + n as u64;
                    }
                }
                Item::Incomplete if !d.eof => {
                    if let Err(e) = d.fill() {
                        // Unreadable: leave it for the operator, stop here.
                        let _ = e;
                        self.drain = None;
                    }
                }
                Item::Incomplete => {
                    let n = format::next_whole_marker(avail);
                    if n < avail.len() {
                        d.pos += n;
                        if at >= d.counted {
                            self.stats.damaged += n as u64;
                            d.counted = at + n as u64;
                        }
                        continue;
                    }
                    // A torn tail, or the end: the file is read.
                    if !avail.is_empty() && at >= d.counted {
                        self.stats.torn += avail.len() as u64;
                        d.counted = at + avail.len() as u64;
                    }
                    d.pos = d.buf.len();
                    if d.sent == d.acked {
                        self.complete();
                    } else {
                        break;
                    }
                }
            }
        }
        handed
    }

    /// Redis acknowledged the spooled event that ended at `end`.
    pub fn acked(&mut self, end: u64) {
        let Some(d) = self.drain.as_mut() else { return };
        if end <= d.acked || end > d.sent {
            return;
        }
        d.acked = end;
        self.stats.drained += 1;
        if d.acked == d.sent {
            let read_all = d.eof && d.pos == d.buf.len();
            if read_all {
                self.complete();
            } else {
                d.persist();
            }
        }
    }

    /// The events handed out were not acknowledged (the connection was
    /// lost): they will be handed out again, from where Redis last
    /// acknowledged.
    pub fn unanswered(&mut self) {
        if let Some(d) = self.drain.as_mut() {
            d.persist();
            d.buf.clear();
            d.buf_start = d.acked;
            d.pos = 0;
            d.eof = false;
            d.sent = d.acked;
        }
    }

    /// The file being drained has been sent and acknowledged in full:
    /// empty it while we hold its lock, then let it go.
    fn complete(&mut self) {
        if let Some(d) = self.drain.take() {
            let _ = d.src.file.set_len(0);
            self.stats.files_done += 1;
            self.done.push(d.src.name);
        }
    }

    /// Names of the emptied files, to remove where the session may
    /// ([`Spool::remove_done`] with privileges).
    pub fn remove_done(&mut self) {
        for name in std::mem::take(&mut self.done) {
            if let Ok(f) = self.dir.open_rw(&name)
                && f.try_lock().is_ok()
                && f.metadata().map(|m| m.len() == 0).unwrap_or(false)
                && self.dir.holds(&name, &f)
            {
                let _ = self.dir.unlink(&name);
            }
        }
    }
}

impl Drain {
    /// Read the next chunk of the file after what is buffered.
    fn fill(&mut self) -> std::io::Result<()> {
        if self.pos > 0 {
            self.buf.drain(..self.pos);
            self.buf_start += self.pos as u64;
            self.pos = 0;
        }
        let have = self.buf.len();
        self.buf.resize(have + READ_CHUNK, 0);
        let n = self
            .src
            .file
            .read_at(&mut self.buf[have..], self.buf_start + have as u64)?;
        self.buf.truncate(have + n);
        if n == 0 {
            self.eof = true;
        }
        Ok(())
    }

    /// Record in the header how far Redis acknowledged.
    fn persist(&mut self) {
        if self.acked > self.persisted {
            let (at, bytes) = Header::acked_field(self.acked);
            if self.src.file.write_all_at(&bytes, at).is_ok() {
                self.persisted = self.acked;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn dir() -> (tempfile::TempDir, Config) {
        let t = tempfile::tempdir().unwrap();
        std::fs::set_permissions(t.path(), std::fs::Permissions::from_mode(0o700)).unwrap();
        let cfg = Config {
            path: t.path().to_str().unwrap().to_string(),
            max_size: DEFAULT_MAX_SIZE,
        };
        (t, cfg)
    }

    fn events(from: usize, n: usize) -> Vec<(Vec<u8>, Vec<u8>)> {
        (from..from + n)
            .map(|i| (b"key".to_vec(), format!("{{\"n\":{i}}}").into_bytes()))
            .collect()
    }

    fn append(s: &mut Spool, ev: &[(Vec<u8>, Vec<u8>)]) -> Appended {
        s.append(ev.iter().map(|(k, p)| (k.as_slice(), p.as_slice())))
    }

    /// Drain everything the spool has, acknowledging each batch.
    fn drain_all(s: &mut Spool) -> Vec<String> {
        let mut got = Vec::new();
        loop {
            let mut ends = Vec::new();
            let n = s.next_batch(3, usize::MAX, |_, p, end| {
                got.push(String::from_utf8(p.to_vec()).unwrap());
                ends.push(end);
            });
            for e in ends {
                s.acked(e);
            }
            if n == 0 && !s.has_work() {
                break;
            }
        }
        got
    }

    fn payloads(ev: &[(Vec<u8>, Vec<u8>)]) -> Vec<String> {
        ev.iter()
            .map(|(_, p)| String::from_utf8(p.clone()).unwrap())
            .collect()
    }

    #[test]
    fn sizes() {
        assert_eq!(parse_size("4096"), Ok(4096));
        assert_eq!(parse_size("64k"), Ok(64 << 10));
        assert_eq!(parse_size("256M"), Ok(256 << 20));
        assert_eq!(parse_size("2G"), Ok(2 << 30));
        for bad in ["", "M", "1.5G", "-1", "12X", "99999999999999999G"] {
            assert!(parse_size(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_directory_must_be_roots_alone() {
        let (t, cfg) = dir();
        assert_eq!(check_dir(&cfg.path), Ok(()));
        std::fs::set_permissions(t.path(), std::fs::Permissions::from_mode(0o777)).unwrap();
        assert!(check_dir(&cfg.path).unwrap_err().contains("writable"));
        std::fs::set_permissions(t.path(), std::fs::Permissions::from_mode(0o720)).unwrap();
        assert!(check_dir(&cfg.path).unwrap_err().contains("writable"));
        std::fs::set_permissions(t.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        assert_eq!(check_dir(&cfg.path), Ok(()));
        let link = t.path().with_extension("link");
        std::os::unix::fs::symlink(t.path(), &link).unwrap();
        assert!(
            check_dir(link.to_str().unwrap())
                .unwrap_err()
                .contains("symbolic link")
        );
        std::fs::remove_file(&link).unwrap();
        assert!(check_dir("relative/path").is_err());
        assert!(check_dir(&format!("{}/missing", cfg.path)).is_err());
    }

    /// One session spools while Redis is down; the next drains it in
    /// order; the file is gone after the one after.
    #[test]
    fn spooled_by_one_drained_by_the_next() {
        let (t, cfg) = dir();
        let ev = events(0, 10);
        let mut a = Spool::open(&cfg, 7, 100, 1, 1).unwrap();
        assert_eq!(
            append(&mut a, &ev[..4]),
            Appended::Done {
                written: 4,
                dropped: 0
            }
        );
        assert_eq!(
            append(&mut a, &ev[4..]),
            Appended::Done {
                written: 6,
                dropped: 0
            }
        );
        // A live writer's file is not drained by anyone else.
        let mut b = Spool::open(&cfg, 7, 101, 2, 2).unwrap();
        assert!(drain_all(&mut b).is_empty());
        a.finish_writing();
        drop(a);
        let mut c = Spool::open(&cfg, 7, 102, 3, 3).unwrap();
        assert_eq!(drain_all(&mut c), payloads(&ev));
        assert_eq!(c.stats.drained, 10);
        assert_eq!(c.stats.files_done, 1);
        c.finish_writing();
        c.remove_done();
        drop((b, c));
        let d = Spool::open(&cfg, 7, 103, 4, 4).unwrap();
        let names = std::fs::read_dir(t.path()).unwrap().count();
        assert_eq!(names, 1, "only the new session's own file is left");
        drop(d);
    }

    /// A drain that dies resends at most the batch in flight; a drain
    /// whose connection fails starts again where Redis acknowledged.
    #[test]
    fn drains_resume_where_redis_acknowledged() {
        let (_t, cfg) = dir();
        let ev = events(0, 9);
        let mut a = Spool::open(&cfg, 7, 100, 1, 1).unwrap();
        append(&mut a, &ev);
        a.finish_writing();
        drop(a);
        let mut b = Spool::open(&cfg, 7, 101, 2, 2).unwrap();
        let mut ends = Vec::new();
        assert_eq!(b.next_batch(3, usize::MAX, |_, _, e| ends.push(e)), 3);
        for e in &ends {
            b.acked(*e);
        }
        ends.clear();
        // Three more handed out, one acknowledged, then the connection is lost.
        b.next_batch(3, usize::MAX, |_, _, e| ends.push(e));
        b.acked(ends[0]);
        b.unanswered();
        let mut again = Vec::new();
        b.next_batch(1, usize::MAX, |_, p, _| {
            again.push(String::from_utf8(p.to_vec()).unwrap())
        });
        assert_eq!(again, ["{\"n\":4}"]);
        // The drainer dies here (nothing more acknowledged, nothing persisted
        // beyond event 3): the next one starts after event 3.
        drop(b);
        let mut c = Spool::open(&cfg, 7, 102, 3, 3).unwrap();
        assert_eq!(drain_all(&mut c), payloads(&ev[4..]));
    }

    /// SIGKILL mid-append: the whole records arrive, the torn one is
    /// counted, nothing half is sent.
    #[test]
    fn a_torn_tail_is_skipped_and_counted() {
        let (t, cfg) = dir();
        let ev = events(0, 5);
        let mut a = Spool::open(&cfg, 7, 100, 1, 1).unwrap();
        append(&mut a, &ev);
        let name = a.file_name().unwrap().to_string();
        drop(a);
        let path = t.path().join(&name);
        let len = std::fs::metadata(&path).unwrap().len();
        let f = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
        f.set_len(len - 3).unwrap();
        let mut b = Spool::open(&cfg, 7, 101, 2, 2).unwrap();
        assert_eq!(drain_all(&mut b), payloads(&ev[..4]));
        assert_eq!(
            b.stats.torn,
            format::record_len(b"key", b"{\"n\":4}") as u64 - 3
        );
        assert_eq!(b.stats.files_done, 1);
    }

    #[test]
    fn the_bound_drops_and_counts() {
        let (_t, mut cfg) = dir();
        let one = format::record_len(b"key", b"{\"n\":0}") as u64;
        cfg.max_size = HEADER_LEN + 3 * one;
        let mut a = Spool::open(&cfg, 7, 100, 1, 1).unwrap();
        let ev = events(0, 5);
        assert_eq!(
            append(&mut a, &ev),
            Appended::Done {
                written: 3,
                dropped: 2
            }
        );
        assert_eq!(
            append(&mut a, &ev[..1]),
            Appended::Done {
                written: 0,
                dropped: 1
            }
        );
        assert_eq!(a.stats.spooled, 3);
        assert_eq!(a.stats.dropped, 3);
        a.finish_writing();
        drop(a);
        // The directory is full for the next session too, until drained.
        let mut b = Spool::open(&cfg, 7, 101, 2, 2).unwrap();
        assert_eq!(
            append(&mut b, &ev[..1]),
            Appended::Done {
                written: 0,
                dropped: 1
            }
        );
    }

    #[test]
    fn other_destinations_are_left_alone() {
        let (_t, cfg) = dir();
        let mut a = Spool::open(&cfg, 7, 100, 1, 1).unwrap();
        append(&mut a, &events(0, 2));
        a.finish_writing();
        drop(a);
        let mut b = Spool::open(&cfg, 8, 101, 2, 2).unwrap();
        assert!(drain_all(&mut b).is_empty());
        let mut c = Spool::open(&cfg, 7, 102, 3, 3).unwrap();
        assert_eq!(drain_all(&mut c).len(), 2);
    }

    /// Its own file is drained first at the end of the session, still
    /// under its lock.
    #[test]
    fn a_session_drains_its_own_file_at_the_end() {
        let (_t, cfg) = dir();
        let mut a = Spool::open(&cfg, 7, 100, 1, 1).unwrap();
        append(&mut a, &events(0, 3));
        a.finish_writing();
        let mut other = Spool::open(&cfg, 7, 101, 2, 2).unwrap();
        assert_eq!(drain_all(&mut a), payloads(&events(0, 3)));
        // Emptied under the lock: the other session finds nothing to send.
        assert!(drain_all(&mut other).is_empty());
    }

    #[test]
    fn a_full_disk_fails_once_and_keeps_the_events() {
        let (_t, cfg) = dir();
        let mut a = Spool::open(&cfg, 7, 100, 1, 1).unwrap();
        // Make the file unwritable the way a full disk would: a descriptor
        // that refuses writes.
        let own = a.own.as_mut().unwrap();
        own.file = std::fs::File::open("/dev/null").unwrap();
        let ev = events(0, 2);
        match append(&mut a, &ev) {
            Appended::Failed(Some(m)) => assert!(m.contains("not spooling"), "{m}"),
            other => panic!("{other:?}"),
        }
        assert_eq!(append(&mut a, &ev), Appended::Failed(None));
        assert_eq!(a.stats.spooled, 0);
    }
}
