//! Reported TTFT/ITL against a server that injects known delays (generous bounds: CI is noisy).

use crate::server::{start, Behavior};
use crate::{one, run_plan, Src};
use infergate_loadgen::LoadPlan;
use infergate_model::{Phase, Usage};
use std::time::Duration;

const MS: u64 = 1_000_000;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ttft_and_itl_match_the_injected_delays() {
    let (ttft, itl, tokens) = (40u64, 5u64, 20u32);
    let s = start(
        Behavior::Stream {
            ttft: Duration::from_millis(ttft),
            itl: Duration::from_millis(itl),
            tokens,
            usage: false,
        },
        &[],
    );
    let r = run_plan(&s.url(), Src::chat(true), LoadPlan::closed(4, 8)).await;
    assert_eq!(r.records.len(), 8);
    let (mut ttfts, mut itls) = (Vec::new(), Vec::new());
    for rec in &r.records {
        assert!(rec.is_success(), "{:?}", rec.failure);
        assert_eq!(rec.content_ns.len(), tokens as usize);
        let measured_ttft = rec.ttft_ns().unwrap();
        assert!(
            measured_ttft >= ttft * MS,
            "TTFT {measured_ttft} ns below the injected delay"
        );
        let latency = rec.latency_ns().unwrap();
        ttfts.push(measured_ttft);
        itls.push((latency - measured_ttft) / u64::from(tokens - 1));
        let headers = rec.headers_ns.unwrap();
        assert!(rec.send_ns <= headers && headers <= rec.content_ns[0]);
        assert!(rec.content_ns.windows(2).all(|w| w[0] <= w[1]));
        assert!(rec.end_ns >= *rec.content_ns.last().unwrap());
        assert_eq!(rec.client_output_tokens, tokens);
        assert_eq!(rec.usage, None);
        assert_eq!(rec.worker.as_deref(), Some("w7"));
        assert_eq!(rec.phase, Phase::Profile);
        assert_eq!((rec.input_tokens, rec.requested_output_tokens), (5, 16));
    }
    // Medians: a systematic error fails; one request descheduled on a busy CI machine does not.
    ttfts.sort_unstable();
    itls.sort_unstable();
    let (ttft_p50, itl_p50) = (ttfts[ttfts.len() / 2], itls[itls.len() / 2]);
    assert!(
        (ttft * MS..(ttft + 15) * MS).contains(&ttft_p50),
        "TTFT p50 {ttft_p50} ns vs {ttft} ms: {ttfts:?}"
    );
    assert!(
        (itl * MS - MS / 2..itl * MS + 2 * MS).contains(&itl_p50),
        "ITL p50 {itl_p50} ns vs {itl} ms: {itls:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn usage_chunk_is_parsed_and_not_content() {
    let s = start(
        Behavior::Stream {
            ttft: Duration::from_millis(1),
            itl: Duration::from_millis(1),
            tokens: 3,
            usage: true,
        },
        &[],
    );
    let rec = one(&s.url(), true).await;
    assert!(rec.is_success(), "{:?}", rec.failure);
    assert_eq!(
        rec.content_ns.len(),
        3,
        "usage-only and [DONE] are not content"
    );
    assert_eq!(
        rec.usage,
        Some(Usage {
            prompt_tokens: 11,
            completion_tokens: 3
        })
    );
    assert_eq!(rec.output_tokens(), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn non_streaming_has_one_content_time_at_body_end() {
    let s = start(
        Behavior::Json {
            body: r#"{"choices":[{"message":{"role":"assistant","content":"one two three"},"finish_reason":"stop"}],"usage":{"prompt_tokens":5,"completion_tokens":4}}"#.into(),
        },
        &[],
    );
    let rec = one(&s.url(), false).await;
    assert!(rec.is_success(), "{:?}", rec.failure);
    assert_eq!(rec.content_ns.len(), 1);
    assert_eq!(rec.client_output_tokens, 3);
    assert_eq!(rec.usage.map(|u| u.completion_tokens), Some(4));
    assert_eq!(rec.end_ns, rec.content_ns[0]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn host_names_are_resolved() {
    let s = start(
        Behavior::Stream {
            ttft: Duration::from_millis(1),
            itl: Duration::from_millis(1),
            tokens: 2,
            usage: false,
        },
        &[],
    );
    let url = format!("http://localhost:{}", s.addr.port());
    let r = run_plan(&url, Src::chat(true), LoadPlan::closed(4, 8)).await;
    assert!(
        r.records.iter().all(|x| x.is_success()),
        "{:?}",
        r.records[0].failure
    );
}
