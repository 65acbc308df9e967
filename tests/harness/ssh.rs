//! SSH clients for mod_sftp tests: keys made with `ssh-keygen`, the mod_sftp
//! config that uses them, and OpenSSH's `sftp` (batch mode) and `scp -O`
//! with public-key authentication (no password prompt, no sshpass).
//!
//! ```ignore
//! let b = Proftpd::builder(Modules::Ours).load_modules(&["mod_sftp.c", "mod_xferlog.c"]);
//! let keys = SshKeys::generate(b.dir(), &["alice"]);
//! let s = b.config(&keys.sftp_config()).start();   // the main port speaks SSH
//! let src = keys.local("up.src");                  // client-side files
//! keys.sftp(s.port(), "alice", &format!("put {} up.bin\n", src.display()));
//! keys.scp(s.port(), &SshKeys::remote("alice", "up.bin"), keys.local("copy").to_str().unwrap());
//! ```
//!
//! The server-side files (host key, authorized keys) live in the server's dir;
//! the client's key, batch files and local copies in a temp dir of their own
//! (not dumped with the server's logs when a test fails).

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

/// A host key for mod_sftp and one client key pair, authorized for some
/// users (RFC 4716 files, as `SFTPAuthorizedUserKeys file:` reads them).
pub struct SshKeys {
    /// The server's RSA host key (PEM).
    pub host_key: PathBuf,
    /// The client's private key (root-owned, mode 0600, as ssh requires).
    pub client_key: PathBuf,
    /// `<dir>/ssh-authorized/<user>`: the client's public key.
    pub authorized_dir: PathBuf,
    /// The client side's own temp dir.
    client_dir: tempfile::TempDir,
}

