"""Single flight under load: 4 workers x 16 concurrent callers on every engine.

On the real engines the workers are processes (multiprocessing "spawn"); the embedded
engine lives inside one process, so there they are threads sharing one in-process server.
"""

from __future__ import annotations

import multiprocessing
import queue
import threading
import time
from typing import Any

import pytest

from pyredmem import CacheLease, Memory
from tests.cache_worker import CACHE, COMPUTE, Plan, Report, hold_lease, run_worker
from tests.engines import Engine

WORKERS = 4
CALLERS = 16


def _run(engine: Engine, plan: Plan) -> list[Report]:
    if engine.real:
        ctx = multiprocessing.get_context("spawn")
        barrier: Any = ctx.Barrier(WORKERS)
        results: Any = ctx.Queue()
        workers: list[Any] = [
            ctx.Process(target=run_worker, args=(plan, i, barrier, results)) for i in range(WORKERS)
        ]
    else:
        barrier = threading.Barrier(WORKERS)
        results = queue.Queue()
        workers = [
            threading.Thread(target=run_worker, args=(plan, i, barrier, results))
            for i in range(WORKERS)
        ]
    for w in workers:
        w.start()
    reports = [results.get(timeout=120) for _ in workers]
    for w in workers:
        w.join(30)
    return reports


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["threads", "tasks"])
def test_stampede_computes_once_across_workers(engine: Engine, url: str, mode: str) -> None:
    plan = Plan(url, mode, callers=CALLERS)
    reports = _run(engine, plan)
    assert [e for r in reports for e in r.errors] == []

    # a cold key: fn ran exactly once, and all 64 callers got its value
    cold = [c for r in reports for c in r.computes if c[0] == "cold"]
    assert len(cold) == 1
    seen = [v for r in reports for v in r.cold]
    assert len(seen) == WORKERS * CALLERS
    assert set(seen) == {cold[0][3]}

    # a key expiring under load: one computation at a time, each after the previous value
    # expired, and every caller only ever saw computed values
    hot = sorted((c for r in reports for c in r.computes if c[0] == "hot"), key=lambda c: c[1])
    assert 2 <= len(hot) <= 1 + plan.load_for / plan.hot_ttl
    for before, after in zip(hot, hot[1:], strict=False):
        assert after[1] >= before[2] + plan.hot_ttl - 0.05  # no overlap, no early recompute
    assert set().union(*(r.hot for r in reports)) == {c[3] for c in hot}


def test_killed_holder_is_taken_over_and_its_late_write_rejected(engine: Engine, url: str) -> None:
    lease = 0.8
    if engine.real:
        ctx = multiprocessing.get_context("spawn")
        tokens: Any = ctx.Queue()
        holder: Any = ctx.Process(target=hold_lease, args=(url, "k", lease, tokens))
        holder.start()
        try:
            token = tokens.get(timeout=60)
        finally:
            holder.kill()  # dies mid-compute, holding the lease
            holder.join(10)
    else:
        with Memory(url) as other:  # a caller that takes the lease and is never heard of
            found = other.cache(CACHE, ttl=60, lease=lease).fetch("k")
            token = found.lease.token if found.lease else None
    assert token is not None

    with Memory(url) as mem:
        cache = mem.cache(CACHE, ttl=60, lease=lease)
        found = cache.fetch("k")  # the dead holder's lease still runs
        assert found.kind == "wait" and found.wait > 0
        ends = time.monotonic() + found.wait
        calls: list[float] = []
        got: list[Any] = []

        def fn() -> str:
            calls.append(time.monotonic())
            time.sleep(COMPUTE)
            return "fresh"

        callers = [
            threading.Thread(target=lambda: got.append(cache.get_or_compute("k", fn)))
            for _ in range(8)
        ]
        for t in callers:
            t.start()
        for t in callers:
            t.join()
        assert got == ["fresh"] * 8
        assert len(calls) == 1 and calls[0] >= ends - 0.02  # only after its lease ran out
        assert cache.fill(CacheLease("k", token), "late") is False  # the dead holder's write
        assert cache.get("k") == "fresh"
