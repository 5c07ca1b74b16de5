"""pyredmem: Redis-native memory for AI agents and chatbots.

Scoped values with TTLs and hierarchical lookup, each operation one atomic Lua script call,
on Redis 7+, Valkey 8, Redis Cluster, or in-process (`memory://`).
"""

from __future__ import annotations

from ._async.cache import AsyncCache
from ._async.context import AsyncContext
from ._async.history import AsyncHistory
from ._async.memory import AsyncMemory
from ._async.scope import AsyncScope
from ._codec import Codec, MsgpackCodec
from ._errors import (
    BackendError,
    BackendUnavailableError,
    CacheTimeoutError,
    CapacityError,
    ConfigurationError,
    ConflictError,
    InvalidKeyError,
    InvalidScopeError,
    InvalidValueError,
    MissingKeyError,
    PyRedMemError,
    SerializationError,
    ValidationError,
    WrongTypeError,
)
from ._keys import KINDS, ScopeRef
from ._ops.cache import Fetch, Lease
from ._ops.context import Resolved
from ._ops.history import Appended, Message, ThreadInfo, estimate_tokens
from ._sync.cache import Cache
from ._sync.context import Context
from ._sync.history import History
from ._sync.memory import Memory
from ._sync.scope import Scope

__version__ = "0.1.0"

__all__ = [
    "KINDS",
    "Appended",
    "AsyncCache",
    "AsyncContext",
    "AsyncHistory",
    "AsyncMemory",
    "AsyncScope",
    "BackendError",
    "BackendUnavailableError",
    "Cache",
    "CacheTimeoutError",
    "CapacityError",
    "Codec",
    "ConfigurationError",
    "ConflictError",
    "Context",
    "Fetch",
    "History",
    "InvalidKeyError",
    "InvalidScopeError",
    "InvalidValueError",
    "Lease",
    "Memory",
    "Message",
    "MissingKeyError",
    "MsgpackCodec",
    "PyRedMemError",
    "Resolved",
    "Scope",
    "ScopeRef",
    "SerializationError",
    "ThreadInfo",
    "ValidationError",
    "WrongTypeError",
    "estimate_tokens",
    "__version__",
]
