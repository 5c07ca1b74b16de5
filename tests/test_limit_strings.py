"""Limits written as strings in the `limits` library's notation: `mem.limiter("api",
"100/minute")`, the same limiter as `limit=100, period=60`."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from pyredmem import AsyncMemory, InvalidValueError, Memory
from pyredmem._ops.limiter import parse_rate

# (rate, limit, period in seconds), as the `limits` library (5.8) parses each
READ = [
    ("10/second", 10, 1),
    ("100 per minute", 100, 60),
    ("5/10 seconds", 5, 10),
    ("1 per 2 hours", 1, 7200),
    ("3/DAY", 3, 86400),
    ("7/month", 7, 30 * 86400),
    ("2/year", 2, 360 * 86400),
    ("1/seconds", 1, 1),
    ("  10 /  minute ", 10, 60),
    ("1000/hour", 1000, 3600),
    ("42 PER 3 Minutes", 42, 180),
    ("1 per day", 1, 86400),
]

BAD: list[tuple[Any, str]] = [
    ("10/second;100/minute", "several limits"),
    ("10/second, 100/minute", "several limits"),
    ("10/second|100/minute", "several limits"),
    ("10/fortnight", "cannot read"),
    ("ten/second", "cannot read"),
    ("10", "cannot read"),
    ("10 minute", "cannot read"),
    ("/minute", "cannot read"),
    ("1.5/second", "cannot read"),
    ("-1/second", "cannot read"),
    ("10//second", "cannot read"),
    ("", "cannot read"),
    ("9" * 5000 + "/second", "cannot read"),
    (10, "a rate is a string"),
    (b"10/second", "a rate is a string"),
    ("0/second", "limit must be"),
    ("2000000000/second", "limit must be"),
    ("1/0 seconds", "period must be"),
    ("1/11 years", "period must be"),
]


@pytest.mark.parametrize("rate,limit,period", READ)
def test_parse_reads_the_limits_notation(rate: str, limit: int, period: int) -> None:
    assert parse_rate(rate) == (limit, period)


@pytest.mark.parametrize("rate,limit,period", READ)
def test_a_string_limiter_is_the_keyword_limiter(rate: str, limit: int, period: int) -> None:
    with Memory() as mem:
        written = mem.limiter("api", rate)
        assert (written.limit, written.period) == (limit, period)
        same = mem.limiter("api", limit=limit, period=period)
        assert written.rule.keys("k") == same.rule.keys("k")


@pytest.mark.parametrize("rate,match", BAD, ids=[str(r)[:30] for r, _ in BAD])
def test_bad_rates_are_refused(rate: Any, match: str) -> None:
    with Memory() as mem, pytest.raises(InvalidValueError, match=match) as info:
        mem.limiter("api", rate)
    assert info.value.scope == "limiter:api"


def test_a_rate_or_limit_and_period_not_both() -> None:
    with Memory() as mem:
        with pytest.raises(InvalidValueError, match="not both"):
            mem.limiter("api", "10/second", limit=10, period=1)
        with pytest.raises(InvalidValueError, match="not both"):
            mem.limiter("api", "10/second", period=1)
        for kw in ({}, {"limit": 10}, {"period": 1}):
            with pytest.raises(InvalidValueError, match="needs a rate"):
                mem.limiter("api", **kw)  # type: ignore[arg-type]


# --- on every engine ---------------------------------------------------------------------


@pytest.mark.parametrize("algorithm", ["gcra", "fixed", "sliding"])
def test_a_string_limit_admits_then_denies(mem: Memory, algorithm: str) -> None:
    lim = mem.limiter("api", "3 per hour", algorithm=algorithm)
    assert [lim.hit("alice").allowed for _ in range(4)] == [True, True, True, False]
    # the keyword form of the same limit shares its budget
    again = mem.limiter("api", limit=3, period=3600, algorithm=algorithm)
    assert not again.hit("alice").allowed and again.hit("bob").allowed
    assert lim.peek("bob").remaining == pytest.approx(2, abs=0.01)


def test_string_limits_combine_in_hit_many(mem: Memory) -> None:
    per_user = mem.limiter("user", "2/minute", algorithm="sliding")
    per_org = mem.limiter("org", "3/minute", algorithm="fixed")
    got = [
        mem.hit_many([(per_user, who), (per_org, "acme")], group="acme").allowed
        for who in ("ann", "ann", "ann", "bob", "bob")
    ]
    assert got == [True, True, False, True, False]


def test_string_limits_in_a_batch(mem: Memory) -> None:
    with mem.batch() as b:
        first = b.limiter("api", "1/hour").hit("k")
        second = b.limiter("api", "1/hour").hit("k")
    assert first.result().allowed and not second.result().allowed


def test_async_string_limits(url: str) -> None:
    async def main() -> list[bool]:
        async with AsyncMemory(url) as mem:
            lim = mem.limiter("api", "2/minute")
            return [(await lim.hit("k")).allowed for _ in range(3)]

    assert asyncio.run(main()) == [True, True, False]
