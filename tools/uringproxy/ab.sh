#!/bin/sh
# ab.sh A B [PAIRS]: alternating bench runs (keepalive and connrate, one
# 5 s round each) of two l4lb-compatible binaries, A first in odd pairs and
# B first in even ones, each run in a results directory of its own under
# ${OUT:-/tmp/uring-ab}/<basename>/<pair>/. Run from the module root with
# the bench built: go build -o /tmp/benchbin ./bench. abstat.py summarizes.
set -e
a=$1 b=$2 n=${3:-8} out=${OUT:-/tmp/uring-ab}
for i in $(seq 1 "$n"); do
  if [ $((i % 2)) -eq 1 ]; then order="$a $b"; else order="$b $a"; fi
  for bin in $order; do
    dir=$out/$(basename "$bin")/$i
    mkdir -p "$dir"
    /tmp/benchbin --targets l4lb --scenarios keepalive,connrate --rounds 1 \
      --l4lb-bin "$bin" --out "$dir" >>"$out/$(basename "$bin").log" 2>&1
    echo "pair $i $(basename "$bin") done"
  done
done
