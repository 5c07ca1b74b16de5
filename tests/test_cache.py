"""Shared cache: the behaviour users rely on, on every engine."""

from __future__ import annotations

import asyncio
import os
import signal
import threading
import time
from typing import Any

import pytest
import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

import pyredmem._ops.cache as cache_ops
from pyredmem import (
    AsyncMemory,
    CacheLease,
    CacheTimeoutError,
    InvalidKeyError,
    InvalidScopeError,
    InvalidValueError,
    Memory,
    PyRedMemError,
    SerializationError,
    ValidationError,
)
from pyredmem._keys import key_slot
from tests.counting import count_replies, script_calls
from tests.engines import Engine, Server


class Unserialisable:
    pass


def _keys(mem: Memory) -> list[str]:
    client = mem.client
    if hasattr(client, "get_primaries"):
        nodes = client.get_primaries()
        return sorted(k.decode() for k in client.keys(target_nodes=nodes))
    return sorted(k.decode() for k in client.keys("*"))


def test_get_set_delete_and_expiry(mem: Memory) -> None:
    c = mem.cache("answers", ttl=0.3)
    assert c.get("q") is None and c.get("q", "dflt") == "dflt"
    c.set("q", {"text": "42", "tokens": [1, 2]})
    c.set("n", 7, ttl=60)
    c.set("none", None)
    assert c.get("q") == {"text": "42", "tokens": [1, 2]}
    assert c.get("n") == 7 and c.get("none", "dflt") is None
    time.sleep(0.45)
    assert c.get("q") is None  # the cache's ttl
    assert c.get("n") == 7  # its own ttl
    assert c.delete("n") is True and c.delete("n") is False and c.get("n") is None


def test_caches_scopes_and_tenants_are_isolated(url: str) -> None:
    with Memory(url) as m, Memory(url, tenant="acme") as acme:
        m.cache("a", ttl=60).set("k", 1)
        m.cache("b", ttl=60).set("k", 2)
        m.cache("a", ttl=60, scope=m.user("alice")).set("k", 3)
        acme.cache("a", ttl=60).set("k", 4)
        assert m.cache("a", ttl=60).get("k") == 1
        assert m.cache("b", ttl=60).get("k") == 2
        assert m.cache("a", ttl=60, scope=m.user("alice")).get("k") == 3
        assert m.cache("a", ttl=60, scope=m.user("bob")).get("k") is None
        assert acme.cache("a", ttl=60).get("k") == 4
        assert m.cache("a", ttl=60).clear() == 1
        assert m.cache("b", ttl=60).get("k") == 2 and acme.cache("a", ttl=60).get("k") == 4


def test_clear_removes_everything_in_every_bucket(engine: Engine, mem: Memory) -> None:
    c = mem.cache("big", ttl=60, buckets=16)
    for i in range(60):
        c.set(f"k{i}", i)
    lease = c.fetch("computing").lease
    assert lease is not None
    slots = {key_slot(k) for k in _keys(mem)}
    assert len(slots) > 8  # entries spread over the buckets' hash tags
    assert c.clear() == 60
    assert [c.get(f"k{i}") for i in range(60)] == [None] * 60
    assert c.fill(lease, "late") is False  # a computation in flight lost its lease
    assert _keys(mem) == []
    assert c.clear() == 0


def test_every_key_has_a_ttl(mem: Memory) -> None:
    c = mem.cache("t", ttl=60, lease=5)
    c.set("a", 1)
    f = c.fetch("b")
    assert f.kind == "lease"
    assert c.fetch("b").kind == "wait"  # registers a waiter
    assert f.lease is not None and c.fill(f.lease, 2)  # wakes it
    c.fetch("c")
    keys = _keys(mem)
    kinds = {k.rsplit("}:", 1)[1][:1] for k in keys}
    assert kinds == {"h", "x", "w"}  # bucket hashes and indexes, and a wake-up list
    for k in keys:
        assert 0 < mem.client.pttl(k) <= 60_000, k


