//! The spool drain mode (`--drain`): how fast RedisLogSpool's spooled
//! events reach a local Redis, and the CPU it takes, against live logging.
//!
//! 1. Live logging, for comparison: one long session of ours with
//!    `RedisLogOnCommand ALL b` and one without mod_redis, NOOPs in
//!    lockstep (as the `redis` group): CPU per event of the session (minus
//!    the one without) and of redis-server.
//! 2. A spool of `BENCH_DRAIN_EVENTS` events (1M) in `BENCH_DRAIN_FILES`
//!    files (4), written with the library's spool encoder; each record is
//!    an event as the live sessions logged it (`NOOP` with a counter).
//! 3. Sessions drain it: each logs in and QUITs, then drains for up to 3 s
//!    (the session's end); again until the spool is empty. Per session:
//!    wall time from connect to exit, the CPU of the session process (the
//!    master stopped, so that the exited session stays a zombie whose
//!    schedstat can be read) minus a login + QUIT with nothing to drain,
//!    and redis-server's CPU.
//! 4. The same spool written again, Redis emptied: `redis-spool drain`,
//!    its wall time and CPU (a zombie too), and redis-server's.

use crate::Params;
use crate::harness::util::{child_pids, wait_until};
use crate::harness::{Proftpd, RedisClient, RedisServer};
use crate::setup::*;
use crate::stats::median;
use proftpd_rs::redis::spool::format::{Header, encode_record};
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The key of the spooled events.
const KEY: &str = "spooled";

fn redis_pid(c: &mut RedisClient) -> u32 {
    let info = c.cmd(&["INFO", "server"]).as_string().unwrap_or_default();
    info.lines()
        .find_map(|l| l.strip_prefix("process_id:")?.trim().parse().ok())
        .expect("redis-server's process_id")
}

/// What one way of getting events into Redis took.
struct Drained {
    events: u64,
    wall: Duration,
    /// CPU of the process(es) that sent them, and of redis-server (ns).
    cpu: f64,
    redis_cpu: f64,
}

impl Drained {
    fn row(&self, how: &str) -> String {
        let per = |ns: f64| format!("{:.2} µs", ns / self.events as f64 / 1e3);
        format!(
            "| {how} | {} | {:.2} s | {:.0}k | {} | {} |",
            self.events,
            self.wall.as_secs_f64(),
            self.events as f64 / self.wall.as_secs_f64() / 1e3,
            per(self.cpu),
            per(self.redis_cpu)
        )
    }
}

/// Writes `events` records of `template` (its `"NOOP"` numbered) under
/// [`KEY`] into `files` spool files for `destination` in `dir`; returns
/// the bytes of the events (JSON).
fn write_spool(dir: &Path, destination: u64, template: &str, events: usize, files: usize) -> usize {
    let per_file = events.div_ceil(files);
    let mut n = 0;
    let mut bytes = 0;
    for f in 0..files {
        let mut buf = Header::new(destination, 1_700_000_000).encode().to_vec();
        while n < events && n < (f + 1) * per_file {
            let payload = template.replacen("\"NOOP\"", &format!("\"NOOP {n}\""), 1);
            encode_record(&mut buf, KEY.as_bytes(), payload.as_bytes());
            bytes += payload.len();
            n += 1;
        }
        let path = dir.join(format!(
            "{destination:016x}-{}-{}-{f:08x}.spool",
            1_700_000_000 + f,
            900_000 + f
        ));
        fs::write(&path, &buf).expect("write the spool file");
        fs::set_permissions(&path, fs::Permissions::from_mode(0o600)).expect("chmod");
    }
    bytes
}

