"""`encrypt_names=True` for rate limiters and semaphores: their subject keys and groups
never appear in Redis, while hit, peek, reset, hit_many, batches and semaphore leases
behave as without encryption; without it, their keys are as they always were. On every
engine."""

from __future__ import annotations

import asyncio
import base64
import json
import re
from pathlib import Path

import pytest

from pyredmem import AsyncMemory, Keyring, Limiter, Memory
from pyredmem._cli import build_parser, main
from pyredmem._cli._common import guarded
from pyredmem._crypto import Crypto
from pyredmem._keys import Keyspace, key_slot
from pyredmem._ops.limiter import Rule, subject_tag
from pyredmem._ops.semaphore import SemaphoreRule
from tests.engines import Engine
from tests.stored import raw_dump

KEY = bytes(range(32))
OTHER = bytes(range(1, 33))
USER = "alice.secret@example.com"
PEER = "bob.private@example.com"
ORG = "acme-holdings-confidential"
HOLDER = "carol.hidden@example.com"
PLANTED = (b"alice.secret", b"bob.private", b"acme-holdings", b"carol.hidden")
ALGORITHMS = ("gcra", "fixed", "sliding")
BASE64URL = re.compile(r"[A-Za-z0-9_-]+")
#: `pyredmem limits show` of the limiter `_spend` spends from
SHOW = ["limits", "show", "api", USER, "--limit", "5", "--period", "3600", "--json"]


def key_names(mem: Memory, match: str = "*") -> list[bytes]:
    """Every key name (that `match` matches), on every primary."""
    return list(mem.client.scan_iter(match=match, count=1000))


def plant(mem: Memory) -> None:
    """Limiter and semaphore state for every planted subject, through every operation."""
    for algorithm in ALGORITHMS:
        lim = mem.limiter(f"api-{algorithm}", limit=5, period=3600, algorithm=algorithm)
        lim.hit(USER)
        lim.hit(USER, 2)
        lim.peek(USER)
        lim.hit(ORG, group=ORG)
    user = mem.limiter("user", limit=2, period=3600, algorithm="fixed")
    org = mem.limiter("org", limit=3, period=3600, algorithm="sliding")
    mem.hit_many([(user, PEER), (org, ORG)], group=ORG)
    with mem.batch() as b:
        b.on(user).hit(USER, group=ORG)
        b.on(org).peek(PEER, group=ORG)
    sem = mem.semaphore("llm", limit=2, lease=60)
    lease = sem.acquire(HOLDER)
    assert lease is not None and sem.renew(lease)
    with mem.batch() as b:
        b.on(sem).renew(lease)
    sem.acquire(USER)


def test_planted_subjects_are_in_key_names_without_encrypt_names(url: str) -> None:
    """The control: the same planting puts every subject in a key name, so the test below
    would fail if encryption left any of them there."""
    with Memory(url, encryption_key=KEY) as mem:  # values sealed, names plain
        plant(mem)
        names = b"\n".join(key_names(mem))
        for marker in PLANTED:
            assert marker in names, marker


def test_planted_subjects_never_reach_the_server(url: str) -> None:
    with Memory(url, encryption_key=KEY, encrypt_names=True) as mem:
        plant(mem)
        dump = raw_dump(mem)
        assert key_names(mem)  # something was stored
        for marker in PLANTED:
            assert marker not in dump, marker
        # limiter and semaphore names, chosen by the developer, stay plain
        names = b"\n".join(key_names(mem))
        assert b":rl:api-gcra:" in names and b":sem:llm:" in names and b":grp:" in names


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_hit_peek_and_reset_behave_as_without_encryption(url: str, algorithm: str) -> None:
    seen = []
    for names in (False, True):
        with Memory(
            url, namespace=f"n{int(names)}", encryption_key=KEY, encrypt_names=names
        ) as mem:
            lim = mem.limiter("api", limit=3, period=3600, algorithm=algorithm)
            before = lim.peek(USER)
            hits = [lim.hit(USER) for _ in range(4)]
            after = lim.peek(USER)
            other = lim.hit(PEER, 2)
            reset = (lim.reset(USER), lim.reset(USER))
            again = lim.hit(USER, 3)
            seen.append(
                (
                    (before.allowed, round(before.remaining)),
                    [(d.allowed, round(d.remaining)) for d in hits],
                    (after.allowed, round(after.remaining)),
                    (other.allowed, round(other.remaining)),
                    reset,
                    (again.allowed, round(again.remaining)),
                )
            )
    plain, encrypted = seen
    assert encrypted == plain
    assert plain[1] == [(True, 2), (True, 1), (True, 0), (False, 0)]
    assert plain[4] == (True, False)


