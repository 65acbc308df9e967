//! The forensic capture group.

use crate::Params;
use crate::harness::{Proftpd, ProftpdBuilder};
use crate::setup::*;
use crate::stats::{Row, Samples, Stat, Target, Unit};

#[derive(Clone, Copy, PartialEq, Eq)]
pub enum ForensicMode {
    /// `TraceLog` + `Trace DEFAULT:0`: the setting.
    Trace0,
    /// Everything formatted and written (to /dev/null) in all configs: the
    /// difference is the capture handler alone.
    Handler,
}

impl ForensicMode {
    pub fn tag(self) -> &'static str {
        match self {
            ForensicMode::Trace0 => "trace0",
            ForensicMode::Handler => "handler",
        }
    }
}

/// Every configuration of the group: (mode, side, engine on).
pub fn configs() -> Vec<(ForensicMode, Side, bool)> {
    let mut v = Vec::new();
    for mode in [ForensicMode::Trace0, ForensicMode::Handler] {
        for side in [Side::C, Side::Ours] {
            for on in [false, true] {
                v.push((mode, side, on));
            }
        }
    }
    v
}

/// The server of one configuration.
pub fn builder(mode: ForensicMode, side: Side, on: bool) -> ProftpdBuilder {
    let b = server(side).load_module("mod_log_forensic.c");
    let b = match mode {
        ForensicMode::Trace0 => b.config("TraceLog @DIR@/trace.log\nTrace DEFAULT:0"),
        ForensicMode::Handler => b
            .set("SystemLog", "/dev/null")
            .config("DebugLevel 10\nTraceLog /dev/null\nTrace DEFAULT:20"),
    };
    b.config(if on { FORENSIC_ON } else { FORENSIC_OFF })
}

/// Forensic capture CPU per session: engine on minus engine off, each side
/// with its own module.
pub struct ForensicGroup {
    /// (mode, side, engine on, server)
    pub servers: Vec<(ForensicMode, Side, bool, Proftpd)>,
}

impl ForensicGroup {
    pub fn start() -> ForensicGroup {
        let mut servers = Vec::new();
        for (mode, side, on) in configs() {
            servers.push((mode, side, on, builder(mode, side, on).start()));
        }
        ForensicGroup { servers }
    }

    pub fn key(mode: ForensicMode, side: Side, on: bool) -> String {
        format!(
            "forensic/{}/{}/{}",
            mode.tag(),
            side.tag(),
            if on { "on" } else { "off" }
        )
    }

    pub fn sample(&self, p: &Params, round: usize, s: &mut Samples) {
        let n = self.servers.len();
        for j in 0..n {
            let i = nth_in_round(round, n, j);
            let (mode, side, on, srv) = &self.servers[i];
            let cmds = match mode {
                ForensicMode::Trace0 => p.forensic_cmds,
                ForensicMode::Handler => p.handler_cmds,
            };
            let ns = session_cpu_ns(srv, |ftp| {
                login(ftp);
                pipelined(ftp, cmds);
            });
            s.push(&Self::key(*mode, *side, *on), ns);
        }
    }

    pub fn rows(&self, p: &Params, rows: &mut Vec<Row>) {
        let k = Self::key;
        for (mode, cmds) in [
            (ForensicMode::Trace0, p.forensic_cmds),
            (ForensicMode::Handler, p.handler_cmds),
        ] {
            let cost = |side| Stat::MedianDiff(k(mode, side, true), k(mode, side, false));
            let (what, target) = match mode {
                ForensicMode::Trace0 => ("Trace DEFAULT:0", 0.7),
                ForensicMode::Handler => ("handler only: DebugLevel 10, Trace DEFAULT:20", 1.0),
            };
            rows.push(Row {
                figure: format!(
                    "forensic capture CPU per session ({what}; {cmds} commands; on − off)"
                ),
                c: Some(cost(Side::C)),
                ours: cost(Side::Ours),
                unit: Unit::Ms,
                target: Target::Ratio(target),
            });
            if mode == ForensicMode::Trace0 {
                rows.push(Row {
                    figure: format!("  session CPU, engine on ({what}; {cmds} commands)"),
                    c: Some(Stat::median(k(mode, Side::C, true))),
                    ours: Stat::median(k(mode, Side::Ours, true)),
                    unit: Unit::Ms,
                    target: Target::Info,
                });
            }
        }
    }
}
