//! Behaviour a user of `infergate bench` relies on: reproducible request streams, exact prompt
//! lengths, the bodies sent, and the validation messages.

use crate::*;
use infergate_model::RequestSource;
use serde_json::{json, Value};
use std::sync::Arc;

fn spec(input: u32, output: Option<u32>) -> WorkloadSpec {
    let mut s = WorkloadSpec::new("test-model");
    s.input_tokens_mean = input;
    s.output_tokens_mean = output;
    s.num_dataset_entries = 20;
    s
}

fn build(s: WorkloadSpec) -> Workload {
    Workload::new(s, builtin_tokenizer()).expect("workload builds")
}

fn body_json(w: &Workload, i: u64) -> Value {
    serde_json::from_slice(&w.planned(i).body).expect("body is JSON")
}

/// Every entry's prompt re-encodes to exactly its recorded length.
fn assert_exact_lengths(w: &Workload) {
    let tok = w.tokenizer();
    for e in 0..w.entry_count() {
        let prompt = w.prompt(e).unwrap();
        let want = w.input_tokens(e).unwrap() as usize;
        assert_eq!(tok.encode(prompt).len(), want, "entry {e}: {prompt:?}");
        assert_eq!(tok.count_tokens(prompt) as usize, want, "entry {e} count");
    }
}

#[test]
fn same_seed_gives_the_same_digest_and_another_seed_does_not() {
    let a = build(spec(128, Some(128)));
    let b = build(spec(128, Some(128)));
    assert_eq!(a.digest(500), b.digest(500));
    assert_eq!(a.digest(500).len(), 64);
    let mut other = spec(128, Some(128));
    other.seed = 101;
    assert_ne!(a.digest(500), build(other).digest(500));
    assert_ne!(a.digest(500), a.digest(499));
}

#[test]
fn digest_is_sha256_over_length_prefixed_path_and_body() {
    use sha2::{Digest, Sha256};
    let w = build(spec(8, Some(4)));
    let mut h = Sha256::new();
    for i in 0..3 {
        let body = w.planned(i).body;
        h.update(20u64.to_le_bytes());
        h.update(b"/v1/chat/completions");
        h.update((body.len() as u64).to_le_bytes());
        h.update(&body);
    }
    assert_eq!(w.digest(3), hex::encode(h.finalize()));
}

#[test]
fn prompts_have_exactly_the_requested_length_with_the_builtin_tokenizer() {
    for mean in [1, 16, 128, 1000] {
        let w = build(spec(mean, None));
        assert_exact_lengths(&w);
        for e in 0..w.entry_count() {
            assert_eq!(w.input_tokens(e), Some(mean));
        }
    }
}

#[test]
fn sampled_prompt_lengths_vary_and_stay_exact() {
    let mut s = spec(128, None);
    s.input_tokens_stddev = 40.0;
    s.num_dataset_entries = 200;
    let w = build(s);
    assert_exact_lengths(&w);
    let lens: Vec<u32> = (0..200).map(|e| w.input_tokens(e).unwrap()).collect();
    let mean = lens.iter().map(|&l| f64::from(l)).sum::<f64>() / lens.len() as f64;
    assert!((mean - 128.0).abs() < 10.0, "mean {mean}");
    assert!(lens.iter().any(|&l| l < 100) && lens.iter().any(|&l| l > 156));

    let mut tiny = spec(1, None);
    tiny.input_tokens_stddev = 5.0;
    let w = build(tiny);
    assert_exact_lengths(&w);
    assert!((0..w.entry_count()).all(|e| w.input_tokens(e).unwrap() >= 1));
}

#[test]
fn planned_is_random_access_and_records_what_was_sent() {
    let mut s = spec(32, Some(64));
    s.output_tokens_stddev = 10.0;
    let w = build(s.clone());
    let fresh = build(s);
    // Planning 7 directly equals planning it after 0..7 on another instance.
    for i in 0..7 {
        let _ = w.planned(i);
    }
    assert_eq!(w.planned(7), fresh.planned(7));
    let p = w.planned(27);
    assert_eq!(p.index, 27);
    assert_eq!(p.entry, 7, "entry = index mod 20");
    assert_eq!(p.input_tokens, 32);
    let body: Value = serde_json::from_slice(&p.body).unwrap();
    assert_eq!(body["max_tokens"], json!(p.max_tokens));
    // Output lengths vary per request around the mean.
    let ks: Vec<u32> = (0..2000).map(|i| w.planned(i).max_tokens).collect();
    let mean = ks.iter().map(|&k| f64::from(k)).sum::<f64>() / ks.len() as f64;
    assert!((mean - 64.0).abs() < 1.5, "mean {mean}");
    assert!(ks.iter().all(|&k| k >= 1));
    assert!(ks.iter().any(|&k| k != ks[0]));
}

