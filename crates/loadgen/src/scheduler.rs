//! Offers the load: closed loop (exactly C requests in flight) or open loop (sends on absolute
//! deadlines `t0 + offset_i`), with warmup, request-count and duration limits, cancellation, and
//! in-flight sampling.
//!
//! Owns: when each request is sent and when the run stops. Must not: decide what is sent (the
//! [`RequestSource`] does), compute statistics, or share a lock between requests. Each closed-loop
//! worker keeps its own record buffer and open-loop requests return theirs through a `JoinSet`;
//! everything is merged once at the end, unless the plan streams records out as they finish
//! ([`RecordSink::Stream`]: memory then stays flat however many requests a run sends). The only
//! shared mutable state is atomics (and the stream's lock-free channel, once per request).

use crate::clock::Clock;
use crate::conn::IdlePool;
use crate::progress::Progress;
use crate::request::Requester;
use crate::{CancelToken, LoadgenError, Target};
use infergate_model::{LoadMode, Nanos, Phase, RequestRecord, RequestSource, TokenCounter};
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::mpsc::Sender;
use std::sync::Arc;
use std::time::{Duration, SystemTime};
use tokio::sync::{watch, Semaphore};
use tokio::task::{JoinError, JoinSet};

/// Largest closed-loop concurrency or open-loop cap accepted.
pub const MAX_CONCURRENCY: u32 = 100_000;

/// Where finished records go.
#[derive(Debug, Default)]
pub enum RecordSink {
    /// Kept in memory and returned in [`RunResult::records`], sorted by index.
    #[default]
    Keep,
    /// Sent down this channel as each request finishes (completion order, warmup included);
    /// [`RunResult::records`] is then empty. A closed receiver drops what is sent after it
    /// closed (the receiver is expected to report why it stopped).
    Stream(Sender<RequestRecord>),
}

/// How a run offers its load and when it stops. Build with [`LoadPlan::closed`] or
/// [`LoadPlan::open`], then adjust the public fields.
pub struct LoadPlan {
    /// Closed or open loop (open-loop arrival times come from `arrival_offsets`).
    pub mode: LoadMode,
    /// Profile requests to send (warmup not included). `None`: until `duration` ends.
    pub request_count: Option<u64>,
    /// Stop issuing this long after the first profile request was sent. `None`: until
    /// `request_count` is reached. With both, whichever comes first.
    pub duration: Option<Duration>,
    /// Requests sent first and tagged [`Phase::Warmup`] (excluded from every result).
    pub warmup_count: u64,
    /// Per-request limit, from send to the end of the response ([`infergate_model::FailureKind::Timeout`]).
    pub request_timeout: Duration,
    /// After `duration` ends, how long in-flight requests may still finish; the rest are recorded
    /// as cancelled. AIPerf's default grace period is 30 s.
    pub drain_grace: Duration,
    /// Open loop only: send times in nanoseconds after the dispatcher's start `t0`, one per
    /// request in index order (warmup first), non-decreasing. Computed by the workload (constant
    /// or Poisson). The run stops early if it runs out.
    pub arrival_offsets: Option<Box<dyn Iterator<Item = Nanos> + Send>>,
    /// How often the number of requests in flight is sampled.
    pub in_flight_sample_interval: Duration,
    /// Start the profile phase only once every warmup response has finished (AIPerf's default:
    /// its profile phase then opens with a full wave of requests, which shapes the TTFT tail).
    /// `false`: profile requests follow warmup requests without a pause.
    pub drain_warmup: bool,
    /// Keep the records or stream them out as they finish.
    pub records: RecordSink,
}

impl fmt::Debug for LoadPlan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LoadPlan")
            .field("mode", &self.mode)
            .field("request_count", &self.request_count)
            .field("duration", &self.duration)
            .field("warmup_count", &self.warmup_count)
            .field("request_timeout", &self.request_timeout)
            .field("drain_grace", &self.drain_grace)
            .field("drain_warmup", &self.drain_warmup)
            .field("records", &self.records)
            .field(
                "arrival_offsets",
                &self.arrival_offsets.as_ref().map(|_| ".."),
            )
            .finish()
    }
}

impl LoadPlan {
    /// Closed loop at `concurrency`, `request_count` profile requests, no warmup, 600 s request
    /// timeout, 30 s drain grace.
    pub fn closed(concurrency: u32, request_count: u64) -> Self {
        LoadPlan {
            mode: LoadMode::Closed { concurrency },
            request_count: Some(request_count),
            duration: None,
            warmup_count: 0,
            request_timeout: Duration::from_secs(600),
            drain_grace: Duration::from_secs(30),
            arrival_offsets: None,
            in_flight_sample_interval: Duration::from_millis(100),
            drain_warmup: true,
            records: RecordSink::Keep,
        }
    }

