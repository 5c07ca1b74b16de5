"""Key rotation of recall indexes: `mem.reencrypt()` leaves every item's text and meta under
the primary key (checked on the raw bytes), items read back the same, items added without
encryption get encrypted, clients' caches fetch the rewritten items, a write between a
job's read and its rewrite wins, and writers running meanwhile lose nothing. On every
engine."""

from __future__ import annotations

import asyncio
import multiprocessing
import random
import time
from collections import Counter
from typing import Any

import pytest

from pyredmem import AsyncMemory, DecryptionError, Keyring, Memory, Message, Reencrypted
from pyredmem._crypto import key_id_of
from pyredmem._keys import ScopeRef
from pyredmem._ops import recall as ops
from pyredmem._ops.reencrypt import Calls, ReencryptPlan
from tests.engines import Engine

# fixed: the writer processes (spawned: this module imported again) need the same keys
K1, K2 = bytes(range(32)), bytes(range(100, 132))
OLD = Keyring({"old": K1}, primary="old")
NEW = Keyring({"old": K1, "new": K2}, primary="new", names="old")
NEW_ONLY = Keyring({"new": K2}, primary="new", names="new")


def item_ids(mem: Memory) -> Counter[str]:
    """The key id ("plain": not encrypted) of every recall item's text and meta, found by
    SCAN."""
    found: Counter[str] = Counter()
    for key in mem.client.scan_iter(match="*:r", count=1000):
        fields = mem.client.hgetall(key)
        vbytes = ops.vector_bytes_of(fields[b"m"])
        assert vbytes is not None
        for field, value in fields.items():
            if field.startswith(b"i:"):
                parts = ops.split_item(value, vbytes)
                assert parts is not None
                found[str(key_id_of(parts[1]) or "plain")] += 1
    return found


def _fill(mem: Memory, scopes: int = 3, items: int = 40) -> dict[str, Any]:
    """Items in several scopes (kinds, meta, a time to live, turns indexed by a thread);
    returns what reads them back."""
    for s in range(scopes):
        rec = mem.user(f"u{s}").recall
        rec.add_many(
            [
                {
                    "text": f"note {i} of user {s} about topic {i % 7}",
                    "id": f"n{i}",
                    "meta": {"i": i},
                }
                for i in range(items)
            ],
            kind="note",
        )
        rec.add(f"user {s} prefers tea", id="pref", ttl=3600)
    h = mem.user("u0").history("chat", recall=True)
    h.extend([Message.user("I live in Lisbon"), Message.assistant("Noted")])
    return _read(mem, scopes, items)


def _read(mem: Memory, scopes: int = 3, items: int = 40) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for s in range(scopes):
        rec = mem.user(f"u{s}").recall
        out[f"u{s}"] = [rec.get(f"n{i}") for i in range(items)] + [rec.get("pref")]
        hits = rec.search("topic 3 tea", k=items + 5)  # all of them: ties are in any order
        out[f"u{s}:search"] = sorted((h.id, h.text, h.meta, h.score) for h in hits)
    out["turns"] = [(h.text, h.kind) for h in mem.user("u0").recall.search("Lisbon", k=1)]
    return out


def test_rotation_leaves_every_item_under_the_primary_key(url: str) -> None:
    with Memory(url, encryption_key=OLD) as old:
        before = _fill(old)
    with Memory(url, encryption_key=NEW) as mem:
        assert _read(mem) == before  # the caches now hold the items under "old"
        assert item_ids(mem) == Counter({"old": 3 * 41 + 2})
        done = mem.reencrypt()
        assert done.recall_items == 3 * 41 + 2
        assert done.turns == 2  # the thread's own turns, indexed by recall=True
        assert done.rewritten == done.scanned == done.recall_items + done.turns
        assert (done.current, done.lost_races, done.failed, done.migrated) == (0, 0, 0, 0)
        assert item_ids(mem) == Counter({"new": 3 * 41 + 2})
        again = mem.reencrypt()
        assert again.rewritten == 0 and again.recall_items == 0
        assert again.current == again.scanned
        # the caches fetched the rewritten items: none of them is under "old" any more
        assert _read(mem) == before
        cache = ops.cache_of(mem._runner, mem.user("u1").recall._store)
        assert len(cache) == 41
        sealed = {key_id_of(r.partition(b"\x00")[2]) for r in cache.records}
        assert sealed == {"new"}
    with Memory(url, encryption_key=NEW_ONLY) as new_only:
        assert _read(new_only) == before


def test_items_added_without_encryption_get_encrypted(url: str) -> None:
    with Memory(url) as plain:
        before = _fill(plain, scopes=2, items=10)
    with Memory(url, encryption_key=OLD) as mem:
        with pytest.raises(DecryptionError, match="reencrypt"):
            mem.user("u0").recall.get("n1")
        with pytest.raises(DecryptionError, match="reencrypt"):
            mem.user("u1").recall.search("note")
        done = mem.reencrypt()
        assert done.recall_items == 2 * 11 + 2
        assert done.migrated == done.rewritten == done.recall_items + done.turns
        assert item_ids(mem) == Counter({"old": 2 * 11 + 2})
        assert _read(mem, 2, 10) == before
        assert mem.reencrypt().rewritten == 0
    with Memory(url) as plain, pytest.raises(DecryptionError, match="no encryption_key"):
        plain.user("u0").recall.get("n1")


