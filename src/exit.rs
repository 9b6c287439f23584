//! Exit codes and the two error shapes the top level distinguishes: bad input (exit 2, detected
//! before any request is sent) and everything else.
//!
//! | code | meaning |
//! |---|---|
//! | 0 | done / gate passed |
//! | 1 | the run failed / gate failed |
//! | 2 | bad input, or the check was skipped |
//! | 3 | could not measure (endpoint never ready, run aborted) |
//! | 4 | INVALID: the load generator, not the deployment, was the bottleneck |
//! | 5 | INCONCLUSIVE: the measurement could not decide a constraint with confidence |

use std::fmt;

/// Done, or gate passed.
pub const OK: u8 = 0;
/// The run failed, or the gate failed.
pub const FAILED: u8 = 1;
/// Bad input (flags, recipe, knobs), or the check was skipped.
pub const BAD_INPUT: u8 = 2;
/// Could not measure: the endpoint never became ready, or the run was aborted.
pub const COULD_NOT_MEASURE: u8 = 3;
/// The load generator was the bottleneck; the verdict is INVALID.
pub const INVALID: u8 = 4;
/// A constraint could not be decided with confidence.
pub const INCONCLUSIVE: u8 = 5;

/// `--version` text: crate version plus the git commit the binary was built from, when known.
pub const VERSION_LONG: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (",
    env!("INFERGATE_GIT_COMMIT"),
    ")"
);

/// The git commit this binary was built from (`unknown` outside a checkout).
pub const GIT_COMMIT: &str = env!("INFERGATE_GIT_COMMIT");

/// How a command ended, when it ended without an error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Exit 0.
    Ok,
    /// Exit 1.
    Failed,
    /// Exit 2 (a skip is reported as its own outcome so the message is not an error).
    Skipped,
    /// Exit 3.
    CouldNotMeasure,
    /// Exit 4.
    Invalid,
    /// Exit 5.
    Inconclusive,
}

impl Outcome {
    /// The process exit code.
    pub fn code(self) -> u8 {
        match self {
            Outcome::Ok => OK,
            Outcome::Failed => FAILED,
            Outcome::Skipped => BAD_INPUT,
            Outcome::CouldNotMeasure => COULD_NOT_MEASURE,
            Outcome::Invalid => INVALID,
            Outcome::Inconclusive => INCONCLUSIVE,
        }
    }
}

/// An error in what the user gave us (a flag, a recipe, a knob, a file). Exit code 2.
///
/// Wrap library validation errors in it (`.map_err(BadInput::from_err)`) so the top level can
/// tell them apart from run-time failures.
#[derive(Debug)]
pub struct BadInput(pub String);

impl BadInput {
    /// Wrap any displayable error as bad input, keeping its message.
    pub fn from_err(e: impl fmt::Display) -> anyhow::Error {
        anyhow::Error::new(BadInput(e.to_string()))
    }
}

impl fmt::Display for BadInput {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for BadInput {}

/// Exit code for an error that escaped a command: 2 for bad input anywhere in the chain, else 1.
pub fn code_for_error(err: &anyhow::Error) -> u8 {
    if err.chain().any(|e| e.downcast_ref::<BadInput>().is_some()) {
        BAD_INPUT
    } else {
        FAILED
    }
}
