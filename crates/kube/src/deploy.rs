//! Connecting, the CRD guard, and deploying the workload: the per-run namespace (refusing one we
//! did not create), the optional HF-token Secret and the DGD, all by server-side apply.

use k8s_openapi::api::core::v1::Namespace;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{DeleteParams, Patch, PatchParams, PostParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Api, Client, Config};

use crate::api::{
    bounded, dgd_resource, dyn_api, is_already_exists, is_not_found, sleep_until_next_poll,
};
use crate::manifests::{
    render_dgd, render_hf_secret, render_namespace, COMPONENT_KEY, COMPONENT_VALUE, DGD_NAME,
    FIELD_MANAGER, HF_SECRET_NAME, JOB_PREFIX, MANAGED_BY_KEY, MANAGED_BY_VALUE, NAMESPACE_PREFIX,
};
use crate::nodes::NodeChoice;
use crate::options::{derive_run_id, KubeOptions};
use crate::KubeError;

/// Name of the CRD the workload needs.
pub const DGD_CRD_NAME: &str = "dynamographdeployments.nvidia.com";

/// Build a client: an explicit kubeconfig file (with optional context), else the default
/// kubeconfig (`KUBECONFIG`, `~/.kube/config`) with the context, else the in-cluster service account.
pub async fn connect(opts: &KubeOptions) -> Result<Client, KubeError> {
    let kc_opts = KubeConfigOptions {
        context: opts.context.clone(),
        ..Default::default()
    };
    let (desc, config) = match (&opts.kubeconfig, &opts.context) {
        (Some(path), _) => {
            let desc = format!("kubeconfig {}{}", path.display(), ctx_desc(opts));
            let kc = Kubeconfig::read_from(path).map_err(|e| KubeError::Config {
                source_desc: desc.clone(),
                message: e.to_string(),
            })?;
            (
                desc.clone(),
                Config::from_custom_kubeconfig(kc, &kc_opts)
                    .await
                    .map_err(|e| e.to_string()),
            )
        }
        (None, Some(_)) => (
            format!("default kubeconfig{}", ctx_desc(opts)),
            Config::from_kubeconfig(&kc_opts)
                .await
                .map_err(|e| e.to_string()),
        ),
        (None, None) => (
            "default kubeconfig, then in-cluster service account".to_string(),
            Config::infer().await.map_err(|e| e.to_string()),
        ),
    };
    let config = config.map_err(|message| KubeError::Config {
        source_desc: desc.clone(),
        message,
    })?;
    Client::try_from(config).map_err(|e| KubeError::Config {
        source_desc: desc,
        message: e.to_string(),
    })
}

fn ctx_desc(opts: &KubeOptions) -> String {
    opts.context
        .as_deref()
        .map(|c| format!(", context {c}"))
        .unwrap_or_default()
}

/// Guard C (upstream §2.2, fail-closed): when the recipe declares `dynamo-platform`, the DGD CRD
/// must exist and serve `nvidia.com/v1beta1`.
pub async fn preflight(
    client: &Client,
    opts: &KubeOptions,
    requires_dynamo: bool,
) -> Result<(), KubeError> {
    if !requires_dynamo {
        return Ok(());
    }
    let api: Api<CustomResourceDefinition> = Api::all(client.clone());
    let crd = match tokio::time::timeout(opts.timeouts.api_call, api.get(DGD_CRD_NAME)).await {
        Ok(Ok(crd)) => crd,
        Ok(Err(e)) if is_not_found(&e) => return Err(KubeError::CrdMissing),
        Ok(Err(e)) => {
            return Err(KubeError::api(
                "failed to check for DynamoGraphDeployment CRD",
                e,
            ))
        }
        Err(_) => {
            return Err(KubeError::Timeout {
                what: "failed to check for DynamoGraphDeployment CRD".into(),
                after: opts.timeouts.api_call,
                last_seen: "no answer from the API server".into(),
            })
        }
    };
    let served: Vec<&str> = crd
        .spec
        .versions
        .iter()
        .filter(|v| v.served)
        .map(|v| v.name.as_str())
        .collect();
    if !served.contains(&"v1beta1") {
        return Err(KubeError::Unsupported(format!(
            "the DynamoGraphDeployment CRD does not serve nvidia.com/v1beta1 (served: {}); upgrade the Dynamo operator to 1.x",
            served.join(", ")
        )));
    }
    Ok(())
}

