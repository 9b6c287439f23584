//! A stateful fake Kubernetes API server for the workflow tests, served over 127.0.0.1 and reached
//! through a generated kubeconfig (the same path the CLI takes). It stores objects as JSON, records
//! every request, and plays the controllers a real cluster would run:
//! - the Dynamo operator: a DGD becomes ready after N reads (or never) and gets a frontend Service;
//! - the Job controller + kubelet: creating a Job creates its pod, which finishes after N reads,
//!   succeeding or failing (in the load or the probe container);
//! - the log endpoint: `pods/NAME/log` returns a configured text.
//!
//! Deletes are immediate; deleting a namespace deletes everything in it.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use serde_json::{json, Value};
use tokio::sync::Notify;

/// How the fake cluster behaves.
#[derive(Debug, Clone)]
pub struct Knobs {
    /// DGD reaches Ready on this read (None = never).
    pub dgd_ready_after_gets: Option<u32>,
    /// The load pod finishes on this read of it.
    pub pod_finishes_after_gets: u32,
    /// Load pod outcome.
    pub job_succeeds: bool,
    /// When the pod fails, fail the probe init container instead of the load container.
    pub fail_in_probe: bool,
    /// Pod log text.
    pub pod_log: String,
    /// `resource.k8s.io` is served.
    pub dra_served: bool,
}

impl Default for Knobs {
    fn default() -> Self {
        Knobs {
            dgd_ready_after_gets: Some(2),
            pod_finishes_after_gets: 2,
            job_succeeds: true,
            fail_in_probe: false,
            pod_log: String::new(),
            dra_served: true,
        }
    }
}

/// One request as the server saw it.
#[derive(Debug, Clone)]
pub struct Recorded {
    pub method: String,
    pub path: String,
    pub query: String,
    pub content_type: String,
    pub body: Option<Value>,
    pub group: String,
    pub resource: String,
    pub verb: String,
}

type Key = (String, String, String, String); // group, resource, namespace, name

#[derive(Default)]
struct State {
    objects: BTreeMap<Key, Value>,
    requests: Vec<Recorded>,
    knobs: Knobs,
    dgd_gets: u32,
    pod_gets: BTreeMap<String, u32>,
    counter: u64,
}

/// Handle to a running fake.
#[derive(Clone)]
pub struct Fake {
    state: Arc<Mutex<State>>,
    pub addr: SocketAddr,
    /// Fires (with a stored permit) when a Job is created.
    pub job_created: Arc<Notify>,
    /// Fires when a DGD is created.
    pub dgd_created: Arc<Notify>,
}

struct Route {
    group: String,
    version: String,
    namespace: String,
    resource: String,
    name: Option<String>,
    sub: Option<String>,
}

fn parse_route(path: &str) -> Option<Route> {
    let segs: Vec<&str> = path.trim_matches('/').split('/').collect();
    let (group, version, rest) = match segs.as_slice() {
        ["api", v, rest @ ..] => (String::new(), v.to_string(), rest),
        ["apis", g, v, rest @ ..] => (g.to_string(), v.to_string(), rest),
        _ => return None,
    };
    let s = |i: usize| rest.get(i).map(|x| x.to_string());
    if rest.first() == Some(&"namespaces") && rest.len() >= 3 {
        Some(Route {
            group,
            version,
            namespace: rest[1].into(),
            resource: rest[2].into(),
            name: s(3),
            sub: s(4),
        })
    } else {
        Some(Route {
            group,
            version,
            namespace: String::new(),
            resource: rest.first()?.to_string(),
            name: s(1),
            sub: s(2),
        })
    }
}

fn status(code: u16, reason: &str, message: String) -> (u16, Value) {
    (
        code,
        json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure", "message": message, "reason": reason, "code": code}),
    )
}

fn query_param(query: &str, key: &str) -> Option<String> {
    query.split('&').find_map(|kv| {
        let (k, v) = kv.split_once('=')?;
        (k == key).then(|| percent_decode(v))
    })
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            if let Ok(v) = u8::from_str_radix(&s[i + 1..i + 3], 16) {
                out.push(v);
                i += 3;
                continue;
            }
        }
        out.push(if b[i] == b'+' { b' ' } else { b[i] });
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn matches_labels(obj: &Value, selector: &str) -> bool {
    selector
        .split(',')
        .filter(|s| !s.is_empty())
        .all(|term| match term.split_once('=') {
            Some((k, v)) => obj["metadata"]["labels"][k].as_str() == Some(v),
            None => false,
        })
}

