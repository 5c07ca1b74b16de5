"""Limiter rows: `hit` per algorithm vs a raw INCR, and side by side with the `limits`
library on the same server; plus, once, how many calls each admits around a window
boundary (limit 10 per second: more than 10 in any one second is over-admission)."""

from __future__ import annotations

import time
from typing import Any

from bench.harness import Row
from pyredmem import Memory

BIG = 10**9  # so that every measured hit is admitted
ALGORITHMS = ("gcra", "fixed", "sliding")


def _limits_pair(raw: Any) -> tuple[Any, Any, Any] | None:
    """limits' fixed-window and moving-window limiters on the same server, or None when
    there is no server (the embedded store)."""
    kwargs = raw.connection_pool.connection_kwargs
    if "host" not in kwargs or kwargs.get("server") is not None:
        return None
    try:
        from limits import RateLimitItemPerMinute, storage, strategies
    except ImportError:
        return None
    store = storage.RedisStorage(f"redis://{kwargs['host']}:{kwargs['port']}")
    return (
        RateLimitItemPerMinute(BIG),
        strategies.FixedWindowRateLimiter(store),
        strategies.MovingWindowRateLimiter(store),
    )


def rows(mem: Memory, raw: Any) -> list[Row]:
    hits = {
        alg: mem.limiter(f"bench-{alg}", limit=BIG, period=60, algorithm=alg) for alg in ALGORITHMS
    }
    user = mem.limiter("bench-user", limit=BIG, period=60, algorithm="fixed")
    org = mem.limiter("bench-org", limit=BIG, period=60, algorithm="sliding")
    tokens = mem.limiter("bench-tokens", limit=BIG, period=60)
    sem = mem.semaphore("bench-sem", limit=10, lease=60)
    many = [(user, "u"), (org, "o"), (tokens, "t", 250)]
    out = [
        Row(f"limiter.hit ({alg})", lambda h=h: h.hit("u"), "INCR", lambda: raw.incr("raw:n"), 1.2)
        for alg, h in hits.items()
    ]
    users = [f"user-{i}" for i in range(1000)]
    out.append(  # informative: many subjects, and a cost other than 1 (LLM tokens)
        Row(
            "hit (gcra, 1000 keys, cost 250)",
            lambda: tokens.hit(users[time.perf_counter_ns() % 1000], 250),
            "INCR",
            lambda: raw.incr("raw:n"),
        )
    )
    out.append(
        Row(
            "hit_many (fixed+sliding+gcra)",
            lambda: mem.hit_many(many, group="acme"),  # type: ignore[arg-type]
            "INCR",
            lambda: raw.incr("raw:n"),
        )
    )
    out.append(
        Row(
            "semaphore acquire+release",
            lambda: sem.release(sem.acquire("k")),  # type: ignore[arg-type]
            "INCR x2",
            lambda: (raw.incr("raw:n"), raw.incr("raw:n")),
        )
    )
    peer = _limits_pair(raw)
    if peer is not None:
        item, fixed, moving = peer
        out.append(
            Row(
                "limiter.hit (fixed)",
                lambda: hits["fixed"].hit("p"),
                "limits FixedWindow.hit",
                lambda: fixed.hit(item, "bench-fixed", "p"),
                1.0,
            )
        )
        out.append(
            Row(
                "limiter.hit (sliding)",
                lambda: hits["sliding"].hit("p"),
                "limits MovingWindow.hit",
                lambda: moving.hit(item, "bench-moving", "p"),
                1.0,
            )
        )
        print(boundary_report(mem, raw))
    return out


def boundary_report(mem: Memory, raw: Any) -> str:
    """Limit 10 per second; one call, then 10 just before a window boundary, 10 just after
    and 10 half a second later: the most admitted within any one second, per limiter. The
    fixed windows admit up to twice the limit at the boundary; a sliding-window counter,
    which weighs the previous window as if its hits were spread evenly, admits more half a
    second later."""
    from limits import RateLimitItemPerSecond, storage, strategies

    kwargs = raw.connection_pool.connection_kwargs
    store = storage.RedisStorage(f"redis://{kwargs['host']}:{kwargs['port']}")
    item = RateLimitItemPerSecond(10)
    tag = str(time.time_ns())
    ours = {
        alg: mem.limiter(f"edge-{alg}", limit=10, period=1, algorithm=alg) for alg in ALGORITHMS
    }
    theirs = {
        "FixedWindow": strategies.FixedWindowRateLimiter(store),
        "SlidingWindowCounter": strategies.SlidingWindowCounterRateLimiter(store),
        "MovingWindow": strategies.MovingWindowRateLimiter(store),
    }
    calls = {f"pyredmem {a}": (lambda lim=lim: lim.hit(tag).allowed) for a, lim in ours.items()}
    calls.update(
        {f"limits {n}": (lambda n=n, s=s: s.hit(item, "edge", n, tag)) for n, s in theirs.items()}
    )
    admitted: dict[str, list[float]] = {name: [] for name in calls}

    def burst(n: int) -> None:
        for _ in range(n):
            for name, call in calls.items():
                if call():
                    admitted[name].append(time.time())

    seconds, micros = raw.time()  # start just after a whole second of the server's clock
    time.sleep(1 - micros / 1e6 + 0.01)
    start = time.time()
    burst(1)
    time.sleep(max(0.0, start + 0.9 - time.time()))
    burst(10)
    time.sleep(max(0.0, start + 1.02 - time.time()))
    burst(10)
    time.sleep(max(0.0, start + 1.5 - time.time()))
    burst(10)
    lines = ["\nWindow boundary (limit 10 per second): most admitted within any 1 s"]
    for name, stamps in admitted.items():
        most = max(sum(1 for t in stamps[i:] if t < s + 1.0) for i, s in enumerate(stamps))
        note = ""
        if name.endswith("gcra"):  # a token bucket: the burst, plus the rate refilling it
            note = "   (by design up to burst + rate x 1 s = 20)"
        lines.append(f"  {name:34} {most:3d}   over-admitted {max(0, most - 10)}{note}")
    return "\n".join(lines)
