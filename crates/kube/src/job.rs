//! The load Job: apply it, wait for its pod (bounded), wait for the pod to finish (bounded), read
//! the log and extract the sentinel-framed JSON. A failed pod returns its log tail in the error.

use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::Pod;
use kube::api::{ListParams, LogParams, Patch, PatchParams};
use kube::{Api, Client};

use crate::api::{bounded, is_not_found, sleep_until_next_poll};
use crate::deploy::Deployment;
use crate::error::LoadJobFailure;
use crate::manifests::{render_load_job, LoadJobSpec, FIELD_MANAGER, LOAD_CONTAINER};
use crate::options::KubeOptions;
use crate::KubeError;

/// Lines of the failed container's log kept in the error.
const LOG_TAIL_LINES: usize = 40;
/// Bytes of the failed container's log kept in the error.
const LOG_TAIL_BYTES: usize = 8 * 1024;

/// What the load Job runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoadRequest {
    /// Arguments after `infergate probe` for an init container that waits for a real completion
    /// through the cluster network before the load starts; `None` = no probe.
    pub probe_args: Option<Vec<String>>,
    /// Arguments after `infergate bench`; `--result-sentinel <sentinel>` is appended.
    pub bench_args: Vec<String>,
    /// The line that frames the JSON result in the log.
    pub sentinel: String,
}

/// Extract the framed payload (upstream `parseAIPerfOutput` semantics): the opening sentinel is
/// the first occurrence that starts a line (so an echoed command line cannot fool it), the
/// closing one the next occurrence anywhere after it (a sentinel glued to `}` still counts).
/// The trimmed text between must be valid JSON; it is returned as is.
pub fn extract_framed(log: &str, sentinel: &str) -> Result<String, KubeError> {
    let err = |message: String| KubeError::Result { message };
    if sentinel.is_empty() {
        return Err(err("result sentinel is empty".into()));
    }
    let start = log
        .match_indices(sentinel)
        .map(|(i, _)| i)
        .find(|&i| i == 0 || log.as_bytes()[i - 1] == b'\n')
        .ok_or_else(|| {
            err(format!(
                "result sentinel {sentinel:?} not found in pod logs (length={}); benchmark likely failed",
                log.len()
            ))
        })?;
    let body_start = start + sentinel.len();
    let end = log[body_start..].find(sentinel).ok_or_else(|| {
        err("result end sentinel not found in pod logs; benchmark may have been truncated".into())
    })?;
    let payload = log[body_start..body_start + end].trim();
    serde_json::from_str::<serde_json::Value>(payload).map_err(|e| {
        err(format!(
            "failed to parse result JSON between sentinels: {e}"
        ))
    })?;
    Ok(payload.to_string())
}

/// The last lines of a log, bounded in bytes (cut at a char boundary).
pub fn log_tail(log: &str) -> String {
    let lines: Vec<&str> = log.lines().collect();
    let tail = lines[lines.len().saturating_sub(LOG_TAIL_LINES)..].join("\n");
    if tail.len() <= LOG_TAIL_BYTES {
        return tail;
    }
    let mut cut = tail.len() - LOG_TAIL_BYTES;
    while !tail.is_char_boundary(cut) {
        cut += 1;
    }
    format!("…{}", &tail[cut..])
}

/// A short description of where a pod is (phase and container waiting/terminated reasons).
fn pod_state(pod: &Pod) -> String {
    let Some(st) = pod.status.as_ref() else {
        return "no status".into();
    };
    let mut parts = vec![format!(
        "phase={}",
        st.phase.as_deref().unwrap_or("Unknown")
    )];
    for cs in st
        .init_container_statuses
        .iter()
        .flatten()
        .chain(st.container_statuses.iter().flatten())
    {
        if let Some(s) = cs.state.as_ref() {
            if let Some(w) = s.waiting.as_ref() {
                parts.push(format!(
                    "{}: waiting ({})",
                    cs.name,
                    w.reason.as_deref().unwrap_or("")
                ));
            } else if let Some(t) = s.terminated.as_ref() {
                parts.push(format!(
                    "{}: exited {} ({})",
                    cs.name,
                    t.exit_code,
                    t.reason.as_deref().unwrap_or("")
                ));
            }
        }
    }
    parts.join(", ")
}