/// What this run created (or was about to create when it was interrupted): cleanup deletes only
/// these, so a refused foreign namespace is never touched.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Created {
    /// The per-run namespace is ours (created now, or carrying our labels).
    pub namespace: bool,
    /// The HF-token Secret.
    pub secret: bool,
    /// The DGD.
    pub dgd: bool,
    /// The load Job.
    pub job: bool,
}

/// Handle for one run's objects.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Deployment {
    /// 8-hex run ID.
    pub run_id: String,
    /// Per-run namespace (`infergate-perf-<run id>`).
    pub namespace: String,
    /// DGD name.
    pub dgd_name: String,
    /// Namespace of the load Job (the per-run one unless `--namespace`).
    pub job_namespace: String,
    /// Load Job name (`infergate-load-<run id>`).
    pub job_name: String,
    /// Node the workload is pinned to, once chosen.
    pub node: Option<String>,
    /// Worker count deployed.
    pub workers: u64,
    /// What exists because of this run.
    pub created: Created,
}

/// Names for a run, derived from the run ID; nothing is created yet.
pub fn plan(opts: &KubeOptions) -> Deployment {
    let run_id = derive_run_id(opts.run_id.as_deref());
    let namespace = format!("{NAMESPACE_PREFIX}-{run_id}");
    Deployment {
        job_namespace: opts.namespace.clone().unwrap_or_else(|| namespace.clone()),
        job_name: format!("{JOB_PREFIX}-{run_id}"),
        dgd_name: DGD_NAME.into(),
        namespace,
        run_id,
        node: None,
        workers: 0,
        created: Created::default(),
    }
}

fn owned(ns: &Namespace) -> bool {
    let labels = ns.metadata.labels.clone().unwrap_or_default();
    labels.get(MANAGED_BY_KEY).map(String::as_str) == Some(MANAGED_BY_VALUE)
        && labels.get(COMPONENT_KEY).map(String::as_str) == Some(COMPONENT_VALUE)
}

fn foreign(name: &str) -> KubeError {
    KubeError::ForeignNamespace {
        namespace: name.into(),
        labels: format!("{MANAGED_BY_KEY}={MANAGED_BY_VALUE},{COMPONENT_KEY}={COMPONENT_VALUE}"),
    }
}

/// Make sure the per-run namespace exists and is ours. Returns true when it already existed.
async fn ensure_namespace(
    client: &Client,
    opts: &KubeOptions,
    dep: &mut Deployment,
) -> Result<bool, KubeError> {
    let api: Api<Namespace> = Api::all(client.clone());
    let limit = opts.timeouts.api_call;
    let name = dep.namespace.clone();
    let deadline = tokio::time::Instant::now() + opts.timeouts.workload_ready;
    loop {
        match tokio::time::timeout(limit, api.get(&name)).await {
            Ok(Ok(ns)) => {
                if !owned(&ns) {
                    return Err(foreign(&name));
                }
                dep.created.namespace = true;
                if ns.metadata.deletion_timestamp.is_none() {
                    return Ok(true);
                }
                // Ours but terminating (a previous run with the same --run-id): wait it out.
                if tokio::time::Instant::now() >= deadline {
                    return Err(KubeError::Timeout {
                        what: format!("namespace {name} to finish terminating"),
                        after: opts.timeouts.workload_ready,
                        last_seen: "Terminating".into(),
                    });
                }
                sleep_until_next_poll(opts.timeouts.poll_interval, deadline).await;
            }
            Ok(Err(e)) if is_not_found(&e) => {
                dep.created.namespace = true;
                let body: Namespace = serde_json::from_value(render_namespace(&name, &dep.run_id))
                    .map_err(|e| KubeError::Template {
                        template: "namespace",
                        message: e.to_string(),
                    })?;
                match tokio::time::timeout(
                    limit,
                    api.create(
                        &PostParams {
                            field_manager: Some(FIELD_MANAGER.into()),
                            ..Default::default()
                        },
                        &body,
                    ),
                )
                .await
                {
                    Ok(Ok(_)) => return Ok(false),
                    // Lost a race: loop and judge the winner by its labels.
                    Ok(Err(e)) if is_already_exists(&e) => dep.created.namespace = false,
                    Ok(Err(e)) => {
                        return Err(KubeError::api(format!("create namespace {name}"), e))
                    }
                    Err(_) => {
                        return Err(KubeError::Timeout {
                            what: format!("create namespace {name}"),
                            after: limit,
                            last_seen: "no answer".into(),
                        })
                    }
                }
            }
            Ok(Err(e)) => return Err(KubeError::api(format!("read namespace {name}"), e)),
            Err(_) => {
                return Err(KubeError::Timeout {
                    what: format!("read namespace {name}"),
                    after: limit,
                    last_seen: "no answer".into(),
                })
            }
        }
    }
}

