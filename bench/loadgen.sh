#!/usr/bin/env bash
# Benchmark of the load generator itself (issue 2, point 3): drives a local streaming server with
# FIXED injected delays (crates/sim/examples/fixed_delay_server.rs: 50 ms TTFT, 5 ms per token,
# 128 tokens) with `infergate bench` at concurrency 1, 64, 512, 2048 and 8192, plus a memory-growth
# pair (2048 streams, 20k vs 60k requests) and a 10,000-stream run, then with AIPerf 0.13 at 64,
# 512 and 2048, against the same server binary on the same machine. For every run it prints:
# achieved requests/s and output tokens/s (from profile_export_aiperf.json), requests in flight
# (max and time-weighted mean, from the per-request records), client CPU (user+system of the
# client's whole process tree, start-up and exports included) per request and per million output
# tokens, peak RSS (summed over the client's process tree), and TTFT/ITL error = the client's
# p50/p99 minus the server's ground truth p50/p99 (what the server really injected, timer
# lateness included; GET /stats?skip=WARMUP on the server). Definitions: docs/performance.md.
#
# Usage: bench/loadgen.sh [--no-aiperf] [--quick] [--only infergate|aiperf] [--runs LIST] [--out DIR]
#   --no-aiperf   skip AIPerf (also skipped, with a message, when its install fails)
#   --quick       a quarter of the request counts, at least C (a smoke run, not for the record)
#   --runs LIST   only these runs, as LABEL-C separated by commas (e.g. main-512,growth-2048)
#   --out DIR     where to write results (default bench/out/loadgen-DATE)
#   --no-build    use the release binaries already in the target folder (e.g. while the tree
#                 does not compile)
#   --nice N      run server and clients at this niceness, and set the session's scheduler
#                 autogroup to it (e.g. -10, needs root), so that other work on a shared machine
#                 starves the measurement less; restored on exit. Start the script with
#                 `setsid` so that only its own session is raised.
# Needs: cargo, python3 (with venv), curl, /usr/bin/time (apt-get install time).
# The tables go to stdout and DIR/results.md; raw outputs stay under DIR.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

NO_AIPERF=0
QUICK=0
ONLY=
OUT=
NICE=
NO_BUILD=0
RUNS=
while [ $# -gt 0 ]; do
    case "$1" in
    --no-aiperf) NO_AIPERF=1 ;;
    --quick) QUICK=1 ;;
    --only) ONLY=$2; shift ;;
    --nice) NICE=$2; shift ;;
    --no-build) NO_BUILD=1 ;;
    --runs) RUNS=",$2,"; shift ;;
    --out) OUT=$2; shift ;;
    -h | --help) sed -n '2,22p' "$0"; exit 0 ;;
    *) echo "unknown argument: $1 (valid: --no-aiperf, --quick, --only infergate|aiperf, --runs LIST, --out DIR, --nice N, --no-build)" >&2; exit 2 ;;
    esac
    shift
done
OUT=${OUT:-bench/out/loadgen-$(date +%Y%m%d-%H%M%S)}
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
HELPER="python3 $ROOT/bench/loadgen_helper.py"
PRIO=()
if [ -n "$NICE" ]; then
    PRIO=(nice -n "$NICE")
    "${PRIO[@]}" true 2>/dev/null || { echo "--nice $NICE: not permitted here" >&2; exit 2; }
    # With autogroup scheduling (kernel.sched_autogroup_enabled=1) the CPU is shared between
    # sessions first and a process's nice only counts inside its own session, so the session's
    # autogroup gets the niceness too, and its previous value back on exit.
    if [ -w "/proc/$$/autogroup" ]; then
        OLD_AUTOGROUP_NICE=$(sed -n 's/.* nice //p' "/proc/$$/autogroup")
        if echo "$NICE" >"/proc/$$/autogroup" 2>/dev/null; then
            trap 'echo "${OLD_AUTOGROUP_NICE:-0}" >"/proc/$$/autogroup" 2>/dev/null || true' EXIT
        fi
    fi
fi
TTFT_MS=50
ITL_MS=5
OSL=128

for tool in curl python3; do
    command -v "$tool" >/dev/null || { echo "missing $tool" >&2; exit 2; }
done
if [ ! -x /usr/bin/time ]; then
    echo "installing GNU time (/usr/bin/time) ..." >&2
    (apt-get install -y -q time >/dev/null 2>&1 || sudo apt-get install -y -q time >/dev/null 2>&1) ||
        { echo "/usr/bin/time is missing: apt-get install time" >&2; exit 2; }
fi

