//! A cancellation signal that can be triggered from anywhere (a Ctrl-C handler, a deadline) and
//! awaited by any number of tasks.
//!
//! Built on `tokio::sync::watch` so a late waiter still sees an earlier cancel (no lost wakeups),
//! plus an atomic flag so the per-request wait is cheap: tokio's `Notified` takes the shared
//! waiter-list lock every time it is polled while waiting, and a request's `select!` re-polls
//! every branch on every network frame. [`CancelToken::cancelled_registered_once`] polls the
//! watch once (registering the task's waker) and afterwards only reads the flag.

use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::Poll;
use tokio::sync::watch;

#[derive(Debug)]
struct Inner {
    flag: AtomicBool,
    tx: watch::Sender<bool>,
}

/// Cheap to clone; every clone cancels and observes the same signal.
#[derive(Debug, Clone)]
pub struct CancelToken {
    inner: Arc<Inner>,
}

impl Default for CancelToken {
    fn default() -> Self {
        Self::new()
    }
}

impl CancelToken {
    /// A token that is not cancelled.
    pub fn new() -> Self {
        CancelToken {
            inner: Arc::new(Inner {
                flag: AtomicBool::new(false),
                tx: watch::Sender::new(false),
            }),
        }
    }

    /// Cancel (idempotent).
    pub fn cancel(&self) {
        // Flag first: a waiter woken by the watch always sees it set.
        self.inner.flag.store(true, Ordering::SeqCst);
        self.inner.tx.send_replace(true);
    }

    /// Whether [`CancelToken::cancel`] was called (one atomic load).
    pub fn is_cancelled(&self) -> bool {
        self.inner.flag.load(Ordering::SeqCst)
    }

    /// Resolves once cancelled (immediately if already).
    pub async fn cancelled(&self) {
        let mut rx = self.inner.tx.subscribe();
        // The sender lives in `self`, so `wait_for` cannot fail; if it ever did, treat it as cancelled.
        let _ = rx.wait_for(|c| *c).await;
    }

    /// Like [`CancelToken::cancelled`], for a future that is re-polled often and always from the
    /// same task (whose waker therefore does not change): the watch is polled once, to register
    /// the waker, and later polls read only the atomic flag.
    pub(crate) async fn cancelled_registered_once(&self) {
        let inner = self.cancelled();
        tokio::pin!(inner);
        let mut registered = false;
        std::future::poll_fn(|cx| {
            if self.is_cancelled() {
                return Poll::Ready(());
            }
            if !registered {
                registered = true;
                return inner.as_mut().poll(cx);
            }
            Poll::Pending
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test]
    async fn late_waiters_see_an_earlier_cancel() {
        let t = CancelToken::new();
        assert!(!t.is_cancelled());
        let t2 = t.clone();
        let waiter = tokio::spawn(async move { t2.cancelled().await });
        let t3 = t.clone();
        let cheap = tokio::spawn(async move { t3.cancelled_registered_once().await });
        tokio::task::yield_now().await;
        t.cancel();
        for w in [waiter, cheap] {
            tokio::time::timeout(Duration::from_secs(5), w)
                .await
                .expect("waiter woke")
                .expect("task ok");
        }
        tokio::time::timeout(Duration::from_secs(5), t.cancelled())
            .await
            .expect("already cancelled resolves");
        tokio::time::timeout(Duration::from_secs(5), t.cancelled_registered_once())
            .await
            .expect("already cancelled resolves");
    }
}
