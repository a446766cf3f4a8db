#!/usr/bin/env python3
"""Assemble per-target results from bench/run.sh into a table and a JSON file.

Each round's result ($WORK/results/NAME/ROUND.json) holds wrk's summary (from
lib/post.lua's done() callback), what was sent and what the upstream answered, and the
server process accounting gathered by run.sh. With several rounds every metric is the
median over the rounds (per metric, so p99 and req/s may come from different rounds); the
per-round req/s are kept in the JSON. The req/s and CPU ratios of several rounds are the
medians of the per-round ratios (run.sh alternates the target order between rounds).

Ratios (RATIOS below) compare targets measured in the same run: the gateway against a plain
proxy and against no hop, translated targets against the same-dialect sluice path (the
issue's target: >= 0.80x req/s), streamed against non-streamed. A target that is not in
RATIOS gets ratios against sluice (sluice-*) or against nginx and direct (anything else).
The extproc targets (sluice extproc, driven over gRPC by bench/extproc_load playing Envoy and
the upstream) are compared with the standalone path of the same request and, translated,
with their same-dialect counterpart. Targets reported as not available in this build (--skipped NAME=REASON) are listed with
their reason, and their ratios as unavailable.
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

# (target, base, kind): target / base, in this order in the report.
RATIOS = [
    ("sluice", "nginx", "gateway/proxy"),
    ("sluice-stream", "nginx-stream", "gateway/proxy"),
    ("sluice", "direct", "gateway/direct"),
    ("sluice-anthropic", "sluice", "translated/same-dialect"),
    ("sluice-bedrock", "sluice", "translated/same-dialect"),
    ("sluice-anthropic-stream", "sluice-stream", "translated/same-dialect"),
    ("sluice-bedrock-stream", "sluice-stream", "translated/same-dialect"),
    ("sluice-stream", "sluice", "stream/non-stream"),
    ("nginx-stream", "nginx", "stream/non-stream"),
    ("extproc", "sluice", "extproc/standalone"),
    ("extproc-anthropic", "sluice-anthropic", "extproc/standalone"),
    ("extproc-anthropic", "extproc", "translated/same-dialect"),
]
KINDS = {
    "gateway/proxy": "gateway / plain proxy (same request, same upstream reply)",
    "gateway/direct": "gateway / no hop (what the extra hop costs in total)",
    "translated/same-dialect": "translated / same-dialect sluice path (issue target: req/s >= 0.80x)",
    "stream/non-stream": "streamed / non-streamed (same proxy)",
    "extproc/standalone": "ext_proc server (Envoy's share not included) / standalone gateway",
    "other": "other",
}
TRANSLATED_RPS_TARGET = 0.80


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
    if r.get("upstream") and w["requests"]:
        out["upstream_cpu_us_per_req"] = round(r["upstream"]["cpu_s"] * 1e6 / w["requests"], 2)
    if r.get("box") and w["requests"]:
        out["box_cpu_us_per_req"] = round(r["box"]["cpu_s"] * 1e6 / w["requests"], 2)
    return out


def derive(rounds):
    per = [one_round(r) for r in rounds]
    out = {"url": rounds[0]["url"], "request": rounds[0].get("request"), "rounds": len(rounds)}
    for key in per[0]:
        vals = [p[key] for p in per if key in p]
        med = statistics.median(vals)
        out[key] = round(med, 3) if isinstance(med, float) else med
    out["rps_per_round"] = [p["rps"] for p in per]
    out["cpu_us_per_req_per_round"] = [p.get("server_cpu_us_per_req") for p in per]
    out["replies_verified_in_warmup"] = sum(r.get("replies_verified_in_warmup", 0) for r in rounds)
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
    return round(a / b, 3) if a is not None and b else None


def paired(t, b, key, per_round_key):
    """target/base for one metric. With several rounds: the median of the per-round ratios
    (each round measures both, close together in time, in alternating order), which drift
    of the machine between rounds does not move the way it moves a ratio of medians."""
    tv, bv = t.get(per_round_key) or [], b.get(per_round_key) or []
    if len(tv) > 1 and len(tv) == len(bv) and all(x is not None and y for x, y in zip(tv, bv)):
        return round(statistics.median(x / y for x, y in zip(tv, bv)), 3), [round(x / y, 3) for x, y in zip(tv, bv)]
    return ratio(t.get(key), b.get(key)), None


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
    ap.add_argument("--proxy-workers", type=int, default=2)
    ap.add_argument("--sluice-bin", default="")
    ap.add_argument("--sluice-stop", default="")
    ap.add_argument("--sluice-version", default="")
    ap.add_argument("--extproc-stop", default="")
    ap.add_argument("--skipped", action="append", default=[], metavar="NAME=REASON",
                    help="a target not available in this build, and why")
    ap.add_argument("--repo", default=".")
    ap.add_argument("targets", nargs="*")
    a = ap.parse_args()

    targets = {}
    for name in a.targets:
        d = os.path.join(a.results_dir, name)
        rounds = []
        for fn in sorted(os.listdir(d), key=lambda n: int(n.split(".")[0])):
            with open(os.path.join(d, fn)) as f:
                rounds.append(json.load(f))
        targets[name] = derive(rounds)

    skipped = dict(kv.split("=", 1) for kv in a.skipped)
    pairs = [p for p in RATIOS if p[0] in targets or p[0] in skipped]
    known = {p[0] for p in RATIOS} | set(BASELINES)
    for name in targets:
        if name in known:
            continue
        if name.startswith("sluice-"):
            pairs.append((name, "sluice", "other"))
        else:
            pairs += [(name, b, "other") for b in ("nginx", "direct")]
    ratios = {}
    for name, base, kind in pairs:
        if base not in targets and base not in skipped:
            continue  # the base was not selected
        r = {"kind": kind}
        missing = [n for n in (name, base) if n in skipped]
        if missing:
            r["unavailable"] = "; ".join(f"{n}: {skipped[n]}" for n in missing)
        else:
            t, b = targets[name], targets[base]
            rps, rps_rounds = paired(t, b, "rps", "rps_per_round")
            cpu, cpu_rounds = paired(t, b, "server_cpu_us_per_req", "cpu_us_per_req_per_round")
            r.update({
                "rps": rps,
                "cpu_us_per_req": cpu,
                "p50": ratio(t["p50_ms"], b["p50_ms"]),
                "p99": ratio(t["p99_ms"], b["p99_ms"]),
            })
            if rps_rounds:
                r["rps_per_round"] = rps_rounds
                r["cpu_us_per_req_per_round"] = cpu_rounds
            if kind == "translated/same-dialect":
                r["rps_target"] = TRANSLATED_RPS_TARGET
                r["meets_rps_target"] = r["rps"] is not None and r["rps"] >= TRANSLATED_RPS_TARGET
        ratios[f"{name}/{base}"] = r

    doc = {
        "schema": 2,
        "ok": True,
        "timestamp": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "git": git_info(a.repo),
        "host": {"nproc": os.cpu_count(), "cpu": cpu_model(), "kernel": platform.release(),
                 "loadavg_before": a.loadavg_before, "loadavg_after": a.loadavg_after},
        "request": "POST /v1/chat/completions, OpenAI chat completion (per target: targets.NAME.request)",
        "settings": {"duration": a.duration, "warmup": a.warmup, "rounds": a.rounds,
                     "connections": a.connections, "wrk_threads": a.threads,
                     "proxy_workers": a.proxy_workers},
        "targets": targets,
        "skipped": skipped,
        "ratios": ratios,
    }
    sluice_targets = [n for n in targets if n == "sluice" or n.startswith("sluice-")]
    if sluice_targets:
        # One sluice process serves every sluice target: idle RSS from the first one
        # measured (taken before sluice's first request), the highest VmHWM and sample.
        srv = [targets[n]["server"] for n in sluice_targets]
        doc["sluice"] = {
            "bin": a.sluice_bin,
            "version": a.sluice_version,
            "rss_idle_kib": srv[0]["rss_idle_kib"],
            "rss_loaded_kib": max(x["vmhwm_kib"] for x in srv),
            "rss_peak_sampled_kib": max(x["rss_peak_sampled_kib"] for x in srv),
            "rss_after_load_kib": srv[-1]["rss_after_kib"],
            "sigterm": a.sluice_stop,
        }

    extproc_targets = [n for n in targets if n == "extproc" or n.startswith("extproc-")]
    if extproc_targets:
        # One `sluice extproc` process serves both extproc targets.
        srv = [targets[n]["server"] for n in extproc_targets]
        doc["extproc"] = {
            "load_generator": "bench/extproc_load (sluice-extproc-load): gRPC async client playing "
                              "Envoy's router-level ext_proc filter and the upstream",
            "rss_idle_kib": srv[0]["rss_idle_kib"],
            "rss_loaded_kib": max(x["vmhwm_kib"] for x in srv),
            "rss_peak_sampled_kib": max(x["rss_peak_sampled_kib"] for x in srv),
            "rss_after_load_kib": srv[-1]["rss_after_kib"],
            "sigterm": a.extproc_stop,
        }

    with open(a.out, "w") as f:
        json.dump(doc, f, indent=2)
        f.write("\n")

    # ------------------------------------------------------------------ the table
    p = print
    p()
    p("sluice bench: OpenAI chat completions (POST /v1/chat/completions), per target streamed or not, "
      "same-dialect or translated")
    rounds = f"{a.rounds} rounds (medians) of " if a.rounds > 1 else ""
    p(f"  {rounds}{a.duration} per target after {a.warmup} warm-up, {a.connections} connections, "
      f"{a.threads} wrk thread(s), {os.cpu_count()} cores shared by wrk, upstream and proxy\n"
      f"  proxies under test: {a.proxy_workers} event loop(s) each (sluice --threads, nginx worker_processes)")
    if a.loadavg_before is not None:
        p(f"  load average before/after: {a.loadavg_before} / {a.loadavg_after}"
          + ("  (machine busy: expect noise)" if a.loadavg_before > (os.cpu_count() or 1) / 4 else ""))
    p()
    w = max([len("target")] + [len(n) for n in targets])
    hdr = (f"{'target':<{w}} {'req/s':>9} {'p50 ms':>8} {'p90 ms':>8} {'p99 ms':>8} "
           f"{'max ms':>8} {'CPU us/req':>11} {'RSS idle':>10} {'RSS peak':>10}")
    p(hdr)
    p("-" * len(hdr))
    extra_rounds = []
    for name, t in targets.items():
        s = t["server"]
        if t["rounds"] > 1:
            extra_rounds.append(f"{name:<{w}} req/s per round: " + ", ".join(f"{v:.0f}" for v in t["rps_per_round"]))
        cpu = t.get("server_cpu_us_per_req")
        cpu_s = f"{cpu:.1f}" if cpu is not None else "-"
        peak = max(s["vmhwm_kib"], s["rss_peak_sampled_kib"]) if s["processes"] == 1 else s["rss_peak_sampled_kib"]
        p(f"{name:<{w}} {t['rps']:>9.0f} {t['p50_ms']:>8.2f} {t['p90_ms']:>8.2f} "
          f"{t['p99_ms']:>8.2f} {t['max_ms']:>8.2f} {cpu_s:>11} "
          f"{mib(s['rss_idle_kib']):>10} {mib(peak):>10}")
    for name in sorted(skipped):
        p(f"{name:<{w}} {skipped[name]}")
    for line in extra_rounds:
        p(line)
    p()
    p("CPU us/req and RSS are the measured server's own processes only (direct: the upstream;")
    p("nginx*: master + 2 workers; sluice*: its one process) - the upstream's work is not included.")
    split = [(n, t) for n, t in targets.items() if "upstream_cpu_us_per_req" in t and "box_cpu_us_per_req" in t]
    if split:
        # Every process shares the same cores, so req/s follows the whole machine's CPU per
        # request: this splits it into the gateway, the bench upstream and the rest (wrk, kernel).
        p()
        p(f"{'CPU us per request':<{w}} {'gateway':>9} {'upstream':>9} {'rest':>9} {'machine':>9}")
        for name, t in split:
            g = t.get("server_cpu_us_per_req") or 0.0
            u = t["upstream_cpu_us_per_req"]
            m = t["box_cpu_us_per_req"]
            p(f"{name:<{w}} {g:>9.1f} {u:>9.1f} {max(m - g - u, 0.0):>9.1f} {m:>9.1f}")
        p("(upstream: the bench's provider simulator; rest: wrk, interrupts, anything else running)")
    if extproc_targets:
        p("extproc*: the `sluice extproc` process; requests = ext_proc stream lifecycles (4 messages each,")
        p("driven by bench/extproc_load playing Envoy and the upstream; Envoy's own work is not included);")
        p("latency = one lifecycle (StartCall to Finish), not an HTTP request.")
    if ratios:
        def fmt(v):
            return f"{v:.2f}x" if v is not None else "-"
        rw = max([len("ratios (target/base)")] + [len(k) + 2 for k in ratios])
        p()
        p(f"{'ratios (target/base)':<{rw}} {'req/s':>6} {'CPU us/req':>10} {'p50':>6} {'p99':>6}")
        for kind, title in KINDS.items():
            rows = [(k, r) for k, r in ratios.items() if r["kind"] == kind]
            if not rows:
                continue
            p(title)
            for key, r in rows:
                if "unavailable" in r:
                    p(f"  {key:<{rw - 2}} n/a ({r['unavailable']})")
                    continue
                verdict = ""
                if "meets_rps_target" in r:
                    verdict = "   meets target" if r["meets_rps_target"] else "   BELOW TARGET"
                p(f"  {key:<{rw - 2}} {fmt(r['rps']):>6} {fmt(r['cpu_us_per_req']):>10} "
                  f"{fmt(r['p50']):>6} {fmt(r['p99']):>6}{verdict}")
                if kind == "translated/same-dialect" and r.get("rps_per_round"):
                    p(f"  {'':<{rw - 2}} req/s per round: " + ", ".join(f"{v:.2f}x" for v in r["rps_per_round"]))
        p("(req/s: higher is better for the target; CPU us/req, p50, p99: lower is better)")
        if a.rounds > 1:
            p("(with several rounds, req/s and CPU us/req ratios are the medians of the per-round ratios;")
            p(" rounds alternate the target order, so steady drift of the machine favours neither side)")
        if a.loadavg_before is not None and a.loadavg_before > (os.cpu_count() or 1) / 4:
            p(f"(load average {a.loadavg_before} before the run: req/s ratios and the target verdicts are")
            p(" unreliable on this busy machine; CPU us/req ratios hold up better)")
    if "sluice" in doc:
        s = doc["sluice"]
        p()
        p(f"sluice RSS: idle {mib(s['rss_idle_kib'])} (VmRSS before load), "
          f"loaded {mib(s['rss_loaded_kib'])} (VmHWM), after load {mib(s['rss_after_load_kib'])}; "
          f"SIGTERM: {s['sigterm']}")
    if "extproc" in doc:
        s = doc["extproc"]
        if "sluice" not in doc:
            p()
        p(f"sluice extproc RSS: idle {mib(s['rss_idle_kib'])} (VmRSS before load), "
          f"loaded {mib(s['rss_loaded_kib'])} (VmHWM), after load {mib(s['rss_after_load_kib'])}; "
          f"SIGTERM: {s['sigterm']}")
    p()
    p(f"results: {a.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
