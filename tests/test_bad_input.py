"""Property-based bad-input tests: every public entry point, fed generated mixes of valid and
invalid arguments, either succeeds or raises a documented `PyRedMemError` subclass, and a
call that raises writes nothing.

One test per family (scope, context, history, limiter, cache), each running
PYREDMEM_BAD_INPUT_EXAMPLES generated cases (default 10,000) on the embedded store, one
Memory per test. Each case builds a handle (with drawn ids, names and options) and makes one
call on it (some cases make a set-up call first, e.g. `fetch` before `fill`). The store is
snapshotted (every key's DUMP and expiry) after every call; a call that raises is compared
with the snapshot before it. Each test prints its count of cases on a "BAD-INPUT:" line.
See tests/bad_input_lib.py for the pools of arguments and the check itself.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pyredmem import (
    KINDS,
    Memory,
    MsgpackCodec,
)
from tests.bad_input_lib import (
    EXAMPLES,
    OMIT,
    VALUES,
    Opaque,
    Store,
    call_text,
    kwargs,
    numbers,
    optional,
    show,
    texts,
)

SETTINGS = settings(
    max_examples=EXAMPLES,
    deadline=None,
    database=None,
    derandomize=False,
    suppress_health_check=list(HealthCheck),
)

MAX_VALUE_BYTES = 4096  # small, so that oversized values are cheap to generate
MAX_KEYS_PER_SCOPE = 64


@pytest.fixture
def mem() -> Iterator[Memory]:  # shadows conftest's: one embedded store, no engine
    with Memory(max_value_bytes=MAX_VALUE_BYTES, max_keys_per_scope=MAX_KEYS_PER_SCOPE) as m:
        yield m


def finish(store: Store, capsys: pytest.CaptureFixture[str]) -> None:
    with capsys.disabled():
        print("\n" + store.report())
        if store.violations:
            print(store.violation_report())
    assert not store.violations, store.violation_report()
    assert store.cases >= EXAMPLES


Handle = tuple[str, Callable[[], Any]]


# ============================================================================ scopes

SEEDED_KEYS = ("n", "neg", "f", "d", "s", "b", "l", "big", "tmp", "new")
SEED_VALUES = {
    "n": 2**63 - 2,
    "neg": -(2**63) + 1,
    "f": 1.5,
    "d": {"a": 1},
    "s": "text",
    "b": b"x",
    "l": [1],
    "big": 1e308,
}
KIND_NAMES = st.one_of(
    st.sampled_from(KINDS),
    st.sampled_from(["bogus", "", "USER", "global ", "rl", "cache", None, 1, b"user", Opaque()]),
)
SCOPE_IDS = texts("alice", "bob", "42", "a" * 256)


def seed_scopes(mem: Memory) -> None:
    for sc in (mem.user("alice"), mem.global_scope):
        sc.set_many(SEED_VALUES)
        sc.set("tmp", "expiring", ttl=3600)


def draw_scope(data: st.DataObject, mem: Memory) -> Handle:
    how = data.draw(st.sampled_from(["alice", "alice", "global", "scope", "method"]))
    if how == "alice":
        return "mem.user('alice')", lambda: mem.user("alice")
    if how == "global":
        return "mem.global_scope", lambda: mem.global_scope
    if how == "scope":
        kind = data.draw(KIND_NAMES)
        ident = data.draw(optional(SCOPE_IDS))
        if ident is OMIT:
            return f"mem.scope({show(kind)})", lambda: mem.scope(kind)
        return f"mem.scope({show(kind)}, {show(ident)})", lambda: mem.scope(kind, ident)
    kind = data.draw(st.sampled_from(KINDS[:-1]))
    ident = data.draw(SCOPE_IDS)
    return f"mem.{kind}({show(ident)})", lambda: getattr(mem, kind)(ident)


KEYS = texts(*SEEDED_KEYS)
TTLS = optional(numbers(1, 0.5, 3600, 0.001))


def draw_keys(data: st.DataObject) -> Any:
    how = data.draw(
        st.sampled_from(
            ["list", "list", "tuple", "gen", "str", "none", "dict", "1001", "1000", "bytes", "int"]
        )
    )
    if how in ("list", "tuple", "gen"):
        ks = data.draw(st.lists(KEYS, max_size=5))
        return ks if how == "list" else tuple(ks) if how == "tuple" else iter(ks)
    return {
        "str": "abc",
        "none": None,
        "dict": {"n": 1},
        "1001": [f"k{i}" for i in range(1001)],
        "1000": [f"k{i}" for i in range(1000)],
        "bytes": b"n",
        "int": 5,
    }[how]


def draw_mapping(data: st.DataObject) -> Any:
    how = data.draw(
        st.sampled_from(["dict", "dict", "dict", "pairs", "none", "str", "1001", "empty"])
    )
    if how == "dict":
        out: dict[Any, Any] = {}
        for _ in range(data.draw(st.integers(1, 4))):
            k = data.draw(KEYS)
            try:
                out[k] = data.draw(VALUES)
            except TypeError:  # an unhashable key: a mapping cannot hold it
                pass
        return out
    return {
        "pairs": [("n", 1)],
        "none": None,
        "str": "ab",
        "1001": {f"k{i}": i for i in range(1001)},
        "empty": {},
    }[how]


def draw_fn(data: st.DataObject) -> tuple[str, Any]:
    how = data.draw(st.sampled_from(["same", "value", "value", "none", "str"]))
    if how == "same":
        return "lambda v: v", lambda v: v
    if how == "value":
        ret = data.draw(VALUES)
        return f"lambda v: {show(ret)}", lambda v: ret
    return {"none": ("None", None), "str": ("'fn'", "fn")}[how]


class Codecs:
    class ReturnsText:
        def encode(self, value: Any) -> Any:
            return "text"

        def decode(self, data: bytes) -> Any:
            return data

    class NoDecode:
        def encode(self, value: Any) -> bytes:
            return b"x"


CODECS = st.sampled_from(
    [OMIT, None, MsgpackCodec(), Opaque(), "msgpack", Codecs.ReturnsText(), Codecs.NoDecode()]
)


def scope_case(data: st.DataObject, mem: Memory, store: Store) -> None:
    op = data.draw(
        st.sampled_from(
            [
                "set",
                "set",
                "get",
                "exists",
                "delete",
                "ttl",
                "keys",
                "clear",
                "get_many",
                "set_many",
                "set_many",
                "incr",
                "incr",
                "incr",
                "update",
                "update",
                "memory",
            ]
        )
    )
    if op == "memory":
        options = kwargs(
            namespace=data.draw(optional(texts("pm", "app", "a" * 128, "a" * 129))),
            tenant=data.draw(optional(texts("acme", "t.1", "a" * 128, "a" * 129))),
            codec=data.draw(CODECS),
            default_ttl=data.draw(optional(numbers(1, 3600))),
            max_keys_per_scope=data.draw(optional(numbers(1, 10, 64))),
            max_value_bytes=data.draw(optional(numbers(1, 64, 4096))),
            update_retries=data.draw(optional(numbers(1, 5))),
        )
        inner = data.draw(st.sampled_from(["set", "incr", "update", "get"]))
        value = data.draw(VALUES)
        text = f"Memory(mem.client, {', '.join(f'{k}={show(v)}' for k, v in options.items())})"

        def run_memory() -> Any:
            m = Memory(mem.client, **options)
            sc = m.user("alice")
            if inner == "set":
                return sc.set("k", value)
            if inner == "incr":
                return sc.incr("n")
            if inner == "update":
                return sc.update("d", lambda v: value)
            return sc.get("d")

        store.attempt(
            "Memory", lambda: f"{text}.user('alice').{inner}(...value={show(value)})", run_memory
        )
        return

    target, handle = draw_scope(data, mem)
    if op in ("keys", "clear"):
        args: tuple[Any, ...] = ()
        kw: dict[str, Any] = {}
    elif op == "set":
        args = (data.draw(KEYS), data.draw(VALUES))
        kw = kwargs(ttl=data.draw(TTLS))
    elif op == "get":
        args = (data.draw(KEYS), data.draw(VALUES))
        kw = {}
    elif op in ("exists", "delete", "ttl"):
        args = (data.draw(KEYS),)
        kw = {}
    elif op == "get_many":
        args = (draw_keys(data),)
        kw = {}
    elif op == "set_many":
        args = (draw_mapping(data),)
        kw = kwargs(ttl=data.draw(TTLS))
    elif op == "incr":
        amount = data.draw(optional(numbers(1, -1, 2, 2.5, -0.5, 10**18)))
        key = data.draw(KEYS)
        args = (key,) if amount is OMIT else (key, amount)
        kw = kwargs(ttl=data.draw(TTLS))
    else:  # update
        fn_text, fn = draw_fn(data)
        key = data.draw(KEYS)
        kw = kwargs(default=data.draw(optional(VALUES)), ttl=data.draw(TTLS))
        store.attempt(
            "update",
            lambda: call_text(target, "update", key, **kw).replace(
                f"{show(key)}", f"{show(key)}, {fn_text}", 1
            ),
            lambda: handle().update(key, fn, **kw),
        )
        return
    store.attempt(
        op,
        lambda: call_text(target, op, *args, **kw),
        lambda: getattr(handle(), op)(*args, **kw),
    )


def test_scope_bad_input(mem: Memory, capsys: pytest.CaptureFixture[str]) -> None:
    store = Store("scope", mem.client, lambda: seed_scopes(mem), reseed_every=300)

    @SETTINGS
    @given(st.data())
    def case(data: st.DataObject) -> None:
        store.begin()
        scope_case(data, mem, store)

    case()
    finish(store, capsys)
