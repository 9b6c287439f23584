//! Misbehaving OpenAI-compatible test servers: raw HTTP/1.1 over TCP on 127.0.0.1:0, each on its
//! own thread and runtime (so the client's timing is not disturbed by the server's scheduling).
//! Raw sockets let a test break the protocol exactly where it wants (drop mid-stream, malformed
//! events, never answer).

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering::SeqCst};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{oneshot, Notify};
use tokio::time::Instant;

/// What the server does with each completion request.
#[derive(Clone, Debug)]
pub enum Behavior {
    /// A well-behaved SSE stream: head at once, first token after `ttft`, then one token every
    /// `itl` (absolute deadlines), optional usage chunk, `[DONE]`.
    Stream {
        ttft: Duration,
        itl: Duration,
        tokens: u32,
        usage: bool,
    },
    /// A short well-behaved stream sent with `Connection: close`, then the socket is closed.
    StreamThenClose { tokens: u32 },
    /// A non-streamed chat completion body.
    Json { body: String },
    /// This status with this body.
    Status { code: u16, body: String },
    /// Stream head plus `events` content events, then the socket is closed (no terminator).
    DropMidStream { events: u32 },
    /// A 200 SSE response whose body is exactly these bytes, then a clean chunked end.
    RawSse { body: String },
    /// Read the request and never answer (keep the socket open).
    NeverAnswer,
    /// Read the request and close the connection without answering.
    CloseImmediately,
    /// Answer 401 echoing the request's Authorization header in the body.
    EchoAuth401,
    /// Not ready until `warm_at` after the server started: requests arriving earlier are held
    /// until then; all get a non-streamed completion.
    ColdStart { warm_after: Duration },
}

/// What the server saw.
#[derive(Default)]
pub struct Stats {
    pub connections: AtomicU64,
    pub requests: AtomicU64,
    pub current: AtomicU32,
    pub max_concurrent: AtomicU32,
    pub authorization: Mutex<Vec<String>>,
    pub arrived: Notify,
}

