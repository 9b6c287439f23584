//! The OpenAI-compatible wire format as the simulator speaks it: parsing request bodies, and
//! writing SSE chunks, final JSON bodies and error objects. Written independently of the load
//! generator's decoder on purpose.

use bytes::{BufMut, Bytes, BytesMut};
use serde_json::{json, Value};

/// Output words. Each token is one word with a leading space, which the client's built-in
/// tokenizer counts as exactly one token.
pub(crate) const WORDS: [&str; 64] = [
    "the", "of", "and", "to", "in", "is", "that", "for", "it", "as", "was", "with", "be", "by",
    "on", "not", "he", "this", "are", "or", "his", "from", "at", "which", "but", "have", "an",
    "had", "they", "you", "were", "their", "one", "all", "we", "can", "her", "has", "there",
    "been", "if", "more", "when", "will", "would", "who", "so", "no", "time", "people", "year",
    "way", "day", "man", "thing", "world", "life", "hand", "part", "place", "case", "week", "work",
    "point",
];

/// The output word at position `i` of a request whose words start at `base`.
pub(crate) fn word(base: u64, i: u32) -> &'static str {
    WORDS[((base + u64::from(i)) % WORDS.len() as u64) as usize]
}

/// Which endpoint a request came in on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Api {
    /// `/v1/chat/completions`.
    Chat,
    /// `/v1/completions`.
    Completions,
}

/// What the simulator needs from a completion request.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ParsedRequest {
    pub model: Option<String>,
    /// Prompt length estimate: whitespace-separated words (token ids count one each).
    pub prompt_tokens: u32,
    /// Hash of the prompt's first block (for the kv router).
    pub prefix_hash: u64,
    pub max_tokens: u32,
    pub stream: bool,
    pub include_usage: bool,
}

/// Parse a request body; the error is the message for a 400 answer.
pub(crate) fn parse_request(
    api: Api,
    body: &[u8],
    default_max_tokens: u32,
    block_words: usize,
) -> Result<ParsedRequest, String> {
    let v: Value =
        serde_json::from_slice(body).map_err(|e| format!("request body is not valid JSON: {e}"))?;
    let obj = v.as_object().ok_or("request body must be a JSON object")?;
    let model = match obj.get("model") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(_) => return Err("'model' must be a string".into()),
    };
    let mut text = String::new();
    let mut id_tokens: u32 = 0;
    match api {
        Api::Chat => {
            let messages = obj
                .get("messages")
                .and_then(Value::as_array)
                .ok_or("'messages' is required and must be an array")?;
            if messages.is_empty() {
                return Err("'messages' must not be empty".into());
            }
            for m in messages {
                let m = m.as_object().ok_or("each message must be an object")?;
                match m.get("content") {
                    Some(Value::String(s)) => push_text(&mut text, s),
                    Some(Value::Array(parts)) => {
                        for p in parts {
                            if let Some(s) = p.get("text").and_then(Value::as_str) {
                                push_text(&mut text, s);
                            }
                        }
                    }
                    None | Some(Value::Null) => {}
                    Some(_) => return Err("message 'content' must be a string or an array".into()),
                }
            }
        }
        Api::Completions => match obj.get("prompt") {
            Some(Value::String(s)) => push_text(&mut text, s),
            Some(Value::Array(items)) if !items.is_empty() => {
                for it in items {
                    match it {
                        Value::String(s) => push_text(&mut text, s),
                        Value::Number(_) => id_tokens = id_tokens.saturating_add(1),
                        _ => return Err("'prompt' must be a string, strings or token ids".into()),
                    }
                }
            }
            _ => return Err("'prompt' is required (a string, strings or token ids)".into()),
        },
    }
    let max_tokens = match (obj.get("max_completion_tokens"), obj.get("max_tokens")) {
        (Some(v), _) if !v.is_null() => positive(v, "max_completion_tokens")?,
        (_, Some(v)) if !v.is_null() => positive(v, "max_tokens")?,
        _ => default_max_tokens,
    };
    let stream = match obj.get("stream") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(_) => return Err("'stream' must be a boolean".into()),
    };
    let include_usage = obj
        .get("stream_options")
        .and_then(|o| o.get("include_usage"))
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let words = text.split_whitespace().count() as u32;
    Ok(ParsedRequest {
        model,
        prompt_tokens: words.saturating_add(id_tokens),
        prefix_hash: crate::router::prefix_hash(&text, block_words),
        max_tokens,
        stream,
        include_usage,
    })
}

fn push_text(text: &mut String, s: &str) {
    if !text.is_empty() {
        text.push(' ');
    }
    text.push_str(s);
}

