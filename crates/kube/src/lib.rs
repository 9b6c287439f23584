//! Kubernetes orchestration for `validate --kube`: the only crate that talks to an API server.
