//! A fast OpenAI-compatible streaming server with FIXED injected delays, for measuring load
//! generators (`bench/loadgen.sh`), not a model of a deployment (that is `infergate sim`).
//!
//! ```text
//! cargo build --release -p infergate-sim --example fixed_delay_server
//! target/release/examples/fixed_delay_server --ttft-ms 50 --itl-ms 5
//! ```
//!
//! `POST /v1/chat/completions` (and `/v1/completions`) with `"stream": true`: the response head
//! goes out at once; the first token is written TTFT after the request head arrived, token `i`
//! at `arrival + TTFT + i × ITL` (absolute deadlines: a late token does not delay the next one),
//! `max_tokens` (or `max_completion_tokens`, default `--default-tokens`) tokens of `" the"`, each
//! one event, then a `finish_reason` chunk, a usage chunk when `stream_options.include_usage`,
//! and `data: [DONE]`. Token events are pre-built bytes, so a token costs one timer wake-up and
//! one write.
//!
//! Ground truth: for every completed request the server keeps the time from the request head's
//! arrival to the moment the first token was handed to the connection for writing, and the mean
//! gap between its token writes. `GET /stats[?skip=W]` answers their distributions as JSON
//! (excluding the first `W` arrivals, i.e. a client's warmup requests), with the accepted
//! connection count, the peak number of responses streaming at once, the server's own CPU
//! seconds and the wall-clock (Unix ns) times of the first arrival and the last completion;
//! SIGTERM or Ctrl-C prints the same JSON (over all requests) on stdout and exits. The TTFT and
//! ITL figures are the delays the server really injected, timer lateness under load included, so
//! a client's error is its reading minus them.
//!
//! The first line on stdout is `listening on http://ADDR` (bind with `--addr 127.0.0.1:0`, the
//! default, to get a free port).

use bytes::Bytes;
use http_body_util::BodyExt;
use hyper::body::{Body, Frame, Incoming, SizeHint};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use infergate_stats::percentile_sorted;
use std::future::Future;
use std::io::Write;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::time::{Instant, Sleep};

const CHAT_TOKEN: &[u8] = b"data: {\"id\":\"fd-0\",\"object\":\"chat.completion.chunk\",\"created\":0,\"model\":\"m\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\" the\"},\"finish_reason\":null}]}\n\n";
const TEXT_TOKEN: &[u8] = b"data: {\"id\":\"fd-0\",\"object\":\"text_completion\",\"created\":0,\"model\":\"m\",\"choices\":[{\"index\":0,\"text\":\" the\",\"finish_reason\":null}]}\n\n";
/// Largest request body read (a 128k-token prompt is well under this).
const MAX_BODY: usize = 8 << 20;

struct Opts {
    addr: String,
    ttft: Duration,
    itl: Duration,
    threads: usize,
    default_tokens: u32,
    prompt_tokens: u32,
}

fn usage() -> ! {
    eprintln!(
        "usage: fixed_delay_server [--addr 127.0.0.1:0] [--ttft-ms 50] [--itl-ms 5] [--threads N] \
         [--default-tokens 128] [--prompt-tokens 128]"
    );
    std::process::exit(2)
}

fn parse_opts() -> Opts {
    let mut o = Opts {
        addr: "127.0.0.1:0".into(),
        ttft: Duration::from_millis(50),
        itl: Duration::from_millis(5),
        threads: std::thread::available_parallelism().map_or(2, |n| n.get()),
        default_tokens: 128,
        prompt_tokens: 128,
    };
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut it = args.iter();
    while let Some(flag) = it.next() {
        let Some(v) = it.next() else { usage() };
        let num = |v: &str| -> f64 {
            match v.parse::<f64>() {
                Ok(x) if x.is_finite() && x >= 0.0 => x,
                _ => {
                    eprintln!("{flag} {v}: expected a non-negative number");
                    usage()
                }
            }
        };
        match flag.as_str() {
            "--addr" => o.addr = v.clone(),
            "--ttft-ms" => o.ttft = Duration::from_secs_f64(num(v) / 1e3),
            "--itl-ms" => o.itl = Duration::from_secs_f64(num(v) / 1e3),
            "--threads" => o.threads = (num(v) as usize).max(1),
            "--default-tokens" => o.default_tokens = (num(v) as u32).max(1),
            "--prompt-tokens" => o.prompt_tokens = num(v) as u32,
            _ => usage(),
        }
    }
    o
}

/// What one completed request really got: arrival order, TTFT and mean token gap (ns).
#[derive(Clone, Copy)]
struct Truth {
    seq: u64,
    ttft_ns: u64,
    itl_ns: Option<u64>,
}

