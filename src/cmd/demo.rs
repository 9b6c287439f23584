//! `infergate demo`: the whole gate, end to end, against a simulated deployment started
//! in-process on a loopback port — the README's first command.
//!
//! It runs the h100-eks recipe on a partly used simulated H100 node (2 of 8 GPUs free, so the
//! concurrency and the throughput floor scale as upstream does for partial nodes, and the load
//! generator and the simulator fit on a 2-core machine): readiness probe through a scaled-down
//! cold start, the benchmark at the recipe's operating point, the verdict.
//! `--scenario stall` stalls one worker under round-robin routing (the investigation's failing
//! configuration) and the same gate fails, saying why.

use crate::cmd::validate::{self, Prepared};
use crate::{BadInput, Outcome};
use anyhow::Context;
use infergate_sim::{ColdStart, ColdStartScope, RouterKind, SimConfig, Stall};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

/// Arguments of `infergate demo`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// healthy: the gate passes. stall: one worker stalls under round-robin routing and the gate
    /// fails on TTFT p99.
    #[arg(long, default_value = "healthy")]
    pub scenario: String,
    /// The recipe to gate with.
    #[arg(long, default_value = "h100-eks")]
    pub recipe: String,
    /// Simulated platform profile.
    #[arg(long, default_value = "h100x8")]
    pub profile: String,
    /// Free GPUs of the simulated node (workers started); the rest count as used by others.
    #[arg(long, default_value_t = 2)]
    pub gpus_free: u32,
    /// Cold first inference of the simulated deployment (42 s on RTX PRO 6000, scaled down).
    #[arg(long, default_value = "4s")]
    pub cold_start: String,
    /// Seed of the simulated deployment.
    #[arg(long, default_value_t = 7)]
    pub seed: u64,
    /// Where the reports go.
    #[arg(long, default_value = "infergate-demo")]
    pub output_dir: PathBuf,
    /// No live progress line.
    #[arg(long)]
    pub no_progress: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Scenario {
    Healthy,
    Stall,
}

/// Run `infergate demo`.
pub fn run(args: Args) -> anyhow::Result<Outcome> {
    let scenario = match args.scenario.as_str() {
        "healthy" => Scenario::Healthy,
        "stall" => Scenario::Stall,
        other => {
            return Err(BadInput::from_err(format!(
                "invalid --scenario {other:?}: valid are healthy, stall"
            )))
        }
    };
    let cold = super::common::duration_flag("--cold-start", &args.cold_start)?;
    let sim = sim_config(&args, scenario, cold)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let sim_server = SimThread::start(sim.clone())?;
    let outcome = runtime.block_on(async {
        let url = format!("http://{}", sim_server.addr);
        eprintln!(
            "simulated deployment: {} with {} of {} GPUs free, router {}, cold first inference {:?}{}, at {url}",
            sim.profile.name,
            sim.workers,
            sim.profile.gpus,
            sim.router.name(),
            cold,
            match scenario {
                Scenario::Healthy => String::new(),
                Scenario::Stall => " — worker 1 stalls (steps 8x slower) from t=6 s to t=18 s".into(),
            }
        );
        let validate_args = validate_args(&args, url, sim.profile.gpus)?;
        let prepared = validate::prepare(&validate_args, &infergate_gate::knobs::process_env, "demo")?;
        let outcome = match prepared {
            Prepared::Skip(reason) => {
                validate::write_skip(&reason, &validate_args.outputs())?;
                Outcome::Skipped
            }
            Prepared::Run(gate) => crate::gate_run::execute(*gate).await?.outcome(),
        };
        eprintln!(
            "demo done: open {} in a browser",
            args.output_dir.join("report.html").display()
        );
        Ok::<_, anyhow::Error>(outcome)
    });
    sim_server.stop();
    outcome
}

