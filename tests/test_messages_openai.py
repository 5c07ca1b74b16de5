"""Messages in the OpenAI chat format: `Message.from_dict`/`to_dict` for every role and
field, and `append`/`extend` of such dicts, stored and read back unchanged on every engine."""

from __future__ import annotations

import asyncio
import copy
from typing import Any

import msgpack
import pytest

from pyredmem import AsyncMemory, InvalidValueError, Memory, Message
from pyredmem._ops.message import OPENAI_FIELDS, ROLES, estimate_tokens
from pyredmem._ops.thread import Thread, decode_entries, entry_tail

CALL = {
    "id": "call_1",
    "type": "function",
    "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'},
}
PARTS = [
    {"type": "text", "text": "what is in this image?"},
    {"type": "image_url", "image_url": {"url": "https://example.com/a.png", "detail": "low"}},
    {"type": "input_audio", "input_audio": {"data": "UklGRg==", "format": "wav"}},
    {"type": "file", "file": {"file_id": "file-1"}},
]

#: one dict per role and field of the OpenAI chat format (request and response messages)
DICTS: list[dict[str, Any]] = [
    {"role": "system", "content": "You are terse."},
    {"role": "system", "content": [{"type": "text", "text": "be terse"}], "name": "policy"},
    {"role": "developer", "content": "Answer in French."},
    {"role": "developer", "content": [{"type": "text", "text": "no emoji"}], "name": "ops"},
    {"role": "user", "content": "hello"},
    {"role": "user", "content": PARTS, "name": "alice"},
    {"role": "assistant", "content": "Bonjour !"},
    {"role": "assistant", "content": None, "tool_calls": [CALL]},
    {"role": "assistant", "content": "checking", "name": "bot", "tool_calls": [CALL, CALL]},
    {"role": "assistant", "content": None, "refusal": "I can't help with that."},
    {
        "role": "assistant",
        "content": [{"type": "text", "text": "a"}, {"type": "refusal", "refusal": "no"}],
    },
    {"role": "assistant", "content": None, "audio": {"id": "audio_abc"}},
    {
        "role": "assistant",
        "content": "See the docs.",
        "annotations": [
            {
                "type": "url_citation",
                "url_citation": {
                    "start_index": 0,
                    "end_index": 3,
                    "title": "Docs",
                    "url": "https://example.com",
                },
            }
        ],
    },
    {
        "role": "assistant",
        "content": None,
        "function_call": {"name": "get_weather", "arguments": "{}"},
    },
    {"role": "tool", "content": '{"temp": 21}', "tool_call_id": "call_1"},
    {"role": "tool", "content": [{"type": "text", "text": "21"}], "tool_call_id": "call_2"},
    {"role": "function", "content": "21", "name": "get_weather"},
    {"role": "function", "content": None, "name": "get_weather"},
]


def test_every_role_is_known() -> None:
    assert set(ROLES) == {"system", "developer", "user", "assistant", "tool", "function"}
    assert {d["role"] for d in DICTS} == set(ROLES)
    assert {k for d in DICTS for k in d} == set(OPENAI_FIELDS)


@pytest.mark.parametrize("d", DICTS, ids=lambda d: f"{d['role']}:{','.join(d)}")
def test_from_dict_to_dict_round_trips(d: dict[str, Any]) -> None:
    before = copy.deepcopy(d)
    m = Message.from_dict(d)
    assert m.to_dict() == d
    assert list(m.to_dict()) == list(d)  # the same key order too
    assert d == before  # the dict given is left alone
    assert Message.from_dict(m.to_dict(), id=m.id) == m


def test_none_fields_count_as_absent() -> None:
    # what an SDK's model_dump() of a response message gives
    dumped = {
        "role": "assistant",
        "content": "hi",
        "refusal": None,
        "annotations": None,
        "audio": None,
        "function_call": None,
        "tool_calls": None,
        "name": None,
    }
    assert Message.from_dict(dumped).to_dict() == {"role": "assistant", "content": "hi"}
    # content may be left out where it may be None
    m = Message.from_dict({"role": "assistant", "tool_calls": [CALL]})
    assert m.to_dict() == {"role": "assistant", "content": None, "tool_calls": [CALL]}


