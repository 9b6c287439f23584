//! The whole `validate --kube` cluster flow against the stateful fake API server (over 127.0.0.1,
//! through a generated kubeconfig): success, never-ready DGD, failing load Job, foreign namespace,
//! missing CRD, no GPU node, partly used node, cancel mid-run, no-cleanup; plus request-level
//! assertions on the objects created and RBAC coverage of every request seen.

mod fake;

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::Duration;

use fake::{dgd_crd, gpu_node, placed_pod, Fake, Knobs};
use infergate_kube::{
    api_use_allows, choose_node, connect, run_gate_flow, Endpoint, FlowEvent, FlowOutcome,
    KubeError, KubeOptions, LoadRequest, NodeChoice, StepOutcome,
};
use serde_json::{json, Value};

const SENTINEL: &str = "===INFERGATE-RESULT===";
const PAYLOAD: &str =
    r#"{"output_token_throughput":{"avg":5667.5},"time_to_first_token":{"p99":84.1}}"#;

struct Env {
    fake: Fake,
    client: kube::Client,
    opts: KubeOptions,
    _dir: tempfile::TempDir,
}

/// Start a fake with a CRD and the given nodes, and build options with millisecond polling.
async fn env(knobs: Knobs, crd: bool, nodes: Vec<Value>) -> Env {
    let fake = Fake::start(knobs).await;
    if crd {
        fake.seed(
            "apiextensions.k8s.io",
            "customresourcedefinitions",
            dgd_crd(),
        );
    }
    for n in nodes {
        fake.seed("", "nodes", n);
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let kc = dir.path().join("kubeconfig");
    std::fs::write(&kc, fake.kubeconfig_yaml()).expect("write kubeconfig");
    let mut opts = KubeOptions::new("ghcr.io/example/infergate:0.1.0");
    opts.kubeconfig = Some(kc);
    opts.run_id = Some("ci-run-1".into());
    opts.timeouts.poll_interval = Duration::from_millis(1);
    opts.timeouts.api_call = Duration::from_secs(5);
    opts.timeouts.workload_ready = Duration::from_secs(5);
    opts.timeouts.pod_start = Duration::from_secs(5);
    opts.timeouts.job = Duration::from_secs(5);
    opts.timeouts.cleanup_step = Duration::from_secs(5);
    let client = connect(&opts)
        .await
        .expect("connect through the generated kubeconfig");
    Env {
        fake,
        client,
        opts,
        _dir: dir,
    }
}

fn framed_log() -> String {
    format!("starting bench {{not json}}\n{SENTINEL}\n{PAYLOAD}\n{SENTINEL}\nbye\n")
}

fn default_knobs() -> Knobs {
    Knobs {
        pod_log: framed_log(),
        ..Knobs::default()
    }
}

fn two_nodes() -> Vec<Value> {
    vec![
        gpu_node(
            "gpu-a",
            8,
            json!([{"key": "nvidia.com/gpu", "value": "present", "effect": "NoSchedule"},
                                    {"key": "node.kubernetes.io/unreachable", "effect": "NoExecute"}]),
            json!({"pool": "h100"}),
        ),
        gpu_node("gpu-b", 4, json!([]), json!({"pool": "h100"})),
    ]
}

fn make_load(node: &NodeChoice, ep: &Endpoint, _run_id: &str) -> LoadRequest {
    let c = 256 * node.free_gpus;
    LoadRequest {
        probe_args: Some(vec![
            "--url".into(),
            ep.url.clone(),
            "--model".into(),
            "Qwen/Qwen3-8B".into(),
        ]),
        bench_args: vec![
            "--url".into(),
            ep.url.clone(),
            "--concurrency".into(),
            c.to_string(),
        ],
        sentinel: SENTINEL.into(),
    }
}

async fn run(e: &Env) -> (FlowOutcome, Vec<String>) {
    run_with_cancel(e, std::future::pending()).await
}

async fn run_with_cancel(
    e: &Env,
    cancel: impl std::future::Future<Output = ()>,
) -> (FlowOutcome, Vec<String>) {
    let events = Mutex::new(Vec::new());
    let on_event = |ev: FlowEvent<'_>| {
        let s = match ev {
            FlowEvent::NodeChosen { node, .. } => format!("node {} {}", node.name, node.free_gpus),
            FlowEvent::Deployed(_) => "deployed".into(),
            FlowEvent::Ready(ep) => format!("ready {}", ep.url),
            FlowEvent::LoadStarted(_) => "load".into(),
            FlowEvent::CleaningUp(_) => "cleanup".into(),
        };
        events.lock().unwrap().push(s);
    };
    let out = tokio::time::timeout(
        Duration::from_secs(30),
        run_gate_flow(&e.client, &e.opts, make_load, &on_event, cancel),
    )
    .await
    .expect("the flow is bounded");
    (out, events.into_inner().unwrap())
}

