//! Reads one OpenAI-compatible response object: a streamed chunk (`chat.completion.chunk` or a
//! `text_completion` chunk) or a whole non-streamed body.
//!
//! Owns: which fields count as output, `finish_reason`, `usage`, and `error` objects. Must not:
//! do IO, keep state across events, or allocate for text the server sent without JSON escapes
//! (strings are borrowed from the event bytes; only escaped strings are copied).
//!
//! What counts as content (timed and tokenised): `choices[0].delta.content` and
//! `choices[0].message.content` (chat), `choices[0].text` (completions), and the reasoning text
//! of reasoning models, `reasoning_content` (vLLM, SGLang, DeepSeek) or `reasoning` (newer vLLM).
//! Reasoning counts because the server generated and streamed those tokens: AIPerf adds reasoning
//! tokens to the output sequence length and times TTFT from the first response of either kind.
//! Empty strings and `null` are not content. Only the first choice is read (we always ask for
//! `n = 1`); the rest are skipped without being materialised.

use infergate_model::Usage;
use serde::de::{self, Deserializer, IgnoredAny, SeqAccess, Visitor};
use serde::Deserialize;
use std::borrow::Cow;
use std::fmt;

/// The parts of one response object that the load generator uses.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Parsed<'a> {
    /// Output text (answer), when non-empty.
    pub content: Option<Cow<'a, str>>,
    /// Reasoning text, when non-empty.
    pub reasoning: Option<Cow<'a, str>>,
    /// `choices[0].finish_reason` was set (the generation ended normally or at its length).
    pub finished: bool,
    /// The server's token counts, when the object carried `usage` with `completion_tokens`.
    pub usage: Option<Usage>,
}

impl Parsed<'_> {
    /// True when the object carried output (answer or reasoning): it is a content response.
    pub fn has_content(&self) -> bool {
        self.content.is_some() || self.reasoning.is_some()
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

/// Parse one response object (a stream event's data, or a non-streamed body).
pub fn parse(data: &[u8]) -> Result<Parsed<'_>, ParseError> {
    let wire: Wire<'_> =
        serde_json::from_slice(data).map_err(|e| ParseError::Json(e.to_string()))?;
    if wire.error.is_some() {
        return Err(ParseError::ServerError(error_message(data)));
    }
    let mut out = Parsed {
        usage: wire.usage.and_then(WireUsage::into_usage),
        ..Parsed::default()
    };
    if let Some(FirstOf(Some(choice))) = wire.choices {
        out.finished = choice.finish_reason.is_some();
        let (content, reasoning) = match choice.delta.or(choice.message) {
            Some(m) => (m.content, m.reasoning_content.or(m.reasoning)),
            None => (None, None),
        };
        out.content = non_empty(content.or(choice.text));
        out.reasoning = non_empty(reasoning);
    }
    Ok(out)
}

fn non_empty(t: Option<Text<'_>>) -> Option<Cow<'_, str>> {
    t.map(|t| t.0).filter(|s| !s.is_empty())
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

#[derive(Deserialize)]
struct Wire<'a> {
    #[serde(borrow, default)]
    choices: Option<FirstOf<WireChoice<'a>>>,
    #[serde(default)]
    usage: Option<WireUsage>,
    #[serde(default)]
    error: Option<IgnoredAny>,
}

/// `delta` (streamed) and `message` (whole body) are separate fields rather than serde aliases:
/// an alias turns a response carrying both into a duplicate-field error.
#[derive(Deserialize)]
struct WireChoice<'a> {
    #[serde(borrow, default)]
    delta: Option<WireMessage<'a>>,
    #[serde(borrow, default)]
    message: Option<WireMessage<'a>>,
    #[serde(borrow, default)]
    text: Option<Text<'a>>,
    #[serde(default)]
    finish_reason: Option<IgnoredAny>,
}

#[derive(Deserialize)]
struct WireMessage<'a> {
    #[serde(borrow, default)]
    content: Option<Text<'a>>,
    /// vLLM, SGLang, DeepSeek.
    #[serde(borrow, default)]
    reasoning_content: Option<Text<'a>>,
    /// Newer vLLM (some versions send both with the same text).
    #[serde(borrow, default)]
    reasoning: Option<Text<'a>>,
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

/// A JSON string borrowed from the input when it has no escapes. (`Option<Cow<str>>` with
/// `#[serde(borrow)]` does not borrow; this newtype does.)
struct Text<'a>(Cow<'a, str>);

impl<'de: 'a, 'a> Deserialize<'de> for Text<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<'a>(std::marker::PhantomData<&'a ()>);
        impl<'de: 'a, 'a> Visitor<'de> for V<'a> {
            type Value = Text<'a>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(Text(Cow::Borrowed(v)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(Text(Cow::Owned(v.to_owned())))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
                Ok(Text(Cow::Owned(v)))
            }
        }
        d.deserialize_str(V(std::marker::PhantomData))
    }
}

/// The first element of a JSON array, the rest skipped without being built (no `Vec`).
struct FirstOf<T>(Option<T>);

