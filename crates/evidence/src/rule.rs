//! The confidence rule: a constraint passes only when it is met *with confidence*, fails only
//! when it is violated *with confidence*, and is INCONCLUSIVE otherwise; how trials combine;
//! and when `--until-decided` stops. docs/verdicts.md states every rule in plain words.
//!
//! The rule (issue 6 §1). Upstream compares a point estimate `x` with an effective bound `b`
//! (the threshold with its 10 % tolerance): throughput passes iff `x ≥ 0.9 · floor`, TTFT p99
//! passes iff `x ≤ 1.1 · ceiling`. infergate compares the *confidence interval* `[lo, hi]` of
//! `x` with the same `b`:
//!
//! | constraint | PASS | FAIL | otherwise |
//! |---|---|---|---|
//! | `>=` (throughput) | `lo ≥ b` | `hi < b` | INCONCLUSIVE |
//! | `<=` (TTFT p99) | `hi ≤ b` | `lo > b` | INCONCLUSIVE |
//!
//! The interval is first widened to contain `x`, so a decided verdict always agrees with
//! upstream's verdict on the same point estimate; as the sample grows the interval shrinks to
//! `x` and INCONCLUSIVE disappears: the rule *is* upstream's rule in the limit. An open bound
//! (too few requests to bound a p99) decides nothing on its side.

use crate::fmt;
use crate::measure::RunEvidence;
use crate::stall::StallFinding;
use crate::EvidenceError;
use serde::{Deserialize, Serialize};

/// Which side of the threshold is good.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    /// `>=`: the measured value must be at least the floor (throughput).
    AtLeast,
    /// `<=`: the measured value must be at most the ceiling (TTFT p99).
    AtMost,
}

/// A threshold with its tolerance, as upstream applies it.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Bound {
    /// `>=` or `<=`.
    pub direction: Direction,
    /// The threshold as the recipe states it (after partial-node scaling).
    pub threshold: f64,
    /// The value compared with: `threshold × (1 − tolerance)` for `>=`, `threshold × (1 +
    /// tolerance)` for `<=`.
    pub effective: f64,
}

/// Upstream's tolerance on both constraints: 10 %.
pub const UPSTREAM_TOLERANCE: f64 = 0.10;

impl Bound {
    /// A bound from a threshold and a tolerance (a fraction in `[0, 1)`; upstream uses 0.10).
    pub fn new(
        direction: Direction,
        threshold: f64,
        tolerance: f64,
    ) -> Result<Bound, EvidenceError> {
        if !(threshold.is_finite() && threshold >= 0.0) {
            return Err(EvidenceError::invalid(
                "threshold",
                threshold,
                "a finite number ≥ 0",
            ));
        }
        if !(0.0..1.0).contains(&tolerance) {
            return Err(EvidenceError::invalid(
                "tolerance",
                tolerance,
                "a fraction from 0 to below 1 (upstream: 0.10)",
            ));
        }
        let effective = match direction {
            Direction::AtLeast => threshold * (1.0 - tolerance),
            Direction::AtMost => threshold * (1.0 + tolerance),
        };
        Ok(Bound {
            direction,
            threshold,
            effective,
        })
    }

    /// A bound whose effective value was computed elsewhere (the gate's own floor/ceiling
    /// functions), so both sides compare with the very same number.
    pub fn from_effective(direction: Direction, threshold: f64, effective: f64) -> Bound {
        Bound {
            direction,
            threshold,
            effective,
        }
    }

    /// Upstream's decision on a point estimate: PASS or FAIL, never INCONCLUSIVE.
    pub fn upstream(&self, estimate: f64) -> Decision {
        let pass = match self.direction {
            Direction::AtLeast => estimate >= self.effective,
            Direction::AtMost => estimate <= self.effective,
        };
        if pass {
            Decision::Pass
        } else {
            Decision::Fail
        }
    }

    fn word(&self) -> &'static str {
        match self.direction {
            Direction::AtLeast => "floor",
            Direction::AtMost => "ceiling",
        }
    }
}

/// A confidence interval; a `None` bound is open (the sample cannot bound that side).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Interval {
    /// Lower bound.
    pub lower: Option<f64>,
    /// Upper bound.
    pub upper: Option<f64>,
    /// Confidence level in (0, 1).
    pub level: f64,
}

