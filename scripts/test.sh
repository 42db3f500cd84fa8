#!/usr/bin/env bash
# The whole test suite, with its set-up, on a fresh machine (README's second command; .ci/run
# calls it). Needs: a Rust toolchain, python3 with venv, and ../shared beside the checkout (or
# TESSERA_CROWD_DATA pointing at the crowd datasets).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"

export TESSERA_CROWD_DATA="${TESSERA_CROWD_DATA:-$root/../shared/data/crowd}"
if [ ! -d "$TESSERA_CROWD_DATA" ]; then
  echo "WARNING: crowd datasets not found at $TESSERA_CROWD_DATA: the tests that need them will skip" >&2
fi

echo "== building (release) =="
cargo build --release --workspace --all-targets

echo "== tests =="
cargo test --release --workspace
