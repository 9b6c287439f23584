//! Environment knobs (`AICR_INFERENCE_PERF_*`) with upstream's names, defaults and parse rules,
//! and the parsers they share with the matching flags: Go's `strconv.Atoi` (> 0), Go's
//! `time.ParseDuration` (> 0), Go's `strconv.ParseBool`, and the Dynamo router-mode enum.
//!
//! The environment is read through an injected lookup ([`EnvLookup`]) so tests never touch the
//! process environment. An empty value counts as unset; a set-but-invalid value is an error that
//! names the variable, the value and what is valid, never a silent default.

use crate::error::GateError;
use serde::Serialize;
use std::time::Duration;

/// Reads one environment variable; `None` when unset.
pub type EnvLookup<'a> = &'a dyn Fn(&str) -> Option<String>;

/// The real process environment, for the CLI. A value that is not UTF-8 reads as unset.
pub fn process_env(name: &str) -> Option<String> {
    std::env::var(name).ok()
}

/// Per-GPU concurrency; the recipe's `inference-concurrency-per-gpu` wins over it.
pub const ENV_CONCURRENCY_PER_GPU: &str = "AICR_INFERENCE_PERF_CONCURRENCY_PER_GPU";
/// Warmup requests per unit of concurrency.
pub const ENV_WARMUP_PER_CONCURRENCY: &str = "AICR_INFERENCE_PERF_WARMUP_PER_CONCURRENCY";
/// Floor of the measured request count.
pub const ENV_MIN_REQUESTS: &str = "AICR_INFERENCE_PERF_MIN_REQUESTS";
/// Measured requests per unit of concurrency.
pub const ENV_REQUESTS_PER_CONCURRENCY: &str = "AICR_INFERENCE_PERF_REQUESTS_PER_CONCURRENCY";
/// Prompt length, tokens.
pub const ENV_INPUT_TOKENS_MEAN: &str = "AICR_INFERENCE_PERF_INPUT_TOKENS_MEAN";
/// Output length, tokens.
pub const ENV_OUTPUT_TOKENS_MEAN: &str = "AICR_INFERENCE_PERF_OUTPUT_TOKENS_MEAN";
/// Model; the recipe's `inference-model` wins over it.
pub const ENV_MODEL: &str = "AICR_INFERENCE_PERF_MODEL";
/// Readiness-probe window (Go duration).
pub const ENV_HEALTH_TIMEOUT: &str = "AICR_INFERENCE_PERF_HEALTH_TIMEOUT";
/// Workload (DGD) readiness wait (Go duration), used by `validate --kube`.
pub const ENV_WORKLOAD_READY_TIMEOUT: &str = "AICR_INFERENCE_PERF_WORKLOAD_READY_TIMEOUT";
/// Dynamo frontend router mode.
pub const ENV_ROUTER_MODE: &str = "AICR_INFERENCE_PERF_ROUTER_MODE";
/// Keep everything for a post-mortem (Go `ParseBool`).
pub const ENV_NO_CLEANUP: &str = "AICR_INFERENCE_PERF_NO_CLEANUP";
/// infergate's own spelling of [`ENV_NO_CLEANUP`], same rules; either one being true is enough.
pub const ENV_INFERGATE_NO_CLEANUP: &str = "INFERGATE_NO_CLEANUP";
/// Model-cache StorageClass; the recipe's `inference-model-cache-storage-class` wins over it.
pub const ENV_MODEL_CACHE_STORAGE_CLASS: &str = "AICR_INFERENCE_PERF_MODEL_CACHE_STORAGE_CLASS";

