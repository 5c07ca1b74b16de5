"""History: numbers out of range, bytes per call and per thread, and values the codec could
not read back are refused before anything is written, on every engine."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from pyredmem import InvalidValueError, Memory, Message, ScopeRef, SerializationError
from pyredmem._config import MAX_CALL_BYTES, Config
from pyredmem._ops import history as ops

BAD_TTLS = [1e13, 1e16, 10**16, float("inf"), float("nan"), -1, 0, True, "60", [60]]


def _state(mem: Memory) -> tuple[list[Any], int, int]:
    """What user "u" holds: thread "t"'s turns, its length and the scope's thread count."""
    h = mem.user("u").history("t")
    return [m.id for m in h.messages()], len(h), mem.user("u").thread_count()


@pytest.mark.parametrize("ttl", BAD_TTLS, ids=repr)
def test_a_ttl_out_of_range_is_refused_before_anything_is_written(mem: Memory, ttl: Any) -> None:
    with pytest.raises(InvalidValueError):
        mem.user("u").history("t", ttl=ttl).append(Message.user("a"))
    assert _state(mem) == ([], 0, 0)


THREAD_OPTIONS: list[dict[str, Any]] = [
    {"max_turns": 100_001},
    {"max_turns": 10**16},
    {"max_turns": 1e3},
    {"max_turns": True},
    {"max_turns": 0},
    {"max_tokens": 2**53},
    {"max_tokens": 10**30},
    {"max_tokens": 100.0},
    {"max_tokens": -5},
    {"max_tokens": False},
]


@pytest.mark.parametrize("options", THREAD_OPTIONS, ids=repr)
def test_caps_out_of_range_are_refused(mem: Memory, options: dict[str, Any]) -> None:
    with pytest.raises(InvalidValueError):
        mem.user("u").history("t", **options).append(Message.user("a"))
    assert _state(mem) == ([], 0, 0)


CALLS: dict[str, Callable[[Any], Any]] = {
    "last huge": lambda h: h.messages(last=10**16),
    "last float": lambda h: h.messages(last=2.0),
    "last bool": lambda h: h.messages(last=True),
    "last 0": lambda h: h.messages(last=0),
    "budget huge": lambda h: h.messages(max_tokens=2**60),
    "budget nan": lambda h: h.messages(max_tokens=float("nan")),
    "keep_last huge": lambda h: h.compact(lambda ms: "s", keep_last=10**16),
    "keep_last negative": lambda h: h.compact(lambda ms: "s", keep_last=-1),
    "keep_last inf": lambda h: h.compact(lambda ms: "s", keep_last=float("inf")),
    "retries huge": lambda h: h.compact(lambda ms: "s", keep_last=1, retries=10**9),
    "upto huge": lambda h: h.fork("f", upto=10**16),
    "upto bool": lambda h: h.fork("f", upto=True),
    "tokens huge": lambda h: h.append(Message.user("x", tokens=10**16)),
    "tokens float": lambda h: h.append(Message.user("x", tokens=1e3)),
    "created_at huge": lambda h: h.append(Message.user("x", created_at=1e16)),
    "created_at nan": lambda h: h.append(Message.user("x", created_at=float("nan"))),
    "created_at beyond floats": lambda h: h.append(Message.user("x", created_at=10**400)),
    "created_at bool": lambda h: h.append(Message.user("x", created_at=True)),
    "created_at text": lambda h: h.append(Message.user("x", created_at="now")),
}

SCOPE_CALLS: dict[str, Callable[[Any], Any]] = {
    "offset huge": lambda s: s.threads(offset=2**40),
    "offset negative": lambda s: s.threads(offset=-1),
    "offset float": lambda s: s.threads(offset=1.0),
    "limit huge": lambda s: s.threads(limit=10**16),
    "limit 0": lambda s: s.threads(limit=0),
    "limit bool": lambda s: s.threads(limit=True),
}


@pytest.mark.parametrize("name", CALLS)
def test_arguments_out_of_range_are_refused_and_change_nothing(mem: Memory, name: str) -> None:
    h = mem.user("u").history("t", ttl=60)
    h.extend([Message.user("a", id="a"), Message.user("b", id="b")])
    with pytest.raises(InvalidValueError):
        CALLS[name](h)
    assert _state(mem) == (["a", "b"], 2, 1)
    assert mem.user("u").history("f").messages() == []


def test_a_token_count_out_of_range_is_refused(mem: Memory) -> None:
    h = mem.user("u").history("t", counter=lambda m: 2**60)
    with pytest.raises(InvalidValueError):
        h.append(Message.user("a"))
    assert _state(mem) == ([], 0, 0)


@pytest.mark.parametrize("name", SCOPE_CALLS)
def test_listing_arguments_out_of_range_are_refused(mem: Memory, name: str) -> None:
    mem.user("u").history("t").append(Message.user("a"))
    with pytest.raises(InvalidValueError):
        SCOPE_CALLS[name](mem.user("u"))
    assert [t.id for t in mem.user("u").threads(offset=0, limit=1000)] == ["t"]


def _thread() -> ops.Thread:
    return ops.Thread(Config(), ScopeRef.of("user", "u"), "t")


def _size(m: Message) -> int:
    """The bytes thread "t" holds for `m` (the 10 bytes the script writes, then the rest)."""
    t = _thread()
    return ops.STAMP_BYTES + len(ops.entry_tail(t, m, ops.turn_tokens(t, m)))


def _filler(mid: str, size: int) -> Message:
    """A message of id `mid` whose entry is exactly `size` bytes (> 70,000)."""
    base = _size(Message.user("x" * 70_000, id=mid, tokens=1))  # a str32 body either way
    m = Message.user("x" * (70_000 + size - base), id=mid, tokens=1)
    assert _size(m) == size
    return m


def _big(n: int, prefix: str) -> list[Message]:
    return [Message.user("y" * 1_000_000, id=f"{prefix}{i}", tokens=1) for i in range(n)]


def test_an_extend_holds_at_most_max_call_bytes(mem: Memory) -> None:
    h = mem.user("u").history("t")
    first = _big(16, "a")
    rest = MAX_CALL_BYTES - sum(_size(m) for m in first)
    with pytest.raises(InvalidValueError):
        h.extend([*first, _filler("fill", rest + 1)])  # one byte too many: nothing written
    assert _state(mem) == ([], 0, 0)
    h.append(Message.user("before", id="before"))
    with pytest.raises(InvalidValueError):
        h.extend(_big(17, "b"))
    assert _state(mem) == (["before"], 1, 1)
    result = h.extend([*first, _filler("fill", rest)])  # exactly at the cap
    assert len(result.messages) == 17
    # the thread's byte cap dropped "before" to make room: never more than the cap held
    assert result.evicted_count == 1
    assert [m.id for m in h.messages()] == [*(m.id for m in first), "fill"]


def test_a_thread_holds_at_most_max_call_bytes_dropping_the_oldest(mem: Memory) -> None:
    h = mem.user("u").history("t")
    first, second = _big(8, "a"), _big(8, "b")
    h.extend(first)
    h.extend(second)
    rest = MAX_CALL_BYTES - sum(_size(m) for m in first + second)
    assert h.append(_filler("fill", rest)).evicted_count == 0  # exactly at the cap
    assert len(h) == 17
    r = h.append(Message.user("one more", id="last"), return_evicted=True)
    assert [m.id for m in r.evicted] == ["a0"]  # the oldest turn made room
    got = h.messages()
    assert [m.id for m in got] == [m.id for m in first[1:] + second] + ["fill", "last"]
    slack = MAX_CALL_BYTES - sum(_size(m) for m in got)
    assert h.append(_filler("fill2", slack)).evicted_count == 0  # at the cap again
    # a compaction may not pass the cap either (nothing written then), and a fork copies
    with pytest.raises(InvalidValueError):
        h.compact(lambda ms: "z" * 1_048_000, keep_last=17)
    assert len(h) == 18 and h.messages()[0].id == "a1"
    assert len(h.fork("copy")) == 18


def test_a_message_the_codec_could_not_read_back_is_refused(mem: Memory) -> None:
    h = mem.user("u").history("t", ttl=60)
    h.append(Message.user("a", id="a"))
    bad = Message.user("b", id="b", metadata={("a", "b"): 1})
    with pytest.raises(SerializationError):
        h.append(bad)
    with pytest.raises(SerializationError):
        h.extend([Message.user("c", id="c"), bad])
    with pytest.raises(SerializationError):
        h.append(Message.assistant(None, tool_calls=[{("k",): "v"}]))
    with pytest.raises(SerializationError):
        h.compact(lambda ms: Message.system("s", metadata={(1, 2): 3}), keep_last=0)
    assert _state(mem) == (["a"], 1, 1)
    assert [m.content for m in h.messages()] == ["a"]
