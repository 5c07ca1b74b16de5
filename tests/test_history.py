"""Conversation history: the behaviour users rely on, on every engine."""

from __future__ import annotations

import asyncio
import random
import threading
import time
from typing import Any

import pytest

from pyredmem import (
    AsyncMemory,
    CapacityError,
    ConflictError,
    InvalidScopeError,
    InvalidValueError,
    Memory,
    Message,
    MissingKeyError,
    ScopeRef,
    SerializationError,
)


def contents(msgs: list[Message]) -> list[Any]:
    return [m.content for m in msgs]


def test_append_and_read_back_every_field(mem: Memory) -> None:
    h = mem.user("alice").history("support")
    parts = [{"type": "text", "text": "what is this?"}, {"type": "image_url", "image_url": "x"}]
    sent = [
        Message.system("be brief"),
        Message.user(parts, name="alice", metadata={"lang": "en", "n": [1, 2]}),
        Message.assistant(None, tool_calls=[{"id": "c1", "type": "function"}]),
        Message.tool("42", tool_call_id="c1"),
        Message("function", "ok", name="f", tokens=7),
    ]
    result = h.extend(sent)
    assert [m.id for m in result.messages] == [m.id for m in sent]
    assert result.skipped == () and result.evicted_count == 0
    got = h.messages()
    assert [m.id for m in got] == [m.id for m in sent]
    for a, b in zip(sent, got, strict=True):
        assert (a.role, a.content, a.name, a.metadata, a.tool_call_id, a.tool_calls) == (
            b.role,
            b.content,
            b.name,
            b.metadata,
            b.tool_call_id,
            b.tool_calls,
        )
        assert b.created_at is not None and abs(b.created_at - time.time()) < 60
    assert got[4].tokens == 7
    assert [m.tokens for m in got] == [m.tokens for m in result.messages]
    assert got[3].to_dict() == {"role": "tool", "content": "42", "tool_call_id": "c1"}
    assert len(h) == 5 and h.count() == 5


def test_same_ids_never_duplicate(mem: Memory) -> None:
    h = mem.session("s").history("t")
    m = Message.user("hi")
    assert len(h.append(m).messages) == 1
    again = h.append(Message.user("changed", id=m.id))
    assert again.messages == () and again.skipped == (m.id,)
    twice = Message.user("twice")
    r = h.extend([twice, Message.user("other"), twice])
    assert [x.content for x in r.messages] == ["twice", "other"] and r.skipped == (twice.id,)
    assert contents(h.messages()) == ["hi", "twice", "other"]


def test_max_turns_drops_the_oldest_and_can_return_them(mem: Memory) -> None:
    h = mem.history("t", max_turns=3)
    h.extend([Message.user(str(i)) for i in range(2)])
    r = h.extend([Message.user(str(i)) for i in range(2, 6)], return_evicted=True)
    assert r.evicted_count == 3 and contents(list(r.evicted)) == ["0", "1", "2"]
    assert all(m.created_at and m.tokens for m in r.evicted)
    assert contents(h.messages()) == ["3", "4", "5"]
    quiet = h.append(Message.user("6"))
    assert quiet.evicted_count == 1 and quiet.evicted == ()
    assert contents(h.messages()) == ["4", "5", "6"]


def test_max_tokens_drops_the_oldest_turns(mem: Memory) -> None:
    h = mem.history("t", max_tokens=10)
    h.extend([Message.user(str(i), tokens=3) for i in range(3)])  # 9 tokens
    r = h.append(Message.user("big", tokens=8), return_evicted=True)
    assert contents(list(r.evicted)) == ["0", "1", "2"]
    assert contents(h.messages()) == ["big"]
    h.append(Message.user("x", tokens=2))
    assert contents(h.messages()) == ["big", "x"]
    # a reader with a smaller cap sees the newest turns only
    assert contents(h.messages(max_tokens=5)) == ["x"]


