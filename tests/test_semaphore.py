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


def test_renew_keeps_a_slot_past_its_first_lease(mem: Memory) -> None:
    sem = mem.semaphore("llm", limit=1, lease=0.4)
    lease = sem.acquire("gpt")
    assert lease is not None
    for _ in range(3):  # 0.75 s in all: held throughout by renewing every 0.25 s
        time.sleep(0.25)
        assert sem.renew(lease) is True
        assert sem.acquire("gpt") is None
    (key,) = [k for k in mem.client.scan_iter() if b":sem:" in k]
    assert 300 < mem.client.pttl(key) <= 400  # the key lives as long as the renewed lease
    assert sem.release(lease) is True


def test_renew_fails_once_the_slot_is_lost(mem: Memory) -> None:
    sem = mem.semaphore("llm", limit=1, lease=0.2)
    late = sem.acquire("gpt")
    assert late is not None
    time.sleep(0.25)
    assert sem.renew(late) is False  # expired: the slot is free for others
    taker = sem.acquire("gpt")
    assert taker is not None and sem.renew(late) is False and sem.acquire("gpt") is None
    assert sem.release(taker) is True and sem.renew(taker) is False  # released
    with pytest.raises(InvalidValueError):
        sem.renew("not a lease")  # type: ignore[arg-type]


def test_renew_never_shortens_a_lease(mem: Memory) -> None:
    long = mem.semaphore("llm", limit=1, lease=60)
    lease = long.acquire("gpt")
    assert lease is not None
    short = mem.semaphore("llm", limit=1, lease=0.1)  # the same slots, a shorter lease
    assert short.renew(lease) is True
    time.sleep(0.15)
    assert short.acquire("gpt") is None  # still held under the 60 s lease


@pytest.mark.parametrize("kw", [{"on_error": "maybe"}, {"timeout": 0}, {"timeout": "1"}])
def test_a_bad_failure_policy_is_refused(mem: Memory, kw: dict[str, object]) -> None:
    with pytest.raises(InvalidValueError):
        mem.semaphore("llm", limit=1, lease=1, **kw)  # type: ignore[arg-type]
