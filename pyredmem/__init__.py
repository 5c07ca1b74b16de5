"""pyredmem: Redis-native memory for AI agents and chatbots.

Scoped values with TTLs and hierarchical lookup, each operation one atomic Lua script call,
on Redis 7+, Valkey 8, Redis Cluster, or in-process (`memory://`).
"""

from __future__ import annotations

from ._async.context import AsyncContext
from ._async.limiter import AsyncLimiter
from ._async.memory import AsyncMemory
from ._async.scope import AsyncScope
from ._async.semaphore import AsyncHold, AsyncSemaphore
from ._codec import Codec, MsgpackCodec
from ._errors import (
    BackendError,
    BackendUnavailableError,
    CapacityError,
    ConcurrencyLimitError,
    ConfigurationError,
    ConflictError,
    CrossSlotError,
    InvalidKeyError,
    InvalidScopeError,
    InvalidValueError,
    MissingKeyError,
    PyRedMemError,
    RateLimitedError,
    SerializationError,
    ValidationError,
    WrongTypeError,
)
from ._keys import KINDS, ScopeRef
from ._ops.context import Resolved
from ._ops.limiter import Decision, MultiDecision
from ._ops.semaphore import Lease
from ._sync.context import Context
from ._sync.limiter import Limiter
from ._sync.memory import Memory
from ._sync.scope import Scope
from ._sync.semaphore import Hold, Semaphore

__version__ = "0.1.0"

__all__ = [
    "KINDS",
    "AsyncContext",
    "AsyncHold",
    "AsyncLimiter",
    "AsyncMemory",
    "AsyncScope",
    "AsyncSemaphore",
    "BackendError",
    "BackendUnavailableError",
    "CapacityError",
    "Codec",
    "ConcurrencyLimitError",
    "ConfigurationError",
    "ConflictError",
    "Context",
    "CrossSlotError",
    "Decision",
    "Hold",
    "InvalidKeyError",
    "InvalidScopeError",
    "InvalidValueError",
    "Lease",
    "Limiter",
    "Memory",
    "MissingKeyError",
    "MsgpackCodec",
    "MultiDecision",
    "PyRedMemError",
    "RateLimitedError",
    "Resolved",
    "Scope",
    "ScopeRef",
    "Semaphore",
    "SerializationError",
    "ValidationError",
    "WrongTypeError",
    "__version__",
]
