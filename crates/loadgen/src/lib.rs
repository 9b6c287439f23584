//! The load generator: OpenAI-compatible HTTP/SSE requests, timed on one monotonic clock, driven
//! in closed or open loop, plus the readiness probe.
//!
//! Owns: HTTP connections, the sans-IO SSE decoder, per-request timing and failure
//! classification, the scheduler, and `probe`. Must not: compute statistics (that is
//! `infergate-stats`), decide verdicts, or talk to Kubernetes. The per-chunk hot path does not
//! allocate, lock or log.
