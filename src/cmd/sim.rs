//! `infergate sim`: serve a simulated Dynamo deployment on loopback in real time, or run it in
//! virtual time (`--virtual`) against a simulated client population and print a summary.
//!
//! Every flag is validated before anything starts; a bad value exits 2 naming the flag and its
//! valid range. The model and every parameter are documented in docs/sim.md.

use crate::{BadInput, Outcome};
use anyhow::Context as _;
use infergate_model::{Arrivals, LoadMode, RequestRecord};
use infergate_sim::virtual_time::{self, VirtualLoad, VirtualRun};
use infergate_sim::{
    parse_duration, ColdStart, ColdStartScope, RouterKind, SimConfig, SimError, SlowWorker, Stall,
};
use infergate_stats::{Summary, SummaryOptions};
use std::io::Write as _;
use std::net::{IpAddr, SocketAddr};
use std::time::Instant;

/// Arguments of `infergate sim`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Platform profile: h100x8, rtx-pro-6000x8 or gb200x4.
    #[arg(long, default_value = "h100x8")]
    pub profile: String,
    /// Run only N workers (GPUs) of the node: a partly used node.
    #[arg(long, value_name = "N")]
    pub gpus_free: Option<u32>,
    /// Address to listen on (loopback by default).
    #[arg(long, default_value = "127.0.0.1")]
    pub host: IpAddr,
    /// Port to listen on (0 = any free port; the bound address is printed).
    #[arg(long, default_value_t = 0)]
    pub port: u16,
    /// Model name served and listed by /v1/models.
    #[arg(long, default_value = infergate_sim::DEFAULT_MODEL)]
    pub model: String,
    /// Routing: round-robin, random, least-loaded or kv.
    #[arg(long, default_value = "round-robin")]
    pub router: String,
    /// kv router: extra in-flight requests a prompt's home worker may carry before spilling.
    #[arg(long, default_value_t = 64, value_name = "N")]
    pub kv_affinity: u32,
    /// Seed of every random choice (jitter, worker speeds, routing, faults).
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Output tokens when a request sets no max_tokens.
    #[arg(long, default_value_t = 16, value_name = "N")]
    pub default_max_tokens: u32,
    /// Extra time of the first inference (e.g. 42s), while /health and /v1/models answer 200.
    #[arg(long, value_name = "DURATION", allow_hyphen_values = true)]
    pub cold_start: Option<String>,
    /// Whose first inference is cold: deployment (one cold period) or worker (each worker).
    #[arg(long, default_value = "deployment", value_name = "SCOPE")]
    pub cold_start_scope: String,
    /// Stall this worker (0-based) during a window.
    #[arg(long, value_name = "I")]
    pub stall_worker: Option<u32>,
    /// Step-time multiplier of the stalled worker.
    #[arg(
        long,
        default_value_t = 5.0,
        value_name = "F",
        allow_negative_numbers = true
    )]
    pub stall_factor: f64,
    /// When the stall starts, from the deployment's start (virtual: from the first request).
    #[arg(
        long,
        default_value = "0",
        value_name = "DURATION",
        allow_hyphen_values = true
    )]
    pub stall_start: String,
    /// How long the stall lasts (default: until the end).
    #[arg(long, value_name = "DURATION", allow_hyphen_values = true)]
    pub stall_duration: Option<String>,
    /// Make this worker (0-based) permanently slow.
    #[arg(long, value_name = "I")]
    pub slow_worker: Option<u32>,
    /// Step-time multiplier of the slow worker.
    #[arg(
        long,
        default_value_t = 2.0,
        value_name = "F",
        allow_negative_numbers = true
    )]
    pub slow_factor: f64,
    /// Step-time multiplier of every worker (a degraded node; 1.43 ≈ 30 % less throughput).
    #[arg(long, value_name = "F", allow_negative_numbers = true)]
    pub node_slow_factor: Option<f64>,
    /// Fraction of completion requests answered with HTTP 500.
    #[arg(
        long,
        default_value_t = 0.0,
        value_name = "R",
        allow_negative_numbers = true
    )]
    pub error_rate_500: f64,
    /// Fraction of completion requests answered with HTTP 429.
    #[arg(
        long,
        default_value_t = 0.0,
        value_name = "R",
        allow_negative_numbers = true
    )]
    pub error_rate_429: f64,
    /// Fraction of streams whose connection is dropped mid-stream.
    #[arg(
        long,
        default_value_t = 0.0,
        value_name = "R",
        allow_negative_numbers = true
    )]
    pub drop_rate: f64,
    /// Fraction of streams with one malformed (invalid JSON) chunk.
    #[arg(
        long,
        default_value_t = 0.0,
        value_name = "R",
        allow_negative_numbers = true
    )]
    pub malformed_rate: f64,
    /// Delay before response headers of every completion (e.g. 500ms).
    #[arg(long, value_name = "DURATION", allow_hyphen_values = true)]
    pub header_delay: Option<String>,

    /// Run in virtual time against a simulated client population and print a summary.
    #[arg(long = "virtual")]
    pub virtual_time: bool,
    /// Virtual: closed loop with C requests in flight.
    #[arg(long, value_name = "C")]
    pub concurrency: Option<u32>,
    /// Virtual: open loop at R requests per second.
    #[arg(long, value_name = "R", allow_negative_numbers = true)]
    pub rate: Option<f64>,
    /// Virtual, open loop: constant or poisson arrivals.
    #[arg(long, default_value = "constant")]
    pub arrivals: String,
    /// Virtual, open loop: cap on requests in flight.
    #[arg(long, value_name = "N")]
    pub max_concurrency: Option<u32>,
    /// Virtual: profile-phase requests (default AICR's max(1000, 8 x concurrency)).
    #[arg(long, value_name = "N")]
    pub request_count: Option<u64>,
    /// Virtual: warmup requests (default: the concurrency; open loop: 0).
    #[arg(long, value_name = "N")]
    pub warmup: Option<u64>,
    /// Virtual: prompt tokens per request.
    #[arg(long, default_value_t = 128, value_name = "N")]
    pub input_tokens: u32,
    /// Virtual: output tokens per request.
    #[arg(long, default_value_t = 128, value_name = "N")]
    pub output_tokens: u32,
    /// Virtual: distinct prompts (AIPerf --num-dataset-entries).
    #[arg(long, default_value_t = 100, value_name = "N")]
    pub dataset_entries: u32,
    /// Virtual: distinct first blocks among the prompts (1 = all prompts open alike).
    #[arg(long, value_name = "N")]
    pub distinct_prefixes: Option<u32>,
    /// Virtual, closed loop: start the profile phase without waiting for warmup to drain.
    #[arg(long)]
    pub no_warmup_drain: bool,
    /// Virtual: run this many trials with seeds seed, seed+1, ... and print their spread.
    #[arg(long, default_value_t = 1, value_name = "N")]
    pub trials: u32,
    /// Virtual: print the summary as JSON.
    #[arg(long)]
    pub json: bool,
    /// Virtual: write the first trial's per-request records as JSON lines to this file.
    #[arg(long, value_name = "PATH")]
    pub records: Option<std::path::PathBuf>,
}

