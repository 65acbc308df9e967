//! The Docker images of docker/ (proftpd-rs:SUITE, proftpd-rs-redis:SUITE) in
//! containers: the harness's FTP client on this machine talks to a container's
//! published ports; two proftpd containers log into one Redis over a private
//! network; Redis stopped or cut off mid-session; `docker stop` mid-transfer.
//!
//! Skipped (passing, with a "skipped" line) unless `PROFTPD_RS_DOCKER=1`:
//! scripts/docker-test.sh builds the images and runs these once per Debian
//! release, with `PROFTPD_RS_DOCKER_SUITE=SUITE` (default bookworm), and
//! again with `PROFTPD_RS_DOCKER_SERVER=valkey` (the Valkey image
//! proftpd-rs-valkey:SUITE in place of proftpd-rs-redis:SUITE) where the
//! release has Valkey.

mod harness;

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::io::Write;
use std::net::TcpStream;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Output;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use harness::docker::{
    Compose, Container, Network, docker, docker_output, free_port_range, unique_name,
};
use harness::util::{TestDir, complete_lines};
use harness::{Ftp, SECRET_HASH, free_port, wait_for_lines, wait_until};
use proftpd_rs::xferlog::format::{Completion, Direction, parse_line};
use serde_json::Value;

const USER: &str = "alice";
const PASSWORD: &str = "s3cret-docker";
const WRONG: &str = "wrong-pass-x";
/// The container's RedisTimeouts (docker/proftpd.conf): connect 500 ms, io 500 ms.
const REDIS_TIMEOUTS: Duration = Duration::from_millis(1000);
const LONG: Duration = Duration::from_secs(30);

fn enabled(test: &str) -> bool {
    if std::env::var("PROFTPD_RS_DOCKER").as_deref() == Ok("1") {
        harness::util::require_root();
        return true;
    }
    eprintln!(
        "docker::{test}: skipped: PROFTPD_RS_DOCKER is not 1 (scripts/docker-test.sh runs these)"
    );
    false
}

fn suite() -> String {
    std::env::var("PROFTPD_RS_DOCKER_SUITE").unwrap_or_else(|_| "bookworm".into())
}

/// The proftpd image: `proftpd-rs:SUITE`, or the one
/// `PROFTPD_RS_DOCKER_IMAGE` names (an image built from a work tree under
/// another tag, so as not to replace the shared one).
fn image() -> String {
    std::env::var("PROFTPD_RS_DOCKER_IMAGE").unwrap_or_else(|_| format!("proftpd-rs:{}", suite()))
}

/// The key-value server of the stack: `redis` (default) or `valkey`.
fn server() -> String {
    std::env::var("PROFTPD_RS_DOCKER_SERVER").unwrap_or_else(|_| "redis".into())
}

fn redis_image() -> String {
    format!("proftpd-rs-{}:{}", server(), suite())
}

// --- Redis in a container ----------------------------------------------------------

/// The Redis container on a private network of its own, which the
/// proftpd containers of a test join ([`Redis::ftpd`]).
struct Redis {
    // Dropped in this order: the container, then its network.
    c: Container,
    ip: String,
    net: Network,
}

impl Redis {
    /// On a new network, at the fixed address `<net>.2` (a restarted or
    /// reconnected container keeps it; proftpd sessions resolve the address
    /// once).
    fn start() -> Redis {
        let net = Network::new();
        let ip = net.addr(2);
        let c = Container::builder(&redis_image(), "redis")
            .network(&net, Some(&ip))
            .start();
        let r = Redis { c, ip, net };
        r.wait_ready();
        r
    }

    /// A proftpd container on Redis's network, logging into it
    /// (REDIS_SERVER), with the other settings of `o`.
    fn ftpd(&self, o: FtpdOptions) -> Ftpd {
        Ftpd::start(FtpdOptions {
            net: Some(&self.net),
            redis: Some(self.ip.clone()),
            ..o
        })
    }

    /// [`Redis::ftpd`] at `<net>.HOST` for each of `hosts`, with the
    /// settings `o()`: each container with its address.
    fn ftpd_hosts(
        &self,
        hosts: &[u8],
        o: impl Fn() -> FtpdOptions<'static>,
    ) -> Vec<(String, Ftpd)> {
        hosts
            .iter()
            .map(|h| {
                let ip = self.net.addr(*h);
                let ftpd = self.ftpd(FtpdOptions {
                    ip: Some(ip.clone()),
                    ..o()
                });
                (ip, ftpd)
            })
            .collect()
    }

    fn wait_ready(&self) {
        assert!(
            wait_until(LONG, || self
                .cli(&["PING"])
                .is_some_and(|o| o.trim() == "PONG")),
            "redis did not answer PING"
        );
    }

    /// `redis-cli --raw ARGS` (`valkey-cli`) inside the container; None if
    /// it fails.
    fn cli(&self, args: &[&str]) -> Option<String> {
        let cli = format!("{}-cli", server());
        let mut cmd = vec![cli.as_str(), "--raw"];
        cmd.extend_from_slice(args);
        let out = self.c.exec(&cmd);
        out.status
            .success()
            .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
    }

    /// The JSON objects on the list "proftpd", oldest first.
    fn events(&self) -> Vec<Value> {
        self.cli(&["LRANGE", "proftpd", "0", "-1"])
            .unwrap_or_default()
            .lines()
            .filter(|l| !l.is_empty())
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("bad JSON {l:?}: {e}")))
            .collect()
    }

    /// Waits until `cond(events)`; returns the events; panics after `timeout`.
    fn wait_events(&self, timeout: Duration, mut cond: impl FnMut(&[Value]) -> bool) -> Vec<Value> {
        let mut events = Vec::new();
        if !wait_until(timeout, || {
            events = self.events();
            cond(&events)
        }) {
            panic!(
                "timed out after {timeout:?} waiting for redis events; the list has {}:\n{}",
                events.len(),
                events
                    .iter()
                    .map(Value::to_string)
                    .collect::<Vec<_>>()
                    .join("\n")
            );
        }
        events
    }
}

// --- proftpd in a container ------------------------------------------------------------

struct Ftpd {
    c: Container,
    port: u16,
    logs: TestDir,
    /// docker run until proftpd's STARTUP line.
    start_time: Duration,
}

struct FtpdOptions<'a> {
    net: Option<&'a Network>,
    ip: Option<String>,
    redis: Option<String>,
    env_user: bool,
    volumes: Vec<String>,
    /// Other settings (`-e KEY=VALUE`).
    env: Vec<(&'static str, String)>,
}

impl Default for FtpdOptions<'_> {
    fn default() -> Self {
        FtpdOptions {
            net: None,
            ip: None,
            redis: None,
            env_user: true,
            volumes: Vec::new(),
            env: Vec::new(),
        }
    }
}

