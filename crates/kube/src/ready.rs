//! Waiting for the DynamoGraphDeployment (upstream §2.7) and resolving the serving endpoint (§2.8).

use k8s_openapi::api::core::v1::Service;
use kube::api::ListParams;
use kube::{Api, Client};
use serde_json::Value;

use crate::api::{bounded, dgd_resource, dyn_api, is_not_found, sleep_until_next_poll, to_value};
use crate::deploy::Deployment;
use crate::manifests::DGD_NAME;
use crate::options::{KubeOptions, Routing};
use crate::KubeError;

/// Port the Dynamo frontend listens on when the Service does not say otherwise.
pub const FRONTEND_PORT: i32 = 8000;
/// Namespace of the inference gateway (gateway-epp routing).
pub const GATEWAY_NAMESPACE: &str = "agentgateway-system";
/// Name of the inference gateway Service.
pub const GATEWAY_NAME: &str = "inference-gateway";

/// Where the load goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    /// Base URL, e.g. `http://infergate-perf-frontend.infergate-perf-1a2b3c4d.svc:8000`.
    pub url: String,
}

/// Why the DGD is not ready, or `None` when it is (upstream `isDynamoDeploymentReady`): state
/// `successful`, and every desired component (`spec.components`, else legacy `spec.services`)
/// has ready (else available) replicas ≥ its **spec** replicas (absent = 1; wrong type = not
/// ready). Comparing with the spec, not `status.replicas`, catches a half-scaled deployment.
pub fn dgd_not_ready_reason(obj: &Value) -> Option<String> {
    let status = match obj.get("status") {
        Some(s) if s.is_object() => s,
        _ => return Some("no status yet".into()),
    };
    let state = status["state"].as_str().unwrap_or("");
    if state != "successful" {
        return Some(format!(
            "state={:?}",
            if state.is_empty() { "<unset>" } else { state }
        ));
    }
    // Desired components: name -> replicas value (None = absent).
    let mut desired: Vec<(String, Option<&Value>)> = Vec::new();
    if let Some(list) = obj.pointer("/spec/components") {
        let Some(list) = list.as_array() else {
            return Some("spec.components is not a list".into());
        };
        for entry in list {
            let Some(name) = entry.get("name").and_then(Value::as_str) else {
                return Some("a spec.components entry has no name".into());
            };
            desired.push((name.to_string(), entry.get("replicas")));
        }
    } else if let Some(map) = obj.pointer("/spec/services").and_then(Value::as_object) {
        for (name, entry) in map {
            if !entry.is_object() {
                return Some(format!("spec.services.{name} is not a map"));
            }
            desired.push((name.clone(), entry.get("replicas")));
        }
    }
    if desired.is_empty() {
        return Some("no components in spec".into());
    }
    let Some(observed) = status
        .get("components")
        .or_else(|| status.get("services"))
        .and_then(Value::as_object)
    else {
        return Some("state=\"successful\" but no per-component status yet".into());
    };
    let mut waiting = Vec::new();
    for (name, replicas) in desired {
        let want = match replicas {
            None | Some(Value::Null) => 1,
            Some(v) => match v.as_i64() {
                Some(n) => n,
                None => return Some(format!("{name}: spec replicas {v} is not an integer")),
            },
        };
        if want < 1 {
            continue;
        }
        let entry = observed.get(&name);
        let ready = entry
            .and_then(|e| {
                e.get("readyReplicas")
                    .or_else(|| e.get("availableReplicas"))
            })
            .and_then(Value::as_i64)
            .unwrap_or(0);
        if entry.is_none() {
            waiting.push(format!("{name} 0/{want} ready (no status)"));
        } else if ready < want {
            waiting.push(format!("{name} {ready}/{want} ready"));
        }
    }
    (!waiting.is_empty()).then(|| waiting.join(", "))
}

/// True when the DGD is ready (see [`dgd_not_ready_reason`]).
pub fn dgd_ready(obj: &Value) -> bool {
    dgd_not_ready_reason(obj).is_none()
}

/// Pick the Service port: 8000 if present, else the port named `http`, else the first, else 8000.
pub fn infer_service_port(ports: &[(Option<String>, i32)]) -> i32 {
    if ports.iter().any(|(_, p)| *p == FRONTEND_PORT) {
        return FRONTEND_PORT;
    }
    if let Some((_, p)) = ports.iter().find(|(n, _)| n.as_deref() == Some("http")) {
        return *p;
    }
    ports.first().map_or(FRONTEND_PORT, |(_, p)| *p)
}

