//! The host layer with all four modules loaded into one proftpd: module
//! lifecycle across SIGHUP and `ftpdctl rmmod`, and events after HOST
//! (proftpd < 1.3.8c corrupts its event-handler lists on unregister).

mod harness;

use harness::{
    DEFAULT_TIMEOUT, Ftp, Modules, OUR_MODULE_FILES, Proftpd, RedisClient, RedisServer, wait_until,
};
use std::process::Command;

/// Every module configured (in the server, or in a `<VirtualHost>`: the
/// LogFormats it uses, server config only, come from [`formats`]).
fn modules_conf(redis_port: u16, tag: &str) -> String {
    let formats = if tag.is_empty() {
        formats("")
    } else {
        String::new()
    };
    format!(
        r#"{formats}UniqueIDEngine on
ForensicLogEngine on
ForensicLogFile @DIR@/{tag}forensic.log
RedisEngine on
RedisServer 127.0.0.1:{redis_port}
RedisLogOnCommand PWD {tag}ev
XferLog @DIR@/{tag}rs-xferlog
ExtendedLog @DIR@/{tag}ext.log ALL {tag}sess
"#
    )
}

fn formats(tag: &str) -> String {
    format!(
        "LogFormat {tag}ev \"%{{note:UNIQUE_ID}} %m\"\nLogFormat {tag}sess \"%{{note:UNIQUE_ID}} %m\"\n"
    )
}

/// The blocks in a forensic log.
fn forensic_blocks(server: &Proftpd, file: &str) -> usize {
    let text = String::from_utf8_lossy(&server.try_read_file(file).unwrap_or_default()).to_string();
    text.lines()
        .filter(|l| l.starts_with("-----BEGIN "))
        .count()
}

fn lines(server: &Proftpd, file: &str) -> Vec<String> {
    String::from_utf8_lossy(&server.try_read_file(file).unwrap_or_default())
        .lines()
        .map(str::to_string)
        .collect()
}

/// What one session of [`session`] left behind, cumulative.
struct Seen {
    forensic: usize,
    xferlog: usize,
    redis: usize,
    ext_with_id: usize,
}

fn seen(server: &Proftpd, redis: &mut RedisClient, tag: &str) -> Seen {
    Seen {
        forensic: forensic_blocks(server, &format!("{tag}forensic.log")),
        xferlog: lines(server, &format!("{tag}rs-xferlog")).len(),
        redis: redis.llen(&format!("{tag}ev")) as usize,
        ext_with_id: lines(server, &format!("{tag}ext.log"))
            .iter()
            .filter(|l| l.split(' ').next().is_some_and(|id| id.len() == 24))
            .count(),
    }
}

/// A failed login (a forensic block), a good one, PWD (Redis), STOR
/// (xferlog), QUIT; `host` first sends HOST.
fn session(ftp: &mut Ftp, host: Option<&str>, n: usize) {
    if let Some(h) = host {
        let r = ftp.cmd(&format!("HOST {h}"));
        assert_eq!(r.code, 220, "HOST: {r:?}");
    }
    ftp.expect("USER alice", 331);
    assert_eq!(ftp.cmd("PASS wrong").code, 530);
    ftp.login("alice", "secret");
    ftp.expect("PWD", 257);
    let r = ftp.stor(&format!("f{n}.txt"), b"hello\n");
    assert!(r.is_success(), "STOR: {r:?}");
    ftp.cmd("QUIT");
}

/// Waits until every module's output of `n` sessions is there (unique_id
/// off: no IDs expected; xferlog off: no transfer lines).
fn wait_all(server: &Proftpd, redis: &mut RedisClient, tag: &str, n: usize, ids: bool, xfer: bool) {
    let ok = wait_until(DEFAULT_TIMEOUT, || {
        let s = seen(server, redis, tag);
        s.forensic == n
            && s.redis == n
            && s.xferlog == if xfer { n } else { 0 }
            && (if ids { s.ext_with_id >= 5 * n } else { true })
    });
    let s = seen(server, redis, tag);
    assert!(
        ok,
        "after {n} sessions: forensic blocks {}, Redis items {}, xferlog lines {}, \
         ext.log lines with an ID {}\n{}",
        s.forensic,
        s.redis,
        s.xferlog,
        s.ext_with_id,
        server.logs()
    );
}

const LAST_UNLOADED: &str = "the last of this library's modules: stored settings freed";

