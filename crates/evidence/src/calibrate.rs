//! Thresholds from a deployment known to be healthy: measure N trials, predict the range of a
//! new healthy run, and put the floor and ceiling outside it with stated margins; render them as
//! a recipe overlay (`kind: RecipeMetadata`, like `recipes/*.yaml`).
//!
//! Rule (docs/verdicts.md, "Calibration"), with the defaults of [`CalibrationOptions`]:
//! - **throughput floor** = 95 % of the one-sided 99 % lower *prediction* bound of a new healthy
//!   run's throughput (`mean − t(0.99, N−1) · s · √(1 + 1/N)`, and never above the lowest trial),
//!   rounded down to 1000 tokens/sec. The gate's own 10 % tolerance comes on top.
//! - **TTFT p99 ceiling** = 2 × the one-sided 99 % upper prediction bound of a new healthy run's
//!   TTFT p99 (never below the highest trial), rounded up to 100 ms. A generous guardrail, as
//!   reference §6.7 asks; the gate's 10 % tolerance comes on top.

use crate::fmt;
use crate::EvidenceError;
use infergate_stats::confidence::student_t_quantile;
use serde::{Deserialize, Serialize};

/// One healthy trial's result.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct HealthyTrial {
    /// Output-token throughput, tokens/sec.
    pub throughput: f64,
    /// TTFT p99, ms.
    pub ttft_p99_ms: f64,
}

/// Margins of the proposal.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct CalibrationOptions {
    /// One-sided confidence of the prediction bounds. Default 0.99.
    pub prediction: f64,
    /// The floor sits this fraction below the lower prediction bound. Default 0.05.
    pub floor_margin: f64,
    /// The ceiling is this multiple of the upper prediction bound. Default 2.0.
    pub ceiling_factor: f64,
    /// Round the floor down to a multiple of this, tokens/sec. Default 1000.
    pub floor_step: f64,
    /// Round the ceiling up to a multiple of this, ms. Default 100.
    pub ceiling_step: f64,
    /// The gate's tolerance, to state the effective bounds. Default 0.10.
    pub tolerance: f64,
}

impl Default for CalibrationOptions {
    fn default() -> Self {
        CalibrationOptions {
            prediction: 0.99,
            floor_margin: 0.05,
            ceiling_factor: 2.0,
            floor_step: 1000.0,
            ceiling_step: 100.0,
            tolerance: 0.10,
        }
    }
}

/// Spread of one quantity over the trials.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Spread {
    /// Mean.
    pub mean: f64,
    /// Sample standard deviation.
    pub sd: f64,
    /// Lowest trial.
    pub min: f64,
    /// Highest trial.
    pub max: f64,
    /// The one-sided prediction bound used (lower for throughput, upper for TTFT).
    pub prediction_bound: f64,
}

/// Proposed thresholds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Proposal {
    /// Trials used.
    pub trials: usize,
    /// Throughput spread, tokens/sec.
    pub throughput: Spread,
    /// TTFT p99 spread, ms.
    pub ttft_p99: Spread,
    /// Proposed floor (`>=`), tokens/sec.
    pub floor_tok_s: f64,
    /// Proposed ceiling (`<=`), ms.
    pub ceiling_ms: f64,
    /// The options used.
    pub options: CalibrationOptions,
    /// The proposal in plain words, one line each.
    pub lines: Vec<String>,
}

fn spread(values: &[f64], t: f64, lower: bool) -> Spread {
    let n = values.len() as f64;
    let mean = values.iter().sum::<f64>() / n;
    let sd = (values.iter().map(|x| (x - mean) * (x - mean)).sum::<f64>() / (n - 1.0)).sqrt();
    let min = values.iter().copied().fold(f64::INFINITY, f64::min);
    let max = values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let half = t * sd * (1.0 + 1.0 / n).sqrt();
    let prediction_bound = if lower {
        (mean - half).min(min)
    } else {
        (mean + half).max(max)
    };
    Spread {
        mean,
        sd,
        min,
        max,
        prediction_bound,
    }
}

