"""Erasure: `scope.erase()` and `mem.erase(...)` remove everything of a scope instance (its
values, threads, facts, change log, any key under its hash tag, its scoped caches) and
nothing else, on every engine; the plan's key checks and calls with canned replies."""

from __future__ import annotations

import asyncio
import io
import json
import re

import pytest

from pyredmem import (
    AsyncMemory,
    Erased,
    InvalidScopeError,
    Memory,
    Message,
    ScopeRef,
    ValidationError,
)
from pyredmem.__main__ import main
from pyredmem._config import Config
from pyredmem._keys import Keyspace, glob_escape, key_slot
from pyredmem._ops._call import Target
from pyredmem._ops.cache import CacheTarget, parse_bucket_key, scoped_cache_pattern
from pyredmem._ops.erase import MAX_KEYS_PER_CALL, ErasePlan
from pyredmem._ops.events import log_key
from pyredmem._ops.facts import FactStore
from pyredmem._ops.thread import Thread
from tests.engines import Engine

# ------------------------------------------------------------------ what the server holds


def all_keys(mem: Memory) -> list[str]:
    """Every key on the server (every primary of a cluster)."""
    return sorted(k.decode() for k in mem.client.scan_iter(count=1000))


def dumps(mem: Memory) -> dict[str, tuple[bytes, bool]]:
    """Every key's DUMP, and whether it has an expiry."""
    return {k: (mem.client.dump(k), mem.client.pttl(k) >= 0) for k in all_keys(mem)}


def of_scope(keys: list[str], kind: str, ident: str, tenant: str = "") -> list[str]:
    """The keys of scope (kind, ident) and of its scoped caches, recognised here by regular
    expressions of the documented layout (not by the library's own parser)."""
    tag = re.escape(f"{{{tenant}:{kind}:{ident}}}:")
    bucket = re.escape(f"{{{tenant}:cache:") + r"[^:{}]+:" + re.escape(f"{kind}:{ident}:")
    mine = re.compile(rf"^pm:(?:{tag}|{bucket}\d+\}}:)")
    return [k for k in keys if mine.match(k)]


def populate(mem: Memory, kind: str, ident: str, *, threads: int = 3) -> dict[str, int]:
    """Values, threads, facts, two scoped caches (several buckets) and a key of a feature
    to come under the tag; returns the counts an erase should report (events aside)."""
    scope = mem.scope(kind, ident)
    scope.set_many({"name": ident, "plan": "pro"})
    scope.set("session", "x", ttl=600)
    scope.incr("visits", 3)
    with mem.batch() as b:
        for t in range(threads):
            b.on(scope.history(f"thread-{t}")).append(Message.user(f"hello {t}"))
    scope.history("thread-0").append(Message.assistant("hi"))
    scope.facts.add("someone", "lives_in", "Tokyo")
    scope.facts.add("someone", "lives_in", "Osaka")  # supersedes: more versions
    prices = mem.cache("prices", ttl=600, scope=scope, buckets=8)
    for i in range(20):
        prices.set(f"item-{i}", i)
    mem.cache("answers", ttl=600, scope=scope, buckets=2).set("q", "a")
    # a key some later feature keeps under the scope's hash tag
    mem.client.set(f"{Keyspace().prefix(ScopeRef.of(kind, ident))}:rc:future", b"v")
    facts = int(mem.client.hget(f"{Keyspace().prefix(ScopeRef.of(kind, ident))}:f", "c"))
    return {
        "values": 4,
        "threads": threads,
        "turns": threads + 1,
        "facts": facts,
        "cache_entries": 21,
    }


def others(mem: Memory) -> None:
    """Data of scopes whose names come close to user 'alice', which erasing her must keep."""
    mem.user("alice2").set("k", 1)
    mem.user("alice:x").set("k", 1)
    mem.session("user:alice").set("k", 1)
    mem.session("user:alice").history("t").append(Message.user("keep"))
    mem.cache("prices", ttl=600, scope=mem.session("user:alice"), buckets=8).set("item-1", 1)
    mem.cache("prices", ttl=600, scope=mem.user("alice:x"), buckets=8).set("item-1", 1)
    mem.cache("prices", ttl=600, buckets=8).set("item-1", 1)  # not scoped
    mem.global_scope.set("k", 1)
    with Memory(mem.client, tenant="acme") as tenant:
        tenant.user("alice").set("k", 1)


# ------------------------------------------------------------------------------ engines


