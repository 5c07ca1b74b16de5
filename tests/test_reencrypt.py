"""Key rotation: `mem.reencrypt()` leaves every stored value under the primary key id
(checked on the raw bytes, found by SCAN), values read back the same, values written
without encryption get encrypted, an interrupted run is finished by the next, and writers
running meanwhile lose nothing."""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import random
import subprocess
import sys
import time
from collections import Counter
from typing import Any

import msgpack
import pytest

from pyredmem import (
    AsyncMemory,
    ConfigurationError,
    DecryptionError,
    Keyring,
    Memory,
    Message,
    Reencrypted,
)
from pyredmem.__main__ import main
from pyredmem._crypto import key_id_of
from pyredmem._keys import ScopeRef
from pyredmem._ops.reencrypt import Reads, ReencryptPlan
from tests.engines import Engine

# fixed: the writer processes (spawned: this module imported again) need the same keys
K1, K2 = bytes(range(32)), bytes(range(100, 132))
OLD = Keyring({"old": K1}, primary="old")
# names="old": fact digests stay those of the key they were written under
NEW = Keyring({"old": K1, "new": K2}, primary="new", names="old")
NEW_NAMES_OLD = Keyring({"old": K1, "new": K2}, primary="old", names="old")


def _clients(engine: Engine, mem: Memory) -> list[Any]:
    """A client of each primary (the embedded store's own client)."""
    if not engine.real:
        return [mem.client]
    return [engine.admin(s) for s in engine.servers]


def stored_ids(engine: Engine, mem: Memory) -> Counter[str]:
    """The key id of every stored value, found by SCAN ("plain": not encrypted; numbers
    written by incr are left out), by kind: "v" scope values and cache entries, "t" turns,
    "f" fact objects."""
    found: Counter[str] = Counter()
    for client in _clients(engine, mem):
        for key in client.scan_iter(count=1000):
            kind = client.type(key)
            if kind == b"hash" and key.endswith(b":h"):
                fields = client.hgetall(key)
                for field, meta in fields.items():
                    if field.startswith(b"m:") and meta[:1] in (b"s", b"m"):
                        data = fields[b"d:" + field[2:]]
                        found["v:" + _id(data if meta[:1] == b"s" else None)] += 1
            elif kind == b"hash" and key.endswith(b":f"):
                for field, data in client.hgetall(key).items():
                    if field.startswith(b"d:"):
                        found["f:" + _id(data[1:] if data[:1] == b"s" else None)] += 1
            elif kind == b"list" and key.endswith(b":l"):
                for entry in client.lrange(key, 0, -1):
                    end = 21 + entry[20] if entry[19] == 0xD9 else 22 + (entry[20] << 8 | entry[21])
                    body = entry[end:]
                    sealed = body[:1] in (b"\xc4", b"\xc5", b"\xc6")
                    found["t:" + _id(msgpack.unpackb(body) if sealed else None)] += 1
    return found


def _id(blob: bytes | None) -> str:
    return "plain" if blob is None else str(key_id_of(blob))


def _fill(mem: Memory, scopes: int = 3, turns: int = 300) -> dict[str, Any]:
    """Values of every kind; returns what reads them back, by name."""
    cache = mem.cache("prices", ttl=3600)
    scoped = mem.cache("notes", ttl=3600, scope=mem.user("u0"))
    for s in range(scopes):
        user = mem.user(f"u{s}")
        user.set_many({f"k{i}": {"i": i, "s": "x" * i} for i in range(20)})
        user.set("n", 7)
        user.set("flag", True)
        user.incr("count", 3)
        cache.set(f"c{s}", [s, "price"])
        scoped.set(f"n{s}", f"note {s}")
    history = mem.user("u0").history("chat")
    history.extend([Message.user(f"turn {i}", name="al" if i % 2 else None) for i in range(turns)])
    facts = mem.user("u1").facts
    facts.add("alice", "lives_in", "Paris", valid_from=1_600_000_000)
    facts.correct("alice", "lives_in", "Lyon", valid_from=1_650_000_000)
    facts.add("alice", "likes", 42, cardinality="many")
    return _read(mem, scopes)


