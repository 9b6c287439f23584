//! The run's one monotonic clock: nanoseconds since the run's epoch.
//!
//! Uses `tokio::time::Instant` so tests can pause and advance time. Must not be mixed with wall
//! clock time; the wall-clock anchor of the epoch is taken once, by the scheduler.

use infergate_model::Nanos;
use tokio::time::Instant;

/// Converts instants to [`Nanos`] since the epoch, and back.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Clock {
    epoch: Instant,
}

impl Clock {
    /// A clock whose epoch is now.
    pub fn start() -> Self {
        Clock {
            epoch: Instant::now(),
        }
    }

    /// Nanoseconds from the epoch to now.
    pub fn now_ns(&self) -> Nanos {
        self.ns_at(Instant::now())
    }

    /// Nanoseconds from the epoch to `t` (0 if `t` is before it).
    pub fn ns_at(&self, t: Instant) -> Nanos {
        u64::try_from(t.saturating_duration_since(self.epoch).as_nanos()).unwrap_or(u64::MAX)
    }

    /// The instant `ns` nanoseconds after the epoch.
    pub fn instant_at(&self, ns: Nanos) -> Instant {
        self.epoch + std::time::Duration::from_nanos(ns)
    }
}