def test_groups_and_hit_many_behave_as_without_encryption(engine: Engine, url: str) -> None:
    seen = []
    for names in (False, True):
        with Memory(
            url, namespace=f"n{int(names)}", encryption_key=KEY, encrypt_names=names
        ) as mem:
            user = mem.limiter("user", limit=2, period=3600, algorithm="fixed")
            org = mem.limiter("org", limit=3, period=3600, algorithm="sliding")
            tokens = mem.limiter("tokens", limit=1000, period=3600)
            results = []
            for who in (USER, USER, USER, PEER, PEER):
                checks: list[tuple[Limiter, str] | tuple[Limiter, str, float]]
                checks = [(user, who), (org, ORG), (tokens, ORG, 300)]
                results.append(mem.hit_many(checks, group=ORG).allowed)
            remaining = [
                round(user.peek(USER, group=ORG).remaining),
                round(user.peek(PEER, group=ORG).remaining),
                round(org.peek(ORG, group=ORG).remaining),
                round(tokens.peek(ORG, group=ORG).remaining),
            ]
            # a group's keys share one slot, whatever their subjects (a cluster refuses
            # the hit_many above otherwise)
            slots = {key_slot(k.decode()) for k in key_names(mem, f"n{int(names)}:*")}
            assert len(slots) == 1
            assert user.reset(USER, group=ORG) and not user.reset(USER)
            seen.append((results, remaining, round(user.peek(USER, group=ORG).remaining)))
    plain, encrypted = seen
    assert encrypted == plain
    assert plain == ([True, True, False, True, False], [0, 1, 0, 100], 2)


def test_semaphores_behave_as_without_encryption(url: str) -> None:
    seen = []
    for names in (False, True):
        with Memory(
            url, namespace=f"n{int(names)}", encryption_key=KEY, encrypt_names=names
        ) as mem:
            sem = mem.semaphore("llm", limit=2, lease=60)
            a, b = sem.acquire(HOLDER), sem.acquire(HOLDER)
            assert a is not None and b is not None
            full = sem.acquire(HOLDER)
            elsewhere = sem.acquire(USER) is not None  # each key has its own slots
            renewed = sem.renew(a)
            released = (sem.release(a), sem.release(a))
            c = sem.acquire(HOLDER)
            with sem.hold(PEER) as held:
                holders = held.holders
            seen.append((full, elsewhere, renewed, released, c is not None, a.key, holders))
    plain, encrypted = seen
    assert encrypted == plain == (None, True, True, (True, False), True, HOLDER, 1)