    /// Open loop with the given mode (must be [`LoadMode::Open`]) and send offsets.
    pub fn open(
        mode: LoadMode,
        request_count: u64,
        offsets: Box<dyn Iterator<Item = Nanos> + Send>,
    ) -> Self {
        LoadPlan {
            mode,
            arrival_offsets: Some(offsets),
            ..LoadPlan::closed(1, request_count)
        }
    }

    /// Check every value; [`run`] calls this first, and the CLI should call it before anything
    /// else so bad input exits 2 without a request being sent.
    pub fn validate(&self) -> Result<(), LoadgenError> {
        let invalid = |field, value: String, valid| {
            Err(LoadgenError::InvalidPlan {
                field,
                value,
                valid,
            })
        };
        match self.mode {
            LoadMode::Closed { concurrency } => {
                if concurrency == 0 || concurrency > MAX_CONCURRENCY {
                    return invalid("--concurrency", concurrency.to_string(), "1..=100000");
                }
            }
            LoadMode::Open {
                rate,
                max_concurrency,
                ..
            } => {
                if !(rate.is_finite() && rate > 0.0) {
                    return invalid("--request-rate", rate.to_string(), "a number > 0");
                }
                if let Some(c) = max_concurrency {
                    if c == 0 || c > MAX_CONCURRENCY {
                        return invalid("--concurrency", c.to_string(), "1..=100000");
                    }
                }
                if self.arrival_offsets.is_none() {
                    return invalid(
                        "arrival_offsets",
                        "none".into(),
                        "an offset iterator for open loop",
                    );
                }
            }
        }
        if self.request_count == Some(0) {
            return invalid("--request-count", "0".into(), ">= 1");
        }
        if self.request_count.is_none() && self.duration.is_none() {
            return invalid(
                "--request-count/--duration",
                "neither".into(),
                "at least one of them",
            );
        }
        if self.duration == Some(Duration::ZERO) {
            return invalid("--duration", "0".into(), "> 0 s");
        }
        if self.request_timeout.is_zero() {
            return invalid("--request-timeout", "0".into(), "> 0 s");
        }
        if self.in_flight_sample_interval.is_zero() {
            return invalid("in_flight_sample_interval", "0".into(), "> 0 s");
        }
        Ok(())
    }
}

/// Open-loop send lateness: `send_ns − scheduled_ns` over every request sent (warmup included).
/// Percentiles are left to `infergate-stats` (the records carry both times).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct LatenessSummary {
    /// Requests with a scheduled time.
    pub requests: u64,
    /// Mean lateness, nanoseconds.
    pub mean_ns: Nanos,
    /// Largest lateness, nanoseconds.
    pub max_ns: Nanos,
    /// Requests sent more than 1 ms late.
    pub late_over_1ms: u64,
    /// Requests sent more than 10 ms late.
    pub late_over_10ms: u64,
}

/// [`LatenessSummary`] accumulated as requests are sent (atomics: shared by every request task).
#[derive(Default)]
struct LatenessTally {
    requests: AtomicU64,
    sum_ns: AtomicU64,
    max_ns: AtomicU64,
    late_over_1ms: AtomicU64,
    late_over_10ms: AtomicU64,
}

impl LatenessTally {
    fn add(&self, late: Nanos) {
        self.requests.fetch_add(1, Relaxed);
        self.sum_ns.fetch_add(late, Relaxed);
        self.max_ns.fetch_max(late, Relaxed);
        self.late_over_1ms
            .fetch_add(u64::from(late > 1_000_000), Relaxed);
        self.late_over_10ms
            .fetch_add(u64::from(late > 10_000_000), Relaxed);
    }

    /// `None` when no request had a scheduled time.
    fn summary(&self) -> Option<LatenessSummary> {
        let requests = self.requests.load(Relaxed);
        (requests > 0).then(|| LatenessSummary {
            requests,
            mean_ns: self.sum_ns.load(Relaxed) / requests,
            max_ns: self.max_ns.load(Relaxed),
            late_over_1ms: self.late_over_1ms.load(Relaxed),
            late_over_10ms: self.late_over_10ms.load(Relaxed),
        })
    }
}

