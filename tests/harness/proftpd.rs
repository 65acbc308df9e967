//! Starting real `proftpd` with a generated config, and checking configs with `proftpd -t`.

use std::fmt::Write as _;
use std::fs;
use std::os::unix::fs::{PermissionsExt, symlink};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{LazyLock, OnceLock};
use std::time::Duration;

use super::ftp::Ftp;
use super::util::{self, DEFAULT_TIMEOUT, TestDir};

/// The module files our cdylib is installed as (`LoadModule mod_x.c` loads `mod_x.so`):
/// `mod_NAME` for each module of `modules.txt`, in its order.
pub static OUR_MODULES: LazyLock<Vec<&'static str>> = LazyLock::new(|| {
    include_str!("../../modules.txt")
        .lines()
        .filter_map(|l| l.split('#').next()?.split_whitespace().next())
        .map(|name| &*Box::leak(format!("mod_{name}").into_boxed_str()))
        .collect()
});

/// The same as `LoadModule` names them: `mod_NAME.c` for each module of
/// `modules.txt`, in its order.
pub static OUR_MODULE_FILES: LazyLock<Vec<&'static str>> = LazyLock::new(|| {
    OUR_MODULES
        .iter()
        .map(|m| &*Box::leak(format!("{m}.c").into_boxed_str()))
        .collect()
});

/// Where Debian keeps proftpd's C modules.
pub const DEBIAN_MODULE_DIR: &str = "/usr/lib/proftpd";

/// How long [`ProftpdBuilder::start`] waits for the server to listen.
pub const START_TIMEOUT: Duration = Duration::from_secs(20);

/// Default test user `alice` / `secret` (uid/gid 2001).
pub const ALICE: (&str, &str) = ("alice", "secret");
/// Default test user `bob` / `secret` (uid/gid 2002).
pub const BOB: (&str, &str) = ("bob", "secret");

/// SHA-512 crypt of "secret" (`openssl passwd -6 -salt proftpdrs secret`).
pub const SECRET_HASH: &str = "$6$proftpdrs$8gtM6aPUn7Od18rCml5I34cbE9S3IvHapYSbepyQxC/qxG/wa8aIQeGvbIc8KUhStp2Me9lRX.4X9w9Ekqixk0";

/// Modules that bookworm's proftpd has compiled in but later Debian releases
/// (trixie, sid) build as DSOs, loaded first by their /etc/proftpd/modules.conf:
/// the base config needs them (`DelayEngine`, `TransferLog`, and transfers and
/// listings at all).
const CORE_DSO_MODULES: [&str; 3] = ["mod_delay.c", "mod_ls.c", "mod_xfer.c"];

/// Those of [`CORE_DSO_MODULES`] that this proftpd (`proftpd -l`) has not compiled
/// in: the harness loads them before everything else, as Debian's config does.
pub fn core_dso_modules() -> &'static [String] {
    static LOADABLE: OnceLock<Vec<String>> = OnceLock::new();
    LOADABLE.get_or_init(|| {
        let listed = Command::new(proftpd_bin())
            .arg("-l")
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
            .unwrap_or_default();
        CORE_DSO_MODULES
            .iter()
            .filter(|m| !listed.split_whitespace().any(|w| w == **m))
            .map(|m| m.to_string())
            .collect()
    })
}

/// The config lines that load [`core_dso_modules`] from Debian's module dir,
/// then point `ModulePath` at `module_dir` (mod_dso loads each `LoadModule` from
/// the `ModulePath` of the moment, so a test's own module dir need not have them).
pub fn core_dso_load_lines(module_dir: &Path) -> String {
    let mut lines = String::new();
    if !core_dso_modules().is_empty() {
        let _ = writeln!(lines, "ModulePath {DEBIAN_MODULE_DIR}");
        for m in core_dso_modules() {
            let _ = writeln!(lines, "LoadModule {m}");
        }
    }
    let _ = writeln!(lines, "ModulePath {}", module_dir.display());
    lines
}

/// The release series of this proftpd (`proftpd -v`: "ProFTPD Version 1.3.9e"
/// -> (1, 3, 9)), probed once; (0, 0, 0) if it cannot be read.
pub fn proftpd_series() -> (u32, u32, u32) {
    static SERIES: OnceLock<(u32, u32, u32)> = OnceLock::new();
    *SERIES.get_or_init(|| {
        let out = Command::new(proftpd_bin())
            .arg("-v")
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
            .unwrap_or_default();
        let version = out.split_whitespace().last().unwrap_or("");
        let n: Vec<u32> = version
            .splitn(3, '.')
            .map(|p| {
                let digits: String = p.chars().take_while(char::is_ascii_digit).collect();
                digits.parse().unwrap_or(0)
            })
            .collect();
        match n[..] {
            [a, b, c] => (a, b, c),
            _ => (0, 0, 0),
        }
    })
}

