//! The saturation knee of a load sweep, and a sub-knee operating point to gate at.
//!
//! Reference §6.5 finding 4: gating at the knee, where the p99 curve is steepest, guarantees
//! volatility; gate one step below it. Given a ladder of points (concurrency or request rate,
//! throughput, TTFT p99), sorted by load:
//! - **throughput plateau**: the first point after which throughput gains less than
//!   [`KneeOptions::plateau_gain`] (5 %) per doubling of the load;
//! - **TTFT elbow**: the first point (after the ladder's first) after which TTFT p99 grows by
//!   at least [`KneeOptions::elbow_growth`] (50 %) per doubling of the load *and* at least
//!   [`KneeOptions::elbow_acceleration`] (1.5) times as fast as it grew into that point. Past
//!   saturation a closed loop's latency doubles with every doubling of concurrency (Little's
//!   law); the acceleration test keeps a tail that grows steadily with the load at every point
//!   (a closed loop's first burst of prefills, for example) from being taken for the elbow;
//! - **knee**: the earlier of the two; **recommended**: the ladder point just below the knee.

use crate::fmt;
use crate::EvidenceError;
use serde::{Deserialize, Serialize};

/// One measured point of a sweep.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct SweepPoint {
    /// Offered load: total concurrency (closed loop) or requests/sec (open loop).
    pub load: f64,
    /// Output-token throughput, tokens/sec.
    pub throughput: f64,
    /// TTFT p99, ms.
    pub ttft_p99_ms: f64,
}

/// Thresholds of the knee rule.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct KneeOptions {
    /// Throughput gain per doubling below which throughput has plateaued. Default 0.05.
    pub plateau_gain: f64,
    /// TTFT p99 growth per doubling from which latency climbs. Default 0.5.
    pub elbow_growth: f64,
    /// ... and how many times faster than into the point it must grow. Default 1.5.
    pub elbow_acceleration: f64,
    /// GPUs serving, to state loads per GPU (≥ 1).
    pub gpus: u32,
}

impl Default for KneeOptions {
    fn default() -> Self {
        KneeOptions {
            plateau_gain: 0.05,
            elbow_growth: 0.5,
            elbow_acceleration: 1.5,
            gpus: 1,
        }
    }
}

/// One row of the plot-ready table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KneeRow {
    /// The load.
    pub load: f64,
    /// Load per GPU.
    pub per_gpu: f64,
    /// Throughput, tokens/sec.
    pub throughput: f64,
    /// TTFT p99, ms.
    pub ttft_p99_ms: f64,
    /// Throughput gain per doubling from this point to the next, 0–1 (`None` for the last).
    pub gain_per_doubling: Option<f64>,
    /// TTFT p99 growth per doubling from this point to the next (`None` for the last).
    pub ttft_growth_per_doubling: Option<f64>,
    /// Throughput as a share of the sweep's highest, 0–1.
    pub share_of_peak: f64,
    /// `plateau`, `elbow`, `knee`, `recommended` (space-separated; empty for none).
    pub mark: String,
}

/// The knee analysis of a sweep.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Knee {
    /// Rows, by increasing load.
    pub rows: Vec<KneeRow>,
    /// Index of the throughput plateau.
    pub plateau: Option<usize>,
    /// Index of the TTFT elbow.
    pub elbow: Option<usize>,
    /// Index of the knee (the earlier of the two); `None`: not reached in this sweep.
    pub knee: Option<usize>,
    /// Index of the recommended sub-knee point.
    pub recommended: Option<usize>,
    /// What was found, in plain words.
    pub explanation: String,
}

fn per_doubling(from: f64, to: f64, load_from: f64, load_to: f64) -> Option<f64> {
    let doublings = (load_to / load_from).log2();
    (from > 0.0 && to > 0.0 && doublings > 0.0).then(|| (to / from).powf(1.0 / doublings) - 1.0)
}

