//! A sans-IO, incremental Server-Sent Events decoder: push the bytes of each network read, pull
//! complete events.
//!
//! Owns: line splitting (LF, CR and CRLF, split across reads at any byte), `data:` joining with
//! `\n`, comments, the optional leading BOM, and detecting a stream cut in the middle of an event.
//! Must not: do IO, look at timestamps, or interpret the event data (that is `openai`).
//!
//! Deviation from the WHATWG parser, on purpose: a line whose field is not one of `data`,
//! `event`, `id` or `retry` is an error ([`SseError::UnknownField`]) instead of being ignored.
//! OpenAI-compatible servers send only those fields and comments; anything else (typically a JSON
//! object written without its `data:` prefix) means we are not reading the stream we think we
//! are, and silently ignoring it would turn a broken server into an "empty output".
//!
//! Allocation: the decoder keeps two reusable buffers (unconsumed input and the current event's
//! data); after they reach the stream's largest event size, decoding allocates nothing.

use std::fmt;

/// Largest event (or unterminated line) accepted, in bytes, unless configured otherwise.
pub const DEFAULT_MAX_EVENT_BYTES: usize = 4 << 20;

const BOM: &[u8] = b"\xEF\xBB\xBF";

/// The stream is not valid Server-Sent Events.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SseError {
    /// A line or an event grew past the size limit without ending.
    TooLong {
        /// The limit, in bytes.
        limit: usize,
    },
    /// A line named a field other than `data`, `event`, `id` or `retry`.
    UnknownField {
        /// The start of the offending line (at most 64 bytes, lossily decoded).
        line: String,
    },
    /// The stream ended in the middle of an event (a partial line, or data lines without the
    /// blank line that ends the event).
    Truncated {
        /// Bytes received for the unfinished event.
        pending_bytes: usize,
    },
}

impl fmt::Display for SseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SseError::TooLong { limit } => {
                write!(f, "an SSE line or event exceeded {limit} bytes")
            }
            SseError::UnknownField { line } => write!(
                f,
                "unexpected SSE line {line:?} (valid fields: data, event, id, retry, or a ':' comment)"
            ),
            SseError::Truncated { pending_bytes } => write!(
                f,
                "the stream ended in the middle of an event ({pending_bytes} bytes of it received)"
            ),
        }
    }
}

impl std::error::Error for SseError {}

/// One complete event: its `data` lines joined with `\n`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SseEvent<'a> {
    /// The event's data (not necessarily UTF-8; the JSON parser checks that).
    pub data: &'a [u8],
}

impl SseEvent<'_> {
    /// True for OpenAI's end-of-stream marker, `data: [DONE]`.
    pub fn is_done(&self) -> bool {
        self.data == b"[DONE]"
    }
}

/// Incremental decoder. Feed it with [`SseDecoder::push`], drain it with
/// [`SseDecoder::next_event`] until `None`, and call [`SseDecoder::finish`] at end of stream.
#[derive(Debug)]
pub struct SseDecoder {
    /// Received bytes; `buf[pos..]` is not yet consumed.
    buf: Vec<u8>,
    pos: usize,
    /// The current event's data (lines joined with `\n`).
    data: Vec<u8>,
    /// A `data` field was seen since the last dispatch.
    has_data: bool,
    /// The previous event was handed out; clear `data` before building the next one.
    emitted: bool,
    /// The last line ended with CR: a following LF belongs to it.
    skip_lf: bool,
    /// The start of the stream was checked for a byte-order mark.
    bom_checked: bool,
    max_event: usize,
}

impl Default for SseDecoder {
    fn default() -> Self {
        Self::new()
    }
}

impl SseDecoder {
    /// A decoder with the default size limit ([`DEFAULT_MAX_EVENT_BYTES`]).
    pub fn new() -> Self {
        Self::with_limit(DEFAULT_MAX_EVENT_BYTES)
    }

    /// A decoder that rejects lines or events longer than `max_event_bytes`.
    pub fn with_limit(max_event_bytes: usize) -> Self {
        SseDecoder {
            buf: Vec::new(),
            pos: 0,
            data: Vec::new(),
            has_data: false,
            emitted: false,
            skip_lf: false,
            bom_checked: false,
            max_event: max_event_bytes,
        }
    }

    /// Append the bytes of one read.
    pub fn push(&mut self, bytes: &[u8]) {
        if self.pos > 0 {
            // Only an unfinished line is left before `pos`..end; move it to the front.
            self.buf.drain(..self.pos);
            self.pos = 0;
        }
        self.buf.extend_from_slice(bytes);
    }

