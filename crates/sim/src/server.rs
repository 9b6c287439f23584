//! The real-time server: the serving model behind an OpenAI-compatible HTTP/1.1 endpoint.
//!
//! One tokio task per worker runs engine steps on absolute deadlines (`sleep_until`), so timer
//! slop never accumulates into lost throughput. HTTP handlers parse, decide faults, route, and
//! queue the request on its worker's channel; each step end pushes one token notification per
//! running request into that request's channel, and the response body formats SSE chunks from
//! them (batching whatever is ready into one write). No locks: gauges and counters are atomics.
//!
//! Endpoints: `POST /v1/chat/completions`, `POST /v1/completions` (streaming or not),
//! `GET /v1/models`, `GET /health`, `GET /metrics` (Prometheus text, vLLM metric names with a
//! `worker` label). Every completion response names its worker in `x-infergate-worker`.

use crate::engine::{Engine, Flow, Payload, Seq, Token};
use crate::faults::ColdStartScope;
use crate::openai::{error_body, parse_request, Api, ChunkWriter};
use crate::rng::{draw, stream};
use crate::router::Router;
use crate::{SimConfig, SimError};
use bytes::{Bytes, BytesMut};
use http::{header, HeaderValue, Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Limited};
use hyper::body::{Body, Frame, Incoming, SizeHint};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use std::fmt::Write as _;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinSet;
use tokio::time::Instant;

/// Largest request body accepted, in bytes.
const MAX_BODY: usize = 8 << 20;
/// How long reading a request body may take.
const BODY_TIMEOUT: Duration = Duration::from_secs(30);
/// A step deadline this far in the past is not caught up on: the chain restarts at "now".
const MAX_CATCH_UP: Duration = Duration::from_millis(5);

/// A running simulated deployment.
#[derive(Debug)]
pub struct SimServer {
    addr: SocketAddr,
    shutdown: ShutdownHandle,
    task: tokio::task::JoinHandle<()>,
}

/// Stops a [`SimServer`] from anywhere (cloneable, cheap).
#[derive(Debug, Clone)]
pub struct ShutdownHandle(Arc<watch::Sender<bool>>);

impl ShutdownHandle {
    /// Ask the server to stop: no new connections, workers stop, open streams end.
    pub fn shutdown(&self) {
        self.0.send_replace(true);
    }
}

impl SimServer {
    /// The bound address (the real port when started on port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// A handle that stops the server.
    pub fn shutdown_handle(&self) -> ShutdownHandle {
        self.shutdown.clone()
    }

    /// Stop the server and wait (at most 5 s) until its tasks have ended.
    pub async fn shutdown(self) {
        self.shutdown.shutdown();
        let _ = tokio::time::timeout(Duration::from_secs(5), self.task).await;
    }

    /// Wait until the server is stopped through a [`ShutdownHandle`].
    pub async fn wait(self) {
        let _ = self.task.await;
    }
}

/// Per-worker state shared between handlers, the worker task and `/metrics`.
#[derive(Debug, Default)]
struct WorkerSlot {
    in_flight: AtomicU32,
    queued: AtomicU32,
    running: AtomicU32,
    waiting: AtomicU32,
    kv_usage_bits: AtomicU64,
    generation_tokens: AtomicU64,
    prompt_tokens: AtomicU64,
    routed: AtomicU64,
    finished: AtomicU64,
}

/// Deployment-wide counters for `/metrics`.
#[derive(Debug, Default)]
struct Counters {
    requests: AtomicU64,
    bad_requests: AtomicU64,
    http_500: AtomicU64,
    http_429: AtomicU64,
    dropped: AtomicU64,
    malformed: AtomicU64,
    header_delayed: AtomicU64,
}

struct Shared {
    cfg: SimConfig,
    router: Router,
    epoch: Instant,
    created: u64,
    model_json: String,
    slots: Vec<Arc<WorkerSlot>>,
    senders: Vec<mpsc::UnboundedSender<Seq<RtSeq>>>,
    tickets: AtomicU64,
    /// Deployment cold start: nanoseconds since the epoch (+1) until which no step ends.
    cold_until: AtomicU64,
    counters: Arc<Counters>,
}

impl Shared {
    fn now_ns(&self) -> u64 {
        self.epoch.elapsed().as_nanos() as u64
    }
}

/// A request inside an engine: where its tokens go, and its in-flight slot.
struct RtSeq {
    tx: mpsc::Sender<()>,
    slot: Arc<WorkerSlot>,
}

