"""Fact subjects with `encrypt_names=True`: never stored as given (key names, hash fields,
zset members, change-log entries, DUMPs), while every fact operation, event, watch,
rotation and erase gives them back plain; and `facts.subjects()`, the paged listing of a
scope's subjects (with and without encrypted names, and from the command line); on every
engine."""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from pyredmem import (
    AsyncMemory,
    DecryptionError,
    Facts,
    InvalidKeyError,
    InvalidValueError,
    Keyring,
    Memory,
)
from pyredmem._config import Config
from pyredmem._crypto import Crypto
from pyredmem._keys import Keyspace, ScopeRef
from pyredmem._ops import facts as ops
from tests.stored import everything

KEY = bytes(range(32))
OTHER = bytes(range(1, 33))
ALICE = "alice.secret@example.com"
BOB = "bob-private-subject"
CAROL = "carol-hidden-person"
PLANTED = (b"alice.secret", b"bob-private", b"carol-hidden")
UTC = dt.timezone.utc
JAN, JUN = dt.datetime(2024, 1, 1, tzinfo=UTC), dt.datetime(2024, 6, 1, tzinfo=UTC)

Run = Callable[..., tuple[int, str, str]]


def plant(mem: Memory) -> None:
    """Facts about the planted subjects through every writing operation."""
    user = mem.user("u1").facts
    user.add(ALICE, "lives_in", "Tokyo", valid_from=JAN, source="chat")
    user.add(ALICE, "lives_in", "Osaka", valid_from=JUN)
    user.correct(ALICE, "lives_in", "Kobe", replacing="Osaka")
    user.add(ALICE, "speaks", "fr", cardinality="many")
    user.add(ALICE, "speaks", "ja", cardinality="many")
    user.add(BOB, "lives_in", "Osaka")
    user.add(BOB, "mood", "calm")
    user.retract(BOB, "mood")
    # the session's claim shadows the user's in a context
    mem.context(user="u1", session="s1").facts.add(CAROL, "lives_in", "Kobe")
    mem.context(user="u1", session="s1").facts.add(BOB, "lives_in", "Kyoto", scope="session")


def check_reads(mem: Memory) -> None:
    """What `plant` wrote, read back with plain subjects."""
    user = mem.user("u1").facts
    assert user.get(ALICE, "lives_in") == "Kobe"
    assert user.get(ALICE, "lives_in", as_of=dt.date(2024, 3, 1)) == "Tokyo"
    assert user.about(ALICE) == {"lives_in": "Kobe", "speaks": ["fr", "ja"]}
    assert user.about(BOB) == {"lives_in": "Osaka"}  # mood retracted
    assert user.find("lives_in", "Osaka") == [BOB]
    assert user.find("lives_in", "Kobe") == [ALICE]
    history = user.history(ALICE, "lives_in")
    assert {f.subject for f in history} == {ALICE} and len(history) == 4
    assert [f.object for f in history if f.recorded_to is None] == ["Tokyo", "Kobe"]
    assert user.subjects() == sorted([ALICE, BOB], key=lambda s: stored(mem, s))
    ctx = mem.context(session="s1", user="u1").facts
    assert ctx.get(BOB, "lives_in") == "Kyoto" and ctx.get(ALICE, "lives_in") == "Kobe"
    assert ctx.find("lives_in", "Kobe") == sorted([ALICE, CAROL])
    assert ctx.find("lives_in", "Osaka") == []  # the session's Kyoto shadows it
    assert ctx.about(CAROL) == {"lives_in": "Kobe"}
    assert [f.subject for f in ctx.history(CAROL, "lives_in")] == [CAROL]
    assert sorted(ctx.subjects()) == sorted([ALICE, BOB, CAROL])


def stored(mem: Memory, subject: str) -> str:
    return mem._cfg.keyspace.stored(subject, "subject")


# ------------------------------------------------------------------- encrypted subjects


def test_planted_subjects_never_reach_the_server_and_reads_give_them_back(url: str) -> None:
    with Memory(url, encryption_key=KEY, encrypt_names=True, events="values") as mem:
        plant(mem)
        dump = everything(mem)
        for marker in PLANTED:
            assert marker not in dump, marker
        check_reads(mem)
        # writes return the plain subject too
        fact = mem.user("u1").facts.correct(BOB, "lives_in", "Nara")
        assert fact.subject == BOB and mem.user("u1").facts.retract(BOB, "lives_in") == 1
        # the change log: plain subjects, objects opened
        events = [e for e in mem.user("u1").changes(values=True) if e.target == "fact"]
        assert (events[0].key, events[0].predicate, events[0].value) == (ALICE, "lives_in", "Tokyo")
        assert {e.key for e in events} == {ALICE, BOB}
        assert [e.op for e in events if e.key == BOB][-2:] == ["correct", "retract"]


