//! mod_log_forensic against the real proftpd (run as root): blocks written
//! for failed logins, untimely deaths and module policies; buffer size and
//! capture selection; the fixes over the C module; side by side with
//! Debian's C mod_log_forensic; bad configuration.

mod harness;

use harness::{DEFAULT_TIMEOUT, Ftp, Modules, Proftpd, check_config, wait_until};
use std::fs;
use std::path::Path;

/// A user with a password distinctive enough to grep every file for.
const USER: &str = "carol";
const PASSWORD: &str = "S3cretPassQ";
const WRONG: &str = "Wr0ngPassZ";
const FORENSIC: &str = "mod_log_forensic.c";

/// Start proftpd with `load` (add FORENSIC where it should load) and `conf`.
fn start(modules: Modules, load: &[&str], conf: &str) -> Proftpd {
    start_env(modules, load, conf, &[])
}

fn start_env(modules: Modules, load: &[&str], conf: &str, env: &[(&str, &str)]) -> Proftpd {
    let mut b = Proftpd::builder(modules)
        .user(USER, PASSWORD)
        .load_modules(load)
        .config(conf);
    for (k, v) in env {
        b = b.env(k, v);
    }
    b.start()
}

fn wait_no_sessions(s: &mut Proftpd) {
    assert!(
        s.wait_for_no_sessions(DEFAULT_TIMEOUT),
        "sessions still running:\n{}",
        s.logs()
    );
}

/// No file in the server's directory (but the config) contains `text`.
fn assert_no_text_anywhere(s: &Proftpd, text: &str) {
    fn walk(p: &Path, text: &str) {
        for e in fs::read_dir(p).unwrap().flatten() {
            let path = e.path();
            let ft = e.file_type().unwrap();
            if ft.is_dir() {
                walk(&path, text);
            } else if ft.is_file() {
                let bytes = fs::read(&path).unwrap_or_default();
                let found = bytes.windows(text.len()).any(|w| w == text.as_bytes());
                let is_conf = path.file_name().is_some_and(|n| n == "proftpd.conf");
                assert!(!found || is_conf, "{text:?} found in {}", path.display());
            }
        }
    }
    walk(s.dir(), text);
}

/// The blocks in a forensic log: (criterion title, header lines, message lines).
#[derive(Debug)]
struct Block {
    title: String,
    header: Vec<(String, String)>,
    messages: Vec<String>,
}

fn blocks(text: &str) -> Vec<Block> {
    let mut out = Vec::new();
    let mut lines = text.lines();
    while let Some(l) = lines.next() {
        let Some(title) = l
            .strip_prefix("-----BEGIN ")
            .and_then(|t| t.strip_suffix(" FORENSICS-----"))
        else {
            panic!("expected a BEGIN marker, got {l:?} in:\n{text}");
        };
        let mut header = Vec::new();
        for l in lines.by_ref() {
            if l.is_empty() {
                break;
            }
            let (k, v) = l.split_once(": ").expect("header line");
            header.push((k.to_string(), v.to_string()));
        }
        let end = format!("-----END {title} FORENSICS-----");
        let mut messages = Vec::new();
        for l in lines.by_ref() {
            if l == end {
                break;
            }
            messages.push(l.to_string());
        }
        out.push(Block {
            title: title.to_string(),
            header,
            messages,
        });
    }
    out
}

fn read(path: &Path) -> String {
    String::from_utf8_lossy(&fs::read(path).unwrap_or_default()).into_owned()
}

fn forensic_blocks(s: &Proftpd) -> Vec<Block> {
    blocks(&read(&s.path("forensic.log")))
}

/// Wait until the forensic log holds `n` complete blocks.
fn wait_blocks(s: &Proftpd, n: usize) -> Vec<Block> {
    let path = s.path("forensic.log");
    let ok = wait_until(DEFAULT_TIMEOUT, || {
        read(&path).matches("-----END ").count() >= n
    });
    assert!(ok, "no {n} forensic block(s) in time:\n{}", s.logs());
    forensic_blocks(s)
}

fn failed_login(s: &Proftpd) {
    let mut ftp = s.connect();
    assert_eq!(ftp.cmd(&format!("USER {}", USER)).code, 331);
    assert_eq!(ftp.cmd(&format!("PASS {WRONG}")).code, 530);
    ftp.quit();
}

const ENGINE: &str = "
TraceLog @DIR@/trace.log
Trace DEFAULT:0
ForensicLogEngine on
ForensicLogFile @DIR@/forensic.log
";

