//! `infergate bench`: drive an OpenAI-compatible endpoint with a deterministic, seeded load and
//! report AIPerf's metrics.
//!
//! Flags are turned into a [`BenchPlan`] (every value checked, exit 2 on the first bad one) before
//! a connection is opened. AIPerf's flag names are accepted as aliases so AICR's exact AIPerf
//! invocation (`--prompt-input-tokens-mean`, `--output-artifact-dir`, ...) runs unchanged.

use super::common::{api_key_from_env, duration_flag};
use crate::bench_run::{self, BenchPlan, BenchResult};
use crate::{BadInput, Outcome};
use infergate_loadgen::{LoadPlan, Target};
use infergate_model::{Arrivals, LoadMode};
use infergate_stats::{GoodputSlo, SummaryOptions};
use infergate_workload::{
    arrival_offsets, builtin_tokenizer, load_tokenizer_json, parse_extra_input, Endpoint,
    MaxTokensField, Tokenizer, Workload, WorkloadSpec,
};
use serde_json::{json, Map, Value};
use std::path::PathBuf;
use std::sync::Arc;

/// Arguments of `infergate bench`.
#[derive(Debug, Clone, clap::Args)]
pub struct Args {
    /// Base URL of the endpoint, e.g. http://127.0.0.1:8000 (the /v1/... path is added).
    #[arg(long, short = 'u')]
    pub url: String,
    /// Model name sent in every request.
    #[arg(long, short = 'm')]
    pub model: String,
    /// OpenAI endpoint: chat (/v1/chat/completions) or completions (/v1/completions).
    #[arg(long, default_value = "chat")]
    pub endpoint_type: String,
    /// Stream responses (SSE). This is the default; the flag exists for AIPerf compatibility.
    #[arg(long, conflicts_with = "no_streaming")]
    pub streaming: bool,
    /// Ask for plain JSON responses instead of a stream (no TTFT or ITL then).
    #[arg(long)]
    pub no_streaming: bool,
    /// Extra request header `Name:Value` (repeatable).
    #[arg(long = "header", short = 'H', value_name = "NAME:VALUE")]
    pub headers: Vec<String>,
    /// Environment variable holding the API key (sent as `Authorization: Bearer`; never printed).
    #[arg(long, default_value = "OPENAI_API_KEY", value_name = "NAME")]
    pub api_key_env: String,
    /// Seed of the request stream: the same seed and options give byte-identical requests.
    #[arg(long, default_value_t = 100)]
    pub random_seed: u64,
    /// Mean prompt length in tokens.
    #[arg(
        long,
        default_value_t = 128,
        visible_alias = "isl",
        alias = "prompt-input-tokens-mean",
        alias = "synthetic-input-tokens-mean"
    )]
    pub input_tokens_mean: u32,
    /// Standard deviation of the prompt length (0: every prompt is exactly the mean).
    #[arg(
        long,
        default_value_t = 0.0,
        alias = "prompt-input-tokens-stddev",
        alias = "synthetic-input-tokens-stddev",
        alias = "isl-stddev"
    )]
    pub input_tokens_stddev: f64,
    /// Mean output length, sent as max_tokens (not sent when absent).
    #[arg(long, visible_alias = "osl", alias = "prompt-output-tokens-mean")]
    pub output_tokens_mean: Option<u32>,
    /// Standard deviation of the output length.
    #[arg(
        long,
        default_value_t = 0.0,
        alias = "prompt-output-tokens-stddev",
        alias = "osl-stddev"
    )]
    pub output_tokens_stddev: f64,
    /// Send the output length as max_completion_tokens instead of max_tokens.
    #[arg(long)]
    pub max_completion_tokens: bool,
    /// Accepted for AIPerf compatibility (max_tokens is already the default).
    #[arg(long, hide = true)]
    pub use_legacy_max_tokens: bool,
    /// Distinct prompts in the pool; request i uses prompt i mod N.
    #[arg(long, default_value_t = 100, alias = "num-prompts")]
    pub num_dataset_entries: u32,
    /// `key:value` merged into every body (repeatable); the value is JSON when it parses.
    /// Default profile: temperature:0 (greedy), unless you set temperature yourself.
    #[arg(long = "extra-inputs", value_name = "KEY:VALUE")]
    pub extra_inputs: Vec<String>,
    /// Send "ignore_eos": true so servers generate exactly the requested length.
    #[arg(long)]
    pub ignore_eos: bool,
    /// Tokenizer measuring prompts and output: `builtin` (ships in the binary) or a path to an
    /// HF tokenizer.json (or a folder holding one).
    #[arg(long, default_value = "builtin")]
    pub tokenizer: String,
    /// Closed loop: keep this many requests in flight. With --request-rate: a cap on in-flight.
    #[arg(long)]
    pub concurrency: Option<u32>,
    /// Open loop: send this many requests per second on absolute deadlines.
    #[arg(long, allow_negative_numbers = true)]
    pub request_rate: Option<f64>,
    /// Open-loop arrivals: constant or poisson.
    #[arg(long, default_value = "poisson", alias = "request-rate-mode")]
    pub arrival_pattern: String,
    /// Profile requests to send (warmup not included). Default: max(10, 2 x concurrency) when
    /// no --duration is given.
    #[arg(long, alias = "num-requests")]
    pub request_count: Option<u64>,
    /// Stop issuing after this long (seconds or 30s, 2m, ...); in-flight requests then get
    /// --drain-grace to finish.
    #[arg(long, alias = "benchmark-duration", allow_hyphen_values = true)]
    pub duration: Option<String>,
    /// How long in-flight requests may finish after --duration ends.
    #[arg(
        long,
        default_value = "30s",
        alias = "benchmark-grace-period",
        allow_hyphen_values = true
    )]
    pub drain_grace: String,
    /// Warmup requests sent first and excluded from every result.
    #[arg(long, default_value_t = 0, alias = "num-warmup-requests")]
    pub warmup_request_count: u64,
    /// Start profiling while warmup responses are still streaming (by default, as AIPerf, the
    /// profile phase starts once every warmup response has finished).
    #[arg(long)]
    pub no_warmup_drain: bool,
    /// Per-request timeout, from send to the end of the response.
    #[arg(
        long,
        default_value = "600s",
        alias = "request-timeout-seconds",
        allow_hyphen_values = true
    )]
    pub request_timeout: String,
    /// Goodput SLO `metric:value` (repeatable), e.g. time_to_first_token:200.
    #[arg(long, value_name = "METRIC:VALUE")]
    pub goodput: Vec<String>,
    /// Confidence level of the reported intervals (0.5 to 0.999).
    #[arg(long, default_value_t = 0.95, allow_negative_numbers = true)]
    pub confidence_level: f64,
    /// Write profile_export_aiperf.json, CSV, records.jsonl, run.json and report.html here.
    #[arg(long, alias = "output-artifact-dir", alias = "artifact-dir")]
    pub output_dir: Option<PathBuf>,
    /// Print the AIPerf JSON between two lines holding this string on stdout (AICR's framing).
    #[arg(long, value_name = "STRING")]
    pub result_sentinel: Option<String>,
    /// Accepted for AIPerf compatibility; infergate always writes every export.
    #[arg(long, hide = true)]
    pub export_level: Option<String>,
    /// No live progress line (it is shown only on a terminal anyway).
    #[arg(long)]
    pub no_progress: bool,
    /// Scrape the server's Prometheus /metrics once a second during the run (vLLM and Dynamo
    /// names) and keep the per-worker samples for stall attribution.
    #[arg(long)]
    pub scrape_metrics: bool,
}

