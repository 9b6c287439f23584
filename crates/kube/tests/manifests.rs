//! The shipped manifests: deploy/rbac.yaml grants exactly the API uses of the crate (no more, no
//! less), and deploy/job.yaml runs `infergate validate --kube` under that service account.

use std::collections::BTreeSet;

use infergate_kube::API_USES;
use serde_json::Value;

fn load(path: &str) -> Vec<Value> {
    let full = format!("{}/../../{path}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&full).unwrap_or_else(|e| panic!("read {full}: {e}"));
    serde_saphyr::from_str_multiple(&text).unwrap_or_else(|e| panic!("parse {full}: {e}"))
}

fn strs(v: &Value) -> Vec<String> {
    v.as_array()
        .into_iter()
        .flatten()
        .filter_map(|x| x.as_str().map(str::to_string))
        .collect()
}

#[test]
fn rbac_grants_exactly_the_verbs_the_code_uses() {
    let docs = load("deploy/rbac.yaml");
    let role = docs
        .iter()
        .find(|d| d["kind"] == "ClusterRole")
        .expect("a ClusterRole");
    let mut granted = BTreeSet::new();
    for rule in role["rules"].as_array().expect("rules") {
        assert!(
            rule.get("resourceNames").is_none()
                || rule["resources"] == serde_json::json!(["customresourcedefinitions"])
        );
        for g in strs(&rule["apiGroups"]) {
            for r in strs(&rule["resources"]) {
                for v in strs(&rule["verbs"]) {
                    assert_ne!(v, "*", "no wildcard verbs");
                    granted.insert((g.clone(), r.clone(), v));
                }
            }
        }
    }
    let used: BTreeSet<(String, String, String)> = API_USES
        .iter()
        .flat_map(|u| {
            u.verbs
                .iter()
                .map(move |v| (u.group.to_string(), u.resource.to_string(), v.to_string()))
        })
        .collect();
    let missing: Vec<_> = used.difference(&granted).collect();
    let extra: Vec<_> = granted.difference(&used).collect();
    assert!(missing.is_empty(), "rbac.yaml lacks {missing:?}");
    assert!(
        extra.is_empty(),
        "rbac.yaml grants more than the code uses: {extra:?}"
    );

    let binding = docs
        .iter()
        .find(|d| d["kind"] == "ClusterRoleBinding")
        .expect("a binding");
    assert_eq!(binding["roleRef"]["name"], role["metadata"]["name"]);
    let sa = docs
        .iter()
        .find(|d| d["kind"] == "ServiceAccount")
        .expect("a service account");
    assert_eq!(binding["subjects"][0]["name"], sa["metadata"]["name"]);
    assert_eq!(
        binding["subjects"][0]["namespace"],
        sa["metadata"]["namespace"]
    );
}

#[test]
fn in_cluster_job_runs_validate_kube_under_the_service_account() {
    let rbac = load("deploy/rbac.yaml");
    let sa = rbac.iter().find(|d| d["kind"] == "ServiceAccount").unwrap();
    let docs = load("deploy/job.yaml");
    let job = docs.iter().find(|d| d["kind"] == "Job").expect("a Job");
    assert_eq!(job["metadata"]["namespace"], sa["metadata"]["namespace"]);
    let spec = &job["spec"]["template"]["spec"];
    assert_eq!(spec["serviceAccountName"], sa["metadata"]["name"]);
    assert_eq!(spec["restartPolicy"], "Never");
    assert_eq!(job["spec"]["backoffLimit"], 0);
    let c = &spec["containers"][0];
    assert_eq!(
        c["command"],
        serde_json::json!([infergate_kube::manifests::LOAD_BINARY])
    );
    let args = strs(&c["args"]);
    assert_eq!(&args[..2], ["validate", "--kube"]);
    assert!(args.contains(&"--recipe".to_string()));
    assert_eq!(spec["securityContext"]["runAsUser"], 65532);
}
