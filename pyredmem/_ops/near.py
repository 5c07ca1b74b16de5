"""The near cache (no I/O): in-process copies of a shared cache's entries, dropped as soon
as a change event says another process (or this one) wrote, deleted or invalidated them.

A copy is kept only when it is safe to: the watcher was live (subscribed on every primary,
nothing to catch up on) from before the read that fetched it until the copy is stored, and
no event about its key arrived meanwhile (a read that raced a write could otherwise keep
the older value for good). Copies also end at the entry's own expiry (the server's, read
with the value) and the store holds at most `max_entries` (the oldest copies dropped first).
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from typing import Any

from .events import Event

__all__ = ["NearStore", "meta_expiry"]

# how many keys' last drops are remembered (beyond them, a floor stands for all)
_DROPS = 100_000


def meta_expiry(meta: bytes) -> int | None:
    """The expiry (server ms) of a cache entry's meta "<type> <expiry> <keep> ...": see
    lua/_prelude.lua. None when it cannot be read (then nothing is kept)."""
    try:
        return int(meta.split(b" ", 2)[1])
    except (IndexError, ValueError):
        return None


class NearStore:
    """The copies of one cache handle. Thread-safe: the watcher's callback (a thread with
    the sync API) drops entries while the caller reads them."""

    __slots__ = (
        "_copies",
        "_counter",
        "_drops",
        "_epoch",
        "_floor",
        "_hits",
        "_lock",
        "_misses",
        "_starting",
        "max_entries",
        "name",
    )

    def __init__(self, name: str, max_entries: int) -> None:
        self.name = name  # the cache's name in events: "<name>" or "<name>@<scope>"
        self.max_entries = max_entries
        self._lock = threading.Lock()
        self._copies: OrderedDict[str, tuple[Any, float]] = OrderedDict()  # value, expiry s
        self._counter = 0  # events seen
        self._drops: OrderedDict[str, int] = OrderedDict()  # key -> counter at its last drop
        self._floor = 0  # every key was dropped at or before this counter
        self._epoch: object = None  # the watcher connection the copies were made under
        self._starting = False
        self._hits = self._misses = 0

    def claim_start(self) -> bool:
        """True for the one caller that is to start the watcher (then `started()`)."""
        with self._lock:
            if self._starting:
                return False
            self._starting = True
            return True

    def started(self) -> None:
        """The watcher was started, or failed to start (the next caller tries again)."""
        with self._lock:
            self._starting = False

    def stats(self) -> dict[str, int]:
        with self._lock:
            return {"size": len(self._copies), "hits": self._hits, "misses": self._misses}

    def lookup(self, key: str, epoch: object) -> tuple[bool, Any]:
        """(True, value) for a copy still valid under the watcher connection `epoch` (None:
        the watcher is not live), else (False, None). A hit takes no lock: a drop racing
        with it is as if it had come a moment later."""
        if epoch is None or epoch != self._epoch:
            if self._copies:
                with self._lock:
                    self._copies.clear()
            self._misses += 1
            return False, None
        found = self._copies.get(key)
        if found is None or time.time() >= found[1]:
            self._misses += 1
            return False, None
        self._hits += 1
        return True, found[0]

    def ticket(self, epoch: object) -> tuple[int, object]:
        """Taken before the read whose value `offer` may keep."""
        with self._lock:
            return self._counter, epoch

    def offer(
        self, key: str, value: Any, expiry_ms: int | None, ticket: tuple[int, object], epoch: object
    ) -> None:
        """Keep `value` (read after `ticket` was taken) unless the watcher was not live
        throughout or an event about `key` came since."""
        seen, was = ticket
        if expiry_ms is None or epoch is None or was != epoch:
            return
        expiry = expiry_ms / 1000
        with self._lock:
            if epoch != self._epoch:
                self._copies.clear()
                self._epoch = epoch
            if self._floor > seen or self._drops.get(key, 0) > seen:
                return
            if time.time() >= expiry:
                return
            self._copies[key] = (value, expiry)
            self._copies.move_to_end(key)
            while len(self._copies) > self.max_entries:
                self._copies.popitem(last=False)

    def drop(self, key: str | None) -> None:
        """Forget `key` (None: every key), and refuse copies read before now."""
        with self._lock:
            self._counter += 1
            if key is None:
                self._copies.clear()
                self._drops.clear()
                self._floor = self._counter
                return
            self._copies.pop(key, None)
            self._drops[key] = self._counter
            self._drops.move_to_end(key)
            if len(self._drops) > _DROPS:
                _, at = self._drops.popitem(last=False)
                self._floor = max(self._floor, at)

    def on_event(self, event: Event) -> None:
        """The watcher's callback: drop what the event says changed."""
        if event.kind != "cache" or event.scope != self.name:
            return
        self.drop(event.key if event.target == "cache" else None)
