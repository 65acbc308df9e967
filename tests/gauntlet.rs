//! Reliability gauntlet: all four modules at once in a real proftpd, under
//! load and under faults (Redis killed, Redis silent, a full file system, a
//! configuration reload), with hostile input, and under valgrind; and
//! RedisLogSpool through outages, repeated Redis crashes and a drainer
//! killed mid-drain (the `spool_` tests).
//!
//! These tests are ignored by default because they take a while; `./test.sh`
//! (and so CI) runs them after the rest with `cargo test --test gauntlet --
//! --ignored --test-threads 1`. Sizes can be raised with environment
//! variables: `GAUNTLET_SESSIONS` (default 200) and `GAUNTLET_CONCURRENCY`
//! (default 20) for the load test (and the spool tests' sessions).
//!
//! Each test prints one `gauntlet:` line with its figures.

mod harness;

use harness::{Ftp, Modules, OUR_MODULE_FILES, Proftpd, RedisServer, wait_until};
use proftpd_rs::xferlog::format::Completion;
use serde_json::Value;
use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// Commands per session (login and QUIT included).
const COMMANDS: usize = 50;

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Every module on: IDs, forensics (with every trace message captured),
/// every command to Redis under a per-session key, wu-ext transfer log, and
/// an ExtendedLog with the IDs to compare against.
fn all_modules_conf(redis_server: &str, forensic: &str, key_prefix: &str) -> String {
    format!(
        r#"UniqueIDEngine on
TraceLog @DIR@/trace.log
Trace DEFAULT:0
ForensicLogEngine on
ForensicLogFile {forensic}
RedisEngine on
RedisServer {redis_server}
RedisTimeouts 300 300
RedisLog @DIR@/redis.log
LogFormat ev "%{{note:UNIQUE_ID}} %u %r %s"
RedisLogOnCommand ALL ev "{key_prefix}%{{note:UNIQUE_ID}}"
XferLog @DIR@/xferlog.ext wu-ext
LogFormat sess "%{{note:UNIQUE_ID}} %m"
ExtendedLog @DIR@/ext.log ALL sess
"#
    )
}

fn start_all(conf: &str) -> Proftpd {
    Proftpd::builder(Modules::Ours)
        .load_modules(&OUR_MODULE_FILES)
        .config(conf)
        .start()
}

/// An FTP session that remembers every command it sent, as proftpd's `%r`
/// shows it (`PASS (hidden)`), and checks every reply code.
struct Script {
    ftp: Ftp,
    sent: Vec<String>,
    /// The 220 banner's wait (proftpd's master accepts one connection at a
    /// time and sleeps 200 ms after each SIGCHLD, so under load this is
    /// mostly queueing in the master).
    banner: Duration,
    /// The slowest reply to a command.
    slowest: Duration,
}

impl Script {
    fn connect(port: u16) -> Script {
        // The banner is a reply too (mod_redis logs the session's start
        // before it).
        let t = Instant::now();
        let ftp = Ftp::connect(port);
        Script {
            ftp,
            sent: Vec::new(),
            banner: t.elapsed(),
            slowest: Duration::ZERO,
        }
    }

    fn note(&mut self, line: &str) {
        let shown = if line.starts_with("PASS ") {
            "PASS (hidden)".to_string()
        } else {
            line.to_string()
        };
        self.sent.push(shown);
    }

    fn cmd(&mut self, line: &str, code: u16) {
        self.note(line);
        let t = Instant::now();
        let r = self.ftp.cmd(line);
        self.slowest = self.slowest.max(t.elapsed());
        assert_eq!(r.code, code, "{line}: {r}");
    }

    fn transfer_in(&mut self, line: &str, ok: bool) {
        self.note("PASV");
        self.note(line);
        let t = Instant::now();
        let r = self.ftp.transfer_in(line);
        self.slowest = self.slowest.max(t.elapsed());
        assert_eq!(r.ok(), ok, "{line}: {}", r.final_reply());
    }

    fn stor(&mut self, name: &str, payload: &[u8]) {
        self.note("PASV");
        self.note(&format!("STOR {name}"));
        let t = Instant::now();
        self.ftp.stor(name, payload);
        self.slowest = self.slowest.max(t.elapsed());
    }

    fn quit(mut self) -> (Vec<String>, Duration, Duration) {
        self.note("QUIT");
        let r = self.ftp.quit();
        assert_eq!(r.code, 221, "QUIT: {r}");
        (self.sent, self.banner, self.slowest)
    }
}

/// What one scripted session did.
struct SessionRun {
    sent: Vec<String>,
    transfers: usize,
    elapsed: Duration,
    banner: Duration,
    slowest: Duration,
}

/// Session `i`: a failed login first when `fail_first`, then login and a
/// cycle of MKD, CWD, STOR, SIZE, RETR and a failing NLST (every argument
/// unique to the session), then QUIT: [`COMMANDS`] commands in all.
fn run_session(port: u16, i: usize, fail_first: bool) -> SessionRun {
    let t = Instant::now();
    let mut s = Script::connect(port);
    if fail_first {
        s.cmd("USER alice", 331);
        s.cmd(&format!("PASS wrong-{i}"), 530);
    }
    s.cmd("USER alice", 331);
    s.cmd("PASS secret", 230);
    s.cmd("TYPE I", 200);
    let mut transfers = 0;
    let mut j = 0;
    loop {
        let len = match j % 6 {
            2 | 4 | 5 => 2,
            _ => 1,
        };
        if s.sent.len() + len + 1 > COMMANDS {
            break;
        }
        match j % 6 {
            0 => s.cmd(&format!("MKD d{i}_{j}"), 257),
            1 => s.cmd(&format!("CWD d{i}_{}", j - 1), 250),
            2 => {
                s.stor(&format!("f{i}_{j}"), format!("payload {i} {j}").as_bytes());
                transfers += 1;
            }
            3 => s.cmd(&format!("SIZE f{i}_{}", j - 1), 213),
            4 => {
                s.transfer_in(&format!("RETR f{i}_{}", j - 2), true);
                transfers += 1;
            }
            _ => s.transfer_in(&format!("NLST missing{i}_{j}"), false),
        }
        j += 1;
    }
    while s.sent.len() + 1 < COMMANDS {
        s.cmd(&format!("CWD /no/such/dir{i}_{}", s.sent.len()), 550);
    }
    let (mut sent, banner, slowest) = s.quit();
    assert_eq!(sent.len(), COMMANDS);
    sent.insert(0, "CONNECT".into());
    sent.push("DISCONNECT".into());
    SessionRun {
        sent,
        transfers,
        elapsed: t.elapsed(),
        banner,
        slowest,
    }
}

/// Runs `sessions` scripted sessions, `concurrency` at a time; every 10th
/// starts with a failed login. `between(done)` is called by the workers
/// after each finished session (for fault injection).
fn run_load(
    port: u16,
    sessions: usize,
    concurrency: usize,
    between: &(dyn Fn(usize) + Sync),
) -> Vec<SessionRun> {
    run_many(
        sessions,
        concurrency,
        &|i| run_session(port, i, i.is_multiple_of(10)),
        between,
    )
}

/// Runs `session(i)` for `i` in `0..sessions`, `concurrency` at a time;
/// `between(done)` as in [`run_load`].
fn run_many(
    sessions: usize,
    concurrency: usize,
    session: &(dyn Fn(usize) -> SessionRun + Sync),
    between: &(dyn Fn(usize) + Sync),
) -> Vec<SessionRun> {
    let next = AtomicUsize::new(0);
    let done = AtomicUsize::new(0);
    let runs: Mutex<Vec<Option<SessionRun>>> = Mutex::new((0..sessions).map(|_| None).collect());
    std::thread::scope(|scope| {
        for _ in 0..concurrency {
            scope.spawn(|| {
                loop {
                    let i = next.fetch_add(1, Ordering::SeqCst);
                    if i >= sessions {
                        break;
                    }
                    let run = session(i);
                    runs.lock().unwrap()[i] = Some(run);
                    between(done.fetch_add(1, Ordering::SeqCst) + 1);
                }
            });
        }
    });
    runs.into_inner()
        .unwrap()
        .into_iter()
        .map(|r| r.expect("session ran"))
        .collect()
}

/// Events per session: its commands, plus the session's start and end
/// (`RedisLogOnCommand ALL` logs those too, as `"connecting":true` and
/// `"disconnecting":true`).
const EVENTS: usize = COMMANDS + 2;

