"""Opening a Memory: URLs, clients, the embedded default, and server failures."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
import redis.asyncio
from redis.backoff import NoBackoff
from redis.retry import Retry

from pyredmem import (
    AsyncMemory,
    BackendUnavailableError,
    ConfigurationError,
    Memory,
    OutcomeUnknownError,
    PoolExhaustedError,
    PyRedMemError,
)
from tests.engines import Engine, Server, free_port, redis_server_binary


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
        # pyredmem stores binary values (redis-py takes the text as is: "False" decodes too)
        "redis://127.0.0.1:1/0?decode_responses=True",
        "redis://127.0.0.1:1/0?decode_responses=False",
        "redis+cluster://127.0.0.1:1?decode_responses=1",
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


# -- Sentinel ------------------------------------------------------------------------------


def test_a_limiter_with_a_failure_policy_works_behind_sentinel() -> None:
    """A failure policy (`on_error`, `timeout`) works on a `redis+sentinel://` memory too:
    its bounded client asks the same Sentinels for the same service."""
    with Memory("redis+sentinel://127.0.0.1:1/main") as mem:
        limiter = mem.limiter("api", limit=5, period=60, on_error="allow")
        assert limiter.hit("alice").allowed  # nothing answers: allowed by the policy

    async def main() -> None:
        async with AsyncMemory("redis+sentinel://127.0.0.1:1/main") as amem:
            sem = amem.semaphore("gpu", limit=2, lease=30, on_error="deny", timeout=0.5)
            assert (await sem.acquire("job")) is None  # denied by the policy

    asyncio.run(main())


@pytest.fixture
def sentinel(tmp_path: Path) -> Iterator[int]:
    """A primary and a Sentinel monitoring it as "main": the Sentinel's port."""
    primary = Server(redis_server_binary(), tmp_path / "primary").start()
    port = free_port()
    conf = tmp_path / "sentinel.conf"
    conf.write_text(
        f"port {port}\nbind 127.0.0.1\ndir {tmp_path}\n"
        f"sentinel monitor main 127.0.0.1 {primary.port} 1\n"
    )
    proc = subprocess.Popen(
        [redis_server_binary(), str(conf), "--sentinel"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                probe = redis.Redis(port=port, socket_timeout=0.5)
                ready = probe.sentinel_masters()
                probe.close()
                if ready:
                    break
            except redis.RedisError:
                pass
            assert time.monotonic() < deadline, "the sentinel did not start"
            time.sleep(0.1)
        yield port
    finally:
        proc.terminate()
        proc.wait(5)
        primary.stop()


def _sentinel_clients(port: int) -> int:
    """Connections open on the Sentinel, besides the one asking."""
    admin = redis.Redis(port=port)
    try:
        return len(admin.client_list()) - 1
    finally:
        admin.close()


def test_close_closes_the_connections_to_the_sentinels(sentinel: int) -> None:
    """`close()` / `aclose()` of a `redis+sentinel://` memory also closes the connections
    to the Sentinels it opened."""
    url = f"redis+sentinel://127.0.0.1:{sentinel}/main"
    assert _sentinel_clients(sentinel) == 0
    with Memory(url) as mem:
        mem.user("a").set("k", 1)
        assert mem.user("a").get("k") == 1
    assert _sentinel_clients(sentinel) == 0, "close() left the Sentinel connection open"

    async def main() -> None:
        amem = AsyncMemory(url, read_from_replicas=False)
        await amem.user("a").set("k", 2)
        await amem.aclose()
        assert _sentinel_clients(sentinel) == 0, "aclose() left the Sentinel connection open"

    asyncio.run(main())


# -- error replies redis-py raises as ConnectionErrors ----------------------------------------


def _still_loading(port: int) -> bool:
    with socket.create_connection(("127.0.0.1", port), timeout=2) as raw:
        raw.sendall(b"PING\r\n")
        return raw.recv(100).startswith(b"-LOADING")


@pytest.fixture
def loading(server: Server) -> Iterator[int]:
    """The port of a redis-server that stays LOADING its dataset for about 20 s."""
    filler = redis.Redis(port=server.port)
    filler.mset({f"filler:{i}": os.urandom(4000) for i in range(400)})  # incompressible
    filler.save()
    filler.close()
    server.stop()
    port = free_port()
    proc = subprocess.Popen(
        [
            redis_server_binary(),
            *("--port", str(port), "--bind", "127.0.0.1", "--dir", str(server.workdir)),
            *("--save", "", "--appendonly", "no"),
            *("--key-load-delay", "50000", "--loading-process-events-interval-bytes", "1024"),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                if _still_loading(port):
                    break
            except OSError:
                pass
            assert time.monotonic() < deadline, "the server did not start loading"
            time.sleep(0.05)
        yield port
    finally:
        proc.terminate()
        proc.wait(10)


def test_a_loading_server_makes_an_incr_unavailable_not_unknown(loading: int) -> None:
    """LOADING (which redis-py raises as a ConnectionError) is a refusal: the call did not
    run, so even one that may not be sent twice is BackendUnavailableError, not
    OutcomeUnknownError."""
    strict = redis.Redis(port=loading, retry=Retry(NoBackoff(), 0))
    with Memory(strict) as mem:
        with pytest.raises(BackendUnavailableError) as got:
            mem.user("u").incr("n")
        assert _still_loading(loading)  # the server was loading all along
        assert not isinstance(got.value, OutcomeUnknownError)
    strict.close()

    async def main() -> None:
        async with AsyncMemory(f"redis://127.0.0.1:{loading}") as amem:
            with pytest.raises(BackendUnavailableError):
                await amem.limiter("api", limit=5, period=60).hit("alice")
        assert _still_loading(loading)

    asyncio.run(main())


# -- pools -----------------------------------------------------------------------------------


def test_an_exhausted_blocking_pool_says_so(server: Server) -> None:
    """A BlockingConnectionPool whose connections the application holds: PoolExhaustedError
    once its timeout runs out, not "the server is unreachable"."""
    pool = redis.BlockingConnectionPool(port=server.port, max_connections=1, timeout=0.1)
    client = redis.Redis(connection_pool=pool)
    held = pool.get_connection()  # the application holds the only one
    try:
        with Memory(client) as mem:
            with pytest.raises(PoolExhaustedError):
                mem.user("u").get("k")
    finally:
        pool.release(held)
        client.close()
