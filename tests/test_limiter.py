"""Rate limiters: the behaviour users rely on, on every engine."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest
import redis.cluster

from pyredmem import (
    AsyncMemory,
    CrossSlotError,
    InvalidKeyError,
    InvalidValueError,
    Memory,
    RateLimitedError,
)
from tests.engines import Engine

ALGORITHMS = ("gcra", "fixed", "sliding")


def all_keys(mem: Memory) -> list[bytes]:
    """Every key of the database (of every node of a cluster)."""
    if isinstance(mem.client, redis.cluster.RedisCluster):
        return list(mem.client.keys("*", target_nodes=redis.cluster.RedisCluster.PRIMARIES))
    return list(mem.client.keys("*"))


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_admits_up_to_the_limit_then_denies(mem: Memory, algorithm: str) -> None:
    lim = mem.limiter("api", limit=5, period=3600, algorithm=algorithm)
    decisions = [lim.hit("alice") for _ in range(6)]
    assert [d.allowed for d in decisions] == [True] * 5 + [False]
    assert [round(d.remaining) for d in decisions] == [4, 3, 2, 1, 0, 0]
    denied = decisions[-1]
    assert 0 < denied.retry_after <= 3600 and 0 < denied.reset_after <= 3600
    assert decisions[0].retry_after == 0 and decisions[0].limit == 5
    assert lim.hit("bob").allowed  # every key has its own budget


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_peek_spends_nothing_and_reset_clears(mem: Memory, algorithm: str) -> None:
    lim = mem.limiter("api", limit=3, period=3600, algorithm=algorithm)
    assert lim.peek("k").allowed and round(lim.peek("k").remaining) == 3
    assert all_keys(mem) == []
    lim.hit("k", 2)
    assert round(lim.peek("k").remaining) == 1
    assert lim.peek("k").allowed and not lim.peek("k", 2).allowed
    assert lim.reset("k") is True and lim.reset("k") is False
    assert round(lim.hit("k", 3).remaining) == 0


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_fractional_and_large_costs(mem: Memory, algorithm: str) -> None:
    tokens = mem.limiter("tokens", limit=100_000, period=1e7, algorithm=algorithm)
    assert tokens.hit("org", 40_000.5).allowed
    assert tokens.hit("org", 59_999).allowed
    d = tokens.hit("org", 1.5)
    assert not d.allowed and d.remaining == pytest.approx(0.5, abs=0.01)
    assert tokens.hit("org", 0.25).allowed
    assert tokens.hit("org", 0).allowed


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_every_key_expires_about_one_period_after_use(
    engine: Engine, mem: Memory, algorithm: str
) -> None:
    lim = mem.limiter("api", limit=10, period=30, algorithm=algorithm)
    lim.hit("k")
    keys = all_keys(mem)
    assert keys
    for key in keys:  # one period, plus 1 ms so that it outlives its state on any ms clock
        assert 0 < mem.client.pttl(key) <= 30_001


def test_gcra_refills_smoothly(mem: Memory) -> None:
    # one unit every 0.5 s, burst 5: long enough that two hits in a row on a loaded machine
    # (0.1 s was not, on the cluster) see no second unit refill between them
    lim = mem.limiter("api", limit=5, period=2.5)
    assert all(lim.hit("k").allowed for _ in range(5))
    denied = lim.hit("k")
    assert not denied.allowed and 0 < denied.retry_after <= 0.5
    time.sleep(denied.retry_after + 0.01)
    assert lim.hit("k").allowed
    assert not lim.hit("k").allowed


def test_gcra_burst(mem: Memory) -> None:
    lim = mem.limiter("api", limit=1, period=3600, burst=4)
    assert [lim.hit("k").allowed for _ in range(5)] == [True] * 4 + [False]
    assert lim.peek("k").limit == 4


def test_fixed_window_starts_over_after_its_end(mem: Memory) -> None:
    lim = mem.limiter("api", limit=2, period=0.3, algorithm="fixed")
    while not (d := lim.hit("k")).allowed or d.remaining > 0:
        pass  # a window may end between the hits; go on until one is exhausted
    denied = lim.hit("k")
    if not denied.allowed:
        time.sleep(denied.retry_after + 0.01)
    assert lim.hit("k").allowed


def test_sliding_log_admits_again_once_hits_leave_the_window(mem: Memory) -> None:
    lim = mem.limiter("api", limit=2, period=0.4, algorithm="sliding")
    assert lim.hit("k").allowed and lim.hit("k").allowed
    denied = lim.hit("k")
    assert not denied.allowed and 0.2 < denied.retry_after <= 0.4
    time.sleep(denied.retry_after + 0.01)
    assert lim.hit("k").allowed


def test_sliding_never_admits_more_than_limit_in_any_period(mem: Memory) -> None:
    period, limit = 0.3, 3
    lim = mem.limiter("api", limit=limit, period=period, algorithm="sliding")
    admitted = []
    end = time.time() + 1.0
    while time.time() < end:
        sent = time.time()
        if lim.hit("k").allowed:
            admitted.append((sent, time.time()))
    assert len(admitted) >= 2 * limit  # the window slid
    for i, (start, _) in enumerate(admitted):
        inside = [1 for sent, done in admitted[i:] if sent >= start and done < start + period]
        assert len(inside) <= limit


def test_algorithms_and_tenants_do_not_share_budgets(url: str) -> None:
    with Memory(url, tenant="a") as a, Memory(url, tenant="b") as b:
        for alg in ALGORITHMS:
            assert a.limiter("api", limit=1, period=60, algorithm=alg).hit("k").allowed
        assert not a.limiter("api", limit=1, period=60, algorithm="fixed").hit("k").allowed
        assert b.limiter("api", limit=1, period=60, algorithm="fixed").hit("k").allowed


def test_bad_input_writes_nothing(mem: Memory) -> None:
    lim = mem.limiter("api", limit=5, period=60)
    bad: list[Any] = [
        lambda: mem.limiter("api", limit=0, period=60),
        lambda: mem.limiter("api", limit=5, period=-1),
        lambda: mem.limiter("api", limit=5, period=60, algorithm="token"),
        lambda: mem.limiter("api", limit=5, period=60, on_error="ignore"),
        lambda: mem.limiter("api", limit=5, period=60, timeout=0),
        lambda: lim.hit("k", -1),
        lambda: lim.hit("k", 6),
        lambda: lim.hit("{k}"),
        lambda: lim.hit(""),
        lambda: mem.semaphore("llm", limit=0, lease=1),
    ]
    for fn in bad:
        with pytest.raises((InvalidValueError, InvalidKeyError)):
            fn()
    assert all_keys(mem) == []


def test_hit_many_is_all_or_nothing(mem: Memory) -> None:
    user = mem.limiter("user", limit=2, period=3600, algorithm="fixed")
    org = mem.limiter("org", limit=3, period=3600, algorithm="sliding")
    tokens = mem.limiter("tokens", limit=1000, period=3600)
    results = []
    for who in ("ann", "ann", "ann", "bob", "bob"):
        checks = [(user, who), (org, "acme"), (tokens, "acme", 300)]
        results.append(mem.hit_many(checks, group="acme"))
    assert [r.allowed for r in results] == [True, True, False, True, False]
    assert not results[2].decisions[0].allowed and results[2].decisions[1].allowed
    assert not results[4].decisions[1].allowed and not results[4].decisions[2].allowed
    # nothing was spent by the denied calls
    assert round(user.peek("ann", group="acme").remaining) == 0
    assert round(user.peek("bob", group="acme").remaining) == 1
    assert round(org.peek("acme", group="acme").remaining) == 0
    assert tokens.peek("acme", group="acme").remaining == pytest.approx(100, abs=0.1)


def test_hit_many_across_slots(engine: Engine, mem: Memory) -> None:
    user = mem.limiter("user", limit=2, period=60)
    org = mem.limiter("org", limit=3, period=60)
    checks = [(user, "ann"), (org, "acme")]
    if engine.cluster:
        with pytest.raises(CrossSlotError):
            mem.hit_many(checks)
        assert all_keys(mem) == []
    else:
        assert mem.hit_many(checks).allowed  # one server: any limits combine
    with pytest.raises(InvalidValueError):
        mem.hit_many([(user, "ann"), ("not a limiter", "x")])  # type: ignore[list-item]


def test_decorator_raises_with_the_decision(mem: Memory) -> None:
    lim = mem.limiter("api", limit=2, period=3600)
    calls = []

    @lim.limited(lambda user, **_: user, cost=lambda user, n=1: n)
    def answer(user: str, n: int = 1) -> str:
        calls.append(user)
        return f"hi {user}"

    assert answer("ann") == "hi ann"
    assert answer("ann") == "hi ann"
    with pytest.raises(RateLimitedError) as err:
        answer("ann")
    assert err.value.decision.allowed is False and err.value.retry_after > 0
    assert err.value.key == "ann"
    assert answer("bob", n=2) == "hi bob"
    assert calls == ["ann", "ann", "bob"]


def test_async_limiters(url: str) -> None:
    async def main() -> None:
        async with AsyncMemory(url) as mem:
            lim = mem.limiter("api", limit=2, period=3600, algorithm="sliding")
            assert (await lim.hit("k")).allowed
            assert (await lim.peek("k")).remaining == 1

            @lim.limited("k")
            async def work() -> int:
                return 7

            assert await work() == 7
            with pytest.raises(RateLimitedError):
                await work()
            assert await lim.reset("k")
            other = mem.limiter("org", limit=1, period=3600, algorithm="fixed")
            md = await mem.hit_many([(lim, "k"), (other, "o")], group="g")
            assert md.allowed
            md = await mem.hit_many([(lim, "k"), (other, "o")], group="g")
            assert not md.allowed and (await lim.peek("k", group="g")).remaining == 1

    asyncio.run(main())


def test_headers_from_a_decision(mem: Memory) -> None:
    lim = mem.limiter("api", limit=1, period=60, algorithm="fixed")
    ok = lim.hit("k").headers()
    assert ok["X-RateLimit-Limit"] == "1" and ok["X-RateLimit-Remaining"] == "0"
    assert 1 <= int(ok["X-RateLimit-Reset"]) <= 60 and "Retry-After" not in ok
    denied = lim.hit("k").headers()
    assert 1 <= int(denied["Retry-After"]) <= 60


@pytest.mark.real_server
def test_a_gcra_key_is_small(engine: Engine, mem: Memory) -> None:
    lim = mem.limiter("api", limit=100, period=60)
    lim.hit("user-1234567", 3.5)
    (key,) = all_keys(mem)
    assert mem.client.memory_usage(key) <= 100


def test_sliding_retry_after_waits_for_just_enough_hits_to_leave(mem: Memory) -> None:
    lim = mem.limiter("api", limit=10, period=1, algorithm="sliding")
    # each hit's time lies between the server's clock read before and after its call: the
    # server's, since a loaded machine's wall clock (which TIME reads) can step against the
    # client's monotonic one by milliseconds (a first call can be slow: a new connection)
    base = mem.client.time()[0]

    def clock() -> float:
        seconds, micros = mem.client.time()
        return float(seconds - base) + micros / 1e6

    spans = []
    for cost, pause in ((4, 0.4), (1, 0.1), (2, 0.1), (3, 0)):
        before = clock()
        assert lim.hit("k", cost).allowed
        spans.append((before, clock()))
        time.sleep(pause)
    assert spans[3][0] - spans[0][1] < 0.9, "the set-up hits were too slow for the window"
    while clock() < spans[0][1] + 1.02:  # until the first hit has left
        time.sleep(0.01)
    # live: 1, 2, 3 (sum 6); a cost of 7 needs 3 more: the hits of 1 and 2 must leave
    for check in (lim.peek, lim.hit):  # a peek skips the hit that left, a hit removes it
        started = clock()
        d = check("k", 7)
        finished = clock()
        assert not d.allowed and round(d.remaining) == 4
        # until the hit of 2 leaves (then 1 and 2 have: 3 freed), and until the last leaves
        for left, span in ((d.retry_after, spans[2]), (d.reset_after, spans[3])):
            assert span[0] + 1 - finished - 1e-5 <= left <= span[1] + 1 - started + 1e-5
    assert lim.peek("k", 4).allowed and not lim.peek("k", 5).allowed


def test_sliding_drops_hits_that_left_the_window(mem: Memory) -> None:
    lim = mem.limiter("api", limit=1000, period=1.5, algorithm="sliding")
    first = time.monotonic()
    for _ in range(150):  # more than one chunk of the entries a call skips at a time
        lim.hit("k")
    last = time.monotonic()
    assert last - first < 1.0, "the setup hits were too slow for the window"
    (key,) = all_keys(mem)
    time.sleep(0.25)
    lim.hit("k")  # before any of the first 150 has left; keeps the log alive
    time.sleep(max(0.0, last + 1.55 - time.monotonic()))  # the first 150 have left
    assert round(lim.peek("k").remaining) == 999 and mem.client.llen(key) == 151
    d = lim.hit("k", 2)
    assert d.allowed and round(d.remaining) == 997 and mem.client.llen(key) == 2


@pytest.mark.real_server
def test_a_full_sliding_log_denies_until_its_oldest_hit_leaves(engine: Engine, mem: Memory) -> None:
    lim = mem.limiter("api", limit=1e9, period=3600, algorithm="sliding")
    assert lim.hit("k").allowed
    (key,) = all_keys(mem)
    first = mem.client.lindex(key, 0).decode()
    stamp = int(first.split(":")[0])
    pipe = mem.client.pipeline(transaction=False)
    for i in range(1, 100_000, 10_000):  # entries as hits of cost 1 would log them
        hits = range(i, min(i + 10_000, 100_000))
        pipe.rpush(key, *(f"{stamp}:{(n + 1) * 1_000_000}:1000000" for n in hits))
    pipe.execute()
    d = lim.hit("k")
    assert not d.allowed and round(d.remaining) == 1e9 - 100_000
    assert 3599 < d.retry_after <= 3600 and mem.client.llen(key) == 100_000


def test_a_denied_gcra_hit_leaves_the_arrival_time_as_it_was(mem: Memory) -> None:
    lim = mem.limiter("api", limit=2, period=3600)
    assert lim.hit("k").allowed and lim.hit("k").allowed
    (key,) = all_keys(mem)
    stored = mem.client.get(key)
    assert not lim.hit("k").allowed
    assert mem.client.get(key) == stored and 0 < mem.client.pttl(key) <= 3_600_001


def test_a_fixed_window_keeps_only_the_current_window(mem: Memory) -> None:
    lim = mem.limiter("api", limit=5, period=0.2, algorithm="fixed")
    first = lim.hit("k")
    time.sleep(first.reset_after + 0.01)  # into the next window
    assert round(lim.hit("k", 2).remaining) == 3
    (key,) = all_keys(mem)
    assert mem.client.hlen(key) == 1 and 0 < mem.client.pttl(key) <= 201
