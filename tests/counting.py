"""Counting what reaches the server: replies read by the client's connections (sync and
asyncio, redis-py's and fakeredis'), i.e. commands sent, including each command of a
pipeline and any NOSCRIPT retry. Only the replies read on the thread that counts: a
watcher another test left running (a near cache of a memory never closed) reads its own
replies on a thread of its own."""

from __future__ import annotations

import inspect
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import fakeredis._clients._async
import fakeredis._clients._sync
import pytest
import redis.asyncio.connection
import redis.connection

# every class whose own read_response reads one reply (none of them calls another)
_READERS = (
    redis.connection.AbstractConnection,
    redis.asyncio.connection.AbstractConnection,
    fakeredis._clients._sync.FakeBaseConnection,
    fakeredis._clients._async.FakeBaseAsyncConnection,
)


class Counter:
    def __init__(self) -> None:
        self.replies = 0
        self.thread = threading.get_ident()


def _counted(original: Any, counter: Counter) -> Any:
    if inspect.iscoroutinefunction(original):

        async def read_async(self: Any, *args: Any, **kwargs: Any) -> Any:
            if threading.get_ident() == counter.thread:
                counter.replies += 1
            return await original(self, *args, **kwargs)

        return read_async

    def read(self: Any, *args: Any, **kwargs: Any) -> Any:
        if threading.get_ident() == counter.thread:
            counter.replies += 1
        return original(self, *args, **kwargs)

    return read


@contextmanager
def count_replies() -> Iterator[Counter]:
    counter = Counter()
    with pytest.MonkeyPatch.context() as mp:
        for cls in _READERS:
            mp.setattr(cls, "read_response", _counted(cls.__dict__["read_response"], counter))
        yield counter


def script_calls(client: Any) -> int:
    """Script and function calls (EVALSHA, EVAL, FCALL and their _RO forms) a real
    standalone server has run (INFO commandstats)."""
    stats = client.info("commandstats")
    names = ("evalsha", "eval", "evalsha_ro", "eval_ro", "fcall", "fcall_ro")
    return sum(int(stats.get(f"cmdstat_{c}", {}).get("calls", 0)) for c in names)
