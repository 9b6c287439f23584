//! The endpoint under test: a validated base URL, extra headers and the API key.
//!
//! Owns: URL and header validation (before anything is sent) and the [`Secret`] wrapper that keeps
//! credentials out of Debug/Display output. Must not: open connections.

use crate::LoadgenError;
use http::header::{HeaderName, HeaderValue, AUTHORIZATION, CONTENT_TYPE};
use http::{HeaderMap, Uri};
use std::fmt;

/// A credential (API key). Its `Debug` and `Display` print `***`; the only way to read it is
/// [`Secret::expose`], used once, to build the `Authorization` header (marked sensitive).
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wrap a credential.
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }

    /// The credential itself. Do not print it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

/// Headers infergate sets itself (or that would break the connection handling).
const RESERVED: [&str; 5] = [
    "host",
    "content-length",
    "transfer-encoding",
    "connection",
    "content-type",
];

/// A validated endpoint. `Debug` shows header names only, never values or the key.
#[derive(Clone)]
pub struct Target {
    /// `http://host:port` plus an optional path prefix, without a trailing `/`.
    base: String,
    /// User headers (values marked sensitive).
    headers: HeaderMap,
    api_key: Option<Secret>,
}

impl fmt::Debug for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<&str> = self.headers.keys().map(HeaderName::as_str).collect();
        f.debug_struct("Target")
            .field("base_url", &self.base)
            .field("header_names", &names)
            .field("api_key", &self.api_key.as_ref().map(|_| "***"))
            .finish()
    }
}

impl Target {
    /// Validate a base URL (`http://HOST[:PORT][/PREFIX]`; endpoint paths such as
    /// `/v1/chat/completions` are appended), extra headers and an optional API key.
    ///
    /// Plain HTTP only: `https` is rejected with a clear error (TLS may come later behind a cargo
    /// feature). Credentials in the URL are rejected (use the API key). A URL ending in `/v1` is
    /// rejected because the endpoint paths already start with `/v1`.
    pub fn parse(
        base_url: &str,
        headers: &[(String, String)],
        api_key: Option<Secret>,
    ) -> Result<Target, LoadgenError> {
        let bad = |reason: &str| LoadgenError::InvalidUrl {
            url: base_url.to_string(),
            reason: reason.to_string(),
        };
        let uri: Uri = base_url
            .parse()
            .map_err(|e: http::uri::InvalidUri| bad(&e.to_string()))?;
        match uri.scheme_str() {
            Some("http") => {}
            Some("https") => {
                return Err(bad(
                    "https is not supported by this build (plain http only; put a TLS-terminating proxy in front)",
                ))
            }
            Some(other) => return Err(bad(&format!("scheme {other:?} is not supported"))),
            None => return Err(bad("missing scheme")),
        }
        let authority = uri.authority().ok_or_else(|| bad("missing host"))?;
        if authority.as_str().contains('@') {
            return Err(bad(
                "credentials in the URL are not allowed (use the API key environment variable)",
            ));
        }
        if authority.host().is_empty() {
            return Err(bad("missing host"));
        }
        if authority.as_str().ends_with(':') {
            return Err(bad("empty port"));
        }
        if uri.query().is_some() {
            return Err(bad("a query string is not allowed in the base URL"));
        }
        let prefix = uri.path().trim_end_matches('/');
        if prefix.ends_with("/v1") {
            return Err(bad(
                "drop the trailing /v1: endpoint paths such as /v1/chat/completions are appended",
            ));
        }
        let base = format!("http://{}{}", authority.as_str(), prefix);

        let mut map = HeaderMap::new();
        for (name, value) in headers {
            let header_err = |reason: &str| LoadgenError::InvalidHeader {
                header: name.clone(),
                reason: reason.to_string(),
            };
            let hn = HeaderName::from_bytes(name.trim().as_bytes())
                .map_err(|_| header_err("not a valid header name (letters, digits, '-')"))?;
            if RESERVED.contains(&hn.as_str()) {
                return Err(header_err(&format!(
                    "set by infergate itself (reserved: {})",
                    RESERVED.join(", ")
                )));
            }
            if hn == AUTHORIZATION && api_key.is_some() {
                return Err(header_err(
                    "conflicts with the API key (give one or the other)",
                ));
            }
            let mut hv = HeaderValue::from_str(value.trim())
                .map_err(|_| header_err("the value contains characters not allowed in a header"))?;
            hv.set_sensitive(true);
            map.append(hn, hv);
        }
        if let Some(key) = &api_key {
            HeaderValue::from_str(&format!("Bearer {}", key.expose()))
                .map_err(|_| LoadgenError::InvalidApiKey)?;
        }
        Ok(Target {
            base,
            headers: map,
            api_key,
        })
    }

    /// Split a `--header` argument `NAME:VALUE` (spaces around both are trimmed). The error
    /// names the header, never the value.
    pub fn parse_header_arg(arg: &str) -> Result<(String, String), LoadgenError> {
        match arg.split_once(':') {
            Some((k, v)) if !k.trim().is_empty() => {
                Ok((k.trim().to_string(), v.trim().to_string()))
            }
            _ => Err(LoadgenError::InvalidHeader {
                header: arg.split(':').next().unwrap_or_default().to_string(),
                reason: "expected NAME:VALUE".to_string(),
            }),
        }
    }

    /// The normalised base URL (`http://host:port[/prefix]`).
    pub fn base_url(&self) -> &str {
        &self.base
    }

