#!/usr/bin/env python3
"""abstat.py OUT BASE OTHER...: medians [min-max] of ab.sh's runs per
label, and the ratios OTHER/BASE of the runs of the same repetition
(balancer CPU per request, p99.9, req/s)."""
import glob, json, statistics as st, sys

out, names = sys.argv[1], sys.argv[2:]
def fmt(v): return f"{st.median(v):.2f} [{min(v):.2f}–{max(v):.2f}]" if v else "–"
runs = {}  # (scenario, label, repetition) -> figures
for n in names:
    for f in glob.glob(f"{out}/{n}/*/*.json"):
        rep = f.split("/")[-2]
        for r in json.load(open(f))["records"]:
            res = r.get("result")
            if not res or r.get("invalid"):
                print("invalid:", n, rep, r["scenario"], r.get("invalid")); continue
            runs[(r["scenario"], n, rep)] = (1e6 * r["balancer_cpu_s"] / res["ops"], res["latency"]["p999_us"] / 1e3, res["rate"], res["errors"], res["misroutes"], r["loadavg_1m"])
for sc in sorted({k[0] for k in runs}):
    for n in names:
        v = [x for k, x in runs.items() if k[0] == sc and k[1] == n]
        print(f"{sc:10} {n:10} runs {len(v)}  req/s {fmt([x[2] for x in v])}  cpu µs/req {fmt([x[0] for x in v])}  p99.9 ms {fmt([x[1] for x in v])}  errors {sum(x[3] for x in v)} misroutes {sum(x[4] for x in v)}  load {fmt([x[5] for x in v])}")
    reps = sorted({k[2] for k in runs if k[0] == sc})
    for other in names[1:]:
        both = [(runs[(sc, names[0], p)], runs[(sc, other, p)]) for p in reps if (sc, names[0], p) in runs and (sc, other, p) in runs]
        print(f"{sc:10} {other}/{names[0]}, {len(both)} repetitions: cpu/req {fmt([b[0]/a[0] for a, b in both])}  p99.9 {fmt([b[1]/a[1] for a, b in both])}  req/s {fmt([b[2]/a[2] for a, b in both])}")