/// The passive ports of a test's proftpd container.
const PASSIVE_PORTS: u16 = 8;

impl Ftpd {
    fn start(o: FtpdOptions) -> Ftpd {
        let port = free_port();
        // Eight passive ports: four sessions transfer at once in
        // two_hosts_one_redis, and a port may still be held by the one
        // before (sid's 1.3.9e answered "425 PASV: Address already in use"
        // once with four).
        let pasv = free_port_range(PASSIVE_PORTS);
        let last = pasv + PASSIVE_PORTS - 1;
        let range = format!("{pasv}-{last}");
        let logs = TestDir::new("proftpd-rs-docker-logs-");
        let mut b = Container::builder(&image(), "ftpd")
            .publish(&port.to_string(), "21")
            .publish(&range, &range)
            .env("FTP_PASSIVE_PORTS", &format!("{pasv} {last}"))
            .env("FTP_MASQUERADE_ADDRESS", "127.0.0.1")
            .volume(&format!("{}:/var/log/proftpd", logs.path().display()));
        if o.env_user {
            b = b.env("FTP_USER", USER).env("FTP_PASSWORD", PASSWORD);
        }
        if let Some(net) = o.net {
            b = b.network(net, o.ip.as_deref());
        }
        if let Some(r) = &o.redis {
            b = b.env("REDIS_SERVER", &format!("{r}:6379"));
        }
        for v in &o.volumes {
            b = b.volume(v);
        }
        for (k, v) in &o.env {
            b = b.env(k, v);
        }
        let c = b.start();
        c.wait_for_log("standalone mode STARTUP", LONG);
        let start_time = c.started.elapsed();
        Ftpd {
            c,
            port,
            logs,
            start_time,
        }
    }

    fn connect(&self) -> Ftp {
        Ftp::connect(self.port)
    }

    fn login(&self) -> Ftp {
        let mut ftp = self.connect();
        ftp.login(USER, PASSWORD);
        ftp
    }

    fn log(&self, name: &str) -> PathBuf {
        self.logs.path().join(name)
    }

    fn lines(&self, name: &str, n: usize) -> Vec<String> {
        wait_for_lines(self.log(name), n, LONG)
    }

    /// The complete lines of the ExtendedLog now.
    fn extended_log(&self) -> Vec<String> {
        complete_lines(&self.log("extended.log"))
    }

    /// All log files' contents together (for "no password anywhere").
    fn all_logs(&self) -> String {
        let mut all = self.c.logs();
        for e in fs::read_dir(self.logs.path())
            .into_iter()
            .flatten()
            .flatten()
        {
            all.push_str(&String::from_utf8_lossy(
                &fs::read(e.path()).unwrap_or_default(),
            ));
        }
        all
    }
}

/// The Redis container and a proftpd container logging into it (the
/// default settings); `None` (the test returns) unless [`enabled`].
fn redis_and_ftpd(test: &str) -> Option<(Redis, Ftpd)> {
    if !enabled(test) {
        return None;
    }
    let redis = Redis::start();
    let ftpd = redis.ftpd(FtpdOptions::default());
    Some((redis, ftpd))
}

/// What `docker` printed: its stdout, then its stderr.
fn printed(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr)
}

/// Whether a command of `events` had the argument `arg`.
fn has_arg(events: &[Value], arg: &str) -> bool {
    events.iter().any(|e| s(e, "command_params") == arg)
}

/// Waits until the QUIT of the only session in `redis` is there; asserts
/// that the session's MKDs ([`mkd_args`]) are `want`.
fn assert_the_session_made(redis: &Redis, want: &[&str]) {
    let events = redis.wait_events(LONG, |ev| quits(ev) > 0);
    let sessions = by_session(&events);
    assert_eq!(sessions.len(), 1, "{events:?}");
    let evs = sessions.values().next().unwrap();
    assert_eq!(mkd_args(evs), want, "{evs:?}");
}

/// How many QUITs the ExtendedLog `lines` have.
fn ext_quits(lines: &[String]) -> usize {
    lines.iter().filter(|l| l.contains("\"QUIT\"")).count()
}

/// The UNIQUE_ID of an ExtendedLog line (its third field).
fn ext_id(line: &str) -> &str {
    line.split(' ').nth(2).unwrap()
}

/// How many QUIT events there are in `events`.
fn quits(events: &[Value]) -> usize {
    events.iter().filter(|e| s(e, "command") == "QUIT").count()
}

/// A failed login: USER, a wrong PASS (530), QUIT.
fn failed_login(ftpd: &Ftpd) {
    let mut ftp = ftpd.connect();
    ftp.expect(&format!("USER {USER}"), 331);
    ftp.expect(&format!("PASS {WRONG}"), 530);
    ftp.quit();
}

fn s<'a>(v: &'a Value, key: &str) -> &'a str {
    v.get(key).and_then(Value::as_str).unwrap_or("")
}

fn uid(v: &Value) -> &str {
    s(v, "ENV:UNIQUE_ID")
}

/// The commands of one session's events, in list order (CONNECT for the
/// session's first event, which has `"connecting":true` and no command).
fn commands(events: &[&Value]) -> Vec<String> {
    events
        .iter()
        .map(|v| match s(v, "command") {
            "" if v["connecting"] == true => "CONNECT".to_owned(),
            c => c.to_owned(),
        })
        .collect()
}

/// Events grouped by UNIQUE_ID, each group in list order.
fn by_session(events: &[Value]) -> BTreeMap<String, Vec<&Value>> {
    let mut m: BTreeMap<String, Vec<&Value>> = BTreeMap::new();
    for e in events {
        m.entry(uid(e).to_owned()).or_default().push(e);
    }
    m
}

/// The arguments of the MKD events, consecutive repeats (at-least-once
/// delivery sends an unacknowledged event again) merged.
fn mkd_args(events: &[&Value]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for e in events.iter().filter(|e| s(e, "command") == "MKD") {
        let a = s(e, "command_params").to_owned();
        if out.last() != Some(&a) {
            out.push(a);
        }
    }
    out
}

/// Each forensic block complete: BEGIN and END lines paired, nothing outside.
fn forensic_blocks(text: &str) -> Vec<String> {
    let mut blocks = Vec::new();
    let mut cur: Option<String> = None;
    for line in text.split_inclusive('\n') {
        if line.starts_with("-----BEGIN ") {
            assert!(cur.is_none(), "BEGIN inside a block:\n{text}");
            cur = Some(line.to_owned());
        } else if line.starts_with("-----END ") {
            let mut b = cur
                .take()
                .unwrap_or_else(|| panic!("END outside a block:\n{text}"));
            b.push_str(line);
            assert!(line.ends_with('\n'), "torn END line:\n{text}");
            blocks.push(b);
        } else {
            match &mut cur {
                Some(b) => b.push_str(line),
                None => panic!("text outside a forensic block: {line:?}\n{text}"),
            }
        }
    }
    assert!(cur.is_none(), "torn forensic block (no END):\n{text}");
    blocks
}

