//! A cancellation signal that can be triggered from anywhere (a Ctrl-C handler, a deadline) and
//! awaited by any number of tasks.
//!
//! Built on `tokio::sync::watch` so a late waiter still sees an earlier cancel (no lost wakeups).

use std::sync::Arc;
use tokio::sync::watch;

/// Cheap to clone; every clone cancels and observes the same signal.
#[derive(Debug, Clone)]
pub struct CancelToken {
    tx: Arc<watch::Sender<bool>>,
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
            tx: Arc::new(watch::Sender::new(false)),
        }
    }

    /// Cancel (idempotent).
    pub fn cancel(&self) {
        self.tx.send_replace(true);
    }

    /// Whether [`CancelToken::cancel`] was called.
    pub fn is_cancelled(&self) -> bool {
        *self.tx.borrow()
    }

    /// Resolves once cancelled (immediately if already).
    pub async fn cancelled(&self) {
        let mut rx = self.tx.subscribe();
        // The sender lives in `self`, so `wait_for` cannot fail; if it ever did, treat it as cancelled.
        let _ = rx.wait_for(|c| *c).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn late_waiters_see_an_earlier_cancel() {
        let t = CancelToken::new();
        assert!(!t.is_cancelled());
        let t2 = t.clone();
        let waiter = tokio::spawn(async move { t2.cancelled().await });
        t.cancel();
        tokio::time::timeout(std::time::Duration::from_secs(5), waiter)
            .await
            .expect("waiter woke")
            .expect("task ok");
        tokio::time::timeout(std::time::Duration::from_secs(5), t.cancelled())
            .await
            .expect("already cancelled resolves");
    }
}
