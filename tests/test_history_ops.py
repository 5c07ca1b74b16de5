"""The history core without a server: validation, token estimates, building calls and
parsing canned replies."""

from __future__ import annotations

import json
from dataclasses import FrozenInstanceError
from typing import Any

import pytest

from pyredmem import (
    InvalidValueError,
    Message,
    MsgpackCodec,
    ScopeRef,
    SerializationError,
    estimate_tokens,
)
from pyredmem._config import Config
from pyredmem._ops import history as ops
from pyredmem._scripts import SCRIPTS, lua_dir


def _thread(**kw: Any) -> ops.Thread:
    return ops.Thread(Config(), ScopeRef.of("user", "alice"), "support", **kw)


def test_keys_share_the_scope_hash_tag() -> None:
    t = _thread()
    assert t.keys == (
        "pm:{:user:alice}:t:support:l",
        "pm:{:user:alice}:t:support:i",
        "pm:{:user:alice}:ta",
        "pm:{:user:alice}:tx",
    )


def test_estimate_tokens() -> None:
    assert estimate_tokens(Message.user("")) == 4
    assert estimate_tokens(Message.user("abcd" * 10)) == 14
    assert estimate_tokens(Message.user("abcde", name="bob")) == 4 + 2
    parts = [{"type": "text", "text": "abcd"}, {"type": "image_url", "image_url": {}}]
    assert estimate_tokens(Message.user(parts)) == 4 + 1 + 85


def test_message_factories_and_openai_format() -> None:
    m = Message.tool("42", tool_call_id="c1")
    assert m.to_dict() == {"role": "tool", "content": "42", "tool_call_id": "c1"}
    assert Message.system("s").to_dict() == {"role": "system", "content": "s"}
    a = Message.assistant(None, tool_calls=[{"id": "c1"}], name="bot")
    assert a.to_dict() == {
        "role": "assistant",
        "content": None,
        "name": "bot",
        "tool_calls": [{"id": "c1"}],
    }
    assert Message.user("x").id != Message.user("x").id


@pytest.mark.parametrize(
    "kw",
    [
        {"role": "robot", "content": "x"},
        {"role": "user", "content": None},
        {"role": "user", "content": 3},
        {"role": "user", "content": "x", "tokens": -1},
        {"role": "user", "content": "x", "tokens": 1.5},
        {"role": "user", "content": "x", "id": ""},
        {"role": "user", "content": "x", "id": "é" * 600},
        {"role": "user", "content": "x", "metadata": []},
        {"role": "user", "content": "x", "name": 3},
        {"role": "user", "content": "x", "tokens": 2**53},
        {"role": "user", "content": "x", "tokens": -1},
    ],
)
def test_bad_messages(kw: dict[str, Any]) -> None:
    with pytest.raises(InvalidValueError):
        Message(**kw)


def test_append_call_and_reply() -> None:
    t = _thread(max_turns=3, max_tokens=100, ttl=2.5)
    a, b = Message.user("hello", id="a"), Message.assistant("hi", id="b", tokens=9)
    call = ops.history_append(t, [a, b], return_evicted=True)
    assert call.script.name == "history_append"
    assert call.args[:7] == ("support", 3, 100, 2500, "1", 10_000, 16 * 1024 * 1024)
    assert call.args[7:10] == (0, 0, 0)  # no read
    assert call.args[10:12] == ("a", 6) and call.args[13:15] == ("b", 9)
    assert call.args[12] == _tail(6, "a", ["user", "hello"])
    old = _entry(1_699_999_999_000, 3, "z", ["user", "old"])
    result = call.parse([1_700_000_000_123, b"10", 1, old])
    assert [m.id for m in result.messages] == ["a"] and result.skipped == ("b",)
    assert result.messages[0].created_at == 1_700_000_000.123
    assert result.messages[0].tokens == 6
    (old,) = result.evicted
    assert (old.id, old.content, old.tokens, old.created_at) == ("z", "old", 3, 1_699_999_999)
    assert result.context == ()


