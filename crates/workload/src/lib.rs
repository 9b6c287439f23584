//! Deterministic workload generation: (options, seed) → the exact bytes of every request a run
//! sends, and when it sends them.
//!
//! Owns: the bundled public-domain corpus, the built-in tokenizer (and loading an HF
//! `tokenizer.json`), synthetic prompts of an exact token length, request bodies for the OpenAI
//! chat and completions endpoints, the SHA-256 digest of the request stream, and open-loop arrival
//! offsets. Pure: no IO beyond reading a tokenizer file the caller names, no async, no HTTP.
