//! mod_unique_id against the real proftpd: IDs in ExtendedLog (env and note),
//! UniqueIDEngine in every context, HOST, bad config, the C module side by
//! side, 1,000 sessions, mod_sql, panics, and the installer.

mod harness;

use harness::{Modules, Proftpd, cdylib_path, check_config};
use std::collections::HashSet;
use std::process::Command;

const ALPHABET: &str = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
const SESSION_FORMAT: &str = r#"
    LogFormat session "%{UNIQUE_ID}e %{note:UNIQUE_ID} %u %m"
    ExtendedLog @DIR@/ext.log ALL session
"#;

fn assert_id(id: &str) {
    assert_eq!(id.len(), 24, "ID is not 24 characters: {id:?}");
    assert!(
        id.chars().all(|c| ALPHABET.contains(c)),
        "ID has characters outside the alphabet: {id:?}"
    );
}

/// Run one session (login, PWD, QUIT) and return the ext.log lines.
fn one_session(server: &Proftpd, expected_lines: usize) -> Vec<String> {
    let mut ftp = server.login("alice", "secret");
    ftp.cmd("PWD");
    ftp.quit();
    server.wait_for_lines("ext.log", expected_lines)
}

/// Every line of a session: the same 24-character ID in the env variable and the note.
#[test]
fn session_has_one_id_in_env_and_note() {
    let server = Proftpd::builder(Modules::Ours)
        .load_module("mod_unique_id.c")
        .config(SESSION_FORMAT)
        .start();
    let lines = one_session(&server, 4); // USER PASS PWD QUIT
    let id = lines[0].split(' ').next().unwrap().to_string();
    assert_id(&id);
    for line in &lines {
        let f: Vec<&str> = line.split(' ').collect();
        assert_eq!(f[0], id, "env differs within the session: {lines:#?}");
        assert_eq!(f[1], id, "note differs from env: {lines:#?}");
    }
    // A second session gets another ID.
    let lines = one_session(&server, 8);
    let id2 = lines[4].split(' ').next().unwrap();
    assert_id(id2);
    assert_ne!(id, id2);
}

/// What proftpd 1.3.8's ExtendedLog writes for `%{UNIQUE_ID}e %{note:UNIQUE_ID}`
/// when neither is set: two empty fields (the same with the C module, see
/// `engine_off_logs_like_the_c_module`).
const NO_ID: &str = "  ";

/// The default is on; off (server, <Global>) means no variable and no note.
#[test]
fn engine_off_sets_nothing() {
    for extra in [
        "UniqueIDEngine off",
        "<Global>\n UniqueIDEngine off\n</Global>",
    ] {
        let server = Proftpd::builder(Modules::Ours)
            .load_module("mod_unique_id.c")
            .config(&format!("{SESSION_FORMAT}\n{extra}\n"))
            .start();
        for line in one_session(&server, 4) {
            assert!(line.starts_with(NO_ID), "{extra}: {line:?}");
        }
    }
    let server = Proftpd::builder(Modules::Ours)
        .load_module("mod_unique_id.c")
        .config(&format!("{SESSION_FORMAT}\nUniqueIDEngine on\n"))
        .start();
    assert_id(one_session(&server, 4)[0].split(' ').next().unwrap());
}

/// `UniqueIDEngine off`: ours logs exactly what the C module logs.
#[test]
fn engine_off_logs_like_the_c_module() {
    let logs: Vec<Vec<String>> = [Modules::DebianC, Modules::Ours]
        .into_iter()
        .map(|m| {
            let server = Proftpd::builder(m)
                .load_module("mod_unique_id.c")
                .config(&format!("{SESSION_FORMAT}\nUniqueIDEngine off\n"))
                .start();
            one_session(&server, 4)
        })
        .collect();
    assert_eq!(logs[0], logs[1]);
}

