//! `infergate validate --kube` end to end: the real binary against the stateful fake Kubernetes
//! API server of `crates/kube/tests/fake` (127.0.0.1, generated kubeconfig). Success, a failing
//! gate, a failing load Job, a missing CRD, bad flag values (exit 2 with no request sent), an
//! operating point that is only invalid at the node's GPU count, no-cleanup, and Ctrl-C.

#[path = "../crates/kube/tests/fake/mod.rs"]
mod fake;

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Duration;

use clap::Parser;
use fake::{dgd_crd, gpu_node, placed_pod, Fake, Knobs};
use serde_json::{json, Value};

const SENTINEL: &str = "===INFERGATE-RESULT===";
const IMAGE: &str = "ghcr.io/example/infergate:0.1.0";
const RUN_ID: &str = "ci-run-1";

/// An AIPerf-compatible export as the in-cluster `infergate bench` frames it.
fn export(throughput: f64, ttft_p99: f64) -> String {
    json!({
        "schema_version": "1.0",
        "aiperf_version": "0.13.0",
        "benchmark_id": "x",
        "time_to_first_token": {"unit": "ms", "avg": 310.2, "p50": 290.0, "p99": ttft_p99, "min": 80.0, "max": 900.0},
        "output_token_throughput": {"unit": "tokens/sec", "avg": throughput},
        "request_count": {"unit": "requests", "avg": 12288.0},
    })
    .to_string()
}

fn framed_log(payload: &str) -> String {
    format!("infergate bench: 12288 requests + 1536 warmup\n{SENTINEL}\n{payload}\n{SENTINEL}\nprofile done\n")
}

fn knobs(pod_log: String) -> Knobs {
    Knobs {
        pod_log,
        ..Knobs::default()
    }
}

struct Cluster {
    fake: Fake,
    dir: tempfile::TempDir,
    kubeconfig: PathBuf,
}

