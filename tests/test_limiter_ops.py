"""The limiter and semaphore core without a server: validation, key layout, reply parsing."""

from __future__ import annotations

from typing import Any

import pytest

from pyredmem import (
    CrossSlotError,
    Decision,
    InvalidKeyError,
    InvalidScopeError,
    InvalidValueError,
    MultiDecision,
)
from pyredmem._keys import Keyspace, key_slot
from pyredmem._ops import limiter as ops
from pyredmem._ops import semaphore as sem_ops
from pyredmem._ops.limiter import Rule

KS = Keyspace("pm", "t1")


def rule(**kw: Any) -> Rule:
    args: dict[str, Any] = {"limit": 10, "period": 60, "algorithm": "gcra"}
    args.update(kw)
    return Rule.of(KS, "api", **args)


def test_key_layout_gives_each_subject_its_own_hash_tag() -> None:
    assert rule().keys("alice") == ("pm:{t1:rl:api:alice}:g",)
    assert rule(algorithm="fixed").keys("a:b") == ("pm:{t1:rl:api:a:b}:w",)
    assert rule(algorithm="sliding").keys("bob") == ("pm:{t1:rl:api:bob}:l",)
    assert rule().keys("alice", "acme") == ("pm:{t1:grp:acme}:rl:api:alice:g",)
    assert rule().keys("é t") == ("pm:{t1:rl:api:é t}:g",)  # beyond ASCII: the full check
    sem = sem_ops.SemaphoreRule.of(KS, "llm", limit=2, lease=30)
    assert sem.key("gpt") == "pm:{t1:sem:llm:gpt}:z"


def test_script_arguments_carry_units() -> None:
    # gcra: us per hit (rounded up), the burst's length + 1 us, the TTL (ms): that + 1 ms
    call = ops.limiter_hit(rule(limit=100, period=10, burst=150), "k", 2.5)
    assert call.script.name == "limiter_hit_gcra"
    assert call.args == ("250000", "15000001", "15001")
    assert ops.limiter_hit(rule(limit=3, period=1), "k").args == ("333334", "1000001", "1001")
    # fixed and sliding: cost and limit in millionths (cost rounded up), period (us), TTL
    fixed = rule(algorithm="fixed", limit=0.7)
    assert ops.limiter_hit(fixed, "k", 0.7).args == ("700000", "700000", "60000000", "60001")
    assert ops.limiter_hit(fixed, "k", 1e-7).args[0] == "1"
    sliding = ops.limiter_hit(rule(algorithm="sliding", period=1.5), "k", 3)
    assert sliding.script.name == "limiter_hit_sliding"
    assert sliding.args == ("3000000", "10000000", "1500000", "1501")
    peek = ops.limiter_peek(rule(algorithm="sliding", period=1.5), "k", 3)
    assert peek.script.name == "limiter_hit_many" and peek.args == ("0", "s", *sliding.args)


@pytest.mark.parametrize(
    "kw",
    [
        {"limit": 0},
        {"limit": -1},
        {"limit": 2e9},
        {"burst": 1e10},
        {"limit": True},
        {"limit": float("nan")},
        {"limit": "10"},
        {"period": 0},
        {"period": -5},
        {"period": float("inf")},
        {"algorithm": "leaky"},
        {"algorithm": "fixed", "burst": 5},
        {"burst": 0},
    ],
    ids=repr,
)
def test_bad_definitions(kw: dict[str, Any]) -> None:
    with pytest.raises(InvalidValueError):
        rule(**kw)


@pytest.mark.parametrize("name", ["", "a:b", "a{b}", "x" * 129, 3])
def test_bad_names(name: Any) -> None:
    with pytest.raises(InvalidScopeError):
        Rule.of(KS, name, limit=1, period=1)


@pytest.mark.parametrize("key", ["", "a{b", "a}b", "tab\there", "x" * 257, "é" * 129, 7, None])
def test_bad_keys_and_groups(key: Any) -> None:
    with pytest.raises(InvalidKeyError):
        ops.limiter_hit(rule(), key, 1)
    if key is not None:  # no group is the default
        with pytest.raises(InvalidKeyError):
            ops.limiter_hit(rule(), "ok", 1, key)


