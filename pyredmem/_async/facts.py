"""Facts handles: a scope's (`mem.user("alice").facts`) and a context's (`ctx.facts`)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from .._errors import InvalidScopeError
from .._keys import KIND_ALIASES
from .._ops import facts as ops
from .._ops.facts import Fact, FactStore
from ._runner import AsyncRunner


class AsyncFactsReads:
    """The reads of a facts handle, over its stores, most specific first (one for a
    scope's facts): each answers from the most specific store that has an answer."""

    __slots__ = ("_groups", "_runner", "_stores")

    def __init__(self, runner: AsyncRunner, stores: Sequence[FactStore]) -> None:
        self._runner = runner
        self._stores = tuple(stores)
        self._groups = ops.plan_groups(self._stores, per_slot=runner.cluster)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {' > '.join(s.label for s in self._stores)}>"

    async def get(
        self,
        subject: str,
        predicate: str,
        default: Any = None,
        *,
        as_of: object = None,
        known_at: object = None,
    ) -> Any:
        """The object of `subject` `predicate` valid at world time `as_of`, as believed at
        recording time `known_at` (both: a datetime, a date or seconds since the epoch;
        None: now): a list of them for a predicate recorded with cardinality "many"
        (earliest valid_from first), `default` when none is valid."""
        calls, answer = ops.facts_get(
            self._stores,
            self._groups,
            subject,
            predicate,
            default,
            as_of=as_of,
            known_at=known_at,
        )
        return answer(await self._runner.run_all(calls))

    async def about(
        self, subject: str, *, as_of: object = None, known_at: object = None
    ) -> dict[str, Any]:
        """Every predicate of `subject` with an object valid at `as_of` as believed at
        `known_at` (see `get`): predicate -> object (a list for "many"), sorted by
        predicate."""
        calls, answer = ops.facts_about(
            self._stores, self._groups, subject, as_of=as_of, known_at=known_at
        )
        result: dict[str, Any] = answer(await self._runner.run_all(calls))
        return result

    async def find(
        self, predicate: str, object: Any, *, as_of: object = None, known_at: object = None
    ) -> list[str]:
        """The subjects whose `predicate` has `object` valid at `as_of` as believed at
        `known_at` (see `get`), sorted. Objects compare by their encoded bytes."""
        find = ops.facts_find(
            self._stores, self._groups, predicate, object, as_of=as_of, known_at=known_at
        )
        found = find.found(await self._runner.run_all(find.calls()))
        checks = find.checks(found)
        checked = await self._runner.run_all(checks) if checks else []
        return find.subjects(found, checked)

    async def subjects(self, *, limit: int = 100, after: str | None = None) -> list[str]:
        """A page of the subjects with any fact recorded here (in any of a context's
        scopes; superseded and retracted ones too, until `clear`), each once: the first
        `limit` (1 to 1000) after the subject `after` (None: from the first), in the order
        of their stored text (with `encrypt_names`, of their encryptions: a fixed order,
        not an alphabetical one). A page shorter than `limit` is the last; pass the last
        subject of a page as `after` for the next."""
        calls, answer = ops.facts_subjects(self._stores, self._groups, limit=limit, after=after)
        result: list[str] = answer(await self._runner.run_all(calls))
        return result


class AsyncFacts(AsyncFactsReads):
    """A scope's facts: claims (subject, predicate, object) that hold over a world-time
    interval, recorded with the server's clock and never overwritten, so that every query
    can ask what was true at `as_of` as believed at `known_at`. Each method is one atomic
    script call."""

    __slots__ = ()

    @property
    def _store(self) -> FactStore:
        return self._stores[0]

    async def add(
        self,
        subject: str,
        predicate: str,
        object: Any,
        *,
        valid_from: object = None,
        valid_to: object = None,
        source: str | None = None,
        confidence: float | None = None,
        cardinality: str | None = None,
    ) -> Fact:
        """Record that `subject` `predicate` `object` holds from `valid_from` (default:
        now) until `valid_to` (default: until the next change recorded after valid_from,
        else open-ended). For a single-valued predicate (cardinality "one", the default)
        the objects recorded over that interval stop there, their parts outside it staying
        as they were; cardinality "many" keeps several objects valid at once (the same
        object's claims still merge). A subject and predicate keep the cardinality their
        first claim gave them. Returns the version recorded (an identical claim already
        believed over the whole interval is returned as it is, and nothing is written)."""
        call = ops.facts_add(
            self._store,
            subject,
            predicate,
            object,
            valid_from=valid_from,
            valid_to=valid_to,
            source=source,
            confidence=confidence,
            cardinality=cardinality,
        )
        return await self._runner.run(call)

    async def correct(
        self,
        subject: str,
        predicate: str,
        object: Any,
        *,
        valid_from: object = None,
        valid_to: object = None,
        replacing: Any = None,
        source: str | None = None,
        confidence: float | None = None,
    ) -> Fact:
        """Replace a wrong claim: what was recorded as valid at `valid_from` (default: now;
        only `replacing`'s claims, when given) was in fact `object`, over that claim's
        interval unless `valid_from` / `valid_to` say otherwise. Queries known at an
        earlier time still answer the old belief. MissingKeyError when `replacing` is given
        and no claim of it is valid then. Returns the version recorded."""
        call = ops.facts_correct(
            self._store,
            subject,
            predicate,
            object,
            valid_from=valid_from,
            valid_to=valid_to,
            replacing=replacing,
            source=source,
            confidence=confidence,
        )
        return await self._runner.run(call)

    async def retract(
        self, subject: str, predicate: str, object: Any = None, *, at: object = None
    ) -> int:
        """End, at world time `at` (default: now), the claims of `subject` `predicate` (of
        `object` only, when given) valid then, keeping their history; claims starting
        later stay. Returns how many ended."""
        call = ops.facts_retract(self._store, subject, predicate, object, at=at)
        return await self._runner.run(call)

    async def history(self, subject: str, predicate: str) -> list[Fact]:
        """Every version recorded for `subject` `predicate`, superseded ones included,
        oldest first: each with its valid and recorded intervals, source and confidence."""
        return await self._runner.run(ops.facts_history(self._store, subject, predicate))

    async def clear(self) -> int:
        """Remove every fact of this scope, history and all; returns how many versions
        there were."""
        return await self._runner.run(ops.facts_clear(self._store))


class AsyncContextFacts(AsyncFactsReads):
    """The facts of a context's bound scopes: `get`, `about` and `find` answer from the
    most specific scope that has an answer (a session's claim shadows a user's), `subjects`
    lists those of every bound scope; writes and `history` go to the most specific bound
    scope, or to the one of kind `scope`."""

    __slots__ = ()

    def _facts(self, kind: str | None) -> AsyncFacts:
        kind = KIND_ALIASES.get(kind, kind) if isinstance(kind, str) else kind
        for store in self._stores:
            if kind is None or store.ref.kind == kind:
                return AsyncFacts(self._runner, (store,))
        raise InvalidScopeError(f"no {kind!r} scope is bound to this context", scope=str(kind))

    async def add(
        self,
        subject: str,
        predicate: str,
        object: Any,
        *,
        valid_from: object = None,
        valid_to: object = None,
        source: str | None = None,
        confidence: float | None = None,
        cardinality: str | None = None,
        scope: str | None = None,
    ) -> Fact:
        """`AsyncFacts.add` in the scope of kind `scope` (default: the most specific)."""
        return await self._facts(scope).add(
            subject,
            predicate,
            object,
            valid_from=valid_from,
            valid_to=valid_to,
            source=source,
            confidence=confidence,
            cardinality=cardinality,
        )

    async def correct(
        self,
        subject: str,
        predicate: str,
        object: Any,
        *,
        valid_from: object = None,
        valid_to: object = None,
        replacing: Any = None,
        source: str | None = None,
        confidence: float | None = None,
        scope: str | None = None,
    ) -> Fact:
        """`AsyncFacts.correct` in the scope of kind `scope` (default: the most specific)."""
        return await self._facts(scope).correct(
            subject,
            predicate,
            object,
            valid_from=valid_from,
            valid_to=valid_to,
            replacing=replacing,
            source=source,
            confidence=confidence,
        )

    async def retract(
        self,
        subject: str,
        predicate: str,
        object: Any = None,
        *,
        at: object = None,
        scope: str | None = None,
    ) -> int:
        """`AsyncFacts.retract` in the scope of kind `scope` (default: the most specific)."""
        return await self._facts(scope).retract(subject, predicate, object, at=at)

    async def history(
        self, subject: str, predicate: str, *, scope: str | None = None
    ) -> list[Fact]:
        """`AsyncFacts.history` of the scope of kind `scope` (default: the most
        specific)."""
        return await self._facts(scope).history(subject, predicate)
