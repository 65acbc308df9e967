//! The add-a-module example of docs/development.md, as a new contributor
//! would add it: copied into a scratch copy of the crate with its line in
//! `modules.txt` and `lib.rs`, built, installed by prxs-install.sh, loaded
//! into the real proftpd and run; and the places that promise to read
//! `modules.txt` (the package, the Docker image, the tests that load every
//! module) pick the new module up.
//!
//! Ignored by a plain `cargo test` (it builds the crate again, a minute or
//! two); `./test.sh` runs it with the gauntlet.

mod harness;

use harness::{Modules, Proftpd};
use std::path::{Path, PathBuf};
use std::process::Command;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The ```rust block of docs/development.md that holds the whole module.
fn documented_module() -> String {
    let doc = std::fs::read_to_string(root().join("docs/development.md")).unwrap();
    let start = doc
        .find("```rust\n//! mod_cmdcount")
        .expect("docs/development.md: the mod_cmdcount example")
        + "```rust\n".len();
    let len = doc[start..].find("```").unwrap();
    doc[start..start + len].to_string()
}

/// The project's files (those git tracks, as they are now) copied to `to`.
fn copy_project(to: &Path) {
    let out = Command::new("git")
        .args([
            "ls-files",
            "-z",
            "--cached",
            "--others",
            "--exclude-standard",
        ])
        .current_dir(root())
        .output()
        .expect("git ls-files");
    assert!(out.status.success());
    for name in out.stdout.split(|&b| b == 0).filter(|n| !n.is_empty()) {
        let name = std::str::from_utf8(name).unwrap();
        let (from, dest) = (root().join(name), to.join(name));
        if !from.is_file() {
            continue;
        }
        std::fs::create_dir_all(dest.parent().unwrap()).unwrap();
        std::fs::copy(&from, &dest).unwrap();
    }
}

fn run(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{cmd:?} failed:\n{text}");
    text
}

#[test]
#[ignore]
fn the_documented_module_builds_loads_and_runs() {
    let work = root().join("target/skeleton");
    let src = work.join("src-copy");
    let _ = std::fs::remove_dir_all(&src);
    copy_project(&src);
    std::fs::create_dir_all(src.join("src/cmdcount")).unwrap();
    std::fs::write(src.join("src/cmdcount/mod.rs"), documented_module()).unwrap();
    let lib = std::fs::read_to_string(src.join("src/lib.rs")).unwrap();
    std::fs::write(
        src.join("src/lib.rs"),
        lib.replacen(
            "pub mod log_forensic;",
            "pub mod cmdcount;\npub mod log_forensic;",
            1,
        ),
    )
    .unwrap();
    let mut list = std::fs::read_to_string(src.join("modules.txt")).unwrap();
    list.push_str("cmdcount\n");
    std::fs::write(src.join("modules.txt"), list).unwrap();

    // Built as a contributor builds it (its own target directory, kept
    // between runs so that only the crate is compiled again).
    let target = work.join("target");
    run(Command::new("cargo")
        .args(["build", "--release", "--lib"])
        .env("CARGO_TARGET_DIR", &target)
        .current_dir(&src));
    // prxs-install.sh installs it with the others, from modules.txt.
    let modules = work.join("modules");
    let _ = std::fs::remove_dir_all(&modules);
    run(Command::new("./prxs-install.sh")
        .args(["--no-build", "--dest"])
        .arg(&modules)
        .env("CARGO_TARGET_DIR", &target)
        .current_dir(&src));
    assert!(modules.join("mod_cmdcount.so").exists());

    // Loaded into the real proftpd: a session of six commands (one of them
    // failing: LOG_CMD_ERR), counted and logged when it ends.
    let server = Proftpd::builder(Modules::Dir(modules.clone()))
        .load_module("mod_cmdcount.c")
        .config("CmdCountEngine on")
        .start();
    let mut ftp = server.login("alice", "secret");
    ftp.expect("NOOP", 200);
    ftp.expect("PWD", 257);
    ftp.expect("CWD /no/such/dir", 550);
    ftp.quit();
    server.wait_for_log("mod_cmdcount/0.1.0-rs: alice: 6 command(s)");

    // The other places that read modules.txt.
    let deb = run(Command::new("scripts/deb.sh")
        .arg("--list-modules")
        .current_dir(&src));
    assert!(
        deb.lines().any(|l| l == "mod_cmdcount.so"),
        "scripts/deb.sh: {deb}"
    );
    let conf = run(Command::new("scripts/docker-build.sh")
        .arg("--print-load-modules")
        .current_dir(&src));
    assert!(conf.contains("LoadModule mod_cmdcount.c"), "docker: {conf}");
    // The tests that load every module take them from modules.txt (through
    // harness::OUR_MODULE_FILES): none writes the list out itself.
    for t in ["tests/host.rs", "tests/signals.rs", "tests/gauntlet.rs"] {
        let text = std::fs::read_to_string(src.join(t)).unwrap();
        assert!(
            text.contains("OUR_MODULE_FILES"),
            "{t} does not load modules.txt's list"
        );
        let listed = [
            "mod_unique_id.c",
            "mod_log_forensic.c",
            "mod_redis.c",
            "mod_xferlog.c",
        ]
        .iter()
        .filter(|m| text.contains(&format!("\"{m}\",")))
        .count();
        assert!(listed < 4, "{t} writes the module list out");
    }
}
