"""Scoped key/value operations: one function per `lua/scope_*.lua` script."""

from __future__ import annotations

import random
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from .._codec import FLOAT, INT, INT64_MAX, INT64_MIN, decode_value, encode_value
from .._config import Config
from .._errors import InvalidValueError, MissingKeyError
from .._keys import ScopeRef, validate_key
from ._call import Call, script

__all__ = [
    "CasResult",
    "Entry",
    "scope_cas",
    "scope_clear",
    "scope_delete",
    "scope_exists",
    "scope_get",
    "scope_get_many",
    "scope_incr",
    "scope_keys",
    "scope_set",
    "scope_set_many",
    "scope_ttl",
    "update_backoff",
]


@dataclass(frozen=True, slots=True)
class Entry:
    """A stored value with the version a compare-and-set must match."""

    value: Any
    version: str


@dataclass(frozen=True, slots=True)
class CasResult:
    """`stored`, or the entry that is there now (None when the key is absent)."""

    stored: bool
    current: Entry | None


def _s(data: bytes | str) -> str:
    return data.decode() if isinstance(data, bytes) else data


def decode_entry(cfg: Config, meta: bytes, payload: bytes, key: str) -> Entry:
    tag = _s(meta)
    return Entry(decode_value(cfg.codec, tag[0], payload, key=key), tag[1:])


def _payload(cfg: Config, ref: ScopeRef, key: str, value: Any) -> tuple[str, bytes]:
    vtype, payload = encode_value(cfg.codec, value, key=key, scope=str(ref))
    if len(payload) > cfg.max_value_bytes:
        raise InvalidValueError(
            f"the encoded value is {len(payload)} bytes; the cap is {cfg.max_value_bytes}",
            key=key,
            scope=str(ref),
        )
    return vtype, payload


def _call(name: str, cfg: Config, ref: ScopeRef, args: tuple[Any, ...], parse: Any,
          key: str | None = None) -> Call[Any]:
    return Call(script(name), cfg.keyspace.scope_keys(ref), args, parse, key, str(ref))


def _batch(cfg: Config, ref: ScopeRef, n: int) -> None:
    if n > cfg.max_batch:
        raise InvalidValueError(f"at most {cfg.max_batch} keys per call, got {n}", scope=str(ref))


def scope_get(cfg: Config, ref: ScopeRef, key: str) -> Call[Entry | None]:
    key = validate_key(key, scope=str(ref))

    def parse(reply: Any) -> Entry | None:
        return None if reply is None else decode_entry(cfg, reply[0], reply[1], key)

    return _call("scope_get", cfg, ref, (key,), parse, key)


def scope_exists(cfg: Config, ref: ScopeRef, key: str) -> Call[bool]:
    key = validate_key(key, scope=str(ref))
    return _call("scope_exists", cfg, ref, (key,), lambda r: r == 1, key)


def scope_ttl(cfg: Config, ref: ScopeRef, key: str) -> Call[float | None]:
    key = validate_key(key, scope=str(ref))

    def parse(reply: int) -> float | None:
        if reply == -2:
            raise MissingKeyError("no such key", key=key, scope=str(ref))
        return None if reply == -1 else reply / 1000

    return _call("scope_ttl", cfg, ref, (key,), parse, key)


def scope_get_many(cfg: Config, ref: ScopeRef, keys: Iterable[str]) -> Call[dict[str, Any]]:
    if isinstance(keys, (str, bytes)):
        raise InvalidValueError("get_many takes a collection of keys, not one string",
                                scope=str(ref))
    wanted = list(dict.fromkeys(validate_key(k, scope=str(ref)) for k in keys))
    _batch(cfg, ref, len(wanted))

    def parse(reply: list[bytes]) -> dict[str, Any]:
        out = {}
        for i, key in enumerate(wanted):
            meta, payload = reply[2 * i], reply[2 * i + 1]
            if meta:
                out[key] = decode_entry(cfg, meta, payload, key).value
        return out

    return _call("scope_get_many", cfg, ref, tuple(wanted), parse)


