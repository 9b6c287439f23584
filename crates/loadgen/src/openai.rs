//! Reads one OpenAI-compatible response object: a streamed chunk (`chat.completion.chunk` or a
//! `text_completion` chunk) or a whole non-streamed body.
//!
//! Owns: which fields count as output, `finish_reason`, `usage`, and `error` objects. Must not:
//! do IO, keep state across events, or allocate. The parser walks the JSON with hand-written
//! serde visitors and appends output text straight into the caller's buffer (escaped or not), so
//! no intermediate structs or strings are built: on a typical token event this is several times
//! cheaper than deserialising into a borrowed struct, which spends its time moving the struct
//! through serde's layers.
//!
//! What counts as content (timed and tokenised): `choices[0].delta.content` and
//! `choices[0].message.content` (chat), `choices[0].text` (completions), and the reasoning text
//! of reasoning models, `reasoning_content` (vLLM, SGLang, DeepSeek) or `reasoning` (newer vLLM;
//! when both are present only the first non-empty one is taken). Reasoning counts because the
//! server generated and streamed those tokens: AIPerf adds reasoning tokens to the output
//! sequence length and times TTFT from the first response of either kind. Empty strings and
//! `null` are not content. Only the first choice is read (we always ask for `n = 1`); the rest
//! are skipped. Unknown fields are ignored; a known field of the wrong type is an error.

use infergate_model::Usage;
use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;
use std::fmt;

/// What one response object carried (its text was appended to the caller's buffer).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Parsed {
    /// Bytes of answer text appended (`content` or `text`).
    pub content_bytes: usize,
    /// Bytes of reasoning text appended.
    pub reasoning_bytes: usize,
    /// `choices[0].finish_reason` was set (the generation ended normally or at its length).
    pub finished: bool,
    /// The server's token counts, when the object carried `usage` with `completion_tokens`.
    pub usage: Option<Usage>,
}

impl Parsed {
    /// True when the object carried output (answer or reasoning): it is a content response.
    pub fn has_content(&self) -> bool {
        self.content_bytes > 0 || self.reasoning_bytes > 0
    }
}

/// The object was not what an OpenAI-compatible server sends, or reported an error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ParseError {
    /// Not valid JSON, or a field had the wrong type.
    Json(String),
    /// The object carried an `error` (its message).
    ServerError(String),
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ParseError::Json(e) => write!(f, "invalid response JSON: {e}"),
            ParseError::ServerError(m) => write!(f, "server error object: {m}"),
        }
    }
}

impl std::error::Error for ParseError {}

/// Parse one response object (a stream event's data, or a non-streamed body), appending its
/// output text (reasoning and answer, in the order they appear) to `text`. On error, `text` may
/// have received part of the object's text.
pub fn parse_into(data: &[u8], text: &mut String) -> Result<Parsed, ParseError> {
    let mut acc = Acc {
        text,
        out: Parsed::default(),
        error: false,
    };
    let mut de = serde_json::Deserializer::from_slice(data);
    Top(&mut acc)
        .deserialize(&mut de)
        .and_then(|()| de.end())
        .map_err(|e| ParseError::Json(e.to_string()))?;
    if acc.error {
        return Err(ParseError::ServerError(error_message(data)));
    }
    Ok(acc.out)
}

/// The message of an `error` object (cold path: the body is parsed again, generically).
fn error_message(data: &[u8]) -> String {
    let v: serde_json::Value = match serde_json::from_slice(data) {
        Ok(v) => v,
        Err(_) => return String::new(),
    };
    let e = &v["error"];
    let msg = e["message"].as_str().or_else(|| e.as_str());
    match msg {
        Some(m) => m.to_string(),
        None => e.to_string(),
    }
}

/// Accumulator shared by the visitors of one object.
struct Acc<'t> {
    text: &'t mut String,
    out: Parsed,
    error: bool,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Key {
    Choices,
    Usage,
    Error,
    Delta,
    Message,
    Text,
    FinishReason,
    Content,
    ReasoningContent,
    Reasoning,
    Other,
}

impl<'de> Deserialize<'de> for Key {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Key;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a field name")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Key, E> {
                Ok(match v {
                    "choices" => Key::Choices,
                    "usage" => Key::Usage,
                    "error" => Key::Error,
                    "delta" => Key::Delta,
                    "message" => Key::Message,
                    "text" => Key::Text,
                    "finish_reason" => Key::FinishReason,
                    "content" => Key::Content,
                    "reasoning_content" => Key::ReasoningContent,
                    "reasoning" => Key::Reasoning,
                    _ => Key::Other,
                })
            }
        }
        d.deserialize_identifier(V)
    }
}

/// The top-level object.
struct Top<'a, 't>(&'a mut Acc<'t>);

