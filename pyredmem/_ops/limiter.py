"""Rate limits on the server's clock. A `hit` is one call of its algorithm's script
(`lua/limiter_hit_gcra.lua`, `limiter_hit_fixed.lua`, `limiter_hit_sliding.lua`); a peek and
the all-or-nothing check of several limits are one `lua/limiter_hit_many.lua` call.

Key layout (the subject's key carries its own hash tag, so load spreads over a cluster):

    <namespace>:{<tenant>:rl:<name>:<key>}:g      gcra: theoretical arrival time (us)
    <namespace>:{<tenant>:rl:<name>:<key>}:w      fixed: hash, window -> amount used
    <namespace>:{<tenant>:rl:<name>:<key>}:l      sliding: the log of admitted hits

With a `group`, the tag is the group's instead, so that limits checked together in one
`hit_many` share a cluster slot:

    <namespace>:{<tenant>:grp:<group>}:rl:<name>:<key>:g

Names cannot contain ':' and keys and groups cannot contain braces, so no choice of names
can make two subjects share keys or leave their hash tag. With encrypted names (the
keyspace's `names`), `<key>` and `<group>` are stored as their encryption (`Keyspace.stored`
as names of their own kinds, "limit" and "group": base64url, so still without braces),
checked in their plain form; the limiter's name, chosen by the developer, stays as it is.

The scripts count in integers: times in whole microseconds, fixed and sliding amounts in
whole millionths of a unit (costs rounded up, limits down), gcra costs as the microseconds
they push the bucket's arrival time (rounded up, at least 1 for any cost above 0). So
admission is exact and never over. Everything that depends only on the limiter is worked
out once, in `Rule.of`.

Bounds, checked before anything is sent, so that every number a script handles is an
integer below 2^53 (exact in Lua's doubles, and far inside the server's int64):
limit and burst from 1e-6 to 1e9 units (at most 1e15 millionths; sums of two stay below
RL_WRAP = 2^52), period from 1 ms to MAX_PERIOD (3.2e14 us), a gcra burst refilling within
MAX_PERIOD, a cost from 0 to the limit (the burst for gcra), so that a gcra hit pushes the
arrival time at most burst + 1 us past now; with the clock (1.8e15 us in 2027) every time a
script computes stays below 2^53 (9.007e15 us) until the year 2245.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from .._config import finite
from .._errors import CrossSlotError, InvalidKeyError, InvalidValueError, shown
from .._keys import Keyspace, key_slot, validate_name, validate_tag_part
from .._scripts import Script
from ._call import Call, is_one, script

__all__ = [
    "ALGORITHMS",
    "GRANULARITIES",
    "MAX_CHECKS",
    "MAX_LIMIT",
    "MAX_PERIOD",
    "MAX_TIMEOUT",
    "MIN_LIMIT",
    "MIN_PERIOD",
    "MIN_TIMEOUT",
    "Decision",
    "MultiDecision",
    "Rule",
    "fallback_decision",
    "limiter_hit",
    "limiter_hit_fixed",
    "limiter_hit_gcra",
    "limiter_hit_many",
    "limiter_hit_sliding",
    "limiter_peek",
    "limiter_reset",
    "number",
    "parse_rate",
    "ranged",
    "subject_tag",
    "validate_subject",
]

#: what a limited key and a group are to `Keyspace.stored`: kinds of names of their own, so
#: that the same text stored as a key of a scope, a thread or a semaphore's key differs
LIMITED, GROUP = "limit", "group"
#: the same for each kind of subject key (`subject_tag`'s `kind`)
_STORED_AS = {"rl": LIMITED, "sem": "semaphore"}

ALGORITHMS = ("gcra", "fixed", "sliding")
MAX_CHECKS = 16  # limits per hit_many call
MAX_SUBJECT_BYTES = 256
MAX_PERIOD = 10 * 366 * 86400.0  # seconds
MIN_LIMIT = 1e-6  # units (limit and burst): one millionth, the smallest amount counted
MAX_LIMIT = 1e9  # units: 1e15 millionths, so sums stay exact integers below 2^53
MIN_PERIOD = 0.001  # seconds
MIN_TIMEOUT, MAX_TIMEOUT = 0.001, 3600.0  # seconds, of on_error's timeout
KNOWN_KEYS = 4096  # validated keys (and calls) a rule remembers, then it starts over
_SUFFIXES = {"gcra": "}:g", "fixed": "}:w", "sliding": "}:l"}  # a key ends with its tag

#: one rate limit in the `limits` library's notation: an amount, "/" or "per", an optional
#: number of periods and a period, e.g. "10/second", "100 per minute", "5/10 seconds"
#: (spaces, case and a plural "s" as that library allows them)
_RATE = re.compile(r"\s*([0-9]{1,30})\s*(?:/|\s*per\s*)\s*([0-9]{1,30})?\s*([a-z]+)\s*", re.I)
#: its periods in seconds (a month is 30 days and a year 360, as there)
GRANULARITIES = {
    "second": 1,
    "minute": 60,
    "hour": 3600,
    "day": 86400,
    "month": 30 * 86400,
    "year": 360 * 86400,
}

_HIT_GCRA = script("limiter_hit_gcra")
_HIT_FIXED = script("limiter_hit_fixed")
_HIT_SLIDING = script("limiter_hit_sliding")
_HIT_MANY = script("limiter_hit_many")
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


def parse_rate(rate: object, label: str = "") -> tuple[int, int]:
    """(limit, period in seconds) of one rate limit in the `limits` library's notation:
    "10/second", "100 per minute", "5/10 seconds", "1000/hour", "3 per day". Several limits
    ("10/second;100/minute") are refused: a limiter holds one limit, and several limiters
    are checked together, all or nothing, by `hit_many`."""
    if not isinstance(rate, str):
        raise InvalidValueError(
            f"a rate is a string such as '100/minute', not {type(rate).__name__}", scope=label
        )
    if any(sep in rate for sep in ",;|"):
        raise InvalidValueError(
            f"the rate {rate!r} holds several limits; a limiter has one: make one limiter "
            "per limit and check them together with hit_many",
            scope=label,
        )
    found = _RATE.fullmatch(rate)
    unit = found.group(3).lower() if found else ""
    if unit not in GRANULARITIES and unit.endswith("s"):
        unit = unit[:-1]
    if found is None or unit not in GRANULARITIES:
        raise InvalidValueError(
            f"cannot read the rate {rate!r}: expected e.g. '10/second', '100 per minute' or "
            f"'5/10 seconds' (periods: {', '.join(GRANULARITIES)})",
            scope=label,
        )
    periods = int(found.group(2) or 1)
    return int(found.group(1)), periods * GRANULARITIES[unit]


def _whole(n: int) -> str:
    return str(max(0, n))


# A Decision is made on every hit. The frozen dataclass's __init__ sets each field through
# object.__setattr__; Rule.decide sets the slots directly, which takes half the time.
_new = object.__new__
_set_allowed, _set_limit, _set_remaining, _set_retry, _set_reset = (
    Decision.__dict__[f].__set__
    for f in ("allowed", "limit", "remaining", "retry_after", "reset_after")
)


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
    """A finite int or float (bools refused; an int too large for a float is out of range)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise InvalidValueError(
            f"{what} must be a number, not {type(value).__name__}", key=key, scope=label
        )
    if not finite(value):
        shown = repr(value) if isinstance(value, float) else "an integer beyond any float"
        raise InvalidValueError(f"{what} must be finite, got {shown}", key=key, scope=label)
    return value