// --- the tests ----------------------------------------------------------------------------

/// proftpd -vv lists our modules; proftpd -t accepts the configuration; no
/// users in the image: without any, the container refuses to start.
#[test]
fn image_modules_config_and_no_users_baked_in() {
    if !enabled("image_modules_config_and_no_users_baked_in") {
        return;
    }
    let out = docker_output(&["run", "--rm", &image(), "proftpd", "-vv"]);
    let text = printed(&out);
    assert!(out.status.success(), "proftpd -vv: {text}");
    let version = env!("CARGO_PKG_VERSION");
    for m in harness::OUR_MODULES.iter() {
        assert!(
            text.contains(&format!("{m}/{version}-rs")),
            "proftpd -vv does not list {m}/{version}-rs:\n{text}"
        );
    }
    assert!(text.contains("mod_ban/"), "{text}");

    let out = docker_output(&[
        "run",
        "--rm",
        "-e",
        "FTP_USER=alice",
        "-e",
        "FTP_PASSWORD=x",
        "-e",
        "REDIS_SERVER=redis:6379",
        &image(),
        "proftpd",
        "-t",
    ]);
    let text = printed(&out);
    // (Its "Syntax check complete." is lost when stdout is a pipe: proftpd
    // leaves without flushing stdio. The exit status tells.)
    assert!(out.status.success(), "proftpd -t: {text}");
    assert!(!text.contains("fatal"), "{text}");

    let out = docker_output(&["run", "--rm", &image()]);
    let text = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(text.contains("no FTP users"), "{text}");
    let out = docker_output(&[
        "run",
        "--rm",
        &image(),
        "sh",
        "-c",
        "ls /etc/proftpd/ftpd.passwd /run/proftpd-rs/ftpd.passwd 2>/dev/null; true",
    ]);
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "",
        "users in the image"
    );
}

/// Login, upload, list (PASV and EPSV through the published ports), download, a
/// failed login: UNIQUE_IDs in the ExtendedLog, the JSON records in the Redis
/// container, wu-ext xferlog lines, one forensic block; no password anywhere.
#[test]
fn session_through_published_ports() {
    let Some((redis, ftpd)) = redis_and_ftpd("session_through_published_ports") else {
        return;
    };
    eprintln!("container start: {:?}", ftpd.start_time);

    let payload: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
    let mut ftp = ftpd.login();
    ftp.type_i();
    ftp.stor("up.bin", &payload);
    let listing = ftp.list("");
    assert!(listing.contains("up.bin"), "LIST: {listing}");
    ftp.set_data_mode(harness::DataMode::ExtendedPassive);
    assert_eq!(ftp.nlst(""), vec!["up.bin".to_owned()]);
    assert_eq!(ftp.retr("up.bin"), payload);
    ftp.quit();
    failed_login(&ftpd);

    // ExtendedLog: every line has a UNIQUE_ID; the failed login's too; two sessions.
    let ext = wait_for_lines(ftpd.log("extended.log"), 1, LONG);
    let ok = wait_until(LONG, || {
        let now = ftpd.extended_log();
        now.iter()
            .any(|l| l.contains("\"QUIT\"") && l.contains(" - "))
            && ext_quits(&now) == 2
    });
    let ext = if ok { ftpd.extended_log() } else { ext };
    let failed: Vec<&String> = ext
        .iter()
        .filter(|l| l.contains("\"PASS (hidden)\" 530"))
        .collect();
    assert_eq!(failed.len(), 1, "ExtendedLog:\n{}", ext.join("\n"));
    let failed_id = ext_id(failed[0]).to_owned();
    assert!(
        failed_id.len() >= 20 && failed_id != "-",
        "no UNIQUE_ID in {}",
        failed[0]
    );
    let ids: BTreeSet<&str> = ext.iter().map(|l| ext_id(l)).collect();
    assert_eq!(ids.len(), 2, "two sessions, two ids:\n{}", ext.join("\n"));

    // Redis: both sessions' events, in order, with the same ids.
    let events = redis.wait_events(LONG, |ev| quits(ev) == 2);
    let sessions = by_session(&events);
    assert_eq!(
        sessions.keys().map(String::as_str).collect::<BTreeSet<_>>(),
        ids,
        "redis ids vs ExtendedLog ids"
    );
    let bad = &sessions[&failed_id];
    assert!(
        bad.iter()
            .any(|e| s(e, "command") == "PASS" && e["response_code"] == 530),
        "{bad:?}"
    );
    let (good_id, good) = sessions.iter().find(|(k, _)| **k != failed_id).unwrap();
    let cmds = commands(good);
    for c in [
        "USER", "PASS", "TYPE", "STOR", "LIST", "NLST", "RETR", "QUIT",
    ] {
        assert!(cmds.contains(&c.to_owned()), "{c} missing: {cmds:?}");
    }
    let pos = |c: &str| cmds.iter().position(|x| x == c).unwrap();
    assert!(
        pos("USER") < pos("PASS")
            && pos("PASS") < pos("STOR")
            && pos("STOR") < pos("RETR")
            && pos("RETR") < pos("QUIT"),
        "{cmds:?}"
    );
    let stor = good.iter().find(|e| s(e, "command") == "STOR").unwrap();
    assert_eq!(stor["bytes_sent"], payload.len() as u64, "{stor}");
    assert_eq!(s(stor, "user"), USER);
    assert!(!good_id.is_empty());

    // wu-ext xferlog: the upload and the download, completed.
    let xfer = ftpd.lines("xferlog", 2);
    assert_eq!(xfer.len(), 2, "{xfer:?}");
    let recs: Vec<_> = xfer
        .iter()
        .enumerate()
        .map(|(i, l)| parse_line(l, i + 1).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    assert_eq!(recs[0].direction, Direction::Incoming, "{}", xfer[0]);
    assert_eq!(recs[1].direction, Direction::Outgoing, "{}", xfer[1]);
    for (r, l) in recs.iter().zip(&xfer) {
        assert_eq!(r.username, USER, "{l}");
        assert_eq!(r.filename, "/up.bin", "{l}");
        assert_eq!(r.bytes, payload.len() as u64, "{l}");
        let ext = r.ext.as_ref().unwrap_or_else(|| panic!("not wu-ext: {l}"));
        assert_eq!(ext.file_size, payload.len() as u64, "{l}");
        assert_eq!(r.completion, Some(Completion::Complete), "{l}");
    }

    // One forensic block, for the failed login, with its UNIQUE_ID.
    let forensic = wait_for_lines(ftpd.log("forensic.log"), 3, LONG);
    let text = fs::read_to_string(ftpd.log("forensic.log")).unwrap();
    let blocks = forensic_blocks(&text);
    assert_eq!(blocks.len(), 1, "{forensic:?}");
    assert!(
        blocks[0].starts_with("-----BEGIN FAILED LOGIN FORENSICS-----\n"),
        "{}",
        blocks[0]
    );
    assert!(
        blocks[0].contains(&format!("UNIQUE_ID: {failed_id}\n")),
        "{}",
        blocks[0]
    );

    // No password in the logs, Redis or proftpd's environment.
    let everything = ftpd.all_logs() + &redis.cli(&["LRANGE", "proftpd", "0", "-1"]).unwrap();
    for secret in [PASSWORD, WRONG] {
        assert!(!everything.contains(secret), "a password in the logs");
    }
    let env = ftpd.c.exec(&[
        "sh", "-c",
        "for d in /proc/[0-9]*; do [ \"$(cat $d/comm 2>/dev/null)\" = proftpd ] && echo \"$d:\" && tr '\\0' '\\n' <$d/environ; done; true",
    ]);
    let env = String::from_utf8_lossy(&env.stdout);
    assert!(env.contains("/proc/"), "no proftpd process: {env}");
    assert!(
        !env.contains("FTP_PASSWORD") && !env.contains(PASSWORD),
        "{env}"
    );
}

/// Users from a mounted AuthUserFile: the home directory is made, owned by the user.
#[test]
fn users_from_a_mounted_auth_user_file() {
    if !enabled("users_from_a_mounted_auth_user_file") {
        return;
    }
    let dir = TestDir::new("proftpd-rs-docker-users-");
    let users = dir.path().join("ftpd.passwd");
    fs::write(
        &users,
        format!("bob:{SECRET_HASH}:2002:2002::/srv/ftp/bob:/usr/sbin/nologin\n"),
    )
    .unwrap();
    let ftpd = Ftpd::start(FtpdOptions {
        env_user: false,
        volumes: vec![format!("{}:/etc/proftpd/ftpd.passwd:ro", users.display())],
        ..FtpdOptions::default()
    });
    let mut ftp = ftpd.connect();
    ftp.login("bob", "secret");
    ftp.type_i();
    ftp.stor("b.txt", b"bob\n");
    assert_eq!(ftp.retr("b.txt"), b"bob\n");
    ftp.quit();
    let out = ftpd.c.exec(&[
        "stat",
        "-c",
        "%u:%g %a",
        "/srv/ftp/bob",
        "/srv/ftp/bob/b.txt",
    ]);
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "2002:2002 750\n2002:2002 644\n"
    );
}

