"""Concurrency limits (`mem.semaphore(...)`): at most `limit` holders per key at once."""

from __future__ import annotations

import random
import time
from types import TracebackType

from .._config import Config
from .._errors import ConcurrencyLimitError
from .._ops import semaphore as ops
from .._ops.limiter import ranged
from .._ops.semaphore import SemaphoreLease, SemaphoreRule
from ._runner import AsyncRunner
from ._sleep import sleep
from .limiter import failure_timeout, guarded_runner, run_with_policy

POLL = 0.05  # seconds between attempts while waiting for a slot (at most)


class AsyncSemaphore:
    """At most `limit` concurrent holders per key, across processes and machines.

    A holder keeps its slot until `release` or until its lease (seconds) runs out, so the
    slots of a holder that crashed come back by themselves. Acquire, renew and release are
    each one atomic script call on the server's clock. `on_error` says what they answer
    when the server is unreachable (within `timeout`), as for limiters: "raise", "allow"
    (acquire grants a `fallback` lease held nowhere) or "deny" (acquire finds no slot).
    """

    __slots__ = ("_on_error", "_runner", "rule")

    def __init__(
        self,
        runner: AsyncRunner,
        cfg: Config,
        name: str,
        *,
        limit: int,
        lease: float,
        on_error: str = "raise",
        timeout: float | None = None,
    ) -> None:
        self.rule = SemaphoreRule.of(cfg.keyspace, name, limit=limit, lease=lease)
        self._on_error = on_error
        self._runner = guarded_runner(runner, failure_timeout(on_error, timeout, self.rule.label))

    @property
    def on_error(self) -> str:
        return self._on_error

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
        wait = ranged("wait", wait, 0, ops.MAX_WAIT, label=self.rule.label, key=key, unit=" s")
        deadline = time.monotonic() + wait
        while True:
            call = ops.semaphore_acquire(self.rule, key)
            lease, retry = await run_with_policy(
                self._runner, call, self._on_error, lambda: self._failed_acquire(key)
            )
            if lease is not None or retry < 0:  # a lease, or the server failed: no waiting
                return lease
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            await sleep(min(left, retry, random.uniform(POLL / 2, POLL)))

    def _failed_acquire(self, key: str) -> tuple[SemaphoreLease | None, float]:
        """What acquire answers when the server fails: a fallback lease under "allow", none
        under "deny"; -1: no waiting."""
        return (ops.fallback_lease(key) if self._on_error == "allow" else None), -1.0

    async def release(self, lease: SemaphoreLease) -> bool:
        """Give the slot back. False when its lease had expired (the slot was already
        free for others), it was released before, or it is a fallback lease."""
        call = ops.semaphore_release(self.rule, lease)
        if lease.fallback:
            return False
        return await run_with_policy(self._runner, call, self._on_error, lambda: False)

    async def renew(self, lease: SemaphoreLease) -> bool:
        """Extend a held slot's lease to `lease` seconds from now, for a holder that needs
        longer than one lease. False when the lease had expired or was released: the slot
        may belong to someone else by now, so stop (or acquire again). A fallback lease
        renews as the policy says (True under "allow")."""
        call = ops.semaphore_renew(self.rule, lease)
        if lease.fallback:
            return True
        allow = self._on_error == "allow"
        return await run_with_policy(self._runner, call, self._on_error, lambda: allow)

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
