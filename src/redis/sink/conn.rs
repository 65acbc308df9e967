//! The connection to Redis: resolving (once per session), connecting to
//! each address in turn, AUTH and SELECT, and a socket whose every read and
//! write has a deadline.

use super::resp::{self, Reply};
use super::{TlsFiles, Trace, tls};
use crate::redis::server::{Addr, ServerCfg};
use std::io::{Read, Write};
use std::net::{IpAddr, SocketAddr, TcpStream};
use std::os::unix::net::UnixStream;
use std::time::{Duration, Instant};

/// Time left until `deadline`, or an error if none is.
pub(super) fn left(deadline: Instant) -> Result<Duration, String> {
    match deadline.checked_duration_since(Instant::now()) {
        Some(d) if !d.is_zero() => Ok(d),
        _ => Err("connect timeout reached".into()),
    }
}

/// Host names resolved in this session (each once; IP addresses need no
/// lookup).
#[derive(Default)]
pub(super) struct Resolver {
    pub(super) cache: Vec<((String, u16), Vec<SocketAddr>)>,
}

impl Resolver {
    pub(super) fn addrs(
        &mut self,
        host: &str,
        port: u16,
        deadline: Instant,
    ) -> Result<Vec<SocketAddr>, String> {
        if let Ok(ip) = host.parse::<IpAddr>() {
            return Ok(vec![SocketAddr::new(ip, port)]);
        }
        if let Some((_, a)) = self.cache.iter().find(|(k, _)| k.0 == host && k.1 == port) {
            return Ok(a.clone());
        }
        let addrs = crate::host::sys::resolve(host, port, left(deadline)?)?;
        self.cache.push(((host.to_string(), port), addrs.clone()));
        Ok(addrs)
    }
}

/// TCP to the first address that answers; each address gets an equal
/// share of the time left (a silent first one does not use it all up).
fn connect_tcp(addrs: &[SocketAddr], deadline: Instant) -> Result<TcpStream, String> {
    let mut errors = Vec::new();
    for (i, a) in addrs.iter().enumerate() {
        let rest = match left(deadline) {
            Ok(r) => r,
            Err(e) => {
                errors.push(e);
                break;
            }
        };
        let share = rest / (addrs.len() - i) as u32;
        match TcpStream::connect_timeout(a, share.max(Duration::from_millis(1))) {
            Ok(s) => return Ok(s),
            Err(e) => errors.push(format!("{a}: {}", io_text(&e))),
        }
    }
    Err(errors.join("; "))
}

/// A connection to `cfg`: connected, TLS handshake done, AUTH and SELECT
/// answered, all before `deadline`; the connection keeps `deadline` as
/// its limit (the caller lifts it).
pub(super) fn open(
    cfg: &ServerCfg,
    files: &TlsFiles,
    resolver: &mut Resolver,
    deadline: Instant,
    io: Duration,
    trace: &mut Trace,
) -> Result<Conn, String> {
    let sock = match &cfg.addr {
        Addr::Unix(path) => {
            if cfg.tls.enabled {
                return Err("TLS needs a TCP address".into());
            }
            // A local connect: it does not wait for a peer.
            Sock::Unix(UnixStream::connect(path).map_err(|e| io_text(&e))?)
        }
        Addr::Tcp { host, port } => {
            let addrs = resolver.addrs(host, *port, deadline)?;
            let tcp = connect_tcp(&addrs, deadline)?;
            let _ = tcp.set_nodelay(true);
            Sock::Tcp(tcp)
        }
    };
    let sock = TimedSock {
        sock,
        deadline,
        nonblock: false,
    };
    let transport = if cfg.tls.enabled {
        let Addr::Tcp { host, port } = &cfg.addr else {
            return Err("TLS needs a TCP address".into());
        };
        let t = Transport::Tls(Box::new(tls::handshake(host, files, sock)?));
        trace.at(17, || {
            format!("established TLS connection with '{host}:{port}'")
        });
        t
    } else {
        Transport::Plain(sock)
    };
    let mut conn = Conn {
        transport,
        rbuf: Vec::new(),
        rpos: 0,
        rend: 0,
        io,
        limit: Some(deadline),
        needs_ping: false,
        ping_inflight: false,
    };
    // AUTH and SELECT in one round trip.
    let (setup, names) = resp::setup_pipeline(cfg);
    if names.is_empty() {
        // The first reply on this connection will be PING's.
        conn.needs_ping = true;
        return Ok(conn);
    }
    for name in &names {
        // Never with its arguments: AUTH's hold the password.
        trace.at(7, || format!("sending command: {name}"));
    }
    conn.send(&setup)?;
    for name in &names {
        match conn.reply()? {
            Reply::Status(s) => trace.at(7, || format!("{name} reply: {s}")),
            Reply::Error(e) => {
                trace.at(2, || format!("{name} error: {}", e.code));
                // Never echo the command: it holds the password.
                return Err(format!("Redis refused {name}: {}", e.code));
            }
            other => {
                return Err(format!(
                    "unexpected {} reply to {name} (not Redis?)",
                    other.kind()
                ));
            }
        }
    }
    Ok(conn)
}