/// Your own directives in /etc/proftpd/conf.d/*.conf; mod_ban keeps its bans
/// in the Redis container (BanCache redis): a client that reached
/// MaxLoginAttempts three times is refused, and the ban is in Redis.
#[test]
fn conf_d_and_mod_ban_with_redis() {
    if !enabled("conf_d_and_mod_ban_with_redis") {
        return;
    }
    let redis = Redis::start();
    let conf = TestDir::new("proftpd-rs-docker-conf-");
    fs::write(
        conf.path().join("ban.conf"),
        "MaxLoginAttempts 1\nDelayEngine off\n",
    )
    .unwrap();
    let ftpd = redis.ftpd(FtpdOptions {
        volumes: vec![format!("{}:/etc/proftpd/conf.d:ro", conf.path().display())],
        ..FtpdOptions::default()
    });
    for _ in 0..3 {
        let mut ftp = ftpd.connect();
        ftp.expect(&format!("USER {USER}"), 331);
        ftp.expect(&format!("PASS {WRONG}"), 530);
        let _ = ftp.wait_closed();
    }
    let mut refused = String::new();
    let banned = wait_until(LONG, || match Ftp::try_connect(ftpd.port) {
        Ok(mut ftp) => {
            let r = if ftp.banner.code == 220 {
                ftp.try_cmd(&format!("USER {USER}"))
                    .map(|r| r.raw)
                    .unwrap_or_default()
            } else {
                ftp.banner.raw.clone()
            };
            refused = r;
            refused.contains("banned")
        }
        Err(_) => false,
    });
    assert!(
        banned,
        "not banned: {refused}\n{}",
        fs::read_to_string(ftpd.log("ban.log")).unwrap_or_default()
    );
    let keys = redis.cli(&["KEYS", "*"]).unwrap();
    assert!(
        keys.lines().any(|k| k.contains("ban")),
        "no mod_ban key in redis: {keys}"
    );
    eprintln!(
        "refused: {refused}; redis keys: {}",
        keys.trim().replace('\n', " ")
    );
}