def test_dead_entries_are_dropped_and_buckets_expire_with_their_last_entry(mem: Memory) -> None:
    c = mem.cache("tidy", ttl=60, buckets=1)
    h, x, _ = c._t.entry_keys("a")
    for i in range(5):
        c.set(f"old{i}", i, ttl=0.1)
    time.sleep(0.15)
    c.set("a", 1)  # a new entry needs room: the dead entries' fields go
    c.set("b", 2, ttl=5)
    # the entries' fields, the bucket's expiry and its bucket count
    assert sorted(mem.client.hkeys(h)) == [b"b", b"d:a", b"d:b", b"e", b"m:a", b"m:b"]
    assert mem.client.zcard(x) == 2
    for k in (h, x):  # the bucket lives as long as its last entry, no longer
        assert 59_000 < mem.client.pttl(k) <= 60_000
    assert c.delete("a") is True
    for k in (h, x):
        assert 4_000 < mem.client.pttl(k) <= 5_000
    assert c.delete("b") is True and _keys(mem) == []


def _waiting(mem: Memory, c: Any, key: str) -> None:
    """Block until a caller waits for `key`'s lease holder (the lease counts it: its third
    field, "<ends> <token> <waiters> <attempt>")."""
    h = c._t.entry_keys(key)[0]
    deadline = time.monotonic() + 10
    while (mem.client.hget(h, f"l:{key}") or b"- - 0").split()[2] != b"1":
        assert time.monotonic() < deadline, "no caller started waiting"
        time.sleep(0.01)


@pytest.mark.parametrize("how", ["delete", "set", "clear", "evict"])
def test_waiters_of_an_invalidated_entry_carry_on(
    mem: Memory, monkeypatch: pytest.MonkeyPatch, how: str
) -> None:
    # delete and set wake the waiters at once; clear and eviction cannot name their wake-up
    # lists, so the waiters ask again when their wait slice ends (shortened here)
    at_once = how in ("delete", "set")
    if not at_once:
        monkeypatch.setattr(cache_ops, "MAX_WAIT_SLICE", 0.3)
    c = mem.cache("inv", ttl=60, lease=30, buckets=1, max_entries=1)
    holder = c.fetch("k").lease  # a computation that never finishes
    assert holder is not None
    got: list[Any] = []
    t = threading.Thread(target=lambda: got.append(c.get_or_compute("k", lambda: "computed")))
    t.start()
    _waiting(mem, c, "k")
    begin = time.monotonic()
    if how == "delete":
        c.delete("k")
    elif how == "set":
        c.set("k", "explicit")
    elif how == "clear":
        c.clear()
    else:
        c.set("other", 1)  # the bucket holds one entry: the leased one is evicted
    t.join(10)
    assert got == ["explicit" if how == "set" else "computed"]
    assert time.monotonic() - begin < (1.0 if at_once else 5.0)  # not the 30 s lease
    assert c.fill(holder, "late") is False


def test_get_or_compute_hit_miss_and_ttl(mem: Memory) -> None:
    c = mem.cache("gc", ttl=0.3)
    calls: list[int] = []

    def fn() -> dict[str, int]:
        calls.append(1)
        return {"n": len(calls)}

    assert c.get_or_compute("k", fn) == {"n": 1}
    assert c.get_or_compute("k", fn) == {"n": 1}
    assert c.get("k") == {"n": 1} and len(calls) == 1
    time.sleep(0.4)
    assert c.get_or_compute("k", fn, ttl=60) == {"n": 2}
    time.sleep(0.4)
    assert c.get_or_compute("k", fn) == {"n": 2}  # kept for the ttl given


def test_fn_error_releases_the_lease_and_a_waiter_computes(mem: Memory) -> None:
    c = mem.cache("err", ttl=60, lease=10)
    started = threading.Event()
    outcome: list[Any] = []

    def failing() -> str:
        started.set()
        time.sleep(0.2)
        raise RuntimeError("model down")

    def holder() -> None:
        try:
            c.get_or_compute("k", failing)
        except RuntimeError as exc:
            outcome.append(exc)

    t = threading.Thread(target=holder)
    t.start()
    started.wait(5)
    begin = time.monotonic()
    assert c.get_or_compute("k", lambda: "second try") == "second try"
    assert time.monotonic() - begin < 2  # woken at once, not after the 10 s lease
    t.join()
    assert isinstance(outcome[0], RuntimeError)
    assert c.get("k") == "second try"


