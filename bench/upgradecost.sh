#!/bin/bash
# upgradecost.sh BIN LABEL [upgrade]: connrate CPU and context switches
# per request of one l4lb on fixed loopback ports 29300-29303, started
# fresh or, with "upgrade", of the process a SIGUSR2 upgrade started
# (the first process drained and gone). perf stat over 4 s of
# `loadgen -scenario connrate -workers 16`. Needs perf, and BACKEND and
# LOADGEN set to built binaries (go build -o BACKEND ./bench/backend;
# go build -o LOADGEN ./tools/loadgen/cmd/loadgen).
set -e
bin=$1; label=$2
BACKEND=${BACKEND:?build ./bench/backend}; LOADGEN=${LOADGEN:?build ./tools/loadgen/cmd/loadgen}
W=$(mktemp -d); cp $bin $W/l4lb
pids=()
for p in 29301 29302 29303; do GOMAXPROCS=1 $BACKEND -name $p -listen 127.0.0.1:$p > /dev/null 2>&1 & pids+=($!); done
sleep 0.3
$W/l4lb serve --pid-file $W/pid --listen 127.0.0.1:29300 --loops 1 --sockjs-prefix /sockjs --log-level warn --admin-listen 127.0.0.1:0 --backend 127.0.0.1:29301 --backend 127.0.0.1:29302 --backend 127.0.0.1:29303 > $W/log 2>&1 &
for i in $(seq 50); do [ -s $W/pid ] && break; sleep 0.1; done
first=$(cat $W/pid)
if [ "$3" = upgrade ]; then
kill -USR2 $first
for i in $(seq 100); do [ "$(cat $W/pid 2>/dev/null)" != "$first" ] && [ -s $W/pid ] && break; sleep 0.1; done
while kill -0 $first 2>/dev/null; do sleep 0.1; done
fi
lb=$(cat $W/pid)
$LOADGEN -quiet -scenario connrate -workers 16 -duration 1s -target 127.0.0.1:29300 > /dev/null
perf stat -e context-switches,task-clock -p $lb -o $W/perf.txt &
perf=$!; sleep 0.2
$LOADGEN -quiet -scenario connrate -workers 16 -duration 4s -target 127.0.0.1:29300 > $W/lg.json
kill -INT $perf; wait $perf 2>/dev/null || true
ops=$(python3 -c "import json;print(json.load(open('$W/lg.json'))['ops'])")
python3 - "$W/perf.txt" $ops "$label" <<'PY'
import sys,re
t=open(sys.argv[1]).read(); n=int(sys.argv[2])
cs=float(re.search(r'([\d,\.]+)\s+context-switches',t).group(1).replace(',',''))
ms=float(re.search(r'([\d,\.]+)\s+msec task-clock',t).group(1).replace(',',''))
print(f"{sys.argv[3]}: {n/4:.0f} req/s, {cs/n:.2f} cs/req, {ms*1000/n:.1f} µs CPU/req")
PY
kill $lb; while kill -0 $lb 2>/dev/null; do sleep 0.1; done
kill ${pids[@]}; wait 2>/dev/null || true
