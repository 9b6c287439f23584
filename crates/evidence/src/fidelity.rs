//! The fidelity study (issue 6 §5): how often does each verdict rule fail a healthy deployment,
//! and how often does it catch a faulty one, at the knee and below it?
//!
//! The study is pure: it draws scenarios (platform, operating point, fault, seed) and hands each
//! to a `trial` closure that returns the run's records — the CLI passes the simulator's
//! virtual-time runner, and `Fault` says what to inject. For every scenario it evaluates:
//! - **upstream** at each TTFT ceiling: one run, point estimates, 10 % tolerance;
//! - **infergate** at each ceiling: the confidence rule with `--until-decided` (at most
//!   `max_runs` runs, Bonferroni per-look level) and the stall override of
//!   [`judge_trials`](crate::rule::judge_trials);
//! - **infergate, calibrated**: the same rule with thresholds proposed by
//!   [`calibrate::propose`](crate::calibrate::propose) from separate healthy trials of that
//!   platform and point.
//!
//! docs/fidelity.md holds the table and how to reproduce it.

use crate::calibrate::{propose, CalibrationOptions, HealthyTrial};
use crate::measure::RunEvidence;
use crate::rule::{
    judge_trials, Bound, Constraints, Decision, Direction, Next, UntilDecided, UPSTREAM_TOLERANCE,
};
use crate::stall::{analyse, StallFinding, StallOptions};
use crate::EvidenceError;
use infergate_model::RequestRecord;
use serde::{Deserialize, Serialize};

/// A platform to study: the simulator's profile name and its GPUs per node.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Platform {
    /// Profile name (`h100x8`).
    pub profile: String,
    /// GPUs (= workers) on the node.
    pub gpus: u32,
}

/// The kinds of deployment studied.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FaultKind {
    /// Nothing injected.
    Healthy,
    /// One worker stalls for a while (reference §6.4 4.2).
    Stall,
    /// One worker is slow throughout.
    SlowWorker,
    /// Every worker is slower: throughput about 30 % low.
    LowThroughput,
}

impl FaultKind {
    /// Every kind, healthy first.
    pub const ALL: [FaultKind; 4] = [
        FaultKind::Healthy,
        FaultKind::Stall,
        FaultKind::SlowWorker,
        FaultKind::LowThroughput,
    ];

    /// Words for tables.
    pub fn label(self) -> &'static str {
        match self {
            FaultKind::Healthy => "healthy",
            FaultKind::Stall => "stalled worker",
            FaultKind::SlowWorker => "slow worker",
            FaultKind::LowThroughput => "throughput 30 % low",
        }
    }
}

/// What the trial runner must inject.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "fault")]
pub enum Fault {
    /// Nothing.
    None,
    /// Worker `worker`'s steps take `factor` times longer from `start_ns` (from the deployment's
    /// start) for `duration_ns`.
    Stall {
        /// The worker (0-based).
        worker: u32,
        /// Step-time multiplier.
        factor: f64,
        /// Start, ns from the deployment's start.
        start_ns: u64,
        /// Duration, ns.
        duration_ns: u64,
    },
    /// Worker `worker`'s steps always take `factor` times longer.
    SlowWorker {
        /// The worker (0-based).
        worker: u32,
        /// Step-time multiplier.
        factor: f64,
    },
    /// Every worker's step costs are divided by `throughput_factor` (0.7: throughput ~30 % low).
    LowThroughput {
        /// Throughput multiplier (< 1).
        throughput_factor: f64,
    },
}

/// One trial to run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Scenario {
    /// The platform's profile name.
    pub profile: String,
    /// Its GPUs.
    pub gpus: u32,
    /// Closed-loop concurrency per GPU (the run's concurrency is `per_gpu × gpus`).
    pub per_gpu: u32,
    /// What to inject.
    pub fault: Fault,
    /// Seed of the run (every random choice of the deployment and the workload).
    pub seed: u64,
}

impl Scenario {
    /// One line for errors and progress.
    pub fn describe(&self) -> String {
        format!(
            "{} at {}/GPU, {:?}, seed {}",
            self.profile, self.per_gpu, self.fault, self.seed
        )
    }
}

