//! A small blocking FTP client for driving proftpd in tests.
//!
//! Every socket has 10 s read/write timeouts, so a hung server fails the test instead of
//! hanging it. Methods named after FTP commands panic (with the server's reply) when the
//! server does not answer as a successful transfer would; use [`Ftp::cmd`],
//! [`Ftp::transfer_in`] and [`Ftp::transfer_out`] to look at failures.

use std::fmt;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::time::Duration;

/// Read and write timeout of control and data connections.
pub const IO_TIMEOUT: Duration = Duration::from_secs(10);

/// One (possibly multi-line) server reply.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reply {
    /// The three-digit reply code.
    pub code: u16,
    /// The text without the code prefixes; lines joined with `\n`.
    /// For `213-Status\n foo\n213 End` this is `"Status\n foo\nEnd"`.
    pub text: String,
    /// The reply exactly as received (lossy UTF-8), lines joined with `\n`, no CRLFs.
    pub raw: String,
}

impl Reply {
    /// 1xx
    pub fn is_preliminary(&self) -> bool {
        (100..200).contains(&self.code)
    }
    /// 2xx
    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.code)
    }
    /// 3xx
    pub fn is_intermediate(&self) -> bool {
        (300..400).contains(&self.code)
    }
    /// 4xx or 5xx
    pub fn is_error(&self) -> bool {
        self.code >= 400
    }
}

impl fmt::Display for Reply {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.raw)
    }
}

/// How data connections are opened.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DataMode {
    /// `PASV` (the default).
    Passive,
    /// `EPSV`.
    ExtendedPassive,
}

/// Result of a command that uses a data connection.
#[derive(Clone, Debug)]
pub struct Transfer {
    /// The reply to the command itself (`150`/`125` when the transfer started).
    pub start: Reply,
    /// The reply after the transfer (`226` on success); `None` if it never started.
    pub end: Option<Reply>,
    /// Bytes received on the data connection (downloads).
    pub data: Vec<u8>,
}

impl Transfer {
    /// Whether the transfer started and completed with a 2xx reply.
    pub fn ok(&self) -> bool {
        self.end.as_ref().is_some_and(Reply::is_success)
    }

    /// The reply that decided the outcome: `end`, or `start` if it did not start.
    pub fn final_reply(&self) -> &Reply {
        self.end.as_ref().unwrap_or(&self.start)
    }

    fn expect_ok(self, what: &str) -> Self {
        assert!(
            self.ok(),
            "{what} failed: {} / {:?}",
            self.start,
            self.end.as_ref().map(|r| &r.raw)
        );
        self
    }
}

/// An FTP control connection.
pub struct Ftp {
    reader: BufReader<TcpStream>,
    writer: TcpStream,
    data_mode: DataMode,
    /// The greeting (220) read by [`Ftp::connect`].
    pub banner: Reply,
}

impl Ftp {
    /// Connects to 127.0.0.1:`port` and reads the banner; panics unless it is a 220.
    pub fn connect(port: u16) -> Ftp {
        let ftp = Ftp::try_connect(port)
            .unwrap_or_else(|e| panic!("FTP connect to 127.0.0.1:{port}: {e}"));
        assert_eq!(ftp.banner.code, 220, "unexpected banner: {}", ftp.banner);
        ftp
    }

    /// Connects and reads the first reply, whatever it is (e.g. a 421 or 530 refusal).
    pub fn try_connect(port: u16) -> io::Result<Ftp> {
        let stream = TcpStream::connect(("127.0.0.1", port))?;
        stream.set_read_timeout(Some(IO_TIMEOUT))?;
        stream.set_write_timeout(Some(IO_TIMEOUT))?;
        let writer = stream.try_clone()?;
        let mut reader = BufReader::new(stream);
        let banner = read_reply(&mut reader)?;
        Ok(Ftp {
            reader,
            writer,
            data_mode: DataMode::Passive,
            banner,
        })
    }

    /// Sends `line` + CRLF and returns the reply. Panics on I/O errors (timeouts, closed
    /// connection); use [`Ftp::try_cmd`] when the server is expected to hang up.
    pub fn cmd(&mut self, line: &str) -> Reply {
        self.cmd_bytes(line.as_bytes())
    }

