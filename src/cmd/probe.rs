//! `infergate probe` (not built yet).

use crate::Outcome;

/// Arguments of `infergate probe`.
#[derive(Debug, clap::Args)]
pub struct Args {}

/// Run `infergate probe`.
pub fn run(_args: Args) -> anyhow::Result<Outcome> {
    anyhow::bail!("infergate probe is not built yet")
}
