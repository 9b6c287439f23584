//! The validated plan of one `validate` run: recipe + flags + environment → either a skip with
//! upstream's reason, or a [`RunPlan`] whose every value has been checked. Nothing is sent before
//! this succeeds, so every malformed input (knob, flag, constraint, comparator) exits 2 at once.
//!
//! Precedence, highest first:
//! - values a recipe may set (model, concurrency per GPU, routing mode, cache StorageClass):
//!   flag > recipe > environment > default;
//! - everything else: flag > environment > default.
//!
//! Order of checks (upstream's, then ours): Guard A (no threshold → skip); the recipe's
//! `validation.performance.checks` must list `inference-perf` when present (→ skip); every knob
//! and flag (→ error, even where Guard B would skip); Guard B (no `dynamo-platform` → skip);
//! the recipe inputs and both comparators (→ error; upstream checks comparators only after the
//! benchmark, we do it here); the GPU counts and the operating point.

use crate::constraint::{
    self, parse_concurrency_per_gpu, parse_throughput, parse_ttft_p99, validate_model_id,
    RoutingMode, Threshold, INFERENCE_CONCURRENCY_PER_GPU, INFERENCE_MODEL,
    INFERENCE_MODEL_CACHE_STORAGE_CLASS, INFERENCE_ROUTING_MODE, INFERENCE_THROUGHPUT,
    INFERENCE_TTFT_P99,
};
use crate::error::GateError;
use crate::knobs::{self, defaults, env_value, EnvLookup, RouterMode};
use crate::recipe::Recipe;
use infergate_model::LoadMode;
use serde::Serialize;
use std::time::Duration;

/// Upstream Guard A's skip reason (no threshold in the recipe), verbatim.
pub const SKIP_NO_THRESHOLDS: &str =
    "no inference-throughput or inference-ttft-p99 constraint in recipe";
/// Upstream Guard B's skip reason (no `dynamo-platform` component), verbatim.
pub const SKIP_NO_DYNAMO: &str = "skipped - dynamo-platform not in recipe components";
/// infergate's skip reason when the recipe lists performance checks without `inference-perf`
/// (upstream's orchestrator would simply not run the check).
pub const SKIP_NOT_IN_CHECKS: &str =
    "skipped - inference-perf not in recipe validation.performance.checks";

/// The check's name in `validation.performance.checks` and in CTRF.
pub const CHECK_NAME: &str = "inference-perf";
/// The component Guard B looks for.
pub const DYNAMO_COMPONENT: &str = "dynamo-platform";

/// Flag spellings, used in error messages; the CLI should declare its flags with these names.
pub mod flag {
    /// `--model`.
    pub const MODEL: &str = "--model";
    /// `--concurrency-per-gpu`.
    pub const CONCURRENCY_PER_GPU: &str = "--concurrency-per-gpu";
    /// `--routing-mode`.
    pub const ROUTING_MODE: &str = "--routing-mode";
    /// `--router-mode`.
    pub const ROUTER_MODE: &str = "--router-mode";
    /// `--warmup-per-concurrency`.
    pub const WARMUP_PER_CONCURRENCY: &str = "--warmup-per-concurrency";
    /// `--min-requests`.
    pub const MIN_REQUESTS: &str = "--min-requests";
    /// `--requests-per-concurrency`.
    pub const REQUESTS_PER_CONCURRENCY: &str = "--requests-per-concurrency";
    /// `--input-tokens-mean`.
    pub const INPUT_TOKENS_MEAN: &str = "--input-tokens-mean";
    /// `--output-tokens-mean`.
    pub const OUTPUT_TOKENS_MEAN: &str = "--output-tokens-mean";
    /// `--health-timeout`.
    pub const HEALTH_TIMEOUT: &str = "--health-timeout";
    /// `--workload-ready-timeout`.
    pub const WORKLOAD_READY_TIMEOUT: &str = "--workload-ready-timeout";
    /// `--probe-attempt-timeout`.
    pub const PROBE_ATTEMPT_TIMEOUT: &str = "--probe-attempt-timeout";
    /// `--probe-interval`.
    pub const PROBE_INTERVAL: &str = "--probe-interval";
    /// `--model-cache-storage-class`.
    pub const MODEL_CACHE_STORAGE_CLASS: &str = "--model-cache-storage-class";
    /// `--gpus`.
    pub const GPUS: &str = "--gpus";
    /// `--gpus-per-node`.
    pub const GPUS_PER_NODE: &str = "--gpus-per-node";
}

/// The flag values of `validate`, exactly as typed (`None` = not given). Strings, so that flags
/// and environment variables go through the same parsers and the same error messages.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GateFlags {
    /// `--model`.
    pub model: Option<String>,
    /// `--concurrency-per-gpu`.
    pub concurrency_per_gpu: Option<String>,
    /// `--routing-mode` (`dynamo-router` | `gateway-epp`).
    pub routing_mode: Option<String>,
    /// `--router-mode` (Dynamo `DYN_ROUTER_MODE`).
    pub router_mode: Option<String>,
    /// `--warmup-per-concurrency`.
    pub warmup_per_concurrency: Option<String>,
    /// `--min-requests`.
    pub min_requests: Option<String>,
    /// `--requests-per-concurrency`.
    pub requests_per_concurrency: Option<String>,
    /// `--input-tokens-mean`.
    pub input_tokens_mean: Option<String>,
    /// `--output-tokens-mean`.
    pub output_tokens_mean: Option<String>,
    /// `--health-timeout` (Go duration): the readiness-probe window.
    pub health_timeout: Option<String>,
    /// `--workload-ready-timeout` (Go duration).
    pub workload_ready_timeout: Option<String>,
    /// `--probe-attempt-timeout` (Go duration): one probe request (no env knob upstream).
    pub probe_attempt_timeout: Option<String>,
    /// `--probe-interval` (Go duration): pause after a failed attempt (no env knob upstream).
    pub probe_interval: Option<String>,
    /// `--model-cache-storage-class`.
    pub model_cache_storage_class: Option<String>,
    /// `--no-cleanup` was given.
    pub no_cleanup: bool,
    /// `--gpus`: GPUs the run uses (default: the recipe's `gpusPerNode`).
    pub gpus: Option<u32>,
    /// `--gpus-per-node`: GPUs on a full node (default: the recipe's, else `--gpus`).
    pub gpus_per_node: Option<u32>,
}

