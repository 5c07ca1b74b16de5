"""Hierarchical lookup over the scopes bound to one unit of work."""

from __future__ import annotations

from typing import Any

from .._config import Config
from .._errors import InvalidScopeError
from .._keys import ScopeRef
from .._ops import context as ops
from .._ops import scope as scope_ops
from .._ops._call import Target
from .._ops.context import Resolved
from .._ops.facts import FactStore
from ._runner import AsyncRunner
from .facts import AsyncContextFacts


class AsyncContext:
    """The scopes bound to one unit of work, searched from the most specific (step) to the
    least (global). On a single server a lookup is one atomic script call; on Redis Cluster
    it is one call per slot, pipelined, and the most specific hit wins."""

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

    def _target(self, kind: str | None) -> Target:
        if kind is None:
            return self._targets[0]
        for t in self._targets:
            if t.ref.kind == kind:
                return t
        raise InvalidScopeError(f"no {kind!r} scope is bound to this context", scope=str(kind))
