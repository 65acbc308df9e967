//! A forensic block: begin marker, session header lines, a blank line, the
//! captured messages oldest first, end marker -- byte for byte the format of
//! the C mod_log_forensic, so existing tooling keeps parsing it.
//!
//! Unlike the C module, the whole block is built in one buffer and written
//! with as few write(2) calls as the kernel allows (the C module issues
//! three to five per message), every buffered message is written (the C
//! module's loop stops before the newest one), and a failed write ends the
//! block with an error instead of retrying forever.

use super::ring::Ring;
use std::io::{self, Write};

/// When a block is written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Criterion {
    FailedLogin,
    ModuleConfig,
    UntimelyDeath,
}

impl Criterion {
    fn title(self) -> &'static str {
        match self {
            Criterion::FailedLogin => "FAILED LOGIN",
            Criterion::ModuleConfig => "MODULE CONFIG",
            Criterion::UntimelyDeath => "UNTIMELY DEATH",
        }
    }
}

/// The session facts written as header lines.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Header {
    pub client_addr: String,
    pub server_addr: String,
    pub server_port: u16,
    pub elapsed_ms: u64,
    pub protocol: String,
    pub user: Option<String>,
    pub uid: u32,
    pub gid: u32,
    pub unique_id: Option<String>,
    pub raw_bytes_in: u64,
    pub raw_bytes_out: u64,
    pub total_bytes_in: u64,
    pub total_bytes_out: u64,
    pub total_files_in: u32,
    pub total_files_out: u32,
    /// The session PID, shown in the prefix of syslog-type messages.
    pub pid: u32,
}

// The PR_LOG_TYPE_* codes (log.h); kept here so this file stays pure.
const TYPE_UNSPEC: u32 = 0;
const TYPE_XFERLOG: u32 = 1;
const TYPE_SYSLOG: u32 = 2;
const TYPE_SYSTEMLOG: u32 = 3;
const TYPE_EXTLOG: u32 = 4;
const TYPE_TRACELOG: u32 = 5;

/// The level as the C module prints it: negative levels as 0, levels of 50
/// and more as `N`.
fn push_level(out: &mut Vec<u8>, level: i32) {
    if level >= 50 {
        out.push(b'N');
    } else {
        push_num(out, level.max(0) as u64);
    }
}

fn push_num(out: &mut Vec<u8>, n: u64) {
    out.extend_from_slice(crate::decimal::decimal(n, &mut [0u8; 20]).as_bytes());
}

fn push_line(out: &mut Vec<u8>, key: &str, value: &[u8]) {
    out.extend_from_slice(key.as_bytes());
    out.extend_from_slice(b": ");
    out.extend_from_slice(value);
    out.push(b'\n');
}

fn push_num_line(out: &mut Vec<u8>, key: &str, n: u64) {
    out.extend_from_slice(key.as_bytes());
    out.extend_from_slice(b": ");
    push_num(out, n);
    out.push(b'\n');
}

/// Append one message with its prefix (`[SystemLog:5] `, `[syslog:7, PID
/// 123] `, `[TraceLog:9] `, ...).  syslog messages carry no newline (syslogd
/// adds it), so one is added, as the C module does; messages of the other
/// types end in one already, and get one only if they do not.
pub fn push_message(out: &mut Vec<u8>, log_type: u32, level: i32, msg: &[u8], pid: u32) {
    let tag: Option<&[u8]> = match log_type {
        TYPE_UNSPEC => Some(b"[Unspec:"),
        TYPE_XFERLOG => Some(b"[TransferLog:"),
        TYPE_SYSLOG => Some(b"[syslog:"),
        TYPE_SYSTEMLOG => Some(b"[SystemLog:"),
        TYPE_EXTLOG => Some(b"[ExtendedLog:"),
        TYPE_TRACELOG => Some(b"[TraceLog:"),
        _ => None,
    };
    if let Some(tag) = tag {
        out.extend_from_slice(tag);
        push_level(out, level);
        if log_type == TYPE_SYSLOG {
            out.extend_from_slice(b", PID ");
            push_num(out, pid as u64);
        }
        out.extend_from_slice(b"] ");
    }
    out.extend_from_slice(msg);
    if log_type == TYPE_SYSLOG || msg.last() != Some(&b'\n') {
        out.push(b'\n');
    }
}