pub struct TestServer {
    pub addr: SocketAddr,
    pub stats: Arc<Stats>,
    shutdown: Option<oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl TestServer {
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Wait (bounded) until at least `n` requests arrived.
    pub async fn wait_for_requests(&self, n: u64) {
        let wait = async {
            loop {
                let notified = self.stats.arrived.notified();
                if self.stats.requests.load(SeqCst) >= n {
                    return;
                }
                notified.await;
            }
        };
        tokio::time::timeout(Duration::from_secs(10), wait)
            .await
            .expect("requests arrived in time");
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Start a server with `behavior` for completions; `GET /v1/models` lists `models`.
pub fn start(behavior: Behavior, models: &[&str]) -> TestServer {
    let std_listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    std_listener.set_nonblocking(true).expect("nonblocking");
    let addr = std_listener.local_addr().expect("addr");
    let stats = Arc::new(Stats::default());
    let (tx, rx) = oneshot::channel();
    let models: Vec<String> = models.iter().map(|s| s.to_string()).collect();
    let thread_stats = Arc::clone(&stats);
    let thread = std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        rt.block_on(async move {
            let listener = TcpListener::from_std(std_listener).expect("listener");
            let started = Instant::now();
            let mut rx = rx;
            loop {
                tokio::select! {
                    _ = &mut rx => break,
                    accepted = listener.accept() => {
                        let Ok((sock, _)) = accepted else { continue };
                        thread_stats.connections.fetch_add(1, SeqCst);
                        let _ = sock.set_nodelay(true);
                        let b = behavior.clone();
                        let s = Arc::clone(&thread_stats);
                        let m = models.clone();
                        tokio::spawn(async move {
                            let _ = serve(sock, b, s, m, started).await;
                        });
                    }
                }
            }
        });
    });
    TestServer {
        addr,
        stats,
        shutdown: Some(tx),
        thread: Some(thread),
    }
}

/// A port with nothing listening on it.
pub fn closed_port_url() -> String {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = l.local_addr().expect("addr");
    drop(l);
    format!("http://{addr}")
}

struct Head {
    method: String,
    path: String,
    authorization: Option<String>,
}

/// Read one request (head + content-length body); `None` at EOF.
async fn read_request(sock: &mut TcpStream, buf: &mut Vec<u8>) -> std::io::Result<Option<Head>> {
    let head_end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        let mut chunk = [0u8; 4096];
        let n = sock.read(&mut chunk).await?;
        if n == 0 {
            return Ok(None);
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
    let mut lines = head.split("\r\n");
    let mut first = lines.next().unwrap_or_default().split(' ');
    let method = first.next().unwrap_or_default().to_string();
    let path = first.next().unwrap_or_default().to_string();
    let mut content_length = 0usize;
    let mut authorization = None;
    for line in lines {
        if let Some((k, v)) = line.split_once(':') {
            let k = k.trim().to_ascii_lowercase();
            if k == "content-length" {
                content_length = v.trim().parse().unwrap_or(0);
            } else if k == "authorization" {
                authorization = Some(v.trim().to_string());
            }
        }
    }
    while buf.len() < head_end + content_length {
        let mut chunk = [0u8; 4096];
        let n = sock.read(&mut chunk).await?;
        if n == 0 {
            return Ok(None);
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    buf.drain(..head_end + content_length);
    Ok(Some(Head {
        method,
        path,
        authorization,
    }))
}

fn chunk(data: &str) -> Vec<u8> {
    let mut v = format!("{:x}\r\n", data.len()).into_bytes();
    v.extend_from_slice(data.as_bytes());
    v.extend_from_slice(b"\r\n");
    v
}

const SSE_HEAD: &str = "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\nx-infergate-worker: w7\r\n\r\n";

fn token_event(i: u32) -> String {
    format!("data: {{\"choices\":[{{\"index\":0,\"delta\":{{\"content\":\"tok{i} \"}},\"finish_reason\":null}}]}}\n\n")
}

fn json_response(code: u16, body: &str) -> String {
    format!(
        "HTTP/1.1 {code} X\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    )
}

async fn serve(
    mut sock: TcpStream,
    behavior: Behavior,
    stats: Arc<Stats>,
    models: Vec<String>,
    started: Instant,
) -> std::io::Result<()> {
    let mut buf = Vec::new();
    while let Some(head) = read_request(&mut sock, &mut buf).await? {
        if head.method == "GET" && head.path == "/v1/models" {
            let data: Vec<String> = models
                .iter()
                .map(|m| format!("{{\"id\":\"{m}\",\"object\":\"model\"}}"))
                .collect();
            let body = format!("{{\"object\":\"list\",\"data\":[{}]}}", data.join(","));
            sock.write_all(json_response(200, &body).as_bytes()).await?;
            continue;
        }
        if let Some(a) = &head.authorization {
            stats.authorization.lock().unwrap().push(a.clone());
        }
        let now = stats.current.fetch_add(1, SeqCst) + 1;
        stats.max_concurrent.fetch_max(now, SeqCst);
        stats.requests.fetch_add(1, SeqCst);
        stats.arrived.notify_waiters();
        let keep = respond(&mut sock, &behavior, &head, started).await;
        stats.current.fetch_sub(1, SeqCst);
        if !keep? {
            return Ok(());
        }
    }
    Ok(())
}

/// Answer one request; `Ok(false)` closes the connection.
async fn respond(
    sock: &mut TcpStream,
    behavior: &Behavior,
    head: &Head,
    started: Instant,
) -> std::io::Result<bool> {
    match behavior {
        Behavior::Stream {
            ttft,
            itl,
            tokens,
            usage,
        } => {
            let t0 = Instant::now();
            sock.write_all(SSE_HEAD.as_bytes()).await?;
            for i in 0..*tokens {
                tokio::time::sleep_until(t0 + *ttft + *itl * i).await;
                sock.write_all(&chunk(&token_event(i))).await?;
            }
            let fin =
                "data: {\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"length\"}]}\n\n";
            let mut tail = chunk(fin);
            if *usage {
                let u = format!("data: {{\"choices\":[],\"usage\":{{\"prompt_tokens\":11,\"completion_tokens\":{tokens},\"total_tokens\":{}}}}}\n\n", 11 + tokens);
                tail.extend(chunk(&u));
            }
            tail.extend(chunk("data: [DONE]\n\n"));
            tail.extend_from_slice(b"0\r\n\r\n");
            sock.write_all(&tail).await?;
            Ok(true)
        }
        Behavior::StreamThenClose { tokens } => {
            let mut out = SSE_HEAD
                .replace("\r\n\r\n", "\r\nconnection: close\r\n\r\n")
                .into_bytes();
            for i in 0..*tokens {
                out.extend(chunk(&token_event(i)));
            }
            out.extend(chunk(
                "data: {\"choices\":[{\"delta\":{},\"finish_reason\":\"stop\"}]}\n\n",
            ));
            out.extend(chunk("data: [DONE]\n\n"));
            out.extend_from_slice(b"0\r\n\r\n");
            sock.write_all(&out).await?;
            Ok(false)
        }
        Behavior::Json { body } => {
            sock.write_all(json_response(200, body).as_bytes()).await?;
            Ok(true)
        }
        Behavior::Status { code, body } => {
            sock.write_all(json_response(*code, body).as_bytes())
                .await?;
            Ok(true)
        }
        Behavior::DropMidStream { events } => {
            sock.write_all(SSE_HEAD.as_bytes()).await?;
            for i in 0..*events {
                sock.write_all(&chunk(&token_event(i))).await?;
            }
            sock.flush().await?;
            Ok(false)
        }
        Behavior::RawSse { body } => {
            let mut out = SSE_HEAD.as_bytes().to_vec();
            out.extend(chunk(body));
            out.extend_from_slice(b"0\r\n\r\n");
            sock.write_all(&out).await?;
            Ok(true)
        }
        Behavior::NeverAnswer => {
            std::future::pending::<()>().await;
            Ok(false)
        }
        Behavior::CloseImmediately => Ok(false),
        Behavior::EchoAuth401 => {
            let body = format!(
                "{{\"error\":{{\"message\":\"bad key {}\"}}}}",
                head.authorization.clone().unwrap_or_default()
            );
            sock.write_all(json_response(401, &body).as_bytes()).await?;
            Ok(true)
        }
        Behavior::ColdStart { warm_after } => {
            tokio::time::sleep_until(started + *warm_after).await;
            let body = r#"{"choices":[{"index":0,"message":{"role":"assistant","content":"Hello!"},"finish_reason":"length"}],"usage":{"prompt_tokens":9,"completion_tokens":4}}"#;
            sock.write_all(json_response(200, body).as_bytes()).await?;
            Ok(true)
        }
    }
}
