//! Pure rendering of every object this crate creates (namespace, HF-token Secret, DGD, load Job),
//! as JSON values. No I/O: the request-level tests assert on exactly these bodies.

use serde_json::{json, Map, Value};

use crate::options::{KubeOptions, Routing, Toleration};
use crate::KubeError;

/// Label that marks objects (and the namespace) as created by infergate.
pub const MANAGED_BY_KEY: &str = "app.kubernetes.io/managed-by";
/// Value of [`MANAGED_BY_KEY`].
pub const MANAGED_BY_VALUE: &str = "infergate";
/// Label naming the check.
pub const COMPONENT_KEY: &str = "app.kubernetes.io/component";
/// Value of [`COMPONENT_KEY`].
pub const COMPONENT_VALUE: &str = "inference-perf";
/// Label carrying the 8-hex run ID.
pub const RUN_ID_KEY: &str = "infergate/run-id";
/// Field manager for server-side apply.
pub const FIELD_MANAGER: &str = "infergate";
/// DGD name (its frontend Service is `<name>-frontend`).
pub const DGD_NAME: &str = "infergate-perf";
/// Per-run namespace = prefix + `-` + run ID.
pub const NAMESPACE_PREFIX: &str = "infergate-perf";
/// Load Job = prefix + `-` + run ID.
pub const JOB_PREFIX: &str = "infergate-load";
/// Secret holding the Hugging Face token under key `token`.
pub const HF_SECRET_NAME: &str = "infergate-hf-token";
/// Where the Dockerfile puts the binary.
pub const LOAD_BINARY: &str = "/usr/local/bin/infergate";
/// Container names in the load pod.
pub const LOAD_CONTAINER: &str = "load";
/// Init container that waits for a real completion before the load starts.
pub const PROBE_CONTAINER: &str = "probe";
/// Seconds a finished load Job is kept before Kubernetes garbage-collects it.
pub const JOB_TTL_SECONDS: i64 = 3600;
/// The GPU resource of the NVIDIA device plugin.
pub const GPU_RESOURCE: &str = "nvidia.com/gpu";

const TEMPLATE_ROUTER: &str = include_str!("../templates/dynamo-deployment.yaml");
const TEMPLATE_EPP: &str = include_str!("../templates/dynamo-deployment-gateway-epp.yaml");

/// The ownership labels every created object carries.
pub fn ownership_labels(run_id: &str) -> Map<String, Value> {
    let mut m = Map::new();
    m.insert(MANAGED_BY_KEY.into(), MANAGED_BY_VALUE.into());
    m.insert(COMPONENT_KEY.into(), COMPONENT_VALUE.into());
    m.insert(RUN_ID_KEY.into(), run_id.into());
    m
}

/// The per-run namespace object.
pub fn render_namespace(name: &str, run_id: &str) -> Value {
    json!({
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {"name": name, "labels": ownership_labels(run_id)},
    })
}

/// The Opaque Secret holding the Hugging Face token (base64 in `data`, as the API stores it).
pub fn render_hf_secret(namespace: &str, run_id: &str, token: &str) -> Value {
    let encoded = serde_json::to_value(k8s_openapi::ByteString(token.as_bytes().to_vec()))
        .unwrap_or(Value::Null);
    json!({
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": HF_SECRET_NAME, "namespace": namespace, "labels": ownership_labels(run_id)},
        "type": "Opaque",
        "data": {"token": encoded},
    })
}

/// Which template a routing mode uses.
pub fn template_name(routing: Routing) -> &'static str {
    match routing {
        Routing::DynamoRouter => "dynamo-deployment.yaml",
        Routing::GatewayEpp => "dynamo-deployment-gateway-epp.yaml",
    }
}

/// Render the DGD: parse the template, substitute placeholders inside string values, then pin every
/// component to `node` and give GPU components one `nvidia.com/gpu` each (upstream §2.5.1).
pub fn render_dgd(
    opts: &KubeOptions,
    namespace: &str,
    run_id: &str,
    node: &str,
    workers: u64,
    tolerations: &[Toleration],
) -> Result<Value, KubeError> {
    let template = template_name(opts.routing);
    let text = match opts.routing {
        Routing::DynamoRouter => TEMPLATE_ROUTER,
        Routing::GatewayEpp => TEMPLATE_EPP,
    };
    let bad = |message: String| KubeError::Template { template, message };
    let mut dgd: Value = serde_saphyr::from_str(text).map_err(|e| bad(e.to_string()))?;
    let vars: [(&str, &str); 7] = [
        ("DEPLOYMENT_NAME", DGD_NAME),
        ("NAMESPACE", namespace),
        ("MODEL", &opts.model),
        ("ROUTER_MODE", opts.router_mode.as_str()),
        ("DYNAMO_IMAGE", &opts.dynamo_image),
        ("EPP_IMAGE", &opts.epp_image),
        ("HF_SECRET_NAME", HF_SECRET_NAME),
    ];
    substitute(&mut dgd, &vars, workers);

    if let Some(meta) = dgd.get_mut("metadata").and_then(Value::as_object_mut) {
        meta.insert("labels".into(), Value::Object(ownership_labels(run_id)));
    }
    let components = dgd
        .pointer_mut("/spec/components")
        .and_then(Value::as_array_mut)
        .ok_or_else(|| bad("spec.components not found in DynamoGraphDeployment".into()))?;
    let tolerations: Vec<Value> = tolerations.iter().map(Toleration::to_json).collect();
    for component in components.iter_mut() {
        apply_scheduling(component, node, &tolerations).map_err(bad)?;
    }
    Ok(dgd)
}