impl<'de, T: Deserialize<'de>> Deserialize<'de> for FirstOf<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<T>(std::marker::PhantomData<T>);
        impl<'de, T: Deserialize<'de>> Visitor<'de> for V<T> {
            type Value = FirstOf<T>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an array")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
                let first = seq.next_element::<T>()?;
                while seq.next_element::<IgnoredAny>()?.is_some() {}
                Ok(FirstOf(first))
            }
        }
        d.deserialize_seq(V(std::marker::PhantomData))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(s: &str) -> Parsed<'_> {
        parse(s.as_bytes()).unwrap()
    }

    #[test]
    fn chat_delta_content_is_borrowed() {
        let p = ok(
            r#"{"id":"x","object":"chat.completion.chunk","choices":[{"index":0,"delta":{"role":"assistant","content":"Hi"},"finish_reason":null,"logprobs":null}]}"#,
        );
        assert!(matches!(p.content, Some(Cow::Borrowed("Hi"))));
        assert!(!p.finished);
        assert!(p.has_content());
    }

    #[test]
    fn escaped_content_is_decoded() {
        let p = ok(r#"{"choices":[{"delta":{"content":"a\nb\u00e9"}}]}"#);
        assert_eq!(p.content.as_deref(), Some("a\nbé"));
    }

    #[test]
    fn completions_text_and_finish_reason() {
        let p = ok(
            r#"{"object":"text_completion","choices":[{"text":" world","index":0,"finish_reason":"length"}]}"#,
        );
        assert_eq!(p.content.as_deref(), Some(" world"));
        assert!(p.finished);
    }

    #[test]
    fn usage_only_chunk_with_empty_choices_is_not_content() {
        let p = ok(
            r#"{"choices":[],"usage":{"prompt_tokens":12,"completion_tokens":34,"total_tokens":46}}"#,
        );
        assert!(!p.has_content());
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
        assert!(!ok(r#"{"choices":[{"delta":{"content":null}}],"usage":null}"#).has_content());
        assert!(!ok(r#"{"choices":[{"delta":{"content":""}}]}"#).has_content());
        assert!(!ok(r#"{"choices":[{"delta":{}}]}"#).has_content());
        assert!(!ok(r#"{"choices":null}"#).has_content());
    }

    #[test]
    fn reasoning_counts_as_content() {
        let p = ok(r#"{"choices":[{"delta":{"content":null,"reasoning_content":"hmm"}}]}"#);
        assert!(p.has_content());
        assert_eq!(p.reasoning.as_deref(), Some("hmm"));
        let p = ok(r#"{"choices":[{"delta":{"reasoning":"think"}}]}"#);
        assert_eq!(p.reasoning.as_deref(), Some("think"));
        // Both spellings at once (a vLLM transition): counted once, not an error.
        let p = ok(r#"{"choices":[{"delta":{"reasoning":"x","reasoning_content":"x"}}]}"#);
        assert_eq!(p.reasoning.as_deref(), Some("x"));
    }

    #[test]
    fn non_streamed_chat_body() {
        let p = ok(
            r#"{"choices":[{"message":{"role":"assistant","content":"Hello there"},"finish_reason":"stop"}],"usage":{"prompt_tokens":5,"completion_tokens":2}}"#,
        );
        assert_eq!(p.content.as_deref(), Some("Hello there"));
        assert!(p.finished);
        assert_eq!(p.usage.map(|u| u.completion_tokens), Some(2));
    }

    #[test]
    fn only_the_first_choice_is_read() {
        let p =
            ok(r#"{"choices":[{"delta":{"content":"a"}},{"delta":{"content":"b"}},{"x":[1,2]}]}"#);
        assert_eq!(p.content.as_deref(), Some("a"));
    }

    #[test]
    fn error_object_is_a_server_error_with_its_message() {
        let e =
            parse(br#"{"error":{"message":"model overloaded","type":"server_error","code":503}}"#);
        assert_eq!(e, Err(ParseError::ServerError("model overloaded".into())));
        let e = parse(br#"{"error":"boom"}"#);
        assert_eq!(e, Err(ParseError::ServerError("boom".into())));
        assert!(parse(br#"{"error":null,"choices":[]}"#).is_ok());
    }

    #[test]
    fn malformed_json_is_an_error() {
        assert!(matches!(
            parse(b"{\"choices\":[{"),
            Err(ParseError::Json(_))
        ));
        assert!(matches!(parse(b"not json"), Err(ParseError::Json(_))));
        assert!(matches!(
            parse(br#"{"choices":[{"delta":{"content":5}}]}"#),
            Err(ParseError::Json(_))
        ));
        assert!(matches!(parse(b"\xff\xfe"), Err(ParseError::Json(_))));
    }

    #[test]
    fn usage_without_completion_tokens_is_ignored() {
        assert_eq!(
            ok(r#"{"choices":[],"usage":{"prompt_tokens":3}}"#).usage,
            None
        );
    }
}
