#!/usr/bin/env bash
# Creates benches/peers/.venv with the pinned peers (SimPy; crowd-kit with scikit-learn 1.5.x; pyworkforce 0.5.1 with OR-Tools).
# Installs from PyPI once; later runs reuse the environment.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
venv="$here/.venv"
# A venv left half-made (an interrupted run: python but no pip) is made again.
if [ ! -x "$venv/bin/python" ] || [ ! -x "$venv/bin/pip" ]; then
  rm -rf "$venv"
  python3 -m venv "$venv"
fi
"$venv/bin/pip" install --quiet --disable-pip-version-check -r "$here/requirements.txt"
echo "$venv"