/// Every request the fake saw is covered by the crate's RBAC table.
fn assert_rbac_covers(fake: &Fake) {
    for r in fake.requests() {
        assert!(
            api_use_allows(&r.group, &r.resource, &r.verb),
            "request {} {} needs ({:?}, {}, {}) which API_USES lacks",
            r.method,
            r.path,
            r.group,
            r.resource,
            r.verb
        );
    }
}

fn mutations(fake: &Fake) -> Vec<String> {
    fake.requests()
        .iter()
        .filter(|r| r.method != "GET")
        .map(|r| format!("{} {}", r.method, r.path))
        .collect()
}

fn all_gone(e: &Env, ns: &str, job: &str) {
    assert!(
        e.fake.get("", "namespaces", "", ns).is_none(),
        "namespace deleted"
    );
    assert!(
        e.fake
            .get("nvidia.com", "dynamographdeployments", ns, "infergate-perf")
            .is_none(),
        "DGD deleted"
    );
    assert!(
        e.fake.get("batch", "jobs", ns, job).is_none(),
        "Job deleted"
    );
    assert_eq!(e.fake.count_in("", "pods", ns), 0, "load pod deleted");
}

#[tokio::test]
async fn success_deploys_runs_the_job_returns_the_payload_and_cleans_up() {
    let e = env(default_knobs(), true, two_nodes()).await;
    e.fake.seed("", "pods", placed_pod("other", "train", "gpu-a", "Running", json!({"containers": [{"name": "c", "resources": {"limits": {"nvidia.com/gpu": "2"}}}]})));
    let (out, events) = run(&e).await;
    assert_eq!(out.result.as_deref().expect("flow succeeds"), PAYLOAD);
    let node = out.node.clone().expect("node chosen");
    assert_eq!(
        (
            node.name.as_str(),
            node.allocatable_gpus,
            node.used_gpus,
            node.free_gpus
        ),
        ("gpu-a", 8, 2, 6)
    );
    let dep = &out.deployment;
    assert_eq!(dep.run_id.len(), 8);
    let ns = dep.namespace.clone();
    assert_eq!(ns, format!("infergate-perf-{}", dep.run_id));
    assert_eq!(
        out.endpoint.as_ref().unwrap().url,
        format!("http://infergate-perf-frontend.{ns}.svc:8000")
    );
    assert_eq!(
        events,
        vec![
            "node gpu-a 6".to_string(),
            "deployed".into(),
            format!("ready http://infergate-perf-frontend.{ns}.svc:8000"),
            "load".into(),
            "cleanup".into(),
        ]
    );
    // Cleanup: Job, DGD, namespace, each deleted and confirmed gone.
    let steps: Vec<(String, StepOutcome)> = out
        .cleanup
        .steps
        .iter()
        .map(|s| (s.object.clone(), s.outcome.clone()))
        .collect();
    assert_eq!(
        steps,
        vec![
            (format!("job {ns}/{}", dep.job_name), StepOutcome::Deleted),
            (
                format!("dynamographdeployment {ns}/infergate-perf"),
                StepOutcome::Deleted
            ),
            (format!("namespace {ns}"), StepOutcome::Deleted),
        ]
    );
    assert!(out.cleanup.ok() && out.cleanup.removal_command.is_none());
    all_gone(&e, &ns, &dep.job_name);
    assert_rbac_covers(&e.fake);

    // ---- request-level assertions on the exact objects ----
    let reqs = e.fake.requests();
    let ns_create = reqs
        .iter()
        .find(|r| r.method == "POST" && r.path == "/api/v1/namespaces")
        .expect("namespace created");
    assert_eq!(
        ns_create.body.as_ref().unwrap()["metadata"],
        json!({"name": ns, "labels": {
        "app.kubernetes.io/managed-by": "infergate", "app.kubernetes.io/component": "inference-perf", "infergate/run-id": dep.run_id}})
    );

    let dgd_path =
        format!("/apis/nvidia.com/v1beta1/namespaces/{ns}/dynamographdeployments/infergate-perf");
    let dgd_req = reqs
        .iter()
        .find(|r| r.method == "PATCH" && r.path == dgd_path)
        .expect("DGD applied");
    assert_eq!(
        dgd_req.content_type, "application/apply-patch+yaml",
        "server-side apply"
    );
    assert!(
        dgd_req.query.contains("fieldManager=infergate") && dgd_req.query.contains("force=true"),
        "{}",
        dgd_req.query
    );
    let dgd = dgd_req.body.clone().unwrap();
    assert_eq!(dgd["apiVersion"], "nvidia.com/v1beta1");
    assert_eq!(dgd["kind"], "DynamoGraphDeployment");
    let comps = dgd["spec"]["components"].as_array().unwrap();
    assert_eq!(comps.len(), 2);
    assert_eq!(comps[1]["name"], "VllmDecodeWorker");
    assert_eq!(comps[1]["replicas"], json!(6), "one worker per free GPU");
    for c in comps {
        let spec = &c["podTemplate"]["spec"];
        assert_eq!(
            spec["nodeSelector"],
            json!({"kubernetes.io/hostname": "gpu-a"})
        );
        // Taints mirrored, node.kubernetes.io/* skipped.
        assert_eq!(
            spec["tolerations"],
            json!([{"key": "nvidia.com/gpu", "operator": "Equal", "value": "present", "effect": "NoSchedule"}])
        );
    }
    assert_eq!(
        comps[1]["podTemplate"]["spec"]["containers"][0]["resources"]["limits"]["nvidia.com/gpu"],
        "1"
    );
    let fe_env = comps[0]["podTemplate"]["spec"]["containers"][0]["env"]
        .as_array()
        .unwrap();
    assert!(fe_env.contains(&json!({"name": "DYN_ROUTER_MODE", "value": "least-loaded"})));
    // No token given: no Secret object, references stay optional.
    assert!(!reqs.iter().any(|r| r.resource == "secrets"));

    let job_path = format!("/apis/batch/v1/namespaces/{ns}/jobs/{}", dep.job_name);
    let job_req = reqs
        .iter()
        .find(|r| r.method == "PATCH" && r.path == job_path)
        .expect("Job applied");
    assert_eq!(job_req.content_type, "application/apply-patch+yaml");
    let job = job_req.body.clone().unwrap();
    assert_eq!(job["spec"]["backoffLimit"], 0);
    assert_eq!(job["spec"]["ttlSecondsAfterFinished"], 3600);
    let pod = &job["spec"]["template"]["spec"];
    assert_eq!(pod["restartPolicy"], "Never");
    assert_eq!(pod["securityContext"]["runAsNonRoot"], true);
    let load = &pod["containers"][0];
    assert_eq!(load["image"], "ghcr.io/example/infergate:0.1.0");
    assert_eq!(load["command"], json!(["/usr/local/bin/infergate"]));
    let url = format!("http://infergate-perf-frontend.{ns}.svc:8000");
    assert_eq!(
        load["args"],
        json!([
            "bench",
            "--url",
            url,
            "--concurrency",
            "1536",
            "--result-sentinel",
            SENTINEL
        ])
    );
    assert_eq!(
        pod["initContainers"][0]["args"],
        json!(["probe", "--url", url, "--model", "Qwen/Qwen3-8B"])
    );

    // Deletes are foreground.
    let deletes: Vec<_> = reqs.iter().filter(|r| r.method == "DELETE").collect();
    assert_eq!(deletes.len(), 3);
    for d in deletes {
        assert_eq!(
            d.body.as_ref().unwrap()["propagationPolicy"],
            "Foreground",
            "{}",
            d.path
        );
    }
    // The log was read from the load container.
    assert!(reqs
        .iter()
        .any(|r| r.path.ends_with("/log") && r.query.contains("container=load")));
}

