//! One vLLM-like continuous-batching engine (one worker, one GPU), as a pure state machine.
//!
//! The owner drives time: [`Engine::start_step`] plans a step at `now` and returns its
//! duration; when that much time has passed the owner calls [`Engine::finish_step`], which
//! hands one output token to every sequence that produced one. The same code runs under the
//! real-time server (a tokio task sleeping until each step's deadline) and under the
//! virtual-time simulation (an event queue), which is why it never reads a clock.
//!
//! Scheduling per step, in order:
//! 1. admit waiting sequences (FIFO, head-of-line) while the running batch is below
//!    `max_num_seqs` and the KV cache can reserve the head's prompt + `max_tokens`;
//! 2. every fully prefilled running sequence decodes one token (one budget token each);
//! 3. what is left of `max_num_batched_tokens` goes to prompt chunks of the sequences still
//!    prefilling, oldest first (chunked prefill);
//! 4. duration = (base + decode_cost × decoding + prefill_cost × prefill tokens)
//!    × speed factor × jitter, plus any cold-start wait.
//!
//! A sequence emits its first token at the end of the step that completes its prefill.

use crate::profile::EngineParams;
use crate::rng::{stream, Rng};
use std::collections::VecDeque;

/// What the owner of a sequence wants after receiving a token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flow {
    /// Keep generating.
    Continue,
    /// Stop now (the client went away); the sequence is removed and its KV cache freed.
    Abort,
}

/// Per-request data the engine carries but never interprets.
pub trait Payload {
    /// True when nobody waits for this sequence any more (checked before admission, so an
    /// abandoned request never takes a batch slot).
    fn is_cancelled(&self) -> bool {
        false
    }
}

impl Payload for usize {}
impl Payload for u64 {}

/// One output token handed to a sequence's owner.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Token {
    /// 0-based index of this token in the sequence's output.
    pub index: u32,
    /// True for the sequence's last token (`index + 1 == max_tokens`).
    pub last: bool,
}

/// A request inside the engine.
#[derive(Debug)]
pub struct Seq<T> {
    prompt_tokens: u32,
    max_tokens: u32,
    prefilled: u32,
    generated: u32,
    chunk: u32,
    /// The owner's data.
    pub payload: T,
}

impl<T> Seq<T> {
    /// A sequence of `prompt_tokens` prompt tokens generating exactly `max_tokens` tokens
    /// (both at least 1: an empty prompt still has a chat template, a request always decodes).
    pub fn new(prompt_tokens: u32, max_tokens: u32, payload: T) -> Self {
        Seq {
            prompt_tokens: prompt_tokens.max(1),
            max_tokens: max_tokens.max(1),
            prefilled: 0,
            generated: 0,
            chunk: 0,
            payload,
        }
    }

    fn kv_reservation(&self) -> u64 {
        u64::from(self.prompt_tokens) + u64::from(self.max_tokens)
    }
}

/// Cold-start state of an engine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Cold {
    /// Warm: steps take their normal time.
    Warm,
    /// The first step that starts will first wait this long (per-worker cold start).
    OnFirstStep(u64),
    /// No step completes before this instant (deployment-wide cold start).
    Until(u64),
}

/// Counters an engine keeps (vLLM's metric names in brackets).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct EngineCounters {
    /// Engine steps run.
    pub steps: u64,
    /// Output tokens generated (`vllm:generation_tokens_total`).
    pub generation_tokens: u64,
    /// Prompt tokens prefilled (`vllm:prompt_tokens_total`).
    pub prompt_tokens: u64,
    /// Sequences that generated all their tokens.
    pub finished: u64,
    /// Sequences removed early because their owner aborted.
    pub aborted: u64,
}

/// The engine of one worker.
#[derive(Debug)]
pub struct Engine<T> {
    params: EngineParams,
    running: Vec<Seq<T>>,
    waiting: VecDeque<Seq<T>>,
    kv_reserved: u64,
    kv_live: u64,
    in_step: bool,
    rng: Rng,
    cold: Cold,
    counters: EngineCounters,
}

/// A sequence the engine can never run (its prompt + output exceed the whole KV cache).
#[derive(Debug)]
pub struct TooLong<T>(pub Seq<T>);

impl<T: Payload> Engine<T> {
    /// An idle, warm engine; `seed` and `worker` select its jitter stream.
    pub fn new(params: EngineParams, seed: u64, worker: u32) -> Self {
        Engine {
            params,
            running: Vec::new(),
            waiting: VecDeque::new(),
            kv_reserved: 0,
            kv_live: 0,
            in_step: false,
            rng: Rng::new(seed, stream::JITTER, u64::from(worker)),
            cold: Cold::Warm,
            counters: EngineCounters::default(),
        }
    }

    /// Make the first step that starts wait `duration_ns` first (a worker's cold start).
    pub fn set_cold_on_first_step(&mut self, duration_ns: u64) {
        if duration_ns > 0 {
            self.cold = Cold::OnFirstStep(duration_ns);
        }
    }

