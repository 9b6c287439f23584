//! The readiness probe: wait until the endpoint serves a real chat completion (AICR's
//! `waitForEndpointReady`, reference §2.9), and report how long that took, the cold first
//! completion apart from a steady one, and, on timeout, the stage it was stuck in.
//!
//! Ready iff, as upstream: no transport error, HTTP 200, a body of at most `body_limit` bytes,
//! JSON with a non-empty `choices[0].message.content`. `/health` is deliberately not used (it
//! answers before the workers register). Each attempt is bounded by `attempt_timeout`; attempts
//! are `interval` apart (a pause after each attempt); `window` is a hard deadline that also cuts
//! off an attempt in flight. When an attempt gets an HTTP error or a bad body, `GET /v1/models` is
//! checked (bounded) so the report can say the model is not listed.
//!
//! Must not: print, or retry beyond the window.

use crate::dns::CachingResolver;
use crate::openai;
use crate::request::{error_chain, is_refused, redact};
use crate::{CancelToken, LoadgenError, Target};
use bytes::Bytes;
use http::{HeaderMap, Method, Request, StatusCode, Uri};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioTimer};
use serde::Deserialize;
use std::fmt;
use std::time::Duration;
use tokio::time::Instant;

/// How the probe behaves. Defaults are upstream's.
#[derive(Debug, Clone, PartialEq)]
pub struct ProbeConfig {
    /// The model name sent in the request (and looked for in `/v1/models`).
    pub model: String,
    /// Limit of one attempt (upstream: 120 s, enough for a ~42 s cold first inference).
    pub attempt_timeout: Duration,
    /// Pause after each failed attempt (upstream: 10 s).
    pub interval: Duration,
    /// Hard deadline for the whole wait, cutting off an attempt in flight (upstream: 5 min).
    pub window: Duration,
    /// Largest body accepted as ready, in bytes (upstream: 8 KiB).
    pub body_limit: usize,
    /// The user message (upstream: "hi").
    pub prompt: String,
    /// `max_tokens` of the probe request (upstream: 4).
    pub max_tokens: u32,
    /// After the first success, send one more completion at once to measure a warm one.
    pub measure_steady: bool,
}

impl ProbeConfig {
    /// Upstream's settings for `model`.
    pub fn new(model: impl Into<String>) -> Self {
        ProbeConfig {
            model: model.into(),
            attempt_timeout: Duration::from_secs(120),
            interval: Duration::from_secs(10),
            window: Duration::from_secs(300),
            body_limit: 8192,
            prompt: "hi".to_string(),
            max_tokens: 4,
            measure_steady: true,
        }
    }

    /// Check every value (call before probing so bad input exits 2 with nothing sent).
    pub fn validate(&self) -> Result<(), LoadgenError> {
        let invalid = |field, value: String, valid| {
            Err(LoadgenError::InvalidPlan {
                field,
                value,
                valid,
            })
        };
        if self.model.trim().is_empty() {
            return invalid(
                "--model",
                format!("{:?}", self.model),
                "a non-empty model name",
            );
        }
        if self.attempt_timeout.is_zero() {
            return invalid("--attempt-timeout", "0".into(), "> 0 s");
        }
        if self.window.is_zero() {
            return invalid("--window", "0".into(), "> 0 s");
        }
        if self.body_limit == 0 {
            return invalid("--body-limit", "0".into(), ">= 1 byte");
        }
        if self.max_tokens == 0 {
            return invalid("--max-tokens", "0".into(), ">= 1");
        }
        Ok(())
    }

    /// The exact request body, upstream's shape and field order:
    /// `{"model":M,"messages":[{"role":"user","content":"hi"}],"max_tokens":4}`.
    pub fn body(&self) -> String {
        format!(
            r#"{{"model":{},"messages":[{{"role":"user","content":{}}}],"max_tokens":{}}}"#,
            json_string(&self.model),
            json_string(&self.prompt),
            self.max_tokens
        )
    }
}

fn json_string(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_else(|_| "\"\"".to_string())
}