/// Why the run stopped issuing requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopReason {
    /// Every planned request was sent.
    RequestCount,
    /// `duration` elapsed.
    Duration,
    /// The open-loop offsets ran out before `request_count`.
    OffsetsExhausted,
    /// The cancel token fired (Ctrl-C).
    Cancelled,
}

/// Everything a run measured.
#[derive(Debug, Clone)]
pub struct RunResult {
    /// One record per request sent, warmup included, sorted by index; empty when the plan
    /// streamed them ([`RecordSink::Stream`]).
    pub records: Vec<RequestRecord>,
    /// Wall-clock time of the run's epoch (the `0` of every `Nanos`).
    pub epoch_wall: SystemTime,
    /// When the first profile request was sent, if any was.
    pub profile_started_ns: Option<Nanos>,
    /// When the last request finished and the run returned.
    pub finished_ns: Nanos,
    /// `(time, requests in flight)` every `in_flight_sample_interval`, plus one final sample.
    pub in_flight_samples: Vec<(Nanos, u32)>,
    /// Open loop only: how late requests were sent.
    pub send_lateness: Option<LatenessSummary>,
    /// True when the cancel token stopped the run (in-flight requests are `Cancelled`).
    pub cancelled: bool,
    /// Why issuing stopped.
    pub stop_reason: StopReason,
}

/// State shared by the run's tasks: immutable configuration plus atomics and signals.
struct Shared {
    requester: Requester,
    source: Arc<dyn RequestSource>,
    clock: Clock,
    /// Index of the next request (closed loop).
    next: AtomicU64,
    /// Warmup + profile requests to send (`u64::MAX` when limited by duration only).
    total: u64,
    warmup: u64,
    /// Set when no further request may be issued.
    stop: CancelToken,
    /// Set when in-flight requests must end now (recorded as cancelled).
    abort: CancelToken,
    profile_start: watch::Sender<Option<Nanos>>,
    /// Warmup responses finished so far.
    warmup_finished: AtomicU64,
    /// Fired when every warmup response has finished (at once when there is no warmup or the
    /// plan does not drain it).
    warmup_drained: CancelToken,
    /// Open loop: idle keep-alive connections (closed-loop workers keep their own).
    idle: IdlePool,
    sink: RecordSink,
    lateness: LatenessTally,
}

impl Shared {
    /// Account for a finished record and pass it on: returned to be kept, or streamed out.
    fn deliver(&self, record: RequestRecord) -> Option<RequestRecord> {
        if let Some(scheduled) = record.scheduled_ns {
            self.lateness.add(record.send_ns.saturating_sub(scheduled));
        }
        match &self.sink {
            RecordSink::Keep => Some(record),
            RecordSink::Stream(tx) => {
                // A closed receiver has stopped for a reason it reports itself.
                let _ = tx.send(record);
                None
            }
        }
    }

    fn phase_of(&self, index: u64) -> Phase {
        if index < self.warmup {
            Phase::Warmup
        } else {
            Phase::Profile
        }
    }

    fn note_issue(&self, index: u64) {
        // The first profile request to be sent marks the profile start; with a drained warmup,
        // several workers race past the barrier, so it is not necessarily index `warmup`.
        if index >= self.warmup && self.profile_start.borrow().is_none() {
            let now = self.clock.now_ns();
            self.profile_start.send_if_modified(|v| {
                let first = v.is_none();
                if first {
                    *v = Some(now);
                }
                first
            });
        }
    }

    /// Count a finished warmup response; the last one opens the profile phase.
    fn note_finished(&self, index: u64) {
        if index < self.warmup && self.warmup_finished.fetch_add(1, Relaxed) + 1 == self.warmup {
            self.warmup_drained.cancel();
        }
    }

    /// Wait until the warmup phase has drained (or the run stops). False when the run stopped.
    async fn wait_for_warmup(&self) -> bool {
        tokio::select! {
            biased;
            _ = self.stop.cancelled() => false,
            _ = self.warmup_drained.cancelled() => true,
        }
    }

    async fn closed_worker(self: Arc<Self>) -> Vec<RequestRecord> {
        let mut out = Vec::new();
        // This worker's connection, kept between its requests.
        let mut conn = None;
        loop {
            if self.stop.is_cancelled() {
                break;
            }
            let index = self.next.fetch_add(1, Relaxed);
            if index >= self.total {
                break;
            }
            if index >= self.warmup && !self.wait_for_warmup().await {
                break;
            }
            self.note_issue(index);
            let planned = self.source.planned(index);
            let record = self
                .requester
                .execute(planned, self.phase_of(index), None, &self.abort, &mut conn)
                .await;
            self.note_finished(index);
            out.extend(self.deliver(record));
        }
        out
    }
}

