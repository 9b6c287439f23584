//! JUnit XML of a `validate` run, for CI systems that read JUnit rather than CTRF: one
//! `<testsuite name="performance">` with one `<testcase name="inference-perf">`.
//!
//! A failure is a `<failure>`, a skip a `<skipped>`, and the three "other" outcomes (could not
//! measure, invalid, inconclusive) an `<error>` whose `type` names the outcome. The stdout lines go
//! in `<system-out>`. Text and attributes are escaped; characters XML 1.0 forbids are replaced
//! with U+FFFD. Pure: the caller supplies the clock readings.

use crate::ctrf::{rfc3339_utc, RunTiming, SUITE, TOOL_NAME};
use crate::plan::CHECK_NAME;
use crate::verdict::{GateStatus, Verdict};
use std::fmt::Write;

/// Renders the JUnit XML document. `preceding_stdout` as in [`crate::ctrf::report`].
pub fn render(verdict: &Verdict, timing: RunTiming, preceding_stdout: &[String]) -> String {
    let secs = format!("{:.3}", timing.duration_ms() as f64 / 1000.0);
    let (failures, errors, skipped) = match verdict.status {
        GateStatus::Passed => (0, 0, 0),
        GateStatus::Failed => (1, 0, 0),
        GateStatus::Skipped => (0, 0, 1),
        GateStatus::Inconclusive | GateStatus::Invalid | GateStatus::CouldNotMeasure => (0, 1, 0),
    };
    let stamp = rfc3339_utc(timing.start_unix_ms);
    let message = verdict.message.as_deref().unwrap_or("");
    let mut x = String::new();
    x.push_str("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let _ = writeln!(
        x,
        "<testsuites name=\"{TOOL_NAME}\" tests=\"1\" failures=\"{failures}\" errors=\"{errors}\" \
         skipped=\"{skipped}\" time=\"{secs}\">"
    );
    let _ = writeln!(
        x,
        "  <testsuite name=\"{SUITE}\" tests=\"1\" failures=\"{failures}\" errors=\"{errors}\" \
         skipped=\"{skipped}\" time=\"{secs}\" timestamp=\"{stamp}\">"
    );
    let _ = writeln!(
        x,
        "    <testcase name=\"{CHECK_NAME}\" classname=\"{SUITE}\" time=\"{secs}\">"
    );
    match verdict.status {
        GateStatus::Passed => {}
        GateStatus::Failed => {
            let _ = writeln!(
                x,
                "      <failure message=\"{}\" type=\"FAILED\">{}</failure>",
                escape(message),
                escape(message)
            );
        }
        GateStatus::Skipped => {
            let _ = writeln!(x, "      <skipped message=\"{}\"/>", escape(message));
        }
        other => {
            let _ = writeln!(
                x,
                "      <error message=\"{}\" type=\"{}\">{}</error>",
                escape(message),
                other.as_str(),
                escape(message)
            );
        }
    }
    let lines: Vec<&str> = preceding_stdout
        .iter()
        .chain(verdict.stdout.iter())
        .map(String::as_str)
        .collect();
    if !lines.is_empty() {
        let _ = writeln!(
            x,
            "      <system-out>{}</system-out>",
            escape(&lines.join("\n"))
        );
    }
    x.push_str("    </testcase>\n  </testsuite>\n</testsuites>\n");
    x
}

/// Escapes text for both element content and double-quoted attributes.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\t' | '\n' | '\r' => out.push(c),
            c if (c as u32) < 0x20 || c == '\u{fffe}' || c == '\u{ffff}' => out.push('\u{fffd}'),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const T: RunTiming = RunTiming {
        start_unix_ms: 1_700_000_000_000,
        stop_unix_ms: 1_700_000_612_000,
    };

    #[test]
    fn escapes_markup_and_forbidden_characters() {
        assert_eq!(
            escape("a<b>&\"c\" 'd'\u{1}\n"),
            "a&lt;b&gt;&amp;&quot;c&quot; &apos;d&apos;\u{fffd}\n"
        );
    }

    #[test]
    fn skipped_has_a_skipped_element() {
        let x = render(&Verdict::skipped("no <thresholds> & such"), T, &[]);
        assert!(
            x.contains("<skipped message=\"no &lt;thresholds&gt; &amp; such\"/>"),
            "{x}"
        );
        assert!(x.contains("skipped=\"1\""), "{x}");
        assert!(x.contains("time=\"612.000\""), "{x}");
        assert!(!x.contains("<system-out>"), "{x}");
    }

    #[test]
    fn could_not_measure_is_an_error() {
        let x = render(&Verdict::could_not_measure("endpoint never ready"), T, &[]);
        assert!(x.contains("<error message=\"endpoint never ready\" type=\"COULD NOT MEASURE\">"));
        assert!(x.contains("errors=\"1\""));
    }
}
