//! The Redis per-command group.

use crate::Params;
use crate::harness::Proftpd;
use crate::harness::util::{child_pids, wait_until};
use crate::setup::*;
use crate::stats::{Row, Samples, Stat, Target, Unit};
use std::time::{Duration, Instant};

/// Redis per-command cost and dead-Redis latency: one long session per config,
/// `noops` NOOPs in lockstep per sample.
pub struct RedisGroup {
    /// (config, side, session)
    pub live: Vec<(&'static str, Side, Live)>,
    pub _servers: Vec<Proftpd>,
    pub c_silent_hangs: bool,
}

impl RedisGroup {
    pub fn start(p: &Params, live: &str, refused: &str, silent: &str) -> RedisGroup {
        let mut servers = Vec::new();
        let mut sessions = Vec::new();
        let mut c_silent_hangs = false;
        for (cfg, addr) in [
            ("base", None),
            ("live", Some(live)),
            ("refused", Some(refused)),
            ("silent", Some(silent)),
        ] {
            for side in [Side::C, Side::Ours] {
                let mut b = server(side);
                if let Some(addr) = addr {
                    b = b
                        .load_module("mod_redis.c")
                        .config(&redis_conf(addr, rule_for(side)));
                }
                let srv = b.start();
                if cfg == "silent" && side == Side::C {
                    // The C module waits forever for the silent Redis, before the
                    // banner; a bounded wait keeps the benchmark from hanging too.
                    if !banner_within(srv.port(), p.hang_wait) {
                        eprintln!(
                            "[bench] C mod_redis with a silent Redis: no banner in {:?}: hangs",
                            p.hang_wait
                        );
                        c_silent_hangs = true;
                        servers.push(srv);
                        continue;
                    }
                    // It answered after all: measure it (the check's session ended).
                    wait_until(Duration::from_secs(10), || child_pids(srv.pid()).is_empty());
                }
                let mut l = Live::open(&srv);
                // Warm up, and get the first failure (refused/silent) out of the way.
                for _ in 0..20 {
                    l.ftp.expect("NOOP", 200);
                }
                sessions.push((cfg, side, l));
                servers.push(srv);
            }
        }
        RedisGroup {
            live: sessions,
            _servers: servers,
            c_silent_hangs,
        }
    }

    pub fn key(cfg: &str, side: Side, what: &str) -> String {
        format!("redis/{cfg}/{}/{what}", side.tag())
    }

    pub fn sample(&mut self, p: &Params, round: usize, s: &mut Samples) {
        let n = self.live.len();
        for j in 0..n {
            let i = nth_in_round(round, n, j);
            let (cfg, side, l) = &mut self.live[i];
            let c0 = idle_cpu_ns(l.pid);
            let t = Instant::now();
            for _ in 0..p.noops {
                l.ftp.expect("NOOP", 200);
            }
            let wall = t.elapsed().as_nanos() as f64;
            let c1 = idle_cpu_ns(l.pid);
            s.push(&Self::key(cfg, *side, "cpu"), c1 - c0);
            s.push(&Self::key(cfg, *side, "wall"), wall);
        }
    }

    pub fn rows(&self, p: &Params, rows: &mut Vec<Row>) {
        let k = Self::key;
        let per = |st: Stat| st.per(p.noops);
        let med = |cfg, side, what| per(Stat::median(k(cfg, side, what)));
        let added =
            |cfg, side, what| per(Stat::MedianDiff(k(cfg, side, what), k("base", side, what)));
        rows.push(Row {
            figure: "per-command CPU, RedisLogOnCommand ALL (C: command list), live Redis".into(),
            c: Some(med("live", Side::C, "cpu")),
            ours: med("live", Side::Ours, "cpu"),
            unit: Unit::Us,
            target: Target::Ratio(1.0),
        });
        // The Redis-logging target applies to the logging cost itself.
        rows.push(Row {
            figure: "  Redis-logging CPU per command (minus no mod_redis)".into(),
            c: Some(added("live", Side::C, "cpu")),
            ours: added("live", Side::Ours, "cpu"),
            unit: Unit::Us,
            target: Target::Ratio(0.9),
        });
        rows.push(Row {
            figure: "per-command round trip (wall), live Redis".into(),
            c: Some(med("live", Side::C, "wall")),
            ours: med("live", Side::Ours, "wall"),
            unit: Unit::Us,
            target: Target::Ratio(1.0),
        });
        rows.push(Row {
            figure: "per-command round trip (wall), no mod_redis (A/A check)".into(),
            c: Some(med("base", Side::C, "wall")),
            ours: med("base", Side::Ours, "wall"),
            unit: Unit::Us,
            target: Target::Info,
        });
        rows.push(Row {
            figure: "per-command round trip (wall), Redis refused".into(),
            c: Some(med("refused", Side::C, "wall")),
            ours: med("refused", Side::Ours, "wall"),
            unit: Unit::Us,
            target: Target::Ratio(1.0),
        });
        rows.push(Row {
            figure: "  added latency per command, Redis refused".into(),
            c: Some(added("refused", Side::C, "wall")),
            ours: added("refused", Side::Ours, "wall"),
            unit: Unit::Us,
            target: Target::OursAtMost(1e6),
        });
        let c_silent = |st: Stat| (!self.c_silent_hangs).then_some(st);
        rows.push(Row {
            figure: "per-command round trip (wall), Redis silent".into(),
            c: c_silent(med("silent", Side::C, "wall")),
            ours: med("silent", Side::Ours, "wall"),
            unit: Unit::Us,
            target: Target::Ratio(1.0),
        });
        rows.push(Row {
            figure: "  added latency per command, Redis silent (median)".into(),
            c: c_silent(added("silent", Side::C, "wall")),
            ours: added("silent", Side::Ours, "wall"),
            unit: Unit::Us,
            target: Target::OursAtMost(1e6),
        });
        let mean = |side| {
            per(Stat::MeanDiff(
                k("silent", side, "wall"),
                k("base", side, "wall"),
            ))
        };
        rows.push(Row {
            figure: "  added latency per command, Redis silent (mean, incl. retry stalls)".into(),
            c: c_silent(mean(Side::C)),
            ours: mean(Side::Ours),
            unit: Unit::Us,
            target: Target::OursAtMost(1e6),
        });
    }
}