/// Two proftpd containers (own addresses on a private network) log into one
/// Redis: every UNIQUE_ID distinct across both, each session's events complete
/// and in order, each attributed to its host.
#[test]
fn two_hosts_one_redis() {
    if !enabled("two_hosts_one_redis") {
        return;
    }
    const PER_HOST: usize = 4;
    let redis = Redis::start();
    let hosts = redis.ftpd_hosts(&[11, 12], FtpdOptions::default);
    // Debian 11's proftpd 1.3.7a sets SO_REUSEPORT on passive data sockets
    // (upstream Issue #1171, fixed in 1.3.7b): two sessions may listen on
    // the same passive port, and the kernel hands a data connection to
    // either. There the transfers (not the sessions) take turns.
    let transfers = std::sync::Mutex::new(());
    let shared_passive_ports = suite() == "bullseye";
    thread::scope(|sc| {
        for (hi, (_, ftpd)) in hosts.iter().enumerate() {
            let transfers = &transfers;
            for i in 0..PER_HOST {
                sc.spawn(move || {
                    let mut ftp = ftpd.login();
                    let d = format!("h{hi}-s{i}");
                    ftp.expect(&format!("MKD {d}"), 257);
                    ftp.expect(&format!("CWD {d}"), 250);
                    let turn = shared_passive_ports
                        .then(|| transfers.lock().unwrap_or_else(|e| e.into_inner()));
                    ftp.stor("f.txt", d.as_bytes());
                    assert_eq!(ftp.retr("f.txt"), d.as_bytes());
                    drop(turn);
                    ftp.expect("CDUP", 250);
                    ftp.quit();
                });
            }
        }
    });
    let events = redis.wait_events(LONG, |ev| quits(ev) == 2 * PER_HOST);
    let sessions = by_session(&events);
    assert_eq!(
        sessions.len(),
        2 * PER_HOST,
        "sessions (UNIQUE_IDs) in redis"
    );
    let mut per_host: BTreeMap<String, usize> = BTreeMap::new();
    let mut expected: Option<Vec<String>> = None;
    for (id, evs) in &sessions {
        assert!(!id.is_empty(), "an event without UNIQUE_ID: {evs:?}");
        let ips: BTreeSet<&str> = evs.iter().map(|e| s(e, "local_ip")).collect();
        assert_eq!(ips.len(), 1, "session {id} on several hosts: {ips:?}");
        let ip = *ips.iter().next().unwrap();
        let hi = hosts
            .iter()
            .position(|(h, _)| h == ip)
            .unwrap_or_else(|| panic!("unknown local_ip {ip}"));
        *per_host.entry(ip.to_owned()).or_default() += 1;
        // Complete and in order: the commands as the client sent them.
        let cmds: Vec<String> = commands(evs)
            .into_iter()
            .filter(|c| c != "PASV" && c != "EPSV")
            .collect();
        assert_eq!(
            cmds,
            [
                "CONNECT", "USER", "PASS", "MKD", "CWD", "STOR", "RETR", "CDUP", "QUIT", "EXIT"
            ]
            .map(String::from),
            "session {id}: {evs:?}"
        );
        if let Some(exp) = &expected {
            assert_eq!(&commands(evs), exp, "sessions differ");
        } else {
            expected = Some(commands(evs));
        }
        let mkd = evs.iter().find(|e| s(e, "command") == "MKD").unwrap();
        assert!(
            s(mkd, "command_params").starts_with(&format!("h{hi}-")),
            "MKD of session {id} on host {ip}: {mkd}"
        );
    }
    assert!(
        per_host.values().all(|n| *n == PER_HOST) && per_host.len() == 2,
        "{per_host:?}"
    );
    // The ExtendedLogs agree: distinct ids across both hosts.
    let mut all_ids = BTreeSet::new();
    for (_, f) in &hosts {
        let ok = wait_until(LONG, || ext_quits(&f.extended_log()) == PER_HOST);
        assert!(ok, "ExtendedLog of {}", f.c.name);
        let ids: BTreeSet<String> = f
            .extended_log()
            .iter()
            .map(|l| ext_id(l).to_owned())
            .collect();
        assert_eq!(ids.len(), PER_HOST);
        all_ids.extend(ids);
    }
    assert_eq!(all_ids.len(), 2 * PER_HOST);
    assert_eq!(
        all_ids,
        sessions.keys().cloned().collect::<BTreeSet<_>>(),
        "ExtendedLog ids vs redis ids"
    );
}

/// MKD `name`, asserting the reply came within the Redis timeouts (plus slack).
fn timed_mkd(ftp: &mut Ftp, name: &str) -> Duration {
    let t = Instant::now();
    ftp.expect(&format!("MKD {name}"), 257);
    let took = t.elapsed();
    assert!(
        took < REDIS_TIMEOUTS + Duration::from_millis(1500),
        "MKD {name} took {took:?}"
    );
    took
}

/// [`timed_mkd`] of each of `names`; returns the slowest reply's time.
fn timed_mkds(ftp: &mut Ftp, names: &[&str]) -> Duration {
    names
        .iter()
        .map(|name| timed_mkd(ftp, name))
        .max()
        .unwrap_or_default()
}

/// The Redis container stopped and started mid-session: no event lost (the
/// session's backlog delivers them, in order).
#[test]
fn redis_restart_mid_session_loses_nothing() {
    let Some((redis, ftpd)) = redis_and_ftpd("redis_restart_mid_session_loses_nothing") else {
        return;
    };
    let mut ftp = ftpd.login();
    timed_mkds(&mut ftp, &["a1", "a2"]);
    redis.wait_events(LONG, |ev| has_arg(ev, "a2"));
    redis.c.stop(10);
    let mut worst = timed_mkds(&mut ftp, &["b1", "b2", "b3"]);
    redis.c.start_again();
    redis.wait_ready();
    worst = worst.max(timed_mkds(&mut ftp, &["c1", "c2"]));
    ftp.quit();
    eprintln!("slowest MKD while Redis was away: {worst:?}");
    assert_the_session_made(&redis, &["a1", "a2", "b1", "b2", "b3", "c1", "c2"]);
}

/// Redis cut off from the network (docker network disconnect): FTP replies stay
/// within the timeouts; the events arrive after it is connected again.
#[test]
fn redis_cut_off_from_the_network() {
    let Some((redis, ftpd)) = redis_and_ftpd("redis_cut_off_from_the_network") else {
        return;
    };
    let mut ftp = ftpd.login();
    timed_mkd(&mut ftp, "a1");
    redis.wait_events(LONG, |ev| has_arg(ev, "a1"));
    docker(&["network", "disconnect", &redis.net.name, &redis.c.name]);
    let mut worst = timed_mkds(&mut ftp, &["b1", "b2", "b3", "b4", "b5"]);
    let (net, ip, name) = (&redis.net.name, &redis.ip, &redis.c.name);
    docker(&["network", "connect", "--ip", ip, net, name]);
    // The session retries after its back-off (1 s, doubling): keep it busy
    // until the events are there.
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut delivered = false;
    while Instant::now() < deadline {
        let t = Instant::now();
        ftp.expect("NOOP", 200);
        worst = worst.max(t.elapsed());
        if has_arg(&redis.events(), "b5") {
            delivered = true;
            break;
        }
        thread::sleep(Duration::from_millis(500));
    }
    assert!(
        delivered,
        "events of the outage not delivered after reconnect"
    );
    timed_mkd(&mut ftp, "c1");
    ftp.quit();
    assert!(
        worst < REDIS_TIMEOUTS + Duration::from_millis(1500),
        "slowest reply {worst:?}"
    );
    eprintln!("slowest reply while Redis was cut off: {worst:?}");
    assert_the_session_made(&redis, &["a1", "b1", "b2", "b3", "b4", "b5", "c1"]);
}

/// Where the spool test mounts each host's spool volume (REDIS_SPOOL).
const SPOOL: &str = "/var/spool/proftpd-redis";

/// The spool files in `ftpd`'s REDIS_SPOOL that hold events (more than
/// the 32-byte header), and the directory's owner and mode.
fn spool_state(ftpd: &Ftpd) -> (Vec<String>, String) {
    let out = ftpd.c.exec(&[
        "sh",
        "-c",
        &format!(
            "stat -c '%U %a' {SPOOL}; for f in {SPOOL}/*.spool; do \
             [ -f \"$f\" ] && [ \"$(stat -c %s \"$f\")\" -gt 32 ] && echo \"$f\"; done; true"
        ),
    ]);
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let mut lines = text.lines();
    let owner = lines.next().unwrap_or_default().to_owned();
    (lines.map(str::to_owned).collect(), owner)
}

