"""The numbers limiters and semaphores accept: every one range-checked before anything is
written, and every accepted combination answered with finite, non-negative times."""

from __future__ import annotations

import itertools
import math
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pyredmem import Decision, InvalidValueError, Memory
from pyredmem._keys import Keyspace
from pyredmem._ops import limiter as ops
from pyredmem._ops import semaphore as sem_ops
from pyredmem._ops.limiter import Rule
from tests.test_limiter import ALGORITHMS, all_keys

KS = Keyspace("pm", "t1")
TWO_53 = 2**53
# the server clock (us) in the year 2245: every time a script computes stays below 2^53
CLOCK_2245 = (2245 - 1970) * 365.25 * 86400 * 1_000_000
_subjects = itertools.count()


def _edges(low: float, high: float) -> st.SearchStrategy[float]:
    """Numbers around and between the edges of [low, high], on a log scale too."""
    inside = st.floats(math.log10(low), math.log10(high)).map(lambda e: min(high, 10**e))
    return st.one_of(
        st.sampled_from(
            [low, high, math.nextafter(low, 0), math.nextafter(high, math.inf), 0.5, 1, 1.0]
        ),
        inside,
        st.floats(low, high),
    )


LIMITS = _edges(ops.MIN_LIMIT, ops.MAX_LIMIT)
PERIODS = _edges(ops.MIN_PERIOD, ops.MAX_PERIOD)


@st.composite
def definitions(draw: st.DrawFn) -> tuple[dict[str, Any], float]:
    """A limiter's keywords and a cost (a fraction of its capacity, or just beyond it)."""
    algorithm = draw(st.sampled_from(ALGORITHMS))
    kw: dict[str, Any] = {
        "algorithm": algorithm,
        "limit": draw(LIMITS),
        "period": draw(PERIODS),
    }
    if algorithm == "gcra" and draw(st.booleans()):
        kw["burst"] = draw(LIMITS)
    capacity = kw.get("burst", kw["limit"])
    share = draw(st.one_of(st.sampled_from([0.0, 1.0]), st.floats(0, 1)))
    cost = draw(st.one_of(st.just(capacity * share), st.just(1), st.just(1.0)))
    return kw, cost


def _rule(kw: dict[str, Any]) -> Rule | None:
    try:
        return Rule.of(KS, "api", **kw)
    except InvalidValueError:
        return None


def _args(rule: Rule, cost: float) -> tuple[str, ...] | None:
    try:
        return rule.args(cost, "k")
    except InvalidValueError:
        return None


@settings(max_examples=1500, deadline=None)
@given(definitions())
def test_every_accepted_number_keeps_the_scripts_exact(case: tuple[dict[str, Any], float]) -> None:
    kw, cost = case
    rule = _rule(kw)
    if rule is None:
        return
    args = _args(rule, cost)
    if cost == 1:  # an int and a float of one unit go the same way, whatever the limit
        assert args == _args(rule, 1.0) == _args(rule, 1)
        assert (args is None) == (rule.capacity < 1)
    if args is None:
        assert cost > rule.capacity
        return
    numbers = [int(a) for a in args]  # integer text only
    assert all(0 <= n < TWO_53 for n in numbers)
    if rule.algorithm == "gcra":
        inc, tau1, px = numbers
        assert inc <= tau1 <= ops.MAX_PERIOD * 1e6 + 1 and (inc > 0) == (cost > 0)
        assert CLOCK_2245 + tau1 < TWO_53  # the latest arrival time a script writes
        assert px * 1000 >= tau1
    else:
        amount, limit, period, px = numbers
        assert amount <= limit <= 10**15 and 2 * limit < 2**52  # sums below RL_WRAP
        assert 1000 <= period <= ops.MAX_PERIOD * 1e6 and px * 1000 >= period
        assert CLOCK_2245 + period < TWO_53  # a window's end, a log entry's exit


@pytest.mark.parametrize(
    "kw",
    [
        {"limit": 1e-7},
        {"limit": 10**400},
        {"limit": 1e9 + 1},
        {"burst": 1e-7},
        {"burst": 2**70},
        {"period": 0.0009},
        {"period": ops.MAX_PERIOD * 1.01},
        {"period": 10**400},
        {"limit": 1, "period": 1e8, "burst": 10},  # a burst taking 31 years to refill
    ],
    ids=repr,
)
def test_numbers_out_of_range_are_refused(kw: dict[str, Any]) -> None:
    args: dict[str, Any] = {"limit": 10, "period": 60}
    args.update(kw)
    with pytest.raises(InvalidValueError):
        Rule.of(KS, "api", **args)


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_the_edges_of_the_range_are_accepted(algorithm: str) -> None:
    for limit, period in itertools.product(
        (ops.MIN_LIMIT, ops.MAX_LIMIT), (ops.MIN_PERIOD, ops.MAX_PERIOD)
    ):
        rule = Rule.of(KS, "api", limit=limit, period=period, algorithm=algorithm)
        assert rule.limit == limit and rule.period == period


@pytest.mark.parametrize("cost", [10**400, 2**64, -(10**400), float("-inf")])
def test_costs_out_of_range_are_refused(cost: Any) -> None:
    with pytest.raises(InvalidValueError):
        Rule.of(KS, "api", limit=10, period=60).args(cost, "k")


