//! The load generator's self-check: was the client, not the deployment, the bottleneck?
//!
//! A starved client under-drives the deployment (reference §6.4 4.3: AIPerf on a 4-vCPU node
//! held ~446 of 2048 requests in flight, and the gate blamed the cluster). When any check below
//! trips, the verdict is INVALID (exit 4) with the reason, never FAIL. Each check uses numbers
//! the caller measured: in-flight samples from the scheduler, send lateness from the records,
//! process CPU time (the caller reads `/proc/self/stat`), event-loop lag (the caller's probe
//! task), and optionally a loopback calibration of the client's own timing error. Thresholds
//! are [`ClientThresholds`], documented in docs/verdicts.md ("Client self-check").

use crate::fmt;
use crate::rule::Interval;
use infergate_model::{Nanos, Phase, RequestRecord};
use infergate_stats::percentile;
use serde::{Deserialize, Serialize};

/// The client's CPU use over the run, as the caller measured it.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct CpuUsage {
    /// User + system CPU seconds the process used during the run (`utime + stime` deltas of
    /// `/proc/self/stat`, divided by the clock tick rate).
    pub cpu_s: f64,
    /// Wall seconds over which `cpu_s` was measured.
    pub wall_s: f64,
    /// CPU cores the process may use (`std::thread::available_parallelism`, or the cgroup quota
    /// when lower).
    pub cores: f64,
}

impl CpuUsage {
    /// Share of the available CPU used, 0–1 (`None` when not measurable).
    pub fn share(&self) -> Option<f64> {
        (self.wall_s > 0.0 && self.cores > 0.0 && self.cpu_s.is_finite())
            .then(|| self.cpu_s / (self.wall_s * self.cores))
    }
}

/// Everything the self-check looks at. Empty vectors and `None` skip their check.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ClientObservations {
    /// Closed loop: the concurrency to hold. `None` in open loop.
    pub target_in_flight: Option<u32>,
    /// `(time, requests in flight)` from the scheduler (run clock).
    pub in_flight_samples: Vec<(Nanos, u32)>,
    /// When the target should have been held: from the first profile send to the last send
    /// (after which the run drains). See [`steady_window`].
    pub steady_window: Option<(Nanos, Nanos)>,
    /// Open loop: `send − scheduled` of each profile request, ns. See [`send_lateness_ns`].
    pub send_lateness_ns: Vec<u64>,
    /// Open loop with a concurrency cap: the lateness includes waiting for a free slot, which
    /// the server's speed decides; it is then reported but never blamed on the client.
    pub lateness_includes_slot_wait: bool,
    /// CPU use of the client process.
    pub cpu: Option<CpuUsage>,
    /// Event-loop lag samples, ns: how late a periodic timer task woke up.
    pub loop_lag_ns: Vec<u64>,
    /// Share of profile requests that failed, 0–1. With many failures an in-flight shortfall is
    /// the server's doing (fast refusals), not the client's.
    pub error_share: f64,
    /// Loopback calibration of this machine, when run.
    pub calibration: Option<LoopbackCalibration>,
    /// The effective TTFT ceiling, ms, for the calibration check.
    pub ttft_ceiling_ms: Option<f64>,
}

/// The self-check's thresholds.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ClientThresholds {
    /// Closed loop: the mean in flight over the steady window must be at least this share of
    /// the target. Default 0.90.
    pub min_in_flight_share: f64,
    /// ... unless at least this share of requests failed (the server refused). Default 0.05.
    pub server_error_share: f64,
    /// Open loop: p99 send lateness must be at most this, ms. Default 10.
    pub max_lateness_p99_ms: f64,
    /// The client may use at most this share of its available CPU. Default 0.95.
    pub max_cpu_share: f64,
    /// p99 event-loop lag must be at most this, ms, or `max_timing_error_share` of the TTFT
    /// ceiling when that is larger. Default 10.
    pub max_loop_lag_p99_ms: f64,
    /// The calibrated p99 timing error must be at most this share of the TTFT ceiling.
    /// Default 0.05.
    pub max_timing_error_share: f64,
}

impl Default for ClientThresholds {
    fn default() -> Self {
        ClientThresholds {
            min_in_flight_share: 0.90,
            server_error_share: 0.05,
            max_lateness_p99_ms: 10.0,
            max_cpu_share: 0.95,
            max_loop_lag_p99_ms: 10.0,
            max_timing_error_share: 0.05,
        }
    }
}

/// One check's result.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Check {
    /// `in_flight`, `send_lateness`, `cpu`, `event_loop_lag`, `timing_error`.
    pub name: &'static str,
    /// The measured value (in the check's unit).
    pub value: f64,
    /// The limit it was compared with.
    pub limit: f64,
    /// True when the client was fine on this count.
    pub ok: bool,
    /// One sentence with the numbers.
    pub detail: String,
}