/// Upstream's compiled defaults.
pub mod defaults {
    use std::time::Duration;
    /// `aiperfConcurrencyPerGPU`.
    pub const CONCURRENCY_PER_GPU: u32 = 256;
    /// `aiperfWarmupPerConcurrency`.
    pub const WARMUP_PER_CONCURRENCY: u32 = 1;
    /// `aiperfMinRequests`.
    pub const MIN_REQUESTS: u32 = 1000;
    /// `aiperfRequestsPerConcurrency`.
    pub const REQUESTS_PER_CONCURRENCY: u32 = 8;
    /// `aiperfInputTokensMean`.
    pub const INPUT_TOKENS_MEAN: u32 = 128;
    /// `aiperfOutputTokensMean`.
    pub const OUTPUT_TOKENS_MEAN: u32 = 128;
    /// `inferenceModel`.
    pub const MODEL: &str = "Qwen/Qwen3-8B";
    /// `InferenceHealthTimeout`: the readiness-probe window.
    pub const HEALTH_TIMEOUT: Duration = Duration::from_secs(5 * 60);
    /// `InferenceWorkloadReadyTimeout`.
    pub const WORKLOAD_READY_TIMEOUT: Duration = Duration::from_secs(10 * 60);
    /// `InferenceEndpointProbeTimeout`: one probe attempt (was 30 s before AICR PR #1196).
    pub const PROBE_ATTEMPT_TIMEOUT: Duration = Duration::from_secs(120);
    /// `InferenceHealthPollInterval`: the pause after each failed attempt.
    pub const PROBE_INTERVAL: Duration = Duration::from_secs(10);
    /// `InferenceProbeBodyLimit`: the largest probe response accepted, bytes.
    pub const PROBE_BODY_LIMIT: usize = 8192;
}

/// Reads a variable; empty means unset.
pub fn env_value(env: EnvLookup<'_>, name: &str) -> Option<String> {
    env(name).filter(|v| !v.is_empty())
}

/// Go `strconv.Atoi` restricted to `1..=u32::MAX`: optional sign, ASCII digits, no spaces, no
/// underscores.
pub fn parse_atoi_positive(s: &str) -> Option<u32> {
    let v: i64 = s.parse().ok()?;
    u32::try_from(v).ok().filter(|&v| v > 0)
}

/// Parses a positive-integer knob or flag value; `source` names the variable or flag.
pub fn parse_positive_int(source: &str, raw: &str) -> Result<u32, GateError> {
    parse_atoi_positive(raw).ok_or_else(|| GateError::Knob {
        source_name: source.to_string(),
        value: raw.to_string(),
        expected: "must be a positive integer (1..=4294967295, no spaces)".to_string(),
    })
}

/// Parses a duration knob or flag value: a Go duration (`300ms`, `90s`, `1.5h`, `1h2m3.5s`) > 0.
pub fn parse_positive_duration(source: &str, raw: &str) -> Result<Duration, GateError> {
    let err = |why: &str| GateError::Knob {
        source_name: source.to_string(),
        value: raw.to_string(),
        expected: format!(
            "{why}; want a Go duration > 0 such as 5m, 90s, 300ms, 1.5h or 1h2m3.5s \
             (units ns, us, µs, ms, s, m, h)"
        ),
    };
    let nanos = parse_go_duration(raw).map_err(|e| err(&e))?;
    if nanos <= 0 {
        return Err(err("must be greater than zero"));
    }
    Ok(Duration::from_nanos(nanos as u64))
}