fn service_ports(svc: &Service) -> Vec<(Option<String>, i32)> {
    svc.spec
        .as_ref()
        .and_then(|s| s.ports.as_ref())
        .map(|ps| ps.iter().map(|p| (p.name.clone(), p.port)).collect())
        .unwrap_or_default()
}

fn service_url(svc: &Service, fallback_ns: &str) -> String {
    let name = svc.metadata.name.as_deref().unwrap_or(GATEWAY_NAME);
    let ns = svc.metadata.namespace.as_deref().unwrap_or(fallback_ns);
    format!(
        "http://{name}.{ns}.svc:{}",
        infer_service_port(&service_ports(svc))
    )
}

/// Choose the gateway Service: exactly `inference-gateway`, else the first whose name contains it
/// and none of `controller-manager`, `webhook`, `metrics`.
pub fn pick_gateway_service(services: &[Service]) -> Option<&Service> {
    services
        .iter()
        .find(|s| s.metadata.name.as_deref() == Some(GATEWAY_NAME))
        .or_else(|| {
            services.iter().find(|s| {
                let n = s.metadata.name.as_deref().unwrap_or("");
                n.contains(GATEWAY_NAME)
                    && !["controller-manager", "webhook", "metrics"]
                        .iter()
                        .any(|x| n.contains(x))
            })
        })
}

/// Resolve the endpoint (upstream §2.8).
pub async fn resolve_endpoint(
    client: &Client,
    opts: &KubeOptions,
    namespace: &str,
) -> Result<Endpoint, KubeError> {
    let limit = opts.timeouts.api_call;
    match opts.routing {
        Routing::DynamoRouter => {
            let name = format!("{DGD_NAME}-frontend");
            let api: Api<Service> = Api::namespaced(client.clone(), namespace);
            let url = match tokio::time::timeout(limit, api.get(&name)).await {
                Ok(Ok(svc)) => service_url(&svc, namespace),
                // Never an error: the operator names the Service predictably.
                _ => format!("http://{name}.{namespace}.svc:{FRONTEND_PORT}"),
            };
            Ok(Endpoint { url })
        }
        Routing::GatewayEpp => {
            let api: Api<Service> = Api::namespaced(client.clone(), GATEWAY_NAMESPACE);
            let list = bounded(
                limit,
                || "failed to list inference gateway services".into(),
                api.list(&ListParams::default()),
            )
            .await?;
            let url = match pick_gateway_service(&list.items) {
                Some(svc) => service_url(svc, GATEWAY_NAMESPACE),
                None => format!("http://{GATEWAY_NAME}.{GATEWAY_NAMESPACE}.svc:80"),
            };
            Ok(Endpoint { url })
        }
    }
}

