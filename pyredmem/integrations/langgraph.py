"""A LangGraph store in pyredmem (`pip install pyredmem[langgraph]`).

    store = PyRedMemStore(mem)                        # a sync Memory: batch and abatch
    graph = builder.compile(store=store)

Layout: each LangGraph namespace is one pyredmem scope instance, of kind `kind` (default
"actor"), whose id is the namespace's labels, each percent-quoted, joined by "/"
(`("memories", "alice")` -> `actor:memories/alice`); an item is one key of that scope,
holding `{"value": ..., "created_at": ..., "updated_at": ..., "ttl": ...}`. So a namespace
holds at most `max_keys_per_scope` items, and every item of one namespace lives under one
hash tag (one cluster slot). The namespaces written are listed in one more scope of that
kind (id `%namespaces`, which no quoted label can be), so `list_namespaces` and a search
under a prefix find them without scanning Redis; a namespace whose items are all gone stays
in that list but is not returned.

Each `batch` / `abatch` sends its operations together: one round trip for the puts, deletes
and gets of a batch (one pipeline per node on a cluster), plus one for the gets' TTL
refreshes when any are due; a search or a listing reads the namespace list, then the
matching namespaces' keys, then their items (three round trips however many namespaces).
Each write is atomic on its own; a batch is not a transaction.

Semantics, as LangGraph's own stores have them: `created_at` and `updated_at` are the time
of the item's latest put (client clock), as in `InMemoryStore`; a search returns the newest
items first (by `updated_at`), filtered by `filter` (equality, nested dicts, and the
operators `$eq $ne $gt $gte $lt $lte`), paginated by `offset` / `limit`. Times to live are
in minutes (`ttl=` on `put`, or `ttl={"default_ttl": ...}`); `refresh_on_read` (default
True) re-arms an item's TTL when a get or search returns it: a compare-and-set of the item
as read, so a put that came in between wins and keeps its own TTL.

Semantic search (`index={"fields": [...], "embed": ...}` and `search(..., query=...)`) goes
through pyredmem's recall index of each namespace's scope: a put indexes the texts at the
configured fields (or the put's own `index=[...]`; `index=False`: none) as recall items
(one per field path, the texts of a path joined), by a second call after the put's; a
delete removes them. `embed` is a pyredmem `Embedder`, a LangChain `Embeddings` or a
function of texts (with `dims`); omitted, the Memory's embedder. A query search ranks the
items by their best field's cosine similarity (`SearchItem.score`), filter applied.
"""

from __future__ import annotations

import asyncio
import json
import math
from collections.abc import Callable, Generator, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, cast
from urllib.parse import quote, unquote

try:
    from langgraph.store.base import (
        BaseStore,
        GetOp,
        IndexConfig,
        Item,
        ListNamespacesOp,
        MatchCondition,
        Op,
        PutOp,
        Result,
        SearchItem,
        SearchOp,
        TTLConfig,
    )
    from langgraph.store.base.embed import ensure_embeddings, get_text_at_path, tokenize_path
except ImportError as exc:  # pragma: no cover - the extra is installed wherever tests run
    from ._require import missing

    raise missing("langgraph", "langgraph") from exc

from .._async.memory import AsyncMemory
from .._keys import ScopeRef
from .._ops import scope as scope_ops
from .._ops._call import Call, Target
from .._ops.recall import Hit
from .._sync.memory import Memory

__all__ = ["PyRedMemStore"]

CATALOG_ID = "%namespaces"  # quote() never writes "%n": no namespace maps to it
_SEP = "/"


@dataclass(frozen=True, slots=True)
class _RecallAdd:
    ref: ScopeRef
    items: list[dict[str, Any]]


@dataclass(frozen=True, slots=True)
class _RecallDelete:
    ref: ScopeRef
    ids: list[str]


@dataclass(frozen=True, slots=True)
class _RecallSearch:
    ref: ScopeRef
    query: str
    k: int


_Step = list[Call[Any]] | list[_RecallAdd | _RecallDelete] | list[_RecallSearch]
_Plan = Generator[_Step, list[Any], list[Result]]