struct Shared {
    opts: Opts,
    arrivals: AtomicU64,
    connections: AtomicU64,
    in_flight: AtomicU64,
    peak_in_flight: AtomicU64,
    aborted: AtomicU64,
    /// Wall clock (Unix ns) of the first request's arrival and of the last completion, so a
    /// client's CPU can be read over exactly the time it was sending load.
    first_arrival_unix_ns: AtomicU64,
    last_done_unix_ns: AtomicU64,
    /// Pushed once per completed request (not per token), so the lock is cold.
    truths: Mutex<Vec<Truth>>,
}

fn main() {
    let opts = parse_opts();
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(opts.threads)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("cannot start the runtime: {e}");
            std::process::exit(1)
        }
    };
    rt.block_on(serve(opts));
}

async fn serve(opts: Opts) {
    let listener = match listen(&opts.addr) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("cannot listen on {}: {e}", opts.addr);
            std::process::exit(1)
        }
    };
    let addr = listener
        .local_addr()
        .map_or_else(|_| opts.addr.clone(), |a| a.to_string());
    println!("listening on http://{addr}");
    let _ = std::io::stdout().flush();
    let shared = Arc::new(Shared {
        opts,
        arrivals: AtomicU64::new(0),
        connections: AtomicU64::new(0),
        in_flight: AtomicU64::new(0),
        peak_in_flight: AtomicU64::new(0),
        aborted: AtomicU64::new(0),
        first_arrival_unix_ns: AtomicU64::new(0),
        last_done_unix_ns: AtomicU64::new(0),
        truths: Mutex::new(Vec::with_capacity(1 << 16)),
    });
    let stop = async {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{signal, SignalKind};
            match signal(SignalKind::terminate()) {
                Ok(mut term) => tokio::select! {
                    _ = term.recv() => {},
                    _ = tokio::signal::ctrl_c() => {},
                },
                Err(_) => {
                    let _ = tokio::signal::ctrl_c().await;
                }
            }
        }
        #[cfg(not(unix))]
        {
            let _ = tokio::signal::ctrl_c().await;
        }
    };
    tokio::pin!(stop);
    loop {
        tokio::select! {
            r = listener.accept() => match r {
                Ok((stream, _)) => {
                    shared.connections.fetch_add(1, Ordering::Relaxed);
                    let _ = stream.set_nodelay(true);
                    let shared = shared.clone();
                    tokio::spawn(async move {
                        let svc = service_fn(move |req| handle(shared.clone(), req));
                        let _ = http1::Builder::new()
                            .keep_alive(true)
                            .serve_connection(TokioIo::new(stream), svc)
                            .await;
                    });
                }
                // Out of descriptors and the like: back off instead of spinning.
                Err(_) => tokio::time::sleep(Duration::from_millis(10)).await,
            },
            _ = &mut stop => break,
        }
    }
    println!("{}", stats_json(&shared, 0));
    let _ = std::io::stdout().flush();
    std::process::exit(0)
}

/// A listener with a deep accept queue: thousands of clients connect at once at the start of a
/// run, and the default backlog (128) drops their SYNs, which then retry after 1 s, 3 s, ...
fn listen(addr: &str) -> std::io::Result<TcpListener> {
    let addr: std::net::SocketAddr = addr
        .parse()
        .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))?;
    let socket = if addr.is_ipv4() {
        tokio::net::TcpSocket::new_v4()?
    } else {
        tokio::net::TcpSocket::new_v6()?
    };
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    // The kernel caps this at net.core.somaxconn.
    socket.listen(65_535)
}

#[derive(serde::Deserialize)]
struct CompletionRequest {
    #[serde(default)]
    max_tokens: Option<u32>,
    #[serde(default)]
    max_completion_tokens: Option<u32>,
    #[serde(default)]
    stream: bool,
    #[serde(default)]
    stream_options: Option<StreamOptions>,
}

#[derive(serde::Deserialize)]
struct StreamOptions {
    #[serde(default)]
    include_usage: bool,
}

