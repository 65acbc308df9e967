//! Signals in the middle of a session: every module, SIGTERM and timeouts
//! (SIGALRM), while the session is busy.  proftpd handles a signal inside
//! almost any call into its core, running the exit handlers (ours too)
//! right there; a module holding its state across such a call deadlocked
//! (the session hung for ever).  See src/host/state.rs.
//!
//! The deterministic tests use the debug-build hook
//! `PROFTPD_RS_TEST_SIGNAL=point:SIGNAL:N`, which raises the signal just
//! before the N-th core call at `point`: exactly where a naive module
//! would hold its state.  The floods (ignored by default; `./test.sh` runs
//! them) signal real sessions at random moments, many times.
//!
//! What every test checks: the session process exits within its timeouts;
//! Redis holds every event up to the interrupted command, in order, without
//! gaps; the forensic and xferlog files hold no torn record.

mod harness;

use harness::util::{process_alive, send_signal};
use harness::{Ftp, Modules, OUR_MODULE_FILES, Proftpd, RedisServer, wait_until};
use std::time::{Duration, Instant};

/// How long a signalled session may take to exit (the Redis exit grace is
/// not involved: Redis is up); `SIGNAL_EXIT_SECS` raises it (e.g. for a
/// run under valgrind: `PROFTPD_BIN=<valgrind wrapper>`).
static EXIT_WITHIN: std::sync::LazyLock<Duration> = std::sync::LazyLock::new(|| {
    Duration::from_secs(
        std::env::var("SIGNAL_EXIT_SECS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(3),
    )
});

/// Every module on; each command (`%r`) onto the session's own list
/// (`ev:<pid>`, `%P`).
fn conf(redis: &RedisServer, extra: &str) -> String {
    format!(
        r#"UniqueIDEngine on
ForensicLogEngine on
ForensicLogFile @DIR@/forensic.log
ForensicLogCriteria FailedLogin UntimelyDeath
RedisEngine on
RedisServer 127.0.0.1:{}
RedisLog @DIR@/redis.log
LogFormat ev "%r"
RedisLogOnCommand ALL ev "ev:%P"
XferLog @DIR@/xferlog.ext wu-ext
{extra}
"#,
        redis.port()
    )
}

fn start(redis: &RedisServer, hook: Option<&str>, extra: &str) -> Proftpd {
    let mut b = Proftpd::builder(Modules::Ours)
        .load_modules(&OUR_MODULE_FILES)
        .config(&conf(redis, extra));
    if let Some(h) = hook {
        b = b.env("PROFTPD_RS_TEST_SIGNAL", h);
    }
    b.start()
}

/// Log in and return the session's pid (the only session running).
fn login(server: &mut Proftpd) -> (Ftp, u32) {
    let ftp = server.login("alice", "secret");
    let pids = server.session_pids();
    let live: Vec<u32> = pids.into_iter().filter(|&p| process_alive(p)).collect();
    assert_eq!(live.len(), 1, "{live:?}");
    (ftp, live[0])
}

/// Send `n` pipelined `SIZE x<i>` commands (550 each: no such file) in one
/// write, then read replies until the connection closes; returns how many
/// of them were answered.
fn flood(ftp: &mut Ftp, n: usize) -> usize {
    let mut batch = String::new();
    for i in 0..n {
        batch.push_str(&format!("SIZE x{i}\r\n"));
    }
    ftp.send_raw(batch.as_bytes());
    read_until_closed(ftp)
}

/// Count the `550` replies until the server closes the connection.
fn read_until_closed(ftp: &mut Ftp) -> usize {
    let mut n = 0;
    while let Ok(r) = ftp.try_read_reply() {
        if r.code == 550 {
            n += 1;
        }
    }
    n
}

fn assert_exits(server: &Proftpd, pid: u32, since: Instant) -> Duration {
    let ok = wait_until(*EXIT_WITHIN, || !process_alive(pid));
    assert!(
        ok,
        "session {pid} still alive {:?} after the signal:\n{}",
        since.elapsed(),
        server.logs()
    );
    since.elapsed()
}

/// The session's events: USER, PASS, then `SIZE x0, x1, ...` with no gap or
/// repeat; returns how many SIZE events there are.  (proftpd's command
/// reader now and then takes two pipelined lines for one command,
/// `SIZE x382 SIZE x383`, answered once: the numbers are read in order
/// from every event.)
fn check_events(redis: &RedisServer, pid: u32, answered: usize) -> usize {
    let events = redis.client().lrange(&format!("ev:{pid}"));
    let mut sizes: Vec<String> = Vec::new();
    let mut numbers: Vec<usize> = Vec::new();
    for e in &events {
        let v: serde_json::Value = serde_json::from_str(e).unwrap();
        let r = v["raw_command"].as_str().unwrap_or_default();
        if r.starts_with("SIZE ") {
            sizes.push(r.to_string());
            numbers.extend(
                r.split_whitespace()
                    .filter_map(|w| w.strip_prefix('x')?.parse::<usize>().ok()),
            );
        }
    }
    for (i, n) in numbers.iter().enumerate() {
        assert_eq!(*n, i, "gap or repeat at {i} in {:?}", ranges(&numbers));
    }
    // The command being logged when the signal came may be lost (it was
    // never handed to Redis); nothing before it.
    assert!(
        sizes.len() + 1 >= answered,
        "{} events for {answered} answered commands",
        sizes.len()
    );
    sizes.len()
}

/// Every forensic block is whole; returns their titles.
fn check_forensic(server: &Proftpd) -> Vec<String> {
    let text = String::from_utf8_lossy(&server.try_read_file("forensic.log").unwrap_or_default())
        .into_owned();
    let begins = text.matches("-----BEGIN ").count();
    let ends = text.matches("-----END ").count();
    assert_eq!(begins, ends, "torn forensic block:\n{text}");
    assert!(text.is_empty() || text.ends_with("-----\n"), "{text}");
    text.lines()
        .filter_map(|l| l.strip_prefix("-----BEGIN "))
        .map(|t| t.trim_end_matches('-').to_string())
        .collect()
}

/// Every xferlog line is whole and parses; returns how many there are.
fn check_xferlog(server: &Proftpd) -> usize {
    let text = String::from_utf8_lossy(&server.try_read_file("xferlog.ext").unwrap_or_default())
        .into_owned();
    assert!(
        text.is_empty() || text.ends_with('\n'),
        "torn line: {text:?}"
    );
    for r in proftpd_rs::xferlog::format::parse_all(&text) {
        r.unwrap_or_else(|e| panic!("torn or bad xferlog line: {e:?}\n{text}"));
    }
    text.lines().count()
}

// ---- deterministic: the signal made pending just before a core call --------

/// mod_redis: SIGTERM made pending right before the LogFormat of the 30th
/// event is resolved (the C-ABI call that used to run inside the module's
/// lock).  The session ends; every earlier event is in Redis.
#[test]
fn sigterm_while_redis_resolves_an_event() {
    let redis = RedisServer::start();
    let mut server = start(&redis, Some("jot::resolve:TERM:60"), "");
    let (mut ftp, pid) = login(&mut server);
    let t = Instant::now();
    let answered = flood(&mut ftp, 200);
    assert_exits(&server, pid, t);
    assert!(answered < 200, "the signal never came");
    let n = check_events(&redis, pid, answered);
    assert!(n >= 20, "{n} events");
    check_forensic(&server);
}

/// mod_xferlog: SIGTERM made pending while the third transfer is logged.
/// The two before it are in the file, whole; the session ends.
#[test]
fn sigterm_while_xferlog_logs_a_transfer() {
    let redis = RedisServer::start();
    let mut server = start(&redis, Some("session::xfer:TERM:3"), "");
    let (mut ftp, pid) = login(&mut server);
    ftp.type_i();
    ftp.stor("f.bin", b"payload");
    ftp.retr("f.bin");
    let t = Instant::now();
    // The third transfer: the session ends while it is logged.
    let third = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        ftp.transfer_in("RETR f.bin");
        let _ = ftp.wait_closed();
    }));
    drop(third);
    assert_exits(&server, pid, t);
    assert_eq!(check_xferlog(&server), 2);
}

