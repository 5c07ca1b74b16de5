"""Batches: operations of several handles queued, sent together, answered in order."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
import redis.connection

from pyredmem import (
    AsyncMemory,
    Decision,
    InvalidKeyError,
    InvalidValueError,
    Memory,
    Message,
    MissingKeyError,
    Pending,
    Resolved,
    ValidationError,
    WrongTypeError,
)
from pyredmem._ops.batch import MAX_OPERATIONS
from pyredmem._sync._lane import PIPELINE_CHUNK
from tests.counting import Counter, count_replies, script_calls
from tests.engines import Engine


def test_mixed_operations_come_back_in_order(mem: Memory) -> None:
    mem.user("alice").set("plan", "pro")
    mem.session("s-1").set("seen", 2)
    limiter = mem.limiter("api", limit=2, period=60)
    with mem.batch() as b:
        alice = b.user("alice")
        queued = [
            alice.get("plan"),
            alice.set("lang", "fr", ttl=60),
            alice.incr("visits", 3),
            b.session("s-1").get("seen"),
            b.context(session="s-1", user="alice").get("plan"),
            b.context(session="s-1", user="alice").resolve("seen"),
            b.context(user="bob").exists("plan"),
            b.history("t-1", scope=mem.user("alice")).append(Message("user", "hi", id="m1")),
            alice.history("t-1").count(),
            b.on(limiter).hit("alice"),
            b.on(limiter).hit("alice"),
            b.on(limiter).hit("alice"),
            b.cache("llm", ttl=60).set("q", "a"),
            b.cache("llm", ttl=60).get("q"),
            alice.keys(),
        ]
        assert all(isinstance(p, Pending) and not p.done for p in queued)
    values = [p.result() for p in queued]
    assert values[:7] == [
        "pro",
        None,
        3,
        2,
        "pro",
        Resolved(mem.session("s-1").ref, 2),
        False,
    ]
    assert [m.id for m in values[7].messages] == ["m1"]
    assert values[8] == 1
    assert [d.allowed for d in values[9:12]] == [True, True, False]
    assert isinstance(values[9], Decision)
    assert values[12:] == [None, "a", ["lang", "plan", "visits"]]
    assert b.results() == values
    # and the writes landed
    assert mem.user("alice").get("lang") == "fr"
    assert mem.user("alice").ttl("lang") is not None


def test_an_error_in_the_middle_leaves_the_others_be(mem: Memory) -> None:
    mem.user("u").set("text", "not a number")
    with mem.batch() as b:
        before = b.user("u").set("a", 1)
        bad = b.user("u").incr("text")
        missing = b.user("u").ttl("absent")
        after = b.user("u").incr("n")
    assert before.result() is None and after.result() == 1
    with pytest.raises(WrongTypeError) as info:
        bad.result()
    assert info.value.key == "text"
    with pytest.raises(MissingKeyError):
        _ = missing.value
    assert isinstance(bad.error(), WrongTypeError)
    results = b.results()
    assert results[0] is None and results[3] == 1
    assert isinstance(results[1], WrongTypeError) and isinstance(results[2], MissingKeyError)
    assert mem.user("u").get("a") == 1


def test_bad_input_raises_when_queued_and_nothing_is_sent(mem: Memory) -> None:
    with mem.batch() as b:
        ok = b.user("u").set("k", 1)
        with pytest.raises(InvalidKeyError):
            b.user("u").set("", 1)
        with pytest.raises(InvalidValueError):
            b.user("u").set("k", 1, ttl=-1)
        assert not ok.done
        with pytest.raises(ValidationError, match="not been sent"):
            ok.result()
    assert ok.result() is None
    assert len(b.results()) == 1

    with pytest.raises(RuntimeError), mem.batch() as b:
        b.user("u").set("never", 1)
        raise RuntimeError("the block failed")
    assert mem.user("u").get("never") is None


@pytest.mark.parametrize(
    ("make", "method"),
    [
        (lambda b: b.user("u"), "update"),
        (lambda b: b.history("t"), "messages"),
        (lambda b: b.history("t"), "compact"),
        (lambda b: b.history("t"), "fork"),
        (lambda b: b.cache("c", ttl=1), "get_or_compute"),
        (lambda b: b.cache("c", ttl=1), "clear"),
        (lambda b: b.semaphore("s", limit=1, lease=1), "acquire"),
        (lambda b: b.semaphore("s", limit=1, lease=1), "hold"),
        (lambda b: b.user("u"), "facts"),  # a handle whose operations would run at once
    ],
)
def test_operations_of_several_calls_are_refused_by_name(
    mem: Memory, make: Any, method: str
) -> None:
    with mem.batch() as b:
        with pytest.raises(ValidationError, match=rf"\.{method} cannot be batched"):
            getattr(make(b), method)


def test_handles_the_batch_cannot_honour_are_refused() -> None:
    with Memory() as mem, Memory() as other, mem.batch() as b:
        with pytest.raises(ValidationError, match="another memory"):
            b.on(other.user("u"))
        with pytest.raises(ValidationError, match="on_error"):
            b.limiter("l", limit=1, period=1, on_error="allow")
        with pytest.raises(ValidationError, match="not int"):
            b.on(3)
    with pytest.raises(ValidationError, match="ended"):
        b.user("u").get("k")


def test_a_batch_holds_at_most_so_many_operations() -> None:
    with Memory() as mem, mem.batch() as b:
        scope = b.user("u")
        for i in range(MAX_OPERATIONS):
            scope.set(f"k{i % 10}", i)
        with pytest.raises(InvalidValueError, match="at most"):
            scope.get("k0")
        b.send()  # sent: room again
        last = scope.get("k9")
    assert last.result() == MAX_OPERATIONS - 1
    assert len(b.results()) == MAX_OPERATIONS + 1


def test_send_answers_before_the_block_ends(mem: Memory) -> None:
    with mem.batch() as b:
        first = b.user("u").incr("n")
        b.send()
        assert first.result() == 1
        second = b.user("u").incr("n")
        assert not second.done
    assert second.result() == 2
    assert b.results() == [1, 2]


def test_operations_answered_without_a_call(mem: Memory) -> None:
    with mem.batch() as b:
        empty = b.history("t").extend([])
        assert empty.done
    assert empty.result().messages == ()


@contextmanager
def _count_sends(counter: Counter) -> Iterator[list[int]]:
    """Each write's count of replies read before it (all 0: one round trip)."""
    sends: list[int] = []
    original = redis.connection.AbstractConnection.send_packed_command

    def counted(self: Any, *args: Any, **kwargs: Any) -> Any:
        sends.append(counter.replies)
        return original(self, *args, **kwargs)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(redis.connection.AbstractConnection, "send_packed_command", counted)
        yield sends