def test_erase_removes_every_key_of_the_scope_and_nothing_else(url: str) -> None:
    with Memory(url, events=True) as mem:
        expected = populate(mem, "user", "alice")
        others(mem)
        before = dumps(mem)
        mine = of_scope(list(before), "user", "alice")
        # the check sees every kind of key (so it can fail)
        suffixes = {k.rsplit("}:", 1)[1].split(":")[0] for k in mine}
        assert {"h", "x", "ta", "tx", "t", "f", "fi", "ev", "rc"} <= suffixes
        assert any(":cache:prices:user:alice:" in k for k in mine)

        erased = mem.user("alice").erase()

        after = dumps(mem)
        assert of_scope(list(after), "user", "alice") == []
        assert after == {k: v for k, v in before.items() if k not in mine}
        for name, n in expected.items():
            assert getattr(erased, name) == n, name
        assert erased.keys == len(mine)
        # one log for the scope, one per bucket written: at least one event each
        logs = [k for k in mine if k.endswith(":ev")]
        assert erased.events >= len(logs) > 1
        assert mem.user("alice").erase() == Erased()
        assert mem.user("alice").keys() == [] and mem.user("alice").threads() == []


def test_erase_counts_match_the_handles(mem: Memory) -> None:
    expected = populate(mem, "session", "s-1", threads=2)
    mine = of_scope(all_keys(mem), "session", "s-1")
    assert len([k for k in mine if ":t:" in k]) == 4  # two threads, two keys each
    erased = mem.session("s-1").erase()
    assert erased == Erased(**expected, events=0, keys=len(mine))


def test_an_empty_scope_erases_nothing(mem: Memory) -> None:
    mem.user("bob").set("k", 1)
    before = dumps(mem)
    assert mem.user("alice").erase() == Erased()
    assert mem.erase(user="nobody", session="none") == Erased()
    assert dumps(mem) == before


def test_ids_with_glob_characters_and_colons(mem: Memory) -> None:
    odd = ["a*", "a?", "[ab]", "back\\slash", "x:y:1", "*"]
    for ident in odd:
        populate(mem, "user", ident, threads=1)
    mem.user("ab").set("k", 1)
    mem.user("a").set("k", 1)
    for ident in odd:
        keys = all_keys(mem)
        assert of_scope(keys, "user", ident) != []
        erased = mem.user(ident).erase()
        assert erased.values == 4 and erased.cache_entries == 21
        assert of_scope(all_keys(mem), "user", ident) == []
    assert mem.user("ab").get("k") == 1 and mem.user("a").get("k") == 1


def test_threads_beyond_one_call(engine: Engine, mem: Memory) -> None:
    n = MAX_KEYS_PER_CALL  # two keys each: more than two calls' worth
    scope = mem.user("talkative")
    with mem.batch() as b:
        for t in range(n):
            b.on(scope.history(f"t{t}")).append(Message.user("x"))
    assert len(all_keys(mem)) == 2 * n + 2
    erased = scope.erase()
    assert (erased.threads, erased.turns, erased.keys) == (n, n, 2 * n + 2)
    assert all_keys(mem) == []


def test_a_scoped_cache_over_many_slots(engine: Engine, mem: Memory) -> None:
    cache = mem.cache("wide", ttl=600, scope=mem.user("alice"), buckets=64)
    for i in range(200):
        cache.set(f"k{i}", i)
    keys = all_keys(mem)
    assert len({key_slot(k) for k in keys}) > 8
    if engine.cluster:  # on every primary
        nodes = {mem.client.get_node_from_key(k).name for k in keys}
        assert len(nodes) == len(mem.client.get_primaries())
    erased = mem.user("alice").erase()
    assert erased.cache_entries == 200 and erased.keys == len(keys)
    assert all_keys(mem) == []


def test_mem_erase_takes_several_scopes(mem: Memory) -> None:
    populate(mem, "user", "alice", threads=1)
    populate(mem, "session", "s1", threads=2)
    populate(mem, "workflow", "w", threads=1)
    mem.user("bob").set("k", 1)
    erased = mem.erase(mem.workflow("w"), user="alice", session="s1", run=None, agent=None)
    assert erased.values == 12 and erased.threads == 4 and erased.cache_entries == 63
    assert [k for k in all_keys(mem) if "bob" not in k] == []
    assert mem.user("bob").get("k") == 1
    populate(mem, "global", "", threads=1)
    assert mem.erase(mem.global_scope, ScopeRef.of("user", "bob")).values == 5
    assert all_keys(mem) == []


def test_another_tenant_and_namespace_keep_their_data(url: str) -> None:
    with Memory(url, tenant="acme") as acme, Memory(url, namespace="other") as other:
        acme.user("alice").set("k", 1)
        other.user("alice").set("k", 1)
        acme.cache("c", ttl=60, scope=acme.user("alice")).set("k", 1)
        with Memory(url) as mem:
            mem.user("alice").set("k", 1)
            before = dumps(mem)
            assert mem.user("alice").erase().values == 1
            assert len(dumps(mem)) == len(before) - 2
        assert acme.user("alice").get("k") == 1 and other.user("alice").get("k") == 1
        assert acme.user("alice").erase().cache_entries == 1
        assert other.user("alice").get("k") == 1