fn header_keys(b: &Block) -> Vec<&str> {
    b.header.iter().map(|(k, _)| k.as_str()).collect()
}

#[test]
fn failed_login_writes_one_block_with_headers_and_filtered_trace_messages() {
    let mut s = start(Modules::Ours, &[FORENSIC, "mod_unique_id.c"], ENGINE);
    failed_login(&s);
    let b = wait_blocks(&s, 1);
    assert_eq!(b.len(), 1);
    let b = &b[0];
    assert_eq!(b.title, "FAILED LOGIN");
    assert_eq!(
        header_keys(b),
        [
            "Client-Address",
            "Server-Address",
            "Elapsed",
            "Protocol",
            "UID",
            "GID",
            "UNIQUE_ID",
            "Raw-Bytes-In",
            "Raw-Bytes-Out",
            "Total-Bytes-In",
            "Total-Bytes-Out",
            "Total-Files-In",
            "Total-Files-Out"
        ]
    );
    let h = |k: &str| b.header.iter().find(|(x, _)| x == k).unwrap().1.clone();
    assert_eq!(h("Client-Address"), "127.0.0.1");
    assert!(
        h("Server-Address").ends_with(&format!("127.0.0.1:{}", s.port())),
        "{}",
        h("Server-Address")
    );
    assert_eq!(h("Protocol"), "ftp");
    assert_eq!(h("UNIQUE_ID").len(), 24, "{}", h("UNIQUE_ID"));
    assert!(h("Raw-Bytes-In").parse::<u64>().unwrap() > 0);
    assert!(h("Elapsed").parse::<u64>().is_ok());

    // Trace messages are captured although `Trace DEFAULT:0` filters them
    // all out of the TraceLog.
    assert!(b.messages.iter().any(|m| m.starts_with("[TraceLog:")));
    assert!(
        b.messages.iter().any(|m| m.starts_with("[SystemLog:5] ")
            && m.contains(&format!("USER {} (Login failed)", USER)))
    );
    // (Some messages span lines: a trace of a file line read keeps its LF.)
    assert!(
        b.messages.iter().filter(|m| m.starts_with('[')).all(|m| [
            "[TraceLog:",
            "[SystemLog:",
            "[syslog:"
        ]
        .iter()
        .any(|p| m.starts_with(p))),
        "{:?}",
        b.messages
    );
    assert_eq!(read(&s.path("trace.log")).matches("<auth:").count(), 0);
    // The newest message (which the C module leaves out) is the dispatch of
    // this very LOG_CMD_ERR handler.
    let last = b.messages.last().unwrap();
    assert!(
        last.contains("dispatching LOG_CMD_ERR command 'PASS (hidden)' to mod_log_forensic"),
        "{last}"
    );

    // A successful login writes nothing more.
    let mut ftp = s.connect();
    ftp.login(USER, PASSWORD);
    assert_eq!(ftp.cmd("PWD").code, 257);
    ftp.quit();
    wait_no_sessions(&mut s);
    assert_eq!(forensic_blocks(&s).len(), 1);

    // Never a password, in any file.
    assert_no_text_anywhere(&s, WRONG);
    assert_no_text_anywhere(&s, PASSWORD);

    // Opened as root before chroot, mode 0640.
    use std::os::unix::fs::PermissionsExt;
    let mode = fs::metadata(s.path("forensic.log"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o640);
}

#[test]
fn each_failed_attempt_gets_its_own_block() {
    let s = start(Modules::Ours, &[FORENSIC], ENGINE);
    let mut ftp = s.connect();
    ftp.cmd(&format!("USER {}", USER));
    assert_eq!(ftp.cmd(&format!("PASS {WRONG}")).code, 530);
    ftp.cmd(&format!("USER {}", USER));
    assert_eq!(ftp.cmd(&format!("PASS {WRONG}")).code, 530);
    ftp.quit();
    let b = wait_blocks(&s, 2);
    assert_eq!(b.len(), 2);
    // The second block holds only what happened since the first.
    assert!(b[1].messages.len() < b[0].messages.len());
    let user_cmd = format!("'USER {}'", USER);
    assert!(
        b[1].messages.iter().any(|m| m.contains(&user_cmd)),
        "{:?}",
        b[1].messages
    );
}

#[test]
fn buffer_size_keeps_exactly_the_last_messages_including_the_newest() {
    // Trace everything to the TraceLog too: its lines are the very bytes the
    // core hands to the capture, so they tell which were the last five.
    let s = start(
        Modules::Ours,
        &[FORENSIC],
        "
TraceLog @DIR@/trace.log
Trace DEFAULT:20
ForensicLogEngine on
ForensicLogFile @DIR@/forensic.log
ForensicLogBufferSize 5
ForensicLogCapture TraceLog
",
    );
    failed_login(&s);
    let b = wait_blocks(&s, 1);
    let got: Vec<String> = b[0]
        .messages
        .iter()
        .map(|m| {
            let (prefix, rest) = m.split_once("] ").unwrap();
            assert!(prefix.starts_with("[TraceLog:"), "{m}");
            rest.to_string()
        })
        .collect();
    assert_eq!(got.len(), 5, "{got:?}");
    let trace = read(&s.path("trace.log"));
    let lines: Vec<&str> = trace.lines().collect();
    let end = lines
        .iter()
        .position(|l| {
            l.contains("dispatching LOG_CMD_ERR command 'PASS (hidden)' to mod_log_forensic.c")
        })
        .expect("dispatch line in the TraceLog");
    assert_eq!(got, lines[end - 4..=end], "trace log:\n{trace}");
}

#[test]
fn capture_systemlog_only() {
    let s = start(
        Modules::Ours,
        &[FORENSIC],
        "
TraceLog @DIR@/trace.log
Trace DEFAULT:0
ForensicLogEngine on
ForensicLogFile @DIR@/forensic.log
ForensicLogCapture SystemLog
",
    );
    failed_login(&s);
    let b = wait_blocks(&s, 1);
    assert!(!b[0].messages.is_empty());
    for m in &b[0].messages {
        assert!(m.starts_with("[SystemLog:"), "{m}");
    }
}

/// ExtendedLog lines are captured too (the C module listens for an event
/// name the core never raises, `core.log.extlog`, and so never sees them).
#[test]
fn capture_extendedlog() {
    let mut s = start(
        Modules::Ours,
        &[FORENSIC],
        "
LogFormat forensic \"%u %r\"
ExtendedLog @DIR@/ext.log ALL forensic
ForensicLogEngine on
ForensicLogFile @DIR@/forensic.log
ForensicLogCapture ExtendedLog
",
    );
    failed_login(&s);
    let b = wait_blocks(&s, 1);
    let want = "[ExtendedLog:0] - PASS (hidden)".to_string();
    assert!(b[0].messages.contains(&want), "{:?}", b[0].messages);
    assert!(
        b[0].messages
            .iter()
            .all(|m| m.starts_with("[ExtendedLog:0] ")),
        "{:?}",
        b[0].messages
    );
    wait_no_sessions(&mut s);
    assert_no_text_anywhere(&s, WRONG);
}

fn kill_session(s: &mut Proftpd, sig: i32, title: &str) -> Block {
    let mut ftp = s.connect();
    ftp.login(USER, PASSWORD);
    let pid = s.session_pids();
    assert_eq!(pid.len(), 1, "{pid:?}");
    // Signal the session when it waits for the next command, so that what
    // it logged is the same from run to run.
    assert!(wait_until(DEFAULT_TIMEOUT, || {
        harness::util::in_poll_or_select(pid[0])
    }));
    // SAFETY: signalling a process we started.
    unsafe {
        libc::kill(pid[0] as i32, sig);
    }
    let b = wait_blocks(s, 1);
    assert_eq!(b.len(), 1);
    assert_eq!(b[0].title, title);
    let user = b[0].header.iter().find(|(k, _)| k == "User");
    assert_eq!(user.map(|(_, v)| v.as_str()), Some(USER));
    drop(ftp);
    b.into_iter().next().unwrap()
}

/// TransferLog lines are captured (seen in the block of a killed session).
#[test]
fn capture_transferlog() {
    let mut s = start(
        Modules::Ours,
        &[FORENSIC],
        "
ForensicLogEngine on
ForensicLogFile @DIR@/forensic.log
ForensicLogCapture TransferLog
",
    );
    let mut ftp = s.connect();
    ftp.login(USER, PASSWORD);
    ftp.type_i();
    ftp.stor("upload.bin", b"forensic payload");
    let pid = s.session_pids()[0];
    assert!(wait_until(DEFAULT_TIMEOUT, || {
        harness::util::in_poll_or_select(pid)
    }));
    // SAFETY: signalling a process we started.
    unsafe {
        libc::kill(pid as i32, libc::SIGTERM);
    }
    let b = wait_blocks(&s, 1);
    let xfer = s.read_file("xferlog");
    let want = format!("[TransferLog:0] {}", xfer.lines().next().unwrap());
    assert_eq!(b[0].messages, [want]);
    assert!(xfer.contains("upload.bin") && xfer.contains(USER), "{xfer}");
    drop(ftp);
    wait_no_sessions(&mut s);
}

#[test]
fn untimely_death_on_sigterm() {
    let mut s = start(Modules::Ours, &[FORENSIC], ENGINE);
    kill_session(&mut s, libc::SIGTERM, "UNTIMELY DEATH");
}

/// The file is opened as root before the chroot: a root-only directory
/// outside the user's chroot works, and the block still gets written after
/// login (from inside the chroot, as the user).
#[test]
fn log_file_opened_as_root_before_chroot() {
    use std::os::unix::fs::PermissionsExt;
    let b = Proftpd::builder(Modules::Ours)
        .user(USER, PASSWORD)
        .load_module(FORENSIC)
        .config(
            "ForensicLogEngine on
ForensicLogFile @DIR@/private/forensic.log
DefaultRoot ~
",
        );
    let private = b.dir().join("private");
    fs::create_dir(&private).unwrap();
    fs::set_permissions(&private, fs::Permissions::from_mode(0o700)).unwrap();
    let mut s = b.start();
    let mut ftp = s.connect();
    ftp.login(USER, PASSWORD);
    assert_eq!(ftp.cmd("PWD").text, "\"/\" is the current directory");
    let pid = s.session_pids()[0];
    assert!(wait_until(DEFAULT_TIMEOUT, || {
        harness::util::in_poll_or_select(pid)
    }));
    // SAFETY: signalling a process we started.
    unsafe {
        libc::kill(pid as i32, libc::SIGTERM);
    }
    let path = s.path("private/forensic.log");
    assert!(
        wait_until(DEFAULT_TIMEOUT, || read(&path)
            .contains("-----END UNTIMELY DEATH")),
        "{}",
        s.logs()
    );
    let meta = fs::metadata(&path).unwrap();
    assert_eq!(meta.permissions().mode() & 0o777, 0o640);
    use std::os::unix::fs::MetadataExt;
    assert_eq!(meta.uid(), 0);
    drop(ftp);
    wait_no_sessions(&mut s);
}

#[test]
fn untimely_death_side_by_side_with_the_c_module() {
    let mut ours = start(Modules::Ours, &[FORENSIC], ENGINE);
    let mut theirs = start(Modules::DebianC, &[FORENSIC], ENGINE);
    let a = kill_session(&mut ours, libc::SIGTERM, "UNTIMELY DEATH");
    let b = kill_session(&mut theirs, libc::SIGTERM, "UNTIMELY DEATH");
    compare_with_c(&ours, &a, &theirs, &b);
}

/// SIGSEGV: the core reports it from inside its signal handler, where a
/// block cannot be built safely; like the C module, none is written, and
/// the session still ends at once.
#[test]
fn no_block_on_sigsegv_as_the_c_module() {
    for modules in [Modules::DebianC, Modules::Ours] {
        let mut s = start(modules.clone(), &[FORENSIC], ENGINE);
        let mut ftp = s.connect();
        ftp.login(USER, PASSWORD);
        let pid = s.session_pids()[0];
        assert!(wait_until(DEFAULT_TIMEOUT, || {
            harness::util::in_poll_or_select(pid)
        }));
        // SAFETY: signalling a process we started.
        unsafe {
            libc::kill(pid as i32, libc::SIGSEGV);
        }
        wait_no_sessions(&mut s);
        assert!(
            !read(&s.path("forensic.log")).contains("-----BEGIN"),
            "{modules:?}: {}",
            read(&s.path("forensic.log"))
        );
        drop(ftp);
    }
}

#[test]
fn untimely_death_not_written_when_not_a_criterion() {
    let mut s = start(
        Modules::Ours,
        &[FORENSIC],
        &format!("{ENGINE}\nForensicLogCriteria FailedLogin\n"),
    );
    let mut ftp = s.connect();
    ftp.login(USER, PASSWORD);
    let pids = s.session_pids();
    // SAFETY: signalling a process we started.
    unsafe {
        libc::kill(pids[0] as i32, libc::SIGTERM);
    }
    wait_no_sessions(&mut s);
    drop(ftp);
    assert_eq!(forensic_blocks(&s).len(), 0);
}

#[test]
fn module_config_block_when_a_module_policy_ends_the_session() {
    // mod_load's MaxLoad 0 refuses every session (PR_SESS_DISCONNECT_MODULE_ACL).
    let conf = format!("{ENGINE}\nMaxLoad 0\nForensicLogCriteria ModuleConfig\n");
    // Modules loaded later start their sessions first: load mod_log_forensic
    // after mod_load so that it is capturing when mod_load ends the session
    // (as with the C module).
    let s = start(Modules::Ours, &["mod_load.c", FORENSIC], &conf);
    let mut ftp = Ftp::try_connect(s.port()).unwrap();
    assert_eq!(ftp.banner.code, 421, "{:?}", ftp.banner);
    let b = wait_blocks(&s, 1);
    assert_eq!(b[0].title, "MODULE CONFIG");
    assert!(
        b[0].messages
            .iter()
            .any(|m| m.contains("MaxLoad (0.00) reached: connection denied"))
    );
    let _ = ftp.try_cmd("QUIT");

    // Not a criterion by default.
    let mut s = start(
        Modules::Ours,
        &["mod_load.c", FORENSIC],
        &format!("{ENGINE}\nMaxLoad 0\n"),
    );
    let ftp = Ftp::try_connect(s.port()).unwrap();
    assert_eq!(ftp.banner.code, 421);
    wait_no_sessions(&mut s);
    assert_eq!(forensic_blocks(&s).len(), 0);
}

#[test]
fn module_config_block_when_max_login_attempts_ends_the_session() {
    let s = start(
        Modules::Ours,
        &[FORENSIC],
        &format!("{ENGINE}\nMaxLoginAttempts 1\nForensicLogCriteria ModuleConfig\n"),
    );
    let mut ftp = s.connect();
    ftp.cmd(&format!("USER {}", USER));
    let _ = ftp.try_cmd(&format!("PASS {WRONG}"));
    let b = wait_blocks(&s, 1);
    assert_eq!(b.len(), 1);
    assert_eq!(b[0].title, "MODULE CONFIG");
    assert!(
        b[0].messages
            .iter()
            .any(|m| m.contains("Maximum login attempts (1) exceeded")),
        "{:?}",
        b[0].messages
    );
}

#[test]
fn write_errors_give_one_notice_and_the_session_goes_on() {
    // /dev/full: every write fails with ENOSPC (the C module spins forever).
    let s = start(
        Modules::Ours,
        &[FORENSIC],
        "
ForensicLogEngine on
ForensicLogFile /dev/full
",
    );
    let mut ftp = s.connect();
    for _ in 0..2 {
        ftp.cmd(&format!("USER {}", USER));
        assert_eq!(ftp.cmd(&format!("PASS {WRONG}")).code, 530);
    }
    ftp.login(USER, PASSWORD);
    assert_eq!(ftp.cmd("PWD").code, 257);
    ftp.quit();
    let log = s.logs();
    assert_eq!(
        log.matches("error writing to ForensicLogFile '/dev/full'")
            .count(),
        2,
        "{log}"
    );
    assert!(log.contains("No space left on device"), "{log}");
}

#[test]
fn unsafe_log_file_locations_are_refused_with_a_notice() {
    use std::os::unix::fs::PermissionsExt;
    // A symlink.
    let mut s = start(
        Modules::Ours,
        &[FORENSIC],
        "
ForensicLogEngine on
ForensicLogFile @DIR@/link.log
",
    );
    std::os::unix::fs::symlink(s.path("target.log"), s.path("link.log")).unwrap();
    failed_login(&s);
    wait_no_sessions(&mut s);
    let log = s.logs();
    assert!(
        log.contains("unable to open ForensicLogFile") && log.contains("cannot log to a symlink"),
        "{log}"
    );
    assert!(!s.path("target.log").exists());

    // A world-writable directory.
    let mut s = start(
        Modules::Ours,
        &[FORENSIC],
        "
ForensicLogEngine on
ForensicLogFile @DIR@/open/forensic.log
",
    );
    fs::create_dir(s.path("open")).unwrap();
    fs::set_permissions(s.path("open"), fs::Permissions::from_mode(0o777)).unwrap();
    failed_login(&s);
    wait_no_sessions(&mut s);
    let log = s.logs();
    assert!(log.contains("parent directory is world-writable"), "{log}");
    assert!(!s.path("open/forensic.log").exists());

    // No ForensicLogFile at all: disabled with a notice, sessions fine.
    let mut s = start(Modules::Ours, &[FORENSIC], "ForensicLogEngine on\n");
    let mut ftp = s.connect();
    ftp.login(USER, PASSWORD);
    ftp.quit();
    wait_no_sessions(&mut s);
    assert!(s.logs().contains("missing required ForensicLogFile"));
}

#[test]
fn host_command_switches_to_the_virtual_host_settings() {
    skip_unless_core_survives_host!();
    let mut s = start(
        Modules::Ours,
        &[FORENSIC],
        "
ForensicLogEngine on
ForensicLogFile @DIR@/forensic.log
<VirtualHost 127.0.0.1>
  Port @PORT@
  ServerName \"other\"
  ServerAlias other.test
  AuthUserFile @DIR@/ftpd.passwd
  AuthGroupFile @DIR@/ftpd.group
  AuthOrder mod_auth_file.c
  ForensicLogEngine on
  ForensicLogFile @DIR@/other.log
  ForensicLogBufferSize 3
</VirtualHost>
",
    );
    let mut ftp = s.connect();
    let r = ftp.cmd("HOST other.test");
    assert_eq!(r.code, 220, "{r:?}\n{}", s.logs());
    ftp.cmd(&format!("USER {}", USER));
    assert_eq!(ftp.cmd(&format!("PASS {WRONG}")).code, 530);
    ftp.quit();
    let other = s.path("other.log");
    assert!(
        wait_until(DEFAULT_TIMEOUT, || read(&other)
            .contains("-----END FAILED LOGIN")),
        "{}",
        s.logs()
    );
    let b = blocks(&read(&other));
    assert_eq!(b.len(), 1);
    assert_eq!(b[0].messages.len(), 3, "{:?}", b[0].messages);
    wait_no_sessions(&mut s);
    assert!(read(&s.path("forensic.log")).is_empty());
}

/// write(2)-family calls the process has made so far (/proc/PID/io).
fn write_syscalls(pid: u32) -> u64 {
    let io = fs::read_to_string(format!("/proc/{pid}/io")).unwrap();
    io.lines()
        .find_map(|l| l.strip_prefix("syscw: "))
        .unwrap()
        .trim()
        .parse()
        .unwrap()
}

/// Write syscalls the session makes for one failed PASS (block included).
fn writes_for_failed_pass(s: &mut Proftpd) -> (u64, usize) {
    let mut ftp = s.connect();
    ftp.cmd(&format!("USER {}", USER));
    let pid = s.session_pids()[0];
    let before = write_syscalls(pid);
    assert_eq!(ftp.cmd(&format!("PASS {WRONG}")).code, 530);
    let b = wait_blocks(s, 1);
    let after = write_syscalls(pid);
    ftp.quit();
    (after - before, b[0].messages.len())
}

/// Fix 3: the C module makes three to five write(2) calls per message; ours
/// writes the block at once.
#[test]
fn block_written_with_few_syscalls() {
    let mut ours = start(Modules::Ours, &[FORENSIC], ENGINE);
    let mut theirs = start(Modules::DebianC, &[FORENSIC], ENGINE);
    let (ours_writes, ours_msgs) = writes_for_failed_pass(&mut ours);
    let (c_writes, c_msgs) = writes_for_failed_pass(&mut theirs);
    eprintln!(
        "write syscalls for a failed PASS: ours {ours_writes} ({ours_msgs} messages), C {c_writes} ({c_msgs} messages)"
    );
    assert!(ours_msgs > 100);
    // The reply to the client, a few SystemLog lines, and one block write.
    assert!(ours_writes <= 12, "{ours_writes}");
    assert!(c_writes > 3 * c_msgs as u64, "{c_writes}");
}

/// A panic in our PASS handler (debug-build test hook) is caught and
/// logged; the session carries on.
#[cfg(debug_assertions)]
#[test]
fn panic_in_the_pass_handler_leaves_the_session_alive() {
    let mut s = start_env(
        Modules::Ours,
        &[FORENSIC],
        ENGINE,
        &[("PROFTPD_RS_TEST_PANIC", "mod_log_forensic:on_pass_failed")],
    );
    let mut ftp = s.connect();
    ftp.cmd(&format!("USER {}", USER));
    assert_eq!(ftp.cmd(&format!("PASS {WRONG}")).code, 530);
    ftp.login(USER, PASSWORD);
    assert_eq!(ftp.cmd("PWD").code, 257);
    ftp.quit();
    wait_no_sessions(&mut s);
    assert!(
        s.logs().contains("internal error (panic caught)"),
        "{}",
        s.logs()
    );
    assert_eq!(forensic_blocks(&s).len(), 0);
}

#[test]
fn engine_off_by_default() {
    let mut s = start(
        Modules::Ours,
        &[FORENSIC],
        "ForensicLogFile @DIR@/forensic.log\n",
    );
    failed_login(&s);
    wait_no_sessions(&mut s);
    assert!(!s.path("forensic.log").exists());
}

/// Replace what differs between two runs (times, PIDs, addresses, ports,
/// sizes) so messages can be compared.
fn normalize(m: &str) -> String {
    let mut out = String::with_capacity(m.len());
    let mut chars = m.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '0' && chars.peek() == Some(&'x') {
            chars.next();
            while chars.peek().is_some_and(|c| c.is_ascii_hexdigit()) {
                chars.next();
            }
            out.push('#');
        } else if c.is_ascii_digit() {
            while chars.peek().is_some_and(|c| c.is_ascii_digit()) {
                chars.next();
            }
            out.push('#');
        } else {
            out.push(c);
        }
    }
    out
}

