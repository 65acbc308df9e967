//! mod_redis against the real proftpd and redis-server: command logging,
//! parity with Debian's C module, ALL, outages (down / refusing / silent),
//! backlog across a restart, unix socket, AUTH, db index, bad config.

mod harness;

use harness::{Modules, Proftpd, RedisClient, RedisServer, check_config, wait_until};
use serde_json::Value;
use std::time::{Duration, Instant};

fn start(modules: Modules, conf: &str) -> Proftpd {
    Proftpd::builder(modules)
        .load_module("mod_redis.c")
        .config(conf)
        .start()
}

fn redis_conf(server: &str, rest: &str) -> String {
    format!("RedisEngine on\nRedisServer {server}\nRedisLog @DIR@/redis.log\n{rest}\n")
}

/// proftpd 1.3.7: no TLS to Redis (its core cannot connect over TLS for
/// mod_ban and co., so mod_redis refuses ssl:...; `tls_needs_1_3_8`). A
/// test of TLS returns early there, saying so.
fn tls_refused() -> bool {
    let refused = harness::proftpd_series() < (1, 3, 8);
    if refused {
        eprintln!(
            "note: proftpd {} refuses TLS to Redis (tls_needs_1_3_8 tests that): skipped",
            harness::proftpd_version()
        );
    }
    refused
}

/// RedisServer's words for an ACL user and password: `user password`, and
/// in 1.3.7's syntax (`host [password] [db-index]`: two words are a
/// password and a db index) `user password ""`.
fn user_password(user: &str, password: &str) -> String {
    if harness::proftpd_series() < (1, 3, 8) {
        format!("{user} {password} \"\"")
    } else {
        format!("{user} {password}")
    }
}

/// proftpd 1.3.7's C mod_redis has no RedisLogFormatExtra (1.3.8 added it).
fn c_lacks_format_extra() -> bool {
    harness::proftpd_series() < (1, 3, 8)
}

/// `conf` for the C module: where it lacks RedisLogFormatExtra, without
/// those lines (the comparison then leaves out what they add to ours:
/// [`drop_extra_members`]).
fn conf_for(modules: &Modules, conf: &str) -> String {
    if matches!(modules, Modules::DebianC) && c_lacks_format_extra() {
        conf.lines()
            .filter(|l| !l.trim_start().starts_with("RedisLogFormatExtra"))
            .collect::<Vec<_>>()
            .join("\n")
    } else {
        conf.to_string()
    }
}

/// The member names the RedisLogFormatExtra lines of `conf` add (their
/// JSON object: bare, or quoted with `\"` inside).
fn extra_members(conf: &str) -> Vec<String> {
    conf.lines()
        .filter_map(|l| l.trim_start().strip_prefix("RedisLogFormatExtra "))
        .filter_map(|rest| rest.trim().split_once(' ').map(|(_, json)| json.trim()))
        .filter_map(|json| {
            let json = match json.strip_prefix('"').and_then(|j| j.strip_suffix('"')) {
                Some(q) => q.replace("\\\"", "\""),
                None => json.to_string(),
            };
            match serde_json::from_str::<Value>(&json) {
                Ok(Value::Object(m)) => Some(m.keys().cloned().collect::<Vec<_>>()),
                _ => None,
            }
        })
        .flatten()
        .collect()
}

/// Where the C module lacks RedisLogFormatExtra (1.3.7): every JSON item in
/// Redis without `members`, so that ours compares with the C module's.
fn drop_extra_members(c: &mut RedisClient, members: &[String]) {
    for key in c.keys("*") {
        let items: Vec<String> = c
            .lrange(&key)
            .into_iter()
            .map(|s| match serde_json::from_str::<Value>(&s) {
                Ok(Value::Object(mut m)) => {
                    for k in members {
                        m.shift_remove(k);
                    }
                    Value::Object(m).to_string()
                }
                _ => s,
            })
            .collect();
        c.cmd(&["DEL", &key]);
        for item in &items {
            c.cmd(&["RPUSH", &key, item]);
        }
    }
}

fn parse(items: &[String]) -> Vec<serde_json::Map<String, Value>> {
    items
        .iter()
        .map(|s| match serde_json::from_str::<Value>(s) {
            Ok(Value::Object(m)) => m,
            other => panic!("not a JSON object: {s:?} ({other:?})"),
        })
        .collect()
}

fn commands(objs: &[serde_json::Map<String, Value>]) -> Vec<String> {
    objs.iter()
        .map(|o| {
            o.get("command")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string()
        })
        .collect()
}

const FMT: &str = r#"LogFormat cmds "%u %m %J %f %b %s %{transfer-status} %a %P %{note:x}""#;

/// ALL logs every command (the C module in 1.3.8 logs nothing for ALL),
/// with the spec's key names and types; PASS is never logged in clear.
#[test]
fn all_logs_every_command_with_types() {
    let redis = RedisServer::start();
    let server = start(
        Modules::Ours,
        &redis_conf(
            &format!("127.0.0.1:{}", redis.port()),
            &format!("{FMT}\nRedisLogOnCommand ALL cmds"),
        ),
    );
    let mut ftp = server.login("alice", "secret");
    ftp.stor("a.txt", b"hello");
    ftp.cmd("NOOP");
    ftp.quit();
    let mut c = redis.client();
    let items = c.wait_for_list("cmds", 7);
    let objs = parse(&items);
    let cmds = commands(&objs);
    for want in ["USER", "PASS", "STOR", "NOOP", "QUIT"] {
        assert!(
            cmds.contains(&want.to_string()),
            "{want} missing: {items:#?}"
        );
    }
    for s in &items {
        assert!(!s.contains("secret"), "password logged: {s}");
    }
    let stor = objs
        .iter()
        .find(|o| o.get("command") == Some(&Value::from("STOR")))
        .unwrap();
    assert_eq!(stor["user"], "alice");
    assert_eq!(stor["bytes_sent"], 5, "{stor:?}");
    assert_eq!(stor["response_code"], 226, "{stor:?}");
    assert_eq!(stor["transfer_status"], "success");
    assert_eq!(stor["remote_ip"], "127.0.0.1");
    assert!(stor["pid"].is_number());
    assert!(
        stor["file"].as_str().unwrap().ends_with("/a.txt"),
        "{stor:?}"
    );
    assert!(
        !stor.contains_key("NOTE:x"),
        "unset note must be omitted: {stor:?}"
    );
}

/// The scripted session of the parity test: login, MKD, STOR, RETR, LIST,
/// RNFR/RNTO, DELE, a failing command, QUIT.
fn scripted_session(server: &Proftpd) {
    let mut ftp = server.login("alice", "secret");
    ftp.expect("MKD sub", 257);
    ftp.stor("sub/a.txt", b"hello world");
    assert_eq!(ftp.retr("sub/a.txt"), b"hello world");
    ftp.list("sub");
    ftp.expect("RNFR sub/a.txt", 350);
    ftp.expect("RNTO sub/b.txt", 250);
    ftp.expect("DELE sub/b.txt", 250);
    ftp.expect("DELE nonexistent.txt", 550);
    ftp.quit();
}

/// Keys whose values depend on time, pid or the temp dir.
const VOLATILE: &[&str] = &[
    "pid",
    "timestamp",
    "local_time",
    "transfer_secs",
    "microsecs",
    "millisecs",
    "file",
    "transfer_path",
    "dir_path",
    "dir_name",
    "rename_from",
    "local_port",
    "response_msg",
    "transfer_millis",
    "response_millis",
    "file_modified",
    "session_bytes_sent",
    "session_bytes_rcvd",
];

fn normalize(objs: &[serde_json::Map<String, Value>]) -> Vec<Vec<(String, String)>> {
    objs.iter()
        .map(|o| {
            o.iter()
                .map(|(k, v)| {
                    let shown = if VOLATILE.contains(&k.as_str()) {
                        match v {
                            Value::Number(_) => "<number>".to_string(),
                            Value::String(_) => "<string>".to_string(),
                            Value::Bool(_) => "<bool>".to_string(),
                            other => other.to_string(),
                        }
                    } else {
                        v.to_string()
                    };
                    (k.clone(), shown)
                })
                .collect()
        })
        .collect()
}

/// The same session against Debian's C mod_redis.so and ours gives the same
/// JSON objects: keys, order, types and values (except time/pid/path ones).
#[test]
fn parity_with_c_module() {
    let cmds = "USER,PASS,MKD,STOR,RETR,LIST,RNFR,RNTO,DELE,QUIT";
    let fmt = r#"LogFormat parity "%h %l %u %t \"%r\" %s %b %a %A %c %D %d %F %f %g %H %I %J %L %m %O %P %p %{protocol} %S %T %{transfer-status} %{transfer-failure} %U %V %v %{version} %w %{iso8601} %{uid} %{gid} %{e:HOME}""#;
    let mut results = Vec::new();
    for modules in [Modules::DebianC, Modules::Ours] {
        let redis = RedisServer::start();
        let conf = redis_conf(
            &format!("127.0.0.1:{}", redis.port()),
            &format!("{fmt}\nRedisLogOnCommand {cmds} parity"),
        );
        let server = start(modules.clone(), &conf);
        scripted_session(&server);
        let mut c = redis.client();
        // USER PASS MKD STOR RETR LIST RNFR RNTO DELE DELE QUIT
        let items = c.wait_for_list("parity", 11);
        assert_eq!(items.len(), 11, "{modules:?}: {items:#?}");
        results.push((modules, items));
    }
    let c = normalize(&parse(&results[0].1));
    let ours = normalize(&parse(&results[1].1));
    assert_eq!(c.len(), ours.len());
    for (i, (a, b)) in c.iter().zip(&ours).enumerate() {
        assert_eq!(
            a, b,
            "object {i} differs\nC:    {}\nours: {}",
            results[0].1[i], results[1].1[i]
        );
    }
}

