"""Running a loop in the background, and calling a user's callback: the two things the
sync and asyncio watchers do differently enough that the generator cannot rewrite one into
the other, so both twins are written here, side by side (`on_change` uses them).

An asyncio loop runs as a task of the running event loop (never a thread); a sync one as a
daemon thread, so that a forgotten handler never keeps the interpreter from exiting.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
import threading
from collections.abc import Awaitable, Callable
from typing import Any

__all__ = ["AsyncBackground", "Background", "call_async", "call_sync", "logger"]

logger = logging.getLogger("pyredmem")

# how long closing a sync handler waits for its thread (s): a callback may be slow to return
JOIN_TIMEOUT = 30.0


class AsyncBackground:
    """`run()` as a task of the running event loop."""

    def __init__(self, run: Callable[[], Awaitable[None]], name: str) -> None:
        async def main() -> None:
            await run()

        self._task = asyncio.get_running_loop().create_task(main(), name=name)

    @property
    def running(self) -> bool:
        return not self._task.done()

    async def aclose(self) -> None:
        """Cancel the task and wait for it to end (unless called from within it)."""
        if asyncio.current_task() is self._task:
            return
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task


class Background:
    """`run()` in a daemon thread."""

    def __init__(self, run: Callable[[], None], name: str) -> None:
        self._thread = threading.Thread(target=run, name=name, daemon=True)
        self._thread.start()

    @property
    def running(self) -> bool:
        return self._thread.is_alive()

    def close(self) -> None:
        """Wait for the thread to end (it was asked to stop; unless called from within
        it)."""
        if threading.current_thread() is self._thread:
            return
        self._thread.join(JOIN_TIMEOUT)
        if self._thread.is_alive():
            logger.warning("pyredmem: a change handler's thread did not stop in time")


async def call_async(callback: Callable[[Any], Any], arg: Any) -> None:
    """`callback(arg)`, awaited if it is a coroutine function (or returns an awaitable)."""
    outcome = callback(arg)
    if inspect.isawaitable(outcome):
        await outcome


def call_sync(callback: Callable[[Any], Any], arg: Any) -> None:
    """`callback(arg)`."""
    callback(arg)
