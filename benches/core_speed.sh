#!/usr/bin/env bash
# Speed of the annotation domain through the CLI, two binaries measured alternately in the same
# run (best of N each): tasks per second of the M/M/c domain (scenarios/mmc.toml, 5,000 h ≈ 1 M
# tasks) and of lidar-cuboids. Used for the before/after figures of the decision-core change in
# benches/RESULTS.md.
#   benches/core_speed.sh BEFORE_BINARY AFTER_BINARY [N=5]
set -euo pipefail
before=$1; after=$2; n=${3:-5}
root="$(cd "$(dirname "$0")/.." && pwd)"
tmp="$(mktemp -d)"; trap 'rm -rf "$tmp"' EXIT
export RAYON_NUM_THREADS=1
cases=("mmc|fifo|$root/scenarios/mmc.toml|--set run.horizon=5000h" "lidar-cuboids|skill-greedy|$root/scenarios/lidar-cuboids.toml|")
for c in "${cases[@]}"; do
  IFS="|" read -r name policy file set <<<"$c"
  # Tasks in the run (the same for both binaries: same scenario, same seed).
  "$after" simulate "$file" $set --replications 1 --out "$tmp/sim" -q
  tasks=$(python3 -c "import json;print(int(json.load(open('$tmp/sim/summary.json'))['figures']['arrivals']['mean']))")
  best_b=999999; best_a=999999
  for i in $(seq "$n"); do
    for which in before after; do
      bin=$before; [ "$which" = after ] && bin=$after
      t0=$(date +%s.%N)
      "$bin" bench --scenarios "$file" --policies "$policy" --seeds 1 $set --out "$tmp/b" -q
      t=$(python3 -c "import time;print(time.time()-$t0)")
      if [ "$which" = before ]; then best_b=$(python3 -c "print(min($best_b,$t))"); else best_a=$(python3 -c "print(min($best_a,$t))"); fi
    done
  done
  python3 -c "
b,a,t=$best_b,$best_a,$tasks
print(f'$name: {t} tasks; before {t/b:,.0f} tasks/s ({b:.3f} s), after {t/a:,.0f} tasks/s ({a:.3f} s); after/before = {b/a:.3f}')"
done
