//! The load generator: OpenAI-compatible HTTP/SSE requests, timed on one monotonic clock, driven
//! in closed or open loop, plus the readiness probe.
//!
//! Owns: HTTP connections, the sans-IO SSE decoder, per-request timing and failure
//! classification, the scheduler, and `probe`. Must not: compute statistics (that is
//! `infergate-stats`), decide verdicts, decide what is sent (the workload's [`RequestSource`]
//! does), print, or talk to Kubernetes. The per-chunk hot path does not allocate (beyond
//! appending received text and a timestamp into a pre-sized vector), lock or log.
//!
//! Transport: plain HTTP/1.1 keep-alive connections (hyper 1's client connections), one per
//! in-flight request, `TCP_NODELAY`, each driven inside the task that reads its response (see
//! `conn`). `https` URLs are rejected for now; TLS can be added behind a cargo feature without
//! changing this API. The probe uses hyper-util's pooled client (a few requests, no timing
//! precision needed).
//!
//! # Example
//!
//! ```no_run
//! use infergate_loadgen::{run, CancelToken, LoadPlan, Progress, Secret, Target};
//! use infergate_model::{PlannedRequest, RequestSource, TokenCounter};
//! use std::sync::Arc;
//!
//! struct Fixed(Arc<[u8]>);
//! impl RequestSource for Fixed {
//!     fn path(&self) -> &str { "/v1/chat/completions" }
//!     fn streaming(&self) -> bool { true }
//!     fn planned(&self, index: u64) -> PlannedRequest {
//!         PlannedRequest { index, entry: 0, input_tokens: 1, max_tokens: 16, body: self.0.clone() }
//!     }
//! }
//! struct Words;
//! impl TokenCounter for Words {
//!     fn count_tokens(&self, text: &str) -> u32 { text.split_whitespace().count() as u32 }
//! }
//!
//! # async fn demo() -> Result<(), infergate_loadgen::LoadgenError> {
//! let key = std::env::var("OPENAI_API_KEY").ok().map(Secret::new);
//! let target = Target::parse("http://127.0.0.1:8000", &[], key)?;
//! let body: Arc<[u8]> = br#"{"model":"m","messages":[{"role":"user","content":"hi"}],"stream":true}"#
//!     .as_slice().into();
//! let mut plan = LoadPlan::closed(64, 1000);
//! plan.warmup_count = 64;
//! plan.validate()?; // before anything is sent: bad input exits 2
//!
//! let progress = Arc::new(Progress::new()); // poll `progress.snapshot()` for a progress bar
//! let cancel = CancelToken::new();
//! let on_ctrl_c = cancel.clone();
//! tokio::spawn(async move {
//!     if tokio::signal::ctrl_c().await.is_ok() { on_ctrl_c.cancel(); }
//! });
//! let result = run(target, Arc::new(Fixed(body)), Arc::new(Words), plan, Some(progress), cancel).await?;
//! let profile = result.records.iter().filter(|r| r.phase == infergate_model::Phase::Profile);
//! println!("{} profile requests", profile.count());
//! # Ok(()) }
//! ```

#![deny(missing_docs)]

mod cancel;
mod clock;
mod conn;
mod dns;
mod error;
pub mod openai;
pub mod probe;
mod progress;
mod request;
mod scheduler;
mod scrape;
pub mod sse;
mod target;

pub use cancel::CancelToken;

pub use error::LoadgenError;
pub use infergate_model::{RequestSource, TokenCounter};
pub use probe::{probe, AttemptOutcome, AttemptResult, ProbeConfig, ProbeReport, StuckStage};
pub use progress::{Progress, ProgressSnapshot};
pub use scheduler::{
    run, LatenessSummary, LoadPlan, RecordSink, RunResult, StopReason, MAX_CONCURRENCY,
};
pub use scrape::{scrape_until, Scrape, MAX_SCRAPE_BYTES};
pub use target::{Secret, Target};