fn positive(v: &Value, name: &str) -> Result<u32, String> {
    v.as_u64()
        .filter(|n| (1..=u64::from(u32::MAX)).contains(n))
        .map(|n| n as u32)
        .ok_or_else(|| format!("'{name}' must be a positive integer, got {v}"))
}

/// An OpenAI-style error body.
pub(crate) fn error_body(message: &str, kind: &str, code: u16) -> Bytes {
    Bytes::from(
        json!({"error": {"message": message, "type": kind, "param": null, "code": code}})
            .to_string(),
    )
}

/// Per-request constant parts of every chunk.
#[derive(Debug)]
pub(crate) struct ChunkWriter {
    api: Api,
    /// `{"id":"…","object":"…","created":…,"model":"…"`
    meta: Bytes,
    word_base: u64,
}

impl ChunkWriter {
    pub fn new(api: Api, ticket: u64, created: u64, model_json: &str, word_base: u64) -> Self {
        let (prefix, object) = match api {
            Api::Chat => ("chatcmpl", "chat.completion.chunk"),
            Api::Completions => ("cmpl", "text_completion"),
        };
        let meta = format!(
            "{{\"id\":\"{prefix}-sim-{ticket}\",\"object\":\"{object}\",\"created\":{created},\"model\":{model_json}"
        );
        ChunkWriter {
            api,
            meta: Bytes::from(meta),
            word_base,
        }
    }

    fn reserve(buf: &mut BytesMut) {
        if buf.capacity() - buf.len() < 512 {
            buf.reserve(4096);
        }
    }

    /// One SSE event carrying token `i`.
    pub fn token(&self, buf: &mut BytesMut, i: u32) {
        Self::reserve(buf);
        buf.put_slice(b"data: ");
        buf.put_slice(&self.meta);
        buf.put_slice(b",\"choices\":[{\"index\":0,");
        match self.api {
            Api::Chat => {
                buf.put_slice(if i == 0 {
                    b"\"delta\":{\"role\":\"assistant\",\"content\":\" ".as_slice()
                } else {
                    b"\"delta\":{\"content\":\" ".as_slice()
                });
                buf.put_slice(word(self.word_base, i).as_bytes());
                buf.put_slice(b"\"},\"logprobs\":null,\"finish_reason\":null}]}\n\n");
            }
            Api::Completions => {
                buf.put_slice(b"\"text\":\" ");
                buf.put_slice(word(self.word_base, i).as_bytes());
                buf.put_slice(b"\",\"logprobs\":null,\"finish_reason\":null}]}\n\n");
            }
        }
    }

    /// A chunk cut short: invalid JSON in a well-formed SSE event.
    pub fn malformed(&self, buf: &mut BytesMut, i: u32) {
        Self::reserve(buf);
        buf.put_slice(b"data: ");
        buf.put_slice(&self.meta);
        buf.put_slice(b",\"choices\":[{\"index\":0,\"delta\":{\"content\":\" ");
        buf.put_slice(word(self.word_base, i).as_bytes());
        buf.put_slice(b"\n\n");
    }

    /// The finish chunk, the optional usage chunk and the `[DONE]` marker.
    pub fn finish(&self, buf: &mut BytesMut, usage: Option<(u32, u32)>) {
        Self::reserve(buf);
        buf.put_slice(b"data: ");
        buf.put_slice(&self.meta);
        buf.put_slice(match self.api {
            Api::Chat => b",\"choices\":[{\"index\":0,\"delta\":{},\"logprobs\":null,\"finish_reason\":\"length\"}]}\n\n".as_slice(),
            Api::Completions => b",\"choices\":[{\"index\":0,\"text\":\"\",\"logprobs\":null,\"finish_reason\":\"length\"}]}\n\n".as_slice(),
        });
        if let Some((p, c)) = usage {
            buf.put_slice(b"data: ");
            buf.put_slice(&self.meta);
            let u = format!(
                ",\"choices\":[],\"usage\":{{\"prompt_tokens\":{p},\"completion_tokens\":{c},\"total_tokens\":{}}}}}\n\n",
                u64::from(p) + u64::from(c)
            );
            buf.put_slice(u.as_bytes());
        }
        buf.put_slice(b"data: [DONE]\n\n");
    }

