//! mod_xferlog against the real proftpd: wu-orig, wu-ext and anon lines for
//! RETR/STOR/APPE/STOU, restarts, aborts, anonymous and chrooted sessions,
//! SFTP and SCP (mod_sftp), bad configuration, and side by side with
//! ProFTPD's own TransferLog.

mod harness;

use harness::util::run_ok;
use harness::{ALICE, BOB, Modules, Proftpd, ProftpdBuilder};
use proftpd_rs::xferlog::format::{
    AccessMode, Completion, Direction, Format, Record, TransferType, parse_line,
};
use std::io::Read;
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::Command;

const ORIG: &str = "xfer-orig.log";
const EXT: &str = "xfer-ext.log";

/// A server with our modules and mod_xferlog loaded.
fn builder() -> ProftpdBuilder {
    Proftpd::builder(Modules::Ours).load_module("mod_xferlog.c")
}

fn server(extra: &str) -> Proftpd {
    builder().config(extra).start()
}

/// A server with an `<Anonymous @DIR@/anon>` section in which the login
/// `anonymous` is served as alice, with `inside` in it and `outside` before
/// it; `files` (path under the anon root, content) are made first.
fn anon_server(outside: &str, inside: &str, files: &[(&str, &[u8])]) -> Proftpd {
    let b = builder();
    let root = b.dir().join("anon");
    std::fs::create_dir_all(&root).unwrap();
    for (name, data) in files {
        let path = root.join(name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, data).unwrap();
    }
    b.config(&format!(
        "{outside}<Anonymous @DIR@/anon>\n  User alice\n  Group alice\n  \
         UserAlias anonymous alice\n{inside}</Anonymous>\n"
    ))
    .start()
}

/// Gives `path` to alice (uid/gid 2001).
fn chown_alice(path: &Path) {
    std::os::unix::fs::chown(path, Some(2001), Some(2001)).unwrap();
}

fn both_logs() -> String {
    format!("XferLog @DIR@/{ORIG}\nXferLog @DIR@/{EXT} wu-ext\n")
}

fn records(server: &Proftpd, name: &str, n: usize) -> Vec<Record> {
    server
        .wait_for_lines(name, n)
        .iter()
        .enumerate()
        .map(|(i, l)| parse_line(l, i + 1).unwrap_or_else(|e| panic!("{name}: {e}: {l}")))
        .collect()
}

#[test]
fn binary_and_ascii_retr_stor() {
    let s = server(&both_logs());
    let mut ftp = s.login(ALICE.0, ALICE.1);
    let home = s.home("alice");
    ftp.type_i();
    ftp.stor("b.bin", b"0123456789");
    assert_eq!(ftp.retr("b.bin"), b"0123456789");
    ftp.type_a();
    ftp.stor("a.txt", b"line1\r\nline2\r\n");
    ftp.retr("a.txt");
    ftp.quit();
    let o = records(&s, ORIG, 4);
    let e = records(&s, EXT, 4);
    let bin = format!("{}/b.bin", home.display());
    let txt = format!("{}/a.txt", home.display());
    for r in o.iter().chain(&e) {
        assert_eq!(r.username, "alice");
        assert_eq!(r.access_mode, AccessMode::Real);
        assert_eq!(r.remote_host, "127.0.0.1");
        assert_eq!(r.service.as_deref(), Some("ftp"));
        assert_eq!(r.auth_user_id.as_deref(), Some("*"));
    }
    assert!(o.iter().all(|r| r.format == Format::WuOrig));
    assert!(e.iter().all(|r| r.format == Format::WuExt));
    let expect = [
        (&bin, TransferType::Binary, Direction::Incoming, 10),
        (&bin, TransferType::Binary, Direction::Outgoing, 10),
        (&txt, TransferType::Ascii, Direction::Incoming, 14),
        (&txt, TransferType::Ascii, Direction::Outgoing, 14),
    ];
    for (i, (f, t, d, _)) in expect.iter().enumerate() {
        for r in [&o[i], &e[i]] {
            assert_eq!(&r.filename, *f, "{i}");
            assert_eq!(r.transfer_type, Some(*t), "{i}");
            assert_eq!(r.direction, *d, "{i}");
        }
        let x = e[i].ext.as_ref().unwrap();
        assert_eq!(e[i].completion, Some(Completion::Complete));
        assert_eq!(x.restart_point, 0);
        assert_eq!(x.cwd, home.display().to_string());
        assert_eq!(x.protection, 'C');
    }
    assert_eq!(o[0].bytes, 10);
    assert_eq!(o[1].bytes, 10);
    assert_eq!(e[0].ext.as_ref().unwrap().filename_arg, "b.bin");
    assert_eq!(e[0].ext.as_ref().unwrap().file_size, 10);
    assert_eq!(e[1].ext.as_ref().unwrap().file_size, 10);
}

fn ext(r: &Record) -> &proftpd_rs::xferlog::format::Extended {
    r.ext.as_ref().expect("wu-ext fields")
}

#[test]
fn appe_stou_and_restarts() {
    let s = server(&both_logs());
    let home = s.home("alice");
    let mut ftp = s.login(ALICE.0, ALICE.1);
    ftp.type_i();
    ftp.stor("f", b"abc");
    ftp.appe("f", b"de");
    let name = ftp.stou(b"unique");
    ftp.stor("r", b"0123456789");
    ftp.rest(4);
    assert_eq!(ftp.transfer_in("RETR r").data, b"456789");
    ftp.rest(3);
    let t = ftp.transfer_out("STOR f", b"XYZ");
    assert!(t.ok(), "{:?}", t.end);
    ftp.quit();
    assert_eq!(std::fs::read(home.join("f")).unwrap(), b"abcXYZ");
    let e = records(&s, EXT, 6);
    let o = records(&s, ORIG, 6);
    // APPE: 2 bytes, file now 5 bytes.
    assert_eq!((e[1].bytes, ext(&e[1]).file_size), (2, 5));
    assert_eq!(ext(&e[1]).filename_arg, "f");
    assert_eq!(e[1].direction, Direction::Incoming);
    // STOU: the server's name; no argument.
    assert_eq!(e[2].filename, format!("{}/{name}", home.display()));
    assert_eq!(o[2].filename, e[2].filename);
    assert_eq!(ext(&e[2]).filename_arg, "-");
    assert_eq!(e[2].bytes, 6);
    // REST 4 + RETR: 6 bytes of a 10-byte file.
    assert_eq!(e[4].direction, Direction::Outgoing);
    assert_eq!(
        (e[4].bytes, ext(&e[4]).restart_point, ext(&e[4]).file_size),
        (6, 4, 10)
    );
    // REST 3 + STOR: 3 bytes, file now 6 bytes.
    assert_eq!(
        (e[5].bytes, ext(&e[5]).restart_point, ext(&e[5]).file_size),
        (3, 3, 6)
    );
    // The restart point does not stick to later transfers.
    assert_eq!(ext(&e[3]).restart_point, 0);
    assert!(e.iter().all(|r| r.completion == Some(Completion::Complete)));
}

