//! The xferlog2json tool: every supported format in, JSON Lines out, bad
//! lines on stderr with their line numbers.

use std::io::Write;
use std::process::{Command, Stdio};

const INPUT: &str = "\
Mon Nov 02 09:05:07 2026 3 127.0.0.1 12345 /home/alice/a.txt a _ i r alice ftp 0 *
Sun Nov 22 13:59:02 2026 0 127.0.0.1 5 /tmp/x/a.txt b _ o r alice ftp 0 * c
this is not a transfer
Mon Nov 02 09:05:07 2026 3 127.0.0.1 12345 /home/alice/a.txt b _ i r alice ftp 0 * i 100 12445 /home/alice a.txt P

Nov 02 09:05:07 2026!me@x.org!127.0.0.1!/pub/f!10!1
Mon Nov  2 09:05:07 2026 1 wu.example.org 7 /pub/g b _ o a guest@ ftp 0 *
Mon Nov 02 09:05:07 2026 3 127.0.0.1 oops /a b _ i r alice ftp 0 *
";

fn run(args: &[&str], stdin: &str) -> (i32, Vec<serde_json::Value>, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_xferlog2json"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn xferlog2json");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let json = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).expect("valid JSON line"))
        .collect();
    (
        out.status.code().unwrap_or(-1),
        json,
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn stdin_all_formats_bad_lines_reported() {
    let (code, json, err) = run(&[], INPUT);
    assert_eq!(code, 1, "bad lines → exit 1; stderr: {err}");
    assert_eq!(json.len(), 5, "{json:?}");
    let formats: Vec<&str> = json.iter().map(|j| j["format"].as_str().unwrap()).collect();
    assert_eq!(formats, ["wu-orig", "proftpd", "wu-ext", "anon", "wu-orig"]);
    assert_eq!(json[0]["bytes"], 12345);
    assert_eq!(json[0]["time"], "2026-11-02T09:05:07");
    assert_eq!(json[0]["transfer_type"], "a");
    assert_eq!(json[1]["completion"], "c");
    assert_eq!(json[2]["restart_point"], 100);
    assert_eq!(json[2]["protection"], "P");
    assert_eq!(json[3]["username"], "me@x.org");
    assert_eq!(json[3]["access_mode"], "a");
    assert_eq!(json[4]["remote_host"], "wu.example.org");
    let errs: Vec<&str> = err.lines().collect();
    assert_eq!(errs.len(), 2, "{err}");
    assert!(errs[0].starts_with("<stdin>:3: "), "{err}");
    assert!(errs[1].starts_with("<stdin>:8: "), "{err}");
    assert!(errs[1].contains("byte-count"), "{err}");
}

#[test]
fn files_clean_and_missing() {
    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("good.log");
    std::fs::write(
        &good,
        "Nov 02 09:05:07 2026!me@x.org!127.0.0.1!/pub/f!10!1\n",
    )
    .unwrap();
    let (code, json, err) = run(&[good.to_str().unwrap()], "");
    assert_eq!(code, 0, "{err}");
    assert_eq!(json.len(), 1);
    assert_eq!(json[0]["filename"], "/pub/f");
    let missing = dir.path().join("missing.log");
    let (code, _, err) = run(&[good.to_str().unwrap(), missing.to_str().unwrap()], "");
    assert_eq!(code, 2);
    assert!(err.contains("missing.log"), "{err}");
}
