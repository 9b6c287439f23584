//! Errors of this crate: reading an output directory, and parsing `--fail-on`.

use std::path::PathBuf;

/// Why an output directory could not be read into a report.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    /// A required file is missing or unreadable.
    #[error("cannot read {path}: {source} (an output directory holds run.json, records.jsonl and profile_export_aiperf.json)")]
    Read {
        /// The file.
        path: PathBuf,
        /// The IO error.
        source: std::io::Error,
    },
    /// A file is not the JSON its schema says.
    #[error("{path}{}: not valid JSON for this file: {source}", line.map(|l| format!(" line {l}")).unwrap_or_default())]
    Parse {
        /// The file.
        path: PathBuf,
        /// 1-based line, for JSON-lines files.
        line: Option<usize>,
        /// The parse error.
        source: serde_json::Error,
    },
}

/// A `--fail-on` value that could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid --fail-on `{input}`: {reason}; expected METRIC:-N% for a metric where higher is better or METRIC:+N% where lower is better (e.g. output_token_throughput:-10%, time_to_first_token_p99:+20%); METRIC is one of: {valid}")]
pub struct FailOnError {
    /// The value as given.
    pub input: String,
    /// What is wrong with it.
    pub reason: String,
    /// The valid metric names, comma-separated.
    pub valid: String,
}
