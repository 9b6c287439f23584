//! The CTRF report of a `validate` run, shaped like AICR's (`pkg/validator/ctrf`): one test,
//! `inference-perf`, in suite `["performance"]`, whose status follows upstream's exit-code
//! mapping (0 passed, 1 failed, 2 skipped, anything else other).
//!
//! # Format
//! ```text
//! { reportFormat: "CTRF", specVersion: "0.0.1", timestamp: RFC 3339 UTC (seconds),
//!   generatedBy: "infergate",
//!   results: { tool: {name: "infergate", version},
//!              summary: {tests, passed, failed, skipped, pending, other, start, stop},
//!              tests: [{name: "inference-perf", status, duration, suite: ["performance"],
//!                       message?, stdout}] } }
//! ```
//! `start`/`stop` are ms since the Unix epoch; `duration` is `stop - start` in ms. `message` is
//! the skip reason, the first failure, or the error (absent on a pass); `stdout` is the caller's
//! preceding lines followed by [`Verdict::stdout`]. Validated against the CTRF JSON schema in the
//! tests. Pure: the caller supplies the clock readings.

use crate::plan::CHECK_NAME;
use crate::verdict::Verdict;
use serde::Serialize;

/// The tool name in every report.
pub const TOOL_NAME: &str = "infergate";
/// CTRF `specVersion`, as AICR writes it.
pub const SPEC_VERSION: &str = "0.0.1";
/// The suite (AICR phase) of the test.
pub const SUITE: &str = "performance";

/// Wall-clock bounds of the check, ms since the Unix epoch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RunTiming {
    /// When the check started.
    pub start_unix_ms: u64,
    /// When it ended (also the report's `timestamp`).
    pub stop_unix_ms: u64,
}

impl RunTiming {
    /// `stop - start`, ms (0 if the clock went backwards).
    pub fn duration_ms(self) -> u64 {
        self.stop_unix_ms.saturating_sub(self.start_unix_ms)
    }
}

/// A CTRF document.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CtrfReport {
    /// Always `CTRF`.
    pub report_format: &'static str,
    /// Always [`SPEC_VERSION`].
    pub spec_version: &'static str,
    /// Generation time, RFC 3339 UTC.
    pub timestamp: String,
    /// Always [`TOOL_NAME`].
    pub generated_by: &'static str,
    /// The run's results.
    pub results: CtrfResults,
}

/// `results`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CtrfResults {
    /// `{name, version}`.
    pub tool: CtrfTool,
    /// Counts and bounds.
    pub summary: CtrfSummary,
    /// Exactly one test, `inference-perf`.
    pub tests: Vec<CtrfTest>,
}

/// `results.tool`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CtrfTool {
    /// `infergate`.
    pub name: &'static str,
    /// The infergate version.
    pub version: String,
}

/// `results.summary`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct CtrfSummary {
    /// Tests in the report.
    pub tests: u32,
    /// With status `passed`.
    pub passed: u32,
    /// With status `failed`.
    pub failed: u32,
    /// With status `skipped`.
    pub skipped: u32,
    /// With status `pending` (always 0).
    pub pending: u32,
    /// With status `other`.
    pub other: u32,
    /// Start, ms since the epoch.
    pub start: u64,
    /// Stop, ms since the epoch.
    pub stop: u64,
}

/// One test result.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CtrfTest {
    /// `inference-perf`.
    pub name: &'static str,
    /// `passed | failed | skipped | other`.
    pub status: &'static str,
    /// ms.
    pub duration: u64,
    /// `["performance"]`.
    pub suite: Vec<&'static str>,
    /// Skip reason, failure or error; absent on a pass.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// Log lines.
    pub stdout: Vec<String>,
}

/// Builds the report. `preceding_stdout` are lines the run printed before the verdict's own (the
/// probe's, for example); they come first in `stdout`.
pub fn report(
    verdict: &Verdict,
    timing: RunTiming,
    tool_version: &str,
    preceding_stdout: &[String],
) -> CtrfReport {
    let status = verdict.status.ctrf_status();
    let count = |s: &str| u32::from(status == s);
    let mut stdout = preceding_stdout.to_vec();
    stdout.extend(verdict.stdout.iter().cloned());
    CtrfReport {
        report_format: "CTRF",
        spec_version: SPEC_VERSION,
        timestamp: rfc3339_utc(timing.stop_unix_ms),
        generated_by: TOOL_NAME,
        results: CtrfResults {
            tool: CtrfTool {
                name: TOOL_NAME,
                version: tool_version.to_string(),
            },
            summary: CtrfSummary {
                tests: 1,
                passed: count("passed"),
                failed: count("failed"),
                skipped: count("skipped"),
                pending: 0,
                other: count("other"),
                start: timing.start_unix_ms,
                stop: timing.stop_unix_ms,
            },
            tests: vec![CtrfTest {
                name: CHECK_NAME,
                status,
                duration: timing.duration_ms(),
                suite: vec![SUITE],
                message: verdict.message.clone(),
                stdout,
            }],
        },
    }
}

impl CtrfReport {
    /// Pretty JSON with a trailing newline.
    pub fn to_json(&self) -> String {
        let mut s = serde_json::to_string_pretty(self).unwrap_or_default();
        s.push('\n');
        s
    }
}

/// `YYYY-MM-DDTHH:MM:SSZ` for ms since the Unix epoch (UTC; sub-second part dropped, like Go's
/// `time.RFC3339`).
pub fn rfc3339_utc(unix_ms: u64) -> String {
    let secs = unix_ms / 1000;
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        (rem % 3600) / 60,
        rem % 60
    )
}

/// Days since 1970-01-01 → (year, month, day), proleptic Gregorian (H. Hinnant's algorithm).
pub fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_known_instants() {
        assert_eq!(rfc3339_utc(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339_utc(951_782_400_000), "2000-02-29T00:00:00Z");
        assert_eq!(rfc3339_utc(1_700_000_000_999), "2023-11-14T22:13:20Z");
        assert_eq!(rfc3339_utc(4_102_444_799_000), "2099-12-31T23:59:59Z");
    }

    #[test]
    fn skipped_report_counts_and_message() {
        let v = Verdict::skipped("skipped - dynamo-platform not in recipe components");
        let r = report(
            &v,
            RunTiming {
                start_unix_ms: 1000,
                stop_unix_ms: 1500,
            },
            "0.1.0",
            &[],
        );
        let s = r.results.summary;
        assert_eq!(
            (s.tests, s.passed, s.failed, s.skipped, s.other),
            (1, 0, 0, 1, 0)
        );
        let t = &r.results.tests[0];
        assert_eq!(
            (t.name, t.status, t.duration),
            ("inference-perf", "skipped", 500)
        );
        assert_eq!(
            t.message.as_deref(),
            Some("skipped - dynamo-platform not in recipe components")
        );
    }
}
