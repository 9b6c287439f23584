//! Virtual time: a discrete-event simulation of a client population (closed or open loop)
//! against the same router and engine code the real-time server runs, producing the
//! [`RequestRecord`]s a real run would produce — hundreds to thousands of times faster than
//! real time (≈ 50 ms of CPU for an AICR trial at 2048 in flight, 18 s of virtual time).
//!
//! Timeline of one request: the client sends at `send_ns`; it reaches the frontend
//! `net_delay_ns` later; the frontend decides faults (a 500/429 answers at once), waits
//! `header_delay_ns`, routes, and queues it on a worker (an idle worker starts a step at once
//! with what it has); each token leaves the worker at a step
//! end and reaches the client `net_delay_ns` later. Closed loop: the client sends its next
//! request the moment a response ends. The same configuration and seed give identical records.

use crate::engine::{Engine, Flow, Seq};
use crate::rng::{mix64, stream, Rng};
use crate::{SimConfig, SimError, SlowWorker, Stall};
use infergate_model::{
    Arrivals, Failure, FailureKind, LoadMode, Nanos, Phase, RequestRecord, Usage,
};
use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};

/// The client population of a virtual run.
#[derive(Debug, Clone, PartialEq)]
pub struct VirtualLoad {
    /// Closed loop (concurrency) or open loop (rate).
    pub mode: LoadMode,
    /// Requests counted in the results.
    pub request_count: u64,
    /// Requests sent first and excluded (phase `warmup`).
    pub warmup: u64,
    /// Prompt length of every request, in tokens.
    pub input_tokens: u32,
    /// `max_tokens` of every request (the sim always generates exactly this many).
    pub output_tokens: u32,
    /// Distinct prompts; request `i` uses entry `i mod dataset_entries` (AIPerf's
    /// `--num-dataset-entries`).
    pub dataset_entries: u32,
    /// Distinct first blocks among the prompts (what the kv router hashes). 1 = every prompt
    /// opens the same way (low-diversity synthetic text).
    pub distinct_prefixes: u32,
    /// Closed loop: wait for every warmup request to finish, then start the profile phase with
    /// a fresh burst of `concurrency` requests (AIPerf's separate phases). `false`: profile
    /// requests follow warmup ones without a gap.
    pub warmup_drain: bool,
    /// One-way client↔frontend delay, nanoseconds (loopback plus HTTP handling).
    pub net_delay_ns: u64,
    /// Streaming responses (one content event per token); `false`: one event at the end.
    pub streaming: bool,
}

impl VirtualLoad {
    /// AICR's closed-loop shape at `concurrency`: max(1000, 8 × C) requests, C warmup,
    /// 128 in / 128 out, 100 dataset entries, streaming.
    pub fn aicr(concurrency: u32) -> Self {
        VirtualLoad {
            mode: LoadMode::Closed { concurrency },
            request_count: (u64::from(concurrency) * 8).max(1000),
            warmup: u64::from(concurrency),
            input_tokens: 128,
            output_tokens: 128,
            dataset_entries: 100,
            distinct_prefixes: 100,
            warmup_drain: true,
            net_delay_ns: 50_000,
            streaming: true,
        }
    }

    /// Check the values; errors name the setting and its range.
    pub fn validate(&self) -> Result<(), SimError> {
        match self.mode {
            LoadMode::Closed { concurrency: 0 } => {
                return Err(SimError::invalid("concurrency", "0", "at least 1"))
            }
            LoadMode::Open {
                rate,
                max_concurrency,
                ..
            } => {
                if !(rate.is_finite() && rate > 0.0) {
                    return Err(SimError::invalid(
                        "rate",
                        rate.to_string(),
                        "a positive number of requests per second",
                    ));
                }
                if max_concurrency == Some(0) {
                    return Err(SimError::invalid("max-concurrency", "0", "at least 1"));
                }
            }
            _ => {}
        }
        if self.request_count == 0 {
            return Err(SimError::invalid("request-count", "0", "at least 1"));
        }
        if self.output_tokens == 0 {
            return Err(SimError::invalid("output-tokens", "0", "at least 1"));
        }
        if self.dataset_entries == 0 || self.distinct_prefixes == 0 {
            return Err(SimError::invalid(
                "dataset-entries / distinct-prefixes",
                "0",
                "at least 1",
            ));
        }
        Ok(())
    }
}

