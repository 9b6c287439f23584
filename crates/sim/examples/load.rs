//! A minimal closed-loop streaming client for measuring the real-time server's cost (not the
//! product's load generator): C keep-alive connections, each sending chat completions back to
//! back. Prints throughput and TTFT p50/p99 as seen here, plus this process's CPU time.
//!
//! `cargo run --release -p infergate-sim --example load -- ADDR CONCURRENCY REQUESTS [IN] [OUT]`

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1;
use hyper_util::rt::TokioIo;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use tokio::time::Instant;

fn cpu_seconds() -> f64 {
    // utime + stime of this process, in clock ticks (fields 14 and 15 of /proc/self/stat).
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let rest = stat.rsplit(')').next().unwrap_or("");
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| f.get(i).and_then(|s| s.parse::<f64>().ok()).unwrap_or(0.0);
    (ticks(11) + ticks(12)) / 100.0
}

#[tokio::main]
async fn main() {
    let a: Vec<String> = std::env::args().skip(1).collect();
    if a.len() < 3 {
        eprintln!("usage: load ADDR CONCURRENCY REQUESTS [IN_WORDS] [OUT_TOKENS]");
        std::process::exit(2);
    }
    let addr: std::net::SocketAddr = a[0].parse().expect("ADDR like 127.0.0.1:8000");
    let c: usize = a[1].parse().expect("CONCURRENCY");
    let n: usize = a[2].parse().expect("REQUESTS");
    let words: usize = a.get(3).and_then(|s| s.parse().ok()).unwrap_or(128);
    let out: u32 = a.get(4).and_then(|s| s.parse().ok()).unwrap_or(128);
    let prompt = vec!["hello"; words].join(" ");
    let body = Bytes::from(
        serde_json::json!({"model": "Qwen/Qwen3-8B", "messages": [{"role": "user", "content": prompt}],
            "max_tokens": out, "stream": true, "stream_options": {"include_usage": true}})
        .to_string(),
    );
    let next = Arc::new(AtomicUsize::new(0));
    let cpu0 = cpu_seconds();
    let t0 = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..c {
        let (next, body) = (next.clone(), body.clone());
        tasks.push(tokio::spawn(async move {
            let stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
            stream.set_nodelay(true).expect("nodelay");
            let (mut tx, conn) = http1::handshake(TokioIo::new(stream))
                .await
                .expect("handshake");
            tokio::spawn(conn);
            let mut ttft = Vec::new();
            let mut bytes = 0usize;
            while next.fetch_add(1, Ordering::Relaxed) < n {
                let req = http::Request::post("/v1/chat/completions")
                    .header("host", "sim")
                    .header("content-type", "application/json")
                    .body(Full::new(body.clone()))
                    .expect("request");
                let s = Instant::now();
                let resp = tx.send_request(req).await.expect("response");
                let mut b = resp.into_body();
                let mut first = true;
                while let Some(Ok(f)) = b.frame().await {
                    if let Ok(d) = f.into_data() {
                        if first {
                            ttft.push(s.elapsed().as_secs_f64() * 1e3);
                            first = false;
                        }
                        bytes += d.len();
                    }
                }
            }
            (ttft, bytes)
        }));
    }
    let mut ttft = Vec::new();
    let mut bytes = 0;
    for t in tasks {
        let (v, b) = t.await.expect("task");
        ttft.extend(v);
        bytes += b;
    }
    let secs = t0.elapsed().as_secs_f64();
    ttft.sort_by(f64::total_cmp);
    let pct = |p: f64| infergate_stats::percentile_sorted(&ttft, p).unwrap_or(f64::NAN);
    println!(
        "{} requests in {secs:.2} s: {:.0} output tok/s, TTFT p50 {:.1} ms p99 {:.1} ms, {:.1} MB received, client CPU {:.2} s",
        ttft.len(),
        ttft.len() as f64 * f64::from(out) / secs,
        pct(50.0),
        pct(99.0),
        bytes as f64 / 1e6,
        cpu_seconds() - cpu0
    );
}
