//! Deterministic workload generation: (options, seed) → the exact bytes of every request a run
//! sends, and when it sends them.
//!
//! Owns: the bundled public-domain corpus, the built-in tokenizer (and loading an HF
//! `tokenizer.json`), synthetic prompts of an exact token length, request bodies for the OpenAI
//! chat and completions endpoints, the SHA-256 digest of the request stream, and open-loop arrival
//! offsets. Pure: no IO beyond reading a tokenizer file the caller names, no async, no HTTP.
//! Must not: read clocks, touch the network, hold API keys (they are headers, added by the load
//! generator, never part of a body), or depend on a random-number crate (its own SplitMix64 keeps
//! every digest stable across dependency bumps). The algorithms are documented in
//! `docs/workload.md`.

#![deny(missing_docs)]

mod arrivals;
mod body;
mod corpus;
mod pretokenize;
mod prompt;
mod rng;
mod tokenizer;
mod workload;

#[cfg(test)]
mod tests;

pub use arrivals::{arrival_offsets, validate_request_rate, MAX_REQUEST_RATE};
pub use corpus::CORPUS;
pub use tokenizer::{
    builtin_tokenizer, load_tokenizer_json, BuiltinTokenizer, HfTokenizer, Tokenizer,
    BUILTIN_TOKENIZER_NAME,
};
pub use workload::Workload;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::fmt;
use std::str::FromStr;

/// Longest prompt or output length accepted or sampled, in tokens (2^20).
pub const MAX_SEQUENCE_TOKENS: u32 = 1 << 20;
/// Most dataset entries accepted (each is a prompt held in memory).
pub const MAX_DATASET_ENTRIES: u32 = 100_000;

/// Errors of this crate. Every message names the bad value and what would have been accepted.
#[derive(Debug, thiserror::Error)]
pub enum WorkloadError {
    /// A workload option is out of range.
    #[error("{field} ({flag}) must be {expected}, got {value}")]
    InvalidSpec {
        /// The `WorkloadSpec` field.
        field: &'static str,
        /// The command-line flag that sets it.
        flag: &'static str,
        /// The valid range or choices, in words.
        expected: String,
        /// The value given.
        value: String,
    },
    /// An `--extra-inputs` argument is not `key:value`.
    #[error("invalid --extra-inputs {input:?}: expected key:value with a non-empty key, where value is JSON (0, true, 0.5, \"text\", {{...}}) or plain text; {reason}")]
    ExtraInput {
        /// The argument as given.
        input: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// An endpoint name that is not one of the choices.
    #[error("unknown endpoint {value:?}: expected one of chat, completions")]
    UnknownEndpoint {
        /// The name given.
        value: String,
    },
    /// A tokenizer file could not be loaded.
    #[error("could not load tokenizer {path}: {reason}")]
    TokenizerLoad {
        /// The file tried.
        path: String,
        /// Why it failed.
        reason: String,
    },
    /// The tokenizer encoded the bundled corpus to nothing.
    #[error("tokenizer {tokenizer} turned the bundled corpus into no tokens; use a tokenizer for English text")]
    EmptyCorpus {
        /// The tokenizer's name.
        tokenizer: String,
    },
    /// No text of exactly the target length was found for a dataset entry.
    #[error("could not make a prompt of exactly {target} tokens for dataset entry {entry} with tokenizer {tokenizer} (the closest text re-encoded to {got} tokens after 10 decode/re-encode rounds); try another --random-seed or tokenizer")]
    PromptLength {
        /// The dataset entry.
        entry: u32,
        /// The sampled length.
        target: u32,
        /// The length the last round re-encoded to.
        got: usize,
        /// The tokenizer's name.
        tokenizer: String,
    },
}

/// The OpenAI-compatible endpoint requests go to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Endpoint {
    /// `/v1/chat/completions`: the prompt is one user message.
    Chat,
    /// `/v1/completions`: the prompt is the `prompt` string.
    Completions,
}

impl Endpoint {
    /// The URL path.
    pub fn path(self) -> &'static str {
        match self {
            Endpoint::Chat => "/v1/chat/completions",
            Endpoint::Completions => "/v1/completions",
        }
    }

    /// The name used on the command line (`chat`, `completions`).
    pub fn name(self) -> &'static str {
        match self {
            Endpoint::Chat => "chat",
            Endpoint::Completions => "completions",
        }
    }
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Endpoint {
    type Err = WorkloadError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "chat" => Ok(Endpoint::Chat),
            "completions" => Ok(Endpoint::Completions),
            _ => Err(WorkloadError::UnknownEndpoint {
                value: s.to_owned(),
            }),
        }
    }
}

/// Which body field carries the output length.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MaxTokensField {
    /// `max_tokens` (every OpenAI-compatible server).
    MaxTokens,
    /// `max_completion_tokens` (the newer OpenAI chat name).
    MaxCompletionTokens,
}

impl MaxTokensField {
    /// The JSON key.
    pub fn key(self) -> &'static str {
        match self {
            MaxTokensField::MaxTokens => "max_tokens",
            MaxTokensField::MaxCompletionTokens => "max_completion_tokens",
        }
    }
}