impl Payload for RtSeq {
    fn is_cancelled(&self) -> bool {
        self.tx.is_closed()
    }
}

impl Drop for RtSeq {
    fn drop(&mut self) {
        self.slot.in_flight.fetch_sub(1, Relaxed);
    }
}

/// Bind `addr` and start serving `cfg`. Must be called inside a tokio runtime (multi-threaded
/// recommended); returns once the socket is bound.
pub async fn start(cfg: SimConfig, addr: SocketAddr) -> Result<SimServer, SimError> {
    cfg.validate()?;
    let listener = TcpListener::bind(addr)
        .await
        .map_err(|source| SimError::Bind { addr, source })?;
    let local = listener
        .local_addr()
        .map_err(|source| SimError::Bind { addr, source })?;
    let (sd_tx, sd_rx) = watch::channel(false);
    let mut slots = Vec::new();
    let mut senders = Vec::new();
    let mut receivers = Vec::new();
    for _ in 0..cfg.workers {
        slots.push(Arc::new(WorkerSlot::default()));
        let (tx, rx) = mpsc::unbounded_channel();
        senders.push(tx);
        receivers.push(rx);
    }
    let created = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let shared = Arc::new(Shared {
        router: cfg.router(),
        model_json: serde_json::Value::String(cfg.model.clone()).to_string(),
        cfg,
        epoch: Instant::now(),
        created,
        slots,
        senders,
        tickets: AtomicU64::new(0),
        cold_until: AtomicU64::new(0),
        counters: Arc::new(Counters::default()),
    });
    let mut tasks = JoinSet::new();
    for (w, rx) in receivers.into_iter().enumerate() {
        tasks.spawn(worker_loop(w, shared.clone(), rx, sd_rx.clone()));
    }
    let task = tokio::spawn(accept_loop(listener, shared, sd_rx, tasks));
    Ok(SimServer {
        addr: local,
        shutdown: ShutdownHandle(Arc::new(sd_tx)),
        task,
    })
}

async fn accept_loop(
    listener: TcpListener,
    shared: Arc<Shared>,
    mut shutdown: watch::Receiver<bool>,
    mut workers: JoinSet<()>,
) {
    let mut conns = JoinSet::new();
    loop {
        tokio::select! {
            r = listener.accept() => match r {
                Ok((stream, _)) => {
                    let _ = stream.set_nodelay(true);
                    let shared = shared.clone();
                    conns.spawn(async move {
                        let svc = service_fn(move |req| handle(shared.clone(), req));
                        let _ = http1::Builder::new()
                            .keep_alive(true)
                            .serve_connection(TokioIo::new(stream), svc)
                            .await;
                    });
                }
                // Out of descriptors and the like: back off briefly instead of spinning.
                Err(_) => tokio::time::sleep(Duration::from_millis(10)).await,
            },
            _ = stopped(&mut shutdown) => break,
        }
        while conns.try_join_next().is_some() {}
    }
    drop(listener);
    workers.abort_all();
    while workers.join_next().await.is_some() {}
    conns.abort_all();
    while conns.join_next().await.is_some() {}
}

async fn worker_loop(
    w: usize,
    shared: Arc<Shared>,
    mut rx: mpsc::UnboundedReceiver<Seq<RtSeq>>,
    mut shutdown: watch::Receiver<bool>,
) {
    let cfg = &shared.cfg;
    let slot = shared.slots[w].clone();
    let mut engine: Engine<RtSeq> = Engine::new(cfg.profile.engine.clone(), cfg.seed, w as u32);
    let cold = cfg.behaviours.cold_start;
    let mut cold_applied = cold.is_none();
    let mut chain: Option<Instant> = None;
    loop {
        while let Ok(seq) = rx.try_recv() {
            slot.queued.fetch_sub(1, Relaxed);
            // Size was checked by the handler, so this cannot fail; if it did, dropping the
            // sequence ends its response.
            let _ = engine.submit(seq);
        }
        if !cold_applied {
            if let Some(c) = cold {
                match c.scope {
                    ColdStartScope::Deployment => {
                        let until = shared.cold_until.load(Relaxed);
                        if until > 0 {
                            engine.set_cold_until(until - 1);
                            cold_applied = true;
                        }
                    }
                    ColdStartScope::Worker if !engine.is_idle() => {
                        engine.set_cold_on_first_step(c.duration_ns);
                        cold_applied = true;
                    }
                    ColdStartScope::Worker => {}
                }
            }
        }
        let now = Instant::now();
        let start = match chain.take() {
            Some(t) if now.saturating_duration_since(t) <= MAX_CATCH_UP => t,
            _ => now,
        };
        let start_ns = start.saturating_duration_since(shared.epoch).as_nanos() as u64;
        let factor = cfg.step_factor(w as u32, start_ns);
        match engine.start_step(start_ns, factor) {
            None => {
                publish_gauges(&slot, &engine);
                tokio::select! {
                    seq = rx.recv() => match seq {
                        Some(seq) => {
                            slot.queued.fetch_sub(1, Relaxed);
                            let _ = engine.submit(seq);
                        }
                        None => break,
                    },
                    _ = stopped(&mut shutdown) => break,
                }
            }
            Some(d) => {
                publish_gauges(&slot, &engine);
                let deadline = start + Duration::from_nanos(d);
                tokio::select! {
                    _ = tokio::time::sleep_until(deadline) => {}
                    _ = stopped(&mut shutdown) => break,
                }
                engine.finish_step(deliver);
                let c = engine.counters();
                slot.generation_tokens.store(c.generation_tokens, Relaxed);
                slot.prompt_tokens.store(c.prompt_tokens, Relaxed);
                slot.finished.store(c.finished, Relaxed);
                slot.kv_usage_bits
                    .store(engine.kv_usage().to_bits(), Relaxed);
                chain = Some(deadline);
            }
        }
    }
}

