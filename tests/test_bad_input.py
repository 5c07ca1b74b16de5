"""Property-based bad-input tests: every public entry point, fed generated mixes of valid and
invalid arguments, either succeeds or raises a documented `PyRedMemError` subclass, and a
call that raises writes nothing.

One test per family (scope, context, history, limiter, cache), each running
PYREDMEM_BAD_INPUT_EXAMPLES generated cases (default 10,000) on the embedded store, one
Memory per test. Hypothesis draws each case's operation and a seed; the seed draws how
hostile the case is and its arguments (see `Gen` in tests/bad_input_lib.py). A case builds
its handle (drawn ids, names and options) inside the checked call and makes one call on it
(a few make a set-up call first, e.g. `fetch` before `fill`). The store is snapshotted
(every key's content and expiry) after every call; a call that raises is compared with the
snapshot before it. Each test prints its count of cases on a "BAD-INPUT:" line.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pyredmem import (
    KINDS,
    CacheLease,
    InvalidValueError,
    Memory,
    Message,
    MsgpackCodec,
    ScopeRef,
    SemaphoreLease,
    estimate_tokens,
)
from tests.bad_input_lib import (
    EXAMPLES,
    OMIT,
    Gen,
    Opaque,
    Store,
    call_text,
    kwargs,
    show,
)

SETTINGS = settings(
    max_examples=EXAMPLES,
    deadline=None,
    database=None,
    suppress_health_check=list(HealthCheck),
)
SEEDS = st.integers(min_value=0, max_value=2**64 - 1)

MAX_VALUE_BYTES = 4096  # small, so that oversized values are cheap to generate
MAX_KEYS_PER_SCOPE = 64


@pytest.fixture
def mem() -> Iterator[Memory]:  # shadows conftest's: one embedded store, no engine
    with Memory(max_value_bytes=MAX_VALUE_BYTES, max_keys_per_scope=MAX_KEYS_PER_SCOPE) as m:
        yield m


def run_family(store: Store, ops: list[str], case: Callable[[str, Gen], None], capsys: Any) -> None:
    @SETTINGS
    @given(st.sampled_from(ops), SEEDS)
    def one(op: str, seed: int) -> None:
        store.begin()
        case(op, Gen(seed))

    try:
        one()
    finally:  # the count, also when a case failed (Hypothesis stops at the first)
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
BAD_KINDS = ["bogus", "", "USER", "global ", "rl", "cache", None, 1, b"user", Opaque()]
SCOPE_IDS = ("alice", "alice", "bob", "42", "a" * 256)
TTLS = (1, 0.5, 3600, 0.001, 86400 * 365)


def seed_scopes(mem: Memory) -> None:
    for sc in (mem.user("alice"), mem.global_scope):
        sc.set_many(SEED_VALUES)
        sc.set("tmp", "expiring", ttl=3600)


def gen_scope(g: Gen, mem: Memory) -> Handle:
    how = g.choice(("alice", "alice", "alice", "global", "scope", "method"))
    if how == "alice":
        return "mem.user('alice')", lambda: mem.user("alice")
    if how == "global":
        return "mem.global_scope", lambda: mem.global_scope
    if how == "scope":
        kind = g.choice(BAD_KINDS) if g.bad() else g.choice(KINDS)
        ident = g.opt(g.text(*SCOPE_IDS))
        if ident is OMIT:
            return f"mem.scope({show(kind)})", lambda: mem.scope(kind)
        return f"mem.scope({show(kind)}, {show(ident)})", lambda: mem.scope(kind, ident)
    kind = g.choice(KINDS[:-1])
    ident = g.text(*SCOPE_IDS)
    return f"mem.{kind}({show(ident)})", lambda: getattr(mem, kind)(ident)


def gen_key(g: Gen) -> Any:
    return g.text(*SEEDED_KEYS)


def gen_ttl(g: Gen) -> Any:
    return g.opt(g.number(*TTLS))


def gen_keys(g: Gen) -> Any:
    if not g.bad():
        return [gen_key(g) for _ in range(g.r.randrange(0, 5))]
    how = g.choice(("tuple", "gen", "str", "none", "dict", "1001", "1000", "bytes", "int", "set"))
    ks = [gen_key(g) for _ in range(g.r.randrange(0, 5))]
    if how == "tuple":
        return tuple(ks)
    if how == "gen":
        return iter(ks)
    return {
        "str": "abc",
        "none": None,
        "dict": {"n": 1},
        "1001": [f"k{i}" for i in range(1001)],
        "1000": [f"k{i}" for i in range(1000)],
        "bytes": b"n",
        "int": 5,
        "set": {"n", "d"},
    }[how]


def gen_mapping(g: Gen) -> Any:
    if g.bad() and g.bad():
        return g.choice(
            ([("n", 1)], None, "ab", {f"k{i}": i for i in range(1001)}, {}, 5, Opaque())
        )
    out: dict[Any, Any] = {}
    for _ in range(g.r.randrange(1, 5)):
        try:
            out[gen_key(g)] = g.value()
        except TypeError:  # an unhashable key: a mapping cannot hold it
            pass
    return out


def gen_fn(g: Gen) -> tuple[str, Any]:
    if g.bad() and g.r.random() < 0.3:
        return g.choice((("None", None), ("'fn'", "fn"), ("5", 5)))
    if g.r.random() < 0.3:
        return "lambda v: v", lambda v: v
    ret = g.value()
    return f"lambda v: {show(ret)}", lambda v: ret


class ReturnsText:
    def encode(self, value: Any) -> Any:
        return "text"

    def decode(self, data: bytes) -> Any:
        return data


class NoDecode:
    def encode(self, value: Any) -> bytes:
        return b"x"


CODECS = (None, MsgpackCodec(), Opaque(), "msgpack", ReturnsText(), NoDecode())
SCOPE_OPS = (
    ["set"] * 3
    + ["get", "exists", "delete", "ttl", "keys", "clear", "erase", "get_many"]
    + ["set_many"] * 2
    + ["incr"] * 3
    + ["update"] * 2
    + ["Memory"]
)


def memory_case(g: Gen, mem: Memory, store: Store) -> None:
    options = kwargs(
        namespace=g.opt(g.text("pm", "app", "a" * 128, "a" * 129)),
        tenant=g.opt(g.text("acme", "t.1", "a" * 128, "a" * 129)),
        codec=g.opt(g.choice(CODECS)) if g.bad() else OMIT,
        default_ttl=g.opt(g.number(1, 3600)),
        max_keys_per_scope=g.opt(g.number(1, 10, 64)),
        max_value_bytes=g.opt(g.number(1, 64, 4096)),
        update_retries=g.opt(g.number(1, 5)),
    )
    inner = g.choice(("set", "incr", "update", "get"))
    value = g.value()
    text = f"Memory(mem.client, {', '.join(f'{k}={show(v)}' for k, v in options.items())})"

    def run() -> Any:
        m = Memory(mem.client, **options)
        try:  # close() gives back the pool connections the memory checked out
            sc = m.user("alice")
            if inner == "set":
                return sc.set("k", value)
            if inner == "incr":
                return sc.incr("n")
            if inner == "update":
                return sc.update("d", lambda v: value)
            return sc.get("d")
        finally:
            m.close()

    arg = f"'k', {show(value)}" if inner == "set" else "'d', lambda v: " + show(value)
    store.attempt(
        "Memory", lambda: f"{text}.user('alice').{inner}({arg if inner != 'incr' else 'n'})", run
    )


def scope_case(op: str, g: Gen, mem: Memory, store: Store) -> None:
    if op == "Memory":
        memory_case(g, mem, store)
        return
    target, handle = gen_scope(g, mem)
    args: tuple[Any, ...] = ()
    kw: dict[str, Any] = {}
    if op == "set":
        args = (gen_key(g), g.value())
        kw = kwargs(ttl=gen_ttl(g))
    elif op == "get":
        args = (gen_key(g), g.value())
    elif op in ("exists", "delete", "ttl"):
        args = (gen_key(g),)
    elif op == "get_many":
        args = (gen_keys(g),)
    elif op == "set_many":
        args = (gen_mapping(g),)
        kw = kwargs(ttl=gen_ttl(g))
    elif op == "incr":
        amount = g.opt(g.number(1, -1, 2, 2.5, -0.5, 10**18))
        key = gen_key(g)
        args = (key,) if amount is OMIT else (key, amount)
        kw = kwargs(ttl=gen_ttl(g))
    elif op == "update":
        fn_text, fn = gen_fn(g)
        key = gen_key(g)
        kw = kwargs(default=g.opt(g.value()), ttl=gen_ttl(g))
        store.attempt(
            op,
            lambda: call_text(target, op, key, **kw).replace(
                f"({show(key)}", f"({show(key)}, {fn_text}", 1
            ),
            lambda: handle().update(key, fn, **kw),
        )
        return
    store.attempt(
        op, lambda: call_text(target, op, *args, **kw), lambda: getattr(handle(), op)(*args, **kw)
    )


def test_scope_bad_input(mem: Memory, capsys: pytest.CaptureFixture[str]) -> None:
    store = Store("scope", mem.client, lambda: seed_scopes(mem), reseed_every=300)
    run_family(store, SCOPE_OPS, lambda op, g: scope_case(op, g, mem, store), capsys)


# ============================================================================ contexts

CONTEXT_IDS = ("alice", "alice", "run-1", "wf", "a" * 256)


def context_case(op: str, g: Gen, mem: Memory, store: Store) -> None:
    bound: dict[str, Any] = {}
    for kind in KINDS[:-1]:
        if g.r.random() < 0.25:
            bound[kind] = g.text(*CONTEXT_IDS)
    if g.r.random() < 0.5:
        bound.setdefault("user", "alice")
    if g.bad() and g.r.random() < 0.2:  # an explicit None: the scope is not bound
        bound[g.choice(KINDS[:-1])] = None
    target = f"mem.context({', '.join(f'{k}={show(v)}' for k, v in bound.items())})"
    key = gen_key(g)
    args: tuple[Any, ...] = (key,)
    kw: dict[str, Any] = {}
    if op == "set":
        args = (key, g.value())
        kind = g.choice(BAD_KINDS) if g.bad() else g.choice(KINDS)
        kw = kwargs(scope=g.opt(kind), ttl=gen_ttl(g))
    elif op == "get":
        args = (key, g.value())
    store.attempt(
        op,
        lambda: call_text(target, op, *args, **kw),
        lambda: getattr(mem.context(**bound), op)(*args, **kw),
    )


def test_context_bad_input(mem: Memory, capsys: pytest.CaptureFixture[str]) -> None:
    store = Store("context", mem.client, lambda: seed_scopes(mem), reseed_every=300)
    ops = ["get", "exists", "resolve", "set", "set"]
    run_family(store, ops, lambda op, g: context_case(op, g, mem, store), capsys)


# ============================================================================ histories

THREAD_IDS = ("t1", "t1", "t2", "fresh")
ROLES = ("system", "user", "assistant", "tool", "function")
BAD_ROLES = ("", "User", "bot", None, 1, b"user")
CONTENTS = ("hi", "", "🙂\x00{}", [{"type": "text", "text": "hi"}], [{"type": "image_url"}], [])
BAD_CONTENTS = (
    None,
    "x" * 5000,
    "\ud800",
    ["part"],
    [Opaque()],
    [{(1, 2): 3}],
    [None],
    [1],
    1,
    1.5,
    b"hi",
    {"text": "hi"},
    Opaque(),
    ("a",),
)
COUNTERS: dict[str, Any] = {
    "estimate_tokens": estimate_tokens,
    "lambda m: -1": lambda m: -1,
    "lambda m: 1.5": lambda m: 1.5,
    "lambda m: '3'": lambda m: "3",
    "lambda m: 2**60": lambda m: 2**60,
    "lambda m: 2**53": lambda m: 2**53,
    "lambda m: True": lambda m: True,
    "lambda m: None": lambda m: None,
    "lambda m: 10**4": lambda m: 10**4,
    "5": 5,
    "None": None,
}


def gen_message(g: Gen) -> tuple[str, Callable[[], Any]]:
    """A Message built from generated fields (built inside the checked call: its checks
    are part of the contract), or something that is not a Message."""
    if not g.bad():
        msg = Message(g.choice(ROLES[:3]), g.choice(CONTENTS))
        return show(msg), lambda: msg
    if g.r.random() < 0.1:
        other = g.choice((None, "hello", {"role": "user", "content": "hi"}, ("user", "hi"), 1))
        return show(other), lambda: other
    role = g.choice(BAD_ROLES) if g.bad() else g.choice(ROLES)
    content = g.choice(BAD_CONTENTS) if g.bad() else g.choice(CONTENTS)
    mk = kwargs(
        name=g.opt(g.text("bob")),
        metadata=g.opt(g.value() if g.bad() else {"k": 1}),
        id=g.opt(g.text("m1", "m2", "m9", "x" * 1024)),
        created_at=g.opt(g.number(1.5, 1e9)),
        tokens=g.opt(g.number(0, 1, 10, 2**53 - 1)),
        tool_call_id=g.opt(g.text("call-1")),
        tool_calls=g.opt(g.choice(([], [{"id": "c1"}], [{(1,): 1}], "calls", [Opaque()]))),
    )
    text = (
        f"Message({show(role)}, {show(content)}, "
        + ", ".join(f"{k}={show(v)}" for k, v in mk.items())
        + ")"
    )
    return text, lambda: Message(role, content, **mk)


def seed_histories(mem: Memory) -> None:
    seed_scopes(mem)
    for sc in (mem.user("alice"), mem.global_scope):
        sc.history("t1", ttl=3600).extend(
            [Message.user("one", id="m1"), Message.assistant("two", id="m2"), Message.user("3")]
        )


def gen_history(g: Gen, mem: Memory) -> Handle:
    counter_name = g.choice(list(COUNTERS)) if g.bad() else g.choice(("estimate_tokens", OMIT))
    opts = kwargs(
        max_turns=g.opt(g.number(1, 2, 100, 100_000)),
        max_tokens=g.opt(g.number(1, 50, 8000)),
        ttl=gen_ttl(g),
        sliding=g.opt(g.choice((0, "no", 1)) if g.bad() else g.choice((True, False))),
        counter=OMIT if counter_name is OMIT else COUNTERS[counter_name],
    )
    thread = g.text(*THREAD_IDS)
    shown = ", ".join(f"{k}={counter_name if k == 'counter' else show(v)}" for k, v in opts.items())
    if g.r.random() < 0.2:
        scope_arg = g.opt(
            g.choice(("user:alice", ("user", "alice"), 1, ScopeRef("user", "a{b}"), mem))
            if g.bad()
            else g.choice((mem.user("alice"), ScopeRef.of("user", "alice"), mem.global_scope))
        )
        kw = {**opts, **kwargs(scope=scope_arg)}
        return (
            f"mem.history({show(thread)}, scope={show(scope_arg)}, {shown})",
            lambda: mem.history(thread, **kw),
        )
    target, handle = gen_scope(g, mem)
    return f"{target}.history({show(thread)}, {shown})", lambda: handle().history(thread, **opts)


HISTORY_OPS = (
    ["append"] * 4
    + ["extend"] * 3
    + ["messages"] * 2
    + ["count", "len", "clear", "delete", "ttl", "compact", "thread_count"]
    + ["fork"] * 2
    + ["threads"] * 2
)


def history_case(op: str, g: Gen, mem: Memory, store: Store) -> None:
    if op in ("threads", "thread_count"):
        target, handle = gen_scope(g, mem)
        kw = (
            kwargs(
                limit=g.opt(g.number(1, 10, 1000, 1001)),
                offset=g.opt(g.number(0, 1, 10**6)),
            )
            if op == "threads"
            else {}
        )
        store.attempt(op, lambda: call_text(target, op, **kw), lambda: getattr(handle(), op)(**kw))
        return
    target, hist = gen_history(g, mem)
    if op == "append":
        mtext, msg = gen_message(g)
        kw = kwargs(return_evicted=g.opt(g.choice((True, False))))
        store.attempt(
            op,
            lambda: f"{target}.append({mtext}{', ' if kw else ''}{kw or ''})",
            lambda: hist().append(msg(), **kw),
        )
    elif op == "extend":
        drawn = [gen_message(g) for _ in range(g.r.randrange(0, 4))]
        how = g.choice(("tuple", "gen", "none", "str", "1001", "dup", "set")) if g.bad() else "list"
        shown = ", ".join(t for t, _ in drawn)

        def build() -> Any:
            msgs = [m() for _, m in drawn]
            return {
                "list": lambda: msgs,
                "tuple": lambda: tuple(msgs),
                "gen": lambda: iter(msgs),
                "set": lambda: set(msgs),
                "none": lambda: None,
                "str": lambda: "hello",
                "1001": lambda: [Message.user("x") for _ in range(1001)],
                "dup": lambda: [Message.user("a", id="d"), Message.user("b", id="d")],
            }[how]()

        store.attempt(
            op, lambda: f"{target}.extend({how} of [{shown}])", lambda: hist().extend(build())
        )
    elif op == "messages":
        kw = kwargs(last=g.opt(g.number(1, 2, 20)), max_tokens=g.opt(g.number(1, 10, 2000)))
        store.attempt(op, lambda: call_text(target, op, **kw), lambda: hist().messages(**kw))
    elif op == "fork":
        new = g.text(*THREAD_IDS)
        kw = kwargs(upto=g.opt(g.number(0, 1, 2, 10)))
        store.attempt(op, lambda: call_text(target, op, new, **kw), lambda: hist().fork(new, **kw))
    elif op == "compact":
        summary = (
            g.choice(("", None, 5, Opaque(), {(1,): 2}, "x" * 5000, Message.user("s", id="m1")))
            if g.bad()
            else g.choice(("summary", Message.system("s")))
        )
        kw = kwargs(keep_last=g.number(0, 1, 2), retries=g.opt(g.number(0, 1, 3)))
        store.attempt(
            op,
            lambda: call_text(target, op, f"lambda turns: {show(summary)}", **kw),
            lambda: hist().compact(lambda turns: summary, **kw),
        )
    elif op == "len":
        store.attempt(op, lambda: f"len({target})", lambda: len(hist()))
    else:
        store.attempt(op, lambda: call_text(target, op), lambda: getattr(hist(), op)())


def test_history_bad_input(mem: Memory, capsys: pytest.CaptureFixture[str]) -> None:
    store = Store("history", mem.client, lambda: seed_histories(mem), reseed_every=200)
    run_family(store, HISTORY_OPS, lambda op, g: history_case(op, g, mem, store), capsys)


# ============================================================================ limiters

LIMITER_NAMES = ("rl", "rl", "tokens", "a" * 128)
ALGORITHMS = ("gcra", "fixed", "sliding")
BAD_ALGORITHMS = ("GCRA", "", "token", None, 1, b"gcra")
POLICIES = ("raise", "allow", "deny")
BAD_POLICIES = ("ignore", "", None, 1, True, "ALLOW")
LIMITER_KEYS = ("alice", "alice", "bob", "acme", "a" * 256)


def gen_limiter(g: Gen, mem: Memory) -> Handle:
    algorithm = g.choice(BAD_ALGORITHMS) if g.bad() else g.choice(ALGORITHMS)
    opts = kwargs(
        limit=g.number(1, 5, 60, 1000, 1e9, 1e-6),
        period=g.number(1, 60, 0.001, 86400 * 3650),
        algorithm=g.opt(algorithm),
        burst=g.opt(g.number(1, 10, 100)) if algorithm == "gcra" or g.bad() else OMIT,
        on_error=g.opt(g.choice(BAD_POLICIES) if g.bad() else g.choice(POLICIES)),
        timeout=g.opt(g.number(0.25, 1, 5)),
    )
    name = g.text(*LIMITER_NAMES)
    text = f"mem.limiter({show(name)}, {', '.join(f'{k}={show(v)}' for k, v in opts.items())})"
    return text, lambda: mem.limiter(name, **opts)


def gen_cost(g: Gen) -> Any:
    return g.opt(g.number(0, 1, 2, 0.5, 1234.5))


def gen_group(g: Gen) -> Any:
    return g.opt(g.text("acme", "org-1", "a" * 256))


SEMAPHORE_OPS = ("acquire", "release", "renew", "hold")


def semaphore_case(op: str, g: Gen, mem: Memory, store: Store) -> None:
    opts = kwargs(
        limit=g.number(1, 2, 4, 100_000),
        lease=g.number(1, 120, 0.001, 86400 * 365),
        on_error=g.opt(g.choice(BAD_POLICIES) if g.bad() else g.choice(POLICIES)),
        timeout=g.opt(g.number(0.25, 1)),
    )
    name = g.text(*LIMITER_NAMES)
    key = g.text(*LIMITER_KEYS)
    wait = g.opt(g.odd_number() if g.bad() else 0)
    if finite_positive(wait):
        wait = 0  # a valid wait on a full semaphore would only sleep
    text = f"mem.semaphore({show(name)}, {', '.join(f'{k}={show(v)}' for k, v in opts.items())})"
    kw = kwargs(wait=wait)
    if op in ("acquire", "hold"):

        def take() -> Any:
            sem = mem.semaphore(name, **opts)
            if op == "hold":
                with sem.hold(key, **kw):
                    return None
            lease = sem.acquire(key, **kw)
            if lease is not None:
                sem.release(lease)  # part of the call: keep the semaphore's slots free
            return lease

        store.attempt(op, lambda: call_text(text, op, key, **kw), take)
        return
    sem = mem.semaphore("rl", limit=4, lease=60)
    bad_lease = g.choice(
        (
            None,
            "lease",
            Opaque(),
            SemaphoreLease(key="alice", token="x", holders=1),
            SemaphoreLease(key="a{b}", token="", holders=-1),
            SemaphoreLease(key=None, token=5, holders="1"),  # type: ignore[arg-type]
        )
    )
    store.attempt(
        op, lambda: f"semaphore('rl').{op}({show(bad_lease)})", lambda: getattr(sem, op)(bad_lease)
    )


def finite_positive(x: Any) -> bool:
    return (
        isinstance(x, (int, float)) and not isinstance(x, bool) and x == x and 0 < x < float("inf")
    )


LIMITER_OPS = (
    ["hit"] * 4 + ["peek"] * 2 + ["reset", "limited"] + ["hit_many"] * 3 + ["semaphore"] * 2
)


def limiter_case(op: str, g: Gen, mem: Memory, store: Store) -> None:
    if op == "semaphore":
        semaphore_case(g.choice(SEMAPHORE_OPS), g, mem, store)
        return
    if op == "hit_many":
        checks: list[tuple[str, Callable[[], Any]]] = []
        n = g.r.randrange(0, 4) if not g.bad() else g.choice((0, 1, 2, 5, 17))
        for _ in range(n):
            ltext, lim = gen_limiter(g, mem)
            key = g.text(*LIMITER_KEYS)
            cost = gen_cost(g)
            shape = g.choice(("list", "4", "1", "obj", "str")) if g.bad() else "tuple"
            checks.append(
                (
                    f"({ltext}, {show(key)}{'' if cost is OMIT else ', ' + show(cost)}) as {shape}",
                    lambda lim=lim, key=key, cost=cost, shape=shape: _check(
                        lim(), key, cost, shape
                    ),
                )
            )
        if checks and g.bad() and g.r.random() < 0.2:
            checks.append(checks[0])  # the same limit and key twice
        kw = kwargs(group=gen_group(g))
        store.attempt(
            op,
            lambda: f"mem.hit_many([{', '.join(t for t, _ in checks)}], {kw})",
            lambda: mem.hit_many([c() for _, c in checks], **kw),
        )
        return
    ltext, lim = gen_limiter(g, mem)
    key = g.text(*LIMITER_KEYS)
    kw = kwargs(group=gen_group(g))
    if op == "reset":
        store.attempt(op, lambda: call_text(ltext, op, key, **kw), lambda: lim().reset(key, **kw))
        return
    cost = gen_cost(g)
    args = (key,) if cost is OMIT else (key, cost)
    if op == "limited":
        kw = {**kw, **kwargs(cost=cost)}
        store.attempt(
            op,
            lambda: call_text(ltext, "limited", key, **kw) + "(lambda: 1)()",
            lambda: lim().limited(key, **kw)(lambda: 1)(),
        )
        return
    store.attempt(
        op, lambda: call_text(ltext, op, *args, **kw), lambda: getattr(lim(), op)(*args, **kw)
    )


def _check(lim: Any, key: Any, cost: Any, shape: str) -> Any:
    if shape == "tuple":
        return (lim, key) if cost is OMIT else (lim, key, cost)
    return {
        "list": [lim, key],
        "4": (lim, key, 1, 1),
        "1": (lim,),
        "obj": Opaque(),
        "str": "rl",
    }[shape]


def test_limiter_bad_input(mem: Memory, capsys: pytest.CaptureFixture[str]) -> None:
    store = Store("limiter", mem.client, lambda: seed_scopes(mem), reseed_every=500)
    run_family(store, LIMITER_OPS, lambda op, g: limiter_case(op, g, mem, store), capsys)


# ============================================================================ caches

CACHE_NAMES = ("llm", "llm", "c.1", "a" * 128)
CACHE_KEYS = ("q1", "q1", "q2", "hot", "x" * 1024)
CACHE_OPS = (
    ["get"] * 2
    + ["set"] * 3
    + ["delete", "clear"]
    + ["get_or_compute"] * 3
    + ["fill"] * 3
    + ["release", "cached"]
)


def gen_cache_options(g: Gen, mem: Memory) -> tuple[str, dict[str, Any]]:
    scope = (
        g.opt(g.choice(("user:alice", 1, ScopeRef("user", "a{b}"), mem, Opaque())))
        if g.bad()
        else g.choice((OMIT, OMIT, mem.user("alice"), ScopeRef.of("user", "bob")))
    )
    opts = kwargs(
        ttl=g.number(60, 1, 0.5, 3600),
        scope=scope,
        lease=g.opt(g.number(30, 1, 0.01)),
        max_wait=g.opt(g.number(0, 0.5, 60)),
        stale=g.opt(g.number(0, 1, 60)),
        beta=g.opt(g.number(0, 1, 2.5)),
        buckets=g.opt(g.number(16)),
        max_entries=g.opt(g.number(1, 2, 100, 100_000)),
    )
    return ", ".join(f"{k}={show(v)}" for k, v in opts.items()), opts


def gen_cache(g: Gen, mem: Memory) -> Handle:
    shown, opts = gen_cache_options(g, mem)
    name = g.text(*CACHE_NAMES)
    return f"mem.cache({show(name)}, {shown})", lambda: mem.cache(name, **opts)


def cache_case(op: str, g: Gen, mem: Memory, store: Store) -> None:
    if op == "cached":
        shown, opts = gen_cache_options(g, mem)
        args = (g.value(),) if g.r.random() < 0.7 else ()
        keyfn = g.choice((OMIT, OMIT, lambda *a: "k", lambda *a: 5, lambda *a: "", "k"))
        kw = kwargs(name=g.opt(g.text(*CACHE_NAMES)), key=keyfn)

        def run() -> Any:
            return mem.cached(**opts, **kw)(lambda *a: "computed")(*args)

        store.attempt(
            op,
            lambda: (
                f"mem.cached({shown}, {', '.join(f'{k}={show(v)}' for k, v in kw.items())})"
                f"(lambda *a: 'computed')({', '.join(show(a) for a in args)})"
            ),
            run,
        )
        return
    target, cache = gen_cache(g, mem)
    key = g.text(*CACHE_KEYS)
    if op in ("get", "delete", "clear"):
        args: tuple[Any, ...] = () if op == "clear" else (key, g.value()) if op == "get" else (key,)
        store.attempt(op, lambda: call_text(target, op, *args), lambda: getattr(cache(), op)(*args))
    elif op == "set":
        value = g.value()
        kw = kwargs(ttl=gen_ttl(g))
        store.attempt(
            op,
            lambda: call_text(target, op, key, value, **kw),
            lambda: cache().set(key, value, **kw),
        )
    elif op == "get_or_compute":
        value = g.value()
        called: list[bool] = []

        def compute() -> Any:
            called.append(True)
            return value

        fn: Any = compute if not (g.bad() and g.r.random() < 0.2) else g.choice((None, "fn", 5))
        kw = kwargs(ttl=gen_ttl(g), fallback=g.opt(lambda: "fallback"))
        store.attempt(
            op,
            lambda: call_text(
                target, op, key, f"lambda: {show(value)}" if callable(fn) else fn, **kw
            ),
            lambda: cache().get_or_compute(key, fn, **kw),
            computed=lambda: bool(called),
        )
    else:  # fill / release: take a lease with a valid fetch first (the set-up)
        # a cache no generated case opens (a case's other bucket count would break the set-up)
        handle = mem.cache("fill.setup", ttl=60)
        lease = None
        if g.bad() and g.r.random() < 0.3:
            bad_lease: Any = g.choice(
                (
                    None,
                    "lease",
                    Opaque(),
                    CacheLease(key="q1", token="1"),
                    CacheLease(key="a{b}", token=""),
                    CacheLease(key=None, token=5),  # type: ignore[arg-type]
                )
            )
        else:
            handle.delete("q9")
            lease = handle.fetch("q9").lease
            store.refresh()
            bad_lease = lease
        try:
            if op == "release":
                store.attempt(
                    op,
                    lambda: f"cache.release({show(bad_lease)})",
                    lambda: handle.release(bad_lease),
                )
                return
            value = g.value()
            kw = kwargs(ttl=gen_ttl(g), compute_time=g.opt(g.number(0, 0.5, 10)))
            store.attempt(
                op,
                lambda: call_text("cache", op, bad_lease, value, **kw),
                lambda: handle.fill(bad_lease, value, **kw),
            )
        finally:
            if lease is not None:
                handle.release(lease)  # no later get_or_compute waits for it
                store.refresh()


def test_cache_bad_input(mem: Memory, capsys: pytest.CaptureFixture[str]) -> None:
    store = Store("cache", mem.client, lambda: seed_scopes(mem), reseed_every=500)
    run_family(store, CACHE_OPS, lambda op, g: cache_case(op, g, mem, store), capsys)


HUGE = 10**5000  # beyond any float, and too long for repr (over 4,300 digits)


@pytest.mark.parametrize(
    "call",
    [
        lambda m: m.user("u").set("k", 1, ttl=HUGE),
        lambda m: m.semaphore("s", limit=HUGE, lease=10),
        lambda m: m.user("u").facts.add("alice", "likes", "tea", confidence=HUGE),
        lambda m: m.user("u").history("t").compact(lambda ms: "s", keep_last=HUGE),
        lambda m: m.user("u").threads(offset=HUGE),
        lambda m: m.limiter("api", limit=HUGE, period=60),
        lambda m: m.cache("c", ttl=1, beta=HUGE),
        lambda m: m.user("u").history("t").append(Message.user("x", created_at=HUGE)),
        lambda m: m.user("u").history("t").append(Message.user("x", tokens=HUGE)),
    ],
)
def test_an_int_too_long_to_print_is_refused_as_bad_input(call: Any) -> None:
    """Its error message describes it (printing it would raise ValueError instead)."""
    with Memory() as mem:
        with pytest.raises(InvalidValueError) as info:
            call(mem)
        assert len(str(info.value)) < 300
