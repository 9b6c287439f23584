//! Options for `validate --kube`, their parsing (tolerations, routing, router mode, model) and the
//! run ID. Everything here is validated before any request reaches the cluster.

use std::collections::BTreeMap;
use std::fmt;
use std::hash::{BuildHasher, Hasher};
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use sha2::{Digest, Sha256};

use crate::KubeError;

/// Default Dynamo runtime image for frontend and workers (upstream's pinned 1.2.1 CUDA 13 build).
pub const DEFAULT_DYNAMO_IMAGE: &str = "nvcr.io/nvidia/ai-dynamo/vllm-runtime:1.2.1-cuda13";
/// Default EPP image for `gateway-epp` routing.
pub const DEFAULT_EPP_IMAGE: &str = "nvcr.io/nvidia/ai-dynamo/epp-image:1.2.1";
/// Default model (upstream's `inferenceModel`).
pub const DEFAULT_MODEL: &str = "Qwen/Qwen3-8B";

/// How requests reach the workers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Routing {
    /// Dynamo frontend with its own router (`DYN_ROUTER_MODE`).
    #[default]
    DynamoRouter,
    /// Gateway API inference extension: EPP picks the worker, each worker has a direct-mode frontend.
    GatewayEpp,
}

impl Routing {
    /// The recipe spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Routing::DynamoRouter => "dynamo-router",
            Routing::GatewayEpp => "gateway-epp",
        }
    }
}

impl FromStr for Routing {
    type Err = KubeError;
    fn from_str(s: &str) -> Result<Self, KubeError> {
        match s.trim() {
            "" | "dynamo-router" => Ok(Routing::DynamoRouter),
            "gateway-epp" => Ok(Routing::GatewayEpp),
            other => Err(KubeError::InvalidOption {
                what: "routing mode",
                value: other.to_string(),
                expected: "one of dynamo-router, gateway-epp".into(),
            }),
        }
    }
}

/// Dynamo frontend router modes, in upstream's order (used in the error message).
pub const ROUTER_MODES: [&str; 6] = [
    "kv",
    "round-robin",
    "random",
    "power-of-two",
    "least-loaded",
    "device-aware-weighted",
];

/// A validated `DYN_ROUTER_MODE` value (default `least-loaded`, case-sensitive, trimmed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouterMode(String);

impl Default for RouterMode {
    fn default() -> Self {
        RouterMode("least-loaded".into())
    }
}

impl RouterMode {
    /// The value as written into `DYN_ROUTER_MODE`.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for RouterMode {
    type Err = KubeError;
    fn from_str(s: &str) -> Result<Self, KubeError> {
        let t = s.trim();
        if t.is_empty() {
            return Ok(RouterMode::default());
        }
        if ROUTER_MODES.contains(&t) {
            Ok(RouterMode(t.to_string()))
        } else {
            Err(KubeError::InvalidOption {
                what: "router mode",
                value: t.to_string(),
                expected: format!("one of {}", ROUTER_MODES.join(", ")),
            })
        }
    }
}

/// Validate a Hugging Face model ID (`^[A-Za-z0-9][A-Za-z0-9._/-]*$`), as upstream does before
/// the ID reaches a manifest or an argv.
pub fn validate_model(model: &str) -> Result<(), KubeError> {
    let mut chars = model.chars();
    let first_ok = chars.next().is_some_and(|c| c.is_ascii_alphanumeric());
    let rest_ok = chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '/' | '-'));
    if first_ok && rest_ok {
        Ok(())
    } else {
        Err(KubeError::InvalidOption {
            what: "inference model",
            value: model.to_string(),
            expected: "a Hugging Face model ID (characters [A-Za-z0-9._/-], starting with a letter or digit)".into(),
        })
    }
}

