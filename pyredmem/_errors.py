"""The exceptions pyredmem raises, all under one root.

    PyRedMemError
    ├── ValidationError (ValueError)      bad input, rejected before anything is written
    │   ├── InvalidKeyError               empty, non-string, oversized or unsafe key
    │   ├── InvalidScopeError             unknown scope kind, bad id, tenant or namespace
    │   ├── InvalidValueError             a value or argument out of range (ttl <= 0, ...)
    │   └── CrossSlotError                limits checked together live in different cluster slots
    ├── SerializationError (TypeError)    a value the codec cannot encode or decode
    ├── DecryptionError                   a stored value failed to decrypt: tampered, moved,
    │                                     under a key the keyring lacks, or not encrypted
    ├── WrongTypeError (TypeError)        the stored value is of the wrong kind for the call
    ├── CapacityError                     a cap was reached (keys per scope, result too big)
    ├── MissingKeyError (KeyError)        the key is absent or expired
    ├── NoContextError (LookupError)      `current()` outside any `bind()`
    ├── ConflictError                     a compare-and-set kept losing to other writers
    ├── CacheTimeoutError (TimeoutError)  waited too long for another caller's computation
    ├── RateLimitedError                  a rate limit denied a call (carries the Decision)
    ├── ConcurrencyLimitError             every slot of a semaphore stayed taken
    ├── ConfigurationError                an unusable client, URL or option
    │   ├── EventsConfigError             keyspace notifications are off and may not be set
    │   └── EmbedderMismatchError         a recall index holds another embedder's vectors
    └── BackendError                      the server failed or could not be reached
        ├── BackendUnavailableError (ConnectionError)  nothing was done: refused, timed out
        │   │                                 before sending, cluster down, LOADING, BUSY
        │   └── PoolExhaustedError            every connection of the pool is in use
        ├── OutcomeUnknownError               sent, but the reply was lost: it may have run
        ├── OutOfMemoryError (CapacityError)  the server is at maxmemory (noeviction)
        ├── ReadOnlyError                     a write reached a read-only replica
        └── PermissionDeniedError (PermissionError)  refused by an ACL (NOPERM, NOAUTH)

Server-side scripts report failures as error replies with a fixed prefix ("PM_FULL ...");
`error_from_reply` maps the prefix to a class, never parsing the rest of the text.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "BackendError",
    "BackendUnavailableError",
    "CacheTimeoutError",
    "CapacityError",
    "ConfigurationError",
    "ConcurrencyLimitError",
    "ConflictError",
    "CrossSlotError",
    "DecryptionError",
    "EmbedderMismatchError",
    "EventsConfigError",
    "InvalidKeyError",
    "InvalidScopeError",
    "InvalidValueError",
    "MissingKeyError",
    "NoContextError",
    "OutOfMemoryError",
    "OutcomeUnknownError",
    "PermissionDeniedError",
    "PoolExhaustedError",
    "PyRedMemError",
    "RateLimitedError",
    "ReadOnlyError",
    "SerializationError",
    "ValidationError",
    "WrongTypeError",
]


class PyRedMemError(Exception):
    """Root of every pyredmem error. `key` and `scope` name what the error is about."""

    def __init__(self, message: str, *, key: str | None = None, scope: str | None = None):
        super().__init__(message)
        self.message = message
        self.key = key
        self.scope = scope

    def __str__(self) -> str:
        where = [f"{n}={v!r}" for n, v in (("scope", self.scope), ("key", self.key)) if v]
        return f"{self.message} ({', '.join(where)})" if where else self.message


class ValidationError(PyRedMemError, ValueError):
    """Bad input: nothing was written."""


class InvalidKeyError(ValidationError):
    """A key that is empty, not a string, too long or contains unsafe characters."""


class InvalidScopeError(ValidationError):
    """An unknown scope kind, or an id, tenant or namespace that is empty or unsafe."""


class InvalidValueError(ValidationError):
    """An argument out of range: ttl <= 0, a negative cap, too many items in one call."""


class CrossSlotError(ValidationError):
    """Limits checked in one call whose keys live in different Redis Cluster slots: give
    them the same `group` so that they share one."""


class SerializationError(PyRedMemError, TypeError):
    """The codec could not encode (or decode) a value."""


class DecryptionError(PyRedMemError):
    """A stored value could not be decrypted: it was altered, copied from another key,
    scope, thread or tenant, sealed under a key id the keyring lacks (`key_id` names it), or
    stored unencrypted where this Memory expects ciphertext (or the reverse). Never a wrong
    value: the read fails."""

    def __init__(
        self,
        message: str,
        *,
        key: str | None = None,
        scope: str | None = None,
        key_id: str | None = None,
    ):
        super().__init__(message, key=key, scope=scope)
        self.key_id = key_id


class WrongTypeError(PyRedMemError, TypeError):
    """The stored value is of the wrong kind for the operation (e.g. `incr` on a dict)."""


class CapacityError(PyRedMemError):
    """A configured cap was reached (keys per scope, value size, numeric overflow)."""


class MissingKeyError(PyRedMemError, KeyError):
    """The key is absent or has expired."""

    def __str__(self) -> str:  # KeyError would repr() the message
        return PyRedMemError.__str__(self)


class NoContextError(PyRedMemError, LookupError):
    """`pyredmem.current()` was called where no context is bound: outside every
    `with mem.bind(...)` / `async with amem.bind(...)` block of this thread or task."""


class ConflictError(PyRedMemError):
    """A compare-and-set update lost to concurrent writers more times than allowed."""


class CacheTimeoutError(PyRedMemError, TimeoutError):
    """`get_or_compute` waited `max_wait` seconds for another caller's computation."""