def _read(mem: Memory, scopes: int = 3, *, facts: bool = True) -> dict[str, Any]:
    out: dict[str, Any] = {}
    cache = mem.cache("prices", ttl=3600)
    scoped = mem.cache("notes", ttl=3600, scope=mem.user("u0"))
    for s in range(scopes):
        user = mem.user(f"u{s}")
        out[f"u{s}"] = user.get_many([f"k{i}" for i in range(20)] + ["n", "flag", "count"])
        out[f"c{s}"] = (cache.get(f"c{s}"), scoped.get(f"n{s}"))
    out["chat"] = [(m.id, m.content, m.name) for m in mem.user("u0").history("chat").messages()]
    if facts:
        store = mem.user("u1").facts
        out["facts"] = [
            (f.object, f.valid_from, f.recorded_to)
            for p in ("lives_in", "likes")
            for f in store.history("alice", p)
        ]
        out["find"] = store.find("lives_in", "Lyon")
    return out


def test_rotation_leaves_every_value_under_the_primary_key(engine: Engine, url: str) -> None:
    with Memory(url, encryption_key=OLD, events="values") as old:
        before = _fill(old)
    with Memory(url, encryption_key=NEW) as mem:
        ids = stored_ids(engine, mem)
        assert set(ids) == {"v:old", "t:old", "f:old"}
        done = mem.reencrypt()
        assert isinstance(done, Reencrypted)
        total = sum(ids.values())
        assert done.scanned == done.rewritten == total
        assert (done.current, done.lost_races, done.failed, done.migrated) == (0, 0, 0, 0)
        assert done.turns == ids["t:old"] == 300
        assert done.facts == ids["f:old"]
        assert done.values + done.cache_entries == ids["v:old"]
        assert done.cache_entries == 6
        assert done.events > 0  # the change logs, seen and left as they are
        after = stored_ids(engine, mem)
        assert after == Counter({k.replace(":old", ":new"): n for k, n in ids.items()})
        assert _read(mem) == before
        again = mem.reencrypt()
        assert again.rewritten == 0 and again.current == again.scanned == total
    with Memory(url, encryption_key=Keyring({"new": K2}, primary="new")) as new_only:
        assert new_only.user("u2").get("k3") == before["u2"]["k3"]
        assert new_only.user("u0").history("chat").messages(last=1)[0].content == "turn 299"


def test_plaintext_values_get_encrypted(engine: Engine, url: str) -> None:
    with Memory(url) as plain:
        before = _fill(plain, scopes=2, turns=10)
    with Memory(url, encryption_key=OLD) as mem:
        with pytest.raises(DecryptionError, match="reencrypt"):
            mem.user("u0").get("k1")
        with pytest.raises(DecryptionError, match="reencrypt"):
            mem.user("u0").history("chat").messages()
        done = mem.reencrypt()
        assert done.migrated == done.rewritten == done.values + done.turns + done.cache_entries
        assert done.turns == 10 and done.cache_entries == 4
        # fact objects keep their unkeyed digests: not migrated, and said so
        assert done.unmigrated_facts == 3 and done.facts == 0
        ids = stored_ids(engine, mem)
        assert {k for k in ids if not k.startswith("f:")} == {"v:old", "t:old"}
        after = _read(mem, 2, facts=False)
        assert after == {k: v for k, v in before.items() if k not in ("facts", "find")}
        assert mem.user("u0").incr("count") == 4  # counters stay plain numbers
        assert mem.reencrypt().rewritten == 0


def test_a_caches_numbers_get_encrypted_and_a_scopes_stay_counters(url: str) -> None:
    """A cache has no incr: its numbers are values like any, encrypted by the migration. A
    scope's number cannot be told from an incr counter: it stays readable."""
    with Memory(url) as plain:
        plain.cache("prices", ttl=600).set("EUR", 1.0825)
        plain.cache("prices", ttl=600, scope=plain.user("u")).set("stock", 424242)
        plain.user("u").set("age", 41)
    with Memory(url, encryption_key=OLD) as mem:
        done = mem.reencrypt()
        assert (done.cache_entries, done.migrated, done.values) == (2, 2, 0)
        raw = b"".join(mem.client.dump(k) or b"" for k in mem.client.scan_iter())
        assert b"1.0825" not in raw and b"424242" not in raw
        assert mem.cache("prices", ttl=600).get("EUR") == 1.0825
        assert mem.cache("prices", ttl=600, scope=mem.user("u")).get("stock") == 424242
        assert mem.user("u").get("age") == 41 and mem.user("u").incr("age") == 42


