#!/usr/bin/env bash
# Fuzzing of what users feed Tessera (scenario files, --set/--unset, answer and truth CSVs, event traces, drift reports, the live
# server's project settings and JSON bodies) for a
# bounded time per target, under a memory limit: no panic, no abort, no hang, no error that does
# not say where (fuzz/src/targets.rs). The corpus is kept in fuzz/corpus; a failing input is
# written to fuzz/crashes/ (and an input that aborted the process is printed from its work folder).
#   scripts/fuzz.sh [SECONDS_PER_TARGET=30] [MEMORY_LIMIT_KB=4000000]
set -uo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
secs=${1:-30}; mem=${2:-4000000}
bin="${CARGO_TARGET_DIR:-$root/target}/release/tessera-fuzz"
[ -x "$bin" ] || cargo build --release --quiet -p tessera-fuzz
work="$(mktemp -d)"; trap 'rm -rf "$work"' EXIT
(ulimit -v "$mem"; TMPDIR="$work" exec "$bin" --seconds "$secs" --corpus fuzz/corpus --crashes "$root/fuzz/crashes")
status=$?
if [ "$status" -ne 0 ]; then
  for f in "$work"/tessera-fuzz-*/current; do
    [ -f "$f" ] || continue
    mkdir -p fuzz/crashes && cp "$f" fuzz/crashes/aborted-input
    echo "fuzz: the process ended with status $status while running this input (kept in fuzz/crashes/aborted-input):" >&2
    head -c 2000 "$f" >&2; echo >&2
  done
  echo "fuzz: FAILED" >&2
fi
exit "$status"
