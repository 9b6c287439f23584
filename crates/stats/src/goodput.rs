//! Goodput service-level objectives (`--goodput metric:value`), with AIPerf's metric names, units
//! and direction rules: a request is good when it meets every SLO; latencies must be at most
//! the threshold, throughputs and lengths at least the threshold.

use crate::record::RecordMetrics;
use crate::StatsError;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// A per-request metric an SLO can be set on (AIPerf's tag names).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GoodputMetric {
    /// `time_to_first_token`, ms, smaller is better.
    TimeToFirstToken,
    /// `time_to_second_token`, ms, smaller is better.
    TimeToSecondToken,
    /// `inter_token_latency`, ms, smaller is better.
    InterTokenLatency,
    /// `request_latency`, ms, smaller is better.
    RequestLatency,
    /// `output_token_throughput_per_user`, tokens/sec/user, larger is better.
    OutputTokenThroughputPerUser,
    /// `e2e_output_token_throughput`, tokens/sec/user, larger is better.
    E2eOutputTokenThroughput,
    /// `output_sequence_length`, tokens, larger is better.
    OutputSequenceLength,
}

impl GoodputMetric {
    /// Every metric, in a stable order.
    pub const ALL: [GoodputMetric; 7] = [
        GoodputMetric::TimeToFirstToken,
        GoodputMetric::TimeToSecondToken,
        GoodputMetric::InterTokenLatency,
        GoodputMetric::RequestLatency,
        GoodputMetric::OutputTokenThroughputPerUser,
        GoodputMetric::E2eOutputTokenThroughput,
        GoodputMetric::OutputSequenceLength,
    ];

    /// AIPerf's tag, as written on the command line and in exports.
    pub fn tag(self) -> &'static str {
        match self {
            GoodputMetric::TimeToFirstToken => "time_to_first_token",
            GoodputMetric::TimeToSecondToken => "time_to_second_token",
            GoodputMetric::InterTokenLatency => "inter_token_latency",
            GoodputMetric::RequestLatency => "request_latency",
            GoodputMetric::OutputTokenThroughputPerUser => "output_token_throughput_per_user",
            GoodputMetric::E2eOutputTokenThroughput => "e2e_output_token_throughput",
            GoodputMetric::OutputSequenceLength => "output_sequence_length",
        }
    }

    /// The unit the threshold is given in.
    pub fn unit(self) -> &'static str {
        match self {
            GoodputMetric::TimeToFirstToken
            | GoodputMetric::TimeToSecondToken
            | GoodputMetric::InterTokenLatency
            | GoodputMetric::RequestLatency => "ms",
            GoodputMetric::OutputTokenThroughputPerUser
            | GoodputMetric::E2eOutputTokenThroughput => "tokens/sec/user",
            GoodputMetric::OutputSequenceLength => "tokens",
        }
    }

    /// True when a larger value is better (the SLO is a floor), false for a ceiling.
    pub fn larger_is_better(self) -> bool {
        matches!(
            self,
            GoodputMetric::OutputTokenThroughputPerUser
                | GoodputMetric::E2eOutputTokenThroughput
                | GoodputMetric::OutputSequenceLength
        )
    }

    /// The metric with AIPerf tag `tag`.
    pub fn from_tag(tag: &str) -> Option<GoodputMetric> {
        GoodputMetric::ALL.into_iter().find(|m| m.tag() == tag)
    }

    /// The valid tags, comma-separated (for error messages and help).
    pub fn valid_tags() -> String {
        GoodputMetric::ALL.map(GoodputMetric::tag).join(", ")
    }
}

impl fmt::Display for GoodputMetric {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.tag())
    }
}

/// One SLO: `metric` must be at most (latencies) or at least (throughputs, lengths) `threshold`,
/// in the metric's unit ([`GoodputMetric::unit`]).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct GoodputSlo {
    /// Which metric.
    pub metric: GoodputMetric,
    /// The threshold, in the metric's unit.
    pub threshold: f64,
}

impl GoodputSlo {
    /// Parses `metric:value`, for example `time_to_first_token:200` (ms).
    pub fn parse(s: &str) -> Result<GoodputSlo, StatsError> {
        let Some((name, value)) = s.split_once(':') else {
            return Err(StatsError::GoodputSyntax {
                input: s.to_string(),
            });
        };
        let (name, value) = (name.trim(), value.trim());
        let metric =
            GoodputMetric::from_tag(name).ok_or_else(|| StatsError::UnknownGoodputMetric {
                name: name.to_string(),
                valid: GoodputMetric::valid_tags(),
            })?;
        let threshold: f64 = value
            .parse()
            .ok()
            .filter(|v: &f64| v.is_finite() && *v >= 0.0)
            .ok_or_else(|| StatsError::GoodputThreshold {
                metric: metric.tag(),
                value: value.to_string(),
                unit: metric.unit(),
            })?;
        Ok(GoodputSlo { metric, threshold })
    }

    /// Whether a request with these metrics meets the SLO. A request the metric does not apply
    /// to (for example ITL of a one-token response) does not meet it, as in AIPerf.
    pub fn is_met(&self, m: &RecordMetrics) -> bool {
        match m.get(self.metric) {
            None => false,
            Some(v) if self.metric.larger_is_better() => v >= self.threshold,
            Some(v) => v <= self.threshold,
        }
    }
}

impl FromStr for GoodputSlo {
    type Err = StatsError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        GoodputSlo::parse(s)
    }
}

impl fmt::Display for GoodputSlo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.metric.tag(), self.threshold)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_aiperf_syntax_and_names_valid_metrics_on_error() {
        let slo: GoodputSlo = "time_to_first_token:200".parse().unwrap();
        assert_eq!(slo.metric, GoodputMetric::TimeToFirstToken);
        assert_eq!(slo.threshold, 200.0);
        assert_eq!(slo.to_string(), "time_to_first_token:200");

        let err = GoodputSlo::parse("ttft_ms:200").unwrap_err().to_string();
        assert!(err.contains("ttft_ms"), "{err}");
        assert!(err.contains("inter_token_latency"), "{err}");

        let err = GoodputSlo::parse("inter_token_latency:-1")
            .unwrap_err()
            .to_string();
        assert!(err.contains("-1") && err.contains("ms"), "{err}");
        assert!(GoodputSlo::parse("request_latency").is_err());
        assert!(GoodputSlo::parse("request_latency:NaN").is_err());
    }

    #[test]
    fn direction_follows_aiperf() {
        let m = RecordMetrics {
            time_to_first_token: Some(150.0),
            output_token_throughput_per_user: Some(40.0),
            ..RecordMetrics::default()
        };
        let ceiling = GoodputSlo::parse("time_to_first_token:150").unwrap();
        assert!(ceiling.is_met(&m), "equal to the ceiling is good");
        assert!(!GoodputSlo::parse("time_to_first_token:149.9")
            .unwrap()
            .is_met(&m));
        let floor = GoodputSlo::parse("output_token_throughput_per_user:40").unwrap();
        assert!(floor.is_met(&m), "equal to the floor is good");
        assert!(!GoodputSlo::parse("output_token_throughput_per_user:41")
            .unwrap()
            .is_met(&m));
        assert!(
            !GoodputSlo::parse("inter_token_latency:1000")
                .unwrap()
                .is_met(&m),
            "missing"
        );
    }
}