/// The version of the proftpd the tests run ("1.3.7a", "1.3.8", "1.3.9e").
pub fn proftpd_version() -> String {
    static VERSION: OnceLock<String> = OnceLock::new();
    VERSION
        .get_or_init(|| {
            let out = Command::new(proftpd_bin())
                .arg("-v")
                .output()
                .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
                .unwrap_or_default();
            out.split_whitespace().last().unwrap_or("").to_string()
        })
        .clone()
}

/// Whether the core's jot filters (RedisLogOnEvent's) know the ExtendedLog
/// classes DIRS, READ, WRITE, ... : 1.3.7b and later; 1.3.7a (Debian 11)
/// knows only ALL, CONNECT and DISCONNECT and ignores the others.
pub fn core_jot_knows_classes() -> bool {
    !matches!(proftpd_version().as_str(), "1.3.7" | "1.3.7a") && proftpd_series() >= (1, 3, 7)
}

/// The proftpd every test runs: `$PROFTPD_BIN`, else `/usr/sbin/proftpd`.
pub fn proftpd_bin() -> PathBuf {
    std::env::var_os("PROFTPD_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/sbin/proftpd"))
}

/// Path of the built `libproftpd_rs.so`: `$PROFTPD_RS_MODULE`, else the newest of
/// `target/<profile>/deps/libproftpd_rs*.so` (what `cargo test` builds; the test binary
/// lives in that `deps/` dir) and `target/<profile>/libproftpd_rs.so` (what `cargo build`
/// uplifts; `cargo test` does not refresh it, so it may be stale).
pub fn cdylib_path() -> PathBuf {
    if let Some(p) = std::env::var_os("PROFTPD_RS_MODULE") {
        let p = PathBuf::from(p);
        assert!(
            p.is_file(),
            "PROFTPD_RS_MODULE={} is not a file",
            p.display()
        );
        return fs::canonicalize(&p).unwrap_or(p);
    }
    let exe = std::env::current_exe().expect("current_exe");
    let deps = exe
        .parent()
        .unwrap_or_else(|| panic!("unexpected test binary location {}", exe.display()));
    let mut candidates: Vec<PathBuf> = fs::read_dir(deps)
        .map(|rd| {
            rd.flatten()
                .map(|e| e.path())
                .filter(|p| {
                    p.file_name()
                        .and_then(|n| n.to_str())
                        .is_some_and(|n| n.starts_with("libproftpd_rs") && n.ends_with(".so"))
                })
                .collect()
        })
        .unwrap_or_default();
    if let Some(profile_dir) = deps.parent() {
        candidates.push(profile_dir.join("libproftpd_rs.so"));
    }
    candidates
        .into_iter()
        .filter_map(|p| Some((fs::metadata(&p).ok()?.modified().ok()?, p)))
        .max()
        .map(|(_, p)| p)
        .unwrap_or_else(|| {
            panic!(
                "built module libproftpd_rs.so not found in {} or its parent (run the tests \
                 with `cargo test`, which builds the cdylib, or set PROFTPD_RS_MODULE)",
                deps.display()
            )
        })
}

/// Which module files `ModulePath` points at.
#[derive(Clone, Debug)]
pub enum Modules {
    /// Our cdylib under each of [`OUR_MODULES`]' file names, plus symlinks to all of
    /// Debian's other C modules (so e.g. `mod_ifsession.c` can be loaded alongside).
    Ours,
    /// Debian's C modules (`/usr/lib/proftpd`), for parity tests.
    DebianC,
    /// An existing directory.
    Dir(PathBuf),
}

/// A module directory for `ModulePath`. For [`Modules::Ours`] it is a fresh directory of
/// symlinks (symlinks, not copies: the dynamic loader then maps the one cdylib once, so
/// all four `*_module` symbols share one copy of the Rust globals).
pub struct ModuleDir {
    path: PathBuf,
    _owned: Option<TestDir>,
}

impl ModuleDir {
    /// The module dir for `modules`; for `Ours` a fresh temp dir of symlinks.
    pub fn new(modules: &Modules) -> ModuleDir {
        match modules {
            Modules::Ours => {
                let dir = TestDir::new("proftpd-rs-modules-");
                let path = dir.path().to_path_buf();
                populate_our_module_dir(&path);
                ModuleDir {
                    path,
                    _owned: Some(dir),
                }
            }
            Modules::DebianC => ModuleDir {
                path: DEBIAN_MODULE_DIR.into(),
                _owned: None,
            },
            Modules::Dir(p) => ModuleDir {
                path: p.clone(),
                _owned: None,
            },
        }
    }

