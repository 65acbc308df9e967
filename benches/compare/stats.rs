//! Samples, medians, bootstrap intervals and the tables.

use std::collections::BTreeMap;
use std::fmt::Write as _;

/// Samples per configuration key; within a group every key gets one sample per
/// slot (round, pass), so index i of two keys was measured in the same slot.
#[derive(Default)]
pub struct Samples(pub BTreeMap<String, Vec<f64>>);

impl Samples {
    pub fn push(&mut self, key: &str, v: f64) {
        self.0.entry(key.to_owned()).or_default().push(v);
    }

    pub fn get(&self, key: &str) -> &[f64] {
        self.0
            .get(key)
            .map(Vec::as_slice)
            .unwrap_or_else(|| panic!("no samples for {key}"))
    }
}

pub fn median(v: &mut [f64]) -> f64 {
    assert!(!v.is_empty());
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

pub fn quantile(sorted: &[f64], q: f64) -> f64 {
    let pos = q * (sorted.len() - 1) as f64;
    let (lo, hi) = (pos.floor() as usize, pos.ceil() as usize);
    sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo as f64)
}

/// A figure computed from the samples at the given slot indices.
#[derive(Clone)]
pub enum Stat {
    /// Median of one key.
    Median(String),
    /// Median over slots of `a - b` (paired: same slot), i.e. the added cost.
    MedianDiff(String, String),
    /// Mean of `a - b` over slots (for stalls that a median would hide).
    MeanDiff(String, String),
    /// Scaled by a factor (e.g. per command).
    Scaled(Box<Stat>, f64),
}

impl Stat {
    pub fn median(k: String) -> Stat {
        Stat::Median(k)
    }

    pub fn per(self, n: usize) -> Stat {
        Stat::Scaled(Box::new(self), 1.0 / n as f64)
    }

    pub fn len(&self, s: &Samples) -> usize {
        match self {
            Stat::Median(k) | Stat::MedianDiff(k, _) | Stat::MeanDiff(k, _) => s.get(k).len(),
            Stat::Scaled(inner, _) => inner.len(s),
        }
    }

    pub fn eval(&self, s: &Samples, idx: &[usize]) -> f64 {
        match self {
            Stat::Median(k) => {
                let v = s.get(k);
                median(&mut idx.iter().map(|&i| v[i]).collect::<Vec<_>>())
            }
            Stat::MedianDiff(a, b) => {
                let (a, b) = (s.get(a), s.get(b));
                median(&mut idx.iter().map(|&i| a[i] - b[i]).collect::<Vec<_>>())
            }
            Stat::MeanDiff(a, b) => {
                let (a, b) = (s.get(a), s.get(b));
                idx.iter().map(|&i| a[i] - b[i]).sum::<f64>() / idx.len() as f64
            }
            Stat::Scaled(inner, f) => inner.eval(s, idx) * f,
        }
    }
}

/// Unit of a row's values (samples are in ns, or instructions for `Ir`).
#[derive(Clone, Copy)]
pub enum Unit {
    Us,
    Ms,
    /// Instructions (callgrind's Ir).
    Ir,
}

impl Unit {
    pub fn fmt(self, ns: f64) -> String {
        match self {
            Unit::Us => format!("{:.1} µs", ns / 1e3),
            Unit::Ms => format!("{:.2} ms", ns / 1e6),
            Unit::Ir if ns.abs() >= 1e6 => format!("{:.2} M", ns / 1e6),
            Unit::Ir if ns.abs() >= 1e3 => format!("{:.1} k", ns / 1e3),
            Unit::Ir => format!("{ns:.0}"),
        }
    }
}

#[derive(Clone, Copy)]
pub enum Target {
    /// ours/C at most this.
    Ratio(f64),
    /// Ours at most this many ns (the C value is shown for comparison).
    OursAtMost(f64),
    /// No target: a breakdown of another row (e.g. the cost a module adds).
    /// The ratio is shown only where C's value is clearly above zero.
    Info,
}

pub struct Row {
    pub figure: String,
    /// `None`: the C configuration hangs.
    pub c: Option<Stat>,
    pub ours: Stat,
    pub unit: Unit,
    pub target: Target,
}

/// xorshift64* for the bootstrap.
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
}

pub const BOOTSTRAP: usize = 1000;