def test_without_encrypt_names_subjects_are_stored_as_given(url: str) -> None:
    with Memory(url, encryption_key=KEY, events="values") as mem:  # objects sealed only
        plant(mem)
        dump = everything(mem)
        assert all(marker in dump for marker in PLANTED)  # so the test above can fail
        check_reads(mem)
        # the layout of lua/_prelude.lua, byte for byte, the subject as given
        f, i = mem.user("u1").facts._stores[0].keys
        subject = ALICE.encode()
        assert b"p\0" + subject + b"\0lives_in" in mem.client.zrange(i, 0, -1)
        assert mem.client.hexists(f, b"h:" + subject + b"\0lives_in")
        assert mem.user("u1").changes()[0].key == ALICE


def test_another_names_key_does_not_see_them(url: str) -> None:
    with Memory(url, encryption_key=KEY, encrypt_names=True) as mem:
        mem.user("u1").facts.add(ALICE, "lives_in", "Tokyo")
        mem.facts().add(ALICE, "lives_in", "Tokyo")  # global: its id is not encrypted
    # the same value key, another names key: another stored subject
    ring = Keyring({"v": KEY, "n": OTHER}, primary="v", names="n")
    with Memory(url, encryption_key=ring, encrypt_names=True) as other:
        assert other.user("u1").facts.subjects() == []  # another scope id too
        facts = other.facts()
        assert facts.get(ALICE, "lives_in") is None and facts.about(ALICE) == {}
        assert facts.history(ALICE, "lives_in") == []
        with pytest.raises(DecryptionError):  # listed, but not one of its names
            facts.subjects()
    with Memory(url, encryption_key=KEY) as plain_names:
        facts = plain_names.facts()
        assert facts.get(ALICE, "lives_in") is None
        (opaque,) = facts.subjects()  # as stored
        assert opaque != ALICE and opaque == stored(mem, ALICE)


def test_validation_is_of_the_plain_subject(url: str) -> None:
    with Memory(url, encryption_key=KEY, encrypt_names=True) as sealed:
        facts = sealed.user("u1").facts
        longest = "é" * 256  # 512 bytes: stored longer, still accepted
        facts.add(longest, "p", 1)
        assert facts.get(longest, "p") == 1 and facts.subjects() == [longest]
        assert len(stored(sealed, longest)) > 512
        for bad in ("", "a\nb", "é" * 257, 7):
            with pytest.raises(InvalidKeyError):
                facts.add(bad, "p", 1)
            with pytest.raises(InvalidKeyError):
                facts.subjects(after=bad)


def test_watch_gives_plain_subjects(url: str) -> None:
    with Memory(url, encryption_key=KEY, encrypt_names=True, events="values") as mem:
        with mem.watch("user:u1", timeout=5, values=True) as watch:
            mem.user("u1").facts.add(ALICE, "lives_in", "Tokyo")
            event = next(watch)
        assert (event.target, event.key, event.predicate) == ("fact", ALICE, "lives_in")
        assert event.value == "Tokyo"


def test_rotation_and_erase_with_encrypted_subjects(url: str) -> None:
    old = Keyring({"old": KEY}, primary="old")
    with Memory(url, encryption_key=old, encrypt_names=True) as mem:
        plant(mem)
    new = Keyring({"old": KEY, "new": OTHER}, primary="new", names="old")
    with Memory(url, encryption_key=new, encrypt_names=True) as mem:
        done = mem.reencrypt()
        assert done.failed == 0 and done.lost_races == 0 and done.facts > 0
        assert mem.reencrypt().rewritten == 0  # all under the new key now
    with Memory(url, encryption_key=new, encrypt_names=True) as mem:
        check_reads(mem)
        erased = mem.user("u1").erase()
        assert erased.facts > 0 and mem.user("u1").facts.subjects() == []
        assert sorted(mem.session("s1").facts.subjects()) == sorted([BOB, CAROL])
        left = everything(mem)
        assert stored(mem, ALICE).encode() not in left


# ------------------------------------------------------------------------ subjects()


