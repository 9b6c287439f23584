//! One request, end to end: send the planned body, time the response on the run's clock, decode
//! it, classify any failure, and produce its [`RequestRecord`].
//!
//! Timing (AIPerf's points, peers.md §1.4): `send_ns` just before the request is handed to the
//! connection pool (so it includes connection acquisition); `headers_ns` when the response head
//! is parsed; one timestamp per network frame, inherited by every SSE event that frame completes;
//! a content timestamp for each event carrying non-empty output; `end_ns` at `[DONE]`, at the end
//! of the body, or at the failure.
//!
//! Must not: decide what is sent (the workload did), compute statistics, or allocate per chunk
//! beyond appending the received text and pushing a timestamp into a vector pre-sized from
//! `max_tokens`.

use crate::clock::Clock;
use crate::dns::CachingResolver;
use crate::openai::{self, ParseError};
use crate::progress::Progress;
use crate::sse::{SseDecoder, SseError};
use crate::{CancelToken, LoadgenError, Target};
use bytes::Bytes;
use http::header::CONTENT_TYPE;
use http::{HeaderMap, Method, Request, Uri};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioTimer};
use infergate_model::{
    Failure, FailureKind, Nanos, Phase, PlannedRequest, RequestRecord, TokenCounter, Usage,
};
use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;

/// Largest non-streamed response body accepted.
const MAX_BODY_BYTES: usize = 64 << 20;

/// After `[DONE]`, how long to wait for the end of the HTTP body so the connection can be reused.
/// The record is already final; if the server does not end the body in time, the connection is
/// dropped (the next request opens a new one). Kept short because, in closed loop, the worker's
/// next request waits for it.
const DRAIN_AFTER_DONE: Duration = Duration::from_millis(250);

/// Headers that name the worker that served a request, in order of preference.
const WORKER_HEADERS: [&str; 2] = ["x-infergate-worker", "x-worker-instance-id"];

/// The HTTP client type shared by every request of a run.
pub(crate) type HttpClient = Client<HttpConnector<CachingResolver>, Full<Bytes>>;

/// A keep-alive HTTP/1 client with `TCP_NODELAY`; it opens one connection per concurrent request
/// and keeps every idle one (no cap), so the pool grows to the concurrency. The host name is
/// resolved once (see `dns`).
pub(crate) fn http_client() -> HttpClient {
    let mut connector = HttpConnector::new_with_resolver(CachingResolver::default());
    connector.set_nodelay(true);
    connector.enforce_http(true);
    Client::builder(TokioExecutor::new())
        .pool_timer(TokioTimer::new())
        .pool_idle_timeout(Duration::from_secs(90))
        .pool_max_idle_per_host(usize::MAX)
        .build(connector)
}

/// Sends requests to one endpoint and records them.
pub(crate) struct Requester {
    client: HttpClient,
    uri: Uri,
    headers: HeaderMap,
    streaming: bool,
    timeout: Duration,
    counter: Arc<dyn TokenCounter>,
    clock: Clock,
    progress: Arc<Progress>,
    /// Credential values to scrub from failure details (a server may echo them back).
    secrets: Vec<String>,
}

/// A failure found while driving the request (the status, if any, is in [`State`]).
struct Fail {
    kind: FailureKind,
    detail: String,
}

impl Fail {
    fn new(kind: FailureKind, detail: impl Into<String>) -> Self {
        Fail {
            kind,
            detail: detail.into(),
        }
    }
}

/// What was measured so far; survives a timeout or an abort of the driving future.
struct State {
    status: Option<u16>,
    headers_ns: Option<Nanos>,
    content_ns: Vec<Nanos>,
    text: String,
    usage: Option<Usage>,
    worker: Option<String>,
    /// Set on success: when the response finished.
    end_ns: Option<Nanos>,
}

impl Requester {
    pub(crate) fn new(
        target: &Target,
        path: &str,
        streaming: bool,
        timeout: Duration,
        counter: Arc<dyn TokenCounter>,
        clock: Clock,
        progress: Arc<Progress>,
    ) -> Result<Self, LoadgenError> {
        Ok(Requester {
            client: http_client(),
            uri: target.endpoint(path)?,
            headers: target.request_headers(),
            streaming,
            timeout,
            counter,
            clock,
            progress,
            secrets: target.secret_values(),
        })
    }