/// The Redis container stopped for a minute while sessions run against
/// two proftpd containers, each with its own spool volume (REDIS_SPOOL, an
/// anonymous volume): a long session on each host spools through the
/// outage, sessions that start and end during it leave their events in
/// spool files; after Redis is back, one more session per host delivers
/// them. Every event of both hosts is then in Redis (counted per session:
/// produced, delivered, duplicated, lost), and the spools are drained.
#[test]
fn redis_stopped_a_minute_two_hosts_with_spools() {
    if !enabled("redis_stopped_a_minute_two_hosts_with_spools") {
        return;
    }
    // A minute of outage per run: one release (the CI machine's) and Redis
    // only, not each of scripts/docker-test.sh's runs (the spool's code is
    // the same in every image; the matrix runs tests/redis_spool.rs in each
    // release, Valkey included).
    if suite() != "bookworm" || server() != "redis" {
        eprintln!("skipped: runs for bookworm with Redis only");
        return;
    }
    const OUTAGE: Duration = Duration::from_secs(60);
    const ROUNDS: usize = 6;
    const PER_ROUND: usize = 2;
    const MKDS: usize = 5;
    let redis = Redis::start();
    let hosts = redis.ftpd_hosts(&[21, 22], || FtpdOptions {
        volumes: vec![SPOOL.to_owned()],
        env: vec![("REDIS_SPOOL", SPOOL.to_owned())],
        ..FtpdOptions::default()
    });
    for (_, f) in &hosts {
        assert_eq!(spool_state(f).1, "root 700", "{}", f.c.name);
    }
    // What each session sent: (host, session) -> its events' labels.
    let sent = std::sync::Mutex::new(BTreeMap::<(usize, String), Vec<String>>::new());
    let record = |host: usize, name: &str, mkds: &[String]| {
        let mut labels: Vec<String> = ["CONNECT", "USER", "PASS"].map(String::from).to_vec();
        labels.extend(mkds.iter().map(|m| format!("MKD {m}")));
        labels.extend(["QUIT", "EXIT"].map(String::from));
        sent.lock().unwrap().insert((host, name.to_owned()), labels);
    };
    let session = |host: usize, name: &str, n: usize| {
        let mut ftp = hosts[host].1.login();
        let mkds: Vec<String> = (0..n).map(|j| format!("h{host}-{name}-m{j}")).collect();
        for m in &mkds {
            timed_mkd(&mut ftp, m);
        }
        ftp.quit();
        record(host, name, &mkds);
    };
    // One session per host with Redis there.
    for h in 0..hosts.len() {
        session(h, "before", 1);
    }
    redis.wait_events(LONG, |ev| quits(ev) == hosts.len());
    let redis_back = AtomicBool::new(false);
    let mut worst = Duration::ZERO;
    thread::scope(|sc| {
        // A long session per host: an MKD every 5 s through the outage, two
        // more once Redis is back.
        let long: Vec<_> = (0..hosts.len())
            .map(|h| {
                let (hosts, redis_back, record) = (&hosts, &redis_back, &record);
                sc.spawn(move || {
                    let mut ftp = hosts[h].1.login();
                    let mut mkds = Vec::new();
                    let mut worst = Duration::ZERO;
                    let mut after = 0;
                    while after < 2 {
                        let m = format!("h{h}-long-m{}", mkds.len());
                        worst = worst.max(timed_mkd(&mut ftp, &m));
                        mkds.push(m);
                        if redis_back.load(Ordering::SeqCst) {
                            after += 1;
                        } else {
                            thread::sleep(Duration::from_secs(5));
                        }
                    }
                    ftp.quit();
                    record(h, "long", &mkds);
                    worst
                })
            })
            .collect();
        thread::sleep(Duration::from_secs(1));
        redis.c.stop(10);
        let stopped = Instant::now();
        // Rounds of short sessions, every 10 s, that start and end while
        // Redis is away.
        for r in 0..ROUNDS {
            thread::scope(|round| {
                for h in 0..hosts.len() {
                    for i in 0..PER_ROUND {
                        let session = &session;
                        round.spawn(move || session(h, &format!("r{r}s{i}"), MKDS));
                    }
                }
            });
            let next = OUTAGE * (r as u32 + 1) / ROUNDS as u32;
            thread::sleep(next.saturating_sub(stopped.elapsed()));
        }
        for (_, f) in &hosts {
            let (waiting, _) = spool_state(f);
            assert!(
                waiting.len() >= ROUNDS * PER_ROUND,
                "{}: {} spool files hold events: {waiting:?}",
                f.c.name,
                waiting.len()
            );
        }
        redis.c.start_again();
        redis.wait_ready();
        redis_back.store(true, Ordering::SeqCst);
        eprintln!("Redis stopped for {:?}", stopped.elapsed());
        for l in long {
            worst = worst.max(l.join().unwrap());
        }
    });
    // One more session per host: it delivers what its host's spool holds.
    for h in 0..hosts.len() {
        session(h, "after", 1);
    }
    let sent = sent.into_inner().unwrap();
    let want: usize = sent.values().map(Vec::len).sum();
    let events = redis.wait_events(Duration::from_secs(60), |ev| {
        let mkds: BTreeSet<&str> = ev
            .iter()
            .filter(|e| s(e, "command") == "MKD")
            .map(|e| s(e, "command_params"))
            .collect();
        sent.values()
            .flatten()
            .filter_map(|l| l.strip_prefix("MKD "))
            .all(|m| mkds.contains(m))
            && ev.len() >= want
    });
    // Tally by session: its events' labels against what it sent.
    let mut found: BTreeMap<(usize, String), Vec<String>> = BTreeMap::new();
    for (id, evs) in &by_session(&events) {
        let mkd = evs
            .iter()
            .find(|e| s(e, "command") == "MKD")
            .map(|e| s(e, "command_params"))
            .unwrap_or_else(|| panic!("session {id} without an MKD: {evs:?}"));
        let mut parts = mkd.split('-');
        let host: usize = parts.next().unwrap()[1..].parse().unwrap();
        let name = parts.next().unwrap().to_owned();
        let ips: BTreeSet<&str> = evs.iter().map(|e| s(e, "local_ip")).collect();
        assert_eq!(
            ips,
            BTreeSet::from([hosts[host].0.as_str()]),
            "session {id} ({mkd}) on another host"
        );
        let labels = commands(evs)
            .into_iter()
            .zip(evs.iter())
            .map(|(c, e)| match c.as_str() {
                "MKD" => format!("MKD {}", s(e, "command_params")),
                _ => c,
            })
            .collect();
        assert!(
            found.insert((host, name), labels).is_none(),
            "two sessions named by {mkd}"
        );
    }
    let (mut delivered, mut duplicated, mut lost) = (0, 0, 0);
    for (key, want) in &sent {
        let got = found.remove(key).unwrap_or_default();
        delivered += got.len();
        let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
        for l in &got {
            *counts.entry(l.as_str()).or_default() += 1;
        }
        for w in want {
            match counts.remove(w.as_str()) {
                Some(n) => duplicated += n - 1,
                None => lost += 1,
            }
        }
        assert!(counts.is_empty(), "session {key:?}: unexpected {counts:?}");
    }
    assert!(found.is_empty(), "sessions nobody ran: {found:?}");
    assert_eq!(
        (lost, delivered - duplicated),
        (0, want),
        "{want} produced, {delivered} delivered, {duplicated} duplicated, {lost} lost"
    );
    // The spools are drained (the emptied files go when a session starts).
    for (_, f) in &hosts {
        assert!(
            wait_until(LONG, || spool_state(f).0.is_empty()),
            "{}: {:?}",
            f.c.name,
            spool_state(f).0
        );
    }
    eprintln!(
        "Redis stopped for a minute, 2 hosts with spools: {} sessions, {want} events produced, \
         {delivered} delivered, {duplicated} duplicated, {lost} lost; slowest MKD of the long \
         sessions {worst:?}",
        sent.len()
    );
}

