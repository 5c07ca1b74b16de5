"""The cache's sans-I/O core: calls built and replies parsed without a server."""

from __future__ import annotations

import asyncio
import math

import pytest

from pyredmem import CacheLease, SerializationError, ValidationError
from pyredmem._config import Config
from pyredmem._keys import Keyspace, ScopeRef, key_slot
from pyredmem._ops import cache as ops


def _target(**options: object) -> ops.CacheTarget:
    cfg = Config(keyspace=Keyspace("ns", "acme"))
    return ops.CacheTarget(cfg, "llm", ttl=60, **options)  # type: ignore[arg-type]


def test_key_layout_shares_one_tag_per_entry() -> None:
    t = _target(scope=ScopeRef.of("user", "a:b"))
    h, x, w = t.entry_keys("what {is} 2+2?")
    prefix = h[: -len("h")]
    assert prefix in t.prefixes
    assert prefix.startswith("ns:{acme:cache:llm:user:a:b:") and prefix.endswith("}:")
    assert (x, w) == (f"{prefix}x", f"{prefix}w:what {{is}} 2+2?")
    assert len({key_slot(k) for k in (h, x, w)}) == 1
    assert t.entry_keys("what {is} 2+2?") == (h, x, w)  # stable


def test_clear_groups_buckets_per_slot() -> None:
    t = _target(buckets=16)
    every = [k for p in t.prefixes for k in (f"{p}h", f"{p}x")]
    assert ops.cache_clear(t, per_slot=False)[0].keys == tuple(every)
    calls = ops.cache_clear(t, per_slot=True)
    assert sorted(k for c in calls for k in c.keys) == sorted(every)
    for c in calls:
        assert len({key_slot(k) for k in c.keys}) == 1
        assert [k[-1] for k in c.keys] == ["h", "x"] * (len(c.keys) // 2)  # H, X pairs


def test_calls_name_only_the_keys_their_scripts_touch() -> None:
    t = _target()
    h, x, w = t.entry_keys("k")
    assert ops.cache_get(t, "k").keys == (h,)
    assert ops.cache_peek(t, "k", serve_stale=False, draw=0.5).keys == (h,)
    assert ops.cache_fetch(t, "k", serve_stale=False, draw=0.5).keys == (h, x)
    for call in (
        ops.cache_set(t, "k", 1, None),
        ops.cache_delete(t, "k"),
        ops.cache_fill(t, CacheLease("k", "1"), 1, None, 0),
        ops.cache_release(t, CacheLease("k", "1")),
    ):
        assert call.keys == (h, x, w), call
    assert ops.cache_release(t, CacheLease("k", "7")).args == ("k", "7", "16")


def test_fetch_replies() -> None:
    t = _target()
    call = ops.cache_fetch(t, "k", serve_stale=False, draw=0.25)
    assert call.args[:7] == ("k", 30000, "0", "1.0", "0.25", 100_000 // 16, "16")
    attempt = call.args[7]  # a fresh id per call, which a retry of the call sends again
    assert isinstance(attempt, str) and len(attempt) == 16 and int(attempt, 16) >= 0
    assert ops.cache_fetch(t, "k", serve_stale=False, draw=0.25).args[7] != attempt
    assert call.script.retry and not call.script.readonly
    meta = b" 1700000000000 1700000000000 0 1700000000000001"
    assert call.parse([1, b"m" + meta, b"\x92\x01\x02"]) == ops.Fetch("hit", [1, 2])
    assert call.parse([5, b"i" + meta, b"7"]) == ops.Fetch("stale", 7)
    assert call.parse([2, b"1700000000000001"]) == ops.Fetch(
        "lease", lease=CacheLease("k", "1700000000000001")
    )
    assert call.parse([4, b"9"]).lease == CacheLease("k", "9")
    assert call.parse([3, 1500]) == ops.Fetch("wait", wait=1.5)


def test_peek_calls() -> None:
    t = _target(stale=5, buckets=4)
    call = ops.cache_peek(t, "k", serve_stale=True, draw=0.25)
    assert call.keys == t.entry_keys("k")[:1] and call.args == ("k", "4", "1", "1.0", "0.25")
    assert call.script.readonly and call.script.retry
    meta = b" 1700000000000 1700000000000 0 1700000000000001"
    assert call.parse(0) is None
    assert call.parse([b"m" + meta, b"\x92\x01\x02", 1]) == ops.Fetch("hit", [1, 2])
    assert call.parse([b"i" + meta, b"7", 5]) == ops.Fetch("stale", 7)


def test_fill_and_get_calls() -> None:
    t = _target(stale=5, max_entries=10, buckets=4)
    call = ops.cache_fill(t, CacheLease("k", "42"), 1.5, None, 0.2504)
    assert call.args == ("k", "42", "f", b"1.5", 60000, 5000, 250, "4")
    assert call.parse(1) is True and call.parse(0) is False
    get = ops.cache_get(t, "k", default="d")
    assert get.keys == t.entry_keys("k")[:1] and get.args == ("k", "4")
    assert (
        get.parse(None) == "d"
        and get.parse([b"i 1700000000000 1700000000000 0 1", b"3", b"4"]) == 3
    )
    with pytest.raises(SerializationError):
        ops.cache_fill(t, CacheLease("k", "42"), object(), None, 0)


def test_draw_and_wait_slice() -> None:
    assert all(0 < ops.draw() <= 1 for _ in range(1000))
    assert math.isfinite(math.log(ops.draw()))
    assert ops.wait_slice(0.5, 10) == pytest.approx(0.51)
    assert ops.wait_slice(30, 10) == ops.MAX_WAIT_SLICE
    assert ops.wait_slice(30, 0.2) == 0.2
    assert ops.wait_slice(-1, 5) > 0  # never 0, which would block forever


def add(a: int, b: int = 2, *rest: int, **extra: object) -> int:
    return a + b


def test_argument_keys_are_stable() -> None:
    cfg = Config()
    key = ops.argument_key(add, (1,), {}, cfg, "l")
    assert key == ops.argument_key(add, (), {"a": 1, "b": 2}, cfg, "l")
    assert key.startswith(f"{__name__}.add:") and len(key.split(":")[-1]) == 64
    assert key != ops.argument_key(add, (1, 3), {}, cfg, "l")
    assert ops.argument_key(add, (1,), {"x": {3, 1, 2}}, cfg, "l") == ops.argument_key(
        add, (1,), {"x": {2, 3, 1}}, cfg, "l"
    )
    assert ops.argument_key(add, (1,), {"y": 1, "x": 2}, cfg, "l") == ops.argument_key(
        add, (1,), {"x": 2, "y": 1}, cfg, "l"
    )
    with pytest.raises(SerializationError):
        ops.argument_key(add, (object(),), {}, cfg, "l")
    with pytest.raises(ValidationError):
        ops.argument_key(add, (), {}, cfg, "l")  # missing a


def test_shells_treat_awaitables_apart() -> None:
    async def coro() -> int:
        return 1

    with pytest.raises(ValidationError):
        ops.Shell.check(coro)
    with pytest.raises(ValidationError):
        ops.Shell.result(coro())  # closed, so no "never awaited" warning
    assert ops.Shell.result(5) == 5
    ops.AsyncShell.check(coro)
    assert asyncio.run(ops.AsyncShell.result(coro())) == 1
    with pytest.raises(ValidationError):
        ops.AsyncShell.check(42)  # type: ignore[arg-type]