def test_rotation_with_encrypted_names(url: str) -> None:
    ring = Keyring({"old": K1, "new": K2}, primary="old", names="old")
    with Memory(url, encryption_key=ring, encrypt_names=True) as old:
        before = _fill(old, scopes=2, items=10)
    with Memory(url, encryption_key=NEW, encrypt_names=True) as mem:
        done = mem.reencrypt()
        assert done.recall_items == 2 * 11 + 2 and done.failed == 0
        assert item_ids(mem) == Counter({"new": 2 * 11 + 2})
        assert _read(mem, 2, 10) == before


def test_a_write_between_the_read_and_the_rewrite_wins(url: str) -> None:
    """The job driven by hand: the item replaced, or deleted, after it was read."""
    with Memory(url, encryption_key=OLD) as old:
        old.user("a").recall.add_many([{"text": f"old {i}", "id": f"i{i}"} for i in range(5)])
    with Memory(url, encryption_key=NEW) as mem, Memory(url, encryption_key=NEW) as writer:
        plan = ReencryptPlan(mem._cfg)
        key = mem._cfg.keyspace.prefix(ScopeRef.of("user", "a")) + ":r"
        job = plan.job(key)
        assert job is not None
        runner = mem._runner
        step = next(job)
        try:
            while True:
                if isinstance(step, Calls):  # between the read and the write
                    writer.user("a").recall.add("new 1", id="i1")
                    writer.user("a").recall.delete("i2")
                    replies = runner.run_all(step.calls)
                else:
                    replies = runner.pipelined(step.commands)
                step = job.send(replies)
        except StopIteration as stop:
            done = stop.value
        assert (done.scanned, done.rewritten, done.lost_races) == (5, 3, 2)
        rec = mem.user("a").recall
        assert rec.get("i1").text == "new 1"  # type: ignore[union-attr]
        assert rec.get("i2") is None
        assert [rec.get(f"i{i}").text for i in (0, 3, 4)] == ["old 0", "old 3", "old 4"]  # type: ignore[union-attr]
        assert item_ids(mem) == Counter({"new": 4})


def test_async_twin(url: str) -> None:
    with Memory(url, encryption_key=OLD) as old:
        old.user("a").recall.add("hello", id="h")

    async def go() -> Reencrypted:
        async with AsyncMemory(url, encryption_key=NEW) as amem:
            done = await amem.reencrypt()
            item = await amem.user("a").recall.get("h")
            assert item is not None and item.text == "hello"
            return done

    done = asyncio.run(go())
    assert (done.recall_items, done.rewritten) == (1, 1)
    assert done.counts()["recall_items"] == 1


# ---------------------------------------------------------------------------- under load

WRITERS = 2
IDLE = 60
TOUCHED = 10  # the writers replace and delete items i0..i9 only: i10..i19 stay as they were


def recall_writer(url: str, w: int) -> dict[str, Any]:
    """With the new keyring, until the test says stop: replace random items i0..i9 of the
    indexes idle<s> for s = w mod WRITERS (which the run is rotating meanwhile), and delete
    some.
    Returns each item's last state (its text, or None when deleted)."""
    rng = random.Random(w)
    last: dict[str, Any] = {}
    with Memory(url, encryption_key=NEW) as mem:
        control = mem.user("control")
        control.set(f"started{w}", True)
        n = 0
        while n % 16 or not control.get("stop"):
            s, i = rng.randrange(w, IDLE, WRITERS), rng.randrange(TOUCHED)
            rec = mem.user(f"idle{s}").recall
            if n % 5 == 4:
                rec.delete(f"i{i}")
                last[f"idle{s}:i{i}"] = None
            else:
                text = f"w{w} item {i} at {n}"
                rec.add(text, id=f"i{i}")
                last[f"idle{s}:i{i}"] = text
            n += 1
    last["n"] = n
    return last


@pytest.mark.real_server
def test_rotation_under_load_loses_no_write(engine: Engine, url: str) -> None:
    with Memory(url, encryption_key=OLD) as old:
        for s in range(IDLE):
            rec = old.user(f"idle{s}").recall
            rec.add_many([{"text": f"old {s} {i}", "id": f"i{i}"} for i in range(20)])
    ctx = multiprocessing.get_context("spawn")
    with ctx.Pool(WRITERS) as pool, Memory(url, encryption_key=NEW) as mem:
        pending = [pool.apply_async(recall_writer, (url, w)) for w in range(WRITERS)]
        deadline = time.monotonic() + 60
        control = mem.user("control")
        while len(control.get_many([f"started{w}" for w in range(WRITERS)])) < WRITERS:
            assert time.monotonic() < deadline, "the writers did not start"
            time.sleep(0.02)

        def slowly(counts: Reencrypted, keys: int) -> None:
            time.sleep(0.01)  # so that the run spans many writes of every writer

        done = mem.reencrypt(progress=slowly)
        control.set("stop", True)
        results = [p.get(timeout=60) for p in pending]
        # how many writes win their race depends on the machine's timing; the items no writer
        # touches are rewritten whatever it is
        assert done.failed == 0 and done.current > 0
        assert done.recall_items >= IDLE * (20 - TOUCHED)
        for last in results:
            assert last.pop("n") >= 16
            for name, text in last.items():
                scope, item = name.split(":")
                got = mem.user(scope).recall.get(item)
                assert (got and got.text) == text
        assert set(item_ids(mem)) == {"new"}
        # what each writer did not touch reads back as it was
        rec = mem.user("idle0").recall
        untouched = {f"i{i}" for i in range(20)} - {
            name.split(":")[1] for last in results for name in last if name.startswith("idle0:")
        }
        for item in untouched:
            assert rec.get(item).text == f"old 0 {item[1:]}"  # type: ignore[union-attr]