/// A secret value (the Hugging Face token). Never printed: `Debug` and `Display` are redacted.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wrap a token; surrounding whitespace is trimmed and an empty token is `None` (anonymous).
    pub fn new(raw: &str) -> Option<Secret> {
        let t = raw.trim();
        (!t.is_empty()).then(|| Secret(t.to_string()))
    }

    /// The raw value, only for writing it into the Secret object.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret([redacted])")
    }
}

/// Taint effects a toleration may name.
const EFFECTS: [&str; 3] = ["NoSchedule", "PreferNoSchedule", "NoExecute"];

/// A pod toleration, parsed from upstream's CLI forms `key=value:Effect`, `key:Effect` or `*`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Toleration {
    /// Taint key (`None` with `Exists` = tolerate everything).
    pub key: Option<String>,
    /// `Equal` or `Exists`.
    pub operator: &'static str,
    /// Taint value for `Equal`.
    pub value: Option<String>,
    /// Taint effect (`None` = every effect).
    pub effect: Option<String>,
}

impl Toleration {
    /// The toleration that tolerates every taint (`*`).
    pub fn everything() -> Self {
        Toleration {
            key: None,
            operator: "Exists",
            value: None,
            effect: None,
        }
    }

    /// Mirror a node taint as an `Equal` toleration (upstream `buildTolerations`).
    pub fn for_taint(key: &str, value: Option<&str>, effect: &str) -> Self {
        Toleration {
            key: Some(key.to_string()),
            operator: "Equal",
            value: value.map(str::to_string),
            effect: Some(effect.to_string()),
        }
    }

    /// The Kubernetes JSON form.
    pub fn to_json(&self) -> serde_json::Value {
        let mut m = serde_json::Map::new();
        if let Some(k) = &self.key {
            m.insert("key".into(), k.clone().into());
        }
        m.insert("operator".into(), self.operator.into());
        if let Some(v) = &self.value {
            m.insert("value".into(), v.clone().into());
        }
        if let Some(e) = &self.effect {
            m.insert("effect".into(), e.clone().into());
        }
        serde_json::Value::Object(m)
    }
}

impl FromStr for Toleration {
    type Err = KubeError;
    fn from_str(s: &str) -> Result<Self, KubeError> {
        let t = s.trim();
        let bad = |why: &str| KubeError::InvalidOption {
            what: "toleration",
            value: t.to_string(),
            expected: format!(
                "key=value:Effect, key:Effect or * with Effect one of {} ({why})",
                EFFECTS.join(", ")
            ),
        };
        if t == "*" {
            return Ok(Toleration::everything());
        }
        let (left, effect) = t.rsplit_once(':').ok_or_else(|| bad("missing :Effect"))?;
        if !EFFECTS.contains(&effect) {
            return Err(bad("unknown effect"));
        }
        let (key, value) = match left.split_once('=') {
            Some((k, v)) => (k, Some(v)),
            None => (left, None),
        };
        if key.is_empty() {
            return Err(bad("empty key"));
        }
        Ok(Toleration {
            key: Some(key.to_string()),
            operator: if value.is_some() { "Equal" } else { "Exists" },
            value: value.map(str::to_string),
            effect: Some(effect.to_string()),
        })
    }
}

/// Parse `k=v` node-selector entries (the `--node-selector` flag, repeatable or comma-joined).
pub fn parse_node_selector(items: &[String]) -> Result<BTreeMap<String, String>, KubeError> {
    let mut out = BTreeMap::new();
    for item in items.iter().flat_map(|s| s.split(',')) {
        let item = item.trim();
        if item.is_empty() {
            continue;
        }
        match item.split_once('=') {
            Some((k, v)) if !k.is_empty() => {
                out.insert(k.to_string(), v.to_string());
            }
            _ => {
                return Err(KubeError::InvalidOption {
                    what: "node selector",
                    value: item.to_string(),
                    expected: "key=value (e.g. kubernetes.io/hostname=gpu-node-1)".into(),
                })
            }
        }
    }
    Ok(out)
}

