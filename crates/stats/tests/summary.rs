//! The metric formulas on hand-computed records (times in ms, converted to ns).

use infergate_model::{Failure, FailureKind, Phase, RequestRecord, Usage};
use infergate_stats::{GoodputSlo, Summary, SummaryOptions};

const MS: u64 = 1_000_000;

fn rec(index: u64, send_ms: u64, content_ms: &[u64], end_ms: u64) -> RequestRecord {
    RequestRecord {
        index,
        phase: Phase::Profile,
        entry: index as u32,
        scheduled_ns: None,
        send_ns: send_ms * MS,
        headers_ns: Some(send_ms * MS + MS),
        content_ns: content_ms.iter().map(|t| t * MS).collect(),
        end_ns: end_ms * MS,
        input_tokens: 10,
        requested_output_tokens: content_ms.len() as u32,
        client_output_tokens: content_ms.len() as u32,
        usage: None,
        worker: None,
        failure: None,
    }
}

/// One warmup, three successes, two failures; every expected number below is worked out by hand.
fn records() -> Vec<RequestRecord> {
    let mut warm = rec(0, 0, &[10, 20], 25);
    warm.phase = Phase::Warmup;
    // TTFT 50, latency 80, ITL 30/3 = 10, TTST 10, gaps 10,10,10, OSL 4.
    let r1 = rec(1, 100, &[150, 160, 170, 180], 185);
    // OSL 5 from usage (client counted 3), asked for 8: TTFT 100, latency 190, ITL 90/4 = 22.5.
    let mut r2 = rec(2, 110, &[210, 240, 300], 305);
    r2.usage = Some(Usage {
        prompt_tokens: 12,
        completion_tokens: 5,
    });
    r2.input_tokens = 12;
    r2.requested_output_tokens = 8;
    // One token: TTFT = latency = 280, no ITL, no TTST.
    let r3 = rec(3, 120, &[400], 405);
    let mut r4 = rec(4, 130, &[], 135);
    r4.failure = Some(Failure::new(FailureKind::HttpStatus, Some(429), "busy"));
    let mut r5 = rec(5, 140, &[], 500);
    r5.failure = Some(Failure::new(
        FailureKind::Timeout,
        None,
        "no response in 360 ms",
    ));
    vec![warm, r1, r2, r3, r4, r5]
}

fn close(a: f64, b: f64) {
    assert!(
        (a - b).abs() <= 1e-9 * b.abs().max(1.0),
        "got {a}, want {b}"
    );
}

