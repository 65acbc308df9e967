//! Safe set-up and install. scripts/setup.sh keeps the services of the
//! packages it installs from starting, and puts /usr/sbin/policy-rc.d back
//! as it found it; prxs-install.sh does not build as root in another user's
//! checkout.
//!
//! Each test runs bash, with setup.sh sourced (`PROFTPD_RS_SETUP=0`: its
//! functions only), in a sandbox: a private mount namespace with throw-away
//! overlays over /usr/sbin and /etc and an empty tmpfs on /run, so that
//! nothing of this machine changes. The install itself, with the real
//! packages, in a throw-away root filesystem: scripts/setup-test.sh (.ci/run).

use std::fs;
use std::path::Path;
use std::process::Command;

/// The sandbox: `$1` is the test's temp dir (the overlays' upper layers, the
/// script), `$2` the project.
const DRIVER: &str = r#"
set -euo pipefail
t=$1 project=$2
for d in usr/sbin etc; do
  n=${d//\//-}
  mkdir -p "$t/$n.upper" "$t/$n.work"
  mount -t overlay overlay -o "lowerdir=/$d,upperdir=$t/$n.upper,workdir=$t/$n.work" "/$d"
done
mount -t tmpfs -o mode=0755 tmpfs /run
mkdir -p "$t/bin"
cd "$project"
# shellcheck source=/dev/null
PROFTPD_RS_SETUP=0 . scripts/setup.sh
. "$t/script.sh"
"#;

fn require_root() {
    use std::os::unix::fs::MetadataExt;
    let uid = fs::metadata("/proc/self").map(|m| m.uid());
    assert_eq!(uid.ok(), Some(0), "these tests must run as root");
}

struct Run {
    code: i32,
    out: String,
}

/// Runs `script` (bash, `set -euo pipefail`, setup.sh's functions defined,
/// `$t` its temp dir) in the sandbox.
fn sandbox(script: &str) -> Run {
    require_root();
    let dir = tempfile::Builder::new()
        .prefix("proftpd-rs-setup-")
        .tempdir()
        .unwrap();
    fs::write(dir.path().join("script.sh"), script).unwrap();
    let out = Command::new("unshare")
        .args(["--mount", "--propagation", "private", "--", "bash", "-c"])
        .arg(DRIVER)
        .arg("driver")
        .arg(dir.path())
        .arg(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("cannot run unshare");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    Run {
        code: out.status.code().unwrap_or(-1),
        out: text,
    }
}

fn ok(script: &str) -> String {
    let r = sandbox(script);
    assert_eq!(r.code, 0, "sandbox script failed:\n{}", r.out);
    r.out
}

/// `stat` of the policy-rc.d and its sha256: `INODE MODE MTIME CTIME SIZE SHA`.
const STAT: &str = r#"
state() {
  if [[ -e /usr/sbin/policy-rc.d || -L /usr/sbin/policy-rc.d ]]; then
    echo "$(stat -c '%i %a %Y %Z %s %F' /usr/sbin/policy-rc.d) $(sha256sum </usr/sbin/policy-rc.d | cut -c1-16)"
  else
    echo none
  fi
}
# What a package's start of proftpd and redis would be told, during CMD.
asked() {
  local u rc
  for u in proftpd proftpd.service redis-server.service redis-sentinel; do
    rc=0
    /usr/sbin/policy-rc.d "$u" start >/dev/null 2>&1 || rc=$?
    printf '%s=%s ' "$u" "$rc"
  done
  echo
}
"#;

const REFUSED: &str = "proftpd=101 proftpd.service=101 redis-server.service=101 redis-sentinel=101";

fn line<'a>(out: &'a str, prefix: &str) -> &'a str {
    out.lines()
        .find_map(|l| l.strip_prefix(prefix))
        .unwrap_or_else(|| panic!("no line {prefix:?} in:\n{out}"))
        .trim()
}

/// This machine's case (a Docker-style image): a policy-rc.d that refuses
/// everything already. Left exactly as it is (not even renamed: same ctime).
#[test]
fn existing_refusing_policy_rc_d_is_left_untouched() {
    let out = ok(&format!(
        r#"{STAT}
printf '#!/bin/sh\n# Docker-style\nexit 101\n' >/usr/sbin/policy-rc.d
chmod 0755 /usr/sbin/policy-rc.d
touch -d '2021-02-03 04:05:06' /usr/sbin/policy-rc.d
sleep 0.01
echo "before: $(state)"
proftpd_rs_without_service_starts bash -c "$(declare -f asked); echo \"during: \$(asked)\""
echo "after: $(state)"
"#
    ));
    assert_eq!(line(&out, "before:"), line(&out, "after:"), "{out}");
    assert_eq!(line(&out, "during:"), REFUSED, "{out}");
    assert!(out.contains("already refuses"), "{out}");
}

