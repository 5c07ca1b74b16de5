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
from typing import Any

import redis.asyncio
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import NoScriptError, ResponseError

from .._ops._call import Call

__all__ = ["AsyncLane"]


class AsyncLane:
    """Idle connections of one client's pool, each used by one call at a time."""

    __slots__ = ("_idle", "_pid", "_pool")

    def __init__(self, pool: Any) -> None:
        self._pool = pool
        self._idle: list[Any] = []
        self._pid = os.getpid()

    @classmethod
    def of(cls, client: Any) -> AsyncLane | None:
        """The lane for `client`, or None where it does not apply: anything but redis-py's
        standalone client (a cluster routes each command itself), a client bound to one
        connection, a client-side cache (it must see every reply), or a pool of another kind
        than redis-py's plain one (a BlockingConnectionPool is chosen to share few
        connections; a Sentinel pool follows failovers as it hands connections out)."""
        if not isinstance(client, redis.asyncio.Redis):
            return None
        pool = client.connection_pool
        if type(pool) is not redis.asyncio.ConnectionPool or getattr(pool, "cache", None):
            return None
        if getattr(client, "connection", None) is not None:
            return None
        return cls(pool)

    async def send(self, call: Call[Any]) -> Any:
        """The reply to `call` (EVALSHA, then EVAL on NOSCRIPT). Raises redis-py's errors."""
        if self._pid != os.getpid():  # a forked child must not share its parent's sockets
            self._idle.clear()
            self._pid = os.getpid()
        conn = await self._checkout()
        clean = False
        try:
            reply = await conn.retry.call_with_retry(
                lambda: _exchange(conn, call), lambda error: _drop(conn)
            )
            clean = True
            return reply
        except ResponseError:
            clean = True  # an error reply was read in full
            raise
        finally:
            if clean and not conn.should_reconnect():
                self._idle.append(conn)
            else:  # interrupted mid-reply, or told to reconnect: never reuse as it is
                await conn.disconnect()
                await self._pool.release(conn)

    async def _checkout(self) -> Any:
        try:
            conn = self._idle.pop()
        except IndexError:
            return await self._pool.get_connection()  # connected and checked by the pool
        # as the pool checks a connection it hands out: one the server closed (restarted,
        # timed out) reads as ready, and is made anew rather than failing the call
        try:
            ready = await conn.can_read()
        except (RedisConnectionError, OSError):
            ready = True
        if ready:
            await conn.disconnect()  # the next send connects again
        return conn

    async def aclose(self) -> None:
        """Give the connections back to the pool."""
        idle, self._idle = self._idle, []
        if self._pid == os.getpid():
            for conn in idle:
                await self._pool.release(conn)


async def _exchange(conn: Any, call: Call[Any]) -> Any:
    n = len(call.keys)
    await conn.send_packed_command(
        conn.pack_command("EVALSHA", call.script.sha1, n, *call.keys, *call.args)
    )
    try:
        return await conn.read_response()
    except NoScriptError:
        await conn.send_packed_command(
            conn.pack_command("EVAL", call.script.source, n, *call.keys, *call.args)
        )
        return await conn.read_response()


async def _drop(conn: Any) -> None:
    """Before a retry: the connection failed; it reconnects when next used."""
    await conn.disconnect()