/// Where a resolved value came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Source {
    /// A command-line flag.
    Flag,
    /// A recipe constraint (or `spec.infergate`).
    Recipe,
    /// An `AICR_INFERENCE_PERF_*` variable.
    Env,
    /// The compiled default.
    Default,
}

/// What `validate` will do.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "snake_case", tag = "action")]
pub enum GatePlan {
    /// The check does not apply; exit 2, CTRF `skipped`.
    Skip {
        /// Upstream's reason text (the CTRF message).
        reason: String,
    },
    /// Everything is valid: probe, measure and evaluate with this plan.
    Run(Box<RunPlan>),
}

/// A fully validated run.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RunPlan {
    /// The recipe's name.
    pub recipe: String,
    /// The model sent in every request.
    pub model: String,
    /// How requests reach the workers (used by `validate --kube`).
    pub routing_mode: RoutingMode,
    /// Dynamo frontend router mode (used by `validate --kube`).
    pub router_mode: RouterMode,
    /// Model-cache PVC StorageClass; `None` = the cluster default (used by `validate --kube`).
    pub model_cache_storage_class: Option<String>,
    /// The load to offer.
    pub point: OperatingPoint,
    /// The readiness probe's timing.
    pub probe: ProbeSettings,
    /// How long `validate --kube` waits for the workload to be ready.
    pub workload_ready_timeout: Duration,
    /// Keep everything (workload, exports) for a post-mortem.
    pub no_cleanup: bool,
    /// `inference-throughput`, parsed.
    pub throughput: Option<Threshold>,
    /// `inference-ttft-p99`, parsed.
    pub ttft_p99: Option<Threshold>,
    /// Where the recipe-settable values came from.
    pub sources: Sources,
}

impl RunPlan {
    /// The closed-loop load this plan offers.
    pub fn load_mode(&self) -> LoadMode {
        LoadMode::Closed {
            concurrency: self.point.concurrency,
        }
    }
}

/// Provenance of the values a recipe may set, for the run summary.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Sources {
    /// Of [`RunPlan::model`].
    pub model: Source,
    /// Of [`OperatingPoint::concurrency_per_gpu`].
    pub concurrency_per_gpu: Source,
    /// Of [`RunPlan::routing_mode`].
    pub routing_mode: Source,
    /// Of [`OperatingPoint::gpus`].
    pub gpus: Source,
    /// Of [`OperatingPoint::gpus_per_node`].
    pub gpus_per_node: Source,
}

/// The benchmark's operating point: upstream's AIPerf invocation, in numbers.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct OperatingPoint {
    /// GPUs the deployment under test uses.
    pub gpus: u32,
    /// GPUs on one full node (denominator of partial-node throughput scaling).
    pub gpus_per_node: u32,
    /// In-flight requests per GPU.
    pub concurrency_per_gpu: u32,
    /// `concurrency_per_gpu × gpus`: requests kept in flight.
    pub concurrency: u32,
    /// Measured requests: `max(min_requests, concurrency × requests_per_concurrency)`.
    pub request_count: u64,
    /// Warmup requests, excluded from every metric: `concurrency × warmup_per_concurrency`.
    pub warmup_count: u64,
    /// Prompt length, tokens (AIPerf `--prompt-input-tokens-mean`).
    pub input_tokens_mean: u32,
    /// Always 0: every prompt has exactly `input_tokens_mean` tokens.
    pub input_tokens_stddev: u32,
    /// Output length, tokens (AIPerf `--prompt-output-tokens-mean`).
    pub output_tokens_mean: u32,
    /// Always 0.
    pub output_tokens_stddev: u32,
    /// Distinct prompts (AIPerf `--num-dataset-entries`).
    pub num_dataset_entries: u32,
    /// Seed of the prompt set (AIPerf `--random-seed`).
    pub random_seed: u64,
    /// Sampling temperature sent with every request (AIPerf `--extra-inputs temperature:0`).
    pub temperature: f64,
    /// Streamed chat completions (AIPerf `--endpoint-type chat --streaming`).
    pub streaming: bool,
}

/// Upstream's `aiperfNumDatasetEntries`.
pub const NUM_DATASET_ENTRIES: u32 = 100;
/// Upstream's `aiperfRandomSeed`.
pub const RANDOM_SEED: u64 = 100;

/// The readiness probe's timing: a real chat completion must succeed within `window`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct ProbeSettings {
    /// The whole wait (`AICR_INFERENCE_PERF_HEALTH_TIMEOUT`, default 5 min).
    pub window: Duration,
    /// One attempt's HTTP timeout (default 120 s: a cold first inference can take 42–90 s).
    pub attempt_timeout: Duration,
    /// Pause after a failed attempt (default 10 s).
    pub interval: Duration,
    /// Largest response body accepted, bytes (8 KiB).
    pub body_limit: usize,
}

