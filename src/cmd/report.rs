//! `infergate report DIR`: rebuild `report.html` from a run's exported files, so a report can be
//! regenerated or restyled later without re-running anything.

use crate::{output, BadInput, Outcome};
use anyhow::Context;
use std::path::{Path, PathBuf};

/// Arguments of `infergate report`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// An output directory written by bench, validate, demo, sweep or calibrate.
    pub dir: PathBuf,
    /// Write the page here instead of DIR/report.html.
    #[arg(long)]
    pub output: Option<PathBuf>,
}

/// Run `infergate report`.
pub fn run(args: Args) -> anyhow::Result<Outcome> {
    if !args.dir.is_dir() {
        return Err(BadInput::from_err(format!(
            "{} is not a directory: expected an output directory holding run.json and records.jsonl",
            args.dir.display()
        )));
    }
    let input = infergate_report::load_dir(&args.dir).map_err(BadInput::from_err)?;
    let path = args.output.unwrap_or_else(|| args.dir.join("report.html"));
    output::write_atomic(&path, infergate_report::render_html(&input).as_bytes())?;
    println!("report: {}", path.display());
    Ok(Outcome::Ok)
}

/// Render `dir/report.html` from the files already written in `dir`.
pub fn write_report(dir: &Path) -> anyhow::Result<PathBuf> {
    let input = infergate_report::load_dir(dir)
        .with_context(|| format!("cannot read the run files in {}", dir.display()))?;
    let path = dir.join("report.html");
    output::write_atomic(&path, infergate_report::render_html(&input).as_bytes())?;
    Ok(path)
}