/// The same messages, but for the newest one, which only ours writes.
fn compare_with_c(ours: &Proftpd, a: &Block, theirs: &Proftpd, b: &Block) {
    assert_eq!(a.title, b.title);
    assert_eq!(header_keys(a), header_keys(b));
    let norm =
        |s: &Proftpd, m: &str| normalize(&m.replace(&s.dir().display().to_string(), "<DIR>"));
    let na: Vec<String> = a.messages.iter().map(|m| norm(ours, m)).collect();
    let nb: Vec<String> = b.messages.iter().map(|m| norm(theirs, m)).collect();
    // Ours has the newest message too; everything before it is the same.
    if let Some(i) = (0..nb.len().min(na.len())).find(|&i| na[i] != nb[i]) {
        panic!(
            "message {i} differs:\n ours: {}\n C:    {}",
            a.messages[i], b.messages[i]
        );
    }
    assert_eq!(na.len(), nb.len() + 1, "ours: {:?}", na.last());
}

#[test]
fn side_by_side_with_the_c_module() {
    let ours = start(Modules::Ours, &[FORENSIC], ENGINE);
    let theirs = start(Modules::DebianC, &[FORENSIC], ENGINE);
    failed_login(&ours);
    failed_login(&theirs);
    let a = wait_blocks(&ours, 1);
    let b = wait_blocks(&theirs, 1);
    assert_eq!((a.len(), b.len()), (1, 1));
    let (a, b) = (&a[0], &b[0]);
    compare_with_c(&ours, a, &theirs, b);
    assert!(
        a.messages.last().unwrap().contains("to mod_log_forensic.c"),
        "{:?}",
        a.messages.last()
    );
}

