//! Platform profiles: how many GPUs a node has and how fast one worker (one GPU, one vLLM
//! engine) runs. The per-worker costs are effective values fitted so that the whole deployment
//! reproduces the reference's measured (throughput, TTFT p99) pairs for Qwen3-8B at 128/128;
//! they are not hardware truths (see docs/sim.md, "Calibration").

use crate::SimError;

/// Cost model and limits of one continuous-batching engine (one worker, one GPU).
#[derive(Debug, Clone, PartialEq)]
pub struct EngineParams {
    /// Most sequences in the running batch (vLLM `max_num_seqs`).
    pub max_num_seqs: u32,
    /// Token budget of one engine step: one per decoding sequence plus prefill chunks
    /// (vLLM `max_num_batched_tokens`, chunked prefill).
    pub max_num_batched_tokens: u32,
    /// KV-cache capacity in tokens. A request is admitted only when its prompt plus its
    /// `max_tokens` fit in what is left; otherwise it waits in the FIFO queue.
    pub kv_capacity_tokens: u64,
    /// Fixed cost of every engine step, in nanoseconds (scheduling, launch, sampling).
    pub step_base_ns: u64,
    /// Cost per decoding sequence in a step, in nanoseconds.
    pub decode_ns_per_seq: u64,
    /// Cost per prompt token prefilled in a step, in nanoseconds.
    pub prefill_ns_per_token: u64,
    /// Step-time noise: each step's duration is multiplied by a mean-1 log-normal factor whose
    /// log has this standard deviation (0 = none).
    pub jitter: f64,
}

/// A named platform: GPUs per node, the engine each GPU runs, and run-to-run variation.
#[derive(Debug, Clone, PartialEq)]
pub struct Profile {
    /// Name used on the command line (`h100x8`).
    pub name: &'static str,
    /// One line for `--help` and docs.
    pub description: &'static str,
    /// GPUs (= workers) in a full node.
    pub gpus: u32,
    /// The engine every worker runs.
    pub engine: EngineParams,
    /// Per-run, per-worker speed spread: each worker's step times are multiplied by a factor
    /// drawn once per seed, uniform in `[1 - s, 1 + s]`. Models GPU-to-GPU and run-to-run
    /// variation of a healthy node (0 = identical workers).
    pub worker_speed_spread: f64,
}

impl Profile {
    /// Every built-in profile.
    pub fn all() -> [Profile; 3] {
        [h100x8(), rtx_pro_6000x8(), gb200x4()]
    }

    /// The names of every built-in profile, for error messages.
    pub fn names() -> Vec<&'static str> {
        Profile::all().iter().map(|p| p.name).collect()
    }

    /// Look a profile up by name.
    pub fn by_name(name: &str) -> Result<Profile, SimError> {
        Profile::all()
            .into_iter()
            .find(|p| p.name == name)
            .ok_or_else(|| SimError::UnknownProfile {
                name: name.to_string(),
                valid: Profile::names().join(", "),
            })
    }
}

/// 8× H100-SXM (EKS p5.48xlarge / GKE a3-megagpu-8g): ≈108–140k tok/s, TTFT p99 ≈ 0.5–1 s at
/// 2048 in flight, ≈0.3–0.5 s at 1024.
pub fn h100x8() -> Profile {
    Profile {
        name: "h100x8",
        description:
            "8x H100-SXM 80GB, Qwen3-8B (reference: ~108-140k tok/s, TTFT p99 ~0.5-1 s at 2048)",
        gpus: 8,
        engine: EngineParams {
            max_num_seqs: 1024,
            max_num_batched_tokens: 8192,
            kv_capacity_tokens: 400_000,
            step_base_ns: 6_000_000,
            decode_ns_per_seq: 23_000,
            prefill_ns_per_token: 20_000,
            jitter: 0.05,
        },
        worker_speed_spread: 0.08,
    }
}

/// 8× RTX PRO 6000 Blackwell Server Edition (g7e.48xlarge): ≈59–75k tok/s, TTFT p99 ≈ 0.45 s.
pub fn rtx_pro_6000x8() -> Profile {
    Profile {
        name: "rtx-pro-6000x8",
        description:
            "8x RTX PRO 6000 Blackwell 96GB, Qwen3-8B (reference: ~59-75k tok/s, TTFT p99 ~0.45 s)",
        gpus: 8,
        engine: EngineParams {
            max_num_seqs: 1024,
            max_num_batched_tokens: 8192,
            kv_capacity_tokens: 500_000,
            step_base_ns: 5_000_000,
            decode_ns_per_seq: 85_000,
            prefill_ns_per_token: 13_000,
            jitter: 0.05,
        },
        worker_speed_spread: 0.08,
    }
}

/// 4× GB200 (p6e-gb200.36xlarge, 4 decode workers): ≈66k tok/s, TTFT p99 ≈ 1.2 s.
pub fn gb200x4() -> Profile {
    Profile {
        name: "gb200x4",
        description:
            "4x GB200 (1 worker per GPU), Qwen3-8B (reference: ~66k tok/s, TTFT p99 ~1.2 s)",
        gpus: 4,
        engine: EngineParams {
            max_num_seqs: 1024,
            max_num_batched_tokens: 8192,
            kv_capacity_tokens: 1_000_000,
            step_base_ns: 3_000_000,
            decode_ns_per_seq: 13_000,
            prefill_ns_per_token: 36_000,
            jitter: 0.05,
        },
        worker_speed_spread: 0.05,
    }
}

impl EngineParams {
    /// Check the limits are usable; the error names the field and its valid range.
    pub fn validate(&self) -> Result<(), SimError> {
        if self.max_num_seqs == 0 {
            return Err(SimError::invalid("max_num_seqs", "0", "at least 1"));
        }
        if self.max_num_batched_tokens < self.max_num_seqs {
            return Err(SimError::invalid(
                "max_num_batched_tokens",
                self.max_num_batched_tokens.to_string(),
                "at least max_num_seqs",
            ));
        }
        if self.kv_capacity_tokens == 0 {
            return Err(SimError::invalid("kv_capacity_tokens", "0", "at least 1"));
        }
        if !(0.0..=1.0).contains(&self.jitter) {
            return Err(SimError::invalid(
                "jitter",
                self.jitter.to_string(),
                "0.0 to 1.0",
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_profile_is_valid_and_found_by_name() {
        for p in Profile::all() {
            p.engine.validate().unwrap();
            assert_eq!(Profile::by_name(p.name).unwrap(), p);
        }
    }

    #[test]
    fn unknown_profile_names_the_valid_ones() {
        let e = Profile::by_name("a100x8").unwrap_err().to_string();
        assert!(
            e.contains("a100x8") && e.contains("h100x8") && e.contains("gb200x4"),
            "{e}"
        );
    }
}
