//! `infergate compare RUN_A RUN_B`: which metrics moved beyond run-to-run noise between two runs,
//! as a console table, a JSON document and an HTML page; exit 1 when a `--fail-on` metric
//! regressed beyond its threshold.

use crate::{output, BadInput, Outcome};
use infergate_report::FailOn;
use std::path::PathBuf;

/// Arguments of `infergate compare`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The baseline run's output directory.
    pub run_a: PathBuf,
    /// The run compared against it.
    pub run_b: PathBuf,
    /// Fail (exit 1) when METRIC moved beyond noise in its bad direction by more than N %,
    /// e.g. output_token_throughput:-10% or time_to_first_token_p99:+20% (repeatable).
    #[arg(long, value_name = "METRIC:±N%")]
    pub fail_on: Vec<String>,
    /// Confidence level of the intervals that decide "beyond noise".
    #[arg(long, default_value_t = 0.95)]
    pub confidence_level: f64,
    /// Write the comparison as JSON here.
    #[arg(long)]
    pub json: Option<PathBuf>,
    /// Write the comparison as an HTML page here.
    #[arg(long)]
    pub html: Option<PathBuf>,
}

/// Run `infergate compare`.
pub fn run(args: Args) -> anyhow::Result<Outcome> {
    if !(0.5..=0.999).contains(&args.confidence_level) {
        return Err(BadInput::from_err(format!(
            "invalid --confidence-level {}: valid is 0.5 to 0.999",
            args.confidence_level
        )));
    }
    let fail_on = args
        .fail_on
        .iter()
        .map(|f| FailOn::parse(f).map_err(BadInput::from_err))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let a = infergate_report::load_dir(&args.run_a).map_err(BadInput::from_err)?;
    let b = infergate_report::load_dir(&args.run_b).map_err(BadInput::from_err)?;
    let cmp = infergate_report::compare_with_confidence(&a, &b, &fail_on, args.confidence_level);
    print!("{}", cmp.to_console_table());
    if let Some(path) = &args.json {
        output::write_json(path, &cmp.to_json())?;
    }
    if let Some(path) = &args.html {
        output::write_atomic(path, infergate_report::render_compare_html(&cmp).as_bytes())?;
    }
    Ok(if cmp.regressed() {
        Outcome::Failed
    } else {
        Outcome::Ok
    })
}
