//! The report's input: the files of one output directory, read into memory.
//!
//! [`load_dir`] is the only function of this crate that touches the file system.

use crate::analysis::RecordDigest;
use crate::error::ReportError;
use crate::views::{ProbeView, ScrapeSample, SweepView, VerdictView};
use infergate_model::{RequestRecord, RunInfo};
use serde::de::DeserializeOwned;
use std::path::{Path, PathBuf};

/// `run.json`: the run's identity ([`RunInfo`]). Required.
pub const RUN_FILE: &str = "run.json";
/// `records.jsonl`: one [`RequestRecord`] per line. Required.
pub const RECORDS_FILE: &str = "records.jsonl";
/// `profile_export_aiperf.json`: the AIPerf-compatible summary. Optional (the page falls back to
/// numbers computed from the records).
pub const AIPERF_FILE: &str = "profile_export_aiperf.json";
/// `verdict.json`: [`VerdictView`]. Optional.
pub const VERDICT_FILE: &str = "verdict.json";
/// `probe.json`: [`ProbeView`]. Optional.
pub const PROBE_FILE: &str = "probe.json";
/// `sweep.json`: [`SweepView`]. Optional.
pub const SWEEP_FILE: &str = "sweep.json";
/// `metrics_scrape.jsonl`: one [`ScrapeSample`] per line. Optional.
pub const SCRAPE_FILE: &str = "metrics_scrape.jsonl";

/// Everything a report or a comparison is made from.
#[derive(Debug, Clone)]
pub struct ReportInput {
    /// The run's identity.
    pub run: RunInfo,
    /// What the report uses of every request, warmup and profile (read one record at a time).
    pub records: RecordDigest,
    /// The AIPerf-compatible export (`Value::Null` when absent).
    pub aiperf: serde_json::Value,
    /// The gate's verdict, when the run was gated.
    pub verdict: Option<VerdictView>,
    /// The readiness probe, when one ran.
    pub probe: Option<ProbeView>,
    /// The sweep, for `infergate sweep` runs.
    pub sweep: Option<SweepView>,
    /// Prometheus scrapes taken during the run (empty when none).
    pub scrape: Vec<ScrapeSample>,
}

impl ReportInput {
    /// An input with just the run and its records (the optional parts empty).
    pub fn new(run: RunInfo, records: Vec<RequestRecord>) -> ReportInput {
        let streaming = streaming_option(&run).unwrap_or_else(|| {
            let mut guess = StreamedByRecords::default();
            records.iter().for_each(|r| guess.see(r));
            guess.streamed()
        });
        ReportInput {
            run,
            records: RecordDigest::of(&records, streaming),
            aiperf: serde_json::Value::Null,
            verdict: None,
            probe: None,
            sweep: None,
            scrape: Vec::new(),
        }
    }

    /// Whether responses were streamed: the run's `streaming` (or `stream`) option when it is a
    /// boolean, else true when any successful request received more than one content event (or
    /// when none succeeded).
    pub fn streaming(&self) -> bool {
        self.records.streaming()
    }
}

/// The run's `streaming` (or `stream`) option, when it is a boolean.
fn streaming_option(run: &RunInfo) -> Option<bool> {
    ["streaming", "stream"]
        .iter()
        .find_map(|k| run.options.get(*k).and_then(serde_json::Value::as_bool))
}

/// The rule for a run whose options do not say whether it streamed: it did when any successful
/// request received more than one content event, or when none succeeded.
#[derive(Default)]
struct StreamedByRecords {
    any_ok: bool,
    multi: bool,
}

impl StreamedByRecords {
    fn see(&mut self, r: &RequestRecord) {
        self.any_ok |= r.is_success();
        self.multi |= r.is_success() && r.content_ns.len() > 1;
    }

    fn streamed(&self) -> bool {
        !self.any_ok || self.multi
    }
}

/// Read an output directory. `run.json` and `records.jsonl` are required; every other file is
/// optional, but a file that exists and does not parse is an error naming the file (and line).
pub fn load_dir(dir: &Path) -> Result<ReportInput, ReportError> {
    let run = read_json(&dir.join(RUN_FILE))?;
    let records_path = dir.join(RECORDS_FILE);
    // Without the option, whether the run streamed is read off the records first.
    let streaming = match streaming_option(&run) {
        Some(s) => s,
        None => {
            let mut guess = StreamedByRecords::default();
            for_each_line(&records_path, |r: RequestRecord| guess.see(&r))?;
            guess.streamed()
        }
    };
    // One record at a time: a large run's per-token timelines are never all in memory.
    let mut digest = RecordDigest::new(streaming);
    for_each_line(&records_path, |r: RequestRecord| digest.push(&r))?;
    let records = digest.finish();
    let aiperf = read_optional(&dir.join(AIPERF_FILE))?.unwrap_or(serde_json::Value::Null);
    let scrape_path = dir.join(SCRAPE_FILE);
    let scrape = if scrape_path.exists() {
        let mut samples = Vec::new();
        for_each_line(&scrape_path, |s| samples.push(s))?;
        samples
    } else {
        Vec::new()
    };
    Ok(ReportInput {
        run,
        records,
        aiperf,
        verdict: read_optional(&dir.join(VERDICT_FILE))?,
        probe: read_optional(&dir.join(PROBE_FILE))?,
        sweep: read_optional(&dir.join(SWEEP_FILE))?,
        scrape,
    })
}

fn read(path: &Path) -> Result<String, ReportError> {
    std::fs::read_to_string(path).map_err(|source| ReportError::Read {
        path: path.to_path_buf(),
        source,
    })
}

fn parse_err(path: &Path, line: Option<usize>) -> impl FnOnce(serde_json::Error) -> ReportError {
    let path: PathBuf = path.to_path_buf();
    move |source| ReportError::Parse { path, line, source }
}

fn read_json<T: DeserializeOwned>(path: &Path) -> Result<T, ReportError> {
    serde_json::from_str(&read(path)?).map_err(parse_err(path, None))
}

fn read_optional<T: DeserializeOwned>(path: &Path) -> Result<Option<T>, ReportError> {
    if path.exists() {
        read_json(path).map(Some)
    } else {
        Ok(None)
    }
}

/// Parse each non-blank line and hand it to `each`, reading line by line (the file is never
/// held whole: a 60,000-request `records.jsonl` is ~90 MB of text).
fn for_each_line<T: DeserializeOwned>(
    path: &Path,
    mut each: impl FnMut(T),
) -> Result<(), ReportError> {
    use std::io::BufRead;
    let io_err = |source| ReportError::Read {
        path: path.to_path_buf(),
        source,
    };
    let file = std::fs::File::open(path).map_err(io_err)?;
    let mut reader = std::io::BufReader::with_capacity(1 << 16, file);
    let mut line = String::new();
    let mut number = 0;
    loop {
        line.clear();
        if reader.read_line(&mut line).map_err(io_err)? == 0 {
            return Ok(());
        }
        number += 1;
        if !line.trim().is_empty() {
            each(serde_json::from_str(&line).map_err(parse_err(path, Some(number)))?);
        }
    }
}
