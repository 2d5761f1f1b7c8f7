#!/bin/bash
# syscalls.sh BIN [SCENARIO] [REQUESTS] [WORKERS]: system calls per request
# of one balancer binary, alone on fixed loopback ports 29100-29103:
# perf stat counts raw_syscalls:sys_enter over its threads during REQUESTS
# requests (with its user and system CPU per request from /proc), then
# strace -c -f gives the breakdown over a fifth as many. Needs root, perf,
# strace, and BACKEND and LOADGEN set to built binaries; EXTRA, more
# serve flags (EXTRA=--engine=epoll for uringproxy's control).
set -e
bin=$1; scen=${2:-keepalive}; n=${3:-50000}; workers=${4:-32}
W=$(mktemp -d); mkdir -p $W
pids=()
ports=(29101 29102 29103)
for i in 0 1 2; do GOMAXPROCS=1 ${BACKEND:?go build -o BACKEND ./bench/backend} -name ${ports[$i]} -listen 127.0.0.1:${ports[$i]} > $W/b$i.log 2>&1 & pids+=($!); done
sleep 0.5
$bin serve --listen 127.0.0.1:29100 --loops 1 --max-conns 9000 --proxy-protocol off --sockjs-prefix /sockjs --connect-timeout 5s --header-timeout 10s --idle-timeout 1h0m0s --log-level warn --admin-listen 127.0.0.1:0 --backend 127.0.0.1:29101 --backend 127.0.0.1:29102 --backend 127.0.0.1:29103 $EXTRA > $W/lb.log 2>&1 &
lb=$!
sleep 0.5
${LOADGEN:?go build -o LOADGEN ./tools/loadgen/cmd/loadgen} -quiet -scenario $scen -workers $workers -requests 2000 -target 127.0.0.1:29100 > /dev/null  # warm-up: threads exist
t0=$(awk '{print $14, $15}' /proc/$lb/stat)
perf stat -e raw_syscalls:sys_enter -p $lb -o $W/perf.txt &
perf=$!; sleep 0.3
${LOADGEN:?go build -o LOADGEN ./tools/loadgen/cmd/loadgen} -quiet -scenario $scen -workers $workers -requests $n -target 127.0.0.1:29100 > $W/lg.json
kill -INT $perf; wait $perf || true
t1=$(awk '{print $14, $15}' /proc/$lb/stat)
calls=$(awk '/raw_syscalls/ {gsub(",","",$1); print $1}' $W/perf.txt)
ops=$(python3 -c "import json;print(json.load(open('$W/lg.json'))['ops'])")
echo "$(basename $bin) $scen: $calls system calls for $ops requests: $(python3 -c "print(round($calls/$ops,2))") per request; utime/stime ticks before $t0 after $t1"
python3 -c "
a=list(map(int,'$t0'.split()));b=list(map(int,'$t1'.split()));n=$ops
print('user %.1f µs, system %.1f µs per request' % ((b[0]-a[0])*1e4/n, (b[1]-a[1])*1e4/n))"
strace -c -f -p $lb -o $W/strace.txt &
st=$!; sleep 0.5
${LOADGEN:?go build -o LOADGEN ./tools/loadgen/cmd/loadgen} -quiet -scenario $scen -workers $workers -requests $((n/5)) -target 127.0.0.1:29100 > $W/lg2.json
kill -INT $st; wait $st || true
ops2=$(python3 -c "import json;print(json.load(open('$W/lg2.json'))['ops'])")
echo "strace -c -f, $ops2 requests:"; head -n 14 $W/strace.txt
kill $lb; wait $lb 2>/dev/null || true
grep -h "uringproxy:" $W/lb.log | tail -1 || true
kill ${pids[@]}; wait 2>/dev/null || true
