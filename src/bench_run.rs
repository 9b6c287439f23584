//! One benchmark run, shared by `bench`, `validate` and `demo`: a validated [`BenchPlan`] in,
//! a [`BenchResult`] out, with the result files written and the console summary printed.
//!
//! The plan is built (and every value checked) before this module is entered, so nothing here
//! rejects input: what can fail now is the run itself.

use crate::output;
use anyhow::Context;
use infergate_loadgen::{CancelToken, LoadPlan, Progress, RecordSink, RunResult, Target};
use infergate_model::{Phase, RequestRecord, RequestSource, RunInfo, TokenCounter, SCHEMA_VERSION};
use infergate_stats::{
    aiperf_export, AiperfExport, ExportContext, Summary, SummaryBuilder, SummaryOptions,
};
use infergate_workload::{Tokenizer, Workload};
use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Everything a benchmark run needs, already validated.
pub struct BenchPlan {
    /// The endpoint (validated URL, headers, API key).
    pub target: Target,
    /// The request stream.
    pub workload: Arc<Workload>,
    /// How load is offered and when the run stops.
    pub load: LoadPlan,
    /// Statistics options (goodput SLOs, confidence level).
    pub summary: SummaryOptions,
    /// Where result files go, if anywhere.
    pub output_dir: Option<PathBuf>,
    /// Print the AIPerf JSON between two lines holding this string.
    pub result_sentinel: Option<String>,
    /// Show a live progress line on a terminal.
    pub progress: bool,
    /// The run's identity (digest, options) written as `run.json`.
    pub run_info: RunInfo,
    /// Name of the tokenizer (for the export).
    pub tokenizer_name: String,
    /// The command line (for the export's `cli_command`; holds no secret).
    pub cli_command: String,
    /// Scrape the server's Prometheus `/metrics` once a second during the run (for stall
    /// attribution); a server without it is simply not scraped.
    pub scrape_metrics: bool,
    /// Keep every record in memory ([`BenchResult::run`]`.records`, for the gate's evidence).
    /// `false`: each record is written out and summarised as it finishes and none is kept, so
    /// memory stays flat however many requests the run sends.
    pub keep_records: bool,
}

/// What a run produced.
pub struct BenchResult {
    /// The scheduler's raw result (records, in-flight samples, lateness).
    pub run: RunResult,
    /// AIPerf-definition statistics over the profile records.
    pub summary: Summary,
    /// The AIPerf-compatible export.
    pub export: AiperfExport,
    /// The run's identity.
    pub run_info: RunInfo,
    /// Process CPU seconds (user + system) spent during the run, when the OS tells.
    pub client_cpu_s: Option<f64>,
    /// Wall-clock seconds of the run.
    pub wall_s: f64,
    /// `/metrics` scrapes taken during the run (times on the records' clock, approximately:
    /// the scraper's origin is taken just before the load generator's epoch).
    pub scrapes: Vec<infergate_loadgen::Scrape>,
    /// Event-loop lag samples: how late a 10 ms timer woke up, in nanoseconds.
    pub loop_lag_ns: Vec<u64>,
    /// The records were streamed to `records.jsonl` and `profile_export.jsonl` during the run
    /// (and `run.records` is empty).
    pub records_written: bool,
}

impl BenchResult {
    /// True when no profile request succeeded: the run measured nothing usable.
    pub fn all_failed(&self) -> bool {
        // `request_count` counts successful profile requests (AIPerf's definition).
        self.summary.request_count == 0
    }
}

/// Build the run identity for a plan. `options` are the flags as given (no secrets).
pub fn run_info(
    command: &str,
    endpoint: &str,
    workload: &Workload,
    total_requests: u64,
    warmup_requests: u64,
    load: infergate_model::LoadMode,
    options: serde_json::Map<String, serde_json::Value>,
) -> RunInfo {
    let now = SystemTime::now();
    RunInfo {
        schema_version: SCHEMA_VERSION.to_string(),
        tool_version: env!("CARGO_PKG_VERSION").to_string(),
        git_commit: crate::exit::GIT_COMMIT.to_string(),
        command: command.to_string(),
        started_at: rfc3339(now),
        started_at_unix_ms: now
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_millis() as u64)
            .unwrap_or(0),
        endpoint: endpoint.to_string(),
        model: workload.spec().model.clone(),
        random_seed: workload.spec().seed,
        request_stream_sha256: workload.digest(total_requests),
        total_requests,
        warmup_requests,
        load,
        options,
    }
}

/// Execute `plan` on a fresh multi-thread runtime: run the load (Ctrl-C stops it and keeps what
/// was measured), summarise, write every result file, print the sentinel frame if asked.
pub fn execute(plan: BenchPlan) -> anyhow::Result<BenchResult> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(execute_async(plan))
}