/// What one worker did during a virtual run.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct WorkerReport {
    /// Requests routed to it (all phases).
    pub routed: u64,
    /// Largest running batch seen at a step start.
    pub peak_running: usize,
    /// Longest waiting queue seen at a step start.
    pub peak_waiting: usize,
    /// Output tokens generated.
    pub generation_tokens: u64,
    /// The step-time multiplier of its speed spread for this seed.
    pub speed: f64,
}

/// The result of a virtual run.
#[derive(Debug, Clone, PartialEq)]
pub struct VirtualRun {
    /// One record per request, ordered by index (warmup first).
    pub records: Vec<RequestRecord>,
    /// Per-worker totals.
    pub workers: Vec<WorkerReport>,
    /// Virtual time when the last response ended, nanoseconds.
    pub end_ns: Nanos,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Event {
    /// Open loop: request `i` is due.
    Due(usize),
    /// Request `i` reaches the frontend.
    Arrive(usize),
    /// Request `i` leaves the frontend (after the header delay) and is routed.
    Route(usize),
    /// Worker `w`'s step ends.
    StepEnd(usize),
    /// The client has the full response of request `i`.
    Done(usize),
}

struct Sim<'a> {
    cfg: &'a SimConfig,
    load: &'a VirtualLoad,
    total: usize,
    warmup: usize,
    now: u64,
    seq: u64,
    heap: BinaryHeap<Reverse<(u64, u64, Event)>>,
    records: Vec<RequestRecord>,
    stop_at: Vec<Option<(u32, FailureKind)>>,
    engines: Vec<Engine<usize>>,
    in_flight: Vec<u32>,
    reports: Vec<WorkerReport>,
    cold_started: bool,
    next_send: usize,
    warmup_done: usize,
    client_in_flight: u32,
    pending: VecDeque<usize>,
    finished: Vec<(usize, u64)>,
}

/// The fault a [`trial`] injects. Mirrors `infergate_evidence::fidelity::Fault` variant for
/// variant: this crate must not depend on evidence (evidence's normal build stays free of the
/// sim), so each caller translates its scenario into this plain value and the mapping onto a
/// deployment lives here, once.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum TrialFault {
    /// Nothing injected.
    None,
    /// One worker stalls for a while.
    Stall(Stall),
    /// One worker is slow throughout.
    SlowWorker(SlowWorker),
    /// Every worker's step costs are divided by `throughput_factor` (< 1 slows them down).
    LowThroughput {
        /// Throughput multiplier (0.7: throughput 30 % low).
        throughput_factor: f64,
    },
}

/// One fidelity-study trial in virtual time: profile `profile`'s full node (its default routing),
/// seed `seed`, AICR's closed-loop workload ([`VirtualLoad::aicr`]) at `concurrency`, and
/// `fault` injected. The records of the run. What `infergate study fidelity`, the evidence
/// crate's `fidelity` example and its simulator tests all run.
pub fn trial(
    profile: &str,
    seed: u64,
    concurrency: u32,
    fault: TrialFault,
) -> Result<Vec<RequestRecord>, SimError> {
    let mut cfg = SimConfig::for_profile(profile)?;
    cfg.seed = seed;
    match fault {
        TrialFault::None => {}
        TrialFault::Stall(stall) => cfg.behaviours.stall = Some(stall),
        TrialFault::SlowWorker(slow) => cfg.behaviours.slow_worker = Some(slow),
        TrialFault::LowThroughput { throughput_factor } => {
            let e = &mut cfg.profile.engine;
            let scale = |v: u64| (v as f64 / throughput_factor).round() as u64;
            e.step_base_ns = scale(e.step_base_ns);
            e.decode_ns_per_seq = scale(e.decode_ns_per_seq);
            e.prefill_ns_per_token = scale(e.prefill_ns_per_token);
        }
    }
    run(&cfg, &VirtualLoad::aicr(concurrency)).map(|r| r.records)
}

