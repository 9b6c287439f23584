//! Shared helpers of the CLI acceptance tests: run the real `infergate` binary with a bounded
//! wait, serve a simulated deployment in-process on a loopback port, a listener that proves no
//! connection was opened, and small parsers for what the CLI prints and writes.
//!
//! Every wait here is bounded; nothing sleeps to synchronise.

#![allow(dead_code)] // each test binary uses a different subset

use infergate_sim::server::SimServer;
use infergate_sim::SimConfig;
use serde_json::Value;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

/// The binary under test.
pub fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_infergate")
}

/// The model the simulated deployment serves.
pub const MODEL: &str = "Qwen/Qwen3-8B";

/// What a finished `infergate` process left behind.
#[derive(Debug)]
pub struct Output {
    /// The exit code (`None`: killed by a signal).
    pub code: Option<i32>,
    /// Everything written to stdout.
    pub stdout: String,
    /// Everything written to stderr.
    pub stderr: String,
    /// Wall time from spawn to exit.
    pub elapsed: Duration,
}

impl Output {
    /// stdout and stderr together, for searching.
    pub fn all(&self) -> String {
        format!("{}\n{}", self.stdout, self.stderr)
    }

    /// Assert the exit code, printing both streams on a mismatch.
    pub fn assert_code(&self, want: i32, what: &str) {
        assert_eq!(
            self.code,
            Some(want),
            "{what}: exit code {:?}, expected {want}\n--- stdout ---\n{}\n--- stderr ---\n{}",
            self.code,
            self.stdout,
            self.stderr
        );
    }
}

/// Environment variables of the outer shell that would change what the CLI does.
fn is_ambient_knob(name: &str) -> bool {
    name.starts_with("AICR_")
        || name.starts_with("INFERGATE_")
        || name == "OPENAI_API_KEY"
        || name == "HF_TOKEN"
}

/// A command line for the binary, with a clean environment (no ambient knobs or keys).
pub struct Cli {
    cmd: Command,
    timeout: Duration,
}

impl Cli {
    /// `infergate <args...>`, 120 s limit.
    pub fn new<I, S>(args: I) -> Cli
    where
        I: IntoIterator<Item = S>,
        S: AsRef<std::ffi::OsStr>,
    {
        let mut cmd = Command::new(bin());
        cmd.args(args);
        for (k, _) in std::env::vars_os() {
            if k.to_str().is_some_and(is_ambient_knob) {
                cmd.env_remove(&k);
            }
        }
        Cli {
            cmd,
            timeout: Duration::from_secs(120),
        }
    }

    /// Set an environment variable for the child.
    pub fn env(mut self, k: &str, v: &str) -> Cli {
        self.cmd.env(k, v);
        self
    }

    /// Add arguments.
    pub fn args<I, S>(mut self, args: I) -> Cli
    where
        I: IntoIterator<Item = S>,
        S: AsRef<std::ffi::OsStr>,
    {
        self.cmd.args(args);
        self
    }

    /// Kill the process (and fail the test) if it runs longer than this.
    pub fn timeout(mut self, t: Duration) -> Cli {
        self.timeout = t;
        self
    }

    /// Run to completion within the timeout and collect its output.
    pub fn run(mut self) -> Output {
        // One infergate process at a time per test binary: the tests run in parallel threads on
        // a 2-core machine, and two load generators plus their simulated deployments competing
        // for the cores would starve each other, which the client self-check rightly reports as
        // INVALID. Serialising the runs keeps each measurement the deployment's.
        static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());
        let _turn = ONE_AT_A_TIME
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let start = Instant::now();
        let mut child = self
            .cmd
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn infergate");
        let out = drain(child.stdout.take().expect("stdout"));
        let err = drain(child.stderr.take().expect("stderr"));
        let status = wait_bounded(child, self.timeout);
        let elapsed = start.elapsed();
        let stdout = out.join().expect("stdout reader");
        let stderr = err.join().expect("stderr reader");
        match status {
            Some(s) => Output {
                code: s.code(),
                stdout,
                stderr,
                elapsed,
            },
            None => panic!(
                "infergate ran longer than {:?} and was killed\n--- stdout ---\n{stdout}\n--- stderr ---\n{stderr}",
                self.timeout
            ),
        }
    }
}

fn drain<R: Read + Send + 'static>(mut r: R) -> thread::JoinHandle<String> {
    thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = r.read_to_end(&mut buf);
        String::from_utf8_lossy(&buf).into_owned()
    })
}

/// Wait for `child` at most `limit`; on timeout kill it (by its pid, which stays reserved until
/// it is reaped) and return `None`.
pub fn wait_bounded(mut child: Child, limit: Duration) -> Option<ExitStatus> {
    let pid = child.id();
    let (tx, rx) = mpsc::channel();
    let waiter = thread::spawn(move || {
        let _ = tx.send(child.wait());
    });
    match rx.recv_timeout(limit) {
        Ok(status) => {
            let _ = waiter.join();
            Some(status.expect("wait for infergate"))
        }
        Err(_) => {
            signal(pid, "KILL");
            let _ = rx.recv_timeout(Duration::from_secs(10));
            None
        }
    }
}

