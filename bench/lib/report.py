#!/usr/bin/env python3
"""Assemble per-target results from bench/run.sh into a table and a JSON file.

Each round's result ($WORK/results/NAME/ROUND.json) holds wrk's summary (from
lib/post.lua's done() callback) and the server process accounting gathered by run.sh.
With several rounds every metric is the median over the rounds (per metric, so p99 and
req/s may come from different rounds); the per-round req/s are kept in the JSON.
Every target other than the baselines `direct` and `nginx` gets ratios against both.
"""

import argparse
import datetime
import json
import os
import platform
import statistics
import subprocess
import sys

BASELINES = ("nginx", "direct")


def one_round(r):
    w = r["wrk"]
    lat = w["latency_us"]
    secs = w["duration_us"] / 1e6
    srv = r["server"]
    out = {
        "requests": w["requests"],
        "duration_s": round(secs, 3),
        "rps": round(w["requests"] / secs, 1) if secs else 0.0,
        "p50_ms": lat["p50"] / 1000,
        "p75_ms": lat["p75"] / 1000,
        "p90_ms": lat["p90"] / 1000,
        "p99_ms": lat["p99"] / 1000,
        "p999_ms": lat["p999"] / 1000,
        "mean_ms": round(lat["mean"] / 1000, 3),
        "max_ms": lat["max"] / 1000,
    }
    if srv["processes"] and w["requests"]:
        out["server_cpu_us_per_req"] = round(srv["cpu_s"] * 1e6 / w["requests"], 2)
    return out


def derive(rounds):
    per = [one_round(r) for r in rounds]
    out = {"url": rounds[0]["url"], "rounds": len(rounds)}
    for key in per[0]:
        vals = [p[key] for p in per if key in p]
        med = statistics.median(vals)
        out[key] = round(med, 3) if isinstance(med, float) else med
    out["rps_per_round"] = [p["rps"] for p in per]
    srv = [r["server"] for r in rounds]
    out["server"] = {
        "processes": srv[-1]["processes"],
        "rss_idle_kib": srv[0]["rss_idle_kib"],
        "rss_peak_sampled_kib": max(s["rss_peak_sampled_kib"] for s in srv),
        "rss_after_kib": srv[-1]["rss_after_kib"],
        "vmhwm_kib": max(s["vmhwm_kib"] for s in srv),
    }
    return out


def ratio(a, b):
    return round(a / b, 3) if b else None


def git_info(repo):
    def run(*args):
        try:
            return subprocess.run(["git", "-C", repo, *args], capture_output=True,
                                  text=True, check=True).stdout.strip()
        except (OSError, subprocess.CalledProcessError):
            return None
    return {"rev": run("rev-parse", "HEAD"), "dirty": bool(run("status", "--porcelain"))}


def cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


