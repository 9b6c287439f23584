//! Choosing the GPU node: candidates (Ready, schedulable, allocatable `nvidia.com/gpu`, narrowed by
//! the node selector), occupancy from non-terminal pods (Kubernetes' init/sidecar rules) and
//! allocated DRA claims, DRA device detection, and the winner (most free GPUs, ties by name).
//! The arithmetic is pure and unit-tested; `choose_node` only lists and feeds it.

use std::collections::{BTreeMap, BTreeSet};

use k8s_openapi::api::core::v1::{Node, Pod};
use kube::api::{ApiResource, ListParams};
use kube::Client;
use serde_json::Value;

use crate::api::{bounded, dra_resource, dyn_api, is_not_found, to_value, DRA_VERSIONS};
use crate::manifests::GPU_RESOURCE;
use crate::options::{KubeOptions, Toleration};
use crate::KubeError;

/// The DRA driver whose devices are GPUs.
pub const GPU_DRA_DRIVER: &str = "gpu.nvidia.com";

/// A node taint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Taint {
    /// Key.
    pub key: String,
    /// Value, if any.
    pub value: Option<String>,
    /// Effect.
    pub effect: String,
}

/// GPU accounting of one candidate node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeGpus {
    /// Node name.
    pub name: String,
    /// Allocatable `nvidia.com/gpu`.
    pub allocatable: u64,
    /// GPUs requested by non-terminal pods plus allocated DRA GPU devices.
    pub used: u64,
    /// `max(allocatable - used, 0)`.
    pub free: u64,
    /// Ready condition is True now.
    pub ready: bool,
}

/// The node the workload goes to, and what was seen while choosing it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeChoice {
    /// Node name (the workload is pinned by `kubernetes.io/hostname`).
    pub name: String,
    /// Allocatable GPUs (the full-node count, for scaling the throughput floor).
    pub allocatable_gpus: u64,
    /// GPUs in use by others.
    pub used_gpus: u64,
    /// Free GPUs = number of 1-GPU workers deployed.
    pub free_gpus: u64,
    /// The node's taints (mirrored as tolerations unless some were given).
    pub taints: Vec<Taint>,
    /// `node.kubernetes.io/instance-type`, if labelled.
    pub instance_type: Option<String>,
    /// Nodes publishing node-local `gpu.nvidia.com` DRA devices, with their device counts.
    pub dra_nodes: BTreeMap<String, u64>,
    /// Every candidate considered, sorted by name.
    pub candidates: Vec<NodeGpus>,
}

impl NodeChoice {
    /// The tolerations the workload gets: the given ones verbatim, else the node's taints mirrored
    /// (`node.kubernetes.io/*` condition taints are skipped, as upstream does).
    pub fn tolerations(&self, given: &[Toleration]) -> Vec<Toleration> {
        if !given.is_empty() {
            return given.to_vec();
        }
        self.taints
            .iter()
            .filter(|t| !t.key.starts_with("node.kubernetes.io/"))
            .map(|t| Toleration::for_taint(&t.key, t.value.as_deref(), &t.effect))
            .collect()
    }
}

/// Parse a GPU count quantity (`"8"`); GPUs are whole devices, so anything else is not a count.
pub fn parse_gpu_quantity(v: &Value) -> Option<u64> {
    match v {
        Value::String(s) => s.trim().parse().ok(),
        Value::Number(n) => n.as_u64(),
        _ => None,
    }
}

/// GPUs a container asks for: `requests["nvidia.com/gpu"]`, else `limits`.
fn container_gpus(c: &Value) -> Result<u64, String> {
    let res = &c["resources"];
    let q = res["requests"]
        .get(GPU_RESOURCE)
        .or_else(|| res["limits"].get(GPU_RESOURCE));
    match q {
        None => Ok(0),
        Some(v) => parse_gpu_quantity(v)
            .ok_or_else(|| format!("{GPU_RESOURCE} quantity {v} is not a whole number")),
    }
}