impl Interval {
    /// An interval with both bounds.
    pub fn closed(lower: f64, upper: f64, level: f64) -> Interval {
        Interval {
            lower: Some(lower),
            upper: Some(upper),
            level,
        }
    }

    /// No interval at all: nothing can be decided with confidence.
    pub fn unknown(level: f64) -> Interval {
        Interval {
            lower: None,
            upper: None,
            level,
        }
    }

    /// The interval widened by `by` on each side (for example by the client's calibrated timing
    /// error, see `selfcheck::LoopbackCalibration`).
    pub fn widened(&self, by: f64) -> Interval {
        let by = if by.is_finite() { by.max(0.0) } else { 0.0 };
        Interval {
            lower: self.lower.map(|l| l - by),
            upper: self.upper.map(|u| u + by),
            level: self.level,
        }
    }
}

/// The outcome for one constraint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Decision {
    /// Met with confidence.
    Pass,
    /// Violated with confidence.
    Fail,
    /// Neither: never counted as a pass.
    Inconclusive,
}

impl Decision {
    /// `PASS`, `FAIL`, `INCONCLUSIVE`.
    pub fn as_str(self) -> &'static str {
        match self {
            Decision::Pass => "PASS",
            Decision::Fail => "FAIL",
            Decision::Inconclusive => "INCONCLUSIVE",
        }
    }
}

/// One constraint judged by the confidence rule.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Judgement {
    /// The rule's decision.
    pub decision: Decision,
    /// What upstream would decide on the same point estimate.
    pub upstream: Decision,
    /// The point estimate.
    pub estimate: f64,
    /// Its interval, widened to contain the estimate.
    pub interval: Interval,
    /// The bound compared with.
    pub bound: Bound,
}

/// Judges a point estimate and its interval against a bound (the table in the module docs).
/// A non-finite estimate is INCONCLUSIVE.
pub fn judge(bound: &Bound, estimate: f64, interval: &Interval) -> Judgement {
    let lo = interval
        .lower
        .filter(|l| !l.is_nan())
        .map(|l| l.min(estimate));
    let hi = interval
        .upper
        .filter(|u| !u.is_nan())
        .map(|u| u.max(estimate));
    let b = bound.effective;
    let decision = if !estimate.is_finite() {
        Decision::Inconclusive
    } else {
        match bound.direction {
            Direction::AtMost if hi.is_some_and(|u| u <= b) => Decision::Pass,
            Direction::AtMost if lo.is_some_and(|l| l > b) => Decision::Fail,
            Direction::AtLeast if lo.is_some_and(|l| l >= b) => Decision::Pass,
            Direction::AtLeast if hi.is_some_and(|u| u < b) => Decision::Fail,
            _ => Decision::Inconclusive,
        }
    };
    Judgement {
        decision,
        upstream: bound.upstream(estimate),
        estimate,
        interval: Interval {
            lower: lo,
            upper: hi,
            level: interval.level,
        },
        bound: *bound,
    }
}

impl Judgement {
    /// The interval as text: `650.00–720.00 ms`, `2050.00 ms – unbounded`.
    pub fn interval_text(&self, unit: &str) -> String {
        let side = |v: Option<f64>, open: &str| match v {
            Some(x) => format!("{x:.2}"),
            None => open.to_string(),
        };
        match (self.interval.lower, self.interval.upper) {
            (Some(l), Some(u)) => format!("{l:.2}–{u:.2} {unit}"),
            (l, u) => format!("{} – {} {unit}", side(l, "unbounded"), side(u, "unbounded")),
        }
    }

    /// One sentence: the estimate, its interval, the bound, and what that means. `what` names the
    /// quantity ("TTFT p99"), `unit` its unit ("ms").
    pub fn explain(&self, what: &str, unit: &str) -> String {
        let b = &self.bound;
        let tol = if b.threshold > 0.0 {
            ((b.effective / b.threshold - 1.0).abs() * 100.0).round()
        } else {
            0.0
        };
        let sign = match b.direction {
            Direction::AtLeast => "−",
            Direction::AtMost => "+",
        };
        let head = format!(
            "{what} {:.2} {unit}, {} interval {}, against the {:.2} {unit} {} ({} {sign} {tol:.0} % tolerance)",
            self.estimate,
            fmt::level(self.interval.level),
            self.interval_text(unit),
            b.effective,
            b.word(),
            trim_num(b.threshold),
        );
        let tail = match self.decision {
            Decision::Pass => "met with confidence".to_string(),
            Decision::Fail => "violated with confidence".to_string(),
            Decision::Inconclusive
                if self.interval.lower.is_none() || self.interval.upper.is_none() =>
            {
                "not decided: too few requests to bound it on one side; measure longer \
                 (--until-decided) or repeat (--trials)"
                    .to_string()
            }
            Decision::Inconclusive => format!(
                "not decided: the interval straddles the {}; measure longer (--until-decided) \
                 or repeat (--trials)",
                b.word()
            ),
        };
        format!("{head}: {tail}")
    }
}

