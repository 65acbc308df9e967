//! The session-cost group.

use crate::Params;
use crate::harness::{Proftpd, ProftpdBuilder};
use crate::setup::*;
use crate::stats::{Row, Samples, Stat, Target, Unit};

/// Session cost: CPU of a whole session (connect, USER, PASS, QUIT).
pub struct SessionGroup {
    /// (case, C servers, our servers): `replicas` servers per configuration,
    /// used in turn, so that one server's memory layout (ASLR, inherited by
    /// all its sessions) does not bias a configuration.
    pub cases: Vec<(&'static str, Vec<Proftpd>, Vec<Proftpd>)>,
}

pub const SESSION_CASES: [&str; 6] = [
    "no module",
    "mod_unique_id",
    "mod_log_forensic",
    "mod_redis",
    "xferlog",
    "all",
];

/// The server of one session-cost case; `live` is the mod_redis
/// configuration (see [`redis_conf`]).
pub fn case_builder(case: &str, side: Side, live: &str) -> ProftpdBuilder {
    let b = server(side);
    match case {
        "no module" => b,
        "mod_unique_id" => b.load_module("mod_unique_id.c"),
        "mod_log_forensic" => b.load_module("mod_log_forensic.c").config(FORENSIC_ON),
        "mod_redis" => b.load_module("mod_redis.c").config(live),
        "xferlog" => match side {
            Side::C => b.set("TransferLog", "@DIR@/xferlog"),
            Side::Ours => b.load_module("mod_xferlog.c").config(XFERLOG_EXT),
        },
        "all" => {
            let b = b
                .load_modules(&["mod_unique_id.c", "mod_log_forensic.c", "mod_redis.c"])
                .config(FORENSIC_ON)
                .config(live);
            match side {
                Side::C => b.set("TransferLog", "@DIR@/xferlog"),
                Side::Ours => b.load_module("mod_xferlog.c").config(XFERLOG_EXT),
            }
        }
        other => unreachable!("{other}"),
    }
}

/// The figure of a session-cost case.
pub fn case_figure(case: &str) -> &'static str {
    match case {
        "no module" => "no module (A/A check: same config both sides)",
        "mod_unique_id" => "mod_unique_id",
        "mod_log_forensic" => "mod_log_forensic (engine on)",
        "mod_redis" => "mod_redis (USER,PASS,QUIT → live Redis)",
        "xferlog" => "XferLog wu-ext (C: TransferLog), no transfer",
        _ => "all modules",
    }
}

impl SessionGroup {
    pub fn start(p: &Params, redis: &str) -> SessionGroup {
        let live = redis_conf(redis, SESSION_RULE);
        let build = |case: &str, side: Side| case_builder(case, side, &live).start();
        SessionGroup {
            cases: SESSION_CASES
                .iter()
                .map(|&case| {
                    let replicas = |side| (0..p.replicas).map(|_| build(case, side)).collect();
                    (case, replicas(Side::C), replicas(Side::Ours))
                })
                .collect(),
        }
    }

    pub fn key(case: &str, side: Side) -> String {
        format!("session/{case}/{}", side.tag())
    }

    pub fn sample(&self, p: &Params, round: usize, s: &mut Samples) {
        // Passes over all servers, so that consecutive sessions on one server are
        // far apart (the master sleeps 200 ms after each session's SIGCHLD).
        let n = self.cases.len();
        for pass in 0..p.sessions {
            // Rotate the order of the cases too (a session's position in the
            // pass must not bias the cost a module adds).
            let start = (round * p.sessions + pass) % n;
            for j in 0..n {
                let (case, c, ours) = &self.cases[(start + j) % n];
                let replica = (round + pass) % p.replicas;
                for side in sides(round + pass) {
                    let srv = if side == Side::C {
                        &c[replica]
                    } else {
                        &ours[replica]
                    };
                    let ns = session_cpu_ns(srv, login);
                    s.push(&Self::key(case, side), ns);
                }
            }
        }
    }

    pub fn rows(&self, rows: &mut Vec<Row>) {
        let k = Self::key;
        for case in SESSION_CASES {
            rows.push(Row {
                figure: format!("session CPU, {}", case_figure(case)),
                c: Some(Stat::median(k(case, Side::C))),
                ours: Stat::median(k(case, Side::Ours)),
                unit: Unit::Us,
                // The A/A row shows the noise level; it has no target.
                target: if case == "no module" {
                    Target::Info
                } else {
                    Target::Ratio(1.0)
                },
            });
        }
        for case in &SESSION_CASES[1..] {
            let added = |side| Stat::MedianDiff(k(case, side), k("no module", side));
            rows.push(Row {
                figure: format!("  added by {case} (minus no module)"),
                c: Some(added(Side::C)),
                ours: added(Side::Ours),
                unit: Unit::Us,
                target: Target::Info,
            });
        }
    }
}
