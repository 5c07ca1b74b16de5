"""A LangGraph store in pyredmem (`pip install pyredmem[langgraph]`).

    store = PyRedMemStore(mem)                        # a sync Memory: batch and abatch
    graph = builder.compile(store=store)

Layout: each LangGraph namespace is one pyredmem scope instance, of kind `kind` (default
"actor"), whose id is the namespace's labels, each percent-quoted, joined by "/"
(`("memories", "alice")` -> `actor:memories/alice`); an item is one key of that scope,
holding `{"value": ..., "created_at": ..., "updated_at": ..., "ttl": ..., "index": ...}`
("ttl" when it has one, "index" the field paths it indexed when any). So a namespace holds
at most `max_keys_per_scope` items, and every item of one namespace lives under one hash
tag (one cluster slot). The namespaces written are listed in one more scope of that kind
(id `%namespaces`, which no quoted label can be), so `list_namespaces` and a search under a
prefix find them without scanning Redis. That list's entries never expire (whatever the
Memory's `default_ttl`): a namespace whose items are all gone stays in it but is not
returned. It too holds at most `max_keys_per_scope` namespaces: a put to one more raises
CapacityError and writes nothing.

Each `batch` / `abatch` sends its operations together: a batch with puts first writes
their namespaces' entries in that list (one round trip), then its puts, deletes and gets go
in one round trip (one pipeline per node on a cluster), then, with an index, the writes of
their vectors (one more), plus one for the gets' TTL refreshes when any are due (and one
for those items' vectors); a search or a listing reads the namespace list, then the
matching namespaces' keys, then their items (three round trips however many namespaces),
a query search then brings the client's copies of their recall indexes up to date (one
more, usually). Each write is atomic on its own; a batch is not a transaction.

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
(one per field path with text, the texts of a path joined; at most MAX_INDEXED_PATHS), by
a call after the put's, and removes the item's vectors of an earlier put that this one has
not; a delete removes them all (a store without `index` leaves the recall index alone).
Vectors expire with their item (the put's TTL, or the Memory's default_ttl as the item),
and a read that re-arms an item's TTL through a store with `index` re-arms its vectors'
expiry with it (one `recall.touch` call: nothing is embedded again), so they never outlive
it (but for the milliseconds between the two calls). A vector is tagged with its put's
`updated_at` and scores only that put's item: never a later value of the key, nor an item
that is gone.
`embed` is a pyredmem `Embedder`, a LangChain `Embeddings` or a function of texts (with
`dims`); omitted, the Memory's embedder. A query search ranks the items by their best
field's cosine similarity (`SearchItem.score`; every indexed item of the result scored,
however many the namespaces hold), filter applied; items without vectors follow.
"""

from __future__ import annotations

import asyncio
import json
import math
import sys
from collections.abc import Callable, Generator, Iterable, Mapping, Sequence
from dataclasses import replace
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
from .._errors import InvalidValueError
from .._keys import ScopeRef
from .._ops import recall as recall_ops
from .._ops import scope as scope_ops
from .._ops._call import Call, Target
from .._ops.scope import Entry
from .._sync.memory import Memory

__all__ = ["MAX_INDEXED_PATHS", "PyRedMemStore"]

CATALOG_ID = "%namespaces"  # quote() never writes "%n": no namespace maps to it
#: field paths with text one item may index: its vectors' recall ids are (key, 0..31)
MAX_INDEXED_PATHS = 32
_SEP = "/"