/// What to study.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StudyPlan {
    /// Platforms.
    pub platforms: Vec<Platform>,
    /// Operating points, concurrency per GPU (256 = upstream's knee, 128 = sub-knee).
    pub per_gpu: Vec<u32>,
    /// Healthy trials per platform and point.
    pub healthy_trials: u32,
    /// Trials per fault kind, platform and point.
    pub faulty_trials: u32,
    /// Fault kinds studied (besides healthy).
    pub faults: Vec<FaultKind>,
    /// Healthy trials (separate seeds) to calibrate the "calibrated" rule; 0 leaves it out.
    pub calibration_trials: u32,
    /// TTFT ceilings, ms, for upstream's rule and infergate's.
    pub ceilings_ms: Vec<f64>,
    /// Throughput floor, tokens/sec (full node).
    pub floor_tok_s: f64,
    /// Confidence level.
    pub level: f64,
    /// `--until-decided` maximum runs.
    pub max_runs: u32,
    /// Seed of the study (every trial's seed and fault derive from it).
    pub seed: u64,
}

impl StudyPlan {
    /// The full study of issue 6 §5: three platforms, knee and sub-knee, 200 healthy trials and
    /// 200 trials of each fault, both upstream ceilings.
    pub fn full() -> StudyPlan {
        StudyPlan {
            platforms: vec![
                Platform {
                    profile: "h100x8".into(),
                    gpus: 8,
                },
                Platform {
                    profile: "rtx-pro-6000x8".into(),
                    gpus: 8,
                },
                Platform {
                    profile: "gb200x4".into(),
                    gpus: 4,
                },
            ],
            per_gpu: vec![256, 128],
            healthy_trials: 200,
            faulty_trials: 200,
            faults: vec![
                FaultKind::Stall,
                FaultKind::SlowWorker,
                FaultKind::LowThroughput,
            ],
            calibration_trials: 30,
            ceilings_ms: vec![1000.0, 2000.0],
            floor_tok_s: 50_000.0,
            level: 0.95,
            max_runs: 3,
            seed: 2026,
        }
    }

    /// The short form run by the tests: one platform at the knee, `healthy` healthy trials and
    /// `stalled` stalled-worker trials, no calibrated rule.
    pub fn short(healthy: u32, stalled: u32) -> StudyPlan {
        StudyPlan {
            platforms: vec![Platform {
                profile: "h100x8".into(),
                gpus: 8,
            }],
            per_gpu: vec![256],
            healthy_trials: healthy,
            faulty_trials: stalled,
            faults: vec![FaultKind::Stall],
            calibration_trials: 0,
            ..StudyPlan::full()
        }
    }

    /// Checks every setting (run by [`run_study`] before any trial); the error names the
    /// setting and its valid range.
    pub fn validate(&self) -> Result<(), EvidenceError> {
        if self.platforms.is_empty() || self.per_gpu.is_empty() {
            return Err(EvidenceError::invalid(
                "study plan",
                "no platform or operating point",
                "at least one of each",
            ));
        }
        if let Some(p) = self.platforms.iter().find(|p| p.gpus == 0) {
            return Err(EvidenceError::invalid(
                "gpus",
                format!("0 for {}", p.profile),
                "at least 1",
            ));
        }
        if self.per_gpu.contains(&0) {
            return Err(EvidenceError::invalid(
                "per-gpu concurrency",
                0,
                "at least 1",
            ));
        }
        if !(self.level > 0.0 && self.level < 1.0) {
            return Err(EvidenceError::invalid(
                "level",
                self.level,
                "strictly between 0 and 1",
            ));
        }
        if self.calibration_trials != 0 && self.calibration_trials < 3 {
            return Err(EvidenceError::invalid(
                "calibration trials",
                self.calibration_trials,
                "0 (leave the calibrated rule out) or at least 3",
            ));
        }
        UntilDecided::new(self.max_runs)?;
        if let Some(c) = self
            .ceilings_ms
            .iter()
            .find(|c| !(c.is_finite() && **c > 0.0))
        {
            return Err(EvidenceError::invalid(
                "ceiling",
                c,
                "a positive number of ms",
            ));
        }
        if !(self.floor_tok_s.is_finite() && self.floor_tok_s >= 0.0) {
            return Err(EvidenceError::invalid(
                "floor",
                self.floor_tok_s,
                "a number ≥ 0",
            ));
        }
        Ok(())
    }
}

