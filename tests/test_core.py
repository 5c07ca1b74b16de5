"""The sans-I/O core on canned replies: no server, no client."""

from __future__ import annotations

import pytest

from pyredmem import (
    CapacityError,
    InvalidScopeError,
    MissingKeyError,
    MsgpackCodec,
    ScopeRef,
    WrongTypeError,
)
from pyredmem._config import Config, ttl_to_ms
from pyredmem._errors import BackendError, ConflictError, InvalidValueError, error_from_reply
from pyredmem._keys import Keyspace, key_slot
from pyredmem._ops import context as cops
from pyredmem._ops import scope as ops
from pyredmem._ops._call import Target

CFG = Config()
T = Target(CFG, ScopeRef.of("user", "alice"))


def meta(vtype: str, version: str = "1795000000000001", expiry: int = 4503599627370496) -> bytes:
    return f"{vtype}{expiry:016d}{version}".encode()


def test_scope_keys_and_hash_tags() -> None:
    assert T.keys == ("pm:{:user:alice}:h", "pm:{:user:alice}:x")
    acme = Keyspace("ns", "acme")
    assert acme.scope_keys(ScopeRef.of("global")) == ("ns:{acme:global:}:h", "ns:{acme:global:}:x")
    assert key_slot(T.keys[0]) == key_slot(T.keys[1]) == key_slot("{:user:alice}")


def test_key_slot_matches_redis_cluster() -> None:
    # reference values from CLUSTER KEYSLOT
    assert key_slot("foo") == 12182
    assert key_slot("{user1000}.following") == key_slot("{user1000}.followers") == 3443
    assert key_slot("foo{}{bar}") == 8363  # an empty tag does not count


def test_get_call_and_parse() -> None:
    call = ops.scope_get(T, "prefs", "dflt")
    assert call.script.name == "scope_get"
    assert call.keys == T.keys[:1] and call.args == ("prefs",)
    assert call.key == "prefs" and call.scope == "user:alice"
    assert call.parse(None) == "dflt"
    payload = MsgpackCodec().encode({"a": [1, 2]})
    assert call.parse([meta("m"), payload]) == {"a": [1, 2]}
    assert call.parse([meta("i"), b"-42"]) == -42
    assert call.parse([meta("f"), b"0.5"]) == 0.5


def test_set_call_encodes_numbers_as_text() -> None:
    assert ops.scope_set(T, "k", 7, None).args[1:3] == ("i", b"7")
    assert ops.scope_set(T, "k", 2.5, ttl=1.5).args[1:4] == ("f", b"2.5", 1500)
    assert ops.scope_set(T, "k", True, None).args[1] == "m"  # bool is not an int here
    with pytest.raises(InvalidValueError):
        ops.scope_set(T, "k", 1, ttl=0)


def test_entry_versions_and_cas_replies() -> None:
    entry = ops.scope_get_entry(T, "k").parse([meta("i", "1795000000000042"), b"3"])
    assert entry == ops.Entry(3, "1795000000000042")
    cas = ops.scope_cas(T, "k", entry.version, 4, None)
    assert cas.args[1] == "1795000000000042" and cas.args[5] == "1"  # keep expiry
    assert cas.parse([1, meta("i", "1795000000000043")]) == ops.CasResult(
        True, ops.Entry(4, "1795000000000043")
    )
    lost = cas.parse([0, meta("i", "1795000000000050"), b"9"])
    assert lost == ops.CasResult(False, ops.Entry(9, "1795000000000050"))
    assert cas.parse([0]) == ops.CasResult(False, None)
    assert ops.scope_cas(T, "k", None, 1, ttl=5).args[1] == "0"


def test_ttl_and_keys_parsing() -> None:
    call = ops.scope_ttl(T, "k")
    assert call.parse(-1) is None and call.parse(1500) == 1.5
    with pytest.raises(MissingKeyError):
        call.parse(-2)
    assert ops.scope_keys(T).parse([b"b", b"a"]) == ["a", "b"]


def test_get_many_parsing_skips_absent_keys() -> None:
    call = ops.scope_get_many(T, ["a", "b", "a"])
    assert call.args == ("a", "b")
    assert call.parse([meta("i"), b"1", b"", b""]) == {"a": 1}