/// The Redis lists of the sessions: session index (from its first MKD,
/// `d<i>_0`) -> (UNIQUE_ID from the key, the `%r` of every event, with the
/// session start and end as `CONNECT` and `DISCONNECT`).
fn session_lists(redis: &RedisServer, prefix: &str) -> HashMap<usize, (String, Vec<String>)> {
    let mut c = redis.client();
    let mut out = HashMap::new();
    for key in c.keys(&format!("{prefix}*")) {
        let mut raw = Vec::new();
        for item in c.lrange(&key) {
            let v: Value = serde_json::from_str(&item)
                .unwrap_or_else(|e| panic!("invalid JSON in {key}: {e}: {item:?}"));
            let r = if v["connecting"] == true {
                "CONNECT"
            } else if v["disconnecting"] == true {
                "DISCONNECT"
            } else {
                v["raw_command"].as_str().unwrap_or_default()
            };
            raw.push(r.to_string());
        }
        let i = raw
            .iter()
            .find_map(|r| r.strip_prefix("MKD d")?.strip_suffix("_0")?.parse().ok())
            .unwrap_or_else(|| panic!("no MKD d<i>_0 in {key}: {raw:?}"));
        let id = key[prefix.len()..].to_string();
        assert!(
            out.insert(i, (id, raw)).is_none(),
            "two lists for session {i}"
        );
    }
    out
}

/// Waits until the sessions' lists hold `want` events in all.
fn wait_events(redis: &RedisServer, prefix: &str, want: usize) -> usize {
    let mut c = redis.client();
    let mut have = 0;
    wait_until(Duration::from_secs(30), || {
        have = c
            .keys(&format!("{prefix}*"))
            .iter()
            .map(|k| c.llen(k) as usize)
            .sum();
        have >= want
    });
    have
}

/// `want` is a subsequence of `have` (in order; `have` may repeat events,
/// as at-least-once delivery may after an outage).
fn is_subsequence(want: &[String], have: &[String]) -> bool {
    let mut it = have.iter();
    want.iter().all(|w| it.any(|h| h == w))
}

fn read(path: &Path) -> String {
    String::from_utf8_lossy(&std::fs::read(path).unwrap_or_default()).into_owned()
}

fn forensic_counts(text: &str) -> (usize, usize, usize) {
    (
        text.matches("-----BEGIN FAILED LOGIN FORENSICS-----")
            .count(),
        text.matches("-----BEGIN UNTIMELY DEATH FORENSICS-----")
            .count(),
        text.matches("-----BEGIN MODULE CONFIG FORENSICS-----")
            .count(),
    )
}

/// No session process died of a signal, nothing of ours panicked.
fn assert_no_crash(server: &Proftpd) {
    let logs = server.logs();
    for bad in [
        "(signal 11)",
        "(signal 6)",
        "(signal 7)",
        "SIGSEGV",
        "panic",
    ] {
        assert!(!logs.contains(bad), "{bad:?} in proftpd's logs:\n{logs}");
    }
}

// ---- load ------------------------------------------------------------------

/// 200 sessions, 20 at a time, 50 commands each, all modules on: every event
/// in Redis (count and order per session), every UNIQUE_ID distinct, every
/// transfer in the xferlog, forensic blocks only for the deliberate failed
/// logins, no session killed by a signal.
#[test]
#[ignore]
fn load_all_modules() {
    let sessions = env_usize("GAUNTLET_SESSIONS", 200);
    let concurrency = env_usize("GAUNTLET_CONCURRENCY", 20);
    let redis = RedisServer::start();
    let mut server = start_all(&all_modules_conf(
        &format!("127.0.0.1:{}", redis.port()),
        "@DIR@/forensic.log",
        "s:",
    ));
    let t = Instant::now();
    let runs = run_load(server.port(), sessions, concurrency, &|_| {});
    let load_time = t.elapsed();
    let events = sessions * EVENTS;
    assert_eq!(wait_events(&redis, "s:", events), events);
    let lists = session_lists(&redis, "s:");
    assert_eq!(lists.len(), sessions);
    for (i, run) in runs.iter().enumerate() {
        let (_, raw) = &lists[&i];
        assert_eq!(raw, &run.sent, "session {i}: events differ from commands");
    }
    // UNIQUE_IDs: one per session, all distinct, the same in Redis and in
    // the ExtendedLog.
    let ids: HashSet<&str> = lists.values().map(|(id, _)| id.as_str()).collect();
    assert_eq!(ids.len(), sessions);
    assert!(server.wait_for_no_sessions(Duration::from_secs(30)));
    let ext = read(&server.path("ext.log"));
    let ext_ids: HashSet<&str> = ext.lines().filter_map(|l| l.split(' ').next()).collect();
    assert_eq!(ext_ids.len(), sessions, "distinct IDs in ext.log");
    assert!(ids.iter().all(|id| ext_ids.contains(id)));
    // Transfers.
    let transfers: usize = runs.iter().map(|r| r.transfers).sum();
    let xfer = read(&server.path("xferlog.ext"));
    let lines: Vec<&str> = xfer.lines().collect();
    assert_eq!(lines.len(), transfers);
    for l in &lines {
        let rec = proftpd_rs::xferlog::format::parse_line(l, 0)
            .unwrap_or_else(|e| panic!("xferlog line {l:?}: {e:?}"));
        assert_eq!(rec.completion, Some(Completion::Complete), "{l}");
    }
    // Forensics: the deliberate failures and nothing else.
    let (failed, death, module) = forensic_counts(&read(&server.path("forensic.log")));
    let deliberate = (0..sessions).filter(|i| i.is_multiple_of(10)).count();
    assert_eq!((failed, death, module), (deliberate, 0, 0));
    server.stop();
    assert_no_crash(&server);
    let slowest = runs.iter().map(|r| r.slowest).max().unwrap_or_default();
    println!(
        "gauntlet: load: {sessions} sessions ({concurrency} at a time) x {COMMANDS} commands = \
         {events} events in Redis, {} distinct UNIQUE_IDs, {transfers} xferlog lines, \
         {failed} forensic blocks (deliberate {deliberate}), in {:.1} s; slowest reply {} ms \
         (slowest banner {} ms)",
        ids.len(),
        load_time.as_secs_f64(),
        slowest.as_millis(),
        runs.iter()
            .map(|r| r.banner)
            .max()
            .unwrap_or_default()
            .as_millis()
    );
}

// ---- faults ----------------------------------------------------------------

/// Redis is killed (SIGKILL) and restarted while sessions run; it keeps what
/// it acknowledged (appendonly, fsync always). Every event of every session
/// ends up in Redis, in order (at-least-once: an event whose reply was lost
/// may appear twice).
#[test]
#[ignore]
fn redis_killed_and_restarted_mid_load() {
    let sessions = 100;
    let mut redis = RedisServer::builder()
        .config("appendonly yes")
        .config("appendfsync always")
        .start();
    let port = redis.port();
    let mut server = start_all(&all_modules_conf(
        &format!("127.0.0.1:{port}"),
        "@DIR@/forensic.log",
        "s:",
    ));
    let redis_cell = Mutex::new(&mut redis);
    let outage = Mutex::new(None::<Duration>);
    let runs = run_load(server.port(), sessions, 20, &|done| {
        if done == sessions / 3 {
            let mut r = redis_cell.lock().unwrap();
            let t = Instant::now();
            r.crash();
            std::thread::sleep(Duration::from_millis(1000));
            r.restart();
            *outage.lock().unwrap() = Some(t.elapsed());
        }
    });
    let outage = outage.into_inner().unwrap().expect("the outage happened");
    let events = sessions * EVENTS;
    let have = wait_events(&redis, "s:", events);
    let lists = session_lists(&redis, "s:");
    let missing: Vec<usize> = (0..sessions).filter(|i| !lists.contains_key(i)).collect();
    assert!(
        missing.is_empty(),
        "no events of sessions {missing:?}; RedisLog:\n{}",
        read(&server.path("redis.log"))
    );
    for (i, run) in runs.iter().enumerate() {
        let (_, raw) = &lists[&i];
        assert!(
            is_subsequence(&run.sent, raw),
            "session {i}: events lost\nsent:  {:?}\nredis: {raw:?}",
            run.sent
        );
    }
    let slowest = runs.iter().map(|r| r.slowest).max().unwrap_or_default();
    assert!(
        slowest < Duration::from_millis(1500),
        "a reply took {slowest:?}"
    );
    assert!(server.wait_for_no_sessions(Duration::from_secs(30)));
    let redis_log = read(&server.path("redis.log"));
    assert!(
        redis_log.contains("error"),
        "the outage was not noticed:\n{redis_log}"
    );
    assert!(!redis_log.contains("could not be delivered"), "{redis_log}");
    server.stop();
    assert_no_crash(&server);
    println!(
        "gauntlet: redis killed: {sessions} sessions x {COMMANDS} commands, Redis down {} ms \
         mid-load: {events} events expected, {have} stored ({} duplicates), 0 lost; slowest \
         reply {} ms",
        outage.as_millis(),
        have - events,
        slowest.as_millis()
    );
}

