//! Honest verdicts: the evidence behind a PASS, FAIL, INCONCLUSIVE or INVALID.
//!
//! Owns the rules that turn a run's measurements into a verdict that reflects the deployment's
//! health rather than sampling noise, knee jitter or a struggling load generator
//! (reference §6.5, §6.7; issue 6), each documented in docs/verdicts.md:
//! - [`rule`]: the confidence rule (a constraint passes or fails only *with confidence*), the
//!   trials combination and the `--until-decided` stopping rule;
//! - [`measure`]: a run's point estimates and intervals, as the rule consumes them;
//! - [`stall`]: stall detection and attribution from per-request records and per-worker
//!   Prometheus samples, and a Prometheus text parser tolerant of vLLM and Dynamo names;
//! - [`selfcheck`]: the load generator's self-check (achieved in-flight, send lateness, CPU,
//!   event-loop lag) and the loopback calibration of its timing error;
//! - [`knee`]: the saturation knee of a load sweep and a sub-knee operating point;
//! - [`calibrate`]: thresholds proposed from healthy trials, rendered as a recipe overlay;
//! - [`fidelity`]: the study that measures every rule against injected faults.
//!
//! Must not: do IO (no files, no HTTP, no clock, no `/proc`), spawn tasks or print. Everything
//! measured about the client's process (CPU time, event-loop lag, scrapes) is measured by the
//! caller and passed in as numbers, so every rule here is a pure, testable function.

#![deny(missing_docs)]

pub mod calibrate;
pub mod fidelity;
pub mod knee;
pub mod measure;
pub mod rule;
pub mod selfcheck;
pub mod stall;

mod fmt;

pub use calibrate::{
    propose, render_overlay, CalibrationOptions, HealthyTrial, OverlayMeta, Proposal,
};
pub use fidelity::{run_study, Fault, FaultKind, Platform, Scenario, StudyPlan, StudyReport};
pub use knee::{find_knee, Knee, KneeOptions, SweepPoint};
pub use measure::{Estimate, RunEvidence};
pub use rule::{
    judge, judge_trials, Bound, Constraints, Decision, Direction, Interval, Judgement, Next,
    TrialsVerdict, UntilDecided,
};
pub use selfcheck::{
    self_check, ClientObservations, ClientThresholds, ClientVerdict, CpuUsage, LoopbackCalibration,
    SelfCheck,
};
pub use stall::{
    analyse, parse_prometheus_text, samples_from_scrape, MetricsSample, PromSample, StallFinding,
    StallOptions, TailShape,
};

/// Bad input to a rule (from flags, recipes or a sweep). Each message names the bad value and
/// what would be valid.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum EvidenceError {
    /// A setting outside its range.
    #[error("invalid {name} {value}: expected {valid}")]
    Invalid {
        /// The setting (its flag name where it has one).
        name: &'static str,
        /// What was given.
        value: String,
        /// What would be accepted.
        valid: String,
    },
    /// A trial of the fidelity study could not be run.
    #[error("fidelity trial {scenario} failed: {message}")]
    Trial {
        /// The scenario, in words.
        scenario: String,
        /// The runner's error.
        message: String,
    },
    /// Too few data points for the rule.
    #[error("{what}: got {got}, need at least {need}")]
    TooFew {
        /// What was counted.
        what: &'static str,
        /// How many were given.
        got: usize,
        /// The minimum.
        need: usize,
    },
}

impl EvidenceError {
    pub(crate) fn invalid(
        name: &'static str,
        value: impl ToString,
        valid: impl Into<String>,
    ) -> Self {
        EvidenceError::Invalid {
            name,
            value: value.to_string(),
            valid: valid.into(),
        }
    }
}
