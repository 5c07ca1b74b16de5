"""Scoped key/value operations: one function per `lua/scope_*.lua` script.

Each takes a `Target` (the scope instance) and returns a `Call`. Stored entries come back
as (meta, payload); meta is "<type><16-digit expiry ms><version>" (lua/_prelude.lua). Reads
send only the scope's hash (H): they never touch its index. Writes send `Target.write_keys`
and `Target.events_args`: the scope's change log too when the Memory logs change events.
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from .._codec import FLOAT, INT, INT64_MAX, INT64_MIN, encode_value
from .._config import MAX_CALL_BYTES
from .._crypto import open_value, seal_value
from .._errors import InvalidValueError, MissingKeyError
from .._keys import validate_key
from ._call import Arg, Call, Target, is_one, nothing, script

__all__ = [
    "CasResult",
    "Entry",
    "decode_entry",
    "decode_payload",
    "meta_version",
    "scope_cas",
    "scope_clear",
    "scope_delete",
    "scope_exists",
    "scope_get",
    "scope_get_entry",
    "scope_get_many",
    "scope_incr",
    "scope_keys",
    "scope_set",
    "scope_set_many",
    "scope_ttl",
    "check_update",
    "update_backoff",
]

_SCOPE_GET = script("scope_get")
_SCOPE_EXISTS = script("scope_exists")
_SCOPE_SET = script("scope_set")


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


def decode_payload(t: Target, meta: bytes, payload: bytes, key: str) -> Any:
    cfg = t.cfg
    return open_value(cfg.crypto, cfg.codec, t.aad, meta[:1], payload, key, key=key, scope=t.label)


def meta_version(meta: bytes) -> str:
    return meta[17:].decode()


def decode_entry(t: Target, meta: bytes, payload: bytes, key: str) -> Entry:
    return Entry(decode_payload(t, meta, payload, key), meta_version(meta))


def _payload(t: Target, key: str, value: Any) -> tuple[str, bytes]:
    """(type, payload) to store; with encryption, sealed (the cap applies before)."""
    vtype, payload = encode_value(t.cfg.codec, value, key=key, scope=t.label)
    if len(payload) > t.cfg.max_value_bytes:
        raise InvalidValueError(
            f"the encoded value is {len(payload)} bytes; the cap is {t.cfg.max_value_bytes}",
            key=key,
            scope=t.label,
        )
    return seal_value(t.cfg.crypto, t.aad, vtype, payload, key)


def _sk(t: Target, key: str) -> str:
    """A key as the scope's hash stores it: itself, or encrypted with encrypt_names."""
    names = t.cfg.keyspace.names
    return key if names is None else names.name(key, "key")


def _batch(t: Target, n: int) -> None:
    if n > t.cfg.max_batch:
        raise InvalidValueError(f"at most {t.cfg.max_batch} keys per call, got {n}", scope=t.label)


_MISSING: Any = object()


def scope_get(t: Target, key: str, default: Any = None) -> Call[Any]:
    """The value, or `default`."""
    key = validate_key(key, scope=t.label)

    def parse(reply: Any) -> Any:
        return default if reply is None else decode_payload(t, reply[0], reply[1], key)

    return Call(_SCOPE_GET, t.keys[:1], (_sk(t, key),), parse, key, t.label)


def scope_get_entry(t: Target, key: str) -> Call[Entry | None]:
    """The value with its version (for compare-and-set), or None."""
    key = validate_key(key, scope=t.label)

    def parse(reply: Any) -> Entry | None:
        return None if reply is None else decode_entry(t, reply[0], reply[1], key)

    return Call(_SCOPE_GET, t.keys[:1], (_sk(t, key),), parse, key, t.label)


def scope_exists(t: Target, key: str) -> Call[bool]:
    key = validate_key(key, scope=t.label)
    return Call(_SCOPE_EXISTS, t.keys[:1], (_sk(t, key),), is_one, key, t.label)


def scope_ttl(t: Target, key: str) -> Call[float | None]:
    key = validate_key(key, scope=t.label)

    def parse(reply: int) -> float | None:
        if reply == -2:
            raise MissingKeyError("no such key", key=key, scope=t.label)
        return None if reply == -1 else reply / 1000

    return Call(script("scope_ttl"), t.keys[:1], (_sk(t, key),), parse, key, t.label)


def scope_get_many(t: Target, keys: Iterable[str]) -> Call[dict[str, Any]]:
    if isinstance(keys, (str, bytes)):
        raise InvalidValueError(
            "get_many takes a collection of keys, not one string", scope=t.label
        )
    if not isinstance(keys, Iterable):
        raise InvalidValueError(
            f"get_many takes a collection of keys, not {type(keys).__name__}", scope=t.label
        )
    wanted = list(dict.fromkeys(validate_key(k, scope=t.label) for k in keys))
    _batch(t, len(wanted))

    def parse(reply: list[bytes]) -> dict[str, Any]:
        out = {}
        for i, key in enumerate(wanted):
            meta, payload = reply[2 * i], reply[2 * i + 1]
            if meta:
                out[key] = decode_payload(t, meta, payload, key)
        return out

    stored = tuple(wanted) if t.cfg.keyspace.names is None else tuple(_sk(t, k) for k in wanted)
    return Call(script("scope_get_many"), t.keys[:1], stored, parse, None, t.label)


