//! The built-in tokenizer's pre-tokenization rule: how text splits into pieces before any
//! vocabulary lookup. A simplified GPT-2 rule (`' ?\p{L}+| ?\p{N}{1,3}| ?[^\s\p{L}\p{N}]+|\s+`
//! where a whitespace run gives its last space to the piece after it), written by hand so it
//! allocates nothing and cannot change with a regex-engine bump.

/// What kind of piece a pre-token is; decides how an out-of-vocabulary piece is counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PieceKind {
    /// An optional leading space and a run of letters (`" the"`, `"From"`).
    Word,
    /// An optional leading space and one to three digits.
    Number,
    /// An optional leading space and a run of characters that are neither letters, digits nor
    /// whitespace.
    Punct,
    /// A run of whitespace (minus a final space that belongs to the next piece).
    Space,
}

/// Longest digit group in one number piece (as Llama 3 / GPT-4 style tokenizers do).
const MAX_DIGITS: usize = 3;

fn class(c: char) -> PieceKind {
    if c.is_alphabetic() {
        PieceKind::Word
    } else if c.is_numeric() {
        PieceKind::Number
    } else if c.is_whitespace() {
        PieceKind::Space
    } else {
        PieceKind::Punct
    }
}

/// Iterator over the pieces of a text, as `(piece, kind)`. Pieces concatenate back to the text.
pub(crate) struct Pieces<'a> {
    text: &'a str,
    pos: usize,
}

pub(crate) fn pieces(text: &str) -> Pieces<'_> {
    Pieces { text, pos: 0 }
}

/// End (byte offset) of the run of `kind` characters that starts at `from`.
fn run_end(text: &str, from: usize, kind: PieceKind) -> usize {
    let mut end = from;
    let mut digits = 0;
    for c in text[from..].chars() {
        if class(c) != kind {
            break;
        }
        if kind == PieceKind::Number {
            if digits == MAX_DIGITS {
                break;
            }
            digits += 1;
        }
        end += c.len_utf8();
    }
    end
}

impl<'a> Iterator for Pieces<'a> {
    type Item = (&'a str, PieceKind);

    fn next(&mut self) -> Option<Self::Item> {
        let text = self.text;
        let start = self.pos;
        let mut chars = text[start..].chars();
        let first = chars.next()?;
        let second = chars.next();
        let (end, kind) = match (first, second.map(class)) {
            // A single space followed by a non-space joins that piece.
            (' ', Some(k)) if k != PieceKind::Space => (run_end(text, start + 1, k), k),
            _ => {
                let k = class(first);
                let mut end = run_end(text, start, k);
                if k == PieceKind::Space
                    && end < text.len()
                    && end - start > 1
                    && text[..end].ends_with(' ')
                {
                    // "  the" → "  " would swallow the space that belongs to " the".
                    end -= 1;
                }
                (end, k)
            }
        };
        self.pos = end;
        Some((&text[start..end], kind))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split(s: &str) -> Vec<&str> {
        pieces(s).map(|(p, _)| p).collect()
    }

    #[test]
    fn words_take_their_leading_space() {
        assert_eq!(
            split("From fairest creatures"),
            ["From", " fairest", " creatures"]
        );
        assert_eq!(split(" the quick"), [" the", " quick"]);
    }

    #[test]
    fn whitespace_runs_leave_the_last_space_to_the_next_word() {
        assert_eq!(split("a   b"), ["a", "  ", " b"]);
        assert_eq!(split("a\n b"), ["a", "\n", " b"]);
        assert_eq!(split("a\nb"), ["a", "\n", "b"]);
        assert_eq!(split("a  "), ["a", "  "]);
    }

    #[test]
    fn numbers_group_by_three_and_punctuation_runs_stay_together() {
        assert_eq!(
            split("in 12345 ways..."),
            ["in", " 123", "45", " ways", "..."]
        );
        assert_eq!(split("Hi, there!?"), ["Hi", ",", " there", "!?"]);
        assert_eq!(split("naïve café"), ["naïve", " café"]);
    }

    #[test]
    fn pieces_concatenate_back_to_the_text() {
        let s = "  Mixed\t\tinput 42!! with\n\n  spaces é ";
        assert_eq!(split(s).concat(), s);
    }
}