/// mod_log_forensic: SIGTERM made pending while the failed-login block is
/// being prepared.  The exit handler runs inside that preparation and
/// writes its own (untimely death) block; the file holds whole blocks only.
#[test]
fn sigterm_while_forensic_prepares_a_block() {
    let redis = RedisServer::start();
    let server = start(&redis, Some("session::snapshot:TERM:1"), "");
    let mut ftp = server.connect();
    assert_eq!(ftp.cmd("USER alice").code, 331);
    let t = Instant::now();
    let _ = ftp.try_cmd("PASS wrong");
    let _ = ftp.wait_closed();
    assert!(
        wait_until(*EXIT_WITHIN, || server.logs().contains("dead")
            || check_forensic(&server).len() == 1),
        "{}",
        server.logs()
    );
    let titles = check_forensic(&server);
    assert_eq!(titles, ["UNTIMELY DEATH FORENSICS"], "{:?}", t.elapsed());
}

/// mod_unique_id: SIGTERM made pending while the ID is set at session
/// start; the session ends at once.
#[test]
fn sigterm_while_unique_id_sets_the_id() {
    let redis = RedisServer::start();
    let mut server = start(&redis, Some("session::env:TERM:1"), "");
    let t = Instant::now();
    // The session ends before its banner.
    if let Ok(mut ftp) = Ftp::try_connect(server.port()) {
        let _ = ftp.wait_closed();
    }
    assert!(
        wait_until(*EXIT_WITHIN, || server.session_pids().is_empty()),
        "{:?}\n{}",
        t.elapsed(),
        server.logs()
    );
}