def test_evictions_match_a_reference_model(mem: Memory) -> None:
    """Random batches under random caps: the oldest turns beyond max_turns go, then more
    while over max_tokens, never the newest, and exactly those come back as evicted."""
    rng = random.Random(7)
    for round_ in range(3):
        max_turns, max_tokens = rng.choice([3, 8, 50]), rng.choice([None, 20, 60, 200])
        h = mem.history(f"t{round_}", max_turns=max_turns, max_tokens=max_tokens)
        model: list[tuple[str, int]] = []
        for step in range(25):
            cap = max_tokens or 10**9
            batch = [
                (f"{step}.{i}", rng.randint(0, min(cap, 30))) for i in range(rng.randint(1, 4))
            ]
            r = h.extend(
                [Message.user(c, tokens=n) for c, n in batch], return_evicted=bool(step % 2)
            )
            model += batch
            gone: list[tuple[str, int]] = []
            while len(model) > max_turns or (len(model) > 1 and sum(n for _, n in model) > cap):
                gone.append(model.pop(0))
            assert r.evicted_count == len(gone)
            if step % 2:
                assert [(m.content, m.tokens) for m in r.evicted] == gone
            got = h.messages()
            assert [(m.content, m.tokens) for m in got] == model


def _reference(tokens: list[int], last: int | None, budget: int | None) -> int:
    """How many of the newest turns the longest suffix within both limits holds."""
    n, used = 0, 0
    for t in reversed(tokens):
        if (last is not None and n == last) or (budget is not None and used + t > budget):
            break
        n, used = n + 1, used + t
    return n


def test_messages_within_a_budget_match_a_brute_force_reference(mem: Memory) -> None:
    rng = random.Random(7)
    scope = mem.user("u")
    for case in range(12):
        h = scope.history(f"t{case}")
        tokens = [rng.choice([0, 1, 2, 5, 9, 40]) for _ in range(rng.randint(0, 150))]
        h.extend([Message.user(str(i), tokens=t) for i, t in enumerate(tokens)])
        for _ in range(8):
            last = rng.choice([None, 1, 3, 20, 31, 32, 33, 100, 500])
            budget = rng.choice([None, 1, 4, 10, 50, 200, 1000, 10_000])
            got = h.messages(last=last, max_tokens=budget)
            n = _reference(tokens, last, budget)
            expected = [str(i) for i in range(len(tokens) - n, len(tokens))]
            assert contents(got) == expected, (tokens, last, budget)
            assert sum(m.tokens or 0 for m in got) <= (budget or 10**9)


def test_ttl_is_refreshed_by_writes_and_by_reads_unless_sliding_is_off(mem: Memory) -> None:
    h = mem.user("u").history("t", ttl=100)
    with pytest.raises(MissingKeyError):
        h.ttl()
    h.append(Message.user("a"))
    ttl = h.ttl()
    assert ttl is not None and 99 < ttl <= 100
    keys = [k.decode() for k in mem.client.keys("*")] if not _cluster(mem) else []
    for key in keys:
        assert mem.client.pttl(key) > 0, key
    fixed = mem.user("u").history("t", ttl=1000, sliding=False)
    fixed.messages()
    assert h.ttl() <= 100  # type: ignore[operator]
    mem.user("u").history("t", ttl=1000).messages()
    assert h.ttl() > 900  # type: ignore[operator]
    forever = mem.user("u").history("t")
    forever.append(Message.user("b"))
    assert forever.ttl() is None


def _cluster(mem: Memory) -> bool:
    return type(mem.client).__name__ == "RedisCluster"


def _run_down(mem: Memory, left_ms: int) -> None:
    """As if time had passed: thread "t" of user "u" now expires in `left_ms`."""
    p = "pm:{:user:u}"
    for key in (f"{p}:t:t:l", f"{p}:t:t:i"):
        mem.client.pexpire(key, left_ms)
    mem.client.zadd(f"{p}:tx", {"t": int(time.time() * 1000) + left_ms})


def _left(mem: Memory) -> tuple[int, int, float]:
    """Thread "t"'s remaining ms on its list and its id hash, and as the index lists it."""
    p = "pm:{:user:u}"
    (info,) = mem.user("u").threads()
    assert info.expires_at is not None
    listed = info.expires_at - time.time()
    return mem.client.pttl(f"{p}:t:t:l"), mem.client.pttl(f"{p}:t:t:i"), listed


