//! The load generator's configuration errors. Every message names the bad value and what is
//! valid, and never contains a secret (header values are not echoed; API keys never).

use thiserror::Error;

/// A target or plan that cannot be run. Returned before any connection is opened.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum LoadgenError {
    /// The base URL could not be used.
    #[error("invalid URL {url:?}: {reason} (valid: http://HOST[:PORT][/PREFIX], e.g. http://127.0.0.1:8000)")]
    InvalidUrl {
        /// The URL as given.
        url: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A `--header` could not be used. The value is not echoed: it may hold a credential.
    #[error("invalid header {header:?}: {reason}")]
    InvalidHeader {
        /// The header's name (or the whole argument when it had no `:`), never its value.
        header: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The API key cannot be sent in an HTTP header (it is not echoed).
    #[error(
        "the API key contains characters not allowed in an HTTP header (valid: visible ASCII)"
    )]
    InvalidApiKey,
    /// A load-plan value is out of range.
    #[error("invalid {field} {value}: valid is {valid}")]
    InvalidPlan {
        /// The setting (named as the CLI flag).
        field: &'static str,
        /// The value given.
        value: String,
        /// The valid range or choices.
        valid: &'static str,
    },
}
