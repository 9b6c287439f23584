//! The verdict: measured throughput and TTFT p99 against the plan's thresholds, with upstream's
//! 10 % tolerance and partial-node scaling, and upstream's stdout lines byte for byte.
//!
//! Upstream evaluates throughput first and stops at the first failure. We evaluate both and keep
//! both results in [`Verdict::constraints`], but the printed lines ([`Verdict::stdout`]) stop where
//! upstream's stop, and the overall message is the first failure's, so the output reads the same.
//! A missing (or non-finite, or negative) metric is an error — [`GateStatus::CouldNotMeasure`] —
//! never 0 (upstream turns a missing TTFT into 0 ms, which passes).
//!
//! [`evaluate_with_evidence`] extends it with infergate's honest verdicts (issue 6,
//! `infergate-evidence`): each constraint gets its confidence interval (`ci`) and may be
//! `Inconclusive`; a stall is explained in [`Verdict::notes`]; a client bottleneck makes the
//! verdict `Invalid`. Upstream's printed lines stay byte-identical for the point estimates.

use crate::constraint::{
    scaled_throughput_threshold, throughput_pass_floor, ttft_pass_ceiling, Comparator, Threshold,
};
use crate::plan::RunPlan;
use infergate_evidence::measure::RunEvidence;
use infergate_evidence::rule::{judge, Bound, Decision, Direction, Interval};
use infergate_evidence::selfcheck::ClientVerdict;
use infergate_evidence::stall::StallFinding;
use serde::Serialize;

/// What the benchmark measured. `None` = the result has no such metric.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize)]
pub struct Measured {
    /// Output-token throughput over the profile phase, tokens/s (AIPerf
    /// `output_token_throughput.avg`).
    pub throughput_tok_s: Option<f64>,
    /// Time-to-first-token p99, ms (AIPerf `time_to_first_token.p99`).
    pub ttft_p99_ms: Option<f64>,
}

/// One constraint's outcome.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ConstraintStatus {
    /// Met.
    Pass,
    /// Violated.
    Fail,
    /// Cannot be decided with confidence (issue 6); never counted as a pass.
    Inconclusive,
}

/// One threshold evaluated.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ConstraintResult {
    /// `inference-throughput` or `inference-ttft-p99`.
    pub name: &'static str,
    /// The recipe value as written.
    pub raw: String,
    /// `>=` or `<=`.
    pub comparator: Comparator,
    /// The number in the recipe (tokens/s or ms).
    pub threshold: f64,
    /// After partial-node scaling (throughput only; equal to `threshold` otherwise).
    pub scaled_threshold: f64,
    /// The bound the measurement is compared with: the scaled floor × 0.9, or the ceiling × 1.1.
    pub effective_threshold: f64,
    /// The measured value (tokens/s or ms).
    pub measured: f64,
    /// Confidence interval of `measured`, when one was computed (issue 6).
    pub ci: Option<(f64, f64)>,
    /// Pass, fail or inconclusive.
    pub status: ConstraintStatus,
    /// The PASS line on a pass; upstream's failure text on a failure.
    pub message: String,
}

/// The gate's overall outcome, with its exit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum GateStatus {
    /// Every constraint met. Exit 0.
    Passed,
    /// A constraint was violated. Exit 1.
    Failed,
    /// The check does not apply (Guard A/B). Exit 2.
    Skipped,
    /// A constraint could not be decided with confidence. Exit 5.
    Inconclusive,
    /// The load generator, not the deployment, was the bottleneck. Exit 4.
    Invalid,
    /// No measurement: endpoint never ready, run aborted, metric missing. Exit 3.
    CouldNotMeasure,
}

impl GateStatus {
    /// The process exit code (see `src/exit.rs`).
    pub fn exit_code(self) -> u8 {
        match self {
            GateStatus::Passed => 0,
            GateStatus::Failed => 1,
            GateStatus::Skipped => 2,
            GateStatus::CouldNotMeasure => 3,
            GateStatus::Invalid => 4,
            GateStatus::Inconclusive => 5,
        }
    }

