//! Number formatting shared by the explanations (plain words, fixed units).

/// A level as a percentage without trailing zeros: 0.95 → "95 %", 0.975 → "97.5 %".
pub(crate) fn level(level: f64) -> String {
    pct(level * 100.0)
}

/// A percentage (already ×100) with at most one decimal: "93 %", "12.5 %".
pub(crate) fn pct(v: f64) -> String {
    let r = (v * 10.0).round() / 10.0;
    if (r - r.round()).abs() < 1e-9 {
        format!("{:.0} %", r)
    } else {
        format!("{r:.1} %")
    }
}

/// Seconds on the run's clock: one decimal below 100 s, whole seconds above.
pub(crate) fn secs(ns: u64) -> String {
    let s = ns as f64 / 1e9;
    if s < 100.0 {
        format!("{s:.1} s")
    } else {
        format!("{s:.0} s")
    }
}

/// A latency in ms for prose: "687 ms", "9.2 s".
pub(crate) fn latency(ms: f64) -> String {
    if ms >= 10_000.0 {
        format!("{:.0} s", ms / 1e3)
    } else if ms >= 1_000.0 {
        format!("{:.1} s", ms / 1e3)
    } else {
        format!("{ms:.0} ms")
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn formats() {
        assert_eq!(super::level(0.95), "95 %");
        assert_eq!(super::level(0.975), "97.5 %");
        assert_eq!(super::secs(41_000_000_000), "41.0 s");
        assert_eq!(super::secs(141_000_000_000), "141 s");
        assert_eq!(super::latency(9_200.0), "9.2 s");
        assert_eq!(super::latency(687.4), "687 ms");
        assert_eq!(super::latency(45_100.0), "45 s");
    }
}