def _many(facts: Facts) -> dict[str, int]:
    """Subjects with 1 to 40 predicates each (and one retracted): subject -> predicates."""
    counts = {f"s{n:02d}": 1 + (n * 7) % 5 for n in range(12)}
    counts["heavy"] = 40
    counts["heavy-too"] = 3  # "heavy" is a prefix of it: sorts right after
    for subject, n in counts.items():
        for p in range(n):
            facts.add(subject, f"p{p:02d}", p)
    facts.retract("s00", "p00")  # retracted, still listed
    return counts


def _pages(facts: Facts, limit: int) -> list[list[str]]:
    pages, after = [], None
    while True:
        page = facts.subjects(limit=limit, after=after)
        pages.append(page)
        if len(page) < limit:
            return pages
        after = page[-1]


@pytest.mark.parametrize("names", [False, True], ids=["plain", "encrypted"])
def test_subjects_pages(url: str, names: bool) -> None:
    with Memory(url, encryption_key=KEY, encrypt_names=names) as mem:
        facts = mem.user("u1").facts
        assert facts.subjects() == []  # an empty scope
        counts = _many(facts)
        order = sorted(counts, key=lambda s: stored(mem, s))
        if not names:
            assert order == sorted(counts)
        assert facts.subjects() == order
        assert facts.subjects(limit=1000) == order
        for limit in (1, 2, 3, 5, len(order), len(order) + 1):
            pages = _pages(facts, limit)
            # every page full but the last, each subject once, in order
            assert all(len(p) == limit for p in pages[:-1]) and len(pages[-1]) < limit
            assert [s for p in pages for s in p] == order, limit
        assert facts.subjects(limit=2, after=order[-1]) == []
        # `after` need not be a subject: the page starts where it would sort
        missing = "heavy-"
        want = [s for s in order if stored(mem, s) > stored(mem, missing)]
        assert facts.subjects(after=missing) == want
        assert mem.user("u2").facts.subjects() == []  # another scope's are not listed
        assert facts.clear() > 0 and facts.subjects() == []


def test_a_subject_with_many_predicates_does_not_shorten_a_page(mem: Memory) -> None:
    facts = mem.user("u1").facts
    for p in range(300):
        facts.add("a", f"p{p:03d}", p)
    facts.add("b", "p", 1)
    facts.add("c", "p", 1)
    assert facts.subjects(limit=2) == ["a", "b"]
    assert facts.subjects(limit=2, after="b") == ["c"]
    assert facts.subjects(limit=3) == ["a", "b", "c"]


@pytest.mark.parametrize("limit", [0, -1, 1001, True, 2.0, "5", None])
def test_subjects_limit_is_checked(mem: Memory, limit: Any) -> None:
    with pytest.raises(InvalidValueError, match="limit must be a positive integer from 1 to 1000"):
        mem.user("u1").facts.subjects(limit=limit)


def test_subjects_of_a_context_are_those_of_every_bound_scope(mem: Memory) -> None:
    mem.user("u1").facts.add("a", "p", 1)
    mem.user("u1").facts.add("c", "p", 1)
    mem.session("s1").facts.add("b", "p", 1)
    mem.session("s1").facts.add("c", "q", 1)
    facts = mem.context(session="s1", user="u1").facts
    assert facts.subjects() == ["a", "b", "c"]
    assert facts.subjects(limit=2) == ["a", "b"]
    assert facts.subjects(limit=2, after="b") == ["c"]


def test_async_twin(url: str) -> None:
    async def run() -> None:
        async with AsyncMemory(url, encryption_key=KEY, encrypt_names=True) as mem:
            facts = mem.user("u1").facts
            await facts.add(ALICE, "lives_in", "Tokyo")
            await facts.add(BOB, "lives_in", "Tokyo")
            assert sorted(await facts.subjects()) == [ALICE, BOB]
            assert sorted(await facts.find("lives_in", "Tokyo")) == [ALICE, BOB]
            first = await facts.subjects(limit=1)
            assert await facts.subjects(after=first[0]) == [({ALICE, BOB} - set(first)).pop()]
            ctx = mem.context(user="u1").facts
            assert sorted(await ctx.subjects()) == [ALICE, BOB]

    asyncio.run(run())


# ---------------------------------------------------------- the core, with canned replies