@pytest.mark.real_server
@pytest.mark.standalone
def test_one_round_trip_on_a_single_server(engine: Engine, mem: Memory) -> None:
    # the library is loaded (or, where functions are refused, each script is cached)
    mem.user("u").set("warm", 1)
    mem.limiter("api", limit=10, period=60).hit("warm")
    mem.history("t", scope=mem.user("u")).count()
    before = script_calls(engine.raw_client())
    with count_replies() as counter, _count_sends(counter) as sends, mem.batch() as b:
        for i in range(50):
            b.user(f"u{i}").set("k", i)
            b.limiter("api", limit=10, period=60).hit(f"u{i}")
            b.history("t", scope=mem.user(f"u{i}")).count()
    # every call written before any reply is read, in chunks of PIPELINE_CHUNK
    assert sends == [0] * -(-150 // PIPELINE_CHUNK)
    assert counter.replies == 150
    # count() is a plain LLEN: 50 sets and 50 hits are function (or script) calls
    assert script_calls(engine.raw_client()) - before == 100
    assert mem.user("u49").get("k") == 49


def test_the_library_is_loaded_once_for_a_batch(engine: Engine, mem: Memory) -> None:
    mem.user("u").set("warm", 1)
    if engine.real and engine.name != "cluster":
        engine.raw_client().function_flush()
    with mem.batch() as b:
        sets = [b.user(f"u{i}").set("k", i) for i in range(20)]
        gets = [b.user(f"u{i}").get("k") for i in range(20)]
    assert [p.result() for p in sets] == [None] * 20
    assert [p.result() for p in gets] == list(range(20))


def test_async_twin(url: str) -> None:
    async def main() -> None:
        async with AsyncMemory(url) as amem:
            await amem.user("alice").set("plan", "pro")
            async with amem.batch() as b:
                plan = b.user("alice").get("plan")
                n = b.user("alice").incr("n", 2)
                bad = b.user("alice").incr("plan")
                hit = b.limiter("api", limit=1, period=60).hit("alice")
                found = b.context(session="s", user="alice").get("plan")
            assert plan.result() == "pro" and n.result() == 2 and found.result() == "pro"
            assert hit.result().allowed
            assert isinstance(bad.error(), WrongTypeError)
            async with amem.batch() as b:
                with pytest.raises(ValidationError, match="update cannot be batched"):
                    _ = b.user("alice").update
                first = b.user("alice").incr("n")
                await b.send()
                assert first.result() == 3

    asyncio.run(main())


def test_nil_replies_are_results_not_retries(engine: Engine, mem: Memory) -> None:
    """Reads of absent keys answer nil: each is a result, never a call to send again."""
    for _ in range(2):  # the first batch loads what each server lacks; count the second
        with count_replies() as counter, mem.batch() as b:
            gets = [b.user(f"u{i}").get("absent") for i in range(20)]
            found = b.context(user="u0", session="s").get("absent")
    assert [p.result() for p in gets] == [None] * 20 and found.result() is None
    lookups = len(mem.context(user="u0", session="s")._groups) if engine.cluster else 1
    assert counter.replies == 20 + lookups


def test_a_near_caches_get_reads_the_shared_cache(url: str) -> None:
    """A near cache's `get` is queued like any cache's: one call to the shared cache (its
    copy serves direct calls only), before and after its watcher has started."""
    with Memory(url, events=True) as mem:
        cache = mem.cache("nc", ttl=60, near=True)
        cache.set("k", 1)
        with mem.batch() as b:
            first = b.on(cache).get("k")  # the watcher has not started yet
        assert first.result() == 1
        assert cache.get("k") == 1 and cache.get("k") == 1  # now a copy answers
        with mem.batch() as b:
            nc = b.on(cache)
            again, missing = nc.get("k"), nc.get("nope", "default")
            nc.set("k", 2)
        assert (again.result(), missing.result()) == (1, "default")
        assert cache.get("k") == 2  # the batched set dropped this process's copy