#[test]
fn fixed_output_length_bodies_are_shared_not_rebuilt() {
    let w = build(spec(16, Some(128)));
    let a = w.planned(3);
    let b = w.planned(23);
    assert!(Arc::ptr_eq(&a.body, &b.body));
    assert_eq!(a.max_tokens, 128);
}

#[test]
fn chat_body_is_canonical_and_complete() {
    let mut s = spec(4, Some(16));
    s.ignore_eos = true;
    s.extra_inputs.insert("temperature".into(), json!(0));
    let w = build(s);
    let p = w.planned(0);
    let prompt = w.prompt(0).unwrap();
    let want = format!(
        r#"{{"ignore_eos":true,"max_tokens":16,"messages":[{{"content":{},"role":"user"}}],"model":"test-model","stream":true,"stream_options":{{"include_usage":true}},"temperature":0}}"#,
        serde_json::to_string(prompt).unwrap()
    );
    assert_eq!(std::str::from_utf8(&p.body).unwrap(), want);
    assert_eq!(w.path(), "/v1/chat/completions");
    assert!(w.streaming());
}

#[test]
fn completions_body_carries_the_prompt_string() {
    let mut s = spec(8, None);
    s.endpoint = Endpoint::Completions;
    s.streaming = false;
    let w = build(s);
    let body = body_json(&w, 0);
    assert_eq!(w.path(), "/v1/completions");
    assert_eq!(body["prompt"], json!(w.prompt(0).unwrap()));
    assert_eq!(body["stream"], json!(false));
    assert!(body.get("messages").is_none());
    assert!(
        body.get("stream_options").is_none(),
        "usage options only when streaming"
    );
    assert!(
        body.get("max_tokens").is_none(),
        "no output length given → none sent"
    );
    assert_eq!(w.planned(0).max_tokens, 0);
    assert!(!w.streaming());
}

#[test]
fn extra_inputs_are_merged_and_override_defaults() {
    let mut s = spec(8, Some(32));
    s.max_tokens_field = MaxTokensField::MaxCompletionTokens;
    for arg in [
        "temperature:0",
        "top_p:0.5",
        "stop:END",
        "max_completion_tokens:7",
        "stream:false",
        "nvext:{\"greed\":true}",
    ] {
        let (k, v) = parse_extra_input(arg).unwrap();
        s.extra_inputs.insert(k, v);
    }
    let w = build(s);
    let body = body_json(&w, 0);
    assert_eq!(body["temperature"], json!(0));
    assert_eq!(body["top_p"], json!(0.5));
    assert_eq!(body["stop"], json!("END"));
    assert_eq!(body["max_completion_tokens"], json!(7));
    assert!(body.get("max_tokens").is_none());
    assert_eq!(body["nvext"], json!({"greed": true}));
    assert_eq!(body["stream"], json!(false));
    assert_eq!(
        w.planned(0).max_tokens,
        7,
        "the overriding value is what was asked for"
    );
    assert!(!w.streaming(), "streaming follows the body actually sent");
}

#[test]
fn extra_input_parsing_reads_json_else_text() {
    let cases = [
        ("temperature:0", json!(0)),
        ("ignore_eos:true", json!(true)),
        ("top_p:0.5", json!(0.5)),
        ("stop:\"x\"", json!("x")),
        ("stop:x", json!("x")),
        ("url:http://a:1", json!("http://a:1")),
        ("o:{\"a\":[1]}", json!({"a": [1]})),
        ("empty:", json!("")),
    ];
    for (arg, want) in cases {
        let (_, v) = parse_extra_input(arg).unwrap();
        assert_eq!(v, want, "{arg}");
    }
    assert_eq!(parse_extra_input(" k :1").unwrap().0, "k");
    for bad in ["novalue", ":1"] {
        let msg = parse_extra_input(bad).unwrap_err().to_string();
        assert!(msg.contains(bad) && msg.contains("key:value"), "{msg}");
    }
}

