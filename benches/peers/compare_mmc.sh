#!/usr/bin/env bash
# Tessera vs SimPy on the same M/M/c, in one run on the same machine: prints both and the ratio.
# Usage: benches/peers/compare_mmc.sh [customers]   (default 1,000,000 for Tessera, 200,000 for SimPy)
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
venv="$("$here/setup.sh" | tail -1)"
n="${1:-1000000}"
cd "$root"
cargo build --release --quiet -p tessera-benches --example mmc_speed
tess="$("$root/target/release/examples/mmc_speed" "$n")"
simpy="$("$venv/bin/python" "$here/simpy_mmc.py" $(( n / 5 )))"
echo "$tess"
echo "$simpy"
python3 - "$tess" "$simpy" <<'PY'
import json, sys
rows = [json.loads(l) for l in sys.argv[1].splitlines()] + [json.loads(sys.argv[2])]
simpy = rows[-1]
for r in rows[:-1]:
    print(f"{r['model']}: {r['tasks_per_s']/simpy['tasks_per_s']:.0f}x SimPy's customers/s "
          f"({r['tasks_per_s']:,.0f} vs {simpy['tasks_per_s']:,.0f}); events/s {r['events_per_s']:,.0f} vs {simpy['events_per_s']:,.0f}")
PY