/// A pod's effective GPU request, following Kubernetes' resource rules: restartable init
/// containers (sidecars) keep running and add up; a one-shot init container needs the sidecars
/// started before it plus its own; the steady state is sidecars + regular containers; pod
/// overhead comes on top.
pub fn pod_effective_gpu_request(pod: &Value) -> Result<u64, String> {
    let spec = &pod["spec"];
    let mut sidecars = 0u64;
    let mut init_max = 0u64;
    for ic in spec["initContainers"].as_array().into_iter().flatten() {
        let g = container_gpus(ic)?;
        if ic["restartPolicy"] == "Always" {
            sidecars += g;
            init_max = init_max.max(sidecars);
        } else {
            init_max = init_max.max(sidecars + g);
        }
    }
    let mut regular = 0u64;
    for c in spec["containers"].as_array().into_iter().flatten() {
        regular += container_gpus(c)?;
    }
    let overhead = match spec["overhead"].get(GPU_RESOURCE) {
        None => 0,
        Some(v) => parse_gpu_quantity(v)
            .ok_or_else(|| format!("pod overhead {GPU_RESOURCE} {v} is not a whole number"))?,
    };
    Ok(init_max.max(sidecars + regular) + overhead)
}

/// DRA state read from ResourceSlices.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DraInventory {
    /// Node → node-local `gpu.nvidia.com` device count.
    pub devices_per_node: BTreeMap<String, u64>,
    /// Pool name → the node whose node-local slice publishes it.
    pub pool_nodes: BTreeMap<String, String>,
}

/// Build the DRA inventory from ResourceSlice objects (any served version; same fields).
pub fn dra_inventory(slices: &[Value]) -> DraInventory {
    let mut inv = DraInventory::default();
    for s in slices {
        let spec = &s["spec"];
        if spec["driver"] != GPU_DRA_DRIVER {
            continue;
        }
        let Some(node) = spec["nodeName"].as_str().filter(|n| !n.is_empty()) else {
            continue; // not node-local: not attributable to one node
        };
        let n = spec["devices"].as_array().map_or(0, Vec::len) as u64;
        *inv.devices_per_node.entry(node.to_string()).or_default() += n;
        if let Some(pool) = spec["pool"]["name"].as_str() {
            inv.pool_nodes.insert(pool.to_string(), node.to_string());
        }
    }
    inv
}

/// KEP-5004 claims generated for pods whose scalar `nvidia.com/gpu` request is served by DRA:
/// those GPUs are already counted through the pod, so the claim's GPU requests are skipped.
fn extended_claim_skips(pods: &[Value]) -> BTreeMap<String, BTreeSet<String>> {
    let mut skips: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for p in pods {
        let st = &p["status"]["extendedResourceClaimStatus"];
        let Some(claim) = st["resourceClaimName"].as_str() else {
            continue;
        };
        let ns = p["metadata"]["namespace"].as_str().unwrap_or_default();
        let set = skips.entry(format!("{ns}/{claim}")).or_default();
        for m in st["requestMappings"].as_array().into_iter().flatten() {
            if m["resourceName"] == GPU_RESOURCE {
                if let Some(r) = m["requestName"].as_str() {
                    set.insert(r.to_string());
                }
            }
        }
    }
    skips
}

