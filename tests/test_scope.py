"""Scope handles: the behaviour users rely on, on every engine."""

from __future__ import annotations

import datetime as dt
import decimal
import time
import uuid
from typing import Any

import pytest

from pyredmem import (
    KINDS,
    CapacityError,
    InvalidKeyError,
    InvalidScopeError,
    InvalidValueError,
    Memory,
    MissingKeyError,
    SerializationError,
    WrongTypeError,
)

VALUES = [
    {"theme": "dark", "langs": ["en", "fr"], "n": 3, "nested": {"a": [1, 2.5, None, True]}},
    ["a", 1, 2.5, None, False],
    "text ✓",
    b"\x00\xffbytes",
    42,
    -(2**63),
    2**63 - 1,
    3.25,
    float("inf"),
    True,
    None,
    dt.datetime(2026, 11, 22, 12, 30, tzinfo=dt.timezone.utc),
    dt.datetime(2026, 11, 22, 12, 30),
    dt.date(2026, 1, 2),
    dt.timedelta(days=2, microseconds=7),
    uuid.UUID(int=12345),
    decimal.Decimal("1.10"),
]


@pytest.mark.parametrize("value", VALUES, ids=lambda v: type(v).__name__)
def test_round_trip(mem: Memory, value: object) -> None:
    scope = mem.user("alice")
    scope.set("k", value)
    assert scope.get("k") == value
    assert type(scope.get("k")) is type(value)


def test_get_default_exists_delete(mem: Memory) -> None:
    s = mem.session("s1")
    assert s.get("missing") is None
    assert s.get("missing", "fallback") == "fallback"
    assert not s.exists("missing")
    s.set("k", 0)
    assert s.exists("k") and s.get("k", "fallback") == 0
    assert s.delete("k") is True
    assert s.delete("k") is False
    assert not s.exists("k")


def test_keys_clear_and_isolation_between_scopes(mem: Memory) -> None:
    alice, bob = mem.user("alice"), mem.user("bob")
    alice.set_many({"b": 1, "a": 2, "c": 3})
    bob.set("a", "bob's")
    mem.session("alice").set("a", "a session, not the user")
    assert alice.keys() == ["a", "b", "c"]
    assert bob.keys() == ["a"]
    assert alice.clear() == 3
    assert alice.keys() == [] and alice.get("a") is None
    assert bob.get("a") == "bob's"
    assert alice.clear() == 0


def test_every_kind_has_a_handle(mem: Memory) -> None:
    handles = [
        mem.step("x"),
        mem.run("x"),
        mem.workflow("x"),
        mem.session("x"),
        mem.user("x"),
        mem.actor("x"),
        mem.organization("x"),
        mem.global_scope,
    ]
    assert [h.kind for h in handles] == list(KINDS)
    for i, h in enumerate(handles):
        h.set("k", i)
    assert [h.get("k") for h in handles] == list(range(len(KINDS)))
    assert mem.scope("user", "x").get("k") == 4
    assert mem.scope("global").get("k") == 7


def test_ttl(mem: Memory) -> None:
    s = mem.user("u")
    s.set("forever", 1)
    s.set("brief", 1, ttl=30)
    assert s.ttl("forever") is None
    assert 29 < s.ttl("brief") <= 30
    with pytest.raises(MissingKeyError) as info:
        s.ttl("absent")
    assert info.value.key == "absent" and info.value.scope == "user:u"
    s.set("brief", 2)  # a plain set replaces the expiry
    assert s.ttl("brief") is None


def test_expired_keys_vanish_everywhere(mem: Memory) -> None:
    s = mem.session("s")
    s.set("short", "x", ttl=0.15)
    s.set_many({"short2": 1, "short3": 2}, ttl=0.15)
    s.incr("short4", ttl=0.15)
    s.set("long", "y")
    assert s.keys() == ["long", "short", "short2", "short3", "short4"]
    time.sleep(0.3)
    assert s.get("short") is None
    assert not s.exists("short")
    assert s.get_many(["short", "long"]) == {"long": "y"}
    assert s.keys() == ["long"]
    with pytest.raises(MissingKeyError):
        s.ttl("short")
    assert s.delete("short") is False
    assert s.clear() == 1


def test_scope_keys_expire_with_their_last_value(engine: object, mem: Memory) -> None:
    s = mem.user("tmp")
    s.set("a", 1, ttl=0.1)
    s.set("b", 1, ttl=0.2)
    client = mem.client
    assert client.pttl("pm:{:user:tmp}:h") > 0
    time.sleep(0.35)
    assert client.exists("pm:{:user:tmp}:h", "pm:{:user:tmp}:x") == 0