def test_bad_input_writes_nothing(mem: Memory) -> None:
    mem.user("alice").set("k", 1)
    before = dumps(mem)
    for args, kwargs in [
        ((), {}),
        ((), {"user": None}),
        ((), {"nobody": "x"}),
        ((), {"nobody": None}),
        ((), {"user": ""}),
        ((), {"user": "a{b"}),
        ((), {"user": 7}),
        (("user",), {}),
        ((None,), {}),
        ((mem.user("alice"),), {"planet": "mars"}),
    ]:
        with pytest.raises(InvalidScopeError):
            mem.erase(*args, **kwargs)
    assert dumps(mem) == before


def test_a_batch_refuses_erase(mem: Memory) -> None:
    mem.user("alice").set("k", 1)
    with mem.batch() as b, pytest.raises(ValidationError, match="cannot be batched"):
        b.user("alice").erase()
    assert mem.user("alice").get("k") == 1


def test_async_erase(url: str) -> None:
    async def run() -> tuple[Erased, Erased]:
        async with AsyncMemory(url) as am:
            alice = am.user("alice")
            await alice.set("k", 1)
            await alice.history("t").append(Message.user("hi"))
            await am.cache("c", ttl=60, scope=alice).set("q", 1)
            await am.session("s").set("k", 1)
            return await alice.erase(), await am.erase(session="s")

    first, second = asyncio.run(run())
    assert first == Erased(values=1, threads=1, turns=1, cache_entries=1, keys=8)
    assert second == Erased(values=1, keys=2)
    with Memory(url) as mem:
        assert all_keys(mem) == []


