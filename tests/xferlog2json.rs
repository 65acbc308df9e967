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

/// The manual page as plain text per section (enough roff for ours: font
/// macros, paragraphs, `\-`), whitespace collapsed.
fn manual_sections() -> Vec<(String, String)> {
    let page = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/man/xferlog2json.1"))
        .expect("man/xferlog2json.1");
    // The words of a macro line, "quoted" ones kept whole.
    fn words(s: &str) -> Vec<String> {
        let mut out = Vec::new();
        let mut cur = String::new();
        let mut quoted = false;
        for c in s.chars() {
            match c {
                '"' => quoted = !quoted,
                ' ' if !quoted => {
                    if !cur.is_empty() {
                        out.push(std::mem::take(&mut cur));
                    }
                }
                _ => cur.push(c),
            }
        }
        if !cur.is_empty() {
            out.push(cur);
        }
        out
    }
    let mut sections: Vec<(String, String)> = Vec::new();
    for line in page.lines() {
        let line = line.replace("\\-", "-");
        let text = if let Some(name) = line.strip_prefix(".SH ") {
            sections.push((name.trim_matches('"').to_string(), String::new()));
            continue;
        } else if let Some(rest) = line.strip_prefix('.') {
            let (mac, args) = rest.split_once(' ').unwrap_or((rest, ""));
            match mac {
                // Alternating fonts: the words run together.
                "BR" | "RB" | "IR" | "RI" | "BI" | "IB" => words(args).concat(),
                "B" | "I" => words(args).join(" "),
                _ => String::new(),
            }
        } else {
            line.to_string()
        };
        if let Some((_, body)) = sections.last_mut() {
            body.push(' ');
            body.push_str(&text);
        }
    }
    sections
        .into_iter()
        .map(|(n, b)| (n, b.split_whitespace().collect::<Vec<_>>().join(" ")))
        .collect()
}

fn collapse(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// `--help` says what the manual page says: the synopsis, the description,
/// each option and each exit status, in the same words.
#[test]
fn help_matches_manual_page() {
    let out = Command::new(env!("CARGO_BIN_EXE_xferlog2json"))
        .arg("--help")
        .output()
        .unwrap();
    assert!(out.status.success());
    let help = String::from_utf8(out.stdout).unwrap();
    let man = manual_sections();
    let section = |name: &str| {
        man.iter()
            .find(|(n, _)| n == name)
            .map(|(_, b)| b.clone())
            .unwrap_or_else(|| panic!("no {name} in the manual page: {man:?}"))
    };
    let paragraphs: Vec<&str> = help.split("\n\n").collect();
    // usage: the synopsis.
    let usage = paragraphs[0].strip_prefix("usage: ").expect("usage line");
    assert_eq!(collapse(usage), section("SYNOPSIS"));
    // The description: the page's first paragraph, which names the tool.
    let desc = collapse(paragraphs[1]).to_lowercase();
    assert!(
        section("DESCRIPTION").to_lowercase().contains(&desc),
        "--help: {desc}\nman: {}",
        section("DESCRIPTION")
    );
    // Options and exit statuses: "  WORDS  text" items, continued by deeper
    // indented lines.
    let items = |title: &str| -> Vec<(String, String)> {
        let p = paragraphs
            .iter()
            .find(|p| p.starts_with(title))
            .unwrap_or_else(|| panic!("no {title} in --help"));
        let mut v: Vec<(String, String)> = Vec::new();
        for l in p.lines().skip(1) {
            if l.starts_with("   ") {
                let last = v.last_mut().expect("continuation line first");
                last.1 = collapse(&format!("{} {l}", last.1));
            } else {
                let (k, t) = l.trim().split_once("  ").expect("item: KEY  text");
                v.push((k.to_string(), collapse(t)));
            }
        }
        v
    };
    let options = section("OPTIONS");
    for (k, t) in items("Options:") {
        assert!(
            options.contains(&format!("{k} {t}")),
            "option {k}: --help says '{t}', the manual page: {options}"
        );
    }
    let statuses = section("EXIT STATUS");
    let help_statuses = items("Exit status:");
    assert_eq!(help_statuses.len(), 3);
    for (k, t) in help_statuses {
        assert!(
            statuses.contains(&format!("{k} {t}")),
            "exit status {k}: --help says '{t}', the manual page: {statuses}"
        );
    }
}