/// The 2.5% and 97.5% quantiles of `f` over bootstrap resamples of the slots.
pub fn bootstrap(n: usize, rng: &mut Rng, mut f: impl FnMut(&[usize]) -> f64) -> (f64, f64) {
    let mut vals: Vec<f64> = (0..BOOTSTRAP)
        .map(|_| {
            let idx: Vec<usize> = (0..n).map(|_| (rng.next() % n as u64) as usize).collect();
            f(&idx)
        })
        .filter(|v| v.is_finite())
        .collect();
    if vals.is_empty() {
        return (f64::NAN, f64::NAN);
    }
    vals.sort_by(f64::total_cmp);
    (quantile(&vals, 0.025), quantile(&vals, 0.975))
}

/// The table of `rows`; `ratio_label` heads the ratio column.
pub fn render_table(rows: &[Row], s: &Samples, ratio_label: &str) -> String {
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let mut out = String::new();
    let _ = writeln!(
        out,
        "| figure | C (median) | ours (median) | {ratio_label} | target | met? |"
    );
    out.push_str("|---|---:|---:|---:|---|---|\n");
    for row in rows {
        let n = row.ours.len(s);
        let all: Vec<usize> = (0..n).collect();
        let ours = row.ours.eval(s, &all);
        let c = row.c.as_ref().map(|c| c.eval(s, &all));
        let ratio = c.map(|c| ours / c);
        let ratio_ci = row
            .c
            .as_ref()
            .map(|cs| bootstrap(n, &mut rng, |idx| row.ours.eval(s, idx) / cs.eval(s, idx)));
        let ours_ci = bootstrap(n, &mut rng, |idx| row.ours.eval(s, idx));
        let c_ci = row
            .c
            .as_ref()
            .map(|cs| bootstrap(n, &mut rng, |idx| cs.eval(s, idx)));
        let (ratio, ratio_ci) = match (row.target, c_ci) {
            (Target::Info, Some((lo, _))) if lo <= 0.0 => (None, None),
            _ => (ratio, ratio_ci),
        };
        let c_cell = match c {
            Some(c) => row.unit.fmt(c),
            None => "hangs".to_owned(),
        };
        let ratio_cell = match (ratio, ratio_ci) {
            (Some(r), Some((lo, hi))) => format!("{r:.2} ({lo:.2}–{hi:.2})"),
            _ if c.is_some() => "— (C adds ≈ 0)".to_owned(),
            _ => "—".to_owned(),
        };
        let (target_cell, met) = match row.target {
            Target::Info => ("(breakdown)".to_owned(), String::new()),
            Target::Ratio(t) => {
                let cell = format!("≤ {t:.2}");
                match (ratio, ratio_ci) {
                    (Some(r), Some((lo, hi))) => {
                        let mut m = if r <= t { "yes" } else { "no" }.to_owned();
                        if lo <= t && t <= hi {
                            m.push_str(" (within noise)");
                        }
                        (cell, m)
                    }
                    _ => (cell, "yes (C hangs)".to_owned()),
                }
            }
            Target::OursAtMost(max) => {
                let cell = format!("ours ≤ {}", row.unit.fmt(max));
                let mut m = if ours <= max { "yes" } else { "no" }.to_owned();
                if ours_ci.0 <= max && max <= ours_ci.1 {
                    m.push_str(" (within noise)");
                }
                (cell, m)
            }
        };
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} | {} |",
            row.figure,
            c_cell,
            row.unit.fmt(ours),
            ratio_cell,
            target_cell,
            met
        );
    }
    out
}

/// Per-configuration detail: median, quartiles, min, max, number of samples.
pub fn render_details(s: &Samples, scale: &BTreeMap<String, (f64, Unit)>) -> String {
    let mut out = String::new();
    for (key, v) in &s.0 {
        let (f, unit) = scale.get(key).copied().unwrap_or((1.0, Unit::Us));
        let mut sorted: Vec<f64> = v.iter().map(|x| x * f).collect();
        sorted.sort_by(f64::total_cmp);
        let _ = writeln!(
            out,
            "  {key:<42} median {:>11}  p25 {:>11}  p75 {:>11}  min {:>11}  max {:>11}  n {}",
            unit.fmt(quantile(&sorted, 0.5)),
            unit.fmt(quantile(&sorted, 0.25)),
            unit.fmt(quantile(&sorted, 0.75)),
            unit.fmt(sorted[0]),
            unit.fmt(sorted[sorted.len() - 1]),
            sorted.len()
        );
    }
    out
}
