//! Behaviours layered on the healthy serving model: cold start, a stalled or permanently slow
//! worker, and per-request faults (HTTP 500/429, a dropped connection, a malformed chunk, slow
//! response headers). Every random decision is a pure function of `(seed, request ticket)`, so
//! the real-time server and the virtual-time simulation fault the same requests.

use crate::rng::{draw, stream, unit};
use crate::SimError;

/// Whose first inference is slow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ColdStartScope {
    /// The first request anywhere starts one cold period for all workers (reference §6.4 4.8:
    /// the first-ever completion took ~42 s, warm calls were fast).
    Deployment,
    /// Each worker's first step waits the full cold start.
    Worker,
}

/// A cold start: the first inference takes `duration_ns` longer, while `/health` and
/// `/v1/models` already answer 200.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ColdStart {
    /// Extra time of the first inference, in nanoseconds.
    pub duration_ns: u64,
    /// Whose first inference.
    pub scope: ColdStartScope,
}

/// One worker's steps run `factor` times slower during `[start_ns, start_ns + duration_ns)`,
/// counted from the deployment's start (reference §6.4 4.2).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Stall {
    /// The stalled worker (0-based).
    pub worker: u32,
    /// Step-time multiplier while stalled (> 1 slows down).
    pub factor: f64,
    /// When the stall begins, nanoseconds from the deployment's start.
    pub start_ns: u64,
    /// How long it lasts, in nanoseconds (`u64::MAX`: until the end).
    pub duration_ns: u64,
}

/// One worker whose steps are always `factor` times slower.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SlowWorker {
    /// The slow worker (0-based).
    pub worker: u32,
    /// Step-time multiplier.
    pub factor: f64,
}

/// Per-request fault rates, each a probability in `[0, 1]`.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct FaultRates {
    /// Answer HTTP 500 (before any engine work).
    pub error_500: f64,
    /// Answer HTTP 429 (before any engine work).
    pub error_429: f64,
    /// Drop the connection mid-stream, after a uniformly drawn number of tokens.
    pub drop: f64,
    /// Replace one uniformly drawn chunk with invalid JSON.
    pub malformed: f64,
}

/// Every behaviour of a simulated deployment beyond the healthy model.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Behaviours {
    /// Slow first inference.
    pub cold_start: Option<ColdStart>,
    /// A temporary per-worker slowdown.
    pub stall: Option<Stall>,
    /// A permanent per-worker slowdown.
    pub slow_worker: Option<SlowWorker>,
    /// A permanent slowdown of every worker (a degraded node: ~1.43 gives ~30 % less
    /// throughput). `None` = 1.0.
    pub node_slowdown: Option<f64>,
    /// Per-request faults.
    pub faults: FaultRates,
    /// Delay before response headers (and before the request reaches a worker), nanoseconds.
    pub header_delay_ns: u64,
}

/// What happens to one request, decided up front from `(seed, ticket)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct FaultDecision {
    /// Answer this HTTP status immediately instead of serving (500 or 429).
    pub reject: Option<u16>,
    /// Drop the connection after this many tokens were sent.
    pub drop_after: Option<u32>,
    /// Send token number `n` (0-based) as a malformed chunk.
    pub malformed_at: Option<u32>,
}

impl FaultRates {
    /// True when no fault can happen.
    pub fn is_none(&self) -> bool {
        self.error_500 == 0.0 && self.error_429 == 0.0 && self.drop == 0.0 && self.malformed == 0.0
    }

    /// Decide the fate of request `ticket` that asks for `max_tokens` tokens.
    pub fn decide(&self, seed: u64, ticket: u64, max_tokens: u32) -> FaultDecision {
        if self.is_none() {
            return FaultDecision::default();
        }
        let u = |k: u64| {
            unit(draw(
                seed,
                stream::FAULT,
                ticket.wrapping_mul(8).wrapping_add(k),
            ))
        };
        let status = u(0);
        let reject = if status < self.error_500 {
            Some(500)
        } else if status < self.error_500 + self.error_429 {
            Some(429)
        } else {
            None
        };
        let n = max_tokens.max(1);
        let pick = |k: u64| ((u(k) * f64::from(n)) as u32).min(n - 1);
        let drop_after = (reject.is_none() && u(1) < self.drop).then(|| pick(2));
        let malformed_at = (reject.is_none() && u(3) < self.malformed).then(|| pick(4));
        FaultDecision {
            reject,
            drop_after,
            malformed_at,
        }
    }
}

impl Behaviours {
    /// The step-time multiplier of `worker` at `now_ns` (from stall and slow worker; the
    /// profile's per-worker speed spread is applied by the caller).
    pub fn slowdown(&self, worker: u32, now_ns: u64) -> f64 {
        let mut f = self.node_slowdown.unwrap_or(1.0);
        if let Some(s) = self.slow_worker {
            if s.worker == worker {
                f *= s.factor;
            }
        }
        if let Some(s) = self.stall {
            if s.worker == worker && now_ns >= s.start_ns && now_ns - s.start_ns < s.duration_ns {
                f *= s.factor;
            }
        }
        f
    }