#[tokio::test]
async fn hf_token_becomes_a_secret_never_echoed_in_errors() {
    let mut e = env(default_knobs(), true, two_nodes()).await;
    e.opts.hf_token = infergate_kube::Secret::new("hf_supersecret");
    let (out, _) = run(&e).await;
    assert!(out.result.is_ok());
    let reqs = e.fake.requests();
    let s = reqs
        .iter()
        .find(|r| r.resource == "secrets" && r.method == "PATCH")
        .expect("Secret applied");
    let body = s.body.clone().unwrap();
    assert_eq!(body["metadata"]["name"], "infergate-hf-token");
    assert_eq!(body["data"]["token"], "aGZfc3VwZXJzZWNyZXQ=");
    assert!(!format!("{:?}", e.opts).contains("hf_supersecret"));
}

#[tokio::test]
async fn dgd_that_never_gets_ready_times_out_and_still_cleans_up() {
    let mut e = env(
        Knobs {
            dgd_ready_after_gets: None,
            ..default_knobs()
        },
        true,
        two_nodes(),
    )
    .await;
    e.opts.timeouts.workload_ready = Duration::from_millis(50);
    let (out, _) = run(&e).await;
    let err = out.result.expect_err("never ready");
    let msg = err.to_string();
    assert!(matches!(err, KubeError::Timeout { .. }), "{msg}");
    assert!(
        msg.contains("DynamoGraphDeployment") && msg.contains("state=\"pending\""),
        "{msg}"
    );
    assert!(out.endpoint.is_none());
    let ns = out.deployment.namespace.clone();
    assert!(out.cleanup.ok());
    assert_eq!(
        out.cleanup.steps.len(),
        2,
        "no Job was created, so DGD + namespace"
    );
    all_gone(&e, &ns, &out.deployment.job_name);
    assert!(!e.fake.requests().iter().any(|r| r.resource == "jobs"));
    assert_rbac_covers(&e.fake);
}

