#!/usr/bin/env bash
# Alternating A/B pairs of the train-step child, each a fresh JVM: ab-train-step.sh DIR_A DIR_B PAIRS CASE [WARMUP REPS]
# prints tokens/s of each run and the median of B/A ratios.
set -u
A=$1; B=$2; N=$3; CASE=$4; W=${5:-2}; R=${6:-4}
ratios=()
for p in $(seq 1 "$N"); do
  for side in A B; do
    dir=$([[ $side == A ]] && echo "$A" || echo "$B")
    tps=$(cd "$dir" && ./gptneo bench train-step --child "$CASE" --warmup "$W" --reps "$R" 2>/dev/null | python3 -c 'import sys,json; t=sys.stdin.read(); j=json.loads(t[t.index("{"):]); print(j["tokens_per_s"])')
    echo "pair $p $side $tps"
    [[ $side == A ]] && ta=$tps || tb=$tps
  done
  r=$(python3 -c "print($tb/$ta)"); ratios+=("$r"); echo "pair $p B/A $r"
done
python3 -c "import statistics,sys; v=[float(x) for x in sys.argv[1:]]; print('median B/A', round(statistics.median(v),3), 'all', [round(x,3) for x in v])" "${ratios[@]}"
