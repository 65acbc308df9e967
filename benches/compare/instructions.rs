//! The instruction-count mode (`--instructions`): the same scenarios, each
//! session process counted by valgrind's callgrind from the fork to its exit
//! (user-space instructions of proftpd, its libraries and the modules; not
//! the kernel, not Redis).  Unlike CPU time, the count hardly depends on
//! the machine's load, so a few sessions per configuration suffice and C
//! and ours can be compared on a noisy machine.
//!
//! Every proftpd master runs under callgrind
//! (`--zero-before=pr_ipbind_close_listeners`: the counts start in the
//! forked session); the session's dump (`cg.<pid>`) is read when it has
//! exited.  Parameters: `BENCH_IR_REPEAT` (sessions per configuration, 3;
//! in the Redis per-command scenario each on a master of its own, with a
//! memory layout of its own: see `redis_rows`),
//! `BENCH_IR_CMDS` (commands of the Redis per-command session, 100),
//! `BENCH_IR_FORENSIC_CMDS` (commands of a forensic session, 500),
//! `BENCH_IR_JOBS` (sessions measured at the same time, the number of
//! CPUs), `BENCH_IR_DIR` (keep the callgrind files there, named by
//! configuration, for `callgrind_annotate`).
//!
//! The Redis per-command scenario also runs, ours only, with
//! `RedisLogSpool` (Redis healthy: the spool's cost when nothing is
//! spooled), and with the floor module
//! (`benches/floor/mod_floor.c`: one empty LOG_CMD handler for every
//! command, built with `prxs -c` in the scratch directory): what the core
//! spends on any LOG_CMD handler, so that each module's share above it can
//! be compared.  Without prxs those rows are left out, with a note.