/// Finds the knee of `points` (at least 3, loads positive and distinct; any order).
pub fn find_knee(points: &[SweepPoint], opts: &KneeOptions) -> Result<Knee, EvidenceError> {
    if points.len() < 3 {
        return Err(EvidenceError::TooFew {
            what: "sweep points",
            got: points.len(),
            need: 3,
        });
    }
    if opts.gpus == 0 {
        return Err(EvidenceError::invalid("gpus", 0, "at least 1"));
    }
    let mut p = points.to_vec();
    for q in &p {
        if !(q.load.is_finite() && q.load > 0.0) {
            return Err(EvidenceError::invalid(
                "sweep load",
                q.load,
                "a positive number",
            ));
        }
        if !(q.throughput.is_finite() && q.throughput >= 0.0 && q.ttft_p99_ms.is_finite()) {
            return Err(EvidenceError::invalid(
                "sweep point",
                format!("{q:?}"),
                "finite throughput ≥ 0 and a finite TTFT p99",
            ));
        }
    }
    p.sort_by(|a, b| a.load.total_cmp(&b.load));
    if let Some(w) = p.windows(2).find(|w| w[0].load == w[1].load) {
        return Err(EvidenceError::invalid(
            "sweep load",
            w[0].load,
            "each load once",
        ));
    }
    let peak = p.iter().map(|q| q.throughput).fold(0.0, f64::max);
    let gpus = f64::from(opts.gpus);
    let mut rows: Vec<KneeRow> = p
        .iter()
        .enumerate()
        .map(|(i, q)| {
            let next = p.get(i + 1);
            KneeRow {
                load: q.load,
                per_gpu: q.load / gpus,
                throughput: q.throughput,
                ttft_p99_ms: q.ttft_p99_ms,
                gain_per_doubling: next
                    .and_then(|n| per_doubling(q.throughput, n.throughput, q.load, n.load)),
                ttft_growth_per_doubling: next
                    .and_then(|n| per_doubling(q.ttft_p99_ms, n.ttft_p99_ms, q.load, n.load)),
                share_of_peak: if peak > 0.0 { q.throughput / peak } else { 0.0 },
                mark: String::new(),
            }
        })
        .collect();
    let plateau = rows
        .iter()
        .position(|r| r.gain_per_doubling.is_some_and(|g| g < opts.plateau_gain));
    let elbow = (1..rows.len()).find(|&i| {
        let into = rows[i - 1].ttft_growth_per_doubling;
        rows[i].ttft_growth_per_doubling.is_some_and(|g| {
            g >= opts.elbow_growth && into.is_some_and(|p| g >= opts.elbow_acceleration * p)
        })
    });
    let knee = match (plateau, elbow) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    };
    let recommended = knee.and_then(|k| k.checked_sub(1));
    let mut mark = |i: Option<usize>, m: &str| {
        if let Some(i) = i {
            let r = &mut rows[i];
            if !r.mark.is_empty() {
                r.mark.push(' ');
            }
            r.mark.push_str(m);
        }
    };
    mark(plateau, "plateau");
    mark(elbow, "elbow");
    mark(knee, "knee");
    mark(recommended, "recommended");
    let explanation = explain(&rows, plateau, elbow, knee, recommended, opts);
    Ok(Knee {
        rows,
        plateau,
        elbow,
        knee,
        recommended,
        explanation,
    })
}

fn explain(
    rows: &[KneeRow],
    plateau: Option<usize>,
    elbow: Option<usize>,
    knee: Option<usize>,
    recommended: Option<usize>,
    opts: &KneeOptions,
) -> String {
    let at = |r: &KneeRow| format!("{}/GPU ({} in all)", trim(r.per_gpu), trim(r.load));
    let Some(k) = knee else {
        return format!(
            "no knee in this sweep: throughput still gains at least {} per doubling and TTFT \
             p99 never starts growing faster (at least {} per doubling and {}× faster than \
             before) up to {}; extend the ladder",
            fmt::pct(opts.plateau_gain * 100.0),
            fmt::pct(opts.elbow_growth * 100.0),
            opts.elbow_acceleration,
            rows.last().map(at).unwrap_or_default()
        );
    };
    let r = &rows[k];
    let mut why = Vec::new();
    if plateau == Some(k) {
        why.push(format!(
            "throughput gains only {} per doubling beyond it",
            fmt::pct(r.gain_per_doubling.unwrap_or(0.0) * 100.0)
        ));
    }
    if elbow == Some(k) {
        why.push(format!(
            "TTFT p99 grows {} per doubling beyond it (against {} into it)",
            fmt::pct(r.ttft_growth_per_doubling.unwrap_or(0.0) * 100.0),
            fmt::pct(
                k.checked_sub(1)
                    .and_then(|p| rows[p].ttft_growth_per_doubling)
                    .unwrap_or(0.0)
                    * 100.0
            )
        ));
    }
    let mut s = format!(
        "saturation knee at {}: {:.0} tokens/sec, TTFT p99 {:.0} ms; {}",
        at(r),
        r.throughput,
        r.ttft_p99_ms,
        why.join(" and ")
    );
    match recommended {
        Some(i) => {
            let q = &rows[i];
            s.push_str(&format!(
                ". Recommended sub-knee operating point: {}: {:.0} tokens/sec ({} of the \
                 sweep's peak), TTFT p99 {:.0} ms",
                at(q),
                q.throughput,
                fmt::pct(q.share_of_peak * 100.0),
                q.ttft_p99_ms
            ));
        }
        None => s.push_str(". No lower ladder point to recommend: start the ladder lower"),
    }
    s
}

