//! `report.html`: one self-contained page (inline CSS and SVG, no script, no fetch) showing a run
//! at a glance. See docs/report.md for what each section shows.

use crate::analysis::{self, Analysis, TIMELINE_MAX_LINES};
use crate::charts;
use crate::fmt::{auto, esc, num, opt};
use crate::input::ReportInput;
use crate::views::{ConstraintView, ProbeView, SweepView, VerdictView};
use infergate_model::{LoadMode, RunInfo};
use infergate_stats::confidence::DEFAULT_SLICES;
use infergate_stats::percentile_sorted as percentile;
use serde_json::Value;
use std::fmt::Write;

/// Confidence level of the intervals the page computes itself (percentile tables).
const PAGE_CONFIDENCE: f64 = 0.95;

/// The page's stylesheet: light by default, dark under `prefers-color-scheme: dark`.
pub(crate) const CSS: &str = r#"
:root{--bg:#ffffff;--fg:#1b2030;--muted:#5d6678;--line:#d9dde5;--card:#f4f6f9;--accent:#1f5fd6;--alt:#7c3aed;--ok:#15803d;--bad:#c0262d;--warn:#b45309;
--w0:#1f77b4;--w1:#ff7f0e;--w2:#2ca02c;--w3:#9467bd;--w4:#8c564b;--w5:#e377c2;--w6:#17becf;--w7:#bcbd22;--w8:#7f7f7f;--w9:#393b79}
@media (prefers-color-scheme: dark){:root{--bg:#11141b;--fg:#e4e7ee;--muted:#9aa3b5;--line:#2c3342;--card:#1a1f29;--accent:#6ea2ff;--alt:#b794f6;--ok:#4ade80;--bad:#ff6b6b;--warn:#fbbf24;
--w0:#5fa8e8;--w1:#ffa552;--w2:#5fd35f;--w3:#b99ae0;--w4:#c49a8f;--w5:#f5a3d8;--w6:#4fd8e6;--w7:#dede5a;--w8:#b0b0b0;--w9:#8c8fe0}}
*{box-sizing:border-box}
body{margin:0;background:var(--bg);color:var(--fg);font:15px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif}
main{max-width:1180px;margin:0 auto;padding:20px 24px 40px}
h1{font-size:1.45rem;margin:0 0 4px}h2{font-size:1.15rem;margin:28px 0 8px;border-bottom:1px solid var(--line);padding-bottom:4px}
.muted{color:var(--muted)}.small{font-size:.85rem}
.banner{border-radius:8px;padding:12px 16px;margin:14px 0;border-left:6px solid var(--muted);background:var(--card)}
.banner .status{font-weight:700;font-size:1.2rem;letter-spacing:.04em}
.st-passed{border-color:var(--ok)}.st-passed .status{color:var(--ok)}
.st-failed,.st-could_not_measure{border-color:var(--bad)}.st-failed .status,.st-could_not_measure .status{color:var(--bad)}
.st-inconclusive,.st-invalid{border-color:var(--warn)}.st-inconclusive .status,.st-invalid .status{color:var(--warn)}
.tiles{display:grid;grid-template-columns:repeat(auto-fill,minmax(170px,1fr));gap:10px}
.tile{background:var(--card);border-radius:8px;padding:10px 12px}.tile .k{font-size:.8rem;color:var(--muted)}.tile .v{font-size:1.25rem;font-weight:650}
.tile .u{font-size:.8rem;color:var(--muted);margin-left:3px}.tile .ci{font-size:.75rem;color:var(--muted)}
table{border-collapse:collapse;width:100%;font-size:.9rem;margin:6px 0}
th,td{text-align:left;padding:4px 8px;border-bottom:1px solid var(--line);vertical-align:top}
th{color:var(--muted);font-weight:600}td.n{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
.nw{white-space:nowrap}td.code,.code{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;font-size:.85rem;word-break:break-all}
.ok{color:var(--ok)}.bad{color:var(--bad)}.warn{color:var(--warn)}
.bar{display:inline-block;height:10px;background:var(--bad);border-radius:2px;vertical-align:middle}
svg.chart{width:100%;height:auto;display:block;margin:6px 0 2px;font-family:inherit}
.pair{display:grid;grid-template-columns:1fr 1fr;gap:12px}
@media (max-width:900px){.pair{grid-template-columns:1fr}}
.grid{stroke:var(--line);stroke-width:1}.frame{fill:none;stroke:var(--muted);stroke-width:1}
.tick,.axis{fill:var(--muted);font-size:11px}.axis{font-size:12px}.mark{fill:var(--fg);font-size:11px}
.s-main{fill:none;stroke:var(--accent);stroke-width:2}.s-alt{fill:none;stroke:var(--alt);stroke-width:2}
.s-worker{fill:none;stroke-width:1.6}
.m-pct{stroke:var(--muted);stroke-width:1;stroke-dasharray:4 3}.m-bad{stroke:var(--bad);stroke-width:1.5;stroke-dasharray:6 3}
.m-ok{stroke:var(--ok);stroke-width:1.5;stroke-dasharray:6 3}
.band-warm{fill:var(--line);opacity:.55}.dot{fill:var(--accent)}
.bar-ok{fill:var(--ok)}.bar-bad{fill:var(--bad);opacity:.8}
.tl,.tl-none,.tl-wait,.tl-bad{fill:none;stroke-width:1;vector-effect:non-scaling-stroke}
.tl-wait{stroke:var(--muted);opacity:.35}.tl-none{stroke:var(--accent)}.tl-bad{stroke:var(--bad);stroke-width:2}
.w0{stroke:var(--w0);color:var(--w0)}.w1{stroke:var(--w1);color:var(--w1)}.w2{stroke:var(--w2);color:var(--w2)}.w3{stroke:var(--w3);color:var(--w3)}
.w4{stroke:var(--w4);color:var(--w4)}.w5{stroke:var(--w5);color:var(--w5)}.w6{stroke:var(--w6);color:var(--w6)}.w7{stroke:var(--w7);color:var(--w7)}
.w8{stroke:var(--w8);color:var(--w8)}.w9{stroke:var(--w9);color:var(--w9)}
.legend span{margin-right:12px;white-space:nowrap}.sw{display:inline-block;width:14px;height:4px;background:currentColor;vertical-align:middle;margin-right:4px}
details summary{cursor:pointer;color:var(--muted)}
footer{margin-top:32px;font-size:.8rem;color:var(--muted)}
"#;

/// The page's content security policy: nothing may be fetched, no script may run.
pub(crate) const CSP: &str = "default-src 'none'; style-src 'unsafe-inline'; img-src data:";

/// Open an HTML document with the inline stylesheet.
pub(crate) fn head(title: &str) -> String {
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
<meta http-equiv=\"Content-Security-Policy\" content=\"{CSP}\">\
<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
<meta name=\"color-scheme\" content=\"light dark\">\
<title>{}</title><style>{CSS}</style></head><body><main>\n",
        esc(title)
    )
}

/// Read `aiperf[metric][stat]` as a number.
pub(crate) fn aiperf_stat(aiperf: &Value, metric: &str, stat: &str) -> Option<f64> {
    aiperf.get(metric)?.get(stat)?.as_f64()
}

/// The TTFT ceiling of the verdict's TTFT constraint, in ms (effective threshold first).
pub(crate) fn ttft_ceiling_ms(verdict: Option<&VerdictView>) -> Option<f64> {
    let c = verdict?
        .constraints
        .iter()
        .find(|c| c.name.to_ascii_lowercase().contains("ttft"))?;
    let v = c.effective_threshold.or(c.threshold)?;
    Some(if c.unit == "s" { v * 1000.0 } else { v })
}

/// Render the report page of one run. Deterministic: the same input gives the same bytes.
pub fn render_html(input: &ReportInput) -> String {
    let analysis = Analysis::new(
        &input.records,
        ttft_ceiling_ms(input.verdict.as_ref()),
        PAGE_CONFIDENCE,
    );
    let run = &input.run;
    let mut h = head(&format!("infergate report — {} {}", run.command, run.model));
    let _ = writeln!(
        h,
        "<h1>infergate {} report</h1><div class=\"muted\">{} · model <b>{}</b> · {} · started {}</div>",
        esc(&run.command),
        esc(&run.endpoint),
        esc(&run.model),
        esc(&load_text(&run.load)),
        esc(&run.started_at)
    );
    verdict_section(&mut h, input.verdict.as_ref());
    headline_section(&mut h, input, &analysis);
    if let Some(probe) = &input.probe {
        readiness_section(&mut h, probe);
    }
    distributions_section(&mut h, &analysis);
    over_time_section(&mut h, input);
    timeline_section(&mut h, input, &analysis);
    errors_section(&mut h, &analysis);
    if !input.scrape.is_empty() {
        scrape_section(&mut h, input);
    }
    if let Some(sweep) = &input.sweep {
        sweep_section(&mut h, sweep);
    }
    identity_section(&mut h, run, input.verdict.as_ref());
    let _ = write!(
        h,
        "<footer>Generated by infergate {} ({}) from the run's exported files; rebuild with <span class=\"code\">infergate report DIR</span>. \
Self-contained: no scripts, no network. Every number's definition and unit: docs/report.md and docs/metrics.md.</footer>\n</main></body></html>\n",
        esc(&run.tool_version),
        esc(&run.git_commit)
    );
    h
}

fn load_text(load: &LoadMode) -> String {
    match load {
        LoadMode::Closed { concurrency } => format!("closed loop, concurrency {concurrency}"),
        LoadMode::Open {
            rate,
            arrivals,
            max_concurrency,
        } => format!(
            "open loop, {} req/s {}{}",
            num(*rate, 2),
            match arrivals {
                infergate_model::Arrivals::Constant => "constant",
                infergate_model::Arrivals::Poisson => "Poisson",
            },
            max_concurrency.map_or_else(String::new, |c| format!(", at most {c} in flight"))
        ),
    }
}

fn verdict_section(h: &mut String, verdict: Option<&VerdictView>) {
    let Some(v) = verdict else {
        h.push_str("<div class=\"banner\"><span class=\"status\">NOT GATED</span> <span class=\"muted\">No verdict.json: this run was not evaluated against a recipe.</span></div>\n");
        return;
    };
    let status = if v.status.is_empty() {
        "unknown"
    } else {
        v.status.as_str()
    };
    let class: String = status
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '_')
        .collect();
    let _ = write!(
        h,
        "<div class=\"banner st-{class}\"><span class=\"status\">{}</span> {}",
        esc(&status.to_ascii_uppercase().replace('_', " ")),
        esc(&v.message)
    );
    for (title, lines) in [
        ("Stall", &v.stall),
        ("Load-generator self-check", &v.self_check),
    ] {
        if !lines.is_empty() {
            let _ = write!(h, "<div class=\"small\"><b>{title}:</b><ul>");
            for l in lines {
                let _ = write!(h, "<li>{}</li>", esc(l));
            }
            h.push_str("</ul></div>");
        }
    }
    h.push_str("</div>\n");
    if v.constraints.is_empty() {
        return;
    }
    let conf = v.confidence.map_or_else(
        || "CI".to_owned(),
        |c| format!("{} % CI", num(c * 100.0, 0)),
    );
    let _ = write!(
        h,
        "<table><tr><th>Constraint</th><th>Rule</th><th>Measured</th><th>{conf}</th><th>Threshold</th><th>Applied (tolerance)</th><th>Status</th><th>Detail</th></tr>"
    );
    for c in &v.constraints {
        constraint_row(h, c);
    }
    h.push_str("</table>\n");
}

fn constraint_row(h: &mut String, c: &ConstraintView) {
    let unit = esc(&c.unit);
    let ci = match (c.ci_low, c.ci_high) {
        (Some(a), Some(b)) => format!("{} – {} {unit}", auto(a), auto(b)),
        _ => "—".to_owned(),
    };
    let applied = match (c.effective_threshold, c.tolerance_pct) {
        (Some(e), Some(t)) => format!("{} {unit} ({} %)", auto(e), num(t, 0)),
        (Some(e), None) => format!("{} {unit}", auto(e)),
        (None, _) => "—".to_owned(),
    };
    let class = match c.status.as_str() {
        "passed" => "ok",
        "failed" | "error" => "bad",
        _ => "warn",
    };
    let _ = write!(
        h,
        "<tr><td>{}</td><td class=\"code nw\">{}</td><td class=\"n\"><b>{} {unit}</b></td><td class=\"n\">{ci}</td><td class=\"n\">{}</td><td class=\"n\">{applied}</td><td class=\"{class}\"><b>{}</b></td><td class=\"small\">{}</td></tr>",
        esc(&c.name),
        esc(&c.raw),
        opt(c.measured, 1),
        c.threshold.map_or_else(|| "—".to_owned(), |t| format!("{} {unit}", auto(t))),
        esc(&c.status.to_ascii_uppercase()),
        esc(&c.message)
    );
}

/// One headline number: the AIPerf export's value when present, else the records'.
struct Tile {
    label: &'static str,
    value: Option<f64>,
    unit: &'static str,
    decimals: usize,
    ci: Option<(Option<f64>, Option<f64>)>,
}

/// An interval as text; an unbounded side (sample too small to bound it) reads "below min" or
/// "beyond max".
pub(crate) fn ci_text(lo: Option<f64>, hi: Option<f64>, decimals: Option<usize>) -> String {
    let f = |v: f64| decimals.map_or_else(|| auto(v), |d| num(v, d));
    format!(
        "{} – {}",
        lo.map_or_else(|| "below min".to_owned(), f),
        hi.map_or_else(|| "beyond max".to_owned(), f)
    )
}

fn headline_section(h: &mut String, input: &ReportInput, a: &Analysis) {
    let ex = &input.aiperf;
    let pct = |metric: &str, stat: &str, samples: &[f64], p: f64| {
        aiperf_stat(ex, metric, stat).or_else(|| percentile(samples, p))
    };
    let ci = |tag: &str, p: f64| a.percentile_ci(tag, p).map(|c| (c.lower, c.upper));
    let mean_ci = |c: Option<&infergate_stats::MeanCi>| c.map(|c| (Some(c.lower), Some(c.upper)));
    let tiles = [
        Tile {
            label: "Output token throughput",
            value: aiperf_stat(ex, "output_token_throughput", "avg")
                .or(a.summary.output_token_throughput),
            unit: "tokens/s",
            decimals: 1,
            ci: mean_ci(a.output_token_throughput_ci()),
        },
        Tile {
            label: "Request throughput",
            value: aiperf_stat(ex, "request_throughput", "avg").or(a.summary.request_throughput),
            unit: "requests/s",
            decimals: 2,
            ci: mean_ci(a.request_throughput_ci()),
        },
        Tile {
            label: "TTFT p50",
            value: pct("time_to_first_token", "p50", &a.ttft_ms, 50.0),
            unit: "ms",
            decimals: 1,
            ci: ci("time_to_first_token", 50.0),
        },
        Tile {
            label: "TTFT p99",
            value: pct("time_to_first_token", "p99", &a.ttft_ms, 99.0),
            unit: "ms",
            decimals: 1,
            ci: ci("time_to_first_token", 99.0),
        },
        Tile {
            label: "ITL p50",
            value: pct("inter_token_latency", "p50", &a.itl_ms, 50.0),
            unit: "ms",
            decimals: 2,
            ci: ci("inter_token_latency", 50.0),
        },
        Tile {
            label: "ITL p99",
            value: pct("inter_token_latency", "p99", &a.itl_ms, 99.0),
            unit: "ms",
            decimals: 2,
            ci: ci("inter_token_latency", 99.0),
        },
        Tile {
            label: "Request latency p99",
            value: pct("request_latency", "p99", &a.latency_ms, 99.0),
            unit: "ms",
            decimals: 1,
            ci: ci("request_latency", 99.0),
        },
        Tile {
            label: "Benchmark duration",
            value: Some(a.duration_s()),
            unit: "s",
            decimals: 1,
            ci: None,
        },
    ];
    h.push_str("<h2>Key numbers</h2><div class=\"tiles\">");
    for t in &tiles {
        let _ = write!(
            h,
            "<div class=\"tile\"><div class=\"k\">{}</div><div class=\"v\">{}<span class=\"u\">{}</span></div>{}</div>",
            t.label,
            opt(t.value, t.decimals),
            t.unit,
            t.ci.map_or_else(String::new, |(lo, hi)| format!(
                "<div class=\"ci\">95 % CI {}</div>",
                ci_text(lo, hi, Some(t.decimals))
            ))
        );
    }
    let _ = writeln!(
        h,
        "<div class=\"tile\"><div class=\"k\">Requests (profile)</div><div class=\"v\">{}<span class=\"u\">ok</span></div><div class=\"ci {}\">{} failed · {} warmup not counted</div></div></div>",
        num(a.ok() as f64, 0),
        if a.failed() > 0 { "bad" } else { "" },
        num(a.failed() as f64, 0),
        num(a.warmup() as f64, 0)
    );
    let _ = writeln!(
        h,
        "<p class=\"small muted\">Headline values are read from {}; intervals, charts and tables are computed from records.jsonl with the same definitions (percentiles: linear interpolation between closest ranks; intervals: order statistics for percentiles, batch means over {} time slices for throughput).</p>",
        if ex.is_null() { "records.jsonl (no profile_export_aiperf.json was found)" } else { "profile_export_aiperf.json" },
        DEFAULT_SLICES
    );
}

fn readiness_section(h: &mut String, p: &ProbeView) {
    h.push_str("<h2>Readiness</h2>");
    let state = if p.ready {
        "<b class=\"ok\">ready</b>".to_owned()
    } else {
        format!(
            "<b class=\"bad\">never ready</b>{}",
            p.stuck_stage
                .as_deref()
                .map_or_else(String::new, |s| format!(" (stuck: {})", esc(s)))
        )
    };
    let _ = write!(
        h,
        "<p>{state} · time to ready <b>{} s</b> · cold first completion <b>{} s</b> · steady-state completion <b>{} s</b> · {} attempt(s){}</p>",
        opt(p.time_to_ready_s, 1),
        opt(p.first_success_latency_s, 2),
        opt(p.steady_latency_s, 3),
        p.attempts.len(),
        if p.message.is_empty() { String::new() } else { format!(" · {}", esc(&p.message)) }
    );
    h.push_str(&charts::readiness(p));
    h.push('\n');
}

fn distributions_section(h: &mut String, a: &Analysis) {
    h.push_str("<h2>Latency distributions</h2>");
    let ceiling_label = if a.stall_rule.ceiling_from_constraint {
        format!("TTFT ceiling {} ms", auto(a.stall_rule.ttft_ceiling_ms))
    } else {
        String::new()
    };
    let ceiling = a
        .stall_rule
        .ceiling_from_constraint
        .then_some((a.stall_rule.ttft_ceiling_ms, ceiling_label.as_str()));
    h.push_str(&charts::cdf(
        &a.ttft_ms,
        "time to first token",
        "ms",
        ceiling,
    ));
    h.push_str(&charts::cdf(&a.itl_ms, "inter-token latency", "ms", None));
    h.push_str("<table><tr><th>Metric (ms)</th><th>count</th>");
    for p in ["p50", "p90", "p95", "p99"] {
        let _ = write!(h, "<th>{p}</th><th class=\"muted\">95 % CI</th>");
    }
    h.push_str("<th>max</th></tr>");
    for (name, tag, v) in [
        ("TTFT", "time_to_first_token", &a.ttft_ms),
        ("ITL", "inter_token_latency", &a.itl_ms),
        ("Request latency", "request_latency", &a.latency_ms),
    ] {
        let _ = write!(h, "<tr><td>{name}</td><td class=\"n\">{}</td>", v.len());
        for p in [50.0, 90.0, 95.0, 99.0] {
            let ci = a
                .percentile_ci(tag, p)
                .map_or_else(|| "—".to_owned(), |c| ci_text(c.lower, c.upper, None));
            let _ = write!(
                h,
                "<td class=\"n\">{}</td><td class=\"n muted small\">{ci}</td>",
                percentile(v, p).map_or_else(|| "—".to_owned(), auto)
            );
        }
        let _ = write!(
            h,
            "<td class=\"n\">{}</td></tr>",
            v.last().map_or_else(|| "—".to_owned(), |m| auto(*m))
        );
    }
    h.push_str("</table>\n");
}

fn over_time_section(h: &mut String, input: &ReportInput) {
    let ts = analysis::time_series(&input.records);
    let target = match input.run.load {
        LoadMode::Closed { concurrency } => Some(f64::from(concurrency)),
        LoadMode::Open {
            max_concurrency, ..
        } => max_concurrency.map(f64::from),
    };
    let _ = write!(
        h,
        "<h2>Throughput and in-flight requests over time</h2><p class=\"small muted\">{} s buckets over the whole run; the shaded band is warmup (not counted in any metric). Tokens are spread over the content events that carried them; in-flight is the time-averaged number of requests sent and not yet ended.</p>",
        num(ts.bucket_s, 0)
    );
    h.push_str(&charts::throughput_over_time(&ts));
    h.push_str(&charts::in_flight_over_time(&ts, target));
    h.push('\n');
}

fn timeline_section(h: &mut String, input: &ReportInput, a: &Analysis) {
    let sample = analysis::timeline_sample(input.records.rows(), a, TIMELINE_MAX_LINES);
    let workers = input.records.workers();
    h.push_str("<h2>Per-request timeline</h2>");
    let drawn = sample.indices.len();
    let note = if drawn == sample.total {
        format!("Showing all {} profile requests.", num(drawn as f64, 0))
    } else {
        let flagged = if sample.flagged_drawn == sample.flagged {
            format!(
                "all {} failed or stalled requests",
                num(sample.flagged as f64, 0)
            )
        } else {
            format!(
                "an even sample of {} of the {} failed or stalled requests",
                num(sample.flagged_drawn as f64, 0),
                num(sample.flagged as f64, 0)
            )
        };
        format!(
            "<b>Downsampled:</b> showing {} of {} profile requests (at most {}): {flagged}, and an even sample of the other requests.",
            num(drawn as f64, 0),
            num(sample.total as f64, 0),
            num(TIMELINE_MAX_LINES as f64, 0)
        )
    };
    let _ = write!(
        h,
        "<p class=\"small\">{note} Each line is one request: faint from send to first token, then coloured from first to last token. \
<span class=\"bad\">Red</span>: failed, or stalled (TTFT above {} ms{}, or a gap between tokens above {} ms); hover for details.</p>",
        auto(a.stall_rule.ttft_ceiling_ms),
        if a.stall_rule.ceiling_from_constraint { ", the TTFT constraint" } else { ", 10 × TTFT p50 and at least 1 s" },
        auto(a.stall_rule.gap_ms)
    );
    if !workers.is_empty() {
        h.push_str("<div class=\"legend small\">Worker: ");
        for (k, w) in workers.iter().enumerate().take(40) {
            let _ = write!(
                h,
                "<span class=\"w{}\"><i class=\"sw\"></i>{}</span>",
                k % charts::PALETTE,
                esc(w)
            );
        }
        if workers.len() > charts::PALETTE {
            h.push_str("<span class=\"muted\">(colours repeat after 10 workers)</span>");
        }
        h.push_str("</div>");
    }
    h.push_str(&charts::request_timeline(
        input.records.rows(),
        a,
        &sample,
        workers,
    ));
    h.push('\n');
}

fn errors_section(h: &mut String, a: &Analysis) {
    h.push_str("<h2>Errors by class</h2>");
    if a.errors().is_empty() {
        let _ = writeln!(
            h,
            "<p class=\"ok\">No failed requests among {} profile requests.</p>",
            num(a.profile() as f64, 0)
        );
        return;
    }
    let _ = write!(
        h,
        "<p>{} of {} profile requests failed ({} %).</p><table><tr><th>Class</th><th>HTTP status</th><th>Count</th><th>Share of failures</th><th>First detail</th></tr>",
        num(a.failed() as f64, 0),
        num(a.profile() as f64, 0),
        num(100.0 * a.failed() as f64 / a.profile().max(1) as f64, 2)
    );
    let total = a.failed().max(1) as f64;
    for e in a.errors() {
        let share = 100.0 * e.count as f64 / total;
        let _ = write!(
            h,
            "<tr><td class=\"code\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td><i class=\"bar\" style=\"width:{:.0}px\"></i> {} %</td><td class=\"small code\">{}</td></tr>",
            e.kind,
            e.status.map_or_else(|| "—".to_owned(), |s| s.to_string()),
            num(e.count as f64, 0),
            share * 1.5,
            num(share, 1),
            esc(&e.sample_detail)
        );
    }
    h.push_str("</table>\n");
}

fn scrape_section(h: &mut String, input: &ReportInput) {
    let workers = input.records.workers();
    h.push_str("<h2>Worker metrics (Prometheus scrapes)</h2>");
    h.push_str(&charts::scrape_chart(
        &input.scrape,
        workers,
        |s| s.running,
        "running requests per worker",
    ));
    h.push_str(&charts::scrape_chart(
        &input.scrape,
        workers,
        |s| s.waiting,
        "waiting requests per worker",
    ));
    h.push_str(&charts::scrape_chart(
        &input.scrape,
        workers,
        |s| s.kv_usage,
        "KV-cache usage (fraction)",
    ));
    h.push('\n');
}

fn sweep_section(h: &mut String, s: &SweepView) {
    let per = if s.axis == "rate" {
        "requests/s"
    } else {
        "concurrency"
    };
    h.push_str("<h2>Sweep</h2>");
    if !s.message.is_empty() {
        let _ = write!(h, "<p>{}</p>", esc(&s.message));
    }
    if let Some(r) = s.recommended_per_gpu {
        let _ = write!(
            h,
            "<p>Recommended operating point: <b>{} {per} per GPU</b>{}.</p>",
            auto(r),
            s.gpus.map_or_else(String::new, |g| format!(
                " ({} in total on {g} GPUs)",
                auto(r * f64::from(g))
            ))
        );
    }
    h.push_str(&charts::sweep(s));
    let _ = write!(
        h,
        "<table><tr><th>{per}</th><th>tokens/s</th><th>requests/s</th><th>TTFT p50 (ms)</th><th>TTFT p99 (ms)</th><th>ITL p50 (ms)</th><th>errors</th><th></th></tr>"
    );
    for (k, p) in s.points.iter().enumerate() {
        let _ = write!(
            h,
            "<tr><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td>{}</td></tr>",
            auto(p.concurrency),
            num(p.throughput, 1),
            opt(p.request_throughput, 2),
            opt(p.ttft_p50_ms, 1),
            opt(p.ttft_p99_ms, 1),
            opt(p.itl_p50_ms, 2),
            p.errors,
            if s.knee_index == Some(k) { "<b class=\"bad\">knee</b>" } else { "" }
        );
    }
    h.push_str("</table>\n");
}

fn identity_section(h: &mut String, run: &RunInfo, verdict: Option<&VerdictView>) {
    h.push_str("<h2>Run identity</h2><table>");
    let option_text = |k: &str| run.options.get(k).map(value_text);
    let count = |v: Option<u32>, keys: &[&str]| {
        v.map(|n| n.to_string())
            .or_else(|| keys.iter().find_map(|k| option_text(k)))
            .unwrap_or_else(|| "—".to_owned())
    };
    let rows: [(&str, String); 16] = [
        ("Tool version", run.tool_version.clone()),
        ("Git commit", run.git_commit.clone()),
        ("Command", run.command.clone()),
        (
            "Started",
            format!(
                "{} ({} ms since the Unix epoch)",
                run.started_at, run.started_at_unix_ms
            ),
        ),
        ("Endpoint", run.endpoint.clone()),
        ("Model", run.model.clone()),
        ("Load", load_text(&run.load)),
        ("Random seed", run.random_seed.to_string()),
        ("Request-stream SHA-256", run.request_stream_sha256.clone()),
        (
            "Requests (total / warmup)",
            format!("{} / {}", run.total_requests, run.warmup_requests),
        ),
        (
            "Recipe",
            verdict
                .and_then(|v| v.recipe.clone())
                .or_else(|| option_text("recipe"))
                .unwrap_or_else(|| "—".to_owned()),
        ),
        ("Nodes", count(verdict.and_then(|v| v.nodes), &["nodes"])),
        ("GPUs", count(verdict.and_then(|v| v.gpus), &["gpus"])),
        (
            "GPUs per node",
            count(
                verdict.and_then(|v| v.gpus_per_node),
                &["gpus_per_node", "gpus-per-node"],
            ),
        ),
        ("Schema version", run.schema_version.clone()),
        ("Options given", run.options.len().to_string()),
    ];
    for (k, v) in rows {
        let _ = write!(
            h,
            "<tr><th>{k}</th><td class=\"code\">{}</td></tr>",
            esc(&v)
        );
    }
    h.push_str("</table>");
    if !run.options.is_empty() {
        h.push_str("<details open><summary>Every option</summary><table><tr><th>Option</th><th>Value</th></tr>");
        for (k, v) in &run.options {
            let _ = write!(
                h,
                "<tr><td class=\"code\">{}</td><td class=\"code\">{}</td></tr>",
                esc(k),
                esc(&value_text(v))
            );
        }
        h.push_str("</table></details>");
    }
    h.push('\n');
}

/// An option's value as text: strings bare, everything else as compact JSON.
fn value_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}