    /// Check every value against its valid range for a deployment of `workers` workers.
    pub fn validate(&self, workers: u32) -> Result<(), SimError> {
        let worker_ok = |flag: &'static str, w: u32| {
            if w >= workers {
                Err(SimError::invalid(
                    flag,
                    w.to_string(),
                    format!(
                        "0 to {} (the deployment has {workers} workers)",
                        workers.saturating_sub(1)
                    ),
                ))
            } else {
                Ok(())
            }
        };
        let factor_ok = |flag: &'static str, f: f64| {
            if f.is_finite() && f > 0.0 && f <= 10_000.0 {
                Ok(())
            } else {
                Err(SimError::invalid(
                    flag,
                    f.to_string(),
                    "greater than 0 and at most 10000",
                ))
            }
        };
        if let Some(s) = self.stall {
            worker_ok("stall-worker", s.worker)?;
            factor_ok("stall-factor", s.factor)?;
        }
        if let Some(s) = self.slow_worker {
            worker_ok("slow-worker", s.worker)?;
            factor_ok("slow-factor", s.factor)?;
        }
        if let Some(f) = self.node_slowdown {
            factor_ok("node-slow-factor", f)?;
        }
        let f = &self.faults;
        for (flag, r) in [
            ("error-rate-500", f.error_500),
            ("error-rate-429", f.error_429),
            ("drop-rate", f.drop),
            ("malformed-rate", f.malformed),
        ] {
            if !(0.0..=1.0).contains(&r) {
                return Err(SimError::invalid(flag, r.to_string(), "0.0 to 1.0"));
            }
        }
        if f.error_500 + f.error_429 > 1.0 {
            return Err(SimError::invalid(
                "error-rate-500 + error-rate-429",
                (f.error_500 + f.error_429).to_string(),
                "at most 1.0 together",
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fault_rates_are_met_and_decisions_are_seeded() {
        let rates = FaultRates {
            error_500: 0.1,
            error_429: 0.05,
            drop: 0.2,
            malformed: 0.0,
        };
        let n = 20_000u64;
        let ds: Vec<FaultDecision> = (0..n).map(|t| rates.decide(3, t, 16)).collect();
        let c500 = ds.iter().filter(|d| d.reject == Some(500)).count() as f64 / n as f64;
        let c429 = ds.iter().filter(|d| d.reject == Some(429)).count() as f64 / n as f64;
        let drop = ds.iter().filter(|d| d.drop_after.is_some()).count() as f64 / n as f64;
        assert!((c500 - 0.1).abs() < 0.01, "{c500}");
        assert!((c429 - 0.05).abs() < 0.01, "{c429}");
        assert!((drop - 0.2 * 0.85).abs() < 0.015, "{drop}");
        assert!(ds
            .iter()
            .all(|d| d.drop_after.is_none_or(|k| k < 16) && d.malformed_at.is_none()));
        assert_eq!(rates.decide(3, 77, 16), ds[77]);
    }

    #[test]
    fn stall_applies_only_inside_its_window_and_to_its_worker() {
        let b = Behaviours {
            stall: Some(Stall {
                worker: 1,
                factor: 10.0,
                start_ns: 100,
                duration_ns: 50,
            }),
            slow_worker: Some(SlowWorker {
                worker: 2,
                factor: 2.0,
            }),
            ..Behaviours::default()
        };
        assert_eq!(b.slowdown(1, 99), 1.0);
        assert_eq!(b.slowdown(1, 100), 10.0);
        assert_eq!(b.slowdown(1, 150), 1.0);
        assert_eq!(b.slowdown(0, 120), 1.0);
        assert_eq!(b.slowdown(2, 0), 2.0);
        let node = Behaviours {
            node_slowdown: Some(1.5),
            ..b
        };
        assert_eq!(node.slowdown(2, 0), 3.0);
        assert_eq!(node.slowdown(0, 0), 1.5);
    }

    #[test]
    fn validation_names_the_flag_and_the_range() {
        let b = Behaviours {
            stall: Some(Stall {
                worker: 8,
                factor: 5.0,
                start_ns: 0,
                duration_ns: u64::MAX,
            }),
            ..Behaviours::default()
        };
        let e = b.validate(8).unwrap_err().to_string();
        assert!(e.contains("stall-worker") && e.contains("0 to 7"), "{e}");
        let b = Behaviours {
            faults: FaultRates {
                drop: 1.5,
                ..FaultRates::default()
            },
            ..Behaviours::default()
        };
        assert!(b.validate(8).unwrap_err().to_string().contains("drop-rate"));
    }
}