/// Go's `strconv.ParseBool` truthiness, as upstream applies it to
/// `AICR_INFERENCE_PERF_NO_CLEANUP`: `1, t, T, TRUE, true, True` are true; anything else
/// (including `yes` and parse errors) is false. Surrounding whitespace is trimmed.
pub fn parse_truthy(value: &str) -> bool {
    matches!(value.trim(), "1" | "t" | "T" | "TRUE" | "true" | "True")
}

/// Whether to keep everything: `INFERGATE_NO_CLEANUP` or upstream's
/// `AICR_INFERENCE_PERF_NO_CLEANUP` is truthy (see [`parse_truthy`]). `get` reads the environment.
pub fn no_cleanup_from_env(get: impl Fn(&str) -> Option<String>) -> bool {
    ["INFERGATE_NO_CLEANUP", "AICR_INFERENCE_PERF_NO_CLEANUP"]
        .iter()
        .any(|k| get(k).is_some_and(|v| parse_truthy(&v)))
}

/// Every bound the flow uses. Poll intervals are here so tests can run in milliseconds.
#[derive(Debug, Clone)]
pub struct Timeouts {
    /// DGD readiness (upstream `InferenceWorkloadReadyTimeout`, 10 min).
    pub workload_ready: Duration,
    /// Load pod appearance (upstream `InferencePerfPodTimeout`, 5 min).
    pub pod_start: Duration,
    /// Load pod completion (upstream `InferencePerfJobTimeout`, 15 min).
    pub job: Duration,
    /// Each cleanup step (upstream `K8sCleanupTimeout`, 30 s).
    pub cleanup_step: Duration,
    /// Any single API call (upstream `DiagnosticTimeout`, 2 min).
    pub api_call: Duration,
    /// Sleep between polls of a condition.
    pub poll_interval: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Timeouts {
            workload_ready: Duration::from_secs(600),
            pod_start: Duration::from_secs(300),
            job: Duration::from_secs(900),
            cleanup_step: Duration::from_secs(30),
            api_call: Duration::from_secs(120),
            poll_interval: Duration::from_secs(2),
        }
    }
}

/// Everything `validate --kube` needs to know about the cluster side.
#[derive(Debug, Clone)]
pub struct KubeOptions {
    /// Explicit kubeconfig file (else `KUBECONFIG`, `~/.kube/config`, then in-cluster).
    pub kubeconfig: Option<PathBuf>,
    /// Kubeconfig context (else the current context).
    pub context: Option<String>,
    /// Namespace for the load Job; `None` = the per-run namespace.
    pub namespace: Option<String>,
    /// Narrows candidate GPU nodes (exact match on every key).
    pub node_selector: BTreeMap<String, String>,
    /// Tolerations for the workload; empty = mirror the chosen node's taints.
    pub tolerations: Vec<Toleration>,
    /// `--run-id` (hashed into 8 hex chars); `None` = random.
    pub run_id: Option<String>,
    /// Keep everything for inspection instead of deleting it.
    pub no_cleanup: bool,
    /// The infergate image the load Job runs.
    pub image: String,
    /// Dynamo runtime image for frontend and workers.
    pub dynamo_image: String,
    /// EPP image (gateway-epp routing).
    pub epp_image: String,
    /// Routing mode (recipe `inference-routing-mode`).
    pub routing: Routing,
    /// Frontend `DYN_ROUTER_MODE` (dynamo-router routing only; validated either way).
    pub router_mode: RouterMode,
    /// Served model ID.
    pub model: String,
    /// Hugging Face token, stored in a Secret that containers reference optionally.
    pub hf_token: Option<Secret>,
    /// All bounds.
    pub timeouts: Timeouts,
}

