#!/usr/bin/env bash
# Cost of the real-time simulated deployment at the demo's operating point: h100x8 with 2 GPUs
# free (2 workers), concurrency 512, 128/128, against a minimal client. Prints what the client
# saw, the server's CPU seconds, and the virtual-time prediction of the same scenario.
# Usage: bench/sim-realtime.sh [CONCURRENCY] [REQUESTS]
set -euo pipefail
cd "$(dirname "$0")/.."
C=${1:-512}
N=${2:-2048}
cargo build -q --release -p infergate-sim --example load
cargo build -q --release -p infergate
BIN=${CARGO_TARGET_DIR:-target}/release
out=$(mktemp)
"$BIN/infergate" sim --profile h100x8 --gpus-free 2 >"$out" 2>/dev/null &
pid=$!
trap 'kill $pid 2>/dev/null || true; rm -f "$out"' EXIT
for _ in $(seq 100); do grep -q listening "$out" && break; sleep 0.1; done
addr=$(sed -n 's#listening on http://##p' "$out")
ticks() { awk '{print $14+$15}' "/proc/$pid/stat"; }
t0=$(ticks)
"$BIN/examples/load" "$addr" "$C" "$N" 128 128
t1=$(ticks)
echo "server CPU: $(awk -v a="$t0" -v b="$t1" 'BEGIN{printf "%.2f", (b-a)/100}') s"
echo "virtual-time prediction (no warmup):"
"$BIN/infergate" sim --profile h100x8 --gpus-free 2 --virtual --concurrency "$C" --request-count "$N" --warmup 0 | sed -n 2,3p