fn trim_num(v: f64) -> String {
    if v == v.trunc() && v.abs() < 1e15 {
        format!("{v:.0}")
    } else {
        format!("{v}")
    }
}

/// MLPerf-style early stopping for a `<=` percentile bound, in plain numbers: with `n` requests
/// of which `over` exceed the effective ceiling, how many requests in total are needed so that,
/// if every further request stays under the ceiling, the `p`-th percentile's upper confidence
/// bound (at `level`) falls under the ceiling. `None` when more than `cap` would be needed (or
/// the inputs are out of range).
///
/// Equivalent to asking for the smallest total `N` whose interval's upper rank is at most
/// `N − over`: the order statistic at that rank is then a value under the ceiling.
pub fn requests_to_confirm_pass(n: u64, over: u64, p: f64, level: f64, cap: u64) -> Option<u64> {
    if !(p > 0.0 && p < 100.0 && level > 0.0 && level < 1.0) || over > n {
        return None;
    }
    let ok = |total: u64| -> bool {
        let ranks: Vec<f64> = (1..=total).map(|r| r as f64).collect();
        infergate_stats::quantile_ci(&ranks, p, level)
            .is_some_and(|ci| ci.upper.is_some() && ci.upper_rank <= total - over)
    };
    let start = n.max(over + 1).max(1);
    if ok(start) {
        return Some(start);
    }
    // Grow geometrically to a total that passes, then bisect (passing is monotone in the total
    // for a fixed number over the ceiling).
    let mut lo = start;
    loop {
        if lo >= cap {
            return None;
        }
        let hi = lo.saturating_mul(2).min(cap);
        if ok(hi) {
            return bisect(lo, hi, &ok);
        }
        lo = hi;
    }
}

/// Smallest `x` in `(lo, hi]` with `ok(x)`, given `!ok(lo)` and `ok(hi)`.
fn bisect(mut lo: u64, mut hi: u64, ok: &dyn Fn(u64) -> bool) -> Option<u64> {
    while hi - lo > 1 {
        let mid = lo + (hi - lo) / 2;
        if ok(mid) {
            hi = mid;
        } else {
            lo = mid;
        }
    }
    Some(hi)
}

/// The constraints of a gate, as bounds.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct Constraints {
    /// `inference-throughput` (output tokens/s, already scaled for a partial node).
    pub throughput: Option<Bound>,
    /// `inference-ttft-p99` (ms).
    pub ttft_p99: Option<Bound>,
}

/// The verdict over one or more trials (runs) of the same measurement.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrialsVerdict {
    /// Throughput judged on the pooled evidence.
    pub throughput: Option<Judgement>,
    /// TTFT p99 judged on the pooled evidence (then possibly failed by a stalled trial).
    pub ttft_p99: Option<Judgement>,
    /// When a single trial's attributed stall failed TTFT: that trial (0-based) and the stall's
    /// explanation.
    pub stalled_trial: Option<(usize, String)>,
    /// Trials combined.
    pub trials: usize,
    /// Confidence level of the intervals.
    pub level: f64,
}

impl TrialsVerdict {
    /// The decisions of the judged constraints, throughput first.
    pub fn decisions(&self) -> impl Iterator<Item = Decision> + '_ {
        self.throughput
            .iter()
            .chain(self.ttft_p99.iter())
            .map(|j| j.decision)
    }

    /// FAIL if any constraint fails, else INCONCLUSIVE if any is undecided, else PASS.
    pub fn overall(&self) -> Decision {
        let mut overall = Decision::Pass;
        for d in self.decisions() {
            match d {
                Decision::Fail => return Decision::Fail,
                Decision::Inconclusive => overall = Decision::Inconclusive,
                Decision::Pass => {}
            }
        }
        overall
    }
}