def mib(kib):
    return f"{kib / 1024:.1f} MiB" if kib else "-"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--results-dir", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--duration", required=True)
    ap.add_argument("--warmup", required=True)
    ap.add_argument("--rounds", type=int, default=1)
    ap.add_argument("--loadavg-before", type=float, default=None)
    ap.add_argument("--loadavg-after", type=float, default=None)
    ap.add_argument("--connections", type=int, required=True)
    ap.add_argument("--threads", type=int, required=True)
    ap.add_argument("--sluice-bin", default="")
    ap.add_argument("--sluice-stop", default="")
    ap.add_argument("--repo", default=".")
    ap.add_argument("targets", nargs="+")
    a = ap.parse_args()

    targets = {}
    for name in a.targets:
        d = os.path.join(a.results_dir, name)
        rounds = []
        for fn in sorted(os.listdir(d), key=lambda n: int(n.split(".")[0])):
            with open(os.path.join(d, fn)) as f:
                rounds.append(json.load(f))
        targets[name] = derive(rounds)

    ratios = {}
    for name, t in targets.items():
        if name in BASELINES:
            continue
        for base in BASELINES:
            if base in targets:
                b = targets[base]
                ratios[f"{name}/{base}"] = {
                    "rps": ratio(t["rps"], b["rps"]),
                    "p50": ratio(t["p50_ms"], b["p50_ms"]),
                    "p99": ratio(t["p99_ms"], b["p99_ms"]),
                }

    doc = {
        "schema": 1,
        "ok": True,
        "timestamp": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "git": git_info(a.repo),
        "host": {"nproc": os.cpu_count(), "cpu": cpu_model(), "kernel": platform.release(),
                 "loadavg_before": a.loadavg_before, "loadavg_after": a.loadavg_after},
        "request": "POST /v1/chat/completions, non-streamed OpenAI chat completion",
        "settings": {"duration": a.duration, "warmup": a.warmup, "rounds": a.rounds,
                     "connections": a.connections, "wrk_threads": a.threads},
        "targets": targets,
        "ratios": ratios,
    }
    if "sluice" in targets:
        s = targets["sluice"]["server"]
        doc["sluice"] = {
            "bin": a.sluice_bin,
            "rss_idle_kib": s["rss_idle_kib"],
            "rss_loaded_kib": s["vmhwm_kib"],
            "rss_peak_sampled_kib": s["rss_peak_sampled_kib"],
            "rss_after_load_kib": s["rss_after_kib"],
            "sigterm": a.sluice_stop,
        }

    with open(a.out, "w") as f:
        json.dump(doc, f, indent=2)
        f.write("\n")

    # ------------------------------------------------------------------ the table
    p = print
    p()
    p(f"sluice bench: {doc['request']}")
    rounds = f"{a.rounds} rounds (medians) of " if a.rounds > 1 else ""
    p(f"  {rounds}{a.duration} per target after {a.warmup} warm-up, {a.connections} connections, "
      f"{a.threads} wrk thread(s), {os.cpu_count()} cores shared by wrk, upstream and proxy")
    if a.loadavg_before is not None:
        p(f"  load average before/after: {a.loadavg_before} / {a.loadavg_after}"
          + ("  (machine busy: expect noise)" if a.loadavg_before > (os.cpu_count() or 1) / 4 else ""))
    p()
    hdr = (f"{'target':<10} {'req/s':>10} {'p50 ms':>8} {'p90 ms':>8} {'p99 ms':>8} "
           f"{'max ms':>8} {'CPU us/req':>11} {'RSS idle':>10} {'RSS peak':>10}")
    p(hdr)
    p("-" * len(hdr))
    extra_rounds = []
    for name, t in targets.items():
        s = t["server"]
        if t["rounds"] > 1:
            extra_rounds.append(f"{name:<10} req/s per round: " + ", ".join(f"{v:.0f}" for v in t["rps_per_round"]))
        cpu = t.get("server_cpu_us_per_req")
        cpu_s = f"{cpu:.1f}" if cpu is not None else "-"
        peak = max(s["vmhwm_kib"], s["rss_peak_sampled_kib"]) if s["processes"] == 1 else s["rss_peak_sampled_kib"]
        p(f"{name:<10} {t['rps']:>10.0f} {t['p50_ms']:>8.2f} {t['p90_ms']:>8.2f} "
          f"{t['p99_ms']:>8.2f} {t['max_ms']:>8.2f} {cpu_s:>11} "
          f"{mib(s['rss_idle_kib']):>10} {mib(peak):>10}")
    for line in extra_rounds:
        p(line)
    p()
    p("CPU us/req and RSS are the measured server's own processes only (direct: the upstream;")
    p("nginx: master + 2 workers; sluice: its process) - the upstream's work is not included.")
    if ratios:
        p()
        for key, r in ratios.items():
            def fmt(v):
                return f"{v:.2f}x" if v is not None else "-"
            p(f"{key:<16} req/s {fmt(r['rps']):>6}   p50 {fmt(r['p50']):>6}   p99 {fmt(r['p99']):>6}")
        p("(req/s: higher is better for the gateway; p50/p99: lower is better)")
    if "sluice" in doc:
        s = doc["sluice"]
        p()
        p(f"sluice RSS: idle {mib(s['rss_idle_kib'])} (VmRSS before load), "
          f"loaded {mib(s['rss_loaded_kib'])} (VmHWM), after load {mib(s['rss_after_load_kib'])}; "
          f"SIGTERM: {s['sigterm']}")
    p()
    p(f"results: {a.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