use crate::Params;
use crate::forensic::{self, ForensicMode};
use crate::harness::util::{child_pids, process_alive, wait_until};
use crate::harness::{Ftp, Proftpd, ProftpdBuilder, RedisServer};
use crate::session::{SESSION_CASES, case_builder, case_figure};
use crate::setup::*;
use crate::stats::{Row, Samples, Stat, Target, Unit, render_details, render_table};
use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The rule of the Redis per-command scenario, both sides (the commands the
/// session sends).
pub const IR_RULE: &str = "RedisLogOnCommand USER,PASS,NOOP,PWD,QUIT b";

struct IrParams {
    repeat: usize,
    cmds: usize,
    forensic_cmds: usize,
    jobs: usize,
}

fn env_num(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .map(|v| {
            v.parse()
                .unwrap_or_else(|_| panic!("{name}={v:?} is not a number"))
        })
        .unwrap_or(default)
}

/// Where callgrind writes, and the wrapper that runs proftpd under it.
struct Callgrind {
    dir: PathBuf,
    _tmp: Option<tempfile::TempDir>,
    wrapper: PathBuf,
}

impl Callgrind {
    fn new() -> Callgrind {
        let (dir, tmp) = match std::env::var_os("BENCH_IR_DIR") {
            Some(d) => {
                let d = PathBuf::from(d);
                fs::create_dir_all(&d).expect("BENCH_IR_DIR");
                (d, None)
            }
            None => {
                let t = tempfile::tempdir().expect("tempdir");
                (t.path().to_path_buf(), Some(t))
            }
        };
        // Sessions write their dump after switching to the logged-in user.
        fs::set_permissions(&dir, fs::Permissions::from_mode(0o1777)).expect("chmod");
        let wrapper = dir.join("proftpd-under-callgrind");
        fs::write(
            &wrapper,
            format!(
                "#!/bin/sh\nexec valgrind --tool=callgrind --vgdb=no \
                 --zero-before=pr_ipbind_close_listeners \
                 --callgrind-out-file={d}/cg.%p --log-file={d}/vg.%p.log \
                 /usr/sbin/proftpd \"$@\"\n",
                d = dir.display()
            ),
        )
        .expect("write wrapper");
        fs::set_permissions(&wrapper, fs::Permissions::from_mode(0o755)).expect("chmod");
        Callgrind {
            dir,
            _tmp: tmp,
            wrapper,
        }
    }

    fn start(&self, b: ProftpdBuilder) -> Proftpd {
        b.program(&self.wrapper).start()
    }

    /// The instructions of one whole session: connect, `body`, QUIT, exit.
    /// The dump is renamed after `name` (the pid could come again).
    fn session(&self, server: &Proftpd, name: &str, body: impl FnOnce(&mut Ftp)) -> f64 {
        // The last session of this server is gone (reaped).
        wait_until(Duration::from_secs(30), || {
            child_pids(server.pid()).is_empty()
        });
        let mut ftp = server.connect();
        let pid = only_session(server);
        body(&mut ftp);
        ftp.quit();
        let exited = wait_until(Duration::from_secs(120), || !process_alive(pid));
        assert!(exited, "session {pid} did not exit after QUIT");
        let out = self.dir.join(format!("cg.{pid}"));
        let mut total = None;
        // The master reaps the session after callgrind wrote its dump.
        wait_until(Duration::from_secs(10), || {
            total = fs::read_to_string(&out).ok().and_then(|t| totals(&t));
            total.is_some()
        });
        let total = total.unwrap_or_else(|| panic!("no callgrind totals in {}", out.display()));
        let _ = fs::rename(&out, self.dir.join(format!("{name}.cg")));
        let _ = fs::remove_file(self.dir.join(format!("vg.{pid}.log")));
        total
    }
}

/// The `totals:` (or `summary:`) line of a callgrind dump: Ir.
fn totals(text: &str) -> Option<f64> {
    text.lines()
        .rev()
        .find_map(|l| {
            l.strip_prefix("totals:")
                .or_else(|| l.strip_prefix("summary:"))
        })
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
}

/// The floor module's source (one empty LOG_CMD handler for `*`).
const FLOOR_SOURCE: &str = include_str!("../floor/mod_floor.c");

/// Builds the floor module with `prxs -c` in `<scratch>/floor` and returns
/// the directory that holds `mod_floor.so` (for `ModulePath`; proftpd
/// refuses a world-writable one), or why it could not.
fn build_floor(scratch: &Path) -> Result<PathBuf, String> {
    let dir = scratch.join("floor");
    fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    fs::set_permissions(&dir, fs::Permissions::from_mode(0o755)).map_err(|e| e.to_string())?;
    fs::write(dir.join("mod_floor.c"), FLOOR_SOURCE).map_err(|e| e.to_string())?;
    let out = Command::new("prxs")
        .args(["-c", "mod_floor.c"])
        .current_dir(&dir)
        .output()
        .map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => "prxs not found (Debian: proftpd-dev)".to_owned(),
            _ => format!("prxs: {e}"),
        })?;
    // libtool leaves the module in .libs/.
    let libs = dir.join(".libs");
    if !out.status.success() || !libs.join("mod_floor.so").is_file() {
        return Err(format!(
            "prxs -c mod_floor.c failed ({}): {}{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    fs::set_permissions(&libs, fs::Permissions::from_mode(0o755)).map_err(|e| e.to_string())?;
    Ok(libs)
}

/// The `ServerAdmin` of the `replica`-th of `n` layouts: its length (spread
/// over a page) moves what the core allocates after it; the session uses
/// it in no command of the scenario.
fn layout_pad(replica: usize, n: usize) -> String {
    format!("a{}@example.org", "x".repeat(replica * 4096 / n / 16 * 16))
}

/// One session to measure: (sample key, repetition, server, what to do).
struct Job<'a> {
    key: String,
    rep: usize,
    server: &'a Proftpd,
    body: Body,
}

#[derive(Clone, Copy)]
enum Body {
    /// USER, PASS (QUIT follows).
    Login,
    /// Log in, then `n` commands, NOOP and PWD in turn, each awaited.
    Lockstep(usize),
    /// Log in, then `n` commands pipelined (the forensic scenario).
    Pipelined(usize),
}

fn run_body(ftp: &mut Ftp, body: Body) {
    login(ftp);
    match body {
        Body::Login => {}
        Body::Lockstep(n) => {
            for i in 0..n {
                if i % 2 == 0 {
                    ftp.expect("NOOP", 200);
                } else {
                    ftp.expect("PWD", 257);
                }
            }
        }
        Body::Pipelined(n) => pipelined(ftp, n),
    }
}

/// Measure the jobs, `parallel` at a time (the counts do not depend on
/// it; one session per server at a time), and push the results in
/// repetition order (slot = repetition).
fn run_jobs(cg: &Callgrind, jobs: &[Job], parallel: usize, s: &mut Samples) {
    // (job taken, servers busy)
    let state = Mutex::new((vec![false; jobs.len()], Vec::<u32>::new()));
    let results = Mutex::new(Vec::new());
    let started = Instant::now();
    let take = || -> Option<Option<usize>> {
        let mut st = state.lock().unwrap();
        let (taken, busy) = &mut *st;
        if taken.iter().all(|t| *t) {
            return None;
        }
        let i = (0..jobs.len()).find(|&i| !taken[i] && !busy.contains(&jobs[i].server.pid()));
        if let Some(i) = i {
            taken[i] = true;
            busy.push(jobs[i].server.pid());
        }
        Some(i)
    };
    std::thread::scope(|scope| {
        for _ in 0..parallel.max(1) {
            scope.spawn(|| {
                while let Some(next) = take() {
                    let Some(i) = next else {
                        std::thread::sleep(Duration::from_millis(50));
                        continue;
                    };
                    let job = &jobs[i];
                    let name = format!("{}.{}", job.key.replace('/', "_"), job.rep);
                    let v = cg.session(job.server, &name, |ftp| run_body(ftp, job.body));
                    state.lock().unwrap().1.retain(|&p| p != job.server.pid());
                    let mut r = results.lock().unwrap();
                    r.push((job.rep, job.key.clone(), v));
                    let d = r.len();
                    if d % 10 == 0 || d == jobs.len() {
                        eprintln!(
                            "[bench] {d}/{} sessions measured ({:.0} s)",
                            jobs.len(),
                            started.elapsed().as_secs_f64()
                        );
                    }
                }
            });
        }
    });
    let mut r = results.into_inner().unwrap();
    r.sort_by(|a, b| a.0.cmp(&b.0).then_with(|| a.1.cmp(&b.1)));
    for (_, key, v) in r {
        s.push(&key, v);
    }
}

fn only_session(server: &Proftpd) -> u32 {
    let mut kids = Vec::new();
    wait_until(Duration::from_secs(30), || {
        kids = child_pids(server.pid());
        kids.len() == 1
    });
    assert_eq!(kids.len(), 1, "one session of {} expected", server.pid());
    kids[0]
}

fn sk(case: &str, side: Side) -> String {
    format!("ir/session/{case}/{}", side.tag())
}

fn rk(cfg: &str, side: Side, n: usize) -> String {
    format!("ir/redis/{cfg}/{}/{n}", side.tag())
}

fn fk(mode: ForensicMode, side: Side, on: bool) -> String {
    format!(
        "ir/forensic/{}/{}/{}",
        mode.tag(),
        side.tag(),
        if on { "on" } else { "off" }
    )
}

/// The instruction-count run: prints its tables.
pub fn run(p: &Params) {
    let ip = IrParams {
        repeat: env_num("BENCH_IR_REPEAT", 3).max(1),
        cmds: env_num("BENCH_IR_CMDS", 100).max(2),
        forensic_cmds: env_num("BENCH_IR_FORENSIC_CMDS", 500).max(1),
        jobs: env_num(
            "BENCH_IR_JOBS",
            std::thread::available_parallelism().map_or(1, |n| n.get()),
        ),
    };
    let started = Instant::now();
    let cg = Callgrind::new();
    eprintln!(
        "[bench] instructions (callgrind): groups {:?}, {} sessions per configuration, {} \
         commands per Redis session, {} per forensic session, {} at a time; files in {}",
        p.groups
            .iter()
            .filter(|g| g.as_str() != "xferlog")
            .collect::<Vec<_>>(),
        ip.repeat,
        ip.cmds,
        ip.forensic_cmds,
        ip.jobs,
        cg.dir.display()
    );
    let redis = (p.wants("session") || p.wants("redis")).then(RedisServer::start);
    let live = redis
        .as_ref()
        .map(|r| format!("127.0.0.1:{}", r.port()))
        .unwrap_or_default();

    // Servers: (key prefix, side, server), started one after the other
    // (each master starts under valgrind).
    eprintln!("[bench] starting servers under callgrind");
    let mut session_srv = Vec::new();
    if p.wants("session") {
        let conf = redis_conf(&live, SESSION_RULE);
        for case in SESSION_CASES {
            for side in [Side::C, Side::Ours] {
                session_srv.push((case, side, cg.start(case_builder(case, side, &conf))));
            }
        }
    }
    let mut redis_srv = Vec::new();
    // The floor module's directory, or why there is none.
    let floor = if p.wants("redis") {
        build_floor(&cg.dir)
    } else {
        Err(String::new())
    };
    if let Err(why) = &floor
        && p.wants("redis")
    {
        eprintln!("[bench] no floor rows: {why}");
    }
    if p.wants("redis") {
        let cfgs: &[&str] = if floor.is_ok() {
            &["base", "floor", "redis"]
        } else {
            &["base", "redis"]
        };
        // One master per session (repetition), each with a memory layout of
        // its own: the per-command figures move with it (see redis_rows).
        for replica in 0..ip.repeat {
            let pad = layout_pad(replica, ip.repeat);
            for &cfg in cfgs {
                for side in [Side::C, Side::Ours] {
                    let mut b = server(side).set("ServerAdmin", &pad);
                    match (cfg, &floor) {
                        ("redis", _) => {
                            b = b
                                .load_module("mod_redis.c")
                                .config(&redis_conf(&live, IR_RULE));
                        }
                        // mod_dso loads from the ModulePath of the moment.
                        ("floor", Ok(dir)) => {
                            b = b.config(&format!(
                                "ModulePath {}\nLoadModule mod_floor.c\n",
                                dir.display()
                            ));
                        }
                        _ => {}
                    }
                    redis_srv.push((cfg, side, replica, cg.start(b)));
                }
            }
            // Ours with RedisLogSpool and Redis healthy: what the spool
            // costs when nothing goes to it (a directory per master).
            let dir = cg.dir.join(format!("spool{replica}"));
            fs::create_dir_all(&dir).expect("spool dir");
            fs::set_permissions(&dir, fs::Permissions::from_mode(0o700)).expect("chmod");
            let b = server(Side::Ours)
                .set("ServerAdmin", &pad)
                .load_module("mod_redis.c")
                .config(&format!(
                    "{}RedisLogSpool {}\n",
                    redis_conf(&live, IR_RULE),
                    dir.display()
                ));
            redis_srv.push(("spool", Side::Ours, replica, cg.start(b)));
        }
    }
    let mut forensic_srv = Vec::new();
    if p.wants("forensic") {
        for (mode, side, on) in forensic::configs() {
            forensic_srv.push((mode, side, on, cg.start(forensic::builder(mode, side, on))));
        }
    }
    eprintln!(
        "[bench] servers up after {:.1} s",
        started.elapsed().as_secs_f64()
    );

    let mut jobs = Vec::new();
    for rep in 0..ip.repeat {
        for (case, side, srv) in &session_srv {
            jobs.push(Job {
                key: sk(case, *side),
                rep,
                server: srv,
                body: Body::Login,
            });
        }
        for (cfg, side, _, srv) in redis_srv.iter().filter(|r| r.2 == rep) {
            for n in [0, ip.cmds] {
                jobs.push(Job {
                    key: rk(cfg, *side, n),
                    rep,
                    server: srv,
                    body: if n == 0 {
                        Body::Login
                    } else {
                        Body::Lockstep(n)
                    },
                });
            }
        }
        for (mode, side, on, srv) in &forensic_srv {
            jobs.push(Job {
                key: fk(*mode, *side, *on),
                rep,
                server: srv,
                body: Body::Pipelined(ip.forensic_cmds),
            });
        }
    }
    let mut s = Samples::default();
    run_jobs(&cg, &jobs, ip.jobs, &mut s);

    let mut rows = Vec::new();
    if !session_srv.is_empty() {
        session_rows(&mut rows);
    }
    if !redis_srv.is_empty() {
        redis_rows(&ip, floor.is_ok(), &mut s, &mut rows);
    }
    if !forensic_srv.is_empty() {
        forensic_rows(&ip, &mut rows);
    }
    let scale: BTreeMap<String, (f64, Unit)> =
        s.0.keys().map(|k| (k.clone(), (1.0, Unit::Ir))).collect();
    println!();
    println!("Per configuration (instructions per session, callgrind):");
    print!("{}", render_details(&s, &scale));
    println!();
    println!(
        "Results (instructions, callgrind; {} sessions per configuration, {} s, {}):",
        ip.repeat,
        started.elapsed().as_secs(),
        crate::machine()
    );
    println!();
    print!("{}", render_table(&rows, &s, "ours/C (range)"));
    println!();
    println!(
        "Instructions = user-space instructions of the session process from the fork to its \
         exit (valgrind callgrind, --zero-before=pr_ipbind_close_listeners), median over the \
         sessions; (range) = lowest and highest ratio over resampled sessions. Redis per \
         command: both sides `{}`; per logged command = ((mod_redis − no mod_redis) with {} \
         NOOP/PWD − the same with none) / {}, medians over {} memory layouts (a master per \
         session, with a ServerAdmin of another length).",
        IR_RULE.trim_start_matches("RedisLogOnCommand "),
        ip.cmds,
        ip.cmds,
        ip.repeat
    );
    if p.wants("redis") {
        println!(
            "RedisLogSpool rows: ours with `RedisLogSpool DIR` added (a directory per master), \
             the same sessions with a healthy Redis (nothing is spooled; the session makes its \
             own file when it starts and empties it when it ends), against ours without."
        );
    }
    match &floor {
        Ok(_) => println!(
            "Floor = the same per command with mod_floor (benches/floor/mod_floor.c, built with \
             prxs: one empty LOG_CMD handler for every command) instead of mod_redis: what the \
             core spends on any LOG_CMD handler; above the floor = per logged command − floor \
             (same side, same layout)."
        ),
        Err(why) if p.wants("redis") => println!("No floor rows: {why}."),
        Err(_) => {}
    }
    drop(forensic_srv);
    drop(redis_srv);
    drop(session_srv);
    drop(redis);
}

fn session_rows(rows: &mut Vec<Row>) {
    for case in SESSION_CASES {
        rows.push(Row {
            figure: format!("session instructions, {}", case_figure(case)),
            c: Some(Stat::median(sk(case, Side::C))),
            ours: Stat::median(sk(case, Side::Ours)),
            unit: Unit::Ir,
            target: if case == "no module" {
                Target::Info
            } else {
                Target::Ratio(1.0)
            },
        });
    }
    for case in &SESSION_CASES[1..] {
        let added = |side| Stat::MedianDiff(sk(case, side), sk("no module", side));
        rows.push(Row {
            figure: format!("  added by {case} (minus no module)"),
            c: Some(added(Side::C)),
            ours: added(Side::Ours),
            unit: Unit::Ir,
            target: Target::Info,
        });
    }
}

/// The Redis per-command rows.  Each repetition (slot) runs on masters of
/// its own, which differ in the length of one configuration string
/// ([`layout_pad`]), so that the core's memory is laid out differently:
/// the same configuration counts up to ~2k instructions per command more or
/// less depending on where the core's strings lie (its event names, which
/// `pr_event_listening()` alone compares some 840 times per command with
/// glibc's strncmp(), whose path depends on the addresses), and under
/// valgrind every master of one configuration gets the same layout (ASLR
/// does not move it).  So the per-command figures are medians over layouts;
/// the floor's A/A row (its two sides differ only in the module directory
/// of their no-module configuration) shows what is left.
fn redis_rows(ip: &IrParams, floor: bool, s: &mut Samples, rows: &mut Vec<Row>) {
    let n = ip.cmds;
    // Per slot: what a configuration adds per command over no module
    // (sessions with n commands minus sessions with none).
    for side in [Side::C, Side::Ours] {
        let get = |cfg, k| s.get(&rk(cfg, side, k)).to_vec();
        let per_command = |cfg| {
            let (r_n, b_n, r_0, b_0) = (get(cfg, n), get("base", n), get(cfg, 0), get("base", 0));
            (0..r_n.len())
                .map(|i| ((r_n[i] - b_n[i]) - (r_0[i] - b_0[i])) / n as f64)
                .collect::<Vec<_>>()
        };
        let redis = per_command("redis");
        let floor = if floor {
            per_command("floor")
        } else {
            Vec::new()
        };
        if side == Side::Ours && s.0.contains_key(&rk("spool", side, n)) {
            for v in per_command("spool") {
                s.push("ir/redis/spool-per-command/ours", v);
            }
        }
        for (i, v) in redis.iter().enumerate() {
            s.push(&format!("ir/redis/per-command/{}", side.tag()), *v);
            if let Some(f) = floor.get(i) {
                s.push(&format!("ir/redis/floor/{}", side.tag()), *f);
                s.push(&format!("ir/redis/above-floor/{}", side.tag()), v - f);
            }
        }
    }
    let per = |what: &str, side: Side| Stat::median(format!("ir/redis/{what}/{}", side.tag()));
    rows.push(Row {
        figure: format!(
            "session instructions, login + {n} NOOP/PWD + QUIT, no mod_redis (A/A check)"
        ),
        c: Some(Stat::median(rk("base", Side::C, n))),
        ours: Stat::median(rk("base", Side::Ours, n)),
        unit: Unit::Ir,
        target: Target::Info,
    });
    rows.push(Row {
        figure: format!(
            "session instructions, login + {n} NOOP/PWD + QUIT, RedisLogOnCommand \
             USER,PASS,NOOP,PWD,QUIT"
        ),
        c: Some(Stat::median(rk("redis", Side::C, n))),
        ours: Stat::median(rk("redis", Side::Ours, n)),
        unit: Unit::Ir,
        target: Target::Ratio(1.0),
    });
    rows.push(Row {
        figure: "  Redis-logging instructions per logged command (minus no mod_redis)".into(),
        c: Some(per("per-command", Side::C)),
        ours: per("per-command", Side::Ours),
        unit: Unit::Ir,
        target: Target::Ratio(0.5),
    });
    if s.0.contains_key("ir/redis/spool-per-command/ours") {
        rows.push(Row {
            figure: "  ours with RedisLogSpool, Redis healthy: the same per logged command (C \
                     column: ours without the spool)"
                .into(),
            c: Some(per("per-command", Side::Ours)),
            ours: Stat::median("ir/redis/spool-per-command/ours".into()),
            unit: Unit::Ir,
            target: Target::Ratio(1.02),
        });
        rows.push(Row {
            figure: "  ours with RedisLogSpool, Redis healthy: session instructions, login + \
                     QUIT (C column: ours without the spool)"
                .into(),
            c: Some(Stat::median(rk("redis", Side::Ours, 0))),
            ours: Stat::median(rk("spool", Side::Ours, 0)),
            unit: Unit::Ir,
            target: Target::Info,
        });
    }
    let whole = |side| Stat::MedianDiff(rk("redis", side, n), rk("base", side, n)).per(n + 3);
    rows.push(Row {
        figure: format!(
            "  the same, whole session: (mod_redis − no mod_redis) / {} logged commands",
            n + 3
        ),
        c: Some(whole(Side::C)),
        ours: whole(Side::Ours),
        unit: Unit::Ir,
        target: Target::Info,
    });
    if floor {
        rows.push(Row {
            figure: "  floor: an empty LOG_CMD handler for every command (mod_floor), per \
                     command (minus no module; A/A check)"
                .into(),
            c: Some(per("floor", Side::C)),
            ours: per("floor", Side::Ours),
            unit: Unit::Ir,
            target: Target::Info,
        });
        rows.push(Row {
            figure: "  Redis-logging instructions per logged command above the floor (minus \
                     mod_floor)"
                .into(),
            c: Some(per("above-floor", Side::C)),
            ours: per("above-floor", Side::Ours),
            unit: Unit::Ir,
            target: Target::Info,
        });
    }
}

fn forensic_rows(ip: &IrParams, rows: &mut Vec<Row>) {
    let cmds = ip.forensic_cmds;
    for mode in [ForensicMode::Trace0, ForensicMode::Handler] {
        let cost = |side| Stat::MedianDiff(fk(mode, side, true), fk(mode, side, false));
        let (what, target) = match mode {
            ForensicMode::Trace0 => ("Trace DEFAULT:0", 0.7),
            ForensicMode::Handler => ("handler only: DebugLevel 10, Trace DEFAULT:20", 1.0),
        };
        rows.push(Row {
            figure: format!(
                "forensic capture instructions per session ({what}; {cmds} commands; on − off)"
            ),
            c: Some(cost(Side::C)),
            ours: cost(Side::Ours),
            unit: Unit::Ir,
            target: Target::Ratio(target),
        });
    }
}
