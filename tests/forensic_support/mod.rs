//! Minimal helpers for the mod_log_forensic integration tests: a real
//! proftpd per test on a free loopback port (own temp dir, our freshly built
//! module or Debian's C modules), an FTP client, condition waits.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

pub const USER: &str = "ftptest";
pub const PASSWORD: &str = "S3cretPassQ";
/// `openssl passwd -1 -salt abcdefgh S3cretPassQ`
const PASSWORD_HASH: &str = "$1$abcdefgh$4/MHAYtEytxOw5hYVAJEJ/";
const DEBIAN_MODULES: &str = "/usr/lib/proftpd";

pub fn proftpd() -> String {
    std::env::var("PROFTPD").unwrap_or_else(|_| "/usr/sbin/proftpd".into())
}

/// Wait (up to 15 s) until `f` holds.
pub fn wait_until(mut f: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        if f() {
            return true;
        }
        if Instant::now() > deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Whose mod_log_forensic to load.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ModSet {
    /// Ours, freshly built (target/<profile>/libproftpd_rs.so).
    Ours,
    /// Debian's C modules from /usr/lib/proftpd.
    Debian,
}

fn our_library() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let dir = exe.parent().unwrap().parent().unwrap();
    // `cargo test` refreshes deps/libproftpd_rs.so; `cargo build` the copy
    // one level up.  Use whichever is newer.
    let newest = [
        dir.join("deps/libproftpd_rs.so"),
        dir.join("libproftpd_rs.so"),
    ]
    .into_iter()
    .filter_map(|p| Some((std::fs::metadata(&p).ok()?.modified().ok()?, p)))
    .max();
    let Some((_, so)) = newest else {
        panic!("libproftpd_rs.so not built in {}", dir.display());
    };
    so
}

fn temp_dir() -> PathBuf {
    static N: AtomicU32 = AtomicU32::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    let dir = PathBuf::from(format!(
        "/tmp/forensic-test-{}-{}-{nanos}",
        std::process::id(),
        N.fetch_add(1, Ordering::SeqCst)
    ));
    std::fs::create_dir_all(dir.join("home")).unwrap();
    use std::os::unix::fs::PermissionsExt;
    for d in [dir.clone(), dir.join("home")] {
        std::fs::set_permissions(&d, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    dir
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Whether something listens on `port` (IPv4 or IPv6), from /proc/net.
fn listening(port: u16) -> bool {
    let want = format!(":{port:04X} ");
    ["/proc/net/tcp", "/proc/net/tcp6"].iter().any(|f| {
        std::fs::read_to_string(f)
            .unwrap_or_default()
            .lines()
            .any(|l| {
                let cols: Vec<&str> = l.split_whitespace().collect();
                cols.len() > 3 && format!("{} ", cols[1]).ends_with(&want) && cols[3] == "0A"
            })
    })
}

/// The LoadModule order: mod_log_forensic.c first, then `extra_modules`,
/// unless `extra_modules` names mod_log_forensic.c itself to place it.
/// (Modules loaded later run their session init first.)
fn module_order<'a>(extra_modules: &[&'a str]) -> Vec<&'a str> {
    if extra_modules.contains(&"mod_log_forensic.c") {
        extra_modules.to_vec()
    } else {
        std::iter::once("mod_log_forensic.c")
            .chain(extra_modules.iter().copied())
            .collect()
    }
}

