//! Browser test: Debian's headless Chromium opens report.html from disk with the network off.
//!
//! - No console output: Chromium started with `--enable-logging=stderr --v=0` logs every console
//!   message of the page (errors, uncaught exceptions, CSP violations such as a blocked fetch) as
//!   an `INFO:CONSOLE` line on stderr. The report carries no script, so ANY such line from the
//!   page is a failure. A control page with a deliberate error and a blocked fetch proves the
//!   detection works on this Chromium (so the test cannot pass by being blind).
//! - Non-blank: a 1280×2000 screenshot is decoded and must hold many distinct colours, with no
//!   single colour covering almost everything.
//! - Key numbers: the DOM Chromium built (`--dump-dom`), tags stripped, must contain the
//!   throughput, the TTFT p99 and the verdict.
//!
//! Chromium missing is a FAILURE with instructions (CI installs it via .ci/run), never a skip.

mod common;

use common::{full, Synth};
use infergate_report::render_html;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Longest one Chromium invocation may take.
const CHROMIUM_TIMEOUT: Duration = Duration::from_secs(120);

fn chromium() -> PathBuf {
    let candidates = [
        std::env::var_os("INFERGATE_CHROMIUM").map(PathBuf::from),
        Some(PathBuf::from("/usr/bin/chromium")),
        Some(PathBuf::from("/usr/bin/chromium-browser")),
    ];
    candidates
        .into_iter()
        .flatten()
        .find(|p| p.is_file())
        .unwrap_or_else(|| {
            panic!(
                "headless Chromium not found (looked at $INFERGATE_CHROMIUM, /usr/bin/chromium, \
                 /usr/bin/chromium-browser). The report's browser test needs it: \
                 `apt-get update && apt-get install -y chromium` (.ci/run does this)."
            )
        })
}

struct Outcome {
    stdout: String,
    stderr: String,
}

/// Run Chromium headless on `page` with the network disabled, plus `extra` flags.
fn run_chromium(page: &Path, profile: &Path, extra: &[String]) -> Outcome {
    let mut cmd = Command::new(chromium());
    cmd.args([
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-extensions",
        "--no-first-run",
        "--no-default-browser-check",
        "--hide-scrollbars",
        "--host-resolver-rules=MAP * ~NOTFOUND",
        "--proxy-server=127.0.0.1:9",
        "--enable-logging=stderr",
        "--v=0",
    ])
    .arg(format!("--user-data-dir={}", profile.display()))
    .args(extra)
    .arg(format!("file://{}", page.display()))
    .stdin(Stdio::null())
    .stdout(Stdio::piped())
    .stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("start chromium");
    let mut out = child.stdout.take().expect("stdout pipe");
    let mut err = child.stderr.take().expect("stderr pipe");
    let out_reader = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = out.read_to_string(&mut s);
        s
    });
    let err_reader = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = err.read_to_string(&mut s);
        s
    });
    let deadline = Instant::now() + CHROMIUM_TIMEOUT;
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait for chromium") {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("chromium did not finish within {CHROMIUM_TIMEOUT:?}");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let stdout = out_reader.join().unwrap_or_default();
    let stderr = err_reader.join().unwrap_or_default();
    assert!(status.success(), "chromium failed ({status}):\n{stderr}");
    Outcome { stdout, stderr }
}

/// Console lines Chromium logged for `page`.
fn console_lines<'a>(stderr: &'a str, page: &Path) -> Vec<&'a str> {
    let url = format!("file://{}", page.display());
    stderr
        .lines()
        .filter(|l| l.contains(":CONSOLE") && (l.contains(&url) || l.contains("Uncaught")))
        .collect()
}

fn visible_text(dom: &str) -> String {
    let mut out = String::with_capacity(dom.len());
    let mut in_tag = false;
    for c in dom.chars() {
        match c {
            '<' => in_tag = true,
            '>' => {
                in_tag = false;
                out.push(' ');
            }
            c if !in_tag => out.push(c),
            _ => {}
        }
    }
    out
}