async fn handle(
    shared: Arc<Shared>,
    req: Request<Incoming>,
) -> Result<Response<FixedBody>, std::convert::Infallible> {
    let arrival = Instant::now();
    let path = req.uri().path().to_owned();
    let query = req.uri().query().unwrap_or("").to_owned();
    let method = req.method().clone();
    let chat = match (&method, path.as_str()) {
        (&Method::POST, "/v1/chat/completions") => true,
        (&Method::POST, "/v1/completions") => false,
        (&Method::GET, "/stats") => {
            let skip = query
                .split('&')
                .find_map(|kv| kv.strip_prefix("skip="))
                .and_then(|v| v.parse().ok())
                .unwrap_or(0);
            return Ok(json(StatusCode::OK, stats_json(&shared, skip)));
        }
        (&Method::GET, "/v1/models") => {
            return Ok(json(
                StatusCode::OK,
                r#"{"object":"list","data":[{"id":"m","object":"model"}]}"#.into(),
            ))
        }
        _ => return Ok(json(StatusCode::NOT_FOUND, error("no such route"))),
    };
    let seq = shared.arrivals.fetch_add(1, Ordering::Relaxed);
    if seq == 0 {
        shared
            .first_arrival_unix_ns
            .store(unix_ns(), Ordering::Relaxed);
    }
    let body = match http_body_util::Limited::new(req.into_body(), MAX_BODY)
        .collect()
        .await
    {
        Ok(b) => b.to_bytes(),
        Err(_) => return Ok(json(StatusCode::BAD_REQUEST, error("unreadable body"))),
    };
    let parsed: CompletionRequest = match serde_json::from_slice(&body) {
        Ok(p) => p,
        Err(_) => {
            return Ok(json(
                StatusCode::BAD_REQUEST,
                error("body is not a JSON request"),
            ))
        }
    };
    if !parsed.stream {
        return Ok(json(
            StatusCode::BAD_REQUEST,
            error("only streaming requests (\"stream\": true) are served"),
        ));
    }
    let n = parsed
        .max_completion_tokens
        .or(parsed.max_tokens)
        .unwrap_or(shared.opts.default_tokens)
        .max(1);
    let usage = parsed.stream_options.is_some_and(|s| s.include_usage);
    let obj = if chat {
        "chat.completion.chunk"
    } else {
        "text_completion"
    };
    let finish = if chat {
        r#"{"index":0,"delta":{},"finish_reason":"length"}"#
    } else {
        r#"{"index":0,"text":"","finish_reason":"length"}"#
    };
    let mut tail = format!("data: {{\"id\":\"fd-0\",\"object\":\"{obj}\",\"created\":0,\"model\":\"m\",\"choices\":[{finish}]}}\n\n");
    if usage {
        let p = shared.opts.prompt_tokens;
        tail.push_str(&format!(
            "data: {{\"id\":\"fd-0\",\"object\":\"{obj}\",\"created\":0,\"model\":\"m\",\"choices\":[],\"usage\":{{\"prompt_tokens\":{p},\"completion_tokens\":{n},\"total_tokens\":{}}}}}\n\n",
            u64::from(p) + u64::from(n)
        ));
    }
    tail.push_str("data: [DONE]\n\n");
    let now = shared.in_flight.fetch_add(1, Ordering::Relaxed) + 1;
    shared.peak_in_flight.fetch_max(now, Ordering::Relaxed);
    let first_deadline = arrival + shared.opts.ttft;
    let stream = TokenStream {
        shared: shared.clone(),
        token: Bytes::from_static(if chat { CHAT_TOKEN } else { TEXT_TOKEN }),
        sleep: Box::pin(tokio::time::sleep_until(first_deadline)),
        arrival,
        seq,
        n,
        sent: 0,
        first: None,
        last: arrival,
        tail: Some(Bytes::from(tail)),
        finished: false,
    };
    let mut resp = Response::new(FixedBody::Stream(Box::new(stream)));
    resp.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static("text/event-stream"),
    );
    Ok(resp)
}

fn error(msg: &str) -> String {
    let msg = serde_json::to_string(msg).unwrap_or_else(|_| "\"error\"".into());
    format!("{{\"error\":{{\"message\":{msg},\"type\":\"invalid_request_error\"}}}}")
}

fn json(status: StatusCode, body: String) -> Response<FixedBody> {
    let mut r = Response::new(FixedBody::Full(Some(Bytes::from(body))));
    *r.status_mut() = status;
    r.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static("application/json"),
    );
    r
}

enum FixedBody {
    Full(Option<Bytes>),
    Stream(Box<TokenStream>),
}

struct TokenStream {
    shared: Arc<Shared>,
    token: Bytes,
    sleep: Pin<Box<Sleep>>,
    arrival: Instant,
    seq: u64,
    n: u32,
    sent: u32,
    first: Option<Instant>,
    last: Instant,
    tail: Option<Bytes>,
    /// Set once the truth is recorded (all tokens handed over); a body dropped before is an abort.
    finished: bool,
}

