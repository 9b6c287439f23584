//! Each failure class, produced by the server behaviour that causes it in the field.

use crate::server::{closed_port_url, start, Behavior};
use crate::{one, run_with, Src};
use infergate_loadgen::{CancelToken, LoadPlan, Secret, Target};
use infergate_model::FailureKind;
use std::time::Duration;

fn raw(body: &str) -> Behavior {
    Behavior::RawSse {
        body: body.to_string(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connection_refused() {
    let r = one(&closed_port_url(), true).await;
    let f = r.failure.expect("failed");
    assert_eq!(f.kind, FailureKind::ConnectRefused, "{f:?}");
    assert_eq!(f.status, None);
    assert!(r.content_ns.is_empty() && r.headers_ns.is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connection_closed_before_answer_is_a_connect_error() {
    let s = start(Behavior::CloseImmediately, &[]);
    let f = one(&s.url(), true).await.failure.expect("failed");
    assert_eq!(f.kind, FailureKind::Connect, "{f:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_status_keeps_code_and_body_start() {
    for code in [500u16, 429] {
        let s = start(
            Behavior::Status {
                code,
                body: format!("{{\"error\":\"busy {code}\"}}"),
            },
            &[],
        );
        let r = one(&s.url(), true).await;
        let f = r.failure.expect("failed");
        assert_eq!(f.kind, FailureKind::HttpStatus);
        assert_eq!(f.status, Some(code));
        assert!(f.detail.contains(&format!("busy {code}")), "{f:?}");
        assert!(r.headers_ns.is_some());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connection_dropped_mid_stream() {
    let s = start(Behavior::DropMidStream { events: 2 }, &[]);
    let r = one(&s.url(), true).await;
    let f = r.failure.expect("failed");
    assert_eq!(f.kind, FailureKind::StreamEndedEarly, "{f:?}");
    assert_eq!(f.status, Some(200));
    assert_eq!(r.content_ns.len(), 2, "what arrived is kept");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clean_end_without_done_or_finish_reason() {
    let s = start(
        raw("data: {\"choices\":[{\"delta\":{\"content\":\"a\"}}]}\n\n"),
        &[],
    );
    let f = one(&s.url(), true).await.failure.expect("failed");
    assert_eq!(f.kind, FailureKind::StreamEndedEarly);
    assert!(f.detail.contains("[DONE]"), "{f:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stream_cut_mid_event() {
    let s = start(
        raw("data: {\"choices\":[{\"delta\":{\"content\":\"a\"}}]}\n\ndata: {\"choi"),
        &[],
    );
    let f = one(&s.url(), true).await.failure.expect("failed");
    assert_eq!(f.kind, FailureKind::StreamEndedEarly);
    assert!(f.detail.contains("middle of an event"), "{f:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_sse_line() {
    let s = start(
        raw("{\"choices\":[{\"delta\":{\"content\":\"a\"}}]}\n\n"),
        &[],
    );
    let f = one(&s.url(), true).await.failure.expect("failed");
    assert_eq!(f.kind, FailureKind::MalformedSse, "{f:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_json_event() {
    let s = start(raw("data: {\"choices\":[{\"delta\n\n"), &[]);
    let f = one(&s.url(), true).await.failure.expect("failed");
    assert_eq!(f.kind, FailureKind::MalformedJson, "{f:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn error_object_mid_stream() {
    let s = start(
        raw("data: {\"choices\":[{\"delta\":{\"content\":\"a\"}}]}\n\ndata: {\"error\":{\"message\":\"KV cache exhausted\",\"code\":500}}\n\n"),
        &[],
    );
    let f = one(&s.url(), true).await.failure.expect("failed");
    assert_eq!(f.kind, FailureKind::MalformedJson);
    assert!(f.detail.contains("KV cache exhausted"), "{f:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn error_object_as_json_body_of_a_streaming_request() {
    let s = start(
        Behavior::Json {
            body: "{\"error\":{\"message\":\"no such model\"}}".into(),
        },
        &[],
    );
    let f = one(&s.url(), true).await.failure.expect("failed");
    assert_eq!(f.kind, FailureKind::MalformedJson);
    assert!(f.detail.contains("no such model"), "{f:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn empty_output() {
    let s = start(
        raw("data: {\"choices\":[{\"delta\":{\"role\":\"assistant\",\"content\":\"\"}}]}\n\ndata: {\"choices\":[{\"delta\":{},\"finish_reason\":\"stop\"}]}\n\ndata: [DONE]\n\n"),
        &[],
    );
    let f = one(&s.url(), true).await.failure.expect("failed");
    assert_eq!(f.kind, FailureKind::EmptyOutput);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn timeout_when_the_server_never_answers() {
    let s = start(Behavior::NeverAnswer, &[]);
    let mut plan = LoadPlan::closed(1, 1);
    plan.request_timeout = Duration::from_millis(200);
    let target = Target::parse(&s.url(), &[], None).unwrap();
    let r = run_with(target, Src::chat(true), plan, CancelToken::new()).await;
    let rec = &r.records[0];
    let f = rec.failure.as_ref().expect("failed");
    assert_eq!(f.kind, FailureKind::Timeout);
    let took = rec.end_ns - rec.send_ns;
    assert!((200_000_000..2_000_000_000).contains(&took), "{took} ns");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_key_is_sent_but_never_recorded_or_printed() {
    let key = "sk-test-0123456789abcdef";
    let s = start(Behavior::EchoAuth401, &[]);
    let target = Target::parse(&s.url(), &[], Some(Secret::new(key))).unwrap();
    assert!(!format!("{target:?}").contains(key));
    let r = run_with(
        target,
        Src::chat(true),
        LoadPlan::closed(1, 2),
        CancelToken::new(),
    )
    .await;
    let seen = s.stats.authorization.lock().unwrap().clone();
    assert_eq!(seen, vec![format!("Bearer {key}"); 2]);
    for rec in &r.records {
        let f = rec.failure.as_ref().expect("401 fails");
        assert_eq!((f.kind, f.status), (FailureKind::HttpStatus, Some(401)));
        assert!(
            f.detail.contains("bad key Bearer ***"),
            "echo is redacted: {f:?}"
        );
        let json = serde_json::to_string(rec).unwrap();
        assert!(!json.contains(key) && !format!("{rec:?}").contains(key));
    }
    assert!(!format!("{r:?}").contains(key));
}