@pytest.mark.parametrize("codec", [MsgpackCodec(), "json"])
@pytest.mark.parametrize("return_evicted", [True, False])
def test_append_with_a_read_call_and_reply(codec: Any, return_evicted: bool) -> None:
    codec = _JsonCodec() if codec == "json" else codec
    t = ops.Thread(Config(codec=codec), ScopeRef.of("user", "alice"), "support", max_turns=3)
    a = Message.user("hello", id="a")
    call = ops.history_append(t, [a], return_evicted, read_last=3, read_max_tokens=10)
    # a read of at most 32 turns comes whole: the client applies the budget
    assert call.args[7:10] == (1, 3, 0)
    assert call.args[10] == "a"
    assert ops.history_append(t, [a], False, read_max_tokens=9).args[7:10] == (1, 0, 9)
    longer = ops.history_append(t, [a], False, read_last=33, read_max_tokens=9)
    assert longer.args[7:10] == (1, 33, 9)
    old = _entry(1000, 3, "z", ["user", "old"], codec)
    read = [
        _entry(1500, 1, "x", ["user", "over"], codec),
        _entry(2000, 4, "y", ["assistant", "yes"], codec),
        _entry(3000, 6, "a", ["user", "hello"], codec),
    ]
    result = call.parse([3000, b"1", 1, *([old] if return_evicted else []), *read])
    assert result.evicted_count == 1
    assert [m.id for m in result.evicted] == (["z"] if return_evicted else [])
    assert [(m.id, m.content, m.tokens) for m in result.context] == [
        ("y", "yes", 4),
        ("a", "hello", 6),
    ]
    assert call.parse([3000, b"1", 0]).context == ()


@pytest.mark.parametrize(
    "kw",
    [
        {"read_last": 0},
        {"read_last": 100_001},
        {"read_last": True},
        {"read_last": 2.0},
        {"read_max_tokens": 0},
        {"read_max_tokens": 2**53},
        {"read_max_tokens": "9"},
        {"read_last": 5, "read_max_tokens": -1},
    ],
)
def test_append_refuses_a_bad_read(kw: dict[str, Any]) -> None:
    with pytest.raises(InvalidValueError, match="read_"):
        ops.history_append(_thread(), [Message.user("x")], False, **kw)


def _tail(tokens: int, mid: str, doc: list[Any], codec: Any = None) -> bytes:
    """What the client sends of a turn entry: 0xcf <tokens>, the id as a msgpack str, the
    body."""
    raw = mid.encode()
    head = b"\xd9" + bytes([len(raw)]) if len(raw) < 256 else b"\xda" + len(raw).to_bytes(2, "big")
    body = (codec or MsgpackCodec()).encode(doc)
    return b"\xcf" + tokens.to_bytes(8, "big") + head + raw + body


def _entry(ms: int, tokens: int, mid: str, doc: list[Any], codec: Any = None) -> bytes:
    """A turn entry as stored: 0x94 0xcf <created ms> (written by the script), then the rest."""
    return b"\x94\xcf" + ms.to_bytes(8, "big") + _tail(tokens, mid, doc, codec)


def test_entries_are_msgpack_arrays_with_a_fixed_header() -> None:
    entry = _entry(1000, 7, "a:b", ["user", "x"])
    assert MsgpackCodec().decode(entry) == [1000, 7, "a:b", ["user", "x"]]
    m = Message.user("x", id="a:b", tokens=7)
    assert ops.history_append(_thread(), [m], False).args[12] == entry[10:]


class _JsonCodec:
    def encode(self, value: Any) -> bytes:
        return json.dumps(value).encode()

    def decode(self, data: bytes) -> Any:
        return json.loads(data)


