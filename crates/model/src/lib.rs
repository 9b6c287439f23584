//! Plain data shared by every infergate crate: what one request measured, how it failed, and the
//! identity of a run.
//!
//! This crate owns the vocabulary, not the behaviour: no IO, no async, no statistics, no HTTP.
//! Everything here is `serde`-serialisable because the per-request JSONL export and the in-cluster
//! result framing carry these types verbatim. Times are integer nanoseconds on one monotonic clock,
//! counted from the run's epoch (the `Instant` taken when the run started), so records from one
//! run can be put on one timeline without any wall-clock arithmetic.

#![deny(missing_docs)]

use serde::{Deserialize, Serialize};
use std::fmt;

/// Version of the wire formats written by this build (per-request JSONL, the run summary, the
/// result framing). Bump it whenever a field changes meaning or disappears.
pub const SCHEMA_VERSION: &str = "1.0";

/// Nanoseconds since the run's epoch, on the monotonic clock.
pub type Nanos = u64;

/// Which phase of a run a request belonged to. Warmup requests are excluded from every result.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    /// Sent to warm the deployment up; never counted.
    Warmup,
    /// Counted in every metric.
    Profile,
}

/// Why a request did not produce a usable response. Small and closed, so it can be used as a
/// label and counted without allocating.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FailureKind {
    /// The TCP connection was refused (nothing listening).
    ConnectRefused,
    /// Any other connection-level error (reset before headers, DNS, unreachable).
    Connect,
    /// The per-request timeout elapsed before the response finished.
    Timeout,
    /// The server answered with a non-2xx HTTP status (the code is in [`Failure::status`]).
    HttpStatus,
    /// The body ended (or the connection dropped) before the stream's end marker or a finish reason.
    StreamEndedEarly,
    /// The bytes did not form valid Server-Sent Events.
    MalformedSse,
    /// An event or a non-streaming body was not the JSON an OpenAI-compatible server sends, or
    /// carried an `error` object.
    MalformedJson,
    /// The response completed but carried no output content.
    EmptyOutput,
    /// The run was cancelled (Ctrl-C, deadline) while this request was in flight.
    Cancelled,
}

impl FailureKind {
    /// Every kind, in a stable order (for tables and exports).
    pub const ALL: [FailureKind; 9] = [
        FailureKind::ConnectRefused,
        FailureKind::Connect,
        FailureKind::Timeout,
        FailureKind::HttpStatus,
        FailureKind::StreamEndedEarly,
        FailureKind::MalformedSse,
        FailureKind::MalformedJson,
        FailureKind::EmptyOutput,
        FailureKind::Cancelled,
    ];

    /// The snake_case label used in exports and tables.
    pub fn label(self) -> &'static str {
        match self {
            FailureKind::ConnectRefused => "connect_refused",
            FailureKind::Connect => "connect",
            FailureKind::Timeout => "timeout",
            FailureKind::HttpStatus => "http_status",
            FailureKind::StreamEndedEarly => "stream_ended_early",
            FailureKind::MalformedSse => "malformed_sse",
            FailureKind::MalformedJson => "malformed_json",
            FailureKind::EmptyOutput => "empty_output",
            FailureKind::Cancelled => "cancelled",
        }
    }
}

impl fmt::Display for FailureKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.label())
    }
}

/// A failed request: its class, the HTTP status when there was one, and a short sample of what
/// went wrong (bounded to [`Failure::MAX_DETAIL`] bytes; never contains request headers, so never
/// an API key).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Failure {
    /// The class of failure.
    pub kind: FailureKind,
    /// The HTTP status code, for [`FailureKind::HttpStatus`] (and any failure after headers).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    /// A short human-readable detail (first bytes of an error body, the parse error).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub detail: String,
}

impl Failure {
    /// Longest detail kept per failure, in bytes.
    pub const MAX_DETAIL: usize = 256;

    /// A failure with a detail cut to [`Failure::MAX_DETAIL`] bytes on a char boundary.
    pub fn new(kind: FailureKind, status: Option<u16>, detail: impl Into<String>) -> Self {
        let mut detail = detail.into();
        if detail.len() > Self::MAX_DETAIL {
            let mut cut = Self::MAX_DETAIL;
            while !detail.is_char_boundary(cut) {
                cut -= 1;
            }
            detail.truncate(cut);
        }
        Failure {
            kind,
            status,
            detail,
        }
    }
}