/// docker stop during an upload: the container exits within its stop timeout
/// (not killed), no torn xferlog line or forensic block, no process left.
#[test]
fn docker_stop_during_a_transfer() {
    const STOP_TIMEOUT: u32 = 10;
    let Some((redis, ftpd)) = redis_and_ftpd("docker_stop_during_a_transfer") else {
        return;
    };
    // A completed transfer and a failed login first, so that both logs have records.
    let mut done = ftpd.login();
    done.stor("first.txt", b"first\n");
    done.quit();
    failed_login(&ftpd);
    ftpd.lines("xferlog", 1);
    wait_for_lines(ftpd.log("forensic.log"), 3, LONG);

    let mut ftp = ftpd.login();
    ftp.type_i();
    let addr = ftp.epsv();
    let mut data = TcpStream::connect_timeout(&addr, Duration::from_secs(10)).unwrap();
    data.set_write_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let start = ftp.cmd("STOR big.bin");
    assert_eq!(start.code, 150, "{start}");
    let sent = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let writer = {
        let sent = sent.clone();
        let stop = stop.clone();
        thread::spawn(move || {
            let chunk = vec![b'x'; 32 * 1024];
            while !stop.load(Ordering::Relaxed) {
                if data.write_all(&chunk).is_err() {
                    break;
                }
                sent.fetch_add(chunk.len() as u64, Ordering::Relaxed);
                thread::sleep(Duration::from_millis(10));
            }
        })
    };
    assert!(
        wait_until(LONG, || sent.load(Ordering::Relaxed) > 1 << 20),
        "upload did not start"
    );
    let took = ftpd.c.stop(STOP_TIMEOUT);
    stop.store(true, Ordering::Relaxed);
    writer.join().unwrap();
    eprintln!("docker stop during STOR: {took:?}");
    assert!(!ftpd.c.running());
    let code = ftpd.c.inspect("{{.State.ExitCode}}");
    assert!(
        took < Duration::from_secs(STOP_TIMEOUT.into()) && code != "137",
        "docker stop took {took:?}, exit code {code} (137: killed after the timeout)"
    );
    let logs = ftpd.c.logs();
    assert!(!logs.contains("still running"), "{logs}");
    // The client's control connection was closed, not left hanging.
    assert!(ftp.wait_closed().is_ok(), "control connection not closed");

    // xferlog: only complete lines, each a valid wu-ext record.
    let raw = fs::read_to_string(ftpd.log("xferlog")).unwrap();
    assert!(raw.ends_with('\n'), "torn xferlog line: {raw:?}");
    for (i, l) in raw.lines().enumerate() {
        let r = parse_line(l, i + 1).unwrap_or_else(|e| panic!("torn xferlog line {l:?}: {e}"));
        if r.filename == "/big.bin" {
            eprintln!("interrupted upload logged: {l}");
            assert_eq!(r.completion, Some(Completion::Incomplete), "{l}");
        }
    }
    // Forensic blocks: each complete.
    let text = fs::read_to_string(ftpd.log("forensic.log")).unwrap();
    let blocks = forensic_blocks(&text);
    assert!(!blocks.is_empty());
    eprintln!(
        "forensic blocks after the stop: {}",
        blocks
            .iter()
            .map(|b| b.lines().next().unwrap_or(""))
            .collect::<Vec<_>>()
            .join(", ")
    );
    // Redis has the interrupted session's STOR... at least up to the STOR.
    let events = redis.wait_events(LONG, |ev| ev.iter().any(|e| s(e, "command") == "EPSV"));
    assert!(!events.is_empty());
}

/// The compose file as it is: the password is a Compose secret (a file on
/// the host, mounted read-only at /run/secrets/ftp_password, named by
/// FTP_PASSWORD_FILE), so it is in no `docker inspect` output of the
/// project's containers and in no process's environment in the container;
/// the user logs in with it and transfers a file.
#[test]
fn compose_password_is_a_secret() {
    if !enabled("compose_password_is_a_secret") {
        return;
    }
    if !Compose::available() {
        eprintln!(
            "docker::compose_password_is_a_secret: skipped: neither docker-compose nor docker compose"
        );
        return;
    }
    let dir = TestDir::new("proftpd-rs-docker-secret-");
    let secret = dir.path().join("ftp-password");
    fs::write(&secret, format!("{PASSWORD}\n")).unwrap();
    fs::set_permissions(&secret, fs::Permissions::from_mode(0o600)).unwrap();
    let compose = Compose::new(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("docker/compose.yaml"),
        &[
            ("SUITE", &suite()),
            ("FTP_USER", USER),
            ("FTP_PASSWORD_SECRET", secret.to_str().unwrap()),
        ],
    );
    // `run`, not `up`: the service as the file defines it (its secret, its
    // environment, Redis started first), on free ports instead of 21 and
    // 30000-30009.
    let port = free_port();
    let pasv = free_port_range(4);
    let name = unique_name("compose-ftpd");
    let out = compose.output(&[
        "run",
        "-d",
        "--name",
        &name,
        "-p",
        &format!("127.0.0.1:{port}:21"),
        "-p",
        &format!("127.0.0.1:{pasv}-{}:{pasv}-{}", pasv + 3, pasv + 3),
        "-e",
        &format!("FTP_PASSIVE_PORTS={pasv} {}", pasv + 3),
        "proftpd",
    ]);
    let c = Container {
        name,
        started: Instant::now(),
    };
    assert!(
        out.status.success(),
        "docker-compose run: {}",
        printed(&out)
    );
    c.wait_for_log("standalone mode STARTUP", LONG);

    let mut ftp = Ftp::connect(port);
    ftp.login(USER, PASSWORD);
    ftp.stor("s.txt", b"through the secret\n");
    assert!(ftp.list("").contains("s.txt"));
    ftp.quit();

    let containers = compose.containers();
    assert!(containers.len() >= 2, "{containers:?}");
    for name in &containers {
        let inspect = docker(&["inspect", name]);
        assert!(
            !inspect.contains(PASSWORD),
            "the password in docker inspect {name}"
        );
    }
    let env = c.inspect("{{json .Config.Env}}");
    assert!(
        env.contains("\"FTP_PASSWORD_FILE=/run/secrets/ftp_password\"")
            && !env.contains("\"FTP_PASSWORD="),
        "{env}"
    );
    let mounts = c.inspect("{{json .Mounts}}");
    assert!(
        mounts.contains("\"Destination\":\"/run/secrets/ftp_password\"")
            && mounts.contains("\"RW\":false"),
        "{mounts}"
    );
    let out = c.exec(&["sh", "-c", "cat /proc/[0-9]*/environ | tr '\\0' '\\n'"]);
    let environ = String::from_utf8_lossy(&out.stdout);
    assert!(environ.contains("PATH="), "{environ}");
    assert!(
        !environ.contains(PASSWORD),
        "the password in a process's environment"
    );
}