pub(super) fn io_text(e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut => "timed out".into(),
        _ => e.to_string(),
    }
}

pub(super) enum Sock {
    Tcp(TcpStream),
    Unix(UnixStream),
}

/// A socket whose every read and write waits at most until `deadline`
/// (the socket timeout is set to the time left before each call, so a
/// peer that trickles bytes cannot stretch an operation).
pub(super) struct TimedSock {
    pub(super) sock: Sock,
    pub(super) deadline: Instant,
    /// Read only what is already there: `WouldBlock` if nothing is
    /// ([`Conn::quiet`]).
    pub(super) nonblock: bool,
}

impl TimedSock {
    fn time_left(&self) -> std::io::Result<Duration> {
        match self.deadline.checked_duration_since(Instant::now()) {
            Some(d) if !d.is_zero() => Ok(d),
            _ => Err(std::io::ErrorKind::TimedOut.into()),
        }
    }
}

/// A signal (proftpd's SIGTERM, SIGALRM, SIGCHLD handlers only set a flag)
/// interrupts a socket call that has a timeout even under SA_RESTART: that
/// is no error, so the call is made again with the time still left.
/// (Treating it as one made the sink reconnect and send an event twice.)
fn again_on_eintr<T>(mut call: impl FnMut() -> std::io::Result<T>) -> std::io::Result<T> {
    loop {
        match call() {
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            r => return r,
        }
    }
}

impl Read for TimedSock {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.nonblock {
            return again_on_eintr(|| match &mut self.sock {
                Sock::Tcp(s) => {
                    s.set_nonblocking(true)?;
                    let r = s.read(buf);
                    s.set_nonblocking(false)?;
                    r
                }
                Sock::Unix(s) => {
                    s.set_nonblocking(true)?;
                    let r = s.read(buf);
                    s.set_nonblocking(false)?;
                    r
                }
            });
        }
        again_on_eintr(|| {
            let t = Some(self.time_left()?);
            match &mut self.sock {
                Sock::Tcp(s) => {
                    s.set_read_timeout(t)?;
                    s.read(buf)
                }
                Sock::Unix(s) => {
                    s.set_read_timeout(t)?;
                    s.read(buf)
                }
            }
        })
    }
}

impl Write for TimedSock {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        again_on_eintr(|| {
            let t = Some(self.time_left()?);
            match &mut self.sock {
                Sock::Tcp(s) => {
                    s.set_write_timeout(t)?;
                    s.write(buf)
                }
                Sock::Unix(s) => {
                    s.set_write_timeout(t)?;
                    s.write(buf)
                }
            }
        })
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// RESP over TCP, a unix socket or TLS (rustls with the ring provider: no
/// libssl in the process, whose mere loading cost every session of the
/// host).  Our own, not the `redis` crate's connection, so that one
/// deadline covers resolving, connecting and the TLS handshake (the crate
/// has a timeout per address and none for the handshake).
pub(super) enum Transport {
    Plain(TimedSock),
    Tls(Box<rustls::StreamOwned<rustls::ClientConnection, TimedSock>>),
}

pub(super) struct Conn {
    transport: Transport,
    /// The reader's buffer, for every reply on this connection (RPUSH,
    /// PING, AUTH, SELECT, the Sentinels'); bytes `rpos..rend` are not
    /// read yet.  It never grows beyond [`resp::BUF_MAX`].
    rbuf: Vec<u8>,
    rpos: usize,
    rend: usize,
    /// Each write of a command and each read of a reply waits at most this.
    io: Duration,
    /// While the connection is being set up: nothing waits past this.
    pub(super) limit: Option<Instant>,
    /// No reply came on this connection yet (no AUTH or SELECT): the first
    /// pipeline starts with PING.
    pub(super) needs_ping: bool,
    /// PING was sent: its reply comes before the events'.
    pub(super) ping_inflight: bool,
}

/// Why a connection is out of step (more replies than commands).
pub(super) const OUT_OF_STEP: &str =
    "Redis sent more replies than commands (out of step): reconnecting";

/// Whether anything came after the last reply ([`Conn::quiet`]).
pub(super) enum Quiet {
    /// Nothing: the replies read agree with the commands sent.
    Yes,
    /// The connection is closed (or broken): the replies read still
    /// count, but nothing more can be sent on it.
    Closed(String),
    /// More bytes than replies to what was sent.
    OutOfStep,
}

impl Conn {
    /// The deadline of one operation starting now.
    fn arm(&mut self) {
        let mut d = Instant::now() + self.io;
        if let Some(l) = self.limit {
            d = d.min(l);
        }
        match &mut self.transport {
            Transport::Plain(s) => s.deadline = d,
            Transport::Tls(t) => t.sock.deadline = d,
        }
    }

