#!/usr/bin/env bash
# The whole test suite, from a clean checkout, with all its set-up:
#   1. a virtualenv in .venv with pyredmem and its test extras (valkey-server comes with them)
#   2. Debian's redis-server (installed with apt-get when it is missing)
#   3. format, lint, type and sync-twin checks
#   4. pytest on every engine: fakeredis, Redis, Valkey, a 3-master Redis Cluster and a Redis
#      server that refuses FUNCTION/FCALL (the EVALSHA fallback), which
#      the test session starts itself on free loopback ports
# Extra arguments go to pytest, e.g. scripts/test.sh -k history -x
set -euo pipefail
cd "$(dirname "$0")/.."

python=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$python" -m venv .venv
fi
.venv/bin/python -m pip install --quiet --disable-pip-version-check -e '.[test]'

if ! command -v redis-server >/dev/null || ! command -v redis-cli >/dev/null; then
  echo "installing redis-server (Debian package)"
  sudo=""
  [ "$(id -u)" = 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq redis-server >/dev/null
fi

bin=.venv/bin
"$bin/ruff" format --check .
"$bin/ruff" check .
"$bin/mypy"
"$bin/python" scripts/unasync.py --check
exec "$bin/python" -m pytest "$@"