class PyRedMemStore(BaseStore):
    """A LangGraph `BaseStore` kept in pyredmem (see the module docstring for the layout).

    `memory`: a `Memory` serves `batch` and, in a worker thread, `abatch`; an `AsyncMemory`
    serves `abatch` natively, and `batch` raises TypeError. `kind`: the scope kind that
    holds the namespaces. `ttl`: LangGraph's TTLConfig (`default_ttl` in minutes,
    `refresh_on_read`). `index`: LangGraph's IndexConfig for semantic search (`fields`,
    `embed`, `dims`).
    """

    supports_ttl = True

    def __init__(
        self,
        memory: Memory | AsyncMemory,
        *,
        kind: str = "actor",
        ttl: TTLConfig | None = None,
        index: IndexConfig | None = None,
    ) -> None:
        if not isinstance(memory, (Memory, AsyncMemory)):
            raise TypeError(
                f"expected a pyredmem Memory or AsyncMemory, not {type(memory).__name__}"
            )
        self.memory = memory
        self.kind = ScopeRef.of(kind, "x").kind  # checked
        self.ttl_config = ttl
        self.index_config = index
        self._fields: list[tuple[str, list[str]]] = []
        self._embedder: Any = None
        if index is not None:
            paths = index.get("fields") or ["$"]
            self._fields = [(p, tokenize_path(p)) for p in paths]
            self._embedder = _embedder_of(index)
        self._catalog = Target(memory._cfg, ScopeRef.of(kind, CATALOG_ID))

    def __repr__(self) -> str:
        return f"<{type(self).__name__} kind={self.kind!r} {self.memory!r}>"

    # ------------------------------------------------------------------ the two drivers

    def batch(self, ops: Iterable[Op]) -> list[Result]:
        """Run `ops` (gets, puts, searches, listings), results in order."""
        memory = self.memory
        if isinstance(memory, AsyncMemory):
            raise TypeError("this store wraps an AsyncMemory: use abatch (or the a* methods)")
        plan = self._plan(list(ops))
        replies: list[Any] | None = None
        while True:
            try:
                step = plan.send(replies)  # type: ignore[arg-type]  # None starts it
            except StopIteration as done:
                return cast(list[Result], done.value)
            replies = self._run_sync(memory, step)

    async def abatch(self, ops: Iterable[Op]) -> list[Result]:
        """As `batch`."""
        memory = self.memory
        if isinstance(memory, Memory):
            return await asyncio.to_thread(self.batch, list(ops))
        plan = self._plan(list(ops))
        replies: list[Any] | None = None
        while True:
            try:
                step = plan.send(replies)  # type: ignore[arg-type]  # None starts it
            except StopIteration as done:
                return cast(list[Result], done.value)
            replies = await self._run_async(memory, step)

    def _run_sync(self, memory: Memory, step: _Step) -> list[Any]:
        if not step:
            return []
        if isinstance(step[0], Call):
            return memory._runner.run_all(step)
        out: list[Any] = []
        for request in step:
            recall = memory.recall(scope=request.ref, embedder=self._embedder)
            if isinstance(request, _RecallAdd):
                out.append(recall.add_many(request.items))
            elif isinstance(request, _RecallDelete):
                out.append(recall.delete(*request.ids))
            else:
                assert isinstance(request, _RecallSearch)
                out.append(recall.search(request.query, k=request.k))
        return out

    async def _run_async(self, memory: AsyncMemory, step: _Step) -> list[Any]:
        if not step:
            return []
        if isinstance(step[0], Call):
            return await memory._runner.run_all(step)
        out: list[Any] = []
        for request in step:
            recall = memory.recall(scope=request.ref, embedder=self._embedder)
            if isinstance(request, _RecallAdd):
                out.append(await recall.add_many(request.items))
            elif isinstance(request, _RecallDelete):
                out.append(await recall.delete(*request.ids))
            else:
                assert isinstance(request, _RecallSearch)
                out.append(await recall.search(request.query, k=request.k))
        return out

    # ------------------------------------------------------------- the plan (no I/O)

    def _target(self, namespace: tuple[str, ...]) -> Target:
        return Target(self.memory._cfg, ScopeRef.of(self.kind, _scope_id(namespace)))

    def _plan(self, ops: list[Op]) -> _Plan:
        """The calls `ops` need, step by step (each step's replies sent back in), and
        their results."""
        results: list[Result] = [None] * len(ops)
        now = datetime.now(timezone.utc).timestamp()
        calls: list[Call[Any]] = []
        gets: dict[int, tuple[int, GetOp, Target]] = {}  # by the call's place in `calls`
        listed: set[tuple[str, ...]] = set()
        recall_writes: list[_RecallAdd | _RecallDelete] = []
        # the last put of a key wins, as in LangGraph's own stores
        last_put = {(op.namespace, op.key): i for i, op in enumerate(ops) if isinstance(op, PutOp)}
        for i, op in enumerate(ops):
            if isinstance(op, GetOp):
                t = self._target(op.namespace)
                gets[len(calls)] = (i, op, t)
                calls.append(scope_ops.scope_get_entry(t, op.key))
            elif isinstance(op, PutOp):
                if last_put[(op.namespace, op.key)] != i:
                    continue
                t = self._target(op.namespace)
                if op.value is None:
                    calls.append(scope_ops.scope_delete(t, op.key))
                    if self._fields:
                        ids = [_recall_id(op.key, p) for p, _ in self._fields]
                        recall_writes.append(_RecallDelete(t.ref, ids))
                    continue
                ttl = None if op.ttl is None else op.ttl * 60
                doc = {"value": dict(op.value), "created_at": now, "updated_at": now}
                if op.ttl is not None:
                    doc["ttl"] = op.ttl
                calls.append(scope_ops.scope_set(t, op.key, doc, ttl))
                if op.namespace not in listed:
                    listed.add(op.namespace)
                    names = list(op.namespace)
                    calls.append(scope_ops.scope_set(self._catalog, t.ref.id, names, None))
                texts = self._texts(op)
                if texts:
                    recall_writes.append(_RecallAdd(t.ref, texts))
            elif not isinstance(op, (SearchOp, ListNamespacesOp)):
                raise ValueError(f"unknown operation type: {type(op).__name__}")
        replies = (yield calls) if calls else []
        if recall_writes:
            yield recall_writes
        refresh: list[Call[Any]] = []
        for at, (i, op, t) in gets.items():
            reply = replies[at]
            if reply is None:
                continue
            doc = reply.value
            results[i] = _item(op.namespace, op.key, doc)
            if op.refresh_ttl and doc.get("ttl") is not None:
                refresh.append(scope_ops.scope_cas(t, op.key, reply.version, doc, doc["ttl"] * 60))
        if refresh:
            yield refresh
        reads = [
            (i, op) for i, op in enumerate(ops) if isinstance(op, (SearchOp, ListNamespacesOp))
        ]
        if reads:
            found = yield from self._reads(reads)
            for i, result in found.items():
                results[i] = result
        return results

    def _texts(self, op: PutOp) -> list[dict[str, Any]]:
        """The recall items a put indexes (none without an index, or with index=False)."""
        if not self._fields or op.index is False or op.value is None:
            return []
        paths = self._fields if op.index is None else [(p, tokenize_path(p)) for p in op.index]
        out = []
        for path, tokens in paths:
            texts = [t for t in get_text_at_path(op.value, tokens) if t]
            if texts:
                meta = {"key": op.key, "path": path}
                out.append({"text": "\n".join(texts), "id": _recall_id(op.key, path), "meta": meta})
        return out

    def _reads(
        self, reads: Sequence[tuple[int, SearchOp | ListNamespacesOp]]
    ) -> Generator[_Step, list[Any], dict[int, Result]]:
        """Searches and listings: the namespace list, then the keys of the namespaces they
        may return (to skip empty ones, and to read the items), then the items."""
        (names,) = yield [scope_ops.scope_keys(self._catalog)]
        namespaces = sorted({_namespace(n) for n in names if n != CATALOG_ID})
        wanted: set[tuple[str, ...]] = set()
        for _, op in reads:
            if isinstance(op, SearchOp):
                n = len(op.namespace_prefix)
                wanted.update(ns for ns in namespaces if ns[:n] == op.namespace_prefix)
            else:
                assert isinstance(op, ListNamespacesOp)
                conditions = op.match_conditions or ()
                wanted.update(ns for ns in namespaces if all(_matches(c, ns) for c in conditions))
        order = sorted(wanted)
        targets = [self._target(ns) for ns in order]
        key_lists = (yield [scope_ops.scope_keys(t) for t in targets]) if targets else []
        live = {ns: keys for ns, keys in zip(order, key_lists, strict=True) if keys}
        out: dict[int, Result] = {}
        searches = [(i, op) for i, op in reads if isinstance(op, SearchOp)]
        items: dict[tuple[str, ...], dict[str, Any]] = {}
        if searches:
            needed = sorted(
                {
                    ns
                    for _, op in searches
                    for ns in live
                    if ns[: len(op.namespace_prefix)] == op.namespace_prefix
                }
            )
            calls = [scope_ops.scope_get_many(self._target(ns), live[ns]) for ns in needed]
            docs = (yield calls) if calls else []
            items = dict(zip(needed, docs, strict=True))
        refresh: list[tuple[tuple[str, ...], str]] = []
        for i, op in reads:
            if isinstance(op, ListNamespacesOp):
                found = list(live)
                if op.max_depth is not None:
                    found = sorted({ns[: op.max_depth] for ns in found})
                out[i] = found[op.offset : op.offset + op.limit]
                continue
            assert isinstance(op, SearchOp)
            n = len(op.namespace_prefix)
            candidates = [
                (ns, key, doc)
                for ns, docs in items.items()
                if ns[:n] == op.namespace_prefix
                for key, doc in docs.items()
                if _passes(doc.get("value"), op.filter)
            ]
            scores: dict[tuple[tuple[str, ...], str], float] = {}
            if op.query and self._fields:
                spaces = sorted({ns for ns, _, _ in candidates})
                k = min(1000, max(1, len(candidates)))
                hits = yield [_RecallSearch(self._target(ns).ref, op.query, k) for ns in spaces]
                for ns, found_hits in zip(spaces, hits, strict=True):
                    for hit in cast(list[Hit], found_hits):
                        key = (hit.meta or {}).get("key")
                        if isinstance(key, str):
                            at = (ns, key)
                            scores[at] = max(scores.get(at, -math.inf), hit.score)
            candidates.sort(key=lambda c: (-c[2].get("updated_at", 0), c[0], c[1]))
            if scores:
                candidates.sort(key=lambda c: -scores.get((c[0], c[1]), -math.inf))
            page = candidates[op.offset : op.offset + op.limit]
            out[i] = [
                _search_item(ns, key, doc, scores.get((ns, key)) if op.query else None)
                for ns, key, doc in page
            ]
            if op.refresh_ttl:
                refresh += [(ns, key) for ns, key, doc in page if doc.get("ttl") is not None]
        if refresh:
            targets_of = [(self._target(ns), key) for ns, key in refresh]
            entries = yield [scope_ops.scope_get_entry(t, key) for t, key in targets_of]
            cas = [
                scope_ops.scope_cas(t, key, e.version, e.value, e.value["ttl"] * 60)
                for (t, key), e in zip(targets_of, entries, strict=True)
                if e is not None and e.value.get("ttl") is not None
            ]
            if cas:
                yield cas
        return out


