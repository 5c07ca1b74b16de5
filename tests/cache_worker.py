"""Workers for the cache stampede tests, importable by processes started with "spawn".

Each worker opens its own Memory, runs `callers` concurrent callers (threads or asyncio
tasks) and reports what its callers saw and when its computations ran.
"""

from __future__ import annotations

import asyncio
import os
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from pyredmem import AsyncMemory, Memory

COMPUTE = 0.2  # seconds each computation takes
CACHE = "stampede"


@dataclass
class Report:
    worker: int
    cold: list[Any] = field(default_factory=list)  # what each caller got for the cold key
    hot: set[Any] = field(default_factory=set)  # every value seen while the hot key expired
    computes: list[tuple[str, float, float, str]] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Plan:
    url: str
    mode: str  # "threads" or "tasks"
    callers: int = 16
    cold_key: str = "cold"
    hot_key: str = "hot"
    hot_ttl: float = 0.6
    load_for: float = 2.0  # seconds of load on the hot key


def run_worker(plan: Plan, worker: int, barrier: Any, results: Any) -> None:
    """Entry point of one worker (a process, or a thread on fakeredis)."""
    report = Report(worker)
    try:
        if plan.mode == "threads":
            _threads(plan, report, barrier)
        else:
            asyncio.run(_tasks(plan, report, barrier))
    except Exception as exc:  # reported, so that the test fails with the cause
        report.errors.append(repr(exc))
    results.put(report)


def _tag(report: Report, phase: str) -> str:
    return f"{phase}:{os.getpid()}:{report.worker}:{threading.get_ident()}:{time.time()}"


def _threads(plan: Plan, report: Report, barrier: Any) -> None:
    with Memory(plan.url) as mem:
        cold = mem.cache(CACHE, ttl=60, lease=10, beta=0)
        hot = mem.cache(CACHE, ttl=plan.hot_ttl, lease=10, beta=0)
        lock = threading.Lock()
        start = threading.Barrier(plan.callers)

        def compute(phase: str) -> str:
            began = time.time()
            time.sleep(COMPUTE)
            value = _tag(report, phase)
            with lock:
                report.computes.append((phase, began, time.time(), value))
            return value

        def caller(phase: str, until: float) -> None:
            try:
                start.wait()
                if phase == "cold":
                    value = cold.get_or_compute(plan.cold_key, lambda: compute("cold"))
                    with lock:
                        report.cold.append(value)
                    return
                while time.time() < until:
                    value = hot.get_or_compute(plan.hot_key, lambda: compute("hot"))
                    with lock:
                        report.hot.add(value)
                    time.sleep(0.02)
            except Exception as exc:
                with lock:
                    report.errors.append(repr(exc))

        for phase in ("cold", "hot"):
            barrier.wait()  # every worker starts each phase together
            until = time.time() + plan.load_for
            threads = [
                threading.Thread(target=caller, args=(phase, until)) for _ in range(plan.callers)
            ]
            for t in threads:
                t.start()
            for t in threads:
                t.join()


async def _tasks(plan: Plan, report: Report, barrier: Any) -> None:
    async with AsyncMemory(plan.url) as mem:
        cold = mem.cache(CACHE, ttl=60, lease=10, beta=0)
        hot = mem.cache(CACHE, ttl=plan.hot_ttl, lease=10, beta=0)
        ready = asyncio.Event()
        # redis-py's asyncio RedisCluster breaks connections when many tasks send their
        # first commands before it has initialised: one command first
        await cold.get("warm-up")

        async def compute(phase: str) -> str:
            began = time.time()
            await asyncio.sleep(COMPUTE)
            value = _tag(report, phase)
            report.computes.append((phase, began, time.time(), value))
            return value

        async def caller(phase: str, until: float) -> None:
            await ready.wait()
            if phase == "cold":
                report.cold.append(
                    await cold.get_or_compute(plan.cold_key, lambda: compute("cold"))
                )
                return
            while time.time() < until:
                report.hot.add(await hot.get_or_compute(plan.hot_key, lambda: compute("hot")))
                await asyncio.sleep(0.02)

        for phase in ("cold", "hot"):
            ready.clear()
            await asyncio.to_thread(barrier.wait)
            until = time.time() + plan.load_for
            tasks = [asyncio.create_task(caller(phase, until)) for _ in range(plan.callers)]
            await asyncio.sleep(0)  # every task reaches the event first
            ready.set()
            for outcome in await asyncio.gather(*tasks, return_exceptions=True):
                if isinstance(outcome, BaseException):
                    report.errors.append(repr(outcome))


def hold_lease(url: str, key: str, lease: float, tokens: Any) -> None:
    """Take the lease on `key`, report its token, then 'compute' until killed."""
    with Memory(url) as mem:
        found = mem.cache(CACHE, ttl=60, lease=lease).fetch(key)
        tokens.put(None if found.lease is None else found.lease.token)
        time.sleep(600)
