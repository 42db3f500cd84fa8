#!/usr/bin/env bash
# The path users run: a 100-point `tessera sweep` of scenarios/ecommerce-surge.toml with 10
# replications per point (pools.crowd.count 45..135 × pools.newcomers.count 5..50: 10 × 10), its
# wall clock on this machine's cores, the time to write its report.html (printed by the sweep and
# re-measured with `sweep merge`, which rebuilds results and report from the point files), and in
# the same run the machine's own limit: the same 1,000 replications' worth of simulation as one
# `tessera simulate -r 50` measured per replication (no grid, no point files).
#   benches/sweep_speed.sh [REPS=10]
set -euo pipefail
reps=${1:-10}
root="$(cd "$(dirname "$0")/.." && pwd)"
tmp="$(mktemp -d)"; trap 'rm -rf "$tmp"' EXIT
cd "$root"
cargo build --release --quiet --bin tessera
bin="${CARGO_TARGET_DIR:-$root/target}/release/tessera"
sc="$root/scenarios/ecommerce-surge.toml"
now() { python3 -c 'import time;print(time.time())'; }
t0=$(now)
"$bin" sweep "$sc" --vary pools.crowd.count=45..135:10 --vary pools.newcomers.count=5..50:5 -r "$reps" -o "$tmp/sweep" | tee "$tmp/said"
t1=$(now)
t2=$(now)
"$bin" sweep merge "$tmp/sweep" -o "$tmp/merged" -q
t3=$(now)
cmp "$tmp/sweep/report.html" "$tmp/merged/report.html"
t4=$(now)
"$bin" simulate "$sc" -r 50 --tasks none -q -o "$tmp/limit"
t5=$(now)
python3 - "$t0" "$t1" "$t2" "$t3" "$t4" "$t5" "$reps" "$(nproc)" <<'PY'
import sys
t0,t1,t2,t3,t4,t5=map(float,sys.argv[1:7]); reps=int(sys.argv[7]); cores=int(sys.argv[8])
sweep=t1-t0; merge=t3-t2; per=(t5-t4)/50
limit=per*100*reps
print(f"cores {cores}: sweep of 100 points x {reps} replications {sweep:.1f} s; merge (results.csv, differences.csv, report.html from 100 point files) {merge:.2f} s")
print(f"machine's limit: the same {100*reps} replications in one simulate -r at {per:.3f} s each = {limit:.1f} s; sweep / limit = {sweep/limit:.2f}")
PY