/// LogFormat variables new in 1.3.9 (`%{transfer-speed}`, `%{var:NAME}`) come
/// through the JSON as with 1.3.9's C module (key names from the core's
/// table: `transfer_speed`, and `VAR:` followed by the variable's value, as
/// the core hints it). Skipped before 1.3.9, which has neither.
#[test]
fn variables_new_in_1_3_9_match_c_module() {
    if harness::proftpd_series() < (1, 3, 9) {
        eprintln!("skipped: %{{transfer-speed}} and %{{var:...}} are new in proftpd 1.3.9");
        return;
    }
    let fmt = r#"LogFormat new139 "%u %m %{transfer-speed} %{var:total_bytes_xfer} %{var:no.such.var} %b""#;
    let mut results = Vec::new();
    for modules in [Modules::DebianC, Modules::Ours] {
        let redis = RedisServer::start();
        let conf = redis_conf(
            &format!("127.0.0.1:{}", redis.port()),
            &format!("{fmt}\nRedisLogOnCommand USER,PASS,STOR,RETR,QUIT new139"),
        );
        let server = start(modules.clone(), &conf);
        let mut ftp = server.login("alice", "secret");
        ftp.stor("a.txt", &[b'x'; 5000]);
        assert_eq!(ftp.retr("a.txt").len(), 5000);
        ftp.quit();
        let items = redis.client().wait_for_list("new139", 5);
        assert_eq!(items.len(), 5, "{modules:?}: {items:#?}");
        results.push(parse(&items));
    }
    // The speed depends on timing: compare its shape ("NNN.NNKB/s").
    let shape = |objs: &[serde_json::Map<String, Value>]| -> Vec<Vec<(String, String)>> {
        objs.iter()
            .map(|o| {
                o.iter()
                    .map(|(k, v)| {
                        let shown = match (k.as_str(), v.as_str()) {
                            ("transfer_speed", Some(s)) if s.ends_with("KB/s") => "<speed>".into(),
                            _ => v.to_string(),
                        };
                        (k.clone(), shown)
                    })
                    .collect()
            })
            .collect()
    };
    let (c, ours) = (shape(&results[0]), shape(&results[1]));
    assert_eq!(c, ours, "C: {:#?}\nours: {:#?}", results[0], results[1]);
    // The transfers have a speed (the C module's, too).
    assert!(
        ours.iter().any(|o| o
            .iter()
            .any(|(k, v)| k == "transfer_speed" && v == "<speed>")),
        "{ours:#?}"
    );
}

const RAW: &str = r#"LogFormat raw "%r""#;