/// The tally of one rule on one kind of deployment at one platform and point.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Cell {
    /// Platform profile.
    pub platform: String,
    /// Concurrency per GPU.
    pub per_gpu: u32,
    /// Deployment kind.
    pub kind: FaultKind,
    /// The rule (`upstream <= 1000`, `infergate <= 2000`, `infergate calibrated`).
    pub rule: String,
    /// Verdicts.
    pub trials: u32,
    /// FAIL verdicts.
    pub fail: u32,
    /// INCONCLUSIVE verdicts.
    pub inconclusive: u32,
    /// Runs used, in all.
    pub runs: u32,
    /// Virtual seconds of measurement used, in all.
    pub run_s: f64,
    /// infergate rules: verdicts whose stall analysis blamed one worker.
    pub attributed: u32,
    /// ... and of those, blamed the injected worker (stall and slow-worker faults).
    pub attributed_right: u32,
    /// Stalled-worker trials whose first run's TTFT p99 exceeded 9 s.
    pub severe: u32,
    /// ... of which FAILED.
    pub severe_detected: u32,
}

/// Thresholds the calibrated rule used, per platform and point.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CalibratedThresholds {
    /// Platform profile.
    pub platform: String,
    /// Concurrency per GPU.
    pub per_gpu: u32,
    /// Floor, tokens/sec.
    pub floor_tok_s: f64,
    /// Ceiling, ms.
    pub ceiling_ms: f64,
}

/// The study's result.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StudyReport {
    /// What was studied.
    pub plan: StudyPlan,
    /// One tally per (platform, point, kind, rule).
    pub cells: Vec<Cell>,
    /// The calibrated rule's thresholds.
    pub calibrated: Vec<CalibratedThresholds>,
    /// Trials run, calibration included.
    pub runs: u64,
}

/// splitmix64: a tiny seeded generator for scenario draws.
fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

fn seed_of(parts: &[u64]) -> u64 {
    parts
        .iter()
        .fold(0x1F1D_E11E_u64, |acc, &p| mix(acc ^ mix(p)))
}

fn unit(x: u64) -> f64 {
    (x >> 11) as f64 / (1u64 << 53) as f64
}

/// The fault of trial `seed` of `kind` on `gpus` workers (drawn from the seed). `profile` is the
/// healthy runs' measurement phase `(start, length)` in ns on the deployment's clock (their
/// medians), so that a stall overlaps what is measured: it starts in the first half of the
/// phase and lasts 20–60 % of it. Without it, a stall starts 2–8 s in and lasts 5–20 s.
pub fn draw_fault(kind: FaultKind, gpus: u32, seed: u64, profile: Option<(u64, u64)>) -> Fault {
    let u = |k: u64| unit(mix(seed ^ mix(k)));
    let worker = ((u(1) * f64::from(gpus)) as u32).min(gpus.saturating_sub(1));
    match kind {
        FaultKind::Healthy => Fault::None,
        FaultKind::Stall => {
            let (start_ns, duration_ns) = match profile {
                Some((start, len)) => (
                    start + (0.5 * u(3) * len as f64) as u64,
                    ((0.2 + 0.4 * u(4)) * len as f64) as u64,
                ),
                None => (
                    ((2.0 + 6.0 * u(3)) * 1e9) as u64,
                    ((5.0 + 15.0 * u(4)) * 1e9) as u64,
                ),
            };
            Fault::Stall {
                worker,
                factor: 10.0 + 40.0 * u(2),
                start_ns,
                duration_ns,
            }
        }
        FaultKind::SlowWorker => Fault::SlowWorker {
            worker,
            factor: 2.0 + 4.0 * u(2),
        },
        FaultKind::LowThroughput => Fault::LowThroughput {
            throughput_factor: 0.7,
        },
    }
}