/// A `<VirtualHost>` reached with HOST after the session started.
fn host_switch(modules: Modules, main_engine: &str, vhost_engine: &str) -> Vec<String> {
    let server = Proftpd::builder(modules)
        .load_module("mod_unique_id.c")
        .config(&format!(
            r#"{SESSION_FORMAT}
            UniqueIDEngine {main_engine}
            <VirtualHost 127.0.0.1>
              Port @PORT@
              ServerAlias other.example
              UniqueIDEngine {vhost_engine}
              AuthOrder mod_auth_file.c
              AuthUserFile @DIR@/ftpd.passwd
              AuthGroupFile @DIR@/ftpd.group
              RequireValidShell off
              WtmpLog off
              ExtendedLog @DIR@/vhost.log ALL session
            </VirtualHost>
            "#
        ))
        .start();
    let mut ftp = server.connect();
    let r = ftp.cmd("HOST other.example");
    assert_eq!(r.code, 220, "HOST: {r}");
    ftp.login("alice", "secret");
    ftp.cmd("PWD");
    ftp.quit();
    server.wait_for_lines("vhost.log", 4) // USER PASS PWD QUIT
}

/// A session keeps one ID from start to end: the ID made when the session
/// started stays after HOST to a vhost with the engine off, and HOST to a
/// vhost with the engine on makes none (as Debian's C module, side by side).
#[test]
fn a_session_keeps_its_id_across_host() {
    skip_unless_core_survives_host!();
    for modules in [Modules::DebianC, Modules::Ours] {
        let vhost = host_switch(modules.clone(), "on", "off");
        let id = vhost[0].split(' ').next().unwrap().to_string();
        assert_id(&id);
        for line in &vhost {
            assert!(
                line.starts_with(&format!("{id} {id} ")),
                "{modules:?}: the session's ID must stay: {vhost:#?}"
            );
        }

        let vhost = host_switch(modules.clone(), "off", "on");
        for line in &vhost {
            assert!(
                line.starts_with(NO_ID),
                "{modules:?}: no ID at session start, none after HOST: {line:?}"
            );
        }
    }
}

/// Bad values, arity and contexts: proftpd refuses to start and names the directive.
#[test]
fn bad_config_is_refused() {
    let cases = [
        ("UniqueIDEngine maybe", "expected Boolean parameter"),
        ("UniqueIDEngine", "missing parameters"),
        (
            "<Anonymous @DIR@/anon>\n UniqueIDEngine on\n</Anonymous>",
            "directive not allowed in <Anonymous> context",
        ),
        (
            "<Directory /tmp>\n UniqueIDEngine on\n</Directory>",
            "directive not allowed in <Directory> context",
        ),
    ];
    for (conf, reason) in cases {
        let (ok, out) = check_config(Modules::Ours, &["mod_unique_id.c"], conf);
        assert!(!ok, "accepted: {conf}\n{out}");
        assert!(
            out.contains(&format!("UniqueIDEngine: {reason}")),
            "{conf}: {out}"
        );
        assert!(out.contains("on line"), "no line number: {out}");
    }
    for good in [
        "UniqueIDEngine on",
        "UniqueIDEngine off",
        "UniqueIDEngine yes",
        "<VirtualHost 127.0.0.2>\n UniqueIDEngine off\n</VirtualHost>",
    ] {
        let (ok, out) = check_config(Modules::Ours, &["mod_unique_id.c"], good);
        assert!(ok, "refused: {good}\n{out}");
    }
}

/// Side by side: the same config gives one 24-character ID per session with
/// Debian's C module and with ours.
#[test]
fn same_shape_as_the_c_module() {
    for modules in [Modules::DebianC, Modules::Ours] {
        let label = format!("{modules:?}");
        let server = Proftpd::builder(modules)
            .load_module("mod_unique_id.c")
            .config(SESSION_FORMAT)
            .start();
        let lines = one_session(&server, 4);
        let ids: HashSet<&str> = lines.iter().map(|l| l.split(' ').next().unwrap()).collect();
        assert_eq!(ids.len(), 1, "{label}: {lines:#?}");
        let id = ids.into_iter().next().unwrap();
        assert_id(id);
        for line in &lines {
            assert!(line.starts_with(&format!("{id} {id} ")), "{label}: {line}");
        }
    }
}

