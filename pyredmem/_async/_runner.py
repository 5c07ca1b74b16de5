"""Sends Calls: EVALSHA, falling back to EVAL (which also caches the script) on NOSCRIPT."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, TypeVar

from redis.exceptions import NoScriptError, RedisError

from .._connect import open_async, prepare_async, translate
from .._ops._call import Call
from ._lane import AsyncLane

T = TypeVar("T")


class AsyncRunner:
    """Owns the client; every operation goes through `run` (or `run_all` for a batch that
    Redis Cluster must split across nodes, sent as one pipeline)."""

    def __init__(self, target: Any) -> None:
        conn = open_async(target)
        self._conn = conn
        self._prepared = not conn.cluster
        self.client: Any = conn.client
        self.cluster = conn.cluster
        self.embedded = conn.embedded
        self._owned = conn.owned
        self._lane = None if conn.cluster else AsyncLane.of(conn.client)

    async def _prepare(self) -> None:
        await prepare_async(self._conn)
        self._prepared = True

    async def run(self, call: Call[T]) -> T:
        if not self._prepared:
            await self._prepare()
        try:
            reply = await self._send(call)
        except RedisError as exc:
            raise translate(exc, key=call.key, scope=call.scope) from exc
        return call.parse(reply)

    async def _send(self, call: Call[Any]) -> Any:
        if self._lane is not None:
            return await self._lane.send(call)
        n = len(call.keys)
        try:
            return await self.client.execute_command(
                "EVALSHA", call.script.sha1, n, *call.keys, *call.args
            )
        except NoScriptError:
            return await self.client.execute_command(
                "EVAL", call.script.source, n, *call.keys, *call.args
            )

    async def run_all(self, calls: Sequence[Call[T]]) -> list[T]:
        if len(calls) == 1:
            return [await self.run(calls[0])]
        if not self._prepared:
            await self._prepare()
        pipe = self.client.pipeline(transaction=False)
        for call in calls:
            options = {}
            if self.cluster:
                # naming the node spares redis-py's cluster pipeline a COMMAND GETKEYS round
                # trip per command (it lacks the EVALSHA shortcut single calls have)
                options["target_nodes"] = self.client.get_node_from_key(call.keys[0])
            pipe.execute_command(
                "EVALSHA", call.script.sha1, len(call.keys), *call.keys, *call.args, **options
            )
        try:
            replies = await pipe.execute(raise_on_error=False)
        except RedisError as exc:
            raise translate(exc, key=calls[0].key, scope=calls[0].scope) from exc
        out = []
        for call, reply in zip(calls, replies, strict=True):
            if isinstance(reply, NoScriptError):
                out.append(await self.run(call))
            elif isinstance(reply, Exception):
                raise translate(reply, key=call.key, scope=call.scope) from reply
            else:
                out.append(call.parse(reply))
        return out

    async def aclose(self) -> None:
        if self._lane is not None:
            await self._lane.aclose()
        if self._owned:
            await self.client.aclose()