    /// CTRF test status, by upstream's exit-code mapping: 0 → passed, 1 → failed, 2 → skipped,
    /// anything else → other.
    pub fn ctrf_status(self) -> &'static str {
        match self {
            GateStatus::Passed => "passed",
            GateStatus::Failed => "failed",
            GateStatus::Skipped => "skipped",
            GateStatus::Inconclusive | GateStatus::Invalid | GateStatus::CouldNotMeasure => "other",
        }
    }

    /// Upper-case word for summaries (`PASSED`, `FAILED`, `SKIPPED`, `INCONCLUSIVE`, `INVALID`,
    /// `COULD NOT MEASURE`).
    pub fn as_str(self) -> &'static str {
        match self {
            GateStatus::Passed => "PASSED",
            GateStatus::Failed => "FAILED",
            GateStatus::Skipped => "SKIPPED",
            GateStatus::Inconclusive => "INCONCLUSIVE",
            GateStatus::Invalid => "INVALID",
            GateStatus::CouldNotMeasure => "COULD NOT MEASURE",
        }
    }
}

/// The gate's decision and everything needed to report it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Verdict {
    /// Overall outcome.
    pub status: GateStatus,
    /// Upstream's termination-log text: the skip reason, the first failure, or the error. `None`
    /// on a pass. It is the CTRF `message`.
    pub message: Option<String>,
    /// What was measured.
    pub measured: Measured,
    /// Each threshold, in evaluation order (throughput, then TTFT p99).
    pub constraints: Vec<ConstraintResult>,
    /// The validator's stdout lines as upstream prints them: the `RESULT:` lines, then one
    /// `… constraint: <raw> → PASS` line per passing constraint up to the first failure.
    pub stdout: Vec<String>,
    /// infergate's explanations printed after the message (issue 6): what a stall was, what
    /// upstream's single-run rule would have said. Empty for [`evaluate`].
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
}

impl Verdict {
    /// A skipped check (Guard A/B); `reason` is upstream's text.
    pub fn skipped(reason: impl Into<String>) -> Verdict {
        Verdict::without_measurement(GateStatus::Skipped, reason.into())
    }

    /// Nothing could be measured (endpoint never ready, run aborted).
    pub fn could_not_measure(message: impl Into<String>) -> Verdict {
        Verdict::without_measurement(GateStatus::CouldNotMeasure, message.into())
    }

    /// The load generator was the bottleneck (issue 6); no constraint is judged.
    pub fn invalid(message: impl Into<String>) -> Verdict {
        Verdict::without_measurement(GateStatus::Invalid, message.into())
    }

    fn without_measurement(status: GateStatus, message: String) -> Verdict {
        Verdict {
            status,
            message: Some(message),
            measured: Measured::default(),
            constraints: Vec::new(),
            stdout: Vec::new(),
            notes: Vec::new(),
        }
    }

    /// What `validate` prints on stdout: [`Verdict::stdout`], then the message when there is one
    /// (the failure with the measured value, the constraint and the tolerance; or the skip reason),
    /// then infergate's [`Verdict::notes`].
    pub fn display_lines(&self) -> Vec<String> {
        let mut lines = self.stdout.clone();
        if let Some(m) = &self.message {
            lines.push(m.clone());
        }
        lines.extend(self.notes.iter().cloned());
        lines
    }
}

/// `RESULT: Inference throughput: %.2f tokens/sec` (Rust's `{:.2}` rounds like Go's `%.2f`).
pub fn throughput_result_line(tok_s: f64) -> String {
    format!("RESULT: Inference throughput: {tok_s:.2} tokens/sec")
}

/// `RESULT: Inference TTFT p99: %.2f ms`.
pub fn ttft_result_line(ms: f64) -> String {
    format!("RESULT: Inference TTFT p99: {ms:.2} ms")
}

fn usable(v: Option<f64>) -> Option<f64> {
    v.filter(|x| x.is_finite() && *x >= 0.0)
}