def test_memories_of_the_same_names_key_share_limits_and_others_do_not(url: str) -> None:
    with Memory(url, encryption_key=KEY, encrypt_names=True) as mem:
        lim = mem.limiter("api", limit=3, period=3600)
        lim.hit(USER, 2)
        lim.hit(ORG, group=ORG)
        assert mem.semaphore("llm", limit=1, lease=60).acquire(HOLDER) is not None
    # another ring, another primary, the same names key: the same stored names
    ring = Keyring({"old": KEY, "new": OTHER}, primary="new", names="old")
    with Memory(url, encryption_key=ring, encrypt_names=True) as mem:
        lim = mem.limiter("api", limit=3, period=3600)
        assert round(lim.peek(USER).remaining) == 1
        assert round(lim.peek(ORG, group=ORG).remaining) == 2
        assert mem.semaphore("llm", limit=1, lease=60).acquire(HOLDER) is None
    # another names key, or names not encrypted: other keys, so a whole budget
    for other in (
        Memory(url, encryption_key=OTHER, encrypt_names=True),
        Memory(url, encryption_key=KEY),
    ):
        with other as mem:
            lim = mem.limiter("api", limit=3, period=3600)
            assert round(lim.peek(USER).remaining) == 3
            assert round(lim.peek(ORG, group=ORG).remaining) == 3
            assert mem.semaphore("llm", limit=1, lease=60).acquire(HOLDER) is not None


def test_async_limiters_and_semaphores_encrypt_their_subjects(url: str) -> None:
    async def main() -> None:
        async with AsyncMemory(url, encryption_key=KEY, encrypt_names=True) as mem:
            lim = mem.limiter("api", limit=2, period=3600, algorithm="sliding")
            assert (await lim.hit(USER)).allowed
            assert (await lim.peek(USER)).remaining == 1
            other = mem.limiter("org", limit=1, period=3600, algorithm="fixed")
            assert (await mem.hit_many([(lim, PEER), (other, ORG)], group=ORG)).allowed
            md = await mem.hit_many([(lim, PEER), (other, ORG)], group=ORG)
            assert not md.allowed and (await lim.peek(PEER, group=ORG)).remaining == 1
            async with mem.batch() as b:
                queued = b.on(lim).hit(USER)
            assert queued.result().allowed and not (await lim.hit(USER)).allowed
            assert await lim.reset(USER) and (await lim.peek(USER)).remaining == 2
            sem = mem.semaphore("llm", limit=1, lease=60)
            lease = await sem.acquire(HOLDER)
            assert lease is not None and await sem.acquire(HOLDER) is None
            assert await sem.renew(lease) and await sem.release(lease)
            async with sem.hold(HOLDER):
                assert await sem.acquire(HOLDER) is None
        # the same keyring, from the sync side: the same state
        with Memory(url, encryption_key=KEY, encrypt_names=True) as sync:
            assert sync.limiter("api", limit=2, period=3600, algorithm="sliding").peek(
                PEER, group=ORG
            ).remaining == pytest.approx(1)
            dump = raw_dump(sync)
            for marker in PLANTED:
                assert marker not in dump, marker

    asyncio.run(main())


def test_keys_without_encrypt_names_are_as_they_always_were() -> None:
    """Pinned byte for byte: a Memory with names plain (with or without a key for values)
    must go on finding the limits its earlier versions stored."""
    for ks in (Keyspace(), Keyspace("app", "t1")):
        p = f"{ks.namespace}:{{{ks.tenant or ''}"
        gcra = Rule.of(ks, "api", rate="10/minute")
        fixed = Rule.of(ks, "api", rate="10/minute", algorithm="fixed")
        sliding = Rule.of(ks, "api", rate="10/minute", algorithm="sliding")
        sem = SemaphoreRule.of(ks, "llm", limit=2, lease=60)
        assert gcra.keys(USER) == (f"{p}:rl:api:{USER}}}:g",)
        assert fixed.keys(USER) == (f"{p}:rl:api:{USER}}}:w",)
        assert sliding.keys(USER) == (f"{p}:rl:api:{USER}}}:l",)
        assert gcra.keys("zoé") == (f"{p}:rl:api:zoé}}:g",)  # validated in full
        assert fixed.keys(USER, ORG) == (f"{p}:grp:{ORG}}}:rl:api:{USER}:w",)
        assert sem.key(HOLDER) == f"{p}:sem:llm:{HOLDER}}}:z"
        assert subject_tag(ks, "rl", "api", USER, None) == f"{p}:rl:api:{USER}}}"


