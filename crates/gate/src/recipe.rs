//! AICR-shaped recipes (`kind: RecipeMetadata`): loading (built-in by name, or a file), following
//! `spec.base` to the recipes an overlay inherits from, and merging them into one [`Recipe`].
//!
//! Only the fields the gate reads are interpreted; everything else an AICR file carries
//! (criteria, deployment constraints, other validation phases, Helm details) is tolerated and
//! ignored. Merge rules, base first and overlay last:
//! - `componentRefs`: union by `name` (the first appearance keeps its position);
//! - `validation.performance.constraints`: by `name`, the overlay's value wins; a new name is
//!   appended;
//! - `validation.performance.checks`: the overlay's list replaces the base's when present
//!   (`checks: []` disables the phase);
//! - `spec.infergate.gpusPerNode` (infergate-only): the overlay's value wins when present.
//!
//! No IO other than reading the recipe file(s) named by the caller.

use crate::constraint::{go_quote, KNOWN_CONSTRAINTS};
use crate::error::GateError;
use serde::Serialize;
use serde_json::Value;
use std::path::{Path, PathBuf};

/// `apiVersion`s of `RecipeMetadata` that AICR has used, newest first.
pub const API_VERSIONS: [&str; 4] = [
    "aicr.run/v1beta1",
    "aicr.run/v1alpha2",
    "aicr.nvidia.com/v1alpha1",
    "eidos.nvidia.com/v1alpha1",
];

/// The only `kind` accepted.
pub const KIND: &str = "RecipeMetadata";

/// A recipe file larger than this is refused (AICR overlays are a few KiB).
pub const MAX_RECIPE_BYTES: u64 = 1 << 20;

/// `spec.base` chains longer than this are refused (they are a mistake or a cycle).
const MAX_BASE_DEPTH: usize = 8;

/// The recipes compiled into the binary, by name (the file stem under `recipes/`).
pub const BUILTIN: [(&str, &str); 11] = [
    ("base", include_str!("../../../recipes/base.yaml")),
    ("h100-eks", include_str!("../../../recipes/h100-eks.yaml")),
    ("h100-gke", include_str!("../../../recipes/h100-gke.yaml")),
    ("h100-aks", include_str!("../../../recipes/h100-aks.yaml")),
    (
        "rtx-pro-6000-eks",
        include_str!("../../../recipes/rtx-pro-6000-eks.yaml"),
    ),
    ("gb200-eks", include_str!("../../../recipes/gb200-eks.yaml")),
    ("gb200-gke", include_str!("../../../recipes/gb200-gke.yaml")),
    ("gb200-oke", include_str!("../../../recipes/gb200-oke.yaml")),
    ("b200-gke", include_str!("../../../recipes/b200-gke.yaml")),
    ("gb300-eks", include_str!("../../../recipes/gb300-eks.yaml")),
    ("gb300-gke", include_str!("../../../recipes/gb300-gke.yaml")),
];

/// The names accepted by `--recipe` without a path.
pub fn builtin_names() -> impl Iterator<Item = &'static str> {
    BUILTIN.iter().map(|(n, _)| *n)
}

fn builtin_text(name: &str) -> Option<&'static str> {
    BUILTIN.iter().find(|(n, _)| *n == name).map(|(_, t)| *t)
}

/// Where a recipe came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "kind", content = "at")]
pub enum RecipeOrigin {
    /// Compiled in, by name.
    Builtin(String),
    /// Read from a file.
    File(PathBuf),
    /// Given as text (tests, or a caller that read it elsewhere).
    Text(String),
}

impl std::fmt::Display for RecipeOrigin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RecipeOrigin::Builtin(n) => write!(f, "builtin:{n}"),
            RecipeOrigin::File(p) => write!(f, "{}", p.display()),
            RecipeOrigin::Text(n) => f.write_str(n),
        }
    }
}

/// One `{name, value}` pair of `validation.performance.constraints`; both are strings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Constraint {
    /// The constraint name, e.g. `inference-throughput`.
    pub name: String,
    /// The value as written (a YAML number or boolean is kept as its text).
    pub value: String,
}