/// [`trial`] for a fidelity-study scenario: `fidelity_trial!(s, Fault)` with `s` an
/// `&infergate_evidence::fidelity::Scenario` and `Fault` its fault enum in scope, giving
/// `Result<Vec<RequestRecord>, String>`. A macro rather than a function because this crate must
/// not depend on evidence (and evidence's normal build stays free of the sim): it matches the
/// caller's `Fault` by variant and field names, so the translation to [`TrialFault`] is written
/// once for the example, the tests and `infergate study fidelity`, and still type-checked at each.
#[macro_export]
macro_rules! fidelity_trial {
    ($scenario:expr, $Fault:ident) => {{
        let s = $scenario;
        let fault = match s.fault {
            $Fault::None => $crate::virtual_time::TrialFault::None,
            $Fault::Stall {
                worker,
                factor,
                start_ns,
                duration_ns,
            } => $crate::virtual_time::TrialFault::Stall($crate::Stall {
                worker,
                factor,
                start_ns,
                duration_ns,
            }),
            $Fault::SlowWorker { worker, factor } => {
                $crate::virtual_time::TrialFault::SlowWorker($crate::SlowWorker { worker, factor })
            }
            $Fault::LowThroughput { throughput_factor } => {
                $crate::virtual_time::TrialFault::LowThroughput { throughput_factor }
            }
        };
        $crate::virtual_time::trial(&s.profile, s.seed, s.per_gpu * s.gpus, fault)
            .map_err(|e| e.to_string())
    }};
}

/// Run `load` against the deployment `cfg` in virtual time.
pub fn run(cfg: &SimConfig, load: &VirtualLoad) -> Result<VirtualRun, SimError> {
    cfg.validate()?;
    load.validate()?;
    let total = (load.warmup + load.request_count) as usize;
    let engines = (0..cfg.workers)
        .map(|w| Engine::new(cfg.profile.engine.clone(), cfg.seed, w))
        .collect();
    let reports = (0..cfg.workers)
        .map(|w| WorkerReport {
            speed: cfg.worker_speed(w),
            ..WorkerReport::default()
        })
        .collect();
    let mut sim = Sim {
        cfg,
        load,
        total,
        warmup: load.warmup as usize,
        now: 0,
        seq: 0,
        heap: BinaryHeap::new(),
        records: Vec::with_capacity(total),
        stop_at: Vec::with_capacity(total),
        engines,
        in_flight: vec![0; cfg.workers as usize],
        reports,
        cold_started: false,
        next_send: 0,
        warmup_done: 0,
        client_in_flight: 0,
        pending: VecDeque::new(),
        finished: Vec::new(),
    };
    for i in 0..total {
        sim.records.push(sim.new_record(i));
        let fate = cfg
            .behaviours
            .faults
            .decide(cfg.seed, i as u64, load.output_tokens);
        let stop = match (fate.drop_after, fate.malformed_at) {
            (Some(d), Some(m)) if m < d => Some((m, FailureKind::MalformedJson)),
            (Some(d), _) => Some((d, FailureKind::StreamEndedEarly)),
            (None, Some(m)) => Some((m, FailureKind::MalformedJson)),
            (None, None) => None,
        };
        sim.stop_at.push(stop);
    }
    sim.start();
    while let Some(Reverse((t, _, ev))) = sim.heap.pop() {
        sim.now = t;
        sim.handle(ev);
    }
    let end_ns = sim.records.iter().map(|r| r.end_ns).max().unwrap_or(0);
    for (w, e) in sim.engines.iter().enumerate() {
        sim.reports[w].generation_tokens = e.counters().generation_tokens;
    }
    Ok(VirtualRun {
        records: sim.records,
        workers: sim.reports,
        end_ns,
    })
}