/// [`execute`] on the caller's runtime.
pub async fn execute_async(plan: BenchPlan) -> anyhow::Result<BenchResult> {
    let BenchPlan {
        target,
        workload,
        mut load,
        summary: summary_opts,
        output_dir,
        result_sentinel,
        progress: show_progress,
        mut run_info,
        tokenizer_name,
        cli_command,
        scrape_metrics,
        keep_records,
    } = plan;
    if let Some(dir) = &output_dir {
        output::ensure_dir(dir)?;
    }
    let record_writer = if keep_records {
        None
    } else {
        let (tx, rx) = std::sync::mpsc::channel();
        load.records = RecordSink::Stream(tx);
        Some(spawn_record_writer(
            output_dir.clone(),
            summary_opts.clone(),
            rx,
        )?)
    };
    raise_open_file_limit(&load);
    let expected = load.request_count;
    let progress = Arc::new(Progress::new());
    let cancel = CancelToken::new();
    let on_signal = cancel.clone();
    let signal_task = tokio::spawn(async move {
        wait_for_stop_signal().await;
        eprintln!("\ninterrupted: stopping; in-flight requests are recorded as cancelled");
        on_signal.cancel();
    });
    let progress_task = (show_progress && std::io::stderr().is_terminal()).then(|| {
        let progress = Arc::clone(&progress);
        tokio::spawn(show_progress_line(progress, expected))
    });
    let cpu_before = process_cpu_seconds();
    let wall_start = std::time::Instant::now();
    let source: Arc<dyn RequestSource> = workload.clone();
    let tokenizer: Arc<dyn Tokenizer> = Arc::clone(workload.tokenizer());
    let counter: Arc<dyn TokenCounter> = tokenizer;
    let side_stop = CancelToken::new();
    let origin = tokio::time::Instant::now();
    let scraper = scrape_metrics.then(|| {
        let target = target.clone();
        let stop = side_stop.clone();
        tokio::spawn(async move {
            infergate_loadgen::scrape_until(&target, origin, Duration::from_secs(1), stop).await
        })
    });
    let lag_sampler = tokio::spawn(sample_loop_lag(side_stop.clone()));
    let run = infergate_loadgen::run(target, source, counter, load, Some(progress), cancel)
        .await
        .context("the load generator could not start");
    // The run has returned (or never started), so the record channel is closed and the writer
    // finishes with what it received.
    let (streamed, record_file_error) = match record_writer {
        Some(writer) => {
            let (summary, error) = tokio::task::spawn_blocking(move || writer.join())
                .await
                .ok()
                .and_then(Result::ok)
                .context("the record writer thread panicked")?;
            (Some(summary), error)
        }
        None => (None, None),
    };
    let run = run?;
    let wall_s = wall_start.elapsed().as_secs_f64();
    side_stop.cancel();
    let scrapes = match scraper {
        Some(task) => task.await.ok().and_then(Result::ok).unwrap_or_default(),
        None => Vec::new(),
    };
    let loop_lag_ns = lag_sampler.await.unwrap_or_default();
    let client_cpu_s = match (cpu_before, process_cpu_seconds()) {
        (Some(a), Some(b)) => Some(b - a),
        _ => None,
    };
    signal_task.abort();
    if let Some(task) = progress_task {
        task.abort();
        eprint!("\r\x1b[2K");
    }

    let records_written = streamed.is_some();
    let summary = match streamed {
        Some(summary) => summary,
        None => Summary::from_records(&run.records, &summary_opts),
    };
    let started = run.epoch_wall;
    let end_wall = started + Duration::from_nanos(run.finished_ns);
    let spec = workload.spec();
    let ctx = ExportContext {
        benchmark_id: run_info.request_stream_sha256.chars().take(12).collect(),
        model: spec.model.clone(),
        urls: vec![run_info.endpoint.clone()],
        endpoint_type: spec.endpoint.name().to_string(),
        streaming: spec.streaming,
        extra_inputs: spec.extra_inputs.clone(),
        tokenizer: tokenizer_name,
        random_seed: spec.seed,
        dataset_entries: spec.num_dataset_entries,
        isl_mean: f64::from(spec.input_tokens_mean),
        isl_stddev: spec.input_tokens_stddev,
        osl_mean: spec.output_tokens_mean.map(f64::from).unwrap_or(0.0),
        osl_stddev: spec.output_tokens_stddev,
        load: Some(run_info.load),
        request_count: Some(run_info.total_requests - run_info.warmup_requests),
        duration_s: None,
        warmup_request_count: run_info.warmup_requests,
        artifact_dir: output_dir.as_ref().map(|d| d.display().to_string()),
        cli_command,
        start_time: rfc3339(started),
        end_time: rfc3339(end_wall),
        was_cancelled: run.cancelled,
        is_complete: !run.cancelled,
        incomplete_reason: run.cancelled.then(|| "cancelled".to_string()),
        request_stream_sha256: Some(run_info.request_stream_sha256.clone()),
        git_commit: Some(crate::exit::GIT_COMMIT.to_string()),
    };
    let export = aiperf_export(&summary, &ctx);
    run_info.started_at = rfc3339(started);
    let result = BenchResult {
        run,
        summary,
        export,
        run_info,
        client_cpu_s,
        wall_s,
        scrapes,
        loop_lag_ns,
        records_written,
    };
    if let Some(dir) = &output_dir {
        write_outputs(dir, &result)?;
    }
    if let Some(sentinel) = &result_sentinel {
        print_framed(sentinel, &result.export)?;
    }
    // The summary and the export are out; the per-request files could not be written.
    if let Some(e) = record_file_error {
        return Err(e.context("the run finished and its summary was written, but not its records"));
    }
    Ok(result)
}

