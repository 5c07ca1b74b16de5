"""asyncio rows, for reference: AsyncMemory operations against redis.asyncio's commands
(the same direct lane serves both APIs)."""

from __future__ import annotations

from typing import Any

from bench.harness import Row
from pyredmem import AsyncMemory, Message, MsgpackCodec

VALUE = {"theme": "dark", "language": "en", "timezone": "Europe/Paris", "beta": True, "n": 7}
TEXT = "Could you remind me what we decided about the quarterly report format last week?"


async def rows(mem: AsyncMemory, raw: Any) -> list[Row]:
    user = mem.user("bench-async")
    await user.set("prefs", VALUE)
    await raw.set("raw:async:prefs", MsgpackCodec().encode(VALUE))
    chat = user.history("bench-async", ttl=3600.0)
    await chat.clear()
    await chat.extend([Message.user(f"{TEXT} ({i})") for i in range(200)])
    await raw.delete("raw:async:list")
    await raw.rpush("raw:async:list", *(MsgpackCodec().encode(["user", TEXT]) for _ in range(200)))
    limiter = mem.limiter("bench-async", limit=10**9, period=60)
    return [
        Row(
            "async scope.get", lambda: user.get("prefs"), "GET", lambda: raw.get("raw:async:prefs")
        ),
        Row("async scope.incr", lambda: user.incr("n"), "INCR", lambda: raw.incr("raw:async:n")),
        Row(
            "async messages(last=20), 200 turns",
            lambda: chat.messages(last=20),
            "LRANGE -20 -1",
            lambda: raw.lrange("raw:async:list", -20, -1),
        ),
        Row(
            "async limiter.hit (gcra)",
            lambda: limiter.hit("k"),
            "INCR",
            lambda: raw.incr("raw:async:n"),
        ),
    ]