/// A recipe with its bases merged in: what the gate reads.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Recipe {
    /// `metadata.name` of the overlay (or the file stem when it has none).
    pub name: String,
    /// Where the overlay came from.
    pub origin: RecipeOrigin,
    /// Names of the recipes merged in, root base first, this overlay last.
    pub chain: Vec<String>,
    /// `componentRefs[].name`, merged.
    pub component_refs: Vec<String>,
    /// `validation.performance.checks`; `None` when no layer declares it.
    pub performance_checks: Option<Vec<String>>,
    /// `validation.performance.constraints`, merged.
    pub constraints: Vec<Constraint>,
    /// `spec.infergate.gpusPerNode`: GPUs on one full node of this platform (infergate-only;
    /// AICR files do not have it).
    pub gpus_per_node: Option<u32>,
    /// Things worth telling the user that do not stop the run (an unresolved base, an unknown
    /// `inference-*` constraint name).
    pub warnings: Vec<String>,
}

impl Recipe {
    /// Loads `--recipe SPEC`: a built-in name (`h100-eks`), or a path to a YAML file.
    ///
    /// A SPEC containing `/` or ending in `.yaml`/`.yml` is always a path; otherwise a built-in
    /// name wins over a file of the same name in the working directory.
    pub fn load(spec: &str) -> Result<Recipe, GateError> {
        let looks_like_path = spec.contains('/')
            || spec.contains(std::path::MAIN_SEPARATOR)
            || spec.ends_with(".yaml")
            || spec.ends_with(".yml");
        if !looks_like_path {
            if let Some(r) = Recipe::builtin(spec) {
                return r;
            }
        }
        let path = Path::new(spec);
        if !looks_like_path && !path.is_file() {
            return Err(GateError::RecipeNotFound {
                spec: spec.to_string(),
                builtins: builtin_names().collect::<Vec<_>>().join(", "),
                reason: "no such file".to_string(),
            });
        }
        Recipe::from_file(path)
    }

    /// A built-in recipe by name; `None` when there is no such name.
    pub fn builtin(name: &str) -> Option<Result<Recipe, GateError>> {
        let text = builtin_text(name)?;
        Some(resolve(
            RecipeOrigin::Builtin(name.to_string()),
            name,
            text,
            &|base| builtin_text(base).map(|t| (RecipeOrigin::Builtin(base.to_string()), t.into())),
        ))
    }

    /// Reads a recipe file. Its `spec.base` is looked up as `<base>.yaml` (or `.yml`) next to the
    /// file, then among the built-ins; a base found in neither place is reported in
    /// [`Recipe::warnings`] and the overlay is used on its own.
    pub fn from_file(path: &Path) -> Result<Recipe, GateError> {
        let text = read_limited(path)?;
        let stem = path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        let dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
        let lookup = move |base: &str| -> Option<(RecipeOrigin, String)> {
            for ext in ["yaml", "yml"] {
                let p = dir.join(format!("{base}.{ext}"));
                if p.is_file() {
                    return Some((RecipeOrigin::File(p.clone()), read_limited(&p).ok()?));
                }
            }
            builtin_text(base).map(|t| (RecipeOrigin::Builtin(base.to_string()), t.into()))
        };
        resolve(
            RecipeOrigin::File(path.to_path_buf()),
            &stem,
            &text,
            &lookup,
        )
    }

    /// Parses recipe text; `spec.base` is resolved among the built-ins only. `source_name` is
    /// used in error messages.
    pub fn from_yaml(source_name: &str, text: &str) -> Result<Recipe, GateError> {
        resolve(
            RecipeOrigin::Text(source_name.to_string()),
            source_name,
            text,
            &|base| builtin_text(base).map(|t| (RecipeOrigin::Builtin(base.to_string()), t.into())),
        )
    }

    /// The value of the first constraint with exactly this name (upstream's lookup rule).
    pub fn constraint(&self, name: &str) -> Option<&str> {
        self.constraints
            .iter()
            .find(|c| c.name == name)
            .map(|c| c.value.as_str())
    }

    /// Whether `componentRefs` (merged) has an entry with this name.
    pub fn has_component(&self, name: &str) -> bool {
        self.component_refs.iter().any(|c| c == name)
    }
}