# One file descriptor per stream (client and server each): 10,000 streams need more than 10k.
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"
if [ "$(ulimit -n)" != unlimited ] && [ "$(ulimit -n)" -lt 10500 ]; then
    echo "warning: ulimit -n is $(ulimit -n); the 10,000-stream run needs more than 10,500" >&2
fi

TARGET=${CARGO_TARGET_DIR:-target}
if [ "$NO_BUILD" = 1 ]; then
    for bin in "$TARGET/release/infergate" "$TARGET/release/examples/fixed_delay_server"; do
        [ -x "$bin" ] || { echo "--no-build: $bin is missing; build it first" >&2; exit 2; }
    done
    echo "== using the existing release binaries (--no-build)" >&2
else
    echo "== building (release)" >&2
    cargo build -q --release -p infergate
    cargo build -q --release -p infergate-sim --example fixed_delay_server
fi
INFERGATE=$(cd "$TARGET/release" && pwd)/infergate
SERVER=$(cd "$TARGET/release/examples" && pwd)/fixed_delay_server

# ------------------------------------------------------------------ AIPerf (optional)
AIPERF=
TOKENIZER=
if [ "$NO_AIPERF" = 1 ] || [ "$ONLY" = infergate ]; then
    echo "== AIPerf skipped (--no-aiperf / --only infergate)" >&2
else
    VENV=$ROOT/bench/.venv
    echo "== AIPerf 0.13.0 in $VENV (first time: a few minutes)" >&2
    if { [ -x "$VENV/bin/aiperf" ] || { python3 -m venv "$VENV" &&
        "$VENV/bin/pip" install -q aiperf==0.13.0 tokenizers >"$OUT/pip.log" 2>&1; }; } &&
        "$VENV/bin/python" -c 'import tokenizers' 2>/dev/null; then
        AIPERF=$VENV/bin/aiperf
        # AIPerf must load a tokenizer offline: a BPE tokenizer.json trained on the bundled corpus.
        # (HF_HUB_OFFLINE is deliberately not set: AIPerf 0.13 rejects a local path with it.)
        TOKENIZER=$ROOT/bench/out/tokenizer
        if [ ! -f "$TOKENIZER/tokenizer.json" ]; then
            "$VENV/bin/python" "$ROOT/bench/loadgen_helper.py" train-tokenizer "$TOKENIZER" \
                "$ROOT/crates/workload/assets/shakespeare.txt" >&2
        fi
    else
        echo "== AIPerf skipped: installing aiperf==0.13.0 into $VENV failed (see $OUT/pip.log)" >&2
    fi
fi

# ------------------------------------------------------------------ one measured run
ROWS=$OUT/rows.jsonl
: >"$ROWS"

