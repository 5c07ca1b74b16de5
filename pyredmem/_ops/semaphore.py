"""Concurrency limits: `lua/semaphore_acquire.lua`, `lua/semaphore_renew.lua` and
`lua/semaphore_release.lua`.

One zset per limited key, holder token -> lease expiry (ms, server clock):

    <namespace>:{<tenant>:sem:<name>:<key>}:z

With encrypted names `<key>` is stored as its encryption (`Keyspace.stored`, a "semaphore"
name: see `limiter.subject_tag`); the semaphore's name stays as it is.

A holder that crashes never releases; its lease expires and the next acquire drops it.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from .._errors import InvalidValueError, shown
from .._keys import Keyspace, validate_name
from ._call import Call, is_one, script
from .limiter import ranged, subject_tag, validate_subject

__all__ = [
    "MAX_HOLDERS",
    "MAX_LEASE",
    "MAX_WAIT",
    "MIN_LEASE",
    "SemaphoreLease",
    "SemaphoreRule",
    "fallback_lease",
    "semaphore_acquire",
    "semaphore_release",
    "semaphore_renew",
]

MAX_HOLDERS = 100_000
MIN_LEASE, MAX_LEASE = 0.001, 366 * 86400.0  # seconds: expiries stay below 2^53 ms
MAX_WAIT = MAX_LEASE  # seconds an acquire may wait for a slot

_ACQUIRE = script("semaphore_acquire")
_RELEASE = script("semaphore_release")
_RENEW = script("semaphore_renew")


@dataclass(frozen=True, slots=True)
class SemaphoreLease:
    """One held slot: pass it to `renew` and `release`. `holders` counts the holders of the
    key when it was acquired (this one included). `fallback` marks a lease granted by
    on_error="allow" while the server was unreachable: it holds no slot anywhere."""

    key: str
    token: str
    holders: int
    fallback: bool = False


def fallback_lease(key: str) -> SemaphoreLease:
    """What on_error="allow" grants when the server cannot answer."""
    return SemaphoreLease(key, "", 0, True)


@dataclass(frozen=True, slots=True)
class SemaphoreRule:
    """A validated semaphore definition."""

    keyspace: Keyspace
    name: str
    limit: int
    lease: float
    lease_ms: int

    @classmethod
    def of(cls, keyspace: Keyspace, name: object, *, limit: object, lease: object) -> SemaphoreRule:
        name = validate_name("semaphore name", name)
        label = f"semaphore:{name}"
        if isinstance(limit, bool) or not isinstance(limit, int) or not 0 < limit <= MAX_HOLDERS:
            raise InvalidValueError(
                f"limit must be an integer from 1 to {MAX_HOLDERS}, got {shown(limit)}", scope=label
            )
        seconds = ranged("lease", lease, MIN_LEASE, MAX_LEASE, label=label, unit=" seconds")
        return cls(keyspace, name, limit, seconds, max(1, round(seconds * 1000)))

    @property
    def label(self) -> str:
        return f"semaphore:{self.name}"

    def key(self, key: object) -> str:
        key = validate_subject("key", key, label=self.label)
        return subject_tag(self.keyspace, "sem", self.name, key, None) + ":z"


def semaphore_acquire(
    rule: SemaphoreRule, key: object
) -> Call[tuple[SemaphoreLease | None, float]]:
    """Take a slot: (the lease, 0) or, when all are taken, (None, seconds until the
    earliest lease expires)."""
    zkey = rule.key(key)
    assert isinstance(key, str)
    token = secrets.token_hex(12)

    def parse(reply: Sequence[Any]) -> tuple[SemaphoreLease | None, float]:
        if reply[0] == 1:
            return SemaphoreLease(key, token, int(reply[1])), 0.0
        return None, int(reply[2]) / 1000

    return Call(_ACQUIRE, (zkey,), (token, rule.limit, rule.lease_ms), parse, key, rule.label)


def _lease_of(rule: SemaphoreRule, lease: object, what: str) -> SemaphoreLease:
    if not isinstance(lease, SemaphoreLease):
        raise InvalidValueError(
            f"{what} takes the SemaphoreLease that acquire returned, not {type(lease).__name__}",
            scope=rule.label,
        )
    return lease


def semaphore_release(rule: SemaphoreRule, lease: object) -> Call[bool]:
    """Give a slot back; False when its lease had already expired or been released."""
    held = _lease_of(rule, lease, "release")
    zkey = rule.key(held.key)
    return Call(_RELEASE, (zkey,), (held.token,), is_one, held.key, rule.label)


def semaphore_renew(rule: SemaphoreRule, lease: object) -> Call[bool]:
    """Extend a live lease by the rule's lease from now; False when it had already expired
    or been released."""
    held = _lease_of(rule, lease, "renew")
    zkey = rule.key(held.key)
    return Call(_RENEW, (zkey,), (held.token, rule.lease_ms), is_one, held.key, rule.label)