/// Stop Redis mid-session, keep working, start it again, finish: every
/// event is delivered once, in order; no reply waits on the outage.
#[test]
fn outage_and_restart_loses_nothing() {
    let mut redis = RedisServer::start();
    let server = start(
        Modules::Ours,
        &redis_conf(
            &format!("127.0.0.1:{}", redis.port()),
            &format!("RedisTimeouts 300 300\n{RAW}\nRedisLogOnCommand MKD,RMD,QUIT raw"),
        ),
    );
    let mut ftp = server.login("alice", "secret");
    ftp.expect("MKD d1", 257);
    let before = redis.client().wait_for_list("raw", 1);
    redis.crash();
    for i in 2..=6 {
        let t = Instant::now();
        ftp.expect(&format!("MKD d{i}"), 257);
        assert!(
            t.elapsed() < Duration::from_millis(1500),
            "MKD d{i} took {:?}",
            t.elapsed()
        );
    }
    redis.restart();
    ftp.expect("RMD d1", 250);
    ftp.quit();
    let after = redis.client().wait_for_list("raw", 7);
    let mut all = before.clone();
    all.extend(after);
    let raw: Vec<String> = parse(&all)
        .iter()
        .map(|o| o["raw_command"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        raw,
        [
            "MKD d1", "MKD d2", "MKD d3", "MKD d4", "MKD d5", "MKD d6", "RMD d1", "QUIT"
        ],
    );
    let log = server.read_file("redis.log");
    assert!(log.contains("error"), "RedisLog: {log}");
    assert!(!log.contains("secret"));
}

/// A session that ends while Redis is down keeps trying for a moment (after
/// the client has its 221): events are delivered when Redis is back within
/// the grace time, and RedisLog counts the undelivered ones otherwise.
#[test]
fn session_ending_during_outage_delivers_when_redis_returns() {
    let mut redis = RedisServer::start();
    let server = start(
        Modules::Ours,
        &redis_conf(
            &format!("127.0.0.1:{}", redis.port()),
            &format!("RedisTimeouts 300 300\n{RAW}\nRedisLogOnCommand MKD,QUIT raw"),
        ),
    );
    // Back within the grace time: delivered.
    let mut ftp = server.login("alice", "secret");
    ftp.expect("MKD a", 257);
    redis.client().wait_for_list("raw", 1);
    redis.crash();
    ftp.expect("MKD b", 257);
    let t = Instant::now();
    ftp.quit();
    assert!(
        t.elapsed() < Duration::from_millis(500),
        "QUIT took {:?}",
        t.elapsed()
    );
    std::thread::sleep(Duration::from_millis(700));
    redis.restart();
    let raw: Vec<String> = parse(&redis.client().wait_for_list("raw", 2))
        .iter()
        .map(|o| o["raw_command"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(raw, ["MKD b", "QUIT"]);
    wait_redis_log(&server, "all events delivered after waiting");

    // Gone for longer than the grace time: counted in RedisLog.
    redis.crash();
    let mut ftp = server.login("alice", "secret");
    ftp.expect("MKD c", 257);
    ftp.quit();
    let log = wait_redis_log(&server, "could not be delivered");
    assert!(log.contains("session ending: 2 event(s)"), "{log}");
}

/// Waits until RedisLog contains `needle`; returns it.
fn wait_redis_log(server: &Proftpd, needle: &str) -> String {
    let mut text = String::new();
    let found = wait_until(harness::DEFAULT_TIMEOUT, || {
        text = String::from_utf8_lossy(&server.try_read_file("redis.log").unwrap_or_default())
            .into_owned();
        text.contains(needle)
    });
    assert!(found, "{needle:?} not in RedisLog:\n{text}");
    text
}

/// Runs a session of many NOOPs against an unusable Redis and checks that
/// no reply waited longer than the timeouts, and that after the first
/// failure commands are not slowed down (back-off).
fn assert_replies_not_delayed(server_spec: &str) -> (Proftpd, Duration) {
    let server = start(
        Modules::Ours,
        &redis_conf(
            server_spec,
            &format!("RedisTimeouts 300 300\n{RAW}\nRedisLogOnEvent ALL raw"),
        ),
    );
    let t = Instant::now();
    let mut ftp = server.connect();
    let banner = t.elapsed();
    assert!(
        banner < Duration::from_millis(1500),
        "banner took {banner:?}"
    );
    ftp.login("alice", "secret");
    let start = Instant::now();
    let mut worst = Duration::ZERO;
    for _ in 0..50 {
        let t = Instant::now();
        ftp.expect("NOOP", 200);
        worst = worst.max(t.elapsed());
    }
    let per_cmd = start.elapsed() / 50;
    assert!(
        worst < Duration::from_millis(1000),
        "slowest NOOP {worst:?}"
    );
    ftp.quit();
    (server, per_cmd)
}

#[test]
fn redis_refusing_does_not_delay_replies() {
    // Nothing listens on this port.
    let port = harness::free_port();
    let (server, per_cmd) = assert_replies_not_delayed(&format!("127.0.0.1:{port}"));
    assert!(
        per_cmd < Duration::from_millis(20),
        "per command {per_cmd:?}"
    );
    let log = server.read_file("redis.log");
    let attempts = log.matches("error connecting").count();
    assert!(
        (1..=4).contains(&attempts),
        "{attempts} connect attempts:\n{log}"
    );
}

#[test]
fn redis_silent_does_not_delay_replies() {
    // Accepts connections and never answers.
    let port = harness::util::silent_server();
    let (server, per_cmd) = assert_replies_not_delayed(&format!("127.0.0.1:{port}"));
    assert!(
        per_cmd < Duration::from_millis(50),
        "per command {per_cmd:?}"
    );
    let log = server.read_file("redis.log");
    assert!(log.contains("error"), "{log}");
}

#[test]
fn redis_down_host_does_not_delay_replies() {
    // A non-routable address: connect() times out (or fails at once).
    let (_server, per_cmd) = assert_replies_not_delayed("10.255.255.1:6379");
    assert!(
        per_cmd < Duration::from_millis(50),
        "per command {per_cmd:?}"
    );
}

/// Unix socket, custom key format, RedisLogFormatExtra with variables, and
/// events by class (CONNECT/DISCONNECT included).
#[test]
fn unix_socket_key_format_extra_and_events() {
    let redis = RedisServer::builder().unix_socket().start();
    let sock = redis.unix_socket().unwrap().display().to_string();
    let conf = redis_conf(
        &sock,
        r#"LogFormat ev "%u %m %a"
LogFormat k "%m"
RedisLogOnEvent CONNECT,DISCONNECT,DIRS ev
RedisLogOnCommand MKD k "%u:%m"
RedisLogFormatExtra k "{\"site\":\"eu\",\"who\":\"%u\",\"command\":\"override?\"}""#,
    );
    let server = start(Modules::Ours, &conf);
    let mut ftp = server.login("alice", "secret");
    ftp.expect("MKD x", 257);
    ftp.expect("PWD", 257);
    ftp.quit();
    let mut c = redis.client();
    let keyed = parse(&c.wait_for_list("alice:MKD", 1));
    assert_eq!(
        keyed[0]["command"], "MKD",
        "extra must not override: {keyed:?}"
    );
    assert_eq!(keyed[0]["site"], "eu");
    assert_eq!(keyed[0]["who"], "alice");
    // CONNECT (no command), MKD, PWD (DIRS: not in 1.3.7a, whose core
    // ignores that class), then EXIT (class DISCONNECT) at the end.
    let dirs: &[&str] = if harness::core_jot_knows_classes() {
        &["MKD", "PWD"]
    } else {
        &[]
    };
    let ev = parse(&c.wait_for_list("ev", 2 + dirs.len()));
    assert_eq!(ev[0].get("command"), None, "{ev:?}");
    assert_eq!(ev[0]["remote_ip"], "127.0.0.1", "{ev:?}");
    // The spec's session markers, first key, booleans.
    assert_eq!(ev[0].keys().next().map(String::as_str), Some("connecting"));
    assert_eq!(ev[0]["connecting"], true);
    let expected: Vec<&str> = dirs.iter().copied().chain(["EXIT"]).collect();
    assert_eq!(commands(&ev[1..]), expected, "{ev:?}");
    assert_eq!(ev[ev.len() - 1]["disconnecting"], true, "{ev:?}");
    for e in &ev[1..ev.len() - 1] {
        assert!(!e.contains_key("connecting") && !e.contains_key("disconnecting"));
    }
}

/// `RedisServer ... ssl:...` and `RedisSentinel ... ssl:...`: refused at
/// config time with proftpd 1.3.7, whose core cannot connect to Redis over
/// TLS (for mod_ban and co.), naming the version; accepted from 1.3.8 on.
#[test]
fn tls_needs_1_3_8() {
    let certs = tempfile::tempdir().unwrap();
    make_certs(certs.path());
    let d = certs.path().display();
    for line in [
        format!("RedisServer 127.0.0.1:6380 ssl:true ssl-ca:{d}/ca.crt"),
        format!("RedisServer 127.0.0.1\nRedisSentinel 127.0.0.1:26380 ssl:true ssl-ca:{d}/ca.crt"),
    ] {
        let (ok, out) = check_config(Modules::Ours, &["mod_redis.c"], &format!("{RAW}\n{line}\n"));
        if harness::proftpd_series() < (1, 3, 8) {
            assert!(!ok, "accepted with proftpd 1.3.7: {line}\n{out}");
            assert!(
                out.contains("needs proftpd 1.3.8 or later"),
                "{line}: {out}"
            );
            assert!(out.contains(&harness::proftpd_version()), "{line}: {out}");
        } else {
            assert!(ok, "{line}: {out}");
        }
    }
}

/// AUTH with an ACL user, AUTH with a password only, and SELECT of a db index.
#[test]
fn auth_and_db_index() {
    let redis = RedisServer::start();
    let p = redis.port();
    let mut admin = redis.client();
    admin.acl_setuser("ftplog", "s3cr3t");
    admin.cmd(&["CONFIG", "SET", "requirepass", "hunter2"]);
    let mut specs = vec![
        (
            format!("127.0.0.1:{p} {}", user_password("ftplog", "s3cr3t")),
            "0",
        ),
        (format!("127.0.0.1:{p} hunter2"), "0"),
        (format!("127.0.0.1:{p} default hunter2 5"), "5"),
    ];
    if harness::proftpd_series() < (1, 3, 8) {
        // 1.3.7's syntax: host password db-index (its C module lost the
        // password here; ours keeps both).
        specs.push((format!("127.0.0.1:{p} hunter2 3"), "3"));
    }
    for (spec, db) in specs {
        let server = start(
            Modules::Ours,
            &redis_conf(&spec, &format!("{RAW}\nRedisLogOnCommand PWD raw")),
        );
        let mut ftp = server.login("alice", "secret");
        ftp.expect("PWD", 257);
        ftp.quit();
        let mut c = redis.client();
        c.cmd(&["AUTH", "hunter2"]);
        c.cmd(&["SELECT", db]);
        let items = c.wait_for_list("raw", 1);
        assert_eq!(parse(&items)[0]["raw_command"], "PWD", "{spec}");
        c.cmd(&["DEL", "raw"]);
        let log = server.read_file("redis.log");
        assert!(!log.contains("s3cr3t") && !log.contains("hunter2"), "{log}");
    }
}

/// Runs the same session (alice: `commands`, then QUIT) against the C
/// module and ours, each with its own Redis and `rest` as the rest of the
/// mod_redis configuration (which must log QUIT to the list `raw`);
/// `collect` reads what landed in Redis.  Returns C's, then ours.
fn side_by_side<T>(
    rest: &str,
    commands: &[(&str, u16)],
    collect: impl FnMut(&mut RedisClient) -> T,
) -> Vec<T> {
    side_by_side_with(&[], rest, commands, collect)
}

/// [`side_by_side`], with more modules loaded after mod_redis.
fn side_by_side_with<T>(
    more_modules: &[&str],
    rest: &str,
    commands: &[(&str, u16)],
    mut collect: impl FnMut(&mut RedisClient) -> T,
) -> Vec<T> {
    let mut results = Vec::new();
    for modules in [Modules::DebianC, Modules::Ours] {
        let redis = RedisServer::start();
        let conf = conf_for(
            &modules,
            &redis_conf(&format!("127.0.0.1:{}", redis.port()), rest),
        );
        let mut load = vec!["mod_redis.c"];
        load.extend(more_modules);
        let server = Proftpd::builder(modules.clone())
            .load_modules(&load)
            .config(&conf)
            .start();
        let mut ftp = server.login("alice", "secret");
        for (cmd, code) in commands {
            ftp.expect(cmd, *code);
        }
        ftp.quit();
        let mut c = redis.client();
        assert!(wait_until(harness::DEFAULT_TIMEOUT, || c
            .lrange("raw")
            .last()
            .is_some_and(|s| s.contains("QUIT"))));
        if matches!(modules, Modules::Ours) && c_lacks_format_extra() {
            drop_extra_members(&mut c, &extra_members(rest));
        }
        results.push(collect(&mut c));
    }
    results
}

/// Every list in Redis, by key (sorted), with its items.
fn lists_by_key(c: &mut RedisClient) -> Vec<(String, Vec<String>)> {
    c.keys("*")
        .into_iter()
        .map(|k| {
            let items = c.lrange(&k);
            (k, items)
        })
        .collect()
}

/// The keys and lengths of [`lists_by_key`]'s lists.
fn lengths(lists: &[(String, Vec<String>)]) -> Vec<(&str, usize)> {
    lists.iter().map(|(k, v)| (k.as_str(), v.len())).collect()
}

/// `RedisLogOnCommand none` in a <Directory> switches logging off there
/// (and below), as with the C module.
#[test]
fn directory_none_switches_logging_off() {
    let results = side_by_side(
        &format!(
            "{RAW}\nRedisLogOnCommand MKD,PWD,QUIT raw\n<Directory ~/quiet>\n  RedisLogOnCommand none\n</Directory>"
        ),
        &[
            ("MKD quiet", 257),
            ("MKD loud", 257),
            ("CWD quiet", 250),
            ("MKD inner", 257),
            ("PWD", 257),
            ("CWD /", 250),
        ],
        |c| {
            parse(&c.lrange("raw"))
                .iter()
                .map(|o| o["raw_command"].as_str().unwrap().to_string())
                .collect::<Vec<String>>()
        },
    );
    assert_eq!(results[1], ["MKD loud", "QUIT"], "ours");
    assert_eq!(results[0], results[1], "C vs ours");
}

/// The rules and extras in force follow the session from context to
/// context and back (ours finds them once per context and caches them):
/// what lands in Redis is what the C module logs in the same session.
/// (A command's context is that of its target: `MKD a` runs in ~/a.)
#[test]
fn rules_follow_the_context() {
    let results = side_by_side(
        &format!(
            "{RAW}\nLogFormat cmd \"%m %u\"\n\
             RedisLogOnCommand MKD,PWD,QUIT raw\n\
             RedisLogFormatExtra raw {{\"where\":\"server\"}}\n\
             <Directory ~/a>\n  RedisLogOnCommand PWD,MKD cmd a:%m\n  \
             RedisLogFormatExtra cmd {{\"where\":\"a\",\"n\":1}}\n</Directory>\n\
             <Directory ~/b>\n  RedisLogOnCommand none\n</Directory>"
        ),
        &[
            ("MKD a", 257),
            ("MKD b", 257),
            ("CWD a", 250),
            ("PWD", 257),
            ("MKD x", 257),
            ("CWD ../b", 250),
            ("PWD", 257),
            ("MKD y", 257),
            ("CWD ..", 250),
            ("PWD", 257),
            ("CWD a", 250),
            ("PWD", 257),
            ("CWD /", 250),
            ("PWD", 257),
        ],
        lists_by_key,
    );
    let ours = lengths(&results[1]);
    assert_eq!(
        ours,
        [("a:MKD", 2), ("a:PWD", 2), ("raw", 7)],
        "ours: {:#?}",
        results[1]
    );
    assert_eq!(results[0], results[1], "C vs ours");
}

/// mod_ifsession adds a user's `<IfUser>` rules to the server's records
/// after the login: from then on they are in force (ours notices that the
/// context's records changed and finds its rules again), as with the C
/// module.
#[test]
fn ifuser_rules_apply_after_login() {
    let results = side_by_side_with(
        &["mod_ifsession.c"],
        &format!(
            "{RAW}\nRedisLogOnCommand USER,QUIT raw\n\
             <IfUser alice>\n  RedisLogOnCommand PWD,MKD raw alice\n\
             RedisLogFormatExtra raw {{\"who\":\"alice\"}}\n</IfUser>\n\
             <IfUser bob>\n  RedisLogOnCommand PWD raw bob\n</IfUser>"
        ),
        &[("PWD", 257), ("MKD x", 257), ("PWD", 257)],
        lists_by_key,
    );
    let ours = lengths(&results[1]);
    assert_eq!(ours, [("alice", 3), ("raw", 2)], "ours: {:#?}", results[1]);
    assert_eq!(results[0], results[1], "C vs ours");
}

/// Every bad configuration is refused, naming the directive.
#[test]
fn bad_config_is_refused() {
    let cases: &[(&str, &str)] = &[
        ("RedisEngine maybe", "RedisEngine"),
        ("RedisEngine", "RedisEngine"),
        ("RedisLog relative.log", "RedisLog"),
        ("RedisTimeouts 500", "RedisTimeouts"),
        ("RedisTimeouts 5s 500", "RedisTimeouts"),
        ("RedisOptions Bogus", "RedisOptions"),
        ("RedisOptions", "RedisOptions"),
        ("RedisServer", "RedisServer"),
        ("RedisServer host:notaport", "RedisServer"),
        ("RedisServer host u p notanumber", "RedisServer"),
        (
            "RedisServer 127.0.0.1 ssl:true ssl-ca:/nonexistent/ca.pem",
            "RedisServer",
        ),
        ("RedisServer /tmp/r.sock ssl:true", "RedisServer"),
        ("RedisServer 127.0.0.1 ssl:maybe", "RedisServer"),
        ("RedisSentinel", "RedisSentinel"),
        ("RedisSentinel host:bad", "RedisSentinel"),
        ("RedisSentinel /tmp/s.sock", "RedisSentinel"),
        ("RedisSentinel h master", "RedisSentinel"),
        (
            "RedisSentinel 127.0.0.1 ssl:true ssl-ca:/nonexistent/ca.pem",
            "RedisSentinel",
        ),
        ("RedisSentinel 127.0.0.1 ssl:maybe", "RedisSentinel"),
        (
            "<Anonymous ~alice>\nRedisSentinel 127.0.0.1\n</Anonymous>",
            "RedisSentinel",
        ),
        ("RedisLogOnCommand STOR nosuchformat", "RedisLogOnCommand"),
        ("RedisLogOnCommand STOR", "RedisLogOnCommand"),
        ("RedisLogOnCommand STOR raw k extra", "RedisLogOnCommand"),
        ("RedisLogFormatExtra raw {bad", "RedisLogFormatExtra"),
        ("RedisLogFormatExtra raw [1]", "RedisLogFormatExtra"),
        ("RedisLogFormatExtra nosuch {}", "RedisLogFormatExtra"),
        (
            "<Anonymous ~alice>\nRedisEngine on\n</Anonymous>",
            "RedisEngine",
        ),
        (
            "<Directory /tmp>\nRedisServer 127.0.0.1\n</Directory>",
            "RedisServer",
        ),
    ];
    for (line, directive) in cases {
        let (ok, out) = check_config(Modules::Ours, &["mod_redis.c"], &format!("{RAW}\n{line}\n"));
        assert!(!ok, "accepted: {line}\n{out}");
        assert!(
            out.contains(directive),
            "{line}: error does not name {directive}:\n{out}"
        );
    }
    // And the good ones are accepted, in their contexts.
    let good = format!(
        "{RAW}\nRedisEngine on\nRedisServer [::1]:6379 u p 2\nRedisTimeouts 100 200\nRedisOptions NoReconnect\n\
         RedisLog none\nRedisSentinel 127.0.0.1 [::1]:26380 master mymaster\nRedisLogOnCommand ALL raw\nRedisLogOnEvent READ,WRITE raw \"%u\"\n\
         <Anonymous ~alice>\nRedisLogOnCommand none\n</Anonymous>\n\
         <Directory /tmp>\nRedisLogOnEvent none\nRedisLogFormatExtra raw {{\"a\":1}}\n</Directory>\n"
    );
    let (ok, out) = check_config(Modules::Ours, &["mod_redis.c"], &good);
    assert!(ok, "{out}");
}

/// RedisServer also configures the core's Redis connection: mod_ban's
/// `BanCache redis` stores its ban in Redis, as with the C module.
#[test]
fn mod_ban_cache_lands_in_redis() {
    for modules in [Modules::DebianC, Modules::Ours] {
        let redis = RedisServer::start();
        let conf = format!(
            "RedisEngine on\nRedisServer 127.0.0.1:{}\nBanEngine on\nBanLog @DIR@/ban.log\n\
             BanTable @DIR@/ban.tab\nBanCache redis\nMaxLoginAttempts 1\n\
             BanOnEvent MaxLoginAttempts 1/00:10:00 00:05:00\n",
            redis.port()
        );
        let server = Proftpd::builder(modules.clone())
            .load_modules(&["mod_redis.c", "mod_ban.c"])
            .config(&conf)
            .start();
        let mut ftp = server.connect();
        ftp.expect("USER alice", 331);
        let _ = ftp.try_cmd("PASS wrong");
        let mut c = redis.client();
        assert!(
            wait_until(harness::DEFAULT_TIMEOUT, || !c.keys("mod_ban*").is_empty()),
            "{modules:?}: no mod_ban key in Redis: {:?}\nban.log:\n{}",
            c.keys("*"),
            String::from_utf8_lossy(&server.try_read_file("ban.log").unwrap_or_default())
        );
    }
}

/// Quotes, backslashes and non-UTF-8 bytes in names and arguments: always
/// valid JSON; each invalid byte becomes U+FFFD.  Same output as the C
/// module for the escaping; with invalid UTF-8 the C module's session dies
/// (the core's JSON encoder asserts valid UTF-8), so only ours is checked.
#[test]
fn escaping_and_invalid_utf8() {
    let mut results = Vec::new();
    for modules in [Modules::DebianC, Modules::Ours] {
        let redis = RedisServer::start();
        let conf = redis_conf(
            &format!("127.0.0.1:{}", redis.port()),
            "LogFormat esc \"%m %J %r\"\nRedisLogOnCommand MKD esc",
        );
        let server = start(modules.clone(), &conf);
        let mut ftp = server.login("alice", "secret");
        assert_eq!(ftp.cmd_bytes(b"MKD q\"b\\s").code, 257, "{modules:?}");
        let n = if matches!(modules, Modules::Ours) {
            assert_eq!(ftp.cmd_bytes(b"MKD x\xfez\xc3").code, 257);
            2
        } else {
            1
        };
        ftp.quit();
        results.push(redis.client().wait_for_list("esc", n));
    }
    let ours = parse(&results[1]);
    assert_eq!(ours[0]["command_params"], "q\"b\\s");
    assert_eq!(ours[0]["raw_command"], "MKD q\"b\\s");
    assert_eq!(ours[1]["command_params"], "x\u{FFFD}z\u{FFFD}");
    assert_eq!(ours[1]["raw_command"], "MKD x\u{FFFD}z\u{FFFD}");
    assert_eq!(results[0][0], results[1][0], "C vs ours");
}

/// After SIGHUP (config re-read, filters and formats rebuilt) sessions still
/// log with the right filters; several rules of one command all land.
#[test]
fn reload_keeps_logging_and_several_rules_match() {
    let redis = RedisServer::start();
    let conf = redis_conf(
        &format!("127.0.0.1:{}", redis.port()),
        &format!(
            "{RAW}\nLogFormat m \"%m\"\nRedisLogOnCommand PWD raw\nRedisLogOnCommand PWD,SYST m\nRedisLogOnEvent DIRS m \"dirs\""
        ),
    );
    let mut server = start(Modules::Ours, &conf);
    for round in 1..=3 {
        let mut ftp = server.login("alice", "secret");
        ftp.expect("PWD", 257);
        ftp.expect("SYST", 215);
        ftp.quit();
        let mut c = redis.client();
        c.wait_for_list("raw", round);
        c.wait_for_list("m", 2 * round);
        if harness::core_jot_knows_classes() {
            c.wait_for_list("dirs", round);
        }
        server.reload();
    }
    let mut c = redis.client();
    assert_eq!(c.llen("raw"), 3);
    assert_eq!(c.llen("m"), 6);
    // proftpd 1.3.7a's core ignores the class DIRS (as for the C module).
    let dirs = if harness::core_jot_knows_classes() {
        3
    } else {
        0
    };
    assert_eq!(c.llen("dirs"), dirs);
}

/// RedisOptions NoReconnect: once the connection is lost, no new one.
#[test]
fn no_reconnect_option() {
    let mut redis = RedisServer::start();
    let server = start(
        Modules::Ours,
        &redis_conf(
            &format!("127.0.0.1:{}", redis.port()),
            &format!(
                "RedisOptions NoReconnect\nRedisTimeouts 300 300\n{RAW}\nRedisLogOnCommand MKD raw"
            ),
        ),
    );
    let mut ftp = server.login("alice", "secret");
    ftp.expect("MKD a", 257);
    redis.client().wait_for_list("raw", 1);
    redis.crash();
    ftp.expect("MKD b", 257);
    redis.restart();
    ftp.expect("MKD c", 257);
    ftp.quit();
    let log_has = || server.read_file("redis.log").contains("NoReconnect");
    assert!(wait_until(harness::DEFAULT_TIMEOUT, log_has));
    assert_eq!(
        redis.client().llen("raw"),
        0,
        "reconnected despite NoReconnect"
    );
}

/// A field of `INFO section` on a fresh connection ("" on any error: Redis
/// closes client connections while it changes role).
fn info_field(port: u16, section: &str, field: &str) -> String {
    let text = RedisClient::try_connect(port)
        .and_then(|mut c| c.try_cmd(&[b"INFO".as_slice(), section.as_bytes()]))
        .ok()
        .and_then(|r| r.as_string())
        .unwrap_or_default();
    text.lines()
        .find_map(|l| {
            l.strip_prefix(&format!("{field}:"))
                .map(|v| v.trim().to_string())
        })
        .unwrap_or_default()
}

/// RedisSentinel: the master is found through Sentinel, and after a
/// failover the events go to the new master, in order.
#[test]
fn sentinel_follows_failover() {
    let master = RedisServer::start();
    let m = master.port();
    let replica = RedisServer::builder()
        .config(&format!("replicaof 127.0.0.1 {m}"))
        .start();
    let r = replica.port();
    assert!(wait_until(harness::DEFAULT_TIMEOUT, || info_field(
        r,
        "replication",
        "master_link_status"
    ) == "up"));
    // A Sentinel watching the master.
    let sentinel = Sentinel::start_with(
        m,
        "sentinel down-after-milliseconds mymaster 1000\nsentinel failover-timeout mymaster 10000",
    );
    let sport = sentinel.port;
    let master_port = |sc: &mut RedisClient| -> Option<String> {
        match sc.try_cmd(&[
            b"SENTINEL".as_slice(),
            b"get-master-addr-by-name",
            b"mymaster",
        ]) {
            Ok(harness::Resp::Array(Some(v))) => v.get(1).and_then(|p| p.as_string()),
            _ => None,
        }
    };
    let mut sc = None;
    assert!(
        wait_until(harness::DEFAULT_TIMEOUT, || {
            if sc.is_none() {
                sc = RedisClient::try_connect(sport).ok();
            }
            sc.as_mut().is_some_and(|c| {
                master_port(c) == Some(m.to_string())
                    && matches!(c.try_cmd(&[b"SENTINEL".as_slice(), b"replicas", b"mymaster"]),
                    Ok(harness::Resp::Array(Some(v))) if !v.is_empty())
            })
        }),
        "sentinel did not come up with the replica"
    );
    let mut sc = sc.unwrap();

    let server = start(
        Modules::Ours,
        &format!(
            "RedisEngine on\nRedisSentinel 127.0.0.1:{sport} master mymaster\nRedisTimeouts 300 300\n\
             RedisLog @DIR@/redis.log\n{RAW}\nRedisLogOnCommand MKD,QUIT raw\n"
        ),
    );
    let mut ftp = server.login("alice", "secret");
    ftp.expect("MKD a", 257);
    master.client().wait_for_list("raw", 1);

    // Fail over to the replica; wait until the old master is a replica.
    // (NOGOODSLAVE until the Sentinel has fresh INFO from the replica.)
    assert!(
        wait_until(Duration::from_secs(30), || matches!(
            sc.try_cmd(&[b"SENTINEL".as_slice(), b"FAILOVER", b"mymaster"]),
            Ok(harness::Resp::Simple(_))
        )),
        "SENTINEL FAILOVER kept failing"
    );
    assert!(wait_until(Duration::from_secs(30), || master_port(&mut sc)
        == Some(r.to_string())));
    assert!(wait_until(Duration::from_secs(30), || info_field(
        m,
        "replication",
        "role"
    ) == "slave"));
    assert!(wait_until(Duration::from_secs(30), || info_field(
        r,
        "replication",
        "role"
    ) == "master"));

    ftp.expect("MKD b", 257);
    ftp.quit();
    let items = replica.client().wait_for_list("raw", 3);
    let raw: Vec<String> = parse(&items)
        .iter()
        .map(|o| o["raw_command"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(raw, ["MKD a", "MKD b", "QUIT"]);
}

/// An event Redis can never store (the key holds a string, WRONGTYPE) is
/// dropped with a RedisLog line; it does not block the events behind it.
#[test]
fn wrongtype_event_is_dropped_not_blocking() {
    let redis = RedisServer::start();
    redis.client().cmd(&["SET", "raw", "not a list"]);
    let server = start(
        Modules::Ours,
        &redis_conf(
            &format!("127.0.0.1:{}", redis.port()),
            &format!(
                "{RAW}\nLogFormat m \"%m\"\nRedisLogOnCommand MKD raw\nRedisLogOnCommand MKD,PWD,QUIT m"
            ),
        ),
    );
    let mut ftp = server.login("alice", "secret");
    ftp.expect("MKD a", 257);
    ftp.expect("PWD", 257);
    ftp.quit();
    let m = parse(&redis.client().wait_for_list("m", 3));
    assert_eq!(commands(&m), ["MKD", "PWD", "QUIT"]);
    assert!(wait_until(harness::DEFAULT_TIMEOUT, || server
        .read_file("redis.log")
        .contains("WRONGTYPE")));
    assert_eq!(redis.client().get("raw").as_deref(), Some("not a list"));
}

/// Rules inside <Anonymous> (and `none` there), compared with the C module:
/// the same lists with the same objects.
#[test]
fn anonymous_rules_match_c_module() {
    let mut results = Vec::new();
    for modules in [Modules::DebianC, Modules::Ours] {
        let redis = RedisServer::start();
        let b = Proftpd::builder(modules.clone()).load_module("mod_redis.c");
        let root = b.dir().join("anon");
        std::fs::create_dir_all(root.join("pub")).unwrap();
        std::fs::create_dir_all(root.join("quiet")).unwrap();
        let server = b
            .config(&conf_for(
                &modules,
                &format!(
                    r#"RedisEngine on
RedisServer 127.0.0.1:{}
LogFormat raw "%r"
LogFormat anon "%u %A %m %J"
RedisLogOnCommand PWD,CWD,QUIT raw
<Anonymous @DIR@/anon>
  User alice
  Group alice
  UserAlias anonymous alice
  RedisLogOnCommand PWD,CWD,QUIT anon
  RedisLogFormatExtra anon "{{\"anonymous\":true}}"
  <Directory quiet>
    RedisLogOnCommand none
  </Directory>
</Anonymous>
"#,
                    redis.port()
                ),
            ))
            .start();
        let mut ftp = server.login("anonymous", "me@example.org");
        ftp.expect("PWD", 257);
        ftp.expect("CWD pub", 250);
        ftp.expect("CWD /quiet", 250);
        ftp.expect("PWD", 257);
        ftp.expect("CWD /", 250);
        ftp.quit();
        let mut ftp = server.login("bob", "secret");
        ftp.expect("PWD", 257);
        ftp.quit();
        let mut c = redis.client();
        assert!(wait_until(harness::DEFAULT_TIMEOUT, || c
            .lrange("raw")
            .iter()
            .any(|s| s.contains("QUIT"))
            && c.lrange("anon").iter().any(|s| s.contains("QUIT"))));
        results.push((c.lrange("raw"), c.lrange("anon")));
    }
    let anon = parse(&results[1].1);
    assert_eq!(anon[0]["anon_password"], "me@example.org", "{anon:?}");
    assert_eq!(anon[0]["anonymous"], true);
    if c_lacks_format_extra() {
        // 1.3.7's C module has no RedisLogFormatExtra: compare without it.
        let drop = |items: &[String]| -> Vec<String> {
            parse(items)
                .into_iter()
                .map(|mut m| {
                    m.shift_remove("anonymous");
                    Value::Object(m).to_string()
                })
                .collect()
        };
        results[1] = (results[1].0.clone(), drop(&results[1].1));
    }
    assert_eq!(results[0], results[1], "C vs ours");
}

/// A redis-sentinel process monitoring `mymaster` at 127.0.0.1:`master`.
struct Sentinel {
    port: u16,
    child: std::process::Child,
    _dir: tempfile::TempDir,
}

impl Sentinel {
    fn start(master: u16) -> Sentinel {
        Sentinel::start_with(master, "")
    }

    /// On a plain port, with `extra` config lines.
    fn start_with(master: u16, extra: &str) -> Sentinel {
        Sentinel::spawn(
            |port| {
                format!("port {port}\nsentinel monitor mymaster 127.0.0.1 {master} 1\n{extra}\n")
            },
            |port| {
                RedisClient::try_connect(port)
                    .and_then(|mut c| {
                        c.try_cmd(&[
                            b"SENTINEL".as_slice(),
                            b"get-master-addr-by-name",
                            b"mymaster",
                        ])
                    })
                    .is_ok_and(|r| matches!(r, harness::Resp::Array(Some(_))))
            },
        )
    }

    /// On a TLS port only (certificates of [`make_certs`] in `certs`),
    /// talking TLS to the master at 127.0.0.1:`master_tls` too.
    fn start_tls(master_tls: u16, certs: &str) -> Sentinel {
        let ca = format!("{certs}/ca.crt");
        Sentinel::spawn(
            |port| {
                format!(
                    "port 0\ntls-port {port}\ntls-cert-file {certs}/r.crt\ntls-key-file {certs}/r.key\n\
                     tls-ca-cert-file {ca}\ntls-auth-clients no\ntls-replication yes\n\
                     sentinel monitor mymaster 127.0.0.1 {master_tls} 1\n"
                )
            },
            |port| {
                std::process::Command::new(harness::redis::cli_bin())
                    .args(["--tls", "--cacert", &ca, "-h", "127.0.0.1", "-p"])
                    .arg(port.to_string())
                    .args(["SENTINEL", "get-master-addr-by-name", "mymaster"])
                    .output()
                    .is_ok_and(|o| {
                        String::from_utf8_lossy(&o.stdout).contains(&master_tls.to_string())
                    })
            },
        )
    }

    /// Starts redis-sentinel with `conf(port)` (plus bind and dir) and waits
    /// until `ready(port)`.
    fn spawn(conf: impl FnOnce(u16) -> String, mut ready: impl FnMut(u16) -> bool) -> Sentinel {
        let dir = tempfile::tempdir().unwrap();
        let port = harness::free_port();
        let path = dir.path().join("sentinel.conf");
        std::fs::write(
            &path,
            format!(
                "bind 127.0.0.1\ndir {}\n{}",
                dir.path().display(),
                conf(port)
            ),
        )
        .unwrap();
        let child = std::process::Command::new(harness::redis::sentinel_bin())
            .arg(&path)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("redis-sentinel (REDIS_SENTINEL_BIN)");
        let s = Sentinel {
            port,
            child,
            _dir: dir,
        };
        assert!(
            wait_until(harness::DEFAULT_TIMEOUT, || ready(port)),
            "redis-sentinel did not come up"
        );
        s
    }
}

impl Drop for Sentinel {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// RedisSentinel also configures the core: mod_ban's `BanCache redis`
/// finds the master through the Sentinel (no RedisServer at all).
#[test]
fn mod_ban_through_sentinel() {
    let redis = RedisServer::start();
    let sentinel = Sentinel::start(redis.port());
    let conf = format!(
        "RedisEngine on\nRedisSentinel 127.0.0.1:{} master mymaster\nBanEngine on\nBanLog @DIR@/ban.log\n\
         BanTable @DIR@/ban.tab\nBanCache redis\nMaxLoginAttempts 1\n\
         BanOnEvent MaxLoginAttempts 1/00:10:00 00:05:00\n",
        sentinel.port
    );
    let server = Proftpd::builder(Modules::Ours)
        .load_modules(&["mod_redis.c", "mod_ban.c"])
        .config(&conf)
        .start();
    let mut ftp = server.connect();
    ftp.expect("USER alice", 331);
    let _ = ftp.try_cmd("PASS wrong");
    let mut c = redis.client();
    assert!(
        wait_until(harness::DEFAULT_TIMEOUT, || !c.keys("mod_ban*").is_empty()),
        "no mod_ban key in Redis: {:?}\nban.log:\n{}",
        c.keys("*"),
        String::from_utf8_lossy(&server.try_read_file("ban.log").unwrap_or_default())
    );
}

/// A <VirtualHost> with its own RedisEngine/RedisServer/rules: each server's
/// sessions log to their own Redis.
#[test]
fn virtual_host_has_its_own_settings() {
    let main_redis = RedisServer::start();
    let vhost_redis = RedisServer::start();
    let p2 = harness::free_port();
    let server = Proftpd::builder(Modules::Ours)
        .load_module("mod_redis.c")
        .wait_port(p2)
        .config(&format!(
            r#"RedisEngine on
RedisServer 127.0.0.1:{}
LogFormat raw "%r"
RedisLogOnCommand PWD raw
<VirtualHost 127.0.0.1>
  Port {p2}
  AuthOrder mod_auth_file.c
  AuthUserFile @DIR@/ftpd.passwd
  AuthGroupFile @DIR@/ftpd.group
  RequireValidShell off
  RedisEngine on
  RedisServer 127.0.0.1:{}
  RedisLogOnCommand PWD,QUIT raw "vhost:%m"
</VirtualHost>
"#,
            main_redis.port(),
            vhost_redis.port()
        ))
        .start();
    let mut ftp = server.login("alice", "secret");
    ftp.expect("PWD", 257);
    ftp.quit();
    let mut ftp = harness::Ftp::connect(p2);
    ftp.login("alice", "secret");
    ftp.expect("PWD", 257);
    ftp.quit();
    assert_eq!(
        parse(&main_redis.client().wait_for_list("raw", 1))[0]["raw_command"],
        "PWD"
    );
    let mut v = vhost_redis.client();
    v.wait_for_list("vhost:PWD", 1);
    v.wait_for_list("vhost:QUIT", 1);
    assert!(v.keys("raw").is_empty());
    assert_eq!(main_redis.client().keys("vhost:*"), Vec::<String>::new());
}

/// Makes a throwaway CA and a server certificate for 127.0.0.1 in `dir`.
fn make_certs(dir: &std::path::Path) {
    let run = |args: &[&str]| {
        let st = std::process::Command::new("openssl")
            .args(args)
            .current_dir(dir)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status()
            .expect("openssl");
        assert!(st.success(), "openssl {args:?}");
    };
    run(&[
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        "ca.key",
        "-out",
        "ca.crt",
        "-days",
        "2",
        "-subj",
        "/CN=proftpd-rs test CA",
    ]);
    run(&[
        "req",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        "r.key",
        "-out",
        "r.csr",
        "-subj",
        "/CN=127.0.0.1",
    ]);
    std::fs::write(
        dir.join("ext"),
        "subjectAltName=IP:127.0.0.1,DNS:localhost\n",
    )
    .unwrap();
    run(&[
        "x509",
        "-req",
        "-in",
        "r.csr",
        "-CA",
        "ca.crt",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-out",
        "r.crt",
        "-days",
        "2",
        "-extfile",
        "ext",
    ]);
    // Readable by redis-server and the harness.
    for f in ["ca.crt", "r.crt", "r.key"] {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(dir.join(f), std::fs::Permissions::from_mode(0o644)).unwrap();
    }
}

/// A redis-server with a TLS port (the certificates of [`make_certs`] in
/// `certs`; `tls-auth-clients` as given) besides its plain one; returns it
/// and the TLS port.
fn tls_redis(certs: &str, auth_clients: &str) -> (RedisServer, u16) {
    let tls_port = harness::free_port();
    let redis = RedisServer::builder()
        .config(&format!("tls-port {tls_port}"))
        .config(&format!("tls-cert-file {certs}/r.crt"))
        .config(&format!("tls-key-file {certs}/r.key"))
        .config(&format!("tls-ca-cert-file {certs}/ca.crt"))
        .config(&format!("tls-auth-clients {auth_clients}"))
        .start();
    (redis, tls_port)
}

/// RedisServer ... ssl:true ssl-ca:... against redis-server's TLS port, without
/// and with a client certificate (ssl-cert/ssl-key, `tls-auth-clients yes`).
#[test]
fn tls_connection() {
    if tls_refused() {
        return;
    }
    let certs = tempfile::tempdir().unwrap();
    make_certs(certs.path());
    let d = certs.path().display();
    for (auth_clients, client) in [
        ("no", String::new()),
        ("yes", format!(" ssl-cert:{d}/r.crt ssl-key:{d}/r.key")),
    ] {
        let (redis, tls_port) = tls_redis(&d.to_string(), auth_clients);
        let server = start(
            Modules::Ours,
            &redis_conf(
                &format!("127.0.0.1:{tls_port} ssl:true ssl-ca:{d}/ca.crt{client}"),
                &format!("{RAW}\nRedisLogOnCommand PWD raw"),
            ),
        );
        let mut ftp = server.login("alice", "secret");
        ftp.expect("PWD", 257);
        ftp.quit();
        let items = redis.client().wait_for_list("raw", 1);
        assert_eq!(
            parse(&items)[0]["raw_command"],
            "PWD",
            "client cert: {client}"
        );
    }
}

/// ssl:true against a server that accepts and never answers (no TLS
/// handshake): replies are not delayed beyond the timeouts.
#[test]
fn tls_silent_server_does_not_delay_replies() {
    if tls_refused() {
        return;
    }
    let certs = tempfile::tempdir().unwrap();
    make_certs(certs.path());
    let d = certs.path().display();
    let port = harness::util::silent_server();
    for spec in [
        format!("127.0.0.1:{port} ssl:true ssl-ca:{d}/ca.crt"),
        // A silent Sentinel, asked over TLS.
        format!("127.0.0.1\nRedisSentinel 127.0.0.1:{port} ssl:true ssl-ca:{d}/ca.crt"),
    ] {
        let (_server, per_cmd) = assert_replies_not_delayed(&spec);
        assert!(
            per_cmd < Duration::from_millis(50),
            "{spec}: per command {per_cmd:?}"
        );
    }
}

/// RedisSentinel ... ssl:true: the Sentinel is asked over TLS (it listens
/// on a TLS port only), and the master it names is reached over TLS too,
/// with RedisServer's ACL user, password and db index (AUTH + SELECT inside
/// the TLS session).  Passwords stay out of the logs.
#[test]
fn sentinel_over_tls_with_auth_and_db_index() {
    if tls_refused() {
        return;
    }
    let certs = tempfile::tempdir().unwrap();
    make_certs(certs.path());
    let d = certs.path().display().to_string();
    let (master, tls_port) = tls_redis(&d, "no");
    master.client().acl_setuser("ftplog", "s3cr3t");

    // A Sentinel with no plain port, talking TLS to the master too.
    let sentinel = Sentinel::start_tls(tls_port, &d);
    let sport = sentinel.port;

    let server = start(
        Modules::Ours,
        &format!(
            "RedisEngine on\nRedisServer 127.0.0.1 ftplog s3cr3t 3\n\
             RedisSentinel 127.0.0.1:{sport} master mymaster ssl:true ssl-ca:{d}/ca.crt\n\
             RedisTimeouts 500 500\nRedisLog @DIR@/redis.log\n{RAW}\nRedisLogOnCommand PWD,QUIT raw\n"
        ),
    );
    let mut ftp = server.login("alice", "secret");
    ftp.expect("PWD", 257);
    ftp.quit();
    let mut c = master.client();
    c.cmd(&["SELECT", "3"]);
    let items = c.wait_for_list("raw", 2);
    let raw: Vec<String> = parse(&items)
        .iter()
        .map(|o| o["raw_command"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(raw, ["PWD", "QUIT"]);
    let log = server.read_file("redis.log");
    assert!(!log.contains("s3cr3t"), "{log}");
    assert!(!server.logs().contains("s3cr3t"));
}

/// mod_wrap2_redis (Debian's C module) reads mod_redis's config records
/// itself (RedisEngine, RedisServer, RedisTimeouts in `main_server->conf`)
/// and keeps its access tables in Redis: with our mod_redis it must find
/// the same server and decide the same way as with the C mod_redis.
#[test]
fn mod_wrap2_redis_uses_our_config() {
    for modules in [Modules::DebianC, Modules::Ours] {
        let redis = RedisServer::start();
        let mut c = redis.client();
        c.cmd(&["RPUSH", "wrapdeny", "ALL"]);
        c.cmd(&["RPUSH", "wrapallow", "bob"]);
        let server = Proftpd::builder(modules.clone())
            .load_modules(&["mod_redis.c", "mod_wrap2.c", "mod_wrap2_redis.c"])
            .config(&format!(
                "RedisLog @DIR@/redis.log\nRedisEngine on\nRedisServer 127.0.0.1:{}\nRedisTimeouts 400 400\n\
                 WrapEngine on\nWrapLog @DIR@/wrap.log\n\
                 WrapUserTables * redis:/list:wrapallow.%{{name}} redis:/list:wrapdeny\n",
                redis.port()
            ))
            .start();
        c.cmd(&["RPUSH", "wrapallow.bob", "ALL"]);
        let mut ftp = server.connect();
        ftp.expect("USER alice", 331);
        let denied = ftp.cmd("PASS secret");
        assert_eq!(denied.code, 530, "{modules:?}: alice {denied:?}");
        let mut ftp = server.connect();
        ftp.login("bob", "secret");
        ftp.expect("PWD", 257);
        ftp.quit();
        let mut s = server;
        s.stop();
        let logs = s.logs();
        assert!(
            !logs.contains("signal 11") && !logs.contains("SIGSEGV"),
            "{modules:?}: {logs}"
        );
    }
}

/// mod_tls_redis (Debian's C module) reads our `RedisEngine` record and
/// uses the core's connection that our `RedisServer` configured: TLS
/// sessions land in Redis as with the C mod_redis, and `RedisEngine off`
/// keeps them out.
#[test]
fn mod_tls_redis_session_cache() {
    let certs = tempfile::tempdir().unwrap();
    make_certs(certs.path());
    let d = certs.path().display();
    for (modules, engine) in [
        (Modules::DebianC, "on"),
        (Modules::Ours, "on"),
        (Modules::Ours, "off"),
    ] {
        let redis = RedisServer::start();
        let server = Proftpd::builder(modules.clone())
            .load_modules(&["mod_redis.c", "mod_tls.c", "mod_tls_redis.c"])
            .config(&format!(
                "RedisLog @DIR@/redis.log\nRedisEngine {engine}\nRedisServer 127.0.0.1:{}\n\
                 TLSEngine on\nTLSRSACertificateFile {d}/r.crt\nTLSRSACertificateKeyFile {d}/r.key\n\
                 TLSProtocol TLSv1.2\nTLSOptions NoSessionReuseRequired\nTLSVerifyClient off\n\
                 TLSLog @DIR@/tls.log\nTLSSessionCache redis:\n",
                redis.port()
            ))
            .start();
        let out = std::process::Command::new("curl")
            .args([
                "-sS",
                "--ssl-reqd",
                "-k",
                "--tls-max",
                "1.2",
                "-u",
                "alice:secret",
            ])
            .arg(format!("ftp://127.0.0.1:{}/", server.port()))
            .output()
            .expect("curl");
        assert!(
            out.status.success(),
            "{modules:?}: curl: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let mut c = redis.client();
        let what = format!("{modules:?} RedisEngine {engine}");
        if engine == "on" {
            assert!(
                wait_until(harness::DEFAULT_TIMEOUT, || !c
                    .keys("mod_tls_redis.sessions.*")
                    .is_empty()),
                "{what}: no TLS session in Redis: {:?}\n{}",
                c.keys("*"),
                server.read_file("tls.log")
            );
        } else {
            assert!(c.keys("*").is_empty(), "{what}: {:?}", c.keys("*"));
        }
    }
}

/// Without `ssl-ca:` the server is checked against the system's CAs: a
/// certificate of our throwaway CA is refused (nothing is sent), and
/// RedisLog says why.
#[test]
fn tls_verifies_the_server_certificate() {
    if tls_refused() {
        return;
    }
    let certs = tempfile::tempdir().unwrap();
    make_certs(certs.path());
    let d = certs.path().display();
    let (redis, tls_port) = tls_redis(&d.to_string(), "no");
    let server = start(
        Modules::Ours,
        &redis_conf(
            &format!("127.0.0.1:{tls_port} ssl:true"),
            &format!("RedisTimeouts 500 500\n{RAW}\nRedisLogOnCommand PWD raw"),
        ),
    );
    let mut ftp = server.login("alice", "secret");
    ftp.expect("PWD", 257);
    ftp.quit();
    let log = wait_redis_log(&server, "could not be delivered");
    assert!(log.contains("certificate"), "{log}");
    assert!(redis.client().keys("*").is_empty());
}

/// RedisLogFormatExtra with values of every JSON type, in several orders:
/// the same JSON objects as Debian's C module (which leaves out objects,
/// arrays; null is kept).
#[test]
fn format_extra_value_types_match_c_module() {
    let extras = [
        r#"{"a":"x","b":{},"c":[1,3,5],"d":null}"#,
        r#"{"d":null,"b":{"k":1},"c":[],"e":"y","n":1.5,"t":true,"f":false}"#,
        r#"{"c":[{"x":1}],"n":42,"b":{"k":[1]},"s":"%u"}"#,
    ];
    // What Debian 12's C module (1.3.8) logs: for 1.3.7, whose C module
    // has no RedisLogFormatExtra, ours is compared with this.
    let c_1_3_8 = [
        r#"{"command":"PWD","a":"x","d":null}"#,
        r#"{"command":"PWD","d":null,"e":"y","n":1.5,"t":true,"f":false}"#,
        r#"{"command":"PWD","n":42,"s":"alice"}"#,
    ];
    let mut results = Vec::new();
    for modules in [Modules::DebianC, Modules::Ours] {
        if matches!(modules, Modules::DebianC) && c_lacks_format_extra() {
            results.push(c_1_3_8.map(String::from).to_vec());
            continue;
        }
        let redis = RedisServer::start();
        let mut rest = String::from("LogFormat m \"%m\"\nRedisLogOnCommand PWD m\n");
        for (i, e) in extras.iter().enumerate() {
            rest.push_str(&format!(
                "LogFormat x{i} \"%m\"\nRedisLogOnCommand PWD x{i}\nRedisLogFormatExtra x{i} {}\n",
                serde_json::to_string(e).unwrap()
            ));
        }
        let server = start(
            modules.clone(),
            &redis_conf(&format!("127.0.0.1:{}", redis.port()), &rest),
        );
        let mut ftp = server.login("alice", "secret");
        ftp.expect("PWD", 257);
        ftp.quit();
        let mut c = redis.client();
        let got: Vec<String> = (0..extras.len())
            .map(|i| c.wait_for_list(&format!("x{i}"), 1).remove(0))
            .collect();
        results.push(got);
    }
    assert_eq!(results[0], results[1], "C vs ours");
    assert_eq!(results[1], c_1_3_8);
}

/// User names and passwords with `:`, an `ssl` prefix and other odd bytes
/// (the C module took such words for options; ours refused them with the
/// password in the error): they authenticate, and no output — `proftpd -t`,
/// stderr, SystemLog (debug level 10), RedisLog — ever contains them, neither
/// after a good login, nor a refused one, nor a config error.
#[test]
fn odd_credentials_work_and_never_show() {
    let redis = RedisServer::start();
    let p = redis.port();
    let mut admin = redis.client();
    let creds: &[(&str, &str)] = &[
        ("alice", "pa:ss"),
        ("bob", "sslpass"),
        ("ssluser", "ssl-cat"),
        ("carol", r#"p@ss%w#rd"x\y'é&:ssl{}"#),
    ];
    for (u, pw) in creds {
        admin.acl_setuser(u, pw);
    }
    admin.cmd(&["CONFIG", "SET", "requirepass", "hunter2"]);
    let secrets = [
        "pa:ss", "sslpass", "ssl-cat", "p@ss%w", "hunter2", "wr0ng:pw",
    ];
    let leaks = |what: &str, text: &str| {
        for s in secrets {
            assert!(!text.contains(s), "{what} contains {s:?}:\n{text}");
        }
    };
    for (i, (u, pw)) in creds.iter().enumerate() {
        let spec = format!("127.0.0.1:{p} {u} {pw} {i}");
        let conf = redis_conf(&spec, &format!("{RAW}\nRedisLogOnCommand PWD raw"));
        let (ok, out) = check_config(Modules::Ours, &["mod_redis.c"], &conf);
        assert!(ok, "{spec}: {out}");
        leaks("proftpd -t", &out);
        let server = Proftpd::builder(Modules::Ours)
            .load_module("mod_redis.c")
            .debug_level(10)
            .config(&conf)
            .start();
        let mut ftp = server.login("alice", "secret");
        ftp.expect("PWD", 257);
        ftp.quit();
        let mut c = redis.client();
        c.cmd(&["AUTH", "hunter2"]);
        c.cmd(&["SELECT", &i.to_string()]);
        let items = c.wait_for_list("raw", 1);
        assert_eq!(parse(&items)[0]["raw_command"], "PWD", "{spec}");
        leaks("RedisLog", &server.read_file("redis.log"));
        leaks("SystemLog/stderr", &server.logs());
    }
    // Refused by Redis: the error is logged, the password is not.
    let conf = redis_conf(
        &format!("127.0.0.1:{p} {}", user_password("alice", "wr0ng:pw")),
        &format!("{RAW}\nRedisLogOnCommand PWD raw"),
    );
    let server = Proftpd::builder(Modules::Ours)
        .load_module("mod_redis.c")
        .debug_level(10)
        .config(&conf)
        .start();
    let mut ftp = server.login("alice", "secret");
    ftp.expect("PWD", 257);
    ftp.quit();
    let log = wait_redis_log(&server, "error");
    leaks("RedisLog", &log);
    leaks("SystemLog/stderr", &server.logs());
    // Config errors next to a password do not print it.
    for line in [
        "RedisServer 127.0.0.1 alice pa:ss notanumber",
        "RedisServer 127.0.0.1 alice pa:ss 0 sslpass",
        "RedisServer 127.0.0.1 alice pa:ss ssl:hunter2",
        "RedisServer 127.0.0.1:bad alice pa:ss",
    ] {
        let (ok, out) = check_config(Modules::Ours, &["mod_redis.c"], &format!("{RAW}\n{line}\n"));
        assert!(!ok, "accepted: {line}\n{out}");
        assert!(out.contains("RedisServer"), "{line}: {out}");
        leaks(line, &out);
    }
}

/// `ssl:true` with its ssl-* files is handed to the core too (as the C
/// module does), for mod_ban etc.  Debian's core has no Redis TLS and
/// ignores them (a core with it would connect over TLS); here: the config
/// is accepted, our own connection logs over TLS, and a mod_ban
/// `BanCache redis` session (whose core connection reaches a TLS port in
/// clear text and fails) neither breaks nor crashes anything.
#[test]
fn core_gets_tls_settings_and_mod_ban_copes() {
    if tls_refused() {
        return;
    }
    let certs = tempfile::tempdir().unwrap();
    make_certs(certs.path());
    let d = certs.path().display();
    let (redis, tls_port) = tls_redis(&d.to_string(), "no");
    let conf = format!(
        "RedisEngine on\nRedisLog @DIR@/redis.log\nRedisTimeouts 500 500\n\
         RedisServer 127.0.0.1:{tls_port} ssl:true ssl-ca:{d}/ca.crt ssl-cert:{d}/r.crt ssl-key:{d}/r.key\n\
         {RAW}\nRedisLogOnCommand PWD,PASS raw\n\
         BanEngine on\nBanLog @DIR@/ban.log\nBanTable @DIR@/ban.tab\nBanCache redis\n\
         MaxLoginAttempts 1\nBanOnEvent MaxLoginAttempts 1/00:10:00 00:05:00\n"
    );
    let (ok, out) = check_config(Modules::Ours, &["mod_redis.c", "mod_ban.c"], &conf);
    assert!(ok, "{out}");
    let mut server = Proftpd::builder(Modules::Ours)
        .load_modules(&["mod_redis.c", "mod_ban.c"])
        .config(&conf)
        .start();
    let mut ftp = server.login("alice", "secret");
    ftp.expect("PWD", 257);
    ftp.quit();
    redis.client().wait_for_list("raw", 2);
    let mut ftp = server.connect();
    ftp.expect("USER bob", 331);
    let _ = ftp.try_cmd("PASS wrong");
    drop(ftp);
    // mod_ban handled the event (its table, at least), the logs stay clean.
    let ban = wait_until(harness::DEFAULT_TIMEOUT, || {
        String::from_utf8_lossy(&server.try_read_file("ban.log").unwrap_or_default())
            .contains("autoban for host")
    });
    assert!(ban, "ban.log:\n{}", server.read_file("ban.log"));
    let ban_log = server.read_file("ban.log");
    assert!(ban_log.contains("autoban for host"), "{ban_log}");
    assert!(server.is_running());
    // The ban holds (from mod_ban's table): the next connection is closed.
    assert!(harness::Ftp::try_connect(server.port()).is_err());
    let logs = server.logs();
    assert!(
        !logs.contains("signal 11") && !logs.contains("SIGSEGV"),
        "{logs}"
    );
}

/// A RedisServer inside a `<VirtualHost>` is that vhost's only: it does not
/// replace the server config's core Redis settings (the core's
/// check_context says `<VirtualHost>`, not "server config").  mod_ban's
/// `BanCache redis` in a main-server session uses the main Redis.
#[test]
fn vhost_redis_server_does_not_replace_the_main_one() {
    let main_redis = RedisServer::start();
    let vhost_redis = RedisServer::start();
    let p2 = harness::free_port();
    let server = Proftpd::builder(Modules::Ours)
        .load_modules(&["mod_redis.c", "mod_ban.c"])
        .wait_port(p2)
        .config(&format!(
            "RedisEngine on\nRedisServer 127.0.0.1:{}\nBanEngine on\nBanLog @DIR@/ban.log\n\
             BanTable @DIR@/ban.tab\nBanCache redis\nMaxLoginAttempts 1\n\
             BanOnEvent MaxLoginAttempts 1/00:10:00 00:05:00\n\
             <VirtualHost 127.0.0.1>\n  Port {p2}\n  RedisEngine on\n  RedisServer 127.0.0.1:{}\n\
             </VirtualHost>\n",
            main_redis.port(),
            vhost_redis.port()
        ))
        .start();
    let mut ftp = server.connect();
    ftp.expect("USER alice", 331);
    let _ = ftp.try_cmd("PASS wrong");
    let mut m = main_redis.client();
    assert!(
        wait_until(harness::DEFAULT_TIMEOUT, || !m.keys("mod_ban*").is_empty()),
        "no mod_ban key in the main server's Redis: main {:?}, vhost {:?}\nban.log:\n{}",
        m.keys("*"),
        vhost_redis.client().keys("*"),
        String::from_utf8_lossy(&server.try_read_file("ban.log").unwrap_or_default())
    );
    assert_eq!(vhost_redis.client().keys("*"), Vec::<String>::new());
}