def test_incr_parsing() -> None:
    call = ops.scope_incr(T, "n", 5, None)
    assert call.args[1:3] == ("i", "5")
    assert call.parse([meta("i"), b"9223372036854775807"]) == 2**63 - 1
    assert ops.scope_incr(T, "n", 0.25, None).parse([meta("f"), b"1.25"]) == 1.25


def test_context_groups_and_precedence() -> None:
    refs = [ScopeRef.of("run", "r"), ScopeRef.of("user", "u"), ScopeRef.of("global")]
    targets = [Target(CFG, r) for r in refs]
    one = cops.plan_groups(targets, per_slot=False)
    assert len(one) == 1 and one[0].indexes == (0, 1, 2)
    assert one[0].keys == tuple(t.keys[0] for t in targets)
    split = cops.plan_groups(targets, per_slot=True)
    assert sorted(i for g in split for i in g.indexes) == [0, 1, 2]
    calls = cops.context_resolve(targets, one, "k", with_value=True)
    assert calls[0].parse([2, meta("i"), b"5"]) == (1, 5)
    assert calls[0].parse(None) is None
    assert cops.first_hit([None, (2, "g"), (1, "u")]) == (1, "u")
    assert cops.first_hit([None, None]) is None


def test_error_prefixes_map_to_classes() -> None:
    assert isinstance(error_from_reply("PM_FULL scope is full", key="k"), CapacityError)
    assert isinstance(error_from_reply("PM_WRONGTYPE not a number"), WrongTypeError)
    assert isinstance(error_from_reply("PM_CONFLICT moved"), ConflictError)
    err = error_from_reply("PM_OVERFLOW too big", key="k", scope="user:a")
    assert (err.key, err.scope, err.message) == ("k", "user:a", "too big")
    assert type(error_from_reply("ERR something else")) is BackendError
    assert "scope='user:a', key='k'" in str(err)


def test_ttl_conversion() -> None:
    assert ttl_to_ms(1) == 1000 and ttl_to_ms(0.0004) == 1 and ttl_to_ms(2.5) == 2500
    for bad in (0, -1, float("inf"), float("nan"), "1", None, True):
        with pytest.raises(InvalidValueError):
            ttl_to_ms(bad)


def test_scope_refs() -> None:
    assert str(ScopeRef.of("user", "a:b")) == "user:a:b"
    assert ScopeRef.of("global").id == "" and str(ScopeRef.of("global")) == "global"
    with pytest.raises(InvalidScopeError):
        ScopeRef.of("User", "x")


def test_codec_reuses_a_clean_packer_after_a_failure() -> None:
    import msgpack

    codec = MsgpackCodec()
    value = {"a": [1, 2.5, "x", b"y"], "b": None}
    assert codec.encode(value) == msgpack.packb(value, use_bin_type=True)
    with pytest.raises(TypeError):
        codec.encode({"a": [1, object()]})  # fails half-way through
    assert codec.encode(value) == msgpack.packb(value, use_bin_type=True)
    assert codec.decode(codec.encode(value)) == value


def test_codec_reads_back_all_but_flat_lists(monkeypatch: pytest.MonkeyPatch) -> None:
    codec = MsgpackCodec()
    decoded: list[bytes] = []
    real = codec.decode

    def decode(data: bytes) -> object:
        decoded.append(data)
        return real(data)

    monkeypatch.setattr(codec, "decode", decode)
    flat = ["user", "hi", 1, 2.5, None, True, b"x"]
    assert real(codec.encode(flat)) == flat and decoded == []  # nothing in it can fail
    for nested in ([["a"]], [{"k": 1}], ("user", "hi"), {"a": 1}):
        decoded.clear()
        codec.encode(nested)
        assert len(decoded) == 1, nested
    with pytest.raises(TypeError, match="would not read back"):
        codec.encode([{(1, 2): 3}])


def test_codec_is_safe_across_threads() -> None:
    import datetime as dt
    from concurrent.futures import ThreadPoolExecutor

    codec = MsgpackCodec()  # the `default` hook (datetimes) runs Python code mid-pack

    def roundtrip(i: int) -> bool:
        value = {"i": i, "when": [dt.datetime(2026, 1, 1, i % 24)] * 20, "pad": "x" * i}
        return all(codec.decode(codec.encode(value)) == value for _ in range(200))

    with ThreadPoolExecutor(8) as pool:
        assert all(pool.map(roundtrip, range(64)))