impl KubeOptions {
    /// Options with upstream's defaults and the given load image.
    pub fn new(image: impl Into<String>) -> Self {
        KubeOptions {
            kubeconfig: None,
            context: None,
            namespace: None,
            node_selector: BTreeMap::new(),
            tolerations: Vec::new(),
            run_id: None,
            no_cleanup: false,
            image: image.into(),
            dynamo_image: DEFAULT_DYNAMO_IMAGE.into(),
            epp_image: DEFAULT_EPP_IMAGE.into(),
            routing: Routing::default(),
            router_mode: RouterMode::default(),
            model: DEFAULT_MODEL.into(),
            hf_token: None,
            timeouts: Timeouts::default(),
        }
    }

    /// Check everything that can be checked without a cluster.
    pub fn validate(&self) -> Result<(), KubeError> {
        validate_model(&self.model)?;
        for (what, v) in [
            ("load image", &self.image),
            ("dynamo image", &self.dynamo_image),
            ("epp image", &self.epp_image),
        ] {
            if v.trim().is_empty() || v.chars().any(char::is_whitespace) {
                return Err(KubeError::InvalidOption {
                    what,
                    value: v.clone(),
                    expected: "a container image reference without whitespace".into(),
                });
            }
        }
        if let Some(ns) = &self.namespace {
            if !is_dns_label(ns) {
                return Err(KubeError::InvalidOption {
                    what: "namespace",
                    value: ns.clone(),
                    expected: "a DNS-1123 label (lowercase letters, digits, '-', at most 63 chars)"
                        .into(),
                });
            }
        }
        Ok(())
    }
}

/// True for a valid DNS-1123 label.
pub(crate) fn is_dns_label(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 63
        && s.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && !s.starts_with('-')
        && !s.ends_with('-')
}

