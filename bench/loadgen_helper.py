#!/usr/bin/env python3
"""Helper of bench/loadgen.sh (standard library only, except `train-tokenizer`).

Subcommands:
  sample OUT -- CMD...      run CMD; sample its process tree's CPU and RSS until it exits
  row ...                   one measured run -> one JSON line (see `row --help`)
  table ROWS.jsonl OUT.md   markdown tables of every run, ratios infergate/AIPerf, target checks
  train-tokenizer DIR       a small BPE tokenizer.json (needs the `tokenizers` package)
"""

import argparse
import json
import os
import sys
import time

TICK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


# ------------------------------------------------------------------ process-tree sampler


def _proc_table():
    """pid -> (ppid, cpu_seconds, rss_bytes) for every readable process."""
    out = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat", "rb") as f:
                raw = f.read().decode("latin-1")
        except OSError:
            continue
        rest = raw[raw.rfind(")") + 2 :].split()
        # fields after the comm: state(0) ppid(1) ... utime(11) stime(12) ... rss(21)
        try:
            out[int(name)] = (int(rest[1]), (int(rest[11]) + int(rest[12])) / TICK, int(rest[21]) * PAGE)
        except (IndexError, ValueError):
            continue
    return out


def _pss(pid):
    """Proportional set size in bytes (shared pages split between the processes sharing them),
    so summing it over a process tree does not count shared libraries once per process."""
    try:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            for line in f:
                if line.startswith("Pss:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def _tree(root, table):
    children = {}
    for pid, (ppid, _, _) in table.items():
        children.setdefault(ppid, []).append(pid)
    seen, stack = [], [root]
    while stack:
        p = stack.pop()
        if p in table and p not in seen:
            seen.append(p)
            stack.extend(children.get(p, []))
    return seen


def cmd_sample(a):
    """Run the command and sample its process tree until it exits: peak of the summed RSS of the
    tree, the per-process peak, and the sum over every process ever seen of its last CPU reading
    (a lower bound: the last interval of each is missed), plus the time series of both. Exits
    with the command's status."""
    import subprocess

    cmd = a.command[1:] if a.command[:1] == ["--"] else a.command
    child = subprocess.Popen(cmd)
    root = child.pid
    peak_sum = peak_one = peak_pss = 0
    procs_peak = 0
    cpu_last = {}
    series = []  # (unix ns, cumulative tree CPU s, tree RSS bytes)
    while True:
        table = _proc_table()
        if root not in table or child.poll() is not None:
            break
        # The root is /usr/bin/time; the client is its descendant tree.
        pids = [p for p in _tree(root, table) if p != root]
        rss = [table[p][2] for p in pids]
        peak_sum = max(peak_sum, sum(rss))
        pss = [_pss(p) for p in pids]
        pss_sum = sum(x if x is not None else r for x, r in zip(pss, rss))
        peak_pss = max(peak_pss, pss_sum)
        peak_one = max(peak_one, max(rss) if rss else 0)
        procs_peak = max(procs_peak, len(pids))
        for p in pids:
            cpu_last[p] = table[p][1]
        series.append((time.time_ns(), sum(cpu_last.values()), pss_sum))
        time.sleep(a.interval)
    with open(a.out, "w") as f:
        json.dump(
            {
                "peak_tree_rss_mb": peak_sum / 1e6,
                "peak_tree_pss_mb": peak_pss / 1e6,
                "peak_process_rss_mb": peak_one / 1e6,
                "processes_peak": procs_peak,
                "tree_cpu_s_lower_bound": sum(cpu_last.values()),
                "series": series,
            },
            f,
        )
    sys.exit(child.wait())


# ------------------------------------------------------------------ one run -> one row


def _time_v(path):
    """user+sys seconds, max RSS (MB) and elapsed seconds from `/usr/bin/time -v`."""
    out = {"cpu_s": None, "maxrss_mb": None, "elapsed_s": None, "exit": None}
    try:
        text = open(path).read()
    except OSError:
        return out
    user = sys_ = 0.0
    for line in text.splitlines():
        k, _, v = line.strip().rpartition(": ")
        if k == "User time (seconds)":
            user = float(v)
        elif k == "System time (seconds)":
            sys_ = float(v)
        elif k == "Maximum resident set size (kbytes)":
            out["maxrss_mb"] = int(v) * 1024 / 1e6
        elif k.startswith("Elapsed (wall clock) time"):
            parts = [float(x) for x in v.split(":")]
            s = 0.0
            for x in parts:
                s = s * 60 + x
            out["elapsed_s"] = s
        elif k == "Exit status":
            out["exit"] = int(v)
    out["cpu_s"] = user + sys_
    return out


def _in_flight(intervals):
    """Max and time-weighted mean number of overlapping [start, end) intervals, over the span
    from the first start to the last end."""
    if not intervals:
        return None, None
    ev = []
    for s, e in intervals:
        ev.append((s, 1))
        ev.append((max(e, s), -1))
    ev.sort(key=lambda x: (x[0], x[1]))
    cur = peak = 0
    area = 0.0
    last = ev[0][0]
    for t, d in ev:
        area += cur * (t - last)
        last = t
        cur += d
        peak = max(peak, cur)
    span = ev[-1][0] - ev[0][0]
    return peak, (area / span if span > 0 else float(peak))


def _pct(sorted_values, p):
    """Linear interpolation between closest ranks (numpy's default), as infergate-stats."""
    if not sorted_values:
        return None
    h = (len(sorted_values) - 1) * p / 100.0
    lo = int(h)
    hi = min(lo + 1, len(sorted_values) - 1)
    return sorted_values[lo] + (h - lo) * (sorted_values[hi] - sorted_values[lo])


def _interp(series, t):
    """Cumulative CPU at wall time t, linearly interpolated between samples."""
    if t < series[0][0] or t > series[-1][0] + 1e9:
        return None
    prev = series[0]
    for cur in series:
        if cur[0] >= t:
            if cur[0] == prev[0]:
                return cur[1]
            w = (t - prev[0]) / (cur[0] - prev[0])
            return prev[1] + w * (cur[1] - prev[1])
        prev = cur
    return series[-1][1]


def _records_infergate(path):
    ivs, failed, head = [], 0, []
    with open(path) as f:
        for line in f:
            r = json.loads(line)
            if r.get("phase") != "profile":
                continue
            if r.get("failure"):
                failed += 1
            ivs.append((r["send_ns"], r["end_ns"]))
            if r.get("headers_ns") is not None:
                head.append((r["headers_ns"] - r["send_ns"]) / 1e6)
    return ivs, failed, head


def _records_aiperf(path):
    ivs, failed, head = [], 0, []
    with open(path) as f:
        for line in f:
            r = json.loads(line)
            m = r.get("metadata", {})
            if m.get("benchmark_phase", "profiling") not in ("profiling", "profile"):
                continue
            if r.get("error"):
                failed += 1
            s, e = m.get("request_start_ns"), m.get("request_end_ns")
            if s is not None and e is not None:
                ivs.append((s, e))
            ack = m.get("request_ack_ns")
            if s is not None and ack is not None:
                head.append((ack - s) / 1e6)
    return ivs, failed, head


def _find(d, name):
    for root, _, files in os.walk(d):
        if name in files:
            return os.path.join(root, name)
    return None


def cmd_row(a):
    row = {
        "tool": a.tool,
        "label": a.label,
        "concurrency": a.concurrency,
        "requests": a.requests,
        "warmup": a.warmup,
        "load_before": a.load_before,
        "load_after": open("/proc/loadavg").read().split()[0],
        "exit": a.exit,
    }
    exp_path = _find(a.export_dir, "profile_export_aiperf.json")
    exp = json.load(open(exp_path)) if exp_path else {}
    row["export_found"] = bool(exp_path)

    def metric(tag, stat):
        v = exp.get(tag)
        return v.get(stat) if isinstance(v, dict) else None

    row["req_per_s"] = metric("request_throughput", "avg")
    row["tok_per_s"] = metric("output_token_throughput", "avg")
    row["osl_avg"] = metric("output_sequence_length", "avg")
    ok = metric("request_count", "avg")
    row["completed"] = ok
    errs = exp.get("error_summary") or []
    row["errors"] = sum(int(e.get("count", 0)) for e in errs if isinstance(e, dict))
    ttft50, ttft99 = metric("time_to_first_token", "p50"), metric("time_to_first_token", "p99")
    itl50, itl99 = metric("inter_token_latency", "p50"), metric("inter_token_latency", "p99")
    row.update(ttft_p50=ttft50, ttft_p99=ttft99, itl_p50=itl50, itl_p99=itl99)

    truth = {}
    try:
        truth = json.load(open(a.truth))
    except (OSError, ValueError):
        pass
    tt, ti = truth.get("ttft_ms") or {}, truth.get("itl_ms") or {}
    row["truth_ttft_p50"], row["truth_ttft_p99"] = tt.get("p50"), tt.get("p99")
    row["truth_itl_p50"], row["truth_itl_p99"] = ti.get("p50"), ti.get("p99")
    row["server_peak_in_flight"] = truth.get("peak_in_flight")
    # Connections the server accepted (the script's own GET /stats is one more).
    row["server_connections"] = truth.get("connections")
    arrivals = truth.get("arrivals") or 0
    row["server_cpu_ms_per_req"] = (
        truth["server_cpu_s"] * 1e3 / arrivals if truth.get("server_cpu_s") is not None and arrivals else None
    )
    row["server_aborted"] = truth.get("aborted")

    def diff(x, y):
        return None if x is None or y is None else x - y

    row["ttft_err_p50"] = diff(ttft50, tt.get("p50"))
    row["ttft_err_p99"] = diff(ttft99, tt.get("p99"))
    row["itl_err_p50"] = diff(itl50, ti.get("p50"))
    row["itl_err_p99"] = diff(itl99, ti.get("p99"))

    tv = _time_v(a.time_file)
    samp = {}
    try:
        samp = json.load(open(a.sampler))
    except (OSError, ValueError):
        pass
    cpu = max(x for x in (tv["cpu_s"], samp.get("tree_cpu_s_lower_bound"), 0.0) if x is not None)
    # Memory: the largest of the single-process peak RSS (exact, from the kernel) and the peak of
    # the PSS summed over the client's process tree (AIPerf runs ~10 processes).
    rss = max(x for x in (tv["maxrss_mb"], samp.get("peak_tree_pss_mb"), 0.0) if x is not None)
    row["client_cpu_s"] = cpu
    row["peak_rss_mb"] = rss
    row["peak_tree_rss_sum_mb"] = samp.get("peak_tree_rss_mb")
    row["processes"] = samp.get("processes_peak")
    row["wall_s"] = tv["elapsed_s"]
    sent = a.requests + a.warmup
    toks = sent * a.osl
    row["cpu_ms_per_req"] = cpu * 1e3 / sent if sent else None
    row["cpu_s_per_mtok"] = cpu / toks * 1e6 if toks else None

    # CPU and RSS over the load phase only: from the server's first arrival to its last
    # completion (wall clock), read off the sampler's series (start-up and export excluded).
    series = samp.get("series") or []
    t0, t1 = truth.get("first_arrival_unix_ns"), truth.get("last_done_unix_ns")
    row["load_cpu_s"] = row["load_cpu_ms_per_req"] = row["load_end_rss_mb"] = None
    row["load_s"] = (t1 - t0) / 1e9 if t0 and t1 and t1 > t0 else None
    if series and row["load_s"]:
        c0, c1 = _interp(series, t0), _interp(series, t1)
        if c0 is not None and c1 is not None and sent:
            row["load_cpu_s"] = c1 - c0
            row["load_cpu_ms_per_req"] = (c1 - c0) * 1e3 / sent
            row["load_cpu_s_per_mtok"] = (c1 - c0) / toks * 1e6
        before = [x[2] for x in series if x[0] <= t1]
        row["load_end_rss_mb"] = before[-1] / 1e6 if before else None

    rec = None
    if a.tool == "infergate":
        rec = os.path.join(a.export_dir, "records.jsonl")
        ivs, failed, head = _records_infergate(rec) if os.path.exists(rec) else ([], None, [])
    else:
        rec = _find(a.export_dir, "profile_export.jsonl")
        ivs, failed, head = _records_aiperf(rec) if rec else ([], None, [])
    peak, mean = _in_flight(ivs)
    row["in_flight_max"], row["in_flight_mean"] = peak, mean
    row["failed_records"] = failed
    # The server answers the response head at once (before the injected TTFT), so the time from
    # send to the response head is the client's + the machine's round-trip overhead alone.
    head.sort()
    row["head_p50"], row["head_p99"] = _pct(head, 50), _pct(head, 99)
    print(json.dumps(row))


# ------------------------------------------------------------------ tables


def _f(v, fmt="{:.0f}", none="–"):
    if v is None:
        return none
    try:
        return fmt.format(v)
    except (ValueError, TypeError):
        return str(v)


def cmd_table(a):
    rows = [json.loads(l) for l in open(a.rows) if l.strip()]
    out = []
    out.append(
        "| tool | run | C | requests (+warmup) | req/s | output tok/s | in flight max / mean (server peak) | "
        "CPU ms/req load (whole) | CPU s/Mtok load | memory MB load end / peak | TTFT err p50 / p99 ms | ITL err p50 / p99 ms | "
        "truth TTFT p50/p99, ITL p50/p99 ms | send→head p50 / p99 ms | server CPU ms/req | errors | wall s | load avg before→after |"
    )
    out.append("|" + "---|" * 18)
    for r in rows:
        out.append(
            "| {tool} | {label} | {c} | {n} (+{w}) | {rps} | {tps} | {ifl} | {cpr} | {cpm} | {rss} | {te} | {ie} | {truth} | {head} | {scpu} | {err} | {wall} | {load} |".format(
                head=f'{_f(r.get("head_p50"), "{:.2f}")} / {_f(r.get("head_p99"), "{:.2f}")}',
                scpu=_f(r.get("server_cpu_ms_per_req"), "{:.3f}"),
                tool=r["tool"],
                label=r["label"],
                c=r["concurrency"],
                n=r["requests"],
                w=r["warmup"],
                rps=_f(r.get("req_per_s"), "{:.1f}"),
                tps=_f(r.get("tok_per_s")),
                ifl=f'{_f(r.get("in_flight_max"))} / {_f(r.get("in_flight_mean"))} ({_f(r.get("server_peak_in_flight"))})',
                cpr=f'{_f(r.get("load_cpu_ms_per_req"), "{:.3f}")} ({_f(r.get("cpu_ms_per_req"), "{:.3f}")})',
                cpm=_f(r.get("load_cpu_s_per_mtok"), "{:.2f}"),
                rss=f'{_f(r.get("load_end_rss_mb"))} / {_f(r.get("peak_rss_mb"))}',
                te=f'{_f(r.get("ttft_err_p50"), "{:+.2f}")} / {_f(r.get("ttft_err_p99"), "{:+.2f}")}',
                ie=f'{_f(r.get("itl_err_p50"), "{:+.3f}")} / {_f(r.get("itl_err_p99"), "{:+.3f}")}',
                truth="{} / {}, {} / {}".format(
                    _f(r.get("truth_ttft_p50"), "{:.2f}"),
                    _f(r.get("truth_ttft_p99"), "{:.2f}"),
                    _f(r.get("truth_itl_p50"), "{:.3f}"),
                    _f(r.get("truth_itl_p99"), "{:.3f}"),
                ),
                err=_errors(r),
                wall=_f(r.get("wall_s"), "{:.1f}"),
                load=f'{r.get("load_before")}→{r.get("load_after")}',
            )
        )
    # Ratios at the concurrencies both tools ran (main runs only).
    ig = {r["concurrency"]: r for r in rows if r["tool"] == "infergate" and r["label"] == "main"}
    ap = {r["concurrency"]: r for r in rows if r["tool"] == "aiperf" and r["label"] == "main"}
    common = sorted(set(ig) & set(ap))
    if common:
        out.append("")
        out.append("Ratios infergate / AIPerf (same server, same workload, same machine):")
        out.append("")
        out.append(
            "| C | req/s | output tok/s | in flight mean | CPU ms/req (load) | peak RSS | |TTFT err p50| | |TTFT err p99| | |ITL err p50| | |ITL err p99| |"
        )
        out.append("|" + "---|" * 10)
        for c in common:
            x, y = ig[c], ap[c]

            def ratio(k, absolute=False):
                u, v = x.get(k), y.get(k)
                if u is None or v is None:
                    return "–"
                if absolute:
                    u, v = abs(u), abs(v)
                return "∞" if v == 0 else f"{u / v:.3g}"

            out.append(
                f"| {c} | {ratio('req_per_s')} | {ratio('tok_per_s')} | {ratio('in_flight_mean')} | "
                f"{ratio('load_cpu_ms_per_req')} | {ratio('peak_rss_mb')} | {ratio('ttft_err_p50', True)} | "
                f"{ratio('ttft_err_p99', True)} | {ratio('itl_err_p50', True)} | {ratio('itl_err_p99', True)} |"
            )
    out.append("")
    out.append("Targets (issue 2), infergate:")
    out.append("")
    for line in _targets(rows):
        out.append(f"- {line}")
    text = "\n".join(out) + "\n"
    with open(a.out, "w") as f:
        f.write(text)
    print(text)


def _errors(r):
    parts = []
    if r.get("errors"):
        parts.append(str(r["errors"]))
    elif r.get("failed_records"):
        parts.append(str(r["failed_records"]))
    else:
        parts.append("0")
    if r.get("exit") not in (0, "0", None):
        parts.append(f"exit {r['exit']}")
    if not r.get("export_found"):
        parts.append("no export")
    return " ".join(parts)


def _targets(rows):
    ig = [r for r in rows if r["tool"] == "infergate"]
    by = {(r["label"], r["concurrency"]): r for r in ig}
    res = []

    def check(ok, text):
        res.append(("MET  " if ok else "MISSED ") + text)

    r = by.get(("main", 2048))
    if r:
        rps = r.get("req_per_s") or 0
        ifl = r.get("in_flight_max") or 0
        ie = r.get("itl_err_p50")
        check(rps >= 2000, f"C=2048: ≥ 2,000 req/s — measured {rps:.0f}")
        check(ifl >= 2048, f"C=2048: all 2048 in flight — max {ifl}, time-weighted mean {_f(r.get('in_flight_mean'))}")
        check(ie is not None and abs(ie) <= 0.2, f"C=2048: ITL error p50 ≤ 0.2 ms — {_f(ie, '{:+.3f}')} ms")
        rss = r.get("peak_rss_mb") or 0
        check(rss <= 150, f"C=2048: ≤ 150 MB RSS — {rss:.0f} MB ({r['requests']} + {r['warmup']} requests)")
    r = by.get(("main", 512))
    if r:
        a, b = r.get("ttft_err_p50"), r.get("ttft_err_p99")
        check(a is not None and abs(a) <= 2, f"C=512: TTFT error p50 ≤ 2 ms — {_f(a, '{:+.2f}')} ms")
        check(b is not None and abs(b) <= 6, f"C=512: TTFT error p99 ≤ 6 ms — {_f(b, '{:+.2f}')} ms")
    cpu = [(r["concurrency"], r["label"], r.get("load_cpu_ms_per_req")) for r in ig if r.get("load_cpu_ms_per_req") is not None]
    for c, l, v in cpu:
        check(v <= 0.5, f"≤ 0.5 ms client CPU per request (load phase) at C={c}{'' if l == 'main' else ' (' + l + ')'} — {v:.3f} ms")
    small, big = by.get(("main", 2048)), by.get(("growth", 2048))
    if small and big:
        a, b = small.get("peak_rss_mb") or 0, big.get("peak_rss_mb") or 0
        la, lb = small.get("load_end_rss_mb"), big.get("load_end_rss_mb")
        check(
            b <= a * 1.25 + 10,
            f"flat memory at C=2048: peak {a:.0f} MB at {small['requests']} requests vs {b:.0f} MB at "
            f"{big['requests']} (at the end of the load phase, before the exports: {_f(la)} vs {_f(lb)} MB)",
        )
    r = by.get(("10k", 10000))
    if r:
        e = r.get("errors") or r.get("failed_records") or 0
        server_peak = r.get("server_peak_in_flight")
        conns = r.get("server_connections")
        ok = (
            e == 0
            and r.get("export_found")
            and r.get("exit") in (0, "0")
            and (r.get("in_flight_max") or 0) >= 10000
            and (conns is None or conns >= 10000)
        )
        check(
            bool(ok),
            f"10,000 concurrent streams without error — errors {e}, exit {r.get('exit')}, "
            f"{_f(r.get('in_flight_max'))} requests in flight at once at the client on "
            f"{_f(conns)} server connections; at most {_f(server_peak)} responses streaming at the "
            "same instant at the server (the rest were in transit on the saturated machine)",
        )
    return res


# ------------------------------------------------------------------ tokenizer for AIPerf


def cmd_train_tokenizer(a):
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    text_files = a.text
    tok = Tokenizer(models.BPE(unk_token=None))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=8000,
        special_tokens=["<|endoftext|>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train(text_files, trainer)
    os.makedirs(a.dir, exist_ok=True)
    tok.save(os.path.join(a.dir, "tokenizer.json"))
    with open(os.path.join(a.dir, "tokenizer_config.json"), "w") as f:
        json.dump(
            {
                "tokenizer_class": "PreTrainedTokenizerFast",
                "bos_token": "<|endoftext|>",
                "eos_token": "<|endoftext|>",
                "unk_token": "<|endoftext|>",
                "model_max_length": 1000000,
            },
            f,
        )
    n = len(tok.encode(" the" * 128).ids)
    print(f"tokenizer: {a.dir} (vocab {tok.get_vocab_size()}, 128 x ' the' -> {n} tokens)")


def main():
    p = argparse.ArgumentParser()
    sub = p.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("sample")
    s.add_argument("--interval", type=float, default=0.2)
    s.add_argument("out")
    s.add_argument("command", nargs=argparse.REMAINDER)
    s.set_defaults(fn=cmd_sample)
    r = sub.add_parser("row")
    r.add_argument("--tool", required=True)
    r.add_argument("--label", default="main")
    r.add_argument("--concurrency", type=int, required=True)
    r.add_argument("--requests", type=int, required=True)
    r.add_argument("--warmup", type=int, required=True)
    r.add_argument("--osl", type=int, default=128)
    r.add_argument("--export-dir", required=True)
    r.add_argument("--time-file", required=True)
    r.add_argument("--sampler", required=True)
    r.add_argument("--truth", required=True)
    r.add_argument("--load-before", default="")
    r.add_argument("--exit", type=int, default=None)
    r.set_defaults(fn=cmd_row)
    t = sub.add_parser("table")
    t.add_argument("rows")
    t.add_argument("out")
    t.set_defaults(fn=cmd_table)
    k = sub.add_parser("train-tokenizer")
    k.add_argument("dir")
    k.add_argument("text", nargs="+")
    k.set_defaults(fn=cmd_train_tokenizer)
    a = p.parse_args()
    a.fn(a)


if __name__ == "__main__":
    main()
