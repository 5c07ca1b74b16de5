"""`encrypt_names=True`: scope ids, keys, thread ids and cache keys never appear in Redis,
while every lookup, listing, event, watch and erase still works with the plain names; on
every engine."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from pyredmem import (
    AsyncMemory,
    ConfigurationError,
    DecryptionError,
    Keyring,
    Memory,
    Message,
)
from pyredmem._crypto import Crypto
from pyredmem._keys import Keyspace, ScopeRef
from tests.stored import raw_dump

KEY = bytes(range(32))
OTHER = bytes(range(1, 33))
USER = "alice.secret@example.com"
SESSION = "sess-7f3a-private"
THREAD = "support-ticket-99812"
VKEY = "home-address-of-alice"
CKEY = "alice-card-lookup"
PLANTED = (b"alice.secret", b"sess-7f3a", b"support-ticket", b"home-address", b"alice-card")


def plant(mem: Memory) -> None:
    alice = mem.user(USER)
    alice.set(VKEY, "12 Rua Augusta")
    alice.set_many({"plan": "pro", "lang": "pt"})
    alice.incr("visits")
    h = alice.history(THREAD)
    h.extend([Message.user("hello"), Message.assistant("hi there")])
    h.fork(THREAD + "-b", upto=1)
    mem.cache("cards", ttl=60, scope=alice).set(CKEY, {"last4": "4242"})
    mem.cache("shared", ttl=60).set(CKEY, 1)
    mem.session(SESSION).set(VKEY, "s")
    mem.context(user=USER, session=SESSION).set("note", "n", scope="user")


def test_planted_names_never_reach_the_server_and_lookups_still_work(url: str) -> None:
    with Memory(url, encryption_key=KEY, encrypt_names=True, events="values") as mem:
        plant(mem)
        dump = raw_dump(mem)
        for marker in PLANTED:
            assert marker not in dump, marker
        alice = mem.user(USER)
        assert alice.keys() == sorted([VKEY, "plan", "lang", "visits", "note"])
        assert alice.get(VKEY) == "12 Rua Augusta"
        assert alice.get_many([VKEY, "plan", "nope"]) == {VKEY: "12 Rua Augusta", "plan": "pro"}
        assert alice.exists(VKEY) and alice.ttl(VKEY) is None
        assert sorted(t.id for t in alice.threads()) == [THREAD, THREAD + "-b"]
        assert [m.content for m in alice.history(THREAD).messages()] == ["hello", "hi there"]
        assert [m.content for m in alice.history(THREAD + "-b").messages()] == ["hello"]
        assert mem.cache("cards", ttl=60, scope=alice).get(CKEY) == {"last4": "4242"}
        assert mem.cache("shared", ttl=60).get(CKEY) == 1
        ctx = mem.context(session=SESSION, user=USER)
        assert ctx.get(VKEY) == "s"  # the session shadows the user
        assert ctx.get("plan") == "pro" and ctx.get("note") == "n"
        assert alice.delete(VKEY) and alice.get(VKEY) is None
        # the change log gives the plain names back
        events = alice.changes(values=True)
        assert (events[0].scope, events[0].key, events[0].value) == (USER, VKEY, "12 Rua Augusta")
        forks = [e for e in events if e.op == "fork"]
        assert [(e.key, e.source) for e in forks] == [(THREAD + "-b", THREAD)]


def test_without_encrypt_names_the_same_writes_show_the_names(url: str) -> None:
    with Memory(url, encryption_key=KEY) as mem:  # values sealed, names plain
        plant(mem)
        dump = raw_dump(mem)
        assert all(marker in dump for marker in PLANTED)  # so the test above can fail


def test_a_name_stored_encrypted_does_not_open_under_another_keyring(url: str) -> None:
    with Memory(url, encryption_key=KEY, encrypt_names=True) as mem:
        mem.user(USER).set(VKEY, 1)
    with Memory(url, encryption_key=OTHER, encrypt_names=True) as other:
        # another key: another stored name, so the scope looks empty, and no value leaks
        assert other.user(USER).keys() == [] and other.user(USER).get(VKEY) is None
    with Memory(url, encryption_key=KEY) as plain_names:
        assert plain_names.user(USER).keys() == []  # names differ without encrypt_names


def test_names_and_tenants_stay_apart(url: str) -> None:
    with (
        Memory(url, encryption_key=KEY, encrypt_names=True, tenant="a") as a,
        Memory(url, encryption_key=KEY, encrypt_names=True, tenant="b") as b,
    ):
        a.user(USER).set(VKEY, "a")
        b.user(USER).set(VKEY, "b")
        assert a.user(USER).get(VKEY) == "a" and b.user(USER).get(VKEY) == "b"
        # a value moved between the tenants' hashes fails, even under the same key and name
        src = a.client.hgetall(a.user(USER)._t.keys[0])
        b.client.hset(b.user(USER)._t.keys[0], mapping=src)
        with pytest.raises(DecryptionError):
            b.user(USER).get(VKEY)


def test_erase_finds_everything_under_encrypted_names(url: str) -> None:
    with Memory(url, encryption_key=KEY, encrypt_names=True) as mem:
        plant(mem)
        mem.user("bob").set("x", 1)
        erased = mem.user(USER).erase()
        assert erased.values == 5 and erased.threads == 2 and erased.cache_entries == 1
        left = raw_dump(mem)
        stored = mem._cfg.keyspace.stored_id(ScopeRef("user", USER))
        assert stored.encode() not in left
        assert mem.user("bob").get("x") == 1
        assert mem.cache("shared", ttl=60).get(CKEY) == 1  # not scoped: stays


def test_watch_by_exact_id_and_by_glob_gives_plain_names(url: str) -> None:
    with Memory(url, encryption_key=KEY, encrypt_names=True, events=True) as mem:
        with (
            mem.watch(f"user:{USER}", timeout=5) as exact,
            mem.watch("user:alice.*", timeout=5) as glob,
        ):
            mem.user("bob").set("x", 1)
            mem.user(USER).set(VKEY, 1)
            mem.user(USER).history(THREAD).append(Message.user("hi"))
            got_exact = [next(exact), next(exact)]
            got_glob = [next(glob), next(glob)]
        for got in (got_exact, got_glob):
            assert [(e.scope, e.target, e.key) for e in got] == [
                (USER, "value", VKEY),
                (USER, "thread", THREAD),
            ]


def test_async_twin_with_names(url: str) -> None:
    async def main() -> None:
        async with AsyncMemory(url, encryption_key=KEY, encrypt_names=True) as mem:
            alice = mem.user(USER)
            await alice.set(VKEY, [1, 2])
            await alice.history(THREAD).append(Message.user("x"))
            assert await alice.keys() == [VKEY]
            assert [t.id for t in await alice.threads()] == [THREAD]
            assert await mem.context(user=USER).get(VKEY) == [1, 2]

    asyncio.run(main())


# --- options and the cipher, with no server ------------------------------------------------


def test_encrypt_names_needs_a_key_and_a_names_key_with_several_keys() -> None:
    with pytest.raises(ConfigurationError, match="needs an encryption_key"):
        Memory("memory://", encrypt_names=True)
    with pytest.raises(ConfigurationError, match="True or False"):
        Memory("memory://", encryption_key=KEY, encrypt_names="yes")  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError, match="names the one that keys digests"):
        Keyring({"a": KEY, "b": OTHER}, primary="b")  # rotating would change every name
    named = Keyring({"a": KEY, "b": OTHER}, primary="b", names="a")
    Memory("memory://", encryption_key=named, encrypt_names=True).close()


def test_stored_names_are_deterministic_per_kind_and_round_trip() -> None:
    crypto = Crypto(Keyring.of(KEY), encrypt_names=True)
    ks = Keyspace("pm", None, crypto)
    a = ks.stored(USER, "key")
    assert a == ks.stored(USER, "key") and a != ks.stored(USER, "thread")
    assert ks.plain(a, "key") == USER
    assert "{" not in a and "}" not in a and ":" not in a
    with pytest.raises(DecryptionError):
        ks.plain(a, "thread")  # a name of another kind does not open as this one
    with pytest.raises(DecryptionError):
        ks.plain("not-a-stored-name", "key")
    ref = ScopeRef.of("user", USER)
    assert USER not in ks.prefix(ref) and ks.prefix(ScopeRef.of("global")) == "pm:{:global:}"
    assert ks.stored_label(ref) == f"user:{ks.stored_id(ref)}"
    # the same name under another names key is stored differently
    other = Keyspace("pm", None, Crypto(Keyring.of(OTHER), encrypt_names=True))
    assert other.stored(USER, "key") != a
    # a memo of names is bounded
    many: Any = [ks.stored(f"n{i}", "key") for i in range(20_000)]
    assert len(crypto._memo) <= 8192 * 2 and ks.plain(many[-1], "key") == "n19999"
