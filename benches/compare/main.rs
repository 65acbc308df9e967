//! One benchmark comparing our modules with Debian's C modules, in one run.
//!
//! ```text
//! cargo bench --bench compare [-- GROUP...]     # GROUP: session redis forensic xferlog
//! scripts/bench.sh [GROUP...]                   # the same, with a root check
//! scripts/bench.sh --instructions [GROUP...]    # instruction counts (instructions.rs)
//! scripts/bench.sh --drain                      # RedisLogSpool's drain rate (drain.rs)
//! ```
//!
//! Every configuration (C and ours, for every scenario) runs as its own real
//! `/usr/sbin/proftpd` at the same time; each round takes one measurement of
//! every configuration in turn (the C/ours order alternates between rounds), so
//! machine noise hits all alike. Medians over the rounds are reported, with a
//! bootstrap 95% interval of the ratio ours/C (rounds resampled as a whole, as
//! the measurements of one round belong together). How each figure is measured
//! is described in `docs/benchmarks.md`.
//!
//! Parameters (environment): `BENCH_ROUNDS` (default 50), `BENCH_SESSIONS`
//! (session-cost sessions per configuration and round, 4), `BENCH_REPLICAS`
//! (servers per session-cost configuration, used in turn, 3), `BENCH_NOOPS`
//! (commands per Redis sample, 300), `BENCH_FORENSIC_CMDS` (commands per
//! forensic session, 2000), `BENCH_HANDLER_CMDS` (the same for the handler-only
//! mode, 1000), `BENCH_TRANSFERS` (transfers per xferlog sample, 40),
//! `BENCH_HANG_WAIT` (seconds to wait for a banner before calling a session
//! hung, 5).
//!
//! Under `cargo test --all-targets` (no `--bench` argument) this does nothing.

mod drain;
mod forensic;
#[path = "../../tests/harness/mod.rs"]
mod harness;
mod instructions;
mod redis;
mod session;
mod setup;
mod stats;
mod xferlog;

use forensic::ForensicGroup;
use harness::RedisServer;
use redis::RedisGroup;
use session::SessionGroup;
use stats::{Samples, Unit, render_details, render_table};
use std::collections::BTreeMap;
use std::fs;
use std::net::TcpListener;
use std::time::{Duration, Instant};
use xferlog::XferGroup;

// ---------------------------------------------------------------------------
// Parameters

pub struct Params {
    pub rounds: usize,
    pub sessions: usize,
    pub replicas: usize,
    pub noops: usize,
    pub forensic_cmds: usize,
    pub handler_cmds: usize,
    pub transfers: usize,
    pub hang_wait: Duration,
    pub groups: Vec<String>,
}

pub const GROUPS: [&str; 4] = ["session", "redis", "forensic", "xferlog"];

pub fn env_num(name: &str, default: usize) -> usize {
    match std::env::var(name) {
        Ok(v) => v
            .parse()
            .unwrap_or_else(|_| panic!("{name}={v:?} is not a number")),
        Err(_) => default,
    }
}

impl Params {
    fn from_env(args: &[String]) -> Params {
        let mut groups: Vec<String> = args
            .iter()
            .filter(|a| !a.starts_with('-'))
            .cloned()
            .collect();
        for g in &groups {
            assert!(
                GROUPS.contains(&g.as_str()),
                "unknown group {g:?}; groups: {GROUPS:?}"
            );
        }
        if groups.is_empty() {
            groups = GROUPS.iter().map(|s| s.to_string()).collect();
        }
        Params {
            rounds: env_num("BENCH_ROUNDS", 50).max(1),
            sessions: env_num("BENCH_SESSIONS", 4).max(1),
            replicas: env_num("BENCH_REPLICAS", 3).max(1),
            noops: env_num("BENCH_NOOPS", 300).max(1),
            forensic_cmds: env_num("BENCH_FORENSIC_CMDS", 2000).max(1),
            handler_cmds: env_num("BENCH_HANDLER_CMDS", 1000).max(1),
            transfers: env_num("BENCH_TRANSFERS", 40).max(2),
            hang_wait: Duration::from_secs(env_num("BENCH_HANG_WAIT", 5) as u64),
            groups,
        }
    }

    fn wants(&self, group: &str) -> bool {
        self.groups.iter().any(|g| g == group)
    }
}

// ---------------------------------------------------------------------------

