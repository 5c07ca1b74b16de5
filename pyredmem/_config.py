"""Options shared by every handle of one Memory, validated once."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from ._codec import Codec, MsgpackCodec
from ._crypto import Crypto, scope_binding
from ._errors import ConfigurationError, InvalidValueError, PyRedMemError, shown
from ._keys import Keyspace

__all__ = ["MAX_CALL_BYTES", "MAX_TTL", "Config", "finite", "positive_int", "ttl_to_ms"]

#: the longest ttl (seconds): 100 years. Expiries are server-clock milliseconds, which must
#: stay exact in a Lua number (a double) and inside the 16-digit fields the scripts keep.
MAX_TTL = 100 * 365 * 86400

#: the most bytes of values (encoded) one call may send: bounds the time one script holds
#: the server's single thread (set_many, extend), whatever the count caps allow
MAX_CALL_BYTES = 16 * 1024 * 1024


def finite(value: float) -> bool:
    """`math.isfinite`, but False for an int too large for any float (which makes
    `math.isfinite` raise OverflowError): callers refuse it as out of range."""
    try:
        return math.isfinite(value)
    except OverflowError:
        return False


def ttl_to_ms(ttl: object, *, key: str | None = None, scope: str | None = None) -> int:
    """Seconds (int or float, > 0, at most MAX_TTL) to whole milliseconds (at least 1)."""
    if isinstance(ttl, bool) or not isinstance(ttl, (int, float)):
        raise InvalidValueError(
            f"ttl is a number of seconds, not {type(ttl).__name__}", key=key, scope=scope
        )
    if not finite(ttl) or ttl <= 0 or ttl > MAX_TTL:
        raise InvalidValueError(
            f"ttl must be a positive number of seconds up to {MAX_TTL} (100 years), "
            f"got {shown(ttl)}",
            key=key,
            scope=scope,
        )
    return max(1, round(ttl * 1000))


def positive_int(
    name: str,
    value: object,
    *,
    most: int | None = None,
    error: type[PyRedMemError] = InvalidValueError,
    scope: str | None = None,
) -> int:
    """An int (not a bool) from 1 to `most` (default: no upper bound)."""
    if (
        isinstance(value, bool)
        or not isinstance(value, int)
        or value <= 0
        or (most is not None and value > most)
    ):
        bound = f" from 1 to {most}" if most is not None else ""
        raise error(f"{name} must be a positive integer{bound}, got {shown(value)}", scope=scope)
    return value


def _positive_int(name: str, value: object) -> int:
    return positive_int(name, value, error=ConfigurationError)


@dataclass(frozen=True, slots=True)
class Config:
    """Everything the operations need besides their arguments."""

    keyspace: Keyspace = field(default_factory=Keyspace)
    codec: Codec = field(default_factory=MsgpackCodec)
    default_ttl: float | None = None
    max_keys_per_scope: int = 10_000
    max_value_bytes: int = 1024 * 1024
    max_batch: int = 1000
    update_retries: int = 100
    #: change events: False (none), True (logged), "values" (logged with the new values)
    events: bool | str = False
    #: entries each change log keeps (at least; trimmed approximately)
    events_max: int = 10_000
    #: how long a change log outlives its scope's last event (ms)
    events_ttl_ms: int = 86_400_000
    #: recall: the embedder of every index (None: the default HashingEmbedder), and the
    #: backend ("auto", "exact"; validated by AsyncMemory)
    embedder: Any = None
    recall_backend: str = "exact"
    #: encryption at rest: the keyring's ciphers, or None (values stored as the codec makes
    #: them)
    crypto: Crypto | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.codec, Codec):
            raise ConfigurationError("codec must have encode(value) and decode(data) methods")
        if self.default_ttl is not None:
            ttl_to_ms(self.default_ttl)
        _positive_int("max_keys_per_scope", self.max_keys_per_scope)
        _positive_int("max_value_bytes", self.max_value_bytes)
        _positive_int("max_batch", self.max_batch)
        _positive_int("update_retries", self.update_retries)
        if not isinstance(self.events, bool) and self.events != "values":
            raise ConfigurationError(f"events is False, True or 'values', not {self.events!r}")
        _positive_int("events_max", self.events_max)
        _positive_int("events_ttl_ms", self.events_ttl_ms)

    def binding(self, what: str, *names: str) -> bytes | None:
        """What the values of one place are bound to when encrypted (see
        `_crypto.scope_binding`), or None when this Memory does not encrypt."""
        if self.crypto is None:
            return None
        ks = self.keyspace
        return scope_binding(ks.namespace, ks.tenant, what, *names)

    def ttl_ms(self, ttl: float | None, *, key: str | None = None, scope: str | None = None) -> int:
        """The ttl to store in ms: `ttl`, else the default, else 0 (never expires)."""
        if ttl is None:
            ttl = self.default_ttl
            if ttl is None:
                return 0
        return ttl_to_ms(ttl, key=key, scope=scope)
