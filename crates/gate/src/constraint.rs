//! Recipe constraints of the `inference-perf` check: their names, the comparator grammar of the two
//! thresholds, the 10 % tolerance, partial-node throughput scaling, and the three recipe inputs
//! (model, concurrency per GPU, routing mode).
//!
//! The grammar is upstream's (AICR `requireComparatorPrefix` + `parseThreshold`), kept exactly,
//! with one addition: a threshold must be a finite number > 0 (upstream would accept `>= NaN`,
//! which passes everything). Nothing here does IO.

use crate::error::GateError;
use crate::knobs::parse_atoi_positive;
use serde::Serialize;

/// Output-token throughput floor, tokens/s, full-node value: `">= <number> [unit]"`.
pub const INFERENCE_THROUGHPUT: &str = "inference-throughput";
/// Time-to-first-token p99 ceiling, ms: `"<= <number> [unit]"`.
pub const INFERENCE_TTFT_P99: &str = "inference-ttft-p99";
/// Hugging Face model ID served and benchmarked (bare value).
pub const INFERENCE_MODEL: &str = "inference-model";
/// In-flight requests per GPU (bare positive integer, as a string).
pub const INFERENCE_CONCURRENCY_PER_GPU: &str = "inference-concurrency-per-gpu";
/// `dynamo-router` or `gateway-epp` (bare value).
pub const INFERENCE_ROUTING_MODE: &str = "inference-routing-mode";
/// StorageClass of the model-weights cache PVC (bare value; used by `validate --kube`).
pub const INFERENCE_MODEL_CACHE_STORAGE_CLASS: &str = "inference-model-cache-storage-class";

/// Every constraint name the `inference-perf` check reads.
pub const KNOWN_CONSTRAINTS: [&str; 6] = [
    INFERENCE_THROUGHPUT,
    INFERENCE_TTFT_P99,
    INFERENCE_MODEL,
    INFERENCE_CONCURRENCY_PER_GPU,
    INFERENCE_ROUTING_MODE,
    INFERENCE_MODEL_CACHE_STORAGE_CLASS,
];

/// Throughput passes when `measured >= floor * THROUGHPUT_TOLERANCE` (10 % below the floor).
pub const THROUGHPUT_TOLERANCE: f64 = 0.9;
/// TTFT p99 passes when `measured <= ceiling * TTFT_TOLERANCE` (10 % above the ceiling).
pub const TTFT_TOLERANCE: f64 = 1.1;

/// The only two comparators the check honours; each belongs to one threshold.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Comparator {
    /// `>=`: a floor (throughput).
    #[serde(rename = ">=")]
    AtLeast,
    /// `<=`: a ceiling (TTFT p99).
    #[serde(rename = "<=")]
    AtMost,
}

impl Comparator {
    /// The operator as written in a recipe.
    pub fn symbol(self) -> &'static str {
        match self {
            Comparator::AtLeast => ">=",
            Comparator::AtMost => "<=",
        }
    }
}

/// A parsed threshold constraint.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Threshold {
    /// The constraint name ([`INFERENCE_THROUGHPUT`] or [`INFERENCE_TTFT_P99`]).
    pub name: &'static str,
    /// The recipe value exactly as written (printed in the PASS line and failure message).
    pub raw: String,
    /// The operator.
    pub comparator: Comparator,
    /// The number after the operator (tokens/s or ms), unscaled and without tolerance.
    pub value: f64,
}

/// Parses an `inference-throughput` value: `>=` only, then a number, then optional text (units).
pub fn parse_throughput(raw: &str) -> Result<Threshold, GateError> {
    require_comparator_prefix(INFERENCE_THROUGHPUT, raw, Comparator::AtLeast)?;
    let value = parse_threshold(raw)
        .map_err(|e| GateError::Constraint(format!("invalid throughput threshold: {e}")))?;
    Ok(Threshold {
        name: INFERENCE_THROUGHPUT,
        raw: raw.to_string(),
        comparator: Comparator::AtLeast,
        value,
    })
}

/// Parses an `inference-ttft-p99` value: `<=` only, then a number (ms), then optional text.
pub fn parse_ttft_p99(raw: &str) -> Result<Threshold, GateError> {
    require_comparator_prefix(INFERENCE_TTFT_P99, raw, Comparator::AtMost)?;
    let value = parse_threshold(raw)
        .map_err(|e| GateError::Constraint(format!("invalid TTFT threshold: {e}")))?;
    Ok(Threshold {
        name: INFERENCE_TTFT_P99,
        raw: raw.to_string(),
        comparator: Comparator::AtMost,
        value,
    })
}

