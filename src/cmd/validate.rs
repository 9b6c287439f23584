//! `infergate validate` (not built yet).

use crate::Outcome;

/// Arguments of `infergate validate`.
#[derive(Debug, clap::Args)]
pub struct Args {}

/// Run `infergate validate`.
pub fn run(_args: Args) -> anyhow::Result<Outcome> {
    anyhow::bail!("infergate validate is not built yet")
}
