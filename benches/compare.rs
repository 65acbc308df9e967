//! One benchmark comparing our modules with Debian's C modules, in one run.
//!
//! ```text
//! cargo bench --bench compare [-- GROUP...]     # GROUP: session redis forensic xferlog
//! scripts/bench.sh [GROUP...]                   # the same, with a root check
//! ```
//!
//! Every configuration (C and ours, for every scenario) runs as its own real
//! `/usr/sbin/proftpd` at the same time; each round takes one measurement of
//! every configuration in turn (the C/ours order alternates between rounds), so
//! machine noise hits all alike. Medians over the rounds are reported, with a
//! bootstrap 95% interval of the ratio ours/C (rounds resampled as a whole, as
//! the measurements of one round belong together). How each figure is measured
//! is described in `docs/benchmarks.md`.
//!
//! Parameters (environment): `BENCH_ROUNDS` (default 50), `BENCH_SESSIONS`
//! (session-cost sessions per configuration and round, 4), `BENCH_REPLICAS`
//! (servers per session-cost configuration, used in turn, 3), `BENCH_NOOPS`
//! (commands per Redis sample, 300), `BENCH_FORENSIC_CMDS` (commands per
//! forensic session, 2000), `BENCH_HANDLER_CMDS` (the same for the handler-only
//! mode, 1000), `BENCH_TRANSFERS` (transfers per xferlog sample, 40),
//! `BENCH_HANG_WAIT` (seconds to wait for a banner before calling a session
//! hung, 5).
//!
//! Under `cargo test --all-targets` (no `--bench` argument) this does nothing.

#[path = "../tests/harness/mod.rs"]
mod harness;

use harness::util::{self, child_pids, in_poll_or_select, wait_until};
use harness::{Ftp, Modules, Proftpd, ProftpdBuilder, RedisServer};
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::fs;
use std::io::{BufRead, BufReader};
use std::net::{TcpListener, TcpStream};
use std::time::{Duration, Instant};

// ---------------------------------------------------------------------------
// Parameters

struct Params {
    rounds: usize,
    sessions: usize,
    replicas: usize,
    noops: usize,
    forensic_cmds: usize,
    handler_cmds: usize,
    transfers: usize,
    hang_wait: Duration,
    groups: Vec<String>,
}

const GROUPS: [&str; 4] = ["session", "redis", "forensic", "xferlog"];

fn env_num(name: &str, default: usize) -> usize {
    match std::env::var(name) {
        Ok(v) => v
            .parse()
            .unwrap_or_else(|_| panic!("{name}={v:?} is not a number")),
        Err(_) => default,
    }
}

impl Params {
    fn from_env(args: &[String]) -> Params {
        let mut groups: Vec<String> = args
            .iter()
            .filter(|a| !a.starts_with('-'))
            .cloned()
            .collect();
        for g in &groups {
            assert!(
                GROUPS.contains(&g.as_str()),
                "unknown group {g:?}; groups: {GROUPS:?}"
            );
        }
        if groups.is_empty() {
            groups = GROUPS.iter().map(|s| s.to_string()).collect();
        }
        Params {
            rounds: env_num("BENCH_ROUNDS", 50).max(1),
            sessions: env_num("BENCH_SESSIONS", 4).max(1),
            replicas: env_num("BENCH_REPLICAS", 3).max(1),
            noops: env_num("BENCH_NOOPS", 300).max(1),
            forensic_cmds: env_num("BENCH_FORENSIC_CMDS", 2000).max(1),
            handler_cmds: env_num("BENCH_HANDLER_CMDS", 1000).max(1),
            transfers: env_num("BENCH_TRANSFERS", 40).max(2),
            hang_wait: Duration::from_secs(env_num("BENCH_HANG_WAIT", 5) as u64),
            groups,
        }
    }

    fn wants(&self, group: &str) -> bool {
        self.groups.iter().any(|g| g == group)
    }
}

// ---------------------------------------------------------------------------
// Configurations

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Side {
    C,
    Ours,
}

impl Side {
    fn tag(self) -> &'static str {
        match self {
            Side::C => "C",
            Side::Ours => "ours",
        }
    }
}

/// Both sides, in the order of this round (alternating, so neither side is
/// always measured right after the other).
fn sides(round: usize) -> [Side; 2] {
    if round.is_multiple_of(2) {
        [Side::C, Side::Ours]
    } else {
        [Side::Ours, Side::C]
    }
}

/// The base server of a side: Debian's module dir for C, ours for ours; no
/// transfer log unless a scenario asks for one (without the directive the core
/// would log to its default path).
fn server(side: Side) -> ProftpdBuilder {
    let modules = match side {
        Side::C => Modules::DebianC,
        Side::Ours => Modules::Ours,
    };
    Proftpd::builder(modules).set("TransferLog", "none")
}