/// Write a config into `dir`; returns its path.
fn write_config(
    dir: &Path,
    port: u16,
    mods: ModSet,
    extra_modules: &[&str],
    conf: &str,
) -> PathBuf {
    let d = dir.display();
    let module_path = match mods {
        ModSet::Debian => PathBuf::from(DEBIAN_MODULES),
        ModSet::Ours => {
            let m = dir.join("modules");
            let _ = std::fs::create_dir(&m);
            let ours = our_library();
            for name in module_order(extra_modules) {
                let so = m.join(name.replace(".c", ".so"));
                let target = if name == "mod_log_forensic.c" || name == "mod_unique_id.c" {
                    ours.clone()
                } else {
                    Path::new(DEBIAN_MODULES).join(name.replace(".c", ".so"))
                };
                let _ = std::os::unix::fs::symlink(target, so);
            }
            m
        }
    };
    std::fs::write(
        dir.join("passwd"),
        format!("{USER}:{PASSWORD_HASH}:65534:65534::{d}/home:/bin/sh\n"),
    )
    .unwrap();
    std::fs::write(dir.join("group"), "nogroup:x:65534:\n").unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(dir.join("passwd"), std::fs::Permissions::from_mode(0o600)).unwrap();
    let loads: String = module_order(extra_modules)
        .iter()
        .map(|m| format!("LoadModule {m}\n"))
        .collect();
    let text = format!(
        "ServerType standalone
ServerName \"forensic test\"
Port {port}
DefaultAddress 127.0.0.1
User nobody
Group nogroup
PidFile {d}/proftpd.pid
ScoreboardFile {d}/proftpd.scoreboard
ScoreboardScrub off
ModulePath {mp}
{loads}SystemLog {d}/system.log
AuthUserFile {d}/passwd
AuthGroupFile {d}/group
AuthOrder mod_auth_file.c
UseReverseDNS off
WtmpLog off
RequireValidShell off
<IfModule mod_ident.c>
  IdentLookups off
</IfModule>
<IfModule mod_delay.c>
  DelayEngine off
</IfModule>
{conf}
",
        mp = module_path.display(),
        conf = conf
            .replace("{dir}", &d.to_string())
            .replace("{port}", &port.to_string()),
    );
    let path = dir.join("proftpd.conf");
    std::fs::write(&path, text).unwrap();
    path
}

/// Run `proftpd -t` on a config with our module loaded and `conf` added.
pub fn check_config(conf: &str) -> (bool, String) {
    let dir = temp_dir();
    let path = write_config(&dir, free_port(), ModSet::Ours, &[], conf);
    let out = Command::new(proftpd())
        .arg("-t")
        .arg("-c")
        .arg(&path)
        .output()
        .unwrap();
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    let _ = std::fs::remove_dir_all(&dir);
    (out.status.success(), text)
}

/// A running proftpd (stopped on drop).
pub struct Server {
    pub dir: PathBuf,
    pub port: u16,
    child: Child,
}

impl Server {
    /// A config file only (for `proftpd -vv -c`).
    pub fn config_only(mods: ModSet, extra_modules: &[&str], conf: &str) -> PathBuf {
        write_config(&temp_dir(), free_port(), mods, extra_modules, conf)
    }

    /// Start proftpd with `conf` (where `{dir}` is this server's directory).
    pub fn start(mods: ModSet, extra_modules: &[&str], conf: &str) -> Server {
        Self::start_env(mods, extra_modules, conf, &[])
    }

    /// As `start`, with extra environment variables for proftpd.
    pub fn start_env(
        mods: ModSet,
        extra_modules: &[&str],
        conf: &str,
        env: &[(&str, &str)],
    ) -> Server {
        for _attempt in 0..3 {
            let dir = temp_dir();
            let port = free_port();
            let path = write_config(&dir, port, mods, extra_modules, conf);
            let err = std::fs::File::create(dir.join("stderr")).unwrap();
            let child = Command::new(proftpd())
                .arg("-n")
                .arg("-c")
                .arg(&path)
                .envs(env.iter().copied())
                .stdin(Stdio::null())
                .stdout(err.try_clone().unwrap())
                .stderr(err)
                .spawn()
                .unwrap();
            let mut s = Server { dir, port, child };
            let up = wait_until(|| listening(port) || !s.alive());
            if up && s.alive() {
                return s;
            }
            eprintln!("proftpd did not start (retrying):\n{}", s.logs());
        }
        panic!("proftpd did not start");
    }

