//! The export's field names and units against a real AIPerf 0.13 export
//! (tests/data/aiperf-profile-export.sample.json, copied from shared/reference).

use infergate_model::{Arrivals, Failure, FailureKind, LoadMode, Phase, RequestRecord, Usage};
use infergate_stats::{
    aiperf_export, record_jsonl_line, records_csv, ExportContext, GoodputSlo, Summary,
    SummaryOptions,
};
use serde_json::Value;

const SAMPLE: &str = include_str!("data/aiperf-profile-export.sample.json");
const MS: u64 = 1_000_000;

fn records() -> Vec<RequestRecord> {
    let mut v: Vec<RequestRecord> = (0..50u64)
        .map(|i| {
            let send = i * 20 * MS;
            RequestRecord {
                index: i,
                phase: if i < 2 { Phase::Warmup } else { Phase::Profile },
                entry: (i % 7) as u32,
                scheduled_ns: None,
                send_ns: send,
                headers_ns: Some(send + 5 * MS),
                content_ns: (0..8).map(|k| send + (50 + i + 5 * k) * MS).collect(),
                end_ns: send + (50 + i + 40) * MS,
                input_tokens: 128,
                requested_output_tokens: 8,
                client_output_tokens: 8,
                usage: Some(Usage {
                    prompt_tokens: 140,
                    completion_tokens: 8,
                }),
                worker: Some(format!("{}", i % 3)),
                failure: None,
            }
        })
        .collect();
    v[10].failure = Some(Failure::new(
        FailureKind::HttpStatus,
        Some(503),
        "overloaded",
    ));
    v[10].content_ns.clear();
    v
}

fn context() -> ExportContext {
    ExportContext {
        benchmark_id: "abc123".into(),
        model: "mock-model".into(),
        urls: vec!["http://127.0.0.1:8000".into()],
        endpoint_type: "chat".into(),
        streaming: true,
        random_seed: 100,
        dataset_entries: 100,
        isl_mean: 128.0,
        osl_mean: 8.0,
        load: Some(LoadMode::Closed { concurrency: 4 }),
        request_count: Some(48),
        warmup_request_count: 2,
        cli_command: "infergate bench --url http://127.0.0.1:8000 --model mock-model".into(),
        start_time: "2026-11-29T02:16:06.493289".into(),
        end_time: "2026-11-29T02:16:07.493289".into(),
        is_complete: true,
        ..ExportContext::default()
    }
}

fn export_value() -> Value {
    let opts = SummaryOptions {
        goodput: vec![GoodputSlo::parse("time_to_first_token:80").unwrap()],
        ..SummaryOptions::default()
    };
    let s = Summary::from_records(&records(), &opts);
    let text = serde_json::to_string_pretty(&aiperf_export(&s, &context())).unwrap();
    serde_json::from_str(&text).unwrap()
}

#[test]
fn every_metric_we_share_with_aiperf_has_its_unit_and_keys() {
    let sample: Value = serde_json::from_str(SAMPLE).unwrap();
    let ours = export_value();
    let ours = ours.as_object().unwrap();
    let sample = sample.as_object().unwrap();
    let mut shared = 0;
    for (key, block) in ours {
        let Some(unit) = block.get("unit") else {
            continue;
        };
        let Some(theirs) = sample.get(key) else {
            continue;
        };
        shared += 1;
        assert_eq!(Some(unit), theirs.get("unit"), "unit of {key}");
        // Every statistic AIPerf writes for this metric, we write too, except the time-weighted
        // percentiles of effective_concurrency (we report its avg, min, max and std only).
        for stat in theirs.as_object().unwrap().keys() {
            if key == "effective_concurrency" && stat.starts_with('p') {
                continue;
            }
            assert!(block.get(stat).is_some(), "{key}.{stat} missing");
        }
    }
    assert!(shared >= 20, "only {shared} metrics in common with AIPerf");
    for key in [
        "output_token_throughput",
        "time_to_first_token",
        "inter_token_latency",
        "request_latency",
        "request_throughput",
        "output_sequence_length",
        "input_sequence_length",
    ] {
        assert!(ours.contains_key(key), "{key} missing");
    }
    for key in [
        "schema_version",
        "aiperf_version",
        "benchmark_id",
        "input_config",
        "run_info",
        "was_cancelled",
        "is_complete",
        "error_summary",
        "start_time",
        "end_time",
    ] {
        assert!(ours.contains_key(key), "top-level {key} missing");
        assert_eq!(
            std::mem::discriminant(&ours[key]),
            std::mem::discriminant(&sample[key]),
            "JSON type of {key}"
        );
    }
}