def test_fn_error_leaves_nothing_behind(mem: Memory) -> None:
    c = mem.cache("err", ttl=60, lease=10)
    with pytest.raises(ZeroDivisionError):
        c.get_or_compute("k", lambda: 1 / 0)
    with pytest.raises(SerializationError):
        c.get_or_compute("k", Unserialisable)
    assert c.fetch("k").kind == "lease"  # no lease was left held


def test_wait_timeout_raises_or_falls_back(mem: Memory) -> None:
    c = mem.cache("slow", ttl=60, lease=30, max_wait=0.3)
    assert c.fetch("k").kind == "lease"  # someone else is computing
    begin = time.monotonic()
    with pytest.raises(CacheTimeoutError) as info:
        c.get_or_compute("k", lambda: "mine")
    assert 0.25 < time.monotonic() - begin < 3
    assert info.value.key == "k" and isinstance(info.value, TimeoutError)
    assert c.get_or_compute("k", lambda: "mine", fallback=lambda: "fallback") == "fallback"
    assert c.get("k") is None


def test_fencing(mem: Memory) -> None:
    c = mem.cache("fence", ttl=60, lease=0.2)
    first = c.fetch("k").lease
    assert first is not None
    time.sleep(0.3)  # its lease expired: nobody took over, still it cannot write
    assert c.fill(first, "late") is False and c.get("k") is None
    second = c.fetch("k").lease
    assert second is not None and int(second.token) > int(first.token)
    assert c.fill(first, "late") is False
    assert c.fill(second, "ok") is True and c.get("k") == "ok"
    assert c.fill(second, "again") is False  # a lease stores once
    third = c.fetch("other").lease
    assert third is not None
    c.set("other", "explicit")  # set revokes the lease in flight
    assert c.fill(third, "computed") is False and c.get("other") == "explicit"
    fourth = c.fetch("gone").lease
    assert fourth is not None and c.release(fourth) is True and c.release(fourth) is False
    assert c.fill(CacheLease("k", "123"), "forged") is False and c.get("k") == "ok"


def test_fetch_and_fill_sent_again_answer_as_the_first_time(mem: Memory) -> None:
    # what the client's retry policy does after a lost reply: the same call, sent again
    c = mem.cache("again", ttl=60, lease=30)
    run, t = c._runner.run, c._t
    h, _, w = t.entry_keys("k")
    fetch = cache_ops.cache_fetch(t, "k", serve_stale=False, draw=1.0)
    first = run(fetch)
    assert first.kind == "lease" and first.lease is not None
    assert run(fetch) == first  # the lease it took, not a wait for itself
    ends, token, waiters, attempt = mem.client.hget(h, "l:k").split()
    assert (token.decode(), waiters, attempt.decode()) == (first.lease.token, b"0", fetch.args[7])
    # another caller's fetch, sent twice: a waiter counted twice, the lease unchanged
    other = cache_ops.cache_fetch(t, "k", serve_stale=False, draw=1.0)
    assert run(other).kind == run(other).kind == "wait"
    assert mem.client.hget(h, "l:k").split() == [ends, token, b"2", attempt]
    assert run(fetch) == first  # still its own lease
    fill = cache_ops.cache_fill(t, first.lease, "v", None, 0.1)
    assert run(fill) is True and run(fill) is True
    assert c.get("k") == "v" and mem.client.hget(h, "l:k") is None
    assert mem.client.llen(w) == 2  # one wake-up per count: the double waiter's extra one
    assert c.fill(first.lease, "other") is False and c.get("k") == "v"  # not this fill
    assert run(fetch).kind == "hit"  # the lease is gone: the value answers
    # a refresh lease (a stale value served to others) comes back as a refresh
    s = mem.cache("again-stale", ttl=0.1, stale=30, beta=0)
    s.set("k", "old")
    time.sleep(0.2)
    refresh = cache_ops.cache_fetch(s._t, "k", serve_stale=True, draw=1.0)
    got = s._runner.run(refresh)
    assert got.kind == "refresh" and s._runner.run(refresh) == got
    assert s.fetch("k").kind == "stale"  # another caller: served stale, not a lease