/// All knobs, parsed: flag > env > default. Validated up front, whether or not used.
struct Knobs {
    env_concurrency_per_gpu: Option<u32>,
    flag_concurrency_per_gpu: Option<u32>,
    warmup_per_concurrency: u32,
    min_requests: u32,
    requests_per_concurrency: u32,
    input_tokens_mean: u32,
    output_tokens_mean: u32,
    health_timeout: Duration,
    workload_ready_timeout: Duration,
    probe_attempt_timeout: Duration,
    probe_interval: Duration,
    router_mode: RouterMode,
    no_cleanup: bool,
}

fn int_knob(
    flag_value: &Option<String>,
    flag_name: &str,
    env: EnvLookup<'_>,
    env_name: &str,
    default: u32,
) -> Result<u32, GateError> {
    // The env value is validated even when a flag overrides it (fail closed on any set knob).
    let from_env = env_value(env, env_name)
        .map(|v| knobs::parse_positive_int(env_name, &v))
        .transpose()?;
    if let Some(f) = flag_value {
        return knobs::parse_positive_int(flag_name, f);
    }
    Ok(from_env.unwrap_or(default))
}

fn duration_knob(
    flag_value: &Option<String>,
    flag_name: &str,
    env: EnvLookup<'_>,
    env_name: Option<&str>,
    default: Duration,
) -> Result<Duration, GateError> {
    let from_env = env_name
        .and_then(|n| env_value(env, n).map(|v| (n, v)))
        .map(|(n, v)| knobs::parse_positive_duration(n, &v))
        .transpose()?;
    if let Some(f) = flag_value {
        return knobs::parse_positive_duration(flag_name, f);
    }
    Ok(from_env.unwrap_or(default))
}

fn parse_knobs(flags: &GateFlags, env: EnvLookup<'_>) -> Result<Knobs, GateError> {
    let env_concurrency_per_gpu = env_value(env, knobs::ENV_CONCURRENCY_PER_GPU)
        .map(|v| knobs::parse_positive_int(knobs::ENV_CONCURRENCY_PER_GPU, &v))
        .transpose()?;
    let flag_concurrency_per_gpu = flags
        .concurrency_per_gpu
        .as_deref()
        .map(|v| knobs::parse_positive_int(flag::CONCURRENCY_PER_GPU, v.trim()))
        .transpose()?;
    let router_from_env = env_value(env, knobs::ENV_ROUTER_MODE)
        .filter(|v| !v.trim().is_empty())
        .map(|v| RouterMode::parse(knobs::ENV_ROUTER_MODE, &v))
        .transpose()?;
    let router_mode = match &flags.router_mode {
        Some(f) => RouterMode::parse(flag::ROUTER_MODE, f)?,
        None => router_from_env.unwrap_or(RouterMode::LeastLoaded),
    };
    let env_no_cleanup = knobs::no_cleanup_from_env(env)?;
    Ok(Knobs {
        env_concurrency_per_gpu,
        flag_concurrency_per_gpu,
        warmup_per_concurrency: int_knob(
            &flags.warmup_per_concurrency,
            flag::WARMUP_PER_CONCURRENCY,
            env,
            knobs::ENV_WARMUP_PER_CONCURRENCY,
            defaults::WARMUP_PER_CONCURRENCY,
        )?,
        min_requests: int_knob(
            &flags.min_requests,
            flag::MIN_REQUESTS,
            env,
            knobs::ENV_MIN_REQUESTS,
            defaults::MIN_REQUESTS,
        )?,
        requests_per_concurrency: int_knob(
            &flags.requests_per_concurrency,
            flag::REQUESTS_PER_CONCURRENCY,
            env,
            knobs::ENV_REQUESTS_PER_CONCURRENCY,
            defaults::REQUESTS_PER_CONCURRENCY,
        )?,
        input_tokens_mean: int_knob(
            &flags.input_tokens_mean,
            flag::INPUT_TOKENS_MEAN,
            env,
            knobs::ENV_INPUT_TOKENS_MEAN,
            defaults::INPUT_TOKENS_MEAN,
        )?,
        output_tokens_mean: int_knob(
            &flags.output_tokens_mean,
            flag::OUTPUT_TOKENS_MEAN,
            env,
            knobs::ENV_OUTPUT_TOKENS_MEAN,
            defaults::OUTPUT_TOKENS_MEAN,
        )?,
        health_timeout: duration_knob(
            &flags.health_timeout,
            flag::HEALTH_TIMEOUT,
            env,
            Some(knobs::ENV_HEALTH_TIMEOUT),
            defaults::HEALTH_TIMEOUT,
        )?,
        workload_ready_timeout: duration_knob(
            &flags.workload_ready_timeout,
            flag::WORKLOAD_READY_TIMEOUT,
            env,
            Some(knobs::ENV_WORKLOAD_READY_TIMEOUT),
            defaults::WORKLOAD_READY_TIMEOUT,
        )?,
        probe_attempt_timeout: duration_knob(
            &flags.probe_attempt_timeout,
            flag::PROBE_ATTEMPT_TIMEOUT,
            env,
            None,
            defaults::PROBE_ATTEMPT_TIMEOUT,
        )?,
        probe_interval: duration_knob(
            &flags.probe_interval,
            flag::PROBE_INTERVAL,
            env,
            None,
            defaults::PROBE_INTERVAL,
        )?,
        router_mode,
        no_cleanup: flags.no_cleanup || env_no_cleanup,
    })
}

/// Trimmed, non-blank.
fn present(v: Option<&str>) -> Option<String> {
    v.map(str::trim).filter(|v| !v.is_empty()).map(String::from)
}

