"""The near cache: in-process copies served with no round trip, dropped on every change
event of their key (another Memory's set, delete, fill, eviction; a clear drops all) and on
the handle's own writes, ended at the entry's expiry, bounded by near_max, never shared
with the caller; a read that raced a write keeps nothing, and no copy is served while the
watcher is down. Under 4 concurrent readers-writers no reader goes back in time, and a
copy is never staler than the change events that drop it."""

from __future__ import annotations

import asyncio
import json
import math
import multiprocessing
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from pyredmem import (
    AsyncMemory,
    ConfigurationError,
    InvalidValueError,
    Memory,
    ValidationError,
)
from pyredmem._ops.events import decode_entries_of, log_key, parse_log_key
from tests.counting import count_replies
from tests.engines import Engine
from tests.near_workers import KEYS, NAME, TTL, probe_reader, read_write


def _poll(read: Callable[[], Any], want: Any, within: float = 2.0) -> Any:
    """`read()` until it returns `want` or `within` seconds pass; the last value read."""
    deadline = time.monotonic() + within
    while True:
        got = read()
        if got == want or time.monotonic() >= deadline:
            return got
        time.sleep(0.005)


def _stat(cache: Any, name: str) -> int:
    stats = cache.near_stats()
    assert stats is not None
    return int(stats[name])


def _after_the_writes() -> None:
    """A watcher started without a cursor delivers what was logged from the millisecond it
    started: one that starts in the millisecond of earlier writes would deliver their events
    too, and drop the copies read after it started."""
    time.sleep(0.005)


def _held(near: Any, key: str, value: Any, what: str) -> None:
    """`near` serves `value` for `key` from its copy (so that a test drops a copy it held)."""
    hits = _stat(near, "hits")
    assert near.get(key) == value
    assert _stat(near, "hits") == hits + 1, f"{what}: no copy of {key!r} to drop"


# ------------------------------------------------------------------------ options


def test_a_near_cache_needs_events() -> None:
    with Memory() as mem, pytest.raises(ConfigurationError, match="events=True"):
        mem.cache(NAME, ttl=60, near=True)

    async def main() -> None:
        async with AsyncMemory() as amem:
            with pytest.raises(ConfigurationError, match="events=True"):
                amem.cache(NAME, ttl=60, near=True)

    asyncio.run(main())


@pytest.mark.parametrize("near", [1, "yes", None])
def test_near_is_a_bool(near: Any) -> None:
    with Memory(events=True) as mem, pytest.raises(ValidationError, match="near"):
        mem.cache(NAME, ttl=60, near=near)


@pytest.mark.parametrize("near_max", [0, -1, 1.5, True])
def test_near_max_is_a_positive_int(near_max: Any) -> None:
    with Memory(events=True) as mem, pytest.raises(InvalidValueError, match="near_max"):
        mem.cache(NAME, ttl=60, near=True, near_max=near_max)


def test_a_plain_cache_has_no_near_stats() -> None:
    with Memory(events=True) as mem:
        assert mem.cache(NAME, ttl=60).near_stats() is None


# ------------------------------------------------------------------------ behaviour


def test_a_copy_is_served_with_no_round_trip(url: str) -> None:
    with Memory(url, events=True) as w, Memory(url, events=True) as r:
        w.cache(NAME, ttl=60).set("k", {"n": 1})
        _after_the_writes()
        near = r.cache(NAME, ttl=60, near=True)
        assert near.get("k") == {"n": 1}  # a miss: read, and kept
        assert near.near_stats() == {"size": 1, "hits": 0, "misses": 1}
        with count_replies() as counted:
            for _ in range(100):
                assert near.get("k") == {"n": 1}
        assert counted.replies == 0
        assert near.near_stats() == {"size": 1, "hits": 100, "misses": 1}
        assert near.get("absent", "dflt") == "dflt"  # a missing key: nothing kept
        assert near.get("absent") is None
        assert near.near_stats() == {"size": 1, "hits": 100, "misses": 3}


def test_returned_values_are_independent_objects(url: str) -> None:
    with Memory(url, events=True) as mem:
        mem.cache(NAME, ttl=60).set("k", {"a": [1]})
        _after_the_writes()
        near = mem.cache(NAME, ttl=60, near=True)
        first = near.get("k")
        first["a"].append(2)
        first["b"] = 3
        second = near.get("k")
        assert second == {"a": [1]}
        assert _stat(near, "hits") == 1  # served from the copy, decoded afresh
        second["a"].append(4)
        assert near.get("k") == {"a": [1]}