    /// Send `planned` now and wait for the whole response (bounded by the request timeout and by
    /// `abort`). Never fails: every problem becomes the record's [`Failure`].
    pub(crate) async fn execute(
        &self,
        planned: PlannedRequest,
        phase: Phase,
        scheduled_ns: Option<Nanos>,
        abort: &CancelToken,
    ) -> RequestRecord {
        let mut st = State {
            status: None,
            headers_ns: None,
            content_ns: Vec::with_capacity(timeline_capacity(planned.max_tokens)),
            text: String::with_capacity(4 * timeline_capacity(planned.max_tokens)),
            usage: None,
            worker: None,
            end_ns: None,
        };
        self.progress.started();
        let sent_at = Instant::now();
        let send_ns = self.clock.ns_at(sent_at);
        let driven = {
            let work = self.drive(Arc::clone(&planned.body), &mut st);
            tokio::select! {
                biased;
                r = work => r,
                _ = tokio::time::sleep_until(sent_at + self.timeout) => Err(Fail::new(
                    FailureKind::Timeout,
                    format!("no complete response within {:?}", self.timeout),
                )),
                _ = abort.cancelled_registered_once() => Err(Fail::new(
                    FailureKind::Cancelled,
                    "the run was stopped while this request was in flight",
                )),
            }
        };
        let result = match driven {
            Ok(Some(rest)) => {
                // `[DONE]` arrived: the record is final. Read the end of the body (bounded) so the
                // connection goes back to the pool, outside the timeout and abort above.
                if !abort.is_cancelled() {
                    drain(rest).await;
                }
                Ok(())
            }
            Ok(None) => Ok(()),
            Err(f) => Err(f),
        };
        let end_ns = match (&result, st.end_ns) {
            (Ok(()), Some(t)) => t,
            _ => self.clock.now_ns(),
        };
        let client_output_tokens = if st.text.is_empty() {
            0
        } else {
            self.counter.count_tokens(&st.text)
        };
        let failure = result
            .err()
            .map(|f| Failure::new(f.kind, st.status, redact(f.detail, &self.secrets)));
        let record = RequestRecord {
            index: planned.index,
            phase,
            entry: planned.entry,
            scheduled_ns,
            send_ns,
            headers_ns: st.headers_ns,
            content_ns: st.content_ns,
            end_ns,
            input_tokens: planned.input_tokens,
            requested_output_tokens: planned.max_tokens,
            client_output_tokens,
            usage: st.usage,
            worker: st.worker,
            failure,
        };
        self.progress
            .finished(record.is_success(), record.output_tokens());
        record
    }

    /// Send and read the response. `Ok(Some(body))`: complete at `[DONE]`, with the rest of the
    /// HTTP body still to be drained.
    async fn drive(&self, body: Arc<[u8]>, st: &mut State) -> Result<Option<Incoming>, Fail> {
        let mut req = Request::new(Full::new(Bytes::from_owner(body)));
        *req.method_mut() = Method::POST;
        *req.uri_mut() = self.uri.clone();
        *req.headers_mut() = self.headers.clone();
        let resp = self
            .client
            .request(req)
            .await
            .map_err(|e| classify_send_error(&e))?;
        let now = self.clock.now_ns();
        st.headers_ns = Some(now);
        let status = resp.status();
        st.status = Some(status.as_u16());
        st.worker = worker_id(resp.headers());
        let is_json = resp
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.trim_start().starts_with("application/json"));
        let body = resp.into_body();
        if !status.is_success() {
            let detail = read_prefix(body, Failure::MAX_DETAIL).await;
            return Err(Fail::new(FailureKind::HttpStatus, detail));
        }
        if self.streaming && !is_json {
            self.read_stream(body, st).await
        } else {
            // Not streaming, or the server answered a streaming request with one JSON body
            // (typically an error object): one content response when the body completes.
            self.read_whole(body, st).await.map(|()| None)
        }
    }

    async fn read_stream(
        &self,
        mut body: Incoming,
        st: &mut State,
    ) -> Result<Option<Incoming>, Fail> {
        let mut decoder = SseDecoder::new();
        let mut finished = false;
        let mut last_ns = st.headers_ns.unwrap_or(0);
        loop {
            let frame = match body.frame().await {
                None => break,
                Some(Ok(frame)) => frame,
                Some(Err(e)) => {
                    return Err(Fail::new(
                        FailureKind::StreamEndedEarly,
                        format!("connection failed mid-stream: {}", error_chain(&e)),
                    ))
                }
            };
            // One timestamp per network frame: every event this frame completes inherits it.
            let now = self.clock.now_ns();
            last_ns = now;
            let Ok(data) = frame.into_data() else {
                continue; // trailers
            };
            decoder.push(&data);
            while let Some(event) = decoder.next_event().map_err(sse_fail)? {
                if event.is_done() {
                    st.end_ns = Some(now);
                    return success_or_empty(st).map(|()| Some(body));
                }
                let parsed = openai::parse_into(event.data, &mut st.text).map_err(json_fail)?;
                if parsed.has_content() {
                    st.content_ns.push(now);
                }
                finished |= parsed.finished;
                if parsed.usage.is_some() {
                    st.usage = parsed.usage;
                }
            }
        }
        if let Err(e) = decoder.finish() {
            return Err(Fail::new(FailureKind::StreamEndedEarly, e.to_string()));
        }
        if !finished {
            return Err(Fail::new(
                FailureKind::StreamEndedEarly,
                "the stream ended without [DONE] or a finish_reason",
            ));
        }
        st.end_ns = Some(last_ns);
        success_or_empty(st).map(|()| None)
    }

    async fn read_whole(&self, mut body: Incoming, st: &mut State) -> Result<(), Fail> {
        let mut buf: Vec<u8> = Vec::new();
        let mut last_ns = st.headers_ns.unwrap_or(0);
        while let Some(frame) = body.frame().await {
            let frame = frame.map_err(|e| {
                Fail::new(
                    FailureKind::StreamEndedEarly,
                    format!("connection failed mid-body: {}", error_chain(&e)),
                )
            })?;
            last_ns = self.clock.now_ns();
            if let Ok(data) = frame.into_data() {
                if buf.len() + data.len() > MAX_BODY_BYTES {
                    return Err(Fail::new(
                        FailureKind::MalformedJson,
                        format!("response body larger than {MAX_BODY_BYTES} bytes"),
                    ));
                }
                buf.extend_from_slice(&data);
            }
        }
        let parsed = openai::parse_into(&buf, &mut st.text).map_err(json_fail)?;
        if parsed.has_content() {
            st.content_ns.push(last_ns);
        }
        st.usage = parsed.usage;
        st.end_ns = Some(last_ns);
        success_or_empty(st)
    }
}

