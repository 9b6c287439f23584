//! The one error type of this crate. Every message names the object, the bad value and what was
//! expected, so a user can act on it without reading code. Secrets never appear here.

use std::time::Duration;

/// Everything that can go wrong while talking to the cluster or validating options for it.
#[derive(Debug, thiserror::Error)]
pub enum KubeError {
    /// A flag or option value is malformed (maps to exit 2 in the CLI).
    #[error("invalid {what} {value:?}: {expected}")]
    InvalidOption {
        /// Which option (e.g. "toleration").
        what: &'static str,
        /// The value given.
        value: String,
        /// What would have been accepted.
        expected: String,
    },

    /// No client could be built from the kubeconfig or the in-cluster environment.
    #[error("cannot load Kubernetes configuration ({source_desc}): {message}")]
    Config {
        /// Where we looked (kubeconfig path, context, or "in-cluster / default kubeconfig").
        source_desc: String,
        /// The loader's error text.
        message: String,
    },

    /// The DynamoGraphDeployment CRD is missing while the recipe declares dynamo-platform (upstream's
    /// exact message, fail-closed since AICR #2122).
    #[error(
        "recipe declares dynamo-platform but the DynamoGraphDeployment CRD is not installed on the cluster — apply the bundle (Dynamo operator)"
    )]
    CrdMissing,

    /// No node can host the workload.
    #[error("{0}")]
    NoGpuNode(String),

    /// The cluster lacks something the workload needs (e.g. the CRD serves no v1beta1).
    #[error("{0}")]
    Unsupported(String),

    /// Occupancy accounting failed: fail closed rather than assume GPUs are free.
    #[error("GPU occupancy accounting failed: {0}")]
    Occupancy(String),

    /// The per-run namespace exists but this tool did not create it.
    #[error(
        "namespace {namespace:?} already exists without the labels {labels}; refusing to adopt a namespace infergate did not create (pick another --run-id or delete it)"
    )]
    ForeignNamespace {
        /// The namespace name.
        namespace: String,
        /// The ownership labels we expected, as `k=v,k=v`.
        labels: String,
    },

    /// A DGD template could not be rendered (a bug in a shipped template or an impossible option).
    #[error("cannot render {template}: {message}")]
    Template {
        /// Template file name.
        template: &'static str,
        /// What is wrong.
        message: String,
    },

    /// An API call failed.
    #[error("{action}: {source}")]
    Api {
        /// What we were doing, naming the object (e.g. "create namespace infergate-perf-1a2b3c4d").
        action: String,
        /// The client's error.
        #[source]
        source: kube::Error,
    },

    /// A wait ran past its bound.
    #[error("timed out after {after:?} waiting for {what}; last seen: {last_seen}")]
    Timeout {
        /// What we waited for.
        what: String,
        /// The bound.
        after: Duration,
        /// The last observed state, so the user knows where it was stuck.
        last_seen: String,
    },

    /// The load Job (or its readiness-probe init container) failed; carries the log tail.
    #[error("{0}")]
    LoadJobFailed(Box<LoadJobFailure>),

    /// The load Job succeeded but its log carries no parseable framed result.
    #[error("{message}")]
    Result {
        /// Upstream-style explanation (mentions the sentinel).
        message: String,
    },

    /// The run was cancelled (Ctrl-C / SIGTERM); cleanup still ran.
    #[error("cancelled by signal before the run finished; cleanup ran")]
    Cancelled,
}

impl KubeError {
    /// Wrap a client error with what we were doing.
    pub(crate) fn api(action: impl Into<String>, source: kube::Error) -> Self {
        KubeError::Api {
            action: action.into(),
            source,
        }
    }

    /// True for errors caused by bad user input (flags/options), which the CLI maps to exit 2.
    pub fn is_bad_input(&self) -> bool {
        matches!(self, KubeError::InvalidOption { .. })
    }
}

/// Details of a failed load Job (boxed in [`KubeError::LoadJobFailed`] to keep errors small).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoadJobFailure {
    /// Job namespace.
    pub namespace: String,
    /// Job name.
    pub job: String,
    /// Pod name (empty if no pod was created).
    pub pod: String,
    /// The container that failed (`probe` or `load`).
    pub container: String,
    /// Exit code / reason as reported by the kubelet.
    pub reason: String,
    /// The tail of that container's log.
    pub log_tail: String,
}

impl std::fmt::Display for LoadJobFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "load Job {}/{} failed (pod {}, container {}, {}); last lines of its log:\n{}",
            self.namespace,
            self.job,
            if self.pod.is_empty() {
                "<none>"
            } else {
                &self.pod
            },
            self.container,
            self.reason,
            self.log_tail
        )
    }
}
