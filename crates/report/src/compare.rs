//! `infergate compare RUN_A RUN_B`: which metrics moved beyond run-to-run noise, and whether a
//! metric named by `--fail-on` regressed beyond its threshold.
//!
//! Noise rule (docs/report.md): every metric gets a confidence interval in each run (order
//! statistics for percentiles, batch means over time slices for throughput, Wilson for the error
//! rate). The change B − A counts as beyond noise when it is larger than the combined half-widths
//! on the facing sides, √(h_A² + h_B²). The per-metric level is Bonferroni-corrected so that two
//! runs of the same healthy deployment flag any metric with probability at most 1 − confidence.

use crate::analysis::Analysis;
use crate::error::FailOnError;
use crate::fmt::{auto, esc, num, pct_change};
use crate::input::ReportInput;
use infergate_stats::confidence::DEFAULT_SLICES as THROUGHPUT_SLICES;
use infergate_stats::{percentile_sorted, MeanCi};
use serde_json::{json, Value};
use std::fmt::Write;

/// Default family-wise confidence of a comparison.
pub const DEFAULT_CONFIDENCE: f64 = 0.95;

/// Whether larger values of a metric are better.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Better {
    /// Throughputs.
    Higher,
    /// Latencies, error rate.
    Lower,
}

/// A metric `compare` knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Metric {
    /// Output tokens / benchmark duration, tokens/sec.
    OutputTokenThroughput,
    /// Successful requests / benchmark duration, requests/sec.
    RequestThroughput,
    /// TTFT p50, ms.
    TtftP50,
    /// TTFT p99, ms.
    TtftP99,
    /// Inter-token latency p50, ms.
    ItlP50,
    /// Inter-token latency p99, ms.
    ItlP99,
    /// Request latency p50, ms.
    LatencyP50,
    /// Request latency p99, ms.
    LatencyP99,
    /// Failed / profile requests, percent.
    ErrorRate,
}

impl Metric {
    /// Every metric, in table order.
    pub const ALL: [Metric; 9] = [
        Metric::OutputTokenThroughput,
        Metric::RequestThroughput,
        Metric::TtftP50,
        Metric::TtftP99,
        Metric::ItlP50,
        Metric::ItlP99,
        Metric::LatencyP50,
        Metric::LatencyP99,
        Metric::ErrorRate,
    ];