/// Occupancy per node: pods' effective GPU requests (non-terminal, bound pods only) plus
/// allocated `gpu.nvidia.com` devices of DRA claims. Any doubt is an error, never "free".
pub fn occupancy(
    pods: &[Value],
    claims: &[Value],
    inv: &DraInventory,
) -> Result<BTreeMap<String, u64>, KubeError> {
    let mut used: BTreeMap<String, u64> = BTreeMap::new();
    let mut counted = Vec::new();
    for p in pods {
        let phase = p["status"]["phase"].as_str().unwrap_or("");
        if phase == "Succeeded" || phase == "Failed" {
            continue;
        }
        let Some(node) = p["spec"]["nodeName"].as_str().filter(|n| !n.is_empty()) else {
            continue;
        };
        let g = pod_effective_gpu_request(p).map_err(|e| {
            KubeError::Occupancy(format!(
                "pod {}/{}: {e}",
                p["metadata"]["namespace"].as_str().unwrap_or(""),
                p["metadata"]["name"].as_str().unwrap_or("")
            ))
        })?;
        *used.entry(node.to_string()).or_default() += g;
        counted.push(p.clone());
    }
    let skips = extended_claim_skips(&counted);
    for c in claims {
        let ns = c["metadata"]["namespace"].as_str().unwrap_or("");
        let name = c["metadata"]["name"].as_str().unwrap_or("");
        let key = format!("{ns}/{name}");
        for r in c["status"]["allocation"]["devices"]["results"]
            .as_array()
            .into_iter()
            .flatten()
        {
            if r["driver"] != GPU_DRA_DRIVER || r["adminAccess"] == true {
                continue;
            }
            let request = r["request"].as_str().unwrap_or("");
            let main_request = request.split('/').next().unwrap_or(request);
            if skips.get(&key).is_some_and(|s| s.contains(main_request)) {
                continue;
            }
            let pool = r["pool"].as_str().unwrap_or("");
            let node = inv.pool_nodes.get(pool).ok_or_else(|| {
                KubeError::Occupancy(format!(
                    "allocated ResourceClaim {key} holds a {GPU_DRA_DRIVER} device from pool {pool:?}, which no node-local {GPU_DRA_DRIVER} ResourceSlice publishes"
                ))
            })?;
            *used.entry(node.clone()).or_default() += 1;
        }
    }
    Ok(used)
}

/// What `select_node` needs to know about a node.
#[derive(Debug, Clone)]
pub struct NodeFacts {
    /// Name.
    pub name: String,
    /// Ready condition True.
    pub ready: bool,
    /// Cordoned.
    pub unschedulable: bool,
    /// Allocatable `nvidia.com/gpu`.
    pub allocatable: u64,
    /// Labels.
    pub labels: BTreeMap<String, String>,
    /// Taints.
    pub taints: Vec<Taint>,
}

/// Read the facts from a Node object.
pub fn node_facts(node: &Node) -> NodeFacts {
    let status = node.status.as_ref();
    let ready = status
        .and_then(|s| s.conditions.as_ref())
        .is_some_and(|cs| cs.iter().any(|c| c.type_ == "Ready" && c.status == "True"));
    let allocatable = status
        .and_then(|s| s.allocatable.as_ref())
        .and_then(|a| a.get(GPU_RESOURCE))
        .and_then(|q| q.0.trim().parse().ok())
        .unwrap_or(0);
    let spec = node.spec.as_ref();
    NodeFacts {
        name: node.metadata.name.clone().unwrap_or_default(),
        ready,
        unschedulable: spec.and_then(|s| s.unschedulable).unwrap_or(false),
        allocatable,
        labels: node.metadata.labels.clone().unwrap_or_default(),
        taints: spec
            .and_then(|s| s.taints.as_ref())
            .map(|ts| {
                ts.iter()
                    .map(|t| Taint {
                        key: t.key.clone(),
                        value: t.value.clone(),
                        effect: t.effect.clone(),
                    })
                    .collect()
            })
            .unwrap_or_default(),
    }
}

fn fmt_selector(sel: &BTreeMap<String, String>) -> String {
    sel.iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(",")
}

