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
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from decimal import Decimal
from fractions import Fraction
from typing import Any

from hypothesis import strategies as st

from pyredmem import PyRedMemError

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


def numbers(*valid: Any) -> st.SearchStrategy[Any]:
    """Numbers and non-numbers, with `valid` ones (in range) drawn often enough that calls
    also get past their argument checks."""
    pools: list[st.SearchStrategy[Any]] = [
        st.sampled_from(EDGE_NUMBERS),
        st.sampled_from(WRONG_TYPES),
        st.integers(),
        st.floats(),
        st.integers(min_value=-(2**70), max_value=2**70),
    ]
    if valid:
        pools.insert(0, st.sampled_from(valid))
        pools.insert(0, st.sampled_from(valid))
    return st.one_of(*pools)


def optional(strategy: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """`strategy`, or None, or the argument left out."""
    return st.one_of(st.just(OMIT), st.just(None), strategy)


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

TEXTISH = st.one_of(
    st.sampled_from(BAD_TEXT),
    st.text(max_size=6),
    st.text(alphabet="{}:\x00\n ab", max_size=5),
    st.text(
        alphabet=st.characters(codec="utf-8", categories=("Cc", "Cf", "Zs", "So")),
        min_size=1,
        max_size=4,
    ),
)

WRONG_KEYS = st.sampled_from(
    [
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
)


def texts(*valid: str) -> st.SearchStrategy[Any]:
    """Keys, ids or names: `valid` ones (often), odd and oversized text, and non-strings."""
    return st.one_of(
        st.sampled_from(valid),
        st.sampled_from(valid),
        st.sampled_from(valid),
        TEXTISH,
        WRONG_KEYS,
    )


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

VALUES = st.one_of(
    st.sampled_from(GOOD_VALUES),
    st.sampled_from(BAD_VALUES),
    st.sampled_from(BAD_VALUES),
    st.integers(),
    st.floats(),
    st.text(max_size=8),
)


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
        self.reset()

    def __repr__(self) -> str:
        return f"<Store {self.family}: {self.cases} cases>"

    def take(self) -> Snapshot:
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

    def attempt(self, op: str, describe: Callable[[], str], fn: Callable[[], Any]) -> Any:
        """Run one call under the contract. Returns its result, or the PyRedMemError it
        raised (which it checks wrote nothing)."""
        self.calls += 1
        before = self.snap
        try:
            result = fn()
        except PyRedMemError as exc:
            name = type(exc).__name__
            self.raised[name] = self.raised.get(name, 0) + 1
            after = self.take()
            self.snap = after
            changed = diff(before, after)
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


def diff(before: Snapshot, after: Snapshot) -> list[str]:
    """What changed between two snapshots, leaving out keys that expired in between."""
    now_ms = int(time.time() * 1000)
    out = []
    for k in sorted(set(before) | set(after)):
        b, a = before.get(k), after.get(k)
        if b == a:
            continue
        if a is None and b is not None and 0 <= b[1] <= now_ms + 1:
            continue  # expired meanwhile
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