def test_sliding_expiry_is_rearmed_once_it_has_run_down_by_one_percent(mem: Memory) -> None:
    h = mem.user("u").history("t", ttl=100)
    h.append(Message.user("a"))
    # within 1% of the ttl: appends and reads leave the expiry alone
    _run_down(mem, 99_500)
    h.messages()
    h.append(Message.user("b"))
    left, left_ids, listed = _left(mem)
    assert 99_000 < left <= 99_500 and 99_000 < left_ids <= 99_500 and 98.9 < listed <= 99.5
    # beyond it, both re-arm the full ttl, on every key and in the index
    for op in (h.messages, lambda: h.append(Message.user("c"))):
        _run_down(mem, 98_000)
        op()
        left, left_ids, listed = _left(mem)
        assert 99_500 < left <= 100_000 and 99_500 < left_ids <= 100_000, op
        assert 99.4 < listed <= 100.1
    # a handle with a shorter ttl brings the expiry down to its own
    mem.user("u").history("t", ttl=50).messages()
    assert 49_000 < _left(mem)[0] <= 50_000
    mem.user("u").history("t", ttl=100, sliding=False).messages()
    assert _left(mem)[0] <= 50_000


def test_a_read_whose_budget_no_turn_fits_slides_the_expiry(mem: Memory) -> None:
    """The thread is there, so the read slides it, whether the server applies the budget
    (`max_tokens` alone) or the client does (with `last`)."""
    h = mem.user("u").history("t", ttl=100)
    h.append(Message.user("a long turn", tokens=50))
    for read in (lambda: h.messages(max_tokens=1), lambda: h.messages(last=5, max_tokens=1)):
        _run_down(mem, 98_000)
        assert read() == []
        left, left_ids, listed = _left(mem)
        assert 99_500 < left <= 100_000 and 99_500 < left_ids <= 100_000 and listed > 99.4


@pytest.mark.parametrize(
    "shorten",
    [
        lambda s: s.history("t", ttl=50).append(Message.user("b")),
        lambda s: s.history("t", ttl=50).messages(),  # the read's history_touch
        lambda s: s.history("t", ttl=50).compact(lambda ms: "s", keep_last=0),
    ],
    ids=["append", "read", "compact"],
)
def test_the_thread_index_expires_with_its_last_expiring_thread(mem: Memory, shorten: Any) -> None:
    """The index keys outlive the scope's threads, and no more: when the only thread's
    expiry moves earlier (it had none, then a ttl), the index's comes down with it."""
    scope = mem.user("u")
    scope.history("t").append(Message.user("a"))  # no ttl: nor has the index
    p = "pm:{:user:u}"
    assert [mem.client.pttl(f"{p}:{k}") for k in ("ta", "tx")] == [-1, -1]
    shorten(scope)
    for key in (f"{p}:t:t:l", f"{p}:ta", f"{p}:tx"):
        assert 49_000 < mem.client.pttl(key) <= 50_000, key


def test_a_cleared_thread_written_again_expires(mem: Memory) -> None:
    h = mem.user("u").history("t", ttl=100)
    h.append(Message.user("a"))
    h.clear()  # the thread stays listed, with the same expiry
    h.append(Message.user("b"))  # its keys are new: they get the expiry at once
    left, left_ids, _ = _left(mem)
    assert 99_000 < left <= 100_000 and 99_000 < left_ids <= 100_000


def test_every_key_of_a_thread_expires(mem: Memory) -> None:
    scope = mem.user("u")
    h = scope.history("t", ttl=50)
    h.extend([Message.user("a"), Message.user("b")])
    p = "pm:{:user:u}"
    for key in (f"{p}:t:t:l", f"{p}:t:t:i", f"{p}:ta", f"{p}:tx"):
        assert 0 < mem.client.pttl(key) <= 50_000, key


def test_expired_threads_vanish(mem: Memory) -> None:
    scope = mem.user("u")
    short = scope.history("short", ttl=0.2)
    short.append(Message.user("a"))
    scope.history("long", ttl=60).append(Message.user("b"))
    assert scope.thread_count() == 2
    time.sleep(0.35)
    assert short.messages() == [] and len(short) == 0
    assert [t.id for t in scope.threads()] == ["long"]
    assert scope.thread_count() == 1
    short.append(Message.user("again"))  # an expired thread starts afresh
    assert contents(short.messages()) == ["again"]