    /// The name used in `--fail-on`, the table and the JSON.
    pub fn name(self) -> &'static str {
        match self {
            Metric::OutputTokenThroughput => "output_token_throughput",
            Metric::RequestThroughput => "request_throughput",
            Metric::TtftP50 => "time_to_first_token_p50",
            Metric::TtftP99 => "time_to_first_token_p99",
            Metric::ItlP50 => "inter_token_latency_p50",
            Metric::ItlP99 => "inter_token_latency_p99",
            Metric::LatencyP50 => "request_latency_p50",
            Metric::LatencyP99 => "request_latency_p99",
            Metric::ErrorRate => "request_error_rate",
        }
    }

    /// Unit of the metric's values.
    pub fn unit(self) -> &'static str {
        match self {
            Metric::OutputTokenThroughput => "tokens/sec",
            Metric::RequestThroughput => "requests/sec",
            Metric::ErrorRate => "%",
            _ => "ms",
        }
    }

    /// Which direction is an improvement.
    pub fn better(self) -> Better {
        match self {
            Metric::OutputTokenThroughput | Metric::RequestThroughput => Better::Higher,
            _ => Better::Lower,
        }
    }

    /// Look a metric up by its name.
    pub fn from_name(name: &str) -> Option<Metric> {
        Metric::ALL.into_iter().find(|m| m.name() == name)
    }

    fn all_names() -> String {
        Metric::ALL.map(Metric::name).join(", ")
    }

    /// The metric's estimate and interval in one run (the analysis carries the level).
    /// An unbounded side of a percentile interval (too few samples) is ±∞.
    fn estimate(self, a: &Analysis) -> Option<Estimate> {
        let pct = |tag: &str, sorted: &[f64], p: f64| {
            let ci = a.percentile_ci(tag, p)?;
            Some(Estimate {
                value: percentile_sorted(sorted, p)?,
                low: ci.lower.unwrap_or(f64::NEG_INFINITY),
                high: ci.upper.unwrap_or(f64::INFINITY),
                n: ci.n,
            })
        };
        let mean = |value: Option<f64>, ci: Option<&MeanCi>| {
            let ci = ci?;
            Some(Estimate {
                value: value?,
                low: ci.lower,
                high: ci.upper,
                n: ci.batches,
            })
        };
        let s = &a.summary;
        match self {
            Metric::OutputTokenThroughput => {
                mean(s.output_token_throughput, a.output_token_throughput_ci())
            }
            Metric::RequestThroughput => mean(s.request_throughput, a.request_throughput_ci()),
            Metric::TtftP50 => pct("time_to_first_token", &a.ttft_ms, 50.0),
            Metric::TtftP99 => pct("time_to_first_token", &a.ttft_ms, 99.0),
            Metric::ItlP50 => pct("inter_token_latency", &a.itl_ms, 50.0),
            Metric::ItlP99 => pct("inter_token_latency", &a.itl_ms, 99.0),
            Metric::LatencyP50 => pct("request_latency", &a.latency_ms, 50.0),
            Metric::LatencyP99 => pct("request_latency", &a.latency_ms, 99.0),
            Metric::ErrorRate => {
                let level = s.confidence.as_ref()?.level;
                let (lo, hi) = wilson_interval(a.failed(), a.profile(), level)?;
                Some(Estimate {
                    value: s.request_error_rate?,
                    low: 100.0 * lo,
                    high: 100.0 * hi,
                    n: a.profile(),
                })
            }
        }
    }
}

/// Wilson score interval of a proportion `hits / n` at `level`, as fractions. The stats crate
/// has no interval for a proportion, and this is not a percentile, so it lives here.
fn wilson_interval(hits: u64, n: u64, level: f64) -> Option<(f64, f64)> {
    if n == 0 {
        return None;
    }
    let n_f = n as f64;
    let p = hits as f64 / n_f;
    let z = normal_quantile(0.5 + level / 2.0);
    let z2 = z * z;
    let denom = 1.0 + z2 / n_f;
    let centre = (p + z2 / (2.0 * n_f)) / denom;
    let half = z * (p * (1.0 - p) / n_f + z2 / (4.0 * n_f * n_f)).sqrt() / denom;
    Some(((centre - half).max(0.0), (centre + half).min(1.0)))
}

/// Inverse of the standard normal CDF for p in [0.5, 1) (Acklam's approximation, relative error
/// below 1.2e-9), enough for the Wilson interval's z.
fn normal_quantile(p: f64) -> f64 {
    const A: [f64; 6] = [
        -3.969683028665376e1,
        2.209460984245205e2,
        -2.759285104469687e2,
        1.38357751867269e2,
        -3.066479806614716e1,
        2.506628277459239,
    ];
    const B: [f64; 5] = [
        -5.447609879822406e1,
        1.615858368580409e2,
        -1.556989798598866e2,
        6.680131188771972e1,
        -1.328068155288572e1,
    ];
    const C: [f64; 6] = [
        -7.784894002430293e-3,
        -3.223964580411365e-1,
        -2.400758277161838,
        -2.549732539343734,
        4.374664141464968,
        2.938163982698783,
    ];
    const D: [f64; 4] = [
        7.784695709041462e-3,
        3.224671290700398e-1,
        2.445134137142996,
        3.754408661907416,
    ];
    let p = p.clamp(0.5, 1.0 - 1e-16);
    if p <= 1.0 - 0.02425 {
        let q = p - 0.5;
        let r = q * q;
        (((((A[0] * r + A[1]) * r + A[2]) * r + A[3]) * r + A[4]) * r + A[5]) * q
            / (((((B[0] * r + B[1]) * r + B[2]) * r + B[3]) * r + B[4]) * r + 1.0)
    } else {
        let q = (-2.0 * (1.0 - p).ln()).sqrt();
        -(((((C[0] * q + C[1]) * q + C[2]) * q + C[3]) * q + C[4]) * q + C[5])
            / ((((D[0] * q + D[1]) * q + D[2]) * q + D[3]) * q + 1.0)
    }
}

