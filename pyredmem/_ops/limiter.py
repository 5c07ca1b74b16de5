"""Rate limits: every check is one `lua/limiter_hit.lua` call, on the server's clock.

Key layout (the subject's keys share one hash tag, so load spreads over a cluster):

    <namespace>:{<tenant>:rl:<name>:<key>}:g      gcra: theoretical arrival time (us)
    <namespace>:{<tenant>:rl:<name>:<key>}:f      fixed: "<window>:<used>"
    <namespace>:{<tenant>:rl:<name>:<key>}:s, :n  sliding: log of admitted hits, their sum

With a `group`, the tag is the group's instead, so that limits checked together in one
`hit_many` share a cluster slot:

    <namespace>:{<tenant>:grp:<group>}:rl:<name>:<key>:g

Names cannot contain ':' and keys and groups cannot contain braces, so no choice of names
can make two subjects share keys or leave their hash tag.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from .._errors import CrossSlotError, InvalidKeyError, InvalidValueError
from .._keys import Keyspace, key_slot, validate_name
from ._call import Call, script

__all__ = [
    "ALGORITHMS",
    "MAX_CHECKS",
    "MAX_LIMIT",
    "Decision",
    "MultiDecision",
    "Rule",
    "fallback_decision",
    "limiter_hit",
    "limiter_hit_many",
    "limiter_peek",
    "limiter_reset",
    "number",
    "subject_tag",
    "validate_subject",
]

ALGORITHMS = ("gcra", "fixed", "sliding")
MAX_CHECKS = 16  # limits per hit_many call
MAX_SUBJECT_BYTES = 256
MAX_PERIOD = 10 * 366 * 86400.0  # seconds
MAX_LIMIT = 1e9  # units: replies count millionths of a unit in integers below 2^53
_SUFFIXES = {"gcra": ("g",), "fixed": ("f",), "sliding": ("s", "n")}

_HIT = script("limiter_hit")
_RESET = script("limiter_reset")


@dataclass(frozen=True, slots=True)
class Decision:
    """What a rate limit says about one call.

    `limit` is the limiter's limit (its burst for gcra), `remaining` what could still be
    spent now, `retry_after` seconds until the same cost would be allowed (0 when allowed),
    `reset_after` seconds until the limit is fully available again.
    """

    allowed: bool
    limit: float
    remaining: float
    retry_after: float
    reset_after: float

    def headers(self) -> dict[str, str]:
        """The usual HTTP response headers: X-RateLimit-Limit, X-RateLimit-Remaining,
        X-RateLimit-Reset (seconds from now) and, when denied, Retry-After (seconds)."""
        out = {
            "X-RateLimit-Limit": _whole(math.floor(self.limit)),
            "X-RateLimit-Remaining": _whole(math.floor(self.remaining)),
            "X-RateLimit-Reset": _whole(math.ceil(self.reset_after)),
        }
        if not self.allowed:
            out["Retry-After"] = _whole(max(1, math.ceil(self.retry_after)))
        return out


def _whole(n: int) -> str:
    return str(max(0, n))


@dataclass(frozen=True, slots=True)
class MultiDecision:
    """The verdict of several limits checked at once: allowed only if every one allows,
    and then the cost was taken from all of them; otherwise from none."""

    allowed: bool
    decisions: tuple[Decision, ...]

    @property
    def binding(self) -> Decision:
        """The limit that decides: the denying one with the longest wait, else the one
        with the least remaining."""
        denied = [d for d in self.decisions if not d.allowed]
        if denied:
            return max(denied, key=lambda d: d.retry_after)
        return min(self.decisions, key=lambda d: d.remaining)

    @property
    def retry_after(self) -> float:
        """Seconds until every denying limit would allow its cost (0 when allowed)."""
        return max((d.retry_after for d in self.decisions if not d.allowed), default=0.0)

    def headers(self) -> dict[str, str]:
        """HTTP headers of the binding limit (see Decision.headers)."""
        return self.binding.headers()


def number(what: str, value: object, *, label: str, key: str | None = None) -> float:
    """A finite int or float (bools refused)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise InvalidValueError(
            f"{what} must be a number, not {type(value).__name__}", key=key, scope=label
        )
    if not math.isfinite(value):
        raise InvalidValueError(f"{what} must be finite, got {value!r}", key=key, scope=label)
    return value


