"""Turning `url_or_client` into a redis-py client (sync or asyncio).

None, "memory://"        a private in-process store (fakeredis + lupa)
"memory://NAME"          an in-process store shared by every Memory opened on NAME
"redis://", "rediss://", "unix://"            one Redis/Valkey server
"redis+cluster://host:port" (or rediss+...)   Redis Cluster
a redis-py client (Redis, RedisCluster, their asyncio twins, fakeredis) used as is
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

import fakeredis
import redis
import redis.asyncio
import redis.asyncio.cluster
import redis.cluster

from ._errors import (
    BackendError,
    BackendUnavailableError,
    ConfigurationError,
    PyRedMemError,
    error_from_reply,
)

__all__ = ["Connection", "open_async", "open_sync", "prepare_async", "prepare_sync", "translate"]

_servers: dict[str, Any] = {}
_servers_lock = threading.Lock()


@dataclass(frozen=True, slots=True)
class Connection:
    client: Any
    cluster: bool
    owned: bool  # opened here, so closed by Memory.close()
    embedded: bool


def _memory_server(url: str) -> Any:
    name = url[len("memory://") :]
    if not name:
        return fakeredis.FakeServer()
    with _servers_lock:
        if name not in _servers:
            _servers[name] = fakeredis.FakeServer()
        return _servers[name]


def _split_url(url: str) -> tuple[str, str]:
    scheme, sep, _ = url.partition("://")
    if not sep:
        raise ConfigurationError(f"not a URL: {url!r}")
    return scheme.lower(), url


def _check_binary(client: Any) -> None:
    encoder = getattr(client, "get_encoder", None)
    if encoder is not None and encoder().decode_responses:
        raise ConfigurationError(
            "pyredmem stores binary values: pass a client made with decode_responses=False"
        )


@dataclass(frozen=True, slots=True)
class _Flavour:
    """The client classes of one I/O style."""

    handle: str
    fake: Any
    single: Any
    cluster: Any
    wrong: tuple[Any, ...]
    wrong_hint: str


_SYNC = _Flavour(
    "Memory",
    fakeredis.FakeRedis,
    redis.Redis,
    redis.cluster.RedisCluster,
    (redis.asyncio.Redis, redis.asyncio.cluster.RedisCluster),
    "AsyncMemory",
)
_ASYNC = _Flavour(
    "AsyncMemory",
    fakeredis.FakeAsyncRedis,
    redis.asyncio.Redis,
    redis.asyncio.cluster.RedisCluster,
    (redis.Redis, redis.cluster.RedisCluster),
    "Memory",
)


def _open(target: Any, f: _Flavour) -> Connection:
    if target is None or isinstance(target, str):
        scheme, url = _split_url(target or "memory://")
        if scheme == "memory":
            return Connection(f.fake(server=_memory_server(url)), False, True, True)
        if scheme in ("redis+cluster", "rediss+cluster"):
            return Connection(f.cluster.from_url(url.replace("+cluster", "", 1)), True, True, False)
        if scheme in ("redis", "rediss", "unix"):
            return Connection(f.single.from_url(url), False, True, False)
        raise ConfigurationError(f"unsupported URL scheme {scheme!r}")
    if isinstance(target, f.wrong):
        raise ConfigurationError(f"this client needs {f.wrong_hint}, not {f.handle}")
    _check_binary(target)
    if isinstance(target, f.cluster):
        return Connection(target, True, False, False)
    if isinstance(target, f.single):
        return Connection(target, False, False, isinstance(target, f.fake))
    raise ConfigurationError(f"expected a URL or a redis-py client, got {type(target).__name__}")


def open_sync(target: Any) -> Connection:
    """A sync client for `target`."""
    return _open(target, _SYNC)


def open_async(target: Any) -> Connection:
    """An asyncio client for `target`."""
    return _open(target, _ASYNC)


def translate(exc: Exception, *, key: str | None, scope: str | None) -> PyRedMemError:
    """The one boundary where redis-py's exceptions become pyredmem's."""
    if isinstance(exc, (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError)):
        return BackendUnavailableError(f"the server is unreachable: {exc}", key=key, scope=scope)
    if isinstance(exc, redis.exceptions.ResponseError):
        return error_from_reply(str(exc), key=key, scope=scope)
    return BackendError(f"{type(exc).__name__}: {exc}", key=key, scope=scope)


async def prepare_async(conn: Connection) -> None:
    """Get an asyncio cluster client ready before its first command: redis-py's asyncio
    RedisCluster can fail ("'NoneType' object has no attribute 'writelines'") when many
    tasks make it discover the cluster at once; discovering it first avoids that race."""
    if conn.cluster:
        await conn.client.initialize()


def prepare_sync(conn: Connection) -> None:
    """Sync clients discover the cluster when they are made: nothing to do."""