@pytest.mark.real_server
def test_a_stalled_get_or_compute_is_retried_and_computes_once(server: Server) -> None:
    # the server stops past the socket timeout while the lease-taking fetch is in flight:
    # the fetch runs once the server resumes, and its retry gets that lease back
    client = redis.Redis(port=server.port, socket_timeout=0.3, retry=Retry(NoBackoff(), 10))
    try:
        with Memory(client) as mem:
            c = mem.cache("stall", ttl=60, lease=30)
            c.get("k")  # a connection, ready
            assert server.proc is not None
            os.kill(server.proc.pid, signal.SIGSTOP)
            resume = threading.Timer(1.0, os.kill, (server.proc.pid, signal.SIGCONT))
            resume.start()
            calls: list[int] = []
            assert c.get_or_compute("k", lambda: calls.append(1) or "v") == "v"
            resume.join()
            assert calls == [1] and c.get("k") == "v"
            assert client.hget(c._t.entry_keys("k")[0], "l:k") is None  # no lease left
    finally:
        client.close()


def test_rejected_fill_is_reported(mem: Memory, caplog: pytest.LogCaptureFixture) -> None:
    c = mem.cache("fence", ttl=60, lease=10)

    def fn() -> str:
        c.delete("k")  # invalidated while computing
        return "computed"

    assert c.get_or_compute("k", fn) == "computed"  # the caller still gets its result
    assert c.get("k") is None
    assert "was not stored" in caplog.text


def test_stale_while_revalidate(mem: Memory) -> None:
    c = mem.cache("swr", ttl=0.2, stale=30, beta=0)
    c.set("k", "old")
    time.sleep(0.3)
    assert c.get("k") is None  # get never returns stale values
    refreshing = threading.Event()
    proceed = threading.Event()

    def refresh() -> str:
        refreshing.set()
        proceed.wait(5)
        return "new"

    got: list[str] = []
    t = threading.Thread(target=lambda: got.append(c.get_or_compute("k", refresh)))
    t.start()
    refreshing.wait(5)
    assert c.get_or_compute("k", lambda: "not me") == "old"  # served stale, no waiting
    proceed.set()
    t.join()
    assert got == ["new"] and c.get("k") == "new"


def test_early_refresh_xfetch(mem: Memory, monkeypatch: pytest.MonkeyPatch) -> None:
    c = mem.cache("xf", ttl=60, beta=1.0)
    lease = c.fetch("k").lease
    assert lease is not None and c.fill(lease, "v1", compute_time=2.0)
    # 60 s from expiry, a value that took 2 s refreshes early only on a tiny draw:
    # now - 2 s * ln(draw) >= expiry  <=>  draw <= e^-30
    monkeypatch.setattr(cache_ops, "draw", lambda: 0.5)
    assert c.fetch("k").kind == "hit"
    monkeypatch.setattr(cache_ops, "draw", lambda: 1e-14)
    early = c.fetch("k")
    assert early.kind == "refresh" and early.lease is not None
    assert c.fetch("k").kind == "hit"  # one refresher at a time; others keep the value
    assert c.get_or_compute("k", lambda: "v2") == "v1"
    assert c.fill(early.lease, "v2") and c.get("k") == "v2"
    off = mem.cache("xf", ttl=60, beta=0)
    assert off.fetch("k").kind == "hit"


def test_get_or_compute_at_the_smallest_draw(mem: Memory, monkeypatch: pytest.MonkeyPatch) -> None:
    """The smallest draw, 2^-53 (-ln: 36.7), refreshes a value 60 s from expiry only when it
    took more than 60 / 36.7 s to compute; the hit's shortcut (-ln(draw) < 37) agrees."""
    c = mem.cache("xf-edge", ttl=60, beta=1.0)
    for key, took in (("quick", 1.0), ("slow", 2.0)):
        lease = c.fetch(key).lease
        assert lease is not None and c.fill(lease, "old", compute_time=took)
    monkeypatch.setattr(cache_ops, "draw", lambda: 2.0**-53)
    computed: list[str] = []

    def compute(key: str) -> Any:
        def run() -> str:
            computed.append(key)
            return "new"

        return run

    assert c.get_or_compute("quick", compute("quick")) == "old" and computed == []
    assert c.get_or_compute("slow", compute("slow")) == "new" and computed == ["slow"]