    /// Make no step finish before `until_ns` (a deployment-wide cold start); ignored once warm.
    pub fn set_cold_until(&mut self, until_ns: u64) {
        if !self.is_warm() || self.counters.steps == 0 {
            self.cold = Cold::Until(until_ns);
        }
    }

    /// True once no cold-start wait is pending.
    pub fn is_warm(&self) -> bool {
        self.cold == Cold::Warm
    }

    /// Queue a request. Fails only for a request larger than the whole KV cache.
    pub fn submit(&mut self, seq: Seq<T>) -> Result<(), TooLong<T>> {
        if seq.kv_reservation() > self.params.kv_capacity_tokens {
            return Err(TooLong(seq));
        }
        self.waiting.push_back(seq);
        Ok(())
    }

    /// Plan one step at `now_ns` with the worker's current slowdown `factor` (1.0 = nominal);
    /// returns its duration, or `None` when there is nothing to run.
    ///
    /// Must not be called while a step is in progress.
    pub fn start_step(&mut self, now_ns: u64, factor: f64) -> Option<u64> {
        debug_assert!(!self.in_step, "start_step during a step");
        self.admit();
        if self.running.is_empty() {
            return None;
        }
        let mut decoding: u64 = 0;
        for s in &mut self.running {
            s.chunk = 0;
            if s.prefilled == s.prompt_tokens {
                decoding += 1;
            }
        }
        let mut budget = u64::from(self.params.max_num_batched_tokens).saturating_sub(decoding);
        let mut prefill: u64 = 0;
        for s in &mut self.running {
            if budget == 0 {
                break;
            }
            if s.prefilled < s.prompt_tokens {
                let c = u64::from(s.prompt_tokens - s.prefilled).min(budget);
                s.chunk = c as u32;
                budget -= c;
                prefill += c;
            }
        }
        let p = &self.params;
        let nominal = p.step_base_ns as f64
            + p.decode_ns_per_seq as f64 * decoding as f64
            + p.prefill_ns_per_token as f64 * prefill as f64;
        let jitter = if p.jitter > 0.0 {
            (p.jitter * self.rng.next_normal() - 0.5 * p.jitter * p.jitter).exp()
        } else {
            1.0
        };
        let mut duration = (nominal * factor.max(0.0) * jitter).round() as u64;
        match self.cold {
            Cold::Warm => {}
            Cold::OnFirstStep(d) => duration += d,
            Cold::Until(t) => duration = duration.max(t.saturating_sub(now_ns)),
        }
        self.cold = Cold::Warm;
        self.in_step = true;
        Some(duration.max(1))
    }

    fn admit(&mut self) {
        while self.running.len() < self.params.max_num_seqs as usize {
            let Some(front) = self.waiting.front() else {
                break;
            };
            if front.payload.is_cancelled() {
                self.waiting.pop_front();
                self.counters.aborted += 1;
                continue;
            }
            let need = front.kv_reservation();
            if self.kv_reserved + need > self.params.kv_capacity_tokens {
                break;
            }
            self.kv_reserved += need;
            if let Some(seq) = self.waiting.pop_front() {
                self.running.push(seq);
            }
        }
    }

    /// End the step in progress: every sequence that decoded, or finished its prefill, gets
    /// one token through `emit`. Finished and aborted sequences leave the batch (their payload
    /// is dropped here).
    pub fn finish_step(&mut self, mut emit: impl FnMut(&mut T, Token) -> Flow) {
        if !self.in_step {
            return;
        }
        self.in_step = false;
        self.counters.steps += 1;
        let counters = &mut self.counters;
        let mut freed: u64 = 0;
        let mut live: u64 = 0;
        self.running.retain_mut(|s| {
            if s.prefilled < s.prompt_tokens {
                s.prefilled += s.chunk;
                counters.prompt_tokens += u64::from(s.chunk);
                s.chunk = 0;
                if s.prefilled < s.prompt_tokens {
                    live += u64::from(s.prefilled);
                    return true;
                }
            }
            s.generated += 1;
            counters.generation_tokens += 1;
            let last = s.generated >= s.max_tokens;
            let flow = emit(
                &mut s.payload,
                Token {
                    index: s.generated - 1,
                    last,
                },
            );
            if last || flow == Flow::Abort {
                if last {
                    counters.finished += 1;
                } else {
                    counters.aborted += 1;
                }
                freed += s.kv_reservation();
                false
            } else {
                live += u64::from(s.prefilled + s.generated);
                true
            }
        });
        self.kv_reserved -= freed;
        self.kv_live = live;
    }

    /// True while a step is in progress.
    pub fn in_step(&self) -> bool {
        self.in_step
    }

    /// True when nothing is running or waiting.
    pub fn is_idle(&self) -> bool {
        self.running.is_empty() && self.waiting.is_empty()
    }

    /// Sequences in the running batch (`vllm:num_requests_running`).
    pub fn running(&self) -> usize {
        self.running.len()
    }

