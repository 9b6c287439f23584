//! Live counters a progress bar can poll: plain atomics, updated once per request (never per
//! chunk), read without locking.
//!
//! Must not: carry per-request data or block. Counts include warmup requests.

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering::Relaxed};

/// Counters shared between the running load and whoever displays progress.
#[derive(Debug, Default)]
pub struct Progress {
    completed: AtomicU64,
    failed: AtomicU64,
    in_flight: AtomicU32,
    output_tokens: AtomicU64,
}

/// A copy of the counters at one moment.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ProgressSnapshot {
    /// Requests finished successfully (warmup included).
    pub completed: u64,
    /// Requests finished with a failure (warmup included).
    pub failed: u64,
    /// Requests sent and not yet finished.
    pub in_flight: u32,
    /// Output tokens of finished successful requests (server `usage` when sent, else the client's
    /// count).
    pub output_tokens: u64,
}

impl Progress {
    /// Fresh counters, all zero.
    pub fn new() -> Self {
        Self::default()
    }

    /// Read every counter (each individually consistent; no lock).
    pub fn snapshot(&self) -> ProgressSnapshot {
        ProgressSnapshot {
            completed: self.completed.load(Relaxed),
            failed: self.failed.load(Relaxed),
            in_flight: self.in_flight.load(Relaxed),
            output_tokens: self.output_tokens.load(Relaxed),
        }
    }

    /// Requests in flight now.
    pub fn in_flight(&self) -> u32 {
        self.in_flight.load(Relaxed)
    }

    pub(crate) fn started(&self) {
        self.in_flight.fetch_add(1, Relaxed);
    }

    pub(crate) fn finished(&self, ok: bool, output_tokens: u32) {
        self.in_flight.fetch_sub(1, Relaxed);
        if ok {
            self.completed.fetch_add(1, Relaxed);
            self.output_tokens
                .fetch_add(u64::from(output_tokens), Relaxed);
        } else {
            self.failed.fetch_add(1, Relaxed);
        }
    }
}