def test_cap_evicts_entries_that_expire_soonest(mem: Memory) -> None:
    c = mem.cache("small", ttl=60, buckets=1, max_entries=3)
    c.set("a", 1, ttl=10)
    c.set("b", 2, ttl=50)
    c.set("c", 3, ttl=40)
    c.set("d", 4, ttl=5)  # the newest is kept even though it expires first
    assert [c.get(k) for k in "abcd"] == [None, 2, 3, 4]
    c.set("e", 5, ttl=60)
    assert [c.get(k) for k in "bcde"] == [2, 3, None, 5]


def test_decorator(mem: Memory) -> None:
    calls: list[tuple[Any, ...]] = []

    @mem.cached(ttl=60)
    def add(a: int, b: int = 2, *, tags: Any = ()) -> int:
        calls.append((a, b))
        return a + b

    assert add(1) == 3 and add(1, 2) == 3 and add(a=1, b=2) == 3
    assert len(calls) == 1  # bound to the signature, defaults applied
    assert add(1, 3) == 4 and len(calls) == 2
    assert add(1, tags={"x", "y", "z"}) == 3 and add(1, tags={"z", "y", "x"}) == 3
    assert len(calls) == 3  # set order does not change the key
    key = add.key_for(1)  # type: ignore[attr-defined]
    assert key.startswith("tests.test_cache.test_decorator.<locals>.add:")
    assert add.cache.delete(key) is True  # type: ignore[attr-defined]
    assert add(1) == 3 and len(calls) == 4
    assert add.__name__ == "add"
    with pytest.raises(SerializationError):
        add(Unserialisable())
    with pytest.raises(InvalidValueError):
        add(1, 2, 3)

    @mem.cached(ttl=60, name="by-user", key=lambda user, q: f"{user}/{q}")
    def ask(user: str, q: str) -> str:
        return f"{user} asked {q}"

    assert ask("ann", "why") == "ann asked why"
    assert mem.cache("by-user", ttl=60).get("ann/why") == "ann asked why"


def test_sync_memory_refuses_async_functions(mem: Memory) -> None:
    async def coro() -> int:
        return 1

    with pytest.raises(ValidationError):
        mem.cached(ttl=1)(coro)
    with pytest.raises(ValidationError):
        mem.cache("c", ttl=1).get_or_compute("k", coro)
    assert mem.cache("c", ttl=1).fetch("k").kind == "lease"  # released


def test_async_cache(url: str) -> None:
    async def main() -> None:
        async with AsyncMemory(url) as m:
            c = m.cache("async", ttl=60)
            await c.set("a", [1])
            assert await c.get("a") == [1]
            calls: list[int] = []

            async def slow() -> str:
                calls.append(1)
                await asyncio.sleep(0.1)
                return "computed"

            got = await asyncio.gather(*(c.get_or_compute("k", slow) for _ in range(8)))
            assert got == ["computed"] * 8 and len(calls) == 1
            assert await c.get_or_compute("s", lambda: "sync fn") == "sync fn"

            @m.cached(ttl=60)
            async def square(x: int) -> int:
                calls.append(x)
                return x * x

            @m.cached(ttl=60)
            def cube(x: int) -> int:
                return x**3

            assert await square(3) == 9 and await square(3) == 9 and calls.count(3) == 1
            assert await cube(2) == 8
            assert await c.delete("a") is True and await c.clear() == 2  # "k" and "s"

    asyncio.run(main())