    /// Like [`Ftp::cmd`] with raw bytes (e.g. invalid UTF-8); CRLF is appended.
    pub fn cmd_bytes(&mut self, line: &[u8]) -> Reply {
        self.try_cmd_bytes(line)
            .unwrap_or_else(|e| panic!("FTP command {:?}: {e}", String::from_utf8_lossy(line)))
    }

    pub fn try_cmd(&mut self, line: &str) -> io::Result<Reply> {
        self.try_cmd_bytes(line.as_bytes())
    }

    pub fn try_cmd_bytes(&mut self, line: &[u8]) -> io::Result<Reply> {
        let mut buf = line.to_vec();
        buf.extend_from_slice(b"\r\n");
        self.writer.write_all(&buf)?;
        self.try_read_reply()
    }

    /// Sends `line` and panics unless the reply has code `code`.
    pub fn expect(&mut self, line: &str, code: u16) -> Reply {
        let reply = self.cmd(line);
        assert_eq!(reply.code, code, "{line:?} got: {reply}");
        reply
    }

    /// Writes bytes as they are (nothing appended), without reading a reply.
    pub fn send_raw(&mut self, bytes: &[u8]) {
        self.writer.write_all(bytes).expect("FTP send");
    }

    /// [`Ftp::send_raw`] that reports an error (e.g. the server hung up).
    pub fn try_send_raw(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.writer.write_all(bytes)
    }

    /// Reads the next reply. Panics on I/O errors.
    pub fn read_reply(&mut self) -> Reply {
        self.try_read_reply().expect("FTP read reply")
    }

    pub fn try_read_reply(&mut self) -> io::Result<Reply> {
        read_reply(&mut self.reader)
    }

    /// USER + PASS; panics unless logged in (230).
    pub fn login(&mut self, user: &str, password: &str) {
        let reply = self.cmd(&format!("USER {user}"));
        if reply.code == 230 {
            return;
        }
        assert_eq!(reply.code, 331, "USER {user}: {reply}");
        self.expect(&format!("PASS {password}"), 230);
    }

    /// `TYPE A`
    pub fn type_a(&mut self) {
        self.expect("TYPE A", 200);
    }

    /// `TYPE I`
    pub fn type_i(&mut self) {
        self.expect("TYPE I", 200);
    }

    /// Chooses PASV or EPSV for the following transfers.
    pub fn set_data_mode(&mut self, mode: DataMode) {
        self.data_mode = mode;
    }

    /// Sends `PASV` and returns the announced address. Panics unless 227.
    pub fn pasv(&mut self) -> SocketAddr {
        let reply = self.expect("PASV", 227);
        parse_pasv(&reply.text).unwrap_or_else(|| panic!("cannot parse PASV reply: {reply}"))
    }

    /// Sends `EPSV` and returns 127.0.0.1:<announced port>. Panics unless 229.
    pub fn epsv(&mut self) -> SocketAddr {
        let reply = self.expect("EPSV", 229);
        let port =
            parse_epsv(&reply.text).unwrap_or_else(|| panic!("cannot parse EPSV reply: {reply}"));
        SocketAddr::from(([127, 0, 0, 1], port))
    }

    fn open_data(&mut self) -> TcpStream {
        self.try_open_data()
            .unwrap_or_else(|e| panic!("data connection: {e}"))
    }

    fn try_open_data(&mut self) -> io::Result<TcpStream> {
        let bad = |what: String| io::Error::new(io::ErrorKind::InvalidData, what);
        let addr = match self.data_mode {
            DataMode::Passive => {
                let reply = self.try_cmd("PASV")?;
                match parse_pasv(&reply.text) {
                    Some(a) if reply.code == 227 => a,
                    _ => return Err(bad(format!("PASV: {reply}"))),
                }
            }
            DataMode::ExtendedPassive => {
                let reply = self.try_cmd("EPSV")?;
                match parse_epsv(&reply.text) {
                    Some(port) if reply.code == 229 => SocketAddr::from(([127, 0, 0, 1], port)),
                    _ => return Err(bad(format!("EPSV: {reply}"))),
                }
            }
        };
        let data = TcpStream::connect_timeout(&addr, IO_TIMEOUT)?;
        data.set_read_timeout(Some(IO_TIMEOUT))?;
        data.set_write_timeout(Some(IO_TIMEOUT))?;
        Ok(data)
    }