/// Which container failed and why: a failed probe init container first, else the load container.
fn failure_of(pod: &Pod) -> (String, String) {
    let st = pod.status.as_ref();
    for cs in st
        .and_then(|s| s.init_container_statuses.as_ref())
        .into_iter()
        .flatten()
    {
        if let Some(t) = cs.state.as_ref().and_then(|s| s.terminated.as_ref()) {
            if t.exit_code != 0 {
                return (
                    cs.name.clone(),
                    format!(
                        "exit code {}{}",
                        t.exit_code,
                        reason_suffix(t.reason.as_deref())
                    ),
                );
            }
        }
    }
    for cs in st
        .and_then(|s| s.container_statuses.as_ref())
        .into_iter()
        .flatten()
    {
        if let Some(t) = cs.state.as_ref().and_then(|s| s.terminated.as_ref()) {
            return (
                cs.name.clone(),
                format!(
                    "exit code {}{}",
                    t.exit_code,
                    reason_suffix(t.reason.as_deref())
                ),
            );
        }
    }
    let reason = st
        .and_then(|s| s.reason.clone())
        .unwrap_or_else(|| "pod phase Failed".into());
    (LOAD_CONTAINER.into(), reason)
}

fn reason_suffix(r: Option<&str>) -> String {
    r.filter(|r| !r.is_empty())
        .map(|r| format!(", {r}"))
        .unwrap_or_default()
}

/// Create the load Job and return the framed JSON payload from its log.
pub async fn run_load_job(
    client: &Client,
    opts: &KubeOptions,
    dep: &mut Deployment,
    req: &LoadRequest,
) -> Result<String, KubeError> {
    let t = &opts.timeouts;
    let (ns, name) = (dep.job_namespace.clone(), dep.job_name.clone());
    let body = render_load_job(&LoadJobSpec {
        namespace: &ns,
        name: &name,
        run_id: &dep.run_id,
        image: &opts.image,
        probe_args: req.probe_args.as_deref(),
        bench_args: &req.bench_args,
        sentinel: &req.sentinel,
        active_deadline_seconds: (t.pod_start + t.job).as_secs().max(1) as i64,
    });
    dep.created.job = true;
    let jobs: Api<Job> = Api::namespaced(client.clone(), &ns);
    bounded(
        t.api_call,
        || format!("create load Job {ns}/{name}"),
        jobs.patch(
            &name,
            &PatchParams::apply(FIELD_MANAGER).force(),
            &Patch::Apply(&body),
        ),
    )
    .await?;

    let pods: Api<Pod> = Api::namespaced(client.clone(), &ns);
    let pod_name = wait_for_pod(&pods, &jobs, opts, &name).await?;
    let pod = wait_for_pod_end(&pods, opts, &ns, &name, &pod_name).await?;
    let succeeded = pod.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Succeeded");
    if succeeded {
        let lp = LogParams {
            container: Some(LOAD_CONTAINER.into()),
            ..Default::default()
        };
        let log = bounded(
            t.api_call,
            || format!("failed to get load Job logs {ns}/{pod_name}"),
            pods.logs(&pod_name, &lp),
        )
        .await?;
        return extract_framed(&log, &req.sentinel);
    }
    let (container, reason) = failure_of(&pod);
    let lp = LogParams {
        container: Some(container.clone()),
        ..Default::default()
    };
    let log = match tokio::time::timeout(t.api_call, pods.logs(&pod_name, &lp)).await {
        Ok(Ok(l)) => log_tail(&l),
        Ok(Err(e)) => format!("<log unavailable: {e}>"),
        Err(_) => "<log unavailable: no answer>".into(),
    };
    Err(KubeError::LoadJobFailed(Box::new(LoadJobFailure {
        namespace: ns,
        job: name,
        pod: pod_name,
        container,
        reason,
        log_tail: log,
    })))
}