def test_from_dict_sets_pyredmem_fields_by_keyword() -> None:
    m = Message.from_dict({"role": "user", "content": "hi"}, id="m1", metadata={"a": 1}, tokens=3)
    assert (m.id, m.metadata, m.tokens) == ("m1", {"a": 1}, 3)
    with pytest.raises(InvalidValueError, match="tokens"):
        Message.from_dict({"role": "user", "content": "hi"}, tokens=-1)


BAD: list[tuple[Any, str]] = [
    ("user: hi", "dict"),
    (["user", "hi"], "dict"),
    ({"content": "hi"}, "role"),
    ({"role": "robot", "content": "hi"}, "role"),
    ({"role": 1, "content": "hi"}, "role"),
    ({"role": "user"}, "content"),
    ({"role": "user", "content": None}, "content"),
    ({"role": "user", "content": 5}, "content"),
    ({"role": "user", "content": "hi", "id": "m1"}, "'id'"),
    ({"role": "user", "content": "hi", "metadata": {}}, "'metadata'"),
    ({"role": "user", "content": "hi", "tool_choice": "auto"}, "'tool_choice'"),
    ({"role": "user", "content": "hi", "name": 3}, "name"),
    ({"role": "tool", "content": "x", "tool_call_id": 7}, "tool_call_id"),
    ({"role": "assistant", "content": None, "tool_calls": "call_1"}, "tool_calls"),
    ({"role": "assistant", "content": None, "tool_calls": ["call_1"]}, "tool_calls"),
    ({"role": "assistant", "content": None, "tool_calls": []}, "content"),
    ({"role": "assistant", "content": None, "refusal": 1}, "refusal"),
    ({"role": "assistant", "content": None, "audio": "audio_abc"}, "audio"),
    ({"role": "assistant", "content": None, "audio": {"data": "x"}}, "audio"),
    ({"role": "assistant", "content": None, "function_call": {"name": "f"}}, "function_call"),
    ({"role": "assistant", "content": "x", "function_call": "f"}, "function_call"),
    ({"role": "assistant", "content": "x", "annotations": {"type": "x"}}, "annotations"),
]


@pytest.mark.parametrize("d,field", BAD, ids=[f for _, f in BAD])
def test_bad_dicts_name_the_field(d: Any, field: str) -> None:
    with pytest.raises(InvalidValueError, match=field):
        Message.from_dict(d)


def test_new_fields_count_as_tokens() -> None:
    short = Message.assistant(None, refusal="no")
    long = Message.assistant(None, refusal="no " * 100)
    assert estimate_tokens(long) > estimate_tokens(short)
    fc = Message.assistant(None, function_call={"name": "f", "arguments": "x" * 400})
    assert estimate_tokens(fc) > 100


# --- stored form -------------------------------------------------------------------------


def _thread() -> Thread:
    with Memory() as mem:
        h = mem.user("u").history("t")
    return h._t


def _entry(t: Thread, m: Message) -> bytes:
    return b"\x94\xcf" + (1_700_000_000_000).to_bytes(8, "big") + entry_tail(t, m, 1)


def test_a_plain_turn_stays_role_and_content() -> None:
    t = _thread()
    entry = _entry(t, Message.user("hi"))
    assert msgpack.unpackb(entry)[3] == ["user", "hi"]


def test_the_rare_fields_are_one_slot_at_the_end() -> None:
    t = _thread()
    m = Message.from_dict({"role": "assistant", "content": None, "refusal": "no"})
    assert msgpack.unpackb(_entry(t, m))[3] == [
        "assistant",
        None,
        None,
        None,
        None,
        None,
        {"refusal": "no"},
    ]
    fn = Message.from_dict({"role": "function", "content": None, "name": "f"})
    assert msgpack.unpackb(_entry(t, fn))[3] == ["function", None, "f"]