/// Starts `RETR name` on a fresh data connection, reads a little, then
/// breaks the data connection; returns the final reply code.
fn broken_retr(ftp: &mut harness::Ftp, name: &str) -> u16 {
    let addr = ftp.pasv();
    let mut data = TcpStream::connect(addr).unwrap();
    let start = ftp.cmd(&format!("RETR {name}"));
    assert!(start.is_preliminary(), "{start}");
    let mut buf = [0u8; 4096];
    data.read_exact(&mut buf).unwrap();
    // Reset instead of a clean close: the server's next write fails.
    let sock = socket2_reset(data);
    drop(sock);
    ftp.read_reply().code
}

/// Close `s` with SO_LINGER 0 (an RST).
fn socket2_reset(s: TcpStream) -> TcpStream {
    s.set_linger_zero();
    s
}

trait LingerZero {
    fn set_linger_zero(&self);
}

impl LingerZero for TcpStream {
    fn set_linger_zero(&self) {
        use std::os::fd::AsRawFd;
        let l = libc::linger {
            l_onoff: 1,
            l_linger: 0,
        };
        // SAFETY: setsockopt on our own socket with a valid linger struct.
        let rc = unsafe {
            libc::setsockopt(
                self.as_raw_fd(),
                libc::SOL_SOCKET,
                libc::SO_LINGER,
                &l as *const libc::linger as *const libc::c_void,
                std::mem::size_of::<libc::linger>() as libc::socklen_t,
            )
        };
        assert_eq!(rc, 0);
    }
}

#[test]
fn broken_download_is_incomplete() {
    let s = server(&both_logs());
    let home = s.home("alice");
    let big = alice_file(&s, "big", 32 * 1024 * 1024);
    let mut ftp = s.login(ALICE.0, ALICE.1);
    ftp.type_i();
    let code = broken_retr(&mut ftp, "big");
    assert!((400..500).contains(&code), "reply {code}");
    ftp.stor("after", b"ok");
    ftp.quit();
    let e = records(&s, EXT, 2);
    assert_eq!(e[0].completion, Some(Completion::Incomplete));
    assert!(e[0].bytes < big.len() as u64, "{}", e[0].bytes);
    assert_eq!(ext(&e[0]).file_size, big.len() as u64);
    assert_eq!(e[0].filename, format!("{}/big", home.display()));
    assert_eq!(e[1].completion, Some(Completion::Complete));
    // ProFTPD's TransferLog also says incomplete.
    let theirs = s.wait_for_lines("xferlog", 2);
    assert!(theirs[0].ends_with(" i"), "{}", theirs[0]);
}

#[test]
fn file_name_with_spaces_and_failed_commands() {
    let s = server(&both_logs());
    let home = s.home("alice");
    let mut ftp = s.login(ALICE.0, ALICE.1);
    ftp.stor("my file.txt", b"spaces");
    // Failures before any data flowed are not transfers.
    let t = ftp.transfer_in("RETR does-not-exist");
    assert!(!t.ok());
    ftp.retr("my file.txt");
    ftp.quit();
    let e = records(&s, EXT, 2);
    assert_eq!(e[0].filename, format!("{}/my_file.txt", home.display()));
    assert_eq!(ext(&e[0]).filename_arg, "my_file.txt");
    assert_eq!(e[1].direction, Direction::Outgoing);
    let o = s.wait_for_lines(ORIG, 2);
    assert!(
        o[0].contains("/my_file.txt a _ i r alice ftp 0 *"),
        "{}",
        o[0]
    );
    assert_eq!(s.read_file(EXT).lines().count(), 2);
}

#[test]
fn anonymous_sessions() {
    let s = anon_server(
        "XferLog @DIR@/server.log\n",
        "XferLog @DIR@/anon.log anon\nXferLog @DIR@/anon-orig.log\n\
         XferLog @DIR@/anon-ext.log wu-ext\n",
        &[("pub/hello.txt", b"hello anon")],
    );
    let incoming = s.dir().join("anon/incoming");
    std::fs::create_dir(&incoming).unwrap();
    chown_alice(&incoming);
    let mut ftp = s.login("anonymous", "me@example.org");
    assert_eq!(ftp.retr("/pub/hello.txt"), b"hello anon");
    ftp.stor("/incoming/up.txt", b"upload");
    ftp.quit();
    // A real user of the same server logs to the server's XferLog.
    let mut ftp = s.login(BOB.0, BOB.1);
    ftp.stor("mine", b"1");
    ftp.quit();
    let orig = records(&s, "anon-orig.log", 2);
    for r in &orig {
        assert_eq!(r.access_mode, AccessMode::Anonymous);
        assert_eq!(r.username, "me@example.org");
    }
    assert_eq!(orig[0].filename, "/pub/hello.txt");
    assert_eq!(orig[1].filename, "/incoming/up.txt");
    let ext_lines = records(&s, "anon-ext.log", 2);
    assert_eq!(ext(&ext_lines[0]).cwd, "/");
    // anon: downloads only.
    let anon = records(&s, "anon.log", 1);
    assert_eq!(anon[0].format, Format::Anon);
    assert_eq!(anon[0].username, "me@example.org");
    assert_eq!(anon[0].filename, "/pub/hello.txt");
    assert_eq!(anon[0].bytes, 10);
    let server_lines = records(&s, "server.log", 1);
    assert_eq!(server_lines[0].username, "bob");
    assert_eq!(s.read_file("anon.log").lines().count(), 1);
    assert_eq!(s.read_file("server.log").lines().count(), 1);
    // ProFTPD logs the ident too, with the real path.
    let theirs = s.wait_for_lines("xferlog", 1);
    assert!(
        theirs[0].contains(" a _ o a me@example.org ftp 0 * c"),
        "{}",
        theirs[0]
    );
}

fn chrooted(paths: &str) -> (Proftpd, Vec<Record>) {
    let s = server(&format!(
        "DefaultRoot ~\nXferLogPaths {paths}\n{}",
        both_logs()
    ));
    let mut ftp = s.login(ALICE.0, ALICE.1);
    ftp.expect("MKD sub", 257);
    ftp.expect("CWD sub", 250);
    ftp.stor("c.txt", b"chroot");
    ftp.retr("/sub/c.txt");
    ftp.quit();
    let mut e = records(&s, EXT, 2);
    e.extend(records(&s, ORIG, 2));
    (s, e)
}

