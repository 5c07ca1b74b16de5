"""A worker that hammers limiters for a few seconds and reports what each admitted.

Importable on its own (few imports) so that spawned processes start quickly."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from pyredmem import Limiter, Memory

GROUP = "acme"
TOKENS_PER_CALL = 3


def many_limiters(mem: Memory) -> tuple[Limiter, Limiter, Limiter]:
    """Checked together: per user (fixed), per organisation (gcra, refilling very slowly)
    and organisation tokens (sliding; 150 tokens = 50 calls, the first limit to bind). An
    hour each, so that what they hold is still there when the test reads it after the run."""
    return (
        mem.limiter("h-user", limit=40, period=3600, algorithm="fixed"),
        mem.limiter("h-org", limit=60, period=36_000),
        mem.limiter("h-tokens", limit=150, period=3600, algorithm="sliding"),
    )


def calls(mem: Memory, worker: int) -> dict[str, Callable[[], Any]]:
    """The limits every worker hits in turn, each on one key."""
    gcra = mem.limiter("h-gcra", limit=100, period=10, burst=100)
    fixed = mem.limiter("h-fixed", limit=100, period=3600, algorithm="fixed")
    sliding = mem.limiter("h-sliding", limit=100, period=10, algorithm="sliding")
    short = mem.limiter("h-short", limit=20, period=0.5, algorithm="sliding")
    user, org, tokens = many_limiters(mem)
    checks = [(user, f"u{worker % 2}"), (org, "acme"), (tokens, "acme", TOKENS_PER_CALL)]
    return {
        "gcra": lambda: gcra.hit("k"),
        "fixed": lambda: fixed.hit("k"),
        "sliding": lambda: sliding.hit("k"),
        "short": lambda: short.hit("k"),
        "many": lambda: mem.hit_many(checks, group=GROUP),  # type: ignore[arg-type]
    }


def hammer(url: str, worker: int, seconds: float, barrier: Any, out: Any) -> None:
    """Hit every limiter in turn for `seconds` after `barrier` (waited on twice); put on `out` the
    (sent, answered) times of each admitted call and the send time of the last denial."""
    with Memory(url) as mem:
        todo = calls(mem, worker)
        mem.limiter("h-warm", limit=1, period=1).peek("w")  # connect, load the script
        admitted: dict[str, list[tuple[float, float]]] = {name: [] for name in todo}
        last_denied: dict[str, float] = {}
        barrier.wait(timeout=180)  # ready
        barrier.wait(timeout=180)  # go (the test may wait for a fixed window to begin in between)
        end = time.time() + seconds
        while time.time() < end:
            for name, call in todo.items():
                sent = time.time()
                if call().allowed:
                    admitted[name].append((sent, time.time()))
                else:
                    last_denied[name] = sent
        out.put({"worker": worker, "admitted": admitted, "last_denied": last_denied})
