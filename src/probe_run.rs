//! The readiness probe as the CLI runs it (`probe`, and the first stage of `validate` and `demo`):
//! run it, describe it in plain words, and convert it into the report's `probe.json` view.

use infergate_loadgen::{AttemptResult, ProbeReport};
use infergate_report::{ProbeAttemptView, ProbeView};
use std::fmt::Write;

/// Plain-words lines describing a probe's outcome.
pub fn describe(report: &ProbeReport) -> String {
    let mut out = String::new();
    if report.ready {
        let _ = writeln!(
            out,
            "ready after {:.2} s ({} attempt{}); first completion (cold start) took {:.2} s{}",
            report.time_to_ready.map(|d| d.as_secs_f64()).unwrap_or(0.0),
            report.attempts.len(),
            if report.attempts.len() == 1 { "" } else { "s" },
            report
                .first_success_latency
                .map(|d| d.as_secs_f64())
                .unwrap_or(0.0),
            report
                .steady_latency
                .map(|d| format!(", a warm one {:.3} s", d.as_secs_f64()))
                .unwrap_or_default()
        );
    } else if report.cancelled {
        let _ = writeln!(
            out,
            "probe cancelled after {:.1} s",
            report.elapsed.as_secs_f64()
        );
    } else {
        let stage = report
            .stuck_stage
            .as_ref()
            .map(|s| s.to_string())
            .unwrap_or_else(|| "no attempt completed".into());
        let _ = writeln!(
            out,
            "timed out waiting for inference endpoint to serve requests: after {:.1} s and {} attempt{}, stuck at: {stage}",
            report.elapsed.as_secs_f64(),
            report.attempts.len(),
            if report.attempts.len() == 1 { "" } else { "s" },
        );
    }
    out
}

/// The report's view of a probe.
pub fn view(report: &ProbeReport) -> ProbeView {
    ProbeView {
        ready: report.ready,
        time_to_ready_s: report.time_to_ready.map(|d| d.as_secs_f64()),
        first_success_latency_s: report.first_success_latency.map(|d| d.as_secs_f64()),
        steady_latency_s: report.steady_latency.map(|d| d.as_secs_f64()),
        stuck_stage: report
            .stuck_stage
            .as_ref()
            .map(|s| stage_label(s).to_string()),
        message: describe(report).trim_end().to_string(),
        attempts: report
            .attempts
            .iter()
            .map(|a| {
                let (outcome, status, detail) = attempt_label(&a.result);
                ProbeAttemptView {
                    start_s: a.started.as_secs_f64(),
                    duration_s: a.duration.as_secs_f64(),
                    outcome: outcome.to_string(),
                    status,
                    detail,
                }
            })
            .collect(),
    }
}

fn stage_label(s: &infergate_loadgen::StuckStage) -> &'static str {
    use infergate_loadgen::StuckStage::*;
    match s {
        NothingListening => "nothing_listening",
        ConnectError(_) => "connect_error",
        HttpError(_) => "http_error",
        ModelNotListed => "model_not_listed",
        CutOffByAttemptTimeout => "attempt_timeout",
        BadResponse(_) => "bad_response",
    }
}

fn attempt_label(r: &AttemptResult) -> (&'static str, Option<u16>, String) {
    match r {
        AttemptResult::Ready => ("ok", None, String::new()),
        AttemptResult::NothingListening => ("connect_refused", None, String::new()),
        AttemptResult::ConnectError(e) => ("connect", None, e.clone()),
        AttemptResult::HttpStatus { code, model_listed } => (
            if *model_listed == Some(false) {
                "model_not_listed"
            } else {
                "http_status"
            },
            Some(*code),
            String::new(),
        ),
        AttemptResult::BadResponse {
            reason,
            model_listed,
        } => (
            if *model_listed == Some(false) {
                "model_not_listed"
            } else {
                "bad_response"
            },
            Some(200),
            reason.clone(),
        ),
        AttemptResult::TimedOut => ("timeout", None, String::new()),
        AttemptResult::CutOffByWindow => ("cut_off_by_window", None, String::new()),
        AttemptResult::Cancelled => ("cancelled", None, String::new()),
    }
}