/// Append the header lines and the blank line after them.
pub fn push_header(out: &mut Vec<u8>, h: &Header) {
    push_line(out, "Client-Address", h.client_addr.as_bytes());
    out.extend_from_slice(b"Server-Address: ");
    out.extend_from_slice(h.server_addr.as_bytes());
    out.push(b':');
    push_num(out, h.server_port as u64);
    out.push(b'\n');
    push_num_line(out, "Elapsed", h.elapsed_ms);
    push_line(out, "Protocol", h.protocol.as_bytes());
    if let Some(user) = &h.user {
        push_line(out, "User", user.as_bytes());
    }
    push_num_line(out, "UID", h.uid as u64);
    push_num_line(out, "GID", h.gid as u64);
    if let Some(id) = &h.unique_id {
        push_line(out, "UNIQUE_ID", id.as_bytes());
    }
    push_num_line(out, "Raw-Bytes-In", h.raw_bytes_in);
    push_num_line(out, "Raw-Bytes-Out", h.raw_bytes_out);
    push_num_line(out, "Total-Bytes-In", h.total_bytes_in);
    push_num_line(out, "Total-Bytes-Out", h.total_bytes_out);
    push_num_line(out, "Total-Files-In", h.total_files_in as u64);
    push_num_line(out, "Total-Files-Out", h.total_files_out as u64);
    out.push(b'\n');
}

/// The whole block for `criterion`: every message in `ring`, oldest first,
/// the newest included.
pub fn render(criterion: Criterion, header: &Header, ring: &Ring) -> Vec<u8> {
    let body: usize = ring.iter().map(|m| m.bytes.len() + 32).sum();
    let mut out = Vec::with_capacity(body + 512);
    out.extend_from_slice(b"-----BEGIN ");
    out.extend_from_slice(criterion.title().as_bytes());
    out.extend_from_slice(b" FORENSICS-----\n");
    push_header(&mut out, header);
    for m in ring.iter() {
        push_message(&mut out, m.log_type, m.level, &m.bytes, header.pid);
    }
    out.extend_from_slice(b"-----END ");
    out.extend_from_slice(criterion.title().as_bytes());
    out.extend_from_slice(b" FORENSICS-----\n");
    out
}