    pub(super) fn send(&mut self, bytes: &[u8]) -> Result<(), String> {
        self.arm();
        let r = match &mut self.transport {
            Transport::Plain(s) => s.write_all(bytes),
            Transport::Tls(t) => t.write_all(bytes).and_then(|_| t.flush()),
        };
        r.map_err(|e| io_text(&e))
    }

    /// Send one command of `args`.
    pub(super) fn command(&mut self, args: &[&[u8]]) -> Result<(), String> {
        let mut out = Vec::new();
        resp::write_command(&mut out, args);
        self.send(&out)
    }

    /// The next reply (an array: its header; its elements are the next
    /// replies).  Nothing read from the peer is kept beyond
    /// [`resp::BUF_MAX`] bytes.
    pub(super) fn reply(&mut self) -> Result<Reply, String> {
        self.arm();
        loop {
            if let Some((reply, used)) = resp::parse_reply(&self.rbuf[self.rpos..self.rend])? {
                self.rpos += used;
                if self.rpos == self.rend {
                    (self.rpos, self.rend) = (0, 0);
                }
                return Ok(reply);
            }
            self.fill()?;
        }
    }

    /// Read and forget one whole reply (an array with its elements, nested
    /// at most `depth` deep).
    pub(super) fn skip(&mut self, depth: usize) -> Result<(), String> {
        if let Reply::Array(Some(n)) = self.reply()? {
            if depth == 0 {
                return Err("malformed reply (nested too deep)".into());
            }
            for _ in 0..n {
                self.skip(depth - 1)?;
            }
        }
        Ok(())
    }

    /// All replies to what was sent have been read: nothing more may be
    /// there.  [`Quiet::OutOfStep`] if something is (the peer sends more
    /// replies than it got commands: every later reply would be taken for
    /// the one before).  Never waits.
    pub(super) fn quiet(&mut self) -> Quiet {
        if self.rpos < self.rend {
            return Quiet::OutOfStep;
        }
        (self.rpos, self.rend) = (0, 0);
        if self.rbuf.is_empty() {
            self.rbuf.resize(512, 0);
        }
        let set = |t: &mut Transport, on: bool| match t {
            Transport::Plain(s) => s.nonblock = on,
            Transport::Tls(t) => t.sock.nonblock = on,
        };
        set(&mut self.transport, true);
        let r = match &mut self.transport {
            Transport::Plain(s) => s.read(&mut self.rbuf),
            Transport::Tls(t) => t.read(&mut self.rbuf),
        };
        set(&mut self.transport, false);
        match r {
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => Quiet::Yes,
            Ok(0) => Quiet::Closed("connection closed by Redis".into()),
            Ok(_) => Quiet::OutOfStep,
            Err(e) => Quiet::Closed(io_text(&e)),
        }
    }

    /// Read more bytes of the replies (waiting at most until the deadline).
    fn fill(&mut self) -> Result<(), String> {
        if self.rend == self.rbuf.len() {
            // Full: make room at the front, else grow (once per connection
            // usually: no buffer is cleared per read).
            if self.rpos > 0 {
                self.rbuf.copy_within(self.rpos..self.rend, 0);
                (self.rpos, self.rend) = (0, self.rend - self.rpos);
            } else if self.rbuf.len() >= resp::BUF_MAX {
                return Err("reply from Redis too long".into());
            } else {
                let n = (self.rbuf.len() * 2).clamp(512, resp::BUF_MAX);
                self.rbuf.resize(n, 0);
            }
        }
        let buf = &mut self.rbuf[self.rend..];
        let n = match &mut self.transport {
            Transport::Plain(s) => s.read(buf),
            Transport::Tls(t) => t.read(buf),
        }
        .map_err(|e| io_text(&e))?;
        if n == 0 {
            return Err("connection closed by Redis".into());
        }
        self.rend += n;
        Ok(())
    }

    /// How much the reader holds (for tests of its bound).
    #[cfg(test)]
    pub(super) fn buffered(&self) -> usize {
        self.rbuf.len()
    }
}
