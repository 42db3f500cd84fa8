#!/usr/bin/env bash
# Creates benches/peers/.venv-ls with Label Studio 1.23.x (the peer for benches/peers/label_studio_dispatch.py).
# Kept apart from benches/peers/.venv: Label Studio pins Django and many other packages of its own.
# Installs from PyPI once (about 3 minutes on 2 cores); later runs reuse the environment.
# LS_VERSION overrides the pin, e.g. LS_VERSION='1.23.*'.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
venv="$here/.venv-ls"
version="${LS_VERSION:-1.23.2}"
if [ ! -x "$venv/bin/python" ]; then
  python3 -m venv "$venv"
fi
if ! "$venv/bin/python" -c "import label_studio, sys; sys.exit(0 if label_studio.__version__.startswith('1.23') else 1)" 2>/dev/null; then
  "$venv/bin/pip" install --quiet --disable-pip-version-check "label-studio==$version"
fi
echo "$venv"