def test_turns_stored_before_the_extra_slot_still_read() -> None:
    t = _thread()
    old_bodies = [
        ["user", "hi"],
        ["assistant", None, None, None, None, [CALL]],
        ["tool", "42", None, {"k": 1}, "call_1"],
        ["function", "ok", "f"],
    ]
    entries = []
    for i, body in enumerate(old_bodies):
        mid = f"m{i}".encode()
        entries.append(
            b"\x94\xcf"
            + (1_700_000_000_000).to_bytes(8, "big")
            + b"\xcf"
            + (5).to_bytes(8, "big")
            + b"\xd9"
            + bytes([len(mid)])
            + mid
            + msgpack.packb(body)
        )
    got = decode_entries(t, entries)
    assert [m.to_dict() for m in got] == [
        {"role": "user", "content": "hi"},
        {"role": "assistant", "content": None, "tool_calls": [CALL]},
        {"role": "tool", "content": "42", "tool_call_id": "call_1"},
        {"role": "function", "content": "ok", "name": "f"},
    ]
    assert got[2].metadata == {"k": 1}
    assert all(m.refusal is None and m.audio is None for m in got)


# --- on every engine ---------------------------------------------------------------------


def test_append_and_extend_take_openai_dicts(mem: Memory) -> None:
    h = mem.user("alice").history("chat")
    first = h.append(DICTS[0])
    assert isinstance(first.messages[0], Message)
    done = h.extend([*DICTS[1:6], Message.user("a Message among dicts"), *DICTS[6:]])
    assert len(done.messages) == len(DICTS)
    got = h.messages()
    assert [m.to_dict() for m in got] == [
        *DICTS[:6],
        {"role": "user", "content": "a Message among dicts"},
        *DICTS[6:],
    ]
    assert [m.id for m in got] == [m.id for m in (*first.messages, *done.messages)]
    # what append returned is what a read gives
    assert [m.to_dict() for m in done.messages] == [m.to_dict() for m in got[1:]]


def test_a_bad_dict_writes_nothing(mem: Memory) -> None:
    h = mem.user("alice").history("chat")
    h.append({"role": "user", "content": "kept"})
    with pytest.raises(InvalidValueError, match="refusal") as info:
        h.extend([{"role": "user", "content": "ok"}, {"role": "assistant", "refusal": 5}])
    assert info.value.key == "chat" and info.value.scope == "user:alice"
    with pytest.raises(InvalidValueError, match="'tool_choice'"):
        h.append({"role": "user", "content": "x", "tool_choice": "auto"})
    with pytest.raises(InvalidValueError, match="Message or an OpenAI-format dict"):
        h.append(("user", "hi"))  # type: ignore[arg-type]
    with pytest.raises(InvalidValueError, match="sequence"):
        h.extend({"role": "user", "content": "hi"})  # type: ignore[arg-type]
    assert [m.content for m in h.messages()] == ["kept"]


def test_dict_turns_survive_forks_and_evictions(mem: Memory) -> None:
    h = mem.user("alice").history("chat", max_turns=3)
    h.extend(DICTS[7:10])
    fork = h.fork("copy")
    assert [m.to_dict() for m in fork.messages()] == DICTS[7:10]
    done = h.append(DICTS[11], return_evicted=True)
    assert [m.to_dict() for m in done.evicted] == [DICTS[7]]
    assert [m.to_dict() for m in h.messages()] == [*DICTS[8:10], DICTS[11]]


def test_async_append_takes_dicts(url: str) -> None:
    async def main() -> list[dict[str, Any]]:
        async with AsyncMemory(url) as mem:
            h = mem.user("bob").history("chat")
            await h.append(DICTS[2])
            await h.extend(DICTS[12:15])
            return [m.to_dict() for m in await h.messages()]

    assert asyncio.run(main()) == [DICTS[2], *DICTS[12:15]]


def test_encrypted_dict_turns_round_trip(url: str) -> None:
    with Memory(url, encryption_key=b"k" * 32) as mem:
        h = mem.user("carol").history("chat")
        h.extend(DICTS)
        assert [m.to_dict() for m in h.messages()] == DICTS
