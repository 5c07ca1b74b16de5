"""history.pop(): the newest turn removed and returned in one atomic call, the thread's
totals, ids and index kept exact, a "delete" event logged; on every engine, plus the call
and its reply without a server."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

from pyredmem import AsyncMemory, Memory, Message, ScopeRef
from pyredmem._config import Config
from pyredmem._ops import history as ops
from tests.counting import count_replies
from tests.engines import Engine

KEY = bytes(range(32))


def _totals(mem: Memory, h: Any) -> tuple[int, int] | None:
    """The thread's totals as I holds them, or None when I is absent."""
    raw = mem.client.hget(h._t.keys[1], "")
    if raw is None:
        return None
    tokens, size = raw.split()
    return int(tokens), int(size)


def _held(mem: Memory, h: Any) -> tuple[int, int]:
    """The totals the thread's turns add up to, from L itself."""
    entries = mem.client.lrange(h._t.keys[0], 0, -1)
    return sum(int.from_bytes(e[11:19], "big") for e in entries), sum(len(e) for e in entries)


def test_pop_returns_the_newest_turn_until_none_is_left(mem: Memory) -> None:
    h = mem.user("alice").history("chat", ttl=60)
    stored = h.extend([Message.user("hi", id="a"), Message.assistant("hello", id="b")]).messages
    popped = h.pop()
    assert popped == stored[1]
    assert (popped.role, popped.content, popped.created_at, popped.tokens) == (
        "assistant",
        "hello",
        stored[1].created_at,
        stored[1].tokens,
    )
    assert [m.id for m in h.messages()] == ["a"]
    assert h.pop() == stored[0]
    assert h.pop() is None
    assert len(h) == 0
    assert mem.user("alice").history("never").pop() is None


def test_pop_keeps_the_totals_and_ids_exact(mem: Memory) -> None:
    h = mem.user("alice").history("chat", max_tokens=30)
    h.extend([Message.user("x" * 20, id=f"m{i}") for i in range(3)])  # 9 tokens each
    assert _totals(mem, h) == _held(mem, h)
    popped = h.pop()
    assert popped is not None and popped.id == "m2"
    assert _totals(mem, h) == _held(mem, h)
    # the popped id may be appended again; the others are still known
    again = h.extend([Message.user("y", id="m2"), Message.user("z", id="m1")])
    assert [m.id for m in again.messages] == ["m2"] and again.skipped == ("m1",)
    # the token cap counts from the exact totals: 9 + 9 + 5 fits 30, one more 9 does not
    assert h.append(Message.user("x" * 20, id="m3")).evicted_count == 1
    assert [m.id for m in h.messages()] == ["m1", "m2", "m3"]
    assert _totals(mem, h) == _held(mem, h)


def test_popping_the_last_turn_leaves_the_thread_listed_and_empty(mem: Memory) -> None:
    scope = mem.user("alice")
    h = scope.history("chat", ttl=60)
    h.append(Message.user("only", id="m1"))
    assert h.pop() is not None
    assert mem.client.exists(*h._t.keys[:2]) == 0  # L and I both gone
    assert scope.thread_count() == 1 and [t.id for t in scope.threads()] == ["chat"]
    assert h.append(Message.user("only", id="m1")).messages  # the id is free again
    assert _totals(mem, h) == _held(mem, h)
    assert 59 < (h.ttl() or 0) <= 60


def test_pop_records_the_last_write_and_keeps_the_expiry(mem: Memory) -> None:
    scope = mem.user("alice")
    h = scope.history("chat", ttl=100, sliding=False)
    h.extend([Message.user("a"), Message.user("b")])
    before = scope.threads()[0]
    mem.client.pexpire(h._t.keys[0], 50_000)  # an expiry the pop must not re-arm
    h.pop()
    after = scope.threads()[0]
    assert after.last_activity >= before.last_activity
    assert 49 < (h.ttl() or 0) <= 50


def test_pop_after_the_id_hash_was_evicted(mem: Memory) -> None:
    h = mem.user("alice").history("chat")
    h.extend([Message.user(str(i), id=f"m{i}") for i in range(4)])
    mem.client.delete(h._t.keys[1])  # as allkeys-lru may
    assert h.pop() is not None
    h.append(Message.user("new", id="m9"))  # rebuilds I from L
    assert _totals(mem, h) == _held(mem, h)
    assert h.append(Message.user("again", id="m0")).skipped == ("m0",)
    assert [m.id for m in h.messages()] == ["m0", "m1", "m2", "m9"]


def test_pop_is_one_command(engine: Engine, mem: Memory) -> None:
    h = mem.user("alice").history("chat", ttl=60)
    h.extend([Message.user("a"), Message.user("b")])
    h.pop()  # loads the script
    with count_replies() as counter:
        h.pop()
    assert counter.replies == 1