/// Proposes a floor and a ceiling from at least 3 healthy trials.
pub fn propose(
    trials: &[HealthyTrial],
    opts: &CalibrationOptions,
) -> Result<Proposal, EvidenceError> {
    if trials.len() < 3 {
        return Err(EvidenceError::TooFew {
            what: "healthy trials",
            got: trials.len(),
            need: 3,
        });
    }
    if let Some(t) = trials.iter().find(|t| {
        !(t.throughput.is_finite()
            && t.throughput > 0.0
            && t.ttft_p99_ms.is_finite()
            && t.ttft_p99_ms >= 0.0)
    }) {
        return Err(EvidenceError::invalid(
            "healthy trial",
            format!("{t:?}"),
            "a positive throughput and a TTFT p99 ≥ 0",
        ));
    }
    if !(opts.prediction > 0.5 && opts.prediction < 1.0) {
        return Err(EvidenceError::invalid(
            "prediction",
            opts.prediction,
            "between 0.5 and 1 (e.g. 0.99)",
        ));
    }
    if !(0.0..1.0).contains(&opts.floor_margin)
        || opts.ceiling_factor.is_nan()
        || opts.ceiling_factor < 1.0
    {
        return Err(EvidenceError::invalid(
            "margins",
            format!(
                "floor {} / ceiling ×{}",
                opts.floor_margin, opts.ceiling_factor
            ),
            "a floor margin from 0 to below 1 and a ceiling factor ≥ 1",
        ));
    }
    if !(opts.floor_step > 0.0 && opts.ceiling_step > 0.0) {
        return Err(EvidenceError::invalid(
            "rounding steps",
            format!("{} / {}", opts.floor_step, opts.ceiling_step),
            "positive",
        ));
    }
    let df = (trials.len() - 1) as f64;
    let t = student_t_quantile(opts.prediction, df).ok_or_else(|| {
        EvidenceError::invalid(
            "prediction",
            opts.prediction,
            "a level the t distribution has",
        )
    })?;
    let tput: Vec<f64> = trials.iter().map(|x| x.throughput).collect();
    let ttft: Vec<f64> = trials.iter().map(|x| x.ttft_p99_ms).collect();
    let throughput = spread(&tput, t, true);
    let ttft_p99 = spread(&ttft, t, false);
    let floor_tok_s = (throughput.prediction_bound.max(0.0) * (1.0 - opts.floor_margin)
        / opts.floor_step)
        .floor()
        * opts.floor_step;
    let ceiling_ms = (ttft_p99.prediction_bound * opts.ceiling_factor / opts.ceiling_step).ceil()
        * opts.ceiling_step;
    let pred = fmt::pct(opts.prediction * 100.0);
    let lines = vec![
        format!(
            "{} healthy trials: throughput {:.0} ± {:.0} tokens/sec (lowest {:.0}), TTFT p99 {:.0} ± {:.0} ms (highest {:.0})",
            trials.len(),
            throughput.mean,
            throughput.sd,
            throughput.min,
            ttft_p99.mean,
            ttft_p99.sd,
            ttft_p99.max
        ),
        format!(
            "throughput floor >= {floor_tok_s:.0}: {} below the {pred} lower prediction bound of a new healthy run ({:.0}), rounded down to {:.0}; with the gate's {} tolerance a run fails below {:.0} tokens/sec",
            fmt::pct(opts.floor_margin * 100.0),
            throughput.prediction_bound,
            opts.floor_step,
            fmt::pct(opts.tolerance * 100.0),
            floor_tok_s * (1.0 - opts.tolerance)
        ),
        format!(
            "TTFT p99 ceiling <= {ceiling_ms:.0}: {}× the {pred} upper prediction bound of a new healthy run ({:.0} ms), rounded up to {:.0} ms; with the gate's {} tolerance a run fails above {:.0} ms",
            opts.ceiling_factor,
            ttft_p99.prediction_bound,
            opts.ceiling_step,
            fmt::pct(opts.tolerance * 100.0),
            ceiling_ms * (1.0 + opts.tolerance)
        ),
    ];
    Ok(Proposal {
        trials: trials.len(),
        throughput,
        ttft_p99,
        floor_tok_s,
        ceiling_ms,
        options: *opts,
        lines,
    })
}