    /// The full URI of an endpoint path such as `/v1/chat/completions`.
    pub fn endpoint(&self, path: &str) -> Result<Uri, LoadgenError> {
        let joined = if path.starts_with('/') {
            format!("{}{}", self.base, path)
        } else {
            format!("{}/{}", self.base, path)
        };
        joined
            .parse()
            .map_err(|e: http::uri::InvalidUri| LoadgenError::InvalidUrl {
                url: joined.clone(),
                reason: e.to_string(),
            })
    }

    /// Whether an API key is configured (it is sent as `Authorization: Bearer …`).
    pub fn has_api_key(&self) -> bool {
        self.api_key.is_some()
    }

    /// The API key and every user header value (all treated as potential credentials), to be
    /// scrubbed from anything a server echoes back.
    pub(crate) fn secret_values(&self) -> Vec<String> {
        let mut v: Vec<String> = self
            .api_key
            .iter()
            .map(|k| k.expose().to_string())
            .collect();
        v.extend(
            self.headers
                .values()
                .filter_map(|h| h.to_str().ok())
                .filter(|s| s.len() >= 8)
                .map(str::to_string),
        );
        v
    }

    /// Headers of every request: JSON content type, the bearer token when configured, then the
    /// user's headers. Credential values are marked sensitive.
    pub(crate) fn request_headers(&self) -> HeaderMap {
        let mut map = HeaderMap::with_capacity(self.headers.len() + 2);
        map.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        if let Some(key) = &self.api_key {
            // Validated in `parse`; a failure here is impossible, and skipping is the safe fallback.
            if let Ok(mut v) = HeaderValue::from_str(&format!("Bearer {}", key.expose())) {
                v.set_sensitive(true);
                map.insert(AUTHORIZATION, v);
            }
        }
        for (k, v) in &self.headers {
            map.append(k.clone(), v.clone());
        }
        map
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(u: &str) -> Result<Target, LoadgenError> {
        Target::parse(u, &[], None)
    }

    #[test]
    fn accepts_host_port_and_prefix() {
        assert_eq!(
            url("http://127.0.0.1:8000").unwrap().base_url(),
            "http://127.0.0.1:8000"
        );
        assert_eq!(
            url("http://localhost:8000/").unwrap().base_url(),
            "http://localhost:8000"
        );
        assert_eq!(
            url("http://svc/proxy/").unwrap().base_url(),
            "http://svc/proxy"
        );
        let t = url("http://[::1]:9000").unwrap();
        assert_eq!(
            t.endpoint("/v1/completions").unwrap().to_string(),
            "http://[::1]:9000/v1/completions"
        );
    }

    #[test]
    fn rejects_bad_urls_naming_them() {
        for (u, needle) in [
            ("https://x:1", "https is not supported"),
            ("ftp://x", "scheme"),
            ("localhost:8000", "scheme"),
            ("http://", "invalid URL"),
            ("http://u:p@x:1", "credentials"),
            ("http://x:1/v1", "trailing /v1"),
            ("http://x:1/?a=b", "query"),
            ("not a url", "invalid URL"),
        ] {
            let e = url(u).unwrap_err().to_string();
            assert!(e.contains(needle), "{u}: {e}");
            assert!(e.contains("valid: http://"), "{u}: {e}");
        }
        assert!(url("https://x:1")
            .unwrap_err()
            .to_string()
            .contains("\"https://x:1\""));
    }

    #[test]
    fn headers_are_validated_without_echoing_values() {
        let h = |k: &str, v: &str| vec![(k.to_string(), v.to_string())];
        assert!(Target::parse("http://x", &h("X-Team", "a b"), None).is_ok());
        let e = Target::parse("http://x", &h("bad name", "v"), None).unwrap_err();
        assert!(e.to_string().contains("bad name"));
        let e = Target::parse("http://x", &h("X-Token", "sec\nret"), None).unwrap_err();
        assert!(!e.to_string().contains("sec"), "{e}");
        let e = Target::parse("http://x", &h("Host", "y"), None).unwrap_err();
        assert!(e.to_string().contains("reserved"));
        let e = Target::parse(
            "http://x",
            &h("Authorization", "Bearer z"),
            Some(Secret::new("k")),
        )
        .unwrap_err();
        assert!(e.to_string().contains("conflicts"));
        assert_eq!(
            Target::parse_header_arg(" X-A : b:c ").unwrap(),
            ("X-A".to_string(), "b:c".to_string())
        );
        assert!(Target::parse_header_arg("novalue").is_err());
    }

    #[test]
    fn secrets_never_show_in_debug() {
        let t = Target::parse(
            "http://x:1",
            &[("X-Token".into(), "hunter2".into())],
            Some(Secret::new("sk-topsecret")),
        )
        .unwrap();
        let d = format!(
            "{t:?} {:?} {}",
            Secret::new("sk-topsecret"),
            Secret::new("sk-topsecret")
        );
        assert!(!d.contains("topsecret") && !d.contains("hunter2"), "{d}");
        assert!(d.contains("X-Token") || d.contains("x-token"));
        let hdrs = t.request_headers();
        assert_eq!(hdrs[AUTHORIZATION], "Bearer sk-topsecret");
        assert!(hdrs[AUTHORIZATION].is_sensitive());
        assert!(!format!("{hdrs:?}").contains("topsecret"));
        let e = Target::parse("http://x", &[], Some(Secret::new("bad\nkey"))).unwrap_err();
        assert!(!e.to_string().contains("bad"));
    }
}