/// Upstream's `requireComparatorPrefix`: after trimming, the value must start with exactly `op`,
/// and what follows (after spaces) must not start with another operator character.
///
/// Inference-perf accepts a narrower operator set than AICR's general constraint contract, because
/// only the operator the evaluator honours may be written: `> 5000` would otherwise read as a
/// floor it is not.
pub fn require_comparator_prefix(name: &str, raw: &str, op: Comparator) -> Result<(), GateError> {
    let op = op.symbol();
    let v = raw.trim();
    let Some(rest) = v.strip_prefix(op) else {
        return Err(GateError::Constraint(format!(
            "{name} constraint must start with {op:?} (got {}); inference-perf uses a narrower \
             operator subset than the general contract — only the operator the evaluator \
             actually honors is accepted (for example \"{op} {example}\")",
            go_quote(raw),
            example = example_value(name),
        )));
    };
    let rest = rest.trim_start_matches(' ');
    if rest.starts_with(['>', '<', '=', '!']) {
        return Err(GateError::Constraint(format!(
            "{name} constraint must start with exactly {op:?} followed by a number (got {}): \
             extra operator characters after {op:?} (for example \"{op} {example}\")",
            go_quote(raw),
            example = example_value(name),
        )));
    }
    Ok(())
}

fn example_value(name: &str) -> &'static str {
    if name == INFERENCE_TTFT_P99 {
        "2000"
    } else {
        "50000"
    }
}

/// Upstream's `parseThreshold`: strip the leading operator characters and spaces, keep the text
/// before the first space (so `tok/s` or `ms` are ignored), and parse it as a number.
///
/// Deviation: the number must be finite and > 0 (upstream accepts `NaN`, `inf` and negatives, the
/// first of which passes any measurement).
pub fn parse_threshold(raw: &str) -> Result<f64, String> {
    let stripped = raw
        .trim()
        .trim_start_matches(['>', '<', '=', '!', ' '])
        .trim();
    let number = stripped.split(' ').next().unwrap_or("");
    if number.is_empty() {
        return Err(format!(
            "no numeric value found in {}; want an operator, a number and an optional unit, \
             such as \">= 50000\" or \"<= 2000 ms\"",
            go_quote(raw)
        ));
    }
    let value: f64 = number.parse().map_err(|_| {
        format!(
            "invalid threshold format: {} in {} is not a number; want a decimal such as 50000, \
             2000.5 or .5",
            go_quote(number),
            go_quote(raw)
        )
    })?;
    if !value.is_finite() || value <= 0.0 {
        return Err(format!(
            "threshold {} in {} must be a finite number > 0",
            go_quote(number),
            go_quote(raw)
        ));
    }
    Ok(value)
}

/// Upstream's `scaledThroughputThreshold`: on a partly free node the full-node floor is scaled by
/// the share of the node's GPUs that the run used. TTFT is never scaled.
///
/// Returns `threshold` unchanged when either count is 0 or the run used the whole node (or more).
pub fn scaled_throughput_threshold(threshold: f64, gpu_count: u32, gpus_per_node: u32) -> f64 {
    if gpus_per_node == 0 || gpu_count == 0 || gpu_count >= gpus_per_node {
        return threshold;
    }
    threshold * f64::from(gpu_count) / f64::from(gpus_per_node)
}

/// The lowest throughput that passes a (scaled) floor: 10 % below it.
pub fn throughput_pass_floor(scaled_floor: f64) -> f64 {
    scaled_floor * THROUGHPUT_TOLERANCE
}

/// The highest TTFT p99 that passes a ceiling: 10 % above it.
pub fn ttft_pass_ceiling(ceiling: f64) -> f64 {
    ceiling * TTFT_TOLERANCE
}

/// Upstream's `validateModelID`: a Hugging Face model ID, `^[A-Za-z0-9][A-Za-z0-9._/-]*$`.
///
/// The model ends up in argv, JSON bodies and Kubernetes objects, so nothing shell- or
/// YAML-special may pass.
pub fn validate_model_id(model: &str) -> Result<(), GateError> {
    let mut chars = model.chars();
    let first_ok = chars.next().is_some_and(|c| c.is_ascii_alphanumeric());
    let rest_ok = chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '/' | '-'));
    if first_ok && rest_ok {
        Ok(())
    } else {
        Err(GateError::Constraint(format!(
            "invalid inference model {}: must be a Hugging Face model ID (characters \
             [A-Za-z0-9._/-], starting with a letter or digit), such as Qwen/Qwen3-8B",
            go_quote(model)
        )))
    }
}

/// Parses a recipe `inference-concurrency-per-gpu` value (trimmed, a positive integer).
pub fn parse_concurrency_per_gpu(raw: &str) -> Result<u32, GateError> {
    parse_atoi_positive(raw.trim()).ok_or_else(|| {
        GateError::Constraint(format!(
            "invalid {INFERENCE_CONCURRENCY_PER_GPU} {}: must be a positive integer \
             (1..=4294967295), such as \"256\"",
            go_quote(raw)
        ))
    })
}

