"""A shared cache with single-flight computation (`mem.cache("llm", ttl=3600)`)."""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Callable
from typing import Any

from .._config import Config, positive_int
from .._errors import CacheTimeoutError, ConfigurationError, ValidationError
from .._ops import cache as ops
from .._ops.cache import CacheLease, Fetch
from .._ops.events import Matcher
from .._ops.near import NearStore
from ._runner import AsyncRunner
from .watch import AsyncWatch, on_change

log = logging.getLogger("pyredmem.cache")


class AsyncCache:
    """A cache shared by every process that opens it: values with a TTL, and
    `get_or_compute`, which computes a missing value once across all callers.

    Every method is one atomic script call; `get_or_compute` makes one read-only call on a
    hit, and otherwise one more call (`fetch`), then either computes (then one call to store)
    or blocks on a wake-up list until the value lands (then one call to read it).
    """

    __slots__ = ("_near", "_near_handler", "_runner", "_t")

    def __init__(
        self,
        runner: AsyncRunner,
        cfg: Config,
        name: str,
        *,
        near: bool = False,
        near_max: int = 10_000,
        **options: Any,
    ) -> None:
        self._runner = runner
        self._t = ops.CacheTarget(cfg, name, **options)
        self._near: NearStore | None = None
        self._near_handler: Any = None  # the AsyncChangeHandler once started
        if not isinstance(near, bool):
            raise ValidationError(f"near is True or False, not {near!r}", scope=self._t.label)
        if near:
            if not cfg.events:
                raise ConfigurationError(
                    "a near cache needs change events: open the memory with events=True "
                    "(every process that writes this cache too)",
                    scope=self._t.label,
                )
            limit = positive_int("near_max", near_max, scope=self._t.label)
            self._near = NearStore(self._t.label[len("cache:") :], limit)

    @property
    def name(self) -> str:
        return self._t.name

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self._t.label}>"

    async def get(self, key: str, default: Any = None) -> Any:
        """The fresh value under `key`, or `default` (stale values are not returned). A near
        cache answers from its copy when it has one (no round trip), except in a batch,
        where its `get` reads the shared cache like any other."""
        near = self._near
        if near is None or self._runner.recording:
            return await self._runner.run(ops.cache_get(self._t, key, default))
        hit, got = await self._near_copy(near, key)
        if hit:
            return got
        found = await self._runner.run(ops.cache_get_entry(self._t, key))
        if found is None:
            return default
        vtype, payload, expiry = found
        near.offer(key, (vtype, payload), expiry, got, self._live_epoch())
        return self._t.decode(vtype, payload, key)

    async def set(self, key: str, value: Any, *, ttl: float | None = None) -> None:
        """Store `value` for `ttl` seconds (default: the cache's ttl). A computation in
        flight for `key` loses its lease: its result will not overwrite this value."""
        await self._runner.run(ops.cache_set(self._t, key, value, ttl))
        if self._near is not None:
            self._near.drop(key)

    async def delete(self, key: str) -> bool:
        """Remove `key`; True when it held a fresh value. A computation in flight for it
        loses its lease (its result is not stored) and its waiters retry."""
        deleted = await self._runner.run(ops.cache_delete(self._t, key))
        if self._near is not None:
            self._near.drop(key)
        return deleted

    async def clear(self) -> int:
        """Remove every entry; returns how many values (stale ones included) were removed.
        Computations in flight lose their leases; callers waiting for them are not woken
        but ask again within 2 s. One script call on a single server; on Redis Cluster one
        per slot, pipelined, each atomic on its own."""
        calls = ops.cache_clear(self._t, per_slot=self._runner.cluster)
        removed = sum(await self._runner.run_all(calls))
        if self._near is not None:
            self._near.drop(None)
        return removed

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
        stored = await self._runner.run(ops.cache_fill(self._t, lease, value, ttl, compute_time))
        if self._near is not None:
            self._near.drop(lease.key)
        return stored

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
        t.ttl(ttl, key)  # bad input fails before any call: a miss's fetch may purge or evict
        near = self._near
        held = None  # the near cache's ticket for the read below
        if near is not None:
            hit_near, got = await self._near_copy(near, key)
            if hit_near:
                return got
            held = got
        stale, ticket = t.stale_ms > 0, ops.draw()
        # a read first (FCALL_RO: a hit passes write pauses and may run on a replica); on
        # anything but a hit, the writing fetch decides again with the same ticket
        hit = await self._runner.run(ops.cache_peek(t, key, serve_stale=stale, draw=ticket))
        if hit is not None:
            if near is not None and held is not None and hit.raw is not None:
                near.offer(key, hit.raw, hit.expiry_ms, held, self._live_epoch())
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

    def near_stats(self) -> dict[str, int] | None:
        """A near cache's counters (None for a plain cache): `size` (copies held),
        `hits` (answered from a copy), `misses` (asked the shared cache)."""
        return None if self._near is None else self._near.stats()

    async def _near_copy(self, near: NearStore, key: str) -> tuple[bool, Any]:
        """(True, the value) from this process's copy; else (False, the ticket that the
        read of the shared cache which follows gives `near.offer`)."""
        epoch = await self._near_epoch()
        hit, raw = near.lookup(key, epoch)
        if hit:
            return True, self._t.decode(raw[0], raw[1], key)
        return False, near.ticket(epoch)

    async def _near_epoch(self) -> int | None:
        """Start the near cache's watcher on first use; its live epoch (None: not live,
        so nothing is served from copies)."""
        assert self._near is not None
        if self._near_handler is None and self._near.claim_start():
            try:
                watch = AsyncWatch(
                    self._runner,
                    self._t.cfg,
                    Matcher.of(self._t.cfg.keyspace, f"cache:{self._t.name}"),
                )
                self._near_handler = await on_change(watch, self._near.on_event)
            finally:
                self._near.started()
        return self._live_epoch()

    def _live_epoch(self) -> int | None:
        handler = self._near_handler
        return None if handler is None else handler.live_epoch

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