@pytest.mark.parametrize(
    ("kw", "cost"),
    [
        ({}, -1),
        ({}, 11),  # more than the burst (= limit): could never be allowed
        ({"burst": 20}, 21),
        ({"algorithm": "fixed"}, 10.5),
        ({"algorithm": "sliding"}, 11),
        ({}, float("nan")),
        ({}, "1"),
    ],
)
def test_bad_costs(kw: dict[str, Any], cost: Any) -> None:
    with pytest.raises(InvalidValueError):
        ops.limiter_hit(rule(**kw), "k", cost)


def test_costs_up_to_the_capacity_are_accepted() -> None:
    # gcra, 10 per 60 s: 6 s of refill per unit; the burst's 120 s + 1 us bounds the lead
    assert ops.limiter_hit(rule(burst=20), "k", 20).args == ("120000000", "120000001", "120001")
    assert ops.limiter_hit(rule(), "k", 0).args[0] == "0"  # spends nothing
    assert ops.limiter_hit(rule(limit=1e6), "k", 1234.5).args[0] == "74070"  # 60 us a unit
    for algorithm in ("fixed", "sliding"):  # the whole limit fits an untouched window
        args = ops.limiter_hit(rule(algorithm=algorithm, limit=0.7), "k", 0.7).args
        assert args[0] == args[1] == "700000"


def test_reply_parsing() -> None:
    gcra = ops.limiter_hit(rule(), "k", 1)  # one unit every 6 s, burst 10 (60 s)
    assert gcra.parse(6_000_000) == Decision(True, 10, 9.0, 0.0, 6.0)
    assert gcra.parse([59_000_000, 59_000_000, 4_999_999]) == Decision(
        False, 10, 1 / 6, 4.999999, 59.0
    )
    fixed = ops.limiter_hit(rule(algorithm="fixed"), "k", 1)
    assert fixed.parse([3_000_000, 1_500_000]) == Decision(True, 10, 7.0, 0.0, 1.5)
    assert fixed.parse([9_700_000, 1_500_000, 1_500_000]) == Decision(False, 10, 0.3, 1.5, 1.5)
    peek = ops.limiter_peek(rule(algorithm="sliding"), "k", 1)
    assert peek.parse([0, 0, 10_000_000, 60_000_000, 250_000]) == Decision(
        False, 10, 0.0, 0.25, 60.0
    )


def test_decisions_are_ordinary_dataclasses() -> None:
    d = ops.limiter_hit(rule(), "k", 1).parse(6_000_000)
    assert d == Decision(d.allowed, d.limit, d.remaining, d.retry_after, d.reset_after)
    assert (
        repr(d) == "Decision(allowed=True, limit=10, remaining=9.0, retry_after=0.0, "
        "reset_after=6.0)"
    )
    with pytest.raises(AttributeError):
        d.allowed = False  # type: ignore[misc]


def test_hit_many_builds_one_call_and_parses_every_verdict() -> None:
    a, b = rule(algorithm="fixed"), Rule.of(KS, "org", limit=5, period=1, algorithm="sliding")
    call = ops.limiter_hit_many([(a, "u", 1), (b, "o", 2)], "acme", cluster=True)
    assert len(call.keys) == 2 and len({key_slot(k) for k in call.keys}) == 1
    assert call.args == (
        "1", "f", "1000000", "10000000", "60000000", "60001",
        "s", "2000000", "5000000", "1000000", "1001",
    )  # fmt: skip
    md = call.parse([0, 1, 1_000_000, 60_000_000, 0, 0, 4_000_000, 900_000, 250_000])
    assert not md.allowed and md.decisions[0].allowed and not md.decisions[1].allowed
    assert md.decisions[0].remaining == 9 and md.decisions[1].remaining == 1
    assert md.retry_after == 0.25 and md.binding is md.decisions[1]