/// Run `infergate bench`.
pub fn run(args: Args) -> anyhow::Result<Outcome> {
    let mut plan = plan(&args, "bench")?;
    // Nothing after the run needs the records in memory: they are written and summarised as
    // they finish, so memory does not grow with the request count.
    plan.keep_records = false;
    let quiet_stdout = plan.result_sentinel.is_some();
    let result = bench_run::execute(plan)?;
    let summary = crate::console::bench_summary(&result, args.output_dir.as_deref());
    let outcome = outcome(&result);
    drop(result);
    if let Some(dir) = &args.output_dir {
        crate::cmd::report::write_report(dir)?;
    }
    if quiet_stdout {
        eprint!("{summary}");
    } else {
        print!("{summary}");
    }
    Ok(outcome)
}

/// 0 when at least one profile request succeeded; 1 when every one failed (or none was sent).
pub fn outcome(result: &BenchResult) -> Outcome {
    if result.all_failed() {
        Outcome::Failed
    } else {
        Outcome::Ok
    }
}

/// Validate every flag and build the plan. No connection is opened here.
pub fn plan(args: &Args, command: &str) -> anyhow::Result<BenchPlan> {
    let endpoint: Endpoint = args
        .endpoint_type
        .parse()
        .map_err(|e| BadInput::from_err(format!("--endpoint-type: {e}")))?;
    let streaming = !args.no_streaming;

    // Extra inputs: the default profile is greedy (temperature 0) unless the user sets it.
    let mut extra = Map::new();
    extra.insert("temperature".into(), json!(0));
    for raw in &args.extra_inputs {
        let (k, v) = parse_extra_input(raw).map_err(BadInput::from_err)?;
        extra.insert(k, v);
    }

    let tokenizer: Arc<dyn Tokenizer> = match args.tokenizer.as_str() {
        "builtin" => builtin_tokenizer(),
        path => load_tokenizer_json(std::path::Path::new(path)).map_err(BadInput::from_err)?,
    };
    let spec = WorkloadSpec {
        model: args.model.clone(),
        endpoint,
        streaming,
        seed: args.random_seed,
        input_tokens_mean: args.input_tokens_mean,
        input_tokens_stddev: args.input_tokens_stddev,
        output_tokens_mean: args.output_tokens_mean,
        output_tokens_stddev: args.output_tokens_stddev,
        num_dataset_entries: args.num_dataset_entries,
        max_tokens_field: if args.max_completion_tokens {
            MaxTokensField::MaxCompletionTokens
        } else {
            MaxTokensField::MaxTokens
        },
        extra_inputs: extra,
        ignore_eos: args.ignore_eos,
        include_usage: true,
    };
    if args.model.trim().is_empty() {
        return Err(BadInput::from_err(
            "invalid --model \"\": expected a model name such as Qwen/Qwen3-8B",
        ));
    }
    spec.validate().map_err(BadInput::from_err)?;

    let mut headers = Vec::with_capacity(args.headers.len());
    for h in &args.headers {
        headers.push(Target::parse_header_arg(h).map_err(BadInput::from_err)?);
    }
    let api_key = api_key_from_env(&args.api_key_env)?;
    let target = Target::parse(&args.url, &headers, api_key).map_err(BadInput::from_err)?;

    let duration = args
        .duration
        .as_deref()
        .map(|d| duration_flag("--duration", d))
        .transpose()?;
    let request_timeout = duration_flag("--request-timeout", &args.request_timeout)?;
    let drain_grace = duration_flag("--drain-grace", &args.drain_grace)?;
    let arrivals = match args.arrival_pattern.as_str() {
        "constant" => Arrivals::Constant,
        "poisson" => Arrivals::Poisson,
        other => {
            return Err(BadInput::from_err(format!(
                "invalid --arrival-pattern {other:?}: valid are constant, poisson"
            )))
        }
    };
    let mode = match (args.request_rate, args.concurrency) {
        (Some(rate), cap) => {
            infergate_workload::validate_request_rate(rate).map_err(BadInput::from_err)?;
            LoadMode::Open {
                rate,
                arrivals,
                max_concurrency: cap,
            }
        }
        (None, c) => LoadMode::Closed {
            concurrency: c.unwrap_or(1),
        },
    };
    let request_count = match (args.request_count, duration) {
        (Some(0), _) => {
            return Err(BadInput::from_err(
                "invalid --request-count 0: valid is an integer >= 1",
            ))
        }
        (Some(n), _) => Some(n),
        (None, Some(_)) => None,
        (None, None) => Some(match mode {
            LoadMode::Closed { concurrency } => (2 * u64::from(concurrency)).max(10),
            LoadMode::Open { .. } => 10,
        }),
    };
    let mut load = match mode {
        LoadMode::Closed { concurrency } => LoadPlan::closed(concurrency, 0),
        LoadMode::Open { rate, arrivals, .. } => LoadPlan::open(
            mode,
            0,
            Box::new(arrival_offsets(rate, arrivals, args.random_seed)),
        ),
    };
    load.request_count = request_count;
    load.duration = duration;
    load.warmup_count = args.warmup_request_count;
    load.drain_warmup = !args.no_warmup_drain;
    load.request_timeout = request_timeout;
    load.drain_grace = drain_grace;
    load.validate().map_err(BadInput::from_err)?;

    let goodput = args
        .goodput
        .iter()
        .map(|g| GoodputSlo::parse(g).map_err(BadInput::from_err))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let mut summary = SummaryOptions {
        streaming,
        goodput,
        ..SummaryOptions::default()
    };
    if let Some(c) = summary.confidence.as_mut() {
        c.level = args.confidence_level;
        c.validate()
            .map_err(|e| BadInput::from_err(format!("--confidence-level: {e}")))?;
    }
    if let Some(s) = &args.result_sentinel {
        if s.trim().is_empty() || s.contains('\n') {
            return Err(BadInput::from_err(
                "invalid --result-sentinel: expected a non-empty single-line string such as ===AIPERF-RESULT===",
            ));
        }
    }
    if let Some(level) = &args.export_level {
        if !["summary", "records", "raw"].contains(&level.as_str()) {
            return Err(BadInput::from_err(format!(
                "invalid --export-level {level:?}: valid are summary, records, raw"
            )));
        }
    }

    let workload =
        Arc::new(Workload::new(spec, Arc::clone(&tokenizer)).map_err(BadInput::from_err)?);
    let total = request_count.map(|n| n + args.warmup_request_count);
    let run_info = bench_run::run_info(
        command,
        target.base_url(),
        &workload,
        total.unwrap_or(args.warmup_request_count),
        args.warmup_request_count,
        mode,
        options_map(args),
    );
    Ok(BenchPlan {
        target,
        workload,
        load,
        summary,
        output_dir: args.output_dir.clone(),
        result_sentinel: args.result_sentinel.clone(),
        progress: !args.no_progress,
        run_info,
        tokenizer_name: tokenizer.name().to_string(),
        cli_command: cli_command(args),
        scrape_metrics: args.scrape_metrics,
        keep_records: true,
    })
}

