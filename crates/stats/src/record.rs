//! Per-request metrics (AIPerf's record metrics) derived from one [`RequestRecord`].

use crate::goodput::GoodputMetric;
use infergate_model::{Nanos, RequestRecord};
use serde::{Deserialize, Serialize};

/// Nanoseconds to milliseconds.
pub(crate) fn ms(ns: Nanos) -> f64 {
    ns as f64 / 1e6
}

/// The per-request metrics of one record, in display units (ms, tokens, tokens/sec/user).
/// `None` where the metric does not apply (see docs/metrics.md for each rule).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RecordMetrics {
    /// First content response − send, ms (streaming only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub time_to_first_token: Option<f64>,
    /// Second content response − first, ms (streaming, ≥ 2 content responses).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub time_to_second_token: Option<f64>,
    /// Last content response − send, ms.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request_latency: Option<f64>,
    /// (request latency − TTFT) / (OSL − 1), ms (streaming, OSL ≥ 2).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub inter_token_latency: Option<f64>,
    /// 1 / ITL, tokens/sec/user (ITL > 0).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub output_token_throughput_per_user: Option<f64>,
    /// OSL / request latency, tokens/sec/user (latency > 0).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub e2e_output_token_throughput: Option<f64>,
    /// Prompt tokens (client tokenizer).
    pub input_sequence_length: u32,
    /// Output tokens ([`RequestRecord::output_tokens`]: server usage, else client count).
    pub output_sequence_length: u32,
}

impl RecordMetrics {
    /// The metrics of `r`. `streaming` says whether responses were streamed: TTFT, TTST, ITL
    /// and per-user throughput only exist for streamed responses (as in AIPerf), because a
    /// non-streamed body arrives at once.
    pub fn of(r: &RequestRecord, streaming: bool) -> RecordMetrics {
        let osl = r.output_tokens();
        let latency_ns = r.latency_ns();
        let request_latency = latency_ns.map(ms);
        let mut m = RecordMetrics {
            request_latency,
            input_sequence_length: r.input_tokens,
            output_sequence_length: osl,
            e2e_output_token_throughput: latency_ns
                .filter(|&l| l > 0)
                .map(|l| f64::from(osl) / (l as f64 / 1e9)),
            ..RecordMetrics::default()
        };
        if streaming {
            let ttft_ns = r.ttft_ns();
            m.time_to_first_token = ttft_ns.map(ms);
            if let [first, second, ..] = r.content_ns[..] {
                m.time_to_second_token = Some(ms(second.saturating_sub(first)));
            }
            if let (Some(l), Some(t)) = (latency_ns, ttft_ns) {
                if osl >= 2 {
                    let itl_ms = ms(l.saturating_sub(t)) / f64::from(osl - 1);
                    m.inter_token_latency = Some(itl_ms);
                    if itl_ms > 0.0 {
                        m.output_token_throughput_per_user = Some(1000.0 / itl_ms);
                    }
                }
            }
        }
        m
    }

    /// The value of a goodput metric, when it applies to this request.
    pub fn get(&self, metric: GoodputMetric) -> Option<f64> {
        match metric {
            GoodputMetric::TimeToFirstToken => self.time_to_first_token,
            GoodputMetric::TimeToSecondToken => self.time_to_second_token,
            GoodputMetric::InterTokenLatency => self.inter_token_latency,
            GoodputMetric::RequestLatency => self.request_latency,
            GoodputMetric::OutputTokenThroughputPerUser => self.output_token_throughput_per_user,
            GoodputMetric::E2eOutputTokenThroughput => self.e2e_output_token_throughput,
            GoodputMetric::OutputSequenceLength => Some(f64::from(self.output_sequence_length)),
        }
    }
}