impl GatePlan {
    /// Validates everything and decides what `validate` will do. `env` is the environment lookup
    /// (use [`knobs::process_env`] in the CLI, a map in tests).
    pub fn build(
        recipe: &Recipe,
        flags: &GateFlags,
        env: EnvLookup<'_>,
    ) -> Result<GatePlan, GateError> {
        let skip = |reason: &str| {
            Ok(GatePlan::Skip {
                reason: reason.to_string(),
            })
        };
        let throughput_raw = recipe.constraint(INFERENCE_THROUGHPUT);
        let ttft_raw = recipe.constraint(INFERENCE_TTFT_P99);
        // Guard A.
        if throughput_raw.is_none() && ttft_raw.is_none() {
            return skip(SKIP_NO_THRESHOLDS);
        }
        if let Some(checks) = &recipe.performance_checks {
            if !checks.iter().any(|c| c == CHECK_NAME) {
                return skip(SKIP_NOT_IN_CHECKS);
            }
        }
        let knobs = parse_knobs(flags, env)?;
        // Guard B.
        if !recipe.has_component(DYNAMO_COMPONENT) {
            return skip(SKIP_NO_DYNAMO);
        }

        let throughput = throughput_raw.map(parse_throughput).transpose()?;
        let ttft_p99 = ttft_raw.map(parse_ttft_p99).transpose()?;

        let (model, model_source) = if let Some(m) = &flags.model {
            (m.trim().to_string(), Source::Flag)
        } else if let Some(m) = present(recipe.constraint(INFERENCE_MODEL)) {
            (m, Source::Recipe)
        } else if let Some(m) = present(env_value(env, knobs::ENV_MODEL).as_deref()) {
            (m, Source::Env)
        } else {
            (defaults::MODEL.to_string(), Source::Default)
        };
        validate_model_id(&model).map_err(|e| with_source(model_source, flag::MODEL, e))?;

        let recipe_concurrency = present(recipe.constraint(INFERENCE_CONCURRENCY_PER_GPU))
            .map(|v| parse_concurrency_per_gpu(&v))
            .transpose()?;
        let (concurrency_per_gpu, concurrency_source) = match (
            knobs.flag_concurrency_per_gpu,
            recipe_concurrency,
            knobs.env_concurrency_per_gpu,
        ) {
            (Some(f), _, _) => (f, Source::Flag),
            (None, Some(r), _) => (r, Source::Recipe),
            (None, None, Some(e)) => (e, Source::Env),
            (None, None, None) => (defaults::CONCURRENCY_PER_GPU, Source::Default),
        };

        let recipe_routing = recipe
            .constraint(INFERENCE_ROUTING_MODE)
            .map(|v| RoutingMode::parse(INFERENCE_ROUTING_MODE, v))
            .transpose()?;
        let (routing_mode, routing_source) = match (&flags.routing_mode, recipe_routing) {
            (Some(f), _) => (RoutingMode::parse(flag::ROUTING_MODE, f)?, Source::Flag),
            (None, Some(r)) => (r, Source::Recipe),
            (None, None) => (RoutingMode::DynamoRouter, Source::Default),
        };

        let model_cache_storage_class = present(flags.model_cache_storage_class.as_deref())
            .or_else(|| present(recipe.constraint(INFERENCE_MODEL_CACHE_STORAGE_CLASS)))
            .or_else(|| present(env_value(env, knobs::ENV_MODEL_CACHE_STORAGE_CLASS).as_deref()));

        let (gpus, gpus_per_node, gpus_source, per_node_source) = gpu_counts(recipe, flags)?;
        let concurrency = concurrency_per_gpu.checked_mul(gpus).ok_or_else(|| {
            GateError::OperatingPoint(format!(
                "concurrency {concurrency_per_gpu} per GPU × {gpus} GPUs does not fit in \
                 4294967295 in-flight requests; lower {} or {}",
                flag::CONCURRENCY_PER_GPU,
                flag::GPUS
            ))
        })?;
        let c = u64::from(concurrency);
        let point = OperatingPoint {
            gpus,
            gpus_per_node,
            concurrency_per_gpu,
            concurrency,
            request_count: u64::from(knobs.min_requests)
                .max(c * u64::from(knobs.requests_per_concurrency)),
            warmup_count: c * u64::from(knobs.warmup_per_concurrency),
            input_tokens_mean: knobs.input_tokens_mean,
            input_tokens_stddev: 0,
            output_tokens_mean: knobs.output_tokens_mean,
            output_tokens_stddev: 0,
            num_dataset_entries: NUM_DATASET_ENTRIES,
            random_seed: RANDOM_SEED,
            temperature: 0.0,
            streaming: true,
        };

        Ok(GatePlan::Run(Box::new(RunPlan {
            recipe: recipe.name.clone(),
            model,
            routing_mode,
            router_mode: knobs.router_mode,
            model_cache_storage_class,
            point,
            probe: ProbeSettings {
                window: knobs.health_timeout,
                attempt_timeout: knobs.probe_attempt_timeout,
                interval: knobs.probe_interval,
                body_limit: defaults::PROBE_BODY_LIMIT,
            },
            workload_ready_timeout: knobs.workload_ready_timeout,
            no_cleanup: knobs.no_cleanup,
            throughput,
            ttft_p99,
            sources: Sources {
                model: model_source,
                concurrency_per_gpu: concurrency_source,
                routing_mode: routing_source,
                gpus: gpus_source,
                gpus_per_node: per_node_source,
            },
        })))
    }
}