fn fault_worker(f: &Fault) -> Option<String> {
    match f {
        Fault::Stall { worker, .. } | Fault::SlowWorker { worker, .. } => Some(worker.to_string()),
        _ => None,
    }
}

/// A rule variant judged by the study.
struct Variant {
    name: String,
    constraints: Constraints,
    upstream: bool,
}

/// One run of a scenario, kept while its verdicts are decided.
struct Run {
    evidence: RunEvidence,
    /// Stall finding per variant (by the variant's ceiling).
    stalls: Vec<Option<StallFinding>>,
}

/// Runs the study. `trial` runs one scenario and returns its records; `progress` receives one
/// line per finished group of trials.
pub fn run_study(
    plan: &StudyPlan,
    trial: &mut dyn FnMut(&Scenario) -> Result<Vec<RequestRecord>, String>,
    progress: &mut dyn FnMut(&str),
) -> Result<StudyReport, EvidenceError> {
    plan.validate()?;
    let until = UntilDecided::new(plan.max_runs)?;
    let look_level = until.per_look_level(plan.level);
    let mut runs_total = 0u64;
    let mut cells = Vec::new();
    let mut calibrated = Vec::new();
    let floor = Bound::new(Direction::AtLeast, plan.floor_tok_s, UPSTREAM_TOLERANCE)?;
    let mut call =
        |s: &Scenario, runs_total: &mut u64| -> Result<Vec<RequestRecord>, EvidenceError> {
            *runs_total += 1;
            trial(s).map_err(|message| EvidenceError::Trial {
                scenario: s.describe(),
                message,
            })
        };
    for (pi, platform) in plan.platforms.iter().enumerate() {
        for &per_gpu in &plan.per_gpu {
            let scenario = |fault: Fault, seed: u64| Scenario {
                profile: platform.profile.clone(),
                gpus: platform.gpus,
                per_gpu,
                fault,
                seed,
            };
            let mut variants: Vec<Variant> = Vec::new();
            for &c in &plan.ceilings_ms {
                let ttft = Bound::new(Direction::AtMost, c, UPSTREAM_TOLERANCE)?;
                let constraints = Constraints {
                    throughput: Some(floor),
                    ttft_p99: Some(ttft),
                };
                variants.push(Variant {
                    name: format!("upstream <= {c:.0}"),
                    constraints,
                    upstream: true,
                });
                variants.push(Variant {
                    name: format!("infergate <= {c:.0}"),
                    constraints,
                    upstream: false,
                });
            }
            if plan.calibration_trials > 0 {
                let mut healthy = Vec::new();
                for i in 0..plan.calibration_trials {
                    let seed =
                        seed_of(&[plan.seed, 1, pi as u64, u64::from(per_gpu), u64::from(i)]);
                    let records = call(&scenario(Fault::None, seed), &mut runs_total)?;
                    let e = RunEvidence::from_records(&records, plan.level);
                    if let (Some(t), Some(p)) = (e.throughput, e.ttft_p99) {
                        healthy.push(HealthyTrial {
                            throughput: t.estimate,
                            ttft_p99_ms: p.estimate,
                        });
                    }
                }
                let p = propose(&healthy, &CalibrationOptions::default())?;
                calibrated.push(CalibratedThresholds {
                    platform: platform.profile.clone(),
                    per_gpu,
                    floor_tok_s: p.floor_tok_s,
                    ceiling_ms: p.ceiling_ms,
                });
                variants.push(Variant {
                    name: "infergate calibrated".into(),
                    constraints: Constraints {
                        throughput: Some(Bound::new(
                            Direction::AtLeast,
                            p.floor_tok_s,
                            UPSTREAM_TOLERANCE,
                        )?),
                        ttft_p99: Some(Bound::new(
                            Direction::AtMost,
                            p.ceiling_ms,
                            UPSTREAM_TOLERANCE,
                        )?),
                    },
                    upstream: false,
                });
            }
            // The healthy runs' measurement phases, to place stalls inside them.
            let mut phases: Vec<(u64, u64)> = Vec::new();
            let mut kinds = vec![FaultKind::Healthy];
            kinds.extend(
                plan.faults
                    .iter()
                    .copied()
                    .filter(|k| *k != FaultKind::Healthy),
            );
            for kind in kinds {
                let n = if kind == FaultKind::Healthy {
                    plan.healthy_trials
                } else {
                    plan.faulty_trials
                };
                let mut tallies: Vec<Cell> = variants
                    .iter()
                    .map(|v| Cell {
                        platform: platform.profile.clone(),
                        per_gpu,
                        kind,
                        rule: v.name.clone(),
                        trials: 0,
                        fail: 0,
                        inconclusive: 0,
                        runs: 0,
                        run_s: 0.0,
                        attributed: 0,
                        attributed_right: 0,
                        severe: 0,
                        severe_detected: 0,
                    })
                    .collect();
                for i in 0..n {
                    let base = seed_of(&[
                        plan.seed,
                        2,
                        pi as u64,
                        u64::from(per_gpu),
                        kind as u64,
                        u64::from(i),
                    ]);
                    let fault = draw_fault(kind, platform.gpus, base, median_phase(&phases));
                    let injected = fault_worker(&fault);
                    let mut runs: Vec<Run> = Vec::new();
                    let mut severe = false;
                    for (vi, v) in variants.iter().enumerate() {
                        let mut k = 1usize;
                        let decision = loop {
                            while runs.len() < k {
                                let seed = seed_of(&[base, runs.len() as u64]);
                                let records = call(&scenario(fault, seed), &mut runs_total)?;
                                let evidence = RunEvidence::from_records(&records, look_level);
                                if kind == FaultKind::Healthy {
                                    phases.extend(profile_phase(&records));
                                }
                                if runs.is_empty() {
                                    severe = kind == FaultKind::Stall
                                        && evidence.ttft_p99.is_some_and(|p| p.estimate > 9000.0);
                                }
                                let stalls = variants
                                    .iter()
                                    .map(|w| {
                                        (!w.upstream).then(|| {
                                            analyse(
                                                &records,
                                                &[],
                                                &StallOptions {
                                                    ttft_ceiling_ms: w
                                                        .constraints
                                                        .ttft_p99
                                                        .map(|b| b.effective),
                                                    gap_ms: Some(crate::stall::GAP_FLOOR_MS),
                                                },
                                            )
                                        })
                                    })
                                    .collect();
                                runs.push(Run { evidence, stalls });
                            }
                            if v.upstream {
                                break upstream_decision(&v.constraints, &runs[0].evidence);
                            }
                            let evs: Vec<RunEvidence> =
                                runs[..k].iter().map(|r| r.evidence.clone()).collect();
                            let stalls: Vec<Option<StallFinding>> =
                                runs[..k].iter().map(|r| r.stalls[vi].clone()).collect();
                            let verdict = judge_trials(&v.constraints, &evs, &stalls);
                            match until.next(&verdict, k as u32) {
                                Next::Stop(_) => break verdict.overall(),
                                Next::RunAgain(_) => k += 1,
                            }
                        };
                        let used = if v.upstream { 1 } else { k };
                        let t = &mut tallies[vi];
                        t.trials += 1;
                        t.runs += used as u32;
                        t.run_s += runs[..used].iter().map(|r| r.evidence.run_s).sum::<f64>();
                        match decision {
                            Decision::Fail => t.fail += 1,
                            Decision::Inconclusive => t.inconclusive += 1,
                            Decision::Pass => {}
                        }
                        if severe {
                            t.severe += 1;
                            t.severe_detected += u32::from(decision == Decision::Fail);
                        }
                        if let Some(f) = runs[0].stalls[vi]
                            .as_ref()
                            .filter(|f| f.shape.is_attributed())
                        {
                            t.attributed += 1;
                            t.attributed_right +=
                                u32::from(injected.is_some() && f.worker == injected);
                        }
                    }
                }
                progress(&format!(
                    "{} at {}/GPU, {}: {} trials done",
                    platform.profile,
                    per_gpu,
                    kind.label(),
                    n
                ));
                cells.extend(tallies);
            }
        }
    }
    Ok(StudyReport {
        plan: plan.clone(),
        cells,
        calibrated,
        runs: runs_total,
    })
}