#[test]
fn chrooted_user_paths_chroot() {
    let (_s, e) = chrooted("chroot");
    for r in &e {
        assert_eq!(r.filename, "/sub/c.txt");
        assert_eq!(r.access_mode, AccessMode::Guest);
    }
    assert_eq!(ext(&e[0]).cwd, "/sub");
    assert_eq!(ext(&e[1]).filename_arg, "/sub/c.txt");
}

#[test]
fn chrooted_user_paths_real() {
    let (s, e) = chrooted("real");
    let home = s.home("alice").display().to_string();
    for r in &e {
        assert_eq!(r.filename, format!("{home}/sub/c.txt"));
    }
    assert_eq!(ext(&e[0]).cwd, format!("{home}/sub"));
    // Same file name as ProFTPD's TransferLog.
    let theirs = s.wait_for_lines("xferlog", 2);
    assert!(
        theirs[0].contains(&format!(" {home}/sub/c.txt ")),
        "{}",
        theirs[0]
    );
}

#[test]
fn engine_off() {
    let s = server(&format!("XferLogEngine off\n{}", both_logs()));
    let mut ftp = s.login(ALICE.0, ALICE.1);
    ftp.stor("x", b"x");
    ftp.quit();
    s.wait_for_lines("xferlog", 1);
    assert!(s.try_read_file(ORIG).unwrap_or_default().is_empty());
}

/// Parse both lines; equal except current-time, which may straddle a second.
fn same_transfer(ours: &str, theirs_without_status: &str) {
    if ours == theirs_without_status {
        return;
    }
    let a = parse_line(ours, 1).unwrap();
    let mut b = parse_line(theirs_without_status, 1).unwrap();
    let secs = |t: &proftpd_rs::xferlog::format::LocalTime| {
        i64::from(t.hour) * 3600 + i64::from(t.minute) * 60 + i64::from(t.second)
    };
    assert!(
        (secs(&a.time) - secs(&b.time)).abs() <= 1,
        "{ours}\n{theirs_without_status}"
    );
    b.time = a.time;
    assert_eq!(a, b, "\nours:   {ours}\ntheirs: {theirs_without_status}");
}

#[test]
fn side_by_side_with_transferlog() {
    let s = server(&both_logs());
    alice_file(&s, "big", 32 * 1024 * 1024);
    let mut ftp = s.login(ALICE.0, ALICE.1);
    ftp.type_i();
    ftp.stor("one", b"first file");
    ftp.retr("one");
    ftp.type_a();
    ftp.stor("two.txt", b"a\r\nb\r\n");
    ftp.retr("two.txt");
    ftp.type_i();
    ftp.appe("one", b"+more");
    ftp.stou(b"unique");
    ftp.rest(2);
    ftp.transfer_in("RETR one");
    ftp.stor("with space", b"s");
    broken_retr(&mut ftp, "big");
    ftp.quit();
    let n = 9;
    let theirs = compare_with_transferlog(&s, ORIG, n);
    assert!(theirs[n - 1].ends_with(" i"));
    compare_ext_with_transferlog(&s, n);
}

/// Our first `n` lines of `name` against TransferLog's; returns theirs.
fn compare_with_transferlog(s: &Proftpd, name: &str, n: usize) -> Vec<String> {
    let ours = s.wait_for_lines(name, n);
    let theirs = s.wait_for_lines("xferlog", n);
    assert_eq!(ours.len(), theirs.len());
    for (o, t) in ours.iter().zip(&theirs) {
        let stripped = t
            .strip_suffix(" c")
            .or_else(|| t.strip_suffix(" i"))
            .unwrap_or_else(|| panic!("no completion status: {t}"));
        same_transfer(o, stripped);
    }
    theirs
}

#[test]
fn side_by_side_anonymous_real_paths() {
    let s = anon_server(
        "",
        &format!("XferLogPaths real\nXferLog @DIR@/{ORIG}\n"),
        &[("pub/f.txt", b"anonymous")],
    );
    let mut ftp = s.login("anonymous", "guest@example.org");
    ftp.retr("/pub/f.txt");
    ftp.type_i();
    ftp.retr("pub/f.txt");
    ftp.quit();
    compare_with_transferlog(&s, ORIG, 2);
}

fn config_error(extra: &str, needle: &str) {
    let (ok, out) = harness::check_config(Modules::Ours, &["mod_xferlog.c"], extra);
    assert!(!ok, "accepted: {extra}\n{out}");
    assert!(
        out.contains(needle),
        "{extra}: wanted '{needle}' in:\n{out}"
    );
}

#[test]
fn bad_configuration() {
    config_error(
        "XferLog relative/x.log",
        "XferLog: 'relative/x.log' is not an absolute path",
    );
    config_error(
        "XferLog syslog anon",
        "XferLog: the anon format can only be written to a file",
    );
    config_error(
        "XferLog /tmp/x.log fancy",
        "XferLog: unknown format 'fancy'",
    );
    config_error("XferLog", "XferLog");
    config_error("XferLog /a wu-orig extra", "XferLog");
    config_error(
        "XferLogPaths sideways",
        "XferLogPaths: expected 'chroot' or 'real'",
    );
    config_error("XferLogEngine maybe", "XferLogEngine");
    config_error(
        "<Directory /tmp>\n XferLog /tmp/x.log\n</Directory>",
        "XferLog",
    );
    let (ok, out) = harness::check_config(
        Modules::Ours,
        &["mod_xferlog.c"],
        "XferLog /tmp/a.log wu-ext\nXferLog syslog\nXferLogPaths real\nXferLogEngine on\n<VirtualHost 127.0.0.2>\n XferLog /tmp/b.log anon\n</VirtualHost>\n<Global>\n XferLogEngine on\n</Global>",
    );
    assert!(ok, "{out}");
}