def _fill_anew(cache: Any, key: str, value: Any) -> None:
    """Store `value` under `key` through a lease and a fill: the first fill records a long
    compute time, so that with a high beta the next fetch takes the lease to refresh the
    still fresh value (XFetch) and the second fill replaces it."""
    for _ in range(100):
        found = cache.fetch(key)
        if found.lease is not None:
            assert cache.fill(found.lease, value, compute_time=100.0)
            return
    raise AssertionError("no lease in 100 fetches")


def test_another_memorys_writes_drop_the_copies(url: str) -> None:
    # one bucket of at most 4 entries, so that two more entries evict the one expiring first
    options: dict[str, Any] = {"ttl": 60, "buckets": 1, "max_entries": 4, "beta": 1000}
    with Memory(url, events=True) as w, Memory(url, events=True) as r:
        writer = w.cache(NAME, **options)
        writer.set("s", 1)
        _fill_anew(writer, "f", 1)
        writer.set("d", 1)
        writer.set("e", 1, ttl=30)
        _after_the_writes()
        near = r.cache(NAME, near=True, **options)
        for key in ("s", "f", "d", "e"):
            assert near.get(key) == 1
        assert near.near_stats() == {"size": 4, "hits": 0, "misses": 4}

        def dropped(what: str, key: str, want: Any) -> None:
            assert _poll(lambda: near.get(key), want) == want, f"{what}: the copy was kept"
            if want is not None:  # the new value is kept in turn
                _held(near, key, want, what)

        _held(near, "s", 1, "set")
        writer.set("s", 2)
        dropped("set", "s", 2)
        _held(near, "f", 1, "fill")
        _fill_anew(writer, "f", 2)  # a refresh of the fresh value: a fill event
        dropped("fill", "f", 2)
        _held(near, "d", 1, "delete")
        assert writer.delete("d")
        dropped("delete (an invalidate event)", "d", None)
        _held(near, "e", 1, "eviction")
        writer.set("n", 1)
        writer.set("m", 1)  # a fifth entry: "e", which expires first, is evicted
        dropped("an eviction (an expire event)", "e", None)
        _held(near, "s", 2, "clear")
        _held(near, "f", 2, "clear")
        assert writer.clear() == 4
        dropped("clear", "s", None)
        dropped("clear", "f", None)


@pytest.mark.parametrize("scoped", [False, True])
def test_a_cache_named_with_an_at_sign_drops_its_copies(url: str, scoped: bool) -> None:
    """Cache names (and scope ids) may hold "@": another Memory's write still drops the
    copy."""
    with Memory(url, events=True) as w, Memory(url, events=True) as r:
        writer = w.cache("team@eu", ttl=60, scope=w.user("a@b") if scoped else None)
        writer.set("k", 1)
        _after_the_writes()
        near = r.cache("team@eu", ttl=60, near=True, scope=r.user("a@b") if scoped else None)
        assert near.get("k") == 1
        _held(near, "k", 1, "set")
        writer.set("k", 2)
        assert _poll(lambda: near.get("k"), 2) == 2, "the copy was kept"


def test_the_handles_own_writes_drop_the_copy_at_once(url: str) -> None:
    options: dict[str, Any] = {"ttl": 60, "buckets": 1, "beta": 1000}
    with Memory(url, events=True) as w, Memory(url, events=True) as r:
        writer = w.cache(NAME, **options)
        for key in ("s", "d", "c"):
            writer.set(key, 1)
        _fill_anew(writer, "f", 1)
        _after_the_writes()
        near = r.cache(NAME, near=True, **options)
        for key in ("s", "d", "c", "f"):
            assert near.get(key) == 1
        # each read follows the write at once: before the write's event can come
        _held(near, "s", 1, "set")
        near.set("s", 2)
        assert near.get("s") == 2
        _held(near, "d", 1, "delete")
        assert near.delete("d")
        assert near.get("d") is None
        _held(near, "f", 1, "fill")
        _fill_anew(near, "f", 2)
        assert near.get("f") == 2
        _held(near, "c", 1, "clear")
        assert near.clear() == 3
        assert near.get("c") is None