/// What one attempt ended with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AttemptResult {
    /// HTTP 200 with non-empty content: ready.
    Ready,
    /// The connection was refused.
    NothingListening,
    /// Another transport error (the error chain).
    ConnectError(String),
    /// A status other than 200. `model_listed` is what `/v1/models` said (`None`: unknown).
    HttpStatus {
        /// The HTTP status code.
        code: u16,
        /// Whether the model is in `/v1/models`.
        model_listed: Option<bool>,
    },
    /// HTTP 200, but the body was too large, not JSON, or had no content.
    BadResponse {
        /// What was wrong.
        reason: String,
        /// Whether the model is in `/v1/models`.
        model_listed: Option<bool>,
    },
    /// No complete response within `attempt_timeout`.
    TimedOut,
    /// The window ended while the attempt was in flight.
    CutOffByWindow,
    /// The probe was cancelled while the attempt was in flight.
    Cancelled,
}

/// One attempt: when it started (since the probe started), how long it took, how it ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttemptOutcome {
    /// Start, relative to the start of the probe.
    pub started: Duration,
    /// Time from send to the end of the attempt.
    pub duration: Duration,
    /// How it ended.
    pub result: AttemptResult,
}

/// Where a probe that never got ready was stuck (from its last attempt).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StuckStage {
    /// Connections were refused: nothing listening at the URL.
    NothingListening,
    /// Another transport error.
    ConnectError(String),
    /// The endpoint answered with this HTTP status.
    HttpError(u16),
    /// Completions failed and `/v1/models` does not list the model.
    ModelNotListed,
    /// The completion did not return within the time it had (per-attempt timeout, or the end of
    /// the window).
    CutOffByAttemptTimeout,
    /// HTTP 200 with an unusable body.
    BadResponse(String),
}

impl fmt::Display for StuckStage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StuckStage::NothingListening => f.write_str("nothing listening (connection refused)"),
            StuckStage::ConnectError(e) => write!(f, "connection error: {e}"),
            StuckStage::HttpError(code) => write!(f, "HTTP errors (last status {code})"),
            StuckStage::ModelNotListed => f.write_str("the model is not listed in /v1/models"),
            StuckStage::CutOffByAttemptTimeout => {
                f.write_str("the completion was cut off by the per-attempt timeout")
            }
            StuckStage::BadResponse(r) => write!(f, "bad response: {r}"),
        }
    }
}

/// The probe's result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProbeReport {
    /// The endpoint served a completion within the window.
    pub ready: bool,
    /// From the start of the probe to the end of the first successful completion.
    pub time_to_ready: Option<Duration>,
    /// Every attempt, in order (the steady-state measurement is not included).
    pub attempts: Vec<AttemptOutcome>,
    /// Latency of the first successful completion: the cold start.
    pub first_success_latency: Option<Duration>,
    /// Latency of one more completion sent right after the first success (warm), when measured
    /// and successful.
    pub steady_latency: Option<Duration>,
    /// When not ready: the stage the last attempt was stuck in.
    pub stuck_stage: Option<StuckStage>,
    /// The probe was cancelled.
    pub cancelled: bool,
    /// Total time the probe took.
    pub elapsed: Duration,
}

/// The probe's client: hyper-util's pooled client (a handful of requests, no timing precision
/// needed), with the host name resolved once.
type HttpClient = Client<HttpConnector<CachingResolver>, Full<Bytes>>;

pub(crate) fn http_client() -> HttpClient {
    let mut connector = HttpConnector::new_with_resolver(CachingResolver::default());
    connector.set_nodelay(true);
    connector.enforce_http(true);
    Client::builder(TokioExecutor::new())
        .pool_timer(TokioTimer::new())
        .pool_idle_timeout(Duration::from_secs(90))
        .build(connector)
}

struct Prober {
    client: HttpClient,
    completions: Uri,
    models: Uri,
    headers: HeaderMap,
    body: Bytes,
    config: ProbeConfig,
    secrets: Vec<String>,
}