impl<'de> DeserializeSeed<'de> for Top<'_, '_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for Top<'_, '_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a response object")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while let Some(key) = map.next_key::<Key>()? {
            match key {
                Key::Choices => map.next_value_seed(Choices(&mut *self.0))?,
                Key::Usage => {
                    let usage: Option<WireUsage> = map.next_value()?;
                    if let Some(u) = usage.and_then(WireUsage::into_usage) {
                        self.0.out.usage = Some(u);
                    }
                }
                Key::Error => {
                    let e: Option<IgnoredAny> = map.next_value()?;
                    self.0.error |= e.is_some();
                }
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(())
    }
}

/// `choices`: `null` or an array whose first element is read.
struct Choices<'a, 't>(&'a mut Acc<'t>);

impl<'de> DeserializeSeed<'de> for Choices<'_, '_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Choices<'_, '_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an array of choices")
    }
    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        Ok(())
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        if seq.next_element_seed(Choice(&mut *self.0))?.is_some() {
            while seq.next_element::<IgnoredAny>()?.is_some() {}
        }
        Ok(())
    }
}

/// One choice object.
struct Choice<'a, 't>(&'a mut Acc<'t>);

impl<'de> DeserializeSeed<'de> for Choice<'_, '_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for Choice<'_, '_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a choice object")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while let Some(key) = map.next_key::<Key>()? {
            match key {
                Key::Delta | Key::Message => map.next_value_seed(Message(&mut *self.0))?,
                Key::Text => {
                    let n = map.next_value_seed(Append(&mut *self.0.text))?;
                    self.0.out.content_bytes += n;
                }
                Key::FinishReason => {
                    let f: Option<IgnoredAny> = map.next_value()?;
                    self.0.out.finished |= f.is_some();
                }
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(())
    }
}

/// `delta` / `message`: `null` or an object with `content` and reasoning.
struct Message<'a, 't>(&'a mut Acc<'t>);

impl<'de> DeserializeSeed<'de> for Message<'_, '_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Message<'_, '_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a message object")
    }
    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        Ok(())
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while let Some(key) = map.next_key::<Key>()? {
            match key {
                Key::Content => {
                    let n = map.next_value_seed(Append(&mut *self.0.text))?;
                    self.0.out.content_bytes += n;
                }
                Key::ReasoningContent | Key::Reasoning if self.0.out.reasoning_bytes == 0 => {
                    let n = map.next_value_seed(Append(&mut *self.0.text))?;
                    self.0.out.reasoning_bytes += n;
                }
                Key::ReasoningContent | Key::Reasoning => {
                    // The other spelling of text already taken: check the type, do not append.
                    map.next_value_seed(Append(&mut String::new()))?;
                }
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(())
    }
}

/// A string (appended; returns its length) or `null` (0).
struct Append<'a>(&'a mut String);

impl<'de> DeserializeSeed<'de> for Append<'_> {
    type Value = usize;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<usize, D::Error> {
        d.deserialize_any(self)
    }
}

impl Visitor<'_> for Append<'_> {
    type Value = usize;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a string or null")
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<usize, E> {
        self.0.push_str(v);
        Ok(v.len())
    }
    fn visit_unit<E: de::Error>(self) -> Result<usize, E> {
        Ok(0)
    }
}

#[derive(Deserialize)]
struct WireUsage {
    #[serde(default)]
    prompt_tokens: Option<u64>,
    #[serde(default)]
    completion_tokens: Option<u64>,
}