fn bad(e: SimError) -> anyhow::Error {
    BadInput::from_err(e)
}

fn nanos(flag: &'static str, s: &str) -> anyhow::Result<u64> {
    Ok(parse_duration(flag, s).map_err(bad)?.as_nanos() as u64)
}

/// Build and validate the deployment configuration from the flags.
pub fn config(a: &Args) -> anyhow::Result<SimConfig> {
    let mut cfg = SimConfig::for_profile(&a.profile).map_err(bad)?;
    if let Some(n) = a.gpus_free {
        cfg = cfg.with_gpus_free(n).map_err(bad)?;
    }
    cfg.router = RouterKind::parse(&a.router).map_err(bad)?;
    cfg.kv_affinity = a.kv_affinity;
    cfg.seed = a.seed;
    cfg.model = a.model.clone();
    cfg.default_max_tokens = a.default_max_tokens;
    let b = &mut cfg.behaviours;
    if let Some(d) = &a.cold_start {
        let scope = match a.cold_start_scope.as_str() {
            "deployment" => ColdStartScope::Deployment,
            "worker" => ColdStartScope::Worker,
            other => {
                return Err(bad(SimError::invalid(
                    "cold-start-scope",
                    other,
                    "deployment or worker",
                )))
            }
        };
        b.cold_start = Some(ColdStart {
            duration_ns: nanos("cold-start", d)?,
            scope,
        });
    }
    if let Some(worker) = a.stall_worker {
        b.stall = Some(Stall {
            worker,
            factor: a.stall_factor,
            start_ns: nanos("stall-start", &a.stall_start)?,
            duration_ns: match &a.stall_duration {
                Some(d) => nanos("stall-duration", d)?,
                None => u64::MAX,
            },
        });
    } else if a.stall_duration.is_some() || a.stall_start != "0" {
        return Err(bad(SimError::invalid(
            "stall-start/stall-duration",
            "given without --stall-worker",
            "--stall-worker I as well",
        )));
    }
    if let Some(worker) = a.slow_worker {
        b.slow_worker = Some(SlowWorker {
            worker,
            factor: a.slow_factor,
        });
    }
    b.node_slowdown = a.node_slow_factor;
    b.faults.error_500 = a.error_rate_500;
    b.faults.error_429 = a.error_rate_429;
    b.faults.drop = a.drop_rate;
    b.faults.malformed = a.malformed_rate;
    if let Some(d) = &a.header_delay {
        b.header_delay_ns = nanos("header-delay", d)?;
    }
    cfg.validate().map_err(bad)?;
    Ok(cfg)
}