def test_threads_are_listed_most_recent_first_and_paginated(mem: Memory) -> None:
    scope = mem.user("u")
    for i in range(5):
        scope.history(f"t{i}", ttl=60 if i % 2 else None).append(Message.user(str(i)))
        time.sleep(0.003)
    scope.history("t1").append(Message.user("later"))
    ids = [t.id for t in scope.threads()]
    assert ids == ["t1", "t4", "t3", "t2", "t0"]
    assert [t.id for t in scope.threads(limit=2, offset=1)] == ["t4", "t3"]
    info = {t.id: t for t in scope.threads()}
    assert info["t0"].expires_at is None and info["t3"].expires_at is not None
    assert info["t1"].last_activity >= info["t4"].last_activity
    assert scope.thread_count() == 5
    assert mem.user("other").threads() == [] and mem.user("other").thread_count() == 0


def test_clear_keeps_the_thread_listed_and_delete_removes_it(mem: Memory) -> None:
    scope = mem.session("s")
    h = scope.history("t")
    h.extend([Message.user("a"), Message.user("b")])
    assert h.clear() == 2 and h.messages() == [] and len(h) == 0
    assert [t.id for t in scope.threads()] == ["t"]
    h.append(Message.user("c"))
    assert contents(h.messages()) == ["c"]
    assert h.delete() is True and h.delete() is False
    assert scope.threads() == [] and scope.thread_count() == 0


def test_fork(mem: Memory) -> None:
    scope = mem.user("u")
    h = scope.history("main", ttl=60)
    h.extend([Message.user(str(i)) for i in range(4)])
    whole = h.fork("whole")
    part = h.fork("part", upto=2)
    assert contents(whole.messages()) == ["0", "1", "2", "3"]
    assert contents(part.messages()) == ["0", "1"]
    assert [m.id for m in part.messages()] == [m.id for m in h.messages()[:2]]
    part.append(Message.user("branch"))
    assert contents(h.messages()) == ["0", "1", "2", "3"]
    assert part.ttl() is not None
    assert {t.id for t in scope.threads()} == {"main", "whole", "part"}
    with pytest.raises(ConflictError):
        h.fork("part")
    with pytest.raises(InvalidValueError):
        h.fork("main")
    assert scope.history("empty").fork("nothing").messages() == []


def test_compact_replaces_the_oldest_turns(mem: Memory) -> None:
    h = mem.user("u").history("t")
    assert h.compact(lambda ms: "never called", keep_last=2) is None
    h.extend([Message.user(str(i)) for i in range(6)])
    seen: list[list[Any]] = []

    def summarize(ms: list[Message]) -> str:
        seen.append(contents(ms))
        return "summary"

    summary = h.compact(summarize, keep_last=2)
    assert seen == [["0", "1", "2", "3"]]
    assert summary is not None and summary.metadata == {"summary": True}
    got = h.messages()
    assert contents(got) == ["summary", "4", "5"] and got[0].role == "system"
    assert got[0].tokens == summary.tokens
    assert h.compact(summarize, keep_last=3) is None  # nothing older than the last 3
    custom = h.compact(lambda ms: Message.assistant("mine", tokens=1), keep_last=0)
    assert custom is not None and contents(h.messages()) == ["mine"]


def test_compact_under_concurrent_appends_loses_no_turn(url: str) -> None:
    with Memory(url) as mem:
        h = mem.user("u").history("t")
        h.extend([Message.user(f"old{i}") for i in range(10)])
        started, writer_done = threading.Event(), threading.Event()

        def writer() -> None:
            with Memory(url) as other:
                w = other.user("u").history("t")
                started.wait(5)
                for i in range(20):
                    w.append(Message.user(f"new{i}"))
                writer_done.set()

        def slow_summary(ms: list[Message]) -> str:
            started.set()
            assert writer_done.wait(10)  # every append lands while we "think"
            return "summary of " + ",".join(contents(ms))

        thread = threading.Thread(target=writer)
        thread.start()
        summary = h.compact(slow_summary, keep_last=3)
        thread.join()
        assert summary is not None
        assert summary.content == "summary of " + ",".join(f"old{i}" for i in range(7))
        expected = ["old7", "old8", "old9", *(f"new{i}" for i in range(20))]
        assert contents(h.messages()) == [summary.content, *expected]