/// The options as given, for `run.json` (header values are left out: they may hold credentials).
fn options_map(args: &Args) -> Map<String, Value> {
    let header_names: Vec<String> = args
        .headers
        .iter()
        .map(|h| h.split(':').next().unwrap_or("").trim().to_string())
        .collect();
    let v = json!({
        "url": args.url,
        "model": args.model,
        "endpoint_type": args.endpoint_type,
        "streaming": !args.no_streaming,
        "header_names": header_names,
        "api_key_env": args.api_key_env,
        "random_seed": args.random_seed,
        "input_tokens_mean": args.input_tokens_mean,
        "input_tokens_stddev": args.input_tokens_stddev,
        "output_tokens_mean": args.output_tokens_mean,
        "output_tokens_stddev": args.output_tokens_stddev,
        "max_completion_tokens": args.max_completion_tokens,
        "num_dataset_entries": args.num_dataset_entries,
        "extra_inputs": args.extra_inputs,
        "ignore_eos": args.ignore_eos,
        "tokenizer": args.tokenizer,
        "concurrency": args.concurrency,
        "request_rate": args.request_rate,
        "arrival_pattern": args.arrival_pattern,
        "request_count": args.request_count,
        "duration": args.duration,
        "warmup_request_count": args.warmup_request_count,
        "warmup_drain": !args.no_warmup_drain,
        "request_timeout": args.request_timeout,
        "goodput": args.goodput,
        "confidence_level": args.confidence_level,
    });
    match v {
        Value::Object(m) => m,
        _ => Map::new(),
    }
}

