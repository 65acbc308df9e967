//! Small shared helpers: free ports, temp dirs, waiting on conditions, process handling.

use std::collections::HashSet;
use std::fs;
use std::io::{self, Read};
use std::net::TcpListener;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus};
use std::sync::Mutex;
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Runs `cmd` (a client or a tool, e.g. `curl`, `openssl`), which must succeed: the
/// panic message names the command and carries its stderr. Returns its stdout.
pub fn run_ok(cmd: &mut Command) -> Vec<u8> {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("{cmd:?}: cannot run: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?}: {}: {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// Default timeout for "wait until something happened" helpers.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

/// Ports handed out by [`free_port`] below the kernel's ephemeral range, so neither
/// client sockets nor proftpd's passive data sockets (which use the ephemeral range,
/// 32768-60999 on Linux) can grab a port between our probe and the server's bind.
const PORT_RANGE: std::ops::Range<u16> = 20000..32000;

/// Returns a loopback TCP port that is currently free and has not been handed out before
/// in this test process.
///
/// There is an unavoidable window between this probe and the server's `bind`; another
/// test *process* could take the port. `Proftpd` retries on "Address
/// already in use", so only ports written literally into extra config can still clash.
pub fn free_port() -> u16 {
    static HANDED_OUT: Mutex<Option<HashSet<u16>>> = Mutex::new(None);
    let mut guard = HANDED_OUT.lock().unwrap_or_else(|e| e.into_inner());
    let handed_out = guard.get_or_insert_with(HashSet::new);
    let mut rng = seed();
    for _ in 0..10_000 {
        // xorshift64
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        let span = (PORT_RANGE.end - PORT_RANGE.start) as u64;
        let port = PORT_RANGE.start + (rng % span) as u16;
        if handed_out.contains(&port) {
            continue;
        }
        if TcpListener::bind(("127.0.0.1", port)).is_ok() {
            handed_out.insert(port);
            return port;
        }
    }
    panic!("free_port: no free port found in {PORT_RANGE:?}");
}

fn seed() -> u64 {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0);
    let tid = format!("{:?}", thread::current().id());
    let mut s = nanos ^ ((std::process::id() as u64) << 32);
    for b in tid.bytes() {
        s = s.rotate_left(5) ^ b as u64;
    }
    s | 1
}

/// Polls `cond` (5 ms at first, backing off to 100 ms) until it returns true or `timeout`
/// passes. Returns whether the condition became true. `cond` is always tried at least
/// once, and once more at the deadline.
pub fn wait_until(timeout: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    let mut delay = Duration::from_millis(5);
    loop {
        if cond() {
            return true;
        }
        let now = Instant::now();
        if now >= deadline {
            return false;
        }
        thread::sleep(delay.min(deadline - now));
        delay = (delay * 2).min(Duration::from_millis(100));
    }
}

/// Waits until the file at `path` holds at least `n` complete (newline-terminated) lines
/// and returns all complete lines (without the newline). Panics on timeout, showing
/// what the file held.
pub fn wait_for_lines(path: impl AsRef<Path>, n: usize, timeout: Duration) -> Vec<String> {
    let path = path.as_ref();
    let mut lines = Vec::new();
    let ok = wait_until(timeout, || {
        lines = complete_lines(path);
        lines.len() >= n
    });
    if !ok {
        let content = fs::read(path)
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .unwrap_or_else(|e| format!("<{e}>"));
        panic!(
            "timed out after {timeout:?} waiting for {n} lines in {}; it has {}:\n{content}",
            path.display(),
            lines.len()
        );
    }
    lines
}

/// The complete (newline-terminated) lines of a file; empty if it does not exist.
pub fn complete_lines(path: &Path) -> Vec<String> {
    let Ok(bytes) = fs::read(path) else {
        return Vec::new();
    };
    let text = String::from_utf8_lossy(&bytes);
    let complete = match text.rfind('\n') {
        Some(i) => &text[..i],
        None => return Vec::new(),
    };
    complete.split('\n').map(str::to_owned).collect()
}

/// A temp dir (mode 0711, so unprivileged session processes can traverse it) that is
/// removed on drop unless `PROFTPD_RS_KEEP_TMP` is set.
pub struct TestDir {
    dir: Option<tempfile::TempDir>,
    path: PathBuf,
}

impl TestDir {
    pub fn new(prefix: &str) -> TestDir {
        let dir = tempfile::Builder::new()
            .prefix(prefix)
            .tempdir()
            .unwrap_or_else(|e| panic!("cannot create temp dir: {e}"));
        let path = dir.path().to_path_buf();
        fs::set_permissions(&path, fs::Permissions::from_mode(0o711))
            .unwrap_or_else(|e| panic!("chmod {}: {e}", path.display()));
        TestDir {
            dir: Some(dir),
            path,
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for TestDir {
    fn drop(&mut self) {
        if std::env::var_os("PROFTPD_RS_KEEP_TMP").is_some()
            && let Some(dir) = self.dir.take()
        {
            eprintln!("[harness] keeping {}", dir.keep().display());
        }
    }
}

/// Panics with a clear message unless we run as root (proftpd needs it to switch users).
pub fn require_root() {
    // /proc/self belongs to the effective uid of the reader.
    let euid = fs::metadata("/proc/self")
        .map(|m| m.uid())
        .unwrap_or(u32::MAX);
    assert_eq!(
        euid, 0,
        "these integration tests start proftpd and must run as root (euid is {euid})"
    );
}

/// Sends `sig` to `pid`. Returns false if the process does not exist.
pub fn send_signal(pid: u32, sig: i32) -> bool {
    // SAFETY: kill(2) has no memory-safety preconditions.
    unsafe { libc::kill(pid as libc::pid_t, sig) == 0 }
}

/// Whether `pid` exists and is not a zombie (an exited process nobody has reaped yet;
/// orphans re-parented to a PID 1 that does not reap stay in that state).
pub fn process_alive(pid: u32) -> bool {
    match fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => stat_fields(&stat).is_some_and(|f| f.first() != Some(&"Z")),
        Err(_) => false,
    }
}

/// The pids of all live processes whose parent is `ppid`.
pub fn child_pids(ppid: u32) -> Vec<u32> {
    let Ok(entries) = fs::read_dir("/proc") else {
        return Vec::new();
    };
    let mut pids = Vec::new();
    for entry in entries.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<u32>().ok())
        else {
            continue;
        };
        let Ok(stat) = fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        if let Some(fields) = stat_fields(&stat) {
            // fields[0] = state, fields[1] = ppid
            if fields.len() > 1 && fields[0] != "Z" && fields[1].parse() == Ok(ppid) {
                pids.push(pid);
            }
        }
    }
    pids.sort_unstable();
    pids
}

/// The fields of /proc/<pid>/stat after the `(comm)` field (which may contain spaces).
fn stat_fields(stat: &str) -> Option<Vec<&str>> {
    let rest = &stat[stat.rfind(')')? + 1..];
    Some(rest.split_whitespace().collect())
}

/// Waits up to `timeout` for a child to exit; returns its status, or `None` on timeout.
pub fn wait_child(child: &mut Child, timeout: Duration) -> Option<ExitStatus> {
    let mut status = None;
    wait_until(timeout, || {
        status = child.try_wait().ok().flatten();
        status.is_some()
    });
    status
}

/// Terminates a child: SIGTERM, wait up to `grace`, then SIGKILL and wait.
pub fn terminate_child(child: &mut Child, grace: Duration) -> io::Result<ExitStatus> {
    if let Some(status) = child.try_wait()? {
        return Ok(status);
    }
    send_signal(child.id(), libc::SIGTERM);
    if let Some(status) = wait_child(child, grace) {
        return Ok(status);
    }
    child.kill()?;
    child.wait()
}

/// Whether process `pid` holds a TCP socket listening on `port` (IPv4 or IPv6).
/// Checked through /proc, so probing readiness does not open an FTP session.
pub fn pid_listens_on(pid: u32, port: u16) -> bool {
    let mut inodes = Vec::new();
    for table in ["/proc/net/tcp", "/proc/net/tcp6"] {
        let Ok(text) = fs::read_to_string(table) else {
            continue;
        };
        for line in text.lines().skip(1) {
            let f: Vec<&str> = line.split_whitespace().collect();
            if f.len() < 10 || f[3] != "0A" {
                continue; // 0A = TCP_LISTEN
            }
            let local_port = f[1]
                .rsplit(':')
                .next()
                .and_then(|p| u16::from_str_radix(p, 16).ok());
            if local_port == Some(port) {
                inodes.push(format!("socket:[{}]", f[9]));
            }
        }
    }
    if inodes.is_empty() {
        return false;
    }
    let Ok(fds) = fs::read_dir(format!("/proc/{pid}/fd")) else {
        return false;
    };
    fds.flatten().any(|fd| {
        fs::read_link(fd.path())
            .ok()
            .and_then(|t| t.to_str().map(|s| inodes.iter().any(|i| i == s)))
            .unwrap_or(false)
    })
}

/// Whether `pid` is blocked in select/poll (its kernel wait channel), i.e. idle in an
/// event loop rather than busy or sleeping.
pub fn in_poll_or_select(pid: u32) -> bool {
    fs::read_to_string(format!("/proc/{pid}/wchan"))
        .is_ok_and(|w| w.starts_with("poll_schedule_timeout") || w.contains("select"))
}

/// Reads a file as (lossy) UTF-8 for diagnostics, keeping at most the last `max` bytes.
pub fn read_tail(path: &Path, max: usize) -> String {
    let mut bytes = Vec::new();
    match fs::File::open(path).and_then(|mut f| f.read_to_end(&mut bytes)) {
        Ok(_) => {}
        Err(e) => return format!("<cannot read: {e}>"),
    }
    if bytes.len() > max {
        let cut = bytes.len() - max;
        format!(
            "<... {cut} bytes cut ...>\n{}",
            String::from_utf8_lossy(&bytes[cut..])
        )
    } else {
        String::from_utf8_lossy(&bytes).into_owned()
    }
}

/// A loopback port that accepts connections and never answers (a "silent"
/// server: the connections are held open until the test process ends).
pub fn silent_server() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind silent server");
    let port = listener.local_addr().expect("local_addr").port();
    thread::spawn(move || {
        let mut held = Vec::new();
        for s in listener.incoming().flatten() {
            held.push(s);
        }
    });
    port
}

