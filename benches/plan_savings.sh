#!/usr/bin/env bash
# `tessera plan` on the shipped scenarios, against the scenario as shipped and a uniform overlap
# of 3: weekly cost, and whether each meets the same targets (accuracy and share finished within
# the turnaround, per stream, at their 95% CI bounds, 5 replications).
#   benches/plan_savings.sh
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
cargo build --release --quiet --bin tessera
bin="$root/target/release/tessera"
tmp="$(mktemp -d)"; trap 'rm -rf "$tmp"' EXIT
echo "| scenario | targets | plan [USD/week] | plan meets | as shipped [USD/week] | shipped meets | overlap 3 [USD/week] | overlap 3 meets | saving vs shipped |"
echo "|---|---|---:|---|---:|---|---:|---|---:|"
for spec in "mmc 0.9 2d" "ecommerce-surge 0.9 2d" "llm-preference 0.85 4d" "medical-imaging 0.9 4d"; do
  set -- $spec
  s="scenarios/$1.toml"
  "$bin" plan "$s" --target-accuracy "$2" --within "$3" -q -o "$tmp/$1-plan"
  streams=$(python3 -c "import json;print(' '.join(json.load(open('$tmp/$1-plan/plan.json'))['streams']))")
  sets=(); for st in $streams; do sets+=(--set "streams.$st.turnaround=$3"); done
  "$bin" simulate "$s" -q -r 5 --tasks none "${sets[@]}" -o "$tmp/$1-shipped"
  "$bin" simulate "$s" -q -r 5 --tasks none "${sets[@]}" --set quality.overlap=3 -o "$tmp/$1-o3" || true
  python3 - "$tmp" "$1" "$2" "$3" <<'PY'
import json, sys
tmp, name, acc, within = sys.argv[1], sys.argv[2], float(sys.argv[3]), sys.argv[4]
plan = json.load(open(f"{tmp}/{name}-plan/plan.json"))
last = plan["rounds"][-1]
def judge(path):
    try:
        s = json.load(open(f"{path}/summary.json"))
    except FileNotFoundError:
        return float("nan"), "invalid"
    week = [r["cost"]["total_usd"] / (r["window_end_h"] - r["window_start_h"]) * 168 for r in s["runs"]]
    ok = True
    for st, f in s["figures"]["streams"].items():
        ok &= f["accuracy"]["ci95_low"] is not None and f["accuracy"]["ci95_low"] >= acc
        ok &= f["completion_within_target"]["ci95_low"] is not None and f["completion_within_target"]["ci95_low"] >= 0.95
    return sum(week) / len(week), "yes" if ok else "no"
c_ship, m_ship = judge(f"{tmp}/{name}-shipped")
c_o3, m_o3 = judge(f"{tmp}/{name}-o3")
c_plan = last["simulated_cost_week"][0]
print(f"| {name} | accuracy ≥ {acc}, 95% within {within} | {c_plan:,.0f} | {'yes' if plan['met'] else 'no'} | {c_ship:,.0f} | {m_ship} | {c_o3:,.0f} | {m_o3} | {(1 - c_plan / c_ship) * 100:+.0f}% |")
PY
done