/// No policy-rc.d: ours during the command, none afterwards.
#[test]
fn without_policy_rc_d_ours_refuses_then_is_removed() {
    let out = ok(&format!(
        r#"{STAT}
rm -f /usr/sbin/policy-rc.d
proftpd_rs_without_service_starts bash -c "$(declare -f asked state); echo \"during: \$(asked)\"; grep -c 'proftpd-rs scripts/setup.sh' /usr/sbin/policy-rc.d"
echo "after: $(state)"
echo "files: $(ls /usr/sbin | grep -c policy-rc.d || true)"
"#
    ));
    assert_eq!(line(&out, "during:"), REFUSED, "{out}");
    assert_eq!(line(&out, "after:"), "none", "{out}");
    assert_eq!(
        line(&out, "files:"),
        "0",
        "a policy-rc.d file left behind:\n{out}"
    );
    assert!(out.contains("removed afterwards"), "{out}");
}

/// A policy-rc.d that allows starts (a regular file, and a symlink): moved
/// aside, ours in its place, then back byte for byte with its inode, mode
/// and mtime.
#[test]
fn permissive_policy_rc_d_is_moved_aside_and_put_back() {
    for (kind, make) in [
        (
            "file",
            r#"printf '#!/bin/sh\n# site policy\nexit 0\n' >/usr/sbin/policy-rc.d
chmod 0750 /usr/sbin/policy-rc.d
touch -d '2019-05-06 07:08:09' /usr/sbin/policy-rc.d"#,
        ),
        (
            "symlink",
            r#"printf '#!/bin/sh\nexit 104\n' >"$t/site-policy"; chmod 0755 "$t/site-policy"
ln -sfn "$t/site-policy" /usr/sbin/policy-rc.d"#,
        ),
    ] {
        let out = ok(&format!(
            r#"{STAT}
{make}
echo "before: $(state)"
proftpd_rs_without_service_starts bash -c "$(declare -f asked); echo \"during: \$(asked)\""
echo "after: $(state)"
echo "saved: $(ls /usr/sbin | grep -c 'policy-rc.d.proftpd-rs' || true)"
"#
        ));
        let before = line(&out, "before:");
        let after = line(&out, "after:");
        // The rename changes only the ctime (4th field).
        let fields = |s: &str| {
            let v: Vec<String> = s.split(' ').map(str::to_owned).collect();
            [&v[0..3], &v[4..]].concat()
        };
        assert_eq!(fields(before), fields(after), "{kind}:\n{out}");
        assert_eq!(line(&out, "during:"), REFUSED, "{kind}:\n{out}");
        assert_eq!(line(&out, "saved:"), "0", "{kind}: saved copy left:\n{out}");
        assert!(out.contains("moving /usr/sbin/policy-rc.d aside"), "{out}");
        assert!(out.contains("put back /usr/sbin/policy-rc.d"), "{out}");
    }
}

/// The command fails, or the set-up is interrupted (SIGINT as from Ctrl-C,
/// SIGTERM): the status is passed on and the policy-rc.d is back.
#[test]
fn policy_rc_d_is_put_back_after_failure_and_signals() {
    let out = ok(&format!(
        r#"{STAT}
printf '#!/bin/sh\nexit 0\n' >/usr/sbin/policy-rc.d; chmod 0755 /usr/sbin/policy-rc.d
echo "before: $(state | cut -d' ' -f1-3,5-)"
rc=0; proftpd_rs_without_service_starts false || rc=$?
echo "false: $rc $(state | cut -d' ' -f1-3,5-)"
rc=0; proftpd_rs_without_service_starts bash -c 'kill -INT $PPID; sleep 0.2' || rc=$?
echo "int: $rc $(state | cut -d' ' -f1-3,5-)"
rc=0; proftpd_rs_without_service_starts bash -c 'kill -TERM $PPID; sleep 0.2' || rc=$?
echo "term: $rc $(state | cut -d' ' -f1-3,5-)"
"#
    ));
    let before = line(&out, "before:");
    assert_eq!(line(&out, "false:"), format!("1 {before}"), "{out}");
    assert_eq!(line(&out, "int:"), format!("130 {before}"), "{out}");
    assert_eq!(line(&out, "term:"), format!("143 {before}"), "{out}");
}