/// Everything that decides the request stream. Two equal specs (and the same tokenizer) give
/// byte-identical requests.
#[derive(Debug, Clone, PartialEq)]
pub struct WorkloadSpec {
    /// The `model` field of every body.
    pub model: String,
    /// Chat or completions.
    pub endpoint: Endpoint,
    /// Ask for an SSE stream (`"stream": true`).
    pub streaming: bool,
    /// Seed of every random choice (lengths, corpus offsets).
    pub seed: u64,
    /// Mean prompt length in tokens.
    pub input_tokens_mean: u32,
    /// Standard deviation of the prompt length (0: every prompt is exactly the mean).
    pub input_tokens_stddev: f64,
    /// Mean output length sent as `max_tokens`; `None`: no length is sent.
    pub output_tokens_mean: Option<u32>,
    /// Standard deviation of the output length (0: every request asks for the mean).
    pub output_tokens_stddev: f64,
    /// Number of distinct prompts; request `i` uses entry `i mod num_dataset_entries`.
    pub num_dataset_entries: u32,
    /// Which field carries the output length.
    pub max_tokens_field: MaxTokensField,
    /// Top-level fields merged into every body last (they override the defaults).
    pub extra_inputs: Map<String, Value>,
    /// Send `"ignore_eos": true` (vLLM/SGLang/TRT-LLM: generate exactly `max_tokens`).
    pub ignore_eos: bool,
    /// When streaming, send `"stream_options": {"include_usage": true}` so the server reports
    /// token counts.
    pub include_usage: bool,
}

impl WorkloadSpec {
    /// A spec with AIPerf's defaults: chat, streaming, seed 100, 550 ± 0 input tokens, no output
    /// length, 100 entries, `max_tokens`, usage requested, no extra inputs.
    pub fn new(model: impl Into<String>) -> Self {
        WorkloadSpec {
            model: model.into(),
            endpoint: Endpoint::Chat,
            streaming: true,
            seed: 100,
            input_tokens_mean: 550,
            input_tokens_stddev: 0.0,
            output_tokens_mean: None,
            output_tokens_stddev: 0.0,
            num_dataset_entries: 100,
            max_tokens_field: MaxTokensField::MaxTokens,
            extra_inputs: Map::new(),
            ignore_eos: false,
            include_usage: true,
        }
    }

    /// Checks every field; the error names the field, its flag and the valid range.
    pub fn validate(&self) -> Result<(), WorkloadError> {
        fn bad(
            field: &'static str,
            flag: &'static str,
            expected: String,
            value: impl ToString,
        ) -> WorkloadError {
            WorkloadError::InvalidSpec {
                field,
                flag,
                expected,
                value: value.to_string(),
            }
        }
        let tokens = format!("an integer in 1..={MAX_SEQUENCE_TOKENS}");
        let stddev = "a finite number >= 0".to_owned();
        if self.model.trim().is_empty() {
            return Err(bad(
                "model",
                "--model",
                "a non-empty model name".into(),
                format!("{:?}", self.model),
            ));
        }
        if !(1..=MAX_SEQUENCE_TOKENS).contains(&self.input_tokens_mean) {
            return Err(bad(
                "input_tokens_mean",
                "--input-tokens-mean",
                tokens,
                self.input_tokens_mean,
            ));
        }
        if !(self.input_tokens_stddev.is_finite() && self.input_tokens_stddev >= 0.0) {
            return Err(bad(
                "input_tokens_stddev",
                "--input-tokens-stddev",
                stddev,
                self.input_tokens_stddev,
            ));
        }
        if let Some(mean) = self.output_tokens_mean {
            if !(1..=MAX_SEQUENCE_TOKENS).contains(&mean) {
                return Err(bad(
                    "output_tokens_mean",
                    "--output-tokens-mean",
                    tokens,
                    mean,
                ));
            }
        }
        if !(self.output_tokens_stddev.is_finite() && self.output_tokens_stddev >= 0.0) {
            return Err(bad(
                "output_tokens_stddev",
                "--output-tokens-stddev",
                stddev,
                self.output_tokens_stddev,
            ));
        }
        if !(1..=MAX_DATASET_ENTRIES).contains(&self.num_dataset_entries) {
            return Err(bad(
                "num_dataset_entries",
                "--num-dataset-entries",
                format!("an integer in 1..={MAX_DATASET_ENTRIES}"),
                self.num_dataset_entries,
            ));
        }
        if self.extra_inputs.keys().any(|k| k.is_empty()) {
            return Err(bad(
                "extra_inputs",
                "--extra-inputs",
                "key:value with a non-empty key".into(),
                "an empty key",
            ));
        }
        Ok(())
    }
}

/// Parses one `--extra-inputs key:value` argument. The key is everything before the first `:`;
/// the value is parsed as JSON when it is valid JSON (`0`, `true`, `0.5`, `"x"`, `{"a":1}`,
/// `null`), else kept as plain text (`stop:END` → `"END"`).
pub fn parse_extra_input(s: &str) -> Result<(String, Value), WorkloadError> {
    let err = |reason| WorkloadError::ExtraInput {
        input: s.to_owned(),
        reason,
    };
    let (key, raw) = s.split_once(':').ok_or_else(|| err("there is no ':'"))?;
    let key = key.trim();
    if key.is_empty() {
        return Err(err("the key is empty"));
    }
    let value =
        serde_json::from_str::<Value>(raw).unwrap_or_else(|_| Value::String(raw.to_owned()));
    Ok((key.to_owned(), value))
}