def ranged(
    what: str,
    value: object,
    low: float,
    high: float,
    *,
    label: str,
    key: str | None = None,
    unit: str = "",
) -> float:
    """A number from `low` to `high` (see `number`)."""
    v = number(what, value, label=label, key=key)
    if not low <= v <= high:
        raise InvalidValueError(
            f"{what} must be from {_text(low)} to {_text(high)}{unit}, got {shown(value)}",
            key=key,
            scope=label,
        )
    return v


def _text(value: float) -> str:
    return str(value) if type(value) is int else repr(float(value))


def _millionths(value: float, *, up: bool) -> int:
    """`value` units in whole millionths, rounded up or down; a value within float noise
    of a whole millionth (0.7 is 700000.0000000001 millionths) counts as that millionth."""
    if type(value) is int:
        return value * 1_000_000
    m = value * 1e6
    r = round(m)
    if abs(m - r) <= abs(m) * 1e-12:
        return r
    return math.ceil(m) if up else math.floor(m)


def validate_subject(what: str, value: object, *, label: str) -> str:
    """A limited key or group: 1-256 UTF-8 bytes, no braces or control characters."""
    return validate_tag_part(what, value, error=InvalidKeyError, scope=label)


def subject_tag(ks: Keyspace, kind: str, name: str, key: str, group: str | None) -> str:
    """The prefix of one limited subject's keys (see the module docstring), from its key
    and group as given: with encrypted names, stored as their encryption."""
    key = ks.stored(key, _STORED_AS[kind])
    group = None if group is None else ks.stored(group, GROUP)
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
    label: str
    prefix: str  # a subject's key without a group: prefix + key (as stored) + suffix
    suffix: str
    period_us: int
    per_unit: float  # gcra: us per unit (the emission interval); else 1e6 millionths
    full: float  # gcra: the burst's length (us); else the limit in millionths
    params: tuple[str, ...]  # the script arguments after the cost (integer text)
    unit: tuple[str, ...]  # the script arguments of a hit of cost 1
    # key -> its KEYS, for keys already validated: hot subjects skip the checks (and the
    # encryption of their names)
    known: dict[str, tuple[str]] = field(default_factory=dict, compare=False, repr=False)
    # key -> the call of a hit of cost 1 (calls are never changed once made, so hits share)
    unit_calls: dict[str, Call[Decision]] = field(default_factory=dict, compare=False, repr=False)
    # the Decision of the last integer reply: a Decision is immutable and an integer reply
    # determines it, and gcra answers every hit of an idle subject with the same integer
    last: list[tuple[int, Decision]] = field(default_factory=list, compare=False, repr=False)

    @classmethod
    def of(
        cls,
        keyspace: Keyspace,
        name: object,
        *,
        rate: object = None,
        limit: object = None,
        period: object = None,
        algorithm: object = "gcra",
        burst: object = None,
    ) -> Rule:
        name = validate_name("limiter name", name)
        label = f"limiter:{name}"
        if rate is not None:
            if limit is not None or period is not None:
                raise InvalidValueError(
                    "give a rate such as '100/minute', or limit= and period=, not both",
                    scope=label,
                )
            limit, period = parse_rate(rate, label)
        elif limit is None or period is None:
            raise InvalidValueError(
                "a limiter needs a rate such as '100/minute', or limit= and period=",
                scope=label,
            )
        if algorithm not in ALGORITHMS:
            raise InvalidValueError(
                f"unknown algorithm {algorithm!r}; expected one of {ALGORITHMS}", scope=label
            )
        assert isinstance(algorithm, str)
        lim = ranged("limit", limit, MIN_LIMIT, MAX_LIMIT, label=label)
        per = ranged("period", period, MIN_PERIOD, MAX_PERIOD, label=label, unit=" seconds")
        capacity = lim
        if burst is not None:
            if algorithm != "gcra":
                raise InvalidValueError("burst applies to the gcra algorithm only", scope=label)
            capacity = ranged("burst", burst, MIN_LIMIT, MAX_LIMIT, label=label)
        period_us = max(1, round(per * 1_000_000))
        params: tuple[str, ...]
        if algorithm == "gcra":
            per_unit = period_us / lim  # finite: lim >= 1e-6 and period_us <= 3.2e14
            full = capacity * per_unit
            if full > MAX_PERIOD * 1e6:
                raise InvalidValueError(
                    f"the burst takes {full / 1e6:.0f} s to refill: at most {MAX_PERIOD:.0f}",
                    scope=label,
                )
            # a hit is allowed while the arrival time leads now by at most the burst's
            # length, plus 1 us for the rounding up of each hit's cost
            tau1 = math.floor(full) + 1
            params = (str(tau1), _ttl(tau1))
        else:
            per_unit = 1e6
            full = _millionths(lim, up=False)
            if full < 1:
                raise InvalidValueError("limit must be at least a millionth", scope=label)
            params = (str(full), str(period_us), _ttl(period_us))
        ks = keyspace
        prefix = f"{ks.namespace}:{{{ks.tenant or ''}:rl:{name}:"
        rule = cls(
            keyspace=ks,
            name=name,
            algorithm=algorithm,
            limit=lim,
            period=per,
            capacity=capacity,
            label=label,
            prefix=prefix,
            suffix=_SUFFIXES[algorithm],
            period_us=period_us,
            per_unit=per_unit,
            full=full,
            params=params,
            unit=(),  # set below: it takes the rule's own arithmetic
        )
        if capacity >= 1:  # else a cost of 1 is refused, as 1.0 is, by `args`
            object.__setattr__(rule, "unit", (rule._spend(1), *params))
        return rule

    def keys(self, key: object, group: object = None) -> tuple[str]:
        """The subject's key (a tuple: a script call's KEYS)."""
        if group is None and type(key) is str:
            found = self.known.get(key)
            if found is not None:
                return found
            if (
                0 < len(key) <= MAX_SUBJECT_BYTES
                and key.isascii()  # then printable means no control characters
                and key.isprintable()
                and "{" not in key
                and "}" not in key
            ):
                found = (self.prefix + self.keyspace.stored(key, LIMITED) + self.suffix,)
                if len(self.known) >= KNOWN_KEYS:
                    self.known.clear()
                self.known[key] = found
                return found
        key = validate_subject("key", key, label=self.label)
        if group is not None:
            group = validate_subject("group", group, label=self.label)
        tag = subject_tag(self.keyspace, "rl", self.name, key, group)
        return (f"{tag}:{self.suffix[-1]}",)

    def args(self, cost: object, key: str) -> tuple[str, ...]:
        """The script arguments of a hit of `cost`, after checking that it can ever be
        allowed."""
        if type(cost) is int and cost == 1 and self.unit:
            return self.unit
        c = number("cost", cost, label=self.label, key=key)
        if c < 0:
            raise InvalidValueError(
                f"cost must be >= 0, got {shown(cost)}", key=key, scope=self.label
            )
        if c > self.capacity:
            what = "burst" if self.algorithm == "gcra" else "limit"
            raise InvalidValueError(
                f"cost {cost!r} exceeds the {what} ({_text(self.capacity)}): it could never "
                "be allowed",
                key=key,
                scope=self.label,
            )
        return (self._spend(c), *self.params)

    def _spend(self, cost: float) -> str:
        if self.algorithm == "gcra":  # the us this cost pushes the arrival time, rounded up
            # (any cost above 0 takes at least 1 us: a free hit would admit without end)
            inc = math.ceil(cost * self.per_unit - 0.001)
            return str(inc if inc > 0 else (1 if cost > 0 else 0))
        # a cost up to the limit must fit an untouched window, whatever the rounding
        return str(min(_millionths(cost, up=True), int(self.full)))

    def decide(self, allowed: bool, state: int, reset: int, wait: int) -> Decision:
        """A Decision from a script's integers: `state` is the gcra arrival time's lead over
        now (us), else the amount used (millionths); `reset` and `wait` are us."""
        remaining = (self.full - state) / self.per_unit
        d: Decision = _new(Decision)  # the fields set as __init__ would, only faster
        _set_allowed(d, allowed)
        _set_limit(d, self.capacity)
        _set_remaining(d, remaining if remaining > 0 else 0.0)
        _set_retry(d, wait / 1e6)
        _set_reset(d, reset / 1e6)
        return d

    def read(self, reply: Any) -> Decision:
        """The Decision in a limiter_hit_<algorithm> reply (see the scripts' headers)."""
        if type(reply) is int:  # allowed: gcra's lead over now, or what a log holds after a
            # hit (whose entry, the newest, leaves the window in a period)
            last = self.last
            if last and last[0][0] == reply:
                return last[0][1]
            allowed, state, wait = True, reply, 0
            reset = reply if self.algorithm == "gcra" else self.period_us
        elif len(reply) == 2:
            allowed, wait = True, 0
            state, reset = reply
        else:
            allowed = False
            state, reset, wait = reply
        # as decide() does, inline: this runs on every hit
        remaining = (self.full - state) / self.per_unit
        d: Decision = _new(Decision)
        _set_allowed(d, allowed)
        _set_limit(d, self.capacity)
        _set_remaining(d, remaining if remaining > 0 else 0.0)
        _set_retry(d, wait / 1e6)
        _set_reset(d, reset / 1e6)
        if type(reply) is int:
            self.last[:] = ((reply, d),)
        return d

    def read_peek(self, reply: Sequence[int]) -> Decision:
        """The Decision in a limiter_hit_many reply for this one limit."""
        return self.decide(reply[1] == 1, reply[2], reply[3], reply[4])


