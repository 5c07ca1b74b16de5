# Generated from pyredmem/_async/recall.py by scripts/unasync.py: do not edit.
"""Recall handles: a scope's semantic index (`mem.user("alice").recall`)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from .._ops import recall as ops
from .._ops.message import Message
from .._ops.recall import Hit, RecallInfo, RecallItem, RecallStore
from ._runner import Runner


class Recall:
    """A scope's recall index: texts found again by meaning (their embedder's vectors),
    with a kind, a meta dict and an optional time to live each. Writes are one atomic
    script call each, which also logs their change events (target "recall") when the
    Memory logs them; `search` scores on the client against a cache of the index that one
    small call brings up to date (the items written since it was last read, if any). With
    encryption, text and meta are sealed and vectors encrypted (decrypted as the cache
    loads them), and with `encrypt_names` ids are stored encrypted (given back plain)."""

    __slots__ = ("_runner", "_store")

    def __init__(self, runner: Runner, store: RecallStore) -> None:
        self._runner = runner
        self._store = store

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self._store.label} {self._store.signature}>"

    def add(
        self,
        text: str,
        *,
        kind: str | None = None,
        meta: dict[str, Any] | None = None,
        id: str | None = None,
        ttl: float | None = None,
    ) -> str:
        """Index `text` (with an optional `kind` to filter searches by and a `meta` dict
        that comes back with it) and return its id: `id` (an item of that id is replaced)
        or a new random one. `ttl` seconds (None: the index's default, by default never):
        the item then leaves searches and Redis."""
        call = ops.recall_add(self._store, [(text, kind, meta, id, ttl)])
        return (self._runner.run(call))[0]

    def add_many(
        self,
        items: Iterable[str | Mapping[str, Any]],
        *,
        kind: str | None = None,
        ttl: float | None = None,
    ) -> list[str]:
        """Index several items at once, all or nothing (at most 1,000): each a text or a
        mapping with "text" and optionally "kind", "meta", "id" and "ttl" (`kind` and `ttl`
        are the defaults). Returns their ids, in order."""
        call = ops.recall_add(self._store, ops.entries(items, kind, ttl, self._store.label))
        return self._runner.run(call)

    def check_turns(self, thread_id: str, messages: Sequence[Message]) -> None:
        """Raise what `index_turns` would raise for these turns, without embedding them."""
        items = ops.turn_items(thread_id, messages)
        if items:
            ops.recall_check(self._store, items)

    def index_turns(self, thread_id: str, messages: Sequence[Message]) -> None:
        """Index conversation turns just stored (see `history(..., recall=True)`): one
        call for those with text, none when there are none."""
        items = ops.turn_items(thread_id, messages)
        if items:
            self._runner.run(ops.recall_add(self._store, items))

    def search(
        self,
        query: str,
        *,
        k: int = 5,
        min_score: float | None = None,
        kind: str | None = None,
    ) -> list[Hit]:
        """The `k` live items most similar to `query` (cosine similarity of their vectors),
        best first: only those of `kind` when given, and scoring at least `min_score`."""
        store = self._store
        k = ops.check_k(k, store.label)
        min_score = ops.check_min_score(min_score, store.label)
        kind = ops.check_kind(kind, store.label)
        vector = ops.query_vector(store, query)
        cache = ops.cache_of(self._runner, store)
        for _ in range(ops.MAX_PAGES):
            if not self._runner.run(ops.recall_sync(store, cache)):
                break
        return ops.rank(store, cache, vector, k=k, min_score=min_score, kind=kind)

    def get(self, id: str) -> RecallItem | None:
        """The live item `id`, or None."""
        return self._runner.run(ops.recall_get(self._store, id))

    def delete(self, *ids: str) -> int:
        """Remove items by id; returns how many were live."""
        return self._runner.run(ops.recall_delete(self._store, ids))

    def touch(self, *ids: str, ttl: float | None = None) -> int:
        """Give live items a new expiry, `ttl` seconds from now (None: the index's default,
        as `add` gives), without embedding or sending them again; returns how many were
        live (an expired item is not brought back)."""
        return self._runner.run(ops.recall_touch(self._store, ids, ttl))

    def clear(self) -> int:
        """Remove every item of this index; returns how many live ones there were."""
        return self._runner.run(ops.recall_clear(self._store))

    def info(self) -> RecallInfo:
        """The index's backend, live item count, and the embedder that filled it."""
        return self._runner.run(ops.recall_info(self._store))