def test_the_cli_erases_with_yes_and_asks_otherwise(
    url: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    with Memory(url, tenant="cli") as mem:
        mem.user("alice").set("k", 1)
        mem.user("bob").set("k", 1)
    common = ["--url", url, "--tenant", "cli"]
    monkeypatch.setattr("sys.stdin", io.StringIO(""))  # no terminal
    assert main(["erase", "user", "alice", *common]) == 2
    assert "--yes" in capsys.readouterr().err

    class Tty(io.StringIO):
        def isatty(self) -> bool:
            return True

    monkeypatch.setattr("sys.stdin", Tty(""))
    monkeypatch.setattr("builtins.input", lambda prompt: "n")
    assert main(["erase", "user", "alice", *common]) == 1
    with Memory(url, tenant="cli") as mem:
        assert mem.user("alice").get("k") == 1
    capsys.readouterr()
    monkeypatch.setattr("builtins.input", lambda prompt: "y")
    assert main(["erase", "user", "alice", *common]) == 0
    assert "1 values" in capsys.readouterr().out
    assert main(["erase", "user", "bob", *common, "--yes", "--json"]) == 0
    row = json.loads(capsys.readouterr().out)
    assert row == {"scope": "user:bob", **dict.fromkeys(_FIELDS, 0), "values": 1, "keys": 2}
    with Memory(url, tenant="cli") as mem:
        assert all_keys(mem) == []
    assert main(["erase", "planet", "mars", *common, "--yes"]) == 1
    assert "unknown scope kind" in capsys.readouterr().err


_FIELDS = ("values", "threads", "turns", "facts", "cache_entries", "events", "keys")


# --------------------------------------------------------------- the plan, no server


def test_erased_adds_up() -> None:
    a, b = Erased(values=1, keys=2), Erased(turns=3, keys=1)
    assert a + b == Erased(values=1, turns=3, keys=3)
    assert sum([a, b, a]) == Erased(values=2, turns=3, keys=5)
    assert sum([], Erased()) == Erased()
    with pytest.raises(AttributeError):
        a.values = 2  # type: ignore[misc]
    assert not hasattr(a, "__dict__")


def test_the_plan_measures_what_the_owners_of_the_layout_build() -> None:
    cfg = Config(keyspace=Keyspace("pm", "t"))
    ref = ScopeRef.of("user", "alice")
    plan = ErasePlan(cfg.keyspace, [ref])
    h, x = Target(cfg, ref).keys
    thread = Thread(cfg, ref, "a:b:l")
    f, fi = FactStore(cfg, ref).keys
    cache = CacheTarget(cfg, "prices", ttl=60, scope=ref, buckets=4)
    ch, cx, cw = cache.entry_keys("k")
    expect = {
        h: (None, "-"),
        x: ("values", "z"),
        thread.keys[0]: ("turns", "l"),
        thread.keys[1]: (None, "-"),
        thread.index[0]: ("threads", "z"),
        thread.index[1]: (None, "-"),
        f: ("facts", "c"),
        fi: (None, "-"),
        log_key(cfg.keyspace.prefix(ref)): ("events", "s"),
        f"{cfg.keyspace.prefix(ref)}:rc:anything": (None, "-"),
        ch: (None, "-"),
        cx: ("cache_entries", "z"),
        cw: (None, "-"),
        log_key(cache.prefixes[0]): ("events", "s"),
    }
    for key, measure in expect.items():
        assert plan.measure(key) == measure, key
        assert any(_glob_match(p, key) for p in plan.patterns), key


def test_the_plan_keeps_keys_of_other_scopes_its_patterns_match() -> None:
    """A '*' spans ':': user "alice"'s cache pattern matches the caches of session
    "user:alice" and of user "alice:x"; only the parse tells them apart."""
    cfg = Config(keyspace=Keyspace())
    alice = ScopeRef.of("user", "alice")
    plan = ErasePlan(cfg.keyspace, [alice])
    near = [
        CacheTarget(cfg, "c", ttl=60, scope=ScopeRef.of("session", "user:alice")),
        CacheTarget(cfg, "c", ttl=60, scope=ScopeRef.of("user", "alice:x")),
        CacheTarget(cfg, "c", ttl=60, scope=ScopeRef.of("user", "alice:3")),
        CacheTarget(cfg, "c", ttl=60),
    ]
    for cache in near:
        key = cache.entry_keys("k")[1]
        assert plan.measure(key) is None, key
    assert any(_glob_match(p, near[0].entry_keys("k")[1]) for p in plan.patterns)
    for other in ("alice2", "alice:x", "alic"):
        h = Target(cfg, ScopeRef.of("user", other)).keys[0]
        assert plan.measure(h) is None
    assert plan.measure("pm:{:session:alice}:h") is None
    assert plan.measure("other:{:user:alice}:h") is None
    assert plan.measure("pm:{t:user:alice}:h") is None  # another tenant
    mine = CacheTarget(cfg, "c", ttl=60, scope=alice).entry_keys("k")[1]
    assert plan.measure(mine) == ("cache_entries", "z")
    assert parse_bucket_key(cfg.keyspace, "pm:{:cache:c:user:alice}:h") is None  # no bucket
    assert parse_bucket_key(cfg.keyspace, "pm:{:cache:c:user:alice:x}:h") is None


def test_patterns_escape_glob_characters() -> None:
    ks = Keyspace()
    ref = ScopeRef.of("user", "a*b?[c]\\d")
    assert glob_escape("a*b?[c]\\d") == "a\\*b\\?\\[c\\]\\\\d"
    assert ks.scope_pattern(ref) == "pm:{:user:a\\*b\\?\\[c\\]\\\\d}:*"
    assert scoped_cache_pattern(ks, ref) == "pm:{:cache:*:user:a\\*b\\?\\[c\\]\\\\d:*}:*"
    assert _glob_match(ks.scope_pattern(ref), ks.prefix(ref) + ":h")
    assert not _glob_match(ks.scope_pattern(ref), "pm:{:user:axb?[c]\\d}:h")


def test_calls_group_by_slot_and_hold_at_most_the_chunk() -> None:
    cfg = Config(keyspace=Keyspace())
    alice = ScopeRef.of("user", "alice")
    plan = ErasePlan(cfg.keyspace, [alice])
    threads = [k for t in range(700) for k in Thread(cfg, alice, f"t{t}").keys[:2]]
    cache = CacheTarget(cfg, "c", ttl=60, scope=alice, buckets=16)
    buckets = [f"{p}{s}" for p in cache.prefixes for s in ("h", "x")]
    found = [*threads, *buckets, "pm:{:user:bob}:h", *threads[:10]]  # dupes, others
    one = plan.calls(found, per_slot=False)
    assert [len(c.keys) for c in one] == [512, 512, 1400 + 32 - 1024]
    per_slot = plan.calls(found, per_slot=True)
    assert sum(len(c.keys) for c in per_slot) == 1432
    for call in per_slot:
        assert len(call.keys) <= MAX_KEYS_PER_CALL
        assert len({key_slot(k) for k in call.keys}) == 1
        assert len(call.args) == len(call.keys)
    assert len({key_slot(c.keys[0]) for c in per_slot}) == len(per_slot) - 2  # 1400: 3 calls
    call = one[-1]
    reply = [-1 if i % 3 == 0 else 2 for i in range(len(call.keys))]
    erased = call.parse(reply)
    assert erased.keys == sum(1 for n in reply if n >= 0)
    assert call.script.name == "scope_erase" and call.scope == "user:alice"


def _glob_match(pattern: str, key: str) -> bool:
    """Redis glob matching (the subset the patterns use: * and backslash escapes)."""
    regex, i = "", 0
    while i < len(pattern):
        c = pattern[i]
        if c == "\\":
            regex += re.escape(pattern[i + 1])
            i += 2
            continue
        regex += ".*" if c == "*" else re.escape(c)
        i += 1
    return re.fullmatch(regex, key, re.DOTALL) is not None