/// How requests reach the workers in a Dynamo deployment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum RoutingMode {
    /// The Dynamo frontend routes (default).
    DynamoRouter,
    /// A Gateway API inference extension endpoint picker routes.
    GatewayEpp,
}

impl RoutingMode {
    /// The recipe spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            RoutingMode::DynamoRouter => "dynamo-router",
            RoutingMode::GatewayEpp => "gateway-epp",
        }
    }

    /// Upstream's `resolveRoutingMode`: trimmed; blank means `dynamo-router`. `source` names where
    /// the value came from, for the error.
    pub fn parse(source: &str, raw: &str) -> Result<RoutingMode, GateError> {
        match raw.trim() {
            "" | "dynamo-router" => Ok(RoutingMode::DynamoRouter),
            "gateway-epp" => Ok(RoutingMode::GatewayEpp),
            _ => Err(GateError::Constraint(format!(
                "invalid {source} {}: must be one of dynamo-router, gateway-epp",
                go_quote(raw)
            ))),
        }
    }
}

/// Quotes a string the way Go's `%q` does for the characters that matter in messages: double
/// quotes, backslashes and control characters are escaped; other characters are kept.
pub fn go_quote(s: &str) -> String {
    use std::fmt::Write;
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\u{7}' => out.push_str("\\a"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{b}' => out.push_str("\\v"),
            c if (c as u32) < 0x20 || c == '\u{7f}' => {
                let _ = write!(out, "\\x{:02x}", c as u32);
            }
            c if c.is_control() || (c.is_whitespace() && c != ' ') => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg(r: Result<impl std::fmt::Debug, GateError>) -> String {
        r.expect_err("expected an error").to_string()
    }

    // §2.12 accepted forms, each its own case, with the parsed number.
    macro_rules! accepted {
        ($($name:ident: $parse:ident, $raw:expr => $want:expr;)*) => {$(
            #[test]
            fn $name() {
                let t = $parse($raw).unwrap();
                assert_eq!(t.value, $want);
                assert_eq!(t.raw, $raw, "raw value kept verbatim for the PASS line");
            }
        )*};
    }
    accepted! {
        accepts_ge_space_number: parse_throughput, ">= 5000" => 5000.0;
        accepts_ge_with_unit: parse_throughput, ">= 5000 tok/s" => 5000.0;
        accepts_ge_leading_whitespace: parse_throughput, "  >= 5000" => 5000.0;
        accepts_ge_no_space: parse_throughput, ">=5000" => 5000.0;
        accepts_ge_leading_dot: parse_throughput, ">=.5" => 0.5;
        accepts_le_space_number: parse_ttft_p99, "<= 200" => 200.0;
        accepts_le_with_unit: parse_ttft_p99, "<= 200 ms" => 200.0;
        accepts_le_decimal_no_space: parse_ttft_p99, "<=200.5" => 200.5;
        accepts_recipe_floor: parse_throughput, ">= 50000" => 50000.0;
        accepts_recipe_ceiling: parse_ttft_p99, "<= 2000" => 2000.0;
    }

    // §2.12 rejected forms, each its own case. The message must quote the value and say what
    // would have been valid.
    macro_rules! rejected {
        ($($name:ident: $parse:ident, $raw:expr, $needle:expr;)*) => {$(
            #[test]
            fn $name() {
                let m = msg($parse($raw));
                assert!(m.contains(&go_quote($raw)), "{m} should quote the value");
                assert!(m.contains($needle), "{m} should contain {:?}", $needle);
            }
        )*};
    }
    rejected! {
        rejects_gt: parse_throughput, "> 5000", "must start with \">=\"";
        rejects_eq_eq: parse_throughput, "== 5000", "must start with \">=\"";
        rejects_ne: parse_throughput, "!= 5000", "must start with \">=\"";
        rejects_bare_number: parse_throughput, "5000", "must start with \">=\"";
        rejects_inverted_for_throughput: parse_throughput, "<= 5000", "must start with \">=\"";
        rejects_ge_eq: parse_throughput, ">== 5000", "extra operator characters";
        rejects_ge_bang: parse_throughput, ">=! 5000", "extra operator characters";
        rejects_ge_lt: parse_throughput, ">=< 5000", "extra operator characters";
        rejects_ge_space_eq: parse_throughput, ">= =5000", "extra operator characters";
        rejects_ge_spaces_gt: parse_throughput, ">=  >5000", "extra operator characters";
        rejects_le_eq: parse_ttft_p99, "<== 200", "extra operator characters";
        rejects_le_gt: parse_ttft_p99, "<=> 200", "extra operator characters";
        rejects_le_spaces_bang: parse_ttft_p99, "<=   !200", "extra operator characters";
        rejects_le_space_lt: parse_ttft_p99, "<= <200", "extra operator characters";
        rejects_inverted_for_ttft: parse_ttft_p99, ">= 200", "must start with \"<=\"";
        rejects_lt_for_ttft: parse_ttft_p99, "< 200", "must start with \"<=\"";
        rejects_operator_only: parse_throughput, ">=", "no numeric value found";
        rejects_unit_only: parse_throughput, ">= tok/s", "invalid threshold format";
        rejects_words: parse_ttft_p99, "<= fast", "invalid threshold format";
        rejects_nan: parse_throughput, ">= NaN", "finite number > 0";
        rejects_infinity: parse_ttft_p99, "<= inf", "finite number > 0";
        rejects_negative: parse_throughput, ">= -5", "finite number > 0";
        rejects_zero: parse_ttft_p99, "<= 0", "finite number > 0";
        rejects_empty: parse_throughput, "", "must start with \">=\"";
    }

    #[test]
    fn comparator_error_suggests_a_valid_form() {
        assert!(msg(parse_throughput("> 5000")).contains("\">= 50000\""));
        assert!(msg(parse_ttft_p99(">= 200")).contains("\"<= 2000\""));
    }

    #[test]
    fn wrapped_errors_name_the_threshold() {
        assert!(msg(parse_throughput(">= x")).starts_with("invalid throughput threshold: "));
        assert!(msg(parse_ttft_p99("<= x")).starts_with("invalid TTFT threshold: "));
    }

    #[test]
    fn scaled_threshold_matches_upstream_examples() {
        for (count, per_node, want) in [
            (8, 8, 50000.0),
            (4, 8, 25000.0),
            (2, 8, 12500.0),
            (2, 0, 50000.0),
            (0, 8, 50000.0),
            (9, 8, 50000.0),
        ] {
            assert_eq!(
                scaled_throughput_threshold(50000.0, count, per_node),
                want,
                "{count}/{per_node}"
            );
        }
    }

    #[test]
    fn tolerance_bounds() {
        assert_eq!(throughput_pass_floor(50000.0), 45000.0);
        assert!((ttft_pass_ceiling(2000.0) - 2200.0).abs() < 1e-9);
    }

    #[test]
    fn model_ids_upstream_accepts() {
        for m in [
            "Qwen/Qwen3-8B",
            "meta-llama/Llama-3.1-70B-Instruct",
            "gpt2",
            "org_x/model.v2",
        ] {
            validate_model_id(m).unwrap();
        }
    }

    #[test]
    fn model_ids_upstream_rejects() {
        for m in ["$(touch x)", "a:b", "a\"b", "a b", "a\nb", "", "../etc"] {
            let e = msg(validate_model_id(m));
            assert!(e.contains(&go_quote(m)), "{e}");
            assert!(e.contains("[A-Za-z0-9._/-]"), "{e}");
        }
    }

    #[test]
    fn concurrency_per_gpu_recipe_values() {
        assert_eq!(parse_concurrency_per_gpu("256").unwrap(), 256);
        assert_eq!(
            parse_concurrency_per_gpu(" 256 ").unwrap(),
            256,
            "recipe is trimmed"
        );
        for bad in ["lots", "0", "-8", "1.5", "99999999999"] {
            let e = msg(parse_concurrency_per_gpu(bad));
            assert!(
                e.contains(&go_quote(bad)) && e.contains("positive integer"),
                "{e}"
            );
        }
    }

    #[test]
    fn routing_modes() {
        let src = INFERENCE_ROUTING_MODE;
        assert_eq!(
            RoutingMode::parse(src, "").unwrap(),
            RoutingMode::DynamoRouter
        );
        assert_eq!(
            RoutingMode::parse(src, "  ").unwrap(),
            RoutingMode::DynamoRouter
        );
        assert_eq!(
            RoutingMode::parse(src, "dynamo-router").unwrap(),
            RoutingMode::DynamoRouter
        );
        assert_eq!(
            RoutingMode::parse(src, "gateway-epp").unwrap(),
            RoutingMode::GatewayEpp
        );
        let e = msg(RoutingMode::parse(src, "load-only"));
        assert!(e.contains("\"load-only\"") && e.contains("dynamo-router, gateway-epp"));
    }

    #[test]
    fn go_quote_escapes_like_go() {
        assert_eq!(go_quote(">= 50000"), "\">= 50000\"");
        assert_eq!(go_quote("a\"b\\c\n\t\u{1}"), "\"a\\\"b\\\\c\\n\\t\\x01\"");
        assert_eq!(go_quote("→"), "\"→\"");
    }
}