    /// Like [`ModuleDir::new`], but creates `Ours`'s dir as `<parent>/modules` (removed
    /// with `parent`).
    pub fn within(modules: &Modules, parent: &Path) -> ModuleDir {
        match modules {
            Modules::Ours => {
                let path = parent.join("modules");
                fs::create_dir_all(&path).expect("create module dir");
                populate_our_module_dir(&path);
                ModuleDir { path, _owned: None }
            }
            other => ModuleDir::new(other),
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

fn populate_our_module_dir(dir: &Path) {
    let so = cdylib_path();
    for name in OUR_MODULES.iter() {
        let link = dir.join(format!("{name}.so"));
        symlink(&so, &link).unwrap_or_else(|e| panic!("symlink {}: {e}", link.display()));
    }
    // Everything else comes from Debian, so tests may mix our modules with C ones.
    if let Ok(entries) = fs::read_dir(DEBIAN_MODULE_DIR) {
        for entry in entries.flatten() {
            let name = entry.file_name();
            let Some(name) = name.to_str() else { continue };
            let Some(stem) = name.strip_suffix(".so") else {
                continue;
            };
            if !OUR_MODULES.contains(&stem) {
                let _ = symlink(entry.path(), dir.join(name));
            }
        }
    }
}

/// A user in the generated `AuthUserFile`. The home dir `<dir>/home/<name>` is created,
/// owned by the user, mode 0755.
#[derive(Clone, Debug)]
pub struct TestUser {
    pub name: String,
    pub password: String,
    pub uid: u32,
    pub gid: u32,
    pub home: PathBuf,
}

/// Builder for a [`Proftpd`]: see [`Proftpd::builder`].
///
/// The temp dir and port are chosen when the builder is created, so `dir()` and `port()`
/// can be used while writing the extra config. Extra config text may also use the
/// placeholders `@DIR@` (the temp dir) and `@PORT@` (the main port), which are replaced
/// when the config is written (`@PORT@` stays right if the port has to be re-chosen).
pub struct ProftpdBuilder {
    modules: Modules,
    load: Vec<String>,
    base: Vec<(String, String)>,
    extra: String,
    env: Vec<(String, String)>,
    args: Vec<String>,
    users: Vec<(String, String)>,
    wait_ports: Vec<u16>,
    program: Option<PathBuf>,
    dir: TestDir,
    port: u16,
}

impl ProftpdBuilder {
    fn new(modules: Modules) -> ProftpdBuilder {
        util::require_root();
        let dir = TestDir::new("proftpd-rs-test-");
        let port = util::free_port();
        let mut b = ProftpdBuilder {
            modules,
            load: Vec::new(),
            base: Vec::new(),
            extra: String::new(),
            env: Vec::new(),
            args: Vec::new(),
            users: vec![
                (ALICE.0.into(), ALICE.1.into()),
                (BOB.0.into(), BOB.1.into()),
            ],
            wait_ports: Vec::new(),
            program: None,
            dir,
            port,
        };
        for (k, v) in [
            ("ServerName", "\"proftpd-rs test\""),
            ("ServerType", "standalone"),
            // Bind only 127.0.0.1. (`DefaultServer on` would be ignored with a warning.)
            ("SocketBindTight", "on"),
            ("DefaultAddress", "127.0.0.1"),
            ("Port", "@PORT@"),
            ("User", "nobody"),
            ("Group", "nogroup"),
            ("PidFile", "@DIR@/proftpd.pid"),
            ("ScoreboardFile", "@DIR@/proftpd.scoreboard"),
            ("ScoreboardScrub", "off"),
            ("DelayEngine", "off"),
            ("UseReverseDNS", "off"),
            ("WtmpLog", "off"),
            ("RequireValidShell", "off"),
            ("AllowOverwrite", "on"),
            // APPE and REST before STOR need this.
            ("AllowStoreRestart", "on"),
            ("AuthOrder", "mod_auth_file.c"),
            ("AuthUserFile", "@DIR@/ftpd.passwd"),
            ("AuthGroupFile", "@DIR@/ftpd.group"),
            // With `-q`, the daemon's messages go here; `debug` keeps INFO messages like
            // "FTP session opened" and, with `-d N`, debug messages.
            ("SystemLog", "@DIR@/system.log"),
            ("SyslogLevel", "debug"),
            ("TransferLog", "@DIR@/xferlog"),
        ] {
            b.base.push((k.into(), v.into()));
        }
        b
    }

    /// The temp dir all files of this server live in.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The main port (may change if it turns out to be taken at start; use `@PORT@`).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Adds `LoadModule <name>` (e.g. `"mod_unique_id.c"`).
    pub fn load_module(mut self, name: &str) -> Self {
        self.load.push(name.to_owned());
        self
    }

    /// Adds several `LoadModule` lines.
    pub fn load_modules(mut self, names: &[&str]) -> Self {
        self.load.extend(names.iter().map(|s| s.to_string()));
        self
    }

    /// Appends config text after the base config and the `LoadModule` lines.
    /// May contain `<VirtualHost>`, `<Global>` etc., and `@DIR@` / `@PORT@`.
    pub fn config(mut self, text: &str) -> Self {
        self.extra.push_str(text);
        if !text.ends_with('\n') {
            self.extra.push('\n');
        }
        self
    }

    /// Sets a base directive (replacing the default value, or adding it to the base).
    pub fn set(mut self, directive: &str, value: &str) -> Self {
        match self
            .base
            .iter_mut()
            .find(|(k, _)| k.eq_ignore_ascii_case(directive))
        {
            Some(entry) => entry.1 = value.to_owned(),
            None => self.base.push((directive.to_owned(), value.to_owned())),
        }
        self
    }

    /// Removes a base directive (e.g. `unset("TransferLog")`).
    pub fn unset(mut self, directive: &str) -> Self {
        self.base
            .retain(|(k, _)| !k.eq_ignore_ascii_case(directive));
        self
    }

    /// Sets an environment variable for the proftpd process.
    pub fn env(mut self, key: &str, value: &str) -> Self {
        self.env.push((key.to_owned(), value.to_owned()));
        self
    }

    /// `-d level`: proftpd's debug level (messages go to the SystemLog).
    pub fn debug_level(self, level: u8) -> Self {
        self.arg("-d").arg(&level.to_string())
    }

    /// Adds a command-line argument for proftpd.
    pub fn arg(mut self, arg: &str) -> Self {
        self.args.push(arg.to_owned());
        self
    }

    /// Adds (or re-passwords) a test user. `alice` and `bob` (password `secret`) exist
    /// by default; new users get uid/gid 2003, 2004, ...
    pub fn user(mut self, name: &str, password: &str) -> Self {
        match self.users.iter_mut().find(|(n, _)| n == name) {
            Some(u) => u.1 = password.to_owned(),
            None => self.users.push((name.to_owned(), password.to_owned())),
        }
        self
    }

    /// Runs `program` instead of proftpd (e.g. a script that runs proftpd under
    /// valgrind with the arguments it is given).
    pub fn program(mut self, program: &Path) -> Self {
        self.program = Some(program.to_path_buf());
        self
    }

    fn bin(&self) -> PathBuf {
        self.program.clone().unwrap_or_else(proftpd_bin)
    }

    /// Also waits for proftpd to listen on `port` at start (for `<VirtualHost>`s).
    pub fn wait_port(mut self, port: u16) -> Self {
        self.wait_ports.push(port);
        self
    }

    fn users(&self) -> Vec<TestUser> {
        self.users
            .iter()
            .enumerate()
            .map(|(i, (name, password))| TestUser {
                name: name.clone(),
                password: password.clone(),
                uid: 2001 + i as u32,
                gid: 2001 + i as u32,
                home: self.dir().join("home").join(name),
            })
            .collect()
    }

    /// The config text, with `@DIR@`/`@PORT@` replaced.
    fn render(&self, module_dir: &Path) -> String {
        let mut conf = String::from("# Generated by tests/harness/proftpd.rs\n");
        conf.push_str(&core_dso_load_lines(module_dir));
        for (k, v) in &self.base {
            let _ = writeln!(conf, "{k} {v}");
        }
        for m in &self.load {
            let _ = writeln!(conf, "LoadModule {m}");
        }
        if !self.extra.is_empty() {
            conf.push_str("\n# Extra config of the test\n");
            conf.push_str(&self.extra);
        }
        conf.replace("@DIR@", &self.dir().display().to_string())
            .replace("@PORT@", &self.port.to_string())
    }

    /// Writes config, user/group files and home dirs; returns the config path.
    fn write_files(&self, module_dir: &Path) -> PathBuf {
        let dir = self.dir();
        let users = self.users();
        let mut passwd = String::new();
        let mut group = String::new();
        for u in &users {
            let hash = if u.password == "secret" {
                SECRET_HASH.to_owned()
            } else {
                crypt_sha512(&u.password)
            };
            let _ = writeln!(
                passwd,
                "{}:{}:{}:{}::{}:/bin/sh",
                u.name,
                hash,
                u.uid,
                u.gid,
                u.home.display()
            );
            let _ = writeln!(group, "{}:x:{}:", u.name, u.gid);
            fs::create_dir_all(&u.home).expect("create home");
            std::os::unix::fs::chown(&u.home, Some(u.uid), Some(u.gid)).expect("chown home");
            fs::set_permissions(&u.home, fs::Permissions::from_mode(0o755)).expect("chmod home");
        }
        write_private(&dir.join("ftpd.passwd"), &passwd);
        write_private(&dir.join("ftpd.group"), &group);
        let conf_path = dir.join("proftpd.conf");
        write_private(&conf_path, &self.render(module_dir));
        conf_path
    }

    /// Runs `proftpd -t -c <conf>`: returns whether the config was accepted and the
    /// combined stdout+stderr.
    pub fn check_config(self) -> (bool, String) {
        let module_dir = ModuleDir::within(&self.modules, self.dir());
        let _ban_lock = self
            .load
            .iter()
            .any(|m| m == "mod_ban.c")
            .then(util::BanTableLock::acquire);
        let conf = self.write_files(module_dir.path());
        let out = Command::new(proftpd_bin())
            .arg("-t")
            .arg("-c")
            .arg(&conf)
            .args(&self.args)
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .output()
            .unwrap_or_else(|e| panic!("cannot run {}: {e}", proftpd_bin().display()));
        if _ban_lock.is_some() {
            util::remove_ban_tables(&conf);
        }
        let mut text = String::from_utf8_lossy(&out.stdout).into_owned();
        text.push_str(&String::from_utf8_lossy(&out.stderr));
        (out.status.success(), text)
    }

    /// Starts the server and waits (up to [`START_TIMEOUT`]) until it listens.
    /// Panics with the config and logs if proftpd exits or does not come up.
    pub fn start(mut self) -> Proftpd {
        let module_dir = ModuleDir::within(&self.modules, self.dir());
        let mut ban_lock = self
            .load
            .iter()
            .any(|m| m == "mod_ban.c")
            .then(util::BanTableLock::acquire);
        let mut attempt = 0;
        loop {
            attempt += 1;
            let conf_path = self.write_files(module_dir.path());
            let stderr_path = self.dir().join("proftpd.stderr");
            for log in ["proftpd.stderr", "system.log"] {
                let _ = fs::remove_file(self.dir().join(log));
            }
            let out = fs::File::create(&stderr_path).expect("create stderr log");
            // -n: stay in the foreground (the child is the master); -q: after startup,
            // log to SystemLog instead of stderr (as in production). Errors while
            // parsing the config still go to stderr.
            let child = Command::new(self.bin())
                .args(["-n", "-q", "-c"])
                .arg(&conf_path)
                .args(&self.args)
                .envs(self.env.iter().map(|(k, v)| (k, v)))
                .stdin(Stdio::null())
                .stdout(out.try_clone().expect("dup"))
                .stderr(out)
                .spawn()
                .unwrap_or_else(|e| panic!("cannot run {}: {e}", self.bin().display()));
            let mut server = Proftpd {
                master_pid: child.id(),
                child: Some(child),
                port: self.port,
                conf_path,
                users: self.users(),
                sessions_seen: Vec::new(),
                dir: None,
                _ban_lock: None,
            };
            let mut ports = vec![self.port];
            ports.extend(&self.wait_ports);
            match server.wait_listening(&ports) {
                Ok(()) => {
                    server.dir = Some(self.dir);
                    server._ban_lock = ban_lock.take();
                    return server;
                }
                Err(why) => {
                    server.stop_quietly();
                    let logs = dump_dir(self.dir.path());
                    if logs.contains("Address already in use") && attempt < 5 {
                        self.port = util::free_port();
                        continue;
                    }
                    panic!("proftpd did not start: {why}\n{logs}");
                }
            }
        }
    }
}

/// Writes a root-only file.
fn write_private(path: &Path, text: &str) {
    fs::write(path, text).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
    fs::set_permissions(path, fs::Permissions::from_mode(0o600)).expect("chmod");
}

/// SHA-512 crypt hash via `openssl passwd -6`.
fn crypt_sha512(password: &str) -> String {
    let out = Command::new("openssl")
        .args(["passwd", "-6", "-stdin"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .and_then(|mut child| {
            use std::io::Write;
            child
                .stdin
                .take()
                .unwrap()
                .write_all(format!("{password}\n").as_bytes())?;
            child.wait_with_output()
        })
        .expect("openssl passwd -6");
    assert!(out.status.success(), "openssl passwd failed");
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

/// Renders the config and every file in `dir` and its subdirs (except the scoreboard,
/// `home/` and `modules/`) for failure reports.
fn dump_dir(dir: &Path) -> String {
    fn collect(dir: &Path, top: bool, out: &mut Vec<PathBuf>) {
        let Ok(entries) = fs::read_dir(dir) else {
            return;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            let Ok(ft) = entry.file_type() else { continue };
            let name = entry.file_name();
            let skip = top && (name == "home" || name == "modules");
            if ft.is_dir() && !skip {
                collect(&path, false, out);
            } else if ft.is_file() && !name.to_string_lossy().starts_with("proftpd.scoreboard") {
                out.push(path);
            }
        }
    }
    let mut files = Vec::new();
    collect(dir, true, &mut files);
    files.sort();
    // The config first, then the rest.
    files.sort_by_key(|p| p.file_name().is_none_or(|n| n != "proftpd.conf"));
    let mut out = format!("==== proftpd files in {} ====\n", dir.display());
    for path in files {
        let name = path
            .strip_prefix(dir)
            .unwrap_or(&path)
            .display()
            .to_string();
        let _ = writeln!(out, "---- {name} ----");
        out.push_str(&util::read_tail(&path, 64 * 1024));
        if !out.ends_with('\n') {
            out.push('\n');
        }
    }
    out.push_str("==== end of proftpd files ====\n");
    out
}

/// A running proftpd (`proftpd -n`, so the process we spawned is the master).
/// Dropping it kills the server (SIGKILL, fast). If the test is panicking (or
/// `PROFTPD_RS_DUMP_LOGS` is set), drop instead stops it gracefully and then prints the
/// config and all logs in its dir to stderr. Call [`Proftpd::stop`] before asserting on
/// output that proftpd or a module writes at shutdown or session end.
pub struct Proftpd {
    /// `None` once stopped.
    child: Option<Child>,
    master_pid: u32,
    port: u16,
    conf_path: PathBuf,
    users: Vec<TestUser>,
    sessions_seen: Vec<u32>,
    dir: Option<TestDir>,
    /// Held while a server with mod_ban runs (see [`util::BanTableLock`]);
    /// released after `Drop` has stopped it.
    _ban_lock: Option<util::BanTableLock>,
}

impl Proftpd {
    /// Builder with the base config, `alice`/`bob` as users and the given module dir.
    pub fn builder(modules: Modules) -> ProftpdBuilder {
        ProftpdBuilder::new(modules)
    }

    /// Shorthand: start with `LoadModule` lines and extra config.
    pub fn start(modules: Modules, load: &[&str], extra: &str) -> Proftpd {
        Proftpd::builder(modules)
            .load_modules(load)
            .config(extra)
            .start()
    }

    fn wait_listening(&mut self, ports: &[u16]) -> Result<(), String> {
        let pid = self.pid();
        let mut exited = None;
        let up = util::wait_until(START_TIMEOUT, || {
            if let Some(status) = self
                .child
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten())
            {
                exited = Some(status);
                return true;
            }
            ports.iter().all(|&p| util::pid_listens_on(pid, p))
        });
        match exited {
            Some(status) => Err(format!("proftpd exited with {status}")),
            None if up => Ok(()),
            None => Err(format!(
                "not listening on {ports:?} after {START_TIMEOUT:?}"
            )),
        }
    }

    /// The main port on 127.0.0.1.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The master's pid (also after `stop()`).
    pub fn pid(&self) -> u32 {
        self.master_pid
    }

    /// Whether the master is still running (false after `stop()` or if it died).
    pub fn is_running(&mut self) -> bool {
        self.child
            .as_mut()
            .is_some_and(|c| matches!(c.try_wait(), Ok(None)))
    }

    /// The temp dir holding config, logs, scoreboard, pid file and homes.
    pub fn dir(&self) -> &Path {
        self.dir.as_ref().expect("dir").path()
    }

    /// `<dir>/<name>`.
    pub fn path(&self, name: &str) -> PathBuf {
        self.dir().join(name)
    }

    pub fn config_path(&self) -> &Path {
        &self.conf_path
    }

    /// `SystemLog` file.
    pub fn system_log(&self) -> PathBuf {
        self.path("system.log")
    }

    /// proftpd's stdout+stderr.
    pub fn stderr_log(&self) -> PathBuf {
        self.path("proftpd.stderr")
    }

    /// The users in the `AuthUserFile`.
    pub fn users(&self) -> &[TestUser] {
        &self.users
    }

    /// Home dir of a test user.
    pub fn home(&self, user: &str) -> PathBuf {
        self.users
            .iter()
            .find(|u| u.name == user)
            .unwrap_or_else(|| panic!("no test user {user}"))
            .home
            .clone()
    }

    /// Contents of `<dir>/<name>` (lossy UTF-8). Panics if it cannot be read.
    pub fn read_file(&self, name: &str) -> String {
        let path = self.path(name);
        let bytes = fs::read(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
        String::from_utf8_lossy(&bytes).into_owned()
    }

    /// Contents of `<dir>/<name>`, or `None` if it does not exist (yet).
    pub fn try_read_file(&self, name: &str) -> Option<Vec<u8>> {
        fs::read(self.path(name)).ok()
    }

    /// Contents of `<dir>/<name>` (lossy UTF-8), empty while it does not exist.
    pub fn file_text(&self, name: &str) -> String {
        String::from_utf8_lossy(&self.try_read_file(name).unwrap_or_default()).into_owned()
    }

    /// Waits ([`DEFAULT_TIMEOUT`]) until `<dir>/<name>` contains `needle`; returns its
    /// contents, panics (showing them) on timeout.
    pub fn wait_for_text(&self, name: &str, needle: &str) -> String {
        let mut text = String::new();
        let found = util::wait_until(DEFAULT_TIMEOUT, || {
            text = self.file_text(name);
            text.contains(needle)
        });
        assert!(found, "{needle:?} not in {name}:\n{text}");
        text
    }

    /// Waits ([`DEFAULT_TIMEOUT`]) until `<dir>/<name>` has `n` complete lines.
    pub fn wait_for_lines(&self, name: &str, n: usize) -> Vec<String> {
        util::wait_for_lines(self.path(name), n, DEFAULT_TIMEOUT)
    }

    /// Opens an FTP control connection (and reads the 220 banner).
    pub fn connect(&self) -> Ftp {
        Ftp::connect(self.port)
    }

    /// Connects and logs in.
    pub fn login(&self, user: &str, password: &str) -> Ftp {
        let mut ftp = self.connect();
        ftp.login(user, password);
        ftp
    }

    /// The pids of the session processes right now. Sessions still running after
    /// the master stopped (re-parented) are included.
    pub fn session_pids(&mut self) -> Vec<u32> {
        let mut pids = if self.child.is_some() {
            util::child_pids(self.pid())
        } else {
            Vec::new()
        };
        for &p in &self.sessions_seen {
            if !pids.contains(&p) && util::process_alive(p) {
                pids.push(p);
            }
        }
        for &p in &pids {
            if !self.sessions_seen.contains(&p) {
                self.sessions_seen.push(p);
            }
        }
        pids
    }

    /// Waits until no session process is left; returns false on timeout.
    pub fn wait_for_no_sessions(&mut self, timeout: Duration) -> bool {
        util::wait_until(timeout, || self.session_pids().is_empty())
    }

    /// Sends a signal to the master (e.g. `libc::SIGHUP` to re-read the config).
    pub fn signal(&self, sig: i32) {
        util::send_signal(self.pid(), sig);
    }

    /// Sends SIGHUP and waits until the master has re-read its config and is back in its
    /// accept loop. Panics if the master dies (e.g. the new config is refused).
    pub fn reload(&mut self) {
        const MARK: &str = "received SIGHUP -- master server reparsing configuration file";
        let before = self.logs().matches(MARK).count();
        self.signal(libc::SIGHUP);
        let pid = self.pid();
        let mut died = false;
        let done = util::wait_until(DEFAULT_TIMEOUT, || {
            if !self.is_running() {
                died = true;
                return true;
            }
            self.logs().matches(MARK).count() > before && util::in_poll_or_select(pid)
        });
        assert!(!died, "proftpd exited on SIGHUP");
        assert!(
            done,
            "proftpd did not finish reloading its config in {DEFAULT_TIMEOUT:?}"
        );
    }

    /// Stops the server: SIGTERM to the master, wait (SIGKILL after 10 s), then make
    /// sure no session process is left. Panics if the master cannot be reaped.
    pub fn stop(&mut self) {
        if let Err(e) = self.stop_inner() {
            panic!("stopping proftpd: {e}");
        }
    }

    fn stop_quietly(&mut self) {
        if let Err(e) = self.stop_inner() {
            eprintln!("[harness] stopping proftpd: {e}");
        }
    }

    fn stop_inner(&mut self) -> std::io::Result<()> {
        let Some(mut child) = self.child.take() else {
            return Ok(());
        };
        let mut sessions = util::child_pids(child.id());
        sessions.extend(self.sessions_seen.iter().copied());
        self.sessions_seen = sessions.clone();
        util::terminate_child(&mut child, Duration::from_secs(10))?;
        // The master's shutdown signals its sessions; give them a moment, then insist.
        let gone = |s: &[u32]| s.iter().all(|&p| !util::process_alive(p));
        if !util::wait_until(Duration::from_secs(5), || gone(&sessions)) {
            for &p in &sessions {
                util::send_signal(p, libc::SIGKILL);
            }
            util::wait_until(Duration::from_secs(5), || gone(&sessions));
        }
        Ok(())
    }

    /// SystemLog followed by proftpd's stderr: everything proftpd logged (with `-q`,
    /// config-time messages are on stderr and runtime ones in the SystemLog).
    pub fn logs(&self) -> String {
        let read = |p: PathBuf| fs::read(p).map(|b| String::from_utf8_lossy(&b).into_owned());
        let mut text = read(self.system_log()).unwrap_or_default();
        text.push_str(&read(self.stderr_log()).unwrap_or_default());
        text
    }

    /// Waits ([`DEFAULT_TIMEOUT`]) until [`Proftpd::logs`] contains `needle`; returns the
    /// logs, panics on timeout.
    pub fn wait_for_log(&self, needle: &str) -> String {
        let mut logs = String::new();
        if !util::wait_until(DEFAULT_TIMEOUT, || {
            logs = self.logs();
            logs.contains(needle)
        }) {
            panic!("timed out waiting for {needle:?} in proftpd's logs");
        }
        logs
    }

    /// Kills master and sessions at once with SIGKILL (no shutdown handlers run, so
    /// module exit-time output is lost). Used by drop when the test passed: a graceful
    /// stop costs ~0.5 s because proftpd sleeps 200 ms after an interrupted select().
    pub fn kill(&mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        let master = child.id();
        // Stopped, the master cannot fork new sessions while we collect them.
        util::send_signal(master, libc::SIGSTOP);
        let mut sessions = util::child_pids(master);
        sessions.extend(self.sessions_seen.iter().copied());
        for &p in &sessions {
            util::send_signal(p, libc::SIGKILL);
        }
        let _ = child.kill();
        let _ = child.wait();
        util::wait_until(Duration::from_secs(5), || {
            sessions.iter().all(|&p| !util::process_alive(p))
        });
        self.sessions_seen = sessions;
    }

    /// The config and every log file in the dir, as printed on failure.
    pub fn dump_logs(&self) -> String {
        dump_dir(self.dir())
    }
}

impl Drop for Proftpd {
    fn drop(&mut self) {
        if self.dir.is_none() {
            return;
        }
        // Debug builds of our modules report a broken host rule (module state
        // held across a call into proftpd, see src/host/state.rs) in the
        // SystemLog: that fails the test, whatever it checked.
        let broken = !std::thread::panicking() && self.logs().contains("host rule broken");
        let dump = broken
            || std::thread::panicking()
            || std::env::var_os("PROFTPD_RS_DUMP_LOGS").is_some();
        if dump {
            // Stop gracefully first so the logs are complete.
            self.stop_quietly();
            eprintln!("{}", self.dump_logs());
        } else if self._ban_lock.is_some() {
            // Gracefully: mod_ban removes its shared-memory ban table only
            // then (a killed master leaves it behind, bans included, for a
            // later table whose key collides; see util::BanTableLock).
            self.stop_quietly();
        } else {
            self.kill();
        }
        if self._ban_lock.is_some() {
            util::remove_ban_tables(&self.conf_path);
        }
        assert!(
            !broken,
            "a module broke the host's re-entrancy rule (logs above)"
        );
    }
}

/// Whether this proftpd survives `HOST` to a `<VirtualHost>` with none of our
/// modules loaded. Debian sid's 1.3.9e does not: its core dies of SIGSEGV on
/// any HOST to a vhost (Debian's own modules only, or none). Probed once per
/// test binary; the tests of HOST skip, saying so, where it fails, and run
/// again once the core is fixed.
pub fn core_survives_host() -> bool {
    static SURVIVES: OnceLock<bool> = OnceLock::new();
    *SURVIVES.get_or_init(|| {
        let server = Proftpd::builder(Modules::DebianC)
            .config("<VirtualHost 127.0.0.1>\nPort @PORT@\nServerAlias probe.test\n</VirtualHost>\n")
            .start();
        let mut ftp = server.connect();
        let survives = ftp.try_cmd("HOST probe.test").is_ok_and(|r| r.code == 220);
        drop(ftp);
        if !survives {
            let version = std::process::Command::new(proftpd_bin())
                .arg("-v")
                .output()
                .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
                .unwrap_or_default();
            eprintln!(
                "note: {version} itself dies on HOST to a <VirtualHost> (no module of ours loaded): \
                 the HOST tests are skipped"
            );
        }
        survives
    })
}

/// In a test of HOST: return (skipping the test, with a note) when this proftpd's
/// core cannot do HOST at all ([`core_survives_host`]).
#[macro_export]
macro_rules! skip_unless_core_survives_host {
    () => {
        if !$crate::harness::core_survives_host() {
            eprintln!("skipped: this proftpd's core crashes on HOST");
            return;
        }
    };
}

/// Runs `proftpd -t` on the base config plus `LoadModule` lines and `extra`. Returns
/// whether proftpd accepted it and its combined output, e.g.
/// `fatal: UniqueIDEngine: expected Boolean parameter on line 24 of '/tmp/.../proftpd.conf'`.
pub fn check_config(modules: Modules, load: &[&str], extra: &str) -> (bool, String) {
    Proftpd::builder(modules)
        .load_modules(load)
        .config(extra)
        .check_config()
}