def test_data_of_a_lone_key_opens_with_a_keyring_holding_it(url: str) -> None:
    """The README's rotation: data written with `encryption_key=key` is read, and rotated,
    by a Keyring that holds that key under a name of its own."""
    key = os.urandom(32)
    with Memory(url, encryption_key=key) as mem:
        mem.user("alice").set("address", "12 Rua Augusta, Lisbon")
        mem.user("alice").recall.add("likes jazz piano", id="r1")
    ring = Keyring({"2025": key, "2026": os.urandom(32)}, primary="2026", names="2025")
    with Memory(url, encryption_key=ring) as mem:
        alice = mem.user("alice")
        assert alice.get("address") == "12 Rua Augusta, Lisbon"
        assert [h.id for h in alice.recall.search("jazz", k=1)] == ["r1"]
        done = mem.reencrypt()
        assert (done.values, done.recall_items, done.failed) == (1, 1, 0)
    with Memory(url, encryption_key=Keyring({"2026": ring.key("2026")}, primary="2026")) as mem:
        assert mem.user("alice").get("address") == "12 Rua Augusta, Lisbon"


class Stop(Exception):
    pass


def test_an_interrupted_run_is_finished_by_the_next(engine: Engine, url: str) -> None:
    with Memory(url, encryption_key=OLD) as old:
        for s in range(40):
            old.user(f"s{s}").set_many({f"k{i}": i for i in range(5)})
    with Memory(url, encryption_key=NEW) as mem:
        seen: list[Reencrypted] = []

        def stop_after_10_keys(counts: Reencrypted, keys: int) -> None:
            assert keys == 40
            seen.append(counts)
            if counts.keys >= 10:
                raise Stop

        with pytest.raises(Stop):
            mem.reencrypt(progress=stop_after_10_keys)
        ids = stored_ids(engine, mem)
        assert ids["v:new"] >= 50 and ids["v:old"] > 0
        rest = mem.reencrypt()
        assert rest.rewritten == ids["v:old"] and rest.current == ids["v:new"]
        assert stored_ids(engine, mem) == Counter({"v:new": 200})
        assert mem.user("s39").get("k4") == 4


