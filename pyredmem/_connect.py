"""Turning `url_or_client` into a redis-py client (sync or asyncio).

None, "memory://"        a private in-process store (fakeredis + lupa)
"memory://NAME"          an in-process store shared by every Memory opened on NAME
"redis://", "rediss://", "unix://"            one Redis/Valkey server
"redis+cluster://host:port" (or rediss+...)   Redis Cluster
"redis+sentinel://[user:pass@]host:port[,host:port...]/service[/db]" (or rediss+...)
                         the primary a Redis Sentinel names (and its replicas for reads)
a redis-py client (Redis, RedisCluster, their asyncio twins, fakeredis) used as is
"""

from __future__ import annotations

import functools
import inspect
import sys
import threading
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import redis
import redis.asyncio
import redis.asyncio.cluster
import redis.asyncio.connection
import redis.asyncio.sentinel
import redis.cluster
import redis.connection
import redis.sentinel
from redis import exceptions as rx
from redis.cluster import LoadBalancingStrategy

from ._errors import (
    BackendError,
    BackendUnavailableError,
    ConfigurationError,
    OutcomeUnknownError,
    OutOfMemoryError,
    PermissionDeniedError,
    PoolExhaustedError,
    PyRedMemError,
    ReadOnlyError,
    error_from_reply,
)

__all__ = [
    "OWNED_CLIENT",
    "Connection",
    "Lost",
    "made",
    "open_async",
    "open_sync",
    "prepare_async",
    "prepare_sync",
    "translate",
]

#: the settings of a client pyredmem opens from a URL (a `?socket_timeout=...` in the URL
#: wins): a hung server is noticed in seconds rather than never, and reads, sets and
#: appends survive a reconnect or a failover (calls that may not run twice are never
#: retried, whatever the client's settings)
OWNED_CLIENT: dict[str, Any] = {
    "socket_timeout": 5.0,
    "socket_connect_timeout": 5.0,
}
OWNED_RETRIES = 3  # after the first attempt, with exponential backoff from 50 ms to 1 s


class Lost(Exception):
    """A call that may not run twice was sent and its reply never came (`__cause__` says
    why): it may or may not have run. Becomes OutcomeUnknownError."""


_servers: dict[str, Any] = {}
_servers_lock = threading.Lock()


@dataclass(frozen=True, slots=True)
class Connection:
    client: Any  # None until `make()` makes it
    cluster: bool
    owned: bool  # opened here, so closed by Memory.close()
    embedded: bool
    make: Any = None  # () -> the client, for one made on first use
    reader: Any = None  # a client of the replicas, for read-only calls (Sentinel)
    replicas: bool = False  # read-only calls go to a replica of their slot (cluster)
    sentinel: Any = None  # the Sentinel opened here: its clients close with the memory


def made(conn: Connection) -> Any:
    """`conn`'s client, made now if it was deferred (a sync cluster client discovers the
    cluster as it is made, so that happens on the first call, where failure policies
    apply, rather than in the Memory's constructor)."""
    if conn.client is not None:
        return conn.client
    try:
        return conn.make()
    except (rx.RedisError, rx.RedisClusterException) as exc:
        raise translate(exc, key=None, scope=None) from exc


def _embedded(url: str, asyncio: bool) -> Any:
    """A fakeredis client of the in-process store `url` names."""
    # imported here, not at the top: fakeredis, lupa and what they pull in take most of a
    # cold `import pyredmem`, and only the embedded store needs them
    import fakeredis

    name = url[len("memory://") :]
    if not name:
        server = fakeredis.FakeServer()
    else:
        with _servers_lock:
            if name not in _servers:
                _servers[name] = fakeredis.FakeServer()
            server = _servers[name]
    return (fakeredis.FakeAsyncRedis if asyncio else fakeredis.FakeRedis)(server=server)


def _is_fake(client: Any, asyncio: bool) -> bool:
    """Whether `client` is a fakeredis client (it cannot be unless fakeredis was imported)."""
    fakeredis = sys.modules.get("fakeredis")
    if fakeredis is None:
        return False
    return isinstance(client, fakeredis.FakeAsyncRedis if asyncio else fakeredis.FakeRedis)


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