def scope_set(cfg: Config, ref: ScopeRef, key: str, value: Any, ttl: float | None) -> Call[None]:
    key = validate_key(key, scope=str(ref))
    vtype, payload = _payload(cfg, ref, key, value)
    ttl_ms = cfg.ttl_ms(ttl, key=key, scope=str(ref))
    args = (key, vtype, payload, ttl_ms, cfg.max_keys_per_scope)
    return _call("scope_set", cfg, ref, args, lambda r: None, key)


def scope_set_many(cfg: Config, ref: ScopeRef, mapping: Mapping[str, Any],
                   ttl: float | None) -> Call[int]:
    if not isinstance(mapping, Mapping):
        raise InvalidValueError("set_many takes a mapping of key -> value", scope=str(ref))
    _batch(cfg, ref, len(mapping))
    ttl_ms = cfg.ttl_ms(ttl, scope=str(ref))
    args: list[Any] = [ttl_ms, cfg.max_keys_per_scope]
    for key, value in mapping.items():
        key = validate_key(key, scope=str(ref))
        args.extend((key, *_payload(cfg, ref, key, value)))
    return _call("scope_set_many", cfg, ref, tuple(args), int)


def scope_delete(cfg: Config, ref: ScopeRef, key: str) -> Call[bool]:
    key = validate_key(key, scope=str(ref))
    return _call("scope_delete", cfg, ref, (key,), lambda r: r == 1, key)


def scope_clear(cfg: Config, ref: ScopeRef) -> Call[int]:
    return _call("scope_clear", cfg, ref, (), int)


def scope_keys(cfg: Config, ref: ScopeRef) -> Call[list[str]]:
    return _call("scope_keys", cfg, ref, (), lambda r: sorted(_s(k) for k in r))


def scope_incr(cfg: Config, ref: ScopeRef, key: str, amount: int | float,
               ttl: float | None) -> Call[int | float]:
    key = validate_key(key, scope=str(ref))
    if type(amount) is int:
        if not INT64_MIN <= amount <= INT64_MAX:
            raise InvalidValueError("amount does not fit in 64 bits", key=key, scope=str(ref))
        atype, text = INT, str(amount)
    elif type(amount) is float:
        if amount - amount != 0.0:
            raise InvalidValueError("amount must be finite", key=key, scope=str(ref))
        atype, text = FLOAT, repr(amount)
    else:
        raise InvalidValueError(f"amount must be an int or a float, not {type(amount).__name__}",
                                key=key, scope=str(ref))
    ttl_ms = cfg.ttl_ms(ttl, key=key, scope=str(ref))

    def parse(reply: list[bytes]) -> int | float:
        value: int | float = decode_entry(cfg, reply[0], reply[1], key).value
        return value

    args = (key, atype, text, ttl_ms, cfg.max_keys_per_scope)
    return _call("scope_incr", cfg, ref, args, parse, key)


def scope_cas(cfg: Config, ref: ScopeRef, key: str, expected: str | None, value: Any,
              ttl: float | None) -> Call[CasResult]:
    """Store `value` only if the key is still at version `expected` (None: still absent).
    Without `ttl`, a live key keeps its expiry and a new one gets the default."""
    key = validate_key(key, scope=str(ref))
    vtype, payload = _payload(cfg, ref, key, value)
    keep = "1" if ttl is None else "0"
    ttl_ms = cfg.ttl_ms(ttl, key=key, scope=str(ref))

    def parse(reply: list[Any]) -> CasResult:
        if reply[0] == 1:
            return CasResult(True, Entry(value, _s(reply[1])))
        current = decode_entry(cfg, reply[1], reply[2], key) if len(reply) > 1 else None
        return CasResult(False, current)

    args = (key, expected or "0", vtype, payload, ttl_ms, keep, cfg.max_keys_per_scope)
    return _call("scope_cas", cfg, ref, args, parse, key)


def update_backoff(attempt: int) -> float:
    """Seconds to wait after the `attempt`-th lost compare-and-set: none at first, then a
    jittered, capped exponential delay so that contending writers spread out."""
    if attempt < 2:
        return 0.0
    return random.uniform(0.0, min(0.02, 0.0002 * 2**attempt))