fn matches_fields(obj: &Value, selector: &str) -> bool {
    selector.split(',').filter(|s| !s.is_empty()).all(|term| {
        if let Some((k, v)) = term.split_once("!=") {
            field(obj, k) != Some(v.to_string())
        } else if let Some((k, v)) = term.split_once('=') {
            field(obj, k) == Some(v.to_string())
        } else {
            false
        }
    })
}

fn field(obj: &Value, path: &str) -> Option<String> {
    let ptr = format!("/{}", path.replace('.', "/"));
    obj.pointer(&ptr)
        .and_then(Value::as_str)
        .map(str::to_string)
}

fn merge(target: &mut Value, patch: &Value) {
    match (target, patch) {
        (Value::Object(t), Value::Object(p)) => {
            for (k, v) in p {
                if v.is_null() {
                    t.remove(k);
                } else {
                    merge(t.entry(k.clone()).or_insert(Value::Null), v);
                }
            }
        }
        (t, p) => *t = p.clone(),
    }
}

impl Fake {
    /// Start the fake on 127.0.0.1:0.
    pub async fn start(knobs: Knobs) -> Fake {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind 127.0.0.1:0");
        let addr = listener.local_addr().expect("local addr");
        let fake = Fake {
            state: Arc::new(Mutex::new(State {
                knobs,
                ..Default::default()
            })),
            addr,
            job_created: Arc::new(Notify::new()),
            dgd_created: Arc::new(Notify::new()),
        };
        let f = fake.clone();
        tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                let f = f.clone();
                tokio::spawn(async move {
                    let svc = hyper::service::service_fn(move |req| {
                        let f = f.clone();
                        async move { Ok::<_, Infallible>(f.serve(req).await) }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), svc)
                        .await;
                });
            }
        });
        fake
    }

    /// A kubeconfig pointing at this fake.
    pub fn kubeconfig_yaml(&self) -> String {
        format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: fake\n  cluster:\n    server: http://{}\nusers:\n- name: fake\n  user: {{}}\ncontexts:\n- name: fake\n  context:\n    cluster: fake\n    user: fake\n    namespace: default\ncurrent-context: fake\n",
            self.addr
        )
    }

    pub fn set_knobs(&self, f: impl FnOnce(&mut Knobs)) {
        f(&mut self.state.lock().unwrap().knobs);
    }

    /// Seed an object (`apiVersion`/`kind`/metadata decide where it goes).
    pub fn seed(&self, group: &str, resource: &str, obj: Value) {
        let ns = obj["metadata"]["namespace"]
            .as_str()
            .unwrap_or("")
            .to_string();
        let name = obj["metadata"]["name"]
            .as_str()
            .expect("seeded object has a name")
            .to_string();
        self.state
            .lock()
            .unwrap()
            .objects
            .insert((group.into(), resource.into(), ns, name), obj);
    }

    pub fn get(&self, group: &str, resource: &str, ns: &str, name: &str) -> Option<Value> {
        self.state
            .lock()
            .unwrap()
            .objects
            .get(&(group.into(), resource.into(), ns.into(), name.into()))
            .cloned()
    }

    pub fn count(&self, group: &str, resource: &str) -> usize {
        self.state
            .lock()
            .unwrap()
            .objects
            .keys()
            .filter(|k| k.0 == group && k.1 == resource)
            .count()
    }

    pub fn count_in(&self, group: &str, resource: &str, ns: &str) -> usize {
        self.state
            .lock()
            .unwrap()
            .objects
            .keys()
            .filter(|k| k.0 == group && k.1 == resource && k.2 == ns)
            .count()
    }

    pub fn requests(&self) -> Vec<Recorded> {
        self.state.lock().unwrap().requests.clone()
    }

    async fn serve(&self, req: Request<Incoming>) -> Response<Full<Bytes>> {
        let method = req.method().to_string();
        let path = req.uri().path().to_string();
        let query = req.uri().query().unwrap_or("").to_string();
        let content_type = req
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string();
        let body_bytes = req
            .into_body()
            .collect()
            .await
            .map(|c| c.to_bytes())
            .unwrap_or_default();
        let body: Option<Value> = if body_bytes.is_empty() {
            None
        } else {
            serde_json::from_slice(&body_bytes).ok()
        };
        let (code, out) = self.handle(&method, &path, &query, &content_type, body);
        let (bytes, ctype) = match out {
            Out::Json(v) => (Bytes::from(v.to_string()), "application/json"),
            Out::Text(t) => (Bytes::from(t), "text/plain"),
        };
        Response::builder()
            .status(code)
            .header("content-type", ctype)
            .body(Full::new(bytes))
            .expect("response")
    }

    fn handle(
        &self,
        method: &str,
        path: &str,
        query: &str,
        content_type: &str,
        body: Option<Value>,
    ) -> (u16, Out) {
        let mut st = self.state.lock().unwrap();
        let Some(r) = parse_route(path) else {
            return json_out(status(404, "NotFound", format!("no route {path}")));
        };
        let verb = match (method, &r.name) {
            ("GET", Some(_)) => "get",
            ("GET", None) => "list",
            ("POST", _) => "create",
            ("PATCH", _) => "patch",
            ("PUT", _) => "update",
            ("DELETE", _) => "delete",
            _ => "unknown",
        };
        let resource_rbac = match &r.sub {
            Some(s) if s != "status" => format!("{}/{}", r.resource, s),
            _ => r.resource.clone(),
        };
        st.requests.push(Recorded {
            method: method.into(),
            path: path.into(),
            query: query.into(),
            content_type: content_type.into(),
            body: body.clone(),
            group: r.group.clone(),
            resource: resource_rbac,
            verb: verb.into(),
        });
        if r.group == "resource.k8s.io" && !st.knobs.dra_served {
            return json_out(status(
                404,
                "NotFound",
                "the server could not find the requested resource".into(),
            ));
        }
        let key = |name: &str| {
            (
                r.group.clone(),
                r.resource.clone(),
                r.namespace.clone(),
                name.to_string(),
            )
        };
        match (verb, r.name.as_deref(), r.sub.as_deref()) {
            ("get", Some(name), Some("log")) => {
                if st.objects.contains_key(&key(name)) {
                    (200, Out::Text(st.knobs.pod_log.clone()))
                } else {
                    json_out(status(
                        404,
                        "NotFound",
                        format!("pods \"{name}\" not found"),
                    ))
                }
            }
            ("get", Some(name), _) => {
                self.on_get(&mut st, &r, name);
                match st.objects.get(&key(name)) {
                    Some(o) => (200, Out::Json(o.clone())),
                    None => json_out(status(
                        404,
                        "NotFound",
                        format!("{} \"{name}\" not found", r.resource),
                    )),
                }
            }
            ("list", None, _) => {
                let ls = query_param(query, "labelSelector").unwrap_or_default();
                let fs = query_param(query, "fieldSelector").unwrap_or_default();
                let items: Vec<Value> = st
                    .objects
                    .iter()
                    .filter(|(k, o)| {
                        k.0 == r.group
                            && k.1 == r.resource
                            && (r.namespace.is_empty() || k.2 == r.namespace)
                            && matches_labels(o, &ls)
                            && matches_fields(o, &fs)
                    })
                    .map(|(_, o)| o.clone())
                    .collect();
                (
                    200,
                    Out::Json(
                        json!({"apiVersion": "v1", "kind": "List", "metadata": {"resourceVersion": "1"}, "items": items}),
                    ),
                )
            }
            ("create", None, _) => {
                let Some(obj) = body else {
                    return json_out(status(400, "BadRequest", "no body".into()));
                };
                let name = obj["metadata"]["name"].as_str().unwrap_or("").to_string();
                self.create(&mut st, &r, &name, obj)
            }
            ("patch", Some(name), _) => {
                let Some(patch) = body else {
                    return json_out(status(400, "BadRequest", "no body".into()));
                };
                if !st.objects.contains_key(&key(name)) {
                    if content_type.starts_with("application/apply-patch") {
                        return self.create(&mut st, &r, name, patch);
                    }
                    return json_out(status(
                        404,
                        "NotFound",
                        format!("{} \"{name}\" not found", r.resource),
                    ));
                }
                st.counter += 1;
                let rv = st.counter.to_string();
                let o = st.objects.get_mut(&key(name)).expect("checked");
                let mut p = patch.clone();
                if let Some(m) = p.as_object_mut() {
                    m.remove("status");
                }
                merge(o, &p);
                o["metadata"]["resourceVersion"] = rv.into();
                (200, Out::Json(o.clone()))
            }
            ("delete", Some(name), _) => {
                let Some(obj) = st.objects.remove(&key(name)) else {
                    return json_out(status(
                        404,
                        "NotFound",
                        format!("{} \"{name}\" not found", r.resource),
                    ));
                };
                if r.group.is_empty() && r.resource == "namespaces" {
                    st.objects.retain(|k, _| k.2 != name);
                }
                if r.group == "batch" && r.resource == "jobs" {
                    let ns = r.namespace.clone();
                    st.objects.retain(|k, o| {
                        !(k.1 == "pods" && k.2 == ns && o["metadata"]["labels"]["job-name"] == name)
                    });
                }
                (200, Out::Json(obj))
            }
            _ => json_out(status(
                405,
                "MethodNotAllowed",
                format!("{method} {path} is not supported by the fake"),
            )),
        }
    }

    fn create(&self, st: &mut State, r: &Route, name: &str, mut obj: Value) -> (u16, Out) {
        let k = (
            r.group.clone(),
            r.resource.clone(),
            r.namespace.clone(),
            name.to_string(),
        );
        if st.objects.contains_key(&k) {
            return json_out(status(
                409,
                "AlreadyExists",
                format!("{} \"{name}\" already exists", r.resource),
            ));
        }
        if !r.namespace.is_empty()
            && !st.objects.contains_key(&(
                String::new(),
                "namespaces".into(),
                String::new(),
                r.namespace.clone(),
            ))
        {
            return json_out(status(
                404,
                "NotFound",
                format!("namespaces \"{}\" not found", r.namespace),
            ));
        }
        st.counter += 1;
        let n = st.counter;
        let meta = obj["metadata"].as_object_mut();
        let Some(meta) = meta else {
            return json_out(status(400, "BadRequest", "no metadata".into()));
        };
        meta.insert("name".into(), name.into());
        if !r.namespace.is_empty() {
            meta.insert("namespace".into(), r.namespace.clone().into());
        }
        meta.insert("uid".into(), format!("uid-{n}").into());
        meta.insert("resourceVersion".into(), n.to_string().into());
        meta.insert("creationTimestamp".into(), "2026-01-01T00:00:00Z".into());
        st.objects.insert(k, obj.clone());
        // Controllers react to creations.
        if r.group == "batch" && r.resource == "jobs" {
            let template = obj["spec"]["template"].clone();
            let pod_name = format!("{name}-x7k2p");
            let mut labels = template["metadata"]["labels"].clone();
            labels["job-name"] = name.into();
            labels["batch.kubernetes.io/job-name"] = name.into();
            let pod = json!({
                "apiVersion": "v1", "kind": "Pod",
                "metadata": {"name": pod_name, "namespace": r.namespace, "labels": labels, "uid": format!("uid-pod-{n}")},
                "spec": template["spec"].clone(),
                "status": {"phase": "Pending"},
            });
            st.objects.insert(
                (String::new(), "pods".into(), r.namespace.clone(), pod_name),
                pod,
            );
            self.job_created.notify_one();
        }
        if r.group == "nvidia.com" && r.resource == "dynamographdeployments" {
            let svc = json!({
                "apiVersion": "v1", "kind": "Service",
                "metadata": {"name": format!("{name}-frontend"), "namespace": r.namespace},
                "spec": {"ports": [{"name": "http", "port": 8000}]},
            });
            st.objects.insert(
                (
                    String::new(),
                    "services".into(),
                    r.namespace.clone(),
                    format!("{name}-frontend"),
                ),
                svc,
            );
            self.dgd_created.notify_one();
        }
        (201, Out::Json(obj))
    }

    /// Controller behaviour on reads.
    fn on_get(&self, st: &mut State, r: &Route, name: &str) {
        let k = (
            r.group.clone(),
            r.resource.clone(),
            r.namespace.clone(),
            name.to_string(),
        );
        if r.group == "nvidia.com" && r.resource == "dynamographdeployments" {
            st.dgd_gets += 1;
            let ready = st
                .knobs
                .dgd_ready_after_gets
                .is_some_and(|n| st.dgd_gets >= n);
            if let Some(o) = st.objects.get_mut(&k) {
                if ready {
                    let mut comps = serde_json::Map::new();
                    for c in o["spec"]["components"]
                        .as_array()
                        .cloned()
                        .unwrap_or_default()
                    {
                        let want = c["replicas"].as_i64().unwrap_or(1);
                        comps.insert(
                            c["name"].as_str().unwrap_or("").into(),
                            json!({"readyReplicas": want, "replicas": want}),
                        );
                    }
                    o["status"] = json!({"state": "successful", "conditions": [{"type": "Ready", "status": "True", "reason": "all_resources_are_ready"}], "components": comps});
                } else {
                    o["status"] = json!({"state": "pending", "conditions": [{"type": "Ready", "status": "False", "reason": "some_resources_are_not_ready"}]});
                }
            }
        }
        if r.group.is_empty() && r.resource == "pods" {
            let gets = {
                let g = st.pod_gets.entry(name.to_string()).or_default();
                *g += 1;
                *g
            };
            let knobs = st.knobs.clone();
            let Some(o) = st.objects.get_mut(&k) else {
                return;
            };
            if o["metadata"]["labels"]["job-name"].is_null() {
                return;
            }
            let term = |exit: i64, reason: &str| json!({"terminated": {"exitCode": exit, "reason": reason}});
            let cs = |n: &str, state: Value| json!({"name": n, "image": "img", "imageID": "", "ready": false, "restartCount": 0, "state": state});
            if gets >= knobs.pod_finishes_after_gets {
                if knobs.job_succeeds {
                    o["status"] = json!({"phase": "Succeeded", "containerStatuses": [cs("load", term(0, "Completed"))]});
                } else if knobs.fail_in_probe {
                    o["status"] = json!({"phase": "Failed",
                        "initContainerStatuses": [cs("probe", term(3, "Error"))],
                        "containerStatuses": [cs("load", json!({"waiting": {"reason": "PodInitializing"}}))]});
                } else {
                    o["status"] = json!({"phase": "Failed", "containerStatuses": [cs("load", term(1, "Error"))]});
                }
            } else {
                o["status"] = json!({"phase": "Running", "containerStatuses": [cs("load", json!({"running": {}}))]});
            }
        }
    }
}