def _backoff() -> Any:
    return redis.backoff.ExponentialWithJitterBackoff(base=0.05, cap=1.0)


@dataclass(frozen=True, slots=True)
class _Flavour:
    """The client classes of one I/O style."""

    handle: str
    asyncio: bool  # the embedded store's client is fakeredis's asyncio one
    single: Any
    cluster: Any
    wrong: tuple[Any, ...]
    wrong_hint: str
    retry: Any  # () -> the retry policy of a client opened from a URL
    sentinel: Any
    defer_cluster: bool  # make a cluster client on first use (its constructor connects)
    connections: Any  # redis-py's module of its connections, pools and URL parser


_SYNC = _Flavour(
    "Memory",
    False,
    redis.Redis,
    redis.cluster.RedisCluster,
    (redis.asyncio.Redis, redis.asyncio.cluster.RedisCluster),
    "AsyncMemory",
    lambda: redis.retry.Retry(_backoff(), OWNED_RETRIES),
    redis.sentinel.Sentinel,
    True,
    redis.connection,
)
_ASYNC = _Flavour(
    "AsyncMemory",
    True,
    redis.asyncio.Redis,
    redis.asyncio.cluster.RedisCluster,
    (redis.Redis, redis.cluster.RedisCluster),
    "Memory",
    lambda: redis.asyncio.retry.Retry(_backoff(), OWNED_RETRIES),
    redis.asyncio.sentinel.Sentinel,
    False,
    redis.asyncio.connection,
)


def _open(target: Any, f: _Flavour, replicas: bool) -> Connection:
    if target is None or isinstance(target, str):
        scheme, url = _split_url(target or "memory://")
        if scheme == "memory":
            _no_replicas(replicas)
            return Connection(_embedded(url, f.asyncio), False, True, True)
        options = {**OWNED_CLIENT, "retry": f.retry()}
        if scheme in ("redis+cluster", "rediss+cluster"):
            url = url.replace("+cluster", "", 1)
            _check_url(url, f)
            if replicas:  # its connections to replicas then send READONLY
                options["load_balancing_strategy"] = LoadBalancingStrategy.ROUND_ROBIN_REPLICAS
            if f.defer_cluster:  # the sync client would discover the cluster right here

                def make() -> Any:
                    return f.cluster.from_url(url, **options)

                return Connection(None, True, True, False, make, replicas=replicas)
            client = f.cluster.from_url(url, **options)
            return Connection(client, True, True, False, replicas=replicas)
        if scheme in ("redis+sentinel", "rediss+sentinel"):
            return _sentinel(url, f, options, replicas)
        if scheme in ("redis", "rediss", "unix"):
            _check_url(url, f)
            _no_replicas(replicas)
            return Connection(f.single.from_url(url, **options), False, True, False)
        raise ConfigurationError(f"unsupported URL scheme {scheme!r}")
    if isinstance(target, f.wrong):
        raise ConfigurationError(f"this client needs {f.wrong_hint}, not {f.handle}")
    _check_binary(target)
    if isinstance(target, f.cluster):
        if replicas and not getattr(target, "load_balancing_strategy", None):
            raise ConfigurationError(
                "read_from_replicas=True needs a cluster client made with a "
                "load_balancing_strategy (e.g. LoadBalancingStrategy.ROUND_ROBIN_REPLICAS)"
            )
        return Connection(target, True, False, False, replicas=replicas)
    if isinstance(target, f.single):
        _no_replicas(replicas)
        return Connection(target, False, False, _is_fake(target, f.asyncio))
    raise ConfigurationError(f"expected a URL or a redis-py client, got {type(target).__name__}")


