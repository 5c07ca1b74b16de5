# Generated from pyredmem/_async/_lane.py by scripts/unasync.py: do not edit.
"""The direct lane: single script calls on connections kept out of the client's pool.

redis-py's `execute_command` costs more than a loopback round trip: each command checks a
connection out of the pool (with a readiness poll), records metrics, dispatches the command
by name and checks the connection back in. A memory operation is always one EVALSHA whose
reply needs no callback, so a standalone client's calls skip that: the lane keeps the
connections it has used checked out of the client's pool and sends on them directly.
redis-py still does the rest, by the client's own settings: connecting (auth, db, TLS,
protocol), packing, parsing (hiredis), timeouts, and retries (`conn.retry`, as
`execute_command` uses it). The lane holds at most as many connections as calls ran at
once; they count toward the pool's max_connections until the memory closes, which returns
them to the pool.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from time import monotonic
from typing import Any

import hiredis
import redis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import NoScriptError, ResponseError

from .._ops._call import Call

__all__ = ["Lane"]

# A connection used this recently (seconds) is sent on without the readiness poll (a
# syscall, ~10% of a call): it answered a moment ago. Connection pools commonly skip
# validation within such a window. A server restart takes longer, so a restarted server's
# stale connections are still found and made anew.
TRUSTED_IDLE = 0.1

# one tuple of arguments -> the packed command
pack_command: Callable[[tuple[Any, ...]], bytes] = hiredis.pack_command


class Lane:
    """Idle connections of one client's pool, each used by one call at a time."""

    __slots__ = ("_idle", "_pid", "_pool")

    def __init__(self, pool: Any) -> None:
        self._pool = pool
        self._idle: list[tuple[Any, float]] = []  # (connection, when last used)
        self._pid = os.getpid()

    @classmethod
    def of(cls, client: Any) -> Lane | None:
        """The lane for `client`, or None where it does not apply: anything but redis-py's
        standalone client (a cluster routes each command itself), a client bound to one
        connection or encoding text other than as UTF-8, a client-side cache (it must see
        every reply), or a pool of another kind than redis-py's plain one (a
        BlockingConnectionPool is chosen to share few connections; a Sentinel pool follows
        failovers as it hands connections out)."""
        if not isinstance(client, redis.Redis):
            return None
        pool = client.connection_pool
        if type(pool) is not redis.ConnectionPool or getattr(pool, "cache", None):
            return None
        if getattr(client, "connection", None) is not None:
            return None
        if pool.connection_kwargs.get("encoding", "utf-8").lower().replace("-", "") != "utf8":
            return None  # keys and values must be encoded as everywhere else
        return cls(pool)

    def send(self, call: Call[Any]) -> Any:
        """The reply to `call` (EVALSHA, then EVAL on NOSCRIPT). Raises redis-py's errors."""
        if self._pid != os.getpid():  # a forked child must not share its parent's sockets
            self._idle.clear()
            self._pid = os.getpid()
        try:
            conn, used = self._idle.pop()
        except IndexError:  # a new one, connected and checked by the pool
            conn, used = self._pool.get_connection(), monotonic()
        clean = False
        try:
            if monotonic() - used >= TRUSTED_IDLE:
                _check(conn)
            try:
                reply = _exchange(conn, call)
            except ResponseError:
                raise
            except Exception as error:  # maybe retried, as redis-py's execute_command would
                reply = _retry(conn, call, error)
            clean = True
            return reply
        except ResponseError:
            clean = True  # an error reply was read in full
            raise
        finally:
            if clean and not conn.should_reconnect():
                self._idle.append((conn, monotonic()))
            else:  # interrupted mid-reply, or told to reconnect: never reuse as it is
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
    out) reads as ready, and is made anew rather than failing the call."""
    try:
        ready = conn.can_read()
    except (RedisConnectionError, OSError):
        ready = True
    if ready:
        conn.disconnect()  # the next send connects again


def _exchange(conn: Any, call: Call[Any]) -> Any:
    n = len(call.keys)
    # our arguments are str (UTF-8), bytes and int only: hiredis packs them as they are
    conn.send_packed_command(
        [pack_command(("EVALSHA", call.script.sha1, n, *call.keys, *call.args))]
    )
    try:
        return conn.read_response()
    except NoScriptError:
        conn.send_packed_command(
            [pack_command(("EVAL", call.script.source, n, *call.keys, *call.args))]
        )
        return conn.read_response()


def _retry(conn: Any, call: Call[Any], error: Exception) -> Any:
    """After `error` on a first attempt: what the connection's retry policy makes of it
    (the policy sees that attempt as its first, then retries or raises)."""
    pending = [error]

    def attempt() -> Any:
        if pending:
            raise pending.pop()
        return _exchange(conn, call)

    return conn.retry.call_with_retry(attempt, lambda _: _drop(conn))


def _drop(conn: Any) -> None:
    """Before a retry: the connection failed; it reconnects when next used."""
    conn.disconnect()
