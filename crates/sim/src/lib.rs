//! A simulated Dynamo deployment: a router in front of continuous-batching vLLM-like workers,
//! served over HTTP as an OpenAI-compatible endpoint, or run in virtual time.
//!
//! Owns: the serving model ([`engine`], [`router`], [`profile`], [`faults`]), the discrete-event
//! simulation of a client population against it ([`virtual_time`]), and the real-time HTTP
//! server ([`server`]). Must not: depend on any infergate crate except `infergate-model` (for
//! the virtual-time records), print anything, or share wire types with the load generator — a
//! misreading of the OpenAI stream format must not be mirrored on both sides.
//!
//! In-process use:
//! ```no_run
//! # async fn demo() -> Result<(), infergate_sim::SimError> {
//! let config = infergate_sim::SimConfig::for_profile("h100x8")?.with_gpus_free(2)?;
//! let server = infergate_sim::server::start(config, "127.0.0.1:0".parse().unwrap()).await?;
//! println!("listening on http://{}", server.local_addr());
//! server.shutdown().await;
//! # Ok(()) }
//! ```

pub mod config;
pub mod engine;
pub mod faults;
mod openai;
pub mod profile;
pub mod rng;
pub mod router;
pub mod server;
pub mod virtual_time;

pub use config::{parse_duration, SimConfig, DEFAULT_MODEL};
pub use faults::{Behaviours, ColdStart, ColdStartScope, FaultRates, SlowWorker, Stall};
pub use profile::{EngineParams, Profile};
pub use router::RouterKind;

/// Errors of this crate. Messages name the bad value and what would be valid.
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    /// A setting is out of range.
    #[error("invalid {name} {value}: expected {valid}")]
    Invalid {
        /// The setting (its command-line flag name).
        name: &'static str,
        /// The value given.
        value: String,
        /// What would be accepted.
        valid: String,
    },
    /// No such profile.
    #[error("unknown profile {name:?}: expected one of {valid}")]
    UnknownProfile {
        /// The name given.
        name: String,
        /// The built-in profiles.
        valid: String,
    },
    /// The listening socket could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address asked for.
        addr: std::net::SocketAddr,
        /// The OS error.
        source: std::io::Error,
    },
}

impl SimError {
    /// An [`SimError::Invalid`] for `name` = `value`, valid `valid`.
    pub fn invalid(name: &'static str, value: impl Into<String>, valid: impl Into<String>) -> Self {
        SimError::Invalid {
            name,
            value: value.into(),
            valid: valid.into(),
        }
    }
}
