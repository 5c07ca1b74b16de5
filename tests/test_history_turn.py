"""A chat turn in one call: an append that also reads the context for the model
(`append(..., read_last=, read_max_tokens=)`), on every engine."""

from __future__ import annotations

import asyncio
import json
import random
import time
from typing import Any

import pytest

from pyredmem import AsyncMemory, InvalidValueError, Memory, Message


class _JsonCodec:  # bodies that do not delimit themselves: the entries come one by one
    def encode(self, value: Any) -> bytes:
        return json.dumps(value).encode()

    def decode(self, data: bytes) -> Any:
        return json.loads(data)


def test_the_context_is_what_a_read_right_after_returns(mem: Memory) -> None:
    rng = random.Random(11)
    scope = mem.user("u")
    for case in range(10):
        h = scope.history(f"t{case}", max_turns=rng.choice([5, 40, 200]), max_tokens=300)
        h.extend([Message.user(str(i), tokens=rng.choice([0, 1, 5, 9])) for i in range(60)])
        for step in range(8):
            last = rng.choice([None, 1, 3, 20, 32, 33, 100])
            budget = rng.choice([None, 1, 4, 10, 50, 200]) if last else rng.choice([4, 50])
            new = [
                Message.user(f"{step}:{j}", tokens=rng.choice([0, 2, 5, 40]))
                for j in range(rng.choice([1, 1, 3]))
            ]
            evicted = rng.random() < 0.5
            if len(new) == 1 and rng.random() < 0.5:
                got = h.append(
                    new[0], return_evicted=evicted, read_last=last, read_max_tokens=budget
                )
            else:
                got = h.extend(new, return_evicted=evicted, read_last=last, read_max_tokens=budget)
            after = h.messages(last=last, max_tokens=budget)
            assert got.context == tuple(after), (case, step, last, budget)
            assert len(got.evicted) == (got.evicted_count if evicted else 0)
            if budget is None or new[-1].tokens <= budget:  # type: ignore[operator]
                assert got.context[-1].id == new[-1].id  # the new turns are read
            assert len(got.context) <= (last or 10**9)
            assert sum(m.tokens or 0 for m in got.context) <= (budget or 10**9)


def test_the_context_holds_the_new_turns(mem: Memory) -> None:
    h = mem.user("u").history("t")
    h.extend([Message.system("be brief"), Message.user("hi"), Message.assistant("hello")])
    got = h.append(Message.user("where is my order?"), read_last=3)
    assert [m.content for m in got.context] == ["hi", "hello", "where is my order?"]
    assert got.context[-1] == got.messages[0]  # created_at and tokens as stored
    pair = [Message.assistant("on its way"), Message.user("thanks")]
    got = h.extend(pair, read_last=20, read_max_tokens=2000)
    assert [m.content for m in got.context][-2:] == ["on its way", "thanks"]
    assert len(got.context) == 6 and got.messages == got.context[-2:]


def test_a_plain_append_reads_nothing(mem: Memory) -> None:
    h = mem.user("u").history("t")
    assert h.append(Message.user("a")).context == ()
    assert h.extend([Message.user("b")], return_evicted=True).context == ()


def test_an_idempotent_reappend_still_reads(mem: Memory) -> None:
    h = mem.user("u").history("t", max_turns=10)
    m = Message.user("hi", id="m-1")
    first = h.append(m, read_last=5)
    h.append(Message.assistant("hello"))
    again = h.append(m, read_last=5, read_max_tokens=100)
    assert again.skipped == ("m-1",) and again.messages == ()
    assert [x.content for x in again.context] == ["hi", "hello"]
    assert again.context == tuple(h.messages(last=5, max_tokens=100))
    assert again.context[0] == first.context[0] and h.count() == 2