/// Pick the node: GPU nodes (allocatable > 0, not cordoned) → selector narrowing → Ready →
/// most free GPUs, ties to the lexicographically smaller name. Errors say why nothing fits.
pub fn select_node(
    nodes: &[NodeFacts],
    selector: &BTreeMap<String, String>,
    used: &BTreeMap<String, u64>,
    inv: &DraInventory,
    instance_types: &BTreeMap<String, String>,
) -> Result<NodeChoice, KubeError> {
    let gpu_nodes: Vec<&NodeFacts> = nodes
        .iter()
        .filter(|n| n.allocatable > 0 && !n.unschedulable)
        .collect();
    if gpu_nodes.is_empty() {
        if !inv.devices_per_node.is_empty() {
            let list: Vec<String> = inv
                .devices_per_node
                .iter()
                .map(|(n, c)| format!("{n} ({c} device(s))"))
                .collect();
            return Err(KubeError::NoGpuNode(format!(
                "no schedulable GPU node advertises scalar {GPU_RESOURCE}, but {} node(s) carry {GPU_DRA_DRIVER} DRA devices ({}) — a DRA-only cluster is not supported yet: infergate wires GPUs through the NVIDIA device plugin only (see docs/kubernetes.md)",
                list.len(),
                list.join(", ")
            )));
        }
        return Err(KubeError::NoGpuNode(format!(
            "no schedulable GPU nodes found (need a node that is not cordoned and has allocatable {GPU_RESOURCE} > 0)"
        )));
    }
    let matched: Vec<&NodeFacts> = gpu_nodes
        .into_iter()
        .filter(|n| selector.iter().all(|(k, v)| n.labels.get(k) == Some(v)))
        .collect();
    if matched.is_empty() {
        return Err(KubeError::NoGpuNode(format!(
            "no schedulable GPU nodes match --node-selector {}",
            fmt_selector(selector)
        )));
    }
    let mut candidates: Vec<NodeGpus> = matched
        .iter()
        .map(|n| {
            let u = used.get(&n.name).copied().unwrap_or(0);
            NodeGpus {
                name: n.name.clone(),
                allocatable: n.allocatable,
                used: u,
                free: n.allocatable.saturating_sub(u),
                ready: n.ready,
            }
        })
        .collect();
    candidates.sort_by(|a, b| a.name.cmp(&b.name));
    let best =
        candidates
            .iter()
            .filter(|c| c.ready)
            .fold(None::<&NodeGpus>, |best, c| match best {
                Some(b) if b.free >= c.free => Some(b), // sorted by name: the earlier name keeps a tie
                _ => Some(c),
            });
    let describe = |cs: &[NodeGpus]| {
        cs.iter()
            .map(|c| {
                format!(
                    "{}: {} allocatable, {} in use{}",
                    c.name,
                    c.allocatable,
                    c.used,
                    if c.ready { "" } else { ", NotReady" }
                )
            })
            .collect::<Vec<_>>()
            .join("; ")
    };
    let Some(best) = best else {
        return Err(KubeError::NoGpuNode(format!(
            "no Ready GPU node among {} candidate(s) ({})",
            candidates.len(),
            describe(&candidates)
        )));
    };
    if best.free == 0 {
        return Err(KubeError::NoGpuNode(format!(
            "no candidate GPU node has free GPUs ({} matched; {}) — free a node or pass --node-selector kubernetes.io/hostname=<empty-node>",
            candidates.len(),
            describe(&candidates)
        )));
    }
    let facts = matched.iter().find(|n| n.name == best.name).copied();
    Ok(NodeChoice {
        name: best.name.clone(),
        allocatable_gpus: best.allocatable,
        used_gpus: best.used,
        free_gpus: best.free,
        taints: facts.map(|f| f.taints.clone()).unwrap_or_default(),
        instance_type: instance_types.get(&best.name).cloned(),
        dra_nodes: inv.devices_per_node.clone(),
        candidates: candidates.clone(),
    })
}

/// List a `resource.k8s.io` resource at the newest served version; `Ok(vec![])` if none is served.
async fn list_dra(
    client: &Client,
    opts: &KubeOptions,
    kind: &str,
    plural: &str,
) -> Result<Vec<Value>, KubeError> {
    for v in DRA_VERSIONS {
        let ar: ApiResource = dra_resource(v, kind, plural);
        let api = dyn_api(client, &ar, None);
        match tokio::time::timeout(opts.timeouts.api_call, api.list(&ListParams::default())).await {
            Ok(Ok(list)) => return Ok(list.items.iter().map(to_value).collect()),
            Ok(Err(e)) if is_not_found(&e) => continue,
            Ok(Err(e)) => {
                return Err(KubeError::Occupancy(format!(
                    "list resource.k8s.io/{v} {plural}: {e}"
                )))
            }
            Err(_) => {
                return Err(KubeError::Occupancy(format!(
                    "list resource.k8s.io/{v} {plural}: no answer within {:?}",
                    opts.timeouts.api_call
                )))
            }
        }
    }
    Ok(Vec::new())
}