// ---- floods: real signals at random moments, many times ---------------------

fn sessions() -> usize {
    std::env::var("SIGNAL_SESSIONS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(40)
}

/// A cheap pseudo-random delay (no extra crate): 0..max microseconds.
fn jitter(i: usize, max: u64) -> Duration {
    let x = (i as u64 + 1).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    Duration::from_micros((x >> 33) % max)
}

/// SIGTERM at a random moment of an 800-command flood, all four modules
/// loaded, one session after another.
#[test]
#[ignore = "long: run by ./test.sh (cargo test --test signals -- --ignored)"]
fn sigterm_mid_flood() {
    let redis = RedisServer::start();
    let mut server = start(&redis, None, "");
    let n = sessions();
    let (mut slowest, mut events, mut lost) = (Duration::ZERO, 0, 0);
    for i in 0..n {
        let (mut ftp, pid) = login(&mut server);
        let mut batch = String::new();
        for j in 0..800 {
            batch.push_str(&format!("SIZE x{j}\r\n"));
        }
        ftp.send_raw(batch.as_bytes());
        std::thread::sleep(jitter(i, 60_000));
        let t = Instant::now();
        assert!(send_signal(pid, libc::SIGTERM));
        let answered = read_until_closed(&mut ftp);
        slowest = slowest.max(assert_exits(&server, pid, t));
        let got = check_events(&redis, pid, answered);
        events += got;
        lost += answered.saturating_sub(got);
    }
    let blocks = check_forensic(&server);
    assert_eq!(blocks.len(), n, "one untimely-death block per session");
    println!(
        "signals: SIGTERM mid-flood: {n} sessions signalled, {n} exited (slowest {slowest:?}), \
         {events} events in Redis, {lost} answered command(s) not in Redis (the one in flight)"
    );
}

/// SIGTERM at a random moment of a series of downloads: xferlog and
/// forensic records stay whole.
#[test]
#[ignore = "long: run by ./test.sh (cargo test --test signals -- --ignored)"]
fn sigterm_mid_transfers() {
    let redis = RedisServer::start();
    let mut server = start(&redis, None, "");
    let n = sessions() / 2;
    {
        let (mut ftp, _) = login(&mut server);
        ftp.type_i();
        ftp.stor("f.bin", &vec![7u8; 64 * 1024]);
        ftp.quit();
        assert!(server.wait_for_no_sessions(*EXIT_WITHIN));
    }
    let mut slowest = Duration::ZERO;
    for i in 0..n {
        let (ftp, pid) = login(&mut server);
        // Downloads one after another until the session ends (10 s at most).
        let worker = std::thread::spawn(move || {
            let mut ftp = ftp;
            let t = Instant::now();
            let mut done = ftp.try_cmd("TYPE I").map(|_| ());
            while t.elapsed() < Duration::from_secs(10) && done.is_ok() {
                done = ftp.try_transfer_in("RETR f.bin").map(|_| ());
            }
        });
        std::thread::sleep(jitter(i, 300_000));
        let t = Instant::now();
        assert!(send_signal(pid, libc::SIGTERM));
        slowest = slowest.max(assert_exits(&server, pid, t));
        let _ = worker.join();
    }
    let lines = check_xferlog(&server);
    assert_eq!(check_forensic(&server).len(), n);
    println!(
        "signals: SIGTERM mid-transfers: {n} sessions signalled, {n} exited (slowest \
         {slowest:?}), {lines} whole xferlog lines, no torn record"
    );
}

/// `TimeoutNoTransfer 1` ends sessions that flood commands without a
/// transfer (SIGALRM, handled inside whatever core call is running).
#[test]
#[ignore = "long: run by ./test.sh (cargo test --test signals -- --ignored)"]
fn timeout_mid_flood() {
    let redis = RedisServer::start();
    let mut server = start(&redis, None, "TimeoutNoTransfer 1\nTimeoutIdle 5");
    let n = sessions() / 4;
    let mut slowest = Duration::ZERO;
    for _ in 0..n {
        let (mut ftp, pid) = login(&mut server);
        let t = Instant::now();
        // Keep the session busy until the timeout ends it (at most 10 s).
        let mut answered = 0;
        let mut j = 0;
        'flood: while t.elapsed() < Duration::from_secs(10) {
            let mut batch = String::new();
            for _ in 0..50 {
                batch.push_str(&format!("SIZE x{j}\r\n"));
                j += 1;
            }
            if ftp.try_send_raw(batch.as_bytes()).is_err() {
                break;
            }
            for _ in 0..50 {
                match ftp.try_read_reply() {
                    Ok(r) if r.code == 550 => answered += 1,
                    Ok(_) => {}
                    Err(_) => break 'flood,
                }
            }
        }
        let ok = wait_until(*EXIT_WITHIN, || !process_alive(pid));
        assert!(
            ok,
            "session {pid} alive {:?}:\n{}",
            t.elapsed(),
            server.logs()
        );
        slowest = slowest.max(t.elapsed());
        assert!(t.elapsed() < Duration::from_secs(1 + 3) + *EXIT_WITHIN);
        check_events(&redis, pid, answered);
    }
    check_forensic(&server);
    println!(
        "signals: TimeoutNoTransfer mid-flood: {n} sessions timed out and exited (slowest \
         {slowest:?} from login)"
    );
}

/// Numbers as runs of consecutive ones, e.g. `[(0, 137), (137, 140)]`.
fn ranges(numbers: &[usize]) -> Vec<(usize, usize)> {
    let mut out: Vec<(usize, usize)> = Vec::new();
    for &n in numbers {
        match out.last_mut() {
            Some((_, end)) if *end + 1 == n => *end = n,
            _ => out.push((n, n)),
        }
    }
    out
}