/// `--fail-on METRIC:±N%`: fail when METRIC moved beyond noise in its bad direction by more than
/// N percent of run A's value.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FailOn {
    /// The metric watched.
    pub metric: Metric,
    /// Allowed relative change in percent, signed in the metric's bad direction (−10 for
    /// throughput, +20 for a latency).
    pub threshold_pct: f64,
}

impl FailOn {
    /// Parse `output_token_throughput:-10%` or `time_to_first_token_p99:+20%`. The sign must be
    /// the metric's bad direction (− where higher is better, + where lower is better).
    pub fn parse(s: &str) -> Result<FailOn, FailOnError> {
        let err = |reason: String| FailOnError {
            input: s.to_owned(),
            reason,
            valid: Metric::all_names(),
        };
        let (name, amount) = s
            .split_once(':')
            .ok_or_else(|| err("missing `:` between the metric and the threshold".into()))?;
        let metric = Metric::from_name(name.trim())
            .ok_or_else(|| err(format!("unknown metric `{}`", name.trim())))?;
        let amount = amount.trim();
        let number = amount
            .strip_suffix('%')
            .ok_or_else(|| err(format!("threshold `{amount}` must end with `%`")))?
            .trim();
        let sign = match number.chars().next() {
            Some('+') => 1.0,
            Some('-') => -1.0,
            _ => {
                return Err(err(format!(
                    "threshold `{amount}` needs an explicit sign, + or -"
                )))
            }
        };
        let magnitude: f64 = number[1..]
            .trim()
            .parse()
            .ok()
            .filter(|v: &f64| v.is_finite() && *v >= 0.0)
            .ok_or_else(|| err(format!("`{}` is not a non-negative number", &number[1..])))?;
        let want = match metric.better() {
            Better::Higher => -1.0,
            Better::Lower => 1.0,
        };
        if sign != want {
            return Err(err(format!(
                "{} regresses when it {}, so its threshold is written {}N%",
                metric.name(),
                if want < 0.0 { "falls" } else { "rises" },
                if want < 0.0 { "-" } else { "+" }
            )));
        }
        Ok(FailOn {
            metric,
            threshold_pct: sign * magnitude,
        })
    }

    fn text(&self) -> String {
        format!(
            "{}{}%",
            if self.threshold_pct < 0.0 { "-" } else { "+" },
            num(self.threshold_pct.abs(), 1)
        )
    }
}

/// A metric's value in one run with its confidence interval.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Estimate {
    /// Point estimate.
    pub value: f64,
    /// Lower end of the interval.
    pub low: f64,
    /// Upper end of the interval.
    pub high: f64,
    /// Samples behind it (requests, or time slices for throughput).
    pub n: u64,
}

/// How a metric moved from A to B.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Movement {
    /// Within noise.
    Unchanged,
    /// Beyond noise, in the good direction.
    Better,
    /// Beyond noise, in the bad direction.
    Worse,
    /// Not measurable in one of the runs.
    Unknown,
}

impl Movement {
    fn label(self) -> &'static str {
        match self {
            Movement::Unchanged => "unchanged",
            Movement::Better => "better",
            Movement::Worse => "worse",
            Movement::Unknown => "unknown",
        }
    }
}

/// One row of a comparison.
#[derive(Debug, Clone, PartialEq)]
pub struct MetricDelta {
    /// The metric.
    pub metric: Metric,
    /// Its value in run A.
    pub a: Option<Estimate>,
    /// Its value in run B.
    pub b: Option<Estimate>,
    /// (B − A) / A in percent (±∞ when A is 0 and B is not).
    pub change_pct: Option<f64>,
    /// Beyond noise or not, and which way.
    pub movement: Movement,
    /// The `--fail-on` rule for this metric, if any.
    pub fail_on: Option<FailOn>,
    /// True when the rule's metric moved beyond noise in the bad direction by more than the
    /// threshold (or could be measured in A but not in B).
    pub regressed: bool,
}

