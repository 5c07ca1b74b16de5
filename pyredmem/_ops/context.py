"""Hierarchical lookup: one `lua/context_resolve.lua` call over the bound scopes, most
specific first; on Redis Cluster one call per slot, the first hit in precedence order wins.

Writes to the scope that holds a key (`lua/context_delete.lua`, `lua/context_incr.lua`) find
it and write there in one call when the bound scopes share a call (one server, or one
cluster slot); otherwise the shell resolves the key first, then writes to that scope.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from .._keys import ScopeRef, key_slot, validate_key
from ._call import Call, Target, script
from .scope import decode_entry, decode_payload, scope_delete, scope_incr

__all__ = [
    "Group",
    "Resolved",
    "context_delete",
    "context_incr",
    "context_lookup",
    "context_resolve",
    "first_hit",
    "plan_groups",
    "write_keys",
]

_RESOLVE = script("context_resolve")
_DELETE = script("context_delete")
_INCR = script("context_incr")

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
    targets: Sequence[Target],
    groups: Sequence[Group],
    key: str,
    *,
    with_value: bool,
    entry: bool = False,
) -> list[Call[Hit | None]]:
    """The calls that resolve `key` over `targets`: each hit's value (with `entry`, the
    value and its version, an `Entry`; neither without `with_value`)."""
    key = validate_key(key)
    names = targets[0].cfg.keyspace.names
    args = (key if names is None else names.name(key, "key"), "1" if with_value else "0")
    return [
        Call(_RESOLVE, g.keys, args, _parser(targets, g, key, with_value, entry), key, g.label)
        for g in groups
    ]


def _parser(targets: Sequence[Target], g: Group, key: str, with_value: bool, entry: bool) -> Any:
    def parse(reply: Any) -> Hit | None:
        if reply is None:
            return None
        i = g.indexes[reply[0] - 1]
        if not with_value:
            return i, None
        decode = decode_entry if entry else decode_payload
        return i, decode(targets[i], reply[1], reply[2], key)

    return parse


def write_keys(targets: Sequence[Target]) -> tuple[str, ...]:
    """The KEYS of a write over `targets` (context_delete, context_incr): each scope's H and
    X in precedence order, then, when the memory logs events, each one's change log."""
    pairs = tuple(k for t in targets for k in t.keys[:2])
    if not targets[0].events_args:
        return pairs
    return (*pairs, *(t.log for t in targets))


def context_delete(targets: Sequence[Target], key: str) -> Call[int | None]:
    """Remove `key` from the most specific of `targets` (sharing one call) that holds it:
    the position of that scope in `targets`, or None when none held it."""
    one = scope_delete(targets[0], key)  # checks the key, and the arguments are the same

    def parse(reply: int) -> int | None:
        return None if reply == 0 else reply - 1

    label = ",".join(t.label for t in targets)
    return Call(_DELETE, write_keys(targets), one.args, parse, one.key, label)


def context_incr(
    targets: Sequence[Target], key: str, amount: int | float, ttl: float | None
) -> Call[tuple[int, int | float]]:
    """Add `amount` to `key` in the most specific of `targets` (sharing one call) that holds
    it, or in the first when none does: (the position of the scope written, the new
    value)."""
    one = scope_incr(targets[0], key, amount, ttl)  # checks, and the arguments are the same

    def parse(reply: list[Any]) -> tuple[int, int | float]:
        return int(reply[0]) - 1, one.parse(reply[1:])

    label = ",".join(t.label for t in targets)
    return Call(_INCR, write_keys(targets), one.args, parse, one.key, label)


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
