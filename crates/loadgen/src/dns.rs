//! Resolve the target's host name once per client and reuse the answer for every connection.
//!
//! hyper-util's default resolver runs `getaddrinfo` on the blocking pool for every new
//! connection: opening 2,048 connections at once to a Kubernetes service name would start
//! hundreds of blocking threads and repeat the same lookup. Here concurrent first lookups wait on
//! one resolution; a failed lookup is not cached (the next connection tries again). A run lasts
//! minutes, so DNS TTLs are not honoured. IP-literal URLs never reach the resolver.

use hyper_util::client::legacy::connect::dns::Name;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use tokio::sync::OnceCell;

/// A resolver for one host (others are resolved without caching).
#[derive(Clone, Default)]
pub(crate) struct CachingResolver {
    cache: Arc<OnceCell<(String, Vec<SocketAddr>)>>,
}

type Resolving =
    Pin<Box<dyn Future<Output = std::io::Result<std::vec::IntoIter<SocketAddr>>> + Send>>;

async fn lookup(host: &str) -> std::io::Result<Vec<SocketAddr>> {
    // Port 0: the connector puts the URL's port on every address.
    let addrs: Vec<SocketAddr> = tokio::net::lookup_host((host, 0)).await?.collect();
    if addrs.is_empty() {
        return Err(std::io::Error::new(
            std::io::ErrorKind::NotFound,
            format!("no addresses found for {host}"),
        ));
    }
    Ok(addrs)
}

impl tower_service::Service<Name> for CachingResolver {
    type Response = std::vec::IntoIter<SocketAddr>;
    type Error = std::io::Error;
    type Future = Resolving;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, name: Name) -> Self::Future {
        let cache = Arc::clone(&self.cache);
        Box::pin(async move {
            let host = name.as_str().to_string();
            let (cached_host, addrs) = cache
                .get_or_try_init(|| async {
                    let addrs = lookup(&host).await?;
                    Ok::<_, std::io::Error>((host.clone(), addrs))
                })
                .await?;
            if *cached_host == host {
                Ok(addrs.clone().into_iter())
            } else {
                Ok(lookup(&host).await?.into_iter())
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::str::FromStr;
    use tower_service::Service;

    #[tokio::test]
    async fn localhost_resolves_and_is_cached() {
        let mut r = CachingResolver::default();
        let a: Vec<_> = r
            .call(Name::from_str("localhost").unwrap())
            .await
            .unwrap()
            .collect();
        assert!(!a.is_empty());
        let b: Vec<_> = r
            .clone()
            .call(Name::from_str("localhost").unwrap())
            .await
            .unwrap()
            .collect();
        assert_eq!(a, b);
        assert_eq!(r.cache.get().map(|c| c.0.as_str()), Some("localhost"));
    }
}