const USER: (&str, &str) = harness::ALICE;

fn redis_conf(addr: &str, rule: &str) -> String {
    format!(
        "RedisEngine on\nRedisServer {addr}\nRedisTimeouts 500 500\n\
         LogFormat b \"%h %l %u %t \\\"%r\\\" %s %b\"\n{rule}\n"
    )
}

const FORENSIC_ON: &str = "ForensicLogEngine on\nForensicLogFile @DIR@/forensic.log\n";
const FORENSIC_OFF: &str = "ForensicLogEngine off\nForensicLogFile @DIR@/forensic.log\n";
const XFERLOG_EXT: &str = "XferLog @DIR@/xferlog.ext wu-ext\n";
/// The commands the session-cost scenario sends (the rule both sides get).
const SESSION_RULE: &str = "RedisLogOnCommand USER,PASS,QUIT b";
/// The Redis per-command scenarios: ours logs ALL; the C module (1.3.8) logs
/// nothing for ALL, so it gets the list of the commands the scenario sends.
const RULE_ALL: &str = "RedisLogOnCommand ALL b";
const RULE_LIST: &str = "RedisLogOnCommand USER,PASS,NOOP,QUIT b";

fn rule_for(side: Side) -> &'static str {
    match side {
        Side::C => RULE_LIST,
        Side::Ours => RULE_ALL,
    }
}

/// The `j`-th of `n` configurations to measure in `round`: forwards in even
/// rounds, backwards in odd ones.
fn nth_in_round(round: usize, n: usize, j: usize) -> usize {
    if round.is_multiple_of(2) {
        j
    } else {
        n - 1 - j
    }
}

// ---------------------------------------------------------------------------
// Measuring

/// `/proc/<pid>/schedstat` first field: ns on CPU (user + kernel).
fn cpu_ns(pid: u32) -> f64 {
    let text = fs::read_to_string(format!("/proc/{pid}/schedstat"))
        .unwrap_or_else(|e| panic!("/proc/{pid}/schedstat: {e}"));
    text.split_whitespace()
        .next()
        .and_then(|f| f.parse::<u64>().ok())
        .unwrap_or_else(|| panic!("bad schedstat {text:?}")) as f64
}

/// The state letter in `/proc/<pid>/stat` (`R`, `S`, `T`, `Z`, ...).
fn proc_state(pid: u32) -> Option<char> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    stat[stat.rfind(')')? + 1..].trim_start().chars().next()
}

/// Session CPU of an idle (blocked in select) session process.
fn idle_cpu_ns(pid: u32) -> f64 {
    wait_until(Duration::from_secs(2), || in_poll_or_select(pid));
    cpu_ns(pid)
}