/// Room for one timestamp per requested token (plus a spare), bounded so a huge `max_tokens`
/// does not reserve memory up front.
fn timeline_capacity(max_tokens: u32) -> usize {
    match max_tokens {
        0 => 64,
        n => (n as usize + 1).min(16_384),
    }
}

fn success_or_empty(st: &State) -> Result<(), Fail> {
    if st.content_ns.is_empty() {
        Err(Fail::new(
            FailureKind::EmptyOutput,
            "the response completed without any output content",
        ))
    } else {
        Ok(())
    }
}

/// Replace every credential in `detail` with `***` (failure path only).
pub(crate) fn redact(mut detail: String, secrets: &[String]) -> String {
    for s in secrets {
        if !s.is_empty() && detail.contains(s.as_str()) {
            detail = detail.replace(s.as_str(), "***");
        }
    }
    detail
}

fn sse_fail(e: SseError) -> Fail {
    Fail::new(FailureKind::MalformedSse, e.to_string())
}

fn json_fail(e: ParseError) -> Fail {
    Fail::new(FailureKind::MalformedJson, e.to_string())
}

/// Read the rest of the body after `[DONE]` (bounded) so hyper can reuse the connection.
async fn drain(mut body: Incoming) {
    let deadline = Instant::now() + DRAIN_AFTER_DONE;
    while let Ok(Some(Ok(_))) = tokio::time::timeout_at(deadline, body.frame()).await {}
}

/// The first `limit` bytes of an error body, lossily decoded (bounded by the caller's timeout).
async fn read_prefix(mut body: Incoming, limit: usize) -> String {
    let mut buf = Vec::new();
    while buf.len() < limit {
        match body.frame().await {
            Some(Ok(frame)) => {
                if let Ok(data) = frame.into_data() {
                    buf.extend_from_slice(&data);
                }
            }
            _ => break,
        }
    }
    buf.truncate(limit);
    String::from_utf8_lossy(&buf).into_owned()
}

fn worker_id(headers: &HeaderMap) -> Option<String> {
    WORKER_HEADERS
        .iter()
        .find_map(|h| headers.get(*h))
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

/// Classify an error from before the response head: refused, other connect errors, and
/// connections that died before answering.
fn classify_send_error(e: &hyper_util::client::legacy::Error) -> Fail {
    let detail = error_chain(e);
    if e.is_connect() {
        if is_refused(e) {
            Fail::new(FailureKind::ConnectRefused, detail)
        } else {
            Fail::new(FailureKind::Connect, detail)
        }
    } else {
        Fail::new(FailureKind::Connect, detail)
    }
}

pub(crate) fn is_refused(e: &(dyn std::error::Error + 'static)) -> bool {
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = cur {
        if let Some(io) = err.downcast_ref::<std::io::Error>() {
            if io.kind() == std::io::ErrorKind::ConnectionRefused {
                return true;
            }
        }
        cur = err.source();
    }
    false
}

/// An error and its sources, joined with `: ` (errors from hyper never contain request headers).
pub(crate) fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(err) = cur {
        let msg = err.to_string();
        if !s.contains(&msg) {
            s.push_str(": ");
            s.push_str(&msg);
        }
        cur = err.source();
    }
    s
}