impl WireUsage {
    fn into_usage(self) -> Option<Usage> {
        let clamp = |n: u64| u32::try_from(n).unwrap_or(u32::MAX);
        Some(Usage {
            prompt_tokens: self.prompt_tokens.map(clamp).unwrap_or(0),
            completion_tokens: clamp(self.completion_tokens?),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(s: &str) -> (Parsed, String) {
        let mut text = String::new();
        let p = parse_into(s.as_bytes(), &mut text).unwrap();
        (p, text)
    }

    fn err(s: &[u8]) -> ParseError {
        parse_into(s, &mut String::new()).unwrap_err()
    }

    #[test]
    fn chat_delta_content() {
        let (p, t) = ok(
            r#"{"id":"x","object":"chat.completion.chunk","choices":[{"index":0,"delta":{"role":"assistant","content":"Hi"},"finish_reason":null,"logprobs":null}]}"#,
        );
        assert_eq!(t, "Hi");
        assert_eq!(p.content_bytes, 2);
        assert!(!p.finished);
        assert!(p.has_content());
    }

    #[test]
    fn text_accumulates_across_events() {
        let mut text = String::new();
        parse_into(br#"{"choices":[{"delta":{"content":"a"}}]}"#, &mut text).unwrap();
        parse_into(br#"{"choices":[{"delta":{"content":"b"}}]}"#, &mut text).unwrap();
        assert_eq!(text, "ab");
    }

    #[test]
    fn escaped_content_is_decoded() {
        let (p, t) = ok(r#"{"choices":[{"delta":{"content":"a\nb\u00e9\"\ud83d\ude00"}}]}"#);
        assert_eq!(t, "a\nbé\"😀");
        assert_eq!(p.content_bytes, t.len());
    }

    #[test]
    fn completions_text_and_finish_reason() {
        let (p, t) = ok(
            r#"{"object":"text_completion","choices":[{"text":" world","index":0,"finish_reason":"length"}]}"#,
        );
        assert_eq!(t, " world");
        assert!(p.finished && p.has_content());
    }

    #[test]
    fn usage_only_chunk_with_empty_choices_is_not_content() {
        let (p, t) = ok(
            r#"{"choices":[],"usage":{"prompt_tokens":12,"completion_tokens":34,"total_tokens":46}}"#,
        );
        assert!(!p.has_content() && t.is_empty());
        assert_eq!(
            p.usage,
            Some(Usage {
                prompt_tokens: 12,
                completion_tokens: 34
            })
        );
    }

    #[test]
    fn null_and_empty_content_are_not_content() {
        for s in [
            r#"{"choices":[{"delta":{"content":null}}],"usage":null}"#,
            r#"{"choices":[{"delta":{"content":""}}]}"#,
            r#"{"choices":[{"delta":{}}]}"#,
            r#"{"choices":[{"delta":null,"text":null}]}"#,
            r#"{"choices":null}"#,
            r#"{}"#,
        ] {
            assert!(!ok(s).0.has_content(), "{s}");
        }
    }

    #[test]
    fn reasoning_counts_as_content_once() {
        let (p, t) = ok(r#"{"choices":[{"delta":{"content":null,"reasoning_content":"hmm"}}]}"#);
        assert_eq!(
            (p.reasoning_bytes, p.content_bytes, t.as_str()),
            (3, 0, "hmm")
        );
        assert!(p.has_content());
        let (p, t) = ok(r#"{"choices":[{"delta":{"reasoning":"think"}}]}"#);
        assert_eq!((p.reasoning_bytes, t.as_str()), (5, "think"));
        // Both spellings at once (a vLLM transition): counted once, not an error.
        let (p, t) = ok(r#"{"choices":[{"delta":{"reasoning":"x","reasoning_content":"x"}}]}"#);
        assert_eq!((p.reasoning_bytes, t.as_str()), (1, "x"));
    }

    #[test]
    fn non_streamed_chat_body() {
        let (p, t) = ok(
            r#"{"choices":[{"message":{"role":"assistant","content":"Hello there"},"finish_reason":"stop"}],"usage":{"prompt_tokens":5,"completion_tokens":2}}"#,
        );
        assert_eq!(t, "Hello there");
        assert!(p.finished);
        assert_eq!(p.usage.map(|u| u.completion_tokens), Some(2));
    }

    #[test]
    fn only_the_first_choice_is_read() {
        let (_, t) =
            ok(r#"{"choices":[{"delta":{"content":"a"}},{"delta":{"content":"b"}},{"x":[1,2]}]}"#);
        assert_eq!(t, "a");
    }

    #[test]
    fn error_object_is_a_server_error_with_its_message() {
        let e =
            err(br#"{"error":{"message":"model overloaded","type":"server_error","code":503}}"#);
        assert_eq!(e, ParseError::ServerError("model overloaded".into()));
        assert_eq!(
            err(br#"{"error":"boom"}"#),
            ParseError::ServerError("boom".into())
        );
        assert!(parse_into(br#"{"error":null,"choices":[]}"#, &mut String::new()).is_ok());
    }

    #[test]
    fn malformed_json_is_an_error() {
        for bad in [
            &b"{\"choices\":[{"[..],
            b"not json",
            br#"{"choices":[{"delta":{"content":5}}]}"#,
            br#"{"choices":{"delta":{}}}"#,
            br#"{"choices":[{"delta":"x"}]}"#,
            br#"{"choices":[{"delta":{"reasoning":"a","reasoning_content":7}}]}"#,
            br#"{"choices":[]} trailing"#,
            br#"[1]"#,
            b"\xff\xfe",
        ] {
            assert!(
                matches!(err(bad), ParseError::Json(_)),
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
    }

    #[test]
    fn usage_without_completion_tokens_is_ignored() {
        assert_eq!(
            ok(r#"{"choices":[],"usage":{"prompt_tokens":3}}"#).0.usage,
            None
        );
    }

    #[test]
    fn escaped_keys_are_understood() {
        let (_, t) = ok(r#"{"choic\u0065s":[{"delta":{"cont\u0065nt":"k"}}]}"#);
        assert_eq!(t, "k");
    }
}
