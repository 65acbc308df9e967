//! The transfer-logging group.

use crate::Params;
use crate::harness::Proftpd;
use crate::setup::*;
use crate::stats::{Row, Samples, Stat, Target, Unit};

/// Transfer logging: per-transfer CPU of a long session doing small RETR/STOR.
pub struct XferGroup {
    /// (config, session): "none", "TransferLog" (C), "XferLog" (ours)
    pub live: Vec<(&'static str, Live)>,
    pub _servers: Vec<Proftpd>,
}

pub const PAYLOAD: &[u8] = &[b'x'; 1024];

impl XferGroup {
    pub fn start() -> XferGroup {
        let mut servers = Vec::new();
        let mut live = Vec::new();
        for cfg in ["none", "TransferLog", "XferLog"] {
            let b = match cfg {
                "none" => server(Side::C),
                "TransferLog" => server(Side::C).set("TransferLog", "@DIR@/xferlog"),
                _ => server(Side::Ours)
                    .load_module("mod_xferlog.c")
                    .config(XFERLOG_EXT),
            };
            let srv = b.start();
            let mut l = Live::open(&srv);
            l.ftp.type_i();
            l.ftp.stor("f.bin", PAYLOAD);
            assert_eq!(l.ftp.retr("f.bin").len(), PAYLOAD.len());
            live.push((cfg, l));
            servers.push(srv);
        }
        XferGroup {
            live,
            _servers: servers,
        }
    }

    pub fn key(cfg: &str) -> String {
        format!("xferlog/{cfg}")
    }

    pub fn sample(&mut self, p: &Params, round: usize, s: &mut Samples) {
        let n = self.live.len();
        for j in 0..n {
            let i = nth_in_round(round, n, j);
            let (cfg, l) = &mut self.live[i];
            let c0 = idle_cpu_ns(l.pid);
            for t in 0..p.transfers {
                if t % 2 == 0 {
                    l.ftp.retr("f.bin");
                } else {
                    l.ftp.stor("g.bin", PAYLOAD);
                }
            }
            let c1 = idle_cpu_ns(l.pid);
            s.push(&Self::key(cfg), c1 - c0);
        }
    }

    pub fn rows(&self, p: &Params, rows: &mut Vec<Row>) {
        let k = Self::key;
        rows.push(Row {
            figure: "per-transfer CPU (RETR/STOR 1 KiB), XferLog wu-ext vs TransferLog".into(),
            c: Some(Stat::median(k("TransferLog")).per(p.transfers)),
            ours: Stat::median(k("XferLog")).per(p.transfers),
            unit: Unit::Us,
            target: Target::Ratio(1.0),
        });
        rows.push(Row {
            figure: "  logging cost per transfer (minus no transfer log)".into(),
            c: Some(Stat::MedianDiff(k("TransferLog"), k("none")).per(p.transfers)),
            ours: Stat::MedianDiff(k("XferLog"), k("none")).per(p.transfers),
            unit: Unit::Us,
            target: Target::Info,
        });
    }
}