/// First profile send to last profile end, as (start, length) in ns.
fn profile_phase(records: &[RequestRecord]) -> Option<(u64, u64)> {
    let profile = || {
        records
            .iter()
            .filter(|r| r.phase == infergate_model::Phase::Profile)
    };
    let start = profile().map(|r| r.send_ns).min()?;
    let end = profile().map(|r| r.end_ns).max()?;
    (end > start).then_some((start, end - start))
}

fn median_phase(phases: &[(u64, u64)]) -> Option<(u64, u64)> {
    if phases.is_empty() {
        return None;
    }
    let mut starts: Vec<u64> = phases.iter().map(|p| p.0).collect();
    let mut lens: Vec<u64> = phases.iter().map(|p| p.1).collect();
    starts.sort_unstable();
    lens.sort_unstable();
    Some((starts[starts.len() / 2], lens[lens.len() / 2]))
}

/// Upstream's single-run rule on point estimates: FAIL when either constraint fails (a missing
/// throughput counts as 0, a missing TTFT as 0 ms, as upstream decodes them).
fn upstream_decision(c: &Constraints, e: &RunEvidence) -> Decision {
    let t = e.throughput.map_or(0.0, |x| x.estimate);
    let p = e.ttft_p99.map_or(0.0, |x| x.estimate);
    let fails = c
        .throughput
        .is_some_and(|b| b.upstream(t) == Decision::Fail)
        || c.ttft_p99.is_some_and(|b| b.upstream(p) == Decision::Fail);
    if fails {
        Decision::Fail
    } else {
        Decision::Pass
    }
}