/// Go's `time.ParseDuration`: `[-+]?([0-9]*(\.[0-9]*)?[a-z]+)+`, or `0`. Returns nanoseconds.
/// Follows Go's algorithm, including its overflow checks and its truncation of fractions below a
/// nanosecond.
pub fn parse_go_duration(s: &str) -> Result<i64, String> {
    const LIMIT: u64 = 1 << 63;
    let mut rest = s.as_bytes();
    let mut neg = false;
    if let Some(&c) = rest.first() {
        if c == b'-' || c == b'+' {
            neg = c == b'-';
            rest = &rest[1..];
        }
    }
    if rest == b"0" {
        return Ok(0);
    }
    if rest.is_empty() {
        return Err("invalid duration".to_string());
    }
    let mut total: u64 = 0;
    while !rest.is_empty() {
        if !(rest[0] == b'.' || rest[0].is_ascii_digit()) {
            return Err("invalid duration".to_string());
        }
        // Integer part.
        let digits = rest.iter().take_while(|c| c.is_ascii_digit()).count();
        let pre = digits > 0;
        let mut v: u64 = 0;
        for &c in &rest[..digits] {
            if v > LIMIT / 10 {
                return Err("invalid duration (overflow)".to_string());
            }
            v = v * 10 + u64::from(c - b'0');
            if v > LIMIT {
                return Err("invalid duration (overflow)".to_string());
            }
        }
        rest = &rest[digits..];
        // Fraction part.
        let mut frac: u64 = 0;
        let mut scale = 1.0_f64;
        let mut post = false;
        if rest.first() == Some(&b'.') {
            rest = &rest[1..];
            let digits = rest.iter().take_while(|c| c.is_ascii_digit()).count();
            post = digits > 0;
            let mut overflow = false;
            for &c in &rest[..digits] {
                if overflow {
                    continue;
                }
                if frac > (LIMIT - 1) / 10 {
                    overflow = true;
                    continue;
                }
                let y = frac * 10 + u64::from(c - b'0');
                if y > LIMIT {
                    overflow = true;
                    continue;
                }
                frac = y;
                scale *= 10.0;
            }
            rest = &rest[digits..];
        }
        if !pre && !post {
            return Err("invalid duration (no digits)".to_string());
        }
        // Unit.
        let unit_len = rest
            .iter()
            .take_while(|&&c| c != b'.' && !c.is_ascii_digit())
            .count();
        if unit_len == 0 {
            return Err("missing unit in duration".to_string());
        }
        let unit_bytes = &rest[..unit_len];
        rest = &rest[unit_len..];
        let unit: u64 = match unit_bytes {
            b"ns" => 1,
            b"us" => 1_000,
            // U+00B5 micro sign and U+03BC Greek small letter mu.
            b"\xc2\xb5s" | b"\xce\xbcs" => 1_000,
            b"ms" => 1_000_000,
            b"s" => 1_000_000_000,
            b"m" => 60 * 1_000_000_000,
            b"h" => 3600 * 1_000_000_000,
            other => {
                return Err(format!(
                    "unknown unit {:?} in duration",
                    String::from_utf8_lossy(other)
                ))
            }
        };
        if v > LIMIT / unit {
            return Err("invalid duration (overflow)".to_string());
        }
        v *= unit;
        if frac > 0 {
            // Go: v += uint64(float64(f) * (float64(unit) / scale)), truncating.
            v += (frac as f64 * (unit as f64 / scale)) as u64;
            if v > LIMIT {
                return Err("invalid duration (overflow)".to_string());
            }
        }
        total += v;
        if total > LIMIT {
            return Err("invalid duration (overflow)".to_string());
        }
    }
    if neg {
        return Ok((total as i128).wrapping_neg() as i64);
    }
    if total > LIMIT - 1 {
        return Err("invalid duration (overflow)".to_string());
    }
    Ok(total as i64)
}

/// Go's `strconv.ParseBool`: `1, t, T, TRUE, true, True` and `0, f, F, FALSE, false, False`.
pub fn parse_go_bool(s: &str) -> Option<bool> {
    match s {
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Some(true),
        "0" | "f" | "F" | "FALSE" | "false" | "False" => Some(false),
        _ => None,
    }
}

/// Reads the no-cleanup switch from [`ENV_NO_CLEANUP`] and [`ENV_INFERGATE_NO_CLEANUP`] (values
/// trimmed). True when either is true.
///
/// Deviation: upstream reads an unparsable value as false (clean up); we reject it, because a
/// user who wrote `yes` wanted the workload kept.
pub fn no_cleanup_from_env(env: EnvLookup<'_>) -> Result<bool, GateError> {
    let mut on = false;
    for name in [ENV_NO_CLEANUP, ENV_INFERGATE_NO_CLEANUP] {
        let Some(raw) = env_value(env, name) else {
            continue;
        };
        match parse_go_bool(raw.trim()) {
            Some(b) => on |= b,
            None if raw.trim().is_empty() => {}
            None => {
                return Err(GateError::Knob {
                    source_name: name.to_string(),
                    value: raw,
                    expected: "must be a boolean: 1, t, T, TRUE, true, True (keep everything) \
                               or 0, f, F, FALSE, false, False"
                        .to_string(),
                })
            }
        }
    }
    Ok(on)
}