pub fn machine() -> String {
    let cpus = std::thread::available_parallelism().map_or(0, |n| n.get());
    let mem_gib = fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| {
            m.lines()
                .find(|l| l.starts_with("MemTotal:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok())
        })
        .map_or(0.0, |kb| kb / 1024.0 / 1024.0);
    let kernel = fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    let load = fs::read_to_string("/proc/loadavg").unwrap_or_default();
    format!(
        "{cpus} CPUs, {mem_gib:.0} GiB, kernel {}, load average {}",
        kernel.trim(),
        load.split_whitespace()
            .take(3)
            .collect::<Vec<_>>()
            .join(" ")
    )
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if !args.iter().any(|a| a == "--bench") {
        println!(
            "compare: a benchmark, skipped here; run it with `cargo bench --bench compare` \
             (see docs/benchmarks.md)"
        );
        return;
    }
    let p = Params::from_env(&args);
    if args.iter().any(|a| a == "--instructions") {
        instructions::run(&p);
        return;
    }
    if args.iter().any(|a| a == "--drain") {
        drain::run(&p);
        return;
    }
    let started = Instant::now();
    eprintln!("[bench] module: {}", harness::cdylib_path().display());
    eprintln!("[bench] machine: {}", machine());
    eprintln!(
        "[bench] groups {:?}, {} rounds (+1 warm-up), {} sessions/round on {} servers per \
         config, {} NOOPs, {} forensic commands ({} handler mode), {} transfers",
        p.groups,
        p.rounds,
        p.sessions,
        p.replicas,
        p.noops,
        p.forensic_cmds,
        p.handler_cmds,
        p.transfers
    );

    // Redis: a live server, a refused port and a silent one (accepts, never answers).
    let redis = (p.wants("session") || p.wants("redis")).then(RedisServer::start);
    let live = redis
        .as_ref()
        .map(|r| format!("127.0.0.1:{}", r.port()))
        .unwrap_or_default();
    let refused = {
        let l = TcpListener::bind("127.0.0.1:0").expect("bind");
        format!("127.0.0.1:{}", l.local_addr().expect("addr").port())
    };
    let silent = format!("127.0.0.1:{}", harness::util::silent_server());

    eprintln!("[bench] starting servers");
    let session = p.wants("session").then(|| SessionGroup::start(&p, &live));
    let mut redis_g = p
        .wants("redis")
        .then(|| RedisGroup::start(&p, &live, &refused, &silent));
    let forensic = p.wants("forensic").then(ForensicGroup::start);
    let mut xfer = p.wants("xferlog").then(XferGroup::start);
    eprintln!(
        "[bench] servers up after {:.1} s",
        started.elapsed().as_secs_f64()
    );

    let mut s = Samples::default();
    for round in 0..=p.rounds {
        // Round 0 warms up and is thrown away.
        let mut round_samples = Samples::default();
        let target = if round == 0 {
            &mut round_samples
        } else {
            &mut s
        };
        if let Some(g) = &session {
            g.sample(&p, round, target);
        }
        if let Some(g) = &mut redis_g {
            g.sample(&p, round, target);
        }
        if let Some(g) = &forensic {
            g.sample(&p, round, target);
        }
        if let Some(g) = &mut xfer {
            g.sample(&p, round, target);
        }
        eprintln!(
            "[bench] round {round}/{}{} done at {:.0} s",
            p.rounds,
            if round == 0 { " (warm-up)" } else { "" },
            started.elapsed().as_secs_f64()
        );
    }

    let mut rows = Vec::new();
    let mut scale = BTreeMap::new();
    if let Some(g) = &session {
        g.rows(&mut rows);
    }
    if let Some(g) = &redis_g {
        g.rows(&p, &mut rows);
        for k in s.0.keys().filter(|k| k.starts_with("redis/")) {
            scale.insert(k.clone(), (1.0 / p.noops as f64, Unit::Us));
        }
    }
    if let Some(g) = &forensic {
        g.rows(&p, &mut rows);
        for k in s.0.keys().filter(|k| k.starts_with("forensic/")) {
            scale.insert(k.clone(), (1.0, Unit::Ms));
        }
    }
    if let Some(g) = &xfer {
        g.rows(&p, &mut rows);
        for k in s.0.keys().filter(|k| k.starts_with("xferlog/")) {
            scale.insert(k.clone(), (1.0 / p.transfers as f64, Unit::Us));
        }
    }

    println!();
    println!(
        "Per configuration (session: CPU per session; redis: per command; forensic: CPU per \
         session; xferlog: CPU per transfer):"
    );
    print!("{}", render_details(&s, &scale));
    println!();
    println!(
        "Results ({} rounds, {} s, {}):",
        p.rounds,
        started.elapsed().as_secs(),
        machine()
    );
    println!();
    print!("{}", render_table(&rows, &s, "ours/C (95% CI)"));
    println!();
    println!(
        "C = Debian's C modules (ModulePath /usr/lib/proftpd); for xferlog rows C = the core's \
         TransferLog (no mod_xferlog). The C mod_redis (1.3.8) logs nothing for \
         `RedisLogOnCommand ALL`, so it gets the list of the commands the scenario sends \
         ({}). CPU = /proc/<pid>/schedstat of the session process (user + kernel); round \
         trips are wall-clock. 95% CI: bootstrap over rounds.",
        setup::RULE_LIST.trim_start_matches("RedisLogOnCommand ")
    );
    drop(redis);
}
