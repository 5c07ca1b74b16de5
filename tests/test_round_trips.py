"""Every public operation sends exactly one command (update: a read, then one CAS)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest

from pyredmem import AsyncMemory, Memory
from pyredmem._keys import ScopeRef, key_slot
from pyredmem._ops import scope as scope_ops
from tests.counting import count_replies, script_calls
from tests.engines import Engine

OPS: dict[str, Callable[[Memory], Any]] = {
    "set": lambda m: m.user("u").set("k", {"a": 1}),
    "get": lambda m: m.user("u").get("k"),
    "exists": lambda m: m.user("u").exists("k"),
    "delete": lambda m: m.user("u").delete("gone"),
    "clear": lambda m: m.user("other").clear(),
    "keys": lambda m: m.user("u").keys(),
    "ttl": lambda m: m.user("u").ttl("k"),
    "get_many": lambda m: m.user("u").get_many(["k", "n"]),
    "set_many": lambda m: m.user("u").set_many({"x": 1, "y": 2}),
    "incr": lambda m: m.user("u").incr("n", 2),
    "context.get": lambda m: m.context(user="u", session="s", run="r").get("k"),
    "context.resolve": lambda m: m.context(user="u", session="s").resolve("k"),
    "context.exists": lambda m: m.context(user="u").exists("nope"),
    "context.set": lambda m: m.context(user="u", session="s").set("k2", 1),
}


def _warm(mem: Memory) -> None:
    mem.user("u").set("k", {"a": 1})
    for op in OPS.values():  # connect and load every script before counting
        op(mem)
    mem.user("u").update("warm", lambda v: v, default=0)


@pytest.mark.standalone
@pytest.mark.parametrize("name", OPS)
def test_one_command_per_operation(engine: Engine, mem: Memory, name: str) -> None:
    _warm(mem)
    before = script_calls(engine.raw_client()) if engine.real else 0
    with count_replies() as counter:
        OPS[name](mem)
    assert counter.replies == 1
    if engine.real:
        assert script_calls(engine.raw_client()) - before == 1


@pytest.mark.standalone
def test_update_is_one_read_and_one_compare_and_set(engine: Engine, mem: Memory) -> None:
    _warm(mem)
    with count_replies() as counter:
        mem.user("u").update("doc", lambda d: d + 1, default=0)
    assert counter.replies == 2


@pytest.mark.standalone
def test_async_operations_are_one_command(url: str) -> None:
    async def main() -> list[int]:
        counts = []
        async with AsyncMemory(url) as m:
            await m.user("u").set("k", 1)
            for op in (
                lambda: m.user("u").get("k"),
                lambda: m.user("u").incr("n"),
                lambda: m.context(user="u", session="s").get("k"),
            ):
                await op()  # loads the script
                with count_replies() as counter:
                    await op()
                counts.append(counter.replies)
        return counts

    assert asyncio.run(main()) == [1, 1, 1]


def test_scripts_reload_after_script_flush(mem: Memory) -> None:
    s = mem.user("u")
    s.set("k", 1)
    mem.client.script_flush()
    assert s.get("k") == 1  # NOSCRIPT -> EVAL, transparently
    assert s.incr("k") == 2
    assert mem.context(user="u").get("k") == 2


def test_cluster_lookup_is_one_command_per_slot(engine: Engine, mem: Memory) -> None:
    ctx = mem.context(user="u", session="s", run="r", organization="o")
    ctx.set("k", 1, scope="organization")
    ctx.get("k")
    with count_replies() as counter:
        assert ctx.resolve("k") is not None
    slots = {key_slot(f"pm:{{:{ref.kind}:{ref.id}}}") for ref in ctx.scopes}
    expected = len(slots) if engine.cluster else 1
    assert counter.replies == expected


def test_a_batch_of_calls_is_one_pipeline_on_any_engine(engine: Engine, mem: Memory) -> None:
    from pyredmem._ops import context as cops
    from pyredmem._ops._call import Target

    targets = [Target(mem._cfg, ScopeRef.of("user", f"u{i}")) for i in range(3)]
    for t in targets:
        mem._runner.run(scope_ops.scope_set(t, "k", t.label, None))
    groups = cops.plan_groups(targets, per_slot=True)  # several calls, even on one server
    calls = cops.context_resolve(targets, groups, "k", with_value=True)
    assert len(calls) > 1
    assert sorted(hit[1] for hit in mem._runner.run_all(calls) if hit) == [t.label for t in targets]
