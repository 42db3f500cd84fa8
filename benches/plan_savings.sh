#!/usr/bin/env bash
# `tessera plan` on the shipped scenarios, against the scenario as shipped and a uniform overlap
# of 3: weekly cost, and whether each meets the same targets (accuracy and share finished within
# the turnaround, per stream, at their 95% CI bounds, 5 replications), all three over the same
# steady-state window the plan is checked on (the plan's run.warmup / run.horizon overrides).
# Workflow graphs (toxicity-adjudication, detector-in-the-loop, lidar-sequences) are planned from
# measured work (planner/src/plan/graph.rs); their "overlap 3" is that of the graph's main label
# stage.
#   benches/plan_savings.sh
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
cargo build --release --quiet --bin tessera
bin="$root/target/release/tessera"
tmp="$(mktemp -d)"; trap 'rm -rf "$tmp"' EXIT
echo "| scenario | targets | plan [USD/week] | plan meets | as shipped [USD/week] | shipped meets | overlap 3 [USD/week] | overlap 3 meets | saving vs shipped | simulated vs predicted cost | simulated vs predicted throughput, per stream |"
echo "|---|---|---:|---|---:|---|---:|---|---:|---:|---|"
for spec in "mmc mmc 0.9 2d" "ecommerce-surge ecommerce-surge 0.9 2d" "llm-preference llm-preference 0.85 4d" "medical-imaging medical-imaging 0.9 4d" \
            "medical-imaging,--shifts medical-imaging 0.9 4d scenarios/shifts/weekdays-and-weekend.csv" \
            "medical-imaging,--shifts,2d medical-imaging 0.9 2d scenarios/shifts/weekdays-and-weekend.csv" \
            "lidar-cuboids lidar-cuboids 0.7 4d" \
            "toxicity-adjudication toxicity-adjudication 0.9 1d" "detector-in-the-loop detector-in-the-loop 0.9 1d" \
            "lidar-sequences lidar-sequences 0.85 4d" "biased-crowd biased-crowd 0.85 2d" \
            "active-learning-wine active-learning-wine 0.75 7d"; do
  set -- $spec
  label="$1"; s="scenarios/$2.toml"; dir="$tmp/${label//,/_}"
  extra=(); [ -n "${5:-}" ] && extra=(--shifts "$5")
  "$bin" plan "$s" --target-accuracy "$3" --within "$4" "${extra[@]}" -q -o "$dir-plan"
  streams=$(python3 -c "import json;print(' '.join(json.load(open('$dir-plan/plan.json'))['streams']))")
  sets=(); for st in $streams; do sets+=(--set "streams.$st.turnaround=$4"); done
  for w in $(python3 -c "import json;print(' '.join(o for o in json.load(open('$dir-plan/plan.json'))['rounds'][-1]['overrides'] if o.startswith('run.')))"); do sets+=(--set "$w"); done
  for u in $(python3 -c "import json;print(' '.join(json.load(open('$dir-plan/plan.json'))['rounds'][-1].get('unset', [])))"); do sets+=(--unset "$u"); done
  "$bin" simulate "$s" -q -r 5 --tasks none "${sets[@]}" -o "$dir-shipped"
  # Overlap 3 everywhere: the scenario's, and each workflow graph's main label stage (the stage
  # the plan sets).
  o3=(--set quality.overlap=3)
  for o in $(python3 -c "import json;print(' '.join(o for o in json.load(open('$dir-plan/plan.json'))['rounds'][-1]['overrides'] if '.stages.' in o and '.overlap=' in o))"); do o3+=(--set "${o%=*}=3"); done
  "$bin" simulate "$s" -q -r 5 --tasks none "${sets[@]}" "${o3[@]}" -o "$dir-o3" || true
  python3 - "$dir" "$label" "$3" "$4" <<'PY'
import json, sys
dir, name, acc, within = sys.argv[1], sys.argv[2].replace(",", " "), float(sys.argv[3]), sys.argv[4]
plan = json.load(open(f"{dir}-plan/plan.json"))
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
c_ship, m_ship = judge(f"{dir}-shipped")
c_o3, m_o3 = judge(f"{dir}-o3")
c_plan = last["simulated_cost_week"][0]
pred = last["solved"]["cost_week"]
tp = [f"{s / p - 1:+.1%}" for s, p in zip(last["simulated_throughput"], last["solved"]["throughput"])]
print(f"| {name} | accuracy ≥ {acc}, 95% within {within} | {c_plan:,.0f} | {'yes' if plan['met'] else 'no'} | {c_ship:,.0f} | {m_ship} | {c_o3:,.0f} | {m_o3} | {(1 - c_plan / c_ship) * 100:+.0f}% | {c_plan / pred - 1:+.1%} | {' '.join(tp)} |")
PY
done