fn pct(k: u32, n: u32) -> String {
    if n == 0 {
        "–".into()
    } else {
        format!("{:.1} %", 100.0 * f64::from(k) / f64::from(n))
    }
}

impl StudyReport {
    /// The result as Markdown: the main table, the severe-stall detection table and the
    /// calibrated thresholds.
    pub fn to_markdown(&self) -> String {
        let mut out = String::new();
        out.push_str(
            "| platform | per GPU | deployment | rule | trials | FAIL | INCONCLUSIVE | mean runs | mean run time (s) | one worker blamed (right one) |\n\
             |---|---|---|---|---|---|---|---|---|---|\n",
        );
        for c in &self.cells {
            let blamed = if c.rule.starts_with("upstream") {
                "–".to_string()
            } else if matches!(c.kind, FaultKind::Stall | FaultKind::SlowWorker) {
                format!(
                    "{} ({})",
                    pct(c.attributed, c.trials),
                    pct(c.attributed_right, c.trials)
                )
            } else {
                pct(c.attributed, c.trials)
            };
            out.push_str(&format!(
                "| {} | {} | {} | {} | {} | {} | {} | {:.2} | {:.1} | {} |\n",
                c.platform,
                c.per_gpu,
                c.kind.label(),
                c.rule,
                c.trials,
                pct(c.fail, c.trials),
                pct(c.inconclusive, c.trials),
                if c.trials > 0 {
                    f64::from(c.runs) / f64::from(c.trials)
                } else {
                    0.0
                },
                if c.trials > 0 {
                    c.run_s / f64::from(c.trials)
                } else {
                    0.0
                },
                blamed
            ));
        }
        let severe: Vec<&Cell> = self
            .cells
            .iter()
            .filter(|c| c.kind == FaultKind::Stall)
            .collect();
        if !severe.is_empty() {
            out.push_str(
                "\nStalls that pushed the first run's TTFT p99 past 9 s, and how many each rule failed:\n\n\
                 | platform | per GPU | rule | stalls past 9 s | detected |\n|---|---|---|---|---|\n",
            );
            for c in severe {
                out.push_str(&format!(
                    "| {} | {} | {} | {} | {} |\n",
                    c.platform,
                    c.per_gpu,
                    c.rule,
                    c.severe,
                    pct(c.severe_detected, c.severe)
                ));
            }
        }
        if !self.calibrated.is_empty() {
            out.push_str(
                "\nThresholds of the calibrated rule (from separate healthy trials):\n\n\
                 | platform | per GPU | floor (tokens/sec) | ceiling (ms) |\n|---|---|---|---|\n",
            );
            for c in &self.calibrated {
                out.push_str(&format!(
                    "| {} | {} | >= {:.0} | <= {:.0} |\n",
                    c.platform, c.per_gpu, c.floor_tok_s, c.ceiling_ms
                ));
            }
        }
        out
    }

