//! Docker containers and networks for tests/docker.rs: the images of docker/
//! (`proftpd-rs:SUITE`, `proftpd-rs-redis:SUITE`, made by scripts/docker-build.sh),
//! run with the `docker` CLI. Every container and network gets a name unique to the
//! test process and is removed on drop (with its anonymous volumes); a test that
//! panics prints the `docker logs` of its containers first.

use std::net::TcpListener;
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use super::util::{self, wait_until};

/// Runs `docker ARGS`; returns its output (never panics).
pub fn docker_output(args: &[&str]) -> Output {
    Command::new("docker")
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("cannot run docker: {e}"))
}

/// Runs `docker ARGS`; panics unless it succeeds; returns its stdout, trimmed.
pub fn docker(args: &[&str]) -> String {
    let out = docker_output(args);
    assert!(
        out.status.success(),
        "docker {}: {}\n{}",
        args.join(" "),
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

/// A name unique to this test process: `prs-<pid>-<n>-<what>`.
pub fn unique_name(what: &str) -> String {
    static N: AtomicU32 = AtomicU32::new(0);
    format!(
        "prs-{}-{}-{what}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

/// `count` consecutive loopback ports that are free now (for the passive
/// range, published 1:1 because PASV/EPSV replies name the container's port).
pub fn free_port_range(count: u16) -> u16 {
    for _ in 0..200 {
        let first = util::free_port();
        if first.checked_add(count).is_none_or(|end| end > 32000) {
            continue;
        }
        let all_free =
            (first + 1..first + count).all(|p| TcpListener::bind(("127.0.0.1", p)).is_ok());
        if all_free {
            return first;
        }
    }
    panic!("no {count} consecutive free ports");
}

/// A user-defined bridge network with its own /24 subnet (so that containers can
/// be given fixed addresses with [`ContainerBuilder::ip`]).
pub struct Network {
    pub name: String,
    /// `a.b.c` of the `a.b.c.0/24` subnet.
    pub prefix: String,
}

impl Network {
    pub fn new() -> Network {
        let name = unique_name("net");
        let mut last = String::new();
        // Random /24s in 10.200.0.0/13 until one does not overlap another network.
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0);
        let mut seed = (std::process::id() as u64) << 32 ^ nanos;
        for attempt in 0..50u64 {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407 + attempt);
            let b = 200 + (seed >> 33) % 8;
            let c = (seed >> 41) % 256;
            let prefix = format!("10.{b}.{c}");
            let subnet = format!("{prefix}.0/24");
            let out = docker_output(&["network", "create", "--subnet", &subnet, &name]);
            if out.status.success() {
                return Network { name, prefix };
            }
            last = String::from_utf8_lossy(&out.stderr).into_owned();
        }
        panic!("docker network create failed: {last}");
    }

    /// `<prefix>.<host>`
    pub fn addr(&self, host: u8) -> String {
        format!("{}.{host}", self.prefix)
    }
}

impl Drop for Network {
    fn drop(&mut self) {
        let _ = docker_output(&["network", "rm", &self.name]);
    }
}

/// What to run: `docker run -d` with these settings.
pub struct ContainerBuilder {
    name: String,
    image: String,
    args: Vec<String>,
    cmd: Vec<String>,
}

impl ContainerBuilder {
    /// `-e KEY=VALUE`
    pub fn env(mut self, key: &str, value: &str) -> Self {
        self.args.push("-e".into());
        self.args.push(format!("{key}={value}"));
        self
    }

    /// `-p 127.0.0.1:HOST:CONTAINER` (a range `a-b` works too).
    pub fn publish(mut self, host: &str, container: &str) -> Self {
        self.args.push("-p".into());
        self.args.push(format!("127.0.0.1:{host}:{container}"));
        self
    }

    /// `-v SRC:DST[:ro]`
    pub fn volume(mut self, spec: &str) -> Self {
        self.args.push("-v".into());
        self.args.push(spec.into());
        self
    }

    /// `--network NAME` (with `--ip ADDR` if given).
    pub fn network(mut self, net: &Network, ip: Option<&str>) -> Self {
        self.args.push("--network".into());
        self.args.push(net.name.clone());
        if let Some(ip) = ip {
            self.args.push("--ip".into());
            self.args.push(ip.into());
        }
        self
    }

    /// Any other `docker run` option.
    pub fn arg(mut self, a: &str) -> Self {
        self.args.push(a.into());
        self
    }

    /// The command (arguments after the image).
    pub fn cmd(mut self, words: &[&str]) -> Self {
        self.cmd = words.iter().map(|w| (*w).to_owned()).collect();
        self
    }

    /// `docker run -d`; panics if it fails.
    pub fn start(self) -> Container {
        let mut args: Vec<&str> = vec!["run", "-d", "--name", &self.name];
        args.extend(self.args.iter().map(String::as_str));
        args.push(&self.image);
        args.extend(self.cmd.iter().map(String::as_str));
        let started = Instant::now();
        docker(&args);
        Container {
            name: self.name,
            started,
        }
    }
}

/// A container, removed (`docker rm -fv`) on drop.
pub struct Container {
    pub name: String,
    /// When `docker run` was called.
    pub started: Instant,
}

impl Container {
    pub fn builder(image: &str, what: &str) -> ContainerBuilder {
        ContainerBuilder {
            name: unique_name(what),
            image: image.into(),
            args: Vec::new(),
            cmd: Vec::new(),
        }
    }

    /// `docker exec NAME CMD...`: its output.
    pub fn exec(&self, cmd: &[&str]) -> Output {
        let mut args = vec!["exec", self.name.as_str()];
        args.extend_from_slice(cmd);
        docker_output(&args)
    }

    /// `docker inspect -f FORMAT NAME`
    pub fn inspect(&self, format: &str) -> String {
        docker(&["inspect", "-f", format, &self.name])
    }

    pub fn running(&self) -> bool {
        self.inspect("{{.State.Running}}") == "true"
    }

    /// `docker logs` (stdout and stderr together).
    pub fn logs(&self) -> String {
        let out = docker_output(&["logs", &self.name]);
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    }

    /// `docker stop -t SECS`; returns how long it took.
    pub fn stop(&self, secs: u32) -> Duration {
        let t = Instant::now();
        docker(&["stop", "-t", &secs.to_string(), &self.name]);
        t.elapsed()
    }

    /// `docker start`
    pub fn start_again(&self) {
        docker(&["start", &self.name]);
    }

    /// Waits until `docker logs` contains `needle`; panics after `timeout`, or
    /// as soon as the container has stopped without it.
    pub fn wait_for_log(&self, needle: &str, timeout: Duration) {
        let mut logs = String::new();
        let mut gone = false;
        if !wait_until(timeout, || {
            logs = self.logs();
            gone = !logs.contains(needle) && !self.running();
            logs.contains(needle) || gone
        }) || gone
        {
            panic!(
                "{}: no {needle:?} in docker logs ({}):\n{logs}",
                self.name,
                if gone {
                    format!("exited, status {}", self.inspect("{{.State.ExitCode}}"))
                } else {
                    format!("after {timeout:?}")
                }
            );
        }
    }
}

impl Drop for Container {
    fn drop(&mut self) {
        if std::thread::panicking() || std::env::var_os("PROFTPD_RS_DUMP_LOGS").is_some() {
            eprintln!(
                "---- docker logs {} ----\n{}---- end ----",
                self.name,
                self.logs()
            );
        }
        let _ = docker_output(&["rm", "-fv", &self.name]);
    }
}

/// A Compose project of a compose file (`docker-compose`, Compose v1, or else
/// `docker compose`), with its own project name and environment; `down -v`
/// (containers, one-off ones too, network, volumes) on drop.
pub struct Compose {
    pub project: String,
    file: std::path::PathBuf,
    env: Vec<(String, String)>,
}

impl Compose {
    pub fn new(file: &std::path::Path, env: &[(&str, &str)]) -> Compose {
        Compose {
            // Compose v1 project names: lower case letters, digits, '-', '_'.
            project: unique_name("compose").replace('-', "_"),
            file: file.to_path_buf(),
            env: env
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
        }
    }

    /// `docker-compose` if there is one, else `docker compose` if there is
    /// one, else None.
    fn try_command() -> Option<Command> {
        let works = |c: &mut Command| {
            c.arg("version")
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|s| s.success())
        };
        if works(&mut Command::new("docker-compose")) {
            return Some(Command::new("docker-compose"));
        }
        let mut v2 = Command::new("docker");
        v2.arg("compose");
        works(&mut v2).then(|| {
            let mut c = Command::new("docker");
            c.arg("compose");
            c
        })
    }

    /// Is there a Compose (v1 or v2)?
    pub fn available() -> bool {
        Self::try_command().is_some()
    }

    fn command() -> Command {
        Self::try_command().expect("neither docker-compose nor docker compose")
    }

    /// `docker-compose -p PROJECT -f FILE ARGS` with the environment; its output.
    pub fn output(&self, args: &[&str]) -> Output {
        let mut c = Self::command();
        c.arg("-p")
            .arg(&self.project)
            .arg("-f")
            .arg(&self.file)
            .args(args)
            .stdin(Stdio::null());
        for (k, v) in &self.env {
            c.env(k, v);
        }
        c.output()
            .unwrap_or_else(|e| panic!("cannot run docker-compose: {e}"))
    }

    /// The containers of the project (one-off ones too): their names.
    pub fn containers(&self) -> Vec<String> {
        docker(&[
            "ps",
            "-a",
            "--filter",
            &format!("label=com.docker.compose.project={}", self.project),
            "--format",
            "{{.Names}}",
        ])
        .lines()
        .map(str::to_owned)
        .collect()
    }
}

impl Drop for Compose {
    fn drop(&mut self) {
        if std::thread::panicking() {
            for c in self.containers() {
                let out = docker_output(&["logs", &c]);
                eprintln!(
                    "---- docker logs {c} ----\n{}{}---- end ----",
                    String::from_utf8_lossy(&out.stdout),
                    String::from_utf8_lossy(&out.stderr)
                );
            }
        }
        let _ = self.output(&["down", "-v", "--remove-orphans"]);
    }
}