/// Each stream holds a socket: raise the soft open-file limit to the hard limit, and warn when
/// even that is below what the run needs.
fn raise_open_file_limit(load: &LoadPlan) {
    let needed = match load.mode {
        infergate_model::LoadMode::Closed { concurrency } => u64::from(concurrency),
        infergate_model::LoadMode::Open {
            max_concurrency, ..
        } => max_concurrency.map(u64::from).unwrap_or(4096),
    } + 64;
    match rlimit::increase_nofile_limit(u64::MAX) {
        Ok(limit) if limit < needed => eprintln!(
            "warning: the open-file limit is {limit}, below the {needed} this run needs; raise it (ulimit -n) or requests will fail to connect"
        ),
        _ => {}
    }
}

/// Write `profile_export_aiperf.json`, `profile_export_aiperf.csv`, `records.jsonl`,
/// `profile_export.jsonl` (AIPerf-style per-record metrics) and `run.json` into `dir`.
pub fn write_outputs(dir: &std::path::Path, result: &BenchResult) -> anyhow::Result<()> {
    output::write_json(&dir.join("profile_export_aiperf.json"), &result.export)?;
    output::write_atomic(
        &dir.join("profile_export_aiperf.csv"),
        infergate_stats::records_csv(&result.summary).as_bytes(),
    )?;
    if !result.records_written {
        let mut files = RecordFiles::create(dir)?;
        for r in &result.run.records {
            files.write(r, result.summary.streaming)?;
        }
        files.commit()?;
    }
    output::write_json(&dir.join("run.json"), &result.run_info)?;
    Ok(())
}

/// `records.jsonl` (every record) and `profile_export.jsonl` (AIPerf's per-record lines, profile
/// phase), written record by record: never held in memory whole.
struct RecordFiles {
    records: output::AtomicFile,
    profile: output::AtomicFile,
}

impl RecordFiles {
    fn create(dir: &std::path::Path) -> anyhow::Result<RecordFiles> {
        Ok(RecordFiles {
            records: output::AtomicFile::create(&dir.join("records.jsonl"))?,
            profile: output::AtomicFile::create(&dir.join("profile_export.jsonl"))?,
        })
    }

    fn write(&mut self, r: &RequestRecord, streaming: bool) -> anyhow::Result<()> {
        let w = self.records.writer();
        serde_json::to_writer(&mut *w, r).context("cannot write records.jsonl")?;
        w.write_all(b"\n").context("cannot write records.jsonl")?;
        if r.phase == Phase::Profile {
            let w = self.profile.writer();
            w.write_all(infergate_stats::record_jsonl_line(r, streaming).as_bytes())
                .and_then(|()| w.write_all(b"\n"))
                .context("cannot write profile_export.jsonl")?;
        }
        Ok(())
    }

    fn commit(self) -> anyhow::Result<()> {
        self.records.commit()?;
        self.profile.commit()
    }
}

/// How long the record writer waits between batches (at most this long after the run ends).
const WRITER_BATCH_PAUSE: Duration = Duration::from_millis(20);