/// Evaluates a measurement against a validated plan.
pub fn evaluate(plan: &RunPlan, measured: Measured) -> Verdict {
    let throughput = usable(measured.throughput_tok_s);
    let ttft = usable(measured.ttft_p99_ms);
    let mut stdout = Vec::new();
    if let Some(t) = throughput {
        stdout.push(throughput_result_line(t));
    }
    if let Some(t) = ttft {
        stdout.push(ttft_result_line(t));
    }
    let missing: Vec<&str> = [
        (
            measured.throughput_tok_s,
            throughput,
            "inference throughput (output tokens/sec)",
        ),
        (measured.ttft_p99_ms, ttft, "TTFT p99 (ms)"),
    ]
    .iter()
    .filter(|(_, ok, _)| ok.is_none())
    .map(|(raw, _, what)| match raw {
        None => *what,
        Some(_) => "a finite, non-negative value",
    })
    .collect();
    if let (Some(throughput), Some(ttft)) = (throughput, ttft) {
        let mut constraints = Vec::new();
        if let Some(t) = &plan.throughput {
            constraints.push(judge_throughput(t, throughput, plan));
        }
        if let Some(t) = &plan.ttft_p99 {
            constraints.push(judge_ttft(t, ttft));
        }
        return decide(measured, constraints, stdout);
    }
    let what = missing.join(" and ");
    Verdict {
        status: GateStatus::CouldNotMeasure,
        message: Some(format!(
            "the benchmark result has no usable {what}: a missing metric is an error, never 0 \
             (measured throughput {:?} tokens/sec, TTFT p99 {:?} ms)",
            measured.throughput_tok_s, measured.ttft_p99_ms
        )),
        measured,
        constraints: Vec::new(),
        stdout,
        notes: Vec::new(),
    }
}

/// Combines per-constraint results: any failure fails (the first one's message is the verdict's),
/// else any inconclusive is inconclusive, else pass. PASS lines are printed up to the first
/// failure; an inconclusive constraint prints no line of its own (its text is the message).
pub fn decide(
    measured: Measured,
    constraints: Vec<ConstraintResult>,
    mut stdout: Vec<String>,
) -> Verdict {
    let mut first_fail = None;
    let mut first_inconclusive = None;
    for c in &constraints {
        match c.status {
            ConstraintStatus::Pass => {}
            ConstraintStatus::Fail => {
                first_fail.get_or_insert(c.message.clone());
            }
            ConstraintStatus::Inconclusive => {
                first_inconclusive.get_or_insert(c.message.clone());
            }
        }
        if first_fail.is_some() {
            break;
        }
        if c.status == ConstraintStatus::Pass {
            stdout.push(c.message.clone());
        }
    }
    let (status, message) = match (first_fail, first_inconclusive) {
        (Some(m), _) => (GateStatus::Failed, Some(m)),
        (None, Some(m)) => (GateStatus::Inconclusive, Some(m)),
        (None, None) => (GateStatus::Passed, None),
    };
    Verdict {
        status,
        message,
        measured,
        constraints,
        stdout,
        notes: Vec::new(),
    }
}

fn judge_throughput(t: &Threshold, measured: f64, plan: &RunPlan) -> ConstraintResult {
    let (gpus, per_node) = (plan.point.gpus, plan.point.gpus_per_node);
    let scaled = scaled_throughput_threshold(t.value, gpus, per_node);
    let floor = throughput_pass_floor(scaled);
    let pass = measured >= floor;
    let message = if pass {
        format!("Throughput constraint: {} \u{2192} PASS", t.raw)
    } else if scaled != t.value {
        format!(
            "inference throughput {measured:.2} tokens/sec does not satisfy constraint {} scaled \
             to {scaled:.2} tokens/sec for {gpus} of {per_node} GPUs on the node (with 10% \
             tolerance)",
            crate::constraint::go_quote(&t.raw)
        )
    } else {
        format!(
            "inference throughput {measured:.2} tokens/sec does not satisfy constraint {} (with \
             10% tolerance)",
            crate::constraint::go_quote(&t.raw)
        )
    };
    ConstraintResult {
        name: t.name,
        raw: t.raw.clone(),
        comparator: t.comparator,
        threshold: t.value,
        scaled_threshold: scaled,
        effective_threshold: floor,
        measured,
        ci: None,
        status: if pass {
            ConstraintStatus::Pass
        } else {
            ConstraintStatus::Fail
        },
        message,
    }
}

