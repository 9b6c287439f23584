//! The report's charts, each built from plain data into an inline `<svg>` string.

use crate::analysis::RequestRow;
use crate::analysis::{Analysis, StallKind, TimeSeries, TimelineSample};
use crate::fmt::{auto, compact, esc, num};
use crate::svg::{nice_max, nice_range, Axis, Plot};
use crate::views::{ProbeView, ScrapeSample, SweepView};
use infergate_stats::percentile_sorted as percentile;
use std::fmt::Write;

/// Width of every chart's view box, px (charts scale to the page width).
const W: f64 = 960.0;
/// Most points drawn for one CDF.
const CDF_POINTS: usize = 400;
/// Distinct worker colours before they repeat.
pub const PALETTE: usize = 10;

/// Empirical CDF of ascending `sorted` values (ms) with p50, p90 and p99 marked, and an optional
/// red ceiling marker. Log x axis when the values span more than a factor of 20.
pub fn cdf(sorted: &[f64], title: &str, unit: &str, ceiling: Option<(f64, &str)>) -> String {
    let (Some(&min), Some(&max)) = (sorted.first(), sorted.last()) else {
        return String::from(r#"<p class="muted">No samples.</p>"#);
    };
    let hi = ceiling.map_or(max, |(c, _)| c.max(max));
    let log = min > 0.0 && hi / min > 20.0;
    let x = if log {
        Axis::log(min, hi, &format!("{title} ({unit}, log scale)"))
    } else {
        let (lo, hi) = nice_range(min, hi);
        Axis::linear(lo, hi, &format!("{title} ({unit})"))
    };
    let mut p = Plot::new(
        W,
        280.0,
        &x,
        &Axis::linear(0.0, 1.0, "fraction of requests ≤ x"),
        &format!("{title} CDF"),
    );
    let n = sorted.len();
    let step = (n / CDF_POINTS).max(1);
    let mut pts: Vec<(f64, f64)> = Vec::with_capacity(n / step + 2);
    for i in (0..n).step_by(step) {
        pts.push((sorted[i], (i + 1) as f64 / n as f64));
    }
    if pts.last().map(|l| l.0) != Some(max) {
        pts.push((max, 1.0));
    }
    p.line(&pts, "s-main");
    for q in [50.0, 90.0, 99.0] {
        if let Some(v) = percentile(sorted, q) {
            p.vline(v, "m-pct", &format!("p{q:.0} {} {unit}", auto(v)));
        }
    }
    if let Some((c, label)) = ceiling {
        p.vline(c, "m-bad", label);
    }
    p.finish()
}

/// Output-token throughput over time (warmup shaded).
pub fn throughput_over_time(ts: &TimeSeries) -> String {
    let max = ts.tokens_per_s.iter().copied().fold(0.0, f64::max);
    over_time(
        ts,
        &ts.tokens_per_s,
        (240.0, "throughput over time", "s-main"),
        &Axis::linear(0.0, nice_max(max), "output tokens/s"),
    )
    .finish()
}

/// One per-bucket series of `ts` as steps over the run's time, warmup shaded; `(height, title,
/// series class)` style it. The caller adds its marks and finishes the plot.
fn over_time(ts: &TimeSeries, values: &[f64], style: (f64, &str, &str), y: &Axis) -> Plot {
    let (height, title, class) = style;
    let end = ts.t_s.last().map_or(1.0, |t| t + ts.bucket_s);
    let mut p = Plot::new(
        W,
        height,
        &Axis::linear(0.0, end, "time since run start (s)"),
        y,
        title,
    );
    if let Some(w) = ts.warmup_end_s {
        p.xband(0.0, w, "band-warm", "warmup (not counted)");
    }
    let pts: Vec<(f64, f64)> = ts.t_s.iter().copied().zip(values.iter().copied()).collect();
    p.steps(&pts, ts.bucket_s, class);
    p
}

/// Requests in flight over time, with the target concurrency dashed when known.
pub fn in_flight_over_time(ts: &TimeSeries, target: Option<f64>) -> String {
    let max = ts
        .in_flight
        .iter()
        .copied()
        .fold(target.unwrap_or(0.0), f64::max);
    let mut p = over_time(
        ts,
        &ts.in_flight,
        (200.0, "in-flight requests over time", "s-alt"),
        &Axis::linear(0.0, nice_max(max), "requests in flight"),
    );
    if let Some(t) = target {
        p.hline(t, "m-pct", &format!("target {}", num(t, 0)));
    }
    p.finish()
}

/// One line per sampled request: send → first token (thin, muted), first → last token (coloured
/// by worker), failed requests and stalls in red with a hover title.
pub fn request_timeline(
    records: &[RequestRow],
    analysis: &Analysis,
    sample: &TimelineSample,
    workers: &[String],
) -> String {
    let rows = sample.indices.len();
    if rows == 0 {
        return String::from(r#"<p class="muted">No profile requests.</p>"#);
    }
    let t0 = sample
        .indices
        .iter()
        .map(|&i| records[i].send_ns)
        .min()
        .unwrap_or(0) as f64
        / 1e9;
    let t1 = sample
        .indices
        .iter()
        .map(|&i| records[i].end_ns.max(records[i].send_ns))
        .max()
        .unwrap_or(0) as f64
        / 1e9;
    let h = (rows as f64 * 0.5).clamp(160.0, 560.0);
    let mut p = Plot::new(
        W,
        h,
        &Axis::linear(t0, t1.max(t0 + 1e-3), "time since run start (s)"),
        &Axis::linear(0.0, rows as f64, "request (in send order)"),
        "per-request timeline",
    );
    let s = |ns: u64| ns as f64 / 1e9;
    let mut wait = String::new();
    let mut by_worker = vec![String::new(); PALETTE + 1];
    let mut flagged = String::new();
    for (row, &i) in sample.indices.iter().enumerate() {
        let r = &records[i];
        let y = p.y.px(row as f64 + 0.5);
        let xs = p.x.px(s(r.send_ns));
        let (first, last) = (r.first_ns, r.last_ns);
        let reason = match (&r.failure, analysis.stalls[i]) {
            (Some(kind), _) => Some(format!("failed: {kind}")),
            (None, Some(StallKind::Ttft)) => Some("stalled: TTFT above the ceiling".to_owned()),
            (None, Some(StallKind::TokenGap)) => Some("stalled: token gap".to_owned()),
            (None, None) => None,
        };
        if let Some(reason) = reason {
            let end = last.unwrap_or(r.end_ns).max(r.end_ns);
            let ttft = r.ttft_ns.map_or_else(String::new, |t| {
                format!(", TTFT {} ms", auto(t as f64 / 1e6))
            });
            let _ = write!(
                flagged,
                r#"<path class="tl-bad" d="M{xs:.1},{y:.1}H{:.1}"><title>request {} ({}){}{}</title></path>"#,
                p.x.px(s(end)),
                r.index,
                esc(&reason),
                ttft,
                r.worker
                    .and_then(|w| workers.get(w as usize))
                    .map_or_else(String::new, |w| format!(", worker {}", esc(w)))
            );
            continue;
        }
        let (Some(f), Some(l)) = (first, last) else {
            continue;
        };
        let _ = write!(wait, "M{xs:.1},{y:.1}H{:.1}", p.x.px(s(f)));
        let slot = r.worker.map_or(PALETTE, |k| k as usize % PALETTE);
        let _ = write!(
            by_worker[slot],
            "M{:.1},{y:.1}H{:.1}",
            p.x.px(s(f)),
            p.x.px(s(l)).max(p.x.px(s(f)) + 0.5)
        );
    }
    if !wait.is_empty() {
        p.raw(&format!(r#"<path class="tl-wait" d="{wait}"/>"#));
    }
    for (slot, d) in by_worker.iter().enumerate() {
        if !d.is_empty() {
            let class = if slot == PALETTE {
                "tl-none".to_owned()
            } else {
                format!("tl w{slot}")
            };
            p.raw(&format!(r#"<path class="{class}" d="{d}"/>"#));
        }
    }
    p.raw(&flagged);
    p.finish()
}

/// Probe attempts as bars on a time axis, time to ready marked.
pub fn readiness(probe: &ProbeView) -> String {
    if probe.attempts.is_empty() {
        return String::new();
    }
    let end = probe
        .attempts
        .iter()
        .map(|a| a.start_s + a.duration_s)
        .fold(probe.time_to_ready_s.unwrap_or(0.0), f64::max);
    let rows = probe.attempts.len() as f64;
    let h = (60.0 + rows * 18.0).clamp(120.0, 360.0);
    let mut p = Plot::new(
        W,
        h,
        &Axis::linear(0.0, nice_max(end), "seconds since the probe started"),
        &Axis::linear(0.0, rows, "attempt"),
        "readiness probe attempts",
    );
    for (k, a) in probe.attempts.iter().enumerate() {
        let (x0, x1) = (p.x.px(a.start_s), p.x.px(a.start_s + a.duration_s));
        let (y0, y1) = (p.y.px(k as f64 + 0.85), p.y.px(k as f64 + 0.15));
        let class = if a.outcome == "ok" {
            "bar-ok"
        } else {
            "bar-bad"
        };
        let status = a.status.map_or_else(String::new, |s| format!(" HTTP {s}"));
        p.raw(&format!(
            r#"<rect class="{class}" x="{x0:.1}" y="{y0:.1}" width="{:.1}" height="{:.1}"><title>attempt {}: {}{} after {} s{}</title></rect>"#,
            (x1 - x0).max(2.0),
            (y1 - y0).max(2.0),
            k + 1,
            esc(&a.outcome),
            status,
            num(a.duration_s, 2),
            if a.detail.is_empty() { String::new() } else { format!(" — {}", esc(&a.detail)) }
        ));
    }
    if let Some(t) = probe.time_to_ready_s {
        p.vline(t, "m-ok", &format!("ready at {} s", num(t, 1)));
    }
    p.finish()
}

/// Sweep: throughput and TTFT p99 against the offered load, knee and recommendation marked.
pub fn sweep(sweep: &SweepView) -> String {
    if sweep.points.is_empty() {
        return String::new();
    }
    let axis_name = if sweep.axis == "rate" {
        "offered rate (requests/s)"
    } else {
        "concurrency"
    };
    let xmax = nice_max(
        sweep
            .points
            .iter()
            .map(|p| p.concurrency)
            .fold(0.0, f64::max),
    );
    let knee = sweep
        .knee_index
        .and_then(|k| sweep.points.get(k))
        .map(|p| p.concurrency);
    let recommended = sweep
        .recommended_per_gpu
        .map(|r| r * f64::from(sweep.gpus.unwrap_or(1)));
    let mut out = String::new();
    type Pick = fn(&crate::views::SweepPointView) -> Option<f64>;
    let series: [(&str, &str, Pick); 2] = [
        ("output tokens/s", "throughput", |p| Some(p.throughput)),
        ("TTFT p99 (ms)", "TTFT p99", |p| p.ttft_p99_ms),
    ];
    for (ylabel, name, pick) in series {
        let pts: Vec<(f64, f64)> = sweep
            .points
            .iter()
            .filter_map(|p| pick(p).map(|v| (p.concurrency, v)))
            .collect();
        if pts.is_empty() {
            continue;
        }
        let ymax = nice_max(pts.iter().map(|p| p.1).fold(0.0, f64::max));
        let mut p = Plot::new(
            W / 2.0,
            260.0,
            &Axis::linear(0.0, xmax, axis_name),
            &Axis::linear(0.0, ymax, ylabel),
            &format!("sweep: {name}"),
        );
        p.line(&pts, "s-main");
        for &(x, y) in &pts {
            p.dot(
                x,
                y,
                "dot",
                &format!("{} {}: {} {}", axis_name, compact(x), name, auto(y)),
            );
        }
        if let Some(k) = knee {
            p.vline(k, "m-bad", "knee");
        }
        if let Some(r) = recommended {
            p.vline(r, "m-ok", "recommended");
        }
        out.push_str(&p.finish());
    }
    format!(r#"<div class="pair">{out}</div>"#)
}

/// Per-worker gauge (running or waiting requests) over time from the scrapes.
pub fn scrape_chart(
    samples: &[ScrapeSample],
    workers: &[String],
    pick: fn(&ScrapeSample) -> Option<f64>,
    label: &str,
) -> String {
    let mut names: Vec<&str> = samples.iter().map(|s| s.worker.as_str()).collect();
    names.sort_unstable();
    names.dedup();
    let tmax = samples.iter().map(|s| s.t_s).fold(0.0, f64::max);
    let vmax = samples.iter().filter_map(pick).fold(0.0, f64::max);
    if vmax <= 0.0 && !samples.iter().any(|s| pick(s).is_some()) {
        return String::new();
    }
    let mut p = Plot::new(
        W,
        220.0,
        &Axis::linear(0.0, tmax.max(1.0), "time since run start (s)"),
        &Axis::linear(0.0, nice_max(vmax), label),
        label,
    );
    for name in names {
        let pts: Vec<(f64, f64)> = samples
            .iter()
            .filter(|s| s.worker == name)
            .filter_map(|s| pick(s).map(|v| (s.t_s, v)))
            .collect();
        let slot = workers
            .iter()
            .position(|w| w == name)
            .unwrap_or_else(|| name.bytes().map(usize::from).sum::<usize>())
            % PALETTE;
        p.line(&pts, &format!("s-worker w{slot}"));
    }
    p.finish()
}
