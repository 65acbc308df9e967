//! scripts/apt-mirror.sh: the Debian mirror the scripts that make root
//! filesystems and images use is the one this machine's apt uses (its
//! sources in both formats), unless PROFTPD_RS_MIRROR /
//! PROFTPD_RS_SECURITY_MIRROR say otherwise.
//!
//! Each test writes a sample apt configuration into a temporary folder and
//! points apt at it with `APT_CONFIG` (Dir::Etc, Dir::State::lists), so the
//! lookup runs as it does on a machine: through `apt-config`.

use std::fs;
use std::path::Path;
use std::process::Command;

const SCRIPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/apt-mirror.sh");

/// A sample apt configuration: sources.list, sources.list.d/NAME files,
/// lists/NAME Release files.
struct Apt {
    dir: tempfile::TempDir,
}

impl Apt {
    fn new() -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        for d in ["etc/sources.list.d", "etc/apt.conf.d", "lists"] {
            fs::create_dir_all(dir.path().join(d)).unwrap();
        }
        let root = dir.path().display();
        fs::write(
            dir.path().join("apt.conf"),
            format!("Dir::Etc \"{root}/etc/\";\nDir::State::lists \"{root}/lists/\";\n"),
        )
        .unwrap();
        Apt { dir }
    }

    fn file(self, name: &str, text: &str) -> Self {
        let path = self.dir.path().join(name);
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(path, text).unwrap();
        self
    }

    /// `proftpd_rs_mirror KIND` with `env` (NAME, VALUE; VALUE None:
    /// unset): (exit status, stdout, stderr).
    fn lookup(&self, kind: &str, env: &[(&str, Option<&str>)]) -> (i32, String, String) {
        let mut cmd = Command::new("bash");
        cmd.arg("-c")
            .arg(r#"set -euo pipefail; . "$1"; proftpd_rs_mirror "$2""#)
            .arg("lookup")
            .arg(SCRIPT)
            .arg(kind)
            .env("APT_CONFIG", self.dir.path().join("apt.conf"))
            .env_remove("PROFTPD_RS_MIRROR")
            .env_remove("PROFTPD_RS_SECURITY_MIRROR");
        for (k, v) in env {
            match v {
                Some(v) => cmd.env(k, v),
                None => cmd.env_remove(k),
            };
        }
        let out = cmd.output().expect("bash");
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).trim().to_string(),
            String::from_utf8_lossy(&out.stderr).trim().to_string(),
        )
    }

    fn mirror(&self) -> String {
        self.found("archive")
    }

    fn security(&self) -> String {
        self.found("security")
    }

    fn found(&self, kind: &str) -> String {
        let (rc, out, err) = self.lookup(kind, &[]);
        assert_eq!(rc, 0, "{kind}: no mirror found: {err}");
        out
    }

    fn root(&self) -> &Path {
        self.dir.path()
    }
}

const DEB822: &str = "\
# A third-party repository, first by name: not Debian's suites.
Types: deb
URIs: https://repo.example.org/node_20.x
Suites: nodistro
Components: main
Signed-By: /usr/share/keyrings/example.gpg
";

const DEB822_DEBIAN: &str = "\
## Disabled: apt does not use it.
Types: deb
URIs: http://disabled.example/debian
Suites: bookworm
Components: main
Enabled: no
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

# Sources only.
Types: deb-src
URIs: http://src.example/debian
Suites: bookworm
Components: main

Types: deb deb-src
# http://snapshot.example/archive/debian/20250520T000000Z
URIs: http://mirror.example/debian/
Suites: bookworm bookworm-updates
Components: main contrib
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: http://security.example/debian-security
Suites: bookworm-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
";

#[test]
fn deb822_sources_first_debian_entry() {
    let apt = Apt::new()
        .file("etc/sources.list.d/a-example.sources", DEB822)
        .file("etc/sources.list.d/debian.sources", DEB822_DEBIAN);
    assert_eq!(apt.mirror(), "http://mirror.example/debian");
    assert_eq!(apt.security(), "http://security.example/debian-security");
}

#[test]
fn deb822_inline_key_and_case_of_fields() {
    // A repository of Debian's suite names but signed by another key, written
    // into the entry: not the Debian archive.
    let apt = Apt::new().file(
        "etc/sources.list.d/0-vendor.sources",
        "types: deb\nuris: https://vendor.example/debian\nsuites: bookworm\n\
             components: main\nsigned-by:\n -----BEGIN PGP PUBLIC KEY BLOCK-----\n .\n \
             mQINBF\n -----END PGP PUBLIC KEY BLOCK-----\n\n\
             TYPES: deb\nURIS: http://mirror.example/debian\nSUITES: trixie\nCOMPONENTS: main\n",
    );
    assert_eq!(apt.mirror(), "http://mirror.example/debian");
}