/// Redis accepts connections and never answers: every session still runs
/// its 50 commands with no reply slower than the timeouts, and ends.
#[test]
#[ignore]
fn redis_silent_sessions_finish_within_timeouts() {
    let sessions = 40;
    let port = harness::util::silent_server();
    let mut server = start_all(&all_modules_conf(
        &format!("127.0.0.1:{port}"),
        "@DIR@/forensic.log",
        "s:",
    ));
    let runs = run_load(server.port(), sessions, 20, &|_| {});
    let slowest = runs.iter().map(|r| r.slowest).max().unwrap_or_default();
    let banner = runs.iter().map(|r| r.banner).max().unwrap_or_default();
    let longest = runs.iter().map(|r| r.elapsed).max().unwrap_or_default();
    // RedisTimeouts 300 300: one attempt costs at most 600 ms.
    assert!(slowest < Duration::from_millis(1000), "slowest {slowest:?}");
    // The session's start is logged before the banner: not held up either
    // (beyond the master's own queueing of 20 connections at once).
    assert!(banner < Duration::from_secs(3), "banner {banner:?}");
    assert!(longest < Duration::from_secs(10), "longest {longest:?}");
    // Sessions end (within the exit grace plus one attempt).
    assert!(server.wait_for_no_sessions(Duration::from_secs(15)));
    let transfers: usize = runs.iter().map(|r| r.transfers).sum();
    assert_eq!(read(&server.path("xferlog.ext")).lines().count(), transfers);
    server.stop();
    assert_no_crash(&server);
    println!(
        "gauntlet: redis silent: {sessions} sessions x {COMMANDS} commands; slowest reply {} ms \
         (slowest banner {} ms), longest session {} ms",
        slowest.as_millis(),
        banner.as_millis(),
        longest.as_millis()
    );
}

/// A small tmpfs mounted for the test (unmounted on drop); `None` if this
/// machine cannot mount one.
struct SmallFs(PathBuf);

impl SmallFs {
    fn mount(dir: &Path, size: &str) -> Option<SmallFs> {
        std::fs::create_dir_all(dir).ok()?;
        let ok = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size},mode=0755")])
            .arg("tmpfs")
            .arg(dir)
            .status()
            .is_ok_and(|s| s.success());
        ok.then(|| SmallFs(dir.to_path_buf()))
    }
}

impl Drop for SmallFs {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount").arg(&self.0).status();
    }
}

/// ForensicLogFile on a file system that fills up: the sessions go on, and
/// each block that does not fit gives one notice.
#[test]
#[ignore]
fn forensic_log_on_a_full_file_system() {
    let sessions = 40;
    let redis = RedisServer::start();
    let base = tempfile::tempdir().unwrap();
    let mnt = base.path().join("small");
    let small = SmallFs::mount(&mnt, "256k");
    let (forensic, kind) = match &small {
        Some(fs) => (fs.0.join("forensic.log"), "256 KiB tmpfs"),
        None => (PathBuf::from("/dev/full"), "/dev/full"),
    };
    let mut server = start_all(&all_modules_conf(
        &format!("127.0.0.1:{}", redis.port()),
        &forensic.display().to_string(),
        "s:",
    ));
    // Every session fails a login first.
    let next = AtomicUsize::new(0);
    std::thread::scope(|scope| {
        for _ in 0..10 {
            scope.spawn(|| {
                loop {
                    let i = next.fetch_add(1, Ordering::SeqCst);
                    if i >= sessions {
                        break;
                    }
                    run_session(server.port(), i, true);
                }
            });
        }
    });
    assert!(server.wait_for_no_sessions(Duration::from_secs(30)));
    let text = read(&forensic);
    let begun = forensic_counts(&text).0;
    let written = text.matches("-----END FAILED LOGIN FORENSICS-----").count();
    let logs = server.logs();
    let notices = logs.matches("error writing to ForensicLogFile").count();
    assert!(notices > 0, "no write error noticed ({kind})");
    assert!(
        logs.contains("No space left on device"),
        "{kind}: {}",
        logs.lines()
            .filter(|l| l.contains("ForensicLogFile"))
            .collect::<Vec<_>>()
            .join("\n")
    );
    // One notice per block that did not fit; a block that cannot fit is not
    // started (only two sessions racing for the last bytes could tear one).
    assert_eq!(
        written + notices,
        sessions,
        "{written} blocks written, {notices} notices, {sessions} failed logins"
    );
    assert!(begun - written <= 1, "{} torn blocks", begun - written);
    let events = wait_events(&redis, "s:", sessions * EVENTS);
    assert_eq!(events, sessions * EVENTS, "the sessions went on");
    server.stop();
    assert_no_crash(&server);
    println!(
        "gauntlet: full file system ({kind}): {sessions} failed logins, {written} blocks \
         written, {notices} write-error notices, {} torn, all {events} events of the sessions \
         in Redis",
        begun - written
    );
}

/// SIGHUP while sessions run, three times, each with a new configuration:
/// running sessions keep theirs, new ones get the new one, nothing crashes,
/// and after the last reload everything follows the last configuration.
#[test]
#[ignore]
fn sighup_reload_during_load() {
    let sessions = 60;
    let redis = RedisServer::start();
    let redis_server = format!("127.0.0.1:{}", redis.port());
    let mut server = start_all(&all_modules_conf(
        &redis_server,
        "@DIR@/forensic.log",
        "r0:",
    ));
    let conf_path = server.config_path().to_path_buf();
    let dir = server.dir().display().to_string();
    let original = std::fs::read_to_string(&conf_path).unwrap();
    let reloads = Mutex::new(0usize);
    let port = server.port();
    let server_cell = Mutex::new(&mut server);
    let runs = run_load(port, sessions, 10, &|done| {
        if done.is_multiple_of(15) && done < sessions {
            let mut n = reloads.lock().unwrap();
            *n += 1;
            let conf = original
                .replace("\"r0:%{note", &format!("\"r{}:%{{note", *n))
                .replace(
                    &format!("{dir}/forensic.log"),
                    &format!("{dir}/forensic{}.log", *n),
                );
            std::fs::write(&conf_path, conf).unwrap();
            server_cell.lock().unwrap().reload();
        }
    });
    let reloads = reloads.into_inner().unwrap();
    assert!(reloads >= 3, "{reloads} reloads");
    // Every session's events, complete, under the prefix of the config it
    // started with.
    let events = sessions * EVENTS;
    let mut lists = HashMap::new();
    assert!(wait_until(Duration::from_secs(30), || {
        lists.clear();
        for n in 0..=reloads {
            lists.extend(session_lists(&redis, &format!("r{n}:")));
        }
        lists.values().map(|(_, r)| r.len()).sum::<usize>() >= events
    }));
    for (i, run) in runs.iter().enumerate() {
        assert_eq!(&lists[&i].1, &run.sent, "session {i}");
    }
    // A new session follows the last configuration.
    run_session(server.port(), 1000, true);
    let last = format!("r{reloads}:");
    assert!(wait_until(Duration::from_secs(10), || session_lists(
        &redis, &last
    )
    .contains_key(&1000)));
    let last_forensic = server.path(&format!("forensic{reloads}.log"));
    assert!(wait_until(Duration::from_secs(10), || forensic_counts(
        &read(&last_forensic)
    )
    .0 >= 1));
    server.stop();
    assert_no_crash(&server);
    println!(
        "gauntlet: SIGHUP: {reloads} reloads during {sessions} sessions x {COMMANDS} commands: \
         all {events} events complete under their configuration's key, no crash"
    );
}

// ---- hostile input ---------------------------------------------------------

/// `line` on the wire: telnet's IAC (0xff) doubled, CRLF appended.
fn wire(line: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(line.len() + 2);
    for &b in line {
        out.push(b);
        if b == 0xff {
            out.push(0xff);
        }
    }
    out
}

/// Names made of every byte 0x01-0xff except those an FTP command line
/// cannot carry in a path (LF, CR) and the separator `/`.
fn hostile_names() -> Vec<Vec<u8>> {
    let bytes: Vec<u8> = (1..=255u8)
        .filter(|b| ![b'\n', b'\r', b'/'].contains(b))
        .collect();
    bytes.chunks(64).map(|c| c.to_vec()).collect()
}

/// Sends `cmd` (raw bytes) on a data command; returns whether it completed.
fn raw_transfer(ftp: &mut Ftp, cmd: &[u8], upload: Option<&[u8]>) -> bool {
    use std::io::{Read, Write};
    let addr = ftp.pasv();
    let mut data = std::net::TcpStream::connect(addr).expect("data connection");
    data.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let start = ftp.cmd_bytes(&wire(cmd));
    if !start.is_preliminary() {
        return false;
    }
    match upload {
        Some(p) => {
            data.write_all(p).unwrap();
        }
        None => {
            let mut sink = Vec::new();
            let _ = data.read_to_end(&mut sink);
        }
    }
    drop(data);
    ftp.read_reply().is_success()
}

