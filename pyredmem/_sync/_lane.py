# Generated from pyredmem/_async/_lane.py by scripts/unasync.py: do not edit.
"""The direct lane: single script calls on a standalone client's connections, sent by hand.

redis-py's `execute_command` costs more than a loopback round trip: each command checks a
connection out of the pool (with a readiness poll), records metrics, dispatches the command
by name and checks the connection back in. It also retries a command whose reply was lost
by the client's retry policy, which would run a counter or a limiter hit twice. A memory
operation is always one EVALSHA whose reply needs no callback, so a standalone client's
calls go out here instead, where pyredmem decides what may be sent again:

- nothing was sent (connecting failed, or the connection was found dead before use): the
  call is sent on a new connection, as the client's retry policy allows;
- sent, and the script may run twice for one call (`Script.retry`: reads, sets, appends
  with their ids): sent again as the client's retry policy allows;
- sent, and it may not (`incr`, limiter hits, acquires, compare-and-set): never sent
  again; the caller gets OutcomeUnknownError (`Lost`, here).

redis-py still does the rest, by the client's own settings: connecting (auth, db, TLS,
protocol), parsing (hiredis), timeouts. Connections come from the client's pool and go back
to it after each call, except one kept aside for the next call (KEEP_IDLE), so the lane
never holds more connections than calls in flight, plus that one.
"""

from __future__ import annotations

import inspect
import os
from collections.abc import Callable, Sequence
from operator import attrgetter, methodcaller
from time import monotonic
from typing import Any

import hiredis
import redis
from redis.exceptions import (
    AuthenticationError,
    AuthorizationError,
    BusyLoadingError,
    NoScriptError,
    ResponseError,
)
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from .._connect import Lost
from .._dialect import LOAD, Dialect, Refused, is_missing, is_refusal
from .._ops._call import Call

__all__ = ["REFUSED", "Lane", "exchange"]

# A connection used this recently (seconds) is sent on without the readiness poll (a
# syscall, ~10% of a call): it answered a moment ago. Connection pools commonly skip
# validation within such a window. Calls that may not be sent twice always poll, so that a
# connection the server closed while it was idle is found before the call goes out on it.
TRUSTED_IDLE = 0.1

# connections kept out of the pool between calls: one spares the common, sequential case
# a pool checkout; more would be held by a memory that is not using them
KEEP_IDLE = 1

# one tuple of arguments -> the packed command
pack_command: Callable[[tuple[Any, ...]], bytes] = hiredis.pack_command

# failures of the connection itself (as opposed to error replies)
_BROKEN = (RedisConnectionError, RedisTimeoutError, OSError)

# error replies redis-py raises as ConnectionErrors (LOADING, NOAUTH, ...): read in full,
# the server refused the call without running it, and the connection is sound
REFUSED = (BusyLoadingError, AuthenticationError, AuthorizationError)

#: commands a batch writes at once (send_all): the server runs each chunk while the client
#: packs the next
PIPELINE_CHUNK = 64

# What the installed redis-py's connections offer, decided once (redis-py 6.x and 7.x are
# supported too): 8.0 added `is_connected` to sync connections (before it, a socket is
# kept) and `can_read` to asyncio ones (before it, the pool's own poll is
# `can_read_destructive`), 7.0 `should_reconnect` (maintenance notifications; none before
# it), 6.4 the `retry_socket_connect` switch (before it, connecting retries by the
# connection's policy, which is safe: nothing has been sent).
_Connection = redis.connection.AbstractConnection
_connected: Callable[[Any], Any] = attrgetter(
    "is_connected" if hasattr(_Connection, "is_connected") else "_sock"
)
_poll = methodcaller("can_read" if hasattr(_Connection, "can_read") else "can_read_destructive")
_reconnect_due: Callable[[Any], Any] = (
    methodcaller("should_reconnect")
    if hasattr(_Connection, "should_reconnect")
    else (lambda conn: False)
)
_CONNECT_ONCE: dict[str, Any] = (
    {"retry_socket_connect": False}
    if "retry_socket_connect" in inspect.signature(_Connection.connect_check_health).parameters
    else {}
)