/// The Dynamo frontend's `DYN_ROUTER_MODE`. Upstream's order, used in the error message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum RouterMode {
    /// KV-cache-aware routing.
    Kv,
    /// Round robin.
    RoundRobin,
    /// Random.
    Random,
    /// Power of two choices.
    PowerOfTwo,
    /// Least loaded (upstream's default since AICR PR #1399).
    LeastLoaded,
    /// Device-aware weighted.
    DeviceAwareWeighted,
}

impl RouterMode {
    /// Every mode, in upstream's order.
    pub const ALL: [RouterMode; 6] = [
        RouterMode::Kv,
        RouterMode::RoundRobin,
        RouterMode::Random,
        RouterMode::PowerOfTwo,
        RouterMode::LeastLoaded,
        RouterMode::DeviceAwareWeighted,
    ];

    /// The spelling Dynamo expects.
    pub fn as_str(self) -> &'static str {
        match self {
            RouterMode::Kv => "kv",
            RouterMode::RoundRobin => "round-robin",
            RouterMode::Random => "random",
            RouterMode::PowerOfTwo => "power-of-two",
            RouterMode::LeastLoaded => "least-loaded",
            RouterMode::DeviceAwareWeighted => "device-aware-weighted",
        }
    }

    /// Upstream's `resolveRouterMode` for one value: trimmed, case-sensitive, one of the six
    /// (`direct` is excluded). A blank value is the caller's "unset".
    pub fn parse(source: &str, raw: &str) -> Result<RouterMode, GateError> {
        let v = raw.trim();
        RouterMode::ALL
            .into_iter()
            .find(|m| m.as_str() == v)
            .ok_or_else(|| GateError::Knob {
                source_name: source.to_string(),
                value: raw.to_string(),
                expected: format!(
                    "must be one of {} (case-sensitive)",
                    RouterMode::ALL.map(RouterMode::as_str).join(", ")
                ),
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn env_of(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |k| map.get(k).cloned()
    }

    #[test]
    fn int_from_env_rules() {
        // upstream intFromEnv: "7" → 7; "0", "-3", "abc" → error.
        assert_eq!(parse_positive_int(ENV_MIN_REQUESTS, "7").unwrap(), 7);
        assert_eq!(
            parse_positive_int(ENV_MIN_REQUESTS, "+7").unwrap(),
            7,
            "Atoi takes a sign"
        );
        for bad in ["0", "-3", "abc", " 7", "7 ", "1_000", "1.0", "4294967296"] {
            let e = parse_positive_int(ENV_MIN_REQUESTS, bad)
                .unwrap_err()
                .to_string();
            assert!(e.starts_with(ENV_MIN_REQUESTS), "{e}");
            assert!(e.contains(&format!("{bad:?}")), "{e}");
            assert!(e.contains("positive integer"), "{e}");
        }
    }

    #[test]
    fn go_durations_accepted() {
        let cases: &[(&str, i64)] = &[
            ("0", 0),
            ("5m", 300_000_000_000),
            ("15m", 900_000_000_000),
            ("30m", 1_800_000_000_000),
            ("300ms", 300_000_000),
            ("1.5h", 5_400_000_000_000),
            ("1h2m3.5s", 3_723_500_000_000),
            ("90s", 90_000_000_000),
            ("1ns", 1),
            ("1us", 1_000),
            ("1µs", 1_000),
            ("1μs", 1_000),
            (".5s", 500_000_000),
            ("5.s", 5_000_000_000),
            ("+5s", 5_000_000_000),
            ("-5m", -300_000_000_000),
            ("1.0000000001s", 1_000_000_000),
            ("2562047h", 2562047 * 3_600_000_000_000),
        ];
        for &(s, want) in cases {
            assert_eq!(parse_go_duration(s), Ok(want), "{s}");
        }
    }

    #[test]
    fn go_durations_rejected() {
        for s in [
            "",
            "soon",
            "5",
            "1.5",
            ".",
            "s",
            "-",
            "+",
            "5 m",
            "5M",
            "1d",
            "3000000h",
            "5m-3s",
            "9223372036854775808ns",
        ] {
            assert!(parse_go_duration(s).is_err(), "{s:?} should be rejected");
        }
    }

    #[test]
    fn duration_knob_must_be_positive() {
        // upstream durationFromEnv: "30m" ok; "0s", "-5m", "soon" → error.
        assert_eq!(
            parse_positive_duration(ENV_HEALTH_TIMEOUT, "30m").unwrap(),
            Duration::from_secs(1800)
        );
        for bad in ["0s", "-5m", "soon", "0"] {
            let e = parse_positive_duration(ENV_HEALTH_TIMEOUT, bad)
                .unwrap_err()
                .to_string();
            assert!(e.starts_with(ENV_HEALTH_TIMEOUT), "{e}");
            assert!(e.contains(&format!("{bad:?}")), "{e}");
            assert!(e.contains("Go duration > 0"), "{e}");
        }
    }

    #[test]
    fn go_bool_truthiness() {
        for t in ["1", "t", "T", "TRUE", "true", "True"] {
            assert_eq!(parse_go_bool(t), Some(true), "{t}");
        }
        for f in ["0", "f", "F", "FALSE", "false", "False"] {
            assert_eq!(parse_go_bool(f), Some(false), "{f}");
        }
        for bad in ["yes", "on", "tRUE", "2", ""] {
            assert_eq!(parse_go_bool(bad), None, "{bad}");
        }
    }

    #[test]
    fn no_cleanup_reads_both_names() {
        assert!(!no_cleanup_from_env(&env_of(&[])).unwrap());
        assert!(no_cleanup_from_env(&env_of(&[(ENV_NO_CLEANUP, " 1 ")])).unwrap());
        assert!(no_cleanup_from_env(&env_of(&[(ENV_INFERGATE_NO_CLEANUP, "True")])).unwrap());
        assert!(no_cleanup_from_env(&env_of(&[
            (ENV_NO_CLEANUP, "false"),
            (ENV_INFERGATE_NO_CLEANUP, "t")
        ]))
        .unwrap());
        assert!(!no_cleanup_from_env(&env_of(&[(ENV_NO_CLEANUP, "")])).unwrap());
        let e = no_cleanup_from_env(&env_of(&[(ENV_INFERGATE_NO_CLEANUP, "yes")]))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains(ENV_INFERGATE_NO_CLEANUP) && e.contains("\"yes\""),
            "{e}"
        );
        assert!(e.contains("1, t, T, TRUE, true, True"), "{e}");
    }

    #[test]
    fn router_modes() {
        for m in RouterMode::ALL {
            assert_eq!(RouterMode::parse(ENV_ROUTER_MODE, m.as_str()).unwrap(), m);
        }
        assert_eq!(
            RouterMode::parse(ENV_ROUTER_MODE, " kv ").unwrap(),
            RouterMode::Kv,
            "trimmed"
        );
        for bad in ["fastest", "direct", "KV"] {
            let e = RouterMode::parse(ENV_ROUTER_MODE, bad)
                .unwrap_err()
                .to_string();
            assert!(e.contains(&format!("{bad:?}")), "{e}");
            assert!(
                e.contains(
                    "kv, round-robin, random, power-of-two, least-loaded, device-aware-weighted"
                ),
                "{e}"
            );
        }
    }

    #[test]
    fn empty_env_is_unset() {
        let env = env_of(&[(ENV_MODEL, "")]);
        assert_eq!(env_value(&env, ENV_MODEL), None);
    }
}