/// A short identity of one side of a comparison.
#[derive(Debug, Clone, PartialEq)]
pub struct Side {
    /// `command` and start time.
    pub label: String,
    /// Request-stream SHA-256.
    pub stream_sha256: String,
    /// Git commit of the tool.
    pub git_commit: String,
}

/// The result of comparing run B against baseline run A.
#[derive(Debug, Clone, PartialEq)]
pub struct Comparison {
    /// The baseline.
    pub a: Side,
    /// The run compared with it.
    pub b: Side,
    /// Family-wise confidence (default 0.95).
    pub confidence: f64,
    /// Confidence of each metric's interval after the Bonferroni correction.
    pub per_metric_confidence: f64,
    /// One row per metric.
    pub metrics: Vec<MetricDelta>,
    /// Things that make the comparison less meaningful (different request streams, ...).
    pub warnings: Vec<String>,
}

/// Compare B against baseline A at the default confidence.
pub fn compare(a: &ReportInput, b: &ReportInput, fail_on: &[FailOn]) -> Comparison {
    compare_with_confidence(a, b, fail_on, DEFAULT_CONFIDENCE)
}

/// Compare B against baseline A; `confidence` is the family-wise level (0 < c < 1).
pub fn compare_with_confidence(
    a: &ReportInput,
    b: &ReportInput,
    fail_on: &[FailOn],
    confidence: f64,
) -> Comparison {
    let confidence = if confidence > 0.0 && confidence < 1.0 {
        confidence
    } else {
        DEFAULT_CONFIDENCE
    };
    let per_metric = 1.0 - (1.0 - confidence) / Metric::ALL.len() as f64;
    let (aa, ab) = (
        Analysis::new(&a.records, None, per_metric),
        Analysis::new(&b.records, None, per_metric),
    );
    let metrics = Metric::ALL
        .iter()
        .map(|&m| {
            let ea = m.estimate(&aa);
            let eb = m.estimate(&ab);
            let rule = fail_on.iter().rev().find(|f| f.metric == m).copied();
            delta(m, ea, eb, rule)
        })
        .collect();
    let mut warnings = Vec::new();
    if a.run.request_stream_sha256 != b.run.request_stream_sha256 {
        warnings.push(
            "the runs sent different request streams (request-stream SHA-256 differs): changes mix workload and deployment".to_owned(),
        );
    }
    if a.run.load != b.run.load {
        warnings.push(
            "the runs offered load differently (load mode, concurrency or rate differ)".to_owned(),
        );
    }
    if a.run.endpoint != b.run.endpoint || a.run.model != b.run.model {
        warnings.push("the runs measured different endpoints or models".to_owned());
    }
    Comparison {
        a: side(a),
        b: side(b),
        confidence,
        per_metric_confidence: per_metric,
        metrics,
        warnings,
    }
}

fn side(i: &ReportInput) -> Side {
    Side {
        label: format!("{} {}", i.run.command, i.run.started_at),
        stream_sha256: i.run.request_stream_sha256.clone(),
        git_commit: i.run.git_commit.clone(),
    }
}

