"""Erasure (no I/O): which keys `scope.erase()` and `mem.erase(...)` remove, and the
`lua/scope_erase.lua` calls that remove them.

Everything stored for a scope instance lives under its hash tag (`Keyspace.prefix`): its
values (h, x), threads (ta, tx, and t:<id>:l, t:<id>:i per thread), facts (f, fi), change
log (ev), and whatever a later feature keeps there. Its scoped caches
(`mem.cache(name, scope=...)`) live under tags of their own, one per bucket (cache.py). So
erasure looks for keys, it does not list them: the shell SCANs every primary with the
patterns below (`ErasePlan.patterns`), then each key found is checked here by parsing it (a
'*' in a pattern spans ':', so a pattern matches other scopes' keys too), and the keys that
belong to the scopes go in one call per cluster slot (all in one on a single server), at
most MAX_KEYS_PER_CALL keys each. The script measures the keys this module knows (the
number of values, threads, turns, fact versions, cache entries, events) and removes them
all.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from .._errors import InvalidScopeError
from .._keys import KIND_ALIASES, KINDS, Keyspace, ScopeRef, key_slot, scope_ref_of
from ._call import Call, script
from .cache import scoped_bucket_key, scoped_cache_pattern
from .thread import thread_of

__all__ = ["MAX_KEYS_PER_CALL", "SCAN_COUNT", "ErasePlan", "Erased", "erase_refs"]

#: the most keys one erase call removes (so that no call holds the server for long)
MAX_KEYS_PER_CALL = 512
#: SCAN's COUNT: the hash table slots one SCAN step visits
SCAN_COUNT = 1000


@dataclass(frozen=True, slots=True)
class Erased:
    """What an erasure removed, by kind: `values` (live or expired but not yet purged),
    `threads` (those the scopes listed), `turns`, `facts` (fact versions, history
    included), `cache_entries` (of the scopes' caches), `events` (change-log entries) and
    `keys`, the Redis keys removed in all. Erased values add up (`a + b`, `sum(...)`)."""

    values: int = 0
    threads: int = 0
    turns: int = 0
    facts: int = 0
    cache_entries: int = 0
    events: int = 0
    keys: int = 0

    def __add__(self, other: object) -> Erased:
        if not isinstance(other, Erased):
            return NotImplemented
        return Erased(*(a + b for a, b in zip(_counts(self), _counts(other), strict=True)))

    def __radd__(self, other: object) -> Erased:
        if other == 0:  # sum()'s start
            return self
        return NotImplemented


def _counts(erased: Erased) -> tuple[int, ...]:
    return dataclasses.astuple(erased)


_FIELDS = tuple(f.name for f in dataclasses.fields(Erased))

# what the script measures of a key (ARGV codes, see lua/scope_erase.lua) and which count
# it adds to, by what follows the scope's hash tag (or a cache bucket's)
_SCOPE_MEASURES = {
    "x": ("values", "z"),  # the values' index: one member per value
    "ta": ("threads", "z"),  # the thread index: one member per thread
    "f": ("facts", "c"),  # field "c": the versions held
    "ev": ("events", "s"),
}
_TURNS = ("turns", "l")  # t:<thread id>:l, a thread's turns
_CACHE_MEASURES = {"x": ("cache_entries", "z"), "ev": ("events", "s")}
_NOTHING = (None, "-")


def erase_refs(scopes: Sequence[object], ids: Mapping[str, object]) -> list[ScopeRef]:
    """The scopes `mem.erase(*scopes, **ids)` names: scope handles or ScopeRefs, then an id
    per kind keyword (None: left out). InvalidScopeError for an unknown kind, a bad id, or
    none at all."""
    refs = []
    for scope in scopes:
        ref = scope_ref_of(scope)
        if ref is None:
            raise InvalidScopeError("erase takes scope handles or ScopeRefs, not None")
        refs.append(ref)
    for kind, ident in ids.items():
        if ident is not None:
            refs.append(ScopeRef.of(kind, ident))
        elif kind not in KINDS and kind not in KIND_ALIASES:
            ScopeRef.of(kind)  # raises: an unknown kind
    if not refs:
        raise InvalidScopeError(
            "erase names no scope: pass scope handles, or ids by kind (user='alice')"
        )
    return refs


class ErasePlan:
    """What to erase: scope instances of one keyspace."""

    __slots__ = ("keyspace", "label", "refs")

    def __init__(self, keyspace: Keyspace, refs: Sequence[ScopeRef]) -> None:
        self.keyspace = keyspace
        self.refs = tuple(dict.fromkeys(refs))
        self.label = ", ".join(str(ref) for ref in self.refs)

    @property
    def patterns(self) -> list[str]:
        """SCAN MATCH patterns: every key of the scopes matches one (and other keys may)."""
        ks = self.keyspace
        out = []
        for ref in self.refs:
            out += [ks.scope_pattern(ref), scoped_cache_pattern(ks, ref)]
        return out

    def measure(self, key: str) -> tuple[str | None, str] | None:
        """(the count `key` adds to, or None; the script's code), when `key` belongs to one
        of the scopes (under its tag, or a bucket's of a cache scoped to it); else None."""
        ks = self.keyspace
        for ref in self.refs:
            suffix = ks.scope_suffix(ref, key)
            if suffix is not None:
                if thread_of(suffix) is not None:
                    return _TURNS
                return _SCOPE_MEASURES.get(suffix, _NOTHING)
            bucket = scoped_bucket_key(ks, ref, key)
            if bucket is not None:
                return _CACHE_MEASURES.get(bucket.suffix, _NOTHING)
        return None

    def calls(self, found: Iterable[str], *, per_slot: bool) -> list[Call[Erased]]:
        """The calls that remove the scopes' keys among `found` (SCAN's finds, others'
        keys included): one per slot on a cluster (`per_slot`), else one, each split into
        calls of at most MAX_KEYS_PER_CALL keys."""
        groups: dict[int, list[tuple[str, str | None, str]]] = {}
        for key in sorted(set(found)):
            measure = self.measure(key)
            if measure is not None:
                slot = key_slot(key) if per_slot else 0
                groups.setdefault(slot, []).append((key, *measure))
        calls = []
        for _, group in sorted(groups.items()):
            for start in range(0, len(group), MAX_KEYS_PER_CALL):
                calls.append(self._call(group[start : start + MAX_KEYS_PER_CALL]))
        return calls

    def _call(self, chunk: list[tuple[str, str | None, str]]) -> Call[Erased]:
        kinds = [kind for _, kind, _ in chunk]

        def parse(reply: list[Any]) -> Erased:
            totals = dict.fromkeys(_FIELDS, 0)
            for kind, n in zip(kinds, reply, strict=True):
                if n < 0:  # gone already
                    continue
                totals["keys"] += 1
                if kind is not None:
                    totals[kind] += n
            return Erased(**totals)

        keys = tuple(key for key, _, _ in chunk)
        codes = tuple(code for _, _, code in chunk)
        return Call(script("scope_erase"), keys, codes, parse, None, self.label)