fn judge_ttft(t: &Threshold, measured: f64) -> ConstraintResult {
    let ceiling = ttft_pass_ceiling(t.value);
    let pass = measured <= ceiling;
    let message = if pass {
        format!("TTFT p99 constraint: {} \u{2192} PASS", t.raw)
    } else {
        format!(
            "inference TTFT p99 {measured:.2} ms does not satisfy constraint {} (with 10% \
             tolerance)",
            crate::constraint::go_quote(&t.raw)
        )
    };
    ConstraintResult {
        name: t.name,
        raw: t.raw.clone(),
        comparator: t.comparator,
        threshold: t.value,
        scaled_threshold: t.value,
        effective_threshold: ceiling,
        measured,
        ci: None,
        status: if pass {
            ConstraintStatus::Pass
        } else {
            ConstraintStatus::Fail
        },
        message,
    }
}

/// What infergate knows beyond the two point estimates (issue 6): their confidence intervals,
/// the run's stall analysis, a stalled trial under `--trials`, and the client self-check. Rules
/// in docs/verdicts.md; built by [`Evidence::from_run`] or by hand.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Evidence {
    /// Interval of the measured throughput; `None` judges throughput by upstream's rule alone.
    pub throughput_ci: Option<Interval>,
    /// Interval of the measured TTFT p99; `None` judges it by upstream's rule alone.
    pub ttft_p99_ci: Option<Interval>,
    /// The stall analysis; its explanation is printed when TTFT p99 does not pass.
    pub stall: Option<StallFinding>,
    /// `--trials`: a trial whose own TTFT p99 failed with confidence and was blamed on one
    /// worker; TTFT p99 then fails whatever the pooled trials say.
    pub stalled_trial: Option<StalledTrial>,
    /// The load generator's self-check; a bottleneck makes the verdict INVALID.
    pub client: Option<ClientVerdict>,
}

/// A trial that failed TTFT p99 because of an attributed stall.
#[derive(Debug, Clone, PartialEq)]
pub struct StalledTrial {
    /// Which trial (1-based).
    pub trial: usize,
    /// Of how many.
    pub trials: usize,
    /// Its own TTFT p99, ms.
    pub ttft_p99_ms: f64,
    /// Its stall explanation.
    pub explanation: String,
}

impl Evidence {
    /// The intervals of a run's (or pooled trials') evidence, with the stall analysis and the
    /// self-check when there are.
    pub fn from_run(
        run: &RunEvidence,
        stall: Option<StallFinding>,
        client: Option<ClientVerdict>,
    ) -> Evidence {
        Evidence {
            throughput_ci: Some(
                run.throughput
                    .map_or(Interval::unknown(run.level), |e| e.interval),
            ),
            ttft_p99_ci: Some(
                run.ttft_p99
                    .map_or(Interval::unknown(run.level), |e| e.interval),
            ),
            stall,
            stalled_trial: None,
            client,
        }
    }
}