fn with_source(source: Source, flag_name: &str, e: GateError) -> GateError {
    let from = match source {
        Source::Flag => flag_name.to_string(),
        Source::Recipe => format!("recipe constraint {INFERENCE_MODEL}"),
        Source::Env => knobs::ENV_MODEL.to_string(),
        Source::Default => "default".to_string(),
    };
    GateError::Constraint(format!("{from}: {e}"))
}

/// GPUs used and GPUs per node: `--gpus` > the recipe's `gpusPerNode` (a full node);
/// `--gpus-per-node` > the recipe's `gpusPerNode` > the GPUs used (no scaling).
fn gpu_counts(recipe: &Recipe, flags: &GateFlags) -> Result<(u32, u32, Source, Source), GateError> {
    for (name, v) in [
        (flag::GPUS, flags.gpus),
        (flag::GPUS_PER_NODE, flags.gpus_per_node),
    ] {
        if v == Some(0) {
            return Err(GateError::Knob {
                source_name: name.to_string(),
                value: "0".to_string(),
                expected: "must be a positive integer (GPUs)".to_string(),
            });
        }
    }
    let (per_node, per_node_source) = match (flags.gpus_per_node, recipe.gpus_per_node) {
        (Some(n), _) => (Some(n), Source::Flag),
        (None, Some(n)) => (Some(n), Source::Recipe),
        (None, None) => (None, Source::Default),
    };
    let (gpus, gpus_source) = match (flags.gpus, per_node) {
        (Some(g), _) => (g, Source::Flag),
        (None, Some(n)) => (n, per_node_source),
        (None, None) => {
            return Err(GateError::OperatingPoint(format!(
                "the operating point needs a GPU count: pass {} N (and {} M on a partly free \
                 node); recipe {} does not say how many GPUs a node has (spec.infergate.gpusPerNode)",
                flag::GPUS,
                flag::GPUS_PER_NODE,
                recipe.name
            )))
        }
    };
    let (per_node, per_node_source) = match per_node {
        Some(n) => (n, per_node_source),
        None => (gpus, gpus_source),
    };
    if gpus > per_node {
        return Err(GateError::OperatingPoint(format!(
            "{} {gpus} is more than {} {per_node}: the gate measures one node, and its throughput \
             floor is a full-node value",
            flag::GPUS,
            flag::GPUS_PER_NODE
        )));
    }
    Ok((gpus, per_node, gpus_source, per_node_source))
}

