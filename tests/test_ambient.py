"""The ambient context: `mem.bind(...)` and `pyredmem.current()`, across asyncio tasks and
threads, on every engine."""

from __future__ import annotations

import asyncio
import random
import threading
from typing import Any

import pytest

from pyredmem import (
    AsyncContext,
    AsyncMemory,
    Context,
    Memory,
    NoContextError,
    PyRedMemError,
    ScopeRef,
    current,
)

TASKS = 100


def test_current_outside_any_binding_raises() -> None:
    with pytest.raises(NoContextError) as raised:
        current()
    assert isinstance(raised.value, PyRedMemError) and isinstance(raised.value, LookupError)
    assert "bind" in str(raised.value)


def test_a_binding_gives_its_context_below_and_nests(mem: Memory) -> None:
    mem.user("alice").set("prefs", {"tone": "concise"})
    with mem.bind(user="alice", session="s1") as ctx:
        assert isinstance(ctx, Context) and current() is ctx
        assert ctx.scopes[:2] == (ScopeRef("session", "s1"), ScopeRef("user", "alice"))
        assert _tool() == {"tone": "concise"}
        with mem.bind(user="bob") as inner:
            assert current() is inner and _tool() is None
        assert current() is ctx
        current().facts.add("alice", "lives_in", "Tokyo", scope="user")
        assert current().facts.about("alice") == {"lives_in": "Tokyo"}
    with pytest.raises(NoContextError):
        current()
    assert mem.user("alice").facts.get("alice", "lives_in") == "Tokyo"


def _tool() -> Any:
    """A tool function that takes no user id: the ambient context says whose prefs."""
    return current().get("prefs")


def test_a_block_that_raises_still_unbinds(mem: Memory) -> None:
    with pytest.raises(ZeroDivisionError), mem.bind(user="alice"):
        1 / 0  # noqa: B018
    with pytest.raises(NoContextError):
        current()


def test_one_binding_entered_twice(mem: Memory) -> None:
    binding = mem.bind(user="alice")
    with binding as a, binding as b:
        assert a is b is current()
    with pytest.raises(NoContextError):
        current()


def test_concurrent_tasks_each_see_only_their_own_scope(url: str) -> None:
    async def main() -> None:
        async with AsyncMemory(url) as amem:
            seen: list[tuple[int, str]] = []

            async def agent(n: int) -> None:
                rng = random.Random(n)
                async with amem.bind(user=f"u{n}", session=f"s{n}") as ctx:
                    assert isinstance(ctx, AsyncContext)
                    for step in range(3):
                        await asyncio.sleep(rng.random() / 200)  # interleave the tasks
                        here = current()
                        assert here is ctx
                        assert isinstance(here, AsyncContext)
                        seen.append((n, here.scopes[1].id))
                        await here.set("n", n, scope="user")
                        assert await here.get("n") == n
                        await here.facts.add(f"u{n}", "step", step, scope="user")
                        assert await here.facts.get(f"u{n}", "step") == step

            await asyncio.gather(*(agent(n) for n in range(TASKS)))
            assert len(seen) == 3 * TASKS
            assert all(user == f"u{n}" for n, user in seen)
            with pytest.raises(NoContextError):
                current()  # nothing leaked out of the tasks
            for n in range(TASKS):
                assert await amem.user(f"u{n}").get("n") == n
                assert await amem.user(f"u{n}").facts.about(f"u{n}") == {"step": 2}
                assert await amem.user(f"u{n}").facts.about(f"u{n + 1}") == {}

    asyncio.run(main())


def test_tasks_inherit_the_binding_they_start_in_and_leak_none_back() -> None:
    async def main() -> None:
        async with AsyncMemory() as amem:
            async with amem.bind(user="parent") as parent:

                async def child() -> str:
                    assert current() is parent  # inherited
                    async with amem.bind(user="child"):
                        await asyncio.sleep(0)
                        return current().scopes[0].id

                assert await asyncio.create_task(child()) == "child"
                assert current() is parent

            async def unbound() -> None:
                with pytest.raises(NoContextError):
                    current()

            await asyncio.create_task(unbound())

    asyncio.run(main())


def test_one_binding_in_many_tasks_at_once() -> None:
    async def main() -> None:
        async with AsyncMemory() as amem:
            shared = amem.bind(user="shared")

            async def use(n: int) -> None:
                async with amem.bind(user=f"u{n}"):
                    async with shared as ctx:
                        await asyncio.sleep(random.random() / 500)
                        assert current() is ctx
                    await asyncio.sleep(random.random() / 500)
                    assert current().scopes[0].id == f"u{n}"

            await asyncio.gather(*(use(n) for n in range(50)))

    asyncio.run(main())


def test_threads_each_see_their_own_binding(url: str) -> None:
    errors: list[BaseException] = []
    start = threading.Barrier(16)
    with Memory(url) as mem:

        def worker(n: int) -> None:
            try:
                with pytest.raises(NoContextError):
                    current()  # a thread starts with no binding
                with mem.bind(user=f"t{n}") as ctx:
                    start.wait(10)
                    for _ in range(20):
                        assert current() is ctx
                        current().set("who", n)
                        assert current().get("who") == n
            except BaseException as exc:  # reported below
                errors.append(exc)

        with mem.bind(user="main"):
            threads = [threading.Thread(target=worker, args=(n,)) for n in range(16)]
            for t in threads:
                t.start()
            for t in threads:
                t.join(60)
            assert current().scopes[0].id == "main"
        assert errors == []
        assert [mem.user(f"t{n}").get("who") for n in range(16)] == list(range(16))
