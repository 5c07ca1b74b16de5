"""Hierarchical lookup: one `lua/context_resolve.lua` call over the bound scopes, most
specific first; on Redis Cluster one call per slot, the first hit in precedence order wins."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from .._config import Config
from .._keys import ScopeRef, key_slot, validate_key
from ._call import Call, script
from .scope import decode_entry

__all__ = ["Hit", "Resolved", "context_resolve", "first_hit"]


@dataclass(frozen=True, slots=True)
class Resolved:
    """Which scope answered a lookup, and its value."""

    scope: ScopeRef
    value: Any


@dataclass(frozen=True, slots=True)
class Hit:
    precedence: int
    resolved: Resolved


def context_resolve(cfg: Config, refs: Sequence[ScopeRef], key: str, *, with_value: bool,
                    per_slot: bool) -> list[Call[Hit | None]]:
    """The calls that resolve `key` over `refs` (most specific first): one call, or with
    `per_slot` one per cluster slot, each keeping the precedence order within it."""
    key = validate_key(key)
    groups: dict[int, list[int]] = {}
    for i, ref in enumerate(refs):
        slot = key_slot(cfg.keyspace.prefix(ref)) if per_slot else 0
        groups.setdefault(slot, []).append(i)
    return [_group_call(cfg, refs, idx, key, with_value) for idx in groups.values()]


def _group_call(cfg: Config, refs: Sequence[ScopeRef], idx: list[int], key: str,
                with_value: bool) -> Call[Hit | None]:
    keys: list[str] = []
    for i in idx:
        keys.extend(cfg.keyspace.scope_keys(refs[i]))

    def parse(reply: Any) -> Hit | None:
        if reply is None:
            return None
        i = idx[int(reply[0]) - 1]
        value = decode_entry(cfg, reply[1], reply[2], key).value if with_value else None
        return Hit(i, Resolved(refs[i], value))

    scopes = ",".join(str(refs[i]) for i in idx)
    return Call(script("context_resolve"), tuple(keys), (key, "1" if with_value else "0"),
                parse, key, scopes)


def first_hit(hits: Sequence[Hit | None]) -> Resolved | None:
    """The most specific of the per-slot answers."""
    found = [h for h in hits if h is not None]
    return min(found, key=lambda h: h.precedence).resolved if found else None