/// Whether the client could have been the bottleneck.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "verdict", content = "reason")]
pub enum ClientVerdict {
    /// No check tripped: the measurement is the deployment's.
    Healthy,
    /// The client limited the measurement; the gate's verdict is INVALID with this reason.
    Bottleneck(String),
}

/// The self-check's outcome: the verdict and every check run.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SelfCheck {
    /// Healthy or bottleneck.
    pub verdict: ClientVerdict,
    /// Each check that had data.
    pub checks: Vec<Check>,
}

/// Open-loop send lateness of the profile requests, ns (`send − scheduled`, 0 when early).
pub fn send_lateness_ns(records: &[RequestRecord]) -> Vec<u64> {
    records
        .iter()
        .filter(|r| r.phase == Phase::Profile)
        .filter_map(|r| r.scheduled_ns.map(|s| r.send_ns.saturating_sub(s)))
        .collect()
}

/// First profile send to last profile send: the span over which a closed loop must hold its
/// target (the drain after the last send is excluded).
pub fn steady_window(records: &[RequestRecord]) -> Option<(Nanos, Nanos)> {
    let sends = records
        .iter()
        .filter(|r| r.phase == Phase::Profile)
        .map(|r| r.send_ns);
    let (mut a, mut b) = (u64::MAX, 0u64);
    for t in sends {
        a = a.min(t);
        b = b.max(t);
    }
    (b > a).then_some((a, b))
}

fn p99_ms(ns: &[u64]) -> Option<f64> {
    let v: Vec<f64> = ns.iter().map(|&x| x as f64 / 1e6).collect();
    percentile(&v, 99.0)
}

/// Runs every check that has data and decides (the rules in [`ClientThresholds`]).
pub fn self_check(obs: &ClientObservations, th: &ClientThresholds) -> SelfCheck {
    let mut checks = Vec::new();
    let mut blame: Vec<String> = Vec::new();

    if let (Some(target), Some((a, b))) = (obs.target_in_flight, obs.steady_window) {
        let inside: Vec<f64> = obs
            .in_flight_samples
            .iter()
            .filter(|(t, _)| *t >= a && *t <= b)
            .map(|&(_, n)| f64::from(n))
            .collect();
        if !inside.is_empty() && target > 0 {
            let mean = inside.iter().sum::<f64>() / inside.len() as f64;
            let share = mean / f64::from(target);
            let server_refused = obs.error_share >= th.server_error_share;
            let ok = share >= th.min_in_flight_share || server_refused;
            let detail = format!(
                "the client held {mean:.0} requests in flight on average against a target of \
                 {target} ({}; at least {} required){}",
                fmt::pct(share * 100.0),
                fmt::pct(th.min_in_flight_share * 100.0),
                if server_refused && share < th.min_in_flight_share {
                    format!(
                        "; not blamed on the client: {} of requests failed, so the server \
                         limited it",
                        fmt::pct(obs.error_share * 100.0)
                    )
                } else {
                    String::new()
                }
            );
            if !ok {
                blame.push(detail.clone());
            }
            checks.push(Check {
                name: "in_flight",
                value: share,
                limit: th.min_in_flight_share,
                ok,
                detail,
            });
        }
    }

    if let Some(p99) = p99_ms(&obs.send_lateness_ns) {
        let over = p99 > th.max_lateness_p99_ms;
        let ok = !over || obs.lateness_includes_slot_wait;
        let detail = format!(
            "p99 open-loop send lateness {p99:.2} ms (at most {:.2} ms allowed){}",
            th.max_lateness_p99_ms,
            if over && obs.lateness_includes_slot_wait {
                "; not blamed on the client: it includes waiting for a free slot under the \
                 concurrency cap"
            } else {
                ""
            }
        );
        if !ok {
            blame.push(detail.clone());
        }
        checks.push(Check {
            name: "send_lateness",
            value: p99,
            limit: th.max_lateness_p99_ms,
            ok,
            detail,
        });
    }

    if let Some((cpu, share)) = obs.cpu.and_then(|c| c.share().map(|s| (c, s))) {
        let ok = share < th.max_cpu_share;
        let detail = format!(
            "the client used {:.1} CPU-seconds in {:.1} s on {:.0} cores ({} of what it may use; \
             under {} required)",
            cpu.cpu_s,
            cpu.wall_s,
            cpu.cores,
            fmt::pct(share * 100.0),
            fmt::pct(th.max_cpu_share * 100.0)
        );
        if !ok {
            blame.push(detail.clone());
        }
        checks.push(Check {
            name: "cpu",
            value: share,
            limit: th.max_cpu_share,
            ok,
            detail,
        });
    }

    if let Some(p99) = p99_ms(&obs.loop_lag_ns) {
        // A late wake-up delays when a timestamp is taken by at most the lag, so lag only
        // matters against the margin the verdict is judged on: with a TTFT ceiling the limit is
        // the larger of the fixed bound and the timing-error share of the ceiling.
        // Without a TTFT ceiling only throughput is judged, whose window a late wake-up moves
        // by at most the lag: the margin is then the same share of the steady window.
        let margin_ms = match obs.ttft_ceiling_ms.filter(|c| c.is_finite() && *c > 0.0) {
            Some(c) => th.max_timing_error_share * c,
            None => obs.steady_window.map_or(0.0, |(a, b)| {
                th.max_timing_error_share * b.saturating_sub(a) as f64 / 1e6
            }),
        };
        let limit = th.max_loop_lag_p99_ms.max(margin_ms);
        let ok = p99 <= limit;
        let detail = format!("p99 event-loop lag {p99:.2} ms (at most {limit:.2} ms allowed)");
        if !ok {
            blame.push(detail.clone());
        }
        checks.push(Check {
            name: "event_loop_lag",
            value: p99,
            limit,
            ok,
            detail,
        });
    }

    if let (Some(cal), Some(ceiling)) = (&obs.calibration, obs.ttft_ceiling_ms) {
        let limit = th.max_timing_error_share * ceiling;
        let ok = cal.error_p99_ms <= limit;
        let detail = format!(
            "the client's own TTFT error on this machine (loopback, {} in flight) is {:.2} ms at \
             p99 (at most {:.2} ms allowed: {} of the {:.0} ms ceiling)",
            cal.concurrency,
            cal.error_p99_ms,
            limit,
            fmt::pct(th.max_timing_error_share * 100.0),
            ceiling
        );
        if !ok {
            blame.push(detail.clone());
        }
        checks.push(Check {
            name: "timing_error",
            value: cal.error_p99_ms,
            limit,
            ok,
            detail,
        });
    }

    let verdict = if blame.is_empty() {
        ClientVerdict::Healthy
    } else {
        ClientVerdict::Bottleneck(format!(
            "the load generator was the bottleneck, so the measurement says nothing about the \
             deployment: {}",
            blame.join("; ")
        ))
    };
    SelfCheck { verdict, checks }
}