/// 1,000 sessions, 10 at a time, against one server: 1,000 distinct IDs.
#[test]
fn thousand_sessions_thousand_ids() {
    const THREADS: usize = 10;
    const PER_THREAD: usize = 100;
    let server = Proftpd::builder(Modules::Ours)
        .load_module("mod_unique_id.c")
        .config(
            r#"
            LogFormat pass "%{UNIQUE_ID}e %{note:UNIQUE_ID}"
            ExtendedLog @DIR@/ids.log AUTH pass
            MaxInstances 100
            "#,
        )
        .start();
    std::thread::scope(|s| {
        for _ in 0..THREADS {
            s.spawn(|| {
                for _ in 0..PER_THREAD {
                    let ftp = server.login("alice", "secret");
                    ftp.quit();
                }
            });
        }
    });
    // USER and PASS lines of every session.
    let lines = server.wait_for_lines("ids.log", 2 * THREADS * PER_THREAD);
    let mut ids = HashSet::new();
    for line in &lines {
        let (env, note) = line.split_once(' ').unwrap();
        assert_eq!(env, note);
        assert_id(env);
        ids.insert(env.to_string());
    }
    assert_eq!(
        ids.len(),
        THREADS * PER_THREAD,
        "IDs repeated across sessions"
    );
}

/// The ID reaches mod_sql queries as `%{UNIQUE_ID}e` and `%{note:UNIQUE_ID}`.
/// (`%{env:NAME}` is expanded by proftpd's config parser when the file is read,
/// so it never sees a per-session value — with the C module or ours.)
#[test]
fn id_in_mod_sql_query() {
    if !std::path::Path::new("/usr/lib/proftpd/mod_sql_sqlite.so").exists() {
        panic!("mod_sql_sqlite.so missing: install proftpd-mod-sqlite (see scripts/setup.sh)");
    }
    let builder = Proftpd::builder(Modules::Ours);
    // SQLite needs to write beside the database (journal): a directory of the
    // session user's (alice, uid 2001).
    let db_dir = builder.dir().join("db");
    std::fs::create_dir(&db_dir).unwrap();
    std::os::unix::fs::chown(&db_dir, Some(2001), Some(2001)).unwrap();
    let db = db_dir.join("sessions.db");
    let st = Command::new("sqlite3")
        .arg(&db)
        .arg("CREATE TABLE ftpsessions (env TEXT, note TEXT, user TEXT);")
        .status()
        .expect("sqlite3 (install package sqlite3)");
    assert!(st.success());
    std::os::unix::fs::chown(&db, Some(2001), Some(2001)).unwrap();
    let server = builder
        .load_modules(&["mod_unique_id.c", "mod_sql.c", "mod_sql_sqlite.c"])
        .config(&format!(
            r#"{SESSION_FORMAT}
            SQLEngine log
            SQLBackend sqlite3
            SQLConnectInfo {}
            SQLNamedQuery login INSERT "'%{{UNIQUE_ID}}e', '%{{note:UNIQUE_ID}}', '%u'" ftpsessions
            SQLLog PASS login
            "#,
            db.display()
        ))
        .start();
    let id = one_session(&server, 4)[0]
        .split(' ')
        .next()
        .unwrap()
        .to_string();
    let out = Command::new("sqlite3")
        .arg(&db)
        .arg("SELECT * FROM ftpsessions;")
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        format!("{id}|{id}|alice")
    );
}

/// A panicking handler: the panic is logged, the session and the daemon live on.
#[test]
#[cfg_attr(not(debug_assertions), ignore = "uses a test hook of debug builds")]
fn panic_in_sess_init_is_caught() {
    let server = Proftpd::builder(Modules::Ours)
        .load_module("mod_unique_id.c")
        .env("PROFTPD_RS_TEST_PANIC", "mod_unique_id:sess_init")
        .config(SESSION_FORMAT)
        .start();
    for n in 1..=2 {
        let mut ftp = server.login("alice", "secret");
        assert_eq!(ftp.cmd("PWD").code, 257);
        assert_eq!(ftp.quit().code, 221);
        server.wait_for_lines("ext.log", 4 * n);
    }
    let log = server.wait_for_log("internal error (panic caught)");
    assert!(
        log.contains("mod_unique_id/") && log.contains("sess_init"),
        "{log}"
    );
    // The panic is reported in the SystemLog only: nothing on fd 2 (once
    // daemonized, fd 2 may be a client's or Redis's socket).
    let msg = "test panic requested by PROFTPD_RS_TEST_PANIC";
    let system = std::fs::read_to_string(server.system_log()).unwrap_or_default();
    assert!(system.contains(msg), "{system}");
    let stderr = std::fs::read_to_string(server.stderr_log()).unwrap_or_default();
    assert!(
        !stderr.contains(msg) && !stderr.contains("panicked at"),
        "{stderr}"
    );
}