#[test]
#[cfg_attr(not(debug_assertions), ignore = "uses a test hook of debug builds")]
fn syslog_output() {
    use std::os::unix::fs::PermissionsExt;
    use std::os::unix::net::UnixDatagram;
    let b = builder();
    let sock_path = b.dir().join("syslog.sock");
    let sock = UnixDatagram::bind(&sock_path).unwrap();
    std::fs::set_permissions(&sock_path, std::fs::Permissions::from_mode(0o666)).unwrap();
    sock.set_read_timeout(Some(std::time::Duration::from_secs(10)))
        .unwrap();
    let s = b
        .env("PROFTPD_RS_SYSLOG_SOCKET", sock_path.to_str().unwrap())
        .config(&format!(
            "DefaultRoot ~\nXferLog syslog\nXferLog syslog wu-ext\nXferLog @DIR@/{ORIG}\n"
        ))
        .start();
    let mut ftp = s.login(ALICE.0, ALICE.1);
    ftp.type_i();
    ftp.stor("s.bin", b"12345");
    ftp.appe("s.bin", b"67");
    ftp.retr("s.bin");
    ftp.quit();
    let mut msgs = Vec::new();
    let mut buf = [0u8; 4096];
    while msgs.len() < 6 {
        let n = sock.recv(&mut buf).expect("syslog datagram");
        msgs.push(String::from_utf8_lossy(&buf[..n]).into_owned());
    }
    for m in &msgs {
        assert!(m.starts_with("<94>"), "LOG_FTP|LOG_INFO: {m}");
        assert!(m.contains(" proftpd["), "{m}");
    }
    let bodies: Vec<&str> = msgs
        .iter()
        .map(|m| m.split_once("]: ").unwrap().1)
        .collect();
    assert_eq!(
        bodies[0].split_once(':').unwrap().0,
        "xferlog (recv)",
        "{bodies:?}"
    );
    assert!(
        bodies[0].ends_with(" 5 /s.bin b _ i g alice ftp 0 *"),
        "{}",
        bodies[0]
    );
    assert!(bodies[1].starts_with("xferlog (put): "), "{}", bodies[1]);
    assert!(
        bodies[1].ends_with(" 5 /s.bin b _ i g alice ftp 0 * c 0 5 / s.bin C"),
        "{}",
        bodies[1]
    );
    assert!(bodies[2].starts_with("xferlog (recv): "), "{}", bodies[2]);
    assert!(bodies[3].starts_with("xferlog (append): "), "{}", bodies[3]);
    assert!(bodies[4].starts_with("xferlog (send): "), "{}", bodies[4]);
    assert!(bodies[5].starts_with("xferlog (get): "), "{}", bodies[5]);
    assert!(
        bodies[5].ends_with(" 7 /s.bin b _ o g alice ftp 0 * c 0 7 / s.bin C"),
        "{}",
        bodies[5]
    );
    // The file output works alongside.
    assert_eq!(records(&s, ORIG, 3).len(), 3);
}

#[test]
fn protection_level_under_tls() {
    let s = tls_server(false);
    std::fs::write(s.home("alice").join("plain"), b"clear text").unwrap();
    // In the clear first.
    let mut ftp = s.login(ALICE.0, ALICE.1);
    ftp.retr("plain");
    ftp.quit();
    // Then under TLS: upload and download with PROT P.
    let src = s.dir().join("upload.src");
    std::fs::write(&src, b"secret bytes").unwrap();
    let url = format!("ftp://127.0.0.1:{}/tls.bin", s.port());
    curl_ftps(&["-T", src.to_str().unwrap(), &url]);
    assert_eq!(curl_ftps(&[&url]), b"secret bytes");
    let e = records(&s, EXT, 3);
    assert_eq!(ext(&e[0]).protection, 'C');
    assert_eq!(e[1].direction, Direction::Incoming);
    assert_eq!(ext(&e[1]).protection, 'P');
    assert_eq!(e[2].direction, Direction::Outgoing);
    assert_eq!(ext(&e[2]).protection, 'P');
    assert_eq!(e[2].bytes, 12);
}

/// curl as alice over FTPS (`--ssl-reqd`: AUTH TLS, PROT P, binary
/// transfers; the certificate unchecked) with `args`; its stdout.
fn curl_ftps(args: &[&str]) -> Vec<u8> {
    run_ok(
        Command::new("curl")
            .args(["-sS", "--ssl-reqd", "-k", "-u", "alice:secret"])
            .args(args),
    )
}

#[test]
fn host_command_switches_to_the_vhost_logs() {
    skip_unless_core_survives_host!();
    let s = server(&format!(
        r#"XferLog @DIR@/{ORIG}
<VirtualHost 127.0.0.1>
  ServerAlias other.example
  Port @PORT@
  AuthOrder mod_auth_file.c
  AuthUserFile @DIR@/ftpd.passwd
  AuthGroupFile @DIR@/ftpd.group
  RequireValidShell off
  XferLog @DIR@/vhost.log wu-ext
</VirtualHost>
"#
    ));
    let mut ftp = s.connect();
    ftp.expect("HOST other.example", 220);
    ftp.login(ALICE.0, ALICE.1);
    ftp.stor("v.txt", b"vhost");
    ftp.quit();
    let e = records(&s, "vhost.log", 1);
    assert_eq!(e[0].format, Format::WuExt);
    assert_eq!(ext(&e[0]).filename_arg, "v.txt");
    assert!(s.try_read_file(ORIG).unwrap_or_default().is_empty());
}

/// A panic in our log handler is caught: the transfer, the session, the
/// daemon and ProFTPD's own TransferLog are unaffected.
#[test]
#[cfg_attr(not(debug_assertions), ignore = "uses a test hook of debug builds")]
fn panic_in_log_handler_is_caught() {
    let s = builder()
        .env("PROFTPD_RS_TEST_PANIC", "mod_xferlog:log_complete")
        .config(&both_logs())
        .start();
    let mut ftp = s.login(ALICE.0, ALICE.1);
    ftp.stor("p.txt", b"panic");
    assert_eq!(ftp.retr("p.txt"), b"panic");
    assert_eq!(ftp.quit().code, 221);
    assert_eq!(s.wait_for_lines("xferlog", 2).len(), 2);
    let log = s.wait_for_log("internal error (panic caught)");
    assert!(
        log.contains("mod_xferlog/") && log.contains("log_complete"),
        "{log}"
    );
    assert!(s.try_read_file(ORIG).unwrap_or_default().is_empty());
    let mut ftp = s.login(ALICE.0, ALICE.1);
    assert_eq!(ftp.cmd("PWD").code, 257);
    ftp.quit();
}

