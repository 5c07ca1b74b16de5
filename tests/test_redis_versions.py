"""redis-py 6.x, 7.x and 8.x: what differs between them, and pyredmem's answers to it.

CI runs the core behavioural tests a second time on the lowest supported redis-py (see
scripts/test.sh); the tests here force the older releases' paths on whichever redis-py is
installed, so that both paths are tested in every run.
"""

from __future__ import annotations

import asyncio
import importlib.metadata
import re
import time
from operator import attrgetter, methodcaller
from pathlib import Path
from typing import Any

import pytest
import redis
from redis import exceptions as rx
from redis.backoff import NoBackoff
from redis.retry import Retry

from pyredmem import AsyncMemory, BackendUnavailableError, Memory, PoolExhaustedError
from pyredmem._async import _lane as async_lane
from pyredmem._async import _runner as async_runner
from pyredmem._connect import translate
from pyredmem._sync import _lane as sync_lane
from tests.engines import Engine

ROOT = Path(__file__).resolve().parent.parent


def _version(text: str) -> tuple[int, ...]:
    return tuple(int(p) for p in text.split(".")[:3])


def test_the_lowest_redis_py_is_the_one_ci_tests() -> None:
    """pyproject's lower bound is the release scripts/test.sh pins for its second run."""
    pyproject = (ROOT / "pyproject.toml").read_text()
    (bound,) = re.findall(r'"redis\[hiredis\]>=([\d.]+)"', pyproject)
    script = (ROOT / "scripts" / "test.sh").read_text()
    (pinned,) = re.findall(r"^LOWEST_REDIS_PY=([\d.]+)$", script, re.MULTILINE)
    assert _version(pinned) == _version(bound) + (0,) * (3 - len(_version(bound)))
    assert _version(redis.__version__) >= _version(pinned)


def test_the_lowest_fakeredis_is_the_one_ci_tests() -> None:
    """The same for fakeredis: before 2.40 it has no Redis Functions, and with the redis-py
    releases pyredmem allows the embedded store fails (HELLO unknown to 2.26, scripts that
    break on 2.31-2.37)."""
    pyproject = (ROOT / "pyproject.toml").read_text()
    (bound,) = re.findall(r'"fakeredis\[lua\]>=([\d.]+)"', pyproject)
    script = (ROOT / "scripts" / "test.sh").read_text()
    (pinned,) = re.findall(r"^LOWEST_FAKEREDIS=([\d.]+)$", script, re.MULTILINE)
    assert _version(pinned) == _version(bound) + (0,) * (3 - len(_version(bound)))
    assert _version(importlib.metadata.version("fakeredis")) >= _version(pinned)


def test_a_full_pool_is_pool_exhaustion_on_every_release() -> None:
    # redis-py 8 raises MaxConnectionsError; before 7.4 (asyncio) and 6.3 (sync), this
    for exc in (rx.ConnectionError("Too many connections"), rx.MaxConnectionsError("x")):
        assert isinstance(translate(exc, key="k", scope="s"), PoolExhaustedError)
    other = translate(rx.ConnectionError("Connection refused"), key=None, scope=None)
    assert type(other) is BackendUnavailableError


@pytest.fixture
def before_8(monkeypatch: pytest.MonkeyPatch) -> None:
    """The lane as it runs on redis-py 6.x: no sync `is_connected` (the socket is looked
    at), no `should_reconnect`, no `retry_socket_connect`, and the asyncio pool's own poll;
    asyncio cluster clients without pub/sub."""
    monkeypatch.setattr(sync_lane, "_connected", attrgetter("_sock"))
    monkeypatch.setattr(async_lane, "_poll", methodcaller("can_read_destructive"))
    for lane in (sync_lane, async_lane):
        monkeypatch.setattr(lane, "_reconnect_due", lambda conn: False)
        monkeypatch.setattr(lane, "_CONNECT_ONCE", {})
    monkeypatch.setattr(async_runner, "_CLUSTER_PUBSUB", False)


# redis-py 8 deprecated the asyncio poll that earlier releases' pools use
BEFORE_8_POLL = pytest.mark.filterwarnings(
    "ignore:Call to deprecated can_read_destructive:DeprecationWarning"
)


def _kill_clients(engine: Engine) -> None:
    raw = engine.raw_client()
    try:
        raw.client_kill_filter(_type="normal", skipme=True)
    finally:
        raw.close()


@BEFORE_8_POLL
@pytest.mark.real_server
@pytest.mark.standalone
def test_the_lane_before_8_reconnects_a_dropped_connection(
    before_8: None, engine: Engine, url: str
) -> None:
    strict = redis.Redis.from_url(url, retry=Retry(NoBackoff(), 0))
    with Memory(strict) as mem:
        mem.user("u").set("k", 1)
        assert mem.user("u").incr("n") == 1
        _kill_clients(engine)
        time.sleep(0.15)  # past the moment a connection is trusted without a poll
        assert mem.user("u").get("k") == 1
        assert mem.user("u").incr("n") == 2
    strict.close()

    async def main() -> list[Any]:
        client = redis.asyncio.Redis.from_url(url, retry=redis.asyncio.retry.Retry(NoBackoff(), 0))
        async with AsyncMemory(client) as amem:
            got = [await amem.user("u").get("k")]
            _kill_clients(engine)
            await asyncio.sleep(0.15)
            got.append(await amem.user("u").incr("n"))
            got.append(await amem.user("u").get("k"))
        await client.aclose()
        return got

    assert asyncio.run(main()) == [1, 3, 1]


@BEFORE_8_POLL
def test_the_lane_before_8_runs_every_call(before_8: None, url: str) -> None:
    with Memory(url) as mem:
        alice = mem.user("alice")
        alice.set("a", {"x": 1})
        assert alice.get("a") == {"x": 1}
        chat = alice.history("t")
        chat.append({"role": "user", "content": "hi"})
        assert [m.content for m in chat.messages()] == ["hi"]
        assert mem.limiter("api", limit=1, period=60).hit("k").allowed

    async def main() -> Any:
        async with AsyncMemory(url) as amem:
            await amem.user("bob").set("b", 2)
            return await amem.user("bob").get("b")

    assert asyncio.run(main()) == 2


@pytest.mark.real_server
def test_an_async_watch_before_8_hears_every_node(before_8: None, url: str) -> None:
    """On a cluster, the asyncio client of redis-py < 8 has no pub/sub: the watch
    subscribes to each primary on a connection of the node's own settings."""

    async def main() -> list[str]:
        async with AsyncMemory(url, events=True) as writer, AsyncMemory(url) as reader:
            ids = [f"u{i}" for i in range(12)]  # spread over the nodes' slots
            async with reader.watch("user", timeout=5) as watch:
                for uid in ids:
                    await writer.user(uid).set("k", 1)
                seen: list[str] = []
                async for event in watch:
                    seen.append(event.scope)
                    if len(seen) == len(ids):
                        break
            return sorted(seen)

    assert asyncio.run(main()) == sorted(f"u{i}" for i in range(12))
