#!/usr/bin/env bash
# The benchmarks, from a clean checkout: installs pyredmem with its bench extra (the `limits`
# library, compared side by side) into .venv, then runs bench/run.py, which starts its own
# redis-server (Debian's; scripts/test.sh installs it). Arguments go to bench/run.py, e.g.
#   scripts/bench.sh --only history -n 10000
#   scripts/bench.sh --only server -n 2000     # or memory, throughput: one section
set -euo pipefail
cd "$(dirname "$0")/.."
python=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$python" -m venv .venv
fi
.venv/bin/python -m pip install --quiet --disable-pip-version-check -e '.[bench]'
exec .venv/bin/python bench/run.py "$@"