/// Commands of 8 KiB, file names with every byte 0x01-0xff (invalid UTF-8
/// and control characters included) and a hostile user name, through a
/// live session with all modules: the session stays alive, and every
/// output stays valid (Redis JSON parses, xferlog lines parse, forensic
/// blocks are whole).
#[test]
#[ignore]
fn hostile_input_through_a_live_session() {
    let redis = RedisServer::start();
    // Room for 8 KiB commands (proftpd's default is 512 bytes; a longer
    // line is dropped without a reply).
    let mut server = start_all(
        &(all_modules_conf(
            &format!("127.0.0.1:{}", redis.port()),
            "@DIR@/forensic.log",
            "s:",
        ) + "CommandBufferSize 16384\n"),
    );
    // A failed login with a hostile user name: one forensic block.
    let mut bad = server.connect();
    let mut user = b"USER ".to_vec();
    user.extend((1..=255u8).filter(|b| ![b'\n', b'\r'].contains(b)));
    let r = bad.cmd_bytes(&wire(&user));
    if r.code == 331 {
        bad.cmd("PASS nope");
    }
    bad.quit();

    let mut ftp = server.login("alice", "secret");
    let mut sent = 0usize;
    let mut transfers = 0usize;
    let alive = |ftp: &mut Ftp, sent: &mut usize| {
        assert_eq!(ftp.cmd("NOOP").code, 200, "session alive");
        *sent += 1;
    };
    ftp.type_i();
    sent += 1;
    // 8 KiB commands, and one longer than the buffer (dropped by proftpd).
    for verb in ["NOOP ", "MKD ", "SITE ", "RETR ", "XYZZY "] {
        let mut line = verb.as_bytes().to_vec();
        line.extend(std::iter::repeat_n(b'x', 8192));
        let _ = ftp.cmd_bytes(&wire(&line));
        sent += 1;
        alive(&mut ftp, &mut sent);
    }
    let mut huge = b"MKD ".to_vec();
    huge.extend(std::iter::repeat_n(b'y', 20000));
    huge.extend(b"\r\n");
    ftp.send_raw(&huge);
    alive(&mut ftp, &mut sent);
    // File names of every byte.
    for (k, name) in hostile_names().into_iter().enumerate() {
        let mut stor = b"STOR ".to_vec();
        stor.extend(&name);
        let stored = raw_transfer(&mut ftp, &stor, Some(format!("hostile {k}").as_bytes()));
        sent += 2;
        if stored {
            transfers += 1;
            let mut retr = b"RETR ".to_vec();
            retr.extend(&name);
            if raw_transfer(&mut ftp, &retr, None) {
                transfers += 1;
            }
            sent += 2;
            let mut dele = b"DELE ".to_vec();
            dele.extend(&name);
            ftp.cmd_bytes(&wire(&dele));
            sent += 1;
        }
        let mut mkd = b"MKD ".to_vec();
        mkd.extend(&name);
        ftp.cmd_bytes(&wire(&mkd));
        sent += 1;
        alive(&mut ftp, &mut sent);
    }
    assert!(transfers > 0, "no hostile name could be stored at all");
    ftp.quit();
    sent += 1;
    assert!(server.wait_for_no_sessions(Duration::from_secs(20)));

    // Redis: every event is valid JSON.
    let mut c = redis.client();
    let mut events = 0;
    let mut replaced = 0;
    assert!(wait_until(Duration::from_secs(10), || {
        c.keys("s:*")
            .iter()
            .map(|k| c.llen(k) as usize)
            .sum::<usize>()
            >= sent
    }));
    for key in c.keys("s:*") {
        for item in c.lrange(&key) {
            let v: Value = serde_json::from_str(&item)
                .unwrap_or_else(|e| panic!("invalid JSON: {e}: {item:?}"));
            assert!(v.is_object());
            events += 1;
            replaced += item.matches('\u{fffd}').count();
        }
    }
    // xferlog: one parseable line per transfer, one word per field.
    let xfer = read(&server.path("xferlog.ext"));
    let lines: Vec<&str> = xfer.lines().collect();
    assert_eq!(lines.len(), transfers, "{xfer}");
    for (n, l) in lines.iter().enumerate() {
        proftpd_rs::xferlog::format::parse_line(l, n + 1)
            .unwrap_or_else(|e| panic!("xferlog line {l:?}: {e:?}"));
    }
    // Forensics: the failed login's block, whole.
    let forensic = read(&server.path("forensic.log"));
    assert_eq!(forensic_counts(&forensic).0, 1, "{forensic}");
    assert_eq!(
        forensic
            .matches("-----END FAILED LOGIN FORENSICS-----")
            .count(),
        1
    );
    server.stop();
    assert_no_crash(&server);
    println!(
        "gauntlet: hostile input: 5 commands of 8 KiB, one of 20 KB, {} names covering bytes 0x01-0xff, a \
         hostile user name: {events} Redis events all valid JSON ({replaced} U+FFFD for invalid \
         bytes), {transfers} xferlog lines all parseable, session alive",
        hostile_names().len()
    );
}

// ---- security --------------------------------------------------------------

/// Every file under `dir` (recursively) that contains `needle`.
fn files_containing(dir: &Path, needle: &[u8]) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(rd) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if let Ok(bytes) = std::fs::read(&p)
                && bytes.windows(needle.len()).any(|w| w == needle)
            {
                out.push(p);
            }
        }
    }
    out
}

/// No password in any output of any module, with every module on and
/// everything traced: failed and successful logins of a real user,
/// an anonymous login with `AnonRequirePassword on`.
#[test]
#[ignore]
fn no_password_in_any_output() {
    const GOOD: &str = "Pw-7c1f-right";
    const WRONG: &str = "Pw-3a9d-wrong";
    const ANON: &str = "Pw-51e2-anon";
    let redis = RedisServer::start();
    let anon_home = tempfile::tempdir().unwrap();
    std::fs::write(anon_home.path().join("pub.txt"), b"public").unwrap();
    let conf = all_modules_conf(
        &format!("127.0.0.1:{}", redis.port()),
        "@DIR@/forensic.log",
        "s:",
    )
    .replace("Trace DEFAULT:0", "Trace DEFAULT:20")
        + &format!(
            r#"XferLog @DIR@/xferlog.orig
XferLog syslog wu-ext
<Anonymous {}>
  User dave
  Group dave
  UserAlias anonymous dave
  AnonRequirePassword on
  XferLog @DIR@/anon.log anon
</Anonymous>
"#,
            anon_home.path().display()
        );
    let mut server = Proftpd::builder(Modules::Ours)
        .load_modules(&OUR_MODULE_FILES)
        .user("carol", GOOD)
        .user("dave", ANON)
        .debug_level(10)
        .config(&conf)
        .start();
    for _ in 0..2 {
        let mut f = server.connect();
        f.expect("USER carol", 331);
        assert_eq!(f.cmd(&format!("PASS {WRONG}")).code, 530);
        f.quit();
    }
    let mut f = server.login("carol", GOOD);
    f.stor("up.txt", b"data");
    f.retr("up.txt");
    f.quit();
    let mut f = server.connect();
    f.expect("USER anonymous", 331);
    let r = f.cmd(&format!("PASS {ANON}"));
    if r.code == 230 {
        f.retr("pub.txt");
    }
    f.quit();
    assert!(server.wait_for_no_sessions(Duration::from_secs(20)));
    server.stop();
    let mut c = redis.client();
    let mut dump = Vec::new();
    for key in c.keys("*") {
        dump.push(key.clone());
        dump.extend(c.lrange(&key));
    }
    let dump = dump.join("\n");
    let outputs = [
        "forensic.log",
        "redis.log",
        "xferlog.ext",
        "xferlog.orig",
        "anon.log",
    ];
    for o in outputs {
        assert!(
            server.path(o).exists() || o == "anon.log",
            "{o} was not written"
        );
    }
    for pw in [GOOD, WRONG, ANON] {
        let hits: Vec<PathBuf> = files_containing(server.dir(), pw.as_bytes())
            .into_iter()
            .filter(|p| {
                // proftpd's own files: the config and the password file hold
                // no clear text either, but the trace/system logs are
                // proftpd's, checked separately below.
                p.file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| outputs.contains(&n))
            })
            .collect();
        assert!(hits.is_empty(), "{pw} in {hits:?}");
        assert!(!dump.contains(pw), "{pw} in Redis");
        assert!(!server.logs().contains(pw), "{pw} in proftpd's logs");
    }
    println!(
        "gauntlet: security: 3 passwords (wrong, right, anonymous) absent from ForensicLogFile, \
         RedisLog, Redis ({} keys), XferLog files and proftpd's own logs with Trace DEFAULT:20, \
         DebugLevel 10",
        c.keys("*").len()
    );
}

/// `conf` with the path of `directive`'s line(s) replaced by `path`.
fn with_path(conf: &str, directive: &str, path: &Path) -> String {
    let mut out = String::new();
    let mut found = false;
    for line in conf.lines() {
        let mut words: Vec<String> = line.split(' ').map(str::to_string).collect();
        if words[0] == directive && words.len() > 1 {
            words[1] = path.display().to_string();
            found = true;
        }
        out.push_str(&words.join(" "));
        out.push('\n');
    }
    assert!(found, "no {directive} line");
    out
}

