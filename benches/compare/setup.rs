//! The configurations both sides run, and measuring a session process.

use crate::harness::util::{self, child_pids, in_poll_or_select, wait_until};
use crate::harness::{self, Ftp, Modules, Proftpd, ProftpdBuilder};
use std::fs;
use std::io::{BufRead, BufReader};
use std::net::TcpStream;
use std::time::Duration;

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Side {
    C,
    Ours,
}

impl Side {
    pub fn tag(self) -> &'static str {
        match self {
            Side::C => "C",
            Side::Ours => "ours",
        }
    }
}

/// Both sides, in the order of this round (alternating, so neither side is
/// always measured right after the other).
pub fn sides(round: usize) -> [Side; 2] {
    if round.is_multiple_of(2) {
        [Side::C, Side::Ours]
    } else {
        [Side::Ours, Side::C]
    }
}

/// The base server of a side: Debian's module dir for C, ours for ours; no
/// transfer log unless a scenario asks for one (without the directive the core
/// would log to its default path).
pub fn server(side: Side) -> ProftpdBuilder {
    let modules = match side {
        Side::C => Modules::DebianC,
        Side::Ours => Modules::Ours,
    };
    Proftpd::builder(modules).set("TransferLog", "none")
}

pub const USER: (&str, &str) = harness::ALICE;

pub fn redis_conf(addr: &str, rule: &str) -> String {
    format!(
        "RedisEngine on\nRedisServer {addr}\nRedisTimeouts 500 500\n\
         LogFormat b \"%h %l %u %t \\\"%r\\\" %s %b\"\n{rule}\n"
    )
}

pub const FORENSIC_ON: &str = "ForensicLogEngine on\nForensicLogFile @DIR@/forensic.log\n";
pub const FORENSIC_OFF: &str = "ForensicLogEngine off\nForensicLogFile @DIR@/forensic.log\n";
pub const XFERLOG_EXT: &str = "XferLog @DIR@/xferlog.ext wu-ext\n";
/// The commands the session-cost scenario sends (the rule both sides get).
pub const SESSION_RULE: &str = "RedisLogOnCommand USER,PASS,QUIT b";
/// The Redis per-command scenarios: ours logs ALL; the C module (1.3.8) logs
/// nothing for ALL, so it gets the list of the commands the scenario sends.
pub const RULE_ALL: &str = "RedisLogOnCommand ALL b";
pub const RULE_LIST: &str = "RedisLogOnCommand USER,PASS,NOOP,QUIT b";

pub fn rule_for(side: Side) -> &'static str {
    match side {
        Side::C => RULE_LIST,
        Side::Ours => RULE_ALL,
    }
}

/// The `j`-th of `n` configurations to measure in `round`: forwards in even
/// rounds, backwards in odd ones.
pub fn nth_in_round(round: usize, n: usize, j: usize) -> usize {
    if round.is_multiple_of(2) {
        j
    } else {
        n - 1 - j
    }
}

// ---------------------------------------------------------------------------
// Measuring

/// `/proc/<pid>/schedstat` first field: ns on CPU (user + kernel).
pub fn cpu_ns(pid: u32) -> f64 {
    let text = fs::read_to_string(format!("/proc/{pid}/schedstat"))
        .unwrap_or_else(|e| panic!("/proc/{pid}/schedstat: {e}"));
    text.split_whitespace()
        .next()
        .and_then(|f| f.parse::<u64>().ok())
        .unwrap_or_else(|| panic!("bad schedstat {text:?}")) as f64
}

/// The state letter in `/proc/<pid>/stat` (`R`, `S`, `T`, `Z`, ...).
pub fn proc_state(pid: u32) -> Option<char> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    stat[stat.rfind(')')? + 1..].trim_start().chars().next()
}

/// Session CPU of an idle (blocked in select) session process.
pub fn idle_cpu_ns(pid: u32) -> f64 {
    wait_until(Duration::from_secs(2), || in_poll_or_select(pid));
    cpu_ns(pid)
}

/// The one session process of `server`.
pub fn only_session(server: &Proftpd) -> u32 {
    let kids = child_pids(server.pid());
    assert_eq!(
        kids.len(),
        1,
        "expected one session process of {}, found {kids:?}",
        server.pid()
    );
    kids[0]
}

/// Keeps the master stopped (SIGSTOP) so that it cannot reap a session that
/// ends; SIGCONT on drop.
pub struct MasterStopped(u32);

impl MasterStopped {
    pub fn new(master: u32) -> MasterStopped {
        util::send_signal(master, libc::SIGSTOP);
        let stopped = wait_until(Duration::from_secs(5), || {
            matches!(proc_state(master), Some('T' | 't'))
        });
        assert!(stopped, "proftpd master {master} did not stop");
        MasterStopped(master)
    }
}

impl Drop for MasterStopped {
    fn drop(&mut self) {
        util::send_signal(self.0, libc::SIGCONT);
    }
}

/// The CPU time of one whole session process, from fork to exit: connect,
/// `body` (e.g. log in), QUIT. The master is stopped while the session quits,
/// so the exited session stays a zombie whose schedstat can still be read.
pub fn session_cpu_ns(server: &Proftpd, body: impl FnOnce(&mut Ftp)) -> f64 {
    let mut ftp = server.connect();
    let pid = only_session(server);
    body(&mut ftp);
    let stopped = MasterStopped::new(server.pid());
    ftp.quit();
    let exited = wait_until(Duration::from_secs(10), || proc_state(pid) == Some('Z'));
    assert!(exited, "session {pid} did not exit after QUIT");
    let ns = cpu_ns(pid);
    drop(stopped);
    ns
}

pub fn login(ftp: &mut Ftp) {
    ftp.login(USER.0, USER.1);
}

/// A logged-in session that stays open for the whole run.
pub struct Live {
    pub ftp: Ftp,
    pub pid: u32,
}

impl Live {
    pub fn open(server: &Proftpd) -> Live {
        let ftp = server.login(USER.0, USER.1);
        let pid = only_session(server);
        Live { ftp, pid }
    }
}

/// Sends `n` commands pipelined in chunks and reads all replies.
pub fn pipelined(ftp: &mut Ftp, n: usize) {
    const BATCH: [&str; 4] = ["NOOP", "PWD", "TYPE I", "SYST"];
    const CHUNK: usize = 100;
    let mut sent = 0;
    while sent < n {
        let k = CHUNK.min(n - sent);
        let mut buf = String::new();
        for i in 0..k {
            buf.push_str(BATCH[(sent + i) % BATCH.len()]);
            buf.push_str("\r\n");
        }
        ftp.send_raw(buf.as_bytes());
        for _ in 0..k {
            let r = ftp.read_reply();
            assert!(r.is_success(), "pipelined command failed: {r}");
        }
        sent += k;
    }
}

/// Whether a new session on `port` sends its banner within `wait`.
pub fn banner_within(port: u16, wait: Duration) -> bool {
    let Ok(stream) = TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(wait));
    let mut line = String::new();
    BufReader::new(stream).read_line(&mut line).is_ok() && line.starts_with("220")
}
