//! Kubernetes orchestration for `validate --kube`: the only crate that talks to an API server.
//!
//! It owns: connecting (kubeconfig or in-cluster), the DynamoGraphDeployment CRD guard, choosing
//! the GPU node (occupancy with Kubernetes' init/sidecar rules, DRA detection), deploying the
//! Dynamo workload (per-run namespace, HF-token Secret, DGD by server-side apply), waiting for
//! it, running the load as a `batch/v1` Job of the infergate image, extracting the
//! sentinel-framed JSON from the Job's log, and cleaning up (also on cancel).
//!
//! It must not: know the root binary's types, parse or gate the benchmark result (it returns the
//! framed JSON string; the caller applies the gate), print to stdout, or log secrets. Every wait is
//! bounded by [`Timeouts`]; poll intervals are configurable so tests run in milliseconds.

mod api;
mod cleanup;
mod deploy;
mod error;
mod flow;
mod job;
pub mod manifests;
mod nodes;
mod options;
mod ready;

pub use api::{api_use_allows, ApiUse, API_USES};
pub use cleanup::{cleanup, removal_command, CleanupReport, CleanupStep, StepOutcome};
pub use deploy::{connect, deploy, plan, preflight, Created, Deployment, DGD_CRD_NAME};
pub use error::{KubeError, LoadJobFailure};
pub use flow::{run_gate_flow, FlowEvent, FlowOutcome};
pub use job::{extract_framed, run_load_job, LoadRequest};
pub use nodes::{
    choose_node, pod_effective_gpu_request, NodeChoice, NodeGpus, Taint, GPU_DRA_DRIVER,
};
pub use options::{
    derive_run_id, no_cleanup_from_env, parse_node_selector, parse_truthy, validate_model,
    KubeOptions, RouterMode, Routing, Secret, Timeouts, Toleration, DEFAULT_DYNAMO_IMAGE,
    DEFAULT_EPP_IMAGE, DEFAULT_MODEL, ROUTER_MODES,
};
pub use ready::{dgd_ready, resolve_endpoint, wait_ready, Endpoint};