def _ttl(us: int) -> str:
    """The TTL (ms) of a key whose state matters for less than `us` after the script's
    clock: 1 ms more than that, because Redis counts a key's life on its own ms clock,
    which may lag the script's clock by up to 1 ms."""
    return str(-(-(us - 1) // 1000) + 1)


def _hit(script: Script, rule: Rule, key: str, cost: object, group: object) -> Call[Decision]:
    unit = group is None and type(cost) is int and cost == 1 and type(key) is str
    if unit:
        call = rule.unit_calls.get(key)
        if call is not None:
            return call
    call = Call(script, rule.keys(key, group), rule.args(cost, key), rule.read, key, rule.label)
    if unit:
        if len(rule.unit_calls) >= KNOWN_KEYS:
            rule.unit_calls.clear()
        rule.unit_calls[key] = call
    return call


def limiter_hit_gcra(
    rule: Rule, key: str, cost: object = 1, group: object = None
) -> Call[Decision]:
    """Spend `cost` from `key`'s gcra budget if it allows."""
    return _hit(_HIT_GCRA, rule, key, cost, group)


def limiter_hit_fixed(
    rule: Rule, key: str, cost: object = 1, group: object = None
) -> Call[Decision]:
    """Spend `cost` from `key`'s fixed window if it allows."""
    return _hit(_HIT_FIXED, rule, key, cost, group)


def limiter_hit_sliding(
    rule: Rule, key: str, cost: object = 1, group: object = None
) -> Call[Decision]:
    """Log a hit of `cost` in `key`'s sliding window if it allows."""
    return _hit(_HIT_SLIDING, rule, key, cost, group)


#: algorithm -> its hit operation
HITS = {"gcra": limiter_hit_gcra, "fixed": limiter_hit_fixed, "sliding": limiter_hit_sliding}
_LETTERS = {"gcra": "g", "fixed": "f", "sliding": "s"}


def limiter_hit(rule: Rule, key: str, cost: object = 1, group: object = None) -> Call[Decision]:
    """Spend `cost` from `key`'s budget if it allows (the rule's algorithm's hit)."""
    return HITS[rule.algorithm](rule, key, cost, group)


def limiter_peek(rule: Rule, key: str, cost: object = 1, group: object = None) -> Call[Decision]:
    """What a hit of `cost` would get, spending nothing."""
    keys = rule.keys(key, group)
    args = ("0", _LETTERS[rule.algorithm], *rule.args(cost, key))
    # in peek mode limiter_hit_many only reads: sent read-only, a peek goes on answering
    # during a write pause (CLIENT PAUSE WRITE, a failover) and on a read-only replica
    return Call(_HIT_MANY, keys, args, rule.read_peek, key, rule.label, readonly=True)


def limiter_hit_many(
    checks: Sequence[tuple[Rule, object, object]],
    group: object = None,
    *,
    cluster: bool,
) -> Call[MultiDecision]:
    """One all-or-nothing call over several (rule, key, cost). On a cluster every key must
    share a slot (same `group`, or the same subject)."""
    if not checks:
        raise InvalidValueError("hit_many needs at least one (limiter, key, cost)")
    if len(checks) > MAX_CHECKS:
        raise InvalidValueError(f"at most {MAX_CHECKS} limits per call, got {len(checks)}")
    keys: list[str] = []
    args: list[str] = ["1"]
    rules = []
    for rule, key, cost in checks:
        (own,) = rule.keys(key, group)
        assert isinstance(key, str)
        if own in keys:
            raise InvalidValueError(
                "the same limiter and key appear twice in one call", key=key, scope=rule.label
            )
        keys.append(own)
        args.extend((_LETTERS[rule.algorithm], *rule.args(cost, key)))
        rules.append(rule)
    label = ",".join(r.label for r in rules)
    if cluster and len({key_slot(k) for k in keys}) > 1:
        raise CrossSlotError(
            "on Redis Cluster, limits checked together must share a slot: pass the same "
            "group= to hit_many and to every hit/peek/reset of these keys",
            scope=label,
        )

    def parse(reply: Sequence[int]) -> MultiDecision:
        decisions = tuple(
            r.decide(reply[i] == 1, reply[i + 1], reply[i + 2], reply[i + 3])
            for i, r in zip(range(1, 4 * len(rules), 4), rules, strict=True)
        )
        return MultiDecision(reply[0] == 1, decisions)

    return Call(_HIT_MANY, tuple(keys), tuple(args), parse, None, label)


def limiter_reset(rule: Rule, key: str, group: object = None) -> Call[bool]:
    """Forget what `key` has spent."""
    return Call(_RESET, rule.keys(key, group), (), is_one, key, rule.label)


def fallback_decision(rule: Rule, allow: bool) -> Decision:
    """The answer of the `on_error` policy when the server cannot be reached: nothing is
    known of what was spent, so `remaining` is 0; a denial suggests retrying in a second."""
    retry = 0.0 if allow else min(1.0, rule.period)
    return Decision(allow, rule.capacity, 0.0, retry, 0.0)
