//! HTTP/1.1 connections owned by the load generator: each in-flight request holds exactly one, and
//! drives it inside its own task.
//!
//! Why not a shared pooled client: with hyper-util's pool, a finished connection returns to the
//! pool only when its separate connection task next runs, so a closed-loop worker that sends its
//! next request at once sometimes opens an extra connection (a TCP handshake inside that request's
//! TTFT), and every body chunk crosses from the connection task to the request task. Here a
//! closed-loop worker keeps its connection between requests (no lock, no race), the connection's
//! IO is polled by the task that reads the body (one task wake-up per network read), and an
//! open-loop request takes an idle connection from a small shared stack (one lock per request,
//! never per chunk).
//!
//! Must not: interpret responses (that is `request`). Connections are `TCP_NODELAY`; the host name
//! is resolved once per run.

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::Full;
use hyper::body::{Body, Frame, Incoming};
use hyper::client::conn::http1;
use hyper::client::conn::TrySendError;
use hyper_util::rt::TokioIo;
use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::Mutex;
use std::task::Context;
use tokio::net::TcpStream;
use tokio::sync::OnceCell;

type Driver = http1::Connection<TokioIo<TcpStream>, Full<Bytes>>;

/// One HTTP/1.1 connection: the request half and the IO half, polled together.
pub(crate) struct Conn {
    sender: http1::SendRequest<Full<Bytes>>,
    driver: Pin<Box<Driver>>,
    driver_done: bool,
    /// Served at least one request before (a failure on it may be a stale keep-alive).
    pub(crate) reused: bool,
}

impl Conn {
    fn poll_driver(&mut self, cx: &mut Context<'_>) {
        if !self.driver_done && self.driver.as_mut().poll(cx).is_ready() {
            self.driver_done = true;
        }
    }

    /// Wait until the connection can take a request (an error: it is closed).
    pub(crate) async fn ready(&mut self) -> Result<(), hyper::Error> {
        std::future::poll_fn(|cx| {
            self.poll_driver(cx);
            self.sender.poll_ready(cx)
        })
        .await
    }

    /// Send a request and wait for the response head, driving the connection meanwhile. When the
    /// request could not be written, the error gives it back (so it can be retried).
    pub(crate) async fn send(
        &mut self,
        req: Request<Full<Bytes>>,
    ) -> Result<Response<Incoming>, TrySendError<Request<Full<Bytes>>>> {
        let response = self.sender.try_send_request(req);
        tokio::pin!(response);
        std::future::poll_fn(|cx| {
            self.poll_driver(cx);
            response.as_mut().poll(cx)
        })
        .await
    }

    /// The next frame of `body`, driving the connection meanwhile.
    pub(crate) async fn frame(
        &mut self,
        body: &mut Incoming,
    ) -> Option<Result<Frame<Bytes>, hyper::Error>> {
        std::future::poll_fn(|cx| {
            self.poll_driver(cx);
            Pin::new(&mut *body).poll_frame(cx)
        })
        .await
    }

    /// Whether the connection may serve another request.
    pub(crate) fn reusable(&self) -> bool {
        !self.driver_done && !self.sender.is_closed()
    }
}

/// Why a connection could not be opened.
#[derive(Debug)]
pub(crate) enum ConnectError {
    /// The host name did not resolve.
    Dns(std::io::Error),
    /// TCP connect failed (the last address's error).
    Tcp(std::io::Error),
    /// The HTTP/1 handshake failed.
    Handshake(hyper::Error),
}

impl ConnectError {
    pub(crate) fn is_refused(&self) -> bool {
        matches!(self, ConnectError::Tcp(e) if e.kind() == std::io::ErrorKind::ConnectionRefused)
    }
}

impl std::fmt::Display for ConnectError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ConnectError::Dns(e) => write!(f, "dns error: {e}"),
            ConnectError::Tcp(e) => write!(f, "tcp connect error: {e}"),
            ConnectError::Handshake(e) => write!(f, "http handshake error: {e}"),
        }
    }
}

/// Opens connections to one host and port.
pub(crate) struct Connector {
    host: String,
    port: u16,
    addrs: OnceCell<Vec<SocketAddr>>,
}

impl Connector {
    /// `host` as in a URI (IPv6 in brackets is accepted).
    pub(crate) fn new(host: &str, port: u16) -> Self {
        Connector {
            host: host
                .trim_start_matches('[')
                .trim_end_matches(']')
                .to_string(),
            port,
            addrs: OnceCell::new(),
        }
    }

    async fn addrs(&self) -> Result<&[SocketAddr], std::io::Error> {
        let addrs = self
            .addrs
            .get_or_try_init(|| async {
                if let Ok(ip) = self.host.parse::<IpAddr>() {
                    return Ok(vec![SocketAddr::new(ip, self.port)]);
                }
                let found: Vec<SocketAddr> =
                    tokio::net::lookup_host((self.host.as_str(), self.port))
                        .await?
                        .collect();
                if found.is_empty() {
                    return Err(std::io::Error::new(
                        std::io::ErrorKind::NotFound,
                        format!("no addresses for {}", self.host),
                    ));
                }
                Ok(found)
            })
            .await?;
        Ok(addrs)
    }

    /// A new connection (tries each resolved address in turn).
    pub(crate) async fn connect(&self) -> Result<Conn, ConnectError> {
        let addrs = self.addrs().await.map_err(ConnectError::Dns)?;
        let mut last = None;
        for addr in addrs {
            match TcpStream::connect(addr).await {
                Ok(stream) => {
                    // Best effort: a failure only costs latency.
                    let _ = stream.set_nodelay(true);
                    let (sender, driver) = http1::Builder::new()
                        .handshake(TokioIo::new(stream))
                        .await
                        .map_err(ConnectError::Handshake)?;
                    return Ok(Conn {
                        sender,
                        driver: Box::pin(driver),
                        driver_done: false,
                        reused: false,
                    });
                }
                Err(e) => last = Some(e),
            }
        }
        Err(ConnectError::Tcp(last.unwrap_or_else(|| {
            std::io::Error::new(std::io::ErrorKind::NotFound, "no address to connect to")
        })))
    }
}

/// Idle connections shared by open-loop requests (locked once to take and once to return a
/// connection per request).
#[derive(Default)]
pub(crate) struct IdlePool {
    idle: Mutex<Vec<Conn>>,
}

impl IdlePool {
    pub(crate) fn take(&self) -> Option<Conn> {
        self.idle.lock().unwrap_or_else(|e| e.into_inner()).pop()
    }

    pub(crate) fn put(&self, conn: Conn) {
        self.idle
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(conn);
    }
}
