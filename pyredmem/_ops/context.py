"""Hierarchical lookup: one `lua/context_resolve.lua` call over the bound scopes, most
specific first; on Redis Cluster one call per slot, the first hit in precedence order wins."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from .._keys import ScopeRef, key_slot, validate_key
from ._call import Call, Target, script
from .scope import decode_payload

__all__ = ["Group", "Resolved", "context_lookup", "context_resolve", "first_hit", "plan_groups"]

_RESOLVE = script("context_resolve")

#: (precedence of the scope that answered, its value)
Hit = tuple[int, Any]


@dataclass(frozen=True, slots=True)
class Resolved:
    """Which scope answered a lookup, and its value."""

    scope: ScopeRef
    value: Any


@dataclass(frozen=True, slots=True)
class Group:
    """Scopes looked up by one script call: their precedences, keys and label."""

    indexes: tuple[int, ...]
    keys: tuple[str, ...]
    label: str


def plan_groups(targets: Sequence[Target], per_slot: bool) -> tuple[Group, ...]:
    """Group `targets` (most specific first) into script calls: all in one, or with
    `per_slot` one per cluster slot, each keeping the precedence order."""
    slots: dict[int, list[int]] = {}
    for i, t in enumerate(targets):
        slots.setdefault(key_slot(t.keys[0]) if per_slot else 0, []).append(i)
    return tuple(
        Group(
            tuple(idx),
            tuple(targets[i].keys[0] for i in idx),  # the scopes' hashes (H)
            ",".join(targets[i].label for i in idx),
        )
        for idx in slots.values()
    )


def context_resolve(
    targets: Sequence[Target], groups: Sequence[Group], key: str, *, with_value: bool
) -> list[Call[Hit | None]]:
    """The calls that resolve `key` over `targets`."""
    key = validate_key(key)
    names = targets[0].cfg.keyspace.names
    args = (key if names is None else names.name(key, "key"), "1" if with_value else "0")
    return [
        Call(_RESOLVE, g.keys, args, _parser(targets, g, key, with_value), key, g.label)
        for g in groups
    ]


def _parser(targets: Sequence[Target], g: Group, key: str, with_value: bool) -> Any:
    def parse(reply: Any) -> Hit | None:
        if reply is None:
            return None
        i = g.indexes[reply[0] - 1]
        return i, decode_payload(targets[i], reply[1], reply[2], key) if with_value else None

    return parse


def first_hit(hits: Sequence[Hit | None]) -> Hit | None:
    """The most specific of the per-slot answers."""
    best = None
    for hit in hits:
        if hit is not None and (best is None or hit[0] < best[0]):
            best = hit
    return best


def context_lookup(
    targets: Sequence[Target],
    groups: Sequence[Group],
    scopes: Sequence[ScopeRef],
    what: str,
    key: str,
    default: Any = None,
) -> tuple[list[Call[Hit | None]], Callable[[list[Hit | None]], Any]]:
    """The calls of a context's `get` (with `default`), `resolve` or `exists` of `key`, and
    what makes their replies (one per call, in order) the answer."""
    if what == "exists":
        return context_resolve(targets, groups, key, with_value=False), _found
    calls = context_resolve(targets, groups, key, with_value=True)
    if what == "get":

        def value(hits: list[Hit | None]) -> Any:
            hit = first_hit(hits)
            return default if hit is None else hit[1]

        return calls, value

    def resolved(hits: list[Hit | None]) -> Resolved | None:
        hit = first_hit(hits)
        return None if hit is None else Resolved(scopes[hit[0]], hit[1])

    return calls, resolved


def _found(hits: list[Hit | None]) -> bool:
    return first_hit(hits) is not None
