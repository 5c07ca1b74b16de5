"""Writers and a watcher for the change-event tests, importable so that `spawn` processes
(and the embedded store's threads) run the same code."""

from __future__ import annotations

import random
import time
from pathlib import Path

from pyredmem import Memory, Message

SCOPES = 50


def write_mixed(url: str, worker: int, n: int, pause_every: int = 50) -> int:
    """`n` writes over SCOPES workflow scopes, each logging exactly one event: sets of two
    keys, increments, and appended turns. Sleeps 1 ms every `pause_every` writes, so that
    the writers run for a while."""
    rnd = random.Random(worker)
    with Memory(url, events=True) as mem:
        for i in range(n):
            scope = mem.workflow(f"s{rnd.randrange(SCOPES)}")
            op = i % 4
            if op == 0:
                scope.set(f"k{worker}", i)
            elif op == 1:
                scope.incr(f"c{worker}")
            elif op == 2:
                scope.history("chat").append(Message.user(f"{worker}:{i}"))
            else:
                scope.set(f"j{worker}:{i % 7}", {"i": i, "w": worker})
            if pause_every and i % pause_every == pause_every - 1:
                time.sleep(0.001)
    return n


def watch_to_file(url: str, out: str, after: str | None, idle: float) -> None:
    """Append one line per event ("<id> <kind>:<scope> <op>") to `out`, flushed, until no
    event came for `idle` seconds."""
    with Memory(url) as mem, Path(out).open("a", buffering=1) as f:
        for ev in mem.watch("workflow:*", after=after, timeout=idle):
            f.write(f"{ev.id} {ev.kind}:{ev.scope} {ev.op}\n")
