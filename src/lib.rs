//! The `infergate` command line: argument types, the dispatch to one module per subcommand, and
//! the mapping from outcomes and errors to exit codes.
//!
//! Each `cmd::<name>` module turns its clap arguments into a validated plan (through the library
//! crates) before anything runs, executes it, and returns an [`Outcome`]. Only this crate prints
//! to stdout/stderr.

pub mod bench_run;
pub mod cmd;
pub mod console;
pub mod exit;
pub mod gate_run;
pub mod kube_run;
pub mod output;
pub mod probe_run;

use clap::{Parser, Subcommand};
use std::ffi::OsString;

pub use exit::{BadInput, Outcome};

/// infergate: the inference-performance gate for GPU clusters.
#[derive(Debug, Parser)]
#[command(name = "infergate", version = exit::VERSION_LONG, about, long_about = None)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

// Parsed once per process; boxing the larger argument structs would buy nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Drive an OpenAI-compatible endpoint with a deterministic, seeded load and report AIPerf's metrics.
    Bench(cmd::bench::Args),
    /// Serve a simulated Dynamo deployment (router + continuous-batching workers) on 127.0.0.1.
    Sim(cmd::sim::Args),
    /// Run the whole gate against a simulated deployment, in-process: the one-command demo.
    Demo(cmd::demo::Args),
    /// Wait until an endpoint serves a real completion; report the cold start apart.
    Probe(cmd::probe::Args),
    /// Gate a deployment against a recipe: probe, benchmark at the recipe's operating point, verdict.
    Validate(cmd::validate::Args),
    /// Rebuild report.html from a run's exported files.
    Report(cmd::report::Args),
    /// Compare two runs: what moved beyond noise; exit 1 on a --fail-on regression.
    Compare(cmd::compare::Args),
    /// Offer a ladder of loads (endpoint or simulator), find the saturation knee, recommend a
    /// sub-knee operating point per GPU.
    Sweep(cmd::sweep::Args),
    /// Measure a healthy deployment's spread and propose a throughput floor and TTFT ceiling as a
    /// recipe overlay.
    Calibrate(cmd::calibrate::Args),
    /// Studies over the simulator (verdict fidelity: false failures and detection rates).
    Study(cmd::study::Args),
}

/// Parse `args` and run; print the error chain on failure; return the process exit code.
pub fn main_entry<I, T>(args: I) -> std::process::ExitCode
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    let cli = match Cli::try_parse_from(args) {
        Ok(cli) => cli,
        Err(e) => {
            let code = match e.kind() {
                clap::error::ErrorKind::DisplayHelp | clap::error::ErrorKind::DisplayVersion => 0,
                _ => exit::BAD_INPUT,
            };
            let _ = e.print();
            return std::process::ExitCode::from(code);
        }
    };
    let code = match run(cli) {
        Ok(outcome) => outcome.code(),
        Err(err) => {
            eprintln!("error: {err:#}");
            exit::code_for_error(&err)
        }
    };
    std::process::ExitCode::from(code)
}

/// Run one parsed command.
pub fn run(cli: Cli) -> anyhow::Result<Outcome> {
    match cli.command {
        Command::Bench(args) => cmd::bench::run(args),
        Command::Sim(args) => cmd::sim::run(args),
        Command::Demo(args) => cmd::demo::run(args),
        Command::Probe(args) => cmd::probe::run(args),
        Command::Validate(args) => cmd::validate::run(args),
        Command::Report(args) => cmd::report::run(args),
        Command::Compare(args) => cmd::compare::run(args),
        Command::Sweep(args) => cmd::sweep::run(args),
        Command::Calibrate(args) => cmd::calibrate::run(args),
        Command::Study(args) => cmd::study::run(args),
    }
}
