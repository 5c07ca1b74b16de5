"""Scope storage under expiry and eviction: the scope's two keys (H, X) always expire with
their last-expiring live entry, expired values leave Redis by the next write, a scope that
lost one key to eviction is repaired by the next write, and ranges are checked before
anything is sent. On every engine."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest

from pyredmem import InvalidValueError, Memory, Scope
from pyredmem._codec import encode_value
from pyredmem._config import MAX_CALL_BYTES, MAX_TTL

MiB = 1024 * 1024


def _hx(s: Scope) -> tuple[str, str]:
    h, x = s._t.keys
    return h, x


def _pttls(mem: Memory, s: Scope) -> list[int]:
    return [mem.client.pttl(k) for k in _hx(s)]


def test_a_shorter_ttl_on_the_latest_entry_shrinks_the_scope(mem: Memory) -> None:
    s = mem.user("u")
    s.set("draft", "v1")
    assert _pttls(mem, s) == [-1, -1]
    s.set("draft", "v2", ttl=0.2)
    assert all(0 < t <= 200 for t in _pttls(mem, s))
    time.sleep(0.35)
    assert s.keys() == [] and s.get("draft") is None
    assert mem.client.exists(*_hx(s)) == 0  # the secret left with the scope's keys


def test_the_scope_follows_its_latest_entry_down_and_up(mem: Memory) -> None:
    s = mem.user("u")
    s.set("a", 1, ttl=60)
    s.set("b", 1, ttl=120)
    assert all(119_000 < t <= 120_000 for t in _pttls(mem, s))
    s.set("b", 1, ttl=10)  # b held the latest expiry: a's is the latest now
    assert all(59_000 < t <= 60_000 for t in _pttls(mem, s))
    s.set_many({"a": 2, "b": 2}, ttl=5)
    assert all(4_000 < t <= 5_000 for t in _pttls(mem, s))
    s.update("a", lambda v: v + 1, ttl=1)
    assert all(4_000 < t <= 5_000 for t in _pttls(mem, s))  # b now
    s.incr("c", ttl=30)
    assert all(29_000 < t <= 30_000 for t in _pttls(mem, s))
    s.set("d", 1)
    assert _pttls(mem, s) == [-1, -1]
    s.delete("d")
    assert all(29_000 < t <= 30_000 for t in _pttls(mem, s))
    assert s.keys() == ["a", "b", "c"]


WRITES: dict[str, Callable[[Scope], Any]] = {
    "set": lambda s: s.set("other", 1),
    "set_many": lambda s: s.set_many({"other": 1, "keep": 2}),
    "incr": lambda s: s.incr("keep"),
    "update": lambda s: s.update("keep", lambda v: v + 1, default=0),
    "delete": lambda s: s.delete("absent"),
    "delete_live": lambda s: s.delete("keep"),
}


@pytest.mark.parametrize("write", WRITES)
def test_every_write_removes_expired_values(mem: Memory, write: str) -> None:
    s = mem.user("u")
    h, x = _hx(s)
    s.set("keep", 1, ttl=60)
    s.set("secret", "expired soon", ttl=0.1)
    time.sleep(0.2)
    assert s.get("secret") is None
    WRITES[write](s)
    assert mem.client.hget(h, "d:secret") is None and mem.client.hget(h, "m:secret") is None
    assert mem.client.zscore(x, "secret") is None
    assert "secret" not in s.keys()


def _n(mem: Memory, s: Scope) -> int | None:
    n = mem.client.hget(_hx(s)[0], "n")
    return None if n is None else int(n)


def _first(mem: Memory, s: Scope) -> int:
    return int(mem.client.zrange(_hx(s)[1], 0, 0, withscores=True)[0][1])


def test_field_n_bounds_the_earliest_expiry_and_expired_values_still_leave(mem: Memory) -> None:
    # H's "n": a lower bound of the index's lowest score; a write skips the index's
    # ZRANGE only before it, so the bound must never pass an entry's expiry
    s = mem.user("u")
    s.set("a", 1, ttl=60)
    assert _n(mem, s) == _first(mem, s)
    for name, write in WRITES.items():
        s.set("b", 1, ttl=0.05)  # an entry expiring before the bound lowers it
        assert _n(mem, s) == _first(mem, s) == mem.client.zscore(_hx(s)[1], "b")
        time.sleep(0.1)
        write(s)
        assert mem.client.hget(_hx(s)[0], "d:b") is None and s.get("b") is None
        assert mem.client.zscore(_hx(s)[1], "b") is None
        n = _n(mem, s)
        # a write sets the earliest expiry after its purge; a delete leaves the bound below
        assert n == _first(mem, s) if not name.startswith("delete") else n and n <= _first(mem, s)
    s.set("a", 1, ttl=120)  # the earliest entry moves later: the bound stays below it
    assert _n(mem, s) is not None and _n(mem, s) <= _first(mem, s)
    mem.client.hdel(_hx(s)[0], "n")  # unknown (older data): the next write finds it
    s.incr("keep")
    assert _n(mem, s) == _first(mem, s)
    s.set_many({"m1": 1, "m2": 2}, ttl=0.05)
    assert _n(mem, s) == _first(mem, s) == mem.client.zscore(_hx(s)[1], "m1")
    s.update("keep", lambda v: v + 1, ttl=0.02)
    assert _n(mem, s) == _first(mem, s) == mem.client.zscore(_hx(s)[1], "keep")


def test_an_entry_older_code_wrote_below_the_bound_waits_for_it(mem: Memory) -> None:
    # a library that does not know "n" (rolling deploy) writes an entry expiring before
    # it: reads hide it once expired, and it leaves with the first write after the bound
    s = mem.user("u")
    h, x = _hx(s)
    s.set("a", 1, ttl=0.3)
    s.set("b", 1, ttl=0.1)
    mem.client.hset(h, "n", str(_first(mem, s) + 150))  # as if b was written without it
    time.sleep(0.15)
    assert s.get("b") is None and s.keys() == ["a"]
    s.set("c", 1)
    time.sleep(0.25)
    s.set("c", 2)  # past the bound: the purge runs
    assert mem.client.zscore(x, "b") is None and mem.client.hget(h, "d:b") is None
    assert s.keys() == ["c"] and _n(mem, s) == _first(mem, s)


@pytest.mark.parametrize("lost", ["h", "x"])
@pytest.mark.parametrize("write", WRITES)
def test_a_write_repairs_a_scope_that_lost_a_key(mem: Memory, lost: str, write: str) -> None:
    s = mem.user("u")
    h, x = _hx(s)
    s.set("keep", 1, ttl=60)
    s.set("b", 2, ttl=30)
    mem.client.delete(h if lost == "h" else x)  # as maxmemory eviction would
    # before any write: reads never show data that is gone
    assert s.keys() == ([] if lost == "h" else ["b", "keep"])
    WRITES[write](s)
    listed = s.keys()
    assert listed == sorted(k for k in ("b", "keep", "other") if s.get(k) is not None)
    assert mem.client.zcard(x) == len(listed) and set(s.get_many(listed)) == set(listed)
    if not listed:
        assert mem.client.exists(h, x) == 0
        return
    expected = max((s.ttl(k) or float("inf")) for k in listed)
    for ttl_ms in _pttls(mem, s):
        if expected == float("inf"):
            assert ttl_ms == -1
        else:
            assert 0 < ttl_ms <= 60_000 and ttl_ms >= expected * 1000 - 1_000
    if lost == "x":  # nothing was lost with the index
        assert "b" in listed


def test_a_scope_that_lost_its_index_keeps_its_expiry_after_a_persistent_write(
    mem: Memory,
) -> None:
    s = mem.user("u")
    h, x = _hx(s)
    s.set("a", 1, ttl=60)
    mem.client.delete(x)
    s.set("b", 2)  # without a ttl
    assert _pttls(mem, s) == [-1, -1]
    s.delete("b")
    assert all(59_000 < t <= 60_000 for t in _pttls(mem, s))
    assert s.keys() == ["a"]


def test_clear_counts_only_data_that_is_there(mem: Memory) -> None:
    s = mem.user("u")
    h, x = _hx(s)
    s.set_many({"a": 1, "b": 2})
    mem.client.delete(h)
    assert s.clear() == 0
    s.set_many({"a": 1, "b": 2})
    mem.client.delete(x)
    assert s.clear() == 2
    assert mem.client.exists(h, x) == 0


HUGE = [1e13, 1e16, float("inf"), float("-inf"), float("nan"), MAX_TTL + 1, 10**30]


@pytest.mark.parametrize("ttl", HUGE, ids=repr)
def test_out_of_range_ttls_write_nothing(mem: Memory, ttl: float) -> None:
    s = mem.user("u")
    for call in (
        lambda: s.set("k", 1, ttl=ttl),
        lambda: s.set_many({"k": 1}, ttl=ttl),
        lambda: s.incr("k", ttl=ttl),
        lambda: s.update("k", lambda v: 1, ttl=ttl),
        lambda: mem.context(user="u").set("k", 1, ttl=ttl),
    ):
        with pytest.raises(InvalidValueError):
            call()
    assert mem.client.dbsize() == 0


def test_the_longest_ttl_is_kept(mem: Memory) -> None:
    s = mem.user("u")
    s.set("k", 1, ttl=MAX_TTL)
    assert MAX_TTL - 5 < (s.ttl("k") or 0) <= MAX_TTL
    assert s.keys() == ["k"] and s.get("k") == 1


@pytest.mark.parametrize(
    "amount", [float("nan"), float("inf"), float("-inf"), 2**63, -(2**63) - 1, 10**30]
)
def test_out_of_range_amounts_write_nothing(mem: Memory, amount: float) -> None:
    with pytest.raises(InvalidValueError):
        mem.user("u").incr("k", amount)
    assert mem.client.dbsize() == 0


def test_incr_at_the_64_bit_bounds(mem: Memory) -> None:
    s = mem.user("u")
    assert s.incr("lo", -(2**63)) == -(2**63)
    assert s.incr("hi", 2**63 - 1) == 2**63 - 1


def _one_mib_value() -> bytes:
    """Bytes that the codec encodes to exactly 1 MiB, the value cap."""
    value = b"x" * MiB
    over = len(encode_value(Memory()._cfg.codec, value)[1]) - MiB
    return b"x" * (MiB - over)


def test_set_many_stores_a_call_at_the_byte_and_key_caps(mem: Memory) -> None:
    s = mem.user("u")
    value = _one_mib_value()
    assert len(encode_value(mem._cfg.codec, value)[1]) == MiB
    n = MAX_CALL_BYTES // MiB
    assert s.set_many({f"k{i}": value for i in range(n)}) == n  # 16 MiB exactly
    assert s.get("k0") == value and len(s.keys()) == n
    small = {f"s{i}": "v" * 16_000 for i in range(1000)}  # the 1,000-key cap, ~16 MB
    assert s.set_many(small) == 1000
    assert len(s.keys()) == n + 1000


def test_set_many_over_the_byte_cap_writes_nothing(mem: Memory) -> None:
    s = mem.user("u")
    value = _one_mib_value()
    n = MAX_CALL_BYTES // MiB
    with pytest.raises(InvalidValueError) as info:
        s.set_many({**{f"k{i}": value for i in range(n)}, "one more": 1})
    assert "16 MiB" in str(info.value)
    assert mem.client.dbsize() == 0


@pytest.mark.real_server
@pytest.mark.standalone
def test_reads_of_keys_without_expiry_read_no_clock(engine: Any, mem: Memory) -> None:
    """A key that never expires is live at any time: reading it runs no TIME (the server
    CPU of the commonest read), one with an expiry runs it once per call."""
    user = mem.user("u")
    user.set("forever", 1)
    user.set("brief", 2, ttl=60)
    raw = engine.raw_client()

    def clocks(read: Callable[[], Any], expected: Any) -> int:
        raw.config_resetstat()
        assert read() == expected
        return int(raw.info("commandstats").get("cmdstat_time", {}).get("calls", 0))

    context = mem.context(session="s", user="u")
    assert clocks(lambda: user.get("forever"), 1) == 0
    assert clocks(lambda: user.exists("forever"), True) == 0
    assert clocks(lambda: user.get_many(["forever", "none"]), {"forever": 1}) == 0
    assert clocks(lambda: user.ttl("forever"), None) == 0
    assert clocks(lambda: context.get("forever"), 1) == 0
    assert clocks(lambda: user.get("none"), None) == 0
    assert clocks(lambda: user.get("brief"), 2) == 1
    assert clocks(lambda: user.exists("brief"), True) == 1
    assert clocks(lambda: user.get_many(["forever", "brief"]), {"forever": 1, "brief": 2}) == 1
    assert clocks(lambda: context.get("brief"), 2) == 1
    assert 0 < user.ttl("brief") <= 60  # type: ignore[operator]


def test_a_key_without_expiry_and_one_past_it_read_alike_everywhere(mem: Memory) -> None:
    """The reads that skip the clock for keys without expiry still drop expired ones."""
    user = mem.user("u")
    user.set("forever", "f")
    user.set("brief", "b", ttl=0.05)
    context = mem.context(session="s", user="u")
    time.sleep(0.1)
    assert user.get("forever") == "f" and user.get("brief") is None
    assert user.exists("forever") and not user.exists("brief")
    assert user.get_many(["forever", "brief"]) == {"forever": "f"}
    assert context.get("forever") == "f" and context.get("brief") is None
    assert user.ttl("forever") is None