def test_subjects_calls_and_answer_without_a_server() -> None:
    plain_cfg = Config(keyspace=Keyspace("ns", "t"))
    stores = [ops.FactStore(plain_cfg, ScopeRef.of(k, "x")) for k in ("session", "user")]
    groups = ops.plan_groups(stores, per_slot=False)
    calls, answer = ops.facts_subjects(stores, groups, limit=3, after="b")
    (call,) = calls
    assert call.keys == ("ns:{t:session:x}:fi", "ns:{t:user:x}:fi") and call.args == (3, "b")
    assert call.readonly and call.command is None
    pages = call.parse([[b"c", b"e"], [b"c", b"d", b"\xc3\xa9"]])  # a page per scope
    assert answer([pages]) == ["c", "d", "e"]  # merged, each once, the first 3
    # one call per cluster slot, merged the same way
    calls, answer = ops.facts_subjects(
        stores, ops.plan_groups(stores, per_slot=True), limit=9, after=None
    )
    assert [c.args for c in calls] == [(9, "")] * 2
    assert answer([[["z"]], [["a", "z"]]]) == ["a", "z"]
    # encrypted names: `after` is sent as stored, the answer given back plain
    crypto = Crypto(Keyring.of(KEY), encrypt_names=True)
    sealed_cfg = Config(keyspace=Keyspace("ns", "t", crypto), crypto=crypto)
    store = ops.FactStore(sealed_cfg, ScopeRef.of("user", "x"))
    (call,), answer = ops.facts_subjects(
        [store], ops.plan_groups([store], False), limit=2, after=ALICE
    )
    assert call.args == (2, store.stored(ALICE)) and ALICE not in str(call.args)
    assert answer([[[store.stored(BOB), store.stored(ALICE)]]]) == sorted(
        [ALICE, BOB], key=store.stored
    )
    # the subject of a write is sent as stored, its Fact plain
    add = ops.facts_add(store, ALICE, "lives_in", "Tokyo")
    assert add.args[:2] == (store.stored(ALICE), "lives_in") and add.key == ALICE
    assert add.parse([1, ops.OFFSET, ops.OPEN, 5, b"1"]).subject == ALICE


# -------------------------------------------------------------------------- the CLI


def test_the_cli_lists_a_scopes_subjects(url: str, cli: Run) -> None:
    with Memory(url) as mem:
        facts = mem.user("u1").facts
        for n in range(1005):  # more than one call's page
            facts.add(f"s{n:04d}", "p", n)
        facts.add("s0000", "q", 1)
        mem.facts().add("g", "p", 1)
    code, out, _ = cli("facts", "user", "u1")
    assert code == 0 and out.splitlines() == [f"s{n:04d}" for n in range(1005)]
    code, out, _ = cli("facts", "global", "-", "--json")
    assert json.loads(out) == {"scope": "global", "subjects": ["g"]}
    code, out, err = cli("facts", "user", "nobody")
    assert (code, out) == (0, "") and "no facts in user:nobody" in err
    code, out, _ = cli("facts", "user", "nobody", "--json")
    assert json.loads(out) == {"scope": "user:nobody", "subjects": []}
    for option in ("--predicate", "--as-of", "--known-at"):
        code, _, err = cli("facts", "user", "u1", option, "x")
        assert code == 2 and f"{option} reads a SUBJECT's facts" in err


def test_the_cli_lists_encrypted_subjects_plain(url: str, cli: Run, tmp_path: Path) -> None:
    ring = Keyring({"k1": KEY}, primary="k1")
    with Memory(url, encryption_key=ring, encrypt_names=True) as mem:
        mem.user(ALICE).facts.add(ALICE, "lives_in", "Tokyo")
        mem.user(ALICE).facts.add(BOB, "lives_in", "Kobe")
    path = tmp_path / "ring.json"
    path.write_text(json.dumps({"primary": "k1", "keys": {"k1": base64.b64encode(KEY).decode()}}))
    sealed = ["--keyring", str(path), "--encrypt-names"]
    code, out, _ = cli("facts", "user", ALICE, *sealed, "--json")
    assert code == 0 and sorted(json.loads(out)["subjects"]) == [ALICE, BOB]
    code, out, _ = cli("facts", "user", ALICE, ALICE, *sealed, "--json")
    assert json.loads(out) == {"subject": ALICE, "facts": {"lives_in": "Tokyo"}}
    code, out, _ = cli("facts", "user", ALICE, BOB, "--predicate", "lives_in", *sealed, "--json")
    assert [v["subject"] for v in json.loads(out)] == [BOB]
