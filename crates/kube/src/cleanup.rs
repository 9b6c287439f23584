//! Cleanup: foreground deletion of the load Job, the DGD and the per-run namespace, each step
//! bounded; only what this run created; errors are reported, never raised. With no-cleanup,
//! everything is kept and the command that removes it is returned.

use std::time::Duration;

use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::Namespace;
use kube::api::{ApiResource, DeleteParams};
use kube::Client;

use crate::api::{dgd_resource, dyn_api, is_not_found, sleep_until_next_poll};
use crate::deploy::Deployment;
use crate::options::KubeOptions;

/// How one cleanup step ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StepOutcome {
    /// Deleted and confirmed gone.
    Deleted,
    /// Was not there.
    AlreadyGone,
    /// Deletion accepted but the object still exists (finalizers) when the step's bound ran out.
    StillTerminating,
    /// The delete failed (message says why).
    Failed(String),
    /// Kept on purpose (no-cleanup).
    Kept,
}

/// One object's cleanup.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CleanupStep {
    /// e.g. `job infergate-perf-1a2b3c4d/infergate-load-1a2b3c4d`.
    pub object: String,
    /// Result.
    pub outcome: StepOutcome,
}

/// What cleanup did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CleanupReport {
    /// Steps in order (Job, DGD, namespace).
    pub steps: Vec<CleanupStep>,
    /// With no-cleanup: the command that removes what was kept.
    pub removal_command: Option<String>,
}

impl CleanupReport {
    /// True when nothing failed (kept or still-terminating objects are not failures).
    pub fn ok(&self) -> bool {
        !self
            .steps
            .iter()
            .any(|s| matches!(s.outcome, StepOutcome::Failed(_)))
    }
}

/// The kubectl command that removes what a run left behind.
pub fn removal_command(opts: &KubeOptions, dep: &Deployment) -> String {
    let mut base = String::from("kubectl");
    if let Some(k) = &opts.kubeconfig {
        base.push_str(&format!(" --kubeconfig {}", k.display()));
    }
    if let Some(c) = &opts.context {
        base.push_str(&format!(" --context {c}"));
    }
    let mut cmds = Vec::new();
    if dep.created.job && dep.job_namespace != dep.namespace {
        cmds.push(format!(
            "{base} -n {} delete job {} --cascade=foreground",
            dep.job_namespace, dep.job_name
        ));
    }
    if dep.created.namespace {
        cmds.push(format!("{base} delete namespace {}", dep.namespace));
    }
    cmds.join(" && ")
}

/// Delete what this run created. Never fails; see the report.
pub async fn cleanup(client: &Client, opts: &KubeOptions, dep: &Deployment) -> CleanupReport {
    let mut targets: Vec<(String, ApiResource, Option<String>, String)> = Vec::new();
    if dep.created.job {
        targets.push((
            format!("job {}/{}", dep.job_namespace, dep.job_name),
            ApiResource::erase::<Job>(&()),
            Some(dep.job_namespace.clone()),
            dep.job_name.clone(),
        ));
    }
    if dep.created.dgd {
        targets.push((
            format!("dynamographdeployment {}/{}", dep.namespace, dep.dgd_name),
            dgd_resource(),
            Some(dep.namespace.clone()),
            dep.dgd_name.clone(),
        ));
    }
    if dep.created.namespace {
        targets.push((
            format!("namespace {}", dep.namespace),
            ApiResource::erase::<Namespace>(&()),
            None,
            dep.namespace.clone(),
        ));
    }
    if opts.no_cleanup {
        let steps = targets
            .into_iter()
            .map(|(object, ..)| CleanupStep {
                object,
                outcome: StepOutcome::Kept,
            })
            .collect::<Vec<_>>();
        let cmd = removal_command(opts, dep);
        return CleanupReport {
            removal_command: (!cmd.is_empty()).then_some(cmd),
            steps,
        };
    }
    let mut steps = Vec::new();
    for (object, ar, ns, name) in targets {
        let outcome = delete_and_wait(
            client,
            &ar,
            ns.as_deref(),
            &name,
            opts.timeouts.cleanup_step,
            opts.timeouts.poll_interval,
        )
        .await;
        steps.push(CleanupStep { object, outcome });
    }
    CleanupReport {
        steps,
        removal_command: None,
    }
}

/// Foreground delete, then poll until gone, all within `bound`.
async fn delete_and_wait(
    client: &Client,
    ar: &ApiResource,
    ns: Option<&str>,
    name: &str,
    bound: Duration,
    poll: Duration,
) -> StepOutcome {
    let api = dyn_api(client, ar, ns);
    let deadline = tokio::time::Instant::now() + bound;
    match tokio::time::timeout_at(deadline, api.delete(name, &DeleteParams::foreground())).await {
        Err(_) => return StepOutcome::Failed(format!("delete not answered within {bound:?}")),
        Ok(Err(e)) if is_not_found(&e) => return StepOutcome::AlreadyGone,
        Ok(Err(e)) => return StepOutcome::Failed(e.to_string()),
        Ok(Ok(_)) => {}
    }
    loop {
        match tokio::time::timeout_at(deadline, api.get(name)).await {
            Err(_) => return StepOutcome::StillTerminating,
            Ok(Err(e)) if is_not_found(&e) => return StepOutcome::Deleted,
            Ok(_) => {}
        }
        if tokio::time::Instant::now() >= deadline {
            return StepOutcome::StillTerminating;
        }
        sleep_until_next_poll(poll, deadline).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::deploy::{plan, Created};

    #[test]
    fn removal_command_names_namespace_and_foreign_job_namespace() {
        let mut o = KubeOptions::new("img:1");
        o.run_id = Some("x".into());
        o.context = Some("prod".into());
        let mut d = plan(&o);
        d.created = Created {
            namespace: true,
            secret: false,
            dgd: true,
            job: true,
        };
        assert_eq!(
            removal_command(&o, &d),
            format!("kubectl --context prod delete namespace {}", d.namespace)
        );
        o.namespace = Some("bench".into());
        let mut d = plan(&o);
        d.created = Created {
            namespace: true,
            secret: false,
            dgd: true,
            job: true,
        };
        let c = removal_command(&o, &d);
        assert!(
            c.starts_with(&format!(
                "kubectl --context prod -n bench delete job {}",
                d.job_name
            )),
            "{c}"
        );
        assert!(c.ends_with(&format!("delete namespace {}", d.namespace)));
    }
}