#[test]
fn validate_names_the_field_and_the_range() {
    let check = |s: WorkloadSpec, words: &[&str]| {
        let msg = s.validate().unwrap_err().to_string();
        for w in words {
            assert!(msg.contains(w), "{msg:?} lacks {w:?}");
        }
        assert!(Workload::new(s, builtin_tokenizer()).is_err());
    };
    let mut s = spec(8, None);
    s.num_dataset_entries = 0;
    check(
        s,
        &[
            "num_dataset_entries",
            "--num-dataset-entries",
            "1..=100000",
            "got 0",
        ],
    );
    check(
        spec(0, None),
        &[
            "input_tokens_mean",
            "--input-tokens-mean",
            "1..=1048576",
            "got 0",
        ],
    );
    let mut s = spec(8, None);
    s.input_tokens_stddev = -1.0;
    check(s, &["input_tokens_stddev", ">= 0", "got -1"]);
    let mut s = spec(8, Some(8));
    s.output_tokens_stddev = f64::NAN;
    check(
        s,
        &[
            "output_tokens_stddev",
            "--output-tokens-stddev",
            "finite",
            "got NaN",
        ],
    );
    check(spec(8, Some(0)), &["output_tokens_mean", "1..=", "got 0"]);
    check(WorkloadSpec::new(" "), &["model", "--model"]);
    assert!(spec(8, Some(8)).validate().is_ok());
}

#[test]
fn endpoint_names_parse_and_errors_list_the_choices() {
    assert_eq!("chat".parse::<Endpoint>().unwrap(), Endpoint::Chat);
    assert_eq!(
        "completions".parse::<Endpoint>().unwrap(),
        Endpoint::Completions
    );
    let msg = "embeddings".parse::<Endpoint>().unwrap_err().to_string();
    assert!(
        msg.contains("embeddings") && msg.contains("chat, completions"),
        "{msg}"
    );
    assert_eq!(Endpoint::Completions.to_string(), "completions");
}

#[test]
fn builtin_tokenizer_round_trips_and_counts_streamed_words_as_one_token() {
    let tok = builtin_tokenizer();
    assert_eq!(tok.name(), "builtin");
    let ids = tok.encode(CORPUS);
    assert_eq!(tok.decode(&ids), CORPUS);
    assert_eq!(tok.count_tokens(CORPUS) as usize, ids.len());
    // About one token per word, as an LLM tokenizer counts English prose.
    let words = CORPUS.split_whitespace().count();
    assert!(
        ids.len() > words && ids.len() < words * 2,
        "{} tokens for {words} words",
        ids.len()
    );
    let any = "naïve 😀 {\"json\": [1, 2]}\r\n\ttabs  and   spaces 12345";
    assert_eq!(tok.decode(&tok.encode(any)), any);
    // The simulator's contract: one " word" per SSE event is one token, known or not.
    for w in [
        " the",
        " quick",
        " brown",
        "The",
        " zyxwvutsrq",
        " simulated",
    ] {
        assert_eq!(tok.count_tokens(w), 1, "{w:?}");
    }
    assert_eq!(
        tok.count_tokens(" the quick brown fox jumps over the lazy dog"),
        9
    );
    assert_eq!(tok.count_tokens(""), 0);
    assert_eq!(tok.decode(&[u32::MAX]), "\u{FFFD}");
    assert!(tok.vocab_size() > 5_000);
    // Shared: one instance per process.
    assert!(Arc::ptr_eq(&tok, &builtin_tokenizer()));
}

/// A minimal WordLevel tokenizer.json: the first words of the corpus, whitespace pre-tokenizer,
/// and a truncation setting that loading must switch off.
fn tiny_tokenizer_json(dir: &std::path::Path) -> std::path::PathBuf {
    let mut vocab = serde_json::Map::new();
    vocab.insert("[UNK]".into(), json!(0));
    for w in CORPUS.split_whitespace().take(3000) {
        let next = vocab.len();
        vocab.entry(w.to_owned()).or_insert(json!(next));
    }
    let doc = json!({
        "version": "1.0",
        "truncation": {"direction": "Right", "max_length": 8, "strategy": "LongestFirst", "stride": 0},
        "padding": null,
        "added_tokens": [{"id": 0, "content": "[UNK]", "single_word": false, "lstrip": false,
                          "rstrip": false, "normalized": false, "special": true}],
        "normalizer": null,
        "pre_tokenizer": {"type": "Whitespace"},
        "post_processor": null,
        "decoder": null,
        "model": {"type": "WordLevel", "vocab": vocab, "unk_token": "[UNK]"}
    });
    let path = dir.join("tokenizer.json");
    std::fs::write(&path, serde_json::to_vec(&doc).unwrap()).unwrap();
    path
}