fn keygen(args: &[&str], path: &Path) {
    let out = Command::new("ssh-keygen")
        .args(args)
        .args(["-q", "-N", "", "-C", "proftpd-rs test", "-f"])
        .arg(path)
        .stdin(Stdio::null())
        .output()
        .expect("ssh-keygen (Debian package openssh-client)");
    assert!(
        out.status.success(),
        "ssh-keygen {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

impl SshKeys {
    /// Generate the keys in `dir` and authorize the client key for `users`.
    pub fn generate(dir: &Path, users: &[&str]) -> SshKeys {
        let host_key = dir.join("ssh_host_rsa_key");
        keygen(&["-t", "rsa", "-b", "2048", "-m", "PEM"], &host_key);
        let client_dir = tempfile::Builder::new()
            .prefix("proftpd-rs-ssh-client-")
            .tempdir()
            .expect("client temp dir");
        let client_key = client_dir.path().join("id_ecdsa");
        keygen(&["-t", "ecdsa", "-b", "256"], &client_key);
        // RFC 4716 form of the public key.
        let out = Command::new("ssh-keygen")
            .arg("-e")
            .arg("-f")
            .arg(client_key.with_extension("pub"))
            .output()
            .expect("ssh-keygen -e");
        assert!(out.status.success(), "ssh-keygen -e failed");
        let authorized_dir = dir.join("ssh-authorized");
        fs::create_dir_all(&authorized_dir).expect("mkdir ssh-authorized");
        for u in users {
            let p = authorized_dir.join(u);
            fs::write(&p, &out.stdout).expect("write authorized key");
            fs::set_permissions(&p, fs::Permissions::from_mode(0o644)).expect("chmod");
        }
        SshKeys {
            host_key,
            client_key,
            authorized_dir,
            client_dir,
        }
    }

    /// A path in the client's temp dir (for files to upload or download).
    pub fn local(&self, name: &str) -> PathBuf {
        self.client_dir.path().join(name)
    }

    /// Config text that turns the server it is put in into an SSH server
    /// (mod_sftp must be loaded), with `SFTPLog` at `@DIR@/sftp.log`.
    pub fn sftp_config(&self) -> String {
        format!(
            "SFTPEngine on\n\
             SFTPLog @DIR@/sftp.log\n\
             SFTPHostKey {}\n\
             SFTPAuthorizedUserKeys file:{}/%u\n\
             SFTPAuthMethods publickey\n\
             SFTPCompression off\n",
            self.host_key.display(),
            self.authorized_dir.display()
        )
    }

    /// The options every client run gets: our key only, no known-hosts
    /// files, no config, no prompts.
    fn client_args(&self, cmd: &mut Command, port_flag: &str, port: u16) {
        cmd.args(["-F", "/dev/null", "-i"])
            .arg(&self.client_key)
            .args([port_flag, &port.to_string()])
            .args([
                "-o",
                "BatchMode=yes",
                "-o",
                "IdentitiesOnly=yes",
                "-o",
                "StrictHostKeyChecking=no",
                "-o",
                "UserKnownHostsFile=/dev/null",
                "-o",
                "LogLevel=ERROR",
                "-o",
                "ConnectTimeout=20",
            ])
            .stdin(Stdio::null());
    }

    /// Run OpenSSH `sftp -b -` with `batch` (one command a line) as `user`;
    /// panics with the client's stderr unless it succeeds.
    pub fn sftp(&self, port: u16, user: &str, batch: &str) -> Output {
        let batch_file = self.local("sftp-batch");
        fs::write(&batch_file, batch).expect("write sftp batch");
        let mut cmd = Command::new("sftp");
        self.client_args(&mut cmd, "-P", port);
        cmd.arg("-b").arg(&batch_file);
        cmd.arg(format!("{user}@127.0.0.1"));
        let out = cmd.output().expect("sftp (Debian package openssh-client)");
        assert!(
            out.status.success(),
            "sftp {batch:?}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        out
    }

    /// Start OpenSSH `sftp -b` with `batch` as `user` and return at once
    /// (for tests that break a transfer by killing the client).
    pub fn sftp_spawn(&self, port: u16, user: &str, batch: &str) -> std::process::Child {
        let batch_file = self.local("sftp-batch");
        fs::write(&batch_file, batch).expect("write sftp batch");
        let mut cmd = Command::new("sftp");
        self.client_args(&mut cmd, "-P", port);
        cmd.arg("-b").arg(&batch_file);
        cmd.arg(format!("{user}@127.0.0.1"));
        cmd.stdout(Stdio::null()).stderr(Stdio::null());
        cmd.spawn().expect("sftp (Debian package openssh-client)")
    }

    /// `scp -O` (the SCP protocol, not SFTP): copy `from` to `to`, one of
    /// them remote ([`SshKeys::remote`]); panics with stderr unless it
    /// succeeds. (OpenSSH before 8.7, e.g. Debian 11's, has no `-O`: its
    /// scp speaks only the SCP protocol.)
    pub fn scp(&self, port: u16, from: &str, to: &str) -> Output {
        let mut cmd = Command::new("scp");
        if scp_has_legacy_option() {
            cmd.arg("-O");
        }
        self.client_args(&mut cmd, "-P", port);
        cmd.args([from, to]);
        let out = cmd.output().expect("scp (Debian package openssh-client)");
        assert!(
            out.status.success(),
            "scp -O {from} {to}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        out
    }

    /// `user@127.0.0.1:path`, the remote operand of `scp`.
    pub fn remote(user: &str, path: &str) -> String {
        format!("{user}@127.0.0.1:{path}")
    }
}

/// Whether this machine's scp takes `-O` (the SCP protocol; OpenSSH 8.7 and
/// later, whose scp speaks SFTP by default since 9.0): its usage text lists it.
fn scp_has_legacy_option() -> bool {
    static HAS: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *HAS.get_or_init(|| {
        let out = Command::new("scp")
            .output()
            .map(|o| o.stderr)
            .unwrap_or_default();
        let usage = String::from_utf8_lossy(&out);
        usage
            .split(['[', ']'])
            .any(|w| w.starts_with('-') && !w.starts_with("--") && w.contains('O'))
    })
}