def _text(value: float) -> str:
    return str(value) if type(value) is int else repr(float(value))


def validate_subject(what: str, value: object, *, label: str) -> str:
    """A limited key or group: 1-256 UTF-8 bytes, no braces or control characters."""
    if not isinstance(value, str):
        raise InvalidKeyError(f"{what}s are strings, not {type(value).__name__}", scope=label)
    if not value:
        raise InvalidKeyError(f"{what}s cannot be empty", scope=label)
    try:
        size = len(value.encode("utf-8"))
    except UnicodeEncodeError as exc:
        raise InvalidKeyError(f"{what} is not valid UTF-8 text", scope=label) from exc
    if size > MAX_SUBJECT_BYTES:
        raise InvalidKeyError(
            f"{what}s are at most {MAX_SUBJECT_BYTES} bytes", key=value[:64], scope=label
        )
    if "{" in value or "}" in value or any(ord(c) < 32 or ord(c) == 127 for c in value):
        raise InvalidKeyError(
            f"{what}s cannot contain '{{', '}}' or control characters", key=value, scope=label
        )
    return value


def subject_tag(ks: Keyspace, kind: str, name: str, key: str, group: str | None) -> str:
    """The prefix of one limited subject's keys (see the module docstring)."""
    tenant = ks.tenant or ""
    if group is None:
        return f"{ks.namespace}:{{{tenant}:{kind}:{name}:{key}}}"
    return f"{ks.namespace}:{{{tenant}:grp:{group}}}:{kind}:{name}:{key}"


@dataclass(frozen=True, slots=True)
class Rule:
    """A validated limiter definition and the script arguments it implies."""

    keyspace: Keyspace
    name: str
    algorithm: str
    limit: float
    period: float
    capacity: float  # the most one subject can spend at once: the burst (gcra) or limit
    args: tuple[str, str, str, str]  # algorithm letter, limit, period (us), capacity

    @classmethod
    def of(
        cls,
        keyspace: Keyspace,
        name: object,
        *,
        limit: object,
        period: object,
        algorithm: object = "gcra",
        burst: object = None,
    ) -> Rule:
        name = validate_name("limiter name", name)
        label = f"limiter:{name}"
        if algorithm not in ALGORITHMS:
            raise InvalidValueError(
                f"unknown algorithm {algorithm!r}; expected one of {ALGORITHMS}", scope=label
            )
        assert isinstance(algorithm, str)
        lim = number("limit", limit, label=label)
        if not 0 < lim <= MAX_LIMIT:
            raise InvalidValueError(f"limit must be > 0 and <= 1e9, got {limit!r}", scope=label)
        per = number("period", period, label=label)
        if not 0.001 <= per <= MAX_PERIOD:
            raise InvalidValueError(
                f"period must be between 0.001 and {MAX_PERIOD:.0f} seconds, got {period!r}",
                scope=label,
            )
        capacity = lim
        if burst is not None:
            if algorithm != "gcra":
                raise InvalidValueError("burst applies to the gcra algorithm only", scope=label)
            capacity = number("burst", burst, label=label)
            if not 0 < capacity <= MAX_LIMIT:
                raise InvalidValueError(f"burst must be > 0 and <= 1e9, got {burst!r}", scope=label)
        period_us = str(max(1, round(per * 1_000_000)))
        args = (algorithm[0], _text(lim), period_us, _text(capacity))
        return cls(keyspace, name, algorithm, lim, per, capacity, args)

    @property
    def label(self) -> str:
        return f"limiter:{self.name}"

    def keys(self, key: object, group: object = None) -> tuple[str, ...]:
        key = validate_subject("key", key, label=self.label)
        if group is not None:
            group = validate_subject("group", group, label=self.label)
        tag = subject_tag(self.keyspace, "rl", self.name, key, group)
        return tuple(f"{tag}:{s}" for s in _SUFFIXES[self.algorithm])

    def cost(self, cost: object, key: str) -> str:
        """`cost` as script text, after checking that it can ever be allowed."""
        c = number("cost", cost, label=self.label, key=key)
        if c < 0:
            raise InvalidValueError(f"cost must be >= 0, got {cost!r}", key=key, scope=self.label)
        if c > self.capacity:
            what = "burst" if self.algorithm == "gcra" else "limit"
            raise InvalidValueError(
                f"cost {cost!r} exceeds the {what} ({_text(self.capacity)}): it could never "
                "be allowed",
                key=key,
                scope=self.label,
            )
        return _text(c)


