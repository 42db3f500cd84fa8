#!/usr/bin/env bash
# The whole test suite, with its set-up, on a fresh machine (README's second command; .ci/run
# calls it). Needs: a Rust toolchain, python3 with venv and PyPI access (for the peers), and
# ../shared beside the checkout (or TESSERA_CROWD_DATA pointing at the crowd datasets).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"

export TESSERA_CROWD_DATA="${TESSERA_CROWD_DATA:-$root/../shared/data/crowd}"
target="${CARGO_TARGET_DIR:-$root/target}"

echo "== peers: Python environment (SimPy, crowd-kit 1.4.2, pyworkforce 0.5.1) =="
venv="$(bash benches/peers/setup.sh | tail -1)"
# tests/staffing_cli.rs runs pyworkforce from it (benches/peers/pyworkforce_staffing.py): set, it must not skip.
export TESSERA_PEERS_VENV="$venv"

if [ -d "$TESSERA_CROWD_DATA" ]; then
  ref="$target/crowdkit-ref"
  # .complete holds the method list the references were made with: a new method remakes them.
  methods=mv,wawa,ds,ds-golden,one-coin-ds,zbs,kos
  if [ "$(cat "$ref/.complete" 2>/dev/null)" != "$methods" ]; then
    echo "== peers: crowd-kit reference labels on every shared dataset (a few minutes, once) =="
    rm -rf "$ref"
    "$venv/bin/python" benches/peers/crowdkit_labels.py "$ref" "$TESSERA_CROWD_DATA" --methods "$methods"
    echo "$methods" > "$ref/.complete"
  fi
  export TESSERA_CROWDKIT_REF="$ref"
else
  echo "WARNING: crowd datasets not found at $TESSERA_CROWD_DATA: the tests that need them will SKIP" >&2
fi

echo "== build (release, every target) =="
cargo build --release --workspace --all-targets

echo "== tests =="
log="$(mktemp)"
set +e
cargo test --release --workspace 2>&1 | tee "$log"
status=${PIPESTATUS[0]}
echo "== fuzzing: scenarios, --set/--unset, CSVs (${TESSERA_FUZZ_SECONDS:-30} s each, 4 GB memory limit) =="
if bash scripts/fuzz.sh "${TESSERA_FUZZ_SECONDS:-30}" 4000000; then
  echo "test result: ok. 1 passed; 0 failed (fuzzing)" | tee -a "$log"
else
  echo "test result: FAILED. 0 passed; 1 failed (fuzzing)" | tee -a "$log"
  status=1
fi
set -e
# One closing line over every test binary (cargo prints one "test result" line per binary).
awk '/^test result:/ { for (i = 1; i <= NF; i++) { if ($(i+1) ~ /^passed/) p += $i; if ($(i+1) ~ /^failed/) f += $i } }
     END { printf "tessera: %d passed, %d failed\n", p, f }' "$log"
rm -f "$log"
exit "$status"