/// The thread that receives a streamed run's records as they finish: it appends them to the
/// record files (when there is an output folder) and folds them into the summary, so the load
/// generator's threads never wait on the disk and no record is kept. Ends when the channel
/// closes (the run returned) and yields the summary, and the error that stopped the files if one
/// did (a full disk): the files are then dropped, but every record is still summarised.
fn spawn_record_writer(
    dir: Option<PathBuf>,
    opts: SummaryOptions,
    records: std::sync::mpsc::Receiver<RequestRecord>,
) -> anyhow::Result<std::thread::JoinHandle<(Summary, Option<anyhow::Error>)>> {
    let mut files = dir.as_deref().map(RecordFiles::create).transpose()?;
    std::thread::Builder::new()
        .name("record-writer".into())
        .spawn(move || {
            let mut summary = SummaryBuilder::new(&opts);
            // Waits for a record, takes every record that has arrived, then pauses: one wake-up
            // per batch rather than per request keeps this thread's share of the CPU (which the
            // load generator's threads need) small. Ends when the run drops the sender.
            let mut error = None;
            while let Ok(first) = records.recv() {
                for r in std::iter::once(first).chain(records.try_iter()) {
                    summary.push(&r);
                    if let Some(f) = files.as_mut() {
                        if let Err(e) = f.write(&r, opts.streaming) {
                            error = Some(e);
                            files = None;
                        }
                    }
                }
                std::thread::sleep(WRITER_BATCH_PAUSE);
            }
            if let Some(files) = files {
                error = files.commit().err();
            }
            (summary.finish(), error)
        })
        .context("cannot start the record writer thread")
}

/// Print `payload` as JSON between two sentinel lines on stdout (AICR's job-wrapper framing).
fn print_framed(sentinel: &str, export: &AiperfExport) -> anyhow::Result<()> {
    let payload = serde_json::to_string(export).context("cannot serialise the export")?;
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    writeln!(out, "{sentinel}")?;
    writeln!(out, "{payload}")?;
    writeln!(out, "{sentinel}")?;
    out.flush()?;
    Ok(())
}

/// Wait for Ctrl-C or SIGTERM.
pub async fn wait_for_stop_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

async fn show_progress_line(progress: Arc<Progress>, expected: Option<u64>) {
    let started = tokio::time::Instant::now();
    let mut tick = tokio::time::interval(Duration::from_millis(250));
    loop {
        tick.tick().await;
        let s = progress.snapshot();
        let secs = started.elapsed().as_secs_f64().max(1e-9);
        let total = expected.map(|n| format!("/{n}")).unwrap_or_default();
        eprint!(
            "\r\x1b[2K{:>6.1}s  done {}{}  failed {}  in flight {}  {:.0} output tok/s",
            secs,
            s.completed,
            total,
            s.failed,
            s.in_flight,
            s.output_tokens as f64 / secs
        );
    }
}

/// How late a 10 ms periodic timer wakes up, sampled until `stop`: a busy or starved runtime
/// shows up here before it shows up anywhere else.
async fn sample_loop_lag(stop: CancelToken) -> Vec<u64> {
    const PERIOD: Duration = Duration::from_millis(10);
    let mut out = Vec::new();
    let mut due = tokio::time::Instant::now() + PERIOD;
    loop {
        tokio::select! {
            biased;
            _ = stop.cancelled() => break,
            _ = tokio::time::sleep_until(due) => {}
        }
        let now = tokio::time::Instant::now();
        out.push(now.saturating_duration_since(due).as_nanos() as u64);
        due = now + PERIOD;
    }
    out
}

/// User + system CPU seconds of this process, from `/proc/self/stat` (Linux); `None` elsewhere.
pub fn process_cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the command name (which may contain spaces) start after the last ')'.
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of the whole line, i.e. 11 and 12 after ')'.
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    Some((utime + stime) / clock_ticks_per_second())
}

fn clock_ticks_per_second() -> f64 {
    // USER_HZ is 100 on every Linux architecture infergate targets.
    100.0
}

/// Format a wall-clock time as RFC 3339 UTC with milliseconds (the calendar arithmetic is the
/// gate's, shared with the CTRF timestamps).
pub fn rfc3339(t: SystemTime) -> String {
    let d = t.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = d.as_secs();
    let (year, month, day) = infergate_gate::ctrf::civil_from_days((secs / 86_400) as i64);
    let rem = secs % 86_400;
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
        rem / 3600,
        (rem % 3600) / 60,
        rem % 60,
        d.subsec_millis()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_formats_known_instants() {
        assert_eq!(rfc3339(UNIX_EPOCH), "1970-01-01T00:00:00.000Z");
        let t = UNIX_EPOCH + Duration::from_millis(1_795_910_400_123);
        assert_eq!(rfc3339(t), "2026-11-29T00:00:00.123Z");
        let leap = UNIX_EPOCH + Duration::from_secs(951_782_400); // 2000-02-29
        assert_eq!(rfc3339(leap), "2000-02-29T00:00:00.000Z");
    }

    #[test]
    fn process_cpu_time_is_readable_on_linux() {
        if cfg!(target_os = "linux") {
            let a = process_cpu_seconds().expect("/proc/self/stat parses");
            assert!(a >= 0.0);
        }
    }
}