/// The client's own timing error on this machine, measured against a loopback server whose
/// time to first token is known exactly (the CLI's `calibrate --loopback` step): the server
/// sends the first token `true_ttft_ms` after it reads the request, and the error of each
/// request is what the client measured minus that.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LoopbackCalibration {
    /// Requests measured.
    pub requests: u64,
    /// Requests kept in flight while measuring (the run's concurrency, so the client is as busy
    /// as in the real run).
    pub concurrency: u32,
    /// The server's exact TTFT, ms.
    pub true_ttft_ms: f64,
    /// Median error, ms.
    pub error_p50_ms: f64,
    /// p99 error, ms.
    pub error_p99_ms: f64,
    /// Largest error, ms.
    pub error_max_ms: f64,
}

impl LoopbackCalibration {
    /// Summarises measured TTFTs (ms) against the server's exact TTFT. `None` without data.
    pub fn from_measurements(
        true_ttft_ms: f64,
        measured_ttft_ms: &[f64],
        concurrency: u32,
    ) -> Option<LoopbackCalibration> {
        let mut err: Vec<f64> = measured_ttft_ms
            .iter()
            .filter(|x| x.is_finite())
            .map(|x| x - true_ttft_ms)
            .collect();
        if err.is_empty() {
            return None;
        }
        err.sort_unstable_by(f64::total_cmp);
        Some(LoopbackCalibration {
            requests: err.len() as u64,
            concurrency,
            true_ttft_ms,
            error_p50_ms: infergate_stats::percentile_sorted(&err, 50.0)?,
            error_p99_ms: infergate_stats::percentile_sorted(&err, 99.0)?,
            error_max_ms: *err.last()?,
        })
    }

