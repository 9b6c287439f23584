//! The real-time server as a client sees it: the OpenAI wire format, cold start, every fault
//! (visible to the client and counted in /metrics), and agreement with virtual time.

mod common;

use common::{chat_body, metric, send, Resp};
use infergate_model::LoadMode;
use infergate_sim::server::{start, SimServer};
use infergate_sim::virtual_time::{self, VirtualLoad};
use infergate_sim::{ColdStart, ColdStartScope, FaultRates, SimConfig};
use std::time::Duration;

fn small() -> SimConfig {
    SimConfig::for_profile("h100x8")
        .unwrap()
        .with_gpus_free(2)
        .unwrap()
}

async fn serve(cfg: SimConfig) -> SimServer {
    start(cfg, "127.0.0.1:0".parse().unwrap()).await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streaming_chat_sends_one_word_per_chunk_then_finish_usage_and_done() {
    let server = serve(small()).await;
    let r = chat(server.local_addr(), 10, 5, true).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.headers["content-type"], "text/event-stream");
    assert!(r.worker().is_some());
    let ev = r.events();
    assert_eq!(ev.len(), 5 + 3, "{ev:?}");
    for e in &ev[..5] {
        let v: serde_json::Value = serde_json::from_str(e).unwrap();
        let c = v["choices"][0]["delta"]["content"].as_str().unwrap();
        assert!(
            c.starts_with(' ') && c[1..].chars().all(|ch| ch.is_ascii_lowercase()),
            "{c:?}"
        );
        assert_eq!(v["model"], "Qwen/Qwen3-8B");
    }
    let fin: serde_json::Value = serde_json::from_str(&ev[5]).unwrap();
    assert_eq!(fin["choices"][0]["finish_reason"], "length");
    let usage: serde_json::Value = serde_json::from_str(&ev[6]).unwrap();
    assert_eq!(usage["choices"], serde_json::json!([]));
    assert_eq!(usage["usage"]["prompt_tokens"], 10);
    assert_eq!(usage["usage"]["completion_tokens"], 5);
    assert_eq!(ev[7], "[DONE]");
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn non_streaming_and_completions_endpoints_honour_max_tokens() {
    let server = serve(small()).await;
    let addr = server.local_addr();
    let r = chat(addr, 3, 7, false).await;
    assert_eq!(r.status, 200);
    let v = r.json();
    let text = v["choices"][0]["message"]["content"].as_str().unwrap();
    assert_eq!(text.split_whitespace().count(), 7);
    assert_eq!(v["usage"]["completion_tokens"], 7);
    let body = r#"{"model":"Qwen/Qwen3-8B","prompt":"one two three","max_completion_tokens":4}"#;
    let v = send(addr, "POST", "/v1/completions", Some(body))
        .await
        .json();
    assert_eq!(
        v["choices"][0]["text"]
            .as_str()
            .unwrap()
            .split_whitespace()
            .count(),
        4
    );
    assert_eq!(v["usage"]["prompt_tokens"], 3);
    let body = r#"{"prompt":"x","stream":true}"#; // default max_tokens, no usage chunk
    let ev = send(addr, "POST", "/v1/completions", Some(body))
        .await
        .events();
    assert_eq!(ev.len(), 16 + 2);
    assert!(ev.iter().all(|e| !e.contains("\"usage\"")));
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn models_health_and_bad_requests_answer_like_openai() {
    let mut cfg = small();
    cfg.model = "my/model".into();
    let server = serve(cfg).await;
    let addr = server.local_addr();
    assert_eq!(send(addr, "GET", "/health", None).await.status, 200);
    let m = send(addr, "GET", "/v1/models", None).await.json();
    assert_eq!(m["data"][0]["id"], "my/model");
    let r = send(addr, "POST", "/v1/chat/completions", Some("{oops")).await;
    assert_eq!(r.status, 400);
    assert!(r.json()["error"]["message"]
        .as_str()
        .unwrap()
        .contains("not valid JSON"));
    let r = send(
        addr,
        "POST",
        "/v1/chat/completions",
        Some(r#"{"model":"my/model"}"#),
    )
    .await;
    assert_eq!(r.status, 400);
    assert!(r.json()["error"]["message"]
        .as_str()
        .unwrap()
        .contains("messages"));
    let r = chat(addr, 1, 1, false).await;
    assert_eq!(r.status, 404, "wrong model name");
    assert_eq!(send(addr, "GET", "/v2/nothing", None).await.status, 404);
    assert_eq!(send(addr, "GET", "/v1/completions", None).await.status, 405);
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cold_start_holds_the_first_completion_while_health_and_models_answer() {
    let cold = Duration::from_millis(300);
    let mut cfg = small();
    cfg.behaviours.cold_start = Some(ColdStart {
        duration_ns: cold.as_nanos() as u64,
        scope: ColdStartScope::Deployment,
    });
    let server = serve(cfg).await;
    let addr = server.local_addr();
    let first = tokio::spawn(async move { chat(addr, 8, 8, true).await });
    // Wait (bounded) until the first request has reached the deployment, then probe.
    let mut pending = false;
    for _ in 0..200 {
        let m = send(addr, "GET", "/metrics", None).await.text();
        if metric(&m, "infergate_sim_cold_start_pending") == Some(1.0) {
            pending = true;
            break;
        }
        tokio::task::yield_now().await;
    }
    assert!(pending, "the first completion never reached the deployment");
    assert_eq!(send(addr, "GET", "/health", None).await.status, 200);
    assert_eq!(send(addr, "GET", "/v1/models", None).await.status, 200);
    assert!(
        !first.is_finished(),
        "health answered while the first completion was still cold"
    );
    let r = first.await.unwrap();
    assert_eq!(r.status, 200);
    assert!(
        r.first_frame_at().unwrap() >= cold,
        "first token at {:?}",
        r.first_frame_at()
    );
    let warm = chat(addr, 8, 8, true).await;
    assert!(
        warm.first_frame_at().unwrap() < cold,
        "warm TTFT {:?}",
        warm.first_frame_at()
    );
    server.shutdown().await;
}

/// POST a chat completion of `words` prompt words and `max_tokens` (`chat_body`).
async fn chat(addr: std::net::SocketAddr, words: usize, max_tokens: u32, stream: bool) -> Resp {
    send(
        addr,
        "POST",
        "/v1/chat/completions",
        Some(&chat_body(words, max_tokens, stream)),
    )
    .await
}

/// The server's `infergate_sim_faults_total{kind="KIND"}` counter, read from `/metrics`.
async fn faults_counted(addr: std::net::SocketAddr, kind: &str) -> Option<f64> {
    let m = send(addr, "GET", "/metrics", None).await.text();
    metric(
        &m,
        &format!("infergate_sim_faults_total{{kind=\"{kind}\"}}"),
    )
}

async fn faulty(rates: FaultRates) -> (SimServer, std::net::SocketAddr) {
    let mut cfg = small();
    cfg.behaviours.faults = rates;
    let s = serve(cfg).await;
    let a = s.local_addr();
    (s, a)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_errors_are_answered_and_counted() {
    let (s, addr) = faulty(FaultRates {
        error_500: 1.0,
        ..FaultRates::default()
    })
    .await;
    let r = chat(addr, 4, 4, true).await;
    assert_eq!(r.status, 500);
    assert!(r.json()["error"]["message"].is_string());
    assert_eq!(faults_counted(addr, "http_500").await, Some(1.0));
    s.shutdown().await;
    let (s, addr) = faulty(FaultRates {
        error_429: 1.0,
        ..FaultRates::default()
    })
    .await;
    assert_eq!(
        send(addr, "POST", "/v1/completions", Some(r#"{"prompt":"x"}"#))
            .await
            .status,
        429
    );
    assert_eq!(faults_counted(addr, "http_429").await, Some(1.0));
    s.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropped_streams_end_early_and_are_counted() {
    let (s, addr) = faulty(FaultRates {
        drop: 1.0,
        ..FaultRates::default()
    })
    .await;
    for _ in 0..3 {
        let r = chat(addr, 4, 20, true).await;
        assert_eq!(r.status, 200);
        assert!(r.body_error, "the body must end with an error");
        let ev = r.events();
        assert!(ev.len() < 20 && !ev.iter().any(|e| e == "[DONE]"), "{ev:?}");
    }
    assert_eq!(faults_counted(addr, "drop").await, Some(3.0));
    s.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_chunks_are_invalid_json_and_counted() {
    let (s, addr) = faulty(FaultRates {
        malformed: 1.0,
        ..FaultRates::default()
    })
    .await;
    let r = chat(addr, 4, 10, true).await;
    let bad = r
        .events()
        .iter()
        .filter(|e| *e != "[DONE]" && serde_json::from_str::<serde_json::Value>(e).is_err())
        .count();
    assert_eq!(bad, 1);
    assert_eq!(faults_counted(addr, "malformed").await, Some(1.0));
    s.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_headers_are_delayed_and_counted() {
    let delay = Duration::from_millis(200);
    let mut cfg = small();
    cfg.behaviours.header_delay_ns = delay.as_nanos() as u64;
    let s = serve(cfg).await;
    let r = chat(s.local_addr(), 4, 2, true).await;
    assert!(r.headers_at >= delay, "headers after {:?}", r.headers_at);
    assert_eq!(
        faults_counted(s.local_addr(), "header_delay").await,
        Some(1.0)
    );
    s.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_carry_per_worker_vllm_series() {
    let s = serve(small()).await;
    let addr = s.local_addr();
    for _ in 0..4 {
        chat(addr, 6, 3, true).await;
    }
    let m = send(addr, "GET", "/metrics", None).await.text();
    let label = |w: u32| format!("{{model_name=\"Qwen/Qwen3-8B\",worker=\"{w}\"}}");
    let mut gen = 0.0;
    let mut prompt = 0.0;
    for w in 0..2 {
        for name in [
            "vllm:num_requests_running",
            "vllm:num_requests_waiting",
            "vllm:kv_cache_usage_perc",
            "vllm:gpu_cache_usage_perc",
        ] {
            assert!(
                metric(&m, &format!("{name}{}", label(w))).is_some(),
                "{name} worker {w}\n{m}"
            );
        }
        gen += metric(&m, &format!("vllm:generation_tokens_total{}", label(w))).unwrap();
        prompt += metric(&m, &format!("vllm:prompt_tokens_total{}", label(w))).unwrap();
        assert_eq!(
            metric(
                &m,
                &format!("infergate_sim_requests_routed_total{}", label(w))
            ),
            Some(2.0),
            "round-robin"
        );
    }
    assert_eq!((gen, prompt), (12.0, 24.0));
    s.shutdown().await;
}

/// A closed loop of `c` clients, `n` requests in all, measured by the test client; returns
/// (output tokens per second, TTFT p50 in ms).
async fn real_closed_loop(
    addr: std::net::SocketAddr,
    c: usize,
    n: usize,
    words: usize,
    out: u32,
) -> (f64, f64) {
    let next = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let t0 = tokio::time::Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..c {
        let next = next.clone();
        tasks.push(tokio::spawn(async move {
            let mut ttfts = Vec::new();
            while next.fetch_add(1, std::sync::atomic::Ordering::Relaxed) < n {
                let r = chat(addr, words, out, true).await;
                assert_eq!(r.status, 200);
                ttfts.push(r.first_frame_at().unwrap().as_secs_f64() * 1e3);
            }
            ttfts
        }));
    }
    let mut ttfts = Vec::new();
    for t in tasks {
        ttfts.extend(t.await.unwrap());
    }
    let secs = t0.elapsed().as_secs_f64();
    ttfts.sort_by(f64::total_cmp);
    let p50 = infergate_stats::percentile_sorted(&ttfts, 50.0).unwrap();
    ((n as f64) * f64::from(out) / secs, p50)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn real_time_and_virtual_time_agree_on_a_small_scenario() {
    // One worker, 16 clients on keep-alive connections, 96 requests of 64 in / 32 out.
    let cfg = small().with_gpus_free(1).unwrap();
    let (c, n, words, out) = (16u32, 96u64, 64u32, 32u32);
    let mut load = VirtualLoad::aicr(c);
    load.mode = LoadMode::Closed { concurrency: c };
    load.request_count = n;
    load.warmup = 0;
    load.input_tokens = words;
    load.output_tokens = out;
    load.net_delay_ns = 200_000;
    let v = virtual_time::run(&cfg, &load).unwrap();
    let vs = common::figures(&v.records, cfg.workers);
    let s = serve(cfg).await;
    let (tput, p50) =
        real_closed_loop(s.local_addr(), c as usize, n as usize, words as usize, out).await;
    s.shutdown().await;
    eprintln!(
        "real {tput:.0} tok/s, TTFT p50 {p50:.2} ms; virtual {:.0} tok/s, {:.2} ms",
        vs.throughput, vs.ttft_p50_ms
    );
    let tput_err = (tput - vs.throughput).abs() / vs.throughput;
    assert!(
        tput_err <= 0.15,
        "throughput real {tput:.0} vs virtual {:.0}",
        vs.throughput
    );
    let p50_err = (p50 - vs.ttft_p50_ms).abs();
    assert!(
        p50_err <= 5.0 || p50_err / vs.ttft_p50_ms <= 0.25,
        "TTFT p50 real {p50:.2} ms vs virtual {:.2} ms",
        vs.ttft_p50_ms
    );
}