/// Poll the DGD until ready (bounded by `timeouts.workload_ready`), then resolve the endpoint.
pub async fn wait_ready(
    client: &Client,
    opts: &KubeOptions,
    dep: &Deployment,
) -> Result<Endpoint, KubeError> {
    let api = dyn_api(client, &dgd_resource(), Some(&dep.namespace));
    let bound = opts.timeouts.workload_ready;
    let deadline = tokio::time::Instant::now() + bound;
    let mut last_seen = String::from("not read yet");
    loop {
        match tokio::time::timeout_at(deadline, api.get(DGD_NAME)).await {
            Err(_) => break,
            Ok(Ok(obj)) => match dgd_not_ready_reason(&to_value(&obj)) {
                None => return resolve_endpoint(client, opts, &dep.namespace).await,
                Some(why) => last_seen = why,
            },
            Ok(Err(e)) if is_not_found(&e) => last_seen = "DynamoGraphDeployment not found".into(),
            Ok(Err(e)) => {
                return Err(KubeError::api(
                    format!("read DynamoGraphDeployment {}/{DGD_NAME}", dep.namespace),
                    e,
                ));
            }
        }
        if tokio::time::Instant::now() >= deadline {
            break;
        }
        sleep_until_next_poll(opts.timeouts.poll_interval, deadline).await;
    }
    Err(KubeError::Timeout {
        what: format!(
            "DynamoGraphDeployment {}/{DGD_NAME} to become ready",
            dep.namespace
        ),
        after: bound,
        last_seen,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn dgd(state: &str, spec_replicas: Value, ready: Value) -> Value {
        json!({
            "spec": {"components": [{"name": "Frontend", "replicas": 1}, {"name": "VllmDecodeWorker", "replicas": spec_replicas}]},
            "status": {"state": state, "components": {"Frontend": {"readyReplicas": 1}, "VllmDecodeWorker": ready}},
        })
    }

    #[test]
    fn ready_predicate_matches_upstream_cases() {
        assert!(!dgd_ready(&json!(null)));
        assert!(!dgd_ready(&json!({"spec": {}})));
        assert!(!dgd_ready(&dgd(
            "pending",
            json!(8),
            json!({"readyReplicas": 8})
        )));
        assert!(!dgd_ready(
            &json!({"spec": {"components": [{"name": "W"}]}, "status": {"state": "successful", "components": {}}})
        ));
        let absent = json!({"spec": {"components": [{"name": "Frontend"}, {"name": "W", "replicas": 2}]},
                            "status": {"state": "successful", "components": {"Frontend": {"readyReplicas": 1}}}});
        assert!(!dgd_ready(&absent), "worker absent from status");
        assert_eq!(
            dgd_not_ready_reason(&dgd("successful", json!(8), json!({"readyReplicas": 5})))
                .unwrap(),
            "VllmDecodeWorker 5/8 ready"
        );
        // status.replicas lags during scale-up: 6/6 by status is still 6/8 by spec.
        assert!(!dgd_ready(&dgd(
            "successful",
            json!(8),
            json!({"replicas": 6, "readyReplicas": 6})
        )));
        assert!(dgd_ready(&dgd(
            "successful",
            json!(8),
            json!({"readyReplicas": 8})
        )));
        assert!(
            dgd_ready(&dgd(
                "successful",
                json!(8),
                json!({"availableReplicas": 8})
            )),
            "availableReplicas fallback"
        );
        let omitted = json!({"spec": {"components": [{"name": "W"}]}, "status": {"state": "successful", "components": {"W": {"readyReplicas": 1}}}});
        assert!(dgd_ready(&omitted), "absent spec replicas means 1");
        assert!(
            !dgd_ready(&dgd("successful", json!("8"), json!({"readyReplicas": 8}))),
            "wrong-typed replicas fail closed"
        );
        assert!(!dgd_ready(
            &json!({"spec": {"components": [{"replicas": 1}]}, "status": {"state": "successful", "components": {}}})
        ));
    }

    #[test]
    fn legacy_services_shape_is_read() {
        let ok = json!({"spec": {"services": {"Frontend": {"replicas": 1}, "VllmDecodeWorker": {"replicas": 2}}},
                        "status": {"state": "successful", "services": {"Frontend": {"readyReplicas": 1}, "VllmDecodeWorker": {"readyReplicas": 2}}}});
        assert!(dgd_ready(&ok));
        let mut half = ok.clone();
        half["status"]["services"]["VllmDecodeWorker"]["readyReplicas"] = json!(1);
        assert!(!dgd_ready(&half));
    }

    #[test]
    fn service_port_preference() {
        assert_eq!(
            infer_service_port(&[(None, 9000), (Some("x".into()), 8000)]),
            8000
        );
        assert_eq!(
            infer_service_port(&[(None, 9000), (Some("http".into()), 9001)]),
            9001
        );
        assert_eq!(
            infer_service_port(&[(None, 9000), (Some("grpc".into()), 9001)]),
            9000
        );
        assert_eq!(infer_service_port(&[]), 8000);
    }

    #[test]
    fn gateway_service_choice() {
        let svc = |n: &str| Service {
            metadata: kube::api::ObjectMeta {
                name: Some(n.into()),
                ..Default::default()
            },
            ..Default::default()
        };
        let list = vec![
            svc("inference-gateway-metrics"),
            svc("my-inference-gateway"),
        ];
        assert_eq!(
            pick_gateway_service(&list)
                .unwrap()
                .metadata
                .name
                .as_deref(),
            Some("my-inference-gateway")
        );
        let list = vec![svc("my-inference-gateway"), svc("inference-gateway")];
        assert_eq!(
            pick_gateway_service(&list)
                .unwrap()
                .metadata
                .name
                .as_deref(),
            Some("inference-gateway")
        );
        assert!(pick_gateway_service(&[svc("inference-gateway-webhook")]).is_none());
    }
}