/// Write a rendered block.  Interrupted writes are retried and short writes
/// continued (`write_all`); any other error ends the attempt and is
/// returned, so the caller can report it once and move on.
pub fn write_block<W: Write>(w: &mut W, block: &[u8]) -> io::Result<()> {
    w.write_all(block)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header() -> Header {
        Header {
            client_addr: "127.0.0.1".into(),
            server_addr: "::ffff:127.0.0.1".into(),
            server_port: 5376,
            elapsed_ms: 1245,
            protocol: "ftp".into(),
            user: Some("tj".into()),
            uid: 501,
            gid: 502,
            unique_id: None,
            raw_bytes_in: 46,
            raw_bytes_out: 158,
            total_bytes_in: 0,
            total_bytes_out: 0,
            total_files_in: 0,
            total_files_out: 0,
            pid: 16044,
        }
    }

    const HEADER_TEXT: &str = "Client-Address: 127.0.0.1\n\
        Server-Address: ::ffff:127.0.0.1:5376\n\
        Elapsed: 1245\n\
        Protocol: ftp\n\
        User: tj\n\
        UID: 501\n\
        GID: 502\n\
        Raw-Bytes-In: 46\n\
        Raw-Bytes-Out: 158\n\
        Total-Bytes-In: 0\n\
        Total-Bytes-Out: 0\n\
        Total-Files-In: 0\n\
        Total-Files-Out: 0\n\
        \n";

    #[test]
    fn failed_login_block_matches_c_format() {
        let mut ring = Ring::new(8);
        ring.push(
            TYPE_SYSLOG,
            7,
            b"dispatching CMD command 'PASS (hidden)' to mod_auth",
        );
        ring.push(
            TYPE_SYSTEMLOG,
            5,
            b"host proftpd[15509] localhost: USER tj (Login failed): Incorrect password.\n",
        );
        ring.push(TYPE_TRACELOG, 9, b"[16044] <command:9>: LOG_CMD_ERR\n");
        let out = String::from_utf8(render(Criterion::FailedLogin, &header(), &ring)).unwrap();
        let expected = format!(
            "-----BEGIN FAILED LOGIN FORENSICS-----\n{HEADER_TEXT}\
             [syslog:7, PID 16044] dispatching CMD command 'PASS (hidden)' to mod_auth\n\
             [SystemLog:5] host proftpd[15509] localhost: USER tj (Login failed): Incorrect password.\n\
             [TraceLog:9] [16044] <command:9>: LOG_CMD_ERR\n\
             -----END FAILED LOGIN FORENSICS-----\n"
        );
        assert_eq!(out, expected);
    }

    #[test]
    fn markers_per_criterion() {
        let ring = Ring::new(1);
        for (c, t) in [
            (Criterion::FailedLogin, "FAILED LOGIN"),
            (Criterion::ModuleConfig, "MODULE CONFIG"),
            (Criterion::UntimelyDeath, "UNTIMELY DEATH"),
        ] {
            let out = String::from_utf8(render(c, &header(), &ring)).unwrap();
            assert!(out.starts_with(&format!("-----BEGIN {t} FORENSICS-----\nClient-Address")));
            assert!(out.ends_with(&format!(
                "Total-Files-Out: 0\n\n-----END {t} FORENSICS-----\n"
            )));
        }
    }

    #[test]
    fn optional_header_lines() {
        let mut h = header();
        h.user = None;
        h.unique_id = Some("Y2x0ZXN0aWQ".into());
        h.total_files_in = 3;
        h.total_bytes_out = 1 << 40;
        let mut out = Vec::new();
        push_header(&mut out, &h);
        let out = String::from_utf8(out).unwrap();
        assert!(!out.contains("User:"));
        assert!(out.contains("GID: 502\nUNIQUE_ID: Y2x0ZXN0aWQ\nRaw-Bytes-In: 46\n"));
        assert!(out.contains("Total-Bytes-Out: 1099511627776\n"));
        assert!(out.contains("Total-Files-In: 3\n"));
    }

    #[test]
    fn prefixes_of_every_type() {
        let cases: [(u32, i32, &[u8], &str); 8] = [
            (TYPE_UNSPEC, -1, b"m\n", "[Unspec:0] m\n"),
            (TYPE_XFERLOG, -1, b"x\n", "[TransferLog:0] x\n"),
            (TYPE_SYSLOG, 3, b"s", "[syslog:3, PID 42] s\n"),
            (TYPE_SYSTEMLOG, 6, b"y\n", "[SystemLog:6] y\n"),
            (TYPE_EXTLOG, -1, b"e\n", "[ExtendedLog:0] e\n"),
            (TYPE_TRACELOG, 49, b"t\n", "[TraceLog:49] t\n"),
            (TYPE_TRACELOG, 50, b"t\n", "[TraceLog:N] t\n"),
            (77, 1, b"unknown type\n", "unknown type\n"),
        ];
        for (ty, level, msg, want) in cases {
            let mut out = Vec::new();
            push_message(&mut out, ty, level, msg, 42);
            assert_eq!(String::from_utf8(out).unwrap(), want);
        }
        // A message without its newline still ends the line.
        let mut out = Vec::new();
        push_message(&mut out, TYPE_SYSTEMLOG, 5, b"no newline", 1);
        assert_eq!(out, b"[SystemLog:5] no newline\n");
    }

    /// Fix 1: the C module's loop stops one short of the newest message.
    #[test]
    fn newest_message_is_written_even_after_wrap() {
        let mut ring = Ring::new(3);
        for i in 1..=5 {
            ring.push(TYPE_SYSTEMLOG, 5, format!("message {i}\n").as_bytes());
        }
        let out = String::from_utf8(render(Criterion::FailedLogin, &header(), &ring)).unwrap();
        let body: Vec<&str> = out
            .lines()
            .filter(|l| l.starts_with("[SystemLog:"))
            .collect();
        assert_eq!(
            body,
            [
                "[SystemLog:5] message 3",
                "[SystemLog:5] message 4",
                "[SystemLog:5] message 5"
            ]
        );
        // Not wrapped yet: the single newest message too.
        let mut ring = Ring::new(3);
        ring.push(TYPE_SYSTEMLOG, 5, b"only\n");
        let out = String::from_utf8(render(Criterion::FailedLogin, &header(), &ring)).unwrap();
        assert!(out.contains("\n\n[SystemLog:5] only\n-----END"));
    }

    /// Fix 2: a write error other than EINTR ends the block with an error
    /// (the C module spins forever on it).
    #[test]
    fn write_error_gives_up() {
        let mut full = std::fs::OpenOptions::new()
            .write(true)
            .open("/dev/full")
            .expect("/dev/full");
        let mut ring = Ring::new(4);
        ring.push(TYPE_SYSTEMLOG, 5, b"x\n");
        let block = render(Criterion::UntimelyDeath, &header(), &ring);
        let err = write_block(&mut full, &block).unwrap_err();
        assert_eq!(err.raw_os_error(), Some(libc::ENOSPC));
    }

    /// Interrupted and short writes are continued, not lost.
    #[test]
    fn interrupted_and_short_writes_are_continued() {
        struct Flaky {
            out: Vec<u8>,
            calls: usize,
        }
        impl Write for Flaky {
            fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
                self.calls += 1;
                if self.calls == 1 {
                    return Err(io::Error::from(io::ErrorKind::Interrupted));
                }
                let n = buf.len().min(7);
                self.out.extend_from_slice(&buf[..n]);
                Ok(n)
            }
            fn flush(&mut self) -> io::Result<()> {
                Ok(())
            }
        }
        let mut ring = Ring::new(4);
        ring.push(TYPE_TRACELOG, 9, b"trace\n");
        let block = render(Criterion::FailedLogin, &header(), &ring);
        let mut w = Flaky {
            out: Vec::new(),
            calls: 0,
        };
        write_block(&mut w, &block).unwrap();
        assert_eq!(w.out, block);
    }

    /// Fix 3: one write call for the whole block (the C module makes 3-5
    /// per message).
    #[test]
    fn whole_block_in_one_write() {
        struct Counting {
            calls: usize,
            bytes: usize,
        }
        impl Write for Counting {
            fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
                self.calls += 1;
                self.bytes += buf.len();
                Ok(buf.len())
            }
            fn flush(&mut self) -> io::Result<()> {
                Ok(())
            }
        }
        let mut ring = Ring::new(1024);
        for i in 0..1024 {
            ring.push(TYPE_SYSLOG, 7, format!("message number {i}").as_bytes());
        }
        let block = render(Criterion::FailedLogin, &header(), &ring);
        let mut w = Counting { calls: 0, bytes: 0 };
        write_block(&mut w, &block).unwrap();
        assert_eq!(w.calls, 1);
        assert_eq!(w.bytes, block.len());
        // Against a real file, too: one write(2) is enough for the kernel.
        let dir = std::env::temp_dir().join(format!("forensic-block-{}", std::process::id()));
        let mut f = std::fs::File::create(&dir).unwrap();
        write_block(&mut f, &block).unwrap();
        assert_eq!(std::fs::read(&dir).unwrap(), block);
        let _ = std::fs::remove_file(&dir);
    }
}

