//! The whole `validate --kube` cluster flow, cancellation-aware: preflight → choose node → deploy
//! → wait ready → load Job → framed result, and cleanup afterwards in every case (success, error,
//! or the cancel future firing on Ctrl-C/SIGTERM).

use std::future::Future;

use kube::Client;

use crate::cleanup::{cleanup, CleanupReport};
use crate::deploy::{deploy, plan, preflight, Deployment};
use crate::job::{run_load_job, LoadRequest};
use crate::nodes::{choose_node, NodeChoice};
use crate::options::KubeOptions;
use crate::ready::{wait_ready, Endpoint};
use crate::KubeError;

/// Progress, for the caller to print as it happens.
#[derive(Debug, Clone, Copy)]
pub enum FlowEvent<'a> {
    /// The node was chosen.
    NodeChosen {
        /// Run ID.
        run_id: &'a str,
        /// The choice.
        node: &'a NodeChoice,
    },
    /// Namespace, Secret and DGD are applied.
    Deployed(&'a Deployment),
    /// The DGD is ready at this endpoint.
    Ready(&'a Endpoint),
    /// The load Job is being created.
    LoadStarted(&'a Deployment),
    /// Cleanup is starting (after success, failure or cancel).
    CleaningUp(&'a Deployment),
}

/// Everything the flow learned, plus the result and the cleanup report.
#[derive(Debug)]
pub struct FlowOutcome {
    /// The run's objects (names, what was created).
    pub deployment: Deployment,
    /// The chosen node, if the flow got that far.
    pub node: Option<NodeChoice>,
    /// The endpoint, if the DGD became ready.
    pub endpoint: Option<Endpoint>,
    /// The framed JSON payload, or why there is none ([`KubeError::Cancelled`] on cancel).
    pub result: Result<String, KubeError>,
    /// What cleanup did (always run; errors there never change `result`).
    pub cleanup: CleanupReport,
}

/// Run the flow. `make_load` builds the Job's arguments once the node (free GPUs → concurrency)
/// and endpoint are known. `cancel` resolving stops the flow at once; cleanup then runs, bounded.
pub async fn run_gate_flow<F, C>(
    client: &Client,
    opts: &KubeOptions,
    make_load: F,
    on_event: &(dyn Fn(FlowEvent<'_>) + Sync),
    cancel: C,
) -> FlowOutcome
where
    F: FnOnce(&NodeChoice, &Endpoint, &str) -> LoadRequest,
    C: Future<Output = ()>,
{
    let mut dep = plan(opts);
    let mut node: Option<NodeChoice> = None;
    let mut endpoint: Option<Endpoint> = None;
    let result = {
        let work = async {
            opts.validate()?;
            preflight(client, opts, true).await?;
            let chosen = choose_node(client, opts).await?;
            on_event(FlowEvent::NodeChosen {
                run_id: &dep.run_id,
                node: &chosen,
            });
            let chosen = node.insert(chosen);
            deploy(client, opts, chosen, &mut dep).await?;
            on_event(FlowEvent::Deployed(&dep));
            let ep = wait_ready(client, opts, &dep).await?;
            on_event(FlowEvent::Ready(&ep));
            let ep = endpoint.insert(ep);
            let req = make_load(chosen, ep, &dep.run_id);
            on_event(FlowEvent::LoadStarted(&dep));
            run_load_job(client, opts, &mut dep, &req).await
        };
        tokio::select! {
            r = work => r,
            () = cancel => Err(KubeError::Cancelled),
        }
    };
    on_event(FlowEvent::CleaningUp(&dep));
    let cleanup = cleanup(client, opts, &dep).await;
    FlowOutcome {
        deployment: dep,
        node,
        endpoint,
        result,
        cleanup,
    }
}