_Step = list[Call[Any]]
_Plan = Generator[_Step, list[Any], list[Result]]
_Namespace = tuple[str, ...]


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
        self._fields: list[str] = []
        self._embedder: Any = None
        if index is not None:
            self._fields = list(index.get("fields") or ["$"])
            self._embedder = _embedder_of(index)
        # the namespace list: its entries never expire, whatever the Memory's default_ttl
        lasting = replace(memory._cfg, default_ttl=None)
        self._catalog = Target(lasting, ScopeRef.of(kind, CATALOG_ID))

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
            replies = memory._runner.run_all(step)

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
            replies = await memory._runner.run_all(step)

    # ------------------------------------------------------- the plan (no Redis I/O)

    def _target(self, namespace: _Namespace) -> Target:
        return Target(self.memory._cfg, ScopeRef.of(self.kind, _scope_id(namespace)))

    def _recall(self, namespace: _Namespace) -> recall_ops.RecallStore:
        """The recall index of a namespace, read and written with this store's embedder."""
        ref = ScopeRef.of(self.kind, _scope_id(namespace))
        return recall_ops.RecallStore(self.memory._cfg, ref, embedder=self._embedder)

    def _plan(self, ops: list[Op]) -> _Plan:
        """The calls `ops` need, step by step (each step's replies sent back in), and
        their results. Every call is built (and every text to index embedded) before the
        first is sent: an operation refused on the client writes nothing."""
        results: list[Result] = [None] * len(ops)
        now = datetime.now(timezone.utc).timestamp()
        calls: list[Call[Any]] = []
        gets: dict[int, tuple[int, GetOp, Target]] = {}  # by the call's place in `calls`
        listed: dict[str, list[str]] = {}  # the namespaces put to, by scope id
        vectors: list[Call[Any]] = []
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
                        vectors += self._vectors(op.namespace, op.key, [], now, None, rest=True)
                    continue
                ttl = None if op.ttl is None else op.ttl * 60
                doc: dict[str, Any] = {
                    "value": dict(op.value),
                    "created_at": now,
                    "updated_at": now,
                }
                if op.ttl is not None:
                    doc["ttl"] = op.ttl
                texts = self._put_texts(op)
                if texts:
                    doc["index"] = [path for path, _ in texts]
                calls.append(scope_ops.scope_set(t, op.key, doc, ttl))
                listed[t.ref.id] = list(op.namespace)
                if self._fields:
                    vectors += self._vectors(op.namespace, op.key, texts, now, ttl, rest=True)
            elif not isinstance(op, (SearchOp, ListNamespacesOp)):
                raise ValueError(f"unknown operation type: {type(op).__name__}")
        if listed:  # first: past the list's cap, the puts write nothing
            yield [scope_ops.scope_set(self._catalog, k, v, None) for k, v in listed.items()]
        replies = (yield calls) if calls else []
        if vectors:
            yield vectors
        refresh: list[tuple[Target, str, Entry]] = []
        for at, (i, op, t) in gets.items():
            entry = replies[at]
            if entry is not None:
                results[i] = _item(op.namespace, op.key, entry.value)
                if op.refresh_ttl:
                    refresh.append((t, op.key, entry))
        yield from self._refresh(refresh)
        reads = [
            (i, op) for i, op in enumerate(ops) if isinstance(op, (SearchOp, ListNamespacesOp))
        ]
        if reads:
            found = yield from self._reads(reads)
            for i, result in found.items():
                results[i] = result
        return results

    def _put_texts(self, op: PutOp) -> list[tuple[str, str]]:
        """The (path, text) pairs a put indexes (none without an index, or with
        index=False)."""
        if not self._fields or op.index is False or op.value is None:
            return []
        return _texts(op.value, self._fields if op.index is None else op.index)

    def _vectors(
        self,
        namespace: _Namespace,
        key: str,
        texts: list[tuple[str, str]],
        at: float,
        ttl: float | None,
        *,
        rest: bool,
    ) -> list[Call[Any]]:
        """The recall calls that give item `key` (put at `at`) the vectors of `texts`, for
        `ttl` seconds (None: the Memory's default_ttl, as its item); with `rest`, they also
        remove its other vectors (those of an earlier put)."""
        store = self._recall(namespace)
        out: list[Call[Any]] = []
        if texts:
            items = [
                (text, None, {"key": key, "path": path, "at": at}, _recall_id(key, n), ttl)
                for n, (path, text) in enumerate(texts)
            ]
            out.append(recall_ops.recall_add(store, items))
        if rest and len(texts) < MAX_INDEXED_PATHS:
            stale = [_recall_id(key, n) for n in range(len(texts), MAX_INDEXED_PATHS)]
            out.append(recall_ops.recall_delete(store, stale))
        return out

    def _refresh(self, read: list[tuple[Target, str, Entry]]) -> Generator[_Step, list[Any], None]:
        """Re-arm the TTL of the items read that have one: a compare-and-set of each as
        read (a put that came in between wins, and keeps its own TTL), then, with an index,
        the expiry of the vectors of those re-armed (`recall_touch`: nothing is embedded
        or sent again)."""
        read = [(t, key, e) for t, key, e in read if e.value.get("ttl") is not None]
        if not read:
            return
        touches: list[Call[Any] | None] = []
        for t, key, e in read:
            doc = e.value
            paths = doc.get("index") or [] if self._fields else []
            ids = [_recall_id(key, n) for n in range(len(paths))]
            store = self._recall(_namespace(t.ref.id))
            touches.append(recall_ops.recall_touch(store, ids, doc["ttl"] * 60) if ids else None)
        done = yield [
            scope_ops.scope_cas(t, key, e.version, e.value, e.value["ttl"] * 60)
            for t, key, e in read
        ]
        rearm = [c for c, cas in zip(touches, done, strict=True) if cas.stored and c is not None]
        if rearm:
            yield rearm

    def _scores(
        self, namespaces: list[_Namespace], query: str
    ) -> Generator[_Step, list[Any], dict[tuple[_Namespace, str, float], float]]:
        """The best score of each (namespace, key, updated_at) the vectors of `namespaces`
        are tagged with, for `query`: every live vector scored (one sync of each index's
        client cache, then a ranking of all it holds)."""
        stores = [self._recall(ns) for ns in namespaces]
        vector = recall_ops.query_vector(stores[0], query)
        caches = [recall_ops.cache_of(self.memory._runner, s) for s in stores]
        pending = list(range(len(stores)))
        for _ in range(recall_ops.MAX_PAGES):
            more = yield [recall_ops.recall_sync(stores[n], caches[n]) for n in pending]
            pending = [n for n, again in zip(pending, more, strict=True) if again]
            if not pending:
                break
        scores: dict[tuple[_Namespace, str, float], float] = {}
        for ns, store, cache in zip(namespaces, stores, caches, strict=True):
            every = recall_ops.rank(store, cache, vector, k=sys.maxsize, min_score=None, kind=None)
            for hit in every:
                meta = hit.meta or {}
                key, at = meta.get("key"), meta.get("at")
                if isinstance(key, str) and isinstance(at, float):
                    tag = (ns, key, at)
                    scores[tag] = max(scores.get(tag, -math.inf), hit.score)
        return scores

    def _reads(
        self, reads: Sequence[tuple[int, SearchOp | ListNamespacesOp]]
    ) -> Generator[_Step, list[Any], dict[int, Result]]:
        """Searches and listings: the namespace list, then the keys of the namespaces they
        may return (to skip empty ones, and to read the items), then the items."""
        (names,) = yield [scope_ops.scope_keys(self._catalog)]
        namespaces = sorted({_namespace(n) for n in names if n != CATALOG_ID})
        wanted: set[_Namespace] = set()
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
        items: dict[_Namespace, dict[str, Any]] = {}
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
        refresh: list[tuple[_Namespace, str]] = []
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
            scores: dict[tuple[_Namespace, str], float] = {}
            indexed = sorted({ns for ns, _, doc in candidates if doc.get("index")})
            if op.query and self._fields and indexed:
                tagged = yield from self._scores(indexed, op.query)
                for ns, key, doc in candidates:
                    score = tagged.get((ns, key, doc["updated_at"]))  # this put's vectors
                    if score is not None:
                        scores[(ns, key)] = score
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
            yield from self._refresh(
                [(t, key, e) for (t, key), e in zip(targets_of, entries, strict=True) if e]
            )
        return out