fn delta(
    metric: Metric,
    a: Option<Estimate>,
    b: Option<Estimate>,
    fail_on: Option<FailOn>,
) -> MetricDelta {
    let (movement, change_pct) = match (a, b) {
        (Some(a), Some(b)) => {
            let d = b.value - a.value;
            // Half-widths on the sides that face each other.
            let (ha, hb) = if d >= 0.0 {
                (a.high - a.value, b.value - b.low)
            } else {
                (a.value - a.low, b.high - b.value)
            };
            let noise = (ha.powi(2) + hb.powi(2)).sqrt();
            let movement = if d.abs() <= noise {
                Movement::Unchanged
            } else if (d > 0.0) == (metric.better() == Better::Higher) {
                Movement::Better
            } else {
                Movement::Worse
            };
            let change = if a.value != 0.0 {
                100.0 * d / a.value.abs()
            } else if d == 0.0 {
                0.0
            } else {
                f64::INFINITY.copysign(d)
            };
            (movement, Some(change))
        }
        _ => (Movement::Unknown, None),
    };
    let regressed = fail_on.is_some_and(|rule| match (movement, change_pct) {
        (Movement::Worse, Some(c)) => c.abs() > rule.threshold_pct.abs(),
        (Movement::Unknown, _) => a.is_some() && b.is_none(),
        _ => false,
    });
    MetricDelta {
        metric,
        a,
        b,
        change_pct,
        movement,
        fail_on,
        regressed,
    }
}

impl Comparison {
    /// True when a `--fail-on` metric regressed beyond its threshold (exit code 1).
    pub fn regressed(&self) -> bool {
        self.metrics.iter().any(|m| m.regressed)
    }

    /// Metrics that moved beyond noise (either way).
    pub fn moved(&self) -> impl Iterator<Item = &MetricDelta> {
        self.metrics
            .iter()
            .filter(|m| matches!(m.movement, Movement::Better | Movement::Worse))
    }

    /// A plain-text table for the console.
    pub fn to_console_table(&self) -> String {
        let mut rows: Vec<[String; 7]> = vec![[
            "metric".into(),
            "A".into(),
            "B".into(),
            "change".into(),
            "B interval".into(),
            "moved".into(),
            "fail-on".into(),
        ]];
        for m in &self.metrics {
            let v = |e: Option<Estimate>| e.map_or_else(|| "—".to_owned(), |e| auto(e.value));
            rows.push([
                format!("{} ({})", m.metric.name(), m.metric.unit()),
                v(m.a),
                v(m.b),
                m.change_pct.map_or_else(|| "—".to_owned(), pct_change),
                m.b.map_or_else(
                    || "—".to_owned(),
                    |e| format!("{} – {}", auto(e.low), auto(e.high)),
                ),
                m.movement.label().to_owned(),
                m.fail_on.map_or_else(String::new, |f| {
                    format!(
                        "{} {}",
                        f.text(),
                        if m.regressed { "REGRESSED" } else { "ok" }
                    )
                }),
            ]);
        }
        let widths: Vec<usize> = (0..7)
            .map(|c| rows.iter().map(|r| r[c].chars().count()).max().unwrap_or(0))
            .collect();
        let mut out = format!(
            "A (baseline): {}\nB:            {}\n",
            self.a.label, self.b.label
        );
        for (i, r) in rows.iter().enumerate() {
            let line: Vec<String> = r
                .iter()
                .zip(&widths)
                .enumerate()
                .map(|(c, (cell, w))| {
                    let pad = w - cell.chars().count();
                    if c == 0 || c >= 5 {
                        format!("{cell}{}", " ".repeat(pad))
                    } else {
                        format!("{}{cell}", " ".repeat(pad))
                    }
                })
                .collect();
            out.push_str(line.join("  ").trim_end());
            out.push('\n');
            if i == 0 {
                out.push_str(&"-".repeat(widths.iter().sum::<usize>() + 12));
                out.push('\n');
            }
        }
        let _ = writeln!(
            out,
            "moved = change beyond run-to-run noise at {} % family-wise confidence ({} % per metric).",
            num(self.confidence * 100.0, 0),
            num(self.per_metric_confidence * 100.0, 2)
        );
        for w in &self.warnings {
            let _ = writeln!(out, "warning: {w}");
        }
        if self.regressed() {
            out.push_str("RESULT: regression beyond a --fail-on threshold\n");
        }
        out
    }