/// A reproducible command line for the export (no secrets: the key is only named).
fn cli_command(args: &Args) -> String {
    let mut parts = vec![
        "infergate bench".to_string(),
        format!("--url {}", args.url),
        format!("--model {}", args.model),
        format!("--endpoint-type {}", args.endpoint_type),
        format!("--random-seed {}", args.random_seed),
        format!("--input-tokens-mean {}", args.input_tokens_mean),
        format!("--input-tokens-stddev {}", args.input_tokens_stddev),
        format!("--num-dataset-entries {}", args.num_dataset_entries),
    ];
    if let Some(o) = args.output_tokens_mean {
        parts.push(format!("--output-tokens-mean {o}"));
        parts.push(format!(
            "--output-tokens-stddev {}",
            args.output_tokens_stddev
        ));
    }
    if let Some(c) = args.concurrency {
        parts.push(format!("--concurrency {c}"));
    }
    if let Some(r) = args.request_rate {
        parts.push(format!(
            "--request-rate {r} --arrival-pattern {}",
            args.arrival_pattern
        ));
    }
    if let Some(n) = args.request_count {
        parts.push(format!("--request-count {n}"));
    }
    if let Some(d) = &args.duration {
        parts.push(format!("--duration {d}"));
    }
    if args.warmup_request_count > 0 {
        parts.push(format!(
            "--warmup-request-count {}",
            args.warmup_request_count
        ));
    }
    for e in &args.extra_inputs {
        parts.push(format!("--extra-inputs {e}"));
    }
    if args.ignore_eos {
        parts.push("--ignore-eos".into());
    }
    if args.no_streaming {
        parts.push("--no-streaming".into());
    }
    parts.join(" ")
}
