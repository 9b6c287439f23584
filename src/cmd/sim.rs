//! `infergate sim` (not built yet).

use crate::Outcome;

/// Arguments of `infergate sim`.
#[derive(Debug, clap::Args)]
pub struct Args {}

/// Run `infergate sim`.
pub fn run(_args: Args) -> anyhow::Result<Outcome> {
    anyhow::bail!("infergate sim is not built yet")
}
