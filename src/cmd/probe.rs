//! `infergate probe`: wait until an endpoint serves a real chat completion (not just `/health`),
//! and report the cold first completion apart from a warm one. Upstream's timings by default:
//! 120 s per attempt, 10 s between attempts, a 5 min window.

use super::common::{api_key_from_env, duration_flag};
use crate::{output, BadInput, Outcome};
use anyhow::Context;
use infergate_loadgen::{CancelToken, ProbeConfig, Target};
use std::path::PathBuf;

/// Arguments of `infergate probe`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Base URL of the endpoint, e.g. http://127.0.0.1:8000.
    #[arg(long, short = 'u')]
    pub url: String,
    /// Model name sent in the probe request (and looked for in /v1/models).
    #[arg(long, short = 'm')]
    pub model: String,
    /// Limit of one attempt (a cold first inference can take 42 s or more).
    #[arg(long, default_value = "120s")]
    pub attempt_timeout: String,
    /// Pause after a failed attempt.
    #[arg(long, default_value = "10s")]
    pub interval: String,
    /// Hard deadline for the whole wait.
    #[arg(long, default_value = "5m")]
    pub window: String,
    /// Largest response body accepted as ready, in bytes.
    #[arg(long, default_value_t = 8192)]
    pub body_limit: usize,
    /// Extra request header `Name:Value` (repeatable).
    #[arg(long = "header", short = 'H', value_name = "NAME:VALUE")]
    pub headers: Vec<String>,
    /// Environment variable holding the API key.
    #[arg(long, default_value = "OPENAI_API_KEY", value_name = "NAME")]
    pub api_key_env: String,
    /// Write the probe's result (probe.json) into this directory.
    #[arg(long)]
    pub output_dir: Option<PathBuf>,
}

/// Build the validated probe configuration and target.
pub fn plan(args: &Args) -> anyhow::Result<(Target, ProbeConfig)> {
    let mut config = ProbeConfig::new(args.model.clone());
    config.attempt_timeout = duration_flag("--attempt-timeout", &args.attempt_timeout)?;
    config.interval = duration_flag("--interval", &args.interval)?;
    config.window = duration_flag("--window", &args.window)?;
    config.body_limit = args.body_limit;
    config.validate().map_err(BadInput::from_err)?;
    let mut headers = Vec::new();
    for h in &args.headers {
        headers.push(Target::parse_header_arg(h).map_err(BadInput::from_err)?);
    }
    let target = Target::parse(&args.url, &headers, api_key_from_env(&args.api_key_env)?)
        .map_err(BadInput::from_err)?;
    Ok((target, config))
}

/// Run `infergate probe`: exit 0 when ready, 3 when the endpoint never served a completion.
pub fn run(args: Args) -> anyhow::Result<Outcome> {
    let (target, config) = plan(&args)?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let report = runtime.block_on(async {
        let cancel = CancelToken::new();
        let on_signal = cancel.clone();
        let signal = tokio::spawn(async move {
            crate::bench_run::wait_for_stop_signal().await;
            on_signal.cancel();
        });
        let report = infergate_loadgen::probe(&target, &config, &cancel).await;
        signal.abort();
        report
    });
    let report = report.map_err(BadInput::from_err)?;
    print!("{}", crate::probe_run::describe(&report));
    if let Some(dir) = &args.output_dir {
        output::ensure_dir(dir)?;
        output::write_json(&dir.join("probe.json"), &crate::probe_run::view(&report))?;
    }
    Ok(if report.ready {
        Outcome::Ok
    } else {
        Outcome::CouldNotMeasure
    })
}
