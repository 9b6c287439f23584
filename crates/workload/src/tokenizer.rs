//! Tokenizers: the trait the workload measures prompts with, the built-in tokenizer that ships
//! inside the binary, and HF `tokenizer.json` files loaded through the `tokenizers` crate.

use crate::corpus::CORPUS;
use crate::pretokenize::{pieces, PieceKind};
use crate::WorkloadError;
use infergate_model::TokenCounter;
use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, OnceLock};

/// A tokenizer the workload can build exact-length prompts with.
///
/// `encode` never adds special tokens (BOS/EOS, chat template): prompts are measured as the
/// text the client sends. [`TokenCounter::count_tokens`] counts output text the same way.
pub trait Tokenizer: TokenCounter + Send + Sync {
    /// A short name for reports (`builtin` or the file it was loaded from).
    fn name(&self) -> &str;
    /// Token ids of `text`, without special tokens.
    fn encode(&self, text: &str) -> Vec<u32>;
    /// The text of `ids` (unknown ids and invalid UTF-8 become U+FFFD, never a panic).
    fn decode(&self, ids: &[u32]) -> String;
    /// Number of ids in the vocabulary.
    fn vocab_size(&self) -> u32;
}

impl std::fmt::Debug for dyn Tokenizer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tokenizer")
            .field("name", &self.name())
            .field("vocab_size", &self.vocab_size())
            .finish()
    }
}

/// The name [`builtin_tokenizer`] reports.
pub const BUILTIN_TOKENIZER_NAME: &str = "builtin";

/// Ids 0..=255 are the raw bytes; vocabulary pieces follow.
const BYTE_TOKENS: u32 = 256;

/// The built-in tokenizer: pre-tokenize (see `pretokenize.rs`), then one token per piece that is
/// in the vocabulary, else one token per UTF-8 byte of the piece. The vocabulary is every piece
/// of the bundled corpus plus, for every corpus word, its form with and without a leading space,
/// the numbers 0–999 with and without a leading space, and every ASCII punctuation character
/// after a space. `decode(encode(x)) == x` for every string `x`.
///
/// Counting ([`TokenCounter::count_tokens`]) follows the same rule with one difference: a word
/// piece (optional space + letters) always counts as one token, even when it is not in the
/// vocabulary, because servers (and `infergate sim`) stream one word per event and count it as
/// one token. So `count_tokens(x) == encode(x).len()` whenever every word of `x` is in the
/// vocabulary — always true of corpus text and of every prompt.
#[derive(Debug)]
pub struct BuiltinTokenizer {
    ids: HashMap<Box<[u8]>, u32>,
    pieces: Vec<Box<[u8]>>,
}

impl BuiltinTokenizer {
    fn build() -> Self {
        let mut counts: HashMap<&str, u64> = HashMap::new();
        for (piece, _) in pieces(CORPUS) {
            *counts.entry(piece).or_insert(0) += 1;
        }
        // Corpus pieces by frequency (ties by bytes) so common words get small ids, like a
        // trained vocabulary; the order is fixed by the corpus alone.
        let mut corpus_pieces: Vec<(&str, u64)> = counts.iter().map(|(p, c)| (*p, *c)).collect();
        corpus_pieces.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(b.0)));

        let mut extras: Vec<String> = Vec::new();
        for (piece, _) in &corpus_pieces {
            if let Some(word) = piece.strip_prefix(' ') {
                if word.chars().all(char::is_alphabetic) {
                    extras.push(word.to_owned());
                }
            } else if piece.chars().all(char::is_alphabetic) {
                extras.push(format!(" {piece}"));
            }
        }
        for n in 0..1000 {
            extras.push(n.to_string());
            extras.push(format!(" {n}"));
        }
        for b in 0x21u8..0x7f {
            let c = char::from(b);
            if c.is_ascii_punctuation() {
                extras.push(format!(" {c}"));
            }
        }
        extras.sort();

        let mut tok = BuiltinTokenizer {
            ids: HashMap::new(),
            pieces: Vec::new(),
        };
        for b in 0..BYTE_TOKENS {
            tok.insert(&[b as u8]);
        }
        for (piece, _) in corpus_pieces {
            tok.insert(piece.as_bytes());
        }
        for piece in &extras {
            tok.insert(piece.as_bytes());
        }
        tok
    }

    fn insert(&mut self, piece: &[u8]) {
        if !self.ids.contains_key(piece) {
            let id = self.pieces.len() as u32;
            self.ids.insert(piece.into(), id);
            self.pieces.push(piece.into());
        }
    }

    fn id(&self, piece: &str) -> Option<u32> {
        self.ids.get(piece.as_bytes()).copied()
    }
}