/// Probe `target` until it serves a completion or `config.window` ends (or `cancel` fires).
pub async fn probe(
    target: &Target,
    config: &ProbeConfig,
    cancel: &CancelToken,
) -> Result<ProbeReport, LoadgenError> {
    config.validate()?;
    let prober = Prober {
        client: http_client(),
        completions: target.endpoint("/v1/chat/completions")?,
        models: target.endpoint("/v1/models")?,
        headers: target.request_headers(),
        body: Bytes::from(config.body()),
        config: config.clone(),
        secrets: target.secret_values(),
    };
    let start = Instant::now();
    let deadline = start + config.window;
    let mut report = ProbeReport {
        ready: false,
        time_to_ready: None,
        attempts: Vec::new(),
        first_success_latency: None,
        steady_latency: None,
        stuck_stage: None,
        cancelled: false,
        elapsed: Duration::ZERO,
    };
    while Instant::now() < deadline && !cancel.is_cancelled() {
        let began = Instant::now();
        let mut result = prober.bounded_attempt(deadline, cancel).await;
        let ended = Instant::now();
        if result == AttemptResult::Ready {
            report.attempts.push(AttemptOutcome {
                started: began - start,
                duration: ended - began,
                result,
            });
            report.ready = true;
            report.time_to_ready = Some(ended - start);
            report.first_success_latency = Some(ended - began);
            if config.measure_steady {
                let far = Instant::now() + config.attempt_timeout;
                let again = Instant::now();
                if prober.bounded_attempt(far, cancel).await == AttemptResult::Ready {
                    report.steady_latency = Some(again.elapsed());
                }
            }
            break;
        }
        if let AttemptResult::HttpStatus { model_listed, .. }
        | AttemptResult::BadResponse { model_listed, .. } = &mut result
        {
            *model_listed = prober.model_listed(deadline).await;
        }
        let stop = matches!(
            result,
            AttemptResult::CutOffByWindow | AttemptResult::Cancelled
        );
        report.attempts.push(AttemptOutcome {
            started: began - start,
            duration: ended - began,
            result,
        });
        if stop {
            break;
        }
        let next = (Instant::now() + config.interval).min(deadline);
        tokio::select! {
            _ = tokio::time::sleep_until(next) => {}
            _ = cancel.cancelled() => {}
        }
    }
    report.cancelled = cancel.is_cancelled() && !report.ready;
    if !report.ready {
        report.stuck_stage = report.attempts.last().and_then(|a| stuck_stage(&a.result));
    }
    report.elapsed = start.elapsed();
    Ok(report)
}

fn stuck_stage(result: &AttemptResult) -> Option<StuckStage> {
    Some(match result {
        AttemptResult::Ready | AttemptResult::Cancelled => return None,
        AttemptResult::NothingListening => StuckStage::NothingListening,
        AttemptResult::ConnectError(e) => StuckStage::ConnectError(e.clone()),
        AttemptResult::HttpStatus {
            model_listed: Some(false),
            ..
        }
        | AttemptResult::BadResponse {
            model_listed: Some(false),
            ..
        } => StuckStage::ModelNotListed,
        AttemptResult::HttpStatus { code, .. } => StuckStage::HttpError(*code),
        AttemptResult::BadResponse { reason, .. } => StuckStage::BadResponse(reason.clone()),
        AttemptResult::TimedOut | AttemptResult::CutOffByWindow => {
            StuckStage::CutOffByAttemptTimeout
        }
    })
}

impl Prober {
    /// One attempt bounded by the per-attempt timeout, the window and cancellation.
    async fn bounded_attempt(&self, deadline: Instant, cancel: &CancelToken) -> AttemptResult {
        let attempt_end = Instant::now() + self.config.attempt_timeout;
        let window_cuts_first = deadline < attempt_end;
        tokio::select! {
            r = self.attempt() => r,
            _ = tokio::time::sleep_until(attempt_end.min(deadline)) => {
                if window_cuts_first { AttemptResult::CutOffByWindow } else { AttemptResult::TimedOut }
            }
            _ = cancel.cancelled() => AttemptResult::Cancelled,
        }
    }

