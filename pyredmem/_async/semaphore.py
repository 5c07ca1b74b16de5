"""Concurrency limits (`mem.semaphore(...)`): at most `limit` holders per key at once."""

from __future__ import annotations

import random
import time
from types import TracebackType

from .._config import Config
from .._errors import ConcurrencyLimitError, InvalidValueError
from .._ops import semaphore as ops
from .._ops.limiter import number
from .._ops.semaphore import SemaphoreLease, SemaphoreRule
from ._runner import AsyncRunner
from ._sleep import sleep

POLL = 0.05  # seconds between attempts while waiting for a slot (at most)


class AsyncSemaphore:
    """At most `limit` concurrent holders per key, across processes and machines.

    A holder keeps its slot until `release` or until its lease (seconds) runs out, so the
    slots of a holder that crashed come back by themselves. Acquire and release are each
    one atomic script call on the server's clock.
    """

    __slots__ = ("_runner", "rule")

    def __init__(
        self, runner: AsyncRunner, cfg: Config, name: str, *, limit: int, lease: float
    ) -> None:
        self._runner = runner
        self.rule = SemaphoreRule.of(cfg.keyspace, name, limit=limit, lease=lease)

    @property
    def name(self) -> str:
        return self.rule.name

    @property
    def limit(self) -> int:
        return self.rule.limit

    @property
    def lease(self) -> float:
        return self.rule.lease

    def __repr__(self) -> str:
        r = self.rule
        return f"<{type(self).__name__} {r.name!r} limit={r.limit} lease={r.lease}s>"

    async def acquire(self, key: str, *, wait: float = 0) -> SemaphoreLease | None:
        """Take a slot of `key`: the SemaphoreLease to release later, or None when every slot stayed
        taken for `wait` seconds (0: answer at once)."""
        wait = number("wait", wait, label=self.rule.label, key=key)
        if wait < 0:
            raise InvalidValueError("wait must be >= 0 seconds", key=key, scope=self.rule.label)
        deadline = time.monotonic() + wait
        while True:
            lease, retry = await self._runner.run(ops.semaphore_acquire(self.rule, key))
            if lease is not None:
                return lease
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            await sleep(min(left, retry, random.uniform(POLL / 2, POLL)))

    async def release(self, lease: SemaphoreLease) -> bool:
        """Give the slot back. False when its lease had expired (the slot was already
        free for others) or it was released before."""
        return await self._runner.run(ops.semaphore_release(self.rule, lease))

    async def renew(self, lease: SemaphoreLease) -> bool:
        """Extend a held slot's lease to `lease` seconds from now, for a holder that needs
        longer than one lease. False when the lease had expired or was released: the slot
        may belong to someone else by now, so stop (or acquire again)."""
        return await self._runner.run(ops.semaphore_renew(self.rule, lease))

    def hold(self, key: str, *, wait: float = 0) -> AsyncHold:
        """`async with sem.hold(key):` holds a slot for the block and releases it after;
        raises ConcurrencyLimitError when none frees up within `wait` seconds."""
        return AsyncHold(self, key, wait)


class AsyncHold:
    """A slot held for the duration of an `async with` block."""

    __slots__ = ("_key", "_sem", "_wait", "lease")

    def __init__(self, sem: AsyncSemaphore, key: str, wait: float) -> None:
        self._sem = sem
        self._key = key
        self._wait = wait
        self.lease: SemaphoreLease | None = None

    async def __aenter__(self) -> SemaphoreLease:
        lease = await self._sem.acquire(self._key, wait=self._wait)
        if lease is None:
            raise ConcurrencyLimitError(
                f"all {self._sem.limit} slots are taken", key=self._key, scope=self._sem.rule.label
            )
        self.lease = lease
        return lease

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self.lease is not None:
            lease, self.lease = self.lease, None
            await self._sem.release(lease)
