#!/usr/bin/env bash
# The whole test suite, from a clean checkout, with all its set-up:
#   1. a virtualenv in .venv with pyredmem and its test extras (valkey-server comes with them)
#   2. Debian's redis-server (installed with apt-get when it is missing)
#   3. format, lint, type and sync-twin checks
#   4. pytest on every engine: fakeredis, Redis, Valkey, a 3-master Redis Cluster and a Redis
#      server that refuses FUNCTION/FCALL (the EVALSHA fallback), which
#      the test session starts itself on free loopback ports
#   5. the core behavioural tests again on the lowest redis-py and fakeredis pyproject.toml
#      allows, in a second virtualenv (.venv-redis6), on fakeredis, Redis and Redis Cluster
#      (about two minutes): users install pyredmem beside libraries that pin older ones
# Extra arguments go to pytest (step 4 only), e.g. scripts/test.sh -k history -x
set -euo pipefail
cd "$(dirname "$0")/.."

# the lower bounds of redis-py and fakeredis in pyproject.toml (a test checks that they agree)
LOWEST_REDIS_PY=6.0.0
LOWEST_FAKEREDIS=2.40.0
LOWEST_TESTS=(
  tests/test_scope.py tests/test_history.py tests/test_messages_openai.py
  tests/test_limiter.py tests/test_limit_strings.py tests/test_context_ops.py
  tests/test_cache.py tests/test_batch.py tests/test_core.py tests/test_async.py
  tests/test_connect.py tests/test_lane.py tests/test_reliability.py tests/test_ambient.py
  tests/test_facts.py tests/test_events_log.py tests/test_watch.py tests/test_semaphore.py
  tests/test_encryption.py tests/test_redis_versions.py tests/test_import.py
)

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
"$bin/python" -m pytest "$@"
[ "$#" -eq 0 ] || exit 0

low=.venv-redis6
if [ ! -x "$low/bin/python" ]; then
  "$python" -m venv "$low"
fi
"$low/bin/python" -m pip install --quiet --disable-pip-version-check -e . \
  "redis[hiredis]==$LOWEST_REDIS_PY" "fakeredis[lua]==$LOWEST_FAKEREDIS" \
  "pytest>=8" "pytest-timeout>=2.3" "hypothesis>=6.100"
versions='import redis, importlib.metadata as m; print(redis.__version__, m.version("fakeredis"))'
echo "the core tests again on redis-py and fakeredis $("$low/bin/python" -c "$versions")"
# redis-py 6.0-6.2's own RedisCluster.pipeline() passes an argument it deprecated itself
PYREDMEM_ENGINES=fakeredis,redis,cluster exec "$low/bin/python" -m pytest -q \
  -W "ignore:Call to '__init__' function with deprecated usage:DeprecationWarning" \
  "${LOWEST_TESTS[@]}"