/// One mod_ban server at a time in this test process (a re-entrant lock:
/// a test may run several itself).  mod_ban keeps its ban table in SysV
/// shared memory under `ftok(BanTable, ...)`, which uses only the low 16
/// bits of the file's inode: two tests' tables can get the same key, and
/// mod_ban then attaches to the other test's segment, bans included (seen
/// once: a test's first connection refused for a host another test had
/// banned).  Held by the harness's `Proftpd` (and `check_config`) while
/// a server that loads mod_ban runs; such a server is stopped, not
/// killed, so that mod_ban removes its segment (a killed one leaves it
/// behind for good).
pub struct BanTableLock(());

struct BanState {
    owner: Option<thread::ThreadId>,
    depth: usize,
}

static BAN_STATE: Mutex<BanState> = Mutex::new(BanState {
    owner: None,
    depth: 0,
});
static BAN_FREE: std::sync::Condvar = std::sync::Condvar::new();

impl BanTableLock {
    pub fn acquire() -> BanTableLock {
        let me = thread::current().id();
        let mut s = BAN_STATE.lock().unwrap_or_else(|e| e.into_inner());
        while s.owner.is_some_and(|o| o != me) {
            s = BAN_FREE.wait(s).unwrap_or_else(|e| e.into_inner());
        }
        s.owner = Some(me);
        s.depth += 1;
        BanTableLock(())
    }
}

