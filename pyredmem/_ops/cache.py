"""Shared cache operations: one function per `lua/cache_*.lua` script, plus the decisions
the shells share (wait slices, argument digests for `cached`).

A cache spreads its entries over buckets; one bucket's keys share one hash tag (so one
cluster slot), and an entry lives in its bucket's structures:

    <ns>:{<tenant>:cache:<name>:<scope>:<bucket>}:h        hash: per entry, its value, its
                                                           meta (expiry, compute time,
                                                           fencing token) and its lease
    <ns>:{<tenant>:cache:<name>:<scope>:<bucket>}:x        zset: the bucket's index
    <ns>:{<tenant>:cache:<name>:<scope>:<bucket>}:w:<key>  list: wake-ups for its waiters

    <ns>:{<tenant>:cache:<name>:<scope>:<bucket>}:ev       stream: its change log (events.py)

Scripts receive every key they touch in KEYS (see lua/_prelude.lua for the fields); writes
send the bucket's change log too when the Memory logs change events.
"""

from __future__ import annotations

import hashlib
import inspect
import os
import random
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .._codec import encode_value
from .._config import MAX_TTL, Config, finite, positive_int, ttl_to_ms
from .._crypto import open_value, seal_value
from .._errors import InvalidValueError, SerializationError, ValidationError, shown
from .._keys import (
    Keyspace,
    ScopeRef,
    glob_escape,
    key_slot,
    scope_ref_of,
    validate_key,
    validate_name,
)
from ._call import Arg, Call, is_one, nothing, script
from .events import event_args, log_key
from .near import meta_expiry

__all__ = [
    "HIT",
    "LEASE",
    "REFRESH",
    "STALE",
    "WAIT",
    "AsyncShell",
    "BucketKey",
    "CacheTarget",
    "Fetch",
    "CacheLease",
    "Shell",
    "argument_key",
    "bucket_prefix",
    "cache_clear",
    "cache_delete",
    "cache_fetch",
    "cache_fill",
    "cache_get",
    "cache_get_entry",
    "cache_pattern",
    "cache_peek",
    "cache_release",
    "cache_set",
    "log_digest",
    "parse_bucket_key",
    "scoped_bucket_key",
    "scoped_cache_pattern",
    "wait_slice",
]

_FETCH = script("cache_fetch")
_FILL = script("cache_fill")
_GET = script("cache_get")
_PEEK = script("cache_peek")

#: What `fetch` found (the first element of cache_fetch's reply).
HIT, LEASE, WAIT, REFRESH, STALE = "hit", "lease", "wait", "refresh", "stale"
_KINDS = {1: HIT, 2: LEASE, 3: WAIT, 4: REFRESH, 5: STALE}

MAX_BUCKETS = 1024
#: the longest a waiter blocks before it asks again (keeps below common socket timeouts)
MAX_WAIT_SLICE = 2.0


@dataclass(frozen=True, slots=True)
class CacheLease:
    """The right to compute one entry and store it with `fill`; `token` is its fencing
    token, which grows with every lease of the entry."""

    key: str
    token: str


@dataclass(frozen=True, slots=True)
class Fetch:
    """What one `fetch` found.

    `kind` is "hit" (a fresh `value`), "lease" (missing: you compute and `fill`),
    "refresh" (you hold the lease to refresh a value due for early refresh, or a stale one),
    "stale" (a stale `value`, being refreshed by another caller) or "wait" (another caller
    is computing it; its lease ends within `wait` seconds).
    """

    kind: str
    value: Any = None
    lease: CacheLease | None = None
    wait: float = 0.0
    #: a hit's expiry (server ms since the epoch) and its (type, payload), when the reply
    #: had them (a near cache keeps them)
    expiry_ms: int | None = field(default=None, compare=False, repr=False)
    raw: tuple[bytes, bytes] | None = field(default=None, compare=False, repr=False)


#: the largest `beta` (early-refresh eagerness): far beyond any useful value, and small
#: enough that the script's arithmetic stays finite
MAX_BETA = 1000.0


