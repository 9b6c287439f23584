//! The bundled prompt corpus: public-domain Shakespeare (The Sonnets and the opening of All's
//! Well That Ends Well), as AIPerf ships it, with punctuation already stripped. Provenance and
//! checksum: `assets/README.md`. Frozen: changing one byte changes every request-stream digest.

/// The corpus text (ASCII, one verse or speaker line per line, ends with a newline).
pub const CORPUS: &str = include_str!("../assets/shakespeare.txt");
