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
    // itoa without allocating.
    let mut digits = [0u8; 20];
    let mut i = digits.len();
    let mut n = n;
    loop {
        i -= 1;
        digits[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out.extend_from_slice(&digits[i..]);
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
