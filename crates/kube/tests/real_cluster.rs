//! Opt-in checks against a real cluster. They run only when `KUBECONFIG` is set (CI never sets
//! it) and are read-only: connect, the CRD guard, node choice. Nothing is created.

use infergate_kube::{choose_node, connect, preflight, KubeOptions};

#[tokio::test]
async fn real_cluster_read_only_checks() {
    let Some(path) = std::env::var_os("KUBECONFIG").filter(|v| !v.is_empty()) else {
        eprintln!("skipped: KUBECONFIG is not set; real-cluster checks run only against a cluster a person points them at");
        return;
    };
    let mut opts = KubeOptions::new("unused:0");
    opts.kubeconfig = Some(path.into());
    opts.context = std::env::var("INFERGATE_KUBE_CONTEXT").ok();
    let client = match connect(&opts).await {
        Ok(c) => c,
        Err(e) => panic!("KUBECONFIG is set but no client could be built: {e}"),
    };
    match preflight(&client, &opts, true).await {
        Ok(()) => eprintln!("DynamoGraphDeployment CRD: installed, serves v1beta1"),
        Err(e) => eprintln!("CRD guard: {e}"),
    }
    match choose_node(&client, &opts).await {
        Ok(n) => eprintln!(
            "would choose node {} ({} allocatable, {} in use, {} free); DRA nodes: {:?}",
            n.name, n.allocatable_gpus, n.used_gpus, n.free_gpus, n.dra_nodes
        ),
        Err(e) => eprintln!("node choice: {e}"),
    }
}
