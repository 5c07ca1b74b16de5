"""`encrypt_names=True` and recall: item ids (which may hold user text, given with `id=`, or
a thread id through `history(..., recall=True)`) never reach the server, while add, get,
search, delete, events and erase give them back plain. On every engine."""

from __future__ import annotations

import asyncio

from pyredmem import AsyncMemory, Memory, Message
from tests.stored import raw_dump

KEY = bytes(range(32))
USER = "alice.secret@example.com"
ITEM = "passport-number-of-alice"
THREAD = "visa-application-7731"
PLANTED = (b"alice.secret", b"passport-number", b"visa-application", b"X1234567")


def test_planted_item_ids_never_reach_the_server(url: str) -> None:
    with Memory(url, encryption_key=KEY, encrypt_names=True, events="values") as mem:
        alice = mem.user(USER)
        rec = alice.recall
        assert rec.add("Alice's passport is X1234567", id=ITEM, kind="doc") == ITEM
        ids = rec.add_many([{"text": "Alice flies to Lisbon", "id": ITEM + "-trip"}, "plain"])
        assert ids[0] == ITEM + "-trip" and len(ids[1]) == 16
        alice.history(THREAD, recall=True).append(Message.user("my visa is pending", id="m1"))
        dump = raw_dump(mem)
        for marker in PLANTED:
            assert marker not in dump, marker
        # everything gives the plain ids back
        item = rec.get(ITEM)
        assert item is not None and (item.id, item.kind) == (ITEM, "doc")
        assert rec.search("passport", k=1)[0].id == ITEM
        assert rec.search("visa", k=1)[0].id == f"{THREAD}:m1"
        assert {h.id for h in rec.search("Alice", k=10)} == {ITEM, ITEM + "-trip", ids[1]} | {
            f"{THREAD}:m1"
        }
        assert rec.delete(ITEM + "-trip", "absent") == 1
        assert rec.get(ITEM + "-trip") is None
        popped = alice.history(THREAD, recall=True).pop()
        assert popped is not None and rec.get(f"{THREAD}:m1") is None
        events = [(e.op, e.key) for e in alice.changes(values=True) if e.target == "recall"]
        assert events == [
            ("add", ITEM),
            ("add", ITEM + "-trip"),
            ("add", ids[1]),
            ("add", f"{THREAD}:m1"),
            ("delete", ITEM + "-trip"),
            ("delete", f"{THREAD}:m1"),
        ]
        assert rec.info().count == 2
        alice.erase()
        assert rec.info().count == 0 and rec.search("passport") == []


def test_a_memory_without_encrypted_names_stores_ids_as_given(url: str) -> None:
    with Memory(url, encryption_key=KEY) as mem:
        rec = mem.user("bob").recall
        rec.add("hello", id="greeting")
        assert mem.client.hexists(rec._store.keys[0], "i:greeting")
    with Memory(url, encryption_key=KEY, encrypt_names=True) as named:
        store = named.user("bob").recall._store
        stored = store.stored("greeting")
        assert stored != "greeting" and store.plain(stored) == "greeting"
        assert named.user("bob").recall.get("greeting") is None  # another index's keys


def test_async_twin(url: str) -> None:
    async def go() -> None:
        async with AsyncMemory(url, encryption_key=KEY, encrypt_names=True) as amem:
            rec = amem.user(USER).recall
            await rec.add("Alice's passport is X1234567", id=ITEM)
            assert (await rec.search("passport", k=1))[0].id == ITEM
            got = await rec.get(ITEM)
            assert got is not None and got.id == ITEM
            assert await rec.delete(ITEM) == 1

    asyncio.run(go())