def test_persistent_value_keeps_scope_persistent(mem: Memory) -> None:
    s = mem.user("p")
    s.set("a", 1, ttl=100)
    s.set("b", 1)
    assert mem.client.ttl("pm:{:user:p}:h") == -1
    s.delete("b")
    assert 0 < mem.client.ttl("pm:{:user:p}:h") <= 100
    s.delete("a")
    assert mem.client.exists("pm:{:user:p}:h", "pm:{:user:p}:x") == 0


def test_default_ttl(url: str) -> None:
    with Memory(url, default_ttl=60) as m:
        s = m.user("u")
        s.set("k", 1)
        assert 59 < s.ttl("k") <= 60
        s.set("k", 1, ttl=5)
        assert s.ttl("k") <= 5


def test_get_many_set_many(mem: Memory) -> None:
    s = mem.workflow("w")
    assert s.set_many({"a": 1, "b": [2], "c": {"x": 3}}) == 3
    assert s.get_many(["a", "c", "nope", "a"]) == {"a": 1, "c": {"x": 3}}
    assert s.get_many([]) == {}
    assert s.set_many({}) == 0


def test_incr_int_float_and_types(mem: Memory) -> None:
    s = mem.user("c")
    assert s.incr("n") == 1
    assert s.incr("n", 41) == 42
    assert s.incr("n", -50) == -8
    assert type(s.get("n")) is int
    assert s.incr("f", 0.1) == pytest.approx(0.1)
    assert s.incr("f", 0.2) == 0.1 + 0.2
    assert s.incr("n", 0.5) == -7.5 and type(s.get("n")) is float
    s.set("big", 2**63 - 2)
    assert s.incr("big") == 2**63 - 1
    with pytest.raises(CapacityError):
        s.incr("big")
    assert s.get("big") == 2**63 - 1
    # exact whatever the operands: an amount past 2**53 is no double (2**53 + 1 would round)
    s.set("small", -10)
    assert s.incr("small", 2**53 + 1) == 2**53 - 9 and s.get("small") == 2**53 - 9
    assert mem.context(user="c").incr("small", -(2**53 + 1)) == -10
    s.set("d", {"not": "a number"})
    with pytest.raises(WrongTypeError) as info:
        s.incr("d")
    assert info.value.key == "d"
    assert s.get("d") == {"not": "a number"}


def test_incr_ttl_applies_on_creation_only(mem: Memory) -> None:
    s = mem.user("c")
    s.incr("n", ttl=100)
    assert 99 < s.ttl("n") <= 100
    s.incr("n", ttl=5)
    assert s.ttl("n") > 5


def test_update(mem: Memory) -> None:
    s = mem.user("u")
    assert s.update("doc", lambda d: {**d, "n": d["n"] + 1}, default={"n": 0}) == {"n": 1}
    assert s.update("doc", lambda d: {**d, "n": d["n"] + 1}, default={"n": 0}) == {"n": 2}
    assert s.get("doc") == {"n": 2}
    s.set("t", [1], ttl=100)
    s.update("t", lambda v: v + [2])
    assert s.get("t") == [1, 2] and 99 < s.ttl("t") <= 100  # keeps its expiry
    s.update("t", lambda v: v + [3], ttl=5)
    assert s.ttl("t") <= 5


@pytest.mark.parametrize("ttl", [False, 0, -1, "60"])
def test_a_bad_ttl_for_an_update_fails_before_fn_runs(mem: Memory, ttl: Any) -> None:
    mem.user("u").set("doc", 1)
    ran: list[Any] = []
    with pytest.raises(InvalidValueError):
        mem.user("u").update("doc", ran.append, ttl=ttl)
    with pytest.raises(InvalidValueError):
        mem.context(user="u").update("doc", ran.append, ttl=ttl)
    assert ran == [] and mem.user("u").get("doc") == 1


def test_update_does_not_mutate_default(mem: Memory) -> None:
    default: dict[str, list[int]] = {"items": []}
    mem.user("u").update("x", lambda d: (d["items"].append(1), d)[1], default=default)
    assert default == {"items": []}