fn trim(v: f64) -> String {
    if v == v.trunc() {
        format!("{v:.0}")
    } else {
        format!("{v:.2}")
    }
}

impl Knee {
    /// The plot-ready table as tab-separated values with a header line.
    pub fn to_tsv(&self) -> String {
        let mut out = String::from(
            "load\tper_gpu\tthroughput_tok_s\tttft_p99_ms\tgain_per_doubling_pct\t\
             ttft_growth_per_doubling_pct\tshare_of_peak_pct\tmark\n",
        );
        let opt = |v: Option<f64>| v.map(|x| format!("{:.1}", x * 100.0)).unwrap_or_default();
        for r in &self.rows {
            out.push_str(&format!(
                "{}\t{}\t{:.2}\t{:.2}\t{}\t{}\t{:.1}\t{}\n",
                trim(r.load),
                trim(r.per_gpu),
                r.throughput,
                r.ttft_p99_ms,
                opt(r.gain_per_doubling),
                opt(r.ttft_growth_per_doubling),
                r.share_of_peak * 100.0,
                r.mark
            ));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A closed-loop curve with its knee at 256/GPU on 8 GPUs: throughput saturates at
    /// 120k, TTFT p99 flat below the knee and doubling per doubling above it.
    fn curve() -> Vec<SweepPoint> {
        [16.0, 32.0, 64.0, 128.0, 256.0, 512.0, 1024.0]
            .iter()
            .map(|&per_gpu| {
                let c = per_gpu * 8.0;
                let throughput = 120_000.0 * (1.0 - (-c / 700.0f64).exp());
                let ttft = if per_gpu <= 256.0 {
                    200.0 + per_gpu
                } else {
                    456.0 * per_gpu / 256.0 * 1.9
                };
                SweepPoint {
                    load: c,
                    throughput,
                    ttft_p99_ms: ttft,
                }
            })
            .collect()
    }

    #[test]
    fn knee_of_a_constructed_curve_within_one_step() {
        let k = find_knee(
            &curve(),
            &KneeOptions {
                gpus: 8,
                ..KneeOptions::default()
            },
        )
        .unwrap();
        let knee = k.knee.unwrap();
        let per_gpu = k.rows[knee].per_gpu;
        assert!((128.0..=512.0).contains(&per_gpu), "{k:#?}");
        assert_eq!(k.rows[k.recommended.unwrap()].per_gpu, per_gpu / 2.0);
        assert!(
            k.explanation.starts_with("saturation knee at"),
            "{}",
            k.explanation
        );
        assert!(
            k.explanation
                .contains("Recommended sub-knee operating point"),
            "{}",
            k.explanation
        );
        let tsv = k.to_tsv();
        assert_eq!(tsv.lines().count(), 8);
        assert!(tsv.lines().any(|l| l.ends_with("recommended")), "{tsv}");
    }

    #[test]
    fn the_exact_knee_of_a_sharp_curve() {
        let pts: Vec<SweepPoint> = [100.0, 200.0, 400.0, 800.0, 1600.0]
            .iter()
            .map(|&c: &f64| SweepPoint {
                load: c,
                throughput: c.min(400.0) * 100.0,
                ttft_p99_ms: if c <= 400.0 { 100.0 } else { 100.0 * c / 400.0 },
            })
            .collect();
        let k = find_knee(&pts, &KneeOptions::default()).unwrap();
        assert_eq!(
            (k.plateau, k.elbow, k.knee, k.recommended),
            (Some(2), Some(2), Some(2), Some(1))
        );
        assert_eq!(k.rows[2].mark, "plateau elbow knee");
    }

    #[test]
    fn no_knee_and_bad_input_are_said_plainly() {
        let pts: Vec<SweepPoint> = [1.0, 2.0, 4.0]
            .iter()
            .map(|&c| SweepPoint {
                load: c,
                throughput: c * 10.0,
                ttft_p99_ms: 50.0,
            })
            .collect();
        let k = find_knee(&pts, &KneeOptions::default()).unwrap();
        assert_eq!(k.knee, None);
        assert!(k.explanation.contains("extend the ladder"));
        assert!(find_knee(&pts[..2], &KneeOptions::default())
            .unwrap_err()
            .to_string()
            .contains("need at least 3"));
        let mut dup = pts.clone();
        dup[1].load = 1.0;
        assert!(find_knee(&dup, &KneeOptions::default()).is_err());
    }
}