/// Run a load against `target` and return every record.
///
/// Validates `plan` first (no request is sent on error). Closed loop: `concurrency` workers each
/// send their next request as soon as the previous one finishes, warmup requests first, so
/// exactly `concurrency` are in flight until the last ones drain. Open loop: request `i` is sent
/// at `t0 + offset_i` on an absolute deadline (tokio's timer: about 1 ms resolution); with
/// `max_concurrency`, a request waits for a free slot and its lateness is recorded.
///
/// Stopping: after `request_count` requests, or `duration` after the first profile request (then
/// in-flight requests get `drain_grace` to finish), or when `cancel` fires (in-flight requests
/// end at once, recorded as [`infergate_model::FailureKind::Cancelled`]). The call spawns tasks on
/// the current tokio runtime; use a multi-thread runtime for throughput.
pub async fn run(
    target: Target,
    source: Arc<dyn RequestSource>,
    counter: Arc<dyn TokenCounter>,
    mut plan: LoadPlan,
    progress: Option<Arc<Progress>>,
    cancel: CancelToken,
) -> Result<RunResult, LoadgenError> {
    plan.validate()?;
    let progress = progress.unwrap_or_default();
    let clock = Clock::start();
    let epoch_wall = SystemTime::now();
    let requester = Requester::new(
        &target,
        source.path(),
        source.streaming(),
        plan.request_timeout,
        counter,
        clock,
        Arc::clone(&progress),
    )?;
    let total = match plan.request_count {
        Some(n) => plan.warmup_count.saturating_add(n),
        None => u64::MAX,
    };
    let shared = Arc::new(Shared {
        requester,
        source,
        clock,
        next: AtomicU64::new(0),
        total,
        warmup: plan.warmup_count,
        stop: CancelToken::new(),
        abort: CancelToken::new(),
        profile_start: watch::Sender::new(None),
        warmup_finished: AtomicU64::new(0),
        warmup_drained: CancelToken::new(),
        idle: IdlePool::default(),
        sink: std::mem::take(&mut plan.records),
        lateness: LatenessTally::default(),
    });
    if plan.warmup_count == 0 || !plan.drain_warmup {
        shared.warmup_drained.cancel();
    }

    let sampling_done = CancelToken::new();
    let sampler = tokio::spawn(sample_in_flight(
        Arc::clone(&progress),
        clock,
        plan.in_flight_sample_interval,
        sampling_done.clone(),
    ));
    let duration_hit = CancelToken::new();
    let controller = tokio::spawn(control(
        Arc::clone(&shared),
        cancel.clone(),
        plan.duration,
        plan.drain_grace,
        duration_hit.clone(),
    ));

    let (mut records, offsets_ran_out) = match plan.mode {
        LoadMode::Closed { concurrency } => (closed_loop(&shared, concurrency).await, false),
        LoadMode::Open {
            max_concurrency, ..
        } => {
            let offsets = plan
                .arrival_offsets
                .take()
                .unwrap_or_else(|| Box::new(std::iter::empty()));
            open_loop(&shared, offsets, max_concurrency).await
        }
    };
    controller.abort();
    // Wait until the aborted controller is gone: it holds the shared state, and with it a
    // streamed run's record channel, which must be closed when this returns.
    let _ = controller.await;
    sampling_done.cancel();
    let in_flight_samples = sampler.await.unwrap_or_default();
    records.sort_unstable_by_key(|r| r.index);

    let cancelled = cancel.is_cancelled();
    let stop_reason = if cancelled {
        StopReason::Cancelled
    } else if duration_hit.is_cancelled() {
        StopReason::Duration
    } else if offsets_ran_out {
        StopReason::OffsetsExhausted
    } else {
        StopReason::RequestCount
    };
    let send_lateness = shared.lateness.summary();
    let profile_started_ns = *shared.profile_start.borrow();
    Ok(RunResult {
        records,
        epoch_wall,
        profile_started_ns,
        finished_ns: clock.now_ns(),
        in_flight_samples,
        send_lateness,
        cancelled,
        stop_reason,
    })
}

