"""Change events as the write scripts log them: each write logs exactly what it changed, in
order, in the change log of its scope (or cache bucket), in the same call; nothing when it
changed nothing or was refused; nothing at all with events off. The log is capped and
expires; `changes()` replays it. On every engine."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Iterator
from typing import Any

import pytest

from pyredmem import (
    CapacityError,
    ConfigurationError,
    ConflictError,
    InvalidValueError,
    Memory,
    Message,
    Scope,
    WrongTypeError,
)
from pyredmem._keys import ScopeRef
from pyredmem._ops import scope as scope_ops
from pyredmem._ops.events import (
    NOT_LOGGED,
    Event,
    decode_entries_of,
    log_key,
    parse_log_key,
)


@pytest.fixture
def ev(url: str) -> Iterator[Memory]:
    """A Memory that logs events with their values."""
    with Memory(url, events="values") as m:
        yield m


def _log(mem: Memory, kind: str, ident: str | None = None) -> str:
    return log_key(mem._cfg.keyspace.prefix(ScopeRef.of(kind, ident)))


def _ops(events: list[Event]) -> list[tuple[str, str, str | None]]:
    return [(e.op, e.target, e.key) for e in events]


def _version(mem: Memory, s: Scope, key: str) -> str:
    meta = mem.client.hget(s._t.keys[0], f"m:{key}")
    return bytes(meta[17:]).decode()


def _cache_events(mem: Memory, prefix: str, *, values: bool = True) -> list[Event]:
    key = f"{prefix}ev"
    name = parse_log_key(mem._cfg.keyspace, key)
    assert name is not None
    return decode_entries_of(mem._cfg, name, mem.client.xrange(key), values=values)


def _logs(mem: Memory) -> list[bytes]:
    return sorted(mem.client.scan_iter(match="*:ev"))


# ---------------------------------------------------------------------------- values


def test_each_value_write_logs_its_event_with_version_and_value(ev: Memory) -> None:
    s = ev.user("alice")
    s.set("a", 1)
    v_a1 = _version(ev, s, "a")
    s.set("b", {"x": 1})
    v_b1 = _version(ev, s, "b")
    s.set("a", "one")  # an overwrite is a set too
    v_a2 = _version(ev, s, "a")
    assert s.incr("n", 5) == 5
    v_n = _version(ev, s, "n")
    s.update("b", lambda v: {**v, "y": 2})
    v_b = _version(ev, s, "b")
    assert s.delete("a") is True
    assert s.set_many({"c": 1.5, "d": [1, 2]}) == 2
    v_c, v_d = _version(ev, s, "c"), _version(ev, s, "d")

    got = s.changes(values=True)
    assert _ops(got) == [
        ("set", "value", "a"),
        ("set", "value", "b"),
        ("set", "value", "a"),
        ("incr", "value", "n"),
        ("update", "value", "b"),
        ("delete", "value", "a"),
        ("set", "value", "c"),
        ("set", "value", "d"),
    ]
    assert [e.version for e in got] == [v_a1, v_b1, v_a2, v_n, v_b, None, v_c, v_d]
    assert [e.value for e in got] == [
        1,
        {"x": 1},
        "one",
        5,
        {"x": 1, "y": 2},
        NOT_LOGGED,
        1.5,
        [1, 2],
    ]
    assert all(e.kind == "user" and e.scope == "alice" for e in got)
    assert all(e.message_id is None and e.source is None for e in got)
    ids = [e.id for e in got]
    assert len(set(ids)) == len(ids) and [e.position for e in got] == sorted(
        e.position for e in got
    )


def test_the_entry_format_is_flat_and_in_order(ev: Memory) -> None:
    s = ev.user("alice")
    s.set("k", 7)
    s.delete("k")
    s.set("j", 1)
    s.clear()
    entries = ev.client.xrange(_log(ev, "user", "alice"))
    v0, v2 = entries[0][1][b"v"], entries[2][1][b"v"]
    assert v0.isdigit() and v2.isdigit() and int(v2) > int(v0)
    assert [list(fields.items()) for _, fields in entries] == [
        [(b"o", b"set"), (b"w", b"v"), (b"k", b"k"), (b"v", v0), (b"y", b"i"), (b"p", b"7")],
        [(b"o", b"delete"), (b"w", b"v"), (b"k", b"k")],
        [(b"o", b"set"), (b"w", b"v"), (b"k", b"j"), (b"v", v2), (b"y", b"i"), (b"p", b"1")],
        [(b"o", b"clear"), (b"w", b"s")],
    ]


def test_clear_is_one_event_for_the_whole_scope(ev: Memory) -> None:
    s = ev.session("s1")
    s.set_many({"a": 1, "b": 2, "c": 3})
    assert s.clear() == 3
    assert s.clear() == 0  # nothing left: nothing logged
    got = s.changes()
    assert _ops(got) == [("set", "value", k) for k in "abc"] + [("clear", "scope", None)]


def test_writes_that_change_nothing_log_nothing(ev: Memory) -> None:
    s = ev.user("alice")
    s.set("a", 1)
    assert s.delete("absent") is False
    # a compare-and-set that lost: the version moved on
    lost = ev._runner.run(scope_ops.scope_cas(s._t, "a", "1", 2, None))
    assert lost.stored is False
    assert _ops(s.changes()) == [("set", "value", "a")]


def test_refused_writes_log_nothing(url: str) -> None:
    with Memory(url, events=True, max_keys_per_scope=2) as mem:
        s = mem.user("alice")
        s.set_many({"a": 1, "b": "text"})
        with pytest.raises(CapacityError):
            s.set("c", 1)  # PM_FULL
        with pytest.raises(CapacityError):
            s.set_many({"c": 1, "d": 2})
        with pytest.raises(CapacityError):
            s.incr("c")
        with pytest.raises(WrongTypeError):
            s.incr("b")  # PM_WRONGTYPE
        with pytest.raises(InvalidValueError):
            s.set("a", 1, ttl=-1)  # refused before anything is sent
        assert _ops(s.changes()) == [("set", "value", "a"), ("set", "value", "b")]
        assert [e.value for e in s.changes(values=True)] == [NOT_LOGGED, NOT_LOGGED]


# ---------------------------------------------------------------------------- threads


def test_each_thread_write_logs_its_events(ev: Memory) -> None:
    s = ev.workflow("w1")
    h = s.history("chat", max_turns=2)
    h.append(Message.user("hello", id="m1"))
    h.append(Message.user("hello again", id="m1"))  # the id is there: nothing logged
    assert (
        h.extend([Message.assistant("a", id="m2"), Message.user("b", id="m3")]).evicted_count == 1
    )
    fork = h.fork("copy")
    summary = h.compact(lambda turns: "summary", keep_last=1)
    assert summary is not None
    assert h.clear() == 2
    assert h.clear() == 0  # empty: nothing logged
    assert h.delete() is True
    assert fork.delete() is True
    assert ev.workflow("w1").history("never").delete() is False  # absent: nothing logged

    got = s.changes(values=True)
    assert [(e.op, e.target, e.key, e.message_id, e.source) for e in got] == [
        ("append", "thread", "chat", "m1", None),
        ("append", "thread", "chat", "m2", None),
        ("append", "thread", "chat", "m3", None),
        ("delete", "thread", "chat", "m1", None),  # dropped by max_turns
        ("fork", "thread", "copy", "m3", "chat"),  # the newest turn copied, and the source
        ("compact", "thread", "chat", summary.id, None),
        ("clear", "thread", "chat", None, None),
        ("delete", "thread", "chat", None, None),
        ("delete", "thread", "copy", None, None),
    ]
    appended = [e.value for e in got[:3]]
    assert [(m.id, m.role, m.content) for m in appended] == [
        ("m1", "user", "hello"),
        ("m2", "assistant", "a"),
        ("m3", "user", "b"),
    ]
    assert got[5].value.content == "summary" and got[5].value.id == summary.id
    assert all(e.value is NOT_LOGGED for e in got[3:5] + got[6:])


def test_an_idempotent_re_append_logs_nothing(ev: Memory) -> None:
    h = ev.user("u").history("t")
    batch = [Message.user(f"m{i}", id=f"id{i}") for i in range(3)]
    h.extend(batch)
    before = ev.user("u").changes()
    assert len(before) == 3
    h.extend(batch)  # sent again, as after a lost reply
    h.append(batch[1])
    assert ev.user("u").changes() == before
    h.extend([*batch, Message.user("new", id="id3")])  # only the new one
    assert [e.message_id for e in ev.user("u").changes()[3:]] == ["id3"]


def test_refused_thread_writes_log_nothing(url: str) -> None:
    with Memory(url, events=True, max_keys_per_scope=1) as mem:
        s = mem.user("u")
        s.history("t1").append(Message.user("x", id="a"))
        with pytest.raises(CapacityError):
            s.history("t2").append(Message.user("y", id="b"))  # one thread per scope
        s.history("t1").append(Message.user("z", id="c"))
        with pytest.raises(CapacityError):
            s.history("t1").fork("t3")
        assert [(e.op, e.key, e.message_id) for e in s.changes()] == [
            ("append", "t1", "a"),
            ("append", "t1", "c"),
        ]
    with Memory(url, events=True) as mem:
        s = mem.user("v")
        s.history("src").append(Message.user("x", id="a"))
        s.history("dst").append(Message.user("y", id="b"))
        with pytest.raises(ConflictError):
            s.history("src").fork("dst")  # the new thread holds turns
        assert [e.op for e in s.changes()] == ["append", "append"]


# ---------------------------------------------------------------------------- caches


def test_each_cache_write_logs_its_event(ev: Memory) -> None:
    c = ev.cache("llm", ttl=60, buckets=1)
    prefix = c._t.prefixes[0]
    c.set("k", {"a": 1})
    assert c.get_or_compute("q", lambda: "computed") == "computed"  # a lease, then a fill
    assert c.get_or_compute("q", lambda: "again") == "computed"  # a hit: nothing
    assert c.delete("k") is True
    assert c.delete("k") is False  # absent: nothing
    lease = c.fetch("z").lease
    assert lease is not None
    c.delete("z")  # revokes the lease (no value: nothing logged)
    assert c.fill(lease, "late") is False  # lost its lease: nothing
    assert c.clear() == 1
    assert c.clear() == 0
    got = _cache_events(ev, prefix)
    assert _ops(got) == [
        ("set", "cache", "k"),
        ("fill", "cache", "q"),
        ("invalidate", "cache", "k"),
        ("clear", "scope", None),
    ]
    assert [e.value for e in got] == [{"a": 1}, "computed", NOT_LOGGED, NOT_LOGGED]
    assert all(e.kind == "cache" and e.scope == "llm" for e in got)
    assert [e.version for e in got] == [None] * 4


def test_a_cache_clear_logs_one_clear_per_bucket_that_held_values(ev: Memory) -> None:
    c = ev.cache("multi", ttl=60, buckets=4)
    keys = ["a", "b", "c", "d", "e", "f", "g", "h"]
    for k in keys:
        c.set(k, k)
    buckets = {c._t.entry_keys(k)[0][:-1] for k in keys}  # the prefixes used
    assert c.clear() == len(keys)
    for p in c._t.prefixes:
        ops = [e.op for e in _cache_events(ev, p)]
        sets = sum(1 for k in keys if c._t.entry_keys(k)[0][:-1] == p)
        assert ops == ["set"] * sets + (["clear"] if p in buckets else [])


def test_a_scoped_cache_names_its_scope_in_events(ev: Memory) -> None:
    c = ev.cache("per-user", ttl=60, buckets=1, scope=ev.user("alice"))
    c.set("k", 1)
    got = _cache_events(ev, c._t.prefixes[0])
    assert [(e.kind, e.scope, e.op, e.key) for e in got] == [
        ("cache", "per-user@user:alice", "set", "k")
    ]


def test_a_cache_and_scope_named_with_at_signs_read_back(url: str) -> None:
    """Cache names and scope ids may hold "@": a cache's events name it and its scope
    ("<name>@<scope>"), and its sealed values are opened with that name and scope."""
    key = bytes(range(32))
    with Memory(url, events="values", encryption_key=key) as mem:
        c = mem.cache("team@eu", ttl=60, buckets=1, scope=mem.user("a@b"))
        c.set("k", {"x": 1})
        prefix = c._t.prefixes[0]
        log = parse_log_key(mem._cfg.keyspace, f"{prefix}ev")
        assert log is not None and (log.cache_name, log.cache_scope) == ("team@eu", "user:a@b")
        got = _cache_events(mem, prefix)
    assert [(e.scope, e.key, e.value) for e in got] == [("team@eu@user:a@b", "k", {"x": 1})]


# ---------------------------------------------------------------------------- expiry


def test_a_purge_logs_one_expire_per_expired_key(ev: Memory) -> None:
    s = ev.user("alice")
    s.set("keep", 1)
    s.set("a", 1, ttl=0.05)
    s.set("b", 2, ttl=0.05)
    time.sleep(0.15)
    s.set("c", 3)  # this write purges a and b first
    got = s.changes()
    assert _ops(got)[:3] == [("set", "value", "keep"), ("set", "value", "a"), ("set", "value", "b")]
    assert sorted(_ops(got)[3:5]) == [("expire", "value", "a"), ("expire", "value", "b")]
    assert _ops(got)[5:] == [("set", "value", "c")]
    s.delete("c")  # nothing left to purge: no more expires
    assert _ops(s.changes(since=got[-1].id)) == [("delete", "value", "c")]


def test_a_cache_purge_logs_expire_events(ev: Memory) -> None:
    c = ev.cache("short", ttl=60, buckets=1)
    c.set("keep", 1)
    c.set("x", 1, ttl=0.05)
    time.sleep(0.15)
    c.set("y", 2)
    assert _ops(_cache_events(ev, c._t.prefixes[0])) == [
        ("set", "cache", "keep"),
        ("set", "cache", "x"),
        ("expire", "cache", "x"),
        ("set", "cache", "y"),
    ]


def test_cache_entries_evicted_by_the_cap_log_expire(ev: Memory) -> None:
    c = ev.cache("capped", ttl=60, buckets=1, max_entries=2)
    c.set("a", 1, ttl=10)  # expires first: evicted first
    c.set("b", 2, ttl=20)
    c.set("c", 3, ttl=30)
    assert _ops(_cache_events(ev, c._t.prefixes[0])) == [
        ("set", "cache", "a"),
        ("set", "cache", "b"),
        ("expire", "cache", "a"),
        ("set", "cache", "c"),
    ]


def test_a_lease_that_evicts_logs_expire_and_its_fill(ev: Memory) -> None:
    c = ev.cache("one", ttl=60, buckets=1, max_entries=1)
    c.set("a", 1)
    assert c.get_or_compute("b", lambda: 2) == 2  # the lease on b evicts a
    assert _ops(_cache_events(ev, c._t.prefixes[0])) == [
        ("set", "cache", "a"),
        ("expire", "cache", "a"),
        ("fill", "cache", "b"),
    ]


def test_a_release_that_drops_a_dead_value_logs_expire(ev: Memory) -> None:
    # a stale window wide enough that a loaded machine still fetches within it
    c = ev.cache("stale", ttl=0.2, stale=1.0, buckets=1, lease=30)
    c.set("k", 1)
    time.sleep(0.3)  # stale: served while one caller refreshes it
    found = c.fetch("k")
    assert found.kind == "refresh" and found.lease is not None
    time.sleep(1.0)  # the stale window ended too; the lease keeps the entry
    assert c.release(found.lease) is True
    assert _ops(_cache_events(ev, c._t.prefixes[0])) == [
        ("set", "cache", "k"),
        ("expire", "cache", "k"),
    ]


def test_expired_threads_purged_from_the_index_log_expire(ev: Memory) -> None:
    s = ev.user("alice")
    s.history("keep").append(Message.user("x", id="k"))
    s.history("old", ttl=0.05).append(Message.user("x", id="o"))
    time.sleep(0.15)
    s.history("new").append(Message.user("y", id="n"))  # a new thread purges the index
    assert [(e.op, e.key, e.message_id) for e in s.changes()] == [
        ("append", "keep", "k"),
        ("append", "old", "o"),
        ("expire", "old", None),
        ("append", "new", "n"),
    ]


# ---------------------------------------------------------------------------- the log


def test_events_off_write_no_log(url: str) -> None:
    with Memory(url) as mem:
        s = mem.user("alice")
        s.set("a", 1)
        s.set_many({"b": 2})
        s.incr("n")
        s.update("a", lambda v: v + 1)
        s.delete("b")
        h = s.history("t", max_turns=1)
        h.extend([Message.user("x"), Message.user("y")])
        h.fork("u")
        h.clear()
        c = mem.cache("c", ttl=60, buckets=2)
        c.set("k", 1)
        c.get_or_compute("q", lambda: 2)
        c.delete("k")
        c.clear()
        s.clear()
        assert _logs(mem) == []
        s.set("z", 1)
        assert mem.client.hget(s._t.keys[0], "r") is None  # no re-arm bookkeeping either
        assert s.changes() == []


def test_changes_replay_what_another_memory_logged(url: str) -> None:
    with Memory(url, events=True) as writer, Memory(url) as reader:
        writer.user("alice").set("a", 1)
        assert _ops(reader.user("alice").changes()) == [("set", "value", "a")]
        assert reader.user("bob").changes() == []


def test_the_log_is_trimmed_near_its_cap_and_expires(url: str) -> None:
    with Memory(url, events=True, events_max=100, events_ttl=30) as mem:
        s = mem.user("alice")
        for i in range(600):
            s.set("k", i)
        log = _log(mem, "user", "alice")
        assert 100 <= mem.client.xlen(log) <= 300  # trimmed by whole nodes (MAXLEN ~)
        assert 29_000 < mem.client.pttl(log) <= 30_000
        s.history("t").append(Message.user("x"))
        assert 29_000 < mem.client.pttl(log) <= 30_000
        newest = s.changes(since=s.changes(limit=1000)[-2].id)
        assert _ops(newest) == [("append", "thread", "t")]


def test_the_retention_runs_from_the_last_event(url: str) -> None:
    with Memory(url, events=True, events_ttl=1) as mem:
        s = mem.user("alice")
        log = _log(mem, "user", "alice")
        s.set("a", 1)
        time.sleep(0.3)
        s.set("a", 2)  # re-armed: more than 1% of the retention ran down
        assert 900 < mem.client.pttl(log) <= 1000
        c = mem.cache("c", ttl=60, buckets=1)
        c.set("k", 1)
        assert 900 < mem.client.pttl(f"{c._t.prefixes[0]}ev") <= 1000


def test_a_log_that_vanished_gets_its_expiry_again(url: str) -> None:
    with Memory(url, events=True, events_ttl=60) as mem:
        s = mem.user("alice")
        log = _log(mem, "user", "alice")
        s.set("a", 1)
        mem.client.delete(log)  # as eviction would, while the scope keeps its bookkeeping
        s.set("a", 2)
        assert 59_000 < mem.client.pttl(log) <= 60_000
        assert _ops(s.changes()) == [("set", "value", "a")]


# ---------------------------------------------------------------------------- changes()


def test_changes_since_an_event_returns_exactly_the_later_ones(ev: Memory) -> None:
    s = ev.user("alice")
    for i in range(6):
        s.set(f"k{i}", i)
    got = s.changes()
    assert [e.key for e in got] == [f"k{i}" for i in range(6)]
    assert s.changes(since=got[1].id) == got[2:]
    assert s.changes(since=got[1]) == got[2:]  # an Event works as its id
    assert s.changes(since=got[1].stream_id) == got[2:]
    assert s.changes(since=got[-1].id) == []
    assert s.changes(since=got[1].id, limit=2) == got[2:4]
    assert s.changes(limit=1) == got[:1]
    at = s.changes(since=got[3].when)  # a datetime: from that ms on (inclusive)
    assert at[-3:] == got[3:] and got[3] in at
    assert s.changes(since=got[3].at)[-3:] == got[3:]
    assert s.changes(since=dt.datetime(2100, 1, 1, tzinfo=dt.timezone.utc)) == []
    assert s.changes(since=0) == got


def test_a_batch_logs_each_write_and_replays_in_order(ev: Memory) -> None:
    with ev.batch() as b:
        s = b.user("alice")
        s.set("a", 1)
        s.incr("n", 2)
        s.history("t").append(Message.user("x", id="m1"))
        s.delete("absent")
        replay = s.changes(values=True)  # queued after the writes: sees them
    assert [(e.op, e.key, e.message_id, e.value) for e in replay.value][:2] == [
        ("set", "a", None, 1),
        ("incr", "n", None, 2),
    ]
    assert [(e.op, e.key, e.message_id) for e in replay.value][2:] == [("append", "t", "m1")]
    assert replay.value == ev.user("alice").changes()


@pytest.mark.parametrize("bad", [0, -1, 1001, True, "10", 2.5])
def test_changes_checks_its_limit(ev: Memory, bad: Any) -> None:
    with pytest.raises(InvalidValueError):
        ev.user("alice").changes(limit=bad)


@pytest.mark.parametrize(
    "bad",
    [
        "x",
        "12-ab",
        -5,
        object(),
        float("nan"),
        float("inf"),
        1e30,
        pytest.param(10**400, id="10**400"),
        dt.datetime(1960, 1, 1, tzinfo=dt.timezone.utc),
        f"{2**64}-0",
        f"1-{2**64}",
    ],
)
def test_changes_checks_its_cursor(ev: Memory, bad: Any) -> None:
    """A cursor is an event id whose parts fit a stream id's 64 bits, a datetime or
    seconds since the epoch from 1970 on, finite and within a stream id: anything else is
    an InvalidValueError naming the scope (never a bare ValueError, nor the server's
    error)."""
    s = ev.user("alice")
    s.set("k", 1)
    with pytest.raises(InvalidValueError) as info:
        s.changes(since=bad)
    assert info.value.scope == "user:alice"


def test_changes_takes_every_cursor_in_range(ev: Memory) -> None:
    """The epoch and the last stream id are cursors too: from the oldest, and after the
    last (nothing)."""
    s = ev.user("alice")
    s.set("k", 1)
    assert [e.op for e in s.changes(since=0)] == ["set"]
    assert [e.op for e in s.changes(since=dt.datetime(1970, 1, 1))] == ["set"]
    last = 2**64 - 1
    assert s.changes(since=f"{last}-{last}") == []
    assert s.changes(since=str(last)) == []


def test_another_tenant_sees_no_changes(url: str) -> None:
    with Memory(url, tenant="acme", events=True) as a, Memory(url, tenant="other") as b:
        a.user("alice").set("k", 1)
        a.user("alice").history("t").append(Message.user("x"))
        assert len(a.user("alice").changes()) == 2
        assert b.user("alice").changes() == []
        with Memory(url) as untenanted:
            assert untenanted.user("alice").changes() == []


# ---------------------------------------------------------------------------- options


@pytest.mark.parametrize(
    "options",
    [
        {"events": "yes"},
        {"events": 1},
        {"events_max": 0},
        {"events_max": 1.5},
        {"events_ttl": 0},
        {"events_ttl": -1},
        {"events_ttl": "1d"},
        {"events_ttl": float("inf")},
    ],
)
def test_bad_event_options_are_refused(options: dict[str, Any]) -> None:
    with pytest.raises(ConfigurationError):
        Memory(**options)


def test_event_options_reach_the_config() -> None:
    with Memory(events="values", events_max=50, events_ttl=1.5) as mem:
        assert mem._cfg.events == "values"
        assert mem._cfg.events_max == 50 and mem._cfg.events_ttl_ms == 1500
    with Memory() as mem:
        assert mem._cfg.events is False and mem._cfg.events_ttl_ms == 86_400_000


def test_changes_since_a_made_up_expire_event_id_reads_from_its_time(ev: Memory) -> None:
    s = ev.user("alice")
    s.set("a", 1)
    first = s.changes()[0]
    ms = first.id.partition("-")[0]
    # a watcher makes up ids "<ms>-0.x<digest>" for expiries no log holds
    assert s.changes(since=f"{int(ms) - 1}-0.x0123456789") == [first]
    assert s.changes(since=f"{ms}-0.x0123456789") == []
