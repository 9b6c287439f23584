//! The readiness probe against servers in each state, with small timeouts.

use crate::server::{closed_port_url, start, Behavior};
use infergate_loadgen::{
    probe, AttemptResult, CancelToken, ProbeConfig, ProbeReport, StuckStage, Target,
};
use std::time::Duration;

fn config(attempt_ms: u64, interval_ms: u64, window_ms: u64) -> ProbeConfig {
    let mut c = ProbeConfig::new("Qwen/Qwen3-8B");
    c.attempt_timeout = Duration::from_millis(attempt_ms);
    c.interval = Duration::from_millis(interval_ms);
    c.window = Duration::from_millis(window_ms);
    c
}

async fn run_probe(url: &str, c: &ProbeConfig) -> ProbeReport {
    let t = Target::parse(url, &[], None).unwrap();
    tokio::time::timeout(Duration::from_secs(20), probe(&t, c, &CancelToken::new()))
        .await
        .expect("probe is bounded by its window")
        .expect("valid config")
}

fn chat(content: &str) -> Behavior {
    Behavior::Json {
        body: format!(
            r#"{{"choices":[{{"index":0,"message":{{"role":"assistant","content":"{content}"}},"finish_reason":"length"}}]}}"#
        ),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ready_server_is_ready_at_once() {
    let s = start(chat("Hello"), &["Qwen/Qwen3-8B"]);
    let r = run_probe(&s.url(), &config(1000, 50, 5000)).await;
    assert!(r.ready);
    assert_eq!(r.attempts.len(), 1);
    assert_eq!(r.attempts[0].result, AttemptResult::Ready);
    assert!(r.first_success_latency.is_some() && r.steady_latency.is_some());
    assert!(r.stuck_stage.is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cold_start_is_waited_through_and_reported_apart() {
    let s = start(
        Behavior::ColdStart {
            warm_after: Duration::from_millis(400),
        },
        &[],
    );
    let r = run_probe(&s.url(), &config(2000, 50, 5000)).await;
    assert!(r.ready, "{r:?}");
    let cold = r.first_success_latency.unwrap();
    let warm = r.steady_latency.unwrap();
    assert!(cold >= Duration::from_millis(300), "{cold:?}");
    assert!(warm < cold / 2, "warm {warm:?} vs cold {cold:?}");
    assert!(r.time_to_ready.unwrap() >= cold);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cold_start_longer_than_the_attempt_timeout_is_cut_off() {
    let s = start(
        Behavior::ColdStart {
            warm_after: Duration::from_secs(30),
        },
        &[],
    );
    let r = run_probe(&s.url(), &config(100, 20, 400)).await;
    assert!(!r.ready);
    assert!(r.attempts.len() >= 2, "{r:?}");
    assert_eq!(r.attempts[0].result, AttemptResult::TimedOut);
    assert_eq!(r.stuck_stage, Some(StuckStage::CutOffByAttemptTimeout));
    assert!(r.elapsed < Duration::from_secs(3));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nothing_listening() {
    let r = run_probe(&closed_port_url(), &config(100, 20, 150)).await;
    assert!(!r.ready);
    assert!(r.attempts.len() >= 2);
    assert_eq!(r.stuck_stage, Some(StuckStage::NothingListening));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_error_with_the_code() {
    let s = start(
        Behavior::Status {
            code: 503,
            body: "warming".into(),
        },
        &["Qwen/Qwen3-8B"],
    );
    let r = run_probe(&s.url(), &config(100, 20, 150)).await;
    assert!(!r.ready);
    assert_eq!(r.stuck_stage, Some(StuckStage::HttpError(503)));
    assert!(matches!(
        r.attempts[0].result,
        AttemptResult::HttpStatus {
            code: 503,
            model_listed: Some(true)
        }
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn model_not_listed() {
    let s = start(
        Behavior::Status {
            code: 404,
            body: "{\"error\":\"model not found\"}".into(),
        },
        &["other/model"],
    );
    let r = run_probe(&s.url(), &config(100, 20, 150)).await;
    assert_eq!(r.stuck_stage, Some(StuckStage::ModelNotListed));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn empty_content_or_oversized_body_is_not_ready() {
    let s = start(chat(""), &["Qwen/Qwen3-8B"]);
    let r = run_probe(&s.url(), &config(100, 20, 100)).await;
    assert!(
        matches!(r.stuck_stage, Some(StuckStage::BadResponse(_))),
        "{r:?}"
    );
    let s = start(chat(&"x".repeat(9000)), &["Qwen/Qwen3-8B"]);
    let r = run_probe(&s.url(), &config(100, 20, 100)).await;
    match r.stuck_stage {
        Some(StuckStage::BadResponse(reason)) => assert!(reason.contains("8192"), "{reason}"),
        other => panic!("{other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn window_is_a_hard_deadline_that_cuts_an_attempt() {
    let s = start(Behavior::NeverAnswer, &[]);
    let r = run_probe(&s.url(), &config(60_000, 20, 200)).await;
    assert!(!r.ready);
    assert_eq!(r.attempts.len(), 1);
    assert_eq!(r.attempts[0].result, AttemptResult::CutOffByWindow);
    assert_eq!(r.stuck_stage, Some(StuckStage::CutOffByAttemptTimeout));
    assert!(r.elapsed < Duration::from_secs(2), "{:?}", r.elapsed);
}
