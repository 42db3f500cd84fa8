#!/usr/bin/env bash
# The whole test suite, with its set-up, on a fresh machine (README's second command; .ci/run
# calls it). Needs: a Rust toolchain, python3 with venv and PyPI access (for the peers, and maturin
# and pytest for the Python package), ../shared beside the checkout (or TESSERA_CROWD_DATA
# pointing at the crowd datasets), and PostgreSQL and nats-server (Debian packages postgresql
# and nats-server) for the scale-out tests, which this script starts on private ports.
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
# The default members (Cargo.toml): every crate but python/, which maturin builds below. `--workspace`
# would add python/ back and `cargo test` cannot link a Python extension module.
cargo build --release --all-targets

echo "== services: PostgreSQL and nats-server on private ports (scripts/services.sh) =="
if [ -n "${TESSERA_SERVICES_INSTALL:-}" ]; then
  # .ci/run installs them while cargo builds.
  while [ ! -f "$TESSERA_SERVICES_INSTALL.rc" ]; do sleep 2; done
  if [ "$(cat "$TESSERA_SERVICES_INSTALL.rc")" != 0 ]; then
    cat "$TESSERA_SERVICES_INSTALL.log" >&2
    echo "error: installing postgresql, nats-server and chromium failed" >&2
    exit 1
  fi
fi
services="$target/services"
rm -rf "$services"
if bash scripts/services.sh start "$services"; then
  # shellcheck disable=SC1091
  . "$services/env"
  trap 'bash scripts/services.sh stop "$services"' EXIT
elif [ "${TESSERA_REQUIRE_SERVICES:-}" = 1 ]; then
  echo "error: PostgreSQL or nats-server could not start, and TESSERA_REQUIRE_SERVICES=1" >&2
  exit 1
else
  echo "WARNING: PostgreSQL or nats-server is missing: the scale-out tests will SKIP (each says so)" >&2
fi

echo "== tests =="
log="$(mktemp)"
set +e
cargo test --release --no-fail-fast 2>&1 | tee "$log"
status=${PIPESTATUS[0]}
if [ -n "${TESSERA_TEST_PG:-}" ]; then
  echo "== the live store tests again, on PostgreSQL =="
  TESSERA_TEST_STORE=postgres cargo test --release -p tessera-live --test api --test dispatch --test webhooks --test replay 2>&1 | sed 's/^test result: \(.*\)$/test result: \1 (PostgreSQL)/' | tee -a "$log"
  [ "${PIPESTATUS[0]}" -eq 0 ] || status=1
fi
echo "== Python package: abi3 wheel (maturin, this target directory), installed in the peers environment, pytest =="
# The peers environment has crowd-kit 1.4.2 with pandas pinned to 2.2, the reference python/tests compare with.
# pytest runs from the repository root so that `import tessera` is the installed wheel, not python/tessera.
wheels="$target/wheels"
rm -f "$wheels"/tessera-*.whl
pylog="$(mktemp)"
if "$venv/bin/pip" install --quiet --disable-pip-version-check -r python/requirements-test.txt \
   && CARGO_TARGET_DIR="$target" "$venv/bin/maturin" build --quiet --release --manifest-path python/Cargo.toml --interpreter "$venv/bin/python" --out "$wheels" \
   && "$venv/bin/pip" install --quiet --disable-pip-version-check --force-reinstall --no-deps "$wheels"/tessera-*.whl; then
  # tests/test_sim.py compares with the binary built above
  TESSERA_BIN="$target/release/tessera" "$venv/bin/pytest" -q -rfE python/tests 2>&1 | tee "$pylog"
  [ "${PIPESTATUS[0]}" -eq 0 ] || status=1
  # pytest's closing line ("120 passed, 1 failed, 2 errors in 30.1s") as a cargo-style line for the count below
  tail -1 "$pylog" | awk '{ for (i = 1; i < NF; i++) { if ($(i+1) ~ /^passed/) p += $i; if ($(i+1) ~ /^(failed|errors?)/) f += $i } }
    END { printf "test result: %s. %d passed; %d failed (python)\n", (f || !p) ? "FAILED" : "ok", p, (f || p) ? f : 1 }' | tee -a "$log"
else
  echo "test result: FAILED. 0 passed; 1 failed (python package build)" | tee -a "$log"
  status=1
fi
rm -f "$pylog"
echo "== fuzzing: scenarios, --set/--unset, CSVs, live settings and bodies, policy files, traces, drift reports (${TESSERA_FUZZ_SECONDS:-30} s each, 4 GB memory limit) =="
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