    /// Runs a download-type command (`RETR x`, `LIST`, `NLST`, `MLSD`): opens a data
    /// connection, sends the command, reads the data to EOF and then the final reply.
    pub fn transfer_in(&mut self, command: &str) -> Transfer {
        self.try_transfer_in(command)
            .unwrap_or_else(|e| panic!("{command}: {e}"))
    }

    /// [`Ftp::transfer_in`] that reports I/O errors (e.g. the server went away).
    pub fn try_transfer_in(&mut self, command: &str) -> io::Result<Transfer> {
        let mut data = self.try_open_data()?;
        let start = self.try_cmd(command)?;
        if !start.is_preliminary() {
            return Ok(Transfer {
                start,
                end: None,
                data: Vec::new(),
            });
        }
        let mut bytes = Vec::new();
        data.read_to_end(&mut bytes)?;
        drop(data);
        let end = self.try_read_reply()?;
        Ok(Transfer {
            start,
            end: Some(end),
            data: bytes,
        })
    }

    pub fn transfer_out(&mut self, command: &str, payload: &[u8]) -> Transfer {
        let mut data = self.open_data();
        let start = self.cmd(command);
        if !start.is_preliminary() {
            return Transfer {
                start,
                end: None,
                data: Vec::new(),
            };
        }
        data.write_all(payload)
            .unwrap_or_else(|e| panic!("{command}: writing data connection: {e}"));
        let _ = data.shutdown(Shutdown::Write);
        drop(data);
        let end = self.read_reply();
        Transfer {
            start,
            end: Some(end),
            data: Vec::new(),
        }
    }

    /// `STOR name`; panics unless the upload succeeds. Returns the final reply.
    pub fn stor(&mut self, name: &str, payload: &[u8]) -> Reply {
        let cmd = format!("STOR {name}");
        self.transfer_out(&cmd, payload)
            .expect_ok(&cmd)
            .end
            .unwrap()
    }

    /// `APPE name`; panics unless the upload succeeds. Returns the final reply.
    pub fn appe(&mut self, name: &str, payload: &[u8]) -> Reply {
        let cmd = format!("APPE {name}");
        self.transfer_out(&cmd, payload)
            .expect_ok(&cmd)
            .end
            .unwrap()
    }

    /// `STOU`; panics unless the upload succeeds. Returns the name the server chose
    /// (from proftpd's `150 FILE: <name>` reply).
    pub fn stou(&mut self, payload: &[u8]) -> String {
        let t = self.transfer_out("STOU", payload).expect_ok("STOU");
        let text = &t.start.text;
        match text.find("FILE: ") {
            Some(i) => text[i + 6..].trim().to_owned(),
            None => panic!("no file name in STOU reply: {}", t.start),
        }
    }

    /// `RETR name`; panics unless the download succeeds.
    pub fn retr(&mut self, name: &str) -> Vec<u8> {
        let cmd = format!("RETR {name}");
        self.transfer_in(&cmd).expect_ok(&cmd).data
    }

    /// `LIST [path]` (no argument if `path` is empty); panics unless it succeeds.
    pub fn list(&mut self, path: &str) -> String {
        let cmd = if path.is_empty() {
            "LIST".to_owned()
        } else {
            format!("LIST {path}")
        };
        String::from_utf8_lossy(&self.transfer_in(&cmd).expect_ok(&cmd).data).into_owned()
    }

    /// `NLST [path]`: the names, one per line; panics unless it succeeds.
    pub fn nlst(&mut self, path: &str) -> Vec<String> {
        let cmd = if path.is_empty() {
            "NLST".to_owned()
        } else {
            format!("NLST {path}")
        };
        let data = self.transfer_in(&cmd).expect_ok(&cmd).data;
        String::from_utf8_lossy(&data)
            .lines()
            .map(|l| l.trim_end_matches('\r').to_owned())
            .filter(|l| !l.is_empty())
            .collect()
    }

    /// `REST offset`; panics unless 350.
    pub fn rest(&mut self, offset: u64) -> Reply {
        self.expect(&format!("REST {offset}"), 350)
    }