@pytest.mark.parametrize("kw", [{"lease": 1e-4}, {"lease": 1e9}, {"limit": 10**6}, {"limit": 2.0}])
def test_semaphore_numbers_out_of_range_are_refused(kw: dict[str, Any]) -> None:
    args: dict[str, Any] = {"limit": 2, "lease": 10}
    args.update(kw)
    with pytest.raises(InvalidValueError):
        sem_ops.SemaphoreRule.of(KS, "llm", **args)


def _sound(d: Decision) -> None:
    for value in (d.limit, d.remaining, d.retry_after, d.reset_after):
        assert math.isfinite(value) and value >= 0
    assert d.remaining <= d.limit * (1 + 1e-9)
    assert d.allowed or d.retry_after > 0


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(case=definitions())
def test_any_accepted_combination_answers_with_sound_times(
    mem: Memory, case: tuple[dict[str, Any], float]
) -> None:
    kw, cost = case
    try:
        lim = mem.limiter("api", **kw)
    except InvalidValueError:
        return
    key = f"k{next(_subjects)}"
    try:
        first = lim.hit(key, cost)
    except InvalidValueError:  # a cost beyond the capacity, refused whatever its type
        assert cost > lim.rule.capacity
        return
    assert first.allowed  # an untouched subject takes any cost up to its capacity
    for d in (first, lim.hit(key, cost), lim.peek(key, cost), lim.peek(key, 0)):
        _sound(d)
        assert d.limit == lim.rule.capacity


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_a_limit_below_one_refuses_a_cost_of_one_whatever_its_type(
    mem: Memory, algorithm: str
) -> None:
    lim = mem.limiter("api", limit=0.5, period=60, algorithm=algorithm)
    for cost in (1, 1.0):
        with pytest.raises(InvalidValueError):
            lim.hit("k", cost)
        with pytest.raises(InvalidValueError):
            lim.peek("k", cost)
        with pytest.raises(InvalidValueError):
            mem.hit_many([(lim, "k", cost)])
    with pytest.raises(InvalidValueError):
        lim.hit("k")  # the default cost is 1
    assert all_keys(mem) == []  # nothing written
    assert lim.hit("k", 0.5).allowed and not lim.hit("k", 0.5).allowed


def test_a_tiny_gcra_limit_over_a_long_period_answers_sound_times(mem: Memory) -> None:
    lim = mem.limiter("api", limit=1e-6, period=1.55e8)  # one millionth in ~5 years
    with pytest.raises(InvalidValueError):
        lim.hit("k")
    first, second = lim.hit("k", 1e-6), lim.hit("k", 1e-6)
    assert first.allowed and not second.allowed
    for d in (first, second, lim.peek("k", 1e-6)):
        _sound(d)
        assert 1.5e8 < d.reset_after <= 1.55e8 + 1
    assert 1.5e8 < second.retry_after <= 1.55e8 + 1


def test_a_huge_rate_still_spends_something_per_hit(mem: Memory) -> None:
    # 1e9 per ms: a unit's share of the refill is under 1 us, which the script cannot
    # count; each hit takes 1 us rather than nothing (under-admitting, never over)
    lim = mem.limiter("api", limit=1e9, period=0.001, burst=2)
    d = lim.hit("k", 2)
    assert d.allowed and d.reset_after > 0
    assert lim.rule.args(1e-9, "k")[0] == "1"


@pytest.mark.parametrize(
    "kw", [{"timeout": 1e16}, {"timeout": 1e-4}, {"timeout": 10**400}, {"timeout": math.nan}]
)
def test_timeouts_out_of_range_are_refused(mem: Memory, kw: dict[str, Any]) -> None:
    with pytest.raises(InvalidValueError):
        mem.limiter("api", limit=5, period=60, on_error="allow", **kw)
    with pytest.raises(InvalidValueError):
        mem.semaphore("llm", limit=1, lease=60, on_error="allow", **kw)


def test_the_longest_timeout_works(mem: Memory) -> None:
    lim = mem.limiter(
        "api", limit=5, period=3600, algorithm="sliding", on_error="allow", timeout=ops.MAX_TIMEOUT
    )
    assert lim.hit("k").allowed and lim.peek("k").remaining == 4
    sem = mem.semaphore("llm", limit=1, lease=60, on_error="deny", timeout=ops.MAX_TIMEOUT)
    lease = sem.acquire("k")
    assert lease is not None and sem.release(lease)


@pytest.mark.parametrize("wait", [-1, 1e16, math.inf, math.nan, "1"])
def test_semaphore_waits_out_of_range_are_refused(mem: Memory, wait: Any) -> None:
    sem = mem.semaphore("llm", limit=1, lease=60)
    with pytest.raises(InvalidValueError):
        sem.acquire("k", wait=wait)
    assert all_keys(mem) == []


def test_the_longest_lease_and_the_most_holders(mem: Memory) -> None:
    sem = mem.semaphore("llm", limit=sem_ops.MAX_HOLDERS, lease=sem_ops.MAX_LEASE)
    lease = sem.acquire("k")
    assert lease is not None and sem.renew(lease)
    (key,) = all_keys(mem)
    assert 0 < mem.client.pttl(key) <= sem_ops.MAX_LEASE * 1000
    assert sem.release(lease)