/// The 8-hex-char run ID: the first 4 bytes of SHA-256(`run_id`) when given (so a re-run with the
/// same ID reuses the same names), else 4 random bytes.
pub fn derive_run_id(run_id: Option<&str>) -> String {
    match run_id.map(str::trim).filter(|s| !s.is_empty()) {
        Some(id) => hex::encode(&Sha256::digest(id.as_bytes())[..4]),
        None => {
            // RandomState is seeded from the OS's randomness; mixing in the time and a
            // process-wide counter keeps two calls in one process distinct.
            static COUNTER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
            let mut h = std::collections::hash_map::RandomState::new().build_hasher();
            h.write_u128(
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map(|d| d.as_nanos())
                    .unwrap_or_default(),
            );
            h.write_u64(COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed));
            h.write_u32(std::process::id());
            hex::encode(&h.finish().to_le_bytes()[..4])
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn run_id_is_8_hex_deterministic_and_random_when_unset() {
        let a = derive_run_id(Some("ci-123"));
        assert_eq!(a.len(), 8);
        assert!(a
            .chars()
            .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase()));
        assert_eq!(a, derive_run_id(Some("ci-123")));
        assert_ne!(a, derive_run_id(Some("ci-124")));
        // sha256("ci-123")[..4], computed independently.
        assert_eq!(a, hex::encode(&Sha256::digest(b"ci-123")[..4]));
        let r1 = derive_run_id(None);
        let r2 = derive_run_id(None);
        assert_eq!(r1.len(), 8);
        assert_ne!(r1, r2);
    }

    #[test]
    fn tolerations_parse_the_three_forms() {
        let t: Toleration = "gpu=true:NoSchedule".parse().unwrap();
        assert_eq!(
            t.to_json(),
            serde_json::json!({"key":"gpu","operator":"Equal","value":"true","effect":"NoSchedule"})
        );
        let t: Toleration = "nvidia.com/gpu:NoExecute".parse().unwrap();
        assert_eq!(
            t.to_json(),
            serde_json::json!({"key":"nvidia.com/gpu","operator":"Exists","effect":"NoExecute"})
        );
        let t: Toleration = "*".parse().unwrap();
        assert_eq!(t.to_json(), serde_json::json!({"operator":"Exists"}));
        // A value with YAML-special characters survives verbatim.
        let t: Toleration = "k=a: b#{c}:NoSchedule".parse().unwrap();
        assert_eq!(t.value.as_deref(), Some("a: b#{c}"));
    }

    #[test]
    fn tolerations_reject_bad_forms_naming_the_value() {
        for bad in [
            "gpu=true",
            "gpu:Sometimes",
            ":NoSchedule",
            "=v:NoSchedule",
            "",
        ] {
            let e = bad.parse::<Toleration>().unwrap_err().to_string();
            assert!(
                e.contains("toleration") && e.contains("NoSchedule, PreferNoSchedule, NoExecute"),
                "{bad}: {e}"
            );
        }
    }

    #[test]
    fn router_mode_and_routing_follow_upstream_rules() {
        assert_eq!(" ".parse::<RouterMode>().unwrap().as_str(), "least-loaded");
        for m in ROUTER_MODES {
            assert_eq!(format!(" {m} ").parse::<RouterMode>().unwrap().as_str(), m);
        }
        for bad in ["fastest", "direct", "KV"] {
            let e = bad.parse::<RouterMode>().unwrap_err().to_string();
            assert!(e.contains(bad) && e.contains("kv, round-robin, random, power-of-two, least-loaded, device-aware-weighted"));
        }
        assert_eq!("".parse::<Routing>().unwrap(), Routing::DynamoRouter);
        assert_eq!(
            "gateway-epp".parse::<Routing>().unwrap(),
            Routing::GatewayEpp
        );
        assert!("load-only".parse::<Routing>().unwrap_err().is_bad_input());
    }

    #[test]
    fn model_ids_are_checked() {
        for ok in [
            "Qwen/Qwen3-8B",
            "meta-llama/Llama-3.1-70B-Instruct",
            "gpt2",
            "org_x/model.v2",
        ] {
            validate_model(ok).unwrap();
        }
        for bad in ["$(touch x)", "a:b", "a\"b", "a b", "a\nb", "", "../etc"] {
            assert!(validate_model(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn secret_is_redacted_and_trimmed() {
        let s = Secret::new("  hf_abc ").unwrap();
        assert_eq!(s.expose(), "hf_abc");
        assert!(!format!("{s:?}").contains("hf_abc"));
        assert!(Secret::new("  ").is_none());
        let mut o = KubeOptions::new("img:1");
        o.hf_token = Some(s);
        assert!(!format!("{o:?}").contains("hf_abc"));
    }

    #[test]
    fn no_cleanup_truthiness_matches_go_parsebool() {
        for t in ["1", "t", "T", "TRUE", "true", "True", " 1 "] {
            assert!(parse_truthy(t), "{t}");
        }
        for f in ["0", "yes", "on", "tRuE", "", "2"] {
            assert!(!parse_truthy(f), "{f}");
        }
        let env = |pairs: &'static [(&'static str, &'static str)]| {
            move |k: &str| {
                pairs
                    .iter()
                    .find(|(n, _)| *n == k)
                    .map(|(_, v)| v.to_string())
            }
        };
        assert!(no_cleanup_from_env(env(&[(
            "AICR_INFERENCE_PERF_NO_CLEANUP",
            "true"
        )])));
        assert!(no_cleanup_from_env(env(&[("INFERGATE_NO_CLEANUP", "1")])));
        assert!(!no_cleanup_from_env(env(&[(
            "INFERGATE_NO_CLEANUP",
            "yes"
        )])));
        assert!(!no_cleanup_from_env(env(&[])));
    }

    #[test]
    fn node_selector_parses_and_rejects() {
        let m = parse_node_selector(&["a=1,b=2".into(), "c=".into()]).unwrap();
        assert_eq!(m.len(), 3);
        assert_eq!(m["c"], "");
        assert!(parse_node_selector(&["nokey".into()]).is_err());
    }
}
