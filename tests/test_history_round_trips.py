"""append, extend and messages each send exactly one command (so do the other history calls,
and an append that also reads the context)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

import pytest

from pyredmem import AsyncMemory, Memory, Message
from tests.counting import count_replies, script_calls
from tests.engines import Engine


def _h(m: Memory) -> Any:
    return m.user("u").history("t", max_turns=50, max_tokens=10_000, ttl=60)


def _fixed(m: Memory) -> Any:
    return m.user("u").history("t", max_turns=50, ttl=60, sliding=False)


# reads that need no script to be correct: one plain command (LRANGE, LLEN, PTTL)
PLAIN = {"messages(fixed ttl)", "len", "ttl"}


OPS: dict[str, Callable[[Memory], Any]] = {
    "append": lambda m: _h(m).append(Message.user("hi"), return_evicted=True),
    "extend": lambda m: _h(m).extend([Message.user(str(i)) for i in range(30)]),
    "append(read)": lambda m: _h(m).append(Message.user("hi"), read_last=20, read_max_tokens=2000),
    "extend(read)": lambda m: _h(m).extend(
        [Message.user("a"), Message.assistant("b")], return_evicted=True, read_last=40
    ),
    "messages": lambda m: _h(m).messages(last=20),
    "messages(max_tokens)": lambda m: _h(m).messages(last=40, max_tokens=300),
    "messages(fixed ttl)": lambda m: _fixed(m).messages(last=20, max_tokens=300),
    "len": lambda m: len(_h(m)),
    "ttl": lambda m: _h(m).ttl(),
    "threads": lambda m: m.user("u").threads(),
    "thread_count": lambda m: m.user("u").thread_count(),
    "fork": lambda m: _h(m).fork("f", upto=3).delete(),
    "clear": lambda m: m.user("u").history("other").clear(),
}


def _warm(mem: Memory) -> None:
    for op in OPS.values():  # connect and load every script before counting
        op(mem)


@pytest.mark.standalone
@pytest.mark.parametrize("name", OPS)
def test_one_command_per_history_operation(engine: Engine, mem: Memory, name: str) -> None:
    _warm(mem)
    before = script_calls(engine.raw_client()) if engine.real else 0
    with count_replies() as counter:
        OPS[name](mem)
    expected = 2 if name == "fork" else 1  # fork, then delete the fork
    assert counter.replies == expected
    if engine.real:
        scripts = 0 if name in PLAIN else expected
        assert script_calls(engine.raw_client()) - before == scripts


@pytest.mark.standalone
def test_compact_is_a_read_and_one_replace(mem: Memory) -> None:
    h = _h(mem)
    h.extend([Message.user(str(i)) for i in range(10)])
    h.compact(lambda ms: "warm", keep_last=8)
    with count_replies() as counter:
        h.compact(lambda ms: "summary", keep_last=3)
    assert counter.replies == 2


@pytest.mark.standalone
def test_async_history_operations_are_one_command(url: str) -> None:
    async def main() -> list[int]:
        counts = []
        async with AsyncMemory(url) as m:
            h = m.user("u").history("t")
            for op in (
                lambda: h.append(Message.user("x")),
                lambda: h.extend([Message.user("y"), Message.user("z")]),
                lambda: h.messages(last=20, max_tokens=100),
                lambda: h.append(Message.user("w"), read_last=20, read_max_tokens=100),
            ):
                await op()  # loads the script
                with count_replies() as counter:
                    await op()
                counts.append(counter.replies)
        return counts

    assert asyncio.run(main()) == [1, 1, 1, 1]


def test_history_scripts_reload_after_script_flush(mem: Memory) -> None:
    h = _h(mem)
    h.append(Message.user("a"))
    mem.client.script_flush()
    h.append(Message.user("b"))
    assert [m.content for m in h.messages()] == ["a", "b"]


@pytest.mark.standalone
def test_a_read_that_finds_the_expiry_due_adds_one_small_write(mem: Memory) -> None:
    h = _h(mem)
    h.append(Message.user("a"))
    key = "pm:{:user:u}:t:t:l"
    mem.client.pexpire(key, 50_000)  # run down by half the ttl: due
    h.messages()  # loads both scripts
    mem.client.pexpire(key, 50_000)
    with count_replies() as counter:
        h.messages()
    assert counter.replies == 2 and mem.client.pttl(key) > 59_000
    with count_replies() as counter:
        h.messages()  # re-armed: no longer due
    assert counter.replies == 1


@pytest.mark.standalone
def test_an_append_that_reads_needs_no_touch_when_the_expiry_is_due(mem: Memory) -> None:
    h = _h(mem)
    h.append(Message.user("a"), read_last=20)  # loads the script
    p = "pm:{:user:u}"
    for key in (f"{p}:t:t:l", f"{p}:t:t:i"):  # as if half the ttl had passed: due
        mem.client.pexpire(key, 30_000)
    mem.client.zadd(f"{p}:tx", {"t": int(time.time() * 1000) + 30_000})
    with count_replies() as counter:
        got = h.append(Message.user("b"), read_last=20, read_max_tokens=2000)
    assert counter.replies == 1 and mem.client.pttl(f"{p}:t:t:l") > 59_000
    assert [m.content for m in got.context][-2:] == ["a", "b"]