// ---- bad configuration ------------------------------------------------------

#[test]
fn bad_values_for_every_directive_are_refused() {
    let cases: &[(&str, &[&str])] = &[
        ("ForensicLogEngine maybe", &["ForensicLogEngine", "maybe"]),
        ("ForensicLogEngine", &["ForensicLogEngine"]),
        (
            "ForensicLogFile relative/forensic.log",
            &["ForensicLogFile", "relative/forensic.log"],
        ),
        ("ForensicLogFile", &["ForensicLogFile"]),
        ("ForensicLogBufferSize 0", &["ForensicLogBufferSize", "0"]),
        ("ForensicLogBufferSize -5", &["ForensicLogBufferSize", "-5"]),
        (
            "ForensicLogBufferSize lots",
            &["ForensicLogBufferSize", "lots"],
        ),
        ("ForensicLogBufferSize", &["ForensicLogBufferSize"]),
        (
            "ForensicLogCapture SystemLog Bogus",
            &["ForensicLogCapture", "Bogus"],
        ),
        ("ForensicLogCapture", &["ForensicLogCapture"]),
        (
            "ForensicLogCriteria FailedLogin Sometimes",
            &["ForensicLogCriteria", "Sometimes"],
        ),
        ("ForensicLogCriteria", &["ForensicLogCriteria"]),
    ];
    for (line, words) in cases {
        let (ok, out) = check_config(Modules::Ours, &[FORENSIC], line);
        assert!(!ok, "accepted: {line}\n{out}");
        for w in *words {
            assert!(
                out.contains(w),
                "{line}: output does not name {w:?}:\n{out}"
            );
        }
    }
    // Wrong context.
    for d in [
        "ForensicLogEngine on",
        "ForensicLogFile /tmp/x.log",
        "ForensicLogBufferSize 5",
        "ForensicLogCapture SystemLog",
        "ForensicLogCriteria FailedLogin",
    ] {
        let conf = format!("<Directory /tmp>\n  {d}\n</Directory>");
        let (ok, out) = check_config(Modules::Ours, &[FORENSIC], &conf);
        let name = d.split(' ').next().unwrap();
        assert!(!ok, "accepted in <Directory>: {d}\n{out}");
        assert!(out.contains(name) && out.contains("not allowed"), "{out}");
    }
    // And the good values are accepted (case-insensitively), in <Global>
    // and <VirtualHost> too.
    let (ok, out) = check_config(
        Modules::Ours,
        &[FORENSIC],
        "ForensicLogEngine on
ForensicLogFile /var/log/forensic.log
ForensicLogBufferSize 5
ForensicLogCapture unspec unknown transferlog SYSLOG SystemLog ExtendedLog TraceLog
ForensicLogCriteria failedlogin ModuleConfig UntimelyDeath
<Global>
  ForensicLogBufferSize 10
</Global>
<VirtualHost 127.0.0.2>
  ForensicLogEngine off
  ForensicLogCriteria FailedLogin
</VirtualHost>",
    );
    assert!(ok, "{out}");
}