def test_compact_never_leaves_the_thread_over_its_token_cap(mem: Memory) -> None:
    """A summary the next append would drop at once (the thread over max_tokens with it)
    is refused, nothing written, as one over the byte cap is."""
    h = mem.user("alice").history("support", max_tokens=100)
    h.extend([Message.user(c, id=c, tokens=n) for c, n in (("a", 40), ("b", 40), ("c", 20))])
    with pytest.raises(InvalidValueError) as info:  # 50 + 40 + 20 > 100
        h.compact(lambda ms: Message.system("summary", id="s", tokens=50), keep_last=2)
    assert (info.value.key, info.value.scope) == ("support", "user:alice")
    assert [m.id for m in h.messages()] == ["a", "b", "c"]
    summary = h.compact(lambda ms: Message.system("summary", id="s", tokens=40), keep_last=2)
    assert summary is not None
    assert [(m.id, m.tokens) for m in h.messages()] == [("s", 40), ("b", 40), ("c", 20)]


def test_a_bad_retries_names_the_thread(mem: Memory) -> None:
    h = mem.user("alice").history("support")
    h.append(Message.user("hi"))
    with pytest.raises(InvalidValueError) as info:
        h.compact(lambda ms: "s", keep_last=0, retries=-1)
    assert (info.value.key, info.value.scope) == ("support", "user:alice")


def test_compact_when_turns_were_evicted_meanwhile(mem: Memory) -> None:
    h = mem.user("u").history("t", max_turns=6)
    h.extend([Message.user(str(i)) for i in range(6)])

    def evicting(ms: list[Message]) -> str:
        h.extend([Message.user("x"), Message.user("y")])  # drops "0" and "1"
        return "s"

    assert h.compact(evicting, keep_last=2) is not None
    assert contents(h.messages()) == ["s", "4", "5", "x", "y"]


def test_compact_gives_up_when_the_thread_keeps_changing(mem: Memory) -> None:
    h = mem.user("u").history("t")
    h.extend([Message.user("a"), Message.user("b")])
    calls = []

    def rewriting(ms: list[Message]) -> str:
        calls.append(1)
        h.clear()
        h.extend([Message.user("a2"), Message.user("b2")])
        return "s"

    with pytest.raises(ConflictError):
        h.compact(rewriting, keep_last=1, retries=2)
    assert len(calls) == 3
    assert contents(h.messages()) == ["a2", "b2"]


def test_history_of_any_scope(mem: Memory) -> None:
    mem.history("t").append(Message.user("global"))
    assert contents(mem.global_scope.history("t").messages()) == ["global"]
    mem.history("t", scope=mem.user("a")).append(Message.user("a"))
    mem.history("t", scope=ScopeRef.of("user", "b")).append(Message.user("b"))
    assert contents(mem.user("a").history("t").messages()) == ["a"]
    assert contents(mem.user("b").history("t").messages()) == ["b"]
    assert contents(mem.session("a").history("t").messages()) == []
    with pytest.raises(InvalidScopeError):
        mem.history("t", scope="user:a")  # type: ignore[arg-type]


def test_tenants_do_not_share_threads(url: str) -> None:
    with Memory(url, tenant="a") as a, Memory(url, tenant="b") as b:
        a.user("u").history("t").append(Message.user("a's"))
        assert b.user("u").history("t").messages() == []
        assert b.user("u").thread_count() == 0


def _writes_nothing(mem: Memory) -> None:
    assert mem.user("u").history("t").messages() == []
    assert mem.user("u").thread_count() == 0