/// Build and validate the virtual client population from the flags.
pub fn load(a: &Args) -> anyhow::Result<VirtualLoad> {
    let mode = match (a.concurrency, a.rate) {
        (Some(c), None) => LoadMode::Closed { concurrency: c },
        (None, Some(rate)) => LoadMode::Open {
            rate,
            arrivals: match a.arrivals.as_str() {
                "constant" => Arrivals::Constant,
                "poisson" => Arrivals::Poisson,
                other => {
                    return Err(bad(SimError::invalid(
                        "arrivals",
                        other,
                        "constant or poisson",
                    )))
                }
            },
            max_concurrency: a.max_concurrency,
        },
        _ => {
            return Err(bad(SimError::invalid(
                "concurrency/rate",
                "both or neither given",
                "exactly one of --concurrency C or --rate R with --virtual",
            )))
        }
    };
    let c = a.concurrency.unwrap_or(0);
    let mut l = VirtualLoad::aicr(c.max(1));
    l.mode = mode;
    l.request_count = a.request_count.unwrap_or((u64::from(c) * 8).max(1000));
    l.warmup = a.warmup.unwrap_or(u64::from(c));
    l.input_tokens = a.input_tokens;
    l.output_tokens = a.output_tokens;
    l.dataset_entries = a.dataset_entries;
    l.distinct_prefixes = a.distinct_prefixes.unwrap_or(a.dataset_entries);
    l.warmup_drain = !a.no_warmup_drain;
    l.validate().map_err(bad)?;
    Ok(l)
}

/// Run `infergate sim`.
pub fn run(args: Args) -> anyhow::Result<Outcome> {
    let cfg = config(&args)?;
    if args.virtual_time {
        if args.trials == 0 {
            return Err(bad(SimError::invalid("trials", "0", "at least 1")));
        }
        let load = load(&args)?;
        return run_virtual(&args, cfg, &load);
    }
    if args.concurrency.is_some() || args.rate.is_some() || args.records.is_some() || args.json {
        return Err(bad(SimError::invalid(
            "concurrency/rate/records/json",
            "given without --virtual",
            "these flags only with --virtual",
        )));
    }
    serve(cfg, SocketAddr::new(args.host, args.port))
}

fn serve(cfg: SimConfig, addr: SocketAddr) -> anyhow::Result<Outcome> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    rt.block_on(async move {
        let summary = format!(
            "profile {} with {} of {} workers, router {}, seed {}",
            cfg.profile.name,
            cfg.workers,
            cfg.profile.gpus,
            cfg.router.name(),
            cfg.seed
        );
        let server = infergate_sim::server::start(cfg, addr).await?;
        println!("listening on http://{}", server.local_addr());
        let _ = std::io::stdout().flush();
        eprintln!("infergate sim: {summary}; Ctrl-C or SIGTERM stops it");
        wait_for_signal().await;
        server.shutdown().await;
        anyhow::Ok(Outcome::Ok)
    })
}

async fn wait_for_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        if let Ok(mut term) = signal(SignalKind::terminate()) {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
            return;
        }
    }
    let _ = tokio::signal::ctrl_c().await;
}

/// One trial's figures, as printed.
#[derive(Debug, serde::Serialize)]
struct Trial {
    seed: u64,
    requests: u64,
    errors: u64,
    duration_s: f64,
    output_token_throughput: f64,
    ttft_p50_ms: f64,
    ttft_p99_ms: f64,
    cpu_ms: f64,
    workers: Vec<WorkerLine>,
}

