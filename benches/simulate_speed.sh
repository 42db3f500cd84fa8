#!/usr/bin/env bash
# The path users run, end to end: `tessera simulate` wall clock (start-up, run, summary and output
# files included) on the M/M/c domain (scenarios/mmc.toml, fifo), SimPy 4.1.1 on the same model in
# the same run, and the speed-up of replications on the machine's cores. Best of N each.
#   benches/simulate_speed.sh [N=3] [DAYS=2100]    (2,100 days ≈ 10 M tasks in one replication)
set -euo pipefail
n=${1:-3}; days=${2:-2100}
root="$(cd "$(dirname "$0")/.." && pwd)"
here="$root/benches/peers"
tmp="$(mktemp -d)"; trap 'rm -rf "$tmp"' EXIT
cd "$root"
cargo build --release --quiet --bin tessera
bin="${CARGO_TARGET_DIR:-$root/target}/release/tessera"
venv="$("$here/setup.sh" | tail -1)"
best() { # best wall seconds of N runs of "$@"
  local b=999999 t0 t
  for _ in $(seq "$n"); do
    t0=$(date +%s.%N); "$@" >/dev/null; t=$(python3 -c "import time;print(time.time()-$t0)")
    b=$(python3 -c "print(min($b,$t))")
  done
  echo "$b"
}
mmc="$root/scenarios/mmc.toml"
"$bin" simulate "$mmc" -q --tasks none --set "run.horizon=${days}d" --out "$tmp/count"
tasks=$(python3 -c "import json;print(int(json.load(open('$tmp/count/summary.json'))['figures']['arrivals']['mean']))")
none=$(RAYON_NUM_THREADS=1 best "$bin" simulate "$mmc" -q --tasks none --set "run.horizon=${days}d" --out "$tmp/none")
csv=$(RAYON_NUM_THREADS=1 best "$bin" simulate "$mmc" -q --set "run.horizon=${days}d" --out "$tmp/csv")
r1=$(RAYON_NUM_THREADS=1 best "$bin" simulate "$mmc" -q --tasks none -r 10 --out "$tmp/r1")
r2=$(RAYON_NUM_THREADS=2 best "$bin" simulate "$mmc" -q --tasks none -r 10 --out "$tmp/r2")
# The machine's own limit: the same ten replications as two separate processes of five, side by
# side (two vCPUs may share a physical core: this is what two cores give here).
pair() {
  RAYON_NUM_THREADS=1 "$bin" simulate "$mmc" -q --tasks none -r 5 --out "$tmp/p1" &
  RAYON_NUM_THREADS=1 "$bin" simulate "$mmc" -q --tasks none -r 5 --seed 7 --out "$tmp/p2"
  wait
}
rp=$(best pair)
simpy=$("$venv/bin/python" "$here/simpy_mmc.py" 200000)
python3 - "$tasks" "$none" "$csv" "$r1" "$r2" "$simpy" "$rp" <<'PY'
import json, sys
tasks, none, csv, r1, r2 = int(sys.argv[1]), *map(float, sys.argv[2:6])
simpy = json.loads(sys.argv[6])
rp = float(sys.argv[7])
s = simpy["tasks_per_s"]
print(f"| run | wall [s] | tasks/s | vs SimPy |\n|---|---:|---:|---:|")
print(f"| tessera simulate, {tasks:,} tasks, --tasks none | {none:.2f} | {tasks/none:,.0f} | {tasks/none/s:.1f}x |")
print(f"| tessera simulate, {tasks:,} tasks, tasks.csv | {csv:.2f} | {tasks/csv:,.0f} | {tasks/csv/s:.1f}x |")
print(f"| SimPy 4.1.1, {simpy['customers']:,} customers (peers/simpy_mmc.py) | {simpy['seconds']:.2f} | {s:,.0f} | 1x |")
print(f"\n10 replications of 60 days (--tasks none): 1 thread {r1:.2f} s, 2 threads {r2:.2f} s: speed-up {r1/r2:.2f}x")
print(f"the machine's own limit, two processes of 5 replications side by side: {rp:.2f} s: {r1/rp:.2f}x")
PY
