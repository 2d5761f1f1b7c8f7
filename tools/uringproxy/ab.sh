#!/bin/sh
# ab.sh PAIRS LABEL=BIN[:ARGS] ...: alternating bench runs (keepalive and
# connrate, one 5 s round each) of l4lb-compatible binaries, ARGS going to
# --l4lb-args; the order rotates from one repetition to the next, and each
# run has a results directory of its own, ${OUT:-/tmp/uring-ab}/LABEL/N/.
# Run from the module root with the bench built: go build -o /tmp/benchbin
# ./bench. abstat.py summarizes.
set -e
n=$1; shift
out=${OUT:-/tmp/uring-ab}
for i in $(seq 1 "$n"); do
  k=$(( (i - 1) % $# )); j=0; order=""
  for spec in "$@"; do j=$((j + 1)); [ $j -gt $k ] && order="$order $spec"; done
  j=0; for spec in "$@"; do j=$((j + 1)); [ $j -le $k ] && order="$order $spec"; done
  for spec in $order; do
    label=${spec%%=*}; rest=${spec#*=}; bin=${rest%%:*}; args=""
    case $rest in *:*) args=${rest#*:};; esac
    mkdir -p "$out/$label/$i"
    /tmp/benchbin --targets l4lb --scenarios keepalive,connrate --rounds 1 \
      --l4lb-bin "$bin" --l4lb-args "$args" --out "$out/$label/$i" >>"$out/$label.log" 2>&1 &&
      echo "run $i $label done" || echo "run $i $label: bench failed, see $out/$label.log"
  done
done
