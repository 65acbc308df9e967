//! RedisLogSpool against the real proftpd and redis-server: events of
//! sessions that end while Redis is down are kept on disk and delivered by
//! the next session that reaches Redis; chrooted and RootRevoke sessions;
//! bad spool directories; a full spool; redis-spool by hand.

mod harness;

use harness::{Modules, Proftpd, RedisServer, check_config, wait_until};
use serde_json::Value;
use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

const RAW: &str = r#"LogFormat raw "%r""#;

/// A spool directory as RedisLogSpool wants it: root's, mode 0700.
fn spool_dir(parent: &Path) -> PathBuf {
    let d = parent.join("spool");
    std::fs::create_dir_all(&d).unwrap();
    std::fs::set_permissions(&d, std::fs::Permissions::from_mode(0o700)).unwrap();
    d
}

fn conf(redis: &RedisServer, spool: &Path, rest: &str) -> String {
    format!(
        "RedisEngine on\nRedisServer 127.0.0.1:{}\nRedisLog @DIR@/redis.log\n\
         RedisTimeouts 300 300\nRedisLogSpool {}\n{RAW}\n{rest}\n",
        redis.port(),
        spool.display()
    )
}

fn start(conf: &str) -> Proftpd {
    Proftpd::builder(Modules::Ours)
        .load_module("mod_redis.c")
        .config(conf)
        .start()
}

/// How many times each `raw_command` is in the list.
fn counts(items: &[String]) -> BTreeMap<String, usize> {
    let mut m = BTreeMap::new();
    for s in items {
        let v: Value = serde_json::from_str(s).unwrap();
        let raw = v["raw_command"].as_str().unwrap_or("").to_string();
        *m.entry(raw).or_insert(0) += 1;
    }
    m
}

fn spool_files(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

/// The spool files that still hold events (a drained file is emptied at
/// once, and removed when a session next starts: after a login the session
/// has no privileges left for the directory, RootRevoke being proftpd's
/// default).
fn waiting_files(dir: &Path) -> Vec<String> {
    spool_files(dir)
        .into_iter()
        .filter(|n| {
            std::fs::metadata(dir.join(n))
                .map(|m| m.len() > 32)
                .unwrap_or(false)
        })
        .collect()
}

fn wait_log(server: &Proftpd, needle: &str) -> String {
    let mut log = String::new();
    let found = wait_until(Duration::from_secs(15), || {
        log = String::from_utf8_lossy(&server.try_read_file("redis.log").unwrap_or_default())
            .into_owned();
        log.contains(needle)
    });
    assert!(found, "no {needle:?} in RedisLog:\n{log}");
    log
}

/// Run `sessions` sessions at once, each logging `cmds` MKDs named after
/// it, and wait until they all ended.
fn sessions(server: &mut Proftpd, tag: &str, sessions: usize, cmds: usize) {
    std::thread::scope(|s| {
        for i in 0..sessions {
            let server = &*server;
            s.spawn(move || {
                let mut ftp = server.login("alice", "secret");
                for j in 0..cmds {
                    ftp.expect(&format!("MKD {tag}-{i}-{j}"), 257);
                }
                ftp.quit();
            });
        }
    });
    assert!(server.wait_for_no_sessions(Duration::from_secs(30)));
}

/// Redis down while sessions run and end: each session's events go to its
/// spool file, no reply waits on Redis, the session ends at once; Redis
/// back: the next session delivers every one of them (and its own), and
/// the spool directory is left empty.
#[test]
fn events_of_sessions_ended_in_an_outage_reach_redis() {
    let mut redis = RedisServer::start();
    let t = tempfile::tempdir().unwrap();
    let spool = spool_dir(t.path());
    let mut server = start(&conf(&redis, &spool, "RedisLogOnCommand MKD,QUIT raw"));
    redis.crash();
    let started = Instant::now();
    sessions(&mut server, "a", 12, 10);
    // Nothing waited for Redis beyond its timeouts (and no 3 s grace at the
    // end of each session: the events were safe on disk).
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "{:?}",
        started.elapsed()
    );
    let files = spool_files(&spool);
    assert_eq!(files.len(), 12, "one file per session: {files:?}");
    let log = server.read_file("redis.log");
    assert!(log.contains("events are kept in the spool file"), "{log}");
    assert!(!log.contains("could not be delivered"), "{log}");

    redis.restart();
    let mut ftp = server.login("alice", "secret");
    ftp.expect("MKD b", 257);
    ftp.quit();
    // 12 x (10 MKD + QUIT) + MKD b + QUIT.
    let items = redis.client().wait_for_list("raw", 12 * 11 + 2);
    let c = counts(&items);
    for i in 0..12 {
        for j in 0..10 {
            assert_eq!(c.get(&format!("MKD a-{i}-{j}")), Some(&1), "{c:?}");
        }
    }
    assert_eq!(c.get("QUIT"), Some(&13), "{c:?}");
    assert_eq!(c.get("MKD b"), Some(&1), "{c:?}");
    let log = wait_log(&server, "spooled event(s) delivered to Redis");
    assert!(
        log.contains("132 spooled event(s) delivered to Redis (12 spool file(s) done)"),
        "{log}"
    );
    // The drained files are empty, and gone once the next session starts
    // (but for that session's own).
    assert!(
        waiting_files(&spool).is_empty(),
        "{:?}",
        waiting_files(&spool)
    );
    let ftp = server.login("alice", "secret");
    assert_eq!(spool_files(&spool).len(), 1, "{:?}", spool_files(&spool));
    ftp.quit();
}