def test_a_read_that_raced_a_write_keeps_nothing(url: str) -> None:
    with Memory(url, events=True) as w, Memory(url, events=True) as r:
        writer = w.cache(NAME, ttl=60)
        writer.set("k", 1)
        _after_the_writes()
        near = r.cache(NAME, ttl=60, near=True)
        assert near.get("other") is None  # starts the watcher
        watcher, runner = near._near_handler, near._runner

        class WriteAfterTheRead:
            """The runner, but the read's reply is held back until another Memory has
            written the key and the watcher has delivered its event."""

            def __getattr__(self, name: str) -> Any:
                return getattr(runner, name)

            def run(self, call: Any) -> Any:
                reply = runner.run(call)
                delivered = watcher.delivered
                writer.set("k", 2)
                assert _poll(lambda: watcher.delivered > delivered, True), "no event came"
                time.sleep(0.05)  # its callback, run right after the count
                return reply

        near._runner = WriteAfterTheRead()  # type: ignore[assignment]
        try:
            assert near.get("k") == 1  # what the read found, before the write
        finally:
            near._runner = runner
        assert near.get("k") == 2  # the value read is not kept


def test_no_copy_is_served_while_the_watcher_is_down(url: str) -> None:
    with Memory(url, events=True) as w, Memory(url, events=True) as r:
        writer = w.cache(NAME, ttl=60)
        writer.set("k", 1)
        _after_the_writes()
        near = r.cache(NAME, ttl=60, near=True)
        assert near.get("k") == 1
        _held(near, "k", 1, "watcher down")
        near._near_handler.close()
        writer.set("k", 2)  # its event reaches no watcher
        assert near.get("k") == 2
        with count_replies() as counted:
            assert near.get("k") == 2
        assert counted.replies > 0


@pytest.mark.real_server
@pytest.mark.standalone
def test_a_lost_watcher_connection_serves_no_stale_copy(url: str) -> None:
    with Memory(url, events=True) as w, Memory(url, events=True) as r:
        writer = w.cache(NAME, ttl=60)
        writer.set("k", 1)
        _after_the_writes()
        near = r.cache(NAME, ttl=60, near=True)
        assert near.get("k") == 1
        _held(near, "k", 1, "connection lost")
        assert w.client.client_kill_filter(_type="pubsub") == 1  # the near cache's watcher
        writer.set("k", 2)  # its event is not announced to the watcher
        assert _poll(lambda: near.get("k"), 2, within=5.0) == 2

        def served_from_a_copy() -> bool:
            hits = _stat(near, "hits")
            return near.get("k") == 2 and _stat(near, "hits") == hits + 1

        assert _poll(served_from_a_copy, True, within=5.0), "the watcher is not live again"


def test_a_copy_ends_with_its_entry(url: str) -> None:
    with Memory(url, events=True) as w, Memory(url, events=True) as r:
        writer = w.cache(NAME, ttl=60, buckets=1)
        near = r.cache(NAME, ttl=60, near=True, buckets=1)
        writer.set("keep", 0)  # keeps the bucket alive: no event ends the copy
        writer.set("k", 1, ttl=0.3)
        _after_the_writes()
        assert near.get("k") == 1
        _held(near, "k", 1, "expiry")
        time.sleep(0.5)
        assert near.get("k") is None
        assert near.get("k", "gone") == "gone"


def test_near_max_bounds_the_copies(url: str) -> None:
    with Memory(url, events=True) as w, Memory(url, events=True) as r:
        writer = w.cache(NAME, ttl=60)
        for i in range(20):
            writer.set(f"k{i}", i)
        _after_the_writes()
        near = r.cache(NAME, ttl=60, near=True, near_max=5)
        for i in range(20):
            assert near.get(f"k{i}") == i
        assert near.near_stats() == {"size": 5, "hits": 0, "misses": 20}
        for i in range(15, 20):  # the 5 read last are kept
            assert near.get(f"k{i}") == i
        assert near.near_stats() == {"size": 5, "hits": 5, "misses": 20}
        assert near.get("k0") == 0  # dropped: read again, and kept instead of k15
        assert near.near_stats() == {"size": 5, "hits": 5, "misses": 21}
        assert near.get("k15") == 15
        assert near.near_stats() == {"size": 5, "hits": 5, "misses": 22}