/// Deploy the workload on `node`: namespace, HF-token Secret (if a token is set; a stale one in a
/// reused namespace is deleted), then the DGD with one 1-GPU worker per free GPU.
pub async fn deploy(
    client: &Client,
    opts: &KubeOptions,
    node: &NodeChoice,
    dep: &mut Deployment,
) -> Result<(), KubeError> {
    opts.validate()?;
    let limit = opts.timeouts.api_call;
    dep.node = Some(node.name.clone());
    dep.workers = node.free_gpus;
    let reused = ensure_namespace(client, opts, dep).await?;
    let ns = dep.namespace.clone();
    let ssa = PatchParams::apply(FIELD_MANAGER).force();

    let secrets = dyn_api(
        client,
        &kube::api::ApiResource::erase::<k8s_openapi::api::core::v1::Secret>(&()),
        Some(&ns),
    );
    match &opts.hf_token {
        Some(token) => {
            dep.created.secret = true;
            let body = render_hf_secret(&ns, &dep.run_id, token.expose());
            bounded(
                limit,
                || format!("apply Secret {ns}/{HF_SECRET_NAME}"),
                secrets.patch(HF_SECRET_NAME, &ssa, &Patch::Apply(&body)),
            )
            .await?;
        }
        None if reused => {
            // Anonymous downloads: remove a token a previous run with this run ID left behind.
            match tokio::time::timeout(
                limit,
                secrets.delete(HF_SECRET_NAME, &DeleteParams::default()),
            )
            .await
            {
                Ok(Ok(_)) => {}
                Ok(Err(e)) if is_not_found(&e) => {}
                Ok(Err(e)) => {
                    return Err(KubeError::api(
                        format!("delete stale Secret {ns}/{HF_SECRET_NAME}"),
                        e,
                    ))
                }
                Err(_) => {
                    return Err(KubeError::Timeout {
                        what: format!("delete stale Secret {ns}/{HF_SECRET_NAME}"),
                        after: limit,
                        last_seen: "no answer".into(),
                    })
                }
            }
        }
        None => {}
    }

    let tolerations = node.tolerations(&opts.tolerations);
    let body = render_dgd(
        opts,
        &ns,
        &dep.run_id,
        &node.name,
        node.free_gpus,
        &tolerations,
    )?;
    dep.created.dgd = true;
    let dgds = dyn_api(client, &dgd_resource(), Some(&ns));
    bounded(
        limit,
        || format!("failed to apply DynamoGraphDeployment {ns}/{DGD_NAME}"),
        dgds.patch(DGD_NAME, &ssa, &Patch::Apply(&body)),
    )
    .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plan_names_follow_the_run_id() {
        let mut o = KubeOptions::new("img:1");
        o.run_id = Some("ci-123".into());
        let d = plan(&o);
        assert_eq!(d.run_id.len(), 8);
        assert_eq!(d.namespace, format!("infergate-perf-{}", d.run_id));
        assert_eq!(d.job_name, format!("infergate-load-{}", d.run_id));
        assert_eq!(d.job_namespace, d.namespace);
        assert_eq!(d.created, Created::default());
        o.namespace = Some("bench".into());
        assert_eq!(plan(&o).job_namespace, "bench");
        assert!(crate::options::is_dns_label(&d.namespace));
    }
}