/// What the overlay is called and what it inherits.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OverlayMeta {
    /// `metadata.name` of the overlay.
    pub name: String,
    /// `spec.base`: the recipe measured (its other constraints are inherited).
    pub base: String,
    /// Where and how it was measured, for the header comment (one line).
    pub measured_on: String,
}

/// YAML double-quoted scalar.
fn yaml_str(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            c if c.is_control() => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// The proposal as a recipe overlay: `spec.base` names the measured recipe, and only the two
/// thresholds are overridden (the gate merges constraints by name, the overlay's value wins).
pub fn render_overlay(p: &Proposal, meta: &OverlayMeta) -> String {
    let mut out = String::new();
    out.push_str("# Proposed by `infergate calibrate` from healthy trials; review before use.\n");
    let one_line = |s: &str| s.replace(['\n', '\r'], " ");
    out.push_str(&format!("# Measured on: {}\n", one_line(&meta.measured_on)));
    for l in &p.lines {
        out.push_str(&format!("# {}\n", one_line(l)));
    }
    out.push_str("kind: RecipeMetadata\napiVersion: aicr.run/v1beta1\nmetadata:\n");
    out.push_str(&format!("  name: {}\n", yaml_str(&meta.name)));
    out.push_str("spec:\n");
    out.push_str(&format!("  base: {}\n", yaml_str(&meta.base)));
    out.push_str("  validation:\n    performance:\n      checks:\n        - inference-perf\n      constraints:\n");
    out.push_str(&format!(
        "        - name: inference-throughput\n          value: \">= {:.0}\"\n",
        p.floor_tok_s
    ));
    out.push_str(&format!(
        "        - name: inference-ttft-p99\n          value: \"<= {:.0}\"\n",
        p.ceiling_ms
    ));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn trials() -> Vec<HealthyTrial> {
        (0..20)
            .map(|i| HealthyTrial {
                throughput: 117_000.0 + ((i * 37) % 11) as f64 * 300.0 - 1500.0,
                ttft_p99_ms: 690.0 + ((i * 13) % 7) as f64 * 5.0,
            })
            .collect()
    }

    #[test]
    fn floor_sits_below_every_healthy_trial_and_ceiling_above() {
        let p = propose(&trials(), &CalibrationOptions::default()).unwrap();
        assert!(p.floor_tok_s < p.throughput.min * 0.96, "{p:#?}");
        assert!(p.floor_tok_s % 1000.0 == 0.0);
        // 30 % low is caught: 0.7 × the mean is below the effective floor.
        assert!(0.7 * p.throughput.mean < p.floor_tok_s * 0.9, "{p:#?}");
        assert!(
            p.ceiling_ms >= 2.0 * p.ttft_p99.max && p.ceiling_ms % 100.0 == 0.0,
            "{p:#?}"
        );
        assert_eq!(p.lines.len(), 3);
        assert!(p.lines[1].starts_with(&format!("throughput floor >= {:.0}", p.floor_tok_s)));
    }

    #[test]
    fn overlay_is_a_recipe_with_the_two_thresholds() {
        let p = propose(&trials(), &CalibrationOptions::default()).unwrap();
        let y = render_overlay(
            &p,
            &OverlayMeta {
                name: "h100-eks-calibrated".into(),
                base: "h100-eks".into(),
                measured_on: "sim h100x8\nseed 1".into(),
            },
        );
        assert!(
            y.contains("kind: RecipeMetadata\napiVersion: aicr.run/v1beta1\n"),
            "{y}"
        );
        assert!(y.contains("  base: \"h100-eks\"\n"));
        assert!(y.contains(&format!("value: \">= {:.0}\"", p.floor_tok_s)));
        assert!(y.contains(&format!("value: \"<= {:.0}\"", p.ceiling_ms)));
        assert!(
            y.contains("# Measured on: sim h100x8 seed 1\n"),
            "newlines cannot escape the comment: {y}"
        );
    }

    #[test]
    fn too_few_or_bad_trials_are_refused() {
        let e = propose(&trials()[..2], &CalibrationOptions::default())
            .unwrap_err()
            .to_string();
        assert!(e.contains("need at least 3"), "{e}");
        let mut bad = trials();
        bad[0].throughput = f64::NAN;
        assert!(propose(&bad, &CalibrationOptions::default()).is_err());
    }
}
