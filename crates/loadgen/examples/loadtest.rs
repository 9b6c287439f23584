//! Client-overhead measurement for the load generator (a tool, not a test): a minimal streaming
//! server with fixed injected delays, in a child process, driven by `infergate_loadgen::run`.
//!
//! ```text
//! cargo run --release -p infergate-loadgen --example loadtest -- -c 2048 -n 20000
//! cargo run --release -p infergate-loadgen --example loadtest -- server --ttft-ms 50 --itl-ms 5 --tokens 128
//! cargo run --release -p infergate-loadgen --example loadtest -- client --url http://127.0.0.1:PORT -c 512 -n 5000
//! ```
//!
//! Prints one line per run: achieved requests/s and output tokens/s, client CPU per request
//! (user+system of the client process), peak RSS of the client, failures, and TTFT/ITL p50/p99
//! minus the injected delays (the server's own timer lateness is included in that error).

use infergate_loadgen::{run, CancelToken, LoadPlan, Target};
use infergate_model::{PlannedRequest, RequestSource, TokenCounter};
use std::io::{BufRead, Write};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

struct Opts {
    mode: String,
    url: Option<String>,
    concurrency: u32,
    requests: u64,
    ttft_ms: u64,
    itl_ms: u64,
    tokens: u32,
    client_threads: usize,
    server_threads: usize,
}

fn parse() -> Opts {
    let mut o = Opts {
        mode: "both".into(),
        url: None,
        concurrency: 64,
        requests: 2000,
        ttft_ms: 50,
        itl_ms: 5,
        tokens: 128,
        client_threads: 1,
        server_threads: 1,
    };
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut i = 0;
    while i < args.len() {
        let val = || args.get(i + 1).cloned().unwrap_or_default();
        match args[i].as_str() {
            "server" | "client" | "both" => {
                o.mode = args[i].clone();
                i += 1;
                continue;
            }
            "--url" => o.url = Some(val()),
            "-c" => o.concurrency = val().parse().expect("-c N"),
            "-n" => o.requests = val().parse().expect("-n N"),
            "--ttft-ms" => o.ttft_ms = val().parse().expect("ms"),
            "--itl-ms" => o.itl_ms = val().parse().expect("ms"),
            "--tokens" => o.tokens = val().parse().expect("n"),
            "--client-threads" => o.client_threads = val().parse().expect("n"),
            "--server-threads" => o.server_threads = val().parse().expect("n"),
            other => panic!("unknown argument {other}"),
        }
        i += 2;
    }
    o
}

