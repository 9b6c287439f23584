//! Statistics over per-request records: the one percentile definition, AIPerf's metric
//! definitions, the AIPerf-compatible JSON/CSV/JSONL exports, and confidence intervals.
//!
//! Pure: no IO, no async, no HTTP, no clock. Input is `&[RequestRecord]`; output is plain,
//! serde-serialisable data. Every number infergate prints about a run comes from here, and
//! docs/metrics.md defines each one (this crate's doc comments and that file must agree).
//!
//! - [`mod@percentile`]: THE percentile definition (numpy's `linear`) and [`Distribution`].
//! - [`summary`]: [`Summary::from_records`], AIPerf's metrics over the profile phase, and
//!   [`SummaryBuilder`], the same one record at a time (a run can stream its records to disk).
//! - [`histogram`]: bounded-memory aggregates for per-chunk values (ICL, throughput slices).
//! - [`goodput`]: `--goodput metric:value` SLOs with AIPerf's names and directions.
//! - [`record`]: per-request metrics ([`RecordMetrics`]).
//! - [`aiperf`]: `profile_export_aiperf.json`, the CSV table, JSONL lines.
//! - [`confidence`]: order-statistic percentile intervals, batch-means throughput intervals.

#![deny(missing_docs)]

pub mod aiperf;
pub mod confidence;
pub mod goodput;
pub mod histogram;
pub mod percentile;
pub mod record;
pub mod summary;

pub use aiperf::{aiperf_export, record_jsonl_line, records_csv, AiperfExport, ExportContext};
pub use confidence::{batch_means_ci, quantile_ci, MeanCi, QuantileCi};
pub use goodput::{GoodputMetric, GoodputSlo};
pub use histogram::{LogHistogram, TimeBins};
pub use percentile::{percentile, percentile_sorted, Distribution, PERCENTILES};
pub use record::RecordMetrics;
pub use summary::{ConfidenceOptions, Summary, SummaryBuilder, SummaryOptions};

/// Bad statistics settings (from flags or recipes). Each message names the bad value and what
/// is valid.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum StatsError {
    /// A goodput SLO without `:`.
    #[error("goodput SLO {input:?} is not METRIC:VALUE (for example time_to_first_token:200)")]
    GoodputSyntax {
        /// What was given.
        input: String,
    },
    /// A goodput SLO on a metric we do not know.
    #[error("unknown goodput metric {name:?}; valid metrics: {valid}")]
    UnknownGoodputMetric {
        /// What was given.
        name: String,
        /// The valid names.
        valid: String,
    },
    /// A goodput threshold that is not a finite number ≥ 0.
    #[error("goodput threshold {value:?} for {metric} is not a number ≥ 0 (in {unit})")]
    GoodputThreshold {
        /// The metric.
        metric: &'static str,
        /// What was given.
        value: String,
        /// The metric's unit.
        unit: &'static str,
    },
    /// A confidence level outside (0, 1).
    #[error(
        "confidence level {value} is out of range: must be strictly between 0 and 1 (e.g. 0.95)"
    )]
    ConfidenceLevel {
        /// What was given.
        value: f64,
    },
    /// Fewer than two time slices.
    #[error("{value} time slices is too few for a batch-means interval: need at least 2")]
    Slices {
        /// What was given.
        value: usize,
    },
    /// A percentile outside (0, 100).
    #[error("percentile {value} is out of range: must be strictly between 0 and 100")]
    Percentile {
        /// What was given.
        value: f64,
    },
}