#[derive(Debug, serde::Serialize)]
struct WorkerLine {
    routed: u64,
    peak_running: usize,
    peak_waiting: usize,
    speed: f64,
}

fn trial(seed: u64, run: &VirtualRun, cpu_ms: f64) -> Trial {
    let opts = SummaryOptions {
        confidence: None,
        ..SummaryOptions::default()
    };
    let s = Summary::from_records(&run.records, &opts);
    let ttft = s.time_to_first_token.as_ref();
    Trial {
        seed,
        requests: s.request_count,
        errors: s.error_request_count,
        duration_s: s.benchmark_duration_s.unwrap_or(0.0),
        output_token_throughput: s.output_token_throughput.unwrap_or(0.0),
        ttft_p50_ms: ttft.map(|d| d.p50).unwrap_or(f64::NAN),
        ttft_p99_ms: ttft.map(|d| d.p99).unwrap_or(f64::NAN),
        cpu_ms,
        workers: run
            .workers
            .iter()
            .map(|w| WorkerLine {
                routed: w.routed,
                peak_running: w.peak_running,
                peak_waiting: w.peak_waiting,
                speed: w.speed,
            })
            .collect(),
    }
}

fn write_records(path: &std::path::Path, records: &[RequestRecord]) -> anyhow::Result<()> {
    let mut out = std::io::BufWriter::new(
        std::fs::File::create(path).with_context(|| format!("cannot create {}", path.display()))?,
    );
    for r in records {
        serde_json::to_writer(&mut out, r)?;
        out.write_all(b"\n")?;
    }
    out.flush()
        .with_context(|| format!("cannot write {}", path.display()))
}

fn run_virtual(args: &Args, mut cfg: SimConfig, load: &VirtualLoad) -> anyhow::Result<Outcome> {
    let mut trials = Vec::new();
    for k in 0..u64::from(args.trials) {
        cfg.seed = args.seed.wrapping_add(k);
        let t0 = Instant::now();
        let run = virtual_time::run(&cfg, load).map_err(bad)?;
        let cpu_ms = t0.elapsed().as_secs_f64() * 1e3;
        if k == 0 {
            if let Some(path) = &args.records {
                write_records(path, &run.records)?;
            }
        }
        trials.push(trial(cfg.seed, &run, cpu_ms));
    }
    if args.json {
        println!("{}", serde_json::to_string_pretty(&trials)?);
        return Ok(Outcome::Ok);
    }
    println!(
        "virtual run: profile {}, {} of {} workers, router {}, {:?}, {} requests + {} warmup, {} in / {} out",
        cfg.profile.name,
        cfg.workers,
        cfg.profile.gpus,
        cfg.router.name(),
        load.mode,
        load.request_count,
        load.warmup,
        load.input_tokens,
        load.output_tokens
    );
    println!("seed      tok/s   TTFT p50 ms   TTFT p99 ms  errors  virtual s  cpu ms");
    for t in &trials {
        println!(
            "{:<6} {:>9.0} {:>13.1} {:>13.1} {:>7} {:>10.2} {:>7.0}",
            t.seed,
            t.output_token_throughput,
            t.ttft_p50_ms,
            t.ttft_p99_ms,
            t.errors,
            t.duration_s,
            t.cpu_ms
        );
    }
    if trials.len() == 1 {
        println!("worker  routed  peak running  peak waiting  speed");
        for (w, l) in trials[0].workers.iter().enumerate() {
            println!(
                "{w:<6} {:>7} {:>13} {:>13} {:>6.3}",
                l.routed, l.peak_running, l.peak_waiting, l.speed
            );
        }
    } else {
        let spread = |f: fn(&Trial) -> f64| {
            let mut v: Vec<f64> = trials.iter().map(f).collect();
            v.sort_by(f64::total_cmp);
            (
                v[0],
                infergate_stats::percentile_sorted(&v, 50.0).unwrap_or(f64::NAN),
                v[v.len() - 1],
            )
        };
        let (a, b, c) = spread(|t| t.output_token_throughput);
        println!("throughput tok/s  min {a:.0}  median {b:.0}  max {c:.0}");
        let (a, b, c) = spread(|t| t.ttft_p99_ms);
        println!("TTFT p99 ms       min {a:.1}  median {b:.1}  max {c:.1}");
    }
    Ok(Outcome::Ok)
}