/// A failed login (a forensic block), then a session with an upload (an
/// xferlog line; Redis events, RedisLog).
fn fail_then_store(server: &Proftpd) {
    let mut f = server.connect();
    f.expect("USER alice", 331);
    f.cmd("PASS wrong");
    f.quit();
    let mut f = server.login("alice", "secret");
    f.stor("x", b"x");
    f.quit();
}

/// Log files of every module refuse a symlink and a world-writable
/// directory (with a notice naming the file), and are created with their
/// documented modes, owned by root.
#[test]
#[ignore]
fn log_files_refuse_symlinks_and_world_writable_dirs() {
    let redis = RedisServer::start();
    let ww = tempfile::tempdir().unwrap();
    std::fs::set_permissions(
        ww.path(),
        std::os::unix::fs::PermissionsExt::from_mode(0o777),
    )
    .unwrap();
    let safe = tempfile::tempdir().unwrap();
    let target = safe.path().join("target");
    std::fs::write(&target, b"").unwrap();
    // (directive, documented mode)
    let cases = [
        ("ForensicLogFile", 0o640),
        ("RedisLog", 0o640),
        ("XferLog", 0o644),
    ];
    let mut refused = 0;
    for (directive, mode) in cases {
        for bad in ["symlink", "world-writable"] {
            let path = match bad {
                "symlink" => {
                    let link = safe.path().join(format!("{directive}.link"));
                    let _ = std::fs::remove_file(&link);
                    std::os::unix::fs::symlink(&target, &link).unwrap();
                    link
                }
                _ => ww.path().join(format!("{directive}.log")),
            };
            let conf = with_path(
                &all_modules_conf(
                    &format!("127.0.0.1:{}", redis.port()),
                    "@DIR@/forensic.log",
                    "s:",
                ),
                directive,
                &path,
            );
            let mut server = start_all(&conf);
            fail_then_store(&server);
            assert!(server.wait_for_no_sessions(Duration::from_secs(20)));
            server.stop();
            assert_eq!(
                std::fs::read(&target).unwrap(),
                b"",
                "{directive} wrote through a {bad}"
            );
            if bad == "world-writable" {
                assert!(!path.exists(), "{directive} created {}", path.display());
            }
            let shown = path.display().to_string();
            assert!(
                server
                    .logs()
                    .lines()
                    .any(|l| l.contains(&shown) || l.contains(directive)),
                "no notice about {directive} {bad}:\n{}",
                server.logs()
            );
            refused += 1;
        }
        // The file in a safe place: its mode and owner.
        let server = start_all(&all_modules_conf(
            &format!("127.0.0.1:{}", redis.port()),
            "@DIR@/forensic.log",
            "s:",
        ));
        fail_then_store(&server);
        let file = match directive {
            "ForensicLogFile" => "forensic.log",
            "RedisLog" => "redis.log",
            _ => "xferlog.ext",
        };
        let p = server.path(file);
        assert!(wait_until(Duration::from_secs(10), || p.exists()), "{file}");
        use std::os::unix::fs::MetadataExt;
        let md = std::fs::metadata(&p).unwrap();
        assert_eq!(
            (md.mode() & 0o777, md.uid()),
            (mode, 0),
            "{directive}: mode {:o}",
            md.mode() & 0o777
        );
    }
    println!(
        "gauntlet: log files: {refused} unsafe locations refused (symlink, world-writable dir) \
         for ForensicLogFile, RedisLog, XferLog; modes 0640/0640/0644, owner root"
    );
}

// ---- memory safety -----------------------------------------------------------

/// One valgrind report's findings.
#[derive(Default, Debug)]
struct Memcheck {
    processes: usize,
    errors: usize,
    /// Error records (invalid reads/writes, uninitialised values, bad
    /// frees, definite leaks) with a frame in our library.
    ours: Vec<String>,
}

/// Reads every `vg.<pid>.log` in `dir`.
fn memcheck_reports(dir: &Path) -> Memcheck {
    let mut m = Memcheck::default();
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let text = read(&e.path());
        if !text.contains("Memcheck") {
            continue;
        }
        m.processes += 1;
        // Records are separated by lines that are just "==pid== ".
        let mut record = String::new();
        for line in text.lines() {
            let body = line.split_once("== ").map(|(_, b)| b).unwrap_or("");
            if body.trim().is_empty() {
                let is_error = record.contains("Invalid ")
                    || record.contains("uninitialised")
                    || record.contains("Mismatched free")
                    || record.contains("definitely lost in loss record")
                    || record.contains("overlap");
                if is_error {
                    m.errors += 1;
                    if record.contains("proftpd_rs") {
                        m.ours.push(record.clone());
                    }
                }
                record.clear();
            } else {
                record.push_str(body);
                record.push('\n');
            }
        }
    }
    m
}

