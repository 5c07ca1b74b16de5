"""Helpers of tests/test_bad_input.py: pools of bad arguments, a store snapshot, and the
check every generated call goes through.

`Store.attempt(describe, fn)` runs one call and asserts the documented contract: the call
either returns, or raises a `PyRedMemError` subclass and leaves the store exactly as it was
(the same keys, the same DUMP of each, the same expiry). Anything else (a bare TypeError,
ValueError, OverflowError, KeyError, UnicodeError, a redis-py exception) fails the test, as
does a refused call that wrote something.

With PYREDMEM_BAD_INPUT_COLLECT=1 violations are recorded instead of raised, so that one run
lists every distinct failure of a family (by operation and outcome) rather than stopping at
the first one; the tests then fail at the end if any were recorded.
"""

from __future__ import annotations

import math
import os
import pickle
import random
import struct
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from decimal import Decimal
from fractions import Fraction
from typing import Any

from pyredmem import ConcurrencyLimitError, PyRedMemError, RateLimitedError, SerializationError

DENIALS = (RateLimitedError, ConcurrencyLimitError)

EXAMPLES = int(os.environ.get("PYREDMEM_BAD_INPUT_EXAMPLES", "10000"))
COLLECT = os.environ.get("PYREDMEM_BAD_INPUT_COLLECT", "") not in ("", "0")


class _Omit:
    """An argument left out of the call (so that its default applies)."""

    def __repr__(self) -> str:
        return "<omitted>"


OMIT = _Omit()


def kwargs(**kw: Any) -> dict[str, Any]:
    """The keyword arguments that were not drawn as OMIT."""
    return {k: v for k, v in kw.items() if v is not OMIT}


class Opaque:
    """An object no codec knows."""

    def __repr__(self) -> str:
        return "Opaque()"


# ----------------------------------------------------------------------------- numbers

NAN = float("nan")
INF = float("inf")

EDGE_NUMBERS: list[Any] = [
    0,
    -0.0,
    0.0,
    -1,
    -1e-9,
    1e-9,
    5e-324,
    1e-6,
    1e-3,
    0.5,
    1,
    1.5,
    2,
    10,
    60,
    1000,
    86400,
    1e9,
    1e9 + 1,
    1e13,
    1e16,
    2**31,
    2**53,
    2**53 + 1,
    2**63 - 1,
    2**63,
    2**64,
    2**100,
    10**400,  # no float holds it (math.isfinite raises OverflowError)
    -(10**400),
    10**5000,  # nor can it be printed (repr raises ValueError past 4,300 digits)
    -(2**63),
    -(2**64),
    1e308,
    -1e308,
    NAN,
    INF,
    -INF,
]

WRONG_TYPES: list[Any] = [
    None,
    True,
    False,
    "",
    "1",
    "abc",
    "nan",
    b"1",
    b"",
    bytearray(b"1"),
    [],
    [1],
    (),
    (1,),
    {},
    {"a": 1},
    {1},
    Opaque(),
    1j,
    Decimal("1.5"),
    Decimal("NaN"),
    Decimal("1e400"),
    Fraction(1, 3),
    datetime(2024, 1, 1),
]


# ----------------------------------------------------------------------------- text