/// Property tests (see docs/fuzzing.md): any messages (NUL, newlines,
/// invalid UTF-8, marker text) and any header give exactly the C module's
/// layout, every message once and in order, and the block is written
/// whole or reported.
#[cfg(test)]
mod proptests {
    use super::*;
    use crate::proptest_support::{NASTY, config, made_of, text_or};
    use proptest::prelude::*;

    const TITLES: [&str; 3] = ["FAILED LOGIN", "MODULE CONFIG", "UNTIMELY DEATH"];

    fn criterion() -> impl Strategy<Value = (Criterion, &'static str)> {
        prop::sample::select(vec![
            (Criterion::FailedLogin, TITLES[0]),
            (Criterion::ModuleConfig, TITLES[1]),
            (Criterion::UntimelyDeath, TITLES[2]),
        ])
    }

    fn field() -> impl Strategy<Value = String> {
        text_or(NASTY, 6)
    }

    fn header() -> impl Strategy<Value = Header> {
        (
            (field(), field(), any::<u16>(), any::<u64>(), field()),
            (
                prop::option::of(field()),
                any::<u32>(),
                any::<u32>(),
                prop::option::of(field()),
            ),
            (any::<u64>(), any::<u64>(), any::<u64>(), any::<u64>()),
            (any::<u32>(), any::<u32>(), any::<u32>()),
        )
            .prop_map(|(a, b, c, d)| Header {
                client_addr: a.0,
                server_addr: a.1,
                server_port: a.2,
                elapsed_ms: a.3,
                protocol: a.4,
                user: b.0,
                uid: b.1,
                gid: b.2,
                unique_id: b.3,
                raw_bytes_in: c.0,
                raw_bytes_out: c.1,
                total_bytes_in: c.2,
                total_bytes_out: c.3,
                total_files_in: d.0,
                total_files_out: d.1,
                pid: d.2,
            })
    }