# run_one TOOL LABEL CONCURRENCY REQUESTS WARMUP
run_one() {
    local tool=$1 label=$2 c=$3 n=$4 w=$5
    if [ -n "$RUNS" ] && [[ $RUNS != *",$label-$c,"* ]]; then
        return 0
    fi
    if [ "$QUICK" = 1 ]; then
        n=$(((n + 3) / 4))
        [ "$n" -lt "$c" ] && n=$c
        [ "$w" -gt "$n" ] && w=$n
    fi
    local dir=$OUT/$tool-$label-c$c
    mkdir -p "$dir"
    "${PRIO[@]}" "$SERVER" --ttft-ms "$TTFT_MS" --itl-ms "$ITL_MS" --default-tokens "$OSL" >"$dir/server.out" 2>"$dir/server.err" &
    local spid=$!
    local url=
    for _ in $(seq 200); do
        url=$(sed -n 's#^listening on ##p' "$dir/server.out")
        [ -n "$url" ] && break
        sleep 0.05
    done
    if [ -z "$url" ]; then
        echo "server did not start (see $dir/server.err)" >&2
        kill "$spid" 2>/dev/null || true
        return 1
    fi
    local load_before
    load_before=$(cut -d' ' -f1 /proc/loadavg)
    echo "== $tool $label: concurrency $c, $n requests + $w warmup (load $load_before)" >&2
    local cmd
    if [ "$tool" = infergate ]; then
        cmd=("$INFERGATE" bench --url "$url" --model m --endpoint-type chat --streaming
            --concurrency "$c" --request-count "$n" --warmup-request-count "$w"
            --input-tokens-mean 128 --input-tokens-stddev 0 --output-tokens-mean "$OSL" --output-tokens-stddev 0
            --num-dataset-entries 100 --random-seed 100 --extra-inputs temperature:0
            --request-timeout 300s --no-progress --output-dir "$dir/export")
    else
        cmd=("$AIPERF" profile --model m --url "$url" --endpoint-type chat --streaming
            --tokenizer "$TOKENIZER" --concurrency "$c" --request-count "$n" --warmup-request-count "$w"
            --isl 128 --isl-stddev 0 --osl "$OSL" --osl-stddev 0
            --num-dataset-entries 100 --random-seed 100 --extra-inputs temperature:0
            --ui none --no-server-metrics --no-gpu-telemetry --artifact-dir "$dir/export")
    fi
    local rc=0
    $HELPER sample "$dir/sampler.json" -- "${PRIO[@]}" /usr/bin/time -v -o "$dir/time.txt" "${cmd[@]}" \
        >"$dir/client.log" 2>&1 || rc=$?
    curl -s --max-time 30 "$url/stats?skip=$w" >"$dir/truth.json" || true
    kill -TERM "$spid" 2>/dev/null || true
    wait "$spid" 2>/dev/null || true
    if [ "$rc" != 0 ]; then
        echo "   $tool exited $rc (last lines of $dir/client.log):" >&2
        tail -5 "$dir/client.log" >&2 || true
    fi
    $HELPER row --tool "$tool" --label "$label" --concurrency "$c" --requests "$n" --warmup "$w" \
        --osl "$OSL" --export-dir "$dir/export" --time-file "$dir/time.txt" --sampler "$dir/sampler.json" \
        --truth "$dir/truth.json" --load-before "$load_before" --exit "$rc" >>"$ROWS"
    python3 - "$ROWS" <<'EOF' >&2
import json, sys
r = [json.loads(l) for l in open(sys.argv[1])][-1]
f = lambda v, s="{:.1f}": "-" if v is None else s.format(v)
print(f"   req/s {f(r['req_per_s'])}  tok/s {f(r['tok_per_s'], '{:.0f}')}  in-flight max {r['in_flight_max']}"
      f"  CPU {f(r['cpu_ms_per_req'], '{:.3f}')} ms/req  RSS {f(r['peak_rss_mb'], '{:.0f}')} MB"
      f"  TTFT err {f(r['ttft_err_p50'], '{:+.2f}')}/{f(r['ttft_err_p99'], '{:+.2f}')} ms"
      f"  ITL err {f(r['itl_err_p50'], '{:+.3f}')}/{f(r['itl_err_p99'], '{:+.3f}')} ms  wall {f(r['wall_s'])} s")
EOF
}

START=$(date +%s)
{
    echo "# bench/loadgen.sh — $(date -u +%Y-%m-%dT%H:%M:%SZ)"
    echo
    echo "- machine: $(nproc) CPUs ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//')), $(free -g | awk '/Mem:/{print $2}') GB RAM, $(uname -sr)"
    echo "- load average at start: $(cut -d' ' -f1-3 /proc/loadavg) (shared machine: other builds run at the same time)"
    echo "- commit: $(git rev-parse --short HEAD 2>/dev/null || echo unknown)$(git diff --quiet 2>/dev/null || echo ' (+ uncommitted changes in the tree)')"
    echo "- server: fixed_delay_server, ${TTFT_MS} ms TTFT, ${ITL_MS} ms per token, ${OSL} tokens, $(nproc) threads; client and server share the machine"
    echo "- workload: 128 input / 128 output tokens (stddev 0), 100 entries, seed 100, temperature 0, closed loop"
    [ "$QUICK" = 1 ] && echo "- --quick: a quarter of the request counts"
    [ -n "$NICE" ] && echo "- server and clients run at niceness $NICE, and so does this script's session autogroup ($(cat /proc/$$/autogroup 2>/dev/null || echo 'no autogroup')); other work on the machine at 0"
    echo
} >"$OUT/results.md"

if [ "$ONLY" != aiperf ]; then
    #        tool      label  C     requests warmup    (~10-20 s each at the expected rate)
    run_one infergate main 1 20 1
    run_one infergate main 64 1600 64
    run_one infergate main 512 8000 512
    run_one infergate main 2048 20000 2048
    run_one infergate growth 2048 60000 2048
    run_one infergate main 8192 30000 8192
    run_one infergate 10k 10000 20000 10000
fi
if [ -n "$AIPERF" ]; then
    # AIPerf reaches ~100 req/s here, so fewer requests keep each run under a minute.
    run_one aiperf main 64 1000 64
    run_one aiperf main 512 2000 512
    run_one aiperf main 2048 4096 2048
fi

$HELPER table "$ROWS" "$OUT/table.md" >/dev/null
cat "$OUT/table.md" >>"$OUT/results.md"
echo "- total script time: $(($(date +%s) - START)) s" >>"$OUT/results.md"
cat "$OUT/results.md"
echo "(written to $OUT/results.md)" >&2
