//! The request stream: a dataset of exact-length prompts built once, then request `i` planned
//! from `(seed, i)` alone.

use crate::body::{write_object, Template};
use crate::corpus::CORPUS;
use crate::prompt::{exact_prompt, CorpusTokens};
use crate::rng::{positive_normal_integer, SplitMix64};
use crate::tokenizer::Tokenizer;
use crate::{Endpoint, WorkloadError, WorkloadSpec, MAX_SEQUENCE_TOKENS};
use infergate_model::{PlannedRequest, RequestSource};
use serde_json::{json, Map, Value};
use sha2::{Digest, Sha256};
use std::sync::Arc;

/// Purpose labels of the child random streams (part of the determinism contract: renaming one
/// changes every digest).
const PURPOSE_INPUT_TOKENS: &str = "dataset.input_tokens";
const PURPOSE_OFFSET: &str = "dataset.offset";
const PURPOSE_OUTPUT_TOKENS: &str = "request.output_tokens";

/// The body of one dataset entry: the same bytes for every request, or a template whose
/// `max_tokens` is filled per request (output stddev > 0).
#[derive(Debug)]
enum Body {
    Fixed(Arc<[u8]>),
    PerRequest(Template),
}

#[derive(Debug)]
struct Entry {
    prompt: Box<str>,
    input_tokens: u32,
    body: Body,
}

/// A deterministic request stream: the same spec and tokenizer give byte-identical requests.
///
/// Entry selection: request `i` uses dataset entry `i mod num_dataset_entries` (sequential, so
/// every entry is used equally and warmup requests take the first entries). Output length:
/// request `i` asks for `round(Normal(mean, stddev))` clipped to ≥ 1, drawn from its own child
/// stream `(seed, "request.output_tokens", i)`.
pub struct Workload {
    spec: WorkloadSpec,
    tokenizer: Arc<dyn Tokenizer>,
    entries: Vec<Entry>,
    streaming: bool,
    /// `max_tokens` of every fixed body (0 when none is sent).
    fixed_max_tokens: u32,
}

impl std::fmt::Debug for Workload {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Workload")
            .field("spec", &self.spec)
            .field("tokenizer", &self.tokenizer.name())
            .field("entries", &self.entries.len())
            .finish()
    }
}

impl Workload {
    /// Validates the spec and builds every dataset entry (each prompt of exactly its sampled
    /// length under `tokenizer`, verified).
    pub fn new(
        spec: WorkloadSpec,
        tokenizer: Arc<dyn Tokenizer>,
    ) -> Result<Workload, WorkloadError> {
        spec.validate()?;
        let corpus =
            CorpusTokens::new(&*tokenizer, CORPUS).ok_or_else(|| WorkloadError::EmptyCorpus {
                tokenizer: tokenizer.name().to_owned(),
            })?;

        let field = spec.max_tokens_field.key();
        let overridden = spec.extra_inputs.get(field);
        // Which value `max_tokens` takes, and whether it varies per request.
        let (fixed_max_tokens, per_request) = match (overridden, spec.output_tokens_mean) {
            (Some(v), _) => (
                v.as_u64().map_or(0, |n| n.min(u64::from(u32::MAX)) as u32),
                false,
            ),
            (None, Some(_)) if spec.output_tokens_stddev > 0.0 => (0, true),
            (None, Some(mean)) => (mean, false),
            (None, None) => (0, false),
        };

        let mut entries = Vec::with_capacity(spec.num_dataset_entries as usize);
        let mut streaming = spec.streaming;
        for e in 0..spec.num_dataset_entries {
            let index = u64::from(e);
            let n = positive_normal_integer(
                &mut SplitMix64::derive(spec.seed, PURPOSE_INPUT_TOKENS, index),
                spec.input_tokens_mean,
                spec.input_tokens_stddev,
                MAX_SEQUENCE_TOKENS,
            );
            let offset =
                SplitMix64::derive(spec.seed, PURPOSE_OFFSET, index).below(corpus.len() as u64);
            let prompt = exact_prompt(&*tokenizer, &corpus, offset as usize, n as usize).map_err(
                |miss| WorkloadError::PromptLength {
                    entry: e,
                    target: n,
                    got: miss.got,
                    tokenizer: tokenizer.name().to_owned(),
                },
            )?;

            let map = body_object(&spec, &prompt, fixed_max_tokens);
            streaming = map.get("stream").and_then(Value::as_bool).unwrap_or(false);
            let mut bytes = Vec::with_capacity(prompt.len() + 256);
            let hole = write_object(&mut bytes, &map, per_request.then_some(field));
            let body = match hole {
                Some(at) => Body::PerRequest(Template {
                    prefix: bytes[..at].into(),
                    suffix: bytes[at..].into(),
                }),
                None => Body::Fixed(bytes.into()),
            };
            entries.push(Entry {
                prompt: prompt.into(),
                input_tokens: n,
                body,
            });
        }
        Ok(Workload {
            spec,
            tokenizer,
            entries,
            streaming,
            fixed_max_tokens,
        })
    }