/// A session that keeps working through an outage: its events go to its
/// spool file while Redis is down, then live again; the spooled ones are
/// delivered when it ends.
#[test]
fn a_session_spools_through_an_outage_and_delivers_at_its_end() {
    let mut redis = RedisServer::start();
    let t = tempfile::tempdir().unwrap();
    let spool = spool_dir(t.path());
    let server = start(&conf(&redis, &spool, "RedisLogOnCommand MKD,QUIT raw"));
    let mut ftp = server.login("alice", "secret");
    ftp.expect("MKD before", 257);
    redis.client().wait_for_list("raw", 1);
    // (A crash loses what Redis held: MKD before is not counted below.)
    redis.crash();
    for i in 0..5 {
        ftp.expect(&format!("MKD during-{i}"), 257);
    }
    redis.restart();
    // The back-off (1 s after the first failure, then 2 s) passes.
    let t0 = Instant::now();
    while t0.elapsed() < Duration::from_secs(4) {
        ftp.expect("NOOP", 200);
        std::thread::sleep(Duration::from_millis(200));
    }
    ftp.expect("MKD after", 257);
    ftp.quit();
    let items = redis.client().wait_for_list("raw", 7);
    let c = counts(&items);
    for k in ["MKD after", "QUIT"] {
        assert_eq!(c.get(k), Some(&1), "{k}: {c:?}");
    }
    for i in 0..5 {
        assert_eq!(c.get(&format!("MKD during-{i}")), Some(&1), "{c:?}");
    }
    wait_log(&server, "spooled event(s) delivered");
    assert!(
        waiting_files(&spool).is_empty(),
        "{:?}",
        waiting_files(&spool)
    );
}