fn read_limited(path: &Path) -> Result<String, GateError> {
    let err = |reason: String| GateError::RecipeRead {
        path: path.display().to_string(),
        reason,
    };
    let meta = std::fs::metadata(path).map_err(|e| err(e.to_string()))?;
    if meta.len() > MAX_RECIPE_BYTES {
        return Err(err(format!(
            "{} bytes is larger than the {MAX_RECIPE_BYTES}-byte limit for a recipe",
            meta.len()
        )));
    }
    std::fs::read_to_string(path).map_err(|e| err(e.to_string()))
}

/// One parsed file, before merging.
struct Layer {
    origin: RecipeOrigin,
    name: String,
    base: Option<String>,
    component_refs: Vec<String>,
    checks: Option<Vec<String>>,
    constraints: Vec<Constraint>,
    gpus_per_node: Option<u32>,
}

type BaseLookup<'a> = &'a dyn Fn(&str) -> Option<(RecipeOrigin, String)>;

fn resolve(
    origin: RecipeOrigin,
    fallback_name: &str,
    text: &str,
    lookup: BaseLookup<'_>,
) -> Result<Recipe, GateError> {
    let leaf = parse_layer(origin.clone(), fallback_name, text)?;
    let mut warnings = Vec::new();
    let mut layers = vec![leaf];
    while let Some(base) = layers.last().and_then(|l| l.base.clone()) {
        let child = layers
            .last()
            .map(|l| l.origin.to_string())
            .unwrap_or_default();
        if layers.iter().any(|l| l.name == base) {
            return Err(invalid(
                &origin,
                format!("spec.base chain has a cycle: {base:?} is already in it"),
            ));
        }
        if layers.len() > MAX_BASE_DEPTH {
            return Err(invalid(
                &origin,
                format!("spec.base chain is deeper than {MAX_BASE_DEPTH} recipes"),
            ));
        }
        match lookup(&base) {
            Some((o, t)) => layers.push(parse_layer(o, &base, &t)?),
            None => {
                warnings.push(format!(
                    "{child}: base recipe {base:?} not found next to it or among the built-ins; \
                     using the overlay on its own"
                ));
                break;
            }
        }
    }
    layers.reverse();
    let mut merged = Recipe {
        name: String::new(),
        origin,
        chain: Vec::new(),
        component_refs: Vec::new(),
        performance_checks: None,
        constraints: Vec::new(),
        gpus_per_node: None,
        warnings,
    };
    for layer in layers {
        merged.name = layer.name.clone();
        merged.chain.push(layer.name);
        for c in layer.component_refs {
            if !merged.component_refs.contains(&c) {
                merged.component_refs.push(c);
            }
        }
        if layer.checks.is_some() {
            merged.performance_checks = layer.checks;
        }
        for c in layer.constraints {
            match merged.constraints.iter_mut().find(|m| m.name == c.name) {
                Some(existing) => existing.value = c.value,
                None => merged.constraints.push(c),
            }
        }
        if layer.gpus_per_node.is_some() {
            merged.gpus_per_node = layer.gpus_per_node;
        }
    }
    for c in &merged.constraints {
        if c.name.starts_with("inference-") && !KNOWN_CONSTRAINTS.contains(&c.name.as_str()) {
            merged.warnings.push(format!(
                "constraint {:?} is not one inference-perf reads (known: {}); it is ignored",
                c.name,
                KNOWN_CONSTRAINTS.join(", ")
            ));
        }
    }
    Ok(merged)
}

fn invalid(origin: &RecipeOrigin, problem: String) -> GateError {
    GateError::RecipeInvalid {
        source_name: origin.to_string(),
        problem,
    }
}