/// Token counts the server reported in its `usage` object.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Usage {
    /// `usage.prompt_tokens`.
    pub prompt_tokens: u32,
    /// `usage.completion_tokens`.
    pub completion_tokens: u32,
}

/// Everything one request measured. Times are [`Nanos`] since the run's epoch.
///
/// Metric definitions (AIPerf's, see docs/metrics.md) derive from these fields only:
/// TTFT = `content_ns[0] - send_ns`, request latency = `content_ns.last() - send_ns`,
/// ITL = (latency − TTFT) / (output_tokens − 1).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RequestRecord {
    /// Position in the run's request stream (0-based, warmup requests first).
    pub index: u64,
    /// Warmup or profile.
    pub phase: Phase,
    /// Which dataset entry (prompt) was sent.
    pub entry: u32,
    /// Open loop: when the request was due to be sent. `None` in closed loop.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scheduled_ns: Option<Nanos>,
    /// Just before the request was handed to the connection (includes connection acquisition
    /// after this point, as AIPerf's `start_perf_ns`).
    pub send_ns: Nanos,
    /// When the response headers arrived.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub headers_ns: Option<Nanos>,
    /// Arrival time of every content-bearing response: each SSE event carrying non-empty content
    /// (usage-only events and `[DONE]` excluded), or the whole body when not streaming.
    pub content_ns: Vec<Nanos>,
    /// When the response finished (end marker, end of body, or the failure).
    pub end_ns: Nanos,
    /// Prompt length in tokens, as measured by the workload's tokenizer.
    pub input_tokens: u32,
    /// The output length asked for (`max_tokens`).
    pub requested_output_tokens: u32,
    /// Output tokens counted by the client's tokenizer over the received text.
    pub client_output_tokens: u32,
    /// What the server said in `usage`, when it said it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usage: Option<Usage>,
    /// The worker that served the request, when the server names it (header `x-infergate-worker`
    /// or Dynamo's `x-worker-instance-id`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub worker: Option<String>,
    /// `None` for a successful request.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure: Option<Failure>,
}

impl RequestRecord {
    /// True when the request completed and produced output.
    pub fn is_success(&self) -> bool {
        self.failure.is_none()
    }

    /// Output tokens as used by every metric: the server's `usage.completion_tokens` when
    /// present, else the client's own count.
    pub fn output_tokens(&self) -> u32 {
        self.usage
            .map(|u| u.completion_tokens)
            .unwrap_or(self.client_output_tokens)
    }

    /// Time to first token in nanoseconds (successful, streamed requests only).
    pub fn ttft_ns(&self) -> Option<Nanos> {
        self.content_ns
            .first()
            .map(|t| t.saturating_sub(self.send_ns))
    }

    /// Time from send to the last content response, in nanoseconds.
    pub fn latency_ns(&self) -> Option<Nanos> {
        self.content_ns
            .last()
            .map(|t| t.saturating_sub(self.send_ns))
    }

    /// Each content response's arrival time with its share of the output tokens: the output
    /// tokens spread evenly over the content responses, as every throughput-over-time figure
    /// counts them (a server may put several tokens in one event). Callers choose which
    /// requests count (normally the successful ones).
    pub fn token_arrivals(&self) -> impl Iterator<Item = (Nanos, f64)> + '_ {
        let share = f64::from(self.output_tokens()) / self.content_ns.len().max(1) as f64;
        self.content_ns.iter().map(move |&t| (t, share))
    }
}

/// How the load was offered.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "mode")]
pub enum LoadMode {
    /// Keep exactly `concurrency` requests in flight.
    Closed {
        /// Requests kept in flight.
        concurrency: u32,
    },
    /// Send at `rate` requests per second on absolute deadlines.
    Open {
        /// Target requests per second.
        rate: f64,
        /// Constant spacing or Poisson arrivals.
        arrivals: Arrivals,
        /// Optional cap on requests in flight.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        max_concurrency: Option<u32>,
    },
}

/// Arrival process of an open-loop run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Arrivals {
    /// Evenly spaced, 1/rate apart.
    Constant,
    /// Exponential gaps with mean 1/rate.
    Poisson,
}

