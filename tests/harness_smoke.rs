//! Smoke tests of the integration-test harness itself, against Debian's C modules.

mod harness;

use harness::{
    DataMode, ModuleDir, Modules, OUR_MODULES, Proftpd, RedisServer, cdylib_path, check_config,
};

/// A full session against the C mod_unique_id: every ExtendedLog line of the session
/// starts with the same 24-character UNIQUE_ID.
#[test]
fn c_unique_id_session_is_logged_with_one_id() {
    let server = Proftpd::builder(Modules::DebianC)
        .load_module("mod_unique_id.c")
        .config(
            r#"
            LogFormat session "%{UNIQUE_ID}e %u %{note:UNIQUE_ID}"
            ExtendedLog @DIR@/ext.log ALL session
            "#,
        )
        .start();

    let mut ftp = server.login("alice", "secret");
    ftp.type_i();
    let payload: Vec<u8> = (0..100_000u32).map(|i| (i % 251) as u8).collect();
    ftp.stor("data.bin", &payload);
    assert_eq!(
        std::fs::read(server.home("alice").join("data.bin")).unwrap(),
        payload
    );
    assert_eq!(ftp.retr("data.bin"), payload);
    ftp.set_data_mode(DataMode::ExtendedPassive);
    let listing = ftp.list("");
    assert!(listing.contains("data.bin"), "LIST: {listing}");
    assert_eq!(ftp.nlst(""), ["data.bin"]);
    ftp.rest(50_000);
    assert_eq!(ftp.retr("data.bin"), &payload[50_000..]);
    ftp.appe("data.bin", b"tail");
    let stou_name = ftp.stou(b"unique");
    assert_eq!(
        std::fs::read(server.home("alice").join(&stou_name)).unwrap(),
        b"unique"
    );
    let multi = ftp.cmd("HELP");
    assert_eq!(multi.code, 214, "{multi}");
    assert!(
        multi.raw.lines().count() > 2,
        "HELP should be multi-line: {multi}"
    );
    // Invalid UTF-8 goes through as is.
    assert_eq!(ftp.cmd_bytes(b"NOOP \xc3\x28").code, 200);
    // proftpd answers the Telnet `IAC DONT \r` with `IAC WONT \r`; the client drops it.
    assert_eq!(ftp.cmd_bytes(b"NOOP \xff\xfe").code, 200);
    assert_eq!(ftp.quit().code, 221);

    // USER, PASS, TYPE, PASV, STOR, PASV, RETR, EPSV, LIST, EPSV, NLST, REST, EPSV, RETR,
    // EPSV, APPE, EPSV, STOU, HELP, NOOP, NOOP, QUIT
    let lines = server.wait_for_lines("ext.log", 22);
    let id = &lines[0][..24];
    for line in &lines {
        let (line_id, rest) = line.split_at(24);
        assert_eq!(line_id, id, "IDs differ within one session: {lines:#?}");
        assert!(rest.starts_with(' '), "ID is not 24 chars: {line:?}");
        assert!(line.ends_with(id), "note:UNIQUE_ID differs: {line:?}");
    }
    assert!(
        id.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'+' || b == b'/'),
        "{id}"
    );
    assert!(lines.iter().any(|l| l.contains(" alice ")), "{lines:#?}");

    // The TransferLog of the base config saw the transfers.
    let xferlog = server.wait_for_lines("xferlog", 5);
    assert!(
        xferlog.iter().any(|l| l.contains("data.bin")),
        "{xferlog:#?}"
    );
}

/// Two sessions get different IDs; sessions run concurrently.
#[test]
fn c_unique_id_differs_between_sessions() {
    let server = Proftpd::start(
        Modules::DebianC,
        &["mod_unique_id.c"],
        "LogFormat id \"%{UNIQUE_ID}e %u\"\nExtendedLog @DIR@/ids.log AUTH id\n",
    );
    let a = server.login("alice", "secret");
    let b = server.login("bob", "secret");
    a.quit();
    b.quit();
    let lines = server.wait_for_lines("ids.log", 4);
    let id_of = |user: &str| {
        lines
            .iter()
            .find(|l| l.ends_with(&format!(" {user}")))
            .map(|l| l[..24].to_owned())
    };
    let (ida, idb) = (id_of("alice").unwrap(), id_of("bob").unwrap());
    assert_ne!(ida, idb, "{lines:#?}");
}

#[test]
fn wrong_login_is_refused() {
    let server = Proftpd::start(Modules::DebianC, &[], "");
    let mut ftp = server.connect();
    assert_eq!(ftp.cmd("USER alice").code, 331);
    assert_eq!(ftp.cmd("PASS wrong").code, 530);
}

#[test]
fn stop_ends_open_sessions() {
    let mut server = Proftpd::start(Modules::DebianC, &[], "");
    let mut ftp = server.login("alice", "secret");
    assert!(harness::wait_until(harness::DEFAULT_TIMEOUT, || server
        .session_pids()
        .len()
        == 1));
    server.stop();
    assert!(server.session_pids().is_empty());
    // The client sees the connection go away.
    assert!(ftp.try_cmd("NOOP").is_err() || ftp.wait_closed().is_ok());
}

#[test]
fn c_unique_id_bad_value_is_refused() {
    let (ok, output) = check_config(
        Modules::DebianC,
        &["mod_unique_id.c"],
        "UniqueIDEngine maybe",
    );
    assert!(!ok, "proftpd accepted the config:\n{output}");
    assert!(output.contains("UniqueIDEngine"), "{output}");
}

#[test]
fn good_config_is_accepted() {
    let (ok, output) = check_config(Modules::DebianC, &["mod_unique_id.c"], "UniqueIDEngine on");
    assert!(ok, "{output}");
}

#[test]
fn redis_server_round_trip() {
    let redis = RedisServer::builder().unix_socket().start();
    assert!(redis.unix_socket().unwrap().exists());
    let mut client = redis.client();
    client.cmd(&["RPUSH", "list", "one", "two"]);
    client.cmd(&["RPUSH", "list", "three"]);
    assert_eq!(client.wait_for_list("list", 3), ["one", "two", "three"]);
    assert_eq!(client.keys("*"), ["list"]);
    client.flushall();
    assert!(client.keys("*").is_empty());
}

#[test]
fn reload_rereads_config() {
    let mut server = Proftpd::start(Modules::DebianC, &["mod_unique_id.c"], "");
    server.reload();
    let mut ftp = server.login("bob", "secret");
    assert_eq!(ftp.cmd("NOOP").code, 200);
}

/// `Modules::Ours` installs the cdylib under each module name and links Debian's others.
#[test]
fn our_module_dir_links_the_cdylib() {
    let dir = ModuleDir::new(&Modules::Ours);
    let so = std::fs::canonicalize(cdylib_path()).unwrap();
    for name in OUR_MODULES.iter() {
        let target = std::fs::canonicalize(dir.path().join(format!("{name}.so"))).unwrap();
        assert_eq!(target, so, "{name}");
    }
    assert!(dir.path().join("mod_ifsession.so").exists());
}