const ONE_LINE: &str = "\
# deb http://commented.example/debian bookworm main
deb-src http://src.example/debian bookworm main
deb [arch=amd64 signed-by=/etc/apt/keyrings/vendor.gpg] https://vendor.example/debian bookworm main
deb https://packages.example.com/apt cloud-sdk-bookworm main
deb http://contrib-only.example/debian bookworm contrib
deb [ arch=amd64 signed-by=/usr/share/keyrings/debian-archive-keyring.gpg ] http://mirror.example/debian bookworm main contrib non-free-firmware # a comment
deb http://mirror.example/debian bookworm-updates main
deb http://security.example/debian-security/ bookworm-security main
";

#[test]
fn one_line_sources_list() {
    let apt = Apt::new().file("etc/sources.list", ONE_LINE);
    assert_eq!(apt.mirror(), "http://mirror.example/debian");
    assert_eq!(apt.security(), "http://security.example/debian-security");
}

#[test]
fn old_security_suite_and_list_files() {
    // Debian 10's security suite name (buster/updates), in sources.list.d/*.list.
    let apt = Apt::new().file(
        "etc/sources.list.d/debian.list",
        "deb http://old.example/debian buster main\n\
         deb http://old.example/debian-security buster/updates main\n",
    );
    assert_eq!(apt.mirror(), "http://old.example/debian");
    assert_eq!(apt.security(), "http://old.example/debian-security");
}

#[test]
fn order_is_apts_sources_list_then_parts_by_name() {
    // sources.list first; then sources.list.d's *.list and *.sources by name
    // (other files there are not read).
    let apt = Apt::new()
        .file(
            "etc/sources.list.d/b.sources",
            "Types: deb\nURIs: http://b.example/debian\nSuites: sid\nComponents: main\n",
        )
        .file(
            "etc/sources.list.d/a.list",
            "deb http://a.example/debian trixie main\n",
        )
        .file(
            "etc/sources.list.d/0.list.disabled",
            "deb http://disabled.example/debian trixie main\n",
        );
    assert_eq!(apt.mirror(), "http://a.example/debian");
    let apt = apt.file(
        "etc/sources.list",
        "deb http://proxy.example:3142/debian stable main\n",
    );
    assert_eq!(apt.mirror(), "http://proxy.example:3142/debian");
}

#[test]
fn release_files_apt_fetched_decide() {
    // A repository with Debian's suite names and no Signed-By: its Release
    // file (in apt's lists) says it is not Debian; the next is.
    let apt = Apt::new()
        .file(
            "etc/sources.list",
            "deb http://vendor.example/repo/debian bookworm main\n\
             deb http://apt-cache.example:3142/debian bookworm main\n",
        )
        .file(
            "lists/vendor.example_repo_debian_dists_bookworm_InRelease",
            "-----BEGIN PGP SIGNED MESSAGE-----\nHash: SHA512\n\nOrigin: Vendor\nLabel: Vendor\nSuite: bookworm\n",
        )
        .file(
            "lists/apt-cache.example:3142_debian_dists_bookworm_InRelease",
            "-----BEGIN PGP SIGNED MESSAGE-----\nHash: SHA512\n\nOrigin: Debian\nLabel: Debian\n",
        );
    assert_eq!(apt.mirror(), "http://apt-cache.example:3142/debian");
}

#[test]
fn variables_override_apt() {
    let apt = Apt::new().file("etc/sources.list", ONE_LINE);
    let (rc, out, _) = apt.lookup(
        "archive",
        &[("PROFTPD_RS_MIRROR", Some("file:///srv/debian/"))],
    );
    assert_eq!((rc, out.as_str()), (0, "file:///srv/debian"));
    let (rc, out, _) = apt.lookup(
        "security",
        &[(
            "PROFTPD_RS_SECURITY_MIRROR",
            Some("http://sec.example/debian-security"),
        )],
    );
    assert_eq!(
        (rc, out.as_str()),
        (0, "http://sec.example/debian-security")
    );
    // Set empty: no security mirror, and no error.
    let (rc, out, _) = apt.lookup("security", &[("PROFTPD_RS_SECURITY_MIRROR", Some(""))]);
    assert_eq!((rc, out.as_str()), (0, ""));
}

#[test]
fn none_found_says_what_to_set() {
    // Only other distributions' and third-party repositories.
    let apt = Apt::new().file(
        "etc/sources.list",
        "deb http://archive.example/ubuntu jammy main universe\n\
         deb https://vendor.example/apt vendor-stable main\n\
         deb [signed-by=/etc/apt/keyrings/vendor.gpg] https://vendor.example/debian stable main\n",
    );
    let (rc, out, err) = apt.lookup("archive", &[]);
    assert_eq!(rc, 1, "{out}");
    assert!(out.is_empty(), "{out}");
    assert!(err.contains("set PROFTPD_RS_MIRROR"), "{err}");
    assert!(
        err.contains(&format!("{}/etc/sources.list", apt.root().display())),
        "{err}"
    );
    let (rc, _, err) = apt.lookup("security", &[]);
    assert_eq!(rc, 1);
    assert!(err.contains("set PROFTPD_RS_SECURITY_MIRROR"), "{err}");
}
