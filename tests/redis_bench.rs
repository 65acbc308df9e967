//! Benchmark (ignored by default): per-command cost of mod_redis, ours vs
//! Debian's C module, and added latency with Redis refusing or silent.
//!
//! Run: `PROFTPD_RS_MODULE=target/release/libproftpd_rs.so \
//!       cargo test --test redis_bench -- --ignored --nocapture`

mod harness;

use harness::{Modules, Proftpd, RedisServer};
use std::net::TcpListener;
use std::time::{Duration, Instant};

const N: u32 = 2000;

fn per_command(modules: Modules, conf: &str, load: bool) -> Duration {
    let mut b = Proftpd::builder(modules);
    if load {
        b = b.load_module("mod_redis.c");
    }
    let server = b.config(conf).start();
    let mut ftp = server.login("alice", "secret");
    // Warm up (and take the first failure, if any, out of the measurement).
    for _ in 0..20 {
        ftp.expect("NOOP", 200);
    }
    let t = Instant::now();
    for _ in 0..N {
        ftp.expect("NOOP", 200);
    }
    let d = t.elapsed() / N;
    ftp.quit();
    d
}

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
    let base = per_command(Modules::Ours, "", false);
    // The C module logs nothing for ALL (1.3.8), so it gets the command list.
    let c = per_command(
        Modules::DebianC,
        &conf(&srv, "RedisLogOnCommand NOOP,USER,PASS,QUIT b"),
        true,
    );
    let ours_list = per_command(
        Modules::Ours,
        &conf(&srv, "RedisLogOnCommand NOOP,USER,PASS,QUIT b"),
        true,
    );
    let ours_all = per_command(Modules::Ours, &conf(&srv, "RedisLogOnCommand ALL b"), true);
    let closed = {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let refused = per_command(
        Modules::Ours,
        &conf(&format!("127.0.0.1:{closed}"), "RedisLogOnCommand ALL b"),
        true,
    );
    let silent_l = TcpListener::bind("127.0.0.1:0").unwrap();
    let silent_port = silent_l.local_addr().unwrap().port();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for s in silent_l.incoming().flatten() {
            held.push(s);
        }
    });
    let silent = per_command(
        Modules::Ours,
        &conf(
            &format!("127.0.0.1:{silent_port}"),
            "RedisLogOnCommand ALL b",
        ),
        true,
    );
    let us = |d: Duration| d.as_secs_f64() * 1e6;
    println!("per NOOP round trip, {N} commands, one session:");
    println!("  no mod_redis:                    {:8.1} us", us(base));
    println!(
        "  C mod_redis (command list):      {:8.1} us  (+{:.1} us)",
        us(c),
        us(c) - us(base)
    );
    println!(
        "  ours (command list):             {:8.1} us  (+{:.1} us)",
        us(ours_list),
        us(ours_list) - us(base)
    );
    println!(
        "  ours (ALL):                      {:8.1} us  (+{:.1} us)",
        us(ours_all),
        us(ours_all) - us(base)
    );
    println!(
        "  ours (ALL), Redis refusing:      {:8.1} us  (+{:.1} us)",
        us(refused),
        us(refused) - us(base)
    );
    println!(
        "  ours (ALL), Redis silent:        {:8.1} us  (+{:.1} us)",
        us(silent),
        us(silent) - us(base)
    );
    println!(
        "  added cost ratio ours/C (list):  {:.2}",
        (us(ours_list) - us(base)) / (us(c) - us(base)).max(0.001)
    );
}