# ---------------------------------------------------------------------------- helpers


def _scope_id(namespace: Sequence[str]) -> str:
    return _SEP.join(quote(label, safe="") for label in namespace)


def _namespace(scope_id: str) -> tuple[str, ...]:
    return tuple(unquote(label) for label in scope_id.split(_SEP))


def _recall_id(key: str, path: str) -> str:
    return json.dumps([key, path])


def _item(namespace: tuple[str, ...], key: str, doc: dict[str, Any]) -> Item:
    return Item(
        value=doc["value"],
        key=key,
        namespace=namespace,
        created_at=datetime.fromtimestamp(doc["created_at"], timezone.utc),
        updated_at=datetime.fromtimestamp(doc["updated_at"], timezone.utc),
    )


def _search_item(
    namespace: tuple[str, ...], key: str, doc: dict[str, Any], score: float | None
) -> SearchItem:
    return SearchItem(
        namespace=namespace,
        key=key,
        value=doc["value"],
        created_at=datetime.fromtimestamp(doc["created_at"], timezone.utc),
        updated_at=datetime.fromtimestamp(doc["updated_at"], timezone.utc),
        score=score,
    )


def _matches(condition: MatchCondition, namespace: tuple[str, ...]) -> bool:
    path = tuple(condition.path)
    if len(namespace) < len(path):
        return False
    if condition.match_type == "prefix":
        pairs = zip(namespace, path, strict=False)
    elif condition.match_type == "suffix":
        pairs = zip(reversed(namespace), reversed(path), strict=False)
    else:
        raise ValueError(f"unsupported match type: {condition.match_type!r}")
    return all(p == "*" or k == p for k, p in pairs)


