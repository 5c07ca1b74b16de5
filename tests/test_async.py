"""The asyncio shell: same behaviour as the sync one, same names and signatures."""

from __future__ import annotations

import asyncio
import inspect
from typing import Any

import pytest

import pyredmem
from pyredmem import AsyncMemory, Memory, MissingKeyError, WrongTypeError

PAIRS = [
    (pyredmem.Memory, pyredmem.AsyncMemory),
    (pyredmem.Scope, pyredmem.AsyncScope),
    (pyredmem.Context, pyredmem.AsyncContext),
    (pyredmem.Recall, pyredmem.AsyncRecall),
]


def _public(cls: type) -> dict[str, Any]:
    return {n: getattr(cls, n) for n in dir(cls) if not n.startswith("_")}


def _sync_name(name: str) -> str:
    return {"aclose": "close"}.get(name, name)


@pytest.mark.parametrize(("sync_cls", "async_cls"), PAIRS, ids=lambda c: c.__name__)
def test_twins_have_the_same_public_api(sync_cls: type, async_cls: type) -> None:
    sync_api, async_api = _public(sync_cls), _public(async_cls)
    assert set(sync_api) == {_sync_name(n) for n in async_api}
    for name, member in async_api.items():
        twin = sync_api[_sync_name(name)]
        if not callable(member):
            continue
        assert str(inspect.signature(member)).replace("Async", "") == str(
            inspect.signature(twin)
        ), name
        # identical text, but for the twin names the generator rewrites (AsyncScope -> Scope)
        assert (inspect.getdoc(member) or "").replace("Async", "") == (
            inspect.getdoc(twin) or ""
        ), name
        if inspect.iscoroutinefunction(member):
            assert not inspect.iscoroutinefunction(twin), name


def test_async_scope_behaviour(url: str) -> None:
    async def main() -> None:
        async with AsyncMemory(url, tenant="t1") as m:
            s = m.user("alice")
            await s.set("prefs", {"theme": "dark"})
            assert await s.get("prefs") == {"theme": "dark"}
            assert await s.exists("prefs")
            assert await s.incr("n", 2) == 2
            assert await s.keys() == ["n", "prefs"]
            assert await s.get_many(["prefs", "x"]) == {"prefs": {"theme": "dark"}}
            assert await s.set_many({"a": 1, "b": 2}) == 2
            assert await s.ttl("a") is None
            with pytest.raises(MissingKeyError):
                await s.ttl("missing")
            with pytest.raises(WrongTypeError):
                await s.incr("prefs")
            assert await s.update("n", lambda v: v * 10) == 20
            ctx = m.context(user="alice", session="s1")
            await m.global_scope.set("flag", True)
            await ctx.set("prefs", "session wins")
            found = await ctx.resolve("prefs")
            assert found is not None and found.scope.kind == "session"
            assert await ctx.get("flag") is True
            assert not await ctx.exists("nope")
            assert await s.delete("a")
            assert await s.clear() == 3

    asyncio.run(main())


def test_async_concurrent_updates(url: str) -> None:
    async def main() -> Any:
        async with AsyncMemory(url) as m:
            s = m.run("r1")
            await asyncio.gather(
                *(
                    s.update("doc", lambda d: {"n": d["n"] + 1}, default={"n": 0})
                    for _ in range(50)
                ),
                *(s.incr("c") for _ in range(50)),
            )
            return await s.get("doc"), await s.get("c")

    assert asyncio.run(main()) == ({"n": 50}, 50)


def test_sync_and_async_share_a_named_embedded_store() -> None:
    with Memory("memory://shared-sync-async") as m:
        m.user("u").set("k", "from sync")

    async def main() -> Any:
        async with AsyncMemory("memory://shared-sync-async") as am:
            return await am.user("u").get("k")

    assert asyncio.run(main()) == "from sync"