# ---------------------------------------------------------------------------- helpers


def _scope_id(namespace: Sequence[str]) -> str:
    return _SEP.join(quote(label, safe="") for label in namespace)


def _namespace(scope_id: str) -> _Namespace:
    return tuple(unquote(label) for label in scope_id.split(_SEP))


def _recall_id(key: str, n: int) -> str:
    """The recall id of an item's `n`th vector."""
    return json.dumps([key, n])


def _texts(value: Mapping[str, Any], paths: Sequence[str]) -> list[tuple[str, str]]:
    """The (path, text) pairs of `value` at `paths` that have text (a path's texts joined),
    in order: at most MAX_INDEXED_PATHS, else InvalidValueError."""
    out = []
    for path in paths:
        texts = [t for t in get_text_at_path(value, tokenize_path(path)) if t]
        if texts:
            out.append((path, "\n".join(texts)))
    if len(out) > MAX_INDEXED_PATHS:
        raise InvalidValueError(
            f"an item indexes at most {MAX_INDEXED_PATHS} field paths with text, not {len(out)}"
        )
    return out


def _item(namespace: _Namespace, key: str, doc: dict[str, Any]) -> Item:
    return Item(
        value=doc["value"],
        key=key,
        namespace=namespace,
        created_at=datetime.fromtimestamp(doc["created_at"], timezone.utc),
        updated_at=datetime.fromtimestamp(doc["updated_at"], timezone.utc),
    )


def _search_item(
    namespace: _Namespace, key: str, doc: dict[str, Any], score: float | None
) -> SearchItem:
    return SearchItem(
        namespace=namespace,
        key=key,
        value=doc["value"],
        created_at=datetime.fromtimestamp(doc["created_at"], timezone.utc),
        updated_at=datetime.fromtimestamp(doc["updated_at"], timezone.utc),
        score=score,
    )


def _matches(condition: MatchCondition, namespace: _Namespace) -> bool:
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