/// ABOR during an upload: completion status i, the bytes received so far.
#[test]
fn abor_during_upload_is_incomplete() {
    use std::io::Write;
    let s = server(&both_logs());
    let mut ftp = s.login(ALICE.0, ALICE.1);
    ftp.type_i();
    let addr = ftp.pasv();
    let data = TcpStream::connect(addr).unwrap();
    let start = ftp.cmd("STOR aborted.bin");
    assert!(start.is_preliminary(), "{start}");
    let mut writer = data.try_clone().unwrap();
    let feeder = std::thread::spawn(move || {
        let chunk = vec![b'z'; 64 * 1024];
        let mut sent = 0u64;
        while writer.write_all(&chunk).is_ok() {
            sent += chunk.len() as u64;
            if sent > 2 * 1024 * 1024 * 1024 {
                break;
            }
        }
    });
    ftp.send_raw(b"ABOR\r\n");
    let mut codes = vec![ftp.read_reply().code];
    if codes[0] != 226 {
        codes.push(ftp.read_reply().code);
    }
    data.shutdown(std::net::Shutdown::Both).ok();
    feeder.join().unwrap();
    assert!(codes.contains(&226), "{codes:?}");
    ftp.quit();
    let e = records(&s, EXT, 1);
    assert_eq!(e[0].direction, Direction::Incoming);
    assert_eq!(e[0].completion, Some(Completion::Incomplete));
    let theirs = s.wait_for_lines("xferlog", 1);
    assert!(theirs[0].ends_with(" i"), "{}", theirs[0]);
}

/// Files are created by root with TransferLog's mode 0644; a log in a
/// world-writable directory or through a symlink is refused with a notice,
/// and the session goes on.
#[test]
fn log_file_mode_and_unsafe_locations() {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    let b = builder();
    let ww = b.dir().join("ww");
    std::fs::create_dir(&ww).unwrap();
    std::fs::set_permissions(&ww, std::fs::Permissions::from_mode(0o777)).unwrap();
    std::os::unix::fs::symlink(b.dir().join("target.log"), b.dir().join("link.log")).unwrap();
    let s = b
        .config(&format!(
            "XferLog @DIR@/{ORIG}\nXferLog @DIR@/ww/x.log\nXferLog @DIR@/link.log\n"
        ))
        .start();
    let mut ftp = s.login(ALICE.0, ALICE.1);
    ftp.stor("m.txt", b"mode");
    ftp.quit();
    records(&s, ORIG, 1);
    let meta = std::fs::metadata(s.path(ORIG)).unwrap();
    assert_eq!(meta.mode() & 0o777, 0o644);
    assert_eq!(meta.uid(), 0);
    let log = s.wait_for_log("unable to open XferLog");
    assert!(
        log.contains("ww/x.log") && log.contains("world-writable"),
        "{log}"
    );
    s.wait_for_log("link.log': is a symbolic link");
    assert!(!ww.join("x.log").exists());
    assert!(!s.path("target.log").exists());
}

/// With HiddenStores the upload goes to a hidden name and is renamed at the
/// end: the log names the final file, with its final size.
#[test]
fn hidden_stores_log_the_final_name() {
    let s = server(&format!("HiddenStores on\n{}", both_logs()));
    let home = s.home("alice");
    let mut ftp = s.login(ALICE.0, ALICE.1);
    ftp.stor("h.txt", b"hidden store");
    ftp.quit();
    let e = records(&s, EXT, 1);
    assert_eq!(e[0].filename, format!("{}/h.txt", home.display()));
    assert_eq!(ext(&e[0]).file_size, 12);
    compare_with_transferlog(&s, ORIG, 1);
}

/// `AnonRequirePassword on`: the password is a real one, so it is never
/// logged; the login name is (as ProFTPD's TransferLog does).
#[test]
fn anonymous_with_real_password_never_logs_it() {
    let s = anon_server(
        "",
        &format!(
            "AnonRequirePassword on\nXferLogPaths real\nXferLog @DIR@/{ORIG}\n\
             XferLog @DIR@/{EXT} wu-ext\nXferLog @DIR@/anon.log anon\n"
        ),
        &[("f", b"f")],
    );
    let mut ftp = s.login("anonymous", ALICE.1);
    ftp.retr("f");
    ftp.quit();
    for name in [ORIG, EXT, "anon.log"] {
        let lines = s.wait_for_lines(name, 1);
        assert!(!lines[0].contains(ALICE.1), "{name}: {}", lines[0]);
        assert!(lines[0].contains("anonymous"), "{name}: {}", lines[0]);
    }
    compare_with_transferlog(&s, ORIG, 1);
}

/// SIGHUP: the re-read configuration applies (a new format, a new file).
#[test]
fn reload_applies_the_new_configuration() {
    let mut s = server(&format!("XferLog @DIR@/{ORIG}\n"));
    let mut ftp = s.login(ALICE.0, ALICE.1);
    ftp.stor("before", b"1");
    ftp.quit();
    records(&s, ORIG, 1);
    let conf = std::fs::read_to_string(s.config_path()).unwrap();
    let dir = s.dir().display().to_string();
    std::fs::write(
        s.config_path(),
        conf.replace(
            &format!("XferLog {dir}/{ORIG}\n"),
            &format!("XferLog {dir}/{EXT} wu-ext\n"),
        ),
    )
    .unwrap();
    s.reload();
    let mut ftp = s.login(ALICE.0, ALICE.1);
    ftp.stor("after", b"22");
    ftp.quit();
    let e = records(&s, EXT, 1);
    assert_eq!(ext(&e[0]).filename_arg, "after");
    assert_eq!(s.read_file(ORIG).lines().count(), 1);
}

/// A minimal FTPS download with Python's ssl module: `auth-ssl` sends
/// `AUTH SSL` and no PROT (mod_tls then protects data), `implicit` speaks
/// TLS from the first byte (implicit FTPS).  Prints the file's bytes.
const PY_FTPS: &str = r#"
import socket, ssl, sys
port, mode, name = int(sys.argv[1]), sys.argv[2], sys.argv[3]
ctx = ssl.create_default_context()
ctx.check_hostname = False
ctx.verify_mode = ssl.CERT_NONE
ctx.maximum_version = ssl.TLSVersion.TLSv1_2
s = socket.create_connection(("127.0.0.1", port), timeout=20)
if mode == "implicit":
    s = ctx.wrap_socket(s)
f = s.makefile("rb")
def reply(expect):
    global f
    line = f.readline().decode()
    code = line[:3]
    if line[3:4] == "-":
        while not line.startswith(code + " "):
            line = f.readline().decode()
    if not code.startswith(expect):
        sys.exit("unexpected reply: " + line)
    return line
def cmd(c, expect):
    s.sendall((c + "\r\n").encode())
    return reply(expect)
reply("220")
if mode == "auth-ssl":
    cmd("AUTH SSL", "234")
    s = ctx.wrap_socket(s)
    f = s.makefile("rb")