/// Chrooted (`DefaultRoot ~`) and `RootRevoke on` sessions spool and drain
/// through the descriptors they opened when they started.
#[test]
fn chrooted_and_root_revoked_sessions_spool_and_drain() {
    let mut redis = RedisServer::start();
    let t = tempfile::tempdir().unwrap();
    let spool = spool_dir(t.path());
    let mut server = start(&conf(
        &redis,
        &spool,
        "RedisLogOnCommand MKD,QUIT raw\nDefaultRoot ~\nRootRevoke on",
    ));
    redis.crash();
    let mut ftp = server.login("alice", "secret");
    ftp.expect("MKD x", 257);
    ftp.expect("MKD y", 257);
    ftp.quit();
    wait_log(&server, "kept in the spool file");
    assert!(server.wait_for_no_sessions(Duration::from_secs(10)));
    redis.restart();
    let mut ftp = server.login("alice", "secret");
    ftp.expect("MKD z", 257);
    ftp.quit();
    let c = counts(&redis.client().wait_for_list("raw", 5));
    for k in ["MKD x", "MKD y", "MKD z"] {
        assert_eq!(c.get(k), Some(&1), "{k}: {c:?}");
    }
    assert_eq!(c.get("QUIT"), Some(&2), "{c:?}");
}

/// A spool directory that fills up: sessions are not slowed, the events
/// beyond the bound are dropped and counted, the rest delivered.
#[test]
fn a_full_spool_drops_and_counts() {
    let mut redis = RedisServer::start();
    let t = tempfile::tempdir().unwrap();
    let spool = spool_dir(t.path());
    // Room for the header and about 10 records.
    let server = start(&conf(&redis, &spool, "RedisLogOnCommand MKD raw").replace(
        &format!("RedisLogSpool {}", spool.display()),
        &format!("RedisLogSpool {} 1200", spool.display()),
    ));
    redis.crash();
    let mut ftp = server.login("alice", "secret");
    let t0 = Instant::now();
    for i in 0..40 {
        ftp.expect(&format!("MKD full-{i:02}"), 257);
    }
    assert!(t0.elapsed() < Duration::from_secs(5), "{:?}", t0.elapsed());
    ftp.quit();
    let log = wait_log(&server, "dropped (RedisLogSpool full)");
    assert!(log.contains("RedisLogSpool full:"), "{log}");
    redis.restart();
    let mut ftp = server.login("alice", "secret");
    ftp.expect("MKD next", 257);
    ftp.quit();
    wait_log(&server, "spooled event(s) delivered");
    let items = redis.client().lrange("raw");
    // The first events were kept (in order), the ones beyond the bound not.
    let raw: Vec<String> = items
        .iter()
        .map(|s| {
            serde_json::from_str::<Value>(s).unwrap()["raw_command"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    assert!(raw.contains(&"MKD next".to_string()), "{raw:?}");
    let kept: Vec<&String> = raw.iter().filter(|r| r.starts_with("MKD full-")).collect();
    assert!(!kept.is_empty() && kept.len() < 40, "{raw:?}");
    assert_eq!(kept[0], "MKD full-00", "{raw:?}");
}

/// A spool on a file system that fills up (a small tmpfs): the session
/// is not slowed, RedisLog says once that it stopped spooling, and the
/// events keep waiting in memory as without a spool.
#[test]
fn a_full_disk_falls_back_to_memory_and_says_so_once() {
    let mut redis = RedisServer::start();
    let t = tempfile::tempdir().unwrap();
    let spool = spool_dir(t.path());
    let mounted = std::process::Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=8k,mode=0700", "tmpfs"])
        .arg(&spool)
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    if !mounted {
        eprintln!("skipped: cannot mount a tmpfs here");
        return;
    }
    struct Unmount(PathBuf);
    impl Drop for Unmount {
        fn drop(&mut self) {
            let _ = std::process::Command::new("umount").arg(&self.0).status();
        }
    }
    let _unmount = Unmount(spool.clone());
    let server = start(&conf(&redis, &spool, "RedisLogOnCommand MKD raw"));
    redis.crash();
    let mut ftp = server.login("alice", "secret");
    let t0 = Instant::now();
    for i in 0..400 {
        ftp.expect(&format!("MKD disk-{i:03}-{}", "x".repeat(60)), 257);
    }
    assert!(t0.elapsed() < Duration::from_secs(10), "{:?}", t0.elapsed());
    redis.restart();
    ftp.quit();
    let log = wait_log(&server, "not spooling in this session");
    assert_eq!(
        log.matches("not spooling in this session").count(),
        1,
        "{log}"
    );
    assert!(log.contains("No space left on device"), "{log}");
}

/// A directory that is not root's alone, a symbolic link, a missing one,
/// a relative path, a bad size: `proftpd -t` refuses, naming the directive.
#[test]
fn bad_spool_directories_are_refused() {
    let t = tempfile::tempdir().unwrap();
    let good = spool_dir(t.path());
    let open = t.path().join("open");
    std::fs::create_dir(&open).unwrap();
    std::fs::set_permissions(&open, std::fs::Permissions::from_mode(0o777)).unwrap();
    let group = t.path().join("group");
    std::fs::create_dir(&group).unwrap();
    std::fs::set_permissions(&group, std::fs::Permissions::from_mode(0o770)).unwrap();
    let link = t.path().join("link");
    std::os::unix::fs::symlink(&good, &link).unwrap();
    let nobody = t.path().join("nobody");
    std::fs::create_dir(&nobody).unwrap();
    std::os::unix::fs::chown(&nobody, Some(65534), None).unwrap();
    std::fs::set_permissions(&nobody, std::fs::Permissions::from_mode(0o700)).unwrap();
    let cases = [
        (format!("{}", open.display()), "writable by group or others"),
        (
            format!("{}", group.display()),
            "writable by group or others",
        ),
        (format!("{}", link.display()), "symbolic link"),
        (format!("{}", nobody.display()), "owned by root"),
        (format!("{}/missing", t.path().display()), "No such file"),
        ("relative/spool".to_string(), "absolute path"),
        (format!("{} 12X", good.display()), "not a size"),
        (
            format!("{} 1 2", good.display()),
            "wrong number of parameters",
        ),
    ];
    for (words, why) in cases {
        let (ok, out) = check_config(
            Modules::Ours,
            &["mod_redis.c"],
            &format!("RedisEngine on\nRedisLogSpool {words}"),
        );
        assert!(!ok, "{words}: accepted\n{out}");
        assert!(out.contains("RedisLogSpool"), "{words}: {out}");
        assert!(out.contains(why), "{words}: want {why:?}\n{out}");
    }
    let (ok, out) = check_config(
        Modules::Ours,
        &["mod_redis.c"],
        &format!("RedisEngine on\nRedisLogSpool {} 64M", good.display()),
    );
    assert!(ok, "{out}");
}

/// redis-spool lists the files an outage left, exports their events as
/// JSON Lines and drains them into Redis by hand.
#[test]
fn redis_spool_lists_exports_and_drains() {
    let mut redis = RedisServer::start();
    let t = tempfile::tempdir().unwrap();
    let spool = spool_dir(t.path());
    let mut server = start(&conf(&redis, &spool, "RedisLogOnCommand MKD raw \"k:%u\""));
    redis.crash();
    sessions(&mut server, "h", 3, 4);
    redis.restart();
    let tool = PathBuf::from(env!("CARGO_BIN_EXE_redis-spool"));
    let run = |args: &[&str]| {
        let out = std::process::Command::new(&tool)
            .args(args)
            .output()
            .unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let dir = spool.to_str().unwrap();
    let (code, out, err) = run(&["list", dir]);
    assert_eq!(code, Some(0), "{out}{err}");
    assert!(out.contains("3 file(s), 12 event(s) waiting"), "{out}");
    assert!(out.contains("waiting"), "{out}");
    let (code, out, err) = run(&["export", dir]);
    assert_eq!(code, Some(0), "{err}");
    let lines: Vec<Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 12, "{out}");
    assert!(lines.iter().all(|l| l["key"] == "k:alice"), "{out}");
    assert!(
        lines[0]["event"]["raw_command"]
            .as_str()
            .unwrap()
            .starts_with("MKD h-"),
        "{out}"
    );
    let port = redis.port().to_string();
    let (code, out, err) = run(&["drain", dir, "--redis", &format!("127.0.0.1:{port}")]);
    assert_eq!(code, Some(0), "{out}{err}");
    assert!(out.contains("drained 12 event(s), 3 file(s) done"), "{out}");
    let c = counts(&redis.client().wait_for_list("k:alice", 12));
    assert_eq!(c.values().sum::<usize>(), 12, "{c:?}");
    assert!(spool_files(&spool).is_empty(), "{:?}", spool_files(&spool));
    let (code, _, err) = run(&["drain", dir]);
    assert_eq!(code, Some(2), "{err}");
}

/// A session killed (SIGKILL) while it spools, then one killed while it
/// drains: every event whose reply the client had is delivered, torn
/// records are reported, and a file is never sent by two sessions.
#[test]
fn sigkill_while_spooling_and_while_draining_loses_nothing_acknowledged() {
    let mut redis = RedisServer::start();
    let t = tempfile::tempdir().unwrap();
    let spool = spool_dir(t.path());
    let mut server = start(&conf(&redis, &spool, "RedisLogOnCommand MKD raw"));
    redis.crash();
    // Spooling: the reply to command n+1 means the event of command n is
    // in the file (each LOG_CMD runs before the next command is read).
    let mut ftp = server.login("alice", "secret");
    let mut replied = 0;
    for i in 0..300 {
        ftp.expect(&format!("MKD k-{i:03}"), 257);
        replied = i;
    }
    let pids = server.session_pids();
    for p in &pids {
        unsafe { libc::kill(*p as i32, libc::SIGKILL) };
    }
    drop(ftp);
    assert!(server.wait_for_no_sessions(Duration::from_secs(10)));
    // A big spool for the draining session: 3000 more events.
    sessions(&mut server, "big", 10, 300);
    redis.restart();
    // Draining, killed after a while.
    let mut ftp = server.login("alice", "secret");
    ftp.expect("MKD d", 257);
    let pids = server.session_pids();
    ftp.quit();
    let mut c = redis.client();
    wait_until(Duration::from_secs(10), || c.llen("raw") > 500);
    for p in &pids {
        unsafe { libc::kill(*p as i32, libc::SIGKILL) };
    }
    assert!(server.wait_for_no_sessions(Duration::from_secs(10)));
    // The next session drains the rest.
    let mut ftp = server.login("alice", "secret");
    ftp.expect("MKD e", 257);
    ftp.quit();
    // Every event the client had a reply for (and those of "d" and "e").
    // Waiting for a count is not enough: a batch in flight when the
    // drainer died is delivered twice, so the count can be reached while
    // the last session still drains.
    let mut want: Vec<String> = (0..replied).map(|i| format!("MKD k-{i:03}")).collect();
    want.extend((0..10).flat_map(|i| (0..300).map(move |j| format!("MKD big-{i}-{j}"))));
    want.extend(["MKD d".to_string(), "MKD e".to_string()]);
    let lost = |got: &BTreeMap<String, usize>| -> Vec<String> {
        want.iter()
            .filter(|e| !got.contains_key(*e))
            .cloned()
            .collect()
    };
    wait_until(Duration::from_secs(30), || {
        lost(&counts(&c.lrange("raw"))).is_empty()
    });
    assert!(server.wait_for_no_sessions(Duration::from_secs(10)));
    let got = counts(&c.lrange("raw"));
    let lost = lost(&got);
    assert!(lost.is_empty(), "{} lost: {lost:?}", lost.len());
    // At least once: a resend is at most the batch in flight when the
    // drainer died.
    let dups: usize = got.values().map(|n| n - 1).sum();
    assert!(dups <= 512, "{dups} duplicates");
    eprintln!("delivered {}, duplicates {dups}", c.llen("raw"));
}