/// Send a signal (`TERM`, `KILL`) to one process we started.
pub fn signal(pid: u32, name: &str) {
    let _ = Command::new("kill")
        .arg(format!("-{name}"))
        .arg(pid.to_string())
        .status();
}

/// A listening socket nobody serves: point a command at it, then prove the command never
/// connected (a connection completes in the kernel backlog even if never accepted, so a
/// non-blocking `accept` after the command exited finds it).
pub struct SilentListener {
    listener: TcpListener,
    /// `http://127.0.0.1:PORT`.
    pub url: String,
}

impl SilentListener {
    /// Bind 127.0.0.1:0.
    pub fn new() -> SilentListener {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        listener.set_nonblocking(true).expect("non-blocking");
        let url = format!("http://{}", listener.local_addr().expect("addr"));
        SilentListener { listener, url }
    }

    /// Panic when anything connected.
    pub fn assert_untouched(&self, what: &str) {
        match self.listener.accept() {
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
            Ok((_, peer)) => panic!("{what}: a connection was opened (from {peer})"),
            Err(e) => panic!("{what}: accept failed: {e}"),
        }
    }
}

impl Default for SilentListener {
    fn default() -> Self {
        SilentListener::new()
    }
}

/// A URL on which nothing listens (a port bound and released).
pub fn closed_port_url() -> String {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = l.local_addr().expect("addr");
    drop(l);
    format!("http://{addr}")
}

/// A simulated deployment served in-process on a loopback port, stopped on drop.
pub struct Sim {
    runtime: tokio::runtime::Runtime,
    server: Option<SimServer>,
    /// `http://127.0.0.1:PORT`.
    pub url: String,
    /// The bound address.
    pub addr: SocketAddr,
}

impl Sim {
    /// Start `cfg` on 127.0.0.1:0.
    pub fn start(cfg: SimConfig) -> Sim {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("tokio runtime");
        let server = runtime
            .block_on(infergate_sim::server::start(
                cfg,
                "127.0.0.1:0".parse().expect("addr"),
            ))
            .expect("start the simulated deployment");
        let addr = server.local_addr();
        Sim {
            runtime,
            server: Some(server),
            url: format!("http://{addr}"),
            addr,
        }
    }

    /// GET `path` and return the body (status must be 200).
    pub fn get(&self, path: &str) -> String {
        http_get(self.addr, path).1
    }
}

impl Drop for Sim {
    fn drop(&mut self) {
        if let Some(s) = self.server.take() {
            self.runtime.block_on(s.shutdown());
        }
    }
}

/// A healthy simulated node of `profile` with `workers` GPUs free and the given router.
pub fn sim_config(profile: &str, workers: u32, router: infergate_sim::RouterKind) -> SimConfig {
    let mut cfg = SimConfig::for_profile(profile)
        .expect("profile")
        .with_gpus_free(workers)
        .expect("gpus free");
    cfg.router = router;
    cfg.seed = 7;
    cfg
}

/// A plain HTTP/1.1 GET with a 10 s bound; returns (status code, body).
pub fn http_get(addr: SocketAddr, path: &str) -> (u16, String) {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(5)).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .expect("write request");
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).expect("read response");
    let text = String::from_utf8_lossy(&raw).into_owned();
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    (status, body)
}

/// A running `infergate sim` child process.
pub struct SimProcess {
    child: Option<Child>,
    /// The first stdout line.
    pub first_line: String,
    /// Parsed from the first line.
    pub addr: SocketAddr,
}

impl SimProcess {
    /// Spawn `infergate sim <args>` and read its first stdout line (10 s bound).
    pub fn spawn(args: &[&str]) -> SimProcess {
        let mut cmd = Command::new(bin());
        cmd.arg("sim").args(args);
        for (k, _) in std::env::vars_os() {
            if k.to_str().is_some_and(is_ambient_knob) {
                cmd.env_remove(&k);
            }
        }
        let mut child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn infergate sim");
        let stdout = child.stdout.take().expect("stdout");
        let (tx, rx) = mpsc::channel();
        thread::spawn(move || {
            let mut r = BufReader::new(stdout);
            let mut line = String::new();
            let _ = r.read_line(&mut line);
            let _ = tx.send(line);
            // Keep draining so the server never blocks on a full pipe.
            let mut sink = Vec::new();
            let _ = r.read_to_end(&mut sink);
        });
        let first_line = match rx.recv_timeout(Duration::from_secs(10)) {
            Ok(l) => l.trim_end_matches(['\r', '\n']).to_string(),
            Err(_) => {
                signal(child.id(), "KILL");
                let _ = wait_bounded(child, Duration::from_secs(5));
                panic!("infergate sim printed no line within 10 s");
            }
        };
        let addr = first_line
            .strip_prefix("listening on http://")
            .and_then(|a| a.parse().ok())
            .unwrap_or_else(|| panic!("unexpected first line {first_line:?}"));
        SimProcess {
            child: Some(child),
            first_line,
            addr,
        }
    }