/// Combines trials (issue 6 §1, `--trials N`), by this documented rule:
///
/// 1. **Pool.** The trials' requests are pooled as one larger sample: throughput is the mean of
///    the trials' throughputs with a Student-t interval over every trial's time slices (20 per
///    trial); TTFT p99 is the p99 of every TTFT of every trial, with the order-statistic
///    interval of the pooled sample. One trial is exactly the single-run rule.
/// 2. **Judge** each constraint on the pooled evidence with [`judge`].
/// 3. **A stall is not noise.** If any single trial's own TTFT p99 is a confident FAIL *and* that
///    trial's stall analysis attributes it to one worker ([`TailShape::Stall`] or
///    [`TailShape::SlowWorker`](crate::stall::TailShape::SlowWorker)), TTFT p99 FAILS whatever
///    the pooled sample says: a deployment that stalls in one run in N stalls in production. Knee
///    jitter (a diffuse tail on balanced workers) never triggers this; it is averaged by
///    pooling.
///
/// [`TailShape::Stall`]: crate::stall::TailShape::Stall
pub fn judge_trials(
    constraints: &Constraints,
    trials: &[RunEvidence],
    stalls: &[Option<StallFinding>],
) -> TrialsVerdict {
    let pooled = RunEvidence::pool(trials);
    let level = pooled.as_ref().map_or(0.95, |p| p.level);
    let judge_opt = |b: &Option<Bound>, e: Option<&crate::measure::Estimate>| {
        b.as_ref().map(|b| match e {
            Some(e) => judge(b, e.estimate, &e.interval),
            None => judge(b, f64::NAN, &Interval::unknown(level)),
        })
    };
    let throughput = judge_opt(
        &constraints.throughput,
        pooled.as_ref().and_then(|p| p.throughput.as_ref()),
    );
    let mut ttft_p99 = judge_opt(
        &constraints.ttft_p99,
        pooled.as_ref().and_then(|p| p.ttft_p99.as_ref()),
    );
    let mut stalled_trial = None;
    if let (Some(bound), Some(j)) = (constraints.ttft_p99, ttft_p99.as_mut()) {
        for (i, t) in trials.iter().enumerate() {
            let Some(e) = t.ttft_p99.as_ref() else {
                continue;
            };
            let own = judge(&bound, e.estimate, &e.interval);
            let attributed = stalls
                .get(i)
                .and_then(|s| s.as_ref())
                .filter(|s| s.shape.is_attributed());
            if let (Decision::Fail, Some(s)) = (own.decision, attributed) {
                j.decision = Decision::Fail;
                stalled_trial = Some((i, s.explanation()));
                break;
            }
        }
    }
    TrialsVerdict {
        throughput,
        ttft_p99,
        stalled_trial,
        trials: trials.len(),
        level,
    }
}

/// `--until-decided`: keep running trials until every constraint is decided, at most
/// `max_runs` runs in all.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct UntilDecided {
    /// Most runs (the first included). Default 5.
    pub max_runs: u32,
}

impl Default for UntilDecided {
    fn default() -> Self {
        UntilDecided { max_runs: 5 }
    }
}

/// What `--until-decided` does next.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "next", content = "why")]
pub enum Next {
    /// Stop; the verdict is final. The text says why, in plain words.
    Stop(String),
    /// Run one more trial and judge the pooled trials again. The text says why.
    RunAgain(String),
}

impl UntilDecided {
    /// Checks `max_runs` (1 to 100).
    pub fn new(max_runs: u32) -> Result<UntilDecided, EvidenceError> {
        if !(1..=100).contains(&max_runs) {
            return Err(EvidenceError::invalid(
                "max-runs",
                max_runs,
                "1 to 100 runs",
            ));
        }
        Ok(UntilDecided { max_runs })
    }

    /// The confidence level to compute every interval at, so that looking up to `max_runs`
    /// times still keeps the chance of a wrong decision under `1 − level` (Bonferroni: each
    /// look gets `(1 − level) / max_runs`). With the default 95 % and 5 runs: 99 %.
    pub fn per_look_level(&self, level: f64) -> f64 {
        1.0 - (1.0 - level) / f64::from(self.max_runs.max(1))
    }