enum Out {
    Json(Value),
    Text(String),
}

fn json_out((code, v): (u16, Value)) -> (u16, Out) {
    (code, Out::Json(v))
}

/// A Ready GPU node.
pub fn gpu_node(name: &str, gpus: u64, taints: Value, labels: Value) -> Value {
    json!({
        "apiVersion": "v1", "kind": "Node",
        "metadata": {"name": name, "labels": labels},
        "spec": {"taints": taints},
        "status": {
            "allocatable": {"nvidia.com/gpu": gpus.to_string(), "cpu": "64"},
            "conditions": [{"type": "Ready", "status": "True"}],
        },
    })
}

/// The DGD CRD, serving v1alpha1 and v1beta1.
pub fn dgd_crd() -> Value {
    json!({
        "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
        "metadata": {"name": "dynamographdeployments.nvidia.com"},
        "spec": {
            "group": "nvidia.com", "scope": "Namespaced",
            "names": {"plural": "dynamographdeployments", "kind": "DynamoGraphDeployment", "shortNames": ["dgd"]},
            "versions": [
                {"name": "v1alpha1", "served": true, "storage": false},
                {"name": "v1beta1", "served": true, "storage": true},
            ],
        },
    })
}

/// A running pod on `node` with the given containers/initContainers.
pub fn placed_pod(ns: &str, name: &str, node: &str, phase: &str, spec_extra: Value) -> Value {
    let mut spec = json!({"nodeName": node, "containers": []});
    if let (Some(s), Some(e)) = (spec.as_object_mut(), spec_extra.as_object()) {
        for (k, v) in e {
            s.insert(k.clone(), v.clone());
        }
    }
    json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": ns}, "spec": spec, "status": {"phase": phase}})
}