    /// The comparison as a JSON document (schema in docs/report.md).
    pub fn to_json(&self) -> Value {
        let est = |e: Option<Estimate>| {
            e.map_or(
                Value::Null,
                |e| json!({"value": e.value, "ci_low": e.low, "ci_high": e.high, "n": e.n}),
            )
        };
        let side = |s: &Side| json!({"label": s.label, "request_stream_sha256": s.stream_sha256, "git_commit": s.git_commit});
        json!({
            "schema_version": infergate_model::SCHEMA_VERSION,
            "confidence": self.confidence,
            "per_metric_confidence": self.per_metric_confidence,
            "a": side(&self.a),
            "b": side(&self.b),
            "metrics": self.metrics.iter().map(|m| json!({
                "name": m.metric.name(),
                "unit": m.metric.unit(),
                "higher_is_better": m.metric.better() == Better::Higher,
                "a": est(m.a),
                "b": est(m.b),
                "change_pct": m.change_pct.filter(|c| c.is_finite()),
                "movement": m.movement.label(),
                "fail_on": m.fail_on.map(|f| f.text()),
                "regressed": m.regressed,
            })).collect::<Vec<_>>(),
            "regressed": self.regressed(),
            "warnings": self.warnings,
        })
    }
}

/// The comparison as a self-contained HTML page: the table and, per metric, both intervals drawn
/// relative to A's value.
pub fn render_compare_html(c: &Comparison) -> String {
    let mut h = crate::page::head("infergate compare");
    let status = if c.regressed() {
        ("failed", "REGRESSED")
    } else {
        ("passed", "NO REGRESSION")
    };
    let _ = write!(
        h,
        "<h1>infergate compare</h1><div class=\"muted\">A (baseline): {} · B: {}</div>\
<div class=\"banner st-{}\"><span class=\"status\">{}</span> {} metric(s) moved beyond run-to-run noise at {} % family-wise confidence.</div>",
        esc(&c.a.label),
        esc(&c.b.label),
        status.0,
        status.1,
        c.moved().count(),
        num(c.confidence * 100.0, 0)
    );
    for w in &c.warnings {
        let _ = write!(h, "<p class=\"warn\">Warning: {}</p>", esc(w));
    }
    h.push_str("<table><tr><th>Metric</th><th>A</th><th>A interval</th><th>B</th><th>B interval</th><th>Change</th><th>Moved</th><th>--fail-on</th><th>Intervals relative to A (±25 %)</th></tr>");
    for m in &c.metrics {
        let v = |e: Option<Estimate>| e.map_or_else(|| "—".to_owned(), |e| auto(e.value));
        let iv = |e: Option<Estimate>| {
            e.map_or_else(
                || "—".to_owned(),
                |e| format!("{} – {}", auto(e.low), auto(e.high)),
            )
        };
        let class = match m.movement {
            Movement::Worse => "bad",
            Movement::Better => "ok",
            _ => "muted",
        };
        let _ = write!(
            h,
            "<tr><td class=\"code nw\">{}<br><span class=\"muted\">{}</span></td><td class=\"n\">{}</td><td class=\"n small muted\">{}</td><td class=\"n\">{}</td><td class=\"n small muted\">{}</td><td class=\"n\">{}</td><td class=\"{class}\"><b>{}</b></td><td>{}</td><td style=\"width:220px\">{}</td></tr>",
            m.metric.name(),
            esc(m.metric.unit()),
            v(m.a),
            iv(m.a),
            v(m.b),
            iv(m.b),
            m.change_pct.map_or_else(|| "—".to_owned(), pct_change),
            m.movement.label(),
            m.fail_on.map_or_else(String::new, |f| format!(
                "{} {}",
                esc(&f.text()),
                if m.regressed { "<b class=\"bad\">REGRESSED</b>" } else { "<span class=\"ok\">ok</span>" }
            )),
            interval_glyph(m)
        );
    }
    let _ = write!(
        h,
        "</table><p class=\"small muted\">A change counts as beyond noise when |B − A| exceeds √(h_A² + h_B²), the half-widths of the two intervals on the sides facing each other; each interval is at {} % so that all {} metrics together keep {} % confidence (Bonferroni). Intervals: order statistics for percentiles, batch means over {} time slices for throughput, Wilson for the error rate. See docs/report.md.</p>",
        num(c.per_metric_confidence * 100.0, 2),
        c.metrics.len(),
        num(c.confidence * 100.0, 0),
        THROUGHPUT_SLICES
    );
    h.push_str("<footer>Self-contained: no scripts, no network.</footer></main></body></html>\n");
    h
}

