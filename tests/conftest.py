"""One parametrised fixture runs the behavioural tests on every engine.

- `engine`: fakeredis, redis, valkey, cluster (started once per session, reset per test).
  Tests marked `real_server` run on the real engines only; tests marked `standalone` leave
  the cluster out.
- `mem` / `url`: a Memory (or its URL) on a fresh, empty database of that engine.
- `server`: a private redis-server of the test's own, which it may stop or pause.
- `cli`: the `pyredmem` command line run in-process on the test's URL.
"""

from __future__ import annotations

import os
import shutil
import signal
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from pyredmem import Memory
from pyredmem.__main__ import main
from tests.engines import (
    REAL_ENGINES,
    Engine,
    Server,
    redis_server_binary,
    selected_engines,
    start_engine,
    temp_root,
)

_started: dict[str, Engine] = {}
_root = temp_root()


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "standalone: not run on Redis Cluster")


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "engine" not in metafunc.fixturenames:
        return
    names = selected_engines()
    if metafunc.definition.get_closest_marker("real_server"):
        names = [n for n in names if n in REAL_ENGINES]
    if metafunc.definition.get_closest_marker("standalone"):
        names = [n for n in names if n != "cluster"]
    metafunc.parametrize("engine", names, indirect=True, scope="session")


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    for engine in _started.values():
        engine.stop()
    shutil.rmtree(_root, ignore_errors=True)


@pytest.fixture(scope="session")
def engine(request: pytest.FixtureRequest) -> Engine:
    name: str = request.param
    if name not in _started:
        _started[name] = start_engine(name, _root)
    return _started[name]


@pytest.fixture
def url(engine: Engine) -> str:
    engine.reset()
    return engine.url


@pytest.fixture
def server() -> Iterator[Server]:
    """A private redis-server, for a test that stops, pauses or restarts it."""
    s = Server(redis_server_binary(), Path(tempfile.mkdtemp(prefix="pyredmem-private-"))).start()
    try:
        yield s
    finally:
        if s.proc and s.proc.poll() is None:
            os.kill(s.proc.pid, signal.SIGCONT)  # a paused server cannot stop
        s.stop()
        shutil.rmtree(s.workdir, ignore_errors=True)


@pytest.fixture
def mem(url: str) -> Iterator[Memory]:
    with Memory(url) as m:
        yield m


@pytest.fixture
def cli(url: str, capsys: pytest.CaptureFixture[str]) -> Callable[..., tuple[int, str, str]]:
    """`cli("ls", "user")`: (exit status, stdout, stderr) of pyredmem on the test's URL
    (`url_=` another)."""

    def run(*argv: str, url_: str | None = None) -> tuple[int, str, str]:
        capsys.readouterr()
        try:
            code = main([*argv, "--url", url_ or url])
        except SystemExit as exc:  # argparse's usage errors
            code = int(exc.code or 0)
        out, err = capsys.readouterr()
        assert "Traceback" not in err
        return code, out, err

    return run
