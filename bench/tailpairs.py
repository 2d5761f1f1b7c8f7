#!/usr/bin/env python3
"""tailpairs.py RUN.json...: l4lb's p99.9 against HAProxy's (haproxy-nodelay
for xhr-streaming) round by round, over the rounds of the given full runs:
how many rounds l4lb's tail was at or below, and the ratios' median,
geometric mean and range. A round pairs targets that ran minutes apart,
so the pairs cancel what changes between rounds."""
import json
import statistics
import sys

ratios = {}
for path in sys.argv[1:]:
    p999 = {}
    for rec in json.load(open(path))["records"]:
        res = rec["result"]
        if isinstance(res, dict):
            p999[(rec["scenario"], rec["round"], rec["target"])] = res.get("latency", {}).get("p999_us")
    for (scenario, rnd, target), v in p999.items():
        if target != "l4lb":
            continue
        peer = "haproxy-nodelay" if scenario == "xhr-streaming" else "haproxy"
        h = p999.get((scenario, rnd, peer))
        if v and h:
            ratios.setdefault(scenario, []).append(v / h)
for scenario, rs in ratios.items():
    below = sum(1 for r in rs if r <= 1)
    print(f"{scenario:14s} rounds {len(rs):2d}  l4lb at or below in {below:2d}  "
          f"median {statistics.median(rs):.2f}  geometric mean {statistics.geometric_mean(rs):.2f}  "
          f"range {min(rs):.2f}-{max(rs):.2f}")
