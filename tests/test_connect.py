"""Opening a Memory: URLs, clients, the embedded default, and server failures."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
import redis
import redis.asyncio

from pyredmem import (
    AsyncMemory,
    BackendUnavailableError,
    ConfigurationError,
    Memory,
    PyRedMemError,
)
from tests.engines import Engine, Server, redis_server_binary


def test_embedded_default_is_private_unless_named() -> None:
    with Memory() as a, Memory("memory://") as b:
        a.user("u").set("k", 1)
        assert b.user("u").get("k") is None
    with Memory("memory://team") as c, Memory("memory://team") as d:
        c.user("u").set("k", 2)
        assert d.user("u").get("k") == 2


@pytest.mark.parametrize("url", ["nope", "http://localhost", "redis+sentinel://x:1"])
def test_unsupported_urls(url: str) -> None:
    with pytest.raises(ConfigurationError):
        Memory(url)


@pytest.mark.parametrize(
    "url",
    [
        "redis://127.0.0.1:1/0?db=abc",
        "redis://127.0.0.1:1/0?foo=bar",
        "redis://127.0.0.1:1/0?timeout=1",  # a BlockingConnectionPool's, not a connection's
        "redis://127.0.0.1:abc/0",
        "unix:///tmp/redis.sock?foo=bar",
        "redis+cluster://127.0.0.1:1?db=abc",
        "redis+sentinel://127.0.0.1:1/svc?socket_timeout=abc",
    ],
)
def test_a_bad_url_is_refused_when_the_memory_is_made(url: str) -> None:
    """A URL redis-py cannot read, or whose query names an option no connection takes, is
    a ConfigurationError from the constructor (sync and asyncio): never a bare ValueError,
    nor a TypeError at the first command."""
    with pytest.raises(ConfigurationError, match="bad URL"):
        Memory(url)
    with pytest.raises(ConfigurationError, match="bad URL"):
        AsyncMemory(url)


@pytest.mark.parametrize(
    "url",
    [
        "redis://127.0.0.1:1/0?socket_timeout=0.5&client_name=a&socket_keepalive=yes",
        "rediss://127.0.0.1:1/0?ssl_cert_reqs=none&ssl_check_hostname=false",
        "unix:///tmp/redis.sock?db=1",
        "redis+cluster://127.0.0.1:1?client_name=a",
    ],
)
def test_redis_py_url_options_are_taken(url: str) -> None:
    Memory(url).close()


def test_wrong_client_flavours() -> None:
    with pytest.raises(ConfigurationError):
        Memory(redis.asyncio.Redis())
    with pytest.raises(ConfigurationError):
        AsyncMemory(redis.Redis())
    with pytest.raises(ConfigurationError):
        Memory(redis.Redis(decode_responses=True))
    with pytest.raises(ConfigurationError):
        Memory(object())


@pytest.mark.parametrize(
    "option",
    [
        {"max_keys_per_scope": 0},
        {"max_value_bytes": -1},
        {"update_retries": 1.5},
        {"default_ttl": 0},
        {"codec": object()},
    ],
)
def test_bad_options(option: dict[str, object]) -> None:
    with pytest.raises(PyRedMemError):
        Memory(**option)  # type: ignore[arg-type]


@pytest.mark.real_server
def test_a_given_client_is_used_as_is_and_left_open(engine: Engine, url: str) -> None:
    if engine.cluster:
        client = redis.cluster.RedisCluster.from_url(url.replace("+cluster", ""))
    else:
        client = redis.Redis.from_url(url)
    with Memory(client) as m:
        m.user("u").set("k", 1)
        assert m.client is client
    assert client.ping()  # not closed by the Memory
    client.close()


@pytest.mark.real_server
@pytest.mark.standalone
def test_unix_socket_url(engine: Engine, tmp_path: Path) -> None:
    sock = tmp_path / "redis.sock"
    server = Server(redis_server_binary(), tmp_path, ("--unixsocket", str(sock)))
    server.start()
    try:
        with Memory(f"unix://{sock}") as m:
            m.session("s").set("k", "v")
            assert m.session("s").get("k") == "v"
    finally:
        server.stop()


def test_unreachable_server_raises_backend_unavailable() -> None:
    with Memory("redis://127.0.0.1:1/0?socket_connect_timeout=0.5") as m:
        with pytest.raises(BackendUnavailableError) as info:
            m.user("u").get("k")
        assert info.value.scope == "user:u" and info.value.key == "k"

    async def main() -> None:
        async with AsyncMemory("redis://127.0.0.1:1/0?socket_connect_timeout=0.5") as am:
            await am.user("u").set("k", 1)

    with pytest.raises(BackendUnavailableError):
        asyncio.run(main())


@pytest.mark.real_server
@pytest.mark.standalone
def test_server_restart_reloads_scripts(engine: Engine, tmp_path: Path) -> None:
    server = Server(redis_server_binary(), tmp_path)
    server.start()
    try:
        port = server.port
        with Memory(f"redis://127.0.0.1:{port}") as m:
            m.user("u").set("k", 1)
            server.stop()
            server.start()  # an empty server on the same port: no data, no scripts
            assert server.port == port
            assert m.user("u").get("k") is None
            m.user("u").set("k", 2)
            assert m.user("u").get("k") == 2
    finally:
        server.stop()
