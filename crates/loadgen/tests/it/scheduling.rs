//! Closed and open loop: concurrency held exactly, sends on schedule, warmup tagged, duration
//! and cancellation bounded.

use crate::server::{start, Behavior};
use crate::{run_plan, run_with, Src};
use infergate_loadgen::{CancelToken, LoadPlan, StopReason, Target};
use infergate_model::{Arrivals, FailureKind, LoadMode, Phase};
use std::sync::atomic::Ordering::SeqCst;
use std::time::Duration;

const MS: u64 = 1_000_000;

fn stream(ttft_ms: u64, tokens: u32) -> Behavior {
    Behavior::Stream {
        ttft: Duration::from_millis(ttft_ms),
        itl: Duration::from_millis(1),
        tokens,
        usage: true,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn closed_loop_keeps_exactly_c_in_flight() {
    let s = start(stream(20, 5), &[]);
    let c = 8;
    let r = run_plan(&s.url(), Src::chat(true), LoadPlan::closed(c, 40)).await;
    assert_eq!(s.stats.max_concurrent.load(SeqCst), c);
    assert_eq!(s.stats.requests.load(SeqCst), 40);
    assert_eq!(
        s.stats.connections.load(SeqCst),
        u64::from(c),
        "connections are reused"
    );
    let idx: Vec<u64> = r.records.iter().map(|r| r.index).collect();
    assert_eq!(idx, (0..40).collect::<Vec<_>>());
    assert!(r
        .records
        .iter()
        .all(|r| r.is_success() && r.scheduled_ns.is_none()));
    assert_eq!(r.stop_reason, StopReason::RequestCount);
    assert!(r.send_lateness.is_none());
    let peak = r.in_flight_samples.iter().map(|s| s.1).max().unwrap_or(0);
    assert!(peak <= c);
    assert_eq!(r.in_flight_samples.last().map(|s| s.1), Some(0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn warmup_requests_come_first_and_are_tagged() {
    let s = start(stream(1, 2), &[]);
    let mut plan = LoadPlan::closed(2, 6);
    plan.warmup_count = 4;
    let r = run_plan(&s.url(), Src::chat(true), plan).await;
    assert_eq!(r.records.len(), 10);
    for rec in &r.records {
        let want = if rec.index < 4 {
            Phase::Warmup
        } else {
            Phase::Profile
        };
        assert_eq!(rec.phase, want, "index {}", rec.index);
    }
    let first_profile_send = r.records[4..].iter().map(|r| r.send_ns).min().unwrap();
    let started = r.profile_started_ns.expect("profile started");
    assert!(started <= first_profile_send);
    assert!(r.records[..4].iter().all(|w| w.send_ns <= started));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn profile_phase_waits_for_every_warmup_response_like_aiperf() {
    let s = start(stream(20, 4), &[]);
    let mut plan = LoadPlan::closed(3, 6);
    plan.warmup_count = 5;
    let r = run_plan(&s.url(), Src::chat(true), plan).await;
    let last_warmup_end = r.records[..5].iter().map(|w| w.end_ns).max().unwrap();
    let first_profile_send = r.records[5..].iter().map(|p| p.send_ns).min().unwrap();
    assert!(
        first_profile_send >= last_warmup_end,
        "profile request sent at {first_profile_send} before warmup drained at {last_warmup_end}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_drain_profile_requests_overlap_warmup() {
    let s = start(stream(20, 4), &[]);
    let mut plan = LoadPlan::closed(3, 6);
    plan.warmup_count = 5;
    plan.drain_warmup = false;
    let r = run_plan(&s.url(), Src::chat(true), plan).await;
    let last_warmup_end = r.records[..5].iter().map(|w| w.end_ns).max().unwrap();
    let first_profile_send = r.records[5..].iter().map(|p| p.send_ns).min().unwrap();
    assert!(first_profile_send < last_warmup_end);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn duration_stops_issuing_and_lets_in_flight_finish() {
    let s = start(stream(10, 3), &[]);
    let mut plan = LoadPlan::closed(2, 1);
    plan.request_count = None;
    plan.duration = Some(Duration::from_millis(300));
    let r = run_plan(&s.url(), Src::chat(true), plan).await;
    assert_eq!(r.stop_reason, StopReason::Duration);
    let start = r.profile_started_ns.unwrap();
    assert!(r.records.len() >= 4, "{}", r.records.len());
    assert!(
        r.records.iter().all(|x| x.is_success()),
        "grace let them finish"
    );
    assert!(r
        .records
        .iter()
        .all(|x| x.send_ns <= start + 300 * MS + 5 * MS));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn duration_grace_is_bounded() {
    let s = start(Behavior::NeverAnswer, &[]);
    let mut plan = LoadPlan::closed(3, 1);
    plan.request_count = None;
    plan.duration = Some(Duration::from_millis(100));
    plan.drain_grace = Duration::from_millis(100);
    let r = run_plan(&s.url(), Src::chat(true), plan).await;
    assert_eq!(r.records.len(), 3);
    assert!(r
        .records
        .iter()
        .all(|x| x.failure.as_ref().map(|f| f.kind) == Some(FailureKind::Cancelled)));
    assert!(r.finished_ns < 2_000 * MS, "{}", r.finished_ns);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancel_stops_the_run_and_marks_in_flight_cancelled() {
    let s = start(Behavior::NeverAnswer, &[]);
    let target = Target::parse(&s.url(), &[], None).unwrap();
    let cancel = CancelToken::new();
    let run = tokio::spawn(run_with(
        target,
        Src::chat(true),
        LoadPlan::closed(3, 100),
        cancel.clone(),
    ));
    s.wait_for_requests(3).await;
    cancel.cancel();
    let r = tokio::time::timeout(Duration::from_secs(5), run)
        .await
        .expect("cancel is bounded")
        .unwrap();
    assert!(r.cancelled);
    assert_eq!(r.stop_reason, StopReason::Cancelled);
    assert_eq!(r.records.len(), 3);
    assert!(r
        .records
        .iter()
        .all(|x| x.failure.as_ref().map(|f| f.kind) == Some(FailureKind::Cancelled)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_closing_connections_is_not_a_failure() {
    let s = start(Behavior::StreamThenClose { tokens: 3 }, &[]);
    let r = run_plan(&s.url(), Src::chat(true), LoadPlan::closed(2, 12)).await;
    assert!(
        r.records.iter().all(|x| x.is_success()),
        "{:?}",
        r.records.iter().find_map(|x| x.failure.as_ref())
    );
    assert_eq!(
        s.stats.connections.load(SeqCst),
        12,
        "a new connection per request"
    );
}

fn open_mode(rate: f64, arrivals: Arrivals, cap: Option<u32>) -> LoadMode {
    LoadMode::Open {
        rate,
        arrivals,
        max_concurrency: cap,
    }
}

/// Check scheduled times equal `t0 + offsets`, no request is sent early, and lateness is small:
/// the median under `median_late` (a systematic delay fails), the worst under 250 ms (a CPU-starved
/// CI machine can deschedule a thread for tens of milliseconds).
fn assert_on_schedule(r: &infergate_loadgen::RunResult, offsets: &[u64], median_late: u64) {
    assert_eq!(r.records.len(), offsets.len());
    let t0 = r.records[0].scheduled_ns.unwrap() - offsets[0];
    let mut lateness = Vec::new();
    for (rec, off) in r.records.iter().zip(offsets) {
        assert!(rec.is_success(), "{:?}", rec.failure);
        assert_eq!(rec.scheduled_ns, Some(t0 + off));
        assert!(rec.send_ns >= t0 + off, "never early");
        lateness.push(rec.send_ns - (t0 + off));
    }
    lateness.sort_unstable();
    let median = lateness[lateness.len() / 2];
    assert!(
        median < median_late,
        "median lateness {median} ns: {lateness:?}"
    );
    let lat = r.send_lateness.expect("open loop summary");
    assert_eq!(lat.requests, offsets.len() as u64);
    assert_eq!(lat.max_ns, *lateness.last().unwrap());
    assert!(lat.max_ns < 250 * MS, "{lat:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn open_loop_constant_rate_sends_on_schedule() {
    let s = start(stream(1, 2), &[]);
    let offsets: Vec<u64> = (0..20).map(|i| i * 10 * MS).collect();
    let plan = LoadPlan::open(
        open_mode(100.0, Arrivals::Constant, None),
        20,
        Box::new(offsets.clone().into_iter()),
    );
    let r = run_plan(&s.url(), Src::chat(true), plan).await;
    assert_on_schedule(&r, &offsets, 5 * MS);
    // Each request ends long before the next is due: idle connections are reused.
    assert!(
        s.stats.connections.load(SeqCst) <= 5,
        "{:?}",
        s.stats.connections
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn open_loop_poisson_offsets_are_honoured() {
    let s = start(stream(1, 2), &[]);
    // Exponential gaps with mean 8 ms from a fixed LCG (the workload computes real ones).
    let mut x: u64 = 42;
    let mut t = 0u64;
    let offsets: Vec<u64> = (0..25)
        .map(|_| {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let u = ((x >> 11) as f64 + 0.5) / (1u64 << 53) as f64;
            let at = t;
            t += (-u.ln() * 8.0 * MS as f64) as u64;
            at
        })
        .collect();
    let plan = LoadPlan::open(
        open_mode(125.0, Arrivals::Poisson, None),
        25,
        Box::new(offsets.clone().into_iter()),
    );
    let r = run_plan(&s.url(), Src::chat(true), plan).await;
    assert_on_schedule(&r, &offsets, 5 * MS);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn open_loop_cap_limits_concurrency_and_lateness_is_recorded() {
    let s = start(stream(50, 2), &[]);
    let offsets: Vec<u64> = (0..8).map(|i| i * 5 * MS).collect();
    let mut plan = LoadPlan::open(
        open_mode(200.0, Arrivals::Constant, Some(2)),
        6,
        Box::new(offsets.into_iter()),
    );
    plan.warmup_count = 2;
    let r = run_plan(&s.url(), Src::chat(true), plan).await;
    assert_eq!(r.records.len(), 8);
    assert_eq!(s.stats.max_concurrent.load(SeqCst), 2);
    let lat = r.send_lateness.unwrap();
    assert!(lat.max_ns > 50 * MS, "queued behind the cap: {lat:?}");
    assert!(lat.late_over_10ms >= 4, "{lat:?}");
    assert_eq!(
        r.records
            .iter()
            .filter(|x| x.phase == Phase::Warmup)
            .count(),
        2
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn open_loop_stops_when_offsets_run_out() {
    let s = start(stream(1, 2), &[]);
    let plan = LoadPlan::open(
        open_mode(100.0, Arrivals::Constant, None),
        50,
        Box::new([0, MS, 2 * MS].into_iter()),
    );
    let r = run_plan(&s.url(), Src::chat(true), plan).await;
    assert_eq!(r.records.len(), 3);
    assert_eq!(r.stop_reason, StopReason::OffsetsExhausted);
}

#[test]
fn bad_plans_are_rejected_naming_the_flag() {
    let e = LoadPlan::closed(0, 10).validate().unwrap_err().to_string();
    assert!(
        e.contains("--concurrency") && e.contains("1..=100000"),
        "{e}"
    );
    let e = LoadPlan::closed(1, 0).validate().unwrap_err().to_string();
    assert!(e.contains("--request-count"), "{e}");
    let mut p = LoadPlan::closed(1, 1);
    p.request_count = None;
    assert!(p.validate().unwrap_err().to_string().contains("--duration"));
    let p = LoadPlan::open(
        open_mode(f64::NAN, Arrivals::Poisson, None),
        1,
        Box::new(std::iter::empty()),
    );
    assert!(p
        .validate()
        .unwrap_err()
        .to_string()
        .contains("--request-rate"));
}

/// A streamed run hands every record over (completion order) and keeps none; the same run kept
/// in memory has the same requests, and open-loop lateness is still summarised.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streamed_records_are_handed_over_as_they_finish_and_not_kept() {
    let s = start(stream(2, 3), &[]);
    for open in [false, true] {
        let (tx, rx) = std::sync::mpsc::channel();
        let mut plan = if open {
            let offsets: Vec<u64> = (0..30).map(|i| i * MS).collect();
            LoadPlan::open(
                open_mode(1000.0, Arrivals::Constant, Some(4)),
                26,
                Box::new(offsets.into_iter()),
            )
        } else {
            LoadPlan::closed(4, 26)
        };
        plan.warmup_count = 4;
        plan.records = infergate_loadgen::RecordSink::Stream(tx);
        let r = run_plan(&s.url(), Src::chat(true), plan).await;
        assert!(r.records.is_empty(), "open={open}: nothing kept");
        let mut got: Vec<_> = rx.try_iter().collect();
        got.sort_by_key(|r| r.index);
        let idx: Vec<u64> = got.iter().map(|r| r.index).collect();
        assert_eq!(idx, (0..30).collect::<Vec<_>>(), "open={open}");
        assert!(got
            .iter()
            .all(|r| r.is_success() && r.content_ns.len() == 3));
        assert_eq!(got.iter().filter(|r| r.phase == Phase::Warmup).count(), 4);
        match r.send_lateness {
            Some(l) => assert!(open && l.requests == 30, "{l:?}"),
            None => assert!(!open),
        }
    }
}