/// Every value from the environment is checked before it goes into a
/// configuration file: a line break (which would add a directive or a
/// passwd field), a quote, a word where a number belongs stop the container
/// (exit 1) with a message naming the variable, never the value.
#[test]
fn entrypoint_refuses_bad_values_naming_the_variable() {
    if !enabled("entrypoint_refuses_bad_values_naming_the_variable") {
        return;
    }
    // The environment (over FTP_USER=alice, FTP_PASSWORD=PASSWORD), the
    // variable to be named, parts of the value that must not be shown.
    type Case = (
        &'static [(&'static str, &'static str)],
        &'static str,
        &'static [&'static str],
    );
    let cases: &[Case] = &[
        (
            &[("FTP_MASQUERADE_ADDRESS", "192.0.2.1\nRedisEngine off")],
            "FTP_MASQUERADE_ADDRESS",
            &["RedisEngine off", "192.0.2.1"],
        ),
        (
            &[
                ("REDIS_SERVER", "redis"),
                ("REDIS_DB", "0\nRedisEngine off"),
            ],
            "REDIS_DB",
            &["RedisEngine off"],
        ),
        (
            &[("REDIS_SERVER", "redis:6379\nRedisEngine off")],
            "REDIS_SERVER",
            &["RedisEngine off"],
        ),
        (
            &[("REDIS_SERVER", "redis:63x79")],
            "REDIS_SERVER",
            &["63x79"],
        ),
        (
            &[("FTP_UID", "1000:0::/:/bin/sh\nroot2")],
            "FTP_UID",
            &["root2", "/bin/sh"],
        ),
        (&[("FTP_GID", "0")], "FTP_GID", &[]),
        (
            &[("FTP_PASSIVE_PORTS", "30000 30009\nPassivePorts 1 2")],
            "FTP_PASSIVE_PORTS",
            &["PassivePorts 1 2"],
        ),
        (
            &[("FTP_PASSIVE_PORTS", "30009 30000")],
            "FTP_PASSIVE_PORTS",
            &["30009 30000"],
        ),
        (&[("FTP_USER", "alice\nroot")], "FTP_USER", &["alice\nroot"]),
        (&[("PROFTPD_STOP_WAIT", "8\nx")], "PROFTPD_STOP_WAIT", &[]),
        (
            &[("FTP_PASSWORD", "pw-line\nbreak-x")],
            "FTP_PASSWORD",
            &["pw-line", "break-x"],
        ),
        (
            &[("FTP_PASSWORD_FILE", "/etc/hostname")],
            "FTP_PASSWORD or FTP_PASSWORD_FILE, not both",
            &[],
        ),
        (
            &[
                ("REDIS_SERVER", "redis"),
                ("REDIS_PASSWORD", "redis-pw\"\nRedisEngine off"),
            ],
            "REDIS_PASSWORD",
            &["redis-pw", "RedisEngine off"],
        ),
        (
            &[
                ("REDIS_SERVER", "redis"),
                ("REDIS_SPOOL", "/var/spool/x\nRedisEngine off"),
            ],
            "REDIS_SPOOL",
            &["RedisEngine off"],
        ),
        (
            &[("REDIS_SERVER", "redis"), ("REDIS_SPOOL", "/etc/proftpd")],
            "REDIS_SPOOL",
            &["/etc/proftpd"],
        ),
        (
            &[("REDIS_SERVER", "redis"), ("REDIS_SPOOL", "/ftpspool")],
            "REDIS_SPOOL",
            &["/ftpspool"],
        ),
        (&[("REDIS_SPOOL", "/var/spool/x")], "REDIS_SPOOL", &[]),
        (
            &[
                ("REDIS_SERVER", "redis"),
                ("REDIS_SPOOL", "/var/spool/x"),
                ("REDIS_SPOOL_MAX_SIZE", "12X"),
            ],
            "REDIS_SPOOL_MAX_SIZE",
            &["12X"],
        ),
    ];
    let image = image();
    thread::scope(|scope| {
        let runs: Vec<_> = cases
            .iter()
            .map(|(env, var, hidden)| {
                let image = &image;
                scope.spawn(move || {
                    let mut vars: BTreeMap<&str, &str> =
                        BTreeMap::from([("FTP_USER", USER), ("FTP_PASSWORD", PASSWORD)]);
                    vars.extend(env.iter().copied());
                    let mut args = vec!["run".to_owned(), "--rm".to_owned()];
                    for (k, v) in &vars {
                        args.push("-e".into());
                        args.push(format!("{k}={v}"));
                    }
                    args.extend([image.clone(), "proftpd".into(), "-t".into()]);
                    let out = docker_output(&args.iter().map(String::as_str).collect::<Vec<_>>());
                    (env, var, hidden, out)
                })
            })
            .collect();
        for r in runs {
            let (env, var, hidden, out) = r.join().unwrap();
            let text = printed(&out);
            assert_eq!(out.status.code(), Some(1), "{env:?}: {text}");
            assert!(
                text.contains(&format!("proftpd-rs-entrypoint: error: {var}"))
                    || text.contains(&format!("proftpd-rs-entrypoint: error: set {var}")),
                "{env:?}: the message does not name {var}: {text}"
            );
            for h in hidden.iter().chain(&[PASSWORD]) {
                assert!(
                    !text.contains(h),
                    "{env:?}: the message shows {h:?}: {text}"
                );
            }
            assert_eq!(text.lines().count(), 1, "{env:?}: {text}");
        }
    });
}