def test_pop_logs_a_delete_of_the_turn(url: str) -> None:
    with Memory(url, events="values") as m:
        s = m.user("alice")
        h = s.history("chat")
        h.extend([Message.user("a", id="m1"), Message.user("b", id="m2")])
        h.pop()
        h.pop()
        h.pop()  # empty: nothing logged
        got = [(e.op, e.target, e.key, e.message_id) for e in s.changes()]
    assert got == [
        ("append", "thread", "chat", "m1"),
        ("append", "thread", "chat", "m2"),
        ("delete", "thread", "chat", "m2"),
        ("delete", "thread", "chat", "m1"),
    ]


def test_pop_logs_nothing_with_events_off(mem: Memory) -> None:
    h = mem.user("alice").history("chat")
    h.append(Message.user("a"))
    h.pop()
    assert not [k for k in mem.client.keys("*") if k.endswith(b":ev")]


def test_pop_of_encrypted_turns(url: str) -> None:
    with Memory(url, encryption_key=KEY, encrypt_names=True) as m:
        h = m.user("alice").history("secret")
        h.extend([Message.user("first", id="m1"), Message.user("second", id="m2")])
        popped = h.pop()
        assert popped is not None and (popped.id, popped.content) == ("m2", "second")
        assert [x.content for x in h.messages()] == ["first"]


def test_concurrent_pops_take_each_turn_once(url: str) -> None:
    with Memory(url) as m:
        m.user("alice").history("q").extend([Message.user(str(i), id=f"m{i}") for i in range(60)])
    taken: list[str] = []
    lock = threading.Lock()

    def worker() -> None:
        with Memory(url) as m:
            h = m.user("alice").history("q")
            while (popped := h.pop()) is not None:
                with lock:
                    taken.append(popped.id)

    workers = [threading.Thread(target=worker) for _ in range(4)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    assert sorted(taken) == sorted(f"m{i}" for i in range(60))


def test_pop_in_a_batch(mem: Memory) -> None:
    h = mem.user("alice").history("chat")
    h.extend([Message.user("a", id="m1"), Message.user("b", id="m2")])
    with mem.batch() as b:
        first = b.on(h).pop()
        count = b.on(h).count()
    assert first.result().id == "m2" and count.result() == 1


def test_async_pop(url: str) -> None:
    async def main() -> list[str | None]:
        async with AsyncMemory(url) as m:
            h = m.user("alice").history("chat")
            await h.extend([Message.user("a", id="m1"), Message.user("b", id="m2")])
            out = []
            for _ in range(3):
                popped = await h.pop()
                out.append(None if popped is None else popped.id)
            return out

    assert asyncio.run(main()) == ["m2", "m1", None]


# ------------------------------------------------------------------ without a server


def _thread(**kw: Any) -> ops.Thread:
    return ops.Thread(Config(), ScopeRef.of("user", "alice"), "support", **kw)


def test_pop_call_and_reply() -> None:
    t = _thread()
    call = ops.history_pop(t)
    assert call.script.name == "history_pop"
    assert call.keys == t.keys and call.args == (t.sid,)
    assert not call.readonly and not call.script.retry  # a pop sent twice pops twice
    m = Message.user("hi", id="m1")
    entry = b"\x94\xcf" + (1_000).to_bytes(8, "big") + ops.entry_tail(t, m, 3)
    popped = call.parse(entry)
    assert popped is not None
    assert (popped.id, popped.content, popped.created_at, popped.tokens) == ("m1", "hi", 1.0, 3)
    assert call.parse(None) is None


def test_pop_call_logs_with_events_on() -> None:
    t = ops.Thread(Config(events=True), ScopeRef.of("user", "alice"), "support")
    call = ops.history_pop(t)
    assert len(call.keys) == 5 and call.keys[4].endswith(":ev")
    assert call.args[0] == t.sid and len(call.args) == 4


def test_pop_reply_decodes_a_message_without_content() -> None:
    t = _thread()
    m = Message.assistant(None, tool_calls=[{"id": "c1", "type": "function"}], id="m2")
    entry = b"\x94\xcf" + (5).to_bytes(8, "big") + ops.entry_tail(t, m, 7)
    popped = ops.history_pop(t).parse(entry)
    assert popped is not None and popped.tool_calls == m.tool_calls


def test_a_popped_turn_leaves_the_recall_index(mem: Memory) -> None:
    user = mem.user("alice")
    chat = user.history("t", recall=True)
    chat.extend([Message.user("my sister lives in Montreal", id="m1")])
    chat.append(Message.user("actually she lives in Lyon", id="m2"))
    assert {h.id for h in user.recall.search("where does my sister live?", k=5)} == {
        "t:m1",
        "t:m2",
    }
    assert chat.pop() is not None
    assert [h.id for h in user.recall.search("where does my sister live?", k=5)] == ["t:m1"]
