//! Synthetic prompts of an exact token length, cut from the tokenized corpus.
//!
//! The algorithm is AIPerf's / vLLM's (`gen_prompt_decode_to_target_len`): take a window of `n`
//! corpus tokens at a seeded offset (wrapping at the end), then repeat up to
//! [`MAX_ATTEMPTS`] times: decode to text, re-encode; equal to `n` → done; longer → keep the
//! first `n` re-encoded ids; shorter → append the next corpus tokens after the window (AIPerf
//! appends random vocabulary ids instead; continuing the text keeps prompts readable and avoids
//! special tokens). The length of the returned text is verified by re-encoding it.

use crate::tokenizer::Tokenizer;

/// Decode/re-encode rounds before giving up (vLLM and AIPerf use 10).
pub(crate) const MAX_ATTEMPTS: u32 = 10;

/// The corpus as token ids, read as an endless ring.
pub(crate) struct CorpusTokens {
    ids: Vec<u32>,
}

impl CorpusTokens {
    /// `None` when the tokenizer turns the corpus into no tokens.
    pub(crate) fn new(tokenizer: &dyn Tokenizer, corpus: &str) -> Option<Self> {
        let ids = tokenizer.encode(corpus);
        (!ids.is_empty()).then_some(CorpusTokens { ids })
    }

    pub(crate) fn len(&self) -> usize {
        self.ids.len()
    }

    /// Appends `count` ids starting at ring position `from`.
    fn extend(&self, out: &mut Vec<u32>, from: usize, count: usize) {
        let len = self.ids.len();
        let mut pos = from % len;
        let mut left = count;
        while left > 0 {
            let take = left.min(len - pos);
            out.extend_from_slice(&self.ids[pos..pos + take]);
            left -= take;
            pos = 0;
        }
    }
}

/// Why an exact-length prompt could not be made: the length the last round reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct LengthMiss {
    pub(crate) got: usize,
}

/// A prompt of exactly `n` tokens under `tokenizer`, starting at corpus token `offset`.
pub(crate) fn exact_prompt(
    tokenizer: &dyn Tokenizer,
    corpus: &CorpusTokens,
    offset: usize,
    n: usize,
) -> Result<String, LengthMiss> {
    let mut ids = Vec::with_capacity(n + 16);
    corpus.extend(&mut ids, offset, n);
    let mut cursor = offset + n;
    let mut got = 0;
    for _ in 0..MAX_ATTEMPTS {
        let text = tokenizer.decode(&ids);
        let mut again = tokenizer.encode(&text);
        got = again.len();
        match got.cmp(&n) {
            std::cmp::Ordering::Equal => return Ok(text),
            std::cmp::Ordering::Greater => again.truncate(n),
            std::cmp::Ordering::Less => {
                let missing = n - got;
                corpus.extend(&mut again, cursor, missing);
                cursor += missing;
            }
        }
        ids = again;
    }
    Err(LengthMiss { got })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tokenizer::builtin_tokenizer;

    #[test]
    fn windows_whose_joins_merge_are_repaired_to_the_exact_length() {
        let tok = builtin_tokenizer();
        // "the" + "re" decode to "there", one token: the first round comes out short and is
        // topped up; "xq" pieces spell unknown words, which re-encode longer and are cut.
        let mut ids = Vec::new();
        for piece in ["the", "re", " of", "xq", "zz", " my", "\n", " love"] {
            ids.extend(tok.encode(piece));
        }
        let corpus = CorpusTokens { ids };
        for n in 1..=12 {
            for offset in 0..corpus.len() {
                let text = exact_prompt(&*tok, &corpus, offset, n).expect("exact length reached");
                assert_eq!(tok.encode(&text).len(), n, "offset {offset}: {text:?}");
            }
        }
    }

    #[test]
    fn an_impossible_length_is_reported_not_returned() {
        // A tokenizer whose every text is one token can never give a 2-token prompt.
        struct OneToken;
        impl infergate_model::TokenCounter for OneToken {
            fn count_tokens(&self, _: &str) -> u32 {
                1
            }
        }
        impl Tokenizer for OneToken {
            fn name(&self) -> &str {
                "one"
            }
            fn encode(&self, _: &str) -> Vec<u32> {
                vec![0]
            }
            fn decode(&self, _: &[u32]) -> String {
                "x".into()
            }
            fn vocab_size(&self) -> u32 {
                1
            }
        }
        let corpus = CorpusTokens { ids: vec![0, 0, 0] };
        assert_eq!(
            exact_prompt(&OneToken, &corpus, 0, 2),
            Err(LengthMiss { got: 1 })
        );
    }
}