    /// A TTFT interval widened by the p99 timing error on both sides, so the verdict accounts
    /// for what the client itself adds.
    pub fn widen(&self, interval: &Interval) -> Interval {
        interval.widened(self.error_p99_ms.abs())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn closed(samples: Vec<(Nanos, u32)>) -> ClientObservations {
        ClientObservations {
            target_in_flight: Some(2048),
            in_flight_samples: samples,
            steady_window: Some((0, 100)),
            ..ClientObservations::default()
        }
    }

    #[test]
    fn a_healthy_closed_loop_passes() {
        let obs = closed((0..=100).map(|t| (t, 2048 - (t % 3) as u32)).collect());
        let c = self_check(&obs, &ClientThresholds::default());
        assert_eq!(c.verdict, ClientVerdict::Healthy);
        assert_eq!(c.checks.len(), 1);
    }

    #[test]
    fn a_starved_closed_loop_is_a_bottleneck() {
        // Reference §6.4 4.3: ~446 of 2048 in flight.
        let obs = closed((0..=100).map(|t| (t, 446)).collect());
        let c = self_check(&obs, &ClientThresholds::default());
        match &c.verdict {
            ClientVerdict::Bottleneck(why) => {
                assert!(
                    why.contains("held 446 requests in flight on average against a target of 2048"),
                    "{why}"
                )
            }
            other => panic!("{other:?}"),
        }
        // The same shortfall with a server refusing requests is not the client's fault.
        let mut refused = closed((0..=100).map(|t| (t, 446)).collect());
        refused.error_share = 0.3;
        assert_eq!(
            self_check(&refused, &ClientThresholds::default()).verdict,
            ClientVerdict::Healthy
        );
    }

    #[test]
    fn saturated_cpu_lateness_and_lag_are_bottlenecks() {
        let cpu = ClientObservations {
            cpu: Some(CpuUsage {
                cpu_s: 7.68,
                wall_s: 2.0,
                cores: 4.0,
            }),
            ..ClientObservations::default()
        };
        let c = self_check(&cpu, &ClientThresholds::default());
        assert!(
            matches!(&c.verdict, ClientVerdict::Bottleneck(w) if w.contains("96 %")),
            "{c:?}"
        );
        let late = ClientObservations {
            send_lateness_ns: (0..1000)
                .map(|i| if i % 50 == 0 { 30_000_000 } else { 100_000 })
                .collect(),
            ..ClientObservations::default()
        };
        assert!(matches!(
            self_check(&late, &ClientThresholds::default()).verdict,
            ClientVerdict::Bottleneck(_)
        ));
        let capped = ClientObservations {
            lateness_includes_slot_wait: true,
            ..late
        };
        assert_eq!(
            self_check(&capped, &ClientThresholds::default()).verdict,
            ClientVerdict::Healthy
        );
        let lag = ClientObservations {
            loop_lag_ns: vec![50_000_000; 100],
            ..ClientObservations::default()
        };
        assert!(
            matches!(self_check(&lag, &ClientThresholds::default()).verdict, ClientVerdict::Bottleneck(w) if w.contains("event-loop lag 50.00 ms"))
        );
        // Against a 2.2 s TTFT ceiling, 50 ms of lag cannot move the verdict (limit 110 ms)...
        let lag_with_ceiling = ClientObservations {
            ttft_ceiling_ms: Some(2200.0),
            ..lag.clone()
        };
        assert_eq!(
            self_check(&lag_with_ceiling, &ClientThresholds::default()).verdict,
            ClientVerdict::Healthy
        );
        // ...but 200 ms can.
        let heavy_lag = ClientObservations {
            loop_lag_ns: vec![200_000_000; 100],
            ..lag_with_ceiling
        };
        assert!(matches!(
            self_check(&heavy_lag, &ClientThresholds::default()).verdict,
            ClientVerdict::Bottleneck(_)
        ));
        assert_eq!(
            self_check(&ClientObservations::default(), &ClientThresholds::default()).checks,
            vec![]
        );
    }

    #[test]
    fn calibration_error_is_checked_against_the_ceiling_and_widens_intervals() {
        let measured: Vec<f64> = (0..1000).map(|i| 100.0 + (i % 10) as f64 * 0.1).collect();
        let cal = LoopbackCalibration::from_measurements(100.0, &measured, 2048).unwrap();
        assert!((cal.error_p99_ms - 0.9).abs() < 1e-9);
        let mut obs = ClientObservations {
            calibration: Some(cal.clone()),
            ttft_ceiling_ms: Some(2200.0),
            ..ClientObservations::default()
        };
        assert_eq!(
            self_check(&obs, &ClientThresholds::default()).verdict,
            ClientVerdict::Healthy
        );
        obs.ttft_ceiling_ms = Some(10.0);
        assert!(matches!(
            self_check(&obs, &ClientThresholds::default()).verdict,
            ClientVerdict::Bottleneck(_)
        ));
        let w = cal.widen(&Interval::closed(10.0, 20.0, 0.95));
        assert!((w.lower.unwrap() - 9.1).abs() < 1e-9 && (w.upper.unwrap() - 20.9).abs() < 1e-9);
    }
}