def _number(what: str, value: object, *, allow_zero: bool, most: float, label: str) -> float:
    """A finite int or float from 0 (or just above, without `allow_zero`) to `most`."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise InvalidValueError(f"{what} must be a number, not {type(value).__name__}", scope=label)
    if not finite(value) or value < 0 or value > most or (value == 0 and not allow_zero):
        low = ">= 0" if allow_zero else "> 0"
        raise InvalidValueError(
            f"{what} must be {low} and at most {most:g}, got {shown(value)}", scope=label
        )
    return float(value)


def _seconds(what: str, value: object, *, allow_zero: bool, label: str) -> float:
    """Seconds from 0 (or just above) to MAX_TTL (100 years)."""
    return _number(what, value, allow_zero=allow_zero, most=MAX_TTL, label=label)


def log_digest(text: str) -> str:
    """A short stand-in for a key or scope in log lines, which never carry them: the first
    12 hex digits of its sha256."""
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:12]


def _scope_label(scope: object) -> str:
    ref = scope_ref_of(scope)
    return "" if ref is None else str(ref)


def bucket_prefix(keyspace: Keyspace, name: str, scope_label: str, bucket: int) -> str:
    """The prefix of one bucket's keys (ending with ':', after the hash tag). `scope_label`
    is "" for a cache of no scope, else the scope as stored (`Keyspace.stored_label`:
    str(ScopeRef), "user:alice", unless names are encrypted)."""
    return f"{_bucket_head(keyspace)}{name}:{scope_label}:{bucket}}}:"


def _bucket_head(keyspace: Keyspace) -> str:
    return f"{keyspace.namespace}:{{{keyspace.tenant or ''}:cache:"


def cache_pattern(keyspace: Keyspace, name: str | None = None) -> str:
    """A SCAN MATCH pattern over the keys of every cache of the keyspace, or of the cache
    `name` (every scope and bucket of it); read each with `parse_bucket_key`."""
    head = _bucket_head(keyspace) + (
        "" if name is None else f"{validate_name('cache name', name)}:"
    )
    return glob_escape(head) + "*"


def scoped_cache_pattern(keyspace: Keyspace, ref: ScopeRef) -> str:
    """A SCAN MATCH pattern over the keys of every cache scoped to `ref`, whatever its name
    and bucket. It matches more than that (a '*' spans ':', so the caches of session
    "user:alice" match user "alice"'s pattern): check each key with `parse_bucket_key`."""
    label = keyspace.stored_label(ref)
    return f"{glob_escape(_bucket_head(keyspace))}*:{glob_escape(label)}:*}}:*"


@dataclass(frozen=True, slots=True)
class BucketKey:
    """What a cache bucket's key names: the cache, its scope label ("" for none), the bucket
    and what follows the hash tag ("h", "x", "w:<key>", "ev")."""

    name: str
    scope_label: str
    bucket: int
    suffix: str


def parse_bucket_key(keyspace: Keyspace, key: str) -> BucketKey | None:
    """The bucket `key` belongs to, or None when it is no cache bucket's key of this
    keyspace. (Cache names hold no ':' and labels no braces, so the name ends at the first
    ':' and the bucket number at the tag's end.)"""
    head = _bucket_head(keyspace)
    end = key.find("}", len(head))
    if not key.startswith(head) or end < 0 or key[end + 1 : end + 2] != ":":
        return None
    name, sep, rest = key[len(head) : end].partition(":")
    label, sep2, bucket = rest.rpartition(":")
    if not sep or not sep2 or not bucket.isdigit() or not name:
        return None
    return BucketKey(name, label, int(bucket), key[end + 2 :])


def scoped_bucket_key(keyspace: Keyspace, ref: ScopeRef, key: str) -> BucketKey | None:
    """`key` parsed, when it is a key of a cache scoped to exactly `ref`; else None."""
    found = parse_bucket_key(keyspace, key)
    label = keyspace.stored_label(ref)
    return found if found is not None and found.scope_label == label else None


class CacheTarget:
    """One cache resolved once: its config, options, bucket prefixes and label."""

    __slots__ = (
        "aad",
        "beta",
        "buckets",
        "cap",
        "cfg",
        "count",
        "events_args",
        "label",
        "log_label",
        "lease_ms",
        "max_wait",
        "name",
        "prefixes",
        "stale_ms",
        "ttl_ms",
    )

    def __init__(
        self,
        cfg: Config,
        name: str,
        *,
        ttl: float,
        scope: object = None,
        lease: float = 30.0,
        max_wait: float = 60.0,
        stale: float = 0.0,
        beta: float = 1.0,
        buckets: int = 16,
        max_entries: int = 100_000,
    ) -> None:
        validate_name("cache name", name)
        scope_label = _scope_label(scope)
        ref = scope_ref_of(scope)
        stored_label = "" if ref is None else cfg.keyspace.stored_label(ref)
        self.label = f"cache:{name}" + (f"@{scope_label}" if scope_label else "")
        # logs name the cache, never a scope id
        self.log_label = f"cache:{name}" + (f"@#{log_digest(scope_label)}" if scope_label else "")
        self.cfg = cfg
        self.name = name
        self.ttl_ms = ttl_to_ms(ttl, scope=self.label)
        self.lease_ms = ttl_to_ms(
            _seconds("lease", lease, allow_zero=False, label=self.label), scope=self.label
        )
        self.max_wait = _seconds("max_wait", max_wait, allow_zero=True, label=self.label)
        self.stale_ms = round(1000 * _seconds("stale", stale, allow_zero=True, label=self.label))
        self.beta = _number("beta", beta, allow_zero=True, most=MAX_BETA, label=self.label)
        self.buckets = positive_int("buckets", buckets, most=MAX_BUCKETS, scope=self.label)
        self.count = str(self.buckets)  # sent with every call: buckets hold the count they use
        entries = positive_int("max_entries", max_entries, most=10**9, scope=self.label)
        self.cap = max(1, -(-entries // self.buckets))  # per bucket, rounded up
        self.prefixes = tuple(
            bucket_prefix(cfg.keyspace, name, stored_label, b) for b in range(self.buckets)
        )
        #: what a write sends after its own ARGV: event_args(cfg) when events are on
        self.events_args = event_args(cfg) if cfg.events else ()
        #: with encryption, what its entries are bound to (their key is added)
        self.aad = cfg.binding("c", name, scope_label)

    def sk(self, key: str) -> str:
        """A key as the bucket stores it: itself, or encrypted with encrypt_names."""
        names = self.cfg.keyspace.names
        return key if names is None else names.name(key, "cache")

    def _prefix(self, sk: str) -> str:
        return self.prefixes[zlib.crc32(sk.encode("utf-8", "surrogatepass")) % self.buckets]

    def entry_keys(self, key: str) -> tuple[str, str, str]:
        """H, X (the bucket hash and index) and W (the wake-up list) of `key`."""
        sk = self.sk(key)
        p = self._prefix(sk)
        return f"{p}h", f"{p}x", f"{p}w:{sk}"

    def write_keys(self, key: str, *, wake: bool = True) -> tuple[str, ...]:
        """A write's KEYS: H, X, W (unless not `wake`), then the bucket's change log when
        events are on."""
        sk = self.sk(key)
        p = self._prefix(sk)
        keys: tuple[str, ...] = (f"{p}h", f"{p}x", f"{p}w:{sk}") if wake else (f"{p}h", f"{p}x")
        return (*keys, log_key(p)) if self.events_args else keys

    def ttl(self, ttl: float | None, key: str) -> int:
        return self.ttl_ms if ttl is None else ttl_to_ms(ttl, key=key, scope=self.label)

    def payload(self, key: str, value: Any) -> tuple[str, bytes]:
        vtype, payload = encode_value(self.cfg.codec, value, key=key, scope=self.label)
        if len(payload) > self.cfg.max_value_bytes:
            raise InvalidValueError(
                f"the encoded value is {len(payload)} bytes; the cap is {self.cfg.max_value_bytes}",
                key=key,
                scope=self.label,
            )
        return seal_value(self.cfg.crypto, self.aad, vtype, payload, key)

    def decode(self, vtype: bytes, payload: bytes, key: str) -> Any:
        cfg = self.cfg
        return open_value(
            cfg.crypto, cfg.codec, self.aad, vtype, payload, key, key=key, scope=self.label
        )

    def bucket_groups(self, per_slot: bool) -> list[tuple[str, ...]]:
        """Every bucket's H and X (and its change log when events are on), grouped into
        one tuple per script call."""
        groups: dict[int, list[str]] = {}
        for p in self.prefixes:
            keys = (f"{p}h", f"{p}x", log_key(p)) if self.events_args else (f"{p}h", f"{p}x")
            groups.setdefault(key_slot(p) if per_slot else 0, []).extend(keys)
        return [tuple(g) for g in groups.values()]


def _key(t: CacheTarget, key: str) -> str:
    return validate_key(key, scope=t.label)


def _lease(t: CacheTarget, lease: object) -> CacheLease:
    """A lease as `fetch` hands them out: a valid key and a token of digits."""
    if not isinstance(lease, CacheLease):
        raise InvalidValueError(f"expected a CacheLease, got {type(lease).__name__}", scope=t.label)
    _key(t, lease.key)
    if not isinstance(lease.token, str) or not lease.token.isascii() or not lease.token.isdigit():
        raise InvalidValueError(
            "the lease's token is not one fetch gave", key=lease.key, scope=t.label
        )
    return lease


def cache_get(t: CacheTarget, key: str, default: Any = None) -> Call[Any]:
    """The fresh value, or `default`."""
    key = _key(t, key)

    def parse(reply: Any) -> Any:
        return default if reply is None else t.decode(reply[0][:1], reply[1], key)

    return Call(_GET, t.entry_keys(key)[:1], (t.sk(key), t.count), parse, key, t.label)


def cache_get_entry(t: CacheTarget, key: str) -> Call[tuple[bytes, bytes, int | None] | None]:
    """The fresh value undecoded (type, payload) with its expiry (server ms), or None:
    `cache_get` for a near cache, which keeps the payload until then (decoding it for each
    hit, so that no caller can change another's value)."""
    key = _key(t, key)

    def parse(reply: Any) -> tuple[bytes, bytes, int | None] | None:
        if reply is None:
            return None
        return reply[0][:1], reply[1], meta_expiry(reply[0])

    return Call(_GET, t.entry_keys(key)[:1], (t.sk(key), t.count), parse, key, t.label)


def cache_fetch(t: CacheTarget, key: str, *, serve_stale: bool, draw: float) -> Call[Fetch]:
    """The value, a lease, or how long to wait. `draw` is uniform in (0, 1]: the early-refresh
    (XFetch) lottery ticket.

    Each call carries a fresh random id, which a lease it takes records: the call sent again
    after a lost reply finds its lease under that id and gets it back, so it may be retried
    (a call that waited is counted as a waiter twice, which costs one wake-up element)."""
    key = _key(t, key)
    attempt = os.urandom(8).hex()

    def parse(reply: list[Any]) -> Fetch:
        kind = _KINDS[reply[0]]
        if kind in (HIT, STALE):
            return Fetch(kind, t.decode(reply[1][:1], reply[2], key))  # meta, payload
        if kind == WAIT:
            return Fetch(kind, wait=reply[1] / 1000)
        return Fetch(kind, lease=CacheLease(key, reply[1].decode()))

    stale = "1" if serve_stale else "0"
    args: tuple[Arg, ...] = (t.sk(key), t.lease_ms, stale, repr(t.beta), repr(draw), t.cap, t.count)
    args += (attempt, *t.events_args)
    return Call(_FETCH, t.write_keys(key, wake=False), args, parse, key, t.label)


def cache_peek(t: CacheTarget, key: str, *, serve_stale: bool, draw: float) -> Call[Fetch | None]:
    """get_or_compute's first call, read only: a Fetch of kind "hit" (or "stale") when
    `cache_fetch` with the same `draw` would serve the value without writing, else None
    (then `cache_fetch` decides, and takes the lease or registers a waiter)."""
    key = _key(t, key)

    def parse(reply: Any) -> Fetch | None:
        if not reply:
            return None
        meta, payload, kind = reply[0], reply[1], _KINDS[reply[2]]
        value = t.decode(meta[:1], payload, key)
        if kind != HIT:
            return Fetch(kind, value)
        return Fetch(kind, value, expiry_ms=meta_expiry(meta), raw=(meta[:1], payload))

    args = (t.sk(key), t.count, "1" if serve_stale else "0", repr(t.beta), repr(draw))
    return Call(_PEEK, t.entry_keys(key)[:1], args, parse, key, t.label)


def draw() -> float:
    """A uniform draw in [2^-53, 1] (never 0: its logarithm must be finite; cache_peek
    relies on -ln(draw) < 37)."""
    return 1.0 - random.random()


def cache_fill(
    t: CacheTarget, lease: CacheLease, value: Any, ttl: float | None, compute_seconds: float
) -> Call[bool]:
    """Store `value` if `lease` is still the entry's lease; False when it was rejected. (Sent
    again after its reply was lost, it finds the value it stored under the lease's token and
    answers True again.)"""
    key = _lease(t, lease).key
    compute_ms = round(
        1000 * _seconds("compute_time", compute_seconds, allow_zero=True, label=t.label)
    )
    ttl_ms = t.ttl(ttl, key)
    vtype, payload = t.payload(key, value)
    args: tuple[Arg, ...] = (t.sk(key), lease.token, vtype, payload, ttl_ms, t.stale_ms, compute_ms)
    args += (t.count, *t.events_args)
    return Call(_FILL, t.write_keys(key), args, is_one, key, t.label)


def cache_release(t: CacheTarget, lease: CacheLease) -> Call[bool]:
    """Give `lease` back unused; False when it was no longer the entry's lease."""
    key = _lease(t, lease).key
    args = (t.sk(key), lease.token, t.count, *t.events_args)
    return Call(script("cache_release"), t.write_keys(key), args, is_one, key, t.label)


def cache_set(t: CacheTarget, key: str, value: Any, ttl: float | None) -> Call[None]:
    key = _key(t, key)
    vtype, payload = t.payload(key, value)
    args = (t.sk(key), vtype, payload, t.ttl(ttl, key), t.stale_ms, t.cap, t.count, *t.events_args)
    return Call(script("cache_set"), t.write_keys(key), args, nothing, key, t.label)


def cache_delete(t: CacheTarget, key: str) -> Call[bool]:
    key = _key(t, key)
    args = (t.sk(key), t.count, *t.events_args)
    return Call(script("cache_delete"), t.write_keys(key), args, is_one, key, t.label)


def cache_clear(t: CacheTarget, per_slot: bool) -> list[Call[int]]:
    """The calls that clear the cache: one on a single server, one per slot on a cluster."""
    return [
        Call(script("cache_clear"), keys, (t.count, *t.events_args), int, None, t.label)
        for keys in t.bucket_groups(per_slot)
    ]


def wait_slice(lease_left: float, budget_left: float) -> float:
    """How long a waiter blocks for a wake-up: until just after the holder's lease ends (then
    it can take over), within its remaining budget and at most MAX_WAIT_SLICE."""
    return max(0.001, min(lease_left + 0.01, budget_left, MAX_WAIT_SLICE))


def _normalise(value: Any, codec: Any) -> Any:
    """Arguments in a form whose encoding depends on neither set nor dict order."""
    if isinstance(value, (list, tuple)):
        return [_normalise(v, codec) for v in value]
    if isinstance(value, dict):  # equal dicts agree whatever their insertion order
        items = sorted(value.items(), key=lambda kv: codec.encode(kv[0]))
        return {k: _normalise(v, codec) for k, v in items}
    if isinstance(value, (set, frozenset)):
        items = [_normalise(v, codec) for v in value]
        return sorted(items, key=codec.encode)
    return value


def argument_key(
    fn: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any], cfg: Config, label: str
) -> str:
    """`module.qualname:` + sha256 of the bound arguments (defaults applied, so `f(1)` and
    `f(x=1)` agree; sets and dicts in any order agree) encoded with the Memory's codec; with
    encryption, a keyed hash (HMAC) of them instead."""
    name = f"{getattr(fn, '__module__', '?')}.{getattr(fn, '__qualname__', repr(fn))}"
    try:
        bound = inspect.signature(fn).bind(*args, **kwargs)
    except TypeError as exc:
        raise InvalidValueError(f"arguments do not match {name}: {exc}", scope=label) from exc
    except ValueError:  # no signature (some builtins): positional and sorted keyword args
        pairs: list[Any] = [list(args), sorted(kwargs.items())]
    else:
        bound.apply_defaults()
        pairs = [[k, v] for k, v in bound.arguments.items()]
    try:
        data = cfg.codec.encode(_normalise(pairs, cfg.codec))
    except Exception as exc:
        raise SerializationError(
            f"cannot derive a cache key from the arguments of {name}: {exc}; pass key=...",
            scope=label,
        ) from exc
    if cfg.crypto is not None:  # keyed: no dictionary of guessed arguments reverses it
        return f"{name}:{cfg.crypto.digest(data)}"
    return f"{name}:{hashlib.sha256(data).hexdigest()}"


class AsyncShell:
    """What the asyncio shell does with user callables: await what they return."""

    @staticmethod
    def check(fn: Callable[..., Any]) -> None:
        if not callable(fn):
            raise ValidationError(f"expected a function, got {fn!r}")

    @staticmethod
    async def result(value: Any) -> Any:
        return await value if inspect.isawaitable(value) else value


class Shell:
    """What the sync shell does with user callables: refuse coroutine functions."""

    @staticmethod
    def check(fn: Callable[..., Any]) -> None:
        if not callable(fn):
            raise ValidationError(f"expected a function, got {fn!r}")
        if inspect.iscoroutinefunction(fn):
            raise ValidationError(
                f"{getattr(fn, '__qualname__', fn)!r} is async: cache it with AsyncMemory"
            )

    @staticmethod
    def result(value: Any) -> Any:
        if inspect.isawaitable(value):
            close = getattr(value, "close", None)
            if close is not None:
                close()  # no "never awaited" warning
            raise ValidationError("the function returned an awaitable: use AsyncMemory")
        return value
