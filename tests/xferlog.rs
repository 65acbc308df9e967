//! mod_xferlog against the real proftpd: wu-orig, wu-ext and anon lines for
//! RETR/STOR/APPE/STOU, restarts, aborts, anonymous and chrooted sessions,
//! bad configuration, and side by side with ProFTPD's own TransferLog.

mod harness;

use harness::{ALICE, Modules, Proftpd};
use proftpd_rs::xferlog::format::{
    AccessMode, Completion, Direction, Format, Record, TransferType, parse_line,
};

const ORIG: &str = "xfer-orig.log";
const EXT: &str = "xfer-ext.log";

fn server(extra: &str) -> Proftpd {
    Proftpd::builder(Modules::Ours)
        .load_module("mod_xferlog.c")
        .config(extra)
        .start()
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
