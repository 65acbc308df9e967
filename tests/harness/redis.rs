//! A throwaway `redis-server` per test and a tiny RESP2 client to inspect it.

use std::fmt::Write as _;
use std::fs;
use std::io::{self, BufRead, BufReader, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use super::util::{self, DEFAULT_TIMEOUT, TestDir};

/// How long [`RedisBuilder::start`] waits for `PING` to answer.
pub const REDIS_START_TIMEOUT: Duration = Duration::from_secs(20);

/// The server the tests start: `REDIS_SERVER_BIN` (default `redis-server`;
/// `valkey-server` for Valkey, as the release matrix runs them a second
/// time where the release has it).
pub fn redis_bin() -> PathBuf {
    std::env::var_os("REDIS_SERVER_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("redis-server"))
}

/// A tool of the server's family: `REDIS_SENTINEL_BIN` / `REDIS_CLI_BIN`
/// (`var`), else the server's sibling (`valkey-server` -> `valkey-sentinel`,
/// `valkey-cli`; `redis-server` -> `redis-sentinel`, `redis-cli`), in the
/// server's folder when that was given as a path.
fn sibling_bin(var: &str, tool: &str) -> PathBuf {
    if let Some(p) = std::env::var_os(var) {
        return PathBuf::from(p);
    }
    let server = redis_bin();
    let family = match server.file_name().and_then(|n| n.to_str()) {
        Some(n) if n.starts_with("valkey") => "valkey",
        _ => "redis",
    };
    server.with_file_name(format!("{family}-{tool}"))
}

/// The Sentinel binary (`REDIS_SENTINEL_BIN`, else the server's sibling).
pub fn sentinel_bin() -> PathBuf {
    sibling_bin("REDIS_SENTINEL_BIN", "sentinel")
}

/// The command-line client (`REDIS_CLI_BIN`, else the server's sibling).
pub fn cli_bin() -> PathBuf {
    sibling_bin("REDIS_CLI_BIN", "cli")
}

/// Whether the tests run against Valkey (the server binary is Valkey's),
/// for the few places where it answers differently from Redis.
pub fn is_valkey() -> bool {
    redis_bin()
        .file_name()
        .and_then(|n| n.to_str())
        .is_some_and(|n| n.starts_with("valkey"))
}

/// Builder for a [`RedisServer`].
pub struct RedisBuilder {
    unix_socket: bool,
    config: Vec<String>,
}

impl RedisBuilder {
    /// Also listen on a unix socket `<dir>/redis.sock` (mode 0777).
    pub fn unix_socket(mut self) -> Self {
        self.unix_socket = true;
        self
    }

    /// Adds a redis.conf line, e.g. `"requirepass hunter2"`.
    pub fn config(mut self, line: &str) -> Self {
        self.config.push(line.to_owned());
        self
    }

    /// Starts redis-server and waits until it answers `PING`.
    pub fn start(self) -> RedisServer {
        let dir = TestDir::new("proftpd-rs-redis-");
        let mut attempt = 0;
        loop {
            attempt += 1;
            let port = util::free_port();
            let socket = self.unix_socket.then(|| dir.path().join("redis.sock"));
            let mut conf = String::new();
            let _ = writeln!(conf, "port {port}");
            let _ = writeln!(conf, "bind 127.0.0.1");
            let _ = writeln!(conf, "save \"\"");
            let _ = writeln!(conf, "appendonly no");
            let _ = writeln!(conf, "daemonize no");
            let _ = writeln!(conf, "dir {}", dir.path().display());
            let _ = writeln!(conf, "logfile {}", dir.path().join("redis.log").display());
            if let Some(s) = &socket {
                let _ = writeln!(conf, "unixsocket {}", s.display());
                let _ = writeln!(conf, "unixsocketperm 777");
            }
            for line in &self.config {
                let _ = writeln!(conf, "{line}");
            }
            let conf_path = dir.path().join("redis.conf");
            fs::write(&conf_path, conf).expect("write redis.conf");
            let _ = fs::remove_file(dir.path().join("redis.log"));
            let mut server = RedisServer {
                child: Some(spawn_redis(&conf_path)),
                port,
                socket,
                dir: None,
            };
            let mut exited = false;
            let up = util::wait_until(REDIS_START_TIMEOUT, || {
                if server
                    .child
                    .as_mut()
                    .is_some_and(|c| c.try_wait().ok().flatten().is_some())
                {
                    exited = true;
                    return true;
                }
                ping(port)
            });
            if up && !exited {
                server.dir = Some(dir);
                return server;
            }
            server.kill();
            let log = util::read_tail(&dir.path().join("redis.log"), 16 * 1024);
            if log.contains("Address already in use") && attempt < 5 {
                continue;
            }
            panic!("redis-server did not start (exited: {exited}); redis.log:\n{log}");
        }
    }
}

fn spawn_redis(conf: &Path) -> Child {
    Command::new(redis_bin())
        .arg(conf)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", redis_bin().display()))
}

fn ping(port: u16) -> bool {
    RedisClient::try_connect(port)
        .and_then(|mut c| c.try_cmd(&[b"PING".as_slice()]))
        .is_ok_and(|r| r == Resp::Simple("PONG".into()))
}

/// A running `redis-server` on 127.0.0.1 (no persistence). Killed on drop; if the test
/// is panicking, its log is printed first.
pub struct RedisServer {
    child: Option<Child>,
    port: u16,
    socket: Option<PathBuf>,
    dir: Option<TestDir>,
}

impl RedisServer {
    /// Starts a default server (TCP only).
    pub fn start() -> RedisServer {
        RedisServer::builder().start()
    }

    pub fn builder() -> RedisBuilder {
        RedisBuilder {
            unix_socket: false,
            config: Vec::new(),
        }
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The unix socket path, if the builder asked for one.
    pub fn unix_socket(&self) -> Option<&Path> {
        self.socket.as_deref()
    }

    pub fn dir(&self) -> &Path {
        self.dir.as_ref().expect("dir").path()
    }

    pub fn log_path(&self) -> PathBuf {
        self.dir().join("redis.log")
    }

    /// A new client connection (TCP).
    pub fn client(&self) -> RedisClient {
        RedisClient::connect(self.port)
    }

    /// Stops the server (SIGTERM, then SIGKILL after 5 s).
    pub fn stop(&mut self) {
        self.kill();
    }

    /// Kills the server at once (SIGKILL), as a crash would.
    pub fn crash(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts the server again after [`RedisServer::stop`] or
    /// [`RedisServer::crash`]: same config, same port, same dir (so with
    /// `appendonly yes` it keeps what it had acknowledged).
    pub fn restart(&mut self) {
        assert!(self.child.is_none(), "redis-server is still running");
        self.child = Some(spawn_redis(&self.dir().join("redis.conf")));
        let port = self.port;
        assert!(
            util::wait_until(REDIS_START_TIMEOUT, || ping(port)),
            "redis-server did not come back on port {port}:\n{}",
            util::read_tail(&self.log_path(), 16 * 1024)
        );
    }

    fn kill(&mut self) {
        if let Some(mut child) = self.child.take()
            && let Err(e) = util::terminate_child(&mut child, Duration::from_secs(5))
        {
            eprintln!("[harness] stopping redis-server: {e}");
        }
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.kill();
        if std::thread::panicking() && self.dir.is_some() {
            eprintln!(
                "==== redis.log ({}) ====\n{}",
                self.log_path().display(),
                util::read_tail(&self.log_path(), 16 * 1024)
            );
        }
    }
}

/// A RESP2 value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Resp {
    Simple(String),
    Error(String),
    Integer(i64),
    Bulk(Option<Vec<u8>>),
    Array(Option<Vec<Resp>>),
}

impl Resp {
    /// Bulk or simple string as (lossy) UTF-8.
    pub fn as_string(&self) -> Option<String> {
        match self {
            Resp::Simple(s) => Some(s.clone()),
            Resp::Bulk(Some(b)) => Some(String::from_utf8_lossy(b).into_owned()),
            _ => None,
        }
    }

    pub fn as_int(&self) -> Option<i64> {
        match self {
            Resp::Integer(i) => Some(*i),
            _ => None,
        }
    }

    /// The elements of an array reply as strings (non-strings are skipped).
    pub fn into_strings(self) -> Vec<String> {
        match self {
            Resp::Array(Some(items)) => items.iter().filter_map(Resp::as_string).collect(),
            other => panic!("expected an array reply, got {other:?}"),
        }
    }
}

/// A minimal synchronous Redis client (RESP2 over TCP, 10 s timeouts).
pub struct RedisClient {
    reader: BufReader<TcpStream>,
    writer: TcpStream,
}

impl RedisClient {
    pub fn connect(port: u16) -> RedisClient {
        RedisClient::try_connect(port)
            .unwrap_or_else(|e| panic!("redis connect to 127.0.0.1:{port}: {e}"))
    }

    pub fn try_connect(port: u16) -> io::Result<RedisClient> {
        let stream = TcpStream::connect(("127.0.0.1", port))?;
        stream.set_read_timeout(Some(Duration::from_secs(10)))?;
        stream.set_write_timeout(Some(Duration::from_secs(10)))?;
        Ok(RedisClient {
            writer: stream.try_clone()?,
            reader: BufReader::new(stream),
        })
    }

    /// Runs a command, e.g. `cmd(&["RPUSH", "k", "v"])`. Panics on I/O errors and on
    /// error replies.
    pub fn cmd(&mut self, args: &[&str]) -> Resp {
        let raw: Vec<&[u8]> = args.iter().map(|a| a.as_bytes()).collect();
        match self.try_cmd(&raw) {
            Ok(Resp::Error(e)) => panic!("redis {args:?}: error reply {e}"),
            Ok(r) => r,
            Err(e) => panic!("redis {args:?}: {e}"),
        }
    }

    /// `ACL SETUSER user on >password ~* &* +@all`: a user who may do
    /// everything. Redis 6.0 (Debian 11) knows no channel rules (`&*`, 6.2)
    /// and lets every user use every channel: there without `&*`.
    pub fn acl_setuser(&mut self, user: &str, password: &str) {
        let pass = format!(">{password}");
        let mut args = vec![
            "ACL",
            "SETUSER",
            user,
            "on",
            pass.as_str(),
            "~*",
            "&*",
            "+@all",
        ];
        let raw: Vec<&[u8]> = args.iter().map(|a| a.as_bytes()).collect();
        match self.try_cmd(&raw) {
            Ok(Resp::Error(e)) if e.contains("'&*'") => {
                args.retain(|a| *a != "&*");
                self.cmd(&args);
            }
            Ok(Resp::Error(e)) => panic!("redis ACL SETUSER {user}: error reply {e}"),
            Ok(_) => {}
            Err(e) => panic!("redis ACL SETUSER {user}: {e}"),
        }
    }

    /// Runs a command with binary arguments; error replies are returned as `Resp::Error`.
    pub fn try_cmd(&mut self, args: &[&[u8]]) -> io::Result<Resp> {
        let mut buf = format!("*{}\r\n", args.len()).into_bytes();
        for a in args {
            buf.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
            buf.extend_from_slice(a);
            buf.extend_from_slice(b"\r\n");
        }
        self.writer.write_all(&buf)?;
        read_resp(&mut self.reader)
    }

    /// `LRANGE key 0 -1`
    pub fn lrange(&mut self, key: &str) -> Vec<String> {
        self.cmd(&["LRANGE", key, "0", "-1"]).into_strings()
    }

    /// `LLEN key`
    pub fn llen(&mut self, key: &str) -> i64 {
        self.cmd(&["LLEN", key]).as_int().expect("LLEN reply")
    }

    /// `KEYS pattern`, sorted.
    pub fn keys(&mut self, pattern: &str) -> Vec<String> {
        let mut keys = self.cmd(&["KEYS", pattern]).into_strings();
        keys.sort();
        keys
    }

    /// `GET key`
    pub fn get(&mut self, key: &str) -> Option<String> {
        self.cmd(&["GET", key]).as_string()
    }

    /// `FLUSHALL`
    pub fn flushall(&mut self) {
        self.cmd(&["FLUSHALL"]);
    }

    /// Waits ([`DEFAULT_TIMEOUT`]) until list `key` has at least `n` items and returns
    /// them; panics on timeout, showing what the list held.
    pub fn wait_for_list(&mut self, key: &str, n: usize) -> Vec<String> {
        let mut items = Vec::new();
        if !util::wait_until(DEFAULT_TIMEOUT, || {
            items = self.lrange(key);
            items.len() >= n
        }) {
            panic!("timed out waiting for {n} items in redis list {key:?}; it has: {items:#?}");
        }
        // One more round trip: Redis writes its replies after it ran the
        // commands (and may run our LRANGE before it has written the RPUSH
        // replies of the same loop); after this one, those are on their way
        // too, so a test that kills Redis next does not make an event look
        // undelivered (it would be sent again: at least once, not exactly).
        self.cmd(&["PING"]);
        items
    }
}

fn read_resp(r: &mut impl BufRead) -> io::Result<Resp> {
    let mut line = Vec::new();
    r.read_until(b'\n', &mut line)?;
    if !line.ends_with(b"\r\n") {
        return Err(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            "redis connection closed",
        ));
    }
    line.truncate(line.len() - 2);
    let bad = || io::Error::new(io::ErrorKind::InvalidData, "bad RESP");
    let (&kind, rest) = line.split_first().ok_or_else(bad)?;
    let rest = String::from_utf8_lossy(rest).into_owned();
    let num = || rest.parse::<i64>().map_err(|_| bad());
    Ok(match kind {
        b'+' => Resp::Simple(rest),
        b'-' => Resp::Error(rest),
        b':' => Resp::Integer(num()?),
        b'$' => match num()? {
            n if n < 0 => Resp::Bulk(None),
            n => {
                let mut buf = vec![0; n as usize + 2];
                r.read_exact(&mut buf)?;
                buf.truncate(n as usize);
                Resp::Bulk(Some(buf))
            }
        },
        b'*' => match num()? {
            n if n < 0 => Resp::Array(None),
            n => Resp::Array(Some(
                (0..n).map(|_| read_resp(r)).collect::<io::Result<_>>()?,
            )),
        },
        _ => return Err(bad()),
    })
}

// ---- #21: a scripted RESP server, for protocol faults a real Redis ------
// ---- cannot produce (extra replies, replies of the wrong kind, ...) -----

/// One command a [`ScriptedRedis`] got.
pub struct Call<'a> {
    /// Which connection (0 for the first one accepted).
    pub conn: usize,
    /// For an RPUSH: how many RPUSHes came before it (all connections).
    pub rpush: usize,
    pub args: &'a [Vec<u8>],
}

/// What Redis answers to the commands mod_redis sends: `+PONG` to PING,
/// `:1` to RPUSH, `+OK` to AUTH and SELECT.
pub fn redis_answer(args: &[Vec<u8>]) -> Vec<u8> {
    match args.first().map(|a| a.to_ascii_uppercase()).as_deref() {
        Some(b"PING") => b"+PONG\r\n".to_vec(),
        Some(b"RPUSH") => b":1\r\n".to_vec(),
        Some(b"AUTH" | b"SELECT") => b"+OK\r\n".to_vec(),
        _ => b"-ERR unknown command\r\n".to_vec(),
    }
}

/// A RESP server on a loopback port, in a thread of the test: each
/// command gets what `answer` says; the RPUSH payloads are recorded, in
/// the order they came.  Its threads live until the test process ends.
pub struct ScriptedRedis {
    port: u16,
    payloads: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
}

type Answer = dyn Fn(&Call) -> Vec<u8> + Send + Sync;

impl ScriptedRedis {
    pub fn start(answer: impl Fn(&Call) -> Vec<u8> + Send + Sync + 'static) -> ScriptedRedis {
        use std::sync::{Arc, Mutex};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("local_addr").port();
        let payloads = Arc::new(Mutex::new(Vec::new()));
        let answer: Arc<Answer> = Arc::new(answer);
        let rpushes = Arc::new(Mutex::new(0usize));
        let p = payloads.clone();
        std::thread::spawn(move || {
            for (conn, s) in listener.incoming().flatten().enumerate() {
                let (answer, payloads, rpushes) = (answer.clone(), p.clone(), rpushes.clone());
                std::thread::spawn(move || {
                    let Ok(mut w) = s.try_clone() else { return };
                    let mut r = BufReader::new(s);
                    while let Some(args) = read_command(&mut r) {
                        let mut rpush = 0;
                        if args
                            .first()
                            .is_some_and(|a| a.eq_ignore_ascii_case(b"RPUSH"))
                        {
                            let mut n = rpushes.lock().unwrap();
                            rpush = *n;
                            *n += 1;
                            if let Some(p) = args.get(2) {
                                payloads
                                    .lock()
                                    .unwrap()
                                    .push(String::from_utf8_lossy(p).into_owned());
                            }
                        }
                        let reply = answer(&Call {
                            conn,
                            rpush,
                            args: &args,
                        });
                        if w.write_all(&reply).is_err() {
                            break;
                        }
                    }
                });
            }
        });
        ScriptedRedis { port, payloads }
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The RPUSH payloads received so far, in order.
    pub fn payloads(&self) -> Vec<String> {
        self.payloads.lock().unwrap().clone()
    }
}

/// One RESP command (an array of bulk strings), `None` at the end.
fn read_command(r: &mut impl BufRead) -> Option<Vec<Vec<u8>>> {
    let mut line = String::new();
    r.read_line(&mut line).ok()?;
    let n: usize = line.trim_end().strip_prefix('*')?.parse().ok()?;
    let mut args = Vec::new();
    for _ in 0..n {
        line.clear();
        r.read_line(&mut line).ok()?;
        let len: usize = line.trim_end().strip_prefix('$')?.parse().ok()?;
        let mut b = vec![0; len + 2];
        io::Read::read_exact(r, &mut b).ok()?;
        b.truncate(len);
        args.push(b);
    }
    Some(args)
}