def test_progress_bar_and_final_counts_on_stderr(
    url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with Memory(url, encryption_key=OLD) as old:
        old.user("a").set("k", "v")
    with Memory(url, encryption_key=NEW) as mem:
        mem.reencrypt(progress=True)
    err = capsys.readouterr().err
    assert "reencrypt [" in err and "1/1 keys" in err and "1 rewritten" in err
    assert err.endswith("\n")


def test_rotation_with_encrypted_names(engine: Engine, url: str) -> None:
    with Memory(url, encryption_key=NEW_NAMES_OLD, encrypt_names=True) as old:
        before = _fill(old, scopes=2, turns=5)
    with Memory(url, encryption_key=NEW, encrypt_names=True) as mem:
        done = mem.reencrypt()
        assert done.rewritten == done.scanned > 0 and done.failed == 0
        assert set(stored_ids(engine, mem)) == {"v:new", "t:new", "f:new"}
        assert _read(mem, 2) == before


def test_reencrypt_needs_a_key(url: str) -> None:
    with Memory(url) as mem, pytest.raises(ConfigurationError, match="encryption_key"):
        mem.reencrypt()


def test_other_tenants_are_left_alone(engine: Engine, url: str) -> None:
    with Memory(url, encryption_key=OLD, tenant="acme") as acme:
        acme.user("a").set("k", "acme")
    with Memory(url, encryption_key=OLD) as old:
        old.user("a").set("k", "none")
    with Memory(url, encryption_key=NEW, tenant="acme") as mem:
        assert mem.reencrypt().rewritten == 1
        assert stored_ids(engine, mem) == Counter({"v:new": 1, "v:old": 1})


def test_async_twin(engine: Engine, url: str) -> None:
    with Memory(url, encryption_key=OLD) as old:
        old.user("a").history("t").extend([Message.user("hi"), Message.assistant("yo")])
        old.user("a").set("k", {"deep": [1, 2]})

    async def go() -> Reencrypted:
        async with AsyncMemory(url, encryption_key=NEW) as amem:
            return await amem.reencrypt()

    done = asyncio.run(go())
    assert (done.values, done.turns, done.rewritten) == (1, 2, 3)
    with Memory(url, encryption_key=NEW) as mem:
        assert stored_ids(engine, mem) == Counter({"v:new": 1, "t:new": 2})
        assert [m.content for m in mem.user("a").history("t").messages()] == ["hi", "yo"]


# ---------------------------------------------------------------------------- the CLI


def test_rotate_key_command(engine: Engine, url: str, tmp_path: Any) -> None:
    import base64
    import json

    with Memory(url, encryption_key=OLD, tenant="t1") as old:
        old.user("a").set_many({"x": 1, "y": "two"})
    ring = {"primary": "new", "names": "old", "keys": {"old": base64.b64encode(K1).decode()}}
    ring["keys"]["new"] = base64.urlsafe_b64encode(K2).decode()
    path = tmp_path / "ring.json"
    path.write_text(json.dumps(ring))
    argv = ["rotate-key", "--url", url, "--tenant", "t1", "--keyring", str(path), "--json"]
    if not engine.real:  # the embedded store lives in this process
        assert main(argv) == 0
    else:
        out = subprocess.run(
            [sys.executable, "-m", "pyredmem", *argv], capture_output=True, text=True, check=True
        )
        counts = json.loads(out.stdout)
        assert counts["rewritten"] == 2 and counts["values"] == 2
        assert "2 rewritten" in out.stderr  # the progress line
    with Memory(url, encryption_key=NEW, tenant="t1") as mem:
        assert stored_ids(engine, mem) == Counter({"v:new": 2})
    # the keyring from the environment; nothing left to rewrite
    env = {**os.environ, "PYREDMEM_KEYRING": json.dumps(ring)}
    if engine.real:
        out = subprocess.run(
            [sys.executable, "-m", "pyredmem", "rotate-key", "--url", url, "--tenant", "t1"],
            capture_output=True,
            text=True,
            check=True,
            env=env,
        )
        assert "2 current" in out.stdout


def test_rotate_key_refuses_a_bad_keyring(
    tmp_path: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "ring.json"
    path.write_text('{"primary": "b", "keys": {"a": "AAAA"}}')
    assert main(["rotate-key", "--url", "memory://", "--keyring", str(path)]) == 2
    assert "pyredmem:" in capsys.readouterr().err


# ---------------------------------------------------------------------------- under load

WRITERS = 4
TOUCHED = 10  # the writers overwrite keys k0..k9 only: k10..k19 stay as they were


def rotate_writer(url: str, w: int) -> dict[str, Any]:
    """With the new keyring, until the test says stop: overwrite random values k0..k9 of the
    scopes idle<s> for s = w mod WRITERS (which the run is rotating meanwhile) and cache
    entries, and append to this writer's thread (300 turns at most, so each append trims
    the oldest). Returns what it wrote last."""
    rng = random.Random(w)
    last: dict[str, Any] = {}
    sent: list[str] = []
    with Memory(url, encryption_key=NEW) as mem:
        control = mem.user("control")
        cache = mem.cache("load", ttl=3600)
        thread = mem.user(f"a-w{w}").history("chat", max_turns=300)
        n = 0
        while n % 64 or not control.get("stop"):
            s, i = rng.randrange(w, IDLE, WRITERS), rng.randrange(TOUCHED)
            value = {"w": w, "n": n}
            mem.user(f"idle{s}").set(f"k{i}", value)
            last[f"idle{s}:k{i}"] = value
            if n % 4 == 0:
                cache.set(f"w{w}:{i}", value)
                last[f"cache:w{w}:{i}"] = value
                text = f"w{w} turn {n}"
                thread.append(Message.user(text))
                sent.append(text)
            n += 1
    last["turns"] = sent[-300:]
    last["n"] = n
    return last


IDLE = 200


@pytest.mark.real_server
def test_rotation_under_load_loses_no_write(engine: Engine, url: str) -> None:
    with Memory(url, encryption_key=OLD) as old:
        for s in range(IDLE):
            old.user(f"idle{s}").set_many({f"k{i}": ["old", s, i] for i in range(20)})
        cache = old.cache("load", ttl=3600)
        for w in range(WRITERS):
            for i in range(20):
                cache.set(f"w{w}:{i}", "old")
            thread = old.user(f"a-w{w}").history("chat", max_turns=300)
            thread.extend([Message.user(f"old {i}") for i in range(300)])
    ctx = multiprocessing.get_context("spawn")
    with ctx.Pool(WRITERS) as pool, Memory(url, encryption_key=NEW) as mem:
        pending = [pool.apply_async(rotate_writer, (url, w)) for w in range(WRITERS)]
        deadline = time.monotonic() + 60
        while any(
            mem.user(f"a-w{w}").history("chat").messages(last=1)[0].content.startswith("old")
            for w in range(WRITERS)
        ):
            assert time.monotonic() < deadline, "the writers did not start"
            time.sleep(0.02)

        def slowly(counts: Reencrypted, keys: int) -> None:
            time.sleep(0.003)  # so that the run spans many writes of every writer

        done = mem.reencrypt(progress=slowly)
        mem.user("control").set("stop", True)
        results = [p.get(timeout=60) for p in pending]
        # how many writes win their race depends on the machine's timing; the values no
        # writer touches are rewritten whatever it is
        assert done.failed == 0 and done.current > 0
        assert done.values >= IDLE * (20 - TOUCHED)
        cache = mem.cache("load", ttl=3600)
        for w, last in enumerate(results):
            for name, value in last.items():
                if name.startswith("idle"):
                    scope, key = name.split(":")
                    assert mem.user(scope).get(key) == value
                elif name.startswith("cache:"):
                    assert cache.get(name[6:]) == value
            turns = mem.user(f"a-w{w}").history("chat").messages()
            expected = ([f"old {i}" for i in range(300)] + last["turns"])[-300:]
            assert [m.content for m in turns] == expected
        ids = stored_ids(engine, mem)
        assert set(ids) == {"v:new", "t:new"}, ids


def test_turns_that_move_under_a_run_are_all_rewritten(engine: Engine, url: str) -> None:
    """A thread trimmed at its head between the steps of a run (the job driven by hand)."""
    with Memory(url, encryption_key=OLD) as old:
        old.user("a").history("chat", max_turns=600).extend(
            [Message.user(f"old {i}") for i in range(600)]
        )
    with Memory(url, encryption_key=NEW) as mem, Memory(url, encryption_key=NEW) as writer:
        thread = writer.user("a").history("chat", max_turns=600)
        plan = ReencryptPlan(mem._cfg)
        key = mem._cfg.keyspace.prefix(ScopeRef.of("user", "a")) + ":t:chat:l"
        job = plan.job(key)
        assert job is not None
        runner = mem._runner
        step, n = next(job), 0
        try:
            while True:
                if isinstance(step, Reads):
                    replies = runner.pipelined(step.commands)
                else:
                    replies = runner.run_all(step.calls)
                n += 1
                if n % 2 == 0:  # trims the oldest turns: the rest move to lower indexes
                    thread.extend([Message.user(f"new {n}.{i}") for i in range(n % 7 + 1)])
                step = job.send(replies)
        except StopIteration as stop:
            done = stop.value
        # a turn trimmed after it was read counts as a lost race (the writer's trim won)
        assert done.rewritten + done.current + done.lost_races == done.scanned
        assert done.failed == 0
        assert stored_ids(engine, mem) == Counter({"t:new": 600})
        turns = mem.user("a").history("chat").messages()
        assert len(turns) == 600 and turns[-1].content.startswith("new")