#[tokio::test]
async fn failing_load_job_surfaces_its_log_and_cleans_up() {
    let log = "bench: connecting to endpoint\nerror: endpoint refused connection (os error 111)\n";
    let e = env(
        Knobs {
            job_succeeds: false,
            pod_log: log.into(),
            ..default_knobs()
        },
        true,
        two_nodes(),
    )
    .await;
    let (out, _) = run(&e).await;
    let err = out.result.expect_err("job fails");
    let KubeError::LoadJobFailed(f) = &err else {
        panic!("wrong error {err}")
    };
    assert_eq!(f.container, "load");
    assert!(f.reason.contains("exit code 1"), "{}", f.reason);
    assert!(f.log_tail.contains("endpoint refused connection"));
    assert!(err.to_string().contains("endpoint refused connection"));
    all_gone(&e, &out.deployment.namespace, &out.deployment.job_name);
    assert_rbac_covers(&e.fake);
}

#[tokio::test]
async fn failing_readiness_probe_names_the_probe_container() {
    let e = env(
        Knobs {
            job_succeeds: false,
            fail_in_probe: true,
            pod_log: "probe: still 503 after 5m\n".into(),
            ..default_knobs()
        },
        true,
        two_nodes(),
    )
    .await;
    let (out, _) = run(&e).await;
    let KubeError::LoadJobFailed(f) = out.result.expect_err("probe fails") else {
        panic!("wrong error")
    };
    assert_eq!(f.container, "probe");
    assert!(f.reason.contains("exit code 3"));
    assert!(e
        .fake
        .requests()
        .iter()
        .any(|r| r.path.ends_with("/log") && r.query.contains("container=probe")));
}

#[tokio::test]
async fn succeeded_job_without_a_framed_result_is_an_error() {
    let e = env(
        Knobs {
            pod_log: "no frame here\n".into(),
            ..default_knobs()
        },
        true,
        two_nodes(),
    )
    .await;
    let (out, _) = run(&e).await;
    let msg = out.result.expect_err("no payload").to_string();
    assert!(
        msg.contains("sentinel") && msg.contains("not found"),
        "{msg}"
    );
    assert!(out.cleanup.ok());
}

#[tokio::test]
async fn foreign_namespace_is_refused_and_left_alone() {
    let e = env(default_knobs(), true, two_nodes()).await;
    let ns = infergate_kube::plan(&e.opts).namespace;
    e.fake.seed("", "namespaces", json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns, "labels": {"team": "ml"}}}));
    let (out, _) = run(&e).await;
    let msg = out.result.expect_err("refused").to_string();
    assert!(
        msg.contains(&ns) && msg.contains("refusing to adopt"),
        "{msg}"
    );
    assert!(out.cleanup.steps.is_empty(), "nothing of ours to delete");
    assert!(
        e.fake.get("", "namespaces", "", &ns).is_some(),
        "the foreign namespace survives"
    );
    assert!(mutations(&e.fake).is_empty(), "{:?}", mutations(&e.fake));
}

