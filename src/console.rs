//! The console summaries printed at the end of a run: outcome first, then the few numbers that
//! matter, then where the files are. Every number is defined in docs/metrics.md.

use crate::bench_run::BenchResult;
use infergate_stats::Distribution;
use std::fmt::Write;
use std::path::Path;

/// The end-of-run summary of a benchmark.
pub fn bench_summary(result: &BenchResult, output_dir: Option<&Path>) -> String {
    let s = &result.summary;
    let mut out = String::new();
    let status = if result.all_failed() {
        "FAILED: no profile request succeeded"
    } else if result.run.cancelled {
        "INTERRUPTED: partial results"
    } else {
        "done"
    };
    let _ = writeln!(
        out,
        "infergate {}: {status}. {} requests ({} failed, {} warmup excluded) in {}",
        result.run_info.command,
        s.completed_request_count,
        s.error_request_count,
        s.warmup_request_count,
        seconds(s.benchmark_duration_s),
    );
    let ci = s.confidence.as_ref();
    let _ = writeln!(
        out,
        "  output token throughput  {}{}",
        rate(s.output_token_throughput, "tokens/sec"),
        ci.and_then(|c| c.output_token_throughput.as_ref())
            .map(|m| format!(
                "  ({:.0}% CI {:.1} – {:.1})",
                m.level * 100.0,
                m.lower,
                m.upper
            ))
            .unwrap_or_default()
    );
    let _ = writeln!(
        out,
        "  request throughput       {}",
        rate(s.request_throughput, "requests/sec")
    );
    if let Some(g) = &s.goodput {
        let _ = writeln!(
            out,
            "  goodput                  {} ({} good requests, {:.1}%)",
            rate(g.goodput, "requests/sec"),
            g.good_request_count,
            g.good_request_fraction * 100.0
        );
    }
    let _ = writeln!(
        out,
        "  {:<22} {:>9} {:>9} {:>9} {:>9} {:>9} {:>9}",
        "", "avg", "p50", "p90", "p99", "min", "max"
    );
    let rows: [(&str, &Option<Distribution>); 6] = [
        ("TTFT (ms)", &s.time_to_first_token),
        ("ITL (ms)", &s.inter_token_latency),
        ("request latency (ms)", &s.request_latency),
        ("input length (tokens)", &s.input_sequence_length),
        ("output length (tokens)", &s.output_sequence_length),
        ("per-user (tok/s/user)", &s.output_token_throughput_per_user),
    ];
    for (name, d) in rows {
        if let Some(d) = d {
            let _ = writeln!(
                out,
                "  {:<22} {:>9.2} {:>9.2} {:>9.2} {:>9.2} {:>9.2} {:>9.2}",
                name, d.avg, d.p50, d.p90, d.p99, d.min, d.max
            );
        }
    }
    if s.error_request_count > 0 {
        let kinds: Vec<String> = s
            .errors
            .groups
            .iter()
            .map(|g| match g.status {
                Some(code) => format!("{} {} × {}", g.kind, code, g.count),
                None => format!("{} × {}", g.kind, g.count),
            })
            .collect();
        let _ = writeln!(out, "  errors: {}", kinds.join(", "));
    }
    if s.osl_short_count > 0 {
        let _ = writeln!(
            out,
            "  note: {} responses stopped short of the requested output length",
            s.osl_short_count
        );
    }
    if s.usage_completion_mismatch_count > 0 {
        let _ = writeln!(
            out,
            "  note: {} responses' usage.completion_tokens disagreed with the client's count",
            s.usage_completion_mismatch_count
        );
    }
    if let Some(l) = &result.run.send_lateness {
        let _ = writeln!(
            out,
            "  send lateness: mean {:.2} ms, max {:.2} ms, {} requests over 10 ms late",
            l.mean_ns as f64 / 1e6,
            l.max_ns as f64 / 1e6,
            l.late_over_10ms
        );
    }
    let _ = writeln!(
        out,
        "  request stream sha256 {}",
        result.run_info.request_stream_sha256
    );
    if let Some(dir) = output_dir {
        let _ = writeln!(
            out,
            "  files: {}/ (report.html, profile_export_aiperf.json, records.jsonl, run.json)",
            dir.display()
        );
    }
    out
}

fn rate(v: Option<f64>, unit: &str) -> String {
    v.map(|v| format!("{v:.2} {unit}"))
        .unwrap_or_else(|| "n/a (no successful request)".to_string())
}

fn seconds(v: Option<f64>) -> String {
    v.map(|v| format!("{v:.2} s"))
        .unwrap_or_else(|| "n/a".into())
}
