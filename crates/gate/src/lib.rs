//! The gate: recipes, constraints, environment knobs, the validated plan, the verdict and its
//! report formats (CTRF, JUnit) — everything of AICR's `inference-perf` check that is pure logic.
//!
//! Pure: no HTTP, no async, no Kubernetes, no printing. The only IO is reading a recipe file the
//! caller names. Everything a run needs is validated here ([`GatePlan::build`]) before a request
//! is sent; the probe and the benchmark live in other crates and hand back a [`Measured`].
//!
//! ```
//! use infergate_gate::{evaluate, GateFlags, GatePlan, GateStatus, Measured, Recipe};
//!
//! let recipe = Recipe::load("h100-eks")?;
//! let GatePlan::Run(plan) = GatePlan::build(&recipe, &GateFlags::default(), &|_| None)? else {
//!     unreachable!("h100-eks is gated");
//! };
//! assert_eq!(plan.point.concurrency, 2048);
//! let verdict = evaluate(&plan, Measured { throughput_tok_s: Some(108789.87), ttft_p99_ms: Some(687.5) });
//! assert_eq!(verdict.status, GateStatus::Passed);
//! assert_eq!(verdict.stdout[2], "Throughput constraint: >= 50000 → PASS");
//! # Ok::<(), infergate_gate::GateError>(())
//! ```

#![deny(missing_docs)]

pub mod constraint;
pub mod ctrf;
mod error;
pub mod junit;
pub mod knobs;
pub mod plan;
pub mod recipe;
pub mod verdict;

pub use error::GateError;
pub use plan::{GateFlags, GatePlan, RunPlan};
pub use recipe::Recipe;
pub use verdict::{
    evaluate, evaluate_with_evidence, Evidence, GateStatus, Measured, StalledTrial, Verdict,
};