cmd("USER alice", "331")
cmd("PASS secret", "230")
# ASCII after AUTH SSL: proftpd 1.3.8's mod_xfer would use sendfile() for a
# binary RETR (it only disables it on PROT or implicit TLS), bypassing TLS.
cmd("TYPE A" if mode == "auth-ssl" else "TYPE I", "200")
p = cmd("PASV", "227")
nums = [int(x) for x in p[p.index("(") + 1:p.index(")")].split(",")]
d = socket.create_connection(("127.0.0.1", nums[4] * 256 + nums[5]), timeout=20)
cmd("RETR " + name, "150")
d = ctx.wrap_socket(d)
data = b""
while True:
    try:
        chunk = d.recv(65536)
    except (ssl.SSLError, OSError) as e:
        # proftpd may end the data stream without a clean TLS shutdown.
        if not data:
            sys.exit("data connection: " + repr(e))
        break
    if not chunk:
        break
    data += chunk
d.close()
reply("226")
cmd("QUIT", "221")
sys.stdout.write(data.decode())
"#;

/// A server with mod_tls (a fresh self-signed certificate; FTPS with
/// `AUTH`, or implicit FTPS) and both our logs.
fn tls_server(implicit: bool) -> Proftpd {
    let b = Proftpd::builder(Modules::Ours).load_modules(&["mod_tls.c", "mod_xferlog.c"]);
    run_ok(
        Command::new("openssl")
            .args([
                "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
            ])
            .args(["-subj", "/CN=localhost", "-keyout"])
            .arg(b.dir().join("key.pem"))
            .arg("-out")
            .arg(b.dir().join("cert.pem")),
    );
    let implicit = if implicit { " UseImplicitSSL" } else { "" };
    b.config(&format!(
        r#"
TLSEngine on
TLSRSACertificateFile @DIR@/cert.pem
TLSRSACertificateKeyFile @DIR@/key.pem
TLSProtocol TLSv1.2 TLSv1.3
TLSOptions NoSessionReuseRequired{implicit}
TLSVerifyClient off
TLSLog @DIR@/tls.log
{}"#,
        both_logs()
    ))
    .start()
}

fn py_ftps(s: &Proftpd, mode: &str, name: &str) -> String {
    let out =
        run_ok(Command::new("python3").args(["-c", PY_FTPS, &s.port().to_string(), mode, name]));
    String::from_utf8(out).unwrap()
}

#[test]
fn protection_level_after_auth_ssl_and_implicit_ftps() {
    // AUTH SSL protects the data channel without PROT; so does implicit
    // FTPS (TLSOptions UseImplicitSSL) from the start.
    for implicit in [false, true] {
        let s = tls_server(implicit);
        std::fs::write(s.home("alice").join("f.txt"), b"protected").unwrap();
        let mode = if implicit { "implicit" } else { "auth-ssl" };
        assert_eq!(py_ftps(&s, mode, "f.txt"), "protected");
        let e = records(&s, EXT, 1);
        assert_eq!(ext(&e[0]).protection, 'P', "{mode}");
        assert_eq!(e[0].bytes, 9);
    }
}

/// A server whose main port speaks SSH (mod_sftp), with both our logs and
/// ProFTPD's TransferLog; the client key is authorized for alice.
fn ssh_server() -> (Proftpd, harness::SshKeys) {
    ssh_server_with("")
}

/// [`ssh_server`] with more configuration (`DefaultRoot`, `XferLogPaths`).
fn ssh_server_with(extra: &str) -> (Proftpd, harness::SshKeys) {
    let b = Proftpd::builder(Modules::Ours).load_modules(&["mod_sftp.c", "mod_xferlog.c"]);
    let keys = harness::SshKeys::generate(b.dir(), &["alice"]);
    let s = b
        .config(&format!("{}{}{extra}", keys.sftp_config(), both_logs()))
        .start();
    (s, keys)
}

/// Our wu-ext lines against TransferLog's: a wu-ext line starts with the
/// fields of TransferLog's (wu-orig plus completion-status), then adds its
/// own five; returns our records.
fn compare_ext_with_transferlog(s: &Proftpd, n: usize) -> Vec<Record> {
    let ours = s.wait_for_lines(EXT, n);
    let theirs = s.wait_for_lines("xferlog", n);
    for (o, t) in ours.iter().zip(&theirs) {
        let fields = t.split(' ').count();
        let head: Vec<&str> = o.split(' ').take(fields).collect();
        let head = head.join(" ");
        // TransferLog's line as a wu-orig one: without its completion field.
        let strip = |l: &str| l.rsplit_once(' ').unwrap().0.to_string();
        same_transfer(&strip(&head), &strip(t));
        assert_eq!(
            head.rsplit_once(' ').unwrap().1,
            t.rsplit_once(' ').unwrap().1
        );
    }
    records(s, EXT, n)
}

/// A file of `len` bytes, owned by alice, in her home.
fn alice_file(s: &Proftpd, name: &str, len: usize) -> Vec<u8> {
    let data: Vec<u8> = (0..len).map(|i| b'a' + (i % 26) as u8).collect();
    let p = s.home("alice").join(name);
    std::fs::write(&p, &data).unwrap();
    chown_alice(&p);
    data
}

/// The transfers of one SSH or FTPS session: `transfer(src, dst)` uploads
/// `src` (`up_len` bytes of the client's side; `local`: a path there) as
/// `up.bin`, then downloads `down.bin` (`down_len` bytes, made here) to
/// `dst`. The download arrives whole; both are logged with `service` and
/// protection `P`, equal to TransferLog's lines; `args`: the filename-arg
/// of each (`~` for the home directory).
fn protected_pair(
    s: &Proftpd,
    local: impl Fn(&str) -> PathBuf,
    service: &str,
    (up_len, down_len): (usize, usize),
    args: [&str; 2],
    transfer: impl FnOnce(&Path, &Path),
) {
    let down = alice_file(s, "down.bin", down_len);
    let (src, dst) = (local("up.src"), local("down.dst"));
    std::fs::write(&src, vec![b'u'; up_len]).unwrap();
    transfer(&src, &dst);
    assert_eq!(std::fs::read(&dst).unwrap(), down);
    let home = s.home("alice").display().to_string();
    compare_with_transferlog(s, ORIG, 2);
    let e = compare_ext_with_transferlog(s, 2);
    let want = [
        (Direction::Incoming, "up.bin", up_len as u64, args[0]),
        (Direction::Outgoing, "down.bin", down_len as u64, args[1]),
    ];
    for (r, (dir, name, len, arg)) in e.iter().zip(want) {
        assert_eq!(r.service.as_deref(), Some(service), "{r:?}");
        assert_eq!(r.direction, dir);
        assert_eq!(r.filename, format!("{home}/{name}"));
        assert_eq!(r.bytes, len);
        assert_eq!(r.completion, Some(Completion::Complete));
        let x = ext(r);
        assert_eq!(x.protection, 'P', "{r:?}");
        assert_eq!(x.file_size, len, "{r:?}");
        assert_eq!(x.restart_point, 0);
        assert_eq!(x.cwd, home);
        assert_eq!(x.filename_arg, arg.replace('~', &home), "{r:?}");
    }
}