/// A panic while parsing a directive is a config error naming the directive.
#[test]
#[cfg_attr(not(debug_assertions), ignore = "uses a test hook of debug builds")]
fn panic_in_directive_handler_is_a_config_error() {
    let (ok, out) = Proftpd::builder(Modules::Ours)
        .load_module("mod_unique_id.c")
        .env("PROFTPD_RS_TEST_PANIC", "UniqueIDEngine")
        .config("UniqueIDEngine on")
        .check_config();
    assert!(!ok, "{out}");
    assert!(out.contains("UniqueIDEngine: internal error"), "{out}");
}

/// prxs-install.sh into a temp dir: proftpd -t loads it, proftpd -vv lists our version.
#[test]
fn install_script_installs_a_loadable_module() {
    let dir = tempfile::tempdir().unwrap();
    let dest = dir.path().join("modules");
    let out = Command::new(concat!(env!("CARGO_MANIFEST_DIR"), "/prxs-install.sh"))
        .env("PROFTPD", harness::proftpd_bin())
        .arg("--lib")
        .arg(cdylib_path())
        .arg("--dest")
        .arg(&dest)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.contains("LoadModule mod_unique_id.c"), "{text}");
    assert!(dest.join("mod_unique_id.so").exists());

    let (ok, out) = Proftpd::builder(Modules::Dir(dest.clone()))
        .load_module("mod_unique_id.c")
        .check_config();
    assert!(ok, "{out}");
    let conf = dir.path().join("vv.conf");
    std::fs::write(
        &conf,
        format!(
            "{}LoadModule mod_unique_id.c\n",
            harness::core_dso_load_lines(&dest)
        ),
    )
    .unwrap();
    let vv = Command::new(harness::proftpd_bin())
        .arg("-vv")
        .arg("-c")
        .arg(&conf)
        .output()
        .unwrap();
    let vv = String::from_utf8_lossy(&vv.stdout).to_string() + &String::from_utf8_lossy(&vv.stderr);
    let version = format!("mod_unique_id/{}-rs", env!("CARGO_PKG_VERSION"));
    assert!(
        vv.contains(&version),
        "proftpd -vv does not list {version}:\n{vv}"
    );

    let st = Command::new(concat!(env!("CARGO_MANIFEST_DIR"), "/prxs-install.sh"))
        .env("PROFTPD", harness::proftpd_bin())
        .arg("--uninstall")
        .arg("--dest")
        .arg(&dest)
        .output()
        .unwrap();
    assert!(st.status.success());
    assert!(!dest.join("mod_unique_id.so").exists());
}

/// SIGHUP re-reads the configuration (module state reset): sessions still get IDs.
#[test]
fn reload_keeps_working() {
    let mut server = Proftpd::builder(Modules::Ours)
        .load_module("mod_unique_id.c")
        .config(SESSION_FORMAT)
        .start();
    let before = one_session(&server, 4)[0]
        .split(' ')
        .next()
        .unwrap()
        .to_string();
    server.reload();
    server.reload();
    let lines = one_session(&server, 8);
    let after = lines[4].split(' ').next().unwrap();
    assert_id(after);
    assert_ne!(before, after);
    assert!(server.is_running());
}

/// Words after the value: the C module starts and ignores them; ours too,
/// with a warning naming the directive and the line (side by side with
/// `proftpd -t`).
#[test]
fn extra_words_are_ignored_as_by_the_c_module() {
    for line in ["UniqueIDEngine on off", "UniqueIDEngine off extra words"] {
        let (c, _) = check_config(Modules::DebianC, &["mod_unique_id.c"], line);
        let (ours, out) = check_config(Modules::Ours, &["mod_unique_id.c"], line);
        assert!(c, "C refused: {line}");
        assert!(ours, "ours refused: {line}\n{out}");
        assert!(
            out.contains(&format!(
                "mod_unique_id/{}-rs: UniqueIDEngine: parameter",
                env!("CARGO_PKG_VERSION")
            )) && out.contains("ignored: it takes 1 (line "),
            "{line}: {out}"
        );
    }
}