impl TokenStream {
    fn poll_next(
        &mut self,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, std::io::Error>>> {
        if self.sent < self.n {
            if self.sleep.as_mut().poll(cx).is_pending() {
                return Poll::Pending;
            }
            // The frame returned here is encoded and written by hyper in this same poll, so this
            // instant is when the token's bytes go to the socket.
            let now = Instant::now();
            self.first.get_or_insert(now);
            self.last = now;
            self.sent += 1;
            if self.sent < self.n {
                let next = self.arrival + self.shared.opts.ttft + self.shared.opts.itl * self.sent;
                self.sleep.as_mut().reset(next);
            } else {
                self.record();
            }
            return Poll::Ready(Some(Ok(Frame::data(self.token.clone()))));
        }
        Poll::Ready(self.tail.take().map(|t| Ok(Frame::data(t))))
    }

    fn record(&mut self) {
        let first = self.first.unwrap_or(self.last);
        let ttft_ns = nanos(first - self.arrival);
        let itl_ns = (self.n > 1).then(|| nanos(self.last - first) / u64::from(self.n - 1));
        self.finished = true;
        self.shared.in_flight.fetch_sub(1, Ordering::Relaxed);
        self.shared
            .last_done_unix_ns
            .fetch_max(unix_ns(), Ordering::Relaxed);
        if let Ok(mut v) = self.shared.truths.lock() {
            v.push(Truth {
                seq: self.seq,
                ttft_ns,
                itl_ns,
            });
        }
    }
}

impl Drop for TokenStream {
    fn drop(&mut self) {
        if !self.finished {
            self.shared.in_flight.fetch_sub(1, Ordering::Relaxed);
            self.shared.aborted.fetch_add(1, Ordering::Relaxed);
        }
    }
}

fn unix_ns() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, nanos)
}

fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

impl Body for FixedBody {
    type Data = Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        match self.get_mut() {
            FixedBody::Full(b) => Poll::Ready(b.take().map(|b| Ok(Frame::data(b)))),
            FixedBody::Stream(s) => s.poll_next(cx),
        }
    }

    fn is_end_stream(&self) -> bool {
        match self {
            FixedBody::Full(b) => b.is_none(),
            FixedBody::Stream(s) => s.sent >= s.n && s.tail.is_none(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            FixedBody::Full(Some(b)) => SizeHint::with_exact(b.len() as u64),
            FixedBody::Full(None) => SizeHint::with_exact(0),
            FixedBody::Stream(_) => SizeHint::default(),
        }
    }
}

/// `{"count":..,"p50":..,"p99":..,...}` in milliseconds, or `null` fields when empty.
fn dist_json(mut v: Vec<f64>) -> String {
    v.sort_unstable_by(f64::total_cmp);
    let p = |q: f64| percentile_sorted(&v, q).map_or("null".to_owned(), |x| format!("{x:.4}"));
    let mean = if v.is_empty() {
        "null".to_owned()
    } else {
        format!("{:.4}", v.iter().sum::<f64>() / v.len() as f64)
    };
    format!(
        "{{\"count\":{},\"mean\":{mean},\"min\":{},\"p50\":{},\"p90\":{},\"p99\":{},\"max\":{}}}",
        v.len(),
        p(0.0),
        p(50.0),
        p(90.0),
        p(99.0),
        p(100.0)
    )
}

/// User + system CPU seconds of this process (Linux `/proc/self/stat`, 100 ticks per second).
fn process_cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    let rest = stat.get(stat.rfind(')')? + 2..)?;
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok());
    Some((ticks(11)? + ticks(12)?) / 100.0)
}

/// Ground truth over completed requests whose arrival index is at least `skip`.
fn stats_json(shared: &Shared, skip: u64) -> String {
    let truths: Vec<Truth> = match shared.truths.lock() {
        Ok(v) => v.iter().filter(|t| t.seq >= skip).copied().collect(),
        Err(_) => Vec::new(),
    };
    let ttft: Vec<f64> = truths.iter().map(|t| t.ttft_ns as f64 / 1e6).collect();
    let itl: Vec<f64> = truths
        .iter()
        .filter_map(|t| t.itl_ns.map(|x| x as f64 / 1e6))
        .collect();
    format!(
        "{{\"injected_ttft_ms\":{},\"injected_itl_ms\":{},\"threads\":{},\"arrivals\":{},\"connections\":{},\"skipped\":{skip},\"completed\":{},\"aborted\":{},\"peak_in_flight\":{},\"first_arrival_unix_ns\":{},\"last_done_unix_ns\":{},\"server_cpu_s\":{},\"ttft_ms\":{},\"itl_ms\":{}}}",
        shared.opts.ttft.as_secs_f64() * 1e3,
        shared.opts.itl.as_secs_f64() * 1e3,
        shared.opts.threads,
        shared.arrivals.load(Ordering::Relaxed),
        shared.connections.load(Ordering::Relaxed),
        truths.len(),
        shared.aborted.load(Ordering::Relaxed),
        shared.peak_in_flight.load(Ordering::Relaxed),
        shared.first_arrival_unix_ns.load(Ordering::Relaxed),
        shared.last_done_unix_ns.load(Ordering::Relaxed),
        process_cpu_seconds().map_or("null".to_owned(), |s| format!("{s:.2}")),
        dist_json(ttft),
        dist_json(itl),
    )
}