    fn log_type() -> impl Strategy<Value = u32> {
        prop_oneof![4 => 0u32..=5, 1 => any::<u32>()]
    }

    /// Message bytes: anything, or text with newlines, NULs, invalid bytes
    /// and the block's own marker lines in it.
    fn message() -> impl Strategy<Value = Vec<u8>> {
        const PIECES: &[&str] = &[
            "\n",
            "\0",
            "\r\n",
            "x",
            " ",
            "-----BEGIN FAILED LOGIN FORENSICS-----\n",
            "-----END FAILED LOGIN FORENSICS-----",
            "[SystemLog:5] ",
            "é",
        ];
        prop_oneof![
            prop::collection::vec(any::<u8>(), 0..48),
            (made_of(PIECES, 6), prop::collection::vec(any::<u8>(), 0..3)).prop_map(|(s, b)| [
                s.into_bytes(),
                b
            ]
            .concat()),
        ]
    }

    fn pushes() -> impl Strategy<Value = Vec<(u32, i32, Vec<u8>)>> {
        prop::collection::vec((log_type(), any::<i32>(), message()), 0..40)
    }

    /// What the C module writes for one message, spelled out.
    fn expected_message(log_type: u32, level: i32, msg: &[u8], pid: u32) -> Vec<u8> {
        let names = [
            "Unspec",
            "TransferLog",
            "syslog",
            "SystemLog",
            "ExtendedLog",
            "TraceLog",
        ];
        let level = if level >= 50 {
            "N".to_string()
        } else {
            level.max(0).to_string()
        };
        let mut out = match names.get(log_type as usize) {
            Some(&"syslog") => format!("[syslog:{level}, PID {pid}] ").into_bytes(),
            Some(name) => format!("[{name}:{level}] ").into_bytes(),
            None => Vec::new(),
        };
        out.extend_from_slice(msg);
        if log_type == 2 || !msg.ends_with(b"\n") {
            out.push(b'\n');
        }
        out
    }

    fn expected_header(h: &Header) -> Vec<u8> {
        let mut s = format!(
            "Client-Address: {}\nServer-Address: {}:{}\nElapsed: {}\nProtocol: {}\n",
            h.client_addr, h.server_addr, h.server_port, h.elapsed_ms, h.protocol
        );
        if let Some(u) = &h.user {
            s += &format!("User: {u}\n");
        }
        s += &format!("UID: {}\nGID: {}\n", h.uid, h.gid);
        if let Some(id) = &h.unique_id {
            s += &format!("UNIQUE_ID: {id}\n");
        }
        s += &format!(
            "Raw-Bytes-In: {}\nRaw-Bytes-Out: {}\nTotal-Bytes-In: {}\nTotal-Bytes-Out: {}\n\
             Total-Files-In: {}\nTotal-Files-Out: {}\n\n",
            h.raw_bytes_in,
            h.raw_bytes_out,
            h.total_bytes_in,
            h.total_bytes_out,
            h.total_files_in,
            h.total_files_out
        );
        s.into_bytes()
    }