/// A run killed outright (SIGKILL) leaves ours in place and the original
/// aside: the next run puts the original back first, saying so.
#[test]
fn policy_rc_d_left_by_a_killed_run_is_recovered() {
    let out = ok(&format!(
        r#"{STAT}
printf '#!/bin/sh\nexit 0\n' >/usr/sbin/policy-rc.d; chmod 0755 /usr/sbin/policy-rc.d
echo "before: $(state | cut -d' ' -f1-3,5-)"
proftpd_rs_without_service_starts bash -c 'kill -KILL $PPID' || true
echo "killed: $(grep -c 'proftpd-rs' /usr/sbin/policy-rc.d)"
proftpd_rs_without_service_starts true
echo "after: $(state | cut -d' ' -f1-3,5-)"
echo "saved: $(ls /usr/sbin | grep -c 'policy-rc.d.proftpd-rs' || true)"
"#
    ));
    assert_eq!(line(&out, "killed:"), "1", "{out}");
    assert_eq!(line(&out, "before:"), line(&out, "after:"), "{out}");
    assert!(out.contains("interrupted earlier run"), "{out}");
    assert_eq!(line(&out, "saved:"), "0", "saved copy left:\n{out}");
}

/// What the maintainer scripts call: invoke-rc.d (on a machine in runlevel
/// 2, an init script enabled there) and deb-systemd-invoke (systemd: a
/// stand-in systemctl that says the unit is enabled) start the service
/// without a policy-rc.d, and do not while setup.sh's is in place.
#[test]
fn invoke_rc_d_and_deb_systemd_invoke_are_refused_while_installing() {
    let out = ok(r#"
rm -f /usr/sbin/policy-rc.d
# (rm first: this machine's runlevel may be a symlink to systemctl, outside the overlays)
rm -f /usr/sbin/runlevel
printf '#!/bin/sh\necho "N 2"\n' >/usr/sbin/runlevel; chmod 0755 /usr/sbin/runlevel
cat >/etc/init.d/prs-fake <<EOF
#!/bin/sh
### BEGIN INIT INFO
# Provides:          prs-fake
# Default-Start:     2 3 4 5
# Default-Stop:      0 1 6
### END INIT INFO
echo "init.d \$1" >>"$t/started"
EOF
chmod 0755 /etc/init.d/prs-fake
ln -s ../init.d/prs-fake /etc/rc2.d/S01prs-fake
cat >"$t/bin/systemctl" <<EOF
#!/bin/sh
case "\$*" in
*is-enabled*) echo enabled ;;
*is-active*) exit 3 ;;
*) echo "systemctl \$*" >>"$t/started" ;;
esac
EOF
chmod 0755 "$t/bin/systemctl"
touch "$t/started"
attempt() {
  invoke-rc.d --skip-systemd-native prs-fake start >/dev/null 2>&1 || true
  PATH=$t/bin:$PATH deb-systemd-invoke start prs-fake.service >/dev/null 2>&1 || true
}
attempt
echo "without: $(tr '\n' ';' <"$t/started")"
: >"$t/started"
proftpd_rs_without_service_starts bash -c "t=$t; $(declare -f attempt); attempt"
echo "with: $(tr '\n' ';' <"$t/started")"
"#);
    assert_eq!(
        line(&out, "without:"),
        "init.d start;systemctl --quiet --system start prs-fake.service;",
        "the stand-ins did not start: {out}"
    );
    assert_eq!(line(&out, "with:"), "", "{out}");
}