fn parse_layer(origin: RecipeOrigin, fallback_name: &str, text: &str) -> Result<Layer, GateError> {
    let doc: Value = serde_saphyr::from_str_with_options(text, yaml_options())
        .map_err(|e| invalid(&origin, format!("not valid YAML: {e}")))?;
    let bad = |problem: String| invalid(&origin, problem);
    let Value::Object(root) = &doc else {
        return Err(bad(format!(
            "the document must be a mapping with kind: {KIND}, found {}",
            kind_of(&doc)
        )));
    };
    match root.get("kind") {
        Some(Value::String(k)) if k == KIND => {}
        other => {
            return Err(bad(format!(
                "kind must be {KIND:?}, found {}",
                other.map_or("nothing".to_string(), show)
            )))
        }
    }
    match root.get("apiVersion") {
        Some(Value::String(v)) if API_VERSIONS.contains(&v.as_str()) => {}
        other => {
            return Err(bad(format!(
                "apiVersion must be one of {}, found {}",
                API_VERSIONS.join(", "),
                other.map_or("nothing".to_string(), show)
            )))
        }
    }
    let name = match root.get("metadata").and_then(|m| m.get("name")) {
        Some(Value::String(n)) if !n.trim().is_empty() => n.trim().to_string(),
        _ => fallback_name.to_string(),
    };
    let spec = match root.get("spec") {
        None | Some(Value::Null) => None,
        Some(Value::Object(s)) => Some(s),
        Some(other) => {
            return Err(bad(format!(
                "spec must be a mapping, found {}",
                show(other)
            )))
        }
    };
    let empty = serde_json::Map::new();
    let spec = spec.unwrap_or(&empty);

    let base = match spec.get("base") {
        None | Some(Value::Null) => None,
        Some(Value::String(b)) if b.trim().is_empty() => None,
        Some(Value::String(b)) => Some(b.trim().to_string()),
        Some(other) => {
            return Err(bad(format!(
                "spec.base must be a recipe name, found {}",
                show(other)
            )))
        }
    };

    let mut component_refs = Vec::new();
    for (i, item) in list(spec.get("componentRefs"), "spec.componentRefs").map_err(&bad)? {
        match item.get("name") {
            Some(Value::String(n)) if !n.trim().is_empty() => {
                component_refs.push(n.trim().to_string())
            }
            _ => {
                return Err(bad(format!(
                    "spec.componentRefs[{i}] must have a non-empty string name, found {}",
                    show(item)
                )))
            }
        }
    }

    let perf = spec.get("validation").and_then(|v| v.get("performance"));
    let perf = match perf {
        None | Some(Value::Null) => None,
        Some(p @ Value::Object(_)) => Some(p),
        Some(other) => {
            return Err(bad(format!(
                "spec.validation.performance must be a mapping, found {}",
                show(other)
            )))
        }
    };
    let mut checks = None;
    let mut constraints = Vec::new();
    if let Some(perf) = perf {
        let path = "spec.validation.performance.checks";
        if !matches!(perf.get("checks"), None | Some(Value::Null)) {
            let mut names = Vec::new();
            for (i, item) in list(perf.get("checks"), path).map_err(&bad)? {
                match item {
                    Value::String(s) => names.push(s.trim().to_string()),
                    other => {
                        return Err(bad(format!(
                            "{path}[{i}] must be a check name, found {}",
                            show(other)
                        )))
                    }
                }
            }
            checks = Some(names);
        }
        let path = "spec.validation.performance.constraints";
        for (i, item) in list(perf.get("constraints"), path).map_err(&bad)? {
            let name = match item.get("name") {
                Some(Value::String(n)) if !n.trim().is_empty() => n.trim().to_string(),
                _ => {
                    return Err(bad(format!(
                        "{path}[{i}] must have a non-empty string name, found {}",
                        show(item)
                    )))
                }
            };
            let value = match item.get("value") {
                None | Some(Value::Null) => String::new(),
                Some(Value::String(s)) => s.clone(),
                Some(v @ (Value::Number(_) | Value::Bool(_))) => v.to_string(),
                Some(other) => {
                    return Err(bad(format!(
                        "{path}[{i}] ({name}) value must be a string, found {}",
                        show(other)
                    )))
                }
            };
            constraints.push(Constraint { name, value });
        }
    }

    let gpus_per_node = match spec.get("infergate").and_then(|x| x.get("gpusPerNode")) {
        None | Some(Value::Null) => None,
        Some(v) => match v.as_u64().and_then(|n| u32::try_from(n).ok()) {
            Some(n) if n > 0 => Some(n),
            _ => {
                return Err(bad(format!(
                    "spec.infergate.gpusPerNode must be a positive integer such as 8, found {}",
                    show(v)
                )))
            }
        },
    };

    Ok(Layer {
        origin,
        name,
        base,
        component_refs,
        checks,
        constraints,
        gpus_per_node,
    })
}

