//! One request, end to end: send the planned body, time the response on the run's clock, decode
//! it, classify any failure, and produce its [`RequestRecord`].
//!
//! Timing (AIPerf's points, peers.md §1.4): `send_ns` just before a connection is taken (so it
//! includes opening one when needed, and writing the request); `headers_ns` when the response head
//! is parsed; one timestamp per network frame, inherited by every SSE event that frame completes;
//! a content timestamp for each event carrying non-empty output; `end_ns` at `[DONE]`, at the end
//! of the body, or at the failure.
//!
//! Must not: decide what is sent (the workload did), compute statistics, or allocate per chunk
//! beyond appending the received text and pushing a timestamp into a vector pre-sized from
//! `max_tokens`.

use crate::clock::Clock;
use crate::conn::{Conn, Connector};
use crate::openai::{self, ParseError};
use crate::progress::Progress;
use crate::sse::{SseDecoder, SseError};
use crate::{CancelToken, LoadgenError, Target};
use bytes::Bytes;
use http::header::{CONTENT_TYPE, HOST};
use http::{HeaderMap, HeaderValue, Method, Request, Response, Uri};
use http_body_util::{BodyExt, Full};
use hyper::body::{Frame, Incoming};
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

/// Sends requests to one endpoint and records them.
pub(crate) struct Requester {
    connector: Connector,
    /// Origin-form path (`/v1/chat/completions`, with the base URL's prefix).
    path: Uri,
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
    /// The connection carrying this request, once one was obtained.
    conn: Option<Conn>,
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
        let uri = target.endpoint(path)?;
        let bad = |reason: &str| LoadgenError::InvalidUrl {
            url: uri.to_string(),
            reason: reason.to_string(),
        };
        let authority = uri.authority().ok_or_else(|| bad("missing host"))?.clone();
        let port = authority.port_u16().unwrap_or(80);
        let origin_form: Uri = uri
            .path_and_query()
            .map(|p| p.as_str())
            .unwrap_or("/")
            .parse()
            .map_err(|_| bad("invalid path"))?;
        let mut headers = target.request_headers();
        let host = HeaderValue::from_str(authority.as_str()).map_err(|_| bad("invalid host"))?;
        headers.insert(HOST, host);
        Ok(Requester {
            connector: Connector::new(authority.host(), port),
            path: origin_form,
            headers,
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
    ///
    /// `slot` holds the caller's idle connection: it is used (or a new one opened) and, when the
    /// request completed cleanly, the connection is left there for the next request.
    pub(crate) async fn execute(
        &self,
        planned: PlannedRequest,
        phase: Phase,
        scheduled_ns: Option<Nanos>,
        abort: &CancelToken,
        slot: &mut Option<Conn>,
    ) -> RequestRecord {
        let mut st = State {
            status: None,
            headers_ns: None,
            content_ns: Vec::with_capacity(timeline_capacity(planned.max_tokens)),
            text: String::with_capacity(4 * timeline_capacity(planned.max_tokens)),
            usage: None,
            worker: None,
            end_ns: None,
            conn: None,
        };
        self.progress.started();
        let sent_at = Instant::now();
        let send_ns = self.clock.ns_at(sent_at);
        let driven = {
            let work = self.drive(Arc::clone(&planned.body), &mut st, slot);
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
            Ok(rest) => {
                if let (Some(mut body), Some(conn)) = (rest, st.conn.as_mut()) {
                    // `[DONE]` arrived: the record is final. Read the end of the body (bounded)
                    // so the connection can be reused, outside the timeout and abort above.
                    let mut ended = false;
                    if !abort.is_cancelled() {
                        let deadline = Instant::now() + DRAIN_AFTER_DONE;
                        loop {
                            match tokio::time::timeout_at(deadline, conn.frame(&mut body)).await {
                                Ok(Some(Ok(_))) => continue,
                                Ok(None) => ended = true,
                                _ => {}
                            }
                            break;
                        }
                    }
                    if !ended {
                        st.conn = None;
                    }
                }
                if let Some(mut conn) = st.conn.take().filter(Conn::reusable) {
                    conn.reused = true;
                    *slot = Some(conn);
                }
                Ok(())
            }
            // A connection interrupted mid-request is dropped (hyper closes it).
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

    fn build_request(&self, body: Arc<[u8]>) -> Request<Full<Bytes>> {
        let mut req = Request::new(Full::new(Bytes::from_owner(body)));
        *req.method_mut() = Method::POST;
        *req.uri_mut() = self.path.clone();
        *req.headers_mut() = self.headers.clone();
        req
    }

    /// Get a connection, send, and wait for the response head. A reused (keep-alive) connection
    /// that turns out closed before the request was written is replaced once by a new one.
    async fn send(
        &self,
        body: Arc<[u8]>,
        st: &mut State,
        slot: &mut Option<Conn>,
    ) -> Result<Response<Incoming>, Fail> {
        let mut req = self.build_request(body);
        loop {
            let mut conn = match slot.take() {
                Some(conn) => conn,
                None => self.connector.connect().await.map_err(|e| {
                    let kind = if e.is_refused() {
                        FailureKind::ConnectRefused
                    } else {
                        FailureKind::Connect
                    };
                    Fail::new(kind, e.to_string())
                })?,
            };
            let reused = conn.reused;
            if let Err(e) = conn.ready().await {
                if reused {
                    continue;
                }
                return Err(Fail::new(FailureKind::Connect, error_chain(&e)));
            }
            match conn.send(req).await {
                Ok(resp) => {
                    st.conn = Some(conn);
                    return Ok(resp);
                }
                Err(mut e) => match e.take_message() {
                    Some(unsent) if reused => req = unsent,
                    _ => return Err(Fail::new(FailureKind::Connect, error_chain(e.error()))),
                },
            }
        }
    }

    /// Send and read the response. `Ok(Some(body))`: complete at `[DONE]`, with the rest of the
    /// HTTP body still to be drained.
    async fn drive(
        &self,
        body: Arc<[u8]>,
        st: &mut State,
        slot: &mut Option<Conn>,
    ) -> Result<Option<Incoming>, Fail> {
        let resp = self.send(body, st, slot).await?;
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
            let detail = read_prefix(st, body, Failure::MAX_DETAIL).await;
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
            let frame = match next_frame(&mut st.conn, &mut body).await {
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
        while let Some(frame) = next_frame(&mut st.conn, &mut body).await {
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

/// The next body frame, driving the request's connection meanwhile.
async fn next_frame(
    conn: &mut Option<Conn>,
    body: &mut Incoming,
) -> Option<Result<Frame<Bytes>, hyper::Error>> {
    match conn {
        Some(conn) => conn.frame(body).await,
        // Not reachable (a response implies a connection); reading alone still works.
        None => body.frame().await,
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

/// The first `limit` bytes of an error body, lossily decoded (bounded by the caller's timeout).
async fn read_prefix(st: &mut State, mut body: Incoming, limit: usize) -> String {
    let mut buf = Vec::new();
    while buf.len() < limit {
        match next_frame(&mut st.conn, &mut body).await {
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
