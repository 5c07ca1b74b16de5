"""Encryption at rest (`Memory(encryption_key=...)`): every value type, turn, cache entry and
fact object comes back as written; none of the secrets planted in them can be found on the
server (keys, DUMPs, each key's contents, the change log, an RDB file), while the same
writes without a key show them all; a ciphertext altered, or moved to another key, scope,
thread, cache, subject or tenant, fails with DecryptionError, never a wrong value; keys,
keyrings and their errors. The format itself (pyredmem/_crypto.py) is tested first, with no
server."""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import decimal
import json
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import pyredmem
from pyredmem import (
    AsyncMemory,
    ConfigurationError,
    DecryptionError,
    Keyring,
    Memory,
    Message,
    PyRedMemError,
    WrongTypeError,
)
from pyredmem._crypto import Crypto, bind, fingerprint, key_id_of, scope_binding
from pyredmem._errors import ValidationError
from tests.engines import Engine

KEY = bytes(range(32))
OTHER = bytes(range(100, 132))
KID = fingerprint(KEY)

# on a server every example is a few round trips on each of five engines: a few dozen do
SERVER = settings(
    max_examples=40,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
CORE = settings(max_examples=300, deadline=None, database=None)


@pytest.fixture
def enc(url: str) -> Iterator[Memory]:
    with Memory(url, encryption_key=KEY) as m:
        yield m


# ------------------------------------------------------------------ where things are stored
# (the documented layouts, written out here rather than taken from the library)


def scope_hash(kind: str, ident: str, tenant: str | None = None) -> str:
    return f"pm:{{{tenant or ''}:{kind}:{ident}}}:h"


def thread_list(kind: str, ident: str, thread: str, tenant: str | None = None) -> str:
    return f"pm:{{{tenant or ''}:{kind}:{ident}}}:t:{thread}:l"


def bucket_hash(name: str, label: str = "", tenant: str | None = None) -> str:
    """The hash of bucket 0 (the caches here have one bucket)."""
    return f"pm:{{{tenant or ''}:cache:{name}:{label}:0}}:h"


def fact_hash(kind: str, ident: str, tenant: str | None = None) -> str:
    return f"pm:{{{tenant or ''}:{kind}:{ident}}}:f"


def body_start(entry: bytes) -> int:
    """Where a turn entry's body (after its header and message id) starts."""
    if entry[19] == 0xD9:
        return 21 + entry[20]
    return 22 + int.from_bytes(entry[20:22], "big")


def sealed_of_entry(entry: bytes) -> tuple[int, bytes]:
    """(offset, sealed bytes) of an encrypted turn entry: its body is a msgpack bin."""
    start = body_start(entry)
    head = {0xC4: 2, 0xC5: 3, 0xC6: 5}[entry[start]]
    return start + head, entry[start + head :]


def msgpack_bin(data: bytes) -> bytes:
    n = len(data)
    if n < 256:
        return b"\xc4" + bytes([n]) + data
    if n < 65536:
        return b"\xc5" + n.to_bytes(2, "big") + data
    return b"\xc6" + n.to_bytes(4, "big") + data


# ------------------------------------------------------------------ the format, no server


def test_a_sealed_value_names_its_key_and_opens_only_with_its_binding() -> None:
    crypto = Crypto(Keyring.of(KEY))
    aad = bind(scope_binding("pm", None, "v", "user", "alice"), "k")
    blob = crypto.seal(b"hello", aad)
    assert blob[0] == 1 and key_id_of(blob) == KID == crypto.primary
    assert len(blob) == 2 + len(KID) + 12 + len(b"hello") + 16
    assert crypto.open(blob, aad) == b"hello"
    assert crypto.seal(b"hello", aad) != blob  # a fresh nonce each time
    with pytest.raises(DecryptionError) as info:
        crypto.open(blob, bind(scope_binding("pm", None, "v", "user", "alice"), "k2"))
    assert info.value.key_id == KID


@CORE
@given(data=st.binary(max_size=300), aad=st.binary(max_size=100), other=st.binary(max_size=100))
def test_core_seal_opens_only_under_the_same_associated_data(
    data: bytes, aad: bytes, other: bytes
) -> None:
    crypto = Crypto(Keyring.of(KEY))
    blob = crypto.seal(data, aad)
    assert crypto.open(blob, aad) == data
    if other != aad:
        with pytest.raises(DecryptionError):
            crypto.open(blob, other)


@CORE
@given(data=st.binary(max_size=300), aad=st.binary(max_size=64), flip=st.data())
def test_core_any_byte_flip_is_rejected(data: bytes, aad: bytes, flip: st.DataObject) -> None:
    crypto = Crypto(Keyring.of(KEY))
    blob = bytearray(crypto.seal(data, aad))
    i = flip.draw(st.integers(0, len(blob) - 1), label="index")
    blob[i] ^= flip.draw(st.integers(1, 255), label="mask")
    with pytest.raises(DecryptionError):
        crypto.open(bytes(blob), aad)


@CORE
@given(data=st.binary(max_size=64), cut=st.data())
def test_core_truncated_or_extended_blobs_are_rejected(data: bytes, cut: st.DataObject) -> None:
    crypto = Crypto(Keyring.of(KEY))
    blob = crypto.seal(data, b"aad")
    n = cut.draw(st.integers(0, len(blob) - 1), label="keep")
    with pytest.raises(DecryptionError):
        crypto.open(blob[:n], b"aad")
    with pytest.raises(DecryptionError):
        crypto.open(blob + cut.draw(st.binary(min_size=1, max_size=8), label="more"), b"aad")


NAMES = st.lists(st.text(max_size=6), max_size=4)


@CORE
@given(a=NAMES, b=NAMES)
def test_core_bindings_of_different_places_differ(a: list[str], b: list[str]) -> None:
    # length-prefixed parts: ("ab", "c") and ("a", "bc") bind differently
    assert (bind(b"p", *a) == bind(b"p", *b)) == (a == b)


def test_core_every_part_of_a_place_changes_its_binding() -> None:
    base = ("pm", "acme", "v", "user", "alice")
    seen = {scope_binding(*base)}
    for i, changed in enumerate(("pn", "acmf", "t", "session", "alicf")):
        parts = list(base)
        parts[i] = changed
        seen.add(scope_binding(*parts))
    seen.add(scope_binding("pm", None, "v", "user", "alice"))
    assert len(seen) == 7


def test_core_a_keyring_opens_what_each_of_its_keys_sealed() -> None:
    old = Crypto(Keyring({"old": KEY}, primary="old"))
    both = Crypto(Keyring({"old": KEY, "new": OTHER}, primary="new", names="old"))
    new_only = Crypto(Keyring({"new": OTHER}, primary="new"))
    blob = old.seal(b"x", b"a")
    assert both.open(blob, b"a") == b"x"
    assert key_id_of(both.seal(b"y", b"a")) == "new"
    with pytest.raises(DecryptionError, match="'old'") as info:
        new_only.open(blob, b"a")
    assert info.value.key_id == "old"
    # the same key under another id is another key id: the blob names the one it used
    assert key_id_of(blob) == "old"


def test_core_key_id_of_rejects_what_is_not_a_sealed_value() -> None:
    assert key_id_of(b"") is None
    assert key_id_of(b"\x02\x01a" + bytes(28)) is None  # another version
    assert key_id_of(b"\x01\x05abc") is None  # too short
    assert key_id_of(b"\x01\x02\xff\xfe" + bytes(28)) is None  # not ASCII
    crypto = Crypto(Keyring.of(KEY))
    for blob in (b"", b"plain msgpack", b"\x01"):
        with pytest.raises(DecryptionError, match="not an encrypted one"):
            crypto.open(blob, b"a")


# ------------------------------------------------------------------ keys and keyrings


def test_a_key_may_be_given_as_bytes_or_base64(url: str) -> None:
    with Memory(url, encryption_key=KEY) as m:
        m.user("alice").set("k", "v")
    forms: list[Any] = [
        bytearray(KEY),
        memoryview(KEY),
        base64.b64encode(KEY).decode(),
        base64.urlsafe_b64encode(KEY).decode().rstrip("="),
        f"  {base64.b64encode(KEY).decode()}\n",
        Keyring({KID: KEY}, primary=KID),
    ]
    for form in forms:
        with Memory(url, encryption_key=form) as m:
            assert m.user("alice").get("k") == "v", form


@pytest.mark.parametrize(
    "key",
    [
        b"",
        bytes(31),
        bytes(33),
        "not base64 at all!",
        base64.b64encode(bytes(31)).decode(),
        base64.b64encode(bytes(48)).decode(),
        32,
        ["k"],
        {"a": KEY},
    ],
)
def test_a_bad_key_is_a_configuration_error(key: Any) -> None:
    with pytest.raises(ConfigurationError):
        Memory("memory://bad-key", encryption_key=key)
    with pytest.raises(ConfigurationError):
        AsyncMemory("memory://bad-key", encryption_key=key)


@pytest.mark.parametrize(
    ("keys", "primary", "names"),
    [
        ({}, "a", None),
        ({"a": bytes(31)}, "a", None),
        ({"": KEY}, "", None),
        ({"a b": KEY}, "a b", None),
        ({"x" * 33: KEY}, "x" * 33, None),
        ({"é": KEY}, "é", None),
        ({1: KEY}, 1, None),
        ({"a": KEY}, "b", None),  # an unknown primary
        ({"a": KEY}, "a", "b"),  # an unknown names key
    ],
)
def test_a_bad_keyring_is_a_configuration_error(keys: Any, primary: Any, names: Any) -> None:
    with pytest.raises(ConfigurationError):
        Keyring(keys, primary=primary, names=names)


def test_a_keyring_accepts_ids_of_the_allowed_characters() -> None:
    ring = Keyring(
        {"2025-01_a.b": KEY, "x" * 32: base64.b64encode(OTHER).decode()},
        primary="x" * 32,
        names="2025-01_a.b",
    )
    assert ring.ids == ("2025-01_a.b", "x" * 32) and ring.key("x" * 32) == OTHER


def test_repr_never_shows_key_material(url: str) -> None:
    ring = Keyring({"old": KEY, "new": OTHER}, primary="new", names="old")
    with Memory(url, encryption_key=ring) as m:
        shown = " ".join([repr(ring), str(ring), repr(m), repr(m.user("a")), repr(m._cfg)])
    assert "old" in repr(ring) and "new" in repr(ring)
    for key in (KEY, OTHER):
        for form in (
            repr(key),
            key.hex(),
            base64.b64encode(key).decode(),
            base64.urlsafe_b64encode(key).decode(),
        ):
            assert form[3:-3] not in shown


def test_decryption_error_is_a_pyredmem_error_with_data() -> None:
    assert issubclass(DecryptionError, PyRedMemError)
    assert not issubclass(DecryptionError, ValidationError)
    assert "DecryptionError" in pyredmem.__all__ and "Keyring" in pyredmem.__all__
    assert pyredmem.DecryptionError is DecryptionError
    err = DecryptionError("nope", key="k", scope="user:a", key_id="kid")
    assert (err.key, err.scope, err.key_id) == ("k", "user:a", "kid")
    assert DecryptionError("nope").key_id is None


# ------------------------------------------------------------------ round trips

VALUES: list[Any] = [
    "text",
    "",
    "ünïcødé ✓ 🔑",
    b"\x00\x01bytes\xff",
    b"",
    0,
    -1,
    2**63 - 1,
    -(2**63),
    1.5,
    -0.0,
    float("inf"),
    True,
    False,
    None,
    [],
    {},
    [1, "two", 3.0, None, [b"x"]],
    {"nested": {"deep": [1, {"k": b"v"}]}, "n": 7},
    dt.datetime(2025, 3, 4, 5, 6, 7, 890, tzinfo=dt.timezone.utc),
    dt.datetime(2025, 3, 4, 5, 6, 7),
    dt.date(2024, 2, 29),
    dt.time(12, 30, 1),
    dt.timedelta(days=2, seconds=3),
    decimal.Decimal("3.14159265358979323846"),
    uuid.UUID("12345678-1234-5678-1234-567812345678"),
    "x" * 5000,
]


def same(a: Any, b: Any) -> bool:
    """Equal, and of the same type (True is not 1 here)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    return bool(a == b)


def test_every_value_type_round_trips(enc: Memory) -> None:
    user = enc.user("alice")
    keys = [f"v{i}" for i in range(len(VALUES))]
    for key, value in zip(keys, VALUES, strict=True):
        user.set(key, value)
        assert same(user.get(key), value), value
    got = user.get_many(keys)
    assert all(same(got[k], v) for k, v in zip(keys, VALUES, strict=True))
    assert user.set_many({f"m{i}": v for i, v in enumerate(VALUES)}) == len(VALUES)
    got = user.get_many([f"m{i}" for i in range(len(VALUES))])
    assert all(same(got[f"m{i}"], v) for i, v in enumerate(VALUES))
    # sets and tuples come back as lists, as without encryption
    user.set("set", {1, 2})
    user.set("tuple", (1, "a"))
    assert sorted(user.get("set")) == [1, 2] and user.get("tuple") == [1, "a"]
    assert user.get("absent", "dflt") == "dflt"
    assert sorted(user.keys()) == sorted(
        [*keys, *(f"m{i}" for i in range(len(VALUES))), "set", "tuple"]
    )


def test_values_are_sealed_on_the_server(enc: Memory) -> None:
    enc.user("alice").set_many({"s": "plain text", "n": 42, "f": 1.5, "b": True})
    stored = enc.client.hgetall(scope_hash("user", "alice"))
    for key in ("s", "n", "f", "b"):
        blob = stored[f"d:{key}".encode()]
        assert key_id_of(blob) == KID
        assert stored[f"m:{key}".encode()][:1] == b"s"  # numbers too: the type is sealed


def test_update_and_context_round_trip(enc: Memory) -> None:
    user = enc.user("alice")
    assert user.update("doc", lambda d: {**d, "n": d["n"] + 1}, default={"n": 0}) == {"n": 1}
    assert user.update("doc", lambda d: {**d, "n": d["n"] + 1}) == {"n": 2}
    assert user.get("doc") == {"n": 2}
    stamp = dt.datetime(2025, 1, 1, tzinfo=dt.timezone.utc)
    assert user.update("when", lambda _: stamp) == stamp and user.get("when") == stamp
    ctx = enc.context(user="alice", session="s1")
    ctx.set("lang", "fr")  # the session's
    ctx.set("tz", decimal.Decimal("1.5"), scope="user")
    enc.global_scope.set("g", {"global": True})
    assert ctx.get("lang") == "fr" and enc.session("s1").get("lang") == "fr"
    assert ctx.get("tz") == decimal.Decimal("1.5") and ctx.get("g") == {"global": True}
    found = ctx.resolve("doc")
    assert found is not None and str(found.scope) == "user:alice" and found.value == {"n": 2}
    assert ctx.resolve("nothing") is None
    assert ctx.exists("g") and not ctx.exists("nothing")


@SERVER
@given(
    value=st.recursive(
        st.none()
        | st.booleans()
        | st.integers(-(2**63), 2**63 - 1)
        | st.floats(allow_nan=False)
        | st.text(max_size=20)
        | st.binary(max_size=20),
        lambda inner: (
            st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=5), inner, max_size=4)
        ),
        max_leaves=12,
    )
)
def test_any_value_round_trips(enc: Memory, value: Any) -> None:
    user = enc.user("alice")
    user.set("k", value)
    assert same(user.get("k"), value)


def test_turns_round_trip(enc: Memory) -> None:
    chat = enc.user("alice").history("chat")
    turns = [
        Message.system("be brief"),
        Message.user("hello ✓", name="alice", metadata={"when": dt.date(2025, 1, 2), "n": 1}),
        Message.assistant(
            None,
            tool_calls=[
                {"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{}"}}
            ],
        ),
        Message.tool("42", tool_call_id="c1"),
        Message.assistant([{"type": "text", "text": "the answer is 42"}]),
    ]
    chat.append(turns[0])
    appended = chat.extend(turns[1:])
    assert len(appended.messages) == 4
    assert chat.extend(turns[1:3]).messages == ()  # ids already there: nothing
    got = chat.messages()
    assert [m.to_dict() for m in got] == [m.to_dict() for m in turns]
    assert [(m.id, m.metadata, m.name) for m in got] == [(m.id, m.metadata, m.name) for m in turns]
    assert all(m.created_at is not None and m.tokens for m in got)
    assert [m.id for m in chat.messages(last=2)] == [m.id for m in turns[-2:]]
    for entry in enc.client.lrange(thread_list("user", "alice", "chat"), 0, -1):
        assert key_id_of(sealed_of_entry(entry)[1]) == KID
    # the token budget reads the headers, as without encryption
    with Memory(enc.client) as plain:
        twin = plain.user("alice").history("plain")
        twin.extend(turns)
        for budget in (1, 10, 30, 1000):
            ours = [m.id for m in chat.messages(max_tokens=budget)]
            assert ours == [m.id for m in twin.messages(max_tokens=budget)]
            assert [m.id for m in chat.messages(last=3, max_tokens=budget)] == [
                m.id for m in twin.messages(last=3, max_tokens=budget)
            ]
    read = chat.append(Message.user("and now?"), read_last=2)
    assert [m.id for m in read.context] == [turns[-1].id, read.messages[0].id]
    assert read.context[-1].content == "and now?"


class JsonCodec:
    """A codec whose bodies do not delimit themselves (turns then decode one by one)."""

    def encode(self, value: Any) -> bytes:
        return json.dumps(value).encode()

    def decode(self, data: bytes) -> Any:
        return json.loads(data)


def test_another_codec_and_a_batch_round_trip(url: str) -> None:
    with Memory(url, encryption_key=KEY, codec=JsonCodec()) as mem:
        chat = mem.user("alice").history("chat")
        chat.extend([Message.user("x", metadata={"a": [1]}), Message.user("y")])
        assert [(m.content, m.metadata) for m in chat.messages()] == [("x", {"a": [1]}), ("y", {})]
        assert [m.content for m in chat.fork("copy").messages(last=1)] == ["y"]
        mem.user("alice").set("k", {"j": [1, "two"]})
        assert mem.user("alice").get("k") == {"j": [1, "two"]}
        with mem.batch() as b:
            got = b.user("alice").get("k")
            b.user("alice").set("k2", ["batched"])
            many = b.user("alice").get_many(["k"])
        assert got.value == {"j": [1, "two"]} and many.value == {"k": {"j": [1, "two"]}}
        assert mem.user("alice").get("k2") == ["batched"]
        assert key_id_of(mem.client.hget(scope_hash("user", "alice"), "d:k2")) == KID


def test_fork_seals_each_turn_again_for_the_new_thread(enc: Memory) -> None:
    scope = enc.user("alice")
    chat = scope.history("chat")
    chat.extend([Message.user(f"turn {i}", metadata={"i": i}) for i in range(5)])
    copy = chat.fork("copy")
    first = chat.fork("first", upto=2)
    assert [m.content for m in copy.messages()] == [f"turn {i}" for i in range(5)]
    assert [m.metadata for m in first.messages()] == [{"i": 0}, {"i": 1}]
    assert [m.id for m in copy.messages()] == [m.id for m in chat.messages()]
    source = enc.client.lrange(thread_list("user", "alice", "chat"), 0, -1)
    forked = enc.client.lrange(thread_list("user", "alice", "copy"), 0, -1)
    for a, b in zip(source, forked, strict=True):
        assert a[: body_start(a)] == b[: body_start(b)]  # the header kept
        assert sealed_of_entry(a)[1] != sealed_of_entry(b)[1]  # the body sealed again
    copy.append(Message.user("only in the copy"))
    assert len(chat.messages()) == 5 and len(copy.messages()) == 6
    assert scope.history("empty").fork("none").messages() == []


def test_compact_reads_and_seals_the_summary(enc: Memory) -> None:
    chat = enc.user("alice").history("chat")
    chat.extend([Message.user(f"turn {i}") for i in range(6)])
    seen: list[str] = []

    def summarize(turns: list[Message]) -> str:
        seen.extend(str(m.content) for m in turns)
        return "summary of four"

    summary = chat.compact(summarize, keep_last=2)
    assert summary is not None and summary.content == "summary of four"
    assert seen == [f"turn {i}" for i in range(4)]
    assert [m.content for m in chat.messages()] == ["summary of four", "turn 4", "turn 5"]
    entries = enc.client.lrange(thread_list("user", "alice", "chat"), 0, -1)
    assert all(key_id_of(sealed_of_entry(e)[1]) == KID for e in entries)


@pytest.mark.parametrize("scoped", [False, True])
def test_cache_entries_round_trip(enc: Memory, scoped: bool) -> None:
    scope = enc.user("alice") if scoped else None
    cache = enc.cache("answers", ttl=60, scope=scope, buckets=1)
    for i, value in enumerate(VALUES):
        cache.set(f"k{i}", value)
        assert same(cache.get(f"k{i}"), value)
    calls: list[int] = []

    def compute() -> dict[str, Any]:
        calls.append(1)
        return {"answer": 42, "at": dt.date(2025, 1, 1)}

    assert cache.get_or_compute("q", compute) == {"answer": 42, "at": dt.date(2025, 1, 1)}
    assert cache.get_or_compute("q", compute) == {"answer": 42, "at": dt.date(2025, 1, 1)}
    assert len(calls) == 1
    label = "user:alice" if scoped else ""
    stored = enc.client.hget(bucket_hash("answers", label), "d:q")
    assert key_id_of(stored) == KID


def test_cached_functions_round_trip_under_a_keyed_digest(enc: Memory) -> None:
    calls: list[tuple[Any, ...]] = []

    @enc.cached(ttl=60)
    def lookup(city: str, *, detail: bool = False) -> dict[str, Any]:
        calls.append((city, detail))
        return {"city": city, "detail": detail, "pop": decimal.Decimal("2.1e6")}

    assert lookup("Paris") == {"city": "Paris", "detail": False, "pop": decimal.Decimal("2.1e6")}
    assert lookup("Paris", detail=False)["pop"] == decimal.Decimal("2.1e6")
    assert lookup("Lyon", detail=True)["city"] == "Lyon"
    assert calls == [("Paris", False), ("Lyon", True)]
    with Memory(enc.client) as plain:
        plain_lookup = plain.cached(ttl=60)(lookup.__wrapped__)  # type: ignore[attr-defined]
        # another digest of the same arguments: a plain memory neither finds nor reads it
        assert plain_lookup.key_for("Paris") != lookup.key_for("Paris")  # type: ignore[attr-defined]
    assert "Paris" not in lookup.key_for("Paris")  # type: ignore[attr-defined]


def test_facts_round_trip(enc: Memory) -> None:
    facts = enc.user("alice").facts
    jan = dt.datetime(2025, 1, 1, tzinfo=dt.timezone.utc)
    a = facts.add("alice", "lives_in", "Tokyo", valid_from=jan, source="chat", confidence=0.9)
    facts.add("alice", "profile", {"age": 30, "tags": ["x"], "since": dt.date(2020, 1, 1)})
    facts.add("alice", "speaks", "en", cardinality="many")
    facts.add("alice", "speaks", "fr", cardinality="many")
    facts.add("bob", "lives_in", "Tokyo")
    assert a.object == "Tokyo"
    assert facts.get("alice", "lives_in") == "Tokyo"
    assert facts.get("alice", "profile") == {"age": 30, "tags": ["x"], "since": dt.date(2020, 1, 1)}
    assert sorted(facts.get("alice", "speaks")) == ["en", "fr"]
    assert facts.about("alice") == {
        "lives_in": "Tokyo",
        "profile": {"age": 30, "tags": ["x"], "since": dt.date(2020, 1, 1)},
        "speaks": ["en", "fr"],
    }
    assert facts.find("lives_in", "Tokyo") == ["alice", "bob"]
    assert facts.find("lives_in", "Kyoto") == []
    b = facts.correct("alice", "lives_in", "Kyoto")
    history = facts.history("alice", "lives_in")
    assert [v.object for v in history] == ["Tokyo", "Kyoto"]
    assert history[0].source == "chat" and history[0].confidence == 0.9 and b.object == "Kyoto"
    assert facts.get("alice", "lives_in", as_of=jan, known_at=a.recorded_from) == "Tokyo"
    assert facts.find("lives_in", "Kyoto") == ["alice"]
    ctx = enc.context(user="alice", session="s")
    assert ctx.facts.get("alice", "speaks") == ["en", "fr"]
    stored = enc.client.hgetall(fact_hash("user", "alice"))
    objects = [v for k, v in stored.items() if k.startswith(b"d:")]
    assert objects and all(v[:1] == b"s" and key_id_of(v[1:]) == KID for v in objects)


def test_an_identical_fact_added_again_writes_nothing(enc: Memory) -> None:
    facts = enc.user("alice").facts
    jan = dt.datetime(2025, 1, 1, tzinfo=dt.timezone.utc)
    first = facts.add("alice", "lives_in", {"city": "Tokyo"}, valid_from=jan, source="chat")
    before = enc.client.hgetall(fact_hash("user", "alice"))
    index = enc.client.zrange(fact_hash("user", "alice") + "i", 0, -1)
    # sealed afresh, the object's bytes differ each time: the digest says it is the same
    again = facts.add("alice", "lives_in", {"city": "Tokyo"}, valid_from=jan, source="chat")
    assert again.id == first.id
    assert enc.client.hgetall(fact_hash("user", "alice")) == before
    assert enc.client.zrange(fact_hash("user", "alice") + "i", 0, -1) == index
    assert len(facts.history("alice", "lives_in")) == 1
    assert facts.add("alice", "lives_in", {"city": "Kyoto"}).id != first.id


def test_events_with_values_carry_sealed_bytes_and_are_opened_when_read(url: str) -> None:
    with Memory(url, encryption_key=KEY, events="values") as mem:
        alice = mem.user("alice")
        alice.set("k", {"secret": 1})
        alice.update("k", lambda v: {**v, "more": 2})
        alice.incr("n")
        alice.history("chat").append(Message.user("hello", id="m1"))
        alice.facts.add("alice", "likes", "tea")
        cache = mem.cache("c", ttl=60, buckets=1)
        cache.set("q", [1, 2])
        scoped = mem.cache("sc", ttl=60, scope=alice, buckets=1)
        scoped.set("q", "scoped")
        got = alice.changes(values=True)
        assert [(e.target, e.op, e.key) for e in got] == [
            ("value", "set", "k"),
            ("value", "update", "k"),
            ("value", "incr", "n"),
            ("thread", "append", "chat"),
            ("fact", "add", "alice"),
        ]
        values = [e.value for e in got]
        assert values[:3] == [{"secret": 1}, {"secret": 1, "more": 2}, 1]
        assert isinstance(values[3], Message) and values[3].content == "hello"
        assert values[4] == "tea"
        log = mem.client.xrange("pm:{:user:alice}:ev")
        payloads = [f[b"p"] for _, f in log if b"p" in f]
        # set, update, the fact's object (incr's number: plain; the turn: its body)
        assert sum(key_id_of(p) == KID for p in payloads) == 3
        # with no key, events that carry sealed values fail to open, not silently
        with Memory(url) as plain:
            with pytest.raises(DecryptionError):
                plain.user("alice").changes(values=True)
            assert len(plain.user("alice").changes()) == 5  # without values: fine
        with Memory(url, encryption_key=OTHER) as wrong:
            with pytest.raises(DecryptionError) as info:
                wrong.user("alice").changes(values=True)
            assert info.value.key_id == KID


def test_watched_events_with_values_are_opened(url: str) -> None:
    with (
        Memory(url, encryption_key=KEY, events="values") as mem,
        mem.watch("*", values=True, timeout=5) as w,
    ):
        mem.user("a").set("k", {"deep": [1, 2]})
        mem.user("a").history("t").append(Message.user("hello"))
        mem.cache("c", ttl=60, buckets=1).set("q1", "cached")
        mem.cache("sc", ttl=60, buckets=1, scope=mem.user("a")).set("q2", "scoped")
        mem.user("a").facts.add("a", "likes", "tea")
        got = []
        for event in w:
            got.append(event)
            if len(got) == 5:
                break
    by_target = {(e.target, e.key): e.value for e in got}
    assert by_target[("value", "k")] == {"deep": [1, 2]}
    message = by_target[("thread", "t")]
    assert isinstance(message, Message) and message.content == "hello"
    assert sorted(v for (t, _), v in by_target.items() if t == "cache") == ["cached", "scoped"]
    assert by_target[("fact", "a")] == "tea"


# ------------------------------------------------------------------ planted secrets


class Planted:
    """Marker strings, each unique to this run and to where it is planted."""

    def __init__(self) -> None:
        self.run = uuid.uuid4().hex[:12]
        self.all: list[str] = []

    def __call__(self, where: str) -> str:
        marker = f"PLANTED_{where}_{self.run}"
        self.all.append(marker)
        return marker


def plant(mem: Memory, p: Planted) -> None:
    """Write markers through every operation that stores a user's values."""
    alice = mem.user("alice")
    alice.set("address", f"{p('set_text')} street")
    alice.set("blob", p("set_bytes").encode())
    alice.set("profile", {"notes": [p("set_nested")], "n": 1})
    alice.set_many({"a": p("set_many"), "b": {"x": [p("set_many_nested")]}})
    alice.update(
        "doc", lambda d: {**d, "secret": p("update")} if d else {"secret": "x"}, default={}
    )
    alice.update("doc", lambda d: {**d, "secret": p("update_again")})
    ctx = mem.context(user="alice", session="s1")
    ctx.set("ctx", p("context_set"))
    ctx.set("ctx_user", [p("context_set_user")], scope="user")
    chat = alice.history("chat")
    chat.append(Message.user(p("turn_content"), name=p("turn_name")))
    chat.extend(
        [
            Message.assistant(
                None,
                tool_calls=[
                    {
                        "id": "call_1",
                        "type": "function",
                        "function": {"name": "lookup", "arguments": p("tool_call_args")},
                    }
                ],
            ),
            Message.tool(p("tool_result"), tool_call_id="call_1"),
            Message.user("meta", metadata={"card": p("turn_metadata")}),
            Message.assistant([{"type": "text", "text": p("turn_parts")}]),
        ]
    )
    chat.fork("forked")
    chat.compact(lambda turns: p("summary"), keep_last=3)
    mem.session("s1").history("other").append(Message.user(p("session_turn")))
    cache = mem.cache("answers", ttl=60)
    cache.set("q1", p("cache_set"))
    cache.get_or_compute("q2", lambda: {"answer": p("cache_computed")})
    mem.cache("per_user", ttl=60, scope=alice).set("q", p("scoped_cache"))

    @mem.cached(ttl=60)
    def answer(question: str) -> str:
        return f"{p('cached_result')} for {question}"

    answer("what?")
    facts = alice.facts
    facts.add("alice", "address", p("fact_object"), source="chat")
    facts.add("alice", "card", {"number": p("fact_nested")})
    facts.correct("alice", "address", p("fact_corrected"))
    facts.add("alice", "aliases", p("fact_many"), cardinality="many")
    mem.global_scope.facts.add("alice", "note", p("global_fact"))


def server_blobs(mem: Memory) -> list[bytes]:
    """Everything the server holds: every key's name, its DUMP, and its contents read by
    type (a DUMP may compress what it holds, the contents never are)."""
    r = mem.client
    out: list[bytes] = []
    for key in r.scan_iter(count=1000):
        out.append(key)
        out.append(r.dump(key) or b"")
        kind = r.type(key).decode()
        if kind == "string":
            out.append(r.get(key))
        elif kind == "hash":
            for field, value in r.hgetall(key).items():
                out += [field, value]
        elif kind == "list":
            out += r.lrange(key, 0, -1)
        elif kind == "set":
            out += list(r.smembers(key))
        elif kind == "zset":
            out += [m for m, _ in r.zrange(key, 0, -1, withscores=True)]
        elif kind == "stream":
            for sid, fields in r.xrange(key):
                out.append(sid)
                for field, value in fields.items():
                    out += [field, value]
        else:
            raise AssertionError(f"{key!r} is a {kind}, which this test does not read")
    return out


def found(markers: list[str], blobs: list[bytes]) -> set[str]:
    return {m for m in markers if any(m.encode() in b for b in blobs)}


@pytest.mark.parametrize("events", [False, "values"])
@pytest.mark.parametrize("encrypted", [True, False])
def test_planted_secrets_are_nowhere_on_the_server(url: str, encrypted: bool, events: Any) -> None:
    p = Planted()
    key = KEY if encrypted else None
    with Memory(url, encryption_key=key, events=events) as mem:
        plant(mem, p)
        blobs = server_blobs(mem)
        # the planted values read back (so they were stored, not dropped)
        alice = mem.user("alice")
        assert alice.get("address").startswith("PLANTED_set_text")
        assert alice.facts.get("alice", "address").startswith("PLANTED_fact_corrected")
        if events:
            assert any(e.value is not None for e in alice.changes(values=True, limit=1000))
    assert len(p.all) == 25
    if encrypted:
        assert found(p.all, blobs) == set()
    else:  # the same writes in the clear: every marker is there (so this test can fail)
        assert found(p.all, blobs) == set(p.all)


@pytest.mark.real_server
@pytest.mark.standalone
@pytest.mark.parametrize("encrypted", [True, False])
def test_planted_secrets_are_not_in_an_rdb_file(engine: Engine, url: str, encrypted: bool) -> None:
    p = Planted()
    with Memory(url, encryption_key=KEY if encrypted else None, events="values") as mem:
        plant(mem, p)
    server = engine.servers[0]
    admin = engine.admin(server)
    rdb = Path(admin.config_get("dir")["dir"]) / admin.config_get("dbfilename")["dbfilename"]
    was = admin.config_get("rdbcompression")["rdbcompression"]
    admin.config_set("rdbcompression", "no")  # so that the plain run shows its markers
    try:
        admin.save()
        data = rdb.read_bytes()
    finally:
        admin.config_set("rdbcompression", was)
        rdb.unlink(missing_ok=True)
        admin.close()
    shown = found(p.all, [data])
    assert shown == (set() if encrypted else set(p.all))


# ------------------------------------------------------------------ moved and altered ciphertexts


def test_a_value_copied_to_another_key_scope_or_tenant_is_rejected(url: str) -> None:
    with (
        Memory(url, encryption_key=KEY) as mem,
        Memory(url, encryption_key=KEY, tenant="acme") as acme,
    ):
        mem.user("alice").set_many({"k": "alice's", "k2": "other"})
        mem.user("bob").set("k", "bob's")
        mem.session("alice").set("k", "session's")
        acme.user("alice").set("k", "acme's")
        r = mem.client
        secret = r.hget(scope_hash("user", "alice"), "d:k")
        for target, read in (
            ((scope_hash("user", "alice"), "d:k2"), lambda: mem.user("alice").get("k2")),
            ((scope_hash("user", "bob"), "d:k"), lambda: mem.user("bob").get("k")),
            ((scope_hash("session", "alice"), "d:k"), lambda: mem.session("alice").get("k")),
            ((scope_hash("user", "alice", "acme"), "d:k"), lambda: acme.user("alice").get("k")),
        ):
            r.hset(*target, secret)
            with pytest.raises(DecryptionError) as info:
                read()
            assert info.value.key_id == KID and info.value.key == target[1][2:]
        with pytest.raises(DecryptionError):
            mem.user("bob").get_many(["k"])
        with pytest.raises(DecryptionError):
            mem.context(user="bob").get("k")
        with pytest.raises(DecryptionError):
            mem.user("bob").update("k", lambda v: v)
        assert mem.user("alice").get("k") == "alice's"  # where it was sealed, it opens


def test_a_value_of_another_namespace_is_rejected(url: str) -> None:
    with (
        Memory(url, encryption_key=KEY) as mem,
        Memory(url, encryption_key=KEY, namespace="other") as other,
    ):
        mem.user("alice").set("k", "pm's")
        other.user("alice").set("k", "other's")
        r = mem.client
        r.hset("other:{:user:alice}:h", "d:k", r.hget(scope_hash("user", "alice"), "d:k"))
        with pytest.raises(DecryptionError):
            other.user("alice").get("k")


def test_a_turn_copied_to_another_thread_or_scope_is_rejected(url: str) -> None:
    with (
        Memory(url, encryption_key=KEY) as mem,
        Memory(url, encryption_key=KEY, tenant="acme") as acme,
    ):
        for m, kind, ident, thread in (
            (mem, "user", "alice", "chat"),
            (mem, "user", "alice", "other"),
            (mem, "user", "bob", "chat"),
            (mem, "session", "alice", "chat"),
            (acme, "user", "alice", "chat"),
        ):
            m.scope(kind, ident).history(thread).append(Message.user(f"{kind}:{ident}:{thread}"))
        r = mem.client
        entry = r.lindex(thread_list("user", "alice", "chat"), 0)
        for key, read in (
            (thread_list("user", "alice", "other"), mem.user("alice").history("other")),
            (thread_list("user", "bob", "chat"), mem.user("bob").history("chat")),
            (thread_list("session", "alice", "chat"), mem.session("alice").history("chat")),
            (thread_list("user", "alice", "chat", "acme"), acme.user("alice").history("chat")),
        ):
            # the whole entry (its header and id with it), and its body alone
            original = r.lindex(key, 0)
            start = body_start(original)
            for moved in (entry, original[:start] + entry[body_start(entry) :]):
                r.lset(key, 0, moved)
                with pytest.raises(DecryptionError):
                    read.messages()
                with pytest.raises(DecryptionError):
                    read.messages(last=1)
                with pytest.raises(DecryptionError):
                    read.fork("copy")
            r.lset(key, 0, original)
        # an append that reads the thread back fails on the moved turn it reads
        bob = mem.user("bob").history("chat")
        r.lset(thread_list("user", "bob", "chat"), 0, entry)
        with pytest.raises(DecryptionError):
            bob.append(Message.user("more"), read_last=5)
        assert mem.user("alice").history("chat").messages()[0].content == "user:alice:chat"


def test_a_cache_entry_copied_to_another_key_or_cache_is_rejected(url: str) -> None:
    with (
        Memory(url, encryption_key=KEY) as mem,
        Memory(url, encryption_key=KEY, tenant="acme") as acme,
    ):
        a = mem.cache("a", ttl=60, buckets=1)
        b = mem.cache("b", ttl=60, buckets=1)
        scoped = mem.cache("a", ttl=60, buckets=1, scope=mem.user("alice"))
        theirs = acme.cache("a", ttl=60, buckets=1)
        for c in (a, b, scoped, theirs):
            c.set("q", f"{c.name}")
            c.set("q2", "other")
        r = mem.client
        entry = r.hget(bucket_hash("a"), "d:q")
        for field, c in (
            ((bucket_hash("a"), "d:q2"), a),
            ((bucket_hash("b"), "d:q"), b),
            ((bucket_hash("a", "user:alice"), "d:q"), scoped),
            ((bucket_hash("a", "", "acme"), "d:q"), theirs),
        ):
            key = field[1][2:]
            r.hset(*field, entry)
            with pytest.raises(DecryptionError):
                c.get(key)
            with pytest.raises(DecryptionError):
                c.get_or_compute(key, lambda: "never")
        assert a.get("q") == "a"


def test_a_fact_object_copied_to_another_subject_or_predicate_is_rejected(url: str) -> None:
    with (
        Memory(url, encryption_key=KEY) as mem,
        Memory(url, encryption_key=KEY, tenant="acme") as acme,
    ):
        facts = mem.user("alice").facts
        src = facts.add("alice", "lives_in", "Tokyo")
        places = [
            (mem.user("alice").facts, "bob", "lives_in", None, "user", "alice"),
            (mem.user("alice").facts, "alice", "works_in", None, "user", "alice"),
            (mem.user("bob").facts, "alice", "lives_in", None, "user", "bob"),
            (acme.user("alice").facts, "alice", "lives_in", "acme", "user", "alice"),
        ]
        r = mem.client
        entry = r.hget(fact_hash("user", "alice"), f"d:{src.id:012d}")
        assert entry is not None and entry[:1] == b"s"
        for store, subject, predicate, tenant, kind, ident in places:
            fact = store.add(subject, predicate, "elsewhere")
            r.hset(fact_hash(kind, ident, tenant), f"d:{fact.id:012d}", entry)
            with pytest.raises(DecryptionError):
                store.get(subject, predicate)
            with pytest.raises(DecryptionError):
                store.about(subject)
            with pytest.raises(DecryptionError):
                store.history(subject, predicate)
        assert facts.get("alice", "lives_in") == "Tokyo"


# -- the property versions: every stored ciphertext is a Place; a moved or flipped one fails


@dataclass(frozen=True)
class Place:
    """One stored ciphertext: where it lives and how to read it back."""

    kind: str  # "value", "turn", "cache", "fact"
    key: str  # the Redis key
    field: str  # the hash field, or "" (a turn: the first entry of a list)
    read: Callable[[], Any]

    def stored(self, r: Any) -> bytes:
        if self.kind == "turn":
            return bytes(r.lindex(self.key, 0))
        return bytes(r.hget(self.key, self.field))

    def put(self, r: Any, data: bytes) -> None:
        if self.kind == "turn":
            r.lset(self.key, 0, data)
        else:
            r.hset(self.key, self.field, data)

    def sealed(self, r: Any) -> tuple[int, bytes]:
        """(offset in what is stored, the sealed bytes)."""
        data = self.stored(r)
        if self.kind == "turn":
            return sealed_of_entry(data)
        if self.kind == "fact":
            return 1, data[1:]  # after the type char
        return 0, data

    def with_sealed(self, r: Any, sealed: bytes) -> bytes:
        """What is stored here with its sealed bytes replaced by `sealed`."""
        data = self.stored(r)
        if self.kind == "turn":
            return data[: body_start(data)] + msgpack_bin(sealed)
        if self.kind == "fact":
            return b"s" + sealed
        return sealed


@dataclass(frozen=True)
class World:
    client: Any  # the raw client
    places: list[Place]


@pytest.fixture
def world(url: str) -> Iterator[World]:
    """A world of ciphertexts: values, turns, cache entries and fact objects over two
    tenants, scopes, keys, threads, caches, subjects and predicates."""
    with (
        Memory(url, encryption_key=KEY) as mem,
        Memory(url, encryption_key=KEY, tenant="acme") as acme,
    ):
        out: list[Place] = []
        for m, tenant in ((mem, None), (acme, "acme")):
            for kind, ident in (("user", "alice"), ("user", "bob"), ("session", "alice")):
                scope = m.scope(kind, ident)
                for key in ("k1", "k2"):
                    scope.set(key, f"{tenant}/{kind}/{ident}/{key}")
                    out.append(
                        Place(
                            "value",
                            scope_hash(kind, ident, tenant),
                            f"d:{key}",
                            lambda s=scope, k=key: s.get(k),
                        )
                    )
                for thread in ("t1", "t2"):
                    h = scope.history(thread)
                    h.append(Message.user(f"{tenant}/{kind}/{ident}/{thread}"))
                    out.append(
                        Place("turn", thread_list(kind, ident, thread, tenant), "", h.messages)
                    )
                facts = scope.facts
                for subject in ("s1", "s2"):
                    for predicate in ("p1", "p2"):
                        f = facts.add(subject, predicate, f"{kind}/{ident}/{subject}/{predicate}")
                        out.append(
                            Place(
                                "fact",
                                fact_hash(kind, ident, tenant),
                                f"d:{f.id:012d}",
                                lambda fs=facts, s=subject, p=predicate: fs.get(s, p),
                            )
                        )
            for name in ("c1", "c2"):
                for scope_of, label in ((None, ""), (m.user("alice"), "user:alice")):
                    c = m.cache(name, ttl=600, buckets=1, scope=scope_of)
                    for key in ("q1", "q2"):
                        c.set(key, f"{tenant}/{name}/{label}/{key}")
                        out.append(
                            Place(
                                "cache",
                                bucket_hash(name, label, tenant),
                                f"d:{key}",
                                lambda c=c, k=key: c.get(k),
                            )
                        )
        for place in out:  # each opens where it is
            place.read()
        yield World(mem.client, out)


@SERVER
@given(data=st.data())
def test_any_ciphertext_moved_anywhere_is_rejected(world: World, data: st.DataObject) -> None:
    src = data.draw(st.sampled_from(world.places), label="from")
    dst = data.draw(st.sampled_from([p for p in world.places if p is not src]), label="to")
    client = world.client
    original = dst.stored(client)
    dst.put(client, dst.with_sealed(client, src.sealed(client)[1]))
    try:
        with pytest.raises(DecryptionError):
            dst.read()
    finally:
        dst.put(client, original)
    dst.read()


@SERVER
@given(data=st.data())
def test_any_byte_flip_in_a_stored_ciphertext_is_rejected(
    world: World, data: st.DataObject
) -> None:
    place = data.draw(st.sampled_from(world.places), label="place")
    client = world.client
    original = place.stored(client)
    offset, sealed = place.sealed(client)
    i = data.draw(st.integers(0, len(sealed) - 1), label="index")
    mask = data.draw(st.integers(1, 255), label="mask")
    flipped = bytearray(original)
    flipped[offset + i] ^= mask
    place.put(client, bytes(flipped))
    try:
        with pytest.raises(DecryptionError):
            place.read()
    finally:
        place.put(client, original)


# ------------------------------------------------------------------ keys that do not fit


def write_everything(mem: Memory) -> None:
    alice = mem.user("alice")
    alice.set("k", {"v": 1})
    alice.history("chat").append(Message.user("hello"))
    mem.cache("c", ttl=60, buckets=1).set("q", "cached")
    alice.facts.add("alice", "likes", "tea")


def reads(mem: Memory) -> dict[str, Callable[[], Any]]:
    alice = mem.user("alice")
    return {
        "get": lambda: alice.get("k"),
        "get_many": lambda: alice.get_many(["k"]),
        "context": lambda: mem.context(user="alice").get("k"),
        "resolve": lambda: mem.context(user="alice").resolve("k"),
        "update": lambda: alice.update("k", lambda v: v),
        "messages": lambda: alice.history("chat").messages(),
        "fork": lambda: alice.history("chat").fork("copy"),
        "cache": lambda: mem.cache("c", ttl=60, buckets=1).get("q"),
        "fact": lambda: alice.facts.get("alice", "likes"),
        "about": lambda: alice.facts.about("alice"),
    }


def test_a_wrong_key_gets_decryption_errors_naming_the_key_id(url: str) -> None:
    with Memory(url, encryption_key=KEY) as mem:
        write_everything(mem)
    with Memory(url, encryption_key=OTHER) as wrong:
        for name, read in reads(wrong).items():
            with pytest.raises(DecryptionError) as info:
                read()
            assert info.value.key_id == KID, name
            assert KID in str(info.value), name
    with Memory(url, encryption_key=KEY) as mem:  # the failed reads changed nothing
        assert mem.user("alice").get("k") == {"v": 1}
        assert [m.content for m in mem.user("alice").history("chat").messages()] == ["hello"]
        assert mem.user("alice").history("copy").count() == 0
        assert mem.cache("c", ttl=60, buckets=1).get("q") == "cached"


def test_an_old_and_a_new_key_both_open(url: str) -> None:
    with Memory(url, encryption_key=Keyring({"2025": KEY}, primary="2025")) as old:
        old.user("alice").set("old", "sealed under 2025")
        old.user("alice").history("chat").append(Message.user("old turn"))
    ring = Keyring({"2025": KEY, "2026": OTHER}, primary="2026", names="2025")
    with Memory(url, encryption_key=ring) as mem:
        alice = mem.user("alice")
        alice.set("new", "sealed under 2026")
        alice.history("chat").append(Message.user("new turn"))
        assert alice.get_many(["old", "new"]) == {
            "old": "sealed under 2025",
            "new": "sealed under 2026",
        }
        assert [m.content for m in alice.history("chat").messages()] == ["old turn", "new turn"]
        stored = mem.client.hgetall(scope_hash("user", "alice"))
        assert key_id_of(stored[b"d:old"]) == "2025" and key_id_of(stored[b"d:new"]) == "2026"
        entries = mem.client.lrange(thread_list("user", "alice", "chat"), 0, -1)
        assert [key_id_of(sealed_of_entry(e)[1]) for e in entries] == ["2025", "2026"]
        # a rewrite seals under the primary
        alice.update("old", lambda v: v + "!")
        assert key_id_of(mem.client.hget(scope_hash("user", "alice"), "d:old")) == "2026"
        # a fork seals every turn under the primary
        alice.history("chat").fork("copy")
        entries = mem.client.lrange(thread_list("user", "alice", "copy"), 0, -1)
        assert [key_id_of(sealed_of_entry(e)[1]) for e in entries] == ["2026", "2026"]
    with Memory(url, encryption_key=Keyring({"2026": OTHER}, primary="2026")) as new_only:
        alice = new_only.user("alice")
        assert alice.get("new") == "sealed under 2026" and alice.get("old") == "sealed under 2025!"
        with pytest.raises(DecryptionError, match="'2025'") as info:
            alice.history("chat").messages()
        assert info.value.key_id == "2025"


def test_a_memory_without_a_key_cannot_read_encrypted_data(url: str) -> None:
    with Memory(url, encryption_key=KEY) as mem:
        write_everything(mem)
    with Memory(url) as plain:
        for name, read in reads(plain).items():
            with pytest.raises(DecryptionError) as info:
                read()
            assert "encrypted" in str(info.value), name
        with pytest.raises(DecryptionError) as info:
            plain.user("alice").get("k")
        assert info.value.key_id == KID and info.value.key == "k"
        assert info.value.scope == "user:alice"
        # what is not a value still works: names, counts, ttl
        assert plain.user("alice").keys() == ["k"] and plain.user("alice").exists("k")
        assert plain.user("alice").history("chat").count() == 1


def test_a_memory_without_a_key_cannot_fork_encrypted_turns(url: str) -> None:
    # a fork copies turns on the server; encrypted ones are bound to their thread, so copies
    # could never be read, by any key: a Memory without the key is refused (as its reads
    # are) and writes nothing
    with Memory(url, encryption_key=KEY) as mem:
        mem.user("alice").history("chat").append(Message.user("hello"))
    with Memory(url) as plain:
        with pytest.raises(DecryptionError):
            plain.user("alice").history("chat").fork("copy")
    with Memory(url, encryption_key=KEY) as mem:
        assert mem.user("alice").history("copy").count() == 0  # nothing unreadable written


def test_a_memory_with_a_key_refuses_unencrypted_values(url: str) -> None:
    with Memory(url) as plain:
        write_everything(plain)
        plain.user("alice").set_many({"s": "plain", "i": 7, "f": 2.5, "b": False})
    with Memory(url, encryption_key=KEY) as mem:
        for name, read in reads(mem).items():
            with pytest.raises(DecryptionError, match="not encrypted") as info:
                read()
            assert info.value.key_id is None, name
        alice = mem.user("alice")
        with pytest.raises(DecryptionError):
            alice.get("s")
        with pytest.raises(DecryptionError):
            alice.get("b")
        # numbers as the server stores them stay readable (counters cannot be encrypted)
        assert alice.get_many(["i", "f"]) == {"i": 7, "f": 2.5}
        # a write seals the value, which then opens
        alice.set("s", "now sealed")
        assert alice.get("s") == "now sealed"


def test_numbers_from_incr_stay_plain_and_sealed_values_are_not_numbers(enc: Memory) -> None:
    alice = enc.user("alice")
    assert alice.incr("n") == 1 and alice.incr("n", 41) == 42 and alice.incr("x", 0.5) == 0.5
    stored = enc.client.hgetall(scope_hash("user", "alice"))
    assert stored[b"d:n"] == b"42" and stored[b"m:n"][:1] == b"i"
    assert stored[b"m:x"][:1] == b"f"
    assert alice.get("n") == 42 and alice.get_many(["n", "x"]) == {"n": 42, "x": 0.5}
    with Memory(enc.client) as plain:  # readable with no key too
        assert plain.user("alice").get("n") == 42
    alice.set("sealed", 5)  # a number set (not incr'd) is sealed like any value
    assert alice.get("sealed") == 5
    for key in ("sealed", "doc"):
        alice.set(key, 5 if key == "sealed" else {"a": 1})
        with pytest.raises(WrongTypeError):
            alice.incr(key)
        assert alice.get(key) == (5 if key == "sealed" else {"a": 1})  # left as it was
    assert alice.update("n", lambda n: n + 1) == 43  # a counter updated is sealed from then on
    assert enc.client.hget(scope_hash("user", "alice"), "m:n")[:1] == b"s"
    with pytest.raises(WrongTypeError):
        alice.incr("n")


def test_the_tenant_and_scope_are_in_the_error(url: str) -> None:
    with Memory(url, encryption_key=KEY, tenant="acme") as mem:
        mem.session("s1").set("k", 1)
        r = mem.client
        key = scope_hash("session", "s1", "acme")
        r.hset(key, "d:k2", r.hget(key, "d:k"))
        r.hset(key, "m:k2", r.hget(key, "m:k"))
        r.zadd(key[:-1] + "x", {"k2": r.zscore(key[:-1] + "x", "k")})
        with pytest.raises(DecryptionError) as info:
            mem.session("s1").get("k2")
        assert (info.value.key, info.value.scope) == ("k2", "session:s1")


# ------------------------------------------------------------------ asyncio


def test_async_round_trips_and_reads_what_sync_wrote(url: str) -> None:
    async def main() -> None:
        async with AsyncMemory(url, encryption_key=KEY) as mem:
            alice = mem.user("alice")
            for i, value in enumerate(VALUES):
                await alice.set(f"v{i}", value)
            got = await alice.get_many([f"v{i}" for i in range(len(VALUES))])
            assert all(same(got[f"v{i}"], v) for i, v in enumerate(VALUES))
            assert await alice.update("n", lambda v: v + 1, default=0) == 1
            ctx = mem.context(user="alice", session="s")
            await ctx.set("c", {"ctx": True})
            found = await ctx.resolve("c")
            assert found is not None and found.value == {"ctx": True}
            chat = alice.history("chat")
            await chat.extend([Message.user(f"turn {i}") for i in range(4)])
            copy = await chat.fork("copy", upto=3)
            assert [m.content for m in await copy.messages(last=2)] == ["turn 1", "turn 2"]
            await chat.compact(lambda turns: "sum", keep_last=1)
            assert [m.content for m in await chat.messages()] == ["sum", "turn 3"]
            cache = mem.cache("c", ttl=60, buckets=1)
            assert await cache.get_or_compute("q", lambda: {"a": 1}) == {"a": 1}
            assert await cache.get("q") == {"a": 1}

            @mem.cached(ttl=60)
            async def twice(x: int) -> int:
                return x * 2

            assert await twice(21) == 42 and await twice(21) == 42
            facts = alice.facts
            await facts.add("alice", "likes", "tea")
            assert await facts.get("alice", "likes") == "tea"
            assert await facts.find("likes", "tea") == ["alice"]
            assert await facts.about("alice") == {"likes": "tea"}
        async with AsyncMemory(url, encryption_key=OTHER) as wrong:
            with pytest.raises(DecryptionError) as info:
                await wrong.user("alice").get("v0")
            assert info.value.key_id == KID
            with pytest.raises(DecryptionError):
                await wrong.user("alice").history("chat").messages()
        async with AsyncMemory(url) as plain:
            with pytest.raises(DecryptionError):
                await plain.user("alice").get("v0")

    asyncio.run(main())
    # the sync twin reads what the async one sealed, and the reverse
    with Memory(url, encryption_key=KEY) as mem:
        assert mem.user("alice").get("n") == 1
        assert [m.content for m in mem.user("alice").history("copy").messages()] == [
            "turn 0",
            "turn 1",
            "turn 2",
        ]
        assert mem.user("alice").facts.get("alice", "likes") == "tea"
        mem.user("bob").set("from sync", [1, 2])

    async def back() -> Any:
        async with AsyncMemory(url, encryption_key=KEY) as mem:
            return await mem.user("bob").get("from sync")

    assert asyncio.run(back()) == [1, 2]


def test_async_events_with_values_are_opened(url: str) -> None:
    async def main() -> list[Any]:
        async with AsyncMemory(url, encryption_key=KEY, events="values") as mem:
            await mem.user("alice").set("k", {"secret": 1})
            await mem.user("alice").history("chat").append(Message.user("hi"))
            return [e.value for e in await mem.user("alice").changes(values=True)]

    got = asyncio.run(main())
    assert got[0] == {"secret": 1} and isinstance(got[1], Message) and got[1].content == "hi"


def test_turns_remembered_opened_never_serve_a_moved_or_altered_turn(url: str) -> None:
    with Memory(url, encryption_key=KEY) as mem:
        chat = mem.user("alice").history("chat")
        chat.extend([Message.user(f"turn {i}") for i in range(5)])
        assert len(chat.messages()) == 5  # opened once: now remembered
        assert mem._cfg.crypto is not None and mem._cfg.crypto.opened.rows
        entries = mem.client.lrange(thread_list("user", "alice", "chat"), 0, -1)
        # the very bytes, read by this process at another thread (or tampered): not served
        mem.client.rpush(thread_list("user", "alice", "other"), *entries)
        with pytest.raises(DecryptionError):
            mem.user("alice").history("other").messages()
        flipped = entries[0][:-1] + bytes([entries[0][-1] ^ 1])
        mem.client.lset(thread_list("user", "alice", "chat"), 0, flipped)
        with pytest.raises(DecryptionError):
            chat.messages()
        assert [m.content for m in chat.messages(last=4)] == [f"turn {i}" for i in range(1, 5)]


def test_the_memory_of_opened_turns_is_bounded() -> None:
    from pyredmem._crypto import _OPENED_BYTES, _OPENED_ROWS, Opened

    opened = Opened()
    for i in range(_OPENED_ROWS * 2):
        opened.keep(b"t", str(i).encode(), (0, 0, "m", b"x"))
    assert len(opened.rows) <= _OPENED_ROWS
    big = b"x" * (_OPENED_BYTES // 3)
    for i in range(10):
        opened.keep(b"t", big + bytes([i]), (0, 0, "m", big))
    assert len(opened.rows) <= 2