#[test]
fn aiperf_consumer_reads_the_numbers_it_expects() {
    let v = export_value();
    // What AICR's job wrapper reads.
    let tput = v["output_token_throughput"]["avg"].as_f64().unwrap();
    let ttft_p99 = v["time_to_first_token"]["p99"].as_f64().unwrap();
    let s = Summary::from_records(&records(), &SummaryOptions::default());
    assert_eq!(tput, s.output_token_throughput.unwrap());
    assert_eq!(ttft_p99, s.time_to_first_token.as_ref().unwrap().p99);
    assert_eq!(v["time_to_first_token"]["unit"], "ms");
    assert_eq!(v["request_count"]["avg"], 47.0);
    assert_eq!(v["error_request_count"]["avg"], 1.0);
    assert_eq!(v["benchmark_duration"]["unit"], "sec");
    assert_eq!(v["run_info"]["random_seed"], 100);
    assert_eq!(v["input_config"]["phases"][0]["kind"], "warmup");
    assert_eq!(v["input_config"]["phases"][1]["concurrency"], 4);
    assert_eq!(v["error_summary"][0]["count"], 1);
    assert_eq!(v["error_summary"][0]["error_details"]["code"], 503);
    assert_eq!(
        v["error_summary"][0]["error_details"]["type"],
        "http_status"
    );
    assert_eq!(v["goodput"]["unit"], "requests/sec");
    assert!(v["infergate"]["version"]
        .as_str()
        .unwrap()
        .starts_with("infergate-"));
    // The embedded summary parses back.
    let back: Summary = serde_json::from_value(v["infergate"]["summary"].clone()).unwrap();
    assert_eq!(back.request_count, 47);
}

#[test]
fn export_keeps_aiperf_key_order() {
    let s = Summary::from_records(&records(), &SummaryOptions::default());
    let text = serde_json::to_string(&aiperf_export(&s, &context())).unwrap();
    assert!(text.starts_with("{\"schema_version\":\"1.4\",\"aiperf_version\":\"0.13.0\""));
    let ttft = text.find("\"time_to_first_token\"").unwrap();
    assert!(text[ttft..].starts_with("\"time_to_first_token\":{\"unit\":\"ms\",\"avg\":"));
}

#[test]
fn open_loop_phase_echo() {
    let mut ctx = context();
    ctx.load = Some(LoadMode::Open {
        rate: 12.5,
        arrivals: Arrivals::Poisson,
        max_concurrency: None,
    });
    let s = Summary::from_records(&records(), &SummaryOptions::default());
    let v = aiperf_export(&s, &ctx).to_value();
    assert_eq!(v["input_config"]["phases"][1]["type"], "poisson");
    assert_eq!(v["input_config"]["phases"][1]["rate"], 12.5);
}

#[test]
fn csv_has_aiperf_sections() {
    let s = Summary::from_records(&records(), &SummaryOptions::default());
    let csv = records_csv(&s);
    let mut lines = csv.lines();
    assert_eq!(
        lines.next().unwrap(),
        "Metric,avg,min,max,sum,p1,p5,p10,p25,p50,p75,p90,p95,p99,std,p999"
    );
    let ttft = csv
        .lines()
        .find(|l| l.starts_with("Time to First Token (ms),"))
        .unwrap();
    assert_eq!(ttft.split(',').count(), 16);
    assert!(csv.contains("\n\nMetric,Value\n"));
    assert!(csv.contains("\nRequest Count,47\n"), "{csv}");
    let tput = format!(
        "Output Token Throughput (tokens/sec),{:.2}",
        s.output_token_throughput.unwrap()
    );
    assert!(csv.contains(&tput), "{csv}");
}

#[test]
fn jsonl_line_parses_back_as_a_record_and_carries_metrics() {
    let recs = records();
    let line = record_jsonl_line(&recs[5], true);
    assert!(!line.contains('\n'));
    let back: RequestRecord = serde_json::from_str(&line).unwrap();
    assert_eq!(back, recs[5]);
    let v: Value = serde_json::from_str(&line).unwrap();
    assert_eq!(v["metrics"]["time_to_first_token"]["value"], 55.0);
    assert_eq!(v["metrics"]["time_to_first_token"]["unit"], "ms");
    let failed: Value = serde_json::from_str(&record_jsonl_line(&recs[10], true)).unwrap();
    assert!(failed.get("metrics").is_none());
    assert_eq!(failed["failure"]["status"], 503);
}
