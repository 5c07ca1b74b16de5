"""Semaphores: at most `limit` holders per key, and leases that free crashed holders' slots."""

from __future__ import annotations

import asyncio
import time

import pytest

from pyredmem import AsyncMemory, ConcurrencyLimitError, InvalidValueError, Memory


def test_at_most_limit_holders_per_key(mem: Memory) -> None:
    sem = mem.semaphore("llm", limit=2, lease=30)
    a, b = sem.acquire("gpt"), sem.acquire("gpt")
    assert a is not None and b is not None and (a.holders, b.holders) == (1, 2)
    assert sem.acquire("gpt") is None
    assert sem.acquire("claude") is not None  # each key has its own slots
    assert sem.release(a) is True
    assert sem.release(a) is False  # already released
    c = sem.acquire("gpt")
    assert c is not None and c.holders == 2


def test_a_crashed_holders_slot_comes_back_after_its_lease(mem: Memory) -> None:
    sem = mem.semaphore("llm", limit=1, lease=0.3)
    crashed = sem.acquire("gpt")  # never released
    assert crashed is not None
    assert sem.acquire("gpt") is None
    time.sleep(0.35)
    late = sem.acquire("gpt")
    assert late is not None and late.holders == 1
    assert sem.release(crashed) is False  # its lease was over: nothing to give back


def test_acquire_can_wait_for_a_slot(mem: Memory) -> None:
    sem = mem.semaphore("llm", limit=1, lease=0.2)
    assert sem.acquire("gpt") is not None
    started = time.monotonic()
    assert sem.acquire("gpt", wait=0.05) is None
    assert sem.acquire("gpt", wait=1) is not None  # the first lease ran out meanwhile
    assert time.monotonic() - started < 1
    with pytest.raises(InvalidValueError):
        sem.acquire("gpt", wait=-1)


def test_hold_releases_at_the_end_of_the_block(mem: Memory) -> None:
    sem = mem.semaphore("llm", limit=1, lease=30)
    with sem.hold("gpt") as lease:
        assert lease.holders == 1
        with pytest.raises(ConcurrencyLimitError):
            with sem.hold("gpt"):
                pass
    with pytest.raises(RuntimeError):
        with sem.hold("gpt"):
            raise RuntimeError("the slot is released on errors too")
    assert sem.acquire("gpt") is not None


def test_semaphore_keys_expire_with_their_last_lease(mem: Memory) -> None:
    sem = mem.semaphore("llm", limit=3, lease=5)
    lease = sem.acquire("gpt")
    assert lease is not None
    (key,) = [k for k in [b"pm:{:sem:llm:gpt}:z"] if mem.client.exists(k)]
    assert 0 < mem.client.pttl(key) <= 5000
    sem.release(lease)
    assert not mem.client.exists(key)


def test_async_hold(url: str) -> None:
    async def main() -> list[int]:
        async with AsyncMemory(url) as mem:
            sem = mem.semaphore("llm", limit=2, lease=30)
            running, peak = 0, []

            async def call() -> None:
                nonlocal running
                async with sem.hold("gpt", wait=5):
                    running += 1
                    peak.append(running)
                    await asyncio.sleep(0.02)
                    running -= 1

            await asyncio.gather(*(call() for _ in range(6)))
            return peak

    peak = asyncio.run(main())
    assert len(peak) == 6 and max(peak) == 2
