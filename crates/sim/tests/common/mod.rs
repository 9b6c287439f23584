//! A tiny HTTP/1.1 client for the tests (independent of the load generator), with per-frame
//! arrival times, and an SSE splitter.

#![allow(dead_code)]

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1;
use hyper_util::rt::TokioIo;
use std::net::SocketAddr;
use std::time::Duration;
use tokio::time::{timeout, Instant};

/// Bound on any single test request.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);

#[derive(Debug)]
pub struct Resp {
    pub status: u16,
    pub headers: http::HeaderMap,
    /// Since the request was sent.
    pub headers_at: Duration,
    /// Each body frame with its arrival time since the request was sent.
    pub frames: Vec<(Duration, Bytes)>,
    /// True when the body ended with an error (connection dropped).
    pub body_error: bool,
}

impl Resp {
    pub fn body(&self) -> Vec<u8> {
        self.frames
            .iter()
            .flat_map(|(_, b)| b.iter().copied())
            .collect()
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body()).into_owned()
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body()).expect("JSON body")
    }

    /// SSE `data:` payloads in order.
    pub fn events(&self) -> Vec<String> {
        self.text()
            .split("\n\n")
            .filter(|s| !s.trim().is_empty())
            .map(|s| s.trim_start_matches("data: ").to_string())
            .collect()
    }

    /// Arrival of the first body frame (≈ first token for a stream).
    pub fn first_frame_at(&self) -> Option<Duration> {
        self.frames.first().map(|(t, _)| *t)
    }

    pub fn worker(&self) -> Option<String> {
        self.headers
            .get("x-infergate-worker")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    }
}

/// A keep-alive HTTP/1.1 connection for sending requests back to back.
pub struct Conn {
    sender: http1::SendRequest<Full<Bytes>>,
    addr: SocketAddr,
}

impl Conn {
    pub async fn open(addr: SocketAddr) -> Conn {
        let stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
        stream.set_nodelay(true).unwrap();
        let (sender, conn) = http1::handshake(TokioIo::new(stream))
            .await
            .expect("handshake");
        tokio::spawn(async move {
            let _ = conn.await;
        });
        Conn { sender, addr }
    }

    /// Send one request on this connection and read the whole response.
    pub async fn send(&mut self, method: &str, path: &str, body: Option<&str>) -> Resp {
        timeout(
            REQUEST_TIMEOUT,
            exchange(&mut self.sender, self.addr, method, path, body),
        )
        .await
        .expect("request finished within the bound")
    }
}

/// Send one request on a fresh connection and read the whole response.
pub async fn send(addr: SocketAddr, method: &str, path: &str, body: Option<&str>) -> Resp {
    timeout(REQUEST_TIMEOUT, send_inner(addr, method, path, body))
        .await
        .expect("request finished within the bound")
}

async fn send_inner(addr: SocketAddr, method: &str, path: &str, body: Option<&str>) -> Resp {
    Conn::open(addr).await.send(method, path, body).await
}

async fn exchange(
    sender: &mut http1::SendRequest<Full<Bytes>>,
    addr: SocketAddr,
    method: &str,
    path: &str,
    body: Option<&str>,
) -> Resp {
    sender.ready().await.expect("connection ready");
    let req = http::Request::builder()
        .method(method)
        .uri(path)
        .header("host", addr.to_string())
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(body.unwrap_or("").to_string())))
        .unwrap();
    let t0 = Instant::now();
    let resp = sender.send_request(req).await.expect("response headers");
    let headers_at = t0.elapsed();
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let mut body = resp.into_body();
    let mut frames = Vec::new();
    let mut body_error = false;
    loop {
        match body.frame().await {
            Some(Ok(f)) => {
                if let Ok(d) = f.into_data() {
                    frames.push((t0.elapsed(), d));
                }
            }
            Some(Err(_)) => {
                body_error = true;
                break;
            }
            None => break,
        }
    }
    Resp {
        status,
        headers,
        headers_at,
        frames,
        body_error,
    }
}

pub fn chat_body(words: usize, max_tokens: u32, stream: bool) -> String {
    let prompt = vec!["hello"; words].join(" ");
    serde_json::json!({
        "model": "Qwen/Qwen3-8B",
        "messages": [{"role": "user", "content": prompt}],
        "max_tokens": max_tokens,
        "stream": stream,
        "stream_options": {"include_usage": true},
    })
    .to_string()
}

/// The value of a Prometheus sample line `name{labels} value` (labels matched exactly).
pub fn metric(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find(|l| l.starts_with(series) && l[series.len()..].starts_with(' '))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}

/// The figures the tests compare, from the profile phase via `infergate-stats` (the project's
/// one set of metric definitions).
#[derive(Debug, Clone)]
pub struct Figures {
    pub requests: u64,
    pub failed: u64,
    pub throughput: f64,
    pub ttft_p50_ms: f64,
    pub ttft_p99_ms: f64,
    /// Profile requests served by each worker.
    pub served: Vec<u64>,
}

pub fn figures(records: &[infergate_model::RequestRecord], workers: u32) -> Figures {
    let opts = infergate_stats::SummaryOptions {
        confidence: None,
        ..infergate_stats::SummaryOptions::default()
    };
    let s = infergate_stats::Summary::from_records(records, &opts);
    let ttft = s.time_to_first_token.expect("some successful requests");
    let mut served = vec![0u64; workers as usize];
    for r in records
        .iter()
        .filter(|r| r.phase == infergate_model::Phase::Profile)
    {
        if let Some(w) = r.worker.as_deref().and_then(|w| w.parse::<usize>().ok()) {
            served[w] += 1;
        }
    }
    Figures {
        requests: s.request_count,
        failed: s.error_request_count,
        throughput: s.output_token_throughput.unwrap_or(0.0),
        ttft_p50_ms: ttft.p50,
        ttft_p99_ms: ttft.p99,
        served,
    }
}
