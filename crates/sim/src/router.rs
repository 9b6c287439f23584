//! The frontend router: picks the worker for each request. Stateless and pure: the caller
//! supplies a per-request ticket (its arrival order), the prompt's prefix hash and the workers'
//! current in-flight counts, so the same code serves the lock-free real-time server and the
//! virtual-time simulation.

use crate::rng::{draw, mix64, stream};
use crate::SimError;

/// Routing policy (Dynamo's router modes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RouterKind {
    /// Request `k` goes to worker `k mod N`: capacity-blind (reference §6.4 4.2).
    RoundRobin,
    /// A seeded uniform draw per request.
    Random,
    /// The worker with the fewest requests in flight (ties: rotate from `k mod N`); the
    /// Dynamo 1.2 fix of reference §6.7.
    LeastLoaded,
    /// KV-style prefix affinity: each prompt's first block hashes to a "home" worker, which is
    /// preferred unless it has more than `kv_affinity` requests in flight beyond the least
    /// loaded worker. Low-diversity prompts therefore concentrate (reference §6.4 4.3).
    Kv,
}

impl RouterKind {
    /// Every mode with its command-line name.
    pub const ALL: [(RouterKind, &'static str); 4] = [
        (RouterKind::RoundRobin, "round-robin"),
        (RouterKind::Random, "random"),
        (RouterKind::LeastLoaded, "least-loaded"),
        (RouterKind::Kv, "kv"),
    ];

    /// The command-line name.
    pub fn name(self) -> &'static str {
        RouterKind::ALL
            .iter()
            .find(|(k, _)| *k == self)
            .map(|(_, n)| *n)
            .unwrap_or("round-robin")
    }

    /// Parse a command-line name.
    pub fn parse(s: &str) -> Result<RouterKind, SimError> {
        RouterKind::ALL
            .iter()
            .find(|(_, n)| *n == s)
            .map(|(k, _)| *k)
            .ok_or_else(|| {
                SimError::invalid("router", s, "one of round-robin, random, least-loaded, kv")
            })
    }
}

/// A configured router.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Router {
    /// The policy.
    pub kind: RouterKind,
    /// Number of workers (at least 1).
    pub workers: u32,
    /// Seed for [`RouterKind::Random`].
    pub seed: u64,
    /// How many extra in-flight requests the home worker may carry before [`RouterKind::Kv`]
    /// spills to the least-loaded one.
    pub kv_affinity: u32,
}

impl Router {
    /// Pick a worker for the request with arrival ticket `ticket` and prompt prefix hash
    /// `prefix_hash`; `in_flight(w)` is worker `w`'s current load.
    pub fn pick(&self, ticket: u64, prefix_hash: u64, in_flight: impl Fn(usize) -> u32) -> usize {
        let n = self.workers.max(1) as usize;
        let start = (ticket % n as u64) as usize;
        match self.kind {
            RouterKind::RoundRobin => start,
            RouterKind::Random => (draw(self.seed, stream::ROUTE, ticket) % n as u64) as usize,
            RouterKind::LeastLoaded => least(n, start, |w| i64::from(in_flight(w))),
            RouterKind::Kv => {
                let home = (mix64(prefix_hash) % n as u64) as usize;
                let bonus = i64::from(self.kv_affinity);
                least(n, home, |w| {
                    i64::from(in_flight(w)) - if w == home { bonus } else { 0 }
                })
            }
        }
    }
}

/// The worker with the lowest cost, scanning from `start` so ties rotate.
fn least(n: usize, start: usize, cost: impl Fn(usize) -> i64) -> usize {
    let mut best = start;
    let mut best_cost = cost(start);
    for i in 1..n {
        let w = (start + i) % n;
        let c = cost(w);
        if c < best_cost {
            best = w;
            best_cost = c;
        }
    }
    best
}

/// FNV-1a over the prompt's first block: its first `block_words` whitespace-separated words.
/// Stands in for the KV router's block hash; two prompts sharing their opening words share it.
pub fn prefix_hash(text: &str, block_words: usize) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for word in text.split_whitespace().take(block_words) {
        for b in word.bytes() {
            h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
        }
        h = (h ^ u64::from(b' ')).wrapping_mul(0x0100_0000_01b3);
    }
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    fn router(kind: RouterKind) -> Router {
        Router {
            kind,
            workers: 4,
            seed: 9,
            kv_affinity: 8,
        }
    }

    #[test]
    fn round_robin_ignores_load() {
        let r = router(RouterKind::RoundRobin);
        let picks: Vec<usize> = (0..8).map(|t| r.pick(t, 0, |_| 1000)).collect();
        assert_eq!(picks, vec![0, 1, 2, 3, 0, 1, 2, 3]);
    }

    #[test]
    fn least_loaded_picks_the_minimum_and_rotates_ties() {
        let r = router(RouterKind::LeastLoaded);
        let load = [5, 2, 7, 2];
        assert_eq!(r.pick(0, 0, |w| load[w]), 1);
        assert_eq!(r.pick(2, 0, |w| load[w]), 3);
    }

    #[test]
    fn kv_prefers_home_until_it_is_overloaded() {
        let r = router(RouterKind::Kv);
        let h = prefix_hash("the same opening words", 16);
        let home = r.pick(0, h, |_| 0);
        assert_eq!(r.pick(1, h, |w| if w == home { 8 } else { 1 }), home);
        assert_ne!(r.pick(1, h, |w| if w == home { 10 } else { 1 }), home);
    }

    #[test]
    fn random_is_seeded_and_spreads() {
        let r = router(RouterKind::Random);
        let a: Vec<usize> = (0..400).map(|t| r.pick(t, 0, |_| 0)).collect();
        let b: Vec<usize> = (0..400).map(|t| r.pick(t, 0, |_| 0)).collect();
        assert_eq!(a, b);
        for w in 0..4 {
            let c = a.iter().filter(|&&x| x == w).count();
            assert!((60..140).contains(&c), "worker {w}: {c}");
        }
    }

    #[test]
    fn prefix_hash_looks_only_at_the_first_block() {
        assert_eq!(prefix_hash("a b c d", 2), prefix_hash("a  b x y", 2));
        assert_ne!(prefix_hash("a b c d", 3), prefix_hash("a b x y", 3));
        assert!(RouterKind::parse("fastest")
            .unwrap_err()
            .to_string()
            .contains("least-loaded"));
    }
}
