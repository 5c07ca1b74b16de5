"""A shared cache with single-flight computation (`mem.cache("llm", ttl=3600)`)."""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Callable
from typing import Any

from .._config import Config
from .._errors import CacheTimeoutError, ValidationError
from .._ops import cache as ops
from .._ops.cache import CacheLease, Fetch
from ._runner import AsyncRunner

log = logging.getLogger("pyredmem.cache")


class AsyncCache:
    """A cache shared by every process that opens it: values with a TTL, and
    `get_or_compute`, which computes a missing value once across all callers.

    Every method is one atomic script call; `get_or_compute` makes one read-only call on a
    hit, and otherwise one more call (`fetch`), then either computes (then one call to store)
    or blocks on a wake-up list until the value lands (then one call to read it).
    """

    __slots__ = ("_runner", "_t")

    def __init__(self, runner: AsyncRunner, cfg: Config, name: str, **options: Any) -> None:
        self._runner = runner
        self._t = ops.CacheTarget(cfg, name, **options)

    @property
    def name(self) -> str:
        return self._t.name

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self._t.label}>"

    async def get(self, key: str, default: Any = None) -> Any:
        """The fresh value under `key`, or `default` (stale values are not returned)."""
        return await self._runner.run(ops.cache_get(self._t, key, default))

    async def set(self, key: str, value: Any, *, ttl: float | None = None) -> None:
        """Store `value` for `ttl` seconds (default: the cache's ttl). A computation in
        flight for `key` loses its lease: its result will not overwrite this value."""
        await self._runner.run(ops.cache_set(self._t, key, value, ttl))

    async def delete(self, key: str) -> bool:
        """Remove `key`; True when it held a fresh value. A computation in flight for it
        loses its lease (its result is not stored) and its waiters retry."""
        return await self._runner.run(ops.cache_delete(self._t, key))

    async def clear(self) -> int:
        """Remove every entry; returns how many values (stale ones included) were removed.
        Computations in flight lose their leases; callers waiting for them are not woken
        but ask again within 2 s. One script call on a single server; on Redis Cluster one
        per slot, pipelined, each atomic on its own."""
        calls = ops.cache_clear(self._t, per_slot=self._runner.cluster)
        return sum(await self._runner.run_all(calls))

    async def fetch(self, key: str) -> Fetch:
        """The building block of `get_or_compute`: in one call, the value, or a lease to
        compute it (then `fill` or `release` it), or how long another caller's lease runs.
        Safe to send again after a lost reply: a call that took the lease gets it back."""
        t = self._t
        return await self._runner.run(
            ops.cache_fetch(t, key, serve_stale=t.stale_ms > 0, draw=ops.draw())
        )

    async def fill(
        self, lease: CacheLease, value: Any, *, ttl: float | None = None, compute_time: float = 0.0
    ) -> bool:
        """Store the value computed under `lease` and wake the waiters. Returns False, and
        stores nothing, when the lease is no longer the entry's (it expired and another
        caller took over, or `set`/`delete`/`clear` ran since). `compute_time` (seconds)
        drives early refresh."""
        return await self._runner.run(ops.cache_fill(self._t, lease, value, ttl, compute_time))

    async def release(self, lease: CacheLease) -> bool:
        """Give `lease` back without a value, so that a waiter can take it at once."""
        return await self._runner.run(ops.cache_release(self._t, lease))

    async def get_or_compute(
        self,
        key: str,
        fn: Callable[[], Any],
        *,
        ttl: float | None = None,
        fallback: Callable[[], Any] | None = None,
    ) -> Any:
        """The value under `key`; when it is missing, `fn()` (sync or async) runs once across
        every caller of every process, and its result is stored for `ttl` seconds.

        The caller holding the lease computes; the others wait (blocked on a wake-up list,
        not polling) and get its value. If `fn` raises, the lease is released at once, the
        exception reaches that caller only, and one of the waiters takes the lease and
        computes in turn. If the holder dies, a waiter takes over when its lease expires,
        and the dead holder's late result is rejected. A caller that has waited `max_wait`
        seconds returns `fallback()` (sync or async), or raises CacheTimeoutError without
        one. With `stale` set, a stale value is returned at once while one caller refreshes
        it; with `beta` > 0, a hot value is refreshed by one caller shortly before it
        expires (XFetch), so that its expiry causes no wait at all.
        """
        ops.AsyncShell.check(fn)
        t = self._t
        stale, ticket = t.stale_ms > 0, ops.draw()
        # a read first (FCALL_RO: a hit passes write pauses and may run on a replica); on
        # anything but a hit, the writing fetch decides again with the same ticket
        hit = await self._runner.run(ops.cache_peek(t, key, serve_stale=stale, draw=ticket))
        if hit is not None:
            return hit.value
        deadline: float | None = None
        while True:
            found = await self._runner.run(ops.cache_fetch(t, key, serve_stale=stale, draw=ticket))
            ticket = ops.draw()  # a fetch after a wait draws afresh
            if found.lease is not None:
                return await self._compute(found.lease, fn, ttl)
            if found.kind != ops.WAIT:
                return found.value
            now = time.monotonic()
            if deadline is None:
                deadline = now + self._t.max_wait
            if now >= deadline:
                if fallback is not None:
                    return await ops.AsyncShell.result(fallback())
                raise CacheTimeoutError(
                    f"waited {self._t.max_wait} s for another caller's computation",
                    key=key,
                    scope=self._t.label,
                )
            await self._wait(key, ops.wait_slice(found.wait, deadline - now))

    async def _compute(self, lease: CacheLease, fn: Callable[[], Any], ttl: float | None) -> Any:
        start = time.monotonic()
        try:
            value = await ops.AsyncShell.result(fn())
            fill = ops.cache_fill(self._t, lease, value, ttl, time.monotonic() - start)
        except BaseException:
            await self._release_quietly(lease)
            raise
        if not await self._runner.run(fill):
            log.warning(
                "cache %s: the value computed for key #%s was not stored: its lease (token %s) "
                "expired or was revoked before it finished; consider a longer lease",
                self._t.log_label,
                ops.log_digest(lease.key),
                lease.token,
            )
        return value

    async def _release_quietly(self, lease: CacheLease) -> None:
        try:
            await self.release(lease)
        except Exception:  # the original error matters more; the lease expires anyway
            log.warning(
                "cache %s: could not release the lease on key #%s",
                self._t.log_label,
                ops.log_digest(lease.key),
            )

    async def _wait(self, key: str, seconds: float) -> None:
        """Block until the holder wakes us (or `seconds` pass)."""
        wake = self._t.entry_keys(key)[2]
        await self._runner.blpop(wake, seconds, about=key, scope=self._t.label)

    def key_for(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> str:
        """The key `cached` derives for calling `fn(*args, **kwargs)`."""
        return ops.argument_key(fn, args, kwargs, self._t.cfg, self._t.label)

    def decorate(
        self, fn: Callable[..., Any], key: Callable[..., str] | None = None
    ) -> Callable[..., Any]:
        """`fn` with its results cached here (see AsyncMemory.cached)."""
        ops.AsyncShell.check(fn)
        if key is not None and not callable(key):
            raise ValidationError(f"key= must be a function of fn's arguments, got {key!r}")

        def key_for(*args: Any, **kwargs: Any) -> str:
            return key(*args, **kwargs) if key is not None else self.key_for(fn, *args, **kwargs)

        @functools.wraps(fn)
        async def wrapper(*args: Any, **kwargs: Any) -> Any:
            return await self.get_or_compute(key_for(*args, **kwargs), lambda: fn(*args, **kwargs))

        wrapper.cache = self  # type: ignore[attr-defined]
        wrapper.key_for = key_for  # type: ignore[attr-defined]
        return wrapper