impl TokenCounter for BuiltinTokenizer {
    fn count_tokens(&self, text: &str) -> u32 {
        let mut n: u64 = 0;
        for (piece, kind) in pieces(text) {
            n += if kind == PieceKind::Word || self.id(piece).is_some() {
                1
            } else {
                piece.len() as u64
            };
        }
        n.min(u64::from(u32::MAX)) as u32
    }
}

impl Tokenizer for BuiltinTokenizer {
    fn name(&self) -> &str {
        BUILTIN_TOKENIZER_NAME
    }

    fn encode(&self, text: &str) -> Vec<u32> {
        let mut out = Vec::with_capacity(text.len() / 4 + 1);
        for (piece, _) in pieces(text) {
            match self.id(piece) {
                Some(id) => out.push(id),
                None => out.extend(piece.bytes().map(u32::from)),
            }
        }
        out
    }

    fn decode(&self, ids: &[u32]) -> String {
        let mut bytes = Vec::with_capacity(ids.len() * 5);
        for &id in ids {
            match self.pieces.get(id as usize) {
                Some(p) => bytes.extend_from_slice(p),
                None => bytes.extend_from_slice("\u{FFFD}".as_bytes()),
            }
        }
        match String::from_utf8(bytes) {
            Ok(s) => s,
            Err(e) => String::from_utf8_lossy(e.as_bytes()).into_owned(),
        }
    }

    fn vocab_size(&self) -> u32 {
        self.pieces.len() as u32
    }
}

/// The tokenizer that ships inside the binary (built once per process from the bundled corpus,
/// then shared).
pub fn builtin_tokenizer() -> Arc<dyn Tokenizer> {
    static BUILTIN: OnceLock<Arc<BuiltinTokenizer>> = OnceLock::new();
    BUILTIN
        .get_or_init(|| Arc::new(BuiltinTokenizer::build()))
        .clone()
}

/// A Hugging Face tokenizer loaded from a `tokenizer.json`.
pub struct HfTokenizer {
    inner: tokenizers::Tokenizer,
    name: String,
}

impl std::fmt::Debug for HfTokenizer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HfTokenizer")
            .field("name", &self.name)
            .finish()
    }
}

impl TokenCounter for HfTokenizer {
    fn count_tokens(&self, text: &str) -> u32 {
        self.encode(text).len().min(u32::MAX as usize) as u32
    }
}

impl Tokenizer for HfTokenizer {
    fn name(&self) -> &str {
        &self.name
    }

    fn encode(&self, text: &str) -> Vec<u32> {
        // An error here means the tokenizer cannot represent the text; an empty encoding makes
        // the prompt builder report a length mismatch naming this tokenizer.
        self.inner
            .encode_fast(text, false)
            .map(|e| e.get_ids().to_vec())
            .unwrap_or_default()
    }

    fn decode(&self, ids: &[u32]) -> String {
        self.inner.decode(ids, false).unwrap_or_default()
    }

    fn vocab_size(&self) -> u32 {
        self.inner.get_vocab_size(true).min(u32::MAX as usize) as u32
    }
}

/// Loads an HF `tokenizer.json` (BPE, WordPiece, WordLevel or Unigram). `path` may be the file
/// or a folder containing `tokenizer.json` (the layout of a model repository). Truncation and
/// padding settings in the file are switched off: prompts are measured whole.
pub fn load_tokenizer_json(path: &Path) -> Result<Arc<dyn Tokenizer>, WorkloadError> {
    let file = if path.is_dir() {
        path.join("tokenizer.json")
    } else {
        path.to_path_buf()
    };
    let err = |reason: String| WorkloadError::TokenizerLoad {
        path: file.display().to_string(),
        reason,
    };
    if !file.is_file() {
        return Err(err(
            "no such file (expected a tokenizer.json, or a folder that contains one)".into(),
        ));
    }
    let mut inner = tokenizers::Tokenizer::from_file(&file).map_err(|e| err(e.to_string()))?;
    inner.with_padding(None);
    inner
        .with_truncation(None)
        .map_err(|e| err(e.to_string()))?;
    if inner.get_vocab_size(true) == 0 {
        return Err(err("the vocabulary is empty".into()));
    }
    Ok(Arc::new(HfTokenizer {
        inner,
        name: path.display().to_string(),
    }))
}