def test_hit_many_refuses_cross_slot_on_a_cluster_only() -> None:
    checks = [(rule(), "alice", 1), (Rule.of(KS, "org", limit=5, period=1), "acme", 1)]
    ops.limiter_hit_many(checks, cluster=False)
    with pytest.raises(CrossSlotError):
        ops.limiter_hit_many(checks, cluster=True)


def test_hit_many_refuses_duplicates_empty_and_too_many() -> None:
    with pytest.raises(InvalidValueError):
        ops.limiter_hit_many([(rule(), "a", 1), (rule(), "a", 1)], cluster=False)
    with pytest.raises(InvalidValueError):
        ops.limiter_hit_many([], cluster=False)
    many = [(rule(), f"k{i}", 1) for i in range(ops.MAX_CHECKS + 1)]
    with pytest.raises(InvalidValueError):
        ops.limiter_hit_many(many, cluster=False)


def test_headers() -> None:
    ok = Decision(True, 100, 41.7, 0.0, 12.2)
    assert ok.headers() == {
        "X-RateLimit-Limit": "100",
        "X-RateLimit-Remaining": "41",
        "X-RateLimit-Reset": "13",
    }
    denied = Decision(False, 100, 0.0, 0.2, 30.0)
    assert denied.headers()["Retry-After"] == "1"
    assert denied.headers()["X-RateLimit-Remaining"] == "0"
    md = MultiDecision(False, (ok, denied))
    assert md.headers() == denied.headers()
    assert MultiDecision(True, (ok, Decision(True, 5, 2.0, 0, 1))).binding.limit == 5


def test_fallback_decisions() -> None:
    assert ops.fallback_decision(rule(), True) == Decision(True, 10, 0.0, 0.0, 0.0)
    assert ops.fallback_decision(rule(), False).allowed is False


@pytest.mark.parametrize("kw", [{"limit": 0}, {"limit": 1.5}, {"lease": 0}, {"lease": -1}])
def test_bad_semaphores(kw: dict[str, Any]) -> None:
    args: dict[str, Any] = {"limit": 2, "lease": 10}
    args.update(kw)
    with pytest.raises(InvalidValueError):
        sem_ops.SemaphoreRule.of(KS, "llm", **args)


def test_semaphore_calls() -> None:
    r = sem_ops.SemaphoreRule.of(KS, "llm", limit=3, lease=1.5)
    call = sem_ops.semaphore_acquire(r, "k")
    assert call.args[1:] == (3, 1500)
    lease, wait = call.parse([1, 2])
    assert lease is not None and lease.holders == 2 and wait == 0
    assert call.parse([0, 3, b"250"]) == (None, 0.25)
    assert sem_ops.semaphore_release(r, lease).args == (lease.token,)
    assert sem_ops.semaphore_renew(r, lease).args == (lease.token, 1500)
    assert sem_ops.semaphore_renew(r, lease).parse(0) is False
    with pytest.raises(InvalidValueError):
        sem_ops.semaphore_release(r, lease.token)
    with pytest.raises(InvalidValueError):
        sem_ops.semaphore_renew(r, lease.token)


def test_hits_of_cost_one_share_their_call_and_the_cache_is_bounded() -> None:
    r = rule()
    assert ops.limiter_hit(r, "k") is ops.limiter_hit(r, "k", 1)
    assert ops.limiter_hit(r, "k", 2) is not ops.limiter_hit(r, "k", 2)
    assert ops.limiter_hit(r, "k", 1, "g") is not ops.limiter_hit(r, "k", 1, "g")
    for i in range(ops.KNOWN_KEYS + 10):
        ops.limiter_hit(r, f"user-{i}")
    assert 0 < len(r.unit_calls) <= ops.KNOWN_KEYS and len(r.known) <= ops.KNOWN_KEYS
    with pytest.raises(InvalidKeyError):  # bad keys are never remembered
        ops.limiter_hit(r, "a{b")
    assert "a{b" not in r.unit_calls and "a{b" not in r.known
