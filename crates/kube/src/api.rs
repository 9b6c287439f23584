//! Thin helpers over kube-rs: API resource identities, bounded calls, and the table of every
//! (group, resource, verb) this crate uses — the contract `deploy/rbac.yaml` must cover.

use std::future::Future;
use std::time::Duration;

use kube::api::{ApiResource, DynamicObject, GroupVersionKind};
use kube::{Api, Client};
use serde_json::Value;

use crate::KubeError;

/// One API permission the code needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ApiUse {
    /// API group (`""` = core).
    pub group: &'static str,
    /// Resource (plural, `pods/log` for the subresource).
    pub resource: &'static str,
    /// Verbs used.
    pub verbs: &'static [&'static str],
}

/// Every API permission this crate's code uses. `deploy/rbac.yaml` is tested against this table,
/// and the fake API server's tests check that every request they see is in it.
pub const API_USES: &[ApiUse] = &[
    ApiUse {
        group: "apiextensions.k8s.io",
        resource: "customresourcedefinitions",
        verbs: &["get"],
    },
    ApiUse {
        group: "",
        resource: "nodes",
        verbs: &["list"],
    },
    ApiUse {
        group: "",
        resource: "pods",
        verbs: &["get", "list"],
    },
    ApiUse {
        group: "",
        resource: "pods/log",
        verbs: &["get"],
    },
    ApiUse {
        group: "resource.k8s.io",
        resource: "resourceslices",
        verbs: &["list"],
    },
    ApiUse {
        group: "resource.k8s.io",
        resource: "resourceclaims",
        verbs: &["list"],
    },
    ApiUse {
        group: "",
        resource: "namespaces",
        verbs: &["get", "create", "delete"],
    },
    // Server-side apply is a PATCH; creating through it also needs `create`.
    ApiUse {
        group: "",
        resource: "secrets",
        verbs: &["create", "patch", "delete"],
    },
    ApiUse {
        group: "nvidia.com",
        resource: "dynamographdeployments",
        verbs: &["get", "create", "patch", "delete"],
    },
    ApiUse {
        group: "",
        resource: "services",
        verbs: &["get", "list"],
    },
    ApiUse {
        group: "batch",
        resource: "jobs",
        verbs: &["get", "create", "patch", "delete"],
    },
];

/// True if the table grants `verb` on `group/resource`.
pub fn api_use_allows(group: &str, resource: &str, verb: &str) -> bool {
    API_USES
        .iter()
        .any(|u| u.group == group && u.resource == resource && u.verbs.contains(&verb))
}

/// The DGD resource (v1beta1, `spec.components`).
pub(crate) fn dgd_resource() -> ApiResource {
    ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk("nvidia.com", "v1beta1", "DynamoGraphDeployment"),
        "dynamographdeployments",
    )
}

/// A `resource.k8s.io` resource at one version.
pub(crate) fn dra_resource(version: &str, kind: &str, plural: &str) -> ApiResource {
    ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk("resource.k8s.io", version, kind),
        plural,
    )
}

/// Served `resource.k8s.io` versions, newest first.
pub(crate) const DRA_VERSIONS: [&str; 3] = ["v1", "v1beta2", "v1beta1"];

/// A dynamic API for a resource, namespaced or cluster-wide.
pub(crate) fn dyn_api(client: &Client, ar: &ApiResource, ns: Option<&str>) -> Api<DynamicObject> {
    match ns {
        Some(ns) => Api::namespaced_with(client.clone(), ns, ar),
        None => Api::all_with(client.clone(), ar),
    }
}

/// Run one API call under a bound; name the action in any error.
pub(crate) async fn bounded<T, F>(
    limit: Duration,
    action: impl Fn() -> String,
    fut: F,
) -> Result<T, KubeError>
where
    F: Future<Output = Result<T, kube::Error>>,
{
    match tokio::time::timeout(limit, fut).await {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => Err(KubeError::api(action(), e)),
        Err(_) => Err(KubeError::Timeout {
            what: action(),
            after: limit,
            last_seen: "no answer from the API server".into(),
        }),
    }
}

/// True for a 404 from the API server.
pub(crate) fn is_not_found(e: &kube::Error) -> bool {
    matches!(e, kube::Error::Api(s) if s.is_not_found())
}

/// True for a 409 AlreadyExists.
pub(crate) fn is_already_exists(e: &kube::Error) -> bool {
    matches!(e, kube::Error::Api(s) if s.is_already_exists())
}

/// The object as one JSON value (metadata + the flattened rest).
pub(crate) fn to_value(obj: &DynamicObject) -> Value {
    serde_json::to_value(obj).unwrap_or(Value::Null)
}

/// Sleep one poll interval, or less if the deadline comes first.
pub(crate) async fn sleep_until_next_poll(interval: Duration, deadline: tokio::time::Instant) {
    let now = tokio::time::Instant::now();
    if now < deadline {
        tokio::time::sleep(interval.min(deadline - now)).await;
    }
}
