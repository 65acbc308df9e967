//! Benchmark (ignored by default): per-command cost of mod_redis, ours vs
//! Debian's C module, and added latency with Redis refusing or silent.
//!
//! All servers run at once, one session each; rounds of NOOPs are measured
//! round-robin across the sessions (so machine noise hits all alike), and
//! each configuration's median round is reported.
//!
//! Run: `PROFTPD_RS_MODULE=target/release/libproftpd_rs.so \
//!       cargo test --test redis_bench -- --ignored --nocapture`

mod harness;

use harness::{Ftp, Modules, Proftpd, RedisServer};
use std::net::TcpListener;
use std::time::{Duration, Instant};

const ROUNDS: usize = 15;
const PER_ROUND: u32 = 200;

fn conf(server: &str, rule: &str) -> String {
    format!(
        "RedisEngine on\nRedisServer {server}\nRedisTimeouts 500 500\nLogFormat b \"%h %l %u %t \\\"%r\\\" %s %b\"\n{rule}\n"
    )
}

#[test]
#[ignore]
fn bench() {
    let redis = RedisServer::start();
    let srv = format!("127.0.0.1:{}", redis.port());
    let closed = {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let silent_l = TcpListener::bind("127.0.0.1:0").unwrap();
    let silent_port = silent_l.local_addr().unwrap().port();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for s in silent_l.incoming().flatten() {
            held.push(s);
        }
    });
    let list = "RedisLogOnCommand NOOP,USER,PASS,QUIT b";
    let all = "RedisLogOnCommand ALL b";
    let configs: Vec<(&str, Modules, Option<String>)> = vec![
        ("no mod_redis", Modules::Ours, None),
        // The C module logs nothing for ALL (1.3.8), so it gets the command list.
        (
            "C mod_redis (command list)",
            Modules::DebianC,
            Some(conf(&srv, list)),
        ),
        ("ours (command list)", Modules::Ours, Some(conf(&srv, list))),
        ("ours (ALL)", Modules::Ours, Some(conf(&srv, all))),
        (
            "ours (ALL), Redis refusing",
            Modules::Ours,
            Some(conf(&format!("127.0.0.1:{closed}"), all)),
        ),
        (
            "ours (ALL), Redis silent",
            Modules::Ours,
            Some(conf(&format!("127.0.0.1:{silent_port}"), all)),
        ),
    ];
    let mut servers: Vec<Proftpd> = Vec::new();
    for (_, modules, c) in &configs {
        let mut b = Proftpd::builder(modules.clone());
        if let Some(c) = c {
            b = b.load_module("mod_redis.c").config(c);
        }
        servers.push(b.start());
    }
    let mut sessions: Vec<Ftp> = servers.iter().map(|s| s.login("alice", "secret")).collect();
    // Warm up, and take the first failure (refused/silent) out of the rounds.
    for ftp in &mut sessions {
        for _ in 0..20 {
            ftp.expect("NOOP", 200);
        }
    }
    let mut times: Vec<Vec<Duration>> = vec![Vec::new(); configs.len()];
    for _ in 0..ROUNDS {
        for (i, ftp) in sessions.iter_mut().enumerate() {
            let t = Instant::now();
            for _ in 0..PER_ROUND {
                ftp.expect("NOOP", 200);
            }
            times[i].push(t.elapsed() / PER_ROUND);
        }
    }
    let us = |d: Duration| d.as_secs_f64() * 1e6;
    let median: Vec<f64> = times
        .iter_mut()
        .map(|t| {
            t.sort();
            us(t[t.len() / 2])
        })
        .collect();
    println!(
        "median per-NOOP round trip ({ROUNDS} rounds x {PER_ROUND} NOOPs, one session per config, round-robin):"
    );
    for (i, (name, _, _)) in configs.iter().enumerate() {
        println!(
            "  {name:<30} {:8.1} us  (added {:+.1} us)",
            median[i],
            median[i] - median[0]
        );
    }
    let c_added = median[1] - median[0];
    println!(
        "  added cost ours/C (command list): {:.2}; ours ALL / C list: {:.2}",
        (median[2] - median[0]) / c_added.max(0.001),
        (median[3] - median[0]) / c_added.max(0.001)
    );
    for ftp in sessions {
        ftp.quit();
    }
}