fn deliver(seq: &mut RtSeq, _tok: Token) -> Flow {
    match seq.tx.try_send(()) {
        Ok(()) => Flow::Continue,
        // Closed: the client went away. Full cannot happen (capacity = max_tokens).
        Err(_) => Flow::Abort,
    }
}

fn publish_gauges(slot: &WorkerSlot, engine: &Engine<RtSeq>) {
    slot.running.store(engine.running() as u32, Relaxed);
    slot.waiting.store(engine.waiting() as u32, Relaxed);
}

type HandlerError = Box<dyn std::error::Error + Send + Sync>;

async fn handle(
    shared: Arc<Shared>,
    req: Request<Incoming>,
) -> Result<Response<SimBody>, HandlerError> {
    let path = req.uri().path().to_string();
    let method = req.method().clone();
    match (method, path.as_str()) {
        (Method::POST, "/v1/chat/completions") => completion(shared, Api::Chat, req).await,
        (Method::POST, "/v1/completions") => completion(shared, Api::Completions, req).await,
        (Method::GET, "/health") => Ok(json_response(
            StatusCode::OK,
            Bytes::from_static(br#"{"status":"healthy"}"#),
        )),
        (Method::GET, "/v1/models") => {
            let body = serde_json::json!({"object": "list", "data": [{
                "id": shared.cfg.model, "object": "model", "created": shared.created,
                "owned_by": "infergate-sim"}]});
            Ok(json_response(StatusCode::OK, Bytes::from(body.to_string())))
        }
        (Method::GET, "/metrics") => {
            let mut r = Response::new(SimBody::full(Bytes::from(metrics_text(&shared))));
            r.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/plain; version=0.0.4"),
            );
            Ok(r)
        }
        (_, "/v1/chat/completions" | "/v1/completions" | "/health" | "/v1/models" | "/metrics") => {
            Ok(error_response(
                StatusCode::METHOD_NOT_ALLOWED,
                "method not allowed",
                "invalid_request_error",
            ))
        }
        _ => Ok(error_response(
            StatusCode::NOT_FOUND,
            &format!("no route for {path}"),
            "not_found_error",
        )),
    }
}