#[test]
fn sftp_side_by_side_with_transferlog() {
    let (s, keys) = ssh_server();
    let local = |n: &str| keys.local(n);
    // OpenSSH's sftp sends absolute paths.
    let args = ["~/up.bin", "~/down.bin"];
    protected_pair(&s, local, "sftp", (54_321, 100_000), args, |src, dst| {
        let (src, dst) = (src.display(), dst.display());
        let batch = format!("put {src} up.bin\nget down.bin {dst}\n");
        keys.sftp(s.port(), "alice", &batch);
    });
}

#[test]
fn scp_side_by_side_with_transferlog() {
    let (s, keys) = ssh_server();
    let local = |n: &str| keys.local(n);
    let remote = |p: &str| harness::SshKeys::remote("alice", p);
    // The remote operands as given to scp.
    let args = ["up.bin", "down.bin"];
    protected_pair(&s, local, "scp", (12_345, 70_000), args, |src, dst| {
        keys.scp(s.port(), src.to_str().unwrap(), &remote("up.bin"));
        keys.scp(s.port(), &remote("down.bin"), dst.to_str().unwrap());
    });
}

#[test]
fn ftps_side_by_side_with_transferlog() {
    let s = tls_server(false);
    let client = tempfile::tempdir().unwrap();
    let local = |n: &str| client.path().join(n);
    let url = format!("ftp://127.0.0.1:{}/", s.port());
    let args = ["up.bin", "down.bin"];
    protected_pair(&s, local, "ftps", (23_456, 80_000), args, |src, dst| {
        curl_ftps(&["-T", src.to_str().unwrap(), &format!("{url}up.bin")]);
        curl_ftps(&["-o", dst.to_str().unwrap(), &format!("{url}down.bin")]);
    });
}

/// A download broken by the client (killed mid-transfer, the server
/// throttled to 200 KB/s so that it is mid-transfer): mod_sftp writes
/// TransferLog's `i` line itself when the session ends, and dispatches the
/// failed RETR, which we log. The same but for transfer-time: mod_sftp writes
/// 0, we the seconds since the file was opened.
#[test]
fn sftp_aborted_download_is_incomplete() {
    let (s, keys) = ssh_server_with("TransferRate RETR 200\n");
    let len = 5_000_000;
    alice_file(&s, "big.bin", len);
    let dst = keys.local("big.dst");
    let mut child = keys.sftp_spawn(
        s.port(),
        "alice",
        &format!("get big.bin {}\n", dst.display()),
    );
    let started = harness::wait_until(std::time::Duration::from_secs(20), || {
        std::fs::metadata(&dst).is_ok_and(|m| m.len() > 100_000)
    });
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(started, "the download did not start");
    let theirs = parse_line(&s.wait_for_lines("xferlog", 1)[0], 1).unwrap();
    let mut e = records(&s, EXT, 1).remove(0);
    let mut o = records(&s, ORIG, 1).remove(0);
    assert_eq!(e.completion, Some(Completion::Incomplete));
    assert_eq!(theirs.completion, Some(Completion::Incomplete));
    assert!(e.bytes < len as u64, "{}", e.bytes);
    assert_eq!(ext(&e).file_size, len as u64);
    assert_eq!(ext(&e).protection, 'P');
    assert_eq!(theirs.transfer_time, 0);
    for r in [&mut e, &mut o] {
        assert_eq!(r.service.as_deref(), Some("sftp"));
        let mut r2 = r.clone();
        r2.format = theirs.format;
        r2.completion = theirs.completion;
        r2.ext = None;
        r2.time = theirs.time;
        r2.transfer_time = 0;
        assert_eq!(r2, theirs);
    }
}

/// mod_sftp's two protocols, as a test's client speaks them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum SshClient {
    Sftp,
    Scp,
}

/// `ours` is the transfer `want` describes: equal but for the format, the
/// wu-ext fields and current-time (which may straddle a second);
/// completion-status too when both have it.
fn same_record(ours: &Record, want: &Record) {
    let secs = |r: &Record| {
        i64::from(r.time.hour) * 3600 + i64::from(r.time.minute) * 60 + i64::from(r.time.second)
    };
    assert!((secs(ours) - secs(want)).abs() <= 1, "{ours:?}\n{want:?}");
    let mut a = ours.clone();
    a.format = want.format;
    a.time = want.time;
    a.ext = want.ext.clone();
    if a.completion.is_none() {
        a.completion = want.completion;
    }
    assert_eq!(&a, want, "\nours: {ours:?}\nwant: {want:?}");
}