/// Replace `${KEY}` for the known keys inside every string; a string that is exactly
/// `${GPU_COUNT}` becomes a number. Unknown `${...}` (shell syntax) is left alone.
fn substitute(v: &mut Value, vars: &[(&str, &str)], gpu_count: u64) {
    match v {
        Value::String(s) => {
            if s == "${GPU_COUNT}" {
                *v = Value::from(gpu_count);
                return;
            }
            for (k, val) in vars {
                let placeholder = format!("${{{k}}}");
                if s.contains(&placeholder) {
                    *s = s.replace(&placeholder, val);
                }
            }
        }
        Value::Array(a) => a.iter_mut().for_each(|x| substitute(x, vars, gpu_count)),
        Value::Object(o) => o.values_mut().for_each(|x| substitute(x, vars, gpu_count)),
        _ => {}
    }
}

/// Does this component run vLLM on a GPU?
fn is_gpu_component(component: &Value) -> bool {
    let ty = component.get("type").and_then(Value::as_str).unwrap_or("");
    let name = component.get("name").and_then(Value::as_str).unwrap_or("");
    matches!(ty, "worker" | "decode" | "prefill") || name == "VllmDecodeWorker"
}

/// Pin to the node, set tolerations, and wire one GPU into the `main` container of GPU components.
fn apply_scheduling(
    component: &mut Value,
    node: &str,
    tolerations: &[Value],
) -> Result<(), String> {
    let gpu = is_gpu_component(component);
    let obj = component
        .as_object_mut()
        .ok_or("a spec.components entry is not a map")?;
    let pod_spec = obj
        .entry("podTemplate")
        .or_insert_with(|| json!({}))
        .as_object_mut()
        .ok_or("podTemplate is not a map")?
        .entry("spec")
        .or_insert_with(|| json!({}))
        .as_object_mut()
        .ok_or("podTemplate.spec is not a map")?;
    pod_spec.insert(
        "nodeSelector".into(),
        json!({"kubernetes.io/hostname": node}),
    );
    if !tolerations.is_empty() {
        pod_spec.insert("tolerations".into(), Value::Array(tolerations.to_vec()));
    }
    if !gpu {
        return Ok(());
    }
    let containers = pod_spec
        .entry("containers")
        .or_insert_with(|| json!([]))
        .as_array_mut()
        .ok_or("podTemplate.spec.containers is not a list")?;
    if !containers
        .iter()
        .any(|c| c.get("name").and_then(Value::as_str) == Some("main"))
    {
        containers.push(json!({"name": "main"}));
    }
    for c in containers.iter_mut() {
        if c.get("name").and_then(Value::as_str) != Some("main") {
            continue; // sidecars keep their own resources
        }
        let limits = c
            .as_object_mut()
            .ok_or("container is not a map")?
            .entry("resources")
            .or_insert_with(|| json!({}))
            .as_object_mut()
            .ok_or("resources is not a map")?
            .entry("limits")
            .or_insert_with(|| json!({}))
            .as_object_mut()
            .ok_or("resources.limits is not a map")?;
        limits.insert(GPU_RESOURCE.into(), "1".into());
    }
    Ok(())
}

/// What the load Job runs and where.
#[derive(Debug, Clone)]
pub struct LoadJobSpec<'a> {
    /// Job namespace.
    pub namespace: &'a str,
    /// Job name.
    pub name: &'a str,
    /// Run ID (label).
    pub run_id: &'a str,
    /// The infergate image.
    pub image: &'a str,
    /// Arguments after `infergate probe` for the readiness init container; `None` = no probe.
    pub probe_args: Option<&'a [String]>,
    /// Arguments after `infergate bench`; `--result-sentinel <S>` is appended.
    pub bench_args: &'a [String],
    /// The sentinel framing the result JSON in the log.
    pub sentinel: &'a str,
    /// Hard deadline for the whole Job (so it cannot outlive a crashed caller for long).
    pub active_deadline_seconds: i64,
}

