"""`context()`'s writes to the scope that holds a key (`delete`, `incr`, `update`), its
`keys`, and the `agent` scope (another name for `actor`), on every engine."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import pytest

from pyredmem import (
    AsyncMemory,
    InvalidKeyError,
    InvalidScopeError,
    InvalidValueError,
    Memory,
    ScopeRef,
    ValidationError,
    WrongTypeError,
    current,
)
from tests.engines import Engine


def test_delete_removes_from_the_most_specific_holder(mem: Memory) -> None:
    ctx = mem.context(run="r1", workflow="w1", user="alice")
    mem.global_scope.set("model", "base")
    mem.user("alice").set("model", "alice's")
    mem.run("r1").set("model", "run's")
    assert ctx.get("model") == "run's"
    assert ctx.delete("model") is True
    assert ctx.get("model") == "alice's"  # the less specific values are left
    assert mem.run("r1").get("model") is None
    assert ctx.delete("model") is True
    assert ctx.delete("model") is True
    assert ctx.get("model") is None
    assert ctx.delete("model") is False
    assert mem.global_scope.get("model") is None


def test_delete_with_scope_touches_that_scope_only(mem: Memory) -> None:
    ctx = mem.context(run="r1", user="alice")
    mem.run("r1").set("k", 1)
    mem.user("alice").set("k", 2)
    assert ctx.delete("k", scope="user") is True
    assert ctx.delete("k", scope="user") is False
    assert mem.run("r1").get("k") == 1
    assert ctx.delete("k", scope="global") is False
    with pytest.raises(InvalidScopeError, match="no 'session' scope"):
        ctx.delete("k", scope="session")


def test_incr_counts_where_the_key_lives(mem: Memory) -> None:
    ctx = mem.context(run="r1", user="alice")
    mem.user("alice").set("calls", 10)
    assert ctx.incr("calls") == 11
    assert ctx.incr("calls", 5) == 16
    assert mem.user("alice").get("calls") == 16 and mem.run("r1").get("calls") is None
    # a key no bound scope holds: created in the most specific one
    assert ctx.incr("steps", 2, ttl=600) == 2
    assert mem.run("r1").get("steps") == 2 and 590 < mem.run("r1").ttl("steps") <= 600
    assert ctx.incr("ratio", 0.5) == 0.5
    assert ctx.incr("calls", scope="global") == 1
    assert mem.global_scope.get("calls") == 1
    assert ctx.incr("calls", scope="run") == 1 and ctx.get("calls") == 1


def test_incr_errors_are_scope_incr_errors(mem: Memory) -> None:
    ctx = mem.context(run="r1", user="alice")
    mem.user("alice").set("name", "alice")
    with pytest.raises(WrongTypeError):
        ctx.incr("name")
    with pytest.raises(InvalidValueError):
        ctx.incr("n", "1")  # type: ignore[arg-type]
    with pytest.raises(InvalidKeyError):
        ctx.incr("")
    assert ctx.get("name") == "alice" and not ctx.exists("n")


def test_update_rewrites_the_holders_value(mem: Memory) -> None:
    ctx = mem.context(session="s1", user="alice")
    mem.user("alice").set("prefs", {"lang": "en"})
    assert ctx.update("prefs", lambda p: {**p, "tz": "UTC"}) == {"lang": "en", "tz": "UTC"}
    assert mem.user("alice").get("prefs") == {"lang": "en", "tz": "UTC"}
    assert mem.session("s1").get("prefs") is None
    # none holds it: fn(default) in the most specific bound scope
    assert ctx.update("seen", lambda s: [*s, "x"], default=[]) == ["x"]
    assert ctx.resolve("seen") is not None
    assert ctx.resolve("seen").scope == ScopeRef("session", "s1")  # type: ignore[union-attr]
    # scope= reads and writes that scope only
    assert ctx.update("prefs", lambda p: p or {"new": 1}, scope="session") == {"new": 1}
    assert mem.user("alice").get("prefs") == {"lang": "en", "tz": "UTC"}
    with pytest.raises(InvalidValueError):
        ctx.update("prefs", "not a function")  # type: ignore[arg-type]


def test_concurrent_context_writes_lose_nothing(url: str) -> None:
    with Memory(url) as mem:
        mem.user("alice").set("n", 0)
        mem.user("alice").set("log", [])
    threads, rounds = 4, 25

    def work(i: int) -> None:
        with Memory(url) as m:
            ctx = m.context(run=f"r{i}", user="alice")
            for j in range(rounds):
                ctx.incr("n")
                ctx.update("log", lambda v, j=j: [*v, f"{i}.{j}"])

    workers = [threading.Thread(target=work, args=(i,)) for i in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    with Memory(url) as mem:
        assert mem.user("alice").get("n") == threads * rounds
        assert len(mem.user("alice").get("log")) == threads * rounds


def test_keys_is_what_get_can_find(mem: Memory) -> None:
    ctx = mem.context(run="r1", user="alice")
    mem.run("r1").set("b", 1)
    mem.user("alice").set("a", 1)
    mem.user("alice").set("b", 2)
    mem.global_scope.set("c", 3)
    mem.user("bob").set("z", 1)
    mem.user("alice").set("gone", 1, ttl=0.05)
    assert ctx.keys() == ["a", "b", "c", "gone"] or ctx.keys() == ["a", "b", "c"]
    assert ctx.keys(scope="user") in (["a", "b", "gone"], ["a", "b"])
    assert ctx.keys(scope="global") == ["c"]
    assert mem.context().keys() == ["c"]
    with pytest.raises(InvalidScopeError):
        ctx.keys(scope="step")


def test_events_are_logged_in_the_scope_written(url: str) -> None:
    with Memory(url, events=True) as mem:
        ctx = mem.context(run="r1", user="alice")
        mem.user("alice").set("n", 1)
        ctx.incr("n")
        ctx.delete("n")
        ops = [(e.op, e.key) for e in mem.user("alice").changes()]
        assert ops == [("set", "n"), ("incr", "n"), ("delete", "n")]
        assert mem.run("r1").changes() == []


def test_encrypted_names_and_tenants(url: str) -> None:
    key = b"k" * 32
    with Memory(url, tenant="acme", encryption_key=key, encrypt_names=True) as mem:
        ctx = mem.context(run="r1", user="alice")
        mem.user("alice").set("secret-name", 1)
        mem.user("alice").incr("hits")  # counters stay plain numbers
        assert ctx.keys() == ["hits", "secret-name"]
        assert ctx.incr("hits") == 2 and mem.user("alice").get("hits") == 2
        with pytest.raises(WrongTypeError):  # a sealed value is no number, as for Scope.incr
            ctx.incr("secret-name")
        assert ctx.update("secret-name", lambda v: v * 10) == 10
        assert ctx.delete("secret-name") and ctx.delete("hits") and ctx.keys() == []
    with Memory(url, tenant="globex") as other:
        ctx = other.context(run="r1", user="alice")
        assert ctx.keys() == [] and ctx.delete("secret-name") is False


@pytest.mark.real_server
@pytest.mark.standalone
def test_one_server_call_each(engine: Engine, mem: Memory) -> None:
    """On one server, delete and incr find the key and write it in one script call;
    update reads, then compares and sets: two; keys sends one per scope in one round
    trip."""
    admin = engine.raw_client()
    ctx = mem.context(step="s", run="r", user="alice")
    mem.user("alice").set("n", 1)
    ctx.exists("n")  # the library is loaded

    def script_calls() -> int:
        stats = admin.info("commandstats")
        names = ("fcall", "fcall_ro", "evalsha", "evalsha_ro", "eval", "eval_ro")
        return sum(stats.get(f"cmdstat_{n}", {}).get("calls", 0) for n in names)

    for op, want in (
        (lambda: ctx.incr("n"), 1),
        (lambda: ctx.delete("n"), 1),
        (lambda: ctx.update("n", lambda v: (v or 0) + 1), 2),
        (lambda: ctx.keys(), 4),
    ):
        for _ in range(2):  # the first time, a server without the script gets its source
            mem.user("alice").set("n", 1)
            before = script_calls()
            op()
        assert script_calls() - before == want
    admin.close()


def test_async_context_writes(url: str) -> None:
    async def main() -> list[Any]:
        async with AsyncMemory(url) as mem:
            ctx = mem.context(run="r1", agent="planner")
            await mem.agent("planner").set("n", 1)
            got: list[Any] = [await ctx.incr("n"), await ctx.keys()]
            got.append(await ctx.update("n", lambda v: v * 3))
            got.append(await ctx.delete("n"))
            got.append(await ctx.get("n"))
            return got

    assert asyncio.run(main()) == [2, ["n"], 6, True, None]


def test_a_batch_refuses_the_context_writes(mem: Memory) -> None:
    with pytest.raises(ValidationError, match="cannot be batched"), mem.batch() as b:
        b.context(user="alice").delete("k")


# --- the agent scope: another name for actor ---------------------------------------------


def test_agent_is_actor(mem: Memory) -> None:
    mem.agent("planner").set("goal", "ship")
    assert mem.actor("planner").get("goal") == "ship"
    assert mem.scope("agent", "planner").get("goal") == "ship"
    assert (
        mem.agent("planner").ref == ScopeRef("actor", "planner") == ScopeRef.of("agent", "planner")
    )
    ctx = mem.context(user="alice", agent="planner")
    assert ctx.scopes == mem.context(user="alice", actor="planner").scopes
    assert ctx.get("goal") == "ship"
    ctx.set("note", 1, scope="agent")
    assert mem.actor("planner").get("note") == 1
    assert mem.context(actor="planner", agent="planner").get("goal") == "ship"
    with pytest.raises(InvalidScopeError, match="another name for actor"):
        mem.context(actor="a", agent="b")
    with mem.bind(agent="planner", user="alice"):
        assert current().get("goal") == "ship"
    with mem.batch() as b:
        got = b.agent("planner").get("goal")
    assert got.result() == "ship"
    assert mem.erase(agent="planner").values == 2
    assert mem.actor("planner").keys() == []


def test_agent_in_change_events(url: str) -> None:
    with Memory(url, events=True) as mem:
        mem.agent("planner").set("goal", "ship")
        (event,) = mem.agent("planner").changes()
        assert (event.kind, event.scope, event.op) == ("actor", "planner", "set")
