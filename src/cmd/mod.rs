//! One module per subcommand. Each exposes `Args` (clap) and `run(Args) -> anyhow::Result<Outcome>`.

pub mod bench;
pub mod calibrate;
pub mod common;
pub mod compare;
pub mod demo;
pub mod probe;
pub mod report;
pub mod sim;
pub mod study;
pub mod sweep;
pub mod validate;