#[test]
fn latencies_throughput_duration_and_errors_by_hand() {
    let s = Summary::from_records(&records(), &SummaryOptions::default());
    assert_eq!(s.warmup_request_count, 1);
    assert_eq!(s.request_count, 3);
    assert_eq!(s.error_request_count, 2);
    assert_eq!(s.completed_request_count, 5);
    close(s.request_error_rate.unwrap(), 40.0);

    // Duration: first send of a successful profile request (100 ms) to its last content (400 ms).
    close(s.benchmark_duration_s.unwrap(), 0.3);
    assert_eq!((s.total_osl, s.total_isl), (10, 32));
    close(s.output_token_throughput.unwrap(), 10.0 / 0.3);
    close(s.request_throughput.unwrap(), 3.0 / 0.3);
    close(s.input_token_throughput.unwrap(), 32.0 / 0.3);
    close(s.total_token_throughput.unwrap(), 42.0 / 0.3);

    let ttft = s.time_to_first_token.as_ref().unwrap();
    assert_eq!(ttft.count, 3);
    assert_eq!((ttft.min, ttft.p50, ttft.max), (50.0, 100.0, 280.0));
    close(ttft.avg, 430.0 / 3.0);
    close(ttft.p99, 100.0 + 0.98 * 180.0); // h = 2 · 0.99 = 1.98
    let lat = s.request_latency.as_ref().unwrap();
    assert_eq!((lat.min, lat.p50, lat.max), (80.0, 190.0, 280.0));

    let itl = s.inter_token_latency.as_ref().unwrap();
    assert_eq!(itl.count, 2, "no ITL for a one-token response");
    assert_eq!((itl.min, itl.max), (10.0, 22.5));
    let per_user = s.output_token_throughput_per_user.as_ref().unwrap();
    close(per_user.max, 100.0);
    close(per_user.min, 1000.0 / 22.5);
    let ttst = s.time_to_second_token.as_ref().unwrap();
    assert_eq!((ttst.count, ttst.min, ttst.max), (2, 10.0, 30.0));
    let icl = s.inter_chunk_latency.as_ref().unwrap();
    assert_eq!((icl.count, icl.sum), (5, 120.0));
    let e2e = s.e2e_output_token_throughput.as_ref().unwrap();
    close(e2e.max, 50.0); // 4 tokens / 0.08 s
    let osl = s.output_sequence_length.as_ref().unwrap();
    assert_eq!((osl.min, osl.max, osl.sum), (1.0, 5.0, 10.0));

    assert_eq!(s.errors.by_kind[&FailureKind::HttpStatus], 1);
    assert_eq!(s.errors.by_kind[&FailureKind::Timeout], 1);
    assert_eq!(s.errors.by_status[&429], 1);
    assert_eq!(s.errors.groups.len(), 2);
    assert_eq!(s.errors.groups[0].count, 1);

    // r2 stopped short (5 < 8), is outside AIPerf's tolerance, and usage disagrees with the client.
    assert_eq!(s.osl_short_count, 1);
    assert_eq!(s.osl_mismatch_count, 1);
    assert_eq!(s.usage_reported_count, 1);
    assert_eq!(s.usage_completion_mismatch_count, 1);
    assert_eq!(s.usage_discrepancy_count, 1);

    // In flight: busy 85 + 195 + 285 + 5 + 360 = 930 ms over 100..500 ms; 4 at once at 130 ms.
    let c = s.concurrency.as_ref().unwrap();
    close(c.avg, 930.0 / 400.0);
    assert_eq!((c.min, c.max), (1, 4));
    // Time at each level: 1 for 105 ms, 2 for 110, 3 for 135, 4 for 50 → E[x²] = 2560 / 400.
    close(c.std, (6.4f64 - 2.325 * 2.325).sqrt());
    // Time-weighted percentiles: ≤1 for 26.25 % of the window, ≤2 for 53.75 %, ≤3 for 87.5 %.
    assert_eq!((c.p50, c.p90, c.p95, c.p99), (2.0, 4.0, 4.0, 4.0));
}

#[test]
fn goodput_counts_requests_meeting_every_slo() {
    let opts = SummaryOptions {
        goodput: vec![
            GoodputSlo::parse("time_to_first_token:100").unwrap(),
            GoodputSlo::parse("inter_token_latency:20").unwrap(),
        ],
        ..SummaryOptions::default()
    };
    let s = Summary::from_records(&records(), &opts);
    let g = s.goodput.unwrap();
    // r1 meets both; r2's ITL is 22.5; r3 has no ITL; failures are never good.
    assert_eq!(g.good_request_count, 1);
    close(g.goodput.unwrap(), 1.0 / 0.3);
    close(g.good_request_fraction, 0.2);
}

#[test]
fn throughput_window_override_divides_by_the_given_window() {
    let opts = SummaryOptions {
        throughput_window_ns: Some((0, 500 * MS)),
        ..SummaryOptions::default()
    };
    let s = Summary::from_records(&records(), &opts);
    close(s.benchmark_duration_s.unwrap(), 0.3);
    close(s.throughput_window_s.unwrap(), 0.5);
    close(s.output_token_throughput.unwrap(), 20.0);
}

#[test]
fn non_streaming_has_latency_but_no_token_timing() {
    let opts = SummaryOptions {
        streaming: false,
        ..SummaryOptions::default()
    };
    let s = Summary::from_records(&records(), &opts);
    assert!(s.time_to_first_token.is_none());
    assert!(s.inter_token_latency.is_none());
    assert!(s.inter_chunk_latency.is_none());
    assert_eq!(s.request_latency.as_ref().unwrap().count, 3);
    close(s.output_token_throughput.unwrap(), 10.0 / 0.3);
}

