//! The gate: recipes, constraints, environment knobs, verdicts and report formats (CTRF, JUnit).
//!
//! Pure: no HTTP, no async, no Kubernetes. Everything a run needs is validated here before a
//! request is sent.