@pytest.mark.parametrize(
    "call",
    [
        lambda m: m.user("u").history("t").append(Message("robot", "x")),
        lambda m: m.user("u").history("t", max_turns=0),
        lambda m: m.user("u").history("t", max_turns=-1),
        lambda m: m.user("u").history("t", max_turns=True),
        lambda m: m.user("u").history("t", max_turns=100_001),
        lambda m: m.user("u").history("t", max_tokens=0),
        lambda m: m.user("u").history("t", ttl=0),
        lambda m: m.user("u").history("t", ttl=-5),
        lambda m: m.user("u").history("t", max_tokens=5).append(Message.user("x", tokens=6)),
        lambda m: m.user("u").history("t").append(Message.user("x" * (2 * 1024 * 1024))),
        lambda m: m.user("u").history("t").append(Message.user("x", metadata={"o": object()})),
        lambda m: m.user("u").history("t").extend([Message.user("x")] * 1001),
        lambda m: m.user("u").history("t").extend([Message.user("ok"), "not a message"]),
        lambda m: m.user("u").history("t").append(Message.user("x", tokens=-1)),
        lambda m: m.user("u").history("t", counter=lambda msg: -3).append(Message.user("x")),
        lambda m: m.user("u").history("t").messages(last=0),
        lambda m: m.user("u").history("t").messages(max_tokens=-1),
        lambda m: m.user("u").history("t").append(Message.user("x"), read_last=0),
        lambda m: m.user("u").history("t").extend([Message.user("x")], read_max_tokens=2**53),
        lambda m: m.user("u").history("a{b}"),
        lambda m: m.user("u").history(""),
        lambda m: m.user("u").history(7),
        lambda m: m.user("u").history("t").append(Message.user(7)),  # type: ignore[arg-type]
        lambda m: m.user("u").history("t").append(Message.user("x", id="")),
        lambda m: m.user("u").history("t").compact(lambda ms: "s", keep_last=-1),
        lambda m: m.user("u").threads(limit=0),
        lambda m: m.user("u").threads(limit=1001),
        lambda m: m.user("u").threads(offset=-1),
    ],
)
def test_bad_input_writes_nothing(mem: Memory, call: Any) -> None:
    with pytest.raises((InvalidValueError, InvalidScopeError, SerializationError)) as info:
        call(mem)
    assert str(info.value)
    _writes_nothing(mem)


def test_sync_history_refuses_an_async_summarizer(mem: Memory) -> None:
    h = mem.user("u").history("t")
    h.extend([Message.user("a"), Message.user("b")])

    async def summarize(ms: list[Message]) -> str:
        return "s"

    with pytest.raises(InvalidValueError, match="awaitable"):
        h.compact(summarize, keep_last=1)  # type: ignore[arg-type]
    assert contents(h.messages()) == ["a", "b"]


def test_thread_cap_per_scope(url: str) -> None:
    with Memory(url, max_keys_per_scope=2) as mem:
        scope = mem.user("u")
        scope.history("a").append(Message.user("a"))
        scope.history("b", ttl=1.5).append(Message.user("b"))  # long enough for a slow engine
        with pytest.raises(CapacityError):
            scope.history("c").append(Message.user("c"))
        assert scope.history("c").messages() == []
        time.sleep(1.6)
        scope.history("c").append(Message.user("c"))  # the expired thread made room
        assert {t.id for t in scope.threads()} == {"a", "c"}


def test_async_history(url: str) -> None:
    async def main() -> list[Any]:
        async with AsyncMemory(url) as mem:
            h = mem.user("u").history("t", max_turns=3)
            await h.extend([Message.user(str(i)) for i in range(4)])
            got = contents(await h.messages(last=2))

            async def summarize(ms: list[Message]) -> str:
                await asyncio.sleep(0)
                return "s:" + "".join(contents(ms))

            summary = await h.compact(summarize, keep_last=1)
            with pytest.raises(TypeError, match="count"):
                len(h)
            branch = await h.fork("b")
            return [
                got,
                summary and summary.content,
                contents(await branch.messages()),
                await h.count(),
                [t.id for t in await mem.user("u").threads()],
                await mem.user("u").thread_count(),
            ]

    got, summary, branch, n, threads, count = asyncio.run(main())
    assert got == ["2", "3"] and summary == "s:12" and branch == ["s:12", "3"]
    assert n == 2 and set(threads) == {"t", "b"} and count == 2


def test_token_total_stays_exact_across_handles_compaction_and_forks(mem: Memory) -> None:
    scope = mem.user("u")
    free = scope.history("t", max_turns=4)  # no token cap: the total is still kept
    free.extend([Message.user(str(i), tokens=5) for i in range(6)])  # keeps 2..5: 20 tokens
    free.compact(lambda ms: Message.system("s", tokens=1), keep_last=2)  # s,4,5: 11 tokens
    capped = scope.history("t", max_tokens=12)
    r = capped.append(Message.user("x", tokens=2), return_evicted=True)  # 13 > 12: drop "s"
    assert contents(list(r.evicted)) == ["s"]
    assert contents(capped.messages()) == ["4", "5", "x"]
    fork = capped.fork("f")
    r = fork.append(Message.user("y", tokens=3), return_evicted=True)  # 15 > 12: drop "4"
    assert contents(list(r.evicted)) == ["4"]
    assert contents(fork.messages()) == ["5", "x", "y"]