#[test]
fn all_failed_or_empty_runs_have_no_throughput_and_do_not_panic() {
    let failed: Vec<_> = records()
        .into_iter()
        .filter(|r| r.failure.is_some())
        .collect();
    let s = Summary::from_records(&failed, &SummaryOptions::default());
    assert_eq!(s.request_count, 0);
    close(s.request_error_rate.unwrap(), 100.0);
    assert!(s.output_token_throughput.is_none());
    assert!(s.time_to_first_token.is_none());

    let s = Summary::from_records(&[], &SummaryOptions::default());
    assert_eq!(s.completed_request_count, 0);
    assert!(s.request_error_rate.is_none());
    assert!(s.concurrency.is_none());
}

#[test]
fn summary_round_trips_through_json() {
    let opts = SummaryOptions {
        goodput: vec![GoodputSlo::parse("request_latency:200").unwrap()],
        ..SummaryOptions::default()
    };
    let s = Summary::from_records(&records(), &opts);
    let text = serde_json::to_string(&s).unwrap();
    let back: Summary = serde_json::from_str(&text).unwrap();
    assert_eq!(s, back);
    assert!(text.contains("\"http_status\":1"), "{text}");
}

#[test]
fn summary_carries_confidence_intervals() {
    // 200 requests, one every 10 ms, TTFT i ms: enough for p50/p90 intervals and 20 slices.
    let recs: Vec<_> = (0..200u64)
        .map(|i| rec(i, i * 10, &[i * 10 + 1 + i, i * 10 + 5 + i], i * 10 + 6 + i))
        .collect();
    let s = Summary::from_records(&recs, &SummaryOptions::default());
    let c = s.confidence.as_ref().unwrap();
    assert_eq!(c.level, 0.95);
    let ttft = &c.percentiles["time_to_first_token"];
    let p50 = ttft.iter().find(|q| q.p == 50.0).unwrap();
    let (lo, hi) = (p50.lower.unwrap(), p50.upper.unwrap());
    assert!(lo <= p50.estimate && p50.estimate <= hi, "{p50:?}");
    assert!(p50.coverage >= 0.95);
    let tput = c.output_token_throughput.as_ref().unwrap();
    close(tput.mean, s.output_token_throughput.unwrap());
    assert!(tput.lower < tput.mean && tput.mean < tput.upper);
    assert_eq!(tput.batches, 20);
}

/// A streamed run summarises records in completion order: any order gives the same summary
/// (up to floating-point summation order).
#[test]
fn the_summary_does_not_depend_on_record_order() {
    let mut many = Vec::new();
    for i in 0..300u64 {
        let send = i * 7;
        let gap = 3 + i % 5;
        let content: Vec<u64> = (0..6).map(|k| send + 40 + i % 13 + k * gap).collect();
        let end = content.last().unwrap() + 1;
        let mut r = rec(i, send, &content, end);
        if i % 37 == 0 {
            r.content_ns.clear();
            r.failure = Some(Failure::new(FailureKind::Timeout, None, "slow"));
        }
        many.push(r);
    }
    let opts = SummaryOptions::default();
    let in_order = Summary::from_records(&many, &opts);
    many.reverse();
    many.rotate_left(111);
    let shuffled = Summary::from_records(&many, &opts);
    assert_eq!(in_order.request_count, shuffled.request_count);
    assert_eq!(in_order.errors.by_kind, shuffled.errors.by_kind);
    assert_eq!(in_order.time_to_first_token, shuffled.time_to_first_token);
    assert_eq!(in_order.inter_token_latency, shuffled.inter_token_latency);
    let (a, b) = (
        in_order.inter_chunk_latency.unwrap(),
        shuffled.inter_chunk_latency.unwrap(),
    );
    assert_eq!(a.percentiles(), b.percentiles());
    close(a.std, b.std);
    assert_eq!(in_order.concurrency, shuffled.concurrency);
    let (a, b) = (
        in_order
            .confidence
            .unwrap()
            .output_token_throughput
            .unwrap(),
        shuffled
            .confidence
            .unwrap()
            .output_token_throughput
            .unwrap(),
    );
    close(a.lower, b.lower);
    close(a.upper, b.upper);
}