/// [`evaluate`], then infergate's confidence rule on each constraint that has an interval
/// (`infergate_evidence::rule`): a PASS or FAIL stands only when the interval lies wholly on
/// its side of the effective bound, otherwise the constraint is INCONCLUSIVE (exit 5) with the
/// interval in its message. The `RESULT:` and PASS lines stay byte-identical to upstream's; a
/// FAIL keeps upstream's message. A stalled trial fails TTFT p99; a client bottleneck makes the
/// whole verdict INVALID (exit 4) with the self-check's reason, and no PASS line is printed.
pub fn evaluate_with_evidence(plan: &RunPlan, measured: Measured, evidence: &Evidence) -> Verdict {
    let base = evaluate(plan, measured);
    if base.status == GateStatus::CouldNotMeasure {
        return base;
    }
    let results: Vec<String> = base
        .stdout
        .iter()
        .take_while(|l| l.starts_with("RESULT: "))
        .cloned()
        .collect();
    let mut notes = Vec::new();
    let mut constraints = base.constraints;
    for c in &mut constraints {
        let throughput = c.name == crate::constraint::INFERENCE_THROUGHPUT;
        let (interval, what, unit, direction) = if throughput {
            (
                evidence.throughput_ci,
                "throughput",
                "tokens/sec",
                Direction::AtLeast,
            )
        } else {
            (evidence.ttft_p99_ci, "TTFT p99", "ms", Direction::AtMost)
        };
        let Some(interval) = interval else { continue };
        let bound = Bound::from_effective(direction, c.scaled_threshold, c.effective_threshold);
        let j = judge(&bound, c.measured, &interval);
        if let (Some(l), Some(u)) = (j.interval.lower, j.interval.upper) {
            c.ci = Some((l, u));
        }
        if j.decision == Decision::Inconclusive {
            if c.status == ConstraintStatus::Fail {
                notes.push(format!(
                    "upstream's single-run rule would fail this run: {}",
                    c.message
                ));
            }
            c.status = ConstraintStatus::Inconclusive;
            c.message = j.explain(what, unit);
        }
    }
    if let Some(st) = &evidence.stalled_trial {
        if let Some(c) = constraints
            .iter_mut()
            .find(|c| c.name == crate::constraint::INFERENCE_TTFT_P99)
        {
            if c.status != ConstraintStatus::Fail {
                c.status = ConstraintStatus::Fail;
                c.message = format!(
                    "inference TTFT p99 {:.2} ms in trial {} of {} does not satisfy constraint {} \
                     (with 10% tolerance); a stall in one trial fails the gate",
                    st.ttft_p99_ms,
                    st.trial,
                    st.trials,
                    crate::constraint::go_quote(&c.raw)
                );
            }
            notes.push(st.explanation.clone());
        }
    }
    let ttft_not_passed = constraints.iter().any(|c| {
        c.name == crate::constraint::INFERENCE_TTFT_P99 && c.status != ConstraintStatus::Pass
    });
    if let (Some(stall), true, None) = (&evidence.stall, ttft_not_passed, &evidence.stalled_trial) {
        notes.push(stall.explanation());
    }
    let mut v = decide(measured, constraints, results.clone());
    if let Some(ClientVerdict::Bottleneck(reason)) = &evidence.client {
        v.status = GateStatus::Invalid;
        v.message = Some(reason.clone());
        v.stdout = results;
    }
    v.notes = notes;
    v
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::{GateFlags, GatePlan};
    use crate::recipe::Recipe;

    fn plan(recipe: &str, gpus: Option<u32>) -> RunPlan {
        let r = Recipe::load(recipe).unwrap();
        let flags = GateFlags {
            gpus,
            ..GateFlags::default()
        };
        match GatePlan::build(&r, &flags, &|_| None).unwrap() {
            GatePlan::Run(p) => *p,
            GatePlan::Skip { reason } => panic!("{reason}"),
        }
    }

    fn m(t: f64, ttft: f64) -> Measured {
        Measured {
            throughput_tok_s: Some(t),
            ttft_p99_ms: Some(ttft),
        }
    }

    #[test]
    fn pass_prints_upstreams_lines_byte_for_byte() {
        let v = evaluate(&plan("h100-eks", None), m(108789.87, 687.5));
        assert_eq!(v.status, GateStatus::Passed);
        assert_eq!(v.message, None);
        assert_eq!(
            v.stdout,
            [
                "RESULT: Inference throughput: 108789.87 tokens/sec",
                "RESULT: Inference TTFT p99: 687.50 ms",
                "Throughput constraint: >= 50000 \u{2192} PASS",
                "TTFT p99 constraint: <= 2000 \u{2192} PASS",
            ]
        );
        assert_eq!(
            "Throughput constraint: >= 50000 → PASS".as_bytes(),
            v.stdout[2].as_bytes(),
            "the arrow is U+2192"
        );
        assert_eq!(v.status.exit_code(), 0);
        assert_eq!(v.status.ctrf_status(), "passed");
    }

    #[test]
    fn ttft_failure_message_matches_upstream() {
        let v = evaluate(&plan("h100-eks", None), m(108789.87, 4485.0));
        assert_eq!(v.status, GateStatus::Failed);
        assert_eq!(
            v.message.as_deref(),
            Some(
                "inference TTFT p99 4485.00 ms does not satisfy constraint \"<= 2000\" (with 10% \
                 tolerance)"
            )
        );
        assert_eq!(
            v.stdout.len(),
            3,
            "RESULT ×2 + throughput PASS: {:?}",
            v.stdout
        );
        assert_eq!(v.status.exit_code(), 1);
        assert_eq!(v.display_lines().last(), v.message.as_ref());
    }

    #[test]
    fn throughput_failure_stops_the_lines_but_ttft_is_still_recorded() {
        let v = evaluate(&plan("h100-eks", None), m(40000.0, 5000.0));
        assert_eq!(v.status, GateStatus::Failed);
        assert_eq!(
            v.message.as_deref(),
            Some(
                "inference throughput 40000.00 tokens/sec does not satisfy constraint \">= \
                 50000\" (with 10% tolerance)"
            )
        );
        assert_eq!(v.stdout.len(), 2, "{:?}", v.stdout);
        assert_eq!(v.constraints.len(), 2);
        assert_eq!(v.constraints[1].status, ConstraintStatus::Fail);
        assert_eq!(v.constraints[1].measured, 5000.0);
    }

    #[test]
    fn each_platform_passes_at_its_calibration_baseline() {
        // (recipe, tok/s, TTFT p99 ms) from the comment in each recipe file.
        for (recipe, t, ttft) in [
            ("h100-eks", 108_790.0, 687.5),
            ("h100-gke", 108_164.0, 730.0),
            ("h100-aks", 148_004.0, 579.7),
            ("rtx-pro-6000-eks", 59_260.0, 445.0),
            ("gb200-eks", 65_952.0, 1_240.0),
            ("gb200-gke", 65_952.0, 1_240.0),
            ("gb200-oke", 65_952.0, 1_240.0),
        ] {
            let v = evaluate(&plan(recipe, None), m(t, ttft));
            assert_eq!(v.status, GateStatus::Passed, "{recipe}: {:?}", v.message);
        }
        // GB300 past its knee (20,769 tok/s, 33,320 ms) would fail a GB200-style gate.
        let v = evaluate(&plan("gb200-eks", None), m(20_769.0, 33_320.0));
        assert_eq!(v.status, GateStatus::Failed);
    }

    #[test]
    fn tolerance_edges() {
        let p = plan("h100-eks", None);
        // throughput passes down to 45000 (50000 × 0.9), TTFT up to 2200 (2000 × 1.1).
        assert_eq!(evaluate(&p, m(45000.0, 2200.0)).status, GateStatus::Passed);
        assert_eq!(evaluate(&p, m(44999.99, 100.0)).status, GateStatus::Failed);
        assert_eq!(evaluate(&p, m(60000.0, 2200.01)).status, GateStatus::Failed);
        let c = &evaluate(&p, m(60000.0, 1.0)).constraints;
        assert_eq!(c[0].effective_threshold, 45000.0);
        assert!((c[1].effective_threshold - 2200.0).abs() < 1e-9);
    }

    #[test]
    fn partial_node_scales_the_floor_and_says_so() {
        let p = plan("h100-eks", Some(4));
        let v = evaluate(&p, m(23000.0, 500.0));
        assert_eq!(v.status, GateStatus::Passed, "25000 × 0.9 = 22500");
        assert_eq!(v.constraints[0].scaled_threshold, 25000.0);
        let v = evaluate(&p, m(20000.0, 500.0));
        assert_eq!(v.status, GateStatus::Failed);
        let msg = v.message.unwrap();
        assert!(
            msg.contains("scaled to 25000.00 tokens/sec for 4 of 8 GPUs"),
            "{msg}"
        );
        assert!(msg.ends_with("(with 10% tolerance)"), "{msg}");
    }

    #[test]
    fn a_missing_metric_is_an_error_never_zero() {
        let p = plan("h100-eks", None);
        for measured in [
            Measured {
                throughput_tok_s: Some(90000.0),
                ttft_p99_ms: None,
            },
            Measured {
                throughput_tok_s: None,
                ttft_p99_ms: Some(500.0),
            },
            m(f64::NAN, 500.0),
            m(90000.0, f64::INFINITY),
            m(-1.0, 500.0),
        ] {
            let v = evaluate(&p, measured);
            assert_eq!(v.status, GateStatus::CouldNotMeasure, "{measured:?}");
            assert_eq!(v.status.exit_code(), 3);
            assert_eq!(v.status.ctrf_status(), "other");
            assert!(v.message.unwrap().contains("never 0"));
        }
    }

    #[test]
    fn statuses_map_to_exit_codes_and_ctrf() {
        use GateStatus::*;
        let table = [
            (Passed, 0, "passed"),
            (Failed, 1, "failed"),
            (Skipped, 2, "skipped"),
            (CouldNotMeasure, 3, "other"),
            (Invalid, 4, "other"),
            (Inconclusive, 5, "other"),
        ];
        for (s, code, ctrf) in table {
            assert_eq!((s.exit_code(), s.ctrf_status()), (code, ctrf), "{s:?}");
        }
    }

    #[test]
    fn inconclusive_is_never_a_pass() {
        let p = plan("h100-eks", None);
        let mut v = evaluate(&p, m(60000.0, 500.0));
        v.constraints[1].status = ConstraintStatus::Inconclusive;
        v.constraints[1].message = "TTFT p99 undecided".into();
        let v = decide(v.measured, v.constraints, v.stdout[..2].to_vec());
        assert_eq!(v.status, GateStatus::Inconclusive);
        assert_eq!(v.message.as_deref(), Some("TTFT p99 undecided"));
    }

    fn iv(l: f64, u: f64) -> Option<Interval> {
        Some(Interval::closed(l, u, 0.95))
    }

    #[test]
    fn evidence_keeps_upstreams_lines_when_decided() {
        let p = plan("h100-eks", None);
        let e = Evidence {
            throughput_ci: iv(106000.0, 111000.0),
            ttft_p99_ci: iv(650.0, 720.0),
            ..Evidence::default()
        };
        let v = evaluate_with_evidence(&p, m(108789.87, 687.5), &e);
        let plain = evaluate(&p, m(108789.87, 687.5));
        assert_eq!(v.status, GateStatus::Passed);
        assert_eq!(
            v.display_lines(),
            plain.display_lines(),
            "byte-identical on a decided pass"
        );
        assert_eq!(v.constraints[1].ci, Some((650.0, 720.0)));
        // A decided failure keeps upstream's message too.
        let e = Evidence {
            throughput_ci: iv(106000.0, 111000.0),
            ttft_p99_ci: iv(4000.0, 5000.0),
            ..Evidence::default()
        };
        let v = evaluate_with_evidence(&p, m(108789.87, 4485.0), &e);
        assert_eq!(v.status, GateStatus::Failed);
        assert_eq!(
            v.display_lines(),
            evaluate(&p, m(108789.87, 4485.0)).display_lines()
        );
    }

    #[test]
    fn an_interval_across_the_bound_is_inconclusive_never_a_pass_or_fail() {
        let p = plan("h100-eks", None);
        let e = Evidence {
            throughput_ci: iv(106000.0, 111000.0),
            ttft_p99_ci: iv(2100.0, 2350.0),
            ..Evidence::default()
        };
        // Upstream would fail 2250 ms (> 2200); the interval reaches below the ceiling.
        let v = evaluate_with_evidence(&p, m(108789.87, 2250.0), &e);
        assert_eq!(v.status, GateStatus::Inconclusive);
        assert_eq!(v.status.exit_code(), 5);
        assert_eq!(v.constraints[1].status, ConstraintStatus::Inconclusive);
        assert_eq!(
            v.stdout,
            [
                "RESULT: Inference throughput: 108789.87 tokens/sec",
                "RESULT: Inference TTFT p99: 2250.00 ms",
                "Throughput constraint: >= 50000 \u{2192} PASS",
            ]
        );
        let msg = v.message.clone().unwrap();
        assert!(
            msg.contains("95 % interval 2100.00–2350.00 ms") && msg.contains("not decided"),
            "{msg}"
        );
        assert!(
            v.notes[0].starts_with(
                "upstream's single-run rule would fail this run: inference TTFT p99 2250.00 ms"
            ),
            "{:?}",
            v.notes
        );
        // Unknown interval: nothing can be claimed with confidence.
        let e = Evidence {
            throughput_ci: Some(Interval::unknown(0.95)),
            ..Evidence::default()
        };
        let v = evaluate_with_evidence(&p, m(108789.87, 687.5), &e);
        assert_eq!(v.status, GateStatus::Inconclusive);
        assert_eq!(
            v.stdout.len(),
            3,
            "RESULT ×2 + the TTFT PASS line: {:?}",
            v.stdout
        );
    }

    #[test]
    fn a_starved_client_is_invalid_not_a_failure() {
        let p = plan("h100-eks", None);
        let e = Evidence {
            throughput_ci: iv(48000.0, 52000.0),
            ttft_p99_ci: iv(1200.0, 1300.0),
            client: Some(ClientVerdict::Bottleneck(
                "the load generator was the bottleneck: 446 of 2048 in flight".into(),
            )),
            ..Evidence::default()
        };
        // Throughput 50000 ≥ 45000 would pass; TTFT 1265 passes; but the client held 446 of 2048.
        let v = evaluate_with_evidence(&p, m(50000.0, 1265.0), &e);
        assert_eq!(v.status, GateStatus::Invalid);
        assert_eq!(v.status.exit_code(), 4);
        assert_eq!(
            v.stdout.len(),
            2,
            "RESULT lines only, no PASS claimed: {:?}",
            v.stdout
        );
        assert!(v.message.unwrap().contains("446 of 2048"));
        // Even when the numbers would fail, a starved client makes it INVALID, not FAIL.
        let v = evaluate_with_evidence(
            &p,
            m(30000.0, 5000.0),
            &Evidence {
                throughput_ci: iv(29000.0, 31000.0),
                ttft_p99_ci: iv(4800.0, 5200.0),
                ..e
            },
        );
        assert_eq!(v.status, GateStatus::Invalid);
    }

    #[test]
    fn a_client_starved_of_in_flight_requests_is_invalid_end_to_end() {
        use infergate_evidence::selfcheck::{self_check, ClientObservations, ClientThresholds};
        // Reference §6.4 4.3: the load generator held ~446 of 2048 requests in flight and the
        // deployment measured 50 k tok/s / 1265 ms; upstream failed the cluster.
        let obs = ClientObservations {
            target_in_flight: Some(2048),
            in_flight_samples: (0..=60u64).map(|s| (s * 1_000_000_000, 446)).collect(),
            steady_window: Some((0, 60_000_000_000)),
            ..ClientObservations::default()
        };
        let check = self_check(&obs, &ClientThresholds::default());
        let e = Evidence {
            throughput_ci: iv(48000.0, 52000.0),
            ttft_p99_ci: iv(1200.0, 1300.0),
            client: Some(check.verdict),
            ..Evidence::default()
        };
        let p = plan("h100-eks", None);
        let v = evaluate_with_evidence(&p, m(50000.0, 1265.0), &e);
        assert_eq!(v.status, GateStatus::Invalid, "{v:?}");
        assert_eq!(v.status.exit_code(), 4);
        let msg = v.message.unwrap();
        assert!(
            msg.contains("446 requests in flight on average against a target of 2048"),
            "{msg}"
        );
    }

    #[test]
    fn a_stalled_trial_fails_ttft_and_says_stall() {
        let p = plan("h100-eks", None);
        let e = Evidence {
            throughput_ci: iv(100000.0, 110000.0),
            ttft_p99_ci: iv(900.0, 1900.0),
            stalled_trial: Some(StalledTrial {
                trial: 2,
                trials: 3,
                ttft_p99_ms: 9200.0,
                explanation: "stall: worker 3 held up to 1022 requests in flight".into(),
            }),
            ..Evidence::default()
        };
        let v = evaluate_with_evidence(&p, m(105000.0, 1500.0), &e);
        assert_eq!(v.status, GateStatus::Failed);
        let msg = v.message.clone().unwrap();
        assert!(msg.starts_with("inference TTFT p99 9200.00 ms in trial 2 of 3 does not satisfy constraint \"<= 2000\""), "{msg}");
        assert_eq!(
            v.display_lines().last().unwrap(),
            "stall: worker 3 held up to 1022 requests in flight"
        );
    }
}
