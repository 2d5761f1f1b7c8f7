#!/usr/bin/env python3
"""abstat.py OUT A B: medians [min-max] of ab.sh's runs, and the paired
ratios B/A of the runs of the same pair (CPU per request, p99.9, rate)."""
import glob, json, statistics as st, sys

out, names = sys.argv[1], sys.argv[2:4]
def fmt(v): return f"{st.median(v):.2f} [{min(v):.2f}–{max(v):.2f}]"
runs = {}  # (scenario, name, pair) -> (cpu µs/req, p99.9 ms, rate)
for n in names:
    for f in glob.glob(f"{out}/{n}/*/*.json"):
        pair = f.split("/")[-2]
        for r in json.load(open(f))["records"]:
            res = r.get("result")
            if not res or r.get("invalid"):
                print("invalid:", n, pair, r["scenario"], r.get("invalid")); continue
            runs[(r["scenario"], n, pair)] = (1e6 * r["balancer_cpu_s"] / res["ops"], res["latency"]["p999_us"] / 1e3, res["rate"], res["errors"], res["misroutes"], r["loadavg_1m"])
for sc in sorted({k[0] for k in runs}):
    for n in names:
        v = [x for k, x in runs.items() if k[0] == sc and k[1] == n]
        print(f"{sc:10} {n:12} runs {len(v)}  req/s {fmt([x[2] for x in v])}  cpu µs/req {fmt([x[0] for x in v])}  p99.9 ms {fmt([x[1] for x in v])}  errors {sum(x[3] for x in v)} misroutes {sum(x[4] for x in v)}  load {fmt([x[5] for x in v])}")
    pairs = sorted({k[2] for k in runs if k[0] == sc})
    both = [(runs[(sc, names[0], p)], runs[(sc, names[1], p)]) for p in pairs if (sc, names[0], p) in runs and (sc, names[1], p) in runs]
    print(f"{sc:10} {names[1]}/{names[0]}, {len(both)} pairs: cpu/req {fmt([b[0]/a[0] for a, b in both])}  p99.9 {fmt([b[1]/a[1] for a, b in both])}  req/s {fmt([b[2]/a[2] for a, b in both])}")