@pytest.mark.parametrize(
    "make",
    [
        lambda m: m.cache("c", ttl=0),
        lambda m: m.cache("c", ttl=-1),
        lambda m: m.cache("c", ttl="1"),
        lambda m: m.cache("c", ttl=1, lease=0),
        lambda m: m.cache("c", ttl=1, max_wait=-1),
        lambda m: m.cache("c", ttl=1, stale=float("nan")),
        lambda m: m.cache("c", ttl=1, beta=-0.5),
        # ints no float holds
        lambda m: m.cache("c", ttl=10**400),
        lambda m: m.cache("c", ttl=1, lease=10**400),
        lambda m: m.cache("c", ttl=1, max_wait=10**400),
        lambda m: m.cache("c", ttl=1, stale=10**400),
        lambda m: m.cache("c", ttl=1, beta=10**400),
        lambda m: m.cache("c", ttl=1, buckets=0),
        lambda m: m.cache("c", ttl=1, buckets=5000),
        lambda m: m.cache("c", ttl=1, max_entries=0),
        lambda m: m.cache("c", ttl=1, scope="user:alice"),
        lambda m: m.cached(ttl=0),
    ],
)
def test_bad_options(mem: Memory, make: Any) -> None:
    with pytest.raises(ValidationError):
        make(mem)


@pytest.mark.parametrize("name", ["", "a:b", "a{b}", "a b", "x" * 129, 7])
def test_bad_names(mem: Memory, name: Any) -> None:
    with pytest.raises(InvalidScopeError):
        mem.cache(name, ttl=1)


@pytest.mark.parametrize(
    ("call", "error"),
    [
        (lambda c: c.set("", 1), InvalidKeyError),
        (lambda c: c.set(5, 1), InvalidKeyError),
        (lambda c: c.get("k" * 1025), InvalidKeyError),
        (lambda c: c.set("k", Unserialisable()), SerializationError),
        (lambda c: c.set("k", 1, ttl=0), InvalidValueError),
        (lambda c: c.set("k", 1, ttl=10**400), InvalidValueError),
        (lambda c: c.set("k", 1, ttl=-5), InvalidValueError),
        (lambda c: c.set("k", b"x" * (1024 * 1024 + 1)), InvalidValueError),
        (lambda c: c.get_or_compute("k", lambda: 1, ttl=0), InvalidValueError),
        (lambda c: c.get_or_compute("k", "not callable"), ValidationError),
    ],
)
def test_bad_input_writes_nothing(mem: Memory, call: Any, error: type[Exception]) -> None:
    c = mem.cache("c", ttl=60)
    with pytest.raises(error) as info:
        call(c)
    assert isinstance(info.value, PyRedMemError)
    assert _keys(mem) == []  # a lease taken for the call was released, leaving nothing
    assert c.fetch("k").kind == "lease"  # nothing left holding the lease


@pytest.mark.parametrize("ttl", [False, 0, -1, "60"])
def test_a_bad_ttl_for_a_computed_value_fails_before_any_call(mem: Memory, ttl: Any) -> None:
    """Checked before the miss's fetch, whose lease would evict the bucket's only entry."""
    c = mem.cache("c", ttl=60, max_entries=1)
    c.set("other", 1)
    before = {k: mem.client.dump(k) for k in _keys(mem)}
    ran: list[bool] = []
    with pytest.raises(InvalidValueError):
        c.get_or_compute("new", lambda: ran.append(True), ttl=ttl)
    assert ran == [] and {k: mem.client.dump(k) for k in _keys(mem)} == before
    assert c.get("other") == 1


def _warm(mem: Memory) -> Any:
    c = mem.cache("rt", ttl=60)
    c.set("k", {"v": 1})
    c.get("k")
    c.get_or_compute("k", lambda: 0)
    c.delete("x")
    c.clear()
    lease = c.fetch("y").lease
    assert lease is not None
    c.release(lease)
    c.get_or_compute("y", lambda: 1)  # a fill
    c.set("k", {"v": 1})
    return c


@pytest.mark.standalone
def test_a_hit_sends_exactly_one_command(engine: Engine, mem: Memory) -> None:
    c = _warm(mem)
    before = script_calls(engine.raw_client()) if engine.real else 0
    with count_replies() as counter:
        assert c.get_or_compute("k", lambda: pytest.fail("a hit never computes")) == {"v": 1}
    assert counter.replies == 1
    if engine.real:
        assert script_calls(engine.raw_client()) - before == 1


