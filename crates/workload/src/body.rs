//! Request bodies as canonical JSON bytes: object keys sorted by their UTF-8 bytes at every
//! level, no whitespace, strings escaped exactly as `serde_json` does. Written by hand so the
//! bytes (and the digest) cannot change when some other crate in the build turns on
//! `serde_json/preserve_order`.

use serde_json::{Map, Value};

/// Appends `s` as a JSON string literal.
pub(crate) fn write_str(out: &mut Vec<u8>, s: &str) {
    out.push(b'"');
    let bytes = s.as_bytes();
    let mut start = 0;
    for (i, &b) in bytes.iter().enumerate() {
        let esc: &[u8] = match b {
            b'"' => b"\\\"",
            b'\\' => b"\\\\",
            b'\n' => b"\\n",
            b'\r' => b"\\r",
            b'\t' => b"\\t",
            0x08 => b"\\b",
            0x0c => b"\\f",
            0x00..=0x1f => b"",
            _ => continue,
        };
        out.extend_from_slice(&bytes[start..i]);
        if esc.is_empty() {
            const HEX: &[u8; 16] = b"0123456789abcdef";
            out.extend_from_slice(b"\\u00");
            out.push(HEX[usize::from(b >> 4)]);
            out.push(HEX[usize::from(b & 0xf)]);
        } else {
            out.extend_from_slice(esc);
        }
        start = i + 1;
    }
    out.extend_from_slice(&bytes[start..]);
    out.push(b'"');
}

/// Appends `v` in canonical form.
pub(crate) fn write_value(out: &mut Vec<u8>, v: &Value) {
    match v {
        Value::Null => out.extend_from_slice(b"null"),
        Value::Bool(true) => out.extend_from_slice(b"true"),
        Value::Bool(false) => out.extend_from_slice(b"false"),
        Value::Number(n) => out.extend_from_slice(n.to_string().as_bytes()),
        Value::String(s) => write_str(out, s),
        Value::Array(items) => {
            out.push(b'[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_value(out, item);
            }
            out.push(b']');
        }
        Value::Object(map) => {
            write_object(out, map, None);
        }
    }
}

/// Appends an object with sorted keys. The value of the key named by `hole` is left out and
/// the byte offset where it belongs is returned instead (used to template `max_tokens`).
pub(crate) fn write_object(
    out: &mut Vec<u8>,
    map: &Map<String, Value>,
    hole: Option<&str>,
) -> Option<usize> {
    let mut keys: Vec<&String> = map.keys().collect();
    keys.sort_unstable_by(|a, b| a.as_bytes().cmp(b.as_bytes()));
    let mut at = None;
    out.push(b'{');
    for (i, key) in keys.into_iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        write_str(out, key);
        out.push(b':');
        if hole == Some(key.as_str()) {
            at = Some(out.len());
        } else if let Some(v) = map.get(key) {
            write_value(out, v);
        }
    }
    out.push(b'}');
    at
}

/// A body whose `max_tokens` value varies per request: `prefix` + decimal + `suffix`.
#[derive(Debug, Clone)]
pub(crate) struct Template {
    pub(crate) prefix: Box<[u8]>,
    pub(crate) suffix: Box<[u8]>,
}

impl Template {
    pub(crate) fn render(&self, max_tokens: u32) -> Vec<u8> {
        let mut digits = [0u8; 10];
        let mut n = max_tokens;
        let mut i = digits.len();
        loop {
            i -= 1;
            digits[i] = b'0' + (n % 10) as u8;
            n /= 10;
            if n == 0 {
                break;
            }
        }
        let mut out =
            Vec::with_capacity(self.prefix.len() + (digits.len() - i) + self.suffix.len());
        out.extend_from_slice(&self.prefix);
        out.extend_from_slice(&digits[i..]);
        out.extend_from_slice(&self.suffix);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn canonical(v: &Value) -> String {
        let mut out = Vec::new();
        write_value(&mut out, v);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn keys_are_sorted_at_every_level() {
        let v = json!({"b": 1, "a": {"z": [true, null], "y": "s"}});
        assert_eq!(canonical(&v), r#"{"a":{"y":"s","z":[true,null]},"b":1}"#);
    }

    #[test]
    fn strings_escape_like_serde_json() {
        let s = "quote\" back\\ nl\n tab\t cr\r bell\u{7} del\u{7f} é \u{1f600}";
        let v = Value::String(s.into());
        assert_eq!(canonical(&v), serde_json::to_string(&v).unwrap());
    }

    #[test]
    fn numbers_print_as_serde_json_does() {
        let v = json!([0, -3, 0.5, 1e300, 18446744073709551615u64]);
        assert_eq!(canonical(&v), serde_json::to_string(&v).unwrap());
    }

    #[test]
    fn templates_render_any_u32() {
        let t = Template {
            prefix: (*b"{\"max_tokens\":").into(),
            suffix: (*b"}").into(),
        };
        for n in [0, 7, 10, 128, u32::MAX] {
            assert_eq!(t.render(n), format!("{{\"max_tokens\":{n}}}").into_bytes());
        }
    }
}
