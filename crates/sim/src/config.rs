//! The configuration of one simulated deployment, its validation, and duration parsing for
//! the command line.

use crate::faults::Behaviours;
use crate::profile::Profile;
use crate::rng::{draw, stream, unit};
use crate::router::{Router, RouterKind};
use crate::SimError;
use std::time::Duration;

/// Everything that defines a simulated deployment (real-time or virtual-time).
#[derive(Debug, Clone, PartialEq)]
pub struct SimConfig {
    /// The platform: GPUs per node and the per-worker engine.
    pub profile: Profile,
    /// Workers actually running (`--gpus-free`; at most `profile.gpus`).
    pub workers: u32,
    /// The frontend's routing policy.
    pub router: RouterKind,
    /// [`RouterKind::Kv`]: extra in-flight requests a prompt's home worker may carry.
    pub kv_affinity: u32,
    /// [`RouterKind::Kv`]: words in the prompt's first block (the part that is hashed).
    pub kv_block_words: usize,
    /// Seed of every random choice (jitter, speeds, routing, faults).
    pub seed: u64,
    /// The model name served and listed by `/v1/models`.
    pub model: String,
    /// Output tokens when a request sets neither `max_tokens` nor `max_completion_tokens`.
    pub default_max_tokens: u32,
    /// Cold start, stall, slow worker, faults.
    pub behaviours: Behaviours,
}

/// Model name served by default.
pub const DEFAULT_MODEL: &str = "Qwen/Qwen3-8B";

impl SimConfig {
    /// A healthy full node of `profile` with round-robin routing and seed 0.
    pub fn new(profile: Profile) -> Self {
        SimConfig {
            workers: profile.gpus,
            profile,
            router: RouterKind::RoundRobin,
            kv_affinity: 64,
            kv_block_words: 16,
            seed: 0,
            model: DEFAULT_MODEL.to_string(),
            default_max_tokens: 16,
            behaviours: Behaviours::default(),
        }
    }

    /// A healthy full node of the named profile.
    pub fn for_profile(name: &str) -> Result<Self, SimError> {
        Ok(SimConfig::new(Profile::by_name(name)?))
    }

    /// Run only `n` workers (a partly used node).
    pub fn with_gpus_free(mut self, n: u32) -> Result<Self, SimError> {
        if n == 0 || n > self.profile.gpus {
            return Err(SimError::invalid(
                "gpus-free",
                n.to_string(),
                format!(
                    "1 to {} for profile {}",
                    self.profile.gpus, self.profile.name
                ),
            ));
        }
        self.workers = n;
        Ok(self)
    }

    /// Check every value; the error names the setting and its valid range.
    pub fn validate(&self) -> Result<(), SimError> {
        self.profile.engine.validate()?;
        if self.workers == 0 || self.workers > self.profile.gpus {
            return Err(SimError::invalid(
                "gpus-free",
                self.workers.to_string(),
                format!(
                    "1 to {} for profile {}",
                    self.profile.gpus, self.profile.name
                ),
            ));
        }
        if self.model.trim().is_empty() {
            return Err(SimError::invalid("model", "\"\"", "a non-empty model name"));
        }
        if self.default_max_tokens == 0 {
            return Err(SimError::invalid("default-max-tokens", "0", "at least 1"));
        }
        if self.kv_block_words == 0 {
            return Err(SimError::invalid("kv-block-words", "0", "at least 1"));
        }
        if !(0.0..1.0).contains(&self.profile.worker_speed_spread) {
            return Err(SimError::invalid(
                "worker_speed_spread",
                self.profile.worker_speed_spread.to_string(),
                "0.0 to below 1.0",
            ));
        }
        self.behaviours.validate(self.workers)
    }

    /// The router this configuration describes.
    pub fn router(&self) -> Router {
        Router {
            kind: self.router,
            workers: self.workers,
            seed: self.seed,
            kv_affinity: self.kv_affinity,
        }
    }

    /// Worker `w`'s step-time multiplier for this seed, from the profile's speed spread.
    pub fn worker_speed(&self, w: u32) -> f64 {
        let s = self.profile.worker_speed_spread;
        1.0 + s * (2.0 * unit(draw(self.seed, stream::SPEED, u64::from(w))) - 1.0)
    }

    /// Worker `w`'s step-time multiplier at `now_ns`: speed spread × slow worker × stall.
    pub fn step_factor(&self, w: u32, now_ns: u64) -> f64 {
        self.worker_speed(w) * self.behaviours.slowdown(w, now_ns)
    }
}

/// Parse a duration such as `42s`, `500ms`, `2m`, `1h`, `250us` or `1.5s`. A bare `0` is zero.
pub fn parse_duration(flag: &'static str, s: &str) -> Result<Duration, SimError> {
    let bad = || {
        SimError::invalid(
            flag,
            s,
            "a non-negative duration with a unit: ns, us, ms, s, m or h (e.g. 42s, 500ms, 2m)",
        )
    };
    let t = s.trim();
    if t == "0" {
        return Ok(Duration::ZERO);
    }
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .ok_or_else(bad)?;
    let (num, unit) = t.split_at(split);
    let value: f64 = num.parse().map_err(|_| bad())?;
    let scale = match unit.trim() {
        "ns" => 1e-9,
        "us" | "µs" => 1e-6,
        "ms" => 1e-3,
        "s" => 1.0,
        "m" | "min" => 60.0,
        "h" => 3600.0,
        _ => return Err(bad()),
    };
    let secs = value * scale;
    if !secs.is_finite() || !(0.0..=1e9).contains(&secs) {
        return Err(bad());
    }
    Ok(Duration::from_secs_f64(secs))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse_with_units_and_bad_ones_name_the_flag() {
        assert_eq!(parse_duration("x", "42s").unwrap(), Duration::from_secs(42));
        assert_eq!(
            parse_duration("x", "500ms").unwrap(),
            Duration::from_millis(500)
        );
        assert_eq!(parse_duration("x", "2m").unwrap(), Duration::from_secs(120));
        assert_eq!(
            parse_duration("x", "1.5s").unwrap(),
            Duration::from_millis(1500)
        );
        assert_eq!(parse_duration("x", "0").unwrap(), Duration::ZERO);
        let e = parse_duration("cold-start", "42").unwrap_err().to_string();
        assert!(e.contains("cold-start") && e.contains("42s"), "{e}");
        assert!(parse_duration("x", "-1s").is_err());
        assert!(parse_duration("x", "5 parsecs").is_err());
    }

    #[test]
    fn gpus_free_is_bounded_by_the_profile() {
        let c = SimConfig::for_profile("h100x8").unwrap();
        assert_eq!(c.clone().with_gpus_free(2).unwrap().workers, 2);
        let e = c.with_gpus_free(9).unwrap_err().to_string();
        assert!(e.contains("gpus-free") && e.contains("1 to 8"), "{e}");
    }

    #[test]
    fn worker_speeds_stay_within_the_spread() {
        let c = SimConfig::for_profile("h100x8").unwrap();
        let s = c.profile.worker_speed_spread;
        for w in 0..8 {
            let f = c.worker_speed(w);
            assert!((1.0 - s..=1.0 + s).contains(&f), "{f}");
        }
    }
}
