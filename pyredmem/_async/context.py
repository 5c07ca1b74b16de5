"""Hierarchical lookup over the scopes bound to one unit of work."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .._config import Config
from .._errors import InvalidScopeError
from .._keys import KIND_ALIASES, ScopeRef
from .._ops import context as ops
from .._ops import scope as scope_ops
from .._ops._call import Target
from .._ops.context import Resolved
from .._ops.facts import FactStore
from ._runner import AsyncRunner
from .facts import AsyncContextFacts
from .scope import update_from


class AsyncContext:
    """The scopes bound to one unit of work, searched from the most specific (step) to the
    least (global). On a single server a lookup is one atomic script call; on Redis Cluster
    it is one call per slot, pipelined, and the most specific hit wins.

    Writes go to one scope: `set` to the most specific bound scope; `delete`, `incr` and
    `update` to the most specific bound scope that holds the key (`incr` and `update`: the
    most specific bound scope when none does). `scope=` names the kind of another bound
    scope instead ("agent" is "actor"). On a single server `delete` and `incr` find the
    key and write it in one atomic script call; on Redis Cluster, where the scopes live
    in different slots, they resolve the key first, then write to that scope (two calls:
    a write to a more specific scope in between is not seen)."""

    __slots__ = ("_groups", "_runner", "_targets", "scopes")

    def __init__(self, runner: AsyncRunner, cfg: Config, scopes: tuple[ScopeRef, ...]) -> None:
        self._runner = runner
        self._targets = tuple(Target(cfg, ref) for ref in scopes)
        self._groups = ops.plan_groups(self._targets, per_slot=runner.cluster)
        self.scopes = scopes  # most specific first; global is always last

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {' > '.join(map(str, self.scopes))}>"

    @property
    def facts(self) -> AsyncContextFacts:
        """The facts of the bound scopes: reads answer from the most specific scope that
        has an answer (one script call on a single server, one per slot on a cluster);
        writes go to the most specific bound scope unless `scope=` names another kind."""
        stores = tuple(FactStore(t.cfg, t.ref) for t in self._targets)
        return AsyncContextFacts(self._runner, stores)

    async def _lookup(self, what: str, key: str, default: Any = None) -> Any:
        calls, answer = ops.context_lookup(
            self._targets, self._groups, self.scopes, what, key, default
        )
        return answer(await self._runner.run_all(calls))

    async def resolve(self, key: str) -> Resolved | None:
        """Which scope holds `key` first, and its value; None when no bound scope does."""
        resolved: Resolved | None = await self._lookup("resolve", key)
        return resolved

    async def get(self, key: str, default: Any = None) -> Any:
        """The value of `key` in the most specific bound scope that holds it."""
        return await self._lookup("get", key, default)

    async def exists(self, key: str) -> bool:
        """Whether any bound scope holds `key`."""
        return bool(await self._lookup("exists", key))

    async def set(
        self, key: str, value: Any, *, scope: str | None = None, ttl: float | None = None
    ) -> None:
        """Store `value` in the scope of kind `scope` (default: the most specific bound)."""
        await self._runner.run(scope_ops.scope_set(self._target(scope), key, value, ttl))

    async def delete(self, key: str, *, scope: str | None = None) -> bool:
        """Remove `key` from the most specific bound scope that holds it (with `scope`,
        from the bound scope of that kind only), leaving the less specific ones' values:
        a later `get` may then find one of them. True if a live key was removed."""
        if scope is not None:
            return await self._runner.run(scope_ops.scope_delete(self._target(scope), key))
        if len(self._groups) == 1:
            return await self._runner.run(ops.context_delete(self._targets, key)) is not None
        holder = await self._holder(key)
        if holder is None:
            return False
        return await self._runner.run(scope_ops.scope_delete(holder, key))

    async def incr(
        self,
        key: str,
        amount: int | float = 1,
        *,
        scope: str | None = None,
        ttl: float | None = None,
    ) -> int | float:
        """Add `amount` to the number under `key` in the most specific bound scope that
        holds it, or in the most specific bound scope when none does (with `scope`, in the
        bound scope of that kind); as `Scope.incr` otherwise (`ttl` applies when the call
        creates the key). Returns the new value."""
        if scope is not None:
            target = self._target(scope)
            return await self._runner.run(scope_ops.scope_incr(target, key, amount, ttl))
        if len(self._groups) == 1:
            _, value = await self._runner.run(ops.context_incr(self._targets, key, amount, ttl))
            return value
        target = await self._holder(key) or self._targets[0]
        return await self._runner.run(scope_ops.scope_incr(target, key, amount, ttl))

    async def update(
        self,
        key: str,
        fn: Callable[[Any], Any],
        *,
        scope: str | None = None,
        default: Any = None,
        ttl: float | None = None,
    ) -> Any:
        """Replace the value of `key` in the most specific bound scope that holds it with
        `fn(value)`; when none holds it, store `fn(default)` in the most specific bound
        scope (with `scope`: read and write the bound scope of that kind). One call reads
        the key from the scope that holds it (with its version), a second writes with a
        compare-and-set on that version, retried as `Scope.update` does, so no concurrent
        update of that scope's value is lost. Returns the value stored."""
        target = self._target(scope)
        scope_ops.check_update(target, key, fn, ttl)
        if scope is not None:
            entry = await self._runner.run(scope_ops.scope_get_entry(target, key))
        else:
            calls = ops.context_resolve(
                self._targets, self._groups, key, with_value=True, entry=True
            )
            hit = ops.first_hit(await self._runner.run_all(calls))
            entry = None
            if hit is not None:
                target, entry = self._targets[hit[0]], hit[1]
        return await update_from(self._runner, target, key, fn, entry, default, ttl)

    async def keys(self, *, scope: str | None = None) -> list[str]:
        """The live keys of the bound scopes, sorted, each once: what `get` can find (with
        `scope`, those of the bound scope of that kind). One script call per scope, sent
        together in one round trip (one per node on a cluster)."""
        if scope is not None:
            return await self._runner.run(scope_ops.scope_keys(self._target(scope)))
        found = await self._runner.run_all([scope_ops.scope_keys(t) for t in self._targets])
        return sorted({k for keys in found for k in keys})

    async def _holder(self, key: str) -> Target | None:
        """The most specific bound scope holding `key`, by one resolve (per slot)."""
        calls = ops.context_resolve(self._targets, self._groups, key, with_value=False)
        hit = ops.first_hit(await self._runner.run_all(calls))
        return None if hit is None else self._targets[hit[0]]

    def _target(self, kind: str | None) -> Target:
        if kind is None:
            return self._targets[0]
        kind = KIND_ALIASES.get(kind, kind) if isinstance(kind, str) else kind
        for t in self._targets:
            if t.ref.kind == kind:
                return t
        raise InvalidScopeError(f"no {kind!r} scope is bound to this context", scope=str(kind))