/// Waits (polling every millisecond, for the wall time) until `pid` has
/// exited (a zombie: its parent has not reaped it); false after `max`.
fn wait_exited(pid: u32, max: Duration) -> bool {
    let t = Instant::now();
    while t.elapsed() < max {
        if proc_state(pid) == Some('Z') {
            return true;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    false
}

/// Spool files with events left (more than the 32-byte header).
fn waiting(dir: &Path) -> usize {
    fs::read_dir(dir)
        .expect("spool dir")
        .flatten()
        .filter(|e| e.metadata().is_ok_and(|m| m.len() > 32))
        .count()
}

/// The CPU (ns) of a whole session of `server` (connect, log in, QUIT,
/// whatever it does at its end), and its wall time from connect to exit.
fn whole_session(server: &Proftpd) -> (f64, Duration) {
    wait_until(Duration::from_secs(30), || {
        child_pids(server.pid()).is_empty()
    });
    let t = Instant::now();
    let mut ftp = server.connect();
    let pid = only_session(server);
    login(&mut ftp);
    let stopped = MasterStopped::new(server.pid());
    ftp.quit();
    assert!(
        wait_exited(pid, Duration::from_secs(60)),
        "session {pid} did not exit"
    );
    let wall = t.elapsed();
    let cpu = cpu_ns(pid);
    drop(stopped);
    (cpu, wall)
}

/// The drain run: prints its table.
pub fn run(p: &Params) {
    let events = crate::env_num("BENCH_DRAIN_EVENTS", 1_000_000).max(1);
    let files = crate::env_num("BENCH_DRAIN_FILES", 4).max(1);
    let live_rounds = crate::env_num("BENCH_DRAIN_LIVE_ROUNDS", 20).max(1);
    let started = Instant::now();
    let redis = RedisServer::start();
    let addr = format!("127.0.0.1:{}", redis.port());
    let mut c = redis.client();
    let rpid = redis_pid(&mut c);
    let scratch = tempfile::tempdir().expect("tempdir");
    let spool = scratch.path().join("spool");
    fs::create_dir(&spool).expect("spool dir");
    fs::set_permissions(&spool, fs::Permissions::from_mode(0o700)).expect("chmod");
    eprintln!(
        "[bench] drain: {events} events in {files} files; live logging {live_rounds} rounds of \
         {} NOOPs; {}",
        p.noops,
        crate::machine()
    );

    // 1. Live logging.
    let base_srv = server(Side::Ours).start();
    let live_srv = server(Side::Ours)
        .load_module("mod_redis.c")
        .config(&redis_conf(&addr, RULE_ALL))
        .start();
    let mut base = Live::open(&base_srv);
    let mut live = Live::open(&live_srv);
    for l in [&mut base, &mut live] {
        for _ in 0..20 {
            l.ftp.expect("NOOP", 200);
        }
    }
    let (mut per_event, mut redis_per_event) = (Vec::new(), Vec::new());
    for _ in 0..live_rounds {
        let mut per_noop = [0.0; 2];
        let mut redis_ns = 0.0;
        let mut logged = 0;
        for (i, l) in [&mut base, &mut live].into_iter().enumerate() {
            let before = c.llen("b");
            let r0 = cpu_ns(rpid);
            let c0 = idle_cpu_ns(l.pid);
            for _ in 0..p.noops {
                l.ftp.expect("NOOP", 200);
            }
            let c1 = idle_cpu_ns(l.pid);
            // The last NOOP's event is sent (and its reply read) with the
            // next one: count what reached Redis.
            wait_until(Duration::from_secs(10), || {
                i == 0 || c.llen("b") >= before + p.noops as i64 - 1
            });
            per_noop[i] = (c1 - c0) / p.noops as f64;
            if i == 1 {
                redis_ns = cpu_ns(rpid) - r0;
                logged = c.llen("b") - before;
            }
        }
        per_event.push(per_noop[1] - per_noop[0]);
        redis_per_event.push(redis_ns / logged.max(1) as f64);
    }
    let template = c
        .cmd(&["LINDEX", "b", "-1"])
        .as_string()
        .expect("a logged event");
    drop((base, live));
    c.cmd(&["FLUSHALL"]);

    // 2. The spool, for the sessions' destination (their own file's name).
    let spool_srv = server(Side::Ours)
        .load_module("mod_redis.c")
        .config(&format!(
            "{}RedisLogSpool {} 4G\n",
            redis_conf(&addr, RULE_ALL),
            spool.display()
        ))
        .start();
    let (idle_cpu, _) = whole_session(&spool_srv);
    let name = fs::read_dir(&spool)
        .expect("spool dir")
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .find(|n| n.ends_with(".spool"))
        .expect("a session's own spool file");
    let destination = u64::from_str_radix(&name[..16], 16).expect("destination");
    let t = Instant::now();
    let bytes = write_spool(&spool, destination, &template, events, files);
    let size = bytes as f64 / events as f64;
    eprintln!(
        "[bench] spool of {events} events ({size:.0} bytes each) written in {:.1} s",
        t.elapsed().as_secs_f64()
    );

    // 3. Sessions drain it.
    let mut by_sessions = Drained {
        events: 0,
        wall: Duration::ZERO,
        cpu: 0.0,
        redis_cpu: 0.0,
    };
    let mut sessions = 0;
    let mut idle = vec![idle_cpu];
    while waiting(&spool) > 0 {
        let before = c.llen(KEY);
        let r0 = cpu_ns(rpid);
        let (cpu, wall) = whole_session(&spool_srv);
        sessions += 1;
        by_sessions.events += (c.llen(KEY) - before) as u64;
        by_sessions.wall += wall;
        by_sessions.cpu += cpu;
        by_sessions.redis_cpu += cpu_ns(rpid) - r0;
        eprintln!(
            "[bench] session {sessions}: {} delivered in {:.2} s",
            c.llen(KEY) - before,
            wall.as_secs_f64()
        );
        assert!(sessions < 1000, "the sessions do not drain the spool");
    }
    for _ in 0..3 {
        idle.push(whole_session(&spool_srv).0);
    }
    let idle = median(&mut idle);
    by_sessions.cpu -= idle * sessions as f64;
    assert_eq!(
        by_sessions.events, events as u64,
        "events drained by the sessions"
    );
    c.cmd(&["FLUSHALL"]);

    // 4. redis-spool drain.
    write_spool(&spool, destination, &template, events, files);
    let r0 = cpu_ns(rpid);
    let t = Instant::now();
    let child = Command::new(env!("CARGO_BIN_EXE_redis-spool"))
        .args(["drain", spool.to_str().unwrap(), "--redis", &addr])
        .stdout(Stdio::piped())
        .spawn()
        .expect("redis-spool");
    let pid = child.id();
    assert!(
        wait_exited(pid, Duration::from_secs(600)),
        "redis-spool drain did not finish"
    );
    let wall = t.elapsed();
    let cpu = cpu_ns(pid);
    let out = child.wait_with_output().expect("redis-spool");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && text.contains(&format!("drained {events} event(s)")),
        "redis-spool drain: {}: {text}",
        out.status
    );
    let by_tool = Drained {
        events: c.llen(KEY) as u64,
        wall,
        cpu,
        redis_cpu: cpu_ns(rpid) - r0,
    };
    c.cmd(&["FLUSHALL"]);

    println!();
    println!(
        "Spool drain ({} s; {}):",
        started.elapsed().as_secs(),
        crate::machine()
    );
    println!();
    println!(
        "| how | events | wall | events/s | sender CPU per event | redis-server CPU per event |"
    );
    println!("|---|---:|---:|---:|---:|---:|");
    println!(
        "{}",
        by_sessions.row(&format!(
            "sessions draining at their end ({sessions}, up to 3 s each; CPU minus a login)"
        ))
    );
    println!("{}", by_tool.row("`redis-spool drain`"));
    println!(
        "| live logging (ours, `RedisLogOnCommand ALL`, NOOP in lockstep; CPU minus no \
         mod_redis; median of {live_rounds} × {}) | | | | {:.2} µs | {:.2} µs |",
        p.noops,
        median(&mut per_event) / 1e3,
        median(&mut redis_per_event) / 1e3
    );
    println!();
    println!(
        "Events of {size:.0} bytes on average (the live sessions' NOOP event, numbered), key \
         `{KEY}`, {files} spool files. Wall = connect to exit (sessions, summed) or the tool's \
         run; CPU = /proc/<pid>/schedstat (user + kernel)."
    );
}
