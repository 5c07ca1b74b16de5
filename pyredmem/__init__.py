"""pyredmem: Redis-native memory for AI agents and chatbots.

Scoped values with TTLs and hierarchical lookup, each operation one atomic Lua script call,
on Redis 7+, Valkey 8, Redis Cluster, or in-process (`memory://`).
"""

from __future__ import annotations

from ._ambient import current
from ._async.batch import AsyncBatch, AsyncBatched
from ._async.cache import AsyncCache
from ._async.context import AsyncContext
from ._async.facts import AsyncContextFacts, AsyncFacts
from ._async.history import AsyncHistory
from ._async.limiter import AsyncLimiter
from ._async.memory import AsyncMemory
from ._async.recall import AsyncRecall
from ._async.scope import AsyncScope
from ._async.semaphore import AsyncHold, AsyncSemaphore
from ._async.watch import AsyncChangeHandler, AsyncWatch
from ._codec import Codec, MsgpackCodec
from ._crypto import Keyring
from ._embed import Embedder, HashingEmbedder, WordLlamaEmbedder
from ._errors import (
    BackendError,
    BackendUnavailableError,
    CacheTimeoutError,
    CapacityError,
    ConcurrencyLimitError,
    ConfigurationError,
    ConflictError,
    CrossSlotError,
    DecryptionError,
    EmbedderMismatchError,
    EventsConfigError,
    InvalidKeyError,
    InvalidScopeError,
    InvalidValueError,
    MissingKeyError,
    NoContextError,
    OutcomeUnknownError,
    OutOfMemoryError,
    PermissionDeniedError,
    PoolExhaustedError,
    PyRedMemError,
    RateLimitedError,
    ReadOnlyError,
    SerializationError,
    ValidationError,
    WrongTypeError,
)
from ._keys import KINDS, ScopeRef
from ._ops.batch import Pending
from ._ops.cache import CacheLease, Fetch
from ._ops.context import Resolved
from ._ops.erase import Erased
from ._ops.events import NOT_LOGGED, Event
from ._ops.facts import Fact
from ._ops.limiter import Decision, MultiDecision
from ._ops.message import Appended, Message, estimate_tokens
from ._ops.recall import Hit, RecallInfo, RecallItem
from ._ops.reencrypt import Reencrypted
from ._ops.semaphore import SemaphoreLease
from ._ops.thread import ThreadInfo
from ._sync.batch import Batch, Batched
from ._sync.cache import Cache
from ._sync.context import Context
from ._sync.facts import ContextFacts, Facts
from ._sync.history import History
from ._sync.limiter import Limiter
from ._sync.memory import Memory
from ._sync.recall import Recall
from ._sync.scope import Scope
from ._sync.semaphore import Hold, Semaphore
from ._sync.watch import ChangeHandler, Watch

__version__ = "0.1.0"

__all__ = [
    "KINDS",
    "NOT_LOGGED",
    "Appended",
    "AsyncBatch",
    "AsyncBatched",
    "AsyncCache",
    "AsyncChangeHandler",
    "AsyncContext",
    "AsyncContextFacts",
    "AsyncFacts",
    "AsyncHistory",
    "AsyncHold",
    "AsyncLimiter",
    "AsyncMemory",
    "AsyncRecall",
    "AsyncScope",
    "AsyncSemaphore",
    "AsyncWatch",
    "BackendError",
    "BackendUnavailableError",
    "Batch",
    "Batched",
    "Cache",
    "CacheLease",
    "CacheTimeoutError",
    "CapacityError",
    "ChangeHandler",
    "Codec",
    "ConcurrencyLimitError",
    "ConfigurationError",
    "ConflictError",
    "Context",
    "ContextFacts",
    "CrossSlotError",
    "DecryptionError",
    "Decision",
    "Embedder",
    "EmbedderMismatchError",
    "Erased",
    "Event",
    "EventsConfigError",
    "Fact",
    "Facts",
    "Fetch",
    "HashingEmbedder",
    "History",
    "Hit",
    "Hold",
    "InvalidKeyError",
    "InvalidScopeError",
    "InvalidValueError",
    "Keyring",
    "Limiter",
    "Memory",
    "Message",
    "MissingKeyError",
    "MsgpackCodec",
    "MultiDecision",
    "NoContextError",
    "OutOfMemoryError",
    "OutcomeUnknownError",
    "Pending",
    "PermissionDeniedError",
    "PoolExhaustedError",
    "PyRedMemError",
    "RateLimitedError",
    "ReadOnlyError",
    "Recall",
    "RecallInfo",
    "RecallItem",
    "Reencrypted",
    "Resolved",
    "Scope",
    "ScopeRef",
    "Semaphore",
    "SemaphoreLease",
    "SerializationError",
    "ThreadInfo",
    "ValidationError",
    "Watch",
    "WordLlamaEmbedder",
    "WrongTypeError",
    "current",
    "estimate_tokens",
    "__version__",
]