def test_values_are_isolated_per_namespace_and_tenant(url: str) -> None:
    with (
        Memory(url) as plain,
        Memory(url, tenant="acme") as acme,
        Memory(url, namespace="other") as other,
    ):
        for i, m in enumerate((plain, acme, other)):
            m.user("alice").set("k", i)
        assert [m.user("alice").get("k") for m in (plain, acme, other)] == [0, 1, 2]
        assert acme.user("alice").clear() == 1
        assert plain.user("alice").get("k") == 0 and other.user("alice").get("k") == 2


class Unserialisable:
    pass


@pytest.mark.parametrize(
    ("call", "error"),
    [
        (lambda s: s.set("", 1), InvalidKeyError),
        (lambda s: s.set(5, 1), InvalidKeyError),
        (lambda s: s.set("k" * 1025, 1), InvalidKeyError),
        (lambda s: s.set("\udc80", 1), InvalidKeyError),
        (lambda s: s.set("k", Unserialisable()), SerializationError),
        (lambda s: s.set("k", 2**70), SerializationError),
        (lambda s: s.set("k", 1, ttl=0), InvalidValueError),
        (lambda s: s.set("k", 1, ttl=-1), InvalidValueError),
        (lambda s: s.set("k", 1, ttl=float("nan")), InvalidValueError),
        (lambda s: s.set("k", 1, ttl="10"), InvalidValueError),
        (lambda s: s.set("k", 1, ttl=True), InvalidValueError),
        (lambda s: s.set("k", 1, ttl=10**400), InvalidValueError),  # no float holds it
        (lambda s: s.incr("k", ttl=10**400), InvalidValueError),
        (lambda s: s.set("k", b"x" * (1024 * 1024 + 1)), InvalidValueError),
        (lambda s: s.set_many({"a": 1, "b": Unserialisable()}), SerializationError),
        (lambda s: s.set_many({"a": 1, "": 2}), InvalidKeyError),
        (lambda s: s.set_many([("a", 1)]), InvalidValueError),
        (lambda s: s.set_many({f"k{i}": i for i in range(1001)}), InvalidValueError),
        (lambda s: s.get_many("abc"), InvalidValueError),
        (lambda s: s.incr("k", "1"), InvalidValueError),
        (lambda s: s.incr("k", 2**64), InvalidValueError),
        (lambda s: s.incr("k", float("inf")), InvalidValueError),
        (lambda s: s.incr("k", True), InvalidValueError),
        (lambda s: s.update("k", lambda v: Unserialisable()), SerializationError),
    ],
)
def test_bad_input_writes_nothing(mem: Memory, call: object, error: type[Exception]) -> None:
    s = mem.user("u")
    with pytest.raises(error) as info:
        call(s)  # type: ignore[operator]
    assert info.value.scope == "user:u"  # type: ignore[attr-defined]
    assert s.keys() == []
    assert mem.client.dbsize() == 0


@pytest.mark.parametrize(
    ("kind", "ident"),
    [
        ("user", ""),
        ("user", 5),
        ("user", "a{b"),
        ("user", "a}b"),
        ("user", "a\nb"),
        ("user", "x" * 257),
        ("planet", "earth"),
        ("global", "x"),
    ],
)
def test_bad_scopes(mem: Memory, kind: str, ident: object) -> None:
    with pytest.raises(InvalidScopeError):
        mem.scope(kind, ident)  # type: ignore[arg-type]


@pytest.mark.parametrize("tenant", ["", "a:b", "a{b}", "a b", "x" * 129, 7])
def test_bad_tenants(tenant: object) -> None:
    with pytest.raises(InvalidScopeError):
        Memory(tenant=tenant)  # type: ignore[arg-type]


def test_ids_may_contain_colons_without_colliding(mem: Memory) -> None:
    mem.user("a:b").set("k", 1)
    mem.user("a").set("b:k", 2)
    assert mem.user("a:b").keys() == ["k"]
    assert mem.user("a").keys() == ["b:k"]


def test_scope_cap(url: str) -> None:
    with Memory(url, max_keys_per_scope=3) as m:
        s = m.user("u")
        s.set_many({"a": 1, "b": 2, "c": 3})
        s.set("a", 10)  # overwriting needs no room
        with pytest.raises(CapacityError):
            s.set("d", 4)
        with pytest.raises(CapacityError):
            s.set_many({"a": 0, "d": 4})
        with pytest.raises(CapacityError):
            s.incr("d")
        assert s.get_many(["a", "d"]) == {"a": 10}
        s.delete("c")
        s.set("d", 4, ttl=0.1)
        time.sleep(0.2)
        s.set("e", 5)  # the expired key no longer takes room
        assert s.keys() == ["a", "b", "e"]