#[test]
fn version_says_rust() {
    let s = start(Modules::Ours, &[FORENSIC], "");
    let out = std::process::Command::new(harness::proftpd_bin())
        .args(["-vv", "-c"])
        .arg(s.config_path())
        .output()
        .unwrap();
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert!(
        text.contains(&format!(
            "mod_log_forensic/{}-rs",
            env!("CARGO_PKG_VERSION")
        )),
        "{text}"
    );
}

// ---- Configurations the C module starts with (issue #22) ------------------

/// Every line the C module starts with, ours starts with too: words after
/// the value are ignored, with a warning naming the directive and the line
/// (the C module ignores them silently); a count as strtoul reads it (`+5`,
/// ` 5`).  Refused for a good reason (README): a count the C module wraps
/// around (`-5` is 4294967291 messages there, 4294967297 is 1).  Side by
/// side with `proftpd -t`.
#[test]
fn configs_the_c_module_starts_with_start() {
    // (line, C starts, ours starts, ours warns)
    let cases: &[(&str, bool, bool, bool)] = &[
        ("ForensicLogEngine on extra", true, true, true),
        ("ForensicLogFile /a /b", true, true, true),
        ("ForensicLogBufferSize 1 2", true, true, true),
        ("ForensicLogBufferSize +5", true, true, false),
        ("ForensicLogBufferSize \" 5\"", true, true, false),
        ("ForensicLogBufferSize -5", true, false, false),
        ("ForensicLogBufferSize 4294967297", true, false, false),
        ("ForensicLogBufferSize 0", false, false, false),
        ("ForensicLogCapture SystemLog TraceLog", true, true, false),
        ("ForensicLogCapture all", false, false, false),
        ("ForensicLogCriteria FailedLogin extra", false, false, false),
    ];
    let results: Vec<(bool, bool, String)> = std::thread::scope(|s| {
        let handles: Vec<_> = cases
            .iter()
            .map(|(line, ..)| {
                s.spawn(move || {
                    let (c, _) = check_config(Modules::DebianC, &[FORENSIC], line);
                    let (ours, out) = check_config(Modules::Ours, &[FORENSIC], line);
                    (c, ours, out)
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    for ((line, c_starts, ours_starts, warns), (c, ours, out)) in cases.iter().zip(&results) {
        eprintln!("config {line:?}: C {c}, ours {ours}");
        assert_eq!(*c, *c_starts, "C: {line}");
        assert_eq!(*ours, *ours_starts, "ours: {line}\n{out}");
        let directive = line.split_whitespace().next().unwrap();
        let warned = out.lines().any(|l| {
            l.contains(&format!(
                "mod_log_forensic/{}-rs: {directive}: ",
                env!("CARGO_PKG_VERSION")
            )) && l.contains("ignored")
                && l.contains("(line ")
        });
        assert_eq!(warned, *warns, "warning: {line}\n{out}");
    }
}