    /// Sequences queued for admission (`vllm:num_requests_waiting`).
    pub fn waiting(&self) -> usize {
        self.waiting.len()
    }

    /// Fraction of the KV cache holding live tokens, 0.0–1.0 (`vllm:kv_cache_usage_perc`),
    /// as of the last finished step.
    pub fn kv_usage(&self) -> f64 {
        self.kv_live as f64 / self.params.kv_capacity_tokens as f64
    }

    /// The engine's counters.
    pub fn counters(&self) -> EngineCounters {
        self.counters
    }

    /// The engine's parameters.
    pub fn params(&self) -> &EngineParams {
        &self.params
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params() -> EngineParams {
        EngineParams {
            max_num_seqs: 4,
            max_num_batched_tokens: 16,
            kv_capacity_tokens: 1_000,
            step_base_ns: 1_000,
            decode_ns_per_seq: 100,
            prefill_ns_per_token: 10,
            jitter: 0.0,
        }
    }

    /// Run steps back to back; return (token arrival times per payload id, end time).
    fn run(engine: &mut Engine<usize>, n: usize) -> (Vec<Vec<u64>>, u64) {
        let mut t = 0;
        let mut out = vec![Vec::new(); n];
        while let Some(d) = engine.start_step(t, 1.0) {
            t += d;
            engine.finish_step(|id, _tok| {
                out[*id].push(t);
                Flow::Continue
            });
        }
        (out, t)
    }

    #[test]
    fn one_token_per_step_after_prefill_and_exactly_max_tokens() {
        let mut e = Engine::<usize>::new(params(), 1, 0);
        e.submit(Seq::new(10, 3, 0)).unwrap();
        let (out, end) = run(&mut e, 1);
        // step 1: prefill 10 tokens → 1000 + 100 = 1100, first token; then 2 decode steps of 1100.
        assert_eq!(out[0], vec![1_100, 2_200, 3_300]);
        assert_eq!(end, 3_300);
        assert!(e.is_idle());
        let c = e.counters();
        assert_eq!(
            (c.generation_tokens, c.prompt_tokens, c.finished),
            (3, 10, 1)
        );
    }

    #[test]
    fn chunked_prefill_respects_the_token_budget() {
        let mut e = Engine::<usize>::new(params(), 1, 0);
        e.submit(Seq::new(40, 1, 0)).unwrap();
        let (out, _) = run(&mut e, 1);
        // 40 prompt tokens at 16 per step: 3 steps (16, 16, 8) before the first token.
        assert_eq!(out[0], vec![1_160 + 1_160 + 1_080]);
    }

    #[test]
    fn batch_cap_makes_later_requests_wait_in_fifo_order() {
        let mut e = Engine::<usize>::new(params(), 1, 0);
        for id in 0..6 {
            e.submit(Seq::new(1, 2, id)).unwrap();
        }
        assert!(e.start_step(0, 1.0).is_some());
        assert_eq!((e.running(), e.waiting()), (4, 2));
        e.finish_step(|_, _| Flow::Continue);
        let (out, _) = run(&mut e, 6);
        assert!(out[0].len() == 1 && out[4].len() == 2, "{out:?}");
        assert!(out[4][0] > out[3][0], "the fifth waited for a slot");
    }

    #[test]
    fn kv_capacity_queues_and_oversized_requests_are_refused() {
        let mut p = params();
        p.kv_capacity_tokens = 20;
        let mut e = Engine::<usize>::new(p, 1, 0);
        e.submit(Seq::new(5, 5, 0)).unwrap();
        e.submit(Seq::new(5, 5, 1)).unwrap();
        e.submit(Seq::new(5, 5, 2)).unwrap();
        assert!(e.submit(Seq::new(15, 6, 3)).is_err());
        e.start_step(0, 1.0);
        assert_eq!((e.running(), e.waiting()), (2, 1));
    }

    #[test]
    fn abort_frees_the_slot_and_slowdown_scales_steps() {
        let mut e = Engine::<usize>::new(params(), 1, 0);
        e.submit(Seq::new(1, 100, 0)).unwrap();
        let d = e.start_step(0, 3.0).unwrap();
        assert_eq!(d, 3 * 1_010);
        e.finish_step(|_, _| Flow::Abort);
        assert!(e.is_idle());
        assert_eq!(e.counters().aborted, 1);
    }

    #[test]
    fn cold_start_delays_only_the_first_step() {
        let mut e = Engine::<usize>::new(params(), 1, 0);
        e.set_cold_on_first_step(1_000_000);
        e.submit(Seq::new(1, 2, 0)).unwrap();
        let (out, _) = run(&mut e, 1);
        assert_eq!(out[0], vec![1_001_010, 1_002_110]);
        let mut e = Engine::<usize>::new(params(), 1, 0);
        e.set_cold_until(50_000);
        e.submit(Seq::new(1, 1, 0)).unwrap();
        let (out, _) = run(&mut e, 1);
        assert_eq!(out[0], vec![50_000]);
    }
}