def _passes(value: Any, filter: dict[str, Any] | None) -> bool:
    if not filter:
        return True
    if not isinstance(value, dict):
        return False
    return all(_compare(value.get(k), v) for k, v in filter.items())


_OPERATORS: dict[str, Callable[[Any, Any], bool]] = {
    "$eq": lambda a, b: bool(a == b),
    "$ne": lambda a, b: bool(a != b),
    "$gt": lambda a, b: float(a) > float(b),
    "$gte": lambda a, b: float(a) >= float(b),
    "$lt": lambda a, b: float(a) < float(b),
    "$lte": lambda a, b: float(a) <= float(b),
}


def _compare(value: Any, wanted: Any) -> bool:
    """A filter's test of one value: LangGraph's (JSONB-like) semantics."""
    if isinstance(wanted, dict):
        if any(isinstance(k, str) and k.startswith("$") for k in wanted):
            for op, arg in wanted.items():
                test = _OPERATORS.get(op)
                if test is None:
                    raise ValueError(f"unsupported operator: {op!r}")
                try:
                    if not test(value, arg):
                        return False
                except (TypeError, ValueError):
                    return False
            return True
        if not isinstance(value, dict):
            return False
        return all(_compare(value.get(k), v) for k, v in wanted.items())
    if isinstance(wanted, (list, tuple)):
        return (
            isinstance(value, (list, tuple))
            and len(value) == len(wanted)
            and all(_compare(a, b) for a, b in zip(value, wanted, strict=True))
        )
    return bool(value == wanted)


class _Embeddings:
    """LangChain Embeddings (or a function of texts) as a pyredmem Embedder."""

    def __init__(self, embed: Any, dims: int) -> None:
        self._embeddings = ensure_embeddings(embed)
        self._name = f"langgraph:{type(self._embeddings).__name__}:{dims}"
        self._dims = dims

    @property
    def name(self) -> str:
        return self._name

    @property
    def dimension(self) -> int:
        return self._dims

    def embed(self, texts: Sequence[str]) -> Sequence[Sequence[float]]:
        return self._embeddings.embed_documents(list(texts))


def _embedder_of(index: IndexConfig) -> Any:
    """The pyredmem Embedder an index config names (None: the Memory's own)."""
    embed = index.get("embed")
    if embed is None:
        return None
    if all(hasattr(embed, a) for a in ("name", "dimension", "embed")):
        return embed  # a pyredmem Embedder
    dims = index.get("dims")
    if not isinstance(dims, int):
        raise ValueError("index needs 'dims' (the embedding's dimension) with this 'embed'")
    return _Embeddings(embed, dims)