def test_a_budget_below_the_newest_turn_reads_nothing(url: str) -> None:
    for codec in (None, _JsonCodec()):
        with Memory(url, codec=codec) as mem:
            h = mem.user("u").history("t")
            h.append(Message.user("a", tokens=1))
            got = h.append(Message.user("b", tokens=9), read_max_tokens=5)
            assert got.context == () and h.messages(max_tokens=5) == []
            assert [m.content for m in got.messages] == ["b"]
            h.clear()


def test_any_codec(url: str) -> None:
    with Memory(url, codec=_JsonCodec()) as mem:
        h = mem.user("u").history("t", max_turns=3)
        h.extend([Message.user(str(i), metadata={"i": i}) for i in range(3)])
        got = h.append(Message.assistant("ok", name="bot"), read_last=2, return_evicted=True)
        assert [m.content for m in got.evicted] == ["0"]
        assert got.context == tuple(h.messages(last=2))
        assert [(m.content, m.metadata, m.name) for m in got.context] == [
            ("2", {"i": 2}, None),
            ("ok", {}, "bot"),
        ]


def test_an_empty_extend_still_reads(mem: Memory) -> None:
    h = mem.user("u").history("t")
    assert h.extend([], read_last=5).context == ()
    assert mem.user("u").thread_count() == 0  # nothing written
    h.extend([Message.user("a"), Message.user("b")])
    got = h.extend([], read_last=1)
    assert got.messages == () and [m.content for m in got.context] == ["b"]


def test_the_append_rearms_the_sliding_expiry(mem: Memory) -> None:
    h = mem.user("u").history("t", ttl=60)
    h.append(Message.user("a"))
    p = "pm:{:user:u}"
    for key in (f"{p}:t:t:l", f"{p}:t:t:i"):  # as if half the ttl had passed: due
        mem.client.pexpire(key, 30_000)
    mem.client.zadd(f"{p}:tx", {"t": int(time.time() * 1000) + 30_000})
    got = h.append(Message.user("b"), read_last=20)
    assert mem.client.pttl(f"{p}:t:t:l") > 59_000 and mem.client.pttl(f"{p}:t:t:i") > 59_000
    (info,) = mem.user("u").threads()
    assert info.expires_at is not None and info.expires_at - time.time() > 59
    assert [m.content for m in got.context] == ["a", "b"]


@pytest.mark.parametrize(
    "kw",
    [
        {"read_last": 0},
        {"read_last": -1},
        {"read_last": 100_001},
        {"read_last": True},
        {"read_last": 1.5},
        {"read_max_tokens": 0},
        {"read_max_tokens": 2**53},
        {"read_max_tokens": False},
        {"read_last": 20, "read_max_tokens": "2000"},
    ],
)
@pytest.mark.parametrize("many", [False, True])
def test_a_bad_read_is_refused_and_writes_nothing(mem: Memory, kw: Any, many: bool) -> None:
    h = mem.user("u").history("t")
    with pytest.raises(InvalidValueError, match="read_"):
        if many:
            h.extend([Message.user("x")], **kw)
        else:
            h.append(Message.user("x"), **kw)
    with pytest.raises(InvalidValueError, match="read_"):
        h.extend([], **kw)
    assert h.messages() == [] and mem.user("u").thread_count() == 0


def test_async_append_reads_the_context(url: str) -> None:
    async def main() -> tuple[Any, ...]:
        async with AsyncMemory(url) as mem:
            h = mem.user("u").history("t")
            await h.extend([Message.user("a"), Message.assistant("b")])
            one = await h.append(Message.user("c"), read_last=2, read_max_tokens=100)
            many = await h.extend([Message.assistant("d")], read_last=10)
            empty = await h.extend([], read_last=1)
            return one.context, many.context, empty.context, tuple(await h.messages(last=10))

    one, many, empty, after = asyncio.run(main())
    assert [m.content for m in one] == ["b", "c"]
    assert many == after and [m.content for m in many] == ["a", "b", "c", "d"]
    assert [m.content for m in empty] == ["d"]
