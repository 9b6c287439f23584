//! The one error type of the gate. Every variant is bad input (a recipe, a constraint, a knob or a
//! flag), so the CLI maps all of them to exit 2, before any request is sent. Each message names
//! the offending value and what would have been accepted.

use thiserror::Error;

/// Something the user gave the gate is malformed. Always detected before any request is sent.
#[derive(Debug, Error, Clone, PartialEq)]
pub enum GateError {
    /// `--recipe` named neither a built-in recipe nor a readable file.
    #[error(
        "recipe {spec:?} is neither a built-in recipe ({builtins}) nor a readable file: {reason}"
    )]
    RecipeNotFound {
        /// What was passed to `--recipe`.
        spec: String,
        /// The built-in names, comma-separated.
        builtins: String,
        /// Why the file could not be read.
        reason: String,
    },
    /// A recipe file could not be read.
    #[error("cannot read recipe file {path}: {reason}")]
    RecipeRead {
        /// The file.
        path: String,
        /// The IO error, or the size limit that was exceeded.
        reason: String,
    },
    /// A recipe is not valid YAML, or its shape is wrong.
    #[error("recipe {source_name}: {problem}")]
    RecipeInvalid {
        /// The file path or `builtin:<name>`.
        source_name: String,
        /// What is wrong, with the valid choices where there are any.
        problem: String,
    },
    /// A threshold or recipe input constraint is malformed.
    #[error("{0}")]
    Constraint(String),
    /// An environment knob or its flag is set to something invalid.
    #[error("{source_name}={value:?} is invalid: {expected}")]
    Knob {
        /// The variable (`AICR_INFERENCE_PERF_...`) or flag (`--...`) that carried the value.
        source_name: String,
        /// The value as given.
        value: String,
        /// What would be valid.
        expected: String,
    },
    /// The operating point cannot be computed from what was given.
    #[error("{0}")]
    OperatingPoint(String),
}