impl Drop for BanTableLock {
    fn drop(&mut self) {
        let mut s = BAN_STATE.lock().unwrap_or_else(|e| e.into_inner());
        s.depth -= 1;
        if s.depth == 0 {
            s.owner = None;
            BAN_FREE.notify_all();
        }
    }
}

/// mod_ban's `ftok()` project id for its ban table (`BAN_PROJ_ID`, 'L').
const BAN_PROJ_ID: i32 = 76;

/// Remove the shared-memory ban tables of the `BanTable` files named in
/// the config file `conf` that nothing is attached to any more (left by
/// `proftpd -t`, which never removes its table, or by a killed master).
pub fn remove_ban_tables(conf: &Path) {
    let text = fs::read_to_string(conf).unwrap_or_default();
    for line in text.lines() {
        let Some(path) = line.trim().strip_prefix("BanTable ") else {
            continue;
        };
        let Ok(c) = std::ffi::CString::new(path.trim()) else {
            continue;
        };
        // SAFETY: plain SysV IPC calls on a key made from our own file.
        unsafe {
            let key = libc::ftok(c.as_ptr(), BAN_PROJ_ID);
            if key == -1 {
                continue;
            }
            let id = libc::shmget(key, 0, 0);
            if id < 0 {
                continue;
            }
            let mut ds: libc::shmid_ds = std::mem::zeroed();
            if libc::shmctl(id, libc::IPC_STAT, &mut ds) == 0 && ds.shm_nattch == 0 {
                libc::shmctl(id, libc::IPC_RMID, std::ptr::null_mut());
            }
        }
    }
}
