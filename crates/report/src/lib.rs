//! Reports people look at: the self-contained HTML report of a run, and the comparison of two
//! runs.
//!
//! This crate owns the page (`report.html`), the comparison (console table, JSON, HTML page and
//! the `--fail-on` exit decision) and the view types of the optional files it reads
//! (`verdict.json`, `probe.json`, `sweep.json`, `metrics_scrape.jsonl`). It must not do IO beyond
//! [`load_dir`] (the CLI writes the files), must not fetch anything or emit scripts into the page,
//! and must not define its own percentile: every metric, percentile and interval comes from
//! `infergate-stats`.
//!
//! ```
//! use infergate_report::{compare, render_html, FailOn, ReportInput};
//! # fn demo(a: ReportInput, b: ReportInput) -> Result<bool, infergate_report::FailOnError> {
//! let html = render_html(&b);
//! let cmp = compare(&a, &b, &[FailOn::parse("output_token_throughput:-10%")?]);
//! println!("{}", cmp.to_console_table());
//! # Ok(cmp.regressed() && !html.is_empty())
//! # }
//! ```

#![deny(missing_docs)]

pub mod analysis;
mod charts;
pub mod compare;
mod error;
pub mod fmt;
mod input;
mod page;
mod svg;
pub mod views;

pub use compare::{
    compare, compare_with_confidence, render_compare_html, Comparison, Estimate, FailOn, Metric,
    MetricDelta, Movement,
};
pub use error::{FailOnError, ReportError};
pub use input::{
    load_dir, ReportInput, AIPERF_FILE, PROBE_FILE, RECORDS_FILE, RUN_FILE, SCRAPE_FILE,
    SWEEP_FILE, VERDICT_FILE,
};
pub use page::render_html;
pub use views::{
    ConstraintView, ProbeAttemptView, ProbeView, ScrapeSample, SweepPointView, SweepView,
    VerdictView,
};
