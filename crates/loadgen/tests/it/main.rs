//! Client, scheduler and probe tests against local misbehaving servers (`server.rs`). Real
//! sockets and real time: tolerances are generous, and nothing waits on a sleep for
//! synchronisation (tests wait on server-side notifications, with bounds).

mod failures;
mod probe;
mod scheduling;
mod server;
mod timing;

use infergate_loadgen::{run, CancelToken, LoadPlan, RunResult, Target};
use infergate_model::{PlannedRequest, RequestRecord, RequestSource, TokenCounter};
use std::sync::Arc;
use std::time::Duration;

/// Fixed-body request source.
pub struct Src {
    pub streaming: bool,
    pub path: &'static str,
    pub max_tokens: u32,
    pub body: Arc<[u8]>,
}

impl Src {
    pub fn chat(streaming: bool) -> Arc<Self> {
        let body = format!(
            r#"{{"model":"m","messages":[{{"role":"user","content":"hi"}}],"max_tokens":16,"stream":{streaming}}}"#
        );
        Arc::new(Src {
            streaming,
            path: "/v1/chat/completions",
            max_tokens: 16,
            body: body.into_bytes().into(),
        })
    }
}

impl RequestSource for Src {
    fn path(&self) -> &str {
        self.path
    }
    fn streaming(&self) -> bool {
        self.streaming
    }
    fn planned(&self, index: u64) -> PlannedRequest {
        PlannedRequest {
            index,
            entry: (index % 3) as u32,
            input_tokens: 5,
            max_tokens: self.max_tokens,
            body: Arc::clone(&self.body),
        }
    }
}

/// Counts whitespace-separated words.
pub struct Words;

impl TokenCounter for Words {
    fn count_tokens(&self, text: &str) -> u32 {
        text.split_whitespace().count() as u32
    }
}

/// Run `plan` against `url` with a bound on the whole run.
pub async fn run_plan(url: &str, src: Arc<Src>, plan: LoadPlan) -> RunResult {
    let target = Target::parse(url, &[], None).expect("target");
    run_with(target, src, plan, CancelToken::new()).await
}

pub async fn run_with(
    target: Target,
    src: Arc<Src>,
    plan: LoadPlan,
    cancel: CancelToken,
) -> RunResult {
    tokio::time::timeout(
        Duration::from_secs(30),
        run(target, src, Arc::new(Words), plan, None, cancel),
    )
    .await
    .expect("run finished in time")
    .expect("valid plan")
}

/// One streaming request against `url`, 2 s timeout.
pub async fn one(url: &str, streaming: bool) -> RequestRecord {
    let mut plan = LoadPlan::closed(1, 1);
    plan.request_timeout = Duration::from_secs(2);
    let mut r = run_plan(url, Src::chat(streaming), plan).await;
    assert_eq!(r.records.len(), 1);
    r.records.remove(0)
}
