#!/usr/bin/env bash
# Alternating A/B pairs of the fused attention JMH: ab-attention.sh DIR_A DIR_B PAIRS
set -u
A=$1; B=$2; N=$3
for p in $(seq 1 "$N"); do
  for side in A B; do
    dir=$([[ $side == A ]] && echo "$A" || echo "$B")
    (cd "$dir" && ./gptneo bench attention -t 1024 --kernels fused -o /tmp/attn-$side-$p.json > /tmp/attn-$side-$p.log 2>&1)
    echo "pair $p $side done"
  done
done
python3 - "$N" <<'PY'
import json,sys,statistics
n=int(sys.argv[1]); rows={}
for p in range(1,n+1):
    for side in "AB":
        for r in json.load(open(f"/tmp/attn-{side}-{p}.json")):
            key=(r["benchmark"].split(".")[-1], r["params"]["attention"], r["params"]["t"])
            rows.setdefault(key,{}).setdefault(side,[]).append(r["primaryMetric"]["score"])
print(f"{'case':30s} {'A ms (median)':>14s} {'B ms (median)':>14s} {'median of B/A pair ratios':>26s}")
for k in sorted(rows):
    a,b=rows[k]["A"],rows[k]["B"]
    ratios=[y/x for x,y in zip(a,b)]
    print(f"{' '.join(k):30s} {statistics.median(a):14.3f} {statistics.median(b):14.3f} {statistics.median(ratios):26.3f}")
PY
