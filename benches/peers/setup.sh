#!/usr/bin/env bash
# Creates benches/peers/.venv with the pinned peers (SimPy; crowd-kit with scikit-learn 1.5.x; pyworkforce 0.5.1 with OR-Tools).
# Installs from PyPI once; later runs reuse the environment.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
venv="$here/.venv"
if [ ! -x "$venv/bin/python" ]; then
  python3 -m venv "$venv"
fi
"$venv/bin/pip" install --quiet --disable-pip-version-check -r "$here/requirements.txt"
echo "$venv"