#[tokio::test]
async fn owned_namespace_from_a_previous_run_is_reused() {
    let e = env(default_knobs(), true, two_nodes()).await;
    let plan = infergate_kube::plan(&e.opts);
    e.fake.seed(
        "",
        "namespaces",
        infergate_kube::manifests::render_namespace(&plan.namespace, &plan.run_id),
    );
    let (out, _) = run(&e).await;
    assert!(out.result.is_ok());
    let reqs = e.fake.requests();
    assert!(!reqs
        .iter()
        .any(|r| r.method == "POST" && r.path == "/api/v1/namespaces"));
    // A stale token from the earlier run is removed (anonymous downloads now).
    assert!(reqs
        .iter()
        .any(|r| r.method == "DELETE" && r.resource == "secrets"));
    assert!(
        e.fake.get("", "namespaces", "", &plan.namespace).is_none(),
        "cleaned up as ours"
    );
}

#[tokio::test]
async fn missing_crd_fails_with_upstreams_message_before_any_mutation() {
    let e = env(default_knobs(), false, two_nodes()).await;
    let (out, _) = run(&e).await;
    let err = out.result.expect_err("CRD missing");
    assert_eq!(
        err.to_string(),
        "recipe declares dynamo-platform but the DynamoGraphDeployment CRD is not installed on the cluster — apply the bundle (Dynamo operator)"
    );
    assert!(mutations(&e.fake).is_empty());
    assert!(out.node.is_none());
}

#[tokio::test]
async fn no_gpu_node_is_a_clear_error() {
    let cpu = json!({"apiVersion": "v1", "kind": "Node", "metadata": {"name": "cpu-1"},
                     "status": {"allocatable": {"cpu": "8"}, "conditions": [{"type": "Ready", "status": "True"}]}});
    let e = env(default_knobs(), true, vec![cpu.clone()]).await;
    let (out, _) = run(&e).await;
    let msg = out.result.expect_err("no GPU").to_string();
    assert!(msg.contains("no schedulable GPU nodes found"), "{msg}");
    assert!(mutations(&e.fake).is_empty());

    // A cordoned GPU node does not count either.
    let mut cordoned = gpu_node("gpu-c", 8, json!([]), json!({}));
    cordoned["spec"]["unschedulable"] = json!(true);
    let e = env(default_knobs(), true, vec![cordoned]).await;
    assert!(run(&e)
        .await
        .0
        .result
        .expect_err("cordoned")
        .to_string()
        .contains("no schedulable GPU nodes found"));

    // DRA-only: devices are detected and reported, with a clear "not supported yet".
    let e = env(default_knobs(), true, vec![cpu]).await;
    e.fake.seed("resource.k8s.io", "resourceslices", json!({"apiVersion": "resource.k8s.io/v1", "kind": "ResourceSlice",
        "metadata": {"name": "dra-node-gpu"}, "spec": {"driver": "gpu.nvidia.com", "nodeName": "dra-node",
        "pool": {"name": "dra-node", "generation": 1, "resourceSliceCount": 1}, "devices": [{"name": "gpu-0"}, {"name": "gpu-1"}]}}));
    let msg = run(&e).await.0.result.expect_err("DRA only").to_string();
    assert!(
        msg.contains("DRA-only cluster is not supported yet")
            && msg.contains("dra-node (2 device(s))"),
        "{msg}"
    );
}