    /// After `runs_done` runs judged as `verdict`: stop or run again, and why.
    pub fn next(&self, verdict: &TrialsVerdict, runs_done: u32) -> Next {
        let undecided: Vec<String> = [
            ("throughput", "tokens/sec", &verdict.throughput),
            ("TTFT p99", "ms", &verdict.ttft_p99),
        ]
        .into_iter()
        .filter_map(|(what, unit, j)| {
            j.as_ref()
                .filter(|j| j.decision == Decision::Inconclusive)
                .map(|j| {
                    format!(
                        "{what} ({} interval {} against the {:.2} {unit} {})",
                        fmt::level(j.interval.level),
                        j.interval_text(unit),
                        j.bound.effective,
                        j.bound.word()
                    )
                })
        })
        .collect();
        let runs = |n: u32| {
            if n == 1 {
                "1 run".to_string()
            } else {
                format!("{n} runs")
            }
        };
        if verdict.overall() == Decision::Fail {
            return Next::Stop(format!(
                "stopped after {}: a constraint is violated with confidence",
                runs(runs_done)
            ));
        }
        if undecided.is_empty() {
            return Next::Stop(format!(
                "stopped after {}: every constraint is decided",
                runs(runs_done)
            ));
        }
        if runs_done >= self.max_runs {
            return Next::Stop(format!(
                "stopped after {}, the maximum: still undecided: {}; the verdict is INCONCLUSIVE",
                runs(runs_done),
                undecided.join("; ")
            ));
        }
        Next::RunAgain(format!(
            "undecided after {}: {}; running again (run {} of at most {})",
            runs(runs_done),
            undecided.join("; "),
            runs_done + 1,
            self.max_runs
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ttft(ceiling: f64) -> Bound {
        Bound::new(Direction::AtMost, ceiling, UPSTREAM_TOLERANCE).unwrap()
    }
    fn tput(floor: f64) -> Bound {
        Bound::new(Direction::AtLeast, floor, UPSTREAM_TOLERANCE).unwrap()
    }

    #[test]
    fn the_three_outcomes_for_a_ceiling() {
        let b = ttft(2000.0); // effective 2200
        let pass = judge(&b, 1900.0, &Interval::closed(1800.0, 2100.0, 0.95));
        assert_eq!(pass.decision, Decision::Pass);
        let fail = judge(&b, 2500.0, &Interval::closed(2300.0, 2700.0, 0.95));
        assert_eq!(fail.decision, Decision::Fail);
        let undecided = judge(&b, 2150.0, &Interval::closed(2000.0, 2300.0, 0.95));
        assert_eq!(undecided.decision, Decision::Inconclusive);
        assert_eq!(
            undecided.upstream,
            Decision::Pass,
            "upstream passes the point"
        );
        let open = judge(
            &b,
            500.0,
            &Interval {
                lower: Some(400.0),
                upper: None,
                level: 0.95,
            },
        );
        assert_eq!(
            open.decision,
            Decision::Inconclusive,
            "unbounded above decides nothing"
        );
        assert!(open.explain("TTFT p99", "ms").contains("too few requests"));
    }

    #[test]
    fn the_three_outcomes_for_a_floor() {
        let b = tput(50000.0); // effective 45000
        assert_eq!(b.effective, 45000.0);
        let d = |x: f64, lo: f64, hi: f64| judge(&b, x, &Interval::closed(lo, hi, 0.95)).decision;
        assert_eq!(d(108000.0, 104000.0, 112000.0), Decision::Pass);
        assert_eq!(d(40000.0, 38000.0, 42000.0), Decision::Fail);
        assert_eq!(d(46000.0, 44000.0, 48000.0), Decision::Inconclusive);
        assert_eq!(
            d(45000.0, 45000.0, 45000.0),
            Decision::Pass,
            "equality passes, as upstream"
        );
        assert_eq!(
            judge(&b, 90000.0, &Interval::unknown(0.95)).decision,
            Decision::Inconclusive,
            "no interval, no confidence"
        );
    }

    #[test]
    fn decided_verdicts_never_contradict_upstream_and_the_limit_is_upstream() {
        // Sweep estimates and interval widths; an interval that excludes the estimate is widened.
        for b in [ttft(1000.0), tput(50000.0)] {
            for i in 0..200 {
                let x = b.effective * (0.5 + i as f64 / 200.0);
                for w in [0.0, 0.01, 0.05, 0.2] {
                    for skew in [-0.5, 0.0, 0.5] {
                        let half = x * w;
                        let c = x + skew * half * 3.0;
                        let j = judge(&b, x, &Interval::closed(c - half, c + half, 0.95));
                        if j.decision != Decision::Inconclusive {
                            assert_eq!(j.decision, j.upstream, "{b:?} x={x} w={w} skew={skew}");
                        }
                        if w == 0.0 && skew == 0.0 {
                            assert_eq!(j.decision, j.upstream, "zero width is upstream's rule");
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn explanations_name_the_numbers() {
        let j = judge(
            &ttft(2000.0),
            9200.0,
            &Interval::closed(8100.0, 10400.0, 0.95),
        );
        let s = j.explain("TTFT p99", "ms");
        assert_eq!(
            s,
            "TTFT p99 9200.00 ms, 95 % interval 8100.00–10400.00 ms, against the 2200.00 ms \
             ceiling (2000 + 10 % tolerance): violated with confidence"
        );
        let j = judge(
            &tput(50000.0),
            46000.0,
            &Interval::closed(44000.0, 48000.0, 0.95),
        );
        assert!(j
            .explain("throughput", "tokens/sec")
            .contains("straddles the floor"));
    }

    #[test]
    fn bad_bounds_name_the_value() {
        let e = Bound::new(Direction::AtMost, 100.0, 1.5)
            .unwrap_err()
            .to_string();
        assert!(e.contains("tolerance 1.5") && e.contains("0.10"), "{e}");
        assert!(Bound::new(Direction::AtLeast, f64::NAN, 0.1).is_err());
    }

    #[test]
    fn early_stopping_matches_mlperf_counts_in_spirit() {
        // MLPerf (one-sided, 99 %): 459 samples with no violation, 662 with one. Our interval is
        // two-sided at `level`, so at level 0.98 (1 % per side) the counts are of that size.
        let zero = requests_to_confirm_pass(10, 0, 99.0, 0.98, 1_000_000).unwrap();
        let one = requests_to_confirm_pass(10, 1, 99.0, 0.98, 1_000_000).unwrap();
        eprintln!("p99 at 98 %: {zero} requests with no violation, {one} with one");
        assert!((400..=480).contains(&zero), "{zero}");
        assert!((600..=690).contains(&one), "{one}");
        assert!(one > zero);
        // Already enough: the answer is what we have.
        assert_eq!(
            requests_to_confirm_pass(5000, 0, 99.0, 0.98, 1_000_000),
            Some(5000)
        );
        // Hopeless under the cap.
        assert_eq!(requests_to_confirm_pass(100, 90, 99.0, 0.95, 5_000), None);
    }

    #[test]
    fn until_decided_stops_for_a_reason_it_states() {
        let rule = UntilDecided::new(3).unwrap();
        assert!((rule.per_look_level(0.95) - (1.0 - 0.05 / 3.0)).abs() < 1e-12);
        let mk = |d: Decision| TrialsVerdict {
            throughput: Some(judge(
                &tput(50000.0),
                100000.0,
                &Interval::closed(90000.0, 110000.0, 0.95),
            )),
            ttft_p99: Some(Judgement {
                decision: d,
                ..judge(
                    &ttft(2000.0),
                    2150.0,
                    &Interval::closed(2000.0, 2300.0, 0.95),
                )
            }),
            stalled_trial: None,
            trials: 1,
            level: 0.95,
        };
        match rule.next(&mk(Decision::Inconclusive), 1) {
            Next::RunAgain(why) => {
                assert!(
                    why.contains("TTFT p99") && why.contains("run 2 of at most 3"),
                    "{why}"
                )
            }
            other => panic!("{other:?}"),
        }
        match rule.next(&mk(Decision::Inconclusive), 3) {
            Next::Stop(why) => assert!(why.contains("the maximum") && why.contains("INCONCLUSIVE")),
            other => panic!("{other:?}"),
        }
        assert!(
            matches!(rule.next(&mk(Decision::Pass), 1), Next::Stop(w) if w.contains("decided"))
        );
        assert!(
            matches!(rule.next(&mk(Decision::Fail), 2), Next::Stop(w) if w.contains("violated"))
        );
        assert!(UntilDecided::new(0).is_err());
    }
}