/// YAML 1.2 scalars, closer to what AICR's Go decoder stores in its string fields: `y`, `yes`,
/// `on` stay strings (not booleans), and `0755` or `1_000` keep their spelling.
fn yaml_options() -> serde_saphyr::Options {
    let mut o = serde_saphyr::Options::default();
    o.strict_booleans = true;
    o.leading_zero_numbers_as_strings = true;
    o.underscored_numbers_as_strings = true;
    o
}

/// The items of an optional YAML sequence, with their indexes.
fn list<'a>(v: Option<&'a Value>, path: &str) -> Result<Vec<(usize, &'a Value)>, String> {
    match v {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Array(items)) => Ok(items.iter().enumerate().collect()),
        Some(other) => Err(format!("{path} must be a list, found {}", show(other))),
    }
}

fn kind_of(v: &Value) -> &'static str {
    match v {
        Value::Null => "an empty document",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "a mapping",
    }
}

/// A short rendering of a value for an error message.
fn show(v: &Value) -> String {
    match v {
        Value::String(s) => go_quote(s),
        Value::Array(_) | Value::Object(_) | Value::Null => kind_of(v).to_string(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::constraint::*;

    #[test]
    fn every_builtin_loads() {
        for name in builtin_names() {
            let r = Recipe::load(name).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!(r.name, name);
            assert!(r.warnings.is_empty(), "{name}: {:?}", r.warnings);
            assert!(r.has_component("dynamo-platform"), "{name} inherits dynamo");
        }
    }

    #[test]
    fn every_file_in_recipes_dir_is_builtin() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../recipes");
        let mut on_disk: Vec<String> = std::fs::read_dir(&dir)
            .unwrap()
            .filter_map(|e| {
                let p = e.ok()?.path();
                if p.extension()? != "yaml" {
                    return None;
                }
                Some(p.file_stem()?.to_string_lossy().into_owned())
            })
            .collect();
        on_disk.sort();
        let mut builtin: Vec<String> = builtin_names().map(String::from).collect();
        builtin.sort();
        assert_eq!(on_disk, builtin, "register new recipes in BUILTIN");
    }

    #[test]
    fn gated_builtins_carry_the_reference_values() {
        for name in [
            "h100-eks",
            "h100-gke",
            "h100-aks",
            "rtx-pro-6000-eks",
            "gb200-eks",
            "gb200-gke",
            "gb200-oke",
        ] {
            let r = Recipe::load(name).unwrap();
            assert_eq!(r.chain, vec!["base".to_string(), name.to_string()]);
            assert_eq!(
                r.constraint(INFERENCE_MODEL),
                Some("Qwen/Qwen3-8B"),
                "{name}"
            );
            assert_eq!(r.constraint(INFERENCE_CONCURRENCY_PER_GPU), Some("256"));
            assert_eq!(r.constraint(INFERENCE_ROUTING_MODE), Some("dynamo-router"));
            assert_eq!(r.constraint(INFERENCE_THROUGHPUT), Some(">= 50000"));
            assert_eq!(r.constraint(INFERENCE_TTFT_P99), Some("<= 2000"));
            assert_eq!(
                r.performance_checks.as_deref(),
                Some(&["inference-perf".to_string()][..])
            );
            let gpus = if name.starts_with("gb200") { 4 } else { 8 };
            assert_eq!(r.gpus_per_node, Some(gpus), "{name}");
        }
        let gke = Recipe::load("gb200-gke").unwrap();
        assert_eq!(
            gke.constraint(INFERENCE_MODEL_CACHE_STORAGE_CLASS),
            Some("a4x-compatible")
        );
    }

    #[test]
    fn ungated_builtins_have_no_thresholds() {
        for name in ["b200-gke", "gb300-eks", "gb300-gke"] {
            let r = Recipe::load(name).unwrap();
            assert_eq!(r.constraint(INFERENCE_THROUGHPUT), None, "{name}");
            assert_eq!(r.constraint(INFERENCE_TTFT_P99), None, "{name}");
        }
    }

    const BASE: &str = "kind: RecipeMetadata\napiVersion: aicr.run/v1beta1\nmetadata: {name: b}\n";

    fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
        let p = dir.join(name);
        std::fs::write(&p, text).unwrap();
        p
    }

    #[test]
    fn overlay_merge_rules() {
        let dir = tempfile::tempdir().unwrap();
        write(
            dir.path(),
            "b.yaml",
            &format!(
                "{BASE}spec:\n  componentRefs: [{{name: a}}, {{name: dynamo-platform}}]\n  \
                 validation:\n    performance:\n      checks: [inference-perf]\n      \
                 constraints:\n        - {{name: inference-throughput, value: '>= 1'}}\n        \
                 - {{name: inference-model, value: m1}}\n  infergate: {{gpusPerNode: 8}}\n"
            ),
        );
        let leaf = write(
            dir.path(),
            "leaf.yaml",
            "kind: RecipeMetadata\napiVersion: aicr.run/v1beta1\nmetadata: {name: leaf}\n\
             spec:\n  base: b\n  componentRefs: [{name: c}, {name: a, type: Helm}]\n  \
             validation:\n    performance:\n      constraints:\n        \
             - {name: inference-model, value: m2}\n        - {name: inference-ttft-p99, value: '<= 5'}\n",
        );
        let r = Recipe::from_file(&leaf).unwrap();
        assert_eq!(r.chain, ["b", "leaf"]);
        assert_eq!(r.component_refs, ["a", "dynamo-platform", "c"]);
        assert_eq!(r.constraint(INFERENCE_MODEL), Some("m2"), "overlay wins");
        assert_eq!(
            r.constraint(INFERENCE_THROUGHPUT),
            Some(">= 1"),
            "base kept"
        );
        assert_eq!(
            r.constraint(INFERENCE_TTFT_P99),
            Some("<= 5"),
            "new appended"
        );
        assert_eq!(
            r.constraints
                .iter()
                .map(|c| c.name.as_str())
                .collect::<Vec<_>>(),
            [INFERENCE_THROUGHPUT, INFERENCE_MODEL, INFERENCE_TTFT_P99]
        );
        assert_eq!(r.performance_checks, Some(vec!["inference-perf".into()]));
        assert_eq!(r.gpus_per_node, Some(8));
    }

    #[test]
    fn empty_checks_in_overlay_replace_base_checks() {
        let r = Recipe::from_yaml(
            "t",
            "kind: RecipeMetadata\napiVersion: aicr.run/v1beta1\nspec:\n  base: h100-eks\n  \
             validation:\n    performance:\n      checks: []\n",
        )
        .unwrap();
        assert_eq!(r.performance_checks, Some(vec![]));
        assert_eq!(r.constraint(INFERENCE_THROUGHPUT), Some(">= 50000"));
    }

    #[test]
    fn missing_base_is_a_warning_not_an_error() {
        let r = Recipe::from_yaml(
            "t",
            "kind: RecipeMetadata\napiVersion: aicr.run/v1beta1\nspec:\n  base: nowhere\n",
        )
        .unwrap();
        assert_eq!(r.warnings.len(), 1);
        assert!(r.warnings[0].contains("\"nowhere\""), "{:?}", r.warnings);
    }

    #[test]
    fn base_cycle_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let head = "kind: RecipeMetadata\napiVersion: aicr.run/v1beta1\n";
        write(
            dir.path(),
            "x.yaml",
            &format!("{head}metadata: {{name: x}}\nspec: {{base: y}}\n"),
        );
        let y = write(
            dir.path(),
            "y.yaml",
            &format!("{head}metadata: {{name: y}}\nspec: {{base: x}}\n"),
        );
        let e = Recipe::from_file(&y).unwrap_err().to_string();
        assert!(e.contains("cycle"), "{e}");
    }

    #[test]
    fn yaml_1_1_booleans_stay_strings() {
        let r = Recipe::from_yaml(
            "t",
            "kind: RecipeMetadata\napiVersion: aicr.run/v1beta1\nspec:\n  base: y\n  validation:\n    \
             performance:\n      constraints:\n        - {name: inference-model, value: yes}\n        \
             - {name: inference-concurrency-per-gpu, value: 0256}\n",
        )
        .unwrap();
        assert_eq!(r.constraint(INFERENCE_MODEL), Some("yes"));
        assert_eq!(r.constraint(INFERENCE_CONCURRENCY_PER_GPU), Some("0256"));
        assert!(r.warnings[0].contains("\"y\""), "{:?}", r.warnings);
    }

    #[test]
    fn numeric_yaml_values_are_kept_as_text() {
        let r = Recipe::from_yaml(
            "t",
            "kind: RecipeMetadata\napiVersion: aicr.run/v1beta1\nspec:\n  validation:\n    \
             performance:\n      constraints:\n        - name: inference-concurrency-per-gpu\n          \
             value: 256\n",
        )
        .unwrap();
        assert_eq!(r.constraint(INFERENCE_CONCURRENCY_PER_GPU), Some("256"));
    }

    #[test]
    fn unknown_inference_constraint_warns() {
        let r = Recipe::from_yaml(
            "t",
            "kind: RecipeMetadata\napiVersion: aicr.run/v1beta1\nspec:\n  validation:\n    \
             performance:\n      constraints:\n        - {name: inference-throughtput, value: '>= 1'}\n        \
             - {name: nccl-bandwidth, value: '>= 1'}\n",
        )
        .unwrap();
        assert_eq!(r.warnings.len(), 1, "{:?}", r.warnings);
        assert!(r.warnings[0].contains("inference-throughtput"));
    }

    #[test]
    fn shape_errors_name_the_source_and_the_problem() {
        let cases = [
            ("just text", "must be a mapping"),
            ("kind: Recipe\napiVersion: aicr.run/v1beta1\n", "kind must be \"RecipeMetadata\""),
            ("kind: RecipeMetadata\napiVersion: v9\n", "apiVersion must be one of aicr.run/v1beta1"),
            ("kind: RecipeMetadata\napiVersion: aicr.run/v1beta1\nspec: [1]\n", "spec must be a mapping"),
            (
                "kind: RecipeMetadata\napiVersion: aicr.run/v1beta1\nspec:\n  componentRefs: [{type: Helm}]\n",
                "spec.componentRefs[0] must have a non-empty string name",
            ),
            (
                "kind: RecipeMetadata\napiVersion: aicr.run/v1beta1\nspec:\n  validation:\n    performance:\n      constraints: {a: b}\n",
                "spec.validation.performance.constraints must be a list",
            ),
            (
                "kind: RecipeMetadata\napiVersion: aicr.run/v1beta1\nspec:\n  validation:\n    performance:\n      constraints:\n        - name: inference-model\n          value: [a]\n",
                "(inference-model) value must be a string",
            ),
            (
                "kind: RecipeMetadata\napiVersion: aicr.run/v1beta1\nspec:\n  infergate: {gpusPerNode: 0}\n",
                "gpusPerNode must be a positive integer",
            ),
            ("kind: [unclosed\n", "not valid YAML"),
        ];
        for (text, needle) in cases {
            let e = Recipe::from_yaml("my.yaml", text).unwrap_err().to_string();
            assert!(e.starts_with("recipe my.yaml: "), "{e}");
            assert!(e.contains(needle), "{e} should contain {needle}");
        }
    }

    #[test]
    fn load_reports_unknown_names_with_the_builtins() {
        let e = Recipe::load("h100-eksx").unwrap_err().to_string();
        assert!(
            e.contains("\"h100-eksx\"") && e.contains("h100-eks, h100-gke"),
            "{e}"
        );
        let e = Recipe::load("/nonexistent/r.yaml").unwrap_err().to_string();
        assert!(e.contains("/nonexistent/r.yaml"), "{e}");
    }

    #[test]
    fn oversized_file_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let p = write(
            dir.path(),
            "big.yaml",
            &"#".repeat((MAX_RECIPE_BYTES + 1) as usize),
        );
        let e = Recipe::from_file(&p).unwrap_err().to_string();
        assert!(e.contains("limit"), "{e}");
    }
}
