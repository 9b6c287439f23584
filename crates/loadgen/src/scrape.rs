//! Periodic scrapes of the server's Prometheus `/metrics` during a run, so the verdict can say
//! which worker held which requests when. The text is kept as received; parsing and attribution
//! belong to `infergate-evidence`.
//!
//! A server without `/metrics` (404, refused, not text) simply yields no scrapes: scraping never
//! fails a run and never delays a request (it runs on its own connection, at most once a second
//! by default, each GET bounded by a timeout and a body limit).

use crate::probe::{http_client, read_limited};
use crate::{CancelToken, LoadgenError, Target};
use bytes::Bytes;
use http::{Method, Request, StatusCode};
use http_body_util::Full;
use std::time::Duration;
use tokio::time::Instant;

/// Largest `/metrics` body kept, in bytes.
pub const MAX_SCRAPE_BYTES: usize = 4 << 20;

/// One scrape: when it was taken (ns since the `origin` given to [`scrape_until`]) and the text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scrape {
    /// Nanoseconds since the origin, taken when the response headers arrived.
    pub t_ns: u64,
    /// The Prometheus text exposition, as received.
    pub text: String,
}

/// Scrape `target`'s `/metrics` every `every` from now until `stop` fires; times are measured
/// from `origin`. Returns what was collected (empty when the server has no metrics endpoint).
pub async fn scrape_until(
    target: &Target,
    origin: Instant,
    every: Duration,
    stop: CancelToken,
) -> Result<Vec<Scrape>, LoadgenError> {
    let uri = target.endpoint("/metrics")?;
    let headers = target.request_headers();
    let client = http_client();
    let mut out = Vec::new();
    let mut ticks = tokio::time::interval(every.max(Duration::from_millis(50)));
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let mut misses = 0u32;
    loop {
        tokio::select! {
            biased;
            _ = stop.cancelled() => break,
            _ = ticks.tick() => {}
        }
        let fetch = async {
            let mut req = Request::new(Full::new(Bytes::new()));
            *req.method_mut() = Method::GET;
            *req.uri_mut() = uri.clone();
            *req.headers_mut() = headers.clone();
            let resp = client.request(req).await.ok()?;
            let t_ns = origin.elapsed().as_nanos() as u64;
            if resp.status() != StatusCode::OK {
                return None;
            }
            let body = read_limited(resp.into_body(), MAX_SCRAPE_BYTES)
                .await
                .ok()?;
            Some(Scrape {
                t_ns,
                text: String::from_utf8(body).ok()?,
            })
        };
        match tokio::time::timeout(Duration::from_secs(5), fetch).await {
            Ok(Some(s)) => {
                misses = 0;
                out.push(s);
            }
            _ => {
                misses += 1;
                // A server that never answered /metrics is not scraped for the whole run.
                if out.is_empty() && misses >= 3 {
                    break;
                }
            }
        }
    }
    Ok(out)
}
