//! `infergate demo` (not built yet).

use crate::Outcome;

/// Arguments of `infergate demo`.
#[derive(Debug, clap::Args)]
pub struct Args {}

/// Run `infergate demo`.
pub fn run(_args: Args) -> anyhow::Result<Outcome> {
    anyhow::bail!("infergate demo is not built yet")
}