    async fn attempt(&self) -> AttemptResult {
        let mut req = Request::new(Full::new(self.body.clone()));
        *req.method_mut() = Method::POST;
        *req.uri_mut() = self.completions.clone();
        *req.headers_mut() = self.headers.clone();
        let resp = match self.client.request(req).await {
            Ok(r) => r,
            Err(e) if is_refused(&e) => return AttemptResult::NothingListening,
            Err(e) => return AttemptResult::ConnectError(error_chain(&e)),
        };
        let status = resp.status();
        let body = match read_limited(resp.into_body(), self.config.body_limit).await {
            Ok(b) => b,
            Err(reason) if status == StatusCode::OK => {
                return AttemptResult::BadResponse {
                    reason,
                    model_listed: None,
                }
            }
            Err(_) => Vec::new(),
        };
        if status != StatusCode::OK {
            return AttemptResult::HttpStatus {
                code: status.as_u16(),
                model_listed: None,
            };
        }
        let reason = match openai::parse_into(&body, &mut String::new()) {
            Ok(p) if p.content_bytes > 0 => return AttemptResult::Ready,
            Ok(_) => "no choices[0].message.content in the response".to_string(),
            Err(e) => e.to_string(),
        };
        AttemptResult::BadResponse {
            reason: redact(reason, &self.secrets),
            model_listed: None,
        }
    }

    /// Whether `GET /v1/models` lists the model; `None` when that could not be read.
    async fn model_listed(&self, deadline: Instant) -> Option<bool> {
        let limit = (Instant::now() + Duration::from_secs(10))
            .min(Instant::now() + self.config.attempt_timeout)
            .min(deadline);
        let fetch = async {
            let mut req = Request::new(Full::new(Bytes::new()));
            *req.method_mut() = Method::GET;
            *req.uri_mut() = self.models.clone();
            *req.headers_mut() = self.headers.clone();
            let resp = self.client.request(req).await.ok()?;
            if resp.status() != StatusCode::OK {
                return None;
            }
            let body = read_limited(resp.into_body(), 1 << 20).await.ok()?;
            #[derive(Deserialize)]
            struct Models {
                data: Vec<ModelEntry>,
            }
            #[derive(Deserialize)]
            struct ModelEntry {
                id: String,
            }
            let models: Models = serde_json::from_slice(&body).ok()?;
            Some(models.data.iter().any(|m| m.id == self.config.model))
        };
        tokio::time::timeout_at(limit, fetch).await.ok().flatten()
    }
}

/// The whole body, or an error when it exceeds `limit` bytes or the connection fails.
pub(crate) async fn read_limited(mut body: Incoming, limit: usize) -> Result<Vec<u8>, String> {
    let mut buf = Vec::new();
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| format!("reading the body failed: {}", error_chain(&e)))?;
        if let Ok(data) = frame.into_data() {
            if buf.len() + data.len() > limit {
                return Err(format!("body larger than {limit} bytes"));
            }
            buf.extend_from_slice(&data);
        }
    }
    Ok(buf)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn body_matches_upstream_byte_for_byte() {
        let c = ProbeConfig::new("Qwen/Qwen3-8B");
        assert_eq!(
            c.body(),
            r#"{"model":"Qwen/Qwen3-8B","messages":[{"role":"user","content":"hi"}],"max_tokens":4}"#
        );
        let odd = ProbeConfig::new("a\"b");
        assert!(odd.body().starts_with(r#"{"model":"a\"b","#));
    }

    #[test]
    fn defaults_are_upstreams() {
        let c = ProbeConfig::new("m");
        assert_eq!(c.attempt_timeout, Duration::from_secs(120));
        assert_eq!(c.interval, Duration::from_secs(10));
        assert_eq!(c.window, Duration::from_secs(300));
        assert_eq!(c.body_limit, 8192);
        assert!(c.validate().is_ok());
        let mut bad = c.clone();
        bad.window = Duration::ZERO;
        assert!(bad.validate().unwrap_err().to_string().contains("--window"));
    }

    #[test]
    fn stuck_stage_from_last_attempt() {
        let s = |r: AttemptResult| stuck_stage(&r);
        assert_eq!(
            s(AttemptResult::NothingListening),
            Some(StuckStage::NothingListening)
        );
        assert_eq!(
            s(AttemptResult::HttpStatus {
                code: 503,
                model_listed: Some(true)
            }),
            Some(StuckStage::HttpError(503))
        );
        assert_eq!(
            s(AttemptResult::HttpStatus {
                code: 404,
                model_listed: Some(false)
            }),
            Some(StuckStage::ModelNotListed)
        );
        assert_eq!(
            s(AttemptResult::TimedOut),
            Some(StuckStage::CutOffByAttemptTimeout)
        );
        assert_eq!(
            s(AttemptResult::CutOffByWindow),
            Some(StuckStage::CutOffByAttemptTimeout)
        );
    }
}