/// SFTP or SCP transfers in `sub/` of alice's home, with `DefaultRoot ~`
/// when `chrooted` and `XferLogPaths view`, side by side with TransferLog:
/// downloads of `sub/down.bin` and, with SFTP, of `sub/link.bin` (a symlink
/// to it), an upload to `sub/up.bin` and, with SCP, an upload into the directory `sub/`
/// (where the file keeps the client's name, `up.src`). TransferLog writes
/// the real path and access-mode `r`; we the chroot or real view of the
/// same path and `g` for the chrooted user; cwd is the login directory
/// (`/` in the chroot view of a chrooted session); filename-arg the path as
/// the client sent it (OpenSSH's sftp: absolute; scp: the remote operand of
/// a download; for an upload, which mod_sftp gives as an absolute path,
/// relative to the login directory: so also for an absolute operand).
fn ssh_paths(client: SshClient, chrooted: bool, view: &str) {
    let root = if chrooted { "DefaultRoot ~\n" } else { "" };
    let (s, keys) = ssh_server_with(&format!("{root}XferLogPaths {view}\n"));
    let home = s.home("alice").display().to_string();
    let sub = s.home("alice").join("sub");
    std::fs::create_dir(&sub).unwrap();
    chown_alice(&sub);
    let down = alice_file(&s, "sub/down.bin", 40_000);
    std::os::unix::fs::symlink("down.bin", sub.join("link.bin")).unwrap();
    let src = keys.local("up.src");
    std::fs::write(&src, vec![b'u'; 5_000]).unwrap();
    let (d1, d2) = (keys.local("d1"), keys.local("d2"));
    let remote = |p: &str| harness::SshKeys::remote("alice", p);
    // The session's view of the home directory.
    let seen = if chrooted { "" } else { home.as_str() };
    // (direction, path in the home, bytes)
    let want: Vec<(Direction, &str, u64)> = match client {
        SshClient::Sftp => {
            keys.sftp(
                s.port(),
                "alice",
                &format!(
                    "get sub/down.bin {}\nget sub/link.bin {}\nput {} sub/up.bin\n",
                    d1.display(),
                    d2.display(),
                    src.display()
                ),
            );
            vec![
                (Direction::Outgoing, "sub/down.bin", 40_000),
                // mod_sftp logs the path the client opened.
                (Direction::Outgoing, "sub/link.bin", 40_000),
                (Direction::Incoming, "sub/up.bin", 5_000),
            ]
        }
        SshClient::Scp => {
            keys.scp(s.port(), &remote("sub/down.bin"), d1.to_str().unwrap());
            // (No symlink: mod_sftp sends the file under its target's
            // name, which OpenSSH's scp refuses.)
            keys.scp(s.port(), src.to_str().unwrap(), &remote("sub/up.bin"));
            keys.scp(s.port(), src.to_str().unwrap(), &remote("sub/"));
            let abs = format!("{seen}/sub/abs.bin");
            keys.scp(s.port(), src.to_str().unwrap(), &remote(&abs));
            vec![
                (Direction::Outgoing, "sub/down.bin", 40_000),
                (Direction::Incoming, "sub/up.bin", 5_000),
                (Direction::Incoming, "sub/up.src", 5_000),
                // Relative to the login directory, as the usual operand.
                (Direction::Incoming, "sub/abs.bin", 5_000),
            ]
        }
    };
    // filename-arg: SFTP's absolute path in the session's view; scp's
    // operand relative to the login directory.
    let arg = |path: &str| match client {
        SshClient::Sftp => format!("{seen}/{path}"),
        SshClient::Scp => path.to_string(),
    };
    assert_eq!(std::fs::read(&d1).unwrap(), down);
    if client == SshClient::Sftp {
        assert_eq!(std::fs::read(&d2).unwrap(), down);
    }
    let n = want.len();
    let theirs = records(&s, "xferlog", n);
    let orig = records(&s, ORIG, n);
    let exts = records(&s, EXT, n);
    let chroot_view = chrooted && view == "chroot";
    let service = match client {
        SshClient::Sftp => "sftp",
        SshClient::Scp => "scp",
    };
    for (i, (dir, path, bytes)) in want.iter().enumerate() {
        let t = &theirs[i];
        let logged = t.filename.strip_prefix(&format!("{home}/")).unwrap_or("?");
        // Since 1.3.8c mod_sftp logs a symlink by its target's path.
        let target = *path == "sub/link.bin" && logged == "sub/down.bin";
        assert!(logged == *path || target, "{path}: {t:?}");
        assert_eq!((t.direction, t.bytes), (*dir, *bytes), "{t:?}");
        assert_eq!(t.service.as_deref(), Some(service));
        let mut w = t.clone();
        if chrooted {
            w.access_mode = AccessMode::Guest;
        }
        if chroot_view {
            w.filename = format!("/{logged}");
        }
        same_record(&orig[i], &w);
        same_record(&exts[i], &w);
        let x = ext(&exts[i]);
        let cwd = if chroot_view { "/" } else { home.as_str() };
        assert_eq!(x.cwd, cwd, "{:?}", exts[i]);
        // (Where mod_sftp logs the symlink's target, it is also the
        // command's argument.)
        assert_eq!(x.filename_arg, arg(logged), "{:?}", exts[i]);
        assert_eq!(x.restart_point, 0);
        assert_eq!(x.file_size, *bytes);
        assert_eq!(x.protection, 'P');
    }
}

/// One test per case of [`ssh_paths`]: `name: client, chrooted, view;`.
macro_rules! ssh_paths_tests {
    ($($name:ident: $client:ident, $chrooted:expr, $view:expr;)*) => {
        $(
            #[test]
            fn $name() {
                ssh_paths(SshClient::$client, $chrooted, $view);
            }
        )*
    };
}

ssh_paths_tests! {
    sftp_paths_side_by_side: Sftp, false, "chroot";
    scp_paths_side_by_side: Scp, false, "chroot";
    chrooted_sftp_paths_chroot: Sftp, true, "chroot";
    chrooted_sftp_paths_real: Sftp, true, "real";
    chrooted_scp_paths_chroot: Scp, true, "chroot";
    chrooted_scp_paths_real: Scp, true, "real";
}

/// OpenSSH's `reget` and `reput` resume where the local (remote) copy
/// ends: restart-point is the offset of the client's first READ (WRITE) on
/// the file, as the `REST` offset of FTP; the next whole transfers log 0.
/// The standard fields equal TransferLog's.
#[test]
fn sftp_reget_and_reput_restart_point() {
    let (s, keys) = ssh_server();
    let data = alice_file(&s, "f.bin", 1_000);
    let part = keys.local("part");
    std::fs::write(&part, &data[..300]).unwrap();
    let up: Vec<u8> = (0..800).map(|i| b'A' + (i % 26) as u8).collect();
    alice_file(&s, "up.bin", 0);
    std::fs::write(s.home("alice").join("up.bin"), &up[..500]).unwrap();
    let local_up = keys.local("up.bin");
    std::fs::write(&local_up, &up).unwrap();
    let whole = keys.local("whole");
    keys.sftp(
        s.port(),
        "alice",
        &format!(
            "reget f.bin {}\nreput {} up.bin\nget f.bin {}\nput {} up.bin\n",
            part.display(),
            local_up.display(),
            whole.display(),
            local_up.display()
        ),
    );
    assert_eq!(std::fs::read(&part).unwrap(), data);
    assert_eq!(std::fs::read(&whole).unwrap(), data);
    assert_eq!(std::fs::read(s.home("alice").join("up.bin")).unwrap(), up);
    compare_with_transferlog(&s, ORIG, 4);
    let e = compare_ext_with_transferlog(&s, 4);
    // (direction, bytes, restart-point, file-size)
    let want = [
        (Direction::Outgoing, 700, 300, 1_000),
        (Direction::Incoming, 300, 500, 800),
        (Direction::Outgoing, 1_000, 0, 1_000),
        (Direction::Incoming, 800, 0, 800),
    ];
    for (r, (dir, bytes, restart, size)) in e.iter().zip(want) {
        assert_eq!((r.direction, r.bytes), (dir, bytes), "{r:?}");
        assert_eq!(r.completion, Some(Completion::Complete));
        assert_eq!(ext(r).restart_point, restart, "{r:?}");
        assert_eq!(ext(r).file_size, size, "{r:?}");
    }
}