def test_the_async_near_cache_behaves_the_same(url: str) -> None:
    async def poll(read: Callable[[], Any], want: Any) -> Any:
        deadline = time.monotonic() + 2.0
        while True:
            got = await read()
            if got == want or time.monotonic() >= deadline:
                return got
            await asyncio.sleep(0.005)

    async def served(near: Any, key: str, value: Any) -> bool:
        """Whether `near` serves `value` for `key` from its copy."""
        hits = _stat(near, "hits")
        return await near.get(key) == value and _stat(near, "hits") == hits + 1

    async def held(near: Any, key: str, value: Any) -> None:
        assert await served(near, key, value), f"no copy of {key!r}"

    async def main() -> None:
        async with AsyncMemory(url, events=True) as w, AsyncMemory(url, events=True) as r:
            writer = w.cache(NAME, ttl=60, buckets=1)
            near = r.cache(NAME, ttl=60, near=True, buckets=1)
            await writer.set("k", {"n": 1})
            _after_the_writes()
            assert await near.get("k") == {"n": 1}
            got = await near.get("k")
            assert got == {"n": 1}
            got["n"] = 99
            assert await near.get("k") == {"n": 1}
            assert near.near_stats() == {"size": 1, "hits": 2, "misses": 1}
            await writer.set("k", {"n": 2})
            assert await poll(lambda: near.get("k"), {"n": 2}) == {"n": 2}
            await held(near, "k", {"n": 2})
            await writer.delete("k")
            assert await poll(lambda: near.get("k"), None) is None
            await writer.set("k", 4)
            assert await poll(lambda: served(near, "k", 4), True)  # once its event came
            await writer.clear()
            assert await poll(lambda: near.get("k"), None) is None
            await writer.set("k", 5)
            assert await poll(lambda: served(near, "k", 5), True)  # once its event came
            await near.set("k", 6)  # its own write: no wait for the event
            assert await near.get("k") == 6
            assert await near.get_or_compute("k", lambda: 7) == 6
            for i in range(3):
                await writer.set(f"x{i}", i)
            await writer.set("short", 1, ttl=0.3)
            _after_the_writes()
            bounded = r.cache(NAME, ttl=60, near=True, near_max=2, buckets=1)
            for i in range(3):  # its watcher starts after those writes: each copy is kept
                assert await bounded.get(f"x{i}") == i
            assert bounded.near_stats() == {"size": 2, "hits": 0, "misses": 3}
            assert await bounded.get("short") == 1 and await bounded.get("short") == 1
            assert _stat(bounded, "hits") == 1
            await asyncio.sleep(0.5)
            assert await bounded.get("short") is None

    asyncio.run(main())


# ------------------------------------------------------------------ 4 readers-writers

WORKERS, SETTLE = 4, 0.5


def _write_order(mem: Memory) -> dict[str, dict[str, int]]:
    """Per key, each token written (by a set) -> its place in the key's write order, from
    the cache's bucket logs (one log per bucket, in the order the writes ran)."""
    order: dict[str, dict[str, int]] = {}
    for prefix in mem.cache(NAME, ttl=TTL)._t.prefixes:
        key = log_key(prefix)
        log = parse_log_key(mem._cfg.keyspace, key)
        assert log is not None
        for event in decode_entries_of(mem._cfg, log, mem.client.xrange(key), values=True):
            assert (event.op, event.target) == ("set", "cache"), event
            assert event.key is not None
            tokens = order.setdefault(event.key, {})
            assert event.value not in tokens, f"{event.value} written twice"
            tokens[event.value] = len(tokens)
    return order


