//! Argument helpers shared by several subcommands: durations, `key:value` lists, the API key.
//! Every error here is bad input (exit 2) and names the flag, the value and what is valid.

use crate::BadInput;
use std::time::Duration;

/// Parse a duration flag: a bare number of seconds (`30`, `0.5`) or a Go-style duration
/// (`42s`, `500ms`, `2m`, `1h30m`). Must be > 0.
pub fn duration_flag(flag: &str, raw: &str) -> anyhow::Result<Duration> {
    let bad = |why: &str| {
        BadInput::from_err(format!(
            "invalid {flag} {raw:?}: {why} (valid: seconds as a number such as 30 or 0.5, or a duration such as 500ms, 42s, 2m, 1h30m; must be > 0)"
        ))
    };
    let text = raw.trim();
    let secs = if let Ok(n) = text.parse::<f64>() {
        n
    } else {
        let nanos = infergate_gate::knobs::parse_go_duration(text).map_err(|e| bad(&e))?;
        nanos as f64 / 1e9
    };
    if !secs.is_finite() || secs <= 0.0 {
        return Err(bad("not a positive duration"));
    }
    if secs > 365.0 * 86_400.0 {
        return Err(bad("longer than a year"));
    }
    Ok(Duration::from_secs_f64(secs))
}

/// Read the API key from the environment variable `var` (unset or empty: no key). The key's value
/// never leaves this function except inside the loadgen's `Secret`.
pub fn api_key_from_env(var: &str) -> anyhow::Result<Option<infergate_loadgen::Secret>> {
    if var.is_empty() || var.contains('=') || var.contains('\0') {
        return Err(BadInput::from_err(format!(
            "invalid --api-key-env {var:?}: expected the NAME of an environment variable, e.g. OPENAI_API_KEY"
        )));
    }
    Ok(std::env::var(var)
        .ok()
        .filter(|v| !v.trim().is_empty())
        .map(|v| infergate_loadgen::Secret::new(v.trim().to_string())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_accept_seconds_and_units() {
        assert_eq!(duration_flag("--d", "30").unwrap(), Duration::from_secs(30));
        assert_eq!(
            duration_flag("--d", "0.5").unwrap(),
            Duration::from_millis(500)
        );
        assert_eq!(
            duration_flag("--d", "500ms").unwrap(),
            Duration::from_millis(500)
        );
        assert_eq!(
            duration_flag("--d", "2m").unwrap(),
            Duration::from_secs(120)
        );
    }

    #[test]
    fn bad_durations_name_the_flag_and_value() {
        for raw in ["0", "-1", "abc", "5 parsecs", "nan"] {
            let err = duration_flag("--duration", raw).unwrap_err();
            let msg = format!("{err:#}");
            assert!(msg.contains("--duration") && msg.contains(raw), "{msg}");
            assert_eq!(crate::exit::code_for_error(&err), crate::exit::BAD_INPUT);
        }
    }
}