    /// The tally of `rule` on `kind` deployments at `platform` and `per_gpu`.
    pub fn cell(&self, platform: &str, per_gpu: u32, kind: FaultKind, rule: &str) -> Option<&Cell> {
        self.cells.iter().find(|c| {
            c.platform == platform && c.per_gpu == per_gpu && c.kind == kind && c.rule == rule
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::measure::tests::rec;

    /// A toy deployment: healthy TTFT 100–300 ms; a stall makes worker w's requests wait 12 s.
    fn toy(s: &Scenario) -> Result<Vec<RequestRecord>, String> {
        let n = 2000u64;
        Ok((0..n)
            .map(|i| {
                let w = (i % u64::from(s.gpus)) as u32;
                let jitter = (mix(s.seed ^ i) % 200) as f64;
                let send = i as f64 * 5.0;
                let ttft = match s.fault {
                    Fault::Stall { worker, .. }
                        if worker == w && (2000.0..6000.0).contains(&send) =>
                    {
                        12_000.0 + jitter
                    }
                    _ => 100.0 + jitter,
                };
                let tokens = match s.fault {
                    Fault::LowThroughput { .. } => 10,
                    _ => 64,
                };
                let mut r = rec(i, send, ttft, tokens, 2.0);
                r.worker = Some(w.to_string());
                r
            })
            .collect())
    }

    #[test]
    fn the_study_tallies_every_rule_on_a_toy_deployment() {
        let mut plan = StudyPlan::short(5, 5);
        plan.faults = vec![FaultKind::Stall, FaultKind::LowThroughput];
        plan.calibration_trials = 3;
        plan.floor_tok_s = 1000.0;
        let mut lines = Vec::new();
        let report = run_study(&plan, &mut toy, &mut |l| lines.push(l.to_string())).unwrap();
        assert_eq!(lines.len(), 3, "{lines:?}");
        let h = report
            .cell("h100x8", 256, FaultKind::Healthy, "infergate <= 2000")
            .unwrap();
        assert_eq!((h.trials, h.fail), (5, 0), "{h:?}");
        let s = report
            .cell("h100x8", 256, FaultKind::Stall, "infergate <= 2000")
            .unwrap();
        assert_eq!(s.fail, 5, "{s:?}");
        assert_eq!((s.severe, s.severe_detected), (5, 5));
        assert_eq!(
            s.attributed_right, 5,
            "the stall is blamed on the injected worker: {s:?}"
        );
        let u = report
            .cell("h100x8", 256, FaultKind::Stall, "upstream <= 1000")
            .unwrap();
        assert_eq!(u.fail, 5);
        let low = report
            .cell(
                "h100x8",
                256,
                FaultKind::LowThroughput,
                "infergate calibrated",
            )
            .unwrap();
        assert_eq!(
            low.fail, 5,
            "the calibrated floor catches low throughput: {low:?}"
        );
        let md = report.to_markdown();
        assert!(
            md.contains("| h100x8 | 256 | stalled worker | infergate <= 2000 | 5 | 100.0 % |"),
            "{md}"
        );
        assert!(md.contains("Thresholds of the calibrated rule"));
        // Same plan, same numbers.
        let again = run_study(&plan, &mut toy, &mut |_| {}).unwrap();
        assert_eq!(again, report);
    }

    #[test]
    fn bad_plans_and_failing_trials_are_errors() {
        let mut plan = StudyPlan::short(1, 1);
        plan.calibration_trials = 2;
        assert!(run_study(&plan, &mut toy, &mut |_| {})
            .unwrap_err()
            .to_string()
            .contains("calibration trials 2"));
        let plan = StudyPlan::short(1, 0);
        let e = run_study(&plan, &mut |_| Err("boom".into()), &mut |_| {})
            .unwrap_err()
            .to_string();
        assert!(e.contains("boom") && e.contains("h100x8 at 256/GPU"), "{e}");
    }
}
