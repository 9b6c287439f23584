//! One module per subcommand. Each exposes `Args` (clap) and `run(Args) -> anyhow::Result<Outcome>`.

pub mod bench;
pub mod demo;
pub mod probe;
pub mod sim;
pub mod validate;
