"""Workers for the near-cache tests, importable so that `spawn` processes (and the embedded
store's threads) run the same code."""

from __future__ import annotations

import json
import random
import time
from pathlib import Path
from typing import Any

from pyredmem import Memory
from pyredmem._ops.events import Event

NAME = "nc"  # the cache every worker opens
TTL = 600.0
KEYS = 100


def read_write(url: str, proc: int, seconds: float, settle: float, barrier: Any, out: str) -> None:
    """For `seconds` after `barrier` (every worker ready), on KEYS keys at random: write a
    unique token ("<proc>:<n>") with 20% probability, else read. Writes to `out` (JSON) what
    it saw per key, in order (["w", token] its own writes, ["r", token] what a read
    returned), every token it wrote, its near cache's counters, and what it read of every
    key `settle` seconds after the end (when every writer has stopped)."""
    rnd = random.Random(proc)
    seen: dict[str, list[tuple[str, str]]] = {}
    written: list[str] = []
    with Memory(url, events="values", events_max=1_000_000) as mem:
        cache = mem.cache(NAME, ttl=TTL, near=True)
        cache.get("k0")  # starts the watcher before the run
        barrier.wait(60)
        end = time.time() + seconds
        n = 0
        while time.time() < end:
            key = f"k{rnd.randrange(KEYS)}"
            if rnd.random() < 0.2:
                token = f"{proc}:{n}"
                n += 1
                cache.set(key, token)
                written.append(token)
                seen.setdefault(key, []).append(("w", token))
            else:
                seen.setdefault(key, []).append(("r", str(cache.get(key))))
        time.sleep(settle)
        final = {f"k{i}": cache.get(f"k{i}") for i in range(KEYS)}
        result = {"seen": seen, "written": written, "stats": cache.near_stats(), "final": final}
        Path(out).write_text(json.dumps(result))


def probe_reader(url: str, writes: int, ready: Any, out: str, limit: float) -> None:
    """Poll a near cache's "probe" until it returns `writes - 1` (or `limit` seconds pass),
    recording when each value (or a later one) was first returned, and when an on_change
    callback of the same process saw each set of the probe. Sets `ready` once both are
    listening; writes {"first": {i: t}, "event": {i: t}, "stats": ...} to `out` (JSON)."""
    first: dict[int, float] = {}
    event: dict[int, float] = {}

    def on_event(ev: Event) -> None:
        if ev.op == "set" and ev.key == "probe" and isinstance(ev.value, int):
            event.setdefault(ev.value, time.time())

    with Memory(url, events="values") as mem:
        cache = mem.cache(NAME, ttl=TTL, near=True)
        handler = mem.on_change(f"cache:{NAME}", on_event, values=True)
        top = -1
        cache.get("probe")  # starts the near cache's watcher
        ready.set()
        deadline = time.monotonic() + limit
        while top < writes - 1 and time.monotonic() < deadline:
            value = cache.get("probe")
            now = time.time()
            if isinstance(value, int) and value > top:
                for i in range(top + 1, value + 1):
                    first[i] = now
                top = value
            time.sleep(0.0002)  # lets the watchers' thread take the GIL
        time.sleep(0.2)  # the last events' callbacks
        handler.close()
        result = {"first": first, "event": event, "stats": cache.near_stats()}
        Path(out).write_text(json.dumps(result))
