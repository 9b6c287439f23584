//! Text formatting for the page and the console: HTML escaping and number formatting.

use std::fmt::Write;

/// Escape text for HTML element content and attribute values.
pub fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// `v` with `decimals` decimals and `,` thousands separators (`12,345.7`); `—` when not finite.
pub fn num(v: f64, decimals: usize) -> String {
    if !v.is_finite() {
        return "—".to_owned();
    }
    let s = format!("{:.*}", decimals, v.abs());
    let (int, frac) = s.split_once('.').map_or((s.as_str(), ""), |(i, f)| (i, f));
    let mut out = String::with_capacity(s.len() + 4);
    // "-0.0" reads as a negative number; only print the sign when the rounded value is not 0.
    if v < 0.0 && s.chars().any(|c| c.is_ascii_digit() && c != '0') {
        out.push('-');
    }
    for (i, c) in int.chars().enumerate() {
        if i > 0 && (int.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    if !frac.is_empty() {
        out.push('.');
        out.push_str(frac);
    }
    out
}

/// `num` for an optional value (`—` when absent).
pub fn opt(v: Option<f64>, decimals: usize) -> String {
    v.map_or_else(|| "—".to_owned(), |v| num(v, decimals))
}

/// Decimals that show a value to about 4 significant digits (at most 3 decimals).
pub fn auto_decimals(v: f64) -> usize {
    let a = v.abs();
    if a >= 100.0 {
        1
    } else if a >= 10.0 {
        2
    } else {
        3
    }
}

/// `num` with [`auto_decimals`]; whole numbers print without decimals (`128`, not `128.0`).
pub fn auto(v: f64) -> String {
    if v.fract() == 0.0 && v.abs() < 1e15 {
        return num(v, 0);
    }
    num(v, auto_decimals(v))
}

/// A short axis label: `950`, `1.5k`, `20k`, `3M`, `0.25`.
pub fn compact(v: f64) -> String {
    let a = v.abs();
    let mut out = String::new();
    let (scaled, suffix) = if a >= 1e9 {
        (v / 1e9, "G")
    } else if a >= 1e6 {
        (v / 1e6, "M")
    } else if a >= 1e4 {
        (v / 1e3, "k")
    } else {
        (v, "")
    };
    let s = format!("{scaled:.3}");
    let s = if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.')
    } else {
        s.as_str()
    };
    let _ = write!(out, "{}{}", if s == "-0" { "0" } else { s }, suffix);
    out
}

/// A signed percentage with one decimal: `+3.2 %`, `-15.0 %`.
pub fn pct_change(v: f64) -> String {
    if v.is_infinite() {
        return if v > 0.0 {
            "+∞ %".into()
        } else {
            "-∞ %".into()
        };
    }
    if !v.is_finite() {
        return "—".into();
    }
    format!("{}{} %", if v >= 0.0 { "+" } else { "-" }, num(v.abs(), 1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_read_well() {
        assert_eq!(num(12345.678, 1), "12,345.7");
        assert_eq!(num(-1234567.0, 0), "-1,234,567");
        assert_eq!(num(-0.01, 1), "0.0");
        assert_eq!(num(f64::NAN, 1), "—");
        assert_eq!(compact(15000.0), "15k");
        assert_eq!(compact(0.25), "0.25");
        assert_eq!(pct_change(-15.0), "-15.0 %");
        assert_eq!(
            esc("<a href=\"x\">&'"),
            "&lt;a href=&quot;x&quot;&gt;&amp;&#39;"
        );
    }
}