    /// `http://ADDR`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// SIGTERM, then wait (10 s bound); returns the exit status.
    pub fn terminate(mut self) -> Option<ExitStatus> {
        let child = self.child.take().expect("running");
        signal(child.id(), "TERM");
        wait_bounded(child, Duration::from_secs(10))
    }
}

impl Drop for SimProcess {
    fn drop(&mut self) {
        if let Some(child) = self.child.take() {
            signal(child.id(), "KILL");
            let _ = wait_bounded(child, Duration::from_secs(5));
        }
    }
}

/// Read and parse a JSON file.
pub fn read_json(path: &Path) -> Value {
    let text = std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{} is not JSON: {e}", path.display()))
}

/// This crate's `tests/data/<name>`.
pub fn data(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests")
        .join("data")
        .join(name)
}

/// AICR's parser (reference §2.11): the first occurrence of the sentinel, the next occurrence
/// after it, the text between them trimmed, decoded as JSON.
pub fn parse_sentinel_frame(text: &str, sentinel: &str) -> Value {
    let start = text
        .find(sentinel)
        .unwrap_or_else(|| panic!("sentinel {sentinel:?} not found in {text:?}"))
        + sentinel.len();
    let end = text[start..]
        .find(sentinel)
        .unwrap_or_else(|| panic!("end sentinel {sentinel:?} not found"))
        + start;
    serde_json::from_str(text[start..end].trim()).expect("the framed payload is JSON")
}

/// The `request stream sha256 <hex>` the CLI prints.
pub fn printed_digest(text: &str) -> String {
    let i = text
        .find("request stream sha256 ")
        .unwrap_or_else(|| panic!("no request stream digest in {text:?}"));
    let hex: String = text[i + "request stream sha256 ".len()..]
        .chars()
        .take_while(|c| c.is_ascii_hexdigit())
        .collect();
    assert_eq!(hex.len(), 64, "a SHA-256 is 64 hex digits: {hex:?}");
    hex
}

/// `text` is `<digits>.<two digits>`, as Go's `%.2f` prints a non-negative number.
pub fn is_fixed_2(text: &str) -> bool {
    match text.split_once('.') {
        Some((int, frac)) => {
            !int.is_empty()
                && int.bytes().all(|b| b.is_ascii_digit())
                && frac.len() == 2
                && frac.bytes().all(|b| b.is_ascii_digit())
        }
        None => false,
    }
}

/// The number in `line` between `prefix` and `suffix`, when the line is exactly that shape
/// with a `%.2f` number.
pub fn fixed_2_between(line: &str, prefix: &str, suffix: &str) -> Option<f64> {
    let n = line.strip_prefix(prefix)?.strip_suffix(suffix)?;
    is_fixed_2(n).then(|| n.parse().ok()).flatten()
}

/// The CTRF JSON schema validator (a copy of /work/shared/reference/ctrf.schema.json).
pub fn ctrf_validator() -> jsonschema::Validator {
    let schema: Value =
        serde_json::from_str(include_str!("../data/ctrf.schema.json")).expect("schema is JSON");
    jsonschema::validator_for(&schema).expect("a valid schema")
}

/// Validate a CTRF file against the schema and return it; its one test must have `status`.
pub fn assert_ctrf(path: &Path, status: &str) -> Value {
    let json = read_json(path);
    let v = ctrf_validator();
    let errors: Vec<String> = v.iter_errors(&json).map(|e| e.to_string()).collect();
    assert!(errors.is_empty(), "CTRF schema errors {errors:?}\n{json:#}");
    let test = &json["results"]["tests"][0];
    assert_eq!(test["name"], "inference-perf", "{json:#}");
    assert_eq!(test["status"], status, "{json:#}");
    assert_eq!(
        test["suite"],
        serde_json::json!(["performance"]),
        "{json:#}"
    );
    assert_eq!(json["results"]["summary"]["tests"], 1, "{json:#}");
    assert_eq!(json["results"]["summary"][status], 1, "{json:#}");
    json
}

/// Write `text` to `dir/name` and return the path.
pub fn write_file(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).expect("write test file");
    p
}

/// A self-contained gated recipe (dynamo-platform, inference-perf) with these constraints and
/// `gpusPerNode`.
pub fn recipe_yaml(constraints: &[(&str, &str)], gpus_per_node: u32) -> String {
    let mut s = format!(
        "kind: RecipeMetadata\napiVersion: aicr.run/v1beta1\nmetadata:\n  name: test\nspec:\n  \
         componentRefs:\n    - name: dynamo-platform\n      type: Helm\n  infergate:\n    \
         gpusPerNode: {gpus_per_node}\n  validation:\n    performance:\n      checks:\n        \
         - inference-perf\n      constraints:\n"
    );
    for (name, value) in constraints {
        s.push_str(&format!(
            "        - name: {name}\n          value: {}\n",
            serde_json::to_string(value).expect("quote")
        ));
    }
    s
}
