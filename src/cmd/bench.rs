//! `infergate bench` (not built yet).

use crate::Outcome;

/// Arguments of `infergate bench`.
#[derive(Debug, clap::Args)]
pub struct Args {}

/// Run `infergate bench`.
pub fn run(_args: Args) -> anyhow::Result<Outcome> {
    anyhow::bail!("infergate bench is not built yet")
}