async fn completion(
    shared: Arc<Shared>,
    api: Api,
    req: Request<Incoming>,
) -> Result<Response<SimBody>, HandlerError> {
    let cfg = &shared.cfg;
    let counters = &shared.counters;
    let body = match tokio::time::timeout(
        BODY_TIMEOUT,
        Limited::new(req.into_body(), MAX_BODY).collect(),
    )
    .await
    {
        Ok(Ok(b)) => b.to_bytes(),
        Ok(Err(e)) => {
            counters.bad_requests.fetch_add(1, Relaxed);
            return Ok(error_response(
                StatusCode::PAYLOAD_TOO_LARGE,
                &format!("cannot read the request body (limit {MAX_BODY} bytes): {e}"),
                "invalid_request_error",
            ));
        }
        Err(_) => {
            counters.bad_requests.fetch_add(1, Relaxed);
            return Ok(error_response(
                StatusCode::REQUEST_TIMEOUT,
                "request body timed out",
                "invalid_request_error",
            ));
        }
    };
    let parsed = match parse_request(api, &body, cfg.default_max_tokens, cfg.kv_block_words) {
        Ok(p) => p,
        Err(msg) => {
            counters.bad_requests.fetch_add(1, Relaxed);
            return Ok(error_response(
                StatusCode::BAD_REQUEST,
                &msg,
                "invalid_request_error",
            ));
        }
    };
    if let Some(m) = &parsed.model {
        if *m != cfg.model {
            counters.bad_requests.fetch_add(1, Relaxed);
            return Ok(error_response(
                StatusCode::NOT_FOUND,
                &format!(
                    "the model `{m}` does not exist; this server serves `{}`",
                    cfg.model
                ),
                "not_found_error",
            ));
        }
    }
    let prompt = parsed.prompt_tokens.max(1);
    if u64::from(prompt) + u64::from(parsed.max_tokens) > cfg.profile.engine.kv_capacity_tokens {
        counters.bad_requests.fetch_add(1, Relaxed);
        return Ok(error_response(
            StatusCode::BAD_REQUEST,
            &format!(
                "prompt ({prompt} tokens) + max_tokens ({}) exceed the KV cache of {} tokens",
                parsed.max_tokens, cfg.profile.engine.kv_capacity_tokens
            ),
            "invalid_request_error",
        ));
    }
    let ticket = shared.tickets.fetch_add(1, Relaxed);
    counters.requests.fetch_add(1, Relaxed);
    let fate = cfg
        .behaviours
        .faults
        .decide(cfg.seed, ticket, parsed.max_tokens);
    match fate.reject {
        Some(500) => {
            counters.http_500.fetch_add(1, Relaxed);
            return Ok(error_response(
                StatusCode::INTERNAL_SERVER_ERROR,
                "simulated internal error",
                "internal_server_error",
            ));
        }
        Some(_) => {
            counters.http_429.fetch_add(1, Relaxed);
            return Ok(error_response(
                StatusCode::TOO_MANY_REQUESTS,
                "simulated rate limit",
                "rate_limit_exceeded",
            ));
        }
        None => {}
    }
    if cfg.behaviours.header_delay_ns > 0 {
        counters.header_delayed.fetch_add(1, Relaxed);
        tokio::time::sleep(Duration::from_nanos(cfg.behaviours.header_delay_ns)).await;
    }
    let w = shared.router.pick(ticket, parsed.prefix_hash, |w| {
        shared.slots[w].in_flight.load(Relaxed)
    });
    let slot = shared.slots[w].clone();
    slot.in_flight.fetch_add(1, Relaxed);
    slot.routed.fetch_add(1, Relaxed);
    if let Some(c) = cfg.behaviours.cold_start {
        if c.scope == ColdStartScope::Deployment {
            let until = shared.now_ns() + c.duration_ns + 1;
            let _ = shared
                .cold_until
                .compare_exchange(0, until, Relaxed, Relaxed);
        }
    }
    let (tx, rx) = mpsc::channel(parsed.max_tokens as usize);
    let seq = Seq::new(
        prompt,
        parsed.max_tokens,
        RtSeq {
            tx,
            slot: slot.clone(),
        },
    );
    slot.queued.fetch_add(1, Relaxed);
    if shared.senders[w].send(seq).is_err() {
        slot.queued.fetch_sub(1, Relaxed);
        return Ok(error_response(
            StatusCode::SERVICE_UNAVAILABLE,
            "the deployment is shutting down",
            "service_unavailable",
        ));
    }
    let writer = ChunkWriter::new(
        api,
        ticket,
        shared.created,
        &shared.model_json,
        draw(cfg.seed, stream::WORDS, ticket),
    );
    let worker_header = HeaderValue::from(w as u32);
    if parsed.stream {
        let body = SseBody {
            rx,
            writer,
            sent: 0,
            max: parsed.max_tokens,
            usage: parsed.include_usage.then_some(prompt),
            drop_after: fate.drop_after,
            malformed_at: fate.malformed_at,
            buf: BytesMut::new(),
            state: SseState::Streaming,
            counters: counters.clone(),
        };
        let mut r = Response::new(SimBody::Sse(Box::new(body)));
        let h = r.headers_mut();
        h.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/event-stream"),
        );
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
        h.insert("x-infergate-worker", worker_header);
        return Ok(r);
    }
    let mut rx = rx;
    let mut got = 0u32;
    while got < parsed.max_tokens {
        if got == fate.drop_after.unwrap_or(u32::MAX) {
            counters.dropped.fetch_add(1, Relaxed);
            return Err("simulated connection drop".into());
        }
        match rx.recv().await {
            Some(()) => got += 1,
            None => return Err("the worker went away".into()),
        }
    }
    drop(rx);
    let mut full = writer.full_body(
        ticket,
        shared.created,
        &cfg.model,
        prompt,
        parsed.max_tokens,
    );
    if fate.malformed_at.is_some() {
        counters.malformed.fetch_add(1, Relaxed);
        full.truncate(full.len() / 2);
    }
    let mut r = json_response(StatusCode::OK, full);
    r.headers_mut().insert("x-infergate-worker", worker_header);
    Ok(r)
}