/// Wait (bounded by `pod_start`) for the Job's pod to exist; fail early if the Job failed first.
async fn wait_for_pod(
    pods: &Api<Pod>,
    jobs: &Api<Job>,
    opts: &KubeOptions,
    job: &str,
) -> Result<String, KubeError> {
    let t = &opts.timeouts;
    let deadline = tokio::time::Instant::now() + t.pod_start;
    let lp = ListParams::default().labels(&format!("job-name={job}"));
    let mut last_seen = "no pod yet".to_string();
    loop {
        let list = bounded(
            t.api_call,
            || format!("list pods of load Job {job}"),
            pods.list(&lp),
        )
        .await?;
        if let Some(p) = list
            .items
            .iter()
            .filter_map(|p| p.metadata.name.clone())
            .min()
        {
            return Ok(p);
        }
        if let Ok(Ok(j)) = tokio::time::timeout(t.api_call, jobs.get(job)).await {
            let failed = j
                .status
                .as_ref()
                .and_then(|s| s.conditions.as_ref())
                .and_then(|cs| {
                    cs.iter()
                        .find(|c| c.type_ == "Failed" && c.status == "True")
                        .cloned()
                });
            if let Some(c) = failed {
                return Err(KubeError::LoadJobFailed(Box::new(LoadJobFailure {
                    namespace: pods.namespace().unwrap_or_default().to_string(),
                    job: job.into(),
                    pod: String::new(),
                    container: LOAD_CONTAINER.into(),
                    reason: format!(
                        "{}: {}",
                        c.reason.unwrap_or_default(),
                        c.message.unwrap_or_default()
                    ),
                    log_tail: "<no pod was created>".into(),
                })));
            }
            last_seen = "no pod yet (Job exists, not failed)".into();
        }
        if tokio::time::Instant::now() >= deadline {
            return Err(KubeError::Timeout {
                what: format!("a pod of load Job {job}"),
                after: t.pod_start,
                last_seen,
            });
        }
        sleep_until_next_poll(t.poll_interval, deadline).await;
    }
}

/// Wait (bounded by `job`) for the pod to reach Succeeded or Failed.
async fn wait_for_pod_end(
    pods: &Api<Pod>,
    opts: &KubeOptions,
    ns: &str,
    job: &str,
    pod: &str,
) -> Result<Pod, KubeError> {
    let t = &opts.timeouts;
    let deadline = tokio::time::Instant::now() + t.job;
    let mut last_seen = "not read yet".to_string();
    loop {
        match tokio::time::timeout(t.api_call, pods.get(pod)).await {
            Ok(Ok(p)) => {
                let phase = p.status.as_ref().and_then(|s| s.phase.as_deref());
                if matches!(phase, Some("Succeeded") | Some("Failed")) {
                    return Ok(p);
                }
                last_seen = pod_state(&p);
            }
            Ok(Err(e)) if is_not_found(&e) => {
                return Err(KubeError::LoadJobFailed(Box::new(LoadJobFailure {
                    namespace: ns.into(),
                    job: job.into(),
                    pod: pod.into(),
                    container: LOAD_CONTAINER.into(),
                    reason: "the pod disappeared before finishing (evicted or deleted)".into(),
                    log_tail: format!("<unavailable; last seen: {last_seen}>"),
                })));
            }
            Ok(Err(e)) => return Err(KubeError::api(format!("read load pod {ns}/{pod}"), e)),
            Err(_) => last_seen = "API server did not answer".into(),
        }
        if tokio::time::Instant::now() >= deadline {
            return Err(KubeError::Timeout {
                what: format!("load pod {ns}/{pod} to finish"),
                after: t.job,
                last_seen,
            });
        }
        sleep_until_next_poll(t.poll_interval, deadline).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    const S: &str = "===INFERGATE-RESULT===";

    #[test]
    fn extracts_between_first_two_sentinels_with_noise() {
        let log = format!("noise {{ braces }}\n{S}\n{{\"a\": 5667.5}}\n{S}\ntrailing {{");
        assert_eq!(extract_framed(&log, S).unwrap(), "{\"a\": 5667.5}");
        let glued = format!("{S}\n{{\"a\":1}}{S}\n");
        assert_eq!(extract_framed(&glued, S).unwrap(), "{\"a\":1}");
        // An echoed argv mid-line is not an opening frame.
        let echoed =
            format!("running: infergate bench --result-sentinel {S}\n{S}\n{{\"b\":2}}\n{S}\n");
        assert_eq!(extract_framed(&echoed, S).unwrap(), "{\"b\":2}");
    }

    #[test]
    fn framing_errors_name_the_problem() {
        let e = extract_framed("just noise", S).unwrap_err().to_string();
        assert!(e.contains("sentinel") && e.contains("length=10"), "{e}");
        let e = extract_framed(&format!("{S}\n{{\"a\":1}}"), S)
            .unwrap_err()
            .to_string();
        assert!(e.contains("end sentinel"), "{e}");
        let e = extract_framed(&format!("{S}\n{{not json\n{S}\n"), S)
            .unwrap_err()
            .to_string();
        assert!(e.contains("parse"), "{e}");
    }

    #[test]
    fn log_tail_keeps_the_end() {
        let log: String = (0..100).map(|i| format!("line {i}\n")).collect();
        let t = log_tail(&log);
        assert!(t.starts_with("line 60") && t.ends_with("line 99"), "{t}");
        let long = "é".repeat(10_000);
        assert!(log_tail(&long).len() <= LOG_TAIL_BYTES + 4);
    }
}
