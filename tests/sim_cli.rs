//! `infergate sim` from the command line (issue 3): it prints the bound address first, serves
//! `/health`, `/v1/models` and `/metrics`, stops on SIGTERM; bad flags exit 2 naming the flag and
//! what is valid; its fault flags are visible to `infergate bench`; `--virtual` is deterministic
//! by seed.

mod common;

use common::{Cli, SimProcess, MODEL};
use serde_json::Value;
use std::time::Duration;

#[test]
fn sim_prints_its_address_first_serves_and_stops_on_sigterm() {
    let sim = SimProcess::spawn(&["--port", "0", "--gpus-free", "2"]);
    assert!(
        sim.first_line.starts_with("listening on http://127.0.0.1:"),
        "{:?}",
        sim.first_line
    );
    assert_ne!(sim.addr.port(), 0, "the real port is printed");

    let (code, body) = common::http_get(sim.addr, "/health");
    assert_eq!(code, 200, "{body}");
    let (code, body) = common::http_get(sim.addr, "/v1/models");
    assert_eq!(code, 200, "{body}");
    assert!(body.contains(MODEL), "{body}");
    let (code, metrics) = common::http_get(sim.addr, "/metrics");
    assert_eq!(code, 200);
    for name in [
        "vllm:num_requests_running",
        "vllm:num_requests_waiting",
        "worker=\"1\"",
    ] {
        assert!(metrics.contains(name), "/metrics lacks {name}");
    }
    assert!(
        !metrics.contains("worker=\"2\""),
        "2 of 8 GPUs free: two workers"
    );

    let status = sim
        .terminate()
        .expect("infergate sim stops within 10 s of SIGTERM");
    assert_eq!(status.code(), Some(0), "{status:?}");
}

#[test]
fn bad_sim_flags_exit_2_naming_the_flag() {
    let cases: &[(&[&str], &[&str])] = &[
        (
            &["--profile", "nope"],
            &["\"nope\"", "h100x8", "rtx-pro-6000x8", "gb200x4"],
        ),
        (&["--gpus-free", "0"], &["gpus-free", "0", "1 to 8"]),
        (&["--gpus-free", "9"], &["gpus-free", "9", "1 to 8"]),
        (
            &["--router", "bogus"],
            &["router", "bogus", "round-robin", "least-loaded"],
        ),
        (
            &["--error-rate-500", "1.5"],
            &["error-rate-500", "1.5", "0.0 to 1.0"],
        ),
        (&["--drop-rate", "2"], &["drop-rate", "2", "0.0 to 1.0"]),
        (&["--stall-worker", "9"], &["stall-worker", "9", "0 to 7"]),
        (
            &["--stall-worker", "0", "--stall-factor", "0"],
            &["stall-factor", "0", "greater than 0"],
        ),
        (&["--cold-start", "abc"], &["cold-start", "abc", "duration"]),
        (
            &["--cold-start", "1s", "--cold-start-scope", "x"],
            &["cold-start-scope", "deployment or worker"],
        ),
        (
            &["--node-slow-factor", "0"],
            &["node-slow-factor", "0", "greater than 0"],
        ),
        (&["--port", "70000"], &["--port", "70000", "65535"]),
        (&["--concurrency", "5"], &["concurrency", "--virtual"]),
        (
            &["--virtual", "--concurrency", "0"],
            &["concurrency", "0", "at least 1"],
        ),
    ];
    let mut problems = Vec::new();
    for (args, needles) in cases {
        let out = Cli::new(["sim"])
            .args(args.iter())
            .timeout(Duration::from_secs(10))
            .run();
        let what = args.join(" ");
        if out.code != Some(2) {
            problems.push(format!("{what}: exit {:?}: {}", out.code, out.all()));
            continue;
        }
        if out.stdout.contains("listening on") {
            problems.push(format!("{what}: it started serving"));
        }
        for n in needles.iter() {
            if !out.stderr.contains(n) {
                problems.push(format!("{what}: message lacks {n:?}: {}", out.stderr));
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn the_sims_fault_flags_reach_a_bench_client() {
    let sim = SimProcess::spawn(&["--port", "0", "--gpus-free", "1", "--error-rate-500", "1.0"]);
    let out = Cli::new([
        "bench",
        "--url",
        &sim.url(),
        "--model",
        MODEL,
        "--concurrency",
        "2",
        "--request-count",
        "4",
        "--output-tokens-mean",
        "8",
        "--no-progress",
    ])
    .run();
    assert!(out.stdout.contains("http_status 500 × 4"), "{}", out.all());
    let (_, metrics) = common::http_get(sim.addr, "/metrics");
    assert!(
        metrics
            .lines()
            .any(|l| l == "infergate_sim_faults_total{kind=\"http_500\"} 4"),
        "the 4 injected 500s are counted in /metrics:\n{metrics}"
    );
    out.assert_code(1, "every request failed");
}

#[test]
fn virtual_time_is_deterministic_by_seed() {
    let run = |seed: &str| {
        let out = Cli::new([
            "sim",
            "--virtual",
            "--gpus-free",
            "2",
            "--concurrency",
            "32",
            "--request-count",
            "64",
            "--seed",
            seed,
            "--json",
        ])
        .run();
        out.assert_code(0, "sim --virtual");
        let mut v: Value = serde_json::from_str(&out.stdout).expect("--json prints JSON");
        // CPU time is the only measured (not simulated) number.
        for t in v.as_array_mut().unwrap() {
            t.as_object_mut().unwrap().remove("cpu_ms");
        }
        v
    };
    let a = run("1");
    let b = run("1");
    let c = run("2");
    assert_eq!(a, b, "same seed, same trial");
    assert_ne!(a, c, "another seed, another trial");
    let t = &a[0];
    assert_eq!(t["requests"], 64);
    assert_eq!(t["errors"], 0);
    assert!(t["output_token_throughput"].as_f64().unwrap() > 0.0);
    assert!(t["ttft_p99_ms"].as_f64().unwrap() > 0.0);
}