    /// `QUIT`: returns the reply (221) after the server has closed the connection
    /// (waits for EOF, so the session is ending when this returns).
    pub fn quit(mut self) -> Reply {
        let reply = self.cmd("QUIT");
        let mut rest = Vec::new();
        let _ = self.reader.read_to_end(&mut rest);
        reply
    }

    /// Waits until the server closes the control connection; returns what it sent
    /// until then (e.g. a `421` on timeout). Errors after `IO_TIMEOUT`.
    pub fn wait_closed(&mut self) -> io::Result<Vec<u8>> {
        let mut rest = Vec::new();
        self.reader.read_to_end(&mut rest)?;
        Ok(rest)
    }
}

/// Reads one RFC 959 reply: `123 text`, or `123-text` ... up to a line starting `123 `.
fn read_reply(reader: &mut impl BufRead) -> io::Result<Reply> {
    let first = read_line(reader)?;
    let code = reply_code(&first).ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!("bad reply line {first:?}"),
        )
    })?;
    let mut raw = vec![first.clone()];
    let mut text = vec![first.get(4..).unwrap_or("").to_owned()];
    if first.as_bytes().get(3) == Some(&b'-') {
        let end = format!("{code} ");
        loop {
            let line = read_line(reader)?;
            raw.push(line.clone());
            if line.starts_with(&end) || line == code.to_string() {
                text.push(line.get(4..).unwrap_or("").to_owned());
                break;
            }
            text.push(line);
        }
    }
    Ok(Reply {
        code,
        text: text.join("\n"),
        raw: raw.join("\n"),
    })
}

fn reply_code(line: &str) -> Option<u16> {
    let b = line.as_bytes();
    if b.len() < 3 || !b[..3].iter().all(u8::is_ascii_digit) {
        return None;
    }
    if b.len() > 3 && b[3] != b' ' && b[3] != b'-' {
        return None;
    }
    line[..3].parse().ok()
}

const IAC: u8 = 255;

/// One line without CRLF, with Telnet sequences (RFC 854: `IAC WILL/WONT/DO/DONT opt`,
/// `IAC cmd`) removed and `IAC IAC` unescaped; proftpd answers e.g. a client's
/// `IAC DONT x` with `IAC WONT x` in front of the next reply. EOF before a newline is
/// an error.
fn read_line(reader: &mut impl BufRead) -> io::Result<String> {
    let mut buf = Vec::new();
    loop {
        reader.read_until(b'\n', &mut buf)?;
        if buf.last() != Some(&b'\n') {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                format!(
                    "connection closed (partial line {:?})",
                    String::from_utf8_lossy(&buf)
                ),
            ));
        }
        // A newline that is the option byte of a negotiation does not end the line.
        let n = buf.len();
        if n >= 3 && buf[n - 3] == IAC && (251..=254).contains(&buf[n - 2]) {
            continue;
        }
        break;
    }
    let mut line = Vec::with_capacity(buf.len());
    let mut i = 0;
    while i < buf.len() {
        match (buf[i], buf.get(i + 1)) {
            (IAC, Some(&IAC)) => {
                line.push(IAC);
                i += 2;
            }
            (IAC, Some(251..=254)) => i += 3,
            (IAC, _) => i += 2,
            (b, _) => {
                line.push(b);
                i += 1;
            }
        }
    }
    while matches!(line.last(), Some(b'\n' | b'\r')) {
        line.pop();
    }
    Ok(String::from_utf8_lossy(&line).into_owned())
}

/// `Entering Passive Mode (127,0,0,1,p1,p2).`
fn parse_pasv(text: &str) -> Option<SocketAddr> {
    let inner = &text[text.find('(')? + 1..text.rfind(')')?];
    let n: Vec<u8> = inner
        .split(',')
        .map(|s| s.trim().parse().ok())
        .collect::<Option<_>>()?;
    if n.len() != 6 {
        return None;
    }
    let port = u16::from(n[4]) << 8 | u16::from(n[5]);
    Some(SocketAddr::from(([n[0], n[1], n[2], n[3]], port)))
}

/// `Entering Extended Passive Mode (|||port|)`
fn parse_epsv(text: &str) -> Option<u16> {
    let inner = &text[text.find('(')? + 1..text.rfind(')')?];
    inner.trim_matches('|').parse().ok()
}