    fn alive(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    /// proftpd's output and SystemLog, for failure messages.
    pub fn logs(&self) -> String {
        let r = |n: &str| std::fs::read_to_string(self.path(n)).unwrap_or_default();
        format!(
            "--- {} stderr:\n{}--- system.log:\n{}",
            self.dir.display(),
            r("stderr"),
            r("system.log")
        )
    }

    /// What proftpd logged (with `-n` the SystemLog goes to stderr).
    pub fn system_log(&self) -> String {
        let r = |n: &str| std::fs::read_to_string(self.path(n)).unwrap_or_default();
        r("stderr") + &r("system.log")
    }

    /// The PIDs of the session processes (children of the master).
    pub fn session_pids(&self) -> Vec<u32> {
        let master = self.child.id();
        let mut out = Vec::new();
        for e in std::fs::read_dir("/proc").unwrap().flatten() {
            let Ok(pid) = e.file_name().to_string_lossy().parse::<u32>() else {
                continue;
            };
            let stat = std::fs::read_to_string(e.path().join("stat")).unwrap_or_default();
            let Some((_, rest)) = stat.rsplit_once(')') else {
                continue;
            };
            let ppid = rest
                .split_whitespace()
                .nth(1)
                .and_then(|p| p.parse::<u32>().ok());
            if ppid == Some(master) {
                out.push(pid);
            }
        }
        out
    }

    /// Wait until no session process is left.
    pub fn wait_sessions_gone(&self) {
        assert!(
            wait_until(|| self.session_pids().is_empty()),
            "sessions still running:\n{}",
            self.logs()
        );
    }

    /// No file in the server's directory contains `text`.
    pub fn assert_no_text_anywhere(&self, text: &str) {
        fn walk(p: &Path, text: &str) {
            for e in std::fs::read_dir(p).unwrap().flatten() {
                let path = e.path();
                let ft = e.file_type().unwrap();
                if ft.is_dir() {
                    walk(&path, text);
                } else if ft.is_file() {
                    let bytes = std::fs::read(&path).unwrap_or_default();
                    let found = bytes.windows(text.len()).any(|w| w == text.as_bytes());
                    let is_conf = path.file_name().is_some_and(|n| n == "proftpd.conf");
                    assert!(!found || is_conf, "{text:?} found in {}", path.display());
                }
            }
        }
        walk(&self.dir, text);
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        // SAFETY: signalling the proftpd we started.
        unsafe {
            libc::kill(self.child.id() as i32, libc::SIGTERM);
        }
        let _ = self.child.wait();
        if std::thread::panicking() {
            eprintln!("{}", self.logs());
        } else {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

/// A small FTP control-connection client.
pub struct Ftp {
    r: BufReader<TcpStream>,
    w: TcpStream,
    /// The last reply (code, text).
    pub last: (u32, String),
}

impl Ftp {
    /// Connect and expect the 220 greeting.
    pub fn connect(port: u16) -> Ftp {
        let f = Self::connect_any(port);
        assert_eq!(f.last.0, 220, "{:?}", f.last);
        f
    }

    /// Connect and keep whatever the first reply is.
    pub fn connect_any(port: u16) -> Ftp {
        let w = TcpStream::connect(("127.0.0.1", port)).unwrap();
        w.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
        let mut f = Ftp {
            r: BufReader::new(w.try_clone().unwrap()),
            w,
            last: (0, String::new()),
        };
        f.last = f.reply();
        f
    }

    fn reply(&mut self) -> (u32, String) {
        let mut text = String::new();
        let mut line = String::new();
        if self.r.read_line(&mut line).unwrap_or(0) == 0 {
            return (0, String::new());
        }
        text.push_str(&line);
        let code: u32 = line.get(..3).and_then(|c| c.parse().ok()).unwrap_or(0);
        if line.as_bytes().get(3) == Some(&b'-') {
            let end = format!("{code} ");
            loop {
                line.clear();
                if self.r.read_line(&mut line).unwrap_or(0) == 0 || line.starts_with(&end) {
                    text.push_str(&line);
                    break;
                }
                text.push_str(&line);
            }
        }
        (code, text)
    }

    pub fn cmd(&mut self, line: &str) -> (u32, String) {
        let _ = self.w.write_all(format!("{line}\r\n").as_bytes());
        self.last = self.reply();
        self.last.clone()
    }

    pub fn login(&mut self) {
        assert_eq!(self.cmd(&format!("USER {USER}")).0, 331, "{:?}", self.last);
        assert_eq!(
            self.cmd(&format!("PASS {PASSWORD}")).0,
            230,
            "{:?}",
            self.last
        );
    }

    pub fn quit(mut self) {
        let _ = self.cmd("QUIT");
    }
}