def scope_set(t: Target, key: str, value: Any, ttl: float | None) -> Call[None]:
    key = validate_key(key, scope=t.label)
    vtype, payload = _payload(t, key, value)
    ttl_ms = t.cfg.ttl_ms(ttl, key=key, scope=t.label)
    args: tuple[Arg, ...] = (
        _sk(t, key),
        vtype,
        payload,
        ttl_ms,
        t.cfg.max_keys_per_scope,
        *t.events_args,
    )
    return Call(_SCOPE_SET, t.write_keys, args, nothing, key, t.label)


def scope_set_many(t: Target, mapping: Mapping[str, Any], ttl: float | None) -> Call[int]:
    if not isinstance(mapping, Mapping):
        raise InvalidValueError("set_many takes a mapping of key -> value", scope=t.label)
    _batch(t, len(mapping))
    ttl_ms = t.cfg.ttl_ms(ttl, scope=t.label)
    args: list[Any] = [ttl_ms, t.cfg.max_keys_per_scope]
    size = 0
    for key, value in mapping.items():
        key = validate_key(key, scope=t.label)
        vtype, payload = _payload(t, key, value)
        size += len(payload)
        if size > MAX_CALL_BYTES:  # bounds the time the script holds the server
            raise InvalidValueError(
                f"the encoded values pass {MAX_CALL_BYTES} bytes (16 MiB), the most one call "
                "may send: split them over several calls",
                scope=t.label,
            )
        args.extend((_sk(t, key), vtype, payload))
    args.extend(t.events_args)
    return Call(script("scope_set_many"), t.write_keys, tuple(args), int, None, t.label)


def scope_delete(t: Target, key: str) -> Call[bool]:
    key = validate_key(key, scope=t.label)
    args = (_sk(t, key), *t.events_args)
    return Call(script("scope_delete"), t.write_keys, args, is_one, key, t.label)


def scope_clear(t: Target) -> Call[int]:
    return Call(script("scope_clear"), t.write_keys, t.events_args, int, None, t.label)


def scope_keys(t: Target) -> Call[list[str]]:
    def parse(reply: list[bytes]) -> list[str]:
        names = t.cfg.keyspace.names
        if names is None:
            return sorted(k.decode() for k in reply)
        return sorted(names.unname(k.decode(), "key") for k in reply)

    return Call(script("scope_keys"), t.keys, (), parse, None, t.label)


def scope_incr(t: Target, key: str, amount: int | float, ttl: float | None) -> Call[int | float]:
    key = validate_key(key, scope=t.label)
    if type(amount) is int:
        if not INT64_MIN <= amount <= INT64_MAX:
            raise InvalidValueError("amount does not fit in 64 bits", key=key, scope=t.label)
        atype, text = INT, str(amount)
    elif type(amount) is float:
        if amount - amount != 0.0:
            raise InvalidValueError("amount must be finite", key=key, scope=t.label)
        atype, text = FLOAT, repr(amount)
    else:
        raise InvalidValueError(
            f"amount must be an int or a float, not {type(amount).__name__}", key=key, scope=t.label
        )
    ttl_ms = t.cfg.ttl_ms(ttl, key=key, scope=t.label)

    def parse(reply: list[bytes]) -> int | float:
        return int(reply[1]) if reply[0][:1] == b"i" else float(reply[1])

    args: tuple[Arg, ...] = (
        _sk(t, key),
        atype,
        text,
        ttl_ms,
        t.cfg.max_keys_per_scope,
        *t.events_args,
    )
    return Call(script("scope_incr"), t.write_keys, args, parse, key, t.label)


def scope_cas(
    t: Target, key: str, expected: str | None, value: Any, ttl: float | None
) -> Call[CasResult]:
    """Store `value` only if the key is still at version `expected` (None: still absent).
    Without `ttl`, a live key keeps its expiry and a new one gets the default."""
    key = validate_key(key, scope=t.label)
    vtype, payload = _payload(t, key, value)
    keep = "1" if ttl is None else "0"
    ttl_ms = t.cfg.ttl_ms(ttl, key=key, scope=t.label)

    def parse(reply: list[Any]) -> CasResult:
        if reply[0] == 1:
            return CasResult(True, Entry(value, meta_version(reply[1])))
        current = decode_entry(t, reply[1], reply[2], key) if len(reply) > 1 else None
        return CasResult(False, current)

    args: tuple[Arg, ...] = (
        _sk(t, key),
        expected or "0",
        vtype,
        payload,
        ttl_ms,
        keep,
        t.cfg.max_keys_per_scope,
        *t.events_args,
    )
    return Call(script("scope_cas"), t.write_keys, args, parse, key, t.label)


def check_update(t: Target, key: str, fn: object, ttl: float | None) -> None:
    """`update`'s arguments, checked before its first call: a key, a function of the
    current value and a ttl (else a bad ttl would surface only once `fn` had run)."""
    validate_key(key, scope=t.label)
    if not callable(fn):
        raise InvalidValueError(
            f"update takes a function of the value, not {type(fn).__name__}", key=key, scope=t.label
        )
    t.cfg.ttl_ms(ttl, key=key, scope=t.label)


def update_backoff(attempt: int) -> float:
    """Seconds to wait after the `attempt`-th lost compare-and-set (0: retry at once): none
    for the first few, then a jittered, capped exponential delay so writers spread out."""
    if attempt < 4:
        return 0.0
    return random.uniform(0.0, min(0.01, 0.0001 * 2 ** (attempt - 4)))