#[tokio::test]
async fn partly_used_node_counts_effective_requests_and_picks_the_freest() {
    let e = env(
        default_knobs(),
        true,
        vec![
            gpu_node("gpu-a", 8, json!([]), json!({})),
            gpu_node("gpu-b", 2, json!([]), json!({})),
        ],
    )
    .await;
    let g = |n: u64| json!({"requests": {"nvidia.com/gpu": n.to_string()}});
    // 1 (plain) + 4 (one-shot init floor over 1 regular) + 2 (sidecar 1 + regular 1) = 7 in use.
    e.fake.seed(
        "",
        "pods",
        placed_pod(
            "a",
            "plain",
            "gpu-a",
            "Running",
            json!({"containers": [{"name": "c", "resources": g(1)}]}),
        ),
    );
    e.fake.seed("", "pods", placed_pod("a", "init", "gpu-a", "Pending", json!({
        "initContainers": [{"name": "i", "resources": g(4)}], "containers": [{"name": "c", "resources": g(1)}]})));
    e.fake.seed("", "pods", placed_pod("a", "sidecar", "gpu-a", "Running", json!({
        "initContainers": [{"name": "s", "restartPolicy": "Always", "resources": g(1)}], "containers": [{"name": "c", "resources": g(1)}]})));
    // Terminal pods do not hold GPUs.
    e.fake.seed(
        "",
        "pods",
        placed_pod(
            "a",
            "done",
            "gpu-a",
            "Succeeded",
            json!({"containers": [{"name": "c", "resources": g(8)}]}),
        ),
    );
    e.fake.seed(
        "",
        "pods",
        placed_pod(
            "a",
            "failed",
            "gpu-b",
            "Failed",
            json!({"containers": [{"name": "c", "resources": g(2)}]}),
        ),
    );
    let choice = choose_node(&e.client, &e.opts).await.expect("a node");
    let a = choice
        .candidates
        .iter()
        .find(|c| c.name == "gpu-a")
        .unwrap();
    assert_eq!((a.allocatable, a.used, a.free), (8, 7, 1));
    assert_eq!(
        (
            choice.name.as_str(),
            choice.free_gpus,
            choice.allocatable_gpus
        ),
        ("gpu-b", 2, 2)
    );
    // The pod list asked the server to drop terminal pods.
    assert!(e.fake.requests().iter().any(|r| r.resource == "pods"
        && r.verb == "list"
        && r.query.contains("fieldSelector=status.phase")));

    // Narrowing with a selector forces gpu-a; the DGD then gets exactly its 1 free GPU.
    let mut e2 = e;
    e2.opts.node_selector =
        BTreeMap::from([("kubernetes.io/hostname".to_string(), "gpu-a".to_string())]);
    e2.fake.seed(
        "",
        "nodes",
        gpu_node(
            "gpu-a",
            8,
            json!([]),
            json!({"kubernetes.io/hostname": "gpu-a"}),
        ),
    );
    let (out, _) = run(&e2).await;
    assert!(out.result.is_ok(), "{:?}", out.result);
    let ns = &out.deployment.namespace;
    let dgd = e2
        .fake
        .requests()
        .into_iter()
        .find(|r| {
            r.method == "PATCH"
                && r.path.ends_with("/dynamographdeployments/infergate-perf")
                && r.path.contains(ns.as_str())
        })
        .unwrap();
    assert_eq!(
        dgd.body.unwrap()["spec"]["components"][1]["replicas"],
        json!(1)
    );
    assert_eq!(out.deployment.workers, 1);
}

#[tokio::test]
async fn cancel_mid_run_deletes_everything() {
    // The pod never finishes on its own; only the cancel can end the run.
    let mut e = env(
        Knobs {
            pod_finishes_after_gets: u32::MAX,
            ..default_knobs()
        },
        true,
        two_nodes(),
    )
    .await;
    e.opts.timeouts.job = Duration::from_secs(60);
    let job_created = e.fake.job_created.clone();
    let (out, events) = run_with_cancel(&e, async move { job_created.notified().await }).await;
    assert!(
        matches!(out.result, Err(KubeError::Cancelled)),
        "{:?}",
        out.result
    );
    assert_eq!(events.last().map(String::as_str), Some("cleanup"));
    assert_eq!(out.cleanup.steps.len(), 3);
    assert!(
        out.cleanup
            .steps
            .iter()
            .all(|s| s.outcome == StepOutcome::Deleted),
        "{:?}",
        out.cleanup.steps
    );
    all_gone(&e, &out.deployment.namespace, &out.deployment.job_name);
    assert_rbac_covers(&e.fake);
}