#[test]
fn report_renders_in_headless_chromium_offline() {
    let dir = tempfile::tempdir().unwrap();

    // Control: a page with a script error and a blocked fetch must be caught by the detector.
    let bad = dir.path().join("control.html");
    std::fs::write(
        &bad,
        "<!DOCTYPE html><html><head><meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; script-src 'unsafe-inline'\"></head>\
<body><script>notDefined();</script><img src=\"http://example.invalid/x.png\"></body></html>",
    )
    .unwrap();
    let control = run_chromium(
        &bad,
        &dir.path().join("profile-control"),
        &["--dump-dom".into()],
    );
    let caught = console_lines(&control.stderr, &bad);
    assert!(
        caught.iter().any(|l| l.contains("Uncaught")),
        "the console detector missed a deliberate error; stderr was:\n{}",
        control.stderr
    );

    // The report itself.
    let mut input = full(&Synth {
        fail_every: Some(97),
        stall: Some((2, 3.0, 5.0, 3000.0)),
        ..Synth::default()
    });
    input.aiperf["output_token_throughput"]["avg"] = serde_json::json!(12345.678);
    input.aiperf["time_to_first_token"]["p99"] = serde_json::json!(987.64);
    let page = dir.path().join("report.html");
    std::fs::write(&page, render_html(&input)).unwrap();

    let dom = run_chromium(
        &page,
        &dir.path().join("profile-dom"),
        &["--dump-dom".into()],
    );
    let console = console_lines(&dom.stderr, &page);
    assert!(
        console.is_empty(),
        "the page logged to the console:\n{}",
        console.join("\n")
    );
    let text = visible_text(&dom.stdout);
    for needle in [
        "12,345.7",
        "987.6",
        "PASSED",
        "Output token throughput",
        "TTFT p99",
    ] {
        assert!(text.contains(needle), "rendered page text lacks {needle:?}");
    }
    assert!(
        dom.stdout.matches("<svg").count() >= 6,
        "charts missing from the rendered DOM"
    );

    let shot = dir.path().join("report.png");
    let shot_run = run_chromium(
        &page,
        &dir.path().join("profile-shot"),
        &[
            format!("--screenshot={}", shot.display()),
            "--window-size=1280,2000".into(),
        ],
    );
    let console = console_lines(&shot_run.stderr, &page);
    assert!(
        console.is_empty(),
        "the page logged to the console:\n{}",
        console.join("\n")
    );
    assert_non_blank(&shot);
}

fn assert_non_blank(png_path: &Path) {
    let file = std::fs::File::open(png_path).expect("screenshot written");
    let mut decoder = png::Decoder::new(std::io::BufReader::new(file));
    decoder.set_transformations(png::Transformations::normalize_to_color8());
    let mut reader = decoder.read_info().expect("screenshot is a PNG");
    let mut buf = vec![0; reader.output_buffer_size()];
    let info = reader.next_frame(&mut buf).expect("decode screenshot");
    assert!(
        info.width >= 1000 && info.height >= 1500,
        "screenshot is {}x{}",
        info.width,
        info.height
    );
    let channels = info.color_type.samples();
    let pixels = &buf[..info.buffer_size()];
    let mut counts = std::collections::HashMap::<[u8; 3], u64>::new();
    for px in pixels.chunks_exact(channels) {
        let rgb = if channels >= 3 {
            [px[0], px[1], px[2]]
        } else {
            [px[0]; 3]
        };
        *counts.entry(rgb).or_default() += 1;
    }
    let total = (pixels.len() / channels) as u64;
    let dominant = counts.values().copied().max().unwrap_or(0);
    assert!(
        counts.len() >= 64,
        "screenshot has only {} distinct colours",
        counts.len()
    );
    assert!(
        (dominant as f64) < 0.97 * total as f64,
        "one colour covers {:.1} % of the screenshot",
        100.0 * dominant as f64 / total as f64
    );
}