def _check_url(url: str, f: _Flavour) -> None:
    """Refuse, as a ConfigurationError, a redis://, rediss:// or unix:// URL that redis-py
    would take only to fail later: one its URL parser cannot read (a bad port, a query
    option's bad value: a ValueError), with a query option no connection (or pool) of it
    takes (a TypeError at the first command), or asking for decoded replies. The message
    leaves out the URL, which may hold a password."""
    try:
        f.connections.parse_url(url)
    except ValueError as exc:
        raise ConfigurationError(f"bad URL: {exc}") from exc
    options = set(parse_qs(urlsplit(url).query))
    if "decode_responses" in options:  # redis-py takes its text as is: even "False" decodes
        raise ConfigurationError(
            "bad URL: pyredmem stores binary values, so a URL cannot set decode_responses"
        )
    unknown = options - _url_options(f.connections)
    if unknown:
        raise ConfigurationError(
            f"bad URL: unknown options {sorted(unknown)}: its query takes redis-py's "
            "connection options (socket_timeout, client_name, ...)"
        )


@functools.cache
def _url_options(connections: Any) -> frozenset[str]:
    """The keyword arguments the connection pools and connections of redis-py's module
    `connections` take: the options a URL's query may set."""
    classes = ("ConnectionPool", "Connection", "SSLConnection", "UnixDomainSocketConnection")
    names: set[str] = set()
    for name in classes:
        for cls in getattr(connections, name).__mro__:
            init = cls.__dict__.get("__init__")
            if init is not None:
                params = inspect.signature(init).parameters.values()
                names.update(
                    p.name for p in params if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)
                )
    names.discard("self")
    return frozenset(names)


def _no_replicas(replicas: bool) -> None:
    if replicas:
        raise ConfigurationError(
            "read_from_replicas=True needs a redis+cluster:// or redis+sentinel:// URL "
            "(or a cluster client)"
        )


def _sentinel(url: str, f: _Flavour, options: dict[str, Any], replicas: bool) -> Connection:
    """The primary that the Sentinels at `url` name for its service (and, with `replicas`,
    a client of its replicas for reads). Both follow failovers as they connect."""
    parts = urlsplit(url)
    creds, _, hosts = parts.netloc.rpartition("@")
    user, _, password = creds.partition(":")
    nodes = []
    for host in hosts.split(","):
        name, _, port = host.rpartition(":") if ":" in host else (host, "", "26379")
        if not name or not port.isdigit():
            raise ConfigurationError(f"not a sentinel address: {host!r} in {url!r}")
        nodes.append((name, int(port)))
    path = [unquote(p) for p in parts.path.split("/") if p]
    if not path or len(path) > 2 or (len(path) == 2 and not path[1].isdigit()):
        raise ConfigurationError(f"expected .../<service>[/<db>] in {url!r}")
    kwargs: dict[str, Any] = dict(options)
    for key, values in parse_qs(parts.query).items():
        if key not in ("socket_timeout", "socket_connect_timeout"):
            raise ConfigurationError(f"unsupported sentinel URL option {key!r}")
        try:
            kwargs[key] = float(values[-1])
        except ValueError:
            raise ConfigurationError(f"bad URL: {key} is a number, not {values[-1]!r}") from None
    if user:
        kwargs["username"] = unquote(user)
    if password:
        kwargs["password"] = unquote(password)
    if len(path) == 2:
        kwargs["db"] = int(path[1])
    if parts.scheme.startswith("rediss"):
        kwargs["ssl"] = True
    timeouts = {k: kwargs[k] for k in ("socket_timeout", "socket_connect_timeout")}
    sentinel = f.sentinel(nodes, sentinel_kwargs=timeouts, **kwargs)
    reader = sentinel.slave_for(path[0]) if replicas else None
    primary = sentinel.master_for(path[0])
    return Connection(primary, False, True, False, reader=reader, sentinel=sentinel)


def open_sync(target: Any, *, replicas: bool = False) -> Connection:
    """A sync client for `target` (`replicas`: read-only calls may go to replicas)."""
    return _open(target, _SYNC, replicas)


def open_async(target: Any, *, replicas: bool = False) -> Connection:
    """An asyncio client for `target` (`replicas`: read-only calls may go to replicas)."""
    return _open(target, _ASYNC, replicas)