/// One request as the workload planned it: which prompt, how long, and the exact body bytes.
///
/// The body is shared (`Arc`) so the scheduler can hand it to a connection without copying.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlannedRequest {
    /// Position in the run's request stream (0-based, warmup first).
    pub index: u64,
    /// The dataset entry (prompt) used.
    pub entry: u32,
    /// Prompt length in tokens, measured with the workload's tokenizer.
    pub input_tokens: u32,
    /// Output tokens asked for (`max_tokens` / `max_completion_tokens`), 0 when not set.
    pub max_tokens: u32,
    /// The exact JSON body sent.
    pub body: std::sync::Arc<[u8]>,
}

/// Produces the request stream of a run. Implemented by the workload; consumed by the load
/// generator, which therefore never decides what is sent.
pub trait RequestSource: Send + Sync {
    /// The endpoint path every request goes to (`/v1/chat/completions` or `/v1/completions`).
    fn path(&self) -> &str;
    /// Whether the bodies ask for a streamed (SSE) response.
    fn streaming(&self) -> bool;
    /// The request at `index`; the same index always gives the same bytes.
    fn planned(&self, index: u64) -> PlannedRequest;
}

/// Counts tokens in text the way the workload's tokenizer does (used for output tokens when the
/// server sends no `usage`).
pub trait TokenCounter: Send + Sync {
    /// Number of tokens in `text`.
    fn count_tokens(&self, text: &str) -> u32;
}

/// The identity of a run, written as `run.json` in every output directory: enough to tell two
/// runs apart and to reproduce one. Never holds a secret (API keys are read from the environment
/// and only the variable's name is kept).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunInfo {
    /// [`SCHEMA_VERSION`] of the writer.
    pub schema_version: String,
    /// `infergate` version.
    pub tool_version: String,
    /// Git commit the binary was built from (`unknown` when not known).
    pub git_commit: String,
    /// The subcommand that produced the run (`bench`, `validate`, `demo`, ...).
    pub command: String,
    /// Wall-clock start of the run, RFC 3339 UTC.
    pub started_at: String,
    /// Wall-clock start of the run, milliseconds since the Unix epoch.
    pub started_at_unix_ms: u64,
    /// Base URL of the endpoint measured.
    pub endpoint: String,
    /// Model name sent in every request.
    pub model: String,
    /// Seed of the request stream.
    pub random_seed: u64,
    /// SHA-256 (hex) of the request stream: every request's path and body, in order.
    pub request_stream_sha256: String,
    /// Requests in the stream (warmup included).
    pub total_requests: u64,
    /// Of which warmup.
    pub warmup_requests: u64,
    /// How load was offered.
    pub load: LoadMode,
    /// Every option the run was given, by flag name (secrets excluded).
    pub options: serde_json::Map<String, serde_json::Value>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failure_detail_is_bounded_on_a_char_boundary() {
        let long = "é".repeat(400);
        let f = Failure::new(FailureKind::MalformedJson, None, long);
        assert!(f.detail.len() <= Failure::MAX_DETAIL);
        assert!(f.detail.chars().all(|c| c == 'é'));
    }

    #[test]
    fn output_tokens_prefer_server_usage() {
        let mut r = RequestRecord {
            index: 0,
            phase: Phase::Profile,
            entry: 0,
            scheduled_ns: None,
            send_ns: 100,
            headers_ns: Some(150),
            content_ns: vec![200, 300, 400],
            end_ns: 450,
            input_tokens: 8,
            requested_output_tokens: 3,
            client_output_tokens: 3,
            usage: None,
            worker: None,
            failure: None,
        };
        assert_eq!(r.output_tokens(), 3);
        assert_eq!(r.ttft_ns(), Some(100));
        assert_eq!(r.latency_ns(), Some(300));
        r.usage = Some(Usage {
            prompt_tokens: 8,
            completion_tokens: 5,
        });
        assert_eq!(r.output_tokens(), 5);
    }

    #[test]
    fn record_round_trips_through_json() {
        let r = RequestRecord {
            index: 7,
            phase: Phase::Warmup,
            entry: 3,
            scheduled_ns: Some(5),
            send_ns: 6,
            headers_ns: None,
            content_ns: vec![],
            end_ns: 9,
            input_tokens: 128,
            requested_output_tokens: 128,
            client_output_tokens: 0,
            usage: None,
            worker: Some("2".into()),
            failure: Some(Failure::new(FailureKind::HttpStatus, Some(429), "busy")),
        };
        let s = serde_json::to_string(&r).unwrap();
        let back: RequestRecord = serde_json::from_str(&s).unwrap();
        assert_eq!(r, back);
        assert!(s.contains("\"kind\":\"http_status\""));
    }
}