/// `Always` for a mutable tag (`:latest` or none), else `IfNotPresent`.
fn pull_policy(image: &str) -> &'static str {
    let last = image.rsplit('/').next().unwrap_or(image);
    let tag = last.split_once('@').map(|(n, _)| n).unwrap_or(last);
    if image.contains('@') {
        return "IfNotPresent"; // pinned by digest
    }
    match tag.split_once(':') {
        Some((_, "latest")) | None => "Always",
        Some(_) => "IfNotPresent",
    }
}

/// The batch/v1 Job running the load: `backoffLimit 0`, TTL, `restartPolicy Never`, tolerates
/// everything (like upstream's AIPerf Job), exec argv only (the image has no shell), non-root,
/// read-only root filesystem with an emptyDir at /tmp.
pub fn render_load_job(spec: &LoadJobSpec<'_>) -> Value {
    let labels = ownership_labels(spec.run_id);
    let container_security = json!({
        "allowPrivilegeEscalation": false,
        "readOnlyRootFilesystem": true,
        "runAsNonRoot": true,
        "capabilities": {"drop": ["ALL"]},
    });
    let mut bench: Vec<Value> = vec!["bench".into()];
    bench.extend(spec.bench_args.iter().map(|a| Value::from(a.as_str())));
    bench.push("--result-sentinel".into());
    bench.push(spec.sentinel.into());
    let mount = json!([{"name": "tmp", "mountPath": "/tmp"}]);
    let mut pod_spec = json!({
        "restartPolicy": "Never",
        "automountServiceAccountToken": false,
        "tolerations": [{"operator": "Exists"}],
        "securityContext": {"runAsNonRoot": true, "runAsUser": 65532, "runAsGroup": 65532, "seccompProfile": {"type": "RuntimeDefault"}},
        "volumes": [{"name": "tmp", "emptyDir": {}}],
        "containers": [{
            "name": LOAD_CONTAINER,
            "image": spec.image,
            "imagePullPolicy": pull_policy(spec.image),
            "command": [LOAD_BINARY],
            "args": bench,
            "securityContext": container_security,
            "volumeMounts": mount,
        }],
    });
    if let Some(probe_args) = spec.probe_args {
        let mut args: Vec<Value> = vec!["probe".into()];
        args.extend(probe_args.iter().map(|a| Value::from(a.as_str())));
        pod_spec["initContainers"] = json!([{
            "name": PROBE_CONTAINER,
            "image": spec.image,
            "imagePullPolicy": pull_policy(spec.image),
            "command": [LOAD_BINARY],
            "args": args,
            "securityContext": container_security,
            "volumeMounts": mount,
        }]);
    }
    json!({
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": spec.name, "namespace": spec.namespace, "labels": labels},
        "spec": {
            "backoffLimit": 0,
            "ttlSecondsAfterFinished": JOB_TTL_SECONDS,
            "activeDeadlineSeconds": spec.active_deadline_seconds,
            "template": {
                "metadata": {"labels": labels},
                "spec": pod_spec,
            },
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts() -> KubeOptions {
        KubeOptions::new("ghcr.io/x/infergate:0.1.0")
    }

    fn main_container(component: &Value) -> &Value {
        component["podTemplate"]["spec"]["containers"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["name"] == "main")
            .unwrap()
    }

    #[test]
    fn router_template_renders_workers_pins_and_router_mode() {
        let mut o = opts();
        o.router_mode = "kv".parse().unwrap();
        let tol = vec![Toleration::for_taint("gpu", Some("a: b#"), "NoSchedule")];
        let dgd = render_dgd(&o, "infergate-perf-1a2b3c4d", "1a2b3c4d", "node-a", 6, &tol).unwrap();
        assert_eq!(dgd["apiVersion"], "nvidia.com/v1beta1");
        assert_eq!(dgd["metadata"]["name"], DGD_NAME);
        assert_eq!(dgd["metadata"]["namespace"], "infergate-perf-1a2b3c4d");
        let comps = dgd["spec"]["components"].as_array().unwrap();
        let fe = &comps[0];
        let worker = &comps[1];
        assert_eq!(worker["replicas"], json!(6));
        let fe_env = main_container(fe)["env"].as_array().unwrap();
        assert!(fe_env.contains(&json!({"name": "DYN_ROUTER_MODE", "value": "kv"})));
        assert!(fe_env.contains(&json!({"name": "SERVED_MODEL_NAME", "value": "Qwen/Qwen3-8B"})));
        for c in [fe, worker] {
            assert_eq!(
                c["podTemplate"]["spec"]["nodeSelector"],
                json!({"kubernetes.io/hostname": "node-a"})
            );
            assert_eq!(c["podTemplate"]["spec"]["tolerations"][0]["value"], "a: b#");
        }
        assert_eq!(
            main_container(worker)["resources"]["limits"][GPU_RESOURCE],
            "1"
        );
        assert!(
            main_container(fe).get("resources").is_none(),
            "frontend never gets a GPU"
        );
        let cmd = main_container(worker)["command"].as_array().unwrap();
        assert_eq!(cmd.len(), 4);
        assert!(cmd[2]
            .as_str()
            .unwrap()
            .contains("${LD_LIBRARY_PATH:+${LD_LIBRARY_PATH}:}"));
        assert_eq!(main_container(worker)["args"][0], "--model");
        assert_eq!(
            main_container(worker)["image"],
            crate::options::DEFAULT_DYNAMO_IMAGE
        );
    }

    #[test]
    fn scalar_looking_models_stay_strings() {
        for m in ["123", "1.5", "true", "null"] {
            let mut o = opts();
            o.model = m.into();
            let dgd = render_dgd(&o, "ns", "r", "n", 1, &[]).unwrap();
            let env = &dgd["spec"]["components"][0]["podTemplate"]["spec"]["containers"][0]["env"];
            assert_eq!(env[0], json!({"name": "SERVED_MODEL_NAME", "value": m}));
            assert_eq!(
                dgd["spec"]["components"][1]["podTemplate"]["spec"]["containers"][0]["args"][1],
                json!(m)
            );
        }
    }

    #[test]
    fn epp_template_renders_decode_workers_with_sidecar_untouched() {
        let mut o = opts();
        o.routing = Routing::GatewayEpp;
        let dgd = render_dgd(&o, "ns", "r", "node-b", 2, &[]).unwrap();
        let comps = dgd["spec"]["components"].as_array().unwrap();
        assert_eq!(comps[0]["type"], "epp");
        assert_eq!(
            main_container(&comps[0])["image"],
            crate::options::DEFAULT_EPP_IMAGE
        );
        let w = &comps[1];
        assert_eq!(w["type"], "decode");
        assert_eq!(w["replicas"], json!(2));
        assert_eq!(main_container(w)["resources"]["limits"][GPU_RESOURCE], "1");
        let sidecar = &w["podTemplate"]["spec"]["containers"][1];
        assert_eq!(sidecar["name"], "sidecar-frontend");
        assert!(sidecar.get("resources").is_none());
        assert!(
            w["podTemplate"]["spec"].get("tolerations").is_none(),
            "no taints, no tolerations"
        );
        assert!(!dgd.to_string().contains("${ROUTER_MODE}"));
    }

    #[test]
    fn gpu_limit_preserves_other_limits_and_appends_main() {
        let mut c = json!({"name": "W", "type": "worker", "podTemplate": {"spec": {"containers": [
            {"name": "side", "image": "s"}]}}});
        apply_scheduling(&mut c, "n", &[]).unwrap();
        let cs = c["podTemplate"]["spec"]["containers"].as_array().unwrap();
        assert_eq!(cs.len(), 2);
        assert!(cs[0].get("resources").is_none());
        assert_eq!(cs[1]["resources"]["limits"][GPU_RESOURCE], "1");
        let mut c = json!({"name": "W", "type": "worker", "podTemplate": {"spec": {"containers": [
            {"name": "main", "resources": {"limits": {"memory": "2Gi"}}}]}}});
        apply_scheduling(&mut c, "n", &[]).unwrap();
        assert_eq!(
            c["podTemplate"]["spec"]["containers"][0]["resources"]["limits"],
            json!({"memory": "2Gi", "nvidia.com/gpu": "1"})
        );
    }

    #[test]
    fn secret_is_base64_in_data() {
        let s = render_hf_secret("ns", "r", "hf_x");
        assert_eq!(s["data"]["token"], "aGZfeA==");
        assert_eq!(s["metadata"]["name"], HF_SECRET_NAME);
    }

    #[test]
    fn pull_policy_follows_tag_mutability() {
        assert_eq!(pull_policy("ghcr.io/x/infergate:latest"), "Always");
        assert_eq!(pull_policy("infergate"), "Always");
        assert_eq!(pull_policy("localhost:5001/infergate"), "Always");
        assert_eq!(
            pull_policy("localhost:5001/infergate:0.1.0"),
            "IfNotPresent"
        );
        assert_eq!(
            pull_policy("ghcr.io/x/infergate@sha256:abc"),
            "IfNotPresent"
        );
    }
}