# redis-py's exception -> pyredmem's, most specific first (AuthenticationError and
# BusyLoadingError are ConnectionErrors, MaxConnectionsError too)
_BY_CLASS: tuple[tuple[type[BaseException], type[PyRedMemError], str], ...] = (
    (
        rx.MaxConnectionsError,
        PoolExhaustedError,
        "every connection of the client's pool is "
        "in use (max_connections): raise it, or run fewer calls at once",
    ),
    (rx.AuthenticationError, PermissionDeniedError, "the server refused the credentials"),
    (rx.AuthorizationError, PermissionDeniedError, "the server refused the credentials"),
    (rx.NoPermissionError, PermissionDeniedError, "the server's ACL refused the call"),
    (rx.BusyLoadingError, BackendUnavailableError, "the server is loading its data"),
    (
        rx.OutOfMemoryError,
        OutOfMemoryError,
        "the server is out of memory (maxmemory): nothing was written",
    ),
    (rx.ReadOnlyError, ReadOnlyError, "the server is a read-only replica: nothing was written"),
    (rx.ClusterDownError, BackendUnavailableError, "the cluster is down"),
    (rx.TryAgainError, BackendUnavailableError, "the cluster is moving the key's slot"),
    (rx.SlotNotCoveredError, BackendUnavailableError, "no cluster node serves the key's slot"),
    (rx.ConnectionError, BackendUnavailableError, "the server is unreachable"),
    (rx.TimeoutError, BackendUnavailableError, "the server did not answer in time"),
    (rx.RedisClusterException, BackendUnavailableError, "the cluster is unreachable"),
)

# what a full pool raises as a plain ConnectionError with a fixed text: redis-py's pool
# before 7.4 (asyncio) and 6.3 (sync), where later releases raise MaxConnectionsError, and
# a BlockingConnectionPool whose timeout ran out
_POOL_FULL = (("Too many connections",), ("No connection available.",))

# error replies redis-py leaves as plain ResponseErrors: code -> (class, what it means)
_BY_CODE: dict[str, tuple[type[PyRedMemError], str]] = {
    "BUSY": (BackendUnavailableError, "the server is busy running a script"),
    "MASTERDOWN": (BackendUnavailableError, "the replica lost its primary"),
    "NOREPLICAS": (BackendUnavailableError, "not enough replicas to accept writes"),
    "MISCONF": (BackendUnavailableError, "the server cannot persist, so refuses writes"),
    "OOM": (OutOfMemoryError, "the server is out of memory (maxmemory): nothing was written"),
    "READONLY": (ReadOnlyError, "the server is a read-only replica: nothing was written"),
    "NOPERM": (PermissionDeniedError, "the server's ACL refused the call"),
}


def translate(exc: BaseException, *, key: str | None, scope: str | None) -> PyRedMemError:
    """The one boundary where redis-py's exceptions become pyredmem's. Only types and
    error codes (an error reply's first word) are read, never the rest of a message."""
    if isinstance(exc, Lost):
        cause = exc.__cause__ or exc
        return OutcomeUnknownError(
            "the call was sent but its reply was lost "
            f"({type(cause).__name__}: {cause}): it may or may not have run",
            key=key,
            scope=scope,
        )
    if type(exc) is rx.ConnectionError and exc.args in _POOL_FULL:
        exc = rx.MaxConnectionsError(*exc.args)
    for cls, error, what in _BY_CLASS:
        if isinstance(exc, cls):
            return error(f"{what} ({type(exc).__name__}: {exc})", key=key, scope=scope)
    if isinstance(exc, rx.ResponseError):
        text = str(exc)
        code = text.split(" ", 1)[0]
        if code in _BY_CODE:
            error, what = _BY_CODE[code]
            return error(f"{what} ({text})", key=key, scope=scope)
        return error_from_reply(text, key=key, scope=scope)
    return BackendError(f"{type(exc).__name__}: {exc}", key=key, scope=scope)


async def prepare_async(client: Any, cluster: bool) -> None:
    """Get an asyncio cluster client ready before its first command: redis-py's asyncio
    RedisCluster can fail ("'NoneType' object has no attribute 'writelines'") when many
    tasks make it discover the cluster at once; discovering it first avoids that race."""
    if cluster:
        await client.initialize()


def prepare_sync(client: Any, cluster: bool) -> None:
    """Sync clients discover the cluster when they are made: nothing to do."""