class RateLimitedError(PyRedMemError):
    """A rate limit denied the call. `decision` says which limit and when to retry."""

    def __init__(
        self,
        message: str,
        decision: Any,
        *,
        key: str | None = None,
        scope: str | None = None,
    ):
        super().__init__(message, key=key, scope=scope)
        self.decision = decision

    @property
    def retry_after(self) -> float:
        """Seconds to wait before the same call can be allowed."""
        return float(self.decision.retry_after)


class ConcurrencyLimitError(PyRedMemError):
    """Every slot of a semaphore stayed taken for as long as the caller would wait."""


class ConfigurationError(PyRedMemError):
    """An unusable URL, client or option."""


class EventsConfigError(ConfigurationError):
    """A watcher needs keyspace notifications (`notify-keyspace-events` with the flags K,
    E, t and x) and the server refused to show or change that setting (CONFIG refused by
    an ACL, renamed or disabled, as on many managed services). `value` is what to set it
    to: the flags it has now (when it would tell) plus the missing ones."""

    def __init__(self, message: str, value: str, *, key: str | None = None):
        super().__init__(message, key=key)
        self.value = value


class EmbedderMismatchError(ConfigurationError):
    """A scope's recall index was filled by another embedder (name, dimension or vector
    format): its vectors and this one's cannot be compared. The message names the one it
    holds; `scope` the scope. Use that embedder, or `clear()` the index first."""


class BackendError(PyRedMemError):
    """The server failed the call or could not be reached. The subclasses below say which;
    a BackendError itself is an error reply pyredmem does not know. `__cause__` holds the
    client's exception."""


class BackendUnavailableError(BackendError, ConnectionError):
    """The server could not be reached, timed out before the call was sent, or could not
    serve it now (cluster down, loading its data, busy with a long script): the call did
    nothing, and may be tried again."""


class PoolExhaustedError(BackendUnavailableError):
    """Every connection the client's pool may open (`max_connections`) is in use."""


class OutcomeUnknownError(BackendError):
    """The call was sent but its reply never came (timeout, connection lost): it may or may
    not have run on the server. Raised for calls that are not safe to send twice (`incr`,
    limiter hits, semaphore acquires, compare-and-set), which pyredmem never retries."""


class OutOfMemoryError(BackendError, CapacityError):
    """The server is at `maxmemory` and evicts nothing (`noeviction`): the write was refused
    and nothing of it was stored."""


class ReadOnlyError(BackendError):
    """A write reached a read-only replica (e.g. during a failover): nothing was written."""


class PermissionDeniedError(BackendError, PermissionError):
    """The server's ACL refused the call (NOPERM, NOAUTH, WRONGPASS): nothing was done."""


_PREFIXES: dict[str, type[PyRedMemError]] = {
    "PM_FULL": CapacityError,
    "PM_OVERFLOW": CapacityError,
    "PM_WRONGTYPE": WrongTypeError,
    "PM_INVALID": InvalidValueError,
    "PM_CONFLICT": ConflictError,
    "PM_CONFIG": ConfigurationError,
    "PM_MISSING": MissingKeyError,
    "PM_SEALED": DecryptionError,
    "PM_EMBEDDER": EmbedderMismatchError,
}


def shown(value: object) -> str:
    """`repr(value)` for an error message, but an int too long for Python to print (over
    4,300 digits by default: repr raises ValueError) as its size."""
    if isinstance(value, int) and value.bit_length() > 4096:
        return f"an integer of {value.bit_length()} bits"
    return repr(value)


def error_from_reply(
    text: str, *, key: str | None = None, scope: str | None = None
) -> PyRedMemError:
    """Map a script's error reply ("PREFIX message") to an exception."""
    prefix, _, rest = text.partition(" ")
    cls = _PREFIXES.get(prefix)
    if cls is None:
        return BackendError(text, key=key, scope=scope)
    return cls(rest or prefix, key=key, scope=scope)
