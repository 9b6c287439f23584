//! A loopback server whose time to first token is exactly known, for the client calibration
//! (issue 6 §3): the client's measured TTFT minus the server's is the client's own timing error
//! on this machine.
//!
//! `POST` anything (the gate sends `/v1/chat/completions`): the response head goes out at once,
//! the first token exactly `ttft` after the whole request was read, then the other tokens, a
//! `finish_reason` chunk and `data: [DONE]`, chunked, on a keep-alive connection. Any other
//! method gets an empty 404. It runs on a thread and runtime of its own, so its timers never
//! wait for the client's event loop. Every read has a bound; a malformed request closes the
//! connection.

use std::net::SocketAddr;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::Instant;

/// Tokens per response.
pub const TOKENS: u32 = 4;

/// Largest request head, bytes.
const MAX_HEAD: usize = 64 << 10;
/// Largest request body, bytes.
const MAX_BODY: usize = 8 << 20;
/// A connection idle this long is closed.
const IDLE: Duration = Duration::from_secs(30);

const TOKEN: &str = "data: {\"id\":\"loopback\",\"object\":\"chat.completion.chunk\",\"created\":0,\"model\":\"loopback\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\" the\"},\"finish_reason\":null}]}\n\n";
const FINISH: &str = "data: {\"id\":\"loopback\",\"object\":\"chat.completion.chunk\",\"created\":0,\"model\":\"loopback\",\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}]}\n\ndata: [DONE]\n\n";

/// The server, on its own thread; stopped by [`LoopbackServer::stop`] or on drop.
pub struct LoopbackServer {
    addr: SocketAddr,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl LoopbackServer {
    /// Binds 127.0.0.1:0 and serves with first tokens exactly `ttft` after each request.
    pub fn start(ttft: Duration, tokens: u32) -> anyhow::Result<LoopbackServer> {
        let std_listener = std::net::TcpListener::bind(("127.0.0.1", 0))?;
        std_listener.set_nonblocking(true)?;
        let addr = std_listener.local_addr()?;
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let thread = std::thread::Builder::new()
            .name("infergate-loopback".into())
            .spawn(move || {
                runtime.block_on(async move {
                    let Ok(listener) = TcpListener::from_std(std_listener) else {
                        return;
                    };
                    let accept = async {
                        loop {
                            match listener.accept().await {
                                Ok((stream, _)) => {
                                    let _ = stream.set_nodelay(true);
                                    tokio::spawn(serve(stream, ttft, tokens));
                                }
                                // Out of descriptors or similar: try again shortly.
                                Err(_) => tokio::time::sleep(Duration::from_millis(5)).await,
                            }
                        }
                    };
                    tokio::select! {
                        _ = accept => {}
                        _ = stop_rx => {}
                    }
                });
            })?;
        Ok(LoopbackServer {
            addr,
            stop: Some(stop_tx),
            thread: Some(thread),
        })
    }

    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Stops the server and waits for its thread (open connections are dropped with it).
    pub fn stop(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for LoopbackServer {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// Serves requests on one connection until it closes, idles or misbehaves.
async fn serve(mut stream: TcpStream, ttft: Duration, tokens: u32) {
    let mut buf: Vec<u8> = Vec::with_capacity(8192);
    let mut token_chunk = Vec::new();
    let body = TOKEN.repeat(tokens.saturating_sub(1) as usize);
    let rest = format!("{body}{FINISH}");
    let rest_chunk = format!("{:x}\r\n{rest}\r\n0\r\n\r\n", rest.len());
    token_chunk.extend_from_slice(format!("{:x}\r\n{TOKEN}\r\n", TOKEN.len()).as_bytes());
    loop {
        let Some((head_len, post, content_length)) = read_head(&mut stream, &mut buf).await else {
            return;
        };
        let need = head_len + content_length;
        if content_length > MAX_BODY {
            return;
        }
        while buf.len() < need {
            if !read_more(&mut stream, &mut buf).await {
                return;
            }
        }
        let read_at = Instant::now();
        buf.drain(..need);
        if !post {
            let head = "HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\n\r\n";
            if stream.write_all(head.as_bytes()).await.is_err() {
                return;
            }
            continue;
        }
        let head = "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ncache-control: no-cache\r\ntransfer-encoding: chunked\r\n\r\n";
        if stream.write_all(head.as_bytes()).await.is_err() {
            return;
        }
        tokio::time::sleep_until(read_at + ttft).await;
        if stream.write_all(&token_chunk).await.is_err() {
            return;
        }
        if stream.write_all(rest_chunk.as_bytes()).await.is_err() {
            return;
        }
    }
}

/// Reads until a whole request head is in `buf`: its length, whether it is a POST, and its
/// `Content-Length`. `None` when the connection closes, idles or sends no valid head.
async fn read_head(stream: &mut TcpStream, buf: &mut Vec<u8>) -> Option<(usize, bool, usize)> {
    loop {
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = std::str::from_utf8(&buf[..end]).ok()?;
            let post = head.starts_with("POST ");
            let mut content_length = 0usize;
            for line in head.split("\r\n").skip(1) {
                if let Some((k, v)) = line.split_once(':') {
                    if k.trim().eq_ignore_ascii_case("content-length") {
                        content_length = v.trim().parse().ok()?;
                    }
                    if k.trim().eq_ignore_ascii_case("transfer-encoding") {
                        // The load generator sends bodies with a length; anything else is not
                        // ours to parse.
                        return None;
                    }
                }
            }
            return Some((end + 4, post, content_length));
        }
        if buf.len() > MAX_HEAD || !read_more(stream, buf).await {
            return None;
        }
    }
}

/// Appends what the socket has to `buf`; false on close, error or [`IDLE`].
async fn read_more(stream: &mut TcpStream, buf: &mut Vec<u8>) -> bool {
    let mut chunk = [0u8; 16 << 10];
    match tokio::time::timeout(IDLE, stream.read(&mut chunk)).await {
        Ok(Ok(n)) if n > 0 => {
            buf.extend_from_slice(&chunk[..n]);
            true
        }
        _ => false,
    }
}