/// proftpd's master and every session process under valgrind's memcheck,
/// with all modules on: transfers, failed logins (forensic blocks), a Redis
/// outage, hostile names, a SIGHUP reload, a session killed by a signal.
/// No memory error or definite leak has a frame in our library.
#[test]
#[ignore]
fn memcheck_all_modules() {
    let vg = tempfile::tempdir().unwrap();
    std::fs::set_permissions(
        vg.path(),
        std::os::unix::fs::PermissionsExt::from_mode(0o1777),
    )
    .unwrap();
    let wrapper = vg.path().join("proftpd-under-valgrind");
    std::fs::write(
        &wrapper,
        format!(
            "#!/bin/sh\nexec valgrind --tool=memcheck --vgdb=no --num-callers=40 \
             --leak-check=full --show-leak-kinds=definite --errors-for-leak-kinds=definite \
             --log-file={}/vg.%p.log '{}' \"$@\"\n",
            vg.path().display(),
            harness::proftpd_bin().display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(
        &wrapper,
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
    let mut redis = RedisServer::start();
    let mut server = Proftpd::builder(Modules::Ours)
        .load_modules(&OUR_MODULE_FILES)
        .program(&wrapper)
        .config(&all_modules_conf(
            &format!("127.0.0.1:{}", redis.port()),
            "@DIR@/forensic.log",
            "s:",
        ))
        .start();
    let port = server.port();
    std::thread::scope(|s| {
        for i in 0..4 {
            s.spawn(move || run_session(port, i, i.is_multiple_of(2)));
        }
    });
    // A Redis outage mid-session, and a session ending during it.
    let mut f = server.login("alice", "secret");
    f.expect("MKD outage", 257);
    redis.crash();
    f.expect("RMD outage", 250);
    f.quit();
    redis.restart();
    // Hostile names.
    let mut f = server.login("alice", "secret");
    for name in hostile_names() {
        let mut mkd = b"MKD ".to_vec();
        mkd.extend(&name);
        f.cmd_bytes(&wire(&mkd));
    }
    f.quit();
    // A reload, then a session killed by a signal (UntimelyDeath block).
    server.reload();
    let mut f = server.login("alice", "secret");
    f.expect("PWD", 257);
    let pids = server.session_pids();
    for p in &pids {
        harness::util::send_signal(*p, libc::SIGTERM);
    }
    let _ = f.wait_closed();
    run_session(port, 10, true);
    assert!(server.wait_for_no_sessions(Duration::from_secs(60)));
    server.stop();
    let m = memcheck_reports(vg.path());
    assert!(m.processes >= 8, "only {} valgrind reports", m.processes);
    assert!(
        m.ours.is_empty(),
        "{} memcheck error(s) in our code:\n{}",
        m.ours.len(),
        m.ours.join("\n")
    );
    println!(
        "gauntlet: memcheck: {} proftpd processes under valgrind, {} error records in all \
         (proftpd's own), 0 in our library",
        m.processes, m.errors
    );
}

// ---- RedisLogSpool -----------------------------------------------------------

/// A spool directory as RedisLogSpool wants it: root's, mode 0700.
fn spool_dir(parent: &Path) -> PathBuf {
    let d = parent.join("spool");
    std::fs::create_dir_all(&d).unwrap();
    std::fs::set_permissions(&d, std::os::unix::fs::PermissionsExt::from_mode(0o700)).unwrap();
    d
}

/// The gauntlet's configuration with `RedisLogSpool spool`, room for 100
/// sessions at once, and an io timeout (10 s) no reply of a healthy Redis
/// reaches on a loaded machine: a connection is only ever lost because
/// Redis went away, so every duplicate has a Redis restart to explain it.
fn spool_conf(redis: &RedisServer, spool: &Path) -> String {
    all_modules_conf(
        &format!("127.0.0.1:{}", redis.port()),
        "@DIR@/forensic.log",
        "s:",
    )
    .replace("RedisTimeouts 300 300", "RedisTimeouts 1000 10000")
        + &format!("RedisLogSpool {}\nMaxInstances 100\n", spool.display())
}

/// Session `i` of the spool tests: login, `MKD d<i>_<j>` for `j` in
/// `0..47`, `QUIT` ([`COMMANDS`] commands; with the session's start and end
/// events, every event in the session's list is distinct).
fn mkd_session(port: u16, i: usize) -> SessionRun {
    let t = Instant::now();
    let mut s = Script::connect(port);
    s.cmd("USER alice", 331);
    s.cmd("PASS secret", 230);
    for j in 0..COMMANDS - 3 {
        s.cmd(&format!("MKD d{i}_{j}"), 257);
    }
    let (mut sent, banner, slowest) = s.quit();
    sent.insert(0, "CONNECT".into());
    sent.push("DISCONNECT".into());
    SessionRun {
        sent,
        transfers: 0,
        elapsed: t.elapsed(),
        banner,
        slowest,
    }
}

/// Events produced, delivered (in Redis), duplicated (extra copies) and
/// lost (not in Redis), and events in Redis nobody produced.
#[derive(Default, Debug)]
struct Tally {
    produced: usize,
    delivered: usize,
    duplicated: usize,
    lost: usize,
    unknown: usize,
}

impl Tally {
    /// Adds what `sent` produced and `got` holds (a list of distinct
    /// events, in Redis perhaps more than once).
    fn add(&mut self, sent: &[String], got: &[String]) {
        let mut seen: HashMap<&str, usize> = HashMap::new();
        for g in got {
            *seen.entry(g.as_str()).or_default() += 1;
        }
        self.produced += sent.len();
        self.delivered += got.len();
        for s in sent {
            match seen.remove(s.as_str()) {
                Some(n) => self.duplicated += n - 1,
                None => self.lost += 1,
            }
        }
        self.unknown += seen.values().sum::<usize>();
    }

    fn line(&self) -> String {
        format!(
            "{} events produced, {} delivered, {} duplicated, {} lost",
            self.produced, self.delivered, self.duplicated, self.lost
        )
    }
}

/// Tallies the scripted sessions' lists: `runs` are (session index, what
/// it sent); events of other sessions in Redis are `unknown`.
fn tally_sessions(redis: &RedisServer, runs: &[(usize, &SessionRun)]) -> Tally {
    let lists = session_lists(redis, "s:");
    let mut t = Tally::default();
    let mut known = 0;
    for (i, run) in runs {
        let got = lists.get(i).map(|(_, r)| r.as_slice()).unwrap_or_default();
        known += got.len();
        t.add(&run.sent, got);
    }
    t.unknown += lists.values().map(|(_, r)| r.len()).sum::<usize>() - known;
    t
}

/// The spool files that still hold events: more than the 32-byte header
/// (one with its header only, or emptied by its drainer, is done).
fn waiting_spool_files(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .filter(|e| e.metadata().map(|m| m.len() > 32).unwrap_or(false))
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

/// The sum of the `N spooled event(s) delivered to Redis` lines in RedisLog.
fn drained_in_redis_log(log: &str) -> u64 {
    log.lines()
        .filter_map(|l| {
            let (head, _) = l.split_once(" spooled event(s) delivered to Redis")?;
            head.rsplit(' ').next()?.parse::<u64>().ok()
        })
        .sum()
}

/// Redis is stopped while 200 sessions x 50 commands run and end, 20 at a
/// time; each session's events go to its own spool file. Redis is started
/// again and one more session (the same script) delivers every event of
/// every session behind its own, and the files are done.
#[test]
#[ignore]
fn spool_redis_stopped_while_sessions_run_then_one_session_delivers_all() {
    let sessions = env_usize("GAUNTLET_SESSIONS", 200);
    let concurrency = env_usize("GAUNTLET_CONCURRENCY", 20);
    let mut redis = RedisServer::start();
    let base = tempfile::tempdir().unwrap();
    let spool = spool_dir(base.path());
    let mut server = start_all(&spool_conf(&redis, &spool));
    let port = server.port();
    redis.stop();
    let t = Instant::now();
    let runs = run_many(sessions, concurrency, &|i| mkd_session(port, i), &|_| {});
    let load_time = t.elapsed();
    assert!(server.wait_for_no_sessions(Duration::from_secs(30)));
    let files = waiting_spool_files(&spool);
    assert_eq!(files.len(), sessions, "one file per session: {files:?}");
    redis.restart();
    let t = Instant::now();
    let last = mkd_session(port, sessions);
    assert!(server.wait_for_no_sessions(Duration::from_secs(30)));
    let drain_time = t.elapsed();
    let want = (sessions + 1) * EVENTS;
    let have = wait_events(&redis, "s:", want);
    let mut all: Vec<(usize, &SessionRun)> = runs.iter().enumerate().collect();
    all.push((sessions, &last));
    let tally = tally_sessions(&redis, &all);
    let log = read(&server.path("redis.log"));
    assert_eq!(
        (tally.lost, tally.unknown),
        (0, 0),
        "{}; RedisLog:\n{log}",
        tally.line()
    );
    // Nothing was ever in flight when Redis went away (it was stopped
    // before the sessions started): no event may be there twice.
    assert_eq!(tally.duplicated, 0, "{}", tally.line());
    assert_eq!(have, want);
    assert!(
        waiting_spool_files(&spool).is_empty(),
        "{:?}",
        waiting_spool_files(&spool)
    );
    let spooled = (sessions * EVENTS) as u64;
    assert!(
        log.contains(&format!(
            "{spooled} spooled event(s) delivered to Redis ({sessions} spool file(s) done)"
        )),
        "{log}"
    );
    assert!(!log.contains("could not be delivered"), "{log}");
    server.stop();
    assert_no_crash(&server);
    println!(
        "gauntlet: spool, Redis stopped: {sessions} sessions ({concurrency} at a time) x \
         {COMMANDS} commands ran and ended in {:.1} s with Redis down ({} spool files); one \
         more session with Redis back delivered them behind its own in {:.1} s: {}, 0 unknown",
        load_time.as_secs_f64(),
        files.len(),
        drain_time.as_secs_f64(),
        tally.line()
    );
}

/// The destination (the first 16 hex digits of a spool file's name) of
/// the sessions that ran: each makes its own file when it starts (emptied
/// at its end if it spooled nothing, and removed when the next starts).
/// A spool test's server: a spool directory in `base`, the gauntlet's
/// configuration with it, and a first session (`first`, whose result is
/// returned) made and ended, so that the destination its spool files are
/// named after is known.
fn spool_server<T>(
    redis: &RedisServer,
    base: &Path,
    first: impl FnOnce(&Proftpd) -> T,
) -> (PathBuf, Proftpd, String, T) {
    let spool = spool_dir(base);
    let mut server = start_all(&spool_conf(redis, &spool));
    let made = first(&server);
    assert!(server.wait_for_no_sessions(Duration::from_secs(10)));
    let destination = spool_destination(&spool);
    (spool, server, destination, made)
}

fn spool_destination(spool: &Path) -> String {
    let name = std::fs::read_dir(spool)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .find(|n| n.ends_with(".spool"))
        .expect("a session's spool file");
    name[..16].to_string()
}

/// A realistic event (about 330 bytes, as a transfer's LogFormat makes it),
/// told apart by its `raw_command`, `RETR f<f>_<n>`.
fn big_event(f: usize, n: usize) -> String {
    format!(
        r#"{{"UNIQUE_ID":"Z3Xq8QAAAAEAAAb{f:02}{n:07}","remote_ip":"192.0.2.{}","local_ip":"198.51.100.7","user":"alice","raw_command":"RETR f{f}_{n}","response_code":"226","file":"/srv/ftp/alice/data/f{f}_{n}.bin","bytes_sent":{},"transfer_secs":0.{:03},"timestamp":"2026-12-07 17:00:{:02},{:03}"}}"#,
        n % 250 + 1,
        4096 + n % 65536,
        n % 1000,
        n % 60,
        n % 1000
    )
}

/// A spool file the test wrote.
struct BigSpool {
    path: PathBuf,
    /// Bytes of the torn record at its end.
    torn: u64,
    /// Where each record ends.
    ends: Vec<u64>,
}

impl BigSpool {
    /// How many records its header says Redis acknowledged (all of them
    /// when it was emptied or removed: drained).
    fn acked(&self) -> usize {
        use proftpd_rs::redis::spool::format::Header;
        use std::io::Read;
        let mut head = [0u8; 32];
        let read = std::fs::File::open(&self.path).and_then(|mut f| f.read_exact(&mut head));
        match read.ok().and_then(|()| Header::decode(&head)) {
            Some(h) => self.ends.partition_point(|e| *e <= h.acked),
            None => self.ends.len(),
        }
    }
}

/// Writes a spool file for `destination` with `events` records of
/// [`big_event`] under key `big:<f>` (the way a session that spooled them
/// would have: header, then framed records), and a torn record after them
/// when `torn` (a writer killed in the middle of its write).
fn write_big_spool(
    spool: &Path,
    destination: &str,
    f: usize,
    events: usize,
    torn: bool,
) -> BigSpool {
    use proftpd_rs::redis::spool::format::{Header, encode_record};
    let dest = u64::from_str_radix(destination, 16).unwrap();
    let name = format!(
        "{destination}-{}-{}-{f:08x}.spool",
        1_700_000_000 + f,
        900_000 + f
    );
    let mut buf = Header::new(dest, 1_700_000_000).encode().to_vec();
    let key = format!("big:{f}");
    let mut ends = Vec::with_capacity(events);
    for n in 0..events {
        encode_record(&mut buf, key.as_bytes(), big_event(f, n).as_bytes());
        ends.push(buf.len() as u64);
    }
    let mut cut = 0;
    if torn {
        let mut last = Vec::new();
        encode_record(&mut last, key.as_bytes(), big_event(f, events).as_bytes());
        cut = (last.len() / 2) as u64;
        buf.extend_from_slice(&last[..last.len() / 2]);
    }
    let path = spool.join(name);
    std::fs::write(&path, &buf).unwrap();
    std::fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();
    BigSpool {
        path,
        torn: cut,
        ends,
    }
}

/// Whether process `pid` is stopped (state `T` in /proc/PID/stat).
fn stopped(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| s.rsplit_once(") ").map(|(_, r)| r.starts_with('T')))
        .unwrap_or(false)
}

/// What the big files' keys hold, by `raw_command`.
fn big_lists(redis: &RedisServer, files: usize) -> Vec<Vec<String>> {
    let mut c = redis.client();
    (0..files)
        .map(|f| {
            c.lrange(&format!("big:{f}"))
                .iter()
                .map(|item| {
                    let v: Value = serde_json::from_str(item).unwrap();
                    v["raw_command"].as_str().unwrap_or_default().to_string()
                })
                .collect()
        })
        .collect()
}

fn big_sent(f: usize, events: usize) -> Vec<String> {
    (0..events).map(|n| format!("RETR f{f}_{n}")).collect()
}

/// Sessions (`session(n)`, `n` from 0) one after another until no spool
/// file holds events; returns how many it took (at most `max`).
fn drain_with_sessions(
    server: &mut Proftpd,
    spool: &Path,
    max: usize,
    mut session: impl FnMut(usize),
) -> usize {
    for n in 1..=max {
        session(n - 1);
        assert!(server.wait_for_no_sessions(Duration::from_secs(30)));
        if waiting_spool_files(spool).is_empty() {
            return n;
        }
    }
    panic!(
        "{max} sessions did not drain the spool: {:?}",
        waiting_spool_files(spool)
    );
}

/// A session draining a large spool (2 x 40 000 events, the second file
/// ending in a torn record) is SIGKILLed in the middle of its drain (its
/// QUIT answered: the drain at its end), with a batch in flight (stopped
/// with SIGSTOP until Redis is seen holding more than the files' headers
/// say it acknowledged): the next sessions drain the rest. Every whole
/// record arrives, the torn one is reported in RedisLog and never sent,
/// and the duplicates are exactly the events in flight when the drainer
/// died (at most a batch, 512): its file's header said how far Redis had
/// acknowledged.
#[test]
#[ignore]
fn spool_drainer_sigkilled_mid_drain() {
    const FILES: usize = 2;
    const EVENTS_PER_FILE: usize = 40_000;
    let redis = RedisServer::start();
    let base = tempfile::tempdir().unwrap();
    let (spool, mut server, destination, _) = spool_server(&redis, base.path(), |server| {
        server.login("alice", "secret").quit()
    });
    let files: Vec<BigSpool> = (0..FILES)
        .map(|f| write_big_spool(&spool, &destination, f, EVENTS_PER_FILE, f == FILES - 1))
        .collect();
    let torn: u64 = files.iter().map(|b| b.torn).sum();
    let total = FILES * EVENTS_PER_FILE;
    // The drainer: its login sends a batch per command, its end drains
    // for up to 3 s; killed once a good part is in Redis.
    let mut ftp = server.login("alice", "secret");
    let pids = server.session_pids();
    assert_eq!(pids.len(), 1);
    ftp.expect("NOOP", 200);
    ftp.quit();
    let mut c = redis.client();
    let delivered = |c: &mut harness::RedisClient| -> usize {
        (0..FILES)
            .map(|f| c.llen(&format!("big:{f}")) as usize)
            .sum()
    };
    // Once 10 000 are in Redis, the drainer is stopped (SIGSTOP) and looked
    // at: when Redis holds more than the files' headers say it
    // acknowledged, a batch is in flight, and the drainer is SIGKILLed
    // there; else it goes on (SIGCONT) a moment longer and is looked at
    // again.
    let acked_now = || -> usize { files.iter().map(BigSpool::acked).sum() };
    let pid = pids[0];
    assert!(
        wait_until(Duration::from_secs(30), || delivered(&mut c) >= 10_000),
        "the drain did not start"
    );
    let (mut at_kill, mut acked, mut looks) = (0, 0, 0);
    while looks < 200 {
        looks += 1;
        harness::util::send_signal(pid, libc::SIGSTOP);
        assert!(
            wait_until(Duration::from_secs(5), || stopped(pid)),
            "the drainer ended before a batch was seen in flight ({looks} looks)"
        );
        // What the drainer sent before it stopped reaches Redis.
        std::thread::sleep(Duration::from_millis(5));
        at_kill = delivered(&mut c);
        acked = acked_now();
        if at_kill > acked {
            break;
        }
        harness::util::send_signal(pid, libc::SIGCONT);
        std::thread::sleep(Duration::from_micros(300 * (looks % 7 + 1)));
    }
    harness::util::send_signal(pid, libc::SIGKILL);
    assert!(server.wait_for_no_sessions(Duration::from_secs(10)));
    assert_eq!(delivered(&mut c), at_kill);
    assert!(
        at_kill < total,
        "the kill did not land mid-drain: {at_kill} of {total} in Redis"
    );
    // What Redis has beyond the headers' offsets was in flight; it is
    // sent again by the next drainer.
    let in_flight = at_kill - acked;
    assert!(
        in_flight > 0 && in_flight <= 512,
        "{in_flight} events in flight after {looks} looks ({at_kill} in Redis, {acked} acknowledged)"
    );
    let port = server.port();
    let sessions = drain_with_sessions(&mut server, &spool, 20, |_| {
        let mut ftp = Ftp::connect(port);
        ftp.login("alice", "secret");
        ftp.quit();
    });
    let lists = big_lists(&redis, FILES);
    let mut tally = Tally::default();
    for (f, got) in lists.iter().enumerate() {
        tally.add(&big_sent(f, EVENTS_PER_FILE), got);
    }
    assert_eq!((tally.lost, tally.unknown), (0, 0), "{}", tally.line());
    assert_eq!(tally.duplicated, in_flight, "{}", tally.line());
    let log = read(&server.path("redis.log"));
    assert!(
        log.contains(&format!("0 damaged and {torn} torn byte(s) skipped")),
        "torn record of {torn} bytes not reported:\n{log}"
    );
    server.stop();
    assert_no_crash(&server);
    println!(
        "gauntlet: spool, drainer SIGKILLed: {total} spooled events in {FILES} files (and a torn \
         record of {torn} bytes); the drainer SIGKILLed with {at_kill} in Redis, its files' \
         headers saying {acked} acknowledged ({in_flight} in flight; {looks} SIGSTOP look(s)); \
         {sessions} more session(s) drained the rest: {}; the torn record reported, not sent",
        tally.line()
    );
}

/// The RPUSHes in a Redis's append-only files, in order: (run, key, value)
/// for each value pushed, `run` counting the Redis processes that wrote
/// them. Redis writes a SELECT before the first write of each process (and
/// after an AOF rewrite, which the test turns off), so a SELECT starts a
/// run. A torn command at the end (a kill in the middle of a write, cut
/// when Redis loads the file) ends the parse.
fn aof_pushes(redis_dir: &Path) -> Vec<(usize, String, String)> {
    let dir = redis_dir.join("appendonlydir");
    let manifest = read(&dir.join("appendonly.aof.manifest"));
    let mut out = Vec::new();
    let mut run = 0;
    for line in manifest.lines() {
        let w: Vec<&str> = line.split(' ').collect();
        if w.len() < 6 || w[0] != "file" || w[5] != "i" {
            continue;
        }
        let bytes = std::fs::read(dir.join(w[1])).unwrap();
        let mut at = 0;
        let line_at = |at: &mut usize| -> Option<String> {
            let end = bytes[*at..].windows(2).position(|x| x == b"\r\n")? + *at;
            let l = String::from_utf8_lossy(&bytes[*at..end]).into_owned();
            *at = end + 2;
            Some(l)
        };
        'commands: while at < bytes.len() {
            let Some(n) = line_at(&mut at).and_then(|l| l.strip_prefix('*')?.parse().ok()) else {
                break;
            };
            let mut args: Vec<String> = Vec::with_capacity(n);
            for _ in 0..n {
                let Some(len) =
                    line_at(&mut at).and_then(|l| l.strip_prefix('$')?.parse::<usize>().ok())
                else {
                    break 'commands;
                };
                if at + len + 2 > bytes.len() {
                    break 'commands;
                }
                args.push(String::from_utf8_lossy(&bytes[at..at + len]).into_owned());
                at += len + 2;
            }
            match args[0].to_ascii_uppercase().as_str() {
                "SELECT" => run += 1,
                "RPUSH" => {
                    for v in &args[2..] {
                        out.push((run, args[1].clone(), v.clone()));
                    }
                }
                _ => {}
            }
        }
    }
    out
}

/// How the copies of events in Redis came about.
#[derive(Default, Debug)]
struct Resends {
    /// Runs of consecutive copies in a key (one per resent batch).
    runs: usize,
    copies: usize,
    longest: usize,
}

/// Checks that every extra copy in `pushes` is explained by at-least-once
/// delivery: a batch sent again after the connection it was in flight on
/// was lost. Such copies (per key, one sender at a time: a session's own
/// events, or the one drainer holding a spool file's lock) come after a
/// Redis restart (a later run than the copy before), in runs that repeat
/// a contiguous stretch of what that key had received, in order, and no
/// longer than a batch (512). Two sessions sending one file, or a file
/// sent again in full, break these.
fn check_resends(pushes: &[(usize, String, String)]) -> Result<Resends, String> {
    struct Key<'a> {
        /// Distinct values, in the order they first came.
        order: Vec<&'a str>,
        /// Value -> (index in order, run of its last copy).
        at: HashMap<&'a str, (usize, usize)>,
        /// The run of copies going on: the index it expects next, its length.
        copying: Option<(usize, usize)>,
    }
    let mut keys: HashMap<&str, Key> = HashMap::new();
    let mut r = Resends::default();
    for (run, key, value) in pushes {
        let k = keys.entry(key.as_str()).or_insert_with(|| Key {
            order: Vec::new(),
            at: HashMap::new(),
            copying: None,
        });
        match k.at.get(value.as_str()).copied() {
            None => {
                k.at.insert(value, (k.order.len(), *run));
                k.order.push(value);
                k.copying = None;
            }
            Some((i, last_run)) => {
                if last_run >= *run {
                    return Err(format!(
                        "{key}: {value} twice from one Redis process (run {run}): not a resend"
                    ));
                }
                let len = match k.copying {
                    Some((next, len)) if next == i => len + 1,
                    _ => {
                        r.runs += 1;
                        1
                    }
                };
                if len > 512 {
                    return Err(format!(
                        "{key}: more than a batch (512) sent again in a row"
                    ));
                }
                k.copying = Some((i + 1, len));
                k.at.insert(value, (i, *run));
                r.copies += 1;
                r.longest = r.longest.max(len);
            }
        }
    }
    Ok(r)
}

/// Redis is killed (SIGKILL) and restarted, five times, while 200 sessions
/// x 50 commands run (20 at a time; more if the kills are not done by
/// then) and four big spool files (4 x 15 000 events, left by an earlier
/// outage) are drained: sessions spool while it is down, sessions that end
/// then leave their files, later sessions drain them behind their own
/// events, several at once (one per file: the lock). Redis keeps what it
/// acknowledged (`appendonly yes`, `appendfsync always`: a write is on
/// disk before its reply), so after the last restart every event must be
/// there. Redis is killed each time 12 000 more RPUSHes have reached it
/// (`INFO commandstats`), or 3 s after it came back if the load is slower,
/// so kills land in the middle of drains; it stays down 1.5 s.
///
/// Duplicates are checked against Redis's append-only file, which holds
/// every RPUSH it ran, in order, with a SELECT at the start of each Redis
/// process ([`check_resends`]): each extra copy follows a restart, repeats
/// a contiguous stretch of its key, and a stretch is at most a batch.
#[test]
#[ignore]
fn spool_redis_killed_repeatedly_while_sessions_spool_and_drain() {
    const FILES: usize = 4;
    const EVENTS_PER_FILE: usize = 15_000;
    const KILLS: usize = 5;
    const EVERY: u64 = 12_000;
    /// The index of the session before the load (the finals' follow).
    const FIRST: usize = 1_000_000;
    let sessions = env_usize("GAUNTLET_SESSIONS", 200);
    let mut redis = RedisServer::builder()
        .config("appendonly yes")
        .config("appendfsync always")
        .config("auto-aof-rewrite-percentage 0")
        .start();
    let base = tempfile::tempdir().unwrap();
    let (spool, mut server, destination, first) = spool_server(&redis, base.path(), |server| {
        mkd_session(server.port(), FIRST)
    });
    let port = server.port();
    for f in 0..FILES {
        write_big_spool(&spool, &destination, f, EVENTS_PER_FILE, false);
    }
    let rpushes = |c: &mut harness::RedisClient| -> u64 {
        let info = c
            .cmd(&["INFO", "commandstats"])
            .as_string()
            .unwrap_or_default();
        info.lines()
            .find_map(|l| {
                l.strip_prefix("cmdstat_rpush:calls=")?
                    .split(',')
                    .next()?
                    .parse()
                    .ok()
            })
            .unwrap_or(0)
    };
    let kills_done = std::sync::atomic::AtomicBool::new(false);
    let t = Instant::now();
    let (runs, kills) = std::thread::scope(|scope| {
        let watcher = scope.spawn(|| {
            let mut kills = Vec::new();
            while kills.len() < KILLS {
                let mut c = redis.client();
                wait_until(Duration::from_secs(3), || rpushes(&mut c) >= EVERY);
                redis.crash();
                kills.push(t.elapsed());
                std::thread::sleep(Duration::from_millis(1500));
                redis.restart();
            }
            kills_done.store(true, Ordering::SeqCst);
            kills
        });
        // The load: `sessions`, and more until the kills are done.
        let mut runs = run_many(sessions, 20, &|i| mkd_session(port, i), &|_| {});
        while !kills_done.load(Ordering::SeqCst) {
            let from = runs.len();
            runs.extend(run_many(20, 20, &|i| mkd_session(port, from + i), &|_| {}));
        }
        (runs, watcher.join().unwrap())
    });
    let load_time = t.elapsed();
    assert!(server.wait_for_no_sessions(Duration::from_secs(30)));
    assert_eq!(kills.len(), KILLS);
    // Whatever is left in the spool: sessions with Redis up.
    let mut finals = Vec::new();
    drain_with_sessions(&mut server, &spool, 20, |n| {
        finals.push(mkd_session(port, FIRST + 1 + n));
    });
    let mut all: Vec<(usize, &SessionRun)> = runs.iter().enumerate().collect();
    all.extend(finals.iter().enumerate().map(|(n, r)| (FIRST + 1 + n, r)));
    all.push((FIRST, &first));
    let mut tally = tally_sessions(&redis, &all);
    for (f, got) in big_lists(&redis, FILES).iter().enumerate() {
        tally.add(&big_sent(f, EVENTS_PER_FILE), got);
    }
    let log = read(&server.path("redis.log"));
    assert_eq!(
        (tally.lost, tally.unknown),
        (0, 0),
        "{}; RedisLog:\n{log}",
        tally.line()
    );
    let pushes = aof_pushes(redis.dir());
    assert_eq!(
        pushes.len(),
        tally.delivered,
        "the append-only file and the lists differ"
    );
    let processes = pushes.last().map_or(0, |p| p.0);
    assert_eq!(
        processes,
        kills.len() + 1,
        "SELECTs in the append-only file (one per Redis process expected)"
    );
    let resends = check_resends(&pushes).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(resends.copies, tally.duplicated);
    // "session ending: N event(s) kept in the spool file NAME", once per
    // session that spooled.
    let spooled: Vec<u64> = log
        .lines()
        .filter_map(|l| {
            let (_, rest) = l.split_once("session ending: ")?;
            rest.split_once(" event(s) kept in the spool file")?
                .0
                .parse()
                .ok()
        })
        .collect();
    let drained = drained_in_redis_log(&log);
    server.stop();
    assert_no_crash(&server);
    println!(
        "gauntlet: spool, Redis killed {} times (at {}) during {} sessions x {COMMANDS} \
         commands and the drain of {FILES} x {EVENTS_PER_FILE} spooled events, in {:.1} s: \
         {} events spooled by {} sessions, {drained} spooled events delivered by drains, {} \
         final session(s); {}: {} resend(s) after a restart, the longest {} events",
        kills.len(),
        kills
            .iter()
            .map(|k| format!("{:.1} s", k.as_secs_f64()))
            .collect::<Vec<_>>()
            .join(", "),
        runs.len(),
        load_time.as_secs_f64(),
        spooled.iter().sum::<u64>(),
        spooled.len(),
        finals.len(),
        tally.line(),
        resends.runs,
        resends.longest
    );
}
