#!/bin/bash
# compare.sh: loadgen's keepalive against gnetkeepalive, three alternating
# 4 s runs each through one l4lb (one loop) and three backends on fixed
# loopback ports 29400-29403: req/s, the client's CPU per request (perf
# stat task-clock) and the balancer's (/proc). Needs perf and BACKEND,
# LOADGEN, GNETKA and L4LB set to built binaries (./bench/backend,
# ./tools/loadgen/cmd/loadgen, ./tools/gnetkeepalive, ./cmd/l4lb).
: ${BACKEND:?} ${LOADGEN:?} ${GNETKA:?} ${L4LB:?}
for p in 29401 29402 29403; do GOMAXPROCS=1 $BACKEND -name $p -listen 127.0.0.1:$p > /dev/null 2>&1 & done
sleep 0.3
$L4LB serve --listen 127.0.0.1:29400 --loops 1 --log-level warn --admin-listen 127.0.0.1:0 --backend 127.0.0.1:29401 --backend 127.0.0.1:29402 --backend 127.0.0.1:29403 > /dev/null 2>&1 & lb=$!
sleep 0.5
lbcpu() { awk '{print $14+$15}' /proc/$lb/stat; }
run() { # label cmd...
  label=$1; shift
  a=$(lbcpu)
  perf stat -e task-clock -x, -o /tmp/lg.perf "$@" > /tmp/lg.json 2>/dev/null
  b=$(lbcpu)
  python3 - "$label" $a $b <<'PY'
import sys,json
lab=sys.argv[1]; a,b=float(sys.argv[2]),float(sys.argv[3])
j=json.loads(open('/tmp/lg.json').read().strip().splitlines()[-1]); ops=j['ops']; sec=j['seconds']
ms=float([l for l in open('/tmp/lg.perf') if 'task-clock' in l][0].split(',')[0])
print(f"{lab:8s} {ops/sec:8.0f} req/s  loadgen {ms*1000/ops:5.2f} µs/req  balancer {(b-a)*1e4/ops:5.2f} µs/req  bad {j.get('bad', j.get('errors'))}")
PY
}
for i in 1 2 3; do
  run loadgen $LOADGEN -quiet -scenario keepalive -workers 32 -duration 4s -target 127.0.0.1:29400
  run gnet2 $GNETKA -target 127.0.0.1:29400 -conns 32 -loops 2 -duration 4s
  run gnet1 $GNETKA -target 127.0.0.1:29400 -conns 32 -loops 1 -duration 4s
done
kill $lb; pkill -f "name 2940[123] -listen"; wait 2>/dev/null