/// The simulated deployment on a runtime of its own (one thread), so that its engine steps and
/// the load generator's timestamps never wait for each other on one event loop, as they would not
/// on a real cluster.
struct SimThread {
    addr: SocketAddr,
    shutdown: infergate_sim::server::ShutdownHandle,
    thread: std::thread::JoinHandle<()>,
}

impl SimThread {
    fn start(config: SimConfig) -> anyhow::Result<SimThread> {
        let (tx, rx) = std::sync::mpsc::channel();
        let thread = std::thread::Builder::new()
            .name("infergate-sim".into())
            .spawn(move || {
                let runtime = match tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(1)
                    .enable_all()
                    .build()
                {
                    Ok(rt) => rt,
                    Err(e) => {
                        let _ = tx.send(Err(anyhow::Error::new(e)));
                        return;
                    }
                };
                runtime.block_on(async move {
                    let addr: SocketAddr = ([127, 0, 0, 1], 0).into();
                    match infergate_sim::server::start(config, addr).await {
                        Ok(server) => {
                            let _ = tx.send(Ok((server.local_addr(), server.shutdown_handle())));
                            server.wait().await;
                        }
                        Err(e) => {
                            let _ = tx.send(Err(anyhow::Error::new(e)));
                        }
                    }
                });
            })
            .context("cannot start the simulator's thread")?;
        let (addr, shutdown) = rx
            .recv_timeout(Duration::from_secs(30))
            .context("the simulated deployment did not start within 30 s")?
            .context("cannot start the simulated deployment")?;
        Ok(SimThread {
            addr,
            shutdown,
            thread,
        })
    }

    fn stop(self) {
        self.shutdown.shutdown();
        let _ = self.thread.join();
    }
}

fn sim_config(args: &Args, scenario: Scenario, cold: Duration) -> anyhow::Result<SimConfig> {
    let mut sim = SimConfig::for_profile(&args.profile)
        .map_err(BadInput::from_err)?
        .with_gpus_free(args.gpus_free)
        .map_err(BadInput::from_err)?;
    sim.seed = args.seed;
    sim.behaviours.cold_start = Some(ColdStart {
        duration_ns: cold.as_nanos() as u64,
        scope: ColdStartScope::Deployment,
    });
    match scenario {
        // Dynamo 1.2's default since AICR #1197: least-loaded routing.
        Scenario::Healthy => sim.router = RouterKind::LeastLoaded,
        // The investigation's r1 run: round-robin keeps feeding the stalled worker.
        Scenario::Stall => {
            sim.router = RouterKind::RoundRobin;
            sim.behaviours.stall = Some(Stall {
                worker: 1,
                factor: 8.0,
                start_ns: 6_000_000_000,
                duration_ns: 12_000_000_000,
            });
        }
    }
    sim.validate().map_err(BadInput::from_err)?;
    Ok(sim)
}

/// The `validate` arguments of the demo, parsed by validate's own parser so that every flag the
/// demo does not set keeps exactly the default a user would get.
fn validate_args(args: &Args, url: String, gpus_per_node: u32) -> anyhow::Result<validate::Args> {
    #[derive(clap::Parser)]
    struct Validate {
        #[command(flatten)]
        args: validate::Args,
    }
    let mut argv: Vec<std::ffi::OsString> = vec!["validate".into(), "--recipe".into()];
    argv.push(args.recipe.clone().into());
    argv.extend(["--url".into(), url.into()]);
    argv.extend(["--gpus".into(), args.gpus_free.to_string().into()]);
    argv.extend(["--gpus-per-node".into(), gpus_per_node.to_string().into()]);
    argv.extend(["--ctrf".into(), args.output_dir.join("ctrf.json").into()]);
    argv.extend(["--junit".into(), args.output_dir.join("junit.xml").into()]);
    argv.extend(["--output-dir".into(), args.output_dir.clone().into()]);
    if args.no_progress {
        argv.push("--no-progress".into());
    }
    use clap::Parser;
    Validate::try_parse_from(argv)
        .map(|v| v.args)
        .map_err(BadInput::from_err)
}