/// List nodes, pods, ResourceSlices and ResourceClaims, and choose the node.
pub async fn choose_node(client: &Client, opts: &KubeOptions) -> Result<NodeChoice, KubeError> {
    let limit = opts.timeouts.api_call;
    let nodes = bounded(
        limit,
        || "list nodes".into(),
        kube::Api::<Node>::all(client.clone()).list(&ListParams::default()),
    )
    .await?;
    let facts: Vec<NodeFacts> = nodes.items.iter().map(node_facts).collect();
    let instance_types: BTreeMap<String, String> = nodes
        .items
        .iter()
        .filter_map(|n| {
            let name = n.metadata.name.clone()?;
            let it = n
                .metadata
                .labels
                .as_ref()?
                .get("node.kubernetes.io/instance-type")?
                .clone();
            Some((name, it))
        })
        .collect();
    let slices = list_dra(client, opts, "ResourceSlice", "resourceslices").await?;
    let inv = dra_inventory(&slices);
    // Nothing to count if no node can be a candidate: say why before listing every pod.
    if !facts.iter().any(|n| n.allocatable > 0 && !n.unschedulable) {
        return select_node(
            &facts,
            &opts.node_selector,
            &BTreeMap::new(),
            &inv,
            &instance_types,
        );
    }
    let pods_ar = ApiResource::erase::<Pod>(&());
    let pods = bounded(
        limit,
        || "list pods for GPU occupancy accounting".into(),
        dyn_api(client, &pods_ar, None)
            .list(&ListParams::default().fields("status.phase!=Succeeded,status.phase!=Failed")),
    )
    .await
    .map_err(|e| KubeError::Occupancy(e.to_string()))?;
    let pods: Vec<Value> = pods.items.iter().map(to_value).collect();
    let claims = list_dra(client, opts, "ResourceClaim", "resourceclaims").await?;
    let used = occupancy(&pods, &claims, &inv)?;
    select_node(&facts, &opts.node_selector, &used, &inv, &instance_types)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn c(g: u64) -> Value {
        json!({"name": "c", "resources": {"requests": {"nvidia.com/gpu": g.to_string()}}})
    }
    fn init(g: u64, sidecar: bool) -> Value {
        let mut v = c(g);
        if sidecar {
            v["restartPolicy"] = "Always".into();
        }
        v
    }
    fn pod(init: Vec<Value>, regular: Vec<Value>) -> Value {
        json!({"spec": {"initContainers": init, "containers": regular}})
    }

    #[test]
    fn effective_request_follows_init_and_sidecar_rules() {
        let e = |p: Value| pod_effective_gpu_request(&p).unwrap();
        assert_eq!(
            e(pod(vec![], vec![c(1), c(2)])),
            3,
            "regular containers sum"
        );
        let limits_only =
            json!({"spec": {"containers": [{"resources": {"limits": {"nvidia.com/gpu": "2"}}}]}});
        assert_eq!(e(limits_only), 2, "limits fallback");
        assert_eq!(
            e(pod(vec![init(8, false)], vec![c(2)])),
            8,
            "one-shot init sets a floor"
        );
        assert_eq!(e(pod(vec![init(1, true)], vec![c(2)])), 3, "a sidecar adds");
        assert_eq!(
            e(pod(vec![init(1, true), init(4, false)], vec![c(2)])),
            5,
            "one-shot after sidecar stacks"
        );
        assert_eq!(
            e(pod(vec![init(4, false), init(1, true)], vec![c(2)])),
            4,
            "sidecar after one-shot does not stack"
        );
        assert_eq!(
            e(pod(vec![init(2, true), init(3, true)], vec![c(2)])),
            7,
            "sidecars accumulate"
        );
        assert_eq!(e(json!({"spec": {"containers": [{"name": "cpu"}]}})), 0);
        let mut p = pod(vec![], vec![c(1)]);
        p["spec"]["overhead"] = json!({"nvidia.com/gpu": "1"});
        assert_eq!(e(p), 2, "overhead is added");
        assert_eq!(
            e(json!({"spec": {"containers": [], "overhead": {"nvidia.com/gpu": "1"}}})),
            1
        );
        assert!(pod_effective_gpu_request(&json!({"spec": {"containers": [{"resources": {"limits": {"nvidia.com/gpu": "lots"}}}]}})).is_err());
    }

    fn placed(name: &str, node: &str, phase: &str, g: u64) -> Value {
        json!({"metadata": {"name": name, "namespace": "x"}, "spec": {"nodeName": node, "containers": [c(g)]}, "status": {"phase": phase}})
    }

    #[test]
    fn occupancy_counts_only_bound_non_terminal_pods_and_dra() {
        let inv = dra_inventory(&[
            json!({"spec": {"driver": "gpu.nvidia.com", "nodeName": "b", "pool": {"name": "b"}, "devices": [{}, {}]}}),
        ]);
        let pods = vec![
            placed("run", "a", "Running", 2),
            placed("pend", "a", "Pending", 1),
            placed("done", "a", "Succeeded", 4),
            placed("fail", "a", "Failed", 4),
            json!({"metadata": {"name": "unbound"}, "spec": {"containers": [c(3)]}, "status": {"phase": "Pending"}}),
        ];
        let claims = vec![
            json!({"metadata": {"namespace": "x", "name": "cl"}, "status": {"allocation": {"devices": {"results": [
                {"driver": "gpu.nvidia.com", "pool": "b", "request": "gpu"},
                {"driver": "gpu.nvidia.com", "pool": "b", "request": "gpu", "adminAccess": true},
                {"driver": "other.example", "pool": "b", "request": "x"}]}}}}),
            json!({"metadata": {"namespace": "x", "name": "unallocated"}, "status": {}}),
        ];
        let used = occupancy(&pods, &claims, &inv).unwrap();
        assert_eq!(used.get("a"), Some(&3));
        assert_eq!(used.get("b"), Some(&1));
        let bad = vec![
            json!({"metadata": {"namespace": "x", "name": "c"}, "status": {"allocation": {"devices": {"results": [
            {"driver": "gpu.nvidia.com", "pool": "rack-7-shared", "request": "gpu"}]}}}}),
        ];
        let e = occupancy(&[], &bad, &inv).unwrap_err().to_string();
        assert!(e.contains("pool \"rack-7-shared\", which no node-local gpu.nvidia.com ResourceSlice publishes"), "{e}");
    }

    #[test]
    fn kep5004_claims_are_not_double_counted() {
        let inv = dra_inventory(&[
            json!({"spec": {"driver": "gpu.nvidia.com", "nodeName": "a", "pool": {"name": "a"}, "devices": [{}]}}),
        ]);
        let mut p = placed("p", "a", "Running", 1);
        p["status"]["extendedResourceClaimStatus"] = json!({"resourceClaimName": "gen", "requestMappings": [
            {"containerName": "c", "resourceName": "nvidia.com/gpu", "requestName": "container-0-request-0"}]});
        let claims = vec![
            json!({"metadata": {"namespace": "x", "name": "gen"}, "status": {"allocation": {"devices": {"results": [
            {"driver": "gpu.nvidia.com", "pool": "a", "request": "container-0-request-0/sub"}]}}}}),
        ];
        assert_eq!(occupancy(&[p], &claims, &inv).unwrap().get("a"), Some(&1));
    }

    fn facts(name: &str, alloc: u64, ready: bool) -> NodeFacts {
        NodeFacts {
            name: name.into(),
            ready,
            unschedulable: false,
            allocatable: alloc,
            labels: BTreeMap::new(),
            taints: vec![],
        }
    }

    #[test]
    fn most_free_wins_ties_by_name_and_notready_is_skipped() {
        let nodes = vec![
            facts("b", 8, true),
            facts("a", 8, true),
            facts("c", 8, false),
        ];
        let used = BTreeMap::from([("a".to_string(), 2u64), ("b".to_string(), 2u64)]);
        let ch = select_node(
            &nodes,
            &BTreeMap::new(),
            &used,
            &DraInventory::default(),
            &BTreeMap::new(),
        )
        .unwrap();
        assert_eq!(
            (
                ch.name.as_str(),
                ch.free_gpus,
                ch.allocatable_gpus,
                ch.used_gpus
            ),
            ("a", 6, 8, 2)
        );
        let used = BTreeMap::from([("a".to_string(), 9u64)]);
        let ch = select_node(
            &nodes,
            &BTreeMap::new(),
            &used,
            &DraInventory::default(),
            &BTreeMap::new(),
        )
        .unwrap();
        assert_eq!(ch.name, "b");
        assert_eq!(ch.candidates[0].free, 0, "over-allocation clamps to 0");
    }

    #[test]
    fn errors_explain_no_node() {
        let none = select_node(
            &[facts("cpu", 0, true)],
            &BTreeMap::new(),
            &BTreeMap::new(),
            &DraInventory::default(),
            &BTreeMap::new(),
        );
        assert!(none
            .unwrap_err()
            .to_string()
            .contains("no schedulable GPU nodes found"));
        let inv = dra_inventory(&[
            json!({"spec": {"driver": "gpu.nvidia.com", "nodeName": "d", "pool": {"name": "d"}, "devices": [{}, {}, {}, {}]}}),
        ]);
        let e = select_node(
            &[facts("d", 0, true)],
            &BTreeMap::new(),
            &BTreeMap::new(),
            &inv,
            &BTreeMap::new(),
        )
        .unwrap_err()
        .to_string();
        assert!(
            e.contains("DRA-only cluster is not supported") && e.contains("d (4 device(s))"),
            "{e}"
        );
        let sel = BTreeMap::from([("pool".to_string(), "x".to_string())]);
        let e = select_node(
            &[facts("a", 8, true)],
            &sel,
            &BTreeMap::new(),
            &DraInventory::default(),
            &BTreeMap::new(),
        )
        .unwrap_err()
        .to_string();
        assert!(
            e.contains("no schedulable GPU nodes match --node-selector pool=x"),
            "{e}"
        );
        let full = BTreeMap::from([("a".to_string(), 8u64)]);
        let e = select_node(
            &[facts("a", 8, true)],
            &BTreeMap::new(),
            &full,
            &DraInventory::default(),
            &BTreeMap::new(),
        )
        .unwrap_err()
        .to_string();
        assert!(
            e.contains("no candidate GPU node has free GPUs")
                && e.contains("a: 8 allocatable, 8 in use"),
            "{e}"
        );
    }

    #[test]
    fn selector_narrows_and_tolerations_mirror_taints() {
        let mut a = facts("a", 8, true);
        a.labels.insert("pool".into(), "x".into());
        a.taints = vec![
            Taint {
                key: "gpu".into(),
                value: Some("v: {x}".into()),
                effect: "NoSchedule".into(),
            },
            Taint {
                key: "node.kubernetes.io/unreachable".into(),
                value: None,
                effect: "NoExecute".into(),
            },
        ];
        let nodes = vec![a, facts("b", 8, true)];
        let sel = BTreeMap::from([("pool".to_string(), "x".to_string())]);
        let ch = select_node(
            &nodes,
            &sel,
            &BTreeMap::new(),
            &DraInventory::default(),
            &BTreeMap::new(),
        )
        .unwrap();
        assert_eq!(ch.name, "a");
        let t = ch.tolerations(&[]);
        assert_eq!(
            t,
            vec![Toleration::for_taint("gpu", Some("v: {x}"), "NoSchedule")]
        );
        assert_eq!(
            ch.tolerations(&[Toleration::everything()]),
            vec![Toleration::everything()]
        );
        assert!(facts("z", 1, true).taints.is_empty());
    }
}