impl Sim<'_> {
    fn new_record(&self, i: usize) -> RequestRecord {
        let entry = (i as u64 % u64::from(self.load.dataset_entries)) as u32;
        RequestRecord {
            index: i as u64,
            phase: if i < self.warmup {
                Phase::Warmup
            } else {
                Phase::Profile
            },
            entry,
            scheduled_ns: None,
            send_ns: 0,
            headers_ns: None,
            content_ns: Vec::new(),
            end_ns: 0,
            input_tokens: self.load.input_tokens,
            requested_output_tokens: self.load.output_tokens,
            client_output_tokens: 0,
            usage: None,
            worker: None,
            failure: None,
        }
    }

    fn push(&mut self, at: u64, ev: Event) {
        self.seq += 1;
        self.heap.push(Reverse((at, self.seq, ev)));
    }

    fn start(&mut self) {
        match self.load.mode {
            LoadMode::Closed { concurrency } => {
                let first = if self.warmup > 0 && self.load.warmup_drain {
                    self.warmup
                } else {
                    self.total
                };
                for _ in 0..(concurrency as usize).min(first) {
                    self.send_next();
                }
            }
            LoadMode::Open { rate, arrivals, .. } => {
                let mut rng = Rng::new(self.cfg.seed, stream::ARRIVAL, 0);
                let mut t = 0.0f64;
                for i in 0..self.total {
                    let at = (t * 1e9).round() as u64;
                    self.records[i].scheduled_ns = Some(at);
                    self.push(at, Event::Due(i));
                    t += match arrivals {
                        Arrivals::Constant => 1.0 / rate,
                        Arrivals::Poisson => rng.next_exp(1.0 / rate),
                    };
                }
            }
        }
    }

    /// Closed loop: send the next request now.
    fn send_next(&mut self) {
        if self.next_send < self.total {
            let i = self.next_send;
            self.next_send += 1;
            self.send(i);
        }
    }

    fn send(&mut self, i: usize) {
        self.records[i].send_ns = self.now;
        self.client_in_flight += 1;
        self.push(self.now + self.load.net_delay_ns, Event::Arrive(i));
    }

    fn handle(&mut self, ev: Event) {
        match ev {
            Event::Due(i) => {
                let cap = match self.load.mode {
                    LoadMode::Open {
                        max_concurrency, ..
                    } => max_concurrency.unwrap_or(u32::MAX),
                    LoadMode::Closed { .. } => u32::MAX,
                };
                if self.client_in_flight < cap {
                    self.send(i);
                } else {
                    self.pending.push_back(i);
                }
            }
            Event::Arrive(i) => self.arrive(i),
            Event::Route(i) => self.route(i),
            Event::StepEnd(w) => self.step_end(w),
            Event::Done(i) => self.done(i),
        }
    }

    fn arrive(&mut self, i: usize) {
        let b = &self.cfg.behaviours;
        let fate = b
            .faults
            .decide(self.cfg.seed, i as u64, self.load.output_tokens);
        if let Some(code) = fate.reject {
            let t = self.now + self.load.net_delay_ns;
            let r = &mut self.records[i];
            r.headers_ns = Some(t);
            r.end_ns = t;
            r.failure = Some(Failure::new(
                FailureKind::HttpStatus,
                Some(code),
                format!("simulated HTTP {code}"),
            ));
            self.push(t, Event::Done(i));
            return;
        }
        let delay = b.header_delay_ns;
        self.records[i].headers_ns = Some(self.now + delay + self.load.net_delay_ns);
        if delay == 0 {
            self.route(i);
        } else {
            self.push(self.now + delay, Event::Route(i));
        }
    }

    fn route(&mut self, i: usize) {
        let entry = self.records[i].entry;
        let prefix = mix64(u64::from(entry % self.load.distinct_prefixes) ^ 0x5eed);
        let in_flight = &self.in_flight;
        let w = self.cfg.router().pick(i as u64, prefix, |w| in_flight[w]);
        self.in_flight[w] += 1;
        self.reports[w].routed += 1;
        self.records[i].worker = Some(w.to_string());
        if let Some(cold) = self.cfg.behaviours.cold_start {
            match cold.scope {
                crate::ColdStartScope::Deployment if !self.cold_started => {
                    self.cold_started = true;
                    let until = self.now + cold.duration_ns;
                    for e in &mut self.engines {
                        e.set_cold_until(until);
                    }
                }
                crate::ColdStartScope::Worker if self.engines[w].counters().steps == 0 => {
                    self.engines[w].set_cold_on_first_step(cold.duration_ns);
                }
                _ => {}
            }
        }
        let seq = Seq::new(self.load.input_tokens, self.load.output_tokens, i);
        if self.engines[w].submit(seq).is_err() {
            self.in_flight[w] -= 1;
            let t = self.now + self.load.net_delay_ns;
            let r = &mut self.records[i];
            r.end_ns = t;
            r.failure = Some(Failure::new(
                FailureKind::HttpStatus,
                Some(400),
                "prompt + max_tokens exceed the KV cache",
            ));
            self.push(t, Event::Done(i));
            return;
        }
        // An idle worker starts a step at once with what it has, as vLLM's engine loop does;
        // requests arriving a moment later (even at the same instant) wait for the next step.
        if !self.engines[w].in_step() {
            self.start_step(w);
        }
    }

    fn start_step(&mut self, w: usize) {
        let factor = self.cfg.step_factor(w as u32, self.now);
        let e = &mut self.engines[w];
        if let Some(d) = e.start_step(self.now, factor) {
            let r = &mut self.reports[w];
            r.peak_running = r.peak_running.max(e.running());
            r.peak_waiting = r.peak_waiting.max(e.waiting());
            self.push(self.now + d, Event::StepEnd(w));
        }
    }

    fn step_end(&mut self, w: usize) {
        let arrive = self.now + self.load.net_delay_ns;
        let streaming = self.load.streaming;
        let records = &mut self.records;
        let stop_at = &self.stop_at;
        let finished = &mut self.finished;
        self.engines[w].finish_step(|&mut i, tok| {
            let r = &mut records[i];
            if let Some((k, kind)) = stop_at[i] {
                if tok.index == k {
                    r.end_ns = arrive;
                    r.failure = Some(Failure::new(kind, Some(200), "simulated fault"));
                    finished.push((i, arrive));
                    return Flow::Abort;
                }
            }
            r.client_output_tokens += 1;
            if streaming {
                if r.content_ns.capacity() == 0 {
                    r.content_ns
                        .reserve_exact(r.requested_output_tokens as usize);
                }
                r.content_ns.push(arrive);
            }
            if tok.last {
                if !streaming {
                    r.content_ns.push(arrive);
                }
                r.end_ns = arrive;
                r.usage = Some(Usage {
                    prompt_tokens: r.input_tokens,
                    completion_tokens: r.client_output_tokens,
                });
                finished.push((i, arrive));
            }
            Flow::Continue
        });
        for k in 0..self.finished.len() {
            let (i, t) = self.finished[k];
            self.in_flight[w] -= 1;
            self.push(t, Event::Done(i));
        }
        self.finished.clear();
        self.start_step(w);
    }

    fn done(&mut self, i: usize) {
        self.client_in_flight -= 1;
        match self.load.mode {
            LoadMode::Closed { concurrency } => {
                if i < self.warmup && self.load.warmup_drain {
                    self.warmup_done += 1;
                    if self.next_send < self.warmup {
                        self.send_next();
                    } else if self.warmup_done == self.warmup {
                        for _ in 0..concurrency {
                            self.send_next();
                        }
                    }
                } else {
                    self.send_next();
                }
            }
            LoadMode::Open { .. } => {
                if let Some(j) = self.pending.pop_front() {
                    self.send(j);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_closed_loop_produces_complete_records() {
        let cfg = SimConfig::for_profile("h100x8")
            .unwrap()
            .with_gpus_free(2)
            .unwrap();
        let mut load = VirtualLoad::aicr(16);
        load.request_count = 64;
        load.warmup = 16;
        let run = run(&cfg, &load).unwrap();
        assert_eq!(run.records.len(), 80);
        for r in &run.records {
            assert!(r.is_success());
            assert_eq!(r.content_ns.len(), 128);
            assert!(r.content_ns.windows(2).all(|w| w[0] < w[1]));
            assert!(r.content_ns[0] > r.send_ns && r.end_ns == r.content_ns[127]);
        }
        let first_profile_send = run.records[16..].iter().map(|r| r.send_ns).min().unwrap();
        let last_warmup_end = run.records[..16].iter().map(|r| r.end_ns).max().unwrap();
        assert!(first_profile_send >= last_warmup_end, "warmup drains first");
    }
}