@pytest.mark.standalone
@pytest.mark.parametrize("op", ["get", "set", "delete", "clear", "fetch", "fill", "release"])
def test_one_command_per_operation(mem: Memory, op: str) -> None:
    c = _warm(mem)
    lease = c.fetch("z").lease
    assert lease is not None
    calls = {
        "get": lambda: c.get("k"),
        "set": lambda: c.set("k", 2),
        "delete": lambda: c.delete("k"),
        "clear": c.clear,
        "fetch": lambda: c.fetch("k"),
        "fill": lambda: c.fill(lease, 1),
        "release": lambda: c.release(lease),
    }
    with count_replies() as counter:
        calls[op]()
    assert counter.replies == 1


@pytest.mark.standalone
def test_a_miss_is_three_commands(mem: Memory) -> None:
    c = _warm(mem)
    with count_replies() as counter:
        assert c.get_or_compute("new", lambda: 1) == 1
    # the read-only peek (which makes a hit one FCALL_RO), then fetch (lease), then fill
    assert counter.replies == 3


@pytest.mark.standalone
def test_get_or_compute_peeks_as_fetch_decides(
    mem: Memory, monkeypatch: pytest.MonkeyPatch
) -> None:
    c = _warm(mem)  # scripts loaded, connections made
    c = mem.cache("peek", ttl=60, beta=1.0)
    lease = c.fetch("k").lease
    assert lease is not None and c.fill(lease, "v1", compute_time=2.0)
    monkeypatch.setattr(cache_ops, "draw", lambda: 0.5)  # not chosen for early refresh
    with count_replies() as counter:
        assert c.get_or_compute("k", lambda: pytest.fail("a hit never computes")) == "v1"
    assert counter.replies == 1
    monkeypatch.setattr(cache_ops, "draw", lambda: 1e-14)  # chosen (see the XFetch test)
    with count_replies() as counter:
        assert c.get_or_compute("k", lambda: "v2") == "v2"  # refreshed early
    assert counter.replies == 3  # peek, fetch (the lease to refresh), fill
    c.delete("k")
    lease = c.fetch("k").lease
    assert lease is not None and c.fill(lease, "v2", compute_time=2.0)
    early = c.fetch("k")
    assert early.kind == "refresh" and early.lease is not None
    with count_replies() as counter:  # while a refresh runs, the value is served: one read
        assert c.get_or_compute("k", lambda: pytest.fail("one refresher")) == "v2"
    assert counter.replies == 1
    s = mem.cache("peek-stale", ttl=0.2, stale=30, beta=0)
    s.set("k", "old")
    time.sleep(0.3)
    refresh = s.fetch("k")
    assert refresh.kind == "refresh" and refresh.lease is not None
    with count_replies() as counter:  # stale, being refreshed: served by the peek
        assert s.get_or_compute("k", lambda: pytest.fail("served stale")) == "old"
    assert counter.replies == 1


@pytest.mark.real_server
@pytest.mark.standalone
def test_a_hit_passes_a_write_pause(engine: Engine, mem: Memory) -> None:
    c = mem.cache("paused", ttl=60)
    c.set("k", "v")
    assert c.get_or_compute("k", lambda: "computed") == "v"  # scripts loaded, connected
    pauser: redis.Redis = engine.raw_client()
    pauser.execute_command("CLIENT", "PAUSE", 1500, "WRITE")
    try:
        started = time.monotonic()
        got = c.get_or_compute("k", lambda: pytest.fail("a hit never computes"))
        elapsed = time.monotonic() - started
    finally:
        pauser.execute_command("CLIENT", "UNPAUSE")
    assert got == "v"
    assert elapsed < 1.0  # the hit did not wait for the pause to end


def test_cluster_clear_is_one_command_per_slot(engine: Engine, mem: Memory) -> None:
    c = _warm(mem)
    with count_replies() as counter:
        c.clear()
    slots = {key_slot(p) for p in c._t.prefixes}
    assert counter.replies == (len(slots) if engine.cluster else 1)