/// After the install: a service of a package setup.sh installed that runs
/// anyway (a stand-in proftpd with Debian's pid file) is stopped with its
/// init script, and the services are disabled at boot (systemd links and
/// init script links, as the packages' scripts made them), each said; a
/// package it did not install (redis-sentinel here) is left alone.
#[test]
fn services_of_installed_packages_are_stopped_and_disabled() {
    if !Path::new("/etc/init.d/proftpd").exists() || !Path::new("/etc/init.d/redis-server").exists()
    {
        eprintln!(
            "setup::services_of_installed_packages_are_stopped_and_disabled: skipped: proftpd-core or redis-server not installed"
        );
        return;
    }
    let out = ok(r#"
links() { # NAME: its boot links
  local f
  for f in /etc/systemd/system/*.wants/"$1".service /etc/rc[S2345].d/S[0-9][0-9]"$1"; do
    [[ -e $f || -L $f ]] && printf '%s ' "$f"
  done
  echo
}
# As the packages' scripts leave a fresh install: enabled at boot.
for n in proftpd redis-server redis-sentinel; do
  update-rc.d "$n" defaults >/dev/null 2>&1
  update-rc.d "$n" enable >/dev/null 2>&1
  echo "before $n: $(links "$n")"
done
cp /usr/bin/sleep "$t/proftpd"
"$t/proftpd" 600 &
fake=$!
echo "$fake" >/run/proftpd.pid
proftpd_rs_setup_services proftpd-core redis-server
echo "fake: $(if [[ -d /proc/$fake && $(cut -d' ' -f3 /proc/$fake/stat) != Z ]]; then echo running; else echo stopped; fi)"
kill "$fake" 2>/dev/null || true
for n in proftpd redis-server redis-sentinel; do echo "after $n: $(links "$n")"; done
"#);
    for n in ["proftpd", "redis-server", "redis-sentinel"] {
        assert!(
            line(&out, &format!("before {n}:")).contains(&format!("/etc/rc2.d/S01{n}")),
            "{out}"
        );
    }
    assert_eq!(line(&out, "fake:"), "stopped", "{out}");
    assert_eq!(line(&out, "after proftpd:"), "", "{out}");
    assert_eq!(line(&out, "after redis-server:"), "", "{out}");
    assert_eq!(
        line(&out, "after redis-sentinel:"),
        line(&out, "before redis-sentinel:"),
        "{out}"
    );
    assert!(
        out.contains("service proftpd (package proftpd-core, installed as a build and test dependency): stopped it (it had started during the install), disabled it at boot"),
        "{out}"
    );
    assert!(
        out.contains("service redis-server (package redis-server, installed as a build and test dependency): disabled it at boot"),
        "{out}"
    );
    assert!(!out.contains("service redis-sentinel"), "{out}");
}

/// proftpd_rs_listening finds a listening socket by port (what .ci/run and
/// scripts/setup-test.sh check for 21, 6379 and 26379).
#[test]
fn listening_finds_a_listener_by_port() {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    let out = ok(&format!(
        "echo \"found: $(proftpd_rs_listening 1 {port} | wc -l)\"\n"
    ));
    assert_eq!(line(&out, "found:"), "1", "{out}");
    drop(l);
}

// --- prxs-install.sh as root ---------------------------------------------------------

/// A checkout of another user (nobody): prxs-install.sh and modules.txt.
fn foreign_checkout() -> tempfile::TempDir {
    let dir = tempfile::Builder::new()
        .prefix("proftpd-rs-checkout-")
        .tempdir()
        .unwrap();
    for f in ["prxs-install.sh", "modules.txt"] {
        fs::copy(
            Path::new(env!("CARGO_MANIFEST_DIR")).join(f),
            dir.path().join(f),
        )
        .unwrap();
    }
    let st = Command::new("chown")
        .args(["-R", "nobody:nogroup"])
        .arg(dir.path())
        .status()
        .unwrap();
    assert!(st.success());
    dir
}

fn prxs_install(checkout: &Path, args: &[&str]) -> Run {
    let out = Command::new(checkout.join("prxs-install.sh"))
        .args(args)
        .env_remove("CARGO_TARGET_DIR")
        .output()
        .unwrap();
    Run {
        code: out.status.code().unwrap_or(-1),
        out: format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    }
}

/// As root, with a build to do, in a checkout that belongs to another user:
/// refused before cargo runs (no target/ made), saying how to do it; with
/// --no-build (the library built already) it installs.
#[test]
fn prxs_install_as_root_does_not_build_in_another_users_checkout() {
    require_root();
    let checkout = foreign_checkout();
    let dest = tempfile::tempdir().unwrap();
    let dest_dir = dest.path().join("modules");
    let dest_arg = dest_dir.to_str().unwrap();
    for args in [&[][..], &["--dest", dest_arg], &["--build-only"]] {
        let r = prxs_install(checkout.path(), args);
        assert_eq!(r.code, 1, "{args:?}: {}", r.out);
        assert!(
            r.out.contains("not building as root in nobody's checkout")
                && r.out.contains("./prxs-install.sh --build-only")
                && r.out.contains("sudo ./prxs-install.sh --no-build"),
            "{args:?}: {}",
            r.out
        );
        assert!(
            !checkout.path().join("target").exists(),
            "{args:?}: cargo ran"
        );
        assert!(!dest_dir.exists(), "{args:?}: installed something");
    }
    let r = prxs_install(checkout.path(), &["--build-only", "--no-build"]);
    assert_eq!(r.code, 1, "{}", r.out);
    assert!(r.out.contains("exclude each other"), "{}", r.out);

    // The library of this test build (target/debug/deps next to the test binary).
    let deps = std::env::current_exe().unwrap();
    let deps = deps.parent().unwrap();
    let lib = fs::read_dir(deps)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .find(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("libproftpd_rs") && n.ends_with(".so"))
        })
        .expect("no libproftpd_rs*.so next to the test binary");
    let r = prxs_install(
        checkout.path(),
        &["--lib", lib.to_str().unwrap(), "--dest", dest_arg],
    );
    assert_eq!(r.code, 0, "{}", r.out);
    assert!(dest_dir.join("mod_unique_id.so").exists(), "{}", r.out);
}