/// A small inline SVG: A's interval (grey) and B's (coloured) on a ±25 % axis around A's value.
fn interval_glyph(m: &MetricDelta) -> String {
    let (Some(a), Some(b)) = (m.a, m.b) else {
        return String::new();
    };
    if a.value == 0.0 {
        return String::new();
    }
    let x = |v: f64| (110.0 + 100.0 * ((v - a.value) / a.value.abs() * 4.0)).clamp(2.0, 218.0);
    let class = match m.movement {
        Movement::Worse => "m-bad",
        Movement::Better => "m-ok",
        _ => "s-main",
    };
    format!(
        r#"<svg viewBox="0 0 220 24" width="220" height="24" role="img" aria-label="intervals"><line class="grid" x1="110" x2="110" y1="0" y2="24"/><line class="m-pct" x1="{:.1}" x2="{:.1}" y1="7" y2="7" style="stroke-dasharray:none;stroke-width:4"/><line class="{class}" x1="{:.1}" x2="{:.1}" y1="17" y2="17" style="stroke-dasharray:none;stroke-width:4"/></svg>"#,
        x(a.low),
        x(a.high).max(x(a.low) + 1.0),
        x(b.low),
        x(b.high).max(x(b.low) + 1.0)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fail_on_parses_and_names_bad_input() {
        let f = FailOn::parse("output_token_throughput:-10%").unwrap();
        assert_eq!(f.metric, Metric::OutputTokenThroughput);
        assert_eq!(f.threshold_pct, -10.0);
        assert_eq!(
            FailOn::parse("time_to_first_token_p99:+20.5%")
                .unwrap()
                .threshold_pct,
            20.5
        );
        let e = FailOn::parse("tput:-10%").unwrap_err().to_string();
        assert!(
            e.contains("`tput`")
                && e.contains("output_token_throughput")
                && e.contains("METRIC:-N%"),
            "{e}"
        );
        let e = FailOn::parse("output_token_throughput:+10%")
            .unwrap_err()
            .to_string();
        assert!(e.contains("-N%"), "{e}");
        for bad in [
            "output_token_throughput",
            "output_token_throughput:10%",
            "output_token_throughput:-10",
            "output_token_throughput:-x%",
        ] {
            let e = FailOn::parse(bad).unwrap_err();
            assert_eq!(e.input, bad);
        }
    }

    #[test]
    fn noise_rule_uses_facing_half_widths() {
        let e = |v: f64, lo: f64, hi: f64| {
            Some(Estimate {
                value: v,
                low: lo,
                high: hi,
                n: 10,
            })
        };
        let rule = FailOn::parse("output_token_throughput:-10%").ok();
        let d = delta(
            Metric::OutputTokenThroughput,
            e(100.0, 98.0, 102.0),
            e(85.0, 83.0, 87.0),
            rule,
        );
        assert_eq!(d.movement, Movement::Worse);
        assert!(d.regressed);
        let d = delta(
            Metric::OutputTokenThroughput,
            e(100.0, 90.0, 110.0),
            e(95.0, 85.0, 105.0),
            rule,
        );
        assert_eq!(d.movement, Movement::Unchanged);
        assert!(!d.regressed);
        // Beyond noise but within the threshold: moved, not regressed.
        let d = delta(
            Metric::OutputTokenThroughput,
            e(100.0, 99.0, 101.0),
            e(95.0, 94.0, 96.0),
            rule,
        );
        assert_eq!(d.movement, Movement::Worse);
        assert!(!d.regressed);
        let d = delta(
            Metric::TtftP99,
            e(100.0, 99.0, 101.0),
            e(80.0, 79.0, 81.0),
            None,
        );
        assert_eq!(d.movement, Movement::Better);
    }
}