/// Stops the run on cancel, or `duration` after the first profile request (then aborts what is
/// still in flight after `grace`).
async fn control(
    shared: Arc<Shared>,
    cancel: CancelToken,
    duration: Option<Duration>,
    grace: Duration,
    duration_hit: CancelToken,
) {
    let timed = async {
        let Some(duration) = duration else {
            return std::future::pending::<()>().await;
        };
        let mut rx = shared.profile_start.subscribe();
        let seen = rx.wait_for(Option::is_some).await.map(|v| v.unwrap_or(0));
        let Ok(start) = seen else {
            return std::future::pending::<()>().await;
        };
        tokio::time::sleep_until(shared.clock.instant_at(start) + duration).await;
        duration_hit.cancel();
        shared.stop.cancel();
        tokio::time::sleep(grace).await;
    };
    tokio::select! {
        _ = cancel.cancelled() => {}
        _ = timed => {}
    }
    shared.stop.cancel();
    shared.abort.cancel();
}

async fn closed_loop(shared: &Arc<Shared>, concurrency: u32) -> Vec<RequestRecord> {
    let mut set = JoinSet::new();
    let workers = u64::from(concurrency).min(shared.total);
    for _ in 0..workers {
        set.spawn(Arc::clone(shared).closed_worker());
    }
    let kept = match shared.sink {
        RecordSink::Keep => shared.total.min(1 << 20),
        RecordSink::Stream(_) => 0,
    };
    let mut records = Vec::with_capacity(usize::try_from(kept).unwrap_or(0));
    while let Some(joined) = set.join_next().await {
        records.extend(unwrap_task(joined).unwrap_or_default());
    }
    records
}

/// Returns the records and whether the offsets ran out before the planned requests did.
async fn open_loop(
    shared: &Arc<Shared>,
    offsets: Box<dyn Iterator<Item = Nanos> + Send>,
    max_concurrency: Option<u32>,
) -> (Vec<RequestRecord>, bool) {
    let slots = max_concurrency.map(|c| Arc::new(Semaphore::new(c as usize)));
    let mut t0 = shared.clock.now_ns();
    let mut set = JoinSet::new();
    let mut records = Vec::new();
    let mut offsets = offsets;
    let mut index: u64 = 0;
    let mut ran_out = false;
    while index < shared.total {
        let Some(offset) = offsets.next() else {
            ran_out = true;
            break;
        };
        if index == shared.warmup && index > 0 && !shared.warmup_drained.is_cancelled() {
            // The profile phase's schedule restarts once warmup has drained: its first request
            // is due at once and the rest keep their spacing.
            if !shared.wait_for_warmup().await {
                break;
            }
            t0 = shared.clock.now_ns().saturating_sub(offset);
        }
        let scheduled = t0.saturating_add(offset);
        tokio::select! {
            biased;
            _ = shared.stop.cancelled() => break,
            _ = tokio::time::sleep_until(shared.clock.instant_at(scheduled)) => {}
        }
        let permit = match &slots {
            None => None,
            Some(sem) => tokio::select! {
                biased;
                _ = shared.stop.cancelled() => break,
                p = Arc::clone(sem).acquire_owned() => p.ok(),
            },
        };
        shared.note_issue(index);
        let task_shared = Arc::clone(shared);
        let this = index;
        set.spawn(async move {
            let _slot = permit;
            let planned = task_shared.source.planned(this);
            let mut conn = task_shared.idle.take();
            let record = task_shared
                .requester
                .execute(
                    planned,
                    task_shared.phase_of(this),
                    Some(scheduled),
                    &task_shared.abort,
                    &mut conn,
                )
                .await;
            task_shared.note_finished(this);
            if let Some(conn) = conn {
                task_shared.idle.put(conn);
            }
            task_shared.deliver(record)
        });
        // Reap finished requests as we go so their tasks' memory is released.
        while let Some(joined) = set.try_join_next() {
            records.extend(unwrap_task(joined).flatten());
        }
        index += 1;
    }
    while let Some(joined) = set.join_next().await {
        records.extend(unwrap_task(joined).flatten());
    }
    (records, ran_out)
}

/// A request task cannot fail (failures are records); a panic is a bug and is re-raised. Tasks
/// are never aborted, so the cancelled case does not occur; it yields nothing.
fn unwrap_task<T>(joined: Result<T, JoinError>) -> Option<T> {
    match joined {
        Ok(v) => Some(v),
        Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
        Err(_) => None,
    }
}

async fn sample_in_flight(
    progress: Arc<Progress>,
    clock: Clock,
    every: Duration,
    done: CancelToken,
) -> Vec<(Nanos, u32)> {
    let mut ticks = tokio::time::interval(every);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let mut out = Vec::new();
    loop {
        tokio::select! {
            _ = done.cancelled() => break,
            _ = ticks.tick() => out.push((clock.now_ns(), progress.in_flight())),
        }
    }
    out.push((clock.now_ns(), progress.in_flight()));
    out
}