def test_stored_subjects_are_kinds_of_their_own_and_fit_a_hash_tag() -> None:
    crypto = Crypto(Keyring.of(KEY), encrypt_names=True)
    ks = Keyspace(names=crypto)
    rule = Rule.of(ks, "api", rate="10/minute")
    sem = SemaphoreRule.of(ks, "llm", limit=2, lease=60)
    # the fast path (a plain printable key) and the full one agree
    (fast,) = rule.keys(USER)
    assert fast == subject_tag(ks, "rl", "api", USER, None) + ":g"
    limited = crypto.name(USER, "limit")
    assert fast == f"pm:{{:rl:api:{limited}}}:g"
    (grouped,) = rule.keys(USER, ORG)
    assert grouped == f"pm:{{:grp:{crypto.name(ORG, 'group')}}}:rl:api:{limited}:g"
    assert sem.key(USER) == f"pm:{{:sem:llm:{crypto.name(USER, 'semaphore')}}}:z"
    # the same text stored as each kind of name: all different, none the scope id's or key's
    stored = {crypto.name(USER, what) for what in ("limit", "group", "semaphore", "key", "user")}
    assert len(stored) == 5
    assert crypto.unname(limited, "limit") == USER
    # base64url: no braces, so a stored subject stays inside its hash tag, whatever it was
    # (the longest key, one of every character a key may hold)
    for subject in ("a", "zoé ☃ :*?[]", "x" * 256, "é" * 128):
        (key,) = rule.keys(subject)
        tagged = key.removeprefix("pm:{:rl:api:").removesuffix("}:g")
        assert BASE64URL.fullmatch(tagged), key
        assert crypto.unname(tagged, "limit") == subject
        assert BASE64URL.fullmatch(crypto.name(subject, "group"))


def test_the_longest_subjects_work_encrypted(url: str) -> None:
    longest = "é" * 128  # 256 UTF-8 bytes
    with Memory(url, encryption_key=KEY, encrypt_names=True) as mem:
        lim = mem.limiter("api", limit=1, period=3600)
        assert lim.hit(longest, group=longest).allowed
        assert not lim.hit(longest, group=longest).allowed
        sem = mem.semaphore("llm", limit=1, lease=60)
        lease = sem.acquire(longest)
        assert lease is not None and sem.release(lease)


def _ring_file(tmp_path: Path) -> Path:
    path = tmp_path / "ring.json"
    path.write_text(json.dumps({"primary": "k1", "keys": {"k1": base64.b64encode(KEY).decode()}}))
    return path


def _spend(url: str) -> None:
    with Memory(url, encryption_key=Keyring({"k1": KEY}, primary="k1"), encrypt_names=True) as mem:
        mem.limiter("api", limit=5, period=3600, algorithm="fixed").hit(USER, 2)


def test_limits_show_reads_an_encrypted_subject(
    url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`limits show` finds the subject's state through the limiter of a Memory that
    encrypts names (its options set here by hand)."""
    _spend(url)
    args = build_parser().parse_args([*SHOW, "--url", url])
    args.keyring, args.encrypt_names = str(_ring_file(tmp_path)), True
    capsys.readouterr()
    assert guarded(args.run, args) == 0
    state = json.loads(capsys.readouterr().out)
    assert state["algorithm"] == "fixed" and state["remaining"] == 3 and state["allowed"]


def test_limits_show_takes_the_keyring_options(
    url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _spend(url)
    sealed = ["--keyring", str(_ring_file(tmp_path)), "--encrypt-names"]
    capsys.readouterr()
    assert main([*SHOW, *sealed, "--url", url]) == 0
    state = json.loads(capsys.readouterr().out)
    assert state["algorithm"] == "fixed" and state["remaining"] == 3 and state["allowed"]