fn main() {
    let o = parse();
    match o.mode.as_str() {
        "server" => serve_forever(&o),
        "client" => {
            let url = o.url.clone().expect("--url");
            client(&o, &url);
        }
        _ => {
            let exe = std::env::current_exe().expect("exe");
            let mut child = std::process::Command::new(exe)
                .args([
                    "server",
                    "--ttft-ms",
                    &o.ttft_ms.to_string(),
                    "--itl-ms",
                    &o.itl_ms.to_string(),
                    "--tokens",
                    &o.tokens.to_string(),
                    "--server-threads",
                    &o.server_threads.to_string(),
                ])
                .stdin(std::process::Stdio::piped())
                .stdout(std::process::Stdio::piped())
                .spawn()
                .expect("spawn server");
            let mut line = String::new();
            std::io::BufReader::new(child.stdout.take().expect("stdout"))
                .read_line(&mut line)
                .expect("server address");
            let url = format!("http://{}", line.trim().trim_start_matches("LISTEN "));
            client(&o, &url);
            drop(child.stdin.take());
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

// ---------------------------------------------------------------- server

const TOKEN_EVENT: &str = "data: {\"id\":\"cmpl-1\",\"object\":\"chat.completion.chunk\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\" tok\"},\"finish_reason\":null}]}\n\n";

fn serve_forever(o: &Opts) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(o.server_threads)
        .enable_all()
        .build()
        .expect("runtime");
    let (ttft, itl, tokens) = (
        Duration::from_millis(o.ttft_ms),
        Duration::from_millis(o.itl_ms),
        o.tokens,
    );
    rt.block_on(async move {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        println!("LISTEN {}", l.local_addr().expect("addr"));
        std::io::stdout().flush().expect("flush");
        // Exit when the parent closes our stdin.
        std::thread::spawn(|| {
            let mut s = String::new();
            let _ = std::io::stdin().read_line(&mut s);
            std::process::exit(0);
        });
        loop {
            let Ok((mut sock, _)) = l.accept().await else { continue };
            let _ = sock.set_nodelay(true);
            tokio::spawn(async move {
                let mut buf = Vec::with_capacity(4096);
                let mut tmp = [0u8; 8192];
                loop {
                    // Read one request: head + content-length body.
                    let need = loop {
                        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                            let head = String::from_utf8_lossy(&buf[..end]).to_ascii_lowercase();
                            let cl = head
                                .lines()
                                .find_map(|l| l.strip_prefix("content-length:"))
                                .and_then(|v| v.trim().parse::<usize>().ok())
                                .unwrap_or(0);
                            break end + 4 + cl;
                        }
                        match sock.read(&mut tmp).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => buf.extend_from_slice(&tmp[..n]),
                        }
                    };
                    while buf.len() < need {
                        match sock.read(&mut tmp).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => buf.extend_from_slice(&tmp[..n]),
                        }
                    }
                    buf.drain(..need);
                    let t0 = tokio::time::Instant::now();
                    let head = b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n";
                    if sock.write_all(head).await.is_err() {
                        return;
                    }
                    for i in 0..tokens {
                        tokio::time::sleep_until(t0 + ttft + itl * i).await;
                        let c = format!("{:x}\r\n{TOKEN_EVENT}\r\n", TOKEN_EVENT.len());
                        if sock.write_all(c.as_bytes()).await.is_err() {
                            return;
                        }
                    }
                    let fin = "data: {\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"length\"}]}\n\n";
                    let usage = format!("data: {{\"choices\":[],\"usage\":{{\"prompt_tokens\":128,\"completion_tokens\":{tokens}}}}}\n\n");
                    let done = "data: [DONE]\n\n";
                    let tail = format!(
                        "{:x}\r\n{fin}\r\n{:x}\r\n{usage}\r\n{:x}\r\n{done}\r\n0\r\n\r\n",
                        fin.len(),
                        usage.len(),
                        done.len()
                    );
                    if sock.write_all(tail.as_bytes()).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
}

// ---------------------------------------------------------------- client

struct Fixed(Arc<[u8]>, u32);

impl RequestSource for Fixed {
    fn path(&self) -> &str {
        "/v1/chat/completions"
    }
    fn streaming(&self) -> bool {
        true
    }
    fn planned(&self, index: u64) -> PlannedRequest {
        PlannedRequest {
            index,
            entry: 0,
            input_tokens: 128,
            max_tokens: self.1,
            body: Arc::clone(&self.0),
        }
    }
}

struct Words;

impl TokenCounter for Words {
    fn count_tokens(&self, text: &str) -> u32 {
        text.split_whitespace().count() as u32
    }
}

/// (user+system CPU seconds, peak RSS in MiB) of this process.
fn cpu_and_rss() -> (f64, f64) {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let after = stat.rsplit_once(')').map(|x| x.1).unwrap_or("");
    let f: Vec<&str> = after.split_whitespace().collect();
    let ticks = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    let cpu = (ticks(11) + ticks(12)) / 100.0;
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let hwm = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .unwrap_or(0.0);
    (cpu, hwm / 1024.0)
}

fn pct(v: &mut [u64], p: f64) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_unstable();
    let rank = p / 100.0 * (v.len() - 1) as f64;
    let (lo, hi) = (rank.floor() as usize, rank.ceil() as usize);
    let w = rank - lo as f64;
    v[lo] as f64 * (1.0 - w) + v[hi] as f64 * w
}

fn client(o: &Opts, url: &str) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(o.client_threads)
        .enable_all()
        .build()
        .expect("runtime");
    let body = format!(
        r#"{{"model":"m","messages":[{{"role":"user","content":"hello"}}],"max_tokens":{},"stream":true,"stream_options":{{"include_usage":true}}}}"#,
        o.tokens
    );
    let source = Arc::new(Fixed(body.into_bytes().into(), o.tokens));
    let mut plan = LoadPlan::closed(o.concurrency, o.requests);
    plan.warmup_count = u64::from(o.concurrency);
    plan.request_timeout = Duration::from_secs(120);
    let (cpu0, _) = cpu_and_rss();
    let wall = Instant::now();
    let target = Target::parse(url, &[], None).expect("url");
    let r = rt
        .block_on(run(
            target,
            source,
            Arc::new(Words),
            plan,
            None,
            CancelToken::new(),
        ))
        .expect("run");
    let elapsed = wall.elapsed().as_secs_f64();
    let (cpu1, rss) = cpu_and_rss();
    let profile: Vec<_> = r
        .records
        .iter()
        .filter(|x| x.phase == infergate_model::Phase::Profile)
        .collect();
    let ok: Vec<_> = profile.iter().filter(|x| x.is_success()).collect();
    let start = profile.iter().map(|x| x.send_ns).min().unwrap_or(0);
    let end = ok
        .iter()
        .filter_map(|x| x.content_ns.last().copied())
        .max()
        .unwrap_or(start + 1);
    let dur = (end - start) as f64 / 1e9;
    let toks: u64 = ok.iter().map(|x| u64::from(x.output_tokens())).sum();
    let mut ttft: Vec<u64> = ok.iter().filter_map(|x| x.ttft_ns()).collect();
    let mut itl: Vec<u64> = ok
        .iter()
        .filter(|x| x.content_ns.len() > 1)
        .map(|x| {
            (x.latency_ns().unwrap_or(0) - x.ttft_ns().unwrap_or(0))
                / (x.content_ns.len() as u64 - 1)
        })
        .collect();
    let peak_in_flight = r.in_flight_samples.iter().map(|s| s.1).max().unwrap_or(0);
    let ms = 1e6;
    println!(
        "c={} n={} ok={} failed={} req/s={:.0} tok/s={:.0} cpu_ms/req={:.3} rss_mib={:.0} peak_in_flight={} ttft_err_ms p50={:+.2} p99={:+.2} itl_err_ms p50={:+.3} p99={:+.3} wall_s={:.1}",
        o.concurrency,
        o.requests,
        ok.len(),
        r.records.iter().filter(|x| !x.is_success()).count(),
        ok.len() as f64 / dur,
        toks as f64 / dur,
        (cpu1 - cpu0) * 1000.0 / r.records.len().max(1) as f64,
        rss,
        peak_in_flight,
        pct(&mut ttft, 50.0) / ms - o.ttft_ms as f64,
        pct(&mut ttft, 99.0) / ms - o.ttft_ms as f64,
        pct(&mut itl, 50.0) / ms - o.itl_ms as f64,
        pct(&mut itl, 99.0) / ms - o.itl_ms as f64,
        elapsed,
    );
    if let Some(f) = r.records.iter().find_map(|x| x.failure.as_ref()) {
        println!("first failure: {f:?}");
    }
}