impl Cluster {
    async fn start(knobs: Knobs, crd: bool) -> Cluster {
        let fake = Fake::start(knobs).await;
        if crd {
            fake.seed(
                "apiextensions.k8s.io",
                "customresourcedefinitions",
                dgd_crd(),
            );
        }
        // gpu-a: 8 GPUs, 2 taken by a training pod → 6 free; gpu-b: 4 free. gpu-a wins.
        fake.seed(
            "",
            "nodes",
            gpu_node(
                "gpu-a",
                8,
                json!([{"key": "nvidia.com/gpu", "value": "present", "effect": "NoSchedule"}]),
                json!({"pool": "h100", "node.kubernetes.io/instance-type": "p5.48xlarge"}),
            ),
        );
        fake.seed(
            "",
            "nodes",
            gpu_node("gpu-b", 4, json!([]), json!({"pool": "h100"})),
        );
        fake.seed(
            "",
            "pods",
            placed_pod(
                "training",
                "trainer",
                "gpu-a",
                "Running",
                json!({"containers": [{"name": "c", "resources": {"limits": {"nvidia.com/gpu": "2"}}}]}),
            ),
        );
        let dir = tempfile::tempdir().expect("tempdir");
        let kubeconfig = dir.path().join("kubeconfig");
        std::fs::write(&kubeconfig, fake.kubeconfig_yaml()).expect("write kubeconfig");
        Cluster {
            fake,
            dir,
            kubeconfig,
        }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// `validate --kube` with the usual flags plus `extra`.
    fn args(&self, extra: &[&str]) -> Vec<String> {
        let mut a: Vec<String> = [
            "validate",
            "--kube",
            "--recipe",
            "h100-eks",
            "--image",
            IMAGE,
            "--run-id",
            RUN_ID,
            "--kube-poll-interval",
            "1ms",
            "--no-progress",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        a.push("--kubeconfig".into());
        a.push(self.kubeconfig.display().to_string());
        a.push("--ctrf".into());
        a.push(self.path("ctrf.json").display().to_string());
        a.push("--output-dir".into());
        a.push(self.path("out").display().to_string());
        a.extend(extra.iter().map(|s| s.to_string()));
        a
    }

    fn namespace(&self) -> String {
        format!(
            "infergate-perf-{}",
            infergate_kube::derive_run_id(Some(RUN_ID))
        )
    }

    fn mutations(&self) -> Vec<String> {
        self.fake
            .requests()
            .iter()
            .filter(|r| r.method != "GET")
            .map(|r| format!("{} {}", r.method, r.path))
            .collect()
    }

    fn assert_all_deleted(&self) {
        let ns = self.namespace();
        assert!(
            self.fake.get("", "namespaces", "", &ns).is_none(),
            "namespace deleted"
        );
        assert_eq!(self.fake.count("nvidia.com", "dynamographdeployments"), 0);
        assert_eq!(self.fake.count("batch", "jobs"), 0);
        assert_eq!(self.fake.count_in("", "pods", &ns), 0);
        let deletes = self
            .mutations()
            .iter()
            .filter(|m| m.starts_with("DELETE"))
            .count();
        assert!(deletes >= 2, "cleanup deleted through the API");
    }

    fn ctrf_status(&self) -> String {
        let text = std::fs::read_to_string(self.path("ctrf.json")).expect("ctrf.json written");
        let v: Value = serde_json::from_str(&text).expect("ctrf is JSON");
        v["results"]["tests"][0]["status"]
            .as_str()
            .unwrap_or("")
            .to_string()
    }
}

struct Output {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

impl Output {
    fn lines(&self) -> Vec<&str> {
        self.stdout.lines().collect()
    }
}

/// Start the binary with a clean environment (plus `env`).
fn spawn(args: &[String], env: &[(&str, &str)]) -> std::process::Child {
    Command::new(env!("CARGO_BIN_EXE_infergate"))
        .args(args)
        .env_clear()
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start infergate")
}

/// Wait (bounded) for a child; a hung child is killed and the test fails.
async fn finish(child: std::process::Child) -> Output {
    let pid = child.id();
    let waited = tokio::time::timeout(
        Duration::from_secs(90),
        tokio::task::spawn_blocking(move || child.wait_with_output()),
    )
    .await;
    let Ok(joined) = waited else {
        let _ = Command::new("kill")
            .args(["-KILL", &pid.to_string()])
            .status();
        panic!("infergate did not finish within 90 s");
    };
    let out = joined.expect("join").expect("wait");
    Output {
        code: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

async fn infergate(args: &[String], env: &[(&str, &str)]) -> Output {
    finish(spawn(args, env)).await
}

fn job_request_body(c: &Cluster) -> Value {
    c.fake
        .requests()
        .into_iter()
        .find(|r| r.method == "PATCH" && r.resource == "jobs")
        .and_then(|r| r.body)
        .expect("the load Job was applied")
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .map(|a| {
            a.iter()
                .filter_map(|x| x.as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn success_gates_the_in_cluster_result_prints_node_and_run_id_and_cleans_up() {
    let c = Cluster::start(knobs(framed_log(&export(108_790.0, 687.5))), true).await;
    let out = infergate(&c.args(&[]), &[("HF_TOKEN", "hf_topsecret_value")]).await;
    assert_eq!(
        out.code,
        Some(0),
        "stdout:\n{}\nstderr:\n{}",
        out.stdout,
        out.stderr
    );
    // Upstream's stdout lines, exactly as the endpoint mode prints them.
    assert_eq!(
        out.lines(),
        vec![
            "RESULT: Inference throughput: 108790.00 tokens/sec",
            "RESULT: Inference TTFT p99: 687.50 ms",
            "Throughput constraint: >= 50000 → PASS",
            "TTFT p99 constraint: <= 2000 → PASS",
        ]
    );
    let run_id = infergate_kube::derive_run_id(Some(RUN_ID));
    assert!(
        out.stderr.contains(&format!("run ID {run_id}")),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr
            .contains("node gpu-a (p5.48xlarge): 8 GPUs allocatable, 2 in use, 6 free"),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr
            .contains("concurrency 1536 (256 per GPU × 6 GPU(s))"),
        "{}",
        out.stderr
    );
    c.assert_all_deleted();
    let ns = c.namespace();
    assert!(
        out.stderr
            .contains(&format!("cleanup: namespace {ns} deleted")),
        "{}",
        out.stderr
    );

    // The Job runs the plan's operating point for 6 free GPUs, with argv the binary parses.
    let job = job_request_body(&c);
    let pod = &job["spec"]["template"]["spec"];
    assert_eq!(pod["containers"][0]["image"], IMAGE);
    let url = format!("http://infergate-perf-frontend.{ns}.svc:8000");
    let load = strings(&pod["containers"][0]["args"]);
    for want in [
        format!("--url={url}"),
        "--model=Qwen/Qwen3-8B".to_string(),
        "--concurrency=1536".into(),
        "--request-count=12288".into(),
        "--warmup-request-count=1536".into(),
        "--input-tokens-mean=128".into(),
        "--output-tokens-mean=128".into(),
        "--extra-inputs=temperature:0".into(),
        "--random-seed=100".into(),
    ] {
        assert!(load.contains(&want), "{want} missing from {load:?}");
    }
    assert_eq!(
        &load[load.len() - 2..],
        &["--result-sentinel".to_string(), SENTINEL.to_string()]
    );
    let cli = infergate::Cli::try_parse_from(
        std::iter::once("infergate".to_string()).chain(load.iter().cloned()),
    );
    assert!(cli.is_ok(), "the load argv parses: {:?}", cli.err());
    let probe = strings(&pod["initContainers"][0]["args"]);
    assert_eq!(probe[0], "probe");
    assert!(
        probe.contains(&format!("--url={url}")) && probe.contains(&"--window=300".to_string()),
        "{probe:?}"
    );

    // The HF token became a Secret and was never printed.
    assert!(c.fake.requests().iter().any(|r| r.resource == "secrets"));
    assert!(!out.stdout.contains("hf_topsecret") && !out.stderr.contains("hf_topsecret"));

    // CTRF, verdict.json (with the node's GPU counts), the export and kube.json.
    assert_eq!(c.ctrf_status(), "passed");
    let verdict: Value = serde_json::from_str(
        &std::fs::read_to_string(c.path("out/verdict.json")).expect("verdict.json"),
    )
    .expect("json");
    assert_eq!(
        (verdict["gpus"].as_u64(), verdict["gpus_per_node"].as_u64()),
        (Some(6), Some(8))
    );
    let kube: Value =
        serde_json::from_str(&std::fs::read_to_string(c.path("out/kube.json")).expect("kube.json"))
            .expect("json");
    assert_eq!(kube["run_id"], run_id.as_str());
    assert_eq!(kube["node"]["free_gpus"], 6);
    let exported: Value = serde_json::from_str(
        &std::fs::read_to_string(c.path("out/profile_export_aiperf.json")).expect("export"),
    )
    .expect("json");
    assert_eq!(exported["output_token_throughput"]["avg"], 108_790.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_deployment_fails_the_gate_with_upstreams_message() {
    // 20000 tok/s on 6 of 8 GPUs: the floor is 50000 × 6/8 = 37500, minus 10 %.
    let c = Cluster::start(knobs(framed_log(&export(20_000.0, 687.5))), true).await;
    let out = infergate(&c.args(&[]), &[]).await;
    assert_eq!(out.code, Some(1), "{}", out.stderr);
    let lines = out.lines();
    assert_eq!(
        lines[0],
        "RESULT: Inference throughput: 20000.00 tokens/sec"
    );
    assert!(
        lines[2]
            .starts_with("inference throughput 20000.00 tokens/sec does not satisfy constraint"),
        "{lines:?}"
    );
    assert_eq!(c.ctrf_status(), "failed");
    c.assert_all_deleted();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failing_load_job_prints_its_log_exits_3_and_cleans_up() {
    let log = "infergate bench: connecting\nerror: endpoint refused connection (os error 111)\n";
    let c = Cluster::start(
        Knobs {
            job_succeeds: false,
            pod_log: log.into(),
            ..Knobs::default()
        },
        true,
    )
    .await;
    let out = infergate(&c.args(&[]), &[]).await;
    assert_eq!(
        out.code,
        Some(3),
        "stdout:\n{}\nstderr:\n{}",
        out.stdout,
        out.stderr
    );
    assert!(
        out.stdout.contains("load pod logs (load container of"),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout
            .contains("error: endpoint refused connection (os error 111)"),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout.contains("load Job") && out.stdout.contains("failed"),
        "{}",
        out.stdout
    );
    assert!(
        out.stderr.contains("VERDICT: COULD NOT MEASURE"),
        "{}",
        out.stderr
    );
    assert_eq!(c.ctrf_status(), "other");
    c.assert_all_deleted();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_crd_fails_with_upstreams_message_and_creates_nothing() {
    let c = Cluster::start(knobs(String::new()), false).await;
    let out = infergate(&c.args(&[]), &[]).await;
    assert_eq!(out.code, Some(1), "{}", out.stderr);
    assert_eq!(
        out.lines(),
        vec!["recipe declares dynamo-platform but the DynamoGraphDeployment CRD is not installed on the cluster — apply the bundle (Dynamo operator)"]
    );
    assert!(c.mutations().is_empty(), "{:?}", c.mutations());
    assert!(
        out.stderr.contains("cleanup: nothing was created"),
        "{}",
        out.stderr
    );
    assert_eq!(c.ctrf_status(), "failed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_flag_values_exit_2_before_any_request() {
    let c = Cluster::start(knobs(String::new()), true).await;
    let cases: Vec<(Vec<String>, &str)> = vec![
        (c.args(&["--toleration", "gpu=true"]), "toleration"),
        (
            c.args(&["--toleration", "gpu:Sometimes"]),
            "NoSchedule, PreferNoSchedule, NoExecute",
        ),
        (c.args(&["--node-selector", "nokey"]), "node selector"),
        (c.args(&["--run-id", " "]), "--run-id"),
        (c.args(&["--namespace", "Bad_NS"]), "namespace"),
        (c.args(&["--router-mode", "fastest"]), "fastest"),
        (
            c.args(&["--concurrency-per-gpu", "0"]),
            "--concurrency-per-gpu",
        ),
        (
            c.args(&["--gpus", "4"]),
            "--gpus cannot be used with --kube",
        ),
        (c.args(&["--url", "http://127.0.0.1:1"]), "--url and --kube"),
        (c.args(&["--dynamo-image", "bad image"]), "dynamo image"),
        (
            c.args(&["--workload-ready-timeout", "soon"]),
            "--workload-ready-timeout",
        ),
        (
            with_value(c.args(&[]), "--kubeconfig", Some("/nonexistent/kubeconfig")),
            "/nonexistent/kubeconfig",
        ),
        (with_value(c.args(&[]), "--image", None), "--image"),
    ];
    for (args, needle) in &cases {
        let out = infergate(args, &[]).await;
        assert_eq!(out.code, Some(2), "{needle}: {}", out.stderr);
        assert!(out.stderr.contains(needle), "{needle}: {}", out.stderr);
    }
    // A recipe without thresholds is skipped (exit 2) before the cluster is contacted.
    let out = infergate(&with_value(c.args(&[]), "--recipe", Some("b200-gke")), &[]).await;
    assert_eq!(out.code, Some(2), "{}", out.stderr);
    assert_eq!(
        out.stdout.trim(),
        "no inference-throughput or inference-ttft-p99 constraint in recipe"
    );
    assert_eq!(c.ctrf_status(), "skipped");
    // Kubernetes flags without --kube are refused by the parser.
    let out = infergate(
        &[
            "validate".into(),
            "--recipe".into(),
            "h100-eks".into(),
            "--url".into(),
            "http://127.0.0.1:1".into(),
            "--toleration".into(),
            "*".into(),
        ],
        &[],
    )
    .await;
    assert_eq!(out.code, Some(2), "{}", out.stderr);
    assert!(c.fake.requests().is_empty(), "{:?}", c.mutations());
}

/// `args` with `flag`'s value replaced (`Some`) or the flag removed (`None`).
fn with_value(args: Vec<String>, flag: &str, value: Option<&str>) -> Vec<String> {
    let mut out = Vec::new();
    let mut it = args.into_iter();
    while let Some(a) = it.next() {
        if a == flag {
            let _ = it.next();
            if let Some(v) = value {
                out.push(a);
                out.push(v.to_string());
            }
        } else {
            out.push(a);
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_operating_point_too_large_for_the_nodes_gpus_exits_2_with_nothing_created() {
    // 20000 per GPU is valid for one GPU, but × 6 free GPUs exceeds the load generator's limit.
    let c = Cluster::start(knobs(String::new()), true).await;
    let out = infergate(&c.args(&["--concurrency-per-gpu", "20000"]), &[]).await;
    assert_eq!(out.code, Some(2), "{}", out.stderr);
    assert!(
        out.stderr
            .contains("operating point for node gpu-a (6 free of 8 GPUs)"),
        "{}",
        out.stderr
    );
    assert!(c.mutations().is_empty(), "{:?}", c.mutations());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_cleanup_keeps_everything_and_prints_the_removal_command() {
    for (extra, env) in [
        (vec!["--no-cleanup"], vec![]),
        (vec![], vec![("INFERGATE_NO_CLEANUP", "1")]),
        (vec![], vec![("AICR_INFERENCE_PERF_NO_CLEANUP", "true")]),
    ] {
        let c = Cluster::start(knobs(framed_log(&export(108_790.0, 687.5))), true).await;
        let out = infergate(&c.args(&extra), &env).await;
        assert_eq!(out.code, Some(0), "{extra:?} {env:?}: {}", out.stderr);
        let ns = c.namespace();
        assert!(
            c.fake.get("", "namespaces", "", &ns).is_some(),
            "namespace kept"
        );
        assert_eq!(c.fake.count("nvidia.com", "dynamographdeployments"), 1);
        assert_eq!(c.fake.count("batch", "jobs"), 1);
        assert!(
            !c.mutations().iter().any(|m| m.starts_with("DELETE")),
            "{:?}",
            c.mutations()
        );
        assert!(
            out.stderr
                .contains(&format!("cleanup: namespace {ns} kept")),
            "{}",
            out.stderr
        );
        let cmd = format!(
            "kubectl --kubeconfig {} delete namespace {ns}",
            c.kubeconfig.display()
        );
        assert!(out.stderr.contains(&cmd), "{}", out.stderr);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ctrl_c_while_waiting_for_the_workload_cleans_up_and_exits_3() {
    let c = Cluster::start(
        Knobs {
            dgd_ready_after_gets: None,
            ..knobs(String::new())
        },
        true,
    )
    .await;
    let child = spawn(&c.args(&["--workload-ready-timeout", "5m"]), &[]);
    tokio::time::timeout(Duration::from_secs(60), c.fake.dgd_created.notified())
        .await
        .expect("the DGD is created");
    assert!(c.fake.get("", "namespaces", "", &c.namespace()).is_some());
    let out = interrupt(child, "-INT").await;
    assert_eq!(out.code, Some(3), "{}", out.stderr);
    assert!(out.stderr.contains("cancelled"), "{}", out.stderr);
    c.assert_all_deleted();
    assert_eq!(c.ctrf_status(), "other");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_during_the_load_deletes_the_job_too_and_exits_3() {
    let c = Cluster::start(
        Knobs {
            pod_finishes_after_gets: u32::MAX,
            ..knobs(String::new())
        },
        true,
    )
    .await;
    let child = spawn(&c.args(&[]), &[]);
    tokio::time::timeout(Duration::from_secs(60), c.fake.job_created.notified())
        .await
        .expect("the load Job is created");
    let out = interrupt(child, "-TERM").await;
    assert_eq!(out.code, Some(3), "{}", out.stderr);
    assert!(out.stderr.contains("cancelled"), "{}", out.stderr);
    assert!(out.stderr.contains("cleanup: job "), "{}", out.stderr);
    c.assert_all_deleted();
}

/// Send `signal` to the child and wait for it to finish.
async fn interrupt(child: std::process::Child, signal: &str) -> Output {
    let sent = Command::new("kill")
        .args([signal, &child.id().to_string()])
        .status()
        .expect("kill");
    assert!(sent.success());
    finish(child).await
}

#[test]
fn kube_flags_are_documented_in_help() {
    let out = Command::new(env!("CARGO_BIN_EXE_infergate"))
        .args(["validate", "--help"])
        .output()
        .expect("run");
    let help = String::from_utf8_lossy(&out.stdout);
    for flag in [
        "--kube",
        "--kubeconfig",
        "--context",
        "--namespace",
        "--node-selector",
        "--toleration",
        "--run-id",
        "--image",
        "--dynamo-image",
        "--no-cleanup",
    ] {
        assert!(help.contains(flag), "{flag} missing from help");
    }
}