class Lane:
    """Sends calls on connections of one standalone client's pool."""

    __slots__ = ("_dialect", "_idle", "_keep", "_pid", "_pool")

    def __init__(self, pool: Any, *, keep: bool, dialect: Dialect) -> None:
        self._pool = pool
        self._keep = keep  # may a connection stay out of the pool between calls?
        self._dialect = dialect  # how calls are spelled (shared with the runner)
        self._idle: list[tuple[Any, float]] = []  # (connection, when last used)
        self._pid = os.getpid()

    @classmethod
    def of(cls, client: Any, *, dialect: Dialect) -> Lane | None:
        """The lane for `client`, or None where it does not apply: anything but redis-py's
        standalone client (a cluster routes each command itself), a client bound to one
        connection, encoding text other than as UTF-8, or with a client-side cache (it must
        see every reply). Connections stay out of the pool between calls only with
        redis-py's plain pool (a BlockingConnectionPool is chosen to share few connections;
        a Sentinel pool follows failovers as it hands connections out)."""
        if not isinstance(client, redis.Redis):
            return None
        pool = client.connection_pool
        if getattr(pool, "cache", None) or getattr(client, "connection", None) is not None:
            return None
        if pool.connection_kwargs.get("encoding", "utf-8").lower().replace("-", "") != "utf8":
            return None  # keys and values must be encoded as everywhere else
        plain = type(pool) is redis.ConnectionPool
        return cls(pool, keep=plain, dialect=dialect)

    def send(self, call: Call[Any]) -> Any:
        """The reply to `call` (see pyredmem/_dialect.py). Raises redis-py's errors, Lost,
        or Refused."""
        conn, used = self._take()
        clean = False
        try:
            if not call.script.retry or monotonic() - used >= TRUSTED_IDLE:
                _check(conn)
            reply = _send(conn, call, self._dialect)
            clean = True
            return reply
        except (ResponseError, Refused, *REFUSED):
            clean = True  # an error reply was read in full
            raise
        finally:
            self._put_back(conn, clean)

    def send_all(self, commands: Sequence[tuple[Any, ...]]) -> list[Any]:
        """The replies to `commands`, all written on one connection, then read in order:
        each reply, or the ResponseError it was. One round trip: every command is written
        before any reply is read, in chunks of PIPELINE_CHUNK, so that the server runs the
        first while the client packs the next (rather than packing all, then waiting).
        Nothing is sent twice: if the connection breaks once writing has begun, its failure
        stands in for every reply not read (the caller judges what may be sent again).
        Raises redis-py's errors when connecting fails, before anything is sent."""
        conn, _ = self._take()
        replies: list[Any] = []
        clean = False
        try:
            _check(conn)
            if not _connected(conn):
                conn.retry.call_with_retry(
                    lambda: conn.connect_check_health(**_CONNECT_ONCE),
                    lambda _: _drop(conn),
                )
            try:
                for start in range(0, len(commands), PIPELINE_CHUNK):
                    chunk = commands[start : start + PIPELINE_CHUNK]
                    conn.send_packed_command([pack_command(c) for c in chunk])
                for _ in commands:
                    try:
                        replies.append(conn.read_response())
                    except (ResponseError, *REFUSED) as error:
                        replies.append(error)
            except _BROKEN as error:
                return replies + [error] * (len(commands) - len(replies))
            clean = True
            return replies
        finally:
            self._put_back(conn, clean)

    def _take(self) -> tuple[Any, float]:
        """A connection, and when it was last used: the one kept aside, else one checked
        out of the pool (connected, and checked by it)."""
        if self._pid != os.getpid():  # a forked child must not share its parent's sockets
            self._idle.clear()
            self._pid = os.getpid()
        try:
            return self._idle.pop()
        except IndexError:
            return self._pool.get_connection(), monotonic()

    def _put_back(self, conn: Any, clean: bool) -> None:
        """Keep `conn` for the next call, or give it back to the pool; `clean`: its last
        reply was read in full (otherwise it is never reused as it is)."""
        if clean and not _reconnect_due(conn) and len(self._idle) < KEEP_IDLE and self._keep:
            self._idle.append((conn, monotonic()))
        else:
            if not clean:
                conn.disconnect()
            self._pool.release(conn)

    def close(self) -> None:
        """Give the connections back to the pool."""
        idle, self._idle = self._idle, []
        if self._pid == os.getpid():
            for conn, _ in idle:
                self._pool.release(conn)


def _check(conn: Any) -> None:
    """As the pool checks a connection it hands out: one the server closed (restarted, timed
    out, killed) reads as ready, and is made anew rather than failing the call."""
    try:
        ready = _poll(conn)
    except _BROKEN:
        ready = True
    if ready:
        conn.disconnect()  # connected again before sending


def _send(conn: Any, call: Call[Any], dialect: Dialect) -> Any:
    """Send `call` on `conn`, again after a failure only where that is safe (see the module
    docstring); the retry policy is the connection's, consulted only after a failure."""
    failures: list[Exception] = []

    def attempt() -> Any:
        if failures:  # the first attempt's failure, for the policy to judge
            raise failures.pop()
        if not _connected(conn):  # fails before anything is sent
            conn.connect_check_health(**_CONNECT_ONCE)
        try:
            return _exchange(conn, call, dialect)
        except REFUSED:
            raise  # it did not run: the retry policy may send it again
        except _BROKEN as error:
            if call.script.retry:
                raise
            conn.disconnect()
            raise Lost(str(error)) from error

    try:
        return attempt()
    except _BROKEN as error:
        failures.append(error)
    return conn.retry.call_with_retry(attempt, lambda _: _drop(conn))


def _exchange(conn: Any, call: Call[Any], dialect: Dialect) -> Any:
    def execute(command: tuple[Any, ...]) -> Any:
        # our arguments are str (UTF-8), bytes and int only: hiredis packs them as they are
        conn.send_packed_command([pack_command(command)])
        return conn.read_response()

    return exchange(execute, call, dialect)


def exchange(
    execute: Callable[[tuple[Any, ...]], Any],
    call: Call[Any],
    dialect: Dialect,
    *,
    load: bool = True,
) -> Any:
    """Run `call` with `execute` (one command, its reply) in `dialect`: FCALL, loading the
    library first where the server lacks it (unless not `load`: a replica, which gets it
    from its primary, answers "Function not found" as an error), or EVALSHA, then EVAL
    where it lacks the script. Raises Refused when the server refuses functions."""
    functions = dialect.functions  # once: another call may give functions up meanwhile
    command = dialect.command(call, functions)
    try:
        return execute(command)
    except NoScriptError:  # EVALSHA of a script the server lacks: EVAL caches it
        return execute(dialect.source_command(call))
    except ResponseError as error:
        if not functions:
            raise
        if is_refusal(error):
            raise Refused(str(error)) from error
        if not is_missing(error) or not load:
            raise
    try:  # the server lacks the library: load it, then send the call again (it did not run)
        execute(LOAD)
    except ResponseError as error:
        raise Refused(str(error)) from error
    return execute(command)


def _drop(conn: Any) -> None:
    """Before a retry: the connection failed; it reconnects when next used."""
    conn.disconnect()