@pytest.mark.slow
def test_no_reader_goes_back_in_time(engine: Engine, url: str, tmp_path: Path) -> None:
    seconds = 10.0 if engine.name == "redis" else 3.0
    outs = [tmp_path / f"worker{p}.json" for p in range(WORKERS)]
    with Memory(url, events="values", events_max=1_000_000) as mem:
        initial = mem.cache(NAME, ttl=TTL)
        for i in range(KEYS):
            initial.set(f"k{i}", f"init:{i}")
        if engine.real:
            ctx = multiprocessing.get_context("spawn")
            barrier: Any = ctx.Barrier(WORKERS)
            procs = [
                ctx.Process(target=read_write, args=(url, p, seconds, SETTLE, barrier, str(out)))
                for p, out in enumerate(outs)
            ]
            for proc in procs:
                proc.start()
            for proc in procs:
                proc.join(seconds + 60)
            assert [proc.exitcode for proc in procs] == [0] * WORKERS
        else:  # the embedded store lives in this process: threads share it
            barrier = threading.Barrier(WORKERS)
            with ThreadPoolExecutor(WORKERS) as ex:
                futures = [
                    ex.submit(read_write, url, p, seconds, SETTLE, barrier, str(out))
                    for p, out in enumerate(outs)
                ]
                for f in futures:
                    f.result(timeout=seconds + 60)
        order = _write_order(mem)
    results = [json.loads(out.read_text()) for out in outs]

    written = [t for r in results for t in r["written"]]
    assert sum(len(tokens) for tokens in order.values()) == KEYS + len(written), (
        "the logs do not hold every write"
    )
    for i in range(KEYS):
        assert order[f"k{i}"][f"init:{i}"] == 0
    back: list[str] = []
    reads = 0
    for worker, r in enumerate(results):
        for key, seen in r["seen"].items():
            places = order[key]
            top, top_token = -1, None
            for kind, token in seen:
                reads += kind == "r"
                place = places.get(token, -1)  # -1: not a token ("None")
                if place < top:
                    back.append(f"worker {worker}, {key}: {kind} {token} after {top_token}")
                if place > top:
                    top, top_token = place, token
    hits = sum(r["stats"]["hits"] for r in results)
    print(
        f"\n[{engine.name}] {WORKERS} workers, {seconds:g} s: {len(written)} writes, "
        f"{reads} reads, {hits} served from near copies, {len(back)} went back in time"
    )
    assert not back, f"{len(back)} reads went back in time, e.g. {back[:10]}"
    assert hits > reads // 10, "the near caches served too few reads to test them"
    last = {key: max(places, key=places.__getitem__) for key, places in order.items()}
    for worker, r in enumerate(results):
        stale = {k: v for k, v in r["final"].items() if v != last[k]}
        assert not stale, f"worker {worker} still reads old values after the writes: {stale}"


# ------------------------------------------------------------------------ staleness

PROBES = 200


def _p99(samples: list[float]) -> float:
    ranked = sorted(samples)
    return ranked[math.ceil(0.99 * len(ranked)) - 1]


def test_a_copy_is_no_staler_than_the_events(engine: Engine, url: str, tmp_path: Path) -> None:
    # a copy stays stale until its watcher's event comes, then for the read that fetches the
    # new value: its staleness is the event latency (measured by an on_change callback in the
    # reader's process), give or take that read and the scheduling (5 ms)
    out = tmp_path / "reader.json"
    if engine.real:
        ctx = multiprocessing.get_context("spawn")
        ready: Any = ctx.Event()
        reader: Any = ctx.Process(target=probe_reader, args=(url, PROBES, ready, str(out), 30.0))
    else:  # the embedded store lives in this process: a thread shares it
        ready = threading.Event()
        reader = threading.Thread(target=probe_reader, args=(url, PROBES, ready, str(out), 30.0))
    reader.start()
    try:
        assert ready.wait(30), "the reader did not start"
        written: list[float] = []
        with Memory(url, events="values") as mem:
            cache = mem.cache(NAME, ttl=TTL)
            for i in range(PROBES):
                cache.set("probe", i)
                written.append(time.time())
                time.sleep(0.005)
    finally:
        reader.join(60)
    if engine.real:
        assert reader.exitcode == 0
    got = json.loads(out.read_text())
    first = {int(i): t for i, t in got["first"].items()}
    event = {int(i): t for i, t in got["event"].items()}
    assert sorted(first) == list(range(PROBES)), "the reader never saw some values"
    assert sorted(event) == list(range(PROBES)), "the callback missed some events"
    staleness = [(first[i] - written[i]) * 1000 for i in range(PROBES)]
    latency = [(event[i] - written[i]) * 1000 for i in range(PROBES)]
    stats = got["stats"]
    print(
        f"\n[{engine.name}] staleness p50 {sorted(staleness)[PROBES // 2]:.2f} ms, "
        f"p99 {_p99(staleness):.2f} ms, max {max(staleness):.2f} ms; event latency p50 "
        f"{sorted(latency)[PROBES // 2]:.2f} ms, p99 {_p99(latency):.2f} ms, max "
        f"{max(latency):.2f} ms; near {stats}"
    )
    assert stats["hits"] > stats["misses"], "the reader was not served from its near copy"
    assert _p99(staleness) <= _p99(latency) + 5.0