/// SIGHUP unloads and reloads every module: each time the last of ours to
/// go frees the stored settings (once), and afterwards every module works.
#[test]
fn sighup_several_times_with_all_four_modules() {
    let redis = RedisServer::start();
    let mut server = Proftpd::builder(Modules::Ours)
        .load_modules(&OUR_MODULE_FILES)
        .debug_level(7)
        .config(&modules_conf(redis.port(), ""))
        .start();
    let mut r = redis.client();
    for n in 1..=4 {
        if n > 1 {
            server.reload();
            let count = server.logs().matches(LAST_UNLOADED).count();
            assert_eq!(count, n - 1, "{}", server.logs());
        }
        session(&mut server.connect(), None, n);
        wait_all(&server, &mut r, "", n, true, true);
    }
    server.stop();
    assert!(
        !server.logs().contains("internal error"),
        "{}",
        server.logs()
    );
}

/// `ftpdctl rmmod` of the module our first lifecycle handlers belonged to
/// (mod_unique_id.c, the first to init): the others still count, so the
/// next SIGHUP frees the stored settings once, and every module works.
#[test]
fn rmmod_then_sighup() {
    let redis = RedisServer::start();
    let ctrl = "ControlsEngine on\nControlsSocket @DIR@/ctrls.sock\nControlsInterval 1\n\
                ControlsACLs all allow user root\nControlsSocketACL allow user root\nModuleControlsACLs insmod,rmmod allow user root\n";
    let mut server = Proftpd::builder(Modules::Ours)
        .load_modules(&OUR_MODULE_FILES)
        .debug_level(7)
        .config(&format!("{}{ctrl}", modules_conf(redis.port(), "")))
        .start();
    let mut r = redis.client();
    session(&mut server.connect(), None, 1);
    wait_all(&server, &mut r, "", 1, true, true);

    let out = Command::new("ftpdctl")
        .arg("-s")
        .arg(server.path("ctrls.sock"))
        .args(["rmmod", "mod_unique_id.c"])
        .output()
        .expect("ftpdctl");
    let text =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "ftpdctl rmmod: {text}\n{}",
        server.logs()
    );
    let n = OUR_MODULE_FILES.len();
    server.wait_for_log(&format!(
        "mod_unique_id.c unloaded, {} of this library's modules still loaded",
        n - 1
    ));

    session(&mut server.connect(), None, 2);
    // No IDs any more; the other three carry on.
    wait_all(&server, &mut r, "", 2, false, true);

    // proftpd 1.3.8 (< 1.3.8c) loses handlers from an event's list when a
    // module's handlers are unregistered (issue #1811): the rmmod above
    // dropped mod_log_forensic's lifecycle handlers, so on SIGHUP its
    // unload goes unseen; every module must still work after the reload
    // (the stored settings are reset by core.restart, and by the next
    // init otherwise).
    server.reload();
    // Unloaded in the reverse order of loading (modules.txt's), each saying
    // how many are left (mod_log_forensic's, second, is what may go unseen).
    let logs = server.logs();
    for (i, m) in OUR_MODULE_FILES[2..].iter().rev().enumerate() {
        let line = format!(
            "{m} unloaded, {} of this library's modules still loaded",
            n - 2 - i
        );
        assert!(logs.contains(&line), "no {line:?} in\n{logs}");
    }
    session(&mut server.connect(), None, 3);
    wait_all(&server, &mut r, "", 3, false, true);
    let ext = lines(&server, "ext.log");
    assert!(
        ext.last()
            .is_some_and(|l| l.split(' ').next().is_some_and(|id| id.len() == 24)),
        "IDs again after the reload: {ext:?}"
    );
}

/// HOST to a `<VirtualHost>` where every module is configured: on HOST
/// mod_log_forensic unregisters and re-registers its listeners, which
/// proftpd < 1.3.8c (issue #1811) can corrupt the event lists with.
/// Every module's events must still arrive afterwards: IDs, a forensic
/// block for a failed login, Redis items, an xferlog line.
#[test]
fn events_arrive_after_host_to_a_vhost() {
    skip_unless_core_survives_host!();
    let redis = RedisServer::start();
    let vhost = modules_conf(redis.port(), "v");
    let mut server = Proftpd::builder(Modules::Ours)
        .load_modules(&OUR_MODULE_FILES)
        .config(&format!(
            "{}{}<VirtualHost 127.0.0.1>\nPort @PORT@\nServerAlias other.test\n\
             AuthOrder mod_auth_file.c\nAuthUserFile @DIR@/ftpd.passwd\n\
             AuthGroupFile @DIR@/ftpd.group\nRequireValidShell off\nWtmpLog off\n\
             {vhost}</VirtualHost>\n",
            formats("v"),
            modules_conf(redis.port(), "")
        ))
        .start();
    let mut r = redis.client();
    for n in 1..=2 {
        session(&mut server.connect(), Some("other.test"), n);
        wait_all(&server, &mut r, "v", n, true, true);
    }
    // And the main server's sessions are unaffected.
    session(&mut server.connect(), None, 1);
    wait_all(&server, &mut r, "", 1, true, true);
    server.stop();
    assert!(
        !server.logs().contains("internal error"),
        "{}",
        server.logs()
    );
}