fn json_response(status: StatusCode, body: Bytes) -> Response<SimBody> {
    let mut r = Response::new(SimBody::full(body));
    *r.status_mut() = status;
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    r
}

fn error_response(status: StatusCode, message: &str, kind: &str) -> Response<SimBody> {
    json_response(status, error_body(message, kind, status.as_u16()))
}

/// Response bodies: a fixed buffer, or a token stream.
enum SimBody {
    Full(Option<Bytes>),
    Sse(Box<SseBody>),
}

impl SimBody {
    fn full(b: Bytes) -> Self {
        SimBody::Full(Some(b))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SseState {
    Streaming,
    /// Flush what is buffered, then fail the body (drops the connection).
    FailNext,
    Done,
}

struct SseBody {
    rx: mpsc::Receiver<()>,
    writer: ChunkWriter,
    sent: u32,
    max: u32,
    usage: Option<u32>,
    drop_after: Option<u32>,
    malformed_at: Option<u32>,
    buf: BytesMut,
    state: SseState,
    counters: Arc<Counters>,
}

/// Most bytes batched into one body frame when tokens pile up.
const MAX_FRAME: usize = 16 << 10;

impl SseBody {
    fn take(&mut self) -> Poll<Option<Result<Frame<Bytes>, std::io::Error>>> {
        Poll::Ready(Some(Ok(Frame::data(self.buf.split().freeze()))))
    }

    fn poll_next(
        &mut self,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, std::io::Error>>> {
        match self.state {
            SseState::Done => return Poll::Ready(None),
            SseState::FailNext => {
                self.state = SseState::Done;
                return Poll::Ready(Some(Err(std::io::Error::other(
                    "simulated connection drop",
                ))));
            }
            SseState::Streaming => {}
        }
        loop {
            match self.rx.poll_recv(cx) {
                Poll::Ready(Some(())) => {
                    let i = self.sent;
                    if self.drop_after == Some(i) {
                        self.counters.dropped.fetch_add(1, Relaxed);
                        self.state = SseState::FailNext;
                        return if self.buf.is_empty() {
                            self.poll_next(cx)
                        } else {
                            self.take()
                        };
                    }
                    if self.malformed_at == Some(i) {
                        self.counters.malformed.fetch_add(1, Relaxed);
                        self.writer.malformed(&mut self.buf, i);
                    } else {
                        self.writer.token(&mut self.buf, i);
                    }
                    self.sent += 1;
                    if self.sent >= self.max {
                        self.writer
                            .finish(&mut self.buf, self.usage.map(|p| (p, self.max)));
                        self.state = SseState::Done;
                        return self.take();
                    }
                    if self.buf.len() >= MAX_FRAME {
                        return self.take();
                    }
                }
                Poll::Ready(None) => {
                    // The engine let go before the last token: the deployment is stopping.
                    self.state = SseState::FailNext;
                    return if self.buf.is_empty() {
                        self.poll_next(cx)
                    } else {
                        self.take()
                    };
                }
                Poll::Pending => {
                    return if self.buf.is_empty() {
                        Poll::Pending
                    } else {
                        self.take()
                    };
                }
            }
        }
    }
}

impl Body for SimBody {
    type Data = Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        match self.get_mut() {
            SimBody::Full(b) => Poll::Ready(b.take().map(|b| Ok(Frame::data(b)))),
            SimBody::Sse(s) => s.poll_next(cx),
        }
    }

    fn is_end_stream(&self) -> bool {
        match self {
            SimBody::Full(b) => b.is_none(),
            SimBody::Sse(s) => s.state == SseState::Done && s.buf.is_empty(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            SimBody::Full(Some(b)) => SizeHint::with_exact(b.len() as u64),
            SimBody::Full(None) => SizeHint::with_exact(0),
            SimBody::Sse(_) => SizeHint::default(),
        }
    }
}

/// A per-worker series: name, Prometheus type, help text, and how to read it.
type MetricDef = (
    &'static str,
    &'static str,
    &'static str,
    fn(&WorkerSlot) -> f64,
);

/// Prometheus text exposition of the deployment's state.
fn metrics_text(shared: &Shared) -> String {
    let mut out = String::with_capacity(4096);
    let model = shared.cfg.model.replace('\\', "\\\\").replace('"', "\\\"");
    let per_worker: [MetricDef; 9] = [
        (
            "vllm:num_requests_running",
            "gauge",
            "Requests in the worker's running batch.",
            |s| f64::from(s.running.load(Relaxed)),
        ),
        (
            "vllm:num_requests_waiting",
            "gauge",
            "Requests waiting for admission (engine queue plus not yet picked up).",
            |s| f64::from(s.waiting.load(Relaxed) + s.queued.load(Relaxed)),
        ),
        (
            "vllm:kv_cache_usage_perc",
            "gauge",
            "Fraction of the KV cache holding live tokens (0-1).",
            |s| f64::from_bits(s.kv_usage_bits.load(Relaxed)),
        ),
        (
            "vllm:gpu_cache_usage_perc",
            "gauge",
            "Same as vllm:kv_cache_usage_perc (older vLLM name).",
            |s| f64::from_bits(s.kv_usage_bits.load(Relaxed)),
        ),
        (
            "vllm:generation_tokens_total",
            "counter",
            "Output tokens generated.",
            |s| s.generation_tokens.load(Relaxed) as f64,
        ),
        (
            "vllm:prompt_tokens_total",
            "counter",
            "Prompt tokens prefilled.",
            |s| s.prompt_tokens.load(Relaxed) as f64,
        ),
        (
            "vllm:request_success_total",
            "counter",
            "Requests that generated all their tokens.",
            |s| s.finished.load(Relaxed) as f64,
        ),
        (
            "infergate_sim_requests_routed_total",
            "counter",
            "Requests the router sent to this worker.",
            |s| s.routed.load(Relaxed) as f64,
        ),
        (
            "infergate_sim_in_flight",
            "gauge",
            "Requests routed to this worker and not yet finished (the router's load signal).",
            |s| f64::from(s.in_flight.load(Relaxed)),
        ),
    ];
    for (name, kind, help, get) in per_worker {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
        for (w, s) in shared.slots.iter().enumerate() {
            let _ = writeln!(
                out,
                "{name}{{model_name=\"{model}\",worker=\"{w}\"}} {}",
                get(s)
            );
        }
    }
    let c = &shared.counters;
    let _ = writeln!(out, "# HELP infergate_sim_requests_total Completion requests accepted for processing (after validation).\n# TYPE infergate_sim_requests_total counter");
    let _ = writeln!(
        out,
        "infergate_sim_requests_total {}",
        c.requests.load(Relaxed)
    );
    let _ = writeln!(out, "# HELP infergate_sim_bad_requests_total Completion requests refused as invalid (400/404/413).\n# TYPE infergate_sim_bad_requests_total counter");
    let _ = writeln!(
        out,
        "infergate_sim_bad_requests_total {}",
        c.bad_requests.load(Relaxed)
    );
    let _ = writeln!(out, "# HELP infergate_sim_faults_total Simulated faults injected, by kind.\n# TYPE infergate_sim_faults_total counter");
    for (kind, v) in [
        ("http_500", &c.http_500),
        ("http_429", &c.http_429),
        ("drop", &c.dropped),
        ("malformed", &c.malformed),
        ("header_delay", &c.header_delayed),
    ] {
        let _ = writeln!(
            out,
            "infergate_sim_faults_total{{kind=\"{kind}\"}} {}",
            v.load(Relaxed)
        );
    }
    let _ = writeln!(out, "# HELP infergate_sim_cold_start_pending 1 while the deployment-wide cold start has not elapsed.\n# TYPE infergate_sim_cold_start_pending gauge");
    let until = shared.cold_until.load(Relaxed);
    let pending = until > 0 && shared.now_ns() < until - 1;
    let _ = writeln!(
        out,
        "infergate_sim_cold_start_pending {}",
        u8::from(pending)
    );
    out
}

/// Resolves once shutdown was asked for (or the handle is gone).
async fn stopped(rx: &mut watch::Receiver<bool>) {
    let _ = rx.wait_for(|stop| *stop).await;
}