#[tokio::test]
async fn cancel_while_waiting_for_the_dgd_deletes_what_exists() {
    let mut e = env(
        Knobs {
            dgd_ready_after_gets: None,
            ..default_knobs()
        },
        true,
        two_nodes(),
    )
    .await;
    e.opts.timeouts.workload_ready = Duration::from_secs(60);
    let dgd_created = e.fake.dgd_created.clone();
    let (out, _) = run_with_cancel(&e, async move { dgd_created.notified().await }).await;
    assert!(matches!(out.result, Err(KubeError::Cancelled)));
    assert_eq!(out.cleanup.steps.len(), 2);
    all_gone(&e, &out.deployment.namespace, &out.deployment.job_name);
}

#[tokio::test]
async fn no_cleanup_keeps_everything_and_prints_the_removal_command() {
    let mut e = env(default_knobs(), true, two_nodes()).await;
    e.opts.no_cleanup = true;
    let (out, _) = run(&e).await;
    assert_eq!(out.result.as_deref().unwrap(), PAYLOAD);
    let dep = &out.deployment;
    assert!(out
        .cleanup
        .steps
        .iter()
        .all(|s| s.outcome == StepOutcome::Kept));
    assert_eq!(out.cleanup.steps.len(), 3);
    let kc = e.opts.kubeconfig.as_ref().unwrap().display().to_string();
    assert_eq!(
        out.cleanup.removal_command.as_deref(),
        Some(
            format!(
                "kubectl --kubeconfig {kc} delete namespace {}",
                dep.namespace
            )
            .as_str()
        )
    );
    assert!(e.fake.get("", "namespaces", "", &dep.namespace).is_some());
    assert!(e
        .fake
        .get(
            "nvidia.com",
            "dynamographdeployments",
            &dep.namespace,
            "infergate-perf"
        )
        .is_some());
    assert!(e
        .fake
        .get("batch", "jobs", &dep.namespace, &dep.job_name)
        .is_some());
    assert!(!e.fake.requests().iter().any(|r| r.method == "DELETE"));
}

#[tokio::test]
async fn job_in_a_given_namespace_is_deleted_there() {
    let mut e = env(default_knobs(), true, two_nodes()).await;
    e.fake.seed(
        "",
        "namespaces",
        json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "bench"}}),
    );
    e.opts.namespace = Some("bench".into());
    let (out, _) = run(&e).await;
    assert!(out.result.is_ok(), "{:?}", out.result);
    assert_eq!(
        out.cleanup.steps[0].object,
        format!("job bench/{}", out.deployment.job_name)
    );
    assert!(
        e.fake.get("", "namespaces", "", "bench").is_some(),
        "a namespace we did not create stays"
    );
    assert!(e
        .fake
        .get("batch", "jobs", "bench", &out.deployment.job_name)
        .is_none());
}

#[tokio::test]
async fn connect_reports_a_bad_context_naming_the_kubeconfig() {
    let mut e = env(default_knobs(), true, vec![]).await;
    e.opts.context = Some("nope".into());
    let Err(err) = connect(&e.opts).await else {
        panic!("unknown context must fail")
    };
    let msg = err.to_string();
    assert!(
        msg.contains("kubeconfig") && msg.contains("context nope"),
        "{msg}"
    );
}

#[tokio::test]
async fn gateway_epp_deploys_the_epp_template_and_targets_the_gateway() {
    let mut e = env(default_knobs(), true, two_nodes()).await;
    e.opts.routing = infergate_kube::Routing::GatewayEpp;
    for (name, port) in [
        ("inference-gateway-controller-manager", 8443),
        ("inference-gateway", 8080),
    ] {
        e.fake.seed("", "services", json!({"apiVersion": "v1", "kind": "Service",
            "metadata": {"name": name, "namespace": "agentgateway-system"}, "spec": {"ports": [{"name": "http", "port": port}]}}));
    }
    let (out, _) = run(&e).await;
    assert!(out.result.is_ok(), "{:?}", out.result);
    assert_eq!(
        out.endpoint.unwrap().url,
        "http://inference-gateway.agentgateway-system.svc:8080"
    );
    let dgd = e
        .fake
        .requests()
        .into_iter()
        .find(|r| r.method == "PATCH" && r.path.ends_with("/dynamographdeployments/infergate-perf"))
        .unwrap();
    let comps = dgd.body.unwrap()["spec"]["components"].clone();
    assert_eq!(comps[0]["type"], "epp");
    assert_eq!(comps[1]["type"], "decode");
    assert_eq!(comps[1]["replicas"], json!(8));
    assert_rbac_covers(&e.fake);
}