/// The one session process of `server`.
fn only_session(server: &Proftpd) -> u32 {
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
struct MasterStopped(u32);

impl MasterStopped {
    fn new(master: u32) -> MasterStopped {
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
fn session_cpu_ns(server: &Proftpd, body: impl FnOnce(&mut Ftp)) -> f64 {
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

fn login(ftp: &mut Ftp) {
    ftp.login(USER.0, USER.1);
}

/// A logged-in session that stays open for the whole run.
struct Live {
    ftp: Ftp,
    pid: u32,
}

impl Live {
    fn open(server: &Proftpd) -> Live {
        let ftp = server.login(USER.0, USER.1);
        let pid = only_session(server);
        Live { ftp, pid }
    }
}

/// Sends `n` commands pipelined in chunks and reads all replies.
fn pipelined(ftp: &mut Ftp, n: usize) {
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
fn banner_within(port: u16, wait: Duration) -> bool {
    let Ok(stream) = TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(wait));
    let mut line = String::new();
    BufReader::new(stream).read_line(&mut line).is_ok() && line.starts_with("220")
}

// ---------------------------------------------------------------------------
// Samples and statistics

/// Samples per configuration key; within a group every key gets one sample per
/// slot (round, pass), so index i of two keys was measured in the same slot.
#[derive(Default)]
struct Samples(BTreeMap<String, Vec<f64>>);

impl Samples {
    fn push(&mut self, key: &str, v: f64) {
        self.0.entry(key.to_owned()).or_default().push(v);
    }

    fn get(&self, key: &str) -> &[f64] {
        self.0
            .get(key)
            .map(Vec::as_slice)
            .unwrap_or_else(|| panic!("no samples for {key}"))
    }
}

fn median(v: &mut [f64]) -> f64 {
    assert!(!v.is_empty());
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

fn quantile(sorted: &[f64], q: f64) -> f64 {
    let pos = q * (sorted.len() - 1) as f64;
    let (lo, hi) = (pos.floor() as usize, pos.ceil() as usize);
    sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo as f64)
}

/// A figure computed from the samples at the given slot indices.
#[derive(Clone)]
enum Stat {
    /// Median of one key.
    Median(String),
    /// Median over slots of `a - b` (paired: same slot), i.e. the added cost.
    MedianDiff(String, String),
    /// Mean of `a - b` over slots (for stalls that a median would hide).
    MeanDiff(String, String),
    /// Scaled by a factor (e.g. per command).
    Scaled(Box<Stat>, f64),
}

impl Stat {
    fn median(k: String) -> Stat {
        Stat::Median(k)
    }

    fn per(self, n: usize) -> Stat {
        Stat::Scaled(Box::new(self), 1.0 / n as f64)
    }

    fn len(&self, s: &Samples) -> usize {
        match self {
            Stat::Median(k) | Stat::MedianDiff(k, _) | Stat::MeanDiff(k, _) => s.get(k).len(),
            Stat::Scaled(inner, _) => inner.len(s),
        }
    }

    fn eval(&self, s: &Samples, idx: &[usize]) -> f64 {
        match self {
            Stat::Median(k) => {
                let v = s.get(k);
                median(&mut idx.iter().map(|&i| v[i]).collect::<Vec<_>>())
            }
            Stat::MedianDiff(a, b) => {
                let (a, b) = (s.get(a), s.get(b));
                median(&mut idx.iter().map(|&i| a[i] - b[i]).collect::<Vec<_>>())
            }
            Stat::MeanDiff(a, b) => {
                let (a, b) = (s.get(a), s.get(b));
                idx.iter().map(|&i| a[i] - b[i]).sum::<f64>() / idx.len() as f64
            }
            Stat::Scaled(inner, f) => inner.eval(s, idx) * f,
        }
    }
}

/// Unit of a row's values (samples are in ns).
#[derive(Clone, Copy)]
enum Unit {
    Us,
    Ms,
}

impl Unit {
    fn fmt(self, ns: f64) -> String {
        match self {
            Unit::Us => format!("{:.1} µs", ns / 1e3),
            Unit::Ms => format!("{:.2} ms", ns / 1e6),
        }
    }
}

#[derive(Clone, Copy)]
enum Target {
    /// ours/C at most this.
    Ratio(f64),
    /// Ours at most this many ns (the C value is shown for comparison).
    OursAtMost(f64),
    /// No target: a breakdown of another row (e.g. the cost a module adds).
    /// The ratio is shown only where C's value is clearly above zero.
    Info,
}

struct Row {
    figure: String,
    /// `None`: the C configuration hangs.
    c: Option<Stat>,
    ours: Stat,
    unit: Unit,
    target: Target,
}

/// xorshift64* for the bootstrap.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
}

const BOOTSTRAP: usize = 1000;

/// The 2.5% and 97.5% quantiles of `f` over bootstrap resamples of the slots.
fn bootstrap(n: usize, rng: &mut Rng, mut f: impl FnMut(&[usize]) -> f64) -> (f64, f64) {
    let mut vals: Vec<f64> = (0..BOOTSTRAP)
        .map(|_| {
            let idx: Vec<usize> = (0..n).map(|_| (rng.next() % n as u64) as usize).collect();
            f(&idx)
        })
        .filter(|v| v.is_finite())
        .collect();
    if vals.is_empty() {
        return (f64::NAN, f64::NAN);
    }
    vals.sort_by(f64::total_cmp);
    (quantile(&vals, 0.025), quantile(&vals, 0.975))
}

fn render_table(rows: &[Row], s: &Samples) -> String {
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let mut out = String::new();
    out.push_str("| figure | C (median) | ours (median) | ours/C (95% CI) | target | met? |\n");
    out.push_str("|---|---:|---:|---:|---|---|\n");
    for row in rows {
        let n = row.ours.len(s);
        let all: Vec<usize> = (0..n).collect();
        let ours = row.ours.eval(s, &all);
        let c = row.c.as_ref().map(|c| c.eval(s, &all));
        let ratio = c.map(|c| ours / c);
        let ratio_ci = row
            .c
            .as_ref()
            .map(|cs| bootstrap(n, &mut rng, |idx| row.ours.eval(s, idx) / cs.eval(s, idx)));
        let ours_ci = bootstrap(n, &mut rng, |idx| row.ours.eval(s, idx));
        let c_ci = row
            .c
            .as_ref()
            .map(|cs| bootstrap(n, &mut rng, |idx| cs.eval(s, idx)));
        let (ratio, ratio_ci) = match (row.target, c_ci) {
            (Target::Info, Some((lo, _))) if lo <= 0.0 => (None, None),
            _ => (ratio, ratio_ci),
        };
        let c_cell = match c {
            Some(c) => row.unit.fmt(c),
            None => "hangs".to_owned(),
        };
        let ratio_cell = match (ratio, ratio_ci) {
            (Some(r), Some((lo, hi))) => format!("{r:.2} ({lo:.2}–{hi:.2})"),
            _ if c.is_some() => "— (C adds ≈ 0)".to_owned(),
            _ => "—".to_owned(),
        };
        let (target_cell, met) = match row.target {
            Target::Info => ("(breakdown)".to_owned(), String::new()),
            Target::Ratio(t) => {
                let cell = format!("≤ {t:.2}");
                match (ratio, ratio_ci) {
                    (Some(r), Some((lo, hi))) => {
                        let mut m = if r <= t { "yes" } else { "no" }.to_owned();
                        if lo <= t && t <= hi {
                            m.push_str(" (within noise)");
                        }
                        (cell, m)
                    }
                    _ => (cell, "yes (C hangs)".to_owned()),
                }
            }
            Target::OursAtMost(max) => {
                let cell = format!("ours ≤ {}", row.unit.fmt(max));
                let mut m = if ours <= max { "yes" } else { "no" }.to_owned();
                if ours_ci.0 <= max && max <= ours_ci.1 {
                    m.push_str(" (within noise)");
                }
                (cell, m)
            }
        };
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} | {} |",
            row.figure,
            c_cell,
            row.unit.fmt(ours),
            ratio_cell,
            target_cell,
            met
        );
    }
    out
}

/// Per-configuration detail: median, quartiles, min, number of samples.
fn render_details(s: &Samples, scale: &BTreeMap<String, (f64, Unit)>) -> String {
    let mut out = String::new();
    for (key, v) in &s.0 {
        let (f, unit) = scale.get(key).copied().unwrap_or((1.0, Unit::Us));
        let mut sorted: Vec<f64> = v.iter().map(|x| x * f).collect();
        sorted.sort_by(f64::total_cmp);
        let _ = writeln!(
            out,
            "  {key:<42} median {:>11}  p25 {:>11}  p75 {:>11}  min {:>11}  n {}",
            unit.fmt(quantile(&sorted, 0.5)),
            unit.fmt(quantile(&sorted, 0.25)),
            unit.fmt(quantile(&sorted, 0.75)),
            unit.fmt(sorted[0]),
            sorted.len()
        );
    }
    out
}

// ---------------------------------------------------------------------------
// Groups

/// Session cost: CPU of a whole session (connect, USER, PASS, QUIT).
struct SessionGroup {
    /// (case, C servers, our servers): `replicas` servers per configuration,
    /// used in turn, so that one server's memory layout (ASLR, inherited by
    /// all its sessions) does not bias a configuration.
    cases: Vec<(&'static str, Vec<Proftpd>, Vec<Proftpd>)>,
}

const SESSION_CASES: [&str; 6] = [
    "no module",
    "mod_unique_id",
    "mod_log_forensic",
    "mod_redis",
    "xferlog",
    "all",
];

impl SessionGroup {
    fn start(p: &Params, redis: &str) -> SessionGroup {
        let live = redis_conf(redis, SESSION_RULE);
        let build = |case: &str, side: Side| -> Proftpd {
            let b = server(side);
            let b = match case {
                "no module" => b,
                "mod_unique_id" => b.load_module("mod_unique_id.c"),
                "mod_log_forensic" => b.load_module("mod_log_forensic.c").config(FORENSIC_ON),
                "mod_redis" => b.load_module("mod_redis.c").config(&live),
                "xferlog" => match side {
                    Side::C => b.set("TransferLog", "@DIR@/xferlog"),
                    Side::Ours => b.load_module("mod_xferlog.c").config(XFERLOG_EXT),
                },
                "all" => {
                    let b = b
                        .load_modules(&["mod_unique_id.c", "mod_log_forensic.c", "mod_redis.c"])
                        .config(FORENSIC_ON)
                        .config(&live);
                    match side {
                        Side::C => b.set("TransferLog", "@DIR@/xferlog"),
                        Side::Ours => b.load_module("mod_xferlog.c").config(XFERLOG_EXT),
                    }
                }
                other => unreachable!("{other}"),
            };
            b.start()
        };
        SessionGroup {
            cases: SESSION_CASES
                .iter()
                .map(|&case| {
                    let replicas = |side| (0..p.replicas).map(|_| build(case, side)).collect();
                    (case, replicas(Side::C), replicas(Side::Ours))
                })
                .collect(),
        }
    }

    fn key(case: &str, side: Side) -> String {
        format!("session/{case}/{}", side.tag())
    }

    fn sample(&self, p: &Params, round: usize, s: &mut Samples) {
        // Passes over all servers, so that consecutive sessions on one server are
        // far apart (the master sleeps 200 ms after each session's SIGCHLD).
        let n = self.cases.len();
        for pass in 0..p.sessions {
            // Rotate the order of the cases too (a session's position in the
            // pass must not bias the cost a module adds).
            let start = (round * p.sessions + pass) % n;
            for j in 0..n {
                let (case, c, ours) = &self.cases[(start + j) % n];
                let replica = (round + pass) % p.replicas;
                for side in sides(round + pass) {
                    let srv = if side == Side::C {
                        &c[replica]
                    } else {
                        &ours[replica]
                    };
                    let ns = session_cpu_ns(srv, login);
                    s.push(&Self::key(case, side), ns);
                }
            }
        }
    }

    fn rows(&self, rows: &mut Vec<Row>) {
        let k = Self::key;
        for case in SESSION_CASES {
            let what = match case {
                "no module" => "session CPU, no module (A/A check: same config both sides)",
                "mod_unique_id" => "session CPU, mod_unique_id",
                "mod_log_forensic" => "session CPU, mod_log_forensic (engine on)",
                "mod_redis" => "session CPU, mod_redis (USER,PASS,QUIT → live Redis)",
                "xferlog" => "session CPU, XferLog wu-ext (C: TransferLog), no transfer",
                _ => "session CPU, all modules",
            };
            rows.push(Row {
                figure: what.to_owned(),
                c: Some(Stat::median(k(case, Side::C))),
                ours: Stat::median(k(case, Side::Ours)),
                unit: Unit::Us,
                // The A/A row shows the noise level; it has no target.
                target: if case == "no module" {
                    Target::Info
                } else {
                    Target::Ratio(1.0)
                },
            });
        }
        for case in &SESSION_CASES[1..] {
            let added = |side| Stat::MedianDiff(k(case, side), k("no module", side));
            rows.push(Row {
                figure: format!("  added by {case} (minus no module)"),
                c: Some(added(Side::C)),
                ours: added(Side::Ours),
                unit: Unit::Us,
                target: Target::Info,
            });
        }
    }
}

/// Redis per-command cost and dead-Redis latency: one long session per config,
/// `noops` NOOPs in lockstep per sample.
struct RedisGroup {
    /// (config, side, session)
    live: Vec<(&'static str, Side, Live)>,
    _servers: Vec<Proftpd>,
    c_silent_hangs: bool,
}

impl RedisGroup {
    fn start(p: &Params, live: &str, refused: &str, silent: &str) -> RedisGroup {
        let mut servers = Vec::new();
        let mut sessions = Vec::new();
        let mut c_silent_hangs = false;
        for (cfg, addr) in [
            ("base", None),
            ("live", Some(live)),
            ("refused", Some(refused)),
            ("silent", Some(silent)),
        ] {
            for side in [Side::C, Side::Ours] {
                let mut b = server(side);
                if let Some(addr) = addr {
                    b = b
                        .load_module("mod_redis.c")
                        .config(&redis_conf(addr, rule_for(side)));
                }
                let srv = b.start();
                if cfg == "silent" && side == Side::C {
                    // The C module waits forever for the silent Redis, before the
                    // banner; a bounded wait keeps the benchmark from hanging too.
                    if !banner_within(srv.port(), p.hang_wait) {
                        eprintln!(
                            "[bench] C mod_redis with a silent Redis: no banner in {:?}: hangs",
                            p.hang_wait
                        );
                        c_silent_hangs = true;
                        servers.push(srv);
                        continue;
                    }
                    // It answered after all: measure it (the check's session ended).
                    wait_until(Duration::from_secs(10), || child_pids(srv.pid()).is_empty());
                }
                let mut l = Live::open(&srv);
                // Warm up, and get the first failure (refused/silent) out of the way.
                for _ in 0..20 {
                    l.ftp.expect("NOOP", 200);
                }
                sessions.push((cfg, side, l));
                servers.push(srv);
            }
        }
        RedisGroup {
            live: sessions,
            _servers: servers,
            c_silent_hangs,
        }
    }

    fn key(cfg: &str, side: Side, what: &str) -> String {
        format!("redis/{cfg}/{}/{what}", side.tag())
    }

    fn sample(&mut self, p: &Params, round: usize, s: &mut Samples) {
        let n = self.live.len();
        for j in 0..n {
            let i = nth_in_round(round, n, j);
            let (cfg, side, l) = &mut self.live[i];
            let c0 = idle_cpu_ns(l.pid);
            let t = Instant::now();
            for _ in 0..p.noops {
                l.ftp.expect("NOOP", 200);
            }
            let wall = t.elapsed().as_nanos() as f64;
            let c1 = idle_cpu_ns(l.pid);
            s.push(&Self::key(cfg, *side, "cpu"), c1 - c0);
            s.push(&Self::key(cfg, *side, "wall"), wall);
        }
    }

    fn rows(&self, p: &Params, rows: &mut Vec<Row>) {
        let k = Self::key;
        let per = |st: Stat| st.per(p.noops);
        let med = |cfg, side, what| per(Stat::median(k(cfg, side, what)));
        let added =
            |cfg, side, what| per(Stat::MedianDiff(k(cfg, side, what), k("base", side, what)));
        rows.push(Row {
            figure: "per-command CPU, RedisLogOnCommand ALL (C: command list), live Redis".into(),
            c: Some(med("live", Side::C, "cpu")),
            ours: med("live", Side::Ours, "cpu"),
            unit: Unit::Us,
            target: Target::Ratio(1.0),
        });
        // The Redis-logging target applies to the logging cost itself.
        rows.push(Row {
            figure: "  Redis-logging CPU per command (minus no mod_redis)".into(),
            c: Some(added("live", Side::C, "cpu")),
            ours: added("live", Side::Ours, "cpu"),
            unit: Unit::Us,
            target: Target::Ratio(0.9),
        });
        rows.push(Row {
            figure: "per-command round trip (wall), live Redis".into(),
            c: Some(med("live", Side::C, "wall")),
            ours: med("live", Side::Ours, "wall"),
            unit: Unit::Us,
            target: Target::Ratio(1.0),
        });
        rows.push(Row {
            figure: "per-command round trip (wall), no mod_redis (A/A check)".into(),
            c: Some(med("base", Side::C, "wall")),
            ours: med("base", Side::Ours, "wall"),
            unit: Unit::Us,
            target: Target::Info,
        });
        rows.push(Row {
            figure: "per-command round trip (wall), Redis refused".into(),
            c: Some(med("refused", Side::C, "wall")),
            ours: med("refused", Side::Ours, "wall"),
            unit: Unit::Us,
            target: Target::Ratio(1.0),
        });
        rows.push(Row {
            figure: "  added latency per command, Redis refused".into(),
            c: Some(added("refused", Side::C, "wall")),
            ours: added("refused", Side::Ours, "wall"),
            unit: Unit::Us,
            target: Target::OursAtMost(1e6),
        });
        let c_silent = |st: Stat| (!self.c_silent_hangs).then_some(st);
        rows.push(Row {
            figure: "per-command round trip (wall), Redis silent".into(),
            c: c_silent(med("silent", Side::C, "wall")),
            ours: med("silent", Side::Ours, "wall"),
            unit: Unit::Us,
            target: Target::Ratio(1.0),
        });
        rows.push(Row {
            figure: "  added latency per command, Redis silent (median)".into(),
            c: c_silent(added("silent", Side::C, "wall")),
            ours: added("silent", Side::Ours, "wall"),
            unit: Unit::Us,
            target: Target::OursAtMost(1e6),
        });
        let mean = |side| {
            per(Stat::MeanDiff(
                k("silent", side, "wall"),
                k("base", side, "wall"),
            ))
        };
        rows.push(Row {
            figure: "  added latency per command, Redis silent (mean, incl. retry stalls)".into(),
            c: c_silent(mean(Side::C)),
            ours: mean(Side::Ours),
            unit: Unit::Us,
            target: Target::OursAtMost(1e6),
        });
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum ForensicMode {
    /// `TraceLog` + `Trace DEFAULT:0`: the issue's setting.
    Trace0,
    /// Everything formatted and written (to /dev/null) in all configs: the
    /// difference is the capture handler alone.
    Handler,
}

impl ForensicMode {
    fn tag(self) -> &'static str {
        match self {
            ForensicMode::Trace0 => "trace0",
            ForensicMode::Handler => "handler",
        }
    }
}

/// Forensic capture CPU per session: engine on minus engine off, each side
/// with its own module.
struct ForensicGroup {
    /// (mode, side, engine on, server)
    servers: Vec<(ForensicMode, Side, bool, Proftpd)>,
}

impl ForensicGroup {
    fn start() -> ForensicGroup {
        let mut servers = Vec::new();
        for mode in [ForensicMode::Trace0, ForensicMode::Handler] {
            for side in [Side::C, Side::Ours] {
                for on in [false, true] {
                    let mut b = server(side).load_module("mod_log_forensic.c");
                    b = match mode {
                        ForensicMode::Trace0 => {
                            b.config("TraceLog @DIR@/trace.log\nTrace DEFAULT:0")
                        }
                        ForensicMode::Handler => b
                            .set("SystemLog", "/dev/null")
                            .config("DebugLevel 10\nTraceLog /dev/null\nTrace DEFAULT:20"),
                    };
                    b = b.config(if on { FORENSIC_ON } else { FORENSIC_OFF });
                    servers.push((mode, side, on, b.start()));
                }
            }
        }
        ForensicGroup { servers }
    }

    fn key(mode: ForensicMode, side: Side, on: bool) -> String {
        format!(
            "forensic/{}/{}/{}",
            mode.tag(),
            side.tag(),
            if on { "on" } else { "off" }
        )
    }

    fn sample(&self, p: &Params, round: usize, s: &mut Samples) {
        let n = self.servers.len();
        for j in 0..n {
            let i = nth_in_round(round, n, j);
            let (mode, side, on, srv) = &self.servers[i];
            let cmds = match mode {
                ForensicMode::Trace0 => p.forensic_cmds,
                ForensicMode::Handler => p.handler_cmds,
            };
            let ns = session_cpu_ns(srv, |ftp| {
                login(ftp);
                pipelined(ftp, cmds);
            });
            s.push(&Self::key(*mode, *side, *on), ns);
        }
    }

    fn rows(&self, p: &Params, rows: &mut Vec<Row>) {
        let k = Self::key;
        for (mode, cmds) in [
            (ForensicMode::Trace0, p.forensic_cmds),
            (ForensicMode::Handler, p.handler_cmds),
        ] {
            let cost = |side| Stat::MedianDiff(k(mode, side, true), k(mode, side, false));
            let (what, target) = match mode {
                ForensicMode::Trace0 => ("Trace DEFAULT:0", 0.7),
                ForensicMode::Handler => ("handler only: DebugLevel 10, Trace DEFAULT:20", 1.0),
            };
            rows.push(Row {
                figure: format!(
                    "forensic capture CPU per session ({what}; {cmds} commands; on − off)"
                ),
                c: Some(cost(Side::C)),
                ours: cost(Side::Ours),
                unit: Unit::Ms,
                target: Target::Ratio(target),
            });
            if mode == ForensicMode::Trace0 {
                rows.push(Row {
                    figure: format!("  session CPU, engine on ({what}; {cmds} commands)"),
                    c: Some(Stat::median(k(mode, Side::C, true))),
                    ours: Stat::median(k(mode, Side::Ours, true)),
                    unit: Unit::Ms,
                    target: Target::Info,
                });
            }
        }
    }
}

/// Transfer logging: per-transfer CPU of a long session doing small RETR/STOR.
struct XferGroup {
    /// (config, session): "none", "TransferLog" (C), "XferLog" (ours)
    live: Vec<(&'static str, Live)>,
    _servers: Vec<Proftpd>,
}

const PAYLOAD: &[u8] = &[b'x'; 1024];

impl XferGroup {
    fn start() -> XferGroup {
        let mut servers = Vec::new();
        let mut live = Vec::new();
        for cfg in ["none", "TransferLog", "XferLog"] {
            let b = match cfg {
                "none" => server(Side::C),
                "TransferLog" => server(Side::C).set("TransferLog", "@DIR@/xferlog"),
                _ => server(Side::Ours)
                    .load_module("mod_xferlog.c")
                    .config(XFERLOG_EXT),
            };
            let srv = b.start();
            let mut l = Live::open(&srv);
            l.ftp.type_i();
            l.ftp.stor("f.bin", PAYLOAD);
            assert_eq!(l.ftp.retr("f.bin").len(), PAYLOAD.len());
            live.push((cfg, l));
            servers.push(srv);
        }
        XferGroup {
            live,
            _servers: servers,
        }
    }

    fn key(cfg: &str) -> String {
        format!("xferlog/{cfg}")
    }

    fn sample(&mut self, p: &Params, round: usize, s: &mut Samples) {
        let n = self.live.len();
        for j in 0..n {
            let i = nth_in_round(round, n, j);
            let (cfg, l) = &mut self.live[i];
            let c0 = idle_cpu_ns(l.pid);
            for t in 0..p.transfers {
                if t % 2 == 0 {
                    l.ftp.retr("f.bin");
                } else {
                    l.ftp.stor("g.bin", PAYLOAD);
                }
            }
            let c1 = idle_cpu_ns(l.pid);
            s.push(&Self::key(cfg), c1 - c0);
        }
    }

    fn rows(&self, p: &Params, rows: &mut Vec<Row>) {
        let k = Self::key;
        rows.push(Row {
            figure: "per-transfer CPU (RETR/STOR 1 KiB), XferLog wu-ext vs TransferLog".into(),
            c: Some(Stat::median(k("TransferLog")).per(p.transfers)),
            ours: Stat::median(k("XferLog")).per(p.transfers),
            unit: Unit::Us,
            target: Target::Ratio(1.0),
        });
        rows.push(Row {
            figure: "  logging cost per transfer (minus no transfer log)".into(),
            c: Some(Stat::MedianDiff(k("TransferLog"), k("none")).per(p.transfers)),
            ours: Stat::MedianDiff(k("XferLog"), k("none")).per(p.transfers),
            unit: Unit::Us,
            target: Target::Info,
        });
    }
}

// ---------------------------------------------------------------------------

fn machine() -> String {
    let cpus = std::thread::available_parallelism().map_or(0, |n| n.get());
    let mem_gib = fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| {
            m.lines()
                .find(|l| l.starts_with("MemTotal:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok())
        })
        .map_or(0.0, |kb| kb / 1024.0 / 1024.0);
    let kernel = fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    let load = fs::read_to_string("/proc/loadavg").unwrap_or_default();
    format!(
        "{cpus} CPUs, {mem_gib:.0} GiB, kernel {}, load average {}",
        kernel.trim(),
        load.split_whitespace()
            .take(3)
            .collect::<Vec<_>>()
            .join(" ")
    )
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if !args.iter().any(|a| a == "--bench") {
        println!(
            "compare: a benchmark, skipped here; run it with `cargo bench --bench compare` \
             (see docs/benchmarks.md)"
        );
        return;
    }
    let p = Params::from_env(&args);
    let started = Instant::now();
    eprintln!("[bench] module: {}", harness::cdylib_path().display());
    eprintln!("[bench] machine: {}", machine());
    eprintln!(
        "[bench] groups {:?}, {} rounds (+1 warm-up), {} sessions/round on {} servers per \
         config, {} NOOPs, {} forensic commands ({} handler mode), {} transfers",
        p.groups,
        p.rounds,
        p.sessions,
        p.replicas,
        p.noops,
        p.forensic_cmds,
        p.handler_cmds,
        p.transfers
    );

    // Redis: a live server, a refused port and a silent one (accepts, never answers).
    let redis = (p.wants("session") || p.wants("redis")).then(RedisServer::start);
    let live = redis
        .as_ref()
        .map(|r| format!("127.0.0.1:{}", r.port()))
        .unwrap_or_default();
    let refused = {
        let l = TcpListener::bind("127.0.0.1:0").expect("bind");
        format!("127.0.0.1:{}", l.local_addr().expect("addr").port())
    };
    let silent = format!("127.0.0.1:{}", harness::util::silent_server());

    eprintln!("[bench] starting servers");
    let session = p.wants("session").then(|| SessionGroup::start(&p, &live));
    let mut redis_g = p
        .wants("redis")
        .then(|| RedisGroup::start(&p, &live, &refused, &silent));
    let forensic = p.wants("forensic").then(ForensicGroup::start);
    let mut xfer = p.wants("xferlog").then(XferGroup::start);
    eprintln!(
        "[bench] servers up after {:.1} s",
        started.elapsed().as_secs_f64()
    );

    let mut s = Samples::default();
    for round in 0..=p.rounds {
        // Round 0 warms up and is thrown away.
        let mut round_samples = Samples::default();
        let target = if round == 0 {
            &mut round_samples
        } else {
            &mut s
        };
        if let Some(g) = &session {
            g.sample(&p, round, target);
        }
        if let Some(g) = &mut redis_g {
            g.sample(&p, round, target);
        }
        if let Some(g) = &forensic {
            g.sample(&p, round, target);
        }
        if let Some(g) = &mut xfer {
            g.sample(&p, round, target);
        }
        eprintln!(
            "[bench] round {round}/{}{} done at {:.0} s",
            p.rounds,
            if round == 0 { " (warm-up)" } else { "" },
            started.elapsed().as_secs_f64()
        );
    }

    let mut rows = Vec::new();
    let mut scale = BTreeMap::new();
    if let Some(g) = &session {
        g.rows(&mut rows);
    }
    if let Some(g) = &redis_g {
        g.rows(&p, &mut rows);
        for k in s.0.keys().filter(|k| k.starts_with("redis/")) {
            scale.insert(k.clone(), (1.0 / p.noops as f64, Unit::Us));
        }
    }
    if let Some(g) = &forensic {
        g.rows(&p, &mut rows);
        for k in s.0.keys().filter(|k| k.starts_with("forensic/")) {
            scale.insert(k.clone(), (1.0, Unit::Ms));
        }
    }
    if let Some(g) = &xfer {
        g.rows(&p, &mut rows);
        for k in s.0.keys().filter(|k| k.starts_with("xferlog/")) {
            scale.insert(k.clone(), (1.0 / p.transfers as f64, Unit::Us));
        }
    }

    println!();
    println!(
        "Per configuration (session: CPU per session; redis: per command; forensic: CPU per \
         session; xferlog: CPU per transfer):"
    );
    print!("{}", render_details(&s, &scale));
    println!();
    println!(
        "Results ({} rounds, {} s, {}):",
        p.rounds,
        started.elapsed().as_secs(),
        machine()
    );
    println!();
    print!("{}", render_table(&rows, &s));
    println!();
    println!(
        "C = Debian's C modules (ModulePath /usr/lib/proftpd); for xferlog rows C = the core's \
         TransferLog (no mod_xferlog). The C mod_redis (1.3.8) logs nothing for \
         `RedisLogOnCommand ALL`, so it gets the list of the commands the scenario sends \
         ({}). CPU = /proc/<pid>/schedstat of the session process (user + kernel); round \
         trips are wall-clock. 95% CI: bootstrap over rounds.",
        RULE_LIST.trim_start_matches("RedisLogOnCommand ")
    );
    drop(redis);
}