    /// The spec this workload was built from.
    pub fn spec(&self) -> &WorkloadSpec {
        &self.spec
    }

    /// The tokenizer prompts were measured with (use it to count output tokens).
    pub fn tokenizer(&self) -> &Arc<dyn Tokenizer> {
        &self.tokenizer
    }

    /// Number of dataset entries (prompts).
    pub fn entry_count(&self) -> u32 {
        self.entries.len() as u32
    }

    /// The dataset entry request `index` uses (`index mod entry_count`).
    pub fn entry_of(&self, index: u64) -> u32 {
        (index % self.entries.len() as u64) as u32
    }

    /// The prompt text of dataset entry `entry`.
    pub fn prompt(&self, entry: u32) -> Option<&str> {
        self.entries.get(entry as usize).map(|e| &*e.prompt)
    }

    /// The prompt length in tokens of dataset entry `entry`.
    pub fn input_tokens(&self, entry: u32) -> Option<u32> {
        self.entries.get(entry as usize).map(|e| e.input_tokens)
    }

    /// The output length request `index` asks for (0 when no `max_tokens` is sent).
    pub fn output_tokens(&self, index: u64) -> u32 {
        match (
            &self.entries[self.entry_of(index) as usize].body,
            self.spec.output_tokens_mean,
        ) {
            (Body::PerRequest(_), Some(mean)) => positive_normal_integer(
                &mut SplitMix64::derive(self.spec.seed, PURPOSE_OUTPUT_TOKENS, index),
                mean,
                self.spec.output_tokens_stddev,
                MAX_SEQUENCE_TOKENS,
            ),
            _ => self.fixed_max_tokens,
        }
    }

    /// SHA-256 (lowercase hex) of requests `0..count`: for each, in order, the path's length as
    /// a little-endian u64, the path bytes, the body's length as a little-endian u64, the body
    /// bytes. Equal digests mean byte-identical request streams.
    pub fn digest(&self, count: u64) -> String {
        let mut h = Sha256::new();
        let path = self.path().as_bytes();
        for i in 0..count {
            let body = self.planned(i).body;
            h.update((path.len() as u64).to_le_bytes());
            h.update(path);
            h.update((body.len() as u64).to_le_bytes());
            h.update(&body);
        }
        hex::encode(h.finalize())
    }
}

/// The body of one entry as a JSON object: the defaults, then every extra input replacing or
/// adding its top-level key (a shallow merge: an object value replaces the whole default).
fn body_object(spec: &WorkloadSpec, prompt: &str, max_tokens: u32) -> Map<String, Value> {
    let mut map = Map::new();
    map.insert("model".into(), Value::String(spec.model.clone()));
    match spec.endpoint {
        Endpoint::Chat => {
            map.insert(
                "messages".into(),
                json!([{"role": "user", "content": prompt}]),
            );
        }
        Endpoint::Completions => {
            map.insert("prompt".into(), Value::String(prompt.to_owned()));
        }
    }
    map.insert("stream".into(), Value::Bool(spec.streaming));
    if spec.streaming && spec.include_usage {
        map.insert("stream_options".into(), json!({"include_usage": true}));
    }
    if spec.output_tokens_mean.is_some() {
        // With a per-request length this value is replaced by the template hole.
        map.insert(spec.max_tokens_field.key().into(), Value::from(max_tokens));
    }
    if spec.ignore_eos {
        map.insert("ignore_eos".into(), Value::Bool(true));
    }
    for (k, v) in &spec.extra_inputs {
        map.insert(k.clone(), v.clone());
    }
    map
}

impl RequestSource for Workload {
    fn path(&self) -> &str {
        self.spec.endpoint.path()
    }

    fn streaming(&self) -> bool {
        self.streaming
    }

    fn planned(&self, index: u64) -> PlannedRequest {
        let entry = self.entry_of(index);
        let e = &self.entries[entry as usize];
        let (body, max_tokens) = match &e.body {
            Body::Fixed(bytes) => (bytes.clone(), self.fixed_max_tokens),
            Body::PerRequest(t) => {
                let k = self.output_tokens(index);
                (Arc::from(t.render(k)), k)
            }
        };
        PlannedRequest {
            index,
            entry,
            input_tokens: e.input_tokens,
            max_tokens,
            body,
        }
    }
}
