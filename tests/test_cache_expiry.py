"""Cache bucket storage under expiry and eviction, bucket counts shared by every handle,
range checks and log hygiene. On every engine."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

import pytest

from pyredmem import (
    Cache,
    CacheLease,
    ConfigurationError,
    InvalidValueError,
    Memory,
    ValidationError,
)
from pyredmem._config import MAX_TTL


def _pttls(mem: Memory, c: Cache, key: str) -> list[int]:
    h, x, _ = c._t.entry_keys(key)
    return [mem.client.pttl(h), mem.client.pttl(x)]


def test_a_shorter_ttl_on_the_latest_entry_shrinks_the_bucket(mem: Memory) -> None:
    c = mem.cache("c", ttl=60, buckets=1)
    h, x, _ = c._t.entry_keys("a")
    c.set("a", "secret", ttl=120)
    c.set("b", 1)
    assert all(119_000 < t <= 120_000 for t in _pttls(mem, c, "a"))
    c.set("a", "secret", ttl=0.2)
    assert all(59_000 < t <= 60_000 for t in _pttls(mem, c, "a"))  # b's expiry now
    c.delete("b")
    assert all(0 < t <= 200 for t in _pttls(mem, c, "a"))
    time.sleep(0.35)
    assert mem.client.exists(h, x) == 0


def test_fill_and_release_follow_the_entry_down(mem: Memory) -> None:
    c = mem.cache("c", ttl=1, lease=60, buckets=1)
    lease = c.fetch("k").lease
    assert lease is not None
    assert all(59_000 < t <= 60_000 for t in _pttls(mem, c, "k"))  # the lease's end
    assert c.fill(lease, "v")
    assert all(0 < t <= 1_000 for t in _pttls(mem, c, "k"))  # the value's expiry
    lease = c.fetch("other").lease
    assert lease is not None and c.release(lease)
    assert all(0 < t <= 1_000 for t in _pttls(mem, c, "k"))


def test_every_write_removes_expired_values(mem: Memory) -> None:
    c = mem.cache("c", ttl=60, buckets=1)
    h, x, _ = c._t.entry_keys("keep")
    c.set("keep", 1)
    c.set("secret", "expired soon", ttl=0.1)
    time.sleep(0.2)
    c.set("keep", 2)  # an overwrite: no room needed, dead entries go anyway
    assert mem.client.hget(h, "d:secret") is None and mem.client.zscore(x, "secret") is None


WRITES: dict[str, Any] = {
    "set": lambda c: c.set("new", 1),
    "delete": lambda c: c.delete("absent"),
    "fetch": lambda c: c.fetch("new"),
    "get_or_compute": lambda c: c.get_or_compute("new", lambda: 1),
}


@pytest.mark.parametrize("lost", ["h", "x"])
@pytest.mark.parametrize("write", WRITES)
def test_a_write_repairs_a_bucket_that_lost_a_key(mem: Memory, lost: str, write: str) -> None:
    c = mem.cache("c", ttl=60, buckets=1)
    h, x, _ = c._t.entry_keys("a")
    c.set("a", 1)
    c.set("b", 2, ttl=30)
    mem.client.delete(h if lost == "h" else x)  # as maxmemory eviction would
    WRITES[write](c)
    # the bucket was dropped whole: what it held reads as absent, nothing is left without TTL
    assert c.get("a") is None and c.get("b") is None
    assert mem.client.zrange(x, 0, -1) == ([] if write == "delete" else [b"new"])
    for ttl_ms in _pttls(mem, c, "a"):
        assert ttl_ms == -2 if write == "delete" else 0 < ttl_ms <= 60_000


def test_fill_of_a_lease_lost_to_eviction_is_rejected(mem: Memory) -> None:
    c = mem.cache("c", ttl=60, buckets=1)
    h, x, _ = c._t.entry_keys("k")
    c.set("other", 1)
    lease = c.fetch("k").lease
    assert lease is not None
    mem.client.delete(x)
    assert c.fill(lease, "late") is False
    assert c.get("k") is None and mem.client.exists(h, x) == 0


def test_handles_with_other_bucket_counts_are_refused(mem: Memory) -> None:
    c16 = mem.cache("shared", ttl=60, buckets=16)
    for i in range(200):  # every bucket holds something
        c16.set(f"k{i}", i)
    c8 = mem.cache("shared", ttl=60, buckets=8)
    calls: list[Callable[[], Any]] = [
        lambda: c8.get("k1"),
        lambda: c8.set("k1", "other"),
        lambda: c8.delete("k1"),
        lambda: c8.fetch("k1"),
        lambda: c8.get_or_compute("k1", lambda: "other"),
        lambda: c8.clear(),
    ]
    for call in calls:
        with pytest.raises(ConfigurationError) as info:
            call()
        assert "16" in str(info.value) and "8" in str(info.value)
    assert [c16.get(f"k{i}") for i in range(200)] == list(range(200))  # nothing changed
    assert c16.clear() == 200
    c8.set("k1", "now it is empty")  # the count is the bucket's, until it empties
    assert c8.get("k1") == "now it is empty"


BAD_OPTIONS: list[dict[str, Any]] = [
    {"ttl": 1e13},
    {"ttl": float("inf")},
    {"ttl": MAX_TTL + 1},
    {"lease": 1e16},
    {"lease": float("nan")},
    {"lease": "30"},
    {"stale": 1e300},
    {"stale": float("inf")},
    {"stale": -1},
    {"beta": 1e300},
    {"beta": float("nan")},
    {"beta": "1"},
    {"max_wait": float("inf")},
    {"max_wait": 1e300},
    {"max_wait": None},
    {"buckets": 2.0},
    {"max_entries": float("inf")},
]


@pytest.mark.parametrize("options", BAD_OPTIONS, ids=repr)
def test_bad_options_are_invalid_values(mem: Memory, options: dict[str, Any]) -> None:
    with pytest.raises(InvalidValueError):
        mem.cache("c", **{"ttl": 60, **options})
    assert mem.client.dbsize() == 0


@pytest.mark.parametrize(
    "compute_time",
    [-1, float("nan"), float("inf"), 1e300, 10**400, "1", None],
    ids=lambda v: repr(v)[:24],
)
def test_bad_compute_times_write_nothing(mem: Memory, compute_time: Any) -> None:
    c = mem.cache("c", ttl=60)
    lease = c.fetch("k").lease
    assert lease is not None
    h = c._t.entry_keys("k")[0]
    before = mem.client.hgetall(h)
    with pytest.raises(InvalidValueError):
        c.fill(lease, "v", compute_time=compute_time)
    assert mem.client.hgetall(h) == before
    assert c.fill(lease, "v") is True  # the lease was still the caller's


@pytest.mark.parametrize("ttl", [1e13, 1e16, float("inf"), float("nan"), -1, 0], ids=repr)
def test_bad_ttls_write_nothing(mem: Memory, ttl: float) -> None:
    c = mem.cache("c", ttl=60)
    with pytest.raises(InvalidValueError):
        c.set("k", 1, ttl=ttl)
    with pytest.raises(InvalidValueError):
        c.get_or_compute("k", lambda: 1, ttl=ttl)
    assert c.get("k") is None and c.fetch("k").kind == "lease"  # no lease left behind


def test_forged_leases_are_refused(mem: Memory) -> None:
    c = mem.cache("c", ttl=60)
    for lease in (CacheLease("", "1"), CacheLease("k", "12a"), CacheLease("k", 5), "k"):  # type: ignore[arg-type]
        with pytest.raises(ValidationError):
            c.fill(lease, 1)  # type: ignore[arg-type]
        with pytest.raises(ValidationError):
            c.release(lease)  # type: ignore[arg-type]
    assert mem.client.dbsize() == 0


def test_logs_carry_no_keys_or_scope_ids(mem: Memory, caplog: pytest.LogCaptureFixture) -> None:
    key = "What is the diagnosis for patient John Smith?"
    c = mem.cache("answers", ttl=60, lease=10, scope=mem.user("john.smith@example.com"))

    def fn() -> str:
        c.delete(key)  # invalidated while computing: the fill is rejected and logged
        return "the diagnosis"

    with caplog.at_level(logging.DEBUG, logger="pyredmem"):
        assert c.get_or_compute(key, fn) == "the diagnosis"
    assert "was not stored" in caplog.text
    for secret in (key, "John Smith", "john.smith", "the diagnosis"):
        assert secret not in caplog.text