    /// The whole non-streaming response body.
    pub fn full_body(&self, ticket: u64, created: u64, model: &str, prompt: u32, n: u32) -> Bytes {
        let mut text = String::with_capacity(n as usize * 6);
        for i in 0..n {
            text.push(' ');
            text.push_str(word(self.word_base, i));
        }
        let usage = json!({"prompt_tokens": prompt, "completion_tokens": n,
                           "total_tokens": u64::from(prompt) + u64::from(n)});
        let v = match self.api {
            Api::Chat => json!({
                "id": format!("chatcmpl-sim-{ticket}"), "object": "chat.completion",
                "created": created, "model": model,
                "choices": [{"index": 0, "message": {"role": "assistant", "content": text},
                             "logprobs": null, "finish_reason": "length"}],
                "usage": usage,
            }),
            Api::Completions => json!({
                "id": format!("cmpl-sim-{ticket}"), "object": "text_completion",
                "created": created, "model": model,
                "choices": [{"index": 0, "text": text, "logprobs": null, "finish_reason": "length"}],
                "usage": usage,
            }),
        };
        Bytes::from(v.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn events(buf: &[u8]) -> Vec<String> {
        std::str::from_utf8(buf)
            .unwrap()
            .split("\n\n")
            .filter(|s| !s.is_empty())
            .map(|s| s.strip_prefix("data: ").unwrap().to_string())
            .collect()
    }

    #[test]
    fn chat_stream_chunks_are_valid_json_with_one_word_each() {
        let w = ChunkWriter::new(Api::Chat, 7, 100, "\"m\\\"x\"", 3);
        let mut buf = BytesMut::new();
        w.token(&mut buf, 0);
        w.token(&mut buf, 1);
        w.finish(&mut buf, Some((5, 2)));
        let ev = events(&buf);
        assert_eq!(ev.len(), 5);
        let first: Value = serde_json::from_str(&ev[0]).unwrap();
        assert_eq!(first["model"], "m\"x");
        assert_eq!(first["choices"][0]["delta"]["role"], "assistant");
        assert_eq!(
            first["choices"][0]["delta"]["content"],
            format!(" {}", word(3, 0))
        );
        let fin: Value = serde_json::from_str(&ev[2]).unwrap();
        assert_eq!(fin["choices"][0]["finish_reason"], "length");
        let usage: Value = serde_json::from_str(&ev[3]).unwrap();
        assert_eq!(usage["choices"].as_array().unwrap().len(), 0);
        assert_eq!(usage["usage"]["total_tokens"], 7);
        assert_eq!(ev[4], "[DONE]");
    }

    #[test]
    fn completions_chunks_carry_text_and_malformed_is_invalid() {
        let w = ChunkWriter::new(Api::Completions, 1, 100, "\"m\"", 0);
        let mut buf = BytesMut::new();
        w.token(&mut buf, 4);
        w.malformed(&mut buf, 5);
        let ev = events(&buf);
        let v: Value = serde_json::from_str(&ev[0]).unwrap();
        assert_eq!(v["choices"][0]["text"], format!(" {}", word(0, 4)));
        assert!(serde_json::from_str::<Value>(&ev[1]).is_err());
    }

    #[test]
    fn requests_parse_and_bad_ones_say_why() {
        let body = br#"{"model":"m","messages":[{"role":"user","content":"a b  c"},
            {"role":"user","content":[{"type":"text","text":"d e"}]}],
            "max_tokens":9,"stream":true,"stream_options":{"include_usage":true}}"#;
        let p = parse_request(Api::Chat, body, 16, 16).unwrap();
        assert_eq!(
            (p.prompt_tokens, p.max_tokens, p.stream, p.include_usage),
            (5, 9, true, true)
        );
        let p = parse_request(
            Api::Completions,
            br#"{"prompt":[1,2,3],"max_completion_tokens":2}"#,
            16,
            16,
        )
        .unwrap();
        assert_eq!((p.prompt_tokens, p.max_tokens, p.stream), (3, 2, false));
        let p = parse_request(Api::Completions, br#"{"prompt":"x y"}"#, 16, 16).unwrap();
        assert_eq!(p.max_tokens, 16);
        for (api, bad, why) in [
            (Api::Chat, &b"{not json"[..], "not valid JSON"),
            (
                Api::Chat,
                &br#"{"model":"m"}"#[..],
                "'messages' is required",
            ),
            (
                Api::Completions,
                &br#"{"model":"m"}"#[..],
                "'prompt' is required",
            ),
            (
                Api::Chat,
                &br#"{"messages":[{"content":"x"}],"max_tokens":0}"#[..],
                "positive integer",
            ),
            (
                Api::Chat,
                &br#"{"messages":[{"content":"x"}],"stream":"yes"}"#[..],
                "boolean",
            ),
        ] {
            let e = parse_request(api, bad, 16, 16).unwrap_err();
            assert!(e.contains(why), "{e}");
        }
    }
}