@pytest.mark.parametrize("codec", [MsgpackCodec(), _JsonCodec()])
def test_entries_decode_with_any_codec(codec: Any) -> None:
    t = ops.Thread(Config(codec=codec), ScopeRef.of("user", "alice"), "support")
    long_id = "é" * 200  # 400 bytes: a 2-byte length
    entries = [
        _entry(1000, 7, "a:b:c", ["user", "x:1:2", None, {"k": 1}], codec),
        _entry(1001, 2**40, long_id, ["assistant", "ok", "bot"], codec),
    ]

    def reply(entries: list[bytes], due: int = 0) -> Any:  # the due flag comes last
        return [*entries, due]

    sliding = ops.Thread(Config(codec=codec), ScopeRef.of("user", "alice"), "support", ttl=60)
    (a, b), due = ops.history_messages(sliding, 5, None).parse(reply(entries))
    assert due is False
    assert ops.history_messages(sliding, 5, None).parse(reply(entries, 1))[1] is True
    assert ops.history_messages(t, 5, None).parse(entries) == ([a, b], False)  # LRANGE
    assert a == Message.user("x:1:2", metadata={"k": 1}, id="a:b:c", created_at=1.0, tokens=7)
    assert (b.id, b.tokens, b.name, b.metadata, b.created_at) == (long_id, 2**40, "bot", {}, 1.001)
    assert type(a) is Message and hash(a) == hash("a:b:c")
    with pytest.raises(FrozenInstanceError):
        a.content = "y"  # type: ignore[misc]
    with pytest.raises(SerializationError):
        ops.history_messages(sliding, 5, None).parse(reply([entries[1], entries[0][:-3]]))
    with pytest.raises(SerializationError):
        ops.history_messages(t, 5, None).parse([entries[1], entries[0][:-3]])
    assert ops.history_messages(sliding, 5, None).parse(reply([])) == ([], False)
    assert ops.history_messages(t, 5, None).parse([]) == ([], False)


def test_messages_call_slides_only_when_asked() -> None:
    call = ops.history_messages(_thread(ttl=5), None, 300)
    assert call.args == (0, 300, 5000) and call.readonly and call.command is None
    assert call.keys == ("pm:{:user:alice}:t:support:l",)
    # a budget over at most 32 turns: the client applies it
    assert ops.history_messages(_thread(ttl=5), 20, 300).args == (20, 0, 5000)
    # nothing to slide, no budget for the server: a plain LRANGE
    key = "pm:{:user:alice}:t:support:l"
    plain = ops.history_messages(_thread(ttl=5, sliding=False), None, None)
    assert plain.command == ("LRANGE", key, 0, -1) and plain.readonly
    assert ops.history_messages(_thread(), 20, 300).command == ("LRANGE", key, -20, -1)
    assert ops.history_messages(_thread(), 33, 300).command is None
    assert ops.history_len(_thread()).command == ("LLEN", key)
    assert ops.history_ttl(_thread()).command == ("PTTL", key)
    assert ops.history_head(_thread(), 2).command == ("LRANGE", key, 0, -3)
    touch = ops.history_touch(_thread(ttl=5))
    assert touch.args == ("support", 5000) and not touch.readonly and touch.parse(1) is True


def test_a_budget_the_client_applies_keeps_the_newest_turns_within_it() -> None:
    t = _thread()
    entries = [_entry(1000 + i, n, f"m{i}", ["user", str(i)]) for i, n in enumerate([5, 1, 2, 3])]
    found, _ = ops.history_messages(t, 4, 5).parse(entries)
    assert [m.id for m in found] == ["m2", "m3"]  # 3 + 2; with m1 it would be 6
    assert ops.history_messages(t, 4, 2).parse(entries)[0] == []
    assert len(ops.history_messages(t, 4, 11).parse(entries)[0]) == 4


def test_threads_reply() -> None:
    s = ops.Target(Config(), ScopeRef.of("user", "alice"))
    call = ops.history_threads(s, 0, 10)
    assert call.keys == ("pm:{:user:alice}:ta", "pm:{:user:alice}:tx")
    got = call.parse([b"t1", b"2000", b"4503599627370496", b"t2", b"1000", b"61000"])
    assert got == [ops.ThreadInfo("t1", 2.0, None), ops.ThreadInfo("t2", 1.0, 61.0)]


def test_summary_message() -> None:
    t = _thread()
    s = ops.summary_message(t, "short")
    assert s.role == "system" and s.metadata == {"summary": True}
    with pytest.raises(InvalidValueError):
        ops.summary_message(t, 3)
    m = Message.user("x")
    call = ops.history_compact(t, [m], Message.system("s", tokens=2))
    assert call.args[-1] == m.id and call.parse([0, 0]) is None


def test_every_history_script_has_its_operation_and_a_header() -> None:
    files = {p.stem for p in lua_dir().glob("history_*.lua")}
    assert files == {name for name in SCRIPTS if name.startswith("history_")}
    assert files == {name for name in ops.__all__ if name.startswith("history_")}
    for name in files:
        header = (lua_dir() / f"{name}.lua").read_text().splitlines()
        assert header[0].startswith(f"-- {name}:"), name
        assert any(line.startswith("-- KEYS[1]") for line in header), name
        assert any("Cost:" in line for line in header), name