/// Re-exported for callers that only hold a plan.
pub use constraint::scaled_throughput_threshold;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::knobs::*;
    use std::collections::HashMap;

    fn env_of(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |k| map.get(k).cloned()
    }

    fn no_env() -> impl Fn(&str) -> Option<String> {
        env_of(&[])
    }

    fn recipe(constraints: &[(&str, &str)], components: &[&str]) -> Recipe {
        let mut y = String::from(
            "kind: RecipeMetadata\napiVersion: aicr.run/v1beta1\nmetadata: {name: t}\nspec:\n",
        );
        y.push_str("  componentRefs:\n");
        for c in components {
            y.push_str(&format!("    - name: {c}\n"));
        }
        y.push_str(
            "  validation:\n    performance:\n      checks: [inference-perf]\n      constraints:\n",
        );
        for (n, v) in constraints {
            y.push_str(&format!("        - name: {n}\n          value: '{v}'\n"));
        }
        Recipe::from_yaml("t", &y).unwrap()
    }

    fn gated(constraints: &[(&str, &str)]) -> Recipe {
        recipe(constraints, &["dynamo-platform"])
    }

    fn run(p: GatePlan) -> RunPlan {
        match p {
            GatePlan::Run(r) => *r,
            GatePlan::Skip { reason } => panic!("skipped: {reason}"),
        }
    }

    fn gpus(n: u32) -> GateFlags {
        GateFlags {
            gpus: Some(n),
            ..GateFlags::default()
        }
    }

    #[test]
    fn h100_eks_defaults_match_upstream_operating_point() {
        let r = Recipe::load("h100-eks").unwrap();
        let p = run(GatePlan::build(&r, &GateFlags::default(), &no_env()).unwrap());
        assert_eq!(p.model, "Qwen/Qwen3-8B");
        assert_eq!(p.point.gpus, 8);
        assert_eq!(p.point.gpus_per_node, 8);
        assert_eq!(p.point.concurrency, 2048);
        assert_eq!(p.point.request_count, 16_384);
        assert_eq!(p.point.warmup_count, 2048);
        assert_eq!(
            (p.point.input_tokens_mean, p.point.output_tokens_mean),
            (128, 128)
        );
        assert_eq!(
            (p.point.input_tokens_stddev, p.point.output_tokens_stddev),
            (0, 0)
        );
        assert_eq!(
            (p.point.num_dataset_entries, p.point.random_seed),
            (100, 100)
        );
        assert_eq!(p.point.temperature, 0.0);
        assert_eq!(p.router_mode, RouterMode::LeastLoaded);
        assert_eq!(p.routing_mode, RoutingMode::DynamoRouter);
        assert_eq!(p.probe.window, Duration::from_secs(300));
        assert_eq!(p.probe.attempt_timeout, Duration::from_secs(120));
        assert_eq!(p.probe.interval, Duration::from_secs(10));
        assert_eq!(p.probe.body_limit, 8192);
        assert_eq!(p.workload_ready_timeout, Duration::from_secs(600));
        assert!(!p.no_cleanup);
        assert_eq!(p.throughput.as_ref().unwrap().value, 50000.0);
        assert_eq!(p.ttft_p99.as_ref().unwrap().value, 2000.0);
        assert_eq!(p.load_mode(), LoadMode::Closed { concurrency: 2048 });
    }

    #[test]
    fn request_and_warmup_counts() {
        // Upstream examples: concurrency 16 → 1000 requests, 16 warmup; 128 → 1024; 500 → 4000.
        let r = gated(&[(INFERENCE_THROUGHPUT, ">= 1")]);
        for (c, requests, warmup) in [(16, 1000, 16), (128, 1024, 128), (500, 4000, 500)] {
            let flags = GateFlags {
                concurrency_per_gpu: Some(c.to_string()),
                ..gpus(1)
            };
            let p = run(GatePlan::build(&r, &flags, &no_env()).unwrap());
            assert_eq!(p.point.request_count, requests, "C={c}");
            assert_eq!(p.point.warmup_count, warmup, "C={c}");
        }
    }

    #[test]
    fn env_overrides_flow_into_the_operating_point() {
        // Upstream: min 2000 with rpc 4 at concurrency 100 → 2000; warmup 3 → 300; 64; 256.
        let r = gated(&[(INFERENCE_THROUGHPUT, ">= 1")]);
        let env = env_of(&[
            (ENV_CONCURRENCY_PER_GPU, "100"),
            (ENV_MIN_REQUESTS, "2000"),
            (ENV_REQUESTS_PER_CONCURRENCY, "4"),
            (ENV_WARMUP_PER_CONCURRENCY, "3"),
            (ENV_INPUT_TOKENS_MEAN, "64"),
            (ENV_OUTPUT_TOKENS_MEAN, "256"),
            (ENV_HEALTH_TIMEOUT, "15m"),
            (ENV_WORKLOAD_READY_TIMEOUT, "1h2m3.5s"),
            (ENV_ROUTER_MODE, "kv"),
            (ENV_NO_CLEANUP, "1"),
        ]);
        let p = run(GatePlan::build(&r, &gpus(1), &env).unwrap());
        assert_eq!(p.point.concurrency, 100);
        assert_eq!(p.sources.concurrency_per_gpu, Source::Env);
        assert_eq!(p.point.request_count, 2000);
        assert_eq!(p.point.warmup_count, 300);
        assert_eq!(p.point.input_tokens_mean, 64);
        assert_eq!(p.point.output_tokens_mean, 256);
        assert_eq!(p.probe.window, Duration::from_secs(900));
        assert_eq!(p.workload_ready_timeout, Duration::from_millis(3_723_500));
        assert_eq!(p.router_mode, RouterMode::Kv);
        assert!(p.no_cleanup);
    }

    #[test]
    fn precedence_flag_recipe_env_default() {
        let env = env_of(&[(ENV_MODEL, "env/model"), (ENV_CONCURRENCY_PER_GPU, "999")]);
        let with_recipe = gated(&[
            (INFERENCE_THROUGHPUT, ">= 1"),
            (INFERENCE_MODEL, " recipe/model "),
            (INFERENCE_CONCURRENCY_PER_GPU, " 256 "),
            (INFERENCE_ROUTING_MODE, "gateway-epp"),
        ]);
        let bare = gated(&[(INFERENCE_THROUGHPUT, ">= 1")]);

        // recipe beats env (and is trimmed)
        let p = run(GatePlan::build(&with_recipe, &gpus(1), &env).unwrap());
        assert_eq!(
            (p.model.as_str(), p.sources.model),
            ("recipe/model", Source::Recipe)
        );
        assert_eq!(p.point.concurrency_per_gpu, 256);
        assert_eq!(p.routing_mode, RoutingMode::GatewayEpp);

        // flag beats recipe
        let flags = GateFlags {
            model: Some("flag/model".into()),
            concurrency_per_gpu: Some("8".into()),
            routing_mode: Some("dynamo-router".into()),
            ..gpus(1)
        };
        let p = run(GatePlan::build(&with_recipe, &flags, &env).unwrap());
        assert_eq!(
            (p.model.as_str(), p.sources.model),
            ("flag/model", Source::Flag)
        );
        assert_eq!(p.point.concurrency_per_gpu, 8);
        assert_eq!(p.routing_mode, RoutingMode::DynamoRouter);

        // no recipe value → env
        let p = run(GatePlan::build(&bare, &gpus(1), &env).unwrap());
        assert_eq!(
            (p.model.as_str(), p.sources.model),
            ("env/model", Source::Env)
        );
        assert_eq!(p.point.concurrency_per_gpu, 999);

        // neither → default
        let p = run(GatePlan::build(&bare, &gpus(1), &no_env()).unwrap());
        assert_eq!(
            (p.model.as_str(), p.sources.model),
            ("Qwen/Qwen3-8B", Source::Default)
        );
        assert_eq!(p.point.concurrency_per_gpu, 256);
        assert_eq!(p.sources.routing_mode, Source::Default);
    }

    #[test]
    fn flags_beat_env_for_the_other_knobs() {
        let r = gated(&[(INFERENCE_THROUGHPUT, ">= 1")]);
        let env = env_of(&[(ENV_MIN_REQUESTS, "5"), (ENV_ROUTER_MODE, "kv")]);
        let flags = GateFlags {
            concurrency_per_gpu: Some("1".into()),
            min_requests: Some("7".into()),
            router_mode: Some("random".into()),
            probe_attempt_timeout: Some("30s".into()),
            probe_interval: Some("250ms".into()),
            ..gpus(1)
        };
        let p = run(GatePlan::build(&r, &flags, &env).unwrap());
        assert_eq!(p.point.request_count, 8, "max(7, 1×8)");
        assert_eq!(p.router_mode, RouterMode::Random);
        assert_eq!(p.probe.attempt_timeout, Duration::from_secs(30));
        assert_eq!(p.probe.interval, Duration::from_millis(250));
    }

    #[test]
    fn skip_rules_use_upstream_texts() {
        let env = no_env();
        let cases = [
            (
                recipe(&[(INFERENCE_MODEL, "m")], &["dynamo-platform"]),
                SKIP_NO_THRESHOLDS,
            ),
            (
                recipe(&[(INFERENCE_THROUGHPUT, ">= 1")], &["other"]),
                SKIP_NO_DYNAMO,
            ),
            (recipe(&[(INFERENCE_TTFT_P99, "<= 1")], &[]), SKIP_NO_DYNAMO),
            (Recipe::load("b200-gke").unwrap(), SKIP_NO_THRESHOLDS),
            (Recipe::load("gb300-eks").unwrap(), SKIP_NO_THRESHOLDS),
            (Recipe::load("base").unwrap(), SKIP_NO_THRESHOLDS),
        ];
        for (r, want) in cases {
            assert_eq!(
                GatePlan::build(&r, &GateFlags::default(), &env).unwrap(),
                GatePlan::Skip {
                    reason: want.to_string()
                }
            );
        }
        let r = Recipe::from_yaml(
            "t",
            "kind: RecipeMetadata\napiVersion: aicr.run/v1beta1\nspec:\n  base: h100-eks\n  \
             validation:\n    performance:\n      checks: [nccl-all-reduce-bw]\n",
        )
        .unwrap();
        assert_eq!(
            GatePlan::build(&r, &GateFlags::default(), &env).unwrap(),
            GatePlan::Skip {
                reason: SKIP_NOT_IN_CHECKS.to_string()
            }
        );
    }

    #[test]
    fn guard_a_skips_before_knobs_are_checked_but_guard_b_does_not() {
        let bad = env_of(&[(ENV_MIN_REQUESTS, "abc")]);
        let no_thresholds = recipe(&[], &["dynamo-platform"]);
        assert!(matches!(
            GatePlan::build(&no_thresholds, &GateFlags::default(), &bad),
            Ok(GatePlan::Skip { .. })
        ));
        // Upstream: a malformed knob fails even when Guard B would skip.
        let no_dynamo = recipe(&[(INFERENCE_THROUGHPUT, ">= 1")], &[]);
        let e = GatePlan::build(&no_dynamo, &GateFlags::default(), &bad).unwrap_err();
        assert!(e.to_string().contains(ENV_MIN_REQUESTS), "{e}");
    }

    #[test]
    fn every_malformed_knob_is_an_error_naming_it() {
        let r = gated(&[(INFERENCE_THROUGHPUT, ">= 1")]);
        let cases: &[(&str, &str, &str)] = &[
            (ENV_CONCURRENCY_PER_GPU, "lots", "positive integer"),
            (ENV_CONCURRENCY_PER_GPU, " 256", "positive integer"),
            (ENV_WARMUP_PER_CONCURRENCY, "1.5", "positive integer"),
            (ENV_MIN_REQUESTS, "0", "positive integer"),
            (ENV_REQUESTS_PER_CONCURRENCY, "-8", "positive integer"),
            (ENV_INPUT_TOKENS_MEAN, "abc", "positive integer"),
            (ENV_OUTPUT_TOKENS_MEAN, "1e3", "positive integer"),
            (ENV_HEALTH_TIMEOUT, "soon", "Go duration > 0"),
            (ENV_HEALTH_TIMEOUT, "0s", "Go duration > 0"),
            (ENV_WORKLOAD_READY_TIMEOUT, "-5m", "Go duration > 0"),
            (ENV_ROUTER_MODE, "fastest", "kv, round-robin, random"),
            (ENV_ROUTER_MODE, "KV", "case-sensitive"),
            (ENV_NO_CLEANUP, "yes", "1, t, T, TRUE, true, True"),
            (ENV_INFERGATE_NO_CLEANUP, "on", "1, t, T, TRUE, true, True"),
        ];
        for &(name, value, needle) in cases {
            // The recipe sets concurrency; the env knob must still be validated.
            let e = GatePlan::build(&r, &gpus(1), &env_of(&[(name, value)]))
                .unwrap_err()
                .to_string();
            assert!(e.contains(name), "{e} should name {name}");
            assert!(
                e.contains(&format!("{value:?}")),
                "{e} should quote {value:?}"
            );
            assert!(e.contains(needle), "{e} should say {needle:?}");
        }
    }

    #[test]
    fn every_malformed_flag_is_an_error_naming_it() {
        let r = gated(&[(INFERENCE_THROUGHPUT, ">= 1")]);
        type Set = fn(&mut GateFlags, String);
        let cases: &[(&str, Set, &str)] = &[
            (
                flag::CONCURRENCY_PER_GPU,
                |f, v| f.concurrency_per_gpu = Some(v),
                "0",
            ),
            (
                flag::WARMUP_PER_CONCURRENCY,
                |f, v| f.warmup_per_concurrency = Some(v),
                "x",
            ),
            (flag::MIN_REQUESTS, |f, v| f.min_requests = Some(v), "-1"),
            (
                flag::REQUESTS_PER_CONCURRENCY,
                |f, v| f.requests_per_concurrency = Some(v),
                "",
            ),
            (
                flag::INPUT_TOKENS_MEAN,
                |f, v| f.input_tokens_mean = Some(v),
                "12.5",
            ),
            (
                flag::OUTPUT_TOKENS_MEAN,
                |f, v| f.output_tokens_mean = Some(v),
                "many",
            ),
            (flag::HEALTH_TIMEOUT, |f, v| f.health_timeout = Some(v), "5"),
            (
                flag::WORKLOAD_READY_TIMEOUT,
                |f, v| f.workload_ready_timeout = Some(v),
                "10x",
            ),
            (
                flag::PROBE_ATTEMPT_TIMEOUT,
                |f, v| f.probe_attempt_timeout = Some(v),
                "0",
            ),
            (
                flag::PROBE_INTERVAL,
                |f, v| f.probe_interval = Some(v),
                "-1s",
            ),
            (flag::ROUTER_MODE, |f, v| f.router_mode = Some(v), "direct"),
            (
                flag::ROUTING_MODE,
                |f, v| f.routing_mode = Some(v),
                "load-only",
            ),
            (flag::MODEL, |f, v| f.model = Some(v), "a b"),
        ];
        for (name, set, value) in cases {
            let mut flags = gpus(1);
            set(&mut flags, value.to_string());
            let e = GatePlan::build(&r, &flags, &no_env())
                .unwrap_err()
                .to_string();
            assert!(e.contains(name), "{e} should name {name}");
            assert!(
                e.contains(&format!("{value:?}")),
                "{e} should quote {value:?}"
            );
        }
    }

    #[test]
    fn malformed_recipe_inputs_and_comparators_fail_before_any_request() {
        let cases: &[(&str, &str, &str)] = &[
            (INFERENCE_THROUGHPUT, "> 50000", "must start with \">=\""),
            (
                INFERENCE_THROUGHPUT,
                ">== 50000",
                "extra operator characters",
            ),
            (INFERENCE_TTFT_P99, ">= 2000", "must start with \"<=\""),
            (INFERENCE_TTFT_P99, "<= soon", "invalid TTFT threshold"),
            (INFERENCE_MODEL, "$(touch x)", "Hugging Face model ID"),
            (INFERENCE_CONCURRENCY_PER_GPU, "lots", "positive integer"),
            (INFERENCE_CONCURRENCY_PER_GPU, "-8", "positive integer"),
            (
                INFERENCE_ROUTING_MODE,
                "load-only",
                "dynamo-router, gateway-epp",
            ),
        ];
        for &(name, value, needle) in cases {
            let mut cs = vec![(name, value)];
            if name != INFERENCE_THROUGHPUT {
                cs.push((INFERENCE_THROUGHPUT, ">= 1"));
            }
            let e = GatePlan::build(&gated(&cs), &gpus(1), &no_env())
                .unwrap_err()
                .to_string();
            assert!(
                e.contains(&constraint::go_quote(value)),
                "{e} should quote {value}"
            );
            assert!(e.contains(needle), "{e} should say {needle}");
        }
    }

    #[test]
    fn gpu_counts_default_to_the_recipe_node_and_scale_partial_nodes() {
        let r = Recipe::load("gb200-eks").unwrap();
        let p = run(GatePlan::build(&r, &GateFlags::default(), &no_env()).unwrap());
        assert_eq!(
            (p.point.gpus, p.point.gpus_per_node, p.point.concurrency),
            (4, 4, 1024)
        );
        assert_eq!(p.sources.gpus, Source::Recipe);

        let r = Recipe::load("h100-eks").unwrap();
        let p = run(GatePlan::build(&r, &gpus(4), &no_env()).unwrap());
        assert_eq!(
            (p.point.gpus, p.point.gpus_per_node, p.point.concurrency),
            (4, 8, 1024)
        );

        // No recipe node size: --gpus alone means a full node of that size.
        let bare = gated(&[(INFERENCE_THROUGHPUT, ">= 1")]);
        let p = run(GatePlan::build(&bare, &gpus(2), &no_env()).unwrap());
        assert_eq!((p.point.gpus, p.point.gpus_per_node), (2, 2));

        let e = GatePlan::build(&bare, &GateFlags::default(), &no_env())
            .unwrap_err()
            .to_string();
        assert!(e.contains("--gpus") && e.contains("gpusPerNode"), "{e}");

        let over = GateFlags {
            gpus_per_node: Some(8),
            ..gpus(16)
        };
        let e = GatePlan::build(&bare, &over, &no_env())
            .unwrap_err()
            .to_string();
        assert!(e.contains("16") && e.contains("--gpus-per-node 8"), "{e}");

        let e = GatePlan::build(&bare, &gpus(0), &no_env())
            .unwrap_err()
            .to_string();
        assert!(e.contains("--gpus") && e.contains("positive"), "{e}");
    }

    #[test]
    fn concurrency_overflow_is_an_error() {
        let bare = gated(&[(INFERENCE_THROUGHPUT, ">= 1")]);
        let flags = GateFlags {
            concurrency_per_gpu: Some("4294967295".into()),
            ..gpus(2)
        };
        let e = GatePlan::build(&bare, &flags, &no_env())
            .unwrap_err()
            .to_string();
        assert!(e.contains("does not fit"), "{e}");
    }

    #[test]
    fn storage_class_precedence() {
        let env = env_of(&[(ENV_MODEL_CACHE_STORAGE_CLASS, " env-sc ")]);
        let r = Recipe::load("gb200-gke").unwrap();
        let p = run(GatePlan::build(&r, &GateFlags::default(), &env).unwrap());
        assert_eq!(
            p.model_cache_storage_class.as_deref(),
            Some("a4x-compatible")
        );
        let r = Recipe::load("gb200-eks").unwrap();
        let p = run(GatePlan::build(&r, &GateFlags::default(), &env).unwrap());
        assert_eq!(p.model_cache_storage_class.as_deref(), Some("env-sc"));
        let p = run(GatePlan::build(&r, &GateFlags::default(), &no_env()).unwrap());
        assert_eq!(p.model_cache_storage_class, None);
    }
}