#[test]
fn hf_tokenizer_json_loads_and_gives_exact_prompts() {
    let dir = tempfile::tempdir().unwrap();
    let file = tiny_tokenizer_json(dir.path());
    let tok = load_tokenizer_json(&file).unwrap();
    assert_eq!(tok.encode("From fairest creatures").len(), 3);
    let twelve = "From fairest creatures we desire increase That thereby beautys rose might never";
    assert_eq!(
        tok.count_tokens(twelve),
        12,
        "the file's truncation (8) is off"
    );
    // A folder holding tokenizer.json works too.
    let tok_dir = load_tokenizer_json(dir.path()).unwrap();
    assert_eq!(tok_dir.vocab_size(), tok.vocab_size());

    for (mean, stddev) in [(1, 0.0), (16, 0.0), (128, 0.0), (64, 20.0)] {
        let mut s = spec(mean, Some(8));
        s.input_tokens_stddev = stddev;
        let w = Workload::new(s.clone(), tok.clone()).unwrap();
        assert_exact_lengths(&w);
        let again = Workload::new(s, load_tokenizer_json(&file).unwrap()).unwrap();
        assert_eq!(w.digest(50), again.digest(50));
    }
    // Another tokenizer cuts other prompts: the digest tells the runs apart.
    let builtin = build(spec(16, Some(8)));
    let hf = Workload::new(spec(16, Some(8)), tok).unwrap();
    assert_ne!(builtin.digest(10), hf.digest(10));
}

#[test]
fn bad_tokenizer_files_are_reported_with_their_path() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("nope.json");
    let msg = load_tokenizer_json(&missing).unwrap_err().to_string();
    assert!(
        msg.contains("nope.json") && msg.contains("no such file"),
        "{msg}"
    );
    let garbage = dir.path().join("tokenizer.json");
    std::fs::write(&garbage, b"{not json").unwrap();
    let msg = load_tokenizer_json(dir.path()).unwrap_err().to_string();
    assert!(
        msg.contains("tokenizer.json") && msg.starts_with("could not load tokenizer"),
        "{msg}"
    );
}

/// A byte-level BPE tokenizer.json (the GPT-2 / Llama 3 family: byte alphabet, merges, the
/// GPT-2 split regex with look-ahead, which needs the `fancy-regex` engine).
fn tiny_bpe_json(dir: &std::path::Path) -> std::path::PathBuf {
    // GPT-2's bytes_to_unicode: printable bytes map to themselves, the rest to U+0100 onwards.
    let mut printable: Vec<u32> = (0x21..=0x7e)
        .chain(0xa1..=0xac)
        .chain(0xae..=0xff)
        .collect();
    let mut chars = printable.clone();
    let mut next = 0;
    for b in 0..256 {
        if !printable.contains(&b) {
            printable.push(b);
            chars.push(256 + next);
            next += 1;
        }
    }
    let mut vocab = serde_json::Map::new();
    for c in &chars {
        let id = vocab.len();
        vocab.insert(char::from_u32(*c).unwrap().to_string(), json!(id));
    }
    let merges = [
        "Ġ t", "h e", "Ġt he", "Ġ a", "n d", "Ġa nd", "Ġ o", "Ġo f", "o u", "Ġ m", "Ġm y",
    ];
    for m in merges {
        let id = vocab.len();
        vocab.insert(m.replace(' ', ""), json!(id));
    }
    let byte_level = json!({"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": true, "use_regex": true});
    let doc = json!({
        "version": "1.0", "truncation": null, "padding": null, "added_tokens": [],
        "normalizer": null, "pre_tokenizer": byte_level, "post_processor": null,
        "decoder": byte_level,
        "model": {"type": "BPE", "dropout": null, "unk_token": null,
                  "continuing_subword_prefix": null, "end_of_word_suffix": null,
                  "fuse_unk": false, "byte_fallback": false, "ignore_merges": false,
                  "vocab": vocab, "merges": merges}
    });
    let path = dir.join("bpe.json");
    std::fs::write(&path, serde_json::to_vec(&doc).unwrap()).unwrap();
    path
}

#[test]
fn byte_level_bpe_tokenizer_json_gives_exact_prompts() {
    let dir = tempfile::tempdir().unwrap();
    let tok = load_tokenizer_json(&tiny_bpe_json(dir.path())).unwrap();
    // " the" is one merged token, "xyz" three bytes; decoding restores the text.
    assert_eq!(tok.encode(" the").len(), 1);
    assert_eq!(tok.encode("xyz").len(), 3);
    let text = "From fairest creatures\nwe desire  increase";
    assert_eq!(tok.decode(&tok.encode(text)), text);
    for (mean, stddev) in [(1, 0.0), (128, 0.0), (64, 30.0)] {
        let mut s = spec(mean, None);
        s.input_tokens_stddev = stddev;
        assert_exact_lengths(&Workload::new(s, tok.clone()).unwrap());
    }
}