    fn count(hay: &[u8], needle: &[u8]) -> usize {
        hay.windows(needle.len()).filter(|w| *w == needle).count()
    }

    /// A writer that follows a script: accept at most n bytes, be
    /// interrupted, or fail.
    #[derive(Clone, Debug)]
    enum Step {
        Take(usize),
        Interrupt,
        Fail,
    }

    struct Scripted {
        steps: Vec<Step>,
        at: usize,
        out: Vec<u8>,
    }

    impl Write for Scripted {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            let step = self
                .steps
                .get(self.at)
                .cloned()
                .unwrap_or(Step::Take(usize::MAX));
            self.at += 1;
            match step {
                Step::Take(n) => {
                    let n = n.min(buf.len());
                    self.out.extend_from_slice(&buf[..n]);
                    Ok(n)
                }
                Step::Interrupt => Err(io::Error::from(io::ErrorKind::Interrupted)),
                Step::Fail => Err(io::Error::from_raw_os_error(libc::ENOSPC)),
            }
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    proptest! {
        #![proptest_config(config(1024))]

        #[test]
        fn message_layout(t in log_type(), level in any::<i32>(), msg in message(), pid in any::<u32>()) {
            let mut out = b"before".to_vec();
            push_message(&mut out, t, level, &msg, pid);
            prop_assert_eq!(&out[..6], b"before");
            prop_assert_eq!(&out[6..], &expected_message(t, level, &msg, pid)[..]);
            prop_assert!(out.ends_with(b"\n"));
        }

        #[test]
        fn header_layout(h in header()) {
            let mut out = Vec::new();
            push_header(&mut out, &h);
            prop_assert_eq!(out, expected_header(&h));
        }

        /// Begin marker, header, every message of the ring oldest first,
        /// end marker; the markers once each unless a message or header
        /// field carries the marker text itself.
        #[test]
        fn block_layout(
            (c, title) in criterion(),
            h in header(),
            capacity in 1usize..24,
            pushes in pushes(),
        ) {
            let mut ring = Ring::new(capacity);
            for (t, l, m) in &pushes {
                ring.push(*t, *l, m);
            }
            let block = render(c, &h, &ring);
            let begin = format!("-----BEGIN {title} FORENSICS-----\n").into_bytes();
            let end = format!("-----END {title} FORENSICS-----\n").into_bytes();
            let mut want = begin.clone();
            want.extend(expected_header(&h));
            let kept = &pushes[pushes.len().saturating_sub(capacity)..];
            let mut body = Vec::new();
            for (t, l, m) in kept {
                body.extend(expected_message(*t, *l, m, h.pid));
            }
            want.extend_from_slice(&body);
            want.extend_from_slice(&end);
            prop_assert_eq!(&block, &want);
            let inside = [expected_header(&h), body].concat();
            prop_assert_eq!(count(&block, &begin), 1 + count(&inside, &begin));
            prop_assert_eq!(count(&block, &end), 1 + count(&inside, &end));
        }

        /// Short and interrupted writes are continued; a failure stops the
        /// attempt with an error after a prefix of the block.
        #[test]
        fn block_written_whole_or_error(
            h in header(),
            pushes in pushes(),
            steps in prop::collection::vec(
                prop_oneof![6 => (0usize..64).prop_map(Step::Take), 2 => Just(Step::Interrupt), 1 => Just(Step::Fail)],
                0..40,
            ),
        ) {
            let mut ring = Ring::new(16);
            for (t, l, m) in &pushes {
                ring.push(*t, *l, m);
            }
            let block = render(Criterion::UntimelyDeath, &h, &ring);
            let mut w = Scripted { steps: steps.clone(), at: 0, out: Vec::new() };
            match write_block(&mut w, &block) {
                Ok(()) => prop_assert_eq!(&w.out, &block),
                Err(e) => {
                    prop_assert!(block.starts_with(&w.out));
                    let failed = matches!(w.steps.get(w.at - 1), Some(Step::Fail));
                    let zero = matches!(w.steps.get(w.at - 1), Some(Step::Take(0)));
                    prop_assert!(failed || (zero && e.kind() == io::ErrorKind::WriteZero), "{e}");
                }
            }
        }
    }
}