def _decision(rule: Rule, reply: Sequence[Any], i: int) -> Decision:
    return Decision(
        reply[i] == 1,
        rule.capacity,
        reply[i + 1] / 1_000_000,
        reply[i + 2] / 1_000_000,
        reply[i + 3] / 1_000_000,
    )


def _single(rule: Rule, key: object, cost: object, group: object, mode: str) -> Call[Decision]:
    keys = rule.keys(key, group)
    assert isinstance(key, str)
    args = (mode, *rule.args, rule.cost(cost, key))

    def parse(reply: Sequence[Any]) -> Decision:
        return _decision(rule, reply, 1)

    return Call(_HIT, keys, args, parse, key, rule.label)


def limiter_hit(rule: Rule, key: object, cost: object, group: object = None) -> Call[Decision]:
    """Spend `cost` from `key`'s budget if it allows."""
    return _single(rule, key, cost, group, "1")


def limiter_peek(rule: Rule, key: object, cost: object, group: object = None) -> Call[Decision]:
    """What a hit of `cost` would get, spending nothing."""
    return _single(rule, key, cost, group, "0")


def limiter_hit_many(
    checks: Sequence[tuple[Rule, object, object]],
    group: object = None,
    *,
    cluster: bool,
    consume: bool = True,
) -> Call[MultiDecision]:
    """One all-or-nothing call over several (rule, key, cost). On a cluster every key must
    share a slot (same `group`, or the same subject)."""
    if not checks:
        raise InvalidValueError("hit_many needs at least one (limiter, key, cost)")
    if len(checks) > MAX_CHECKS:
        raise InvalidValueError(f"at most {MAX_CHECKS} limits per call, got {len(checks)}")
    keys: list[str] = []
    args: list[str] = ["1" if consume else "0"]
    rules = []
    for rule, key, cost in checks:
        own = rule.keys(key, group)
        assert isinstance(key, str)
        if own[0] in keys:
            raise InvalidValueError(
                "the same limiter and key appear twice in one call", key=key, scope=rule.label
            )
        keys.extend(own)
        args.extend((*rule.args, rule.cost(cost, key)))
        rules.append(rule)
    label = ",".join(r.label for r in rules)
    if cluster and len({key_slot(k) for k in keys}) > 1:
        raise CrossSlotError(
            "on Redis Cluster, limits checked together must share a slot: pass the same "
            "group= to hit_many and to every hit/peek/reset of these keys",
            scope=label,
        )

    def parse(reply: Sequence[Any]) -> MultiDecision:
        decisions = tuple(_decision(r, reply, 1 + 4 * i) for i, r in enumerate(rules))
        return MultiDecision(reply[0] == 1, decisions)

    return Call(_HIT, tuple(keys), tuple(args), parse, None, label)


def limiter_reset(rule: Rule, key: object, group: object = None) -> Call[bool]:
    """Forget what `key` has spent."""
    keys = rule.keys(key, group)
    assert isinstance(key, str)
    return Call(_RESET, keys, (), _is_one, key, rule.label)


def _is_one(reply: Any) -> bool:
    return bool(reply == 1)


def fallback_decision(rule: Rule, allow: bool) -> Decision:
    """The answer of the `on_error` policy when the server cannot be reached: nothing is
    known of what was spent, so `remaining` is 0; a denial suggests retrying in a second."""
    retry = 0.0 if allow else min(1.0, rule.period)
    return Decision(allow, rule.capacity, 0.0, retry, 0.0)