    /// The next complete event, or `None` when more bytes are needed.
    pub fn next_event(&mut self) -> Result<Option<SseEvent<'_>>, SseError> {
        if self.emitted {
            self.data.clear();
            self.emitted = false;
        }
        if !self.bom_checked {
            let avail = &self.buf[self.pos..];
            if avail.len() < BOM.len() && BOM.starts_with(avail) {
                // Empty, or possibly the start of a BOM: wait for more.
                return Ok(None);
            }
            if avail.starts_with(BOM) {
                self.pos += BOM.len();
            }
            self.bom_checked = true;
        }
        loop {
            if self.skip_lf {
                match self.buf.get(self.pos) {
                    None => return Ok(None),
                    Some(&b) => {
                        if b == b'\n' {
                            self.pos += 1;
                        }
                        self.skip_lf = false;
                    }
                }
            }
            let rest = &self.buf[self.pos..];
            let Some(end) = memchr::memchr2(b'\n', b'\r', rest) else {
                if rest.len() > self.max_event {
                    return Err(SseError::TooLong {
                        limit: self.max_event,
                    });
                }
                return Ok(None);
            };
            let line = &rest[..end];
            self.skip_lf = rest[end] == b'\r';
            self.pos += end + 1;

            if line.is_empty() {
                if self.has_data {
                    self.has_data = false;
                    self.emitted = true;
                    return Ok(Some(SseEvent { data: &self.data }));
                }
                continue;
            }
            if line[0] == b':' {
                continue;
            }
            let (field, value) = match memchr::memchr(b':', line) {
                Some(i) => {
                    let v = &line[i + 1..];
                    (&line[..i], v.strip_prefix(b" ").unwrap_or(v))
                }
                None => (line, &[][..]),
            };
            match field {
                b"data" => {
                    if self.has_data {
                        self.data.push(b'\n');
                    }
                    self.has_data = true;
                    if self.data.len() + value.len() > self.max_event {
                        return Err(SseError::TooLong {
                            limit: self.max_event,
                        });
                    }
                    self.data.extend_from_slice(value);
                }
                b"event" | b"id" | b"retry" => {}
                _ => {
                    let shown = &line[..line.len().min(64)];
                    return Err(SseError::UnknownField {
                        line: String::from_utf8_lossy(shown).into_owned(),
                    });
                }
            }
        }
    }

    /// Call at end of stream, after draining [`SseDecoder::next_event`]: an error when the stream
    /// stopped in the middle of an event.
    pub fn finish(&self) -> Result<(), SseError> {
        let partial_line = self.buf.len() - self.pos;
        if partial_line > 0 || self.has_data {
            let pending = partial_line + if self.has_data { self.data.len() } else { 0 };
            return Err(SseError::Truncated {
                pending_bytes: pending,
            });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Decode `stream` fed as the given pieces; events as strings, then the `finish` result.
    fn decode(pieces: &[&[u8]]) -> (Vec<String>, Result<(), SseError>) {
        let mut d = SseDecoder::new();
        let mut out = Vec::new();
        for p in pieces {
            d.push(p);
            loop {
                match d.next_event() {
                    Ok(Some(ev)) => out.push(String::from_utf8(ev.data.to_vec()).unwrap()),
                    Ok(None) => break,
                    Err(e) => return (out, Err(e)),
                }
            }
        }
        let fin = d.finish();
        (out, fin)
    }

    /// Every split of `stream` into two and three pieces, and byte by byte, gives the same result
    /// as feeding it whole.
    fn assert_split_invariant(stream: &[u8]) -> (Vec<String>, Result<(), SseError>) {
        split_invariant(stream, true)
    }

    fn split_invariant(stream: &[u8], three_way: bool) -> (Vec<String>, Result<(), SseError>) {
        let whole = decode(&[stream]);
        let bytes: Vec<&[u8]> = stream.chunks(1).collect();
        assert_eq!(decode(&bytes), whole, "byte-by-byte differs");
        for i in 0..=stream.len() {
            let (a, b) = stream.split_at(i);
            assert_eq!(decode(&[a, b]), whole, "split at {i} differs");
            if !three_way {
                continue;
            }
            for j in i..=stream.len() {
                let (b1, c) = stream[i..].split_at(j - i);
                assert_eq!(decode(&[a, b1, c]), whole, "split at {i},{j} differs");
            }
        }
        whole
    }

    const OPENAI_STREAM: &str = concat!(
        ": keep-alive comment\n",
        "data: {\"choices\":[{\"delta\":{\"content\":\"Hel\"}}]}\n\n",
        "data: {\"choices\":[{\"delta\":{\"content\":\"lo\"},\"finish_reason\":\"stop\"}]}\n\n",
        "data: {\"choices\":[],\"usage\":{\"prompt_tokens\":3,\"completion_tokens\":2}}\n\n",
        "data: [DONE]\n\n",
    );

    #[test]
    fn openai_stream_any_split() {
        let (events, fin) = assert_split_invariant(OPENAI_STREAM.as_bytes());
        assert_eq!(events.len(), 4);
        assert!(events[0].contains("Hel"));
        assert_eq!(events[3], "[DONE]");
        assert_eq!(fin, Ok(()));
    }

    #[test]
    fn crlf_and_cr_line_endings_any_split() {
        let lf = "data: a\n\ndata: b\ndata: c\n\n";
        let crlf = lf.replace('\n', "\r\n");
        let cr = lf.replace('\n', "\r");
        let mixed = "data: a\r\n\rdata: b\ndata: c\r\r\n";
        for s in [lf, crlf.as_str(), cr.as_str(), mixed] {
            let (events, fin) = assert_split_invariant(s.as_bytes());
            assert_eq!(events, vec!["a".to_string(), "b\nc".to_string()], "{s:?}");
            assert_eq!(fin, Ok(()), "{s:?}");
        }
    }

    #[test]
    fn fields_comments_and_spaces() {
        let s = "event: message\nid: 7\nretry: 100\n:comment\ndata:no-space\ndata:  two\n\n";
        let (events, fin) = assert_split_invariant(s.as_bytes());
        assert_eq!(events, vec!["no-space\n two".to_string()]);
        assert_eq!(fin, Ok(()));
    }

    #[test]
    fn empty_data_is_an_event_but_no_data_is_not() {
        let (events, _) = decode(&[b"event: x\n\ndata\n\ndata:\n\n"]);
        assert_eq!(events, vec!["".to_string(), "".to_string()]);
    }

    #[test]
    fn leading_bom_is_skipped_any_split() {
        let s = b"\xEF\xBB\xBFdata: x\n\n";
        let (events, fin) = assert_split_invariant(s);
        assert_eq!(events, vec!["x".to_string()]);
        assert_eq!(fin, Ok(()));
    }

    #[test]
    fn cut_mid_event_is_detected_at_eof() {
        let full = OPENAI_STREAM.as_bytes();
        // Cutting anywhere except at an event boundary must be reported.
        let boundaries: Vec<usize> = (0..=full.len())
            .filter(|&i| {
                i == 0 || full[..i].ends_with(b"\n\n") || full[..i].ends_with(b"comment\n")
            })
            .collect();
        for cut in 0..=full.len() {
            let (_, fin) = split_invariant(&full[..cut], false);
            if boundaries.contains(&cut) {
                assert_eq!(fin, Ok(()), "cut at {cut} is a boundary");
            } else {
                assert!(
                    matches!(fin, Err(SseError::Truncated { .. })),
                    "cut at {cut} not detected: {fin:?}"
                );
            }
        }
    }

    #[test]
    fn unknown_field_is_an_error() {
        let (events, fin) = decode(&[b"data: ok\n\n{\"choices\":[]}\n\n"]);
        assert_eq!(events, vec!["ok".to_string()]);
        assert!(matches!(fin, Err(SseError::UnknownField { .. })), "{fin:?}");
    }

    #[test]
    fn overlong_line_is_an_error() {
        let mut d = SseDecoder::with_limit(16);
        d.push(&[b'x'; 17]);
        assert_eq!(d.next_event(), Err(SseError::TooLong { limit: 16 }));
        let mut d = SseDecoder::with_limit(16);
        d.push(b"data: 0123456789\ndata: 0123456789\n");
        assert_eq!(d.next_event(), Err(SseError::TooLong { limit: 16 }));
    }

    #[test]
    fn buffers_do_not_grow_over_a_long_stream() {
        let mut d = SseDecoder::new();
        let ev = b"data: {\"choices\":[{\"delta\":{\"content\":\"tok\"}}]}\n\n";
        for _ in 0..10_000 {
            d.push(&ev[..10]);
            d.push(&ev[10..]);
            assert!(d.next_event().unwrap().is_some());
            assert!(d.next_event().unwrap().is_none());
        }
        assert!(d.buf.capacity() < 4 * ev.len());
        assert!(d.data.capacity() < 4 * ev.len());
    }
}
