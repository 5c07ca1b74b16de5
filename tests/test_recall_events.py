"""Change events of recall writes: add, add_many, delete, clear and the purges of expired
items log to the scope's change log in the same call (target "recall", letter "r"), with
their values (the item) under `events="values"`; writes that change nothing log nothing;
with events off the calls and what they store are those of before. watch() delivers them.
On every engine."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator

import pytest

from pyredmem import (
    AsyncMemory,
    CapacityError,
    EmbedderMismatchError,
    HashingEmbedder,
    Memory,
    Message,
    RecallItem,
)
from pyredmem._keys import ScopeRef
from pyredmem._ops import recall as ops
from pyredmem._ops.events import NOT_LOGGED, Event, log_key


@pytest.fixture
def ev(url: str) -> Iterator[Memory]:
    """A Memory that logs events with their values."""
    with Memory(url, events="values") as m:
        yield m


def _ops(events: list[Event]) -> list[tuple[str, str, str | None]]:
    return [(e.op, e.target, e.key) for e in events]


def _log(mem: Memory, ident: str = "alice") -> str:
    return log_key(mem._cfg.keyspace.prefix(ScopeRef.of("user", ident)))


def _version(mem: Memory, item_id: str, ident: str = "alice") -> str:
    """An item's version in its index (C's score)."""
    c = mem.user(ident).recall._store.keys[2]
    return str(int(mem.client.zscore(c, item_id)))


def test_each_recall_write_logs_its_events_with_version_and_value(ev: Memory) -> None:
    alice = ev.user("alice")
    rec = alice.recall
    rec.add("Alice is allergic to peanuts", id="a", kind="health", meta={"src": "chat"})
    v_a = _version(ev, "a")
    ids = rec.add_many(["Alice plays the cello", {"text": "Alice has a cat", "id": "c"}])
    v_b, v_c = _version(ev, ids[0]), _version(ev, "c")
    rec.add("Alice is allergic to cats", id="a")  # a replacement is an add too
    v_a2 = _version(ev, "a")
    assert rec.delete("a", "absent") == 1
    assert rec.clear() == 2
    got = alice.changes(values=True)
    assert _ops(got) == [
        ("add", "recall", "a"),
        ("add", "recall", ids[0]),
        ("add", "recall", "c"),
        ("add", "recall", "a"),
        ("delete", "recall", "a"),
        ("clear", "recall", None),
    ]
    assert [e.version for e in got] == [v_a, v_b, v_c, v_a2, None, None]
    assert len({v_a, v_b, v_c, v_a2}) == 4
    first = got[0].value
    assert isinstance(first, RecallItem)
    assert (first.id, first.text, first.kind, first.meta) == (
        "a",
        "Alice is allergic to peanuts",
        "health",
        {"src": "chat"},
    )
    assert got[3].value.text == "Alice is allergic to cats"
    assert got[1].value.text == "Alice plays the cello" and got[1].value.id == ids[0]
    assert all(e.value is NOT_LOGGED for e in got[4:])
    assert all(e.kind == "user" and e.scope == "alice" for e in got)
    # without values asked for, none are decoded
    assert all(e.value is NOT_LOGGED for e in alice.changes())


def test_the_entry_format_is_flat_and_in_order(ev: Memory) -> None:
    rec = ev.user("alice").recall
    rec.add("hello world", id="h", kind="note")
    rec.delete("h")
    rec.add("again", id="g")
    rec.clear()
    entries = ev.client.xrange(_log(ev))
    v0 = entries[0][1][b"v"]
    record = entries[0][1][b"p"]
    assert v0.isdigit()
    created, _, blob = record.partition(b":")
    assert created.isdigit() and blob.startswith(b"note\x00")
    assert [list(fields.items()) for _, fields in entries][:2] == [
        [(b"o", b"add"), (b"w", b"r"), (b"k", b"h"), (b"v", v0), (b"y", b"r"), (b"p", record)],
        [(b"o", b"delete"), (b"w", b"r"), (b"k", b"h")],
    ]
    assert list(entries[3][1].items()) == [(b"o", b"clear"), (b"w", b"r")]


def test_events_true_logs_no_values(url: str) -> None:
    with Memory(url, events=True) as mem:
        rec = mem.user("alice").recall
        rec.add("hello", id="h")
        (entry,) = mem.client.xrange(_log(mem))
        assert set(entry[1]) == {b"o", b"w", b"k", b"v"}
        (event,) = mem.user("alice").changes(values=True)
        assert event.value is NOT_LOGGED and event.version == _version(mem, "h")


def test_writes_that_change_nothing_log_nothing(ev: Memory) -> None:
    rec = ev.user("alice").recall
    assert rec.delete("absent") == 0  # no index
    assert rec.clear() == 0
    rec.add("x", id="x")
    assert rec.delete("absent") == 0
    assert rec.delete("x", "x") == 1  # one id given twice: removed (and logged) once
    assert rec.clear() == 0  # empty
    assert _ops(ev.user("alice").changes()) == [
        ("add", "recall", "x"),
        ("delete", "recall", "x"),
    ]


def test_refused_writes_log_nothing(url: str) -> None:
    with Memory(url, events=True) as mem:
        rec = mem.recall(scope=mem.user("alice"), max_items=2)
        rec.add_many(["a", "b"])
        with pytest.raises(CapacityError):
            rec.add("c")  # PM_FULL
        other = mem.recall(scope=mem.user("alice"), embedder=HashingEmbedder(64))
        with pytest.raises(EmbedderMismatchError):
            other.add("d")  # PM_EMBEDDER
        assert [e.op for e in mem.user("alice").changes()] == ["add", "add"]


def test_purges_log_one_expire_per_expired_item(ev: Memory) -> None:
    rec = ev.user("alice").recall
    rec.add("keep", id="keep")
    rec.add_many([{"text": "short a", "id": "a"}, {"text": "short b", "id": "b"}], ttl=0.05)
    time.sleep(0.15)
    rec.add("new", id="new")  # purges a and b first
    got = _ops(ev.user("alice").changes())
    assert got[:3] == [("add", "recall", k) for k in ("keep", "a", "b")]
    assert sorted(got[3:5]) == [("expire", "recall", "a"), ("expire", "recall", "b")]
    assert got[5:] == [("add", "recall", "new")]
    rec.add("short c", id="c", ttl=0.05)
    time.sleep(0.15)
    assert rec.delete("keep", "c") == 1  # c had expired: an expire, then the delete
    assert _ops(ev.user("alice").changes())[7:] == [
        ("expire", "recall", "c"),
        ("delete", "recall", "keep"),
    ]


def test_events_off_change_neither_the_calls_nor_what_is_stored(url: str) -> None:
    with Memory(url) as mem:
        rec = mem.user("alice").recall
        store = rec._store
        call = ops.recall_add(store, [("hello", None, None, "h", None)])
        assert call.keys == store.keys and len(call.keys) == 4
        assert len(call.args) == 3 + 4
        assert ops.recall_delete(store, ["h"]).args == ("h",)
        assert ops.recall_clear(store).args == ()
        rec.add("hello", id="h")
        rec.add("bye", id="b", ttl=0.05)
        time.sleep(0.1)
        rec.delete("h")
        rec.add("x", id="x")
        rec.clear()
        rec.add("y", id="y")
        assert sorted(mem.client.scan_iter(match="*:ev")) == []
        assert mem.client.hget(store.keys[0], "r") is None  # no re-arm bookkeeping
        assert mem.user("alice").changes() == []
    with Memory(url, events=True) as mem:
        store = mem.user("alice").recall._store
        call = ops.recall_add(store, [("hello", None, None, "h", None)])
        assert call.keys == (*store.keys, _log(mem))
        assert call.args[-3:] == ("10000", "86400000", "0")


def test_the_log_gets_its_retention(url: str) -> None:
    with Memory(url, events=True, events_ttl=60) as mem:
        rec = mem.user("alice").recall
        rec.add("x", id="x")
        log = _log(mem)
        assert 59_000 < mem.client.pttl(log) <= 60_000
        mem.client.delete(log)  # as eviction would, while the index keeps its bookkeeping
        rec.add("y", id="y")
        assert 59_000 < mem.client.pttl(log) <= 60_000
        rec.delete("x")
        rec.clear()
        assert 59_000 < mem.client.pttl(log) <= 60_000
        assert [e.op for e in mem.user("alice").changes()] == ["add", "delete", "clear"]


def test_history_with_recall_logs_the_turns_and_their_items(ev: Memory) -> None:
    alice = ev.user("alice")
    h = alice.history("chat", recall=True)
    h.extend([Message.user("I live in Lisbon", id="m1"), Message.assistant("Noted", id="m2")])
    popped = h.pop()
    assert popped is not None and popped.id == "m2"
    got = alice.changes(values=True)
    assert [(e.op, e.target, e.key, e.message_id) for e in got] == [
        ("append", "thread", "chat", "m1"),
        ("append", "thread", "chat", "m2"),
        ("add", "recall", "chat:m1", None),
        ("add", "recall", "chat:m2", None),
        ("delete", "thread", "chat", "m2"),
        ("delete", "recall", "chat:m2", None),
    ]
    assert got[2].value.meta == {"thread": "chat", "message": "m1"}


def test_a_watcher_gets_recall_events(url: str) -> None:
    with (
        Memory(url, events="values") as mem,
        mem.watch("user:alice", values=True, timeout=5) as w,
    ):
        rec = mem.user("alice").recall
        rec.add("hello", id="h", kind="k")
        rec.delete("h")
        got: list[Event] = []
        for event in w:
            got.append(event)
            if len(got) == 2:
                break
    assert _ops(got) == [("add", "recall", "h"), ("delete", "recall", "h")]
    assert got[0].value.text == "hello" and got[0].value.kind == "k"


def test_watch_filters_recall_events_by_key_and_op(url: str) -> None:
    with (
        Memory(url, events=True) as mem,
        mem.watch("user:*", keys="note-*", ops=["delete"], timeout=5) as w,
    ):
        rec = mem.user("bob").recall
        rec.add_many([{"text": "a", "id": "note-1"}, {"text": "b", "id": "other"}])
        rec.delete("other")
        rec.delete("note-1")
        event = next(iter(w))
    assert (event.scope, event.op, event.target, event.key) == ("bob", "delete", "recall", "note-1")


def test_encrypted_items_and_names_in_events(url: str) -> None:
    key = bytes(range(32))
    with Memory(url, events="values", encryption_key=key, encrypt_names=True) as mem:
        rec = mem.user("alice@example.com").recall
        rec.add("Alice's PIN is 4321", id="pin-of-alice", meta={"secret": True})
        rec.delete("pin-of-alice")
        raw = b"".join(
            b"".join(v for fields in (e[1] for e in mem.client.xrange(k)) for v in fields.values())
            for k in mem.client.scan_iter(match="*:ev")
        )
        assert b"4321" not in raw and b"pin-of-alice" not in raw and b"secret" not in raw
        got = mem.user("alice@example.com").changes(values=True)
        assert _ops(got) == [
            ("add", "recall", "pin-of-alice"),
            ("delete", "recall", "pin-of-alice"),
        ]
        assert got[0].value.text == "Alice's PIN is 4321" and got[0].value.meta == {"secret": True}
        assert got[0].scope == "alice@example.com"


def test_async_twin_logs_the_same(url: str) -> None:
    async def go() -> list[Event]:
        async with AsyncMemory(url, events=True) as amem:
            rec = amem.user("alice").recall
            await rec.add("hello", id="h")
            await rec.add_many(["x"], kind="k")
            await rec.delete("h")
            await rec.clear()
            return await amem.user("alice").changes()

    got = asyncio.run(go())
    assert [(e.op, e.target) for e in got] == [
        ("add", "recall"),
        ("add", "recall"),
        ("delete", "recall"),
        ("clear", "recall"),
    ]