def _sized(n_bytes: int, ch: str = "x") -> str:
    return ch * (n_bytes // len(ch.encode()))


BAD_TEXT: list[Any] = [
    "",
    " ",
    "{",
    "}",
    "{x}",
    "a{b",
    "a}b",
    "\x00",
    "a\x00b",
    "\n",
    "a\rb",
    "\t",
    "\x1b[0m",
    "\x7f",
    "\x85",
    "\u2028",
    "\ufeff",
    "\ud800",  # a lone surrogate: not encodable as UTF-8
    "a\udfffb",
    "é",
    "日本語",
    "🙂",
    ":",
    "a:b",
    "*",
    "?",
    "[a]",
    "..",
    "/",
    "%s",
    "key with spaces",
    _sized(256),
    _sized(257),
    _sized(256, "é"),
    _sized(258, "é"),
    _sized(1024),
    _sized(1025),
    _sized(1024, "é"),
    _sized(1026, "é"),
    _sized(1028, "🙂"),
    _sized(4096),
]

WRONG_KEYS: list[Any] = [
    None,
    0,
    1,
    -1,
    1.5,
    NAN,
    True,
    b"k",
    b"",
    bytearray(b"k"),
    ["k"],
    ("k",),
    {"k": 1},
    {"k"},
    Opaque(),
]

ODD_CHARS = "{}:*?[]\x00\x01\x1f\x7f\x85\xa0\u2028\ufeff\ud800\udfff é🙂日\t\n\r ab"


# ----------------------------------------------------------------------------- values


def _nested(depth: int) -> Any:
    v: Any = 1
    for _ in range(depth):
        v = [v]
    return v


class Point:
    def __init__(self) -> None:
        self.x = 1


GOOD_VALUES: list[Any] = [
    None,
    0,
    1,
    -7,
    1.5,
    2**63 - 1,
    -(2**63),
    "text",
    "",
    "🙂{}\x00",
    b"bytes",
    [1, "a"],
    (1, 2),
    {"a": 1, "b": [1, 2]},
    {1, 2},
    datetime(2024, 1, 2, 3, 4, 5, tzinfo=timezone.utc),
    Decimal("1.25"),
]

BAD_VALUES: list[Any] = [
    {(1, 2): 3},  # a map key msgpack cannot read back
    {frozenset(): 1},
    {None: 1},
    {1: "int key"},
    {1.5: "float key"},
    {b"k": "bytes key"},
    {"a": {(1,): 1}},
    [{(1, 2): 3}],
    Opaque(),
    Point(),
    [Opaque()],
    {"a": Opaque()},
    2**64,
    2**100,
    -(2**64) - 1,
    [2**70],
    NAN,
    INF,
    -INF,
    1j,
    {(1, 2)},
    frozenset({1}),
    Decimal("NaN"),
    Decimal("Infinity"),
    range(3),
    _nested(600),
    _nested(100),
    "x" * 5000,  # over the tests' max_value_bytes
    b"x" * 5000,
    ["x"] * 3000,
    "\ud800",
    {"\ud800": 1},
    type,
    print,
    iter([1]),
]


class Gen:
    """The arguments of one case, drawn from a seed that Hypothesis chooses.

    Each case first draws how hostile it is (`p`: the chance that an argument is bad), so
    that some cases are almost all valid (and reach the server, where stored state matters)
    while others pile up bad arguments. Drawing the arguments from a seeded `random.Random`
    rather than one Hypothesis draw each keeps a case at a fraction of a millisecond (a
    Hypothesis draw costs ~0.1 ms), which is what lets each family run 10,000 cases in CI;
    the failure messages carry the exact call, so no shrinking is needed to read them.
    """

    def __init__(self, seed: int) -> None:
        self.r = random.Random(seed)
        self.p = self.r.choice((0.0, 0.05, 0.15, 0.3, 0.6, 1.0))

    def bad(self) -> bool:
        return self.r.random() < self.p

    def choice(self, seq: Any) -> Any:
        return self.r.choice(seq)

    def odd_text(self) -> Any:
        r = self.r
        how = r.randrange(5)
        if how == 0:
            return "".join(r.choice(ODD_CHARS) for _ in range(r.randrange(0, 8)))
        if how == 1:
            return "".join(chr(r.randrange(0, 0x110000)) for _ in range(r.randrange(1, 5)))
        if how == 2:
            return r.choice(WRONG_KEYS)
        return r.choice(BAD_TEXT)

    def text(self, *valid: str) -> Any:
        """A key, id or name: one of `valid`, or (if bad) odd text or a non-string."""
        return self.odd_text() if self.bad() else self.r.choice(valid)

    def odd_number(self) -> Any:
        r = self.r
        how = r.randrange(6)
        if how == 0:
            return r.choice(WRONG_TYPES)
        if how == 1:  # any double: subnormals, huge, nan, inf
            return struct.unpack("<d", r.getrandbits(64).to_bytes(8, "little"))[0]
        if how == 2:
            return r.choice((1, -1)) * r.getrandbits(r.randrange(1, 72))
        if how == 3:
            return r.uniform(-1e6, 1e6)
        return r.choice(EDGE_NUMBERS)

    def number(self, *valid: Any) -> Any:
        return self.odd_number() if self.bad() else self.r.choice(valid)

    def opt(self, value: Any) -> Any:
        """An optional argument: left out, None, or `value`."""
        x = self.r.random()
        return OMIT if x < 0.3 else None if x < 0.38 else value

    def value(self) -> Any:
        r = self.r
        if self.bad():
            how = r.randrange(4)
            if how == 0:
                return r.choice((1, -1)) * r.getrandbits(r.randrange(60, 90))
            if how == 1:
                return struct.unpack("<d", r.getrandbits(64).to_bytes(8, "little"))[0]
            return r.choice(BAD_VALUES)
        if r.random() < 0.3:
            return r.randrange(-1000, 1000)
        return r.choice(GOOD_VALUES)


# ----------------------------------------------------------------------------- the store

SNAPSHOT_LUA = """
local ks = redis.call('KEYS', '*')
table.sort(ks)
local out = {}
for _, k in ipairs(ks) do
  out[#out + 1] = k
  out[#out + 1] = redis.call('DUMP', k)
  out[#out + 1] = redis.call('PEXPIRETIME', k)
end
return out
"""

Snapshot = dict[bytes, tuple[bytes, int]]


@dataclass
class Violation:
    family: str
    call: str
    outcome: str


@dataclass
class Store:
    """The embedded store under test, its last snapshot, and the tally of one family."""

    family: str
    client: Any
    seed: Callable[[], None]
    max_keys: int = 60
    reseed_every: int = 0
    cases: int = 0
    calls: int = 0
    raised: dict[str, int] = field(default_factory=dict)
    violations: dict[tuple[str, str], Violation] = field(default_factory=dict)
    snap: Snapshot = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._script = self.client.register_script(SNAPSHOT_LUA)
        self._db = _fake_db(self.client)
        self.reset()

    def __repr__(self) -> str:
        return f"<Store {self.family}: {self.cases} cases>"

    def take(self) -> Snapshot:
        if self._db is not None:
            return {
                k: (pickle.dumps(item.value, 4), _ms(item.expireat))
                for k, item in self._db._dict.items()
            }
        r = self._script()
        return {r[i]: (r[i + 1], int(r[i + 2])) for i in range(0, len(r), 3)}

    def reset(self) -> None:
        self.client.flushall()
        self.seed()
        self.snap = self.take()

    def refresh(self) -> None:
        """After a write that is part of a case's set-up (not the call under test)."""
        self.snap = self.take()

    def begin(self) -> None:
        """Start a case: keep the store small, so that snapshots stay cheap."""
        self.cases += 1
        due = self.reseed_every and self.cases % self.reseed_every == 0
        if due or len(self.snap) > self.max_keys:
            self.reset()

    def attempt(
        self,
        op: str,
        describe: Callable[[], str],
        fn: Callable[[], Any],
        computed: Callable[[], bool] | None = None,
    ) -> Any:
        """Run one call under the contract. Returns its result, or the PyRedMemError it
        raised (which it checks wrote nothing). `computed`: whether the call ran the
        caller's compute function (a cache miss), whose value only then turns out to be one
        the codec cannot store: the miss had already taken its lease, which (as any miss's)
        may drop dead entries and evict past max_entries, so that SerializationError is only
        checked to leave nothing behind (no key created)."""
        self.calls += 1
        before = self.snap
        try:
            result = fn()
        except PyRedMemError as exc:
            name = type(exc).__name__
            self.raised[name] = self.raised.get(name, 0) + 1
            after = self.take()
            self.snap = after
            # a denial is a decision, not bad input: it must spend nothing (the content
            # stays), though it may re-arm a key's expiry
            changed = diff(before, after, content_only=isinstance(exc, DENIALS))
            if computed is not None and isinstance(exc, SerializationError) and computed():
                changed = [c for c in changed if c.endswith(": created")]
            if changed:
                self.fail(op, describe(), f"raised {name}({exc}) but wrote: {changed}", name)
            return exc
        except Exception as exc:  # the contract's violation
            self.take_after_failure()
            self.fail(
                op,
                describe(),
                f"raised {type(exc).__module__}.{type(exc).__name__}: {exc!r:.300}",
                type(exc).__name__,
                exc,
            )
            return exc
        self.raised["(ok)"] = self.raised.get("(ok)", 0) + 1
        self.snap = self.take()
        return result

    def take_after_failure(self) -> None:
        try:
            self.snap = self.take()
        except Exception:
            self.reset()

    def fail(
        self, op: str, call: str, outcome: str, kind: str, exc: BaseException | None = None
    ) -> None:
        tag = (op, kind + (" wrote" if exc is None else ""))
        if COLLECT:
            old = self.violations.get(tag)
            if old is None or len(call) < len(old.call):
                self.violations[tag] = Violation(self.family, call, outcome)
            return
        raise AssertionError(f"{call}\n  {outcome}") from exc

    def report(self) -> str:
        parts = ", ".join(f"{k} {v}" for k, v in sorted(self.raised.items()))
        return (
            f"BAD-INPUT: {self.family}: {self.cases} generated cases, {self.calls} calls ({parts})"
        )

    def violation_report(self) -> str:
        lines = [f"{len(self.violations)} distinct violations in {self.family}:"]
        for (op, kind), v in sorted(self.violations.items()):
            lines.append(f"- {op} / {kind}:\n    {v.call:.600}\n    -> {v.outcome:.600}")
        return "\n".join(lines)


def _fake_db(client: Any) -> Any:
    """The embedded store's database, read directly: the same content as DUMP and
    PEXPIRETIME of every key (the Lua snapshot above), at a tenth of the cost. None when the
    client is not a fakeredis one (then the Lua snapshot is used)."""
    server = getattr(client.connection_pool, "connection_kwargs", {}).get("server")
    dbs = getattr(server, "dbs", None)
    db = dbs[0] if dbs is not None else None
    return db if isinstance(getattr(db, "_dict", None), dict) else None


def _ms(expireat: Any) -> int:
    return -1 if expireat is None else int(expireat * 1000)


def diff(before: Snapshot, after: Snapshot, *, content_only: bool = False) -> list[str]:
    """What changed between two snapshots, leaving out keys that expired in between."""
    now_ms = int(time.time() * 1000)
    out = []
    for k in sorted(set(before) | set(after)):
        b, a = before.get(k), after.get(k)
        if b == a:
            continue
        if a is None and b is not None and 0 <= b[1] <= now_ms + 1:
            continue  # expired meanwhile
        if content_only and a is not None and b is not None and a[0] == b[0]:
            continue
        what = (
            "created"
            if b is None
            else "deleted"
            if a is None
            else ("expiry changed" if b[0] == a[0] else "value changed")
        )
        out.append(f"{k.decode(errors='replace')}: {what}")
    return out


def show(value: Any) -> str:
    """A short repr for reproducers (long strings abbreviated by size)."""
    if isinstance(value, (str, bytes)) and len(value) > 40:
        return f"{value[:1]!r}*{len(value)}"
    if isinstance(value, list) and len(value) > 8:
        return f"[{show(value[0]) if value else ''}, ...{len(value)} items]"
    if isinstance(value, dict) and len(value) > 8:
        return f"{{...{len(value)} items}}"
    if isinstance(value, int) and value.bit_length() > 1000:  # repr may refuse it
        return f"<int of {value.bit_length()} bits>"
    try:
        text = repr(value)
    except RecursionError:
        return "<deep>"
    if len(text) > 120:
        # _nested(depth) values
        depth = 0
        v = value
        while isinstance(v, list) and len(v) == 1:
            depth += 1
            v = v[0]
        if depth > 10:
            return f"_nested({depth})"
        return text[:117] + "..."
    return text


def call_text(target: str, method: str, *args: Any, **kw: Any) -> str:
    parts = [show(a) for a in args] + [f"{k}={show(v)}" for k, v in kw.items()]
    return f"{target}.{method}({', '.join(parts)})"


def finite(x: Any) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)
