"""Every limiter and semaphore operation sends exactly one command."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest

from pyredmem import AsyncMemory, Memory
from tests.counting import count_replies, script_calls
from tests.engines import Engine


def _ops(mem: Memory) -> dict[str, Callable[[], Any]]:
    gcra = mem.limiter("g", limit=1000, period=60)
    fixed = mem.limiter("f", limit=1000, period=60, algorithm="fixed")
    sliding = mem.limiter("s", limit=1000, period=60, algorithm="sliding")
    sem = mem.semaphore("sem", limit=1000, lease=60)
    held = sem.acquire("held")
    assert held is not None
    return {
        "gcra.hit": lambda: gcra.hit("k"),
        "fixed.hit": lambda: fixed.hit("k", 2.5),
        "sliding.hit": lambda: sliding.hit("k"),
        "gcra.peek": lambda: gcra.peek("k"),
        "sliding.peek": lambda: sliding.peek("k"),
        "reset": lambda: fixed.reset("other"),
        "hit_many": lambda: mem.hit_many(
            [(gcra, "u"), (fixed, "o"), (sliding, "t", 10)], group="acme"
        ),
        "semaphore.acquire+release": lambda: sem.release(sem.acquire("k")),  # type: ignore[arg-type]
        "semaphore.renew": lambda: sem.renew(held),
    }


NAMES = [
    "gcra.hit",
    "fixed.hit",
    "sliding.hit",
    "gcra.peek",
    "sliding.peek",
    "reset",
    "hit_many",
    "semaphore.acquire+release",
    "semaphore.renew",
]
EXPECTED = {"semaphore.acquire+release": 2}


@pytest.mark.standalone
@pytest.mark.parametrize("name", NAMES)
def test_one_command_per_operation(engine: Engine, mem: Memory, name: str) -> None:
    ops = _ops(mem)
    assert list(ops) == NAMES
    for op in ops.values():  # connect and load every script before counting
        op()
    before = script_calls(engine.raw_client()) if engine.real else 0
    with count_replies() as counter:
        ops[name]()
    assert counter.replies == EXPECTED.get(name, 1)
    if engine.real:
        assert script_calls(engine.raw_client()) - before == EXPECTED.get(name, 1)


@pytest.mark.standalone
def test_async_hit_is_one_command(url: str) -> None:
    async def main() -> list[int]:
        counts = []
        async with AsyncMemory(url) as m:
            lim = m.limiter("g", limit=10, period=60, algorithm="sliding")
            other = m.limiter("o", limit=10, period=60)
            for op in (lambda: lim.hit("k"), lambda: m.hit_many([(lim, "a"), (other, "b")])):
                await op()  # loads the script
                with count_replies() as counter:
                    await op()
                counts.append(counter.replies)
        return counts

    assert asyncio.run(main()) == [1, 1]


def test_limiters_survive_a_script_flush(mem: Memory) -> None:
    lim = mem.limiter("g", limit=10, period=1e7, algorithm="fixed")
    assert lim.hit("k").allowed
    mem.client.script_flush()
    assert lim.hit("k").remaining == 8  # NOSCRIPT -> EVAL, transparently
