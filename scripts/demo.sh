#!/usr/bin/env bash
# The demo, from a clean checkout: installs pyredmem into .venv, then runs `pyredmem demo` on
# the embedded store (nothing else to install or start). Arguments go to the demo, e.g.
#   scripts/demo.sh --url redis://localhost:6379
set -euo pipefail
cd "$(dirname "$0")/.."
python=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$python" -m venv .venv
fi
.venv/bin/python -m pip install --quiet --disable-pip-version-check -e .
exec .venv/bin/pyredmem demo "$@"
